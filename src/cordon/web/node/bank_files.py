"""A private bank's page, creating private banks, and building a bank from files: the
platform's node is where media is hashed. The files are hashed here with Cordon's signal code
(the same as `cordon hash` and `POST /v1/hash`), their signals go into the private bank, and
the files are deleted as soon as they are hashed. Sharing sends the new entries' signals,
labels, content type and note to a hub bank through the node's share path
(`POST /v1/entries/{id}/share`): only signals reach the hub."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData, UploadFile

from cordon.errors import CordonError
from cordon.hashing import HashResult, hash_file
from cordon.hub.labels import BEHAVIOURS, check_label
from cordon.node.mirror import MIRROR_PREFIX
from cordon.node.routes.manage import share_entries
from cordon.node.service import Node, NodeError
from cordon.signals import get_signal_type
from cordon.web.auth import CheckedForm, CurrentUser, WebUser, require_role
from cordon.web.node.banks import bank_rows
from cordon.web.templates import redirect, render

Admin = Annotated[WebUser, Depends(require_role("admin"))]
router = APIRouter(prefix="/ui", include_in_schema=False)
NAV = ()
ENTRIES_SHOWN = 200
_CHUNK = 1 << 20


def _text(form: FormData, name: str, limit: int = 4000) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _labels(form: FormData) -> list[str]:
    chosen = [v for v in form.getlist("label") if isinstance(v, str) and v]
    chosen += [p.strip() for p in _text(form, "labels").replace("\n", ",").split(",")
               if p.strip()]
    return list(dict.fromkeys(chosen))


@dataclass
class Built:
    """What "build from files" did, one row per file."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    shared_to: str | None = None
    error: str | None = None


def _page(request: Request, user: WebUser, name: str, *, status_code: int = 200,
          built: Built | None = None, kept: dict[str, str] | None = None) -> HTMLResponse:
    node: Node = request.app.state.node
    entries = node.private_entries(name, ENTRIES_SHOWN)  # NodeError 404 for no such bank
    hub_banks = sorted(b.name.removeprefix(MIRROR_PREFIX) for b in node.banks.list()
                       if b.name.startswith(MIRROR_PREFIX))
    return render(request, "node/bank.html", status_code=status_code, bank=name,
                  entries=entries, can_write=user.role == "admin", built=built or Built(),
                  hub_banks=hub_banks, follows_hub=bool(node.settings.hub_url),
                  behaviours=[(f"behaviour:{k}", t) for k, t in BEHAVIOURS.items()],
                  kept=kept or {})


@router.post("/banks", response_model=None)
async def create_bank(request: Request, user: Admin, form: CheckedForm) -> Response:
    node: Node = request.app.state.node
    name = _text(form, "name", 200)
    try:
        await run_in_threadpool(node.create_bank, name, _text(form, "description") or None)
    except CordonError as exc:
        return render(request, "node/banks.html", status_code=getattr(exc, "status", 422),
                      banks=await run_in_threadpool(bank_rows, node), error=str(exc),
                      can_write=True)
    return redirect(f"/ui/banks/{name}", f"Private bank {name} created.")


@router.get("/banks/{name}", response_class=HTMLResponse)
async def bank_page(name: str, request: Request, user: CurrentUser) -> HTMLResponse:
    return await run_in_threadpool(lambda: _page(request, user, name))


async def _spool(upload: UploadFile, folder: str, index: int, limit: int) -> Path | None:
    """The upload in a file of its own; None when it is over `limit` bytes."""
    path = Path(folder) / f"{index:05d}"
    size = 0
    with path.open("wb") as out:
        while chunk := await upload.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                return None
            out.write(chunk)
    return path


@router.post("/banks/{name}/files", response_class=HTMLResponse)
async def build_from_files(name: str, request: Request, user: Admin,
                           form: CheckedForm) -> HTMLResponse:
    """Hash the uploaded files into the private bank; share their signals when asked."""
    node: Node = request.app.state.node
    settings = request.app.state.ui.settings
    await run_in_threadpool(node.private_entries, name, 1)  # 404 before any work
    uploads = [f for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]
    labels, note = _labels(form), _text(form, "note") or None
    share_to = _text(form, "share_to", 100) if form.get("share") else None
    kept = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}

    def refuse(message: str) -> HTMLResponse:
        return _page(request, user, name, status_code=422, built=Built(error=message),
                     kept=kept)

    if not uploads:
        return await run_in_threadpool(refuse, "choose at least one file")
    if len(uploads) > settings.max_upload_files:
        return await run_in_threadpool(
            refuse, f"at most {settings.max_upload_files} files at once, got {len(uploads)}")
    if form.get("share") and not node.settings.hub_url:
        return await run_in_threadpool(
            refuse, "this node follows no hub: nothing can be shared (start it with --hub)")
    if form.get("share") and not share_to:
        return await run_in_threadpool(refuse, "name the hub bank to share the signals to")
    if share_to is not None:
        # The hub would refuse the whole contribution for one label outside its taxonomy:
        # say so before anything is hashed or stored.
        try:
            labels = [check_label(label) for label in labels]
        except CordonError as exc:
            return await run_in_threadpool(refuse, str(exc))
    limit = node.settings.max_upload_bytes
    with tempfile.TemporaryDirectory(prefix="cordon-ui-") as folder:
        paths = [await _spool(u, folder, i, limit) for i, u in enumerate(uploads)]
        hashed = await run_in_threadpool(lambda: [
            hash_file(p, display=u.filename) if p is not None
            else HashResult(path=u.filename or "", error=f"larger than {limit:,} bytes")
            for p, u in zip(paths, uploads, strict=True)])
    built = await run_in_threadpool(_store, node, name, hashed, labels, note, share_to)
    return await run_in_threadpool(lambda: _page(
        request, user, name, status_code=422 if built.error else 200, built=built,
        kept=kept if built.error else None))


def _store(node: Node, bank: str, hashed: list[HashResult], labels: list[str],
           note: str | None, share_to: str | None) -> Built:
    built = Built(shared_to=share_to)
    added: list[tuple[dict[str, Any], int]] = []
    for result in hashed:
        row: dict[str, Any] = {"file": result.path, "error": result.error, "entry": None,
                               "hub_entry": None, "signals": {}}
        built.rows.append(row)
        if not result.ok:
            continue
        if not result.signals:
            row["error"] = "no signal applies to this file"
            continue
        row["signals"] = {n: get_signal_type(n).summary(v) for n, v in result.signals.items()}
        content_type = result.content_type.value if result.content_type else None
        item = {"signals": {n: get_signal_type(n).to_json(v)
                            for n, v in result.signals.items()},
                "labels": labels, "content_type": content_type, "note": note}
        try:
            row["entry"] = node.add_entries(bank, [item])[0]
        except CordonError as exc:
            row["error"] = str(exc)
            continue
        added.append((row, row["entry"]))
    if share_to is not None and added:
        try:
            hub_ids = share_entries(node, [entry for _, entry in added], share_to)
        except (NodeError, CordonError) as exc:
            built.error = (f"the entries are in the private bank, but the hub refused to "
                           f"share them: {exc}")
            return built
        for (row, _), hub_id in zip(added, hub_ids, strict=True):
            row["hub_entry"] = hub_id
    return built
