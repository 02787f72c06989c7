"""Findings on parent records reach their sessions (rules.md, parent records; issue 14).

Every rule that can fire with an error on a parent record is exercised on real extracts built
from the samples: DQ000 (a bad value on an Actions row, a Composantes row, a SAM ``<lot>`` or
``<marche>``), DQ002 (SIGMA contract number, SIGMA action prefix, SAM marché number), DQ016 (the
holder's SIRET). DQ001 and DQ020 name the session itself (already session rows). Each blocked
session gets its own row with the same rule, its own key and line, and a message naming the
parent and where it is; the parent's finding stays one row; those sessions are quarantined.
"""

from __future__ import annotations

import copy
import importlib.util
import re
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from passerelle.canonical import build_core
from passerelle.daily import DayContext, check_day
from passerelle.parents import parent_places, session_findings
from passerelle.publishable import classify
from passerelle.rules.checks import session_errors
from passerelle.sources import eos, sam, sigma

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"
DAY = date(2026, 11, 19)


def _generator():
    spec = importlib.util.spec_from_file_location("generate_sigma", SAMPLES / "generate_sigma.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GEN = _generator()


def issue_book(contract: str = "23X00003", action: str = "23X00003_QP_2") -> dict:
    """The day-1 SIGMA book plus, on row 8 of the Actions sheet, the issue's action: contract
    ``23X00003`` (not NNP + 7 digits), one composante and three sessions."""
    book = copy.deepcopy(GEN.DAY1_BOOK)
    h, rows = book["Actions"]
    rows = rows + [
        [
            contract,
            action,
            "Agent de sûreté - Titre professionnel",
            "EC",
            2026,
            GEN.D(2026, 9, 1),
            GEN.D(2027, 12, 31),
            "SANTE FORMATION OCCITANIE",
            "53467891700012",
            "76810456789",
            "PRF",
            GEN.PROGRAMME,
            "42888",
            "K2503",
        ]
    ]
    book["Actions"] = (h, rows)
    h, comps = book["Composantes"]
    book["Composantes"] = (
        h,
        comps
        + [
            [
                action,
                "01",
                GEN.FORQ,
                GEN.D(2027, 1, 4),
                GEN.D(2027, 12, 17),
                "ALBI",
                "81000",
                30,
                500,
                100,
                "Dates fixes",
            ]
        ],
    )
    h, sess = book["Sessions"]
    extra = [
        [
            action,
            "01",
            f"0{i}",
            GEN.D(2027, 2 * i, 1),
            GEN.D(2027, 2 * i + 3, 28),
            GEN.L_ALB,
            10,
            f"OI26-00900{i}",
            GEN.V,
            *GEN.C_SAN,
        ]
        for i in (1, 2, 3)
    ]
    book["Sessions"] = (h, sess + extra)
    return book


def write_book(folder: Path, book: dict, day: str = "20261119") -> Path:
    path = folder / f"sigma_actions_{day}.xlsx"
    path.write_bytes(GEN.build(book, GEN.FIXED_TIMESTAMP[day]))
    return path


def day_findings(reads) -> tuple[pd.DataFrame, object]:
    core = build_core(reads)
    day = DayContext(DAY, None, pd.DataFrame({"session_key": [], "content_hash": [], "status": [], "since_date": []}))
    return check_day(core, reads, day), core


def sigma_findings(tmp_path: Path, book: dict):
    return day_findings([sigma.read_workbook(write_book(tmp_path, book), DAY)])


def parent_rows(findings: pd.DataFrame, rule: str, sheet: str, line: int) -> pd.DataFrame:
    return findings[
        (findings["rule"] == rule)
        & (findings["sheet"] == sheet)
        & (findings["line"] == line)
        & findings["session_key"].isna()
    ]


def derived_rows(findings: pd.DataFrame, needle: str) -> pd.DataFrame:
    return findings[findings["message"].str.contains(needle, regex=False) & findings["session_key"].notna()]


def assert_blocked(findings, core, rule: str, keys: set[str], needle: str) -> pd.DataFrame:
    rows = derived_rows(findings, needle)
    rows = rows[rows["rule"] == rule]
    assert set(rows["session_key"]) == keys, rows[["session_key", "message"]]
    assert rows["session_key"].is_unique
    assert (rows["severity"] == "error").all()
    sessions = core.sessions.set_index("session_key")
    for r in rows.itertuples():  # each row on its own session's line
        assert r.line == sessions.at[r.session_key, "source_line"]
        assert r.file == sessions.at[r.session_key, "source_file"]
        assert r.sheet == sessions.at[r.session_key, "source_sheet"]
    classes = classify(core.sessions, session_errors(findings))
    blocked = core.sessions.loc[classes.to_numpy() == "quarantined", "session_key"]
    assert keys <= set(blocked)
    return rows


def test_issue_case_each_session_of_the_action_gets_its_dq002_row(tmp_path):
    findings, core = sigma_findings(tmp_path, issue_book())
    parent = parent_rows(findings, "DQ002", "Actions", 8)
    assert len(parent) == 1 and parent["value"].iloc[0] == "23X00003"
    keys = {f"sigma:23X00003_QP_2:01:0{i}" for i in (1, 2, 3)}
    rows = assert_blocked(
        findings, core, "DQ002", keys, "L'action 23X00003_QP_2 est en erreur (DQ002, feuille Actions ligne 8)"
    )
    assert set(rows["value"]) == {"23X00003"}
    # nothing else is blocked by it
    assert len(derived_rows(findings, "23X00003_QP_2 est en erreur")) == 3


def test_action_prefix_dq002_reaches_the_only_session_of_the_sample(tmp_path):
    findings, core = sigma_findings(tmp_path, copy.deepcopy(GEN.DAY1_BOOK))
    assert len(parent_rows(findings, "DQ002", "Actions", 6)) == 1
    assert_blocked(
        findings,
        core,
        "DQ002",
        {"sigma:26P0009021_LOG_1:01:01"},
        "L'action 26P0009021_LOG_1 est en erreur (DQ002, feuille Actions ligne 6)",
    )


def test_holder_siret_dq016(tmp_path):
    book = copy.deepcopy(GEN.DAY1_BOOK)
    h, rows = book["Actions"]
    rows[3][8] = "53467891700013"  # SAN_1: bad Luhn key
    findings, core = sigma_findings(tmp_path, book)
    assert len(parent_rows(findings, "DQ016", "Actions", 5)) == 1
    san = set(core.sessions.loc[core.sessions["formation_key"] == "sigma:26P0005678_SAN_1", "session_key"])
    assert len(san) == 3
    assert_blocked(
        findings, core, "DQ016", san, "L'action 26P0005678_SAN_1 est en erreur (DQ016, feuille Actions ligne 5)"
    )


def test_dq000_on_an_actions_row(tmp_path):
    book = copy.deepcopy(GEN.DAY1_BOOK)
    h, rows = book["Actions"]
    rows[2][6] = "31/02/2027"  # NUM_1: Date de fin prévue impossible
    findings, core = sigma_findings(tmp_path, book)
    assert len(parent_rows(findings, "DQ000", "Actions", 4)) == 1
    num = set(core.sessions.loc[core.sessions["formation_key"] == "sigma:26P0005678_NUM_1", "session_key"])
    assert len(num) == 4
    assert_blocked(
        findings, core, "DQ000", num, "L'action 26P0005678_NUM_1 est en erreur (DQ000, feuille Actions ligne 4)"
    )


def test_dq000_on_a_composante_row_blocks_that_composante_only(tmp_path):
    book = copy.deepcopy(GEN.DAY1_BOOK)
    h, comps = book["Composantes"]
    comps[1][3] = "bientôt"  # AGRI_1 composante 02: Date début unreadable
    findings, core = sigma_findings(tmp_path, book)
    assert len(parent_rows(findings, "DQ000", "Composantes", 3)) == 1
    keys = set(core.sessions.loc[core.sessions["action_key"] == "sigma:26P0001234_AGRI_1:02", "session_key"])
    assert keys == {"sigma:26P0001234_AGRI_1:02:01", "sigma:26P0001234_AGRI_1:02:02"}
    assert_blocked(
        findings,
        core,
        "DQ000",
        keys,
        "La composante 02 de l'action 26P0001234_AGRI_1 est en erreur (DQ000, feuille Composantes ligne 3)",
    )
    others = derived_rows(findings, "est en erreur (DQ000")
    assert set(others["session_key"]) == keys


def test_dq015_on_a_composante_postcode(tmp_path):
    """Found by the mutation test: a malformed composante postcode reached the Carif feed's
    action address and only DQ024 caught it; DQ015 now names it on the composante."""
    book = copy.deepcopy(GEN.DAY1_BOOK)
    h, comps = book["Composantes"]
    comps[3][6] = "ABCDE"  # NUM_1 composante 01
    findings, core = sigma_findings(tmp_path, book)
    assert len(parent_rows(findings, "DQ015", "Composantes", 5)) == 1
    keys = set(core.sessions.loc[core.sessions["action_key"] == "sigma:26P0005678_NUM_1:01", "session_key"])
    assert len(keys) == 3
    assert_blocked(
        findings,
        core,
        "DQ015",
        keys,
        "La composante 01 de l'action 26P0005678_NUM_1 est en erreur (DQ015, feuille Composantes ligne 5)",
    )


def _sam_day(tmp_path: Path, edit) -> tuple[pd.DataFrame, object]:
    for f in ("eos_sessions_20261119.csv", "eos_evenements_20261119.csv"):
        shutil.copy(SAMPLES / f, tmp_path / f)
    text = (SAMPLES / "sam_offre_20261119.xml").read_text(encoding="utf-8")
    (tmp_path / "sam_offre_20261119.xml").write_text(edit(text), encoding="utf-8")
    reads = [
        sam.read_offer(tmp_path / "sam_offre_20261119.xml"),
        eos.read_sessions(tmp_path / "eos_sessions_20261119.csv", DAY),
    ]
    return day_findings(reads)


def _eos_sessions_of(core, dossier: str, lot: str) -> set[str]:
    s = core.sessions
    return set(s.loc[s["formation_key"].str.startswith(f"sam:{dossier}:{lot}:"), "session_key"])


def test_dq000_on_a_sam_lot_reaches_the_eos_sessions_of_its_actions(tmp_path):
    findings, core = _sam_day(
        tmp_path, lambda t: t.replace('<lot numero="147" debut="2026-01-05"', '<lot numero="147" debut="2026-13-45"', 1)
    )
    assert (
        len(
            findings[
                (findings["rule"] == "DQ000")
                & (findings["line"] == 5)
                & findings["session_key"].isna()
                & (findings["file"] == "sam_offre_20261119.xml")
            ]
        )
        == 1
    )
    keys = _eos_sessions_of(core, "2026C007314701", "147")
    assert keys
    assert_blocked(
        findings,
        core,
        "DQ000",
        keys,
        "Le lot 147 du marché M2614701 est en erreur (DQ000, sam_offre_20261119.xml ligne 5)",
    )


def test_dq002_on_a_sam_marche_reaches_its_eos_sessions(tmp_path):
    findings, core = _sam_day(tmp_path, lambda t: t.replace('<marche numero="M2615202"', '<marche numero="M261520"', 1))
    keys = _eos_sessions_of(core, "2026C007315202", "152")
    assert keys
    rows = derived_rows(findings, "est en erreur (DQ002, sam_offre_20261119.xml ligne ")
    assert keys <= set(rows["session_key"])
    assert_blocked(findings, core, "DQ002", set(rows["session_key"]), "est en erreur (DQ002, sam_offre_")
    assert all(re.match(r"L'action \d+ \(dossier 2026C007315202, lot 152\) est en erreur", m) for m in rows["message"])


def test_warnings_on_a_parent_stay_one_row(tmp_path):
    findings, _ = sigma_findings(tmp_path, copy.deepcopy(GEN.DAY1_BOOK))
    derived = findings[findings["message"].str.contains("est en erreur (", regex=False)]
    assert (derived["severity"] == "error").all()
    dq019 = findings[findings["rule"] == "DQ019"]
    assert dq019["session_key"].isna().all()


def test_a_keyless_finding_on_a_session_row_is_no_parent_finding():
    """EOS actions are derived from their first session's row: a finding without a key on that
    row is the session row's, not the action's."""
    lineage = {"source": ["eos"], "source_file": ["e.csv"], "source_sheet": [""], "source_line": [2]}
    sessions = pd.DataFrame({"session_key": ["eos:1"], "action_key": ["eos:a"], "formation_key": ["sam:f"], **lineage})
    actions = pd.DataFrame(
        {"action_key": ["eos:a"], "formation_key": ["sam:f"], "composante_number": [None], **lineage}
    )
    formations = pd.DataFrame(
        {
            "formation_key": ["sam:f"],
            "action_number": ["1"],
            "dossier": ["D"],
            "lot": ["001"],
            "source": ["sam"],
            "source_file": ["s.xml"],
            "source_sheet": [""],
            "source_line": [7],
        }
    )
    assert list(parent_places(formations, actions, sessions)["kind"]) == ["formation"]
    findings = pd.DataFrame(
        {
            "rule": ["DQ000", "DQ002"],
            "severity": ["error", "error"],
            "source": ["eos", "sam"],
            "file": ["e.csv", "s.xml"],
            "sheet": ["", ""],
            "line": [2, 7],
            "session_key": [None, None],
            "field": ["x", "marche_numero"],
            "value": ["v", "R42"],
            "message": ["m", "m"],
        }
    )
    rows = session_findings(findings, formations, actions, sessions)
    assert list(rows["session_key"]) == ["eos:1"] and list(rows["rule"]) == ["DQ002"]
    assert rows["message"].iloc[0].startswith("L'action 1 (dossier D, lot 001) est en erreur (DQ002, s.xml ligne 7)")


@pytest.mark.parametrize("severity", ["warning", "info"])
def test_only_errors_reach_the_sessions(severity):
    sessions = pd.DataFrame(
        {
            "session_key": ["s:1"],
            "action_key": ["s:a"],
            "formation_key": ["s:f"],
            "source": ["sigma"],
            "source_file": ["w.xlsx"],
            "source_sheet": ["Sessions"],
            "source_line": [2],
        }
    )
    formations = pd.DataFrame(
        {
            "formation_key": ["s:f"],
            "action_number": ["F"],
            "dossier": [None],
            "lot": [None],
            "source": ["sigma"],
            "source_file": ["w.xlsx"],
            "source_sheet": ["Actions"],
            "source_line": [2],
        }
    )
    actions = pd.DataFrame(
        {
            c: pd.Series([], dtype="string")
            for c in ("action_key", "formation_key", "composante_number", "source_file", "source_sheet")
        }
    )
    actions["source_line"] = pd.Series([], dtype="Int32")
    findings = pd.DataFrame(
        {
            "rule": ["DQ025"],
            "severity": [severity],
            "source": ["sigma"],
            "file": ["w.xlsx"],
            "sheet": ["Actions"],
            "line": [2],
            "session_key": [None],
            "field": ["f"],
            "value": ["v"],
            "message": ["m"],
        }
    )
    assert len(session_findings(findings, formations, actions, sessions)) == 0
