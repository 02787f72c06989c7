"""One contract, every reader: what ``sources/base.py`` promises of a reader, checked the same way
on each source the registry declares (tabular ones in depth: EOS sessions, EOS events, SIGMA).

- a reader never raises on bad input; an empty or unreadable file is one DQ000 error on the
  file, ``ok`` False;
- a missing key column rejects the file (or the sheet): a DQ000 error naming the column, every
  row in quarantine;
- an unreadable cell is a DQ000 error naming the line and the column, the record is kept;
- a duplicate key keeps the first row, quarantines the later one with a DQ000 error naming the
  line of the first;
- row conservation: per (file, sheet), rows read = records + quarantined rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from passerelle.ingest import read_path
from passerelle.sources import registry
from tests.unit import test_eos as E
from tests.unit import test_sigma as S

ROW_TABLES = ("formations", "actions", "sessions", "events")


def assert_conservation(read) -> None:
    q = read.quarantine
    for sheet, n in read.rows_read.items():
        in_tables = sum(
            int((t["source_sheet"].fillna("") == sheet).sum())
            for name, t in read.tables.items()
            if name in ROW_TABLES and "source_sheet" in t
        )
        in_q = int((q["source_sheet"].fillna("") == sheet).sum()) if len(q) else 0
        assert n == in_tables + in_q, (read.file, sheet, n, in_tables, in_q)


def dq000_errors(read) -> pd.DataFrame:
    f = read.findings
    return f[(f["rule"] == "DQ000") & (f["severity"] == "error")]


# --- every reader of the registry: no file, empty file, not its format --------------------------


def _every_kind():
    for s in registry.sources():
        for k in s.kinds:
            kind = "producteur" if s.per_producer else k.name
            name = f"{s.name}_{kind}_20261119.{k.extensions[0]}"
            yield pytest.param(s.name, kind, name, id=f"{s.name}-{kind}")


@pytest.mark.parametrize(("source", "kind", "name"), list(_every_kind()))
@pytest.mark.parametrize("content", [b"", b"\x00\x01garbage\xff\xfe not an extract"], ids=["empty", "garbage"])
def test_an_empty_or_unreadable_file_is_one_file_error(tmp_path, source, kind, name, content):
    p = tmp_path / name
    p.write_bytes(content)
    read = read_path(source, kind, p)
    assert read.file == name
    assert not read.ok
    errors = dq000_errors(read)
    assert len(errors) >= 1
    assert errors["message"].str.len().min() > 20  # a French sentence, not a code
    assert_conservation(read)
    spec = registry.spec(source)
    assert read.source == spec.identity(kind)


# --- the tabular readers in depth ----------------------------------------------------------------


@dataclass
class Case:
    source: str
    kind: str
    write: Callable[[Path, str], Path]  # (tmp, variant) -> file; variants below
    key_column: str
    bad_field: str
    sheet: str  # "" for CSV
    duplicates: bool = True  # duplicate keys are the reader's concern (EOS events: keyed later)


def _eos_sessions(tmp: Path, variant: str) -> Path:
    rows = [E.clean_row("184201"), E.clean_row("184202")]
    header = list(E.HEADER)
    if variant == "bad_cell":
        rows[1]["Date début session"] = "32/13/27"
    elif variant == "duplicate":
        rows[1]["Identifiant EOS"] = "184201"
    elif variant == "missing_key":
        header.remove("Identifiant EOS")
    return E.write(tmp, E.csv_text(rows, header=header))


def _eos_events(tmp: Path, variant: str) -> Path:
    rows = [E.ev("184201"), E.ev("184202")]
    header = list(E.EVENT_HEADER)
    if variant == "bad_cell":
        rows[1]["Date de début"] = "32/13/2026"
    elif variant == "missing_key":
        header.remove("Identifiant EOS")
    return E.write(tmp, E.csv_text(rows, header=header), name="eos_evenements_20261119.csv")


def _sigma(tmp: Path, variant: str) -> Path:
    sessions = [S.session(num="01"), S.session(num="02")]
    sheets = S.book(sessions=sessions)
    headers, rows = sheets["Sessions"]
    if variant == "bad_cell":
        rows[1][headers.index("Date début")] = "32/13/2027"
    elif variant == "duplicate":
        rows[1][headers.index("Num. de session")] = "01"
    elif variant == "missing_key":
        i = headers.index("Num. de session")
        sheets["Sessions"] = (
            [h for j, h in enumerate(headers) if j != i],
            [[v for j, v in enumerate(r) if j != i] for r in rows],
        )
    return S.write(tmp, sheets)


CASES = [
    pytest.param(
        Case("eos", "sessions", _eos_sessions, "Identifiant EOS", "Date début session", ""), id="eos-sessions"
    ),
    pytest.param(
        Case("eos", "evenements", _eos_events, "Identifiant EOS", "Date de début", "", duplicates=False),
        id="eos-evenements",
    ),
    pytest.param(Case("sigma", "actions", _sigma, "Num. de session", "Date début", "Sessions"), id="sigma"),
]


def _table(case: Case) -> str:
    return "events" if case.kind == "evenements" else "sessions"


@pytest.mark.parametrize("case", CASES)
def test_good_file_reads_every_row(tmp_path, case):
    read = read_path(case.source, case.kind, case.write(tmp_path, "good"))
    assert read.ok and read.extract_date == date(2026, 11, 19)
    assert len(read.tables[_table(case)]) == 2
    assert dq000_errors(read).empty
    assert_conservation(read)


@pytest.mark.parametrize("case", CASES)
def test_missing_key_column_rejects_and_names_it(tmp_path, case):
    read = read_path(case.source, case.kind, case.write(tmp_path, "missing_key"))
    errors = dq000_errors(read)
    assert errors["field"].fillna("").str.contains(case.key_column, regex=False).any(), errors[["field", "message"]]
    assert case.key_column in " ".join(errors["message"])
    table = read.tables[_table(case)]
    assert len(table[table["source_sheet"].fillna("") == case.sheet]) == 0
    q = read.quarantine
    assert int((q["source_sheet"].fillna("") == case.sheet).sum()) == 2
    assert_conservation(read)


@pytest.mark.parametrize("case", CASES)
def test_unreadable_cell_names_line_and_field_and_keeps_the_record(tmp_path, case):
    read = read_path(case.source, case.kind, case.write(tmp_path, "bad_cell"))
    errors = dq000_errors(read)
    on_cell = errors[(errors["field"] == case.bad_field) & (errors["line"] == 3)]
    assert len(on_cell) == 1, errors[["line", "field", "message"]]
    assert "32/13" in str(on_cell["value"].iloc[0])
    assert len(read.tables[_table(case)]) == 2  # the record is kept, the value null
    assert_conservation(read)


@pytest.mark.parametrize("case", [c for c in CASES if c.values[0].duplicates])
def test_duplicate_key_keeps_the_first_and_names_its_line(tmp_path, case):
    read = read_path(case.source, case.kind, case.write(tmp_path, "duplicate"))
    q = read.quarantine
    assert len(q) == 1 and int(q["source_line"].iloc[0]) == 3
    assert "2" in q["reason"].iloc[0] and "double" in q["reason"].iloc[0]
    errors = dq000_errors(read)
    assert (errors["line"] == 3).sum() == 1
    assert len(read.tables[_table(case)]) == 1
    assert_conservation(read)


def test_xml_reader_duplicate_key_follows_the_same_contract(tmp_path):
    """SAM: a second action with the same dossier, lot and numero is quarantined naming the
    line of the first, the first kept (the shared duplicate detection)."""
    from tests.unit import test_sam as M

    doc = M.single_action_doc()
    action = doc[doc.index("      <action ") : doc.index("</action>") + len("</action>")]
    doc = doc.replace(action, action + "\n" + action.replace("Agent thermal", "Agent thermal bis"))
    p = M.write(tmp_path, doc)
    read = read_path("sam", "offre", p)
    first, second = M.action_start_lines(doc)
    q = read.quarantine
    assert len(q) == 1 and int(q["source_line"].iloc[0]) == second
    assert "double" in q["reason"].iloc[0] and f"ligne {first}" in q["reason"].iloc[0]
    assert len(read.tables["formations"]) == 1
    assert (dq000_errors(read)["line"] == second).sum() == 1
    assert_conservation(read)


# --- one normalisation --------------------------------------------------------------------------


def test_one_normalisation_for_headers_and_labels():
    from passerelle.sources import eos, sigma, tabular

    assert eos._norm is tabular.norm and sigma._norm is tabular.norm
    for a, b in (
        ("N° Action", "nº  action"),
        ("En attente d'émission", "EN ATTENTE D’EMISSION"),
        ("Date début session", "date debut\u00a0session"),
    ):
        assert tabular.norm(a) == tabular.norm(b), (a, b)
    assert tabular.header_candidates(["Ville", "ville", "VILLE "], "Ville") == [0, 1, 2]
    assert tabular.header_candidates(["", "Code postal"], "Ville") == []
