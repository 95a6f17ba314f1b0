"""Where a steady relayed call's CPU goes: an N-way audio call through `python -m gossip.relay`
(benchmarks/big_call.py's relayed call: each participant its own process), sampled by py-spy
once everyone hears everyone, one participant and the relay at once, for a few seconds.

Printed for each: the share of its samples (py-spy counts a thread while it runs, not while it
waits in epoll) by area of the code, and the functions with the most own samples. py-spy reads
the process from outside, so the figures carry no profiler overhead of its own; it does take
some of the machine's CPU while it samples. With --native, C frames (libopus, OpenSSL, libsrtp)
are shown where the Python frame calls them.

With --perf, Linux perf samples them instead (CPU time only, by shared object and symbol:
the interpreter, libopus, webrtcvad, libsrtp, the kernel).

Run: python benchmarks/profile_relayed.py [--size 12] [--path packets/ours] [--seconds 8]
     [--rate 200] [--top 25] [--native] [--perf]
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from big_call import _read, _write, relayed_call

# Own samples go to the first area with a pattern in the leaf frame (its function and file).
AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("GC", ("<gc>", "garbage collection")),
    ("SRTP (unprotect/protect)", ("srtp", "_rx_srtp", "_tx_srtp", "unprotect", "protect")),
    ("UDP send/receive (kernel calls)", ("sendto", "recvfrom", "_sock_", "send_data",
                                         "datagram_received", "selector_events")),
    ("frame open (AES-GCM) and seal", ("framecrypt", "crypto/frames", "aead", "decrypt",
                                       "encrypt")),
    ("Opus decode / encode", ("opuslib", "concealment", "opusfec", "decode_samples",
                              "_encode")),
    ("relay forwarding", ("gossip/relay",)),
    ("slot receive (header, routing)", ("slotreceive", "relaylink", "rtpheader", "jitter.py",
                                        "spread.py", "decodedtrack")),
    ("engine, mixer, VAD, sink", ("engine.py", "mixer.py", "capturechain", "webrtcvad",
                                  "sinks.py", "format.py", "numpy")),
    ("our send (rtpsend)", ("rtpsend", "track.py", "sources.py")),
    ("aiortc / aioice", ("aiortc", "aioice")),
    ("trio and trio-asyncio scheduling", ("trio", "asyncio", "outcome", "contextvars",
                                          "selectors", "sniffio")),
)


def area_of(frame: str) -> str:
    for area, patterns in AREAS:
        if any(pattern in frame for pattern in patterns):
            return area
    return "other"


def sample(pid: int, seconds: float, rate: int, native: bool, out: Path) -> subprocess.Popen[str]:
    spy = shutil.which("py-spy", path=os.pathsep.join(
        [str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if spy is None:
        raise SystemExit("py-spy is not installed (pip install py-spy)")
    command = [spy, "record", "--pid", str(pid), "--duration", f"{seconds:g}",
               "--rate", str(rate), "--format", "raw", "--output", str(out)]
    # Native stacks need the process stopped for each sample (a few microseconds each).
    command.append("--native" if native else "--nonblocking")
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def perf_record(pid: int, seconds: float, rate: int, out: Path) -> subprocess.Popen[str]:
    """Linux perf on `pid` for `seconds`: every thread, kernel and C libraries included (the
    Python interpreter shows as libpython's own functions)."""
    return subprocess.Popen(
        ["perf", "record", "-F", str(rate), "-p", str(pid), "-o", str(out), "--", "sleep",
         f"{seconds:g}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def perf_report(what: str, out: Path, top: int) -> None:
    """Shares of CPU samples by shared object (kernel, libpython, libopus, libcrypto, ...),
    then by symbol."""
    for sort, limit in (("dso", 12), ("dso,symbol", top)):
        lines = subprocess.run(
            ["perf", "report", "-i", str(out), "--stdio", "--sort", sort, "--percent-limit",
             "0.5"], capture_output=True, text=True).stdout.splitlines()
        rows = [line for line in lines if line.strip() and not line.startswith("#")]
        print(f"{what}, by {sort}:", flush=True)
        for line in rows[:limit]:
            print(f"   {line.strip()}", flush=True)


def report(what: str, out: Path, seconds: float, rate: int, top: int) -> None:
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        leaf = stack.rsplit(";", 1)[-1]
        own[leaf] += int(count)
        total += int(count)
    if not total:
        print(f"{what}: no samples", flush=True)
        return
    areas: collections.Counter[str] = collections.Counter()
    for leaf, count in own.items():
        areas[area_of(leaf)] += count
    busy = total / (seconds * rate) * 100
    print(f"{what}: {total} samples in {seconds:g} s at {rate}/s: busy ~{busy:.0f}% of a core "
          "(threads summed)", flush=True)
    for area, count in areas.most_common():
        print(f"   {count / total * 100:4.1f}%  {area}", flush=True)
    for leaf, count in own.most_common(top):
        print(f"      {count / total * 100:4.1f}%  {leaf}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=12)
    parser.add_argument("--path", default="packets/ours", help="as big_call.py's --relay-paths")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=int, default=200, help="samples a second")
    parser.add_argument("--top", type=int, default=25, help="functions of most own samples")
    parser.add_argument("--native", action="store_true", help="C frames too")
    parser.add_argument("--perf", action="store_true",
                        help="sample with Linux perf instead (C libraries and the kernel)")
    args = parser.parse_args()
    # What relayed_call reads of big_call's arguments.
    call_args = argparse.Namespace(size="320x180", fps=15.0)
    print(f"profile_relayed: {args.size}-way relayed audio ({args.path}), p00 and the relay "
          f"sampled by {'perf' if args.perf else 'py-spy'} for {args.seconds:g} s; load "
          f"average {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        with relayed_call(args.size, workdir, args.path, call_args) as (relay, participants):
            outs = {"participant p00": workdir / "p00.txt", "relay": workdir / "relay.txt"}
            pids = {"participant p00": participants["p00"].pid, "relay": relay.pid}
            spies = [
                perf_record(pids[what], args.seconds, args.rate, out) if args.perf
                else sample(pids[what], args.seconds, args.rate, args.native, out)
                for what, out in outs.items()
            ]
            for spy in spies:
                _, err = spy.communicate(timeout=args.seconds + 60)
                if spy.returncode:
                    print(f"py-spy failed: {err.strip()}", flush=True)
            for process in participants.values():  # each reports and is then let go
                _write(process, {"record": 1})
            for process in participants.values():
                _read(process)
        for what, out in outs.items():
            if out.exists():
                if args.perf:
                    perf_report(what, out, args.top)
                else:
                    report(what, out, args.seconds, args.rate, args.top)
    print(f"load average {os.getloadavg()[0]:.1f} at the end", flush=True)


if __name__ == "__main__":
    main()
