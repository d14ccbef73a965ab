"""The pdq-robust index: every banked view, queried with every view of the upload, then
candidates confirmed by keypoint geometry.

Two ways to match, cheapest first:

1. whole picture against whole picture (any of the 8 rotations/flips of the query) within the
   threshold: the plain-PDQ rule, after border trimming;
2. any query view against any banked view within the looser candidate threshold, confirmed by
   an affine transform (RANSAC) that maps enough ORB keypoints of the query onto the entry.

The second rule is what catches crops, captions, screenshots and collages without the false
matches that a loose hash threshold alone would bring: unrelated pictures share views at
distance 60 now and then (flat skies, gradients), never a geometric layout of keypoints.

Distances are computed brute force on packed 64-bit words, which is exact and fast for banks
of up to a few hundred thousand images (about 13 views each).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import faiss
import numpy as np

from cordon.errors import CordonError
from cordon.index.base import IndexMatch, SignalIndex
from cordon.index.snapshot import load_values, save_values
from cordon.signals.pdq_robust import FLAT_VIEW_QUALITY, RobustPdq, Role

# Views flatter than this PDQ quality say little: they never match, not even whole pictures.
MIN_QUALITY = 20
# A view this close to a banked view matches without verification when both are detailed:
# it catches collage tiles and insets whose keypoints are too few or too small to verify.
VIEW_THRESHOLD = 20
DETAILED_QUALITY = 60
# Views of plain quality (50-59, which includes mostly flat crops and parts: silhouettes,
# blank pages, see FLAT_VIEW_SHARE) match alone only when this close: two hearts' crops
# are 18 bits apart, a crop of the same silhouette a few bits.
PLAIN_QUALITY = FLAT_VIEW_QUALITY
FLAT_VIEW_THRESHOLD = 14
# Views of low quality (MIN_QUALITY to 49: dim or soft pictures, the middle band of a meme
# over a dark photograph) match alone only when nearly identical: in the benchmark their
# copies sit 0-4 bits from the banked view, views of unrelated pictures 20 bits and more.
LOW_VIEW_THRESHOLD = 8
# Query views within this distance of a banked view make the entry a candidate for verification.
CANDIDATE_THRESHOLD = 80
# At most this many candidates (closest first) are verified per query, which bounds query time.
MAX_CANDIDATES = 6
# Keypoints that an affine transform must map consistently for a verified match.
MIN_INLIERS = 14
# Largest ratio of the transform's two scales: reposting stretches a picture by 40% at most
# (aspect changes, 1.4); a map that squeezes one axis 1.5 times or more than the other is
# keypoints of text lines or letters lined up by chance, not a copy.
MAX_STRETCH = 1.5
# Keypoint voting: each query keypoint votes for the entry of its nearest banked keypoint
# when the descriptors are within this many bits; the best-voted entries are verified.
VOTE_DISTANCE = 64
MIN_VOTES = 6
VOTED_CANDIDATES = 4
# Graph search over the banked descriptors (incremental adds, no training): ~99% of exact
# nearest neighbours at a fraction of a brute-force scan.
_HNSW_LINKS = 16
_HNSW_SEARCH = 16
# Lowe's ratio test: a keypoint match counts only if clearly better than the runner-up.
RATIO = 0.8

_MATCHER = cv2.BFMatcher(cv2.NORM_HAMMING)


def _words(hashes: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(hashes).view(">u8").astype(np.uint64)


def verify(
    query: RobustPdq, entry: RobustPdq, mirrored: bool = True, max_stretch: float = MAX_STRETCH
) -> int:
    """How many keypoints of `query` (upright or, when asked, mirrored) an affine transform
    maps onto `entry` (0 when none)."""
    upright = _verify(query.points, query.descriptors, entry, max_stretch)
    if not mirrored or upright >= MIN_INLIERS:
        return upright
    return max(
        upright, _verify(query.mirrored_points, query.mirrored_descriptors, entry, max_stretch)
    )


def _verify(
    points: np.ndarray, descriptors: np.ndarray, entry: RobustPdq, max_stretch: float
) -> int:
    if len(descriptors) < MIN_INLIERS or len(entry.descriptors) < MIN_INLIERS:
        return 0
    pairs = _MATCHER.knnMatch(descriptors, entry.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < MIN_INLIERS:
        return 0
    source = points[[m.queryIdx for m in good]]
    target = entry.points[[m.trainIdx for m in good]]
    tolerance = max(3.0, 0.015 * max(entry.size))
    transform, inliers = cv2.estimateAffine2D(
        source,
        target,
        method=cv2.RANSAC,
        ransacReprojThreshold=tolerance,
        maxIters=2000,
        confidence=0.995,
    )
    if transform is None or inliers is None:
        return 0
    # A real copy is a similarity-ish map: no mirror (ORB is not mirror invariant anyway),
    # no collapse of an axis, a scale change within what reposting does.
    linear = transform[:, :2]
    scales = np.linalg.svd(linear, compute_uv=False)
    if np.linalg.det(linear) <= 0 or scales.min() < 0.15 or scales.max() > 8:
        return 0
    if scales.max() / scales.min() > max_stretch:
        return 0
    return int(inliers.sum())


class RobustPdqIndex(SignalIndex[RobustPdq]):
    """pdq-robust values under entry ids. Options switch techniques off for measurement."""

    def __init__(
        self,
        threshold: int = 31,
        *,
        dihedral: bool = True,
        regions: bool = True,
        verify: bool = True,
        keypoint_votes: bool = True,
        mirrored_keypoints: bool = True,
        candidate_threshold: int = CANDIDATE_THRESHOLD,
        view_threshold: int = VIEW_THRESHOLD,
        min_inliers: int = MIN_INLIERS,
        max_stretch: float = MAX_STRETCH,
        flat_view_threshold: int = FLAT_VIEW_THRESHOLD,
        low_view_threshold: int = LOW_VIEW_THRESHOLD,
    ) -> None:
        self.threshold = threshold
        self.dihedral = dihedral
        self.regions = regions
        self.verify = verify
        self.keypoint_votes = keypoint_votes
        self.mirrored_keypoints = mirrored_keypoints
        self.candidate_threshold = candidate_threshold
        self.view_threshold = view_threshold
        self.min_inliers = min_inliers
        self.max_stretch = max_stretch
        self.flat_view_threshold = flat_view_threshold
        self.low_view_threshold = low_view_threshold
        self._values: dict[int, RobustPdq] = {}
        self._packed: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        # Banked keypoint descriptors: a graph index plus the entry of each descriptor.
        # Removed entries stay in the graph (it cannot delete) until a rebuild.
        self._graph: Any = None
        self._owners: list[np.ndarray] = []
        self._owner_array: np.ndarray | None = None
        self._stale = 0

    # --- contents -------------------------------------------------------------------------
    def add(self, key: int, value: RobustPdq) -> None:
        if not isinstance(value, RobustPdq):
            raise CordonError("a pdq-robust index only holds pdq-robust values")
        if key in self._values:
            self.remove(key)
        self._values[key] = value
        self._packed = None
        if self._graph is not None and len(value.descriptors):
            self._graph.add(value.descriptors)
            self._owners.append(np.full(len(value.descriptors), key, dtype=np.int64))
            self._owner_array = None

    def add_many(self, items: Iterable[tuple[int, RobustPdq]]) -> None:
        for key, value in items:
            self.add(key, value)

    def remove(self, key: int) -> None:
        removed = self._values.pop(key, None)
        if removed is not None:
            self._packed = None
            self._stale += len(removed.descriptors)

    def _keypoint_graph(self) -> tuple[Any, np.ndarray]:
        total = sum(len(o) for o in self._owners)
        if self._graph is None or self._stale > max(1024, total // 4):
            faiss.omp_set_num_threads(1)
            self._graph = faiss.IndexBinaryHNSW(256, _HNSW_LINKS)
            self._graph.hnsw.efSearch = _HNSW_SEARCH
            self._owners = []
            with_points = [(k, v) for k, v in self._values.items() if len(v.descriptors)]
            if with_points:
                self._graph.add(np.concatenate([v.descriptors for _, v in with_points]))
                self._owners = [
                    np.full(len(v.descriptors), k, dtype=np.int64) for k, v in with_points
                ]
            self._owner_array = None
            self._stale = 0
        if self._owner_array is None:
            self._owner_array = (
                np.concatenate(self._owners) if self._owners else np.zeros(0, np.int64)
            )
        return self._graph, self._owner_array

    def _voted(self, value: RobustPdq) -> list[int]:
        """Entries whose keypoints the query's keypoints point at most, best first."""
        if not len(value.descriptors):
            return []
        graph, owners = self._keypoint_graph()
        if not len(owners):
            return []
        chosen: list[int] = []
        sets = [value.descriptors]
        if self.mirrored_keypoints and len(value.mirrored_descriptors):
            sets.append(value.mirrored_descriptors)
        # Upright and mirrored keypoints vote separately: mixing them would let half of a
        # picture's votes go each way.
        for descriptors in sets:
            distances, rows = graph.search(descriptors, 1)
            close = (rows[:, 0] >= 0) & (distances[:, 0] <= VOTE_DISTANCE)
            voters = owners[rows[close, 0]]
            keys, votes = np.unique(voters, return_counts=True)
            order = np.argsort(-votes, kind="stable")[:VOTED_CANDIDATES]
            chosen += [
                int(keys[i])
                for i in order
                if votes[i] >= MIN_VOTES and int(keys[i]) in self._values and keys[i] not in chosen
            ]
        return chosen

    def __len__(self) -> int:
        return len(self._values)

    def _bank(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(words of banked views, entry key, True for the whole picture, PDQ quality)."""
        if self._packed is None:
            words, keys, whole, quality = [], [], [], []
            for key, value in self._values.items():
                banked = value.roles <= Role.REGION
                words.append(_words(value.hashes[banked]))
                keys.append(np.full(int(banked.sum()), key, dtype=np.int64))
                whole.append(value.roles[banked] == Role.FULL)
                quality.append(value.qualities[banked])
            if words:
                self._packed = (
                    np.concatenate(words),
                    np.concatenate(keys),
                    np.concatenate(whole),
                    np.concatenate(quality),
                )
            else:
                self._packed = (
                    np.zeros((0, 4), np.uint64),
                    np.zeros(0, np.int64),
                    np.zeros(0, bool),
                    np.zeros(0, np.uint8),
                )
        return self._packed

    def bank_views(self) -> int:
        """How many hashes the index holds (its size is 32 bytes each plus keypoints)."""
        return len(self._bank()[0])

    # --- matching -------------------------------------------------------------------------
    def query(self, value: RobustPdq, threshold: float | None = None) -> list[IndexMatch]:
        limit = int(self.threshold if threshold is None else threshold)
        words, keys, whole, quality = self._bank()
        if not len(words):
            return []
        whole_roles = [Role.FULL, Role.DIHEDRAL] if self.dihedral else [Role.FULL]
        query_whole = np.isin(value.roles, whole_roles)
        query_used = query_whole | (np.isin(value.roles, [Role.REGION, Role.PART]) & self.regions)
        query_words = _words(value.hashes[query_used])
        distances = np.bitwise_count(query_words[:, None, :] ^ words[None, :, :]).sum(axis=2)
        query_quality = value.qualities[query_used]
        whole_rows = query_whole[query_used]
        found: dict[int, IndexMatch] = {}

        # 1. Whole picture against whole picture, as plain PDQ, when both are informative:
        # flat pictures (solid colours, soft gradients) all hash alike.
        informative = (query_quality[:, None] >= MIN_QUALITY) & (quality[None, :] >= MIN_QUALITY)
        masked = np.where(informative, distances, 256)
        full_distance = masked[whole_rows][:, whole].min(axis=0)
        for key, distance in zip(keys[whole], full_distance, strict=True):
            if distance <= limit:
                found[int(key)] = IndexMatch(int(key), int(distance), {"via": "whole"})

        # 1b. A part of the query (collage cell, picture outlined in a screenshot) against the
        # whole banked picture, at the whole-picture threshold when both are detailed: a
        # dozen comparisons per entry, not the few hundred of view against view.
        if self.regions and self.verify:
            part_rows = value.roles[query_used] == Role.PART
            parts = self._unverified(
                distances[part_rows][:, whole], query_quality[part_rows], quality[whole]
            )
            if len(parts):
                for key, distance in zip(keys[whole], parts.min(axis=0), strict=True):
                    if distance <= limit and int(key) not in found:
                        found[int(key)] = IndexMatch(int(key), int(distance), {"via": "part"})

        # 2. Any view against any banked view: alone when very close and both views are
        # detailed, otherwise as a candidate for keypoint verification.
        query_rows = np.ones(len(whole_rows), bool) if self.regions else whole_rows
        bank_rows = np.ones(len(whole), bool) if self.regions else whole
        usable = masked[query_rows][:, bank_rows]
        row_keys = keys[bank_rows]
        strict = self._unverified(
            usable, query_quality[query_rows], quality[bank_rows]
        ).min(axis=0)
        best_per_row = usable.min(axis=0)
        order = np.argsort(best_per_row, kind="stable")
        candidates: dict[int, int] = {}
        cutoff = self.candidate_threshold if self.verify else limit
        for row in order:
            distance = int(best_per_row[row])
            if distance > cutoff or len(candidates) >= MAX_CANDIDATES:
                break
            key = int(row_keys[row])
            if key in found or key in candidates:
                continue
            if self.verify and strict[row] <= self.view_threshold:
                found[key] = IndexMatch(key, int(strict[row]), {"via": "view"})
                continue
            candidates[key] = distance
        if self.verify and self.keypoint_votes:
            for key in self._voted(value):
                if key not in found and key not in candidates:
                    candidates[key] = int(best_per_row[row_keys == key].min())
        for key, distance in candidates.items():
            if not self.verify:
                found[key] = IndexMatch(key, distance, {"via": "view"})
                continue
            entry = self._values[key]
            inliers = verify(value, entry, self.mirrored_keypoints, self.max_stretch)
            if inliers >= self.min_inliers:
                # Report at most the threshold so that scores stay within [0, 1]; the raw
                # hash distance and the geometric evidence go in the detail.
                found[key] = IndexMatch(
                    key,
                    min(distance, limit),
                    {"via": "keypoints", "view_distance": distance, "inliers": inliers},
                )
        return sorted(found.values(), key=lambda m: (m.distance, m.key))

    def _unverified(
        self, distances: np.ndarray, query_quality: np.ndarray, bank_quality: np.ndarray
    ) -> np.ndarray:
        """Distances usable without verification (256 for the others): between detailed
        views, and between plain ones within the flat-view threshold."""
        detailed = (query_quality >= DETAILED_QUALITY)[:, None] & (
            bank_quality >= DETAILED_QUALITY
        )[None, :]
        plain = (query_quality >= PLAIN_QUALITY)[:, None] & (bank_quality >= PLAIN_QUALITY)[None, :]
        close = plain & (distances <= self.flat_view_threshold)
        low = (query_quality >= MIN_QUALITY)[:, None] & (bank_quality >= MIN_QUALITY)[None, :]
        same = low & (distances <= self.low_view_threshold)
        return np.where(detailed | close | same, distances, 256)

    # --- snapshots ------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        from cordon.signals.pdq_robust import SIGNAL

        save_values(path, "pdq-robust index", SIGNAL, self._values, self.threshold)

    @classmethod
    def load(cls, path: Path) -> RobustPdqIndex:
        from cordon.signals.pdq_robust import SIGNAL

        threshold, items = load_values(path, "pdq-robust index", SIGNAL)
        index = cls(threshold=int(threshold))
        for key, value in items:
            index.add(key, value)
        return index

    def options(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "dihedral": self.dihedral,
            "regions": self.regions,
            "verify": self.verify,
            "keypoint_votes": self.keypoint_votes,
            "mirrored_keypoints": self.mirrored_keypoints,
            "candidate_threshold": self.candidate_threshold,
            "min_inliers": self.min_inliers,
            "max_stretch": self.max_stretch,
            "flat_view_threshold": self.flat_view_threshold,
            "low_view_threshold": self.low_view_threshold,
        }
