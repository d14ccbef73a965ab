"""`cordon demo`: a hub and a node with demo data, and the story played against them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from cordon.cli.output import FORMAT_OPTION, print_json, progress_bar
from cordon.hub.settings import DEFAULT_PORT as HUB_PORT
from cordon.node.settings import DEFAULT_PORT as NODE_PORT

HOME_OPTION = click.option(
    "--home", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="The demo's folder: databases, logs, tokens (default: $CORDON_DEMO_HOME, else "
         "$CORDON_HOME/demo).")


def _home(home: Path | None) -> Path:
    from cordon.demo.home import default_home

    return (home or default_home()).expanduser().resolve()


@click.group("demo", invoke_without_command=True)
@HOME_OPTION
@click.option("--corpus", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Images and videos to bank (default: ../shared/corpus next to the "
                   "repository, or $CORDON_SHARED/corpus).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address both servers listen on.")
@click.option("--hub-port", type=click.IntRange(1, 65535), default=HUB_PORT, show_default=True)
@click.option("--node-port", type=click.IntRange(1, 65535), default=NODE_PORT,
              show_default=True)
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=None,
              help="Files hashed in parallel (default: the number of CPUs).")
@FORMAT_OPTION
@click.pass_context
def demo_group(ctx: click.Context, home: Path | None, corpus: Path | None, host: str,
               hub_port: int, node_port: int, jobs: int | None, output_format: str) -> None:
    """Start a hub and a node with demo data and keep them running until Ctrl-C.

    On the first run: hub members `consortium` (admin) and `platform-a`, a hub bank of the
    sample corpus's fingerprints, a node following the hub with block / review / alert rules.
    Later runs reuse the demo home. `cordon demo play` then plays the story against it.
    """
    if ctx.invoked_subcommand is not None:
        return
    from cordon.demo.corpus import default_corpus
    from cordon.demo.run import DemoOptions, run_demo

    if hub_port == node_port:
        raise click.BadParameter("the hub and the node need different ports",
                                 param_hint="--node-port")
    options = DemoOptions(home=_home(home),
                          corpus=(corpus or default_corpus()).expanduser().resolve(),
                          host=host, hub_port=hub_port, node_port=node_port,
                          jobs=jobs or os.cpu_count() or 2)
    ready = print_json if output_format == "json" else _print_summary
    run_demo(options, ready, _progress(output_format == "text"))
    click.echo("demo stopped", err=True)


def _progress(enabled: bool) -> Callable[[int], Any]:
    @contextmanager
    def bar(total: int) -> Iterator[Callable[[], None]]:
        click.echo(f"hashing and banking {total} corpus files ...", err=True)
        with progress_bar(total, "banking", enabled) as shown:
            def advance() -> None:
                if shown is not None:
                    progress, task = shown
                    progress.advance(task)
            yield advance
    return bar


def _print_summary(info: dict[str, Any]) -> None:
    echo = click.echo
    echo("")
    echo("Cordon demo is running. Stop it with Ctrl-C.")
    echo("")
    echo(f"  hub    {info['hub_ui']}    (API docs {info['hub_api_docs']})")
    echo(f"  node   {info['node_ui']}    (API docs {info['node_api_docs']})")
    echo("")
    echo("  web UI users (user / password):")
    for user in info["ui_users"]:
        echo(f"    {user['ui']:<28} {user['user']:<9} {user['password']}  {user['role']}")
    echo("")
    echo("  hub member tokens (Authorization: Bearer TOKEN):")
    for item in info["hub_tokens"]:
        echo(f"    {item['member']:<12} {item['role']:<12} {item['token']}")
    echo(f"  node tokens: admin {info['node_token']}")
    echo(f"               reviewer {info['reviewer_token']}")
    echo("")
    echo(f"  hub bank {info['bank']}: {info['entries']} entries; the node mirrors "
         f"{info['mirrored']}")
    echo(f"  node rules: {', '.join(info['rules'])}")
    echo(f"  node webhooks: match and action events, signatures checked, logged in "
         f"{info['webhook_log']}")
    for problem in info.get("not_banked", []):
        echo(f"  not banked: {problem}")
    echo(f"  demo home: {info['home']} (logs hub.log, node.log)")
    echo("")
    from cordon.demo.home import default_home

    where = "" if Path(info["home"]) == default_home().expanduser().resolve() else \
        f" --home {info['home']}"
    echo(f"  play the story in another terminal: cordon demo play{where}")


@demo_group.command("play")
@HOME_OPTION
@FORMAT_OPTION
def play_command(home: Path | None, output_format: str) -> None:
    """Play the story against the running demo: an incident is declared, a variant of a
    banked video is uploaded at the node and blocked, a live stream showing banked footage
    is flagged, a user report is reviewed. Steps the servers cannot do yet are skipped."""
    from cordon.demo.play import play

    ctx = click.get_current_context()
    parent = ctx.parent.params if ctx.parent is not None else {}
    chosen = home or parent.get("home")
    play(_home(chosen), print_json if output_format == "json" else _narrate)


def _narrate(step: dict[str, Any]) -> None:
    echo = click.echo
    name = step["step"]
    if "skipped" in step:
        echo(f"- {name}: skipped ({step['skipped']})")
        return
    if name == "incident":
        echo(f"1. incident {step['incident']} declared by {step['declared_by']}: "
             f"{step['title']}")
        echo(f"   the platform shares the first copy's fingerprints (hub entry "
             f"{step['hub_entry']}, label {step['label']}); matchable at the node "
             f"{step['matchable_at_node_after_s'] * 1000:.0f} ms later")
    elif name == "upload":
        echo(f"2. a variant of {step['source']} is uploaded at the node ({step['edit']})")
        for match in step["matches"]:
            incident = f", incident {match['incident']}" if match["incident"] else ""
            aligned = match["aligned"]
            where = ""
            if isinstance(aligned, dict) and "query_start" in aligned:
                where = (f", upload {aligned['query_start']:.1f}-{aligned['query_end']:.1f} s "
                         f"= banked {aligned['ref_start']:.1f}-{aligned['ref_end']:.1f} s")
            echo(f"   match: {match['bank']} entry {match['entry']} by {match['signal_type']} "
                 f"at distance {match['distance']:g}{incident}{where}")
        for action in step["actions"]:
            echo(f"   action: {action['action'].upper()} (rule \"{action['rule']}\", "
                 f"entry {action['entry']})")
        echo("   the upload is blocked" if step["blocked"] else "   NOT blocked")
    elif name == "live stream":
        alert = step["alert"]
        actions = ", ".join(a["action"] for a in alert.get("actions", [])) or "none"
        echo(f"3. the node watches live stream {step['stream']} ({step['url']}): flagged "
             f"{alert.get('stream_seconds', 0):.1f} s into the stream, "
             f"{step['seconds']:.1f} s after it started")
        echo(f"   match: {alert['bank']} entry {alert['entry']} by {alert['signal_type']} at "
             f"distance {alert['distance']:g}; actions: {actions}")
    elif name == "report":
        decision = step["decision"]
        echo(f"4. a user reports the video: {step['tracking_id']}, case {step['case']} "
             f"({'matched a banked entry' if step['matched'] else 'no match'}), position "
             f"{step['queue_position']} in the review queue")
        statement = decision.get("statement") or {}
        feedback = (decision.get("hub") or {}).get("feedback") or []
        echo(f"   the reviewer {decision.get('reviewer')} decides: {decision.get('action')}; "
             f"statement of reasons {statement.get('statement', '-')} (notice code "
             f"{statement.get('notice_code', '-')}); {len(feedback)} confirmations sent to "
             "the hub")
    elif name == "conclude":
        echo(f"5. incident {step['incident']} {step['status']}; debrief at {step['debrief']}")
