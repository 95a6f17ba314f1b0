"""Chat for one session, without I/O: our sender keys, everyone else's, the message store,
the offline outbox and our recent messages (resent to members who come back).

The session owns the connection and asks this desk for the frames to send and what a
received blob means; nothing here awaits, so nothing here can be interleaved. What must
survive a restart (how far each sender key was read, the ids seen) leaves as a SavedReplay
for the session to write (replaystore.py) and comes back the same way.
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
    MAX_TTL,
    ChannelSender,
    ChatMessage,
    Distribution,
    new_chat,
    open_chat,
)
from .replaystore import SavedReplay
from .store import MessageStore, StoreLimits

OUTBOX_LIMIT = 1000
# How often skipped message keys past their lifetime are purged (opening a message purges
# only its own epoch's).
PURGE_INTERVAL = 60.0


class ChatDesk:
    def __init__(self, identity: Identity, clock: Callable[[], float], *,
                 resend_window: float, limits: StoreLimits | None = None) -> None:
        self._identity = identity
        self._clock = clock
        self._resend_window = resend_window
        self.store = MessageStore(limits)
        self._senders: dict[str, ChannelSender] = {}  # our sender key per channel
        # Everyone else's sender keys. A skipped message key lives as long as the messages
        # it could open at most, so a key stolen later opens no late message past that.
        self._ring = SenderKeyRing(skipped_key_lifetime=MAX_TTL, clock=clock)
        self._outbox: list[ChatMessage] = []  # written while offline, sent after reconnect
        self._recent: list[ChatMessage] = []  # ours, resent to members who (re)join
        self._replay_changed = False
        self._next_purge = clock() + PURGE_INTERVAL

    # -- writing -----------------------------------------------------------------------------
    def compose(self, channel: str, text: str, ttl: float) -> ChatMessage:
        """A new message of ours, kept in the store (shown at once, even while offline)."""
        try:
            message = new_chat(self._identity, channel=channel, text=text, ttl=ttl,
                               now=self._clock())
        except ValueError as exc:
            raise CommandRefused(str(exc)) from None
        self.store.add(message)
        return message

    def hold(self, message: ChatMessage) -> None:
        """Keep a message for after the reconnect; refuse when the outbox is full."""
        if len(self._outbox) >= OUTBOX_LIMIT:
            raise OutboxFull(f"offline, and {OUTBOX_LIMIT} messages already wait to go "
                             "out: try again once reconnected")
        self._outbox.append(message)

    def seal(self, message: ChatMessage, recipients: Sequence[PublicKey]) -> list[Message]:
        """The frames that send `message` to `recipients`: a new epoch's sender key first
        when the recipients changed (or the epoch is used up), then the message."""
        sender = self._senders.get(message.channel)
        if sender is None:
            sender = self._senders[message.channel] = ChannelSender(
                self._identity, message.channel, self._clock)
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
    def open(self, message: Message, sender_key: PublicKey, trust: Trust, *, members: int
             ) -> ChatMessage | Distribution | None:
        """What a relayed message is: a new ChatMessage (kept), a sender key (taken), or
        None for a repeat. Raises MessageRejected when a check fails.

        `sender_key` and `trust` are the sender's key and its trust now; `members` is the
        number of members the channel has as we know it (it bounds the blob's size and
        session-key packets). The message tells who signed it (`signer`), how many of that
        sender's messages before it did not arrive (`missing`) and whether it is `late`;
        it is `verified` only when its signer is `sender_key` and that key is trusted."""
        now = self._clock()
        self._purge_now_and_then(now)
        # Set before opening: a sender key can move on even when a later check refuses.
        self._replay_changed = True
        opened = open_chat(message.blob, self._identity, routed_sender=message.sender or "",
                           routed_channel=message.channel, sender_key=sender_key, trust=trust,
                           now=now, members=members, ring=self._ring)
        if isinstance(opened, Distribution):
            return opened if self._ring.add(opened.key) else None
        self.store.forget_seen(now)
        return opened if self.store.add(opened) else None

    def forget_sender(self, user: str) -> None:
        """Drop every sender key `user` handed us (their identity key changed): what was
        handed over under the old key opens nothing more, and its hand-overs are refused if
        replayed. They hand us new ones when we next meet (a join starts new epochs)."""
        self._ring.forget(user)
        self._replay_changed = True

    def _purge_now_and_then(self, now: float) -> None:
        if now >= self._next_purge:
            self._next_purge = now + PURGE_INTERVAL
            if self._ring.purge_expired(now):
                self._replay_changed = True

    # -- across restarts ---------------------------------------------------------------------
    def restore_replay(self, saved: SavedReplay) -> None:
        """Take what was saved before a restart (call it before the first frame): a replayed
        hand-over reads only what was not read yet, and a replayed id is dropped."""
        self._ring.restore_replay_state(saved.ring)
        self.store.restore_seen(saved.seen.items(), self._clock())

    def replay_snapshot(self) -> SavedReplay | None:
        """What to save so replays are caught after a restart; None if nothing changed since
        the last snapshot."""
        if not self._replay_changed:
            return None
        self._replay_changed = False
        return SavedReplay(self._ring.replay_state(), self.store.seen_ids())
