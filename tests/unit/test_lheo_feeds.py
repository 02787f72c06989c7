"""Several LHEO feeds in one pass (write_lheo_feeds): the same bytes as one write_lheo call per
feed, the same refusals, and memory that does not grow with the feed."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from passerelle.canonical import build_core
from passerelle.daily import DayContext, check_day, prepare_publication
from passerelle.feeds import lheo
from passerelle.feeds.lheo import LheoTarget, write_lheo, write_lheo_feeds
from passerelle.ingest import read_extract
from passerelle.organisations import cards
from tests.unit.test_lheo import _peak, build_frames, scaled_frames

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
RUN_DATE = date(2026, 11, 19)
TARGETS = (("carif", False), ("carif", True), ("pole_emploi", False))


@pytest.fixture(scope="module")
def sample_frames():
    """The sample inbox's first-day publication (every session moved: a first run)."""
    reads = [read_extract(s, k, SAMPLES, RUN_DATE) for s, k in
             (("sam", "offre"), ("eos", "sessions"), ("eos", "evenements"), ("sigma", "actions"))]  # fmt: skip
    core = build_core(reads)
    empty_state = pd.DataFrame({"session_key": [], "content_hash": [], "status": [], "since_date": []})
    day = DayContext(RUN_DATE, None, empty_state)
    pub, _versions = prepare_publication(core, check_day(core, reads, day), reads, day, store=None)
    assert len(pub.sessions) > 10 and pub.sessions["change"].notna().all()
    return pub.formations, pub.actions, pub.sessions, pub.events


def _with_moved(sessions: pd.DataFrame, moved: np.ndarray) -> pd.DataFrame:
    """``sessions`` where only the rows in ``moved`` keep their ``change``."""
    out = sessions.copy()
    out["change"] = out["change"].astype("string").where(moved, pd.NA)
    return out


def _separately(tmp_path: Path, formations, actions, sessions, events, targets=TARGETS, **kwargs) -> list[bytes]:
    """What one write_lheo call per feed writes (a delta takes the moved sessions). Every call
    gets the organisations of the whole publication, as the catalog gives them."""
    out = []
    kwargs.setdefault("organisations", cards(formations, sessions, actions))
    for i, (profile, delta) in enumerate(targets):
        subset = sessions[sessions["change"].notna()] if delta else sessions
        path = tmp_path / f"separate-{i}.xml"
        write_lheo(path, formations, actions, subset, events, profile=profile, delta=delta, **kwargs)
        out.append(path.read_bytes())
    return out


class Sink:
    """A write-only sink (no seek, no close, no read) that records each write."""

    def __init__(self, max_write: int | None = None):
        self.chunks: list[bytes] = []
        self.max_write = max_write  # like a raw file: at most this many bytes taken per call

    def write(self, data) -> int:
        data = bytes(data)
        if self.max_write is not None:
            data = data[: self.max_write]
        self.chunks.append(data)
        return len(data)

    @property
    def value(self) -> bytes:
        return b"".join(self.chunks)


def _together(
    formations, actions, sessions, events, targets=TARGETS, sink=Sink, **kwargs
) -> tuple[list[bytes], list[int]]:
    sinks = [sink() for _ in targets]
    kwargs.setdefault("organisations", cards(formations, sessions, actions))
    counts = write_lheo_feeds([LheoTarget(s, p, d) for s, (p, d) in zip(sinks, targets, strict=True)],
                              formations, actions, sessions, events, **kwargs)  # fmt: skip
    return [s.value for s in sinks], counts


# ----------------------------------------------------------------------------------------------
# same bytes as separate write_lheo calls
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("run_date", [RUN_DATE, None])
def test_sample_publication_every_session_moved(sample_frames, tmp_path, run_date):
    formations, actions, sessions, events = sample_frames
    together, counts = _together(*sample_frames, run_date=run_date)
    assert together == _separately(tmp_path, *sample_frames, run_date=run_date)
    assert counts == [len(sessions)] * 3
    assert together[0] != together[1] != together[2]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sample_publication_some_sessions_moved(sample_frames, tmp_path, seed):
    formations, actions, sessions, events = sample_frames
    moved = np.random.default_rng(seed).random(len(sessions)) < 0.3
    moved[0] = True
    sessions = _with_moved(sessions, moved)
    frames = (formations, actions, sessions, events)
    together, counts = _together(*frames, run_date=RUN_DATE)
    assert together == _separately(tmp_path, *frames, run_date=RUN_DATE)
    assert counts == [len(sessions), int(moved.sum()), len(sessions)]


def test_sample_publication_a_whole_formation_or_action_moved(sample_frames, tmp_path):
    """Delta parts shared with the full feeds (all sessions of an action or formation moved)
    next to parts of their own (some moved)."""
    formations, actions, sessions, events = sample_frames
    key = sessions["formation_key"].astype(str)
    first = key.sort_values().iloc[0]
    moved = (key == first).to_numpy() | (np.arange(len(sessions)) % 4 == 0)
    frames = (formations, actions, _with_moved(sessions, moved), events)
    together, _counts = _together(*frames, run_date=RUN_DATE)
    assert together == _separately(tmp_path, *frames, run_date=RUN_DATE)


