"""Read one kind of extract for a date: find the file in the inbox, call its source's reader."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from passerelle.findings import FindingCollector, concat_findings
from passerelle.sources.base import ExtractRead, extract_date_of, find_extracts


def _reader(source: str, kind: str):
    if source == "sam":
        from passerelle.sources.sam import read_offer

        return read_offer
    if source == "eos" and kind == "sessions":
        from passerelle.sources.eos import read_sessions

        return read_sessions
    if source == "eos" and kind == "evenements":
        from passerelle.sources.eos import read_events

        return read_events
    if source == "sigma":
        from passerelle.sources.sigma import read_workbook

        return read_workbook
    raise KeyError(f"no reader for {source}/{kind}")


def read_extract(source: str, kind: str, inbox: Path, day: date) -> ExtractRead:
    """The newest ``<source>_<kind>_<YYYYMMDD>`` extract dated on or before ``day``, read.

    A missing extract is a DQ000 error on the source (nothing to read, the previous
    publication of its sessions is kept); it is not a crash.
    """
    path = find_extracts(Path(inbox), day)[(source, kind)]
    read = _reader(source, kind)(path)
    read.extract_date = extract_date_of(path)
    if path is None:
        c = FindingCollector(source, "")
        c.add(
            "DQ000",
            "error",
            f"Aucun extrait « {source}_{kind}_AAAAMMJJ » daté du {day:%d/%m/%Y} ou avant n'a été trouvé "
            f"dans le dossier de dépôt : les sessions de cette source déjà publiées sont conservées telles quelles.",
        )
        read.findings = concat_findings([read.findings, c.frame()])
        read.ok = False
    return read
