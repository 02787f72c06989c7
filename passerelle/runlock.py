"""The store-wide run lock: one daily run at a time on a store.

Every run that touches the store holds the lock ``daily-run`` (a row of ``run_locks``, so it
works the same on SQLite and PostgreSQL, across processes and hosts) from before its first step
to after its last one. One lock for the whole store, not one per date: two runs of different
dates would also race (the second date's delta is computed against the first one's
publication, and both move folders under the same ``--out``).

Taken by :func:`run_lock`, which the Dagster ``store`` resource enters when a run starts and
leaves when it ends, failed or not (``pipelines/resources.py``): the CLI, the schedule, the
sensor's runs, backfills and UI materialisations all go through it.

When the lock is held:

- the new run waits up to ``wait_seconds`` (polling), then stops with :class:`RunLockedError`
  « Un autre run (…) est en cours depuis … » before writing anything;
- a lock whose holder is gone does not block: the holder's process id and host are recorded;
  on the same host, a holder process that no longer exists (or is a zombie) makes the lock
  stale; from any host, a lock older than ``stale_after`` (6 h by default) is stale. A stale
  lock is taken over in one transaction, with a warning, and the dead run (if the store knows
  it) is closed as ``failed``.
- the lock is re-entrant for the same run id (a step process of the same run finds it held by
  its own run and goes on, without releasing it at its end).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from passerelle.crashpoints import crash_point
from passerelle.store import StoreLockedError

LOCK_NAME = "daily-run"
DEFAULT_STALE_AFTER = timedelta(hours=6)
POLL_SECONDS = 1.0

log = logging.getLogger(__name__)


def _paris(moment: datetime | None) -> str:
    if moment is None:
        return "un moment inconnu"
    try:
        from zoneinfo import ZoneInfo

        local = moment.astimezone(ZoneInfo("Europe/Paris"))
        return f"le {local:%d/%m/%Y à %H:%M:%S} (heure de Paris)"
    except Exception:  # noqa: BLE001 - no time zone database: say it in UTC
        return f"le {moment.astimezone(UTC):%d/%m/%Y à %H:%M:%S} UTC"


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (a zombie counts as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to another user
        return True
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            # "pid (comm) state ...": comm may hold spaces and parentheses, the state follows the last ")"
            state = fh.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def this_host() -> str:
    return socket.gethostname()


def stale_reason(
    holder: dict[str, Any],
    *,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    now: datetime | None = None,
    host: str | None = None,
) -> str | None:
    """Why the lock ``holder`` (a :meth:`Store.lock_holder` dict) is stale, in French, or None
    when it must be respected."""
    host = host or this_host()
    pid = holder.get("holder_pid")
    holder_host = holder.get("holder_host")
    if pid is not None and holder_host == host and not process_alive(int(pid)):
        return f"le processus {pid} qui le tenait sur {host} n'existe plus (run interrompu)"
    acquired = holder.get("acquired_at")
    now = now or datetime.now(UTC)
    if acquired is not None and now - acquired > stale_after:
        hours = stale_after.total_seconds() / 3600
        return f"il a été pris {_paris(acquired)}, il y a plus de {hours:g} h"
    return None


def describe_holder(holder: dict[str, Any]) -> str:
    parts = [f"run {holder.get('holder_run_id')}"]
    if holder.get("holder_detail"):
        parts.append(str(holder["holder_detail"]))
    if holder.get("holder_pid") is not None:
        parts.append(f"processus {holder['holder_pid']} sur {holder.get('holder_host') or 'un hôte inconnu'}")
    return ", ".join(parts)


class RunLockedError(StoreLockedError):
    """Another run holds the store-wide run lock (message in French, for whoever runs Passerelle)."""

    def __init__(
        self, holder: dict[str, Any], detail: str | None, waited: float, stale_after: timedelta = DEFAULT_STALE_AFTER
    ) -> None:
        self.holder = holder
        self.name = LOCK_NAME
        self.holder_run_id = holder.get("holder_run_id")
        self.acquired_at = holder.get("acquired_at")
        waited_text = f" après {waited:.0f} s d'attente" if waited >= 1 else ""
        me = f"ce {detail}" if detail else "ce run"
        message = (
            f"Un autre run ({describe_holder(holder)}) est en cours depuis {_paris(self.acquired_at)} : "
            f"{me} s'arrête{waited_text} sans rien écrire (ni flux, ni base). Relancez-le quand l'autre sera "
            "terminé, ou donnez --wait SECONDES pour qu'il attende. Si plus aucun run ne tourne, le verrou "
            f"« {LOCK_NAME} » sera repris automatiquement (processus disparu sur le même hôte, ou verrou de plus de "
            f"{stale_after.total_seconds() / 3600:g} h)."
        )
        RuntimeError.__init__(self, message)


def acquire_run_lock(
    store,
    run_id: str,
    *,
    detail: str | None = None,
    wait_seconds: float = 0,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    poll_seconds: float = POLL_SECONDS,
    warn: Callable[[str], None] | None = None,
) -> bool:
    """Take the run lock for ``run_id``. True when taken, False when ``run_id`` already held it
    (re-entrant: the caller must then not release it). Raises :class:`RunLockedError` when
    another live run still holds it after ``wait_seconds``."""
    warn = warn or log.warning
    pid, host = os.getpid(), this_host()
    start = time.monotonic()
    told_waiting = False
    while True:
        holder = store.lock_holder(LOCK_NAME)
        if holder is None:
            try:
                store.acquire_lock(LOCK_NAME, run_id, pid=pid, host=host, detail=detail)
            except StoreLockedError:
                continue  # taken by someone else in between: look again
            crash_point("locked")
            return True
        if holder["holder_run_id"] == str(run_id):
            return False
        reason = stale_reason(holder, stale_after=stale_after, host=host)
        if reason is not None:
            if store.take_over_lock(LOCK_NAME, holder["holder_run_id"], run_id, pid=pid, host=host, detail=detail):
                _close_interrupted_run(store, holder, reason)
                warn(
                    f"Verrou « {LOCK_NAME} » repris à son détenteur ({describe_holder(holder)}) : {reason}. "
                    "Ce run repart du début ; ce que l'autre a laissé (dossier de préparation, ancien dossier du jour dans "
                    ".trash) est écarté ou remis en place avant publication."
                )
                crash_point("locked")
                return True
            continue  # released or taken over by another run meanwhile: look again
        waited = time.monotonic() - start
        if waited >= wait_seconds:
            raise RunLockedError(holder, detail, waited, stale_after)
        if not told_waiting:
            warn(
                f"Verrou « {LOCK_NAME} » tenu par le {describe_holder(holder)} depuis {_paris(holder.get('acquired_at'))} : "
                f"attente de sa fin, {wait_seconds:g} s au plus."
            )
            told_waiting = True
        time.sleep(max(0.05, min(poll_seconds, wait_seconds - waited)))


def _close_interrupted_run(store, holder: dict[str, Any], reason: str) -> None:
    """Mark the dead holder's run ``failed`` when the store has it as ``running``."""
    try:
        run = store.get_run(holder["holder_run_id"])
        if run is not None and run["status"] == "running":
            store.finish_run(holder["holder_run_id"], "failed", {"interrompu": f"Run interrompu : {reason}."})
    except Exception as exc:  # noqa: BLE001 - bookkeeping only, the lock is ours anyway
        log.warning("could not close the interrupted run %s: %s", holder.get("holder_run_id"), exc)


def release_run_lock(store, run_id: str) -> bool:
    return store.release_lock(LOCK_NAME, run_id)


@contextmanager
def run_lock(
    store,
    run_id: str,
    *,
    detail: str | None = None,
    wait_seconds: float = 0,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    poll_seconds: float = POLL_SECONDS,
    warn: Callable[[str], None] | None = None,
) -> Iterator[bool]:
    """``with run_lock(store, run_id, detail="run du 2026-11-20"):`` — hold the store-wide run
    lock for the block, release it at the end whatever happens (unless it was already held by
    the same run). Yields whether this block took it."""
    taken = acquire_run_lock(
        store,
        run_id,
        detail=detail,
        wait_seconds=wait_seconds,
        stale_after=stale_after,
        poll_seconds=poll_seconds,
        warn=warn,
    )
    try:
        yield taken
    finally:
        if taken:
            try:
                release_run_lock(store, run_id)
            except Exception as exc:  # noqa: BLE001 - do not hide the run's own error
                (warn or log.warning)(
                    f"Le verrou « {LOCK_NAME} » n'a pas pu être rendu ({exc}) ; le prochain run le reprendra "
                    "quand ce processus sera terminé."
                )
