"""What every source reader returns, and how the inbox is searched for extracts.

A reader is a plain function ``read(path: Path | None, extract_date: date) -> ExtractRead``.
It never raises on bad input: a file-level failure becomes one ``DQ000`` finding on the file
and an ``ExtractRead`` with empty tables (``ok=False``); a bad row goes to quarantine or keeps
a null value with a finding naming the line and the field.

Row conservation: for each (file, sheet), ``rows_read[sheet]`` equals the number of canonical
records that came from that sheet's rows plus the number of quarantined rows.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from passerelle.findings import findings_frame
from passerelle.model import QUARANTINE, empty_frame

# <source>_<kind>_<YYYYMMDD>.<ext>; which (source, kind) and extension make an extract is
# declared by each source (passerelle.sources.registry)
EXTRACT_NAME = re.compile(
    r"^(?P<source>[a-z]+)_(?P<kind>[a-z][a-z0-9]*)_(?P<date>\d{8})\.(?P<ext>[A-Za-z0-9]+(?:\.gz)?)$"
)


FORMACODE_VERSION_DEFAULT = "V14"
_FORMACODE_VERSION = re.compile(r"V\d{1,2}")


def formacode_version(source: str) -> str:
    """The FORMACODE version the codes of ``source`` are written in (LHEO ``code-FORMACODE@ref``):
    ``V14`` unless ``PASSERELLE_FORMACODE_VERSION_<SOURCE>`` says otherwise (e.g.
    ``PASSERELLE_FORMACODE_VERSION_SIGMA=V13`` for a financer still on the previous version)."""
    import os

    from passerelle.sources.registry import spec

    declared = spec(source)
    name = f"PASSERELLE_FORMACODE_VERSION_{source.split(':', 1)[0].upper()}"
    default = declared.formacode_default if declared is not None else FORMACODE_VERSION_DEFAULT
    value = os.environ.get(name, "").strip().upper() or default
    if not _FORMACODE_VERSION.fullmatch(value):
        raise ValueError(f"{name}={value!r} : une version du FORMACODE s'écrit V suivi de son numéro (V13, V14).")
    return value


@dataclass
class ExtractRead:
    """The outcome of reading one extract file."""

    source: str
    kind: str
    file: str | None  # file name, None when no extract of this kind is in the inbox
    sha256: str | None = None
    encoding: str | None = None
    extract_date: date | None = None  # from the file name
    ok: bool = True  # False when the file failed its contract as a whole (DQ000)
    rows_read: dict[str, int] = field(default_factory=dict)  # sheet ("" for CSV/XML) -> data rows
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # "formations" | "actions" | "sessions" | "events"
    quarantine: pd.DataFrame = field(default_factory=lambda: empty_frame(QUARANTINE))
    findings: pd.DataFrame = field(default_factory=findings_frame)
    # Lines of parent elements that are no canonical record of their own (SAM <marche>, <lot>):
    # file, sheet, line, formation_key, label (French name of the element). See passerelle.parents.
    parent_lines: pd.DataFrame | None = None

    @property
    def rows(self) -> int:
        return sum(self.rows_read.values())

    def table(self, name: str) -> pd.DataFrame | None:
        return self.tables.get(name)

    def release_tables(self) -> None:
        """Drop the records once the canonical tables hold them (the file, the counts, the
        findings and the quarantine stay): an in-process run keeps every step's output until it
        ends, and at a million sessions the per-source tables are another gigabyte."""
        self.tables = {}


@dataclass(frozen=True)
class ExtractFile:
    source: str
    kind: str
    extract_date: date
    path: Path
    ext: str = ""  # lower case, "xml.gz" for a gzipped XML

    def declared(self) -> bool:
        """A kind of extract some source declares, with its declared extension (a stray
        ``eos_sessions_20261119.bak`` is not an extract)."""
        from passerelle.sources.registry import kind_of

        k = kind_of(self.source, self.kind)
        return k is not None and self.ext in k.extensions


def parse_extract_name(name: str) -> ExtractFile | None:
    """``eos_sessions_20221003.csv`` -> ExtractFile, or None when the name is not an extract's."""
    m = EXTRACT_NAME.match(name)
    if not m:
        return None
    try:
        d = date(int(m["date"][:4]), int(m["date"][4:6]), int(m["date"][6:]))
    except ValueError:
        return None
    return ExtractFile(m["source"], m["kind"], d, Path(name), m["ext"].lower())


def find_extracts(inbox: Path, day: date) -> dict[tuple[str, str], Path | None]:
    """Per (source, kind), the newest extract dated on or before ``day``.

    Every fixed kind the registry declares is a key (None when the inbox has none of it); a
    per-producer source adds one key per producer found (``("lheo", "intercarif")``). Only
    regular files directly inside ``inbox`` are considered (no recursion, no symlink followed
    outside the inbox).
    """
    from passerelle.sources.registry import fixed_kinds

    inbox = Path(inbox)
    found: dict[tuple[str, str], tuple[date, Path]] = {}
    if inbox.is_dir():
        root = inbox.resolve()
        for p in sorted(inbox.iterdir()):
            ef = parse_extract_name(p.name)
            # the declared extension only: a stray "eos_sessions_20261119.bak" sorts before
            # the ".csv" of the same date and would otherwise be read in its place
            if ef is None or not ef.declared():
                continue
            if ef.extract_date > day:
                continue
            if p.is_symlink() or not p.is_file() or p.resolve().parent != root:
                continue
            key = (ef.source, ef.kind)
            if key not in found or ef.extract_date > found[key][0]:
                found[key] = (ef.extract_date, p)
    out: dict[tuple[str, str], Path | None] = {}
    for s, k in fixed_kinds():
        out[(s.name, k.name)] = found[(s.name, k.name)][1] if (s.name, k.name) in found else None
    for key in sorted(found):
        if key not in out:
            out[key] = found[key][1]
    return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def extract_date_of(path: Path | None) -> date | None:
    if path is None:
        return None
    ef = parse_extract_name(Path(path).name)
    return ef.extract_date if ef else None
