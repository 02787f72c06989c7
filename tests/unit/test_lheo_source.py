"""LHEO source reader (passerelle/sources/lheo.py): real files, dialects, hostile input, row
conservation, dates, repeated numbers, and the round trip of our own Carif feed.

(``tests/unit/test_lheo.py`` tests the LHEO feed *writer*.)
"""

from __future__ import annotations

import gzip
import re
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from lxml import etree

from passerelle import model
from passerelle.canonical import build_core
from passerelle.conservation import conservation_report
from passerelle.feeds.conformance import official_lheo_xsd
from passerelle.feeds.lheo import write_lheo
from passerelle.findings import concat_findings
from passerelle.sources import lheo
from passerelle.sources.lheo import EXTRA_TABLES, read_lheo

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "lheo"
GOLDEN = ROOT / "tests" / "golden"
SHARED = ROOT.parent / "shared" / "reference"
XSD = official_lheo_xsd()
needs_xsd = pytest.mark.skipif(
    XSD is None,
    reason="the official LHEO XSD (../shared/reference/lheo/lheo.xsd or "
    "PASSERELLE_LHEO_XSD) is not available: schema findings not checked",
)

REAL_FILES = [
    "trefle-formation.xml",
    "trefle-daeu.xml",
    "trefle-poec.xml",
    "trefle-wrong_code_financeur_16.xml",
    "lheo-schema-exemple-bts-onisep.xml",
    "anotea-intercarif-lheo-anonymised.xml",
    "intercarif-offre-info-resumes-idf-2017.xml",
    "edof-catalogue-sst.xml",
]
KINDS = {"formations": "formation", "actions": "action", "sessions": "session", "events": "event"}


# --- helpers ----------------------------------------------------------------------------------


def place(
    tmp_path: Path, source: Path | str | bytes, producer: str = "intercarif", day: str = "20261120", gz: bool = False
) -> Path:
    """``source`` (a file, or the bytes/text of one) as ``lheo_<producer>_<day>.xml[.gz]``."""
    target = tmp_path / (f"lheo_{producer}_{day}.xml" + (".gz" if gz else ""))
    if isinstance(source, Path):
        data = source.read_bytes()
    else:
        data = source.encode("utf-8") if isinstance(source, str) else source
    target.write_bytes(gzip.compress(data) if gz else data)
    return target


def read(tmp_path: Path, source, **kw):
    return read_lheo(place(tmp_path, source, **kw))


