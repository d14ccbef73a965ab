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


def test_entries_cost_the_collector_nothing_per_entry() -> None:
    rng = random.Random(5)
    pairs = [(i, _pdq(rng)) for i in range(1, 20_001)]
    matcher = Matcher()
    gc.collect()
    before = len(gc.get_objects())
    matcher.add_many("pdq", pairs)
    for i in range(20_001, 20_101):
        matcher.add(i, {"pdq": _pdq(rng)})
    gc.collect()
    assert len(matcher) == 20_100
    # The PDQ index is arrays; a set per entry would be 20,100 objects here.
    assert len(gc.get_objects()) - before < 2_000


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
