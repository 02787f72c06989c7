"""Dagster assets materialised with test resources into a temporary folder; the code location."""

from __future__ import annotations

import shutil
from pathlib import Path

from dagster import AssetKey, build_sensor_context, materialize, mem_io_manager

from assets.canonical import core_tables
from assets.ingest import raw_assets, raw_checks
from pipelines.definitions import defs, resources_for
from pipelines.resources import InboxResource
from pipelines.sensors import complete_extracts_sensor

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"


def _resources(tmp_path: Path, inbox: Path = SAMPLES) -> dict:
    return resources_for(str(inbox), str(tmp_path / "out")) | {"io_manager": mem_io_manager}


def test_raw_and_core_assets_materialise_with_conservation(tmp_path):
    result = materialize(
        [*raw_assets, core_tables, *raw_checks],
        resources=_resources(tmp_path),
        partition_key="2026-11-19",
    )
    assert result.success
    sessions = result.output_for_node("core_tables", "core_sessions")
    formations = result.output_for_node("core_tables", "core_formations")
    assert set(sessions["source"]) == {"eos", "sigma", "lheo:intercarif"}
    assert sessions["session_key"].is_unique
    assert len(formations) > 10
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["row_conservation"] is True
    assert checks["file_contract"] is True  # every sample extract honours its contract
    mats = {m.asset_key: m for m in result.get_asset_materialization_events()}
    meta = mats[AssetKey("raw_eos_sessions")].materialization.metadata
    assert meta["rows"].value == 40
    assert "preview" in meta


def test_missing_extract_fails_its_contract_check_but_not_the_run(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for p in SAMPLES.glob("*_20261119.*"):
        if not p.name.startswith("eos_evenements"):
            shutil.copy(p, inbox / p.name)
    result = materialize(
        [*raw_assets, core_tables, *raw_checks], resources=_resources(tmp_path, inbox), partition_key="2026-11-19"
    )
    assert result.success
    by_asset = {(e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert by_asset[("raw_eos_events", "file_contract")] is False
    assert by_asset[("raw_eos_sessions", "file_contract")] is True
    read = result.output_for_node("raw_eos_events")
    assert read.file is None and "Aucun extrait" in read.findings["message"].iloc[0]


def test_whole_daily_job_materialises_into_a_temporary_folder(tmp_path):
    job = defs.resolve_job_def("daily_job")
    result = job.execute_in_process(
        partition_key="2026-11-19",
        resources=_resources(tmp_path),
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
    )
    assert result.success
    summary = result.output_for_node("out_publication")
    folder = Path(summary["folder"])
    assert folder == tmp_path / "out" / "2026-11-19"
    assert (folder / "manifest.json").is_file()
    findings = result.output_for_node("core_findings")
    assert {"DQ001", "DQ009", "DQ020"} <= set(findings["rule"])
    checks = {(e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert checks[("core_sessions", "gx_contract")] is True
    assert checks[("out_carif_lheo", "valid_against_profile")] is True
    assert checks[("out_carif_lheo", "dq023_guard")] is True


def test_code_location_has_jobs_schedule_and_sensor():
    assert {j.name for j in defs.resolve_all_job_defs()} >= {"daily_job", "backfill_job"}
    schedule = defs.resolve_schedule_def("daily_0500_paris")
    assert schedule.cron_schedule == "0 5 * * *"
    assert schedule.execution_timezone == "Europe/Paris"
    assert defs.resolve_sensor_def("complete_extracts_sensor") is not None
    job = defs.resolve_job_def("daily_job")
    assert job.executor_def.name == "in_process"
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"raw_sam_offer", "core_sessions", "core_findings", "out_carif_lheo", "out_publication"} <= keys


def test_sensor_requests_each_new_complete_date_once(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for p in SAMPLES.glob("*_2026111[9]*"):
        shutil.copy(p, inbox / p.name)
    # day 2: EOS and SIGMA only (SAM of day 1 still applies) but the events file is late
    for name in ("eos_sessions_20261120.csv", "sigma_actions_20261120.xlsx"):
        shutil.copy(SAMPLES / name, inbox / name)
    ctx = build_sensor_context(resources={"inbox": InboxResource(path=str(inbox))})
    result = complete_extracts_sensor(ctx)
    assert [r.partition_key for r in result.run_requests] == ["2026-11-19"]
    assert result.cursor == "2026-11-19"

    shutil.copy(SAMPLES / "eos_evenements_20261120.csv", inbox / "eos_evenements_20261120.csv")
    ctx = build_sensor_context(cursor="2026-11-19", resources={"inbox": InboxResource(path=str(inbox))})
    result = complete_extracts_sensor(ctx)
    assert [r.partition_key for r in result.run_requests] == ["2026-11-20"]

    ctx = build_sensor_context(cursor="2026-11-20", resources={"inbox": InboxResource(path=str(inbox))})
    result = complete_extracts_sensor(ctx)
    assert not getattr(result, "run_requests", None)


def test_daily_job_runs_with_the_deployed_filesystem_io_manager(tmp_path):
    """The deployment pickles assets per partition: checks must load their partition's input."""
    from dagster import DagsterInstance, FilesystemIOManager

    job = defs.resolve_job_def("daily_job")
    resources = resources_for(str(SAMPLES), str(tmp_path / "out")) | {
        "io_manager": FilesystemIOManager(base_dir=str(tmp_path / "storage"))
    }
    with DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            partition_key="2026-11-19",
            resources=resources,
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        )
    assert result.success, [e.message for e in result.all_events if e.is_step_failure]
    assert (tmp_path / "out" / "2026-11-19" / "manifest.json").is_file()
    assert (tmp_path / "storage" / "core_sessions" / "2026-11-19").exists()
