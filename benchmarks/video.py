"""Video calls of 2, 3 and 4 participants at 360p on loopback: frames per second received,
end-to-end frame latency (the timestamp a pattern source draws into each frame, read back on
arrival) and CPU per participant, with the audio frames that kept arriving meanwhile.

Each participant is its own `gossip-cli call --video pattern` process (its own GIL, as on
separate machines, but sharing this machine's cores: with more participants than cores the
figures are a lower bound); CPU comes from each process's rusage. ICE on 127.0.0.1 only.
Run: python benchmarks/video.py [--quick] [--sizes 2,3,4] [--size 640x360] [--fps 30]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _servers import PASSWORD, ServerProcess, ServerSpec

AUDIO_FRAMES_PER_SECOND = 50  # 20 ms Opus frames
_SETUP_ALLOWANCE = 60.0


@dataclass
class Participant:
    user: str
    process: subprocess.Popen[str]
    started: float
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    summary: dict[str, object] | None = None
    error: str = ""


def start(port: int, user: str, workdir: Path, args: argparse.Namespace,
          tone_hz: int) -> Participant:
    command = [sys.executable, "-m", "gossip.cli", "--host", "127.0.0.1", "--port", str(port),
               "--password", PASSWORD, "--user", user, "--profile", str(workdir / user),
               "call", "general", "--ice-host", "127.0.0.1", "--source", f"tone:{tone_hz}",
               "--sink", "null", "--duration", f"{args.duration:g}", "--json",
               "--video", "pattern", "--video-size", args.size, "--video-fps", f"{args.fps:g}"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    return Participant(user, process, time.monotonic())


def finish(participant: Participant, timeout: float) -> None:
    try:
        out, err = participant.process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        participant.process.kill()
        out, err = participant.process.communicate()
        participant.error = "timed out"
    participant.wall_seconds = time.monotonic() - participant.started
    if participant.process.returncode != 0 and not participant.error:
        participant.error = (err.strip().splitlines() or ["exit status "
                             f"{participant.process.returncode}"])[-1]
    lines = out.strip().splitlines()
    if lines:
        try:
            participant.summary = json.loads(lines[-1])
        except json.JSONDecodeError:
            participant.error = participant.error or f"no JSON summary: {lines[-1][:80]}"


def run_call(count: int, port: int, workdir: Path, args: argparse.Namespace) -> None:
    users = [f"p{index}" for index in range(count)]
    before = os.times()
    participants = [start(port, user, workdir, args, 300 + 150 * index)
                    for index, user in enumerate(users)]
    cpu_before = before.children_user + before.children_system
    for participant in participants:
        finish(participant, args.duration + _SETUP_ALLOWANCE)
    after = os.times()
    cpu_total = after.children_user + after.children_system - cpu_before
    report(count, participants, cpu_total, args)


def report(count: int, participants: list[Participant], cpu_total: float,
           args: argparse.Namespace) -> None:
    fps: list[float] = []
    frames: list[int] = []
    latency: list[float] = []
    audio_rates: list[float] = []
    missing: list[str] = []
    for participant in participants:
        if participant.summary is None:
            missing.append(f"{participant.user}: {participant.error or 'no summary'}")
            continue
        peers = participant.summary.get("peers", {})
        assert isinstance(peers, dict)
        for peer_name, peer in peers.items():
            if not peer.get("video_frames_received"):
                missing.append(f"{participant.user} got no video from {peer_name}")
            fps.append(float(peer.get("video_fps") or 0.0))
            frames.append(int(peer.get("video_frames_received") or 0))
            if peer.get("video_latency_ms") is not None:
                latency.append(float(peer["video_latency_ms"]))
            # Audio frames a second from the first one on (set-up time is not a loss).
            first = float(peer.get("first_audio_ms") or 0.0) / 1000
            audio_rates.append(int(peer.get("frames_received") or 0)
                               / max(0.5, args.duration - first))
    wall = max((p.wall_seconds for p in participants), default=1.0)
    cpu_share = cpu_total / count / wall * 100
    print(f"{count} participants at {args.size}@{args.fps:g}: "
          f"video fps received median {_median(fps):.1f} (min {min(fps, default=0):.1f}), "
          f"frames median {_median(frames):.0f}; "
          f"frame latency median {_median(latency):.0f} ms (max {max(latency, default=0):.0f}); "
          f"audio {_median(audio_rates):.0f}/{AUDIO_FRAMES_PER_SECOND} frames/s "
          f"(min {min(audio_rates, default=0):.0f}); "
          f"CPU per participant {cpu_share:.0f}% of a core (set-up included)", flush=True)
    for line in missing:
        print(f"   ! {line}", flush=True)


def _median(values: list[float] | list[int]) -> float:
    return float(statistics.median(values)) if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="2 and 3 participants at 320x180, 8 s each (under a minute)")
    parser.add_argument("--sizes", default="2,3,4", help="participants per call, e.g. 2,3,4")
    parser.add_argument("--size", default="640x360", help="video size WxH (default 360p)")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds each call lasts")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.size, args.duration = "2,3", "320x180", 8.0
    counts = [int(part) for part in args.sizes.split(",")]
    load = os.getloadavg()
    print(f"video: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f}; one process per participant, pattern video {args.size}@{args.fps:g} "
          f"plus a tone, {args.duration:g} s per call", flush=True)
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        spec = ServerSpec("hub", True, str(workdir / "hub"))
        with ServerProcess(spec) as server:
            for count in counts:
                run_call(count, server.port, workdir / f"call{count}", args)
    print(f"took {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
