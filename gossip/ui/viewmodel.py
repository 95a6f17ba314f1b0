"""What to show for a given model: channel, member and message rows, the status line, the
call panel and the safety-number dialog. Pure functions of the model and the time; the views
only copy these values into widgets and map each `kind` to a colour of the theme."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from gossip.client import events as ev
from gossip.client.filesend import describe_size
from gossip.client.messages import MAX_TEXT_CHARS, ChatMessage
from gossip.client.related import fold
from gossip.crypto.pins import Trust

from . import callpresence, devicechoice
from . import formatting as fmt
from . import notices as nt
from .callview import CallPeer, CallPhase, CallView
from .gridlayout import initials
from .links import find_links, shown_text
from .model import AppModel, Phase

EXPIRY_CHOICES: tuple[tuple[str, float], ...] = (
    ("30 seconds", 30.0), ("5 minutes", 300.0), ("1 hour", 3600.0), ("1 day", 86400.0),
    ("1 week", 604800.0),
)
URGENT_SECONDS = 60.0
# Messages from one sender this close together read as one block under one header.
CONTINUATION_SECONDS = 300.0
NAME_COLOURS = 8
LEVEL_FLOOR_DBFS = -60.0

BADGES: dict[Trust, tuple[str, str]] = {
    Trust.NEW: ("new", "first seen now; compare safety numbers to verify"),
    Trust.PINNED: ("pinned", "same key as before; not verified in person"),
    Trust.VERIFIED: ("✓ verified", "you compared safety numbers"),
    Trust.CHANGED: ("⚠ changed", "a different key than the pinned one: check it"),
}


@dataclass(frozen=True)
class ChannelRow:
    name: str
    label: str
    selected: bool
    unread: int


@dataclass(frozen=True)
class MemberRow:
    user: str
    label: str
    online: bool
    in_call: bool
    is_self: bool
    badge: str
    badge_kind: str  # a Trust value, or "self"
    tooltip: str
    looks_like: tuple[str, ...] = ()  # other members whose names read the same: a warning


@dataclass(frozen=True)
class FileRow:
    """A file message's attachment: what it is, and what can be done with it now."""

    label: str  # name · size
    state: str  # "save" (a Save button), "moving" (a progress bar), "saved", "own"
    fraction: float = 0.0
    detail: str = ""  # bytes, speed and time left while moving, the path once saved
    file_id: str = ""  # what Cancel stops while it moves
    picture: nt.PictureReady | None = None  # shown inline under the line
    picture_note: str = ""  # why a picture is not shown


@dataclass(frozen=True)
class UploadRow:
    """A file of ours on its way up to the current channel (no message yet: it is posted
    once every chunk is on the hub)."""

    file_id: str
    label: str  # "Sending name · size"
    fraction: float
    detail: str


@dataclass(frozen=True)
class MessageRow:
    id: str
    sender: str
    text: str
    time: str
    mark: str
    mark_kind: str  # "verified", "unverified" or "own"
    mark_tooltip: str
    countdown: str
    urgent: bool
    continued: bool  # same sender as the row above, shortly after: no header
    name_colour: int
    expires_at: float
    # What can be done with it, and what names it (client/related.py folds them in).
    edited: bool = False
    quote: str = ""  # for a reply: "sender: first words" of what it answers
    reactions: tuple[tuple[str, int], ...] = ()  # (emoji, members), most first
    my_reaction: str = ""
    links: tuple[str, ...] = ()  # the addresses it opens, as shown in `text`
    mine: bool = False  # ours, so we may edit it
    file: FileRow | None = None


@dataclass(frozen=True)
class StatusLine:
    state: str
    state_kind: str  # a Phase value
    hub: str
    latency: str
    security: str
    can_retry: bool = False  # counting down to the next attempt: "Retry now" is offered


@dataclass(frozen=True)
class PeerRow:
    user: str
    level: float  # 0..1 for a meter
    level_text: str
    volume: float
    connected: bool
    link: str  # what the link is doing, in words
    link_kind: str  # "ok", "waiting" or "failed": the colour of its dot
    # Who they are, apart from the link: a badge as in the member list (a Trust value as
    # its kind; "" when not known yet) and what it means in this call.
    identity: str = ""
    identity_kind: str = ""
    identity_tip: str = ""


