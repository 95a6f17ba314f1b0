"""Opus packet-loss concealment: a lost packet is played as libopus's continuation of the
voice, not silence; a talk pause (timestamps skip, sequence numbers do not) is not concealed;
a peer's garbage is skipped without ending the decoder."""

from __future__ import annotations

import fractions

import numpy as np
import pytest
from aiortc.codecs.opus import OpusEncoder
from aiortc.rtp import RtpPacket
from av import AudioFrame

from gossip.media.concealment import ConcealingOpusDecoder, SequencedFrame
from gossip.media.format import FRAME_SAMPLES, SAMPLE_RATE, stereo_to_mono
from gossip.media.jitter import PassThroughBuffer

from .speech import NEAR_TEXT, NoSpeechSynthesiser, frames_of, speak


@pytest.fixture(scope="module")
def packets() -> list[bytes]:
    """Two seconds of speech as the Opus packets a call sends."""
    try:
        speech = speak(NEAR_TEXT, "en+f3")[: 2 * SAMPLE_RATE]
    except NoSpeechSynthesiser as exc:
        pytest.skip(str(exc))
    encoder, out = OpusEncoder(), []
    for index, samples in enumerate(frames_of(speech)):
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts = SAMPLE_RATE, index * FRAME_SAMPLES
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        out.extend(encoder.encode(frame)[0])
    return out


def decode_all(packets: list[bytes], lost: set[int]) -> dict[int, np.ndarray]:
    decoder = ConcealingOpusDecoder()
    decoded, missing = {}, 0
    for index, packet in enumerate(packets):
        if index in lost:
            missing += 1
            continue
        frame = SequencedFrame(packet, index * FRAME_SAMPLES, lost_before=missing)
        missing = 0
        for out in decoder.decode(frame):
            decoded[out.pts // FRAME_SAMPLES] = stereo_to_mono(out.to_ndarray().reshape(-1))
    return decoded


def level_db(samples: np.ndarray) -> float:
    return 10 * np.log10(np.mean(samples.astype(np.float64) ** 2) + 1e-9)


def test_a_lost_packet_is_concealed_with_the_voice_not_silence(packets):
    clean = decode_all(packets, set())
    talking = [i for i in range(10, len(packets) - 1) if level_db(clean[i]) > 50]
    lost = talking[len(talking) // 2]
    concealed = decode_all(packets, {lost})
    # Every slot has a frame, the lost one included, at about the voice's level.
    assert sorted(concealed) == sorted(clean)
    assert abs(level_db(concealed[lost]) - level_db(clean[lost])) < 10
    # And the frames after it are the real ones again (within the decoder's recovery).
    assert abs(level_db(concealed[lost + 2]) - level_db(clean[lost + 2])) < 3


def test_a_peers_garbage_is_skipped_and_decoding_goes_on(packets):
    decoder = ConcealingOpusDecoder()
    assert decoder.decode(SequencedFrame(b"\xff" * 3, 0)) == []
    assert decoder.undecodable == 1
    assert len(decoder.decode(SequencedFrame(packets[0], FRAME_SAMPLES))) == 1


def test_sequence_gaps_are_losses_but_a_talk_pause_is_not():
    buffer = PassThroughBuffer()

    def add(sequence: int, timestamp: int) -> int:
        packet = RtpPacket(payload_type=111, sequence_number=sequence, timestamp=timestamp)
        packet._data = b"x"  # type: ignore[attr-defined]
        _, frame = buffer.add(packet)
        assert isinstance(frame, SequencedFrame)
        return frame.lost_before

    assert add(65534, 0) == 0
    assert add(65535, 960) == 0
    assert add(1, 2880) == 1  # 0 lost (across the 16-bit wrap)
    assert add(2, 40 * 960) == 0  # voice activation paused: time ran on, no packet missing
    assert buffer.missing == 1
