"""What the tabular readers (EOS CSV, SIGMA workbook) share: one normalisation of headers and
labels, header matching, duplicate keys, cell findings.

Each reader keeps only what is truly its own (the cp1252 repair and record splitting of EOS,
the calamine cell types and sheets of SIGMA): before this module the two carried their own
normalisation (they disagreed on ``N°`` / ``Nº`` and typographic apostrophes) and their own
duplicate-key detection.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import pandas as pd

from passerelle.findings import findings_from_frame

RULE_FILE = "DQ000"
_SPACES = re.compile(r"\s+")


def norm(value: object) -> str:
    """Case-, accent-, space- and typography-insensitive form of a header, a sheet name or a
    label: ``N° Action``, ``nº action`` and ``NO  ACTION`` are one; so are ``d'émission`` and
    ``d’emission``."""
    s = unicodedata.normalize("NFKD", str(value).replace("°", "o").replace("º", "o"))
    s = "".join(ch for ch in s if not unicodedata.combining(ch))
    s = s.replace("\u2019", "'").replace("\u2018", "'").casefold()
    return _SPACES.sub("", s)


def norm_series(s: pd.Series) -> pd.Series:
    """:func:`norm` over a Series (once per distinct value); null -> ``""``."""
    s = s.fillna("").astype("string")
    codes, uniques = pd.factorize(s, use_na_sentinel=False)
    out = pd.Series([norm(u) for u in uniques], dtype="string")
    res = out.take(codes) if len(uniques) else pd.Series([], dtype="string")
    res.index = s.index
    return res


def header_candidates(headers: Sequence[str], wanted: str, normed: Sequence[str] | None = None) -> list[int]:
    """Positions of the columns of ``headers`` that may be ``wanted``: the exact (trimmed) ones
    first, then those equal once normalised (:func:`norm`). Empty headers never match.

    More than one candidate means the header names the column twice: the reader decides
    (EOS rejects the file, SIGMA reads the first and reports the other).
    """
    normed = normed if normed is not None else [norm(h) if h else "" for h in headers]
    key = norm(wanted)
    exact = [i for i, h in enumerate(headers) if h and h == wanted]
    loose = [i for i, h in enumerate(headers) if h and h != wanted and normed[i] == key]
    return exact + loose


def duplicates(key: pd.Series, lines: pd.Series, live: pd.Series | None = None) -> tuple[pd.Series, pd.Series]:
    """Rows whose ``key`` (among the ``live`` rows, non-null) was already seen on an earlier
    row: ``(duplicate mask, line of the first row with that key)``, aligned on ``key``.
    The first row is kept, the later ones are duplicates."""
    live = pd.Series(True, index=key.index) if live is None else live.fillna(False).astype(bool)
    live_key = key.where(live & key.notna())
    dup = (live_key.duplicated(keep="first") & live_key.notna()).fillna(False).astype(bool)
    first_line = lines.set_axis(key.index).groupby(live_key).transform("min")
    return dup, first_line


def quote(raw: pd.Series) -> pd.Series:
    return "« " + raw.astype("string") + " »"


def short(s: str, n: int = 80) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def cell_findings(
    ctx: pd.DataFrame,
    mask: pd.Series,
    column: str,
    raw: pd.Series,
    message,
    suffix: str | None = None,
    *,
    rule: str = RULE_FILE,
    severity: str = "error",
):
    """One finding per True cell of ``mask`` (``ctx``: the lineage of each row), naming the
    line and the column, or None when there is none.

    With ``suffix`` the message is ``message + « raw value » + suffix`` (built only for the
    flagged cells); without it ``message`` is used as is.
    """
    mask = mask.fillna(False).astype(bool)
    if not mask.any():
        return None
    value = raw[mask]
    msg = message if suffix is None else message + quote(value.str.strip()) + suffix
    return findings_from_frame(ctx[mask], rule=rule, severity=severity, message=msg, field=column, value=value)


def event_keys(session_key: pd.Series, type_code: pd.Series | str, day: pd.Series, start_time: pd.Series) -> pd.Series:
    """``<session_key>:<type code>:<YYYYMMDD|nodate>:<HHMM|notime>`` (``day`` as ``YYYYMMDD``
    text, ``start_time`` as ``HH:MM``), the same key repeated suffixed ``-2``, ``-3`` in file
    order: what identifies an event across days in every source."""
    base = (
        session_key
        + ":"
        + type_code
        + ":"
        + day.fillna("nodate")
        + ":"
        + start_time.str.replace(":", "", regex=False).fillna("notime")
    )
    rank = base.groupby(base).cumcount()
    return base.where(rank == 0, base + "-" + (rank + 1).astype("string"))


def quarantine_rows(
    source: str,
    file: str | None,
    sheet: str,
    lines: pd.Series,
    kind: str,
    reason: pd.Series | str,
    raw: pd.Series | list[str],
    session_key: pd.Series | None = None,
) -> pd.DataFrame:
    """Quarantine rows (``model.QUARANTINE`` columns, rule DQ000), one per entry of ``lines``
    (the row's line in the file, indexed like the rows): the lineage, the kind of record, the
    session key when known, the French reason and the raw row as JSON."""
    idx = lines.index
    q = pd.DataFrame(
        {
            "source": pd.Series(source, index=idx, dtype="string"),
            "source_file": pd.Series(file, index=idx, dtype="string"),
            "source_sheet": pd.Series(sheet, index=idx, dtype="string"),
            "source_line": lines.astype("int32"),
        },
        index=idx,
    )
    q["kind"] = kind
    q["session_key"] = session_key if session_key is not None else pd.Series(pd.NA, index=idx, dtype="string")
    q["rule"] = RULE_FILE
    q["reason"] = reason.astype("string") if isinstance(reason, pd.Series) else reason
    q["raw"] = pd.Series(raw, index=idx, dtype="string") if isinstance(raw, list) else raw
    return q.reset_index(drop=True)
