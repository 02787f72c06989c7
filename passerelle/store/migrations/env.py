"""Alembic environment of the Passerelle store.

Two ways in:

- programmatic (the daily run): :func:`passerelle.store.db.upgrade` passes an open connection,
  already inside a transaction, in ``config.attributes["connection"]``; the migrations run on
  it and the caller commits. Logging is left alone (we run inside Dagster or the CLI).
- command line: ``alembic -c passerelle/store/alembic.ini -x db=URL upgrade head`` (or
  ``PASSERELLE_DB_URL``); the engine is built like the store builds it.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import text

from passerelle.store.db import make_engine
from passerelle.store.models import metadata

config = context.config


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("db") or os.environ.get("PASSERELLE_DB_URL")
    url = url or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("no database URL: give -x db=URL or set PASSERELLE_DB_URL")
    return url


def _run(connection) -> None:
    if connection.dialect.name == "postgresql":
        # Two runs starting at once on a fresh database must not both create the tables:
        # the second waits here until the first commits, then finds the schema up to date.
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('passerelle.store.migrations'))"))
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    engine = make_engine(_url())
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
