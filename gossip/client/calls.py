"""A call the user is in, as an actor, with one supervised peer-link actor per other member.

    Session ── CallActor (one per call: the ClientCall machine, audio engine, mic fanout)
                 └─ per peer: Supervisor (restart intensity) ── PeerLinkActor (PeerLink
                    machine, one RTCPeerConnection)

The call actor sends to the hub with the function the session gives it, learns keys only
from what the session hands it with each frame, and opens every sealed signal before a link
sees it. A link that keeps failing is given up and reported; the other links carry on.

Who a peer is stays apart from how good its link is: each peer carries the trust the
session's pins give its key (new, pinned, verified, changed), read when the peer is seen and
refreshed as it changes. A first-contact key is called but announced loudly
(CallPeerUnknown); a changed key that was not accepted is never called (CallPeerKeyChanged);
in a private channel, nobody the channel's verified roster does not name is called, whatever
the hub's call roster says (CallPeerNotMember).

Video: with a source the call owns one VideoFanout (every link's track reads the same frame
per slot) and a self-view picture; each peer has one LatestFrame for its life in the call
(`GetVideoFrames`). `SetVideo` turns the camera off or on: the links renegotiate in place.
"""

from __future__ import annotations

import collections
import functools
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import trio
import trio_asyncio
from aiortc.mediastreams import MediaStreamTrack

from gossip.actors.actor import Actor, ActorRef
from gossip.actors.errors import ActorStopped, RestartIntensityExceeded
from gossip.actors.supervisor import ChildSpec, Restart, Supervisor
from gossip.client.errors import SignalRejected
from gossip.crypto import Identity, PublicKey
from gossip.crypto.frames import FrameKey, FrameOpenError
from gossip.crypto.pins import Trust
from gossip.fsm import (
    NO_BUILDERS,
    Builders,
    ClientCall,
    ClientCallPhase,
    FrameKeys,
    FrameKeysOrder,
    MachineDriver,
    PeerLinkPhase,
    ProtocolViolation,
)
from gossip.media import icehosts
from gossip.media.capturechain import CaptureChain, open_voice_path
from gossip.media.engine import AudioEngine, open_audio_engine
from gossip.media.fallback import (
    LostDevice,
    replace_lost_devices,
    switchable_sink,
    switchable_source,
)
from gossip.media.framecrypt import CallFrames, Opening, PeerFrames
from gossip.media.loop import open_media_loop
from gossip.media.rtpsend import AudioSending
from gossip.media.sinks import parse_sink
from gossip.media.sources import parse_source
from gossip.media.track import SourceFanout
from gossip.media.video import VideoFanout, VideoSourceTrack
from gossip.media.videoframes import LatestFrame
from gossip.media.videosend import SharedVideo
from gossip.wire import Answer, CallMembers, Command, Error, HangUp, Ice, Offer, StartCall

from . import events as ev
from .callcontext import CallContext
from .calltypes import (
    NOT_CALLED,
    CallFrame,
    CallOptions,
    CallState,
    FrameSender,
    GetCallState,
    GetVideoFrames,
    IdentityLookup,
    LeaveCall,
    PeerIdentity,
    PeerState,
    SetDeafened,
    SetMuted,
    SetTalkKey,
    SetTransmit,
    SetVideo,
    SetVolume,
    VideoFrames,
)
from .peerlink import LinkStats, PeerLinkActor, RemoteSignal, VideoChanged
from .signalling import (
    MEDIA_CAMERA_ON,
    MEDIA_MUTED,
    SignalPayload,
    open_signal,
    seal_signal,
)

if TYPE_CHECKING:
    from .relaylink import Heard, RelayLink

log = logging.getLogger("gossip.client.call")

# A link in these phases has taken no offer yet, so a new offer is simply its first.
_NOT_YET_LINKED = (PeerLinkPhase.NEW, PeerLinkPhase.AWAITING_OFFER)


@asynccontextmanager
async def _media_loop() -> AsyncIterator[None]:
    """The process's asyncio loop for aiortc: the one the caller opened (the app, the CLI or
    a test enters `open_media_loop()` once), or one for this call alone."""
    if trio_asyncio.current_loop.get() is not None:
        yield
        return
    async with open_media_loop():
        yield


SELF_VIEW_FPS = 15.0  # the self-view needs no more; it is a reference swap per put
RELAY_SLOTS = 24  # others heard through the relay at most (a call of 25)
MESH_FALLBACK_MEMBERS = 8  # a call this small falls back to the mesh if its relay fails
WANT_PAUSE_SECONDS = 0.25  # between two wants of whose video to watch through the relay
# Make before break: between mesh and relay, a peer is played through the old path until a
# frame of theirs opens on the new one, or this long at most.
HANDOVER_SECONDS = 5.0
# ... and the old path keeps sending this long after: the peer at its other end moves on its
# own clock, and is played through it until the new path delivers there too.
HANDOVER_GRACE_SECONDS = 2.0


@dataclass(frozen=True)
class _Path:
    """How a peer's audio reaches us on one path: the track it is decoded into, and where
    their frames are opened (None when frames are not sealed)."""

    track: MediaStreamTrack
    opening: Opening | None


@dataclass
class _Peer:
    key: PublicKey
    trust: Trust  # of `key`, as the pins give it (refreshed; never taken from the link)
    stats: LinkStats
    picture: LatestFrame  # the peer's video, the same object for its whole stay
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    ref: ActorRef | None = None
    link_id: str | None = None  # the offer the current link answers
    # Their frame keys as we hold them (one machine for their whole stay in the call).
    frame_key_sent_at: float = 0.0  # of the newest frame key they handed us
    frame_keys: MachineDriver[FrameKeys] = field(
        default_factory=lambda: MachineDriver(FrameKeys))
    path_switches: int = 0  # mesh <-> relay, for their whole stay
    mesh: _Path | None = None  # their audio on this peer's mesh link, once it came
    path_breaks: int = 0  # ... where the old path was not playing them when the new one did
    # What they said they send (MEDIA_MUTED | MEDIA_CAMERA_ON; None: not said yet), and when
    # they said it: a word no newer than the last taken is dropped (the hub reordering).
    media_state: int | None = None
    media_state_sent_at: float = 0.0


