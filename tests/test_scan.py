"""`cordon scan`: retro scans of a folder against the local banks, resumed after a kill,
and the same scan on Ray."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cordon.cli.main import cli
from tests.media_factory import photo_like, write_image

REPO = Path(__file__).resolve().parents[1]


def cordon(database_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--db", database_url, *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def make_corpus(root: Path, banked: int, unbanked: int) -> tuple[str, set[str]]:
    """A bank of `banked` originals and a corpus holding re-encoded copies of them among
    `unbanked` unrelated images; returns the database URL and the corpus paths that match."""
    originals = root / "originals"
    corpus = root / "corpus" / "nested"
    originals.mkdir(parents=True)
    corpus.mkdir(parents=True)
    expected: set[str] = set()
    for i in range(banked):
        write_image(originals / f"orig{i}.jpg", seed=10 + i)
        copy = corpus / f"copy{i}.jpg"
        # A re-encoded, resized copy: not byte-identical, found by its perceptual hash.
        photo_like(seed=10 + i).resize((400, 300)).save(copy, "JPEG", quality=60)
        expected.add(str(copy))
    for i in range(unbanked):
        write_image(corpus / f"other{i:03d}.jpg", seed=200 + i)
    database_url = f"sqlite:///{root / 'cordon.db'}"
    assert cordon(database_url, "bank", "create", "tvec")[0] == 0
    code, _, err = cordon(database_url, "bank", "add", "tvec", "--label", "attack",
                          str(originals))
    assert code == 0, err
    return database_url, expected


def test_scan_finds_exactly_the_banked_images(tmp_path: Path) -> None:
    database_url, expected = make_corpus(tmp_path, banked=3, unbanked=6)
    (tmp_path / "corpus" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    output = tmp_path / "scan.jsonl"
    code, out, _ = cordon(database_url, "scan", str(tmp_path / "corpus"), "--output",
                          str(output), "--format", "json")
    assert code == 1  # the broken file could not be checked
    records = lines(output)
    assert len(records) == 10 and len({r["path"] for r in records}) == 10
    assert {r["path"] for r in records if r["matches"]} == expected
    for record in records:
        if record["matches"]:
            assert {m["bank"] for m in record["matches"]} == {"tvec"}
            assert record["matches"][0]["labels"] == ["attack"]
            assert "pdq" in record["signals"]
    failed = [r for r in records if r["error"]]
    assert [Path(r["path"]).name for r in failed] == ["broken.jpg"]
    summary = json.loads(out.splitlines()[-1])["summary"]
    assert summary["files"] == 10 and summary["matched"] == 3 and summary["failed"] == 1
    # Run again: everything is in the output already, nothing is scanned twice.
    code, out, _ = cordon(database_url, "scan", str(tmp_path / "corpus"), "--output",
                          str(output), "--format", "json")
    assert json.loads(out.splitlines()[-1])["summary"]["files"] == 0
    assert len(lines(output)) == 10


def test_list_file_and_text_output(tmp_path: Path) -> None:
    database_url, expected = make_corpus(tmp_path, banked=2, unbanked=2)
    listing = tmp_path / "paths.txt"
    listing.write_text("# corpus\n" + "\n".join(sorted(expected)) + "\n")
    code, out, _ = cordon(database_url, "scan", "--list", str(listing))
    assert code == 0
    assert sum("MATCH  tvec/" in line for line in out.splitlines()) == 2
    assert "scanned 2 files: 2 matched, 0 failed" in out
    code, _, err = cordon(database_url, "scan", "--list", str(tmp_path / "absent.txt"))
    assert code == 2 and "cannot read" in err


def test_output_that_is_not_a_scan_is_refused(tmp_path: Path) -> None:
    database_url, _ = make_corpus(tmp_path, banked=1, unbanked=0)
    output = tmp_path / "notes.txt"
    output.write_text("dear diary\n")
    code, _, err = cordon(database_url, "scan", str(tmp_path / "corpus"), "-o", str(output))
    assert code == 2 and "is not a scan result" in err
    assert output.read_text() == "dear diary\n"


@pytest.mark.slow
def test_killed_scan_resumes_without_duplicates(tmp_path: Path) -> None:
    database_url, expected = make_corpus(tmp_path, banked=4, unbanked=56)
    output = tmp_path / "scan.jsonl"
    command = [sys.executable, "-m", "cordon", "--db", database_url, "scan",
               str(tmp_path / "corpus"), "--output", str(output), "--format", "json"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (output.exists() and output.read_text().count("\n") >= 8):
        assert process.poll() is None, "the scan ended before it could be interrupted"
        assert time.monotonic() < deadline, "the scan wrote nothing within 60 s"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    before = lines(output)
    assert 8 <= len(before) < 60
    # What a kill in the middle of a write leaves: half a line with no newline.
    with output.open("a") as handle:
        handle.write('{"path": "corpus/nested/oth')
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    summary = json.loads(finished.stdout.splitlines()[-1])["summary"]
    assert summary["skipped"] == len(before) and summary["files"] == 60 - len(before)
    records = lines(output)
    paths = [r["path"] for r in records]
    assert len(paths) == len(set(paths)) == 60
    assert records[: len(before)] == before
    assert {r["path"] for r in records if r["matches"]} == expected


@pytest.mark.slow
def test_ray_engine_gives_the_same_result(tmp_path: Path) -> None:
    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed (optional: pip install 'cordon[ray]'); "
                    "the Ray engine is not tested here")
    database_url, expected = make_corpus(tmp_path, banked=3, unbanked=9)
    local, distributed = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    assert cordon(database_url, "scan", str(tmp_path / "corpus"), "-o", str(local))[0] == 0
    code, out, err = cordon(database_url, "scan", str(tmp_path / "corpus"), "-o",
                            str(distributed), "--engine", "ray", "--jobs", "2")
    assert code == 0, err
    assert "scanned 12 files: 3 matched" in out

    def key(records: list[dict]) -> list[tuple]:
        return sorted((r["path"], json.dumps(r["matches"], sort_keys=True), r["signals"]["pdq"])
                      for r in records)

    assert key(lines(distributed)) == key(lines(local))
    assert {r["path"] for r in lines(distributed) if r["matches"]} == expected
