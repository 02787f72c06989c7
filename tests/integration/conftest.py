"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest

from passerelle.cli import main
from tests.integration.runs import DAY1, DAY2, SAMPLES, cli_args


@pytest.fixture(scope="session")
def two_sample_days(tmp_path_factory):
    """``passerelle run`` on the sample inbox, day 1 then day 2 (like ``make demo``); the output folder."""
    out = tmp_path_factory.mktemp("two-days")
    for day in (DAY1, DAY2):
        assert main(cli_args(SAMPLES, out, day)) == 0
    return out
