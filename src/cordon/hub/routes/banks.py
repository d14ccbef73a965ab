"""Banks: create, list, import and export."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from cordon.banks.formats import AUTO, FORMATS
from cordon.hub.deps import Client, HubDep, Member
from cordon.hub.errors import HubError
from cordon.hub.schemas import BankIn, BankOut, BankPatch, BanksOut, BankUpdateOut, ImportOut

router = APIRouter(prefix="/v1/banks", tags=["banks"])

_MEDIA_TYPES = {"jsonl": "application/x-ndjson", "tx-csv": "text/csv",
                "lines": "text/plain", "tat-json": "application/json"}


@router.post("", status_code=201, response_model=BankOut)
def create_bank(body: BankIn, member: Member, hub: HubDep, client: Client) -> dict[str, object]:
    """Create a bank owned by the caller, shared with every member (`["*"]`) or some."""
    return hub.create_bank(member, body.name, body.description, body.shared_with, client)


@router.patch("/{bank}", response_model=BankUpdateOut)
def update_bank(bank: str, body: BankPatch, member: Member, hub: HubDep,
                client: Client) -> dict[str, object]:
    """Change a bank's description or whom it is shared with (admins). Members that lose
    access see none of its later changes; members that gain it find its entries in the feed
    after their cursor (every entry of the bank gets a new change number)."""
    if not body.model_fields_set:
        raise HubError("give a description or shared_with to change", 422)
    options: dict[str, Any] = {"shared_with": body.shared_with}
    if "description" in body.model_fields_set:
        options["description"] = body.description
    return hub.update_bank(member, bank, client, **options)


@router.get("", response_model=BanksOut)
def list_banks(member: Member, hub: HubDep) -> dict[str, object]:
    """The banks the caller may see."""
    return {"banks": hub.list_banks(member)}


@router.post(
    "/{bank}/import", response_model=ImportOut,
    openapi_extra={"requestBody": {"required": True, "content": {
        t: {"schema": {"type": "string"}} for t in sorted(set(_MEDIA_TYPES.values()))}}},
)
async def import_bank(
    bank: str, request: Request, member: Member, hub: HubDep, client: Client,
    format: Annotated[str, Query(pattern="|".join([AUTO, *FORMATS]))] = AUTO,
) -> dict[str, object]:
    """Import a hash list (the body) in one of the formats of `cordon bank import`."""
    data = await request.body()
    summary = await run_in_threadpool(hub.import_bank, member, bank, data, format, client)
    return summary.to_json()


@router.get("/{bank}/export", response_class=StreamingResponse,
            responses={200: {"content": {t: {} for t in sorted(set(_MEDIA_TYPES.values()))}}})
async def export_bank(
    bank: str, member: Member, hub: HubDep, client: Client,
    format: Annotated[str, Query(pattern="|".join(FORMATS))] = "jsonl",
    include_withdrawn: bool = False,
) -> StreamingResponse:
    """Export a bank as a hash list."""
    spool = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")  # noqa: SIM115
    try:
        await run_in_threadpool(hub.export_bank, member, bank, format, spool,
                                include_withdrawn, client)
    except BaseException:
        spool.close()
        raise
    spool.seek(0, os.SEEK_SET)

    def chunks() -> Iterator[str]:
        with spool:
            while block := spool.read(1 << 16):
                yield block

    return StreamingResponse(chunks(), media_type=_MEDIA_TYPES[format])
