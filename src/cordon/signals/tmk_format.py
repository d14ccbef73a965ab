"""The TMK+PDQF value and its reference binary layout (the `.tmk` files other platforms share).

Layout (little-endian, no padding, 263,344 bytes with the standard parameters):
a 32-byte header (magics `TMK1` `FVEC` `PDQF`, then int32 frames-per-second, number of periods P,
number of Fourier coefficients C, frame-feature dimension D, frame-feature count), int32[P]
periods, float32[C] coefficients, float32[D] pure-average feature, float32[P][C][D] cosine
features and float32[P][C][D] sine features.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from cordon.errors import SignalFormatError

PROJECT_MAGIC = b"TMK1"
FILETYPE_MAGIC = b"FVEC"
ALGORITHM_MAGIC = b"PDQF"
FPS = 15
# Poullot's periods (in frames at 15 fps) and Fourier coefficients, as the reference tabulates
# them: a_0 = (I_0(b) - e^-b) / (2 sinh b), a_j = I_j(b) / sinh b with b = 32 (modified Bessel I).
PERIODS = np.array([2731, 4391, 9767, 14653], dtype="<i4")
COEFFICIENTS = np.array(
    [
        0.0708041893112, 0.13937789309, 0.132897260304, 0.122765735552,
        0.109878684888, 0.09529606433, 0.0800986647852, 0.0652590650356,
        0.0515478238322, 0.0394851531195, 0.0293374252025, 0.0211492623679,
        0.0147973073245, 0.0100512818746, 0.0066306408014, 0.00424947117334,
        0.0026467615764, 0.00160270959695, 0.000943882629639, 0.000540841638603,
        0.000301633183798, 0.000163800158855, 8.66454753015e-05, 4.46626303151e-05,
        2.24429442235e-05, 1.09982139799e-05, 5.25823487999e-06, 2.45358229988e-06,
        1.11781474895e-06, 4.97406489221e-07, 2.16265487234e-07, 9.19087006565e-08,
    ],
    dtype="<f4",
)
DIMENSION = 256

_HEADER = struct.Struct("<4s4s4s5i")
_FEATURE_SHAPE = (len(PERIODS), len(COEFFICIENTS), DIMENSION)
SIZE = (
    _HEADER.size
    + 4 * len(PERIODS)
    + 4 * len(COEFFICIENTS)
    + 4 * DIMENSION
    + 2 * 4 * int(np.prod(_FEATURE_SHAPE))
)
# The reference checks coefficients to this relative tolerance before comparing two files.
_COEFFICIENT_TOLERANCE = 1e-6


@dataclass(frozen=True, eq=False)
class TmkHash:
    """A whole-video TMK+PDQF descriptor: float32 arrays exactly as the reference stores them."""

    frame_count: int
    pure_average: np.ndarray  # (D,)
    cos: np.ndarray  # (P, C, D)
    sin: np.ndarray  # (P, C, D)
    fps: int = FPS

    @property
    def duration(self) -> float:
        """Seconds of video after resampling to `fps`."""
        return self.frame_count / self.fps if self.fps else 0.0

    @cached_property
    def unit_average(self) -> np.ndarray:
        """The pure-average feature scaled to unit length (zero stays zero), for level-1."""
        average = self.pure_average.astype(np.float64)
        norm = float(np.linalg.norm(average))
        return average / norm if norm > 0 else average

    def to_bytes(self) -> bytes:
        header = _HEADER.pack(
            PROJECT_MAGIC,
            FILETYPE_MAGIC,
            ALGORITHM_MAGIC,
            self.fps,
            len(PERIODS),
            len(COEFFICIENTS),
            DIMENSION,
            self.frame_count,
        )
        parts = [
            header,
            PERIODS.tobytes(),
            COEFFICIENTS.tobytes(),
            np.asarray(self.pure_average, dtype="<f4").tobytes(),
            np.asarray(self.cos, dtype="<f4").tobytes(),
            np.asarray(self.sin, dtype="<f4").tobytes(),
        ]
        return b"".join(parts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TmkHash):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self.to_bytes())


def from_bytes(data: bytes) -> TmkHash:
    """Parse and validate a reference `.tmk` file; SignalFormatError says what is wrong."""
    if len(data) < _HEADER.size:
        raise SignalFormatError(
            f"a tmk hash starts with a {_HEADER.size}-byte header, got only {len(data)} bytes"
        )
    project, filetype, algorithm, fps, periods, coefficients, dimension, count = (
        _HEADER.unpack_from(data)
    )
    if project != PROJECT_MAGIC or filetype != FILETYPE_MAGIC:
        raise SignalFormatError(
            "not a tmk feature-vector file (the header must start with TMK1 FVEC)"
        )
    if algorithm != ALGORITHM_MAGIC:
        raise SignalFormatError(
            f"unsupported tmk frame-feature algorithm {algorithm!r} (only PDQF is known)"
        )
    if fps != FPS:
        raise SignalFormatError(f"a tmk hash is computed at {FPS} frames per second, not {fps}")
    if (periods, coefficients, dimension) != _FEATURE_SHAPE:
        raise SignalFormatError(
            f"a tmk hash has {_FEATURE_SHAPE[0]} periods, {_FEATURE_SHAPE[1]} Fourier coefficients "
            f"and {_FEATURE_SHAPE[2]}-dimensional frame features, not "
            f"{periods}, {coefficients} and {dimension}"
        )
    if count < 0:
        raise SignalFormatError(f"a tmk frame count cannot be negative ({count})")
    if len(data) != SIZE:
        raise SignalFormatError(f"a tmk hash is {SIZE:,} bytes long, got {len(data):,}")
    offset = _HEADER.size
    stored_periods = np.frombuffer(data, dtype="<i4", count=len(PERIODS), offset=offset)
    offset += stored_periods.nbytes
    if not np.array_equal(stored_periods, PERIODS):
        raise SignalFormatError(
            f"a tmk hash uses the periods {PERIODS.tolist()}, not {stored_periods.tolist()}"
        )
    stored_coefficients = np.frombuffer(data, dtype="<f4", count=len(COEFFICIENTS), offset=offset)
    offset += stored_coefficients.nbytes
    relative = np.abs(stored_coefficients - COEFFICIENTS) / COEFFICIENTS
    if not np.all(relative <= _COEFFICIENT_TOLERANCE):
        raise SignalFormatError("a tmk hash uses different Fourier coefficients than TMK+PDQF")
    floats = np.frombuffer(data, dtype="<f4", offset=offset)
    if not np.all(np.isfinite(floats)):
        raise SignalFormatError("a tmk hash holds a non-finite number (NaN or infinity)")
    size = int(np.prod(_FEATURE_SHAPE))
    return TmkHash(
        frame_count=count,
        pure_average=floats[:DIMENSION].astype(np.float32),
        cos=floats[DIMENSION : DIMENSION + size].reshape(_FEATURE_SHAPE).astype(np.float32),
        sin=floats[DIMENSION + size :].reshape(_FEATURE_SHAPE).astype(np.float32),
        fps=fps,
    )
