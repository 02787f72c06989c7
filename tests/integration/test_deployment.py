"""The production deployment, exactly as the README's « Production » section describes it.

The test reads the README: the variables of its table are the ones it sets, and its ```sh block
is what it runs, word for word, with ``bash -euo pipefail`` from the project folder. So the
procedure a data engineer follows is the tested one:

- a fresh ``DAGSTER_HOME`` with ``deploy/dagster.yaml``; Dagster's run, event-log and schedule
  storage in a database of its own on the local PostgreSQL server, Passerelle's store in another
  one (both created with unique names for this test and dropped afterwards);
- ``dagster-daemon run`` and ``dagster-webserver`` started as in production, the inbox sensor
  switched on with ``dagster sensor start``;
- two days of samples in the inbox, and the EOS extracts of a third day whose SIGMA extract has
  not landed: the sensor requests the first two days and not the third; both runs go through
  the queued run coordinator one after the other, succeed and publish (manifest, feeds
  byte-identical to the golden files, publications in the PostgreSQL store);
- the webserver answers (``/server_info``, the runs page) and lists the runs through its
  GraphQL API; the daemons are healthy; the schedule's next tick is 05:00 Europe/Paris;
- a re-run of a published day forced to fail (the output folder cannot take the run's staging
  folder) produces the alert file through the daemon's ``run_failure_alert`` sensor, and
  leaves the published day untouched.

Every process started is in one process group, terminated at the end (killed if it lingers),
also when the test fails. Skipped without ``PASSERELLE_TEST_POSTGRES_URL``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.conftest import POSTGRES_ENV, POSTGRES_SKIP
from tests.integration.runs import DAY1, DAY2, ROOT, SAMPLES
from tests.loopback import free_port

pytestmark = pytest.mark.postgres

README = ROOT / "README.md"
GOLDEN = ROOT / "tests" / "golden"
FEEDS = [
    "carif/lheo-{d}.xml",
    "carif/lheo-delta-{d}.xml",
    "pole-emploi/offres-{d}.xml",
    "mission-locale/sessions-{d}.csv",
    "quality/issues.csv",
]
LOCATION = {"repositoryLocationName": "pipelines.definitions", "repositoryName": "__repository__"}
INCOMPLETE_DAY = "2026-11-21"  # EOS extracts only: its SIGMA extract has not landed

# Deadlines (seconds), generous for a shared two-core machine; a run takes about 40 s alone.
SETUP_TIMEOUT = 300
SERVER_TIMEOUT = 180
RUNS_TIMEOUT = 900
ALERT_TIMEOUT = 300
GRAPHQL_ERRORS_TIMEOUT = 30


def production_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Production\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def production_procedure() -> str:
    """The README's shell block, the one a data engineer runs."""
    blocks = re.findall(r"```sh\n(.*?)```", production_section(), re.S)
    assert len(blocks) == 1, "the README's Production section has exactly one ```sh block: the procedure"
    return blocks[0]


def production_variables() -> set[str]:
    """The variables of the README's Production table (first column, one per row)."""
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", production_section(), re.M))


# --- PostgreSQL -----------------------------------------------------------------------------------


