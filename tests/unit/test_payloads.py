"""Stored JSON payloads of session versions: exact JSON, every type, and a lossless round trip."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from passerelle.canonical import build_core
from passerelle.ingest import read_extract
from passerelle.publishable import build_payloads, json_lines, sessions_from_payloads

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


def test_json_lines_escapes_and_types():
    df = pd.DataFrame(
        {
            "text": pd.Series(['a"b\\c', "x\ny\tz\x01\x1f\r", None, "é€😀", ""], dtype="string"),
            "count": pd.Series([1, None, 3, -4, 0], dtype="Int64"),
            "hours": pd.Series([1.5, float("nan"), float("inf"), -0.25, 35.0], dtype="float64"),
            "flag": pd.Series([True, None, False, True, False], dtype="boolean"),
            "day": pd.Series(
                [date(2026, 1, 2), None, date(1999, 12, 31), date(2026, 1, 2), None], dtype=pd.ArrowDtype(pa.date32())
            ),
        }
    )
    df.index = [10, 11, 12, 13, 14]
    lines = json_lines(df)
    assert list(lines.index) == [10, 11, 12, 13, 14]
    rows = [json.loads(line) for line in lines]  # every line is strict JSON
    assert [r["text"] for r in rows] == ['a"b\\c', "x\ny\tz\x01\x1f\r", None, "é€😀", ""]
    assert [r["count"] for r in rows] == [1, None, 3, -4, 0]
    assert [r["hours"] for r in rows] == [1.5, None, None, -0.25, 35]  # NaN and inf are not JSON
    assert [r["flag"] for r in rows] == [True, None, False, True, False]
    assert [r["day"] for r in rows] == ["2026-01-02", None, "1999-12-31", "2026-01-02", None]
    assert list(rows[0]) == ["text", "count", "hours", "flag", "day"]  # column order
    assert lines.iloc[0].startswith('{"text":"a\\"b\\\\c",')  # compact, escaped


def test_json_lines_of_an_empty_frame():
    assert json_lines(pd.DataFrame({"a": pd.Series([], dtype="string")})).empty


@pytest.fixture(scope="module")
def core():
    day = date(2026, 11, 19)
    reads = [
        read_extract(s, k, SAMPLES, day)
        for s, k in (("sam", "offre"), ("eos", "sessions"), ("eos", "evenements"), ("sigma", "actions"))
    ]
    return build_core(reads)


def test_payloads_round_trip_the_canonical_sessions_and_events(core):
    sessions, events = core.sessions, core.events
    assert len(sessions) > 10 and len(events) > 0
    payloads = build_payloads(sessions, events)
    assert len(payloads) == len(sessions)
    back_sessions, back_events = sessions_from_payloads(payloads)
    pd.testing.assert_frame_equal(
        back_sessions.reset_index(drop=True), sessions.reset_index(drop=True), check_dtype=False
    )
    expected = (
        events.set_index("session_key")
        .loc[sessions["session_key"][sessions["session_key"].isin(events["session_key"])].unique()]
        .reset_index()[list(events.columns)]
    )
    pd.testing.assert_frame_equal(
        back_events.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False
    )


def test_version_payloads_in_chunks_are_the_payloads_of_the_new_versions(core):
    from passerelle.canonical import content_hashes
    from passerelle.daily import version_payloads

    sessions = core.sessions
    versions = pd.DataFrame(
        {"session_key": sessions["session_key"], "content_hash": content_hashes(sessions, core.events)}
    )
    new = versions.iloc[::2]  # the store already holds every other version

    class Store:
        def new_version_pairs(self, pairs):
            return new.reset_index(drop=True)

    chunks = list(version_payloads(core, versions, Store(), chunk=3))
    assert [len(c) for c in chunks][:-1] == [3] * (len(chunks) - 1)
    got = pd.concat(chunks, ignore_index=True)
    expected_sessions = sessions.iloc[::2]
    expected = build_payloads(expected_sessions, core.events)
    assert got["session_key"].tolist() == expected_sessions["session_key"].tolist()
    assert got["content_hash"].tolist() == new["content_hash"].tolist()
    assert got["payload"].tolist() == expected.tolist()
    assert any('"events":[{' in p for p in got["payload"])  # some sessions do have events
