"""Issue 14, end to end: a SIGMA workbook whose contract number on the Actions sheet is
malformed (``23X00003``). The run exits 0; every session is published but those of action
``23X00003_QP_2``, each with its own DQ002 row naming the action; every feed is valid."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

from passerelle.feeds.conformance import SCHEMAS, official_lheo_xsd
from passerelle.feeds.validate import validate_file
from tests.integration.runs import DAY1, SAMPLES, run_in_process
from tests.unit.test_parents import issue_book, write_book

FEEDS = {
    "carif/lheo-2026-11-19.xml": "lheo-carif-profile.xsd",
    "pole-emploi/offres-2026-11-19.xml": "lheo-pole-emploi-profile.xsd",
}


def inbox(folder: Path) -> Path:
    folder.mkdir()
    for f in SAMPLES.iterdir():
        if f.name.endswith(("20261119.csv", "20261119.xml", "20261119.xlsx")):
            shutil.copy(f, folder / f.name)
    return folder


def session_keys(feed: Path) -> set[str]:
    return set(re.findall(r'<session numero="([^"]+)"', feed.read_text(encoding="utf-8")))


def test_malformed_contract_on_the_actions_sheet_blocks_that_action_alone(tmp_path):
    base_in, bad_in = inbox(tmp_path / "base"), inbox(tmp_path / "bad")
    write_book(bad_in, issue_book())
    assert run_in_process(base_in, tmp_path / "out-base", DAY1) == 0
    assert run_in_process(bad_in, tmp_path / "out-bad", DAY1) == 0
    day = tmp_path / "out-bad" / DAY1.isoformat()
    for rel, profile in FEEDS.items():
        assert not validate_file(day / rel, SCHEMAS / profile), rel
        if official_lheo_xsd():
            assert not validate_file(day / rel, official_lheo_xsd()), rel
        got = session_keys(day / rel)
        assert got == session_keys(tmp_path / "out-base" / DAY1.isoformat() / rel), rel
        assert not any("23X00003" in k for k in got)
    assert "23X00003" not in (day / "pole-emploi/offres-2026-11-19.xml").read_text(encoding="utf-8")
    rows = list(csv.DictReader((day / "quality/issues.csv").open(encoding="utf-8")))
    parent = [r for r in rows if r["rule"] == "DQ002" and r["value"] == "23X00003" and not r["session_key"]]
    assert len(parent) == 1 and parent[0]["line"] == "8"
    blocked = [r for r in rows if r["session_key"].startswith("sigma:23X00003_QP_2:")]
    assert sorted(r["session_key"] for r in blocked) == [f"sigma:23X00003_QP_2:01:0{i}" for i in (1, 2, 3)]
    for r in blocked:
        assert r["rule"] == "DQ002" and r["severity"] == "error"
        assert r["message"].startswith("L'action 23X00003_QP_2 est en erreur (DQ002, feuille Actions ligne 8)")
    assert not [r for r in rows if r["rule"] == "DQ024"]

    # the report and the body's message name the action once, with the sessions it blocks
    report = (day / "quality/report.html").read_text(encoding="utf-8")
    assert (
        report.count(
            'L&#x27;action 23X00003_QP_2</span> <span class="dates">en erreur (DQ002, feuille Actions '
            "ligne 8) : 3 sessions bloquées"
        )
        == 1
    )
    assert report.count("sigma:23X00003_QP_2:01:02") == 2  # in the parent's block, in the body's message
    mails = [p for p in (day / "quality/messages").glob("*.eml") if "23X00003_QP_2" in p.read_bytes().decode("utf-8")]
    assert len(mails) == 1
    import email
    import email.policy

    text = email.message_from_bytes(mails[0].read_bytes(), policy=email.policy.default).get_content()
    assert text.count("L'action 23X00003_QP_2 (feuille Actions ligne 8) : 3 sessions bloquées") == 1
    assert "Sessions : sigma:23X00003_QP_2:01:01, sigma:23X00003_QP_2:01:02, sigma:23X00003_QP_2:01:03" in text
    assert text.count("23X00003_QP_2 est en erreur") == 1
