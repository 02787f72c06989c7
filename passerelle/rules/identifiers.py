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

MARCHE_PATTERN = r"[A-Z]\d{7}"  # EOS / SAM: M1451401
SIGMA_CONTRACT_PATTERN = r"\d{2}P\d{7}"  # SIGMA: 23P0000000
MARCHE_EXPECTED = "une lettre majuscule et 7 chiffres, ex. M1451401"
SIGMA_CONTRACT_EXPECTED = "2 chiffres, la lettre P et 7 chiffres, ex. 23P0000000"


def _check_numbers(rows: pd.DataFrame, only: pd.Series, pattern: str, expected: str,
                   table: str) -> list[pd.DataFrame]:
    num = text(rows["marche_numero"]).str.strip()
    present = nonempty(num)
    bad_format = present & ~flag(num.str.fullmatch(pattern))
    return [
        emit("DQ002", rows, only & ~present, field="marche_numero", variant="missing", expected=expected,
             table=table),
        emit("DQ002", rows, only & bad_format, field="marche_numero", value=num, variant="format",
             expected=expected, table=table),
    ]


def check_marche_numbers(sessions: pd.DataFrame, formations: pd.DataFrame) -> pd.DataFrame:
    """DQ002 on EOS sessions (``N° marché``), SAM formations (``marche/@numero``) and SIGMA
    formations (``N° Contrat/Conv.``, and ``N° Action`` starting with the contract number)."""
    f_source = formations["source"]
    sigma = flag(f_source == "sigma")
    out: list[pd.DataFrame] = []
    out += _check_numbers(sessions, flag(sessions["source"] == "eos"), MARCHE_PATTERN, MARCHE_EXPECTED, "sessions")
    out += _check_numbers(formations, flag(f_source == "sam"), MARCHE_PATTERN, MARCHE_EXPECTED, "formations")
    out += _check_numbers(formations, sigma, SIGMA_CONTRACT_PATTERN, SIGMA_CONTRACT_EXPECTED, "formations")
    out.append(_check_action_prefix(formations, sigma))
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
    return emit("DQ002", formations, bad, field="action_number", value=action, variant="prefix",
                contract=contract, table="formations")


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
        out.append(emit("DQ016", rows, present & flag(problem == variant), field=column, value=v, variant=variant,
                        table=table))
    return out


def check_sirets(sessions: pd.DataFrame, formations: pd.DataFrame) -> pd.DataFrame:
    """DQ016 on the sessions' ``siret_formateur`` (required for EOS, where the extract has the
    column) and the formations' ``holder_siret`` (required: SAM ``titulaire/@siret``, SIGMA
    ``SIRET titulaire``)."""
    out: list[pd.DataFrame] = []
    out += _check_sirets(sessions, "siret_formateur", "sessions", flag(sessions["source"] == "eos"))
    out += _check_sirets(formations, "holder_siret", "formations", pd.Series(True, index=formations.index))
    return combine(out)
