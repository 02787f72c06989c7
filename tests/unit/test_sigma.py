"""SIGMA workbook reader (passerelle.sources.sigma) and the SIGMA sample workbooks."""

from __future__ import annotations

import importlib.util
import json
import re
from datetime import date, datetime, time
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook

from passerelle import model
from passerelle.sources import sigma
from passerelle.sources.sigma import read_workbook, split_lieu

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"
DAY1 = SAMPLES / "sigma_actions_20261119.xlsx"
DAY2 = SAMPLES / "sigma_actions_20261120.xlsx"


def _generator():
    spec = importlib.util.spec_from_file_location("generate_sigma", SAMPLES / "generate_sigma.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GEN = _generator()

# --- building small workbooks -------------------------------------------------------------------

A = "23P0000000_TEST_1"
ACTION_ROW = [
    "23P0000000",
    A,
    "Formation test",
    "EC",
    2027,
    date(2026, 9, 1),
    date(2027, 12, 31),
    "Organisme test PRF 23",
    "13000123300019",
    "76340123456",
    "PRF",
    "PRF 2026",
    "21046",
    "A1416",
]
COMP_ROWS = [
    [
        A,
        "01",
        "FORP - Formation Projet Pro",
        date(2027, 1, 4),
        date(2027, 6, 30),
        "BEZIERS",
        "34500",
        12,
        420,
        140,
        "Dates fixes",
    ],
    [
        A,
        "02",
        "FORQ - Formation Qualifiante",
        "04/01/2027",
        "17/12/2027",
        "TOULOUSE",
        "31000",
        12,
        300.5,
        70,
        "Entrées/sorties permanentes",
    ],
]
LIEU = "ORGANISME TEST PRF 23 / CAP 2000 TEST / BEZIERS / 34500"


def session(
    comp="01",
    num="01",
    start=date(2027, 1, 11),
    end=date(2027, 3, 26),
    lieu=LIEU,
    places=12,
    status="Validée",
    phone="05 61 23 45 67",
    action=A,
):
    return [action, comp, num, start, end, lieu, places, "OI1", status, "Claire DUPONT", phone, "c.dupont@example.fr"]


def ic(comp="01", num="01", day=date(2026, 12, 8), start="10:00", end="12:00", places=15, action=A):
    return [
        action,
        comp,
        num,
        day,
        start,
        end,
        places,
        "Présentation",
        12,
        "bis",
        "avenue",
        "Jean Moulin",
        "34500",
        "BEZIERS",
    ]


def book(sessions=None, ics=None, actions=None, comps=None) -> dict:
    return {
        "Actions": (list(GEN.ACTIONS_HEADERS), [list(ACTION_ROW)] if actions is None else actions),
        "Composantes": (list(GEN.COMPOSANTES_HEADERS), [list(r) for r in COMP_ROWS] if comps is None else comps),
        "Sessions": (list(GEN.SESSIONS_HEADERS), [session()] if sessions is None else sessions),
        "Informations collectives": (list(GEN.IC_HEADERS), [ic()] if ics is None else ics),
    }


def write(tmp_path: Path, sheets: dict, name="sigma_actions_20261119.xlsx") -> Path:
    wb = Workbook()
    wb.remove(wb.active)
    for sheet, (headers, rows) in sheets.items():
        ws = wb.create_sheet(sheet)
        ws.append(headers)
        for row in rows:
            ws.append(row)
    p = tmp_path / name
    wb.save(p)
    return p


def read(tmp_path, **kw):
    return read_workbook(write(tmp_path, book(**kw)))


def errors(res, rule="DQ000", severity="error"):
    f = res.findings
    return f[(f["rule"] == rule) & (f["severity"] == severity)]


def assert_conservation(res):
    sheet_table = {
        "Actions": "formations",
        "Composantes": "actions",
        "Sessions": "sessions",
        "Informations collectives": "events",
    }
    q = res.quarantine
    for sheet, n in res.rows_read.items():
        t = res.tables[sheet_table[sheet]]
        in_table = int((t["source_sheet"] == sheet).sum())
        in_q = int((q["source_sheet"] == sheet).sum())
        assert n == in_table + in_q, (sheet, n, in_table, in_q)
        assert len(t) == in_table


def assert_conform(res):
    schemas = {
        "formations": model.FORMATIONS,
        "actions": model.ACTIONS,
        "sessions": model.SESSIONS,
        "events": model.EVENTS,
    }
    assert set(res.tables) == set(schemas)
    for name, schema in schemas.items():
        model.conform(res.tables[name], schema)
    model.conform(res.quarantine, model.QUARANTINE)
    model.conform(res.findings, model.FINDINGS)


def by_key(res, key):
    s = res.tables["sessions"]
    rows = s[s["session_key"] == key]
    assert len(rows) == 1, key
    return rows.iloc[0]


# --- no file / broken files -----------------------------------------------------------------------


def test_none_path_gives_empty_read():
    res = read_workbook(None)
    assert res.file is None and res.ok and res.source == "sigma" and res.kind == "actions"
    assert res.rows_read == {} and len(res.findings) == 0
    assert_conform(res)
    assert all(len(t) == 0 for t in res.tables.values())


def test_truncated_workbook_is_a_file_error(tmp_path):
    good = write(tmp_path, book(), name="good.xlsx").read_bytes()
    p = tmp_path / "sigma_actions_20261119.xlsx"
    p.write_bytes(good[: len(good) // 2])
    res = read_workbook(p)
    assert not res.ok
    e = errors(res)
    assert len(e) == 1 and len(res.findings) == 1
    assert e.iloc[0]["file"] == p.name and p.name in e.iloc[0]["message"]
    assert "endommagé" in e.iloc[0]["message"]
    assert res.rows_read == {} and all(len(t) == 0 for t in res.tables.values())
    assert res.sha256 and res.extract_date == date(2026, 11, 19)
    assert_conform(res)


def test_not_a_zip_is_a_file_error(tmp_path):
    p = tmp_path / "sigma_actions_20261119.xlsx"
    p.write_text("N° Action;Composante\n23P0000000_TEST_1;01\n", encoding="utf-8")
    res = read_workbook(p)
    assert not res.ok
    e = errors(res)
    assert len(e) == 1 and "archive zip" in e.iloc[0]["message"] and p.name in e.iloc[0]["message"]
    assert_conform(res)


def test_empty_and_missing_file(tmp_path):
    p = tmp_path / "sigma_actions_20261119.xlsx"
    p.write_bytes(b"")
    assert not read_workbook(p).ok
    res = read_workbook(tmp_path / "sigma_actions_20261121.xlsx")
    assert not res.ok and len(errors(res)) == 1


# --- sheets and columns ---------------------------------------------------------------------------


def test_missing_sheet_other_sheets_read(tmp_path):
    b = book()
    del b["Sessions"]
    res = read_workbook(write(tmp_path, b))
    assert not res.ok
    e = errors(res)
    assert len(e) == 1 and "« Sessions »" in e.iloc[0]["message"] and e.iloc[0]["sheet"] == "Sessions"
    assert len(res.tables["sessions"]) == 0
    assert len(res.tables["formations"]) == 1 and len(res.tables["actions"]) == 2 and len(res.tables["events"]) == 1
    assert "Sessions" not in res.rows_read
    assert_conservation(res)
    assert_conform(res)


def test_missing_composantes_sheet_keeps_sessions_with_null_parents(tmp_path):
    b = book()
    del b["Composantes"]
    res = read_workbook(write(tmp_path, b))
    s = by_key(res, f"sigma:{A}:01:01")
    assert pd.isna(s["entry_mode"]) and pd.isna(s["parent_period_start"])
    assert s["title"] == "Formation test" and s["siret_formateur"] == "13000123300019"


def test_missing_essential_column_rejects_the_sheet(tmp_path):
    b = book(sessions=[session(num="01"), session(num="02", start=date(2027, 2, 1))])
    headers, rows = b["Sessions"]
    i = headers.index("Date fin")
    b["Sessions"] = (
        [h for j, h in enumerate(headers) if j != i],
        [[v for j, v in enumerate(r) if j != i] for r in rows],
    )
    res = read_workbook(write(tmp_path, b))
    assert not res.ok
    e = errors(res)
    assert len(e) == 1 and "« Date fin »" in e.iloc[0]["message"] and e.iloc[0]["line"] == 1
    assert len(res.tables["sessions"]) == 0
    q = res.quarantine
    assert len(q) == 2 and set(q["source_sheet"]) == {"Sessions"} and set(q["kind"]) == {"session"}
    assert list(q["source_line"]) == [2, 3]
    assert q["session_key"].tolist() == [f"sigma:{A}:01:01", f"sigma:{A}:01:02"]
    raw = json.loads(q.iloc[0]["raw"])
    assert raw["N° Action"] == A and raw["Date début"] == "2027-01-11"
    # the other sheets are still read
    assert len(res.tables["events"]) == 1 and len(res.tables["actions"]) == 2
    assert_conservation(res)
    assert_conform(res)


def test_missing_optional_column_is_a_warning(tmp_path):
    b = book()
    headers, rows = b["Sessions"]
    i = headers.index("Code Offre Info")
    b["Sessions"] = (
        [h for j, h in enumerate(headers) if j != i],
        [[v for j, v in enumerate(r) if j != i] for r in rows],
    )
    res = read_workbook(write(tmp_path, b))
    assert res.ok
    w = errors(res, severity="warning")
    assert len(w) == 1 and w.iloc[0]["field"] == "Code Offre Info" and w.iloc[0]["sheet"] == "Sessions"
    assert pd.isna(by_key(res, f"sigma:{A}:01:01")["offer_info_code"])
    assert len(errors(res)) == 0


def test_extra_column_is_info_and_ignored(tmp_path):
    b = book()
    headers, rows = b["Sessions"]
    b["Sessions"] = (headers + ["Observations"], [r + ["à revoir"] for r in rows])
    res = read_workbook(write(tmp_path, b))
    assert res.ok
    info = errors(res, severity="info")
    assert len(info) == 1 and info.iloc[0]["field"] == "Observations" and info.iloc[0]["line"] == 1
    assert len(res.findings) == 1


def test_headers_matched_by_name_not_position_and_loosely(tmp_path):
    b = book()
    headers, rows = b["Sessions"]
    order = list(reversed(range(len(headers))))
    loose = {"Nb. de places": "NB. DE  PLACES", "Date début": "date debut", "Contact tél": " Contact tel "}
    b["Sessions"] = ([loose.get(headers[j], headers[j]) for j in order], [[r[j] for j in order] for r in rows])
    res = read_workbook(write(tmp_path, b))
    assert res.ok and len(res.findings) == 0
    s = by_key(res, f"sigma:{A}:01:01")
    assert s["places"] == 12 and s["start_date"] == date(2027, 1, 11) and s["contact_phone"] == "05 61 23 45 67"


def test_sheet_name_loose_match(tmp_path):
    b = book()
    b["INFORMATIONS COLLECTIVES"] = b.pop("Informations collectives")
    res = read_workbook(write(tmp_path, b))
    assert res.ok and len(res.tables["events"]) == 1
    assert res.tables["events"].iloc[0]["source_sheet"] == "Informations collectives"


# --- cells ----------------------------------------------------------------------------------------


def test_real_and_text_dates(tmp_path):
    res = read(
        tmp_path,
        sessions=[
            session(num="01", start=date(2027, 1, 11), end=datetime(2027, 3, 26, 0, 0)),
            session(num="02", start="01/02/2027", end=" 5/3/2027 "),
            session(num="03", start=46440, end="2027-04-30"),  # Excel serial of 2027-02-22
        ],
    )
    assert len(res.findings) == 0
    assert by_key(res, f"sigma:{A}:01:01")[["start_date", "end_date"]].tolist() == [
        date(2027, 1, 11),
        date(2027, 3, 26),
    ]
    assert by_key(res, f"sigma:{A}:01:02")[["start_date", "end_date"]].tolist() == [date(2027, 2, 1), date(2027, 3, 5)]
    assert by_key(res, f"sigma:{A}:01:03")[["start_date", "end_date"]].tolist() == [
        date(2027, 2, 22),
        date(2027, 4, 30),
    ]
    a = res.tables["actions"].set_index("action_key")
    assert a.loc[f"sigma:{A}:02", "period_start"] == date(2027, 1, 4)
    assert a.loc[f"sigma:{A}:01", "period_end"] == date(2027, 6, 30)


def test_impossible_text_date_is_a_cell_error(tmp_path):
    res = read(tmp_path, sessions=[session(start=date(2027, 1, 11), end="31/02/2027")])
    s = by_key(res, f"sigma:{A}:01:01")
    assert pd.isna(s["end_date"]) and s["start_date"] == date(2027, 1, 11)
    e = errors(res)
    assert len(e) == 1
    f = e.iloc[0]
    assert (f["sheet"], f["line"], f["field"], f["value"]) == ("Sessions", 2, "Date fin", "31/02/2027")
    assert f["session_key"] == f"sigma:{A}:01:01"
    assert "31/02/2027" in f["message"] and "Date fin" in f["message"] and "date illisible" in f["message"]
    assert res.ok and len(res.quarantine) == 0


def test_identifiers_stay_text_and_numbers_are_padded(tmp_path):
    comps = [list(COMP_ROWS[0]), list(COMP_ROWS[1])]
    comps[1][1] = 2  # composante N° as a number cell
    res = read(
        tmp_path,
        comps=comps,
        sessions=[
            session(comp="01", num="01"),
            session(comp=2, num=3.0, start=date(2027, 2, 1), end=date(2027, 3, 1)),
            session(comp="01", num="7", start=date(2027, 4, 1), end=date(2027, 5, 1)),
        ],
        ics=[ic(comp=2.0, num=3, day=date(2027, 1, 20))],
    )
    assert set(res.tables["actions"]["composante_number"]) == {"01", "02"}
    keys = set(res.tables["sessions"]["session_key"])
    assert keys == {f"sigma:{A}:01:01", f"sigma:{A}:02:03", f"sigma:{A}:01:07"}
    s = by_key(res, f"sigma:{A}:02:03")
    assert s["composante_number"] == "02" and s["session_number"] == "03" and s["source_session_id"] == "03"
    assert s["entry_mode"] == "permanent"  # joined with the number-cell composante
    assert res.tables["events"].iloc[0]["session_key"] == f"sigma:{A}:02:03"
    f = res.tables["formations"].iloc[0]
    assert f["year"] == "2027" and f["marche_numero"] == "23P0000000" and f["formacode"] == "21046"


def test_numbers_from_float_cells(tmp_path):
    comps = [list(COMP_ROWS[0])]
    comps[0][6] = 1000.0  # postcode lost its leading zero in Excel
    comps[0][7] = "12"
    res = read(tmp_path, comps=comps, sessions=[session(places=12.0, phone=561234567)])
    s = by_key(res, f"sigma:{A}:01:01")
    assert s["places"] == 12 and s["contact_phone"] == "0561234567"
    a = res.tables["actions"].iloc[0]
    assert a["postcode"] == "01000" and a["places"] == 12 and a["hours_centre"] == 420.0


def test_fractional_places_is_a_cell_error(tmp_path):
    res = read(tmp_path, sessions=[session(places=12.5)])
    s = by_key(res, f"sigma:{A}:01:01")
    assert pd.isna(s["places"]) and not s["cancelled"]
    e = errors(res)
    assert len(e) == 1 and e.iloc[0]["field"] == "Nb. de places" and e.iloc[0]["value"] == "12.5"


def test_cancelled_by_zero_places_not_by_empty_places(tmp_path):
    res = read(
        tmp_path,
        sessions=[
            session(num="01", places=0),
            session(num="02", places=None, start=date(2027, 2, 1)),
            session(num="03", places="0", start=date(2027, 3, 1)),
            session(num="04", places=8, start=date(2027, 4, 1)),
        ],
    )
    got = {
        k[-2:]: (c, r, p)
        for k, c, r, p in res.tables["sessions"][
            ["session_key", "cancelled", "recruitment_state", "places"]
        ].itertuples(index=False)
    }
    assert got["01"] == (True, "closed", 0)
    assert got["02"][:2] == (False, "open") and pd.isna(got["02"][2])
    assert got["03"] == (True, "closed", 0)
    assert got["04"] == (False, "open", 8)
    assert len(res.findings) == 0


def test_lieu_split():
    lieu = pd.Series(
        [
            "ORGANISME TEST PRF 23 / CAP 2000 TEST / BEZIERS / 34500",
            "AFPA / IFPA OCCITANIE / SITE NORD / NIMES / 30000",
            "GRETA/EST  /  LYCEE / ALBI/81000",
            "ORGANISME / MONTPELLIER / 34000",
            "TOULOUSE / 31000",
            "RODEZ",
            None,
        ],
        dtype="string",
    )
    parts, short = split_lieu(lieu)
    rows = parts.astype(object).where(parts.notna(), None).values.tolist()
    assert rows[0] == ["ORGANISME TEST PRF 23", "CAP 2000 TEST", "BEZIERS", "34500"]
    assert rows[1] == ["AFPA / IFPA OCCITANIE", "SITE NORD", "NIMES", "30000"]
    assert rows[2] == ["GRETA/EST", "LYCEE", "ALBI", "81000"]
    assert rows[3] == [None, "ORGANISME", "MONTPELLIER", "34000"]
    assert rows[4] == [None, None, "TOULOUSE", "31000"]
    assert rows[5] == [None, None, None, None]
    assert rows[6] == [None, None, None, None]
    assert short.tolist() == [False, False, False, True, True, True, False]


def test_lieu_mapping_and_short_lieu_error(tmp_path):
    res = read(
        tmp_path,
        sessions=[
            session(num="01", lieu="AFPA / IFPA OCCITANIE / CAP 2000 / BEZIERS / 34500"),
            session(num="02", lieu="ORGANISME TEST / BEZIERS / 34500", start=date(2027, 2, 1)),
        ],
    )
    s = by_key(res, f"sigma:{A}:01:01")
    assert (s["organisme_formateur"], s["site"], s["address_line"], s["city"], s["postcode"]) == (
        "AFPA / IFPA OCCITANIE",
        "CAP 2000",
        "CAP 2000",
        "BEZIERS",
        "34500",
    )
    s2 = by_key(res, f"sigma:{A}:01:02")
    assert (s2["city"], s2["postcode"]) == ("BEZIERS", "34500")
    e = errors(res)
    assert len(e) == 1
    f = e.iloc[0]
    assert f["field"] == "Lieu de la session" and f["value"] == "ORGANISME TEST / BEZIERS / 34500" and f["line"] == 3


def test_training_body_gets_the_titulaire_siret_only_when_it_is_the_titulaire(tmp_path):
    res = read(
        tmp_path,
        sessions=[
            session(num="01"),  # Lieu body = titulaire (case and accents aside): its SIRET
            session(num="02", lieu="BTP FORMATION 66 / PLATEAU TECNOSUD / BEZIERS / 34500", start=date(2027, 2, 1)),
            session(num="03", lieu="BEZIERS / 34500", start=date(2027, 2, 8)),  # no body: the titulaire
        ],
    )
    same = by_key(res, f"sigma:{A}:01:01")
    assert (same["organisme_formateur"], same["siret_formateur"]) == ("ORGANISME TEST PRF 23", "13000123300019")
    other = by_key(res, f"sigma:{A}:01:02")
    assert other["organisme_formateur"] == "BTP FORMATION 66" and pd.isna(other["siret_formateur"])
    nobody = by_key(res, f"sigma:{A}:01:03")
    assert (nobody["organisme_formateur"], nobody["siret_formateur"]) == ("Organisme test PRF 23", "13000123300019")


def test_hour_forms(tmp_path):
    forms = [
        ("10:00", "12:00"),
        ("10.00", "12.30"),
        ("10 : 00", "11 : 45"),
        (time(9, 30), time(11, 0)),
        (0.375, 0.5),
        ("9h", "10h15"),
        (datetime(1899, 12, 30, 14, 0), 16.0),
        (14.3, "16:00"),
    ]
    ics = [ic(day=date(2026, 12, d + 1), start=s, end=e) for d, (s, e) in enumerate(forms)]
    res = read(tmp_path, ics=ics)
    ev = res.tables["events"]
    got = list(zip(ev["start_time"], ev["end_time"]))
    assert got == [
        ("10:00", "12:00"),
        ("10:00", "12:30"),
        ("10:00", "11:45"),
        ("09:30", "11:00"),
        ("09:00", "12:00"),
        ("09:00", "10:15"),
        ("14:00", "16:00"),
        ("14:30", "16:00"),
    ]
    assert len(res.findings) == 0


def test_bad_hour_is_a_cell_error(tmp_path):
    res = read(tmp_path, ics=[ic(start="25:00", end="midi")])
    ev = res.tables["events"].iloc[0]
    assert pd.isna(ev["start_time"]) and pd.isna(ev["end_time"])
    e = errors(res)
    assert sorted(e["field"]) == ["Heure de début", "Heure de fin"]
    assert set(e["value"]) == {"25:00", "midi"} and set(e["sheet"]) == {"Informations collectives"}
    assert ev["event_key"].endswith(":ic:20261208:notime")


def test_events_mapping(tmp_path):
    res = read(
        tmp_path,
        ics=[
            ic(places=0),
            ic(day=date(2026, 12, 8), start="10:00"),  # same key: suffixed
            ic(day="", start=""),
        ],
    )
    ev = res.tables["events"]
    assert ev["event_key"].tolist() == [
        f"sigma:{A}:01:01:ic:20261208:1000",
        f"sigma:{A}:01:01:ic:20261208:1000-2",
        f"sigma:{A}:01:01:ic:nodate:notime",
    ]
    e0 = ev.iloc[0]
    assert e0["cancelled"] and e0["places"] == 0 and not ev.iloc[1]["cancelled"]
    assert e0["event_type"] == "Information Collective" and e0["is_information_collective"]
    assert e0["start_date"] == e0["end_date"] == date(2026, 12, 8)
    assert e0["address_line"] == "12 bis avenue Jean Moulin" and e0["postcode"] == "34500" and e0["city"] == "BEZIERS"
    assert e0["description"] == "Présentation" and e0["source_line"] == 2
    assert_conform(res)


def test_workflow_states(tmp_path):
    res = read(
        tmp_path,
        sessions=[
            session(num="01", status="Validée"),
            session(num="02", status="En attente d\u2019émission", start=date(2027, 2, 1)),
            session(num="03", status="VALIDEE", start=date(2027, 3, 1)),
            session(num="04", status="Brouillon", start=date(2027, 4, 1)),
            session(num="05", status="", start=date(2027, 5, 1)),
        ],
    )
    s = res.tables["sessions"].set_index("session_number")
    assert s.loc["01", "workflow_state"] == "Validée" and s.loc["01", "workflow_publishable"]
    assert s.loc["02", "workflow_state"] == "En attente d'émission" and not s.loc["02", "workflow_publishable"]
    assert s.loc["03", "workflow_state"] == "Validée" and s.loc["03", "workflow_publishable"]
    assert s.loc["04", "workflow_state"] == "Brouillon" and not s.loc["04", "workflow_publishable"]
    assert pd.isna(s.loc["05", "workflow_state"]) and not s.loc["05", "workflow_publishable"]
    e = errors(res)
    assert sorted(e["line"].tolist()) == [5, 6] and set(e["field"]) == {"Statut"}


def test_entry_modes(tmp_path):
    comps = [list(COMP_ROWS[0]), list(COMP_ROWS[1]), list(COMP_ROWS[0])]
    comps[0][10] = "DATES FIXES"
    comps[1][10] = "Entrees/Sorties  permanentes"
    comps[2][1], comps[2][10] = "03", "au fil de l'eau"
    res = read(tmp_path, comps=comps)
    a = res.tables["actions"].set_index("composante_number")
    assert a.loc["01", "entry_mode"] == "fixed" and a.loc["02", "entry_mode"] == "permanent"
    assert pd.isna(a.loc["03", "entry_mode"])
    e = errors(res)
    assert len(e) == 1 and e.iloc[0]["field"] == "Modalité entrées" and e.iloc[0]["value"] == "au fil de l'eau"


def test_session_mapping_and_parents(tmp_path):
    res = read(
        tmp_path,
        sessions=[
            session(),
            session(comp="09", num="01"),
            session(action="24P0000001_AUTRE_1", start=date(2027, 2, 1)),
        ],
    )
    s = by_key(res, f"sigma:{A}:01:01")
    assert s["action_key"] == f"sigma:{A}:01" and s["formation_key"] == f"sigma:{A}"
    assert s["marche_numero"] == "23P0000000" and s["action_number"] == A
    assert s["parent_period_start"] == date(2027, 1, 4) and s["parent_period_end"] == date(2027, 6, 30)
    assert s["entry_mode"] == "fixed" and s["title"] == "Formation test" and s["programme"] == "PRF 2026"
    assert s["siret_formateur"] == "13000123300019" and s["financer"] == "2"
    assert (s["contact_name"], s["contact_email"], s["offer_info_code"]) == (
        "Claire DUPONT",
        "c.dupont@example.fr",
        "OI1",
    )
    assert (s["source"], s["source_file"], s["source_sheet"], s["source_line"]) == (
        "sigma",
        "sigma_actions_20261119.xlsx",
        "Sessions",
        2,
    )
    orphan = by_key(res, f"sigma:{A}:09:01")  # composante 09 absent: kept, parents null
    assert pd.isna(orphan["entry_mode"]) and pd.isna(orphan["parent_period_end"])
    assert orphan["title"] == "Formation test"
    other = by_key(res, "sigma:24P0000001_AUTRE_1:01:01")  # action absent: contract from the action number
    assert other["marche_numero"] == "24P0000001" and pd.isna(other["title"]) and pd.isna(other["siret_formateur"])
    assert len(res.findings) == 0


# --- keys, quarantine, conservation ---------------------------------------------------------------


def test_duplicate_session_key_quarantines_later_row(tmp_path):
    res = read(
        tmp_path,
        sessions=[
            session(num="01"),
            session(num="02", start=date(2027, 2, 1)),
            session(num=1, start=date(2027, 5, 1)),  # same key as row 2 once padded
        ],
    )
    assert len(res.tables["sessions"]) == 2
    assert by_key(res, f"sigma:{A}:01:01")["start_date"] == date(2027, 1, 11)
    q = res.quarantine
    assert len(q) == 1
    r = q.iloc[0]
    assert (r["source_sheet"], r["source_line"], r["kind"], r["rule"]) == ("Sessions", 4, "session", "DQ000")
    assert r["session_key"] == f"sigma:{A}:01:01" and "double" in r["reason"] and "ligne 2" in r["reason"]
    assert json.loads(r["raw"])["Date début"] == "2027-05-01"
    e = errors(res)
    assert len(e) == 1 and e.iloc[0]["line"] == 4 and e.iloc[0]["session_key"] == f"sigma:{A}:01:01"
    assert_conservation(res)


def test_missing_key_parts_go_to_quarantine(tmp_path):
    res = read(
        tmp_path,
        sessions=[session(), session(num="", start=date(2027, 2, 1)), session(action="  ", comp="", num="03")],
        ics=[ic(), ic(num="")],
        comps=[list(COMP_ROWS[0]), [A, "", "X", date(2027, 1, 4), date(2027, 6, 30), "", "", 1, 1, 1, "Dates fixes"]],
        actions=[
            list(ACTION_ROW),
            ["23P0000000", "", "Sans numéro", "EC", 2027, "", "", "", "", "", "", "", "", ""],
            list(ACTION_ROW),
        ],
    )
    q = res.quarantine
    assert sorted(zip(q["source_sheet"], q["source_line"])) == [
        ("Actions", 3),
        ("Actions", 4),
        ("Composantes", 3),
        ("Informations collectives", 3),
        ("Sessions", 3),
        ("Sessions", 4),
    ]
    reason = q[(q["source_sheet"] == "Sessions") & (q["source_line"] == 4)].iloc[0]["reason"]
    assert "« N° Action »" in reason and "« Composante »" in reason and "Num. de session" not in reason
    assert set(q["kind"]) == {"formation", "action", "session", "event"}
    assert len(errors(res)) == len(q)
    assert_conservation(res)
    assert_conform(res)


def test_trailing_empty_rows_ignored_middle_empty_row_quarantined(tmp_path):
    b = book(sessions=[session(num="01"), [None] * 12, session(num="02", start=date(2027, 2, 1))])
    p = write(tmp_path, b)
    from openpyxl import load_workbook

    wb = load_workbook(p)
    ws = wb["Sessions"]
    ws.cell(row=10, column=3, value="   ")  # a blank-looking cell far below the data
    ws.cell(row=12, column=1, value="")
    wb.save(p)
    res = read_workbook(p)
    assert res.rows_read["Sessions"] == 3
    assert len(res.tables["sessions"]) == 2
    q = res.quarantine
    assert list(q["source_line"]) == [3] and q.iloc[0]["source_sheet"] == "Sessions"
    assert by_key(res, f"sigma:{A}:01:02")["source_line"] == 4
    assert_conservation(res)


def test_outputs_conform(tmp_path):
    res = read(tmp_path, sessions=[session(end="31/02/2027"), session(num="01")])
    assert_conform(res)
    for name, schema in (("sessions", model.SESSIONS), ("events", model.EVENTS)):
        assert list(res.tables[name].columns) == schema.names


# --- samples --------------------------------------------------------------------------------------


def test_day1_sample_counts_and_values():
    res = read_workbook(DAY1)
    assert res.ok and res.file == DAY1.name and res.extract_date == date(2026, 11, 19)
    assert res.rows_read == {"Actions": 6, "Composantes": 7, "Sessions": 18, "Informations collectives": 8}
    assert {k: len(v) for k, v in res.tables.items()} == {"formations": 6, "actions": 7, "sessions": 18, "events": 8}
    assert len(res.quarantine) == 0
    assert_conservation(res)
    assert_conform(res)
    s = res.tables["sessions"]
    assert set(s["marche_numero"]) == {"26P0001234", "26P0005678", "26P0009012"}
    assert s["start_date"].min() >= date(2027, 1, 1) and s["start_date"].max() <= date(2027, 12, 31)
    assert int(s["cancelled"].sum()) == 1 and int((~s["workflow_publishable"]).sum()) == 1
    assert by_key(res, "sigma:26P0001234_AGRI_1:01:03")["cancelled"]
    assert by_key(res, "sigma:26P0005678_SAN_1:01:03")["entry_mode"] == "fixed"  # number cells joined
    assert by_key(res, "sigma:26P0005678_NUM_1:02:01")["organisme_formateur"] == "NUMERIQUE SUD / SIMPLON OCCITANIE"
    # titulaire ≠ formateur: the co-contractor named in the Lieu does not get the titulaire's SIRET
    btp = by_key(res, "sigma:26P0001234_BTP_2:01:01")
    assert btp["organisme_formateur"] == "BTP FORMATION 66" and pd.isna(btp["siret_formateur"])
    assert by_key(res, "sigma:26P0001234_AGRI_1:01:01")["siret_formateur"] == "31245678300017"
    assert by_key(res, "sigma:26P0005678_SAN_1:01:01")["contact_phone"] == "0563123456"
    assert pd.isna(by_key(res, "sigma:26P0001234_BTP_2:09:01")["parent_period_start"])
    ev = res.tables["events"]
    assert int(ev["cancelled"].sum()) == 1 and ev["start_time"].notna().all() and ev["end_time"].notna().all()
    # the only reader finding is the 3-part Lieu
    e = res.findings
    assert len(e) == 1 and e.iloc[0]["session_key"] == "sigma:26P0005678_SAN_1:01:02"
    assert e.iloc[0]["line"] == 17 and e.iloc[0]["field"] == "Lieu de la session"
    # every SIRET of the samples is valid
    from stdnum.fr import siret

    assert all(siret.is_valid(v) for v in res.tables["formations"]["holder_siret"])


def test_day2_sample_changes():
    d1 = read_workbook(DAY1).tables["sessions"].set_index("session_key")
    res = read_workbook(DAY2)
    assert res.ok and res.rows_read["Sessions"] == 18 and len(res.quarantine) == 0
    assert_conservation(res)
    d2 = res.tables["sessions"].set_index("session_key")
    assert set(d1.index) - set(d2.index) == {"sigma:26P0005678_NUM_1:01:03"}
    assert set(d2.index) - set(d1.index) == {"sigma:26P0005678_NUM_1:01:04"}
    changed = d2.loc["sigma:26P0005678_NUM_1:01:01"]
    assert (changed["start_date"], changed["end_date"]) == (date(2027, 1, 18), date(2027, 7, 9))
    assert (
        d2.loc["sigma:26P0001234_BTP_2:01:01", "cancelled"] and not d1.loc["sigma:26P0001234_BTP_2:01:01", "cancelled"]
    )
    cols = ["start_date", "end_date", "places", "workflow_state", "city", "postcode", "contact_phone"]
    same = sorted(set(d1.index) & set(d2.index) - {"sigma:26P0005678_NUM_1:01:01", "sigma:26P0001234_BTP_2:01:01"})
    assert len(same) == 15
    assert d1.loc[same, cols].astype(str).equals(d2.loc[same, cols].astype(str))


def test_defects_md_matches_day1_sample():
    text = (SAMPLES / "DEFECTS.md").read_text(encoding="utf-8")
    section = text.split("## SIGMA", 1)[1].split("\n## ", 1)[0]
    day1 = section.split("### Day 2", 1)[0]
    rows = re.findall(r"^\| `(sigma:[^`]+)`(?: \(action\))? \| ([^|]+) \| (\d+) \| (DQ\d{3}) \|", day1, flags=re.M)
    assert len(rows) >= 11
    res = read_workbook(DAY1)
    tables = {
        "Sessions": (res.tables["sessions"], "session_key"),
        "Informations collectives": (res.tables["events"], "session_key"),
        "Actions": (res.tables["formations"], "formation_key"),
    }
    for key, sheet, line, rule in rows:
        t, col = tables[sheet.strip()]
        hit = t[(t[col] == key) & (t["source_line"] == int(line))]
        assert len(hit) == 1, (key, sheet, line, rule)
    assert {r[3] for r in rows} >= {
        "DQ000",
        "DQ001",
        "DQ002",
        "DQ003",
        "DQ005",
        "DQ009",
        "DQ013",
        "DQ014",
        "DQ015",
        "DQ018",
        "DQ020",
    }
    assert GEN.defects_markdown().strip() in text


def test_generator_is_deterministic_and_samples_are_current():
    b1 = GEN.build(GEN.DAY1_BOOK, GEN.FIXED_TIMESTAMP[GEN.DAY1])
    assert b1 == GEN.build(GEN.DAY1_BOOK, GEN.FIXED_TIMESTAMP[GEN.DAY1])
    assert DAY1.read_bytes() == b1
    assert DAY2.read_bytes() == GEN.build(GEN.day2_book(), GEN.FIXED_TIMESTAMP[GEN.DAY2])


@pytest.mark.parametrize("sheet", ["Actions", "Composantes", "Sessions", "Informations collectives"])
def test_each_sheet_can_be_missing(tmp_path, sheet):
    b = book()
    del b[sheet]
    res = read_workbook(write(tmp_path, b))
    assert not res.ok and len(errors(res)) == 1 and sheet in errors(res).iloc[0]["message"]
    assert_conservation(res)
    assert_conform(res)


def test_module_constants():
    assert sigma.SOURCE == "sigma" and sigma.KIND == "actions"


def test_empty_sheet_and_duplicate_header(tmp_path):
    b = book()
    b["Composantes"] = ([], [])
    headers, rows = b["Sessions"]
    b["Sessions"] = (headers + ["Statut"], [r + ["Brouillon"] for r in rows])
    res = read_workbook(write(tmp_path, b))
    assert not res.ok
    e = errors(res)
    assert len(e) == 1 and e.iloc[0]["sheet"] == "Composantes" and "vide" in e.iloc[0]["message"]
    info = errors(res, severity="info")
    assert len(info) == 1 and "en double" in info.iloc[0]["message"]
    assert by_key(res, f"sigma:{A}:01:01")["workflow_state"] == "Validée"  # the first Statut column wins
    assert res.rows_read["Composantes"] == 0
    assert_conservation(res)


def test_unexpected_failure_is_a_file_error_not_a_crash(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise KeyError("boom")

    monkeypatch.setattr(sigma, "_read_events", boom)
    res = read_workbook(write(tmp_path, book()))
    assert not res.ok and res.rows_read == {} and all(len(t) == 0 for t in res.tables.values())
    e = errors(res)
    assert len(e) == 1 and "inattendue" in e.iloc[0]["message"]
    assert_conform(res)


def test_formacode_version_of_the_source_is_configurable(monkeypatch):
    monkeypatch.delenv("PASSERELLE_FORMACODE_VERSION_SIGMA", raising=False)
    res = read_workbook(DAY1)
    assert set(res.tables["formations"]["formacode_ref"].dropna()) == {"V14"}
    monkeypatch.setenv("PASSERELLE_FORMACODE_VERSION_SIGMA", "v13")
    res = read_workbook(DAY1)
    assert set(res.tables["formations"]["formacode_ref"].dropna()) == {"V13"}
    from passerelle.daily import check_settings

    monkeypatch.setenv("PASSERELLE_FORMACODE_VERSION_SIGMA", "13")
    with pytest.raises(ValueError, match="PASSERELLE_FORMACODE_VERSION_SIGMA='13'"):
        check_settings()
