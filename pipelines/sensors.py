"""Sensors: request the day's run when a complete set of extracts for a new date lands."""


from dagster import RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor

from passerelle.inbox import complete_dates
from pipelines.jobs import daily_job
from pipelines.resources import InboxResource


@sensor(job=daily_job, minimum_interval_seconds=300, description="A complete set of extracts for a new date is in the inbox")
def complete_extracts_sensor(context: SensorEvaluationContext, inbox: InboxResource):
    last = context.cursor or ""
    dates = [d for d in complete_dates(inbox.root()) if d.isoformat() > last]
    if not dates:
        return SkipReason(f"no new complete set of extracts after {last or 'the start'}")
    requests = [
        RunRequest(run_key=f"extracts-{d.isoformat()}", partition_key=d.isoformat()) for d in dates
    ]
    return SensorResult(run_requests=requests, cursor=dates[-1].isoformat())
