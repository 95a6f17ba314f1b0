"""Joint exploration of two machines that talk over one in-order connection.

The explorer runs both real machines (through `Probe`) breadth-first over their joint states,
frames in flight included, and reports deadlocks, frames that arrive where they are not
expected, and runs that can never finish. How frames travel:
- a `Send(command)` puts that frame at the back of the queue towards the other side, which
  receives it as the event its `wire_events` maps to that command;
- a `Close` sends an `err` frame (the close notice: a machine without an event for `err`
  just learns of the close) and then the end of the connection, which the other side
  receives as `disconnected`; frames still travelling towards the closed side are lost;
- a frame that reaches a machine already in a final state goes to the next phase's machine
  and is dropped here.
The pair's kickoff events start every run, in the order listed. After them, owner events are
fired whenever the machine's state accepts them: local requests (while the queue they feed
stays within the depth bound) and at most one fault (`timeout`, `disconnected`) per run.
Deadlocks and endless runs are judged on runs without a fault: a fault is what timeouts and
reconnects exist to repair.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace

from gossip.wire import Command

from ..actions import Close, Send
from ..base import ProtocolMachine
from ..registry import Pair
from .model import Edge
from .probe import MachineCrashed, Outcome, Probe
from .rules import Finding

FAULT_EVENTS = frozenset({"timeout", "disconnected"})
CLOSE_EVENT = "disconnected"  # how an actor tells its machine that the connection ended
CLOSE_NOTICE = Command.ERROR.value
END_OF_STREAM = "<end of connection>"
MAX_FINDINGS_PER_RULE = 5
PAIR_RULES = {
    "deadlock": "nothing in flight, no local request possible, and not both at an end",
    "unexpected": "no frame (or end of connection) arrives where it is not handled",
    "never-finishes": "from every joint state an end can still be reached",
    "crash": "neither machine raises anything but ProtocolViolation",
    "bound": "the exploration finished within its bounds",
    "declaration": "the pair names registered machines and kickoff events they accept",
}
MAX_LOOP_SEARCHES = 50  # endless states tried when looking for the loop to show


@dataclass(frozen=True)
class Bounds:
    """How far the exploration goes before it stops and says so."""

    max_states: int = 20_000
    depth: int = 4  # frames in flight per direction beyond which local requests wait


DEFAULT_BOUNDS = Bounds()


@dataclass(frozen=True)
class Joint:
    """Both machines' states, whether each end has closed, and the frames travelling to each."""

    states: tuple[str, str]
    closed: tuple[bool, bool] = (False, False)
    inbound: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())  # [i]: frames on their way to i
    faulted: bool = False
    started: int = 0  # how many of the pair's kickoff events have fired


@dataclass(frozen=True)
class SideCoverage:
    """How much of one machine the conversation exercised."""

    label: str
    states_seen: frozenset[str]
    states: tuple[str, ...]
    edges_seen: frozenset[Edge]
    edges: tuple[Edge, ...]
    events_received: frozenset[str]
    wire_events: tuple[str, ...]

    @property
    def unexercised(self) -> tuple[Edge, ...]:
        return tuple(edge for edge in self.edges if edge not in self.edges_seen)


@dataclass(frozen=True)
class PairReport:
    """What the exploration of one pair covered and found."""

    pair: Pair
    bounds: Bounds
    joint_states: int = 0
    joint_transitions: int = 0
    pruned: int = 0  # local requests not fired because a queue was at the depth bound
    complete: bool = True  # False when `max_states` stopped the exploration
    sides: tuple[SideCoverage, ...] = ()
    findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Move:
    label: str
    target: Joint | None  # None when the move ended in a finding
    fault: bool = False
    finding: tuple[str, str] | None = None  # (rule, message)
    edge: tuple[int, Edge] | None = None  # (side, edge exercised)
    received: tuple[int, str] | None = None  # (side, event delivered from the wire)


