"""The video source a call reads, with another source inside that can be swapped while the
call runs: a new choice in Settings (camera, screen, test pattern) applies at once, without
leaving the call or restarting the app. Every source of one call has the call's size."""

from __future__ import annotations

from gossip.media.videosource import Image, VideoSource


class SwitchableVideo(VideoSource):
    def __init__(self, inner: VideoSource) -> None:
        self._inner = inner
        self.width, self.height, self.fps = inner.width, inner.height, inner.fps
        self._closed = False

    def read(self) -> Image:
        # One reference read: a swap from the trio thread is seen whole or not at all.
        return self._inner.read()

    def swap(self, inner: VideoSource) -> VideoSource:
        """Read from `inner` from now on; returns the old source for the caller to close."""
        if (inner.width, inner.height) != (self.width, self.height):
            raise ValueError(
                f"a {inner.width}x{inner.height} source cannot replace the "
                f"call's {self.width}x{self.height} one"
            )
        old, self._inner = self._inner, inner
        return old

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._inner.close()
