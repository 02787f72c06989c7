"""Dagster resources: where extracts land (inbox), where feeds go (outbox), the store, and who
gets the feeds (deliveries)."""

import logging
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

from dagster import ConfigurableResource, InitResourceContext

from passerelle.feeds.publish import staging_dir


class InboxResource(ConfigurableResource):
    """The folder where the financer systems drop their extracts (read only)."""

    path: str

    def root(self) -> Path:
        return Path(self.path)


class OutboxResource(ConfigurableResource):
    """The output folder: one sub-folder per date, published atomically."""

    path: str

    def root(self) -> Path:
        return Path(self.path)

    def staging(self, run_date: date, run_id: str) -> Path:
        d = staging_dir(self.root(), run_date, run_id)
        d.mkdir(parents=True, exist_ok=True)
        return d


class StoreResource(ConfigurableResource):
    """The database of runs, inputs, session versions and publications.

    ``url`` empty means an SQLite file under the outbox (``<out>/passerelle.sqlite3``);
    production uses PostgreSQL (``postgresql+psycopg://user@host/db``).

    It also holds the store-wide run lock (:mod:`passerelle.runlock`) for the whole run:
    Dagster initialises a run's resources once, before its first step, and tears them down
    after its last step even when a step failed (in-process executor, used by every job and by
    UI materialisations, see ``pipelines/definitions.py``). So every run that touches the store
    — ``passerelle run``, the schedule, the sensor's runs, backfills, the UI — takes the lock
    ``daily-run`` before reading anything and gives it back at its end, through this one code
    path. A run that finds it held waits ``lock_wait_seconds`` then fails before its first step
    with « Un autre run (…) est en cours depuis … ».
    """

    url: str = ""
    default_dir: str = ""
    lock_wait_seconds: float = 0
    lock_stale_hours: float = 6.0

    def resolved_url(self) -> str:
        from passerelle.store.db import default_store_url

        if self.url:
            return self.url
        base = Path(self.default_dir or ".").resolve()
        base.mkdir(parents=True, exist_ok=True)
        return default_store_url(base)

    def open(self):
        from passerelle.store import open_store

        return open_store(self.resolved_url())

    @contextmanager
    def yield_for_execution(self, context: InitResourceContext):
        run_id = context.run_id
        if not run_id:  # outside a run (a sensor, a test building the resource): no lock
            yield self
            return
        from passerelle.daily import check_settings
        from passerelle.runlock import acquire_run_lock, release_run_lock

        check_settings()  # a wrong setting stops the run before it reads anything, naming it

        run = context.dagster_run
        partition = run.tags.get("dagster/partition") if run is not None else None
        detail = f"run du {partition}" if partition else (f"job {run.job_name}" if run is not None else None)
        stale_after = timedelta(hours=self.lock_stale_hours)

        def warn(message: str) -> None:  # the Dagster log (UI) and stderr (the CLI runs with a quiet Dagster log)
            if context.log is not None:
                context.log.warning(message)
            logging.getLogger("passerelle.runlock").warning(message)

        store = self.open()
        try:
            taken = acquire_run_lock(
                store, run_id, detail=detail, wait_seconds=self.lock_wait_seconds, stale_after=stale_after, warn=warn
            )
        finally:
            store.dispose()  # no connection kept open during the run
        try:
            yield self
        finally:
            if taken:
                try:
                    release_run_lock(store, run_id)
                except Exception as exc:  # noqa: BLE001 - never hide the run's own error
                    warn(
                        f"Le verrou « daily-run » n'a pas pu être rendu ({exc}) ; le prochain run le reprendra "
                        "quand ce processus sera terminé."
                    )
                finally:
                    store.dispose()


class DeliveriesResource(ConfigurableResource):
    """The delivery configuration of the run (``deliveries.yaml``, ``passerelle.delivery.config``).

    ``config`` empty: no delivery, the daily job's last step (``out_delivery``) does nothing.
    Deployed: ``PASSERELLE_DELIVERIES``; ``passerelle run --deliveries FILE``."""

    config: str = ""

    def configured(self) -> bool:
        return bool(self.config.strip())

    def load(self):
        """The validated configuration, or None when none is given (raises
        :class:`passerelle.delivery.DeliveryConfigError` when it cannot be used)."""
        from passerelle.delivery.config import load_config

        return load_config(self.config.strip()) if self.configured() else None
