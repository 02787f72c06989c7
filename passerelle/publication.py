"""The end of a daily run: quality outputs, canonical Parquet, archived inputs, manifest, atomic
move, store commit.

Order of :func:`publish_day`, and what a crash at each point leaves (the crash points of
``passerelle.crashpoints``, tested by ``tests/integration/test_crash.py``):

1. ``recover`` puts back a day folder left in ``.trash`` by an earlier crash;
2. canonical Parquet, copies of the inputs read (``inputs/``) and the manifest go to the
   staging folder (``staged``): a crash leaves only a staging folder, removed by the next run;
3. the store gets the run row, the inputs read and the content-addressed session/entity
   versions (``versions-saved``): harmless if the run dies after, the next run finds them;
4. the staging folder is fsynced and renamed to ``<out>/<D>/`` (``before-fsync``,
   ``before-swap``, ``between-renames``, ``after-swap``, ``moved``): ``<out>/<D>/`` is the old
   folder or the new complete one, never a mix;
5. the publication history of D is replaced in one transaction (``publication-recorded``),
   ``<out>/current/`` switched to the new feeds (``passerelle.feeds.current``), the run closed as
   succeeded (``finished``). A crash before that leaves the store's history at the
   previous publication: re-running D recomputes the same feeds from the same state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from passerelle.canonical import CoreTables
from passerelle.crashpoints import crash_point
from passerelle.daily import counts_by_rule, counts_by_severity, entity_versions, version_payloads
from passerelle.feeds.catalog import FeedResult
from passerelle.feeds.current import published_feeds, switch_current
from passerelle.feeds.manifest import build_manifest, write_manifest
from passerelle.feeds.publish import clean_stale_staging, commit, recover
from passerelle.findings import concat_findings
from passerelle.model import TABLES, conform
from passerelle.publishable import Publication
from passerelle.sources.base import ExtractRead

INPUTS_DIR = "inputs"


class InputChangedError(RuntimeError):
    """An extract changed in the inbox while the run was reading it."""


@dataclass
class QualityOutputs:
    findings: pd.DataFrame  # every finding of the day, feed guards included
    findings_count: int
    issues_path: str
    report_path: str
    life: pd.DataFrame | None = None  # today's finding states (findings_life.compute_life)
    messages: list[dict] = field(default_factory=list)  # {"file", "body_key", "name", "recipients"}


def read_counts(counts: dict) -> dict[str, int]:
    """Records read per source: sessions for the sources that carry sessions (one entry per
    producer of a per-producer source), formations for those that only describe the offer."""
    from passerelle.sources.registry import sources

    out = dict(counts.get("read_by_source", {}))
    formations = counts.get("formations_read", {})
    for s in sources():
        if not s.carries_sessions:
            out[s.name] = formations.get(s.name, 0)
    return out


def inputs_of(reads: list[ExtractRead]) -> list[dict]:
    return [
        {
            "file": r.file,
            "source": r.source,
            "kind": r.kind,
            "sha256": r.sha256,
            "rows": r.rows,
            "encoding": r.encoding,
            "ok": r.ok,
        }
        for r in reads
        if r.file is not None
    ]


def write_quality_outputs(
    staging: Path,
    run_date: date,
    run_id: str,
    findings: pd.DataFrame,
    sessions: pd.DataFrame,
    pub: Publication,
    feeds: list[FeedResult],
    reads: list[ExtractRead],
    history: list[dict],
    deliveries_section: str = "",
    previous: pd.DataFrame | None = None,
    previous_date: date | None = None,
    stored_sessions: pd.DataFrame | None = None,
) -> QualityOutputs:
    """issues.csv, the finding states of the day (against ``previous``, the states recorded at
    ``previous_date``), report.html and one message per training body (quality/messages/).
    ``stored_sessions``: the last published version of the sessions with findings that are not
    in today's extracts (their training body)."""
    from passerelle.findings_life import compute_life, life_counts
    from passerelle.report.html import ReportContext, build_view, write_report
    from passerelle.report.messages import MESSAGES_DIR, write_messages
    from passerelle.rules.issues_csv import write_issues_csv

    all_findings = concat_findings([findings, *[f.findings for f in feeds]])
    issues = Path(staging) / "quality" / "issues.csv"
    issues.parent.mkdir(parents=True, exist_ok=True)
    write_issues_csv(all_findings, issues)
    life = compute_life(
        all_findings,
        sessions,
        run_date,
        previous,
        files_read=[r.file for r in reads if r.file],
        stored_sessions=stored_sessions,
    )
    summary = dict(pub.counts)
    summary["read"] = read_counts(pub.counts)
    summary["findings"] = counts_by_severity(all_findings)
    summary["life"] = life_counts(life)
    summary["feeds"] = {
        f.name: {"records": f.records, "published": f.published, "withheld": f.withheld_reason} for f in feeds
    }
    ctx = ReportContext(
        run_date=run_date,
        run_id=run_id,
        findings=all_findings,
        sessions=sessions,
        summary=summary,
        history=[h for h in history if str(h.get("run_date")) < run_date.isoformat()],
        inputs=inputs_of(reads),
        life=life,
        previous_date=previous_date,
        stored_sessions=stored_sessions,
        deliveries_section=deliveries_section,
    )
    view = build_view(ctx)
    write_messages(Path(staging) / MESSAGES_DIR, view["messages"], run_date)
    write_report(view, Path(staging) / "quality" / "report.html")
    messages = [
        {"file": f"{MESSAGES_DIR}/{m.filename}", "body_key": m.body_key, "name": m.name, "recipients": m.recipients}
        for m in sorted(view["messages"].values(), key=lambda m: m.filename)
    ]
    return QualityOutputs(all_findings, len(all_findings), "quality/issues.csv", "quality/report.html", life, messages)


