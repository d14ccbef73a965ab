"""Request and response bodies of the node API. Requests refuse unknown fields."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cordon.hub.schemas import ContributeIn, ContributeOut, EntryIn

SignalValue = str | dict[str, Any]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MatchIn(Strict):
    signals: dict[str, SignalValue] | None = Field(
        default=None, max_length=16,
        description="Signal type name -> compact hash string (or its JSON form).")
    url: str | None = Field(default=None, max_length=4096,
                            description="Fetch this http(s) URL and hash what it returns.")


class MatchItem(BaseModel):
    id: int | None = Field(default=None, description="The match record (for feedback).")
    bank: str
    origin: Literal["hub", "private"]
    entry: int = Field(description="The hub entry id, or the private entry id.")
    local_entry: int
    signal_type: str
    distance: float
    labels: list[str]
    incident: str | None
    disputed: bool
    segments: list[Any]
    detail: dict[str, Any] | None = None


class ActionItem(BaseModel):
    action: Literal["cut", "block", "review", "alert", "log"]
    rule: int
    rule_name: str
    bank: str
    entry: int
    signal_type: str
    distance: float


class MatchOut(BaseModel):
    signals: dict[str, Any]
    matches: list[MatchItem]
    actions: list[ActionItem]


class HashOut(BaseModel):
    content_type: str | None
    signals: dict[str, Any]


class RuleIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    action: Literal["cut", "block", "review", "alert", "log"]
    bank: str | None = Field(default=None, max_length=100)
    labels: list[str] = Field(default_factory=list, max_length=100,
                              description="Any of these labels; `family:*` for a family.")
    signal_type: str | None = Field(default=None, max_length=32)
    max_distance: float | None = Field(default=None, ge=0)
    incident: bool | str | None = Field(
        default=None, description="true: entries of any incident; a string: that incident.")
    disputed: bool | None = None


class RuleOut(BaseModel):
    id: int
    name: str
    action: str
    bank: str | None
    labels: list[str]
    signal_type: str | None
    max_distance: float | None
    incident: bool | str | None
    disputed: bool | None


class WebhookIn(Strict):
    url: str = Field(min_length=1, max_length=4096)
    secret: str = Field(min_length=16, max_length=512,
                        description="Signs deliveries (HMAC-SHA256); never shown again.")
    events: list[Literal["match", "action", "live_match", "incident", "decision"]] = Field(
        default_factory=lambda: ["match"], min_length=1)


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    created_at: str


class BankIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)


class ShareIn(Strict):
    bank: str = Field(min_length=1, max_length=100, description="The hub bank.")
    incident: int | None = Field(default=None, ge=1, le=10**18,
                                 description="A hub incident the entry is shared for.")


class VerdictIn(Strict):
    verdict: Literal["confirm", "false_positive"]
    note: str | None = Field(default=None, max_length=2000)


__all__ = ["ContributeIn", "ContributeOut", "EntryIn"]
