"""The app's model: everything the render thread knows, kept up to date from the bridge's
notices and the session's events. Pure (no Dear PyGui, no I/O); viewmodel.py turns it into
what to show, and each part's version number tells the views when to redraw it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from gossip.client import events as ev
from gossip.client.lookalike import lookalikes, lookalikes_among
from gossip.client.messages import SHOWN_KINDS, ChatMessage
from gossip.client.state import SessionState
from gossip.crypto.pins import Trust

from . import callpresence
from . import notices as nt
from .callview import CallPeer, CallPhase, CallView
from .formatting import short_fingerprint
from .toasts import ToastBoard
from .wording import connect_failure, device_lost


class Phase(str, Enum):
    IDLE = "idle"  # the connect screen, nothing running
    CONNECTING = "connecting"
    ONLINE = "online"
    RECONNECTING = "reconnecting"
    FAILED = "failed"


@dataclass
class MemberInfo:
    user: str
    fingerprint: str
    trust: Trust
    online: bool = True


@dataclass
class AppModel:
    phase: Phase = Phase.IDLE
    host: str = ""
    port: int = 0
    user: str = ""
    own_fingerprint: str = ""
    hub: str = ""
    hub_fingerprint: str = ""
    attempt: int = 0
    was_online: bool = False  # since the last ConnectToHub: a loss now means reconnecting
    reconnect_reason: str = ""
    reconnect_at: float | None = None
    # Our place in the hub's login line (1: next) and when it expects our turn, while the
    # login waits in it (a reconnect storm); None otherwise.
    login_place: int | None = None
    login_turn_at: float | None = None
    failure: nt.ConnectFailed | None = None
    channels: tuple[str, ...] = ()
    current_channel: str | None = None
    members: dict[str, MemberInfo] = field(default_factory=dict)
    messages: dict[str, ChatMessage] = field(default_factory=dict)
    # Ours, written while reconnecting: in the session's outbox until it is back online.
    waiting: set[str] = field(default_factory=set)
    # Files on their way (by file id, the latest progress; only those the app began, so a
    # late event of one that ended brings no bar back), the channel each upload goes to,
    # and those saved (by message id, path).
    transfers: dict[str, ev.FileProgress] = field(default_factory=dict)
    upload_channels: dict[str, str] = field(default_factory=dict)
    # Pictures shown inline (by message id), or the note saying why one is not.
    pictures: dict[str, nt.PictureReady] = field(default_factory=dict)
    picture_notes: dict[str, str] = field(default_factory=dict)
    saved: dict[str, str] = field(default_factory=dict)
    unread: dict[str, int] = field(default_factory=dict)
    latency: float | None = None
    call: CallView = field(default_factory=CallView)
    toasts: ToastBoard = field(default_factory=ToastBoard)
    safety: nt.SafetyNumberReady | None = None
    safety_pending: str | None = None
    needs_refresh: bool = False
    # Bumped when what a part of the window shows changes, so views rebuild only that part.
    messages_version: int = 0
    members_version: int = 0
    channels_version: int = 0
    status_version: int = 0
    safety_version: int = 0
    call_version: int = 0
    # Who the hub says is in each channel's call (callpresence.py), and how many "call
    # started" notices were shown.
    call_rosters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    call_notices: int = 0

    # -- changes ------------------------------------------------------------------------------
    def apply(self, notice: object, now: float) -> None:
        """Take one notice or session event into the model."""
        handler = _HANDLERS.get(type(notice))
        if handler is not None:
            handler(self, notice, now)

    def select_channel(self, channel: str) -> None:
        if channel in self.channels and channel != self.current_channel:
            self.current_channel = channel
            self.unread[channel] = 0
            self.messages_version += 1
            self.channels_version += 1

    def expire(self, now: float) -> None:
        """Drop messages whose time is up, even before the session says so."""
        due = [mid for mid, m in self.messages.items() if m.expires_at <= now]
        for mid in due:
            del self.messages[mid]
            self.pictures.pop(mid, None)
            self.picture_notes.pop(mid, None)
        if due:
            self.messages_version += 1

    def begin_transfer(self, file_id: str, name: str, direction: str, size: int,
                       channel: str = "") -> None:
        """A file starts up (to `channel`) or down: its bar shows at once, at nothing done."""
        self.transfers[file_id] = ev.FileProgress(file_id, name, direction, 0, size, 0.0)
        if direction == "up":
            self.upload_channels[file_id] = channel
        self.messages_version += 1

    def request_safety(self, user: str) -> None:
        """The safety-number dialog opens for `user` and waits for the number."""
        self.safety, self.safety_pending = None, user
        self.safety_version += 1

    def close_safety(self) -> None:
        self.safety = None
        self.safety_pending = None
        self.safety_version += 1

    def begin_connect(self, host: str, port: int, user: str) -> None:
        self.phase, self.host, self.port, self.user = Phase.CONNECTING, host, port, user
        self.failure, self.was_online, self.attempt = None, False, 1
        self.status_version += 1

    def lookalikes(self, user: str) -> tuple[str, ...]:
        """The other known members (ourselves included) whose names look like `user`'s."""
        return lookalikes(user, self._known_names())

    def all_lookalikes(self) -> dict[str, tuple[str, ...]]:
        """Each known member whose name looks like others', with those others."""
        return lookalikes_among(self._known_names())

    def _known_names(self) -> list[str]:
        return [*self.members, *([self.user] if self.user else [])]

    def set_call(self, view: CallView) -> None:
        """Show `view`; the member list redraws only when who is in the call changed."""
        before = _in_call(self.call)
        self.call = view
        self.call_version += 1
        if _in_call(view) != before:
            self.members_version += 1
        if view.joined and view.channel:  # "a call started in #x, join it": no news once in it
            self.toasts.dismiss_titled(callpresence.call_notice(view.channel, ())[0])

    # -- helpers for the handlers ---------------------------------------------------------
    def _take_state(self, state: SessionState, now: float, *, count_unread: bool) -> None:
        self.hub, self.hub_fingerprint = state.hub, state.hub_fingerprint
        self._set_channels(state.channels)
        online = {m.user for m in state.members}
        for member in state.members:
            self._warn_if_lookalike(member.user, now)
            self.members[member.user] = MemberInfo(member.user, member.fingerprint,
                                                   member.trust, True)
        for user, info in self.members.items():
            if user not in online:
                info.online = False
        for message in state.messages:
            self._add_message(message, count_unread=count_unread)
        if dict(state.call_rosters) != self.call_rosters:
            # After lost notices the calls may have started, changed or ended meanwhile.
            self.call_rosters = dict(state.call_rosters)
            self.channels_version += 1
            self.call_version += 1
        self.members_version += 1
        self.messages_version += 1

    def _set_channels(self, channels: tuple[str, ...]) -> None:
        self.channels = channels
        if self.current_channel not in channels:
            self.current_channel = channels[0] if channels else None
        self.channels_version += 1

    def _add_message(self, message: ChatMessage, *, count_unread: bool) -> None:
        if message.id in self.messages:
            return
        self.messages[message.id] = message
        if message.channel == self.current_channel:
            self.messages_version += 1
        elif count_unread and message.kind in SHOWN_KINDS:  # not an edit or reaction
            self.unread[message.channel] = self.unread.get(message.channel, 0) + 1
            self.channels_version += 1

    def _warn_if_lookalike(self, user: str, now: float) -> None:
        """A member seen for the first time whose name reads like a known one's: a warning that
        stays until dismissed, since who is who cannot be told from the names."""
        if user in self.members or user == self.user:
            return
        similar = self.lookalikes(user)
        if not similar:
            return
        names = ", ".join(f"{other} (you)" if other == self.user else other
                          for other in similar)
        self.toasts.push("lookalike", f"{user} looks like {names}",
                         f"The name {user} is hard to tell apart from {names}. Check "
                         f"{user}'s safety number before trusting who is writing.",
                         now, sticky=True, user=user)

    def _set_trust(self, user: str, trust: Trust, fingerprint: str | None = None) -> None:
        info = self.members.get(user)
        if info is None:
            info = self.members[user] = MemberInfo(user, fingerprint or "", trust, False)
        info.trust = trust
        if fingerprint:
            info.fingerprint = fingerprint
        self.members_version += 1


