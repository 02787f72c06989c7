"""Command line: ``passerelle run --inbox DIR --out DIR --date YYYY-MM-DD [--db URL] [--wait S]``.

``run`` executes the very Dagster job the schedule runs (``daily_job``), in process, with
resources pointing at the given folders and database. Exit codes:
  0  the run completed (data-quality findings do not change this)
  1  the run could not complete (nothing under <out>/<D>/ is half-written), including when
     another run holds the store's run lock « daily-run » and did not finish within --wait
     seconds (default 0: stop at once, « Un autre run (…) est en cours depuis … »)
  2  the command line is wrong

When a run fails, an alert is written under ``<out>/alerts/`` and sent by mail or webhook when
configured (``passerelle.alerts``), so that a cron-driven ``passerelle run`` alerts like the
Dagster run-failure sensor does.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import date
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"date invalide « {text} » (attendu AAAA-MM-JJ)") from exc


def _parse_wait(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"attente invalide « {text} » (attendu un nombre de secondes >= 0)")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="passerelle", description="Passerelle: extracts of the financers -> checked feeds")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the daily job for one date")
    run.add_argument("--inbox", required=True, type=Path, help="folder holding the extracts")
    run.add_argument("--out", required=True, type=Path, help="output folder (one sub-folder per date)")
    run.add_argument("--date", required=True, type=_parse_date, help="date D of the run, YYYY-MM-DD")
    run.add_argument("--db", default="", help="store URL (default: SQLite file under --out)")
    run.add_argument("--wait", type=_parse_wait, default=0.0, metavar="SECONDS",
                     help="when another run holds the store's run lock, wait up to SECONDS for it (default 0)")
    run.add_argument("--quiet", action="store_true", help="no progress lines")

    synth = sub.add_parser("synth", help="write a synthetic inbox of N sessions (benchmarks)")
    synth.add_argument("--sessions", required=True, type=int)
    synth.add_argument("--out", required=True, type=Path)
    synth.add_argument("--seed", type=int, default=42)
    synth.add_argument("--date", type=_parse_date, default=date(2026, 11, 19))
    return p


STEP_LABELS = {
    "raw_sam_offer": "lecture SAM",
    "raw_eos_sessions": "lecture EOS sessions",
    "raw_eos_events": "lecture EOS événements",
    "raw_sigma_workbook": "lecture SIGMA",
    "core_tables": "modèle canonique",
    "core_previous_publication": "état publié précédent",
    "core_findings": "règles qualité",
    "core_publishable": "sélection publiable",
    "out_feeds": "flux (écriture, validation XSD)",
    "out_quality_report": "rapport qualité",
    "out_publication": "publication",
}


def run_daily(inbox: Path, out: Path, run_date: date, db: str = "", progress=None, log_level: str = "CRITICAL",
              lock_wait_seconds: float = 0):
    """Execute ``daily_job`` for one partition in process. Returns the ExecuteInProcessResult.

    Step outputs go through :class:`pipelines.io_managers.SpillingIOManager`: tables are kept
    in ``<out>/.spill/<run id>/`` (removed when the run ends), and the run does not keep every
    output until it ends (:func:`pipelines.execution.execute_daily`), so that each step holds
    only its own inputs."""
    import shutil

    from pipelines.definitions import defs, resources_for
    from pipelines.io_managers import SpillingIOManager

    out.mkdir(parents=True, exist_ok=True)
    run_id = str(uuid.uuid4())
    spill = out / SPILL_DIR / run_id
    resources = resources_for(str(inbox), str(out), db, lock_wait_seconds) | {
        "io_manager": SpillingIOManager(base_dir=str(spill))}
    job = defs.resolve_job_def("daily_job")
    try:
        return _execute(job, resources, run_date, run_id, progress, log_level)
    finally:
        shutil.rmtree(spill, ignore_errors=True)
        try:
            spill.parent.rmdir()  # when no other run is using it
        except OSError:
            pass


SPILL_DIR = ".spill"


def _execute(job, resources: dict, run_date: date, run_id: str, progress, log_level: str):
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.ephemeral() as instance:
        if progress is not None:
            started: dict[str, float] = {}

            def listener(record):
                ev = record.get_dagster_event() if record.is_dagster_event else None
                if ev is None or ev.step_key is None:
                    return
                if ev.event_type == DagsterEventType.STEP_START:
                    started[ev.step_key] = time.monotonic()
                elif ev.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                    secs = time.monotonic() - started.get(ev.step_key, time.monotonic())
                    progress(ev.step_key, ev.event_type == DagsterEventType.STEP_SUCCESS, secs)

            instance.add_event_listener(run_id, listener)
        from pipelines.execution import execute_daily

        return execute_daily(
            job,
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
            partition_key=run_date.isoformat(),
            resources=resources,
            instance=instance,
            raise_on_error=False,
            run_id=run_id,
        )


CHECK_LABELS = {
    "file_contract": "contrat du fichier",
    "row_conservation": "conservation des lignes",
    "gx_contract": "contrat GX des sessions",
    "valid_against_profile": "validité XSD",
    "dq023_guard": "garde-fou DQ023",
}


def _step_label(step: str) -> str:
    if step in STEP_LABELS:
        return STEP_LABELS[step]
    for suffix, label in CHECK_LABELS.items():
        if step.endswith("_" + suffix):
            asset = step[: -len(suffix) - 1]
            return f"  contrôle {label} ({STEP_LABELS.get(asset, asset)})"
    return step


def _print_progress(step: str, ok: bool, secs: float) -> None:
    label = _step_label(step)
    mark = "ok" if ok else "ÉCHEC"
    print(f"  {label:<56} {mark:>5} {secs:6.2f} s", file=sys.stderr, flush=True)


def _summary(out: Path, run_date: date) -> str:
    import json

    manifest = json.loads((out / run_date.isoformat() / "manifest.json").read_text(encoding="utf-8"))
    s = manifest["sessions"]
    f = manifest["findings"]
    read_by_file = {i["file"]: i["rows"] for i in manifest["inputs"]}
    lines = [
        f"Passerelle — run du {run_date:%d/%m/%Y} terminé (run {manifest['run_id']})",
        "  extraits lus : " + ", ".join(f"{k} ({v} lignes)" for k, v in read_by_file.items()),
        f"  sessions lues {s['read']} = publiées {s['published']} + en quarantaine {s['quarantined']}"
        f" + non publiables {s['not_publishable']}  (dont annulées publiées {s['cancelled']})",
        f"  dans les flux : {s['in_feeds']} sessions (dernières versions valides conservées {s['kept']},"
        f" disparues signalées {s['vanished']})",
    ]
    gone = [f"{label} {s[key]}" for key, label in (("expired", "terminées"),
                                                    ("withdrawn", "retirées après le délai de grâce")) if s.get(key)]
    if gone:
        lines.append("  sorties des flux depuis la dernière publication : " + ", ".join(gone))
    lines.append(f"  constats : {f['error']} erreurs, {f['warning']} avertissements, {f['info']} infos")
    for w in manifest.get("withheld", []):
        lines.append(f"  FLUX NON PUBLIÉ : {w['file']} — {w['reason']}")
    day = out / run_date.isoformat()
    lines.append(f"  flux et rapport : {day}")
    lines.append(f"  rapport qualité : {day / 'quality' / 'report.html'}")
    return "\n".join(lines)


def _alert(out: Path, subject: str, lines: list[str], extra: dict) -> None:
    from passerelle.alerts import send_alert

    result = send_alert(out, subject, "\n".join(lines), extra=extra)
    if result.path is not None:
        print(f"  alerte : {result.path}", file=sys.stderr)
    for error in result.errors:
        print(f"  alerte : {error}", file=sys.stderr)


def cmd_run(args) -> int:
    if not args.inbox.is_dir():
        print(f"passerelle: le dossier de dépôt {args.inbox} n'existe pas", file=sys.stderr)
        return EXIT_USAGE
    progress = None if args.quiet else _print_progress
    day = args.date.isoformat()
    t0 = time.monotonic()
    try:
        result = run_daily(args.inbox, args.out, args.date, args.db, progress=progress, lock_wait_seconds=args.wait)
    except Exception as exc:  # the run could not even start (database unreachable, bad URL...)
        line = f"passerelle: le run du {day} n'a pas pu démarrer : {exc}"
        print(line, file=sys.stderr)
        _alert(args.out, f"Passerelle : le run du {day} n'a pas pu démarrer", [line],
               {"date": day, "kind": "run_failure"})
        return EXIT_FAILED
    if not result.success:
        from pipelines.alerting import error_text, failure_lines, lock_error

        events = result.all_events
        locked = lock_error(events)
        extra = {"run_id": result.run_id, "date": day, "kind": "run_locked" if locked else "run_failure"}
        if locked is not None:
            line = f"passerelle: {error_text(locked)}"
            print(line, file=sys.stderr)
            _alert(args.out, f"Passerelle : run du {day} non lancé, un autre run est en cours", [line], extra)
            return EXIT_FAILED
        head = (f"passerelle: le run du {day} n'a pas pu aboutir ; rien n'a été publié "
                f"sous {args.out / day} (les flux précédents sont intacts).")
        lines = [f"  {line}" for line in failure_lines(events, label=_step_label)]
        print(head, file=sys.stderr)
        for line in lines:
            print(line, file=sys.stderr)
        _alert(args.out, f"Passerelle : le run du {day} a échoué", [head, f"(run {result.run_id})", "", *lines], extra)
        return EXIT_FAILED
    print(_summary(args.out, args.date))
    print(f"  durée : {time.monotonic() - t0:.1f} s")
    return EXIT_OK


def cmd_synth(args) -> int:
    from passerelle.synth import write_inbox

    written = write_inbox(args.out, args.sessions, seed=args.seed, extract_date=args.date)
    for p in written:
        print(p)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else EXIT_OK
    if args.command == "run":
        return cmd_run(args)
    if args.command == "synth":
        return cmd_synth(args)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
