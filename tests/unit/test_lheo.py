"""LHEO 2.3 feeds: CARIF full / delta and Pôle emploi, against our profiles and the official XSD."""

from __future__ import annotations

import copy
import tracemalloc
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from lxml import etree

from passerelle import model
from passerelle.canonical import enrich_addresses
from passerelle.feeds import lheo, validate
from passerelle.feeds.lheo import NS, write_lheo

REPO = Path(__file__).resolve().parents[2]
XSD_DIR = REPO / "schemas" / "xsd"
CARIF_PROFILE = XSD_DIR / "lheo-carif-profile.xsd"
PE_PROFILE = XSD_DIR / "lheo-pole-emploi-profile.xsd"
RUN_DATE = date(2026, 11, 19)
CREATED = date(2026, 10, 2)
CHANGED = date(2026, 11, 18)


def _shared_dir() -> Path | None:
    for candidate in (REPO.parent / "shared", REPO / ".." / "shared", Path("/work/shared")):
        if (candidate / "reference" / "lheo" / "lheo.xsd").is_file():
            return candidate.resolve()
    return None


SHARED = _shared_dir()
OFFICIAL_XSD = SHARED / "reference" / "lheo" / "lheo.xsd" if SHARED else None
needs_official = pytest.mark.skipif(OFFICIAL_XSD is None, reason="../shared/reference/lheo/lheo.xsd is not available")

L = {"l": NS}


# ----------------------------------------------------------------------------------------------
# small frames: 2 formations (SAM, SIGMA), 3 action rows (+1 EOS action derived from its
# session), 7 sessions (cancelled, Fermé, kept, vanished, permanent without dates...), events
# ----------------------------------------------------------------------------------------------

F_SAM = "sam:2022C007314701:147:1"
F_SIGMA = "sigma:23P0000000_TEST_1"
A_EOS_63 = "eos:2022C007314701:147:1:44306184100047:63000"
A_EOS_73 = "eos:2022C007314701:147:1:44306184100047:73000"  # no row in actions
A_SIG_01 = "sigma:23P0000000_TEST_1:01"
A_SIG_02 = "sigma:23P0000000_TEST_1:02"


def _lineage(source: str, line: int, sheet: str = "") -> dict:
    ext = {"sam": "xml", "eos": "csv", "sigma": "xlsx"}[source]
    return {"source": source, "source_file": f"{source}_x_20261119.{ext}", "source_sheet": sheet, "source_line": line}


def _frame(rows: list[dict], schema) -> pd.DataFrame:
    """Rows as a canonical frame (Arrow dtypes), extra caller columns kept as strings."""
    base = [{k: v for k, v in r.items() if k in schema.names} for r in rows]
    df = model.to_frame(model.conform(pd.DataFrame(base), schema)) if rows else model.empty_frame(schema)
    for extra in ("publication_status", "change"):
        if any(extra in r for r in rows):
            df[extra] = pd.array([r.get(extra) for r in rows], dtype="string")
    if schema in (model.FORMATIONS, model.ACTIONS, model.SESSIONS):
        # LHEO datecrea / datemaj: first published, last content change (publishable.select)
        for extra, default in (("since_date", CREATED), ("changed_date", CHANGED)):
            df[extra] = pd.array([r.get(extra, default) for r in rows], dtype=pd.ArrowDtype(pa.date32()))
    return df


