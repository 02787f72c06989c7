"""Store queries for the life of findings and the messages sent to training bodies.

Functions taking a :class:`passerelle.store.Store` (the tables are ``finding_states`` and
``notifications``, migration 0006)::

    prev = previous_check_date(store, D)            # latest succeeded run date before D
    states = finding_states(store, prev)            # what was new / open / resolved then
    record_finding_states(store, run_id, D, today)  # replaces the rows of D (a re-run)
    last_notification(store, body_key)              # the last message sent to that body
    record_notification(store, ...)                 # what notify sent, or failed to send

Bulk loads go through :mod:`passerelle.store.bulk` (COPY on PostgreSQL, executemany on SQLite).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from passerelle.findings_life import STATE_COLUMNS, empty_states
from passerelle.store import bulk
from passerelle.store import models as m
from passerelle.store.db import write_transaction
from passerelle.store.store import Store, _as_date, _utc

_STORED = list(STATE_COLUMNS)


def _day_param(conn: sa.Connection, day: date) -> Any:
    return day.isoformat() if conn.dialect.name == "sqlite" else day


def previous_check_date(store: Store, before: date | str) -> date | None:
    """The latest run date strictly before ``before`` with a succeeded run: the control whose
    findings today's are compared with (None on a first run)."""
    r = m.runs.c
    query = sa.select(sa.func.max(r.run_date)).where(r.status == "succeeded", r.run_date < _as_date(before, "before"))
    with store.engine.connect() as conn:
        value = conn.execute(query).scalar_one_or_none()
    return _as_date(value) if value is not None else None


def finding_states(store: Store, run_date: date | str | None, body_key: str | None = None) -> pd.DataFrame:
    """The finding states recorded for ``run_date`` (``STATE_COLUMNS``), optionally of one body;
    empty when none (or ``run_date`` is None)."""
    if run_date is None:
        return empty_states()
    day = _as_date(run_date, "run_date")
    with store.engine.connect() as conn:
        mark = bulk.placeholder(conn)
        sql = f"SELECT {', '.join(_STORED)} FROM finding_states WHERE run_date = {mark}"
        params: list[Any] = [_day_param(conn, day)]
        if body_key is not None:
            sql += f" AND body_key = {mark}"
            params.append(str(body_key))
        rows = bulk.fetch(conn, sql + " ORDER BY finding_key", params)
    return bulk.frame_from_rows(rows, STATE_COLUMNS)


def record_finding_states(store: Store, run_id: str, run_date: date | str, states: pd.DataFrame) -> int:
    """Replace the finding states of ``run_date`` with ``states`` (``STATE_COLUMNS``, one row per
    finding_key). Returns the number of rows stored."""
    day = _as_date(run_date, "run_date")
    what = "record_finding_states"
    bulk.require_columns(states, _STORED, what)
    table = pa.Table.from_pandas(states[_STORED].reset_index(drop=True), preserve_index=False)
    arrays = []
    for name, typ in STATE_COLUMNS.items():
        col = table.column(name)
        col = col.cast(typ) if col.type != typ else col
        if pa.types.is_string(typ) and name not in ("finding_key", "status", "rule", "severity"):
            col = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
        arrays.append(col)
    keys = arrays[0]
    if len(keys) and pc.count_distinct(keys).as_py() != len(keys):
        raise ValueError(f"{what}: a finding_key is given twice")
    if len(keys) and arrays[2].null_count:
        raise ValueError(f"{what}: since_date missing")
    with write_transaction(store.engine) as conn:
        Store._require_run(conn, run_id)
        conn.execute(sa.delete(m.finding_states).where(m.finding_states.c.run_date == day))
        bulk.load(
            conn,
            "finding_states",
            ["run_date", "run_id", *_STORED],
            [pa.repeat(pa.scalar(day, pa.date32()), len(keys)), pa.repeat(pa.scalar(str(run_id)), len(keys)), *arrays],
        )
    return len(keys)


def finding_history(store: Store, finding_key: str) -> list[dict[str, Any]]:
    """Every recorded state of one finding, oldest date first (diagnostics, tests)."""
    t = m.finding_states
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.c.run_date, t.c.status, t.c.since_date, t.c.resolution, t.c.value)
            .where(t.c.finding_key == str(finding_key))
            .order_by(t.c.run_date)
        ).mappings()
        return [dict(r) for r in rows]


# --- notifications -----------------------------------------------------------------------------


def last_notification(store: Store, body_key: str) -> dict[str, Any] | None:
    """The last message sent to ``body_key`` (outcome ``sent``), or None."""
    t = m.notifications
    with store.engine.connect() as conn:
        row = (
            conn.execute(
                sa.select(t)
                .where(t.c.body_key == str(body_key), t.c.outcome == "sent")
                .order_by(t.c.sent_at.desc(), t.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
    return dict(row) if row is not None else None


def record_notification(
    store: Store,
    *,
    body_key: str,
    run_date: date | str,
    sent_at: datetime,
    outcome: str,
    reason: str,
    recipients: Iterable[str],
    subject: str,
    message_file: str,
    sha256: str,
    finding_keys: Iterable[str],
    error: str | None = None,
) -> None:
    if outcome not in m.NOTIFICATION_OUTCOMES:
        raise ValueError(f"outcome must be one of {m.NOTIFICATION_OUTCOMES}, got {outcome!r}")
    row = {
        "body_key": str(body_key),
        "run_date": _as_date(run_date, "run_date"),
        "sent_at": _utc(sent_at, "sent_at"),
        "outcome": outcome,
        "reason": str(reason),
        "recipients": ", ".join(recipients),
        "subject": str(subject),
        "message_file": str(message_file),
        "sha256": str(sha256),
        "finding_keys": {"keys": sorted(set(finding_keys))},
        "error": error,
    }
    with write_transaction(store.engine) as conn:
        conn.execute(sa.insert(m.notifications), row)


def notifications(store: Store, run_date: date | str | None = None) -> list[dict[str, Any]]:
    """Messages recorded (sent or failed), oldest first; of one run date when given."""
    t = m.notifications
    query = sa.select(t).order_by(t.c.sent_at, t.c.id)
    if run_date is not None:
        query = query.where(t.c.run_date == _as_date(run_date, "run_date"))
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def last_published_sessions(store: Store, before: date | str, keys: Iterable[str]) -> pd.DataFrame:
    """The last published version of the sessions ``keys`` (published before ``before``): the
    session records of the stored payloads (session_key, organisme_formateur, siret_formateur,
    title, start_date, end_date, contact_email). Used to name the training body of a session
    that left today's extracts (DQ022). Empty when none is known."""
    cols = ["session_key", "organisme_formateur", "siret_formateur", "title", "start_date", "end_date", "contact_email"]
    wanted = sorted(set(k for k in keys if k))
    last = store.last_publication_date(before) if wanted else None
    if last is None:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    state = store.published_state(last)
    state = state[state["session_key"].astype(str).isin(wanted)]
    payloads = store.session_payloads(state[["session_key", "content_hash"]].astype(str)) if len(state) else None
    rows = []
    for text in [] if payloads is None else payloads["payload"].astype(str):
        session = json.loads(text).get("session") or {}
        rows.append({c: session.get(c) for c in cols})
    out = pd.DataFrame(rows, columns=cols)
    for c in ("start_date", "end_date"):
        out[c] = pd.to_datetime(out[c], errors="coerce").dt.date
    return out
