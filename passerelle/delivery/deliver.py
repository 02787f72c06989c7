"""Send each consumer the files a run published, keep every attempt on record, alert on failure.

:func:`deliver` is what ``passerelle deliver`` and the daily job's last step (``out_delivery``)
call, for the files of one date:

- **what is sent**: for each consumer of ``deliveries.yaml``, its feeds of that date as the store
  recorded their publication (file and sha256): a feed withheld that day (DQ023, a delta without
  movement) or never published is not sent, and is recorded ``withheld`` with the reason; a file
  whose bytes no longer match its published sha256 is refused. Before today's files come the
  consumer's files of the previous ``catch_up_days`` days that are still undelivered (a failed
  or interrupted attempt, a run that stopped before its delivery step), oldest first, so that the
  newest file always arrives last.
- **never twice**: a file whose content (sha256) was already delivered to that consumer is
  skipped; a re-run of the same date that publishes the same bytes therefore sends nothing.
  ``force=True`` (``--to``) sends that date's files again, on demand.
- **retries**: each file is tried ``attempts`` times, waiting ``backoff_seconds`` then twice as
  long before each next try; a failure that retrying cannot mend (server key refused, key
  refused, missing folder, write refused) is not retried. When the consumer cannot be reached at
  all, its other files are recorded as not attempted (``attempt`` 0) with the same error: the
  next run sends them.
- **on record**: every attempt is a row of ``deliveries`` (:mod:`passerelle.store.deliveries`),
  written when it starts and closed when it ends.
- **alerts**: a consumer with a file still undelivered after its tries gets one alert (same
  channels as the run alerts: ``<out>/alerts/``, mail, webhook) naming the consumer, each file
  and its error.
"""

from __future__ import annotations

import json
import logging
import posixpath
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from passerelle.delivery.config import Consumer, DeliveryConfig
from passerelle.delivery.targets import DeliveryFailure, open_session
from passerelle.feeds.publish import day_dir, inside
from passerelle.store.deliveries import DeliveryLog

log = logging.getLogger(__name__)

SENT, ALREADY, FAILED, WITHHELD, NOT_ATTEMPTED = "delivered", "already", "failed", "withheld", "not_attempted"


class NothingPublishedError(RuntimeError):
    """No run published anything for that date (message in French)."""


@dataclass
class Item:
    """One file for one consumer, and what became of it."""

    consumer: str
    target: str
    run_date: date
    file: str  # relative to the day folder
    sha256: str | None = None
    bytes: int | None = None
    status: str = "pending"  # delivered | already | failed | withheld | not_attempted
    attempts: int = 0
    error: str | None = None
    when: datetime | None = None  # delivered at (or first delivered at, for ``already``)
    forced: bool = False
    catch_up: bool = False  # a file of an earlier date, still undelivered
    errors: list[str] = field(default_factory=list)  # the error of each failed attempt of this batch

    @property
    def name(self) -> str:
        return posixpath.basename(self.file)


@dataclass
class DeliveryRun:
    run_date: date
    batch_id: str
    items: list[Item] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Item]:
        return [i for i in self.items if i.status in (FAILED, NOT_ATTEMPTED)]

    @property
    def ok(self) -> bool:
        return not self.failed

    def counts(self) -> dict[str, int]:
        out = {SENT: 0, ALREADY: 0, FAILED: 0, WITHHELD: 0}
        for i in self.items:
            out[FAILED if i.status == NOT_ATTEMPTED else i.status] += 1
        return out


def _now() -> datetime:
    return datetime.now(UTC)