@dataclass
class _Explorer:
    pair: Pair
    probes: tuple[Probe, Probe]
    bounds: Bounds
    labels: tuple[str, str]
    kickoff: tuple[tuple[int, str], ...]  # (side, event), in firing order
    parents: dict[Joint, tuple[Joint, str] | None] = field(default_factory=dict)
    moves: dict[Joint, list[_Move]] = field(default_factory=dict)
    pruned: int = 0

    @property
    def kickoff_events(self) -> frozenset[str]:
        return frozenset(event for _, event in self.kickoff)

    # -- the moves out of one joint state ---------------------------------------------------
    def successors(self, joint: Joint) -> Iterator[_Move]:
        if joint.started < len(self.kickoff):
            side, event = self.kickoff[joint.started]
            if not self.probes[side].spec.handles(joint.states[side], event):
                yield _Move(f"kickoff {event}", None, finding=("declaration", (
                    f"kickoff event {event!r} is not accepted by {self.labels[side]} in "
                    f"{joint.states[side]!r}")))
                return
            yield from self.fire(replace(joint, started=joint.started + 1), side, event,
                                 "kickoff: ")
            return
        for side in (0, 1):
            if joint.inbound[side]:
                yield from self.deliveries(joint, side)
            if not joint.closed[side]:
                yield from self.owner_moves(joint, side)

    def deliveries(self, joint: Joint, side: int) -> Iterator[_Move]:
        item, rest = joint.inbound[side][0], joint.inbound[side][1:]
        after = _with(joint, side, inbound=rest)
        spec = self.probes[side].spec
        state = joint.states[side]
        who = f"{self.labels[side]} in {state!r}"
        if joint.closed[side] or state in spec.finals:
            why = "closed" if joint.closed[side] else "finished"
            yield _Move(f"{self.labels[side]} drops `{item}` ({why})", after)
            return
        if item == END_OF_STREAM:
            if spec.handles(state, CLOSE_EVENT):
                yield from self.fire(after, side, CLOSE_EVENT, "the connection ends: ")
            elif CLOSE_EVENT in spec.events:
                yield _Move(f"the connection ends while {who}", None, finding=(
                    "unexpected",
                    f"the connection ends while {who}, which does not handle {CLOSE_EVENT!r}"))
            else:
                yield _Move(f"the connection ends unnoticed by {who}", after)
            return
        event = spec.event_for_command.get(item)
        if event is None:
            if item == CLOSE_NOTICE:
                yield _Move(f"{self.labels[side]} takes `{item}` as a close notice", after)
            else:
                yield _Move(f"`{item}` reaches {who}", None, finding=(
                    "unexpected",
                    f"`{item}` reaches {who}, but {spec.name} has no event for that command"))
            return
        yield from self.fire(after, side, event, f"`{item}` reaches {self.labels[side]}: ",
                             frame=item)

    def owner_moves(self, joint: Joint, side: int) -> Iterator[_Move]:
        spec = self.probes[side].spec
        state = joint.states[side]
        for event in spec.owner_events:
            if event in self.kickoff_events or not spec.handles(state, event):
                continue
            if event in FAULT_EVENTS:
                if not joint.faulted:
                    yield from self.fire(replace(joint, faulted=True), side, event, "fault: ",
                                         fault=True)
            else:
                for move in self.fire(joint, side, event, "request: "):
                    other = move.target.inbound[1 - side] if move.target else ()
                    if len(other) > self.bounds.depth:
                        self.pruned += 1
                    else:
                        yield move

    def fire(self, joint: Joint, side: int, event: str, prefix: str, frame: str | None = None,
             fault: bool = False) -> Iterator[_Move]:
        probe = self.probes[side]
        state = joint.states[side]
        try:
            outcomes = probe.outcomes(state, event)
        except MachineCrashed as crash:
            yield _Move(f"{prefix}{event}", None, finding=("crash", str(crash)))
            return
        for outcome in outcomes:
            label = prefix + self.describe(side, outcome)
            received = (side, event) if frame is not None else None
            if outcome.refused:
                if frame is None:  # an owner event the guards leave undecided: rules report it
                    continue
                message = (f"`{frame}` arrives as {event!r} at {self.labels[side]} in state "
                           f"{state!r}, which does not expect it")
                yield _Move(label, None, finding=("unexpected", message), received=received)
                continue
            edge = (side, outcome.edge) if outcome.edge is not None else None
            yield _Move(label, _apply(joint, side, outcome), fault=fault, edge=edge,
                        received=received)

    def describe(self, side: int, outcome: Outcome) -> str:
        text = f"{self.labels[side]} {outcome.step} in {outcome.source!r}"
        if outcome.refused:
            return f"{text}: refused"
        text += f" -> {outcome.target!r}"
        sent = [f"`{action.command.value}`" for action in outcome.actions
                if isinstance(action, Send)]
        if sent:
            text += f", sends {' '.join(sent)}"
        if any(isinstance(action, Close) for action in outcome.actions):
            text += ", closes"
        return text

    # -- the search -------------------------------------------------------------------------
    def run(self) -> tuple[bool, int]:
        start = Joint((self.probes[0].spec.initial, self.probes[1].spec.initial))
        self.parents[start] = None
        queue = deque([start])
        transitions = 0
        while queue:
            joint = queue.popleft()
            self.moves[joint] = list(self.successors(joint))
            for move in self.moves[joint]:
                transitions += 1
                if move.target is None or move.target in self.parents:
                    continue
                if len(self.parents) >= self.bounds.max_states:
                    return False, transitions
                self.parents[move.target] = (joint, move.label)
                queue.append(move.target)
        return True, transitions

    def trace(self, joint: Joint, last: str | None = None) -> tuple[str, ...]:
        steps: list[str] = [last] if last else []
        link = self.parents[joint]
        while link is not None:
            joint, label = link
            steps.append(label)
            link = self.parents[joint]
        return tuple(reversed(steps))

    def at_end(self, joint: Joint) -> bool:
        """Nothing in flight and each side finished, resting, or closed."""
        return not any(joint.inbound) and all(
            joint.closed[side] or joint.states[side] in self.probes[side].spec.ends
            for side in (0, 1))

    def stuck(self, joint: Joint) -> bool:
        """Started, nothing in flight, no local request possible: only a timer could help."""
        if joint.started < len(self.kickoff) or any(joint.inbound):
            return False
        return not any(
            self.probes[side].spec.handles(joint.states[side], event)
            for side in (0, 1) if not joint.closed[side]
            for event in self.probes[side].spec.owner_events if event not in FAULT_EVENTS)


