"""`cordon demo`: start the hub and the node, seed them, say where they are, keep them running
until Ctrl-C (or SIGTERM), then stop both."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cordon.demo import seed
from cordon.demo.corpus import corpus_files, hash_corpus
from cordon.demo.home import DemoHome, DemoState
from cordon.demo.receiver import WebhookReceiver
from cordon.demo.servers import Server, check_port_free, start_hub, start_node
from cordon.demo.users import ensure_ui_users, ui_users
from cordon.errors import CordonError


@dataclass(frozen=True)
class DemoOptions:
    home: Path
    corpus: Path
    host: str = "127.0.0.1"
    hub_port: int = 8700
    node_port: int = 8800
    jobs: int = 2


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """`kill PID` and Ctrl-C stop the demo: servers stopped, nothing left behind."""
    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, interrupt)
    # Ctrl-C stops the demo even when it was started with SIGINT ignored (as a shell's
    # background job is).
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def summary(options: DemoOptions, state: DemoState, mirrored: int) -> dict[str, Any]:
    """What the demo prints once it is ready: addresses, credentials, where things are."""
    return {
        "hub": state.hub_url, "node": state.node_url,
        "hub_ui": f"{state.hub_url}/ui", "node_ui": f"{state.node_url}/ui",
        "ui_users": ui_users(state),
        "hub_api_docs": f"{state.hub_url}/docs", "node_api_docs": f"{state.node_url}/docs",
        "hub_tokens": [{"member": name, "role": seed.MEMBERS[name], "token": token}
                       for name, token in state.tokens.items()],
        "node_token": state.node_token, "reviewer_token": state.reviewer_token,
        "bank": seed.BANK, "entries": len(state.banked), "mirrored": mirrored,
        "rules": [r["name"] for r in seed.RULES],
        "webhook_log": str(options.home / "webhooks.log"),
        "home": str(options.home), "logs": [str(options.home / "hub.log"),
                                            str(options.home / "node.log")],
    }


def run_demo(options: DemoOptions, ready: Callable[[dict[str, Any]], None],
             progress: Callable[[int], Any]) -> None:
    """Run until interrupted. `ready` gets the summary; `progress(total)` is a context
    manager yielding the function that advances the banking bar."""
    home = DemoHome(options.home)
    home.create()
    with home.exclusive(), _sigterm_as_interrupt():
        state = home.load()
        state.corpus = str(options.corpus)
        check_port_free(options.host, options.hub_port, "hub")
        check_port_free(options.host, options.node_port, "node")
        files = corpus_files(options.corpus)
        seed.bootstrap_tokens(home, state)
        ensure_ui_users(home, state)
        servers: list[Server] = []
        stack = ExitStack()
        try:
            hub = start_hub(options.host, options.hub_port, home.hub_db, home.log("hub"))
            servers.append(hub)
            hub.wait_ready()
            state.hub_url = hub.url
            if seed.ensure_bank(hub.url, home, state) and (home.path / "node.db").exists():
                home.reset_node()
                seed.bootstrap_tokens(home, state)
                ensure_ui_users(home, state)
            todo = seed.to_bank(options.corpus, files, state)
            failed: list[str] = []
            if todo:
                with progress(len(todo)) as advance:
                    failed = seed.contribute(hub.url, home, state,
                                             hash_corpus(options.corpus, todo, options.jobs),
                                             advance)
            if not state.banked:
                raise CordonError(f"no file of {options.corpus} could be banked: "
                                  + "; ".join(failed[:3]))
            assert state.webhook_secret is not None
            receiver = WebhookReceiver(state.webhook_secret, home.log("webhooks"))
            stack.callback(receiver.close)
            node = start_node(options.host, options.node_port, home.node_db, hub.url,
                              state.tokens[seed.MEMBER], home.log("node"))
            servers.append(node)
            node.wait_ready()
            state.node_url = node.url
            seed.ensure_rules(node.url, state)
            seed.ensure_webhook(node.url, state, receiver.url)
            mirrored = seed.wait_mirrored(node.url, state)
            home.save(state)
            ready({**summary(options, state, mirrored), "not_banked": failed})
            while all(s.running() for s in servers):
                time.sleep(0.5)
            stopped = next(s for s in servers if not s.running())
            raise CordonError(f"the {stopped.name} stopped (exit status "
                              f"{stopped.process.returncode}); see {stopped.log}")
        except KeyboardInterrupt:
            pass
        finally:
            for server in reversed(servers):
                server.stop()
            stack.close()
