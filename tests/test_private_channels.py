"""Private channels the hub cannot join: a real hub and real clients create a channel, add and
remove members and chat; then a lying hub (tests/lyinghub.py) adds a ghost, forges a roster
entry, forks the log and withholds it, and each test asserts what the members see and that
nothing was sealed to anyone the verified roster does not name."""

from __future__ import annotations

import dataclasses
import io
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio
from trio_websocket import WebSocketConnection

from gossip.cli.channel import run_channel
from gossip.cli.failures import CliError
from gossip.cli.listen import ListenPrinter
from gossip.cli.main import build_parser
from gossip.client import events as ev
from gossip.client.commands import (
    AddToChannel,
    CreatePrivateChannel,
    GetPrivateChannels,
    GetState,
    HandOverChannel,
    RemoveFromChannel,
    SendChat,
)
from gossip.client.errors import CommandRefused
from gossip.client.private import AlarmKind, PrivateChannelView
from gossip.client.profile import Profile
from gossip.crypto import rosterlog as rl
from gossip.crypto.pins import Trust
from gossip.fsm.roster import RosterPhase
from gossip.hub import RunningHub
from gossip.hub.private import PrivateBook, PrivateStore
from gossip.wire import (
    CreatePrivate,
    Error,
    ErrorCode,
    Frame,
    Message,
    PrivateChannels,
    RosterAppend,
    RosterLog,
    decode_frame,
)

from .conftest import Client, Tap
from .lyinghub import Direction, Ghost, LyingHub, Relayed, readable_by
from .rawmember import identity_of, log_in, next_of

COUNCIL = "council"
Connect = Callable[..., Awaitable[Client]]


@pytest.fixture
async def lying(nursery: trio.Nursery, hub: RunningHub) -> LyingHub:
    return await nursery.start(LyingHub(hub).run)


@pytest.fixture
def join(connect: Connect) -> Connect:
    """join(user, port=..., profile=...) -> a synced Client whose session waits 1 s for a
    roster log (on `profile`, or the user's one profile of the test)."""

    async def start(user: str, *, port: int | None = None,
                    profile: Profile | None = None) -> Client:
        return await connect(user, port=port, profile=profile, roster_timeout=1.0,
                             roster_confirm_timeout=5.0)

    return start


async def knows(client: Client, *users: str) -> None:
    """Until `client` has been announced each of `users` (bounded)."""
    with trio.fail_after(10):
        while True:
            state = await client.session.ref.ask(GetState())
            if set(users) <= {member.user for member in state.members}:
                return
            await client.next_event(ev.MemberJoined)


async def council_of(owner: Client, *members: Client) -> PrivateChannelView:
    """`owner` creates the council and adds `members`, each of whom sees the roster."""
    view = await owner.session.ref.ask(CreatePrivateChannel(COUNCIL))
    assert view.phase is RosterPhase.MEMBER and [m.user for m in view.members] == [owner.user]
    await knows(owner, *(member.user for member in members))
    for member in members:
        view = await owner.session.ref.ask(AddToChannel(COUNCIL, member.user))
        changed = await member.next_event(ev.RosterChanged, lambda e: e.channel == COUNCIL)
        assert changed.member and member.user in {m.user for m in changed.members}
    return view


def drained(client: Client) -> list[ev.SessionEvent]:
    """The events `client` published so far and nobody read."""
    events = []
    while True:
        try:
            events.append(client.events.receive_nowait())
        except trio.WouldBlock:
            return events


def sent_by(tap: Tap, user: str, since: int = 0) -> list[Frame]:
    """The frames `user` sent the (real) hub, decoded, from the `since`-th tapped frame on."""
    return [decode_frame(data) for direction, who, data in tap.frames[since:]
            if direction == "in" and who == user]


def relayed_to(tap: Tap, user: str, since: int = 0) -> list[Frame]:
    return [decode_frame(data) for direction, who, data in tap.frames[since:]
            if direction == "out" and who == user]


async def phase_of(client: Client, channel: str = COUNCIL) -> PrivateChannelView:
    views = await client.session.ref.ask(GetPrivateChannels())
    return next(view for view in views if view.channel == channel)


