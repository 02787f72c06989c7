"""EOS reader: the contract of sources.md §2, its warts and its failures."""

from __future__ import annotations

import json
from datetime import date
from functools import cache
from pathlib import Path

import pandas as pd
import pytest

from passerelle import model
from passerelle.sources import eos, text

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"
FIXTURES = ROOT / "tests" / "data" / "eos"

HEADER = list(eos.SESSION_COLUMNS)


@cache
def sample(name: str):
    """Read a sample extract once per test session (the readers never mutate their result)."""
    reader = eos.read_sessions if name.startswith("eos_sessions") else eos.read_events
    return reader(SAMPLES / name)


def clean_row(ident: str = "184201", **over) -> dict:
    row = {
        "Dossier": "2026C007314701",
        "Lot": "147",
        "Intitulé du lot": "Métiers du thermalisme",
        "Programme": "Former Pour l'Emploi 2026-2029",
        "Date début lot": "05/01/2026",
        "Date fin lot": "31/12/2026",
        "Fin exéc.": "30/06/2027",
        "N° marché": "M2614701",
        "Identifiant EOS": ident,
        "N° ses.": "1",
        "N° BC": "BC-01",
        "Action": "1 - Agent thermal - Titre Agent thermal",
        "Oblig/Facul/Suppl": "O",
        "Libellé grand public": "",
        "Organisme formateur": "HECATE FORMATION",
        "SIRET formateur": "443 061 841 00047",
        "N° voie": "12",
        "Bis/Ter": "bis",
        "Nature voie": "rue",
        "Nom voie": "Blatin",
        "Complément d'adresse": "Bâtiment B",
        "Code postal": "63000",
        "Ville": "Clermont-Ferrand",
        "Code INSEE": "63113",
        "Lieu": "Clermont-Ferrand",
        "Durée moy stg Cent": "364",
        "Durée moy stg Ent.": "210",
        "Eff. visé tot.": "10",
        "Eff. min. MO": "6",
        "Eff. visé région.": "10",
        "Eff. visé PE": "0",
        "nb Stagiaires.": "4",
        "Vol H Cent tot.": "3640,00",
        "Vol H Ent. tot.": "2100,00",
        "Date début prescr.": "01/12/26",
        "Date fin prescr.": "08/01/27",
        "Date début session": "11/01/27",
        "Date fin session": "28/05/27",
        "Type entrée": "Entrées/Sorties fixes",
        "Etat session": "Validée",
        "Session annulée": "",
        "Date état": "12/11/26",
        "Contact nom": "Mme Sandrine Coulomb",
        "Contact tél": "04 73 19 36 38",
        "Contact mail": "recrutement@hecate-formation.fr",
        "Etat recrutement": "Ouvert",
    }
    row.update(over)
    return row


def csv_text(rows: list[dict], header: list[str] | None = None, eol: str = "\r\n", trailing: str = "") -> str:
    header = header or HEADER

    def cell(v: str) -> str:
        return '"' + v.replace('"', '""') + '"' if any(c in v for c in ';"\r\n') else v

    lines = [";".join(header) + trailing]
    lines += [";".join(cell(r.get(h, "")) for h in header) + trailing for r in rows]
    return eol.join(lines) + eol


def write(
    tmp_path: Path, content: str | bytes, name: str = "eos_sessions_20261119.csv", encoding: str = "cp1252"
) -> Path:
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return p


def sessions_of(read) -> pd.DataFrame:
    return read.tables["sessions"]


def assert_conserved(read, table: str = "sessions") -> None:
    assert read.rows_read.get("", 0) == len(read.tables[table]) + len(read.quarantine)


def assert_conforms(read, table: str = "sessions") -> None:
    schema = model.SESSIONS if table == "sessions" else model.EVENTS
    model.conform(read.tables[table], schema)
    model.conform(read.quarantine, model.QUARANTINE)
    model.conform(read.findings, model.FINDINGS)


def findings(read, rule: str | None = None, severity: str | None = None) -> pd.DataFrame:
    f = read.findings
    if rule:
        f = f[f["rule"] == rule]
    if severity:
        f = f[f["severity"] == severity]
    return f


# --- a clean file -----------------------------------------------------------------------------


