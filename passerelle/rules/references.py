"""Sessions against each other and against what the other extracts describe: duplicates
(DQ017), sessions envisaged in SAM but not finalised in EOS (DQ019), orphans (DQ020)."""

from __future__ import annotations

from datetime import date

import pandas as pd

from passerelle.rules.common import (
    as_datetime,
    as_number,
    combine,
    date_of,
    emit,
    flag,
    no_findings,
    number_of,
    pick,
    text,
)
from passerelle.sources.registry import rule_flag, rule_value

LINEAGE_ORDER = ["source_file", "source_sheet", "source_line", "session_key"]


def _place(rows: pd.DataFrame, col: str) -> pd.Series:
    return text(rows[col]).str.strip().str.upper().str.replace(r"\s+", " ", regex=True)


def check_duplicates(sessions: pd.DataFrame) -> pd.DataFrame:
    """DQ017 (warning): sessions of the same action with the same start, end, postcode and
    city. The first one in file order is the original; each later one is reported with the
    original's key as value. Sessions without a start date (permanent entries without
    dates) are not compared."""
    s = pick(
        sessions,
        as_datetime(sessions["start_date"]).notna(),
        "action_key",
        "start_date",
        "end_date",
        "postcode",
        "city",
    )
    if len(s) < 2:
        return no_findings()
    s = s.sort_values(LINEAGE_ORDER, kind="stable")
    group = pd.DataFrame(
        {
            "action_key": text(s["action_key"]),
            "start": as_datetime(s["start_date"]),
            "end": as_datetime(s["end_date"]),
            "postcode": _place(s, "postcode"),
            "city": _place(s, "city"),
        },
        index=s.index,
    )
    grouped = group.assign(session_key=text(s["session_key"])).groupby(list(group.columns), dropna=False, sort=False)
    later = grouped.cumcount() > 0
    if not later.any():
        return no_findings()
    first_key = grouped["session_key"].transform("first")

    def place(rows: pd.DataFrame) -> pd.Series:
        return (text(rows["postcode"]).fillna("") + " " + text(rows["city"]).fillna("")).str.strip()

    return emit(
        "DQ017",
        s,
        later,
        field="session_key",
        value=first_key,
        columns=("start_date", "end_date", "postcode", "city"),
        start=date_of("start_date"),
        end=date_of("end_date"),
        place=place,
    )


def check_planned_sessions(formations: pd.DataFrame, sessions: pd.DataFrame, run_date: date) -> pd.DataFrame:
    """DQ019 (warning): for each SAM action whose lot has started (``period_start`` <= run
    date), fewer EOS sessions finalised (publishable workflow, not cancelled) than
    ``sessions_planned``. Reported on the SAM action (no session key)."""
    f = formations
    planning = rule_flag(f, "plans_sessions")
    started = flag(as_datetime(f["period_start"]) <= pd.Timestamp(run_date))
    planned = as_number(f["sessions_planned"])
    s = sessions
    finalised = rule_flag(s, "fills_plans") & flag(s["workflow_publishable"]) & ~flag(s["cancelled"])
    counts = s.loc[finalised.to_numpy(), "formation_key"].value_counts()
    count = text(f["formation_key"]).map(counts).fillna(0).astype("int64")
    bad = planning & started & planned.notna() & flag(count < planned)
    return emit(
        "DQ019",
        f,
        bad,
        field="sessions_planned",
        value=number_of("sessions_planned"),
        table="formations",
        columns=("sessions_planned", "period_start"),
        count=count,
        start=date_of("period_start"),
    )


def orphan_masks(
    sessions: pd.DataFrame, formations: pd.DataFrame, actions: pd.DataFrame
) -> tuple[pd.Series, pd.Series]:
    """Per session: (its formation is unknown, its SIGMA action/composante is unknown while its
    formation is known)."""
    s = sessions
    no_formation = ~flag(s["formation_key"].isin(formations["formation_key"].dropna().unique()))
    no_action = ~flag(s["action_key"].isin(actions["action_key"].dropna().unique()))
    return no_formation, ~no_formation & rule_flag(s, "action_required") & no_action


def orphan_keys(sessions: pd.DataFrame, formations: pd.DataFrame, actions: pd.DataFrame) -> set[str]:
    """Keys of the sessions DQ020 reports."""
    no_formation, no_action = orphan_masks(sessions, formations, actions)
    return set(sessions.loc[no_formation | no_action, "session_key"].dropna().tolist())


def check_orphans(
    sessions: pd.DataFrame, formations: pd.DataFrame, actions: pd.DataFrame, events: pd.DataFrame
) -> pd.DataFrame:
    """DQ020: sessions whose formation (SAM action / SIGMA action) or, for SIGMA, action
    (composante) no extract describes; events whose session is unknown."""
    s = sessions
    no_formation, no_action = orphan_masks(s, formations, actions)
    # how the source names a session's formation (Source.rules.formation_reference)
    by_lot = flag(rule_value(s, "formation_reference") == "dossier_lot_action")

    def lot_ids(rows: pd.DataFrame) -> pd.Series:
        return (
            text(rows["dossier"]).fillna("?")
            + " / "
            + text(rows["lot"]).fillna("?")
            + " / "
            + text(rows["action_number"]).fillna("?")
        )

    e = events
    unknown = ~flag(e["session_key"].isin(s["session_key"].dropna().unique()))
    return combine(
        [
            emit(
                "DQ020",
                s,
                no_formation & by_lot,
                field="formation_key",
                value=lot_ids,
                variant="formation_eos",
                columns=("dossier", "lot", "action_number"),
            ),
            emit(
                "DQ020",
                s,
                no_formation & ~by_lot,
                field="formation_key",
                value=text(s["action_number"]),
                variant="formation_sigma",
            ),
            emit(
                "DQ020",
                s,
                no_action,
                field="action_key",
                value=text(s["composante_number"]),
                variant="action_sigma",
                action=text(s["action_number"]),
            ),
            emit(
                "DQ020", e, unknown, field="session_key", value=text(e["session_key"]), variant="event", table="events"
            ),
        ]
    )
