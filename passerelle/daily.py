"""The steps of one daily run, as plain functions (the Dagster assets call these).

reads ─► build_core ─► check_day ─► prepare_publication ─► write_feeds ─► finalize
                          │               │                                  │
                       store: known keys, last published state, payloads     store: versions, publication
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from passerelle.canonical import CoreTables, content_hashes, enrich_addresses
from passerelle.findings import concat_findings, findings_frame
from passerelle.lifecycle import GRACE_DAYS_DEFAULT, expired, grace_days
from passerelle.model import ACTIONS, FORMATIONS
from passerelle.publishable import (
    Publication,
    build_payloads,
    classify,
    entity_payloads,
    frames_from_payloads,
    keys_to_restore,
    select,
    sessions_from_payloads,
)
from passerelle.sources.base import ExtractRead


def check_settings() -> None:
    """Check the settings of the feeds (``PASSERELLE_GRACE_DAYS``,
    ``PASSERELLE_FORMACODE_VERSION_<SOURCE>``) before a run starts: a wrong value raises
    ValueError naming the setting, rather than failing a step or a file later."""
    from passerelle.sources.base import formacode_version
    from passerelle.sources.registry import names

    grace_days()
    for source in names():
        formacode_version(source)


def sources_read_ok(reads: list[ExtractRead]) -> set[str]:
    """Sources whose session extract was read today (so a missing session really vanished);
    a per-producer source counts per producer (``lheo:<producer>``)."""
    from passerelle.sources.registry import carries_sessions, spec

    out = set()
    for r in reads:
        s = spec(r.source)
        if s is None or not r.ok or r.file is None:
            continue
        if carries_sessions(s.name, r.kind):
            out.add(r.source)
    return out


def extract_dates(reads: list[ExtractRead]) -> dict[str, date]:
    out: dict[str, date] = {}
    for r in reads:
        if r.extract_date is not None:
            out[r.source] = max(out.get(r.source, r.extract_date), r.extract_date)
    return out


@dataclass
class DayContext:
    """What the store knows before today's run."""

    run_date: date
    previous_date: date | None
    previous_state: pd.DataFrame
    known_session_keys: set[str] = field(default_factory=set)
    previous_feed_counts: dict[str, int] = field(default_factory=dict)
    previous_entities: pd.DataFrame | None = None  # formations and actions as last published (dates)
    grace_days: int = GRACE_DAYS_DEFAULT  # DQ022: a vanished session is withdrawn after this many days


def load_day_context(store, run_date: date, grace: int | None = None) -> DayContext:
    """What the store knows before the run of ``run_date``; ``grace``: the grace period of a
    vanished session in days (default ``PASSERELLE_GRACE_DAYS``, else 7)."""
    prev_date = store.last_publication_date(run_date)
    state = store.published_state(prev_date) if prev_date else None
    if state is None:
        state = pd.DataFrame({"session_key": [], "content_hash": [], "status": [], "since_date": []})
    counts = store.publication_counts(prev_date) if prev_date else {}
    entities = store.published_entities(prev_date) if prev_date else None
    return DayContext(
        run_date, prev_date, state, set(store.known_session_keys(before=run_date)), counts, entities, grace_days(grace)
    )