@contextmanager
def databases(base_url: str, *names: str):
    """Create the databases, yield, drop them (connections of leftover processes included)."""
    admin = sa.create_engine(base_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    created = []
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                created.append(name)
        yield
    finally:
        with admin.connect() as conn:
            for name in created:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --- the deployed processes -----------------------------------------------------------------------


class Deployment:
    """The README's procedure run by bash in a new session: bash and everything it starts (daemon,
    webserver, their code servers and run workers) share one process group, ended by :meth:`stop`."""

    def __init__(self, workdir: Path, env: dict[str, str], port: int):
        self.log_path = workdir / "deployment.log"
        self.env = env
        self.port = port
        self.proc: subprocess.Popen | None = None

    def start(self, script: str) -> None:
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed below, the children keep their copy
        try:
            self.proc = subprocess.Popen(
                ["bash", "-euo", "pipefail", "-c", script],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()

    def group_alive(self) -> bool:
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self, grace: float = 15) -> None:
        """SIGTERM to the group, SIGKILL to what is left after ``grace`` seconds, until none is left."""
        if self.proc is None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 30)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while self.group_alive() and time.monotonic() < deadline:
                self.proc.poll()  # reap bash if it is still ours
                time.sleep(0.3)
            if not self.group_alive():
                break
        self.proc.wait(timeout=30)

    def survivors(self) -> list[str]:
        import psutil

        out = []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            try:
                if os.getpgid(proc.info["pid"]) == self.proc.pid:
                    out.append(f"{proc.info['pid']} {' '.join(proc.info['cmdline'] or [])[:120]}")
            except (ProcessLookupError, psutil.Error):
                continue
        return out

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def log_errors(self, limit: int = 10) -> list[str]:
        """The distinct exception lines of the log (``psycopg.errors.SyntaxError: …``), first seen first."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        found = re.findall(r"^([A-Za-z_][\w.]*(?:Error|Exception|Violation)\b: .*)$", text, re.M)
        return list(dict.fromkeys(found))[:limit]

    def fail(self, message: str) -> None:
        errors = "".join(f"\n  {line}" for line in self.log_errors()) or " none"
        pytest.fail(
            f"{message}\n--- exceptions in the deployment log:{errors}\n"
            f"--- deployment log (last lines, whole log: {self.log_path}) ---\n{self.log_tail()}",
            pytrace=False,
        )

    def wait_for(self, what: str, probe, timeout: float, interval: float = 1.0):
        """Poll ``probe()`` until it returns something true; fail naming ``what`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        last_error, answering_with_errors_since = None, None
        while True:
            try:
                value = probe()
                if value:
                    return value
                answering_with_errors_since = None
            except RuntimeError as exc:  # the webserver answers, with an error: not for long
                last_error = exc
                answering_with_errors_since = answering_with_errors_since or time.monotonic()
                if time.monotonic() - answering_with_errors_since > GRAPHQL_ERRORS_TIMEOUT:
                    self.fail(f"the webserver keeps answering with an error while waiting for {what}: {exc}")
            except OSError as exc:  # not up yet (urllib's errors are OSErrors)
                last_error = exc
            if not self.group_alive():
                self.fail(f"the deployed processes are gone while waiting for {what}")
            if time.monotonic() > deadline:
                self.fail(
                    f"timed out after {timeout:.0f} s waiting for {what}"
                    + (f" (last error: {last_error})" if last_error else "")
                )
            time.sleep(interval)

    # the webserver

    def get(self, path: str) -> tuple[int, str]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=30) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")

    def graphql(self, query: str, **variables) -> dict:
        body = json.dumps({"query": query, "variables": variables}).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                answer = json.loads(resp.read())
        except urllib.error.HTTPError as exc:  # GraphQL errors come with a 500
            try:
                answer = json.loads(exc.read())
            except ValueError:
                raise RuntimeError(f"GraphQL: HTTP {exc.code}") from exc
        if answer.get("errors"):
            raise RuntimeError("GraphQL: " + "; ".join(e.get("message", "?") for e in answer["errors"]))
        return answer["data"]


RUNS = """query { runsOrError(filter: {pipelineName: "daily_job"}) { __typename ... on Runs { results {
  runId status creationTime startTime endTime tags { key value }
  eventConnection(limit: 1000) { events { __typename } } } } ... on PythonError { message } } }"""

DAEMONS = "query { instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } } }"

SENSOR = """query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { __typename ... on Sensor {
  sensorState { status ticks(limit: 20) { status runIds cursor skipReason } } } } }"""

SCHEDULE = """query($s: ScheduleSelector!) { scheduleOrError(scheduleSelector: $s) { __typename ... on Schedule {
  cronSchedule executionTimezone scheduleState { status } futureTicks(limit: 1) { results { timestamp } } } } }"""

LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename
  ... on LaunchRunSuccess { run { runId status } } ... on PythonError { message } } }"""


def runs(dep: Deployment) -> list[dict]:
    result = dep.graphql(RUNS)["runsOrError"]
    if result["__typename"] != "Runs":
        raise RuntimeError(f"runsOrError: {result}")
    for run in result["results"]:
        run["tags"] = {t["key"]: t["value"] for t in run["tags"]}
        run["events"] = [e["__typename"] for e in run["eventConnection"]["events"]]
    return result["results"]


FAILED_TICKS = """query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { __typename ... on Sensor {
  sensorState { ticks(limit: 5, statuses: [FAILURE]) { error { message } } } } } }"""


def fail_on_sensor_errors(dep: Deployment) -> None:
    """A sensor tick that failed will not be retried soon: say so now rather than at the timeout."""
    for name in ("complete_extracts_sensor", "run_failure_alert"):
        sensor = dep.graphql(FAILED_TICKS, s=LOCATION | {"sensorName": name})["sensorOrError"]
        ticks = sensor["sensorState"]["ticks"] if sensor["__typename"] == "Sensor" else []
        if ticks:
            dep.fail(f"a tick of the sensor {name} failed: {(ticks[0]['error'] or {}).get('message', '?')}")


def runs_finished(dep: Deployment, count: int) -> list[dict] | None:
    fail_on_sensor_errors(dep)
    found = runs(dep)
    failed = [r for r in found if r["status"] in ("FAILURE", "CANCELED")]
    if failed:
        dep.fail(f"a run did not succeed: {[(r['tags'].get('dagster/partition'), r['status']) for r in failed]}")
    done = [r for r in found if r["status"] == "SUCCESS"]
    return done if len(done) >= count else None


def healthy_daemons(dep: Deployment) -> set[str]:
    statuses = dep.graphql(DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]
    healthy = {s["daemonType"] for s in statuses if s["healthy"]}
    needed = {"SCHEDULER", "SENSOR", "QUEUED_RUN_COORDINATOR"}
    return healthy if needed <= healthy else set()


def prepare_inbox(inbox: Path) -> None:
    """Two complete sample days, and a third day with its EOS extracts only."""
    inbox.mkdir()
    for p in SAMPLES.iterdir():
        if re.fullmatch(r"(sam|eos|sigma|lheo)_[a-z]+_\d{8}\.(xml|xml\.gz|csv|xlsx)", p.name):
            shutil.copy2(p, inbox / p.name)
    stamp = INCOMPLETE_DAY.replace("-", "")
    for kind in ("sessions", "evenements"):
        shutil.copy2(SAMPLES / f"eos_{kind}_{DAY2:%Y%m%d}.csv", inbox / f"eos_{kind}_{stamp}.csv")


def deployment_env(
    base_url: str, home: Path, inbox: Path, out: Path, dagster_db: str, store_db: str, port: int
) -> dict[str, str]:
    url = sa.make_url(base_url)
    values = {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": url.host or "127.0.0.1",
        "DAGSTER_PG_USER": url.username or "postgres",
        "DAGSTER_PG_PASSWORD": url.password or "",
        "DAGSTER_PG_DB": dagster_db,
        "PASSERELLE_INBOX": str(inbox),
        "PASSERELLE_OUT": str(out),
        "PASSERELLE_DB": url.set(database=store_db).render_as_string(hide_password=False),
        "PASSERELLE_UI_PORT": str(port),
    }
    documented = production_variables()
    assert set(values) <= documented, (
        f"variables the deployment needs but the README does not name: {set(values) - documented}"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PASSERELLE_", "DAGSTER_"))}
    env.pop("VIRTUAL_ENV", None)
    return env | values


def test_production_procedure_runs_the_days_alerts_and_serves_the_ui(tmp_path):
    base_url = os.environ.get(POSTGRES_ENV)
    if not base_url:
        pytest.skip(POSTGRES_SKIP)
    if (sa.make_url(base_url).port or 5432) != 5432:
        pytest.skip("deploy/dagster.yaml connects to PostgreSQL on port 5432; the test server is elsewhere")
    assert (ROOT / ".venv" / "bin" / "activate").is_file(), "the procedure activates .venv: run `make venv` first"

    timings: dict[str, float] = {}
    t0 = time.monotonic()
    tag = uuid.uuid4().hex[:12]
    dagster_db, store_db = f"passerelle_deploy_{tag}_dagster", f"passerelle_deploy_{tag}_store"
    inbox, out, home = tmp_path / "inbox", tmp_path / "out", tmp_path / "dagster_home"
    prepare_inbox(inbox)
    port = free_port()
    dep = Deployment(tmp_path, deployment_env(base_url, home, inbox, out, dagster_db, store_db, port), port)

    with databases(base_url, dagster_db, store_db):
        try:
            dep.start(production_procedure())
            try:
                code = dep.proc.wait(timeout=SETUP_TIMEOUT)
            except subprocess.TimeoutExpired:
                dep.fail(f"the README procedure did not finish in {SETUP_TIMEOUT} s")
            if code != 0:
                dep.fail(f"the README procedure failed (exit code {code})")
            assert (home / "dagster.yaml").read_bytes() == (ROOT / "deploy" / "dagster.yaml").read_bytes()
            timings["procedure"] = time.monotonic() - t0

            status, info = dep.wait_for(
                "the webserver to answer /server_info", lambda: dep.get("/server_info"), SERVER_TIMEOUT
            )
            assert status == 200 and "dagster_webserver_version" in json.loads(info)
            dep.wait_for(
                "the scheduler, sensor and run queue daemons to be healthy",
                lambda: healthy_daemons(dep),
                SERVER_TIMEOUT,
            )
            timings["webserver and daemons up"] = time.monotonic() - t0

            _check_schedule(dep)
            done = dep.wait_for(
                "the sensor's two daily runs to succeed", lambda: runs_finished(dep, 2), RUNS_TIMEOUT, interval=3
            )
            timings["two daily runs done"] = time.monotonic() - t0
            _check_sensor_runs(dep, done, out, store_db, base_url)

            _check_failure_alert(dep, out)
            timings["failed run alerted"] = time.monotonic() - t0

            status, page = dep.get("/runs")
            assert status == 200 and "<html" in page.lower()
            listed = runs(dep)
            assert sorted(r["status"] for r in listed) == ["FAILURE", "SUCCESS", "SUCCESS"]
        finally:
            dep.stop()
        assert not dep.group_alive(), f"deployed processes survived the end of the test: {dep.survivors()}"
    timings["total, databases dropped"] = time.monotonic() - t0
    print("deployment test timings (s from start): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))


def _check_schedule(dep: Deployment) -> None:
    schedule = dep.graphql(SCHEDULE, s=LOCATION | {"scheduleName": "daily_0500_paris"})["scheduleOrError"]
    assert schedule["__typename"] == "Schedule", schedule
    assert schedule["cronSchedule"] == "0 5 * * *" and schedule["executionTimezone"] == "Europe/Paris"
    assert schedule["scheduleState"]["status"] == "RUNNING"
    (tick,) = schedule["futureTicks"]["results"]
    at = datetime.fromtimestamp(tick["timestamp"], tz=UTC)
    local = at.astimezone(ZoneInfo("Europe/Paris"))
    assert (local.hour, local.minute, local.second) == (5, 0, 0), f"next tick at {local.isoformat()}"
    assert 0 < (at - datetime.now(UTC)).total_seconds() <= 25 * 3600, f"next tick at {local.isoformat()}"


def _check_sensor_runs(dep: Deployment, done: list[dict], out: Path, store_db: str, base_url: str) -> None:
    by_day = {r["tags"]["dagster/partition"]: r for r in done}
    assert sorted(by_day) == [DAY1.isoformat(), DAY2.isoformat()], f"runs requested: {sorted(by_day)}"
    assert len(done) == 2, "one run per complete day"
    for day, run in by_day.items():
        assert run["tags"].get("dagster/sensor_name") == "complete_extracts_sensor", run["tags"]
        assert run["tags"].get("dagster/run_key") == f"extracts-{day}"
        events = [e for e in run["events"] if e.startswith("Run")]
        assert events[:2] == ["RunEnqueuedEvent", "RunStartingEvent"], (
            f"the run of {day} did not go through the queued run coordinator: {events}"
        )
    first, second = by_day[DAY1.isoformat()], by_day[DAY2.isoformat()]
    assert first["endTime"] <= second["startTime"], "the two daily runs overlapped (max_concurrent_runs: 1)"

    sensor = dep.graphql(SENSOR, s=LOCATION | {"sensorName": "complete_extracts_sensor"})["sensorOrError"]
    assert sensor["__typename"] == "Sensor", sensor
    state = sensor["sensorState"]
    assert state["status"] == "RUNNING"
    requested = [run_id for t in state["ticks"] for run_id in t["runIds"]]
    assert sorted(requested) == sorted(r["runId"] for r in done), "the sensor requested exactly the two days"
    cursors = [t["cursor"] for t in state["ticks"] if t["runIds"]]
    assert cursors == [DAY2.isoformat()], f"sensor cursor after its requests: {cursors}"
    assert not (out / INCOMPLETE_DAY).exists()

    for day, run in by_day.items():
        manifest = json.loads((out / day / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["date"] == day and manifest["run_id"] == run["runId"]
        s = manifest["sessions"]
        assert s["read"] == s["published"] + s["quarantined"] + s["not_publishable"] and s["published"] > 0
        for entry in manifest["outputs"]:
            data = (out / day / entry["file"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["file"]
        for pattern in FEEDS:
            rel = pattern.format(d=day)
            assert (out / day / rel).read_bytes() == (GOLDEN / day / rel).read_bytes(), (
                f"{day}/{rel}: the deployed run published other bytes than `passerelle run` (tests/golden)"
            )
    assert not (out / "passerelle.sqlite3").exists(), "the store is PASSERELLE_DB, not an SQLite file"
    store = sa.create_engine(sa.make_url(base_url).set(database=store_db), poolclass=sa.pool.NullPool)
    try:
        with store.connect() as conn:
            published = set(conn.execute(sa.text("SELECT DISTINCT run_date, run_id FROM publications")).all())
    finally:
        store.dispose()
    assert {(d.isoformat(), r) for d, r in published} == {(day, run["runId"]) for day, run in by_day.items()}


def _check_failure_alert(dep: Deployment, out: Path) -> None:
    """Re-run a published day while its staging folder cannot be created: the run fails, the daemon's
    run_failure_alert sensor writes the alert, the published day is untouched."""
    day = DAY2.isoformat()
    staging = out / ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.write_text("not a folder: the output folder cannot take the run's staging folder\n")
    published = {p.relative_to(out / day): p.read_bytes() for p in (out / day).rglob("*") if p.is_file()}
    alerts = out / "alerts"
    assert not alerts.exists() or not any(alerts.iterdir()), "no alert before the failure"

    launched = dep.graphql(
        LAUNCH,
        p={
            "selector": LOCATION | {"jobName": "daily_job"},
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": day}]},
        },
    )
    result = launched["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    run_id = result["run"]["runId"]
    assert result["run"]["status"] == "QUEUED", "launched through the queued run coordinator"

    def failed():
        fail_on_sensor_errors(dep)
        (run,) = [r for r in runs(dep) if r["runId"] == run_id]
        if run["status"] == "SUCCESS":
            dep.fail("the run forced to fail succeeded")
        return run if run["status"] == "FAILURE" else None

    dep.wait_for("the forced run to fail", failed, RUNS_TIMEOUT, interval=2)

    def alert_files():
        fail_on_sensor_errors(dep)
        return sorted(alerts.glob("*.txt")) if alerts.is_dir() else []

    files = dep.wait_for("the alert file of the failed run", alert_files, ALERT_TIMEOUT, interval=2)
    assert len(files) == 1, [f.name for f in files]
    text = files[0].read_text(encoding="utf-8")
    assert f"Passerelle : le run du {day} a échoué" in text
    assert run_id in text and "rien n'a été publié pour cette date" in text
    assert str(staging) in text, "the alert names the cause"
    after = {p.relative_to(out / day): p.read_bytes() for p in (out / day).rglob("*") if p.is_file()}
    assert after == published, "the failed re-run changed the published day"