@dataclass(frozen=True)
class CallPanelContent:
    title: str
    status: str
    available: bool
    join_label: str
    can_join: bool
    controls_enabled: bool  # the sliders: only in a call
    switches_enabled: bool  # mute and deafen: also a choice for the next call
    muted: bool
    deafened: bool
    peers: tuple[PeerRow, ...]
    own_level: float
    own_level_text: str
    input_choices: tuple[str, ...]
    output_choices: tuple[str, ...]
    input_device: str
    output_device: str
    devices_enabled: bool
    devices_note: str
    camera_on: bool = False
    camera_enabled: bool = False  # there is a video source to turn on
    camera_tooltip: str = ""

    @property
    def layout(self) -> tuple[tuple[str, str, str], ...]:
        """What the peer rows are made of; levels and volumes change within a layout."""
        return tuple((peer.user, peer.link_kind, peer.identity_kind) for peer in self.peers)


@dataclass(frozen=True)
class SafetyDialogContent:
    title: str
    user: str
    computing: bool
    number_lines: tuple[str, ...]
    their_fingerprint: str
    own_fingerprint: str
    explanation: str
    can_verify: bool
    can_accept: bool
    trust: Trust | None


@dataclass(frozen=True)
class Composer:
    enabled: bool
    hint: str


def name_colour(user: str) -> int:
    """A stable colour slot per user name, the same on every machine."""
    return hashlib.sha256(user.encode("utf-8")).digest()[0] % NAME_COLOURS


def channel_rows(model: AppModel) -> list[ChannelRow]:
    rows = []
    for name in model.channels:
        unread = model.unread.get(name, 0) if name != model.current_channel else 0
        mark = callpresence.channel_mark(model.call_rosters, name)
        rows.append(ChannelRow(name, f"# {name}{mark}", name == model.current_channel, unread))
    return rows


def member_rows(model: AppModel) -> list[MemberRow]:
    """You first, then who is online, then who was seen and left; alphabetical within."""
    rows = []
    lookalikes = model.all_lookalikes()
    for info in sorted(model.members.values(),
                       key=lambda m: (m.user != model.user, not m.online, m.user.lower())):
        is_self = info.user == model.user
        if is_self:
            badge, kind, tip = "you", "self", "your own key"
        else:
            badge, tip = BADGES[info.trust]
            kind = info.trust.value
        presence = "online" if info.online else "offline"
        in_call = model.call.in_call(info.user) or (is_self and model.call.joined)
        tooltip = (f"{info.user}: {presence}{', in the call' if in_call else ''}\n"
                   f"key {fmt.grouped_fingerprint(info.fingerprint)}\n{tip}")
        # Our own name needs no warning: we know who we are; the other member's row has it.
        similar = () if is_self else lookalikes.get(info.user, ())
        label = info.user
        if similar:
            names = ", ".join(_named(model, other) for other in similar)
            label = f"{info.user} ⚠ looks like {names}"
            tooltip += (f"\n⚠ the name looks like {names}: compare safety numbers to know "
                        "who is who")
        rows.append(MemberRow(info.user, label, info.online, in_call, is_self, badge, kind,
                              tooltip, similar))
    return rows


def _named(model: AppModel, user: str) -> str:
    return f"{user} (you)" if user == model.user else user


QUOTE_CHARS = 80

# A message's text as shown and the links it opens, by message id, with the text they were
# found in: finding links is most of a redraw's cost, and a text changes only by an edit.
LinkMemo = dict[str, tuple[str, str, tuple[str, ...]]]


def _with_links(message_id: str, text: str, memo: LinkMemo) -> tuple[str, tuple[str, ...]]:
    known = memo.get(message_id)
    if known is not None and known[0] == text:
        return known[1], known[2]
    links = find_links(text)
    found = shown_text(text, links), tuple(link.target for link in links)
    memo[message_id] = (text, *found)
    return found


