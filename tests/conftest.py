"""Shared fixtures.

``db_url``: a database URL for the store, once per backend:

- ``sqlite``: a fresh SQLite file in the test's tmp folder;
- ``postgres``: a fresh schema ``t_<uuid>`` on the server named by
  ``PASSERELLE_TEST_POSTGRES_URL`` (e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/test``),
  put first on the search path through the URL (``?options=-csearch_path=t_<uuid>``) and
  dropped after the test. Skipped when the variable is unset.

``store``: ``open_store(db_url)``, disposed after the test.
"""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

POSTGRES_ENV = "PASSERELLE_TEST_POSTGRES_URL"
POSTGRES_SKIP = f"{POSTGRES_ENV} not set: PostgreSQL store tests skipped"


def _postgres_schema_url(base_url: str):
    """Create a fresh schema, yield a URL whose connections use it, drop it afterwards."""
    schema = f"t_{uuid.uuid4().hex}"
    admin = sa.create_engine(base_url, poolclass=sa.pool.NullPool)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = sa.make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite3'}"
        return
    base_url = os.environ.get(POSTGRES_ENV)
    if not base_url:
        pytest.skip(POSTGRES_SKIP)
    yield from _postgres_schema_url(base_url)


@pytest.fixture
def store(db_url):
    from passerelle.store import open_store

    opened = open_store(db_url)
    try:
        yield opened
    finally:
        opened.dispose()
