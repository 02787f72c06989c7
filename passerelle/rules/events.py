"""Events and informations collectives (DQ013, DQ014).

DQ013 looks at what the readers could parse (an unreadable cell is already a DQ000 finding
from the reader and a null here):

- ``bad_time``: a time that is not ``HH:MM`` (00:00..23:59);
- ``time_order``: on a one-day event (no end date, or the same day), the end time is not after
  the start time;
- ``date_order``: the end date is before the start date;
- ``after_session``: the event takes place after the start of its session. For a session with
  permanent entries (people join all along), an information collective may take place while
  the session runs: there the event must not be after the *end* of the session
  (``after_session_end``). Cancelled events are not compared with their session.
"""

from __future__ import annotations

import pandas as pd

from passerelle import model
from passerelle.rules.common import (
    as_datetime,
    combine,
    date_of,
    emit,
    flag,
    fr_date,
    lookup,
    no_findings,
    nonempty,
    number_of,
    text,
)

TIME_PATTERN = r"(?:[01]\d|2[0-3]):[0-5]\d"


def event_label(events: pd.DataFrame) -> pd.Series:
    """``Information collective du 12/03/2026`` / ``Événement « Test » du 12/03/2026``."""
    kind = text(events["event_type"]).fillna("?")
    label = ("Événement « " + kind + " »").mask(flag(events["is_information_collective"]), "Information collective")
    return label + " du " + fr_date(events["start_date"])


EVENT_COLUMNS = ("event_type", "is_information_collective", "start_date")


def check_events(events: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """DQ013 on every event, compared with its session in ``sessions`` when known."""
    e = events
    if len(e) == 0:
        return no_findings()
    out = []
    times = {}

    def dq013(mask: pd.Series, **kw) -> None:
        out.append(emit("DQ013", e, mask, table="events", event=event_label, **kw))

    for col in ("start_time", "end_time"):
        t = text(e[col]).str.strip()
        ok = flag(t.str.fullmatch(TIME_PATTERN))
        dq013(nonempty(t) & ~ok, field=col, value=t, variant="bad_time", columns=EVENT_COLUMNS)
        times[col] = t.where(ok)
    start_d, end_d = as_datetime(e["start_date"]), as_datetime(e["end_date"])
    same_day = end_d.isna() | flag(end_d == start_d)
    dq013(
        same_day & flag(times["end_time"] <= times["start_time"]),
        field="end_time",
        value=times["end_time"],
        variant="time_order",
        columns=EVENT_COLUMNS,
        other=times["start_time"],
    )
    dq013(
        end_d < start_d,
        field="end_date",
        value=date_of("end_date"),
        variant="date_order",
        columns=(*EVENT_COLUMNS, "end_date"),
        other=date_of("start_date"),
    )
    keys = e["session_key"]
    session_start = as_datetime(lookup(keys, sessions, "session_key", "start_date"))
    session_end = as_datetime(lookup(keys, sessions, "session_key", "end_date"))
    permanent = flag(lookup(keys, sessions, "session_key", "entry_mode") == model.ENTRY_PERMANENT)
    live = ~flag(e["cancelled"])
    for variant, mask, ref in (
        ("after_session", live & ~permanent & flag(start_d > session_start), session_start),
        ("after_session_end", live & permanent & flag(start_d > session_end), session_end),
    ):
        dq013(
            mask,
            field="start_date",
            value=date_of("start_date"),
            variant=variant,
            columns=EVENT_COLUMNS,
            other=lambda rows, ref=ref: fr_date(ref.loc[rows.index]),
        )
    return combine(out)


def check_cancelled_information(events: pd.DataFrame) -> pd.DataFrame:
    """DQ014 (info): an information collective with 0 places is published as cancelled."""
    e = events
    bad = flag(e["is_information_collective"]) & flag(e["cancelled"])
    return emit(
        "DQ014",
        e,
        bad,
        field="places",
        value=number_of("places"),
        table="events",
        columns=("places", "start_date"),
        date=date_of("start_date"),
    )