def test_clean_row_maps_every_field(tmp_path):
    r = eos.read_sessions(write(tmp_path, csv_text([clean_row()])))
    assert r.ok and r.source == "eos" and r.kind == "sessions"
    assert r.file == "eos_sessions_20261119.csv" and r.extract_date == date(2026, 11, 19)
    assert r.encoding == "cp1252" and len(r.sha256) == 64
    assert r.rows_read == {"": 1}
    assert len(r.findings) == 0
    s = sessions_of(r).iloc[0]
    assert s["session_key"] == "eos:184201" and s["source_session_id"] == "184201"
    assert s["formation_key"] == "sam:2026C007314701:147:1"
    assert s["action_key"] == "eos:2026C007314701:147:1:44306184100047:63000"
    assert s["source"] == "eos" and s["source_file"] == "eos_sessions_20261119.csv"
    assert s["source_sheet"] == "" and s["source_line"] == 2
    assert s["action_number"] == "1" and s["title"] == "Agent thermal - Titre Agent thermal"
    assert s["siret_formateur"] == "44306184100047"
    assert s["address_line"] == "12 bis rue Blatin" and s["address_complement"] == "Bâtiment B"
    assert s["postcode"] == "63000" and s["insee_code"] == "63113" and s["place_label"] == "Clermont-Ferrand"
    assert s["start_date"] == date(2027, 1, 11) and s["end_date"] == date(2027, 5, 28)
    assert s["prescription_start"] == date(2026, 12, 1) and s["prescription_end"] == date(2027, 1, 8)
    assert s["parent_period_start"] == date(2026, 1, 5) and s["parent_period_end"] == date(2027, 6, 30)
    assert s["lot_end"] == date(2026, 12, 31) and s["state_date"] == date(2026, 11, 12)
    assert s["entry_mode"] == "fixed" and s["recruitment_state"] == "open"
    assert (s["places"], s["places_min"], s["places_region"], s["places_pole_emploi"], s["trainees"]) == (
        10,
        6,
        10,
        0,
        4,
    )
    assert s["hours_centre_avg"] == 364 and s["hours_company_total"] == 2100
    assert s["workflow_state"] == "Validée" and bool(s["workflow_publishable"]) is True
    assert bool(s["cancelled"]) is False and s["financer"] == "2"
    assert s["marche_numero"] == "M2614701" and s["purchase_order"] == "BC-01" and s["obligation"] == "O"
    assert_conforms(r)


def test_no_extract_in_inbox():
    r = eos.read_sessions(None)
    assert r.ok and r.file is None and len(sessions_of(r)) == 0 and len(r.findings) == 0
    e = eos.read_events(None)
    assert e.ok and e.file is None and len(e.tables["events"]) == 0


def test_contract_exposes_columns_and_essentials():
    assert eos.SESSION_COLUMNS["Identifiant EOS"] == "session_key"
    assert eos.SESSION_COLUMNS["Date fin session"] == "end_date"
    assert eos.SESSION_ESSENTIAL <= set(eos.SESSION_COLUMNS)
    assert {"Identifiant EOS", "Date début session", "Date fin session", "Fin exéc."} <= eos.SESSION_ESSENTIAL
    assert "Contact mail" not in eos.SESSION_ESSENTIAL
    assert eos.EVENT_ESSENTIAL <= set(eos.EVENT_COLUMNS)


# --- encodings and line ends ------------------------------------------------------------------


@pytest.mark.parametrize(
    "encode, expected",
    [
        (lambda t: t.encode("cp1252"), "cp1252"),
        (lambda t: t.encode("utf-8"), "utf-8"),
        (lambda t: b"\xef\xbb\xbf" + t.encode("utf-8"), "utf-8-sig"),
    ],
)
def test_encodings(tmp_path, encode, expected):
    row = clean_row(
        **{"Organisme formateur": "ŒUVRE DES COMPAGNONS – Forez", "Complément d'adresse": "accès par l’entrée nord"}
    )
    r = eos.read_sessions(write(tmp_path, encode(csv_text([row]))))
    assert r.ok and r.encoding == expected
    assert len(r.findings) == 0  # the BOM does not spoil the first header "Dossier"
    s = sessions_of(r).iloc[0]
    assert s["organisme_formateur"] == "ŒUVRE DES COMPAGNONS – Forez"
    assert s["address_complement"] == "accès par l’entrée nord"
    assert s["dossier"] == "2026C007314701"


def test_cp1252_curly_apostrophe_byte_0x92(tmp_path):
    data = csv_text([clean_row(**{"Complément d'adresse": "l’entrée"})]).encode("cp1252")
    assert b"\x92" in data
    r = eos.read_sessions(write(tmp_path, data))
    assert sessions_of(r).iloc[0]["address_complement"] == "l’entrée"


def test_undecodable_byte_is_a_file_error_naming_the_line(tmp_path):
    data = csv_text([clean_row("1"), clean_row("2")]).encode("cp1252")
    data = data.replace(b"Blatin", b"Bl\x81tin", 1)  # 0x81 is undefined in cp1252, invalid in UTF-8: line 2
    r = eos.read_sessions(write(tmp_path, data))
    assert not r.ok
    f = findings(r, "DQ000", "error")
    assert len(f) == 1 and f.iloc[0]["line"] == 2 and "0x81" in f.iloc[0]["message"]
    assert len(sessions_of(r)) == 0
    assert_conserved(r)
    assert_conforms(r)


