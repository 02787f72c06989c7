"""Mission Locale CSV: format contract, French labels, phones, CSV injection, determinism."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import date

import pandas as pd

from passerelle.feeds.mission_locale import HEADER, neutralise_formulas, write_mission_locale_csv
from tests.unit.test_lheo import A_SIG_01, build_frames, scaled_frames

RUN_DATE = date(2026, 11, 19)
EXPECTED_HEADER = (
    "session_id;action_id;intitule;organisme_formateur;siret;adresse;code_postal;ville;code_insee;"
    "date_debut;date_fin;entrees_sorties;places;etat_recrutement;annulee;contact_nom;contact_tel;"
    "contact_mail;prochaine_info_collective;financeur;numero_marche;source"
)


def _write(tmp_path, frames=None, name="ml.csv", **kwargs):
    frames = frames or build_frames()
    path = tmp_path / name
    n = write_mission_locale_csv(path, *frames, **kwargs)
    return path, n


def _read(path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=";", quotechar='"'))


def test_file_format_is_exactly_the_contract(tmp_path):
    path, n = _write(tmp_path, run_date=RUN_DATE)
    raw = path.read_bytes()
    assert n == 7
    assert raw.startswith(b"\xef\xbb\xbf" + EXPECTED_HEADER.encode() + b"\r\n")
    assert ";".join(HEADER) == EXPECTED_HEADER
    body = raw[3:]
    assert body.count(b"\r\n") == 8  # header + 7 rows, CRLF everywhere
    assert body.replace(b"\r\n", b"").count(b"\n") == 0
    assert raw.endswith(b"\r\n")
    text = raw.decode("utf-8-sig")
    assert "Élodie Martin" in text and "Jean Lefèvre" in text and "Fermé" in text  # UTF-8 accents


def test_rows_read_back_with_french_values(tmp_path):
    path, _ = _write(tmp_path, run_date=RUN_DATE)
    rows = _read(path)
    assert list(rows[0]) == HEADER
    ids = [r["session_id"] for r in rows]
    assert ids == sorted(ids)  # deterministic order by session_key
    by_id = {r["session_id"]: r for r in rows}

    first = by_id["eos:1001"]
    assert first == {
        "session_id": "eos:1001",
        "action_id": "eos:2022C007314701:147:1:44306184100047:63000",
        "intitule": "Agent thermal",
        "organisme_formateur": "HÉCATE FORMATION",
        "siret": "44306184100047",
        "adresse": "12 bis rue de la Paix",
        "code_postal": "63000",
        "ville": "Clermont-Ferrand",
        "code_insee": "63113",
        "date_debut": "07/12/2026",
        "date_fin": "30/04/2027",
        "entrees_sorties": "fixes",
        "places": "10",
        "etat_recrutement": "Ouvert",
        "annulee": "non",
        "contact_nom": "Élodie Martin",
        "contact_tel": "04 73 19 36 38",
        "contact_mail": "elodie.martin@hecate.fr",
        "prochaine_info_collective": "01/12/2026 09:00",
        "financeur": "Conseil régional",
        "numero_marche": "M2214701",
        "source": "eos",
    }
    cancelled = by_id["eos:1002"]
    assert (cancelled["annulee"], cancelled["etat_recrutement"]) == ("oui", "Fermé")
    assert cancelled["contact_tel"] == "04 73 19 36 38"  # 04.73.19.36.38 reformatted
    closed = by_id["eos:1003"]
    assert (closed["etat_recrutement"], closed["annulee"]) == ("Fermé", "non")  # Fermé stays exported
    assert closed["adresse"] == "3 avenue des Thermes, Bâtiment B"
    assert closed["contact_tel"] == "04 79 35 00 00"  # +33 4 79 ... in national format
    suspended = by_id["sigma:23P0000000_TEST_1:01:01"]
    assert suspended["etat_recrutement"] == "Suspendu"
    # 10/11 is before the run date, 02/12 is cancelled (0 places): the next one is 05/12
    assert suspended["prochaine_info_collective"] == "05/12/2026 10:00"
    assert (suspended["numero_marche"], suspended["source"]) == ("23P0000000", "sigma")
    permanent = by_id["sigma:23P0000000_TEST_1:02:01"]
    assert (permanent["entrees_sorties"], permanent["date_debut"], permanent["date_fin"]) == ("permanentes", "", "")
    assert permanent["contact_tel"] == "06 12 34 56 78"
    assert permanent["etat_recrutement"] == "Ouvert"  # SIGMA gives no state: open, as in LHEO
    assert by_id["sigma:23P0000000_TEST_1:02:02"]["contact_tel"] == "0262 12 34 56"  # overseas format kept
    assert by_id["sigma:23P0000000_TEST_1:02:02"]["places"] == "0"


def test_formulas_are_neutralised(tmp_path):
    formations, actions, sessions, events = build_frames()
    sessions.loc[sessions["session_key"] == "eos:1001", "title"] = "-5 % sur la formation"
    sessions.loc[sessions["session_key"] == "eos:1002", "contact_email"] = "@cmd|' /C calc'!A0"
    sessions.loc[sessions["session_key"] == "eos:1003", "contact_name"] = "\t=1+1"  # cells are stripped
    path, _ = _write(tmp_path, (formations, actions, sessions, events))
    by_id = {r["session_id"]: r for r in _read(path)}
    evil = by_id["sigma:23P0000000_TEST_1:01:02"]
    assert evil["contact_nom"] == '\'=HYPERLINK("http://evil.example/","clic")'
    assert evil["contact_tel"] == "'+33 (voir site)"  # not a phone: raw value, quoted
    assert by_id["eos:1001"]["intitule"] == "'-5 % sur la formation"
    assert by_id["eos:1002"]["contact_mail"] == "'@cmd|' /C calc'!A0"
    assert by_id["eos:1003"]["contact_nom"] == "'=1+1"
    # a +33 phone that is a real number is reformatted first, so it needs no quote
    assert by_id["eos:1003"]["contact_tel"] == "04 79 35 00 00"
    for row in _read(path):
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    cells = pd.Series(["\tx", "\rx", "=x", "+x", "-x", "@x", "x=", "", "é"], dtype="string")
    assert neutralise_formulas(cells).tolist() == ["'\tx", "'\rx", "'=x", "'+x", "'-x", "'@x", "x=", "", "é"]


def test_next_information_collective_without_run_date_and_address_fallback(tmp_path):
    formations, actions, sessions, events = build_frames()
    # a SIGMA session without a place of its own takes its composante's address
    mask = sessions["session_key"] == "sigma:23P0000000_TEST_1:01:02"
    sessions.loc[mask, ["postcode", "city"]] = None
    actions.loc[actions["action_key"] == A_SIG_01, ["address_line", "commune_code"]] = ["1 place du Marché", "34032"]
    path, _ = _write(tmp_path, (formations, actions, sessions, events))
    by_id = {r["session_id"]: r for r in _read(path)}
    assert by_id["sigma:23P0000000_TEST_1:01:01"]["prochaine_info_collective"] == "10/11/2026 10:00"
    fallback = by_id["sigma:23P0000000_TEST_1:01:02"]
    assert (fallback["adresse"], fallback["code_postal"], fallback["ville"], fallback["code_insee"]) == (
        "1 place du Marché", "34500", "BEZIERS", "34032",
    )  # fmt: skip


def test_text_with_separators_quotes_and_line_breaks_round_trips(tmp_path):
    formations, actions, sessions, events = build_frames()
    tricky = 'Agent "thermal"; niveau 1\r\nsuite'
    sessions.loc[sessions["session_key"] == "eos:1001", "title"] = tricky
    path, _ = _write(tmp_path, (formations, actions, sessions, events))
    rows = _read(path)
    assert len(rows) == 7
    assert rows[0]["intitule"] == tricky
    assert all(len(r) == len(HEADER) for r in rows)


def test_deterministic_and_empty(tmp_path):
    formations, actions, sessions, events = build_frames()
    a, _ = _write(tmp_path, name="a.csv", run_date=RUN_DATE)
    shuffled = (formations, actions.iloc[::-1], sessions.sample(frac=1, random_state=1), events.iloc[::-1])
    b, _ = _write(tmp_path, shuffled, name="b.csv", run_date=RUN_DATE)
    assert a.read_bytes() == b.read_bytes()
    empty, n = _write(tmp_path, (formations, actions, sessions.iloc[:0], events.iloc[:0]), name="e.csv")
    assert n == 0
    assert empty.read_bytes() == b"\xef\xbb\xbf" + EXPECTED_HEADER.encode() + b"\r\n"


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_streams_in_chunks_with_flat_memory(tmp_path, monkeypatch):
    import passerelle.feeds.mission_locale as ml

    monkeypatch.setattr(ml, "_CHUNK", 2_000)  # both sizes span several chunks
    small, big = scaled_frames(400, 2, 5), scaled_frames(1600, 2, 5)  # 4 000 and 16 000 sessions
    peak_small = _peak(lambda: _write(tmp_path, small, name="small.csv"))
    peak_big = _peak(lambda: _write(tmp_path, big, name="big.csv"))
    assert peak_big < 1.5 * peak_small + 2_000_000, (peak_small, peak_big)
    data = (tmp_path / "big.csv").read_bytes()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert len(rows) == 16_001
    assert [r[0] for r in rows[1:]] == sorted(r[0] for r in rows[1:])
    assert pd.Series([r[13] for r in rows[1:]]).isin(["Ouvert", "Fermé", "Suspendu"]).all()
