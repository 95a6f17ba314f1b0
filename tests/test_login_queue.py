"""A reconnect storm's line: with every login turn of the hub taken, a newcomer waits in
line, is told its place every few seconds (if it offered to hear it) and gets in when a turn
frees; the line is bounded in length and in time; a hub that keeps a client in line forever
is left with a clear error."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import trio
import trio.testing
from trio_websocket import WebSocketConnection, wrap_client_stream, wrap_server_stream

from gossip.client import events as ev
from gossip.client.errors import ConnectionLost, LoginFailed
from gossip.client.login import log_in
from gossip.client.profile import Profile
from gossip.client.transport import open_hub_link
from gossip.crypto import client_ssl_context
from gossip.crypto.hubcert import load_or_create_hub_certificate
from gossip.hub import HubConfig, Limits, RunningHub, serve_hub
from gossip.hub.loginqueue import LoginQueue
from gossip.wire import (
    LOGIN_QUEUE_SUBPROTOCOL,
    Greeting,
    HubHello,
    Queued,
    Welcome,
    decode_frame,
)

from .conftest import PASSWORD
from .rawmember import try_log_in


async def start_hub(nursery: trio.Nursery, config: HubConfig, **limits: object) -> RunningHub:
    """A hub with these limits; every test client comes from 127.0.0.1, so that address may
    have more than the usual two logins under way (or the line would be the address's)."""
    config = replace(config, limits=replace(Limits(), max_pending_logins_per_address=8,
                                            **limits))
    return await nursery.start(lambda task_status: serve_hub(config, task_status=task_status))


async def take_the_turn(nursery: trio.Nursery, hub: RunningHub) -> WebSocketConnection:
    """A connection through TLS and the WebSocket upgrade that then says nothing: it holds
    a login turn until its login times out."""
    stream = await trio.open_ssl_over_tcp_stream("127.0.0.1", hub.port,
                                                 ssl_context=client_ssl_context())
    ws = await wrap_client_stream(nursery, stream, "127.0.0.1", "/gossip")
    await trio.testing.wait_all_tasks_blocked()
    return ws


async def log_in_as(nursery: trio.Nursery, profile: Profile, port: int,
                    heard: list[tuple[int, float]], **options: float) -> str:
    """The real client's login (transport and login machine), recording each queue word."""
    link = await open_hub_link(nursery, "127.0.0.1", port, tls=True,
                               known_hubs=profile.known_hubs)
    try:
        return await log_in(link, profile.identity, PASSWORD,
                            on_queued=lambda place, wait: heard.append((place, wait)),
                            **{"timeout": 15.0, **options})
    finally:
        await link.abort()


async def test_a_client_in_line_hears_its_place_until_a_turn_frees(
        nursery, hub_config, profiles, autojump_clock):
    hub = await start_hub(nursery, hub_config, logins_at_once=1, handshake_timeout=12.0,
                          login_queue_word_interval=5.0)
    await take_the_turn(nursery, hub)  # a silent login: its turn ends when it times out
    heard: list[tuple[int, float]] = []
    started = trio.current_time()
    # The client's own timer (4 s a step) would have ended long before the turn came: each
    # word restarted it.
    assert await log_in_as(nursery, profiles("alice"), hub.port, heard, timeout=6.0) == \
        "test hub"
    assert trio.current_time() - started >= 12.0
    assert [place for place, _ in heard] == [1, 1, 1]  # at 0, 5 and 10 s; in at 12 s
    assert all(wait >= 0 for _, wait in heard)


async def test_a_client_that_did_not_offer_to_hear_waits_in_silence(nursery, hub_config):
    """Older clients know no queue word: they are never sent one, and get in as before."""
    hub = await start_hub(nursery, hub_config, logins_at_once=1)
    holder = await take_the_turn(nursery, hub)
    answers: list[object] = []
    answered = trio.Event()

    async def alice() -> None:
        _, answer = await try_log_in(nursery, hub, "alice")  # offers no subprotocol
        answers.append(answer)
        answered.set()

    nursery.start_soon(alice)
    await trio.testing.wait_all_tasks_blocked()
    assert answers == []  # her greeting waits, unread, and nothing came to her
    await holder.aclose()
    with trio.fail_after(20):
        await answered.wait()
    assert isinstance(answers[0], Welcome)  # her first frame from the hub was the hello


async def test_a_full_line_turns_a_newcomer_away_as_busy(nursery, hub_config, profiles):
    hub = await start_hub(nursery, hub_config, logins_at_once=1, login_queue_length=1)
    holder = await take_the_turn(nursery, hub)
    heard: list[tuple[int, float]] = []
    waiting = trio.Event()

    async def alice() -> None:
        await log_in_as(nursery, profiles("alice"), hub.port, heard)
        waiting.set()

    nursery.start_soon(alice)
    await trio.testing.wait_all_tasks_blocked()
    assert heard == [(1, heard[0][1])]  # alice holds the one place in line
    with pytest.raises(ConnectionLost, match="busy"):  # not final: try again, or elsewhere
        await log_in_as(nursery, profiles("bob"), hub.port, [])
    await holder.aclose()
    with trio.fail_after(20):
        await waiting.wait()


async def test_a_wait_in_line_is_bounded_by_the_hub(nursery, hub_config, profiles,
                                                    autojump_clock):
    hub = await start_hub(nursery, hub_config, logins_at_once=1, handshake_timeout=100.0,
                          login_queue_wait=30.0)
    await take_the_turn(nursery, hub)
    heard: list[tuple[int, float]] = []
    started = trio.current_time()
    with pytest.raises(ConnectionLost, match="busy"):
        await log_in_as(nursery, profiles("alice"), hub.port, heard)
    assert 30.0 <= trio.current_time() - started < 40.0
    assert len(heard) == 6  # every 5 s


# -- a lying hub ------------------------------------------------------------------------------
async def serve_liar(nursery: trio.Nursery, data_dir: Path, words: list[Queued],
                     *, after_hello: bool = False) -> int:
    """A hub with its own certificate that takes the queue subprotocol and, to every
    greeting, says `words` in a loop, one a second, for ever (after a hello, if asked)."""
    ssl_context = load_or_create_hub_certificate(data_dir, "liar").server_ssl_context()
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")

    async def lie(stream: trio.SocketStream) -> None:
        request = await wrap_server_stream(
            nursery, trio.SSLStream(stream, ssl_context, server_side=True))
        ws = await request.accept(subprotocol=LOGIN_QUEUE_SUBPROTOCOL)
        assert isinstance(decode_frame(await ws.get_message()), Greeting)
        if after_hello:
            await ws.send_message(HubHello(version=2, hub="liar", pake=b"S" + bytes(32))
                                  .encode())
        while True:
            for word in words:
                await ws.send_message(word.encode())
                await trio.sleep(1.0)

    nursery.start_soon(trio.serve_listeners, lie, listeners)
    return int(listeners[0].socket.getsockname()[1])


async def test_a_hub_that_keeps_a_client_in_line_for_ever_is_left(
        nursery, tmp_path, profiles, autojump_clock):
    # Words no hub could mean: a place past any line, a wait of ages, a negative one.
    port = await serve_liar(nursery, tmp_path / "liar", [
        Queued(place=2**31 - 1, wait=1e300), Queued(place=0, wait=-5.0)])
    heard: list[tuple[int, float]] = []
    started = trio.current_time()
    with pytest.raises(LoginFailed, match="kept us in its login queue") as failure:
        await log_in_as(nursery, profiles("alice"), port, heard, queue_limit=60.0)
    assert failure.value.code == "timeout"
    assert trio.current_time() - started == pytest.approx(60.0, abs=1.0)
    assert all(0.0 <= wait <= 60.0 for _, wait in heard)  # shown within what we would wait


async def test_a_queue_word_once_the_login_started_is_a_broken_hub(
        nursery, tmp_path, profiles, autojump_clock):
    port = await serve_liar(nursery, tmp_path / "liar", [Queued(place=1, wait=1.0)],
                            after_hello=True)
    with pytest.raises((ConnectionLost, LoginFailed)) as failure:
        await log_in_as(nursery, profiles("alice"), port, [])
    # The liar's PAKE message is not a point of the group: refused as such, or, should it
    # pass, the word after the hello breaks the protocol.
    assert "login" in str(failure.value)


# -- the line itself ----------------------------------------------------------------------------
async def test_places_count_only_those_still_ahead(autojump_clock):
    queue = LoginQueue(at_once=1, max_waiting=10)
    told: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    holding = trio.Event()
    release = trio.Event()

    async def holder() -> None:
        async with queue.turn(100.0) as turn:
            assert turn
            holding.set()
            await release.wait()

    async def waiter(name: str, scope: trio.CancelScope) -> None:
        with scope:
            async with queue.turn(100.0, tell=lambda place, wait: told[name].append(place),
                                  every=1.0) as turn:
                assert turn

    async with trio.open_nursery() as nursery:
        nursery.start_soon(holder)
        await holding.wait()
        scopes = {name: trio.CancelScope() for name in told}
        for name in told:
            nursery.start_soon(waiter, name, scopes[name])
            await trio.testing.wait_all_tasks_blocked()
        assert [told[name][-1] for name in told] == [1, 2, 3]
        scopes["b"].cancel()  # b gives up: c moves up, as its next word says
        await trio.sleep(1.5)
        assert (told["a"][-1], told["c"][-1]) == (1, 2)
        assert queue.waiting == 2
        release.set()
    assert queue.waiting == 0 and queue.under_way == 0


# -- the session ----------------------------------------------------------------------------------
async def test_a_member_whose_login_times_out_in_a_storm_keeps_coming_back(
        nursery, hub_config, profiles, connect, autojump_clock):
    """Back from a lost connection into a hub too busy to finish her login in time (here: the
    one turn held, and words rarer than her timer), alice tries again after her pause instead
    of giving up for good, and is in once the hub has a turn for her."""
    hub = await start_hub(nursery, hub_config, logins_at_once=1, handshake_timeout=600.0,
                          login_queue_word_interval=60.0)
    alice = await connect("alice", port=hub.port, login_timeout=3.0)
    holder = await take_the_turn(nursery, hub)
    for port in hub.registry.ports():  # her connection drops
        port.kick("slow", "a test drops the connection")  # type: ignore[attr-defined]
    first = await alice.next_event(ev.Disconnected)
    assert first.code == "reconnecting"
    timed_out = await alice.next_event(ev.Disconnected)  # the login that ran out of time
    assert timed_out.code == "reconnecting" and "in time" in timed_out.reason
    await holder.aclose()
    await alice.next_event(ev.Synced)
    assert alice.failure is None


async def test_a_member_in_a_hubs_login_line_is_told_its_place_until_it_is_in(
        nursery, hub_config, profiles, connect, autojump_clock):
    """The session passes the hub's words on (InLoginLine, which the status line shows)."""
    hub = await start_hub(nursery, hub_config, logins_at_once=1, handshake_timeout=12.0,
                          login_queue_word_interval=5.0)
    await take_the_turn(nursery, hub)
    alice = await connect("alice", port=hub.port, login_timeout=6.0, wait=False)
    told = await alice.next_event(ev.InLoginLine)
    assert told.place == 1 and told.wait >= 0
    await alice.next_event(ev.Synced)
    assert alice.failure is None
