"""Camera and screen sources: a clear error where they cannot work, and a real screen
capture from a private X display (Xvfb), where the pointer at its centre shows up."""

from __future__ import annotations

import numpy as np
import pytest

from gossip.media.capture import CaptureUnavailable, camera_device, open_camera, open_screen
from gossip.media.videospec import parse_video_source

from .virtual_display import virtual_display


def test_camera_specs_name_a_device() -> None:
    assert camera_device("") == "/dev/video0"
    assert camera_device("2") == "/dev/video2"
    assert camera_device("/dev/v4l/by-id/cam") == "/dev/v4l/by-id/cam"


def test_a_missing_camera_is_one_clear_error() -> None:
    with pytest.raises(CaptureUnavailable, match="no camera at /dev/nonexistent-gossip-cam"):
        parse_video_source("camera:/dev/nonexistent-gossip-cam")


def test_screen_capture_without_a_display_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(CaptureUnavailable, match="DISPLAY is not set"):
        open_screen()


def test_the_screen_is_captured_and_scaled() -> None:
    with virtual_display(640, 480) as display:
        source = parse_video_source(f"screen:{display}", width=320, height=240, fps=10)
        try:
            assert source.first_frame.wait(10), "no frame captured"
            image = source.read()
        finally:
            source.close()
    assert image.shape == (240, 320, 3) and image.dtype == np.uint8
    # An empty Xvfb screen is black but for the pointer, which starts at its centre.
    lit = np.argwhere(image.any(axis=2))
    assert len(lit) > 0
    centre = lit.mean(axis=0)
    assert abs(centre[0] - 120) < 20 and abs(centre[1] - 160) < 20


def test_a_closed_capture_stops_its_thread() -> None:
    with virtual_display(320, 240) as display:
        source = open_screen(display=display, width=160, height=120, fps=10)
        assert source.first_frame.wait(10)
        source.close()
    assert not source._thread.is_alive()
    assert source.error is None


def test_an_unopenable_camera_device_is_refused(tmp_path) -> None:
    not_a_camera = tmp_path / "video9"
    not_a_camera.write_bytes(b"")
    with pytest.raises(CaptureUnavailable, match="cannot open the camera"):
        open_camera(str(not_a_camera))
