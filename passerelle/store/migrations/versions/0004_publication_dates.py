"""Publication dates: when each published session and entity was created, last changed, vanished.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

Consumers read ``datecrea`` (first published) and ``datemaj`` (last content change) on every
LHEO formation, action and session, and a vanished session is withdrawn once its grace period
is over. The catalogue of a date (``published_sessions``) already carries ``since_date`` (first
published); it now also carries ``changed_date`` (the date of its last content change) and
``vanished_date`` (first day it was missing from its extract, while it is ``vanished``).
``published_entities`` is the same per-date state for formations and actions: the content hash
of each as published (its record and its children's hashes), first published, last changed.
Pruned with ``published_sessions``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("published_sessions") as batch:
        batch.add_column(sa.Column("changed_date", sa.Date(), nullable=True))
        batch.add_column(sa.Column("vanished_date", sa.Date(), nullable=True))
    op.create_table(
        "published_entities",
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("entity_key", sa.String(), nullable=False),
        sa.Column("content_hash", sa.String(), nullable=False),
        sa.Column("since_date", sa.Date(), nullable=True),
        sa.Column("changed_date", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("run_date", "kind", "entity_key", name=op.f("pk_published_entities")),
        sa.CheckConstraint("kind IN ('formation', 'action')", name=op.f("ck_published_entities_kind")),
    )


def downgrade() -> None:
    op.drop_table("published_entities")
    with op.batch_alter_table("published_sessions") as batch:
        batch.drop_column("vanished_date")
        batch.drop_column("changed_date")