# -- notice handlers ----------------------------------------------------------------------------

def _connecting(model: AppModel, notice: nt.Connecting, now: float) -> None:
    model.host, model.port, model.user, model.attempt = (notice.host, notice.port, notice.user,
                                                         notice.attempt)
    model.phase = Phase.RECONNECTING if model.was_online else Phase.CONNECTING
    model.reconnect_at = None
    model.login_place = model.login_turn_at = None
    model.status_version += 1


def _online(model: AppModel, notice: nt.Online, now: float) -> None:
    if model.was_online and model.phase is Phase.RECONNECTING:
        model.toasts.push("info", "Reconnected", f"Back online with {notice.state.hub}.", now)
    model.phase, model.was_online, model.failure = Phase.ONLINE, True, None
    if model.waiting:  # the session sends its outbox before it says it is online
        model.waiting.clear()
        model.messages_version += 1
    model.host, model.port, model.user = notice.host, notice.port, notice.user
    model.own_fingerprint = notice.own_fingerprint
    model.reconnect_at, model.reconnect_reason, model.attempt = None, "", 0
    model.login_place = model.login_turn_at = None
    model._take_state(notice.state, now, count_unread=False)
    model.status_version += 1


def _reconnecting(model: AppModel, notice: nt.Reconnecting, now: float) -> None:
    if model.phase is Phase.ONLINE:
        model.toasts.push("error", "Connection lost", f"{notice.reason}. Reconnecting…", now)
    model.phase = Phase.RECONNECTING
    model.reconnect_reason, model.attempt = notice.reason, notice.attempt
    model.reconnect_at = now + notice.delay
    model.login_place = model.login_turn_at = None
    model.latency = None
    for info in model.members.values():
        info.online = False
    model.members_version += 1
    model.status_version += 1