def archive_inputs(staging: Path, inbox: str | Path, reads: list[ExtractRead]) -> dict[str, str]:
    """Archive every extract read into ``<staging>/inputs/<file>.gz`` (published atomically with
    the feeds), checking that the archived bytes are the very file that was read (same sha256).
    Gzipped so that the day folder holds no raw extract a consumer could take for a feed (a
    ``*.xml`` there is always LHEO) and to save space (level 3: twice as fast as the default 9
    for 20 % more bytes); deterministic (no name, mtime 0).
    Returns file name -> archived path (relative to the day folder). The inbox is only read."""
    import gzip
    import hashlib

    folder = Path(staging) / INPUTS_DIR
    archived: dict[str, str] = {}
    for r in reads:
        if r.file is None or r.file in archived:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{r.file}.gz"
        digest = hashlib.sha256()
        with (
            open(Path(inbox) / r.file, "rb") as src,
            open(target, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=3) as gz,
        ):
            for chunk in iter(lambda: src.read(1 << 20), b""):
                digest.update(chunk)
                gz.write(chunk)
        if r.sha256 is not None and digest.hexdigest() != r.sha256:
            target.unlink(missing_ok=True)
            raise InputChangedError(
                f"L'extrait « {r.file} » a changé dans le dossier de dépôt pendant le run (sha256 lu {r.sha256}, "
                f"sha256 actuel {digest.hexdigest()}) : rien n'est publié. Attendez que le dépôt du fichier soit "
                "terminé, puis relancez la date."
            )
        archived[r.file] = f"{INPUTS_DIR}/{r.file}.gz"
    return archived


def write_canonical(staging: Path, canonical: dict[str, pd.DataFrame]) -> dict[str, int]:
    """The canonical tables of the run as Parquet with their explicit schemas."""
    out = {}
    folder = Path(staging) / "canonical"
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in canonical.items():
        table = conform(df, TABLES[name])
        pq.write_table(table, folder / f"{name}.parquet", compression="zstd")
        out[f"canonical/{name}.parquet"] = table.num_rows
    return out


