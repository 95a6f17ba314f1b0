"""Supervision under faults: connections killed mid-handshake, mid-key-sync and mid-message, a
network that delays, drops, refuses or goes silent, a hub restarted mid-chat. After each, every
client is back, every message shows exactly once, and the hub's supervisor never gave up."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest
import trio
import trio.testing

from gossip.actors import Actor, ActorFailed, ChildSpec, Restart, Supervisor
from gossip.client import events as ev
from gossip.client.commands import GetState, SendChat
from gossip.client.errors import ConnectionLost
from gossip.client.state import SessionState
from gossip.hub import RunningHub
from gossip.wire import Command, decode_frame

from .conftest import Client, Tap
from .faultproxy import Direction, FaultProxy
from .helpers import settled
from .test_reconnect import RestartableHub

# Virtual seconds (every test runs on the autojump clock): room for a few reconnect backoffs,
# well under the hub's idle timeout.
LIMIT = 150.0


@dataclass
class _Trigger:
    direction: str
    user: str
    command: Command
    action: Callable[[], object]


@dataclass
class TriggerTap(Tap):
    """The hub's frame tap, which also runs a test's callback at an exact protocol step: the
    moment the hub reads, or queues, a given frame for a given user."""

    triggers: list[_Trigger] = field(default_factory=list)

    def when(self, direction: str, user: str, command: Command,
             action: Callable[[], object]) -> None:
        self.triggers.append(_Trigger(direction, user, command, action))

    def __call__(self, direction: str, who: str, data: bytes) -> None:
        super().__call__(direction, who, data)
        for trigger in list(self.triggers):
            if (trigger.direction, trigger.user) == (direction, who) \
                    and decode_frame(data).command is trigger.command:
                self.triggers.remove(trigger)
                trigger.action()

    def sizes(self, direction: str, who: str) -> list[tuple[Command, int]]:
        return [(decode_frame(data).command, len(data)) for d, w, data in self.frames
                if (d, w) == (direction, who)]


@dataclass(eq=False)
class Member:
    """A connected client and every event its session published, as they come."""

    client: Client
    seen: list[ev.SessionEvent] = field(default_factory=list)
    _changed: trio.Event = field(default_factory=trio.Event)

    @property
    def user(self) -> str:
        return self.client.user

    async def watch(self) -> None:
        async for event in self.client.events:
            self.seen.append(event)
            self._changed.set()
            self._changed = trio.Event()

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        """Until `condition` holds; fails (on the virtual clock) if it never does."""
        with trio.move_on_after(LIMIT):
            while not condition():
                if self.client.done.is_set():
                    raise AssertionError(f"{self.user}'s session ended: "
                                         f"{self.client.failure!r}") from self.client.failure
                await self._changed.wait()
            return
        raise AssertionError(f"{self.user}: never {what}")

    def count(self, kind: type) -> int:
        return sum(isinstance(event, kind) for event in self.seen)

    @property
    def reconnects(self) -> int:
        """Connection attempts that failed or broke after the first sync."""
        return sum(isinstance(e, ev.Disconnected) and e.code == "reconnecting" for e in self.seen)

    def texts(self, sender: str | None = None) -> list[str]:
        return [e.message.text for e in self.seen if isinstance(e, ev.MessageReceived)
                and (sender is None or e.message.sender == sender)]

    async def say(self, text: str, channel: str = "general") -> None:
        await self.client.session.ref.ask(SendChat(channel, text, 600))

    async def state(self) -> SessionState:
        state = await self.client.session.ref.ask(GetState())
        assert isinstance(state, SessionState)
        return state

    async def hears(self, sender: str, text: str) -> None:
        await self.until(lambda: text in self.texts(sender), f"heard {sender} say {text!r}")

    async def disconnected(self, times: int) -> None:
        await self.until(lambda: self.reconnects >= times, f"lost the hub {times} times")

    async def synced(self, times: int) -> None:
        await self.until(lambda: self.count(ev.Synced) >= times, f"synced {times} times")


Join = Callable[..., Awaitable[Member]]


@pytest.fixture
def hub_tap() -> TriggerTap:
    return TriggerTap()


@pytest.fixture
async def proxy(nursery: trio.Nursery, hub: RunningHub) -> FaultProxy:
    return await nursery.start(FaultProxy(hub.port).run)


@pytest.fixture
def join(connect, nursery: trio.Nursery) -> Join:
    """join(user, port=...) -> a Member whose session is synced and whose events are kept."""

    async def start(user: str, *, port: int | None = None) -> Member:
        member = Member(await connect(user, port=port))
        nursery.start_soon(member.watch)
        return member

    return start


async def assert_hub_serves(hub: RunningHub, join: Join, members: list[str], *,
                            port: int | None = None) -> None:
    """The hub holds exactly these members, one connection actor each, its supervisor never
    restarted or lost a child to a crash, and a fresh pair can still sign in and talk."""
    await settled(lambda: hub.connections == len(members)
                  and len(hub.supervisor.children) == len(members),
                  f"down to {len(members)} connections ({hub.connections} open, "
                  f"{len(hub.supervisor.children)} actors)")
    assert hub.registry.members() == sorted(members)
    assert sum(hub.supervisor.restarts.values()) == 0
    assert not hub.supervisor.crashes, f"connection actors crashed: {hub.supervisor.crashes}"
    dave = await join("dave", port=port)
    erin = await join("erin", port=port)
    await dave.say("hello erin")
    await erin.until(lambda: erin.texts("dave") == ["hello erin"], "heard dave")


async def assert_keys_complete(members: list[Member]) -> None:
    """Every member holds every member's key, with the fingerprint its owner has."""
    fingerprints = {m.user: m.client.profile.identity.fingerprint for m in members}
    for member in members:
        state = await member.state()
        assert {view.user: view.fingerprint for view in state.members} == fingerprints


