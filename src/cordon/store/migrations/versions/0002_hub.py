"""Hub: members, tokens, bank sharing, entry contributors and feedback, audit.

Revision ID: 0002_hub
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cordon.store.types import IdType, UTCDateTime

revision = "0002_hub"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_members",
        sa.Column("id", IdType, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_hub_members"),
        sa.UniqueConstraint("name", name="uq_hub_members_name"),
    )
    op.create_table(
        "hub_tokens",
        sa.Column("id", IdType, nullable=False),
        sa.Column("member_id", IdType, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["hub_members.id"],
                                name="fk_hub_tokens_member_id_hub_members", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_hub_tokens"),
        sa.UniqueConstraint("digest", name="uq_hub_tokens_digest"),
    )
    op.create_index("ix_hub_tokens_member_id", "hub_tokens", ["member_id"])
    op.create_table(
        "hub_banks",
        sa.Column("bank_id", IdType, nullable=False),
        sa.Column("owner_id", IdType, nullable=True),
        sa.Column("shared_all", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["bank_id"], ["banks.id"], name="fk_hub_banks_bank_id_banks",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_id"], ["hub_members.id"],
                                name="fk_hub_banks_owner_id_hub_members", ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("bank_id", name="pk_hub_banks"),
    )
    op.create_table(
        "hub_bank_shares",
        sa.Column("bank_id", IdType, nullable=False),
        sa.Column("member_id", IdType, nullable=False),
        sa.ForeignKeyConstraint(["bank_id"], ["banks.id"],
                                name="fk_hub_bank_shares_bank_id_banks", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["member_id"], ["hub_members.id"],
                                name="fk_hub_bank_shares_member_id_hub_members",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("bank_id", "member_id", name="pk_hub_bank_shares"),
    )
    op.create_index("ix_hub_bank_shares_member_id", "hub_bank_shares", ["member_id"])
    op.create_table(
        "hub_entries",
        sa.Column("entry_id", IdType, nullable=False),
        sa.Column("member_id", IdType, nullable=True),
        sa.Column("incident", sa.String(100), nullable=True),
        sa.Column("confirms", sa.Integer(), nullable=False),
        sa.Column("false_positives", sa.Integer(), nullable=False),
        sa.Column("label_disputes", sa.Integer(), nullable=False),
        sa.Column("disputed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["entries.id"],
                                name="fk_hub_entries_entry_id_entries", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["member_id"], ["hub_members.id"],
                                name="fk_hub_entries_member_id_hub_members", ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("entry_id", name="pk_hub_entries"),
    )
    op.create_index("ix_hub_entries_member_id", "hub_entries", ["member_id"])
    op.create_index("ix_hub_entries_incident", "hub_entries", ["incident"])
    op.create_table(
        "hub_feedback",
        sa.Column("entry_id", IdType, nullable=False),
        sa.Column("member_id", IdType, nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["entries.id"],
                                name="fk_hub_feedback_entry_id_entries", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["member_id"], ["hub_members.id"],
                                name="fk_hub_feedback_member_id_hub_members", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("entry_id", "member_id", name="pk_hub_feedback"),
    )
    op.create_index("ix_hub_feedback_member_id", "hub_feedback", ["member_id"])
    op.create_table(
        "hub_audit",
        sa.Column("id", IdType, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("member_id", IdType, nullable=True),
        sa.Column("member", sa.String(100), nullable=True),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("object", sa.Text(), nullable=True),
        sa.Column("client", sa.String(100), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_hub_audit"),
    )
    op.create_index("ix_hub_audit_at", "hub_audit", ["at"])
    op.create_index("ix_hub_audit_member_id", "hub_audit", ["member_id"])
    op.create_index("ix_hub_audit_action", "hub_audit", ["action"])


def downgrade() -> None:
    for index, table in (("ix_hub_audit_action", "hub_audit"),
                         ("ix_hub_audit_member_id", "hub_audit"),
                         ("ix_hub_audit_at", "hub_audit")):
        op.drop_index(index, table_name=table)
    op.drop_table("hub_audit")
    op.drop_index("ix_hub_feedback_member_id", table_name="hub_feedback")
    op.drop_table("hub_feedback")
    op.drop_index("ix_hub_entries_incident", table_name="hub_entries")
    op.drop_index("ix_hub_entries_member_id", table_name="hub_entries")
    op.drop_table("hub_entries")
    op.drop_index("ix_hub_bank_shares_member_id", table_name="hub_bank_shares")
    op.drop_table("hub_bank_shares")
    op.drop_table("hub_banks")
    op.drop_index("ix_hub_tokens_member_id", table_name="hub_tokens")
    op.drop_table("hub_tokens")
    op.drop_table("hub_members")
