"""Every private part of aiortc that frame encryption relies on, in one place.

aiortc 1.16 has no public hook for encoded frames (the W3C's "encoded transforms"), so:

* the sender is given ready-made `av.Packet`s (public: a track may return packets, and the
  sender packetizes them with its codec's `pack()`); to get one whole encoded VP8 frame out
  of aiortc's encoder we override `Vp8Encoder._packetize(buffer, picture_id)` (private);
* a keyframe request from the far end (RTCP PLI) only reaches an encoder the sender owns: we
  wrap the sender's `_send_keyframe` (private) to pass it on to ours; and a sender the
  negotiation disabled (camera off) drops what it reads, so our encoder reads its `_enabled`
  (private) to skip that work and start again from a keyframe; a link whose DTLS certificate
  does not match the signed SDP clears its receivers' `_enabled` so they drop what comes;
* the receiver rebuilds each frame in its jitter buffer (by RTP timestamp) and hands it whole
  to the decoder: we wrap that buffer, name-mangled `_RTCRtpReceiver__jitter_buffer`, so each
  frame is opened between the two; the relay reads each packet's depayloaded frame there
  (`packet._data`) and forwards it without decoding;
* an audio receiver's jitter buffer is replaced outright by our PassThroughBuffer
  (`swap_jitter_buffer`, gossip.media.jitter), and its RTP timestamp mapper, name-mangled
  `_RTCRtpReceiver__timestamp_mapper`, by one that survives reordering
  (`swap_timestamp_mapper`);
* Opus is decoded by libopus itself, with packet-loss concealment and in-band FEC
  (gossip.media.concealment): aiortc's decoder thread looks `get_decoder` up in
  `aiortc.rtcrtpreceiver`'s namespace, and `replace_decoder_factory` puts ours there for the
  process (not private by name, but no public hook either);
* a lossy path, for tests and benchmarks: `drop_received_rtp` puts a filter in front of a
  receiver's `_handle_rtp_packet` (private), where the DTLS transport hands it each packet,
  so a dropped packet is lost before aiortc counts it, as on the wire (its RTCP receiver
  reports then say so to the sender);
* the relay presents one DTLS certificate on every connection (the one clients pin), put in
  place of the one each RTCPeerConnection makes for itself (`__certificates`);
* the relay forwards RTP packets as they come out of SRTP, before aiortc parses or routes
  them: it takes the place of a DTLS transport's `_handle_rtp_data(data, arrival_time_ms)`
  (`intercept_rtp`; RTCP still goes to aiortc), and sends through another's `_send_rtp(data)`
  (SRTP protect, then the ICE transport), `rtp_sender`; a mesh link takes its audio there
  the same way and hands the rest (video) on to the handler it replaced;
* a relayed call's hop reads its UDP socket in place (`receive_in_place`): the asyncio
  datagram transport's reader (its `_read_ready`, registered with the loop's `_add_reader`;
  its socket `_sock`) is replaced by one that reads every datagram waiting (a bounded batch a
  wake-up) and takes SRTP out of the DTLS transport's `_rx_srtp` itself, handing it to the
  transport's `_handle_rtp_data` right there; anything else (STUN, DTLS, SRTCP) goes to
  aioice's protocol as before. No asyncio queue, task step or trio-asyncio hop per packet;
* a connection's UDP sockets get a larger receive buffer (`enlarge_receive_buffers`): aioice
  keeps them in its Connection's `_protocols` (private), behind the ICE gatherer's
  `_connection` (private); the relay reads what asyncio queued on the same sockets
  (`send_backlog`: aioice ignores asyncio's pause_writing, so its queue has no bound);
* our audio send path (gossip.media.rtpsend) packetizes the call's frames itself and sends
  them through `_send_rtp` from trio without an asyncio hop (`rtp_sender_now`: the coroutine
  is driven in place; it never waits on a host or server-reflexive path). It learns each
  sender's SSRC and payload type when aiortc starts it (`on_sender_started`: the public
  `send(parameters)`, wrapped on the instance), and keeps the counters aiortc's RTCP sender
  reports read (name-mangled `_RTCRtpSender__packet_count` and its siblings) true
  (`SentCounters`).

aiortc is pinned below 1.17 for these; `check_seams()` (run by the tests) fails loudly when an
upgrade moves any of them. No other module reaches into aiortc's private parts.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import struct
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, Protocol

import aiortc
import pylibsrtp
import trio
from aiortc import clock, rtcrtpreceiver
from aiortc.codecs.base import Decoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsTransport
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcpeerconnection import RTCPeerConnection
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import RtpPacket, is_rtcp

from .errors import MediaError

logger = logging.getLogger(__name__)

PINNED_VERSION = "1.16"
_RECEIVER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
_RECEIVER_MAPPER = "_RTCRtpReceiver__timestamp_mapper"
_DECODER_LOOKUP = "get_decoder"
_SENDER_KEYFRAME = "_send_keyframe"
_SENDER_ENABLED = "_enabled"
_RECEIVER_ENABLED = "_enabled"
_PACKET_DATA = "_data"
_CONNECTION_CERTIFICATES = "_RTCPeerConnection__certificates"
_RECEIVER_HANDLE_RTP = "_handle_rtp_packet"
_DTLS_HANDLE_RTP = "_handle_rtp_data"
_DTLS_SEND_RTP = "_send_rtp"
_GATHERER_CONNECTION = "_connection"
_DTLS_RX_SRTP = "_rx_srtp"
_DTLS_STATE = "_state"
_UDP_SOCKET = "_sock"
_UDP_READ_READY = "_read_ready"
_CONNECTION_PROTOCOLS = "_protocols"
_SENDER_COUNTERS = {
    "ntp": "_RTCRtpSender__ntp_timestamp",
    "rtp": "_RTCRtpSender__rtp_timestamp",
    "octets": "_RTCRtpSender__octet_count",
    "packets": "_RTCRtpSender__packet_count",
}


class AiortcSeamMissing(MediaError):
    """aiortc no longer has a private part frame encryption relies on (it was upgraded)."""


class JitterBufferLike(Protocol):
    """aiortc's JitterBuffer interface, as RTCRtpReceiver uses it."""

    @property
    def capacity(self) -> int: ...

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]: ...


