"""Addresses (DQ015, DQ026), against the official Code officiel géographique and La Poste's base
(:mod:`passerelle.reference.cog`, the same tables the canonical build derives the communes from).

DQ015 (error): a 5-digit postcode, a city, and, when the INSEE code is given, a postcode that
may be written in the INSEE code's département: one that serves a commune of it (Corsica 2A/2B
by commune, a postcode serving two départements such as 01200, Saint-Barthélemy 97133 with its
977 code), or, for a CEDEX postcode in neither base, whose digits name it. Sessions must have a
postcode and a city; events are checked only when they carry an address at all (a remote event
has none).

DQ026 (warning): the postcode and city (and INSEE code) of an address DQ015 accepts do not
designate one commune of the COG (unknown postcode, city not served by it, INSEE code of another
commune, several communes): the message says what the reference knows, and the feeds publish the
commune's INSEE code, département and région only when two of the three designate it.
"""

from __future__ import annotations

import pandas as pd

from passerelle.reference import cog
from passerelle.rules.common import combine, emit, flag, nonempty, text
from passerelle.sources.registry import per_row

POSTCODE_PATTERN = r"(?!00)\d{5}"  # no département 00
INSEE_PATTERN = r"\d{5}|2[AB]\d{3}"


def _address_findings(
    rows: pd.DataFrame, table: str, has_insee: bool, only: pd.Series | None = None
) -> list[pd.DataFrame]:
    """DQ015 findings of ``rows`` (restricted to ``only`` when given)."""
    scope = pd.Series(True, index=rows.index) if only is None else flag(only)
    pc = text(rows["postcode"]).str.strip()
    city = text(rows["city"]).str.strip()
    has_pc, has_city = nonempty(pc), nonempty(city)
    pc_ok = has_pc & flag(pc.str.fullmatch(POSTCODE_PATTERN))
    out = [
        emit("DQ015", rows, scope & ~has_pc, field="postcode", variant="postcode_missing", table=table),
        emit(
            "DQ015", rows, scope & has_pc & ~pc_ok, field="postcode", value=pc, variant="postcode_format", table=table
        ),
        emit("DQ015", rows, scope & ~has_city, field="city", variant="city_missing", table=table),
    ]
    if has_insee:
        insee = text(rows["insee_code"]).str.strip().str.upper()
        has_insee_code = nonempty(insee)
        insee_ok = has_insee_code & flag(insee.str.fullmatch(INSEE_PATTERN))
        out.append(
            emit(
                "DQ015",
                rows,
                scope & has_insee_code & ~insee_ok,
                field="insee_code",
                value=insee,
                variant="insee_format",
                table=table,
            )
        )
        check = scope & pc_ok & insee_ok
        if check.any():
            same, i_dept = _postcode_in_insee_departement(pc.where(check), insee.where(check))
            mismatch = check & ~same
            out.append(
                emit(
                    "DQ015",
                    rows,
                    mismatch,
                    field="postcode",
                    value=pc,
                    variant="insee_mismatch",
                    dept=cog.departement_of_postcode(pc[mismatch]).reindex(pc.index),
                    insee=insee,
                    insee_dept=i_dept,
                    table=table,
                )
            )
    return out


