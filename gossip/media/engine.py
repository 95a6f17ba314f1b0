"""The receive loop: remote tracks in, one mixed stream out to a sink, on a 20 ms playout clock.

    async with open_audio_engine(SpeakerSink()) as engine:
        engine.add_peer("alice", link.remote_track)   # after the link's RemoteTrack event
        engine.mixer.set_volume("alice", 1.5)
        await engine.wait_frames_received("alice", 50)
        engine.remove_peer("alice")

One reader task per peer awaits aiortc's decoded frames (stereo s16 48 kHz), folds them to
mono and puts them in that peer's AdaptiveJitterBuffer stamped with trio's clock. The playout
task pops one frame per peer every 20 ms, mixes and writes to the sink. When a peer's frame
is late (the buffer holds its slot: `expanding`), the tick plays that stream's decoder's
concealment instead of silence (gossip.media.concealment; the decoder is learnt from the
frames it made). Each buffer gets a VAD, so catching up after a stall drops silence before
speech. Counters per peer: frames received, when the first frame arrived, ticks concealed at
playout, and the jitter buffer's own statistics.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import numpy as np
import trio
import trio_asyncio
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from .capturechain import SpeechDetector
from .concealment import ConcealingOpusDecoder, decoder_of
from .decodedtrack import DecodedAudioTrack
from .format import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE, Frame, stereo_to_mono
from .jitter import AdaptiveJitterBuffer, JitterConfig, JitterStats
from .mixer import Mixer
from .sinks import AudioSink

# A frame due that its decoder has already decoded is on its way (aiortc's decoder thread, then
# the asyncio loop, then our reader task): the tick waits this long for it, once per slot,
# rather than conceal that slot or play silence. After a stall the decoder thread runs ahead
# of our reader, and the ticks that catch up would otherwise find every frame in flight.
_IN_FLIGHT_WAIT = 0.010

# If the playout task falls this many frames behind (the process stalled), it re-anchors its
# clock instead of writing a burst of frames to catch up.
_MAX_TICK_LAG = 5


@dataclass
class PeerAudio:
    """What the engine knows about one remote peer's audio."""

    peer: str
    added_at: float
    buffer: AdaptiveJitterBuffer
    frames_received: int = 0
    first_audio_at: float | None = None  # trio clock time of the first decoded frame
    malformed: int = 0  # frames not in the 48 kHz s16 20 ms format we expect
    ended: bool = False
    decoder: ConcealingOpusDecoder | None = None  # conceals a late frame's tick, if ours
    expanded_concealed: int = 0  # ticks held for a late frame, played as concealment
    expanded_silent: int = 0  # ... played as silence (no decoder could conceal them)
    waited_in_flight: int = 0  # ticks that waited for this peer's frame already decoded
    waited_for: int | None = None  # the slot last waited for (never twice for one)
    cancel: trio.CancelScope = field(default_factory=trio.CancelScope)
    track: MediaStreamTrack | None = None  # what they are played from

    @property
    def jitter(self) -> JitterStats:
        return self.buffer.stats

    @property
    def time_to_first_audio(self) -> float | None:
        return None if self.first_audio_at is None else self.first_audio_at - self.added_at


def decoded_to_mono(frame: AudioFrame) -> Frame | None:
    """aiortc's decoded frame as one mono int16 frame, or None if it is not 48 kHz s16 20 ms."""
    if frame.format.name != "s16" or frame.sample_rate != SAMPLE_RATE:
        return None
    if frame.samples != FRAME_SAMPLES or frame.layout.nb_channels not in (1, 2):
        return None
    samples = frame.to_ndarray().reshape(-1).astype(np.int16, copy=False)
    if frame.layout.nb_channels == 2:
        return stereo_to_mono(samples)
    return samples


