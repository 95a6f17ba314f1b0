"""Voice processing with the real WebRTC audio processing module on synthesised speech: echo
from our own speaker is cancelled, a near talker still comes through, and the transmit modes
send what they promise; a talk pause is not loss at the receiver."""

from __future__ import annotations

import numpy as np
import pytest

from gossip.client import events as ev
from gossip.client.calltypes import CallOptions, GetCallState
from gossip.client.commands import JoinCall
from gossip.media.capturechain import CaptureChain, ReferenceSink, open_voice_path
from gossip.media.format import FRAME_SAMPLES, SAMPLE_RATE
from gossip.media.jitter import AdaptiveJitterBuffer, JitterConfig
from gossip.media.loop import open_media_loop
from gossip.media.processing import PassThroughProcessor, WebRtcProcessor
from gossip.media.sinks import NullSink
from gossip.media.sources import NullSource, ToneSource
from gossip.media.voicespec import ProcessingStages, TransmitMode, VoiceOptions

from .speech import (
    FAR_TEXT,
    NEAR_TEXT,
    ArraySource,
    NoSpeechSynthesiser,
    energy_db,
    run_in_room,
    speak,
)

LOOPBACK = ("127.0.0.1",)
SPEAKER_STAGES = ProcessingStages(echo_cancellation=True, noise_suppression=True, high_pass=True)


@pytest.fixture(scope="module")
def far_speech() -> np.ndarray:
    try:
        return speak(FAR_TEXT)
    except NoSpeechSynthesiser as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def near_speech() -> np.ndarray:
    try:
        return speak(NEAR_TEXT, "en+f3")
    except NoSpeechSynthesiser as exc:
        pytest.skip(str(exc))


def test_echo_of_our_speaker_is_cancelled_and_a_near_talker_still_comes_through(
    far_speech, near_speech
):
    far = np.tile(far_speech, 2)  # ~16 s of the far end talking
    double_talk = 12.0  # the near talker starts here, over the far end
    near = np.zeros_like(far)
    start = int(double_talk * SAMPLE_RATE)
    near[start : start + len(near_speech)] = near_speech * 0.5
    end = double_talk + len(near_speech) / SAMPLE_RATE
    run = run_in_room(SPEAKER_STAGES, far, near)
    # After convergence (3 s), with only the far end talking: the echo is >= 25 dB down.
    erle = energy_db(run.echo, 3.0, double_talk) - energy_db(run.sent, 3.0, double_talk)
    assert erle >= 25.0, f"echo reduced by only {erle:.1f} dB"
    # In double-talk the near talker is sent at nearly their own level, not suppressed.
    kept = energy_db(run.sent, double_talk, end) - energy_db(run.near, double_talk, end)
    assert -10.0 <= kept <= 3.0, f"near talker at {kept:+.1f} dB of their own level"
    # Without processing the echo goes out as the microphone heard it.
    plain = run_in_room(ProcessingStages(), far, near)
    assert (
        abs(energy_db(plain.echo, 3.0, double_talk) - energy_db(plain.sent, 3.0, double_talk)) < 0.5
    )


def test_processing_is_on_for_a_microphone_and_off_for_test_sources_unless_asked():
    assert VoiceOptions().stages(live_devices=True) == ProcessingStages(True, True, True, True)
    assert not VoiceOptions().stages(live_devices=False).any
    assert VoiceOptions(noise_suppression=False).stages(True).noise_suppression is False
    # A tone into a file sink: nothing processes it, the sink is played into as it is.
    sink = NullSink()
    chain, played_into = open_voice_path(ToneSource(440), sink, VoiceOptions())
    assert isinstance(chain.processor, PassThroughProcessor) and played_into is sink
    # Asked for, echo cancellation runs and the sink feeds it the far end.
    chain, played_into = open_voice_path(
        ToneSource(440), sink, VoiceOptions(echo_cancellation=True)
    )
    assert isinstance(chain.processor, WebRtcProcessor)
    assert chain.processor.stages == ProcessingStages(echo_cancellation=True)
    assert isinstance(played_into, ReferenceSink) and played_into.inner is sink
    assert chain.reference is played_into.reference


def transmitting(chain: CaptureChain, frames: int, voiced: list[bool] | None = None) -> list[bool]:
    """Whether each of the next `frames` frames is sent (and, if asked, heard as speech)."""
    flags = []
    for _ in range(frames):
        chain.read()
        flags.append(chain.transmitting)
        if voiced is not None:
            voiced.append(chain.detector.voiced)
    return flags