def lxml_counts(path: Path) -> dict[str, int]:
    """Formations, actions, sessions and our events of a file, counted with plain lxml."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.parse(str(path), parser).getroot()
    resumes = len(root.findall(".//{*}resume-offre"))
    return {
        "formations": len(root.findall(".//{*}formation")) + resumes,
        "actions": len(root.findall(".//{*}action")) + resumes,
        "sessions": len(root.findall(".//{*}session")),
        "events": len(root.xpath(".//*[local-name()='extras'][@info='evenement']")),
    }


def per_kind(res) -> dict[str, int]:
    """Records of each kind: in the canonical tables plus in quarantine."""
    q = res.quarantine["kind"].value_counts()
    return {t: len(res.tables[t]) + int(q.get(k, 0)) for t, k in KINDS.items()}


def assert_conserved(res) -> None:
    assert res.rows_read[""] == sum(len(res.tables[t]) for t in KINDS) + len(res.quarantine)
    for name, schema in {
        "formations": model.FORMATIONS,
        "actions": model.ACTIONS,
        "sessions": model.SESSIONS,
        "events": model.EVENTS,
        **EXTRA_TABLES,
    }.items():
        model.conform(res.tables[name], schema)
    model.conform(res.quarantine, model.QUARANTINE)
    model.conform(res.findings, model.FINDINGS)


def findings(res, severity: str | None = None) -> pd.DataFrame:
    f = res.findings
    return f if severity is None else f[f["severity"] == severity]


def all_text(res) -> str:
    return "\n".join([res.findings.to_csv(), res.quarantine.to_csv(), *(t.to_csv() for t in res.tables.values())])


def lheo_doc(formations: str, ns: str = lheo.NS_23, decl: str = '<?xml version="1.0" encoding="UTF-8"?>') -> str:
    xmlns = f' xmlns="{ns}"' if ns else ""
    return f"{decl}\n<lheo{xmlns}>\n<offres>\n{formations}</offres>\n</lheo>\n"


def formation(numero: str | None, actions: str, title: str = "Titre") -> str:
    num = f' numero="{numero}"' if numero is not None else ""
    return (
        f"<formation{num}>\n<intitule-formation>{title}</intitule-formation>\n{actions}"
        "<organisme-formation-responsable><SIRET-organisme-formation><SIRET>44306184100047</SIRET>"
        "</SIRET-organisme-formation></organisme-formation-responsable>\n</formation>\n"
    )


def action(numero: str | None, sessions: str) -> str:
    num = f' numero="{numero}"' if numero is not None else ""
    return f"<action{num}>\n<modalites-entrees-sorties>0</modalites-entrees-sorties>\n{sessions}</action>\n"


def session(numero: str | None, debut: str = "20270111", fin: str = "20270301", city: str = "Vichy") -> str:
    num = f' numero="{numero}"' if numero is not None else ""
    return (
        f"<session{num}>\n<periode><debut>{debut}</debut><fin>{fin}</fin></periode>\n"
        f"<adresse-inscription><adresse><ligne>1 rue A</ligne><codepostal>03200</codepostal><ville>{city}</ville>"
        "</adresse></adresse-inscription>\n<etat-recrutement>1</etat-recrutement>\n</session>\n"
    )


# --- every real file reads ----------------------------------------------------------------------


@pytest.mark.parametrize("name", REAL_FILES)
def test_real_file_reads_with_every_record_accounted_for(tmp_path, name):
    path = place(tmp_path, DATA / name)
    res = read_lheo(path)
    assert res.ok and res.source == "lheo" and res.kind == "intercarif"
    assert res.extract_date == date(2026, 11, 20)
    assert per_kind(res) == lxml_counts(path)
    assert len(res.quarantine) == 0
    assert_conserved(res)
    assert len(res.tables["sessions"]) >= 1
    s = res.tables["sessions"]
    assert s["session_key"].str.startswith("lheo:intercarif:").all()
    assert s["action_key"].isin(res.tables["actions"]["action_key"]).all()
    assert s["formation_key"].isin(res.tables["formations"]["formation_key"]).all()
    assert (s["source_file"] == path.name).all() and (s["source_line"] > 0).all()
    assert findings(res, "error").empty
    # no markup survives in any text of the canonical tables
    for table in ("formations", "actions", "sessions"):
        text = res.tables[table].select_dtypes(exclude=["bool"]).astype("string").fillna("")
        assert not text.apply(lambda col: col.str.contains(r"<[A-Za-z/]", regex=True)).any().any(), table


@pytest.mark.parametrize("name", REAL_FILES)
def test_each_record_keeps_the_line_where_its_element_starts(tmp_path, name):
    path = place(tmp_path, DATA / name)
    res = read_lheo(path)
    text = path.read_bytes()
    for table, tag in (("sessions", "session"), ("actions", "action"), ("formations", "formation")):
        starts = [text.count(b"\n", 0, m.start()) + 1 for m in re.finditer(rb"<" + tag.encode() + rb"[\s>]", text)]
        if tag != "session" and b"<resume-offre" in text:
            starts = [text.count(b"\n", 0, m.start()) + 1 for m in re.finditer(rb"<resume-offre[\s>]", text)]
        assert sorted(res.tables[table]["source_line"].tolist()) == starts, table


def test_the_reference_files_are_all_here_and_the_json_is_refused(tmp_path):
    if not SHARED.is_dir():
        pytest.skip("../shared/reference is not available: the copies in tests/data/lheo are tested")
    shared = sorted([*SHARED.glob("lheo/samples/*.xml"), *SHARED.glob("external/*/*.xml")])
    assert {p.name for p in shared} <= set(REAL_FILES)
    for p in shared:
        assert (DATA / p.name).read_bytes() == p.read_bytes(), p.name
    for p in SHARED.glob("external/*/*.json"):
        res = read(tmp_path, p)
        assert not res.ok and res.rows_read == {"": 0}
        assert findings(res, "error")["message"].str.contains("n'est pas un document XML").any()


# --- mapping of real files --------------------------------------------------------------------


def test_intercarif_formation_maps_codes_organisations_places_and_contacts(tmp_path):
    res = read(tmp_path, DATA / "trefle-formation.xml")
    f = res.tables["formations"].iloc[0]
    assert f["formation_key"] == "lheo:intercarif:07_10" and f["action_number"] == "07_10"
    assert (f["title"], f["formacode"], f["rome"], f["rncp"], f["certifying"]) == (
        "Titre professionnel plaquiste",
        "22403",
        "F1604",
        "RNCP320",
        True,
    )
    assert (f["formacode_ref"], f["nsf"], f["certifinfo"]) == ("V12", "233", "80735")
    assert f["objective"].startswith("L'objectif est d'obtenir")
    assert (f["holder_siret"], f["holder_nda"]) == ("82422814200660", "24930181145")
    assert f["holder_name"] == "Direction régionale Centre de l'agence nationale pour la formation des adultes"
    fx = res.tables["lheo_formation_extras"].iloc[0]
    assert (fx["formacode_ref"], list(fx["nsf"]), fx["certifinfo"], fx["rncp"]) == ("V12", ["233"], "80735", "320")
    assert (fx["responsable_numero"], fx["responsable_nom"]) == ("07_1494", "DRAFPA d'Olivet")
    assert (fx["responsable_contact_nom"], fx["responsable_contact_courriel"]) == (
        "Catherine LE POEC",
        "catherine.lepoec@afpa.fr",
    )
    assert fx["responsable_adresse"] == "Propriété de l'Archette, Rue Basse Mouillère, CS 50613, 45160 Olivet"
    assert (fx["datecrea"], fx["datemaj"]) == ("20010503", "20171213")

    a = res.tables["actions"].set_index("action_key")
    fixed, permanent = a.loc["lheo:intercarif:07_114782"], a.loc["lheo:intercarif:07_123324"]
    assert (fixed["entry_mode"], permanent["entry_mode"]) == ("fixed", "permanent")
    assert (fixed["organisme_formateur"], fixed["siret_formateur"]) == ("AFPA de Veigné", "82422814201874")
    assert (fixed["postcode"], fixed["city"], fixed["insee_code"]) == ("37250", "Veigné", "37266")
    assert (fixed["places"], permanent["places"]) == (8, 5)  # financers 10 (4) + 5 (4); 2 (5)
    assert (permanent["hours_centre"], permanent["hours_company"]) == (585.0, 112.0)
    fin = res.tables["lheo_financers"]
    assert sorted(zip(fin["action_key"], fin["code_financeur"], fin["nb_places"], strict=True)) == [
        ("lheo:intercarif:07_114782", "10", 4),
        ("lheo:intercarif:07_114782", "5", 4),
        ("lheo:intercarif:07_123324", "2", 5),
    ]

    s = res.tables["sessions"].set_index("session_key")
    one = s.loc["lheo:intercarif:123324"]
    assert (one["start_date"], one["end_date"]) == (date(2017, 10, 30), date(2018, 6, 1))
    assert pd.isna(one["prescription_start"]) and one["prescription_end"] == date(2018, 5, 22)  # 00000000: unknown
    assert (one["places"], one["places_region"], one["financer"]) == (5, 5, "2")
    assert (one["recruitment_state"], one["workflow_publishable"], one["cancelled"]) == ("open", True, False)
    assert (one["address_line"], one["address_complement"], one["postcode"]) == (
        "AFPA de Veigné",
        "Le Passoir",
        "37250",
    )
    # no contact-session: the training body's contact
    assert (one["contact_name"], one["contact_phone"]) == ("Delphine BERNOT", "06 32 12 65 37")
    sx = res.tables["lheo_session_extras"].set_index("session_key")
    assert sx.loc["lheo:intercarif:123324", "contact_origin"] == "formateur"
    assert sx.loc["lheo:intercarif:123324", "inscription_debut"] == "00000000"


def test_financers_without_places_and_the_principal_formacode(tmp_path):
    res = read(tmp_path, DATA / "trefle-wrong_code_financeur_16.xml")
    # every code, the one tagged principal (the second in the file) first
    assert res.tables["formations"].iloc[0]["formacode"] == "21538 21001"
    assert list(res.tables["lheo_formation_extras"].iloc[0]["formacodes"]) == ["21001", "21538"]
    fin = res.tables["lheo_financers"]
    assert fin["code_financeur"].tolist() == ["10", "16", "17", "5", "0"] and fin["nb_places"].isna().all()
    s = res.tables["sessions"].iloc[0]
    assert pd.isna(s["places"]) and s["financer"] == "10"
    info = findings(res, "info")
    assert info["message"].str.contains("aucun de ses financeurs").any()
    assert info["line"].tolist() == [181]


@needs_xsd
def test_anotea_negative_sample_is_read_with_its_defects_reported(tmp_path):
    res = read(tmp_path, DATA / "anotea-intercarif-lheo-anonymised.xml")
    assert res.ok and per_kind(res) == {"formations": 1, "actions": 1, "sessions": 1, "events": 0}
    w = findings(res, "warning").set_index("line")
    assert (
        "<coordonneFs> inconnu" in w.loc[14, "message"]
        and w.loc[14, "field"] == "formation/contact-formation/coordonneFs"
    )
    assert "<coordonnees>, obligatoire" in w.loc[13, "message"]
    assert w.loc[434, "value"] == "022222222222222" and "15 caractères" in w.loc[434, "message"]
    assert w.loc[521, "field"] == "formation/organisme-formation-responsable/SIRET-organisme-formation/SIRET"
    assert "n'est pas à sa place" in w.loc[528, "message"]
    assert w["message"].str.contains("Formation « F_XX_XX »").all()
    f, s = res.tables["formations"].iloc[0], res.tables["sessions"].iloc[0]
    assert f["holder_siret"] == "011111111111111"  # read as written; DQ016 judges it
    assert s["siret_formateur"] == "022222222222222"
    # contact-formation unreadable (<coordonneFs>): the training body's contact
    assert (s["contact_name"], s["contact_phone"]) == ("Jacko Martina", "1111")
    # the producer marks the session outdated: read, counted, not publishable
    assert not s["workflow_publishable"] and s["workflow_state"] == "session périmée chez le producteur"


def test_onisep_html_becomes_text_and_placeholders_are_unknown(tmp_path):
    res = read(tmp_path, DATA / "lheo-schema-exemple-bts-onisep.xml")
    f = res.tables["formations"].iloc[0]
    assert "<" not in f["objective"] and "<" not in f["content"]
    assert f["objective"].startswith("A la fois vendeur, manager et commercial")
    assert "\n- Gestion de clientèles" in f["content"]  # <li> items become lines
    fx = res.tables["lheo_formation_extras"].iloc[0]
    assert fx["resultats_attendus"].startswith("Les objectifs :\nCe BTS forme")
    assert f["holder_name"] == "Lycée Kerneuzec"  # raison-sociale "-": nom-organisme
    assert pd.isna(f["holder_nda"])  # 99999999999 is a placeholder
    assert list(fx["formacodes"]) == ["34582", "34076"] and list(fx["rome"]) == ["D1402", "D1403", "D1408"]
    assert findings(res, "info")["message"].str.contains("contiennent du HTML").any()
    # no contact anywhere but the responsible body's phone
    s = res.tables["sessions"].iloc[0]
    assert pd.isna(s["contact_name"]) and s["contact_phone"] == "02 98 96 48 00"
    assert res.tables["lheo_session_extras"].iloc[0]["contact_origin"] == "responsable"


def test_offer_summaries_with_month_dates(tmp_path):
    res = read(tmp_path, DATA / "intercarif-offre-info-resumes-idf-2017.xml")
    assert per_kind(res) == {"formations": 10, "actions": 10, "sessions": 10, "events": 0}
    s = res.tables["sessions"].set_index("session_key")
    one = s.loc["lheo:intercarif:14_AF_0000028218_SE_0000118670"]
    assert pd.isna(one["start_date"]) and pd.isna(one["end_date"])  # 20170900 / 20180300
    sx = res.tables["lheo_session_extras"].set_index("session_key")
    assert tuple(sx.loc["lheo:intercarif:14_AF_0000028218_SE_0000118670", ["debut", "fin"]]) == ("20170900", "20180300")
    full = s.loc["lheo:intercarif:14_AF_0000011179_SE_0000093700"]
    assert (full["start_date"], full["end_date"]) == (date(2017, 10, 3), date(2019, 9, 28))
    assert full["organisme_formateur"] == "GRETA METEHOR PARIS" and full["siret_formateur"] == "19750707200027"
    # the summary's organisation is the offer's responsible body too; every code of the domain
    f = res.tables["formations"].set_index("formation_key").loc["lheo:intercarif:14_AF_0000011179_SE_0000093700"]
    assert (f["holder_name"], f["holder_siret"]) == ("GRETA METEHOR PARIS", "19750707200027")
    assert (f["formacode"], f["nsf"], f["rome"], f["rncp"], f["certifinfo"]) == (
        "42602",
        "334",
        "G1102 G1201",
        "RNCP25730",
        "85556",
    )
    info = findings(res, "info")["message"]
    assert info.str.contains("16 date\\(s\\) du fichier ne donnent que le mois").any()
    assert info.str.contains("Fichier d'index LHEO").any()
    titles = res.tables["formations"]["title"]
    assert titles.str.contains("\n").sum() == 0  # multi-line titles folded


@needs_xsd
def test_edof_catalogue(tmp_path):
    res = read(tmp_path, DATA / "edof-catalogue-sst.xml", producer="edof")
    assert res.ok and res.encoding == "iso-8859-1"
    assert per_kind(res) == {"formations": 1, "actions": 2, "sessions": 3, "events": 0}
    # one numero for the formation, its action and its session
    key = "lheo:edof:SST-2026"
    assert key in set(res.tables["formations"]["formation_key"]) & set(res.tables["actions"]["action_key"]) & set(
        res.tables["sessions"]["session_key"]
    )
    f = res.tables["formations"].iloc[0]
    assert f["objective"] == "Intervenir face à une situation d'accident du travail.\n- Protéger\n- Alerter\n- Secourir"
    assert f["content"] == "Rôle du SST : prévention et secours.\nCas pratiques."  # &nbsp; and <br/> in CDATA
    assert (f["rncp"], f["holder_siret"]) == ("RS5901", "44306184100047")
    # what EDOF omits is a warning, never an error
    w = findings(res, "warning")
    for missing in ("domaine-formation", "code-public-vise", "numero-activite"):
        assert w["message"].str.contains(f"<{missing}>, obligatoire en LHEO, manque").any(), missing
    assert findings(res, "error").empty
    s = res.tables["sessions"].set_index("session_key")
    assert s.loc[key, "contact_name"] == "Chloé Martin" and s.loc[key, "workflow_publishable"]
    closed = s.loc["lheo:edof:SST-2026-03"]
    assert not closed["workflow_publishable"] and "etat-recrutement 2" in closed["workflow_state"]
    permanent = s.loc["lheo:edof:SST-2026-DIST"]
    assert (
        permanent["entry_mode"] == "permanent" and pd.isna(permanent["start_date"]) and pd.isna(permanent["end_date"])
    )
    assert permanent["workflow_publishable"]
    # no organisme-formateur: the responsible body gives the action
    assert (s["siret_formateur"] == "44306184100047").all()
    sx = res.tables["lheo_session_extras"].set_index("session_key")
    assert sx["garantie"].tolist() == [True, False, False]
    assert (
        sx.loc[key, "contact_origin"] == "edof" and sx.loc["lheo:edof:SST-2026-03", "contact_origin"] == "edof-action"
    )
    ax = res.tables["lheo_action_extras"].set_index("action_key")
    assert (ax.loc[key, "frais_ht"], ax.loc[key, "frais_ttc"], ax.loc[key, "taux_tva"]) == (250.0, 300.0, 20.0)
    assert res.tables["lheo_formation_extras"].iloc[0]["edof_resume_contenu"] == "Formation SST initiale en deux jours."


def test_responsible_body_written_as_a_bare_siret(tmp_path):
    doc = lheo_doc(
        formation("F1", action("A1", session("S1"))).replace(
            "<SIRET-organisme-formation><SIRET>44306184100047</SIRET></SIRET-organisme-formation>", "44306184100047"
        )
    )
    res = read(tmp_path, doc)
    assert res.tables["formations"].iloc[0]["holder_siret"] == "44306184100047"
    assert findings(res)["message"].str.contains("SIRET nu « 44306184100047 »").any()


# --- versions, namespaces, encodings, gzip ----------------------------------------------------


@pytest.mark.parametrize("namespace", [lheo.NS_23, ""])
def test_lheo_23_and_no_namespace_read_as_22(tmp_path, namespace):
    original = (DATA / "trefle-formation.xml").read_bytes()
    (tmp_path / "ref").mkdir()
    ref = read(tmp_path / "ref", original)
    ns = f' xmlns="{namespace}"' if namespace else ""
    variant = read(tmp_path, original.replace(b' xmlns="http://www.lheo.org/2.2"', ns.encode()), producer="carif")
    for table in ("formations", "actions", "sessions", "lheo_formation_extras", "lheo_financers"):
        a = ref.tables[table].drop(columns=[c for c in ("source_file",) if c in ref.tables[table]])
        b = variant.tables[table].drop(columns=[c for c in ("source_file",) if c in variant.tables[table]])
        b = b.replace(regex={r"^lheo:carif:": "lheo:intercarif:"})
        pd.testing.assert_frame_equal(a, b, check_dtype=False, obj=table)
    if not namespace:
        assert findings(variant, "info")["message"].str.contains("ne déclare pas d'espace de noms").any()


def test_gzipped_file_reads_the_same_and_hashes_what_was_received(tmp_path):
    plain = read_lheo(place(tmp_path, DATA / "trefle-poec.xml"))
    gz_path = place(tmp_path, DATA / "trefle-poec.xml", gz=True)
    packed = read_lheo(gz_path)
    assert packed.ok and packed.file == "lheo_intercarif_20261120.xml.gz" and packed.kind == "intercarif"
    assert packed.extract_date == date(2026, 11, 20)
    import hashlib

    assert packed.sha256 == hashlib.sha256(gz_path.read_bytes()).hexdigest() != plain.sha256
    for table in ("formations", "actions", "sessions"):
        pd.testing.assert_frame_equal(
            plain.tables[table].drop(columns="source_file"), packed.tables[table].drop(columns="source_file")
        )


def test_gzip_bomb_is_refused_at_the_bound(tmp_path, monkeypatch):
    monkeypatch.setenv("PASSERELLE_LHEO_MAX_BYTES", str(1 << 20))
    body = lheo_doc(formation("F1", action("A1", session("S1"))) + "<extras/>\n" * 200_000)
    res = read(tmp_path, body, gz=True)
    assert not res.ok and res.tables["sessions"].empty
    err = findings(res, "error")
    assert err["message"].str.contains("dépasse 1 Mo une fois décompressé").any()
    assert_conserved(res)  # the formation read before the bound is in quarantine
    assert per_kind(res)["sessions"] == 1 and (res.quarantine["kind"] == "session").sum() == 1


def test_corrupt_gzip_is_refused(tmp_path):
    data = gzip.compress(lheo_doc(formation("F1", action("A1", session("S1")))).encode())
    path = tmp_path / "lheo_intercarif_20261120.xml.gz"
    path.write_bytes(data[: len(data) // 2])
    res = read_lheo(path)
    assert not res.ok and findings(res, "error")["message"].str.contains("gzip").any()


def test_mislabelled_utf8_is_read_as_utf8_and_real_latin1_as_latin1(tmp_path):
    doc = lheo_doc(
        formation("F1", action("A1", session("S1", city="Besançon")), title="Préparation"),
        decl='<?xml version="1.0" encoding="ISO-8859-1"?>',
    )
    mislabelled = read(tmp_path, doc.encode("utf-8"))
    assert mislabelled.tables["sessions"].iloc[0]["city"] == "Besançon" and mislabelled.encoding == "utf-8"
    assert findings(mislabelled, "warning")["field"].eq("encoding").any()
    latin = read(tmp_path, doc.encode("latin-1"))
    assert latin.tables["formations"].iloc[0]["title"] == "Préparation" and latin.encoding == "iso-8859-1"
    assert not findings(latin)["field"].eq("encoding").any()


def test_producer_comes_from_the_file_name_or_the_caller(tmp_path):
    doc = lheo_doc(formation("F1", action("A1", session("S1"))))
    assert read(tmp_path, doc, producer="carifidf").tables["sessions"].iloc[0]["session_key"] == "lheo:carifidf:S1"
    named = tmp_path / "lheo_onisep_20261120.xml"
    named.write_text(doc, encoding="utf-8")
    assert read_lheo(named, producer="ideo").tables["sessions"].iloc[0]["session_key"] == "lheo:ideo:S1"
    odd = tmp_path / "offres onisep.xml"
    odd.write_text(doc, encoding="utf-8")
    res = read_lheo(odd)
    assert not res.ok and res.rows_read == {"": 0} and res.sha256
    assert findings(res, "error")["message"].str.contains("lheo_<producteur>_AAAAMMJJ").any()
    assert read_lheo(odd, producer="onisep").tables["sessions"].iloc[0]["session_key"] == "lheo:onisep:S1"
    with pytest.raises(ValueError):
        read_lheo(named, producer="Carif:IDF")


# --- hostile input ------------------------------------------------------------------------------


def test_doctype_with_external_entity_is_refused_before_parsing(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE", encoding="utf-8")
    doc = (
        f'<?xml version="1.0"?>\n<!DOCTYPE lheo [<!ENTITY x SYSTEM "file://{secret}">]>\n'
        f'<lheo xmlns="{lheo.NS_23}"><offres><formation numero="&x;"/></offres></lheo>'
    )
    res = read(tmp_path, doc)
    assert not res.ok and res.rows_read == {"": 0}
    assert "TOP-SECRET-VALUE" not in all_text(res)
    err = findings(res, "error").iloc[0]
    assert err["field"] == "DOCTYPE" and err["line"] == 2


def test_billion_laughs_behind_a_comment_is_refused(tmp_path):
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    doc = (
        f'<?xml version="1.0"?>\n<!-- export du {"x" * 200_000} -->\n<!DOCTYPE lheo [<!ENTITY l0 "lol">{lol}]>\n'
        f'<lheo><offres><formation numero="&l9;"/></offres></lheo>'
    )
    res = read(tmp_path, doc)
    assert not res.ok and findings(res, "error")["field"].eq("DOCTYPE").any()
    assert len(all_text(res)) < 100_000


def test_truncated_file_is_rejected_as_a_whole_with_its_records_in_quarantine(tmp_path):
    whole = lheo_doc("".join(formation(f"F{i}", action(f"A{i}", session(f"S{i}"))) for i in range(5)))
    res = read(tmp_path, whole[: whole.index('<formation numero="F4"') + 60])
    assert not res.ok
    assert res.tables["sessions"].empty and res.tables["formations"].empty
    assert findings(res, "error")["message"].str.contains("tronqué").any()
    assert per_kind(res) == {"formations": 4, "actions": 4, "sessions": 4, "events": 0}
    assert res.quarantine["reason"].str.startswith("Fichier rejeté").all()
    assert_conserved(res)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('<?xml version="1.0"?>\n<sam-export><marche/></sam-export>', "La racine du fichier est <sam-export>"),
        ("", "est vide"),
        ('{"formations": []}', "n'est pas un document XML"),
        ('<?xml version="1.0"?>\n<lheo>' + "<a>" * 300 + "</a>" * 300 + "</lheo>", "trop profonde"),
        ('<?xml version="1.0"?>\n<lheo><offres><formation numero="1">&eacute;</formation></offres></lheo>', "entité"),
    ],
)
def test_file_level_failures_are_one_clear_error(tmp_path, content, expected):
    res = read(tmp_path, content)
    assert not res.ok and res.tables["sessions"].empty
    err = findings(res, "error")
    assert len(err) == 1 and expected in err.iloc[0]["message"]
    assert_conserved(res)


def test_a_wrong_root_holding_formations_quarantines_them(tmp_path):
    res = read(tmp_path, lheo_doc(formation("F1", action("A1", session("S1")))).replace("lheo", "catalogue"))
    assert not res.ok and per_kind(res) == {"formations": 1, "actions": 1, "sessions": 1, "events": 0}
    assert_conserved(res)


def test_a_formation_that_cannot_be_mapped_is_dropped_and_the_others_are_read(tmp_path):
    body = (
        formation("F1", action("A1", session("S1")))
        + formation(None, action("A2", session("S2") + session("S3")))  # no numero: no key
        + formation("F3", action(None, session("S4")) + action("A5", session(None) + session("S6")))
        + formation("F4", action("A7", session("S7")))
    )
    path = place(tmp_path, lheo_doc(body))
    res = read_lheo(path)
    assert res.ok
    assert per_kind(res) == lxml_counts(path) == {"formations": 4, "actions": 5, "sessions": 7, "events": 0}
    assert_conserved(res)
    assert sorted(res.tables["sessions"]["session_key"]) == [
        "lheo:intercarif:S1",
        "lheo:intercarif:S6",
        "lheo:intercarif:S7",
    ]
    q = res.quarantine.set_index(["kind", "source_line"])
    no_numero_line = lheo_doc(body).splitlines().index("<formation>") + 1
    assert "Formation sans attribut « numero »" in q.loc[("formation", no_numero_line), "reason"]
    assert q.loc["session"]["reason"].str.contains("Mise de côté avec").sum() == 3  # S2, S3 (formation), S4 (action)
    assert (
        q.loc["session"]["session_key"].isin(["lheo:intercarif:S2", "lheo:intercarif:S3", "lheo:intercarif:S4"]).sum()
        == 3
    )
    err = findings(res, "error")
    assert err["line"].notna().all() and err["message"].str.startswith("Mise en quarantaine").all()
    assert len(err) == len(res.quarantine)


def test_records_out_of_their_place_are_counted_and_quarantined(tmp_path):
    body = f'<action numero="STRAY">{session("S0")}</action>\n' + formation(
        "F1", session("S9") + action("A1", session("S1"))
    )
    path = place(tmp_path, lheo_doc(body))
    res = read_lheo(path)
    assert per_kind(res) == lxml_counts(path) == {"formations": 1, "actions": 2, "sessions": 3, "events": 0}
    assert_conserved(res)
    assert res.tables["sessions"]["session_key"].tolist() == ["lheo:intercarif:S1"]
    reasons = res.quarantine["reason"]
    assert reasons.str.contains("hors d'une <formation>").sum() == 2
    assert reasons.str.contains("<session> placée dans <formation>").sum() == 1


def test_unforeseen_structure_in_one_formation_does_not_lose_the_file(tmp_path, monkeypatch):
    original = lheo._Reader._map_action

    def exploding(self, a, *args):
        if a.get("numero") == "A2":
            raise RuntimeError("boom")
        return original(self, a, *args)

    monkeypatch.setattr(lheo._Reader, "_map_action", exploding)
    res = read(
        tmp_path, lheo_doc(formation("F1", action("A1", session("S1"))) + formation("F2", action("A2", session("S2"))))
    )
    assert res.ok and res.tables["sessions"]["session_key"].tolist() == ["lheo:intercarif:S1"]
    assert findings(res, "error")["message"].str.contains("Formation illisible \\(RuntimeError : boom\\)").any()
    assert_conserved(res)


# --- repeated numbers -------------------------------------------------------------------------


def test_identical_repetition_keeps_the_first_and_says_so(tmp_path):
    res = read(tmp_path, lheo_doc(formation("F1", action("A1", session("S1") + session("S1")))))
    assert res.tables["sessions"]["session_key"].tolist() == ["lheo:intercarif:S1"]
    w = findings(res, "warning")
    assert w["message"].str.contains("répétée à l'identique").any() and findings(res, "error").empty
    assert_conserved(res)


def test_conflicting_repetition_quarantines_every_occurrence(tmp_path):
    doc = lheo_doc(
        formation("F1", action("A1", session("S1", city="Vichy")))
        + formation("F2", action("A2", session("S1", city="Moulins") + session("S2")))
    )
    res = read(tmp_path, doc)
    assert res.tables["sessions"]["session_key"].tolist() == ["lheo:intercarif:S2"]
    q = res.quarantine[res.quarantine["kind"] == "session"]
    lines = [i + 1 for i, line in enumerate(doc.splitlines()) if line == '<session numero="S1">']
    assert sorted(q["source_line"]) == lines
    assert q["reason"].str.contains(f"lignes {lines[0]}, {lines[1]}").all()
    assert findings(res, "error")["message"].str.contains("contenus différents").sum() == 2
    assert_conserved(res)


def test_a_repeated_formation_takes_its_actions_and_sessions_with_it(tmp_path):
    res = read(
        tmp_path,
        lheo_doc(
            formation("F1", action("A1", session("S1")), title="Un")
            + formation("F1", action("A2", session("S2")), title="Deux")
        ),
    )
    assert res.tables["sessions"].empty and res.tables["formations"].empty
    assert per_kind(res) == {"formations": 2, "actions": 2, "sessions": 2, "events": 0}
    assert_conserved(res)


# --- dates ------------------------------------------------------------------------------------


def test_lheo_dates_unknown_partial_and_impossible(tmp_path):
    doc = lheo_doc(
        formation(
            "F1",
            action(
                "A1",
                session("S1", "00000000", "99999999")
                + session("S2", "20270900", "20280000")
                + session("S3", "20270231", "20270301")
                + session("S4", "2027-01-11", "20270301"),
            ),
        )
    )
    res = read(tmp_path, doc)
    s = res.tables["sessions"].set_index("source_session_id")
    assert s[["start_date", "end_date"]].loc[["S1", "S2"]].isna().all().all()
    assert pd.isna(s.loc["S3", "start_date"]) and s.loc["S3", "end_date"] == date(2027, 3, 1)
    sx = res.tables["lheo_session_extras"].set_index("numero")
    assert tuple(sx.loc["S2", ["debut", "fin"]]) == ("20270900", "20280000")
    bad = findings(res, "warning")
    bad = bad[bad["field"] == "periode/debut"]
    assert set(bad["value"]) == {"20270231", "2027-01-11"}
    assert set(bad["session_key"]) == {"lheo:intercarif:S3", "lheo:intercarif:S4"}
    lines = doc.splitlines()
    assert set(bad["line"]) == {lines.index('<session numero="S3">') + 1, lines.index('<session numero="S4">') + 1}
    assert findings(res, "info")["message"].str.contains("2 date\\(s\\) du fichier ne donnent que le mois").any()


# --- lines and volume -------------------------------------------------------------------------


def test_lines_stay_exact_past_line_65535_and_on_one_line_files(tmp_path, monkeypatch):
    monkeypatch.setattr(lheo, "official_xsd", lambda: None)  # lines only: the schema is tested elsewhere
    body = "".join(formation(f"F{i}", action(f"A{i}", session(f"S{i}"))) for i in range(6000))
    doc = lheo_doc(body)
    assert doc.count("\n") > 70_000
    res = read(tmp_path, doc)
    expected = {
        f"S{i}": n + 1
        for n, line in enumerate(doc.splitlines())
        for i in [line[len('<session numero="S') : -2]]
        if line.startswith('<session numero="')
    }
    got = dict(zip(res.tables["sessions"]["source_session_id"], res.tables["sessions"]["source_line"], strict=True))
    assert got == expected
    (tmp_path / "flat").mkdir()
    flat = read(tmp_path / "flat", doc.replace("\n", " "))
    assert len(flat.tables["sessions"]) == 6000 and (flat.tables["sessions"]["source_line"] == 1).all()
    assert flat.quarantine.empty


@needs_xsd
def test_one_problem_repeated_is_reported_a_bounded_number_of_times(tmp_path):
    res = read(tmp_path, lheo_doc("".join(formation(f"F{i}", action(f"A{i}", session(f"S{i}"))) for i in range(80))))
    missing = findings(res, "warning")
    missing = missing[missing["field"] == "formation/domaine-formation"]
    assert len(missing) == lheo.FINDINGS_PER_PROBLEM + 1
    assert missing["message"].str.contains("se répète 30 autre\\(s\\) fois").sum() == 1


# --- downstream: the canonical core takes the tables as they are ----------------------------------


def test_reads_enter_the_canonical_core_and_balance(tmp_path):
    reads = [read_lheo(place(tmp_path, DATA / name, producer=f"p{i}")) for i, name in enumerate(REAL_FILES)]
    core = build_core(reads)
    assert len(core.sessions) == sum(len(r.tables["sessions"]) for r in reads)
    report = conservation_report(reads, core)
    assert report["balanced"].all() and len(report) == len(REAL_FILES)


# --- round trip: our own Carif feed, read back, written again ---------------------------------


def _feed_records(path: Path) -> dict[str, dict]:
    """Every formation, action and session of an LHEO feed as comparable values (texts and
    ``numero`` attributes by element path, the nested records apart), by kind and numero; the
    ``lheo:passerelle:`` prefix of a feed written from read-back records is removed."""
    root = etree.parse(str(path)).getroot()

    def strip(value: str | None) -> str | None:
        return value.removeprefix("lheo:passerelle:") if value else value

    def content(el, prefix: str, out: dict) -> dict:
        for child in el:
            local = etree.QName(child).localname
            if local in ("action", "session"):
                continue  # records of their own
            name = f"{prefix}/{local}" + (f"[{child.get('info')}]" if child.get("info") else "")
            if child.get("numero"):
                out.setdefault(name + "@numero", []).append(strip(child.get("numero")))
            text = (child.text or "").strip()
            if text:
                if local == "numtel":  # see the report: the writer re-formats some overseas numbers
                    text = re.sub(r"\D", "", text)
                out.setdefault(name, []).append(text)
            content(child, name, out)
        return out

    return {
        f"{etree.QName(el).localname}:{strip(el.get('numero'))}": content(el, etree.QName(el).localname, {})
        for el in root.iter("{*}formation", "{*}action", "{*}session")
    }


def _assert_same_feed(source: Path, written: Path) -> None:
    """Same records with the same values, but for the one difference the model cannot carry: an
    action shared by several live sessions is written with 0 financed places (LHEO gives places
    per action and financer, the canonical model per session)."""
    before, after = _feed_records(source), _feed_records(written)
    assert before.keys() == after.keys()
    shared = _places_of_shared_actions(source)
    for key, values in before.items():
        other = after[key]
        if key.startswith("action:") and key.removeprefix("action:") in shared:
            places = [k for k in values if k.endswith("organisme-financeur/nb-places-financees")]
            assert places and all(other[k] == ["0"] * len(values[k]) for k in places), key
            values = {k: v for k, v in values.items() if k not in places}
            other = {k: v for k, v in other.items() if k not in places}
        assert values == other, key


def _round_trip(tmp_path: Path, feed: Path, day: date, profile: str) -> tuple[Path, object]:
    res = read_lheo(place(tmp_path, feed, producer="passerelle", day=f"{day:%Y%m%d}"))
    assert res.ok and res.quarantine.empty and findings(res, "error").empty
    # through the canonical build, as in a daily run (addresses from the COG, organisations)
    core = build_core([res])
    status = res.tables["lheo_session_extras"].set_index("session_key")["statut_publication"]
    sessions = core.sessions.copy()
    sessions["publication_status"] = (
        sessions["session_key"]
        .map(status)
        .map({"courant": "current", "conserve": "kept", "disparue": "vanished"})
        .astype("string")
    )
    out = tmp_path / "written.xml"
    write_lheo(out, core.formations, core.actions, sessions, core.events, profile=profile, run_date=day)
    return out, res


def _places_of_shared_actions(path: Path) -> set[str]:
    root = etree.parse(str(path)).getroot()
    ns = {"l": root.nsmap[None]}
    return {
        a.get("numero").removeprefix("lheo:passerelle:")
        for a in root.iterfind(".//l:action", ns)
        if len(
            [
                s
                for s in a.iterfind("l:session", ns)
                if s.findtext("l:extras/l:extra[@info='annulee']", namespaces=ns) != "1"
            ]
        )
        > 1
    }


@pytest.mark.parametrize(
    ("feed", "profile"),
    [
        ("2026-11-19/carif/lheo-2026-11-19.xml", "carif"),
        ("2026-11-20/carif/lheo-2026-11-20.xml", "carif"),
        ("2026-11-19/pole-emploi/offres-2026-11-19.xml", "pole_emploi"),
        ("2026-11-20/pole-emploi/offres-2026-11-20.xml", "pole_emploi"),
    ],
)
def test_our_own_feed_reads_back_into_the_same_feed(tmp_path, feed, profile):
    source = GOLDEN / feed
    day = date.fromisoformat(feed.split("/")[0])
    written, res = _round_trip(tmp_path, source, day, profile)
    assert _places_of_shared_actions(source), "the samples have actions with several sessions"
    assert len(res.tables["events"]) == len(etree.parse(str(source)).xpath("//*[@info='evenement']"))
    _assert_same_feed(source, written)


def test_extra_tables_are_arrow_typed(tmp_path):
    res = read(tmp_path, DATA / "trefle-formation.xml")
    for name, schema in EXTRA_TABLES.items():
        table = pa.Table.from_pandas(res.tables[name], preserve_index=False)
        assert table.schema.names == schema.names, name


def test_codes_keep_every_well_formed_one_and_report_the_others(tmp_path):
    domain = (
        "<domaine-formation><code-FORMACODE ref='V13'>31054</code-FORMACODE>"
        "<code-FORMACODE ref='V14' tag='principal'>22403</code-FORMACODE><code-FORMACODE>2240</code-FORMACODE>"
        "<code-NSF>233</code-NSF><code-NSF>23</code-NSF><code-ROME>f1604</code-ROME><code-ROME>F1703</code-ROME>"
        "<code-ROME>F16</code-ROME></domaine-formation>\n"
    )
    doc = lheo_doc(
        formation("F1", action("A1", session("S1"))).replace("<intitule-formation>", domain + "<intitule-formation>", 1)
    )
    res = read(tmp_path, doc)
    f = res.tables["formations"].iloc[0]
    assert (f["formacode"], f["formacode_ref"], f["nsf"], f["rome"]) == ("22403 31054", "V14", "233", "F1604 F1703")
    bad = findings(res, "warning").set_index("field")
    # each finding names the wrong codes only (the principal is checked on its own)
    assert {tag: bad.loc[tag, "value"] for tag in ("code-FORMACODE", "code-NSF", "code-ROME")} == {
        "code-FORMACODE": "2240",
        "code-NSF": "23",
        "code-ROME": "F16",
    }
    assert bad.loc["code-ROME", "message"].startswith("Valeur « F16 » illisible pour <code-ROME>")


def test_a_contact_is_taken_whole_the_complete_one_first(tmp_path):
    trainer = (
        "<organisme-formateur><SIRET-formateur><SIRET>44306184100047</SIRET></SIRET-formateur>"
        "<raison-sociale-formateur>Org</raison-sociale-formateur><contact-formateur><coordonnees>"
        "<nom>Durand</nom><prenom>Anne</prenom><telfixe><numtel>04 73 00 00 09</numtel></telfixe>"
        "<courriel>anne@org.fr</courriel></coordonnees></contact-formateur></organisme-formateur>\n"
    )
    phone_only = "<contact-session><coordonnees><telfixe><numtel>04 73 00 00 01</numtel></telfixe></coordonnees></contact-session>"
    name_only = "<contact-session><coordonnees><nom>Seul</nom></coordonnees></contact-session>"
    sessions = session("S1").replace("<etat-recrutement>", phone_only + "<etat-recrutement>") + session("S2").replace(
        "<etat-recrutement>", name_only + "<etat-recrutement>"
    )
    act = action("A1", sessions).replace("</action>", trainer + "</action>")
    res = read(tmp_path, lheo_doc(formation("F1", act)))
    s = res.tables["sessions"].set_index("session_key")
    x = res.tables["lheo_session_extras"].set_index("session_key")
    for key in ("lheo:intercarif:S1", "lheo:intercarif:S2"):  # the trainer's complete contact, whole
        assert tuple(s.loc[key, ["contact_name", "contact_phone", "contact_email"]]) == (
            "Anne Durand",
            "04 73 00 00 09",
            "anne@org.fr",
        )
        assert x.loc[key, "contact_origin"] == "formateur"
    alone = read(
        tmp_path,
        lheo_doc(
            formation(
                "F1", action("A1", session("S1").replace("<etat-recrutement>", phone_only + "<etat-recrutement>"))
            )
        ),
    )
    one = alone.tables["sessions"].iloc[0]
    assert pd.isna(one["contact_name"]) and one["contact_phone"] == "04 73 00 00 01"  # no name borrowed


# --- coverage: every model column LHEO carries is filled wherever the XML has it -------------------
#
# For each canonical column the LHEO source can fill, an XPath (from the record's element, namespace
# blind, EXSLT regular expressions) says whether a record's XML carries it; the column must then be
# non-null for that record after the canonical build. The expectation comes from each file, never
# from a count. Every column of the model is either covered here or listed as not carried by LHEO
# (with the reason), so that a column added to the model forces a decision.

XNS = {"re": "http://exslt.org/regular-expressions"}


def L(name: str) -> str:  # noqa: N802 - reads like the element it names
    return f"*[local-name()='{name}']"


VALUED = "[normalize-space(.)!='' and normalize-space(.)!='-']"
DIGITS = "[re:test(normalize-space(.), '^[0-9]+$')]"
NUMBER = "[re:test(normalize-space(.), '^[0-9]+([.,][0-9]+)?$')]"
DAY = "[re:test(normalize-space(.), '^[0-9]{4}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])$')]"
REAL_ID = "[re:test(normalize-space(.), '[1-8]') or re:test(normalize-space(.), '^[0-9]*[1-9][0-9]*$')]"
SIRET_VALUE = f"[normalize-space(translate(., '0', ''))!='']{VALUED}"
FORMATEUR = f"{L('organisme-formateur')}[1]"
RESPONSABLE = L("organisme-formation-responsable")
PASSERELLE = f"{L('extras')}[@info='passerelle']/{L('extra')}"
EVENT = f"{L('extra')}"

FORMATION_XPATHS = {
    "title": f"{L('intitule-formation')}{VALUED}",
    "objective": f"{L('objectif-formation')}{VALUED}",
    "content": f"{L('contenu-formation')}{VALUED}",
    "prerequisites": f"{L('action')}/{L('conditions-specifiques')}{VALUED}",
    "formacode": f"{L('domaine-formation')}/{L('code-FORMACODE')}[re:test(normalize-space(.), '^[0-9]{{5}}$')]",
    "formacode_ref": f"{L('domaine-formation')}/{L('code-FORMACODE')}"
    "[@tag='principal' or (position()=1 and not(../*[@tag='principal']))][normalize-space(@ref)!='']",
    "rome": f"{L('domaine-formation')}/{L('code-ROME')}[re:test(normalize-space(.), '^[A-Za-z][0-9]{{4}}$')]",
    "nsf": f"{L('domaine-formation')}/{L('code-NSF')}[re:test(normalize-space(.), '^[0-9]{{3}}$')]",
    "rncp": f"{L('certification')}/*[local-name()='code-RNCP' or local-name()='code-RS']"
    "[re:test(normalize-space(.), '^(RNCP|RS)? ?[0-9]+$', 'i')]",
    "certifinfo": f"{L('certification')}/{L('code-CERTIFINFO')}[re:test(normalize-space(.), '^[0-9]{{1,10}}$')]",
    "certifying": f"{L('certifiante')}[normalize-space(.)='0' or normalize-space(.)='1']",
    "holder_name": f"{RESPONSABLE}/*[local-name()='raison-sociale' or local-name()='nom-organisme']{VALUED}"
    f" | self::{L('resume-offre')}/{L('nom-organisme')}{VALUED}",
    "holder_siret": f"{RESPONSABLE}//{L('SIRET')}{SIRET_VALUE} | {RESPONSABLE}[not(*)]{SIRET_VALUE}"
    f" | self::{L('resume-offre')}/{L('SIRET')}{SIRET_VALUE}",
    "holder_nda": f"{RESPONSABLE}/{L('numero-activite')}{DIGITS}[translate(., '09', '')!='']",
}
ACTION_XPATHS = {
    "organisme_formateur": f"{FORMATEUR}/{L('raison-sociale-formateur')}{VALUED}"
    f" | self::{L('resume-offre')}/{L('nom-organisme')}{VALUED}",
    "siret_formateur": f"{FORMATEUR}/{L('SIRET-formateur')}/{L('SIRET')}{SIRET_VALUE}"
    f" | self::{L('resume-offre')}/{L('SIRET')}{SIRET_VALUE}",
    "address_line": f"{L('lieu-de-formation')}/{L('coordonnees')}/{L('adresse')}/{L('ligne')}{VALUED}",
    "postcode": f"{L('lieu-de-formation')}/{L('coordonnees')}/{L('adresse')}/{L('codepostal')}{VALUED}"
    f" | self::{L('resume-offre')}/{L('codepostal')}{VALUED}",
    "city": f"{L('lieu-de-formation')}/{L('coordonnees')}/{L('adresse')}/{L('ville')}{VALUED}"
    f" | self::{L('resume-offre')}/{L('ville')}{VALUED}",
    "insee_code": f"{L('lieu-de-formation')}/{L('coordonnees')}/{L('adresse')}/{L('code-INSEE-commune')}{VALUED}"
    f" | self::{L('resume-offre')}/{L('code-INSEE-commune')}{VALUED}",
    "entry_mode": f"{L('modalites-entrees-sorties')}[normalize-space(.)='0' or normalize-space(.)='1']",
    "places": f"{L('organisme-financeur')}/{L('nb-places-financees')}{DIGITS}",
    "hours_centre": f"{L('nombre-heures-centre')}{NUMBER}",
    "hours_company": f"{L('nombre-heures-entreprise')}{NUMBER}",
}
# a session "alone" in its action: the only one not cancelled (places are per action in LHEO)
LIVE = f"[not({PASSERELLE}[@info='annulee' and normalize-space(.)='1'])]"
ALONE = f"[count(../{L('session')}{LIVE})=1]{LIVE}"
INSCRIPTION = f"{L('adresse-inscription')}/{L('adresse')}"
SESSION_XPATHS = {
    "title": f"../../{L('intitule-formation')}{VALUED} | ../{L('intitule-formation')}{VALUED}",
    "marche_numero": f"{PASSERELLE}[@info='numero-marche']{VALUED}",
    "organisme_formateur": f"../{FORMATEUR}/{L('raison-sociale-formateur')}{VALUED}"
    f" | parent::{L('resume-offre')}/{L('nom-organisme')}{VALUED}",
    "siret_formateur": f"../{FORMATEUR}/{L('SIRET-formateur')}/{L('SIRET')}{SIRET_VALUE}"
    f" | parent::{L('resume-offre')}/{L('SIRET')}{SIRET_VALUE}",
    "site": f"{INSCRIPTION}/{L('denomination')}{VALUED}",
    "address_line": f"{INSCRIPTION}/{L('ligne')}{VALUED}",
    "address_complement": f"{INSCRIPTION}/{L('ligne')}{VALUED}[2]",
    "postcode": f"{INSCRIPTION}/{L('codepostal')}{VALUED}",
    "city": f"{INSCRIPTION}/{L('ville')}{VALUED}",
    "insee_code": f"{INSCRIPTION}/{L('code-INSEE-commune')}{VALUED}",
    "place_label": f"../{L('lieu-de-formation')}/{L('coordonnees')}/{L('nom')}{VALUED}",
    "start_date": f"{L('periode')}/{L('debut')}{DAY}",
    "end_date": f"{L('periode')}/{L('fin')}{DAY}",
    "prescription_start": f"{L('periode-inscription')}/{L('periode')}/{L('debut')}{DAY}",
    "prescription_end": f"{L('periode-inscription')}/{L('periode')}/{L('fin')}{DAY}",
    "entry_mode": f"../{L('modalites-entrees-sorties')}[normalize-space(.)='0' or normalize-space(.)='1']",
    "places": f"self::*{ALONE}/../{L('organisme-financeur')}/{L('nb-places-financees')}{DIGITS}",
    "places_region": f"self::*{ALONE}/../{L('organisme-financeur')}[normalize-space({L('code-financeur')})='2']"
    f"/{L('nb-places-financees')}{DIGITS}",
    "places_pole_emploi": f"self::*{ALONE}/../{L('organisme-financeur')}[normalize-space({L('code-financeur')})='4']"
    f"/{L('nb-places-financees')}{DIGITS} | {PASSERELLE}[@info='places-pole-emploi']{DIGITS}",
    "hours_centre_avg": f"../{L('nombre-heures-centre')}{NUMBER}",
    "hours_company_avg": f"../{L('nombre-heures-entreprise')}{NUMBER}",
    "workflow_state": f"{L('extras')}/{L('extra')}[@info='session-perimee' and normalize-space(.)='1']"
    f" | ../{L('extras')}/{L('extra')}[@info='action-perimee' and normalize-space(.)='1']",
    "recruitment_state": f"{L('etat-recrutement')}[normalize-space(.)='1' or normalize-space(.)='2' or normalize-space(.)='3']",
    "financer": f"../{L('organisme-financeur')}/{L('code-financeur')}{VALUED}",
}
EVENT_XPATHS = {
    "event_type": f"{EVENT}[@info='type']{VALUED}",
    "start_date": f"{EVENT}[@info='date']{DAY}",
    "end_date": f"{EVENT}[@info='date']{DAY}",
    "start_time": f"{EVENT}[@info='heure-debut']{VALUED}",
    "end_time": f"{EVENT}[@info='heure-fin']{VALUED}",
    "places": f"{EVENT}[@info='places']{DIGITS}",
    "address_line": f"{EVENT}[@info='lieu']{VALUED}",
    "postcode": f"{EVENT}[@info='lieu'][re:test(., '(^|, )[0-9]{{5}}( |$)')]",
    "city": f"{EVENT}[@info='lieu'][re:test(., '(^|, )[0-9]{{5}} .')]",
}
# the session's contact: the first complete one (a person and a phone) of these, else the first
# with a phone, else the first with a name
CONTACTS = [
    f"{L('contact-session')}/{L('coordonnees')}",
    f"{L('extras')}[@info='session']/{L('extra')}[@info='contact-inscription']/{L('coordonnees')}",
    f"../{FORMATEUR}/{L('contact-formateur')}/{L('coordonnees')}",
    f"../{L('extras')}[@info='action']/{L('extra')}[@info='contact-information']/{L('coordonnees')}",
    f"../../{L('contact-formation')}/{L('coordonnees')} | ../{L('contact-formation-resume')}",
    f"../../{RESPONSABLE}/{L('contact-organisme')}/{L('coordonnees')}",
]
CONTACT_PARTS = {
    "contact_name": f"*[local-name()='nom' or local-name()='prenom']{VALUED}",
    "contact_phone": f"*[local-name()='telfixe' or local-name()='portable']/descendant-or-self::*[not(*)]{VALUED}",
    "contact_email": f"{L('courriel')}{VALUED}",
}

# What LHEO does not carry (the model has these columns for SAM, EOS or SIGMA); derived columns
# (keys, lineage, the COG's, flags the reader always sets) are not "carried" either.
NOT_CARRIED = {
    "formations": {
        "marche_numero": "no market number at formation level (our feeds: per session, Pôle emploi only)",
        "programme": "SAM/SIGMA programme",
        "dossier": "SAM dossier",
        "lot": "SAM lot",
        "lot_title": "SAM lot",
        "sessions_planned": "SAM sessions-envisagees",
        "headcount": "SAM effectif",
        "hours_centre": "LHEO gives hours per action (actions.hours_centre)",
        "hours_company": "LHEO gives hours per action",
        "period_start": "no formation period in LHEO",
        "period_end": "no formation period in LHEO",
        "execution_end": "SAM lot fin-execution",
        "status": "SIGMA Statut",
        "year": "SIGMA Année",
        "dispositif": "SIGMA Dispositif",
        "financer": "LHEO gives financers per action (sessions.financer)",
    },
    "actions": {
        "composante_number": "SIGMA composante",
        "composante_label": "SIGMA composante",
        "period_start": "no action period in LHEO",
        "period_end": "no action period in LHEO",
    },
    "sessions": {
        "dossier": "SAM/EOS dossier",
        "lot": "SAM/EOS lot",
        "composante_number": "SIGMA composante",
        "purchase_order": "EOS N° BC",
        "obligation": "EOS O/F/S",
        "programme": "SAM/SIGMA programme",
        "parent_period_start": "EOS lot / SIGMA composante period",
        "parent_period_end": "EOS lot / SIGMA composante period",
        "lot_end": "EOS lot",
        "places_min": "EOS Eff. min.",
        "trainees": "EOS nb Stagiaires",
        "hours_centre_total": "EOS totals (LHEO: hours per trainee, per action)",
        "hours_company_total": "EOS totals",
        "state_date": "EOS Date état (LHEO datemaj is a modification date, kept in lheo_session_extras)",
        "offer_info_code": "SIGMA Code Offre Info",
    },
    "events": {"description": "not in our feeds' event extras"},
}
ALWAYS = {  # filled for every record by construction (keys, numbers, flags) or derived downstream
    "formations": {"formation_key", "action_number"},
    "actions": {"action_key", "formation_key"},
    "sessions": {
        "session_key",
        "action_key",
        "formation_key",
        "source_session_id",
        "session_number",
        "action_number",
        "workflow_publishable",
        "cancelled",
    },  # fmt: skip
    "events": {"event_key", "session_key", "is_information_collective", "cancelled"},
}
SCHEMAS = {"formations": model.FORMATIONS, "actions": model.ACTIONS, "sessions": model.SESSIONS, "events": model.EVENTS}
XPATHS = {
    "formations": FORMATION_XPATHS,
    "actions": ACTION_XPATHS,
    "sessions": {**SESSION_XPATHS, **dict.fromkeys(CONTACT_PARTS, "")},
    "events": EVENT_XPATHS,
}
RECORDS = {
    "formations": f"//{L('formation')} | //{L('resume-offre')}",
    "actions": f"//{L('action')} | //{L('resume-offre')}",
    "sessions": f"//{L('session')}",
    "events": f"//{L('extras')}[@info='evenement']",
}
OWN_FEEDS = ["2026-11-20/carif/lheo-2026-11-20.xml", "2026-11-20/pole-emploi/offres-2026-11-20.xml"]
COVERAGE_FILES = [DATA / name for name in REAL_FILES] + [GOLDEN / feed for feed in OWN_FEEDS]


def _lheo_key(el, prefix: str) -> str:
    """The key the reader gives the record of ``el``: its numero, or (a session of a summary) its summary's."""
    numero = el.get("numero")
    if numero is None and etree.QName(el).localname == "session":
        parent = el.getparent()
        numero = parent.get("numero")
        siblings = parent.findall(el.tag)
        if len(siblings) > 1:
            numero = f"{numero}:{siblings.index(el) + 1}"
    return prefix + numero.strip()


