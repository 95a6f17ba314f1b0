"""Live video sources: a camera (V4L2) and the screen (X11), both through PyAV's FFmpeg
devices, behind the same VideoSource interface as the pattern and file sources.

A capture device blocks until its next frame, and `VideoSource.read` must not: a daemon
thread decodes continuously and keeps only the newest picture (scaled to the source's size
there, off the media loop); `read` returns it, or black until the first frame arrives.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import av
import numpy as np

from .defaults import DEFAULT_FPS, DEFAULT_HEIGHT, DEFAULT_WIDTH
from .errors import MediaError
from .videosource import Image, VideoSource, check_size

log = logging.getLogger(__name__)

OPEN_TIMEOUT = 5.0
READ_TIMEOUT = 2.0


class CaptureUnavailable(MediaError):
    """The camera or screen cannot be opened here; the message says why and what to try."""


class CaptureSource(VideoSource):
    """Frames from an FFmpeg input device (`format` "v4l2", "x11grab", ...) at `url`."""

    def __init__(self, url: str, device_format: str, options: dict[str, str], *,
                 width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT,
                 fps: float = DEFAULT_FPS, what: str = "capture device") -> None:
        check_size(width, height, fps)
        self.width, self.height, self.fps = width, height, fps
        try:
            # A read that blocks longer than READ_TIMEOUT gives up, so `close` is never
            # stuck behind a camera that stopped delivering.
            self._container = av.open(url, format=device_format, options=options,
                                      timeout=(OPEN_TIMEOUT, READ_TIMEOUT))
            self._container.streams.video[0]
        except (av.FFmpegError, OSError, IndexError) as exc:
            raise CaptureUnavailable(f"cannot open the {what} ({url}): {exc}") from exc
        self._black = np.zeros((height, width, 3), dtype=np.uint8)
        self._newest: Image | None = None
        self.frames_captured = 0
        self.first_frame = threading.Event()  # for callers that want a real picture first
        self.error: BaseException | None = None  # why capture stopped, if it did
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._capture, name=f"capture {url}",
                                        daemon=True)
        self._thread.start()

    def _capture(self) -> None:
        # Only this thread touches the container: closing it from another one while a read
        # is under way crashes FFmpeg.
        try:
            for frame in self._container.decode(video=0):
                if self._closed.is_set():
                    break
                # Scaled here, on this thread: the media loop only swaps a reference.
                self._newest = np.asarray(frame.to_ndarray(
                    format="rgb24", width=self.width, height=self.height), dtype=np.uint8)
                self.frames_captured += 1
                self.first_frame.set()
        except Exception as exc:  # the device went away: report it, send black from now
            if not self._closed.is_set():
                self.error = exc
                log.warning("video capture stopped: %s", exc)
        finally:
            self._container.close()

    def read(self) -> Image:
        newest = self._newest
        return newest if newest is not None else self._black

    def close(self) -> None:
        """Stop capturing; returns once the device is released (a frame or a read timeout
        later at most)."""
        self._closed.set()
        self._thread.join(timeout=READ_TIMEOUT + 1.0)


def camera_device(arg: str) -> str:
    """"" -> /dev/video0, "1" -> /dev/video1, anything else is a device path."""
    if not arg:
        return "/dev/video0"
    return f"/dev/video{arg}" if arg.isdigit() else arg


def open_camera(arg: str, *, width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT,
                fps: float = DEFAULT_FPS) -> CaptureSource:
    """A V4L2 camera ("camera", "camera:1", "camera:/dev/video2"), asked for our size and
    rate (a camera that cannot do them gives its nearest; we scale)."""
    device = camera_device(arg)
    if not Path(device).exists():
        raise CaptureUnavailable(f"no camera at {device} (is one plugged in? try camera:1 "
                                 "or a path such as camera:/dev/video2)")
    options = {"video_size": f"{width}x{height}", "framerate": f"{fps:g}"}
    return CaptureSource(device, "v4l2", options, width=width, height=height, fps=fps,
                         what="camera")


def open_screen(*, display: str | None = None, width: int = DEFAULT_WIDTH,
                height: int = DEFAULT_HEIGHT, fps: float = DEFAULT_FPS) -> CaptureSource:
    """The whole X11 screen (`DISPLAY`), scaled to our size. Wayland sessions without
    XWayland capture and other platforms are refused with a clear error."""
    display = display or os.environ.get("DISPLAY")
    if not display:
        raise CaptureUnavailable("screen capture needs an X display, and DISPLAY is not set "
                                 "(Wayland-only and non-Linux desktops are not supported yet)")
    if "x11grab" not in av.formats_available:
        raise CaptureUnavailable("this FFmpeg build has no x11grab device")
    return CaptureSource(display, "x11grab", {"framerate": f"{fps:g}"}, width=width,
                         height=height, fps=fps, what="screen")