class AudioEngine:
    """Peers' tracks, their jitter buffers, the mixer and the sink. Run with `run()`."""

    def __init__(self, sink: AudioSink, *, mixer: Mixer | None = None,
                 jitter: JitterConfig | None = None) -> None:
        self.sink = sink
        self.mixer = mixer or Mixer()
        self.jitter_config = jitter or JitterConfig()
        self.frames_played = 0
        self.late_ticks = 0
        self._peers: dict[str, PeerAudio] = {}
        self._standby: dict[str, PeerAudio] = {}  # a new track, until its first frame
        self._nursery: trio.Nursery | None = None
        self._waiters: list[tuple[Callable[[], bool], trio.Event]] = []
        # Called at each playout tick with the time it was due, before the mix: the call's
        # audio send (gossip.media.rtpsend) rides this tick instead of a timer of its own.
        self.tick_hooks: list[Callable[[float], None]] = []
        # While the hooks run (a relay link reading its packets at the tick hands the engine
        # eleven frames at once), waiters are checked once after the mix, not per frame.
        self._in_hooks = False

    # -- peers ------------------------------------------------------------------------------

    def add_peer(self, peer: str, track: MediaStreamTrack) -> PeerAudio:
        """Start receiving `track` as `peer`'s audio (the engine must be running)."""
        if self._nursery is None:
            raise RuntimeError("the audio engine is not running")
        if peer in self._peers:
            raise ValueError(f"peer {peer!r} already has a track")
        audio = self._new_audio(peer, track)
        self._peers[peer] = audio
        self._nursery.start_soon(self._receive, audio, track)
        self._progress()
        return audio

    def replace_peer(self, peer: str, track: MediaStreamTrack) -> PeerAudio:
        """Play `peer` from `track` (a call moved them to another path), keeping their
        volume and meter. Their old track plays on until the new one's first frame is
        decoded (a decoder's start-up is not heard as a gap), then is no longer read."""
        if self._nursery is None:
            raise RuntimeError("the audio engine is not running")
        if peer not in self._peers:
            return self.add_peer(peer, track)
        waiting = self._standby.pop(peer, None)
        if waiting is not None:
            waiting.cancel.cancel()
        audio = self._new_audio(peer, track)
        self._standby[peer] = audio
        self._nursery.start_soon(self._receive, audio, track)
        return audio

    def _new_audio(self, peer: str, track: MediaStreamTrack) -> PeerAudio:
        # The VAD without hangover: a frame between two words may be dropped to catch up.
        vad = SpeechDetector(hangover=0.0)
        buffer = AdaptiveJitterBuffer(self.jitter_config, is_speech=vad.update)
        return PeerAudio(peer, trio.current_time(), buffer, track=track)

    def _promote(self, audio: PeerAudio) -> None:
        """A standby track delivered: it is how the peer is played from now on."""
        del self._standby[audio.peer]
        old = self._peers.get(audio.peer)
        if old is not None:
            old.cancel.cancel()
        self._peers[audio.peer] = audio

    def remove_peer(self, peer: str, track: MediaStreamTrack | None = None) -> None:
        """Stop playing `peer` and forget their meter and volume; with `track`, only if they
        are still played from it (a path the call moved them from removes nothing)."""
        waiting = self._standby.get(peer)
        if waiting is not None and (track is None or waiting.track is track):
            del self._standby[peer]
            waiting.cancel.cancel()
        current = self._peers.get(peer)
        if track is not None and current is not None and current.track is not track:
            return
        audio = self._peers.pop(peer, None)
        if audio is not None:
            audio.cancel.cancel()
        self.mixer.remove(peer)

    def peer(self, peer: str) -> PeerAudio:
        return self._peers[peer]

    @property
    def peers(self) -> list[str]:
        return list(self._peers)

    # -- waiting on progress (tests and the call actor; never a timer) ---------------------

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Return once `condition()` holds; it is re-checked after every frame in or out."""
        if condition():
            return
        event = trio.Event()
        self._waiters.append((condition, event))
        await event.wait()

    async def wait_frames_received(self, peer: str, count: int) -> None:
        """Wait until `peer` (added already or later) has delivered `count` frames."""

        def enough() -> bool:
            audio = self._peers.get(peer)
            return audio is not None and audio.frames_received >= count

        await self.wait_until(enough)

    async def wait_frames_played(self, count: int) -> None:
        await self.wait_until(lambda: self.frames_played >= count)

    def _progress(self) -> None:
        if not self._waiters:
            return
        still = []
        for condition, event in self._waiters:
            if condition():
                event.set()
            else:
                still.append((condition, event))
        self._waiters = still

    # -- tasks ------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Play until cancelled; peers' reader tasks live in here too."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._playout)
            task_status.started()
            await trio.sleep_forever()

    async def _receive(self, audio: PeerAudio, track: MediaStreamTrack) -> None:
        if isinstance(track, DecodedAudioTrack):
            await self._receive_decoded(audio, track)
            return
        recv = trio_asyncio.aio_as_trio(track.recv)
        with audio.cancel:
            while True:
                try:
                    frame = await recv()
                except MediaStreamError:
                    break
                now = trio.current_time()
                mono = decoded_to_mono(frame)
                if mono is None:
                    audio.malformed += 1
                    continue
                audio.frames_received += 1
                if audio.first_audio_at is None:
                    audio.first_audio_at = now
                if self._standby.get(audio.peer) is audio:
                    self._promote(audio)
                audio.decoder = decoder_of(frame)
                # aiortc maps RTP timestamps to pts counting from 0 for this stream.
                timestamp = frame.pts if frame.pts is not None else (
                    (audio.frames_received - 1) * FRAME_SAMPLES)
                audio.buffer.put(timestamp, mono, now)
                self._progress()
        audio.ended = True
        self._progress()

    async def _receive_decoded(self, audio: PeerAudio, track: DecodedAudioTrack) -> None:
        """A peer's frames decoded already (relayed, or a mesh link's received in place):
        each handed straight to the buffer as the receive path decodes it (`track.deliver`),
        no task woken per frame."""
        audio.decoder = track.decoder  # conceals a late frame's tick, if the track says whose
        with audio.cancel:
            try:
                while True:  # what was queued before we took over
                    self._take_decoded(audio, *track.frames.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                pass
            track.deliver = functools.partial(self._take_decoded, audio)
            try:
                await track.stopped.wait()
            finally:
                track.deliver = None
        audio.ended = True
        self._progress()

    def _take_decoded(self, audio: PeerAudio, timestamp: int, mono: Frame,
                      arrival: float | None = None) -> None:
        # A packet read at a playout tick says when it arrived (the kernel's stamp): the
        # jitter buffer measures the network's jitter, not where the tick fell.
        now = trio.current_time() if arrival is None else arrival
        audio.frames_received += 1
        if audio.first_audio_at is None:
            audio.first_audio_at = now
        if self._standby.get(audio.peer) is audio:
            self._promote(audio)  # as in _receive: the old track stops here
        audio.buffer.put(timestamp, mono, now)
        if not self._in_hooks:
            self._progress()

    async def _playout(self) -> None:
        next_tick = trio.current_time()
        while True:
            await trio.sleep_until(next_tick)
            self._in_hooks = True
            try:
                for hook in self.tick_hooks:
                    hook(next_tick)
            finally:
                self._in_hooks = False
            await self._await_in_flight()
            now = trio.current_time()
            frames = {peer: self._pop(audio, now) for peer, audio in self._peers.items()}
            self.sink.write(self.mixer.mix(frames))
            self.frames_played += 1
            next_tick += FRAME_SECONDS
            if now - next_tick > _MAX_TICK_LAG * FRAME_SECONDS:
                self.late_ticks += 1
                next_tick = now + FRAME_SECONDS
            self._progress()


    async def _await_in_flight(self) -> None:
        """Wait (at most _IN_FLIGHT_WAIT) for the frames due that are decoded but not here."""
        due = []
        for audio in self._peers.values():
            timestamp = audio.buffer.due_missing
            if (timestamp is not None and timestamp != audio.waited_for
                    and audio.decoder is not None and audio.decoder.has_decoded(timestamp)):
                audio.waited_for = timestamp
                audio.waited_in_flight += 1
                due.append(audio)
        if not due:
            return
        arrived = trio.Event()
        waiter = (lambda: all(audio.buffer.due_missing is None for audio in due), arrived)
        self._waiters.append(waiter)
        try:
            with trio.move_on_after(_IN_FLIGHT_WAIT):
                await arrived.wait()
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    @staticmethod
    def _pop(audio: PeerAudio, now: float) -> Frame | None:
        """The peer's frame for this tick: from its buffer, or concealment for a late one."""
        frame = audio.buffer.pop(now)
        if frame is not None or not audio.buffer.expanding:
            return frame
        timestamp = audio.buffer.next_timestamp
        concealed = None
        if audio.decoder is not None and timestamp is not None:
            concealed = audio.decoder.conceal_before(timestamp)
        mono = None if concealed is None else decoded_to_mono(concealed)
        if mono is None:
            audio.expanded_silent += 1
        else:
            audio.expanded_concealed += 1
        return mono


@asynccontextmanager
async def open_audio_engine(sink: AudioSink, *, mixer: Mixer | None = None,
                            jitter: JitterConfig | None = None) -> AsyncIterator[AudioEngine]:
    """Run an AudioEngine for the body; stops it (and closes nothing: the sink is yours)."""
    engine = AudioEngine(sink, mixer=mixer, jitter=jitter)
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        yield engine
        nursery.cancel_scope.cancel()