def build_frames():
    formations = [
        {
            "formation_key": F_SAM, **_lineage("sam", 4), "marche_numero": "M2214701",
            "programme": "FPE 21-25", "dossier": "2022C007314701", "lot": "147", "action_number": "1",
            "title": "Agent thermal - Titre Agent thermal", "lot_title": "Thermalisme",
            "objective": "Obtenir le titre d'agent thermal & travailler en station <thermale>.",
            "content": "Accueil, hygiène, soins.", "prerequisites": "Savoir lire et écrire",
            "formacode": "42829", "rome": "G1201", "certifying": True, "rncp": "RNCP12345",
            "hours_centre": 364.0, "hours_company": 210.0, "holder_name": "HÉCATE FORMATION",
            "holder_siret": "44306184100047", "holder_nda": "84630123463", "financer": "2",
        },
        {
            "formation_key": F_SIGMA, **_lineage("sigma", 2, "Actions"), "marche_numero": "23P0000000",
            "action_number": "23P0000000_TEST_1", "title": "Formation Projet Pro - Béziers",
            "formacode": "15041", "certifying": False, "holder_name": "ORGANISME TEST PRF 23",
            "holder_siret": "35600000000048", "holder_nda": "76341234567", "financer": "2",
        },
    ]  # fmt: skip
    actions = [
        {
            "action_key": A_EOS_63, "formation_key": F_SAM, **_lineage("eos", 2),
            "organisme_formateur": "HÉCATE FORMATION", "siret_formateur": "44306184100047",
            "address_line": "12 bis rue de la Paix", "postcode": "63000", "city": "Clermont-Ferrand",
            "insee_code": "63113", "entry_mode": "fixed", "hours_centre": 364.0, "hours_company": 210.0,
        },
        {
            "action_key": A_SIG_01, "formation_key": F_SIGMA, **_lineage("sigma", 2, "Composantes"),
            "composante_number": "01", "composante_label": "FORP - Formation Projet Pro",
            "organisme_formateur": "ORGANISME TEST PRF 23", "siret_formateur": "35600000000048",
            "postcode": "34500", "city": "BEZIERS", "entry_mode": "fixed", "places": 12,
            "hours_centre": 120.5, "hours_company": 35.0,
        },
        {
            "action_key": A_SIG_02, "formation_key": F_SIGMA, **_lineage("sigma", 3, "Composantes"),
            "composante_number": "02", "organisme_formateur": "ORGANISME TEST PRF 23",
            "siret_formateur": "35600000000048", "postcode": "34500", "city": "BEZIERS",
            "entry_mode": "permanent", "places": 8, "hours_centre": 80.0,
        },
    ]  # fmt: skip
    eos_common = {
        "formation_key": F_SAM, "marche_numero": "M2214701", "dossier": "2022C007314701", "lot": "147",
        "action_number": "1", "title": "Agent thermal", "organisme_formateur": "HÉCATE FORMATION",
        "siret_formateur": "44306184100047", "entry_mode": "fixed", "workflow_state": "Validée",
        "workflow_publishable": True, "financer": "2", "hours_centre_avg": 364.0, "hours_company_avg": 210.0,
    }  # fmt: skip
    sigma_common = {
        "formation_key": F_SIGMA, "marche_numero": "23P0000000", "action_number": "23P0000000_TEST_1",
        "title": "Formation Projet Pro - Béziers", "organisme_formateur": "ORGANISME TEST PRF 23",
        "siret_formateur": "35600000000048", "site": "CAP 2000 TEST", "postcode": "34500",
        "city": "BEZIERS", "workflow_state": "Validée", "workflow_publishable": True, "financer": "2",
    }  # fmt: skip
    sessions = [
        {
            **eos_common, "session_key": "eos:1001", "action_key": A_EOS_63, **_lineage("eos", 2),
            "address_line": "12 bis rue de la Paix", "postcode": "63000", "city": "Clermont-Ferrand",
            "insee_code": "63113", "start_date": date(2026, 12, 7), "end_date": date(2027, 4, 30),
            "prescription_start": date(2026, 11, 1), "prescription_end": date(2026, 12, 4),
            "places": 10, "places_region": 10, "places_pole_emploi": 0, "cancelled": False,
            "recruitment_state": "open", "contact_name": "Élodie Martin", "contact_phone": "0473193638",
            "contact_email": "elodie.martin@hecate.fr", "publication_status": "current", "change": "created",
        },
        {
            **eos_common, "session_key": "eos:1002", "action_key": A_EOS_63, **_lineage("eos", 3),
            "address_line": "12 bis rue de la Paix", "postcode": "63000", "city": "Clermont-Ferrand",
            "start_date": date(2027, 1, 11), "end_date": date(2027, 5, 28), "places": 10,
            "places_region": 10, "places_pole_emploi": 0, "cancelled": True, "recruitment_state": "open",
            "contact_name": "Élodie Martin", "contact_phone": "04.73.19.36.38",
            "publication_status": "current", "change": "cancelled",
        },
        {
            **eos_common, "session_key": "eos:1003", "action_key": A_EOS_73, **_lineage("eos", 4),
            "address_line": "3 avenue des Thermes", "address_complement": "Bâtiment B",
            "postcode": "73100", "city": "Aix-les-Bains", "insee_code": "73008",
            "start_date": date(2027, 2, 1), "end_date": date(2027, 6, 30), "places": 8,
            "places_region": 6, "places_pole_emploi": 2, "cancelled": False, "recruitment_state": "closed",
            "contact_name": "Paul Dupré", "contact_phone": "+33 4 79 35 00 00",
            "contact_email": "paul.dupre@hecate.fr", "publication_status": "kept", "change": "updated",
        },
        {
            **sigma_common, "session_key": "sigma:23P0000000_TEST_1:01:01", "action_key": A_SIG_01,
            **_lineage("sigma", 2, "Sessions"), "composante_number": "01", "session_number": "01",
            "start_date": date(2026, 12, 14), "end_date": date(2027, 3, 19), "places": 12,
            "cancelled": False, "recruitment_state": "suspended", "entry_mode": "fixed",
            "contact_name": "Jean Lefèvre", "contact_phone": "04 67 00 00 00",
            "contact_email": "jean.lefevre@orga-test.fr", "publication_status": "current", "change": "updated",
        },
        {
            **sigma_common, "session_key": "sigma:23P0000000_TEST_1:01:02", "action_key": A_SIG_01,
            **_lineage("sigma", 3, "Sessions"), "composante_number": "01", "session_number": "02",
            "start_date": date(2027, 1, 4), "end_date": date(2027, 4, 2), "places": 12, "cancelled": False,
            "entry_mode": "fixed", "contact_name": '=HYPERLINK("http://evil.example/","clic")',
            "contact_phone": "+33 (voir site)", "publication_status": "current",
        },
        {
            **sigma_common, "session_key": "sigma:23P0000000_TEST_1:02:01", "action_key": A_SIG_02,
            **_lineage("sigma", 4, "Sessions"), "composante_number": "02", "session_number": "01",
            "start_date": None, "end_date": None, "places": 8, "cancelled": False, "entry_mode": "permanent",
            "contact_name": "Jean Lefèvre", "contact_phone": "+33 6 12 34 56 78",
            "publication_status": "vanished",
        },
        {
            **sigma_common, "session_key": "sigma:23P0000000_TEST_1:02:02", "action_key": A_SIG_02,
            **_lineage("sigma", 5, "Sessions"), "composante_number": "02", "session_number": "02",
            "start_date": date(2026, 12, 1), "end_date": date(2027, 6, 30), "places": 0, "cancelled": True,
            "entry_mode": "permanent", "contact_name": "Jean Lefèvre", "contact_phone": "0262 12 34 56",
            "publication_status": "current", "change": "cancelled",
        },
    ]  # fmt: skip
    ev_sig = "sigma:23P0000000_TEST_1:01:01"
    events = [
        {
            "event_key": "eos:1001:ic:20261201:0900", "session_key": "eos:1001", **_lineage("eos", 2),
            "event_type": "Information Collective", "is_information_collective": True,
            "start_date": date(2026, 12, 1), "end_date": date(2026, 12, 1), "start_time": "09:00",
            "end_time": "11:00", "cancelled": False, "address_line": "12 bis rue de la Paix",
            "postcode": "63000", "city": "Clermont-Ferrand", "description": "Réunion ; salle 2",
        },
        {
            "event_key": "eos:1001:test:20261203:1400", "session_key": "eos:1001", **_lineage("eos", 3),
            "event_type": "Test", "is_information_collective": False, "start_date": date(2026, 12, 3),
            "start_time": "14:00", "end_time": "16:00", "cancelled": False,
        },
        {
            "event_key": f"{ev_sig}:ic:20261110:1000", "session_key": ev_sig,
            **_lineage("sigma", 2, "Informations collectives"), "event_type": "Information Collective",
            "is_information_collective": True, "start_date": date(2026, 11, 10), "start_time": "10:00",
            "end_time": "12:00", "places": 10, "cancelled": False, "postcode": "34500", "city": "BEZIERS",
        },
        {
            "event_key": f"{ev_sig}:ic:20261202:1400", "session_key": ev_sig,
            **_lineage("sigma", 3, "Informations collectives"), "event_type": "Information Collective",
            "is_information_collective": True, "start_date": date(2026, 12, 2), "start_time": "14:00",
            "end_time": "16:00", "places": 0, "cancelled": True, "postcode": "34500", "city": "BEZIERS",
        },
        {
            "event_key": f"{ev_sig}:ic:20261205:1000", "session_key": ev_sig,
            **_lineage("sigma", 4, "Informations collectives"), "event_type": "Information Collective",
            "is_information_collective": True, "start_date": date(2026, 12, 5), "start_time": "10:00",
            "end_time": "12:00", "places": 12, "cancelled": False, "address_line": "5 rue du Quai",
            "postcode": "34500", "city": "BEZIERS",
        },
    ]  # fmt: skip
    # as the canonical build gives them: each address with its commune from the COG
    return (
        _frame(formations, model.FORMATIONS),
        enrich_addresses(_frame(actions, model.ACTIONS)),
        enrich_addresses(_frame(sessions, model.SESSIONS)),
        enrich_addresses(_frame(events, model.EVENTS)),
    )