# -- with an honest hub ---------------------------------------------------------------------

async def test_members_chat_privately_and_a_removed_member_reads_nothing_after(
        join: Connect, hub_tap: Tap):
    alice, bob, carol = await join("alice"), await join("bob"), await join("carol")
    view = await council_of(alice, bob)
    assert [(m.user, m.owner) for m in view.members] == [("alice", True), ("bob", False)]
    assert view.members[1].trust is Trust.NEW  # alice met bob's key here, just now

    await alice.session.ref.ask(SendChat(COUNCIL, "for the council", 60))
    got = (await bob.next_event(ev.MessageReceived)).message
    assert (got.channel, got.text, got.verified) == (COUNCIL, "for the council", True)
    await bob.session.ref.ask(SendChat(COUNCIL, "aye", 60))
    assert (await alice.next_event(ev.MessageReceived)).message.text == "aye"
    # carol is on the hub and in no roster: the hub relayed her nothing of the council.
    assert not [f for f in relayed_to(hub_tap, "carol") if getattr(f, "channel", "") == COUNCIL]
    with pytest.raises(CommandRefused, match="no channel 'council'"):
        await carol.session.ref.ask(SendChat(COUNCIL, "let me in", 60))

    mark = len(hub_tap.frames)
    view = await alice.session.ref.ask(RemoveFromChannel(COUNCIL, "bob"))
    assert [m.user for m in view.members] == ["alice"]
    changed = await bob.next_event(ev.RosterChanged, lambda e: e.channel == COUNCIL)
    assert not changed.member and [m.user for m in changed.members] == ["alice"]
    await alice.session.ref.ask(SendChat(COUNCIL, "after bob left", 60))
    await alice.session.ref.ask(SendChat("general", "to everyone", 60))
    assert (await bob.next_event(ev.MessageReceived)).message.text == "to everyone"

    # Nothing bob could open was sealed after his removal (before it, he could: the check
    # would see it), and the hub relayed him nothing of the council.
    before = sent_by(hub_tap, "alice")[:len(sent_by(hub_tap, "alice")) - len(
        sent_by(hub_tap, "alice", mark))]
    alice_key = alice.profile.identity.public
    assert "for the council" in readable_by(bob.profile.identity, before, alice_key,
                                            now=time.time())
    after = [f for f in sent_by(hub_tap, "alice", mark) if isinstance(f, Message)
             and f.channel == COUNCIL]
    assert after and readable_by(bob.profile.identity, after, alice_key, now=time.time()) == []
    assert readable_by(alice.profile.identity, after, alice_key, now=time.time()) == [
        "after bob left"]
    assert not [f for f in relayed_to(hub_tap, "bob", mark)
                if isinstance(f, Message) and f.channel == COUNCIL]
    state = await bob.session.ref.ask(GetState())
    assert "after bob left" not in [m.text for m in state.messages]
    with pytest.raises(CommandRefused, match="not in its roster"):
        await bob.session.ref.ask(SendChat(COUNCIL, "still here?", 60))


async def test_only_the_owner_changes_the_roster_and_a_channel_name_is_taken_once(
        join: Connect):
    alice, bob, carol = await join("alice"), await join("bob"), await join("carol")
    await council_of(alice, bob)
    await knows(bob, "carol")
    with pytest.raises(CommandRefused, match="only the owner"):
        await bob.session.ref.ask(AddToChannel(COUNCIL, "carol"))
    with pytest.raises(CommandRefused, match="exists"):
        await carol.session.ref.ask(CreatePrivateChannel(COUNCIL))
    with pytest.raises(CommandRefused, match="exists"):
        await carol.session.ref.ask(CreatePrivateChannel("general"))


