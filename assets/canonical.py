"""core_* assets: the canonical tables of the day, built from every raw extract.

Checks: row conservation (blocking): every input row is in a canonical table or in quarantine.
"""

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetOut,
    MetadataValue,
    Output,
    multi_asset,
)

from assets.ingest import RAW_INS, reads_of
from passerelle.canonical import CoreTables, build_core
from passerelle.conservation import conservation_report
from passerelle.sources.base import ExtractRead
from pipelines.partitions import daily_partitions

CORE_TABLES = ("core_formations", "core_actions", "core_sessions", "core_events", "core_quarantine")


def _counts_by_source(df: pd.DataFrame) -> dict[str, int]:
    if df.empty:
        return {}
    return {str(k): int(v) for k, v in df["source"].value_counts().sort_index().items()}


@multi_asset(
    outs={name: AssetOut(group_name="core", is_required=True) for name in CORE_TABLES}
    | {"core_reader_findings": AssetOut(group_name="core", description="Findings raised while reading the extracts")},
    ins=RAW_INS,
    partitions_def=daily_partitions,
    check_specs=[
        AssetCheckSpec(
            "row_conservation",
            asset="core_sessions",
            blocking=True,
            description="Every input row is in a canonical table or in quarantine (counts in = counts out).",
        )
    ],
)
def core_tables(context: AssetExecutionContext, **raw):
    reads: list[ExtractRead] = reads_of(raw)
    core: CoreTables = build_core(reads)
    for read in reads:  # from here on, the records live in the canonical tables only
        read.release_tables()
    tables = {
        "core_formations": core.formations,
        "core_actions": core.actions,
        "core_sessions": core.sessions,
        "core_events": core.events,
        "core_quarantine": core.quarantine,
    }
    for name, df in tables.items():
        yield Output(
            df,
            output_name=name,
            metadata={
                "rows": len(df),
                "rows_by_source": MetadataValue.json(_counts_by_source(df)),
                "preview": MetadataValue.md(
                    df.drop(columns=[c for c in df.columns if c.startswith("source_")])
                    .iloc[:5, :8]
                    .astype("string")
                    .fillna("")
                    .to_markdown(index=False)
                    if len(df)
                    else "(vide)"
                ),
            },
        )
    yield Output(core.reader_findings, output_name="core_reader_findings", metadata={"rows": len(core.reader_findings)})

    report = conservation_report(reads, core)
    broken = report[~report["balanced"]]
    yield AssetCheckResult(
        asset_key=AssetKey("core_sessions"),
        check_name="row_conservation",
        passed=broken.empty,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "files": len(report),
            "rows_read": int(report["rows_read"].sum()) if len(report) else 0,
            "table": MetadataValue.md(report.to_markdown(index=False) if len(report) else "(aucun fichier)"),
        },
    )
