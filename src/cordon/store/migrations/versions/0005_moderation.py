"""Node moderation: user reports, review queue, decisions, statements of reasons, appeals,
removal orders, preservation, strikes.

Also gives node tokens a role (admin, reviewer, service, flagger); tokens made before have
`admin`, which is what they could do until now.

Revision ID: 0005_moderation
Revises: 0004_incidents
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cordon.store.types import IdType, UTCDateTime

revision = "0005_moderation"
down_revision = "0004_incidents"
branch_labels = None
depends_on = None


def _id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("id", IdType, nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("node_tokens") as batch:
        batch.add_column(sa.Column("role", sa.String(16), nullable=False,
                                   server_default="admin"))
    op.create_table(
        "mod_cases",
        _id(),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("deadline_at", UTCDateTime(), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("content_key", sa.String(200), nullable=True),
        sa.Column("open_key", sa.String(200), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("account", sa.String(200), nullable=True),
        sa.Column("content_type", sa.String(16), nullable=True),
        sa.Column("evidence", sa.String(64), nullable=True),
        sa.Column("signals", sa.JSON(), nullable=True),
        sa.Column("matches", sa.JSON(), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=True),
        sa.Column("report_count", sa.Integer(), nullable=False),
        sa.Column("order_id", IdType, nullable=True),
        sa.Column("appeal_id", IdType, nullable=True),
        sa.Column("excluded_reviewer", sa.String(100), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mod_cases"),
        sa.UniqueConstraint("open_key", name="uq_mod_cases_open_key"),
    )
    op.create_index("ix_mod_cases_queue", "mod_cases",
                    ["status", "tier", "priority", "deadline_at"])
    op.create_index("ix_mod_cases_opened_at", "mod_cases", ["opened_at"])
    op.create_table(
        "mod_reports",
        _id(),
        sa.Column("tracking_id", sa.String(40), nullable=False),
        sa.Column("case_id", IdType, nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("reporter_name", sa.String(200), nullable=True),
        sa.Column("reporter_email", sa.String(320), nullable=True),
        sa.Column("trusted", sa.Boolean(), nullable=False),
        sa.Column("flagger", sa.String(100), nullable=True),
        sa.Column("urls", sa.JSON(), nullable=True),
        sa.Column("upload_name", sa.String(500), nullable=True),
        sa.Column("content_key", sa.String(200), nullable=True),
        sa.Column("fetch_errors", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["mod_cases.id"],
                                name="fk_mod_reports_case_id_mod_cases"),
        sa.PrimaryKeyConstraint("id", name="pk_mod_reports"),
        sa.UniqueConstraint("tracking_id", name="uq_mod_reports_tracking_id"),
    )
    op.create_index("ix_mod_reports_case_id", "mod_reports", ["case_id"])
    op.create_index("ix_mod_reports_received_at", "mod_reports", ["received_at"])
    op.create_table(
        "mod_decisions",
        _id(),
        sa.Column("case_id", IdType, nullable=False),
        sa.Column("reviewer", sa.String(100), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.Column("account", sa.String(200), nullable=True),
        sa.Column("ground", sa.String(16), nullable=False),
        sa.Column("ground_reference", sa.Text(), nullable=True),
        sa.Column("automated_detection", sa.Boolean(), nullable=False),
        sa.Column("hub", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["mod_cases.id"],
                                name="fk_mod_decisions_case_id_mod_cases"),
        sa.PrimaryKeyConstraint("id", name="pk_mod_decisions"),
    )
    op.create_index("ix_mod_decisions_case_id", "mod_decisions", ["case_id"])
    op.create_index("ix_mod_decisions_decided_at", "mod_decisions", ["decided_at"])
    op.create_table(
        "mod_statements",
        _id(),
        sa.Column("decision_id", IdType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("account", sa.String(200), nullable=True),
        sa.Column("notice_digest", sa.String(64), nullable=False),
        sa.Column("appeal_until", UTCDateTime(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("reversed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["decision_id"], ["mod_decisions.id"],
                                name="fk_mod_statements_decision_id_mod_decisions"),
        sa.PrimaryKeyConstraint("id", name="pk_mod_statements"),
        sa.UniqueConstraint("decision_id", name="uq_mod_statements_decision_id"),
        sa.UniqueConstraint("notice_digest", name="uq_mod_statements_notice_digest"),
    )
    op.create_table(
        "mod_appeals",
        _id(),
        sa.Column("statement_id", IdType, nullable=False),
        sa.Column("case_id", IdType, nullable=True),
        sa.Column("filed_at", UTCDateTime(), nullable=False),
        sa.Column("deadline_at", UTCDateTime(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(100), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["statement_id"], ["mod_statements.id"],
                                name="fk_mod_appeals_statement_id_mod_statements"),
        sa.PrimaryKeyConstraint("id", name="pk_mod_appeals"),
    )
    op.create_index("ix_mod_appeals_statement_id", "mod_appeals", ["statement_id"])
    op.create_index("ix_mod_appeals_filed_at", "mod_appeals", ["filed_at"])
    op.create_table(
        "mod_orders",
        _id(),
        sa.Column("authority", sa.String(300), nullable=False),
        sa.Column("reference", sa.String(300), nullable=False),
        sa.Column("urls", sa.JSON(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("deadline_at", UTCDateTime(), nullable=False),
        sa.Column("registered_by", sa.String(100), nullable=False),
        sa.Column("case_id", IdType, nullable=True),
        sa.Column("executed_at", UTCDateTime(), nullable=True),
        sa.Column("preserve_until", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mod_orders"),
    )
    op.create_index("ix_mod_orders_received_at", "mod_orders", ["received_at"])
    op.create_table(
        "mod_preservations",
        _id(),
        sa.Column("case_id", IdType, nullable=False),
        sa.Column("decision_id", IdType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("keep_until", UTCDateTime(), nullable=False),
        sa.Column("record", sa.LargeBinary(), nullable=True),
        sa.Column("evidence", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("purged_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["mod_cases.id"],
                                name="fk_mod_preservations_case_id_mod_cases"),
        sa.PrimaryKeyConstraint("id", name="pk_mod_preservations"),
    )
    op.create_index("ix_mod_preservations_case_id", "mod_preservations", ["case_id"])
    op.create_index("ix_mod_preservations_keep_until", "mod_preservations", ["keep_until"])
    op.create_index("ix_mod_preservations_state", "mod_preservations", ["state"])
    op.create_table(
        "mod_match_contents",
        sa.Column("match_id", IdType, nullable=False),
        sa.Column("evidence", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("match_id", name="pk_mod_match_contents"),
    )
    op.create_table(
        "mod_purges",
        _id(),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("purged", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mod_purges"),
    )
    op.create_table(
        "mod_strikes",
        _id(),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("decision_id", IdType, nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("live_suspended_until", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mod_strikes"),
    )
    op.create_index("ix_mod_strikes_account", "mod_strikes", ["account"])


def downgrade() -> None:
    for table in ("mod_strikes", "mod_match_contents", "mod_purges", "mod_preservations",
                  "mod_orders", "mod_appeals", "mod_statements", "mod_decisions", "mod_reports",
                  "mod_cases"):
        op.drop_table(table)
    with op.batch_alter_table("node_tokens") as batch:
        batch.drop_column("role")
