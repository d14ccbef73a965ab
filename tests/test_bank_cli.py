"""`cordon bank` and `cordon db` as people use them: output, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cordon.cli.main import main
from tests.media_factory import write_image

PDQ_A = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MD5_A = "d41d8cd98f00b204e9800998ecf8427e"


def cordon(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.fixture()
def db(database_url: str) -> list[str]:
    return ["--db", database_url]


def test_create_list_show_on_an_empty_bank(
    capsys: pytest.CaptureFixture[str], db: list[str]
) -> None:
    assert cordon(capsys, "bank", "create", "tcap", "--description", "TCAP", *db)[0] == 0
    code, out, _ = cordon(capsys, "bank", "list", *db)
    assert code == 0 and "tcap" in out and "TCAP" in out
    code, out, _ = cordon(capsys, "bank", "show", "tcap", *db)
    assert code == 0 and "0 live, 0 withdrawn" in out
    code, out, _ = cordon(capsys, "bank", "show", "tcap", "--format", "json", *db)
    assert json.loads(out)["entries"] == 0
    code, out, _ = cordon(capsys, "bank", "export", "tcap", "--format", "jsonl", *db)
    assert (code, out) == (0, "")
    code, _, err = cordon(capsys, "bank", "create", "tcap", *db)
    assert code == 2 and "already exists" in err and len(err.splitlines()) == 1


def test_the_db_option_of_the_cordon_group(
    capsys: pytest.CaptureFixture[str], db: list[str]
) -> None:
    assert cordon(capsys, *db, "bank", "create", "viagroup")[0] == 0
    assert "viagroup" in cordon(capsys, "bank", "list", *db)[1]
    code, out, _ = cordon(capsys, *db, "db", "upgrade")
    assert code == 0 and "already at revision" in out


@pytest.mark.parametrize("command", [
    ["show", "nope"], ["add", "nope", "x.jpg"], ["import", "nope", "x.txt"],
    ["export", "nope", "--format", "lines"], ["remove", "nope", "1"],
])
def test_unknown_banks(
    capsys: pytest.CaptureFixture[str], db: list[str], command: list[str]
) -> None:
    code, _, err = cordon(capsys, "bank", *command, *db)
    assert code == 2 and err.strip() == (
        "cordon: error: no bank named 'nope' (create it with `cordon bank create nope`)")


def test_add_files_is_idempotent_and_merges_labels(
    capsys: pytest.CaptureFixture[str], db: list[str], tmp_path: Path
) -> None:
    write_image(tmp_path / "a.jpg", seed=1)
    write_image(tmp_path / "b.png", "PNG", seed=2)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    cordon(capsys, "bank", "create", "b", *db)
    code, out, err = cordon(capsys, "bank", "add", "b", "--label", "x",
                            str(tmp_path / "a.jpg"), str(tmp_path / "b.png"), *db)
    assert code == 0 and "2 new" in out, err
    code, out, err = cordon(capsys, "bank", "add", "b", "--label", "y", "--format", "json",
                            str(tmp_path), *db)
    summary = json.loads(out)
    assert code == 1 and "broken.jpg" in err  # the broken file fails, the others merge
    assert (summary["created"], summary["updated"]) == (0, 2)
    shown = json.loads(cordon(capsys, "bank", "show", "b", "--format", "json", *db)[1])
    assert shown["entries"] == 2 and shown["labels"] == {"x": 2, "y": 2}
    assert shown["signals"]["pdq"] == 2
    exported = cordon(capsys, "bank", "export", "b", "--format", "jsonl", *db)[1]
    sources = sorted(json.loads(line)["source"] for line in exported.splitlines())
    assert [Path(s).name for s in sources] == ["a.jpg", "b.png"]


def test_import_reports_malformed_lines_and_exits_1(
    capsys: pytest.CaptureFixture[str], db: list[str], tmp_path: Path
) -> None:
    cordon(capsys, "bank", "create", "b", *db)
    good = [f"pdq {i:064x}" for i in range(1, 6)]
    bad = ["pdq 123", "md5 " + "z" * 32, "sha1 " + MD5_A] * 10
    source = tmp_path / "list.txt"
    source.write_text("\n".join(good + bad) + "\n")
    code, out, err = cordon(capsys, "bank", "import", "b", str(source), *db)
    assert code == 1
    assert "5 new" in out and "30 skipped" in out and "(lines)" in out
    lines = err.splitlines()
    assert lines[0] == "cordon: line 6: skipped: a pdq hash has 64 hex characters, got 3"
    assert "line 7: skipped: a md5 hash may only hold hex characters" in lines[1]
    assert "unknown signal type 'sha1'" in lines[2]
    assert len(lines) == 21 and "10 more problem(s)" in lines[-1]
    # Importing the same list again adds nothing.
    code, out, _ = cordon(capsys, "bank", "import", "b", str(source), "--output-format", "json",
                           *db)
    assert json.loads(out)["unchanged"] == 5 and json.loads(out)["created"] == 0


def test_export_to_a_file_then_import_elsewhere(
    capsys: pytest.CaptureFixture[str], db: list[str], tmp_path: Path
) -> None:
    cordon(capsys, "bank", "create", "src", *db)
    cordon(capsys, "bank", "create", "dst", *db)
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"signals": {"pdq": PDQ_A, "md5": MD5_A}, "labels": ["a"],
                                  "extra": 1}) + "\n")
    code, _, err = cordon(capsys, "bank", "import", "src", str(source), *db)
    assert code == 0 and "line 1: warning: unknown field 'extra' ignored" in err
    target = tmp_path / "out.csv"
    code, out, err = cordon(capsys, "bank", "export", "src", "--format", "tx-csv",
                            "--output", str(target), *db)
    assert code == 0 and out == "" and "exported 1 item(s)" in err
    assert target.read_text().startswith("signal_type,signal_str,collab,category,tags\n")
    code, out, _ = cordon(capsys, "bank", "import", "dst", str(target), *db)
    assert code == 0 and "(tx-csv)" in out and "2 record(s)" in out


def test_remove_withdraws_and_keeps_a_tombstone(
    capsys: pytest.CaptureFixture[str], db: list[str], tmp_path: Path
) -> None:
    cordon(capsys, "bank", "create", "b", *db)
    source = tmp_path / "one.txt"
    source.write_text(f"pdq {PDQ_A}\n")
    cordon(capsys, "bank", "import", "b", str(source), *db)
    entry_id = json.loads(cordon(capsys, "bank", "export", "b", "--format", "jsonl", *db)[1])["id"]
    code, out, _ = cordon(capsys, "bank", "remove", "b", str(entry_id), *db)
    assert code == 0 and out.startswith("withdrew entry")
    assert "already withdrawn" in cordon(capsys, "bank", "remove", "b", str(entry_id), *db)[1]
    assert "0 live, 1 withdrawn" in cordon(capsys, "bank", "show", "b", *db)[1]
    tombstones = cordon(capsys, "bank", "export", "b", "--format", "tat-json",
                        "--include-withdrawn", *db)[1]
    assert json.loads(tombstones)["results"][0]["deleted"] is True
    code, _, err = cordon(capsys, "bank", "remove", "b", "999", *db)
    assert code == 1 and "no entry 999" in err


def test_a_locked_database_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cordon.db"
    db = ["--db", f"sqlite:///{path}"]
    cordon(capsys, "bank", "create", "b", *db)
    source = tmp_path / "one.txt"
    source.write_text(f"pdq {PDQ_A}\n")
    monkeypatch.setenv("CORDON_DB_BUSY_TIMEOUT", "0.3")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        code, _, err = cordon(capsys, "bank", "import", "b", str(source), *db)
        assert time.monotonic() - started >= 0.3
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert code == 1 and len(err.splitlines()) == 1
    assert "is locked by another writer and stayed locked for 0.3 s" in err


def test_a_read_only_database_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "cordon.db"
    cordon(capsys, "bank", "create", "b", "--db", f"sqlite:///{path}")
    code, _, err = cordon(capsys, "bank", "create", "c", "--db",
                          f"sqlite:///file:{path}?mode=ro&uri=true")
    assert code == 1 and err.strip().endswith("is read-only; cannot write to it")


@pytest.mark.slow
def test_a_killed_import_finishes_when_run_again(tmp_path: Path) -> None:
    path = tmp_path / "cordon.db"
    source = tmp_path / "big.txt"
    count = 20_000
    source.write_text("".join(f"pdq {i:064x}\n" for i in range(1, count + 1)))
    env = {**os.environ, "CORDON_DATABASE_URL": f"sqlite:///{path}"}
    command = [sys.executable, "-m", "cordon", "bank"]
    subprocess.run([*command, "create", "big"], env=env, check=True, capture_output=True)
    proc = subprocess.Popen([*command, "import", "big", str(source), "--batch-size", "1000"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stored() -> int:
        with sqlite3.connect(path) as connection:
            return connection.execute("SELECT count(*) FROM entries").fetchone()[0]

    deadline = time.monotonic() + 60
    while stored() == 0 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = stored()
    assert partial % 1000 == 0  # whole batches only
    rerun = subprocess.run([*command, "import", "big", str(source), "--output-format", "json"],
                           env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["created"] + summary["unchanged"] == count
    assert summary["unchanged"] == partial
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT count(*), count(DISTINCT value) FROM entry_signals"
                                  ).fetchone() == (count, count)
