"""Round trip through the daily job: our samples run, the Carif and Pôle emploi feeds of the day
are dropped in an inbox as ``lheo_passerelle_<date>.xml``, read by the LHEO source, and written
again by our LHEO writer (same profile): the same formations, actions and sessions come out (the
helpers and the one documented difference are in ``tests/unit/test_lheo_source.py``)."""

from __future__ import annotations

from lxml import etree

from tests.integration.runs import DAY1, DAY2, SAMPLES, run_in_process
from tests.unit.test_lheo_source import _assert_same_feed, _round_trip


def test_the_carif_feed_of_a_daily_run_reads_back_into_the_same_feed(tmp_path):
    out = tmp_path / "out"
    for day in (DAY1, DAY2):
        assert run_in_process(SAMPLES, out, day) == 0
        for profile, feed in (
            ("carif", out / day.isoformat() / "carif" / f"lheo-{day.isoformat()}.xml"),
            ("pole_emploi", out / day.isoformat() / "pole-emploi" / f"offres-{day.isoformat()}.xml"),
        ):
            work = tmp_path / day.isoformat() / profile
            work.mkdir(parents=True)
            written, res = _round_trip(work, feed, day, profile)
            sessions = etree.parse(str(feed)).xpath("//*[local-name()='session']")
            assert len(res.tables["sessions"]) == len(sessions) > 0
            _assert_same_feed(feed, written)
