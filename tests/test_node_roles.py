"""Roles on the node's routes over real HTTP: admins manage banks, rules, webhooks and crisis
modes; the platform's `service` systems match and hash; the match log is for the platform and
reviewers; feedback to the hub is a human judgement. Every other role gets 403 with the role it
needs (docs/api.md, "Roles")."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_moderation_support import ModerationNode, photo, serve_moderation

PDQ = "f" * 64
ADMIN_ONLY = [
    ("GET", "/v1/banks", None),
    ("POST", "/v1/banks", {"name": "own"}),
    ("GET", "/v1/banks/own/entries", None),
    ("POST", "/v1/banks/own/entries", {"entries": [{"signals": {"pdq": PDQ}}]}),
    ("DELETE", "/v1/entries/1", None),
    ("POST", "/v1/entries/1/share", {"bank": "shared"}),
    ("GET", "/v1/rules", None),
    ("POST", "/v1/rules", {"name": "r", "action": "block"}),
    ("DELETE", "/v1/rules/1", None),
    ("GET", "/v1/webhooks", None),
    ("POST", "/v1/webhooks", {"url": "https://platform.example/hook"}),
    ("DELETE", "/v1/webhooks/1", None),
    ("GET", "/v1/webhooks/1/deliveries", None),
    ("PUT", "/v1/incidents/1/crisis", {"action": "block"}),
    ("DELETE", "/v1/incidents/1/crisis", None),
]


@pytest.fixture()
def mod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModerationNode]:
    yield from serve_moderation(f"sqlite:///{tmp_path / 'node.db'}", tmp_path / "moderation",
                                monkeypatch)


def _refused(response: object, needs: str) -> None:
    status = getattr(response, "status_code", None)
    text = getattr(response, "text", "")
    assert status == 403, text
    assert f"this needs the role {needs}" in text


@pytest.mark.parametrize("who", ["alice", "platform", "flagger"])
def test_only_admins_manage_banks_rules_webhooks_and_crisis_modes(
        mod: ModerationNode, who: str) -> None:
    with mod.client(who) as client:
        for method, path, body in ADMIN_ONLY:
            response = client.request(method, path, json=body)
            _refused(response, "admin")
    with mod.client("admin") as admin:
        assert admin.post("/v1/banks", json={"name": "own"}).status_code == 201
        assert admin.get("/v1/rules").status_code == 200
        assert admin.get("/v1/webhooks").status_code == 200


@pytest.mark.parametrize("who", ["alice", "flagger"])
def test_reviewers_and_flaggers_cannot_match_or_hash(mod: ModerationNode, who: str) -> None:
    with mod.client(who) as client:
        # A plain signal query, which the short path answers for the platform's tokens.
        _refused(client.post("/v1/match", json={"signals": {"pdq": PDQ}}), "admin or service")
        _refused(client.post("/v1/match", files={"file": ("p.jpg", photo(1), "image/jpeg")}),
                 "admin or service")
        _refused(client.post("/v1/hash", files={"file": ("p.jpg", photo(1), "image/jpeg")}),
                 "admin or service")
    for allowed in ("platform", "admin"):
        with mod.client(allowed) as client:
            assert client.post("/v1/match", json={"signals": {"pdq": PDQ}}).status_code == 200
            hashed = client.post("/v1/hash", files={"file": ("p.jpg", photo(1), "image/jpeg")})
            assert hashed.status_code == 200, hashed.text


def test_the_match_log_is_for_the_platform_and_reviewers(mod: ModerationNode) -> None:
    with mod.client("flagger") as flagger:
        _refused(flagger.get("/v1/matches"), "admin or reviewer or service")
        _refused(flagger.get("/v1/matches/1"), "admin or reviewer or service")
        _refused(flagger.get("/v1/entries/1"), "admin or reviewer or service")
    for who in ("alice", "platform", "admin"):
        with mod.client(who) as client:
            assert client.get("/v1/matches").status_code == 200
    for who in ("platform", "flagger"):
        with mod.client(who) as client:
            _refused(client.post("/v1/matches/1/feedback", json={"verdict": "confirm"}),
                     "admin or reviewer")


def test_every_role_reads_status_and_incidents(mod: ModerationNode) -> None:
    for who in ("admin", "alice", "platform", "flagger"):
        with mod.client(who) as client:
            assert client.get("/v1/status").status_code == 200
            assert client.get("/v1/incidents").status_code == 200
    with mod.client() as nobody:
        assert nobody.get("/v1/banks").status_code == 401
        assert nobody.post("/v1/match", json={"signals": {"pdq": PDQ}}).status_code == 401
