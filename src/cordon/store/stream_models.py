"""The live streams a node watches (revision 0007_streams): kept so that a node restarted
for an upgrade or after a crash goes back to watching them, and so a stream's start, end and
reason outlive the process that watched it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cordon.store.models import Base
from cordon.store.types import IdType, UTCDateTime

STATE_MAX = 16


class NodeStream(Base):
    __tablename__ = "node_streams"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    labels: Mapped[list[Any]] = mapped_column(JSON, nullable=False)
    # A node webhook (no foreign key: a deleted webhook only stops the deliveries).
    webhook_id: Mapped[int | None] = mapped_column(IdType)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    resumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when watching ended for good (the stream ended, failed, or was stopped by DELETE);
    # a stream cut short by the node's own shutdown is not ended and is watched again.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    end_state: Mapped[str | None] = mapped_column(String(STATE_MAX))
    end_message: Mapped[str | None] = mapped_column(Text)


node_streams = NodeStream.__table__