@pytest.mark.parametrize("eol", ["\r\n", "\n"])
def test_crlf_and_lf_give_the_same_result(tmp_path, eol):
    r = eos.read_sessions(write(tmp_path, csv_text([clean_row("1"), clean_row("2")], eol=eol)))
    s = sessions_of(r)
    assert list(s["source_line"]) == [2, 3]
    assert list(s["session_key"]) == ["eos:1", "eos:2"]
    assert not s["contact_email"].str.contains("\r").any()
    assert len(r.findings) == 0


# --- quoting, physical lines ------------------------------------------------------------------


def test_quoted_separator_and_line_break_keep_physical_lines(tmp_path):
    rows = [
        clean_row("1", **{"Complément d'adresse": "Bât. C ; 2ème étage\r\nentrée côté cour"}),
        clean_row("2"),
        clean_row("3", **{"Libellé grand public": 'Le "vrai" titre ;\r\nsur\r\ntrois lignes'}),
        clean_row("4"),
    ]
    r = eos.read_sessions(write(tmp_path, csv_text(rows)))
    s = sessions_of(r)
    assert list(s["source_line"]) == [2, 4, 5, 8]
    assert s.iloc[0]["address_complement"] == "Bât. C ; 2ème étage\r\nentrée côté cour"
    assert s.iloc[2]["title"] == 'Le "vrai" titre ;\r\nsur\r\ntrois lignes'
    assert s.iloc[1]["postcode"] == "63000"  # the quoted ";" did not shift the columns
    assert len(r.findings) == 0


def test_blank_lines_are_not_rows_but_count_as_lines(tmp_path):
    content = csv_text([clean_row("1")]) + "\r\n" + csv_text([clean_row("2")]).split("\r\n", 1)[1] + "\r\n\r\n"
    r = eos.read_sessions(write(tmp_path, content))
    assert r.rows_read == {"": 2}
    assert list(sessions_of(r)["source_line"]) == [2, 4]


def test_unterminated_quote_is_a_file_error(tmp_path):
    content = csv_text([clean_row("1")]) + '2026C007314701;147;"unterminated\r\n'
    r = eos.read_sessions(write(tmp_path, content))
    assert not r.ok
    f = findings(r, "DQ000", "error")
    assert len(f) == 1 and "guillemet" in f.iloc[0]["message"]


# --- formats: dates, numbers ------------------------------------------------------------------


def test_two_and_four_digit_years_everywhere(tmp_path):
    row = clean_row(
        **{
            "Date début session": "11/01/2027",
            "Date fin session": "28/05/27",
            "Date début lot": "05/01/26",
            "Fin exéc.": "30/06/2027",
        }
    )
    s = sessions_of(eos.read_sessions(write(tmp_path, csv_text([row])))).iloc[0]
    assert s["start_date"] == date(2027, 1, 11) and s["end_date"] == date(2027, 5, 28)
    assert s["parent_period_start"] == date(2026, 1, 5) and s["parent_period_end"] == date(2027, 6, 30)


def test_impossible_date_is_null_with_a_finding(tmp_path):
    r = eos.read_sessions(write(tmp_path, csv_text([clean_row(), clean_row("2", **{"Date fin session": "31/02/27"})])))
    assert r.ok
    s = sessions_of(r)
    assert pd.isna(s.iloc[1]["end_date"]) and s.iloc[0]["end_date"] == date(2027, 5, 28)
    f = findings(r, "DQ000", "error")
    assert len(f) == 1
    got = f.iloc[0]
    assert (got["line"], got["field"], got["value"], got["session_key"]) == (3, "Date fin session", "31/02/27", "eos:2")
    assert (
        got["message"] == "Date illisible dans la colonne « Date fin session » : « 31/02/27 » (format attendu jj/mm/aa)"
    )
    bad_lot = eos.read_sessions(write(tmp_path, csv_text([clean_row(**{"Fin exéc.": "2027-13-45"})])))
    assert "jj/mm/aaaa" in findings(bad_lot, "DQ000").iloc[0]["message"]


def test_decimal_comma_and_integral_decimals(tmp_path):
    row = clean_row(
        **{"Durée moy stg Cent": "52,5", "Vol H Cent tot.": "1 525,00", "nb Stagiaires.": "3,0", "Eff. visé tot.": "12"}
    )
    r = eos.read_sessions(write(tmp_path, csv_text([row])))
    s = sessions_of(r).iloc[0]
    assert s["hours_centre_avg"] == 52.5 and s["hours_centre_total"] == 1525.0 and s["trainees"] == 3
    assert len(r.findings) == 0


