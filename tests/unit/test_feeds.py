"""The feeds of a day: written in order, each XML feed validated in a worker process meanwhile."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from passerelle.canonical import build_core
from passerelle.daily import DayContext, check_day, prepare_publication
from passerelle.feeds import catalog
from passerelle.feeds.catalog import FEEDS, FeedSpec, produce_feeds
from passerelle.ingest import read_extract

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
RUN_DATE = date(2026, 11, 19)


@pytest.fixture(scope="module")
def pub():
    reads = [read_extract(s, k, SAMPLES, RUN_DATE) for s, k in
             (("sam", "offre"), ("eos", "sessions"), ("eos", "evenements"), ("sigma", "actions"))]
    core = build_core(reads)
    empty_state = pd.DataFrame({"session_key": [], "content_hash": [], "status": [], "since_date": []})
    day = DayContext(RUN_DATE, None, empty_state)
    publication, _versions = prepare_publication(core, check_day(core, reads, day), reads, day, store=None)
    assert publication.counts["published"] > 10
    return publication


def test_validation_in_a_worker_gives_the_same_feeds_and_answers(pub, tmp_path):
    inline = produce_feeds(pub, tmp_path / "inline", RUN_DATE, {}, parallel=False)
    worker = produce_feeds(pub, tmp_path / "worker", RUN_DATE, {}, parallel=True)
    assert [r.name for r in worker] == [s.name for s in FEEDS]
    for a, b, spec in zip(inline, worker, FEEDS):
        assert (a.path, a.records, a.published, a.validation_errors) == (b.path, b.records, b.published, b.validation_errors)
        assert (tmp_path / "inline" / a.path).read_bytes() == (tmp_path / "worker" / b.path).read_bytes()
        assert b.write_seconds > 0
        assert (b.validation_seconds > 0) == bool(spec.profile_xsd)
        assert b.validation_errors == []


def _strict_profile(tmp_path: Path) -> FeedSpec:
    xsd = tmp_path / "strict.xsd"  # a profile no LHEO feed satisfies: the root must be <autre>
    xsd.write_text('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="autre"/></xs:schema>',
                   encoding="utf-8")
    return FeedSpec("carif", "carif/lheo-{d}.xml", str(xsd), True, "strict")


def test_errors_found_by_the_worker_come_back_with_their_line(pub, tmp_path):
    [result] = produce_feeds(pub, tmp_path / "out", RUN_DATE, {}, specs=(_strict_profile(tmp_path),), parallel=True)
    assert result.published and result.records > 0
    assert result.validation_errors and result.validation_errors[0].startswith("line ")


def test_a_broken_worker_pool_falls_back_to_validating_here(pub, tmp_path, monkeypatch):
    import concurrent.futures
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    class BrokenPool:
        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def submit(self, fn, *args):
            future = Future()
            future.set_exception(BrokenProcessPool("worker killed"))
            return future

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", BrokenPool)
    [result] = produce_feeds(pub, tmp_path / "out", RUN_DATE, {}, specs=(_strict_profile(tmp_path),), parallel=True)
    assert result.validation_errors and result.validation_seconds > 0


def test_parallel_by_default_only_for_large_publications(pub, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(catalog, "produce_feed", lambda *a, **k: calls.append(a[0].name) or catalog.write_feed(*a))
    produce_feeds(pub, tmp_path / "small", RUN_DATE, {})
    assert calls == [s.name for s in FEEDS]  # below the threshold: the sequential way
    monkeypatch.setattr(catalog, "PARALLEL_VALIDATION_MIN_SESSIONS", 1)
    monkeypatch.setenv("PASSERELLE_PARALLEL_VALIDATION", "0")
    calls.clear()
    produce_feeds(pub, tmp_path / "off", RUN_DATE, {})
    assert calls == [s.name for s in FEEDS]  # switched off
    monkeypatch.delenv("PASSERELLE_PARALLEL_VALIDATION")
    calls.clear()
    produce_feeds(pub, tmp_path / "on", RUN_DATE, {})
    assert calls == []  # above the threshold: validated in the worker
