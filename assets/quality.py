"""Quality assets: the findings of the day (rule registry) and the publishable selection.

Checks: the GX contract on core_sessions (blocking).
"""

from datetime import date

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetIn,
    MetadataValue,
    asset,
    asset_check,
)

from assets.ingest import RAW_INS, partition_date, reads_of
from passerelle.canonical import CoreTables
from passerelle.daily import (
    DayContext,
    check_day,
    counts_by_rule,
    counts_by_severity,
    load_day_context,
    prepare_publication,
)
from passerelle.publishable import Publication
from passerelle.rules.registry import BY_ID
from pipelines.partitions import daily_partitions
from pipelines.resources import OutboxResource, StoreResource

CORE_INS = {
    "formations": AssetIn("core_formations"),
    "actions": AssetIn("core_actions"),
    "sessions": AssetIn("core_sessions"),
    "events": AssetIn("core_events"),
    "quarantine": AssetIn("core_quarantine"),
    "reader_findings": AssetIn("core_reader_findings"),
}


def _core(formations, actions, sessions, events, quarantine, reader_findings) -> CoreTables:
    return CoreTables(formations, actions, sessions, events, quarantine, reader_findings)


@asset(partitions_def=daily_partitions, group_name="core", description="The last published state, from the store")
def core_previous_publication(context: AssetExecutionContext, store: StoreResource) -> DayContext:
    st = store.open()
    try:
        day = load_day_context(st, partition_date(context))
    finally:
        st.dispose()
    context.add_output_metadata(
        {
            "previous_date": str(day.previous_date or "aucune"),
            "sessions_published_then": len(day.previous_state),
            "known_session_keys": len(day.known_session_keys),
        }
    )
    return day


@asset(
    partitions_def=daily_partitions,
    group_name="core",
    ins={**CORE_INS, **RAW_INS, "day": AssetIn("core_previous_publication")},
    description="Every finding of the day: readers (DQ000) and rules DQ001–DQ022, one row each",
)
def core_findings(
    context: AssetExecutionContext,
    store: StoreResource,
    formations,
    actions,
    sessions,
    events,
    quarantine,
    reader_findings,
    day: DayContext,
    **raw,
) -> pd.DataFrame:
    core = _core(formations, actions, sessions, events, quarantine, reader_findings)
    st = store.open()
    try:
        findings = check_day(core, reads_of(raw), day, st)
    finally:
        st.dispose()
    by_rule = counts_by_rule(findings)
    lines = ["| règle | gravité | intitulé | nombre |", "|---|---|---|---|"]
    for rid, n in by_rule.items():
        r = BY_ID.get(rid)
        lines.append(f"| {rid} | {r.severity if r else ''} | {r.title if r else ''} | {n} |")
    context.add_output_metadata(
        {
            "findings": len(findings),
            **{f"{k}s": v for k, v in counts_by_severity(findings).items()},
            "summary": MetadataValue.md("\n".join(lines)),
        }
    )
    return findings


@asset_check(
    asset="core_sessions",
    name="gx_contract",
    blocking=True,
    partitions_def=daily_partitions,
    description="Great Expectations suite guarding the canonical session table's contract; "
    "its Data Docs go to <out>/<D>/quality/gx/",
)
def gx_contract(
    context: AssetCheckExecutionContext, outbox: OutboxResource, sessions: pd.DataFrame
) -> AssetCheckResult:
    from passerelle.quality.gx_suite import run_session_contract

    d = date.fromisoformat(context.partition_key) if context.has_partition_key else None
    docs = outbox.staging(d, context.run.run_id) / "quality" / "gx" if d else None
    result = run_session_contract(sessions, docs, run_name=context.run.run_id)
    return AssetCheckResult(
        passed=bool(result.success),
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "statistics": MetadataValue.json(result.statistics),
            "failed": MetadataValue.json(result.failed[:20]),
        },
    )


@asset(
    partitions_def=daily_partitions,
    group_name="core",
    ins={**CORE_INS, **RAW_INS, "findings": AssetIn("core_findings"), "day": AssetIn("core_previous_publication")},
    description="What goes to the consumers today: errors out, last good versions in, delta against the store",
)
def core_publishable(
    context: AssetExecutionContext,
    store: StoreResource,
    formations,
    actions,
    sessions,
    events,
    quarantine,
    reader_findings,
    findings: pd.DataFrame,
    day: DayContext,
    **raw,
) -> Publication:
    core = _core(formations, actions, sessions, events, quarantine, reader_findings)
    st = store.open()
    try:
        pub, versions = prepare_publication(core, findings, reads_of(raw), day, st)
    finally:
        st.dispose()
    pub.versions = versions
    context.add_output_metadata({k: MetadataValue.json(v) if isinstance(v, dict) else v for k, v in pub.counts.items()})
    return pub
