"""A relay that cannot listen (`python -m gossip.relay`, its own process): four participants
on loopback each hear the other three through it, not themselves; what it forwards is sealed
(it does not decode as anyone's voice), and the relay's code holds no frame key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trio
from trio_websocket import open_websocket_url

from gossip.client.relaylink import Heard, RelayLink
from gossip.media.format import FRAME_SAMPLES
from gossip.media.framecrypt import CallFrames
from gossip.media.loop import open_media_loop
from gossip.media.rtpheader import HEADER, Incoming
from gossip.relay.room import SenderBudget
from gossip.relay.server import RelayConfig, run_relay
from gossip.relay.slots import SlotStream
from gossip.wire.relay import (
    MAX_MESSAGE_BYTES,
    Answer,
    Join,
    Refused,
    RelayProtocolError,
    Slot,
    decode,
    encode,
    make_ticket,
    read_relay_secret,
    ticket_admits,
)

from .test_media_framecrypt import decoded_audio, magnitude_at, prominence, sealed_side
from .test_media_links import BOUND, LOOPBACK, Side, hear

TONES = {"ann": 300.0, "ben": 500.0, "cat": 700.0, "dan": 900.0}


@asynccontextmanager
async def relay_process(workdir: Path) -> AsyncIterator[dict[str, Any]]:
    """`python -m gossip.relay` on loopback; its JSON line, its pid and its secret."""
    process = await trio.lowlevel.open_process(
        [
            sys.executable,
            "-m",
            "gossip.relay",
            "--ice-host",
            "127.0.0.1",
            "--secret-file",
            str(workdir / "relay-secret"),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = b""
        with trio.fail_after(BOUND):
            while not line.endswith(b"\n"):
                chunk = await process.stdout.receive_some(1)
                if not chunk:
                    pytest.fail("the relay ended before it listened")
                line += chunk
        info = json.loads(line)
        info["pid"] = process.pid
        info["secret"] = read_relay_secret(info["secret_file"])
        yield info
    finally:
        process.terminate()
        with trio.move_on_after(5):
            await process.wait()
        process.kill()


async def test_four_hear_each_other_through_a_relay_that_cannot_listen(tmp_path: Path) -> None:
    async with relay_process(tmp_path) as relay, open_media_loop(), trio.open_nursery() as nursery:
        sides: dict[str, Side] = {}
        frames: dict[str, CallFrames] = {}
        links: dict[str, RelayLink] = {}
        for name, hz in TONES.items():
            sides[name], frames[name] = await sealed_side(nursery, name, hz)
        # Keys go member to member (a call hands them over sealed signalling): never to
        # the relay.
        for name, own in frames.items():
            for other, theirs in frames.items():
                if other != name:
                    peer = theirs.peer(name)
                    assert peer is not None and own.sealer is not None
                    peer.add_key(own.sealer.key)
        for name in TONES:
            links[name] = RelayLink(
                frames[name].audio_track(),
                fingerprint=relay["fingerprint"],
                slots=len(TONES) - 1,
                frames_for=frames[name].peer,
                ice_hosts=LOOPBACK,
            )

        # Ann and ben read the relay's packets at their playout ticks, cat and dan as they come.
        await everyone_hears_the_others(nursery, relay, links, sides, TONES, ("ann", "ben"))

        # Each link's socket is read in place: what was heard came that way (ann's and ben's
        # at their ticks, once DTLS was up). A stranger's
        # packets on it (RTP-looking, but no SRTP key made them) are dropped as unauthentic,
        # and the call goes on.
        for name, link in links.items():
            assert link.reading is not None and link.reading.addresses
            assert link.reading.rtp >= 3 * 25 and not link.reading.faults
            assert link.reading.by_ticks == (name in ("ann", "ben"))
        reading = links["ann"].reading
        assert reading is not None
        with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as stranger:
            forged = HEADER.pack(0x80, 111, 1, 960, 0x1234) + bytes(200)
            for _ in range(20):
                await stranger.sendto(forged, reading.addresses[0])
            with trio.fail_after(BOUND):
                while reading.unprotect_failed < 20:
                    await sides["ann"].engine.wait_frames_played(
                        sides["ann"].engine.frames_played + 1)
        await hear(sides["ann"], present=[TONES[o] for o in TONES if o != "ann"],
                   absent=[TONES["ann"]])

        # What the relay forwarded to ann is sealed: no one's tone stands out of it.
        openings = links["ann"].openings
        for opening in openings:
            opening.tap = []
        with trio.fail_after(BOUND):
            while min(len(opening.tap or ()) for opening in openings) < 50:
                await sides["ann"].engine.wait_frames_played(sides["ann"].engine.frames_played + 1)
        for opening in openings:
            sealed = decoded_audio(opening.tap or [])
            for hz in TONES.values():
                assert len(sealed) == 0 or prominence(sealed[-24000:], hz) < 10
        nursery.cancel_scope.cancel()


# 157 Hz apart: further than `prominence` looks around a tone, so each stands alone.
BIG_CALL = {f"p{index:02}": 300.0 + 157.0 * index for index in range(12)}
RECORD_FRAMES = 100  # two seconds of each participant's output at least...
RECORD_EACH = 25  # ...with half a second from each peer in it (longer on a starved machine)
_ROOT = Path(__file__).resolve().parents[1]


async def test_twelve_hear_each_other_each_in_its_own_process(tmp_path: Path) -> None:
    """The issue's big call: twelve participants, each its own process, through the relay
    process; each records two seconds (or more, until half a second from each other came)
    once it hears everyone, and every recording holds the eleven others' tones (each stands
    out of the spectrum around it) and not its own."""
    env = {**os.environ, "PYTHONPATH": str(_ROOT)}
    async with relay_process(tmp_path) as relay, trio.open_nursery() as nursery:
        processes: dict[str, trio.Process] = {}
        lines: dict[str, _Lines] = {}
        for name, hz in BIG_CALL.items():
            ticket = make_ticket(relay["secret"], "big", name, time.time())
            processes[name] = await trio.lowlevel.open_process(
                [
                    sys.executable, "-m", "tests.relayparticipant", relay["url"],
                    relay["fingerprint"], "big", name, ticket, str(hz),
                    str(len(BIG_CALL) - 1), str(tmp_path / f"{name}.npy"),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                cwd=_ROOT,
            )
            lines[name] = _Lines(processes[name])
        try:
            # Each phase bounded on its own: twelve processes start, and then set up their
            # calls, on a machine that may be shared.
            phase = "start"
            with trio.fail_after(BOUND * 4):
                keys = {name: (await lines[name].read())["key"] for name in BIG_CALL}
            for name in BIG_CALL:
                others = {other: key for other, key in keys.items() if other != name}
                await lines[name].write({"keys": others})
            phase = "hear everyone"
            with trio.fail_after(BOUND * 4):
                for name in BIG_CALL:
                    assert (await lines[name].read()) == {"ready": True}, name
            for name in BIG_CALL:
                await lines[name].write({"record": RECORD_FRAMES, "each": RECORD_EACH})
            phase = "record"
            with trio.fail_after(BOUND * 4):
                reports = {name: await lines[name].read() for name in BIG_CALL}
            received = {name: report["recorded"] for name, report in reports.items()}
            phase = "leave"
            for process in processes.values():
                assert process.stdin is not None
                await process.stdin.aclose()
            with trio.fail_after(BOUND):
                for process in processes.values():
                    await process.wait()
        except trio.TooSlowError:
            pytest.fail(f"the twelve participants did not {phase} in {BOUND * 4} s")
        finally:
            for process in processes.values():
                if process.returncode is None:
                    process.kill()
        for name in BIG_CALL:
            assert set(received[name]) == set(BIG_CALL) - {name}
            recording = np.load(tmp_path / f"{name}.npy")
            assert len(recording) >= RECORD_FRAMES * FRAME_SAMPLES
            heard = {other: prominence(recording, tone) for other, tone in BIG_CALL.items()}
            for other in BIG_CALL:
                if other != name:
                    assert heard[other] > 10, (name, other, heard, reports[name])
            # Not themselves: their own tone, if it stands out at all, 30 dB or more under the
            # quietest of the others (their voice played back would be as loud as anyone's).
            # Against the spectrum around it alone the check failed on a clean recording: its
            # floor is so low that a line 40-60 dB under the others, where third-order products
            # of the eleven tones land on the tone grid, stood out 30 times, in about a third of
            # the runs (the relay never sends a participant's own stream back).
            own = magnitude_at(recording, BIG_CALL[name])
            quietest = min(magnitude_at(recording, tone) for other, tone in BIG_CALL.items()
                           if other != name)
            assert heard[name] < 5 or own < quietest / 30, (name, heard, own, quietest)
        nursery.cancel_scope.cancel()


async def everyone_hears_the_others(nursery: trio.Nursery, relay: dict[str, Any],
                                    links: dict[str, RelayLink], sides: dict[str, Side],
                                    tones: dict[str, float], at_ticks: Collection[str] = ()
                                    ) -> None:
    """Each joins the relay's call "general" on its link and plays whomever the relay carries
    to it, until it hears every other's tone and not its own; those `at_ticks` read the
    relay's packets at their engine's playout ticks."""

    async def take_part(name: str, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        ticket = make_ticket(relay["secret"], "general", name, time.time())
        async with links[name].joined(relay["url"], "general", name, ticket):
            if name in at_ticks:
                links[name].read_at_ticks(sides[name].engine.tick_hooks)
            task_status.started()
            async for event in links[name].events:
                if isinstance(event, Heard):
                    sides[name].engine.add_peer(event.user, event.track)

    for name in tones:
        await nursery.start(take_part, name)
    for name, side in sides.items():
        others = [hz for other, hz in tones.items() if other != name]
        with trio.fail_after(BOUND * 2):
            while len(side.engine.peers) < len(others):
                await side.engine.wait_frames_played(side.engine.frames_played + 1)
        await hear(side, present=others, absent=[tones[name]])


class _Lines:
    """JSON lines to and from a participant process."""

    def __init__(self, process: trio.Process) -> None:
        assert process.stdin is not None and process.stdout is not None
        self.process = process
        self.stdin = process.stdin
        self.stdout = process.stdout
        self.pending = b""

    async def read(self) -> dict[str, Any]:
        while b"\n" not in self.pending:
            chunk = await self.stdout.receive_some()
            if not chunk:
                pytest.fail(f"a participant ended (exit {await self.process.wait()})")
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return json.loads(line)  # type: ignore[no-any-return]

    async def write(self, message: dict[str, Any]) -> None:
        await self.stdin.send_all(json.dumps(message).encode() + b"\n")


def test_the_relay_holds_no_key_it_imports_no_frame_crypto() -> None:
    code = (
        "import sys, gossip.relay.__main__, gossip.relay.server; "
        "print('gossip.crypto.frames' in sys.modules, 'gossip.crypto' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["False", "False"]


def test_relay_messages_are_bounded_and_checked_once() -> None:
    join = Join("general", "ann", "v=0")
    assert decode(encode(join)) == join
    assert decode(encode(Slot("1", ""))) == Slot("1", "")
    for bad in (
        b"\xc1",
        encode(Answer("x"))[:-1],
        b"x" * (MAX_MESSAGE_BYTES + 1),
        encode(Join("general", "", "v=0")),
        encode(Join("g" * 65, "ann", "v=0")),
    ):
        with pytest.raises(RelayProtocolError):
            decode(bad)
    with pytest.raises(RelayProtocolError):
        decode("a text message")


def test_a_ticket_admits_one_name_to_one_call_until_it_expires() -> None:
    secret = bytes(32)
    ticket = make_ticket(secret, "general", "ann", now=1000.0)
    assert ticket_admits(secret, ticket, "general", "ann", now=1000.0)
    assert not ticket_admits(secret, ticket, "general", "ben", now=1000.0)
    assert not ticket_admits(secret, ticket, "random", "ann", now=1000.0)
    assert not ticket_admits(bytes([1]) * 32, ticket, "general", "ann", now=1000.0)
    assert not ticket_admits(secret, ticket, "general", "ann", now=1000.0 + 601)
    assert not ticket_admits(secret, "", "general", "ann", now=1000.0)


async def test_the_relay_refuses_what_is_not_a_join_and_offers_past_its_bounds() -> None:
    secret = bytes(32)
    config = RelayConfig(max_participants=2, secret=secret)
    async with open_media_loop(), trio.open_nursery() as nursery:
        port, _ = await nursery.start(run_relay, config)
        url = f"ws://127.0.0.1:{port}"
        ticket = make_ticket(secret, "general", "ann", time.time())
        for first in (
            encode(Slot("0", "ann")),
            encode(
                Join(
                    "general", "ann", "v=0\r\n", make_ticket(secret, "general", "eve", time.time())
                )
            ),
            encode(Join("general", "ann", "v=0\r\n" + "\nm=audio" * 65, ticket)),
        ):
            async with open_websocket_url(url) as ws:
                await ws.send_message(first)
                reply = decode(await ws.get_message())
                assert isinstance(reply, Refused), reply
        nursery.cancel_scope.cancel()


def _rtp(sequence: int, timestamp: int, payload: bytes, *, ssrc: int = 7, extension: bool = False,
         payload_type: int = 96) -> bytes:
    first = 0x80 | (0x10 if extension else 0)
    header = HEADER.pack(first, payload_type, sequence, timestamp, ssrc)
    if extension:  # one-byte header extensions (RFC 8285): a MID, padded to a word
        header += b"\xbe\xde\x00\x01" + b"\x10a\x00\x00"
    return header + payload


def test_a_slot_is_one_stream_whoever_it_carries_and_drops_their_header_extensions() -> None:
    slot = SlotStream(ssrc=0xABCD, payload_type=111, send=None)  # type: ignore[arg-type]
    slot.assign("ann")
    out = [Incoming(slot.rewrite(Incoming(_rtp((65534 + i) & 0xFFFF, 10 + 960 * i, b"ann%d" % i,
                                                extension=True)), 1000 + 20 * i))
           for i in range(3)]  # ann's sequence numbers wrap: the slot's follow
    assert [(p.ssrc, p.payload_type, p.payload) for p in out] == [
        (0xABCD, 111, b"ann0"), (0xABCD, 111, b"ann1"), (0xABCD, 111, b"ann2")]
    assert all(p.first == 0x80 for p in out)  # no extension, no CSRC
    steps = [((b.sequence - a.sequence) & 0xFFFF, (b.timestamp - a.timestamp) & 0xFFFFFFFF)
             for a, b in zip(out, out[1:], strict=False)]
    assert steps == [(1, 960), (1, 960)]
    # Ben takes the slot a second later: the stream goes on from where ann left it, its
    # timestamp a second on; a packet ben lost is a gap the listener sees (and conceals).
    slot.assign("ben")
    first = Incoming(slot.rewrite(Incoming(_rtp(9, 777, b"ben0", ssrc=8)), 2040))
    after_loss = Incoming(slot.rewrite(Incoming(_rtp(11, 777 + 1920, b"ben2", ssrc=8)), 2080))
    assert (first.sequence - out[-1].sequence) & 0xFFFF == 1
    assert (first.timestamp - out[-1].timestamp) & 0xFFFFFFFF == 1000 * 48
    assert (after_loss.sequence - first.sequence) & 0xFFFF == 2
    assert (after_loss.timestamp - first.timestamp) & 0xFFFFFFFF == 1920
    with pytest.raises(ValueError):
        Incoming(_rtp(1, 1, b"", extension=True)[:14])  # an extension cut short


def test_a_sender_past_its_rate_is_dropped_before_its_packets_are_read() -> None:
    budget = SenderBudget(packets_per_second=100, kbps=256, burst_seconds=1.0)
    assert sum(budget.take(200, now_ms=0) for _ in range(150)) == 100  # a second's burst
    assert not budget.take(200, now_ms=5)
    assert budget.take(200, now_ms=20)  # 20 ms later: two more packets' worth
    assert not budget.take(40_000, now_ms=1000)  # past the bitrate, however few packets
