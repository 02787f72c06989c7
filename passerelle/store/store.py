"""The queries the daily run needs, behind one class: :class:`Store`.

``open_store(url)`` builds the engine and migrates the database to the newest schema (a fresh
database is ready, an up-to-date one is left as it is). Then, during a run for date D::

    store.acquire_lock("daily-run", run_id, pid=…, host=…)  # one run at a time (passerelle.runlock)
    store.begin_run(run_id, D, inbox, out_dir)
    store.record_inputs(run_id, inputs)                  # the extract files read
    store.save_session_versions(run_id, versions)        # new (session_key, content_hash) pairs
    last = store.last_publication_date(D)                # the last run that published, before D
    previous = store.published_state(last)               # what consumers have now
    payloads = store.session_payloads(kept_pairs)        # last good versions to re-emit
    store.record_publication(run_id, D, feeds, state)    # replaces anything published for D
    store.finish_run(run_id, "succeeded", summary)
    store.release_lock("daily-run", run_id)

Bulk operations take and give pandas DataFrames (Arrow-backed) and go through
:mod:`passerelle.store.bulk`: COPY on PostgreSQL, executemany on SQLite, temporary tables for
joins against long key lists; never one round trip per row, so that they hold at a million
sessions. ``published_sessions`` grows by one catalogue per published date:
:meth:`Store.prune_published_sessions` keeps the newest ones only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import is_dataclass
from datetime import UTC, date, datetime
from pathlib import PurePath
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from alembic.util import CommandError

from passerelle.store import bulk
from passerelle.store import models as m
from passerelle.store.db import (
    StoreError,
    current_revision,
    display_url,
    head_revision,
    make_engine,
    upgrade,
    write_transaction,
)

PAIR_COLUMNS = ["session_key", "content_hash"]
STATE_COLUMNS = ["session_key", "content_hash", "status", "since_date"]
FEED_FIELDS = ("feed", "file", "sha256", "records")
INPUT_FIELDS = ("source", "kind", "file", "sha256", "rows", "encoding", "ok", "extract_date")

_SHA256_HEX = r"[0-9a-f]{64}"


class StoreLockedError(StoreError):
    """A named lock is already held by another run."""

    def __init__(self, name: str, holder_run_id: str | None, acquired_at: datetime | None) -> None:
        self.name = name
        self.holder_run_id = holder_run_id
        self.acquired_at = acquired_at
        if holder_run_id is None:
            holder = "une autre exécution (qui vient de le libérer : relancez)"
        else:
            holder = f"l'exécution {holder_run_id}"
            if acquired_at is not None:
                holder += f", depuis le {acquired_at:%d/%m/%Y à %H:%M:%S} UTC"
        super().__init__(
            f"Le verrou « {name} » est déjà pris par {holder}. Une seule exécution à la fois : "
            "attendez la fin de celle-ci. Si elle s'est arrêtée sans rendre le verrou, "
            f"libérez-le (Store.release_lock(« {name} »)) puis relancez."
        )


# --- small conversions -------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime | None, what: str) -> datetime:
    if value is None:
        return _now()
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what}: a timezone-aware datetime is needed, got {value!r}")
    return value.astimezone(UTC)


def _as_date(value: date | datetime | str, what: str = "date") -> date:
    if isinstance(value, datetime):  # also pandas.Timestamp
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{what}: a date or 'YYYY-MM-DD' is needed, got {value!r}")


def _check_sha256(hashes: pa.Array | pa.ChunkedArray, what: str) -> None:
    bad = pc.invert(pc.match_substring_regex(hashes, f"^{_SHA256_HEX}$"))
    if len(hashes) and pc.any(bad).as_py():
        sample = pc.filter(hashes, bad).slice(0, 3).to_pylist()
        raise ValueError(
            f"{what}: {pc.sum(bad).as_py()} content_hash value(s) are not sha256 lowercase hex, e.g. {sample}"
        )


def _as_text(value: Any) -> str | None:
    return None if value is None else str(value)  # also pathlib paths


def _record(item: Any, fields: Iterable[str]) -> dict[str, Any]:
    """A dict of ``fields`` from a mapping, a dataclass or any object with those attributes."""
    if isinstance(item, Mapping):
        return {f: item.get(f) for f in fields}
    if is_dataclass(item) and not isinstance(item, type):
        # ExtractRead: ``rows`` is a property, DataFrames must not be deep-copied by asdict.
        return {f: getattr(item, f, None) for f in fields}
    if all(hasattr(item, f) for f in fields if f not in ("ok", "extract_date")):
        return {f: getattr(item, f, None) for f in fields}
    raise TypeError(f"cannot read {sorted(fields)} from {type(item).__name__}")


# --- the store ---------------------------------------------------------------------------------


def open_store(url: str | sa.URL) -> Store:
    """Open the store at ``url`` and migrate it to the newest schema.

    ``sqlite:///path/file.sqlite3`` (the folder is created when missing), ``sqlite://`` in
    memory, or ``postgresql+psycopg://user@host:port/db``. Safe to call on an up-to-date
    database; concurrent calls on a fresh database wait for each other.
    """
    engine = make_engine(url)
    try:
        with write_transaction(engine) as conn:
            upgrade(conn, "head")
    except CommandError as exc:
        engine.dispose()
        raise StoreError(
            f"La base {display_url(url)} porte un schéma que cette version de Passerelle ne "
            f"connaît pas ({exc}). Elle a sans doute été migrée par une version plus récente : "
            "mettez Passerelle à jour, ou utilisez une autre base."
        ) from exc
    except sa.exc.OperationalError as exc:
        engine.dispose()
        raise StoreError(
            f"Impossible d'ouvrir la base {display_url(url)} : {exc.orig}. Vérifiez l'adresse, "
            "que le serveur répond et que le fichier ou le dossier est accessible en écriture."
        ) from exc
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)


class Store:
    """Runs, inputs, session versions, publications and locks of Passerelle."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def __repr__(self) -> str:
        return f"Store({display_url(self.engine.url)})"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def schema_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return current_revision(conn)

    @staticmethod
    def head_revision() -> str:
        return head_revision()

    def counts(self) -> dict[str, int]:
        """Rows per table (diagnostics)."""
        with self.engine.connect() as conn:
            return {
                name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for name, table in m.metadata.tables.items()
            }

    # --- runs ----------------------------------------------------------------------------------

    @staticmethod
    def _require_run(conn: sa.Connection, run_id: str) -> None:
        found = conn.execute(sa.select(m.runs.c.run_id).where(m.runs.c.run_id == str(run_id))).first()
        if found is None:
            raise StoreError(f"L'exécution {run_id} est inconnue : begin_run n'a pas été appelé pour elle.")

    def begin_run(
        self,
        run_id: str,
        run_date: date | str,
        inbox: str | PurePath | None = None,
        out_dir: str | PurePath | None = None,
        *,
        started_at: datetime | None = None,
    ) -> None:
        """Record a run as ``running``."""
        row = {
            "run_id": str(run_id),
            "run_date": _as_date(run_date, "run_date"),
            "started_at": _utc(started_at, "started_at"),
            "finished_at": None,
            "status": "running",
            "inbox": _as_text(inbox),
            "out_dir": _as_text(out_dir),
            "summary": None,
        }
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(sa.insert(m.runs), row)
        except sa.exc.IntegrityError as exc:
            raise StoreError(
                f"L'exécution {run_id} est déjà enregistrée : chaque exécution doit avoir un identifiant neuf."
            ) from exc

    def finish_run(
        self,
        run_id: str,
        status: str,
        summary: Mapping[str, Any] | None = None,
        *,
        finished_at: datetime | None = None,
    ) -> None:
        """Close a run: ``succeeded`` or ``failed``, with its summary (JSON)."""
        if status not in ("succeeded", "failed"):
            raise ValueError(f"status must be 'succeeded' or 'failed', got {status!r}")
        if summary is not None and not isinstance(summary, Mapping):
            raise TypeError(f"summary must be a dict, got {type(summary).__name__}")
        with write_transaction(self.engine) as conn:
            result = conn.execute(
                sa.update(m.runs)
                .where(m.runs.c.run_id == str(run_id))
                .values(status=status, finished_at=_utc(finished_at, "finished_at"), summary=dict(summary or {}))
            )
            if result.rowcount != 1:
                self._require_run(conn, run_id)

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(m.runs).where(m.runs.c.run_id == str(run_id))).mappings().first()
        return dict(row) if row is not None else None

    def run_history(self, limit: int = 30) -> list[dict[str, Any]]:
        """The latest succeeded run of each run date, newest date first, at most ``limit`` dates.

        Each item: run_date, run_id, status, summary, started_at, finished_at.
        """
        if int(limit) < 1:
            raise ValueError(f"limit must be at least 1, got {limit!r}")
        r = m.runs.c
        rank = (
            sa.func.row_number()
            .over(partition_by=r.run_date, order_by=(r.finished_at.desc(), r.started_at.desc(), r.run_id.desc()))
            .label("rank")
        )
        ranked = (
            sa.select(r.run_date, r.run_id, r.status, r.summary, r.started_at, r.finished_at, rank)
            .where(r.status == "succeeded")
            .subquery()
        )
        query = (
            sa.select(
                ranked.c.run_date,
                ranked.c.run_id,
                ranked.c.status,
                ranked.c.summary,
                ranked.c.started_at,
                ranked.c.finished_at,
            )
            .where(ranked.c.rank == 1)
            .order_by(ranked.c.run_date.desc())
            .limit(int(limit))
        )
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    # --- inputs --------------------------------------------------------------------------------

    def record_inputs(self, run_id: str, inputs: Iterable[Mapping[str, Any] | Any]) -> None:
        """The extract files a run read (dicts, or ``ExtractRead``); replaces earlier rows of the run."""
        rows = []
        for item in inputs:
            row = _record(item, INPUT_FIELDS)
            row["run_id"] = str(run_id)
            for key in ("source", "kind", "file", "sha256", "encoding"):
                row[key] = _as_text(row[key])
            row["rows"] = None if row["rows"] is None else int(row["rows"])
            row["ok"] = None if row["ok"] is None else bool(row["ok"])
            row["extract_date"] = None if row["extract_date"] is None else _as_date(row["extract_date"])
            rows.append(row)
        with write_transaction(self.engine) as conn:
            conn.execute(sa.delete(m.inputs_read).where(m.inputs_read.c.run_id == str(run_id)))
            if rows:
                conn.execute(sa.insert(m.inputs_read), rows)

    def inputs_read(self, run_id: str) -> list[dict[str, Any]]:
        t = m.inputs_read
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(*(t.c[f] for f in INPUT_FIELDS)).where(t.c.run_id == str(run_id)).order_by(t.c.id)
            ).mappings()
            return [dict(row) for row in rows]

    # --- session versions ----------------------------------------------------------------------

    def save_session_versions(self, run_id: str, versions: pd.DataFrame) -> int:
        """Store the (session_key, content_hash) pairs not stored yet, with their payload.

        ``versions``: columns session_key, content_hash (sha256, lowercase hex), payload (JSON
        text). Pairs already stored keep their payload and their first run; only the payloads of
        new pairs travel to the database. Returns the number of pairs added.
        """
        what = "save_session_versions"
        keys, hashes, payloads = self._validated_versions(versions, "session_key", what)
        if not len(keys):
            return 0
        first = bulk.first_positions(keys, hashes)

        with write_transaction(self.engine) as conn:
            self._require_run(conn, run_id)
            new = self._unstored(conn, keys, hashes, first)
            bulk.load(
                conn,
                "session_versions",
                ["session_key", "content_hash", "payload", "first_seen_run_id"],
                [keys.take(new), hashes.take(new), payloads.take(new), pa.repeat(pa.scalar(str(run_id)), len(new))],
                skip_conflicts_on=PAIR_COLUMNS,  # a run of another date may have stored it meanwhile
            )
        return len(new)

    @staticmethod
    def _unstored(
        conn: sa.Connection, keys: bulk.ArrowColumn, hashes: bulk.ArrowColumn, first: pa.Array, kind: str | None = None
    ) -> pa.Array:
        """Positions (among ``first``) of the pairs not in session_versions, or, with ``kind``,
        not in entity_versions for that kind. Ascending."""
        incoming = "passerelle_incoming_pairs"
        bulk.create_temp_table(
            conn, incoming, "pos BIGINT NOT NULL, entity_key VARCHAR NOT NULL, content_hash VARCHAR NOT NULL"
        )
        bulk.load(conn, incoming, ["pos", "entity_key", "content_hash"], [first, keys.take(first), hashes.take(first)])
        bulk.analyze(conn, incoming)
        if kind is None:
            found = bulk.fetch(
                conn,
                f"SELECT i.pos FROM {incoming} i WHERE NOT EXISTS (SELECT 1 FROM session_versions v "
                "WHERE v.session_key = i.entity_key AND v.content_hash = i.content_hash) ORDER BY i.pos",
            )
        else:
            found = bulk.fetch(
                conn,
                f"SELECT i.pos FROM {incoming} i WHERE NOT EXISTS (SELECT 1 FROM entity_versions v "
                f"WHERE v.kind = {bulk.placeholder(conn)} AND v.entity_key = i.entity_key "
                "AND v.content_hash = i.content_hash) ORDER BY i.pos",
                (kind,),
            )
        bulk.drop_temp_table(conn, incoming)
        return pa.array([row[0] for row in found], pa.int64())

    @staticmethod
    def _validated_versions(
        frame: pd.DataFrame, key_column: str, what: str
    ) -> tuple[bulk.ArrowColumn, bulk.ArrowColumn, bulk.ArrowColumn]:
        bulk.require_columns(frame, [key_column, "content_hash", "payload"], what)
        keys = bulk.text_array(frame, key_column, what)
        hashes = bulk.text_array(frame, "content_hash", what)
        payloads = bulk.text_array(frame, "payload", what)
        _check_sha256(hashes, what)
        return keys, hashes, payloads

    def new_version_pairs(self, pairs: pd.DataFrame) -> pd.DataFrame:
        """The (session_key, content_hash) pairs of ``pairs`` not stored yet (first occurrence,
        in the order given): the run builds payloads for these only."""
        what = "new_version_pairs"
        bulk.require_columns(pairs, PAIR_COLUMNS, what)
        keys = bulk.text_array(pairs, "session_key", what)
        hashes = bulk.text_array(pairs, "content_hash", what)
        if not len(keys):
            return bulk.frame_from_rows([], {"session_key": pa.string(), "content_hash": pa.string()})
        first = bulk.first_positions(keys, hashes)
        with self.engine.connect() as conn, conn.begin() as transaction:
            new = self._unstored(conn, keys, hashes, first)
            transaction.rollback()
        return pa.table({"session_key": keys.take(new), "content_hash": hashes.take(new)}).to_pandas(
            types_mapper=pd.ArrowDtype
        )

    def save_entity_versions(self, run_id: str, kind: str, versions: pd.DataFrame) -> int:
        """Store formation or action payloads: ``versions`` has columns key, content_hash, payload.

        New (key, content_hash) pairs are added; every pair given is marked as seen by this run
        (its date), which makes it the latest version of its key. Returns the pairs added.
        """
        what = "save_entity_versions"
        if kind not in m.ENTITY_KINDS:
            raise ValueError(f"{what}: kind must be one of {m.ENTITY_KINDS}, got {kind!r}")
        keys, hashes, payloads = self._validated_versions(versions, "key", what)
        if not len(keys):
            return 0
        first = bulk.first_positions(keys, hashes)
        t = m.entity_versions
        seen = sa.Table(
            "passerelle_seen_entities",
            sa.MetaData(),
            sa.Column("entity_key", sa.String(), nullable=False),
            sa.Column("content_hash", sa.String(), nullable=False),
            prefixes=["TEMPORARY"],
        )
        with write_transaction(self.engine) as conn:
            self._require_run(conn, run_id)
            day = conn.execute(sa.select(m.runs.c.run_date).where(m.runs.c.run_id == str(run_id))).scalar_one()
            new = self._unstored(conn, keys, hashes, first, kind)
            bulk.load(
                conn,
                "entity_versions",
                ["kind", "entity_key", "content_hash", "payload", "first_seen_run_id"],
                [
                    pa.repeat(pa.scalar(kind), len(new)),
                    keys.take(new),
                    hashes.take(new),
                    payloads.take(new),
                    pa.repeat(pa.scalar(str(run_id)), len(new)),
                ],
                skip_conflicts_on=["kind", "entity_key", "content_hash"],
            )
            seen.create(conn)
            bulk.load(conn, seen.name, ["entity_key", "content_hash"], [keys.take(first), hashes.take(first)])
            # Without an index the EXISTS below scans the whole temp table per stored row
            # (quadratic: 70 s for 40k actions on SQLite).
            bulk.execute(conn, f"CREATE INDEX {seen.name}_pair ON {seen.name} (entity_key, content_hash)")
            bulk.analyze(conn, seen.name)
            conn.execute(
                sa.update(t)
                .where(
                    t.c.kind == kind,
                    sa.or_(t.c.last_seen_date.is_(None), t.c.last_seen_date <= day),
                    sa.exists().where(seen.c.entity_key == t.c.entity_key, seen.c.content_hash == t.c.content_hash),
                )
                .values(last_seen_date=day, last_seen_at=_now())
            )
            seen.drop(conn)
        return len(new)

    def latest_entity_payloads(self, kind: str, keys: Iterable[str]) -> pd.Series:
        """The latest stored payload of each formation or action key (latest run date that saw
        it, then latest save). A Series of payload texts indexed by key, in the order of
        ``keys``; unknown keys are absent."""
        what = "latest_entity_payloads"
        if kind not in m.ENTITY_KINDS:
            raise ValueError(f"{what}: kind must be one of {m.ENTITY_KINDS}, got {kind!r}")
        wanted_keys = list(dict.fromkeys(str(k) for k in keys))
        if not wanted_keys:
            return pd.Series(
                [],
                index=pd.Index([], dtype=pd.ArrowDtype(pa.string()), name="key"),
                dtype=pd.ArrowDtype(pa.string()),
                name="payload",
            )
        wanted = "passerelle_wanted_entities"
        with self.engine.connect() as conn, conn.begin() as transaction:
            bulk.create_temp_table(conn, wanted, "pos BIGINT NOT NULL, entity_key VARCHAR NOT NULL")
            bulk.load(
                conn,
                wanted,
                ["pos", "entity_key"],
                [pa.array(range(len(wanted_keys)), pa.int64()), pa.array(wanted_keys, pa.string())],
            )
            bulk.analyze(conn, wanted)
            found = bulk.fetch(
                conn,
                "SELECT pos, entity_key, payload FROM ("
                "SELECT w.pos, e.entity_key, e.payload, ROW_NUMBER() OVER (PARTITION BY e.entity_key "
                "ORDER BY e.last_seen_date DESC, e.last_seen_at DESC, e.content_hash) AS rank "
                f"FROM {wanted} w JOIN entity_versions e ON e.entity_key = w.entity_key "
                f"WHERE e.kind = {bulk.placeholder(conn)}) latest WHERE rank = 1 ORDER BY pos",
                (kind,),
            )
            transaction.rollback()
        frame = bulk.frame_from_rows([row[1:] for row in found], {"key": pa.string(), "payload": pa.string()})
        return frame.set_index("key")["payload"]

    def session_payloads(self, pairs: pd.DataFrame) -> pd.DataFrame:
        """The payloads of the given (session_key, content_hash) pairs.

        Returns columns session_key, content_hash, payload, in the order of ``pairs`` (duplicates
        dropped); a pair that is not stored is absent from the result.
        """
        what = "session_payloads"
        bulk.require_columns(pairs, PAIR_COLUMNS, what)
        keys = bulk.text_array(pairs, "session_key", what)
        hashes = bulk.text_array(pairs, "content_hash", what)
        columns = {"session_key": pa.string(), "content_hash": pa.string(), "payload": pa.string()}
        if not len(keys):
            return bulk.frame_from_rows([], columns)
        first = bulk.first_positions(keys, hashes)
        wanted = "passerelle_wanted_pairs"
        with self.engine.connect() as conn, conn.begin() as transaction:
            bulk.create_temp_table(
                conn, wanted, "pos BIGINT NOT NULL, session_key VARCHAR NOT NULL, content_hash VARCHAR NOT NULL"
            )
            bulk.load(
                conn, wanted, ["pos", "session_key", "content_hash"], [first, keys.take(first), hashes.take(first)]
            )
            bulk.analyze(conn, wanted)
            found = bulk.fetch(
                conn,
                f"SELECT w.pos, v.session_key, v.content_hash, v.payload FROM {wanted} w "
                "JOIN session_versions v ON v.session_key = w.session_key AND v.content_hash = w.content_hash "
                "ORDER BY w.pos",
            )
            transaction.rollback()  # read only: the temporary table goes with the transaction
        return bulk.frame_from_rows([row[1:] for row in found], columns)

    def known_session_keys(self, before: date | str | None = None) -> set[str]:
        """Every session key stored, or, with ``before``, first stored by a run dated before it.

        Re-running a date therefore sees the same "new" sessions as its first run did.
        """
        with self.engine.connect() as conn:
            if before is None:
                found = bulk.fetch(conn, "SELECT DISTINCT session_key FROM session_versions")
            else:
                day = _as_date(before, "before")
                found = bulk.fetch(
                    conn,
                    "SELECT DISTINCT v.session_key FROM session_versions v "
                    f"JOIN runs r ON r.run_id = v.first_seen_run_id WHERE r.run_date < {bulk.placeholder(conn)}",
                    (day.isoformat() if conn.dialect.name == "sqlite" else day,),
                )
        return {row[0] for row in found}

    # --- publications --------------------------------------------------------------------------

    def last_publication_date(self, before: date | str) -> date | None:
        """The latest run date strictly before ``before`` for which something was published."""
        query = sa.select(sa.func.max(m.publications.c.run_date)).where(
            m.publications.c.run_date < _as_date(before, "before")
        )
        with self.engine.connect() as conn:
            value = conn.execute(query).scalar_one_or_none()
        return _as_date(value) if value is not None else None

    def published_state(self, run_date: date | str | None) -> pd.DataFrame:
        """The catalogue as published on ``run_date``: session_key, content_hash, status, since_date.

        Empty (same columns) when nothing was published that day or ``run_date`` is None.
        """
        columns = {
            "session_key": pa.string(),
            "content_hash": pa.string(),
            "status": pa.string(),
            "since_date": pa.date32(),
            "changed_date": pa.date32(),
            "vanished_date": pa.date32(),
        }
        return self._of_date("published_sessions", columns, "session_key", run_date)

    def published_entities(self, run_date: date | str | None) -> pd.DataFrame:
        """The formations and actions as published on ``run_date``: kind, entity_key,
        content_hash, since_date, changed_date (empty when nothing was published that day)."""
        columns = {
            "kind": pa.string(),
            "entity_key": pa.string(),
            "content_hash": pa.string(),
            "since_date": pa.date32(),
            "changed_date": pa.date32(),
        }
        return self._of_date("published_entities", columns, "kind, entity_key", run_date)

    def _of_date(
        self, table: str, columns: dict[str, pa.DataType], order: str, run_date: date | str | None
    ) -> pd.DataFrame:
        """``columns`` of the rows of ``table`` for ``run_date``, ordered; empty for None."""
        if run_date is None:
            return bulk.frame_from_rows([], columns)
        with self.engine.connect() as conn:
            day = _as_date(run_date, "run_date")
            found = bulk.fetch(
                conn,
                f"SELECT {', '.join(columns)} FROM {table} WHERE run_date = {bulk.placeholder(conn)} ORDER BY {order}",
                # SQLite keeps dates as 'YYYY-MM-DD' text, PostgreSQL as dates
                (day.isoformat() if conn.dialect.name == "sqlite" else day,),
            )
        return bulk.frame_from_rows(found, columns)

    def previous_publication(self, before: date | str) -> tuple[date | None, pd.DataFrame]:
        """``(last_publication_date(before), published_state(of that date))``."""
        last = self.last_publication_date(before)
        return last, self.published_state(last)

    def publications(self, run_date: date | str) -> list[dict[str, Any]]:
        """The feeds published for ``run_date``: run_id, feed, file, sha256, records."""
        t = m.publications
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.c.run_id, t.c.feed, t.c.file, t.c.sha256, t.c.records)
                .where(t.c.run_date == _as_date(run_date, "run_date"))
                .order_by(t.c.feed)
            ).mappings()
            return [dict(row) for row in rows]

    def publication_counts(self, run_date: date | str | None) -> dict[str, int]:
        """Records per feed published for ``run_date`` (``{}`` when nothing was): what DQ023
        compares today's feeds with."""
        if run_date is None:
            return {}
        return {p["feed"]: int(p["records"]) for p in self.publications(run_date)}

    def record_publication(
        self,
        run_id: str,
        run_date: date | str,
        feeds: Iterable[Mapping[str, Any]],
        state: pd.DataFrame,
        entities: pd.DataFrame | None = None,
    ) -> None:
        """Record what was published for ``run_date``, in one transaction.

        Whatever was recorded earlier for the same date (an earlier run of that date) is
        replaced, so re-running a date leaves one history. ``feeds``: dicts with feed (carif |
        carif_delta | pole_emploi | mission_locale), file, sha256, records. ``state``:
        session_key, content_hash, status (created | updated | unchanged | cancelled | kept |
        vanished), since_date, and optionally changed_date and vanished_date. ``entities``
        (optional): kind (formation | action), entity_key, content_hash, since_date, changed_date.
        """
        what = "record_publication"
        day = _as_date(run_date, "run_date")
        feed_rows = []
        for item in feeds:
            row = _record(item, FEED_FIELDS)
            if row["feed"] not in m.FEEDS:
                raise ValueError(f"{what}: unknown feed {row['feed']!r}, expected one of {m.FEEDS}")
            if row["file"] is None or row["sha256"] is None or row["records"] is None:
                raise ValueError(f"{what}: feed {row['feed']!r} needs file, sha256 and records, got {row}")
            feed_rows.append(
                {
                    "run_id": str(run_id),
                    "run_date": day,
                    "feed": row["feed"],
                    "file": _as_text(row["file"]),
                    "sha256": str(row["sha256"]),
                    "records": int(row["records"]),
                }
            )
        duplicated = [feed for feed, n in Counter(r["feed"] for r in feed_rows).items() if n > 1]
        if duplicated:
            raise ValueError(f"{what}: feed(s) given twice: {sorted(duplicated)}")

        bulk.require_columns(state, STATE_COLUMNS, what)
        keys = bulk.text_array(state, "session_key", what)
        hashes = bulk.text_array(state, "content_hash", what)
        statuses = bulk.text_array(state, "status", what)
        since = bulk.date_array(state, "since_date", what)
        changed = bulk.date_array(state, "changed_date", what) if "changed_date" in state else None
        vanished = bulk.date_array(state, "vanished_date", what) if "vanished_date" in state else None
        unknown = sorted(set(pc.unique(statuses).to_pylist()) - set(m.PUBLISHED_STATUSES))
        if unknown:
            raise ValueError(f"{what}: unknown status(es) {unknown}, expected {m.PUBLISHED_STATUSES}")
        if len(keys) and pc.count_distinct(keys).as_py() != len(keys):
            counts = pc.value_counts(keys)
            repeated = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
            raise ValueError(
                f"{what}: {len(repeated)} session_key(s) given twice, e.g. {repeated.slice(0, 3).to_pylist()}"
            )

        entity_rows = self._entity_rows(entities, what)

        with write_transaction(self.engine) as conn:
            self._require_run(conn, run_id)
            conn.execute(sa.delete(m.publications).where(m.publications.c.run_date == day))
            conn.execute(sa.delete(m.published_sessions).where(m.published_sessions.c.run_date == day))
            conn.execute(sa.delete(m.published_entities).where(m.published_entities.c.run_date == day))
            if feed_rows:
                conn.execute(sa.insert(m.publications), feed_rows)
            none = pa.nulls(len(keys), pa.date32())
            bulk.load(
                conn,
                "published_sessions",
                ["run_date", "session_key", "content_hash", "status", "since_date", "changed_date", "vanished_date"],
                [
                    pa.repeat(pa.scalar(day, pa.date32()), len(keys)),
                    keys,
                    hashes,
                    statuses,
                    since,
                    none if changed is None else changed,
                    none if vanished is None else vanished,
                ],
            )
            if entity_rows is not None and len(entity_rows[0]):
                bulk.load(
                    conn,
                    "published_entities",
                    ["run_date", "kind", "entity_key", "content_hash", "since_date", "changed_date"],
                    [pa.repeat(pa.scalar(day, pa.date32()), len(entity_rows[0])), *entity_rows],
                )

    @staticmethod
    def _entity_rows(entities: pd.DataFrame | None, what: str) -> list[bulk.ArrowColumn] | None:
        if entities is None:
            return None
        bulk.require_columns(entities, ["kind", "entity_key", "content_hash", "since_date", "changed_date"], what)
        kinds = bulk.text_array(entities, "kind", what)
        unknown = sorted(set(pc.unique(kinds).to_pylist()) - set(m.ENTITY_KINDS))
        if unknown:
            raise ValueError(f"{what}: unknown entity kind(s) {unknown}, expected {m.ENTITY_KINDS}")
        keys = bulk.text_array(entities, "entity_key", what)
        if len(keys) and len(pa.table({"k": kinds, "e": keys}).group_by(["k", "e"]).aggregate([])) != len(keys):
            raise ValueError(f"{what}: an entity (kind, entity_key) is given twice")
        return [
            kinds,
            keys,
            bulk.text_array(entities, "content_hash", what),
            bulk.date_array(entities, "since_date", what),
            bulk.date_array(entities, "changed_date", what),
        ]

    def prune_published_sessions(self, keep_dates: int = 60) -> int:
        """Delete the published catalogues of all but the newest ``keep_dates`` dates.

        Only ``published_sessions`` is pruned (a million rows per date at full scale); runs,
        publications and session versions are kept. Returns the number of rows deleted.
        """
        if int(keep_dates) < 1:
            raise ValueError(f"keep_dates must be at least 1, got {keep_dates!r}")
        t = m.published_sessions
        with write_transaction(self.engine) as conn:
            kept = (
                conn.execute(sa.select(t.c.run_date).distinct().order_by(t.c.run_date.desc()).limit(int(keep_dates)))
                .scalars()
                .all()
            )
            if len(kept) < int(keep_dates):
                return 0
            conn.execute(sa.delete(m.published_entities).where(m.published_entities.c.run_date < min(kept)))
            return conn.execute(sa.delete(t).where(t.c.run_date < min(kept))).rowcount

    # --- locks ---------------------------------------------------------------------------------

    def acquire_lock(
        self, name: str, run_id: str, *, pid: int | None = None, host: str | None = None, detail: str | None = None
    ) -> None:
        """Take the lock ``name`` for ``run_id``; :class:`StoreLockedError` when it is held (even by
        the same run: the lock is not re-entrant). ``pid``, ``host`` and ``detail`` describe the
        holder, so that a lock left by a dead process can be recognised
        (:mod:`passerelle.runlock`)."""
        row = {
            "name": str(name),
            "holder_run_id": str(run_id),
            "acquired_at": _now(),
            "holder_pid": None if pid is None else int(pid),
            "holder_host": _as_text(host),
            "holder_detail": _as_text(detail),
        }
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(sa.insert(m.run_locks), row)
        except sa.exc.IntegrityError as exc:
            holder = self.lock_holder(name)
            raise StoreLockedError(
                str(name),
                holder["holder_run_id"] if holder else None,
                holder["acquired_at"] if holder else None,
            ) from exc

    def take_over_lock(
        self,
        name: str,
        stale_run_id: str,
        run_id: str,
        *,
        pid: int | None = None,
        host: str | None = None,
        detail: str | None = None,
    ) -> bool:
        """Replace, in one transaction, the lock ``name`` held by ``stale_run_id`` with one held by
        ``run_id``. False (nothing changed) when ``stale_run_id`` no longer holds it: the lock was
        released or another run took it over first."""
        t = m.run_locks
        with write_transaction(self.engine) as conn:
            gone = conn.execute(
                sa.delete(t).where(t.c.name == str(name), t.c.holder_run_id == str(stale_run_id))
            ).rowcount
            if gone != 1:
                return False
            conn.execute(
                sa.insert(t),
                {
                    "name": str(name),
                    "holder_run_id": str(run_id),
                    "acquired_at": _now(),
                    "holder_pid": None if pid is None else int(pid),
                    "holder_host": _as_text(host),
                    "holder_detail": _as_text(detail),
                },
            )
        return True

    def release_lock(self, name: str, run_id: str | None = None) -> bool:
        """Give the lock back. With ``run_id``, only if that run holds it. True when released."""
        query = sa.delete(m.run_locks).where(m.run_locks.c.name == str(name))
        if run_id is not None:
            query = query.where(m.run_locks.c.holder_run_id == str(run_id))
        with write_transaction(self.engine) as conn:
            return conn.execute(query).rowcount > 0

    def lock_holder(self, name: str) -> dict[str, Any] | None:
        """``{"holder_run_id", "acquired_at", "holder_pid", "holder_host", "holder_detail"}`` of the
        lock, or None when free."""
        t = m.run_locks
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.c.holder_run_id, t.c.acquired_at, t.c.holder_pid, t.c.holder_host, t.c.holder_detail).where(
                    t.c.name == str(name)
                )
            ).first()
        return dict(row._mapping) if row is not None else None

    @contextmanager
    def lock(self, name: str, run_id: str) -> Iterator[None]:
        """``with store.lock(name, run_id):`` — acquire, then release whatever happens."""
        self.acquire_lock(name, run_id)
        try:
            yield
        finally:
            self.release_lock(name, run_id)
