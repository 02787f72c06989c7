"""Run every data-quality check (DQ001-DQ022) over the canonical tables of one run.

``run_checks(ctx)`` returns the findings (``model.FINDINGS`` columns), sorted by place
(source, file, sheet, line) then rule. ``session_errors(findings)`` gives the keys of the
sessions that must not be published today (at least one ``error`` finding).

Which sessions each rule looks at is data (``Rule.applies_to`` in the registry):

- ``all``: every session; ``publishable``: sessions whose workflow state allows publication,
  cancelled ones included; ``live``: publishable and not cancelled;
- event rules (DQ013, DQ014, DQ015 on event addresses) look at the events of publishable
  sessions; events of unknown sessions only get DQ020.

DQ000 comes from the readers, DQ023 from the publication step (``feed_guard``, re-exported
here), DQ024 from the feeds' validation (``passerelle.feeds.withhold``).

The predicates live in one module per idea: ``dates`` (DQ001, DQ005-DQ008), ``identifiers``
(DQ002, DQ016), ``states`` (DQ003, DQ004, DQ018, DQ021), ``contacts`` (DQ009), ``headcounts``
(DQ010-DQ012), ``events`` (DQ013, DQ014), ``addresses`` (DQ015, DQ026), ``references`` (DQ017,
DQ019, DQ020), ``history`` (DQ022, DQ023), ``organisations`` (DQ025).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from passerelle.rules import (
    addresses,
    contacts,
    dates,
    events,
    headcounts,
    history,
    identifiers,
    organisations,
    references,
    states,
)
from passerelle.rules.common import CheckContext, combine, flag
from passerelle.rules.history import feed_guard
from passerelle.rules.registry import RULES, rule

__all__ = ["CheckContext", "SESSION_CHECKS", "feed_guard", "run_checks", "select_sessions", "session_errors"]

SORT_COLUMNS = ["source", "file", "sheet", "line", "rule", "field", "session_key", "value", "message"]

# rule id -> predicate over the selected sessions (selection from the registry's applies_to)
SESSION_CHECKS: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "DQ001": dates.check_periods,
    "DQ003": states.check_cancelled,
    "DQ004": states.check_cancelled_trainees,
    "DQ006": dates.check_order,
    "DQ008": dates.check_prescription,
    "DQ009": contacts.check_contacts,
    "DQ010": headcounts.check_pole_emploi_places,
    "DQ011": headcounts.check_places,
    "DQ012": headcounts.check_hours,
    "DQ015": addresses.check_session_addresses,
    "DQ026": addresses.check_session_communes,
    "DQ017": references.check_duplicates,
    "DQ018": states.check_workflow,
    "DQ021": states.check_recruitment_closed,
}


def select_sessions(sessions: pd.DataFrame, applies_to: str) -> pd.DataFrame:
    """The sessions a rule with ``applies_to`` looks at."""
    if applies_to == "all":
        return sessions
    publishable = flag(sessions["workflow_publishable"])
    if applies_to == "publishable":
        return sessions[publishable]
    if applies_to == "live":
        return sessions[publishable & ~flag(sessions["cancelled"])]
    raise ValueError(f"no session selection for applies_to={applies_to!r}")


def _selections(sessions: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The three selections of :func:`select_sessions` from one reordered copy of the sessions
    (live ones first, then the other publishable ones, then the rest): each selection is a
    slice of it, not a copy of its own (at a million sessions a copy is 600 MB). The checks do
    not depend on the order of the rows (findings are sorted at the end, duplicates by their
    lineage), and rows keep their index labels."""
    publishable = flag(sessions["workflow_publishable"]).to_numpy(dtype=bool)
    live = publishable & ~flag(sessions["cancelled"]).to_numpy(dtype=bool)
    rank = np.where(live, 0, np.where(publishable, 1, 2))
    ordered = sessions.take(np.argsort(rank, kind="stable"))
    return {
        "all": ordered,
        "publishable": ordered.iloc[: int(publishable.sum())],
        "live": ordered.iloc[: int(live.sum())],
    }


def run_checks(ctx: CheckContext) -> pd.DataFrame:
    """Every finding of DQ001-DQ022 for the canonical tables of ``ctx``."""
    s = ctx.sessions
    selections = _selections(s)

    def sessions_for(rule_id: str) -> pd.DataFrame:
        return selections[rule(rule_id).applies_to]

    out: list[pd.DataFrame] = [check(sessions_for(rule_id)) for rule_id, check in SESSION_CHECKS.items()]

    # rules that need more than the selected sessions
    orphans = references.orphan_keys(s, ctx.formations, ctx.actions)
    out.append(dates.check_entry_modes(sessions_for("DQ005"), orphans))
    out.append(dates.check_new_starts(sessions_for("DQ007"), ctx.extract_dates, ctx.known_session_keys, ctx.run_date))
    out.append(identifiers.check_marche_numbers(sessions_for("DQ002"), ctx.formations))
    out.append(identifiers.check_sirets(sessions_for("DQ016"), ctx.formations))
    out.append(references.check_planned_sessions(ctx.formations, s, ctx.run_date))
    out.append(references.check_orphans(s, ctx.formations, ctx.actions, ctx.events))
    out.append(history.check_vanished(ctx.previous, s, ctx.sources_read, ctx.run_date, ctx.grace_days))
    out.append(organisations.check_organisations(ctx.formations, sessions_for("DQ025")))

    # events of publishable sessions
    publishable_keys = selections["publishable"]["session_key"].dropna().unique()
    ev = ctx.events[flag(ctx.events["session_key"].isin(publishable_keys))]
    out.append(events.check_events(ev, s))
    out.append(events.check_cancelled_information(ev))
    out.append(addresses.check_event_addresses(ev))
    out.append(addresses.check_event_communes(ev))
    out.append(addresses.check_action_addresses(ctx.actions))
    out.append(addresses.check_action_communes(ctx.actions))
    return sort_findings(combine(out))


def sort_findings(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings in a deterministic order: place (source, file, sheet, line), then rule, field..."""
    if len(findings) == 0:
        return findings
    return findings.sort_values(SORT_COLUMNS, na_position="first", kind="stable").reset_index(drop=True)


def session_errors(findings: pd.DataFrame) -> set[str]:
    """Keys of the sessions with at least one ``error`` finding (not published today)."""
    if findings is None or len(findings) == 0:
        return set()
    keys = findings.loc[flag(findings["severity"] == "error"), "session_key"].dropna()
    return set(keys[keys != ""].unique().tolist())


def check_registry() -> None:
    """Every rule of the registry is covered: a predicate here, the readers (DQ000) or the
    publication step (DQ023). Raises AssertionError otherwise (used by the tests)."""
    covered = set(SESSION_CHECKS) | {
        "DQ000",
        "DQ002",
        "DQ005",
        "DQ007",
        "DQ013",
        "DQ014",
        "DQ016",
        "DQ019",
        "DQ020",
        "DQ022",
        "DQ023",
        "DQ024",
        "DQ025",
    }
    missing = {r.id for r in RULES} - covered
    assert not missing, f"rules without a check: {sorted(missing)}"
