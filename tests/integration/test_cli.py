"""End to end: ``passerelle run`` on the sample inbox, day 1 then day 2, like ``make demo``."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from lxml import etree

from passerelle.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"
OFFICIAL_XSD = ROOT.parent / "shared" / "reference" / "lheo" / "lheo.xsd"
DAY1, DAY2 = date(2026, 11, 19), date(2026, 11, 20)


def _run(inbox: Path, out: Path, day: date, *extra: str) -> int:
    return main(["run", "--inbox", str(inbox), "--out", str(out), "--date", day.isoformat(), "--quiet", *extra])


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    assert _run(SAMPLES, out, DAY1) == 0
    assert _run(SAMPLES, out, DAY2) == 0
    return out


def _manifest(out: Path, day: date) -> dict:
    return json.loads((out / day.isoformat() / "manifest.json").read_text(encoding="utf-8"))


def _issues(out: Path, day: date) -> list[dict]:
    text = (out / day.isoformat() / "quality" / "issues.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def test_layout_of_a_day(demo):
    d = DAY1.isoformat()
    for rel in (
        f"carif/lheo-{d}.xml",
        f"carif/lheo-delta-{d}.xml",
        f"pole-emploi/offres-{d}.xml",
        f"mission-locale/sessions-{d}.csv",
        "quality/issues.csv",
        "quality/report.html",
        "manifest.json",
        "canonical/core_sessions.parquet",
    ):
        assert (demo / d / rel).is_file(), rel
    assert not any((demo / ".staging").glob("*")), "staging folders are cleaned after publication"


def test_manifest_accounts_for_every_session_and_file(demo):
    m = _manifest(demo, DAY1)
    s = m["sessions"]
    assert s["read"] == s["published"] + s["quarantined"] + s["not_publishable"]
    assert s["read"] > 40 and s["published"] > 15
    files = {i["file"] for i in m["inputs"]}
    assert files == {
        "sam_offre_20261119.xml",
        "eos_sessions_20261119.csv",
        "eos_evenements_20261119.csv",
        "sigma_actions_20261119.xlsx",
        "lheo_intercarif_20261119.xml",
    }
    for i in m["inputs"]:
        assert _sha(SAMPLES / i["file"]) == i["sha256"]
    for o in m["outputs"]:
        assert _sha(demo / DAY1.isoformat() / o["file"]) == o["sha256"]
    assert m["findings"]["error"] > 0


def test_planted_defects_are_reported_with_rule_key_and_line(demo):
    rows = _issues(demo, DAY1)
    found = {(r["rule"], r["session_key"]) for r in rows}
    rules = {r["rule"] for r in rows}
    for rule in (
        "DQ000",
        "DQ001",
        "DQ002",
        "DQ003",
        "DQ004",
        "DQ005",
        "DQ006",
        "DQ007",
        "DQ008",
        "DQ009",
        "DQ010",
        "DQ011",
        "DQ012",
        "DQ013",
        "DQ014",
        "DQ015",
        "DQ016",
        "DQ017",
        "DQ018",
        "DQ019",
        "DQ020",
        "DQ021",
    ):
        assert rule in rules, rule
    assert all(r["line"] for r in rows if r["session_key"]), "every session finding names its line"
    # clean sessions have no error
    errors = {r["session_key"] for r in rows if r["severity"] == "error" and r["session_key"]}
    lheo = etree.parse(str(demo / DAY1.isoformat() / "carif" / f"lheo-{DAY1.isoformat()}.xml"))
    ns = {"l": "http://lheo.gouv.fr/2.3"}
    published = {s.get("numero") for s in lheo.iterfind(".//l:session", ns)}
    assert published and not (published & errors)
    assert ("DQ020", "eos:184233") in found or any(r["rule"] == "DQ020" for r in rows)


@pytest.mark.skipif(not OFFICIAL_XSD.is_file(), reason="../shared/reference/lheo/lheo.xsd not present")
def test_every_xml_feed_is_valid_against_the_official_lheo_xsd(demo):
    schema = etree.XMLSchema(etree.parse(str(OFFICIAL_XSD)))
    feeds = sorted((demo / DAY1.isoformat()).rglob("*.xml")) + sorted((demo / DAY2.isoformat()).rglob("*.xml"))
    assert len(feeds) == 6
    for f in feeds:
        doc = etree.parse(str(f))
        assert schema.validate(doc), f"{f.name}: {schema.error_log.last_error}"


def test_second_day_delta_and_vanished(demo):
    m = _manifest(demo, DAY2)
    assert m["sessions"]["vanished"] >= 2
    ns = {"l": "http://lheo.gouv.fr/2.3"}
    delta = etree.parse(str(demo / DAY2.isoformat() / "carif" / f"lheo-delta-{DAY2.isoformat()}.xml"))
    moves = {}
    for s in delta.iterfind(".//l:session", ns):
        mv = s.find(".//l:extra[@info='mouvement']", ns)
        moves[s.get("numero")] = mv.text if mv is not None else None
    assert moves.get("eos:184240") == "creation"
    assert moves.get("eos:184213") == "modification"
    assert moves.get("eos:184208") == "annulation"
    assert "eos:184201" not in moves, "an unchanged session is not in the delta"
    full = etree.parse(str(demo / DAY2.isoformat() / "carif" / f"lheo-{DAY2.isoformat()}.xml"))
    keys = {s.get("numero") for s in full.iterfind(".//l:session", ns)}
    assert "eos:184210" in keys, "a vanished session stays published (DQ022)"
    assert "eos:184205" in keys, "a session now in error keeps its last good version"
    rules = {(r["rule"], r["session_key"]) for r in _issues(demo, DAY2)}
    assert ("DQ022", "eos:184210") in rules


def test_rerun_same_date_is_byte_identical_and_adds_no_history(demo, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(demo, out)
    for day in (DAY2, DAY1):  # re-running an older date too: DQ007 "first seen" stays the same
        d = day.isoformat()
        before = {
            p.relative_to(out / d): _sha(p)
            for p in (out / d).rglob("*")
            if p.is_file() and p.suffix in (".xml", ".csv")
        }
        assert _run(SAMPLES, out, day) == 0
        after = {
            p.relative_to(out / d): _sha(p)
            for p in (out / d).rglob("*")
            if p.is_file() and p.suffix in (".xml", ".csv")
        }
        assert before == after, d
    from passerelle.store import open_store

    st = open_store(f"sqlite:///{out / 'passerelle.sqlite3'}")
    try:
        state = st.published_state(DAY2)
        assert state["session_key"].is_unique
        assert st.last_publication_date(date(2026, 11, 21)) == DAY2
    finally:
        st.dispose()


def test_bad_command_line_exits_2(tmp_path):
    assert main(["run", "--inbox", str(tmp_path / "nope"), "--out", str(tmp_path), "--date", "2026-11-19"]) == 2
    assert main(["run", "--inbox", str(SAMPLES), "--out", str(tmp_path), "--date", "19/11/2026"]) == 2
    assert main(["frobnicate"]) == 2


def test_run_that_cannot_complete_exits_1_and_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    code = _run(SAMPLES, out, DAY1, "--db", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert code == 1
    assert not (out / DAY1.isoformat()).exists()


GOLDEN = ROOT / "tests" / "golden"
GOLDEN_FILES = [
    "carif/lheo-{d}.xml",
    "carif/lheo-delta-{d}.xml",
    "pole-emploi/offres-{d}.xml",
    "mission-locale/sessions-{d}.csv",
    "quality/issues.csv",
]


@pytest.mark.parametrize("day", [DAY1, DAY2], ids=str)
def test_feeds_match_the_golden_files(demo, day):
    """The published bytes of the sample days are reviewed and frozen; UPDATE_GOLDEN=1 refreshes them."""
    import os

    d = day.isoformat()
    for pattern in GOLDEN_FILES:
        rel = pattern.format(d=d)
        got = (demo / d / rel).read_bytes()
        golden = GOLDEN / d / rel
        if os.environ.get("UPDATE_GOLDEN") == "1":
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_bytes(got)
        assert golden.is_file(), f"missing golden file {golden} (run with UPDATE_GOLDEN=1 once, then review)"
        assert got == golden.read_bytes(), f"{rel} differs from {golden}"


def _defect_rows(day: date) -> list[dict]:
    """The planted defects of data/samples/DEFECTS.md for one day: file, sheet, line, rule."""
    import re

    text = (SAMPLES / "DEFECTS.md").read_text(encoding="utf-8")
    stamp = day.strftime("%Y%m%d")
    rows = []
    section = None
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
            continue
        if line.startswith("### "):
            current = line
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else None
        if not cells or not re.fullmatch(r"DQ\d{3}", next((c for c in cells if c.startswith("DQ")), "") or ""):
            continue
        rule = next(c for c in cells if c.startswith("DQ"))
        if section == "EOS":
            file = cells[1].strip("`")
            if stamp not in file or rule == "DQ019":  # DQ019 is reported on the SAM action
                continue
            if rule == "DQ013" and "sessions" in file:  # reported at the event's line (listed too)
                continue
            rows.append({"file": file, "sheet": "", "line": cells[2], "rule": rule, "key": f"eos:{cells[0]}"})
        elif section == "SIGMA" and ("Day 1" in current if day == DAY1 else "Day 2" in current):
            if not cells[2].isdigit():
                continue
            rows.append(
                {
                    "file": f"sigma_actions_{stamp}.xlsx",
                    "sheet": cells[1],
                    "line": cells[2],
                    "rule": rule,
                    "key": cells[0].strip("`") if "(action)" not in cells[0] else "",
                }
            )
        elif section == "LHEO" and ("Day 1" in current if day == DAY1 else "Day 2" in current):
            for line_no in cells[2].split(","):
                if line_no.strip().isdigit():
                    rows.append(
                        {
                            "file": cells[1].strip("`"),
                            "sheet": "",
                            "line": line_no.strip(),
                            "rule": rule,
                            "key": cells[0].strip("`"),
                        }
                    )
        elif section == "SAM" and day == DAY1:
            rows.append({"file": "sam_offre_20261119.xml", "sheet": "", "line": cells[1], "rule": rule, "key": ""})
    return rows


def test_every_planted_defect_is_reported_with_its_rule_key_and_line(demo):
    expected = _defect_rows(DAY1)
    assert len(expected) > 35
    issues = _issues(demo, DAY1)
    missing = []
    for e in expected:
        hits = [
            r
            for r in issues
            if r["rule"] == e["rule"]
            and r["file"] == e["file"]
            and r["line"] == e["line"]
            and (not e["sheet"] or r["field"].startswith(e["sheet"]))
            and (not e["key"] or r["session_key"] == e["key"])
        ]
        if not hits:
            missing.append(e)
    assert not missing, missing


def test_no_error_on_a_clean_session(demo):
    """Sessions that DEFECTS.md does not name carry no error finding."""
    named = {e["key"] for e in _defect_rows(DAY1) if e["key"]}
    errors = {r["session_key"] for r in _issues(demo, DAY1) if r["severity"] == "error" and r["session_key"]}
    assert errors <= named, sorted(errors - named)