def message_rows(model: AppModel, now: float, search: str = "",
                 memo: LinkMemo | None = None) -> list[MessageRow]:
    """The current channel's live messages, oldest first, with their edits, reactions and
    quotes applied; with `search`, only those whose text or sender holds it (any case).
    `memo` keeps what links were found across calls (only for the messages shown: nothing
    outlives its message)."""
    live = [m for m in model.messages.values()
            if m.channel == model.current_channel and m.expires_at > now]
    links_of: LinkMemo = {} if memo is None else memo
    if memo is not None:
        alive = {m.id for m in live}
        for gone in [key for key in memo if key not in alive]:
            del memo[gone]
    needle = search.strip().casefold()
    rows: list[MessageRow] = []
    previous = None
    for shown in fold(live, model.user):
        message = shown.message
        if needle and needle not in shown.text.casefold() \
                and needle not in message.sender.casefold():
            continue
        own = message.sender == model.user
        if own and message.id in model.waiting:
            mark, kind, tip = "◷ waiting", "own", "written while reconnecting: goes out once back"
        elif own:
            mark, kind, tip = "", "own", "sent by you"
        elif message.verified:
            mark, kind = "✓", "verified"
            tip = f"signature checked against {message.sender}'s {message.trust.value} key"
        else:
            mark, kind = "⚠ unverified", "unverified"
            tip = (f"{message.sender}'s key changed: this message was signed by a key you "
                   "have not accepted")
        continued = (previous is not None and previous.sender == message.sender
                     and message.sent_at - previous.sent_at < CONTINUATION_SECONDS
                     and previous.verified == message.verified)
        left = message.expires_at - now
        text, links = _with_links(message.id, shown.text, links_of)
        quote = ""
        if shown.quoted is not None:
            # Links in a quote read as where they go, like in the message itself.
            quoted, _ = _with_links(shown.quoted.id, shown.quoted_text, links_of)
            first = " ".join(quoted.split())
            quote = f"{shown.quoted.sender}: " + (
                first if len(first) <= QUOTE_CHARS else first[:QUOTE_CHARS - 1] + "…")
        elif message.ref:
            quote = "a message you do not have (expired, or sent before you came)"
        rows.append(MessageRow(message.id, message.sender, text,
                               fmt.clock_time(message.sent_at), mark, kind, tip,
                               fmt.countdown(left), left < URGENT_SECONDS, continued,
                               name_colour(message.sender), message.expires_at,
                               shown.edited, quote, shown.reactions, shown.my_reaction,
                               links, own, file_row(model, message, own)))
        previous = message
    return rows


def status_line(model: AppModel, now: float) -> StatusLine:
    where = f"{model.host}:{model.port}" if model.host else ""
    hub = f"{model.hub} ({where})" if model.hub else where
    can_retry = False
    if model.login_place is not None and model.phase in (Phase.CONNECTING,
                                                          Phase.RECONNECTING):
        # The hub is taking logins in turn (a reconnect storm): say where we stand.
        left = max(0, int((model.login_turn_at or now) - now + 0.999))
        state = (f"In the hub's login line: number {model.login_place}, about {left} s")
    elif model.phase is Phase.ONLINE:
        state = "Online"
    elif model.phase is Phase.CONNECTING:
        state = "Connecting…"
    elif model.phase is Phase.RECONNECTING:
        if model.reconnect_at is not None and model.reconnect_at > now:
            state = (f"Reconnecting in {int(model.reconnect_at - now + 0.999)} s "
                     f"(attempt {model.attempt})")
            can_retry = True
        else:
            state = f"Reconnecting… (attempt {max(model.attempt, 1)})"
    elif model.phase is Phase.FAILED:
        state = "Disconnected"
    else:
        state = "Not connected"
    security = (f"hub key {fmt.short_fingerprint(model.hub_fingerprint)}"
                if model.hub_fingerprint else "")
    latency = f"latency {fmt.latency(model.latency)}" if model.phase is Phase.ONLINE else ""
    return StatusLine(state, model.phase.value, hub, latency, security, can_retry)


