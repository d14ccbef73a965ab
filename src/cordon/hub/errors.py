"""Errors of the hub API: one sentence and the HTTP status that goes with it."""

from __future__ import annotations

from cordon.errors import CordonError


class HubError(CordonError):
    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class Unauthorized(HubError):
    status = 401


class Forbidden(HubError):
    status = 403


class Conflict(HubError):
    status = 409


class Unprocessable(HubError):
    """Invalid values, reported in the shape of FastAPI's validation errors."""

    status = 422

    def __init__(self, message: str, errors: list[dict[str, object]]) -> None:
        super().__init__(message)
        self.errors = errors


def no_bank(name: str) -> Forbidden:
    # The same answer whether the bank does not exist or is not shared with the caller, so
    # that names of banks a member may not see cannot be probed.
    return Forbidden(f"bank {name!r} does not exist or is not shared with you")


def no_entry(entry_id: int) -> Forbidden:
    return Forbidden(f"entry {entry_id} does not exist or is not shared with you")
