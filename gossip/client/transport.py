"""Opening a connection to a hub: TCP, TLS with the hub's certificate pinned like SSH's
known_hosts (checked before a single byte of ours is sent), then the WebSocket upgrade."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import trio
from trio_websocket import (
    ConnectionClosed,
    HandshakeError,
    WebSocketConnection,
    wrap_client_stream,
)

from gossip.crypto import KnownHubs, certificate_fingerprint, client_ssl_context
from gossip.wire import (
    DEFAULT_MAX_FRAME_BYTES,
    LOGIN_QUEUE_SUBPROTOCOL,
    Frame,
    FrameError,
    decode_frame,
)

from .errors import ConnectionLost, HubUnreachable


@dataclass
class HubLink:
    """An open WebSocket to a hub plus what we learnt about the hub's certificate."""

    ws: WebSocketConnection
    stream: trio.abc.Stream  # under the WebSocket, closed for sure by abort()
    fingerprint: str
    first_use: bool
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES

    async def send(self, frame: Frame) -> None:
        try:
            await self.ws.send_message(frame.encode())
        except (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise ConnectionLost("the connection to the hub broke") from exc

    async def receive(self) -> Frame:
        """The next frame from the hub. A hub that sends garbage is a broken hub."""
        try:
            data = await self.ws.get_message()
        except ConnectionClosed as exc:
            reason = exc.reason
            detail = f" ({reason.reason})" if reason is not None and reason.reason else ""
            raise ConnectionLost(f"the hub closed the connection{detail}") from None
        if isinstance(data, str):
            raise ConnectionLost("the hub sent a text frame; is this a Gossip hub?")
        try:
            return decode_frame(data, max_bytes=self.max_frame_bytes)
        except FrameError as exc:
            raise ConnectionLost(f"the hub sent a bad frame: {exc}") from None

    async def ping(self) -> float:
        """Seconds until the hub answers a WebSocket ping (the latency a front end shows)."""
        start = trio.current_time()
        try:
            await self.ws.ping()
        except (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise ConnectionLost("the connection to the hub broke") from exc
        return trio.current_time() - start

    async def aclose(self) -> None:
        """Close politely: tell the hub and wait for its reply (bounded for a dead hub).
        Only while the connection's reader still runs, i.e. not from a cancelled task."""
        with trio.move_on_after(5):
            try:
                await self.ws.aclose()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass  # the hub went first: closed either way

    async def abort(self) -> None:
        """Close now, without the closing handshake (we are being cancelled)."""
        await trio.aclose_forcefully(self.stream)


async def open_hub_link(nursery: trio.Nursery, host: str, port: int, *, tls: bool,
                        known_hubs: KnownHubs, connect_timeout: float = 10.0) -> HubLink:
    """Connect, check the hub's certificate against its pin, and upgrade to a WebSocket.
    Raises HubUnreachable, or HubKeyChanged (from KnownHubs) for a hub with another key.
    A hub seen for the first time is not pinned here (`first_use`): the caller pins it once
    the login proved that the hub knows the password."""
    try:
        with trio.fail_after(connect_timeout):
            tcp = await trio.open_tcp_stream(host, port)
            stream: trio.SocketStream | trio.SSLStream[trio.SocketStream] = tcp
            fingerprint, first_use = "", False
            if tls:
                ssl_stream = trio.SSLStream(tcp, client_ssl_context(), server_hostname=host)
                await ssl_stream.do_handshake()
                der = ssl_stream.getpeercert(binary_form=True)
                if not der:
                    raise HubUnreachable("the hub presented no certificate", "not_gossip")
                fingerprint = certificate_fingerprint(der)
                try:
                    first_use = known_hubs.check(host, port, fingerprint, pin=False)
                except BaseException:
                    await trio.aclose_forcefully(ssl_stream)
                    raise
                stream = ssl_stream
            # Offered: a hub in a login storm then says where we stand in its line (a hub
            # that does not know it picks none, and we wait as before).
            ws = await wrap_client_stream(nursery, stream, host, "/gossip",
                                          subprotocols=[LOGIN_QUEUE_SUBPROTOCOL],
                                          message_queue_size=64,
                                          max_message_size=DEFAULT_MAX_FRAME_BYTES)
    except trio.TooSlowError:
        raise HubUnreachable(f"no answer from {host}:{port} within {connect_timeout:g} s",
                             "no_answer") from None
    except OSError as exc:
        # trio's own message already names the address; the first attempt's error says why.
        raise HubUnreachable(f"cannot connect to {host}:{port}: {_why(exc)}",
                             _cause_of(exc)) from None
    except (trio.BrokenResourceError, HandshakeError, ConnectionClosed) as exc:
        raise HubUnreachable(f"{host}:{port} does not speak Gossip over "
                             f"{'TLS' if tls else 'plain WebSocket'} ({exc})",
                             "not_gossip") from None
    return HubLink(ws, stream, fingerprint, first_use)


def _attempt_errors(exc: OSError) -> list[OSError]:
    """The per-address errors trio gathered under "all attempts to connect failed"."""
    group = exc.__cause__
    if isinstance(group, BaseExceptionGroup):
        return [e for e in group.exceptions if isinstance(e, OSError)]
    return [exc]


def _why(exc: OSError) -> str:
    first = _attempt_errors(exc)[0]
    # Not str(): trio's text for an attempt names the address again.
    if first.errno and first.errno > 0:
        return os.strerror(first.errno)
    return first.strerror or str(first)  # a name lookup's errors are negative


def _cause_of(exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return "unknown_host"
    if all(isinstance(e, ConnectionRefusedError) for e in _attempt_errors(exc)):
        return "refused"
    return "network"