def check_day(core: CoreTables, reads: list[ExtractRead], day: DayContext, store=None) -> pd.DataFrame:
    """All findings of the day: the readers' and the rules' (DQ001–DQ022), and the rows an error on
    a parent record gives each session under it (``passerelle.parents``)."""
    from passerelle.rules.checks import CheckContext, run_checks

    sources = sources_read_ok(reads)
    previous = None
    if len(day.previous_state):
        gone = day.previous_state[~day.previous_state["session_key"].isin(set(core.sessions["session_key"]))]
        gone = gone[gone["status"] != "cancelled"]
        if len(gone) and store is not None:
            payloads = store.session_payloads(gone[["session_key", "content_hash"]])
            prev_sessions, _ = sessions_from_payloads(payloads["payload"]) if len(payloads) else (None, None)
            if prev_sessions is not None and len(prev_sessions):
                state_cols = [
                    c
                    for c in ("session_key", "content_hash", "status", "since_date", "vanished_date")
                    if c in gone.columns
                ]
                previous = prev_sessions.merge(gone[state_cols], on="session_key", how="left")
    ctx = CheckContext(
        run_date=day.run_date,
        formations=core.formations,
        actions=core.actions,
        sessions=core.sessions,
        events=core.events,
        extract_dates=extract_dates(reads),
        known_session_keys=day.known_session_keys,
        previous=previous,
        sources_read=sources,
        grace_days=day.grace_days,
    )
    from passerelle.parents import with_parent_findings

    findings = concat_findings([core.reader_findings, run_checks(ctx)])
    # an error on a parent record (formation, action, XML marché/lot) reaches each session under it
    return with_parent_findings(findings, core.formations, core.actions, core.sessions, [r.parent_lines for r in reads])


def prepare_publication(
    core: CoreTables, findings: pd.DataFrame, reads: list[ExtractRead], day: DayContext, store
) -> tuple[Publication, pd.DataFrame]:
    """Today's publication and the payloads of the session versions seen today."""
    from passerelle.feeds.catalog import feed_session_columns
    from passerelle.rules.checks import session_errors
    from passerelle.sources.registry import session_sources

    errors = set(session_errors(findings))
    classes = classify(core.sessions, errors)
    # a session whose period is over has left the feeds (lifecycle): not publishable any more
    ended = expired(core.sessions, day.run_date) & classes.eq("published").to_numpy(dtype=bool)
    classes = classes.mask(ended.to_numpy(dtype=bool), "not_publishable")
    hashes = content_hashes(core.sessions, core.events)
    restore = keys_to_restore(
        core.sessions, classes, day.previous_state, sources_read_ok(reads), ended=expired(core.sessions, day.run_date)
    )

    restored_sessions, restored_events = sessions_from_payloads(pd.Series([], dtype="string"))
    restored_formations = frames_from_payloads([], FORMATIONS)
    restored_actions = frames_from_payloads([], ACTIONS)
    if len(restore):
        payloads = store.session_payloads(restore[["session_key", "content_hash"]])
        restored_sessions, restored_events = sessions_from_payloads(payloads["payload"])
        missing_f = sorted(set(restored_sessions["formation_key"]) - set(core.formations["formation_key"]))
        missing_a = sorted(set(restored_sessions["action_key"]) - set(core.actions["action_key"]))
        restored_formations = frames_from_payloads(store.latest_entity_payloads("formation", missing_f), FORMATIONS)
        restored_actions = frames_from_payloads(store.latest_entity_payloads("action", missing_a), ACTIONS)
        # versions stored before the COG columns existed get them; the others are resolved again
        # with today's reference (derived data, not part of a version's content hash)
        restored_sessions, restored_events, restored_actions = enrich_addresses(
            restored_sessions, restored_events, restored_actions
        )

    quarantined_rows = int((core.quarantine["kind"] == "session").sum()) if len(core.quarantine) else 0
    pub = select(
        core.sessions,
        core.events,
        core.formations,
        core.actions,
        hashes,
        classes,
        day.previous_state,
        restore,
        restored_sessions,
        restored_events,
        restored_formations,
        restored_actions,
        day.run_date,
        quarantined_rows=quarantined_rows,
        columns=feed_session_columns(),
        previous_entities=day.previous_entities,
        grace=day.grace_days,
        ended=ended,
    )
    pub.counts["read_by_source"] = {
        **{s.name: 0 for s in session_sources() if not s.per_producer},
        **{str(k): int(v) for k, v in core.sessions["source"].value_counts().items()},
    }
    pub.counts["formations_read"] = {str(k): int(v) for k, v in core.formations["source"].value_counts().items()}
    versions = pd.DataFrame({"session_key": core.sessions["session_key"], "content_hash": hashes, "classes": classes})
    return pub, versions


