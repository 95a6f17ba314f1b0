"""Chat for one session, without I/O: our sender keys, everyone else's, the message store,
the offline outbox and our recent messages (resent to members who come back).

The session owns the connection and asks this desk for the frames to send and what a
received blob means; nothing here awaits, so nothing here can be interleaved. What must
survive a restart (how far each sender key was read, the ids seen) leaves as a SavedReplay
for the session to write (replaystore.py) and comes back the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import replace

from gossip.crypto import Identity, PublicKey, SenderKeyRing
from gossip.crypto.filestream import FileManifest
from gossip.crypto.pins import Trust
from gossip.wire import Message

from .errors import CommandRefused, MessageRejected, OutboxFull
from .messages import (
    CLOCK_WINDOW,
    MAX_TTL,
    SHOWN_KINDS,
    ChannelSender,
    ChatMessage,
    Distribution,
    MessageKind,
    new_chat,
    open_chat,
    seal_direct,
)
from .related import check_against
from .replaystore import SavedReplay
from .store import MessageStore, StoreLimits

OUTBOX_LIMIT = 1000
# Our file messages kept, until they expire, for members who come back (the newest this many).
FILE_MESSAGES_KEPT = 64
# How often skipped message keys past their lifetime are purged (opening a message purges
# only its own epoch's).
PURGE_INTERVAL = 60.0


def ref_of(message: ChatMessage, *, key: bool = False) -> bytes:
    """How our frames name a message to the hub (echoed in a refusal): 16 bytes of its id's
    hash (the hub learns nothing of the id); `key` names the sender-key hand-over sent
    just before it."""
    person = b"key" if key else b"text"
    return hashlib.blake2b(message.id.encode(), digest_size=16, person=person).digest()


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
        self._files: list[ChatMessage] = []  # our file messages, until they expire
        self._replay_changed = False
        self._next_purge = clock() + PURGE_INTERVAL
        # Edits and reactions kept before the message they name came: its id -> theirs.
        self._waiting_for: dict[str, list[str]] = {}
        # Ones refused once their original came (a forged edit): for the session to report.
        self._late_refusals: list[tuple[ChatMessage, MessageRejected]] = []

    # -- writing -----------------------------------------------------------------------------
    def compose(self, channel: str, text: str, ttl: float, *, reply_to: str = "",
                file: FileManifest | None = None) -> ChatMessage:
        """A new message of ours (a reply with `reply_to`, a file message with `file`); `keep`
        it once it is sent or
        held (not if refused). A reply may name a message we do not have (one the CLI was
        given by id), but never one of another channel."""
        kind = MessageKind.REPLY if reply_to else MessageKind.TEXT
        target = self.store.get(reply_to) if reply_to else None
        if target is not None and (target.channel != channel or target.kind not in SHOWN_KINDS):
            raise CommandRefused(f"message {reply_to} is not one of #{channel}'s")
        try:
            return new_chat(self._identity, channel=channel, text=text, ttl=ttl,
                            now=self._clock(), kind=kind, ref=reply_to, file=file)
        except ValueError as exc:
            raise CommandRefused(str(exc)) from None

    def compose_edit(self, ref: str, text: str) -> ChatMessage:
        """An edit of our message `ref`: in its channel, gone when it goes."""
        target = self._target(ref)
        if not (target.sender == self._identity.user
                and target.signer == self._identity.fingerprint):
            raise CommandRefused(f"only {target.sender} may edit their message")
        return self._about(target, MessageKind.EDIT, text)

    def compose_reaction(self, ref: str, emoji: str) -> ChatMessage:
        """Our reaction to message `ref` ("" takes ours back): gone when it goes."""
        return self._about(self._target(ref), MessageKind.REACTION, emoji)

    def _target(self, ref: str) -> ChatMessage:
        target = self.store.get(ref)
        if target is None or target.kind not in SHOWN_KINDS:
            raise CommandRefused(f"no message {ref[:64]!r} here (expired, or never came)")
        return target

    def _about(self, target: ChatMessage, kind: MessageKind, text: str) -> ChatMessage:
        now = self._clock()
        if target.expires_at <= now:
            raise CommandRefused("that message has expired")
        try:
            return new_chat(self._identity, channel=target.channel, text=text,
                            ttl=min(MAX_TTL, target.expires_at - now), now=now, kind=kind,
                            ref=target.id, expires_at=target.expires_at)
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
        when the recipients changed (or the epoch is used up), then the message. Both carry
        the message's `ref`, so a refusal of either names the message."""
        sender = self._senders.get(message.channel)
        if sender is None:
            sender = self._senders[message.channel] = ChannelSender(
                self._identity, message.channel, self._clock)
        frames = []
        distribution = sender.distribution_for(recipients)
        if distribution is not None:
            frames.append(Message(channel=message.channel, blob=distribution,
                                  ref=ref_of(message, key=True)))
        frames.append(Message(channel=message.channel, blob=sender.encrypt(message),
                              ref=ref_of(message)))
        return frames

    def seal_for(self, message: ChatMessage, user: str, key: PublicKey) -> Message:
        """`message` again, for one member only (what the hub says they missed)."""
        return Message(channel=message.channel, blob=seal_direct(message, self._identity, key),
                       ref=ref_of(message), to=user)

    def ours(self, ref: bytes) -> tuple[ChatMessage, bool] | None:
        """Our recent message a hub refusal names, if we still have it, and whether the
        frame refused was its sender-key hand-over."""
        for message in self._recent:
            if ref_of(message) == ref:
                return message, False
            if ref_of(message, key=True) == ref:
                return message, True
        return None

    def new_epoch(self, channel: str) -> None:
        """Our next message in `channel` starts a new epoch (the last hand-over was lost)."""
        sender = self._senders.get(channel)
        if sender is not None:
            sender.invalidate()

    def sent_within(self, channel: str, seconds: float) -> list[ChatMessage]:
        """Our messages in `channel` of the last `seconds` (as far as we keep them), alive."""
        now = self._clock()
        return [m for m in self._recent if m.channel == channel
                and now - m.sent_at <= seconds and m.expires_at > now]

    def sent(self, message: ChatMessage) -> None:
        """A first send went out: remember it for members who (re)join shortly."""
        if all(m.id != message.id for m in self._recent[-64:]):
            self._recent.append(message)
        if message.file is not None and all(m.id != message.id for m in self._files):
            self._files = [*self._files[-(FILE_MESSAGES_KEPT - 1):], message]

    def files_alive(self, channels: Sequence[str], skip: frozenset[str] = frozenset()
                    ) -> list[ChatMessage]:
        """Our file messages still alive in `channels` (but `skip`), to send again to a
        member who comes back: the file waits on the hub until then. An old one gets a new
        send time (receivers refuse old send times as replays; they drop a repeat by id)."""
        now = self._clock()
        self._files = [m for m in self._files if m.expires_at > now]
        return [m if now - m.sent_at < CLOCK_WINDOW / 2 else replace(m, sent_at=now)
                for m in self._files if m.channel in channels and m.id not in skip]

    def requeue(self, messages: Sequence[ChatMessage]) -> None:
        """Messages the hub refused for now, to go out first after a reconnect."""
        self._outbox[:0] = messages

    def new_epochs(self) -> None:
        """Our next message in every channel starts a new epoch (a member may have lost our
        keys: a reconnect, a member who came back)."""
        for sender in self._senders.values():
            sender.invalidate()

    def waiting_ids(self) -> set[str]:
        """The ids of messages in the outbox (written, not sent yet)."""
        return {message.id for message in self._outbox}

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
        # Kept as long as a receiver would still take them (the clock window), for resends
        # the hub asks for; resent on a join only within the shorter resend window.
        self._recent = [m for m in self._recent
                        if now - m.sent_at < CLOCK_WINDOW and m.expires_at > now]
        return [m for m in self._recent if m.id not in skip and m.channel in channels
                and now - m.sent_at < self._resend_window]

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
        opened = self._check_reference(opened)
        if not self.store.add(opened):
            return None
        if opened.kind in SHOWN_KINDS:
            self._settle_waiting(opened)
        return opened

    def _check_reference(self, message: ChatMessage) -> ChatMessage:
        """An edit or reaction checked against what it names (MessageRejected if it may not
        name it); when that has not come, it is kept and waits (checked when it comes)."""
        if message.kind in SHOWN_KINDS:
            return message
        target = self.store.get(message.ref)
        if target is not None:
            return check_against(message, target)
        waiting = self._waiting_for.setdefault(message.ref, [])
        waiting.append(message.id)
        if len(self._waiting_for) > self.store.limits.total:
            # Bounded by what the store keeps: drop whatever expired or was evicted.
            self._waiting_for = {ref: alive for ref, ids in self._waiting_for.items()
                                 if (alive := [i for i in ids if self.store.get(i)])}
        return message

    def _settle_waiting(self, original: ChatMessage) -> None:
        for waiting_id in self._waiting_for.pop(original.id, []):
            waiting = self.store.get(waiting_id)
            if waiting is None:
                continue
            try:
                check_against(waiting, original)
            except MessageRejected as exc:
                self.store.discard(waiting_id)
                self._late_refusals.append((waiting, exc))

    def take_late_refusals(self) -> list[tuple[ChatMessage, MessageRejected]]:
        """Edits or reactions kept while their original was on its way and refused once it
        came (an edit by someone else): each is no longer kept, and is to be reported."""
        refused, self._late_refusals = self._late_refusals, []
        return refused

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
