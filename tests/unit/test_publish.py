"""passerelle.feeds.publish: atomic move of a day folder, with simulated crashes at each point."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from passerelle.feeds import publish
from passerelle.feeds.publish import clean_stale_staging, commit, day_dir, exchange, recover, staging_dir

D = date(2026, 11, 20)


class Crash(Exception):
    pass


def _crash_at(point: str):
    def hook(reached: str) -> None:
        if reached == point:
            raise Crash(point)

    return hook


def _stage(out: Path, run_id: str, content: str) -> Path:
    staging = staging_dir(out, D, run_id)
    (staging / "carif").mkdir(parents=True)
    (staging / "carif" / "lheo.xml").write_text(content)
    (staging / "manifest.json").write_text(f'{{"run": "{content}"}}')
    return staging


def _tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


OLD = {"carif/lheo.xml": "old", "manifest.json": '{"run": "old"}'}
NEW = {"carif/lheo.xml": "new", "manifest.json": '{"run": "new"}'}


@pytest.fixture
def out(tmp_path) -> Path:
    out = tmp_path / "out"
    commit(_stage(out, "run-old", "old"), out, D)
    assert _tree(day_dir(out, D)) == OLD
    return out


def test_exchange_swaps_two_folders(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "x").write_text("a")
    (b / "y").write_text("b")
    if not exchange(a, b):
        pytest.skip("no atomic exchange on this platform")
    assert [p.name for p in a.iterdir()] == ["y"] and [p.name for p in b.iterdir()] == ["x"]
    with pytest.raises(OSError):
        exchange(a, tmp_path / "missing")


def test_first_publication_and_republication(out):
    staging = _stage(out, "run-new", "new")
    assert commit(staging, out, D) == day_dir(out, D)
    assert _tree(day_dir(out, D)) == NEW
    assert not staging.exists()
    assert not (out / publish.TRASH).exists() or not any((out / publish.TRASH).iterdir())


@pytest.mark.parametrize("point", ["before-fsync", "before-swap"])
def test_crash_before_the_swap_leaves_the_old_folder(out, point):
    with pytest.raises(Crash):
        commit(_stage(out, "run-new", "new"), out, D, crash_hook=_crash_at(point))
    assert _tree(day_dir(out, D)) == OLD
    clean_stale_staging(out, D)
    assert not any((out / publish.STAGING).iterdir())


def test_crash_after_the_atomic_exchange_leaves_the_new_folder(out):
    if publish._renameat2() is None:
        pytest.skip("no atomic exchange on this platform")
    staging = _stage(out, "run-new", "new")
    with pytest.raises(Crash):
        commit(staging, out, D, crash_hook=_crash_at("after-swap"))
    assert _tree(day_dir(out, D)) == NEW
    assert _tree(staging) == OLD  # the old folder waits at the staging path
    assert not recover(out, D)
    clean_stale_staging(out, D)
    assert not staging.exists() and _tree(day_dir(out, D)) == NEW


def test_fallback_two_renames_crash_between_them_is_recovered(out, monkeypatch):
    monkeypatch.setattr(publish, "exchange", lambda a, b: False)  # a platform without renameat2
    with pytest.raises(Crash):
        commit(_stage(out, "run-new", "new"), out, D, crash_hook=_crash_at("between-renames"))
    assert not day_dir(out, D).exists()  # the window the exchange closes on Linux
    assert recover(out, D) is True
    assert _tree(day_dir(out, D)) == OLD
    # the next run then publishes normally
    commit(_stage(out, "run-next", "new"), out, D)
    assert _tree(day_dir(out, D)) == NEW


def test_fallback_crash_after_swap_keeps_the_new_folder(out, monkeypatch):
    monkeypatch.setattr(publish, "exchange", lambda a, b: False)
    with pytest.raises(Crash):
        commit(_stage(out, "run-new", "new"), out, D, crash_hook=_crash_at("after-swap"))
    assert _tree(day_dir(out, D)) == NEW
    assert recover(out, D) is False  # the old copy in .trash is only deleted
    assert not any((out / publish.TRASH).iterdir())
    assert _tree(day_dir(out, D)) == NEW


def test_exchange_unavailable_falls_back(monkeypatch, tmp_path):
    monkeypatch.setattr(publish, "_exchange_fn", False)
    assert exchange(tmp_path, tmp_path) is False
