"""The routers of the hub API, one per resource family."""