def test_voice_activation_sends_speech_with_a_hangover_and_nothing_in_pauses(near_speech):
    pause = 2.0
    signal = np.concatenate([near_speech, np.zeros(int(pause * SAMPLE_RATE))])
    speech_frames = len(near_speech) // FRAME_SAMPLES
    frames = len(signal) // FRAME_SAMPLES
    options = VoiceOptions(transmit=TransmitMode.VOICE, hangover=0.4)
    chain, _ = open_voice_path(ArraySource(signal), NullSink(), options)
    voiced: list[bool] = []
    flags = transmitting(chain, frames, voiced)
    # Most of the sentence is sent (its gaps between words are held over)...
    assert sum(flags[:speech_frames]) >= 0.8 * speech_frames
    # ...the hangover carries on 0.4 s (20 frames) after the last word, then nothing is sent.
    last_voiced = max(i for i, speech in enumerate(voiced) if speech)
    assert last_voiced < speech_frames
    assert all(flags[last_voiced : last_voiced + 21])
    assert not any(flags[last_voiced + 21 :])
    assert chain.frames_sent == sum(flags) < frames
    # Continuous sends every frame, speech or not.
    chain, _ = open_voice_path(ArraySource(signal), NullSink(), VoiceOptions())
    assert all(transmitting(chain, frames))


def test_push_to_talk_sends_only_while_the_key_is_held(near_speech):
    options = VoiceOptions(transmit=TransmitMode.PUSH_TO_TALK)
    chain, _ = open_voice_path(ArraySource(near_speech), NullSink(), options)
    assert not any(transmitting(chain, 20))  # speech, but no key: nothing sent
    chain.gate.key_held = True
    assert all(transmitting(chain, 20))
    chain.gate.key_held = False
    assert not any(transmitting(chain, 20))


def play(buffer: AdaptiveJitterBuffer, timestamps: list[int], ticks: int) -> int:
    """Frames arrive 10 ms after their media time; one pop per 20 ms tick. Frames played."""
    frame = np.ones(FRAME_SAMPLES, dtype=np.int16)
    arrivals = {ts: ts / SAMPLE_RATE + 0.01 for ts in timestamps}
    played = 0
    for tick in range(ticks):
        now = tick * FRAME_SAMPLES / SAMPLE_RATE
        for ts, at in list(arrivals.items()):
            if at <= now:
                buffer.put(ts, frame, at)
                del arrivals[ts]
        played += buffer.pop(now) is not None
    return played


def test_a_talk_pause_is_not_counted_as_loss():
    # Voice activation sends nothing for 40 slots: timestamps jump, nothing is missing.
    talk = [i * FRAME_SAMPLES for i in range(50)] + [i * FRAME_SAMPLES for i in range(90, 140)]
    for config in (JitterConfig(), JitterConfig(min_depth=2)):
        buffer = AdaptiveJitterBuffer(config)
        # Every frame of both talk spurts is played, none concealed, dropped or late.
        assert play(buffer, talk, 150) == len(talk)
        stats = buffer.stats
        assert (stats.concealed, stats.dropped, stats.late, stats.resyncs) == (0, 0, 0, 0)


@pytest.fixture
async def media_loop():
    async with open_media_loop() as loop:
        yield loop


async def test_in_a_call_voice_activation_sends_only_speech_and_all_see_who_speaks(
    media_loop, connect, near_speech
):
    ann, ben = await connect("ann"), await connect("ben")
    talk = np.concatenate([near_speech, np.zeros(SAMPLE_RATE)])
    voice = VoiceOptions(transmit=TransmitMode.VOICE)
    a = await ann.session.ref.ask(
        JoinCall(
            "general",
            CallOptions(source=ArraySource(talk), sink=NullSink(), ice_hosts=LOOPBACK, voice=voice),
        )
    )
    b = await ben.session.ref.ask(
        JoinCall("general", CallOptions(source=NullSource(), sink=NullSink(), ice_hosts=LOOPBACK))
    )
    # Ben sees ann start and stop speaking; ann sees herself speak.
    await ben.next_event(ev.CallSpeaking, lambda e: e.user == "ann" and e.speaking)
    await ben.next_event(ev.CallSpeaking, lambda e: e.user == "ann" and not e.speaking)
    await ann.next_event(ev.CallSpeaking, lambda e: e.user == "ann" and e.speaking)
    sent = await a.ask(GetCallState())
    assert sent.transmit is TransmitMode.VOICE
    assert sent.frames_sent < sent.frames_captured  # her pause was not sent
    heard = (await b.ask(GetCallState())).peers["ann"]
    assert 0 < heard.frames_received <= sent.frames_sent
    assert heard.concealed == 0  # the pause did not count as loss
    assert not heard.speaking


class FakeMicrophone(ToneSource):
    """Stands in for a microphone (no sound card here): a source that says it is a device."""

    is_device = True  # type: ignore[assignment]


class FakeSpeakers(NullSink):
    is_device = True  # type: ignore[assignment]


def test_a_microphone_and_speakers_get_every_stage_even_behind_the_apps_switches():
    from gossip.media.switchable import SwitchableSink, SwitchableSource

    chain, played_into = open_voice_path(
        SwitchableSource(FakeMicrophone(440)), SwitchableSink(FakeSpeakers()), VoiceOptions()
    )
    assert chain.processor.stages == ProcessingStages(True, True, True, True)
    assert isinstance(played_into, ReferenceSink)
    # A microphone into a file: no echo to cancel, the rest still runs.
    chain, _ = open_voice_path(FakeMicrophone(440), NullSink(), VoiceOptions())
    assert chain.processor.stages == ProcessingStages(False, True, True, True)
