"""Media defaults that chat-only code may name without loading numpy, PyAV or aiortc."""

DEFAULT_WIDTH = 640
DEFAULT_HEIGHT = 360
DEFAULT_FPS = 30.0