def _expected_contact(el) -> dict[str, bool]:
    """Which parts of the session's contact the XML gives, choosing the contact as the mapping does."""
    found = []
    for path in CONTACTS:
        for c in el.xpath(path, namespaces=XNS)[:1]:
            parts = {col: bool(c.xpath(p, namespaces=XNS)) for col, p in CONTACT_PARTS.items()}
            if parts["contact_name"] or parts["contact_phone"]:
                found.append(parts)
    for test in (lambda p: p["contact_name"] and p["contact_phone"], lambda p: p["contact_phone"]):
        chosen = next((p for p in found if test(p)), None)
        if chosen is not None:
            return chosen
    return found[0] if found else dict.fromkeys(CONTACT_PARTS, False)


def test_every_model_column_is_carried_by_lheo_or_said_not_to_be():
    for table, schema in SCHEMAS.items():
        lineage = {f.name for f in model.LINEAGE_FIELDS}
        derived = {f.name for f in model.COG_FIELDS}
        decided = set(XPATHS[table]) | set(NOT_CARRIED[table]) | ALWAYS[table] | lineage | derived
        assert set(schema.names) - decided == set(), table
        assert set(XPATHS[table]) & set(NOT_CARRIED[table]) == set(), table


@pytest.mark.parametrize("path", COVERAGE_FILES, ids=lambda p: p.name)
def test_every_column_lheo_carries_is_filled_where_the_xml_has_it(tmp_path, path):
    producer = "passerelle" if path.is_relative_to(GOLDEN) else "intercarif"
    res = read_lheo(place(tmp_path, path, producer=producer))
    assert res.ok and res.quarantine.empty
    core = build_core([res])
    tables = {"formations": core.formations, "actions": core.actions, "sessions": core.sessions, "events": core.events}
    root = etree.parse(str(path)).getroot()
    prefix = f"lheo:{producer}:"
    key_of = {"formations": "formation_key", "actions": "action_key", "sessions": "session_key", "events": "event_key"}
    missing: list[str] = []
    for table, xpaths in XPATHS.items():
        df = tables[table].set_index(key_of[table])
        records = root.xpath(RECORDS[table], namespaces=XNS)
        assert len(df) == len({_lheo_key(el, prefix) for el in records}), table
        for el in records:
            key = _lheo_key(el, prefix)
            row = df.loc[key]
            contact = _expected_contact(el) if table == "sessions" else {}
            for col, xpath in xpaths.items():
                carried = contact[col] if col in CONTACT_PARTS else bool(el.xpath(xpath, namespaces=XNS))
                if carried and pd.isna(row[col]):
                    missing.append(f"{table}.{col} of {key}")
            missing += [f"{table}.{col} of {key}" for col in ALWAYS[table] - {key_of[table]} if pd.isna(row[col])]
    assert not missing, missing