def scaled_frames(n_formations: int, actions_per_formation: int = 2, sessions_per_action: int = 5):
    """A feed of ``n_formations * actions_per_formation * sessions_per_action`` sessions, built by
    repeating the fixture rows with new keys (vectorised)."""
    formations, actions, sessions, events = build_frames()
    fi = pd.RangeIndex(n_formations)
    f = formations.iloc[[0] * n_formations].reset_index(drop=True)
    f["formation_key"] = pd.array([f"sam:D{i:06d}:001:1" for i in fi], dtype=f["formation_key"].dtype)
    n_actions = n_formations * actions_per_formation
    a = actions.iloc[[0] * n_actions].reset_index(drop=True)
    a["formation_key"] = pd.array(
        f["formation_key"].to_numpy().repeat(actions_per_formation), dtype=a["formation_key"].dtype
    )
    a["action_key"] = pd.array([f"eos:D{i // actions_per_formation:06d}:001:1:44306184100047:{63000 + i % actions_per_formation}"
                                for i in range(n_actions)], dtype=a["action_key"].dtype)  # fmt: skip
    n_sessions = n_actions * sessions_per_action
    s = sessions.iloc[[0, 1, 2] * (n_sessions // 3) + [0] * (n_sessions % 3)].reset_index(drop=True)
    s["action_key"] = pd.array(a["action_key"].to_numpy().repeat(sessions_per_action), dtype=s["action_key"].dtype)
    s["formation_key"] = pd.array(
        a["formation_key"].to_numpy().repeat(sessions_per_action), dtype=s["formation_key"].dtype
    )
    s["session_key"] = pd.array([f"eos:{100000 + i}" for i in range(n_sessions)], dtype=s["session_key"].dtype)
    with_events = s["session_key"].to_numpy()[::10]  # two events on every tenth session
    e = events.iloc[[0, 1] * len(with_events)].reset_index(drop=True)
    e["session_key"] = pd.array(with_events.repeat(2), dtype=e["session_key"].dtype)
    e["event_key"] = pd.array([f"{k}:ev{j}" for k, j in zip(e["session_key"], [0, 1] * len(with_events))],
                              dtype=e["event_key"].dtype)  # fmt: skip
    return f, a, s, e


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, frames=None, **kwargs) -> Path:
    formations, actions, sessions, events = frames or build_frames()
    if kwargs.get("delta"):
        sessions = sessions[sessions["change"].notna()]
    path = tmp_path / name
    n = write_lheo(path, formations, actions, sessions, events, **kwargs)
    assert n == len(sessions)
    return path


def _profile(kind: str) -> Path:
    return PE_PROFILE if kind == "pole_emploi" else CARIF_PROFILE


def _sessions(doc) -> dict[str, etree._Element]:
    return {s.get("numero"): s for s in doc.iterfind(".//l:session", L)}


def _extras(session) -> dict[str, str]:
    return {e.get("info"): e.text for e in session.iterfind("l:extras[@info='passerelle']/l:extra", L)}


def _assert_valid(path: Path, xsd: Path) -> None:
    for streaming in (False, True):
        errors = validate.validate_file(path, xsd, streaming=streaming)
        assert errors == [], (streaming, errors[:5])


def _official_errors(path: Path) -> list[str]:
    return validate.validate_file(path, OFFICIAL_XSD)


# ----------------------------------------------------------------------------------------------
# validity
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("carif.xml", {"profile": "carif"}),
        ("delta.xml", {"profile": "carif", "delta": True}),
        ("pe.xml", {"profile": "pole_emploi"}),
    ],
)
def test_feed_is_valid_against_our_profile(tmp_path, name, kwargs):
    path = _write(tmp_path, name, run_date=RUN_DATE, **kwargs)
    _assert_valid(path, _profile(kwargs["profile"]))


@needs_official
@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("carif.xml", {"profile": "carif"}),
        ("delta.xml", {"profile": "carif", "delta": True}),
        ("pe.xml", {"profile": "pole_emploi"}),
    ],
)
def test_feed_is_valid_against_official_lheo_23(tmp_path, name, kwargs):
    path = _write(tmp_path, name, run_date=RUN_DATE, **kwargs)
    _assert_valid(path, OFFICIAL_XSD)


def test_profiles_reject_each_others_feed(tmp_path):
    carif = _write(tmp_path, "carif.xml", profile="carif")
    pe = _write(tmp_path, "pe.xml", profile="pole_emploi")
    assert validate.validate_file(carif, PE_PROFILE)  # numero-marche / places-pole-emploi missing
    assert validate.validate_file(pe, CARIF_PROFILE)  # extras the CARIF profile does not know


def test_profiles_differ_only_in_their_profile_specific_block():
    def core(path: Path) -> str:
        text = path.read_text(encoding="utf-8")
        text = text[text.index("-->") + 3 :]  # the header comment says what the profile is for
        start = text.index("<!-- BEGIN profile-specific")
        end = text.index("<!-- END profile-specific -->")
        return text[:start] + text[end:]

    assert core(CARIF_PROFILE) == core(PE_PROFILE)