def test_sample_publication_nothing_moved(sample_frames, tmp_path):
    """The delta target still gets a complete (empty) document: the caller decides."""
    formations, actions, sessions, events = sample_frames
    frames = (formations, actions, _with_moved(sessions, np.zeros(len(sessions), dtype=bool)), events)
    together, counts = _together(*frames, run_date=RUN_DATE)
    assert together == _separately(tmp_path, *frames, run_date=RUN_DATE)
    assert counts == [len(sessions), 0, len(sessions)]
    assert b"<formation" not in together[1] and together[1].endswith(b"</lheo>\n")


def test_fixture_frames_with_cancellations_and_sessions_without_movement(tmp_path):
    """The writer's own fixture: a cancellation movement, sessions without ``change``, kept and
    vanished sessions, a session without an action row, events; and a Pôle emploi delta."""
    frames = build_frames()
    assert frames[2]["change"].isna().any() and frames[2]["change"].notna().any()
    targets = TARGETS + (("pole_emploi", True),)
    together, counts = _together(*frames, targets=targets, run_date=RUN_DATE)
    assert together == _separately(tmp_path, *frames, targets=targets, run_date=RUN_DATE)
    n_moved = int(frames[2]["change"].notna().sum())
    assert counts == [len(frames[2]), n_moved, len(frames[2]), n_moved]


def test_a_cancellation_movement_is_cancelled_in_the_delta_only(tmp_path):
    formations, actions, sessions, events = build_frames()
    sessions = sessions.copy()
    sessions["change"] = sessions["change"].astype(object)
    sessions.loc[sessions["session_key"] == "eos:1001", "change"] = "cancelled"  # not cancelled today
    sessions["change"] = sessions["change"].astype("string")
    frames = (formations, actions, sessions, events)
    together, _counts = _together(*frames, run_date=RUN_DATE)
    assert together == _separately(tmp_path, *frames, run_date=RUN_DATE)
    full, delta = together[0].decode(), together[1].decode()
    head = '<session numero="eos:1001" datecrea="20261002" datemaj="20261118">'
    assert '<extra info="annulee">0</extra>' in full.split(head)[1].split("</session>")[0]
    assert '<extra info="annulee">1</extra>' in delta.split(head)[1].split("</session>")[0]


def test_one_target_and_any_order_of_targets(tmp_path):
    frames = build_frames()
    separate = _separately(tmp_path, *frames, run_date=RUN_DATE)
    for i, target in enumerate(TARGETS):
        together, _counts = _together(*frames, targets=(target,), run_date=RUN_DATE)
        assert together == [separate[i]]
    reverse = tuple(reversed(TARGETS))
    together, _counts = _together(*frames, targets=reverse, run_date=RUN_DATE)
    assert together == list(reversed(separate))
    assert write_lheo_feeds([], *frames) == []


def test_empty_publication(tmp_path):
    formations, actions, sessions, events = build_frames()
    frames = (formations, actions, sessions.iloc[:0], events.iloc[:0])
    together, counts = _together(*frames)
    assert together == _separately(tmp_path, *frames)
    assert counts == [0, 0, 0]


def test_small_buffers_and_partial_writes_give_the_same_bytes(tmp_path, monkeypatch):
    frames = scaled_frames(20, 2, 5)
    separate = _separately(tmp_path, *frames, run_date=RUN_DATE)
    monkeypatch.setattr(lheo, "_FLUSH_CHARS", 10_000)
    together, _counts = _together(*frames, run_date=RUN_DATE, sink=lambda: Sink(max_write=4096))
    assert together == separate


def test_writes_are_batched(tmp_path):
    frames = scaled_frames(200, 2, 5)  # ~4 MB per feed
    sinks = [Sink() for _ in TARGETS]
    write_lheo_feeds([LheoTarget(s, p, d) for s, (p, d) in zip(sinks, TARGETS, strict=True)], *frames)
    for s in sinks:
        assert 3 <= len(s.chunks) <= len(s.value) // lheo._FLUSH_CHARS + 3
        assert max(map(len, s.chunks)) < 2 * lheo._FLUSH_CHARS


def test_a_real_file_opened_unbuffered(tmp_path):
    """As the daily run opens them (``buffering=0``: each write reaches the validation workers)."""
    frames = build_frames()
    paths = [tmp_path / f"feed-{i}.xml" for i in range(len(TARGETS))]
    files = [open(p, "wb", buffering=0) for p in paths]  # noqa: SIM115
    try:
        write_lheo_feeds([LheoTarget(f, p, d) for f, (p, d) in zip(files, TARGETS, strict=True)], *frames,
                         run_date=RUN_DATE)  # fmt: skip
        assert not any(f.closed for f in files)  # the caller closes them
    finally:
        for f in files:
            f.close()
    assert [p.read_bytes() for p in paths] == _separately(tmp_path, *frames, run_date=RUN_DATE)


