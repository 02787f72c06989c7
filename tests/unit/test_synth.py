"""passerelle.synth: the synthetic inbox of the benchmark (deterministic, readable, conserved)."""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from datetime import date

import pandas as pd
import pytest

from passerelle import model
from passerelle.ingest import read_extract
from passerelle.sources import eos, sam, sigma
from passerelle.sources.base import find_extracts
from passerelle.synth import write_inbox

N = 300
DAY = date(2026, 11, 19)


def _digests(paths) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    paths = write_inbox(out, N, seed=7, extract_date=DAY)
    return out, paths


def test_writes_the_four_extracts_of_the_contract(inbox):
    out, paths = inbox
    assert [p.name for p in paths] == [
        "sam_offre_20261119.xml",
        "eos_sessions_20261119.csv",
        "eos_evenements_20261119.csv",
        "sigma_actions_20261119.xlsx",
    ]
    found = find_extracts(out, DAY)
    assert sorted(p.name for p in found.values() if p is not None) == sorted(p.name for p in paths)
    meta = json.loads((out / "SYNTH.json").read_text(encoding="utf-8"))
    assert meta["sessions"] == N and meta["eos_sessions"] + meta["sigma_sessions"] == N
    assert meta["eos_sessions"] == 180  # 60 % EOS, 40 % SIGMA


def test_deterministic_for_a_seed(inbox, tmp_path):
    _, paths = inbox
    again = write_inbox(tmp_path / "again", N, seed=7, extract_date=DAY)
    assert _digests(again) == _digests(paths)
    other = write_inbox(tmp_path / "other", N, seed=8, extract_date=DAY)
    assert _digests(other) != _digests(paths)


def test_eos_files_carry_the_contract_warts(inbox):
    out, _ = inbox
    raw = (out / "eos_sessions_20261119.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # cp1252, with accents
    text = raw.decode("cp1252")
    header = text.split("\r\n", 1)[0]
    assert header.endswith(";;") and "Commentaire interne" in header  # trailing columns, unknown column
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    events = (out / "eos_evenements_20261119.csv").read_bytes().decode("cp1252")
    assert '"Réunion d’information ; présentation du plateau technique\r\n' in events  # quoted ; and line break


def test_readers_read_every_row_with_conservation(inbox):
    out, _ = inbox
    meta = json.loads((out / "SYNTH.json").read_text(encoding="utf-8"))
    s = eos.read_sessions(out / "eos_sessions_20261119.csv")
    e = eos.read_events(out / "eos_evenements_20261119.csv")
    w = sigma.read_workbook(out / "sigma_actions_20261119.xlsx")
    o = sam.read_offer(out / "sam_offre_20261119.xml")
    for r in (s, e, w, o):
        assert r.ok, r.findings
        kept = sum(len(t) for t in r.tables.values())
        assert kept + len(r.quarantine) == r.rows
        for name, t in r.tables.items():
            model.conform(t, model.TABLES[f"core_{name}"])
    assert s.rows == meta["eos_sessions"] and len(s.tables["sessions"]) == meta["eos_sessions"]
    assert e.rows == meta["planted"]["eos:events"]
    assert len(w.tables["sessions"]) == meta["sigma_sessions"]
    assert len(w.tables["events"]) == meta["planted"]["sigma:informations collectives"]
    # the only reader findings of a synthetic inbox: the unknown EOS column and the planted DQ000 cells
    errors = pd.concat([r.findings for r in (s, e, w, o)])
    errors = errors[errors["severity"] == "error"]
    assert set(errors["rule"]) <= {"DQ000"}
    assert len(errors) == meta["planted"].get("eos:DQ000", 0) + meta["planted"].get("sigma:DQ000", 0)


def test_sigma_workbook_mixes_excel_and_text_dates(inbox):
    out, _ = inbox
    with zipfile.ZipFile(out / "sigma_actions_20261119.xlsx") as z:
        sheet = z.read("xl/worksheets/sheet3.xml").decode("utf-8")
    assert 's="1"><v>' in sheet  # real Excel dates (date style)
    assert re.search(r"<t>\d\d/\d\d/\d{4}</t>", sheet)  # dates typed as text
    w = sigma.read_workbook(out / "sigma_actions_20261119.xlsx")
    starts = w.tables["sessions"]["start_date"]
    assert starts.notna().all()


def test_planted_defects_and_cancellations_are_reported(tmp_path):
    out = tmp_path / "inbox"
    write_inbox(out, 2000, seed=42, extract_date=DAY)
    meta = json.loads((out / "SYNTH.json").read_text(encoding="utf-8"))["planted"]
    planted = sum(
        v for k, v in meta.items() if k.split(":")[1].startswith("DQ") and "(" not in k and not k.startswith("sam:")
    )
    assert 0.02 * 2000 <= planted <= 0.04 * 2000  # ~3 % of the sessions
    cancelled = meta["eos:DQ003 (cancelled)"] + meta["sigma:DQ003 (cancelled)"]
    assert 0.01 * 2000 <= cancelled <= 0.03 * 2000  # ~2 %
    reads = [
        read_extract(src, kind, out, DAY)
        for src, kind in (("sam", "offre"), ("eos", "sessions"), ("eos", "evenements"), ("sigma", "actions"))
    ]
    from passerelle.canonical import build_core
    from passerelle.daily import extract_dates
    from passerelle.rules.checks import CheckContext, run_checks

    core = build_core(reads)
    assert len(core.sessions) + int((core.quarantine["kind"] == "session").sum()) == 2000
    found = run_checks(
        CheckContext(
            run_date=DAY,
            formations=core.formations,
            actions=core.actions,
            sessions=core.sessions,
            events=core.events,
            extract_dates=extract_dates(reads),
            known_session_keys=set(),
            previous=None,
            sources_read={"eos", "sigma"},
        )
    )
    by_rule = found["rule"].value_counts()
    for rule in ("DQ001", "DQ002", "DQ005", "DQ009", "DQ013", "DQ016", "DQ017", "DQ020"):
        assert by_rule.get(rule, 0) > 0, rule
    assert by_rule.get("DQ003", 0) == cancelled
    # events are dated on or before their session's start (no DQ013 beyond the planted ones)
    assert by_rule.get("DQ013", 0) == meta["eos:DQ013"] + meta["sigma:DQ013"]
