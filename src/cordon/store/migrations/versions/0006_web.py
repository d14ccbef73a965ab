"""Web UI: users with passwords, sessions and login throttling.

Revision ID: 0006_web
Revises: 0005_moderation
Create Date: 2026-11-21
"""

from __future__ import annotations

revision = "0006_web"
down_revision = "0005_moderation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
