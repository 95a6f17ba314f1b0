"""The mixer: one 20 ms frame per peer in, one mono int16 frame out.

Owns per-peer volume (0..2), deafen, per-peer level meters (RMS in dBFS of what the peer
sent, before our volume, so "who is talking" does not depend on how loud we made them) and
per-peer speech detection for the speaking indicators (same reason): webrtcvad asked about
one frame in `vad_every` of each peer (PEER_VAD_EVERY; the peers' turns staggered, so a tick
asks about a third of them), which moves an indicator at most two frames late.
Sums in float and clips to the int16 range, so loud peers saturate instead of wrapping around.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping

import numpy as np

from .capturechain import SpeechDetector
from .format import FRAME_SAMPLES, LEVEL_FLOOR_DB, Frame, check_frame, dbfs, mean_square, silence

MAX_VOLUME = 2.0
# A peer's speaking indicator asks webrtcvad about one frame in this many (40 ms late at
# most, against its 400 ms hangover); 1 asks about every frame (the benchmarks' baseline).
PEER_VAD_EVERY = 3


class Mixer:
    """Mixes peers' frames; a peer's entry may be None for "nothing to play this tick"."""

    def __init__(self, *, meter_frames: int = 5, floor_db: float = LEVEL_FLOOR_DB,
                 vad_every: int = PEER_VAD_EVERY) -> None:
        if meter_frames < 1:
            raise ValueError("meter_frames must be at least 1")
        if vad_every < 1:
            raise ValueError("vad_every must be at least 1")
        self.vad_every = vad_every
        self._detectors_made = 0  # each new peer's detector starts at the next phase
        self.deafened = False
        self.floor_db = floor_db
        self._meter_frames = meter_frames
        self._volumes: dict[str, float] = {}
        self._energy: dict[str, collections.deque[float]] = {}
        self._speech: dict[str, SpeechDetector] = {}

    def set_volume(self, peer: str, volume: float) -> None:
        """Scale `peer` by `volume`: 0 mutes them for us, 1 is unchanged, 2 doubles."""
        if not 0.0 <= volume <= MAX_VOLUME:
            raise ValueError(f"volume must be between 0 and {MAX_VOLUME}, got {volume}")
        self._volumes[peer] = volume

    def volume(self, peer: str) -> float:
        return self._volumes.get(peer, 1.0)

    def level(self, peer: str) -> float:
        """The peer's recent level in dBFS (RMS over the last meter_frames frames)."""
        energy = self._energy.get(peer)
        if not energy:
            return self.floor_db
        return dbfs(sum(energy) / len(energy), self.floor_db)

    def speaking(self, peer: str) -> bool:
        """Whether speech was heard from `peer` just now (with a short hangover)."""
        detector = self._speech.get(peer)
        return detector is not None and detector.speaking

    def levels(self) -> dict[str, float]:
        return {peer: self.level(peer) for peer in self._energy}

    def remove(self, peer: str) -> None:
        """Forget a peer that left: its volume and meter."""
        self._volumes.pop(peer, None)
        self._energy.pop(peer, None)
        self._speech.pop(peer, None)

    def mix(self, frames: Mapping[str, Frame | None]) -> Frame:
        """One output frame from this tick's frames; meters update even while deafened."""
        heard: list[tuple[Frame, float]] = []
        for peer, frame in frames.items():
            meter = self._energy.get(peer)
            if meter is None:
                meter = self._energy[peer] = collections.deque(maxlen=self._meter_frames)
            detector = self._speech.get(peer)
            if detector is None:
                detector = self._speech[peer] = SpeechDetector(
                    every=self.vad_every, phase=self._detectors_made)
                self._detectors_made += 1
            if frame is None:
                meter.append(0.0)
                detector.update(None)
                continue
            check_frame(frame)
            energy = mean_square(frame)
            meter.append(energy)
            detector.update(frame, energy)
            volume = self._volumes.get(peer, 1.0)
            if volume:
                heard.append((frame, volume))
        if self.deafened or not heard:
            return silence()
        if all(volume == 1.0 for _, volume in heard):
            # Unscaled: an integer sum is exact, as the float one below would be, and saves
            # its conversions (the usual case, every tick).
            if len(heard) == 1:
                return heard[0][0].copy()
            total = heard[0][0].astype(np.int32)
            for frame, _ in heard[1:]:
                total += frame
            return np.clip(total, -32768, 32767, out=total).astype(np.int16)
        mixed = np.zeros(FRAME_SAMPLES, dtype=np.float64)
        for frame, volume in heard:
            mixed += frame.astype(np.float64) * volume
        return np.clip(np.round(mixed), -32768, 32767).astype(np.int16)
