"""model.conform: exact schema, Arrow buffers reused, missing values the pandas way."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from passerelle import model

SCHEMA = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("hours", pa.float64()),
        pa.field("places", pa.int32()),
        pa.field("note", pa.string()),
    ]
)


def test_arrow_float_columns_keep_their_values_and_nan_is_missing():
    df = pd.DataFrame(
        {
            "key": pd.Series(["a", "b", "c", "d"], dtype=pd.ArrowDtype(pa.string())),
            "hours": pd.Series(pa.array([1.5, np.nan, None, -2.0]), dtype=pd.ArrowDtype(pa.float64())),
            "places": pd.Series([1.0, None, 3.0, 4.0], dtype=pd.ArrowDtype(pa.float64())),  # cast to int32
        }
    )
    table = model.conform(df, SCHEMA)
    assert table.schema == SCHEMA
    assert table.column("hours").to_pylist() == [1.5, None, None, -2.0]
    assert table.column("places").to_pylist() == [1, None, 3, 4]
    assert table.column("note").null_count == 4  # missing nullable column: nulls


def test_numpy_float_columns_too():
    df = pd.DataFrame({"key": ["a", "b"], "hours": [np.nan, 2.5]})
    assert model.conform(df, SCHEMA).column("hours").to_pylist() == [None, 2.5]


def test_single_chunk_string_columns_are_not_copied():
    values = pa.array(["x" * 100] * 1000)
    df = pd.DataFrame({"key": pd.Series(pd.arrays.ArrowExtensionArray(values))})
    column = model.conform(df, SCHEMA).column("key")
    assert column.chunk(0).buffers()[2].address == values.buffers()[2].address


def test_refusals_name_the_column():
    with pytest.raises(ValueError, match="key"):
        model.conform(pd.DataFrame({"key": pd.Series([None, "b"], dtype="string")}), SCHEMA)
    with pytest.raises(ValueError, match="extra"):
        model.conform(pd.DataFrame({"key": ["a"], "extra": [1]}), SCHEMA)
