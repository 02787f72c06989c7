"""Run lock holder: process id, host and what the holder is doing.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

A run that dies (killed, machine rebooted) cannot give its lock back. With the holder's process
id and host name recorded, the next run can see that the holder is gone (same host, process no
longer alive) or that the lock is too old, and take the lock over instead of waiting forever.
``holder_detail`` says what the holder runs (e.g. ``run du 2026-11-20``), for the message shown
to whoever finds the lock taken.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("run_locks") as batch:
        batch.add_column(sa.Column("holder_pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("holder_host", sa.String(), nullable=True))
        batch.add_column(sa.Column("holder_detail", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run_locks") as batch:
        batch.drop_column("holder_detail")
        batch.drop_column("holder_host")
        batch.drop_column("holder_pid")
