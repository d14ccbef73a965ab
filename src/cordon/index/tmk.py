"""The TMK+PDQF match index: the reference's two-level search over banked videos.

Level 1 compares the query's pure-average feature with every banked video's in one matrix
product (cosine similarity, cheap: 256 floats per video); only the candidates that reach the
level-1 threshold pay for level 2, the full TMK score over all time offsets.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from cordon.errors import CordonError
from cordon.index.base import IndexMatch, SignalIndex
from cordon.index.snapshot import snapshot_writer
from cordon.signals.tmk import LEVEL1_THRESHOLD, LEVEL2_THRESHOLD, level2_scores
from cordon.signals.tmk_format import COEFFICIENTS, DIMENSION, FPS, PERIODS, TmkHash

_SNAPSHOT_VERSION = 1
_SHAPE = (len(PERIODS), len(COEFFICIENTS), DIMENSION)


class TmkIndex(SignalIndex[TmkHash]):
    """TMK values under integer keys; a query returns those reaching both level thresholds."""

    def __init__(
        self,
        threshold: float = round(1.0 - LEVEL2_THRESHOLD, 6),
        level1_threshold: float = LEVEL1_THRESHOLD,
    ) -> None:
        # `threshold` is on the distance 1 - level-2, like every index's distance.
        self.threshold = float(threshold)
        self.level1_threshold = float(level1_threshold)
        self._keys: list[int] = []
        self._rows: dict[int, int] = {}
        self._values: list[TmkHash] = []
        # Unit pure-average features, one row per value; grown by doubling.
        self._averages = np.zeros((0, DIMENSION), dtype=np.float32)

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: int, value: TmkHash) -> None:
        if not isinstance(value, TmkHash):
            raise CordonError(f"a tmk index holds tmk hashes, not {type(value).__name__}")
        row = self._rows.get(key)
        if row is None:
            row = len(self._keys)
            if row == len(self._averages):
                grown = np.zeros((max(16, 2 * row), DIMENSION), dtype=np.float32)
                grown[:row] = self._averages[:row]
                self._averages = grown
            self._keys.append(key)
            self._values.append(value)
            self._rows[key] = row
        else:
            self._values[row] = value
        self._averages[row] = value.unit_average

    def remove(self, key: int) -> None:
        row = self._rows.pop(key, None)
        if row is None:
            return
        last = len(self._keys) - 1
        if row != last:
            # Move the last value into the hole so rows stay dense.
            moved = self._keys[last]
            self._keys[row] = moved
            self._values[row] = self._values[last]
            self._averages[row] = self._averages[last]
            self._rows[moved] = row
        self._keys.pop()
        self._values.pop()
        self._averages[last] = 0.0

    def query(self, value: TmkHash, threshold: float | None = None) -> list[IndexMatch]:
        distance_limit = self.threshold if threshold is None else float(threshold)
        count = len(self._keys)
        if count == 0:
            return []
        level1 = self._averages[:count] @ value.unit_average.astype(np.float32)
        candidates = np.flatnonzero(level1 >= self.level1_threshold)
        if len(candidates) == 0:
            return []
        level2 = level2_scores(value, [self._values[i] for i in candidates.tolist()])
        matches = []
        for row, score in zip(candidates.tolist(), level2.tolist(), strict=True):
            distance = max(0.0, 1.0 - score)
            if distance <= distance_limit + 1e-9:
                detail = {"level1": float(level1[row]), "level2": float(score)}
                matches.append(IndexMatch(self._keys[row], distance, detail))
        matches.sort(key=lambda m: (m.distance, m.key))
        return matches

    # --- snapshots ----------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        count = len(self._keys)
        values = self._values
        arrays = {
            "version": np.array([_SNAPSHOT_VERSION], dtype=np.int64),
            "thresholds": np.array([self.threshold, self.level1_threshold], dtype=np.float64),
            "keys": np.array(self._keys, dtype=np.int64),
            "frame_counts": np.array([v.frame_count for v in values], dtype=np.int64),
            "pure_average": np.array([v.pure_average for v in values], dtype=np.float32).reshape(
                count, DIMENSION
            ),
            "cos": np.array([v.cos for v in values], dtype=np.float32).reshape(count, *_SHAPE),
            "sin": np.array([v.sin for v in values], dtype=np.float32).reshape(count, *_SHAPE),
        }
        with snapshot_writer(path, "tmk index") as handle:
            np.savez(handle, **arrays)

    @classmethod
    def load(cls, path: Path) -> TmkIndex:
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise CordonError(f"not a tmk index snapshot: {exc}") from None
        expected = {"version", "thresholds", "keys", "frame_counts", "pure_average", "cos", "sin"}
        if set(arrays) != expected or arrays["version"].tolist() != [_SNAPSHOT_VERSION]:
            raise CordonError("not a tmk index snapshot (unknown layout or version)")
        keys = arrays["keys"]
        count = len(keys)
        if (
            arrays["thresholds"].shape != (2,)
            or arrays["frame_counts"].shape != (count,)
            or arrays["pure_average"].shape != (count, DIMENSION)
            or arrays["cos"].shape != (count, *_SHAPE)
            or arrays["sin"].shape != (count, *_SHAPE)
        ):
            raise CordonError("the tmk index snapshot is inconsistent (array shapes differ)")
        threshold, level1_threshold = arrays["thresholds"].tolist()
        index = cls(threshold=threshold, level1_threshold=level1_threshold)
        for i, key in enumerate(keys.tolist()):
            value = TmkHash(
                frame_count=int(arrays["frame_counts"][i]),
                pure_average=arrays["pure_average"][i],
                cos=arrays["cos"][i],
                sin=arrays["sin"][i],
                fps=FPS,
            )
            index.add(key, value)
        return index
