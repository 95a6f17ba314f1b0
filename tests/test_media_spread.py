"""The jitter buffer's transit spread kept in constant time (gossip.media.spread): the same
value as max minus min over the window, for any stream of values."""

from __future__ import annotations

import collections

from hypothesis import given
from hypothesis import strategies as st

from gossip.media.spread import SlidingSpread

VALUES = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(st.integers(min_value=1, max_value=12),
       st.lists(st.one_of(VALUES, st.none()), max_size=200))
def test_the_spread_is_max_minus_min_of_the_window_after_every_value(
        size: int, values: list[float | None]) -> None:
    window = SlidingSpread(size)
    plain: collections.deque[float] = collections.deque(maxlen=size)
    for value in values:
        if value is None:  # a restart: the window starts empty
            window.clear()
            plain.clear()
            continue
        window.append(value)
        plain.append(value)
        assert len(window) == len(plain)
        expected = max(plain) - min(plain) if len(plain) >= 2 else 0.0
        assert window.spread == expected


def test_a_repeated_extreme_stays_until_its_last_copy_leaves() -> None:
    window = SlidingSpread(3)
    for value in (5.0, 1.0, 5.0, 2.0, 3.0):
        window.append(value)
    assert window.spread == 3.0  # 5, 2, 3: the second 5 is still in
    window.append(4.0)
    assert window.spread == 2.0  # 2, 3, 4