def test_unreadable_numbers(tmp_path):
    row = clean_row(
        **{
            "Eff. visé tot.": "12 places",
            "nb Stagiaires.": "2,5",
            "Eff. visé PE": "99999999999",
            "Durée moy stg Ent.": "dix",
        }
    )
    r = eos.read_sessions(write(tmp_path, csv_text([row])))
    s = sessions_of(r).iloc[0]
    assert (
        pd.isna(s["places"])
        and pd.isna(s["trainees"])
        and pd.isna(s["places_pole_emploi"])
        and pd.isna(s["hours_company_avg"])
    )
    f = findings(r, "DQ000", "error")
    assert set(f["field"]) == {"Eff. visé tot.", "nb Stagiaires.", "Eff. visé PE", "Durée moy stg Ent."}
    msg = f[f["field"] == "Eff. visé tot."].iloc[0]["message"]
    assert "« 12 places »" in msg and "Eff. visé tot." in msg


def test_int_parser_rejects_values_beyond_int32():
    vals, invalid = text.parse_int(pd.Series(["12", "99999999999"]))
    assert vals.iloc[0] == 12 and pd.isna(vals.iloc[1]) and list(invalid) == [False, True]


# --- header: columns by name, extras, trailing empties, missing, duplicated ------------------


def test_trailing_empty_columns_are_ignored_silently(tmp_path):
    r = eos.read_sessions(write(tmp_path, csv_text([clean_row()], trailing=";;")))
    assert r.ok and len(r.findings) == 0 and len(sessions_of(r)) == 1


def test_cells_beyond_the_header_send_the_row_to_quarantine(tmp_path):
    content = csv_text([clean_row("1"), clean_row("2")], trailing=";;")
    lines = content.split("\r\n")
    lines[2] = lines[2] + "décalé;"  # a value under no header
    r = eos.read_sessions(write(tmp_path, "\r\n".join(lines)))
    assert list(sessions_of(r)["session_key"]) == ["eos:1"]
    q = r.quarantine.iloc[0]
    assert q["source_line"] == 3 and q["rule"] == "DQ000" and "champs" in q["reason"]
    assert "décalé" in q["raw"]
    assert_conserved(r)


def test_extra_column_is_an_info_and_ignored(tmp_path):
    header = HEADER[:10] + ["Commentaire interne"] + HEADER[10:]
    row = clean_row(**{"Commentaire interne": "à relancer"})
    r = eos.read_sessions(write(tmp_path, csv_text([row], header=header)))
    assert r.ok
    f = r.findings
    assert len(f) == 1
    assert (f.iloc[0]["rule"], f.iloc[0]["severity"], f.iloc[0]["line"], f.iloc[0]["field"]) == (
        "DQ000",
        "info",
        1,
        "Commentaire interne",
    )
    assert sessions_of(r).iloc[0]["session_number"] == "1"  # columns after the extra one still read by name


def test_columns_are_matched_by_name_in_any_order_and_case(tmp_path):
    header = list(reversed(HEADER))
    renamed = {"Etat session": "ETAT SESSION", "Date début session": "Date debut  session", "N° ses.": " N° ses. "}
    row = clean_row()
    header2 = [renamed.get(h, h) for h in header]
    row2 = {renamed.get(k, k): v for k, v in row.items()}
    r = eos.read_sessions(write(tmp_path, csv_text([row2], header=header2)))
    assert r.ok and len(r.findings) == 0
    s = sessions_of(r).iloc[0]
    assert s["workflow_state"] == "Validée" and s["start_date"] == date(2027, 1, 11) and s["session_number"] == "1"


def test_missing_essential_column_rejects_the_file(tmp_path):
    header = [h for h in HEADER if h != "Date fin session"]
    r = eos.read_sessions(write(tmp_path, csv_text([clean_row("1"), clean_row("2")], header=header)))
    assert not r.ok
    f = findings(r, "DQ000", "error")
    assert list(f["field"]) == ["Date fin session"] and f.iloc[0]["line"] == 1
    assert len(sessions_of(r)) == 0
    assert len(r.quarantine) == 2 and r.quarantine["reason"].str.contains("Date fin session").all()
    assert list(r.quarantine["source_line"]) == [2, 3]
    assert json.loads(r.quarantine.iloc[0]["raw"])["Identifiant EOS"] == "1"
    assert_conserved(r)
    assert_conforms(r)


def test_missing_optional_column_is_a_warning_and_reads_empty(tmp_path):
    header = [h for h in HEADER if h != "Contact mail"]
    r = eos.read_sessions(write(tmp_path, csv_text([clean_row()], header=header)))
    assert r.ok
    f = findings(r, "DQ000", "warning")
    assert list(f["field"]) == ["Contact mail"]
    assert pd.isna(sessions_of(r).iloc[0]["contact_email"])


def test_header_only_is_ok_with_zero_rows(tmp_path):
    r = eos.read_sessions(write(tmp_path, ";".join(HEADER) + ";;\r\n"))
    assert r.ok and r.rows_read == {"": 0} and len(sessions_of(r)) == 0 and len(r.findings) == 0
    assert_conforms(r)


