"""One peer-to-peer media link as an actor: the PeerLink machine driving one RTCPeerConnection.

Its supervisor restarts it (a fresh RTCPeerConnection, a fresh offer) when it fails, within
the call's restart intensity. The SDP it sends is sealed to the peer and signed; the SDP it
receives was opened and checked by the call actor; and the link only counts as up once the
DTLS certificate the peer presented matches the fingerprint in that signed SDP. Once up, it
renegotiates in place when video is turned on or off (only the first offerer re-offers; the
answerer asks it to), and it drains the peer's video into the call's picture for that peer.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import trio
import trio_asyncio
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import VideoFrame

from gossip._groups import sole_error
from gossip.actors.actor import Actor
from gossip.crypto import PublicKey
from gossip.fsm import MachineDriver, PeerLink, PeerLinkPhase, ProtocolViolation
from gossip.fsm.call import peer_link_status
from gossip.media import icehosts
from gossip.media import peer as media
from gossip.media.adapt import SAMPLE_SECONDS, Health, VideoAdapter, ladder_for
from gossip.media.errors import FingerprintMismatch
from gossip.media.format import FRAME_SECONDS
from gossip.media.lossreports import follow_loss
from gossip.media.video import VideoSourceTrack, decode_counter
from gossip.media.videoframes import LatestFrame
from gossip.media.videosend import LinkVideoTrack
from gossip.wire import Answer, Command, Frame, Ice, Offer

from . import events as ev
from .callcontext import CallContext
from .errors import LinkFailed
from .signalling import SignalPayload, new_link_id, seal_signal

log = logging.getLogger("gossip.client.link")

FPS_WINDOW = 2.0  # seconds of arrivals a video fps figure counts
# CallOptions.mesh_receive -> the media link's receive path ("ours": aiortc's receiver with
# our jitter buffer, the old path).
_RECEIVE_BUFFERS: dict[str, media.ReceiveBuffer] = {
    "in-place": "in-place", "in-place-readiness": "in-place",
    "in-place-aioice": "in-place-aioice", "aiortc": "ours"}


@dataclass
class VideoStats:
    """What arrived of one peer's video, across the link's restarts."""

    frames: int = 0
    arrivals: deque[float] = field(default_factory=lambda: deque(maxlen=512))
    counter: int | None = None        # the last pattern counter decoded, if any
    latency_ms: float | None = None   # wall clock now minus the pattern's drawn-in time

    def add(self, now: float) -> None:
        self.frames += 1
        self.arrivals.append(now)

    def fps(self, now: float) -> float:
        """Frames a second over the last FPS_WINDOW seconds (0 when none arrive): the gaps
        between the frames in the window, measured up to now, so a stalled stream decays."""
        recent = [t for t in self.arrivals if t >= now - FPS_WINDOW]
        if len(recent) < 2 or now <= recent[0]:
            return 0.0
        return (len(recent) - 1) / (now - recent[0])


@dataclass
class LinkStats:
    """The link's progress, for the call's reports (written by the link, read by the call)."""

    state: str = "new"          # as a user sees it (renegotiating still counts as connected)
    machine_state: PeerLinkPhase = PeerLinkPhase.NEW  # the PeerLink machine's own phase
    # The peer's DTLS certificate matched the fingerprint in their signed SDP: the media is
    # bound to the key the call was given. Who holds that key is the call's trust, not this.
    link_authenticated: bool = False
    setup_ms: float | None = None
    attempts: int = 0
    renegotiations: int = 0     # re-offers answered (either role)
    video_sent: str | None = None  # the quality our video to this peer is sent at, if any
    video_steps_down: int = 0   # how often adaptation lowered it (see gossip.media.adapt)
    gave_up: bool = False
    video: VideoStats = field(default_factory=VideoStats)
    changed: trio.Event = field(default_factory=trio.Event)

    def touch(self) -> None:
        self.changed.set()
        self.changed = trio.Event()


@dataclass(frozen=True)
class RemoteSignal:
    payload: SignalPayload


@dataclass(frozen=True)
class VideoChanged:
    """The call's camera was turned on or off (read `CallContext.video_enabled`)."""


Control = SignalPayload | VideoChanged


