"""Request and response bodies of the hub API. Requests refuse unknown fields."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cordon.banks.records import NOTE_MAX
from cordon.store.models import BANK_NAME_MAX, LABEL_MAX, MEMBER_NAME_MAX

SignalValue = str | dict[str, Any]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BankIn(Strict):
    name: str = Field(min_length=1, max_length=BANK_NAME_MAX)
    description: str | None = Field(default=None, max_length=NOTE_MAX)
    shared_with: list[str] = Field(
        default_factory=list, max_length=10_000,
        description='["*"] to share with every member, else member names; the owner (the '
                    "creating member) and admins always see the bank.",
    )


class BankPatch(Strict):
    description: str | None = Field(default=None, max_length=NOTE_MAX,
                                    description="The new description; null clears it.")
    shared_with: list[str] | None = Field(
        default=None, max_length=10_000,
        description='Replaces whom the bank is shared with: ["*"] for every member, member '
                    "names, or [] for its owner (and admins) only.",
    )


class BankOut(BaseModel):
    name: str
    description: str | None
    owner: str | None
    shared_with: list[str]
    created_at: str


class BankUpdateOut(BankOut):
    renumbered: int = Field(description="Entries given new change numbers so that members "
                                        "who gained access find them in the feed.")


class BanksOut(BaseModel):
    banks: list[BankOut]


class EntryIn(Strict):
    signals: dict[str, SignalValue] = Field(
        min_length=1, max_length=16,
        description="Signal type name -> compact hash string (or its JSON form).",
    )
    labels: list[str] = Field(default_factory=list, max_length=100,
                              description="Labels of the taxonomy in docs/labels.md.")
    content_type: Literal["image", "video", "other"] | None = None
    incident: str | int | None = Field(default=None, description="An incident id, if any.")
    note: str | None = Field(default=None, max_length=NOTE_MAX)


class ContributeIn(Strict):
    entries: list[EntryIn] = Field(min_length=1)


class ContributeOut(BaseModel):
    ids: list[int] = Field(description="Entry ids, in the order of the request.")


class FeedbackIn(Strict):
    verdict: Literal["confirm", "false_positive", "disagree_label"]
    note: str | None = Field(default=None, max_length=NOTE_MAX)


class FeedbackSummary(BaseModel):
    confirm: int
    false_positive: int
    disagree_label: int


class FeedbackOut(BaseModel):
    id: int
    feedback: FeedbackSummary
    disputed: bool


class WithdrawOut(BaseModel):
    id: int
    withdrawn: bool
    changed: bool


class EntryOut(BaseModel):
    id: int
    bank: str
    change: str = Field(description="The feed cursor just after this change.")
    signals: dict[str, Any]
    labels: list[str]
    content_type: str | None
    incident: str | None
    note: str | None
    contributor: str | None
    created_at: str
    updated_at: str
    withdrawn: bool
    withdrawn_at: str | None
    feedback: FeedbackSummary
    disputed: bool


class FeedOut(BaseModel):
    entries: list[EntryOut]
    cursor: str = Field(description="Pass it back to get what changed next.")
    more: bool = Field(description="True when more changes wait: ask again at once.")


class AuditRecord(BaseModel):
    id: int
    at: str
    member: str | None
    action: str
    object: str | None
    client: str | None
    detail: dict[str, Any] | None


class AuditOut(BaseModel):
    records: list[AuditRecord]
    next: int | None = Field(description="Pass as `before` for the next (older) page.")


class ImportOut(BaseModel):
    bank: str
    format: str | None
    records: int
    created: int
    updated: int
    unchanged: int
    withdrawn: int
    still_withdrawn: int
    skipped: int
    warnings: int
    problems: list[dict[str, Any]]


class Problem(BaseModel):
    detail: str | list[dict[str, Any]]


__all__ = ["LABEL_MAX", "MEMBER_NAME_MAX"]
