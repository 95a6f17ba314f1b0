"""The app's port to a call's video: who shows which stream (user -> LatestFrame), shared
between the bridge's trio thread, which fills it when a call is joined and empties it when the
call ends, and the converter thread, which reads it. Plain, thread-safe, no media imports."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from gossip.media.videoframes import LatestFrame


@dataclass(frozen=True)
class FeedSet:
    """The streams of the call at one moment: our own camera (if on) and each peer's."""

    user: str = ""  # our own name, the self-view's key
    self_view: LatestFrame | None = None
    peers: Mapping[str, LatestFrame] = field(default_factory=dict)
    version: int = 0  # bumped on every change of who has which stream

    def streams(self) -> dict[str, LatestFrame]:
        """user -> stream, ourselves included (under our own name)."""
        found = dict(self.peers)
        if self.self_view is not None and self.user:
            found[self.user] = self.self_view
        return found


class VideoFeeds:
    """Readable from any thread; `show` and `clear` come from whoever owns the call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._feeds = FeedSet()

    def show(self, user: str, self_view: LatestFrame | None,
             peers: Mapping[str, LatestFrame]) -> None:
        """The call's streams now. Cheap when nothing changed (it is called at each poll)."""
        with self._lock:
            current = self._feeds
            if (current.user == user and current.self_view is self_view
                    and _same(current.peers, peers)):
                return
            self._feeds = FeedSet(user, self_view, dict(peers), current.version + 1)

    def clear(self) -> None:
        """No call: nothing to show."""
        with self._lock:
            if self._feeds.self_view is None and not self._feeds.peers:
                return
            self._feeds = FeedSet(version=self._feeds.version + 1)

    def snapshot(self) -> FeedSet:
        with self._lock:
            return self._feeds


def _same(a: Mapping[str, LatestFrame], b: Mapping[str, LatestFrame]) -> bool:
    return a.keys() == b.keys() and all(a[user] is b[user] for user in a)
