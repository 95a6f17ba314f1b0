"""A trio-facing wrapper around one aiortc RTCPeerConnection: one audio track each way, and
optionally one video track each way.

    link = MediaLink(fanout.track(), ice_hosts=["127.0.0.1"], video_track=video.track())
    offer = await link.create_offer()          # offerer: SDP after ICE gathering (no trickle)
    answer = await other.accept_offer(offer)   # answerer
    await link.accept_answer(answer)
    async for event in link.events: ...        # ConnectionStateChanged, RemoteTrack, LinkUp,
                                               # Failed, Closed, HandlerError
    await link.close()

A RemoteTrack event comes for each remote track; tell them apart by `track.kind` ("audio",
"video"). Video is optional on either side, and the offer decides: when the offerer has a
video track, an answerer without one still receives it; when the offerer has none, the SDP
has no video section and the answerer's video track stays unsent (`sends_video` is False)
until a re-offer adds one.

Renegotiation in place (aiortc 1.16 supports it on a connected RTCPeerConnection: a second
offer/answer over the same ICE/DTLS transport re-applies each transceiver's direction, which
enables or disables its sender and receiver without touching the others; starting an
already started sender, receiver or ICE transport is a no-op, and gathering is done once.
Checked on loopback: video off and on both ways, and a recvonly video section added to an
audio-only link, with audio and the link untouched): the offerer calls
`create_reoffer()` and `accept_reanswer()`, the answerer `accept_reoffer()`. Camera on/off is
`set_video_sending()` before a re-offer: the video transceiver goes sendrecv <-> recvonly, so
audio never stops. An offerer without video adds a recvonly video section when asked
(`receive_video=True`). Every transceiver shares the one transport (max-bundle), so a
section added mid-call needs no new ICE. A re-offer or re-answer must announce the same DTLS
fingerprints as the signed SDP the live certificate was checked against
(`fingerprints_unchanged`).

Must run inside `gossip.media.loop.open_media_loop()`. ICE offers only `ice_hosts` (literal
addresses, see gossip.media.icehosts); `ice_servers` default to none, since a public STUN
server stalls gathering offline. The peer's audio: with `receive_buffer="in-place"` (what
calls use) the link's UDP socket is read in place and each packet is taken out of SRTP,
opened and decoded by libopus right there, with no aiortc receiver (gossip.media.meshreceive;
the RemoteTrack is then a DecodedAudioTrack the engine reads on trio, `audio_in` has its
counters and `socket_reading` the socket's); given the engine's ticks (`read_at_ticks`) the
socket is read at each playout tick once the link is up, while it receives no video.
"in-place-aioice" takes the audio
out of SRTP the same way but leaves the socket to aioice (a wake-up per packet); otherwise
aiortc's receiver decodes it, its jitter buffer replaced by ours ("ours") or not ("aiortc"):
all three kept as benchmarks' baselines. Video is always decoded by aiortc.

Identity binding: when DTLS comes up the certificate the peer presented is checked against
every fingerprint in the remote SDP (which the call layer has verified the signature of),
before any media is sent. On a mismatch the link stops sending, ends FAILED and reports
FingerprintMismatch; it never reports LinkUp. If aiortc's own check fails first, the link
still reports FingerprintMismatch from the certificate it saw.

Every pyee handler is guarded: an exception escaping one would silently close the peer
connection, so it is caught and reported as a HandlerError event instead.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import trio
import trio_asyncio
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from aiortc.sdp import candidate_from_sdp
from cryptography import x509

from . import icehosts
from .aiortc_seams import InPlaceReading, receiver_buffer, stop_receiving, wrap_receiver_buffer
from .errors import FingerprintMismatch, LinkStateError, MediaError, SdpError
from .fingerprint import (
    certificate_fingerprint,
    check_certificate,
    format_fingerprint,
    sdp_fingerprint,
    sdp_fingerprints,
)
from .framecrypt import EncodedVideoTrack, Kind, Opening, OpeningBuffer, PeerFrames
from .jitter import PassThroughBuffer, install_pass_through
from .meshreceive import (
    LinkReading,
    MeshAudioReceiver,
    announced_audio,
    receive_audio_in_place,
)
from .rtpsend import SentAudioTrack
from .videosend import LinkVideoTrack

logger = logging.getLogger(__name__)

ReceiveBuffer = Literal["in-place", "in-place-aioice", "ours", "aiortc"]
# Each kind of event is sent at most a few times per link (one track, a handful of state
# changes), so this bound is never reached by a link working as designed.
EVENT_CAPACITY = 64
CLOSE_SECONDS = 10.0


class LinkState(enum.Enum):
    NEW = "new"
    NEGOTIATING = "negotiating"  # a description has been set; ICE/DTLS not up yet
    CONNECTED = "connected"  # DTLS up and the presented certificate matches the signed SDP
    FAILED = "failed"
    CLOSED = "closed"


@dataclass(frozen=True)
class ConnectionStateChanged:
    state: str  # aiortc's connectionState: new, connecting, connected, failed, closed


@dataclass(frozen=True)
class RemoteTrack:
    track: MediaStreamTrack


@dataclass(frozen=True)
class LinkUp:
    remote_fingerprint: str


@dataclass(frozen=True)
class Failed:
    reason: str
    error: MediaError | None = None


@dataclass(frozen=True)
class Closed:
    pass


@dataclass(frozen=True)
class HandlerError:
    where: str
    error: Exception


LinkEvent = ConnectionStateChanged | RemoteTrack | LinkUp | Failed | Closed | HandlerError


def ice_server(urls: str | Sequence[str], username: str | None = None,
               credential: str | None = None) -> RTCIceServer:
    """An ICE (STUN/TURN) server entry for `MediaLink(ice_servers=...)`."""
    url_list = [urls] if isinstance(urls, str) else list(urls)
    return RTCIceServer(urls=url_list, username=username, credential=credential)


class MediaLink:
    """One RTCPeerConnection, driven from trio; its events arrive on `events`."""

    def __init__(
        self,
        track: MediaStreamTrack,
        *,
        ice_hosts: Sequence[str],
        ice_servers: Sequence[RTCIceServer] = (),
        receive_buffer: ReceiveBuffer = "ours",
        video_track: MediaStreamTrack | None = None,
        open_frames: PeerFrames | None = None,
    ) -> None:
        self.ice_hosts = icehosts.check_hosts(ice_hosts)
        self.state = LinkState.NEW
        self.remote_track: MediaStreamTrack | None = None  # the peer's audio
        self.remote_video_track: MediaStreamTrack | None = None
        self.failure: Failed | None = None
        self.events_dropped = 0
        self._close_started = False
        self._role: Literal["offerer", "answerer"] | None = None
        self._expected: dict[str, str] = {}
        self._send_events, self.events = trio.open_memory_channel[LinkEvent](EVENT_CAPACITY)
        # Max-bundle: a video section added by a re-offer rides the audio's transport.
        self._pc = RTCPeerConnection(RTCConfiguration(
            iceServers=list(ice_servers), bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self._sender = self._pc.addTrack(track)
        if isinstance(track, SentAudioTrack):
            track.attach(self._sender)  # we send its packets (gossip.media.rtpsend)
        transceiver = next(t for t in self._pc.getTransceivers() if t.sender is self._sender)
        self._receiver = transceiver.receiver
        # Added once the role is known (see _add_video): an answerer may only send video on
        # a transceiver the offer made, else aiortc fails to build the answer.
        self._video_track = video_track
        self._video_sender: RTCRtpSender | None = None
        self._video_receiver: RTCRtpReceiver | None = None
        self._video_wanted = video_track is not None  # see set_video_sending
        self.pass_through: PassThroughBuffer | None = None
        self.audio_in: MeshAudioReceiver | None = None
        self._socket: LinkReading | None = None  # the socket read in place ("in-place")
        # End-to-end frame encryption (gossip.media.framecrypt): the peer's frames are opened
        # where their audio is received in place, or between aiortc receiver's jitter buffer
        # and its decoder.
        self.open_frames = open_frames
        if receive_buffer in ("in-place", "in-place-aioice"):
            self.audio_in = MeshAudioReceiver(open_frames)
            # Max-bundle: the audio section's transport carries every section's packets.
            receive_audio_in_place(self._receiver.transport, self.audio_in)
            if receive_buffer == "in-place":
                self._socket = LinkReading(self._receiver.transport, self.audio_in)
        else:
            if receive_buffer == "ours":
                self.pass_through = install_pass_through(self._receiver)
            self._open_receiver(self._receiver, "audio")
        self._pc.on("connectionstatechange", self._guarded("connectionstatechange",
                                                           self._on_connection_state))
        self._pc.on("track", self._guarded("track", self._on_track))

    # -- identity ---------------------------------------------------------------------------

    @property
    def receiver(self) -> RTCRtpReceiver:
        """aiortc's receiver for the remote audio (for getStats(), and benchmarks)."""
        return self._receiver

    @property
    def sender(self) -> RTCRtpSender:
        """aiortc's sender of our audio (its getStats() has the peer's receiver reports)."""
        return self._sender

    @property
    def audio_opening(self) -> Opening | None:
        """Where the peer's audio frames are opened (None when frames are not sealed)."""
        if self.audio_in is not None:
            return self.audio_in if self.audio_in.sealed else None
        buffer = receiver_buffer(self._receiver)
        return buffer if isinstance(buffer, OpeningBuffer) else None

    @property
    def socket_reading(self) -> InPlaceReading | None:
        """The counters of the link's socket read in place (None: aioice reads it, or not
        gathered yet)."""
        return self._socket.reading if self._socket is not None else None

    def read_at_ticks(self, tick_hooks: list[Callable[[float], None]]) -> None:
        """Read the link's socket at the audio engine's playout ticks (`engine.tick_hooks`)
        once DTLS is up and the peer's certificate checked, until the link closes; nothing
        unless the receive buffer is "in-place"."""
        if self._socket is not None:
            self._socket.read_at_ticks(tick_hooks)

    @property
    def video_receiver(self) -> RTCRtpReceiver | None:
        """aiortc's receiver for the remote video, when this link sends video (for getStats())."""
        return self._video_receiver

    @property
    def dtls_transport(self) -> RTCDtlsTransport:
        return self._receiver.transport

    @property
    def local_fingerprint(self) -> str:
        """Our DTLS certificate's sha-256 fingerprint (the one our SDP announces)."""
        for fingerprint in self.dtls_transport.getLocalParameters().fingerprints:
            if fingerprint.algorithm == "sha-256":
                return format_fingerprint(fingerprint.algorithm, fingerprint.value)
        raise MediaError("aiortc offered no sha-256 fingerprint")  # pragma: no cover

    @property
    def remote_fingerprint(self) -> str | None:
        """sha-256 fingerprint of the certificate the peer presented in DTLS, once it did."""
        certificate = self._presented_certificate()
        if certificate is None:
            return None
        return certificate_fingerprint(certificate)

    def check_remote_fingerprint(self, expected: str) -> None:
        """Raise FingerprintMismatch unless the peer presented the certificate `expected` names."""
        check_certificate(self._presented_certificate(), expected)

    def _presented_certificate(self) -> x509.Certificate | None:
        # aiortc has no public accessor for the peer's certificate; read it from the live
        # pyOpenSSL connection of the DTLS transport, not from any SDP.
        ssl = getattr(self.dtls_transport, "_ssl", None)
        if ssl is None:
            return None
        # None until the handshake has received the peer's certificate.
        return ssl.get_peer_certificate(as_cryptography=True)  # type: ignore[no-any-return]

    def _check_against_remote_sdp(self) -> None:
        if not self._expected:
            raise SdpError("no remote SDP fingerprints to check against")
        certificate = self._presented_certificate()
        for algorithm, value in sorted(self._expected.items()):
            check_certificate(certificate, format_fingerprint(algorithm, value))

    # -- negotiation ------------------------------------------------------------------------

    async def create_offer(self) -> str:
        """Our offer SDP, with every ICE candidate gathered (on `ice_hosts` only)."""
        self._require(LinkState.NEW, None)
        self._role = "offerer"
        self.state = LinkState.NEGOTIATING
        self._add_video()
        self._apply_video_direction()
        offer = await trio_asyncio.aio_as_trio(self._pc.createOffer)()
        await self._set_local(offer)
        return self._pc.localDescription.sdp

    async def accept_offer(self, sdp: str) -> str:
        """Take the peer's offer (already signature-checked) and return our answer SDP."""
        self._require(LinkState.NEW, None)
        self._expected = self._fingerprints_of(sdp)
        self._role = "answerer"
        self.state = LinkState.NEGOTIATING
        await self._set_remote(RTCSessionDescription(sdp=sdp, type="offer"))
        if any(t.kind == "video" for t in self._pc.getTransceivers()):
            self._add_video()  # reuses the recvonly transceiver the offer's video made
            self._apply_video_direction()
        answer = await trio_asyncio.aio_as_trio(self._pc.createAnswer)()
        await self._set_local(answer)
        return self._pc.localDescription.sdp

    async def accept_answer(self, sdp: str) -> None:
        """Take the peer's answer (already signature-checked) to our offer."""
        self._require(LinkState.NEGOTIATING, "offerer")
        if self._expected:
            raise LinkStateError("an answer was already accepted")
        self._expected = self._fingerprints_of(sdp)
        await self._set_remote(RTCSessionDescription(sdp=sdp, type="answer"))

    # -- renegotiation on the connected link -------------------------------------------------

    def set_video_sending(self, sending: bool) -> None:
        """Send our video track (sendrecv) or not (recvonly) from the next negotiation on."""
        self._video_wanted = sending and self._video_track is not None
        self._apply_video_direction()

    async def create_reoffer(self, *, receive_video: bool = True) -> str:
        """A new offer on the connected link (offerer only), reflecting `set_video_sending`;
        `receive_video` adds a recvonly video section if there is none yet."""
        self._require(LinkState.CONNECTED, "offerer")
        if self._pc.signalingState != "stable":
            raise LinkStateError("a re-offer is already waiting for its answer")
        if self._video_transceiver() is None:
            if self._video_track is not None:
                self._add_video()
            elif receive_video:
                transceiver = self._pc.addTransceiver("video", direction="recvonly")
                self._video_receiver = transceiver.receiver
        self._apply_video_direction()
        offer = await trio_asyncio.aio_as_trio(self._pc.createOffer)()
        await self._set_local(offer)
        return self._pc.localDescription.sdp

    async def accept_reoffer(self, sdp: str) -> str:
        """Answer a re-offer on the connected link (answerer only; signature already checked)."""
        self._require(LinkState.CONNECTED, "answerer")
        self._check_unchanged(sdp)
        await self._set_remote(RTCSessionDescription(sdp=sdp, type="offer"))
        if self._video_sender is None and self._video_transceiver() is not None:
            self._add_video()  # a section the re-offer added: our track may go on it
        self._apply_video_direction()
        answer = await trio_asyncio.aio_as_trio(self._pc.createAnswer)()
        await self._set_local(answer)
        return self._pc.localDescription.sdp

    async def accept_reanswer(self, sdp: str) -> None:
        """Take the answer to our re-offer (signature already checked)."""
        self._require(LinkState.CONNECTED, "offerer")
        if self._pc.signalingState != "have-local-offer":
            raise LinkStateError("no re-offer is waiting for an answer")
        self._check_unchanged(sdp)
        await self._set_remote(RTCSessionDescription(sdp=sdp, type="answer"))

    def fingerprints_unchanged(self, sdp: str) -> bool:
        """Whether `sdp` announces exactly the DTLS fingerprints already verified."""
        try:
            return bool(self._expected) and self._fingerprints_of(sdp) == self._expected
        except SdpError:
            return False

    def _check_unchanged(self, sdp: str) -> None:
        if not self.fingerprints_unchanged(sdp):
            raise FingerprintMismatch(
                ", ".join(format_fingerprint(a, v) for a, v in sorted(self._expected.items())),
                "a different fingerprint in a renegotiation")

    @property
    def receives_video(self) -> bool:
        """Whether the last negotiation has the peer sending us video."""
        transceiver = self._video_transceiver()
        return transceiver is not None and transceiver.currentDirection in ("recvonly",
                                                                            "sendrecv")

    @property
    def sending_video(self) -> bool:
        """Whether the last negotiation has us sending video."""
        transceiver = self._video_transceiver()
        return transceiver is not None and transceiver.currentDirection in ("sendonly",
                                                                            "sendrecv")

    @property
    def has_video_section(self) -> bool:
        return self._video_transceiver() is not None

    def _video_transceiver(self) -> RTCRtpTransceiver | None:
        return next((t for t in self._pc.getTransceivers() if t.kind == "video"), None)

    def _apply_video_direction(self) -> None:
        if self._video_sender is None:
            return
        transceiver = next(t for t in self._pc.getTransceivers()
                           if t.sender is self._video_sender)
        transceiver.direction = "sendrecv" if self._video_wanted else "recvonly"

    async def add_ice_candidate(self, candidate: str | None) -> None:
        """Trickle hook: an "a=candidate:" value from the peer, or None for end-of-candidates.

        Offers and answers already carry every candidate; this is for a later trickle mode.
        """
        if candidate is None:
            await trio_asyncio.aio_as_trio(self._pc.addIceCandidate)(None)
            return
        parsed = candidate_from_sdp(candidate.removeprefix("a=").removeprefix("candidate:"))
        parsed.sdpMid = self._sender_mid()
        await trio_asyncio.aio_as_trio(self._pc.addIceCandidate)(parsed)

    async def close(self) -> None:
        """Stop media and tear down ICE/DTLS. Idempotent; ends with a Closed event."""
        if not self._close_started:
            self._close_started = True
            if self._socket is not None:
                self._socket.stop()  # aiortc's closing read on readiness, as usual
            # Shielded so a cancelled owner still releases sockets; bounded so it cannot hang.
            with trio.move_on_after(CLOSE_SECONDS, shield=True):
                try:
                    await trio_asyncio.aio_as_trio(self._pc.close)()
                except asyncio.CancelledError:
                    # Not ours (we are shielded): aioice's close can await a future of its
                    # own that was cancelled when negotiation was interrupted mid-gathering.
                    # The connection is closed all the same.
                    logger.debug("peer connection closed during ICE gathering")
            # aiortc stops ICE last; if its close was cut short (a loaded machine, an error in
            # an earlier step), ICE's consent and monitor tasks would run on forever. Stopping
            # it again is a no-op when it is already closed.
            with trio.move_on_after(CLOSE_SECONDS, shield=True):
                try:
                    await trio_asyncio.aio_as_trio(self.dtls_transport.transport.stop)()
                except (asyncio.CancelledError, Exception) as exc:  # closing, whatever it says
                    logger.debug("ICE transport stop: %r", exc)
        self._finish_closed()

    def _open_receiver(self, receiver: RTCRtpReceiver, kind: Kind) -> None:
        if self.open_frames is None or isinstance(receiver_buffer(receiver), OpeningBuffer):
            return
        frames = self.open_frames
        wrap_receiver_buffer(receiver, lambda inner: OpeningBuffer(inner, frames, kind))

    def _add_video(self) -> None:
        if self._video_track is None:
            return
        self._video_sender = self._pc.addTrack(self._video_track)
        if isinstance(self._video_track, (EncodedVideoTrack, LinkVideoTrack)):
            self._video_track.attach(self._video_sender)
        self._video_receiver = next(t.receiver for t in self._pc.getTransceivers()
                                    if t.sender is self._video_sender)

    @property
    def sends_video(self) -> bool:
        """Whether our video track is on this link (an offer without video leaves it off)."""
        return self._video_sender is not None

    def _sender_mid(self) -> str | None:
        for transceiver in self._pc.getTransceivers():
            if transceiver.sender is self._sender:
                return transceiver.mid
        return None

    def _fingerprints_of(self, sdp: str) -> dict[str, str]:
        sdp_fingerprint(sdp)  # a usable sha-256 fingerprint is required
        return sdp_fingerprints(sdp)

    def _require(self, state: LinkState, role: str | None) -> None:
        if self.state is not state or self._role != role:
            raise LinkStateError(f"not allowed in state {self.state.value} as {self._role}")

    async def _set_local(self, description: RTCSessionDescription) -> None:
        await trio_asyncio.aio_as_trio(icehosts.gather_with_hosts)(
            self.ice_hosts, self._pc.setLocalDescription, description
        )
        if self._socket is not None:
            self._socket.start()  # the candidates' sockets exist now
        self._expect_audio()

    async def _set_remote(self, description: RTCSessionDescription) -> None:
        try:
            await trio_asyncio.aio_as_trio(self._pc.setRemoteDescription)(description)
        except ValueError as exc:  # aiortc's SDP parser and validation raise ValueError
            raise SdpError(f"remote SDP rejected: {exc}") from exc
        self._expect_audio()

    def _expect_audio(self) -> None:
        """Tell the in-place receiver the stream the (signed) remote SDP announces, and our
        SSRC for its reports, once both descriptions are there."""
        local, remote = self._pc.localDescription, self._pc.remoteDescription
        if self.audio_in is None or local is None or remote is None:
            return
        if self._socket is not None:
            self._socket.receiving_video = self.receives_video  # aioice reads it then
        mid = self._sender_mid()
        ssrc, opus, audio = announced_audio(remote.sdp, mid)
        ours, _, _ = announced_audio(local.sdp, mid)
        self.audio_in.expect(ssrc, opus, audio, ours or 0)

    # -- aiortc events (run on the asyncio side, synchronously) ------------------------------

    def _guarded(self, where: str, handler: Callable[..., None]) -> Callable[..., None]:
        def guarded(*args: Any) -> None:
            try:
                handler(*args)
            except Exception as exc:
                logger.exception("peer link handler %s failed", where)
                self._emit(HandlerError(where, exc))

        return guarded

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            if self.audio_in is not None:
                track = self.audio_in.track  # aiortc's receiver gets no packet: ours has them
            self.remote_track = track
        elif track.kind == "video":
            self.remote_video_track = track
            for transceiver in self._pc.getTransceivers():
                if transceiver.kind == "video":
                    self._open_receiver(transceiver.receiver, "video")
        else:
            return
        self._emit(RemoteTrack(track))

    def _on_connection_state(self) -> None:
        state = self._pc.connectionState
        self._emit(ConnectionStateChanged(state))
        if self.state in (LinkState.FAILED, LinkState.CLOSED):
            return
        if state == "connected":
            # This runs inside the DTLS transport's state change, before aiortc starts the
            # sender: a mismatch here means not one media packet goes to the impostor.
            try:
                self._check_against_remote_sdp()
            except (FingerprintMismatch, SdpError) as exc:
                self._sender.replaceTrack(None)
                if self._video_sender is not None:
                    self._video_sender.replaceTrack(None)
                for transceiver in self._pc.getTransceivers():
                    stop_receiving(transceiver.receiver)  # drop anything the impostor sends
                self._fail("DTLS certificate does not match the signed SDP", exc)
                return
            if self.audio_in is not None:
                self.audio_in.accepting = True  # nothing was taken before this check
            self.state = LinkState.CONNECTED
            fingerprint = self.remote_fingerprint
            assert fingerprint is not None
            self._emit(LinkUp(fingerprint))
        elif state == "failed":
            error: MediaError | None = None
            reason = "ICE or DTLS failed"
            if self._presented_certificate() is not None:
                try:
                    self._check_against_remote_sdp()
                except (FingerprintMismatch, SdpError) as exc:
                    error = exc
                    reason = "DTLS certificate does not match the signed SDP"
            self._fail(reason, error)
        elif state == "closed":
            self._finish_closed()

    def _fail(self, reason: str, error: MediaError | None) -> None:
        self.state = LinkState.FAILED
        self.failure = Failed(reason, error)
        self._emit(self.failure)

    def _finish_closed(self) -> None:
        if self.state is LinkState.CLOSED:
            return
        self.state = LinkState.CLOSED
        if self._socket is not None:
            self._socket.stop()
        if self.audio_in is not None:
            self.audio_in.stop()  # the engine's reader of their audio ends, as with aiortc's
        self._emit(Closed())
        self._send_events.close()

    def _emit(self, event: LinkEvent) -> None:
        try:
            self._send_events.send_nowait(event)
        except trio.WouldBlock:
            self.events_dropped += 1
            logger.warning("peer link event channel full; dropped %r", event)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass  # closed link, or nobody listens any more
