"""The delivery log: every attempt to send a published file to a consumer (table ``deliveries``).

``DeliveryLog(store)`` wraps the store's engine::

    log = DeliveryLog(store)
    attempt = log.begin(batch_id=…, run_date=D, consumer="carif", target="sftp://…", file="carif/lheo-D.xml",
                        sha256=…, bytes=…, attempt=1)                # outcome "running"
    log.finish(attempt, "delivered")                               # or "failed", error="…"
    log.delivered("carif", "carif/lheo-D.xml", sha256)              # the first delivery of that content, or None
    log.of_batch(batch_id)                                         # what one run or one `deliver` did

An attempt is written when it starts and closed when it ends, so a process that dies during an
upload leaves a ``running`` row: the file is not delivered, and the next run sends it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from passerelle.store import models as m
from passerelle.store.db import write_transaction

FIELDS = (
    "id",
    "batch_id",
    "run_date",
    "consumer",
    "target",
    "file",
    "sha256",
    "bytes",
    "attempt",
    "forced",
    "started_at",
    "finished_at",
    "outcome",
    "error",
)
FINAL_OUTCOMES = ("delivered", "failed", "withheld")


def _now() -> datetime:
    return datetime.now(UTC)


class DeliveryLog:
    """Queries of the ``deliveries`` table (plain calls on an open :class:`~passerelle.store.Store`)."""

    def __init__(self, store) -> None:
        self.engine: sa.Engine = store.engine

    # --- writing ---------------------------------------------------------------------------------

    def begin(
        self,
        *,
        batch_id: str,
        run_date: date,
        consumer: str,
        target: str,
        file: str,
        sha256: str | None,
        bytes: int | None,
        attempt: int,
        forced: bool = False,
        started_at: datetime | None = None,
    ) -> int:
        """Record an attempt as ``running``; returns its id."""
        row = {
            "batch_id": str(batch_id),
            "run_date": run_date,
            "consumer": consumer,
            "target": target,
            "file": file,
            "sha256": sha256,
            "bytes": None if bytes is None else int(bytes),
            "attempt": int(attempt),
            "forced": bool(forced),
            "started_at": started_at or _now(),
            "finished_at": None,
            "outcome": "running",
            "error": None,
        }
        with write_transaction(self.engine) as conn:
            return int(conn.execute(sa.insert(m.deliveries).returning(m.deliveries.c.id), row).scalar_one())

    def finish(
        self, delivery_id: int, outcome: str, error: str | None = None, finished_at: datetime | None = None
    ) -> None:
        if outcome not in FINAL_OUTCOMES:
            raise ValueError(f"outcome must be one of {FINAL_OUTCOMES}, got {outcome!r}")
        with write_transaction(self.engine) as conn:
            done = conn.execute(
                sa.update(m.deliveries)
                .where(m.deliveries.c.id == int(delivery_id))
                .values(outcome=outcome, error=error, finished_at=finished_at or _now())
            ).rowcount
        if done != 1:
            raise ValueError(f"no delivery attempt {delivery_id}")

    def record(self, *, outcome: str, error: str | None = None, **fields: Any) -> int:
        """An attempt that starts and ends at once (a withheld feed, a file not attempted)."""
        delivery_id = self.begin(**fields)
        self.finish(delivery_id, outcome, error)
        return delivery_id

    # --- reading ---------------------------------------------------------------------------------

    def _rows(self, query) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def _select(self):
        return sa.select(*(m.deliveries.c[f] for f in FIELDS))

    def delivered(self, consumer: str, file: str, sha256: str) -> dict[str, Any] | None:
        """The first successful delivery of this content of ``file`` to ``consumer``, or None."""
        t = m.deliveries.c
        rows = self._rows(
            self._select()
            .where(t.consumer == consumer, t.file == file, t.sha256 == sha256, t.outcome == "delivered")
            .order_by(t.finished_at, t.id)
            .limit(1)
        )
        return rows[0] if rows else None

    def last_delivered(self, consumer: str, run_date: date, file: str) -> datetime | None:
        """When ``file`` of ``run_date`` was last delivered to ``consumer`` (any content), or None."""
        t = m.deliveries.c
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.max(t.finished_at)).where(
                    t.consumer == consumer, t.run_date == run_date, t.file == file, t.outcome == "delivered"
                )
            ).scalar_one_or_none()

    def first_date(self, consumer: str) -> date | None:
        """The earliest file date this consumer has any record for (None: never planned)."""
        t = m.deliveries.c
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.min(t.run_date)).where(t.consumer == consumer)).scalar_one_or_none()

    def withheld_recorded(self, consumer: str, run_date: date, file: str) -> bool:
        t = m.deliveries.c
        with self.engine.connect() as conn:
            found = conn.execute(
                sa.select(t.id)
                .where(t.consumer == consumer, t.run_date == run_date, t.file == file, t.outcome == "withheld")
                .limit(1)
            ).first()
        return found is not None

    def of_batch(self, batch_id: str) -> list[dict[str, Any]]:
        """Every attempt of one run or one ``passerelle deliver``, in the order they were made."""
        t = m.deliveries.c
        return self._rows(self._select().where(t.batch_id == str(batch_id)).order_by(t.id))

    def between(self, first: date, last: date) -> list[dict[str, Any]]:
        """Every attempt for files dated ``first`` to ``last`` (inclusive), oldest first."""
        t = m.deliveries.c
        return self._rows(self._select().where(t.run_date >= first, t.run_date <= last).order_by(t.id))
