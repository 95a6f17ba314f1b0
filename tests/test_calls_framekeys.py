"""Frame keys in real calls: sealed media is heard, keys change as people join and leave,
and a member whose frames do not open is shown as such (real hub, sessions, aiortc links)."""

from __future__ import annotations

import trio

from gossip.client import events as ev
from gossip.client.calltypes import CallOptions, LeaveCall, SetMuted
from gossip.client.commands import JoinCall
from gossip.crypto.frames import STEP_BITS
from gossip.media.sources import ToneSource
from gossip.wire import Ice
from gossip.wire.frames import decode_frame

from .test_calls import (
    BOUND,
    LOOPBACK,
    Member,
    WatchedSink,
    connected,
    join,
    media_loop,  # noqa: F401 - a fixture
    peer_says,
    settles_on,
)


async def test_sealed_three_way_call_rekeys_on_join_and_leave(media_loop, connect):  # noqa: F811
    tones = {"ann": 300.0, "ben": 600.0, "cat": 900.0}
    candidates = tuple(tones.values())
    clients = {name: await connect(name) for name in tones}
    ann = await join(clients["ann"], tones["ann"])
    ben = await join(clients["ben"], tones["ben"])
    await connected(ann, "ben")
    before_cat = (await ann.state()).frame_key_id
    assert before_cat is not None
    cat = await join(clients["cat"], tones["cat"])
    members = {"ann": ann, "ben": ben, "cat": cat}
    for name, member in members.items():
        if name != "ann":
            await connected(member, *(other for other in tones if other != name))
    for name, member in members.items():
        await settles_on(member, candidates, {hz for o, hz in tones.items() if o != name})
        state = await member.state()
        for peer in state.peers.values():
            assert peer.frame_keys == "keyed", (name, peer)
    # Cat joined: ann ratcheted (same generation, next step), and ben followed unasked.
    after_cat = (await ann.state()).frame_key_id
    assert after_cat is not None
    assert after_cat >> STEP_BITS == before_cat >> STEP_BITS and after_cat > before_cat
    # Ben leaves: ann and cat take fresh keys (a new generation) and hand them to each other.
    await ben.call.tell(LeaveCall())
    for member in (ann, cat):
        assert (await member.client.next_event(ev.CallPeerLeft)).user == "ben"
    fresh = (await ann.state()).frame_key_id
    assert fresh is not None and fresh >> STEP_BITS > after_cat >> STEP_BITS
    await settles_on(ann, candidates, {900.0})
    await settles_on(cat, candidates, {300.0})


async def test_a_member_whose_frames_do_not_open_is_shown_as_such(media_loop, connect):  # noqa: F811
    ann, ben = await connect("ann"), await connect("ben")
    a = await join(ann, 300.0)
    sink = WatchedSink()
    # Ben's client seals nothing (as a broken or hostile client might): ann cannot open it.
    options = CallOptions(
        source=ToneSource(600.0), sink=sink, ice_hosts=LOOPBACK, frame_encryption=False
    )
    b = Member("ben", 600.0, ben, await ben.session.ref.ask(JoinCall("general", options)), sink)
    await connected(a, "ben")
    with trio.fail_after(BOUND):
        event = await ann.next_event(ev.CallPeerUndecryptable)
    assert event.user == "ben" and event.reason in ("malformed", "bad_tag", "unknown_key")
    state = await a.state()
    assert state.peers["ben"].frame_keys == "failing"
    assert state.peers["ben"].frames_undecryptable >= 50
    assert not any(await a.sink.fresh())  # nothing of ben's is played
    del b


async def test_a_frame_key_the_hub_replays_after_a_rekey_is_refused_and_the_newer_kept(
    media_loop, connect, hub  # noqa: F811
):
    """A lying hub keeps every sealed, signed signal and, once a member left and the rest took
    fresh keys, replays the earlier ones: the key is not rolled back (the leaver would read
    us again), each replay is refused and counted, and one from the leaver, no longer in
    the call, is refused without being opened. Nor is a member's word on what they send
    rolled back (ann muted since: her replayed "not muted" from link-up stays unheeded)."""
    send_to = hub.registry.send_to
    kept: list[tuple[str, str, bytes, dict]] = []  # (to, from, frame, routing)
    recording = True

    def keep(user, data, **routing):
        frame = decode_frame(data)
        if recording and isinstance(frame, Ice):
            kept.append((user, frame.peer, data, routing))
        return send_to(user, data, **routing)

    hub.registry.send_to = keep
    tones = {"ann": 300.0, "ben": 600.0, "cat": 900.0}
    clients = {name: await connect(name) for name in tones}
    members = {name: await join(clients[name], hz) for name, hz in tones.items()}
    for name, member in members.items():
        await connected(member, *(other for other in tones if other != name))
    ann, ben, cat = members["ann"], members["ben"], members["cat"]
    await settles_on(ben, tuple(tones.values()), {300.0, 900.0})
    old_key = (await ben.state()).peers["ann"].frame_key_id
    assert old_key is not None

    recording = False
    await cat.call.tell(LeaveCall())
    assert (await ben.client.next_event(ev.CallPeerLeft)).user == "cat"
    fresh = (await ann.state()).frame_key_id
    assert fresh is not None and fresh >> STEP_BITS > old_key >> STEP_BITS
    with trio.fail_after(BOUND):  # ann's fresh key reaches ben
        while (await ben.state()).peers["ann"].frame_key_id != fresh:
            await ben.sink.fresh(1)

    await ann.call.ask(SetMuted(True))
    await peer_says(ben, "ann", muted=True)

    # The hub replays to ben what cat, then ann, sent him before cat left.
    for to, sender, data, routing in kept:
        if to == "ben" and sender == "cat":
            send_to(to, data, **routing)
    for to, sender, data, routing in kept:
        if to == "ben" and sender == "ann":
            send_to(to, data, **routing)
    refused = await ben.client.next_event(
        ev.CallSignalRejected, lambda e: e.reason == "replayed")
    assert refused.user == "ann"
    state = await ben.state()
    assert state.peers["ann"].frame_key_id == fresh  # no rollback
    assert state.signals_refused["replayed"] >= 1 and state.signals_refused["not_in_call"] >= 1
    with trio.fail_after(BOUND):  # her word at link-up came after that key: taken later
        while not state.signals_refused.get("media_state_older"):
            await ben.sink.fresh(1)
            state = await ben.state()
    assert state.peers["ann"].muted is True  # her older word was dropped
    await ann.call.ask(SetMuted(False))
    await settles_on(ben, tuple(tones.values()), {300.0})  # ann is heard under the fresh key
