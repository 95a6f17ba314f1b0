"""One connection that misbehaves is closed on its own; the hub and everyone else carry on."""

from __future__ import annotations

import ssl

import msgpack
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from gossip.client import events as ev
from gossip.client.commands import SendChat
from gossip.wire import Error, Greeting, KeyRequest, Message, decode_frame


def _tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context


async def _refusal(ws) -> Error:
    """The error frame the hub sends before it closes."""
    with trio.fail_after(10):
        while True:
            frame = decode_frame(await ws.get_message())
            if isinstance(frame, Error):
                return frame


async def test_garbage_in_every_layer_leaves_the_others_chatting(connect, hub):
    alice = await connect("alice")
    bob = await connect("bob")
    url = f"wss://127.0.0.1:{hub.port}/"

    # Raw bytes where TLS is expected.
    stream = await trio.open_tcp_stream("127.0.0.1", hub.port)
    await stream.send_all(b"\x00garbage\xff" * 100)
    with trio.fail_after(10):
        while await stream.receive_some(4096):
            pass
    await stream.aclose()

    # TLS, then bytes that are not a WebSocket upgrade.
    tls = await trio.open_ssl_over_tcp_stream("127.0.0.1", hub.port, ssl_context=_tls())
    await tls.send_all(b"GET nonsense\r\n\r\n")
    with trio.fail_after(10):
        try:
            while await tls.receive_some(4096):
                pass
        except trio.BrokenResourceError:
            pass
    await trio.aclose_forcefully(tls)

    # A WebSocket that sends bytes that are not a frame, a text frame, an unknown command,
    # a frame out of order, and a frame that is far too big.
    bad_inputs = [b"\xc1\xc1", "text", msgpack.packb({"c": "zzz"}), KeyRequest().encode(),
                  b"\x00" * 600_000]
    codes = []
    for data in bad_inputs:
        async with open_websocket_url(url, ssl_context=_tls(),
                                      max_message_size=2**20) as ws:
            try:  # the hub may close (1009) while a too-big frame is still being sent
                await ws.send_message(data)
                codes.append((await _refusal(ws)).code)
            except ConnectionClosed as closed:
                codes.append(f"closed {closed.reason.code}")
    assert codes == ["malformed", "malformed", "unknown_command", "protocol", "closed 1009"]

    await alice.session.ref.ask(SendChat("general", "still here?", 60))
    assert (await bob.next_event(ev.MessageReceived)).message.text == "still here?"
    assert sum(hub.supervisor.restarts.values()) == 0


async def test_a_client_may_not_forge_the_sender(connect):
    bob = await connect("bob")
    mallory = await connect("mallory")
    await bob.next_event(ev.MemberJoined, lambda e: e.user == "mallory")
    # Mallory's client is hostile: it writes a frame claiming to come from bob.
    await mallory.session._link.send(Message(channel="general", blob=b"x", sender="bob"))
    refused = await mallory.next_event(ev.HubError)
    assert refused.code == "forged"
    await mallory.session._link.send(Message(channel="nowhere", blob=b"x"))
    assert (await mallory.next_event(ev.HubError)).code == "unknown_channel"


async def test_a_greeting_with_an_unusable_key_is_refused(hub):
    async with open_websocket_url(f"wss://127.0.0.1:{hub.port}/", ssl_context=_tls()) as ws:
        await ws.send_message(Greeting(version=1, user="alice", public_key=b"nope").encode())
        assert (await _refusal(ws)).code == "bad_key"