class WholeFrameVp8Encoder(Vp8Encoder):
    """aiortc's VP8 encoder (its settings, bitrate and keyframe handling), returning each
    encoded frame whole instead of cut into RTP payloads: `encode()` gives `[frame]`."""

    def _packetize(self, buffer: bytes, picture_id: int) -> list[bytes]:  # type: ignore[override]
        return [buffer] if buffer else []


def wrap_receiver_buffer(
    receiver: RTCRtpReceiver, wrap: Callable[[JitterBufferLike], JitterBufferLike]
) -> None:
    """Put `wrap(current buffer)` in the receiver's place for its jitter buffer."""
    if not hasattr(receiver, _RECEIVER_BUFFER):
        raise AiortcSeamMissing(f"aiortc's RTCRtpReceiver has no {_RECEIVER_BUFFER}")
    setattr(receiver, _RECEIVER_BUFFER, wrap(getattr(receiver, _RECEIVER_BUFFER)))


def receiver_buffer(receiver: RTCRtpReceiver) -> Any:
    """The receiver's jitter buffer as it is now (ours, wrapped, or aiortc's)."""
    return getattr(receiver, _RECEIVER_BUFFER)


def swap_jitter_buffer(receiver: RTCRtpReceiver, buffer: JitterBufferLike) -> None:
    """Put `buffer` in the receiver's place for its jitter buffer (before packets arrive:
    the receiver only reads it when one does)."""
    wrap_receiver_buffer(receiver, lambda _: buffer)


class TimestampMapperLike(Protocol):
    """aiortc's TimestampMapper interface: an RTP timestamp to the frame's media time."""

    def map(self, timestamp: int) -> int: ...


def swap_timestamp_mapper(receiver: RTCRtpReceiver, mapper: TimestampMapperLike) -> None:
    """Put `mapper` in the receiver's place for its RTP timestamp mapper."""
    if not hasattr(receiver, _RECEIVER_MAPPER):
        raise AiortcSeamMissing(f"aiortc's RTCRtpReceiver has no {_RECEIVER_MAPPER}")
    setattr(receiver, _RECEIVER_MAPPER, mapper)


_aiortc_get_decoder: Callable[[Any], Decoder] | None = getattr(
    rtcrtpreceiver, _DECODER_LOOKUP, None
)
_decoder_factories: dict[str, Callable[[], Decoder]] = {}


def _get_decoder(codec: Any) -> Decoder:
    make = _decoder_factories.get(codec.mimeType.lower())
    if make is not None:
        return make()
    assert _aiortc_get_decoder is not None  # replace_decoder_factory checked
    return _aiortc_get_decoder(codec)


def replace_decoder_factory(mime_type: str, make: Callable[[], Decoder]) -> None:
    """Make every aiortc receiver in this process decode `mime_type` (e.g. "audio/opus") with
    `make()`; other codecs keep aiortc's decoders. Idempotent. aiortc's decoder thread looks
    `get_decoder` up in rtcrtpreceiver's namespace whenever it meets a new codec."""
    if _aiortc_get_decoder is None or not hasattr(rtcrtpreceiver, _DECODER_LOOKUP):
        raise AiortcSeamMissing(f"aiortc's rtcrtpreceiver has no {_DECODER_LOOKUP}")
    _decoder_factories[mime_type.lower()] = make
    setattr(rtcrtpreceiver, _DECODER_LOOKUP, _get_decoder)


