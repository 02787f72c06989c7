"""The IO manager of whole-job runs in one process (``passerelle run``, the tests).

With the in-process executor every step of the daily job runs in the run's process. Dagster's
``mem_io_manager`` keeps every output until the run ends: at national size the canonical
tables, the findings and the publication, all at once, gigabytes more than any step needs.
:class:`SpillingIOManager` writes the tables (pandas DataFrames, and any object holding some,
such as the publication) into a folder of the run and loads them again for each step that
reads them, so a step holds its own inputs only (see also ``pipelines/execution.py``: the run
itself must not keep the outputs either).

How: the object is pickled; every DataFrame inside it whose columns are all Arrow-backed goes
to an Arrow IPC file of its own instead (written from the Arrow buffers as they are, read back
memory-mapped: no copy either way; a pickle would copy every buffer once more while writing);
other DataFrames stay inside the pickle. Small objects (extract reads, the day context, feed
results) are kept in memory as they are: the raw extract reads, whose records ``core_tables``
releases once the canonical tables hold them, are shared.

The deployed code location keeps Dagster's ``FilesystemIOManager`` (``pipelines/definitions.py``):
a run launched from the UI for a few assets loads its inputs from earlier runs.
"""

from __future__ import annotations

import io
import itertools
import os
import pickle
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from dagster import ConfigurableIOManager, InputContext, OutputContext
from pydantic import PrivateAttr

from passerelle.publishable import Publication

SPILLED_TYPES = (pd.DataFrame, Publication)


def _arrow_backed(df: pd.DataFrame) -> bool:
    return (
        all(
            isinstance(t, pd.ArrowDtype) or (isinstance(t, pd.StringDtype) and t.storage == "pyarrow")
            for t in df.dtypes
        )
        and df.columns.is_unique
        and all(isinstance(c, str) for c in df.columns)
    )


class _Pickler(pickle.Pickler):
    def __init__(self, fh, folder: Path, stem: str):
        super().__init__(fh, protocol=5)
        self._folder, self._stem, self._count = folder, stem, itertools.count()

    def persistent_id(self, obj):
        if isinstance(obj, pd.DataFrame) and len(obj.columns) and _arrow_backed(obj):
            path = self._folder / f"{self._stem}.{next(self._count)}.arrow"
            table = pa.Table.from_pandas(obj, preserve_index=None)
            with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
            return ("arrow", path.name, dict(obj.dtypes))
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, fh, folder: Path):
        super().__init__(fh)
        self._folder = folder

    def persistent_load(self, pid):
        kind, name, dtypes = pid
        if kind != "arrow":
            raise pickle.UnpicklingError(f"unknown spilled object {kind!r}")
        table = pa.ipc.open_file(pa.memory_map(str(self._folder / name))).read_all()
        df = table.to_pandas(types_mapper=pd.ArrowDtype)  # Arrow columns wrapped, not copied
        for column, dtype in dtypes.items():
            if df[column].dtype != dtype:  # pandas' own string dtype, also over Arrow
                df[column] = df[column].astype(dtype)
        return df


def spill(obj: Any, folder: Path, stem: str) -> None:
    """Write ``obj`` as ``<folder>/<stem>.pickle`` (+ ``<stem>.<n>.arrow`` for its tables)."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{stem}.*.arrow"):
        old.unlink()
    buf = io.BytesIO()
    _Pickler(buf, folder, stem).dump(obj)
    tmp = folder / f"{stem}.pickle.tmp"
    tmp.write_bytes(buf.getbuffer())
    os.replace(tmp, folder / f"{stem}.pickle")


def unspill(folder: Path, stem: str) -> Any:
    with open(folder / f"{stem}.pickle", "rb") as fh:
        return _Unpickler(fh, folder).load()


class SpillingIOManager(ConfigurableIOManager):
    """Tables to ``base_dir`` (per asset and partition), the rest in memory."""

    base_dir: str
    _values: dict = PrivateAttr(default_factory=dict)

    def _key(self, context: OutputContext | InputContext) -> tuple[str, ...]:
        return tuple(context.get_asset_identifier())

    def _where(self, key: tuple[str, ...]) -> tuple[Path, str]:
        path = Path(self.base_dir, *key)
        return path.parent, path.name

    def _path(self, key: tuple[str, ...]) -> Path:
        folder, stem = self._where(key)
        return folder / f"{stem}.pickle"

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        key = self._key(context)
        if isinstance(obj, SPILLED_TYPES):
            spill(obj, *self._where(key))
            self._values.pop(key, None)
        else:
            self._values[key] = obj

    def load_input(self, context: InputContext) -> Any:
        key = self._key(context)
        if key in self._values:
            return self._values[key]
        return unspill(*self._where(key))
