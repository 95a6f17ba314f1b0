"""The one audio format the media layer speaks internally: 48 kHz mono int16 in 20 ms frames.

Sources produce it, the mixer and sinks consume it, and the receive path converts aiortc's
decoded stereo frames into it. Level helpers (RMS in dBFS) live here so meters agree.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms at 48 kHz: Opus's usual frame and aiortc's packetisation time
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
FULL_SCALE = 32768.0
LEVEL_FLOOR_DB = -100.0

Frame = npt.NDArray[np.int16]


def silence() -> Frame:
    """A fresh all-zero frame (a new array each time, so callers may write into it)."""
    return np.zeros(FRAME_SAMPLES, dtype=np.int16)


def check_frame(frame: npt.NDArray[np.generic]) -> Frame:
    """Return `frame` if it is one mono int16 frame; raise ValueError otherwise."""
    if frame.dtype != np.int16 or frame.shape != (FRAME_SAMPLES,):
        raise ValueError(
            f"expected {FRAME_SAMPLES} int16 samples, got {frame.dtype} {frame.shape}"
        )
    return frame  # type: ignore[return-value]


def mean_square(frame: Frame) -> float:
    """Mean of the squared samples, in (int16 units)^2; 0.0 for digital silence."""
    samples = frame.astype(np.float64)
    return float(np.dot(samples, samples)) / len(samples)


def dbfs(mean_sq: float, floor: float = LEVEL_FLOOR_DB) -> float:
    """RMS level relative to full scale (a full-scale square wave is 0 dBFS), never below floor."""
    if mean_sq <= 0.0:
        return floor
    return max(floor, 10.0 * math.log10(mean_sq / (FULL_SCALE * FULL_SCALE)))


def stereo_to_mono(interleaved: npt.NDArray[np.int16]) -> Frame:
    """Average the two channels of interleaved s16 stereo (L R L R ...) into mono int16."""
    pairs = interleaved.reshape(-1, 2).astype(np.int32)
    # The sum of two int16 fits int32 and halving it always fits int16 again: no clipping.
    return ((pairs[:, 0] + pairs[:, 1]) >> 1).astype(np.int16)
