"""Addresses (DQ015): 5-digit postcode, département consistent with the INSEE code, city given.

Département of a postcode: its first two digits, or three for the overseas ones (``97x``,
``98x``); Corsica (``20``) is ``2A`` for ``200xx``/``201xx`` and ``2B`` for ``202xx``/``206xx``
(any other ``20xxx`` is accepted with either). Saint-Barthélemy (postcode ``97133``) and
Saint-Martin (``97150``) accept their own INSEE codes (``977xx``, ``978xx``) as well as the
former Guadeloupe ones (``971xx``). CEDEX
postcodes are 5 digits like the others; the word CEDEX may follow the city name.

Sessions must have a postcode and a city. Events are checked only when they carry an address
at all (a remote event has none).
"""

from __future__ import annotations

import pandas as pd

from passerelle.rules.common import combine, emit, flag, nonempty, text

POSTCODE_PATTERN = r"(?!00)\d{5}"  # no département 00
INSEE_PATTERN = r"\d{5}|2[AB]\d{3}"

CORSICA_SOUTH = "2A"
CORSICA_NORTH = "2B"
CORSICA_EITHER = "20"


def postcode_department(postcode: pd.Series) -> pd.Series:
    """The département of each (well-formed) postcode."""
    pc = text(postcode)
    d2, d3, third = pc.str.slice(0, 2), pc.str.slice(0, 3), pc.str.slice(2, 3)
    dept = d2.mask(flag(d2.isin(["97", "98"])), d3)
    corsica = flag(d2 == "20")
    dept = dept.mask(corsica, CORSICA_EITHER)
    dept = dept.mask(corsica & flag(third.isin(["0", "1"])), CORSICA_SOUTH)
    dept = dept.mask(corsica & flag(third.isin(["2", "6"])), CORSICA_NORTH)
    return dept


def insee_department(insee: pd.Series) -> pd.Series:
    """The département of each (well-formed) INSEE commune code."""
    code = text(insee).str.upper()
    d2, d3 = code.str.slice(0, 2), code.str.slice(0, 3)
    return d2.mask(flag(d2.isin(["97", "98"])), d3)


def _address_findings(rows: pd.DataFrame, table: str, has_insee: bool,
                      only: pd.Series | None = None) -> list[pd.DataFrame]:
    """DQ015 findings of ``rows`` (restricted to ``only`` when given)."""
    scope = pd.Series(True, index=rows.index) if only is None else flag(only)
    pc = text(rows["postcode"]).str.strip()
    city = text(rows["city"]).str.strip()
    has_pc, has_city = nonempty(pc), nonempty(city)
    pc_ok = has_pc & flag(pc.str.fullmatch(POSTCODE_PATTERN))
    out = [
        emit("DQ015", rows, scope & ~has_pc, field="postcode", variant="postcode_missing", table=table),
        emit("DQ015", rows, scope & has_pc & ~pc_ok, field="postcode", value=pc, variant="postcode_format",
             table=table),
        emit("DQ015", rows, scope & ~has_city, field="city", variant="city_missing", table=table),
    ]
    if has_insee:
        insee = text(rows["insee_code"]).str.strip().str.upper()
        has_insee_code = nonempty(insee)
        insee_ok = has_insee_code & flag(insee.str.fullmatch(INSEE_PATTERN))
        out.append(emit("DQ015", rows, scope & has_insee_code & ~insee_ok, field="insee_code", value=insee,
                        variant="insee_format", table=table))
        p_dept, i_dept = postcode_department(pc), insee_department(insee)
        corsica_any = flag(p_dept == CORSICA_EITHER) & flag(i_dept.isin([CORSICA_SOUTH, CORSICA_NORTH]))
        collectivities = (flag(pc == "97133") & flag(i_dept == "977")) | (flag(pc == "97150") & flag(i_dept == "978"))
        mismatch = pc_ok & insee_ok & ~flag(p_dept == i_dept) & ~corsica_any & ~collectivities
        out.append(
            emit("DQ015", rows, scope & mismatch, field="postcode", value=pc, variant="insee_mismatch",
                 dept=p_dept, insee=insee, insee_dept=i_dept, table=table)
        )
    return out


def check_session_addresses(sessions: pd.DataFrame) -> pd.DataFrame:
    """DQ015 on the place of training of each session."""
    return combine(_address_findings(sessions, "sessions", has_insee=True))


def check_event_addresses(events: pd.DataFrame) -> pd.DataFrame:
    """DQ015 on the events that carry an address (street, postcode or city)."""
    e = events
    any_part = nonempty(e["address_line"]) | nonempty(e["postcode"]) | nonempty(e["city"])
    if not any_part.any():
        return combine([])
    return combine(_address_findings(e, "events", has_insee=False, only=any_part))
