"""Content hashes are stored in the store and compared from one day to the next: they must not
drift when the code that computes them changes (a drift would mark every session "updated").
The digests below were computed by the first implementation (pandas groupby / str.cat)."""

from __future__ import annotations

from datetime import date

import pandas as pd

from passerelle import model
from passerelle.canonical import HASH_CHUNK, content_hashes

PINNED_WITH_EVENTS = [
    "f639b0ba719f300c6f5366ed8195c65dcbecefee6be48e12c2d5db35e47a059a",
    "e897fc3ee85c879796d002a6c589d8cedd39d6eca3e601a8176afbc8c700b579",
    "565264041f1eabb642b6b78789103160eedae9baf85af43d10f7feea99ce40f8",
]
PINNED_WITHOUT_EVENTS = [
    "8e7fd1547569677572da40280fab2d8d878aa58c29fcb1cb400859972145fb71",
    "bf6a7a669caa48f23dced2361e24a90ec7b164fb1399dafb6650fcfbfe0ff44a",
    "8d943d2b29d2b0fce78ba7d7461499e1e41c31dad2e2e04d04784a7df519ccab",
]


def _frames():
    s = pd.DataFrame({c: [None, None, None] for c in model.SESSIONS.names})
    s["session_key"] = ["eos:1", "eos:2", "sigma:3"]
    s["source"] = ["eos", "eos", "sigma"]
    s["source_file"] = "f"
    s["source_sheet"] = ""
    s["source_line"] = [2, 3, 4]
    s["action_key"] = ["a1", "a1", "a2"]
    s["formation_key"] = ["f1", "f1", "f2"]
    s["title"] = ["Cuisinier", 'Maçon ; "VRD"', None]
    s["start_date"] = [date(2026, 12, 1), None, date(2027, 1, 4)]
    s["places"] = [12, None, 8]
    s["hours_centre_avg"] = [35.5, None, 0.1]
    s["cancelled"] = [False, True, False]
    s["workflow_publishable"] = [True, True, False]
    e = pd.DataFrame({c: [None, None, None] for c in model.EVENTS.names})
    e["event_key"] = ["e2", "e1", "e3"]
    e["session_key"] = ["eos:1", "eos:1", "sigma:3"]
    e["source"] = ["eos", "eos", "sigma"]
    e["source_file"] = "f"
    e["source_sheet"] = ""
    e["source_line"] = [5, 6, 7]
    e["start_date"] = [date(2026, 11, 30), None, date(2026, 12, 24)]
    e["start_time"] = ["09:00", None, "14:30"]
    e["is_information_collective"] = [True, False, True]
    e["cancelled"] = [False, False, True]
    return model.to_frame(model.conform(s, model.SESSIONS)), model.to_frame(model.conform(e, model.EVENTS))


def test_hashes_are_the_pinned_ones():
    sessions, events = _frames()
    assert content_hashes(sessions, events).tolist() == PINNED_WITH_EVENTS
    assert content_hashes(sessions, events.iloc[:0]).tolist() == PINNED_WITHOUT_EVENTS


def test_lineage_and_event_order_do_not_matter_but_content_does():
    sessions, events = _frames()
    moved = sessions.copy()
    moved["source_line"] = [20, 30, 40]
    moved["source_file"] = "g"
    assert content_hashes(moved, events.iloc[::-1]).tolist() == PINNED_WITH_EVENTS
    changed = events.copy()
    changed.loc[0, "start_time"] = "10:00"
    hashes = content_hashes(sessions, changed).tolist()
    assert hashes[0] != PINNED_WITH_EVENTS[0] and hashes[1:] == PINNED_WITH_EVENTS[1:]


def test_chunking_does_not_change_the_hashes(monkeypatch):
    import passerelle.canonical as canonical

    sessions, events = _frames()
    monkeypatch.setattr(canonical, "HASH_CHUNK", 2)
    assert canonical.content_hashes(sessions, events).tolist() == PINNED_WITH_EVENTS
    assert HASH_CHUNK > 2
