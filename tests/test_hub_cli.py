"""`cordon hub` as people use it: members and tokens on the database, and the commands that
talk to a running hub."""

from __future__ import annotations

import json

import pytest

from tests.test_bank_cli import cordon
from tests.test_hub_support import MD5_A, PDQ_A, serve


def test_members_tokens_and_client_commands(
    capsys: pytest.CaptureFixture[str], database_url: str, tmp_path: object
) -> None:
    db = ["--db", database_url]
    code, out, _ = cordon(capsys, "hub", "member", "add", "alice", "--role", "contributor",
                          "--format", "json", *db)
    assert code == 0
    added = json.loads(out)
    assert code == 0 and (added["name"], added["role"]) == ("alice", "contributor")
    assert added["token"].startswith("cdh_")
    code, _, err = cordon(capsys, "hub", "member", "add", "alice", *db)
    assert code == 2 and err.startswith("cordon: error: ") and err.count("\n") == 1
    assert cordon(capsys, "hub", "member", "add", "bad name", *db)[0] == 2
    _, out, _ = cordon(capsys, "hub", "token", "issue", "alice", "--format", "json", *db)
    second = json.loads(out)
    _, out, _ = cordon(capsys, "hub", "member", "list", "--format", "json", *db)
    listed = json.loads(out)
    assert added["token"] not in out
    assert [t["id"] for t in listed["tokens"]] == [added["token_id"], second["token_id"]]
    assert cordon(capsys, "hub", "token", "revoke", str(second["token_id"]), *db)[0] == 0
    assert cordon(capsys, "hub", "token", "revoke", str(second["token_id"]), *db)[0] == 2

    for running in serve(database_url):
        hub = ["--hub", running.url, "--token", added["token"]]
        assert cordon(capsys, "hub", "create-bank", "tcap", "--share", "*", *hub)[0] == 0
        code, out, _ = cordon(capsys, "hub", "contribute", "tcap", "--signal", f"pdq={PDQ_A}",
                              "--label", "behaviour:glorification", "--format", "json", *hub)
        assert code == 0 and len(json.loads(out)["ids"]) == 1
        code, _, err = cordon(capsys, "hub", "contribute", "tcap", "--signal", "pdq=12", *hub)
        assert code == 1 and "entries.0.signals.pdq" in err
        hashes = tmp_path / "list.txt"  # type: ignore[operator]
        hashes.write_text(f"md5 {MD5_A}\n")
        code, out, _ = cordon(capsys, "hub", "import", "tcap", str(hashes), *hub)
        assert code == 0 and "1 new" in out
        code, out, _ = cordon(capsys, "hub", "export", "tcap", "--format", "lines", *hub)
        assert code == 0
        assert sorted(out.split()) == sorted(["pdq", PDQ_A, "md5", MD5_A])
        code, out, err = cordon(capsys, "hub", "feed", *hub)
        assert code == 0 and len(out.splitlines()) == 2 and err.startswith("cursor ")
        entry_id = json.loads(out.splitlines()[0])["id"]
        code, out, _ = cordon(capsys, "hub", "feed", "--cursor", err.split()[1], *hub)
        assert (code, out) == (0, "")
        assert cordon(capsys, "hub", "feedback", str(entry_id), "confirm", *hub)[0] == 0
        assert cordon(capsys, "hub", "withdraw", str(entry_id), *hub)[0] == 0
        code, _, err = cordon(capsys, "hub", "banks", "--hub", running.url, "--token", "nope")
        assert code == 1 and "401" in err
