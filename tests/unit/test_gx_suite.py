"""The GX contract on core_sessions (GX 1.x called directly, imported lazily)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from passerelle import model
from passerelle.quality.gx_suite import SESSION_EXPECTATIONS, plain_frame, run_session_contract


def good_sessions(n: int = 40) -> pd.DataFrame:
    """A conformed (Arrow-backed) sessions frame that honours the contract."""
    rng = np.random.default_rng(7)
    half = n // 2
    keys = [f"eos:{100000 + i}" for i in range(half)] + [
        f"sigma:23P0000{i:03d}_TEST_1:{i % 7 + 1:02d}:{i:02d}" for i in range(half, n)
    ]
    start = pd.Timestamp("2026-12-01") + pd.to_timedelta(rng.integers(0, 200, n), unit="D")
    df = pd.DataFrame(
        {
            "session_key": keys,
            "action_key": [k + ":a" for k in keys],
            "formation_key": [k + ":f" for k in keys],
            "source": ["eos"] * half + ["sigma"] * (n - half),
            "source_file": ["eos_20261119.csv"] * half + ["sigma_20261119.xlsx"] * (n - half),
            "source_sheet": [""] * half + ["Sessions"] * (n - half),
            "source_line": np.arange(2, n + 2, dtype="int32"),
            "title": [f"Formation {i}" for i in range(n)],
            "start_date": [d.date() for d in start],
            "end_date": [(d + pd.Timedelta(days=90)).date() for d in start],
            "entry_mode": (["fixed", "permanent", None] * n)[:n],
            "places": [None if i % 9 == 0 else int(i % 15) for i in range(n)],
            "workflow_publishable": [True] * n,
            "cancelled": [i % 11 == 0 for i in range(n)],
            "recruitment_state": (["open", "closed", "suspended", None] * n)[:n],
            "contact_name": [None if i == 3 else f"Contact {i}" for i in range(n)],
        }
    )
    return model.to_frame(model.conform(df, model.SESSIONS))


def failed_pairs(result) -> set[tuple[str, str | None]]:
    return {(f["expectation"], f["column"]) for f in result.failed}


def test_good_frame_passes_and_writes_data_docs(tmp_path):
    df = good_sessions()
    assert isinstance(df["session_key"].dtype, pd.ArrowDtype)  # Arrow-backed, as the pipeline holds it
    docs = tmp_path / "quality" / "gx"
    result = run_session_contract(df, docs)
    assert result.success, result.failed
    assert result.failed == []
    assert result.statistics["evaluated_expectations"] == len(SESSION_EXPECTATIONS)
    assert result.statistics["unsuccessful_expectations"] == 0
    assert result.statistics["rows"] == len(df)
    assert (docs / "index.html").is_file()
    assert list((docs / "validations").rglob("*.html")), "GX validation page not written"
    payload = json.loads((docs / "validation_result.json").read_text(encoding="utf-8"))
    assert payload["success"] is True


def test_empty_frame_passes():
    result = run_session_contract(model.empty_frame(model.SESSIONS), None)
    assert result.success, result.failed


def test_duplicate_keys_fail():
    df = good_sessions()
    df.loc[5, "session_key"] = df.loc[4, "session_key"]
    result = run_session_contract(df, None)
    assert not result.success
    assert ("expect_column_values_to_be_unique", "session_key") in failed_pairs(result)
    failure = next(f for f in result.failed if f["expectation"] == "expect_column_values_to_be_unique")
    assert "2 unexpected" in failure["observed"] and "eos:100004" in failure["observed"]


def test_bad_source_value_fails():
    df = good_sessions()
    df["source"] = df["source"].astype(object)
    df.loc[0, "source"] = "edof"
    result = run_session_contract(df, None)
    assert not result.success
    assert ("expect_column_values_to_match_regex", "source") in failed_pairs(result)
    failure = next(f for f in result.failed if f["column"] == "source")
    assert "edof" in failure["observed"]


def test_missing_column_fails_and_names_it():
    df = good_sessions().drop(columns=["cancelled"])
    result = run_session_contract(df, None)
    assert not result.success
    pairs = failed_pairs(result)
    assert ("expect_table_columns_to_match_set", None) in pairs
    assert ("expect_column_values_to_not_be_null", "cancelled") in pairs
    failure = next(f for f in result.failed if f["expectation"] == "expect_table_columns_to_match_set")
    assert "cancelled" in failure["observed"] and "missing" in failure["observed"]


@pytest.mark.parametrize(
    "column, value, expectation",
    [
        ("session_key", "eos:12a", "expect_column_values_to_match_regex"),
        ("session_key", "sigma:A:01", "expect_column_values_to_match_regex"),
        ("entry_mode", "Entrées/Sorties fixes", "expect_column_values_to_be_in_set"),
        ("recruitment_state", "Ouvert", "expect_column_values_to_be_in_set"),
        ("places", -1, "expect_column_values_to_be_between"),
        ("source_line", 0, "expect_column_values_to_be_between"),
    ],
)
def test_single_bad_value_fails(column, value, expectation):
    df = good_sessions()
    df[column] = df[column].astype(object)
    df.loc[1, column] = value
    result = run_session_contract(df, None)
    assert not result.success
    assert (expectation, column) in failed_pairs(result)
    assert len(result.failed) == 1, result.failed


def test_null_workflow_flag_fails():
    df = good_sessions()
    df["workflow_publishable"] = df["workflow_publishable"].astype(object)
    df.loc[2, "workflow_publishable"] = None
    result = run_session_contract(df, None)
    assert ("expect_column_values_to_not_be_null", "workflow_publishable") in failed_pairs(result)


def test_completeness_thresholds():
    df = good_sessions(40)
    df["contact_name"] = df["contact_name"].astype(object)
    df.loc[:3, "contact_name"] = None  # 4 / 40 = 10 % missing: still >= 90 % present
    assert run_session_contract(df, None).success
    df.loc[:5, "contact_name"] = None  # 6 / 40 = 15 % missing
    result = run_session_contract(df, None)
    assert failed_pairs(result) == {("expect_column_values_to_not_be_null", "contact_name")}

    df = good_sessions(40)
    df["start_date"] = df["start_date"].astype(object)
    df.loc[:9, "start_date"] = None  # 25 % missing > 20 % allowed
    assert failed_pairs(run_session_contract(df, None)) == {("expect_column_values_to_not_be_null", "start_date")}


def test_plain_frame_drops_arrow_dtypes():
    df = good_sessions(10)
    plain = plain_frame(df)
    assert list(plain.columns) == list(df.columns)
    assert not any(isinstance(t, pd.ArrowDtype) for t in plain.dtypes)
    assert plain["places"].dtype == "float64" and np.isnan(plain.loc[0, "places"])
    assert plain.loc[0, "entry_mode"] == "fixed" and plain.loc[2, "entry_mode"] is None
    assert plain.loc[0, "cancelled"] is True or plain.loc[0, "cancelled"] == True  # noqa: E712


def test_module_import_does_not_import_gx():
    code = (
        "import sys, passerelle.quality.gx_suite as m; "
        "bad = sorted(k for k in sys.modules if k.split('.')[0] == 'great_expectations'); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_plain_frame_converts_only_the_checked_columns():
    from passerelle.quality.gx_suite import checked_columns

    df = good_sessions(10)
    checked = checked_columns()
    assert {"session_key", "places", "start_date"} <= checked and "title" not in checked
    plain = plain_frame(df, checked)
    assert list(plain.columns) == list(df.columns)
    assert plain["title"].isna().all()  # a placeholder: no expectation reads its values
    assert plain.loc[0, "session_key"] == df.loc[0, "session_key"]


def test_the_contract_does_not_keep_the_frame_it_validated():
    """GX keeps its last context in a module global; the context must not keep our batch
    (at a million sessions, a gigabyte of Python objects for the rest of the run)."""
    import gc

    df = good_sessions(10)
    before = {id(o) for o in gc.get_objects() if isinstance(o, pd.DataFrame)}
    assert run_session_contract(df).success
    gc.collect()
    left = [o.shape for o in gc.get_objects() if isinstance(o, pd.DataFrame) and id(o) not in before]
    assert left == []
