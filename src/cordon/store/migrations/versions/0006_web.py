"""Web UI: users with passwords, sessions and login throttling.

Revision ID: 0006_web
Revises: 0005_moderation
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cordon.store.types import IdType, UTCDateTime

revision = "0006_web"
down_revision = "0005_moderation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_users",
        sa.Column("id", IdType, nullable=False),
        sa.Column("realm", sa.String(8), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("member_id", IdType, nullable=True),
        sa.Column("role", sa.String(32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("disabled_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["hub_members.id"],
                                name="fk_web_users_member_id_hub_members", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_web_users"),
        sa.UniqueConstraint("realm", "name", name="uq_web_users_realm_name"),
    )
    op.create_index("ix_web_users_member_id", "web_users", ["member_id"])
    op.create_table(
        "web_sessions",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("realm", sa.String(8), nullable=False),
        sa.Column("user_id", IdType, nullable=True),
        sa.Column("token_digest", sa.String(64), nullable=True),
        sa.Column("principal", sa.String(100), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("client", sa.String(100), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["web_users.id"],
                                name="fk_web_sessions_user_id_web_users", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("digest", name="pk_web_sessions"),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"])
    op.create_table(
        "web_login_failures",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", UTCDateTime(), nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_web_login_failures"),
    )


def downgrade() -> None:
    op.drop_table("web_login_failures")
    op.drop_index("ix_web_sessions_expires_at", table_name="web_sessions")
    op.drop_index("ix_web_sessions_user_id", table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_index("ix_web_users_member_id", table_name="web_users")
    op.drop_table("web_users")