def test_the_coverage_expectations_are_not_vacuous():
    """Each XPath finds its element in at least one of the files (else a typo would pass)."""
    found: dict[str, set[str]] = {t: set() for t in XPATHS}
    for path in COVERAGE_FILES:
        root = etree.parse(str(path)).getroot()
        for table, xpaths in XPATHS.items():
            for el in root.xpath(RECORDS[table], namespaces=XNS):
                contact = _expected_contact(el) if table == "sessions" else {}
                for col, xpath in xpaths.items():
                    if contact.get(col) or (xpath and el.xpath(xpath, namespaces=XNS)):
                        found[table].add(col)
    assert {t: set(x) - found[t] for t, x in XPATHS.items()} == {t: set() for t in XPATHS}


# --- through the rules: every real file, the day before its first session and on the demo day --------


def _rules_day(core) -> list[date]:
    starts = core.sessions["start_date"].dropna()
    days = [date(2026, 11, 20)]
    if len(starts):
        days.append(min(starts) - timedelta(days=1))
    return days


@pytest.mark.parametrize("name", REAL_FILES)
def test_real_files_go_through_the_rules_with_the_findings_their_xml_calls_for(tmp_path, name):
    from passerelle.publishable import classify
    from passerelle.rules.checks import CheckContext, run_checks, select_sessions, session_errors
    from passerelle.rules.registry import rule

    path = DATA / name
    res = read_lheo(place(tmp_path, path))
    core = build_core([res])
    root = etree.parse(str(path)).getroot()
    sessions = {_lheo_key(el, "lheo:intercarif:"): el for el in root.xpath(RECORDS["sessions"], namespaces=XNS)}
    for day in _rules_day(core):
        ctx = CheckContext(
            run_date=day,
            formations=core.formations,
            actions=core.actions,
            sessions=core.sessions,
            events=core.events,
            extract_dates={"lheo": day},
            sources_read={"lheo"},
        )
        found = run_checks(ctx)
        classes = classify(core.sessions, session_errors(concat_findings([core.reader_findings, found])))
        assert classes.notna().all() and len(classes) == len(sessions)
        # DQ009: the sessions whose XML gives no person, or no phone, for their contact
        checked = set(select_sessions(ctx.sessions, rule("DQ009").applies_to)["session_key"])
        for col in ("contact_name", "contact_phone"):
            field = lheo.SPEC.field_names["sessions"].get(col, col)  # findings name the LHEO element
            fired = set(found.loc[(found["rule"] == "DQ009") & (found["field"] == field), "session_key"])
            expected = {k for k, el in sessions.items() if not _expected_contact(el)[col]}
            assert fired == expected & checked, col
        # DQ005: the sessions whose action gives no entry mode
        checked = set(select_sessions(ctx.sessions, rule("DQ005").applies_to)["session_key"])
        field = lheo.SPEC.field_names["sessions"]["entry_mode"]
        fired = set(found.loc[(found["rule"] == "DQ005") & (found["field"] == field), "session_key"])
        expected = {k for k, el in sessions.items() if not el.xpath(SESSION_XPATHS["entry_mode"], namespaces=XNS)}
        assert fired == expected & checked
        # DQ016 on formations: a responsible body without a 14-digit SIRET
        field = lheo.SPEC.field_names["formations"]["holder_siret"]
        fired = set(found.loc[(found["rule"] == "DQ016") & (found["field"] == field), "line"])
        formations = root.xpath(RECORDS["formations"], namespaces=XNS)
        lines = dict(zip(core.formations["formation_key"], core.formations["source_line"], strict=True))
        expected = {
            lines[_lheo_key(f, "lheo:intercarif:")]
            for f in formations
            if not any(
                re.fullmatch(r"\d{14}", re.sub(r"[\s.]", "", t)) and set(t) != {"0"}
                for t in f.xpath(f"{RESPONSABLE}//{L('SIRET')}/text() | {RESPONSABLE}[not(*)]/text()", namespaces=XNS)
                + f.xpath(f"self::{L('resume-offre')}/{L('SIRET')}/text()", namespaces=XNS)
            )
        }
        assert fired == expected