def test_the_hub_keeps_logs_across_a_restart_and_checks_the_chain(tmp_path: Path) -> None:
    from .test_roster_log import person  # real identities, made once

    roster = rl.create(COUNCIL, person("alice"), 1_700_000_000_000)
    roster = rl.add_member(roster, person("bob").public, person("alice"), 1_700_000_000_001)
    alice = person("alice")
    book = PrivateBook(PrivateStore.open(tmp_path))
    book.create(COUNCIL, roster.encoded()[0], "alice", alice.fingerprint)
    # An entry that does not follow the log's last one is refused (the hub's one check).
    stale = rl.add_member(rl.create(COUNCIL, alice, 1_700_000_000_000), person("carol").public,
                          alice, 1_700_000_000_002)
    book.append(COUNCIL, roster.encoded()[1], "alice", alice.fingerprint)
    with pytest.raises(Exception, match="does not follow"):
        book.append(COUNCIL, stale.encoded()[1], "alice", alice.fingerprint)
    reopened = PrivateBook(PrivateStore.open(tmp_path))
    assert reopened.entries(COUNCIL) == roster.encoded()
    assert reopened.channels_of("bob", person("bob").fingerprint) == (COUNCIL,)


# -- with a lying hub -----------------------------------------------------------------------

async def test_a_ghost_the_hub_adds_gets_nothing_and_the_roster_does_not_change(
        join: Connect, lying: LyingHub, tmp_path: Path):
    alice = await join("alice", port=lying.port)
    bob = await join("bob", port=lying.port)
    await council_of(alice, bob)
    drained(alice)
    ghost = Ghost("ghost", tmp_path / "ghost")
    # The hub announces the ghost to everyone and lists the council for it (as it may).
    for user in ("alice", "bob"):
        lying.of(user).inject(ghost.key_frame())
    await alice.next_event(ev.MemberJoined, lambda e: e.user == "ghost")

    await alice.session.ref.ask(SendChat(COUNCIL, "not for ghosts", 60))
    assert (await bob.next_event(ev.MessageReceived)).message.text == "not for ghosts"
    sent = lying.of("alice").sent_up(Message)
    alice_key = alice.profile.identity.public
    assert ghost.read_chat(sent, alice_key, now=time.time()) == []
    assert "not for ghosts" in readable_by(bob.profile.identity, sent, alice_key,
                                           now=time.time())
    # The members see no roster change: the ghost is on the hub, not in the council.
    assert not [e for e in drained(alice) if isinstance(e, (ev.RosterChanged, ev.RosterAlarm))]
    assert [m.user for m in (await phase_of(alice)).members] == ["alice", "bob"]
    assert [m.user for m in (await phase_of(bob)).members] == ["alice", "bob"]


async def test_an_entry_the_hub_forges_is_an_alarm_and_seals_nothing_more(
        join: Connect, lying: LyingHub, tmp_path: Path):
    alice = await join("alice", port=lying.port)
    bob = await join("bob", port=lying.port)
    await council_of(alice, bob)
    log = [entry for frame in lying.of("bob").down if isinstance(frame, RosterLog)
           for entry in frame.entries]
    ghost = Ghost("ghost", tmp_path / "ghost")
    # "alice adds the ghost": named as alice's, signed by the ghost (alice never signed it).
    forged = rl.RosterEntry(rl.RosterEntry.from_bytes(log[-1]).hash, COUNCIL,
                            rl.RosterOperation.ADD, "ghost", ghost.identity.fingerprint,
                            ghost.public.to_bytes(), alice.profile.identity.fingerprint,
                            int(time.time() * 1000))
    forged = dataclasses.replace(forged, signature=rl.sign_detached(
        forged.body(), ghost.identity, context=rl.ROSTER_CONTEXT))
    lying.of("bob").inject(RosterAppend(channel=COUNCIL, entry=forged.to_bytes(),
                                        position=len(log)))
    alarm = await bob.next_event(ev.RosterAlarm)
    assert (alarm.channel, alarm.kind) == (COUNCIL, AlarmKind.FORGED)
    assert "not signed by 'alice'" in alarm.detail
    assert (await phase_of(bob)).phase is RosterPhase.FORGED
    with pytest.raises(CommandRefused, match="forged"):
        await bob.session.ref.ask(SendChat(COUNCIL, "anyone?", 60))
    assert not [f for f in lying.of("bob").sent_up(Message) if f.channel == COUNCIL]
    assert (await phase_of(alice)).phase is RosterPhase.MEMBER  # alice was shown nothing