def explore_pair(pair: Pair, machines: Mapping[str, type[ProtocolMachine]],
                 bounds: Bounds = DEFAULT_BOUNDS) -> PairReport:
    """Explore one pair's joint states within `bounds`; report coverage and findings."""
    missing = [name for name in (pair.left, pair.right) if name not in machines]
    if missing:
        finding = Finding("declaration", pair.name,
                          f"pair {pair.name!r} names unknown machine(s): {', '.join(missing)}")
        return PairReport(pair, bounds, findings=(finding,))
    labels = (pair.left, pair.right) if pair.left != pair.right else (
        f"{pair.left} (left)", f"{pair.right} (right)")
    probes = (Probe(machines[pair.left]), Probe(machines[pair.right]))
    names = (pair.left, pair.right)
    kickoff = tuple((side, event) for name, event in pair.kickoff
                    for side in (0, 1) if name in (names[side], ("left", "right")[side]))
    explorer = _Explorer(pair, probes, bounds, labels, kickoff)
    complete, transitions = explorer.run()
    findings = list(_findings(explorer, complete))
    sides = tuple(_coverage(explorer, side) for side in (0, 1))
    return PairReport(
        pair, bounds, joint_states=len(explorer.parents), joint_transitions=transitions,
        pruned=explorer.pruned, complete=complete, sides=sides, findings=tuple(findings),
        notes=tuple(_notes(explorer, sides)))


def _findings(explorer: _Explorer, complete: bool) -> Iterator[Finding]:
    name = explorer.pair.name
    counts: dict[str, int] = {}
    seen: set[str] = set()

    def finding(rule: str, message: str, trace: tuple[str, ...]) -> Iterator[Finding]:
        if message in seen:
            return
        seen.add(message)
        counts[rule] = counts.get(rule, 0) + 1
        if counts[rule] <= MAX_FINDINGS_PER_RULE:
            yield Finding(rule, name, message, trace)

    explained: set[Joint] = set()  # joints whose trouble a finding already reports
    for joint, moves in explorer.moves.items():
        for move in moves:
            if move.finding is not None:
                explained.add(joint)
                yield from finding(*move.finding, explorer.trace(joint, move.label))
    if not complete:
        yield Finding("bound", name, (
            f"exploration stopped at {explorer.bounds.max_states} joint states: raise the "
            "bound (--max-states) to cover the rest; deadlocks and endless runs not judged"))
        return
    healthy = [joint for joint in explorer.moves if not joint.faulted]
    deadlocks = {joint for joint in healthy
                 if explorer.stuck(joint) and not explorer.at_end(joint)}
    for joint in sorted(deadlocks, key=lambda j: len(explorer.trace(j))):
        waits = " and ".join(
            f"{explorer.labels[side]} waits in {joint.states[side]!r}" for side in (0, 1)
            if not joint.closed[side]
            and joint.states[side] not in explorer.probes[side].spec.ends)
        yield from finding("deadlock", f"deadlock: {waits}, with nothing in flight",
                           explorer.trace(joint))
    # A run never finishes when no end, deadlock or reported failure is reachable from it.
    settled = {joint for joint in healthy if explorer.at_end(joint)} | deadlocks | explained
    can_settle = _backward_closure(explorer, settled)
    endless = [joint for joint in healthy if joint not in can_settle]
    if endless:
        entry, loop = _first_loop(explorer, sorted(endless, key=lambda j: len(explorer.trace(j))))
        states = " and ".join(f"{explorer.labels[side]} in {entry.states[side]!r}"
                              for side in (0, 1))
        yield from finding("never-finishes", (
            f"{len(endless)} joint state(s) can never reach an end; the run below reaches "
            f"{states} with {sum(map(len, entry.inbound))} frame(s) in flight, then repeats "
            f"its last {len(loop)} step(s) forever"), explorer.trace(entry) + loop)
    for rule, count in counts.items():
        if count > MAX_FINDINGS_PER_RULE:
            yield Finding(rule, name, f"... and {count - MAX_FINDINGS_PER_RULE} more {rule} "
                          "finding(s) like the ones above")


