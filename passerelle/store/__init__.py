"""The Passerelle store: runs, inputs read, session versions, publications, locks.

SQLite file by default, PostgreSQL by URL (``postgresql+psycopg://…``); the schema is managed
by the Alembic migrations shipped in ``migrations/`` and applied by :func:`open_store`.
"""

from passerelle.store.db import StoreError, default_store_url, make_engine, sqlite_url
from passerelle.store.models import FEEDS, PUBLISHED_STATUSES, RUN_STATUSES
from passerelle.store.store import Store, StoreLockedError, open_store

__all__ = [
    "FEEDS",
    "PUBLISHED_STATUSES",
    "RUN_STATUSES",
    "Store",
    "StoreError",
    "StoreLockedError",
    "default_store_url",
    "make_engine",
    "open_store",
    "sqlite_url",
]