def withheld_reasons(out_dir: Path, run_date: date) -> dict[str, str]:
    """file -> reason of the feeds a run did not publish that day (``manifest.withheld``)."""
    try:
        manifest = json.loads((day_dir(out_dir, run_date) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {w["file"]: w.get("reason") or "flux non publié" for w in manifest.get("withheld", []) if w.get("file")}


def plan(
    consumer: Consumer, store, deliveries: DeliveryLog, out_dir: Path, run_date: date, *, force: bool = False
) -> list[Item]:
    """The files to deliver to ``consumer`` for ``run_date`` (catch-up first), with those withheld
    and those already delivered marked as such."""
    items: list[Item] = []
    url = consumer.target.url
    first = deliveries.first_date(consumer.name)
    if not force and first is not None and consumer.catch_up_days > 0:
        start = max(first, run_date - timedelta(days=consumer.catch_up_days))
        day = start
        while day < run_date:
            published = {p["file"]: p for p in store.publications(day)}
            for rel in consumer.files(day):
                pub = published.get(rel)
                if pub is not None and deliveries.delivered(consumer.name, rel, pub["sha256"]) is None:
                    items.append(Item(consumer.name, url, day, rel, pub["sha256"], catch_up=True))
            day += timedelta(days=1)
    published = {p["file"]: p for p in store.publications(run_date)}
    withheld = withheld_reasons(out_dir, run_date)
    for rel in consumer.files(run_date):
        pub = published.get(rel)
        if pub is None:
            reason = withheld.get(rel) or f"aucune publication de ce flux pour le {run_date:%d/%m/%Y}"
            items.append(Item(consumer.name, url, run_date, rel, status=WITHHELD, error=f"non publié : {reason}"))
            continue
        item = Item(consumer.name, url, run_date, rel, pub["sha256"], forced=force)
        done = None if force else deliveries.delivered(consumer.name, rel, pub["sha256"])
        if done is not None:
            item.status, item.when, item.bytes = ALREADY, done["finished_at"], done["bytes"]
        items.append(item)
    return items


def deliver(
    config: DeliveryConfig,
    store,
    out_dir: str | Path,
    run_date: date,
    *,
    batch_id: str | None = None,
    only: str | None = None,
    alert: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[Item], None] | None = None,
) -> DeliveryRun:
    """Deliver the files of ``run_date`` (see the module doc). ``only``: one consumer, whose files
    of that date are sent again even if already delivered (``--to``)."""
    out_dir = Path(out_dir)
    if not store.publications(run_date):
        raise NothingPublishedError(
            f"Rien n'a été publié pour le {run_date:%d/%m/%Y} (aucun run réussi de cette date dans la base) : "
            "rien à livrer. Lancez d'abord « passerelle run » pour cette date."
        )
    deliveries = DeliveryLog(store)
    run = DeliveryRun(run_date, batch_id or f"deliver-{uuid.uuid4()}")
    consumers = [config.consumer(only)] if only else list(config.consumers)
    for consumer in consumers:
        items = plan(consumer, store, deliveries, out_dir, run_date, force=only is not None)
        _send(consumer, items, deliveries, out_dir, run.batch_id, sleep, progress)
        run.items.extend(items)
    if alert:
        run.alerts = _alert(out_dir, run, config)
    return run


def _send(
    consumer: Consumer,
    items: list[Item],
    deliveries: DeliveryLog,
    out_dir: Path,
    batch_id: str,
    sleep: Callable[[float], None],
    progress: Callable[[Item], None] | None,
) -> None:
    common = {"batch_id": batch_id, "consumer": consumer.name, "target": consumer.target.url}
    session = None
    unreachable: str | None = None
    try:
        for item in items:
            if item.status == WITHHELD:
                if not deliveries.withheld_recorded(consumer.name, item.run_date, item.file):
                    deliveries.record(
                        outcome=WITHHELD,
                        error=item.error,
                        run_date=item.run_date,
                        file=item.file,
                        sha256=None,
                        bytes=None,
                        attempt=0,
                        **common,
                    )
            if item.status != "pending":
                _tell(progress, item)
                continue
            fields: dict[str, Any] = {
                **common,
                "run_date": item.run_date,
                "file": item.file,
                "sha256": item.sha256,
                "forced": item.forced,
            }
            if unreachable is not None:
                item.status, item.error = NOT_ATTEMPTED, f"non tenté : {unreachable}"
                deliveries.record(outcome=FAILED, error=item.error, bytes=None, attempt=0, **fields)
                _tell(progress, item)
                continue
            try:
                local = inside(day_dir(out_dir, item.run_date), item.file)
                item.bytes = local.stat().st_size
            except OSError:
                item.status = FAILED
                item.error = f"fichier publié introuvable : {day_dir(out_dir, item.run_date) / item.file}"
                deliveries.record(outcome=FAILED, error=item.error, bytes=None, attempt=1, **fields)
                _tell(progress, item)
                continue
            for attempt in range(1, consumer.attempts + 1):
                item.attempts = attempt
                attempt_id = deliveries.begin(bytes=item.bytes, attempt=attempt, **fields)
                try:
                    if session is None:
                        session = open_session(consumer)
                    session.put(local, item.name, item.sha256, item.bytes)
                except DeliveryFailure as failure:
                    deliveries.finish(attempt_id, FAILED, failure.message)
                    item.status, item.error = FAILED, failure.message
                    item.errors.append(failure.message)
                    log.info(
                        "delivery of %s to %s failed (attempt %d/%d): %s",
                        item.file,
                        consumer.name,
                        attempt,
                        consumer.attempts,
                        failure.message,
                    )
                    if session is not None:
                        session.close()
                        session = None
                    if failure.permanent or attempt == consumer.attempts:
                        if failure.connection:
                            unreachable = failure.message
                        break
                    sleep(consumer.backoff_seconds * 2 ** (attempt - 1))
                else:
                    deliveries.finish(attempt_id, SENT)
                    item.status, item.error, item.when = SENT, None, _now()
                    break
            _tell(progress, item)
    finally:
        if session is not None:
            session.close()


def _tell(progress: Callable[[Item], None] | None, item: Item) -> None:
    if progress is not None:
        progress(item)


def _alert(out_dir: Path, run: DeliveryRun, config: DeliveryConfig) -> list[str]:
    from passerelle.alerts import send_alert
    from passerelle.delivery.texts import failure_alert

    paths = []
    by_consumer: dict[str, list[Item]] = {}
    for item in run.failed:
        by_consumer.setdefault(item.consumer, []).append(item)
    for consumer, items in by_consumer.items():
        subject, body = failure_alert(
            config.consumer(consumer), items, run, out_dir=out_dir, config_source=config.source
        )
        result = send_alert(
            out_dir,
            subject,
            body,
            extra={
                "kind": "delivery_failure",
                "date": run.run_date.isoformat(),
                "batch_id": run.batch_id,
                "consumer": consumer,
                "target": items[0].target,
                "files": [{"file": i.file, "date": i.run_date.isoformat(), "error": i.error} for i in items],
            },
        )
        if result.path is not None:
            paths.append(str(result.path))
    return paths


def summarize(config: DeliveryConfig, store, out_dir: str | Path, run_date: date, batch_id: str) -> DeliveryRun:
    """What the deliveries of run (or ``deliver``) ``batch_id`` did for ``run_date``, from the log:
    one item per file (its last attempt), plus the files of that date it did not send because they
    were already delivered or not published. In configuration order, a consumer's earlier files
    first."""
    deliveries = DeliveryLog(store)
    done: dict[tuple, Item] = {}
    for r in deliveries.of_batch(batch_id):
        key = (r["consumer"], r["run_date"], r["file"])
        status = {"delivered": SENT, "withheld": WITHHELD}.get(r["outcome"], FAILED)
        if r["outcome"] == "failed" and r["attempt"] == 0:
            status = NOT_ATTEMPTED
        item = done.get(key) or Item(
            r["consumer"],
            r["target"],
            r["run_date"],
            r["file"],
            r["sha256"],
            r["bytes"],
            forced=r["forced"],
            catch_up=r["run_date"] != run_date,
        )
        item.status, item.error, item.when = status, r["error"], r["finished_at"]
        item.attempts = max(item.attempts, r["attempt"])
        done[key] = item
    published = {p["file"]: p for p in store.publications(run_date)}
    withheld = withheld_reasons(Path(out_dir), run_date)
    run = DeliveryRun(run_date, batch_id)
    for consumer in config.consumers:
        mine = sorted((i for k, i in done.items() if k[0] == consumer.name), key=lambda i: i.run_date)
        for rel in consumer.files(run_date):
            if (consumer.name, run_date, rel) in done:
                continue
            if rel not in published:
                reason = withheld.get(rel) or f"aucune publication de ce flux pour le {run_date:%d/%m/%Y}"
                mine.append(
                    Item(
                        consumer.name,
                        consumer.target.url,
                        run_date,
                        rel,
                        status=WITHHELD,
                        error=f"non publié : {reason}",
                    )
                )
                continue
            first = deliveries.delivered(consumer.name, rel, published[rel]["sha256"])
            if first is not None:
                mine.append(
                    Item(
                        consumer.name,
                        consumer.target.url,
                        run_date,
                        rel,
                        first["sha256"],
                        first["bytes"],
                        status=ALREADY,
                        when=first["finished_at"],
                    )
                )
        order = {rel: n for n, rel in enumerate(consumer.files(run_date))}
        run.items.extend(sorted(mine, key=lambda i: (i.run_date, order.get(i.file, -1))))
    return run
