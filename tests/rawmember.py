"""A bare member for hub tests: TLS, WebSocket, the login and key sync by hand, then whatever
frames the test sends and reads (no client session, no sealing: the hub relays opaque blobs)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import trio
from trio_websocket import WebSocketConnection, wrap_client_stream

from gossip.crypto import Identity, certificate_fingerprint, client_ssl_context
from gossip.hub import RunningHub
from gossip.tools.attack import log_in_raw
from gossip.wire import EndOfKeys, Frame, KeyRequest, PrivateChannels, Welcome, decode_frame

from .conftest import PASSWORD


@cache
def identity_of(user: str) -> Identity:
    """One key per name for the whole test run: the hub binds a name to the key that first
    registered it, so a member who comes back must bring the same key."""
    return Identity.generate(user)


async def log_in(nursery: trio.Nursery, hub: RunningHub, user: str, *,
                 receive_buffer: int | None = None) -> WebSocketConnection:
    """A member logged in and key-synced. `receive_buffer` shrinks its socket's receive
    buffer, so that how fast the test reads is how fast the member reads."""
    ws, welcome = await try_log_in(nursery, hub, user, receive_buffer=receive_buffer)
    assert isinstance(welcome, Welcome)
    await ws.send_message(KeyRequest().encode())
    while not isinstance(await next_frame(ws), EndOfKeys):
        pass
    # The hub follows the snapshot with the member's private channels (none, for most tests).
    while not isinstance(await next_frame(ws), PrivateChannels):
        pass
    return ws


async def try_log_in(nursery: trio.Nursery, hub: RunningHub, user: str, *,
                     receive_buffer: int | None = None) -> tuple[WebSocketConnection, Frame]:
    """A login as `user` with its key, and the hub's answer (a Welcome, or a refusal)."""
    identity = identity_of(user)
    sock = trio.socket.socket()
    if receive_buffer is not None:
        sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_RCVBUF, receive_buffer)
    await sock.connect(("127.0.0.1", hub.port))
    stream = trio.SSLStream(trio.SocketStream(sock), client_ssl_context(),
                            server_hostname="127.0.0.1")
    await stream.do_handshake()
    seen = certificate_fingerprint(stream.getpeercert(binary_form=True))
    # A queue of one message: once it is full, trio-websocket stops reading the socket.
    ws = await wrap_client_stream(nursery, stream, "127.0.0.1", "/gossip",
                                  message_queue_size=1, max_message_size=2**20)
    return ws, await log_in_raw(ws, seen, user, identity.public, identity, PASSWORD)


async def next_frame(ws: WebSocketConnection) -> Frame:
    data = await ws.get_message()
    assert isinstance(data, bytes)
    return decode_frame(data)


async def next_of(ws: WebSocketConnection, kind: type, *, within: float = 10.0,
                  matching: Callable[[Frame], bool] = lambda frame: True) -> Frame:
    """The next frame of this kind that matches (others are skipped), within `within` s."""
    with trio.fail_after(within):
        while True:
            frame = await next_frame(ws)
            if isinstance(frame, kind) and matching(frame):
                return frame
