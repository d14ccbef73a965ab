"""The node's web UI over real HTTP: logins by node user (with a node role) and by node
token, the home page, CSRF on logout, sessions ended by revoking the token."""

from __future__ import annotations

from cordon.node.moderation.access import create_token
from tests.web_support import NodeUi, csrf_of, login, node_ui

__all__ = ["node_ui"]


def test_node_users_log_in_with_their_role(node_ui: NodeUi) -> None:
    with node_ui.client("reviewer") as client:
        page = client.get("/ui/")
        assert page.status_code == 200
        assert "reviewer" in page.text and "Cordon node" in page.text
        token = csrf_of(page.text)
        assert client.post("/ui/logout", data={"csrf_token": "forged"}).status_code == 403
        assert client.post("/ui/logout", data={"csrf_token": token}).status_code == 303
        assert client.get("/ui/").status_code == 303


def test_node_token_login_and_revocation(node_ui: NodeUi) -> None:
    token_id, token = node_ui.node.node.create_token("ops")
    with node_ui.client() as client:
        assert login(client, token=token).status_code == 303
        page = client.get("/ui/")
        assert page.status_code == 200 and "ops" in page.text and "API token" in page.text
        node_ui.node.node.revoke_token(token_id)
        assert client.get("/ui/").status_code == 303
        # A hub user of the same database is not a node user.
        assert login(client, "nobody").status_code == 401


def test_hub_sessions_do_not_open_node_pages(node_ui: NodeUi) -> None:
    # Users and sessions are per realm: a node user name does not log in to the hub's
    # realm and a node session id is unknown to a hub on the same database.
    from cordon.web.users import Users

    node_ui.user("admin")
    assert Users(node_ui.node.store, "hub").find("admin") is None
    assert Users(node_ui.node.store, "node").authenticate("admin", "wrong") is None


def test_token_logins_carry_the_tokens_role(node_ui: NodeUi) -> None:
    _, token = create_token(node_ui.node.node, "desk", "reviewer")
    with node_ui.client() as client:
        assert login(client, token=token).status_code == 303
        page = client.get("/ui/")
        assert page.status_code == 200 and "(reviewer, API token)" in page.text
