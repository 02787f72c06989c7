"""What deliveries tell people: the alert of a failed delivery, the report's « Livraisons »
part (Jinja2 templates in ``templates/``, HTML autoescaped), and the lines of the run summary.

The quality report is written before the publication, and the deliveries of the day happen
after it. So the report tells what is true when it is written: which files each consumer will
be sent today (or why a feed will not be sent: withheld that day), which files of earlier days
are still waiting, and the outcome of the deliveries recorded so far. The outcome of today's
deliveries is in the run summary (``passerelle run`` / ``passerelle deliver``), in the Dagster
metadata of ``out_delivery``, in the store, and in the next day's report.
"""

from __future__ import annotations

import posixpath
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from passerelle.delivery.config import DeliveryConfig

REPORT_DAYS = 7


def _fr_date(value) -> str:
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        value = date.fromisoformat(value)
    return f"{value:%d/%m/%Y}" if value is not None else ""


def _fr_datetime(value) -> str:
    if value is None:
        return ""
    try:
        from zoneinfo import ZoneInfo

        return f"{value.astimezone(ZoneInfo('Europe/Paris')):%d/%m/%Y %H:%M}"
    except Exception:  # noqa: BLE001 - no time zone database
        return f"{value:%d/%m/%Y %H:%M} UTC"


@lru_cache(maxsize=1)
def _env():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("passerelle.delivery", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fr_date"] = _fr_date
    env.filters["fr_datetime"] = _fr_datetime
    return env


def failure_alert(consumer, items, run, *, out_dir, config_source: str) -> tuple[str, str]:
    """Subject and body of the alert for ``consumer``'s files still undelivered."""
    names = ", ".join(i.name for i in items[:3]) + (f" et {len(items) - 3} autre(s)" if len(items) > 3 else "")
    subject = f"Passerelle : livraison à « {consumer.name} » en échec ({names})"
    body = (
        _env()
        .get_template("failure_alert.txt")
        .render(
            consumer=consumer.name,
            target=consumer.target.url,
            items=items,
            run_date=run.run_date,
            batch_id=run.batch_id,
            catch_up_days=consumer.catch_up_days,
            out_dir=str(out_dir),
            config_source=config_source,
        )
    )
    return subject, body


def report_section(store, config_path: str, run_date: date, feeds: list, out_dir) -> str:
    """The report's « Livraisons aux partenaires » part, as HTML (see the module doc).
    ``config_path``: ``deliveries.yaml`` ('' = none); ``feeds``: the day's
    :class:`~passerelle.feeds.catalog.FeedResult` list."""
    from passerelle.delivery.config import DeliveryConfigError, load_config
    from passerelle.delivery.deliver import plan
    from passerelle.store.deliveries import DeliveryLog

    config: DeliveryConfig | None = None
    config_error = None
    if config_path and config_path.strip():
        try:
            config = load_config(config_path.strip())
        except DeliveryConfigError as exc:
            config_error = str(exc)

    since, until = run_date - timedelta(days=REPORT_DAYS), run_date - timedelta(days=1)
    context: dict[str, Any] = {
        "error": config_error,
        "consumers": [],
        "pending": [],
        "recent": [],
        "since": since,
        "until": until,
    }
    if config is not None and config_error is None:
        withheld = {f.path: f.withheld_reason or "flux non publié" for f in feeds if not f.published}
        deliveries = DeliveryLog(store)
        for consumer in config.consumers:
            files = [
                {
                    "name": posixpath.basename(rel),
                    "withheld": withheld.get(rel),
                    "delivered": deliveries.last_delivered(consumer.name, run_date, rel),
                }
                for rel in consumer.files(run_date)
            ]
            context["consumers"].append({"name": consumer.name, "target": consumer.target.url, "files": files})
            for item in plan(consumer, store, deliveries, out_dir, run_date):
                if item.catch_up:
                    last = _last_failure(deliveries, item)
                    context["pending"].append(
                        {"consumer": consumer.name, "name": item.name, "run_date": item.run_date, "error": last}
                    )
        context["recent"] = _latest_per_file(deliveries.between(since, until))
    return _env().get_template("report_section.html").render(**context)


def _last_failure(deliveries, item) -> str | None:
    rows = [
        r
        for r in deliveries.between(item.run_date, item.run_date)
        if r["consumer"] == item.consumer and r["file"] == item.file and r["outcome"] in ("failed", "running")
    ]
    return rows[-1]["error"] if rows else None


def _latest_per_file(rows: list[dict]) -> list[dict]:
    """One line per (date, consumer, file): its latest attempt, with the number of attempts."""
    latest: dict[tuple, dict] = {}
    for r in rows:  # oldest first
        key = (r["run_date"], r["consumer"], r["file"])
        seen = latest.get(key)
        attempts = (seen["attempts"] if seen else 0) + (1 if r["attempt"] else 0)
        if seen is not None and seen["outcome"] == "delivered" and r["outcome"] == "withheld":
            continue
        latest[key] = {
            **r,
            "name": posixpath.basename(r["file"]),
            "attempts": attempts,
            "when": r["finished_at"] or r["started_at"],
        }
    by_file = sorted(latest.values(), key=lambda r: (r["consumer"], r["file"]))
    return sorted(by_file, key=lambda r: r["run_date"], reverse=True)  # newest date first


def summary_lines(run) -> list[str]:
    """French lines of a run's or a ``deliver``'s summary: per consumer, each file and its fate."""
    from passerelle.delivery.deliver import ALREADY, FAILED, NOT_ATTEMPTED, SENT, WITHHELD

    lines = []
    by_consumer: dict[str, list] = {}
    for item in run.items:
        by_consumer.setdefault(item.consumer, []).append(item)
    for consumer, items in by_consumer.items():
        lines.append(f"    {consumer} → {items[0].target}")
        for i in items:
            when = f" (flux du {i.run_date:%d/%m/%Y})" if i.run_date != run.run_date else ""
            if i.status == SENT:
                tries = f", {i.attempts} essais" if i.attempts > 1 else ""
                state = f"livré ({_size(i.bytes)}, sha256 {i.sha256[:12]}…{tries})"
            elif i.status == ALREADY:
                state = f"déjà livré le {_fr_datetime(i.when)}, pas renvoyé"
            elif i.status == WITHHELD:
                state = f"non envoyé, {i.error}"
            elif i.status in (FAILED, NOT_ATTEMPTED):
                tries = f" après {i.attempts} essai{'s' if i.attempts > 1 else ''}" if i.attempts else ""
                state = f"ÉCHEC{tries} : {i.error}"
            else:
                state = i.status
            lines.append(f"      {i.name}{when} : {state}")
    return lines


def _size(n: int | None) -> str:
    if n is None:
        return "? octets"
    if n < 1024:
        return f"{n} octets"
    size = float(n)
    for unit in ("Ko", "Mo", "Go"):
        size /= 1024
        if size < 1024 or unit == "Go":
            return f"{size:.1f} {unit}".replace(".", ",")
    return f"{n} octets"
