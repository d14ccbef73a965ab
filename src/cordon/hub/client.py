"""A small HTTP client of the hub API, for the CLI and for members' scripts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from cordon.errors import CordonError


class HubClientError(CordonError):
    exit_code = 1


class HubClient:
    def __init__(self, url: str, token: str, timeout: float = 60.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise CordonError(f"{url!r} is not a hub address (e.g. http://127.0.0.1:8700)")
        if not token:
            raise CordonError("no token: pass --token or set CORDON_HUB_TOKEN")
        self._http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout,
                                  headers={"Authorization": f"Bearer {token}"})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise HubClientError(f"cannot reach the hub at {self._http.base_url}: "
                                 f"{exc.__class__.__name__}") from None
        if response.status_code >= 400:
            raise HubClientError(f"the hub answered {response.status_code}: {_detail(response)}")
        return response

    def banks(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/banks").json()["banks"]  # type: ignore[no-any-return]

    def create_bank(self, name: str, description: str | None,
                    shared_with: list[str]) -> dict[str, Any]:
        body = {"name": name, "description": description, "shared_with": shared_with}
        return self.request("POST", "/v1/banks", json=body).json()  # type: ignore[no-any-return]

    def update_bank(self, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        """`changes`: "description" and/or "shared_with", as `PATCH /v1/banks/{bank}`."""
        return self.request("PATCH", f"/v1/banks/{name}",  # type: ignore[no-any-return]
                            json=changes).json()

    def contribute(self, bank: str, entries: list[dict[str, Any]]) -> list[int]:
        response = self.request("POST", f"/v1/banks/{bank}/entries", json={"entries": entries})
        return response.json()["ids"]  # type: ignore[no-any-return]

    def withdraw(self, entry_id: int) -> dict[str, Any]:
        return self.request("DELETE", f"/v1/entries/{entry_id}").json()  # type: ignore[no-any-return]

    def feedback(self, entry_id: int, verdict: str, note: str | None) -> dict[str, Any]:
        return self.request("POST", f"/v1/entries/{entry_id}/feedback",  # type: ignore[no-any-return]
                            json={"verdict": verdict, "note": note}).json()

    def feed(self, cursor: str | None, limit: int | None = None,
             skip_disputed: bool = False) -> dict[str, Any]:
        params: dict[str, Any] = {"skip_disputed": skip_disputed}
        if cursor:
            params["cursor"] = cursor
        if limit:
            params["limit"] = limit
        return self.request("GET", "/v1/feed", params=params).json()  # type: ignore[no-any-return]

    def import_list(self, bank: str, data: bytes, fmt: str) -> dict[str, Any]:
        return self.request("POST", f"/v1/banks/{bank}/import",  # type: ignore[no-any-return]
                            params={"format": fmt}, content=data,
                            headers={"Content-Type": "text/plain"}).json()

    def export(self, bank: str, fmt: str, include_withdrawn: bool) -> Iterator[str]:
        params = {"format": fmt, "include_withdrawn": include_withdrawn}
        try:
            with self._http.stream("GET", f"/v1/banks/{bank}/export", params=params) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise HubClientError(f"the hub answered {resp.status_code}: "
                                         f"{_detail(resp)}")
                yield from resp.iter_text()
        except httpx.HTTPError as exc:
            raise HubClientError(f"cannot reach the hub at {self._http.base_url}: "
                                 f"{exc.__class__.__name__}") from None


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return response.text[:200] or response.reason_phrase
    if isinstance(detail, list) and detail:
        first = detail[0]
        where = ".".join(str(p) for p in first.get("loc", [])[1:])
        return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return str(detail)
