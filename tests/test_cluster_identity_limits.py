"""One identity signed in on several hubs of a cluster gets no more than on one: its
connections are capped over the whole cluster, and each hub allows its share of the
identity's budgets (a real redis-server, two hubs)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gossip.hub import HubConfig
from gossip.hub.cluster.backend import Admitted, TwoStepAdmission
from gossip.hub.config import Limits
from gossip.hub.names import Claim
from gossip.wire import Error, Key, Message, Welcome

from .rawmember import log_in, next_of, try_log_in
from .redisserver import RedisServer, needs_redis
from .test_cluster import hub_b, redis_server  # noqa: F401  (fixtures)

pytestmark = needs_redis

BURST = 8  # the identity's channel message burst (with its rate near zero, all it has)


@pytest.fixture
def hub_config(redis_server: RedisServer, hub_config: HubConfig) -> HubConfig:  # noqa: F811
    return replace(
        hub_config,
        redis=redis_server.url,
        cluster_ttl=1.5,
        limits=Limits(
            connections_per_identity=3,
            channel_message_burst=BURST,
            channel_messages_per_second=0.01,
        ),
    )


async def test_an_identitys_connections_are_capped_over_the_whole_cluster(
    nursery, hub, hub_b  # noqa: F811
):
    desk, _laptop = [await log_in(nursery, hub, "dana") for _ in range(2)]
    await log_in(nursery, hub_b, "dana")
    # Three in all: a fourth is refused on either hub, though each holds fewer than three.
    for where in (hub_b, hub):
        _, answer = await try_log_in(nursery, where, "dana")
        assert isinstance(answer, Error) and answer.code == "too_many_connections"
        assert "1 of them on other hubs" in answer.reason or "2 of them on other" in answer.reason
    assert (hub.registry.connections_of("dana"), hub_b.registry.connections_of("dana")) == (2, 1)
    # One closes on hub A: its place is free on hub B.
    await desk.aclose()
    await hub.wait_connections_at_most(1)
    assert hub.cluster is not None
    await hub.cluster.written()
    _, answer = await try_log_in(nursery, hub_b, "dana")
    assert isinstance(answer, Welcome)


async def test_an_identity_on_two_hubs_shares_its_budgets_between_them(
    nursery, hub, hub_b  # noqa: F811
):
    reader = await log_in(nursery, hub, "fred")
    watcher = await log_in(nursery, hub_b, "gil")
    on_a = await log_in(nursery, hub, "eve")
    # Hub B has heard of eve on hub A (its member is told her key) before she signs in there,
    # and hub A hears of her on hub B (her connection there is told her key again).
    await next_of(watcher, Key, matching=lambda key: key.user == "eve")
    on_b = await log_in(nursery, hub_b, "eve")
    await next_of(on_a, Key, matching=lambda key: key.user == "eve")

    # Each hub allows half the burst: six sent from each device, four pass on each.
    for index in range(6):
        for device in (on_a, on_b):
            await device.send_message(
                Message(channel="general", blob=b"%d" % index, ref=bytes(16)).encode()
            )
    for device in (on_a, on_b):
        refused = [await next_of(device, Error) for _ in range(2)]
        assert {error.code for error in refused} == {"channel_rate"}
    passed = [(await next_of(reader, Message)).blob for _ in range(BURST)]
    assert sorted(passed) == sorted([b"%d" % index for index in range(4)] * 2)
    # And no ninth: a message from someone else is the next thing the reader gets.
    await watcher.send_message(Message(channel="general", blob=b"gil", ref=bytes(16)).encode())
    assert (await next_of(reader, Message)).blob == b"gil"



async def test_a_logins_name_claim_and_count_in_one_step_answer_as_the_two_did(
    hub, hub_b  # noqa: F811
):
    """The one-round-trip script (claim, then count) against the two scripts it replaced, on
    the same Redis: the same answers for a free name, its own key, another key under the name,
    the key under another name, and the cap over both hubs."""
    one, other = hub.cluster, hub_b.cluster
    assert one is not None and other is not None
    two_step = TwoStepAdmission(one, one)
    for name, admission in (("erin", one), ("fred", two_step)):
        first, second = f"{name.upper():A<40}", f"{name.upper():B<40}"
        assert await admission.admit(name, first, 1, 2) == Admitted(Claim.REGISTERED)
        assert await admission.admit(name, first, 2, 2) == Admitted(Claim.OWNED)
        # Another key under the bound name, or the key under another name: refused, and
        # nothing counted for either.
        assert await admission.admit(name, second, 1, 2) == Admitted(Claim.NAME_TAKEN, first)
        assert await admission.admit(name + "2", first, 1, 2) == Admitted(Claim.KEY_TAKEN, name)
        # Two connections counted on the first hub: the other hub may not add one.
        assert await other.admit(name, first, 1, 2) == Admitted(Claim.OWNED, "", 2)
        assert await other.admit(name, second, 1, 2) == Admitted(Claim.NAME_TAKEN, first)
