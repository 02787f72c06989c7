"""Session dates: period of the parent (DQ001), entry mode vs dates (DQ005), order (DQ006),
new sessions starting too early (DQ007), prescription window (DQ008).

"After" in the rules means "on or after": a one-day session has the same start and end date
(DQ006 only fires when the end is strictly before the start); a prescription window may open
and close on the session's start day (DQ008). Missing or placeholder dates are NaT and never
fire a comparison (see ``common.as_datetime``); only DQ005 asks for dates to be present.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from passerelle import model
from passerelle.rules.common import as_datetime, combine, date_of, emit, field_of, flag, fr_date, source_field
from passerelle.sources.registry import rule_value
from passerelle.sources.spec import LOT_PERIOD


def check_periods(sessions: pd.DataFrame) -> pd.DataFrame:
    """DQ001: start and end inside ``parent_period_start``..``parent_period_end``.

    Each bound that is known is checked; a session without dates or whose parent period is
    unknown gets nothing here (DQ005 / DQ020 cover those).
    """
    s = sessions
    ps, pe = as_datetime(s["parent_period_start"]), as_datetime(s["parent_period_end"])

    def parent(rows: pd.DataFrame) -> pd.Series:
        return rule_value(rows, "parent_period").fillna(LOT_PERIOD).astype("string")

    out = []
    for col in ("start_date", "end_date"):
        d = as_datetime(s[col])
        out.append(
            emit(
                "DQ001",
                s,
                (d < ps) | (d > pe),
                field=col,
                value=date_of(col),
                columns=(col, "parent_period_start", "parent_period_end"),
                parent=parent,
                period_start=date_of("parent_period_start"),
                period_end=date_of("parent_period_end"),
            )
        )
    return combine(out)


def check_entry_modes(sessions: pd.DataFrame, orphan_keys: set[str] | None = None) -> pd.DataFrame:
    """DQ005: fixed entries need both dates; permanent entries have both dates or none; the
    entry mode is known.

    A session in ``orphan_keys`` (DQ020: its parent is missing) is not reported for a missing
    entry mode: for SIGMA the mode is the composante's, and DQ020 already says it is missing.
    """
    s = sessions
    mode = s["entry_mode"].astype("string")
    start_known = as_datetime(s["start_date"]).notna()
    end_known = as_datetime(s["end_date"]).notna()
    fixed = flag(mode == model.ENTRY_FIXED)
    permanent = flag(mode == model.ENTRY_PERMANENT)
    orphan = flag(s["session_key"].isin(list(orphan_keys or ())))
    out = [emit("DQ005", s, ~fixed & ~permanent & ~orphan, field="entry_mode", value=mode, variant="mode_missing")]
    for col, known in (("start_date", start_known), ("end_date", end_known)):
        out.append(emit("DQ005", s, fixed & ~known, field=col, variant="fixed_missing"))

    def missing_name(rows: pd.DataFrame) -> pd.Series:
        return source_field(rows, "start_date").where(~start_known.loc[rows.index], source_field(rows, "end_date"))

    out.append(emit("DQ005", s, permanent & (start_known ^ end_known), field=missing_name, variant="permanent_partial"))
    return combine(out)


def check_order(sessions: pd.DataFrame) -> pd.DataFrame:
    """DQ006: the end date is not before the start date (same day is a one-day session)."""
    s = sessions
    bad = as_datetime(s["end_date"]) < as_datetime(s["start_date"])
    return emit(
        "DQ006",
        s,
        bad,
        field="end_date",
        value=date_of("end_date"),
        columns=("start_date", "end_date"),
        start=date_of("start_date"),
    )


def check_new_starts(
    sessions: pd.DataFrame, extract_dates: dict[str, date], known_session_keys: set[str], run_date: date
) -> pd.DataFrame:
    """DQ007: a fixed-entry session seen for the first time starts at the earliest on J+1.

    J is the date of the extract the session was read from (``extract_dates[source]``, the run
    date when unknown).
    """
    s = sessions
    new = ~flag(s["session_key"].isin(list(known_session_keys)))
    fixed = flag(s["entry_mode"] == model.ENTRY_FIXED)
    stamps = {src: pd.Timestamp(d) for src, d in extract_dates.items() if d is not None}
    extract = pd.to_datetime(s["source"].astype("string").map(stamps).fillna(pd.Timestamp(run_date))).astype(
        "datetime64[s]"
    )
    earliest = extract + timedelta(days=1)
    bad = new & fixed & flag(as_datetime(s["start_date"]) < earliest)
    return emit(
        "DQ007",
        s,
        bad,
        field="start_date",
        value=date_of("start_date"),
        columns=("start_date",),
        extract_date=lambda rows: fr_date(extract.loc[rows.index]),
        earliest=lambda rows: fr_date(earliest.loc[rows.index]),
    )


def check_prescription(sessions: pd.DataFrame) -> pd.DataFrame:
    """DQ008: prescription start <= prescription end, start <= session start, end <= session end."""
    s = sessions
    ps, pe = as_datetime(s["prescription_start"]), as_datetime(s["prescription_end"])
    ss, se = as_datetime(s["start_date"]), as_datetime(s["end_date"])
    out = []
    for variant, col, other_col, bad in (
        ("order", "prescription_end", "prescription_start", pe < ps),
        ("start_after_session", "prescription_start", "start_date", ps > ss),
        ("end_after_session", "prescription_end", "end_date", pe > se),
    ):
        out.append(
            emit(
                "DQ008",
                s,
                bad,
                field=col,
                value=date_of(col),
                variant=variant,
                columns=(col, other_col),
                other_field=field_of(other_col),
                other=date_of(other_col),
            )
        )
    return combine(out)
