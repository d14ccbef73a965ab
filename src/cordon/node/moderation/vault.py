"""Content and records encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256, from the
`cryptography` library). Files are named by random ids, never by their content's hash, so
the directory listing says nothing about what it holds."""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from cordon.config import cordon_home
from cordon.errors import CordonError
from cordon.node.moderation.settings import ModerationSettings


class Vault:
    """Made on first use: a node that never takes a report creates no directory and no key."""

    def __init__(self, settings: ModerationSettings) -> None:
        self.root = Path(settings.data_dir or cordon_home() / "moderation")
        self._key_file = Path(settings.key_file or self.root / "moderation.key")
        self._opened: Fernet | None = None
        self._lock = threading.Lock()

    @property
    def _fernet(self) -> Fernet:
        with self._lock:
            if self._opened is None:
                self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
                self._opened = Fernet(self._key(self._key_file))
            return self._opened

    @staticmethod
    def _key(path: Path) -> bytes:
        if not path.exists():
            key = Fernet.generate_key()
            # O_EXCL: two processes starting together do not write two different keys.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "wb") as out:
                    out.write(key)
        key = path.read_bytes().strip()
        try:
            Fernet(key)
        except ValueError:
            raise CordonError(f"{path} is not a Fernet key (32 bytes, urlsafe base64)") from None
        return key

    def encrypt(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise CordonError("encrypted data does not open with this node's key") from None

    def _path(self, name: str) -> Path:
        if not name.isalnum():
            raise CordonError(f"invalid evidence name {name!r}")
        return self.root / f"{name}.enc"

    def put(self, data: bytes) -> str:
        name = secrets.token_hex(16)
        path = self._path(name)
        temporary = path.with_suffix(".tmp")
        encrypted = self.encrypt(data)  # opens the vault (and its directory) first
        temporary.write_bytes(encrypted)
        os.replace(temporary, path)
        return name

    def get(self, name: str) -> bytes:
        path = self._path(name)
        if not path.exists():
            raise FileNotFoundError(name)
        return self.decrypt(path.read_bytes())

    def delete(self, name: str) -> bool:
        """True when the file was there; deleting an absent file is not an error, so that an
        interrupted purge can simply run again."""
        try:
            self._path(name).unlink()
        except FileNotFoundError:
            return False
        return True

    def exists(self, name: str) -> bool:
        return self._path(name).exists()
