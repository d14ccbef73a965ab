"""`cordon hash` as people and programs use it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.media_factory import image_bytes, write_image

HEX64 = 64


def run(
    *args: str, stdin: bytes | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cordon", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        cwd=cwd,
    )


@pytest.fixture()
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "uploads"
    (folder / "nested").mkdir(parents=True)
    write_image(folder / "a.jpg", seed=1)
    write_image(folder / "nested" / "b.png", "PNG", seed=2)
    (folder / "notes.txt").write_text("not an image\n")
    return folder


def test_json_lines_have_the_documented_shape(images: Path) -> None:
    proc = run("hash", "--format", "json", str(images))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    by_name = {Path(r["path"]).name: r for r in rows}
    assert set(by_name) == {"a.jpg", "b.png", "notes.txt"}
    image = by_name["a.jpg"]
    assert image["content_type"] == "image" and image["error"] is None
    assert set(image["signals"]) == {"pdq", "md5", "sha256"}
    assert len(image["signals"]["pdq"]["hash"]) == HEX64
    assert 0 <= image["signals"]["pdq"]["quality"] <= 100
    assert len(image["signals"]["md5"]["hash"]) == 32
    other = by_name["notes.txt"]
    assert other["content_type"] == "other"
    assert set(other["signals"]) == {"md5", "sha256"}


def test_content_type_comes_from_bytes_not_the_name(tmp_path: Path) -> None:
    disguised = tmp_path / "report.txt"
    disguised.write_bytes(image_bytes("PNG"))
    proc = run("hash", "--format", "json", str(disguised))
    row = json.loads(proc.stdout)
    assert row["content_type"] == "image" and "pdq" in row["signals"]


def test_text_output_is_one_readable_line_per_signal(images: Path) -> None:
    proc = run("hash", str(images / "a.jpg"))
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 3
    assert all(line.startswith(str(images / "a.jpg")) for line in lines)
    assert "pdq" in lines[0] and "quality=" in lines[0]


def test_signal_selection_and_stdin(images: Path) -> None:
    data = (images / "a.jpg").read_bytes()
    proc = run("hash", "--signal", "pdq", "--format", "json", "-", stdin=data)
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    assert row["path"] == "-" and list(row["signals"]) == ["pdq"]
    from_file = json.loads(
        run("hash", "--signal", "pdq", "--format", "json", str(images / "a.jpg")).stdout
    )
    assert from_file["signals"] == row["signals"]


def test_parallel_jobs_give_the_same_results_in_the_same_order(tmp_path: Path) -> None:
    for i in range(6):
        write_image(tmp_path / f"{i}.jpg", seed=i)
    one = run("hash", "--format", "json", "--jobs", "1", str(tmp_path))
    two = run("hash", "--format", "json", "--jobs", "2", str(tmp_path))
    assert one.returncode == two.returncode == 0
    assert one.stdout == two.stdout


def test_failures_are_reported_per_file_and_the_batch_goes_on(images: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(image_bytes("JPEG")[:300])
    proc = run(
        "hash",
        "--format",
        "json",
        str(broken),
        str(images / "a.jpg"),
        str(tmp_path / "missing.jpg"),
    )
    assert proc.returncode == 1
    rows = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [r["error"] is None for r in rows] == [False, True, False]
    assert rows[0]["signals"] == {} and rows[0]["error"]
    assert "no such file" in rows[2]["error"]
    text = run("hash", str(broken), str(images / "a.jpg"))
    assert text.returncode == 1
    errors = text.stderr.decode().strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("cordon: ") and "broken.jpg" in errors[0]
    assert b"Traceback" not in text.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["hash", "--signal", "nosuch", "x"],
        ["hash", "--frame-size", "12by12", "x"],
        ["hash", "--fps", "-1", "x"],
        ["hash", "--jobs", "0", "x"],
        ["hash"],
        ["hash", "--format", "xml", "x"],
    ],
)
def test_bad_usage_exits_2_with_a_message(args: list[str]) -> None:
    proc = run(*args)
    assert proc.returncode == 2
    assert proc.stderr.strip() and b"Traceback" not in proc.stderr


def test_signal_that_does_not_apply_is_an_error_for_that_file(images: Path) -> None:
    proc = run("hash", "--signal", "pdq", "--format", "json", str(images / "notes.txt"))
    assert proc.returncode == 1
    assert "apply" in json.loads(proc.stdout)["error"]


def test_version_and_help() -> None:
    assert run("--version").returncode == 0
    helptext = run("hash", "--help").stdout.decode()
    for option in ("--signal", "--format", "--jobs", "--fps", "--frame-size", "--output-dir"):
        assert option in helptext