def _postcode_in_insee_departement(pc: pd.Series, insee: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Per row: whether the postcode may be written in the INSEE code's département
    (:func:`passerelle.reference.cog.postcode_in_departement`), and that département; computed
    once per distinct (postcode, INSEE code)."""
    pairs = pd.DataFrame({"pc": pc.astype("string"), "insee": insee.astype("string")})
    codes, uniques = pd.factorize(pd.MultiIndex.from_frame(pairs.fillna("")))
    u = pd.DataFrame(list(uniques), columns=["pc", "insee"]).replace("", pd.NA).astype("string")
    dept = cog.departement_of_insee(u["insee"])
    ok = flag(cog.postcode_in_departement(u["pc"], dept))
    return (
        pd.Series(ok.to_numpy()[codes], index=pc.index),
        pd.Series(dept.to_numpy()[codes], index=pc.index, dtype="string"),
    )


def _accepted_by_dq015(rows: pd.DataFrame, has_insee: bool) -> pd.Series:
    """The rows whose address DQ015 lets through (DQ026 then says what the COG makes of it)."""
    pc = text(rows["postcode"]).str.strip()
    ok = flag(pc.str.fullmatch(POSTCODE_PATTERN)) & nonempty(rows["city"])
    if has_insee:
        insee = text(rows["insee_code"]).str.strip().str.upper()
        given = nonempty(insee)
        well_formed = flag(insee.str.fullmatch(INSEE_PATTERN))
        ok &= ~given | well_formed
        check = ok & given
        if check.any():
            same, _dept = _postcode_in_insee_departement(pc.where(check), insee.where(check))
            ok &= ~check | same
    return ok


def _commune_findings(rows: pd.DataFrame, table: str, has_insee: bool, only: pd.Series | None = None) -> pd.DataFrame:
    """DQ026 findings of ``rows`` (restricted to ``only`` when given). The canonical build put
    the reference's answer in ``address_status``; a row without one (a table built otherwise)
    is resolved here. Only the problem rows are resolved again, for their message."""
    scope = pd.Series(True, index=rows.index) if only is None else flag(only)
    if not scope.any():
        return combine([])

    def resolve(mask: pd.Series) -> pd.DataFrame:
        sel = rows[mask.to_numpy()]
        return cog.resolve_addresses(
            text(sel["postcode"]), text(sel["city"]), text(sel["insee_code"]) if has_insee else None
        )

    status = (
        text(rows["address_status"]) if "address_status" in rows else pd.Series(pd.NA, index=rows.index, dtype="string")
    )
    unknown = scope & status.isna()
    if unknown.any():
        status = status.copy()
        status.loc[unknown] = resolve(unknown)["status"].to_numpy()
    fine = [*cog.RESOLVED_STATUSES, cog.STATUS_MISSING]
    problem = scope & status.notna() & ~flag(status.isin(fine))
    if problem.any():  # what DQ015 reports (format, département) is left to it
        accepted = _accepted_by_dq015(rows[problem.to_numpy()], has_insee)
        problem.loc[accepted.index[~accepted.to_numpy()]] = False
    if not problem.any():
        return combine([])
    message = resolve(problem)["message"].astype("string")
    reason = pd.Series(pd.NA, index=rows.index, dtype="string")
    reason.loc[problem] = (message.str.slice(0, 1).str.lower() + message.str.slice(1)).to_numpy()
    value = text(rows["postcode"]).str.strip().fillna("") + " " + text(rows["city"]).str.strip().fillna("")
    if has_insee:
        insee = text(rows["insee_code"]).str.strip()
        value = value + (" (INSEE " + insee + ")").fillna("")
    return emit("DQ026", rows, problem, field="postcode", value=value, variant="address", reason=reason, table=table)


def check_session_addresses(sessions: pd.DataFrame) -> pd.DataFrame:
    """DQ015 on the place of training of each session."""
    return combine(_address_findings(sessions, "sessions", has_insee=True))


def check_session_communes(sessions: pd.DataFrame) -> pd.DataFrame:
    """DQ026 on the place of training of each session."""
    return _commune_findings(sessions, "sessions", has_insee=True)


def _with_address(events: pd.DataFrame) -> pd.Series:
    return nonempty(events["address_line"]) | nonempty(events["postcode"]) | nonempty(events["city"])


def check_event_addresses(events: pd.DataFrame) -> pd.DataFrame:
    """DQ015 on the events that carry an address (street, postcode or city)."""
    any_part = _with_address(events)
    if not any_part.any():
        return combine([])
    return combine(_address_findings(events, "events", has_insee=False, only=any_part))


def check_event_communes(events: pd.DataFrame) -> pd.DataFrame:
    """DQ026 on the events that carry an address."""
    any_part = _with_address(events)
    if not any_part.any():
        return combine([])
    return _commune_findings(events, "events", has_insee=False, only=any_part)


def _own_place(actions: pd.DataFrame) -> pd.Series:
    """The actions whose source describes their place itself (not derived from their sessions,
    ``Source.derives_actions``)."""
    return ~per_row(actions["source"], lambda s: s.derives_actions).fillna(False).astype(bool)


def check_action_communes(actions: pd.DataFrame) -> pd.DataFrame:
    """DQ026 on the places of the actions a source describes with their own address (SIGMA
    composantes: Ville, Code postal); actions derived from sessions (``Source.derives_actions``,
    EOS) take their sessions' place, checked there."""
    own = _own_place(actions) & (nonempty(actions["postcode"]) | nonempty(actions["city"]))
    if not own.any():
        return combine([])
    return _commune_findings(actions, "actions", has_insee=True, only=own)


def check_action_addresses(actions: pd.DataFrame) -> pd.DataFrame:
    """DQ015 on the places of the actions a source describes with their own address (SIGMA
    composantes: Code postal): a postcode given but malformed is an error on the action, which
    then keeps its sessions out (``passerelle.parents``); a missing one is not (the sessions
    carry their own place)."""
    own = _own_place(actions)
    pc = text(actions["postcode"]).str.strip()
    bad = own & nonempty(pc) & ~flag(pc.str.fullmatch(POSTCODE_PATTERN))
    return emit("DQ015", actions, bad, field="postcode", value=pc, variant="postcode_format", table="actions")