# ----------------------------------------------------------------------------------------------
# content
# ----------------------------------------------------------------------------------------------


def test_carif_feed_structure_and_values(tmp_path):
    doc = etree.parse(str(_write(tmp_path, "carif.xml", profile="carif", run_date=RUN_DATE)))
    root = doc.getroot()
    assert root.tag == f"{{{NS}}}lheo"
    assert [f.get("numero") for f in root.iterfind("l:offres/l:formation", L)] == [F_SAM, F_SIGMA]
    assert [a.get("numero") for a in root.iterfind(".//l:action", L)] == [A_EOS_63, A_EOS_73, A_SIG_01, A_SIG_02]
    sessions = _sessions(doc)
    assert list(sessions) == [
        "eos:1001", "eos:1002", "eos:1003",
        "sigma:23P0000000_TEST_1:01:01", "sigma:23P0000000_TEST_1:01:02",
        "sigma:23P0000000_TEST_1:02:01", "sigma:23P0000000_TEST_1:02:02",
    ]  # fmt: skip
    state = {k: s.findtext("l:etat-recrutement", namespaces=L) for k, s in sessions.items()}
    assert state == {
        "eos:1001": "1",  # open
        "eos:1002": "2",  # cancelled -> closed
        "eos:1003": "2",  # Fermé
        "sigma:23P0000000_TEST_1:01:01": "3",  # suspended
        "sigma:23P0000000_TEST_1:01:02": "1",  # no state given -> open
        "sigma:23P0000000_TEST_1:02:01": "1",
        "sigma:23P0000000_TEST_1:02:02": "2",  # cancelled (0 places)
    }
    flags = {k: _extras(s) for k, s in sessions.items()}
    assert flags["eos:1001"] == {"annulee": "0", "public": "1", "statut-publication": "courant"}
    assert flags["eos:1002"] == {"annulee": "1", "public": "0", "statut-publication": "courant"}
    assert flags["eos:1003"] == {"annulee": "0", "public": "0", "statut-publication": "conserve"}  # Fermé, kept
    assert flags["sigma:23P0000000_TEST_1:02:01"]["statut-publication"] == "disparue"
    assert flags["sigma:23P0000000_TEST_1:01:01"]["public"] == "1"  # suspended stays public
    assert all("mouvement" not in f and "numero-marche" not in f for f in flags.values())

    # AAAAMMJJ dates, unknown dates of a permanent-entry session
    s1 = sessions["eos:1001"]
    assert s1.findtext("l:periode/l:debut", namespaces=L) == "20261207"
    assert s1.findtext("l:periode/l:fin", namespaces=L) == "20270430"
    assert s1.findtext("l:periode-inscription/l:periode/l:fin", namespaces=L) == "20261204"
    perm = sessions["sigma:23P0000000_TEST_1:02:01"]
    assert perm.findtext("l:periode/l:debut", namespaces=L) == "00000000"
    assert perm.findtext("l:periode/l:fin", namespaces=L) == "99999999"
    for d in doc.iterfind(".//l:periode/*", L):
        assert len(d.text) == 8 and d.text.isdigit()

    # contacts: national phone format, mobile in portable
    assert s1.findtext("l:contact-session/l:coordonnees/l:telfixe/l:numtel", namespaces=L) == "04 73 19 36 38"
    assert perm.findtext("l:contact-session/l:coordonnees/l:portable/l:numtel", namespaces=L) == "06 12 34 56 78"

    actions = {a.get("numero"): a for a in doc.iterfind(".//l:action", L)}
    # the EOS action without a row is derived from its session
    derived = actions[A_EOS_73]
    assert derived.findtext("l:organisme-formateur/l:SIRET-formateur/l:SIRET", namespaces=L) == "44306184100047"
    assert derived.findtext("l:lieu-de-formation/l:coordonnees/l:adresse/l:codepostal", namespaces=L) == "73100"
    assert [x.text for x in derived.iterfind("l:lieu-de-formation/l:coordonnees/l:adresse/l:ligne", L)] == [
        "3 avenue des Thermes", "Bâtiment B",
    ]  # fmt: skip
    assert actions[A_SIG_02].findtext("l:modalites-entrees-sorties", namespaces=L) == "1"
    assert actions[A_SIG_01].findtext("l:modalites-entrees-sorties", namespaces=L) == "0"
    # hours are xs:long: 120.5 rounds half up
    assert actions[A_SIG_01].findtext("l:nombre-heures-centre", namespaces=L) == "121"
    # places financed by the Région: cancelled sessions do not count
    assert actions[A_EOS_63].findtext("l:organisme-financeur/l:nb-places-financees", namespaces=L) == "10"
    assert actions[A_SIG_02].findtext("l:organisme-financeur/l:nb-places-financees", namespaces=L) == "8"
    assert [c.text for c in doc.iterfind(".//l:code-financeur", L)] == ["2", "2", "2", "2"]

    # next information collective dates on or after the run date, cancelled ones left out
    assert [d.text for d in actions[A_SIG_01].iterfind("l:date-information/l:date", L)] == ["20261205"]
    assert actions[A_SIG_01].findtext("l:adresse-information/l:adresse/l:ligne", namespaces=L) == "5 rue du Quai"
    assert [d.text for d in actions[A_EOS_63].iterfind("l:date-information/l:date", L)] == ["20261201"]
    assert actions[A_EOS_73].find("l:date-information", L) is None

    # events published with the session, cancellation flagged
    evs = sessions["sigma:23P0000000_TEST_1:01:01"].findall("l:extras/l:extras[@info='evenements']/l:extras", L)
    assert [e.get("numero").rsplit(":", 2)[-2] for e in evs] == ["20261110", "20261202", "20261205"]
    by_info = [{x.get("info"): x.text for x in e.iterfind("l:extra", L)} for e in evs]
    assert [b["annule"] for b in by_info] == ["0", "1", "0"]
    assert by_info[1] == {
        "type": "information-collective", "date": "20261202", "heure-debut": "14:00",
        "heure-fin": "16:00", "lieu": "34500 BEZIERS", "places": "0", "annule": "1",
    }  # fmt: skip
    test_event = sessions["eos:1001"].findall("l:extras/l:extras/l:extras", L)[1]
    assert test_event.find("l:extra[@info='type']", L).text == "test"

    f_sam = root.find("l:offres/l:formation", L)
    assert f_sam.findtext("l:domaine-formation/l:code-FORMACODE", namespaces=L) == "42829"
    assert f_sam.findtext("l:certifiante", namespaces=L) == "1"
    assert f_sam.findtext("l:certification/l:code-RNCP", namespaces=L) == "RNCP12345"
    assert f_sam.findtext("l:organisme-formation-responsable/l:numero-activite", namespaces=L) == "84630123463"
    assert "&" in f_sam.findtext("l:objectif-formation", namespaces=L)  # escaped in the file, text intact
    f_sigma = root.findall("l:offres/l:formation", L)[1]
    # nothing in the source: "-" as real Intercarif feeds do, never an empty string
    assert f_sigma.findtext("l:objectif-formation", namespaces=L) == "-"
    assert f_sigma.findtext("l:contenu-formation", namespaces=L) == "-"
    assert f_sigma.find("l:certification", L) is None


