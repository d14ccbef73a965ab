"""Exact Hamming range search over PDQ hashes by multi-index hashing.

Pigeonhole: split the 256 bits into 16 chunks of 16 bits; a hash within `r` bits of the query
has at least one chunk within `r // 16` bits of the query's chunk. Each chunk gets a lookup table
(rows grouped by chunk value, CSR style), a query probes every chunk value within `r // 16` bits
in every table, and the candidates are verified with a vectorised popcount. The result set is
exactly that of a brute-force scan; when the probes would touch most rows anyway the index scans.

Storage is an LSM of three parts so that writes never rebuild the large tables:
the *base* segment (bulk of the rows), a smaller *delta* segment, and a *buffer* of recent adds
that is scanned directly. Removals are tombstones; segments are rebuilt from their live rows
when the buffer, the delta or the tombstones outgrow their share.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from cordon.errors import CordonError
from cordon.index.base import IndexMatch, SignalIndex
from cordon.index.snapshot import snapshot_writer
from cordon.signals.pdq import PdqHash

BITS = 256
WORDS = 4
CHUNKS = 16
DEFAULT_THRESHOLD = 31
# A query hash of a flat picture (PDQ quality under this) matches nothing: flat pictures of any
# content hash alike, e.g. two different blank crops at distance 0.
MIN_QUERY_QUALITY = 20
# The order of `cordon.signals.pdq.hash_rgb_dihedral` (pdqhash's order).
DIHEDRAL_TRANSFORMS = (
    "original", "rot90", "rot180", "rot270", "flipx", "flipy", "flip+1", "flip-1",
)

_BUCKETS = 1 << 16
_BUFFER_CAP = 4096
_DELTA_MIN = 1 << 16
# Candidates beyond this share of the rows cost more to gather at random than a plain scan.
_SCAN_SHARE = 0.25
# Candidates verified in one step of a batched lookup: 2 MB of rows, which stay in cache.
_GROUP_CANDIDATES = 1 << 16
_SCAN_BLOCK = 1 << 18
_SNAPSHOT_FORMAT = "cordon-pdq-index"
_SNAPSHOT_VERSION = 2
# Version 1 kept row numbers as a uint16 low half and a narrow high half; read and converted.
_SNAPSHOT_VERSIONS = (1, 2)
_INT64 = np.iinfo(np.int64)
_TABLES = np.arange(CHUNKS)[None, :, None]
# Where each table's offsets start in the flattened (CHUNKS, _BUCKETS + 1) offsets.
_TABLE_STARTS = (np.arange(CHUNKS, dtype=np.intp) * (_BUCKETS + 1))[:, None]


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)))


def hashes_to_words(hexes: Sequence[str]) -> np.ndarray:
    """Pack 64-hex-character PDQ hashes into an (n, 4) uint64 array."""
    for text in hexes:
        if not isinstance(text, str) or len(text) != 64:
            raise CordonError(f"a pdq hash has 64 hex characters, got {text!r:.80}")
    try:
        raw = bytes.fromhex("".join(hexes))
    except ValueError:
        raise CordonError("a pdq hash may only hold hex characters") from None
    return np.frombuffer(raw, dtype=np.uint64).reshape(-1, WORDS).copy()


def words_to_hex(words: np.ndarray) -> list[str]:
    raw = np.ascontiguousarray(words, dtype=np.uint64).tobytes()
    return [raw[i : i + 32].hex() for i in range(0, len(raw), 32)]


def _distances(rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Hamming distances between (n, 4) rows and one (4,) query or (n, 4) queries."""
    # Column by column: an operation over (n, 4) runs NumPy's inner loop n times over 4
    # items, which made the XOR alone cost more than the popcounts and sums together (twice
    # the time of this form on 5,000 rows and on 262,144).
    single = query.ndim == 1
    out = np.bitwise_count(rows[:, 0] ^ (query[0] if single else query[:, 0])).astype(np.uint16)
    for word in range(1, WORDS):
        out += np.bitwise_count(rows[:, word] ^ (query[word] if single else query[:, word]))
    return out