def composer(model: AppModel) -> Composer:
    if model.phase is Phase.RECONNECTING and model.current_channel in model.channels:
        return Composer(True, f"Reconnecting: what you write to #{model.current_channel} "
                              "waits and goes out once back")
    if model.phase is not Phase.ONLINE:
        return Composer(False, "Offline: sending resumes once reconnected")
    if model.current_channel is None:
        return Composer(False, "This hub has no channels")
    return Composer(True, f"Message #{model.current_channel}")


def check_outgoing(model: AppModel, text: str) -> str | None:
    """Why `text` cannot be sent now (None: it can). Empty text is simply not sent."""
    if model.phase not in (Phase.ONLINE, Phase.RECONNECTING):
        return "not connected to the hub"
    if model.current_channel not in model.channels:
        return "no channel selected"
    if len(text) > MAX_TEXT_CHARS:
        return f"the message is longer than {MAX_TEXT_CHARS} characters"
    return None


def level_fraction(dbfs: float) -> float:
    return min(1.0, max(0.0, (dbfs - LEVEL_FLOOR_DBFS) / -LEVEL_FLOOR_DBFS))


DEFAULT_DEVICE = devicechoice.DEFAULT_DEVICE


def _call_status(model: AppModel) -> tuple[str, bool]:
    """The panel's status line, and whether the join/leave button can be pressed."""
    call = model.call
    if not call.available:
        return call.unavailable_reason, False
    if call.phase is CallPhase.LEAVING:
        return f"Leaving the call in #{call.channel}…", False
    if call.phase is CallPhase.JOINING:
        return f"Joining the call in #{call.channel}…", True
    if call.phase is CallPhase.IN_CALL:
        others = len(call.participants)
        if not others:
            return f"In the call in #{call.channel}. Nobody else yet.", True
        linked = sum(1 for p in call.participants if p.connected)
        people = "1 other" if others == 1 else f"{others} others"
        return f"In the call in #{call.channel} with {people} ({linked} connected).", True
    if model.phase is not Phase.ONLINE:
        return "Calls need a connection to the hub.", False
    if model.current_channel is None:
        return "This hub has no channels to call in.", False
    seen = callpresence.panel_line(model.call_rosters, model.current_channel, model.user)
    if seen is not None:
        return seen, True
    return f"Not in a call. Join to talk in #{model.current_channel}.", True


# What each identity trust means for someone in the call (the link's state is shown apart).
CALL_TRUST_TIPS: dict[Trust, str] = {
    Trust.NEW: "UNVERIFIED NEWCOMER: first time you meet this key (the hub may have made it "
               "up). They hear you. Compare safety numbers before trusting them.",
    Trust.PINNED: "the key you met before; not verified in person",
    Trust.VERIFIED: "you compared safety numbers for this key",
    Trust.CHANGED: "KEY CHANGED and not accepted: nothing of the call is sent to it",
}


def peer_row(peer: CallPeer, trust: Trust | None = None) -> PeerRow:
    """A peer of the call: the link as the call reports it, and who they are as the call's
    own trust says (else the member list's)."""
    trust = peer.trust or trust
    if peer.failed:
        link, kind = "no audio link", "failed"
    elif peer.undecryptable:
        link, kind = "cannot decrypt: not played", "failed"
    elif trust is Trust.CHANGED and not peer.connected:
        # The session hands the call no key it has not accepted, so no link can form.
        link, kind = "key changed: check it first", "failed"
    elif peer.connected:
        link, kind = "connected", "ok"
    else:
        link, kind = "connecting…", "waiting"
    audible = peer.connected and peer.level_dbfs > LEVEL_FLOOR_DBFS
    level = f"{peer.level_dbfs:.0f} dBFS" if audible else "silent" if peer.connected else ""
    if peer.connected and peer.speaking:
        level = f"speaking · {level}"
    if peer.connected and peer.muted:
        # Their word; what we hear of them stays beside it (a client may say so and talk).
        level = f"muted · {level}" if audible else "muted"
    return PeerRow(peer.user, level_fraction(peer.level_dbfs) if peer.connected else 0.0,
                   level, peer.volume, peer.connected, link, kind,
                   BADGES[trust][0] if trust is not None else "",
                   trust.value if trust is not None else "",
                   CALL_TRUST_TIPS[trust] if trust is not None else "")