def test_delta_feed_marks_each_movement(tmp_path):
    doc = etree.parse(str(_write(tmp_path, "delta.xml", profile="carif", delta=True)))
    moves = {k: _extras(s)["mouvement"] for k, s in _sessions(doc).items()}
    assert moves == {
        "eos:1001": "creation",
        "eos:1002": "annulation",
        "eos:1003": "modification",
        "sigma:23P0000000_TEST_1:01:01": "modification",
        "sigma:23P0000000_TEST_1:02:02": "annulation",
    }
    cancelled = _sessions(doc)["eos:1002"]
    assert cancelled.findtext("l:etat-recrutement", namespaces=L) == "2"
    assert _extras(cancelled)["annulee"] == "1"


def test_delta_feed_needs_a_valid_change(tmp_path):
    formations, actions, sessions, events = build_frames()
    with pytest.raises(ValueError, match="change"):
        write_lheo(tmp_path / "d.xml", formations, actions, sessions.drop(columns=["change"]), events,
                   profile="carif", delta=True)  # fmt: skip
    with pytest.raises(ValueError, match="change"):  # a session without a movement in a delta feed
        write_lheo(tmp_path / "d.xml", formations, actions, sessions, events, profile="carif", delta=True)
    with pytest.raises(ValueError, match="profile"):
        write_lheo(tmp_path / "x.xml", formations, actions, sessions, events, profile="onisep")
    odd = sessions.copy()
    odd["publication_status"] = odd["publication_status"].astype(object)
    odd.loc[0, "publication_status"] = "archived"
    with pytest.raises(ValueError, match="publication_status"):
        write_lheo(tmp_path / "s.xml", formations, actions, odd, events, profile="carif")
    assert not (tmp_path / "s.xml").exists()  # refused before anything is written


def test_a_cancellation_movement_is_published_as_cancelled(tmp_path):
    formations, actions, sessions, events = build_frames()
    one = sessions[sessions["session_key"] == "eos:1001"].copy()
    one["change"] = "cancelled"  # cancelled since the last run, whatever today's flag says
    write_lheo(tmp_path / "d.xml", formations, actions, one, events, profile="carif", delta=True)
    session = _sessions(etree.parse(str(tmp_path / "d.xml")))["eos:1001"]
    assert session.findtext("l:etat-recrutement", namespaces=L) == "2"
    assert _extras(session) == {
        "annulee": "1",
        "public": "0",
        "statut-publication": "courant",
        "mouvement": "annulation",
    }


def test_an_empty_feed_is_written_but_is_not_valid_lheo(tmp_path):
    """LHEO needs at least one formation: the caller must not publish an empty feed (DQ023)
    and decides what to do with an empty delta (the writer returns 0)."""
    formations, actions, sessions, events = build_frames()
    n = write_lheo(
        tmp_path / "e.xml", formations, actions, sessions.iloc[:0], events.iloc[:0], profile="carif", delta=True
    )
    assert n == 0
    assert etree.parse(str(tmp_path / "e.xml")).getroot().find("l:offres", L) is not None
    assert validate.validate_file(tmp_path / "e.xml", CARIF_PROFILE)


def test_pole_emploi_feed_adds_marche_and_places(tmp_path):
    doc = etree.parse(str(_write(tmp_path, "pe.xml", profile="pole_emploi")))
    sessions = _sessions(doc)
    assert len(sessions) == 7  # Fermé and cancelled sessions are exported too
    assert _extras(sessions["eos:1003"]) == {
        "annulee": "0", "public": "0", "statut-publication": "conserve",
        "numero-marche": "M2214701", "places-pole-emploi": "2",
    }  # fmt: skip
    assert _extras(sessions["sigma:23P0000000_TEST_1:01:01"])["numero-marche"] == "23P0000000"
    derived = next(a for a in doc.iterfind(".//l:action", L) if a.get("numero") == A_EOS_73)
    financers = [(f.findtext("l:code-financeur", namespaces=L), f.findtext("l:nb-places-financees", namespaces=L))
                 for f in derived.iterfind("l:organisme-financeur", L)]  # fmt: skip
    assert financers == [("2", "6"), ("4", "2")]
    # no Pôle emploi places elsewhere: no code 4
    assert sum(1 for c in doc.iterfind(".//l:code-financeur", L) if c.text == "4") == 1


def test_output_bytes_are_deterministic(tmp_path):
    formations, actions, sessions, events = build_frames()
    first = _write(tmp_path, "a.xml", profile="carif", run_date=RUN_DATE).read_bytes()
    again = _write(tmp_path, "b.xml", profile="carif", run_date=RUN_DATE).read_bytes()
    shuffled = (
        formations.iloc[::-1].reset_index(drop=True),
        actions.sample(frac=1, random_state=3).reset_index(drop=True),
        sessions.sample(frac=1, random_state=5).reset_index(drop=True),
        events.sample(frac=1, random_state=7).reset_index(drop=True),
    )
    other_order = _write(tmp_path, "c.xml", frames=shuffled, profile="carif", run_date=RUN_DATE).read_bytes()
    assert first == again == other_order
    assert first.startswith(
        b"<?xml version='1.0' encoding='UTF-8'?>\n<lheo xmlns=\"http://lheo.gouv.fr/2.3\">\n  <offres>\n    <formation"
    )
    assert first.endswith(b"    </formation>\n  </offres>\n</lheo>\n")
    assert b"\r" not in first
    assert "Élodie".encode() in first  # UTF-8, not character references


