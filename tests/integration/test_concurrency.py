"""Two ``passerelle run`` at once on the same store and date (two real processes).

The store-wide run lock ``daily-run`` (a row in the store: SQLite and PostgreSQL alike) lets one
run through; the other stops at once with « Un autre run (…) est en cours depuis … » and exit
code 1, having written nothing (no folder, no run row, no staging), or, with ``--wait``, waits
for the first one and then completes. Either way the store keeps one publication per date and
no duplicate published session.
"""

from __future__ import annotations

import time

from passerelle.runlock import LOCK_NAME
from passerelle.store import open_store
from tests.integration.runs import (
    DAY1,
    SAMPLES,
    check_complete,
    run_subprocess,
    start_subprocess,
    store_snapshot,
    store_url,
)


def _wait_for_lock(url: str, proc, timeout: float = 120) -> dict:
    """Poll the store until the first run holds the lock (it is then between its first and last step)."""
    st = open_store(url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            holder = st.lock_holder(LOCK_NAME)
            if holder is not None:
                return holder
            assert proc.poll() is None, f"first run ended before taking the lock: {proc.communicate()}"
            time.sleep(0.1)
    finally:
        st.dispose()
    raise AssertionError("the first run never took the lock")


def _single_history(url: str) -> dict:
    snap = store_snapshot(url, (DAY1,))
    feeds = [p[0] for p in snap["publications"][DAY1]]
    assert sorted(feeds) == sorted(set(feeds)) and len(feeds) == 4, snap["publications"]
    assert len(snap["publication_runs"][DAY1]) == 1, "one run owns the publication of the date"
    assert snap["state"][DAY1]["session_key"].is_unique and len(snap["state"][DAY1]) > 0
    assert snap["lock"] is None
    return snap


def test_second_run_stops_with_a_clear_message_and_writes_nothing(db_url, tmp_path):
    out = tmp_path / "out"
    db = "" if db_url.startswith("sqlite") else db_url
    url = store_url(out, db)
    first = start_subprocess(SAMPLES, out, DAY1, db)
    try:
        holder = _wait_for_lock(url, first)
        second = run_subprocess(SAMPLES, out, DAY1, db)
        _first_out, first_err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, first_err
    assert second.returncode == 1, second.stderr
    message = second.stderr
    assert f"Un autre run (run {holder['holder_run_id']}, run du {DAY1.isoformat()}, processus " in message
    assert "est en cours depuis le " in message and "s'arrête sans rien écrire" in message
    assert "Traceback" not in message

    snap = _single_history(url)
    assert [status for _r, _d, status in snap["runs"]] == ["succeeded"], "the refused run left no run row"
    assert snap["publication_runs"][DAY1] == {holder["holder_run_id"]}
    check_complete(out / DAY1.isoformat())
    assert not any((out / ".staging").glob("*"))
    alerts = list((out / "alerts").glob("*.txt"))
    assert len(alerts) == 1 and "Un autre run" in alerts[0].read_text(encoding="utf-8")


def test_second_run_with_wait_queues_behind_the_first(db_url, tmp_path):
    out = tmp_path / "out"
    db = "" if db_url.startswith("sqlite") else db_url
    url = store_url(out, db)
    first = start_subprocess(SAMPLES, out, DAY1, db)
    procs = [first]
    try:
        holder = _wait_for_lock(url, first)
        second = start_subprocess(SAMPLES, out, DAY1, db, "--wait", "300")
        procs.append(second)
        time.sleep(0.5)
        first_was_running = first.poll() is None  # the second one really started while the first held the lock
        _first_out, first_err = first.communicate(timeout=300)
        _second_out, second_err = second.communicate(timeout=300)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert first_was_running
    assert first.returncode == 0, first_err
    assert second.returncode == 0, second_err
    assert "Un autre run" not in second_err

    snap = _single_history(url)
    runs = snap["runs"]
    assert [status for _r, _d, status in runs] == ["succeeded", "succeeded"]
    assert runs[0][0] == holder["holder_run_id"]
    (publisher,) = snap["publication_runs"][DAY1]
    assert publisher == runs[1][0], "the waiting run published after the first, replacing its history"
    check_complete(out / DAY1.isoformat())
    assert not (out / "alerts").exists()
