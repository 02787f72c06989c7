"""The store-wide run lock (passerelle.runlock) on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from passerelle.runlock import (
    LOCK_NAME,
    RunLockedError,
    acquire_run_lock,
    process_alive,
    run_lock,
    stale_reason,
    this_host,
)
from passerelle.store import StoreLockedError, open_store
from passerelle.store import models as m
from passerelle.store.db import downgrade, head_revision, write_transaction


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_process_alive():
    assert process_alive(os.getpid())
    assert not process_alive(_dead_pid())
    assert not process_alive(0)


def test_lock_records_its_holder_and_is_released(store):
    with run_lock(store, "run-a", detail="run du 2026-11-20") as taken:
        assert taken is True
        holder = store.lock_holder(LOCK_NAME)
        assert holder["holder_run_id"] == "run-a"
        assert holder["holder_pid"] == os.getpid()
        assert holder["holder_host"] == this_host()
        assert holder["holder_detail"] == "run du 2026-11-20"
        assert holder["acquired_at"].tzinfo is not None
    assert store.lock_holder(LOCK_NAME) is None


def test_lock_is_released_when_the_run_fails(store):
    with pytest.raises(RuntimeError, match="boom"):
        with run_lock(store, "run-a"):
            raise RuntimeError("boom")
    assert store.lock_holder(LOCK_NAME) is None


def test_second_run_stops_with_a_french_message_naming_the_first(store):
    with run_lock(store, "run-a", detail="run du 2026-11-20"):
        with pytest.raises(RunLockedError) as raised:
            acquire_run_lock(store, "run-b", detail="run du 2026-11-21")
        text = str(raised.value)
        assert text.startswith("Un autre run (run run-a, run du 2026-11-20, processus ")
        assert "est en cours depuis le " in text and "heure de Paris" in text
        assert "ce run du 2026-11-21 s'arrête sans rien écrire" in text
        assert "--wait" in text
        assert isinstance(raised.value, StoreLockedError)
        assert raised.value.holder_run_id == "run-a"
        assert store.lock_holder(LOCK_NAME)["holder_run_id"] == "run-a"  # untouched


def test_lock_is_reentrant_for_the_same_run_and_only_the_outer_holder_releases(store):
    with run_lock(store, "run-a") as outer:
        with run_lock(store, "run-a") as inner:
            assert (outer, inner) == (True, False)
        assert store.lock_holder(LOCK_NAME)["holder_run_id"] == "run-a"
    assert store.lock_holder(LOCK_NAME) is None


def test_lock_of_a_dead_process_on_this_host_is_taken_over_and_its_run_closed(store):
    store.begin_run("run-dead", date(2026, 11, 20))
    store.acquire_lock(LOCK_NAME, "run-dead", pid=_dead_pid(), host=this_host(), detail="run du 2026-11-20")
    warnings: list[str] = []
    with run_lock(store, "run-new", warn=warnings.append) as taken:
        assert taken
        assert store.lock_holder(LOCK_NAME)["holder_run_id"] == "run-new"
    assert len(warnings) == 1 and "repris" in warnings[0] and "n'existe plus" in warnings[0]
    dead = store.get_run("run-dead")
    assert dead["status"] == "failed" and "interrompu" in dead["summary"]["interrompu"]


def test_live_holder_is_respected_but_an_old_lock_is_stale(store):
    # a live process on another host: cannot be checked, only its age counts
    store.acquire_lock(LOCK_NAME, "run-far", pid=os.getpid(), host="another-host")
    with pytest.raises(RunLockedError):
        acquire_run_lock(store, "run-b")
    warnings: list[str] = []
    assert acquire_run_lock(store, "run-b", stale_after=timedelta(0), warn=warnings.append)
    assert "il y a plus de 0 h" in warnings[0]
    assert store.lock_holder(LOCK_NAME)["holder_run_id"] == "run-b"


def test_stale_reason():
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    alive = {"holder_run_id": "r", "holder_pid": os.getpid(), "holder_host": "h", "acquired_at": now}
    assert stale_reason(alive, now=now, host="h") is None
    assert stale_reason({**alive, "acquired_at": now - timedelta(hours=7)}, now=now, host="h") is not None
    assert stale_reason({**alive, "acquired_at": now - timedelta(hours=5)}, now=now, host="h") is None
    dead = {**alive, "holder_pid": _dead_pid()}
    assert "n'existe plus" in stale_reason(dead, now=now, host="h")
    assert stale_reason(dead, now=now, host="other") is None  # another host: cannot tell
    legacy = {"holder_run_id": "r", "holder_pid": None, "holder_host": None, "acquired_at": now}  # before 0003
    assert stale_reason(legacy, now=now, host="h") is None


def test_waiting_run_gets_the_lock_when_the_first_one_ends(db_url):
    with open_store(db_url) as first, open_store(db_url) as second:
        first.acquire_lock(LOCK_NAME, "run-a", pid=os.getpid(), host=this_host())
        releaser = threading.Timer(1.0, lambda: first.release_lock(LOCK_NAME, "run-a"))
        releaser.start()
        said: list[str] = []
        try:
            assert acquire_run_lock(second, "run-b", wait_seconds=60, poll_seconds=0.1, warn=said.append)
        finally:
            releaser.join()
        assert second.lock_holder(LOCK_NAME)["holder_run_id"] == "run-b"
        assert len(said) == 1 and "tenu par le run run-a" in said[0] and "60 s au plus" in said[0]


def test_waiting_has_a_limit(store):
    store.acquire_lock(LOCK_NAME, "run-a", pid=os.getpid(), host=this_host())
    with pytest.raises(RunLockedError, match="après 1 s d'attente"):
        acquire_run_lock(store, "run-b", wait_seconds=1.2, poll_seconds=0.2)
    assert store.lock_holder(LOCK_NAME)["holder_run_id"] == "run-a"


def test_take_over_is_refused_when_the_stale_holder_is_no_longer_there(store):
    store.acquire_lock(LOCK_NAME, "run-a")
    assert store.take_over_lock(LOCK_NAME, "run-x", "run-b") is False
    assert store.lock_holder(LOCK_NAME)["holder_run_id"] == "run-a"
    assert store.take_over_lock(LOCK_NAME, "run-a", "run-b", pid=1, host="h", detail="d") is True
    assert store.lock_holder(LOCK_NAME) | {"acquired_at": None} == {
        "holder_run_id": "run-b",
        "acquired_at": None,
        "holder_pid": 1,
        "holder_host": "h",
        "holder_detail": "d",
    }


def test_migration_0003_adds_the_holder_columns_and_keeps_held_locks(store):
    with write_transaction(store.engine) as conn:
        downgrade(conn, "0002")
    cols = {c["name"] for c in sa.inspect(store.engine).get_columns("run_locks")}
    assert "holder_pid" not in cols
    with write_transaction(store.engine) as conn:
        conn.execute(
            sa.text(
                "INSERT INTO run_locks (name, holder_run_id, acquired_at) VALUES "
                "('daily-run', 'old-run', '2026-11-20 05:00:00')"
            )
        )
    url = store.engine.url.render_as_string(hide_password=False)
    store.dispose()
    with open_store(url) as reopened:
        assert reopened.schema_revision() == head_revision()
        holder = reopened.lock_holder(LOCK_NAME)
        assert holder["holder_run_id"] == "old-run" and holder["holder_pid"] is None
        cols = {c["name"] for c in sa.inspect(reopened.engine).get_columns("run_locks")}
        assert {"holder_pid", "holder_host", "holder_detail"} <= cols
        assert set(m.run_locks.c.keys()) == cols
