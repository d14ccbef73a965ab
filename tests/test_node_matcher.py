"""The matcher's bookkeeping of which signal types each entry has: correct across signal
types, and without an object per entry for the garbage collector to walk (a node holds a
million entries; a full collection walks every tracked object)."""

from __future__ import annotations

import gc
import random

from cordon.matching import Matcher
from cordon.signals import get_signal_type

PDQ = get_signal_type("pdq")
MD5 = get_signal_type("md5")


def _pdq(rng: random.Random) -> object:
    return PDQ.parse(f"{rng.getrandbits(256):064x}")


def _collector_work(root: object) -> int:
    """References the garbage collector follows through the tracked objects reachable from
    `root`: what each full collection walks (untracked objects, e.g. arrays, ints, dicts of
    ints, are not walked)."""
    seen: set[int] = set()
    todo, work = [root], 0
    while todo:
        obj = todo.pop()
        if id(obj) in seen or not gc.is_tracked(obj):
            continue
        seen.add(id(obj))
        referents = gc.get_referents(obj)
        work += len(referents)
        todo.extend(referents)
    return work


def test_entries_cost_the_collector_nothing_per_entry() -> None:
    rng = random.Random(5)
    small, large = Matcher(), Matcher()
    small.add_many("pdq", [(i, _pdq(rng)) for i in range(1, 101)])
    large.add_many("pdq", [(i, _pdq(rng)) for i in range(1, 20_001)])
    for matcher, first in ((small, 101), (large, 20_001)):
        for i in range(first, first + 100):
            matcher.add(i, {"pdq": _pdq(rng)})
    assert len(large) == 20_100
    # The same for 200 entries and 20,100: nothing per entry (a set per entry, or a dict of
    # them, would be 20,000 references more).
    assert _collector_work(large) <= _collector_work(small) + 100


def test_entries_of_several_signal_types_are_matched_and_removed_by_each() -> None:
    rng = random.Random(6)
    both, pdq_only = _pdq(rng), _pdq(rng)
    matcher = Matcher()
    matcher.add_many("pdq", [(1, both), (2, pdq_only)])
    matcher.add_many("md5", [(1, MD5.parse("0" * 32)), (3, MD5.parse("1" * 32))])
    assert matcher.sizes() == {"pdq": 2, "md5": 2}
    assert {m.entry_id for m in matcher.match({"pdq": both, "md5": MD5.parse("0" * 32)})} == {1}
    matcher.remove(1)
    assert matcher.sizes() == {"pdq": 1, "md5": 1}
    assert matcher.match({"pdq": both}) == [] == matcher.match({"md5": MD5.parse("0" * 32)})
    matcher.add(3, {"pdq": both})  # replaces entry 3's md5 value
    assert matcher.sizes() == {"pdq": 2, "md5": 0}
    assert [m.entry_id for m in matcher.match({"pdq": both})] == [3]
    assert len(matcher) == 2
