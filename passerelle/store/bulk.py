"""Bulk moves between pyarrow arrays and the database, never one round trip per row.

Writing: ``COPY … FROM STDIN`` on PostgreSQL (psycopg), ``executemany`` on SQLite (a C loop of
the sqlite3 module), both on the DBAPI connection under a SQLAlchemy connection and therefore
inside its transaction. Rows are produced chunk by chunk from Arrow arrays, so a million
payloads never exist as Python objects all at once.

Joining against a long list of keys: the keys are loaded into a temporary table created and
dropped inside the caller's transaction (DDL is transactional on both databases; on SQLite
thanks to the BEGIN handling of :mod:`passerelle.store.db`), and the database joins on its
primary-key index. Long IN-lists are slow to build and SQLite does not use an index for a
row-value ``(a, b) IN (VALUES …)``.

Table and column names below are constants of this package, never user input.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

CHUNK_ROWS = 50_000  # rows turned into Python objects at a time

ArrowColumn: TypeAlias = pa.Array | pa.ChunkedArray


# --- from DataFrames to validated Arrow arrays -------------------------------------------------


def require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; columns given: {list(frame.columns)}")


def text_array(frame: pd.DataFrame, column: str, what: str) -> ArrowColumn:
    """The column as an Arrow string array; empty values and non-text refused."""
    if not len(frame):
        return pa.array([], pa.string())
    try:
        array = pa.array(frame[column], from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValueError(f"{what}: column {column!r} must hold text ({exc})") from exc
    if array.null_count:
        raise ValueError(f"{what}: column {column!r} has {array.null_count} empty value(s)")
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        raise ValueError(f"{what}: column {column!r} must hold text, got {array.type}")
    return array


def date_array(frame: pd.DataFrame, column: str, what: str) -> ArrowColumn:
    """The column as an Arrow date32 array (nulls kept), from dates, datetimes or ISO strings."""
    if not len(frame):
        return pa.array([], pa.date32())
    series = frame[column]
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_localize(None)  # the local calendar date
    try:
        array = pa.array(series, from_pandas=True)
        if pa.types.is_null(array.type):
            return pa.nulls(len(array), pa.date32())
        if pa.types.is_timestamp(array.type):
            return array.cast(pa.date32(), safe=False)
        return array.cast(pa.date32())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise ValueError(f"{what}: column {column!r} must hold dates ({exc})") from exc


def first_positions(keys: ArrowColumn, hashes: ArrowColumn) -> pa.Array:
    """Ascending positions of the first occurrence of each (key, hash) pair."""
    table = pa.table({"k": keys, "h": hashes, "pos": pa.array(np.arange(len(keys), dtype=np.int64))})
    firsts = table.group_by(["k", "h"], use_threads=False).aggregate([("pos", "min")]).column("pos_min")
    return pc.take(firsts, pc.sort_indices(firsts)).combine_chunks()


def rows(arrays: Sequence[ArrowColumn], chunk: int = CHUNK_ROWS) -> Iterator[tuple]:
    """Row tuples from equally long arrays, materialised ``chunk`` rows at a time."""
    length = len(arrays[0]) if arrays else 0
    for start in range(0, length, chunk):
        yield from zip(*(a.slice(start, chunk).to_pylist() for a in arrays))


def frame_from_rows(records: list[tuple], columns: dict[str, pa.DataType]) -> pd.DataFrame:
    """Rows from the driver as a DataFrame with Arrow-backed dtypes.

    Dates come back as ``datetime.date`` (PostgreSQL) or ``'YYYY-MM-DD'`` text (SQLite):
    both are converted column-wise.
    """
    values = list(zip(*records)) if records else [() for _ in columns]
    arrays = {}
    for (name, typ), column in zip(columns.items(), values):
        if pa.types.is_date32(typ):
            array = pa.array(list(column))
            arrays[name] = array.cast(pa.date32()) if len(array) else pa.array([], pa.date32())
        else:
            arrays[name] = pa.array(list(column), type=typ)
    return pa.table(arrays).to_pandas(types_mapper=pd.ArrowDtype)


# --- on the DBAPI connection -------------------------------------------------------------------


def _raw(conn: sa.Connection) -> Any:
    return conn.connection.dbapi_connection


@contextmanager
def _cursor(conn: sa.Connection, sql: str) -> Iterator[Any]:
    """A DBAPI cursor whose driver errors come out as SQLAlchemy's (IntegrityError...), like
    those of ``conn.execute``."""
    dbapi_error = conn.dialect.loaded_dbapi.Error
    cursor = _raw(conn).cursor()
    try:
        yield cursor
    except dbapi_error as exc:
        raise sa.exc.DBAPIError.instance(sql, None, exc, dbapi_error) from exc
    finally:
        cursor.close()


def placeholder(conn: sa.Connection) -> str:
    """The positional parameter mark of the driver (sqlite3: ``?``, psycopg: ``%s``)."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def execute(conn: sa.Connection, sql: str, params: Sequence[Any] = ()) -> None:
    with _cursor(conn, sql) as cursor:
        cursor.execute(sql, tuple(params))