# ----------------------------------------------------------------------------------------------
# caller columns
# ----------------------------------------------------------------------------------------------


def _odd_status(sessions: pd.DataFrame, row: int) -> pd.DataFrame:
    odd = sessions.copy()
    odd["publication_status"] = odd["publication_status"].astype(object)
    odd.loc[row, "publication_status"] = "archived"
    return odd


def test_bad_publication_status_is_refused_before_anything_is_written():
    formations, actions, sessions, events = build_frames()
    odd = _odd_status(sessions, 0)
    sinks = [Sink() for _ in TARGETS]
    with pytest.raises(ValueError, match="publication_status"):
        write_lheo_feeds([LheoTarget(s, p, d) for s, (p, d) in zip(sinks, TARGETS, strict=True)],
                         formations, actions, odd, events)  # fmt: skip
    assert all(s.chunks == [] for s in sinks)


def test_a_delta_only_checks_the_sessions_it_publishes():
    formations, actions, sessions, events = build_frames()
    unmoved = int(np.flatnonzero(sessions["change"].isna().to_numpy())[0])
    odd = _odd_status(sessions, unmoved)  # not in the delta
    sink = Sink()
    [n] = write_lheo_feeds([LheoTarget(sink, "carif", delta=True)], formations, actions, odd, events)
    assert n == int(sessions["change"].notna().sum())
    with pytest.raises(ValueError, match="publication_status"):  # the full feed publishes it
        write_lheo_feeds([LheoTarget(Sink(), "carif", delta=True), LheoTarget(Sink(), "carif")],
                         formations, actions, odd, events)  # fmt: skip
    moved = int(np.flatnonzero(sessions["change"].notna().to_numpy())[0])
    with pytest.raises(ValueError, match="publication_status"):
        write_lheo_feeds([LheoTarget(Sink(), "carif", delta=True)], formations, actions,
                         _odd_status(sessions, moved), events)  # fmt: skip


def test_an_unknown_change_is_refused_when_a_target_is_a_delta():
    formations, actions, sessions, events = build_frames()
    odd = sessions.copy()
    odd["change"] = odd["change"].astype(object)
    odd.loc[0, "change"] = "moved"
    sinks = [Sink() for _ in TARGETS]
    with pytest.raises(ValueError, match="change"):
        write_lheo_feeds([LheoTarget(s, p, d) for s, (p, d) in zip(sinks, TARGETS, strict=True)],
                         formations, actions, odd, events)  # fmt: skip
    assert all(s.chunks == [] for s in sinks)
    # without a delta target, ``change`` is not looked at (as write_lheo without delta)
    full = [t for t in TARGETS if not t[1]]
    together, _counts = _together(formations, actions, odd, events, targets=full)
    assert len(together) == 2


def test_an_unknown_profile_is_refused():
    frames = build_frames()
    with pytest.raises(ValueError, match="profile"):
        write_lheo_feeds([LheoTarget(Sink(), "carif"), LheoTarget(Sink(), "onisep")], *frames)


def test_write_lheo_still_needs_a_change_on_every_session_of_a_delta(tmp_path):
    formations, actions, sessions, events = build_frames()
    with pytest.raises(ValueError, match="change"):
        write_lheo(tmp_path / "d.xml", formations, actions, sessions, events, profile="carif", delta=True)
    assert not (tmp_path / "d.xml").exists()


# ----------------------------------------------------------------------------------------------
# memory
# ----------------------------------------------------------------------------------------------


class HashSink:
    """Keeps a digest and a size, not the bytes."""

    def __init__(self):
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self.digest.update(data)
        self.size += len(data)
        return len(data)


def test_memory_does_not_grow_with_the_feeds():
    """As test_lheo's single-feed check, for the three feeds at once: the Python memory peak
    while writing 20k sessions x 3 feeds stays at the level of a 2k-session run and far below
    the feeds (one formation's text and a ~1 MB buffer per feed)."""
    small, big = scaled_frames(200, 2, 5), scaled_frames(2000, 2, 5)
    assert len(big[2]) == 20_000
    for frames in (small, big):  # half of the sessions moved
        frames[2]["change"] = frames[2]["change"].astype("string").where(np.arange(len(frames[2])) % 2 == 0, pd.NA)

    def run(frames, sinks):
        return lambda: write_lheo_feeds([LheoTarget(s, p, d) for s, (p, d) in zip(sinks, TARGETS, strict=True)],
                                        *frames, run_date=RUN_DATE)  # fmt: skip

    sinks_small, sinks_big = [HashSink() for _ in TARGETS], [HashSink() for _ in TARGETS]
    peak_small = _peak(run(small, sinks_small))
    peak_big = _peak(run(big, sinks_big))
    assert all(b.size > 8 * s.size for s, b in zip(sinks_small, sinks_big, strict=True))
    assert peak_big < 1.5 * peak_small + 2_000_000, (peak_small, peak_big)
    total_big = sum(s.size for s in sinks_big)  # ~94 MB; a ~1 MB buffer per feed
    assert peak_big < total_big / 8, (peak_big, total_big)
