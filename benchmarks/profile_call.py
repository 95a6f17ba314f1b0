"""Where a steady call participant's CPU goes: a 2-way (or N-way) audio call through a hub,
each participant its own `gossip-cli call` process, one of them under cProfile, switched on
once every link is up (and settled) and off before the call ends, so set-up is in no figure.

Printed: that participant's own (not cumulative) time by area of the code, as shares of its
busy time in the window, then the functions with the most own time. cProfile's overhead
inflates Python-heavy areas against C calls; compare shares between media paths measured in
the same run, not totals against benchmarks/big_call.py.

Run: python benchmarks/profile_call.py [--size 2] [--paths sealed-aiortc,sealed] [--seconds 10]
"""

from __future__ import annotations

import argparse
import collections
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _servers import PASSWORD, ServerProcess, ServerSpec
from big_call import compiled_env

SETTLE = 2.0
SEND = "send: aiortc's sender, our encoder and sealer, SRTP protect"
RECEIVE = "receive: DTLS/SRTP, aioice, the receiver (ours or aiortc's), open, decode"
PLAYOUT = "playout: engine tick, jitter buffer, mixer, VAD, sink"
SCHEDULING = "trio and trio-asyncio scheduling"
IDLE = "idle (epoll)"
# Own time goes to the first area with a rule matching its file (and function, if named).
RULES: tuple[tuple[str, str, frozenset[str]], ...] = (
    (IDLE, "select.epoll", frozenset()),
    (SEND, "framecrypt", frozenset({"recv", "frame_for", "_encode", "seal_frame"})),
    (RECEIVE, "framecrypt", frozenset()),
    (RECEIVE, "jitter", frozenset({"admit", "map", "add"})),
    (SEND, "srtp_protect", frozenset()),
    (RECEIVE, "srtp_unprotect", frozenset()),
    (SEND, "sendto", frozenset()),
    (SEND, "encrypt", frozenset()),
    (RECEIVE, "decrypt", frozenset()),
    *((SEND, name, frozenset()) for name in (
        "rtcrtpsender", "opusfec", "opuslib_next/api/encoder", "track.py", "sources.py",
        "codecs/opus", "codecs/base")),
    *((RECEIVE, name, frozenset()) for name in (
        "rtcdtlstransport", "aioice", "rtcrtpreceiver", "meshreceive", "concealment",
        "crypto/frames", "rtpheader", "decodedtrack", "jitterbuffer", "_thread.lock",
        "opuslib_next/api/decoder")),
    *((PLAYOUT, name, frozenset()) for name in (
        "engine.py", "jitter.py", "mixer.py", "capturechain", "sinks.py", "webrtcvad",
        "processing.py", "format.py")),
    *((SCHEDULING, name, frozenset()) for name in ("trio", "asyncio", "contextvars",
                                                    "contextlib", "selectors")),
)


def area_of(key: tuple[str, int, str]) -> str:
    filename, _, function = key
    where = f"{filename} {function}"
    for area, pattern, functions in RULES:
        if pattern in where and (not functions or function in functions):
            return area
    return "other"


WRAPPER = """
import cProfile, runpy, signal, sys
profiler = cProfile.Profile()
out = sys.argv.pop(1)
signal.signal(signal.SIGUSR1, lambda *_: profiler.enable())
def stop(*_):
    profiler.disable()
    profiler.dump_stats(out)
signal.signal(signal.SIGUSR2, stop)
sys.argv[0] = "gossip.cli"
runpy.run_module("gossip.cli", run_name="__main__", alter_sys=True)
"""


def participant(user: str, index: int, port: int, workdir: Path, path: str, seconds: float,
                profile_to: Path | None) -> subprocess.Popen[str]:
    head = [sys.executable, "-m", "gossip.cli"] if profile_to is None else [
        sys.executable, "-c", WRAPPER, str(profile_to)]
    return subprocess.Popen(
        head + ["--host", "127.0.0.1", "--port", str(port), "--password", PASSWORD,
                "--user", user, "--profile", str(workdir / "profiles" / user), "call",
                "general", "--ice-host", "127.0.0.1", "--source", f"tone:{300 + 150 * index}",
                "--sink", "null", "--duration", f"{seconds:g}", "--json", "--media-path", path],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=compiled_env(workdir))


def profile(size: int, port: int, workdir: Path, path: str, seconds: float) -> Path | None:
    out = workdir / f"{path}.prof"
    processes = [
        participant(f"p{i}", i, port, workdir, path, seconds + 30, out if i == 0 else None)
        for i in range(size)
    ]
    up = collections.Counter[int]()
    all_up = threading.Event()

    def read(process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            if ": link up in " in line:
                up[process.pid] += 1
                if len(up) == size and all(n >= size - 1 for n in up.values()):
                    all_up.set()

    for process in processes:
        threading.Thread(target=read, args=(process,), daemon=True).start()
    try:
        if not all_up.wait(60):
            print(f"{path}: the links did not come up", flush=True)
            return None
        time.sleep(SETTLE)
        processes[0].send_signal(signal.SIGUSR1)
        time.sleep(seconds)
        processes[0].send_signal(signal.SIGUSR2)
        for _ in range(100):
            if out.exists() and out.stat().st_size:
                break
            time.sleep(0.1)
        time.sleep(0.5)  # the dump finished
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
    return out if out.exists() else None


def report(path: str, out: Path, seconds: float, top: int) -> None:
    stats = pstats.Stats(str(out))
    own: collections.Counter[str] = collections.Counter()
    unplaced: collections.Counter[str] = collections.Counter()
    for key, (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        area = area_of(key)
        own[area] += tottime
        if area == "other":
            unplaced[f"{key[0]}:{key[1]}({key[2]})"] += tottime
    idle = own.pop(IDLE, 0.0)
    busy = sum(own.values())
    print(f"{path}: busy {busy:.2f} s of {seconds:g} s profiled ({busy / seconds * 100:.1f}% "
          f"of a core under cProfile; idle in epoll {idle:.2f} s)", flush=True)
    for area, value in own.most_common():
        print(f"   {value / busy * 100:4.0f}%  {area}", flush=True)
    print("   the largest in other: " + "; ".join(
        f"{name.rsplit('/', 1)[-1]} {value / busy * 100:.1f}%"
        for name, value in unplaced.most_common(8)), flush=True)
    if top:
        stats.sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=2)
    parser.add_argument("--paths", default="sealed-aiortc,sealed")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--top", type=int, default=0, help="also the N functions of most own time")
    args = parser.parse_args()
    print(f"profile_call: {args.size}-way audio, participant p0 under cProfile for "
          f"{args.seconds:g} s once every link is up; load average {os.getloadavg()[0]:.1f}",
          flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        with ServerProcess(ServerSpec("hub", True, str(workdir / "hub"))) as server:
            for path in args.paths.split(","):
                out = profile(args.size, server.port, workdir, path, args.seconds)
                if out is not None:
                    report(path, out, args.seconds, args.top)


if __name__ == "__main__":
    main()
