"""The corpus of bad inputs (``tests/data/bad/``): each file read by its reader gives the
expected outcome of ``expected.json``, never an exception, keeps every row (row conservation),
speaks French, reads no file and opens no network connection.

Also the XML attacks re-made with a tripwire secret (a named pipe: any attempt to open it for
reading is recorded) and a TCP trap on 127.0.0.1 (any connection is recorded), so that a parser
reaching out from C code (libxml2, calamine) is caught too, not only Python sockets.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import re
import socket
import threading
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from passerelle import model
from passerelle.rules.registry import BY_ID
from passerelle.sources import eos, sam, sigma

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
EXPECTED = json.loads((BAD / "expected.json").read_text(encoding="utf-8"))
CORPUS = sorted(p.name for p in BAD.iterdir() if p.suffix not in (".py", ".json", ".md") and p.is_file())

TABLE_SCHEMAS = {
    "formations": model.FORMATIONS,
    "actions": model.ACTIONS,
    "sessions": model.SESSIONS,
    "events": model.EVENTS,
}
TABLE_KEYS = {"formations": "formation_key", "actions": "action_key", "sessions": "session_key", "events": "event_key"}
SEVERITIES = {"error", "warning", "info"}
# a French message has French words; English words outside quotes « » and parentheses (where a
# raw value or a library's detail may be quoted) mean an untranslated message
FRENCH = re.compile(
    r"(?i)(?<![\w])(le|la|les|du|de|des|un|une|est|sont|dans|pour|au|aux|sans|sur|ne|pas|que|ou|et|alors|avant|"
    r"après|fichier|ligne|colonne|feuille|valeur|absente?s?|rejetée?|illisible|vide|renvoyer|corriger)(?![\w])"
    r"|[àâçéèêëîïôûùüÿœ]"
)
ENGLISH = re.compile(r"(?i)(?<![\w])(the|is|are|missing|invalid|cannot|could not|not found|expected|error)(?![\w])")
PASSWD_MARK = "root:x:0:0"


def make_bad():
    spec = importlib.util.spec_from_file_location("make_bad", BAD / "make_bad.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def reader_for(name: str):
    if name.startswith("eos_sessions"):
        return eos.read_sessions
    if name.startswith("eos_evenements"):
        return eos.read_events
    if name.startswith("sam_offre"):
        return sam.read_offer
    if name.startswith("sigma_actions"):
        return sigma.read_workbook
    raise KeyError(name)


# --- traps: network and secret files ----------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch):
    """Python-level socket guard: any TCP/UDP connection or name lookup fails the test."""
    attempts: list = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self, address, *args):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
            raise OSError(errno.ENETUNREACH, "network forbidden in tests")
        return real_connect(self, address, *args)

    def connect_ex(self, address, *args):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
            return errno.ENETUNREACH
        return real_connect_ex(self, address, *args)

    def getaddrinfo(host, *args, **kwargs):
        attempts.append(("getaddrinfo", host))
        raise socket.gaierror(socket.EAI_NONAME, "name lookups forbidden in tests")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    assert not attempts, f"network used: {attempts}"


class FileTripwire:
    """A named pipe standing for a secret file. Opening it for reading (from Python or from C)
    is recorded; the opener is then fed ``content`` so that a leak would also show in outputs."""

    def __init__(self, path: Path, content: str):
        self.path = Path(path)
        self.content = content.encode("utf-8")
        os.mkfifo(self.path)
        self.opened: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    @property
    def uri(self) -> str:
        return self.path.as_uri()

    def _poke(self) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: nobody has it open for reading
            return
        self.opened.append(time.time())
        try:
            os.write(fd, self.content)
        except OSError:
            pass
        finally:
            os.close(fd)

    def _watch(self) -> None:
        while not self._stop.is_set():
            self._poke()
            time.sleep(0.005)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._poke()  # a last look (and unblocks a reader that would be waiting)


class NetworkTrap:
    """A TCP listener on 127.0.0.1: every connection it receives is recorded."""

    def __init__(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self.connections: list = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, addr = self._sock.accept()
            except OSError:
                continue
            self.connections.append(addr)
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


@pytest.fixture
def secret(tmp_path):
    marker = f"PASSERELLE-SECRET-{os.getpid()}-{time.time_ns()}"
    folder = tmp_path / "outside-the-inbox"
    folder.mkdir()
    trip = FileTripwire(folder / "secret.txt", marker + "\n")
    trip.marker = marker
    yield trip
    trip.close()


@pytest.fixture
def trap():
    t = NetworkTrap()
    yield t
    t.close()


# --- helpers ----------------------------------------------------------------------------------


def all_text(read) -> str:
    """Everything a read hands to the rest of the run, as text (for leak checks)."""
    parts = [df.astype("string").to_csv() for df in read.tables.values()]
    parts.append(read.quarantine.astype("string").to_csv())
    parts.append(read.findings.astype("string").to_csv())
    return "\n".join(parts)


def is_french(message: str) -> bool:
    outside = re.sub(r"«[^»]*»|\([^()]*\)|<[^<>]*>", " ", message)
    return bool(FRENCH.search(message)) and not ENGLISH.search(outside)


def assert_sound(read, name: str) -> None:
    """What every read must satisfy, whatever the input."""
    for table, df in read.tables.items():
        model.conform(df, TABLE_SCHEMAS[table])
        key = TABLE_KEYS[table]
        assert df[key].notna().all() and df[key].is_unique, f"{table}: keys must be present and unique"
        assert (df["source_file"] == name).all()
    model.conform(read.quarantine, model.QUARANTINE)
    f = read.findings
    model.conform(f, model.FINDINGS)
    assert set(f["rule"]) <= set(BY_ID), set(f["rule"])
    assert set(f["severity"]) <= SEVERITIES
    assert (f["file"] == name).all()
    for msg in f["message"]:
        assert isinstance(msg, str) and msg.strip() and is_french(msg), f"message not in French: {msg!r}"
    for reason in read.quarantine["reason"]:
        assert is_french(reason), reason
    # row conservation, per sheet: canonical records + quarantine rows = rows read
    for sheet, n in read.rows_read.items():
        kept = sum(int((df["source_sheet"] == sheet).sum()) for df in read.tables.values())
        quarantined = int((read.quarantine["source_sheet"] == sheet).sum())
        assert kept + quarantined == n, f"sheet {sheet!r}: read {n} = kept {kept} + quarantined {quarantined}"
    sheets = set(read.rows_read)
    for df in [*read.tables.values(), read.quarantine]:
        assert set(df["source_sheet"]) <= sheets, "a record from a sheet that was not counted"
    assert PASSWD_MARK not in all_text(read)


def matches(actual: pd.Series, expected: dict) -> bool:
    for k, v in expected.items():
        a = actual.get(k)
        if k == "message":
            if not isinstance(a, str) or v not in a:
                return False
        elif k == "line":
            if v is None:
                if not pd.isna(a):
                    return False
            elif pd.isna(a) or int(a) != v:
                return False
        elif v is None:
            if not (pd.isna(a) or a == ""):
                return False
        elif pd.isna(a) or str(a) != str(v):
            return False
    return True


def cell_equals(actual, expected) -> bool:
    if expected is None:
        return actual is None or pd.isna(actual)
    if actual is None or (not isinstance(actual, (list, dict)) and pd.isna(actual)):
        return False
    if isinstance(actual, date):
        return actual.isoformat() == expected
    if isinstance(expected, float):
        return abs(float(actual) - expected) < 1e-9
    if isinstance(expected, bool):
        return bool(actual) is expected
    if isinstance(expected, int):
        return int(actual) == expected
    return str(actual) == expected


# --- the corpus -------------------------------------------------------------------------------


def test_every_corpus_file_has_an_expected_outcome():
    assert CORPUS == sorted(EXPECTED), set(CORPUS) ^ set(EXPECTED)


def test_expected_md_is_generated_from_expected_json():
    assert (BAD / "EXPECTED.md").read_text(encoding="utf-8") == make_bad().expected_markdown(EXPECTED)


def test_corpus_is_what_the_generator_writes():
    files = make_bad().all_files()
    assert sorted(files) == CORPUS
    stale = [name for name, data in files.items() if (BAD / name).read_bytes() != data]
    assert not stale, f"re-run tests/data/bad/make_bad.py: {stale}"


@pytest.mark.parametrize("name", CORPUS)
def test_bad_input_gives_its_expected_outcome(name, no_network):
    exp = EXPECTED[name]
    read = reader_for(name)(BAD / name)  # never raises

    assert read.file == name
    assert read.ok is exp["ok"]
    assert read.rows_read == exp["rows_read"]
    assert {t: len(df) for t, df in read.tables.items()} == exp["tables"]
    assert len(read.quarantine) == exp["quarantine"]
    errors = read.findings[read.findings["severity"] == "error"]
    assert len(errors) == exp["errors"], errors[["line", "field", "message"]].to_string()
    for want in exp["findings"]:
        hits = [i for i, row in read.findings.iterrows() if matches(row, want)]
        assert hits, (
            f"expected finding {want} not in\n{read.findings[['severity', 'line', 'field', 'message']].to_string()}"
        )
    for table, by_key in exp.get("values", {}).items():
        df = read.tables[table].set_index(TABLE_KEYS[table])
        for key, fields in by_key.items():
            assert key in df.index, f"{table}: {key} missing"
            for col, want in fields.items():
                got = df.loc[key, col]
                assert cell_equals(got, want), f"{table} {key} {col}: {got!r} != {want!r}"
    text = all_text(read)
    for absent in exp.get("absent_text", []):
        assert absent not in text, f"{absent!r} found in what the reader hands on"
    assert_sound(read, name)


def test_a_rejected_file_keeps_its_rows_in_quarantine_with_the_raw_values():
    read = eos.read_sessions(BAD / "eos_sessions__no_header.csv")
    q = read.quarantine.sort_values("source_line")
    assert list(q["source_line"]) == [1, 2, 3, 4]
    assert (q["rule"] == "DQ000").all() and q["reason"].str.startswith("En-tête absent").all()
    first = json.loads(q["raw"].iloc[0])
    assert first["colonne 9"] == "184201"  # line 1 was session 184201: not lost


def test_mixed_encodings_are_repaired_line_by_line_only_where_utf8():
    read = eos.read_sessions(BAD / "eos_sessions__mixed_encodings.csv")
    s = read.tables["sessions"].set_index("session_key")
    # line 3 is UTF-8, lines 2, 4 and 5 Windows-1252: both decode to the same accents
    assert s.loc["eos:184203", "organisme_formateur"] == "ÉCOLE DES MÉTIERS DE LA MONTAGNE"
    assert s.loc["eos:184204", "city"] == "Chambéry"
    assert read.encoding == "cp1252+utf-8"


# --- XML attacks with a tripwire secret and a network trap ------------------------------------


def sam_attack_names() -> list[str]:
    return sorted(make_bad().sam_attacks())


@pytest.mark.parametrize("name", sam_attack_names())
def test_sam_attack_reads_no_file_and_opens_no_connection(name, tmp_path, secret, trap, no_network):
    text = make_bad().sam_attacks(secret_uri=secret.uri, port=trap.port)[name]
    path = tmp_path / "sam_offre_20261119.xml"
    path.write_text(text, encoding="utf-8")
    read = sam.read_offer(path)
    assert_sound(read, path.name)
    out = all_text(read)
    assert secret.marker not in out
    assert "lollol" not in out
    time.sleep(0.05)  # let the watchers see a late attempt
    assert not secret.opened, "the secret file was opened"
    assert not trap.connections, f"a connection reached 127.0.0.1:{trap.port}"
    if "DOCTYPE" in text:
        assert not read.ok and len(read.tables["formations"]) == 0
        assert read.findings["field"].eq("DOCTYPE").any()
    else:  # schema location, XInclude: the file is read, the hints are never followed
        assert len(read.tables["formations"]) == 1


def test_sigma_xxe_reads_no_file(tmp_path, secret, no_network):
    mb = make_bad()
    good = (Path(mb.SAMPLES) / "sigma_actions_20261119.xlsx").read_bytes()
    path = tmp_path / "sigma_actions_20261119.xlsx"
    path.write_bytes(mb._xlsx_with_doctype(good, "xxe", secret_uri=secret.uri))
    read = sigma.read_workbook(path)
    assert_sound(read, path.name)
    assert secret.marker not in all_text(read)
    time.sleep(0.05)
    assert not secret.opened
    assert "Sessions" not in read.rows_read and len(read.tables["formations"]) == 6


def test_the_traps_do_catch_what_they_guard(tmp_path, secret, trap):
    """The tripwire and the trap work: opening the secret and connecting are both seen."""
    with open(secret.path, encoding="utf-8") as fh:
        assert fh.read() == secret.marker + "\n"
    deadline = time.time() + 5
    while not secret.opened and time.time() < deadline:
        time.sleep(0.01)
    assert secret.opened
    with socket.create_connection(("127.0.0.1", trap.port), timeout=5):
        pass
    deadline = time.time() + 5
    while not trap.connections and time.time() < deadline:
        time.sleep(0.01)
    assert trap.connections


def test_the_socket_guard_refuses_connections(no_network):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(OSError):
            s.connect(("127.0.0.1", 9))
    finally:
        s.close()
    assert no_network == [("127.0.0.1", 9)]
    no_network.clear()  # expected here: do not fail the test at teardown


# --- paths: the inbox is read only inside itself, the outputs written only inside --out --------


def test_find_extracts_ignores_symlinks_folders_odd_names_and_wrong_extensions(tmp_path):
    from passerelle.sources.base import find_extracts

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    outside = tmp_path / "outside.csv"
    outside.write_text("secret", encoding="utf-8")
    good = inbox / "eos_sessions_20261117.csv"
    good.write_text("x", encoding="utf-8")
    (inbox / "eos_sessions_20261119.csv").symlink_to(outside)  # newer, but a symlink
    (inbox / "eos_sessions_20261118.csv").mkdir()  # a folder
    (inbox / "eos_sessions_20261119.bak").write_text("x", encoding="utf-8")  # wrong extension
    (inbox / "eos_sessions_20261119.CSV.bak").write_text("x", encoding="utf-8")
    (inbox / "..eos_sessions_20261119.csv").write_text("x", encoding="utf-8")
    (inbox / "eos_sessions_20261119.csv..").write_text("x", encoding="utf-8")
    (inbox / "sub").mkdir()
    (inbox / "sub" / "eos_sessions_20261119.csv").write_text("x", encoding="utf-8")
    (inbox / "eos_evenements_20261119.CSV").write_text("x", encoding="utf-8")  # extension case is tolerated
    (inbox / "eos_evenements_20261120.csv").write_text("x", encoding="utf-8")  # after the run date
    (inbox / "sigma_actions_20261119.xlsx").symlink_to(inbox / "eos_sessions_20261117.csv")  # symlink inside
    (inbox / "sam_offre_20261131.xml").write_text("x", encoding="utf-8")  # impossible date
    found = find_extracts(inbox, date(2026, 11, 19))
    assert found[("eos", "sessions")] == good
    assert found[("eos", "evenements")] == inbox / "eos_evenements_20261119.CSV"
    assert found[("sigma", "actions")] is None
    assert found[("sam", "offre")] is None


def test_find_extracts_on_a_missing_inbox_finds_nothing(tmp_path):
    from passerelle.sources.base import find_extracts

    assert set(find_extracts(tmp_path / "nope", date(2026, 11, 19)).values()) == {None}


@pytest.mark.parametrize("relative", ["/etc/passwd", "../x", "a/../../x", "carif/../../x", Path("..") / "x"])
def test_inside_refuses_paths_outside_the_base(tmp_path, relative):
    from passerelle.feeds.publish import UnsafePathError, inside

    with pytest.raises(UnsafePathError):
        inside(tmp_path, relative)


def test_inside_refuses_a_symlink_leading_out_and_accepts_plain_paths(tmp_path):
    from passerelle.feeds.publish import UnsafePathError, inside

    base = tmp_path / "out"
    base.mkdir()
    (base / "link").symlink_to(tmp_path)
    with pytest.raises(UnsafePathError):
        inside(base, "link/secret.txt")
    assert inside(base, "carif/lheo-2026-11-19.xml") == (base / "carif" / "lheo-2026-11-19.xml").resolve()
    assert inside(base, ".") == base.resolve()


def test_staging_folder_name_cannot_escape_the_output(tmp_path):
    from passerelle.feeds.publish import staging_dir

    p = staging_dir(tmp_path, date(2026, 11, 19), "../../etc/x;rm -rf /")
    assert p.parent == tmp_path / ".staging" and "/" not in p.name and ".." not in p.name


# --- mixed encodings, at the text level -------------------------------------------------------


def test_decode_mixed_repairs_utf8_lines_in_either_direction():
    from passerelle.sources.text import decode_mixed

    lines = ["Ville;Organisme", "Chambéry;ÉCOLE", "Saint-Étienne;ŒUVRE", "Annecy;Métiers"]
    # mostly Windows-1252, line 3 in UTF-8
    data = b"\r\n".join(ln.encode("utf-8" if i == 2 else "cp1252") for i, ln in enumerate(lines))
    assert decode_mixed(data) == ("\r\n".join(lines), "cp1252+utf-8", [3])
    # mostly UTF-8, line 2 in Windows-1252
    data = b"\r\n".join(ln.encode("cp1252" if i == 1 else "utf-8") for i, ln in enumerate(lines))
    assert decode_mixed(data) == ("\r\n".join(lines), "cp1252+utf-8", [3, 4])  # line 1 is ASCII
    # one encoding: nothing to repair
    assert decode_mixed("\n".join(lines).encode("cp1252"))[1:] == ("cp1252", [])
    assert decode_mixed("\n".join(lines).encode("utf-8"))[1:] == ("utf-8", [])


def test_decode_mixed_reports_an_undecodable_byte_at_its_true_line():
    from passerelle.sources.text import UndecodableError, decode_mixed

    data = "a;é\n".encode() + "b;è\n".encode("cp1252") + b"c;\x81\n"
    with pytest.raises(UndecodableError) as err:
        decode_mixed(data)
    assert err.value.line == 3 and data[err.value.position] == 0x81


# --- output safety, at the writer level -------------------------------------------------------


def test_mission_locale_cells_drop_control_characters_and_neutralise_formulas():
    from passerelle.feeds.mission_locale import neutralise_formulas

    raw = pd.Series(
        [
            "FORMAVENIR\x00SAVOIE",
            "\x00=1+1",
            " =HYPERLINK(1)",
            "\u00a0@SUM(A1)",
            "x\x7f\x1by",
            "\n=2",
            "-1+1",
            "ok",
            None,
        ],
        dtype="string",
    )
    assert neutralise_formulas(raw).tolist() == [
        "FORMAVENIRSAVOIE",
        "'=1+1",
        "' =HYPERLINK(1)",
        "'\u00a0@SUM(A1)",
        "xy",
        "'\n=2",
        "'-1+1",
        "ok",
        "",
    ]
