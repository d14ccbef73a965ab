"""The application factory uvicorn imports in each worker process of `cordon hub serve
--workers N` (the settings travel in the environment)."""

from __future__ import annotations

import json
import os

from fastapi import FastAPI

from cordon.hub.app import create_app
from cordon.hub.runtime import tune_gc
from cordon.hub.settings import HubSettings


def app_from_environment() -> FastAPI:
    app = create_app(HubSettings(**json.loads(os.environ.get("CORDON_HUB_SETTINGS", "{}"))))
    tune_gc()
    return app