@pytest.mark.parametrize("content", [b"", b"\r\n", b"   \r\n\r\n"])
def test_empty_file_is_a_file_error(tmp_path, content):
    r = eos.read_sessions(write(tmp_path, content))
    assert not r.ok
    assert len(findings(r, "DQ000", "error")) == 1
    assert r.rows_read == {"": 0}
    assert_conserved(r)


def test_wrong_separator_is_a_file_error(tmp_path):
    content = csv_text([clean_row("1")]).replace(";", ",")
    r = eos.read_sessions(write(tmp_path, content))
    assert not r.ok
    f = findings(r, "DQ000", "error")
    assert len(f) == 1 and "Séparateur" in f.iloc[0]["message"]
    assert len(sessions_of(r)) == 0 and len(r.quarantine) == 1
    assert_conserved(r)


def test_tab_separator_is_a_file_error(tmp_path):
    content = csv_text([clean_row("1")]).replace(";", "\t")
    r = eos.read_sessions(write(tmp_path, content))
    assert not r.ok and "Séparateur" in findings(r, "DQ000", "error").iloc[0]["message"]


def test_duplicated_header_is_a_file_error(tmp_path):
    header = HEADER + ["Lot"]
    r = eos.read_sessions(write(tmp_path, csv_text([clean_row("1")], header=header)))
    assert not r.ok
    f = findings(r, "DQ000", "error")
    assert list(f["field"]) == ["Lot"]
    assert len(r.quarantine) == 1
    assert_conserved(r)


# --- keys and quarantine ----------------------------------------------------------------------


def test_duplicate_identifiant_quarantines_the_later_row(tmp_path):
    rows = [clean_row("184201"), clean_row("184202"), clean_row("184201", **{"N° ses.": "9"})]
    r = eos.read_sessions(write(tmp_path, csv_text(rows)))
    s = sessions_of(r)
    assert list(s["session_key"]) == ["eos:184201", "eos:184202"] and s.iloc[0]["session_number"] == "1"
    q = r.quarantine
    assert len(q) == 1
    assert (q.iloc[0]["source_line"], q.iloc[0]["session_key"], q.iloc[0]["kind"], q.iloc[0]["rule"]) == (
        4,
        "eos:184201",
        "session",
        "DQ000",
    )
    assert "ligne 2" in q.iloc[0]["reason"]
    assert json.loads(q.iloc[0]["raw"])["N° ses."] == "9"
    f = findings(r, "DQ000", "error")
    assert list(f["line"]) == [4]
    assert_conserved(r)
    assert_conforms(r)


@pytest.mark.parametrize("ident", ["abc", "12.5", "", "1 234"])
def test_bad_identifiant_goes_to_quarantine(tmp_path, ident):
    r = eos.read_sessions(write(tmp_path, csv_text([clean_row("7"), clean_row(ident)])))
    assert r.ok
    assert list(sessions_of(r)["session_key"]) == ["eos:7"]
    q = r.quarantine.iloc[0]
    assert q["source_line"] == 3 and "Identifiant EOS" in q["reason"] and pd.isna(q["session_key"])
    assert len(findings(r, "DQ000", "error")) == 1
    assert_conserved(r)


def test_identifiant_is_stripped_and_normalised(tmp_path):
    r = eos.read_sessions(write(tmp_path, csv_text([clean_row(" 00184201 ")])))
    assert sessions_of(r).iloc[0]["session_key"] == "eos:184201"


# --- field mappings ---------------------------------------------------------------------------


def test_lot_action_title_address_postcode(tmp_path):
    rows = [
        clean_row(
            "1",
            Lot="5",
            Action="3 - Titre professionnel Assistant de vie aux familles",
            **{"Bis/Ter": "", "Code postal": "3200"},
        ),
        clean_row("2", Lot="005", Action="Agent thermal", **{"Libellé grand public": "Devenir agent thermal"}),
        clean_row(
            "3",
            **{
                "Code postal": "03200",
                "Nom voie": "des   États-Unis",
                "N° voie": "",
                "Bis/Ter": "",
                "Nature voie": "boulevard",
            },
        ),
    ]
    r = eos.read_sessions(write(tmp_path, csv_text(rows)))
    s = sessions_of(r)
    assert list(s["lot"]) == ["005", "005", "147"]
    assert s.iloc[0]["action_number"] == "3" and s.iloc[0]["formation_key"] == "sam:2026C007314701:005:3"
    assert s.iloc[0]["title"] == "Titre professionnel Assistant de vie aux familles"
    assert s.iloc[0]["address_line"] == "12 rue Blatin"
    assert s.iloc[0]["postcode"] == "3200"  # not padded: DQ015 reports it
    assert s.iloc[0]["action_key"] == "eos:2026C007314701:005:3:44306184100047:3200"
    assert pd.isna(s.iloc[1]["action_number"]) and s.iloc[1]["title"] == "Devenir agent thermal"
    assert s.iloc[1]["formation_key"] == "sam:2026C007314701:005:"
    f = findings(r, "DQ000", "error")
    assert list(f["field"]) == ["Action"] and list(f["line"]) == [3] and "Agent thermal" in f.iloc[0]["message"]
    assert s.iloc[2]["address_line"] == "boulevard des États-Unis" and s.iloc[2]["postcode"] == "03200"
    assert_conserved(r)


