"""Alerting from Dagster and from the CLI: the run-failure sensor, the blocking-check hook, the
CLI's own alert; delivered to servers on loopback."""

from __future__ import annotations

import email
import email.policy
import os
from pathlib import Path

import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    DagsterInstance,
    DefaultSensorStatus,
    Definitions,
    asset,
    asset_check,
    build_run_status_sensor_context,
    define_asset_job,
    in_process_executor,
    mem_io_manager,
)

from passerelle.alerts import ENV_FROM, ENV_SMTP, ENV_TO, ENV_WEBHOOK
from passerelle.cli import main
from passerelle.runlock import LOCK_NAME, this_host
from passerelle.store import open_store
from pipelines.alerting import blocking_check_alert, failure_lines
from pipelines.definitions import defs, resources_for
from pipelines.resources import OutboxResource
from pipelines.sensors import run_failure_alert
from tests.integration.runs import DAY1, SAMPLES, store_url
from tests.loopback import free_port, smtp_server, webhook_server


@pytest.fixture(autouse=True)
def _no_alert_env(monkeypatch):
    for name in (ENV_SMTP, ENV_WEBHOOK, ENV_FROM, ENV_TO):
        monkeypatch.delenv(name, raising=False)


def _alerts(out: Path) -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted((out / "alerts").glob("*.txt"))]


def test_sensor_and_hook_are_registered():
    sensor = defs.resolve_sensor_def("run_failure_alert")
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    for job_name in ("daily_job", "backfill_job"):
        job = defs.resolve_job_def(job_name)
        assert blocking_check_alert in job.hook_defs, job_name


def test_run_failure_sensor_alerts_on_a_failed_daily_run(tmp_path, monkeypatch):
    """A real daily_job run that cannot start (another run holds the lock), then the sensor."""
    out = tmp_path / "out"
    url = store_url(out)
    with open_store(url) as st:  # a live holder: this very process, as if a run were going on
        st.acquire_lock(LOCK_NAME, "run-en-cours", pid=os.getpid(), host=this_host(), detail="run du 2026-11-18")
    instance = DagsterInstance.ephemeral()
    result = defs.resolve_job_def("daily_job").execute_in_process(
        partition_key=DAY1.isoformat(),
        instance=instance,
        raise_on_error=False,
        resources=resources_for(str(SAMPLES), str(out)) | {"io_manager": mem_io_manager},
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
    )
    assert not result.success
    assert not (out / DAY1.isoformat()).exists()

    with webhook_server() as hook, smtp_server() as smtp:
        monkeypatch.setenv(ENV_WEBHOOK, hook.url)
        monkeypatch.setenv(ENV_SMTP, smtp.url)
        monkeypatch.setenv(ENV_TO, "dq@carif.example")
        context = build_run_status_sensor_context(
            sensor_name="run_failure_alert",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event(),
            resources={"outbox": OutboxResource(path=str(out))},
        )
        run_failure_alert(context)
        (text,) = _alerts(out)
        assert "Sujet : Passerelle : run du 2026-11-19 non lancé, un autre run est en cours" in text
        assert "Un autre run (run run-en-cours, run du 2026-11-18, processus" in text
        assert result.run_id in text
        (post,) = hook.received
        assert post["json"]["kind"] == "run_failure" and post["json"]["date"] == DAY1.isoformat()
        assert post["json"]["run_id"] == result.run_id
        (mail,) = smtp.mails
        message = email.message_from_bytes(mail["data"], policy=email.policy.default)
        assert message["Subject"].startswith("Passerelle : run du 2026-11-19 non lancé")
    instance.dispose()


def test_failed_blocking_check_triggers_the_hook_and_the_sensor(tmp_path):
    @asset
    def feed():
        return 1

    @asset_check(asset=feed, blocking=True)
    def valid_against_profile(feed):
        return AssetCheckResult(passed=False, severity=AssetCheckSeverity.ERROR)

    @asset(deps=[feed])
    def publication():
        return 2

    out = tmp_path / "out"
    job = define_asset_job("j", hooks={blocking_check_alert}, executor_def=in_process_executor)
    local = Definitions(
        assets=[feed, publication],
        asset_checks=[valid_against_profile],
        jobs=[job],
        resources={"outbox": OutboxResource(path=str(out))},
    )
    instance = DagsterInstance.ephemeral()
    result = local.resolve_job_def("j").execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    assert failure_lines(result.all_events) == ["contrôle bloquant en échec : feed / valid_against_profile"]
    (hook_alert,) = _alerts(out)
    assert "contrôle bloquant en échec" in hook_alert and "- feed / valid_against_profile" in hook_alert

    context = build_run_status_sensor_context(
        sensor_name="run_failure_alert",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
        resources={"outbox": OutboxResource(path=str(out))},
    )
    run_failure_alert(context)
    alerts = _alerts(out)
    assert len(alerts) == 2
    assert any("a échoué" in a and "contrôle bloquant en échec : feed / valid_against_profile" in a for a in alerts)
    instance.dispose()


def test_cli_alerts_when_the_run_cannot_complete(tmp_path, monkeypatch):
    out = tmp_path / "out"
    with webhook_server() as hook:
        monkeypatch.setenv(ENV_WEBHOOK, hook.url)
        code = main(
            [
                "run",
                "--inbox",
                str(SAMPLES),
                "--out",
                str(out),
                "--date",
                DAY1.isoformat(),
                "--quiet",
                "--db",
                f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none",
            ]
        )
        assert code == 1
        (post,) = hook.received
    assert post["json"]["subject"] == "Passerelle : le run du 2026-11-19 a échoué"
    assert "Impossible d'ouvrir la base" in post["json"]["body"]
    (text,) = _alerts(out)
    assert "rien n'a été publié" in text
    assert not (out / DAY1.isoformat()).exists()


def test_cli_wait_must_be_a_number_of_seconds(tmp_path):
    base = ["run", "--inbox", str(SAMPLES), "--out", str(tmp_path), "--date", DAY1.isoformat()]
    assert main([*base, "--wait", "-1"]) == 2
    assert main([*base, "--wait", "bientôt"]) == 2