@cache
def _flip_masks(radius: int) -> np.ndarray:
    """Every 16-bit XOR mask of at most `radius` bits, fewest bits first."""
    values = np.arange(_BUCKETS, dtype=np.uint32)
    weights = np.bitwise_count(values)
    order = np.argsort(weights, kind="stable")
    masks = values[order][weights[order] <= radius].astype(np.uint16)
    masks.setflags(write=False)
    return masks


def _check_threshold(threshold: float | None, default: int) -> int:
    if threshold is None:
        return default
    if isinstance(threshold, bool) or not float(threshold).is_integer() or not (
        0 <= threshold <= BITS
    ):
        raise CordonError(
            f"a pdq threshold is a whole number of bits from 0 to 256, got {threshold}"
        )
    return int(threshold)


def _check_keys(keys: Iterable[Any]) -> np.ndarray:
    out = []
    for key in keys:
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
            raise CordonError(f"an index key is a whole number, got {key!r:.80}")
        if not _INT64.min <= int(key) <= _INT64.max:
            raise CordonError(f"an index key must fit in 64 signed bits, got {key}")
        out.append(int(key))
    return np.array(out, dtype=np.int64)


def _sorted_unique_last(keys: np.ndarray, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort by key; when a key repeats, the last occurrence wins (like repeated `add`)."""
    if len(keys) > 1 and np.all(keys[1:] > keys[:-1]):
        return keys, words
    order = np.argsort(keys[::-1], kind="stable")
    keys_rev = keys[::-1][order]
    first = np.ones(len(keys_rev), dtype=bool)
    first[1:] = keys_rev[1:] != keys_rev[:-1]
    picked = (len(keys) - 1 - order)[first]
    return keys[picked], words[picked]


def _merge_sorted(
    a_keys: np.ndarray, a_words: np.ndarray, b_keys: np.ndarray, b_words: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Merge two key-sorted runs with disjoint keys in O(n) moves (no full re-sort)."""
    total = len(a_keys) + len(b_keys)
    b_pos = np.searchsorted(a_keys, b_keys) + np.arange(len(b_keys))
    a_mask = np.ones(total, dtype=bool)
    a_mask[b_pos] = False
    keys = np.empty(total, dtype=np.int64)
    words = np.empty((total, WORDS), dtype=np.uint64)
    keys[a_mask] = a_keys
    keys[b_pos] = b_keys
    words[a_mask] = a_words
    words[b_pos] = b_words
    return keys, words


@dataclass
class _Hits:
    """Matches of a batch of queries: parallel arrays, one row per (query, indexed row)."""

    query: np.ndarray
    keys: np.ndarray
    distance: np.ndarray

    @staticmethod
    def empty() -> _Hits:
        return _Hits(
            np.empty(0, np.intp), np.empty(0, np.int64), np.empty(0, np.uint16)
        )

    @staticmethod
    def concat(parts: list[_Hits]) -> _Hits:
        parts = [p for p in parts if len(p.query)]
        if not parts:
            return _Hits.empty()
        return _Hits(
            np.concatenate([p.query for p in parts]),
            np.concatenate([p.keys for p in parts]),
            np.concatenate([p.distance for p in parts]),
        )


class _Segment:
    """Immutable rows (sorted by key) with one chunk lookup table per 16-bit chunk.

    Table `t` lists the row numbers grouped by the value of chunk `t`; `offsets[t, v]` is
    where group `v` starts in the flat `members` array of row numbers (uint32: 4 bytes per row
    per table). An earlier layout split them into a uint16 and a uint8 half (3 bytes), which
    took two gathers and a shift per lookup: 20% of a one-query lookup on a 1M segment.
    """

    def __init__(
        self,
        keys: np.ndarray,
        words: np.ndarray,
        alive: np.ndarray,
        members: np.ndarray,
        offsets: np.ndarray,
    ) -> None:
        self.keys = keys
        self.words = words
        self.alive = alive
        self.members = members
        self.offsets = offsets
        self.dead = int(len(keys) - np.count_nonzero(alive))

    @property
    def rows(self) -> int:
        return len(self.keys)

    @property
    def live(self) -> int:
        return self.rows - self.dead

    @property
    def nbytes(self) -> int:
        arrays = (self.keys, self.words, self.alive, self.members, self.offsets)
        return sum(a.nbytes for a in arrays)

    @classmethod
    def build(cls, keys: np.ndarray, words: np.ndarray) -> _Segment:
        """Rows must be sorted by strictly increasing key."""
        rows = len(keys)
        if rows >= 1 << 32:
            raise CordonError("a pdq index segment holds fewer than 2**32 hashes")
        words = np.ascontiguousarray(words, dtype=np.uint64)
        chunks = words.view(np.uint16)
        members = np.empty(CHUNKS * rows, dtype=np.uint32)
        offsets = np.empty((CHUNKS, _BUCKETS + 1), dtype=np.int64)

        def fill(table: int) -> None:
            column = np.ascontiguousarray(chunks[:, table])
            # Stable order keeps each group's rows ascending: friendlier memory access later.
            order = np.argsort(column, kind="stable")
            base = table * rows
            offsets[table, 0] = base
            np.cumsum(np.bincount(column, minlength=_BUCKETS), out=offsets[table, 1:])
            offsets[table, 1:] += base
            members[base : base + rows] = order

        if rows >= 1 << 16:
            # NumPy sorts release the GIL, so the tables build in parallel.
            list(_pool().map(fill, range(CHUNKS)))
        else:
            for table in range(CHUNKS):
                fill(table)
        return cls(keys, words, np.ones(rows, dtype=bool), members, offsets)

    def live_rows(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.dead:
            return self.keys, self.words
        return self.keys[self.alive], self.words[self.alive]

    def locate(self, keys: np.ndarray) -> np.ndarray:
        """Row of each key, or -1 when the key has no live row here."""
        rows = np.searchsorted(self.keys, keys)
        found = rows < self.rows
        found[found] = self.keys[rows[found]] == keys[found]
        found[found] = self.alive[rows[found]]
        return np.where(found, rows, -1)

    def locate_one(self, key: int) -> int:
        row = int(np.searchsorted(self.keys, key))
        if row < self.rows and self.keys[row] == key and self.alive[row]:
            return row
        return -1

    def kill(self, rows: np.ndarray) -> None:
        rows = rows[self.alive[rows]]
        self.alive[rows] = False
        self.dead += len(np.unique(rows))

    def search(self, queries: np.ndarray, radius: int) -> _Hits:
        if not self.live:
            return _Hits.empty()
        if len(queries) == 1:
            return self.search_one(queries[0], radius)
        masks = _flip_masks(radius // CHUNKS)
        probes = (queries.view(np.uint16)[:, :, None] ^ masks).astype(np.intp)
        starts = self.offsets[_TABLES, probes].reshape(len(queries), -1)
        lengths = self.offsets[_TABLES, probes + 1].reshape(len(queries), -1) - starts
        per_query = lengths.sum(axis=1)
        scan = per_query > _SCAN_SHARE * self.rows
        parts = [self._scan(queries, np.flatnonzero(scan), radius)]
        probe = np.flatnonzero(~scan)
        # Small groups keep each group's candidates in cache; groups run on every core
        # (NumPy's gathers and popcounts release the GIL).
        cumulative = np.cumsum(per_query[probe])
        groups = []
        begin = 0
        while begin < len(probe):
            before = cumulative[begin - 1] if begin else 0
            end = max(begin + 1, int(np.searchsorted(cumulative, before + _GROUP_CANDIDATES)))
            groups.append(probe[begin:end])
            begin = end

        def run(group: np.ndarray) -> _Hits:
            return self._probe(queries, group, starts[group], lengths[group], radius)

        if len(groups) > 1:
            parts += _pool().map(run, groups)
        else:
            parts += [run(group) for group in groups]
        return _Hits.concat(parts)

    def search_one(self, query: np.ndarray, radius: int) -> _Hits:
        """`search` for one query: the node's match requests come one at a time, and the
        batched path's grouping, owner bookkeeping and thread pool cost more than the lookup
        itself for one query (about half the time on a 1M-row segment)."""
        masks = _flip_masks(radius // CHUNKS)
        probes = (query.view(np.uint16)[:, None] ^ masks).astype(np.intp)
        probes += _TABLE_STARTS
        # np.take rather than fancy indexing: the same gathers, with less set-up per call.
        offsets = self.offsets.ravel()
        starts = np.take(offsets, probes.ravel())
        lengths = np.take(offsets, probes.ravel() + 1)
        lengths -= starts
        ends = np.cumsum(lengths)
        total = int(ends[-1])
        if total > _SCAN_SHARE * self.rows:
            return self._scan(query[None, :], np.zeros(1, np.intp), radius)
        if not total:
            return _Hits.empty()
        # Positions of the probed buckets laid end to end (see `_probe`).
        ends -= lengths
        positions = np.repeat(starts - ends, lengths)
        positions += np.arange(total, dtype=np.intp)
        rows = np.take(self.members, positions)
        distance = _distances(np.take(self.words, rows, axis=0), query)
        near = np.flatnonzero(distance <= radius)
        rows, distance = rows[near], distance[near]
        if len(rows) > 1:
            # A row near the query usually sits in several probed buckets: report it once.
            rows, first = np.unique(rows, return_index=True)
            distance = distance[first]
        live = self.alive[rows]
        rows, distance = rows[live], distance[live]
        return _Hits(np.zeros(len(rows), np.intp), self.keys[rows], distance)

    def _probe(
        self,
        queries: np.ndarray,
        group: np.ndarray,
        starts: np.ndarray,
        lengths: np.ndarray,
        radius: int,
    ) -> _Hits:
        counts = lengths.sum(axis=1)
        starts = starts.ravel()
        lengths = lengths.ravel()
        total = int(counts.sum())
        if not total:
            return _Hits.empty()
        # Positions of all probed buckets laid end to end, without a Python loop.
        shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        positions = np.arange(total, dtype=np.intp)
        positions += shift
        rows = self.members[positions].astype(np.intp)
        candidates = np.take(self.words, rows, axis=0)
        if len(group) == 1:
            distance = _distances(candidates, queries[group[0]])
            owner = None
        else:
            owner = np.repeat(group, counts)
            distance = _distances(candidates, np.take(queries, owner, axis=0))
        near = np.flatnonzero(distance <= radius)
        rows = rows[near]
        distance = distance[near]
        owner = np.full(len(near), group[0]) if owner is None else owner[near]
        # A row near the query usually sits in several probed buckets: report it once.
        pair = owner.astype(np.int64) * self.rows + rows
        _, first = np.unique(pair, return_index=True)
        rows, distance, owner = rows[first], distance[first], owner[first]
        live = self.alive[rows]
        return _Hits(owner[live], self.keys[rows[live]], distance[live])

    def _scan(self, queries: np.ndarray, which: np.ndarray, radius: int) -> _Hits:
        parts = []
        for q in which:
            for begin in range(0, self.rows, _SCAN_BLOCK):
                block = self.words[begin : begin + _SCAN_BLOCK]
                distance = _distances(block, queries[q])
                near = np.flatnonzero(distance <= radius)
                near = near[self.alive[begin + near]]
                if len(near):
                    parts.append(
                        _Hits(np.full(len(near), q), self.keys[begin + near], distance[near])
                    )
        return _Hits.concat(parts)


class _Buffer:
    """Recent adds, scanned directly until there are enough to be worth a table build."""

    def __init__(self) -> None:
        self.keys = np.empty(0, dtype=np.int64)
        self.words = np.empty((0, WORDS), dtype=np.uint64)
        self.size = 0
        self.where: dict[int, int] = {}

    def _reserve(self, extra: int) -> None:
        need = self.size + extra
        if need <= len(self.keys):
            return
        capacity = max(need, 2 * len(self.keys), 64)
        keys = np.empty(capacity, dtype=np.int64)
        words = np.empty((capacity, WORDS), dtype=np.uint64)
        keys[: self.size] = self.keys[: self.size]
        words[: self.size] = self.words[: self.size]
        self.keys, self.words = keys, words

    def add(self, keys: np.ndarray, words: np.ndarray) -> None:
        """Keys must not be live here already."""
        self._reserve(len(keys))
        end = self.size + len(keys)
        self.keys[self.size : end] = keys
        self.words[self.size : end] = words
        self.where.update(zip(keys.tolist(), range(self.size, end), strict=True))
        self.size = end

    def remove(self, keys: Iterable[int]) -> int:
        removed = 0
        for key in keys:
            row = self.where.pop(key, None)
            if row is not None:
                removed += 1
        return removed

    def live(self) -> int:
        return len(self.where)

    def live_rows(self) -> tuple[np.ndarray, np.ndarray]:
        rows = np.fromiter(self.where.values(), dtype=np.intp, count=len(self.where))
        keys = self.keys[rows]
        order = np.argsort(keys)
        return keys[order], self.words[rows[order]]

    def search(self, queries: np.ndarray, radius: int) -> _Hits:
        if not self.where:
            return _Hits.empty()
        words = self.words[: self.size]
        parts = []
        for q in range(len(queries)):
            distance = _distances(words, queries[q])
            near = np.flatnonzero(distance <= radius)
            # Rows of removed or replaced keys stay in place until the buffer is flushed.
            near = np.array(
                [r for r in near.tolist() if self.where.get(int(self.keys[r])) == r],
                dtype=np.intp,
            )
            if len(near):
                parts.append(_Hits(np.full(len(near), q), self.keys[near], distance[near]))
        return _Hits.concat(parts)


def _empty_segment() -> _Segment:
    return _Segment.build(np.empty(0, np.int64), np.empty((0, WORDS), np.uint64))


class PdqIndex(SignalIndex[PdqHash]):
    """Exact PDQ Hamming range search: the same result set as a brute-force scan.

    Queries may run from several threads at once; writes need the caller's lock, as they
    swap segments that a concurrent query could be reading.
    """

    def __init__(self, threshold: int = DEFAULT_THRESHOLD) -> None:
        self.threshold = _check_threshold(threshold, DEFAULT_THRESHOLD)
        self._base = _empty_segment()
        self._delta = _empty_segment()
        self._buffer = _Buffer()

    # --- writing ---------------------------------------------------------------------------
    def add(self, key: int, value: PdqHash) -> None:
        # The one-entry path skips the array set-up of `add_arrays`: mirrors add one by one.
        if not isinstance(value, PdqHash):
            raise CordonError(f"a pdq index holds PdqHash values, got {type(value).__name__}")
        keys = _check_keys([key])
        words = hashes_to_words([value.hex])
        self._drop_one(int(keys[0]))
        self._buffer.add(keys, words)
        if self._buffer.live() >= _BUFFER_CAP:
            self._settle()

    def add_many(self, items: Iterable[tuple[int, PdqHash]]) -> None:
        pairs = list(items)
        for _, value in pairs:
            if not isinstance(value, PdqHash):
                raise CordonError(f"a pdq index holds PdqHash values, got {type(value).__name__}")
        self.add_arrays(
            _check_keys(k for k, _ in pairs), hashes_to_words([v.hex for _, v in pairs])
        )

    def add_arrays(self, keys: np.ndarray, words: np.ndarray) -> None:
        """Bulk add: int64 keys and their hashes as an (n, 4) uint64 array (`hashes_to_words`)."""
        keys = np.asarray(keys, dtype=np.int64).ravel()
        words = np.asarray(words, dtype=np.uint64)
        if words.shape != (len(keys), WORDS):
            raise CordonError("pdq index rows need one key per (4 x uint64) hash")
        if not len(keys):
            return
        keys, words = _sorted_unique_last(keys, words)
        self._drop(keys)
        if len(keys) >= _BUFFER_CAP:
            self._settle(extra=(keys, words))
        else:
            self._buffer.add(keys, words)
            self._settle()

    def remove(self, key: int) -> None:
        self._drop_one(int(_check_keys([key])[0]))
        self._settle()

    def _drop_one(self, key: int) -> None:
        if self._buffer.where.pop(key, None) is not None:
            return
        for segment in (self._base, self._delta):
            row = segment.locate_one(key)
            if row >= 0:
                segment.kill(np.array([row]))
                return

    def remove_many(self, keys: Iterable[int]) -> None:
        self._drop(_check_keys(keys))
        self._settle()

    def _drop(self, keys: np.ndarray) -> None:
        for segment in (self._base, self._delta):
            rows = segment.locate(keys)
            segment.kill(rows[rows >= 0])
        if self._buffer.where:
            self._buffer.remove(keys.tolist())

    def _settle(self, extra: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Move rows down the LSM when a level has outgrown its share; rebuild dead weight."""
        flush = extra is not None or self._buffer.live() >= _BUFFER_CAP
        delta_dirty = self._delta.dead > self._delta.rows // 2
        if not (flush or delta_dirty):
            if self._base.dead > self._base.rows // 4:
                self._base = _Segment.build(*self._base.live_rows())
            return
        keys, words = self._delta.live_rows()
        if flush:
            keys, words = _merge_sorted(keys, words, *self._buffer.live_rows())
            self._buffer = _Buffer()
        if extra is not None:
            keys, words = _merge_sorted(keys, words, *extra)
        if len(keys) > max(_DELTA_MIN, self._base.live // 8) or (
            self._base.dead > self._base.rows // 4
        ):
            self._base = _Segment.build(*_merge_sorted(*self._base.live_rows(), keys, words))
            self._delta = _empty_segment()
        else:
            self._delta = _Segment.build(keys, words)

    def compact(self) -> None:
        """Fold every row into the base segment and drop tombstones."""
        keys, words = _merge_sorted(*self._delta.live_rows(), *self._buffer.live_rows())
        self._base = _Segment.build(*_merge_sorted(*self._base.live_rows(), keys, words))
        self._delta = _empty_segment()
        self._buffer = _Buffer()

    # --- reading ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._base.live + self._delta.live + self._buffer.live()

    @property
    def nbytes(self) -> int:
        """Memory held by the index arrays (the buffer's key map aside)."""
        buffer = self._buffer.keys.nbytes + self._buffer.words.nbytes
        return self._base.nbytes + self._delta.nbytes + buffer

    def __contains__(self, key: object) -> bool:
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
            return False
        if key in self._buffer.where:
            return True
        probe = np.array([key], dtype=np.int64)
        return bool(self._base.locate(probe)[0] >= 0 or self._delta.locate(probe)[0] >= 0)

    def query(self, value: PdqHash, threshold: float | None = None) -> list[IndexMatch]:
        """Matches of one hash, closest first. The node's requests are one hash each: this
        skips the batch's packing, sorting by query and cutting into runs (a sixth of the
        lookup's time on a 1M-row index)."""
        if not isinstance(value, PdqHash):
            raise CordonError(f"a pdq query is a PdqHash, got {type(value).__name__}")
        if value.quality is not None and value.quality < MIN_QUERY_QUALITY:
            return []
        radius = _check_threshold(threshold, self.threshold)
        query = hashes_to_words([value.hex])[0]
        parts = [part.search_one(query, radius) for part in (self._base, self._delta) if part.live]
        if self._buffer.live():
            parts.append(self._buffer.search(query[None, :], radius))
        hits = _Hits.concat(parts)
        if len(hits.keys) > 1:
            order = np.lexsort((hits.keys, hits.distance))
            hits = _Hits(hits.query, hits.keys[order], hits.distance[order])
        return [IndexMatch(int(k), int(d))
                for k, d in zip(hits.keys.tolist(), hits.distance.tolist(), strict=True)]

    def query_many(
        self, values: Sequence[PdqHash], threshold: float | None = None
    ) -> list[list[IndexMatch]]:
        """Batched `query`: one list of matches (closest first) per value."""
        for value in values:
            if not isinstance(value, PdqHash):
                raise CordonError(f"a pdq query is a PdqHash, got {type(value).__name__}")
        words = hashes_to_words([v.hex for v in values])
        return [
            []
            if value.quality is not None and value.quality < MIN_QUERY_QUALITY
            else [
                IndexMatch(int(k), int(d))
                for k, d in zip(keys.tolist(), dist.tolist(), strict=True)
            ]
            for value, (keys, dist) in zip(values, self.query_arrays(words, threshold), strict=True)
        ]

    def query_arrays(
        self, words: np.ndarray, threshold: float | None = None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """The fast path: (keys, distances) per (4 x uint64) query row, closest first."""
        radius = _check_threshold(threshold, self.threshold)
        words = np.ascontiguousarray(words, dtype=np.uint64).reshape(-1, WORDS)
        hits = _Hits.concat(
            [part.search(words, radius) for part in (self._base, self._delta, self._buffer)]
        )
        # Sort by query, then distance, then key, and cut into one run per query.
        order = np.lexsort((hits.keys, hits.distance, hits.query))
        query, keys, distance = hits.query[order], hits.keys[order], hits.distance[order]
        bounds = np.searchsorted(query, np.arange(len(words) + 1))
        return [
            (keys[bounds[i] : bounds[i + 1]], distance[bounds[i] : bounds[i + 1]].astype(np.int64))
            for i in range(len(words))
        ]

    def query_dihedral(
        self, values: Sequence[PdqHash], threshold: float | None = None
    ) -> list[IndexMatch]:
        """Query with the hashes of the 8 rotations/flips of one image
        (`cordon.signals.pdq.hash_rgb_dihedral`); each match names the closest transform."""
        if len(values) != len(DIHEDRAL_TRANSFORMS):
            raise CordonError(f"a dihedral query has 8 hashes, got {len(values)}")
        best: dict[int, tuple[int, int]] = {}
        for transform, matches in enumerate(self.query_many(values, threshold)):
            for match in matches:
                seen = best.get(match.key)
                if seen is None or match.distance < seen[0]:
                    best[match.key] = (int(match.distance), transform)
        ranked = sorted(best.items(), key=lambda item: (item[1][0], item[0]))
        return [
            IndexMatch(key, distance, {"transform": DIHEDRAL_TRANSFORMS[transform]})
            for key, (distance, transform) in ranked
        ]

    # --- snapshots -------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """One file of consecutive .npy arrays: loading is a straight read, no table rebuild."""
        path = Path(path)
        base = self._base
        extra_keys, extra_words = _merge_sorted(
            *self._delta.live_rows(), *self._buffer.live_rows()
        )
        meta = {
            "format": _SNAPSHOT_FORMAT,
            "version": _SNAPSHOT_VERSION,
            "threshold": self.threshold,
            "rows": base.rows,
            "extra": len(extra_keys),
        }
        arrays = [
            np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            base.keys, base.words, base.alive, base.members, base.offsets,
            extra_keys, extra_words,
        ]
        with snapshot_writer(path, "pdq index") as out:
            for array in arrays:
                np.save(out, np.ascontiguousarray(array), allow_pickle=False)

    @classmethod
    def load(cls, path: Path) -> PdqIndex:
        path = Path(path)
        try:
            with open(path, "rb") as source:
                meta = _read_meta(source, path)
                rows, extra = meta["rows"], meta["extra"]
                members = (
                    [("members", np.uint32, (CHUNKS * rows,))]
                    if meta["version"] == _SNAPSHOT_VERSION
                    else [
                        ("lo", np.uint16, (CHUNKS * rows,)),
                        ("hi", np.uint8 if rows <= (1 << 24) else np.uint16, (CHUNKS * rows,)),
                    ]
                )
                expect = [
                    ("keys", np.int64, (rows,)),
                    ("words", np.uint64, (rows, WORDS)),
                    ("alive", np.bool_, (rows,)),
                    *members,
                    ("offsets", np.int64, (CHUNKS, _BUCKETS + 1)),
                    ("extra keys", np.int64, (extra,)),
                    ("extra words", np.uint64, (extra, WORDS)),
                ]
                arrays = [_read_array(source, path, *spec) for spec in expect]
        except OSError as exc:
            raise CordonError(
                f"cannot read the pdq index snapshot {path}: {exc.strerror}"
            ) from None
        if len(arrays) == 8:  # version 1: row numbers in two halves
            lo, hi = arrays.pop(3), arrays.pop(3)
            arrays.insert(3, lo.astype(np.uint32) | (hi.astype(np.uint32) << 16))
        keys, words, alive, members, offsets, extra_keys, extra_words = arrays
        _check_segment(path, keys, members, offsets)
        if extra and not np.all(extra_keys[1:] > extra_keys[:-1]):
            raise CordonError(f"{path} is a damaged pdq index snapshot (unsorted keys)")
        index = cls(threshold=meta["threshold"])
        index._base = _Segment(keys, words, alive, members, offsets)
        if extra:
            index.add_arrays(extra_keys, extra_words)
        return index


def _read_meta(source: Any, path: Path) -> dict[str, Any]:
    try:
        raw = np.load(source, allow_pickle=False)
        meta = json.loads(raw.tobytes().decode())
    except (ValueError, EOFError, UnicodeDecodeError, AttributeError):
        raise CordonError(f"{path} is not a pdq index snapshot") from None
    if not isinstance(meta, dict) or meta.get("format") != _SNAPSHOT_FORMAT:
        raise CordonError(f"{path} is not a pdq index snapshot")
    if meta.get("version") not in _SNAPSHOT_VERSIONS:
        raise CordonError(
            f"{path} is a pdq index snapshot of unsupported version {meta.get('version')}"
        )
    for name in ("rows", "extra", "threshold"):
        value = meta.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise CordonError(f"{path} is a damaged pdq index snapshot (bad {name})")
    if meta["threshold"] > BITS:
        raise CordonError(f"{path} is a damaged pdq index snapshot (bad threshold)")
    return meta


def _read_array(source: Any, path: Path, name: str, dtype: Any, shape: tuple[int, ...]) -> Any:
    try:
        array = np.load(source, allow_pickle=False)
    except (ValueError, EOFError):
        raise CordonError(f"{path} is a damaged pdq index snapshot (cannot read {name})") from None
    if array.dtype != np.dtype(dtype) or array.shape != shape:
        raise CordonError(f"{path} is a damaged pdq index snapshot ({name} has the wrong shape)")
    return array


def _check_segment(
    path: Path, keys: np.ndarray, members: np.ndarray, offsets: np.ndarray
) -> None:
    """Cheap consistency checks, so a damaged file fails here rather than in a query."""
    rows = len(keys)
    damaged = f"{path} is a damaged pdq index snapshot"
    if rows > 1 and not np.all(keys[1:] > keys[:-1]):
        raise CordonError(f"{damaged} (unsorted keys)")
    bases = np.arange(CHUNKS, dtype=np.int64) * rows
    if not (
        np.array_equal(offsets[:, 0], bases)
        and np.array_equal(offsets[:, -1], bases + rows)
        and np.all(np.diff(offsets, axis=1) >= 0)
    ):
        raise CordonError(f"{damaged} (bad table offsets)")
    # Row numbers beyond the rows would turn a query into an out-of-bounds read.
    if len(members) and int(members.max()) >= rows:
        raise CordonError(f"{damaged} (bad row numbers)")
