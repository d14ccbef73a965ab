"""The live frame path: PDQ of the decoded luma plane read every few pixels, against the
reference `pdqhash` on RGB frames; odd frame sizes and pixel formats; a resolution switch
mid-stream."""

from __future__ import annotations

import io
import itertools
import threading
from pathlib import Path

import av
import numpy as np
import pytest
from av.video.reformatter import VideoReformatter

from benchmarks._streams import Part, compose_stream
from cordon.live.luma import frame_luma, hash_luma, sample_step
from cordon.live.reader import ReaderConfig, StreamClock, StreamEnded, StreamReader
from cordon.live.sources import Source, SourceKind
from cordon.signals.pdq import hamming, hash_rgb
from tests.shared_data import CORPUS, INTEROP, require

VIDEOS = [CORPUS / "videos" / "bikes.mp4", CORPUS / "videos" / "bigbuckbunny.mp4",
          INTEROP / "video" / "chair-orig-22-sd-bar.mp4",
          INTEROP / "video" / "pattern-hd-no-bar.mp4"]


def frames(path: Path, every: int = 9, limit: int = 200) -> list[av.VideoFrame]:
    out = []
    with av.open(str(require(path))) as container:
        for i, frame in enumerate(container.decode(container.streams.video[0])):
            if i >= limit:
                break
            if i % every == 0:
                out.append(frame)
    return out


