"""The mixer: sums, volumes, clipping, deafen, level meters and speaking indicators (no
network)."""

from __future__ import annotations

import numpy as np
import pytest

from gossip.media.capturechain import SpeechDetector
from gossip.media.format import FRAME_SAMPLES, LEVEL_FLOOR_DB, SAMPLE_RATE, Frame
from gossip.media.mixer import Mixer
from gossip.media.sources import NullSource, ToneSource

from .speech import FAR_TEXT, NEAR_TEXT, NoSpeechSynthesiser, frames_of, speak


def constant(value: int) -> Frame:
    return np.full(FRAME_SAMPLES, value, dtype=np.int16)


def test_peers_are_summed_and_a_missing_frame_counts_as_silence() -> None:
    mixer = Mixer()
    out = mixer.mix({"a": constant(1000), "b": constant(-300), "c": None})
    assert out.dtype == np.int16 and out.shape == (FRAME_SAMPLES,)
    assert set(out) == {700}


def test_volume_scales_one_peer_between_zero_and_two() -> None:
    mixer = Mixer()
    mixer.set_volume("a", 2.0)
    mixer.set_volume("b", 0.0)
    assert set(mixer.mix({"a": constant(1000), "b": constant(5000)})) == {2000}
    assert mixer.volume("a") == 2.0 and mixer.volume("nobody") == 1.0
    for bad in (-0.1, 2.01):
        with pytest.raises(ValueError):
            mixer.set_volume("a", bad)


def test_loud_peers_clip_at_full_scale_instead_of_wrapping_around() -> None:
    mixer = Mixer()
    mixer.set_volume("a", 2.0)
    assert set(mixer.mix({"a": constant(30000), "b": constant(30000)})) == {32767}
    assert set(mixer.mix({"a": constant(-30000), "b": constant(-30000)})) == {-32768}


def test_deafen_silences_the_output_but_not_the_meters() -> None:
    mixer = Mixer()
    mixer.deafened = True
    out = mixer.mix({"a": ToneSource(440, level=1.0).read()})
    assert not out.any()
    assert mixer.level("a") > -4.0
    mixer.deafened = False
    assert mixer.mix({"a": constant(5)}).any()


def test_levels_are_rms_in_dbfs_with_a_floor_for_silence() -> None:
    mixer = Mixer(meter_frames=1)
    tone = ToneSource(1000, level=1.0)
    mixer.mix({"loud": tone.read(), "quiet": (tone.read() // 100).astype(np.int16),
               "mute": NullSource().read()})
    assert mixer.level("loud") == pytest.approx(-3.01, abs=0.05)  # a full-scale sine
    assert mixer.level("quiet") == pytest.approx(-43.0, abs=0.2)
    assert mixer.level("mute") == LEVEL_FLOOR_DB
    assert mixer.level("never-heard") == LEVEL_FLOOR_DB


def test_the_meter_averages_the_last_frames_and_forgets_older_ones() -> None:
    mixer = Mixer(meter_frames=2)
    tone = ToneSource(1000, level=1.0)
    mixer.mix({"a": tone.read()})
    mixer.mix({"a": None})
    assert mixer.level("a") == pytest.approx(-6.02, abs=0.05)  # half the energy
    mixer.mix({"a": None})
    assert mixer.level("a") == LEVEL_FLOOR_DB
    mixer.remove("a")
    assert "a" not in mixer.levels()


def test_a_peers_speaking_indicator_follows_them_and_asks_the_vad_about_a_third_of_frames(
) -> None:
    mixer = Mixer()
    tone = ToneSource(300, level=0.1)
    for _ in range(10):  # eleven peers speaking: each tick asks about a third of them
        mixer.mix({f"p{i}": tone.read() for i in range(11)})
    assert all(mixer.speaking(f"p{i}") for i in range(11))
    asked = sum(detector.asked for detector in mixer._speech.values())
    assert asked == pytest.approx(110 / 3, abs=11)
    for _ in range(25):  # past the hangover of silence, nobody is
        mixer.mix({f"p{i}": None for i in range(11)})
    assert not any(mixer.speaking(f"p{i}") for i in range(11))


def test_asking_the_vad_about_one_frame_in_three_moves_speech_by_two_frames_at_most() -> None:
    """On spoken sentences with pauses, the indicator of a detector that asks webrtcvad about
    every frame and of one that asks about one in three change within two frames of each
    other, whichever frame the latter starts at."""
    try:
        sentences = [speak(FAR_TEXT), speak(NEAR_TEXT, "en+f3")]
    except NoSpeechSynthesiser as exc:
        pytest.skip(str(exc))
    pause = np.zeros(SAMPLE_RATE)
    frames = frames_of(np.concatenate([pause, sentences[0], pause, sentences[1], pause]))

    def changes(detector: SpeechDetector) -> list[int]:
        speaking = [detector.update(frame) for frame in frames]
        return [i for i in range(1, len(frames)) if speaking[i] != speaking[i - 1]]

    every_frame = changes(SpeechDetector())
    assert len(every_frame) >= 4  # each sentence starts and ends
    for phase in range(3):
        third = SpeechDetector(every=3, phase=phase)
        moved = changes(third)
        assert len(moved) == len(every_frame)
        assert all(0 <= b - a <= 2 for a, b in zip(every_frame, moved, strict=True))
        assert third.asked < len(frames) / 2
