"""The capture chain: microphone → voice processing → speech detection → transmit gate, as one
AudioSource the sending fanout reads once per 20 ms slot; and the tap on the playout side
that gives the echo canceller its far end.

    reference = FarEndReference()
    sink = ReferenceSink(SpeakerSink(), reference)          # the engine plays into this
    source = CaptureChain(MicSource(), make_processor(stages), reference, gate)

The far end is exactly the mixed frame the engine hands the speaker. Both sides run on the
same 20 ms clock (trio's), so the reference queue stays a frame or two deep; the echo's true
delay (output plus input device latency) is AEC3's to find, seeded with the devices' figures.
"""

from __future__ import annotations

import collections
import time
from dataclasses import replace

from .format import FRAME_SECONDS, SAMPLE_RATE, Frame, check_frame, dbfs, mean_square
from .processing import DEFAULT_ECHO_DELAY_MS, VoiceProcessor, make_processor
from .sinks import AudioSink
from .sources import AudioSource
from .voicespec import DEFAULT_HANGOVER_SECONDS, TransmitMode, VoiceOptions

# How many played frames the reference keeps for a capture side that is not reading (no
# peer yet): older ones are dropped, so the far end never lags the speaker by more.
MAX_REFERENCE_FRAMES = 10
# webrtcvad's aggressiveness 0..3: 2 rejects most steady noise and keeps soft speech.
VAD_AGGRESSIVENESS = 2
# Below this level nothing counts as speech, whatever the detector says (hiss, a far fan).
SPEECH_FLOOR_DBFS = -55.0


class FarEndReference:
    """What the speaker was handed, frame by frame, for the echo canceller to take in order."""

    def __init__(self, max_frames: int = MAX_REFERENCE_FRAMES) -> None:
        self._frames: collections.deque[Frame] = collections.deque(maxlen=max_frames)
        self.played = 0
        self.taken = 0

    def played_frame(self, frame: Frame) -> None:
        self._frames.append(frame)
        self.played += 1

    def take(self) -> Frame | None:
        """The oldest frame played and not yet taken, or None if the speaker got nothing."""
        if not self._frames:
            return None
        self.taken += 1
        return self._frames.popleft()


class ReferenceSink(AudioSink):
    """A sink that also hands every frame it plays to a FarEndReference."""

    def __init__(self, sink: AudioSink, reference: FarEndReference) -> None:
        self.inner = sink
        self.reference = reference

    @property
    def latency_seconds(self) -> float:
        return self.inner.latency_seconds

    @property
    def is_device(self) -> bool:
        return self.inner.is_device

    def write(self, frame: Frame) -> None:
        self.inner.write(frame)
        self.reference.played_frame(check_frame(frame).copy())

    def close(self) -> None:
        self.inner.close()


class SpeechDetector:
    """Is someone speaking in these frames? webrtcvad's decision above a level floor, held
    for `hangover` seconds after the last speech so words are not cut between syllables.

    `every`: ask webrtcvad about one frame in `every` (the one at `phase` first); the frames
    between take its decision, unless under the level floor. webrtcvad at 48 kHz costs ~18 us
    a frame (most of it its resampling to 8 kHz): a speaking indicator for each of eleven
    peers ran it 550 times a second, about a tenth of a relayed participant's CPU. A peer's
    indicator then moves up to `every` - 1 frames late, against its hangover of 20."""

    def __init__(
        self,
        *,
        hangover: float = DEFAULT_HANGOVER_SECONDS,
        floor_dbfs: float = SPEECH_FLOOR_DBFS,
        every: int = 1,
        phase: int = 0,
    ) -> None:
        import webrtcvad  # loaded only when a call detects speech

        if every < 1:
            raise ValueError("every must be at least 1")
        self._vad = webrtcvad.Vad(VAD_AGGRESSIVENESS)
        self._hold_frames = max(0, round(hangover / FRAME_SECONDS))
        self._floor = floor_dbfs
        self._held = 0
        self._every = every
        self._countdown = phase % every  # frames until webrtcvad is asked again
        self._decision = False  # webrtcvad's last answer
        self.voiced = False  # the last frame itself held speech (before the hangover)
        self.speaking = False
        self.asked = 0  # frames webrtcvad looked at

    def update(self, frame: Frame | None, energy: float | None = None) -> bool:
        """Feed the next 20 ms (None: nothing arrived); returns whether speech is on.
        `energy`: the frame's mean square, if the caller has it already."""
        voiced = frame is not None and dbfs(
            mean_square(frame) if energy is None else energy) > self._floor
        if self._countdown:
            self._countdown -= 1
            voiced = voiced and self._decision
        else:
            self._countdown = self._every - 1
            if voiced:
                assert frame is not None
                self.asked += 1
                voiced = self._decision = self._vad.is_speech(frame.tobytes(), SAMPLE_RATE)
            else:
                self._decision = False
        held = self._held > 0
        if voiced:
            self._held = self._hold_frames
        elif held:
            self._held -= 1
        self.voiced = voiced
        self.speaking = voiced or held
        return self.speaking


