"""The end of a daily run: quality outputs, canonical Parquet, manifest, atomic move, store commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from passerelle.daily import counts_by_rule, counts_by_severity, entity_versions, version_payloads
from passerelle.canonical import CoreTables
from passerelle.feeds.catalog import FeedResult
from passerelle.feeds.manifest import build_manifest, write_manifest
from passerelle.feeds.publish import clean_stale_staging, commit, recover
from passerelle.findings import concat_findings
from passerelle.model import TABLES, conform
from passerelle.publishable import Publication
from passerelle.sources.base import ExtractRead


@dataclass
class QualityOutputs:
    findings: pd.DataFrame  # every finding of the day, feed guards included
    findings_count: int
    issues_path: str
    report_path: str


def inputs_of(reads: list[ExtractRead]) -> list[dict]:
    return [
        {"file": r.file, "source": r.source, "kind": r.kind, "sha256": r.sha256, "rows": r.rows,
         "encoding": r.encoding, "ok": r.ok}
        for r in reads
        if r.file is not None
    ]


def write_quality_outputs(
    staging: Path, run_date: date, run_id: str, findings: pd.DataFrame, sessions: pd.DataFrame,
    pub: Publication, feeds: list[FeedResult], reads: list[ExtractRead], history: list[dict],
) -> QualityOutputs:
    from passerelle.report.html import ReportContext, write_report
    from passerelle.rules.issues_csv import write_issues_csv

    all_findings = concat_findings([findings, *[f.findings for f in feeds]])
    issues = Path(staging) / "quality" / "issues.csv"
    issues.parent.mkdir(parents=True, exist_ok=True)
    write_issues_csv(all_findings, issues)
    summary = dict(pub.counts)
    summary["read"] = {**pub.counts.get("read_by_source", {}), "sam": pub.counts.get("formations_read", {}).get("sam", 0)}
    summary["findings"] = counts_by_severity(all_findings)
    summary["feeds"] = {f.name: {"records": f.records, "published": f.published, "withheld": f.withheld_reason} for f in feeds}
    report = Path(staging) / "quality" / "report.html"
    write_report(
        ReportContext(
            run_date=run_date, run_id=run_id, findings=all_findings, sessions=sessions, summary=summary,
            history=history, inputs=inputs_of(reads),
        ),
        report,
    )
    return QualityOutputs(all_findings, len(all_findings), "quality/issues.csv", "quality/report.html")


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
    *, store, out_dir: Path, staging: Path, run_date: date, run_id: str, started_at: datetime, inbox: str,
    canonical: dict[str, pd.DataFrame], pub: Publication, quality: QualityOutputs,
    feeds: list[FeedResult], reads: list[ExtractRead], crash_hook=None,
) -> dict:
    """Write the canonical Parquet and the manifest, move the day folder into place, then commit
    the store. Returns a summary (folder, manifest)."""
    hook = crash_hook or (lambda point: None)
    recover(out_dir, run_date)
    records = write_canonical(staging, canonical)
    for f in feeds:
        if f.published:
            records[f.path] = f.records
    records[quality.issues_path] = quality.findings_count
    inputs = inputs_of(reads)
    counts = {k: pub.counts[k] for k in ("read", "published", "quarantined", "not_publishable", "cancelled")}
    counts.update({k: pub.counts[k] for k in ("kept", "vanished", "in_feeds")})
    findings_counts = counts_by_severity(quality.findings)
    manifest = build_manifest(
        run_date=run_date, run_id=run_id, started_at=started_at.astimezone(timezone.utc).isoformat(),
        finished_at=datetime.now(timezone.utc).isoformat(), inputs=inputs, day_folder=staging, records=records,
        sessions=counts, findings=findings_counts,
        withheld=[{"feed": f.name, "file": f.path, "reason": f.withheld_reason} for f in feeds if not f.published],
    )
    manifest["findings_by_rule"] = counts_by_rule(quality.findings)
    write_manifest(manifest, Path(staging) / "manifest.json")
    hook("staged")

    # Session versions are stored before the move (they are content-addressed: harmless if the
    # run dies after), the publication only after the move.
    core = CoreTables(canonical["core_formations"], canonical["core_actions"], canonical["core_sessions"],
                      canonical["core_events"], canonical["core_quarantine"])
    store.begin_run(run_id, run_date, inbox, str(out_dir))
    store.record_inputs(run_id, inputs)
    store.save_session_versions(run_id, version_payloads(core, pub.versions, store))
    for kind, df in entity_versions(core).items():
        store.save_entity_versions(run_id, kind, df)
    hook("versions-saved")

    final = commit(Path(staging), Path(out_dir), run_date, crash_hook=hook)
    hook("moved")
    store.record_publication(
        run_id, run_date,
        [{"feed": f.name, "file": f.path, "sha256": next((o["sha256"] for o in manifest["outputs"] if o["file"] == f.path), None),
          "records": f.records} for f in feeds if f.published],
        pub.state,
    )
    summary = {"sessions": counts, "findings": findings_counts, "findings_by_rule": manifest["findings_by_rule"],
               "read_by_source": pub.counts.get("read_by_source", {}), "formations_read": pub.counts.get("formations_read", {}),
               "feeds": {f.name: {"records": f.records, "published": f.published} for f in feeds}}
    store.finish_run(run_id, "succeeded", summary)
    clean_stale_staging(out_dir, run_date)
    return {"folder": str(final), "manifest": manifest, "summary": summary}
