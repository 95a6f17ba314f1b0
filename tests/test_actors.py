"""The actor runtime: messages, back-pressure, supervision and restart intensity.

Time-sensitive tests run on trio's MockClock; tasks are synchronised with trio primitives only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import pytest
import trio
import trio.testing

from gossip.actors import (
    Actor,
    ActorFailed,
    ActorRef,
    ActorStopped,
    ChildSpec,
    InboxFull,
    Restart,
    RestartIntensityExceeded,
    StartChild,
    StopChild,
    Supervisor,
    open_actor,
    run_actor,
)


class Counter(Actor):
    """Counts "inc"; answers "get"; crashes on "boom"; ends normally on "quit"."""

    def __init__(self, log: list[str] | None = None) -> None:
        self.count = 0
        self.log = log if log is not None else []

    async def started(self) -> None:
        self.log.append("started")

    async def stopped(self) -> None:
        self.log.append("stopped")

    async def receive(self, message: object) -> object:
        match message:
            case "inc":
                self.count += 1
            case "get":
                return self.count
            case "boom":
                raise ValueError("boom")
            case "quit":
                self.stop()
        return None


class Counters:
    """A ChildSpec factory that keeps every Counter it makes, all sharing one log."""

    def __init__(self) -> None:
        self.made: list[Counter] = []
        self.log: list[str] = []

    def __call__(self) -> Counter:
        self.made.append(Counter(self.log))
        return self.made[-1]


class Gate(Actor):
    """Holds each message at a gate until the test opens it; answers "seen" at once."""

    inbox_size = 2

    def __init__(self) -> None:
        self.entered = trio.Event()
        self.opened = trio.Event()
        self.seen: list[object] = []
        self.was_stopped = False

    async def receive(self, message: object) -> object:
        if message == "seen":
            return list(self.seen)
        self.entered.set()
        await self.opened.wait()
        self.seen.append(message)
        return None

    async def stopped(self) -> None:
        self.was_stopped = True


class CrashesAtOnce(Actor):
    async def main(self) -> None:
        raise ValueError("always")


class FailsToStart(Actor):
    async def started(self) -> None:
        raise OSError("port in use")


@asynccontextmanager
async def running(supervisor: Supervisor) -> AsyncIterator[Supervisor]:
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        yield supervisor
        nursery.cancel_scope.cancel()


async def crash(ref: ActorRef) -> None:
    """Crash the actor behind `ref` and wait until its restarted instance serves the ref."""
    with pytest.raises(ActorFailed):
        await ref.ask("boom")
    await ref.ask("get")


# --- messages ---------------------------------------------------------------------------


async def test_tell_then_ask_round_trip() -> None:
    async with open_actor(Counter()) as ref:
        for _ in range(3):
            await ref.tell("inc")
        assert await ref.ask("get") == 3


async def test_run_actor_lives_in_the_callers_nursery_until_cancelled() -> None:
    log: list[str] = []
    async with trio.open_nursery() as nursery:
        ref = await nursery.start(run_actor, Counter(log))
        assert ref.name == "Counter"
        await ref.tell("inc")
        assert await ref.ask("get") == 1
        nursery.cancel_scope.cancel()
    assert log == ["started", "stopped"]
    with pytest.raises(ActorStopped):
        await ref.ask("get")


async def test_an_unsupervised_crash_propagates_as_the_actors_own_exception() -> None:
    with pytest.raises(ValueError, match="always"):
        await run_actor(CrashesAtOnce())


async def test_open_actor_lets_the_blocks_own_exception_through_unwrapped() -> None:
    log: list[str] = []
    with pytest.raises(KeyError):
        async with open_actor(Counter(log)):
            raise KeyError("not a trio ExceptionGroup")
    assert log == ["started", "stopped"]


async def test_tell_waits_while_the_inbox_is_full_and_tell_nowait_refuses() -> None:
    gate = Gate()
    async with open_actor(gate) as ref:
        await ref.tell("first")
        await gate.entered.wait()  # "first" is out of the inbox, held at the gate
        await ref.tell("second")
        await ref.tell("third")  # the inbox (2) is now full
        with pytest.raises(InboxFull):
            ref.tell_nowait("dropped")

        delivered = trio.Event()

        async def tell_fourth() -> None:
            await ref.tell("fourth")
            delivered.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(tell_fourth)
            await trio.testing.wait_all_tasks_blocked()
            assert not delivered.is_set()  # back-pressure: the sender waits
            gate.opened.set()
        assert await ref.ask("seen") == ["first", "second", "third", "fourth"]


async def test_an_unanswered_ask_times_out_with_fail_after(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_actor(Gate()) as ref:
        with pytest.raises(trio.TooSlowError):
            with trio.fail_after(5):
                await ref.ask("held at the gate forever")


async def test_tell_threadsafe_delivers_and_raises_inbox_full_instead_of_blocking() -> None:
    gate = Gate()
    async with open_actor(gate) as ref:
        await trio.to_thread.run_sync(ref.tell_threadsafe, "from the ui")
        await gate.entered.wait()  # taken from the inbox, held at the gate
        await ref.tell("second")
        await ref.tell("third")  # full
        with pytest.raises(InboxFull):
            await trio.to_thread.run_sync(ref.tell_threadsafe, "dropped")
        gate.opened.set()
        assert await ref.ask("seen") == ["from the ui", "second", "third"]


# --- supervision ------------------------------------------------------------------------


async def test_ask_to_a_crashing_actor_raises_actor_failed_and_it_is_restarted() -> None:
    counters = Counters()
    supervisor = Supervisor([ChildSpec("worker", counters)])
    async with running(supervisor):
        worker = supervisor.children["worker"]
        await worker.tell("inc")
        with pytest.raises(ActorFailed) as failed:
            await worker.ask("boom")
        assert isinstance(failed.value.__cause__, ValueError)
        assert await worker.ask("get") == 0  # the same ref reaches a fresh instance
        assert supervisor.children["worker"] is worker
        assert supervisor.restarts["worker"] == 1
        assert counters.log == ["started", "stopped", "started"]


async def test_messages_queued_behind_a_crash_reach_the_restarted_actor() -> None:
    supervisor = Supervisor([ChildSpec("worker", Counter)])
    async with running(supervisor):
        worker = supervisor.children["worker"]
        await worker.tell("boom")
        await worker.tell("inc")
        await worker.tell("inc")
        assert await worker.ask("get") == 2


async def test_one_for_one_leaves_siblings_and_their_state_alone() -> None:
    steady = Counters()
    supervisor = Supervisor([ChildSpec("flaky", Counter), ChildSpec("steady", steady)])
    async with running(supervisor):
        await supervisor.children["steady"].tell("inc")
        await crash(supervisor.children["flaky"])
        await crash(supervisor.children["flaky"])
        assert await supervisor.children["steady"].ask("get") == 1
        assert steady.log == ["started"]
        assert supervisor.restarts == {"flaky": 2}


async def test_a_temporary_child_is_not_restarted() -> None:
    supervisor = Supervisor([ChildSpec("conn", Counter, Restart.TEMPORARY)])
    async with running(supervisor):
        conn = supervisor.children["conn"]
        with pytest.raises(ActorFailed):
            await conn.ask("boom")
        await trio.testing.wait_all_tasks_blocked()
        assert "conn" not in supervisor.children
        assert supervisor.restarts["conn"] == 0
        with pytest.raises(ActorStopped):
            await conn.tell("inc")


async def test_transient_restarts_only_after_a_crash_and_permanent_always() -> None:
    supervisor = Supervisor(
        [ChildSpec("job", Counter, Restart.TRANSIENT), ChildSpec("service", Counter)]
    )
    async with running(supervisor):
        job, service = supervisor.children["job"], supervisor.children["service"]
        await crash(job)
        assert supervisor.restarts["job"] == 1
        await job.tell("quit")
        await service.tell("quit")
        assert await service.ask("get") == 0  # a permanent child comes back after a clean end
        await trio.testing.wait_all_tasks_blocked()
        assert "job" not in supervisor.children  # a transient one that ended cleanly does not
        assert supervisor.restarts == {"job": 1, "service": 1}


async def test_a_crashing_helper_task_crashes_and_restarts_its_actor() -> None:
    class Linked(Actor):
        async def started(self) -> None:
            self.trouble = trio.Event()
            self.nursery.start_soon(self._watch_link)

        async def _watch_link(self) -> None:
            await self.trouble.wait()
            raise OSError("link down")

        async def receive(self, message: object) -> object:
            self.trouble.set()
            return None

    supervisor = Supervisor([ChildSpec("link", Linked)])
    async with running(supervisor):
        await supervisor.children["link"].tell("trouble")
        await trio.testing.wait_all_tasks_blocked()
        assert supervisor.restarts["link"] == 1


async def test_stop_child_runs_stopped_and_answers_waiting_asks_with_actor_stopped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gate = Gate()
    supervisor = Supervisor([ChildSpec("gate", lambda: gate)])
    refused: list[str] = []

    async def ask(ref: ActorRef, message: str) -> None:
        # An ask left unanswered would hang; on the mock clock it fails at once instead.
        with trio.fail_after(60), pytest.raises(ActorStopped):
            await ref.ask(message)
        refused.append(message)

    async with running(supervisor):
        ref = supervisor.children["gate"]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask, ref, "in hand")
            await gate.entered.wait()
            nursery.start_soon(ask, ref, "queued")
            await trio.testing.wait_all_tasks_blocked()
            await supervisor.stop_child("gate")
        assert sorted(refused) == ["in hand", "queued"]
        assert gate.was_stopped
        assert "gate" not in supervisor.children
        with pytest.raises(ActorStopped):
            await ref.tell("late")
        await supervisor.stop_child("gate")  # already gone: not an error


async def test_a_child_whose_stopped_hook_raises_during_stop_is_not_restarted() -> None:
    class MessyStop(Counter):
        async def stopped(self) -> None:
            await super().stopped()
            raise OSError("close failed")

    counters: list[str] = []
    supervisor = Supervisor([ChildSpec("messy", partial(MessyStop, counters))])
    async with running(supervisor):
        await supervisor.stop_child("messy")
        assert counters == ["started", "stopped"]
        assert supervisor.restarts["messy"] == 0


async def test_a_child_that_fails_to_start_raises_from_start_child_and_is_not_added() -> None:
    supervisor = Supervisor()
    async with running(supervisor):
        with pytest.raises(OSError, match="port in use"):
            await supervisor.start_child(ChildSpec("listener", FailsToStart))
        assert "listener" not in supervisor.children
        assert supervisor.restarts["listener"] == 0
        await supervisor.start_child(ChildSpec("listener", Counter))  # the name is free
        with pytest.raises(ValueError, match="already has a child"):
            await supervisor.start_child(ChildSpec("listener", Counter))


async def test_a_child_stopped_while_starting_makes_start_child_raise_actor_stopped() -> None:
    entered = trio.Event()

    class SlowStarter(Actor):
        async def started(self) -> None:
            entered.set()
            await trio.sleep_forever()  # e.g. a connect that never completes

    supervisor = Supervisor()
    async with running(supervisor):
        async with trio.open_nursery() as nursery:

            async def start() -> None:
                with pytest.raises(ActorStopped):
                    await supervisor.start_child(ChildSpec("slow", SlowStarter))

            nursery.start_soon(start)
            await entered.wait()
            await supervisor.stop_child("slow")
        assert "slow" not in supervisor.children


async def test_a_supervisors_ref_starts_and_stops_children_by_message() -> None:
    supervisor = Supervisor()
    async with running(supervisor):
        child = await supervisor.ref.ask(StartChild(ChildSpec("late", Counter)))
        await child.tell("inc")
        assert await child.ask("get") == 1
        await supervisor.ref.ask(StopChild("late"))
        assert "late" not in supervisor.children


# --- restart intensity ------------------------------------------------------------------


async def test_exceeding_restart_intensity_stops_the_children_and_raises_from_run(
    autojump_clock: trio.testing.MockClock,
) -> None:
    bystander = Counters()
    supervisor = Supervisor(
        [ChildSpec("bystander", bystander), ChildSpec("doomed", CrashesAtOnce)],
        max_restarts=2,
        period=60,
    )
    with pytest.raises(RestartIntensityExceeded) as exceeded:
        await supervisor.run()
    assert isinstance(exceeded.value.__cause__, ValueError)
    assert supervisor.restarts == {"doomed": 2}
    assert bystander.log == ["started", "stopped"]
    assert supervisor.children == {}


async def test_children_crashing_together_past_the_limit_raise_one_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    go = trio.Event()

    class CrashesOnCue(Actor):
        async def main(self) -> None:
            await go.wait()
            raise ValueError("together")

    supervisor = Supervisor(
        [ChildSpec(name, CrashesOnCue) for name in ("a", "b", "c")], max_restarts=0
    )
    with pytest.RaisesGroup(RestartIntensityExceeded):  # one, not a group of three
        async with trio.open_nursery() as nursery:
            nursery.start_soon(supervisor.run)
            await trio.testing.wait_all_tasks_blocked()
            go.set()


async def test_the_restart_window_slides_with_trio_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    supervisor = Supervisor([ChildSpec("worker", Counter)], max_restarts=2, period=10)
    with pytest.RaisesGroup(RestartIntensityExceeded):
        async with running(supervisor):
            worker = supervisor.children["worker"]
            await crash(worker)
            await crash(worker)  # two restarts at t=0: the limit
            autojump_clock.jump(11)
            await crash(worker)
            await crash(worker)  # allowed again: the first two have left the window
            assert supervisor.restarts["worker"] == 4
            with pytest.raises(ActorFailed):
                await worker.ask("boom")  # a third within 10 s
            await trio.sleep_forever()  # until the supervisor's failure ends this block


async def test_a_nested_supervisor_that_gives_up_is_restarted_by_its_parent() -> None:
    inners: list[Supervisor] = []

    def make_inner() -> Supervisor:
        inners.append(Supervisor([ChildSpec("worker", Counter)], max_restarts=0))
        return inners[-1]

    sibling = Counters()
    parent = Supervisor([ChildSpec("inner", make_inner), ChildSpec("sibling", sibling)])
    async with running(parent):
        await parent.children["sibling"].tell("inc")
        old_worker = inners[0].children["worker"]
        with pytest.raises(ActorFailed):
            await old_worker.ask("boom")
        await trio.testing.wait_all_tasks_blocked()
        assert parent.restarts == {"inner": 1}
        assert len(inners) == 2
        with pytest.raises(ActorStopped):
            await old_worker.tell("inc")
        assert await inners[1].children["worker"].ask("get") == 0
        assert await parent.children["sibling"].ask("get") == 1
        assert sibling.log == ["started"]


async def test_a_parent_out_of_restarts_fails_upward(
    autojump_clock: trio.testing.MockClock,
) -> None:
    def make_inner() -> Supervisor:
        return Supervisor([ChildSpec("doomed", CrashesAtOnce)], max_restarts=1)

    parent = Supervisor([ChildSpec("inner", make_inner)], max_restarts=1)
    with pytest.raises(RestartIntensityExceeded) as exceeded:
        await parent.run()
    assert isinstance(exceeded.value.__cause__, RestartIntensityExceeded)
    assert parent.restarts == {"inner": 1}


# --- scale ------------------------------------------------------------------------------


async def test_a_thousand_dynamic_children_start_and_stop() -> None:
    log: list[str] = []
    supervisor = Supervisor()
    async with running(supervisor):
        refs = [
            await supervisor.start_child(
                ChildSpec(f"conn-{i}", partial(Counter, log), Restart.TEMPORARY)
            )
            for i in range(1000)
        ]
        assert len(supervisor.children) == 1000
        for ref in refs:
            await ref.tell("inc")
        assert [await ref.ask("get") for ref in refs] == [1] * 1000
        for i in range(500):
            await supervisor.stop_child(f"conn-{i}")
        assert len(supervisor.children) == 500
    # leaving `running` cancelled the supervisor: the other 500 were stopped too
    assert log.count("started") == log.count("stopped") == 1000
    assert supervisor.children == {}
    assert supervisor.restarts.total() == 0


class BreaksOnTeardown(Actor):
    """A helper task that fails as it is cancelled, as a peer link breaking while its call is
    torn down does."""

    async def started(self) -> None:
        self.nursery.start_soon(self._link)

    async def _link(self) -> None:
        try:
            await trio.sleep_forever()
        finally:
            raise ValueError("the link broke on the way down")


async def test_a_failure_racing_the_actors_cancellation_lets_the_cancel_end_quietly() -> None:
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(run_actor, BreaksOnTeardown()))
            await trio.testing.wait_all_tasks_blocked()
            scope.cancel()
    assert scope.cancelled_caught
