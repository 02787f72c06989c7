"""The pipeline's own contract on ``core_sessions``, checked with Great Expectations 1.x.

This is not a data-quality rule for training bodies (those are in ``passerelle.rules``): it
guards the shape of the canonical table the pipeline itself builds (columns, keys, enumerations,
completeness). A failure means a reader or the canonical step is broken, so the orchestrator
treats it as blocking.

GX is heavy to import (several seconds), so it is imported inside :func:`run_session_contract`
only; importing this module costs nothing. The suite itself is plain data
(:data:`SESSION_EXPECTATIONS`) so it can be listed without GX.

GX is called directly: an ephemeral data context, a pandas data source with one dataframe
asset, a batch definition for the whole dataframe, one expectation suite, a validation
definition and a checkpoint. When ``docs_dir`` is given, GX's own site builder writes its Data
Docs there (engineers' view; the GX pages load their CSS/JS from public CDNs, so they render
unstyled offline) and ``validation_result.json`` holds the raw result.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from passerelle import model
from passerelle.sources import registry

SUITE_NAME = "core_sessions_contract"
# what each source declares: its session keys, its name (``lheo:<producer>`` per producer)
SESSION_KEY_PATTERN = registry.session_key_pattern()
SOURCE_PATTERN = registry.source_name_pattern()

# the source name without its producer (``lheo`` for ``lheo:intercarif``), added to the frame GX
# validates so that an expectation can be restricted to some sources
FAMILY = "source_family"


def _of_sources(names: list[str]) -> dict:
    return {"row_condition": f"{FAMILY} in {sorted(names)!r}", "condition_parser": "pandas"}


# (GX expectation class name, keyword arguments). Column map expectations ignore nulls, so
# "in set" on entry_mode / recruitment_state and "between" on places accept nulls.
SESSION_EXPECTATIONS: tuple[tuple[str, dict], ...] = (
    ("ExpectTableColumnsToMatchSet", {"column_set": list(model.SESSIONS.names), "exact_match": False}),
    ("ExpectColumnValuesToNotBeNull", {"column": "session_key"}),
    ("ExpectColumnValuesToBeUnique", {"column": "session_key"}),
    ("ExpectColumnValuesToMatchRegex", {"column": "session_key", "regex": SESSION_KEY_PATTERN}),
    ("ExpectColumnValuesToNotBeNull", {"column": "action_key"}),
    ("ExpectColumnValuesToNotBeNull", {"column": "formation_key"}),
    ("ExpectColumnValuesToNotBeNull", {"column": "source"}),
    ("ExpectColumnValuesToMatchRegex", {"column": "source", "regex": SOURCE_PATTERN}),
    ("ExpectColumnValuesToNotBeNull", {"column": "source_file"}),
    ("ExpectColumnValuesToNotBeNull", {"column": "source_line"}),
    ("ExpectColumnValuesToBeBetween", {"column": "source_line", "min_value": 1}),
    ("ExpectColumnValuesToBeInSet", {"column": "entry_mode", "value_set": list(model.ENTRY_MODES)}),
    ("ExpectColumnValuesToBeInSet", {"column": "recruitment_state", "value_set": list(model.RECRUITMENT_STATES)}),
    ("ExpectColumnValuesToNotBeNull", {"column": "workflow_publishable"}),
    ("ExpectColumnValuesToNotBeNull", {"column": "cancelled"}),
    # completeness, on the sessions of the sources that declare they fill the field
    (
        "ExpectColumnValuesToNotBeNull",
        {"column": "contact_name", "mostly": 0.9, **_of_sources(registry.filling("contact_name"))},
    ),
    (
        "ExpectColumnValuesToNotBeNull",
        {"column": "start_date", "mostly": 0.8, **_of_sources(registry.filling("start_date"))},
    ),
    ("ExpectColumnValuesToBeBetween", {"column": "places", "min_value": 0, "mostly": 1.0}),
)


@dataclass
class ContractResult:
    success: bool
    statistics: dict = field(default_factory=dict)
    # one dict per failed expectation: {"expectation", "column", "observed"}
    failed: list[dict] = field(default_factory=list)


def checked_columns() -> set[str]:
    """The columns whose values an expectation of the suite reads."""
    return {kw["column"] for _cls, kw in SESSION_EXPECTATIONS if "column" in kw}


def plain_frame(df: pd.DataFrame, columns: set[str] | None = None) -> pd.DataFrame:
    """A copy of ``df`` with numpy/object columns only (GX's pandas engine chokes on Arrow dtypes).

    ``columns``: only those are converted; the others (whose names only the table-level
    expectation reads) share one all-null placeholder, since a million rows of Python objects
    per column would cost gigabytes for nothing.

    Numbers become float64 (null -> NaN), everything else (strings, booleans, dates) object with
    ``None`` for null. Column-wise, vectorised.
    """
    cols = {}
    placeholder = None
    for name in df.columns:
        if columns is not None and name not in columns:
            if placeholder is None:
                placeholder = np.full(len(df), None, dtype=object)
            cols[name] = placeholder
            continue
        col = df[name]
        dtype = col.dtype
        if isinstance(dtype, pd.ArrowDtype):
            t = dtype.pyarrow_dtype
            if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
                cols[name] = col.to_numpy(dtype="float64", na_value=np.nan)
            else:
                cols[name] = col.to_numpy(dtype=object, na_value=None)
        elif isinstance(dtype, pd.api.extensions.ExtensionDtype):
            # pandas "str" (pyarrow-backed by default in pandas 3), Int64, boolean, category...
            if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
                cols[name] = col.to_numpy(dtype="float64", na_value=np.nan)
            else:
                cols[name] = col.astype(object).to_numpy(dtype=object, na_value=None)
        else:
            cols[name] = col.to_numpy()
    index = pd.RangeIndex(len(df))
    # explicit dtype: pandas 3 would infer its "str" dtype from an object array of strings
    return pd.DataFrame(
        {name: pd.Series(values, index=index, dtype=values.dtype, copy=False) for name, values in cols.items()},
        index=index,
        columns=list(df.columns),
    )


def run_session_contract(
    sessions: pd.DataFrame, docs_dir: Path | None = None, *, run_name: str | None = None
) -> ContractResult:
    """Validate ``sessions`` (``model.SESSIONS`` columns) against the contract suite.

    Never raises on bad data: a missing column makes its expectations fail (named in
    ``failed``). ``docs_dir``: where GX writes its Data Docs site and ``validation_result.json``.
    ``run_name``: the GX run name shown in Data Docs (e.g. the pipeline run id).
    """
    t0 = time.perf_counter()
    import great_expectations as gx  # lazy: heavy import
    import great_expectations.expectations as gxe
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import ProgressBarsConfig

    t_import = time.perf_counter() - t0

    frame = plain_frame(sessions, checked_columns())
    if "source" in frame.columns:
        frame[FAMILY] = frame["source"].map(lambda v: v.split(":", 1)[0] if isinstance(v, str) else v)

    t1 = time.perf_counter()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_pandas(name="passerelle")
    asset = source.add_dataframe_asset(name="core_sessions")
    batch_definition = asset.add_batch_definition_whole_dataframe("core_sessions_whole")

    suite = context.suites.add(gx.ExpectationSuite(name=SUITE_NAME))
    for class_name, kwargs in SESSION_EXPECTATIONS:
        suite.add_expectation(getattr(gxe, class_name)(**kwargs))

    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name="core_sessions_contract", data=batch_definition, suite=suite)
    )
    actions: list[Any] = []
    if docs_dir is not None:
        docs_dir = Path(docs_dir)
        docs_dir.mkdir(parents=True, exist_ok=True)
        site: Any = {
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir.resolve()),
            },
        }
        context.add_data_docs_site("passerelle_local", site)
        actions.append(gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=["passerelle_local"]))
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="core_sessions_checkpoint",
            validation_definitions=[validation],
            actions=actions,
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 10},
        )
    )
    run_id = RunIdentifier(run_name=run_name or "passerelle")
    try:
        checkpoint_result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=run_id)
    finally:
        # GX keeps its last context in a module-level project manager, and the context keeps
        # the batch (our frame: a gigabyte at a million sessions) until the next context
        # replaces it: let it go now.
        context.data_sources.delete(source.name)
        del frame
    t_validate = time.perf_counter() - t1

    (suite_result,) = checkpoint_result.run_results.values()
    failed = [_failure(r) for r in suite_result.results if not r.success]
    failed.sort(key=lambda f: (f["expectation"], f["column"] or ""))
    stats = dict(suite_result.statistics)
    stats.update(
        {
            "rows": int(len(sessions)),
            "import_seconds": round(t_import, 3),
            "validation_seconds": round(t_validate, 3),
        }
    )
    if docs_dir is not None:
        payload = suite_result.to_json_dict()
        (docs_dir / "validation_result.json").write_text(
            json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False, default=str), encoding="utf-8"
        )
    return ContractResult(success=bool(checkpoint_result.success), statistics=stats, failed=failed)


def _failure(result) -> dict:
    config = result.expectation_config
    column = config.kwargs.get("column")
    return {"expectation": config.type, "column": column, "observed": _observed(result)}


def _observed(result) -> str:
    info = result.exception_info or {}
    # GX 1.x: either {"raised_exception": ..., "exception_message": ...} or keyed by metric id
    infos = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    for item in infos:
        if item.get("raised_exception"):
            return f"exception: {item.get('exception_message')}"
    res = result.result or {}
    if "unexpected_count" in res:
        sample = res.get("partial_unexpected_list") or []
        sample = [None if isinstance(v, float) and np.isnan(v) else v for v in sample[:5]]
        return (
            f"{res['unexpected_count']} unexpected of {res.get('element_count')} rows "
            f"({res.get('unexpected_percent') or 0:.2f} %), e.g. {sample!r}"
        )
    if "observed_value" in res:
        mismatched = (res.get("details") or {}).get("mismatched")
        if mismatched:  # column set: name what is missing rather than list every column
            return "; ".join(f"{k}: {sorted(v)!r}" for k, v in sorted(mismatched.items()) if v)
        return f"observed {res['observed_value']!r}"
    return repr(res)
