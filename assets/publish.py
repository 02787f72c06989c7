"""out_* assets: the feeds, the quality report, and the atomic publication of the day folder.

Checks (blocking): each XML feed is valid against our XSD profile; each full feed respects the
DQ023 guard (not empty, not below half of the last publication).
"""

from datetime import UTC, datetime

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetOut,
    MetadataValue,
    Output,
    asset,
    multi_asset,
)

from assets.ingest import RAW_INS, partition_date, reads_of
from passerelle.daily import DayContext
from passerelle.delivery.texts import report_section
from passerelle.feeds.catalog import FEEDS, FeedResult, produce_feeds
from passerelle.findings_life import life_counts
from passerelle.publication import QualityOutputs, publish_day, write_quality_outputs
from passerelle.publishable import Publication
from passerelle.store.findings import finding_states, last_published_sessions, previous_check_date
from pipelines.partitions import daily_partitions
from pipelines.resources import DeliveriesResource, InboxResource, OutboxResource, StoreResource

FEED_ASSET_KEYS = {
    "carif": "out_carif_lheo",
    "carif_delta": "out_carif_delta",
    "pole_emploi": "out_pole_emploi_lheo",
    "mission_locale": "out_mission_locale_csv",
}


def _check_specs() -> list[AssetCheckSpec]:
    specs = []
    for spec in FEEDS:
        key = FEED_ASSET_KEYS[spec.name]
        if spec.profile_xsd:
            specs.append(
                AssetCheckSpec(
                    "valid_against_profile",
                    asset=key,
                    blocking=True,
                    description=f"The feed validates against schemas/xsd/{spec.profile_xsd}",
                )
            )
        if spec.guarded:
            specs.append(
                AssetCheckSpec(
                    "dq023_guard",
                    asset=key,
                    blocking=True,
                    description="A feed that would be empty or lose more than half of its sessions is not published",
                )
            )
    return specs


@multi_asset(
    name="out_feeds",
    partitions_def=daily_partitions,
    group_name="out",
    ins={"pub": AssetIn("core_publishable"), "day": AssetIn("core_previous_publication")},
    outs={FEED_ASSET_KEYS[s.name]: AssetOut(description=s.description) for s in FEEDS},
    check_specs=_check_specs(),
    description="The four feeds of the day, written one after the other; each XML feed is validated "
    "in a worker process while the next one is written",
)
def out_feeds(context: AssetExecutionContext, outbox: OutboxResource, pub: Publication, day: DayContext):
    d = partition_date(context)
    staging = outbox.staging(d, context.run_id)
    results = produce_feeds(pub, staging, d, day.previous_feed_counts)
    for spec, result in zip(FEEDS, results):
        key = FEED_ASSET_KEYS[spec.name]
        yield Output(
            result,
            output_name=key,
            metadata={
                "path": result.path,
                "records": result.records,
                "published": result.published,
                "withheld_reason": result.withheld_reason or "",
                "validation_errors": len(result.validation_errors),
                "write_seconds": round(result.write_seconds, 3),
                "validation_seconds": round(result.validation_seconds, 3),
            },
        )
        if spec.profile_xsd:
            yield AssetCheckResult(
                asset_key=key,
                check_name="valid_against_profile",
                passed=not result.validation_errors,
                severity=AssetCheckSeverity.ERROR,
                metadata={
                    "errors": MetadataValue.md("\n".join(f"- {e}" for e in result.validation_errors[:20]) or "aucune"),
                    **(
                        {"cause": MetadataValue.text(invalid_feed_cause(staging, result))}
                        if result.validation_errors
                        else {}
                    ),
                },
            )
        if spec.guarded:
            # Passes when the feed respects the guard, or when the guard withheld it.
            yield AssetCheckResult(
                asset_key=key,
                check_name="dq023_guard",
                passed=(not result.published) or result.records > 0,
                severity=AssetCheckSeverity.ERROR,
                metadata={
                    "records": result.records,
                    "published": result.published,
                    "withheld_reason": result.withheld_reason or "",
                },
            )


def invalid_feed_cause(staging, result: FeedResult) -> str:
    """French cause of a feed its validity check stops: file, line, element, value, record."""
    from pathlib import Path

    from passerelle.failures import feed_check_cause
    from passerelle.feeds.withhold import locate, parse_error

    path = Path(staging) / result.path
    lines = {e["line"] for e in map(parse_error, result.validation_errors[:3]) if e is not None}
    records = locate(path, lines) if path.is_file() else {}
    return feed_check_cause(result.path, result.validation_errors, records)


