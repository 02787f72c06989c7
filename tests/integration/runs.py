"""Helpers for the end-to-end robustness tests: runs in a subprocess or in process, folder
fingerprints, manifest and store checks."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from passerelle.cli import main
from passerelle.store import open_store
from passerelle.store.db import default_store_url

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"
DAY1, DAY2 = date(2026, 11, 19), date(2026, 11, 20)
DAY3 = date(2026, 11, 21)  # the day-2 extracts again: nothing moved, no delta published


def store_url(out: Path, db: str = "") -> str:
    return db or default_store_url(out)


def cli_args(inbox: Path, out: Path, day: date, db: str = "", *extra: str) -> list[str]:
    args = ["run", "--inbox", str(inbox), "--out", str(out), "--date", day.isoformat(), "--quiet", *extra]
    return args + (["--db", db] if db else [])


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASSERELLE_")}
    env.update(extra)
    return env


def run_subprocess(
    inbox: Path, out: Path, day: date, db: str = "", *extra: str, env: dict | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """``python -m passerelle.cli run …`` in a separate process (what cron runs)."""
    return subprocess.run(
        [sys.executable, "-m", "passerelle.cli", *cli_args(inbox, out, day, db, *extra)],
        cwd=ROOT,
        env=env or subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_subprocess(inbox: Path, out: Path, day: date, db: str = "", *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "passerelle.cli", *cli_args(inbox, out, day, db, *extra)],
        cwd=ROOT,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_in_process(inbox: Path, out: Path, day: date, db: str = "", *extra: str) -> int:
    return main(cli_args(inbox, out, day, db, *extra))


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tree(folder: Path) -> dict[str, str]:
    """relative path -> sha256 of every file below ``folder``."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): sha(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def feeds_and_tables(folder: Path) -> dict[str, str]:
    """The XML and CSV files of a day folder (feeds, issues.csv, archived inputs) -> sha256:
    what must be byte-identical between two runs of the same date on the same inbox."""
    return {k: v for k, v in tree(folder).items() if k.endswith((".xml", ".csv"))}


def check_complete(folder: Path) -> dict:
    """A published day folder is complete: its manifest lists exactly its files, with their
    sha256. Returns the manifest."""
    manifest = json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8"))
    listed = {o["file"]: o["sha256"] for o in manifest["outputs"]}
    on_disk = {k: v for k, v in tree(folder).items() if k != "manifest.json"}
    assert listed == on_disk, f"{folder}: manifest and folder differ"
    for rel in ("carif", "pole-emploi", "mission-locale", "quality/issues.csv", "quality/report.html", "inputs"):
        assert (Path(folder) / rel).exists(), f"{folder}: {rel} missing"
    return manifest


def store_snapshot(url: str, days: tuple[date, ...] = (DAY1, DAY2)) -> dict:
    """What the store says about ``days``: publications (without run ids), published catalogue,
    runs by status, the lock."""
    st = open_store(url)
    try:
        snap: dict = {"publications": {}, "state": {}, "runs": {}, "lock": st.lock_holder("daily-run")}
        for d in days:
            pubs = st.publications(d)
            snap["publications"][d] = sorted((p["feed"], p["file"], p["sha256"], p["records"]) for p in pubs)
            snap["publication_runs"] = snap.get("publication_runs", {}) | {d: {p["run_id"] for p in pubs}}
            state = st.published_state(d)
            assert state["session_key"].is_unique, f"duplicate published sessions on {d}"
            snap["state"][d] = state.astype("string").sort_values("session_key").reset_index(drop=True)
        with st.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT run_id, run_date, status FROM runs ORDER BY started_at")).all()
        snap["runs"] = [(r[0], str(r[1]), r[2]) for r in rows]
        return snap
    finally:
        st.dispose()


def same_state(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return a.shape == b.shape and bool((a.fillna("") == b.fillna("")).all().all())