def _failed(model: AppModel, notice: nt.ConnectFailed, now: float) -> None:
    if model.was_online:
        wording = connect_failure(notice, model.user)
        model.toasts.push("error", wording.title, wording.sentence, now)
    model.phase, model.failure = Phase.FAILED, notice
    model.reconnect_at, model.latency = None, None
    model.login_place = model.login_turn_at = None
    for info in model.members.values():
        info.online = False
    model.members_version += 1
    model.status_version += 1


def _offline(model: AppModel, notice: nt.Offline, now: float) -> None:
    fresh = AppModel(toasts=model.toasts, call=model.call)
    fresh.messages_version = model.messages_version + 1
    fresh.members_version = model.members_version + 1
    fresh.channels_version = model.channels_version + 1
    fresh.status_version = model.status_version + 1
    fresh.safety_version = model.safety_version + 1
    fresh.call_version = model.call_version + 1
    model.__dict__.update(fresh.__dict__)


def _in_login_line(model: AppModel, event: ev.InLoginLine, now: float) -> None:
    model.login_place, model.login_turn_at = event.place, now + event.wait
    model.status_version += 1


def _connected(model: AppModel, event: ev.Connected, now: float) -> None:
    model.hub, model.hub_fingerprint = event.hub, event.fingerprint
    model.login_place = model.login_turn_at = None
    if event.first_use:
        model.toasts.push("info", f"New hub: {event.hub}",
                          f"First connection; its certificate "
                          f"{short_fingerprint(event.fingerprint)} is now pinned.", now)
    model.status_version += 1


def _member_joined(model: AppModel, event: ev.MemberJoined, now: float) -> None:
    known = model.members.get(event.user)
    model._warn_if_lookalike(event.user, now)
    model._set_trust(event.user, event.trust, event.fingerprint)
    model.members[event.user].online = True
    if model.phase is Phase.ONLINE and event.user != model.user and not (known and known.online):
        model.toasts.push("join", f"{event.user} joined", f"{event.user} is online.", now)


def _member_left(model: AppModel, event: ev.MemberLeft, now: float) -> None:
    info = model.members.get(event.user)
    if info is not None and info.online:
        info.online = False
        model.members_version += 1
        if model.phase is Phase.ONLINE:
            model.toasts.push("leave", f"{event.user} left", f"{event.user} went offline.", now)


def _key_changed(model: AppModel, event: ev.KeyChanged, now: float) -> None:
    model._set_trust(event.user, Trust.CHANGED, event.offered)
    model.toasts.push("key_changed", f"{event.user}'s key changed",
                      f"The hub now hands out a different key for {event.user}. Their messages "
                      "are unverified until you compare safety numbers and accept it.",
                      now, sticky=True, user=event.user)


def _channels_changed(model: AppModel, event: ev.ChannelsChanged, now: float) -> None:
    model._set_channels(event.channels)


