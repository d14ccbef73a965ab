"""Demo data: hub members and a node token (on the databases, as `cordon hub member add` and
`cordon node token create` do), then a hub bank of the sample corpus and the node's rules
through the real HTTP APIs. Every step looks first at what exists, so a restart reuses it."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx

from cordon.demo.home import DemoHome, DemoState
from cordon.errors import CordonError
from cordon.hashing import HashResult
from cordon.hub.client import HubClient

ADMIN = "consortium"
MEMBER = "platform-a"
MEMBERS = {ADMIN: "admin", MEMBER: "contributor"}
NODE_TOKEN_NAME = "demo"
REVIEWER_TOKEN_NAME = "demo-reviewer"
BANK = "tvec-demo"
BANK_DESCRIPTION = "Demo bank: fingerprints of the sample corpus (not real extremist content)"
# What each content type of the corpus is labelled as, and who contributes it: the
# consortium curates the images, the platform contributes the videos it removed.
LABELS = {
    "image": ["behaviour:glorification", "content:image", "entity:demo-group", "tag:demo"],
    "video": ["behaviour:attack-depiction", "content:video", "entity:demo-group", "tag:demo"],
}
CONTRIBUTOR = {"image": ADMIN, "video": MEMBER}
RULES: list[dict[str, Any]] = [
    {"name": "block attack footage", "action": "block",
     "labels": ["behaviour:attack-depiction"]},
    {"name": "review glorification", "action": "review", "labels": ["behaviour:glorification"]},
    {"name": "alert on incident entries", "action": "alert", "incident": True},
]
# Entries per contribution request; videos carry a TMK+PDQF hash of ~350 kB each.
_BATCH = {"image": 50, "video": 2}


def bootstrap_tokens(home: DemoHome, state: DemoState) -> None:
    """Hub members with a token each, and a node token: created once, reused after."""
    from cordon.hub.service import Hub
    from cordon.node import roles
    from cordon.node.moderation.access import authenticate, create_token
    from cordon.node.service import Node
    from cordon.store import Store

    hub = Hub(Store(home.hub_db))
    try:
        existing = {m["name"] for m in hub.members()}
        for name, role in MEMBERS.items():
            token = state.tokens.get(name)
            if token and hub.authenticate(token) is not None:
                continue
            if name in existing:
                state.tokens[name] = hub.issue_token(name)[1]
            else:
                state.tokens[name] = hub.add_member(name, role)[2]
    finally:
        hub.store.close()
    if not state.webhook_secret:
        state.webhook_secret = secrets.token_urlsafe(24)
    node = Node(Store(home.node_db))
    try:
        if not state.node_token or authenticate(node, state.node_token) is None:
            state.node_token = create_token(node, NODE_TOKEN_NAME, roles.ADMIN)[1]
        if not state.reviewer_token or authenticate(node, state.reviewer_token) is None:
            state.reviewer_token = create_token(node, REVIEWER_TOKEN_NAME, roles.REVIEWER)[1]
    finally:
        node.store.close()
    home.save(state)


def ensure_bank(hub_url: str, home: DemoHome, state: DemoState) -> bool:
    """Create the demo bank unless it exists; whether the hub is a new one."""
    with HubClient(hub_url, state.tokens[ADMIN]) as client:
        if any(b["name"] == BANK for b in client.banks()):
            return False
        client.create_bank(BANK, BANK_DESCRIPTION, ["*"])
    # A new hub database (hub.db removed): nothing is banked there any more.
    state.banked.clear()
    home.save(state)
    return True


def contribute(hub_url: str, home: DemoHome, state: DemoState,
               results: Iterable[HashResult], advance: Callable[[], None]) -> list[str]:
    """Contribute each hashed file not banked yet; the files that could not be hashed."""
    pending: dict[str, list[HashResult]] = {"image": [], "video": []}
    failed: list[str] = []
    clients = {name: HubClient(hub_url, token) for name, token in state.tokens.items()}
    try:
        def flush(kind: str) -> None:
            batch = pending[kind]
            if not batch:
                return
            entries = [{"signals": r.to_json()["signals"], "labels": LABELS[kind],
                        "content_type": kind, "note": f"demo corpus: {r.path}"} for r in batch]
            ids = clients[CONTRIBUTOR[kind]].contribute(BANK, entries)
            state.banked.update({r.path: entry_id for r, entry_id in zip(batch, ids,
                                                                          strict=True)})
            home.save(state)
            batch.clear()

        for result in results:
            advance()
            if result.error is not None:
                failed.append(f"{result.path}: {result.error}")
                continue
            kind = result.content_type.value if result.content_type else ""
            if kind not in pending:
                continue  # notes and lists next to the media: nothing to bank
            pending[kind].append(result)
            if len(pending[kind]) >= _BATCH[kind]:
                flush(kind)
        for kind in pending:
            flush(kind)
    finally:
        for client in clients.values():
            client.close()
    return failed


def to_bank(root: Path, files: list[Path], state: DemoState) -> list[Path]:
    """The corpus files that are not in the hub bank yet."""
    return [p for p in files if p.relative_to(root).as_posix() not in state.banked]


def node_client(node_url: str, state: DemoState) -> httpx.Client:
    return httpx.Client(base_url=node_url, timeout=60,
                        headers={"Authorization": f"Bearer {state.node_token}"})


def answer(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = response.text[:200]
        raise CordonError(f"{response.request.method} {response.request.url.path} answered "
                          f"{response.status_code}: {detail}")
    return response.json() if response.content else None


def ensure_rules(node_url: str, state: DemoState) -> None:
    with node_client(node_url, state) as node:
        have = {r["name"] for r in answer(node.get("/v1/rules"))["rules"]}
        for rule in RULES:
            if rule["name"] not in have:
                answer(node.post("/v1/rules", json=rule))


def ensure_webhook(node_url: str, state: DemoState, url: str) -> None:
    """The node delivers `match` and `action` events to the demo's receiver, which listens
    on a new port each run: webhooks of earlier runs are deleted."""
    from cordon.demo.receiver import PATH

    with node_client(node_url, state) as node:
        hooks = answer(node.get("/v1/webhooks"))["webhooks"]
        for hook in hooks:
            if hook["url"].endswith(PATH) and hook["url"] != url:
                answer(node.delete(f"/v1/webhooks/{hook['id']}"))
        if not any(hook["url"] == url for hook in hooks):
            answer(node.post("/v1/webhooks", json={"url": url, "secret": state.webhook_secret,
                                                   "events": ["match", "action"]}))


def wait_mirrored(node_url: str, state: DemoState, timeout: float = 120.0) -> int:
    """Wait until the node mirrors every entry of the demo bank; how many it mirrors."""
    expected = len(state.banked)
    deadline = time.monotonic() + timeout
    mirrored = 0
    with node_client(node_url, state) as node:
        while time.monotonic() < deadline:
            mirrored = answer(node.get("/v1/status"))["mirrored_entries"]
            if mirrored >= expected:
                return int(mirrored)
            time.sleep(0.5)
    raise CordonError(f"the node mirrors {mirrored} of {expected} demo entries after "
                      f"{timeout:.0f} s; see the node log")
