"""Deliveries: every attempt to send a published file to a consumer.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

``passerelle deliver`` and the last step of the daily job send each consumer its files of the
day (``deliveries.yaml``). Each attempt is one row: consumer, file, sha256, bytes, start, end,
outcome (running | delivered | failed | withheld) and the error. The log is what says that a
file was already delivered (never sent twice), which files are still to send (the next run
sends them), and what the report and the run summary tell.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.String(), nullable=False),
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("consumer", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("file", sa.String(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.CheckConstraint(
            "outcome IN ('running', 'delivered', 'failed', 'withheld')", name=op.f("ck_deliveries_outcome")
        ),
    )
    op.create_index(op.f("ix_deliveries_batch_id"), "deliveries", ["batch_id"])
    op.create_index(op.f("ix_deliveries_run_date"), "deliveries", ["run_date"])
    op.create_index(op.f("ix_deliveries_consumer_file_sha256"), "deliveries", ["consumer", "file", "sha256"])


def downgrade() -> None:
    op.drop_index(op.f("ix_deliveries_consumer_file_sha256"), table_name="deliveries")
    op.drop_index(op.f("ix_deliveries_run_date"), table_name="deliveries")
    op.drop_index(op.f("ix_deliveries_batch_id"), table_name="deliveries")
    op.drop_table("deliveries")