def _message_received(model: AppModel, event: ev.MessageReceived, now: float) -> None:
    model._add_message(event.message, count_unread=True)


def _message_discarded(model: AppModel, event: ev.MessageDiscarded, now: float) -> None:
    model.toasts.push("error", "Message rejected",
                      f"A message from {event.sender or 'an unknown sender'} in "
                      f"#{event.channel} failed its checks ({event.reason.replace('_', ' ')}) "
                      "and was not shown.", now)


def _own_key_forged(model: AppModel, event: ev.OwnKeyForged, now: float) -> None:
    model.toasts.push("error", "The hub handed out a false key under your name",
                      f"It offered {short_fingerprint(event.offered)} as {event.user}'s key; "
                      f"yours is {short_fingerprint(event.ours)}. It was refused and nothing "
                      "is sealed to it. The hub is lying or compromised: tell its operator.",
                      now, sticky=True, user=event.user)


def _messages_missing(model: AppModel, event: ev.MessagesMissing, now: float) -> None:
    if event.count > 0:
        plural = "message" if event.count == 1 else "messages"
        model.toasts.push("error", f"{event.count} {plural} did not arrive",
                          f"{event.count} {plural} from {event.sender} in #{event.channel} "
                          "did not arrive (dropped on the way, or still coming).", now)


def _hub_reported_missed(model: AppModel, event: ev.HubReportedMissed, now: float) -> None:
    plural = "message" if event.count == 1 else "messages"
    model.toasts.push("info", f"{event.count} {plural} missed",
                      f"While you were away or behind, {event.count} {plural} from "
                      f"{event.sender} in #{event.channel} did not reach you; they were asked "
                      "to send again what they still have.", now)


def _message_delayed(model: AppModel, event: ev.MessageDelayed, now: float) -> None:
    model.toasts.push("info", "Sending slowly",
                      f"The hub asked us to slow down in #{event.channel} "
                      f"({event.code.replace('_', ' ')}); your message goes out again in "
                      f"{event.retry_in:.0f} s by itself.", now)


def _message_not_sent(model: AppModel, event: ev.MessageNotSent, now: float) -> None:
    model.toasts.push("error", "Message not sent",
                      f"The hub refused a message of yours in #{event.channel}: "
                      f"{event.reason or event.code.replace('_', ' ')}. Nobody received it.",
                      now, sticky=True)


def _roster_changed(model: AppModel, event: ev.RosterChanged, now: float) -> None:
    names = ", ".join(member.user for member in event.members)
    model.toasts.push("info", f"#{event.channel}: members changed",
                      f"Private channel #{event.channel} (owner {event.owner}): {names}."
                      + ("" if event.member else " You are not a member."), now)


def _roster_alarm(model: AppModel, event: ev.RosterAlarm, now: float) -> None:
    model.toasts.push("error", f"#{event.channel}: the hub tampered with the roster",
                      f"{event.kind}: {event.detail}. Nothing is sent in #{event.channel} "
                      "until this is resolved.", now, sticky=True, user=f"#{event.channel}")


def _message_expired(model: AppModel, event: ev.MessageExpired, now: float) -> None:
    if model.messages.pop(event.id, None) is not None:
        model.messages_version += 1


def _hub_error(model: AppModel, event: ev.HubError, now: float) -> None:
    model.toasts.push("error", "The hub refused", event.reason, now)


def _message_sent(model: AppModel, notice: nt.MessageSent, now: float) -> None:
    if model.phase is not Phase.ONLINE:
        model.waiting.add(notice.message.id)
    model._add_message(notice.message, count_unread=False)


def _file_progress(model: AppModel, event: ev.FileProgress, now: float) -> None:
    if event.file_id in model.transfers:
        model.transfers[event.file_id] = event
        model.messages_version += 1


def _picture_ready(model: AppModel, notice: nt.PictureReady, now: float) -> None:
    if notice.message_id in model.messages:
        model.pictures[notice.message_id] = notice
        model.picture_notes.pop(notice.message_id, None)
        model.messages_version += 1


def _picture_refused(model: AppModel, notice: nt.PictureRefused, now: float) -> None:
    if notice.message_id in model.messages:
        model.picture_notes[notice.message_id] = notice.reason
        model.messages_version += 1


