"""The calls a session is in, at most one per channel, each a CallActor living in the
current connection's nursery (a call ends with its connection). Calls learn who is who from
the session's member directory: each peer's key and the trust its pins give it.

The media stack (aiortc, PyAV, numpy) is imported here only when a call starts, so chat,
login and keys never load it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING

import trio

from gossip.actors import ActorRef, ActorStopped, run_actor
from gossip.crypto import Identity, PublicKey
from gossip.wire import Frame

from . import events as ev
from .calltypes import CallFrame, CallOptions, FrameSender, MembershipCheck, PeerIdentity
from .directory import MemberDirectory
from .errors import CommandRefused, NotConnected

if TYPE_CHECKING:
    from .calls import CallActor


class CallHost:
    def __init__(self, identity: Identity, send: FrameSender,
                 events: trio.MemorySendChannel[ev.SessionEvent],
                 clock: Callable[[], float], directory: MemberDirectory,
                 membership: MembershipCheck = lambda channel, user, fingerprint: True
                 ) -> None:
        self._identity = identity
        self._directory = directory
        self._membership = membership
        self._send = send
        self._events = events
        self._clock = clock
        self._calls: dict[str, ActorRef] = {}
        self._nursery: trio.Nursery | None = None

    def attach(self, nursery: trio.Nursery) -> None:
        """A connection is up (and synced): calls may start, in its nursery."""
        self._nursery = nursery

    def detach(self) -> None:
        """The connection is gone and its calls with it. The tasks that would have forgotten
        them died too: forget them here, so they can be joined again after a reconnect."""
        self._calls.clear()
        self._nursery = None

    async def join(self, channel: str, options: CallOptions) -> ActorRef:
        if channel in self._calls:
            raise CommandRefused(f"already in the call in {channel}")
        if self._nursery is None:
            raise NotConnected("not connected to the hub (reconnecting): join once back")
        from .calls import CallActor  # the media stack, loaded with the first call

        call = CallActor(channel, self._identity, self._send, options, self._events.clone(),
                         self._clock, partial(self.identity_of, channel=channel))
        ref: ActorRef = await self._nursery.start(
            partial(run_actor, call, name=f"call:{channel}"))
        self._calls[channel] = ref
        self._nursery.start_soon(self._forget, channel, call)
        return ref

    def identity_of(self, user: str, *, channel: str | None = None) -> PeerIdentity | None:
        """The key the hub now names for `user`, its trust, and (for a call in `channel`)
        whether that channel's verified roster lets us call it, as the session holds them
        (read afresh each time: an accept, a verify or a roster change shows in the call at
        once)."""
        key = self._directory.key(user)
        if key is None:
            return None
        member = channel is None or self._membership(channel, user, key.fingerprint)
        return PeerIdentity(key, self._directory.trust_of(user), member)

    @property
    def active(self) -> bool:
        """Whether we are in (or joining) any call."""
        return bool(self._calls)

    async def _forget(self, channel: str, call: CallActor) -> None:
        await call.ended.wait()
        self._calls.pop(channel, None)

    async def route(self, frame: Frame, channel: str | None,
                    keys: Mapping[str, PublicKey]) -> None:
        """Hand a call frame, with the keys it concerns, to its call (or, for an error that
        names no channel, to every call)."""
        if channel is None:
            targets = list(self._calls.values())
        else:
            call = self._calls.get(channel)
            targets = [call] if call is not None else []
        for target in targets:
            try:
                await target.tell(CallFrame(frame, keys))
            except ActorStopped:
                pass
