"""The life of a published session over days (outputs.md « Life of a published session »), with
the real daily job on the sample inbox: vanished sessions withdrawn after the grace period
(``retrait`` in the delta, closed without extras), datecrea / datemaj carried from day to day.
Sessions that end (a date after today's partitions) are tested on the core in
``tests/unit/test_lifecycle.py``."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest
from lxml import etree

from passerelle.feeds.lheo import NS
from tests.integration.runs import DAY1, DAY2, SAMPLES, run_in_process, run_subprocess, subprocess_env

L = {"l": NS}
DAY3, DAY4 = date(2026, 11, 21), date(2026, 11, 22)
GRACE = 2
VANISHED = {"eos:184210", "sigma:26P0005678_NUM_1:01:03", "lheo:intercarif:74056"}  # gone from the day-2 extracts


@pytest.fixture(scope="module")
def days(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lifecycle")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PASSERELLE_GRACE_DAYS", str(GRACE))
        for day in (DAY1, DAY2, DAY3, DAY4):
            assert run_in_process(SAMPLES, out, day) == 0, day
    return out


def _sessions(feed: Path) -> dict[str, etree._Element]:
    doc = etree.parse(str(feed))
    return {s.get("numero"): s for s in doc.iterfind(".//l:session", L)}


def _extra(session: etree._Element, info: str) -> str | None:
    return session.findtext(f"l:extras[@info='passerelle']/l:extra[@info='{info}']", namespaces=L)


def _feed(out: Path, day: date, rel: str) -> Path:
    return out / day.isoformat() / rel.format(d=day.isoformat())


def _findings(out: Path, day: date, rule: str) -> list[dict]:
    with open(out / day.isoformat() / "quality" / "issues.csv", encoding="utf-8", newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["rule"] == rule]


def test_vanished_sessions_stay_during_the_grace_period(days):
    for day in (DAY2, DAY3):
        full = _sessions(_feed(days, day, "carif/lheo-{d}.xml"))
        assert VANISHED <= set(full), day
        assert {_extra(full[k], "statut-publication") for k in VANISHED} == {"disparue"}
        dq022 = {r["session_key"]: r["message"] for r in _findings(days, day, "DQ022")}
        assert set(dq022) == VANISHED
        assert all("jusqu'au 21/11/2026 inclus (2 jours de délai)" in m for m in dq022.values()), dq022


def test_then_they_are_withdrawn_announced_by_the_delta_closed_without_extras(days):
    full = _sessions(_feed(days, DAY4, "carif/lheo-{d}.xml"))
    assert not VANISHED & set(full)
    assert not VANISHED & set(_sessions(_feed(days, DAY4, "pole-emploi/offres-{d}.xml")))
    delta = _sessions(_feed(days, DAY4, "carif/lheo-delta-{d}.xml"))
    assert set(delta) == VANISHED  # nothing else moved that day
    for key in VANISHED:
        s = delta[key]
        assert s.findtext("l:etat-recrutement", namespaces=L) == "2"  # closed for a reader of LHEO alone
        assert (_extra(s, "mouvement"), _extra(s, "statut-publication"), _extra(s, "public")) == (
            "retrait",
            "retiree",
            "0",
        )
        assert s.get("datemaj") == "20261122"
    dq022 = _findings(days, DAY4, "DQ022")
    assert {r["session_key"] for r in dq022} == VANISHED
    assert all("retirée des flux aujourd'hui" in r["message"] for r in dq022)
    with open(
        days / DAY4.isoformat() / "mission-locale" / f"sessions-{DAY4.isoformat()}.csv",
        encoding="utf-8-sig",
        newline="",
    ) as fh:
        assert not VANISHED & {r["session_id"] for r in csv.DictReader(fh, delimiter=";")}
    manifest = json.loads((days / DAY4.isoformat() / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["sessions"]["withdrawn"] == len(VANISHED) and manifest["sessions"]["vanished"] == 0


def test_dates_of_a_session_first_published_and_last_changed(days):
    day2 = _sessions(_feed(days, DAY2, "carif/lheo-{d}.xml"))
    day4 = _sessions(_feed(days, DAY4, "carif/lheo-{d}.xml"))
    # unchanged since day 1
    assert (day4["eos:184201"].get("datecrea"), day4["eos:184201"].get("datemaj")) == ("20261119", "20261119")
    # dates changed on day 2, then unchanged
    assert (day2["eos:184213"].get("datecrea"), day2["eos:184213"].get("datemaj")) == ("20261119", "20261120")
    assert (day4["eos:184213"].get("datecrea"), day4["eos:184213"].get("datemaj")) == ("20261119", "20261120")
    # a new session of day 2
    assert (day4["eos:184240"].get("datecrea"), day4["eos:184240"].get("datemaj")) == ("20261120", "20261120")
    # its formation changed when one of its sessions did; another formation did not
    doc = etree.parse(str(_feed(days, DAY4, "carif/lheo-{d}.xml")))
    formation = doc.find(".//l:formation[@numero='sam:2026C001203104:031:1']", L)
    assert (formation.get("datecrea"), formation.get("datemaj")) == ("20261119", "20261120")


def test_a_wrong_setting_stops_the_run_before_it_reads_anything(tmp_path):
    proc = run_subprocess(SAMPLES, tmp_path, DAY1, env=subprocess_env(PASSERELLE_GRACE_DAYS="sept"))
    assert proc.returncode == 1, proc.stderr
    assert "PASSERELLE_GRACE_DAYS='sept' : un nombre entier de jours" in proc.stderr
    assert not (tmp_path / DAY1.isoformat()).exists()