def _transfer_ended(model: AppModel, notice: nt.TransferEnded, now: float) -> None:
    progress = model.transfers.pop(notice.file_id, None)
    model.upload_channels.pop(notice.file_id, None)
    if progress is not None:
        model.messages_version += 1
        if notice.cancelled:
            up = progress.direction == "up"
            model.toasts.push("info", f"{'Sending' if up else 'Saving'} {progress.name} "
                              "cancelled", "nothing was posted; the hub drops what it got "
                              "when it expires" if up else "nothing partial was kept", now)


def _file_saved(model: AppModel, notice: nt.FileSaved, now: float) -> None:
    model.saved[notice.message_id] = notice.path
    model.messages_version += 1


def _command_failed(model: AppModel, notice: nt.CommandFailed, now: float) -> None:
    if notice.what == "safety number" and model.safety_pending is not None:
        model.safety_pending = None
        model.safety_version += 1
    model.toasts.push("error", f"Could not {notice.what}", notice.reason, now)


def _state_refreshed(model: AppModel, notice: nt.StateRefreshed, now: float) -> None:
    model.needs_refresh = False
    model._take_state(notice.state, now, count_unread=True)


def _latency(model: AppModel, notice: nt.LatencyMeasured, now: float) -> None:
    model.latency = notice.seconds
    model.status_version += 1


def _safety_ready(model: AppModel, notice: nt.SafetyNumberReady, now: float) -> None:
    if model.safety_pending == notice.user or (model.safety and model.safety.user == notice.user):
        model.safety, model.safety_pending = notice, None
        model.safety_version += 1


def _trust_updated(model: AppModel, notice: nt.TrustUpdated, now: float) -> None:
    model._set_trust(notice.user, notice.trust)
    if notice.trust is not Trust.CHANGED:
        model.toasts.dismiss_about(notice.user, "key_changed")
    word = "verified" if notice.trust is Trust.VERIFIED else "accepted and pinned"
    model.toasts.push("info", f"{notice.user}'s key {word}", "", now)
    if model.safety is not None and model.safety.user == notice.user:
        s = model.safety
        model.safety = nt.SafetyNumberReady(s.user, s.number, s.their_fingerprint,
                                            s.own_fingerprint, notice.trust)
        model.safety_version += 1


def _in_call(view: CallView) -> tuple[str, ...] | None:
    return tuple(peer.user for peer in view.participants) if view.joined else None


def _call_changed(model: AppModel, notice: nt.CallChanged, now: float) -> None:
    model.set_call(notice.view)


# The session's call events arrive at once; the call side's next CallChanged (a fraction of a
# second later) confirms them and adds levels. Events for a call we are not in are old news.

def _our_call(model: AppModel, channel: str) -> bool:
    return model.call.channel == channel and model.call.phase is not CallPhase.IDLE


def _call_members(model: AppModel, event: ev.CallMembersChanged, now: float) -> None:
    if not _our_call(model, event.channel):
        return
    known = {peer.user: peer for peer in model.call.participants}
    peers = tuple(known.get(user) or CallPeer(user)
                  for user in sorted(set(event.users) - {model.user}))
    phase = CallPhase.IN_CALL if model.call.phase is CallPhase.JOINING else model.call.phase
    model.set_call(replace(model.call, participants=peers, phase=phase))


def _set_link(model: AppModel, user: str, *, connected: bool, failed: bool) -> None:
    peers = tuple(replace(peer, connected=connected, failed=failed) if peer.user == user
                  else peer for peer in model.call.participants)
    model.set_call(replace(model.call, participants=peers))


def _set_call_trust(model: AppModel, user: str, trust: Trust) -> None:
    peers = tuple(replace(peer, trust=trust) if peer.user == user else peer
                  for peer in model.call.participants)
    model.set_call(replace(model.call, participants=peers))


def _call_peer_connected(model: AppModel, event: ev.CallPeerConnected, now: float) -> None:
    if _our_call(model, event.channel) and model.call.peer(event.user) is not None:
        _set_link(model, event.user, connected=True, failed=False)
        _set_call_trust(model, event.user, event.trust)