async def test_a_log_the_hub_forks_is_an_alarm_for_the_member_shown_two_histories(
        join: Connect, lying: LyingHub):
    alice = await join("alice", port=lying.port)
    bob = await join("bob", port=lying.port)
    await join("carol", port=lying.port)
    await join("dave", port=lying.port)
    await council_of(alice, bob)
    await knows(alice, "carol", "dave")
    position = 2  # create, add bob, then the entry the hub shows bob alone

    def keep_it_from_the_hub(connection: Relayed, frame: Frame):
        # alice's next entry goes to bob alone; alice is told the hub refused it.
        if connection.user == "alice" and isinstance(frame, RosterAppend):
            lying.hooks[Direction.UP] = lambda c, f: (f,)
            lying.of("bob").inject(RosterAppend(channel=COUNCIL, entry=frame.entry,
                                                position=position))
            connection.inject(Error(code=ErrorCode.ROSTER_REFUSED, reason="try again",
                                    ref=frame.ref))
            return ()
        return (frame,)

    lying.hooks[Direction.UP] = keep_it_from_the_hub
    with pytest.raises(CommandRefused, match="try again"):
        await alice.session.ref.ask(AddToChannel(COUNCIL, "carol"))
    shown = await bob.next_event(ev.RosterChanged, lambda e: e.channel == COUNCIL)
    assert "carol" in {m.user for m in shown.members}
    # alice, told it failed, adds dave instead: another entry after the same one.
    view = await alice.session.ref.ask(AddToChannel(COUNCIL, "dave"))
    assert [m.user for m in view.members] == ["alice", "bob", "dave"]
    alarm = await bob.next_event(ev.RosterAlarm)
    assert (alarm.channel, alarm.kind) == (COUNCIL, AlarmKind.FORKED)
    assert "forks" in alarm.detail
    with pytest.raises(CommandRefused, match="forked"):
        await bob.session.ref.ask(SendChat(COUNCIL, "which council?", 60))


async def test_a_log_the_hub_withholds_from_a_newcomer_is_said_and_blocks_sending(
        join: Connect, lying: LyingHub):
    alice = await join("alice", port=lying.port)
    bob = await join("bob", port=lying.port)

    def withhold_logs_from_bob(connection: Relayed, frame: Frame):
        if connection.user == "bob" and isinstance(frame, RosterLog):
            return ()
        return (frame,)

    lying.hooks[Direction.DOWN] = withhold_logs_from_bob
    await alice.session.ref.ask(CreatePrivateChannel(COUNCIL))
    await knows(alice, "bob")
    await alice.session.ref.ask(AddToChannel(COUNCIL, "bob"))
    alarm = await bob.next_event(ev.RosterAlarm)
    assert (alarm.channel, alarm.kind) == (COUNCIL, AlarmKind.WITHHELD)
    assert (await phase_of(bob)).phase is RosterPhase.WITHHELD
    with pytest.raises(CommandRefused, match="withholds its roster"):
        await bob.session.ref.ask(SendChat(COUNCIL, "hello?", 60))
    # What alice seals to him he does not take without a roster that names her.
    await alice.session.ref.ask(SendChat(COUNCIL, "welcome, bob", 60))
    rejected = await bob.next_event(ev.MessageDiscarded)
    assert (rejected.channel, rejected.reason) == (COUNCIL, "not_member")
    assert lying.of("bob").sent_up(Frame) and not [
        f for f in lying.of("bob").sent_up(Message) if f.channel == COUNCIL]


# -- the command line -----------------------------------------------------------------------

