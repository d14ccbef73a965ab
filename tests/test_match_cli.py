"""`cordon bank add` + `cordon match`: the local workflow of a platform with no server."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from cordon.cli.main import cli
from tests.media_factory import photo_like, scene_frames, write_image, write_video
from tests.shared_data import CORPUS, require


def cordon(database_url: str, *args: str, input: bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--db", database_url, *args], input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture()
def banked(database_url: str, tmp_path: Path) -> tuple[str, Path]:
    originals = tmp_path / "originals"
    originals.mkdir()
    for i in range(4):
        write_image(originals / f"orig{i}.jpg", seed=10 + i)
    assert cordon(database_url, "bank", "create", "tvec")[0] == 0
    code, _, err = cordon(database_url, "bank", "add", "tvec", "--label", "attack", str(originals))
    assert code == 0, err
    return database_url, originals


def test_copies_and_variants_match_unrelated_images_do_not(banked, tmp_path: Path) -> None:
    database_url, originals = banked
    variant = tmp_path / "variant.jpg"
    photo_like(seed=11).resize((320, 240)).save(variant, "JPEG", quality=35)
    unrelated = write_image(tmp_path / "unrelated.jpg", seed=99)
    code, out, _ = cordon(
        database_url,
        "match",
        "--format",
        "json",
        str(originals / "orig0.jpg"),
        str(variant),
        str(unrelated),
    )
    assert code == 0
    exact, near, other = json_lines(out)
    kinds = {m["signal_type"] for m in exact["matches"]}
    assert {"md5", "sha256", "pdq"} <= kinds
    assert all(m["entry"] == exact["matches"][0]["entry"] for m in exact["matches"])
    assert exact["matches"][0]["distance"] == 0
    pdq = [m for m in near["matches"] if m["signal_type"] == "pdq"]
    assert pdq and 0 < pdq[0]["distance"] <= 31
    assert pdq[0]["labels"] == ["attack"] and pdq[0]["bank"] == "tvec"
    assert pdq[0]["source"].endswith("orig1.jpg")
    assert not any(m["signal_type"] in ("md5", "sha256") for m in near["matches"])
    assert other["matches"] == [] and other["error"] is None
    # best first: scores never decrease down the list
    distances = [m["distance"] / 31 if m["signal_type"] == "pdq" else 0 for m in exact["matches"]]
    assert distances == sorted(distances)


def test_threshold_override_and_text_output(banked, tmp_path: Path) -> None:
    database_url, _ = banked
    variant = tmp_path / "variant.jpg"
    photo_like(seed=12).save(variant, "JPEG", quality=20)
    code, out, _ = cordon(database_url, "match", str(variant))
    assert code == 0 and "MATCH" in out and "tvec/" in out and "labels=attack" in out
    code, out, _ = cordon(
        database_url, "match", "--format", "json", "--threshold", "pdq=0", str(variant)
    )
    [row] = json_lines(out)
    assert not [m for m in row["matches"] if m["signal_type"] == "pdq"]


def test_match_hash_list_reports_malformed_lines(banked, tmp_path: Path) -> None:
    database_url, originals = banked
    _, out, _ = cordon(database_url, "hash", "--format", "json", str(originals / "orig2.jpg"))
    pdq = json.loads(out)["signals"]["pdq"]["hash"]
    listing = tmp_path / "hashes.txt"
    listing.write_text(f"pdq {pdq}\npdq nothex\nmd5 {'0' * 32}\nnosuch abc\n")
    code, out, _ = cordon(database_url, "match", "--format", "json", "--hashes", str(listing))
    assert code == 1
    rows = json_lines(out)
    assert [r["path"] for r in rows] == [f"{listing}:{n}" for n in (1, 2, 3, 4)]
    assert rows[0]["matches"][0]["distance"] == 0
    assert rows[1]["error"] and "hex" in rows[1]["error"]
    assert rows[2]["matches"] == [] and rows[2]["error"] is None
    assert "unknown signal type" in rows[3]["error"]


def test_unknown_bank_empty_bank_and_bad_usage(database_url: str, tmp_path: Path) -> None:
    image = write_image(tmp_path / "x.jpg")
    code, _, err = cordon(database_url, "match", "--bank", "nope", str(image))
    assert code != 0 and "nope" in err and "Traceback" not in err
    assert cordon(database_url, "bank", "create", "empty")[0] == 0
    code, out, _ = cordon(database_url, "match", "--format", "json", "--bank", "empty", str(image))
    assert code == 0 and json_lines(out)[0]["matches"] == []
    assert cordon(database_url, "match")[0] == 2
    assert cordon(database_url, "match", "--threshold", "pdq", str(image))[0] == 2
    assert cordon(database_url, "match", "--threshold", "pdq=x", str(image))[0] == 2


def test_withdrawn_entries_no_longer_match(banked) -> None:
    database_url, originals = banked
    target = str(originals / "orig3.jpg")
    [row] = json_lines(cordon(database_url, "match", "--format", "json", target)[1])
    entry = row["matches"][0]["entry"]
    assert cordon(database_url, "bank", "remove", "tvec", str(entry))[0] == 0
    [row] = json_lines(cordon(database_url, "match", "--format", "json", target)[1])
    assert all(m["entry"] != entry for m in row["matches"])


def test_stdin_input(banked) -> None:
    database_url, originals = banked
    buffer = io.BytesIO()
    Image.open(originals / "orig0.jpg").save(buffer, "PNG")
    code, out, _ = cordon(database_url, "match", "--format", "json", "-", input=buffer.getvalue())
    assert code == 0
    [row] = json_lines(out)
    assert row["path"] == "-" and row["matches"]


@pytest.mark.slow
def test_clip_from_minute_three_reports_its_time_range(database_url: str, tmp_path: Path) -> None:
    photos = sorted(require(CORPUS / "images").glob("*.jpg"))
    frames = scene_frames(seconds=200, fps=5, size=(160, 120), photos=photos[:200], seed=3)
    source = write_video(tmp_path / "source.mp4", frames, fps=5)
    clip = write_video(tmp_path / "clip.mp4", frames[180 * 5 : 190 * 5], fps=5, size=(240, 180))
    unrelated = write_video(
        tmp_path / "other.mp4", scene_frames(12, 5, (160, 120), photos[200:], seed=4), fps=5
    )
    assert cordon(database_url, "bank", "create", "videos")[0] == 0
    assert cordon(database_url, "bank", "add", "videos", str(source))[0] == 0
    code, out, _ = cordon(database_url, "match", "--format", "json", str(clip), str(unrelated))
    assert code == 0
    found, other = json_lines(out)
    vpdq = [m for m in found["matches"] if m["signal_type"] == "vpdq"]
    assert vpdq, found["matches"]
    segment = vpdq[0]["segments"][0]
    assert segment["query_start"] == pytest.approx(0, abs=1.5)
    assert segment["query_end"] == pytest.approx(10, abs=1.5)
    assert segment["ref_start"] == pytest.approx(180, abs=1.5)
    assert segment["ref_end"] == pytest.approx(190, abs=1.5)
    assert other["matches"] == []
