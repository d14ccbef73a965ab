"""Helpers of the moderation tests: a real node over HTTP with tokens of every role and its
moderation data in a temporary directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cordon.node.moderation.access import create_token
from cordon.node.moderation.context import Context
from cordon.node.moderation.settings import ENV_DIR
from cordon.node.settings import NodeSettings
from tests.media_factory import image_bytes
from tests.test_node_support import RunningNode, start_node

LIMIT_SETTINGS = ("CORDON_MODERATION_REPORT_PER_MINUTE", "CORDON_MODERATION_REPORT_BURST",
                  "CORDON_MODERATION_APPEAL_PER_MINUTE", "CORDON_MODERATION_APPEAL_BURST")
ROLE_NAMES = {"admin": "admin", "alice": "reviewer", "bob": "reviewer", "platform": "service",
              "flagger": "flagger"}


@dataclass
class ModerationNode:
    running: RunningNode
    tokens: dict[str, str]

    @property
    def ctx(self) -> Context:
        return self.running.app.state.moderation.ctx  # type: ignore[no-any-return]

    def client(self, who: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        headers.update(kwargs.pop("headers", {}))
        return httpx.Client(base_url=self.running.url, headers=headers,
                            **{"timeout": 30, **kwargs})


def serve_moderation(database_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                     settings: NodeSettings | None = None) -> Iterator[ModerationNode]:
    monkeypatch.setenv(ENV_DIR, str(data_dir))
    # Tests file many reports and appeals from one address: room for them, unless the test
    # set its own limits.
    for name in LIMIT_SETTINGS:
        if name not in os.environ:
            monkeypatch.setenv(name, "100000")
    running = start_node(database_url, settings or NodeSettings(max_upload_bytes=1 << 20))
    tokens = {name: create_token(running.node, name, role)[1]
              for name, role in ROLE_NAMES.items()}
    try:
        yield ModerationNode(running, tokens)
    finally:
        running.stop()
        running.store.close()


def photo(seed: int) -> bytes:
    return image_bytes(seed=seed)


def report_form(node: ModerationNode, content: bytes, who: str | None = None,
                **fields: str) -> httpx.Response:
    data = {"reason": "behaviour:glorification", "explanation": "glorifies an attack",
            "good_faith": "on", **fields}
    with node.client(who) as client:
        return client.post("/v1/reports", data=data,
                           files={"file": ("upload.jpg", content, "image/jpeg")})


def pdq_of(node: ModerationNode, content: bytes) -> str:
    with node.client("admin") as client:
        response = client.post("/v1/hash", files={"file": ("x.jpg", content, "image/jpeg")})
        assert response.status_code == 200, response.text
        value = response.json()["signals"]["pdq"]
        return value if isinstance(value, str) else str(value["hash"])
