"""The hub's limits: each one enforced with a specific refusal, the hub serving on."""

from __future__ import annotations

import logging
import ssl
from dataclasses import replace

import pytest
import trio
import trio.testing

from gossip.client import events as ev
from gossip.client.commands import SendChat
from gossip.hub import Limits
from gossip.wire import Message

UPGRADE = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def _tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context


@pytest.fixture
def hub_config(hub_config):
    return replace(hub_config, limits=Limits(
        frames_per_second=5, frame_burst=5, max_connections_per_address=3,
        keepalive_interval=10, keepalive_timeout=10, idle_timeout=100, handshake_timeout=1000))


async def test_a_flood_is_refused_frame_by_frame_and_the_sender_stays(connect, clock):
    alice = await connect("alice")
    bob = await connect("bob")
    for _ in range(20):
        await alice.session._link.send(Message(channel="general", blob=b"junk"))
    refusal = await alice.next_event(ev.HubError)
    assert refusal.code == "rate"
    clock.jump(10)  # the bucket refills
    await alice.session.ref.ask(SendChat("general", "calm again", 60))
    assert (await bob.next_event(ev.MessageReceived)).message.text == "calm again"


async def test_connections_from_one_address_are_capped(connect, hub):
    clients = [await connect(name) for name in ("ann", "ben", "cat")]
    extra = await trio.open_tcp_stream("127.0.0.1", hub.port)
    with trio.fail_after(10):
        assert await extra.receive_some(1) == b""  # closed at once, before TLS
    await extra.aclose()
    assert all(client.failure is None for client in clients)


async def test_a_peer_that_stops_answering_is_let_go(hub, clock, caplog):
    caplog.set_level(logging.INFO, logger="gossip.hub.connection")
    stream = await trio.open_ssl_over_tcp_stream("127.0.0.1", hub.port, ssl_context=_tls())
    await stream.send_all(UPGRADE)
    response = await stream.receive_some(4096)
    assert response.startswith(b"HTTP/1.1 101")
    # From now on this "client" never reads or answers: no pong to the hub's pings.
    for _ in range(30):  # ten seconds to the ping, ten more without a pong, then the kick
        if "code=timeout" in caplog.text:
            break
        clock.jump(1)
        await trio.testing.wait_all_tasks_blocked()
    assert "kick" in caplog.text and "code=timeout" in caplog.text
    await trio.aclose_forcefully(stream)


async def test_a_silent_connection_is_closed_as_idle_and_the_client_comes_back(connect, clock):
    alice = await connect("alice")
    clock.jump(101)  # alice's client sends nothing at all (its pongs do not count as frames)
    lost = await alice.next_event(ev.Disconnected)
    assert lost.code == "reconnecting" and lost.retry_in is not None
    clock.jump(lost.retry_in)
    await alice.next_event(ev.Synced)
    assert alice.failure is None
