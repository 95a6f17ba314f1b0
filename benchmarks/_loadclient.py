"""Light load clients for hub benchmarks: the real login (Greeting, SPAKE2, key sync) over a
minimal WebSocket codec, then opaque `Message` frames; plus a cached pool of public keys.

Light on purpose: the load generator must cost less per delivery than the server it measures,
so the hot path parses WebSocket frames by hand instead of through wsproto and never seals.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import ssl
import struct
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import msgpack
import trio

from gossip.crypto import (
    AuthenticationFailed,
    Identity,
    PakeClient,
    certificate_fingerprint,
    client_ssl_context,
    prove_possession,
)
from gossip.wire import (
    LOGIN_QUEUE_SUBPROTOCOL,
    PROTOCOL_VERSION,
    Channels,
    EndOfKeys,
    Error,
    Frame,
    Greeting,
    HubHello,
    Key,
    KeyRequest,
    LoginProof,
    Message,
    Queued,
    Welcome,
    decode_frame,
)

BLOB_BYTES = 300
_STAMP = struct.Struct("<IQ")  # sequence number, send time (ns, CLOCK_MONOTONIC)
_PADDING = os.urandom(BLOB_BYTES - _STAMP.size)
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_CACHE_FILE = "keys-v2.msgpack"  # v2 keeps the private half: logins prove possession


class LoadClientError(Exception):
    """A load client could not connect, log in or keep its connection."""


class LoginRefused(LoadClientError):
    """The hub answered the login with an error frame."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code


class WebSocketClosed(LoadClientError):
    """The server closed the WebSocket (or the stream under it)."""


# --- identities ---------------------------------------------------------------------------

@dataclass(frozen=True)
class PoolKey:
    """A benchmark user: its name and key (armored private half: a login signs with it)."""

    user: str
    public_key: bytes
    fingerprint: str
    private_armored: str

    def identity(self) -> Identity:
        """Parsed on first use and kept: parsing costs a few ms, each login needs it."""
        identity = _IDENTITIES.get(self.user)
        if identity is None:
            identity = _IDENTITIES[self.user] = Identity.from_armored(self.private_armored)
        return identity


_IDENTITIES: dict[str, Identity] = {}


def default_cache_dir() -> Path:
    return Path(tempfile.gettempdir()) / "gossip-bench-keys"


def key_pool(count: int, cache_dir: Path | None = None, workers: int = 2) -> list[PoolKey]:
    """`count` users `bench00000`, `bench00001`, ... with real OpenPGP keys, generated once
    (about 12 ms each, spread over `workers` processes) and kept in `cache_dir`."""
    directory = cache_dir or default_cache_dir()
    path = directory / _CACHE_FILE
    keys: list[PoolKey] = []
    if path.exists():
        keys = [PoolKey(*row) for row in msgpack.unpackb(path.read_bytes())]
    if len(keys) < count:
        missing = [f"bench{index:05d}" for index in range(len(keys), count)]
        chunks = [missing[start:start + 250] for start in range(0, len(missing), 250)]
        directory.mkdir(parents=True, exist_ok=True)
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            for rows in pool.map(_generate, chunks):
                keys.extend(PoolKey(*row) for row in rows)
                _save(path, keys)  # an interrupted run keeps what it made
    return keys[:count]


def _save(path: Path, keys: list[PoolKey]) -> None:
    scratch = path.with_suffix(f".{os.getpid()}.partial")  # two runs at once never collide
    scratch.write_bytes(msgpack.packb([[key.user, key.public_key, key.fingerprint,
                                        key.private_armored] for key in keys]))
    scratch.replace(path)


def _generate(users: Sequence[str]) -> list[tuple[str, bytes, str, str]]:
    rows = []
    for user in users:
        identity = Identity.generate(user)
        rows.append((user, identity.public.to_bytes(), identity.fingerprint,
                     identity.armored_private()))
    return rows


# --- blobs --------------------------------------------------------------------------------

def stamped_blob(sequence: int) -> bytes:
    """BLOB_BYTES opaque bytes carrying a sequence number and the send time."""
    return _STAMP.pack(sequence, time.monotonic_ns()) + _PADDING


def read_stamp(frame: bytes) -> tuple[int, int] | None:
    """(sequence, send time in ns) of a relayed Message frame; None for any other frame.
    msgpack straight to a dict: this is the load generator's hot path."""
    body = msgpack.unpackb(frame)
    if body.get("c") != "msg":
        return None
    sequence, sent = _STAMP.unpack_from(body["blob"])
    return sequence, sent


def message_frame(channel: str, sequence: int) -> bytes:
    return Message(channel=channel, blob=stamped_blob(sequence)).encode()


# --- a minimal WebSocket client (RFC 6455, binary messages) --------------------------------