# --- the demo files (data/samples/lheo_intercarif_*): reproducible, and the findings DEFECTS.md lists ----

SAMPLES = ROOT / "data" / "samples"


def _generator():
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate_lheo", SAMPLES / "generate_lheo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _day_checks(core, day: date, previous: pd.DataFrame | None = None):
    from passerelle.publishable import classify
    from passerelle.rules.checks import CheckContext, run_checks, session_errors

    ctx = CheckContext(
        run_date=day,
        formations=core.formations,
        actions=core.actions,
        sessions=core.sessions,
        events=core.events,
        extract_dates={"lheo": day},
        sources_read={"lheo"},
        previous=previous,
    )
    found = concat_findings([core.reader_findings, run_checks(ctx)])
    classes = classify(core.sessions, session_errors(found))
    return found, dict(zip(core.sessions["session_key"], classes, strict=True))


def _texts(el) -> list[str]:
    return [t.strip() for t in el.itertext() if t.strip()]


def test_the_demo_files_are_what_their_script_writes_from_the_real_exports():
    gen = _generator()
    d1, d2 = gen.serialise(gen.build(gen.DAY1)), gen.serialise(gen.build(gen.DAY2))
    assert (SAMPLES / gen.NAME1).read_bytes() == d1
    assert gzip.decompress((SAMPLES / gen.NAME2).read_bytes()) == d2
    assert gen.defects_section(d1, d2) in (SAMPLES / "DEFECTS.md").read_text(encoding="utf-8")
    # the texts, codes and organisations are the real exports' (only dates and the derived sessions differ)
    real = {
        f.get("numero"): f for name in gen.FILES for f in etree.parse(str(DATA / name)).getroot().iter("{*}formation")
    }
    for f in etree.fromstring(d1).iter("{*}formation"):
        for tag in ("intitule-formation", "objectif-formation", "domaine-formation", "organisme-formation-responsable"):
            mine, theirs = f.find(f"{{*}}{tag}"), real[f.get("numero")].find(f"{{*}}{tag}")
            assert (mine is None) == (theirs is None), tag
            if mine is not None:
                assert _texts(mine) == _texts(theirs), tag


