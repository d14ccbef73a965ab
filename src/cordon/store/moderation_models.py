"""Tables of the node's moderation (revision 0005_moderation): user reports, the review queue,
decisions, statements of reasons, appeals, removal orders, preservation and the strike ledger.

Content itself is never in these tables: a report's upload is kept as an encrypted file next
to the store (see `cordon.node.moderation.vault`) and named here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cordon.store.models import Base
from cordon.store.types import IdType, UTCDateTime

NAME_MAX = 100


class ModCase(Base):
    """One item of the review queue: a report (with its merged duplicates), a match a rule sent
    to review, a removal order or an appeal."""

    __tablename__ = "mod_cases"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    # report | match | order | appeal
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    # open | decided
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # 0: removal orders, 1: imminent threats, 2: everything else; then priority, deadline.
    tier: Mapped[int] = mapped_column(Integer, nullable=False)
    priority: Mapped[int] = mapped_column(Integer, nullable=False)
    # What identifies the content (sha256 of the bytes, else the normalised URL).
    content_key: Mapped[str | None] = mapped_column(String(200))
    # The content key while the case is open, NULL after: two open cases of the same content
    # cannot exist, so duplicate reports merge even when they arrive at the same moment.
    open_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    subject: Mapped[str | None] = mapped_column(Text)
    account: Mapped[str | None] = mapped_column(String(200))
    content_type: Mapped[str | None] = mapped_column(String(16))
    # The encrypted file of the content, if the node holds it (reports with an upload or a URL).
    evidence: Mapped[str | None] = mapped_column(String(64))
    signals: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    matches: Mapped[list[Any] | None] = mapped_column(JSON)
    labels: Mapped[list[Any] | None] = mapped_column(JSON)
    report_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    order_id: Mapped[int | None] = mapped_column(IdType)
    appeal_id: Mapped[int | None] = mapped_column(IdType)
    # For an appeal: the reviewer who took the decision appealed, who may not decide it.
    excluded_reviewer: Mapped[str | None] = mapped_column(String(NAME_MAX))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_mod_cases_queue", "status", "tier", "priority", "deadline_at"),
        Index("ix_mod_cases_opened_at", "opened_at"),
    )


class ModReport(Base):
    """A notice from a user: what, why, who (optional), acknowledged with a tracking id."""

    __tablename__ = "mod_reports"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    tracking_id: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("mod_cases.id"), nullable=False, index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    reason: Mapped[str] = mapped_column(String(200), nullable=False)
    explanation: Mapped[str] = mapped_column(Text, nullable=False)
    reporter_name: Mapped[str | None] = mapped_column(String(200))
    reporter_email: Mapped[str | None] = mapped_column(String(320))
    trusted: Mapped[bool] = mapped_column(Boolean, nullable=False)
    flagger: Mapped[str | None] = mapped_column(String(NAME_MAX))
    urls: Mapped[list[Any] | None] = mapped_column(JSON)
    upload_name: Mapped[str | None] = mapped_column(String(500))
    content_key: Mapped[str | None] = mapped_column(String(200))
    fetch_errors: Mapped[list[Any] | None] = mapped_column(JSON)


class ModDecision(Base):
    """What a reviewer decided on a case, with labels and a note."""

    __tablename__ = "mod_decisions"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("mod_cases.id"), nullable=False, index=True)
    reviewer: Mapped[str] = mapped_column(String(NAME_MAX), nullable=False)
    # remove | restrict | no_action | escalate | uphold | reverse
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    labels: Mapped[list[Any]] = mapped_column(JSON, nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    account: Mapped[str | None] = mapped_column(String(200))
    # law (illegal content: TCO/national law) | terms (incompatible with the terms of service)
    ground: Mapped[str] = mapped_column(String(16), nullable=False)
    ground_reference: Mapped[str | None] = mapped_column(Text)
    automated_detection: Mapped[bool] = mapped_column(Boolean, nullable=False)
    hub: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ModStatement(Base):
    """A statement of reasons (DSA art. 17), one per decision that restricts content."""

    __tablename__ = "mod_statements"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("mod_decisions.id"), nullable=False,
                                             unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    account: Mapped[str | None] = mapped_column(String(200))
    # The affected user reads the statement and appeals with a secret given to them once;
    # only its digest is kept.
    notice_digest: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    appeal_until: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    body: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ModAppeal(Base):
    """A complaint against a decision (DSA art. 20, TCO art. 10)."""

    __tablename__ = "mod_appeals"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("mod_statements.id"), nullable=False,
                                              index=True)
    case_id: Mapped[int | None] = mapped_column(IdType)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    explanation: Mapped[str] = mapped_column(Text, nullable=False)
    # open | upheld | reversed
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    decided_by: Mapped[str | None] = mapped_column(String(NAME_MAX))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ModOrder(Base):
    """A removal order from a competent authority (TCO art. 3): executed within one hour."""

    __tablename__ = "mod_orders"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    authority: Mapped[str] = mapped_column(String(300), nullable=False)
    reference: Mapped[str] = mapped_column(String(300), nullable=False)
    urls: Mapped[list[Any]] = mapped_column(JSON, nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    registered_by: Mapped[str] = mapped_column(String(NAME_MAX), nullable=False)
    case_id: Mapped[int | None] = mapped_column(IdType)
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    preserve_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ModPreservation(Base):
    """Removed content and its related data kept encrypted (TCO art. 6), purged after."""

    __tablename__ = "mod_preservations"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("mod_cases.id"), nullable=False, index=True)
    decision_id: Mapped[int] = mapped_column(IdType, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    keep_until: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    # The case, decision, order and signals as JSON, encrypted.
    record: Mapped[bytes | None] = mapped_column(LargeBinary)
    evidence: Mapped[str | None] = mapped_column(String(64))
    # kept | purging | purged
    state: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ModMatchContent(Base):
    """An encrypted copy of an upload whose match a rule sent to review, waiting for the
    match's case (which takes the copy over when the queue takes the match in)."""

    __tablename__ = "mod_match_contents"

    match_id: Mapped[int] = mapped_column(IdType, primary_key=True)
    evidence: Mapped[str] = mapped_column(String(64), nullable=False)
    content_type: Mapped[str | None] = mapped_column(String(16))


class ModPurge(Base):
    """One run of the purge: when, and what it removed."""

    __tablename__ = "mod_purges"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    purged: Mapped[list[Any]] = mapped_column(JSON, nullable=False)


class ModStrike(Base):
    """One confirmed violation of an account; it may suspend live streaming for a while."""

    __tablename__ = "mod_strikes"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    account: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    decision_id: Mapped[int] = mapped_column(IdType, nullable=False)
    labels: Mapped[list[Any]] = mapped_column(JSON, nullable=False)
    live_suspended_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


mod_cases = ModCase.__table__
mod_reports = ModReport.__table__
mod_decisions = ModDecision.__table__
mod_statements = ModStatement.__table__
mod_appeals = ModAppeal.__table__
mod_orders = ModOrder.__table__
mod_preservations = ModPreservation.__table__
mod_match_contents = ModMatchContent.__table__
mod_purges = ModPurge.__table__
mod_strikes = ModStrike.__table__
