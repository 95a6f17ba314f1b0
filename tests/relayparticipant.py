"""One participant of a relayed call in a process of its own (tests/test_relay.py's big call):
`python -m tests.relayparticipant URL FINGERPRINT CALL NAME TICKET HZ SLOTS OUT
[RECEIVE[/SEND[/VAD_EVERY]] [VIDEO_SLOTS WxH FPS]]` (RECEIVE: RelayLink's receive path: ours
(read at the engine's ticks), ours-readiness (read as packets come), ours-queued or aiortc;
SEND: who packetizes our audio, ours (gossip.media.rtpsend, the default) or aiortc;
VAD_EVERY: the mixer's speaking indicators ask webrtcvad about one frame of each peer in this
many (default gossip.media.mixer.PEER_VAD_EVERY); with VIDEO_SLOTS it sends a pattern video
and watches that many others: the first ones by name, as if they were the last speakers).

It sends a tone through the relay and plays what it hears into memory. It speaks JSON lines
with the test that runs it, which stands in for the call's sealed signalling (frame keys go
member to member, never to the relay):

    stdout {"key": HEX}                   its frame key
    stdin  {"keys": {NAME: HEX, ...}}     everyone else's
    stdout {"ready": true}                once it hears everyone it was given a key for
    stdin  {"record": FRAMES, "each": N}  play FRAMES more frames, and on until N more came
                                          from each peer; save what played to OUT (.npy)
    stdout {"recorded": {NAME: FRAMES, ...}, "seconds": S, "cpu": S,
            "pictures": {NAME: N, ...}, "video_packets": N,
            "socket_wakeups": N, "datagrams_read": N}
                                          frames received from each meanwhile, how long
                                          that took, and this process's CPU time in it
                                          (benchmarks/big_call.py); pictures decoded from
                                          each watched sender, video packets received;
                                          with the socket read in place, times it was
                                          found readable and datagrams read
    stdin  end of file                    leave the call
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import trio

from gossip.client.relaylink import Heard, ReceivePath, RelayLink
from gossip.crypto.frames import FrameKey
from gossip.media.engine import AudioEngine
from gossip.media.framecrypt import CallFrames
from gossip.media.loop import open_media_loop
from gossip.media.mixer import PEER_VAD_EVERY, Mixer
from gossip.media.rtpsend import AudioSending
from gossip.media.sinks import MemorySink
from gossip.media.slotreceive import RelaySlot
from gossip.media.sources import ToneSource
from gossip.media.track import SourceFanout
from gossip.media.video import PatternSource, VideoFanout

TONE_LEVEL = 0.05  # eleven of them mixed stay far from clipping (no intermodulation)
HEARD_FRAMES = 25  # from each peer before it counts as heard


def say(message: dict[str, object]) -> None:
    print(json.dumps(message), flush=True)


async def take_part(
    url: str,
    fingerprint: str,
    call: str,
    name: str,
    ticket: str,
    hz: float,
    slots: int,
    out: str,
    receive_path: ReceivePath = "ours",
    video_slots: int = 0,
    video_size: tuple[int, int] = (320, 180),
    video_fps: float = 15.0,
    send_path: str = "ours",
    vad_every: int = PEER_VAD_EVERY,
    read_at_ticks: bool = True,
) -> None:
    stdin = trio.lowlevel.FdStream(0)
    pending = b""

    async def line() -> bytes:
        nonlocal pending
        while b"\n" not in pending:
            chunk = await stdin.receive_some()
            if not chunk:
                return b""
            pending += chunk
        first, pending = pending.split(b"\n", 1)
        return first

    async with open_media_loop(), trio.open_nursery() as nursery:
        engine = AudioEngine(MemorySink(), mixer=Mixer(vad_every=vad_every))
        await nursery.start(engine.run)
        fanout = SourceFanout(ToneSource(hz, TONE_LEVEL))
        frames = CallFrames(fanout)
        assert frames.sealer is not None
        if send_path == "ours":
            sending = frames.sending = AudioSending(frames.audio)
            engine.tick_hooks.append(sending.tick)
        say({"key": frames.sealer.key.to_bytes().hex()})
        keys = json.loads(await line())["keys"]
        for other, key in keys.items():
            peer = frames.peer(other)
            assert peer is not None
            peer.add_key(FrameKey.from_bytes(bytes.fromhex(key)))
        video_track = None
        if video_slots:
            video_track = frames.video_track(
                VideoFanout(PatternSource(*video_size, video_fps)).track())
        link = RelayLink(
            frames.audio_track(),
            fingerprint=fingerprint,
            slots=slots,
            frames_for=frames.peer,
            ice_hosts=["127.0.0.1"],
            receive_path=receive_path,
            video_track=video_track,
            video_slots=video_slots,
        )
        watched = sorted(keys)[:video_slots]
        async with link.joined(url, call, name, ticket):
            if read_at_ticks:
                link.read_at_ticks(engine.tick_hooks)
            if watched:
                await link.want(watched)

            async def hear() -> None:
                async for event in link.events:
                    if isinstance(event, Heard):
                        engine.add_peer(event.user, event.track)

            nursery.start_soon(hear)

            def everyone_heard() -> bool:
                return len(engine.peers) == len(keys) and all(
                    engine.peer(peer).frames_received >= HEARD_FRAMES for peer in keys
                )

            await engine.wait_until(everyone_heard)
            while not all(
                user in link.watching() and link.watching()[user].decoded for user in watched
            ):
                await link.video_changed.wait()
            say({"ready": True})
            asked = json.loads(await line())
            count, each = int(asked["record"]), int(asked.get("each", 0))
            engine.sink.clear()  # type: ignore[attr-defined]
            before = {peer: engine.peer(peer).frames_received for peer in keys}
            played = engine.frames_played
            pictures = {user: slot.decoded for user, slot in link.watching().items()}
            video_packets = sum(slot.packets for slot in link.video_openings)
            began, cpu = trio.current_time(), time.process_time()
            reading = link.reading
            reads = (reading.wakeups, reading.datagrams) if reading is not None else (0, 0)

            def recorded() -> bool:
                return engine.frames_played >= played + count and all(
                    engine.peer(peer).frames_received >= before[peer] + each for peer in keys
                )

            await engine.wait_until(recorded)
            seconds, cpu = trio.current_time() - began, time.process_time() - cpu
            np.save(out, engine.sink.samples(engine.frames_played - played))  # type: ignore[attr-defined]
            received = {peer: engine.peer(peer).frames_received - before[peer] for peer in keys}
            slots = {slot.frames.peer: slot for slot in link.openings
                     if isinstance(slot, RelaySlot) and slot.frames is not None}
            pictures = {user: slot.decoded - pictures.get(user, 0)
                        for user, slot in link.watching().items()}
            video_packets = sum(slot.packets for slot in link.video_openings) - video_packets
            if reading is not None:
                reads = (reading.wakeups - reads[0], reading.datagrams - reads[1])
            say({"recorded": received, "seconds": seconds, "cpu": cpu,
                 "socket_wakeups": reads[0], "datagrams_read": reads[1],
                 "pictures": pictures, "video_packets": video_packets,
                 "missing": {peer: slot.missing for peer, slot in slots.items()},
                 "undecryptable": {peer: frames.peer(peer).failed for peer in keys},  # type: ignore[union-attr]
                 "queue_dropped": {peer: slot.track.dropped for peer, slot in slots.items()}})
            await line()  # the test closes our stdin when everyone has recorded
            nursery.cancel_scope.cancel()


if __name__ == "__main__":
    url, fingerprint, call, name, ticket, hz, slots, out, *rest = sys.argv[1:]
    receive, _, send_path = (rest[0] if rest else "ours").partition("/")
    send_path, _, vad = send_path.partition("/")
    receive_path: ReceivePath = receive if receive in ("aiortc", "ours-queued") else "ours"  # type: ignore[assignment]
    read_at_ticks = receive == "ours"
    video_slots, size, fps = (int(rest[1]), rest[2], float(rest[3])) if len(rest) == 4 \
        else (0, "320x180", 15.0)
    width, height = (int(part) for part in size.split("x"))
    trio.run(
        take_part, url, fingerprint, call, name, ticket, float(hz), int(slots), out, receive_path,
        video_slots, (width, height), fps, send_path or "ours", int(vad or PEER_VAD_EVERY),
        read_at_ticks,
    )
