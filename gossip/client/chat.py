"""Chat for one session, without I/O: our sender keys, everyone else's, the message store,
the offline outbox and our recent messages (resent to members who come back).

The session owns the connection and asks this desk for the frames to send and what a
received blob means; nothing here awaits, so nothing here can be interleaved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from gossip.crypto import Identity, PublicKey, SenderKeyRing
from gossip.crypto.pins import Trust
from gossip.wire import Message

from .errors import CommandRefused, OutboxFull
from .messages import (
    CLOCK_WINDOW,
    ChannelSender,
    ChatMessage,
    Distribution,
    new_chat,
    open_chat,
)
from .store import MessageStore

OUTBOX_LIMIT = 1000


class ChatDesk:
    def __init__(self, identity: Identity, clock: Callable[[], float], *,
                 resend_window: float) -> None:
        self._identity = identity
        self._clock = clock
        self._resend_window = resend_window
        self.store = MessageStore()
        self._senders: dict[str, ChannelSender] = {}  # our sender key per channel
        self._ring = SenderKeyRing()  # everyone else's sender keys
        self._outbox: list[ChatMessage] = []  # written while offline, sent after reconnect
        self._recent: list[ChatMessage] = []  # ours, resent to members who (re)join

    # -- writing -----------------------------------------------------------------------------
    def compose(self, channel: str, text: str, ttl: float) -> ChatMessage:
        """A new message of ours; `keep` it once it is sent or held (not if refused)."""
        try:
            return new_chat(self._identity, channel=channel, text=text, ttl=ttl,
                            now=self._clock())
        except ValueError as exc:
            raise CommandRefused(str(exc)) from None

    def keep(self, message: ChatMessage) -> None:
        """Show one of ours from now on (until it expires), sent or waiting to be."""
        self.store.add(message)

    def hold(self, message: ChatMessage, *, over_limit: bool = False) -> None:
        """Keep a message for after the reconnect; refuse when the outbox is full (then it
        is not kept either: a refused message never shows as written). `over_limit`: a
        message already shown whose send broke off waits whatever the limit."""
        if len(self._outbox) >= OUTBOX_LIMIT and not over_limit:
            raise OutboxFull(f"offline, and {OUTBOX_LIMIT} messages already wait to go "
                             "out: try again once reconnected")
        self._outbox.append(message)
        self.keep(message)  # the store drops a second add of the same id

    def seal(self, message: ChatMessage, recipients: Sequence[PublicKey]) -> list[Message]:
        """The frames that send `message` to `recipients`: a new epoch's sender key first
        when the recipients changed (or the epoch is used up), then the message."""
        sender = self._senders.get(message.channel)
        if sender is None:
            sender = self._senders[message.channel] = ChannelSender(self._identity,
                                                                    message.channel)
        frames = []
        distribution = sender.distribution_for(recipients)
        if distribution is not None:
            frames.append(Message(channel=message.channel, blob=distribution))
        frames.append(Message(channel=message.channel, blob=sender.encrypt(message)))
        return frames

    def sent(self, message: ChatMessage) -> None:
        """A first send went out: remember it for members who (re)join shortly."""
        self._recent.append(message)

    def new_epochs(self) -> None:
        """Our next message in every channel starts a new epoch (a member may have lost our
        keys: a reconnect, a member who came back)."""
        for sender in self._senders.values():
            sender.invalidate()

    def take_outbox(self) -> list[ChatMessage]:
        """What waited offline, in order, to send now: expired ones dropped, and old send
        times moved to now (receivers refuse old send times as replays)."""
        outbox, self._outbox = self._outbox, []
        now = self._clock()
        ready = []
        for message in outbox:
            if message.expires_at <= now:
                continue
            if now - message.sent_at > CLOCK_WINDOW / 2:
                message = replace(message, sent_at=now)
            ready.append(message)
        return ready

    def recent(self, channels: Sequence[str], skip: frozenset[str] = frozenset()
               ) -> list[ChatMessage]:
        """Our messages of the resend window still alive, to send again."""
        now = self._clock()
        self._recent = [m for m in self._recent
                        if now - m.sent_at < self._resend_window and m.expires_at > now]
        return [m for m in self._recent if m.id not in skip and m.channel in channels]

    # -- reading -----------------------------------------------------------------------------
    def open(self, message: Message, sender_key: PublicKey, trust: Trust
             ) -> ChatMessage | Distribution | None:
        """What a relayed message is: a new ChatMessage (kept), a sender key (taken), or
        None for a repeat. Raises MessageRejected when a check fails."""
        sender = message.sender or ""
        opened = open_chat(message.blob, self._identity, routed_sender=sender,
                           routed_channel=message.channel, sender_key=sender_key, trust=trust,
                           now=self._clock(), ring=self._ring)
        if isinstance(opened, Distribution):
            return opened if self._ring.add(opened.key) else None
        return opened if self.store.add(opened) else None
