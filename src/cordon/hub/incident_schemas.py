"""Request and response bodies of the incident API. Requests refuse unknown fields."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from cordon.banks.records import NOTE_MAX
from cordon.hub.schemas import Strict
from cordon.store.incident_models import TITLE_MAX
from cordon.store.models import BANK_NAME_MAX

Criterion = Annotated[str, Field(min_length=1, max_length=200)]


class IncidentIn(Strict):
    level: Literal["pci", "incident"] = Field(
        description="pci: perpetrator content incident (hashes are shared); incident: a "
                    "communications-only event.")
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    bank: str = Field(min_length=1, max_length=BANK_NAME_MAX,
                      description="The hub bank that receives the incident's hashes.")
    description: str | None = Field(default=None, max_length=NOTE_MAX)
    location: str | None = Field(default=None, max_length=TITLE_MAX)
    attack_at: AwareDatetime | None = Field(
        default=None, description="When the attack began (with its time zone).")
    criteria: list[Criterion] = Field(default_factory=list, max_length=20,
                                description="The criteria of the protocol that are met.")


class IncidentPatch(Strict):
    status: Literal["open", "concluded", "rejected"] | None = Field(
        default=None, description="open: confirm a proposal; concluded: end an open "
                                  "incident; rejected: turn down a proposal.")
    level: Literal["pci", "incident"] | None = Field(
        default=None, description="Escalate to pci or de-escalate to incident.")
    situation: str | None = Field(default=None, max_length=NOTE_MAX,
                                  description="A situation update for the timeline.")
    title: str | None = Field(default=None, min_length=1, max_length=TITLE_MAX)
    description: str | None = Field(default=None, max_length=NOTE_MAX)
    location: str | None = Field(default=None, max_length=TITLE_MAX)
    attack_at: AwareDatetime | None = None
    criteria: list[Criterion] | None = Field(default=None, max_length=20)


class CountsIn(Strict):
    matches: int = Field(ge=0, le=10**15)
    blocks: int = Field(ge=0, le=10**15)


class IncidentOut(BaseModel):
    id: int
    level: str
    status: str
    title: str
    description: str | None
    location: str | None
    attack_at: str | None
    criteria: list[str]
    bank: str
    label: str
    situation: str | None
    proposed_by: str | None
    declared_by: str | None
    created_at: str
    declared_at: str | None
    updated_at: str
    concluded_at: str | None
    concluded_by: str | None
    version: int


class TimelineEvent(BaseModel):
    at: str
    kind: str
    member: str | None
    detail: dict[str, Any]


class IncidentDetail(IncidentOut):
    timeline: list[TimelineEvent]


class IncidentsOut(BaseModel):
    incidents: list[IncidentOut]


class AckOut(BaseModel):
    incident: int
    member: str
    at: str
    first: bool


class CountsOut(BaseModel):
    incident: int
    member: str
    matches: int
    blocks: int
    updated_at: str
