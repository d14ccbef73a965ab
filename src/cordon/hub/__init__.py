"""The hub: the shared database members contribute signals to and follow.

Members authenticate with bearer tokens, contribute entries (signals and labels, never
content) into banks shared with all members or some of them, withdraw them, give feedback,
and follow every change through a cursor feed or a push stream. `create_app` builds the
FastAPI application; `cordon hub serve` runs it.
"""

from cordon.hub.settings import HubSettings

__all__ = ["HubSettings"]
