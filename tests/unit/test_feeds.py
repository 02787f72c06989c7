"""The feeds of a day: written in order, each XML feed validated in a worker process meanwhile."""

from __future__ import annotations

import hashlib
import threading
import time
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
    reads = [
        read_extract(s, k, SAMPLES, RUN_DATE)
        for s, k in (("sam", "offre"), ("eos", "sessions"), ("eos", "evenements"), ("sigma", "actions"))
    ]
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
        assert (a.path, a.records, a.published, a.validation_errors) == (
            b.path,
            b.records,
            b.published,
            b.validation_errors,
        )
        assert (tmp_path / "inline" / a.path).read_bytes() == (tmp_path / "worker" / b.path).read_bytes()
        assert b.write_seconds > 0
        assert (b.validation_seconds > 0) == bool(spec.profile_xsd)
        assert b.validation_errors == []
        if spec.profile_xsd:  # hashed by the worker, on the bytes on disk: the manifest's fingerprint
            assert b.sha256 == hashlib.sha256((tmp_path / "worker" / b.path).read_bytes()).hexdigest()
            assert b.size == (tmp_path / "worker" / b.path).stat().st_size


def _strict_profile(tmp_path: Path) -> FeedSpec:
    xsd = tmp_path / "strict.xsd"  # a profile no LHEO feed satisfies: the root must be <autre>
    xsd.write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="autre"/></xs:schema>',
        encoding="utf-8",
    )
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


def test_the_publication_keeps_only_the_columns_the_writers_read_and_the_feeds_are_the_same(pub, tmp_path, monkeypatch):
    import passerelle.feeds.catalog as catalog_module
    from passerelle import model

    assert set(pub.sessions.columns) == set(catalog_module.feed_session_columns())
    assert "programme" not in pub.sessions.columns and "title" in pub.sessions.columns
    reads = [
        read_extract(s, k, SAMPLES, RUN_DATE)
        for s, k in (("sam", "offre"), ("eos", "sessions"), ("eos", "evenements"), ("sigma", "actions"))
    ]
    core = build_core(reads)
    day = DayContext(
        RUN_DATE, None, pd.DataFrame({"session_key": [], "content_hash": [], "status": [], "since_date": []})
    )
    monkeypatch.setattr(catalog_module, "feed_session_columns", lambda: None)
    full, _ = prepare_publication(core, check_day(core, reads, day), reads, day, store=None)
    assert set(model.SESSIONS.names) <= set(full.sessions.columns)
    slim_results = produce_feeds(pub, tmp_path / "slim", RUN_DATE, {}, parallel=False)
    full_results = produce_feeds(full, tmp_path / "full", RUN_DATE, {}, parallel=False)
    for a, b in zip(slim_results, full_results, strict=True):
        assert a.published and (tmp_path / "slim" / a.path).read_bytes() == (tmp_path / "full" / b.path).read_bytes()


def test_a_writer_that_fails_midway_stops_the_workers_and_the_error_comes_out(pub, tmp_path, monkeypatch):
    import passerelle.feeds.lheo as lheo

    def broken(targets, *args, **kwargs):
        for target in targets:
            target.sink.write(b"<?xml version='1.0' encoding='UTF-8'?>\n<lheo")
        raise RuntimeError("disque plein")

    monkeypatch.setattr(lheo, "write_lheo_feeds", broken)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="disque plein"):
        produce_feeds(pub, tmp_path / "out", RUN_DATE, {}, parallel=True)
    assert time.monotonic() - started < 60  # the workers saw the feeds abandoned, none waits forever


def _write_slowly(source: bytes, target: Path, marker: Path, *, abandon: bool = False) -> threading.Thread:
    from passerelle.feeds.validate import mark_abandoned, mark_complete

    def run():
        with open(target, "wb", buffering=0) as fh:
            for i in range(0, len(source), 4096):
                fh.write(source[i : i + 4096])
                time.sleep(0.001)
                if abandon and i > len(source) // 2:
                    mark_abandoned(marker)
                    return
        mark_complete(marker, len(source))

    target.write_bytes(b"")
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_feed_validated_while_written_gives_the_answer_of_the_written_file(pub, tmp_path):
    from passerelle.feeds.conformance import SCHEMAS
    from passerelle.feeds.validate import validate_file, validate_growing

    [written] = produce_feeds(pub, tmp_path / "ref", RUN_DATE, {}, specs=FEEDS[:1], parallel=False)
    source = (tmp_path / "ref" / written.path).read_bytes()
    xsd = SCHEMAS / FEEDS[0].profile_xsd
    for name, data in (("good", source), ("bad", source.replace(b"<etat-recrutement>", b"<etat-recrutemen>", 1))):
        target, marker = tmp_path / f"{name}.xml", tmp_path / f"{name}.complete"
        thread = _write_slowly(data, target, marker)
        errors, sha256 = validate_growing(target, marker, xsd)
        thread.join()
        assert errors == validate_file(target, xsd, streaming=True)
        assert bool(errors) == (name == "bad")
        assert sha256 == hashlib.sha256(data).hexdigest()


def test_an_abandoned_feed_is_not_validated(pub, tmp_path):
    from passerelle.feeds.conformance import SCHEMAS
    from passerelle.feeds.validate import FeedAbandoned, validate_growing

    [written] = produce_feeds(pub, tmp_path / "ref", RUN_DATE, {}, specs=FEEDS[:1], parallel=False)
    target, marker = tmp_path / "gone.xml", tmp_path / "gone.complete"
    thread = _write_slowly((tmp_path / "ref" / written.path).read_bytes(), target, marker, abandon=True)
    with pytest.raises(FeedAbandoned):
        validate_growing(target, marker, SCHEMAS / FEEDS[0].profile_xsd)
    thread.join()
