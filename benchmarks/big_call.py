"""What a call costs each participant, with frames sealed end to end and encoded once per call,
against the old path (each link encodes its own, unsealed) measured in the same run.

For each size (2 and 3 participants by default), audio only and with video, the call runs
once per media path; each participant is its own `gossip-cli call` process (its own GIL,
sharing this machine's cores). Printed: CPU per participant (% of a core) over its whole
life from the processes' rusage (set-up included: imports, login, keys, ICE and DTLS; the
modules compiled once, as installed, see compiled_env), and in
the call alone (a window once every link is up, from /proc) with the CPU spent before it;
audio frames received per second, video fps.

    sealed         one Opus encoder per call, every frame sealed (AES-GCM), packetized per
                   link; each link's UDP socket read in place at the audio engine's playout
                   ticks (meshreceive.LinkReading), each peer's audio taken out of SRTP,
                   opened and decoded there (gossip.media.meshreceive)
                   (a link receiving video is read in place on readiness)
    sealed-readiness  the same, each link's socket read in place but woken by each packet
    sealed-aioice  the same, each link's socket read by aioice and aiortc's DTLS receive
                   task, a wake-up a packet (the baseline for reading in place and at ticks)
    sealed-aiortc  the same, the peers' audio received through aiortc's receivers and
                   decoder threads (the baseline for receiving in place)
    sealed+aiortc-send  the same frames, each link's aiortc sender pacing its own track
                   and packetizing them (the send path before rtpsend: its baseline; any
                   media path takes "+aiortc-send"); "sealed" sends from one 20 ms tick for all
                   links (gossip.media.rtpsend)
    sealed+video-per-link  "sealed", but each link encodes and seals its own video (the
                   baseline for the call's one video encoder, gossip.media.videosend; rows
                   with video only); any media path takes "+video-per-link"
    per-link       the first baseline: aiortc encodes each link's stream, nothing sealed

Then audio calls through a relay (`python -m gossip.relay`, its own process), each
participant its own process (tests/relayparticipant.py: the relayed media path without the
hub), measured in one window once everyone hears everyone: CPU per participant, audio
frames kept, and the relay's CPU per frame received, for each media path:

    packets/ours     the relay forwards RTP packets taken from SRTP (headers rewritten per
                     slot, protected and sent); participants take them from SRTP too, open
                     and decode them in place (gossip.media.slotreceive), and send their
                     audio from our tick (gossip.media.rtpsend); relay and participants
                     read their UDP sockets in place (aiortc_seams.receive_in_place), the
                     participants at their playout ticks (RelayLink.read_at_ticks)
    packets/ours-readiness  the same, participants woken by each packet (the baseline for
                     reading at ticks)
    packets-queued/ours-queued  the same, each packet read through aioice's queue and
                     aiortc's DTLS receive task (the baseline for reading in place)
    packets/ours/ours/1  packets/ours, but the speaking indicators ask webrtcvad about every
                     frame of every peer (the baseline for one in PEER_VAD_EVERY); any
                     path takes /ours/N
    packets/ours/aiortc  the same, but each participant's audio sent by aiortc's sender
                     (the send path's baseline)
    frames/aiortc    the first baseline: the relay reads frames at aiortc's receivers and
                     aiortc's senders packetize them again; participants receive through
                     aiortc's receivers and decoder threads (add /aiortc: and send through
                     aiortc's sender)

Beside the relayed audio-only rows, on the packets/ours path, the same calls with video: each
participant sends a pattern video to the relay and watches N others (--relay-video-slots, the
last N speakers' video; here the first N by name): pictures decoded per second from each
watched sender, CPU per participant, and the relay's CPU per packet forwarded (audio and video
packets alike, each counted once per listener that received it).

Run: python benchmarks/big_call.py [--quick] [--sizes 2,3] [--relay-sizes 4,8,12]
     [--relay-paths packets/ours,packets/ours/aiortc,frames/aiortc] [--relay-video-slots 2]
     [--paths per-link,sealed-aiortc,sealed+aiortc-send,sealed+video-per-link,sealed-aioice,
     sealed-readiness,sealed]
     [--repeats 1] [--duration 12]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _servers import PASSWORD, ServerProcess, ServerSpec

from gossip.wire.relay import make_ticket, read_relay_secret

AUDIO_FRAMES_PER_SECOND = 50
_SETUP_ALLOWANCE = 60.0
PATHS = ("per-link", "sealed-aiortc", "sealed+aiortc-send", "sealed+video-per-link",
         "sealed-aioice", "sealed-readiness", "sealed")
_ROOT = Path(__file__).resolve().parents[1]  # tests.relayparticipant runs from here


@dataclass
class Result:
    cpu_share: float  # over the processes' whole lives, set-up included
    audio_rate: float
    video_fps: float
    problems: list[str]
    min_audio_rate: float = 0.0
    call_share: float | None = None  # in the call only: a window once every link is up
    setup_seconds: float | None = None  # CPU each spent before that window (mean)


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
            path.partition("+")[0],
            "--send-path",
            "aiortc" if "aiortc-send" in path.split("+") else "ours",
            "--video-encode",
            "per-link" if "video-per-link" in path.split("+") else "once",
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
                    command,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=compiled_env(workdir),
                ),
            )
        )
    started = time.monotonic()
    window = _CallWindow(processes, count - 1, args.duration)
    audio_rates: list[float] = []
    fps: list[float] = []
    problems: list[str] = []
    for user, process in processes:
        try:
            process.wait(timeout=args.duration + _SETUP_ALLOWANCE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        out, err = window.output(process)
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
    call_share, setup_seconds = window.result()
    return Result(
        cpu / count / wall * 100,
        _median(audio_rates),
        _median(fps),
        problems,
        min(audio_rates, default=0.0),
        call_share,
        setup_seconds,
    )


class _CallWindow:
    """The participants' CPU in the call alone: from a second after every one of them has
    all its links up (each prints a "link up" line) until two seconds before the first
    would leave; set-up (imports, login, keys, ICE and DTLS) is in no part of it. Reads
    the processes' stderr meanwhile (it is theirs to print on)."""

    _SETTLE = 1.0  # first audio and the jitter buffers' warm-up
    _MARGIN = 2.0  # before the calls end (each counts its duration from its own join)

    def __init__(
        self, processes: list[tuple[str, subprocess.Popen[str]]], links: int, duration: float
    ) -> None:
        self._processes = [process for _, process in processes]
        self._links = links
        self._duration = duration
        self._lines: dict[int, list[str]] = {process.pid: [] for process in self._processes}
        self._out: dict[int, str] = {}
        self._up: dict[int, int] = {process.pid: 0 for process in self._processes}
        self._lock = threading.Lock()
        self._all_up = threading.Event()
        self._readers = [
            threading.Thread(target=read, args=(process,), daemon=True)
            for process in self._processes
            for read in (self._read, self._read_out)
        ]
        for reader in self._readers:
            reader.start()
        self._figures: tuple[float | None, float | None] = (None, None)
        self._measurer = threading.Thread(target=self._measure, daemon=True)
        self._measurer.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            with self._lock:
                self._lines[process.pid].append(line)
                if ": link up in " in line:
                    self._up[process.pid] += 1
                    if all(up >= self._links for up in self._up.values()):
                        self._all_up.set()

    def _read_out(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        self._out[process.pid] = process.stdout.read()

    def _measure(self) -> None:
        if not self._all_up.wait(self._duration + _SETUP_ALLOWANCE):
            return
        up_at = time.monotonic()
        time.sleep(self._SETTLE)
        try:
            before = [process_cpu_seconds(process.pid) for process in self._processes]
            began = time.monotonic()
            # The last to join left `duration` after it joined, which was before its links
            # came up: the window ends well inside every call.
            time.sleep(max(1.0, self._duration - (time.monotonic() - up_at) - self._MARGIN))
            after = [process_cpu_seconds(process.pid) for process in self._processes]
        except (FileNotFoundError, ProcessLookupError):
            return  # one ended early; no figure
        seconds = time.monotonic() - began
        share = statistics.mean(b - a for a, b in zip(before, after, strict=True)) / seconds
        self._figures = (share * 100, statistics.mean(before))

    def output(self, process: subprocess.Popen[str]) -> tuple[str, str]:
        """What `process` printed: (stdout, stderr); call once it has ended."""
        for reader in self._readers:
            reader.join(timeout=5)
        with self._lock:
            return self._out.get(process.pid, ""), "".join(self._lines[process.pid])

    def result(self) -> tuple[float | None, float | None]:
        """(% of a core per participant in the call, mean CPU seconds before it)."""
        self._measurer.join(timeout=self._duration + _SETUP_ALLOWANCE)
        return self._figures


def compiled_env(workdir: Path) -> dict[str, str]:
    """The participants' environment, with Python's bytecode cache on (in the scratch
    directory): an installed Gossip has its modules compiled; a shell that sets
    PYTHONDONTWRITEBYTECODE would otherwise make every participant compile them all again
    (most of a second of CPU each, counted as its set-up). The warm-up call fills it."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    return env


def machine_busy_seconds() -> float:
    """CPU seconds every core of this machine spent busy since boot (Linux /proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_relay(
    workdir: Path, forwarding: str
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """The relay, forwarding "packets" (its sockets read in place), "packets-queued" (read
    through aiortc's receive task) or "frames"."""
    forwarding, _, queued = forwarding.partition("-")
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
            "--read",
            "queued" if queued else "in-place",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert relay.stdout is not None
    return relay, json.loads(relay.stdout.readline())


@contextlib.contextmanager
def relayed_call(
    count: int, workdir: Path, path: str, args: argparse.Namespace, video_slots: int = 0
) -> Iterator[tuple[subprocess.Popen[str], dict[str, subprocess.Popen[str]]]]:
    """A relay (its own process) and `count` participants (tests/relayparticipant.py, each
    its own process, keys handed over by this script as a call's signalling would), yielded
    (relay, participants by name) once every one hears every other; all leave on exit."""
    forwarding, receive_path, *rest = path.split("/")
    receive_path = "/".join([receive_path, *(rest or ["ours"])])
    relay, info = start_relay(workdir, forwarding)
    secret = read_relay_secret(info["secret_file"])
    env = {**os.environ, "PYTHONPATH": str(_ROOT)}
    participants: dict[str, subprocess.Popen[str]] = {}
    try:
        for index in range(count):
            name = f"p{index:02}"
            participants[name] = subprocess.Popen(
                [
                    sys.executable, "-m", "tests.relayparticipant", info["url"],
                    info["fingerprint"], "bench", name,
                    make_ticket(secret, "bench", name, time.time()),
                    str(300 + 157 * index), str(count - 1), str(workdir / f"{name}.npy"),
                    receive_path,
                    *((str(video_slots), args.size, f"{args.fps:g}") if video_slots else ()),
                ],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=_ROOT,
            )
        keys = {name: _read(process)["key"] for name, process in participants.items()}
        for name, process in participants.items():
            _write(process, {"keys": {o: k for o, k in keys.items() if o != name}})
        for process in participants.values():
            _read(process)  # ready: it hears everyone
        yield relay, participants
    finally:
        for process in participants.values():
            if process.stdin is not None:
                process.stdin.close()
        for process in participants.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        relay.terminate()
        relay.wait(timeout=10)


def run_relayed(
    counts: list[int], workdir: Path, path: str, args: argparse.Namespace, video_slots: int = 0
) -> dict[int, tuple[float, float]]:
    """Each size's call on a fresh relay (`relayed_call`): once every one hears every other,
    all measure the same window of `duration` seconds: frames received from each peer a
    second, and their own CPU; the relay's CPU in the same window. A steady call, so set-up
    (and processes starting on a shared machine, which on 2 cores takes longer than a short
    call lasts) is in no figure. Returns each size's CPU per participant (% of a core) and
    lowest participant's audio frames a second."""
    figures: dict[int, tuple[float, float]] = {}
    for count in counts:
        with relayed_call(count, workdir, path, args, video_slots) as (relay, participants):
            before = process_cpu_seconds(relay.pid)
            machine_before = machine_busy_seconds()
            frames = round(args.duration * AUDIO_FRAMES_PER_SECOND)
            for process in participants.values():
                _write(process, {"record": frames})
            reports = [_read(process) for process in participants.values()]
            relay_cpu = process_cpu_seconds(relay.pid) - before
            machine = machine_busy_seconds() - machine_before
        seconds = max(report["seconds"] for report in reports)
        rates = [
            received / report["seconds"]
            for report in reports
            for received in report["recorded"].values()
        ]
        cpu = statistics.mean(report["cpu"] / report["seconds"] for report in reports)
        # What the rest of the machine took meanwhile (other helpers' work, this script):
        # the call's own share is what it had left.
        others = (machine - relay_cpu - sum(report["cpu"] for report in reports)) / seconds
        forwarded = sum(
            sum(report["recorded"].values()) + report.get("video_packets", 0)
            for report in reports
        )
        wakeups = sum(report.get("socket_wakeups", 0) for report in reports)
        reads = (
            f", {sum(report['datagrams_read'] for report in reports) / wakeups:.2f} datagrams "
            f"a socket wake-up" if wakeups else ""
        )
        kind = "audio" if not video_slots else f"audio+video (watching {video_slots})"
        video = ""
        if video_slots:
            fps = [
                pictures / report["seconds"]
                for report in reports
                for pictures in report["pictures"].values()
            ]
            video = f", video {_median(fps):.1f} fps (min {min(fps, default=0):.1f})"
        print(
            f"{count:2}-way {kind} relayed, {path:19}: CPU per participant "
            f"{cpu * 100:4.0f}% of a core, audio {_median(rates):.0f}/"
            f"{AUDIO_FRAMES_PER_SECOND} frames/s (min {min(rates):.0f}){video}{reads}; "
            f"relay {relay_cpu / seconds * 100:.0f}% of a core, "
            f"{relay_cpu / max(forwarded, 1) * 1e6:.0f} us per packet forwarded "
            f"(load average {os.getloadavg()[0]:.1f}; others {max(others, 0) * 100:.0f}% "
            "of a core)",
            flush=True,
        )
        figures[count] = (cpu * 100, min(rates))
    return figures


def _read(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"a participant ended (exit {process.wait()})")
    return json.loads(line)  # type: ignore[no-any-return]


def _write(process: subprocess.Popen[str], message: dict[str, Any]) -> None:
    assert process.stdin is not None
    process.stdin.write(json.dumps(message) + "\n")
    process.stdin.flush()


def _print_medians(what: str, figures: dict[str, list[float | None]]) -> None:
    """One line: each path's median over the rounds, and the rounds' figures."""
    parts = []
    for path, values in figures.items():
        known = [value for value in values if value is not None]
        parts.append(
            f"{path} {_median(known):.1f} ({', '.join(f'{value:.1f}' for value in known)})"
        )
    print(f"{what}, median of {len(next(iter(figures.values())))} rounds: "
          + "; ".join(parts), flush=True)


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
        "--paths", default=",".join(PATHS), help="mesh media paths, each measured in turn"
    )
    parser.add_argument(
        "--repeats", type=int, default=1,
        help="rounds of every call, the paths alternating; medians printed after them",
    )
    parser.add_argument(
        "--relay-sizes", default="4,8,12", help="participants per relayed call (empty: none)"
    )
    parser.add_argument(
        "--relay-paths",
        default="packets/ours,packets/ours/aiortc",
        help="relayed media paths, each measured in turn: how the relay forwards (packets, "
        "frames; packets-queued) / how participants receive (ours, ours-queued, aiortc) [/ who "
        "sends their audio (ours, the default, or aiortc) [/ one frame in N asked about by "
        "the speaking indicators' VAD]]",
    )
    parser.add_argument(
        "--relay-video-slots",
        type=int,
        default=2,
        metavar="N",
        help="relayed calls with video (packets/ours): each watches N others (0: no video rows)",
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
                    # Rounds alternate the paths, so that load from elsewhere falls on each.
                    rounds = [
                        (path, run_call(count, server.port, workdir, path, video, args))
                        for _ in range(args.repeats)
                        for path in args.paths.split(",")
                        if video or "video-per-link" not in path.split("+")  # same as without
                    ]
                    kind = "audio+video" if video else "audio"
                    for path, result in rounds:
                        extra = f", video {result.video_fps:.1f} fps" if video else ""
                        in_call = (
                            f"{result.call_share:4.1f}% in the call, set-up "
                            f"{result.setup_seconds:.1f} s CPU; "
                            if result.call_share is not None and result.setup_seconds
                            else "(no in-call window); "
                        )
                        print(
                            f"{count}-way {kind:11} {path:18}: CPU per participant "
                            f"{result.cpu_share:4.0f}% of a core over its life, {in_call}audio "
                            f"{result.audio_rate:.0f}/{AUDIO_FRAMES_PER_SECOND} frames/s"
                            f"{extra} (load average {os.getloadavg()[0]:.1f})",
                            flush=True,
                        )
                        for problem in result.problems:
                            print(f"   ! {problem}", flush=True)
                    if args.repeats > 1:
                        _print_medians(
                            f"{count}-way {kind}",
                            {
                                path: [r.call_share for p, r in rounds if p == path]
                                for path in args.paths.split(",")
                            },
                        )
        relay_counts = [int(part) for part in args.relay_sizes.split(",") if part]
        if relay_counts:
            relayed: dict[tuple[int, str], list[tuple[float, float]]] = {}
            for _ in range(args.repeats):
                for path in args.relay_paths.split(","):
                    for count, figures in run_relayed(relay_counts, workdir, path, args).items():
                        relayed.setdefault((count, path), []).append(figures)
            if args.repeats > 1:
                for count in relay_counts:
                    for index, what in enumerate(("CPU per participant, % of a core",
                                                  "audio frames/s of the lowest participant")):
                        _print_medians(
                            f"{count}-way audio relayed, {what}",
                            {path: [figures[index] for figures in relayed[(count, path)]]
                             for path in args.relay_paths.split(",")},
                        )
            for path in args.relay_paths.split(","):
                if path.startswith("packets/ours") and args.relay_video_slots \
                        and not args.no_video:
                    run_relayed(relay_counts, workdir, path, args, args.relay_video_slots)
    print(f"took {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
