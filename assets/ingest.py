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
from passerelle.ingest import read_extract, read_producers
from passerelle.sources.base import ExtractRead
from pipelines.partitions import daily_partitions
from pipelines.resources import InboxResource


def _raw_extracts() -> dict[str, tuple[str, str, str, bool]]:
    """Asset name -> (source, kind, description, per producer), one per kind the registry declares."""
    from passerelle.sources.registry import sources

    return {k.asset: (s.name, k.name, k.description, s.per_producer) for s in sources() for k in s.kinds}


RAW_EXTRACTS = _raw_extracts()

# Every raw read as inputs of a downstream asset, which takes them as ``**raw`` (one mapping,
# whatever the sources): asset name -> AssetIn. ``reads_of(raw)`` flattens it in reading order.
RAW_INS = {name: AssetIn(name) for name in RAW_EXTRACTS}


def reads_of(raw: dict) -> list[ExtractRead]:
    """The reads of a ``**raw`` mapping (an ExtractRead per fixed kind, a list per
    per-producer source), in the registry's reading order."""
    out: list[ExtractRead] = []
    for name in RAW_EXTRACTS:
        value = raw[name]
        out += list(value) if isinstance(value, list | tuple) else [value]
    return out


def partition_date(context) -> date:
    return date.fromisoformat(context.partition_key)


def _preview(read: ExtractRead) -> str:
    for name in ("sessions", "formations", "events", "actions"):
        df = read.tables.get(name)
        if df is not None and len(df):
            cols = [c for c in df.columns if not c.startswith("source")][:8]
            return df[cols].head(5).astype("string").fillna("").to_markdown(index=False)
    return "(vide)"


def _metadata(read: ExtractRead) -> dict:
    return {
        "file": read.file or "(aucun extrait)",
        "rows": read.rows,
        "rows_per_sheet": MetadataValue.json(read.rows_read),
        "encoding": read.encoding or "",
        "sha256": read.sha256 or "",
        "file_ok": read.ok,
        "findings": len(read.findings),
        "preview": MetadataValue.md(_preview(read)),
    }


def _raw_asset(name: str, source: str, kind: str, description: str, per_producer: bool):
    @asset(
        name=name,
        partitions_def=daily_partitions,
        group_name="raw",
        description=description,
        kinds={"python"},
    )
    def _asset(context: AssetExecutionContext, inbox: InboxResource):  # ExtractRead | list[ExtractRead]
        if per_producer:  # one read per producer found (none: nothing is missing)
            reads = read_producers(source, inbox.root(), partition_date(context))
            crash_point("after-read")  # PASSERELLE_CRASH_AT, tests only
            context.add_output_metadata(
                {
                    "files": MetadataValue.json([r.file for r in reads]),
                    "rows": sum(r.rows for r in reads),
                    "findings": sum(len(r.findings) for r in reads),
                    "per_producer": MetadataValue.json({r.source: r.rows for r in reads}),
                }
            )
            return reads
        read = read_extract(source, kind, inbox.root(), partition_date(context))
        crash_point("after-read")  # PASSERELLE_CRASH_AT, tests only
        context.add_output_metadata(_metadata(read))
        return read

    @asset_check(
        asset=_asset,
        name="file_contract",
        partitions_def=daily_partitions,
        description="DQ000: the extract is readable and has its contract's columns",
    )
    def _check(raw) -> AssetCheckResult:  # ExtractRead | list[ExtractRead]
        reads = list(raw) if isinstance(raw, list) else [raw]
        errors = [r.findings[(r.findings["rule"] == "DQ000") & (r.findings["severity"] == "error")] for r in reads]
        file_level = [m for e in errors for m in (e[e["line"].isna()] if len(e) else e)["message"]]
        return AssetCheckResult(
            passed=all(r.ok and r.file is not None for r in reads),
            severity=AssetCheckSeverity.WARN,
            metadata={
                "file": ", ".join(r.file for r in reads if r.file) or "(aucun extrait)",
                "dq000_errors": sum(len(e) for e in errors),
                "file_level_errors": MetadataValue.md("\n".join(f"- {m}" for m in file_level[:20]) or "aucune"),
            },
        )

    return _asset, _check


raw_assets = []
raw_checks = []
for _name, (_source, _kind, _desc, _per_producer) in RAW_EXTRACTS.items():
    _a, _c = _raw_asset(_name, _source, _kind, _desc, _per_producer)
    raw_assets.append(_a)
    raw_checks.append(_c)