def test_text_is_made_safe_for_lheo(tmp_path):
    formations, actions, sessions, events = build_frames()
    formations.loc[0, "title"] = "Agent\x0b thermal " + "x" * 300  # control character from a workbook
    sessions.loc[0, "address_line"] = "Résidence les Jardins du Parc, bâtiment C, escalier 4, porte 12"
    path = _write(tmp_path, "t.xml", frames=(formations, actions, sessions, events), profile="carif")
    doc = etree.parse(str(path))
    title = doc.findtext(".//l:intitule-formation", namespaces=L)
    assert title.startswith("Agent thermal") and len(title) == 255 and title.endswith("…")
    lines = [x.text for x in _sessions(doc)["eos:1001"].iterfind("l:adresse-inscription/l:adresse/l:ligne", L)]
    assert len(lines) == 2 and all(len(x) <= 50 for x in lines)
    assert " ".join(lines) == "Résidence les Jardins du Parc, bâtiment C, escalier 4, porte 12"
    _assert_valid(path, CARIF_PROFILE)


def test_session_without_formation_or_action_rows_is_still_written(tmp_path):
    formations, actions, sessions, events = build_frames()
    path = _write(tmp_path, "o.xml", frames=(formations.iloc[:0], actions.iloc[:0], sessions, events), profile="carif")
    doc = etree.parse(str(path))
    assert len(_sessions(doc)) == 7
    assert doc.findtext(".//l:intitule-formation", namespaces=L) == "Agent thermal"  # the session's title
    _assert_valid(path, CARIF_PROFILE)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0473193638", "04 73 19 36 38"),
        ("04.73.19.36.38", "04 73 19 36 38"),
        ("+33 4 73 19 36 38", "04 73 19 36 38"),
        ("+33 (0)4 73 19 36 38", "04 73 19 36 38"),
        ("06-12-34-56-78", "06 12 34 56 78"),
        ("0262123456", "0262 12 34 56"),  # La Réunion keeps its own national format
        ("+262 262 12 34 56", "0262 12 34 56"),
        ("0596612345", "0596 61 23 45"),  # Martinique
        ("+689 40 12 34 56", "40 12 34 56"),  # Polynésie française
        ("+33 (voir site)", "+33 (voir site)"),  # not a number: as received
        ("04 73 19 36 38 ou 06 12 34 56 78", "04 73 19 36 38 ou 06 12 34 56 78"),
        ("  ", None),
        (None, None),
    ],
)
def test_format_phone(raw, expected):
    assert lheo.format_phone(raw) == expected


# ----------------------------------------------------------------------------------------------
# our profiles are stricter than LHEO
# ----------------------------------------------------------------------------------------------


def _mutated(tmp_path: Path, source: Path, name: str, mutate) -> Path:
    doc = etree.parse(str(source))
    mutate(doc)
    out = tmp_path / name
    doc.write(str(out), xml_declaration=True, encoding="UTF-8")
    return out


def _first_session(doc):
    return doc.find(".//l:session", L)


@needs_official
@pytest.mark.parametrize(
    ("case", "mutate", "expected"),
    [
        ("no-contact", lambda d: _first_session(d).remove(_first_session(d).find("l:contact-session", L)), "contact-session"),
        ("no-etat", lambda d: _first_session(d).remove(_first_session(d).find("l:etat-recrutement", L)), "etat-recrutement"),
        ("bad-numero", lambda d: _first_session(d).set("numero", "1001"), "numero"),
        ("no-numero", lambda d: _first_session(d).attrib.pop("numero"), "numero"),
        ("bad-date", lambda d: setattr(_first_session(d).find("l:periode/l:debut", L), "text", "20261399"), "debut"),
        ("no-extras", lambda d: _first_session(d).remove(_first_session(d).find("l:extras", L)), "extras"),
        ("flag-missing", lambda d: _first_session(d).find("l:extras", L).remove(_first_session(d).find("l:extras/l:extra", L)), "extra"),
        ("flag-twice", lambda d: _first_session(d).find("l:extras/l:extra[@info='annulee']", L).set("info", "public"), "public"),
        ("unknown-flag", lambda d: _first_session(d).find("l:extras/l:extra", L).set("info", "visible"), "info"),
        ("contact-without-phone", lambda d: _first_session(d).find("l:contact-session/l:coordonnees", L).remove(
            _first_session(d).find("l:contact-session/l:coordonnees/l:telfixe", L)), "courriel"),
        ("duplicate-session", lambda d: _first_session(d).addnext(copy.deepcopy(_first_session(d))), "uplicate"),
    ],
)  # fmt: skip
def test_profile_catches_what_lheo_allows(tmp_path, case, mutate, expected):
    source = _write(tmp_path, "carif.xml", profile="carif")
    bad = _mutated(tmp_path, source, f"{case}.xml", mutate)
    assert _official_errors(bad) == []  # still valid LHEO 2.3
    for streaming in (False, True):
        errors = validate.validate_file(bad, CARIF_PROFILE, streaming=streaming)
        assert errors, (case, streaming)
        assert any(expected in e for e in errors), errors
        assert all(e.startswith("line ") and not e.startswith("line 0") for e in errors), errors


@needs_official
def test_pole_emploi_profile_takes_the_marche_number_when_the_session_has_one(tmp_path):
    # a session of an LHEO producer has no marché (issue 16): the profile accepts it without
    # one; a Région session without its marché number is reported by DQ002 (error)
    formations, actions, sessions, events = build_frames()
    sessions["marche_numero"] = pd.array([None] * len(sessions), dtype=sessions["marche_numero"].dtype)
    formations.loc[formations["formation_key"] == F_SAM, "marche_numero"] = None
    path = _write(tmp_path, "pe.xml", frames=(formations, actions, sessions, events), profile="pole_emploi")
    assert _official_errors(path) == []
    assert validate.validate_file(path, PE_PROFILE) == []
    # a marché number that is not one is still refused
    formations, actions, sessions, events = build_frames()
    sessions["marche_numero"] = pd.array(["R4218"] * len(sessions), dtype=sessions["marche_numero"].dtype)
    path = _write(tmp_path, "pe-bad.xml", frames=(formations, actions, sessions, events), profile="pole_emploi")
    errors = validate.validate_file(path, PE_PROFILE)
    assert errors and all("line " in e for e in errors)
    assert any("R4218" in e for e in errors), errors


