"""The official address reference (data/reference/) and its lookup (passerelle.reference.cog)."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from passerelle.reference import cog
from passerelle.reference.cog import REFERENCE_DIR, resolve_addresses
from passerelle.reference.names import match_key, match_keys

STR = pd.ArrowDtype(pa.string())


def resolve_one(postcode, city, insee=None) -> dict:
    out = resolve_addresses(
        pd.Series([postcode], dtype=object), pd.Series([city], dtype=object), pd.Series([insee], dtype=object)
    )
    row = out.iloc[0]
    return {k: (None if pd.isna(v) else v) for k, v in row.items()}


# --- the committed tables and their sources ------------------------------------------------------


def test_tables_carry_their_sources_and_match_their_checksums():
    v = cog.reference_versions()
    deco = v["packages"]["@etalab/decoupage-administratif"]
    cp = v["packages"]["codes-postaux"]
    for pkg in (deco, cp):
        assert pkg["version"] and pkg["integrity"].startswith("sha512-")
        assert pkg["published"][:2] == "20" and pkg["licence_data"] and pkg["upstream"]
    assert deco["cog_year"] == "2026" and "Licence Ouverte" in deco["licence_data"]
    ref = cog.reference()
    tables = {"cog_communes.csv.gz": ref.communes, "cog_postcodes.csv.gz": ref.postcodes, "cog_areas.csv.gz": ref.areas}
    assert set(v["files"]) == set(tables)
    for name, df in tables.items():
        data = (REFERENCE_DIR / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == v["files"][name]["sha256"], f"{name} changed without a rebuild"
        assert len(df) == v["files"][name]["rows"]
    source = (REFERENCE_DIR / "SOURCE.md").read_text("utf-8")
    assert f"`@etalab/decoupage-administratif` {deco['version']}" in source
    assert f"`codes-postaux` {cp['version']}" in source


def test_table_keys_are_those_of_the_current_normaliser():
    """A change to names.py without ``make reference`` would silently stop matching."""
    p = cog.reference().postcodes
    keys, _ = match_keys(p["label"])
    differ = p[(keys.astype(object) != p["match_name"].astype(object)).to_numpy()]
    assert differ.empty, differ.head()


def test_every_postcode_row_points_at_a_commune_or_arrondissement():
    ref = cog.reference()
    kinds = ref.postcodes["insee_code"].map(ref.communes["kind"])
    assert set(kinds.unique()) == {"commune", "arrondissement"}
    assert ref.communes["departement"].notna().all() and ref.communes["region"].notna().all()
    c = ref.communes
    assert (c[c["kind"] == "commune"]["resolved"] == c[c["kind"] == "commune"]["code"]).all()


# --- real places ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "postcode, city, insee, dept, region, name",
    [
        ("20000", "Ajaccio", "2A004", "2A", "94", "Ajaccio"),
        ("20200", "BASTIA", "2B033", "2B", "94", "Bastia"),
        ("97400", "Saint-Denis", "97411", "974", "04", "Saint-Denis"),
        ("97110", "POINTE A PITRE", "97120", "971", "01", "Pointe-à-Pitre"),
        ("97133", "St Barthélemy", "97701", "977", "977", "Saint-Barthélemy"),
        ("98800", "NOUMEA", "98818", "988", "988", "Nouméa"),
        ("42000", "ST ETIENNE", "42218", "42", "84", "Saint-Étienne"),
        ("42000", "Saint-Étienne", "42218", "42", "84", "Saint-Étienne"),
        ("42000", "saint etienne", "42218", "42", "84", "Saint-Étienne"),
        ("69160", "TASSIN LA DEMI LUNE", "69244", "69", "84", "Tassin-la-Demi-Lune"),
        ("38080", "L'ISLE D'ABEAU", "38193", "38", "84", "L'Isle-d'Abeau"),
        ("38080", "Isle d Abeau", "38193", "38", "84", "L'Isle-d'Abeau"),
        ("31000", "TOULOUSE", "31555", "31", "76", "Toulouse"),
        ("69110", "STE FOY LES LYON", "69202", "69", "84", "Sainte-Foy-lès-Lyon"),
        ("85260", "HERBERGEMENT (L')", "85108", "85", "52", "L'Herbergement"),
        ("16190", "BORS", "16052", "16", "75", "Bors (Canton de Tude-et-Lavalette)"),
    ],
)
def test_cities_as_training_bodies_type_them(postcode, city, insee, dept, region, name):
    r = resolve_one(postcode, city)
    assert r == {
        "insee_code": insee,
        "departement": dept,
        "region": region,
        "country": "FR",
        "commune_name": name,
        "status": "derived",
        "message": None,
    }


@pytest.mark.parametrize(
    "postcode, city, insee, name",
    [
        ("69003", "Lyon", "69383", "Lyon 3e Arrondissement"),  # the postcode designates one arrondissement
        ("69003", "LYON 3E", "69383", "Lyon 3e Arrondissement"),
        ("69003", "LYON 03", "69383", "Lyon 3e Arrondissement"),
        ("69003", "Lyon 3ème arrondissement", "69383", "Lyon 3e Arrondissement"),
        ("75015", "PARIS", "75115", "Paris 15e Arrondissement"),
        ("75015", "PARIS 15", "75115", "Paris 15e Arrondissement"),
        ("75016", "Paris 16e", "75116", "Paris 16e Arrondissement"),
        ("75116", "PARIS", "75116", "Paris 16e Arrondissement"),
        ("13008", "MARSEILLE 8E ARRONDISSEMENT", "13208", "Marseille 8e Arrondissement"),
        ("13008", "Marseille", "13208", "Marseille 8e Arrondissement"),
        # 13013 serves three arrondissements (12e, 13e, 14e): the city is certain, the arrondissement is not
        ("13013", "Marseille", "13055", "Marseille"),
        ("13013", "MARSEILLE 13EME", "13213", "Marseille 13e Arrondissement"),
    ],
)
def test_arrondissements_municipaux(postcode, city, insee, name):
    r = resolve_one(postcode, city)
    assert (r["insee_code"], r["commune_name"], r["status"]) == (insee, name, "derived")
    assert r["region"] in ("84", "11", "93")


def test_arrondissement_not_served_by_the_postcode():
    r = resolve_one("69001", "LYON 3E")
    assert r["status"] == "city_not_served" and r["insee_code"] is None
    assert "69001" in r["message"] and "« LYON 3E »" in r["message"]


def test_given_commune_code_of_a_city_with_arrondissements_is_kept():
    assert resolve_one("69003", "Lyon", "69123")["insee_code"] == "69123"
    assert resolve_one("69003", "Lyon", "69123")["status"] == "ok"
    assert resolve_one("69003", "LYON 3E", "69383")["status"] == "ok"
    assert resolve_one("13013", "Marseille", "13213")["status"] == "ok"


def test_former_codes_give_the_commune_actuelle():
    r = resolve_one("97133", "Saint-Barthélemy", "97123")  # Guadeloupe's code until 2007
    assert (r["insee_code"], r["departement"], r["status"]) == ("97701", "977", "derived")


@pytest.mark.parametrize(
    "postcode, city, insee, dept",
    [
        ("69431", "LYON CEDEX 03", "69123", "69"),
        ("69431", "Lyon Cedex", "69123", "69"),
        ("33999", "BORDEAUX CEDEX", "33063", "33"),
        ("20090", "AJACCIO CEDEX", "2A004", "2A"),  # 20090 is a real postcode of Ajaccio: CEDEX is just dropped
        ("31035", "TOULOUSE CEDEX 1", "31555", "31"),
        ("97404", "ST DENIS CEDEX", "97411", "974"),
        ("69574", "DARDILLY Cedex", "69072", "69"),
        ("13344", "MARSEILLE Cedex 15", "13055", "13"),  # a CEDEX number is no arrondissement: the city's code
        ("35207", "RENNES Cedex 2", "35238", "35"),
    ],
)
def test_cedex(postcode, city, insee, dept):
    r = resolve_one(postcode, city)
    assert (r["insee_code"], r["departement"], r["status"]) == (insee, dept, "derived")


def test_cedex_postcode_with_a_city_unknown_in_its_departement():
    r = resolve_one("69431", "VILLEURBANE CEDEX")
    assert r["status"] == "unknown_postcode" and r["insee_code"] is None
    assert r["message"].startswith("Le code postal CEDEX 69431 n'est pas dans la base officielle")
    assert "département 69" in r["message"]


def test_cedex_postcode_checks_the_given_insee_code_against_its_departement():
    assert resolve_one("69431", "LYON CEDEX 03", "69123")["status"] == "ok"
    r = resolve_one("69431", "LYON CEDEX 03", "13055")
    assert (r["status"], r["insee_code"]) == ("insee_mismatch", "69123")


def test_commune_nouvelle_under_a_former_name():
    # Annecy-le-Vieux, commune déléguée of Annecy (commune nouvelle, 2017), still written with 74940
    r = resolve_one("74940", "ANNECY LE VIEUX")
    assert (r["insee_code"], r["commune_name"], r["status"]) == ("74010", "Annecy", "derived")
    # its former code is replaced by the commune actuelle's
    r = resolve_one("74940", "Annecy-le-Vieux", "74011")
    assert (r["insee_code"], r["status"], r["message"]) == ("74010", "derived", None)


def test_libelle_acheminement():
    # Luynes: a locality of Aix-en-Provence with its own postcode and libellé d'acheminement
    r = resolve_one("13080", "LUYNES")
    assert (r["insee_code"], r["commune_name"], r["status"]) == ("13001", "Aix-en-Provence", "derived")


def test_homonyms_are_told_apart_by_their_postcode():
    assert resolve_one("32300", "Saint-Martin")["insee_code"] == "32389"
    assert resolve_one("65360", "ST MARTIN")["insee_code"] == "65392"
    assert resolve_one("67220", "Saint Martin")["insee_code"] == "67426"
    # La Vergne and Vergné, both in Charente-Maritime, fold to the same key
    assert resolve_one("17400", "LA VERGNE")["insee_code"] == "17465"
    assert resolve_one("17330", "VERGNE")["insee_code"] == "17464"


def test_two_communes_of_one_name_at_one_postcode_are_ambiguous():
    # 62760 serves Thièvres (Pas-de-Calais) and Thièvres (Somme)
    r = resolve_one("62760", "THIEVRES")
    assert (r["status"], r["insee_code"], r["departement"], r["region"]) == ("ambiguous", None, None, None)
    assert "62814" in r["message"] and "80756" in r["message"] and "62760" in r["message"]
    r = resolve_one("62760", "Thièvres", "80756")
    assert (r["status"], r["insee_code"], r["departement"], r["region"]) == ("ok", "80756", "80", "32")
    # a code of neither does not decide either
    r = resolve_one("62760", "THIEVRES", "62041")
    assert (r["status"], r["insee_code"]) == ("insee_mismatch", None)
    assert "plusieurs communes : Thièvres (62814), Thièvres (80756)" in r["message"]
    # Château-Chinon (Ville) and Château-Chinon (Campagne) share 58120: La Poste's libellé
    # « CHATEAU CHINON » is the Ville's, and a libellé comes before a short name
    assert resolve_one("58120", "CHATEAU CHINON")["insee_code"] == "58062"
    assert resolve_one("58120", "Château-Chinon (Campagne)")["insee_code"] == "58063"
    # a libellé d'acheminement shared by several communes decides nothing either
    assert resolve_one("20166", "PORTICCIO")["status"] == "ambiguous"


def test_city_not_served_by_its_postcode():
    r = resolve_one("69003", "Villeurbane")
    assert (r["status"], r["insee_code"], r["country"]) == ("city_not_served", None, None)
    assert r["message"] == (
        "Le code postal 69003 ne dessert aucune commune nommée « Villeurbane » (communes desservies : Lyon)."
    )
    r = resolve_one("69003", "Villeurbanne")
    assert r["status"] == "city_not_served" and r["insee_code"] is None
    assert "Villeurbanne (69100)" in r["message"]  # where that commune is


def test_unknown_postcode():
    r = resolve_one("69999", "Lyon")
    assert (r["status"], r["insee_code"]) == ("unknown_postcode", None)
    assert r["message"].startswith("Le code postal 69999 n'existe pas dans la base officielle des codes postaux")
    r = resolve_one("6900", "Lyon")
    assert r["status"] == "unknown_postcode" and "n'a pas 5 chiffres" in r["message"]


def test_wrong_insee_code():
    # another commune: postcode and city agree, their commune is kept
    r = resolve_one("69003", "Lyon", "69381")
    assert (r["status"], r["insee_code"]) == ("insee_mismatch", "69383")
    assert "69381" in r["message"] and "Lyon 3e Arrondissement (69383)" in r["message"]
    # no such commune
    r = resolve_one("42000", "Saint-Étienne", "42999")
    assert (r["status"], r["insee_code"]) == ("insee_unknown", "42218")
    assert "« 42999 »" in r["message"]
    r = resolve_one("69003", "Villeurbane", "99999")
    assert (r["status"], r["insee_code"]) == ("insee_unknown", None)


def test_two_sources_out_of_three_designate_the_commune():
    # INSEE code and city against the postcode
    r = resolve_one("69003", "Villeurbanne", "69266")
    assert (r["status"], r["insee_code"], r["departement"]) == ("insee_mismatch", "69266", "69")
    assert "ne dessert pas Villeurbanne (69266)" in r["message"]
    # INSEE code and postcode against a misspelt city
    r = resolve_one("69100", "Villeurbane", "69266")
    assert (r["status"], r["insee_code"]) == ("city_not_served", "69266")
    # all three disagree: nothing is guessed
    r = resolve_one("69003", "Villeurbane", "13055")
    assert (r["status"], r["insee_code"]) == ("city_not_served", None)


@pytest.mark.parametrize(
    "postcode, city",
    [
        (None, "Lyon"),
        ("69003", None),
        ("", "Lyon"),
        ("69003", "  "),
        (pd.NA, pd.NA),
        (np.nan, "Lyon"),
        ("69003", "CEDEX"),
    ],
)
def test_missing_parts(postcode, city):
    r = resolve_one(postcode, city, "69383")
    assert r["status"] == "missing" and r["insee_code"] is None and r["country"] is None
    assert r["message"].startswith("Adresse incomplète")


def test_output_shape_index_and_types():
    idx = pd.Index([10, 3, 7], name="row")
    pc = pd.Series(["69003", None, "20200"], index=idx, dtype=STR)
    city = pd.Series(["Lyon", "Lyon", "Bastia"], index=idx, dtype=STR)
    out = resolve_addresses(pc, city)  # no INSEE column at all
    assert list(out.columns) == cog.RESULT_COLUMNS
    assert out.index.equals(idx)
    assert all(dtype == STR for dtype in out.dtypes)
    assert out["insee_code"].tolist()[0] == "69383" and out.loc[3, "status"] == "missing"
    assert out.loc[7, "departement"] == "2B"
    empty = resolve_addresses(pd.Series([], dtype=STR), pd.Series([], dtype=STR))
    assert empty.empty and list(empty.columns) == cog.RESULT_COLUMNS


def test_a_million_rows_resolved_like_each_distinct_place():
    cases = [
        ("69003", "Lyon", None),
        ("20000", "AJACCIO", None),
        ("69431", "LYON CEDEX 03", None),
        ("69003", "Villeurbane", None),
        ("62760", "THIEVRES", None),
        ("42000", "ST ETIENNE", "42218"),
        ("69003", "Lyon", "69381"),
        (None, "Lyon", None),
        ("97400", "SAINT DENIS", None),
        ("74940", "ANNECY LE VIEUX", None),
    ]
    expected = [resolve_one(*c) for c in cases]
    n = 1_000_000
    rng = np.random.default_rng(15)
    pick = rng.integers(0, len(cases), n)
    pc = pd.Series([c[0] for c in cases], dtype=STR).take(pick).reset_index(drop=True)
    city = pd.Series([c[1] for c in cases], dtype=STR).take(pick).reset_index(drop=True)
    insee = pd.Series([c[2] for c in cases], dtype=STR).take(pick).reset_index(drop=True)
    out = resolve_addresses(pc, city, insee)
    assert len(out) == n
    for col in ("insee_code", "status", "departement", "message"):
        want = pd.Series([e[col] for e in expected], dtype=STR).take(pick).reset_index(drop=True)
        assert out[col].reset_index(drop=True).equals(want), col


# --- helpers for the rules ------------------------------------------------------------------------


def test_departement_helpers():
    assert cog.departement_of_postcode("20000") == "2A"
    assert cog.departement_of_postcode("20200") == "2B"
    assert cog.departement_of_postcode("97133") == "977"  # Saint-Barthélemy
    assert cog.departement_of_postcode("97150") == "978"  # Saint-Martin
    assert cog.departement_of_postcode("98800") == "988"
    assert cog.departement_of_postcode("01200") == "01"  # serves 01 and 74: its own
    assert cog.departement_of_postcode("69431") == "69"  # CEDEX: by its digits
    assert cog.departement_of_postcode("123") is None and cog.departement_of_postcode(None) is None
    assert cog.departement_of_insee("2B033") == "2B"
    assert cog.departement_of_insee("97411") == "974"
    assert cog.departement_of_insee("69383") == "69"
    assert cog.departement_of_insee("2a004") == "2A"
    assert cog.departement_of_insee("abc") is None
    s = cog.departement_of_postcode(pd.Series(["20000", "75015", None], index=[5, 6, 7]))
    assert s.tolist()[:2] == ["2A", "75"] and pd.isna(s.iloc[2]) and list(s.index) == [5, 6, 7]
    assert cog.departement_of_insee("97123") == "977"  # Saint-Barthélemy's code until 2007
    assert cog.postcode_in_departement("01200", "74") and cog.postcode_in_departement("01200", "01")
    assert not cog.postcode_in_departement("01200", "69") and not cog.postcode_in_departement("69003", "2A")
    assert cog.postcode_in_departement("20000", "2A") and not cog.postcode_in_departement("20000", "2B")
    assert cog.postcode_in_departement("97133", "977") and cog.postcode_in_departement("69431", "69")
    assert cog.postcode_in_departement("20900", "2B") and not cog.postcode_in_departement(None, "69")
    both = cog.postcode_in_departement(
        pd.Series(["75016", "75016", None], index=[4, 5, 6]), pd.Series(["92", "69", "75"], index=[4, 5, 6])
    )
    assert both.tolist() == [True, False, False] and list(both.index) == [4, 5, 6]
    assert cog.region_of_departement("2A") == "94" and cog.region_of_departement("976") == "06"
    assert cog.REGION_NAMES["84"] == "Auvergne-Rhône-Alpes" and cog.REGION_NAMES["76"] == "Occitanie"
    assert cog.DEPARTEMENT_NAMES["2B"] == "Haute-Corse"


@pytest.mark.parametrize(
    "name, key",
    [
        ("Saint-Étienne", "SAINTETIENNE"),
        ("ST ETIENNE", "SAINTETIENNE"),
        ("STE-FOY-LÈS-LYON", "SAINTEFOYLESLYON"),
        ("L'Isle-d'Abeau", "ISLEDABEAU"),
        ("LA CHAPELLE-AUX-LYS", "CHAPELLEAUXLYS"),
        ("CHAPELLE-AUX-LYS (LA)", "CHAPELLEAUXLYS"),
        ("HERBERGEMENT (L')", "HERBERGEMENT"),
        ("Château-Chinon (Ville)", "CHATEAUCHINONVILLE"),
        ("LYON CEDEX 03", "LYON"),
        ("Lyon 1er Arrondissement", "LYON1"),
        ("LYON 01", "LYON1"),
        ("PARIS 15EME", "PARIS15"),
        ("3E ARRONDISSEMENT DE LYON", "LYON3"),
        ("69003 Lyon (69)", "LYON"),
        ("Villefranche s/ Saône", "VILLEFRANCHESURSAONE"),
        ("Œting", "OETING"),
        ("  ", None),
        (None, None),
    ],
)
def test_match_keys(name, key):
    assert match_key(name) == key


def test_cedex_flag():
    _, cedex = match_keys(pd.Series(["LYON CEDEX 03", "Lyon", "PARIS CDX", None]))
    assert cedex.tolist() == [True, False, True, False]


# --- the build script, on a miniature of the two packages ------------------------------------------


def _load_build_script():
    import importlib.util

    path = REFERENCE_DIR.parents[1] / "scripts" / "build_reference.py"
    spec = importlib.util.spec_from_file_location("build_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _miniature(tmp_path):
    import json

    deco, cp = tmp_path / "deco", tmp_path / "cp"
    (deco / "data").mkdir(parents=True)
    cp.mkdir()
    communes = [
        {
            "code": "69123",
            "nom": "Lyon",
            "type": "commune-actuelle",
            "departement": "69",
            "region": "84",
            "codesPostaux": ["69001", "69003"],
        },
        {
            "code": "69381",
            "nom": "Lyon 1er Arrondissement",
            "type": "arrondissement-municipal",
            "commune": "69123",
            "departement": "69",
            "region": "84",
            "codesPostaux": ["69001"],
        },
        {
            "code": "69383",
            "nom": "Lyon 3e Arrondissement",
            "type": "arrondissement-municipal",
            "commune": "69123",
            "departement": "69",
            "region": "84",
            "codesPostaux": ["69003"],
        },
        {
            "code": "74010",
            "nom": "Annecy",
            "type": "commune-actuelle",
            "departement": "74",
            "region": "84",
            "codesPostaux": ["74000", "74940"],
            "anciensCodes": ["74011", "74999"],
        },
        {
            "code": "74010",
            "nom": "Annecy",
            "type": "commune-deleguee",
            "chefLieu": "74010",
            "departement": "74",
            "region": "84",
        },
        {
            "code": "74011",
            "nom": "Annecy-le-Vieux",
            "type": "commune-deleguee",
            "chefLieu": "74010",
            "departement": "74",
            "region": "84",
        },
    ]
    (deco / "data" / "communes.json").write_text(json.dumps(communes), "utf-8")
    (deco / "data" / "regions.json").write_text(json.dumps([{"code": "84", "nom": "Auvergne-Rhône-Alpes"}]), "utf-8")
    (deco / "data" / "departements.json").write_text(
        json.dumps(
            [{"code": "69", "nom": "Rhône", "region": "84"}, {"code": "74", "nom": "Haute-Savoie", "region": "84"}]
        ),
        "utf-8",
    )
    (deco / "package.json").write_text(json.dumps({"license": "MIT", "repository": "x/deco"}), "utf-8")
    (deco / "README.md").write_text("| Année | Version |\n|---|---|\n| 2026  | 6.0.0 |\n", "utf-8")
    streets = [
        {
            "codePostal": "69003",
            "codeCommune": "69383",
            "libelleAcheminement": "LYON",
            "codeVoie": "A001",
            "nomCommune": "Lyon 3e Arrondissement",
        },
        {
            "codePostal": "69003",
            "codeCommune": "69383",
            "libelleAcheminement": "LYON",
            "codeVoie": "A002",
            "nomCommune": "Lyon 3e Arrondissement",
        },
        {
            "codePostal": "74940",
            "codeCommune": "74011",
            "libelleAcheminement": "ANNECY LE VIEUX",
            "codeVoie": "XXXX",
            "nomCommune": "Annecy-le-Vieux",
        },
    ]
    (cp / "codes-postaux-full.json").write_text(json.dumps(streets), "utf-8")
    (cp / "package.json").write_text(json.dumps({"license": "MIT", "repository": "x/cp"}), "utf-8")
    packages = [
        {
            "name": "@etalab/decoupage-administratif",
            "version": "6.0.0",
            "integrity": "sha512-a",
            "tarball": "d.tgz",
            "published": "2026-03-09",
        },
        {
            "name": "codes-postaux",
            "version": "4.1.2",
            "integrity": "sha512-b",
            "tarball": "c.tgz",
            "published": "2025-10-04",
        },
    ]
    return deco, cp, packages


def test_build_script_on_a_miniature(tmp_path):
    build = _load_build_script()
    deco, cp, packages = _miniature(tmp_path)
    out = tmp_path / "out"
    versions = build.build(deco, cp, [dict(p) for p in packages], out)
    assert versions["packages"]["@etalab/decoupage-administratif"]["cog_year"] == "2026"
    communes = pd.read_csv(out / "cog_communes.csv.gz", dtype=str, keep_default_na=False)
    kinds = dict(zip(communes["code"], communes["kind"]))
    assert kinds == {
        "69123": "commune",
        "69381": "arrondissement",
        "69383": "arrondissement",
        "74010": "commune",
        "74011": "deleguee",
        "74999": "ancien",
    }
    assert communes.set_index("code").loc["74011", "resolved"] == "74010"
    rows = pd.read_csv(out / "cog_postcodes.csv.gz", dtype=str)
    got = set(zip(rows["postcode"], rows["insee_code"], rows["tier"], rows["match_name"]))
    assert ("69003", "69383", "1", "LYON") in got and ("69003", "69383", "1", "LYON3") in got
    assert not any(r[1] == "69123" for r in got)  # Lyon is served through its arrondissements
    # the former name: libellé d'acheminement where La Poste prints it, former name elsewhere; each key once
    assert ("74940", "74010", "2", "ANNECYLEVIEUX") in got and ("74000", "74010", "3", "ANNECYLEVIEUX") in got
    assert ("74940", "74010", "3", "ANNECYLEVIEUX") not in got
    # same inputs, same bytes
    again = build.build(deco, cp, [dict(p) for p in packages], tmp_path / "again")
    assert again["files"] == versions["files"]
    assert "`codes-postaux` 4.1.2" in (out / "SOURCE.md").read_text("utf-8")