# -- what the checks rest on ---------------------------------------------------------------

class Brittle(Actor):
    """Crashes on "boom", ends cleanly on "quit"."""

    async def receive(self, message: object) -> object:
        if message == "boom":
            raise ValueError("boom")
        if message == "quit":
            self.stop()
        return None


async def test_a_supervisor_counts_crashes_including_those_it_does_not_restart(
        nursery: trio.Nursery) -> None:
    # (Belongs with tests/test_actors.py; here because the hub's checks below rely on it.)
    supervisor = Supervisor([ChildSpec("conn-1", Brittle, Restart.TEMPORARY),
                             ChildSpec("conn-2", Brittle, Restart.TEMPORARY),
                             ChildSpec("service", Brittle)])
    await nursery.start(supervisor.run)
    with pytest.raises(ActorFailed):
        await supervisor.children["conn-1"].ask("boom")
    await supervisor.children["conn-2"].ask("quit")
    with pytest.raises(ActorFailed):
        await supervisor.children["service"].ask("boom")
    await trio.testing.wait_all_tasks_blocked()
    assert supervisor.crashes == {"conn-1": 1, "service": 1}  # a clean end is no crash
    assert supervisor.restarts == {"service": 1}  # temporary children are never restarted
    assert set(supervisor.children) == {"service"}


# -- killed mid-phase ------------------------------------------------------------------------

@pytest.mark.parametrize("step", [Command.HUB_HELLO, Command.WELCOME],
                         ids=["after-challenge", "after-welcome"])
async def test_a_login_cut_mid_handshake_is_retried_and_leaves_no_half_member(
        autojump_clock, hub: RunningHub, hub_tap: TriggerTap, proxy: FaultProxy, join: Join,
        step: Command) -> None:
    alice = await join("alice")
    carol = await join("carol", port=proxy.port)
    # Carol's network breaks; her first login after it is cut the moment the hub has queued
    # `step` for her: after her greeting, before she could answer (challenge) or the hub's
    # proof reached her (welcome: the hub has already admitted this connection).
    hub_tap.when("out", "carol", step, proxy.cut_all)
    proxy.cut_all()
    await carol.synced(2)
    assert not hub_tap.triggers and proxy.cuts == 2 and carol.reconnects == 2

    # The killed login was never shown to anyone: alice saw carol come, go once, come back.
    assert [type(e).__name__ for e in alice.seen
            if isinstance(e, (ev.MemberJoined, ev.MemberLeft)) and e.user == "carol"] \
        == ["MemberJoined", "MemberLeft", "MemberJoined"]
    await alice.say("welcome back")
    await carol.until(lambda: carol.texts("alice") == ["welcome back"], "heard alice")
    await carol.say("thanks")
    await alice.until(lambda: alice.texts("carol") == ["thanks"], "heard carol")
    await assert_keys_complete([alice, carol])
    await assert_hub_serves(hub, join, ["alice", "carol"])