def on_keyframe_request(sender: RTCRtpSender, request: Callable[[], None]) -> None:
    """Call `request()` too whenever the far end asks this sender for a keyframe."""
    original = getattr(sender, _SENDER_KEYFRAME, None)
    if original is None:
        raise AiortcSeamMissing(f"aiortc's RTCRtpSender has no {_SENDER_KEYFRAME}")

    def both() -> None:
        original()
        request()

    setattr(sender, _SENDER_KEYFRAME, both)


def sender_enabled(sender: RTCRtpSender) -> bool:
    """Whether the sender sends what its track gives it (the negotiated direction lets it);
    a disabled sender still reads its track and drops what it reads."""
    return bool(getattr(sender, _SENDER_ENABLED))


def stop_receiving(receiver: RTCRtpReceiver) -> None:
    """Make the receiver drop every RTP packet from now on (what aiortc does for a direction
    the negotiation disabled): nothing an impostor sends reaches a decoder."""
    if not hasattr(receiver, _RECEIVER_ENABLED):
        raise AiortcSeamMissing(f"aiortc's RTCRtpReceiver has no {_RECEIVER_ENABLED}")
    setattr(receiver, _RECEIVER_ENABLED, False)


def depayloaded(packet: RtpPacket) -> bytes:
    """The codec frame (or part) the receiver took out of an RTP packet before buffering it."""
    return bytes(getattr(packet, _PACKET_DATA, b""))


def drop_received_rtp(receiver: RTCRtpReceiver, drop: Callable[[RtpPacket], bool]) -> None:
    """Lose every RTP packet `drop` picks before `receiver` sees it (tests and benchmarks
    simulate a lossy path with it; never used on a real call)."""
    handle = getattr(receiver, _RECEIVER_HANDLE_RTP, None)
    if handle is None:
        raise AiortcSeamMissing(f"aiortc's RTCRtpReceiver has no {_RECEIVER_HANDLE_RTP}")

    async def filtered(packet: RtpPacket, arrival_time_ms: int) -> None:
        if not drop(packet):
            await handle(packet, arrival_time_ms=arrival_time_ms)

    setattr(receiver, _RECEIVER_HANDLE_RTP, filtered)


def use_certificate(connection: RTCPeerConnection, certificate: RTCCertificate) -> None:
    """Make `connection` present `certificate` in DTLS (set it before any description)."""
    if not hasattr(connection, _CONNECTION_CERTIFICATES):
        raise AiortcSeamMissing(f"aiortc's RTCPeerConnection has no {_CONNECTION_CERTIFICATES}")
    setattr(connection, _CONNECTION_CERTIFICATES, [certificate])


class RtpHandler(Protocol):
    """What takes a DTLS transport's RTP in its place (aiortc passes the time by keyword)."""

    def __call__(self, data: bytes, arrival_time_ms: int) -> Awaitable[None]: ...


def intercept_rtp(transport: RTCDtlsTransport, handle: RtpHandler) -> RtpHandler:
    """Make `transport` give every RTP packet it receives, SRTP-unprotected (authenticated)
    and unparsed, to `handle(data, arrival_time_ms)` instead of its receivers. RTCP, DTLS
    and everything else is aiortc's as before. Returns the handler it replaced (aiortc's
    router to its receivers), for packets `handle` leaves to aiortc."""
    replaced = getattr(transport, _DTLS_HANDLE_RTP, None)
    if not callable(replaced):
        raise AiortcSeamMissing(f"aiortc's RTCDtlsTransport has no {_DTLS_HANDLE_RTP}")
    setattr(transport, _DTLS_HANDLE_RTP, handle)
    return replaced  # type: ignore[no-any-return]


# What `rtp_sender`'s send raises for one packet that is not sent: DTLS not up (or closed),
# or libsrtp refusing to protect an index twice (a duplicate packet).
RTP_SEND_ERRORS: tuple[type[Exception], ...] = (ConnectionError, pylibsrtp.Error)


def rtp_sender(transport: RTCDtlsTransport) -> Callable[[bytes], Awaitable[None]]:
    """`send(data)`: SRTP-protect one RTP (or RTCP) packet and send it on `transport`
    (ConnectionError until its DTLS is up, and after it closed)."""
    send = getattr(transport, _DTLS_SEND_RTP, None)
    if send is None:
        raise AiortcSeamMissing(f"aiortc's RTCDtlsTransport has no {_DTLS_SEND_RTP}")
    return send  # type: ignore[no-any-return]


