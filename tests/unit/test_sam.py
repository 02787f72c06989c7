"""SAM offer reader (passerelle/sources/sam.py) and its schema (schemas/xsd/sam.xsd)."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import xmlschema
from lxml import etree

from passerelle import model
from passerelle.sources import sam
from passerelle.sources.sam import read_offer

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "samples" / "sam_offre_20261119.xml"
DATA = ROOT / "tests" / "data" / "sam"
XSD = ROOT / "schemas" / "xsd" / "sam.xsd"

SAMPLE_KEYS = [
    "sam:2026C007314701:147:1",
    "sam:2026C007314701:147:2",
    "sam:2026C007315202:152:1",
    "sam:2026C007315202:152:2",
    "sam:2026C001200503:005:1",
    "sam:2026C001200503:005:2",
    "sam:2026C001200503:005:3",
    "sam:2026C001203104:031:1",
    "sam:2026C001201550:155:1",
]


def write(tmp_path: Path, text: str | bytes, name: str = "sam_offre_20261119.xml") -> Path:
    p = tmp_path / name
    if isinstance(text, str):
        p.write_text(text, encoding="utf-8")
    else:
        p.write_bytes(text)
    return p


def conserved(res) -> bool:
    return res.rows_read[""] == len(res.tables["formations"]) + len(res.quarantine)


def assert_conform(res) -> None:
    model.conform(res.tables["formations"], model.FORMATIONS)
    model.conform(res.quarantine, model.QUARANTINE)
    model.conform(res.findings, model.FINDINGS)


def all_output_text(res) -> str:
    parts = [res.findings.to_csv(), res.quarantine.to_csv(), res.tables["formations"].to_csv()]
    return "\n".join(parts)


def action_start_lines(text: str) -> list[int]:
    return [i for i, line in enumerate(text.split("\n"), start=1) if line.lstrip().startswith("<action ")]


@pytest.fixture(scope="module")
def sample():
    return read_offer(SAMPLE)


def single_action_doc(lot: str = "147", numero: str = "1", extra_action_attrs: str = "", lot_attrs: str = "") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<sam-export date-extraction="2026-11-19">
  <marche numero="M2614701" programme="FPE" dossier="2026C007314701">
    <titulaire siret="443 061 841 00047" nda="84630123463" raison-sociale="HECATE   FORMATION"/>
    <lot numero="{lot}" debut="2026-01-05" fin="2026-12-31" fin-execution="2027-06-30"{lot_attrs}>
      <intitule>Lot</intitule>
      <action numero="{numero}" sessions-envisagees="3" effectif="10" duree-centre="364" duree-entreprise="210"
              formacode="42829" rome="K2110" certifiante="oui"{extra_action_attrs}>
        <intitule>Agent thermal</intitule>
      </action>
    </lot>
  </marche>
</sam-export>
"""


# --- the sample -------------------------------------------------------------------------------


def test_sample_reads_every_action(sample):
    assert sample.ok
    assert sample.source == "sam" and sample.kind == "offre"
    assert sample.file == "sam_offre_20261119.xml"
    assert sample.extract_date == date(2026, 11, 19)
    assert sample.encoding == "utf-8"
    assert re.fullmatch(r"[0-9a-f]{64}", sample.sha256)
    f = sample.tables["formations"]
    assert f["formation_key"].tolist() == SAMPLE_KEYS
    assert sample.rows_read == {"": len(SAMPLE_KEYS)}
    assert len(sample.quarantine) == 0
    assert len(sample.findings) == 0, sample.findings["message"].tolist()
    assert conserved(sample)
    assert_conform(sample)


def test_sample_types_and_values(sample):
    f = sample.tables["formations"]
    assert model.conform(f, model.FORMATIONS).schema == model.FORMATIONS
    assert f["period_start"].dtype == model._types_mapper(pa.date32())
    row = f.set_index("formation_key").loc["sam:2026C001200503:005:3"]
    assert row["marche_numero"] == "M2600503"
    assert row["programme"] == "Former Pour l'Emploi 2026-2029"
    assert row["dossier"] == "2026C001200503"
    assert row["lot"] == "005"
    assert row["action_number"] == "3"
    assert row["title"] == "Titre professionnel Assistant de vie aux familles"
    assert row["sessions_planned"] == 2
    assert row["headcount"] == 12
    assert row["hours_centre"] == 560.0 and row["hours_company"] == 210.0
    assert row["formacode"] == "44028" and row["rome"] == "K1302"
    assert row["period_start"] == date(2026, 1, 5)
    assert row["period_end"] == date(2026, 12, 31)
    assert row["execution_end"] == date(2027, 6, 30)
    assert row["holder_name"] == "AFPA AUVERGNE-RHONE-ALPES"
    assert row["holder_siret"] == "77889900500012"
    assert row["holder_nda"] == "82690654321"
    assert row["financer"] == model.FINANCER_REGION
    assert set(f["financer"]) == {"2"}
    assert f["status"].isna().all() and f["year"].isna().all()