@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One client TLS context for the process: building one costs ~0.4 ms (measured in a
    storm's profile), which a real client pays once per connection, not once per login of
    the thousands a load process plays."""
    return client_ssl_context()


class WebSocketClient:
    """Just enough WebSocket for a load generator: handshake, masked binary frames out,
    whole messages in (pings answered). One task may send while another receives."""

    def __init__(self, stream: trio.abc.Stream, buffered: bytes = b"") -> None:
        self._stream = stream
        self._buffer = bytearray(buffered)
        self._messages: deque[bytes] = deque()
        self._fragments: list[bytes] = []
        self._closed = False
        self.close_code: int | None = None
        # Pongs go out from the reading task while another task may be sending.
        self._send_lock = trio.Lock()

    @classmethod
    async def connect(cls, host: str, port: int, *, tls: bool,
                      local_address: str | None = None,
                      subprotocol: str | None = None) -> tuple[WebSocketClient, str]:
        """Open a WebSocket (from `local_address`, one of 127.0.0.0/8, to look like a client
        of its own to the hub's per-address budgets), offering `subprotocol` if given;
        returns it and the server certificate's fingerprint ("" without TLS)."""
        stream: trio.abc.Stream = await trio.open_tcp_stream(host, port,
                                                             local_address=local_address)
        fingerprint = ""
        if tls:
            ssl_stream = trio.SSLStream(stream, _ssl_context(), server_hostname=host)
            await ssl_stream.do_handshake()
            der = ssl_stream.getpeercert(binary_form=True)
            if not der:
                raise LoadClientError("the server presented no certificate")
            fingerprint = certificate_fingerprint(der)
            stream = ssl_stream
        key = base64.b64encode(os.urandom(16))
        await stream.send_all(
            b"GET /gossip HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n"
            % (host.encode(), port, key,
               b"Sec-WebSocket-Protocol: %s\r\n" % subprotocol.encode() if subprotocol else b""))
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = await stream.receive_some(4096)
            if not chunk:
                raise LoadClientError("the server closed during the WebSocket handshake")
            response += chunk
        head, _, rest = response.partition(b"\r\n\r\n")
        accept = base64.b64encode(hashlib.sha1(key + _WS_GUID).digest())
        if not head.startswith(b"HTTP/1.1 101") or accept not in head:
            raise LoadClientError(f"no WebSocket upgrade: {head[:80]!r}")
        return cls(stream, rest), fingerprint

    async def send(self, payload: bytes) -> None:
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x82, 0x80 | size)
        elif size < 65536:
            header = struct.pack("!BBH", 0x82, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x82, 0x80 | 127, size)
        mask = os.urandom(4)
        # XOR as one big integer: far cheaper in Python than a byte loop.
        stream = int.from_bytes((mask * (size // 4 + 1))[:size], "little")
        body = (int.from_bytes(payload, "little") ^ stream).to_bytes(size, "little")
        try:
            async with self._send_lock:
                await self._stream.send_all(header + mask + body)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise WebSocketClosed("the connection broke") from exc

    async def receive(self) -> bytes:
        while not self._messages:
            await self._fill()
        return self._messages.popleft()

    async def receive_batch(self) -> list[bytes]:
        """Every whole message available after at most one read (at least one)."""
        while not self._messages:
            await self._fill()
        batch = list(self._messages)
        self._messages.clear()
        return batch

    async def _fill(self) -> None:
        if self._closed:
            raise WebSocketClosed("the server closed the WebSocket")
        try:
            chunk = await self._stream.receive_some(262144)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise WebSocketClosed("the connection broke") from exc
        if not chunk:
            raise WebSocketClosed("the server closed the connection")
        self._buffer += chunk
        pongs = self._parse()
        for payload in pongs:
            await self._send_control(0x8A, payload)

    def _parse(self) -> list[bytes]:
        buffer = self._buffer
        position, end = 0, len(buffer)
        pongs: list[bytes] = []
        while end - position >= 2:
            first, second = buffer[position], buffer[position + 1]
            size, start = second & 0x7F, position + 2
            if size == 126:
                if end - start < 2:
                    break
                size, start = struct.unpack_from("!H", buffer, start)[0], start + 2
            elif size == 127:
                if end - start < 8:
                    break
                size, start = struct.unpack_from("!Q", buffer, start)[0], start + 8
            if second & 0x80:
                raise LoadClientError("the server masked a frame")
            if end - start < size:
                break
            payload = bytes(buffer[start:start + size])
            position = start + size
            opcode = first & 0x0F
            if opcode == 0x8:
                self._closed = True
                code = struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else 1005
                self.close_code = code
                self._messages.append(b"")  # an empty message marks the close
                break
            if opcode == 0x9:
                pongs.append(payload)
            elif opcode in (0x0, 0x1, 0x2):
                self._fragments.append(payload)
                if first & 0x80:
                    self._messages.append(b"".join(self._fragments))
                    self._fragments.clear()
        del buffer[:position]
        return pongs

    async def _send_control(self, opcode_byte: int, payload: bytes) -> None:
        mask = b"\x00\x00\x00\x00"  # a zero mask leaves the (tiny) payload as it is
        async with self._send_lock:
            await self._stream.send_all(bytes([opcode_byte, 0x80 | len(payload)]) + mask + payload)

    async def aclose(self) -> None:
        """Say goodbye if the stream still works, then close it without waiting for a reply."""
        with trio.move_on_after(1) as scope:
            scope.shield = True
            try:
                await self._send_control(0x88, struct.pack("!H", 1000))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        await trio.aclose_forcefully(self._stream)

    async def abort(self) -> None:
        await trio.aclose_forcefully(self._stream)


# --- a hub member --------------------------------------------------------------------------

class HubMember:
    """A logged-in benchmark user on a hub (or a plain client of the bare server)."""

    def __init__(self, ws: WebSocketClient, user: str) -> None:
        self.ws = ws
        self.user = user
        self.keys_seen = 0
        self.channels: tuple[str, ...] = ()

    @classmethod
    async def log_in(cls, host: str, port: int, key: PoolKey, password: str, *, tls: bool,
                     sync: bool = True, local_address: str | None = None,
                     on_queued: Callable[[Queued], None] | None = None,
                     on_connected: Callable[[], None] | None = None) -> HubMember:
        """The real login: Greeting -> HubHello -> LoginProof -> Welcome (SPAKE2 bound to the
        certificate seen, "" without TLS), then KeyRequest -> Key* Channels EndOfKeys when
        `sync`. With `on_queued`, it offers to hear the hub's queue words (as the real client
        does) and passes each on (the caller restarts its timer); `on_connected` hears that
        TLS and the WebSocket are up. Raises LoginRefused or LoadClientError."""
        ws, fingerprint = await WebSocketClient.connect(
            host, port, tls=tls, local_address=local_address,
            subprotocol=LOGIN_QUEUE_SUBPROTOCOL if on_queued is not None else None)
        if on_connected is not None:
            on_connected()
        member = cls(ws, key.user)
        try:
            await member._handshake(key, password, fingerprint, on_queued)
            if sync:
                await member._sync_keys()
        except BaseException:
            await ws.abort()
            raise
        return member

    @classmethod
    async def connect_bare(cls, host: str, port: int, user: str, *, tls: bool) -> HubMember:
        ws, _ = await WebSocketClient.connect(host, port, tls=tls)
        return cls(ws, user)

    async def _handshake(self, key: PoolKey, password: str, binding: str,
                         on_queued: Callable[[Queued], None] | None) -> None:
        await self.ws.send(Greeting(version=PROTOCOL_VERSION, user=key.user,
                                    public_key=key.public_key).encode())
        hello = await self.receive_frame()
        while isinstance(hello, Queued) and on_queued is not None:
            on_queued(hello)
            hello = await self.receive_frame()
        if not isinstance(hello, HubHello):
            raise LoadClientError(f"expected hru, got {hello.command.value}")
        pake = PakeClient(password, key.user, key.fingerprint, binding, PROTOCOL_VERSION)
        confirm = pake.finish(hello.pake)
        possession = prove_possession(pake.transcript_digest, key.identity())
        await self.ws.send(LoginProof(pake=pake.message, confirm=confirm,
                                      possession=possession).encode())
        welcome = await self.receive_frame()
        if not isinstance(welcome, Welcome):
            raise LoadClientError(f"expected ig, got {welcome.command.value}")
        try:
            pake.verify_hub(welcome.confirm)
        except AuthenticationFailed as exc:
            raise LoadClientError("the hub did not prove the password") from exc

    async def _sync_keys(self) -> None:
        await self.ws.send(KeyRequest().encode())
        while True:
            frame = await self.receive_frame()
            if isinstance(frame, Key):
                self.keys_seen += 1
            elif isinstance(frame, Channels):
                self.channels = frame.channels
            elif isinstance(frame, EndOfKeys):
                return

    async def receive_frame(self) -> Frame:
        """The next frame, decoded and validated (login path); an Error frame raises."""
        data = await self.ws.receive()
        if not data:
            raise WebSocketClosed("the server closed the WebSocket")
        frame = decode_frame(data)
        if isinstance(frame, Error):
            raise LoginRefused(frame.code, frame.reason)
        return frame

    async def send_stamped(self, channel: str, sequence: int) -> None:
        await self.ws.send(message_frame(channel, sequence))

    async def aclose(self) -> None:
        await self.ws.aclose()


def raise_file_limit(wanted: int) -> int:
    """Raise this process's open-file limit towards `wanted` (up to the hard limit)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, wanted), hard)
    if target != soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target
