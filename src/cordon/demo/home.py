"""The demo home directory: the two databases, the server logs and what the demo must
remember between runs (tokens are shown once by the hub and the node, so they are kept here)."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cordon.config import cordon_home, sqlite_url
from cordon.errors import CordonError

STATE_FILE = "demo.json"
LOCK_FILE = "demo.lock"


def default_home() -> Path:
    configured = os.environ.get("CORDON_DEMO_HOME", "").strip()
    return Path(configured).expanduser() if configured else cordon_home() / "demo"


@dataclass
class DemoState:
    """Tokens of the hub members and of the node (an admin and a reviewer), UI passwords,
    the files already banked and where the servers and the corpus are."""

    tokens: dict[str, str] = field(default_factory=dict)
    node_token: str | None = None
    reviewer_token: str | None = None
    webhook_secret: str | None = None
    ui_passwords: dict[str, str] = field(default_factory=dict)
    banked: dict[str, int] = field(default_factory=dict)
    hub_url: str | None = None
    node_url: str | None = None
    corpus: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DemoState:
        return cls(tokens=dict(data.get("tokens") or {}), node_token=data.get("node_token"),
                   reviewer_token=data.get("reviewer_token"),
                   webhook_secret=data.get("webhook_secret"),
                   ui_passwords=dict(data.get("ui_passwords") or {}),
                   banked={str(k): int(v) for k, v in (data.get("banked") or {}).items()},
                   hub_url=data.get("hub_url"), node_url=data.get("node_url"),
                   corpus=data.get("corpus"))

    def to_json(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "node_token": self.node_token,
                "reviewer_token": self.reviewer_token, "webhook_secret": self.webhook_secret,
                "ui_passwords": self.ui_passwords,
                "banked": self.banked, "hub_url": self.hub_url, "node_url": self.node_url,
                "corpus": self.corpus}


class DemoHome:
    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def hub_db(self) -> str:
        return sqlite_url(self.path / "hub.db")

    @property
    def node_db(self) -> str:
        return sqlite_url(self.path / "node.db")

    def reset_node(self) -> None:
        """Forget the node's database and its moderation files: it mirrored a hub that is
        gone, and would follow the new one from a cursor that means nothing there."""
        import shutil

        for path in self.path.glob("node.db*"):
            path.unlink()
        shutil.rmtree(self.path / "node-moderation", ignore_errors=True)

    def log(self, name: str) -> Path:
        return self.path / f"{name}.log"

    def create(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self.path.chmod(0o700)
        except OSError as exc:
            raise CordonError(f"cannot use {self.path} as the demo home: "
                              f"{exc.strerror or exc}") from None

    def load(self) -> DemoState:
        path = self.path / STATE_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return DemoState()
        except (OSError, ValueError) as exc:
            raise CordonError(f"cannot read {path} ({exc}); remove the demo home to start "
                              "afresh") from None
        if not isinstance(data, dict):
            raise CordonError(f"{path} is not a demo state file; remove the demo home to "
                              "start afresh")
        return DemoState.from_json(data)

    def save(self, state: DemoState) -> None:
        # Written whole then renamed, readable by the owner only: it holds tokens.
        path = self.path / STATE_FILE
        partial = path.with_suffix(".json.partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(state.to_json(), out, indent=2)
        os.replace(partial, path)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One running demo per home: two would share the SQLite files and the ports."""
        handle = open(self.path / LOCK_FILE, "a")  # noqa: SIM115
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise CordonError(f"a demo is already running in {self.path} (stop it "
                                  "first, or pass --home for another one)") from None
            yield
        finally:
            handle.close()
