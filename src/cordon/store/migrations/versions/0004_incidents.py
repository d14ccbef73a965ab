"""Hub and node: incidents, their timeline, acknowledgements and node counts.

Revision ID: 0004_incidents
Revises: 0003_node
Create Date: 2026-11-21
"""

from __future__ import annotations

revision = "0004_incidents"
down_revision = "0003_node"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