class TransmitGate:
    """Decides per frame whether to send: always, while speech is detected (with the
    detector's hangover), or while the push-to-talk key is held."""

    def __init__(self, mode: TransmitMode = TransmitMode.CONTINUOUS) -> None:
        self.mode = mode
        self.key_held = False

    def open(self, speech: bool) -> bool:
        if self.mode is TransmitMode.CONTINUOUS:
            return True
        if self.mode is TransmitMode.VOICE:
            return speech
        return self.key_held


class CaptureChain(AudioSource):
    """A source processed for sending: `read()` gives the processed frame and sets
    `transmitting` (False: the gate is closed, the fanout sends nothing for this slot) and
    `speaking` (we are sending speech right now, for the speaking indicator)."""

    def __init__(
        self,
        source: AudioSource,
        processor: VoiceProcessor,
        reference: FarEndReference | None = None,
        gate: TransmitGate | None = None,
        *,
        hangover: float = DEFAULT_HANGOVER_SECONDS,
    ) -> None:
        self.inner = source
        self.processor = processor
        self.reference = reference
        self.gate = gate or TransmitGate()
        self.detector = SpeechDetector(hangover=hangover)
        self.transmitting = True
        self.speaking = False
        self.frames = 0
        self.frames_sent = 0
        self.processing_seconds = 0.0  # CPU spent in the processor, for the benchmark

    @property
    def latency_seconds(self) -> float:
        return self.inner.latency_seconds

    @property
    def is_device(self) -> bool:
        return self.inner.is_device

    def read(self) -> Frame:
        near = self.inner.read()
        far = self.reference.take() if self.reference is not None else None
        started = time.perf_counter()
        out = self.processor.process(near, far)
        self.processing_seconds += time.perf_counter() - started
        speech = self.detector.update(out)
        self.transmitting = self.gate.open(speech)
        self.speaking = self.transmitting and speech
        self.frames += 1
        self.frames_sent += self.transmitting
        return out

    def close(self) -> None:
        self.inner.close()


def open_voice_path(
    source: AudioSource, sink: AudioSink, options: VoiceOptions
) -> tuple[CaptureChain, AudioSink]:
    """Wrap a call's source and sink for `options`: processing (each stage as asked, or by
    default on when the source is a microphone; echo cancellation by default only when the
    sink is also a speaker), speech detection and the transmit gate. Returns the source to
    send and the sink to play into (which feeds the echo canceller its far end)."""
    stages = options.stages(source.is_device)
    if options.echo_cancellation is None and not sink.is_device:
        stages = replace(stages, echo_cancellation=False)
    delay_ms = round(1000 * (source.latency_seconds + sink.latency_seconds))
    processor = make_processor(stages, delay_ms=delay_ms or DEFAULT_ECHO_DELAY_MS)
    reference = FarEndReference() if stages.echo_cancellation else None
    played_into = ReferenceSink(sink, reference) if reference is not None else sink
    chain = CaptureChain(
        source, processor, reference, TransmitGate(options.transmit), hangover=options.hangover
    )
    return chain, played_into
