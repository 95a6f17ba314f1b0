"""What a call does to the microphone before sending it, as plain values: which processing
stages run and how the transmit mode decides what is sent. Loads nothing (chat-only code and
the app's settings name these without the media stack)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

DEFAULT_HANGOVER_SECONDS = 0.4  # voice activation keeps sending this long after speech


class TransmitMode(enum.Enum):
    """When the microphone is sent: always, while speech is heard, or while a key is held."""

    CONTINUOUS = "continuous"
    VOICE = "voice"
    PUSH_TO_TALK = "ptt"


@dataclass(frozen=True)
class VoiceOptions:
    """Processing stages (None: on with a real microphone and speaker, off for test sources
    such as tones and WAV files) and the transmit mode."""

    echo_cancellation: bool | None = None
    noise_suppression: bool | None = None
    gain_control: bool | None = None
    high_pass: bool | None = None
    transmit: TransmitMode = TransmitMode.CONTINUOUS
    hangover: float = DEFAULT_HANGOVER_SECONDS

    def __post_init__(self) -> None:
        if not 0.0 <= self.hangover <= 5.0:
            raise ValueError("the voice-activation hangover must be between 0 and 5 seconds")

    def stages(self, live_devices: bool) -> ProcessingStages:
        """The stages that run: each one asked for, or else on only with live devices."""

        def pick(choice: bool | None) -> bool:
            return live_devices if choice is None else choice

        return ProcessingStages(
            pick(self.echo_cancellation),
            pick(self.noise_suppression),
            pick(self.gain_control),
            pick(self.high_pass),
        )


@dataclass(frozen=True)
class ProcessingStages:
    """Which of WebRTC's audio-processing stages run on the microphone."""

    echo_cancellation: bool = False
    noise_suppression: bool = False
    gain_control: bool = False
    high_pass: bool = False

    @property
    def any(self) -> bool:
        return (
            self.echo_cancellation or self.noise_suppression or self.gain_control or self.high_pass
        )

    def describe(self) -> str:
        names = [
            name
            for name, on in (
                ("echo cancellation", self.echo_cancellation),
                ("noise suppression", self.noise_suppression),
                ("gain control", self.gain_control),
                ("high-pass", self.high_pass),
            )
            if on
        ]
        return ", ".join(names) or "none"
