"""The lheo source wired through the registry: a daily run of the sample inbox plus LHEO files of
two producers (one gzipped) publishes the producers' sessions in the feeds, balances row
conservation, counts each producer in the report; each producer lives on its own (a producer
that sends nothing today keeps its sessions, the others are not affected); an LHEO file never
makes or breaks a complete day."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from passerelle.canonical import build_core
from passerelle.cli import main
from passerelle.conservation import conservation_report
from passerelle.inbox import complete_dates
from passerelle.ingest import read_day

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"
LHEO = ROOT / "tests" / "data" / "lheo"
DAY1, DAY2 = date(2026, 11, 19), date(2026, 11, 20)


def _inbox(tmp: Path) -> Path:
    inbox = tmp / "inbox"
    inbox.mkdir()
    for p in SAMPLES.iterdir():
        if p.name.startswith(("sam_", "eos_", "sigma_")):
            shutil.copy(p, inbox / p.name)
    # EDOF catalogue (sessions in 2027: published) and a Trèfle file gzipped (sessions of 2018: over)
    shutil.copy(LHEO / "edof-catalogue-sst.xml", inbox / "lheo_edof_20261119.xml")
    with open(LHEO / "trefle-poec.xml", "rb") as src, gzip.open(inbox / "lheo_trefle_20261119.xml.gz", "wb") as dst:
        dst.write(src.read())
    return inbox


def _run(inbox: Path, out: Path, day: date) -> int:
    return main(["run", "--inbox", str(inbox), "--out", str(out), "--date", day.isoformat(), "--quiet"])


def _manifest(out: Path, day: date) -> dict:
    return json.loads((out / day.isoformat() / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def days(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lheo-day")
    inbox = _inbox(tmp)
    out = tmp / "out"
    assert _run(inbox, out, DAY1) == 0
    # day 2: EDOF sends nothing (its file is gone from the inbox), Trèfle's stays the newest
    (inbox / "lheo_edof_20261119.xml").unlink()
    assert _run(inbox, out, DAY2) == 0
    return inbox, out


def test_reads_each_producer_as_its_own_source(tmp_path):
    inbox = _inbox(tmp_path)
    reads = read_day(inbox, DAY1)
    by_source = {r.source: r for r in reads}
    assert {"lheo:edof", "lheo:trefle"} <= set(by_source)
    assert by_source["lheo:trefle"].file == "lheo_trefle_20261119.xml.gz" and by_source["lheo:trefle"].ok
    core = build_core(reads)
    lheo = core.sessions[core.sessions["source"].astype(str).str.startswith("lheo:")]
    assert set(lheo["source"]) == {"lheo:edof", "lheo:trefle"}
    assert lheo["session_key"].str.match(r"lheo:(edof|trefle):").all()
    report = conservation_report(reads, core)
    assert report["balanced"].all(), report
    assert set(report["file"]) >= {"lheo_edof_20261119.xml", "lheo_trefle_20261119.xml.gz"}


def test_day_publishes_the_producers_sessions_in_every_feed(days):
    _inbox_, out = days
    d = DAY1.isoformat()
    sessions = pd.read_parquet(out / d / "canonical" / "core_sessions.parquet")
    edof = sessions[sessions["source"] == "lheo:edof"]
    assert len(edof) > 0
    published = _manifest(out, DAY1)["sessions"]
    assert published["read"] == len(sessions)
    carif = (out / d / "carif" / f"lheo-{d}.xml").read_text(encoding="utf-8")
    pole = (out / d / "pole-emploi" / f"offres-{d}.xml").read_text(encoding="utf-8")
    csv = (out / d / "mission-locale" / f"sessions-{d}.csv").read_text(encoding="utf-8-sig")
    in_feeds = [k for k in edof["session_key"] if f'numero="{k}"' in carif]
    assert in_feeds, "no EDOF session in the Carif feed"
    for k in in_feeds:
        assert f'numero="{k}"' in pole and k in csv
    # the Trèfle sessions of 2018 are over: read, not published
    assert 'numero="lheo:trefle:' not in carif


def test_report_and_manifest_count_each_producer(days):
    _inbox_, out = days
    d = DAY1.isoformat()
    inputs = {i["file"]: i for i in _manifest(out, DAY1)["inputs"]}
    assert inputs["lheo_edof_20261119.xml"]["source"] == "lheo:edof"
    assert inputs["lheo_trefle_20261119.xml.gz"]["source"] == "lheo:trefle"
    html = (out / d / "quality" / "report.html").read_text(encoding="utf-8")
    sessions = pd.read_parquet(out / d / "canonical" / "core_sessions.parquet")
    n_edof = int((sessions["source"] == "lheo:edof").sum())
    assert f"LHEO edof {n_edof}" in html and "LHEO trefle 1" in html
    assert "SAM : 9 formations" in html


def test_a_producer_that_sends_nothing_keeps_its_sessions(days):
    _inbox_, out = days
    d1, d2 = DAY1.isoformat(), DAY2.isoformat()
    carif1 = (out / d1 / "carif" / f"lheo-{d1}.xml").read_text(encoding="utf-8")
    carif2 = (out / d2 / "carif" / f"lheo-{d2}.xml").read_text(encoding="utf-8")
    sessions = pd.read_parquet(out / d1 / "canonical" / "core_sessions.parquet")
    edof = [k for k in sessions.loc[sessions["source"] == "lheo:edof", "session_key"] if f'numero="{k}"' in carif1]
    assert edof and all(f'numero="{k}"' in carif2 for k in edof), "EDOF sessions kept from the store on day 2"
    assert _manifest(out, DAY2)["sessions"]["kept"] >= len(edof)
    issues = pd.read_csv(out / d2 / "quality" / "issues.csv", dtype=str)
    vanished = issues[(issues["rule"] == "DQ022") & issues["session_key"].fillna("").str.startswith("lheo:")]
    assert vanished.empty, "a producer that sent nothing is not a producer whose sessions vanished"


def test_lheo_files_never_make_or_break_a_complete_day(tmp_path):
    inbox = _inbox(tmp_path)
    assert complete_dates(inbox) == [DAY1, DAY2]
    for p in inbox.glob("lheo_*"):
        p.unlink()
    assert complete_dates(inbox) == [DAY1, DAY2]
    shutil.copy(LHEO / "trefle-daeu.xml", inbox / "lheo_trefle_20261125.xml")
    assert complete_dates(inbox) == [DAY1, DAY2]


def test_a_producer_whose_new_file_lacks_a_session_makes_it_vanish_alone(tmp_path):
    from lxml import etree

    inbox = _inbox(tmp_path)
    out = tmp_path / "out"
    assert _run(inbox, out, DAY1) == 0
    d1 = DAY1.isoformat()
    carif1 = (out / d1 / "carif" / f"lheo-{d1}.xml").read_text(encoding="utf-8")
    published = [
        k
        for k in ("lheo:edof:SST-2026", "lheo:edof:SST-2026-03", "lheo:edof:SST-2026-DIST")
        if f'numero="{k}"' in carif1
    ]
    assert "lheo:edof:SST-2026" in published
    # day 2: EDOF's new catalogue no longer has session SST-2026 (its action keeps SST-2026-03)
    tree = etree.parse(str(LHEO / "edof-catalogue-sst.xml"))
    gone = [
        el
        for el in tree.iter()
        if isinstance(el.tag, str) and etree.QName(el).localname == "session" and el.get("numero") == "SST-2026"
    ]
    assert len(gone) == 1
    gone[0].getparent().remove(gone[0])
    tree.write(str(inbox / "lheo_edof_20261120.xml"), xml_declaration=True, encoding=tree.docinfo.encoding)
    assert _run(inbox, out, DAY2) == 0
    issues = pd.read_csv(out / DAY2.isoformat() / "quality" / "issues.csv", dtype=str)
    dq022 = issues[issues["rule"] == "DQ022"]
    lheo_vanished = set(dq022.loc[dq022["session_key"].fillna("").str.startswith("lheo:"), "session_key"])
    assert lheo_vanished == {"lheo:edof:SST-2026"}
    d2 = DAY2.isoformat()
    carif2 = (out / d2 / "carif" / f"lheo-{d2}.xml").read_text(encoding="utf-8")
    for k in published:  # within the grace period the vanished one stays published too
        assert f'numero="{k}"' in carif2