def fetch(conn: sa.Connection, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    """All rows of a query, as plain tuples straight from the driver (no per-row processing)."""
    with _cursor(conn, sql) as cursor:
        cursor.execute(sql, tuple(params))
        return cursor.fetchall()


def load(
    conn: sa.Connection,
    table: str,
    columns: Sequence[str],
    arrays: Sequence[ArrowColumn],
    *,
    skip_conflicts_on: Sequence[str] | None = None,
) -> None:
    """Insert the rows of ``arrays`` into ``table``.

    ``skip_conflicts_on``: the unique key; rows whose key is already stored are skipped
    (``ON CONFLICT (...) DO NOTHING``; on PostgreSQL through a staging temporary table, since
    COPY itself cannot skip).
    """
    if not arrays or not len(arrays[0]):
        return
    names = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        if skip_conflicts_on:
            stage = f"passerelle_stage_{table}"
            execute(conn, f"CREATE TEMPORARY TABLE {stage} (LIKE {table})")
            _copy(conn, stage, columns, arrays)
            execute(
                conn,
                f"INSERT INTO {table} ({names}) SELECT {names} FROM {stage} "
                f"ON CONFLICT ({', '.join(skip_conflicts_on)}) DO NOTHING",
            )
            execute(conn, f"DROP TABLE {stage}")
        else:
            _copy(conn, table, columns, arrays)
        return
    # SQLite stores dates as 'YYYY-MM-DD' text (what SQLAlchemy's Date type reads back)
    arrays = [a.cast(pa.string()) if pa.types.is_date32(a.type) else a for a in arrays]
    marks = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"
    if skip_conflicts_on:
        sql += f" ON CONFLICT ({', '.join(skip_conflicts_on)}) DO NOTHING"
    with _cursor(conn, sql) as cursor:
        cursor.executemany(sql, rows(arrays))


def _copy(conn: sa.Connection, table: str, columns: Sequence[str], arrays: Sequence[ArrowColumn]) -> None:
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with _cursor(conn, sql) as cursor, cursor.copy(sql) as copy:
        for row in rows(arrays):
            copy.write_row(row)


def create_temp_table(conn: sa.Connection, name: str, columns_sql: str) -> None:
    """A temporary table for the current transaction; drop it with :func:`drop_temp_table`
    (a rollback drops it too)."""
    execute(conn, f"CREATE TEMPORARY TABLE {name} ({columns_sql})")


def drop_temp_table(conn: sa.Connection, name: str) -> None:
    execute(conn, f"DROP TABLE {name}")


def analyze(conn: sa.Connection, table: str) -> None:
    """Give PostgreSQL's planner the size of a freshly loaded temporary table."""
    if conn.dialect.name == "postgresql":
        execute(conn, f"ANALYZE {table}")
