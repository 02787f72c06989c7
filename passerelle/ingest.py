"""Read the extracts of a date: find the files in the inbox, call each source's declared reader."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from passerelle.findings import FindingCollector, concat_findings
from passerelle.sources.base import ExtractRead, extract_date_of, find_extracts


def _reader(source: str, kind: str):
    from passerelle.sources.registry import kind_of

    k = kind_of(source, kind)
    if k is None:
        raise KeyError(f"no reader for {source}/{kind}")
    return k.reader


def _relabel(read: ExtractRead, identity: str) -> None:
    """Records of a per-producer source carry the producer's identity (``lheo:<producer>``):
    each producer is a source of its own for the life of its sessions and the counts."""
    read.source = identity
    for name, df in list(read.tables.items()):
        if "source" in df.columns and len(df):
            read.tables[name] = df.assign(source=pd.Series(identity, index=df.index, dtype=df["source"].dtype))
    for attr in ("quarantine", "findings"):
        df = getattr(read, attr)
        if df is not None and "source" in df.columns and len(df):
            setattr(read, attr, df.assign(source=pd.Series(identity, index=df.index, dtype=df["source"].dtype)))


def read_path(source: str, kind: str, path: Path | None) -> ExtractRead:
    """Read ``path`` (an extract of ``source``/``kind``, or None when the inbox has none)."""
    from passerelle.sources.registry import spec

    read = _reader(source, kind)(path)
    read.extract_date = extract_date_of(path)
    declared = spec(source)
    if declared is not None and declared.per_producer:
        _relabel(read, declared.identity(kind))
    return read


def read_extract(source: str, kind: str, inbox: Path, day: date) -> ExtractRead:
    """The newest ``<source>_<kind>_<YYYYMMDD>`` extract dated on or before ``day``, read.

    A missing extract is a DQ000 error on the source (nothing to read, the previous
    publication of its sessions is kept); it is not a crash.
    """
    path = find_extracts(Path(inbox), day).get((source, kind))
    read = read_path(source, kind, path)
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


def read_producers(source: str, inbox: Path, day: date) -> list[ExtractRead]:
    """Every producer's newest extract of the per-producer ``source`` dated on or before
    ``day``, read (none in the inbox: an empty list, nothing is missing)."""
    found = find_extracts(Path(inbox), day)
    return [read_path(s, kind, path) for (s, kind), path in sorted(found.items()) if s == source and path]


def read_day(inbox: Path, day: date) -> list[ExtractRead]:
    """Every extract of ``day``, in the registry's order (what a daily run reads)."""
    from passerelle.sources.registry import sources

    reads: list[ExtractRead] = []
    for s in sources():
        if s.per_producer:
            reads += read_producers(s.name, inbox, day)
        else:
            reads += [read_extract(s.name, k.name, inbox, day) for k in s.kinds]
    return reads
