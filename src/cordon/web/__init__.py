"""The web UI of the hub and the node: server-rendered pages (Jinja2), logins, sessions,
CSRF tokens and roles. See docs/ui.md for how to add a page."""