def test_states_and_enumerations(tmp_path):
    rows = [
        clean_row("1", **{"Etat session": "validée  of", "Etat recrutement": "FERMÉ", "Session annulée": "oui"}),
        clean_row(
            "2",
            **{
                "Etat session": "A finaliser",
                "Etat recrutement": "Suspendu",
                "Type entrée": "Entrées/Sorties permanentes",
            },
        ),
        clean_row(
            "3",
            **{
                "Etat session": "Brouillon",
                "Etat recrutement": "Peut-être",
                "Session annulée": "Non",
                "Type entrée": "Au fil de l'eau",
            },
        ),
        clean_row("4", **{"Etat session": "Transmise", "Etat recrutement": "", "Session annulée": ""}),
    ]
    r = eos.read_sessions(write(tmp_path, csv_text(rows)))
    s = sessions_of(r)
    assert list(s["workflow_state"]) == ["Validée OF", "A finaliser", "Brouillon", "Transmise"]
    assert list(s["workflow_publishable"]) == [True, False, False, True]
    assert list(s["cancelled"]) == [True, False, False, False]
    assert s["recruitment_state"].tolist()[:2] == ["closed", "suspended"]
    assert s["recruitment_state"].isna().tolist()[2:] == [True, True]
    assert s["entry_mode"].tolist()[:2] == ["fixed", "permanent"] and pd.isna(s.iloc[2]["entry_mode"])
    f = findings(r, "DQ000", "error")
    assert set(f["line"]) == {4}
    assert set(f["field"]) == {"Etat session", "Etat recrutement", "Session annulée", "Type entrée"}
    assert_conforms(r)


def test_permanent_session_without_dates_is_clean(tmp_path):
    row = clean_row(
        **{
            "Type entrée": "Entrées/Sorties permanentes",
            "Date début session": "",
            "Date fin session": "",
            "Date début prescr.": "",
            "Date fin prescr.": "",
        }
    )
    r = eos.read_sessions(write(tmp_path, csv_text([row])))
    s = sessions_of(r).iloc[0]
    assert s["entry_mode"] == "permanent" and pd.isna(s["start_date"]) and pd.isna(s["end_date"])
    assert len(r.findings) == 0


# --- events -----------------------------------------------------------------------------------

EVENT_HEADER = list(eos.EVENT_COLUMNS)


def ev(
    ident,
    typ="Information Collective",
    d1="14/12/2026",
    d2="14/12/2026",
    h1="09:00",
    h2="12:00",
    num="12",
    street="rue Blatin",
    pc="63000",
    city="Clermont-Ferrand",
    desc="",
):
    return dict(zip(EVENT_HEADER, [ident, typ, d1, d2, h1, h2, num, street, pc, city, desc]))


def test_events_hours_description_and_keys(tmp_path):
    rows = [
        ev("1", desc="Réunion ; apporter le CV\r\net une pièce d’identité"),
        ev("1", typ="Test", h1="14.00", h2="16.30"),
        ev("2", typ="Entretien", h1="09h30", h2="10 : 00", num="", street="", pc="", city=""),
        ev("2", typ="bilan", d1="11/01/27", d2="", h1="9h", h2="10h"),
        ev("1"),  # same session, type, date and hour as the first: key suffixed
    ]
    p = write(tmp_path, csv_text(rows, header=EVENT_HEADER), name="eos_evenements_20261119.csv")
    r = eos.read_events(p)
    assert r.ok and r.kind == "evenements" and len(r.findings) == 0
    e = r.tables["events"]
    assert list(e["source_line"]) == [2, 4, 5, 6, 7]
    assert list(e["start_time"]) == ["09:00", "14:00", "09:30", "09:00", "09:00"]
    assert list(e["end_time"]) == ["12:00", "16:30", "10:00", "10:00", "12:00"]
    assert e.iloc[0]["description"] == "Réunion ; apporter le CV\net une pièce d’identité"
    assert list(e["event_key"]) == [
        "eos:1:ic:20261214:0900",
        "eos:1:test:20261214:1400",
        "eos:2:entretien:20261214:0930",
        "eos:2:bilan:20270111:0900",
        "eos:1:ic:20261214:0900-2",
    ]
    assert list(e["is_information_collective"]) == [True, False, False, False, True]
    assert e.iloc[3]["event_type"] == "Bilan" and pd.isna(e.iloc[3]["end_date"])
    assert pd.isna(e.iloc[2]["address_line"]) and e.iloc[0]["address_line"] == "12 rue Blatin"
    assert not e["cancelled"].any() and e["places"].isna().all()
    assert_conserved(r, "events")
    assert_conforms(r, "events")


