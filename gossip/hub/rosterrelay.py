"""A private channel's roster news, relayed to the members of this hub it concerns: the same
for an entry a member of this hub appended and for one another hub of a cluster accepted."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gossip.wire import ROSTER_PART_BYTES, Frame, PrivateChannels, RosterAppend, RosterLog

from .private import PrivateBook
from .registry import Registry


def relay_roster_entry(
    registry: Registry,
    private: PrivateBook,
    encode: Callable[[Frame], bytes],
    author: str,
    channel: str,
    entry: bytes,
    position: int,
    before: Mapping[str, str],
    after: Mapping[str, str],
) -> None:
    """The entry to every member it leaves in the roster and to one it removes (each learns
    from it); a member it adds gets the channel's whole log instead. In order with the
    author's messages: a newcomer has the roster before what was sealed to it."""
    appended = encode(RosterAppend(channel=channel, entry=entry, position=position))
    for user, fingerprint in {**before, **after}.items():
        ports = registry.live_ports(user, fingerprint)  # each device of the member here
        if not ports:
            continue
        stays = before.get(user) == fingerprint and after.get(user) == fingerprint
        news: tuple[bytes, ...]
        if stays:
            news = (appended,)
        else:
            listing = encode(PrivateChannels(channels=private.channels_of(user, fingerprint)))
            if after.get(user) == fingerprint:  # added
                news = (listing, *(encode(part) for part in log_frames(private, channel)))
            else:  # removed: the entry that says so, then the listing without the channel
                news = (appended, listing)
        for port in ports:
            port.deliver_in_order(news, sender=author)
    for user, fingerprint in before.items():
        if after.get(user) != fingerprint:
            # Out of the roster, out of its call: the others are told the call's roster.
            registry.leave_call(channel, user)


def log_frames(private: PrivateBook, channel: str) -> list[Frame]:
    """A whole log in parts of at most ROSTER_PART_BYTES of entries."""
    entries = private.entries(channel)
    parts: list[Frame] = []
    start, size, part = 0, 0, list[bytes]()
    for index, entry in enumerate(entries):
        if part and size + len(entry) > ROSTER_PART_BYTES:
            parts.append(
                RosterLog(channel=channel, start=start, total=len(entries), entries=tuple(part))
            )
            start, size, part = index, 0, list[bytes]()
        part.append(entry)
        size += len(entry)
    parts.append(RosterLog(channel=channel, start=start, total=len(entries), entries=tuple(part)))
    return parts