def _call_peer_unknown(model: AppModel, event: ev.CallPeerUnknown, now: float) -> None:
    if not _our_call(model, event.channel):
        return
    if model.call.peer(event.user) is not None:
        _set_call_trust(model, event.user, Trust.NEW)
    model.toasts.push("key_changed", f"Unverified newcomer in the call: {event.user}",
                      f"This is the first time you meet {event.user}'s key "
                      f"({short_fingerprint(event.fingerprint)}); nothing vouches for who "
                      f"holds it. They hear you. Compare safety numbers before trusting them.",
                      now, sticky=True, user=event.user)


def _call_peer_key_changed(model: AppModel, event: ev.CallPeerKeyChanged, now: float) -> None:
    if not _our_call(model, event.channel):
        return
    if model.call.peer(event.user) is not None:
        _set_call_trust(model, event.user, Trust.CHANGED)
    model.toasts.push("error", f"Not calling {event.user}: key changed",
                      f"The hub hands out another key for {event.user} "
                      f"({short_fingerprint(event.fingerprint)}) than the one you know. "
                      f"Nothing of the call is sent to it until you accept it.",
                      now, sticky=True, user=event.user)


def _call_peer_not_member(model: AppModel, event: ev.CallPeerNotMember, now: float) -> None:
    if not _our_call(model, event.channel):
        return
    if model.call.peer(event.user) is not None:
        _set_link(model, event.user, connected=False, failed=True)
    model.toasts.push("error", f"Not calling {event.user}: not in #{event.channel}'s roster",
                      f"The hub put {event.user} ({short_fingerprint(event.fingerprint)}) in "
                      f"the call, but the channel's verified roster does not name them. "
                      f"Nothing of the call is sent to them.",
                      now, sticky=True, user=event.user)


def _call_speaking(model: AppModel, event: ev.CallSpeaking, now: float) -> None:
    """Shown at once, not at the call side's next state poll (a word is often shorter)."""
    if not _our_call(model, event.channel):
        return
    if event.user == model.user:
        model.set_call(replace(model.call, own_speaking=event.speaking))
        return
    peers = tuple(replace(peer, speaking=event.speaking) if peer.user == event.user else peer
                  for peer in model.call.participants)
    model.set_call(replace(model.call, participants=peers))


def _call_peer_left(model: AppModel, event: ev.CallPeerLeft, now: float) -> None:
    if _our_call(model, event.channel):
        model.set_call(replace(model.call, participants=tuple(
            peer for peer in model.call.participants if peer.user != event.user)))


def _call_peer_failed(model: AppModel, event: ev.CallPeerFailed, now: float) -> None:
    if not _our_call(model, event.channel):
        return
    if model.call.peer(event.user) is not None:
        _set_link(model, event.user, connected=False, failed=True)
    model.toasts.push("error", f"No audio link to {event.user}",
                      f"Gave up connecting to {event.user} after several tries "
                      f"({event.reason}). The rest of the call goes on.", now)


def _set_undecryptable(model: AppModel, user: str, undecryptable: bool) -> None:
    peers = tuple(replace(peer, undecryptable=undecryptable) if peer.user == user else peer
                  for peer in model.call.participants)
    model.set_call(replace(model.call, participants=peers))


def _call_peer_undecryptable(model: AppModel, event: ev.CallPeerUndecryptable,
                             now: float) -> None:
    if _our_call(model, event.channel):
        _set_undecryptable(model, event.user, True)  # at once; the call's next poll agrees
        model.toasts.push("error", f"Cannot hear {event.user}",
                          f"What {event.user} sends does not open with the keys they gave us "
                          f"({event.reason.replace('_', ' ')}), so it is not played. They may "
                          "run an older Gossip; ask them to update, or to leave and rejoin.",
                          now)


def _call_peer_decryptable(model: AppModel, event: ev.CallPeerDecryptable, now: float) -> None:
    if _our_call(model, event.channel):
        _set_undecryptable(model, event.user, False)
        model.toasts.push("info", f"{event.user} is heard again",
                          f"What {event.user} sends opens again.", now)


def _call_device_lost(model: AppModel, event: ev.CallDeviceLost, now: float) -> None:
    if _our_call(model, event.channel):
        title, body = device_lost(event.kind, event.device, event.problem)
        model.toasts.push("error" if event.problem else "info", title, body, now)


def _call_relay_failed(model: AppModel, event: ev.CallRelayFailed, now: float) -> None:
    if _our_call(model, event.channel):
        model.toasts.push("error", "The call's relay cannot be used",
                          f"{event.reason[:200]}. A call small enough goes back to direct "
                          "links; a larger one keeps trying. Tell the hub's operator if it "
                          "lasts.", now)


