"""Findings: one row per rule violation, with the place it comes from.

A finding names the rule (id from ``rules.md``), its severity, the source, the file, the sheet
(workbooks only), the line, the session key when there is one, the field and the raw value,
and a French message saying what to fix. ``issues.csv`` is this table.

Readers collect findings with :class:`FindingCollector` (few, file-level or per bad value);
vectorised rules build them column-wise with :func:`findings_from_frame`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from passerelle.model import FINDINGS, empty_frame

SEVERITIES = ("error", "warning", "info")


@dataclass
class FindingCollector:
    """Accumulates findings for one extract file."""

    source: str
    file: str
    sheet: str = ""
    rows: list[dict] = field(default_factory=list)

    def add(
        self,
        rule: str,
        severity: str,
        message: str,
        *,
        line: int | None = None,
        session_key: str | None = None,
        field: str | None = None,
        value: object = None,
        sheet: str | None = None,
    ) -> None:
        if severity not in SEVERITIES:
            raise ValueError(f"unknown severity {severity!r}")
        self.rows.append(
            {
                "rule": rule,
                "severity": severity,
                "source": self.source,
                "file": self.file,
                "sheet": self.sheet if sheet is None else sheet,
                "line": line,
                "session_key": session_key,
                "field": field,
                "value": None if value is None else str(value),
                "message": message,
            }
        )

    def frame(self) -> pd.DataFrame:
        return findings_frame(self.rows)


def findings_frame(rows: list[dict] | None = None) -> pd.DataFrame:
    """A findings DataFrame with exactly the columns of ``model.FINDINGS``."""
    if not rows:
        return empty_frame(FINDINGS)
    df = pd.DataFrame.from_records(rows, columns=FINDINGS.names)
    return _typed(df)


def findings_from_frame(
    rows: pd.DataFrame,
    *,
    rule: str,
    severity: str,
    message: pd.Series | str,
    field: str | None = None,
    value: pd.Series | None = None,
) -> pd.DataFrame:
    """Vectorised findings for every row of ``rows`` (a slice of a canonical table).

    ``rows`` must carry the lineage columns and ``session_key`` (may be absent for formations).
    """
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}")
    n = len(rows)
    if n == 0:
        return findings_frame()
    idx = rows.index
    out = pd.DataFrame(
        {
            "rule": pd.Series([rule] * n, index=idx),
            "severity": pd.Series([severity] * n, index=idx),
            "source": rows["source"],
            "file": rows["source_file"],
            "sheet": rows["source_sheet"],
            "line": rows["source_line"],
            "session_key": rows["session_key"] if "session_key" in rows else pd.Series([None] * n, index=idx),
            "field": pd.Series([field] * n, index=idx),
            "value": (value.astype("string") if value is not None else pd.Series([None] * n, index=idx)),
            "message": message if isinstance(message, pd.Series) else pd.Series([message] * n, index=idx),
        }
    )
    return _typed(out.reset_index(drop=True))


def concat_findings(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return findings_frame()
    return _typed(pd.concat(frames, ignore_index=True))


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=df.index)
    for f in FINDINGS:
        col = df[f.name]
        if f.name == "line":
            out[f.name] = pd.array(col, dtype="Int32") if len(col) else pd.array([], dtype="Int32")
        else:
            out[f.name] = col.astype("string")
            if not f.nullable:
                out[f.name] = out[f.name].fillna("")
    return out
