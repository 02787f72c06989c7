"""Dagster resources: where extracts land (inbox), where feeds go (outbox), the store."""


from datetime import date
from pathlib import Path

from dagster import ConfigurableResource

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
    """

    url: str = ""
    default_dir: str = ""

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
