"""One partition per day: the date D of the daily run."""

from dagster import DailyPartitionsDefinition

daily_partitions = DailyPartitionsDefinition(start_date="2026-01-01", timezone="Europe/Paris", end_offset=1)
