"""What wakes the render thread while it sleeps between frames: a self-pipe any thread may poke
(a notice posted, a video picture converted) and, on X11, the display's socket, so that input
(mouse, keys, a resize, the window uncovered) wakes it too. The render thread waits on both in
one select() with a timeout for the next timer due: no frame is drawn while nothing happens.

A threading.Event cannot be waited on together with a socket, hence the pipe: a poke writes
one byte (coalesced while one is pending) and `take` reads it back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import select
import threading
import time
from enum import StrEnum

log = logging.getLogger("gossip.ui")

QUEUED_ALREADY = 0  # Xlib's XEventsQueued mode: count what is queued, read nothing
MAX_SPURIOUS = 1000  # the display's socket readable with no event in it, per sleep, at most


class Woken(StrEnum):
    INPUT = "input"  # an event from the display: the user did something, or the window changed
    POKE = "poke"  # another thread has something new to show
    TIMER = "timer"  # the next timer came due (or the longest sleep passed)


class Wakeup:
    """A self-pipe: `poke` from any thread; the render thread selects on `fileno()` and calls
    `take` when it wakes. The pipe holds a byte exactly while a poke is pending."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._lock = threading.Lock()
        self._pending = False
        self.pokes = 0  # for tests and the curious

    def fileno(self) -> int:
        return self._read

    def poke(self) -> None:
        with self._lock:
            self.pokes += 1
            if self._pending:
                return
            self._pending = True
            try:
                os.write(self._write, b"\0")
            except OSError:  # closed on the way out: nobody sleeps any more
                pass

    def take(self) -> bool:
        """Whether a poke was pending; clears it (render thread)."""
        with self._lock:
            try:
                while os.read(self._read, 64):
                    pass
            except (BlockingIOError, OSError):
                pass
            pending, self._pending = self._pending, False
        return pending

    def close(self) -> None:
        with self._lock:
            for fd in (self._read, self._write):
                try:
                    os.close(fd)
                except OSError:
                    pass


class DisplaySocket:
    """The X11 connection Dear PyGui's window uses (GLFW's), read through Xlib by ctypes.

    Only the render thread touches it, the thread GLFW reads events on: `has_events` looks at
    what Xlib has already queued (drawing a frame can queue events without the socket showing
    it), `read_events` reads the socket into the queue and says whether that was an event
    (after a frame, the socket also carries the GL driver's own traffic, which wakes no one).
    """

    def __init__(self, xlib: ctypes.CDLL, display: int) -> None:
        self._xlib = xlib
        self._display = ctypes.c_void_p(display)
        self._fd = int(xlib.XConnectionNumber(self._display))

    @classmethod
    def of_viewport(cls) -> DisplaySocket | None:
        """The viewport's X11 connection; None where there is none (Wayland-only, Windows,
        macOS) or it cannot be reached (call after `show_viewport`)."""
        try:
            import dearpygui._dearpygui as core

            glfw = ctypes.CDLL(core.__file__)
            glfw.glfwGetX11Display.restype = ctypes.c_void_p
            name = ctypes.util.find_library("X11")
            if name is None:
                return None
            xlib = ctypes.CDLL(name)
        except (OSError, AttributeError, ImportError):
            return None
        xlib.XConnectionNumber.argtypes = [ctypes.c_void_p]
        xlib.XConnectionNumber.restype = ctypes.c_int
        xlib.XEventsQueued.argtypes = [ctypes.c_void_p, ctypes.c_int]
        xlib.XEventsQueued.restype = ctypes.c_int
        xlib.XPending.argtypes = [ctypes.c_void_p]
        xlib.XPending.restype = ctypes.c_int
        display = glfw.glfwGetX11Display()
        return cls(xlib, display) if display else None

    def fileno(self) -> int:
        return self._fd

    def has_events(self) -> bool:
        return bool(self._xlib.XEventsQueued(self._display, QUEUED_ALREADY))

    def read_events(self) -> bool:
        return bool(self._xlib.XPending(self._display))


def sleep_until_woken(wakeup: Wakeup, display: DisplaySocket | None, timeout: float) -> Woken:
    """Block until input, a poke or `timeout` seconds. Without a display socket, input cannot
    wake us: the caller keeps `timeout` short (a low idle frame rate) to notice it."""
    deadline = time.monotonic() + timeout
    sources: list[Wakeup | DisplaySocket] = [wakeup] if display is None else [wakeup, display]
    for _ in range(MAX_SPURIOUS):
        if display is not None and display.has_events():
            return Woken.INPUT
        left = deadline - time.monotonic()
        if left <= 0:
            return Woken.TIMER
        ready, _, _ = select.select(sources, [], [], left)
        if wakeup in ready:
            return Woken.POKE
        if display is not None and display in ready and display.read_events():
            return Woken.INPUT
    log.debug("the display's socket kept waking us with nothing in it")
    return Woken.TIMER
