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


# --- the explicit, versioned list of hashed fields ---------------------------------------------

# sha256 of the field lists of each version ("|"-joined sessions, "||", events): changing the
# lists without bumping CONTENT_HASH_VERSION (and saying so in the README) fails here.
FIELD_LIST_DIGESTS = {1: "a5f7709819e84c179aef85be30296e463ea8f845495768dc3638ac3998252d7f"}


def _digest(sessions: tuple[str, ...], events: tuple[str, ...]) -> str:
    import hashlib

    return hashlib.sha256(("|".join(sessions) + "||" + "|".join(events)).encode()).hexdigest()


def test_field_list_is_versioned_and_in_the_model():
    from passerelle.canonical import CONTENT_HASH_VERSION, EVENT_HASH_FIELDS, SESSION_HASH_FIELDS

    assert FIELD_LIST_DIGESTS[CONTENT_HASH_VERSION] == _digest(SESSION_HASH_FIELDS, EVENT_HASH_FIELDS)
    assert set(SESSION_HASH_FIELDS) <= set(model.SESSIONS.names)
    assert set(EVENT_HASH_FIELDS) <= set(model.EVENTS.names)
    assert len(set(SESSION_HASH_FIELDS)) == len(SESSION_HASH_FIELDS)
    # lineage is never content: a session whose line moved is not modified
    assert not {"source", "source_file", "source_sheet", "source_line"} & set(SESSION_HASH_FIELDS)


def test_a_column_added_to_the_model_does_not_change_any_hash(monkeypatch):
    import pyarrow as pa

    import passerelle.canonical as canonical

    sessions, events = _frames()
    wider_sessions = model.SESSIONS.append(pa.field("new_session_column", pa.string()))
    wider_events = model.EVENTS.append(pa.field("new_event_column", pa.string()))
    monkeypatch.setattr(model, "SESSIONS", wider_sessions)
    monkeypatch.setattr(model, "EVENTS", wider_events)
    monkeypatch.setattr(canonical, "SESSIONS", wider_sessions)
    monkeypatch.setattr(canonical, "EVENTS", wider_events)
    s = sessions.assign(new_session_column=["a", "b", None])
    e = events.assign(new_event_column=["x", None, "z"])
    s = model.to_frame(model.conform(s, wider_sessions))
    e = model.to_frame(model.conform(e, wider_events))
    assert "new_session_column" in s.columns and s["new_session_column"].notna().any()
    assert canonical.content_hashes(s, e).tolist() == PINNED_WITH_EVENTS
    assert canonical.content_hashes(s, e.iloc[:0]).tolist() == PINNED_WITHOUT_EVENTS


def test_a_listed_field_changes_the_hash_of_its_session_only():
    from passerelle.canonical import SESSION_HASH_FIELDS

    sessions, events = _frames()
    for field in ("title", "start_date", "places", "contact_email"):
        assert field in SESSION_HASH_FIELDS
        changed = sessions.copy()
        changed.loc[2, field] = {
            "title": "Soudeur",
            "start_date": date(2027, 2, 1),
            "places": 9,
            "contact_email": "a@b.fr",
        }[field]
        hashes = content_hashes(changed, events).tolist()
        assert hashes[2] != PINNED_WITH_EVENTS[2], field
        assert hashes[:2] == PINNED_WITH_EVENTS[:2], field


def test_a_frame_missing_a_listed_field_fails_loudly():
    sessions, events = _frames()
    import pytest

    with pytest.raises(KeyError):
        content_hashes(sessions.drop(columns=["title"]), events)
