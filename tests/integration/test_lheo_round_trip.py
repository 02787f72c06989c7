"""Round trip through the daily job: our samples run, the Carif feed of the day is dropped in an
inbox as ``lheo_passerelle_<date>.xml``, read by the LHEO source, and written again by our LHEO
writer: the same formations, actions and sessions come out (the helpers and the one documented
difference are in ``tests/unit/test_lheo_source.py``)."""

from __future__ import annotations

from lxml import etree

from tests.integration.runs import DAY1, DAY2, SAMPLES, run_in_process
from tests.unit.test_lheo_source import _assert_same_feed, _round_trip


def test_the_carif_feed_of_a_daily_run_reads_back_into_the_same_feed(tmp_path):
    out = tmp_path / "out"
    for day in (DAY1, DAY2):
        assert run_in_process(SAMPLES, out, day) == 0
        feed = out / day.isoformat() / "carif" / f"lheo-{day.isoformat()}.xml"
        work = tmp_path / day.isoformat()
        work.mkdir()
        written, res = _round_trip(work, feed, day, "carif")
        assert len(res.tables["sessions"]) == len(etree.parse(str(feed)).xpath("//*[local-name()='session']")) > 0
        _assert_same_feed(feed, written)
