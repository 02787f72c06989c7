"""A whole run in one process does not keep every step's output until it ends: the tables go
through the spilling IO manager, and the execution does not capture outputs
(``pipelines/execution.py``, ``pipelines/io_managers.py``). At national size this is what
keeps a run under its memory target; here it is checked on the sample inbox."""

from __future__ import annotations

import gc
import weakref
from datetime import date
from pathlib import Path

import pandas as pd

import passerelle.cli as cli
from pipelines.io_managers import SpillingIOManager

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"
DAY1 = date(2026, 11, 19)


class RecordingIOManager(SpillingIOManager):
    """Remembers (weakly) every table handed to it, and where it was spilled."""

    def handle_output(self, context, obj):
        super().handle_output(context, obj)
        if isinstance(obj, pd.DataFrame):
            RECORDED.append((tuple(context.get_asset_identifier()), weakref.ref(obj)))
            SPILLED.append(self._path(tuple(context.get_asset_identifier())).is_file())


RECORDED: list = []
SPILLED: list = []


def test_step_outputs_are_spilled_and_not_kept_by_the_run(tmp_path, monkeypatch):
    import pipelines.io_managers

    RECORDED.clear()
    SPILLED.clear()
    monkeypatch.setattr(pipelines.io_managers, "SpillingIOManager", RecordingIOManager)
    result = cli.run_daily(SAMPLES, tmp_path / "out", DAY1)
    assert result.success
    names = {key[0] for key, _ref in RECORDED}
    assert {"core_sessions", "core_events", "core_findings", "core_formations"} <= names
    assert all(SPILLED)  # each table was on disk when the step ended
    gc.collect()
    alive = [key for key, ref in RECORDED if ref() is not None]
    assert alive == [], f"tables still referenced after their steps: {alive}"  # the run result holds none
    assert not (tmp_path / "out" / cli.SPILL_DIR).exists()  # the spill folder went with the run


def test_spilled_tables_come_back_equal(tmp_path):
    from datetime import date as day

    import pyarrow as pa
    from dagster import build_input_context, build_output_context

    from passerelle.publishable import Publication

    manager = SpillingIOManager(base_dir=str(tmp_path / "spill"))
    arrow = pd.DataFrame(
        {
            "session_key": pd.Series(["a", "b", None], dtype=pd.ArrowDtype(pa.string())),
            "title": pd.Series(["Maçon", None, "x"], dtype="string"),  # pandas' own string dtype
            "label": pd.Series(["u", "v", "w"], dtype="str"),
            "start_date": pd.Series([day(2026, 1, 2), None, day(2027, 3, 4)], dtype=pd.ArrowDtype(pa.date32())),
            "places": pd.Series([1, None, 3], dtype=pd.ArrowDtype(pa.int32())),
        }
    )
    plain = pd.DataFrame({"key": ["a", "b"], "hours": [1.5, float("nan")], "when": [day(2026, 1, 1), None]})
    manager.handle_output(build_output_context(asset_key=["core_sessions"]), arrow)
    assert sorted(p.name for p in (tmp_path / "spill").iterdir()) == ["core_sessions.0.arrow", "core_sessions.pickle"]
    back = manager.load_input(build_input_context(asset_key=["core_sessions"]))
    pd.testing.assert_frame_equal(back, arrow, check_exact=True)
    assert list(back.dtypes) == list(arrow.dtypes)

    pub = Publication(arrow, plain, arrow.iloc[:0], plain.iloc[:1], plain, {"read": 3})
    manager.handle_output(build_output_context(asset_key=["core_publishable"]), pub)
    again = manager.load_input(build_input_context(asset_key=["core_publishable"]))
    pd.testing.assert_frame_equal(again.sessions, arrow)
    pd.testing.assert_frame_equal(again.events, plain)  # not Arrow-backed: inside the pickle
    pd.testing.assert_frame_equal(again.formations, arrow.iloc[:0])
    assert again.counts == {"read": 3}

    manager.handle_output(build_output_context(asset_key=["raw_read"]), {"small": 1})
    assert manager.load_input(build_input_context(asset_key=["raw_read"])) == {"small": 1}  # kept in memory
    assert not (tmp_path / "spill" / "raw_read.pickle").exists()
