"""`cordon hub incident` against a real hub over HTTP: declare, update, conclude, report,
and one-line errors for refusals and bad options."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from click.testing import CliRunner

from cordon.cli.main import cli
from tests.test_hub_support import RunningHub, make_bank

pytest_plugins = ["tests.test_hub_support"]


def run(hub: RunningHub, member: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["hub", "incident", *args, "--hub", hub.url,
                                      "--token", hub.tokens[member]])
    return result.exit_code, result.stdout, result.stderr


def test_declare_update_conclude_report(hub: RunningHub, tmp_path: Path) -> None:
    make_bank(hub, "admin", "crisis", ["*"])
    code, out, err = run(hub, "admin", "declare", "--level", "pci", "--title", "Drill",
                         "--bank", "crisis", "--attack-at", "2026-11-21T03:00:00Z",
                         "--criterion", "perpetrator-produced", "--format", "json")
    assert code == 0, err
    incident = json.loads(out)
    number = str(incident["id"])
    assert incident["status"] == "open" and incident["criteria"] == ["perpetrator-produced"]
    with hub.client("alice") as client:
        assert client.post("/v1/banks/crisis/entries", json={"entries": [
            {"signals": {"pdq": secrets.token_hex(32)}, "incident": number}]}
        ).status_code == 200
    code, out, _ = run(hub, "admin", "update", number, "--situation", "Spreading")
    assert code == 0 and out.strip() == f"updated incident {number} (open)"
    code, out, _ = run(hub, "bob", "ack", number)
    assert code == 0 and out.startswith(f"acknowledged incident {number}")
    code, out, _ = run(hub, "carol", "list")
    assert code == 0 and out.startswith(f"{number}\topen\tpci\t")
    code, out, _ = run(hub, "admin", "conclude", number)
    assert code == 0 and "concluded" in out
    code, out, _ = run(hub, "carol", "show", number)
    assert code == 0 and "conclude" in out and "hashes" in out and "Spreading" in out
    page = tmp_path / "debrief.html"
    code, out, err = run(hub, "carol", "report", number, "--html", str(page))
    assert code == 0, err
    assert "items: 1" in out and "members acknowledging: 1" in out
    assert "Drill" in page.read_text()
    code, out, _ = run(hub, "carol", "report", number, "--format", "json")
    assert json.loads(out)["hashes"] == 1


def test_refusals_and_bad_options_give_one_line(hub: RunningHub) -> None:
    make_bank(hub, "admin", "crisis", ["*"])
    code, _, err = run(hub, "carol", "declare", "--level", "pci", "--title", "x",
                       "--bank", "crisis")
    assert code != 0 and "403" in err and "reader" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(hub, "admin", "declare", "--level", "pci", "--title", "x",
                       "--bank", "crisis", "--attack-at", "yesterday")
    assert code != 0 and "ISO 8601" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(hub, "admin", "declare", "--level", "pci", "--title", "x",
                       "--bank", "crisis", "--attack-at", "2026-11-21T03:00:00")
    assert code != 0 and "time zone" in err
    code, _, err = run(hub, "admin", "conclude", "41")
    assert code != 0 and "404" in err
    code, out, _ = run(hub, "admin", "declare", "--level", "incident", "--title", "x",
                       "--bank", "crisis", "--format", "json")
    number = str(json.loads(out)["id"])
    code, _, err = run(hub, "alice", "conclude", number)
    assert code != 0 and "403" in err and "only admins" in err
    code, _, err = run(hub, "admin", "update", number)
    assert code != 0 and "nothing to update" in err
    assert run(hub, "admin", "conclude", number)[0] == 0
    code, _, err = run(hub, "admin", "conclude", number)
    assert code != 0 and "409" in err and "not open" in err
