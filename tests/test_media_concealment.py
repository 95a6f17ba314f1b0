"""Opus loss recovery: a lost packet is played as libopus's continuation of the voice, not
silence, and with the call's encoder (in-band FEC) as the copy of it the next packet carries,
even after sealing and opening; a talk pause (timestamps skip, sequence numbers do not) is not
concealed; a peer's garbage is skipped without ending the decoder."""

from __future__ import annotations

import fractions

import numpy as np
import pytest
from aiortc.codecs.opus import OpusEncoder
from aiortc.rtp import RtpPacket
from av import AudioFrame

from gossip.crypto.frames import FrameOpener, FrameSealer
from gossip.media.concealment import ConcealingOpusDecoder, SequencedFrame
from gossip.media.format import FRAME_SAMPLES, SAMPLE_RATE, stereo_to_mono
from gossip.media.framecrypt import EncodedAudio, open_frame
from gossip.media.jitter import PassThroughBuffer
from gossip.media.track import SourceFanout

from .speech import NEAR_TEXT, ArraySource, NoSpeechSynthesiser, frames_of, speak, to_int16


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """Two seconds of speech."""
    try:
        return speak(NEAR_TEXT, "en+f3")[: 2 * SAMPLE_RATE]
    except NoSpeechSynthesiser as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def packets(speech: np.ndarray) -> list[bytes]:
    """The speech as aiortc's own Opus encoder makes it (no in-band FEC)."""
    encoder, out = OpusEncoder(), []
    for index, samples in enumerate(frames_of(speech)):
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts = SAMPLE_RATE, index * FRAME_SAMPLES
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        out.extend(encoder.encode(frame)[0])
    return out


@pytest.fixture(scope="module")
def call_packets(speech: np.ndarray) -> list[bytes]:
    """The speech as a call sends it on a lossy path (its one encoder, FEC on as its
    receivers' reports turn it on), sealed, then opened."""
    sealer, opener = FrameSealer(), FrameOpener()
    opener.add_key(sealer.key, now=0.0)
    audio = EncodedAudio(SourceFanout(ArraySource(speech)), sealer)
    audio.loss_reported("bob", 0.1, now=0.0)
    assert audio.fec.fec
    out = []
    for slot in range(len(speech) // FRAME_SAMPLES):
        sealed = audio.frame_for(slot)
        assert sealed is not None
        out.append(open_frame(opener, "audio", sealed, now=0.0))
    return out


def decode_all(
    packets: list[bytes], lost: set[int], decoder: ConcealingOpusDecoder | None = None
) -> dict[int, np.ndarray]:
    decoder = decoder or ConcealingOpusDecoder()
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


def lost_slot_error(speech: np.ndarray, packets: list[bytes], lost: int) -> float:
    """Energy of (what is played in the lost packet's 20 ms - the original speech there),
    relative to the speech's: about 1 for a plausible guess, near 0 for the real thing."""
    original = to_int16(speech).astype(np.float64)
    clean = np.concatenate(list(decode_all(packets, set()).values())).astype(np.float64)
    # Opus delays by its look-ahead (about 6.5 ms): line the decoded speech up first.
    lag = max(
        range(FRAME_SAMPLES),
        key=lambda d: float(np.dot(original[:SAMPLE_RATE], clean[d : d + SAMPLE_RATE])),
    )
    played = np.concatenate(list(decode_all(packets, {lost}).values())).astype(np.float64)
    start = lost * FRAME_SAMPLES
    heard = played[start + lag : start + lag + FRAME_SAMPLES]
    said = original[start : start + FRAME_SAMPLES]
    return float(np.sum((heard - said) ** 2) / np.sum(said**2))


def test_with_the_calls_fec_a_lost_packet_is_recovered_not_guessed(speech, packets, call_packets):
    clean = decode_all(call_packets, set())
    talking = [i for i in range(10, len(call_packets) - 1) if level_db(clean[i]) > 50]
    lost_slots = talking[:: max(1, len(talking) // 6)]
    recovered = [lost_slot_error(speech, call_packets, lost) for lost in lost_slots]
    concealed = [lost_slot_error(speech, packets, lost) for lost in lost_slots]
    # Concealment continues the voice but not its words; FEC plays (a coarser copy of) them.
    assert np.median(concealed) > 0.5
    assert np.median(recovered) < 0.4 * np.median(concealed)
    decoder = ConcealingOpusDecoder()
    decode_all(call_packets, {lost_slots[0]}, decoder)
    assert (decoder.recovered, decoder.concealed) == (1, 0)


def test_a_late_packets_slot_is_concealed_at_playout_and_the_packet_then_decodes_cleanly(
    packets,
):
    """NetEq's expand then merge with libopus: the playout asks for concealment while the
    packet due is late; the packet, decoded when it comes, follows that concealment as
    after a loss, and the voice is back to the clean decoding a few frames later."""
    clean = decode_all(packets, set())
    talking = [i for i in range(10, len(packets) - 10) if level_db(clean[i]) > 50]
    late = talking[len(talking) // 2]
    decoder = ConcealingOpusDecoder()
    assert decoder.conceal_before(0) is None  # nothing decoded yet: nothing to continue
    decode_all(packets[:late], set(), decoder)
    held = [decoder.conceal_before(late * FRAME_SAMPLES) for _ in range(3)]
    assert all(frame is not None for frame in held) and decoder.expanded == 3
    first = stereo_to_mono(held[0].to_ndarray().reshape(-1))  # type: ignore[union-attr]
    assert level_db(first) > level_db(clean[late - 1]) - 10  # the voice goes on, not silence
    after = {}
    for index in range(late, len(packets)):
        for out in decoder.decode(SequencedFrame(packets[index], index * FRAME_SAMPLES)):
            after[out.pts // FRAME_SAMPLES] = stereo_to_mono(out.to_ndarray().reshape(-1))
    for index in range(late + 3, late + 8):
        assert abs(level_db(after[index]) - level_db(clean[index])) < 3


def test_a_slot_decoded_but_not_yet_played_is_concealed_from_a_copy_of_the_state(packets):
    """After a stall aiortc's decoder thread can decode a frame before our playout needs
    it, and the playout can still need to conceal that slot (the frame has not reached it).
    The concealment is then what libopus would have played for it right after the frame
    before, and the decoder's own state is not touched: what it decodes next is bit for bit
    what it would have been."""
    slot = 30
    plain, asked, reference = (ConcealingOpusDecoder() for _ in range(3))
    decode_all(packets[:slot], set(), reference)
    expected = [reference.conceal_before(slot * FRAME_SAMPLES) for _ in range(2)]
    for index in range(slot + 1):
        frame = SequencedFrame(packets[index], index * FRAME_SAMPLES)
        plain.decode(frame)
        asked.decode(frame)
    concealed = [asked.conceal_before(slot * FRAME_SAMPLES) for _ in range(2)]
    assert asked.expanded_from_copy == 2 and asked.expanded == 0
    for got, want in zip(concealed, expected, strict=True):
        assert got is not None and want is not None
        assert np.array_equal(got.to_ndarray(), want.to_ndarray())
    for index in range(slot + 1, slot + 20):
        frame = SequencedFrame(packets[index], index * FRAME_SAMPLES)
        (a,), (b,) = plain.decode(frame), asked.decode(frame)
        assert np.array_equal(a.to_ndarray(), b.to_ndarray())
    # A slot so far back that no copy of its state is kept: nothing to conceal it with.
    assert asked.conceal_before((slot + 2) * FRAME_SAMPLES) is None