class PeerLinkActor(Actor):
    inbox_size = 16

    def __init__(self, call: CallContext, peer: str, peer_key: PublicKey, role: str,
                 stats: LinkStats, picture: LatestFrame | None = None) -> None:
        self._call = call
        self._peer = peer
        self._peer_key = peer_key
        self._role = role
        self._stats = stats
        self._picture = picture if picture is not None else LatestFrame()
        self._machine = MachineDriver(PeerLink)
        self._control_in, self._control = trio.open_memory_channel[Control](16)
        self._link_id = new_link_id()  # the offerer's; an answerer adopts the offer's
        self._generation = 0
        self._video_track: VideoSourceTrack | LinkVideoTrack | None = None
        self._audio_track: MediaStreamTrack | None = None  # the peer's, once it came
        self._held_offer: SignalPayload | None = None
        self._want_reoffer = False  # offerer: the peer asked for a re-offer
        # Compare what we send with what we want once per camera switch (and once when up),
        # never in a loop: a peer that will not take our video is not asked again and again.
        self._video_dirty = True

    async def receive(self, message: object) -> object:
        if isinstance(message, RemoteSignal):
            self._control_in.send_nowait(message.payload)
            return None
        if isinstance(message, VideoChanged):
            self._control_in.send_nowait(message)
            return None
        raise TypeError(f"unknown link command {message!r}")

    async def main(self) -> None:
        self.nursery.start_soon(self.serve)
        self._stats.attempts += 1
        options = self._call.options
        frames = self._call.frames  # encode once and seal end to end (gossip.media.framecrypt)
        sent_video: MediaStreamTrack | None = None
        if self._call.video is not None:
            if frames is not None and frames.video is not None:  # the call's one encoder
                self._video_track = sent_video = frames.video.link_track()
            else:
                self._video_track = self._call.video.track()
                sent_video = frames.video_track(self._video_track) if frames \
                    else self._video_track
            self._video_track.enabled = self._call.video_enabled
        link = media.MediaLink(
            frames.audio_track() if frames else self._call.fanout.track(),
            ice_hosts=options.ice_hosts or icehosts.interface_addresses(),
            ice_servers=[media.ice_server(url) for url in options.ice_servers],
            video_track=sent_video,
            open_frames=frames.peer(self._peer) if frames else None,
            receive_buffer=_RECEIVE_BUFFERS[options.mesh_receive])
        # The peer's packets read at the engine's playout ticks once the link is up: no
        # wake-up per packet (what relayed calls do, gossip.client.relaylink).
        if options.mesh_receive == "in-place":
            link.read_at_ticks(self._call.engine.tick_hooks)
        link.set_video_sending(self._call.video_enabled)
        try:
            with trio.fail_after(options.connect_timeout):
                if self._role == "offerer":
                    await self._offer(link)
                else:
                    await self._answer(link)
                with _one_error():
                    async with trio.open_nursery() as early:
                        early.start_soon(self._early_signals, link)
                        await self._until_connected(link)
                        early.cancel_scope.cancel()
            await self._step("transport_up", matches=True)
            if self._call.greet is not None:
                await self._call.greet(self._peer)
            assert self._stats.setup_ms is not None
            await self._call.emit(ev.CallPeerConnected(
                self._call.channel, self._peer, self._stats.setup_ms,
                trust=self._call.peer_trust(self._peer), fingerprint=self._peer_key.fingerprint))
            if self._machine.phase is PeerLinkPhase.MAKING_REANSWER:
                await self._answer_reoffer(link)
            self._after_negotiation(link)
            await self._while_connected(link)
        except trio.TooSlowError:
            await self._step("timeout")
            raise LinkFailed(f"no link to {self._peer} within {options.connect_timeout:g} s") \
                from None
        finally:
            if self._audio_track is not None:  # only if the call still plays them from it
                self._call.engine.remove_peer(self._peer, self._audio_track)
            self._picture.clear()
            if self._video_track is not None:
                self._video_track.stop()
            await link.close()  # never raises aioice's stray CancelledError (see media.peer)

    # -- the first offer and answer -----------------------------------------------------------
    async def _offer(self, link: media.MediaLink) -> None:
        await self._step("start_offering")
        sdp = await link.create_offer()
        await self._step("offer_ready", sdp=sdp, link_id=self._link_id)
        while True:
            answer = await self._next_signal()
            if answer.kind == "answer" and answer.link_id == self._link_id \
                    and answer.generation == 0:
                break
            log.info("link %s: ignoring %s for another attempt", self._peer, answer.kind)
        await self._step("answer")
        await link.accept_answer(answer.sdp)

    async def _answer(self, link: media.MediaLink) -> None:
        await self._step("start_answering")
        while True:
            offer = await self._next_signal()
            if offer.kind == "offer":
                break
        self._link_id, self._generation = offer.link_id, offer.generation
        await self._step("offer")
        sdp = await link.accept_offer(offer.sdp)
        await self._step("answer_ready", sdp=sdp, link_id=offer.link_id)

    async def _next_signal(self) -> SignalPayload:
        """The next sealed signal; camera switches before the link is up only set how it
        starts (see _video_switch), and a request for a re-offer is remembered."""
        while True:
            item = await self._control.receive()
            if isinstance(item, VideoChanged):
                self._video_switch(None)
            elif item.kind == "renegotiate" and self._role == "offerer":
                self._want_reoffer = True
            else:
                return item

    async def _until_connected(self, link: media.MediaLink) -> None:
        async for event in link.events:
            if isinstance(event, media.RemoteTrack):
                self._take_track(link, event.track)
            elif isinstance(event, media.LinkUp):
                # The caller steps the machine once the early-signal task is gone.
                self._stats.link_authenticated = True
                self._stats.setup_ms = (trio.current_time() - self._call.joined_at) * 1000
                return
            elif isinstance(event, media.Failed):
                if isinstance(event.error, FingerprintMismatch):
                    await self._step("transport_up", matches=False)
                    raise LinkFailed(f"{self._peer}'s DTLS certificate is not the one in "
                                     f"their signed offer: {event.reason}")
                await self._step("transport_failed")
                raise LinkFailed(f"link to {self._peer} failed: {event.reason}")
            elif isinstance(event, media.HandlerError):
                log.warning("link %s: %s handler failed: %r", self._peer, event.where,
                            event.error)
        raise LinkFailed(f"link to {self._peer} closed while connecting")

    async def _early_signals(self, link: media.MediaLink) -> None:
        """While the transport comes up: hold a re-offer (the newest) for when it is."""
        while True:
            item = await self._next_signal()
            if self._role == "answerer" and self._is_fresh_reoffer(item):
                await self._step("offer", matches=link.fingerprints_unchanged(item.sdp))
                self._fail_if_impostor("re-offer")
                self._held_offer = item
            else:
                log.info("link %s: dropping an early %s", self._peer, item.kind)

    # -- connected: renegotiation and the peer's video -----------------------------------------
    async def _while_connected(self, link: media.MediaLink) -> None:
        with _one_error():
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch_link, link)
                if self._call.frames is not None:  # its FEC follows the loss this peer reports
                    nursery.start_soon(follow_loss, link.sender, self._call.frames.audio,
                                       self._peer)
                if self._video_track is not None:
                    nursery.start_soon(self._adapt_video, self._video_track)
                await self._reconcile(link)
                while True:
                    item = await self._receive_control()
                    await self._take_control(link, item)
                    await self._reconcile(link)

    async def _adapt_video(self, track: VideoSourceTrack | LinkVideoTrack) -> None:
        """Every few seconds: this link's health in, the quality of our video to this peer
        out, so that voice never pays for video (see gossip.media.adapt)."""
        source = track.fanout.source
        adapter = VideoAdapter(ladder_for(source.width, source.height, source.fps))
        self._apply_share(adapter, track)
        then, before = trio.current_time(), self._health_counters(track)
        while True:
            await trio.sleep(SAMPLE_SECONDS)
            self._apply_share(adapter, track)
            now, counters = trio.current_time(), self._health_counters(track)
            sent, skipped, ticks, late, received, peer_late = (
                after - earlier for after, earlier in zip(counters, before, strict=True))
            then, before, seconds = now, counters, now - then
            if not track.enabled:
                continue  # camera off: black frames say nothing about the cost of video
            hears_peer = counters[4] > 0  # their audio has begun: from now on it is due
            health = Health(seconds, video_due=sent + skipped, video_skipped=skipped,
                            playout_ticks=ticks, playout_late=late,
                            peer_audio_due=round(seconds / FRAME_SECONDS) if hears_peer else 0,
                            peer_audio_received=received, peer_audio_late=peer_late)
            rung = adapter.rung
            quality = adapter.observe(health)
            if quality is None:
                continue
            track.set_quality(quality.width, quality.height, quality.fps)
            self._stats.video_sent = str(quality)
            if adapter.rung > rung:
                self._stats.video_steps_down += 1
                log.info("link %s: video down to %s (%s)", self._peer, quality, adapter.reason)
            else:
                log.info("link %s: video back up to %s", self._peer, quality)

    def _apply_share(self, adapter: VideoAdapter,
                     track: VideoSourceTrack | LinkVideoTrack) -> None:
        """Keep within this link's share of the call's video budget (peers come and go)."""
        quality = adapter.share(self._call.links())
        if quality is not None:
            track.set_quality(quality.width, quality.height, quality.fps)
            log.info("link %s: video at %s (%s)", self._peer, quality, adapter.reason)
        self._stats.video_sent = str(adapter.quality)

    def _health_counters(self, track: VideoSourceTrack | LinkVideoTrack) -> tuple[int, ...]:
        """Running totals; the adapter's samples are their differences."""
        engine = self._call.engine
        received = late = 0
        if self._peer in engine.peers:
            audio = engine.peer(self._peer)
            received, late = audio.frames_received, audio.jitter.late
        return (track.frames_sent, track.slots_skipped, engine.frames_played,
                engine.late_ticks, received, late)

    async def _receive_control(self) -> Control:
        if self._machine.phase is not PeerLinkPhase.AWAITING_REANSWER:
            return await self._control.receive()
        with trio.move_on_after(self._call.options.connect_timeout):
            return await self._control.receive()
        await self._step("timeout")
        raise LinkFailed(f"{self._peer} never answered a re-offer")

    async def _watch_link(self, link: media.MediaLink) -> None:
        async for event in link.events:
            if isinstance(event, media.RemoteTrack):
                self._take_track(link, event.track)
            elif isinstance(event, (media.Failed, media.Closed)):
                await self._step("transport_failed")
                raise LinkFailed(f"link to {self._peer} broke: "
                                 f"{getattr(event, 'reason', 'closed')}")
        await self._step("transport_failed")
        raise LinkFailed(f"link to {self._peer} closed")

    async def _take_control(self, link: media.MediaLink, item: Control) -> None:
        state = self._machine.phase
        if isinstance(item, VideoChanged):
            self._video_switch(link)
        elif item.kind == "renegotiate" and self._role == "offerer":
            self._want_reoffer = True
        elif item.kind == "answer" and state is PeerLinkPhase.AWAITING_REANSWER \
                and (item.link_id, item.generation) == (self._link_id, self._generation):
            await self._step("answer", matches=link.fingerprints_unchanged(item.sdp))
            self._fail_if_impostor("re-answer")
            await link.accept_reanswer(item.sdp)
            self._stats.renegotiations += 1
            self._after_negotiation(link)
        elif self._role == "answerer" and self._is_fresh_reoffer(item):
            await self._step("offer", matches=link.fingerprints_unchanged(item.sdp))
            self._fail_if_impostor("re-offer")
            self._held_offer = item
            await self._answer_reoffer(link)
            self._after_negotiation(link)
        else:
            log.info("link %s: dropping a stale %s (generation %d) in %s", self._peer,
                     item.kind, item.generation, state)

    def _is_fresh_reoffer(self, item: SignalPayload) -> bool:
        return item.kind == "offer" and item.link_id == self._link_id \
            and item.generation > self._generation

    async def _answer_reoffer(self, link: media.MediaLink) -> None:
        offer, self._held_offer = self._held_offer, None
        assert offer is not None
        self._generation = offer.generation
        sdp = await link.accept_reoffer(offer.sdp)
        await self._step("answer_ready", sdp=sdp, link_id=self._link_id)
        self._stats.renegotiations += 1

    async def _reconcile(self, link: media.MediaLink) -> None:
        """Start a round if what we send is not what we want (or the peer asked for one)."""
        state = self._machine.phase
        if state not in (PeerLinkPhase.CONNECTED, PeerLinkPhase.ANSWER_CONNECTED):
            return  # a round is under way; we look again when it ends
        mismatch = False
        if self._video_dirty:
            self._video_switch(link)  # the call's switch as it is now, missed or not
            self._video_dirty = False
            wants = self._video_track is not None and self._call.video_enabled
            mismatch = self._video_track is not None and wants != link.sending_video
        if self._role == "offerer" and (mismatch or self._want_reoffer):
            self._want_reoffer = False
            self._generation += 1
            await self._step("renegotiate")
            sdp = await link.create_reoffer(receive_video=True)
            await self._step("offer_ready", sdp=sdp, link_id=self._link_id)
        elif self._role == "answerer" and mismatch:
            await self._step("request_offer", link_id=self._link_id)

    def _video_switch(self, link: media.MediaLink | None) -> None:
        enabled = self._call.video_enabled
        self._video_dirty = True
        if self._video_track is not None:
            # Black at once (cheap, and the peer sees the camera go off before the
            # renegotiation stops the track); the source is not read while disabled.
            self._video_track.enabled = enabled
        if link is not None:
            link.set_video_sending(enabled)

    def _after_negotiation(self, link: media.MediaLink) -> None:
        if not link.receives_video:
            self._picture.clear()
        self._stats.touch()

    def _fail_if_impostor(self, what: str) -> None:
        if self._machine.finished:
            raise LinkFailed(f"{self._peer}'s {what} announces a different DTLS fingerprint")

    def _take_track(self, link: media.MediaLink, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            if self._audio_track is None:
                self._audio_track = track
                # The call plays it at once, or, while it still plays this peer through the
                # relay, once a frame of theirs opens here (make before break).
                if self._call.take_audio is not None:
                    self._call.take_audio(self._peer, track, link.audio_opening)
                else:
                    self._call.engine.replace_peer(self._peer, track)
        elif track.kind == "video":
            self.nursery.start_soon(self._drain_video, link, track)

    async def _drain_video(self, link: media.MediaLink, track: MediaStreamTrack) -> None:
        """The peer's decoded pictures into its LatestFrame, converted to RGB once each.

        This runs on the one thread that also runs every link's asyncio side, so a frame
        that is already stale when we get to it (a newer one is queued) is skipped
        unconverted.
        """
        stats = self._stats.video
        while True:
            try:
                frame = await trio_asyncio.aio_as_trio(track.recv)()
                frame = _newest_queued(track, frame)
            except MediaStreamError:
                return
            if not isinstance(frame, VideoFrame) or not link.receives_video:
                continue  # a frame decoded before the peer's video was negotiated away
            image = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
            now = trio.current_time()
            self._picture.put(image, now)
            stats.add(now)
            code = decode_counter(image)
            if code is not None:
                stats.counter = code[0]
                stats.latency_ms = time.time() * 1000 - code[1]

    # -- the machine --------------------------------------------------------------------------
    async def _step(self, event: str, *, matches: bool = False, sdp: str = "",
                    link_id: str = "") -> None:
        def signal(command: Command) -> Frame:
            # An `ice` frame from this machine is the answerer asking for a re-offer.
            kind = "renegotiate" if command is Command.ICE else command.value
            payload = SignalPayload(kind=kind, channel=self._call.channel,
                                    sender=self._call.identity.user, recipient=self._peer,
                                    link_id=link_id, sdp=sdp, sent_at=self._call.clock(),
                                    generation=self._generation)
            blob = seal_signal(payload, self._call.identity, self._peer_key)
            return _SIGNAL_FRAMES[command](channel=self._call.channel, peer=self._peer,
                                           blob=blob)

        try:
            step = self._machine.step(event, {command: partial(signal, command)
                                              for command in _SIGNAL_FRAMES}, matches=matches)
        except ProtocolViolation as exc:
            # The driver's policy: a peer that breaks the link protocol fails this link; its
            # supervisor decides whether to start it again.
            raise LinkFailed(f"{self._peer} broke the link protocol: {exc}") from None
        self._stats.machine_state = self._machine.phase
        self._stats.state = peer_link_status(self._machine.phase)
        self._stats.touch()
        if step.frames:
            await self._call.send(step.frames)
        for what in step.reports:
            log.debug("link %s: %s", self._peer, what)


_SIGNAL_FRAMES: dict[Command, type[Offer | Answer | Ice]] = {
    Command.OFFER: Offer, Command.ANSWER: Answer, Command.ICE: Ice}


@contextmanager
def _one_error() -> Iterator[None]:
    """Raise a nursery's one real error (a LinkFailed, say) as itself, not in a group, so
    the supervisor and the call's reports see what went wrong."""
    try:
        yield
    except BaseExceptionGroup as group:
        error = sole_error(group)
        if error is group:
            raise
        raise error from None


def _newest_queued(track: MediaStreamTrack, frame: object) -> object:
    """`frame`, or the newest frame already queued behind it (aiortc's RemoteStreamTrack
    keeps an asyncio.Queue; None in it marks the end of the track)."""
    queue = getattr(track, "_queue", None)
    if queue is None:
        return frame
    while not queue.empty():
        newer = queue.get_nowait()
        if newer is None:
            track.stop()
            raise MediaStreamError
        frame = newer
    return frame
