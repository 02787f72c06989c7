"""End to end: a hostile or broken file in the inbox never stops the run, never loses what was
published, never leaks a file's content, never reaches the network, and the outputs stay safe.

Each hostile case runs ``passerelle run`` for day 2 (2026-11-20) on the demo inbox of
``data/samples`` with ONE day-2 file replaced by a bad one (named ``<source>_<kind>_20261120.<ext>``
so that it is the one picked), on top of a day-1 publication of the good samples (shared by the
module). Then:

- the run completes (exit 0) and ``quality/issues.csv`` holds the expected finding (the ones of
  ``tests/data/bad/expected.json`` for that file);
- nothing published on day 1 is lost from the day-2 Carif feed (the broken source's sessions
  keep their last good version), and a session new on day 2 from an intact source is there;
- for the XML attacks: a secret file outside the inbox (a named pipe that records any opening)
  is never opened and its content never appears in any output; no connection reaches a TCP
  trap on 127.0.0.1 and no Python socket connects (socket guard).

Output safety (one day-1 run each): formulas in the Mission Locale CSV, markup in the report and
the LHEO feed, symlinks and odd names in the inbox, writes outside ``--out``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest
from lxml import etree

from passerelle.cli import main
from tests.unit.test_bad_inputs import make_bad, no_network, secret, trap  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"
BAD = ROOT / "tests" / "data" / "bad"
EXPECTED = json.loads((BAD / "expected.json").read_text(encoding="utf-8"))
DAY1, DAY2 = date(2026, 11, 19), date(2026, 11, 20)
LHEO_NS = {"l": "http://lheo.gouv.fr/2.3"}
NEW_SIGMA_DAY2 = "sigma:26P0005678_NUM_1:01:04"  # new session of the day-2 SIGMA sample
NEW_EOS_DAY2 = "eos:184240"  # new session of the day-2 EOS sample
PASSWD_MARK = b"root:x:0:0"


def _run(inbox: Path, out: Path, day: date) -> int:
    return main(["run", "--inbox", str(inbox), "--out", str(out), "--date", day.isoformat(), "--quiet"])


def _copy_samples(inbox: Path, days: tuple[str, ...]) -> None:
    inbox.mkdir(parents=True, exist_ok=True)
    for p in sorted(SAMPLES.iterdir()):
        if p.suffix in (".csv", ".xml", ".xlsx") and any(d in p.name for d in days):
            shutil.copy(p, inbox / p.name)


@pytest.fixture(scope="module")
def day1(tmp_path_factory):
    """Day 1 published from the good samples (output folder with its SQLite store)."""
    base = tmp_path_factory.mktemp("day1")
    _copy_samples(base / "inbox", ("20261119",))
    assert _run(base / "inbox", base / "out", DAY1) == 0
    return base / "out"


def run_day2(day1: Path, tmp_path: Path, name: str, data: bytes) -> Path:
    """Day 2 on the samples with ``name`` (a day-2 extract name) holding ``data``."""
    inbox = tmp_path / "inbox"
    _copy_samples(inbox, ("20261119", "20261120"))
    (inbox / name).write_bytes(data)
    out = tmp_path / "out"
    shutil.copytree(day1, out)
    assert _run(inbox, out, DAY2) == 0, "a bad file must not stop the run"
    return out


def issues(out: Path, day: date) -> list[dict]:
    text = (out / day.isoformat() / "quality" / "issues.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def carif_keys(out: Path, day: date) -> set[str]:
    doc = etree.parse(str(out / day.isoformat() / "carif" / f"lheo-{day.isoformat()}.xml"))
    return {s.get("numero") for s in doc.iterfind(".//l:session", LHEO_NS)}


def assert_finding(rows: list[dict], file: str, want: dict) -> None:
    sheet, field = want.get("sheet") or "", want.get("field") or ""
    shown = f"{sheet} › {field}" if sheet and field else (sheet or field)
    line = "" if want.get("line") is None else str(want["line"])
    hits = [
        r
        for r in rows
        if r["rule"] == want["rule"]
        and r["severity"] == want["severity"]
        and r["file"] == file
        and r["line"] == line
        and r["field"] == shown
        and want["message"] in r["message"]
    ]
    assert hits, f"{want} not in issues.csv for {file}: " + "; ".join(
        f"{r['line']}|{r['field']}|{r['message'][:80]}" for r in rows if r["file"] == file
    )


def assert_nothing_lost(day1: Path, out: Path) -> set[str]:
    before, after = carif_keys(day1, DAY1), carif_keys(out, DAY2)
    assert before and before <= after, f"lost from the catalogue: {sorted(before - after)}"
    return after


def output_bytes(out: Path):
    for p in sorted(out.rglob("*")):
        if p.is_file() and not p.is_symlink():
            yield p, p.read_bytes()


def assert_no_leak(out: Path, *markers: bytes) -> None:
    for p, data in output_bytes(out):
        for m in markers:
            assert m not in data, f"{m!r} leaked into {p.relative_to(out)}"


# --- a broken file: the rest of the inbox is still published -----------------------------------

FAULTS = [
    # corpus file, day-2 name, the intact source whose new day-2 session must be published
    ("eos_sessions__missing_essential_column.csv", "eos_sessions_20261120.csv", NEW_SIGMA_DAY2),
    ("eos_sessions__mixed_encodings.csv", "eos_sessions_20261120.csv", NEW_SIGMA_DAY2),
    ("sigma_actions__truncated.xlsx", "sigma_actions_20261120.xlsx", NEW_EOS_DAY2),
    ("sigma_actions__missing_sheet.xlsx", "sigma_actions_20261120.xlsx", NEW_EOS_DAY2),
]


@pytest.mark.parametrize(("bad", "name", "fresh"), FAULTS, ids=[f[0] for f in FAULTS])
def test_a_broken_file_leaves_the_rest_published(day1, tmp_path, bad, name, fresh, no_network):
    out = run_day2(day1, tmp_path, name, (BAD / bad).read_bytes())
    rows = issues(out, DAY2)
    for want in EXPECTED[bad]["findings"]:
        assert_finding(rows, name, want)
    keys = assert_nothing_lost(day1, out)
    assert fresh in keys, f"the intact source's new session {fresh} is not published"
    manifest = json.loads((out / DAY2.isoformat() / "manifest.json").read_text(encoding="utf-8"))
    s = manifest["sessions"]
    assert s["read"] == s["published"] + s["quarantined"] + s["not_publishable"]
    assert name in {i["file"] for i in manifest["inputs"]}
    if bad == "eos_sessions__mixed_encodings.csv":  # read, and published with its accents intact
        feed = (out / DAY2.isoformat() / "carif" / f"lheo-{DAY2.isoformat()}.xml").read_text(encoding="utf-8")
        assert "ÉCOLE DES MÉTIERS DE LA MONTAGNE" in feed and "Ã" not in feed


# --- XML attacks: refused, no file read, no network, the other sources published ---------------


def attack_bytes(case: str, secret_uri: str, port: int) -> tuple[str, bytes]:
    mb = make_bad()
    if case.startswith("sigma"):
        good = (SAMPLES / "sigma_actions_20261120.xlsx").read_bytes()
        return "sigma_actions_20261120.xlsx", mb._xlsx_with_doctype(good, "xxe", secret_uri=secret_uri)
    if case == "sam_offre__deep_nesting.xml":
        return "sam_offre_20261120.xml", (BAD / case).read_bytes()
    return "sam_offre_20261120.xml", mb.sam_attacks(secret_uri=secret_uri, port=port)[case].encode("utf-8")


ATTACKS = [
    "sam_offre__billion_laughs.xml",
    "sam_offre__xxe_file.xml",
    "sam_offre__parameter_entity.xml",  # external DTD over the network + local file entity
    "sam_offre__deep_nesting.xml",
    "sam_offre__schema_location.xml",
    "sam_offre__xinclude.xml",
    "sigma_actions__xxe.xlsx",
]


@pytest.mark.parametrize("case", ATTACKS)
def test_xml_attack_is_refused_without_reading_files_or_the_network(day1, tmp_path, case, secret, trap, no_network):
    name, data = attack_bytes(case, secret.uri, trap.port)
    out = run_day2(day1, tmp_path, name, data)
    time.sleep(0.05)  # let the watchers see a late attempt
    assert not secret.opened, "the secret file outside the inbox was opened"
    assert not trap.connections, "a connection reached the network trap"
    assert_no_leak(out, secret.marker.encode(), PASSWD_MARK, b"lollollol")

    rows = issues(out, DAY2)
    for want in EXPECTED[case]["findings"]:
        if case.startswith("sam") and want.get("value"):
            want = {k: v for k, v in want.items() if k != "value"}  # the trap port differs
        assert_finding(rows, name, want)
    keys = assert_nothing_lost(day1, out)
    if case.startswith("sam"):
        assert NEW_SIGMA_DAY2 in keys
    else:
        assert NEW_EOS_DAY2 in keys


# --- output safety -----------------------------------------------------------------------------

FORMULA_START = tuple("=+-@\t\r\n")


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """Day 1 with the EOS sessions of ``eos_sessions__hostile_text.csv`` (formulas, markup)."""
    base = tmp_path_factory.mktemp("hostile")
    inbox = base / "inbox"
    _copy_samples(inbox, ("20261119",))
    shutil.copy(BAD / "eos_sessions__hostile_text.csv", inbox / "eos_sessions_20261119.csv")
    assert _run(inbox, base / "out", DAY1) == 0
    return base / "out" / DAY1.isoformat()


def test_no_formula_can_run_from_the_mission_locale_csv(hostile):
    with open(hostile / "mission-locale" / f"sessions-{DAY1.isoformat()}.csv", encoding="utf-8-sig", newline="") as fh:
        table = list(csv.reader(fh, delimiter=";"))
    header, rows = table[0], table[1:]
    assert rows and all(len(r) == len(header) for r in rows)
    for r in rows:
        for v in r:
            assert not v.startswith(FORMULA_START), f"live formula in the Mission Locale CSV: {v!r}"
    by_key = {r[0]: dict(zip(header, r)) for r in rows}
    # the hostile values are there, neutralised (a leading quote), not dropped
    assert by_key["eos:184201"]["intitule"] == '\'=HYPERLINK("http://example.invalid/x","clic")'
    assert by_key["eos:184201"]["contact_nom"] == "'=cmd|' /C calc'!A0"
    assert by_key["eos:184203"]["intitule"] == "'+cmd|' /C notepad'!A0"
    assert by_key["eos:184204"]["intitule"] == "'-1+1"
    assert by_key["eos:184204"]["contact_nom"] == "'@SUM(A1:A9)"


def test_no_source_text_injects_markup_into_the_report(hostile):
    page = (hostile / "quality" / "report.html").read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(page)
    assert parser.tags.count("script") == 1, "only the report's own script"
    assert "img" not in parser.tags
    assert page.lower().count("<script") == 1
    # the hostile names are shown, escaped
    assert "&lt;script&gt;alert(&#x27;xss&#x27;)&lt;/script&gt; FORMATION" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt; ÉCOLE" in page
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in page
    # no other HTML page of the day (GX data docs) carries the injected markup raw
    for p in hostile.rglob("*.html"):
        text = p.read_text(encoding="utf-8", errors="replace")
        assert "<script>alert(" not in text and "<img src=x" not in text, p


def test_hostile_text_is_escaped_not_executed_in_the_lheo_feed(hostile):
    doc = etree.parse(str(hostile / "carif" / f"lheo-{DAY1.isoformat()}.xml"))
    texts = {t.strip() for t in doc.getroot().itertext()}
    assert '"><img src=x onerror=alert(1)> ÉCOLE' in texts
    assert not any(el.tag in ("script", "img") for el in doc.iter() if isinstance(el.tag, str))


def _tree_state(root: Path, skip: Path) -> dict[str, tuple]:
    state = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        d = Path(dirpath)
        if d == skip or skip in d.parents:
            dirnames[:] = []
            continue
        for n in filenames + dirnames:
            p = d / n
            if p == skip:
                continue
            st = p.lstat()
            state[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return state


def test_inbox_paths_cannot_read_outside_the_inbox_nor_write_outside_out(tmp_path, monkeypatch, no_network):
    marker = f"PASSERELLE-OUTSIDE-{time.time_ns()}"
    outside = tmp_path / "outside"
    outside.mkdir()
    # valid EOS events whose description carries the marker: if followed, it would be published
    events = (
        (SAMPLES / "eos_evenements_20261119.csv")
        .read_bytes()
        .replace("Entretiens individuels".encode("cp1252"), marker.encode("cp1252"))
    )
    assert marker.encode() in events
    (outside / "events.csv").write_bytes(events)
    inbox = tmp_path / "inbox"
    _copy_samples(inbox, ("20261119",))
    (inbox / "eos_evenements_20261119.csv").unlink()
    (inbox / "eos_evenements_20261119.csv").symlink_to(outside / "events.csv")  # symlink out of the inbox
    (inbox / "eos_evenements_20261117.csv").symlink_to("/etc/passwd")  # older: next candidate if followed
    (inbox / "..eos_evenements_20261119.csv").write_bytes(events)  # names with ".."
    (inbox / "eos_evenements_20261119.csv..").write_bytes(events)
    (inbox / "eos_evenements_20261119.bak").write_bytes(events)  # right name, wrong extension
    (inbox / "sub").mkdir()
    (inbox / "sub" / "eos_evenements_20261119.csv").write_bytes(events)  # no recursion
    (inbox / "eos_evenements_20261118.csv").mkdir()  # a folder with an extract's name
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    out = tmp_path / "out"
    before = _tree_state(tmp_path, out)

    assert _run(inbox, out, DAY1) == 0

    assert _tree_state(tmp_path, out) == before, "the run wrote outside --out (or changed the inbox)"
    day = out / DAY1.isoformat()
    assert_no_leak(out, marker.encode(), PASSWD_MARK)
    rows = issues(out, DAY1)
    assert any(
        r["rule"] == "DQ000" and r["severity"] == "error" and "eos_evenements_AAAAMMJJ" in r["message"] for r in rows
    ), "the missing (refused) events extract is reported"
    manifest = json.loads((day / "manifest.json").read_text(encoding="utf-8"))
    read = {i["file"] for i in manifest["inputs"]}
    assert read == {
        "sam_offre_20261119.xml",
        "eos_sessions_20261119.csv",
        "sigma_actions_20261119.xlsx",
        "lheo_intercarif_20261119.xml",
    }
    assert carif_keys(out, DAY1), "the other extracts are still published"
