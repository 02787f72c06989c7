"""``quality/issues.csv``: every finding, one row each (``outputs.md``).

Format: UTF-8 without BOM, ``,`` separated, ``"`` quoting only where needed (``csv``
``QUOTE_MINIMAL``: a value with a comma, a quote or a line break is quoted, quotes doubled),
``\\n`` line ends (the file is meant for tools and diffs; the spreadsheet-friendly CSV is the
Mission Locale one), header exactly::

    rule,severity,source,file,line,session_key,field,value,message

Rows are sorted by source, file, sheet, line (file-level findings without a line first),
rule, field, then session key, value and message, so the same findings always give the same
bytes. ``line`` is empty when unknown. The workbook sheet is not a column of the contract, so
for a workbook finding ``field`` names the sheet and the column as ``Sessions › Date fin``
(``line`` is that sheet's row); a finding on a whole sheet has ``field`` = the sheet name.
Text that a spreadsheet would run as a formula gets a leading ``'`` (as in the Mission Locale CSV).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from passerelle.model import ISSUES_CSV_COLUMNS

SORT_COLUMNS = ["source", "file", "sheet", "line", "rule", "field", "session_key", "value", "message"]


def issues_frame(findings: pd.DataFrame | None) -> pd.DataFrame:
    """The issues.csv table: its columns as strings ("" for unknown), rows sorted."""
    if findings is None or len(findings) == 0:
        return pd.DataFrame({c: pd.Series([], dtype="string") for c in ISSUES_CSV_COLUMNS})
    df = findings.copy()
    if "sheet" not in df.columns:
        df["sheet"] = ""
    df = df.sort_values(SORT_COLUMNS, na_position="first", kind="stable")
    out = pd.DataFrame(index=df.index)
    for name in ISSUES_CSV_COLUMNS:
        col = df[name]
        if name == "line":
            col = pd.array(col, dtype="Int64")
        out[name] = pd.Series(col, index=df.index).astype("string").fillna("")
    sheet = df["sheet"].astype("string").fillna("")
    has_sheet = (sheet != "").to_numpy(dtype=bool)
    if has_sheet.any():
        field = out["field"]
        with_field = has_sheet & (field != "").to_numpy(dtype=bool)
        out.loc[with_field, "field"] = sheet[with_field] + " › " + field[with_field]
        out.loc[has_sheet & ~with_field, "field"] = sheet[has_sheet & ~with_field]
    # Carif staff open this file in a spreadsheet: source text that would run as a formula
    # (=, +, -, @, tab, CR) gets a leading ' as in the Mission Locale CSV (OWASP CSV injection).
    from passerelle.feeds.mission_locale import neutralise_formulas

    for name in ("session_key", "field", "value", "message"):
        out[name] = neutralise_formulas(out[name])
    return out.reset_index(drop=True)


def _write(fh, findings: pd.DataFrame | None) -> int:
    table = issues_frame(findings)
    table.to_csv(fh, index=False, sep=",", quotechar='"', quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    return len(table)


def issues_csv_text(findings: pd.DataFrame | None) -> str:
    """The whole issues.csv as text."""
    buf = io.StringIO()
    _write(buf, findings)
    return buf.getvalue()


def write_issues_csv(findings: pd.DataFrame | None, path: str | Path) -> int:
    """Write ``findings`` to ``path`` as issues.csv; returns the number of data rows."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        return _write(fh, findings)
