"""Initial schema: runs, inputs read, session versions, publications, published sessions, locks.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Self-contained on purpose (no import of ``models``): a migration describes the schema as it was
at its revision. Constraint names follow ``models.NAMING_CONVENTION`` and are given in full,
marked final with ``op.f()`` so that the convention is not applied a second time.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUN_STATUSES = ("running", "succeeded", "failed")
FEEDS = ("carif", "carif_delta", "pole_emploi", "mission_locale")
PUBLISHED_STATUSES = ("created", "updated", "unchanged", "cancelled", "kept", "vanished")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("inbox", sa.String(), nullable=True),
        sa.Column("out_dir", sa.String(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_runs")),
        sa.CheckConstraint(_in("status", RUN_STATUSES), name=op.f("ck_runs_status")),
    )
    op.create_index(op.f("ix_runs_run_date"), "runs", ["run_date"])

    op.create_table(
        "inputs_read",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=True),
        sa.Column("kind", sa.String(), nullable=True),
        sa.Column("file", sa.String(), nullable=True),
        sa.Column("sha256", sa.String(), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=True),
        sa.Column("encoding", sa.String(), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("extract_date", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inputs_read")),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], name=op.f("fk_inputs_read_run_id_runs")),
    )
    op.create_index(op.f("ix_inputs_read_run_id"), "inputs_read", ["run_id"])

    op.create_table(
        "session_versions",
        sa.Column("session_key", sa.String(), nullable=False),
        sa.Column("content_hash", sa.String(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("first_seen_run_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("session_key", "content_hash", name=op.f("pk_session_versions")),
        sa.ForeignKeyConstraint(
            ["first_seen_run_id"], ["runs.run_id"], name=op.f("fk_session_versions_first_seen_run_id_runs")
        ),
    )
    op.create_index(op.f("ix_session_versions_first_seen_run_id"), "session_versions", ["first_seen_run_id"])

    op.create_table(
        "publications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("feed", sa.String(), nullable=False),
        sa.Column("file", sa.String(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publications")),
        sa.UniqueConstraint("run_date", "feed", name=op.f("uq_publications_run_date_feed")),
        sa.CheckConstraint(_in("feed", FEEDS), name=op.f("ck_publications_feed")),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], name=op.f("fk_publications_run_id_runs")),
    )
    op.create_index(op.f("ix_publications_run_id"), "publications", ["run_id"])

    op.create_table(
        "published_sessions",
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("session_key", sa.String(), nullable=False),
        sa.Column("content_hash", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("since_date", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("run_date", "session_key", name=op.f("pk_published_sessions")),
        sa.CheckConstraint(_in("status", PUBLISHED_STATUSES), name=op.f("ck_published_sessions_status")),
    )

    op.create_table(
        "run_locks",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("holder_run_id", sa.String(), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_run_locks")),
    )


def downgrade() -> None:
    op.drop_table("run_locks")
    op.drop_table("published_sessions")
    op.drop_index(op.f("ix_publications_run_id"), table_name="publications")
    op.drop_table("publications")
    op.drop_index(op.f("ix_session_versions_first_seen_run_id"), table_name="session_versions")
    op.drop_table("session_versions")
    op.drop_index(op.f("ix_inputs_read_run_id"), table_name="inputs_read")
    op.drop_table("inputs_read")
    op.drop_index(op.f("ix_runs_run_date"), table_name="runs")
    op.drop_table("runs")
