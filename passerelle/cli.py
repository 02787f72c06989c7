"""Command line: ``passerelle run --inbox DIR --out DIR --date YYYY-MM-DD [--db URL] [--wait S]
[--deliveries FILE]``, ``passerelle deliver --out DIR --date YYYY-MM-DD --config FILE [--to CONSUMER]``,
``passerelle notify --out DIR --date YYYY-MM-DD [--db URL] [--config FILE] [--dry-run]`` (sends the
day's messages to the training bodies, :mod:`passerelle.notify`; exit 1 when a message could not
be sent), ``passerelle synth``.

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

``run --deliveries FILE`` (default ``PASSERELLE_DELIVERIES``) ends with the delivery step
(``out_delivery``); its outcome is in the summary. A delivery that fails does not change the exit
code of ``run`` (the day is published; the failure is alerted and the next run sends the file).
``deliver`` sends the files a run published (``passerelle.delivery``). Exit codes:
  0  every file is delivered (now or before), or withheld that day (not published)
  1  a file could not be delivered after its retries (alerted), nothing was published for that
     date, or another run holds the store's run lock
  2  the command line or the delivery configuration is wrong
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import date
from functools import cache
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
    run.add_argument(
        "--wait",
        type=_parse_wait,
        default=0.0,
        metavar="SECONDS",
        help="when another run holds the store's run lock, wait up to SECONDS for it (default 0)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress lines")
    run.add_argument(
        "--deliveries",
        default=None,
        metavar="FILE",
        help="deliveries.yaml: send the feeds to their consumers at the end of the run "
        "(default: $PASSERELLE_DELIVERIES, none when unset)",
    )

    dl = sub.add_parser("deliver", help="send the files published for one date to their consumers")
    dl.add_argument("--out", required=True, type=Path, help="output folder of the runs")
    dl.add_argument("--date", required=True, type=_parse_date, help="date D of the published files, YYYY-MM-DD")
    dl.add_argument("--config", required=True, type=Path, metavar="FILE", help="deliveries.yaml")
    dl.add_argument(
        "--to",
        default=None,
        metavar="CONSUMER",
        help="only this consumer, and send its files of D again even if already delivered",
    )
    dl.add_argument("--db", default="", help="store URL (default: SQLite file under --out)")
    dl.add_argument(
        "--wait",
        type=_parse_wait,
        default=0.0,
        metavar="SECONDS",
        help="when a run holds the store's run lock, wait up to SECONDS for it (default 0)",
    )

    notify = sub.add_parser("notify", help="send the day's messages to the training bodies (SMTP)")
    notify.add_argument("--out", required=True, type=Path, help="output folder of the runs")
    notify.add_argument("--date", required=True, type=_parse_date, help="date D of the run, YYYY-MM-DD")
    notify.add_argument("--db", default="", help="store URL (default: SQLite file under --out)")
    notify.add_argument(
        "--config",
        type=Path,
        default=None,
        help="YAML: smtp, from, reply_to, resend_days (default: PASSERELLE_ALERT_SMTP / _FROM, 7 days)",
    )
    notify.add_argument("--dry-run", action="store_true", help="list what would be sent; send and record nothing")

    synth = sub.add_parser("synth", help="write a synthetic inbox of N sessions (benchmarks)")
    synth.add_argument("--sessions", required=True, type=int)
    synth.add_argument("--out", required=True, type=Path)
    synth.add_argument("--seed", type=int, default=42)
    synth.add_argument("--date", type=_parse_date, default=date(2026, 11, 19))
    return p


STEP_LABELS = {
    "core_tables": "modèle canonique",
    "core_previous_publication": "état publié précédent",
    "core_findings": "règles qualité",
    "core_publishable": "sélection publiable",
    "out_feeds": "flux (écriture, validation XSD)",
    "out_quality_report": "rapport qualité",
    "out_publication": "publication",
    "out_delivery": "livraison aux partenaires",
}


def run_daily(
    inbox: Path,
    out: Path,
    run_date: date,
    db: str = "",
    progress=None,
    log_level: str = "CRITICAL",
    lock_wait_seconds: float = 0,
    deliveries: str = "",
):
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
    resources = resources_for(str(inbox), str(out), db, lock_wait_seconds, deliveries) | {
        "io_manager": SpillingIOManager(base_dir=str(spill))
    }
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
    "delivered": "livraison complète",
}


@cache
def _labels() -> dict[str, str]:
    """The French label of each step: « lecture <source> [<kind>] » for each raw asset of the
    registry, then :data:`STEP_LABELS`."""
    from passerelle.sources import registry

    reads = {
        k.asset: " ".join(filter(None, ("lecture", s.label, k.label))) for s in registry.sources() for k in s.kinds
    }
    return reads | STEP_LABELS


def _step_label(step: str) -> str:
    labels = _labels()
    if step in labels:
        return labels[step]
    for suffix, label in CHECK_LABELS.items():
        if step.endswith("_" + suffix):
            asset = step[: -len(suffix) - 1]
            return f"  contrôle {label} ({labels.get(asset, asset)})"
    return step


def _print_progress(step: str, ok: bool, secs: float) -> None:
    label = _step_label(step)
    mark = "ok" if ok else "ÉCHEC"
    print(f"  {label:<56} {mark:>5} {secs:6.2f} s", file=sys.stderr, flush=True)


def _summary(out: Path, run_date: date, deliveries: list[str] | None = None) -> str:
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
    gone = [
        f"{label} {s[key]}"
        for key, label in (("expired", "terminées"), ("withdrawn", "retirées après le délai de grâce"))
        if s.get(key)
    ]
    if gone:
        lines.append("  sorties des flux depuis la dernière publication : " + ", ".join(gone))
    lines.append(f"  constats : {f['error']} erreurs, {f['warning']} avertissements, {f['info']} infos")
    life = manifest.get("findings_life")
    if life is not None:
        lines.append(
            f"  depuis le contrôle précédent : {life['new']} nouveaux, {life['open']} toujours ouverts"
            f" (dont {life['old']} depuis plus de 7 jours), {life['resolved']} résolus"
        )
    messages = manifest.get("messages")
    if messages is not None:
        manual = sum(1 for m in messages if not m.get("recipients"))
        lines.append(
            f"  messages aux organismes : {len(messages)} dans {out / run_date.isoformat() / 'quality' / 'messages'}"
            + (f" (dont {manual} sans adresse, à envoyer à la main)" if manual else "")
            + (" ; envoi : passerelle notify" if messages else "")
        )
    for w in manifest.get("withheld", []):
        lines.append(f"  FLUX NON PUBLIÉ : {w['file']} — {w['reason']}")
    day = out / run_date.isoformat()
    lines.append(f"  flux et rapport : {day}")
    lines.append(f"  rapport qualité : {day / 'quality' / 'report.html'}")
    if deliveries is not None:
        lines.extend(deliveries)
    return "\n".join(lines)


def _alert(out: Path, subject: str, lines: list[str], extra: dict) -> None:
    from passerelle.alerts import send_alert

    result = send_alert(out, subject, "\n".join(lines), extra=extra)
    if result.path is not None:
        print(f"  alerte : {result.path}", file=sys.stderr)
    for error in result.errors:
        print(f"  alerte : {error}", file=sys.stderr)


def _deliveries_config(path: str | None) -> str:
    """The delivery configuration of ``run`` (``--deliveries``, else ``PASSERELLE_DELIVERIES``),
    absolute; raises DeliveryConfigError when it cannot be used (checked before the run)."""
    import os

    from passerelle.delivery.config import ENV_CONFIG, load_config

    path = os.environ.get(ENV_CONFIG, "") if path is None else path
    if not path.strip():
        return ""
    load_config(path.strip())
    return str(Path(path.strip()).resolve())


def _delivery_lines(out: Path, db: str, run_id: str, run_date: date, config_path: str) -> list[str]:
    """The summary lines of the deliveries made by run ``run_id`` (from the store's log)."""
    from passerelle.delivery import load_config
    from passerelle.delivery.deliver import summarize
    from passerelle.delivery.texts import summary_lines
    from passerelle.store import default_store_url, open_store

    try:
        config = load_config(config_path)
        store = open_store(db or default_store_url(out))
        try:
            run = summarize(config, store, out, run_date, run_id)
        finally:
            store.dispose()
    except Exception as exc:  # noqa: BLE001 - the run succeeded; its summary must still print
        return [f"  livraisons : résultat illisible ({exc})"]
    if not run.items:
        return ["  livraisons : aucune (voir l'alerte sous alerts/ : configuration ou livraison interrompue)"]
    return [f"  livraisons : {_delivery_counts(run)}", *summary_lines(run)]


def _delivery_counts(run) -> str:
    counts = run.counts()
    return (
        f"{counts['delivered']} livré(s), {counts['already']} déjà livré(s) avant, {counts['failed']} en échec, "
        f"{counts['withheld']} non publié(s)"
    )


def cmd_run(args) -> int:
    from passerelle.delivery.config import DeliveryConfigError

    if not args.inbox.is_dir():
        print(f"passerelle: le dossier de dépôt {args.inbox} n'existe pas", file=sys.stderr)
        return EXIT_USAGE
    try:
        deliveries = _deliveries_config(args.deliveries)
    except DeliveryConfigError as exc:
        print(f"passerelle: {exc}", file=sys.stderr)
        return EXIT_USAGE
    progress = None if args.quiet else _print_progress
    day = args.date.isoformat()
    t0 = time.monotonic()
    try:
        result = run_daily(
            args.inbox,
            args.out,
            args.date,
            args.db,
            progress=progress,
            lock_wait_seconds=args.wait,
            deliveries=deliveries,
        )
    except Exception as exc:  # the run could not even start (database unreachable, bad URL...)
        line = f"passerelle: le run du {day} n'a pas pu démarrer : {exc}"
        print(line, file=sys.stderr)
        _alert(
            args.out, f"Passerelle : le run du {day} n'a pas pu démarrer", [line], {"date": day, "kind": "run_failure"}
        )
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
        head = (
            f"passerelle: le run du {day} n'a pas pu aboutir ; rien n'a été publié "
            f"sous {args.out / day} (les flux précédents sont intacts)."
        )
        lines = [f"  {line}" for line in failure_lines(events, label=_step_label)]
        print(head, file=sys.stderr)
        for line in lines:
            print(line, file=sys.stderr)
        _alert(args.out, f"Passerelle : le run du {day} a échoué", [head, f"(run {result.run_id})", "", *lines], extra)
        return EXIT_FAILED
    delivered = _delivery_lines(args.out, args.db, result.run_id, args.date, deliveries) if deliveries else None
    print(_summary(args.out, args.date, delivered))
    print(f"  durée : {time.monotonic() - t0:.1f} s")
    return EXIT_OK


def cmd_deliver(args) -> int:
    import uuid as _uuid

    from passerelle.delivery import DeliveryConfigError, NothingPublishedError, deliver, load_config
    from passerelle.delivery.texts import summary_lines
    from passerelle.runlock import RunLockedError, run_lock
    from passerelle.store import StoreError, default_store_url, open_store
    from passerelle.store.db import DEFAULT_DB_FILE

    try:
        config = load_config(args.config)
        if args.to is not None:
            config.consumer(args.to)
    except DeliveryConfigError as exc:
        print(f"passerelle: {exc}", file=sys.stderr)
        return EXIT_USAGE
    day = args.date
    batch_id = f"deliver-{_uuid.uuid4()}"
    if not args.db and not (args.out / DEFAULT_DB_FILE).is_file():
        print(
            f"passerelle: pas de base {args.out / DEFAULT_DB_FILE} : --out n'est pas le dossier de sortie des runs "
            "(ou donnez --db).",
            file=sys.stderr,
        )
        return EXIT_FAILED
    try:
        store = open_store(args.db or default_store_url(args.out))
    except StoreError as exc:
        print(f"passerelle: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        with run_lock(store, batch_id, detail=f"dépôt des flux du {day.isoformat()}", wait_seconds=args.wait):
            run = deliver(config, store, args.out, day, batch_id=batch_id, only=args.to)
    except (NothingPublishedError, RunLockedError) as exc:
        print(f"passerelle: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        store.dispose()
    print(f"Passerelle — livraison des flux du {day:%d/%m/%Y} (lot {run.batch_id})")
    print(f"  {_delivery_counts(run)}")
    for line in summary_lines(run):
        print(line)
    for path in run.alerts:
        print(f"  alerte : {path}", file=sys.stderr)
    return EXIT_OK if run.ok else EXIT_FAILED


def cmd_notify(args) -> int:
    from passerelle.notify import NotifyError, NotifySettings, listing, notify
    from passerelle.store import StoreError, default_store_url, open_store

    try:
        settings = NotifySettings.load(args.config)
        if not args.out.is_dir():
            raise NotifyError(f"le dossier de sortie {args.out} n'existe pas")
        store = open_store(args.db or default_store_url(args.out))
    except (NotifyError, StoreError) as exc:
        print(f"passerelle: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        decisions = notify(args.out, args.date, store, settings, dry_run=args.dry_run)
    except NotifyError as exc:
        print(f"passerelle: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        store.dispose()
    print("\n".join(listing(decisions, args.date, args.dry_run)))
    return EXIT_FAILED if any(d.outcome == "failed" for d in decisions) else EXIT_OK


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
    if args.command == "deliver":
        return cmd_deliver(args)
    if args.command == "notify":
        return cmd_notify(args)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
