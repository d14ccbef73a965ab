"""The node's banks: mirrors of hub banks and private banks, with what each holds."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from cordon.node.mirror import MIRROR_PREFIX
from cordon.node.service import Node
from cordon.web.auth import CurrentUser
from cordon.web.mount import NavItem
from cordon.web.templates import render

router = APIRouter(prefix="/ui", include_in_schema=False)
NAV = (NavItem("/ui/banks", "Banks", order=30),)


def bank_rows(node: Node) -> list[dict[str, Any]]:
    rows = []
    for bank in node.banks.list():
        summary = node.banks.summary(bank.name)
        mirror = bank.name.startswith(MIRROR_PREFIX)
        rows.append({"name": bank.name.removeprefix(MIRROR_PREFIX) if mirror else bank.name,
                     "origin": "hub mirror" if mirror else "private",
                     "description": bank.description, "live": summary.live,
                     "withdrawn": summary.withdrawn, "signals": summary.signals,
                     "labels": sorted(summary.labels.items(), key=lambda kv: -kv[1])[:8],
                     "last_change": summary.last_change})
    return rows


@router.get("/banks", response_class=HTMLResponse)
async def banks(request: Request, user: CurrentUser) -> HTMLResponse:
    node: Node = request.app.state.node
    return render(request, "node/banks.html", banks=await run_in_threadpool(bank_rows, node),
                  can_write=user.role == "admin", error=None)
