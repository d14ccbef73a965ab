"""The error answers every Cordon HTTP service gives (hub and node alike)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from cordon.errors import CordonError
from cordon.store import StoreError

log = logging.getLogger(__name__)


def add_common_error_handlers(app: FastAPI) -> None:
    """Database failures -> 503 (retry), bad input -> 422 with one sentence or the fields."""

    @app.exception_handler(StoreError)
    async def store_error(_request: Request, exc: StoreError) -> JSONResponse:
        log.warning("database failure: %s", exc)
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "1"})

    @app.exception_handler(CordonError)
    async def cordon_error(_request: Request, exc: CordonError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's shape, without echoing the input back (it may be megabytes).
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()[:100]
        ]
        return JSONResponse({"detail": errors}, status_code=422)
