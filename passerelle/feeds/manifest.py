"""``manifest.json``: what a run read and published, with fingerprints (``outputs.md``)."""

from __future__ import annotations

import json
from pathlib import Path

from passerelle.sources.base import sha256_file


def build_manifest(
    *,
    run_date,
    run_id: str,
    started_at: str,
    finished_at: str,
    inputs: list[dict],
    day_folder: Path,
    records: dict[str, int],
    sessions: dict,
    findings: dict,
    withheld: list[dict] | None = None,
    known_sha256: dict[str, tuple[str, int]] | None = None,
) -> dict:
    """The manifest of a staged day folder.

    ``records`` maps a file path relative to the day folder to its record count; every file of
    the folder (except the manifest itself) is listed with its sha256. ``known_sha256``: path ->
    (sha256, size) of files already hashed by whoever read all their bytes (the validation
    workers of the feeds); used when the file still has that size, else the file is hashed here.
    """
    known = known_sha256 or {}
    day_folder = Path(day_folder)
    outputs = []
    for p in sorted(day_folder.rglob("*")):
        if not p.is_file() or p.name == "manifest.json":
            continue
        rel = p.relative_to(day_folder).as_posix()
        digest, size = known.get(rel, (None, -1))
        if digest is None or p.stat().st_size != size:
            digest = sha256_file(p)
        outputs.append({"file": rel, "sha256": digest, "records": records.get(rel)})
    return {
        "date": run_date.isoformat(),
        "run_id": run_id,
        "started_at": started_at,
        "finished_at": finished_at,
        "inputs": inputs,
        "outputs": outputs,
        "sessions": sessions,
        "findings": findings,
        "withheld": withheld or [],
    }


def write_manifest(manifest: dict, path: Path) -> None:
    Path(path).write_text(json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=False) + "\n", encoding="utf-8")
