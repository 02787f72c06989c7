"""The store's tables, as SQLAlchemy 2 declarative models.

Portable between SQLite and PostgreSQL: strings without a length (``VARCHAR`` / ``TEXT``),
``sa.JSON`` for the run summary (``json`` on PostgreSQL, text on SQLite), dates as ``DATE`` and
timestamps as :class:`UTCDateTime` (``timestamptz`` on PostgreSQL, naive UTC text on SQLite,
always returned as timezone-aware UTC datetimes).

The schema itself is created by the Alembic migrations in ``migrations/versions/`` (never by
``metadata.create_all``); these models describe it for queries, and a test checks that both
agree (``alembic.autogenerate.compare_metadata`` finds no difference).

Tables:

``runs``               one row per daily run (status running | succeeded | failed, JSON summary)
``inputs_read``        the extract files a run read (sha256, rows, encoding)
``session_versions``   every distinct (session_key, content_hash) ever seen, with its JSON payload:
                       what lets a run re-emit the last good version of a session
``entity_versions``    formation and action payloads (latest one re-emitted with a kept session)
``publications``       the feed files published for a run date (one row per feed and date)
``published_sessions`` the catalogue as published on a run date (one row per session and date)
``published_entities`` its formations and actions on that date (hash, first published, last changed)
``run_locks``          named locks, one row per lock held (holder run, pid, host)
``deliveries``         every attempt to deliver a published file to a consumer (migration 0005;
                       queries in ``passerelle/store/deliveries.py``)
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

RUN_STATUSES = ("running", "succeeded", "failed")
FEEDS = ("carif", "carif_delta", "pole_emploi", "mission_locale")
PUBLISHED_STATUSES = ("created", "updated", "unchanged", "cancelled", "kept", "vanished")
ENTITY_KINDS = ("formation", "action")
DELIVERY_OUTCOMES = ("running", "delivered", "failed", "withheld")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.TypeDecorator):
    """A timezone-aware timestamp stored as UTC.

    Binding a naive datetime is refused (we cannot know its zone). SQLite has no time zones:
    the value is stored as naive UTC and given back with ``tzinfo=UTC``.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime refused by the store (give a timezone): {value!r}")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {str: sa.String(), datetime: UTCDateTime(), date: sa.Date(), dict[str, Any]: sa.JSON()}


class Run(Base):
    __tablename__ = "runs"

    run_id: Mapped[str] = mapped_column(primary_key=True)
    run_date: Mapped[date] = mapped_column(index=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str]
    inbox: Mapped[str | None]
    out_dir: Mapped[str | None]
    summary: Mapped[dict[str, Any] | None]

    __table_args__ = (sa.CheckConstraint(_in("status", RUN_STATUSES), name="status"),)


class InputRead(Base):
    __tablename__ = "inputs_read"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(sa.ForeignKey("runs.run_id"), index=True)
    source: Mapped[str | None]
    kind: Mapped[str | None]
    file: Mapped[str | None]  # None when no extract of that kind was in the inbox
    sha256: Mapped[str | None]
    rows: Mapped[int | None]
    encoding: Mapped[str | None]
    ok: Mapped[bool | None]  # False when the file failed its contract as a whole (DQ000)
    extract_date: Mapped[date | None]


class SessionVersion(Base):
    __tablename__ = "session_versions"

    session_key: Mapped[str] = mapped_column(primary_key=True)
    content_hash: Mapped[str] = mapped_column(primary_key=True)  # sha256 hex of the payload
    payload: Mapped[str] = mapped_column(sa.Text)  # JSON text: session record and its events
    first_seen_run_id: Mapped[str] = mapped_column(sa.ForeignKey("runs.run_id"), index=True)


class EntityVersion(Base):
    """Formation and action payloads, so that a kept session can be re-emitted with its parents."""

    __tablename__ = "entity_versions"

    kind: Mapped[str] = mapped_column(primary_key=True)  # formation | action
    entity_key: Mapped[str] = mapped_column(primary_key=True)
    content_hash: Mapped[str] = mapped_column(primary_key=True)
    payload: Mapped[str] = mapped_column(sa.Text)
    first_seen_run_id: Mapped[str] = mapped_column(sa.ForeignKey("runs.run_id"), index=True)
    last_seen_date: Mapped[date | None]  # run date of the latest run that saw this version
    last_seen_at: Mapped[datetime | None]

    __table_args__ = (sa.CheckConstraint(_in("kind", ENTITY_KINDS), name="kind"),)


class Publication(Base):
    __tablename__ = "publications"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(sa.ForeignKey("runs.run_id"), index=True)
    run_date: Mapped[date]
    feed: Mapped[str]
    file: Mapped[str]
    sha256: Mapped[str]
    records: Mapped[int]

    __table_args__ = (
        sa.UniqueConstraint("run_date", "feed"),
        sa.CheckConstraint(_in("feed", FEEDS), name="feed"),
    )


class PublishedSession(Base):
    __tablename__ = "published_sessions"

    run_date: Mapped[date] = mapped_column(primary_key=True)
    session_key: Mapped[str] = mapped_column(primary_key=True)
    content_hash: Mapped[str]
    status: Mapped[str]
    since_date: Mapped[date | None]  # first published (LHEO datecrea)
    changed_date: Mapped[date | None]  # last content change (LHEO datemaj), migration 0004
    vanished_date: Mapped[date | None]  # first day missing from its extract, while vanished (0004)

    __table_args__ = (sa.CheckConstraint(_in("status", PUBLISHED_STATUSES), name="status"),)


