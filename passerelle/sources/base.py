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

# <source>_<kind>_<YYYYMMDD>.<ext>
EXTRACT_NAME = re.compile(r"^(?P<source>[a-z]+)_(?P<kind>[a-z]+)_(?P<date>\d{8})\.(?P<ext>[A-Za-z0-9]+)$")

# (source, kind) -> expected extension. The inbox contract of sources.md.
EXTRACT_KINDS: dict[tuple[str, str], str] = {
    ("sam", "offre"): "xml",
    ("eos", "sessions"): "csv",
    ("eos", "evenements"): "csv",
    ("sigma", "actions"): "xlsx",
}


FORMACODE_VERSION_DEFAULT = "V14"
_FORMACODE_VERSION = re.compile(r"V\d{1,2}")


def formacode_version(source: str) -> str:
    """The FORMACODE version the codes of ``source`` are written in (LHEO ``code-FORMACODE@ref``):
    ``V14`` unless ``PASSERELLE_FORMACODE_VERSION_<SOURCE>`` says otherwise (e.g.
    ``PASSERELLE_FORMACODE_VERSION_SIGMA=V13`` for a financer still on the previous version)."""
    import os

    name = f"PASSERELLE_FORMACODE_VERSION_{source.upper()}"
    value = os.environ.get(name, "").strip().upper() or FORMACODE_VERSION_DEFAULT
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


def parse_extract_name(name: str) -> ExtractFile | None:
    """``eos_sessions_20221003.csv`` -> ExtractFile, or None when the name is not an extract's."""
    m = EXTRACT_NAME.match(name)
    if not m:
        return None
    try:
        d = date(int(m["date"][:4]), int(m["date"][4:6]), int(m["date"][6:]))
    except ValueError:
        return None
    return ExtractFile(m["source"], m["kind"], d, Path(name))


def find_extracts(inbox: Path, day: date) -> dict[tuple[str, str], Path | None]:
    """Per (source, kind) of the contract, the newest extract dated on or before ``day``.

    Only regular files directly inside ``inbox`` are considered (no recursion, no symlink
    followed outside the inbox). Kinds without an extract map to None.
    """
    inbox = Path(inbox)
    found: dict[tuple[str, str], tuple[date, Path]] = {}
    if inbox.is_dir():
        root = inbox.resolve()
        for p in sorted(inbox.iterdir()):
            ef = parse_extract_name(p.name)
            if ef is None or (ef.source, ef.kind) not in EXTRACT_KINDS:
                continue
            # the contract's extension only: a stray "eos_sessions_20261119.bak" sorts before
            # the ".csv" of the same date and would otherwise be read in its place
            if p.suffix.lstrip(".").lower() != EXTRACT_KINDS[(ef.source, ef.kind)]:
                continue
            if ef.extract_date > day:
                continue
            if p.is_symlink() or not p.is_file() or p.resolve().parent != root:
                continue
            key = (ef.source, ef.kind)
            if key not in found or ef.extract_date > found[key][0]:
                found[key] = (ef.extract_date, p)
    return {key: (found[key][1] if key in found else None) for key in EXTRACT_KINDS}


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
