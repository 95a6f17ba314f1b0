"""Playout through stalls, with the real parts of the receive path after the network (see
tests/stalls.py) on a scripted arrival pattern in which the sender (or the network, or we)
stalls every 2-8 s for 40-250 ms. Old playout (wait with silence, then drop the burst at
once) against the new (conceal the late frames' ticks, play them when they come, give the
delay back in pauses) in the same test."""

from __future__ import annotations

import numpy as np
import pytest

from gossip.media.capturechain import SpeechDetector
from gossip.media.concealment import ConcealingOpusDecoder, SequencedFrame
from gossip.media.engine import AudioEngine, PeerAudio, decoded_to_mono
from gossip.media.format import FRAME_SAMPLES, FRAME_SECONDS, Frame
from gossip.media.jitter import AdaptiveJitterBuffer, JitterConfig

from .speech import FAR_TEXT, NEAR_TEXT, NoSpeechSynthesiser, speak
from .stalls import OLD_PLAYOUT, opus_packets, play, stalled_arrivals


@pytest.fixture(scope="module")
def packets() -> list[bytes]:
    """About 20 s of two voices' speech, with the pauses of speech between sentences."""
    try:
        speech = np.concatenate(
            [speak(FAR_TEXT, "en"), speak(NEAR_TEXT, "en+f3"), speak(FAR_TEXT, "en+m3")]
        )
    except NoSpeechSynthesiser as exc:
        pytest.skip(str(exc))
    return opus_packets(speech)


def test_stalls_play_concealment_not_silence_and_catching_up_drops_silence_not_speech(
    packets,
):
    packets = packets * 3  # a minute
    arrivals = stalled_arrivals(len(packets))
    old_played, old = play(packets, arrivals, OLD_PLAYOUT)
    new_played, new = play(packets, arrivals, JitterConfig())
    start = 100  # from the first stall on (the stream's start is the same for both)
    old_silent = sum(frame is None for frame in old_played[start:-20])
    new_silent = sum(frame is None for frame in new_played[start:-20])
    # Old: every stall is ticks of silence, then the burst dropped at once, words and all.
    assert old.buffer.stats.underruns > 0 and old.buffer.stats.dropped_speech > 0
    # New: those ticks continue the voice (libopus's concealment, asked at playout), the
    # late frames play when they come, and the delay is given back in the pauses.
    assert new.expanded_concealed > 0 and new.buffer.stats.merged > 0
    assert new_silent * 2 < old_silent, (new_silent, old_silent)
    assert new.buffer.stats.dropped_speech * 2 < old.buffer.stats.dropped_speech, (
        new.buffer.stats, old.buffer.stats)
    # Every frame that arrived was played, dropped in a pause, or dropped as speech (counted).
    stats = new.buffer.stats
    assert stats.played + stats.late + stats.dropped + stats.duplicates + new.buffer.depth \
        == stats.received


def test_a_talk_pause_is_not_held_longer_than_max_expand(packets):
    """Voice activation stops sending in pauses (timestamps skip, sequence numbers do not):
    playout conceals at most `max_expand` ticks into the pause, then waits in silence, and
    plays the next talk spurt from its first frame."""
    config = JitterConfig()
    sent = list(range(0, 100)) + list(range(200, 300))  # one second not sent
    vad = SpeechDetector(hangover=0.0)
    audio = PeerAudio("bob", 0.0, AdaptiveJitterBuffer(config, is_speech=vad.update))
    audio.decoder = decoder = ConcealingOpusDecoder()
    played: list[Frame | None] = []
    for tick in range(300):
        now = tick * FRAME_SECONDS
        n = tick - 1  # each packet arrives just before the tick after its time
        if n in sent:
            for frame in decoder.decode(SequencedFrame(packets[n], n * FRAME_SAMPLES)):
                mono = decoded_to_mono(frame)
                assert mono is not None
                audio.buffer.put(frame.pts, mono, now - 0.001)
        played.append(AudioEngine._pop(audio, now))
    assert audio.expanded_concealed == config.max_expand
    assert audio.buffer.stats.underruns == 1
    assert audio.buffer.stats.dropped == 0
    assert played[201] is not None and played[101 + config.max_expand] is None


async def test_a_tick_waits_a_little_for_a_frame_already_decoded_rather_than_conceal_it(
    packets, autojump_clock
):
    """After a stall aiortc's decoder thread runs ahead of our reader task: the frame due is
    decoded but not yet in the buffer. The tick waits for it (at most 10 ms, once per slot)
    rather than conceal a slot whose frame is on its way."""
    import trio

    from gossip.media.sinks import MemorySink

    engine = AudioEngine(MemorySink())
    audio = PeerAudio("carol", 0.0, AdaptiveJitterBuffer(JitterConfig()))
    audio.decoder = decoder = ConcealingOpusDecoder()
    engine._peers["carol"] = audio
    decoded = []
    for n in range(4):  # frame 3 is decoded, and on its way
        (frame,) = decoder.decode(SequencedFrame(packets[n], n * FRAME_SAMPLES))
        decoded.append(decoded_to_mono(frame))
    for n in range(3):
        audio.buffer.put(n * FRAME_SAMPLES, decoded[n], n * FRAME_SECONDS)
        assert audio.buffer.pop(n * FRAME_SECONDS + 0.001) is not None
    assert audio.buffer.due_missing == 3 * FRAME_SAMPLES

    async def deliver() -> None:
        await trio.sleep(0.003)
        audio.buffer.put(3 * FRAME_SAMPLES, decoded[3], trio.current_time())
        engine._progress()

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(deliver)
        await engine._await_in_flight()
    assert trio.current_time() - start == pytest.approx(0.003)
    assert audio.waited_in_flight == 1
    assert audio.buffer.pop(trio.current_time()) is not None  # played, not concealed
    # Frame 4 is not decoded yet: nothing in flight, no wait; its tick conceals it.
    start = trio.current_time()
    await engine._await_in_flight()
    assert trio.current_time() == start
    assert AudioEngine._pop(audio, start) is not None and audio.expanded_concealed == 1
    # And a frame decoded but lost on its way is waited for once, 10 ms, then never again.
    (frame,) = decoder.decode(SequencedFrame(packets[4], 4 * FRAME_SAMPLES))
    await engine._await_in_flight()
    assert trio.current_time() - start == pytest.approx(0.010)
    await engine._await_in_flight()
    assert trio.current_time() - start == pytest.approx(0.010)
    assert audio.waited_in_flight == 2 and not engine._waiters
