"""The tables of incidents (revision 0004_incidents).

Hub: the incident itself, its timeline (every declaration, update, hash batch,
acknowledgement and conclusion, with time and author), one acknowledgement per member, and the
match and block counts each member's node reports for the debrief (numbers only, never content).

Node: the incidents a node has learned of, when it learned and acknowledged them, and the
crisis mode its operators switched on for them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cordon.store.models import BANK_NAME_MAX, MEMBER_NAME_MAX, Base
from cordon.store.types import IdType, UTCDateTime

TITLE_MAX = 200


class HubIncident(Base):
    __tablename__ = "hub_incidents"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    # pci (perpetrator content incident) | incident (communications only)
    level: Mapped[str] = mapped_column(String(16), nullable=False)
    # proposed | open | concluded | rejected
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(TITLE_MAX))
    attack_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    criteria: Mapped[list[Any]] = mapped_column(JSON, nullable=False)
    # The hub bank that receives the incident's hashes.
    bank: Mapped[str] = mapped_column(String(BANK_NAME_MAX), nullable=False)
    situation: Mapped[str | None] = mapped_column(Text)
    # Kept by value, like the audit log: the record must outlive the member.
    proposed_by: Mapped[str | None] = mapped_column(String(MEMBER_NAME_MAX))
    declared_by: Mapped[str | None] = mapped_column(String(MEMBER_NAME_MAX))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    declared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    concluded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    concluded_by: Mapped[str | None] = mapped_column(String(MEMBER_NAME_MAX))
    # Bumped on every change: nodes keep the newest version they have seen.
    version: Mapped[int] = mapped_column(Integer, nullable=False)


class HubIncidentEvent(Base):
    """One line of an incident's timeline."""

    __tablename__ = "hub_incident_events"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("hub_incidents.id", ondelete="CASCADE"), nullable=False, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # propose | declare | update | escalate | de-escalate | hashes | ack | conclude | reject
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    member: Mapped[str | None] = mapped_column(String(MEMBER_NAME_MAX))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class HubIncidentAck(Base):
    """The first acknowledgement of an incident by a member."""

    __tablename__ = "hub_incident_acks"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("hub_incidents.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[int] = mapped_column(
        ForeignKey("hub_members.id", ondelete="CASCADE"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class HubIncidentCount(Base):
    """A member's latest totals for an incident, as its node reports them."""

    __tablename__ = "hub_incident_counts"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("hub_incidents.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[int] = mapped_column(
        ForeignKey("hub_members.id", ondelete="CASCADE"), primary_key=True)
    matches: Mapped[int] = mapped_column(BigInteger, nullable=False)
    blocks: Mapped[int] = mapped_column(BigInteger, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class NodeIncident(Base):
    """An incident as the node learned it from the hub."""

    __tablename__ = "node_incidents"

    hub_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    label: Mapped[str] = mapped_column(String(100), nullable=False)
    # The incident as the hub last described it.
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    learned_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Crisis mode: the action for matches of the incident's label while it is open.
    crisis_action: Mapped[str | None] = mapped_column(String(16))
    crisis_max_distance: Mapped[float | None] = mapped_column()
    # The totals last accepted by the hub, so that unchanged counts are not sent again.
    reported: Mapped[dict[str, Any] | None] = mapped_column(JSON)


hub_incidents = HubIncident.__table__
hub_incident_events = HubIncidentEvent.__table__
hub_incident_acks = HubIncidentAck.__table__
hub_incident_counts = HubIncidentCount.__table__
node_incidents = NodeIncident.__table__
