"""Audit: the inbox is only read; every run keeps the extracts it read, with their sha256, in its
published folder (``<out>/<D>/inputs/``), so that a published session can be traced to the file
and line it came from."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import shutil
from datetime import date
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from passerelle.publication import InputChangedError, archive_inputs
from passerelle.sources.base import ExtractRead
from tests.integration.runs import DAY1, DAY2, SAMPLES, check_complete, run_in_process, sha


def _inbox_state(inbox: Path) -> dict[str, tuple[str, int, int, int]]:
    return {p.name: (sha(p), p.stat().st_mtime_ns, p.stat().st_size, p.stat().st_mode) for p in sorted(inbox.iterdir())}


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    root = tmp_path_factory.mktemp("audit")
    inbox, out = root / "inbox", root / "out"
    inbox.mkdir()
    for p in SAMPLES.glob("*_2026112[0]*"):
        shutil.copy2(p, inbox / p.name)
    for p in SAMPLES.glob("*_20261119*"):
        shutil.copy2(p, inbox / p.name)
    before = _inbox_state(inbox)
    assert run_in_process(inbox, out, DAY1) == 0
    assert run_in_process(inbox, out, DAY2) == 0
    return {"inbox": inbox, "out": out, "before": before, "after": _inbox_state(inbox)}


def test_inbox_is_never_modified(audited):
    assert audited["after"] == audited["before"], "content, mtime, size and mode of every inbox file unchanged"
    assert not [p for p in audited["inbox"].iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("day", [DAY1, DAY2])
def test_inputs_read_are_archived_with_their_sha256(audited, day):
    folder = audited["out"] / day.isoformat()
    manifest = check_complete(folder)
    outputs = {o["file"]: o["sha256"] for o in manifest["outputs"]}
    assert len(manifest["inputs"]) == 5  # SAM, EOS sessions and events, SIGMA, the Intercarif LHEO file
    for item in manifest["inputs"]:
        archive = folder / item["archive"]
        assert item["archive"] == f"inputs/{item['file']}.gz"
        content = gzip.decompress(archive.read_bytes())
        assert hashlib.sha256(content).hexdigest() == item["sha256"] == sha(audited["inbox"] / item["file"])
        assert outputs[item["archive"]] == sha(archive), "the archived copy is listed among the outputs"
    archived = sorted(p.name.removesuffix(".gz") for p in (folder / "inputs").iterdir())
    assert archived == sorted(i["file"] for i in manifest["inputs"])
    assert not list(folder.rglob("inputs/*.xml")), "no raw extract that a consumer could take for a feed"
    if day == DAY2:  # SAM has no day-2 extract: the day-1 one is read again, and archived again
        assert "sam_offre_20261119.xml" in archived


def _published_ids(folder: Path, day: date) -> set[str]:
    text = (folder / "mission-locale" / f"sessions-{day.isoformat()}.csv").read_text(encoding="utf-8-sig")
    return {row["session_id"] for row in csv.DictReader(io.StringIO(text), delimiter=";")}


def test_a_published_session_traces_to_its_archived_file_and_line(audited):
    day = DAY2
    folder = audited["out"] / day.isoformat()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    encodings = {i["file"]: i["encoding"] for i in manifest["inputs"]}
    sessions = pd.read_parquet(folder / "canonical" / "core_sessions.parquet")
    published = sessions[sessions["session_key"].isin(_published_ids(folder, day))]
    assert len(published) > 15
    traced = {"eos": 0, "sigma": 0, "lheo": 0}
    workbooks: dict[str, openpyxl.Workbook] = {}
    for row in published.itertuples():
        archive = folder / "inputs" / f"{row.source_file}.gz"
        assert archive.is_file(), row.source_file
        if row.source.startswith("lheo:"):  # the <session numero> start tag on that line
            raw = gzip.decompress(archive.read_bytes())
            if row.source_file.endswith(".gz"):
                raw = gzip.decompress(raw)
            line = raw.decode("utf-8" if b"UTF-8" in raw[:100].upper() else "latin-1").splitlines()[row.source_line - 1]
            numero = row.session_key.rsplit(":", 1)[1]
            assert "<session" in line and f'numero="{numero}"' in line, f"{row.session_key}: line {row.source_line}"
            traced["lheo"] += 1
            continue
        if row.source == "eos":
            lines = gzip.decompress(archive.read_bytes()).decode(encodings[row.source_file]).splitlines()
            line = lines[row.source_line - 1]
            eos_id = row.session_key.removeprefix("eos:")
            assert eos_id in line.split(";"), f"{row.session_key}: line {row.source_line} is « {line[:80]} »"
        else:
            wb = workbooks.setdefault(
                row.source_file,
                openpyxl.load_workbook(io.BytesIO(gzip.decompress(archive.read_bytes())), read_only=True),
            )
            sheet = wb[row.source_sheet]
            header = [str(v).strip() for v in next(sheet.iter_rows(min_row=1, max_row=1, values_only=True))]
            cells = next(sheet.iter_rows(min_row=row.source_line, max_row=row.source_line, values_only=True))
            action, composante, session = row.session_key.removeprefix("sigma:").rsplit(":", 2)
            key_cells = [
                str(cells[header.index(name)]).strip() for name in ("N° Action", "Composante", "Num. de session")
            ]
            assert [key_cells[0], key_cells[1].zfill(2), key_cells[2].zfill(2)] == [action, composante, session], (
                f"{row.session_key}: row {row.source_line} of {row.source_sheet} is {cells}"
            )
        traced[row.source] += 1
    for wb in workbooks.values():
        wb.close()
    assert traced["eos"] > 5 and traced["sigma"] > 5 and traced["lheo"] > 2


def test_an_extract_changed_during_the_run_is_not_published(tmp_path):
    inbox, staging = tmp_path / "inbox", tmp_path / "staging"
    inbox.mkdir()
    (inbox / "eos_sessions_20261120.csv").write_text("Identifiant EOS\n1\n")
    read = ExtractRead("eos", "sessions", "eos_sessions_20261120.csv", sha256="0" * 64)
    with pytest.raises(InputChangedError, match="a changé dans le dossier de dépôt pendant le run"):
        archive_inputs(staging, inbox, [read])
    assert not (staging / "inputs" / "eos_sessions_20261120.csv.gz").exists()
    read.sha256 = sha(inbox / "eos_sessions_20261120.csv")
    assert archive_inputs(staging, inbox, [read, ExtractRead("eos", "evenements", None)]) == {
        "eos_sessions_20261120.csv": "inputs/eos_sessions_20261120.csv.gz"
    }
    assert os.access(inbox / "eos_sessions_20261120.csv", os.R_OK)
