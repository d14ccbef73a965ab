"""Safety limits for decoding untrusted files."""

from dataclasses import dataclass


@dataclass(frozen=True)
class MediaLimits:
    # 16k x 10k covers any real camera or screenshot; a bomb declares far more.
    max_image_pixels: int = 160_000_000
    # Media that decodes for longer than this is treated as hostile.
    max_decode_seconds: float = 600.0
    # Content length that is hashed at most, whatever the container claims.
    max_video_seconds: float = 6 * 3600.0
    max_video_frames: int = 2_000_000
    # Frames larger than 8K are not real uploads.
    max_frame_pixels: int = 7680 * 4320
