"""Benchmark of the daily run against the floor of the hardware.

    python -m passerelle.bench [--sizes 10000,100000] [--full] [--seed 42] [--repeat N]
    BENCH_FULL=1 make bench            # adds the 1M-session size

For each size N: a synthetic inbox (``passerelle.synth``, cached under ``bench/work/``), then,
each in its own fresh subprocess so that the numbers are clean, and ``--repeat`` times
alternated (3 up to 100k sessions, once at 1M): the machine is shared with other work, and a
single measurement of either can be off by half; the fastest run and the fastest floor are
kept (a floor measured slow would flatter the ratio), every measurement is listed:

1. **run**: the real path, ``passerelle.cli.run_daily`` executing the Dagster ``daily_job`` in
   process on an empty output folder and store; seconds per step come from the Dagster step
   events (the listener of ``cli.run_daily``), the seconds spent writing and validating each feed
   from the metadata of the feed assets (at national size the three LHEO feeds are written in
   one pass while one worker process per feed validates it as it grows), peak RSS from
   ``getrusage`` for the run's process and, sampled from /proc every 0.2 s, for the run's
   process and its validation workers together (the figure the memory target is held to).
2. **floor**: the fastest way to do the unavoidable work on the same files: read the decoded EOS
   files with ``pyarrow.csv``, the workbook with ``python-calamine``, the SAM XML with ``lxml``,
   then write the bytes of the very feeds the run produced and validate each XML feed once with
   libxml2 (``lxml.etree.XMLSchema``, against its profile XSD).

The figure that counts is ``run / floor``. Results: ``bench/results.json`` (merged by size, so
a 1M result stays until it is re-measured) and ``bench/results.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
WORK = BENCH / "work"
RUN_DATE = date(2026, 11, 19)
DEFAULT_SIZES = (10_000, 100_000)
FULL_SIZE = 1_000_000
DEFAULT_REPEAT = 3  # measurements per size up to 100k sessions (1M: once, 12 minutes)
TARGETS = {100_000: 3.0, 1_000_000: 2.0}  # run / floor
RSS_TARGET_MB = {1_000_000: 4096}
FLOOR_WHOLE_TREE_MAX_BYTES = 256 * 1024 * 1024
NS = "http://lheo.gouv.fr/2.3"

# Dagster step -> row of the table (checks are summed into "checks")
STAGES = [
    ("raw_sam_offer", "read SAM (XML)"),
    ("raw_eos_sessions", "read EOS sessions (CSV)"),
    ("raw_eos_events", "read EOS events (CSV)"),
    ("raw_sigma_workbook", "read SIGMA (XLSX)"),
    ("core_tables", "canonical model"),
    ("core_previous_publication", "previous publication (store)"),
    ("core_findings", "rules"),
    ("core_publishable", "publishable selection + payloads"),
    ("out_feeds", "feeds: 3 LHEO in one pass + CSV, validated by workers meanwhile (step)"),
    ("checks", "asset checks (GX, contracts, guards)"),
    ("out_quality_report", "quality report"),
    ("out_publication", "publication (store, parquet, manifest, current/)"),
    ("out_delivery", "delivery (none configured in the bench)"),
    ("overhead", "Dagster overhead"),
]
FEED_KEYS = {
    "out_carif_lheo": "carif",
    "out_carif_delta": "carif_delta",
    "out_pole_emploi_lheo": "pole_emploi",
    "out_mission_locale_csv": "mission_locale",
}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def _watch_children(stop, peak: list[float]) -> None:
    """Peak resident sizes of this process's children (the validation workers), sampled every
    0.2 s from /proc (``RUSAGE_CHILDREN`` would count the parent's pages that a child shares
    between fork and exec): ``peak[0]`` the largest child, ``peak[1]`` all the children at
    once, ``peak[2]`` this process and its children at once, ``peak[3]`` this process since
    the last step ended (reset by the caller)."""
    me = str(os.getpid())
    while not stop.wait(0.2):
        own = _rss_mb()
        peak[3] = max(peak[3], own)
        children = []
        for pid in (p for p in os.listdir("/proc") if p.isdigit()):
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    if fh.read().rsplit(")", 1)[1].split()[1] != me:
                        continue
                with open(f"/proc/{pid}/status") as fh:
                    for line in fh:
                        if line.startswith("VmRSS:"):
                            children.append(int(line.split()[1]) / 1024.0)
            except (OSError, IndexError, ValueError):
                continue
        total = sum(children)
        peak[0] = max([peak[0], *children])
        peak[1] = max(peak[1], total)
        peak[2] = max(peak[2], total + own)


# --- child: the run -------------------------------------------------------------------------------


def child_run(inbox: Path, out: Path, result: Path) -> int:
    from passerelle.cli import run_daily

    rss_before = _peak_rss_mb()
    steps: dict[str, float] = {}
    failed: list[str] = []

    rss_after: dict[str, float] = {}
    rss_peak: dict[str, float] = {}

    def progress(step: str, ok: bool, secs: float) -> None:
        steps[step] = steps.get(step, 0.0) + secs
        rss_after[step] = _rss_mb()
        rss_peak[step] = max(children_peak[3], rss_after[step])  # steps run one after the other
        children_peak[3] = 0.0
        if not ok:
            failed.append(step)

    import threading

    stop, children_peak = threading.Event(), [0.0, 0.0, 0.0, 0.0]
    watcher = threading.Thread(target=_watch_children, args=(stop, children_peak), daemon=True)
    watcher.start()
    t0 = time.perf_counter()
    res = run_daily(inbox, out, RUN_DATE, progress=progress)
    wall = time.perf_counter() - t0
    stop.set()
    watcher.join()
    day = out / RUN_DATE.isoformat()
    manifest = (
        json.loads((day / "manifest.json").read_text(encoding="utf-8")) if (day / "manifest.json").is_file() else {}
    )
    feed_seconds = {}  # per feed: writing (main process) and XSD validation (worker), from the metadata
    for ev in res.get_asset_materialization_events():
        key = ev.asset_key.to_user_string()
        if key in FEED_KEYS:
            meta = ev.materialization.metadata
            feed_seconds[FEED_KEYS[key]] = {
                k: float(meta[k].value) for k in ("write_seconds", "validation_seconds") if k in meta
            }
    feeds = {}
    for p in sorted(day.glob("*/*")):
        if p.parent.name in ("carif", "pole-emploi", "mission-locale") and p.is_file():
            feeds[f"{p.parent.name}/{p.name}"] = p.stat().st_size
    result.write_text(
        json.dumps(
            {
                "success": bool(res.success),
                "failed_steps": failed,
                "wall": wall,
                "steps": steps,
                "feed_seconds": feed_seconds,
                "rss_after_step_mb": rss_after,
                "rss_peak_in_step_mb": rss_peak,
                "peak_rss_mb": _peak_rss_mb(),
                "rss_before_run_mb": rss_before,
                "children_peak_rss_mb": children_peak[0],
                "children_total_peak_rss_mb": children_peak[1],
                "whole_peak_rss_mb": max(children_peak[2], _peak_rss_mb()),
                "feeds": feeds,
                "sessions": manifest.get("sessions", {}),
                "findings": manifest.get("findings", {}),
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    return 0 if res.success else 1


# --- child: the floor -----------------------------------------------------------------------------


def child_floor(inbox: Path, day: Path, result: Path) -> int:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    from lxml import etree
    from python_calamine import CalamineWorkbook

    from passerelle.feeds.catalog import FEEDS, SCHEMAS, feed_path

    def one(pattern: str) -> Path:
        found = sorted(inbox.glob(pattern))
        return found[-1]

    parts: dict[str, float] = {}

    def timed(name: str, fn):
        t = time.perf_counter()
        out = fn()
        parts[name] = time.perf_counter() - t
        return out

    def read_csv(path: Path) -> int:
        data = path.read_bytes().decode("cp1252").encode("utf-8")
        names = [f"c{i}" for i in range(data[: data.index(b"\n")].count(b";") + 1)]
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=";", newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in names}),
        )
        return table.num_rows

    def read_sigma(path: Path) -> int:
        wb = CalamineWorkbook.from_path(str(path))
        return sum(len(wb.get_sheet_by_name(s).to_python()) for s in wb.sheet_names)

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
    rows = {
        "eos_sessions": timed("read EOS sessions (pyarrow.csv)", lambda: read_csv(one("eos_sessions_*.csv"))),
        "eos_events": timed("read EOS events (pyarrow.csv)", lambda: read_csv(one("eos_evenements_*.csv"))),
        "sigma": timed("read SIGMA (python-calamine)", lambda: read_sigma(one("sigma_actions_*.xlsx"))),
        "sam": timed("read SAM (lxml)", lambda: len(etree.parse(str(one("sam_offre_*.xml")), parser).getroot())),
    }
    scratch = WORK / f"floor-{os.getpid()}"
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        for spec in FEEDS:
            src = day / feed_path(spec, RUN_DATE)
            if not src.is_file():
                continue
            data = src.read_bytes()
            target = scratch / src.name

            def write(target=target, data=data) -> None:
                with open(target, "wb") as fh:
                    fh.write(data)
                    fh.flush()

            timed(f"write {spec.name}", write)
            if spec.profile_xsd:
                schema = etree.XMLSchema(etree.parse(str(SCHEMAS / spec.profile_xsd)))

                def valid(target=target, schema=schema) -> bool:
                    if target.stat().st_size <= FLOOR_WHOLE_TREE_MAX_BYTES:
                        return schema.validate(etree.parse(str(target), parser))
                    # a 2 GB feed does not fit as one tree (~9x its size): one formation at a time
                    ok = True
                    for _ev, el in etree.iterparse(
                        str(target),
                        events=("end",),
                        tag=f"{{{NS}}}formation",
                        resolve_entities=False,
                        no_network=True,
                        load_dtd=False,
                        huge_tree=True,
                    ):
                        ok &= schema.validate(el)
                        parent = el.getparent()
                        el.clear(keep_tail=True)
                        while el.getprevious() is not None:
                            del parent[0]
                    return ok

                ok = timed(f"validate {spec.name} (libxml2)", valid)
                if not ok:
                    print(f"floor: {src.name} is not valid against {spec.profile_xsd}", file=sys.stderr)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result.write_text(
        json.dumps(
            {"parts": parts, "total": sum(parts.values()), "rows": rows, "peak_rss_mb": _peak_rss_mb()}, indent=2
        ),
        encoding="utf-8",
    )
    return 0


# --- parent ---------------------------------------------------------------------------------------


def _synth_key(n: int, seed: int) -> str:
    src = (ROOT / "passerelle" / "synth.py").read_bytes()
    return hashlib.sha256(src + f"|{n}|{seed}|{RUN_DATE}".encode()).hexdigest()


def ensure_inbox(n: int, seed: int) -> tuple[Path, float | None]:
    from passerelle.synth import write_inbox

    inbox = WORK / f"inbox-{n}"
    stamp = inbox / ".bench-key"
    key = _synth_key(n, seed)
    if stamp.is_file() and stamp.read_text() == key:
        return inbox, None
    shutil.rmtree(inbox, ignore_errors=True)
    t = time.perf_counter()
    write_inbox(inbox, n, seed=seed, extract_date=RUN_DATE)
    secs = time.perf_counter() - t
    stamp.write_text(key)
    return inbox, secs


def _child(args: list[str]) -> dict:
    result = WORK / f"child-{os.getpid()}-{time.monotonic_ns()}.json"
    cmd = [sys.executable, "-m", "passerelle.bench", *args, "--result", str(result)]
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if not result.is_file():
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-4000:]}")
    data = json.loads(result.read_text(encoding="utf-8"))
    result.unlink()
    if proc.stderr.strip():
        data["stderr_tail"] = proc.stderr.strip()[-2000:]
    return data


def stage_table(run: dict) -> dict[str, float]:
    steps = dict(run["steps"])
    out: dict[str, float] = {}
    for step, _label in STAGES:
        if step in steps:
            out[step] = steps.pop(step)
    out["checks"] = sum(steps.values())  # every remaining step is an asset check
    out["overhead"] = max(run["wall"] - sum(run["steps"].values()), 0.0)
    return out


def bench_size(n: int, seed: int, repeat: int = 1) -> dict:
    """Run and floor of ``n`` sessions, ``repeat`` times each, alternated (run, floor, run,
    floor...): the machine is shared, so the fastest of each is kept, the others reported."""
    inbox, synth_secs = ensure_inbox(n, seed)
    print(
        f"[bench] {n} sessions: inbox {inbox} ({f'written in {synth_secs:.1f} s' if synth_secs else 'cached'})",
        flush=True,
    )
    out = WORK / f"out-{n}"
    runs, floors = [], []
    for attempt in range(1, repeat + 1):
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        one = _child(["_run", "--inbox", str(inbox), "--out", str(out)])
        print(
            f"[bench] {n} #{attempt}: run {one['wall']:.1f} s (process {time.perf_counter() - t:.1f} s), "
            f"peak RSS {one['peak_rss_mb']:.0f} MB, success={one['success']}",
            flush=True,
        )
        floors.append(_child(["_floor", "--inbox", str(inbox), "--day", str(out / RUN_DATE.isoformat())]))
        runs.append(one)
        print(f"[bench] {n} #{attempt}: floor {floors[-1]['total']:.1f} s", flush=True)
    run = min(runs, key=lambda r: (not r["success"], r["wall"]))
    floor = min(floors, key=lambda f: f["total"])
    print(
        f"[bench] {n}: best run {run['wall']:.1f} s / best floor {floor['total']:.1f} s -> ratio "
        f"{run['wall'] / floor['total']:.2f}",
        flush=True,
    )
    inputs = {p.name: p.stat().st_size for p in sorted(inbox.iterdir()) if p.suffix in (".xml", ".csv", ".xlsx")}
    return {
        "sessions": n,
        "seed": seed,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "run_seconds": round(run["wall"], 3),
        "floor_seconds": round(floor["total"], 3),
        "ratio": round(run["wall"] / floor["total"], 2) if floor["total"] else None,
        "target_ratio": TARGETS.get(n),
        "peak_rss_mb": round(run["peak_rss_mb"], 1),
        "target_rss_mb": RSS_TARGET_MB.get(n),
        "success": run["success"],
        "stages": {k: round(v, 3) for k, v in stage_table(run).items()},
        "steps": {k: round(v, 3) for k, v in sorted(run["steps"].items())},
        "rss_after_step_mb": {k: round(v) for k, v in run.get("rss_after_step_mb", {}).items()},
        "rss_peak_in_step_mb": {k: round(v) for k, v in run.get("rss_peak_in_step_mb", {}).items()},
        "feed_seconds": {f: {k: round(v, 3) for k, v in d.items()} for f, d in run.get("feed_seconds", {}).items()},
        "validation_worker_peak_rss_mb": round(run.get("children_peak_rss_mb", 0.0), 1),
        "validation_workers_peak_rss_mb": round(run.get("children_total_peak_rss_mb", 0.0), 1),
        "whole_peak_rss_mb": round(run.get("whole_peak_rss_mb", run["peak_rss_mb"]), 1),
        "floor": {k: round(v, 3) for k, v in floor["parts"].items()},
        "floor_peak_rss_mb": round(floor["peak_rss_mb"], 1),
        "feeds_bytes": run["feeds"],
        "inputs_bytes": inputs,
        "sessions_summary": run["sessions"],
        "findings": run["findings"],
        "all_run_seconds": [round(r["wall"], 1) for r in runs],
        "all_floor_seconds": [round(f["total"], 1) for f in floors],
        "success_all": all(r["success"] for r in runs),
    }


def repeats(n: int, asked: int | None = None, env: str = "") -> int:
    """Measurements of run and floor for ``n`` sessions: ``--repeat``, else ``BENCH_REPEAT``,
    else 3 up to 100k sessions and 1 above. Anything but a whole number >= 1 is refused."""
    value = asked if asked is not None else (env.strip() or None)
    if value is None:
        return DEFAULT_REPEAT if n <= 100_000 else 1
    try:
        count = int(value)
    except ValueError:
        raise SystemExit(f"bench: BENCH_REPEAT must be a whole number >= 1, got {value!r}") from None
    if count < 1:
        raise SystemExit(f"bench: the number of measurements must be >= 1, got {count}")
    return count


def whole_rss_mb(r: dict) -> float:
    """Peak resident size of the run process and its validation workers together."""
    return r.get("whole_peak_rss_mb", r["peak_rss_mb"])


def _verdict(value: float | None, target: float | None, op: str) -> str:
    """`` (target ≤ 3: met)`` or `` (target ≤ 3: NOT met)``; empty without a target."""
    if not target:
        return ""
    met = value is not None and (value <= target if op == "≤" else value < target)
    return f" (target {op} {target:g}: {'met' if met else 'NOT met'})"


def _mb(value: float) -> str:
    return f"{value:,.0f}".replace(",", " ")


def _fmt_mb(b: int) -> str:
    return f"{b / 1e6:,.1f}"


def markdown(results: dict) -> str:
    sizes = sorted(results["sizes"].values(), key=lambda r: r["sessions"])
    head = "| | " + " | ".join(f"{r['sessions']:,} sessions".replace(",", " ") for r in sizes) + " |"
    sep = "|---|" + "---:|" * len(sizes)
    lines = [
        "# Passerelle benchmark: daily run vs. floor",
        "",
        f"Machine: {results['machine']['cpus']} CPUs, {results['machine']['python']} on {results['machine']['system']}."
        " Run = `passerelle.cli.run_daily` (Dagster `daily_job`, in-process executor) on a fresh output folder"
        " and SQLite store, in its own process. Floor = pyarrow CSV (decoded EOS files), python-calamine (workbook),"
        " lxml (SAM), plus writing the same feed bytes and validating each XML feed once with libxml2 (whole tree up to 256 MB, one formation at a time above),"
        " measured in the same `python -m passerelle.bench` invocation on the same files.",
        "",
        "## Summary",
        "",
        head,
        sep,
        "| run (s), fastest of the runs | " + " | ".join(f"{r['run_seconds']:.1f}" for r in sizes) + " |",
        "| floor (s), fastest of the floors | " + " | ".join(f"{r['floor_seconds']:.1f}" for r in sizes) + " |",
        "| **run / floor** | "
        + " | ".join(f"**{r['ratio']:.2f}**" + _verdict(r["ratio"], r.get("target_ratio"), "≤") for r in sizes)
        + " |",
        "| peak RSS, run process + validation workers (MB) | "
        + " | ".join(_mb(whole_rss_mb(r)) + _verdict(whole_rss_mb(r), r.get("target_rss_mb"), "<") for r in sizes)
        + " |",
        "| &nbsp;&nbsp;↳ run process alone (MB) | " + " | ".join(_mb(r["peak_rss_mb"]) for r in sizes) + " |",
        "| &nbsp;&nbsp;↳ validation workers together (MB) | "
        + " | ".join(
            _mb(r.get("validation_workers_peak_rss_mb", r.get("validation_worker_peak_rss_mb", 0))) for r in sizes
        )
        + " |",
        "| every measurement: runs / floors (s) | "
        + " | ".join(
            ", ".join(f"{v:.1f}" for v in r.get("all_run_seconds", [r["run_seconds"]]))
            + " / "
            + ", ".join(f"{v:.1f}" for v in r.get("all_floor_seconds", [r["floor_seconds"]]))
            for r in sizes
        )
        + " |",
        "| measured | " + " | ".join(r["measured_at"][:16].replace("T", " ") for r in sizes) + " |",
        "",
        "## Seconds per stage (run)",
        "",
        head,
        sep,
    ]
    for step, label in STAGES:
        lines.append(f"| {label} | " + " | ".join(f"{r['stages'].get(step, 0.0):.2f}" for r in sizes) + " |")
        if step == "out_feeds":  # inside the step, not added to the total
            for label, feed, k in (
                ("3 LHEO feeds: one writing pass", "carif", "write_seconds"),
                ("carif: validation (worker, while written)", "carif", "validation_seconds"),
                ("carif_delta: validation (worker, while written)", "carif_delta", "validation_seconds"),
                ("pole_emploi: validation (worker, while written)", "pole_emploi", "validation_seconds"),
                ("mission_locale: write", "mission_locale", "write_seconds"),
            ):
                cells = [r.get("feed_seconds", {}).get(feed, {}).get(k) for r in sizes]
                if any(cells):
                    lines.append(
                        f"| &nbsp;&nbsp;↳ _{label}_ | "
                        + " | ".join(f"_{c:.2f}_" if c is not None else "—" for c in cells)
                        + " |"
                    )
    lines += [
        "| **total** | " + " | ".join(f"**{r['run_seconds']:.2f}**" for r in sizes) + " |",
        "",
        "## Resident memory of the run process per step (MB): peak during the step / after it",
        "",
        head,
        sep,
    ]
    for step, label in STAGES:
        peaks = [r.get("rss_peak_in_step_mb", {}).get(step) for r in sizes]
        after = [r.get("rss_after_step_mb", {}).get(step) for r in sizes]
        if any(c is not None for c in after):
            lines.append(
                f"| {label} | "
                + " | ".join(
                    (_mb(p) if p is not None else "—") + " / " + (_mb(a) if a is not None else "—")
                    for p, a in zip(peaks, after)
                )
                + " |"
            )
    lines += ["", "## Floor (same files)", "", head, sep]
    parts = []
    for r in sizes:
        for k in r["floor"]:
            if k not in parts:
                parts.append(k)
    for k in parts:
        lines.append(f"| {k} | " + " | ".join(f"{r['floor'].get(k, 0.0):.2f}" for r in sizes) + " |")
    lines += [
        "| **total** | " + " | ".join(f"**{r['floor_seconds']:.2f}**" for r in sizes) + " |",
        "",
        "## Sizes (MB)",
        "",
        head,
        sep,
    ]
    names = []
    for r in sizes:
        for k in list(r["inputs_bytes"]) + list(r["feeds_bytes"]):
            generic = _generic(k)
            if generic not in names:
                names.append(generic)
    for g in names:
        cells = []
        for r in sizes:
            allf = {_generic(k): v for k, v in {**r["inputs_bytes"], **r["feeds_bytes"]}.items()}
            cells.append(_fmt_mb(allf[g]) if g in allf else "—")
        lines.append(f"| {g} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Reproduce: `make bench` (10k and 100k sessions, 3 measurements each), `BENCH_FULL=1 make bench` "
        "(adds 1M, measured once; `BENCH_REPEAT=N` to repeat).",
        "",
    ]
    return "\n".join(lines)


def _generic(name: str) -> str:
    import re

    return re.sub(r"\d{8}|\d{4}-\d{2}-\d{2}", "<D>", name)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m passerelle.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("mode", nargs="?", default="bench", choices=["bench", "_run", "_floor"])
    p.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES))
    p.add_argument("--full", action="store_true", help=f"add {FULL_SIZE} sessions (also BENCH_FULL=1)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="measurements of run and floor per size, alternated, the fastest kept (also BENCH_REPEAT; "
        f"default {DEFAULT_REPEAT} up to 100k sessions, 1 above)",
    )
    p.add_argument("--inbox", type=Path)
    p.add_argument("--out", type=Path)
    p.add_argument("--day", type=Path)
    p.add_argument("--result", type=Path)
    args = p.parse_args(argv)
    if args.mode == "_run":
        return child_run(args.inbox, args.out, args.result)
    if args.mode == "_floor":
        return child_floor(args.inbox, args.day, args.result)

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if (args.full or os.environ.get("BENCH_FULL", "") not in ("", "0")) and FULL_SIZE not in sizes:
        sizes.append(FULL_SIZE)
    WORK.mkdir(parents=True, exist_ok=True)
    path = BENCH / "results.json"
    results = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"sizes": {}}
    results["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.machine()}",
    }
    failed = False
    for n in sizes:
        r = bench_size(n, args.seed, repeats(n, args.repeat, os.environ.get("BENCH_REPEAT", "")))
        results["sizes"][str(n)] = r
        failed |= not r["success_all"]
        path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (BENCH / "results.md").write_text(markdown(results), encoding="utf-8")
    print((BENCH / "results.md").read_text(encoding="utf-8"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
