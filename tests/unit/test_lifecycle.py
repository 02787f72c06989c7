"""The life of a published session, on the plain-Python core (no Dagster): the sample inbox run
on its two days, then months later with the same extracts. Sessions whose end date is past
leave the feeds (cancelled ones once their start has passed), are not announced by the delta,
are not a loss for DQ023; and the lifecycle helpers themselves."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from lxml import etree

from passerelle import lifecycle
from passerelle.canonical import build_core
from passerelle.daily import check_day, entity_versions, load_day_context, prepare_publication, version_payloads
from passerelle.feeds.catalog import guard_baselines, produce_feeds
from passerelle.feeds.lheo import NS
from passerelle.ingest import read_extract
from passerelle.store import open_store

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
DAY1, DAY2, LATER = date(2026, 11, 19), date(2026, 11, 20), date(2027, 4, 1)
L = {"l": NS}


def _run(store, out: Path, d: date):
    """One day on the core: read, check, select, write the feeds, record the publication."""
    reads = [
        read_extract(s, k, SAMPLES, d)
        for s, k in (("sam", "offre"), ("eos", "sessions"), ("eos", "evenements"), ("sigma", "actions"))
    ]
    core = build_core(reads)
    day = load_day_context(store, d)
    findings = check_day(core, reads, day, store)
    pub, versions = prepare_publication(core, findings, reads, day, store)
    results = produce_feeds(pub, out / d.isoformat(), d, day.previous_feed_counts, parallel=False)
    run_id = f"run-{d}"
    store.begin_run(run_id, d)
    for chunk in version_payloads(core, versions, store):
        store.save_session_versions(run_id, chunk)
    for kind, df in entity_versions(core).items():
        store.save_entity_versions(run_id, kind, df)
    store.record_publication(
        run_id,
        d,
        [{"feed": r.name, "file": r.path, "sha256": "0" * 64, "records": r.records} for r in results if r.published],
        pub.state,
        pub.entities,
    )
    store.finish_run(run_id, "succeeded", {})
    return pub, results, findings


@pytest.fixture(scope="module")
def three_days(tmp_path_factory):
    out = tmp_path_factory.mktemp("days")
    store = open_store(f"sqlite:///{out}/store.sqlite3")
    try:
        yield out, {d: _run(store, out, d) for d in (DAY1, DAY2, LATER)}
    finally:
        store.dispose()


def _sessions(out: Path, d: date, rel: str) -> dict[str, etree._Element]:
    path = out / d.isoformat() / rel.format(d=d.isoformat())
    return {s.get("numero"): s for s in etree.parse(str(path)).iterfind(".//l:session", L)} if path.exists() else {}


def test_ended_and_started_cancelled_sessions_leave_without_being_announced(three_days):
    out, runs = three_days
    before = _sessions(out, DAY2, "carif/lheo-{d}.xml")
    later = _sessions(out, LATER, "carif/lheo-{d}.xml")
    today = LATER.strftime("%Y%m%d")

    def cancelled(s):
        return s.findtext("l:extras[@info='passerelle']/l:extra[@info='annulee']", namespaces=L) == "1"

    ended = {k for k, s in before.items() if s.findtext("l:periode/l:fin", namespaces=L) < today}
    started = {k for k, s in before.items() if cancelled(s) and s.findtext("l:periode/l:debut", namespaces=L) < today}
    assert ended and started - ended  # a cancelled session that started but has not ended
    gone = ended | started
    vanished = {"eos:184210", "sigma:26P0005678_NUM_1:01:03"}  # gone since day 2, past their grace period
    assert set(later) == set(before) - gone - vanished
    assert not gone & set(_sessions(out, LATER, "pole-emploi/offres-{d}.xml"))
    delta = _sessions(out, LATER, "carif/lheo-delta-{d}.xml")
    assert set(delta) == vanished - gone  # ended ones are not announced; the withdrawals are
    for s in later.values():
        assert s.findtext("l:periode/l:fin", namespaces=L) >= today
    pub, results, findings = runs[LATER]
    assert pub.counts["expired"] == len(gone)
    assert pub.counts["read"] == pub.counts["published"] + pub.counts["quarantined"] + pub.counts["not_publishable"]
    assert pub.counts["ended"] > 0  # read today, over: not publishable
    assert all(r.published for r in results if r.name != "carif_delta"), [r.withheld_reason for r in results]
    assert not (findings["rule"] == "DQ023").any()


def test_the_guard_baseline_leaves_out_expired_sessions_only(three_days):
    _out, runs = three_days
    pub = runs[LATER][0]
    baseline = guard_baselines({"carif": 40, "pole_emploi": 40}, pub)
    assert baseline == {"carif": 40 - pub.counts["expired"], "pole_emploi": 40 - pub.counts["expired"]}
    assert guard_baselines({"carif": 3}, pub) == {"carif": 0}


def test_expired_marks_ended_and_started_cancelled_sessions_only():
    s = pd.DataFrame(
        {
            "start_date": [date(2027, 1, 4), date(2027, 1, 4), date(2027, 1, 4), None, date(2027, 5, 1), None],
            "end_date": [
                date(2027, 3, 31),
                date(2027, 4, 1),
                date(2027, 6, 30),
                None,
                date(2027, 6, 30),
                date(2027, 1, 1),
            ],
            "cancelled": [False, False, True, True, True, False],
        }
    )
    assert lifecycle.expired(s, LATER).tolist() == [True, False, True, False, False, True]


def test_grace_period_helpers():
    since = pd.Series([date(2026, 11, 13), date(2026, 11, 14)])
    assert lifecycle.withdrawn(since, date(2026, 11, 20), 7).tolist() == [True, False]
    assert lifecycle.last_day(since, 7).tolist() == [date(2026, 11, 19), date(2026, 11, 20)]
    kept = lifecycle.vanished_since(
        pd.Series(["vanished", "unchanged", "vanished"]),
        pd.Series([date(2026, 11, 1), date(2026, 10, 1), None]),
        date(2026, 11, 20),
    )
    assert kept.tolist() == [date(2026, 11, 1), date(2026, 11, 20), date(2026, 11, 20)]


def test_grace_days_setting(monkeypatch):
    monkeypatch.delenv(lifecycle.GRACE_DAYS_ENV, raising=False)
    assert lifecycle.grace_days() == 7
    monkeypatch.setenv(lifecycle.GRACE_DAYS_ENV, "14")
    assert lifecycle.grace_days() == 14 and lifecycle.grace_days(3) == 3
    for bad in ("0", "-2", "sept", "1.5"):
        monkeypatch.setenv(lifecycle.GRACE_DAYS_ENV, bad)
        with pytest.raises(ValueError, match="PASSERELLE_GRACE_DAYS"):
            lifecycle.grace_days()
