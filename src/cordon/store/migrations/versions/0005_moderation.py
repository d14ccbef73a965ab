"""Node: user reports, review queue, decisions, statements of reasons, appeals, removal orders, preservation, strikes.

Revision ID: 0005_moderation
Revises: 0004_incidents
Create Date: 2026-11-21
"""

from __future__ import annotations

revision = "0005_moderation"
down_revision = "0004_incidents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
