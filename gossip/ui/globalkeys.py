"""The push-to-talk key held anywhere on the desktop, not only over our window.

pynput listens to the X server's keyboard (its RECORD extension) on a thread of its own; we
keep nothing but the talk key going down and up. Where the desktop does not allow it (no X
display, or Wayland, which keeps keys to the window in front) the key works while Gossip is
in front, and `status` says so in the settings.

The listener runs only while push-to-talk is chosen: in the other modes nothing listens to
the keyboard outside the window.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# X repeats a held key as release-and-press pairs: a release stands only if no press follows
# within this long, so holding the key keeps the microphone open without flicker.
RELEASE_SETTLE = 0.06

LISTENING = "works in other windows too"
STOP_WAIT = 1.0  # for a stopped listener's thread (it ends in milliseconds)


def desktop_refusal(environ: dict[str, str] | os._Environ[str] = os.environ) -> str | None:
    """Why this desktop does not let us see keys outside our window, if it does not."""
    if environ.get("XDG_SESSION_TYPE") == "wayland" or (
        environ.get("WAYLAND_DISPLAY") and not environ.get("DISPLAY")
    ):
        return "on Wayland, only while Gossip is in front"
    if not environ.get("DISPLAY"):
        return "no X display: only while Gossip is in front"
    return None


class GlobalTalkKey:
    """Calls `on_change(held)` once per change of the talk key, from the listener's thread
    (or the settle timer's): `on_change` must be safe to call from any thread."""

    def __init__(self, on_change: Callable[[bool], None]) -> None:
        self._on_change = on_change
        self._lock = threading.Lock()
        self._listener: Any = None
        self._key: Any = None
        self._held = False
        self._settle: threading.Timer | None = None
        self._stopping: list[Any] = []  # stopped listeners whose threads may still run
        self.status = "off"

    @property
    def listening(self) -> bool:
        return self._listener is not None

    def start(self, key_name: str) -> bool:
        """Listen for `key_name` ("F8") on the whole desktop; False (and `status` says why)
        where that is not possible."""
        self.stop()
        refusal = desktop_refusal()
        if refusal is not None:
            self.status = refusal
            return False
        try:
            # Imported here: pynput connects to the display on import, and fails without one.
            from pynput import keyboard
        except ImportError as exc:
            log.info("no global talk key: %s", exc)
            self.status = "the desktop refused: only while Gossip is in front"
            return False
        self._key = keyboard.Key[key_name.lower()]
        listener = keyboard.Listener(on_press=self._pressed, on_release=self._released)
        listener.daemon = True
        listener.start()
        listener.wait()  # until it listens: a key pressed after start() is not missed
        self._listener = listener
        self.status = LISTENING
        return True

    def stop(self) -> None:
        """Stop listening; a key held now counts as let go."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()
            _end_recording(listener)
            self._stopping.append(listener)
            self.join_stopped(STOP_WAIT)
        self.status = "off"
        with self._lock:
            self._cancel_settle()
            if self._held:
                self._held = False
                self._on_change(False)

    def join_stopped(self, timeout: float) -> bool:
        """Wait for the threads of stopped listeners; True if none is left."""
        for listener in self._stopping:
            listener.join(timeout)
        self._stopping = [listener for listener in self._stopping if listener.is_alive()]
        return not self._stopping

    def _pressed(self, key: object) -> None:
        if key != self._key or self._listener is None:
            return
        with self._lock:
            self._cancel_settle()
            if not self._held:
                self._held = True
                self._on_change(True)

    def _released(self, key: object) -> None:
        if key != self._key or self._listener is None:
            return
        with self._lock:
            self._cancel_settle()
            timer = threading.Timer(RELEASE_SETTLE, lambda: self._settled(timer))
            timer.daemon = True
            self._settle = timer
            timer.start()

    def _settled(self, timer: threading.Timer) -> None:
        with self._lock:
            if self._settle is not timer:
                return  # a press came first (and maybe another release after it)
            self._settle = None
            if self._held:
                self._held = False
                self._on_change(False)

    def _cancel_settle(self) -> None:
        if self._settle is not None:
            self._settle.cancel()
            self._settle = None


def _end_recording(listener: Any) -> None:
    """pynput's X listener asks the server to stop recording on the connection its thread is
    blocked reading, so once a key has come it would end only on the next key anywhere (its
    pull request 583 is open). The server takes the same request from any connection: sent on
    one of ours, the thread ends at once. The context id is the one private part we read."""
    context = getattr(listener, "_context", None)
    if context is None:
        return  # never recorded (or another backend): its own stop is enough
    try:
        import Xlib.display
        import Xlib.error

        display = Xlib.display.Display()
    except Exception as exc:  # Xlib's own display errors, a socket error, no Xlib at all
        log.info("cannot end the key listener's recording at once: %s", exc)
        return
    try:
        # Already ended by pynput's own request (no key came): the server says so; no matter.
        display.set_error_handler(lambda *args: None)
        display.record_disable_context(context)
        display.sync()
    except Xlib.error.ConnectionClosedError as exc:
        log.info("the display went while ending the key listener: %s", exc)
    finally:
        display.close()