def test_sample_lineage_lines_are_the_action_start_tags(sample):
    f = sample.tables["formations"]
    expected = action_start_lines(SAMPLE.read_text(encoding="utf-8"))
    assert f["source_line"].tolist() == expected
    assert set(f["source"]) == {"sam"}
    assert set(f["source_file"]) == {"sam_offre_20261119.xml"}
    assert set(f["source_sheet"]) == {""}


def test_sample_certifying_and_rncp(sample):
    f = sample.tables["formations"].set_index("formation_key")
    caces = f.loc["sam:2026C007315202:152:2"]
    assert caces["certifying"] is False or caces["certifying"] == False  # noqa: E712
    assert pd.isna(caces["rncp"])
    others = f.drop(index="sam:2026C007315202:152:2")
    assert others["certifying"].all()
    assert others["rncp"].str.fullmatch(r"RNCP\d+").all()


def test_sample_accents_and_entities_intact(sample):
    f = sample.tables["formations"].set_index("formation_key")
    assert (
        f.loc["sam:2026C007314701:147:2", "title"]
        == "Brevet national de pisteur secouriste 1er degré - Option Ski Alpin"
    )
    assert f.loc["sam:2026C001200503:005:1", "lot_title"].startswith("Hôtellerie-restauration")
    assert "Hygiène & sécurité" in f.loc["sam:2026C007314701:147:1", "content"]
    assert "&amp;" not in "".join(f["content"].dropna())
    # pretty-printing indentation is not part of the text; line breaks are kept
    content = f.loc["sam:2026C007314701:147:1", "content"]
    assert "\n" in content and "\n " not in content and not content.startswith(" ")


def test_sample_has_the_planted_short_marche_number(sample):
    f = sample.tables["formations"].set_index("formation_key")
    row = f.loc["sam:2026C001201550:155:1"]
    assert row["marche_numero"] == "M261550"  # 7 characters: DQ002 for the rules, not a file error
    assert row["sessions_planned"] == 1
    assert row["title"] == "Employé commercial en magasin"


def test_sample_is_valid_against_the_xsd():
    schema = xmlschema.XMLSchema(str(XSD))
    assert schema.is_valid(str(SAMPLE))


def test_xsd_only_accepts_sam_export_as_root(tmp_path):
    schema = xmlschema.XMLSchema(str(XSD))
    assert list(schema.elements) == ["sam-export"]
    doc = '<marche numero="M1" programme="x" dossier="d"><titulaire siret="1" nda="" raison-sociale="x"/></marche>'
    assert not schema.is_valid(doc)


def test_schema_is_built_once():
    assert sam.sam_schema() is sam.sam_schema()


# --- normalisation ----------------------------------------------------------------------------


@pytest.mark.parametrize(("lot", "expected"), [("5", "005"), ("05", "005"), ("005", "005"), ("147", "147")])
def test_lot_zero_padded_to_three_digits(tmp_path, lot, expected):
    res = read_offer(write(tmp_path, single_action_doc(lot=lot)))
    f = res.tables["formations"]
    assert f["lot"].tolist() == [expected]
    assert f["formation_key"].tolist() == [f"sam:2026C007314701:{expected}:1"]
    assert len(res.findings) == 0


def test_action_number_leading_zeros_dropped(tmp_path):
    res = read_offer(write(tmp_path, single_action_doc(numero="01")))
    assert res.tables["formations"]["formation_key"].tolist() == ["sam:2026C007314701:147:1"]
    assert res.tables["formations"]["action_number"].tolist() == ["1"]


def test_identifiers_cleaned_and_text_collapsed(tmp_path):
    res = read_offer(write(tmp_path, single_action_doc()))
    row = res.tables["formations"].iloc[0]
    assert row["holder_siret"] == "44306184100047"
    assert row["holder_name"] == "HECATE FORMATION"
    assert pd.isna(row["objective"])


def test_path_none_gives_empty_read():
    res = read_offer(None)
    assert res.file is None and res.ok
    assert len(res.tables["formations"]) == 0
    assert len(res.findings) == 0 and len(res.quarantine) == 0
    model.conform(res.tables["formations"], model.FORMATIONS)


# --- safety: DTDs and entities ----------------------------------------------------------------


