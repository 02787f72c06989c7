"""Entity versions: formation and action payloads, to re-emit a kept session with its parents.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

A session kept from an earlier day (its version of today has an error) may belong to a
formation or an action that today's extracts no longer describe; the run then re-emits the
latest stored version of that formation or action. ``last_seen_date`` / ``last_seen_at`` say
which version is the latest.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "entity_versions",
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("entity_key", sa.String(), nullable=False),
        sa.Column("content_hash", sa.String(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("first_seen_run_id", sa.String(), nullable=False),
        sa.Column("last_seen_date", sa.Date(), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kind", "entity_key", "content_hash", name=op.f("pk_entity_versions")),
        sa.ForeignKeyConstraint(
            ["first_seen_run_id"], ["runs.run_id"], name=op.f("fk_entity_versions_first_seen_run_id_runs")
        ),
        sa.CheckConstraint("kind IN ('formation', 'action')", name=op.f("ck_entity_versions_kind")),
    )
    op.create_index(op.f("ix_entity_versions_first_seen_run_id"), "entity_versions", ["first_seen_run_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_entity_versions_first_seen_run_id"), table_name="entity_versions")
    op.drop_table("entity_versions")