def publish_day(
    *,
    store,
    out_dir: Path,
    staging: Path,
    run_date: date,
    run_id: str,
    started_at: datetime,
    inbox: str,
    canonical: dict[str, pd.DataFrame],
    pub: Publication,
    quality: QualityOutputs,
    feeds: list[FeedResult],
    reads: list[ExtractRead],
    crash_hook=None,
) -> dict:
    """Write the canonical Parquet and the manifest, move the day folder into place, then commit
    the store. Returns a summary (folder, manifest)."""

    def hook(point: str) -> None:
        if crash_hook is not None:
            crash_hook(point)
        crash_point(point)  # PASSERELLE_CRASH_AT, tests only

    recover(out_dir, run_date)
    archived = archive_inputs(staging, inbox, reads)
    records = write_canonical(staging, canonical)
    for f in feeds:
        if f.published:
            records[f.path] = f.records
    records[quality.issues_path] = quality.findings_count
    inputs = inputs_of(reads)
    counts = {k: pub.counts[k] for k in ("read", "published", "quarantined", "not_publishable", "cancelled")}
    counts.update({k: pub.counts[k] for k in ("kept", "vanished", "in_feeds")})
    counts.update({k: pub.counts.get(k, 0) for k in ("ended", "expired", "withdrawn")})
    findings_counts = counts_by_severity(quality.findings)
    manifest = build_manifest(
        run_date=run_date,
        run_id=run_id,
        started_at=started_at.astimezone(UTC).isoformat(),
        finished_at=datetime.now(UTC).isoformat(),
        inputs=[{**i, "archive": archived.get(i["file"])} for i in inputs],
        day_folder=staging,
        records=records,
        sessions=counts,
        findings=findings_counts,
        withheld=[{"feed": f.name, "file": f.path, "reason": f.withheld_reason} for f in feeds if not f.published],
        known_sha256={f.path: (f.sha256, f.size) for f in feeds if f.published and f.sha256},
    )
    manifest["findings_by_rule"] = counts_by_rule(quality.findings)
    if quality.life is not None:
        from passerelle.findings_life import life_counts

        manifest["findings_life"] = life_counts(quality.life)
        manifest["messages"] = quality.messages
    write_manifest(manifest, Path(staging) / "manifest.json")
    hook("staged")

    # Session versions are stored before the move (they are content-addressed: harmless if the
    # run dies after), the publication only after the move.
    core = CoreTables(
        canonical["core_formations"],
        canonical["core_actions"],
        canonical["core_sessions"],
        canonical["core_events"],
        canonical["core_quarantine"],
    )
    store.begin_run(run_id, run_date, inbox, str(out_dir))
    store.record_inputs(run_id, inputs)
    for versions in version_payloads(core, pub.versions, store):
        store.save_session_versions(run_id, versions)
    for kind, df in entity_versions(core).items():
        store.save_entity_versions(run_id, kind, df)
    hook("versions-saved")

    final = commit(Path(staging), Path(out_dir), run_date, crash_hook=hook)
    hook("moved")
    store.record_publication(
        run_id,
        run_date,
        [
            {
                "feed": f.name,
                "file": f.path,
                "sha256": next((o["sha256"] for o in manifest["outputs"] if o["file"] == f.path), None),
                "records": f.records,
            }
            for f in feeds
            if f.published
        ],
        pub.state,
        pub.entities,
    )
    if quality.life is not None:
        from passerelle.store.findings import record_finding_states

        record_finding_states(store, run_id, run_date, quality.life)
    hook("publication-recorded")
    switch_current(out_dir, run_date, run_id, published_feeds(feeds, manifest))
    # Same shape as the report's summary, so that the next reports can draw the trend from it.
    summary = {
        **{k: v for k, v in counts.items() if k != "read"},
        "read": read_counts(pub.counts),
        "sessions": counts,
        "findings": findings_counts,
        "findings_by_rule": manifest["findings_by_rule"],
        **({"life": manifest["findings_life"]} if "findings_life" in manifest else {}),
        "feeds": {f.name: {"records": f.records, "published": f.published} for f in feeds},
    }
    store.finish_run(run_id, "succeeded", summary)
    hook("finished")
    clean_stale_staging(out_dir, run_date)
    return {"folder": str(final), "manifest": manifest, "summary": summary}