async def test_the_cli_manages_a_channel_and_listen_prints_roster_changes_and_alarms(
        join: Connect, capsys: pytest.CaptureFixture[str]):
    alice, bob = await join("alice"), await join("bob")
    await knows(alice, "bob")

    async def cli(client: Client, *argv: str) -> str:
        args = build_parser().parse_args(["--user", client.user, "channel", *argv])
        await run_channel(args, client.session)
        return capsys.readouterr().out

    assert "#council (private, member)" in await cli(alice, "create", COUNCIL)
    added = await cli(alice, "add", COUNCIL, "bob")
    assert "alice (owner)" in added and "bob" in added and "NEW KEY, first contact" in added
    changed = await bob.next_event(ev.RosterChanged)
    shown = json.loads(await cli(bob, "show", COUNCIL, "--json"))
    assert shown["phase"] == "member" and [m["user"] for m in shown["members"]] == [
        "alice", "bob"]
    with pytest.raises(CliError, match="only the owner"):
        await cli(bob, "remove", COUNCIL, "alice")

    out = io.StringIO()
    printer = ListenPrinter(out, channel=COUNCIL)
    alarm = ev.RosterAlarm(COUNCIL, AlarmKind.FORKED, "two histories\x1b[2J")
    for event in (changed, alarm, ev.RosterAlarm("other", AlarmKind.FORGED, "elsewhere")):
        printer.take(event)
    printer.release_due(everything=True)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "#council roster (verified; you are a member)" in lines[0]
    assert "alice (owner)" in lines[0] and "ALARM: #council roster FORKED" in lines[1]
    assert "\x1b" not in out.getvalue()  # what the network sent is escaped
    printer = ListenPrinter(out := io.StringIO(), as_json=True)
    printer.take(alarm)
    printer.release_due(everything=True)
    assert json.loads(out.getvalue())["kind"] == "forked"


# -- the hub's own checks, with bare members ------------------------------------------------

async def test_the_hub_relays_a_private_channel_to_its_roster_only_and_refuses_bad_entries(
        nursery: trio.Nursery, hub: RunningHub):
    alice_ws = await log_in(nursery, hub, "alice")
    bob_ws = await log_in(nursery, hub, "bob")
    mallory_ws = await log_in(nursery, hub, "mallory")
    alice, bob, mallory = identity_of("alice"), identity_of("bob"), identity_of("mallory")
    now = int(time.time() * 1000)
    roster = rl.create(COUNCIL, alice, now)
    await alice_ws.send_message(CreatePrivate(channel=COUNCIL, entry=roster.encoded()[0],
                                              ref=b"c").encode())
    listed = lambda frame: bool(frame.channels)  # noqa: E731 (after the sync's empty one)
    assert (await next_of(alice_ws, PrivateChannels, matching=listed)).channels == (COUNCIL,)
    assert (await next_of(alice_ws, RosterLog)).entries == tuple(roster.encoded())

    async def refused(ws: WebSocketConnection, frame: Frame, code: str) -> None:
        await ws.send_message(frame.encode())
        assert (await next_of(ws, Error)).code == code

    added = rl.add_member(roster, bob.public, alice, now + 1)
    entry = added.encoded()[1]
    await refused(alice_ws, RosterAppend(channel=COUNCIL, entry=entry, position=1),
                  ErrorCode.FORGED)
    by_mallory = rl.add_member(rl.create(COUNCIL, mallory, now), bob.public, mallory, now + 1)
    await refused(mallory_ws, RosterAppend(channel=COUNCIL, entry=by_mallory.encoded()[1]),
                  ErrorCode.ROSTER_REFUSED)  # follows another creation
    await refused(mallory_ws, RosterAppend(channel=COUNCIL, entry=entry),
                  ErrorCode.ROSTER_REFUSED)  # alice's entry, sent by mallory
    await refused(mallory_ws, Message(channel=COUNCIL, blob=b"let me in"),
                  ErrorCode.NOT_MEMBER)
    await refused(mallory_ws, CreatePrivate(channel="general", entry=rl.create(
        "general", mallory, now).encoded()[0]), ErrorCode.CHANNEL_EXISTS)

    await alice_ws.send_message(RosterAppend(channel=COUNCIL, entry=entry).encode())
    echo = await next_of(alice_ws, RosterAppend)
    assert (echo.entry, echo.position) == (entry, 1)
    assert (await next_of(bob_ws, PrivateChannels, matching=listed)).channels == (COUNCIL,)
    log = await next_of(bob_ws, RosterLog)
    assert (log.start, log.total, log.entries) == (0, 2, tuple(added.encoded()))
    await alice_ws.send_message(Message(channel=COUNCIL, blob=b"sealed").encode())
    await alice_ws.send_message(Message(channel="general", blob=b"open").encode())
    assert (await next_of(bob_ws, Message)).blob == b"sealed"
    assert (await next_of(mallory_ws, Message)).blob == b"open"  # the council's never came