FEED_INS = {name: AssetIn(key) for name, key in FEED_ASSET_KEYS.items()}


@asset(
    partitions_def=daily_partitions,
    group_name="out",
    ins={
        "pub": AssetIn("core_publishable"),
        "findings": AssetIn("core_findings"),
        "sessions": AssetIn("core_sessions"),
        **FEED_INS,
        **RAW_INS,
    },
    description="issues.csv, the life of findings (new / open / resolved), the self-contained HTML quality report "
    "for Carif staff and one message per training body (quality/messages/<SIRET>.eml)",
)
def out_quality_report(
    context: AssetExecutionContext,
    outbox: OutboxResource,
    store: StoreResource,
    deliveries: DeliveriesResource,
    pub: Publication,
    findings: pd.DataFrame,
    sessions: pd.DataFrame,
    carif: FeedResult,
    carif_delta: FeedResult,
    pole_emploi: FeedResult,
    mission_locale: FeedResult,
    **raw,
) -> QualityOutputs:
    d = partition_date(context)
    staging = outbox.staging(d, context.run_id)
    feeds = [carif, carif_delta, pole_emploi, mission_locale]
    st = store.open()
    try:
        history = st.run_history(limit=30)
        section = report_section(st, deliveries.config, d, feeds, outbox.root())
        previous_date = previous_check_date(st, d)
        previous = finding_states(st, previous_date)
        keys = pd.Series(findings["session_key"].dropna().unique(), dtype=object)
        stored = last_published_sessions(st, d, keys[~keys.isin(sessions["session_key"])])
    finally:
        st.dispose()
    q = write_quality_outputs(
        staging,
        d,
        context.run_id,
        findings,
        sessions,
        pub,
        feeds,
        reads_of(raw),
        history,
        deliveries_section=section,
        previous=previous,
        previous_date=previous_date,
        stored_sessions=stored,
    )
    context.add_output_metadata(
        {
            "findings": q.findings_count,
            "issues_csv": q.issues_path,
            "report": q.report_path,
            "findings_life": MetadataValue.json(life_counts(q.life)),
            "messages": len(q.messages),
        }
    )
    return q


@asset(
    partitions_def=daily_partitions,
    group_name="out",
    ins={
        "pub": AssetIn("core_publishable"),
        "quality": AssetIn("out_quality_report"),
        "formations": AssetIn("core_formations"),
        "actions": AssetIn("core_actions"),
        "sessions": AssetIn("core_sessions"),
        "events": AssetIn("core_events"),
        "quarantine": AssetIn("core_quarantine"),
        **FEED_INS,
        **RAW_INS,
    },
    description="Atomic move of the day folder into place, store commit, manifest",
)
def out_publication(
    context: AssetExecutionContext,
    inbox: InboxResource,
    outbox: OutboxResource,
    store: StoreResource,
    pub: Publication,
    quality: QualityOutputs,
    formations: pd.DataFrame,
    actions: pd.DataFrame,
    sessions: pd.DataFrame,
    events: pd.DataFrame,
    quarantine: pd.DataFrame,
    carif: FeedResult,
    carif_delta: FeedResult,
    pole_emploi: FeedResult,
    mission_locale: FeedResult,
    **raw,
) -> dict:
    d = partition_date(context)
    staging = outbox.staging(d, context.run_id)
    record = context.instance.get_run_record_by_id(context.run_id)
    started = record.create_timestamp if record is not None else datetime.now(UTC)
    st = store.open()
    try:
        summary = publish_day(
            store=st,
            out_dir=outbox.root(),
            staging=staging,
            run_date=d,
            run_id=context.run_id,
            started_at=started,
            inbox=str(inbox.root()),
            canonical={
                "core_formations": formations,
                "core_actions": actions,
                "core_sessions": sessions,
                "core_events": events,
                "core_quarantine": quarantine,
            },
            pub=pub,
            quality=quality,
            feeds=[carif, carif_delta, pole_emploi, mission_locale],
            reads=reads_of(raw),
        )
    finally:
        st.dispose()
    context.add_output_metadata(
        {
            "folder": summary["folder"],
            "sessions": MetadataValue.json(summary["manifest"]["sessions"]),
            "findings": MetadataValue.json(summary["manifest"]["findings"]),
        }
    )
    return summary