@needs_official
def test_session_without_contact_is_caught_by_the_profile_only(tmp_path):
    formations, actions, sessions, events = build_frames()
    sessions.loc[sessions["session_key"] == "eos:1003", ["contact_name", "contact_phone", "contact_email"]] = None
    path = _write(tmp_path, "nc.xml", frames=(formations, actions, sessions, events), profile="carif")
    assert _official_errors(path) == []
    errors = validate.validate_file(path, CARIF_PROFILE)
    assert errors and any("contact-session" in e for e in errors)


# ----------------------------------------------------------------------------------------------
# validate.py
# ----------------------------------------------------------------------------------------------


def test_validate_reports_malformed_xml_and_refuses_doctype(tmp_path):
    broken = tmp_path / "broken.xml"
    broken.write_text(
        '<?xml version="1.0"?>\n<lheo xmlns="http://lheo.gouv.fr/2.3"><offres>\n<formation>\n</offres></lheo>\n'
    )
    xxe = tmp_path / "xxe.xml"
    xxe.write_text('<?xml version="1.0"?>\n<!DOCTYPE lheo [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
                   '<lheo xmlns="http://lheo.gouv.fr/2.3">&x;</lheo>\n')  # fmt: skip
    empty = tmp_path / "empty.xml"
    empty.write_text('<?xml version="1.0"?>\n<lheo xmlns="http://lheo.gouv.fr/2.3"><offres/></lheo>\n')
    for streaming in (False, True):
        errors = validate.validate_file(broken, CARIF_PROFILE, streaming=streaming)
        assert len(errors) == 1 and errors[0].startswith("line 4:")
        assert validate.validate_file(xxe, CARIF_PROFILE, streaming=streaming) == [
            "line 1: a feed must not carry a DOCTYPE (no DTD, no entities)"
        ]
        assert validate.validate_file(empty, CARIF_PROFILE, streaming=streaming)  # offres needs a formation
    with pytest.raises(FileNotFoundError):
        validate.validate_file(tmp_path / "missing.xml", CARIF_PROFILE)
    assert validate.load_schema(CARIF_PROFILE) is validate.load_schema(str(CARIF_PROFILE))  # cached


@needs_official
def test_validate_accepts_the_real_intercarif_samples(tmp_path):
    samples = sorted((SHARED / "reference" / "lheo" / "samples").glob("*.xml"))
    assert samples
    for sample in samples:
        moved = tmp_path / sample.name  # LHEO 2.2 -> 2.3 is a namespace change
        moved.write_bytes(sample.read_bytes().replace(b"http://www.lheo.org/2.2", NS.encode()))
        for streaming in (False, True):
            assert validate.validate_file(moved, OFFICIAL_XSD, streaming=streaming) == [], sample.name
        assert validate.validate_file(moved, CARIF_PROFILE)  # not our profile


# ----------------------------------------------------------------------------------------------
# memory
# ----------------------------------------------------------------------------------------------


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_feed(tmp_path):
    """A sanity check, not a benchmark: the Python memory peak while writing 20k sessions stays
    at the level of a 2k-session feed and far below the feed itself (a whole lxml tree of the
    feed would take several times its size)."""
    small, big = scaled_frames(200, 2, 5), scaled_frames(2000, 2, 5)
    assert len(big[2]) == 20_000
    out_small, out_big = tmp_path / "small.xml", tmp_path / "big.xml"
    peak_small = _peak(lambda: write_lheo(out_small, *small, profile="carif"))
    peak_big = _peak(lambda: write_lheo(out_big, *big, profile="carif"))
    size_big = out_big.stat().st_size
    assert size_big > 8 * out_small.stat().st_size
    assert peak_big < 1.5 * peak_small + 2_000_000, (peak_small, peak_big)
    assert peak_big < size_big / 4, (peak_big, size_big)


def test_caller_bookkeeping_columns_are_ignored(tmp_path):
    formations, actions, sessions, events = build_frames()
    plain = _write(tmp_path, "plain.xml", profile="carif").read_bytes()
    sessions["content_hash"] = "abc"
    sessions["first_seen"] = pd.NaT
    extra = _write(tmp_path, "extra.xml", frames=(formations, actions, sessions, events), profile="carif").read_bytes()
    assert extra == plain


# ----------------------------------------------------------------------------------------------
# what the consumers read (outputs.md « What the consumers read in the LHEO feeds »)
# ----------------------------------------------------------------------------------------------


def _with(frames, *, formation: dict | None = None, session: dict | None = None, key: str = "eos:1001"):
    """``frames`` with some formation (F_SAM) and session (``key``) columns replaced."""
    formations, actions, sessions, events = (f.copy() for f in frames)
    for df, col_key, which, values in (
        (formations, "formation_key", F_SAM, formation),
        (sessions, "session_key", key, session),
    ):
        for col, value in (values or {}).items():
            df[col] = df[col].astype(object)
            df.loc[df[col_key] == which, col] = value
            df[col] = pd.array(df[col].tolist(), dtype=frames[0 if df is formations else 2][col].dtype)
    return formations, actions, sessions, events


def test_codes_with_their_version_and_the_principal_one(tmp_path):
    frames = _with(
        build_frames(),
        formation={
            "formacode": "42829 15041 123",
            "rome": "g1201 K2110",
            "nsf": "330 331",
            "rncp": "RS5678",
            "certifinfo": "80735",
        },
    )
    path = _write(tmp_path, "codes.xml", frames=frames, profile="carif")
    doc = etree.parse(str(path))
    f = doc.find(".//l:formation[@numero='sam:2022C007314701:147:1']", L)
    codes = f.findall("l:domaine-formation/l:code-FORMACODE", L)
    assert [(c.text, c.get("ref"), c.get("tag")) for c in codes] == [
        ("42829", "V14", "principal"),
        ("15041", "V14", None),
    ]  # 123: not a code
    assert [c.text for c in f.findall("l:domaine-formation/l:code-NSF", L)] == ["330", "331"]
    assert [c.text for c in f.findall("l:domaine-formation/l:code-ROME", L)] == ["G1201", "K2110"]
    assert [c.tag.split("}")[1] for c in f.find("l:certification", L)] == ["code-CERTIFINFO", "code-RS"]
    _assert_valid(path, CARIF_PROFILE)
    if OFFICIAL_XSD:
        _assert_valid(path, OFFICIAL_XSD)
    frames = _with(build_frames(), formation={"formacode_ref": "V13"})
    doc = etree.parse(str(_write(tmp_path, "v13.xml", frames=frames, profile="carif")))
    assert (
        doc.find(".//l:formation[@numero='sam:2022C007314701:147:1']/l:domaine-formation/l:code-FORMACODE", L).get(
            "ref"
        )
        == "V13"
    )


