"""The tables of the store.

Only signals, labels and metadata are stored, never media. Every write takes numbers from one
change counter (`change_counter`), inside the transaction that holds the counter's row lock,
so change numbers become visible in the order they were taken: a reader following
`entries.change_seq` by cursor never misses a change committed by a slower writer.

Later parts of the system (hub members, tokens, sharing, audit, feedback, incidents; node
mirrors, matches, rules) add their own tables in later migrations; these ones stay stable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cordon.store.types import IdType, UTCDateTime

# Stable constraint names, so later migrations can refer to them on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BANK_NAME_MAX = 100
LABEL_MAX = 200
SIGNAL_TYPE_MAX = 32
LOOKUP_LENGTH = 32


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ChangeCounter(Base):
    """One row (id 1): the last change number handed out."""

    __tablename__ = "change_counter"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False)


class Bank(Base):
    __tablename__ = "banks"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(BANK_NAME_MAX), nullable=False, unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    change_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)


class Entry(Base):
    """One item of content, known only by its signals, labels and metadata."""

    __tablename__ = "entries"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    bank_id: Mapped[int] = mapped_column(
        ForeignKey("banks.id", ondelete="CASCADE"), nullable=False
    )
    content_type: Mapped[str | None] = mapped_column(String(16))
    # Where the entry came from: a file name, an import record id, a member's reference.
    source: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Withdrawn entries stay as tombstones so that mirrors following the feed learn of them.
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The change number of the entry's last write (creation, labels, withdrawal).
    change_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, unique=True)

    __table_args__ = (Index("ix_entries_bank_id_change_seq", "bank_id", "change_seq"),)


class EntrySignal(Base):
    """One signal of an entry. Within a bank, a signal value belongs to at most one entry."""

    __tablename__ = "entry_signals"

    # A fixed-size digest of `value`: values can be hundreds of kilobytes (TMK), keys cannot.
    # It leads the primary key, so exact matches across banks are index lookups.
    lookup: Mapped[str] = mapped_column(String(LOOKUP_LENGTH), primary_key=True)
    # The bank is repeated here so that the primary key is the bank-wide exact-match key.
    # Not a foreign key of its own (revision 0008): the entry's key already cascades from
    # the bank, and contributions would check it once more for every signal.
    bank_id: Mapped[int] = mapped_column(IdType, primary_key=True)
    signal_type: Mapped[str] = mapped_column(String(SIGNAL_TYPE_MAX), primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("entries.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # `SignalType.format(value)`: the compact string form.
    value: Mapped[str] = mapped_column(Text, nullable=False)
    # What `SignalType.to_json` adds to the compact form (e.g. PDQ quality), if anything.
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class EntryLabel(Base):
    __tablename__ = "entry_labels"

    entry_id: Mapped[int] = mapped_column(
        ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(String(LABEL_MAX), primary_key=True)


# --- hub (revision 0002_hub) -------------------------------------------------------------------
MEMBER_NAME_MAX = 100


class HubMember(Base):
    """A platform that takes part in the hub."""

    __tablename__ = "hub_members"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(MEMBER_NAME_MAX), nullable=False, unique=True)
    # admin | contributor | reader
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class HubToken(Base):
    """An API token of a member. Only a SHA-256 digest of the token is kept."""

    __tablename__ = "hub_tokens"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    member_id: Mapped[int] = mapped_column(
        ForeignKey("hub_members.id", ondelete="CASCADE"), nullable=False, index=True
    )
    digest: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class HubBank(Base):
    """Who owns a bank and whether every member may see it. Banks without a row here
    (created outside the hub) are visible to admins only."""

    __tablename__ = "hub_banks"

    bank_id: Mapped[int] = mapped_column(
        ForeignKey("banks.id", ondelete="CASCADE"), primary_key=True
    )
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("hub_members.id", ondelete="SET NULL")
    )
    shared_all: Mapped[bool] = mapped_column(Boolean, nullable=False)


class HubBankShare(Base):
    __tablename__ = "hub_bank_shares"

    bank_id: Mapped[int] = mapped_column(
        ForeignKey("banks.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(
        ForeignKey("hub_members.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class HubEntry(Base):
    """What the hub adds to an entry: its contributor, incident and feedback totals.

    The totals are kept here (recomputed under the write lock on every verdict) so that the
    feed reads them with the entry instead of aggregating feedback on every page.
    """

    __tablename__ = "hub_entries"

    entry_id: Mapped[int] = mapped_column(
        ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("hub_members.id", ondelete="SET NULL"), index=True
    )
    # The incident workflow comes later; contributions may already name one.
    incident: Mapped[str | None] = mapped_column(String(100), index=True)
    confirms: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    false_positives: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    label_disputes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    disputed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class HubFeedback(Base):
    """One member's verdict on one entry; a new verdict replaces the previous one."""

    __tablename__ = "hub_feedback"

    entry_id: Mapped[int] = mapped_column(
        ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(
        ForeignKey("hub_members.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    verdict: Mapped[str] = mapped_column(String(20), nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class HubAudit(Base):
    """Who did what, when, to what and from where. Never holds tokens."""

    __tablename__ = "hub_audit"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    member_id: Mapped[int | None] = mapped_column(IdType, index=True)
    # Kept by value: the record must outlive the member.
    member: Mapped[str | None] = mapped_column(String(MEMBER_NAME_MAX))
    action: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    object: Mapped[str | None] = mapped_column(Text)
    client: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


# --- node (revision 0003_node) -----------------------------------------------------------------
class NodeToken(Base):
    """A token of the node's own API. Only a SHA-256 digest of the token is kept."""

    __tablename__ = "node_tokens"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(MEMBER_NAME_MAX), nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # One of cordon.node.roles.ROLES (added by 0005_moderation).
    role: Mapped[str] = mapped_column(String(16), nullable=False, server_default="admin")


class NodeState(Base):
    """Small named values of the node, e.g. the hub feed cursor."""

    __tablename__ = "node_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


class NodeMirror(Base):
    """A hub entry mirrored as a local entry: what the hub says of it beyond signals and
    labels, and the hub change it was last written from (older deliveries are ignored)."""

    __tablename__ = "node_mirror"

    hub_entry_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("entries.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    hub_bank: Mapped[str] = mapped_column(String(BANK_NAME_MAX), nullable=False)
    hub_change: Mapped[int] = mapped_column(BigInteger, nullable=False)
    incident: Mapped[str | None] = mapped_column(String(100))
    contributor: Mapped[str | None] = mapped_column(String(MEMBER_NAME_MAX))
    disputed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    feedback: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class NodeRule(Base):
    """A condition on matches and the action it calls for."""

    __tablename__ = "node_rules"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class NodeMatch(Base):
    """One match of one query against one entry, with what explains it."""

    __tablename__ = "node_matches"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    # The request's reference: an upload's file name, a URL, or none for signals.
    source: Mapped[str | None] = mapped_column(Text)
    entry_id: Mapped[int] = mapped_column(IdType, nullable=False, index=True)
    hub_entry_id: Mapped[int | None] = mapped_column(BigInteger)
    bank: Mapped[str] = mapped_column(String(BANK_NAME_MAX), nullable=False)
    signal_type: Mapped[str] = mapped_column(String(SIGNAL_TYPE_MAX), nullable=False)
    distance: Mapped[float] = mapped_column(nullable=False)
    query: Mapped[str | None] = mapped_column(Text)
    rules: Mapped[list[Any] | None] = mapped_column(JSON)
    actions: Mapped[list[Any] | None] = mapped_column(JSON)
    verdict: Mapped[str | None] = mapped_column(String(20))
    verdict_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NodeWebhook(Base):
    __tablename__ = "node_webhooks"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    # Kept as given: signing needs it. Never returned by the API or logged.
    secret: Mapped[str] = mapped_column(Text, nullable=False)
    events: Mapped[list[Any]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NodeOutbox(Base):
    """A webhook delivery, written in the transaction of what it reports and drained by the
    delivery worker: nothing is lost when the node stops between the two."""

    __tablename__ = "node_outbox"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(
        ForeignKey("node_webhooks.id", ondelete="CASCADE"), nullable=False, index=True
    )
    event: Mapped[str] = mapped_column(String(32), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    # pending | delivered | failed
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)


change_counter = ChangeCounter.__table__
banks = Bank.__table__
entries = Entry.__table__
entry_signals = EntrySignal.__table__
entry_labels = EntryLabel.__table__
hub_members = HubMember.__table__
hub_tokens = HubToken.__table__
hub_banks = HubBank.__table__
hub_bank_shares = HubBankShare.__table__
hub_entries = HubEntry.__table__
hub_feedback = HubFeedback.__table__
hub_audit = HubAudit.__table__
node_tokens = NodeToken.__table__
node_state = NodeState.__table__
node_mirror = NodeMirror.__table__
node_rules = NodeRule.__table__
node_matches = NodeMatch.__table__
node_webhooks = NodeWebhook.__table__
node_outbox = NodeOutbox.__table__