def _call_signal_rejected(model: AppModel, event: ev.CallSignalRejected, now: float) -> None:
    if _our_call(model, event.channel):
        model.toasts.push("error", f"Call signal from {event.user} rejected",
                          f"A call setup message said to be from {event.user} failed its "
                          f"checks ({event.reason.replace('_', ' ')}) and was ignored.", now)


def _call_refused(model: AppModel, event: ev.CallRefused, now: float) -> None:
    model.toasts.push("error", "Could not join the call", event.reason, now)
    if _our_call(model, event.channel):
        model.set_call(model.call.left())


def _call_left(model: AppModel, event: ev.CallLeft, now: float) -> None:
    if _our_call(model, event.channel):
        model.set_call(model.call.left())


def _call_roster(model: AppModel, event: ev.CallStarted | ev.CallRosterChanged,
                 now: float) -> None:
    model.call_rosters[event.channel] = event.users
    model.channels_version += 1
    model.call_version += 1


def _call_started(model: AppModel, event: ev.CallStarted, now: float) -> None:
    _call_roster(model, event, now)
    ours = model.call.channel == event.channel or model.user in event.users
    if model.phase is Phase.ONLINE and not ours:
        model.toasts.push("info", *callpresence.call_notice(event.channel, event.users), now)
        model.call_notices += 1


def _call_ended(model: AppModel, event: ev.CallEnded, now: float) -> None:
    if model.call_rosters.pop(event.channel, None) is not None:
        model.channels_version += 1
        model.call_version += 1


def _notices_lost(model: AppModel, notice: nt.NoticesLost, now: float) -> None:
    model.needs_refresh = True


_HANDLERS: dict[type, Callable[[AppModel, Any, float], None]] = {
    nt.Connecting: _connecting, nt.Online: _online, nt.Reconnecting: _reconnecting,
    nt.ConnectFailed: _failed, nt.Offline: _offline, ev.Connected: _connected,
    ev.InLoginLine: _in_login_line,
    ev.MemberJoined: _member_joined, ev.MemberLeft: _member_left, ev.KeyChanged: _key_changed,
    ev.ChannelsChanged: _channels_changed, ev.MessageReceived: _message_received,
    ev.MessageDiscarded: _message_discarded, ev.MessageExpired: _message_expired,
    ev.HubError: _hub_error, nt.MessageSent: _message_sent, nt.CommandFailed: _command_failed,
    nt.StateRefreshed: _state_refreshed, nt.LatencyMeasured: _latency,
    nt.SafetyNumberReady: _safety_ready, nt.TrustUpdated: _trust_updated,
    nt.CallChanged: _call_changed, nt.NoticesLost: _notices_lost,
    ev.CallMembersChanged: _call_members,
    ev.CallPeerConnected: _call_peer_connected, ev.CallPeerLeft: _call_peer_left,
    ev.CallPeerUnknown: _call_peer_unknown, ev.CallPeerKeyChanged: _call_peer_key_changed,
    ev.CallPeerNotMember: _call_peer_not_member,
    ev.CallPeerFailed: _call_peer_failed, ev.CallSignalRejected: _call_signal_rejected,
    ev.CallRefused: _call_refused, ev.CallLeft: _call_left, ev.CallSpeaking: _call_speaking,
    ev.CallPeerUndecryptable: _call_peer_undecryptable,
    ev.CallPeerDecryptable: _call_peer_decryptable, ev.CallRelayFailed: _call_relay_failed,
    ev.CallDeviceLost: _call_device_lost,
    ev.OwnKeyForged: _own_key_forged, ev.MessagesMissing: _messages_missing,
    ev.HubReportedMissed: _hub_reported_missed, ev.MessageDelayed: _message_delayed,
    ev.MessageNotSent: _message_not_sent, ev.RosterChanged: _roster_changed,
    ev.RosterAlarm: _roster_alarm,
    ev.CallStarted: _call_started, ev.CallRosterChanged: _call_roster, ev.CallEnded: _call_ended,
    ev.FileProgress: _file_progress, nt.FileSaved: _file_saved,
    nt.TransferEnded: _transfer_ended,
    nt.PictureReady: _picture_ready, nt.PictureRefused: _picture_refused,
}