def _doctype_refused(res) -> None:
    assert not res.ok
    assert res.findings["rule"].tolist() == ["DQ000"]
    assert res.findings["severity"].tolist() == ["error"]
    msg = res.findings["message"].iloc[0]
    assert msg.startswith("Le fichier SAM contient une déclaration DOCTYPE, refusée par sécurité")
    assert len(res.tables["formations"]) == 0
    assert_conform(res)


def test_billion_laughs_refused_without_expansion():
    res = read_offer(DATA / "billion_laughs.xml")
    _doctype_refused(res)
    assert res.findings["line"].iloc[0] == 2
    assert "lollol" not in all_output_text(res)


def test_billion_laughs_never_expanded_even_if_prescan_missed(monkeypatch):
    # defence in depth: without the prolog scan, the hardened parser still expands nothing
    monkeypatch.setattr(sam, "_prolog_doctype", lambda data: None)
    res = read_offer(DATA / "billion_laughs.xml")
    assert not res.ok
    assert res.findings["rule"].tolist() == ["DQ000"]
    assert "lollol" not in all_output_text(res)


def test_external_entity_refused_and_file_never_read():
    res = read_offer(DATA / "xxe_file.xml")
    _doctype_refused(res)
    assert res.findings["line"].iloc[0] == 3  # after the comment of line 2
    assert "root:" not in all_output_text(res)


def test_external_entity_never_resolved_even_if_prescan_missed(monkeypatch):
    monkeypatch.setattr(sam, "_prolog_doctype", lambda data: None)
    res = read_offer(DATA / "xxe_file.xml")
    _doctype_refused(res)
    assert "root:" not in all_output_text(res)


def test_external_dtd_refused():
    res = read_offer(DATA / "external_dtd.xml")
    _doctype_refused(res)
    assert "127.0.0.1" in res.findings["value"].iloc[0]


def test_doctype_refused_in_utf16(tmp_path):
    text = (DATA / "billion_laughs.xml").read_text(encoding="utf-8").replace("UTF-8", "UTF-16")
    res = read_offer(write(tmp_path, text.encode("utf-16")))
    _doctype_refused(res)


def test_schema_location_hint_is_ignored(tmp_path):
    text = single_action_doc().replace(
        "<sam-export ",
        '<sam-export xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:noNamespaceSchemaLocation="http://127.0.0.1:9/evil.xsd" ',
    )
    res = read_offer(write(tmp_path, text))
    assert res.ok and len(res.tables["formations"]) == 1
    assert res.findings["severity"].tolist() == ["info"]


# --- file-level failures ----------------------------------------------------------------------


def test_malformed_xml_reports_line_and_column():
    res = read_offer(DATA / "malformed.xml")
    assert not res.ok
    assert res.findings["rule"].tolist() == ["DQ000"]
    assert res.findings["severity"].tolist() == ["error"]
    assert res.findings["line"].iloc[0] == 10
    assert "ligne 10, colonne" in res.findings["message"].iloc[0]
    assert res.rows_read == {"": 0}
    assert_conform(res)


def test_empty_file(tmp_path):
    for content in (b"", b"  \n\n"):
        res = read_offer(write(tmp_path, content))
        assert not res.ok
        assert res.findings["rule"].tolist() == ["DQ000"]
        assert "vide" in res.findings["message"].iloc[0]
        assert_conform(res)


def test_missing_file(tmp_path):
    res = read_offer(tmp_path / "sam_offre_20261119.xml")
    assert not res.ok and res.findings["rule"].tolist() == ["DQ000"]


def test_wrong_root_rejects_file_and_quarantines_actions():
    res = read_offer(DATA / "wrong_root.xml")
    assert not res.ok
    assert res.rows_read == {"": 2}
    assert len(res.tables["formations"]) == 0
    assert len(res.quarantine) == 2
    assert conserved(res)
    assert res.findings["rule"].tolist() == ["DQ000"]
    assert "<lheo>" in res.findings["message"].iloc[0]
    assert res.quarantine["source_line"].tolist() == [7, 11]
    assert set(res.quarantine["kind"]) == {"formation"}
    assert_conform(res)


def test_very_deep_nesting_refused_without_crash(tmp_path):
    depth = 100_000
    doc = b'<sam-export date-extraction="2026-11-19">' + b"<a>" * depth + b"</a>" * depth + b"</sam-export>"
    res = read_offer(write(tmp_path, doc))
    assert not res.ok
    assert res.findings["rule"].tolist() == ["DQ000"]
    assert "imbrication" in res.findings["message"].iloc[0]
    assert_conform(res)


