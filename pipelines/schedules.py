"""The daily schedule: 05:00 Europe/Paris, for today's partition."""

from dagster import DefaultScheduleStatus, build_schedule_from_partitioned_job

from pipelines.jobs import daily_job

daily_schedule = build_schedule_from_partitioned_job(
    daily_job,
    name="daily_0500_paris",
    hour_of_day=5,
    minute_of_hour=0,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every day at 05:00 (Europe/Paris), run the daily job for that day",
)