async def test_a_hub_that_stops_listing_a_channel_its_roster_names_us_in_is_an_alarm(
        join: Connect, lying: LyingHub):
    alice = await join("alice", port=lying.port)
    bob = await join("bob", port=lying.port)
    await council_of(alice, bob)
    lying.of("bob").inject(PrivateChannels(channels=()))
    alarm = await bob.next_event(ev.RosterAlarm)
    assert (alarm.channel, alarm.kind) == (COUNCIL, AlarmKind.EXCLUDED)
    with pytest.raises(CommandRefused, match="dropped you"):
        await bob.session.ref.ask(SendChat(COUNCIL, "still here", 60))


# -- rosters kept across restarts -----------------------------------------------------------

async def restarted(join: Connect, client: Client, *, port: int) -> Client:
    """`client` stopped, then a new session on a new Profile over the same directory."""
    client.stop()
    with trio.fail_after(10):
        await client.done.wait()
    return await join(client.user, port=port,
                      profile=Profile.open(client.user, client.profile.directory))


def council_log(connection: Relayed) -> list[bytes]:
    """The council's whole log as the hub last sent it on `connection`."""
    entries: list[bytes] = []
    for frame in connection.down:
        if isinstance(frame, RosterLog) and frame.channel == COUNCIL:
            entries = list(frame.entries) if frame.start == 0 else entries + list(
                frame.entries)
        elif isinstance(frame, RosterAppend) and frame.channel == COUNCIL and entries:
            entries.append(frame.entry)
    return entries


def show_bob_instead(lying: LyingHub, entries: list[bytes]) -> None:
    """From now on, bob's connections get `entries` as the council's whole log."""

    def hook(connection: Relayed, frame: Frame):
        if connection.user == "bob" and isinstance(frame, RosterLog) \
                and frame.channel == COUNCIL:
            return (RosterLog(channel=COUNCIL, start=0, total=len(entries),
                              entries=tuple(entries)),) if frame.start == 0 else ()
        return (frame,)

    lying.hooks[Direction.DOWN] = hook


async def test_a_log_rolled_back_after_a_restart_is_an_alarm(join: Connect, lying: LyingHub):
    alice = await join("alice", port=lying.port)
    bob = await join("bob", port=lying.port)
    await join("carol", port=lying.port)
    await council_of(alice, bob)
    older = council_log(lying.of("bob"))
    await knows(alice, "carol")
    await alice.session.ref.ask(AddToChannel(COUNCIL, "carol"))
    changed = await bob.next_event(ev.RosterChanged, lambda e: e.channel == COUNCIL)
    assert [m.user for m in changed.members] == ["alice", "bob", "carol"]

    # bob restarts; the hub shows him the log from before carol was added, as if the last
    # entry had never been (a hub hiding a member from him).
    show_bob_instead(lying, older)
    bob = await restarted(join, bob, port=lying.port)
    alarm = await bob.next_event(ev.RosterAlarm, lambda e: e.channel == COUNCIL)
    assert alarm.kind == AlarmKind.WITHHELD and "only the first 2" in alarm.detail
    view = await phase_of(bob)
    assert view.phase is RosterPhase.WITHHELD
    assert [m.user for m in view.members] == ["alice", "bob", "carol"]  # what he verified
    with pytest.raises(CommandRefused, match="withholds its roster"):
        await bob.session.ref.ask(SendChat(COUNCIL, "where is carol?", 60))