def test_moderate_nesting_within_limits_is_reported_not_crashing(tmp_path):
    doc = b'<sam-export date-extraction="2026-11-19">' + b"<marche>" * 200 + b"</marche>" * 200 + b"</sam-export>"
    res = read_offer(write(tmp_path, doc))
    assert res.rows_read == {"": 0}
    assert (res.findings["severity"] == "error").any()
    assert_conform(res)


def test_unforeseen_crash_becomes_file_error_with_conservation(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(sam, "_build", boom)
    res = read_offer(SAMPLE)
    assert not res.ok
    assert res.findings["rule"].tolist() == ["DQ000"] and "boom" in res.findings["message"].iloc[0]
    assert len(res.quarantine) == len(SAMPLE_KEYS) and conserved(res)
    assert_conform(res)


# --- record-level errors ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def invalid():
    return read_offer(DATA / "invalid_actions.xml")


def _finding(res, field_suffix: str):
    f = res.findings
    hit = f[f["field"].fillna("").str.endswith(field_suffix)]
    assert len(hit) == 1, (field_suffix, f[["line", "field", "message"]].to_string())
    return hit.iloc[0]


def test_invalid_actions_quarantined_valid_kept(invalid):
    assert invalid.ok
    assert invalid.rows_read == {"": 5}
    f = invalid.tables["formations"]
    assert f["formation_key"].tolist() == ["sam:2026C007314701:007:1", "sam:2026C007314701:007:3"]
    q = invalid.quarantine
    assert q["source_line"].tolist() == [11, 21, 25]
    assert conserved(invalid)
    assert set(q["rule"]) == {"DQ000"}
    assert "sans numéro" in q["reason"].iloc[0]
    assert "double" in q["reason"].iloc[1] and "ligne 7" in q["reason"].iloc[1]
    assert "« x1 »" in q["reason"].iloc[2]
    raw = json.loads(q["raw"].iloc[0])
    assert raw["marche"]["dossier"] == "2026C007314701"
    assert "numero" not in raw["action"] and raw["intitule"] == "Action sans numéro"
    assert_conform(invalid)


def test_quarantined_actions_have_one_error_finding_each(invalid):
    f = invalid.findings
    q_findings = f[f["message"].str.startswith("Mise en quarantaine")]
    assert q_findings["line"].tolist() == [11, 21, 25]
    assert set(q_findings["severity"]) == {"error"}
    missing = _finding(invalid, "action[2]/@numero")
    assert missing["line"] == 11


def test_impossible_date_reported_with_line_and_nulled(invalid):
    hit = _finding(invalid, "lot/@debut")
    assert hit["rule"] == "DQ000" and hit["severity"] == "error"
    assert hit["line"] == 5
    assert hit["value"] == "2026-02-30"
    assert hit["field"] == "/sam-export/marche/lot/@debut"
    assert "AAAA-MM-JJ" in hit["message"]
    f = invalid.tables["formations"]
    assert f["period_start"].isna().all()
    assert f["period_end"].notna().all()


def test_bad_values_nulled_with_findings(invalid):
    f = invalid.tables["formations"].set_index("formation_key")
    row = f.loc["sam:2026C007314701:007:3"]
    assert pd.isna(row["sessions_planned"])
    assert pd.isna(row["certifying"])
    assert pd.isna(row["rncp"])
    assert row["headcount"] == 12 and row["prerequisites"] == "Aucun"
    for suffix, value in (("@sessions-envisagees", "deux"), ("@certifiante", "peut-être"), ("@code-rncp", "12345")):
        hit = _finding(invalid, "action[3]/" + suffix)
        assert hit["severity"] == "error" and hit["value"] == value and hit["line"] == 15


def test_unknown_element_and_attributes(invalid):
    el = _finding(invalid, "action[3]/bidule")
    assert el["severity"] == "error" and el["line"] == 19
    attr = _finding(invalid, "@couleur")
    assert attr["severity"] == "info" and attr["value"] == "bleu"
    root_attr = _finding(invalid, "/sam-export/@version-export")
    assert root_attr["severity"] == "info" and root_attr["line"] == 2


def test_missing_title_reported(tmp_path):
    doc = single_action_doc().replace("<intitule>Agent thermal</intitule>", "<objectif>Obj</objectif>")
    res = read_offer(write(tmp_path, doc))
    assert len(res.tables["formations"]) == 1  # kept: the key is fine
    hit = res.findings.iloc[0]
    assert hit["severity"] == "error" and "<intitule>" in hit["message"] and hit["line"] == 7


def test_invalid_lot_number_quarantines_its_actions(tmp_path):
    res = read_offer(write(tmp_path, single_action_doc(lot="1470")))
    assert len(res.tables["formations"]) == 0 and len(res.quarantine) == 1
    assert "lot" in res.quarantine["reason"].iloc[0]
    assert conserved(res)


def test_missing_dossier_quarantines_its_actions(tmp_path):
    res = read_offer(write(tmp_path, single_action_doc().replace(' dossier="2026C007314701"', "")))
    assert len(res.quarantine) == 1 and "Dossier absent" in res.quarantine["reason"].iloc[0]
    assert conserved(res)


def test_misplaced_action_quarantined(tmp_path):
    doc = single_action_doc().replace(
        "    <lot ",
        '    <action numero="9" sessions-envisagees="1" effectif="1" duree-centre="1" duree-entreprise="1" '
        'formacode="12345" rome="A1234" certifiante="non"><intitule>Égarée</intitule></action>\n    <lot ',
    )
    res = read_offer(write(tmp_path, doc))
    assert res.rows_read == {"": 2}
    assert len(res.tables["formations"]) == 1 and len(res.quarantine) == 1
    assert "hors d'un lot" in res.quarantine["reason"].iloc[0]
    assert conserved(res)


def test_marche_number_format_is_not_a_file_error(tmp_path):
    res = read_offer(write(tmp_path, single_action_doc().replace('numero="M2614701"', 'numero="R4218"')))
    assert len(res.findings) == 0
    assert res.tables["formations"]["marche_numero"].tolist() == ["R4218"]


def test_extract_date_mismatch_warns(tmp_path):
    res = read_offer(write(tmp_path, single_action_doc(), name="sam_offre_20261120.xml"))
    assert res.findings["severity"].tolist() == ["warning"]
    assert res.findings["value"].tolist() == ["2026-11-19"]


# --- encodings and lines ----------------------------------------------------------------------


def test_mislabelled_utf8_read_as_utf8(tmp_path):
    text = SAMPLE.read_text(encoding="utf-8").replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
    res = read_offer(write(tmp_path, text.encode("utf-8")))
    assert res.tables["formations"]["title"].iloc[1].endswith("1er degré - Option Ski Alpin")
    assert res.findings["severity"].tolist() == ["warning"]


def test_declared_legacy_encoding_decoded(tmp_path):
    text = SAMPLE.read_text(encoding="utf-8").replace('encoding="UTF-8"', 'encoding="windows-1252"')
    res = read_offer(write(tmp_path, text.encode("cp1252")))
    assert res.ok and len(res.findings) == 0
    assert res.tables["formations"]["lot_title"].iloc[4].startswith("Hôtellerie")
    assert res.tables["formations"]["source_line"].tolist() == action_start_lines(text)


def test_undecodable_bytes_reported(tmp_path):
    data = SAMPLE.read_bytes().replace("Métiers".encode(), b"M\xe9tiers")
    res = read_offer(write(tmp_path, data))
    assert not res.ok and res.findings["line"].iloc[0] == 6
    assert "UTF-8" in res.findings["message"].iloc[0]


def test_lines_exact_beyond_65535(tmp_path):
    # libxml2 stores element lines on 16 bits; the reader must still give exact lines.
    text = SAMPLE.read_text(encoding="utf-8")
    text = text.replace('  <marche numero="M2600503"', "\n" * 70_000 + '  <marche numero="M2600503"')
    res = read_offer(write(tmp_path, text))
    lines = res.tables["formations"]["source_line"].tolist()
    assert lines == action_start_lines(text)
    assert max(lines) > 70_000


def test_parser_is_hardened():
    # the options the brief requires; guards against a later edit loosening them
    src = Path(sam.__file__).read_text(encoding="utf-8")
    for opt in (
        "resolve_entities=False",
        "no_network=True",
        "load_dtd=False",
        "dtd_validation=False",
        "huge_tree=False",
    ):
        assert opt in src
    assert etree.LIBXML_VERSION >= (2, 9, 0)


def test_element_paths_are_libxml2_paths_computed_once_per_parent():
    from lxml import etree

    from passerelle.sources.sam import _PathCache

    xml = (
        b"<offre><marche><titulaire/><lot><action/><!-- c --><action/><x:e xmlns:x='urn:x'/></lot>"
        b"<lot><action/></lot></marche><marche/><autre/></offre>"
    )
    tree = etree.ElementTree(etree.fromstring(xml))
    paths = _PathCache(tree)
    for el in tree.getroot().iter():
        assert paths(el) == tree.getpath(el)
    assert paths(tree.getroot()[0][1][2]) == "/offre/marche[1]/lot[1]/action[2]"
    assert paths(None) is None
