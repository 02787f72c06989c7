"""Property-based tests (hypothesis): arbitrary input never crashes a reader, the rules or the
publication, and every input row is accounted for.

- EOS sessions / events: arbitrary rows (``;``, quotes, line breaks, control characters,
  characters outside Windows-1252 written as UTF-8, random dates and numbers) written as a
  well-formed CSV: ``rows_read`` is the number of non-blank records, each kept or quarantined
  record carries the physical line where its record starts, and nothing is lost. Arbitrary
  text files (malformed quoting, random bytes): the reader never raises and still balances.
- SIGMA: workbooks built with openpyxl from arbitrary cells: per-sheet conservation.
- Rules: ``run_checks`` on arbitrary canonical frames never raises, is deterministic, and its
  findings name rules of the registry with their severity and reference existing keys.
- Classification: every session gets exactly one of published / quarantined / not publishable,
  and the counts of the manifest add up.
- The whole day without Dagster (read -> canonical -> rules -> publication -> feeds, report):
  arbitrary free text in otherwise valid EOS rows: read = published + quarantined + not
  publishable, the Carif feed stays valid, the Mission Locale CSV holds no live formula, the
  report no injected markup.

Deterministic (``derandomize=True``) and small (``max_examples``) so CI is stable and quick.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from datetime import date, datetime, timedelta
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from passerelle import model
from passerelle.canonical import build_core
from passerelle.daily import DayContext, check_day, prepare_publication
from passerelle.publishable import classify, select
from passerelle.rules.checks import CheckContext, run_checks
from passerelle.rules.registry import BY_ID
from passerelle.sources import eos, sam, sigma
from tests.unit.test_bad_inputs import assert_sound, is_french

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"
RUN_DATE = date(2026, 11, 19)


def props(n: int):
    """Small, deterministic runs. ``NO_SHRINK=1`` skips shrinking when debugging a failure (shrinking
    the wide generated rows may take minutes; the unshrunk example is printed at once)."""
    if os.environ.get("NO_SHRINK"):
        return settings(
            max_examples=n,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# --- text strategies --------------------------------------------------------------------------

SPECIALS = [
    ";",
    '"',
    '""',
    "\r\n",
    "\n",
    "\r",
    "\x00",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x85",
    "\u2028",
    "\ufeff",
    "\t",
    " ",
    "  ",
    "é",
    "É",
    "€",
    "Œ",
    "’",
    "«",
    "»",
    "ß",
    "😀",
    "漢",
    "=",
    "+",
    "-",
    "@",
    "<script>",
    "</pre>",
    "&amp;",
    "'",
    "Ã©",
    "\u00a0",
    "\\",
]
piece = st.one_of(st.sampled_from(SPECIALS), st.text(max_size=6))
any_text = st.lists(piece, max_size=5).map("".join)
short_dates = st.dates(date(1995, 1, 1), date(2060, 12, 31))
date_text = st.one_of(
    short_dates.map(lambda d: d.strftime("%d/%m/%y")),
    short_dates.map(lambda d: d.strftime("%d/%m/%Y")),
    st.sampled_from(["31/02/27", "00/00/00", "1/1/1", "2027-01-05", "29/02/2027", "29/02/28", "", " "]),
    any_text,
)
number_text = st.one_of(
    st.integers(-5, 100_000).map(str),
    st.decimals(-10, 10_000, places=2, allow_nan=False, allow_infinity=False).map(lambda d: str(d).replace(".", ",")),
    st.sampled_from(["1 200", "3\u00a0640,00", "12 h", "-0", "1e5", "", "99999999999", "12,", ",5", "+3"]),
    any_text,
)
ident_text = st.one_of(st.integers(0, 12).map(str), st.sampled_from(["", " 7 ", "007", "18A2", "-3", "1.0"]), any_text)

SESSION_ENUMS = {
    "Type entrée": ["Entrées/Sorties fixes", "Entrées/Sorties permanentes", "fixes", ""],
    "Etat session": ["A finaliser", "Transmise", "Validée OF", "Validée", "validée  of", ""],
    "Session annulée": ["Oui", "", "Non", "oui"],
    "Etat recrutement": ["Ouvert", "Suspendu", "Fermé", "FERMÉ", ""],
    "Action": ["1 - Agent thermal", "2 - Brevet", "x - y", "", "12"],
    "Lot": ["147", "5", "005", "", "abc"],
    "Dossier": ["2026C007314701", "", "X"],
}
EVENT_ENUMS = {"Type": ["Information Collective", "Test", "Bilan", "Entretien", "Visio", ""]}
DATE_COLUMNS = {*eos._SHORT_DATE_COLUMNS, *eos._LONG_DATE_COLUMNS, "Date de début", "Date de fin"}
NUMBER_COLUMNS = {*eos._INT_COLUMNS, *eos._DECIMAL_COLUMNS}
HOUR_COLUMNS = {"Heure de début", "Heure de fin"}
hour_text = st.one_of(
    st.sampled_from(["09:00", "9h30", "14.00", "10 : 00", "25:00", "midi", "", "23:59", "9h"]), any_text
)


def cell_strategy(col: str, enums: dict[str, list[str]]):
    if col == "Identifiant EOS":
        return ident_text
    if col in enums:
        return st.one_of(st.sampled_from(enums[col]), any_text)
    if col in DATE_COLUMNS:
        return date_text
    if col in NUMBER_COLUMNS:
        return number_text
    if col in HOUR_COLUMNS:
        return hour_text
    return any_text


def rows_strategy(columns: list[str], enums: dict[str, list[str]], max_rows: int = 6):
    row = st.fixed_dictionaries({c: cell_strategy(c, enums) for c in columns})
    return st.lists(row, max_size=max_rows)


def encode(text: str, utf8: bool) -> bytes:
    if not utf8:
        try:
            return text.encode("cp1252")
        except UnicodeEncodeError:
            pass
    return text.encode("utf-8")


def csv_file(header: list[str], rows: list[list[str]], trailing: bool) -> str:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, delimiter=";", quotechar='"', quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    w.writerow(header + ([""] * 2 if trailing else []))
    w.writerows(rows)
    return buf.getvalue()


_BREAK = re.compile(r"\r\n|\r|\n")


def expected_records(rows: list[list[str]]) -> list[int]:
    """The physical line where each non-blank record starts (header = line 1)."""
    out, line = [], 2
    for r in rows:
        if any(r):
            out.append(line)
        line += 1 + sum(len(_BREAK.findall(c)) for c in r)
    return out


def check_eos_read(read, name: str, rows: list[list[str]], header: list[str]) -> None:
    assert_sound(read, name)
    expected = expected_records(rows)
    assert read.rows_read == {"": len(expected)}
    table = next(iter(read.tables.values()))
    lines = sorted([*table["source_line"].tolist(), *read.quarantine["source_line"].tolist()])
    assert lines == expected, "every record is kept or quarantined, at the line where it starts"
    ident = header.index("Identifiant EOS")
    by_line = dict(zip(expected, [r for r in rows if any(r)]))
    for key, line in zip(table["session_key"], table["source_line"]):
        raw = by_line[int(line)][ident].strip()
        assert raw.isascii() and raw.isdigit() and key == f"eos:{int(raw)}", (key, raw)


# --- EOS --------------------------------------------------------------------------------------

SESSION_HEADER = list(eos.SESSION_COLUMNS)
EVENT_HEADER = list(eos.EVENT_COLUMNS)


@props(35)
@given(
    rows=rows_strategy(SESSION_HEADER, SESSION_ENUMS),
    order=st.permutations(SESSION_HEADER),
    utf8=st.booleans(),
    trailing=st.booleans(),
)
def test_eos_sessions_any_rows_are_all_accounted_for(rows, order, utf8, trailing):
    cells = [[r[c] for c in order] for r in rows]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "eos_sessions_20261119.csv"
        path.write_bytes(encode(csv_file(list(order), cells, trailing), utf8))
        read = eos.read_sessions(path)
    assert read.ok
    check_eos_read(read, path.name, cells, list(order))
    s = read.tables["sessions"]
    assert s["session_key"].is_unique


@props(30)
@given(rows=rows_strategy(EVENT_HEADER, EVENT_ENUMS), utf8=st.booleans(), trailing=st.booleans())
def test_eos_events_any_rows_are_all_accounted_for(rows, utf8, trailing):
    cells = [[r[c] for c in EVENT_HEADER] for r in rows]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "eos_evenements_20261119.csv"
        path.write_bytes(encode(csv_file(EVENT_HEADER, cells, trailing), utf8))
        read = eos.read_events(path)
    assert read.ok
    check_eos_read(read, path.name, cells, EVENT_HEADER)
    ev = read.tables["events"]
    assert ev["event_key"].is_unique
    assert all(k.startswith(s + ":") for k, s in zip(ev["event_key"], ev["session_key"]))


raw_line = st.lists(piece, max_size=8).map("".join)


@props(40)
@given(
    kind=st.sampled_from(["sessions", "evenements"]),
    header=st.one_of(st.just(True), st.booleans()),
    lines=st.lists(raw_line, max_size=6),
    tail=st.binary(max_size=12),
    encoding=st.sampled_from(["cp1252", "utf-8", "utf-16", "latin-1"]),
)
def test_eos_any_text_file_never_crashes_and_balances(kind, header, lines, tail, encoding):
    """Malformed quoting, stray separators, random bytes: a file error or quarantine, never a crash."""
    head = ";".join(SESSION_HEADER if kind == "sessions" else EVENT_HEADER)
    text = "\r\n".join(([head] if header else []) + lines)
    data = text.encode(encoding, errors="replace") + tail
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"eos_{kind}_20261119.csv"
        path.write_bytes(data)
        read = eos.read_sessions(path) if kind == "sessions" else eos.read_events(path)
    assert_sound(read, path.name)
    if not read.ok:
        errors = read.findings[(read.findings["severity"] == "error") & read.findings["session_key"].isna()]
        assert len(errors), "a rejected file says why"


# --- SIGMA ------------------------------------------------------------------------------------

_ILLEGAL_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
xlsx_text = any_text.map(lambda t: _ILLEGAL_XLSX.sub("", t).lstrip("="))
cell = st.one_of(
    st.none(),
    xlsx_text,
    st.integers(-10, 100_000),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.dates(date(1990, 1, 1), date(2100, 1, 1)),
    st.datetimes(datetime(1990, 1, 1), datetime(2100, 1, 1)).map(lambda d: d.replace(microsecond=0)),
    st.times().map(lambda t: t.replace(microsecond=0)),
)
SIGMA_POOLS = {
    "N° Action": ["26P0001234_AGRI_1", "26P0001234_BTP_2", "X", "", None],
    "N° Contrat/Conv.": ["26P0001234", "26P000", None],
    "N°": ["01", 1, "1", "02", None, "x"],
    "Composante": ["01", 1, "02", None, "FORP - Formation Projet Pro"],
    "Num. de session": ["01", 1, "02", 2, None],
    "Statut": ["Validée", "En attente d'émission", "EC", "SO", "AN", None],
    "Lieu de la session": ["ORG / SITE / BEZIERS / 34500", "A / B / C", "A / B / C / D / 75001", None],
    "Modalité entrées": ["Dates fixes", "Entrées/sorties permanentes", None],
    "Nb. de places": [0, 12, "12", "12 places", -1, None],
}


def sigma_sheet(spec):
    headers = [c.header for c in spec.columns]
    value = {h: st.one_of(st.sampled_from(SIGMA_POOLS[h]), cell) if h in SIGMA_POOLS else cell for h in headers}
    row = st.tuples(*[value[h] for h in headers]).map(list)
    return st.lists(row, max_size=5)


def expected_sheet_rows(rows: list[list]) -> int:
    def blank(v):
        return v is None or (isinstance(v, str) and not v.strip())

    n = len(rows)
    while n and all(blank(v) for v in rows[n - 1]):
        n -= 1
    return n


@props(10)
@given(book=st.tuples(*[sigma_sheet(spec) for spec in sigma.SPECS]), drop=st.sampled_from([None, *range(4)]))
def test_sigma_any_workbook_is_read_and_balances(book, drop):
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for i, (spec, rows) in enumerate(zip(sigma.SPECS, book)):
        if i == drop:
            continue
        ws = wb.create_sheet(spec.name)
        ws.append([c.header for c in spec.columns])
        for r in rows:
            ws.append(r)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sigma_actions_20261119.xlsx"
        wb.save(path)
        read = sigma.read_workbook(path)
    assert_sound(read, path.name)
    for i, (spec, rows) in enumerate(zip(sigma.SPECS, book)):
        if i == drop:
            assert spec.name not in read.rows_read and not read.ok
        else:
            assert read.rows_read[spec.name] == expected_sheet_rows(rows), spec.name


# --- rules ------------------------------------------------------------------------------------

FORMATION_KEYS = ["sam:2026C007314701:147:1", "sigma:26P0001234_AGRI_1", "sam:X:001:1", "sigma:NOPE"]
ACTION_KEYS = ["sigma:26P0001234_AGRI_1:01", "eos:2026C007314701:147:1:44306184100047:63000", "sigma:NOPE:01"]
maybe_date = st.one_of(st.none(), st.dates(date(2025, 1, 1), date(2028, 12, 31)))
maybe_int = st.one_of(st.none(), st.integers(-3, 40))
maybe_float = st.one_of(st.none(), st.floats(-10, 5000, allow_nan=False, allow_infinity=False))


def maybe(values):
    return st.one_of(st.none(), st.sampled_from(values), any_text)


session_row = st.fixed_dictionaries(
    {
        "source": st.sampled_from(["eos", "sigma"]),
        "formation_key": st.sampled_from(FORMATION_KEYS),
        "action_key": st.sampled_from(ACTION_KEYS),
        "marche_numero": maybe(["M2614701", "R4218", "26P0001234"]),
        "action_number": maybe(["1", "26P0001234_AGRI_1"]),
        "composante_number": maybe(["01", "09"]),
        "dossier": maybe(["2026C007314701"]),
        "lot": maybe(["147"]),
        "title": maybe(["Agent thermal"]),
        "organisme_formateur": maybe(["HECATE FORMATION"]),
        "siret_formateur": maybe(["44306184100047", "44306184100048", "35600000000048", "123"]),
        "address_line": maybe(["12 rue Blatin"]),
        "postcode": maybe(["63000", "3450", "2A004", "97400"]),
        "city": maybe(["Clermont-Ferrand", ""]),
        "insee_code": maybe(["63113", "2A004", "99999"]),
        "start_date": maybe_date,
        "end_date": maybe_date,
        "prescription_start": maybe_date,
        "prescription_end": maybe_date,
        "parent_period_start": maybe_date,
        "parent_period_end": maybe_date,
        "lot_end": maybe_date,
        "state_date": maybe_date,
        "entry_mode": st.one_of(st.none(), st.sampled_from(model.ENTRY_MODES)),
        "places": maybe_int,
        "places_min": maybe_int,
        "places_region": maybe_int,
        "places_pole_emploi": maybe_int,
        "trainees": maybe_int,
        "hours_centre_avg": maybe_float,
        "hours_company_avg": maybe_float,
        "hours_centre_total": maybe_float,
        "hours_company_total": maybe_float,
        "workflow_state": maybe(list(model.WORKFLOW_PUBLISHABLE)),
        "workflow_publishable": st.booleans(),
        "cancelled": st.booleans(),
        "recruitment_state": st.one_of(st.none(), st.sampled_from(model.RECRUITMENT_STATES)),
        "contact_name": maybe(["Mme Coulomb"]),
        "contact_phone": maybe(["04 73 19 36 38", "+262 262 12 34 56", "04 73 19 36", "0"]),
        "contact_email": maybe(["a@b.fr", "contact@@exemple"]),
        "financer": st.sampled_from(["2", "4", None]),
    }
)
event_row = st.fixed_dictionaries(
    {
        "session_key": st.integers(0, 8).map(lambda i: f"eos:{i}"),
        "event_type": maybe(["Information Collective", "Test"]),
        "is_information_collective": st.booleans(),
        "start_date": maybe_date,
        "end_date": maybe_date,
        "start_time": st.one_of(st.none(), st.sampled_from(["09:00", "14:00", "23:59"])),
        "end_time": st.one_of(st.none(), st.sampled_from(["08:00", "12:00", "17:30"])),
        "places": maybe_int,
        "cancelled": st.booleans(),
        "postcode": maybe(["63000", "123"]),
        "city": maybe(["Lyon"]),
        "description": maybe(["Réunion"]),
    }
)
formation_row = st.fixed_dictionaries(
    {
        "formation_key": st.sampled_from(FORMATION_KEYS),
        "source": st.sampled_from(["sam", "sigma"]),
        "marche_numero": maybe(["M2614701", "26P0001234"]),
        "sessions_planned": maybe_int,
        "period_start": maybe_date,
        "period_end": maybe_date,
        "execution_end": maybe_date,
        "holder_siret": maybe(["44306184100047", "1"]),
        "action_number": maybe(["1", "26P0001234_AGRI_1"]),
    }
)
action_row = st.fixed_dictionaries(
    {
        "action_key": st.sampled_from(ACTION_KEYS),
        "formation_key": st.sampled_from(FORMATION_KEYS),
        "period_start": maybe_date,
        "period_end": maybe_date,
        "entry_mode": st.one_of(st.none(), st.sampled_from(model.ENTRY_MODES)),
        "places": maybe_int,
    }
)


def canonical(rows: list[dict], schema, key: str | None = None) -> pd.DataFrame:
    if not rows:
        return model.empty_frame(schema)
    df = pd.DataFrame.from_records(rows)
    for c, default in (("source", "eos"), ("source_file", "f.csv"), ("source_sheet", "")):
        if c not in df:
            df[c] = default
    df["source_line"] = range(2, len(df) + 2)
    if key is not None:
        df = df.drop_duplicates(key).reset_index(drop=True)
    return model.to_frame(model.conform(df, schema))


def sessions_frame(rows: list[dict]) -> pd.DataFrame:
    for i, r in enumerate(rows):
        r["session_key"] = f"{r['source']}:{i}"
    return canonical(rows, model.SESSIONS)


@props(15)
@given(
    sessions=st.lists(session_row, max_size=8),
    events=st.lists(event_row, max_size=5),
    formations=st.lists(formation_row, max_size=4),
    actions=st.lists(action_row, max_size=3),
    run_date=st.dates(date(2026, 1, 1), date(2027, 12, 31)),
    known=st.sets(st.integers(0, 10).map(lambda i: f"eos:{i}"), max_size=4),
    previous=st.sets(st.integers(0, 12).map(lambda i: f"eos:{i}"), max_size=4),
    sources=st.sets(st.sampled_from(["eos", "sigma"])),
)
def test_rules_on_any_canonical_frames(sessions, events, formations, actions, run_date, known, previous, sources):
    s = sessions_frame(sessions)
    ev = [dict(e, event_key=f"{e['session_key']}:ev{i}") for i, e in enumerate(events)]
    e = canonical(ev, model.EVENTS)
    f = canonical(formations, model.FORMATIONS, "formation_key")
    a = canonical(actions, model.ACTIONS, "action_key")
    prev = (
        pd.DataFrame({"session_key": sorted(previous), "status": "unchanged", "since_date": run_date})
        if previous
        else None
    )
    ctx = CheckContext(
        run_date=run_date,
        formations=f,
        actions=a,
        sessions=s,
        events=e,
        extract_dates={"eos": run_date, "sigma": run_date - timedelta(days=1)},
        known_session_keys=known,
        previous=prev,
        sources_read=sources,
    )
    findings = run_checks(ctx)
    model.conform(findings, model.FINDINGS)
    assert set(findings["rule"]) <= set(BY_ID)
    for rule_id, severity in zip(findings["rule"], findings["severity"]):
        assert severity == BY_ID[rule_id].severity, rule_id
    referenced = set(findings["session_key"].dropna()) - {""}
    assert referenced <= set(s["session_key"]) | set(e["session_key"]) | set(previous)
    for msg in findings["message"]:
        assert msg.strip() and is_french(msg), msg
    again = run_checks(ctx)
    pd.testing.assert_frame_equal(findings.reset_index(drop=True), again.reset_index(drop=True))


# --- classification ---------------------------------------------------------------------------


@props(50)
@given(
    flags=st.lists(st.tuples(st.booleans(), st.booleans(), st.booleans()), max_size=12),
    stray_errors=st.sets(st.text(max_size=5), max_size=3),
    quarantined_rows=st.integers(0, 5),
)
def test_classify_gives_each_session_exactly_one_class(flags, stray_errors, quarantined_rows):
    rows = [
        {"source": "eos", "formation_key": "f", "action_key": "a", "workflow_publishable": pub, "cancelled": canc}
        for pub, _, canc in flags
    ]
    s = sessions_frame(rows)
    errors = {k for k, (_, err, _) in zip(s["session_key"], flags) if err} | stray_errors
    classes = classify(s, errors)
    assert len(classes) == len(s)
    assert set(classes) <= {"published", "quarantined", "not_publishable"}
    for key, pub, cls in zip(s["session_key"], s["workflow_publishable"], classes):
        if not pub:
            assert cls == "not_publishable"
        elif key in errors:
            assert cls == "quarantined"
        else:
            assert cls == "published"
    hashes = pd.Series([f"h{i}" for i in range(len(s))], index=s.index, dtype="string")
    empty_state = pd.DataFrame({"session_key": [], "content_hash": [], "status": [], "since_date": []})
    restore = pd.DataFrame(
        {c: pd.Series([], dtype="string") for c in ("session_key", "content_hash", "publication_status", "since_date")}
    )
    pub = select(
        s,
        model.empty_frame(model.EVENTS),
        model.empty_frame(model.FORMATIONS),
        model.empty_frame(model.ACTIONS),
        hashes,
        classes,
        empty_state,
        restore,
        model.empty_frame(model.SESSIONS),
        model.empty_frame(model.EVENTS),
        model.empty_frame(model.FORMATIONS),
        model.empty_frame(model.ACTIONS),
        RUN_DATE,
        quarantined_rows=quarantined_rows,
    )
    c = pub.counts
    assert c["read"] == len(s) + quarantined_rows == c["published"] + c["quarantined"] + c["not_publishable"]
    assert c["in_feeds"] == c["published"] == len(pub.sessions)


# --- the whole day, without Dagster -----------------------------------------------------------


@lru_cache(maxsize=1)
def sample_base():
    """The SAM offer of the samples, and the clean EOS session rows of the day-1 sample."""
    sam_read = sam.read_offer(SAMPLES / "sam_offre_20261119.xml")
    text = (SAMPLES / "eos_sessions_20261119.csv").read_bytes().decode("cp1252")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    header, body = rows[0], rows[1:]
    ident = header.index("Identifiant EOS")
    clean = [r for r in body if r[ident] in ("184201", "184203", "184204", "184209")]
    return sam_read, header, clean


FREE_TEXT = [
    "Libellé grand public",
    "Organisme formateur",
    "Nom voie",
    "Complément d'adresse",
    "Contact nom",
    "Lieu",
    "Intitulé du lot",
    "N° BC",
]
session_edit = st.tuples(
    st.integers(0, 3),  # which clean sample row
    st.integers(1, 40),  # Identifiant EOS (duplicates are quarantined)
    st.fixed_dictionaries({c: st.one_of(st.none(), any_text) for c in FREE_TEXT}),
)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


@props(8)
@given(edits=st.lists(session_edit, min_size=1, max_size=5), descriptions=st.lists(any_text, max_size=3))
def test_a_whole_day_with_any_free_text_publishes_safely(edits, descriptions):
    from passerelle.feeds.catalog import BY_NAME, produce_feed
    from passerelle.publication import write_quality_outputs

    sam_read, header, clean = sample_base()
    ident = header.index("Identifiant EOS")
    rows = []
    for base, number, over in edits:
        r = list(clean[base])
        r[ident] = str(number)
        for col, value in over.items():
            if value is not None:
                r[header.index(col)] = value
        rows.append(r)
    ev_rows = [
        [
            str(edits[i % len(edits)][1]),
            "Information Collective",
            "10/01/2027",
            "10/01/2027",
            "09:00",
            "11:00",
            "1",
            "rue X",
            "63000",
            "Clermont-Ferrand",
            d,
        ]
        for i, d in enumerate(descriptions)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        s_path = tmp / "eos_sessions_20261119.csv"
        s_path.write_bytes(encode(csv_file(header, rows, False), utf8=False))
        e_path = tmp / "eos_evenements_20261119.csv"
        e_path.write_bytes(encode(csv_file(EVENT_HEADER, ev_rows, False), utf8=False))
        reads = [sam_read, eos.read_sessions(s_path), eos.read_events(e_path)]
        core = build_core(reads)
        empty_state = pd.DataFrame({"session_key": [], "content_hash": [], "status": [], "since_date": []})
        day = DayContext(RUN_DATE, None, empty_state)
        findings = check_day(core, reads, day)
        pub, _versions = prepare_publication(core, findings, reads, day, store=None)

        c = pub.counts
        assert c["read"] == reads[1].rows_read[""] == len(rows)
        assert c["read"] == c["published"] + c["quarantined"] + c["not_publishable"]

        staging = tmp / "out"
        feeds = [produce_feed(BY_NAME[n], pub, staging, RUN_DATE, None) for n in ("carif", "mission_locale")]
        carif, ml = feeds
        assert carif.validation_errors == [], carif.validation_errors[:3]
        if c["published"]:
            assert carif.published and ml.published and ml.records == c["published"]
            with open(staging / ml.path, encoding="utf-8-sig", newline="") as fh:
                table = list(csv.reader(fh, delimiter=";"))
            assert len(table) == 1 + c["published"] and all(len(r) == 22 for r in table)
            for r in table[1:]:
                for v in r:
                    assert not v or v[0] not in "=+-@\t\r\n", f"live formula: {v!r}"
                    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", v), repr(v)

        q = write_quality_outputs(staging, RUN_DATE, "run-prop", findings, core.sessions, pub, feeds, reads, [])
        page = (staging / q.report_path).read_text(encoding="utf-8")
        parser = _Tags()
        parser.feed(page)
        assert parser.tags.count("script") == 1 and parser.tags.count("img") == 0
        assert len(re.findall(r"(?i)<script", page)) == 1
        with open(staging / q.issues_path, encoding="utf-8", newline="") as fh:
            issues = list(csv.DictReader(fh))
        assert len(issues) == q.findings_count