def _trust(model: AppModel, user: str) -> Trust | None:
    info = model.members.get(user)
    return info.trust if info is not None else None


# The transmit modes (settings' `transmit`) as the call panel names them.
TRANSMIT_WORDS = {"continuous": "sending continuously", "voice": "voice activation",
                  "ptt": "push-to-talk"}


def call_panel(model: AppModel) -> CallPanelContent:
    call: CallView = model.call
    channel = call.channel or model.current_channel or ""
    status, can_join = _call_status(model)
    if call.deafened:
        own_text = "deafened (and muted)"
    elif call.muted:
        own_text = "muted"
    elif call.joined:
        own_text = TRANSMIT_WORDS.get(call.transmit, call.transmit)
        if call.transmit == "ptt" and call.talk_key_held:
            own_text += " (key held)"
        if call.own_speaking:
            own_text = f"speaking · {own_text}"
    else:
        own_text = ""
    quiet = call.muted or call.deafened or not call.joined
    return CallPanelContent(
        title=f"Voice · #{channel}" if channel else "Voice",
        status=status, available=call.available,
        join_label="Leaving…" if call.phase is CallPhase.LEAVING
        else "Leave call" if call.joined else "Join call",
        can_join=can_join, controls_enabled=call.available and call.joined,
        switches_enabled=call.available, muted=call.muted, deafened=call.deafened,
        peers=tuple(peer_row(p, _trust(model, p.user)) for p in call.participants)
        if call.joined else (),
        own_level=0.0 if quiet else level_fraction(call.own_level_dbfs),
        own_level_text=own_text,
        input_choices=devicechoice.device_choices(call.input_devices, call.input_device),
        output_choices=devicechoice.device_choices(call.output_devices, call.output_device),
        input_device=devicechoice.device_label(call.input_device),
        output_device=devicechoice.device_label(call.output_device),
        devices_enabled=call.available and bool(call.input_devices or call.output_devices),
        devices_note=call.devices_note, camera_on=call.video_on,
        camera_enabled=call.available and call.video_source != "none",
        camera_tooltip=camera_tooltip(call))


def camera_tooltip(call: CallView) -> str:
    if call.video_source == "none":
        return "No camera here: pick a video source in Settings (Ctrl+,)"
    what = "your screen" if call.video_source == "screen" else \
        "a test pattern" if call.video_source == "pattern" else \
        "a video file" if call.video_source.startswith("file:") else "your camera"
    state = "on" if call.video_on else "off"
    return f"Video from {what}: {state} (Ctrl+E)"


SPEAKING_DBFS = -40.0  # louder than this, a participant's tile is outlined


@dataclass(frozen=True)
class VideoTile:
    """One participant's place in the video grid."""

    user: str
    label: str  # the name plate
    is_self: bool
    speaking: bool
    initials: str
    name_colour: int
    camera_off: bool = False  # they said so: their initials, not their (black) picture


def video_tiles(model: AppModel) -> tuple[VideoTile, ...]:
    """Ourselves first (the self-view), then everyone else in the call; () out of a call."""
    call = model.call
    if not call.joined or not model.user:
        return ()
    own_speaking = not (call.muted or call.deafened) and call.own_level_dbfs > SPEAKING_DBFS
    plate = model.user if model.user == "you" else f"{model.user} (you)"
    tiles = [VideoTile(model.user, plate + (" · muted" if call.muted else ""), True,
                       own_speaking, initials(model.user), name_colour(model.user))]
    for peer in call.participants:
        if peer.failed:
            plate = f"{peer.user} · no link"
        elif peer.undecryptable:
            plate = f"{peer.user} · cannot decrypt"
        elif peer.trust is Trust.CHANGED:
            plate = f"{peer.user} · key changed"
        elif not peer.connected:
            plate = f"{peer.user} · connecting…"
        elif peer.trust is Trust.NEW:
            plate = f"{peer.user} · unverified"  # a first contact: who is it, really?
        else:
            plate = peer.user
        if peer.connected and peer.muted:
            plate += " · muted"
        tiles.append(VideoTile(peer.user, plate, False,
                               peer.connected and peer.level_dbfs > SPEAKING_DBFS,
                               initials(peer.user), name_colour(peer.user),
                               camera_off=peer.camera_off))
    return tuple(tiles)


