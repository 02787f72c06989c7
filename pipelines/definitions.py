"""The Dagster code location: every asset, check, job, schedule, sensor and resource, in one place.

Configuration by environment (production):
  PASSERELLE_INBOX   folder where the extracts land
  PASSERELLE_OUT     output folder (one sub-folder per date)
  PASSERELLE_DB      store URL (postgresql+psycopg://…); empty = SQLite under PASSERELLE_OUT
  PASSERELLE_LOCK_WAIT  seconds a run waits for the store-wide run lock held by another run
                     before failing (default 1800: a sensor run and the 05:00 run queue up)
  PASSERELLE_ALERT_SMTP / PASSERELLE_ALERT_WEBHOOK / PASSERELLE_ALERT_FROM / PASSERELLE_ALERT_TO
                     where failure alerts go besides <out>/alerts/ (passerelle/alerts.py)
  PASSERELLE_DELIVERIES  deliveries.yaml: the daily job's last step sends each consumer its files
                     (passerelle/delivery/); unset = nothing is sent

Every run that touches the store holds the run lock ``daily-run`` from its start to its end (the
``store`` resource takes it, see pipelines/resources.py). That relies on the in-process
executor (resources set up once per run), so it is the default executor of every job here,
UI materialisations included.
"""

import os

from dagster import Definitions, EnvVar, FilesystemIOManager, in_process_executor

from assets.canonical import core_tables
from assets.deliver import delivered, out_delivery
from assets.ingest import raw_assets, raw_checks
from assets.publish import out_feeds, out_publication, out_quality_report
from assets.quality import core_findings, core_previous_publication, core_publishable, gx_contract
from pipelines.jobs import backfill_job, daily_job
from pipelines.resources import DeliveriesResource, InboxResource, OutboxResource, StoreResource
from pipelines.schedules import daily_schedule
from pipelines.sensors import complete_extracts_sensor, run_failure_alert

ASSETS = [
    *raw_assets,
    core_tables,
    core_previous_publication,
    core_findings,
    core_publishable,
    out_feeds,
    out_quality_report,
    out_publication,
    out_delivery,
]
CHECKS = [*raw_checks, gx_contract, delivered]


def resources_for(inbox: str, out: str, db: str = "", lock_wait_seconds: float = 0, deliveries: str = "") -> dict:
    """Resources of one run (the CLI and the tests use this; the deployment uses env vars)."""
    return {
        "inbox": InboxResource(path=inbox),
        "outbox": OutboxResource(path=out),
        "store": StoreResource(url=db, default_dir=out, lock_wait_seconds=lock_wait_seconds),
        "deliveries": DeliveriesResource(config=deliveries),
    }


def _deployed_resources() -> dict:
    out = os.environ.get("PASSERELLE_OUT", "out")
    return {
        "inbox": InboxResource(path=EnvVar("PASSERELLE_INBOX"))
        if "PASSERELLE_INBOX" in os.environ
        else InboxResource(path="data/samples"),
        "outbox": OutboxResource(path=out),
        "store": StoreResource(
            url=os.environ.get("PASSERELLE_DB", ""),
            default_dir=out,
            lock_wait_seconds=float(os.environ.get("PASSERELLE_LOCK_WAIT", "1800") or 0),
        ),
        "deliveries": DeliveriesResource(config=os.environ.get("PASSERELLE_DELIVERIES", "")),
        "io_manager": FilesystemIOManager(base_dir=os.path.join(out, ".dagster-storage")),
    }


defs = Definitions(
    assets=ASSETS,
    asset_checks=CHECKS,
    jobs=[daily_job, backfill_job],
    schedules=[daily_schedule],
    sensors=[complete_extracts_sensor, run_failure_alert],
    resources=_deployed_resources(),
    executor=in_process_executor,
)
