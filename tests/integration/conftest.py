"""Fixtures of the end-to-end tests.

``two_sample_days``: ``passerelle run`` on the sample inbox, day 1 then day 2 (like ``make demo``);
``published_template``: an output folder where the real daily job published the two sample days
and the day after (``passerelle run`` on ``data/samples``, SQLite store inside; on 2026-11-21
nothing moved, so its delta is withheld), made once per session;
``published``: a copy of it for one test (delivery tests change the store and the folders).
"""

from __future__ import annotations

import shutil

import pytest

from passerelle.cli import main
from tests.integration.runs import DAY1, DAY2, DAY3, SAMPLES, cli_args


@pytest.fixture(scope="session")
def published_template(tmp_path_factory):
    out = tmp_path_factory.mktemp("published")
    for day in (DAY1, DAY2, DAY3):
        assert main(cli_args(SAMPLES, out, day, "", "--deliveries", "")) == 0  # none, whatever the environment
    return out


@pytest.fixture
def published(published_template, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(published_template, out)
    return out


@pytest.fixture(scope="session")
def two_sample_days(tmp_path_factory):
    """``passerelle run`` on the sample inbox, day 1 then day 2 (like ``make demo``); the output folder."""
    out = tmp_path_factory.mktemp("two-days")
    for day in (DAY1, DAY2):
        assert main(cli_args(SAMPLES, out, day, "", "--deliveries", "")) == 0
    return out
