"""Hub and node: incidents, their timeline, acknowledgements and node counts.

Revision ID: 0004_incidents
Revises: 0003_node
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cordon.store.types import IdType, UTCDateTime

revision = "0004_incidents"
down_revision = "0003_node"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_incidents",
        sa.Column("id", IdType, nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("location", sa.String(200), nullable=True),
        sa.Column("attack_at", UTCDateTime(), nullable=True),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("bank", sa.String(100), nullable=False),
        sa.Column("situation", sa.Text(), nullable=True),
        sa.Column("proposed_by", sa.String(100), nullable=True),
        sa.Column("declared_by", sa.String(100), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("declared_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("concluded_at", UTCDateTime(), nullable=True),
        sa.Column("concluded_by", sa.String(100), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_hub_incidents"),
    )
    op.create_index("ix_hub_incidents_status", "hub_incidents", ["status"])
    op.create_table(
        "hub_incident_events",
        sa.Column("id", IdType, nullable=False),
        sa.Column("incident_id", IdType, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("member", sa.String(100), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["hub_incidents.id"],
                                name="fk_hub_incident_events_incident_id_hub_incidents",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_hub_incident_events"),
    )
    op.create_index("ix_hub_incident_events_incident_id", "hub_incident_events",
                    ["incident_id"])
    for name in ("hub_incident_acks", "hub_incident_counts"):
        extra = ([sa.Column("matches", sa.BigInteger(), nullable=False),
                  sa.Column("blocks", sa.BigInteger(), nullable=False),
                  sa.Column("updated_at", UTCDateTime(), nullable=False)]
                 if name == "hub_incident_counts"
                 else [sa.Column("at", UTCDateTime(), nullable=False)])
        op.create_table(
            name,
            sa.Column("incident_id", IdType, nullable=False),
            sa.Column("member_id", IdType, nullable=False),
            *extra,
            sa.ForeignKeyConstraint(["incident_id"], ["hub_incidents.id"],
                                    name=f"fk_{name}_incident_id_hub_incidents",
                                    ondelete="CASCADE"),
            sa.ForeignKeyConstraint(["member_id"], ["hub_members.id"],
                                    name=f"fk_{name}_member_id_hub_members", ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("incident_id", "member_id", name=f"pk_{name}"),
        )
    op.create_table(
        "node_incidents",
        sa.Column("hub_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("learned_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("acked_at", UTCDateTime(), nullable=True),
        sa.Column("crisis_action", sa.String(16), nullable=True),
        sa.Column("crisis_max_distance", sa.Float(), nullable=True),
        sa.Column("reported", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("hub_id", name="pk_node_incidents"),
    )


def downgrade() -> None:
    op.drop_table("node_incidents")
    op.drop_table("hub_incident_counts")
    op.drop_table("hub_incident_acks")
    op.drop_index("ix_hub_incident_events_incident_id", table_name="hub_incident_events")
    op.drop_table("hub_incident_events")
    op.drop_index("ix_hub_incidents_status", table_name="hub_incidents")
    op.drop_table("hub_incidents")
