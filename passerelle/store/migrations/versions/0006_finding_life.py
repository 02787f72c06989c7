"""Findings over time and the messages sent to training bodies.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

``finding_states``: one row per finding identity (rule + session or file + field) and run date,
with its status that day (new, open, resolved), since when it is open, and what it said (rule,
severity, file, line, field, value, message, training body). A re-run of a date replaces that
date's rows; the rows of every date are kept.

``notifications``: each message sent (or tried) by ``passerelle notify`` to a training body:
when, to whom, which findings it listed, and the outcome; what decides the next reminder.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "finding_states",
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("finding_key", sa.String(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("since_date", sa.Date(), nullable=False),
        sa.Column("resolution", sa.String(), nullable=True),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("severity", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=True),
        sa.Column("file", sa.String(), nullable=True),
        sa.Column("sheet", sa.String(), nullable=True),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("session_key", sa.String(), nullable=True),
        sa.Column("field", sa.String(), nullable=True),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("body_key", sa.String(), nullable=True),
        sa.Column("body_name", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("run_date", "finding_key", name=op.f("pk_finding_states")),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], name=op.f("fk_finding_states_run_id_runs")),
        sa.CheckConstraint("status IN ('new', 'open', 'resolved')", name=op.f("ck_finding_states_status")),
    )
    op.create_index(op.f("ix_finding_states_run_id"), "finding_states", ["run_id"])
    op.create_index(op.f("ix_finding_states_body_key"), "finding_states", ["body_key"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("body_key", sa.String(), nullable=False),
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("recipients", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("message_file", sa.String(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("finding_keys", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.CheckConstraint("outcome IN ('sent', 'failed')", name=op.f("ck_notifications_outcome")),
    )
    op.create_index(op.f("ix_notifications_body_key"), "notifications", ["body_key"])


def downgrade() -> None:
    op.drop_index(op.f("ix_notifications_body_key"), table_name="notifications")
    op.drop_table("notifications")
    op.drop_index(op.f("ix_finding_states_body_key"), table_name="finding_states")
    op.drop_index(op.f("ix_finding_states_run_id"), table_name="finding_states")
    op.drop_table("finding_states")
