"""Banks, entries, entry signals, labels and the change counter.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cordon.store.types import IdType, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    counter = op.create_table(
        "change_counter",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_change_counter"),
    )
    op.bulk_insert(counter, [{"id": 1, "value": 0}])
    op.create_table(
        "banks",
        sa.Column("id", IdType, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_banks"),
        sa.UniqueConstraint("name", name="uq_banks_name"),
    )
    op.create_table(
        "entries",
        sa.Column("id", IdType, nullable=False),
        sa.Column("bank_id", IdType, nullable=False),
        sa.Column("content_type", sa.String(16), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("withdrawn_at", UTCDateTime(), nullable=True),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"], name="fk_entries_bank_id_banks", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_entries"),
        sa.UniqueConstraint("change_seq", name="uq_entries_change_seq"),
    )
    op.create_index("ix_entries_bank_id_change_seq", "entries", ["bank_id", "change_seq"])
    op.create_table(
        "entry_signals",
        sa.Column("bank_id", IdType, nullable=False),
        sa.Column("signal_type", sa.String(32), nullable=False),
        sa.Column("lookup", sa.String(32), nullable=False),
        sa.Column("entry_id", IdType, nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"], name="fk_entry_signals_bank_id_banks", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["entries.id"],
            name="fk_entry_signals_entry_id_entries",
            ondelete="CASCADE",
        ),
        # The digest leads so that exact matches across every bank, and the existence checks
        # of bulk imports, are index lookups whatever the planner thinks of the other columns.
        sa.PrimaryKeyConstraint("lookup", "bank_id", "signal_type", name="pk_entry_signals"),
    )
    op.create_index("ix_entry_signals_entry_id", "entry_signals", ["entry_id"])
    op.create_table(
        "entry_labels",
        sa.Column("entry_id", IdType, nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["entries.id"],
            name="fk_entry_labels_entry_id_entries",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entry_id", "label", name="pk_entry_labels"),
    )


def downgrade() -> None:
    op.drop_table("entry_labels")
    op.drop_index("ix_entry_signals_entry_id", table_name="entry_signals")
    op.drop_table("entry_signals")
    op.drop_index("ix_entries_bank_id_change_seq", table_name="entries")
    op.drop_table("entries")
    op.drop_table("banks")
    op.drop_table("change_counter")
