"""Engines and migrations of the store.

:func:`make_engine` builds an engine for SQLite (a file, created with its folder when missing,
or ``sqlite://`` in memory) or PostgreSQL (``postgresql+psycopg://…``), the same way for the
daily run and for the ``alembic`` command line. :func:`upgrade` / :func:`downgrade` run the
Alembic migrations shipped in the package on an open connection.

SQLite specifics, so that it behaves like PostgreSQL where it matters:

- foreign keys enforced (``PRAGMA foreign_keys=ON``), a 30 s busy timeout, 64 MiB of cache;
- real transactions: pysqlite's legacy transaction control (no BEGIN before DDL or SELECT) is
  switched off and SQLAlchemy emits ``BEGIN`` itself (the recipe of the SQLAlchemy SQLite
  documentation), so a migration or a publication commits or rolls back as a whole. Write
  transactions open with ``BEGIN IMMEDIATE`` (see :func:`write_transaction`) so that two
  writers queue instead of dead-locking on a lock upgrade.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

SUPPORTED_BACKENDS = ("sqlite", "postgresql")
# Alembic keeps the running migration environment in a module global (``alembic.context``):
# two threads migrating at once would trample each other. Between processes, SQLite's write
# lock and a PostgreSQL advisory lock (migrations/env.py) serialise instead.
_ALEMBIC_LOCK = threading.Lock()
_WRITE_OPTION = "passerelle_write"


class StoreError(RuntimeError):
    """The store cannot do what was asked (message in French, for the people running Passerelle)."""


def _json_default(value: Any) -> Any:
    """JSON for what pandas and numpy hand over in summaries (numpy scalars, dates, decimals)."""
    if hasattr(value, "item") and callable(value.item):  # numpy / pyarrow scalar
        return value.item()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


json_dumps = partial(json.dumps, ensure_ascii=False, sort_keys=True, default=_json_default)


def display_url(url: str | URL) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a message must not fail on a malformed URL
        return "<URL illisible>"


DEFAULT_DB_FILE = "passerelle.sqlite3"


def sqlite_url(path: str | Path) -> str:
    """The SQLAlchemy URL of an SQLite file (absolute, so the working directory does not matter)."""
    return f"sqlite:///{Path(path).expanduser().resolve()}"


def default_store_url(out_dir: str | Path) -> str:
    """The store used when ``--db`` is not given: an SQLite file at the top of ``--out``."""
    return sqlite_url(Path(out_dir) / DEFAULT_DB_FILE)


def make_engine(url: str | URL, **kwargs: Any) -> sa.Engine:
    """An engine for the store: SQLite (file or memory) or PostgreSQL."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"Adresse de base de données illisible : {url!r} ({exc}).") from exc
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise StoreError(
            f"Base de données non prise en charge : {display_url(parsed)}. "
            "Utilisez un fichier SQLite (sqlite:///chemin/passerelle.sqlite3) ou PostgreSQL "
            "(postgresql+psycopg://utilisateur@hôte/base)."
        )
    options: dict[str, Any] = {"json_serializer": json_dumps, **kwargs}
    if backend == "sqlite":
        database = parsed.database or ""
        in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
        connect_args = dict(options.pop("connect_args", {}))
        connect_args.setdefault("timeout", 30)
        if in_memory:
            connect_args.setdefault("check_same_thread", False)
            options.setdefault("poolclass", StaticPool)
        else:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        options["connect_args"] = connect_args
        engine = sa.create_engine(parsed, **options)
        _sqlite_transactions(engine)
    else:
        options.setdefault("pool_pre_ping", True)
        engine = sa.create_engine(parsed, **options)
    return engine


def _sqlite_transactions(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB of page cache: million-row indexes
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection inside a transaction meant to write (``BEGIN IMMEDIATE`` on SQLite)."""
    with engine.connect() as conn:
        conn.execution_options(**{_WRITE_OPTION: True})
        with conn.begin():
            yield conn


# --- migrations -------------------------------------------------------------------------------


def _package_dir() -> Path:
    return Path(str(resources.files("passerelle.store")))


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """The Alembic configuration shipped in the package, bound to ``connection`` when given."""
    package = _package_dir()
    config = Config(str(package / "alembic.ini"))
    config.set_main_option("script_location", str(package / "migrations"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: sa.Connection) -> str | None:
    """The migration the database is at (None when it was never migrated)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: sa.Connection, revision: str = "head") -> None:
    """Migrate the database up to ``revision`` on ``connection`` (the caller commits)."""
    with _ALEMBIC_LOCK:
        command.upgrade(alembic_config(connection), revision)


def downgrade(connection: sa.Connection, revision: str) -> None:
    """Migrate the database down to ``revision`` (``"base"`` drops every table)."""
    with _ALEMBIC_LOCK:
        command.downgrade(alembic_config(connection), revision)
