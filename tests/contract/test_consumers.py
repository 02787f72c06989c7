"""Consumer contract tests: our LHEO feeds as data·inclusion and Anotéa read them.

The feeds are those the real daily job publishes (``passerelle run``, in process) for the two
sample days and for a synthetic day; the consumers' readers are replayed by
:mod:`tests.contract.consumers` (our code, naming the upstream files it follows). Each test
says what a consumer gets: every formation, action, session and organisation reachable by its
key, with its dates, places, FORMACODE, INSEE code, département and région (or a DQ026 finding
saying why not).
"""

from __future__ import annotations

import csv
import re
from datetime import date
from pathlib import Path

import pytest
from lxml import etree

from passerelle.feeds.conformance import official_lheo_xsd
from passerelle.feeds.lheo import NS
from passerelle.reference.cog import departement_of_insee, region_of_departement
from passerelle.synth import write_inbox
from tests.contract.consumers import (
    DATAINCLUSION_NOT_CARRIED,
    DataInclusion,
    anotea_accounts,
    anotea_import,
    anotea_reconcile,
    datainclusion_failures,
    datainclusion_read,
)
from tests.integration.runs import DAY1, DAY2, SAMPLES, run_in_process

L = {"l": NS}
SYNTH_DAY = date(2026, 11, 19)
FEEDS = ("carif/lheo-{d}.xml", "carif/lheo-delta-{d}.xml", "pole-emploi/offres-{d}.xml")

XSD = official_lheo_xsd()
pytestmark = pytest.mark.skipif(
    XSD is None,
    reason="the official LHEO XSD (../shared/reference/lheo/lheo.xsd or "
    "PASSERELLE_LHEO_XSD) is needed to read the feeds as data·inclusion does",
)


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> dict[str, Path]:
    """Day folders published by the daily job: the two sample days and a synthetic day."""
    out = tmp_path_factory.mktemp("samples")
    for day in (DAY1, DAY2):
        assert run_in_process(SAMPLES, out, day) == 0
    synth_in = tmp_path_factory.mktemp("synth-inbox")
    write_inbox(synth_in, 400, seed=7, extract_date=SYNTH_DAY)
    synth_out = tmp_path_factory.mktemp("synth")
    assert run_in_process(synth_in, synth_out, SYNTH_DAY) == 0
    return {
        "2026-11-19": out / DAY1.isoformat(),
        "2026-11-20": out / DAY2.isoformat(),
        "synth": synth_out / SYNTH_DAY.isoformat(),
    }


DAYS = ["2026-11-19", "2026-11-20", "synth"]


def _day_of(key: str) -> str:
    return SYNTH_DAY.isoformat() if key == "synth" else key


def _feeds(folder: Path, key: str) -> list[Path]:
    return [folder / f.format(d=_day_of(key)) for f in FEEDS if (folder / f.format(d=_day_of(key))).exists()]


