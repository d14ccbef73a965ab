"""Banks: the list, creating one, a bank's page with its entries, and building a bank
from files.

Building from files: the hub refuses media, so the files are posted to this page, hashed
here with Cordon's signal code (the same as `cordon hash`), and only their signals go to
the hub's contribution service; the files are deleted as soon as they are hashed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from cordon.hashing import hash_file
from cordon.hub.errors import HubError
from cordon.hub.service import WRITERS, EntryInput, Hub
from cordon.signals import get_signal_type
from cordon.web.auth import CheckedForm, CurrentUser, NotFound, WebUser
from cordon.web.hub import forms
from cordon.web.hub.queries import EntrySearch, search_entries
from cordon.web.hub.realm import Writer, member_of
from cordon.web.mount import NavItem, client_address
from cordon.web.templates import redirect, render

router = APIRouter(prefix="/ui", include_in_schema=False)
NAV = (NavItem("/ui/banks", "Banks", order=20),)
PAGE = 50
_CHUNK = 1 << 20


def _bank(hub: Hub, user: WebUser, name: str) -> dict[str, Any]:
    for bank in hub.list_banks(member_of(user)):
        if bank["name"] == name:
            return bank
    raise NotFound(f"no bank named {name!r} that you may see")


@router.get("/banks", response_class=HTMLResponse)
async def banks(request: Request, user: CurrentUser) -> HTMLResponse:
    hub: Hub = request.app.state.hub
    rows = await run_in_threadpool(hub.list_banks, member_of(user))
    return render(request, "hub/banks.html", banks=rows, error=None,
                  can_write=user.role in WRITERS)


@router.post("/banks")
async def create_bank(request: Request, form: CheckedForm,
                      user: Writer) -> Response:
    hub: Hub = request.app.state.hub
    name = forms.text(form, "name", 200)
    sharing = forms.text(form, "sharing")
    shared = (["*"] if sharing == "all" else
              forms.names(forms.text(form, "members")) if sharing == "some" else [])

    def create() -> Response:
        try:
            hub.create_bank(member_of(user), name, forms.text(form, "description") or None,
                            shared, client_address(request))
        except HubError as exc:
            return render(request, "hub/banks.html", status_code=exc.status, error=str(exc),
                          banks=hub.list_banks(member_of(user)), can_write=True)
        return redirect(f"/ui/banks/{name}", f"Bank {name} created.")

    return await run_in_threadpool(create)


@router.get("/banks/{name}", response_class=HTMLResponse)
async def bank_page(
    name: str, request: Request, user: CurrentUser,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    hub: Hub = request.app.state.hub

    def load() -> dict[str, Any]:
        bank = _bank(hub, user, name)
        with hub.store.read() as conn:
            rows = search_entries(conn, member_of(user), EntrySearch(bank=name), before, PAGE)
        return {"bank": bank, "recent": rows,
                "next_url": f"/ui/banks/{name}?before={rows[-1].change_seq}" if len(rows) == PAGE
                else None}

    return render(request, "hub/bank.html", can_write=user.role in WRITERS,
                  behaviours=forms.BEHAVIOUR_LABELS, results=None, error=None,
                  **await run_in_threadpool(load))


async def _spool(upload: UploadFile, folder: str, index: int) -> Path:
    path = Path(folder) / f"{index:05d}"
    with path.open("wb") as out:
        while chunk := await upload.read(_CHUNK):
            out.write(chunk)
    return path


@router.post("/banks/{name}/files", response_class=HTMLResponse)
async def build_from_files(name: str, request: Request, form: CheckedForm,
                           user: Writer) -> HTMLResponse:
    """Hash the uploaded files here and contribute their signals (never the files)."""
    hub: Hub = request.app.state.hub
    settings = request.app.state.ui.settings
    bank = await run_in_threadpool(_bank, hub, user, name)
    uploads = [f for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]
    labels = forms.labels(form)
    note = forms.text(form, "note") or None
    error = None
    if not uploads:
        error = "choose at least one file"
    elif len(uploads) > settings.max_upload_files:
        error = f"at most {settings.max_upload_files} files at once, got {len(uploads)}"
    results: list[dict[str, Any]] = []
    if error is None:
        with tempfile.TemporaryDirectory(prefix="cordon-ui-") as folder:
            paths = [await _spool(upload, folder, i) for i, upload in enumerate(uploads)]
            hashed = await run_in_threadpool(
                lambda: [hash_file(p, display=u.filename) for p, u in zip(paths, uploads,
                                                                          strict=True)])
            for path in paths:
                os.unlink(path)
        results, error = await run_in_threadpool(
            _contribute, hub, user, name, hashed, labels, note, client_address(request))
    status = 422 if error else 200
    return render(request, "hub/bank.html", status_code=status, bank=bank, recent=[],
                  next_url=None, can_write=True, behaviours=forms.BEHAVIOUR_LABELS,
                  results=results, error=error)


def _contribute(hub: Hub, user: WebUser, bank: str, hashed: list[Any], labels: list[str],
                note: str | None, client: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """One contribution for every file that hashed; rows for the result table, and the
    reason when the hub refused the contribution."""
    rows: list[dict[str, Any]] = []
    items: list[EntryInput] = []
    for result in hashed:
        row: dict[str, Any] = {"file": result.path, "error": result.error, "entry": None,
                               "signals": {}}
        if result.ok and result.signals:
            signals = {n: get_signal_type(n).to_json(v) for n, v in result.signals.items()}
            row["signals"] = {n: get_signal_type(n).summary(v)
                              for n, v in result.signals.items()}
            content_type = result.content_type.value if result.content_type else None
            items.append(EntryInput(signals, labels, content_type
                                    if content_type in ("image", "video") else "other",
                                    None, note))
        elif result.ok:
            row["error"] = "no signal applies to this file"
        rows.append(row)
    if not items:
        return rows, None
    try:
        ids = hub.contribute(member_of(user), bank, items, client)
    except HubError as exc:
        for row in rows:
            if row["error"] is None:
                row["error"] = "not contributed"
        return rows, str(exc)
    fresh = iter(ids)
    for row in rows:
        if row["error"] is None:
            row["entry"] = next(fresh)
    return rows, None
