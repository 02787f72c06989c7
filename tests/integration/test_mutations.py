"""Proof by mutation (issue 14): no value in an extract stops a run or withholds a feed.

Hypothesis takes the sample inbox of 2026-11-19 (``data/samples``, copied into a temporary
folder) and mutates one or several cells of every kind in every source, parent rows included:
SAM attributes and texts (``<marche>``, ``<titulaire>``, ``<lot>``, ``<action>`` and its
children) with lxml, SIGMA cells of the Actions, Composantes, Sessions and Informations
collectives sheets with openpyxl, EOS sessions and events CSV cells in Windows-1252. Values:
random and very long text, control characters, other scripts, numbers in text, text in numbers,
impossible or partial dates, malformed postcodes, SIRETs, marché numbers, phones, mails, empty
values. The daily job runs in process, and:

- it exits 0;
- every published XML feed is valid against our profile and the official LHEO 2.3 XSD;
- row conservation holds (per file and sheet: rows read = canonical records + quarantined rows;
  sessions read = published + quarantined + not publishable);
- the only sessions that leave the feeds (against the run on the unmutated inbox) are the
  mutated ones and those under a mutated parent (a SAM marché, titulaire, lot or action, a SIGMA
  action or composante);
- no DQ024 fires for a value that an earlier rule already names on the same session.

``make test`` runs :data:`DEFAULT_EXAMPLES` examples; ``make fuzz`` many more
(``PASSERELLE_FUZZ_EXAMPLES``, default 500). Headers are not mutated: a missing column is a
whole-file contract failure (DQ000), tested elsewhere.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from lxml import etree
from openpyxl import load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from passerelle.feeds.conformance import SCHEMAS, official_lheo_xsd
from passerelle.feeds.validate import validate_file
from tests.integration.runs import DAY1, SAMPLES, run_in_process

DEFAULT_EXAMPLES = 8
EXAMPLES = int(os.environ.get("PASSERELLE_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))
D = DAY1.isoformat()
FILES = (
    "sam_offre_20261119.xml",
    "eos_sessions_20261119.csv",
    "eos_evenements_20261119.csv",
    "sigma_actions_20261119.xlsx",
)
SAM, EOS_S, EOS_E, SIGMA = FILES
XML_FEEDS = {
    f"carif/lheo-{D}.xml": "lheo-carif-profile.xsd",
    f"carif/lheo-delta-{D}.xml": "lheo-carif-profile.xsd",
    f"pole-emploi/offres-{D}.xml": "lheo-pole-emploi-profile.xsd",
}
LEAVE_FEEDS = (f"carif/lheo-{D}.xml", f"pole-emploi/offres-{D}.xml")

# --- values ---------------------------------------------------------------------------------------

SCRIPTS = ["Привет мир", "مرحبا", "漢字テスト", "שלום", "😀🎓", "Ελληνικά", "ﬁ", "e\u0301", "\u202eRTL", "Z̤̈"]
CONTROLS = [
    "\x00",
    "\x01",
    "\x07",
    "\x08",
    "\x0b",
    "\x0c",
    "\x1b",
    "\x1f",
    "\x7f",
    "\x85",
    "\t",
    "\r\n",
    "\n",
    "\u2028",
    "\ufeff",
    "\ufffe",
]
value_kinds = {
    "text": st.text(max_size=40),
    "long": st.tuples(st.sampled_from(["x", "é", "Lorem ipsum ", "漢", "<&>\"'"]), st.integers(200, 40_000)).map(
        lambda t: t[0] * (t[1] // len(t[0]))
    ),
    "control": st.lists(st.one_of(st.sampled_from(CONTROLS), st.text(max_size=3)), min_size=1, max_size=4).map("".join),
    "script": st.sampled_from(SCRIPTS),
    "number_in_text": st.one_of(
        st.integers(-(10**12), 10**12).map(str), st.sampled_from(["3,14", "1e309", "-0", "NaN", "0x1F"])
    ),
    "text_in_number": st.sampled_from(["douze", "N/A", "12 places", "1 2", "∞", "--", "vingt-deux", "10h"]),
    "date": st.sampled_from(
        [
            "31/02/2027",
            "29/02/2027",
            "00/00/0000",
            "32/01/2027",
            "2027-13-01",
            "12/2027",
            "2027",
            "01/01/1900",
            "31/12/9999",
            "1/1/1",
            "demain",
            "2027-02-30",
            "15/06/27",
            "0001-01-01",
            "9999-12-31",
        ]
    ),
    "postcode": st.sampled_from(["3450", "750011", "ABCDE", "00000", "99999", "2A004", "97 400", "-1000", "7500"]),
    "siret": st.sampled_from(
        [
            "1234567890123",
            "12345678901234",
            "abcdefghijklmn",
            "35600000000048",
            "00000000000000",
            "312456783000170",
            "3124567830001 7",
        ]
    ),
    "marche": st.sampled_from(
        ["R4218", "M145140", "23X00003", "m1451401", "M14514011", "26P000123", "MX451401", "M1451401 ", " "]
    ),
    "phone": st.sampled_from(["05 61 23 45", "+33 6", "0000000000", "téléphone", "06-12-34-56-78-90", "+596"]),
    "mail": st.sampled_from(["a@", "@b.fr", "a b@c.fr", "x@y", "contact", "a@b@c.fr", "é@é.fr"]),
    "empty": st.sampled_from(["", " ", None]),
}
any_value = st.sampled_from(sorted(value_kinds)).flatmap(lambda k: value_kinds[k].map(lambda v: (k, v)))

XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


@dataclass
class Mutation:
    file: str
    where: int  # SAM: element index; CSV: data row index; workbook: (sheet, row) picked from this
    column: int
    kind: str
    value: object
    sheet: int = 0

    def __repr__(self) -> str:
        v = (
            self.value
            if not isinstance(self.value, str) or len(self.value) < 60
            else f"{self.value[:30]!r}…({len(self.value)} chars)"
        )
        return f"Mutation({self.file}, sheet={self.sheet}, where={self.where}, col={self.column}, {self.kind}, {v!r})"


mutation = st.builds(
    Mutation,
    file=st.sampled_from(FILES),
    where=st.integers(0, 10_000),
    column=st.integers(0, 10_000),
    kind=st.just(""),
    value=st.none(),
    sheet=st.integers(0, 3),
).flatmap(lambda m: any_value.map(lambda kv: Mutation(m.file, m.where, m.column, kv[0], kv[1], m.sheet)))


# --- applying mutations, and what each one may take out of the feeds -----------------------------


def _sam_key(action) -> str | None:
    lot = action.getparent()
    marche = lot.getparent() if lot is not None else None
    if marche is None:
        return None
    try:
        return f"sam:{marche.get('dossier')}:{str(int(lot.get('numero'))).zfill(3)}:{str(int(action.get('numero')))}"
    except (TypeError, ValueError):
        return None


def mutate_sam(path: Path, muts: list[Mutation], base: Baseline) -> set[str]:
    tree = etree.parse(str(path))
    elements = [el for el in tree.iter() if isinstance(el.tag, str)]
    keys: set[str] = set()
    for m in muts:
        el = elements[m.where % len(elements)]
        value = "" if m.value is None else XML_ILLEGAL.sub("", str(m.value))
        attrs = sorted(el.attrib)
        if attrs and (m.column % 3 or len(el) > 0):
            el.set(attrs[m.column % len(attrs)], value)
        elif len(el) == 0:
            el.text = value
        else:
            el.set(attrs[m.column % len(attrs)] if attrs else "numero", value)
        # the actions at or under the element, or above it (an action's children)
        # the actions at or under the element, else those of its nearest ancestor holding any
        # (an action's children, a lot's <intitule>, the marché's <titulaire>, the root)
        actions = list(el.iter("action")) or list(el.iterancestors("action"))
        for anc in el.iterancestors():
            if actions:
                break
            actions = list(anc.iter("action"))
        keys |= {base.sam_keys.get(a.sourceline) or "" for a in actions}
    tree.write(str(path), xml_declaration=True, encoding=tree.docinfo.encoding or "UTF-8")
    return base.sessions_of("formation_key", keys)


def mutate_csv(path: Path, muts: list[Mutation], base: Baseline) -> set[str]:
    text = path.read_bytes().decode("cp1252")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    rows, starts, last = [], [], 0
    for row in reader:  # the physical line where each record starts (a quoted cell may hold line breaks)
        rows.append(row)
        starts.append(last + 1)
        last = reader.line_num
    header, data = rows[0], rows[1:]
    lines: set[int] = set()
    for m in muts:
        if not data:
            break
        r = m.where % len(data)
        data[r][m.column % len(header)] = "" if m.value is None else str(m.value)
        lines.add(starts[r + 1])
    buf = io.StringIO(newline="")
    csv.writer(buf, delimiter=";", lineterminator="\r\n").writerows([header, *data])
    path.write_bytes(buf.getvalue().encode("cp1252", errors="replace"))
    if path.name == EOS_E:
        return base.events_at(path.name, "", lines)
    return base.sessions_at(path.name, "", lines)


SIGMA_SHEETS = ("Actions", "Composantes", "Sessions", "Informations collectives")


def _cell(m: Mutation) -> object:
    if m.value is None:
        return None
    value = XML_ILLEGAL.sub("", ILLEGAL_CHARACTERS_RE.sub("", str(m.value)))[:32_000]  # a workbook is XML too
    if m.kind in ("number_in_text",) and re.fullmatch(r"-?\d{1,12}", value):
        return int(value)  # a number cell where text is expected
    if m.kind == "date" and m.column % 2:
        try:
            return datetime.strptime(value, "%d/%m/%Y")  # a real date cell (possibly far away)
        except ValueError:
            return value
    return value


def mutate_sigma(path: Path, muts: list[Mutation], base: Baseline) -> set[str]:
    wb = load_workbook(path)
    out: set[str] = set()
    for m in muts:
        sheet = SIGMA_SHEETS[m.sheet % len(SIGMA_SHEETS)]
        ws = wb[sheet]
        if ws.max_row < 2:
            continue
        row = 2 + m.where % (ws.max_row - 1)
        col = 1 + m.column % ws.max_column
        ws.cell(row=row, column=col).value = _cell(m)
        if sheet == "Actions":
            out |= base.under("formations", path.name, sheet, row, "formation_key")
        elif sheet == "Composantes":
            out |= base.under("actions", path.name, sheet, row, "action_key")
        elif sheet == "Sessions":
            out |= base.sessions_at(path.name, sheet, {row})
        else:
            out |= base.events_at(path.name, sheet, {row})
    wb.save(path)
    return out


MUTATORS = {SAM: mutate_sam, EOS_S: mutate_csv, EOS_E: mutate_csv, SIGMA: mutate_sigma}


class Baseline:
    """The run on the unmutated inbox: its feeds and canonical tables."""

    def __init__(self, day: Path):
        canon = day / "canonical"
        self.sessions = pd.read_parquet(canon / "core_sessions.parquet")
        self.formations = pd.read_parquet(canon / "core_formations.parquet")
        self.actions = pd.read_parquet(canon / "core_actions.parquet")
        self.events = pd.read_parquet(canon / "core_events.parquet")
        self.feeds = {rel: feed_sessions(day / rel) for rel in LEAVE_FEEDS}
        tree = etree.parse(str(SAMPLES / SAM))
        self.sam_keys = {a.sourceline: _sam_key(a) for a in tree.iter("action")}

    def sessions_of(self, column: str, keys: set[str]) -> set[str]:
        return set(self.sessions.loc[self.sessions[column].isin(keys), "session_key"])

    def _at(self, df: pd.DataFrame, file: str, sheet: str, lines: set[int]) -> pd.DataFrame:
        return df[(df["source_file"] == file) & (df["source_sheet"] == sheet) & df["source_line"].isin(lines)]

    def sessions_at(self, file: str, sheet: str, lines: set[int]) -> set[str]:
        return set(self._at(self.sessions, file, sheet, lines)["session_key"])

    def events_at(self, file: str, sheet: str, lines: set[int]) -> set[str]:
        return set(self._at(self.events, file, sheet, lines)["session_key"])

    def under(self, table: str, file: str, sheet: str, line: int, column: str) -> set[str]:
        keys = set(self._at(getattr(self, table), file, sheet, {line})[column])
        return self.sessions_of(column, keys)


def feed_sessions(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    return set(re.findall(r'<session numero="([^"]+)"', path.read_text(encoding="utf-8")))


def fresh_inbox(folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for name in FILES:
        shutil.copy(SAMPLES / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("mutations")
    assert run_in_process(fresh_inbox(root / "inbox"), root / "base", DAY1) == 0
    return root, Baseline(root / "base" / D)


# --- the checks -----------------------------------------------------------------------------------


def check_feeds_valid(day: Path) -> None:
    official = official_lheo_xsd()
    for rel, profile in XML_FEEDS.items():
        if not (day / rel).is_file():
            continue
        assert not validate_file(day / rel, SCHEMAS / profile), f"{rel} invalid against {profile}"
        if official:
            assert not validate_file(day / rel, official), f"{rel} invalid against the official LHEO XSD"


def check_conservation(day: Path) -> None:
    manifest = json.loads((day / "manifest.json").read_text(encoding="utf-8"))
    s = manifest["sessions"]
    assert s["read"] == s["published"] + s["quarantined"] + s["not_publishable"], s
    canon = day / "canonical"
    tables = {
        n: pd.read_parquet(canon / f"core_{n}.parquet")
        for n in ("formations", "actions", "sessions", "events", "quarantine")
    }
    tables["actions"] = tables["actions"][tables["actions"]["source"] != "eos"]
    for i in manifest["inputs"]:
        n = sum(int((t["source_file"] == i["file"]).sum()) for t in tables.values())
        assert n == i["rows"], f"{i['file']}: {i['rows']} rows read, {n} records + quarantined"


def check_no_dq024_for_named_values(day: Path) -> None:
    issues = pd.read_csv(day / "quality" / "issues.csv", dtype=str, keep_default_na=False)
    dq024 = issues[issues["rule"] == "DQ024"]
    others = issues[issues["rule"] != "DQ024"]
    for r in dq024.itertuples():  # on the session itself or on a record above it (a parent's finding)
        named = others[
            ((others["session_key"] == r.session_key) | (others["session_key"] == ""))
            & (others["value"] == r.value)
            & (r.value != "")
        ]
        assert named.empty, f"DQ024 on {r.session_key} for « {r.value} », already named by {set(named['rule'])}"


def run_mutated(work, muts: list[Mutation]) -> tuple[Path, set[str]]:
    root, base = work
    inbox = fresh_inbox(root / "inbox-m")
    out = root / "out-m"
    if out.exists():
        shutil.rmtree(out)
    allowed: set[str] = set()
    for name in FILES:
        mine = [m for m in muts if m.file == name]
        if mine:
            allowed |= MUTATORS[name](inbox / name, mine, base)
    assert run_in_process(inbox, out, DAY1) == 0, f"run failed for {muts}"
    return out / D, allowed


def check_run(work, muts: list[Mutation]) -> Path:
    day, allowed = run_mutated(work, muts)
    _, base = work
    check_feeds_valid(day)
    check_conservation(day)
    for rel in LEAVE_FEEDS:
        left = base.feeds[rel] - feed_sessions(day / rel)
        assert left <= allowed, f"{rel}: sessions left the feed without a mutation of theirs: {sorted(left - allowed)}"
    check_no_dq024_for_named_values(day)
    return day


def fuzz_settings():
    shrink = not os.environ.get("NO_SHRINK")
    return settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not os.environ.get("PASSERELLE_FUZZ_RANDOM"),
        database=None,
        print_blob=True,
        phases=[Phase.explicit, Phase.generate, *([Phase.shrink] if shrink else [])],
        suppress_health_check=list(HealthCheck),
    )


@fuzz_settings()
@given(muts=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_inbox_publishes_everything_else(work, muts):
    """``PASSERELLE_FUZZ_LOG=<file>``: one line per example (ok / FAIL, the mutations, the
    failure); with ``PASSERELLE_FUZZ_COLLECT=1`` a failure is only logged, so that a long
    campaign lists every failure instead of stopping (and shrinking) at the first one."""
    log = os.environ.get("PASSERELLE_FUZZ_LOG")
    try:
        day = check_run(work, muts)
    except AssertionError as exc:
        if log:
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(f"FAIL {muts!r}\n     {' '.join(str(exc).split())[:1500]}\n")
        if not os.environ.get("PASSERELLE_FUZZ_COLLECT"):
            raise
    else:
        if log:  # a DQ024 that fires means no earlier rule caught the value: worth a look
            issues = pd.read_csv(day / "quality" / "issues.csv", dtype=str, keep_default_na=False)
            dq024 = issues[issues["rule"] == "DQ024"]
            seen = sorted({f"{r.field}={r.value[:40]!r}" for r in dq024.itertuples()})
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(f"ok   {muts!r}" + (f"\n     DQ024: {'; '.join(seen)}" if seen else "") + "\n")


# --- cases the fuzzing found or the issue names, kept as regressions ------------------------------


@pytest.mark.parametrize(
    "muts",
    [
        [Mutation(SIGMA, 0, 0, "marche", "23X00003", sheet=0)],  # the issue's case, on the first Actions row
        [Mutation(SAM, 1, 0, "marche", "R4218")],  # the first <marche>'s numero
        # a composante's postcode reached the Carif feed: only DQ024 caught it (now DQ015 on the composante)
        [Mutation(SIGMA, 0, 6, "postcode", "ABCDE", sheet=1)],
        # an event's street of 2,274 characters: the Carif feeds' event place (255 at most) is now cut
        [Mutation(EOS_E, 1890, 556, "long", "x" * 2274)],
        # negative hours on the first session of an EOS action reached its nombre-heures-entreprise:
        # DQ024 took out the other sessions of the action; now a DQ000 on that session alone
        [Mutation(EOS_S, 10000, 419, "number_in_text", "-1238")],
        # negative SIGMA places failed the blocking contract check of core_sessions: the run exited 1
        [Mutation(SIGMA, 1, 6, "number_in_text", "-3", sheet=2)],
    ],
)
def test_known_cases(work, muts):
    day = check_run(work, muts)
    issues = pd.read_csv(day / "quality" / "issues.csv", dtype=str, keep_default_na=False)
    assert not (issues["rule"] == "DQ024").any(), "an earlier rule (or the writer) must handle these values"
