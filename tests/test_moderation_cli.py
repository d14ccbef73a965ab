"""`cordon node token create --role`, `node order add|list`, `node purge`, `node report`,
`node statements` on a real database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cordon.node.moderation import decisions
from cordon.node.moderation.context import Context
from cordon.node.moderation.settings import ENV_DIR, from_env
from cordon.node.moderation.vault import Vault
from cordon.node.service import Node
from cordon.store import Store
from tests.test_bank_cli import cordon


@pytest.fixture()
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv(ENV_DIR, str(tmp_path / "moderation"))
    return ["--db", f"sqlite:///{tmp_path / 'node.db'}"]


def test_orders_purge_and_the_transparency_report(capsys: pytest.CaptureFixture[str],
                                                  db: list[str]) -> None:
    code, out, err = cordon(capsys, "node", "token", "create", "rita", "--role", "reviewer",
                            *db, "--format", "json")
    assert code == 0 and json.loads(out)["role"] == "reviewer"
    code, _, err = cordon(capsys, "node", "token", "create", "x", "--role", "boss", *db)
    assert code == 2 and "boss" in err

    code, _, err = cordon(capsys, "node", "order", "add", "--authority", "A", "--reference",
                          "R1", "--url", "https://p.example/1", "--received-at",
                          "2026-03-29T01:30:00", *db)
    assert code == 2 and err.count("\n") == 1 and "time zone" in err
    code, _, err = cordon(capsys, "node", "order", "add", "--authority", "A", "--reference",
                          "R1", "--url", "https://p.example/1", "--received-at", "yesterday",
                          *db)
    assert code == 2 and err.startswith("cordon: error: --received-at")
    now = datetime.now(UTC).replace(microsecond=0)
    code, out, _ = cordon(capsys, "node", "order", "add", "--authority", "Authority X",
                          "--reference", "TCO-7", "--url", "https://p.example/1",
                          "--received-at", now.isoformat(), *db, "--format", "json")
    assert code == 0, out
    order = json.loads(out)
    assert (datetime.fromisoformat(order["deadline_at"]) - now).total_seconds() == 3600

    with Store(db[1]) as store:
        settings = from_env()
        ctx = Context(Node(store), settings, Vault(settings))
        decisions.decide(ctx, order["case"], "rita", decisions.DecisionIn(
            action="remove", labels=["behaviour:attack-depiction"], ground="law"))

    code, out, _ = cordon(capsys, "node", "order", "add", "--authority", "Evil\x1b[2J",
                          "--reference", "R\x07", "--url", "u", *db)
    assert code == 0
    code, out, _ = cordon(capsys, "node", "order", "list", *db)
    assert code == 0 and "TCO-7" in out and "executed in" in out
    assert "\x1b" not in out and "\x07" not in out and "Evil?[2J" in out
    code, out, _ = cordon(capsys, "node", "purge", *db)
    assert code == 0 and out.strip() == "purged 0 preserved item(s)"
    code, out, _ = cordon(capsys, "node", "report", "--year", str(now.year), *db,
                          "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["orders"]["received"] == 2 and report["orders"]["executed"] == 1
    assert report["orders"]["executed_within_hour"] == 1
    assert report["removals"]["by_detection"] == {"removal order": 1}
    code, out, _ = cordon(capsys, "node", "report", "--year", str(now.year), *db)
    assert code == 0 and "Removal orders: 2 received, 1 executed (1 within one hour)" in out
    code, _, err = cordon(capsys, "node", "report", "--year", "99999", *db)
    assert code == 2
    code, _, err = cordon(capsys, "node", "statements", "--territory", "Germany", *db)
    assert code == 2 and "two-letter" in err
    code, out, _ = cordon(capsys, "node", "statements", "--platform", "p", "--territory", "de",
                          "--territory", "FR", *db)
    [record] = [json.loads(line) for line in out.splitlines()]
    assert record["territorial_scope"] == ["DE", "FR"]
    assert record["source_type"] == "SOURCE_TYPE_OTHER_NOTIFICATION"
    assert record["puid"].startswith("p-")
