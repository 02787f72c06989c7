"""Between two days: sessions that vanished from their extract (DQ022) and the guard against
publishing an emptied or halved feed (DQ023)."""

from __future__ import annotations

from datetime import date

import pandas as pd

from passerelle.findings import FindingCollector
from passerelle.lifecycle import GRACE_DAYS_DEFAULT, expired, last_day, vanished_since, withdrawn
from passerelle.rules.common import combine, emit, flag, fr_date, iso_date, no_findings, text
from passerelle.rules.registry import rule as get_rule
from passerelle.sources.registry import source_of_keys

# Statuses of the last published state that mean "no longer live": such a session may leave
# the extract without being reported.
CLOSED_STATUSES = frozenset({"cancelled", "withdrawn", "deleted"})


def check_vanished(
    previous: pd.DataFrame | None,
    sessions: pd.DataFrame,
    sources_read: set[str],
    run_date: date | None = None,
    grace: int = GRACE_DAYS_DEFAULT,
) -> pd.DataFrame:
    """DQ022 (warning): a session of the last published state, not cancelled, that is absent
    from today's sessions although its source's session extract was read today.

    ``previous`` needs ``session_key``; it may carry ``source`` (else taken from the key
    prefix), ``status`` and/or ``cancelled``, ``since_date``, ``vanished_date`` (first day it
    was missing, when it was already vanished), its dates (``start_date``, ``end_date``: a
    session that has expired by ``run_date`` left the feeds anyway and is not reported) and
    the lineage of the published record (``source_file``, ``source_sheet``, ``source_line``),
    which the finding reuses. Within ``grace`` days of its first absence the session stays
    published (variant ``grace``); on the day the period is over it is withdrawn (``withdrawn``).
    """
    if previous is None or len(previous) == 0 or not sources_read:
        return no_findings()
    p = previous
    key = text(p["session_key"])
    prefix = source_of_keys(key)
    src = text(p["source"]).fillna(prefix) if "source" in p else prefix
    closed = pd.Series(False, index=p.index)
    if "status" in p:
        closed |= flag(text(p["status"]).str.strip().str.lower().isin(list(CLOSED_STATUSES)))
    if "cancelled" in p:
        closed |= flag(p["cancelled"])
    if run_date is not None and {"start_date", "end_date", "cancelled"} <= set(p.columns):
        closed |= expired(p, run_date)
    gone = ~flag(key.isin(sessions["session_key"].dropna().unique())) & flag(src.isin(list(sources_read))) & ~closed
    if not gone.any():
        return no_findings()

    def col(name: str, default: object) -> pd.Series:
        if name in p:
            return p.loc[gone, name]
        return pd.Series([default] * int(gone.sum()), index=p.index[gone])

    rows = pd.DataFrame(
        {
            "session_key": key[gone],
            "source": src[gone],
            "source_file": text(col("source_file", "")).fillna(""),
            "source_sheet": text(col("source_sheet", "")).fillna(""),
            "source_line": pd.array(col("source_line", None), dtype="Int32"),
        },
        index=p.index[gone],
    )
    since = col("since_date", None)
    today = run_date or date.today()
    vanished = vanished_since(col("status", None), col("vanished_date", None), today)
    out_ = withdrawn(vanished, today, grace)
    parts = dict(
        field="session_key",
        value=iso_date(since),
        session=rows["session_key"],
        since=fr_date(since),
        vanished=fr_date(vanished),
        grace=grace,
    )
    return combine(
        [
            emit("DQ022", rows, ~out_, variant="grace", until=fr_date(last_day(vanished, grace)), **parts),
            emit("DQ022", rows, out_, variant="withdrawn", **parts),
        ]
    )


def feed_guard(feed_name: str, today_count: int, previous_count: int | None) -> pd.DataFrame:
    """DQ023: findings for a feed that would come out empty, or with fewer than half the
    sessions of the last published one. Empty result: the feed may be published.

    The finding has no source (``""``) and the feed file name as ``file``.
    """
    r = get_rule("DQ023")
    collector = FindingCollector(source="", file=feed_name)
    if today_count <= 0:
        msg = r.template("empty").format(feed=feed_name)
    elif previous_count and today_count * 2 < previous_count:
        msg = r.template("halved").format(feed=feed_name, previous=previous_count, today=today_count)
    else:
        return no_findings()
    collector.add(r.id, r.severity, msg, value=today_count)
    return collector.frame()
