"""Voice processing on the microphone before it is encoded: echo cancellation, noise
suppression, automatic gain and a high-pass filter, from WebRTC's audio processing module
(pywebrtc-audio: AEC3, NS, AGC2; it releases the GIL and costs well under a millisecond per
20 ms frame, so it runs inline where the sending track reads the microphone).

`VoiceProcessor` is the interface; `make_processor(stages)` gives the WebRTC one when any
stage is on and a pass-through otherwise. The echo canceller needs the far end: exactly what
went to the speaker, which `FarEndReference` collects from the playout side (see
gossip.media.capturechain).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from .format import SAMPLE_RATE, Frame, check_frame
from .voicespec import ProcessingStages

# The delay we tell AEC3 to expect between a frame played and its echo in the microphone
# when the devices report none; AEC3 finds the true one itself, this only seeds its search.
DEFAULT_ECHO_DELAY_MS = 40
# WebRTC's noise suppression levels are 0 (mild) to 3 (very high). Measured on synthesised
# speech (benchmarks/voice.py): mild keeps PESQ-WB at 4.3, moderate takes it to 3.9.
NOISE_SUPPRESSION_LEVEL = 0


class VoiceProcessor(Protocol):
    """Turns one microphone frame (and the frame the speaker played meanwhile) into the frame
    to send."""

    stages: ProcessingStages

    def process(self, near: Frame, far: Frame | None) -> Frame:
        """`near`: the microphone's 20 ms; `far`: what went to the speaker for the same slot
        (None when nothing did). Returns a new frame of the same size."""
        ...


class PassThroughProcessor:
    """No processing: what the microphone gave is what is sent."""

    stages = ProcessingStages()

    def process(self, near: Frame, far: Frame | None) -> Frame:
        return check_frame(near)


class WebRtcProcessor:
    """WebRTC's audio processing module with the chosen stages, at 48 kHz mono."""

    def __init__(self, stages: ProcessingStages, *, delay_ms: int = DEFAULT_ECHO_DELAY_MS) -> None:
        from pywebrtc_audio import AudioProcessor  # loaded only when a call processes audio

        self.stages = stages
        self._apm = AudioProcessor(
            sample_rate=SAMPLE_RATE,
            num_channels=1,
            echo_cancellation=stages.echo_cancellation,
            noise_suppression=stages.noise_suppression,
            high_pass_filter=stages.high_pass,
            auto_gain_control=stages.gain_control,
            ns_level=NOISE_SUPPRESSION_LEVEL,
            stream_delay_ms=max(0, int(delay_ms)),
        )

    @property
    def delay_ms(self) -> int:
        return int(self._apm.stream_delay_ms)

    @delay_ms.setter
    def delay_ms(self, value: int) -> None:
        self._apm.stream_delay_ms = max(0, int(value))

    def process(self, near: Frame, far: Frame | None) -> Frame:
        check_frame(near)
        if not self.stages.echo_cancellation:
            far = None
        elif far is None:
            # AEC3 must see the far end every frame to keep its timing: silence was played.
            far = np.zeros_like(near)
        out = self._apm.process(near, far)
        return np.asarray(out, dtype=np.int16).reshape(near.shape)


def make_processor(
    stages: ProcessingStages, *, delay_ms: int = DEFAULT_ECHO_DELAY_MS
) -> VoiceProcessor:
    """The WebRTC processor when any stage is on, otherwise a pass-through."""
    if not stages.any:
        return PassThroughProcessor()
    return WebRtcProcessor(stages, delay_ms=delay_ms)
