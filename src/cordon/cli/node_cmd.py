"""`cordon node`: run a member platform's node, catch up with the hub, manage node tokens."""

from __future__ import annotations

import click

from cordon.cli.bank_cmd import DB_OPTION
from cordon.cli.hub_cmd import _database_url, hub_options
from cordon.cli.output import FORMAT_OPTION, print_json
from cordon.errors import CordonError
from cordon.node.roles import ADMIN, ROLES
from cordon.node.settings import DEFAULT_PORT, NodeSettings

FOLLOW_OPTION = click.option(
    "--follow", "follow", multiple=True, metavar="BANK",
    help="A hub bank to mirror (repeat; default: every bank the token may see).")


def _node(database_url: str | None, **settings: object) -> object:
    from cordon.node.service import Node
    from cordon.store import Store

    url = _database_url(database_url)
    return Node(Store(url), NodeSettings(database_url=url, **settings))  # type: ignore[arg-type]


@click.group("node")
def node_group() -> None:
    """A platform's node: mirror of the hub, private banks, matching API, rules, webhooks."""


@node_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True)
@DB_OPTION
@hub_options
@FOLLOW_OPTION
@click.option("--no-hub", is_flag=True, help="Follow no hub: private banks only.")
@click.option("--poll-interval", type=click.FloatRange(0.1), default=NodeSettings.poll_seconds,
              show_default=True, help="Seconds between feed reads while the stream is down.")
@click.option("--max-upload", type=click.IntRange(1024), default=NodeSettings.max_upload_bytes,
              show_default=True, help="Largest upload, in bytes (larger ones get 413).")
@click.option("--allow-fetch-network", "allow_networks", multiple=True, metavar="CIDR",
              help="A private network that URL fetches may reach (repeat; default: none).")
@click.option("--max-streams", type=click.IntRange(0, 10_000), default=NodeSettings.stream_max,
              show_default=True, help="Live streams watched at once (POST /v1/streams); "
              "more are refused with 503.")
@click.option("--allow-stream-network", "stream_networks", multiple=True, metavar="CIDR",
              help="A private network whose live streams may be watched (repeat; default: "
              "none).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Server processes on the port, each with its own index; one follows the "
                   "hub and delivers webhooks, the others read its changes from the store.")
@click.option("--tail-interval", type=click.FloatRange(0.01, 10), default=0.1,
              show_default=True,
              help="With --workers: seconds between two reads of the other processes' "
                   "changes.")
@click.option("--access-log/--no-access-log", default=False, show_default=True,
              help="Log a line per request (costly at thousands of requests a second).")
def serve_command(host: str, port: int, database_url: str | None, hub_url: str, token: str,
                  follow: tuple[str, ...], no_hub: bool, poll_interval: float,
                  max_upload: int, allow_networks: tuple[str, ...], max_streams: int,
                  stream_networks: tuple[str, ...], workers: int, tail_interval: float,
                  access_log: bool) -> None:
    """Run the node service (API docs at /docs, OpenAPI at /openapi.json)."""
    import ipaddress

    import uvicorn

    from cordon.hub.runtime import KEEP_ALIVE_SECONDS
    from cordon.node.app import create_app
    from cordon.node.workers import tune_node_runtime
    from cordon.store import Store

    for hint, networks in (("--allow-fetch-network", allow_networks),
                           ("--allow-stream-network", stream_networks)):
        for network in networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise click.BadParameter(f"{network!r} is not a network (e.g. 10.0.0.0/8)",
                                         param_hint=hint) from None
    if not no_hub and not token:
        raise CordonError("no hub token: pass --token (or $CORDON_HUB_TOKEN), or --no-hub")
    url = _database_url(database_url)
    store = Store(url)  # migrate (and fail) before listening
    settings = NodeSettings(database_url=url, hub_url=None if no_hub else hub_url,
                            hub_token=None if no_hub else token, follow=follow or None,
                            poll_seconds=poll_interval, max_upload_bytes=max_upload,
                            fetch_allow_networks=allow_networks, stream_max=max_streams,
                            stream_allow_networks=stream_networks)
    where = "no hub" if no_hub else f"hub {hub_url}"
    click.echo(f"cordon node on http://{host}:{port} with {store.display_url}, following "
               f"{where}", err=True)
    if workers > 1:
        store.close()
        _serve_workers(settings, host, port, workers, tail_interval, access_log)
        return
    app = create_app(settings, store)
    tune_node_runtime()
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=access_log,
                timeout_keep_alive=KEEP_ALIVE_SECONDS)


def _serve_workers(settings: NodeSettings, host: str, port: int, workers: int,
                   tail_interval: float, access_log: bool) -> None:
    import contextlib
    import dataclasses
    import os
    import tempfile

    from cordon.hub.runtime import KEEP_ALIVE_SECONDS
    from cordon.node.workers import settings_to_environment, write_lock_path
    from cordon.server_processes import serve_processes

    handle, lock_path = tempfile.mkstemp(prefix="cordon-node-leader-")
    os.close(handle)
    try:
        settings_to_environment(dataclasses.replace(settings, leader_lock=lock_path,
                                                    tail_seconds=tail_interval))
        serve_processes("cordon.node.workers:app_from_environment", host, port, workers,
                        log_level="info", access_log=access_log,
                        timeout_keep_alive=KEEP_ALIVE_SECONDS)
    finally:
        os.unlink(lock_path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(write_lock_path(lock_path))


@node_group.command("sync")
@DB_OPTION
@hub_options
@FOLLOW_OPTION
@FORMAT_OPTION
def sync_command(database_url: str | None, hub_url: str, token: str, follow: tuple[str, ...],
                 output_format: str) -> None:
    """Catch up with the hub once: read the feed from the stored cursor to its end."""
    from cordon.node.follower import HubFollower
    from cordon.node.service import Node

    node = _node(database_url, hub_url=hub_url, hub_token=token, follow=follow or None)
    assert isinstance(node, Node)
    applied = HubFollower(hub_url, token, node).catch_up()
    stats = node.stats()
    if output_format == "json":
        print_json({"applied": applied, "cursor": stats["cursor"],
                    "mirrored": stats["mirrored_entries"]})
    else:
        click.echo(f"applied {applied} changes; {stats['mirrored_entries']} hub entries "
                   f"mirrored; cursor {stats['cursor']}")


@node_group.group("token")
def token_group() -> None:
    """Tokens of the node API. Run on the node's database."""


@token_group.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default=ADMIN, show_default=True,
              help="admin: everything; reviewer: review queue and decisions; service: the "
                   "platform's systems; flagger: a trusted flagger's reports.")
@DB_OPTION
@FORMAT_OPTION
def token_create(name: str, role: str, database_url: str | None, output_format: str) -> None:
    """Create a token named NAME and print it (shown once, stored hashed)."""
    from cordon.node.moderation.access import create_token
    from cordon.node.service import Node

    node = _node(database_url)
    assert isinstance(node, Node)
    token_id, token = create_token(node, name, role)
    if output_format == "json":
        print_json({"id": token_id, "name": name, "role": role, "token": token})
    else:
        click.echo(token)
        click.echo(f"token {token_id} for {name}: keep it now, it is not shown again", err=True)


@token_group.command("revoke")
@click.argument("token_id", type=int)
@DB_OPTION
def token_revoke(token_id: int, database_url: str | None) -> None:
    """Revoke token TOKEN_ID: it stops working at once."""
    from cordon.node.service import Node

    node = _node(database_url)
    assert isinstance(node, Node)
    node.revoke_token(token_id)
    click.echo(f"token {token_id} revoked", err=True)
