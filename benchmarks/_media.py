"""Benchmark media that is too large for the repository: fetched or composed once into a cache."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CACHE = Path(__file__).resolve().parent / ".cache"

# Composed test video: 720p H.264 at 30 fps, long enough that per-file set-up costs vanish.
VIDEO_SIZE = (1280, 720)
VIDEO_FPS = 30
VIDEO_SECONDS = 60


def fetch_photos() -> Path | None:
    """Full-resolution photos (JPEG and PNG), downloaded once by the corpus script."""
    script = SHARED / "corpus" / "fetch-photos"
    dest = CACHE / "photos"
    if dest.is_dir() and any(dest.iterdir()):
        return dest
    if not script.exists():
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([str(script), str(dest)], capture_output=True, text=True, check=False)
    if done.returncode != 0 or not any(dest.iterdir()):
        return None
    return Path(done.stdout.strip().splitlines()[-1])


def _source_videos() -> list[Path]:
    corpus = sorted((SHARED / "corpus" / "videos").glob("*.mp4"))
    interop = sorted((SHARED / "interop" / "video").glob("*.mp4"))
    # The 720p clip first, then the others scaled up or down to 720p.
    return sorted(corpus + interop, key=lambda p: (p.name != "bigbuckbunny.mp4", p.name))


def compose_video() -> Path | None:
    """A 60 s 1280x720 H.264 video made of the corpus and interop clips, built once.

    Frames are taken in order from each clip (re-timed to 30 fps) until 60 s are filled, and
    encoded by x264 on one thread with fixed settings, so the file is the same on every run.
    """
    import av

    out = CACHE / f"composed-{VIDEO_SIZE[1]}p-{VIDEO_SECONDS}s.mp4"
    if out.exists():
        return out
    sources = _source_videos()
    if not sources:
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".part.mp4")
    total = VIDEO_FPS * VIDEO_SECONDS
    written = 0
    with av.open(str(partial), mode="w") as container:
        stream = container.add_stream(
            "libx264",
            rate=VIDEO_FPS,
            options={"preset": "veryfast", "crf": "23", "threads": "1", "g": "60"},
        )
        stream.width, stream.height = VIDEO_SIZE
        stream.pix_fmt = "yuv420p"
        while written < total:
            for source in sources:
                with av.open(str(source)) as clip:
                    for frame in clip.decode(video=0):
                        if written >= total:
                            break
                        scaled = frame.reformat(
                            width=VIDEO_SIZE[0], height=VIDEO_SIZE[1], format="yuv420p"
                        )
                        scaled.pts = written
                        scaled.time_base = Fraction(1, VIDEO_FPS)
                        container.mux(stream.encode(scaled))
                        written += 1
                if written >= total:
                    break
        container.mux(stream.encode(None))
    partial.rename(out)
    return out