async def test_a_first_login_cut_mid_handshake_fails_cleanly_and_a_retry_gets_in(
        autojump_clock, hub: RunningHub, hub_tap: TriggerTap, proxy: FaultProxy,
        connect, join: Join) -> None:
    # A session that never synced does not retry by itself (a wrong address or password
    # should not loop): the front end reports the failure and the user tries again.
    hub_tap.when("out", "carol", Command.HUB_HELLO, proxy.cut_all)
    first = await connect("carol", port=proxy.port, wait=False)
    with trio.fail_after(LIMIT):
        await first.done.wait()
    assert isinstance(first.failure, ConnectionLost)
    await settled(lambda: hub.connections == 0, "closed carol's first connection")
    assert hub.registry.members() == []

    carol = await join("carol", port=proxy.port)
    alice = await join("alice")
    await carol.say("made it")
    await alice.until(lambda: alice.texts("carol") == ["made it"], "heard carol")
    await assert_hub_serves(hub, join, ["alice", "carol"])


@pytest.mark.parametrize("where", ["before-any-key", "mid-snapshot"])
async def test_a_key_sync_cut_midway_is_redone_and_the_keys_end_up_complete(
        autojump_clock, hub: RunningHub, hub_tap: TriggerTap, proxy: FaultProxy, join: Join,
        where: str) -> None:
    alice = await join("alice")
    bob = await join("bob")
    carol = await join("carol", port=proxy.port)
    first_sync = hub_tap.sizes("out", "carol")
    snapshot = sum(size for command, size in first_sync
                   if command in (Command.KEY, Command.CHANNELS, Command.END_OF_KEYS))
    if where == "before-any-key":
        # The hub has started its snapshot for carol: nothing of it has left the hub yet.
        hub_tap.when("out", "carol", Command.KEY, proxy.cut_all)
    else:
        # Carol gets the first half of the snapshot's bytes (a key or more), then the cut.
        hub_tap.when("in", "carol", Command.KEY_REQUEST,
                     lambda: proxy.cut_after(snapshot // 2, Direction.DOWN))
    proxy.cut_all()
    await carol.synced(2)
    assert not hub_tap.triggers and proxy.cuts == 2 and carol.reconnects == 2

    await assert_keys_complete([alice, bob, carol])
    await carol.say("all keys here")
    for other in (alice, bob):
        await other.hears("carol", "all keys here")
        assert other.texts("carol") == ["all keys here"]
    await assert_hub_serves(hub, join, ["alice", "bob", "carol"])


@pytest.mark.parametrize("step", [Command.HUB_HELLO, Command.WELCOME, Command.KEY],
                         ids=["after-challenge", "after-welcome", "mid-key-sync"])
async def test_a_connection_actor_stopped_mid_phase_ends_alone_and_the_client_comes_back(
        autojump_clock, nursery: trio.Nursery, hub: RunningHub, hub_tap: TriggerTap,
        join: Join, step: Command) -> None:
    alice = await join("alice")
    carol = await join("carol")
    supervisor = hub.supervisor

    def newest_connection() -> str:
        return max(supervisor.children, key=lambda name: int(name.rsplit("-", 1)[1]))

    # Killed from inside the hub this time: the supervisor stops carol's actor, first while
    # she chats, then her next one at `step`.
    hub_tap.when("out", "carol", step,
                 lambda: nursery.start_soon(supervisor.stop_child, newest_connection()))
    await supervisor.stop_child(newest_connection())
    await carol.synced(2)
    assert not hub_tap.triggers and carol.reconnects == 2

    await carol.say("still me")
    await alice.until(lambda: alice.texts("carol") == ["still me"], "heard carol")
    await assert_keys_complete([alice, carol])
    await assert_hub_serves(hub, join, ["alice", "carol"])


@pytest.mark.parametrize("where", ["on-the-way-up", "as-the-hub-reads-it", "on-the-way-down"])
async def test_a_message_cut_in_flight_arrives_exactly_once(
        autojump_clock, hub: RunningHub, hub_tap: TriggerTap, proxy: FaultProxy, join: Join,
        where: str) -> None:
    alice = await join("alice", port=proxy.port if where != "on-the-way-down" else None)
    bob = await join("bob", port=proxy.port if where == "on-the-way-down" else None)
    await alice.say("hello")  # the sender key is handed out: what follows is one frame
    await bob.until(lambda: bob.texts("alice") == ["hello"], "heard hello")

    if where == "on-the-way-up":
        proxy.cut_after(40, Direction.UP)  # the hub never gets the whole frame
    elif where == "as-the-hub-reads-it":
        hub_tap.when("in", "alice", Command.MESSAGE, proxy.cut_all)  # the hub has it all
    else:
        proxy.cut_after(40, Direction.DOWN)  # bob never gets the whole frame
    await alice.say("in flight")
    await proxy.wait_for_cuts(1)
    cut_member = bob if where == "on-the-way-down" else alice
    await cut_member.synced(2)
    # Resent after the reconnect (alice to the hub, or the hub's relay to bob came too late).
    await bob.until(lambda: "in flight" in bob.texts("alice"), "heard in flight")
    await alice.say("after")  # anything resent twice would arrive before this

    await bob.until(lambda: "after" in bob.texts("alice"), "heard after")
    assert bob.texts("alice") == ["hello", "in flight", "after"]
    assert cut_member.reconnects == 1
    await assert_hub_serves(hub, join, ["alice", "bob"])


# -- a flaky network --------------------------------------------------------------------------

async def test_a_delaying_network_delivers_everything_once_and_in_order(
        autojump_clock, hub: RunningHub, proxy: FaultProxy, join: Join) -> None:
    rng = random.Random(6)
    proxy.delay_chunks(lambda: rng.uniform(0.0, 0.5))  # per chunk, both ways, order kept
    alice = await join("alice", port=proxy.port)
    bob = await join("bob", port=proxy.port)
    # A message is for the members its writer knows when writing it: alice writes once the
    # hub's (delayed) news of bob has reached her, as a person would see bob arrive first.
    await alice.until(lambda: any(isinstance(e, ev.MemberJoined) and e.user == "bob"
                                  for e in alice.seen), "saw bob join")
    sent = {"alice": [f"alice {n}" for n in range(10)], "bob": [f"bob {n}" for n in range(10)]}
    for alice_text, bob_text in zip(sent["alice"], sent["bob"], strict=True):
        await alice.say(alice_text)
        await bob.say(bob_text)
    await bob.until(lambda: len(bob.texts("alice")) >= 10, "heard all of alice")
    await alice.until(lambda: len(alice.texts("bob")) >= 10, "heard all of bob")
    await trio.testing.wait_all_tasks_blocked()
    assert bob.texts("alice") == sent["alice"]
    assert alice.texts("bob") == sent["bob"]
    assert alice.reconnects == bob.reconnects == proxy.cuts == 0
    proxy.delay_chunks(None)
    await assert_hub_serves(hub, join, ["alice", "bob"])


async def test_connections_cut_again_and_again_lose_nothing_and_double_nothing(
        autojump_clock, hub: RunningHub, proxy: FaultProxy, join: Join) -> None:
    rng = random.Random(1906)
    alice = await join("alice", port=proxy.port)
    bob = await join("bob", port=proxy.port)
    # Eight cuts, each after a random number of bytes either way (some in the middle of a
    # login or a key sync, some mid-message), while both keep talking.
    proxy.cut_schedule(rng.randint(50, 1500) for _ in range(8))
    sent: dict[str, list[str]] = {"alice": [], "bob": []}
    for number in range(15):
        for member in (alice, bob):
            text = f"{member.user} {number}"
            await member.say(text)
            sent[member.user].append(text)
        # Both arrive before the next round, through whatever cuts and reconnects it takes.
        for member, other in ((alice, bob), (bob, alice)):
            await other.hears(member.user, f"{member.user} {number}")
    proxy.disarm()
    cuts = proxy.cuts
    await bob.until(lambda: set(bob.texts("alice")) >= set(sent["alice"]), "heard all of alice")
    await alice.until(lambda: set(alice.texts("bob")) >= set(sent["bob"]), "heard all of bob")
    # A last word each way: anything resent late would have come before it.
    await alice.say("last")
    await bob.say("last")
    await bob.until(lambda: "last" in bob.texts("alice"), "heard alice's last")
    await alice.until(lambda: "last" in alice.texts("bob"), "heard bob's last")

    assert cuts >= 5, f"only {cuts} cuts: the test did not exercise much"
    assert sorted(bob.texts("alice")) == sorted(sent["alice"] + ["last"])
    assert sorted(alice.texts("bob")) == sorted(sent["bob"] + ["last"])
    assert alice.reconnects + bob.reconnects >= cuts
    await assert_keys_complete([alice, bob])
    await assert_hub_serves(hub, join, ["alice", "bob"])


async def test_a_hub_that_refuses_connections_for_a_while_gets_everyone_back(
        autojump_clock, hub: RunningHub, proxy: FaultProxy, join: Join) -> None:
    alice = await join("alice", port=proxy.port)
    bob = await join("bob", port=proxy.port)
    proxy.refuse_for(20)
    proxy.cut_all()
    await alice.say("while refused")  # waits in alice's outbox
    await alice.synced(2)
    await bob.synced(2)
    await bob.until(lambda: bob.texts("alice") == ["while refused"], "heard alice")
    assert proxy.refused >= 4  # both retried more than once, with backoff: not a stampede
    assert alice.reconnects <= 8 and bob.reconnects <= 8
    await assert_hub_serves(hub, join, ["alice", "bob"])


async def test_a_message_written_just_after_a_reconnect_does_not_pass_the_outbox(
        autojump_clock, hub: RunningHub, proxy: FaultProxy, join: Join) -> None:
    alice = await join("alice", port=proxy.port)
    bob = await join("bob")
    proxy.refuse_for(5)
    proxy.cut_all()
    await alice.until(lambda: alice.reconnects >= 1, "noticed the break")
    outbox = [f"offline {number}" for number in range(5)]
    for text in outbox:
        await alice.say(text)
    await alice.synced(2)
    await alice.say("back")  # written the moment alice's client says it is back
    await bob.until(lambda: len(bob.texts("alice")) == len(outbox) + 1, "heard all of alice")
    assert bob.texts("alice") == outbox + ["back"]  # "in order, after the reconnect"


async def test_a_silently_dead_connection_is_let_go_by_the_hub(
        autojump_clock, hub: RunningHub, hub_config, proxy: FaultProxy, join: Join) -> None:
    alice = await join("alice", port=proxy.port)
    bob = await join("bob")
    went_silent = trio.current_time()
    proxy.go_silent()  # no FIN, no reset: only the hub's keepalive can tell
    alice.client.stop()  # and she does not come back (her own keepalive: the next test)
    await bob.until(lambda: any(isinstance(e, ev.MemberLeft) and e.user == "alice"
                                for e in bob.seen), "saw alice leave")
    limits = hub_config.limits
    # Virtual seconds: a ping interval, its timeout, and the bounded close.
    assert trio.current_time() - went_silent <= \
        limits.keepalive_interval + limits.keepalive_timeout + 5
    await assert_hub_serves(hub, join, ["bob"])


async def test_a_silently_dead_connection_is_noticed_by_the_client_too(
        autojump_clock, hub: RunningHub, proxy: FaultProxy, join: Join) -> None:
    alice = await join("alice", port=proxy.port)
    bob = await join("bob")
    proxy.go_silent()
    await alice.say("into the void")
    await alice.synced(2)  # alice's client notices, comes back and resends
    await bob.until(lambda: bob.texts("alice") == ["into the void"], "heard alice")


# -- the hub restarted mid-chat --------------------------------------------------------------

async def test_hub_restarts_while_clients_chat_lose_and_double_nothing(
        autojump_clock, nursery: trio.Nursery, hub_config, join: Join) -> None:
    hub = RestartableHub(nursery, hub_config)
    await hub.start()
    alice = await join("alice", port=hub.port)
    bob = await join("bob", port=hub.port)
    sent: list[str] = []

    async def alice_says(text: str) -> None:
        await alice.say(text)
        sent.append(text)

    for restart in range(1, 3):
        await alice_says(f"before restart {restart}")
        await bob.say(f"bob before restart {restart}")
        previous = hub.running
        assert previous is not None
        hub.stop()
        await alice.disconnected(restart)
        await alice_says(f"while down {restart}")  # waits in alice's outbox
        await hub.start()
        await alice.synced(restart + 1)
        await bob.synced(restart + 1)
        # The stopped hub's supervisor was cancelled, which is not a failure.
        assert sum(previous.supervisor.restarts.values()) == 0
        assert not previous.supervisor.crashes
    await alice_says("the end")
    await bob.until(lambda: set(bob.texts("alice")) == set(sent), "heard all of alice")
    await alice.until(lambda: len(alice.texts("bob")) == 2, "heard all of bob")
    # One more round trip: a late second copy of anything would have arrived by now.
    await bob.say("got it all")
    await alice.until(lambda: "got it all" in alice.texts("bob"), "heard bob's last")
    await trio.testing.wait_all_tasks_blocked()
    # Each exactly once. (Not necessarily in the order written: what went out while bob was
    # away is resent when he is back, and "the end" may pass those resends.)
    assert sorted(bob.texts("alice")) == sorted(sent)
    assert sorted(alice.texts("bob")) == sorted(["bob before restart 1", "bob before restart 2",
                                                 "got it all"])
    assert alice.reconnects <= 6 and bob.reconnects <= 6
    assert hub.running is not None
    await assert_hub_serves(hub.running, join, ["alice", "bob"], port=hub.port)
