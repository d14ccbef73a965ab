"""Live streams watched by a node, kept across restarts.

Revision ID: 0007_streams
Revises: 0006_web
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cordon.store.types import IdType, UTCDateTime

revision = "0007_streams"
down_revision = "0006_web"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "node_streams",
        sa.Column("id", IdType, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("webhook_id", IdType, nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("resumed_at", UTCDateTime(), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("end_state", sa.String(16), nullable=True),
        sa.Column("end_message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_node_streams"),
    )
    op.create_index("ix_node_streams_ended_at", "node_streams", ["ended_at"])


def downgrade() -> None:
    op.drop_index("ix_node_streams_ended_at", table_name="node_streams")
    op.drop_table("node_streams")
