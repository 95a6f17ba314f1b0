"""What a call costs each participant, with frames sealed end to end and encoded once per call,
against the old path (each link encodes its own, unsealed) measured in the same run.

For each size (2 and 3 participants by default), audio only and with video, the call runs
once per media path; each participant is its own `gossip-cli call` process (its own GIL,
sharing this machine's cores); CPU comes from the processes' rusage (set-up included).
Printed: CPU per participant (% of a core), audio frames received per second, video fps.

    sealed    one Opus encoder per call, every frame sealed (AES-GCM), packetized per link
    per-link  the baseline: aiortc encodes each link's stream, nothing sealed

Then audio calls through a relay (`python -m gossip.relay`, its own process; that hub sends
every call of two or more there, so a call stays relayed while its members leave one by one
at the end): CPU per participant, audio frames kept, and the relay's CPU
per forwarded frame, for each way the relay forwards (a relay process each):

    packets   RTP packets taken from SRTP, headers rewritten per slot, protected and sent
    frames    the baseline: frames read at aiortc's receivers, packetized by its senders

Run: python benchmarks/big_call.py [--quick] [--sizes 2,3] [--relay-sizes 4,8,12]
     [--relay-forwarding packets,frames] [--duration 12]
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

from gossip.hub import Limits
from gossip.wire.relay import read_relay_secret

AUDIO_FRAMES_PER_SECOND = 50
_SETUP_ALLOWANCE = 60.0
PATHS = ("per-link", "sealed")


@dataclass
class Result:
    cpu_share: float
    audio_rate: float
    video_fps: float
    problems: list[str]
    min_audio_rate: float = 0.0


def run_call(
    count: int, port: int, workdir: Path, path: str, video: bool, args: argparse.Namespace
) -> Result:
    before = os.times()
    processes = []
    for index in range(count):
        user = f"p{index}"
        command = [
            sys.executable,
            "-m",
            "gossip.cli",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--password",
            PASSWORD,
            "--user",
            user,
            "--profile",
            str(workdir / "profiles" / user),
            "call",
            "general",
            "--ice-host",
            "127.0.0.1",
            "--source",
            f"tone:{300 + 150 * index}",
            "--sink",
            "null",
            "--duration",
            f"{args.duration:g}",
            "--json",
            "--media-path",
            path,
        ]
        if video:
            command += [
                "--video",
                "pattern",
                "--video-size",
                args.size,
                "--video-fps",
                f"{args.fps:g}",
            ]
        processes.append(
            (
                user,
                subprocess.Popen(
                    command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                ),
            )
        )
    started = time.monotonic()
    audio_rates: list[float] = []
    fps: list[float] = []
    problems: list[str] = []
    for user, process in processes:
        try:
            out, err = process.communicate(timeout=args.duration + _SETUP_ALLOWANCE)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        lines = out.strip().splitlines()
        try:
            summary = json.loads(lines[-1])
        except (IndexError, json.JSONDecodeError):
            problems.append(f"{user}: {(err.strip().splitlines() or ['no summary'])[-1]}")
            continue
        for peer_name, peer in summary.get("peers", {}).items():
            first = float(peer.get("first_audio_ms") or 0.0) / 1000
            audio_rates.append(
                int(peer.get("frames_received") or 0) / max(0.5, args.duration - first)
            )
            if video:
                fps.append(float(peer.get("video_fps") or 0.0))
            # A frame or two may come before the sender's key does (it follows the link
            # up over the hub); more than that is a fault.
            if int(peer.get("frames_undecryptable") or 0) > 5:
                problems.append(
                    f"{user}: {peer['frames_undecryptable']} frames from "
                    f"{peer_name} did not decrypt"
                )
    wall = time.monotonic() - started
    after = os.times()
    cpu = (
        after.children_user + after.children_system - before.children_user - before.children_system
    )
    return Result(
        cpu / count / wall * 100,
        _median(audio_rates),
        _median(fps),
        problems,
        min(audio_rates, default=0.0),
    )


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_relay(
    workdir: Path, forwarding: str
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    relay = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gossip.relay",
            "--ice-host",
            "127.0.0.1",
            "--secret-file",
            str(workdir / "relay-secret"),
            "--forwarding",
            forwarding,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert relay.stdout is not None
    return relay, json.loads(relay.stdout.readline())


def run_relayed(
    counts: list[int], workdir: Path, forwarding: str, args: argparse.Namespace
) -> None:
    relay, info = start_relay(workdir, forwarding)
    try:
        spec = ServerSpec(
            "hub",
            True,
            str(workdir / f"relayhub-{forwarding}"),
            limits=Limits(relay_threshold=1),
            relay_url=info["url"],
            relay_fingerprint=info["fingerprint"],
            relay_secret=read_relay_secret(info["secret_file"]),
        )
        with ServerProcess(spec) as server:
            warm = argparse.Namespace(**{**vars(args), "duration": 1.0})
            run_call(max(counts), server.port, workdir, "sealed", False, warm)
            for count in counts:
                before = process_cpu_seconds(relay.pid)
                result = run_call(count, server.port, workdir, "sealed", False, args)
                relay_cpu = process_cpu_seconds(relay.pid) - before
                forwarded = count * (count - 1) * AUDIO_FRAMES_PER_SECOND * args.duration
                print(
                    f"{count}-way audio relayed, {forwarding:7}: CPU per participant "
                    f"{result.cpu_share:4.0f}% of a core, audio {result.audio_rate:.0f}/"
                    f"{AUDIO_FRAMES_PER_SECOND} frames/s (min {result.min_audio_rate:.0f}); "
                    f"relay {relay_cpu / args.duration * 100:.0f}% of a core, "
                    f"{relay_cpu / forwarded * 1e6:.0f} us per forwarded frame",
                    flush=True,
                )
                for problem in result.problems:
                    print(f"   ! {problem}", flush=True)
    finally:
        relay.terminate()
        relay.wait(timeout=10)


def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2-way only, 6 s calls")
    parser.add_argument("--sizes", default="2,3", help="participants per call, e.g. 2,3")
    parser.add_argument("--size", default="320x180", help="video size WxH")
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--duration", type=float, default=12.0, help="seconds each call lasts")
    parser.add_argument("--no-video", action="store_true", help="audio-only calls alone")
    parser.add_argument(
        "--relay-sizes", default="4,8,12", help="participants per relayed call (empty: none)"
    )
    parser.add_argument(
        "--relay-forwarding",
        default="packets,frames",
        help="how the relay forwards, each measured in turn: packets, frames",
    )
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.relay_sizes, args.duration = "2", "4", 6.0
    counts = [int(part) for part in args.sizes.split(",") if part]
    load = os.getloadavg()
    print(
        f"big_call: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f}; one process per participant, a tone (and pattern video "
        f"{args.size}@{args.fps:g}), {args.duration:g} s per call",
        flush=True,
    )
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        with ServerProcess(ServerSpec("hub", True, str(workdir / "hub"))) as server:
            # Each participant's key is made on its first call: not in any figure.
            warm = argparse.Namespace(**{**vars(args), "duration": 1.0})
            if counts:
                run_call(max(counts), server.port, workdir, "sealed", False, warm)
            for video in (False,) if args.no_video else (False, True):
                for count in counts:
                    results = {}
                    for path in PATHS:
                        results[path] = run_call(count, server.port, workdir, path, video, args)
                    kind = "audio+video" if video else "audio"
                    for path, result in results.items():
                        extra = f", video {result.video_fps:.1f} fps" if video else ""
                        print(
                            f"{count}-way {kind:11} {path:8}: CPU per participant "
                            f"{result.cpu_share:4.0f}% of a core, audio "
                            f"{result.audio_rate:.0f}/{AUDIO_FRAMES_PER_SECOND} frames/s"
                            f"{extra}",
                            flush=True,
                        )
                        for problem in result.problems:
                            print(f"   ! {problem}", flush=True)
        relay_counts = [int(part) for part in args.relay_sizes.split(",") if part]
        if relay_counts:
            for forwarding in args.relay_forwarding.split(","):
                run_relayed(relay_counts, workdir, forwarding, args)
    print(f"took {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
