"""Web UI users of the demo, one per kind of person: the consortium operator and the
platform at the hub; the platform engineer and the reviewer at the node. Passwords are made
once, kept in the demo home and printed with the addresses."""

from __future__ import annotations

import secrets
from typing import Any

from cordon.demo import seed
from cordon.demo.home import DemoHome, DemoState

# (realm, user, hub member or node role, who it is)
UI_USERS = (
    ("hub", "operator", seed.ADMIN, "consortium operator (hub admin)"),
    ("hub", "platform", seed.MEMBER, "platform-a at the hub (contributor)"),
    ("node", "engineer", "admin", "platform engineer (node admin)"),
    ("node", "reviewer", "reviewer", "reviewer (node review queue)"),
)


def ensure_ui_users(home: DemoHome, state: DemoState) -> None:
    from cordon.store import Store
    from cordon.store.hub_repository import find_member
    from cordon.web.users import Users

    for realm, name, member_or_role, _ in UI_USERS:
        store = Store(home.hub_db if realm == "hub" else home.node_db)
        try:
            users = Users(store, realm)
            key = f"{realm}:{name}"
            password = state.ui_passwords.get(key)
            if users.find(name) is None:
                password = secrets.token_urlsafe(12)
                if realm == "hub":
                    with store.read() as conn:
                        member = find_member(conn, member_or_role)
                    assert member is not None  # bootstrap_tokens made it
                    users.add(name, password, member_id=member.id)
                else:
                    users.add(name, password, role=member_or_role)
            elif not password or users.authenticate(name, password) is None:
                password = secrets.token_urlsafe(12)
                users.set_password(name, password)
            state.ui_passwords[key] = password
        finally:
            store.close()
    home.save(state)


def ui_users(state: DemoState) -> list[dict[str, Any]]:
    return [{"ui": f"{state.hub_url if realm == 'hub' else state.node_url}/ui",
             "user": name, "password": state.ui_passwords.get(f"{realm}:{name}"),
             "role": who} for realm, name, _, who in UI_USERS]
