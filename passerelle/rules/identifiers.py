"""Identifiers: marché / contract numbers (DQ002) and SIRET (DQ016).

SIRETs are validated once per distinct value (``stdnum.fr.siret``: 14 digits, Luhn key, and
the La Poste exception: establishments ``356000000xxxxx`` other than the head office pass on
a digit sum divisible by 5), then mapped back onto the rows.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.fr import siret as stdnum_siret

from passerelle.rules.common import combine, emit, flag, nonempty, text
from passerelle.sources.registry import per_row, rule_flag, sources


def _check_numbers(rows: pd.DataFrame, parameter: str, table: str) -> list[pd.DataFrame]:
    """DQ002 on the rows whose source declares ``parameter`` (a (regex, expected) pair), one
    pass per distinct declaration, in the registry's order."""
    declared = per_row(rows["source"], lambda s: (getattr(s.rules, parameter) or (None,))[0])
    num = text(rows["marche_numero"]).str.strip()
    present = nonempty(num)
    out = []
    for pattern, expected in dict.fromkeys(
        getattr(s.rules, parameter) for s in sources() if getattr(s.rules, parameter) is not None
    ):
        only = flag(declared == pattern)
        bad_format = present & ~flag(num.str.fullmatch(pattern))
        out += [
            emit(
                "DQ002", rows, only & ~present, field="marche_numero", variant="missing", expected=expected, table=table
            ),
            emit(
                "DQ002",
                rows,
                only & bad_format,
                field="marche_numero",
                value=num,
                variant="format",
                expected=expected,
                table=table,
            ),
        ]
    return out


def check_marche_numbers(sessions: pd.DataFrame, formations: pd.DataFrame) -> pd.DataFrame:
    """DQ002 on the marché / contract numbers each source declares (``session_marche``,
    ``formation_marche``: EOS sessions ``N° marché``, SAM formations ``marche/@numero``, SIGMA
    formations ``N° Contrat/Conv.``), and ``N° Action`` starting with the contract number where
    the source says so (``action_number_prefixed``: SIGMA)."""
    out: list[pd.DataFrame] = []
    out += _check_numbers(sessions, "session_marche", "sessions")
    out += _check_numbers(formations, "formation_marche", "formations")
    out.append(_check_action_prefix(formations, rule_flag(formations, "action_number_prefixed")))
    return combine(out)


def _check_action_prefix(formations: pd.DataFrame, only: pd.Series) -> pd.DataFrame:
    """SIGMA ``N° Action`` must start with its ``N° Contrat/Conv.`` (one pass per contract length)."""
    contract = text(formations["marche_numero"]).str.strip()
    action = text(formations["action_number"]).str.strip()
    both = only & nonempty(contract) & nonempty(action)
    lengths = contract.str.len()
    bad = pd.Series(False, index=formations.index)
    for n in lengths[both].unique():
        at = both & flag(lengths == n)
        bad |= at & ~flag(action.str.slice(0, int(n)) == contract)
    return emit(
        "DQ002",
        formations,
        bad,
        field="action_number",
        value=action,
        variant="prefix",
        contract=contract,
        table="formations",
    )


@lru_cache(maxsize=65536)
def siret_problem(value: str) -> str | None:
    """None when ``value`` is a valid SIRET, else ``"format"`` (not 14 digits) or ``"checksum"``."""
    try:
        stdnum_siret.validate(value)
    except InvalidChecksum:
        return "checksum"
    except ValidationError:
        return "format"
    return None


def siret_problems(values: pd.Series) -> pd.Series:
    """Per row, the problem of the SIRET (null when valid or empty); each distinct value checked once."""
    v = text(values).str.strip()
    codes, uniques = pd.factorize(v, use_na_sentinel=True)
    problems = np.array([siret_problem(x) if x else None for x in uniques] + [None], dtype=object)
    return pd.Series(problems[codes], index=v.index, dtype="string")  # code -1 -> the trailing None


def _check_sirets(rows: pd.DataFrame, column: str, table: str, required: pd.Series) -> list[pd.DataFrame]:
    v = text(rows[column]).str.strip()
    present = nonempty(v)
    problem = siret_problems(v.where(present))
    out = [emit("DQ016", rows, ~present & required, field=column, variant="missing", table=table)]
    for variant in ("format", "checksum"):
        out.append(
            emit("DQ016", rows, present & flag(problem == variant), field=column, value=v, variant=variant, table=table)
        )
    return out


def check_sirets(sessions: pd.DataFrame, formations: pd.DataFrame) -> pd.DataFrame:
    """DQ016 on the sessions' ``siret_formateur`` (required where the source declares it,
    ``trainer_siret_required``: EOS, whose extract has the column) and the formations'
    ``holder_siret`` (required: SAM ``titulaire/@siret``, SIGMA ``SIRET titulaire``)."""
    out: list[pd.DataFrame] = []
    out += _check_sirets(sessions, "siret_formateur", "sessions", rule_flag(sessions, "trainer_siret_required"))
    out += _check_sirets(formations, "holder_siret", "formations", pd.Series(True, index=formations.index))
    return combine(out)