@pytest.mark.parametrize("path", VIDEOS, ids=lambda p: p.stem)
def test_luma_hash_agrees_with_pdqhash_on_the_full_rgb_frame(path: Path) -> None:
    distances, before = [], []
    reformatter = VideoReformatter()
    for frame in frames(path):
        reference = hash_rgb(frame.to_ndarray(format="rgb24"))
        if reference.quality is not None and reference.quality < 50:
            continue
        luma = frame_luma(frame)
        assert luma.shape == (frame.height, frame.width) and luma.dtype == np.uint8
        value = hash_luma(luma, sample_step(frame.width, frame.height, 240))
        assert value.quality is not None and abs(value.quality - reference.quality) <= 10
        distances.append(hamming(value.hex, reference.hex))
        # What the monitor hashed before: the RGB frame area-reduced to 180 lines.
        factor = max(1, min(frame.width, frame.height) // 180)
        reduced = reformatter.reformat(frame, format="rgb24", width=frame.width // factor,
                                       height=frame.height // factor, interpolation="AREA")
        before.append(hamming(hash_rgb(reduced.to_ndarray()).hex, reference.hex))
    assert len(distances) >= 10
    # Measured: 0.7-2.5 bits on average, at most 8; matches are taken at 31.
    assert np.mean(distances) <= 4 and max(distances) <= 12, distances
    # No further from the full-size hash than the reduced RGB frame was (luma against RGB
    # alone costs about a bit on frames the monitor never reduced).
    assert np.mean(distances) <= max(np.mean(before), 2.0)


def test_luma_hash_is_the_reference_pdq_of_the_grey_image() -> None:
    """At step 1, the same algorithm as `pdqhash` (whose luma of a grey RGB image is the grey
    value), up to float rounding at the median; a positive affine change of luma (video range
    against full range) leaves the bits alone."""
    for frame in frames(VIDEOS[1], every=25):
        luma = np.ascontiguousarray(frame_luma(frame)[::2, ::2])
        value = hash_luma(luma)
        grey = hash_rgb(np.ascontiguousarray(np.repeat(luma[:, :, None], 3, axis=2)))
        assert hamming(value.hex, grey.hex) <= 4
        video_range = (luma.astype(np.float32) * (219 / 255) + 16).round().astype(np.uint8)
        assert hamming(hash_luma(video_range).hex, value.hex) <= 4


@pytest.mark.parametrize("size", [(853, 481), (1919, 1081), (181, 181), (361, 203), (203, 361),
                                  (64, 64), (7, 5), (3, 2), (1, 1)])
@pytest.mark.parametrize("pix_fmt", ["rgb24", "yuv420p", "yuvj422p", "nv12", "yuv420p10le"])
def test_odd_frame_sizes(size: tuple[int, int], pix_fmt: str) -> None:
    width, height = size
    source = frames(VIDEOS[1], every=1, limit=1)[0].to_ndarray(format="rgb24")
    # A crop of a real frame, tiled when the frame is smaller than the size asked for.
    tiled = np.tile(source, (-(-height // source.shape[0]), -(-width // source.shape[1]), 1))
    rgb = np.ascontiguousarray(tiled[:height, :width])
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    if pix_fmt != "rgb24":
        frame = frame.reformat(format=pix_fmt)
    assert (frame.width, frame.height) == size
    luma = frame_luma(frame)
    assert luma.shape == (height, width) and luma.dtype == np.uint8
    value = hash_luma(luma, sample_step(width, height, 240))
    assert len(value.hex) == 64 and value.quality is not None and 0 <= value.quality <= 100
    reference = hash_rgb(rgb)
    if reference.quality is not None and reference.quality >= 50:
        assert hamming(value.hex, reference.hex) <= 16


def test_sample_step() -> None:
    assert sample_step(1280, 720, 240) == 3
    assert sample_step(1920, 1080, 240) == 4
    assert sample_step(720, 1280, 240) == 3
    assert sample_step(853, 480, 240) == 2
    assert sample_step(480, 270, 240) == 1
    assert sample_step(3, 2, 240) == 1
    # Never wider than PDQ's box (6 pixels on 720 lines), whatever is asked.
    assert sample_step(1280, 720, 10) == 6


def test_hash_luma_refuses_a_colour_image() -> None:
    with pytest.raises(ValueError, match="2-D"):
        hash_luma(np.zeros((10, 10, 3), dtype=np.uint8))


def test_resolution_switch_mid_stream(tmp_path: Path) -> None:
    """480x270 then 1280x720 H.264 on one MPEG-TS byte stream: the reader hashes each frame
    from its own size, the hashes are those of the parts decoded on their own."""
    bikes = require(CORPUS / "videos" / "bikes.mp4")
    options = {"preset": "ultrafast", "gop_seconds": 1.0}
    small = compose_stream(tmp_path / "small.ts", [Part(bikes, 1.0)], size=(480, 270), **options)
    large = compose_stream(tmp_path / "large.ts", [Part(bikes, 1.0, start=1.0)], size=(1280, 720),
                           **options)
    expected: dict[tuple[int, int], set[str]] = {}
    for composed in (small, large):
        with av.open(str(composed.path)) as container:
            for frame in container.decode(container.streams.video[0]):
                step = sample_step(frame.width, frame.height, 240)
                expected.setdefault((frame.height, frame.width), set()).add(
                    hash_luma(frame_luma(frame), step).hex)
    assert set(expected) == {(270, 480), (720, 1280)}
    data = small.path.read_bytes() + large.path.read_bytes()
    reader = StreamReader(Source("-", SourceKind.STDIN, "-"), ReaderConfig(decode="full"),
                          StreamClock(), threading.Event(), stdin=io.BytesIO(data))
    reader.open()
    seen: list[tuple[tuple[int, int], str, float]] = []
    try:
        with pytest.raises(StreamEnded):
            for sample in reader.samples():
                assert sample.luma.shape == (sample.height, sample.width)
                assert sample.step == (1 if sample.height == 270 else 3)
                seen.append((sample.luma.shape, hash_luma(sample.luma, sample.step).hex,
                             sample.stream_seconds))
    finally:
        reader.close()
    shapes = [shape for shape, _, _ in seen]
    # Every frame of the first part, then every frame of the second: one switch.
    assert shapes[0] == (270, 480) and shapes[-1] == (720, 1280)
    assert sum(a != b for a, b in itertools.pairwise(shapes)) == 1
    assert len(seen) >= 2 * 30 - 2
    assert all(value in expected[shape] for shape, value, _ in seen)
    # The stream clock does not jump back where the second part's timestamps restart.
    times = [t for _, _, t in seen]
    assert all(b > a for a, b in itertools.pairwise(times))
