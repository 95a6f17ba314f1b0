"""The mixer: sums, volumes, clipping, deafen and level meters (pure numpy, no network)."""

from __future__ import annotations

import numpy as np
import pytest

from gossip.media.format import FRAME_SAMPLES, LEVEL_FLOOR_DB, Frame
from gossip.media.mixer import Mixer
from gossip.media.sources import NullSource, ToneSource


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
