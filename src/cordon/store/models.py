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
    ForeignKey,
    Index,
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
    bank_id: Mapped[int] = mapped_column(
        ForeignKey("banks.id", ondelete="CASCADE"), primary_key=True
    )
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


change_counter = ChangeCounter.__table__
banks = Bank.__table__
entries = Entry.__table__
entry_signals = EntrySignal.__table__
entry_labels = EntryLabel.__table__
