"""The application factory uvicorn imports in each worker process of `cordon hub serve
--workers N` (the settings travel in the environment)."""

from __future__ import annotations

import json
import os

from fastapi import FastAPI

from cordon.hub.app import create_app
from cordon.hub.settings import HubSettings


def app_from_environment() -> FastAPI:
    return create_app(HubSettings(**json.loads(os.environ.get("CORDON_HUB_SETTINGS", "{}"))))
