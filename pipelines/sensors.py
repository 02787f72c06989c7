"""Sensors: request the day's run when a complete set of extracts for a new date lands; alert
when a run fails."""

from dagster import (
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from passerelle.alerts import send_alert
from passerelle.inbox import complete_dates
from pipelines.alerting import failure_lines, lock_error
from pipelines.jobs import daily_job
from pipelines.resources import InboxResource, OutboxResource


@sensor(
    job=daily_job, minimum_interval_seconds=300, description="A complete set of extracts for a new date is in the inbox"
)
def complete_extracts_sensor(context: SensorEvaluationContext, inbox: InboxResource):
    last = context.cursor or ""
    dates = [d for d in complete_dates(inbox.root()) if d.isoformat() > last]
    if not dates:
        return SkipReason(f"no new complete set of extracts after {last or 'the start'}")
    requests = [RunRequest(run_key=f"extracts-{d.isoformat()}", partition_key=d.isoformat()) for d in dates]
    return SensorResult(run_requests=requests, cursor=dates[-1].isoformat())


def run_failure_alert_text(context: RunFailureSensorContext) -> tuple[str, str, dict]:
    """Subject, body and webhook fields of the alert for a failed run."""
    run = context.dagster_run
    day = run.tags.get("dagster/partition") or "?"
    events = [e.dagster_event for e in context.instance.all_logs(run.run_id) if e.dagster_event is not None]
    lines = failure_lines(events) or [context.failure_event.message or "échec sans détail"]
    locked = lock_error(events) is not None
    subject = (
        f"Passerelle : run du {day} non lancé, un autre run est en cours"
        if locked
        else f"Passerelle : le run du {day} a échoué"
    )
    body = "\n".join(
        [
            f"Le run {run.run_id} (job {run.job_name}, date {day}) n'a pas pu aboutir : rien n'a été publié pour "
            "cette date, les flux déjà publiés restent en place.",
            "",
            *[f"- {line}" for line in lines],
            "",
            f"Corrigez la cause puis relancez la date (Dagster : « Re-execute », ou passerelle run --date {day}).",
        ]
    )
    return subject, body, {"run_id": run.run_id, "job": run.job_name, "date": day, "kind": "run_failure"}


@run_failure_sensor(
    name="run_failure_alert",
    default_status=DefaultSensorStatus.RUNNING,
    description="Alert (file under <out>/alerts/, mail or webhook when configured) when a run of Passerelle fails",
)
def run_failure_alert(context: RunFailureSensorContext, outbox: OutboxResource):
    subject, body, extra = run_failure_alert_text(context)
    result = send_alert(outbox.root(), subject, body, extra=extra)
    context.log.info(f"alert written: {result.path} (mail: {result.mailed}, webhook: {result.posted})")