class PublishedEntity(Base):
    """Formations and actions as published on a run date (migration 0004): the hash of each as
    published (its record and its children's), first published, last changed."""

    __tablename__ = "published_entities"

    run_date: Mapped[date] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(primary_key=True)  # formation | action
    entity_key: Mapped[str] = mapped_column(primary_key=True)
    content_hash: Mapped[str]
    since_date: Mapped[date | None]
    changed_date: Mapped[date | None]

    __table_args__ = (sa.CheckConstraint(_in("kind", ENTITY_KINDS), name="kind"),)


class RunLock(Base):
    __tablename__ = "run_locks"

    name: Mapped[str] = mapped_column(primary_key=True)
    holder_run_id: Mapped[str]  # no foreign key: a lock may be taken before the run row exists
    acquired_at: Mapped[datetime]
    holder_pid: Mapped[int | None] = mapped_column(sa.Integer)  # process holding the lock (migration 0003)
    holder_host: Mapped[str | None]  # host name of that process
    holder_detail: Mapped[str | None]  # what the holder runs, for messages (e.g. "run du 2026-11-20")


class Delivery(Base):
    """One attempt to deliver one published file to one consumer (``passerelle.delivery``).

    ``outcome``: ``running`` while the attempt goes on (left so when the process died),
    ``delivered``, ``failed`` (``error`` says why, in French), or ``withheld`` (the feed was not
    published that day: nothing was sent, ``error`` holds the reason)."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(index=True)  # the daily run, or one `passerelle deliver`
    run_date: Mapped[date] = mapped_column(index=True)  # date of the published file
    consumer: Mapped[str]
    target: Mapped[str]  # where it goes (URL, never a secret)
    file: Mapped[str]  # relative to the day folder
    sha256: Mapped[str | None]
    bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    attempt: Mapped[int] = mapped_column(sa.Integer)  # 1, 2, ... within the batch; 0 = not attempted
    forced: Mapped[bool]  # re-sent on demand (`passerelle deliver --to`)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str]
    error: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (
        sa.Index(None, "consumer", "file", "sha256"),
        sa.CheckConstraint(_in("outcome", DELIVERY_OUTCOMES), name="outcome"),
    )


metadata = Base.metadata
runs = cast(sa.Table, Run.__table__)
inputs_read = cast(sa.Table, InputRead.__table__)
session_versions = cast(sa.Table, SessionVersion.__table__)
entity_versions = cast(sa.Table, EntityVersion.__table__)
publications = cast(sa.Table, Publication.__table__)
published_sessions = cast(sa.Table, PublishedSession.__table__)
published_entities = cast(sa.Table, PublishedEntity.__table__)
run_locks = cast(sa.Table, RunLock.__table__)
deliveries = cast(sa.Table, Delivery.__table__)
TABLE_NAMES = tuple(metadata.tables)


# --- findings over time and messages to training bodies (migration 0006) ----------------------

FINDING_STATUSES = ("new", "open", "resolved")
NOTIFICATION_OUTCOMES = ("sent", "failed")


class FindingState(Base):
    """One finding identity on one run date: new, still open (since when) or resolved that day
    (``passerelle.findings_life``). The rows of a date are replaced when the date is re-run;
    the rows of every date are kept (the history of a finding is its rows over the dates)."""

    __tablename__ = "finding_states"

    run_date: Mapped[date] = mapped_column(primary_key=True)
    finding_key: Mapped[str] = mapped_column(primary_key=True)  # rule|subject|field (never the message)
    run_id: Mapped[str] = mapped_column(sa.ForeignKey("runs.run_id"), index=True)
    status: Mapped[str]
    since_date: Mapped[date]  # first run date of this stretch of being open
    resolution: Mapped[str | None]  # resolved only: fixed | gone
    rule: Mapped[str]
    severity: Mapped[str]
    source: Mapped[str | None]
    file: Mapped[str | None]
    sheet: Mapped[str | None]
    line: Mapped[int | None] = mapped_column(sa.Integer)
    session_key: Mapped[str | None]
    field: Mapped[str | None]
    value: Mapped[str | None] = mapped_column(sa.Text)
    message: Mapped[str | None] = mapped_column(sa.Text)
    body_key: Mapped[str | None] = mapped_column(index=True)  # SIRET of the training body, or nom:<name>
    body_name: Mapped[str | None]

    __table_args__ = (sa.CheckConstraint(_in("status", FINDING_STATUSES), name="status"),)


class Notification(Base):
    """A message to a training body sent (or tried) by ``passerelle notify``."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    body_key: Mapped[str] = mapped_column(index=True)
    run_date: Mapped[date]  # the run whose message was sent
    sent_at: Mapped[datetime]
    outcome: Mapped[str]
    reason: Mapped[str]  # first | new | reminder
    recipients: Mapped[str]  # comma-separated
    subject: Mapped[str]
    message_file: Mapped[str]  # relative to the day folder
    sha256: Mapped[str]
    finding_keys: Mapped[dict[str, Any]]  # {"keys": [...]}: the findings the message listed
    error: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (sa.CheckConstraint(_in("outcome", NOTIFICATION_OUTCOMES), name="outcome"),)


finding_states = cast(sa.Table, FindingState.__table__)
notifications = cast(sa.Table, Notification.__table__)
TABLE_NAMES = tuple(metadata.tables)