async def test_a_history_the_hub_rewrites_while_a_member_was_away_is_an_alarm(
        join: Connect, lying: LyingHub, tmp_path: Path):
    alice = await join("alice", port=lying.port)
    bob = await join("bob", port=lying.port)
    await council_of(alice, bob)
    # The hub makes a council of its own (a ghost creates it and adds bob): valid, signed,
    # naming bob. A client with no memory of the council would take it as its roster.
    ghost = Ghost("ghost", tmp_path / "ghost")
    now = int(time.time() * 1000)
    made_up = rl.add_member(rl.create(COUNCIL, ghost.identity, now), bob.profile.identity.public,
                            ghost.identity, now + 1)
    show_bob_instead(lying, made_up.encoded())
    bob = await restarted(join, bob, port=lying.port)
    alarm = await bob.next_event(ev.RosterAlarm, lambda e: e.channel == COUNCIL)
    assert alarm.kind == AlarmKind.FORKED and "another creation" in alarm.detail
    view = await phase_of(bob)
    assert view.phase is RosterPhase.FORKED and view.owner == "alice"
    with pytest.raises(CommandRefused, match="forked"):
        await bob.session.ref.ask(SendChat(COUNCIL, "who owns this?", 60))
    assert not [f for f in lying.of("bob").sent_up(Message) if f.channel == COUNCIL]


def test_two_processes_on_one_profile_keep_each_others_rosters(tmp_path: Path) -> None:
    from gossip.client.rosterstore import RosterStore

    from .test_roster_log import person

    alice = person("alice")
    council = rl.create(COUNCIL, alice, 1_700_000_000_000)
    grown = rl.add_member(council, person("bob").public, alice, 1_700_000_000_001)
    board = rl.create("board", alice, 1_700_000_000_000)
    first, second = RosterStore(tmp_path / "r"), RosterStore(tmp_path / "r")
    first.save(COUNCIL, grown.encoded())
    second.save("board", board.encoded())
    second.save(COUNCIL, council.encoded())  # an older view does not undo a longer log
    kept = {roster.channel: roster for roster in first.load_verified()}
    assert set(kept) == {COUNCIL, "board"} and kept[COUNCIL].head == grown.head


# -- ownership hand-over --------------------------------------------------------------------

async def test_after_a_hand_over_the_new_owner_changes_the_roster_and_the_old_cannot(
        join: Connect, capsys: pytest.CaptureFixture[str]):
    alice, bob = await join("alice"), await join("bob")
    carol, dave = await join("carol"), await join("dave")
    await council_of(alice, bob)
    with pytest.raises(CommandRefused, match="not a member"):
        await alice.session.ref.ask(HandOverChannel(COUNCIL, "carol"))
    with pytest.raises(CommandRefused, match="only the owner"):
        await bob.session.ref.ask(HandOverChannel(COUNCIL, "alice"))

    args = build_parser().parse_args(["--user", "alice", "channel", "handover", COUNCIL, "bob"])
    await run_channel(args, alice.session)
    assert "bob (owner)" in capsys.readouterr().out
    changed = await bob.next_event(ev.RosterChanged, lambda e: e.owner == "bob")
    assert [(m.user, m.owner) for m in changed.members] == [("alice", False), ("bob", True)]

    await knows(bob, "carol", "dave")
    await knows(alice, "dave")
    view = await bob.session.ref.ask(AddToChannel(COUNCIL, "carol"))
    assert [m.user for m in view.members] == ["alice", "bob", "carol"]
    await carol.next_event(ev.RosterChanged, lambda e: e.channel == COUNCIL and e.member)
    with pytest.raises(CommandRefused, match="only the owner"):
        await alice.session.ref.ask(AddToChannel(COUNCIL, "dave"))
    with pytest.raises(CommandRefused, match="only the owner"):
        await alice.session.ref.ask(RemoveFromChannel(COUNCIL, "carol"))
    with pytest.raises(CommandRefused, match="only the owner"):
        await alice.session.ref.ask(HandOverChannel(COUNCIL, "alice"))
    view = await bob.session.ref.ask(RemoveFromChannel(COUNCIL, "alice"))
    assert [(m.user, m.owner) for m in view.members] == [("bob", True), ("carol", False)]
    assert not (await alice.next_event(
        ev.RosterChanged, lambda e: e.channel == COUNCIL and not e.member)).member
    assert dave.user not in {m.user for m in view.members}