def _first_loop(explorer: _Explorer, candidates: list[Joint]) -> tuple[Joint, tuple[str, ...]]:
    """The first candidate that lies on a cycle, with the steps that lead back to it."""
    for start in candidates[:MAX_LOOP_SEARCHES]:
        back: dict[Joint, tuple[Joint, str]] = {}
        queue = deque([start])
        while queue:
            joint = queue.popleft()
            for move in explorer.moves.get(joint, ()):
                if move.target is None or move.fault or move.target in back:
                    continue
                back[move.target] = (joint, move.label)
                if move.target == start:
                    steps: list[str] = []
                    at = start
                    while True:
                        at, label = back[at]
                        steps.append(label)
                        if at == start:
                            return start, tuple(reversed(steps))
                queue.append(move.target)
    return candidates[0], ()


def _backward_closure(explorer: _Explorer, targets: set[Joint]) -> set[Joint]:
    predecessors: dict[Joint, set[Joint]] = {}
    for joint, moves in explorer.moves.items():
        for move in moves:
            if move.target is not None and not move.fault:
                predecessors.setdefault(move.target, set()).add(joint)
    reached = set(targets)
    frontier = list(targets)
    while frontier:
        for before in predecessors.get(frontier.pop(), ()):
            if before not in reached:
                reached.add(before)
                frontier.append(before)
    return reached


def _coverage(explorer: _Explorer, side: int) -> SideCoverage:
    spec = explorer.probes[side].spec
    moves = [move for moves in explorer.moves.values() for move in moves]
    return SideCoverage(
        label=explorer.labels[side],
        states_seen=frozenset(joint.states[side] for joint in explorer.parents),
        states=spec.states,
        edges_seen=frozenset(move.edge[1] for move in moves
                             if move.edge is not None and move.edge[0] == side),
        edges=spec.edges,
        events_received=frozenset(move.received[1] for move in moves
                                  if move.received is not None and move.received[0] == side),
        wire_events=tuple(spec.wire_events),
    )


def _notes(explorer: _Explorer, sides: tuple[SideCoverage, ...]) -> Iterator[str]:
    for side, coverage in enumerate(sides):
        other = explorer.labels[1 - side]
        for event in coverage.wire_events:
            if event not in coverage.events_received:
                command = explorer.probes[side].spec.wire_events[event]
                yield (f"{coverage.label} accepts `{command}` as {event!r}, but {other} never "
                       "sends it in this conversation")


def _with(joint: Joint, side: int, *, state: str | None = None, closed: bool | None = None,
          inbound: tuple[str, ...] | None = None) -> Joint:
    states = list(joint.states)
    closes = list(joint.closed)
    queues = list(joint.inbound)
    if state is not None:
        states[side] = state
    if closed is not None:
        closes[side] = closed
    if inbound is not None:
        queues[side] = inbound
    return replace(joint, states=(states[0], states[1]), closed=(closes[0], closes[1]),
                   inbound=(queues[0], queues[1]))


def _apply(joint: Joint, side: int, outcome: Outcome) -> Joint:
    """The joint state after one side's transition: its new state and what it sent."""
    other = 1 - side
    result = _with(joint, side, state=outcome.target)
    for action in outcome.actions:
        if result.closed[side]:
            break
        if isinstance(action, Send):
            result = _with(result, other, inbound=(*result.inbound[other], action.command.value))
        elif isinstance(action, Close):
            result = _with(result, other,
                           inbound=(*result.inbound[other], CLOSE_NOTICE, END_OF_STREAM))
            result = _with(result, side, closed=True, inbound=())
    return result
