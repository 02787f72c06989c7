"""Alerts from Dagster: what a failed run says, and the hook for failed blocking checks.

- :func:`failure_lines` turns a run's events into French lines (failed steps with their root
  cause, failed blocking checks, a resource that could not start, e.g. the run lock); the CLI
  and the run-failure sensor (``pipelines/sensors.py``) both use it.
- :data:`blocking_check_alert` is a failure hook on ``daily_job`` and ``backfill_job``: when a
  step fails because one of its blocking checks failed, it writes an alert naming the check
  (``passerelle.alerts.send_alert``: ``<out>/alerts/`` + mail/webhook when configured). It
  runs inside the run, so ``passerelle run`` gets it too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from dagster import AssetCheckEvaluation, DagsterEvent, DagsterEventType, HookContext, failure_hook

from passerelle.alerts import send_alert


class _NoError:
    cls_name = None


FAILED = _NoError()


def root_error(error):
    """The error to show from a SerializableErrorInfo chain: the first one raised by our code
    (not a Dagster wrapper), whose message says what to do (e.g. the store's « Impossible
    d'ouvrir la base … »), rather than its low-level causes; else the innermost one."""
    first = error
    while error is not None:
        if error.cls_name and not error.cls_name.startswith("Dagster"):
            return error
        if error.cause is None:
            return error
        error = error.cause
    return first


def error_text(error) -> str:
    """``module.Class: message`` -> ``message`` (the class is noise for the reader)."""
    if error is None:
        return "échec"
    text = " ".join(line.strip() for line in error.message.strip().splitlines() if line.strip())
    return re.sub(rf"^[\w.]*{re.escape(error.cls_name or '')}: ", "", text) if error.cls_name else text


def _failed_blocking_check(event: DagsterEvent) -> AssetCheckEvaluation | None:
    """The evaluation an event carries when it is a failed blocking check, else None."""
    if event.event_type_value != DagsterEventType.ASSET_CHECK_EVALUATION.value:
        return None
    data = event.event_specific_data
    if isinstance(data, AssetCheckEvaluation) and not data.passed and bool(getattr(data, "blocking", False)):
        return data
    return None


def failed_blocking_checks(events: Iterable[DagsterEvent]) -> list[str]:
    """``asset / check`` of every failed blocking check among ``events``, followed by the
    precise cause the check recorded (metadata ``cause``: file, line, element, value) when it did."""
    out = []
    for ev in events:
        data = _failed_blocking_check(ev)
        if data is not None:
            cause = (getattr(data, "metadata", None) or {}).get("cause")
            cause = getattr(cause, "value", cause)
            out.append(f"{data.asset_key.to_user_string()} / {data.check_name}" + (f" — {cause}" if cause else ""))
    return out


def step_cause(error) -> str:
    """The French cause of a failed step (:func:`passerelle.failures.exception_cause`)."""
    from passerelle.failures import exception_cause

    if error is None:
        return "échec"
    return exception_cause(error.cls_name, error.message, getattr(error, "stack", None))


def lock_error(events: Iterable[DagsterEvent]):
    """The RunLockedError that stopped the run before its first step, or None."""
    for ev in events:
        if ev.event_type_value in (DagsterEventType.RESOURCE_INIT_FAILURE.value, DagsterEventType.RUN_FAILURE.value):
            err = getattr(ev.event_specific_data, "error", None)
            while err is not None:
                if err.cls_name == "RunLockedError":
                    return err
                err = err.cause
    return None


def failure_lines(
    events: Iterable[DagsterEvent], label: Callable[[str], str] = lambda step: step, max_steps: int = 5
) -> list[str]:
    """French lines saying why a run failed: failed steps (root cause), failed blocking checks,
    resources that could not start."""
    events = list(events)
    lines: list[str] = []
    seen: set[str] = set()
    step_failures = [e for e in events if e.is_step_failure]
    # a step failed by its blocking checks is told by the check lines below
    told = [
        e
        for e in step_failures
        if (root_error(e.step_failure_data.error) or FAILED).cls_name != "DagsterAssetCheckFailedError"
    ]
    for ev in told[:max_steps]:
        err = root_error(ev.step_failure_data.error)
        lines.append(f"étape « {label(ev.step_key or '').strip()} » en échec : {step_cause(err)}")
    if len(told) > max_steps:
        lines.append(f"… et {len(told) - max_steps} autre(s) étape(s) en échec")
    for check in failed_blocking_checks(events):
        lines.append(f"contrôle bloquant en échec : {check}")
    for ev in events:
        if ev.event_type_value == DagsterEventType.RESOURCE_INIT_FAILURE.value or (
            ev.event_type_value == DagsterEventType.RUN_FAILURE.value and not step_failures
        ):
            err = root_error(getattr(ev.event_specific_data, "error", None))
            if err is None:
                continue
            text = error_text(err)
            if text not in seen:
                seen.add(text)
                lines.append(text)
    return lines


def _partition_of(instance, run_id: str) -> str | None:
    run = instance.get_run_by_id(run_id) if instance is not None else None
    return run.tags.get("dagster/partition") if run is not None else None


@failure_hook(required_resource_keys={"outbox"}, name="blocking_check_alert")
def blocking_check_alert(context: HookContext) -> None:
    """Alert when a step failed because a blocking check of that step failed."""
    logs = context.instance.all_logs(context.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    events = [
        e.dagster_event for e in logs if e.dagster_event is not None and e.dagster_event.step_key == context.step_key
    ]
    checks = failed_blocking_checks(events)
    if not checks:
        return
    day = _partition_of(context.instance, context.run_id) or "?"
    subject = f"Passerelle : contrôle bloquant en échec, run du {day} non publié"
    body = "\n".join(
        [
            f"Le run {context.run_id} (job {context.job_name}, date {day}) s'arrête : un contrôle bloquant a échoué,",
            "rien n'est publié pour cette date (les flux précédents restent en place).",
            "",
            *[f"- {c}" for c in checks],
            "",
            f"Étape en échec : {context.step_key}. Le détail complet du contrôle est aussi dans Dagster (métadonnées de "
            "l'évaluation) et le rapport qualité.",
        ]
    )
    result = send_alert(
        context.resources.outbox.root(),
        subject,
        body,
        extra={"run_id": context.run_id, "date": day, "checks": checks, "kind": "blocking_check"},
    )
    context.log.warning(f"alerte écrite : {result.path}")
