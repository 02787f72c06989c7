"""Crash safety: kill ``passerelle run`` at each crash point, check what is left, re-run.

Each crash is a real process (``python -m passerelle.cli run``) that dies with ``os._exit(137)``
when it reaches the point named by ``PASSERELLE_CRASH_AT`` (passerelle/crashpoints.py): no
``finally``, no lock release, like a ``kill -9``. After the crash:

- ``<out>/<D1>/`` is byte-for-byte what it was;
- ``<out>/<D2>/`` is absent or complete (its manifest lists exactly its files, sha256 match);
- the store still has D1's publication as it was, and D2's only once it was recorded.

Then ``passerelle run`` for D2 again (no crash) takes over the lock of the dead run, completes,
and gives the very feeds and store state of an uncrashed reference run: byte-identical XML and
CSV, one publication per date, no duplicate published session, no run left ``running``.

SQLite always; PostgreSQL (a fresh schema per test) for the points around the store when
PASSERELLE_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from passerelle.crashpoints import CRASH_ENV, CRASH_EXIT_CODE
from tests.conftest import POSTGRES_ENV, POSTGRES_SKIP, _postgres_schema_url
from tests.integration.runs import (
    DAY1,
    DAY2,
    SAMPLES,
    check_complete,
    feeds_and_tables,
    run_in_process,
    run_subprocess,
    same_state,
    store_snapshot,
    store_url,
    subprocess_env,
    tree,
)

# point -> (day-2 folder in place after the crash, day-2 publication recorded in the store).
# before-fsync / before-swap leave the state of versions-saved (tests/unit/test_publish.py
# covers them at the function level); between-renames is only reached without the atomic
# exchange (not on Linux, also covered there).
FIRST_RUN_POINTS = {
    "locked": (False, False),
    "after-read": (False, False),
    "staged": (False, False),
    "versions-saved": (False, False),
    "moved": (True, False),
    "publication-recorded": (True, True),
    "finished": (True, True),
}
# crash while re-running D2 over its published folder (the atomic exchange of the two folders)
RERUN_POINTS = ("after-swap",)
POSTGRES_POINTS = ("versions-saved", "publication-recorded")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """``base``: the output after day 1; ``ref``: after day 1 then day 2, no crash (SQLite)."""
    root = tmp_path_factory.mktemp("crash-ref")
    base, ref = root / "base", root / "ref"
    assert run_in_process(SAMPLES, base, DAY1) == 0
    shutil.copytree(base, ref)
    assert run_in_process(SAMPLES, ref, DAY2) == 0
    return {
        "base": base,
        "ref": ref,
        "base_tree": tree(base / DAY1.isoformat()),
        "ref_store": store_snapshot(store_url(ref)),
    }


def _crash(out: Path, db: str, point: str):
    proc = run_subprocess(SAMPLES, out, DAY2, db, env=subprocess_env(**{CRASH_ENV: point}))
    assert proc.returncode == CRASH_EXIT_CODE, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert f"arrêt brutal simulé au point « {point} »" in proc.stderr
    return proc


def _check_after_crash(out: Path, url: str, reference: dict, point: str, folder_in_place: bool, recorded: bool) -> None:
    d1, d2 = out / DAY1.isoformat(), out / DAY2.isoformat()
    assert tree(d1) == reference["base_tree"], "day 1 must be untouched"
    if folder_in_place:
        check_complete(d2)
    else:
        assert not d2.exists(), f"{point}: a day-2 folder appeared before its move"
    snap, ref = store_snapshot(url), reference["ref_store"]
    assert snap["publications"][DAY1] == ref["publications"][DAY1]
    assert same_state(snap["state"][DAY1], ref["state"][DAY1])
    if recorded:
        assert snap["publications"][DAY2] == ref["publications"][DAY2]
        assert same_state(snap["state"][DAY2], ref["state"][DAY2])
    else:
        assert snap["publications"][DAY2] == [] and snap["state"][DAY2].empty
    assert snap["lock"] is not None, "the dead run cannot have released its lock"
    assert snap["lock"]["holder_pid"] != os.getpid()


def _check_after_rerun(out: Path, url: str, reference: dict, crashed_run: str | None, crashed_point: str) -> None:
    d1, d2 = out / DAY1.isoformat(), out / DAY2.isoformat()
    assert tree(d1) == reference["base_tree"], "day 1 must be untouched"
    check_complete(d2)
    assert feeds_and_tables(d2) == feeds_and_tables(reference["ref"] / DAY2.isoformat()), (
        "feeds differ from the uncrashed reference run"
    )
    snap, ref = store_snapshot(url), reference["ref_store"]
    for d in (DAY1, DAY2):
        assert snap["publications"][d] == ref["publications"][d], f"publications of {d}"
        assert same_state(snap["state"][d], ref["state"][d]), f"published catalogue of {d}"
    assert snap["lock"] is None, "the lock is released at the end"
    statuses = {run_id: status for run_id, _day, status in snap["runs"]}
    assert "running" not in statuses.values(), snap["runs"]
    (publisher,) = snap["publication_runs"][DAY2]  # one run owns D2's publication
    assert statuses[publisher] == "succeeded"
    if crashed_run is not None and crashed_run in statuses and crashed_run != publisher:
        # closed as failed when its lock was taken over, unless it had finished its store work
        assert statuses[crashed_run] == ("succeeded" if crashed_point == "finished" else "failed")
    assert not any((out / ".staging").glob("*")), "staging folders are cleaned"
    assert not (out / ".trash").exists() or not any((out / ".trash").iterdir())


def _scenario(out: Path, db: str, reference: dict, point: str, in_place: bool, recorded: bool) -> None:
    url = store_url(out, db)
    _crash(out, db, point)
    crashed = store_snapshot(url)["lock"]["holder_run_id"]
    _check_after_crash(out, url, reference, point, in_place, recorded)
    assert run_in_process(SAMPLES, out, DAY2, db) == 0, "the next run must complete"
    _check_after_rerun(out, url, reference, crashed, point)


@pytest.mark.parametrize("point", list(FIRST_RUN_POINTS))
def test_crash_during_the_first_run_of_a_date_then_rerun(reference, tmp_path, point):
    out = tmp_path / "out"
    shutil.copytree(reference["base"], out)
    _scenario(out, "", reference, point, *FIRST_RUN_POINTS[point])


@pytest.mark.parametrize("point", RERUN_POINTS)
def test_crash_while_republishing_a_date_then_rerun(reference, tmp_path, point):
    out = tmp_path / "out"
    shutil.copytree(reference["ref"], out)
    before = check_complete(out / DAY2.isoformat())
    _crash(out, "", point)
    d2 = out / DAY2.isoformat()
    after = check_complete(d2)  # the new folder, complete, never a mix with the old one
    assert after["run_id"] != before["run_id"]
    assert feeds_and_tables(d2) == feeds_and_tables(reference["ref"] / DAY2.isoformat())
    assert tree(out / DAY1.isoformat()) == reference["base_tree"]
    assert run_in_process(SAMPLES, out, DAY2) == 0
    _check_after_rerun(out, store_url(out), reference, None, point)


@pytest.fixture
def pg_url():
    base_url = os.environ.get(POSTGRES_ENV)
    if not base_url:
        pytest.skip(POSTGRES_SKIP)
    yield from _postgres_schema_url(base_url)


@pytest.mark.postgres
@pytest.mark.parametrize("point", POSTGRES_POINTS)
def test_crash_on_postgresql_then_rerun(reference, tmp_path, pg_url, point):
    out = tmp_path / "out"
    assert run_in_process(SAMPLES, out, DAY1, pg_url) == 0
    # day 1 of this store is its own (run ids in the manifest); feeds and states are the reference's
    reference = {**reference, "base_tree": tree(out / DAY1.isoformat())}
    _scenario(out, pg_url, reference, point, *FIRST_RUN_POINTS[point])
