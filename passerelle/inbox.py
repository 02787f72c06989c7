"""What the inbox holds: which dates have a complete set of extracts."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from passerelle.sources.base import EXTRACT_KINDS, parse_extract_name


def complete_dates(inbox: Path) -> list[date]:
    """Dates D for which every (source, kind) of the contract has an extract dated D, sorted.

    SAM is answered once per call for tenders and may not be re-sent every day: a date is
    complete when the day's EOS and SIGMA extracts are there and a SAM offer dated on or
    before D exists.
    """
    inbox = Path(inbox)
    if not inbox.is_dir():
        return []
    by_date: dict[date, set[tuple[str, str]]] = {}
    sam_dates: list[date] = []
    for p in inbox.iterdir():
        ef = parse_extract_name(p.name)
        if ef is None or not p.is_file() or (ef.source, ef.kind) not in EXTRACT_KINDS:
            continue
        if ef.path.suffix.lstrip(".").lower() != EXTRACT_KINDS[(ef.source, ef.kind)]:
            continue
        if ef.source == "sam":
            sam_dates.append(ef.extract_date)
        else:
            by_date.setdefault(ef.extract_date, set()).add((ef.source, ef.kind))
    daily = {k for k in EXTRACT_KINDS if k[0] != "sam"}
    out = []
    for d, kinds in by_date.items():
        if daily <= kinds and any(s <= d for s in sam_dates):
            out.append(d)
    return sorted(out)
