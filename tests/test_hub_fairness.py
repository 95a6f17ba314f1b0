"""A member's flood is the flooder's problem: within the per-connection limits, 45 frames a
second of 200 KiB are throttled by the fan-out budget, and a member reading about 1 MB/s is
not called slow: the flooder's frames queue behind everyone else's and the excess is dropped
for that reader, who is told how many it missed (and the flooder who missed them)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed, WebSocketConnection

from gossip.hub import HubConfig, Limits, RunningHub
from gossip.wire import Error, ErrorCode, Message, Missed, MissedBy, decode_frame

from .rawmember import log_in, next_frame

FLOOD_SECONDS = 20
FLOOD_RATE = 45  # frames a second: within the default frames_per_second
FLOOD_BLOB = 200 * 1024
READ_BYTES_PER_SECOND = 1_000_000
HONEST_MESSAGES = FLOOD_SECONDS


@pytest.fixture
def hub_config(hub_config: HubConfig) -> HubConfig:
    return replace(hub_config, channels=("general",), limits=Limits())


@dataclass
class Story:
    flood_sent: int = 0
    refusals: list[Error] = field(default_factory=list)  # what mallory was told
    missed_by: list[MissedBy] = field(default_factory=list)  # ... and who missed what
    read_from: dict[str, int] = field(default_factory=dict)  # what the reader got, by sender
    missed: list[Missed] = field(default_factory=list)  # what it was told it missed
    reader_errors: list[Error] = field(default_factory=list)
    honest_done: bool = False
    changed: trio.Event = field(default_factory=trio.Event)

    def note(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    def accounted(self) -> bool:
        """Every flood frame was either refused to mallory, or read or reported missed by
        the reader; and the honest messages all arrived."""
        relayed = self.flood_sent - len(self.refusals)
        missed = sum(item.count for item in self.missed if item.sender == "mallory")
        return (self.honest_done and self.flood_sent == FLOOD_SECONDS * FLOOD_RATE
                and self.read_from.get("mallory", 0) + missed == relayed
                and self.read_from.get("alice", 0) == HONEST_MESSAGES)


async def _flood(ws: WebSocketConnection, story: Story) -> None:
    for number in range(FLOOD_SECONDS * FLOOD_RATE):
        await ws.send_message(Message(channel="general", blob=bytes(FLOOD_BLOB),
                                      ref=number.to_bytes(4, "big")).encode())
        story.flood_sent += 1
        story.note()
        await trio.sleep(1 / FLOOD_RATE)


async def _post_honestly(ws: WebSocketConnection, story: Story) -> None:
    for number in range(HONEST_MESSAGES):
        await ws.send_message(Message(channel="general", blob=b"hello %d" % number).encode())
        await trio.sleep(1)
    story.honest_done = True
    story.note()


async def _read_as_flooder(ws: WebSocketConnection, story: Story) -> None:
    while True:
        frame = await next_frame(ws)
        if isinstance(frame, Error):
            story.refusals.append(frame)
        elif isinstance(frame, MissedBy):
            story.missed_by.append(frame)
        story.note()


async def _read_everything(ws: WebSocketConnection) -> None:
    while True:
        await ws.get_message()


async def _read_at_one_megabyte_a_second(ws: WebSocketConnection, story: Story) -> None:
    try:
        while True:
            data = await ws.get_message()
            await trio.sleep(len(data) / READ_BYTES_PER_SECOND)
            frame = decode_frame(data)
            if isinstance(frame, Message) and frame.sender is not None:
                story.read_from[frame.sender] = story.read_from.get(frame.sender, 0) + 1
            elif isinstance(frame, Missed):
                story.missed.append(frame)
            elif isinstance(frame, Error):
                story.reader_errors.append(frame)
            story.note()
    except ConnectionClosed:
        story.note()


async def test_a_flooder_is_throttled_and_a_reader_at_1_mb_s_is_not_called_slow(
    nursery: trio.Nursery, hub: RunningHub, autojump_clock: trio.testing.MockClock,
) -> None:
    reader = await log_in(nursery, hub, "reader", receive_buffer=64 * 1024)
    alice = await log_in(nursery, hub, "alice")
    mallory = await log_in(nursery, hub, "mallory")
    story = Story()
    async with trio.open_nursery() as members:
        members.start_soon(_read_at_one_megabyte_a_second, reader, story)
        members.start_soon(_read_everything, alice)
        members.start_soon(_read_as_flooder, mallory, story)
        members.start_soon(_flood, mallory, story)
        members.start_soon(_post_honestly, alice, story)
        with trio.fail_after(FLOOD_SECONDS * 10):
            while not story.accounted() and not story.reader_errors:
                await story.changed.wait()
        members.cancel_scope.cancel()

    # The reader kept up with what was fairly its share, and stayed.
    assert story.reader_errors == []
    assert hub.registry.online("reader")
    assert story.read_from["alice"] == HONEST_MESSAGES
    # The flooder was throttled: refused by its fan-out budget, each refusal naming the frame
    # and saying when to retry.
    codes = {refusal.code for refusal in story.refusals}
    assert ErrorCode.BUDGET in codes and codes <= {ErrorCode.BUDGET, ErrorCode.CHANNEL_RATE}
    refs = [int.from_bytes(refusal.ref or b"", "big") for refusal in story.refusals]
    assert len(set(refs)) == len(refs) and all(0 <= ref < story.flood_sent for ref in refs)
    assert all(refusal.retry_after is not None and refusal.retry_after >= 0
               for refusal in story.refusals)
    relayed = story.flood_sent - len(story.refusals)
    assert relayed < story.flood_sent / 2
    # What the slower reader could not take of the flood was dropped for it alone, and both
    # sides were told: the reader how many it missed, the flooder that the reader missed them.
    missed = sum(item.count for item in story.missed)
    assert missed > 0 and {item.sender for item in story.missed} == {"mallory"}
    assert story.read_from["mallory"] + missed == relayed
    assert sum(item.count for item in story.missed_by) == missed
    assert {item.user for item in story.missed_by} == {"reader"}
