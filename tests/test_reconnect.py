"""Faults: the hub restarts, connections are cut mid-message. Clients come back by themselves,
and every message sent shows exactly once."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest
import trio

from gossip.client import events as ev
from gossip.client.commands import RetryNow, SendChat
from gossip.fsm import ReconnectPhase
from gossip.hub import HubConfig, RunningHub, serve_hub

from .helpers import pump


@dataclass
class RestartableHub:
    """A hub on a fixed port that a test can stop and start again (same key, same port)."""

    nursery: trio.Nursery
    config: HubConfig
    running: RunningHub | None = None
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)

    @property
    def port(self) -> int:
        return self.config.port

    @property
    def registry(self):
        assert self.running is not None
        return self.running.registry

    async def start(self) -> None:
        self.scope = trio.CancelScope()

        async def run(task_status: trio.TaskStatus[RunningHub]) -> None:
            with self.scope:
                await serve_hub(self.config, task_status=task_status)

        self.running = await self.nursery.start(run)
        if self.config.port == 0:  # the restarted hub comes back on the same port
            self.config = replace(self.config, port=self.running.port)

    def stop(self) -> None:
        self.scope.cancel()


@pytest.fixture
async def hub(nursery, hub_config) -> RestartableHub:
    restartable = RestartableHub(nursery, hub_config)
    await restartable.start()
    return restartable


async def received_texts(client, count: int) -> list[str]:
    return [(await client.next_event(ev.MessageReceived)).message.text for _ in range(count)]


async def test_a_hub_restart_loses_nothing_and_shows_nothing_twice(connect, hub):
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.session.ref.ask(SendChat("general", "before", 600))
    assert await received_texts(bob, 1) == ["before"]

    hub.stop()
    assert (await alice.next_event(ev.Disconnected)).code == "reconnecting"
    await bob.next_event(ev.Disconnected)
    # Written while the hub is down: they wait in alice's outbox.
    for text in ("while down 1", "while down 2"):
        await alice.session.ref.ask(SendChat("general", text, 600))

    await hub.start()
    await alice.next_event(ev.Synced)
    await bob.next_event(ev.Synced)
    assert await received_texts(bob, 2) == ["while down 1", "while down 2"]
    await alice.session.ref.ask(SendChat("general", "after", 600))
    # Anything resent ("before" and the outbox go out again to members who rejoin) was
    # dropped by id: the next message bob sees is the new one.
    assert await received_texts(bob, 1) == ["after"]


async def test_retry_now_cuts_a_long_backoff_short(connect, hub):
    # A backoff of an hour: within the bounded waits below, only RetryNow can bring alice back.
    alice = await connect("alice", reconnect_base=3600.0, reconnect_cap=3600.0)
    assert await alice.session.ref.ask(RetryNow()) is False  # online: nothing to cut short

    hub.stop()
    lost = await alice.next_event(ev.Disconnected)
    assert lost.retry_in is not None and lost.retry_in >= 1800
    assert alice.session.phase is ReconnectPhase.WAITING
    # While the hub is still down the attempt happens at once, fails, and pauses again.
    assert await alice.session.ref.ask(RetryNow()) is True
    assert (await alice.next_event(ev.Disconnected)).retry_in is not None

    await hub.start()
    assert await alice.session.ref.ask(RetryNow()) is True
    await alice.next_event(ev.Synced)
    assert alice.session.phase is ReconnectPhase.ONLINE


class CuttingProxy:
    """A TCP relay in front of the hub whose connections the test can cut at any moment."""

    def __init__(self, nursery: trio.Nursery, upstream_port: int) -> None:
        self._nursery = nursery
        self._upstream = upstream_port
        self._scopes: list[trio.CancelScope] = []
        self.port = 0

    async def start(self) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        self._nursery.start_soon(trio.serve_listeners, self._relay, listeners)

    def cut(self) -> None:
        for scope in self._scopes:
            scope.cancel()
        self._scopes.clear()

    async def _relay(self, client: trio.SocketStream) -> None:
        scope = trio.CancelScope()
        self._scopes.append(scope)
        with scope:
            upstream = await trio.open_tcp_stream("127.0.0.1", self._upstream)
            async with trio.open_nursery() as pipes:
                pipes.start_soon(pump, client, upstream)
                pipes.start_soon(pump, upstream, client)
        await trio.aclose_forcefully(client)


async def test_connections_cut_mid_conversation_lose_nothing(connect, hub, nursery):
    proxy = CuttingProxy(nursery, hub.port)
    await proxy.start()
    alice = await connect("alice", port=proxy.port)
    bob = await connect("bob", port=proxy.port)
    texts = [f"message {number}" for number in range(12)]
    for number, text in enumerate(texts):
        await alice.session.ref.ask(SendChat("general", text, 600))
        if number in (4, 8):
            proxy.cut()  # mid-conversation, whatever is in flight
    got = await received_texts(bob, len(texts))
    assert sorted(got) == sorted(texts)  # each exactly once (resends were dropped by id)
    await alice.session.ref.ask(SendChat("general", "the end", 600))
    assert await received_texts(bob, 1) == ["the end"]


async def test_signing_in_elsewhere_keeps_both_sessions_no_tug_of_war(connect):
    first = await connect("alice")
    second = await connect("alice")
    bob = await connect("bob")
    await bob.session.ref.ask(SendChat("general", "to both of you", 60))
    for alice in (first, second):
        got = await alice.next_event(ev.MessageReceived)
        assert got.message.text == "to both of you"
        assert alice.failure is None and not alice.done.is_set()
