"""Audio sources and sinks, pure: tones, WAV in and out, specs, counters (no network)."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from gossip.media.errors import AudioDeviceError, SpecError, UnsupportedWav
from gossip.media.format import FRAME_SAMPLES, SAMPLE_RATE, stereo_to_mono
from gossip.media.sinks import MemorySink, NullSink, SpeakerSink, WavSink, parse_sink
from gossip.media.sources import (
    MicSource,
    NullSource,
    ToneSource,
    WavSource,
    parse_source,
)


def peak_hz(samples: npt.NDArray[np.int16]) -> float:
    mags = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / SAMPLE_RATE)[int(np.argmax(mags))])


def write_wav(path: Path, samples: npt.NDArray[np.integer], *, rate: int, channels: int,
              width: int) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    return path


def test_a_tone_is_continuous_across_frames_at_its_frequency_and_level() -> None:
    tone = ToneSource(440.0, level=0.5)
    frames = [tone.read() for _ in range(50)]
    assert all(f.dtype == np.int16 and f.shape == (FRAME_SAMPLES,) for f in frames)
    joined = np.concatenate(frames)
    expected = np.round(0.5 * 32767 * np.sin(2 * np.pi * 440 * np.arange(len(joined))
                                             / SAMPLE_RATE))
    assert np.abs(joined.astype(np.int32) - expected).max() <= 1  # no seams between frames
    assert peak_hz(joined) == pytest.approx(440.0, abs=1)


def test_silence_is_silent() -> None:
    assert not NullSource().read().any()


def test_a_stereo_44k1_wav_is_read_as_48k_mono_at_the_same_pitch(tmp_path: Path) -> None:
    t = np.arange(44_100) / 44_100
    left = np.round(8000 * np.sin(2 * np.pi * 500 * t)).astype("<i2")
    stereo = np.stack([left, left], axis=1)
    path = write_wav(tmp_path / "tone.wav", stereo, rate=44_100, channels=2, width=2)
    source = WavSource(path, loop=False)
    samples = np.concatenate([source.read() for _ in range(50)])  # exactly one second
    assert peak_hz(samples) == pytest.approx(500.0, abs=2)
    assert 7500 < np.abs(samples).max() <= 8001
    assert not source.read().any() and source.ended  # the file ends in silence


def test_a_looping_wav_starts_over(tmp_path: Path) -> None:
    ramp = np.arange(1, 701, dtype="<i2")  # shorter than one frame
    path = write_wav(tmp_path / "ramp.wav", ramp, rate=SAMPLE_RATE, channels=1, width=2)
    frame = WavSource(path).read()
    assert list(frame[:3]) == [1, 2, 3]
    assert list(frame[700:703]) == [1, 2, 3]


@pytest.mark.parametrize("width", [1, 3, 4])
def test_8_24_and_32_bit_wavs_are_scaled_to_16_bits(tmp_path: Path, width: int) -> None:
    full = {1: 127, 3: 2**23 - 1, 4: 2**31 - 1}[width]
    values = np.array([full // 2, -full // 2] * 480, dtype=np.int64)
    if width == 1:
        raw = (values + 128).astype(np.uint8).tobytes()
    else:
        raw = b"".join(int(v).to_bytes(width, "little", signed=True) for v in values)
    path = tmp_path / f"w{width}.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(width)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(raw)
    frame = WavSource(path).read()
    # Within one step of 8-bit resolution (256) of half scale.
    assert abs(int(frame[0]) - 16383) <= 256 and abs(int(frame[1]) + 16384) <= 256


def test_a_float_wav_is_rejected_clearly(tmp_path: Path) -> None:
    # WAVE_FORMAT_IEEE_FLOAT (3): the stdlib reader refuses it, and so do we, with our error.
    data = np.zeros(100, dtype="<f4").tobytes()
    fmt = (3).to_bytes(2, "little") + (1).to_bytes(2, "little") \
        + SAMPLE_RATE.to_bytes(4, "little") + (SAMPLE_RATE * 4).to_bytes(4, "little") \
        + (4).to_bytes(2, "little") + (32).to_bytes(2, "little")
    body = b"WAVE" + b"fmt " + len(fmt).to_bytes(4, "little") + fmt \
        + b"data" + len(data).to_bytes(4, "little") + data
    path = tmp_path / "float.wav"
    path.write_bytes(b"RIFF" + len(body).to_bytes(4, "little") + body)
    with pytest.raises(UnsupportedWav):
        WavSource(path)
    with pytest.raises(ValueError):  # UnsupportedWav is a ValueError for spec parsers' callers
        parse_source(f"wav:{path}")


def test_source_specs_build_sources_or_say_what_is_wrong(tmp_path: Path) -> None:
    assert isinstance(parse_source("null"), NullSource)
    tone = parse_source("tone:440")
    assert isinstance(tone, ToneSource) and tone.hz == 440.0 and tone.level == 0.3
    quiet = parse_source("tone:1000:0.1")
    assert isinstance(quiet, ToneSource) and quiet.level == 0.1
    path = write_wav(tmp_path / "a.wav", np.zeros(960, dtype="<i2"), rate=SAMPLE_RATE,
                     channels=1, width=2)
    assert isinstance(parse_source(f"wav:{path}"), WavSource)
    for bad in ["", "tone", "tone:", "tone:abc", "tone:30000", "tone:440:2", "tone:1:2:3",
                "wav:", "nul", "null:1", "speaker"]:
        with pytest.raises(SpecError):
            parse_source(bad)


def test_mic_opens_a_device_or_fails_with_our_error() -> None:
    # This machine may have no sound card; either outcome is fine, a crash is not.
    try:
        mic = parse_source("mic")
    except AudioDeviceError:
        return
    assert isinstance(mic, MicSource)
    assert mic.read().shape == (FRAME_SAMPLES,)
    mic.close()


def test_speaker_opens_a_device_or_fails_with_our_error() -> None:
    try:
        speaker = parse_sink("speaker")
    except AudioDeviceError:
        return
    assert isinstance(speaker, SpeakerSink)
    speaker.write(NullSource().read())
    speaker.close()


def test_importing_sources_and_sinks_does_not_load_portaudio() -> None:
    code = ("import sys, gossip.media.sources, gossip.media.sinks, gossip.media.engine; "
            "assert 'sounddevice' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_stereo_folds_to_mono_without_overflow() -> None:
    interleaved = np.array([32767, 32767, -32768, -32768, 1000, -1000], dtype=np.int16)
    assert list(stereo_to_mono(interleaved)) == [32767, -32768, 0]


def test_sinks_count_keep_and_write_frames(tmp_path: Path) -> None:
    loud = ToneSource(440).read()
    null = NullSink()
    null.write(loud)
    null.write(NullSource().read())
    assert (null.frames, null.audible_frames) == (2, 1)

    memory = MemorySink(max_frames=3)
    for n in range(5):
        memory.write(np.full(FRAME_SAMPLES, n, dtype=np.int16))
    assert memory.frames_written == 5
    assert list(memory.samples()[::FRAME_SAMPLES]) == [2, 3, 4]  # bounded: the newest kept
    assert list(memory.samples(1)[:1]) == [4]

    path = tmp_path / "out.wav"
    sink = WavSink(path)
    sink.write(loud)
    sink.write(loud)
    sink.close()
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, SAMPLE_RATE)
        back = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    assert np.array_equal(back, np.concatenate([loud, loud]))


def test_sinks_refuse_frames_of_the_wrong_shape_or_type() -> None:
    for bad in (np.zeros(FRAME_SAMPLES, dtype=np.float32), np.zeros(10, dtype=np.int16)):
        with pytest.raises(ValueError):
            NullSink().write(bad)  # type: ignore[arg-type]


def test_sink_specs(tmp_path: Path) -> None:
    assert isinstance(parse_sink("null"), NullSink)
    assert isinstance(parse_sink("memory"), MemorySink)
    wav = parse_sink(f"wav:{tmp_path / 'x.wav'}")
    assert isinstance(wav, WavSink)
    wav.close()
    for bad in ["", "wav:", "mic", "memory:3", "tone:440"]:
        with pytest.raises(SpecError):
            parse_sink(bad)
