"""Row conservation: every input row ends in exactly one place (canonical table or quarantine)."""

from __future__ import annotations

import pandas as pd

from passerelle.canonical import CoreTables
from passerelle.sources.base import ExtractRead
from passerelle.sources.registry import per_row

# Canonical tables whose records are one per input row (actions derived from sessions are not read).
ROW_TABLES = ("formations", "actions", "sessions", "events")


def conservation_report(reads: list[ExtractRead], core: CoreTables) -> pd.DataFrame:
    """Per (file, sheet): rows read, records in the canonical tables, rows in quarantine."""
    frames = []
    for name in ROW_TABLES:
        df = getattr(core, name)
        if name == "actions" and len(df):
            df = df[~per_row(df["source"], lambda s: s.derives_actions).fillna(False).astype(bool)]
        if len(df):
            frames.append(df[["source_file", "source_sheet"]])
    canon = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["source_file", "source_sheet"])
    canon_counts = canon.groupby(["source_file", "source_sheet"]).size()
    q = core.quarantine
    q_counts = q.groupby(["source_file", "source_sheet"]).size() if len(q) else pd.Series(dtype="int64")
    rows = []
    for read in reads:
        if read.file is None:
            continue
        for sheet, n in sorted(read.rows_read.items()):
            c = int(canon_counts.get((read.file, sheet), 0))
            qn = int(q_counts.get((read.file, sheet), 0))
            rows.append(
                {
                    "file": read.file,
                    "sheet": sheet,
                    "rows_read": int(n),
                    "canonical": c,
                    "quarantined": qn,
                    "balanced": int(n) == c + qn,
                }
            )
    return pd.DataFrame(rows, columns=["file", "sheet", "rows_read", "canonical", "quarantined", "balanced"])