def test_events_bad_cells_and_rows(tmp_path):
    rows = [
        ev("1", typ="Atelier", d1="31/02/2027", h1="25:00", h2="midi"),
        ev("x"),
        ev("1", d1="", h1="", h2=""),
    ]
    p = write(tmp_path, csv_text(rows, header=EVENT_HEADER), name="eos_evenements_20261119.csv")
    r = eos.read_events(p)
    e = r.tables["events"]
    assert len(e) == 2 and len(r.quarantine) == 1 and r.quarantine.iloc[0]["kind"] == "event"
    assert e.iloc[0]["event_key"] == "eos:1:autre:nodate:notime" and e.iloc[1]["event_key"] == "eos:1:ic:nodate:notime"
    assert e.iloc[0]["event_type"] == "Atelier"
    f = r.findings
    assert set(zip(f["rule"], f["severity"], f["field"])) == {
        ("DQ000", "warning", "Type"),
        ("DQ000", "error", "Date de début"),
        ("DQ000", "error", "Heure de début"),
        ("DQ000", "error", "Heure de fin"),
        ("DQ000", "error", "Identifiant EOS"),
    }
    assert_conserved(r, "events")
    assert_conforms(r, "events")


def test_events_missing_essential_column(tmp_path):
    header = [h for h in EVENT_HEADER if h != "Heure de fin"]
    p = write(tmp_path, csv_text([ev("1")], header=header), name="eos_evenements_20261119.csv")
    r = eos.read_events(p)
    assert not r.ok and len(r.tables["events"]) == 0 and len(r.quarantine) == 1
    assert_conserved(r, "events")


# --- fixtures and samples ---------------------------------------------------------------------


def test_fixture_files():
    r = eos.read_sessions(FIXTURES / "eos_sessions_20261119.csv")
    assert r.ok and r.encoding == "cp1252" and r.rows_read == {"": 3}
    s = sessions_of(r)
    assert list(s["source_line"]) == [2, 3, 5]
    assert s.iloc[1]["lot"] == "005" and s.iloc[1]["hours_centre_avg"] == 52.5
    assert s.iloc[1]["address_complement"] == "Bâtiment C ; 2ème étage\r\nentrée côté cour"
    assert s.iloc[1]["end_date"] == date(2027, 6, 25)
    assert s.iloc[2]["workflow_state"] == "Validée OF" and s.iloc[2]["recruitment_state"] == "closed"
    f = r.findings
    assert set(zip(f["rule"], f["severity"], f["line"], f["field"])) == {
        ("DQ000", "info", 1, "Commentaire interne"),
        ("DQ000", "error", 5, "Date fin session"),
    }
    assert_conserved(r)
    assert_conforms(r)
    e = eos.read_events(FIXTURES / "eos_evenements_20261119.csv")
    assert e.ok and list(e.tables["events"]["source_line"]) == [2, 4, 5, 6] and len(e.findings) == 0
    assert_conserved(e, "events")
    assert_conforms(e, "events")


@pytest.mark.parametrize("day", ["20261119", "20261120"])
def test_samples_read_cleanly(day):
    r = sample(f"eos_sessions_{day}.csv")
    assert r.ok and r.encoding == "cp1252"
    s = sessions_of(r)
    assert len(s) == 40 and len(r.quarantine) == 0
    assert s["session_key"].is_unique
    assert_conserved(r)
    assert_conforms(r)
    # file-level: only the unknown column; row-level: only the impossible "Date état"
    f = r.findings
    assert set(zip(f["rule"], f["severity"], f["field"], f["session_key"].fillna(""))) == {
        ("DQ000", "info", "Commentaire interne", ""),
        ("DQ000", "error", "Date état", "eos:184239"),
    }
    e = sample(f"eos_evenements_{day}.csv")
    assert e.ok and len(e.tables["events"]) == 14 and len(e.findings) == 0
    assert e.tables["events"]["event_key"].is_unique
    assert_conserved(e, "events")
    assert_conforms(e, "events")


def test_sample_day1_planted_values():
    s = sessions_of(sample("eos_sessions_20261119.csv")).set_index("session_key")
    assert s.loc["eos:184217", "marche_numero"] == "R4218"
    assert bool(s.loc["eos:184219", "cancelled"]) and s.loc["eos:184219", "trainees"] == 3
    assert s.loc["eos:184237", "formation_key"] == "sam:2026C009999901:001:1"
    assert s.loc["eos:184238", "recruitment_state"] == "closed"
    assert s.loc["eos:184236", "workflow_state"] == "A finaliser" and pd.isna(s.loc["eos:184236", "session_number"])
    assert s.loc["eos:184207", "siret_formateur"] == "35600000000048"
    assert s.loc["eos:184204", "contact_phone"] == "+262 262 12 34 56"
    assert s.loc["eos:184209", "lot"] == "005"  # written "5"
    assert (s["formation_key"] == "sam:2026C001200503:005:3").sum() == 1  # DQ019
    clean = s.drop(index=[f"eos:{i}" for i in range(184216, 184240)], errors="ignore")
    assert len(clean) >= 10
    assert (clean["places_region"] == clean["places"]).all() and (clean["places_pole_emploi"] == 0).all()
    e = sample("eos_evenements_20261119.csv").tables["events"]
    assert set(e["start_time"]) >= {"09:00", "14:00", "09:30", "10:00"}
    assert e["description"].str.contains(";\\s|\n", regex=True).any()