class CallActor(Actor):
    inbox_size = 256

    def __init__(self, channel: str, identity: Identity, send: FrameSender,
                 options: CallOptions, events: trio.MemorySendChannel[ev.SessionEvent],
                 clock: Callable[[], float], identities: IdentityLookup) -> None:
        self.channel = channel
        self._identities = identities
        self._identity = identity
        self._send_frames = send
        self._options = options
        self._events = events
        self._clock = clock
        self._machine = MachineDriver(ClientCall)
        self._members: tuple[str, ...] = ()
        self._peers: dict[str, _Peer] = {}
        self._departed: dict[str, PeerState] = {}
        # In the roster under a changed, unaccepted key: shown, never called.
        self._not_called: dict[str, PeerState] = {}
        self._context: CallContext | None = None
        self._muted = options.muted
        self._deafened = False
        self._self_view: LatestFrame | None = None
        self._video_switched = trio.Event()
        self._capture: CaptureChain | None = None
        self.ended = trio.Event()
        # The hub names a relay once the call is past its threshold (gossip.relay): then one
        # hop to it replaces the mesh, until the hub stops naming it.
        self._relay: tuple[str, str, str] | None = None  # (url, fingerprint, our ticket)
        self._relay_scope: trio.CancelScope | None = None
        self._relay_heard: set[str] = set()
        # Carried by the relay before the hub's roster named them to us: heard once it does.
        self._relay_unclaimed: dict[str, Heard] = {}
        # Make before break. To the relay: each peer's mesh link, kept (and played) until the
        # relay delivers them. To the mesh: who is still played through the relay (their
        # track there), kept until their new link delivers them; then the relay is left.
        self._handover: dict[str, _Peer] = {}
        self._relay_played: dict[str, _Path] = {}
        self._moving: set[str] = set()  # to the mesh, not yet played through their link
        self._handed_over = trio.Event()  # set (and replaced) as each peer moves
        # Signals refused, by reason (SignalRejected's, "replayed", "not_in_call").
        self._signals_refused: collections.Counter[str] = collections.Counter()
        self._relay_video: VideoSourceTrack | None = None  # what we send the relay

    # -- lifecycle --------------------------------------------------------------------------
    async def main(self) -> None:
        # A device end is switchable so an unplugged one can be replaced mid-call.
        source = switchable_source(parse_source(self._options.source)
                                   if isinstance(self._options.source, str)
                                   else self._options.source)
        sink = switchable_sink(parse_sink(self._options.sink)
                               if isinstance(self._options.sink, str) else self._options.sink)
        video = None
        try:
            video = self._options.video_source()
            # Processing, speech detection and the transmit gate sit before the fanout; the
            # engine plays into a sink that hands the echo canceller what it played.
            self._capture, played_into = open_voice_path(source, sink, self._options.voice)
            async with _media_loop(), open_audio_engine(played_into) as engine:
                fanout = SourceFanout(self._capture)
                options = self._options
                frames = (CallFrames(fanout, encrypt=options.frame_encryption)
                          if options.encode_once or options.frame_encryption else None)
                self._context = CallContext(
                    self.channel, self._identity, self._options, engine,
                    fanout, self._send_frames, trio.current_time(), self._clock,
                    self._emit, VideoFanout(video) if video is not None else None,
                    video is not None and self._options.video_enabled,
                    lambda: len(self._peers), self._current_trust, frames,
                    self._greet, self._take_audio)
                self._apply_audio_switches()
                async with trio.open_nursery() as links:
                    self._links = links
                    if frames is not None and options.send_path == "ours":
                        sending = AudioSending(frames.audio)
                        frames.sending = sending
                        engine.tick_hooks.append(sending.tick)
                    if frames is not None and self._context.video is not None \
                            and options.video_encode == "once":
                        frames.video = SharedVideo(self._context.video, frames.sealer)
                    links.start_soon(self._watch_speaking, engine, self._capture)
                    links.start_soon(replace_lost_devices, source, sink,
                                     self._device_lost)
                    if self._context.video is not None:
                        self._self_view = LatestFrame()
                        links.start_soon(self._show_self, self._context.video,
                                         self._self_view)
                    await self._run("join", {
                        Command.START_CALL: lambda: StartCall(channel=self.channel)})
                    await self.serve()
                    links.cancel_scope.cancel()
        finally:
            source.close()
            sink.close()
            if video is not None:
                video.close()
            self.ended.set()

    async def receive(self, message: object) -> object:
        if isinstance(message, CallFrame):
            await self._take_frame(message)
        elif isinstance(message, LeaveCall):
            if self._machine.phase in (ClientCallPhase.JOINING, ClientCallPhase.IN_CALL):
                await self._run("leave", {
                    Command.HANG_UP: lambda: HangUp(channel=self.channel)})
            elif not self._machine.finished:
                self.stop()
        elif isinstance(message, SetMuted):
            self._muted = message.muted
            self._apply_audio_switches()
            await self._tell_media_state()
        elif isinstance(message, SetDeafened):
            self._deafened = message.deafened
            self._apply_audio_switches()
            await self._tell_media_state()
        elif isinstance(message, SetTransmit):
            if self._capture is not None:
                self._capture.gate.mode = message.mode
        elif isinstance(message, SetTalkKey):
            if self._capture is not None:
                self._capture.gate.key_held = message.held
        elif isinstance(message, SetVolume):
            assert self._context is not None
            self._context.engine.mixer.set_volume(message.peer, message.volume)
        elif isinstance(message, GetCallState):
            await self._refresh_trust()
            return self.state()
        elif isinstance(message, SetVideo):
            await self._set_video(message.enabled)
        elif isinstance(message, GetVideoFrames):
            return VideoFrames(self._self_view,
                               {user: peer.picture for user, peer in self._peers.items()})
        else:
            raise TypeError(f"unknown call command {message!r}")
        return None

    async def _set_video(self, enabled: bool) -> None:
        context = self._context
        if context is None or context.video is None:
            log.info("call %s: no video source to turn %s", self.channel,
                     "on" if enabled else "off")
            return
        if context.video_enabled == enabled:
            return
        context.video_enabled = enabled
        if self._relay_video is not None:
            self._relay_video.enabled = enabled
        if not enabled and self._self_view is not None:
            self._self_view.clear()  # at once: the self-view task may be asleep till its slot
        self._video_switched.set()
        self._video_switched = trio.Event()
        for peer in self._peers.values():
            if peer.ref is not None:
                try:
                    await peer.ref.tell(VideoChanged())
                except ActorStopped:
                    pass
        await self._tell_media_state()

    async def _show_self(self, fanout: VideoFanout, view: LatestFrame) -> None:
        """The self-view: the fanout's picture at up to SELF_VIEW_FPS (a reference swap;
        the slot is the one the links send, so the source is not read twice for it)."""
        assert self._context is not None
        every = max(1, round(fanout.source.fps / SELF_VIEW_FPS))
        while True:
            if not self._context.video_enabled:
                view.clear()
                await self._video_switched.wait()
                continue
            now = trio.current_time()
            slot = fanout.current_slot(now)
            view.put(fanout.image_for(slot), now)
            await trio.sleep_until(fanout.slot_deadline(slot + every))

    def _apply_audio_switches(self) -> None:
        """Mute stops sending; deafen stops playing and also mutes."""
        if self._context is not None:
            self._context.fanout.muted = self._muted or self._deafened
            self._context.engine.mixer.deafened = self._deafened

    def state(self) -> CallState:
        """Everyone who was in the call while we were: current peers and departed ones."""
        peers = dict(self._departed)
        peers.update(self._not_called)
        for user, peer in self._peers.items():
            peers[user] = self._peer_state(user, peer)
        frames = self._context.frames if self._context is not None else None
        sealer = frames.sealer if frames is not None else None
        key_id = sealer.key.key_id if sealer else None
        relayed = self._relay_scope is not None
        capture = self._capture
        if capture is None:
            state = CallState(self.channel, self._machine.phase, self._members, self._muted,
                              self._deafened, peers, self._options.voice.transmit)
        else:
            state = CallState(self.channel, self._machine.phase, self._members, self._muted,
                              self._deafened, peers, capture.gate.mode, self._self_speaking(),
                              capture.gate.key_held, capture.processor.stages.describe(),
                              capture.frames_sent, capture.frames)
        video = self._context.video if self._context is not None else None
        shared_video = frames.video if frames is not None else None
        return replace(state, frame_key_id=key_id, relayed=relayed,
                       signals_refused=dict(self._signals_refused),
                       video_pictures=video.frames_read if video is not None else 0,
                       video_frames_encoded=shared_video.frames_encoded if shared_video else 0)

    def _self_speaking(self) -> bool:
        capture = self._capture
        return capture is not None and capture.speaking and not (self._muted or self._deafened)

    async def _watch_speaking(self, engine: AudioEngine, capture: CaptureChain) -> None:
        """CallSpeaking events as anyone (us too) starts or stops speaking: rechecked after
        every frame the engine takes in or plays, emitted only on a change."""
        me = self._identity.user

        def speaking_now() -> frozenset[str]:
            now = {user for user in self._peers if engine.mixer.speaking(user)}
            if self._self_speaking():
                now.add(me)
            return frozenset(now)

        shown: frozenset[str] = frozenset()

        def changed() -> bool:
            return speaking_now() != shown

        while True:
            await engine.wait_until(changed)
            current = speaking_now()
            for user in sorted(current ^ shown):
                await self._emit(ev.CallSpeaking(self.channel, user, user in current))
            shown = current

    def _video_sent(self, link_quality: str | None) -> str | None:
        """What our video goes to a peer at: the call's one stream, at the lowest quality
        any link can take (gossip.media.videosend), whatever this link alone would take."""
        frames = self._context.frames if self._context is not None else None
        if link_quality is None or frames is None or frames.video is None \
                or frames.video.quality is None:
            return link_quality
        return str(frames.video.quality)

    def _peer_state(self, user: str, peer: _Peer) -> PeerState:
        context = self._context
        audio = None
        if context is not None and user in context.engine.peers:
            audio = context.engine.peer(user)
        first = audio.first_audio_at if audio is not None else None
        return PeerState(
            user=user, link=peer.stats.state,
            frames_received=audio.frames_received if audio is not None else 0,
            setup_ms=peer.stats.setup_ms,
            first_audio_ms=(first - context.joined_at) * 1000
            if first is not None and context is not None else None,
            link_authenticated=peer.stats.link_authenticated,
            level_dbfs=context.engine.mixer.level(user) if context else -100.0,
            volume=context.engine.mixer.volume(user) if context else 1.0,
            gave_up=peer.stats.gave_up,
            trust=peer.trust, fingerprint=peer.key.fingerprint,
            video_frames_received=peer.stats.video.frames,
            video_fps=peer.stats.video.fps(trio.current_time()),
            video_latency_ms=peer.stats.video.latency_ms,
            video_counter=peer.stats.video.counter,
            renegotiations=peer.stats.renegotiations,
            link_attempts=peer.stats.attempts,
            video_sent=self._video_sent(peer.stats.video_sent),
            video_steps_down=peer.stats.video_steps_down,
            speaking=context.engine.mixer.speaking(user) if context else False,
            concealed=audio.jitter.concealed if audio is not None else 0,
            frame_keys=peer.frame_keys.phase.value if self._opens_frames(user) else "",
            frames_undecryptable=self._undecryptable(user),
            frame_key_id=self._their_key_id(user),
            path_switches=peer.path_switches, path_breaks=peer.path_breaks,
            muted=None if peer.media_state is None else bool(peer.media_state & MEDIA_MUTED),
            camera_on=None if peer.media_state is None
            else bool(peer.media_state & MEDIA_CAMERA_ON))

    # -- frames from the hub ----------------------------------------------------------------
    async def _take_frame(self, message: CallFrame) -> None:
        frame = message.frame
        await self._refresh_trust()
        if isinstance(frame, CallMembers):
            await self._run("call_members")
            if self._machine.phase is ClientCallPhase.IN_CALL:
                self._relay = (frame.relay_url, frame.relay_fingerprint,
                               frame.relay_ticket or "") \
                    if frame.relay_url and frame.relay_fingerprint else None
                await self._update_roster(frame.users, message.keys)
                self._choose_path()
        elif isinstance(frame, HangUp):
            await self._run("hang_up")
        elif isinstance(frame, Error):
            if self._machine.phase in (ClientCallPhase.JOINING, ClientCallPhase.LEAVING):
                await self._emit(ev.CallRefused(self.channel, frame.code, frame.reason))
                await self._run("error")
            else:
                log.info("call %s: hub refused a signal: %s", self.channel, frame.reason)
        elif isinstance(frame, (Offer, Answer, Ice)):
            await self._take_signal(frame, message.keys)
        if self._machine.finished:
            self.stop()

    async def _update_roster(self, users: tuple[str, ...],
                             keys: Mapping[str, PublicKey]) -> None:
        me = self._identity.user
        self._members = users
        had_peers, left, joined = bool(self._peers), False, False
        for user in list(self._peers):
            if user not in users:
                self._drop_peer(user)
                left = True
                await self._emit(ev.CallPeerLeft(self.channel, user))
        for user in list(self._not_called):
            if user not in users:
                self._departed[user] = self._not_called.pop(user)
                await self._emit(ev.CallPeerLeft(self.channel, user))
        await self._emit(ev.CallMembersChanged(self.channel, users))
        for user in users:
            if user == me or user in self._peers:
                continue
            identity = self._identities(user)
            if identity is not None and not identity.member:
                # A private channel's call: the hub put in its roster someone the channel's
                # verified roster does not name (under this key). Shown, never called.
                await self._refuse_stranger(user, identity)
                continue
            key = keys.get(user)
            if key is None:
                # The session hands over no key it would not seal to (changed, unaccepted):
                # such a peer is shown as not called; anyone else is simply unknown.
                identity = self._identities(user)
                if identity is not None and identity.trust is Trust.CHANGED:
                    await self._refuse(user, identity.fingerprint)
                else:
                    log.warning("call %s: no key for %s; cannot link", self.channel, user)
                continue
            if await self._admit(user, key) is not None:
                joined = True
        # Signal's rule: whoever left cannot read what follows (a fresh key, handed to the
        # rest); whoever joined cannot read what came before (a ratchet the rest follow).
        if left:
            await self._rekey(fresh=True)
        elif had_peers and joined:
            await self._rekey(fresh=False)

    async def _admit(self, user: str, key: PublicKey) -> _Peer | None:
        """Link to a roster member under this key, unless the key is one we must not seal
        to; a first contact is linked but announced loudly."""
        identity = self._identities(user)
        if identity is not None and not identity.member:
            await self._refuse_stranger(user, identity)
            return None
        trust = self._trust_of(user, key)
        if trust is Trust.CHANGED:
            await self._refuse(user, key.fingerprint)
            return None
        self._not_called.pop(user, None)
        peer = self._peers[user] = _Peer(key, trust or Trust.NEW, LinkStats(), LatestFrame())
        if peer.trust is Trust.NEW:
            log.warning("call %s: %s is a first contact (%s): nothing vouches for them",
                        self.channel, user, key.fingerprint)
            await self._emit(ev.CallPeerUnknown(self.channel, user, key.fingerprint))
        if self._relay_scope is not None or self._relay is not None:
            # (The relay named in the roster that brought them: no mesh link to start.)
            self._links.start_soon(self._relayed_peer, user, peer)
        else:
            self._links.start_soon(self._supervise_peer, user, self._role_towards(key), peer)
        return peer

    def _role_towards(self, key: PublicKey) -> str:
        # The lower fingerprint offers: both sides agree without talking (no glare).
        return "offerer" if self._identity.fingerprint < key.fingerprint else "answerer"

    async def _refuse(self, user: str, fingerprint: str) -> None:
        """Show the member as in the call but never call them: their key changed and the
        user has not accepted it (whatever we sealed to it, its holder would read)."""
        known = self._not_called.get(user)
        if known is not None and known.fingerprint == fingerprint:
            return
        log.warning("call %s: not calling %s: their key changed (%s) and is not accepted",
                    self.channel, user, fingerprint)
        self._not_called[user] = PeerState(
            user=user, link=NOT_CALLED, frames_received=0, setup_ms=None,
            first_audio_ms=None, link_authenticated=False, level_dbfs=-100.0, volume=1.0,
            gave_up=False, trust=Trust.CHANGED, fingerprint=fingerprint)
        await self._emit(ev.CallPeerKeyChanged(self.channel, user, fingerprint))

    async def _refuse_stranger(self, user: str, identity: PeerIdentity) -> None:
        """Show someone in a private channel's call roster whom the channel's verified roster
        does not name (a ghost the hub added, or a member since removed), and never call
        them: no offer, no answer, nothing sealed to their key."""
        known = self._not_called.get(user)
        if known is not None and not known.roster_member \
                and known.fingerprint == identity.fingerprint:
            return
        log.warning("call %s: not calling %s (%s): not in the channel's verified roster",
                    self.channel, user, identity.fingerprint)
        self._not_called[user] = PeerState(
            user=user, link=NOT_CALLED, frames_received=0, setup_ms=None,
            first_audio_ms=None, link_authenticated=False, level_dbfs=-100.0, volume=1.0,
            gave_up=False, trust=identity.trust, fingerprint=identity.fingerprint,
            roster_member=False)
        await self._emit(ev.CallPeerNotMember(self.channel, user, identity.fingerprint))

    def _trust_of(self, user: str, key: PublicKey) -> Trust | None:
        """The trust of this key of `user` now: CHANGED when the session now holds another
        key for them (the hub named a new one), None when it holds none (they left)."""
        identity = self._identities(user)
        if identity is None:
            return None
        if identity.fingerprint != key.fingerprint:
            return Trust.CHANGED
        return identity.trust

    def _current_trust(self, user: str) -> Trust:
        """For a link that just came up: the trust of its peer's key at this moment."""
        peer = self._peers.get(user)
        if peer is None:
            return Trust.NEW
        return self._trust_of(user, peer.key) or peer.trust

    async def _refresh_trust(self) -> None:
        """Bring each peer's trust up to date with the pins (the user verified or accepted a
        key; the hub announced another). A peer whose key turns CHANGED is announced; one
        not called whose key is now accepted is called."""
        for user, peer in list(self._peers.items()):
            identity = self._identities(user)
            if identity is not None and not identity.member:
                # Removed from the private channel's roster mid-call: the link ends now.
                self._drop_peer(user)
                self._departed.pop(user, None)
                await self._refuse_stranger(user, identity)
                await self._rekey(fresh=True)
                continue
            trust = self._trust_of(user, peer.key)
            if trust is None or trust is peer.trust:
                continue
            log.info("call %s: %s's trust is now %s", self.channel, user, trust.value)
            peer.trust = trust
            if trust is Trust.CHANGED:
                identity = self._identities(user)
                await self._emit(ev.CallPeerKeyChanged(
                    self.channel, user, identity.fingerprint if identity else ""))
        if self._machine.phase is not ClientCallPhase.IN_CALL:
            return
        for user in list(self._not_called):
            identity = self._identities(user)
            if identity is not None and identity.trust is not Trust.CHANGED \
                    and identity.member and user in self._members and user not in self._peers:
                await self._admit(user, identity.key)

    async def _take_signal(self, frame: Offer | Answer | Ice,
                           keys: Mapping[str, PublicKey]) -> None:
        peer = self._peers.get(frame.peer)
        key = keys.get(frame.peer)
        if peer is None or key is None or key.fingerprint != peer.key.fingerprint:
            # Not in the call as we know it (never, or no longer, or under another key): read
            # no further, whatever it claims to be (a frame key, an offer); counted, not shown
            # (one from a member who just left is an ordinary race).
            log.info("call %s: signal from %s, who has no link here", self.channel, frame.peer)
            self._signals_refused["not_in_call"] += 1
            return
        try:
            payload = open_signal(frame.blob, self._identity, key, kind=frame.command.value,
                                  channel=self.channel, sender=frame.peer, now=self._clock())
        except SignalRejected as exc:
            log.warning("call %s: rejected %s from %s: %s", self.channel,
                        frame.command.value, frame.peer, exc)
            await self._refuse_signal(frame.peer, exc.reason)
            return
        if payload.kind == "frame_key":
            await self._take_frame_key(frame.peer, peer, payload)
            return
        if payload.kind == "media_state":
            self._take_media_state(frame.peer, peer, payload)
            return
        if self._relay_scope is not None:
            log.info("call %s: %s from %s while relayed; ignored", self.channel,
                     payload.kind, frame.peer)
            return
        if payload.kind == "offer" and peer.link_id not in (None, payload.link_id) \
                and peer.stats.machine_state not in _NOT_YET_LINKED:
            # The offerer started over (its link failed and was restarted): so do we.
            log.info("call %s: %s offers anew; restarting the link", self.channel, frame.peer)
            picture = peer.picture  # the same picture for the peer's whole stay
            trust = peer.trust
            self._drop_peer(frame.peer)
            self._peers[frame.peer] = peer = _Peer(key, trust, LinkStats(), picture)
            self._links.start_soon(self._supervise_peer, frame.peer, "answerer", peer)
            await self._wait_for_ref(peer)
        if payload.kind == "offer":
            peer.link_id = payload.link_id
        await self._wait_for_ref(peer)
        if peer.ref is not None:
            try:
                peer.ref.tell_nowait(RemoteSignal(payload))
            except ActorStopped:
                pass

    async def _wait_for_ref(self, peer: _Peer) -> None:
        with trio.move_on_after(5):
            while peer.ref is None and not peer.stats.gave_up:
                await peer.stats.changed.wait()

    # -- peer links under supervision --------------------------------------------------------
    async def _supervise_peer(self, user: str, role: str, peer: _Peer | None = None) -> None:
        peer = peer or self._peers[user]
        assert self._context is not None
        context = self._context

        def make() -> PeerLinkActor:
            return PeerLinkActor(context, user, peer.key, role, peer.stats, peer.picture)

        supervisor = Supervisor([ChildSpec(user, make, restart=Restart.TRANSIENT)],
                                max_restarts=self._options.link_restarts,
                                period=self._options.link_restart_period)
        with peer.scope:
            try:
                async with trio.open_nursery() as nursery:
                    if context.frames is not None and context.frames.sealer is not None:
                        frames = context.frames.peer(user)
                        assert frames is not None
                        nursery.start_soon(self._watch_frames, user, peer, frames)
                    await nursery.start(supervisor.run)
                    peer.ref = supervisor.children[user]
                    peer.stats.touch()
            except RestartIntensityExceeded as exc:
                peer.stats.gave_up = True
                peer.stats.touch()
                log.warning("call %s: giving up on the link to %s: %s", self.channel, user,
                            exc.__cause__ or exc)
                await self._emit(ev.CallPeerFailed(self.channel, user,
                                                   str(exc.__cause__ or exc)))

    def _drop_peer(self, user: str) -> None:
        if user in self._peers:
            # Keep what the link achieved: a summary names everyone who was in the call.
            self._departed[user] = replace(self._peer_state(user, self._peers[user]),
                                           link="left")
        peer = self._peers.pop(user, None)
        if peer is not None:
            peer.scope.cancel()
            peer.picture.clear()
            peer.frame_keys.step("left")
        kept = self._handover.pop(user, None)
        if kept is not None:
            kept.scope.cancel()
        self._relay_played.pop(user, None)
        self._moving.discard(user)
        if self._context is not None and self._context.frames is not None:
            self._context.frames.forget(user)  # back later: their keys start over
        if self._context is not None:
            self._context.engine.remove_peer(user)

    # -- mesh or relay --------------------------------------------------------------------------
    def _choose_path(self) -> None:
        """Move every peer to the path the hub names: the relay, or a link each (mesh).

        Make before break: the old path keeps playing each peer until a frame of theirs
        opens on the new one (a path on trial, OpeningBuffer.trial), then it is closed; a
        link set-up's time would otherwise be heard as silence."""
        relayed = self._relay_scope is not None
        if (self._relay is not None) == relayed:
            return
        context = self._context
        assert context is not None
        if self._relay_scope is not None:
            leaving = self._relay_scope
            self._relay_scope = None
            self._relay_heard.clear()
            self._relay_unclaimed.clear()
            self._links.start_soon(self._leave_relay, leaving)
        else:
            assert self._relay is not None
            self._moving.clear()
            self._relay_scope = trio.CancelScope()
            self._links.start_soon(self._run_relay, *self._relay, self._relay_scope)
        log.info("call %s: %s", self.channel, "through the relay" if not relayed else "mesh")
        for user, peer in list(self._peers.items()):
            # The new path shows whom it carries (the relay: the last speakers alone).
            peer.picture.clear()
            kept = self._handover.pop(user, None)
            if self._relay_scope is None and kept is not None:
                # Back to the mesh before the relay carried them: their link never closed.
                peer.scope.cancel()
                kept.path_switches, kept.path_breaks = peer.path_switches, peer.path_breaks
                # Keys taken meanwhile count: an older handout must stay refused.
                kept.frame_key_sent_at = max(kept.frame_key_sent_at, peer.frame_key_sent_at)
                if peer.media_state_sent_at > kept.media_state_sent_at:
                    kept.media_state = peer.media_state
                    kept.media_state_sent_at = peer.media_state_sent_at
                self._peers[user] = kept
                continue
            moved = 0  # a move made at once: nothing played them on the old path to keep
            if self._relay_scope is not None and peer.stats.link_authenticated \
                    and user in context.engine.peers:
                self._handover[user] = peer  # played through its link till the relay has them
            else:
                peer.scope.cancel()
                moved = int(self._relay_scope is not None and peer.stats.state != "relayed")
            if self._relay_scope is None and user in self._relay_played:
                self._moving.add(user)  # played through the relay till their link delivers
            self._peers[user] = fresh = _Peer(peer.key, peer.trust, LinkStats(), peer.picture,
                                              frame_key_sent_at=peer.frame_key_sent_at,
                                              frame_keys=peer.frame_keys,
                                              media_state=peer.media_state,
                                              media_state_sent_at=peer.media_state_sent_at,
                                              path_switches=peer.path_switches + moved,
                                              path_breaks=peer.path_breaks + moved)
            if self._relay_scope is not None:
                self._links.start_soon(self._relayed_peer, user, fresh)
            else:
                self._links.start_soon(self._supervise_peer, user,
                                       self._role_towards(fresh.key), fresh)

    async def _leave_relay(self, scope: trio.CancelScope) -> None:
        """Close the relay hop once each peer is played through their own link again."""
        try:
            with trio.move_on_after(HANDOVER_SECONDS):
                while any(user in self._relay_played for user in self._peers):
                    await self._handed_over.wait()
            await trio.sleep(HANDOVER_GRACE_SECONDS)
        finally:
            scope.cancel()

    def _take_audio(self, user: str, track: MediaStreamTrack,
                    opening: Opening | None) -> None:
        """A mesh link's track of `user`'s audio: play it now, or, while the relay still
        plays them, once a frame of theirs opens on the link."""
        context = self._context
        assert context is not None
        peer = self._peers.get(user)
        if peer is not None:
            peer.mesh = _Path(track, opening)
        if self._relay_scope is not None and user in self._relay_played:
            return  # a kept mesh link restarted while the relay plays them: not needed
        relayed = self._relay_played.get(user)
        if relayed is None or opening is None:
            if user in self._moving and peer is not None:
                # Moving from the relay, which no longer carried them: a break, counted.
                self._moving.discard(user)
                peer.path_switches += 1
                peer.path_breaks += 1
            context.engine.replace_peer(user, track)
            return
        self._moving.discard(user)
        opening.trial = trio.Event()
        self._links.start_soon(self._hand_over, user, _Path(track, opening), relayed)

    async def _hand_over(self, user: str, new: _Path, old: _Path | None,
                         kept: _Peer | None = None) -> None:
        """Play `user` through `new` once a frame of theirs opens there (at most
        HANDOVER_SECONDS), then let go of `old` (`kept`: the mesh link it is, if one)."""
        context = self._context
        assert context is not None and new.opening is not None
        trial = new.opening.trial
        if trial is None:  # taken already (the relay named the same slot twice)
            return
        with trio.move_on_after(HANDOVER_SECONDS):
            await trial.wait()
        if new.opening.trial is not trial:
            return  # another hand-over of this path finished first
        delivered = trial.is_set()
        now = context.engine.peer(user) if user in context.engine.peers else None
        playing = old is not None and now is not None and now.track is old.track \
            and not now.ended
        if old is not None and old.opening is not None:
            # Only one path opens their frames from here on: the same frames come both
            # ways, and each counter opens once (a replay is refused), so the old one would
            # keep using up the counters the new one is to play. What it already decoded
            # plays on until the new track's first frame (AudioEngine.replace_peer).
            old.opening.frames = None
        new.opening.trial = None
        peer = self._peers.get(user)
        if peer is not None:
            peer.path_switches += 1
            if not (delivered and playing):
                peer.path_breaks += 1
                log.info("call %s: %s moved path with a break", self.channel, user)
            context.engine.replace_peer(user, new.track)
            if kept is not None and user in self._relay_heard:
                self._relay_played[user] = new  # to the relay: played through it now
        if old is not None and self._relay_played.get(user) is old:
            self._relay_played.pop(user, None)
        self._handed_over.set()
        self._handed_over = trio.Event()
        if kept is not None and self._handover.get(user) is kept:
            del self._handover[user]
            try:
                await trio.sleep(HANDOVER_GRACE_SECONDS)
            finally:
                kept.scope.cancel()
                kept.picture.clear()  # its last picture; the relay shows them if it watches

    async def _relayed_peer(self, user: str, peer: _Peer) -> None:
        """A peer heard through the relay: no link of its own, only its frames to watch."""
        peer.stats.state = "relayed"
        frames = self._peer_frames(user) if self._opens_frames(user) else None
        with peer.scope:
            heard = self._relay_unclaimed.pop(user, None)
            if heard is not None:
                await self._hear_relayed(heard)
            if frames is not None:
                await self._watch_frames(user, peer, frames)
            await trio.sleep_forever()

    async def _run_relay(self, url: str, fingerprint: str, ticket: str,
                         scope: trio.CancelScope) -> None:
        context = self._context
        assert context is not None
        if context.frames is None:
            await self._relay_failed("the relay needs frames encoded once per call")
            return
        # Loaded only here: a mesh call never loads the relay's signalling.
        from gossip.wire.relay import MAX_WANTED

        from .relaylink import Heard, NotHeard, RelayLink

        options = self._options
        video_source = None
        if context.video is not None:
            # One stream to the relay, whoever watches it; camera off sends black frames.
            video_source = context.video.track()
            video_source.enabled = context.video_enabled
        link = RelayLink(context.frames.audio_track(), fingerprint=fingerprint,
                         slots=RELAY_SLOTS, frames_for=context.frames.peer,
                         ice_hosts=options.ice_hosts or icehosts.interface_addresses(),
                         on_trial=self._handover.__contains__,
                         video_track=context.frames.video_track(video_source)
                         if video_source is not None else None,
                         video_slots=min(options.relay_video_slots, MAX_WANTED),
                         picture_for=self._picture_of)
        with scope:
            try:
                async with link.joined(url, self.channel, self._identity.user, ticket), \
                        trio.open_nursery() as handovers:
                    link.read_at_ticks(context.engine.tick_hooks)  # no wake-up per packet
                    self._relay_video = video_source
                    if link.video_slots:
                        handovers.start_soon(self._watch_last_speakers, link, context.engine)
                    async for event in link.events:
                        if not isinstance(event, Heard | NotHeard):
                            continue  # video news: the pictures follow by themselves
                        self._relay_unclaimed.pop(event.user, None)
                        if isinstance(event, Heard):
                            if scope is not self._relay_scope:
                                continue  # leaving this relay: its news is not ours to act on
                            if event.user not in self._peers:
                                self._relay_unclaimed[event.user] = event
                            else:
                                handovers.start_soon(self._hear_relayed, event)
                        else:
                            self._relay_heard.discard(event.user)
                            played = self._relay_played.get(event.user)
                            if played is not None and played.track is event.track:
                                del self._relay_played[event.user]
                            context.engine.remove_peer(event.user, event.track)
            except* Exception as group:  # refused, unreachable, a wrong certificate, gone
                log.warning("call %s: relay %s failed: %r", self.channel, url, group.exceptions)
                await self._relay_failed(str(group.exceptions[0]))

    def _picture_of(self, user: str) -> LatestFrame | None:
        peer = self._peers.get(user)
        return peer.picture if peer is not None else None

    async def _watch_last_speakers(self, link: RelayLink, engine: AudioEngine) -> None:
        """Ask the relay for the last N speakers' video, as our own speaking indicators
        (decoded audio) tell them: rechecked after every frame the engine takes in."""
        from gossip.wire.relay import MAX_WANTED

        from .lastspeakers import LastSpeakers

        # More candidates than slots, most recent speakers first: the relay gives the slots
        # to the first of them who send video.
        policy = LastSpeakers(MAX_WANTED)
        asked: tuple[str, ...] | None = None

        def choice() -> tuple[str, ...]:
            present = [user for user in self._peers if user in self._relay_heard]
            return policy.update([u for u in present if engine.mixer.speaking(u)], present)

        def moved(since: tuple[str, ...] | None) -> bool:
            return choice() != since

        while True:
            wanted = choice()
            if wanted != asked:
                await link.want(wanted)
                asked = wanted
                # At most a few wants a second (the relay applies no more, and closes a
                # connection that sends many): the latest choice goes after the pause.
                await trio.sleep(WANT_PAUSE_SECONDS)
                continue
            await engine.wait_until(functools.partial(moved, asked))

    async def _hear_relayed(self, heard: Heard) -> None:
        """Play `heard.user` through the relay: at once, or, while their mesh link still
        plays them, once a frame of theirs opens on the relay's slot."""
        context = self._context
        assert context is not None
        user = heard.user
        self._relay_heard.add(user)
        kept = self._handover.get(user)
        if kept is None:
            # A peer still on their mesh link holds our key already (handed when the link came
            # up, and again with each fresh one; ratchets need none): no PGP work for them.
            await self._greet(user)
        if kept is None or heard.opening.trial is None:
            heard.opening.trial = None
            context.engine.replace_peer(user, heard.track)
            self._relay_played[user] = _Path(heard.track, heard.opening)
        else:
            await self._hand_over(user, _Path(heard.track, heard.opening), kept.mesh, kept)

    async def _relay_failed(self, reason: str) -> None:
        """The relay cannot be used: say so, and fall back to the mesh if the call fits."""
        await self._emit(ev.CallRelayFailed(self.channel, reason))
        if len(self._members) <= MESH_FALLBACK_MEMBERS:
            self._relay = None
            self._choose_path()

    # -- what each end sends ------------------------------------------------------------------
    async def _greet(self, user: str) -> None:
        """`user` can hear us now (their link is up, or the relay carries us to them): hand
        them our frame key and say what we send."""
        await self._hand_frame_key(user)
        await self._tell_media_state(user)

    def _media_state(self) -> int:
        context = self._context
        camera = context is not None and context.video is not None and context.video_enabled
        return (MEDIA_MUTED if self._muted or self._deafened else 0) \
            | (MEDIA_CAMERA_ON if camera else 0)

    async def _tell_media_state(self, user: str | None = None) -> None:
        """Seal what we send (muted, camera) to `user`, or to everyone who hears us. Sent
        when it changes, at a human's pace: one seal per peer."""
        users = [user] if user is not None else [
            name for name, peer in self._peers.items()
            if peer.stats.link_authenticated or name in self._relay_heard]
        state = self._media_state()
        for name in users:
            peer = self._peers.get(name)
            if peer is None:
                continue
            payload = SignalPayload(
                kind="media_state", channel=self.channel, sender=self._identity.user,
                recipient=name, link_id="", sdp="", sent_at=self._clock(), media_state=state)
            blob = seal_signal(payload, self._identity, peer.key)
            await self._send_frames([Ice(channel=self.channel, peer=name, blob=blob)])

    def _take_media_state(self, user: str, peer: _Peer, payload: SignalPayload) -> None:
        # Each word is sealed with the time it was said: one no newer than the last taken was
        # reordered or replayed by the hub, and the newer one stands (counted, not shown).
        if payload.sent_at <= peer.media_state_sent_at:
            log.info("call %s: an older media state from %s; kept the newer", self.channel,
                     user)
            self._signals_refused["media_state_older"] += 1
            return
        peer.media_state = payload.media_state
        peer.media_state_sent_at = payload.sent_at

    # -- frame keys (gossip.crypto.frames) -------------------------------------------------------
    async def _hand_frame_key(self, user: str) -> None:
        """Seal our current frame key to `user` (their link is up, or our key changed)."""
        peer = self._peers.get(user)
        context = self._context
        if peer is None or context is None or context.frames is None \
                or context.frames.sealer is None:
            return
        payload = SignalPayload(
            kind="frame_key", channel=self.channel, sender=self._identity.user,
            recipient=user, link_id="", sdp="", sent_at=self._clock(),
            frame_key=context.frames.sealer.key.to_bytes().hex())
        blob = seal_signal(payload, self._identity, peer.key)
        await self._send_frames([Ice(channel=self.channel, peer=user, blob=blob)])

    async def _rekey(self, *, fresh: bool) -> None:
        context = self._context
        if context is None or context.frames is None or context.frames.sealer is None:
            return
        key = context.frames.sealer.rekey(fresh=fresh)
        log.info("call %s: frame key %s (%s)", self.channel, key.key_id,
                 "fresh: someone left" if fresh else "ratcheted: someone joined")
        if fresh:  # a ratchet the others follow by themselves; a fresh key must be handed
            for user, peer in list(self._peers.items()):
                if peer.stats.link_authenticated or user in self._relay_heard:
                    await self._hand_frame_key(user)

    async def _take_frame_key(self, user: str, peer: _Peer, payload: SignalPayload) -> None:
        frames = self._peer_frames(user)
        if frames is None:
            log.info("call %s: %s sent a frame key; our frames are not sealed", self.channel,
                     user)
            return
        try:
            key = FrameKey.from_bytes(bytes.fromhex(payload.frame_key))
        except (ValueError, FrameOpenError):
            await self._refuse_signal(user, "malformed")
            return
        # Each handout is sealed anew with the time it was made: one no newer than the last
        # taken is a copy (a lying hub replaying an earlier key after a rekey, so that whoever
        # left could read us again, or holding one back). The newer key stands.
        step = peer.frame_keys.step("key_handed", newer=payload.sent_at > peer.frame_key_sent_at)
        if FrameKeysOrder.ADD_KEY in step.reports:
            peer.frame_key_sent_at = payload.sent_at
            frames.add_key(key)
        elif FrameKeysOrder.REFUSE_KEY in step.reports:
            log.warning("call %s: refused a replayed frame key from %s", self.channel, user)
            await self._refuse_signal(user, "replayed")

    async def _refuse_signal(self, user: str, reason: str) -> None:
        """Count a signal refused for `reason` and tell the user."""
        self._signals_refused[reason] += 1
        await self._emit(ev.CallSignalRejected(self.channel, user, reason))

    async def _watch_frames(self, user: str, peer: _Peer, frames: PeerFrames) -> None:
        """Tell the user when a member's frames stop opening, and when they open again."""
        while True:
            await frames.changed.wait()
            if frames.failing and peer.frame_keys.phase.value != "failing":
                peer.frame_keys.step("frames_fail")
                reason = frames.failed_by_reason.most_common(1)[0][0] \
                    if frames.failed_by_reason else "unknown"
                await self._emit(ev.CallPeerUndecryptable(self.channel, user, reason))
            elif not frames.failing and peer.frame_keys.phase.value == "failing":
                peer.frame_keys.step("frames_open")
                await self._emit(ev.CallPeerDecryptable(self.channel, user))

    def _peer_frames(self, user: str) -> PeerFrames | None:
        context = self._context
        if context is None or context.frames is None:
            return None
        return context.frames.peer(user)

    def _opens_frames(self, user: str) -> bool:
        context = self._context
        return context is not None and context.frames is not None \
            and context.frames.sealer is not None

    def _their_key_id(self, user: str) -> int | None:
        frames = self._peer_frames(user) if self._opens_frames(user) else None
        return frames.opener.newest_key_id if frames is not None else None

    def _undecryptable(self, user: str) -> int:
        frames = self._peer_frames(user) if self._opens_frames(user) else None
        return frames.failed if frames is not None else 0

    # -- machine, actions, output ------------------------------------------------------------
    async def _run(self, event: str, build: Builders = NO_BUILDERS) -> None:
        try:
            step = self._machine.step(event, build)
        except ProtocolViolation as exc:
            # The driver's policy: a hub that breaks the call protocol ends our part in the
            # call (hang up as best we can, then stop); the session and other calls go on.
            log.warning("call %s: %s; leaving the call", self.channel, exc)
            await self._send_frames([HangUp(channel=self.channel)])
            await self._emit(ev.CallLeft(self.channel))
            self.stop()
            return
        if step.frames:
            await self._send_frames(step.frames)
        if any(what in ("left", "dropped") for what in step.reports):
            await self._emit(ev.CallLeft(self.channel))

    async def _device_lost(self, lost: LostDevice) -> None:
        await self._emit(ev.CallDeviceLost(self.channel, lost.kind, lost.device, lost.problem))

    async def _emit(self, event: ev.SessionEvent) -> None:
        try:
            self._events.send_nowait(event)
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # a front end that does not read events must not stall the call
