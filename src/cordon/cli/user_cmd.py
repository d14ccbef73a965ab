"""`cordon hub user` and `cordon node user`: the people who log in to the web UI.
Run on the service's database."""

from __future__ import annotations

import sys
from typing import Any

import click

from cordon.cli.bank_cmd import DB_OPTION
from cordon.cli.output import FORMAT_OPTION, print_json
from cordon.errors import CordonError

PASSWORD_STDIN = click.option(
    "--password-stdin", is_flag=True,
    help="Read the password from the first line of standard input instead of a prompt.")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise CordonError("no password on standard input")
        return line.rstrip("\r\n")
    password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


def _users(realm: str, database_url: str | None) -> Any:
    from cordon.cli.hub_cmd import _database_url
    from cordon.store import Store
    from cordon.web.users import Users

    return Users(Store(_database_url(database_url)), realm)


def _show(users: Any, output_format: str, realm: str) -> None:
    from cordon.store import hub_repository as hub_repo

    members: dict[int, str] = {}
    if realm == "hub":
        with users.store.read() as conn:
            members = hub_repo.member_names(conn)
    for user in users.list():
        member = members.get(user.member_id) if user.member_id is not None else None
        if output_format == "json":
            print_json({"name": user.name, "role": user.role, "member": member,
                        "created_at": user.created_at.isoformat(), "disabled": user.disabled})
        else:
            what = f"acts as {member}" if realm == "hub" else user.role
            state = "\tdisabled" if user.disabled else ""
            click.echo(f"{user.name}\t{what}{state}")


def _common(group: click.Group, realm: str) -> None:
    @group.command("list")
    @DB_OPTION
    @FORMAT_OPTION
    def user_list(database_url: str | None, output_format: str) -> None:
        """List the users."""
        _show(_users(realm, database_url), output_format, realm)

    @group.command("password")
    @click.argument("name")
    @PASSWORD_STDIN
    @DB_OPTION
    def user_password(name: str, password_stdin: bool, database_url: str | None) -> None:
        """Set the password of user NAME."""
        users = _users(realm, database_url)
        if users.find(name) is None:
            raise CordonError(f"no user named {name!r}")
        users.set_password(name, _password(password_stdin))
        click.echo(f"password of {name} changed", err=True)

    @group.command("disable")
    @click.argument("name")
    @DB_OPTION
    def user_disable(name: str, database_url: str | None) -> None:
        """Disable user NAME: its sessions end and it cannot log in again."""
        _users(realm, database_url).disable(name)
        click.echo(f"user {name} disabled", err=True)


@click.group("user")
def hub_user_group() -> None:
    """People who log in to the hub's web UI; each acts as a hub member, with its role."""


@hub_user_group.command("add")
@click.argument("name")
@click.option("--member", required=True, help="The hub member the user acts as.")
@PASSWORD_STDIN
@DB_OPTION
@FORMAT_OPTION
def hub_user_add(name: str, member: str, password_stdin: bool, database_url: str | None,
                 output_format: str) -> None:
    """Add user NAME of the hub's web UI, acting as MEMBER."""
    from cordon.store import hub_repository as hub_repo

    users = _users("hub", database_url)
    with users.store.read() as conn:
        found = hub_repo.find_member(conn, member)
    if found is None:
        raise CordonError(f"no member named {member!r} (see `cordon hub member list`)")
    user = users.add(name, _password(password_stdin), member_id=found.id)
    if output_format == "json":
        print_json({"name": user.name, "member": found.name, "role": found.role})
    else:
        click.echo(f"added user {user.name}: acts as {found.name} ({found.role})")


@click.group("user")
def node_user_group() -> None:
    """People who log in to the node's web UI, each with a node role."""


@node_user_group.command("add")
@click.argument("name")
@click.option("--role", required=True, help="A node role: admin, reviewer, ...")
@PASSWORD_STDIN
@DB_OPTION
@FORMAT_OPTION
def node_user_add(name: str, role: str, password_stdin: bool, database_url: str | None,
                  output_format: str) -> None:
    """Add user NAME of the node's web UI with ROLE."""
    from cordon.web.node_ui import node_roles

    roles = node_roles()
    if role not in roles:
        raise CordonError(f"unknown node role {role!r} (known: {', '.join(roles)})")
    user = _users("node", database_url).add(name, _password(password_stdin), role=role)
    if output_format == "json":
        print_json({"name": user.name, "role": user.role})
    else:
        click.echo(f"added user {user.name} ({user.role})")


_common(hub_user_group, "hub")
_common(node_user_group, "node")
