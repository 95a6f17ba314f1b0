"""The hub's garbage-collector policy (gossip/hub/heap.py): what is alive is frozen out of the
collector's sight, and garbage frozen with it is reclaimed once enough connections ended or
enough time passed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
import trio

from gossip.hub.heap import HeapKeeper, HeapPolicy


class _Cycle:
    """An object that only the cyclic collector can free (it refers to itself)."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    yield
    gc.unfreeze()  # the test process's collector as it was


class _Hub:
    def __init__(self) -> None:
        self.open = 100
        self.ended = 0


async def test_live_state_is_frozen_and_garbage_frozen_with_it_is_reclaimed_after_churn(
    autojump_clock, nursery
):
    hub = _Hub()
    policy = HeapPolicy(period=1.0, churn=0.25, max_age=3600.0)
    keeper = HeapKeeper(lambda: hub.open, lambda: hub.ended, policy)
    # A connection's state with a cycle in it, alive (held) when the keeper freezes.
    held = _Cycle()
    gone = weakref.ref(held)
    nursery.start_soon(keeper.run)
    await trio.sleep(1.5)
    assert gc.get_freeze_count() > 0
    # The connection ends: its cycle is garbage, but frozen, so no collection sees it.
    del held
    gc.collect()
    assert gone() is not None
    # A few connections ended (under a quarter of those open): still frozen, however long.
    hub.ended = 20
    await trio.sleep(policy.min_gap + 5.0)
    assert keeper.full_collections == 0 and gone() is not None
    # A quarter of them have ended: one full collection over everything reclaims it.
    hub.ended = 26
    await trio.sleep(1.0)
    assert keeper.full_collections == 1 and gone() is None
    # Churn again at once: the next one waits out the least gap (whoever opens and closes
    # connections cannot make the hub walk its whole heap every period).
    hub.ended = 60
    await trio.sleep(policy.min_gap / 2)
    assert keeper.full_collections == 1
    await trio.sleep(policy.min_gap / 2 + 1.0)
    assert keeper.full_collections == 2


async def test_garbage_frozen_without_churn_lives_no_longer_than_the_policy_says(
    autojump_clock, nursery
):
    hub = _Hub()
    keeper = HeapKeeper(lambda: hub.open, lambda: hub.ended,
                        HeapPolicy(period=1.0, churn=0.25, max_age=60.0))
    held = _Cycle()
    gone = weakref.ref(held)
    nursery.start_soon(keeper.run)
    await trio.sleep(1.5)
    del held
    await trio.sleep(30.0)
    assert gone() is not None  # frozen, no connection ended
    await trio.sleep(30.0)
    assert keeper.full_collections == 1 and gone() is None


async def test_young_garbage_is_collected_not_frozen(autojump_clock, nursery):
    hub = _Hub()
    keeper = HeapKeeper(lambda: hub.open, lambda: hub.ended, HeapPolicy(period=1.0))
    young = _Cycle()
    gone = weakref.ref(young)
    del young
    nursery.start_soon(keeper.run)
    await trio.sleep(1.5)
    assert gone() is None
