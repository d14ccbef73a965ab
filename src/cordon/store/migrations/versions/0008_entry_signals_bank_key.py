"""entry_signals.bank_id no longer a foreign key of its own.

The bank is repeated on each signal row only to make the primary key the bank-wide
exact-match key; the row's entry already belongs to that bank, and the entry's key cascades
from the bank. Checking the bank again for every signal row was a quarter of the foreign-key
checks of a contribution (20,000 per 10,000 entries of two signals) on the hub's hottest
write path.

Revision ID: 0008_entry_signals_bank_key
Revises: 0007_streams
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0008_entry_signals_bank_key"
down_revision = "0007_streams"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("entry_signals") as batch:
        batch.drop_constraint("fk_entry_signals_bank_id_banks", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("entry_signals") as batch:
        batch.create_foreign_key("fk_entry_signals_bank_id_banks", "banks", ["bank_id"], ["id"],
                                 ondelete="CASCADE")