def test_the_demo_days_read_and_give_the_documented_findings():
    gen = _generator()
    k = f"lheo:{gen.PRODUCER}:"
    day1 = read_lheo(SAMPLES / gen.NAME1)
    day2 = read_lheo(SAMPLES / gen.NAME2)  # gzipped
    assert day1.ok and day2.ok
    assert findings(day1, "warning").empty and findings(day2, "warning").empty  # valid LHEO

    # day 1: the repeated numero quarantines both occurrences (reader), DQ006 planted, DQ009 real
    q = day1.quarantine
    assert q["session_key"].tolist() == [k + gen.POEC] * 2 and (q["rule"] == "DQ000").all()
    core1 = build_core([day1])
    found1, classes1 = _day_checks(core1, gen.DAY1)
    errors1 = found1[found1["severity"] == "error"]
    assert set(zip(errors1["rule"], errors1["session_key"], strict=True)) == {
        ("DQ000", k + gen.POEC),
        ("DQ006", k + gen.PLAQUISTE_NEXT),
        ("DQ009", k + gen.DAEU),
    }
    published1 = {key for key, c in classes1.items() if c == "published"}
    assert published1 == {k + gen.PLAQUISTE, k + "123324", k + gen.BOULANGER}
    conservation = conservation_report([day1], core1)
    assert conservation["balanced"].all()

    # day 2: one session modified, one gone (DQ022 against day 1's publication), the repetition resolved
    core2 = build_core([day2])
    previous = core1.sessions[core1.sessions["session_key"].isin(published1)].assign(status="current")
    found2, classes2 = _day_checks(core2, gen.DAY2, previous)
    errors2 = found2[found2["severity"] == "error"]
    assert set(zip(errors2["rule"], errors2["session_key"], strict=True)) == {
        ("DQ006", k + gen.PLAQUISTE_NEXT),
        ("DQ009", k + gen.DAEU),
    }
    vanished = found2[found2["rule"] == "DQ022"]
    assert vanished["session_key"].tolist() == [k + gen.BOULANGER]
    published2 = {key for key, c in classes2.items() if c == "published"}
    assert published2 == {k + gen.PLAQUISTE, k + "123324", k + gen.POEC, k + gen.POEC_NEXT}
    s1, s2 = (c.sessions.set_index("session_key") for c in (core1, core2))
    moved = s2.loc[k + gen.PLAQUISTE, "start_date"] - s1.loc[k + gen.PLAQUISTE, "start_date"]
    assert moved == timedelta(days=7)
    # every published session is in the future of its day, with the fields a feed needs
    for s, day, keys in ((s1, gen.DAY1, published1), (s2, gen.DAY2, published2)):
        pub = s.loc[sorted(keys)]
        assert (pub["start_date"] > day).all() and pub["contact_name"].notna().all()
        assert pub[["siret_formateur", "postcode", "city", "entry_mode", "title"]].notna().all().all()


