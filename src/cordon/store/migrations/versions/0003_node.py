"""Node: API tokens, state (the hub cursor), hub mirror, rules, match log, webhooks, outbox.

Revision ID: 0003_node
Revises: 0002_hub
Create Date: 2025-01-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cordon.store.types import IdType, UTCDateTime

revision = "0003_node"
down_revision = "0002_hub"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "node_tokens",
        sa.Column("id", IdType, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_node_tokens"),
        sa.UniqueConstraint("digest", name="uq_node_tokens_digest"),
    )
    op.create_table(
        "node_state",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_node_state"),
    )
    op.create_table(
        "node_mirror",
        sa.Column("hub_entry_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entry_id", IdType, nullable=False),
        sa.Column("hub_bank", sa.String(100), nullable=False),
        sa.Column("hub_change", sa.BigInteger(), nullable=False),
        sa.Column("incident", sa.String(100), nullable=True),
        sa.Column("contributor", sa.String(100), nullable=True),
        sa.Column("disputed", sa.Boolean(), nullable=False),
        sa.Column("feedback", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["entry_id"], ["entries.id"],
                                name="fk_node_mirror_entry_id_entries", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("hub_entry_id", name="pk_node_mirror"),
        sa.UniqueConstraint("entry_id", name="uq_node_mirror_entry_id"),
    )
    op.create_table(
        "node_rules",
        sa.Column("id", IdType, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_node_rules"),
    )
    op.create_table(
        "node_matches",
        sa.Column("id", IdType, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("entry_id", IdType, nullable=False),
        sa.Column("hub_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("bank", sa.String(100), nullable=False),
        sa.Column("signal_type", sa.String(32), nullable=False),
        sa.Column("distance", sa.Float(), nullable=False),
        sa.Column("query", sa.Text(), nullable=True),
        sa.Column("rules", sa.JSON(), nullable=True),
        sa.Column("actions", sa.JSON(), nullable=True),
        sa.Column("verdict", sa.String(20), nullable=True),
        sa.Column("verdict_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_node_matches"),
    )
    op.create_index("ix_node_matches_at", "node_matches", ["at"])
    op.create_index("ix_node_matches_entry_id", "node_matches", ["entry_id"])
    op.create_table(
        "node_webhooks",
        sa.Column("id", IdType, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_node_webhooks"),
    )
    op.create_table(
        "node_outbox",
        sa.Column("id", IdType, nullable=False),
        sa.Column("webhook_id", IdType, nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["webhook_id"], ["node_webhooks.id"],
                                name="fk_node_outbox_webhook_id_node_webhooks",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_node_outbox"),
    )
    op.create_index("ix_node_outbox_webhook_id", "node_outbox", ["webhook_id"])
    op.create_index("ix_node_outbox_next_attempt_at", "node_outbox", ["next_attempt_at"])
    op.create_index("ix_node_outbox_status", "node_outbox", ["status"])


def downgrade() -> None:
    for table in ("node_outbox", "node_webhooks", "node_matches", "node_rules", "node_mirror",
                  "node_state", "node_tokens"):
        op.drop_table(table)
