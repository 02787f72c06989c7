"""States of a session: cancelled (DQ003, DQ004), workflow not publishable (DQ018),
recruitment closed (DQ021)."""

from __future__ import annotations

import pandas as pd

from passerelle import model
from passerelle.rules.common import as_number, emit, flag, fr_number, number_of, text, text_of
from passerelle.sources.registry import rule_flag

RECRUITMENT_LABELS = {
    model.RECRUITMENT_OPEN: "Ouvert",
    model.RECRUITMENT_CLOSED: "Fermé",
    model.RECRUITMENT_SUSPENDED: "Suspendu",
}


def check_cancelled(sessions: pd.DataFrame) -> pd.DataFrame:
    """DQ003 (info): every cancelled session (EOS ``Session annulée`` = Oui, SIGMA 0 places)."""
    s = sessions

    def value(rows: pd.DataFrame) -> pd.Series:
        oui = pd.Series("Oui", index=rows.index, dtype="string")
        return oui.mask(rule_flag(rows, "cancelled_by_places"), fr_number(rows["places"]))

    return emit("DQ003", s, s["cancelled"], field="cancelled", value=value, columns=("places",))


def check_cancelled_trainees(sessions: pd.DataFrame) -> pd.DataFrame:
    """DQ004: a cancelled session still has enrolled trainees."""
    s = sessions
    bad = flag(s["cancelled"]) & flag(as_number(s["trainees"]) > 0)
    return emit("DQ004", s, bad, field="trainees", value=number_of("trainees"), columns=("trainees",))


def check_workflow(sessions: pd.DataFrame) -> pd.DataFrame:
    """DQ018 (info): the workflow state does not allow publication yet."""
    s = sessions
    return emit(
        "DQ018",
        s,
        ~flag(s["workflow_publishable"]),
        field="workflow_state",
        value=text_of("workflow_state"),
        columns=("workflow_state",),
    )


def check_recruitment_closed(sessions: pd.DataFrame) -> pd.DataFrame:
    """DQ021 (warning): recruitment closed on a session that is not cancelled."""
    s = sessions
    bad = flag(s["recruitment_state"] == model.RECRUITMENT_CLOSED) & ~flag(s["cancelled"])
    return emit(
        "DQ021",
        s,
        bad,
        field="recruitment_state",
        columns=("recruitment_state",),
        value=lambda rows: text(rows["recruitment_state"]).map(RECRUITMENT_LABELS).astype("string"),
    )