def test_sample_day2_changes():
    d1 = sessions_of(sample("eos_sessions_20261119.csv")).set_index("session_key")
    d2 = sessions_of(sample("eos_sessions_20261120.csv")).set_index("session_key")
    assert set(d1.index) - set(d2.index) == {"eos:184210"}
    assert set(d2.index) - set(d1.index) == {"eos:184240"}
    assert d2.loc["eos:184240", "start_date"] == date(2027, 1, 11)
    assert d2.loc["eos:184213", "start_date"] != d1.loc["eos:184213", "start_date"]
    assert bool(d2.loc["eos:184208", "cancelled"]) and d2.loc["eos:184208", "trainees"] == 0
    assert pd.isna(d2.loc["eos:184205", "contact_phone"]) and d1.loc["eos:184205", "contact_phone"] == "04 77 21 45 90"
    same = d1.index.intersection(d2.index).difference(["eos:184213", "eos:184208", "eos:184205"])
    cols = [c for c in d1.columns if c not in ("source_file", "source_line")]
    pd.testing.assert_frame_equal(d1.loc[same, cols], d2.loc[same, cols])


# --- odd files --------------------------------------------------------------------------------


def test_missing_file_is_a_file_error(tmp_path):
    r = eos.read_sessions(tmp_path / "eos_sessions_20261119.csv")
    assert not r.ok and r.file == "eos_sessions_20261119.csv"
    assert len(findings(r, "DQ000", "error")) == 1
    assert_conserved(r)


@pytest.mark.parametrize("content", [b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n", "\ufeff;;\r\n".encode("utf-8")])
def test_bom_only_or_blank_header_is_a_file_error(tmp_path, content):
    r = eos.read_sessions(write(tmp_path, content))
    assert not r.ok and len(findings(r, "DQ000", "error")) == 1
    assert_conserved(r)


def test_blank_header_line_with_rows_quarantines_them(tmp_path):
    content = "\r\n" + csv_text([clean_row("1")])
    r = eos.read_sessions(write(tmp_path, content))
    assert not r.ok
    assert r.rows_read == {"": 2} and len(r.quarantine) == 2  # the real header line counts as a row here
    assert_conserved(r)


def test_contract_names_stay_distinct_once_normalised():
    for contract in (eos.SESSION_COLUMNS, eos.EVENT_COLUMNS):
        assert len({eos._norm(c) for c in contract}) == len(contract)


def test_short_rows_are_read_with_a_warning(tmp_path):
    content = csv_text([clean_row("1")]) + "2026C007314701;147\r\n"
    r = eos.read_sessions(write(tmp_path, content))
    assert r.rows_read == {"": 2}
    warn = findings(r, "DQ000", "warning")
    assert list(warn["line"]) == [3]
    assert len(r.quarantine) == 1 and r.quarantine.iloc[0]["source_line"] == 3  # no Identifiant EOS
    assert_conserved(r)


@pytest.mark.parametrize("odd", ["\u2028", "\x0c", "\x85"])
def test_unicode_line_separators_inside_cells_do_not_split_records(tmp_path, odd):
    rows = [ev("1", desc=f"avant{odd}après"), ev("2")]
    p = write(tmp_path, csv_text(rows, header=EVENT_HEADER), name="eos_evenements_20261119.csv", encoding="utf-8")
    r = eos.read_events(p)
    e = r.tables["events"]
    assert list(e["source_line"]) == [2, 3]
    assert e.iloc[0]["description"] == f"avant{odd}après"


def test_defects_md_lines_match_the_samples():
    text_md = (SAMPLES / "DEFECTS.md").read_text(encoding="utf-8")
    section = text_md.split("## EOS", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:6] for line in section.splitlines() if line.startswith("| 18")]
    assert len(rows) >= 30
    for ident, file, line, rule, _what in rows:
        name = file.strip().strip("`")
        t = sample(name).tables["sessions" if name.startswith("eos_sessions") else "events"]
        hit = t[t["source_line"] == int(line)]
        assert list(hit["session_key"]) == [f"eos:{ident.strip()}"], (name, line)
        assert rule.strip() == "—" or rule.strip().startswith("DQ0")
