"""passerelle.bench: the table of results says whether each target is met."""

from __future__ import annotations

import pytest

from passerelle.bench import RSS_TARGET_MB, STAGES, TARGETS, markdown


def _size(n: int, run: float, floor: float, whole_rss: float, runs: list[float], floors: list[float]) -> dict:
    return {
        "sessions": n,
        "measured_at": "2026-12-06T19:31:00+00:00",
        "run_seconds": run,
        "floor_seconds": floor,
        "ratio": round(run / floor, 2),
        "target_ratio": TARGETS.get(n),
        "target_rss_mb": RSS_TARGET_MB.get(n),
        "peak_rss_mb": whole_rss - 300,
        "whole_peak_rss_mb": whole_rss,
        "validation_workers_peak_rss_mb": 300,
        "stages": {step: 1.0 for step, _ in STAGES},
        "feed_seconds": {"carif": {"write_seconds": 2.0}},
        "rss_after_step_mb": {"core_tables": 500},
        "rss_peak_in_step_mb": {"core_tables": 700},
        "floor": {"read SAM (lxml)": floor},
        "feeds_bytes": {"carif/lheo-2026-11-19.xml": 22_000_000},
        "inputs_bytes": {"sam_offre_20261119.xml": 1_000_000},
        "all_run_seconds": runs,
        "all_floor_seconds": floors,
    }


def _summary(text: str) -> dict[str, str]:
    rows = {}
    for line in text.split("## Seconds per stage")[0].splitlines():
        if line.startswith("| ") and not line.startswith("| |"):
            label, *cells = [c.strip() for c in line.strip("|").split("|")]
            rows[label] = cells
    return rows


def test_targets_met_and_missed_are_said_per_size():
    results = {
        "machine": {"cpus": 2, "python": "3.11.7", "system": "Linux x86_64"},
        "sizes": {
            "10000": _size(10_000, 13.0, 1.7, 669, [13.0, 13.8], [1.7, 1.8]),
            "100000": _size(100_000, 33.5, 20.7, 1187, [38.6, 33.5], [21.3, 20.7]),
            "1000000": _size(1_000_000, 450.0, 200.0, 4500, [450.0], [200.0]),
        },
    }
    rows = _summary(markdown(results))
    ratio = rows["**run / floor**"]
    assert ratio[0] == "**7.65**"  # no target at 10k
    assert ratio[1] == "**1.62** (target ≤ 3: met)"
    assert ratio[2] == "**2.25** (target ≤ 2: NOT met)"
    rss = rows["peak RSS, run process + validation workers (MB)"]
    assert rss[0] == "669" and rss[2] == "4 500 (target < 4096: NOT met)"
    assert rows["every measurement: runs / floors (s)"][1] == "38.6, 33.5 / 21.3, 20.7"


def test_memory_target_met_below_the_limit():
    results = {
        "machine": {"cpus": 2, "python": "3.11.7", "system": "Linux x86_64"},
        "sizes": {
            "1000000": _size(1_000_000, 308.3, 192.8, 3130, [308.3], [192.8]),
        },
    }
    rows = _summary(markdown(results))
    assert rows["**run / floor**"] == ["**1.60** (target ≤ 2: met)"]
    assert rows["peak RSS, run process + validation workers (MB)"] == ["3 130 (target < 4096: met)"]


def test_measurements_per_size_default_override_and_refusal():
    from passerelle.bench import repeats

    assert repeats(10_000) == 3 and repeats(100_000) == 3 and repeats(1_000_000) == 1
    assert repeats(1_000_000, env="2") == 2
    assert repeats(10_000, asked=1, env="5") == 1  # the flag wins over the environment
    for bad in ({"asked": 0}, {"asked": -2}, {"env": "abc"}, {"env": "0"}):
        with pytest.raises(SystemExit, match="bench"):
            repeats(10_000, **bad)