def safety_dialog(model: AppModel) -> SafetyDialogContent | None:
    if model.safety is None and model.safety_pending is None:
        return None
    if model.safety is None:
        user = model.safety_pending or ""
        return SafetyDialogContent(f"Safety number with {user}", user, True, (), "", "",
                            "Computing…", False, False, None)
    s = model.safety
    groups = s.number.split()
    lines = tuple(" ".join(groups[i:i + 4]) for i in range(0, len(groups), 4))
    if s.trust is Trust.CHANGED:
        explanation = (f"{s.user}'s key CHANGED. Ask {s.user}, in person or on a call you trust, "
                       "to read their safety number. Accept the new key only if it matches.")
    elif s.trust is Trust.VERIFIED:
        explanation = f"You have verified {s.user}. The numbers match on both screens."
    else:
        explanation = (f"Compare these digits with what {s.user} sees, in person or on a call. "
                       "If they match, mark the key as verified.")
    return SafetyDialogContent(f"Safety number with {s.user}", s.user, False, lines,
                        fmt.grouped_fingerprint(s.their_fingerprint),
                        fmt.grouped_fingerprint(s.own_fingerprint), explanation,
                        can_verify=s.trust in (Trust.NEW, Trust.PINNED),
                        can_accept=s.trust is Trust.CHANGED, trust=s.trust)


def expiry_label(seconds: float) -> str:
    """The picker's label for a number of seconds (the nearest choice)."""
    return min(EXPIRY_CHOICES, key=lambda choice: abs(choice[1] - seconds))[0]


def expiry_seconds(label: str) -> float:
    return dict(EXPIRY_CHOICES).get(label, 3600.0)


def file_row(model: AppModel, message: ChatMessage, own: bool) -> FileRow | None:
    """The attachment line of a file message (None for a text message)."""
    manifest = message.file
    if manifest is None:
        return None
    label = f"{manifest.name} · {describe_size(manifest.size)}"
    picture = model.pictures.get(message.id)
    note = model.picture_notes.get(message.id, "")
    saved = model.saved.get(message.id)
    if saved is not None:
        return FileRow(label, "saved", 1.0, saved, picture=picture, picture_note=note)
    progress = model.transfers.get(manifest.file_id)
    if progress is not None and progress.direction == "down":
        return FileRow(label, "moving", transfer_fraction(progress),
                       transfer_detail(progress), manifest.file_id, picture, note)
    return FileRow(label, "own" if own else "save", picture=picture, picture_note=note)



def upload_rows(model: AppModel) -> tuple[UploadRow, ...]:
    """Our files on their way up to the current channel, oldest first."""
    return tuple(
        UploadRow(file_id, f"Sending {progress.name} · {describe_size(progress.total)}",
                  transfer_fraction(progress), transfer_detail(progress))
        for file_id, progress in model.transfers.items()
        if progress.direction == "up"
        and model.upload_channels.get(file_id) == model.current_channel)


def transfer_fraction(progress: ev.FileProgress) -> float:
    return progress.done / progress.total if progress.total else 1.0


def transfer_detail(progress: ev.FileProgress) -> str:
    """What a progress bar says: how much, how fast, how long still ("checking" at the end,
    "starting" before the first chunk)."""
    moved = f"{describe_size(progress.done)} of {describe_size(progress.total)}"
    if progress.done >= progress.total and progress.total:
        return f"{moved} · checking"
    speed = progress.bytes_per_second
    if speed <= 0:
        return f"{moved} · starting"
    left = (progress.total - progress.done) / speed
    return f"{moved} · {describe_size(int(speed))}/s · {fmt.countdown(left)} left"