def version_payloads(core: CoreTables, versions: pd.DataFrame, store, chunk: int | None = None):
    """Payloads of today's session versions not yet in the store (only those are built), as
    frames of at most ``chunk`` sessions (``session_key, content_hash, payload``): a national
    first run builds a million JSON documents, which are stored one chunk at a time."""
    import pyarrow as pa
    import pyarrow.compute as pc

    chunk = chunk or PAYLOAD_CHUNK
    pairs = versions[["session_key", "content_hash"]]
    new = store.new_version_pairs(pairs)
    if new.empty:
        return
    sessions = core.sessions
    mask = sessions["session_key"].isin(set(new["session_key"])).to_numpy(dtype=bool)
    positions = np.flatnonzero(mask)
    # Each event goes to the chunk of its session: events sorted by chunk once, then each chunk
    # takes a slice (not a scan of every event per chunk).
    chunk_of = np.full(len(sessions), -1, dtype=np.int64)
    chunk_of[positions] = np.arange(len(positions), dtype=np.int64) // chunk
    events = core.events
    if len(events):
        where = pc.index_in(
            pa.array(events["session_key"], from_pandas=True),
            value_set=pa.array(sessions["session_key"], from_pandas=True),
        )
        event_chunk = chunk_of[pc.fill_null(where, 0).to_numpy(zero_copy_only=False).astype(np.int64)]
        event_chunk[pc.is_null(where).to_numpy(zero_copy_only=False)] = -1
    else:
        event_chunk = np.empty(0, dtype=np.int64)
    event_order = np.argsort(event_chunk, kind="stable")
    bounds = np.searchsorted(event_chunk[event_order], np.arange(-1, len(positions) // chunk + 2), side="left")
    hashes = versions["content_hash"]
    for number, start in enumerate(range(0, len(positions), chunk)):
        rows = positions[start : start + chunk]
        sess = sessions.iloc[rows]
        ev = events.iloc[event_order[bounds[number + 1] : bounds[number + 2]]]
        yield pd.DataFrame(
            {
                "session_key": sess["session_key"].reset_index(drop=True),
                "content_hash": hashes.iloc[rows].reset_index(drop=True),
                "payload": build_payloads(sess, ev).reset_index(drop=True),
            }
        )


PAYLOAD_CHUNK = 25_000


def entity_versions(core: CoreTables) -> dict[str, pd.DataFrame]:
    """Formation and action payloads of the day, for re-emitting kept sessions later."""
    import hashlib

    out = {}
    for kind, df, key in (("formation", core.formations, "formation_key"), ("action", core.actions, "action_key")):
        payload = entity_payloads(df)
        hashes = [hashlib.sha256(p.encode("utf-8")).hexdigest() for p in payload.to_numpy(dtype=object)]
        out[kind] = pd.DataFrame({"key": df[key].to_numpy(), "content_hash": hashes, "payload": payload.to_numpy()})
    return out


def empty_findings() -> pd.DataFrame:
    return findings_frame()


def counts_by_severity(findings: pd.DataFrame) -> dict[str, int]:
    vc = findings["severity"].value_counts()
    return {s: int(vc.get(s, 0)) for s in ("error", "warning", "info")}


def counts_by_rule(findings: pd.DataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in findings["rule"].value_counts().sort_index().items()}


def day_paths(run_date: date) -> dict[str, str]:
    d = run_date.isoformat()
    return {
        "carif": f"carif/lheo-{d}.xml",
        "carif_delta": f"carif/lheo-delta-{d}.xml",
        "pole_emploi": f"pole-emploi/offres-{d}.xml",
        "mission_locale": f"mission-locale/sessions-{d}.csv",
        "issues": "quality/issues.csv",
        "report": "quality/report.html",
        "manifest": "manifest.json",
    }


def ensure_parent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
