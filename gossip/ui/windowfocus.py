"""Whether the app's window has the keyboard focus.

Dear PyGui (2.x) has no focus callback or query for the viewport, but its window is a GLFW
window whose GL context is current on the render thread, and GLFW tracks focus for it (from
X11 FocusIn/FocusOut, or the Wayland compositor). So we ask GLFW itself, through the symbols
Dear PyGui's module exports (as wakeup.py does for the X11 display). Call it on the render
thread only; where it cannot be asked, the answer is None (unknown).
"""

from __future__ import annotations

import ctypes

GLFW_FOCUSED = 0x00020001


class WindowFocus:
    def __init__(self, glfw: ctypes.CDLL | None) -> None:
        self._glfw = glfw

    @classmethod
    def of_viewport(cls) -> WindowFocus:
        """For the viewport (call after `show_viewport`, on the render thread)."""
        try:
            import dearpygui._dearpygui as core

            glfw = ctypes.CDLL(core.__file__)
            glfw.glfwGetCurrentContext.restype = ctypes.c_void_p
            glfw.glfwGetWindowAttrib.argtypes = [ctypes.c_void_p, ctypes.c_int]
            glfw.glfwGetWindowAttrib.restype = ctypes.c_int
        except (OSError, AttributeError, ImportError):
            return cls(None)
        return cls(glfw)

    def focused(self) -> bool | None:
        """True or False as GLFW says; None where it cannot be asked."""
        if self._glfw is None:
            return None
        window = self._glfw.glfwGetCurrentContext()
        if not window:
            return None
        return bool(self._glfw.glfwGetWindowAttrib(window, GLFW_FOCUSED))
