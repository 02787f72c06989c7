"""What the inbox holds: which dates have a complete set of extracts."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from passerelle.sources.base import parse_extract_name


def complete_dates(inbox: Path) -> list[date]:
    """Dates D for which every required kind of extract (the registry's) is there, sorted.

    A daily kind (EOS, SIGMA) needs an extract dated D; a kind that is not sent every day
    (SAM, answered once per call for tenders) needs one dated on or before D. Optional kinds
    (LHEO from other producers) never make or break a complete day.
    """
    from passerelle.sources.registry import fixed_kinds

    inbox = Path(inbox)
    if not inbox.is_dir():
        return []
    required = [(s.name, k.name, k.daily) for s, k in fixed_kinds() if k.required]
    daily = {(s, k) for s, k, is_daily in required if is_daily}
    standing = {(s, k) for s, k, is_daily in required if not is_daily}
    by_date: dict[date, set[tuple[str, str]]] = {}
    first_standing: dict[tuple[str, str], date] = {}
    for p in inbox.iterdir():
        ef = parse_extract_name(p.name)
        if ef is None or not p.is_file() or not ef.declared():
            continue
        key = (ef.source, ef.kind)
        if key in standing:
            first_standing[key] = min(first_standing.get(key, ef.extract_date), ef.extract_date)
        elif key in daily:
            by_date.setdefault(ef.extract_date, set()).add(key)
    out = []
    for d, kinds in by_date.items():
        if daily <= kinds and all(k in first_standing and first_standing[k] <= d for k in standing):
            out.append(d)
    return sorted(out)