def rtp_sender_now(transport: RTCDtlsTransport) -> Callable[[bytes], None]:
    """`send(data)` as `rtp_sender`'s, but a plain call from trio (or asyncio): aiortc's
    `_send_rtp` coroutine is driven in place, and on a host or server-reflexive path it ends
    without waiting (SRTP protect, then the UDP socket's sendto). Should it wait (a TURN
    relay binding its channel), the asyncio loop finishes it; its errors are then dropped
    as a lost packet's would be. Raises RTP_SEND_ERRORS as `rtp_sender`'s does."""
    send = rtp_sender(transport)

    def send_now(data: bytes) -> None:
        drive(send(data))  # type: ignore[arg-type]

    return send_now


def drive(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run `coroutine` in place until it ends or first waits; a wait hands the rest of it to
    the running asyncio loop (its exceptions there are logged by nobody: a packet's send)."""
    try:
        waiting = coroutine.send(None)
    except StopIteration:
        return
    asyncio.get_running_loop().create_task(_finish(_Resumed(coroutine, waiting)))


class _Resumed:
    """The rest of a coroutine that already yielded `waiting` (a future) to its driver."""

    def __init__(self, coroutine: Coroutine[Any, Any, None], waiting: Any) -> None:
        self.coroutine = coroutine
        self.waiting = waiting

    def __await__(self) -> Generator[Any, Any, None]:
        waiting = self.waiting
        while True:
            try:
                value = yield waiting
            except BaseException as exc:  # cancelled: the coroutine hears it too
                try:
                    waiting = self.coroutine.throw(exc)
                except StopIteration:
                    return
                continue
            try:
                waiting = self.coroutine.send(value)
            except StopIteration:
                return


async def _finish(resumed: _Resumed) -> None:
    try:
        await resumed
    except RTP_SEND_ERRORS:
        pass


def on_sender_started(sender: RTCRtpSender, started: Callable[[int, int, str], None]) -> None:
    """Call `started(ssrc, payload_type, mime_type)` once aiortc starts `sender` (DTLS is up
    and the negotiation lets it send): the SSRC its SDP announced, the payload type and codec
    it would send with (as the far end's description gave them: unchecked). aiortc calls
    `send()` again at each renegotiation: so is `started`."""
    original = sender.send

    async def send(parameters: Any) -> None:
        await original(parameters)
        codec = parameters.codecs[0]
        try:
            started(parameters.rtcp.ssrc, codec.payloadType, codec.mimeType)
        except Exception:  # in aiortc's start of the link: it must not stop there
            logger.exception("a sender's start could not be taken")

    sender.send = send  # type: ignore[method-assign]


class SentCounters:
    """What aiortc's RTCP sender reports for `sender` (packets, octets, the last timestamp
    sent and when), kept true for packets sent around its own RTP task."""

    def __init__(self, sender: RTCRtpSender) -> None:
        missing = [name for name in _SENDER_COUNTERS.values() if not hasattr(sender, name)]
        if missing:
            raise AiortcSeamMissing(f"aiortc's RTCRtpSender has no {', '.join(missing)}")
        self.sender = sender

    def count(self, timestamp: int, octets: int) -> None:
        sender = self.sender
        setattr(sender, _SENDER_COUNTERS["ntp"], clock.current_ntp_time())
        setattr(sender, _SENDER_COUNTERS["rtp"], timestamp)
        setattr(sender, _SENDER_COUNTERS["octets"],
                getattr(sender, _SENDER_COUNTERS["octets"]) + octets)
        setattr(sender, _SENDER_COUNTERS["packets"],
                getattr(sender, _SENDER_COUNTERS["packets"]) + 1)


def _gathered_protocols(transport: RTCDtlsTransport) -> Any:
    """aioice's datagram protocols, one per UDP socket `transport`'s connection gathered."""
    gatherer = transport.transport.iceGatherer
    connection = getattr(gatherer, _GATHERER_CONNECTION, None)
    protocols = getattr(connection, _CONNECTION_PROTOCOLS, None)
    if protocols is None:
        raise AiortcSeamMissing(
            f"aiortc's RTCIceGatherer has no {_GATHERER_CONNECTION}.{_CONNECTION_PROTOCOLS}"
        )
    return protocols


def enlarge_receive_buffers(transport: RTCDtlsTransport, size: int) -> int:
    """Ask for `size` bytes of receive buffer on every UDP socket `transport` gathered (the
    kernel caps it at net.core.rmem_max); returns how many sockets were set. Media that
    arrives while the process is not running waits there instead of being dropped."""
    protocols = _gathered_protocols(transport)
    count = 0
    for protocol in protocols:
        transport_ = getattr(protocol, "transport", None)
        sock = transport_.get_extra_info("socket") if transport_ is not None else None
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
            count += 1
    return count


def send_backlog(transport: RTCDtlsTransport) -> Callable[[], int]:
    """`backlog()`: the bytes asyncio holds queued, unsent, on `transport`'s UDP sockets (a
    socket whose kernel buffer is full; aioice goes on sending regardless). Read once the
    connection gathered its candidates."""
    protocols = _gathered_protocols(transport)
    sockets = [
        udp for udp in (getattr(protocol, "transport", None) for protocol in protocols)
        if udp is not None and hasattr(udp, "get_write_buffer_size")
    ]

    def backlog() -> int:
        return sum(udp.get_write_buffer_size() for udp in sockets)

    return backlog


# Datagrams read in one wake-up at most: what waits beyond them is read at the next, after
# trio has run everything else that was ready (a flood cannot hold the loop).
IN_PLACE_BATCH = 64
# Read at a 20 ms tick, a socket may hold a tick's worth of every slot's packets: up to this
# many batches (256 datagrams, 12,800 a second: past what the relay lets senders send to a
# listener), so legitimate video slots are never left to the kernel's buffer.
TICK_BATCHES = 4
# Linux's SO_TIMESTAMPNS (asm-generic; Python's socket module does not name it): the kernel
# stamps each datagram's arrival, handed back beside it as SCM_TIMESTAMPNS (the same number),
# a struct timespec of two 64-bit fields.
_SO_TIMESTAMPNS = 35
_TIMESTAMP_BYTES = 16
_ANCILLARY_BYTES = socket.CMSG_SPACE(_TIMESTAMP_BYTES)


class InPlaceReading:
    """A DTLS transport's UDP sockets read in place (`receive_in_place`), and its counters.

    It reads on readiness (a wake-up when a datagram comes) until `read_at_ticks()`: then
    the owner calls `read_waiting()` at each tick of its own (the audio engine's playout,
    every 20 ms) and the sockets wake nobody. The kernel stamps each datagram's arrival
    (SO_TIMESTAMPNS), so `age` tells the handler how long the one it is given waited."""

    __slots__ = ("addresses", "wakeups", "datagrams", "rtp", "unprotect_failed", "faults",
                 "age", "by_ticks", "in_trio", "given_back", "_transport", "_sockets",
                 "_batch")

    def __init__(self, transport: RTCDtlsTransport, batch: int) -> None:
        self.addresses: list[tuple[str, int]] = []  # of the UDP sockets read in place
        self.wakeups = 0  # times the sockets were read (found readable, or at a tick)
        self.datagrams = 0  # read in all
        self.rtp = 0  # of them SRTP, unprotected and handed on in place
        self.unprotect_failed = 0  # SRTP that did not authenticate (dropped, as aiortc does)
        self.faults = 0  # a handler's exception (logged; the packet is dropped)
        self.age = 0.0  # seconds the datagram being handled waited since the kernel took it
        self.by_ticks = False
        self.in_trio = False  # read on readiness by `read_in_trio`'s tasks
        self.given_back = False  # the asyncio transports read their sockets again (give_back)
        self._transport = transport
        self._sockets: list[tuple[Any, Any, socket.socket, int]] = []  # (udp, protocol, ...)
        self._batch = batch

    def read_at_ticks(self) -> None:
        """From now on the sockets are read only by `read_waiting()` (the owner's tick)."""
        if self.by_ticks or self.given_back:
            return
        self.by_ticks = True
        loop = asyncio.get_running_loop()
        for udp, _, sock, _ in self._sockets:
            if not udp.is_closing():
                loop._remove_reader(sock.fileno())  # type: ignore[attr-defined]

    def give_back(self) -> None:
        """The asyncio transports read their own sockets again, as before `receive_in_place`
        (aioice and aiortc's receive task see every datagram), until `take_back()`."""
        if self.given_back or self.in_trio:
            return
        loop = asyncio.get_running_loop()
        for udp, _, sock, _ in self._sockets:
            if udp.is_closing():
                continue
            if not self.by_ticks:
                loop._remove_reader(sock.fileno())  # type: ignore[attr-defined]
            loop._add_reader(  # type: ignore[attr-defined]
                sock.fileno(), getattr(udp, _UDP_READ_READY))
        self.by_ticks = False
        self.given_back = True

    def take_back(self) -> None:
        """Read in place again, on readiness (after `give_back()`)."""
        if not self.given_back:
            return
        self.given_back = False
        self._read_on_wakeups()

    def read_on_readiness(self) -> None:
        """Back to a wake-up per datagram (the owner's ticks stop)."""
        if not self.by_ticks:
            return
        self.by_ticks = False
        self._read_on_wakeups()

    def _read_on_wakeups(self) -> None:
        """Our reader on every open socket, in place of whichever reader it had (none, at
        ticks; the asyncio transport's, given back)."""
        loop = asyncio.get_running_loop()
        for entry in self._sockets:
            udp, _, sock, _ = entry
            if not udp.is_closing():
                loop._remove_reader(sock.fileno())  # type: ignore[attr-defined]
                loop._add_reader(sock.fileno(), self._read, entry)  # type: ignore[attr-defined]

    async def read_in_trio(self) -> None:
        """Read on readiness from trio tasks of the caller's (one a socket) until cancelled,
        instead of trio-asyncio's reader, which synchronises with the asyncio loop after
        each wake-up (about half a wake-up's cost: the relay wakes for every packet each
        participant sends). On the way out asyncio's reader is back, so that closing the
        connection finds it as usual; a socket closed meanwhile wakes its task first."""
        if self.by_ticks or self.in_trio:
            return
        loop = asyncio.get_running_loop()
        entries = [entry for entry in self._sockets if not entry[0].is_closing()]
        self.in_trio = True
        try:
            async with trio.open_nursery() as nursery:
                for entry in entries:
                    udp, _, sock, _ = entry
                    loop._remove_reader(sock.fileno())  # type: ignore[attr-defined]
                    _notify_before_closing(udp, sock, self)
                    nursery.start_soon(self._watch, entry)
        finally:
            self.in_trio = False
            for entry in entries:
                udp, _, sock, _ = entry
                if not udp.is_closing():
                    loop._add_reader(sock.fileno(), self._read, entry)  # type: ignore[attr-defined]

    async def _watch(self, entry: tuple[Any, Any, socket.socket, int]) -> None:
        udp, _, sock, _ = entry
        while not udp.is_closing():
            try:
                await trio.lowlevel.wait_readable(sock)
            except trio.ClosedResourceError:
                return
            self._read(entry)

    def tick(self, ready: bool) -> None:
        """The owner's tick: read what waits if reading at ticks already; else, once `ready`
        (DTLS up: its handshake is never made to wait for ticks), read at ticks from now on."""
        if not self.by_ticks:
            if not ready:
                return
            self.read_at_ticks()
        self.read_waiting()

    def arrival(self, now: float) -> float | None:
        """When the datagram being handled came, on the clock of `now` (the kernel's stamp),
        if it was read at a tick and so may have waited; None if read as it came."""
        return now - self.age if self.by_ticks else None

    def read_waiting(self) -> None:
        """Read what waits on every socket now (up to TICK_BATCHES batches each)."""
        for entry in self._sockets:
            if not entry[0].is_closing():
                self._read(entry, self._batch * TICK_BATCHES)

    def _add(self, udp: Any, protocol: Any, sock: socket.socket, max_size: int) -> None:
        if sys.platform == "linux" and struct.calcsize("@qq") == _TIMESTAMP_BYTES:
            try:
                sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            except OSError:
                pass  # no arrival stamps: `age` stays 0 (read on readiness, it is ~0)
        entry = (udp, protocol, sock, max_size)
        self._sockets.append(entry)
        self.addresses.append(sock.getsockname()[:2])
        asyncio.get_running_loop()._add_reader(  # type: ignore[attr-defined]
            sock.fileno(), self._read, entry)

    def _read(self, entry: tuple[Any, Any, socket.socket, int], limit: int = 0) -> None:
        """The asyncio transport's `_read_ready`, for up to `limit` datagrams (a batch by
        default), SRTP taken here."""
        _, protocol, sock, max_size = entry
        transport = self._transport
        self.wakeups += 1
        now = time.time()
        for _ in range(limit or self._batch):
            try:
                data, ancillary, _, addr = sock.recvmsg(max_size, _ANCILLARY_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                protocol.error_received(exc)
                return
            self.datagrams += 1
            srtp = getattr(transport, _DTLS_RX_SRTP)
            # RTP and RTCP begin 0b10 (RFC 7983's 128-191), STUN 0-3 and DTLS 20-63.
            # Nothing once DTLS closed (aiortc's receive task would have ended there).
            if srtp is None or not 127 < (data[0] if data else 0) < 192 or is_rtcp(data) \
                    or getattr(transport, _DTLS_STATE) is not DtlsState.CONNECTED:
                try:
                    protocol.datagram_received(data, addr)
                except Exception:  # as asyncio's reader would: logged, the next one read
                    self.faults += 1
                    logger.exception("aioice could not take a datagram read in place")
                continue
            age = 0.0
            for level, kind, stamp in ancillary:
                if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS \
                        and len(stamp) >= _TIMESTAMP_BYTES:
                    seconds, nanoseconds = struct.unpack_from("@qq", stamp)
                    age = max(0.0, now - seconds - nanoseconds * 1e-9)
            self.age = age
            arrival_time_ms = clock.current_ms() - round(age * 1000)
            try:
                plain = srtp.unprotect(data)
            except pylibsrtp.Error:
                self.unprotect_failed += 1
                continue
            self.rtp += 1
            try:
                drive(getattr(transport, _DTLS_HANDLE_RTP)(plain, arrival_time_ms=arrival_time_ms))
            except Exception:  # ours never raise; should one, the next packet is still read
                self.faults += 1
                logger.exception("an RTP packet read in place could not be handled")


def _notify_before_closing(udp: Any, sock: socket.socket, reading: InPlaceReading) -> None:
    """Make the asyncio transport `udp` tell trio before it closes `sock` while `reading`'s
    tasks wait on it (one waiting on a socket closed under it would wait for ever). Not
    otherwise: asyncio's own reader is cancelled by the close itself."""
    close = udp.close

    def closing() -> None:
        if reading.in_trio and not udp.is_closing():
            trio.lowlevel.notify_closing(sock)
        close()

    udp.close = closing


def receive_in_place(transport: RTCDtlsTransport, *, batch: int = IN_PLACE_BATCH
                     ) -> InPlaceReading:
    """Read `transport`'s UDP sockets in place: each time one is readable (or, after
    `read_at_ticks()`, at each of the owner's ticks), every datagram waiting (up to `batch`)
    is read, and SRTP (once DTLS is up and its certificate checked: aiortc sets up SRTP only
    then) is unprotected and given to the transport's RTP handler (`_handle_rtp_data`, ours
    through `intercept_rtp`) right there, its coroutine driven in place (`drive`).
    Everything else, STUN, DTLS and SRTCP, goes to aioice's protocol as the asyncio
    transport would give it, and from there through aiortc's own receive task.

    What this saves per packet: aioice's STUN parse attempt, its asyncio queue, a step of
    the DTLS transport's receive task, and trio-asyncio's hops for each (a synchronisation
    with the asyncio loop after every datagram read); read at ticks, the wake-up itself.
    Call once the connection gathered its candidates (the asyncio transports exist);
    closing the connection removes our reader as it would asyncio's."""
    reading = InPlaceReading(transport, batch)
    for protocol in _gathered_protocols(transport):
        udp = getattr(protocol, "transport", None)
        sock = getattr(udp, _UDP_SOCKET, None)
        if udp is None or sock is None or not hasattr(udp, _UDP_READ_READY) \
                or udp.is_closing():
            continue
        reading._add(udp, protocol, sock, int(getattr(udp, "max_size", 256 * 1024)))
    return reading


def check_seams() -> None:
    """Raise AiortcSeamMissing unless every seam above is where aiortc 1.16 has it."""
    problems = []
    if not aiortc.__version__.startswith(PINNED_VERSION + "."):
        problems.append(
            f"aiortc is {aiortc.__version__}, these seams were read in {PINNED_VERSION}"
        )
    packetize = inspect.getattr_static(Vp8Encoder, "_packetize", None)
    if packetize is None or list(inspect.signature(Vp8Encoder._packetize).parameters) != [
        "buffer",
        "picture_id",
    ]:
        problems.append("Vp8Encoder._packetize(buffer, picture_id) is gone or changed")
    if "self._packetize(" not in inspect.getsource(Vp8Encoder.encode):
        problems.append("Vp8Encoder.encode no longer packetizes through _packetize")
    init = inspect.getsource(RTCRtpReceiver.__init__)
    if "self.__jitter_buffer" not in init:
        problems.append(f"RTCRtpReceiver no longer keeps {_RECEIVER_BUFFER}")
    if "self.__jitter_buffer.add(" not in inspect.getsource(RTCRtpReceiver._handle_rtp_packet):
        problems.append("RTCRtpReceiver no longer rebuilds frames in its jitter buffer")
    if "self._send_keyframe()" not in inspect.getsource(RTCRtpSender._handle_rtcp_packet):
        problems.append("RTCRtpSender no longer handles PLI through _send_keyframe")
    next_frame = inspect.getsource(RTCRtpSender._next_encoded_frame)
    if "self.__encoder.pack(" not in next_frame:
        problems.append("RTCRtpSender no longer packs ready-made packets")
    if "if not self._enabled:" not in next_frame:
        problems.append("RTCRtpSender no longer drops frames through _enabled")
    handle = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    if "packet._data = depayload(" not in handle:
        problems.append("RTCRtpReceiver no longer leaves the depayloaded frame in packet._data")
    if "self.__timestamp_mapper" not in init or "self.__timestamp_mapper.map(" not in handle:
        problems.append(f"RTCRtpReceiver no longer maps timestamps through {_RECEIVER_MAPPER}")
    if "if not self._enabled:" not in handle:
        problems.append("RTCRtpReceiver no longer drops packets through _enabled")
    worker = inspect.getsource(rtcrtpreceiver.decoder_worker)
    if _aiortc_get_decoder is None or "decoder = get_decoder(codec)" not in worker:
        problems.append("aiortc's decoder_worker no longer looks up rtcrtpreceiver.get_decoder")
    if "await receiver._handle_rtp_packet(packet, arrival_time_ms=" not in inspect.getsource(
        RTCDtlsTransport._handle_rtp_data
    ):
        problems.append("RTCDtlsTransport no longer hands packets to _handle_rtp_packet")
    if "self.__certificates" not in inspect.getsource(RTCPeerConnection.__init__):
        problems.append(f"RTCPeerConnection no longer keeps {_CONNECTION_CERTIFICATES}")
    receive_next = inspect.getsource(RTCDtlsTransport._recv_next)
    if "await self._handle_rtp_data(data, arrival_time_ms=arrival_time_ms)" not in receive_next:
        problems.append(f"RTCDtlsTransport no longer hands RTP to {_DTLS_HANDLE_RTP}")
    if "self._rx_srtp.unprotect(data)" not in receive_next:
        problems.append("RTCDtlsTransport no longer unprotects SRTP before handing RTP on")
    send_rtp = inspect.getsource(RTCDtlsTransport._send_rtp)
    if "self._tx_srtp.protect(data)" not in send_rtp or "self.transport._send(" not in send_rtp:
        problems.append(f"RTCDtlsTransport.{_DTLS_SEND_RTP} no longer protects and sends")
    from aioice.ice import Connection
    from aiortc.rtcicetransport import RTCIceGatherer

    if "self._connection = Connection(" not in inspect.getsource(RTCIceGatherer.__init__):
        problems.append(f"RTCIceGatherer no longer keeps its Connection in {_GATHERER_CONNECTION}")
    if "self._protocols" not in inspect.getsource(Connection.__init__):
        problems.append(f"aioice Connection no longer keeps its sockets in {_CONNECTION_PROTOCOLS}")
    from aioice.ice import StunProtocol
    from aiortc.rtcicetransport import RTCIceTransport

    if "await self.transport._send(data)" not in send_rtp:
        problems.append(f"RTCDtlsTransport.{_DTLS_SEND_RTP} no longer sends through the ICE "
                        "transport's _send")
    if "self._send = self._connection.send" not in inspect.getsource(RTCIceTransport.__init__):
        problems.append("RTCIceTransport._send is no longer aioice's Connection.send")
    if "await self.sendto(" not in inspect.getsource(Connection.send) or \
            "await active_pair.protocol.send_data(" not in inspect.getsource(Connection.sendto):
        problems.append("aioice's Connection.send no longer goes to its pair's send_data")
    if "await" in inspect.getsource(StunProtocol.send_data):
        problems.append("aioice's StunProtocol.send_data now waits: rtp_sender_now would hop")
    connect = inspect.getsource(vars(RTCPeerConnection)["_RTCPeerConnection__connect"])
    local_rtp = inspect.getsource(vars(RTCPeerConnection)["_RTCPeerConnection__localRtp"])
    if "await transceiver.sender.send(self.__localRtp(transceiver))" not in connect or \
            "rtp.rtcp.ssrc = transceiver.sender._ssrc" not in local_rtp:
        problems.append("aiortc no longer starts a sender with send(parameters) naming its SSRC")
    if "self._run_rtp(parameters.codecs[0])" not in inspect.getsource(RTCRtpSender.send):
        problems.append("RTCRtpSender no longer sends with its parameters' first codec")
    run_rtcp = inspect.getsource(RTCRtpSender._run_rtcp)
    for name in _SENDER_COUNTERS.values():
        if "self." + name.removeprefix("_RTCRtpSender") not in run_rtcp:
            problems.append(f"RTCRtpSender's sender reports no longer read {name}")
    from asyncio.selector_events import _SelectorDatagramTransport  # type: ignore[attr-defined]

    if "self._sock.recvfrom(self.max_size)" not in inspect.getsource(
        _SelectorDatagramTransport._read_ready
    ) or "self._protocol.datagram_received(data, addr)" not in inspect.getsource(
        _SelectorDatagramTransport._read_ready
    ):
        problems.append("asyncio's datagram transport no longer reads with _sock.recvfrom")
    if "self._loop._remove_reader(self._sock_fd)" not in inspect.getsource(
        _SelectorDatagramTransport.__mro__[1].close
    ):
        problems.append("asyncio's transport close no longer removes the socket's reader")
    if f"self.{_DTLS_RX_SRTP} = Session(" not in inspect.getsource(RTCDtlsTransport):
        problems.append(f"RTCDtlsTransport no longer keeps its SRTP session in {_DTLS_RX_SRTP}")
    if "self._set_state(State.CONNECTED)" not in inspect.getsource(RTCDtlsTransport.start):
        problems.append(f"RTCDtlsTransport no longer keeps its state in {_DTLS_STATE}")
    if "first_byte > 127 and first_byte < 192 and self._rx_srtp" not in receive_next:
        problems.append("RTCDtlsTransport no longer tells SRTP by its first byte")
    if problems:
        raise AiortcSeamMissing("gossip.media.aiortc_seams needs updating: " + "; ".join(problems))
