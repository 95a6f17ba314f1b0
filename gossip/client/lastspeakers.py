"""Whose video a relayed call watches: the last N speakers, as this client heard them.

The choice is the receiver's, from its own speaking indicators (computed from decoded
audio, gossip.media.mixer): the relay has no key, so it cannot tell who speaks, and levels
that senders attached in the clear would let one member claim to speak all the time and
take everyone's video slots. A member can only get in here by actually being heard.

Pure: `update` takes who speaks now and who is in the call, and returns whom to ask for.
"""

from __future__ import annotations

from collections.abc import Iterable


class LastSpeakers:
    """The last `n` who spoke, most recent first; slots nobody spoke for go to those who
    have not spoken yet, in the order they came (so a quiet call still shows faces)."""

    def __init__(self, n: int) -> None:
        if n < 0:
            raise ValueError("n is a number of video slots")
        self.n = n
        self._spoke: list[str] = []  # most recent first
        self._present: list[str] = []  # in the order they came

    def update(self, speaking: Iterable[str], present: Iterable[str]) -> tuple[str, ...]:
        """Whom to watch now that `speaking` speak among `present` (ourselves excluded by
        the caller)."""
        here = list(dict.fromkeys(present))
        members = set(here)
        self._present = [user for user in self._present if user in members]
        self._present += [user for user in here if user not in self._present]
        now = [user for user in dict.fromkeys(speaking) if user in members]
        # Among those speaking at once, one already on screen keeps its place before a new one.
        before = {user: index for index, user in enumerate(self._spoke)}
        now.sort(key=lambda user: before.get(user, len(before)))
        self._spoke = now + [user for user in self._spoke if user in members and user not in now]
        chosen = self._spoke[: self.n]
        chosen += [user for user in self._present if user not in chosen][: self.n - len(chosen)]
        return tuple(chosen)
