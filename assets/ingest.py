"""raw_* assets: each reads, for the partition's date D, the newest extract of its kind dated
on or before D, and reports its file contract (DQ000) as an asset check."""


from datetime import date

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetIn,
    MetadataValue,
    asset,
    asset_check,
)

from passerelle.crashpoints import crash_point
from passerelle.ingest import read_extract
from passerelle.sources.base import ExtractRead
from pipelines.partitions import daily_partitions
from pipelines.resources import InboxResource

RAW_EXTRACTS = {
    # asset name: (source, kind, description)
    "raw_sam_offer": ("sam", "offre", "SAM offer (marchés, lots, actions) as answered to the call for tenders"),
    "raw_eos_sessions": ("eos", "sessions", "EOS sessions as finalised by the training bodies"),
    "raw_eos_events": ("eos", "evenements", "EOS events (informations collectives, tests, interviews)"),
    "raw_sigma_workbook": ("sigma", "actions", "SIGMA workbook: actions, composantes, sessions, informations collectives"),
}


# The four raw reads as inputs of a downstream asset: parameter name -> raw asset.
RAW_INS = {
    "sam": AssetIn("raw_sam_offer"),
    "eos_sessions": AssetIn("raw_eos_sessions"),
    "eos_events": AssetIn("raw_eos_events"),
    "sigma": AssetIn("raw_sigma_workbook"),
}


def partition_date(context) -> date:
    return date.fromisoformat(context.partition_key)


def _preview(read: ExtractRead) -> str:
    for name in ("sessions", "formations", "events", "actions"):
        df = read.tables.get(name)
        if df is not None and len(df):
            cols = [c for c in df.columns if not c.startswith("source")][:8]
            return df[cols].head(5).astype("string").fillna("").to_markdown(index=False)
    return "(vide)"


def _raw_asset(name: str, source: str, kind: str, description: str):
    @asset(
        name=name,
        partitions_def=daily_partitions,
        group_name="raw",
        description=description,
        kinds={"python"},
    )
    def _asset(context: AssetExecutionContext, inbox: InboxResource) -> ExtractRead:
        read = read_extract(source, kind, inbox.root(), partition_date(context))
        crash_point("after-read")  # PASSERELLE_CRASH_AT, tests only
        context.add_output_metadata(
            {
                "file": read.file or "(aucun extrait)",
                "rows": read.rows,
                "rows_per_sheet": MetadataValue.json(read.rows_read),
                "encoding": read.encoding or "",
                "sha256": read.sha256 or "",
                "file_ok": read.ok,
                "findings": len(read.findings),
                "preview": MetadataValue.md(_preview(read)),
            }
        )
        return read

    @asset_check(asset=_asset, name="file_contract", partitions_def=daily_partitions, description="DQ000: the extract is readable and has its contract's columns")
    def _check(raw: ExtractRead) -> AssetCheckResult:
        errors = raw.findings[(raw.findings["rule"] == "DQ000") & (raw.findings["severity"] == "error")]
        file_level = errors[errors["line"].isna()] if len(errors) else errors
        return AssetCheckResult(
            passed=raw.ok and raw.file is not None,
            severity=AssetCheckSeverity.WARN,
            metadata={
                "file": raw.file or "(aucun extrait)",
                "dq000_errors": len(errors),
                "file_level_errors": MetadataValue.md("\n".join(f"- {m}" for m in file_level["message"].head(20)) or "aucune"),
            },
        )

    return _asset, _check


raw_assets = []
raw_checks = []
for _name, (_source, _kind, _desc) in RAW_EXTRACTS.items():
    _a, _c = _raw_asset(_name, _source, _kind, _desc)
    raw_assets.append(_a)
    raw_checks.append(_c)