def test_organisations_have_a_numero_a_siret_and_coordinates(tmp_path):
    doc = etree.parse(str(_write(tmp_path, "org.xml", profile="carif")))
    text = etree.tostring(doc, encoding="unicode")
    assert "<coordonnees/>" not in text and text.count("xmlns") == 1
    f = doc.find(".//l:formation[@numero='sam:2022C007314701:147:1']", L)
    r = f.find("l:organisme-formation-responsable", L)
    assert r.get("numero") == "siret:44306184100047"
    assert r.findtext("l:raison-sociale", namespaces=L) == "HÉCATE FORMATION"
    coord = r.find("l:coordonnees-organisme/l:coordonnees", L)
    assert coord.findtext("l:adresse/l:ville", namespaces=L) == "Clermont-Ferrand"
    assert coord.findtext("l:adresse/l:region", namespaces=L) == "84"
    assert coord.findtext("l:telfixe/l:numtel", namespaces=L) == "04 73 19 36 38"
    contact = r.find("l:contact-organisme", L)
    assert contact.findtext("l:type-contact", namespaces=L) == "4"
    assert contact.findtext("l:coordonnees/l:nom", namespaces=L) == "Élodie Martin"
    o = f.find(f"l:action[@numero='{A_EOS_63}']/l:organisme-formateur", L)
    assert o.get("numero") == "siret:44306184100047"
    assert o.findtext("l:contact-formateur/l:coordonnees/l:adresse/l:code-INSEE-commune", namespaces=L) == "63113"
    lieu = f.find(f"l:action[@numero='{A_EOS_63}']/l:lieu-de-formation/l:coordonnees", L)
    assert lieu.findtext("l:adresse/l:departement", namespaces=L) == "63"
    assert lieu.findtext("l:telfixe/l:numtel", namespaces=L) == "04 73 19 36 38"


def test_a_body_without_a_siret_is_keyed_by_its_name(tmp_path):
    frames = build_frames()
    formations, actions, sessions, events = (f.copy() for f in frames)
    actions.loc[actions["action_key"] == A_SIG_01, "siret_formateur"] = None
    actions.loc[actions["action_key"] == A_SIG_01, "organisme_formateur"] = "BTP Formation 66"
    sessions.loc[sessions["action_key"] == A_SIG_01, "siret_formateur"] = None
    path = _write(tmp_path, "noname.xml", frames=(formations, actions, sessions, events), profile="carif")
    o = etree.parse(str(path)).find(f".//l:action[@numero='{A_SIG_01}']/l:organisme-formateur", L)
    assert o.get("numero") == "nom:BTP-FORMATION-66"
    assert o.findtext("l:SIRET-formateur/l:SIRET", namespaces=L) == "00000000000000"
    assert o.findtext("l:raison-sociale-formateur", namespaces=L) == "BTP Formation 66"
    _assert_valid(path, CARIF_PROFILE)


def test_one_name_per_siret_in_every_element(tmp_path):
    frames = _with(build_frames(), session={"organisme_formateur": "Hecate Form. Clermont"}, key="eos:1003")
    doc = etree.parse(str(_write(tmp_path, "names.xml", frames=frames, profile="carif")))
    names = {
        o.findtext("l:raison-sociale-formateur", namespaces=L)
        for o in doc.iterfind(".//l:organisme-formateur", L)
        if o.findtext("l:SIRET-formateur/l:SIRET", namespaces=L) == "44306184100047"
    }
    assert names == {"HÉCATE FORMATION"}  # the contract holder's name


def test_dates_on_formations_actions_and_sessions(tmp_path):
    frames = _with(build_frames(), session={"since_date": date(2026, 9, 1), "changed_date": date(2026, 11, 17)})
    doc = etree.parse(str(_write(tmp_path, "dates.xml", frames=frames, profile="carif")))
    s = _sessions(doc)["eos:1001"]
    assert (s.get("datecrea"), s.get("datemaj")) == ("20260901", "20261117")
    f = doc.find(".//l:formation[@numero='sam:2022C007314701:147:1']", L)
    assert (f.get("datecrea"), f.get("datemaj")) == ("20261002", "20261118")
    # an action only its session describes (no row): created with its first session
    a = doc.find(f".//l:action[@numero='{A_EOS_73}']", L)
    assert (a.get("datecrea"), a.get("datemaj")) == ("20261002", "20261118")


def test_a_withdrawn_session_is_only_in_the_delta_closed(tmp_path):
    frames = _with(
        build_frames(),
        session={"publication_status": "withdrawn", "change": "withdrawn"},
        key="sigma:23P0000000_TEST_1:01:02",
    )
    formations, actions, sessions, events = frames
    path = tmp_path / "full.xml"
    n = write_lheo(path, formations, actions, sessions, events, profile="carif")
    full = _sessions(etree.parse(str(path)))
    assert "sigma:23P0000000_TEST_1:01:02" not in full and n == len(sessions) - 1
    delta_path = tmp_path / "delta.xml"
    write_lheo(
        delta_path, formations, actions, sessions[sessions["change"].notna()], events, profile="carif", delta=True
    )
    s = _sessions(etree.parse(str(delta_path)))["sigma:23P0000000_TEST_1:01:02"]
    assert s.findtext("l:etat-recrutement", namespaces=L) == "2"
    assert _extras(s)["mouvement"] == "retrait" and _extras(s)["statut-publication"] == "retiree"
    assert _extras(s)["public"] == "0" and _extras(s)["annulee"] == "0"
    _assert_valid(delta_path, CARIF_PROFILE)
