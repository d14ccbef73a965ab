"""The audit log (admins) and statistics."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from cordon.hub.deps import Client, HubDep, Member
from cordon.hub.errors import HubError
from cordon.hub.schemas import AuditOut

router = APIRouter(tags=["audit"])


@router.get("/v1/audit", response_model=AuditOut)
def audit(
    member: Member, hub: HubDep,
    member_name: Annotated[str | None, Query(alias="member", max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    object: Annotated[str | None, Query(max_length=300, description="Prefix.")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Audit records, newest first, filtered by member, action, object prefix and time."""
    for value in (since, until):
        if value is not None and value.tzinfo is None:
            raise HubError("give times with their UTC offset (e.g. 2025-01-01T00:00:00Z)", 422)
    records = hub.audit_records(member, before=before, limit=limit, who=member_name,
                                action=action, object_prefix=object, since=since, until=until)
    return {"records": records,
            "next": records[-1]["id"] if len(records) == limit else None}


@router.get("/v1/stats", tags=["statistics"])
def stats(member: Member, hub: HubDep, client: Client) -> dict[str, Any]:
    """Entries by signal type, label, contributor and incident; withdrawals, feedback and
    monthly figures, over the banks the caller may see."""
    return hub.statistics(member)