def test_a_session_without_registration_address_is_given_at_its_action_place(tmp_path):
    place_of_training = (
        "<lieu-de-formation><coordonnees><nom>Centre A</nom><adresse><ligne>2 rue B</ligne><codepostal>63000"
        "</codepostal><ville>Clermont-Ferrand</ville><code-INSEE-commune>63113</code-INSEE-commune></adresse>"
        "</coordonnees></lieu-de-formation>"
    )
    bare = re.sub(r"<adresse-inscription>.*?</adresse-inscription>\n", "", session("S2"))
    act = action("A1", session("S1") + bare).replace(
        "<modalites-entrees-sorties>", place_of_training + "<modalites-entrees-sorties>"
    )
    s = read(tmp_path, lheo_doc(formation("F1", act))).tables["sessions"].set_index("session_key")
    assert tuple(s.loc["lheo:intercarif:S1", ["address_line", "postcode", "city"]]) == ("1 rue A", "03200", "Vichy")
    assert tuple(s.loc["lheo:intercarif:S2", ["address_line", "postcode", "city", "insee_code"]]) == (
        "2 rue B",
        "63000",
        "Clermont-Ferrand",
        "63113",
    )
    assert (s["place_label"] == "Centre A").all()


@needs_xsd
@pytest.mark.parametrize("day", [0, 1])
def test_the_demo_days_published_sessions_make_valid_feeds(tmp_path, day):
    """What the demo days publish writes valid LHEO 2.3 (official XSD), both profiles. (Our
    profiles, schemas/xsd/lheo-*-profile.xsd, still only accept sam/eos/sigma numeros: the source
    registry opens them to lheo.)"""
    from passerelle.feeds.validate import validate_file

    gen = _generator()
    name, run = ((gen.NAME1, gen.DAY1), (gen.NAME2, gen.DAY2))[day]
    core = build_core([read_lheo(SAMPLES / name)])
    _, classes = _day_checks(core, run)
    published = core.sessions[core.sessions["session_key"].map(classes).eq("published").to_numpy(dtype=bool)]
    published = published.assign(publication_status="current")
    for profile in ("carif", "pole_emploi"):
        out = tmp_path / f"{profile}.xml"
        assert write_lheo(out, core.formations, core.actions, published, core.events, profile=profile, run_date=run)
        assert validate_file(out, XSD) == [], profile
        numeros = {s.get("numero") for s in etree.parse(str(out)).getroot().iter("{*}session")}
        assert numeros == set(published["session_key"]), profile