def _unresolved_places(folder: Path) -> set[tuple[str, str]]:
    """(postcode, city) of the addresses the day's quality report says the COG cannot resolve."""
    out = set()
    with open(folder / "quality" / "issues.csv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["rule"] == "DQ026":
                m = re.fullmatch(r"(\S+) (.*?)(?: \(INSEE .*\))?", row["value"])
                out.add((m.group(1), m.group(2)))
    return out


def _keys(feed: Path) -> tuple[set, set, set]:
    """(formation, (formation, action), (formation, action, session)) numeros of a feed, read
    with plain lxml: what the consumers must each reach."""
    doc = etree.parse(str(feed))
    f, a, s = set(), set(), set()
    for formation in doc.iterfind(".//l:formation", L):
        fn = formation.get("numero")
        f.add(fn)
        for action in formation.iterfind("l:action", L):
            a.add((fn, action.get("numero")))
            for session in action.iterfind("l:session", L):
                s.add((fn, action.get("numero"), session.get("numero")))
    return f, a, s


def _expected_region(code: str | None) -> str | None:
    return region_of_departement(departement_of_insee(code)) if code else None


# --------------------------------------------------------------------------------------------
# data·inclusion
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("day", DAYS)
def test_datainclusion_reads_every_formation_action_and_organisation(published, day):
    folder = published[day]
    unresolved = _unresolved_places(folder)
    for feed in _feeds(folder, day):
        di = DataInclusion(datainclusion_read(feed, XSD))
        f_keys, a_keys, _ = _keys(feed)
        assert {f["numero"] for f in di.formations} == f_keys, feed.name
        assert {(a["numero_formation"], a["numero"]) for a in di.actions} == a_keys, feed.name
        assert all(f["domaine_formation__formacode"] for f in di.formations), feed.name  # none filtered out
        # synthetic phones are 40 % mobile (passerelle.synth._phones): the landline proportion
        # data·inclusion expects of real data is asked of the sample days only
        failures = datainclusion_failures(di, unresolved, proportions=day != "synth")
        assert failures == [], f"{feed.name}: {failures}"


def test_what_datainclusion_still_misses_is_written_down():
    """The data tests our feeds cannot pass because the sources do not carry the data: listed
    with a reason (README « What the consumers get »), never filled with invented values."""
    assert DATAINCLUSION_NOT_CARRIED
    assert all(reason for reason in DATAINCLUSION_NOT_CARRIED.values())


def test_the_datainclusion_replay_fails_on_the_feeds_consumers_could_not_read(tmp_path):
    """The replay is not a test that cannot fail: a feed as we published them before (no ref,
    no numero, no datemaj, no département) fails it on each of those points."""
    old = Path(__file__).resolve().parent / "data" / "lheo-before-issue-15.xml"
    di = DataInclusion(datainclusion_read(old, XSD))
    failures = "\n".join(datainclusion_failures(di, set()))
    assert "domaine_formation__formacode not_null" in failures
    assert "numero_organisme_formateur not_null" in failures
    assert "stg_carif_oref__formations.date_maj" in failures
    assert "departement / code_insee_commune not_null" in failures
    assert "version_formacode accepted_values [V14]" in failures


# --------------------------------------------------------------------------------------------
# Anotéa
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("day", DAYS)
def test_anotea_reconciles_every_formation_action_and_session(published, day):
    folder = published[day]
    for feed in _feeds(folder, day):
        docs = anotea_import(feed)
        run = anotea_reconcile(docs)
        f_keys, a_keys, s_keys = _keys(feed)
        assert run.errors == [], run.errors[:3]
        assert set(run.formations) == f_keys
        assert set(run.actions) == {f"{f}|{a}" for f, a in a_keys}
        assert set(run.sessions) == {f"{f}|{a}|{s}" for f, a, s in s_keys}
        for formation in run.formations.values():
            assert formation["formacodes"], formation["numero"]  # _meta.formacodes: the codes with ref
            r = formation["organisme_responsable"]
            assert r["numero"] and re.fullmatch(r"\d{1,14}", r["siret"]) and r["raison_sociale"], r
        for action in run.actions.values():
            o = action["organisme_formateur"]
            assert o["numero"] and o["siret"] and o["raison_sociale"], o
            assert action["lieu_de_formation"]["code_postal"] and action["lieu_de_formation"]["ville"]
        for session in run.sessions.values():
            debut, fin = session["periode"]["raw"]
            assert session["periode"]["debut"] is not None or debut == "00000000", session
            assert session["periode"]["fin"] is not None or fin == "99999999", session


@pytest.mark.parametrize("day", DAYS)
def test_anotea_accounts_one_name_per_siret_and_their_real_region(published, day):
    """synchronizeAccounts*WithIntercarif.js: the region of every account is the INSEE region of
    its address (never the '11' they default to), and a SIRET carries one name."""
    folder = published[day]
    unresolved = _unresolved_places(folder)
    feed = _feeds(folder, day)[0]
    accounts = anotea_accounts(anotea_import(feed))
    assert accounts
    doc = etree.parse(str(feed))
    regions = {r.text for r in doc.iterfind(".//l:adresse/l:region", L)}
    for siret, account in accounts.items():
        assert len(account["names"]) == 1, (siret, account["names"])
        defaulted = account["regions"] - regions
        assert not defaulted or unresolved, (siret, account["regions"])


# --------------------------------------------------------------------------------------------
# what both read, checked on the feed itself (LHEO dictionaries, outputs.md)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("day", DAYS)
def test_codes_organisations_dates_and_places_as_the_consumers_read_them(published, day):
    folder = published[day]
    run_date = _day_of(day).replace("-", "")
    unresolved = _unresolved_places(folder)
    for feed in _feeds(folder, day):
        text = feed.read_text(encoding="utf-8")
        assert text.count("xmlns") == 1, "the namespace is declared once, on the root"
        assert "<coordonnees/>" not in text
        doc = etree.parse(str(feed))
        for formation in doc.iterfind(".//l:formation", L):
            codes = formation.findall("l:domaine-formation/l:code-FORMACODE", L)
            # V14 for the Région's extracts; an LHEO producer's FORMACODE keeps the version it gives
            expected = {"V14"} if not formation.get("numero", "").startswith("lheo:") else {"V12", "V13", "V14"}
            assert codes and all(c.get("ref") in expected for c in codes), formation.get("numero")
            assert codes[0].get("tag") == "principal"
        for element in (
            doc.iterfind(".//l:formation", L),
            doc.iterfind(".//l:action", L),
            doc.iterfind(".//l:session", L),
        ):
            for e in element:
                crea, maj = e.get("datecrea"), e.get("datemaj")
                assert crea and maj and "00000000" not in (crea, maj), e.get("numero")
                assert crea <= maj <= run_date, (e.get("numero"), crea, maj)
        for org in doc.iterfind(".//l:organisme-formateur", L):
            siret = org.findtext("l:SIRET-formateur/l:SIRET", namespaces=L)
            assert org.get("numero") == f"siret:{siret}", org.get("numero")
            if day != "synth":
                assert siret != "00000000000000"
        for org in doc.iterfind(".//l:organisme-formation-responsable", L):
            siret = org.findtext("l:SIRET-organisme-formation/l:SIRET", namespaces=L)
            assert org.get("numero") == f"siret:{siret}"
            assert org.find("l:coordonnees-organisme/l:coordonnees/l:adresse/l:ville", L) is not None
            assert org.find("l:contact-organisme/l:coordonnees/l:nom", L) is not None
        for adresse in doc.iterfind(".//l:adresse", L):
            place = (adresse.findtext("l:codepostal", namespaces=L), adresse.findtext("l:ville", namespaces=L))
            code = adresse.findtext("l:code-INSEE-commune", namespaces=L)
            if code is None:
                assert place in unresolved, f"{feed.name}: {place} has no commune and no DQ026 finding"
                continue
            dept = adresse.findtext("l:departement", namespaces=L)
            assert (
                dept == departement_of_insee(code)
                and adresse.findtext("l:region", namespaces=L) == _expected_region(code)
                and adresse.findtext("l:pays", namespaces=L) == "FR"
            ), place


def test_the_sample_places_the_cog_must_handle(published):
    """Corsica without an INSEE code, La Réunion, a CEDEX postcode, and a city its postcode
    does not serve (DQ026), as the consumers get them."""
    feed = published["2026-11-20"] / "carif" / "lheo-2026-11-20.xml"
    doc = etree.parse(str(feed))
    places = {}
    for adresse in doc.iterfind(".//l:session/l:adresse-inscription/l:adresse", L):
        places[adresse.findtext("l:codepostal", namespaces=L), adresse.findtext("l:ville", namespaces=L)] = (
            adresse.findtext("l:code-INSEE-commune", namespaces=L),
            adresse.findtext("l:departement", namespaces=L),
            adresse.findtext("l:region", namespaces=L),
        )
    assert places["20000", "Ajaccio"] == ("2A004", "2A", "94")
    assert places["97400", "Saint-Denis"] == ("97411", "974", "04")
    assert places["69431", "LYON CEDEX 03"] == ("69123", "69", "84")
    assert places["69003", "Lyon"] == ("69383", "69", "84")  # an arrondissement municipal keeps its code
    assert places["63000", "Clermont-Ferrand"] == ("63113", "63", "84")
    assert places["63000", "Riom"] == (None, None, None)  # 63000 does not serve Riom: not guessed
    riom = [a for a in doc.iterfind(".//l:adresse", L) if a.findtext("l:ville", namespaces=L) == "Riom"]
    assert riom and all(a.find("l:code-INSEE-commune", L) is None for a in riom)
    assert ("63000", "Riom") in _unresolved_places(published["2026-11-20"])


def test_a_sigma_body_that_is_not_the_titulaire_keeps_its_own_siret(published):
    feed = published["2026-11-20"] / "carif" / "lheo-2026-11-20.xml"
    doc = etree.parse(str(feed))
    action = doc.find(".//l:action[@numero='sigma:26P0001234_BTP_2:01']", L)
    org = action.find("l:organisme-formateur", L)
    assert org.findtext("l:raison-sociale-formateur", namespaces=L) == "BTP FORMATION 66"
    assert org.findtext("l:SIRET-formateur/l:SIRET", namespaces=L) == "75689123000010"
    responsable = action.getparent().find("l:organisme-formation-responsable", L)
    assert responsable.findtext("l:raison-sociale", namespaces=L) == "AGRI FORMATION OCCITANIE"
    assert responsable.findtext("l:SIRET-organisme-formation/l:SIRET", namespaces=L) == "31245678300017"
