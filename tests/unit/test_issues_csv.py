"""issues.csv: header, quoting, order, round trip."""

from __future__ import annotations

import csv
import io

from passerelle.findings import FindingCollector, concat_findings, findings_frame
from passerelle.model import ISSUES_CSV_COLUMNS
from passerelle.rules.issues_csv import issues_csv_text, write_issues_csv

HEADER = "rule,severity,source,file,line,session_key,field,value,message"


def sample_findings():
    eos = FindingCollector("eos", "eos_sessions_20261119.csv")
    eos.add(
        "DQ009",
        "error",
        "« Contact tél » = « 04, 73 » n'est pas valide.",
        line=22,
        session_key="eos:184224",
        field="Contact tél",
        value="04, 73",
    )
    eos.add(
        "DQ001",
        "error",
        'Dit "hors période"\nsur deux lignes',
        line=14,
        session_key="eos:184216",
        field="Date fin session",
        value='15/09/2027 "fin"',
    )
    eos.add("DQ000", "info", "Colonne inconnue « Commentaire interne » ignorée.", line=1, field="Commentaire interne")
    sigma = FindingCollector("sigma", "sigma_actions_20261119.xlsx", sheet="Sessions")
    sigma.add(
        "DQ015",
        "error",
        "Code postal « 3450 » : 5 chiffres attendus.",
        line=5,
        session_key="sigma:26P0001234_AGRI_1:01:04",
        field="Lieu de la session",
        value="3450",
    )
    whole = FindingCollector("sam", "sam_offre_20261119.xml")
    whole.add("DQ000", "error", "Fichier XML mal formé.")  # no line
    return concat_findings([sigma.frame(), eos.frame(), whole.frame()])


def test_header_and_empty_file(tmp_path):
    path = tmp_path / "quality" / "issues.csv"
    assert write_issues_csv(findings_frame(), path) == 0
    assert path.read_bytes() == (HEADER + "\n").encode("utf-8")
    assert issues_csv_text(None) == HEADER + "\n"
    assert HEADER.split(",") == ISSUES_CSV_COLUMNS


def test_round_trip_with_commas_quotes_and_newlines(tmp_path):
    findings = sample_findings()
    path = tmp_path / "issues.csv"
    assert write_issues_csv(findings, path) == 5
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")  # no BOM
    assert b"\r\n" not in raw  # LF line ends
    text = raw.decode("utf-8")
    assert text.splitlines()[0] == HEADER
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ISSUES_CSV_COLUMNS
    body = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert len(body) == 5
    by_rule = {r["rule"] + r["line"]: r for r in body}
    dq001 = by_rule["DQ00114"]
    assert dq001["value"] == '15/09/2027 "fin"'
    assert dq001["message"] == 'Dit "hors période"\nsur deux lignes'
    assert by_rule["DQ00922"]["value"] == "04, 73"
    # quoting only where needed
    assert '"04, 73"' in text and '"15/09/2027 ""fin"""' in text
    assert ",DQ015," not in text and "\nDQ015,error,sigma," in text


def test_rows_sorted_by_place_then_rule_and_unknown_line_empty():
    rows = list(csv.reader(io.StringIO(issues_csv_text(sample_findings()), newline="")))[1:]
    places = [(r[2], r[3], r[4], r[0]) for r in rows]
    assert places == [
        ("eos", "eos_sessions_20261119.csv", "1", "DQ000"),
        ("eos", "eos_sessions_20261119.csv", "14", "DQ001"),
        ("eos", "eos_sessions_20261119.csv", "22", "DQ009"),
        ("sam", "sam_offre_20261119.xml", "", "DQ000"),
        ("sigma", "sigma_actions_20261119.xlsx", "5", "DQ015"),
    ]
    # empty session key / field / value are empty cells
    sam = rows[3]
    assert sam[5] == "" and sam[6] == "" and sam[7] == ""


def test_line_numbers_sort_numerically_and_output_is_deterministic():
    c = FindingCollector("eos", "f.csv")
    for line in (10, 9, 100, 2):
        c.add("DQ006", "error", "m", line=line, session_key=f"eos:{line}")
    f = c.frame()
    text = issues_csv_text(f)
    lines = [r[4] for r in csv.reader(io.StringIO(text, newline=""))][1:]
    assert lines == ["2", "9", "10", "100"]
    assert issues_csv_text(f.iloc[::-1]) == text


def test_workbook_findings_name_their_sheet_in_field():
    c = FindingCollector("sigma", "sigma_actions_20261119.xlsx", sheet="Sessions")
    c.add("DQ006", "error", "La session finit avant son début.", line=7, field="Date fin", value="01/01/2027")
    c.add("DQ000", "error", "Feuille absente.", sheet="Informations collectives")
    rows = list(csv.DictReader(io.StringIO(issues_csv_text(c.frame()))))
    fields = {r["rule"]: r["field"] for r in rows}
    assert fields["DQ006"] == "Sessions › Date fin"
    assert fields["DQ000"] == "Informations collectives"
    assert {r["file"] for r in rows} == {"sigma_actions_20261119.xlsx"}


def test_values_that_a_spreadsheet_would_run_are_neutralised():
    c = FindingCollector("eos", "eos_sessions_20261119.csv")
    c.add("DQ009", "error", "Téléphone invalide.", line=3, field="Contact tél", value='=HYPERLINK("http://x","y")')
    c.add("DQ009", "error", "Téléphone invalide.", line=4, field="Contact tél", value="+33 abc")
    rows = list(csv.DictReader(io.StringIO(issues_csv_text(c.frame()))))
    assert [r["value"] for r in rows] == ['\'=HYPERLINK("http://x","y")', "'+33 abc"]
