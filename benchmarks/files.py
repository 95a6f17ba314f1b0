"""File transfer end to end through a real hub, beside a raw copy over a bare WebSocket.

Gossip: alice's process seals and uploads a file to the hub (its own process), posts the file
message; bob's process gets it, fetches, checks and saves the file. Timed from the start of
the upload to the file saved. Baseline, in the same run: the same bytes copied up to a bare
trio-websocket server that writes them to disk, then back down (the same two hops through a
disk, no crypto, no protocol). Both over plain ws on loopback (TLS would cost both alike).
Prints MB/s for each size, the ratio, and the peak RSS of the hub and of each client: flat
memory means the same peak whatever the size.

Run: python benchmarks/files.py                 (10 MB)
     python benchmarks/files.py --sizes 10,200,1024
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio
from trio_websocket import WebSocketRequest, serve_websocket

HERE = Path(__file__).resolve().parent
MB = 1_000_000
PASSWORD = "bench"


def _make_file(path: Path, size: int) -> None:
    block = os.urandom(1 << 20)
    with path.open("wb") as sink:
        left = size
        while left > 0:
            sink.write(block[:left])
            left -= len(block)


def _client(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(HERE / "_fileclient.py"), *args], stdout=subprocess.PIPE, text=True
    )


def _result(process: subprocess.Popen[str]) -> dict[str, float]:
    out, _ = process.communicate(timeout=3600)
    if process.returncode != 0:
        raise SystemExit(f"a benchmark client failed ({process.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def _sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    return round(int(found.group(1)) / 1024, 1) if found else 0.0


def _start(command: list[str], log: Path) -> tuple[subprocess.Popen[str], int]:
    handle = log.open("w")
    process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"(?:on 127\.0\.0\.1:|port )(\d+)", log.read_text())
        if found:
            return process, int(found.group(1))
        if process.poll() is not None:
            raise SystemExit(f"{command[2]} exited: {log.read_text()}")
        time.sleep(0.05)  # a benchmark polling a log file, not a test
    raise SystemExit("a server did not start")


def gossip_run(port: int, hub_pid: int, work: Path, source: Path, size: int) -> dict[str, float]:
    inbox = work / f"inbox-{size}"
    bob = _client("recv", str(port), str(work / "bob"), str(inbox))
    assert bob.stdout is not None
    bob.stdout.readline()  # ready
    alice = _client("send", str(port), str(work / "alice"), str(source))
    sent, got = _result(alice), _result(bob)
    saved = next(inbox.iterdir())
    if _sha256(saved) != _sha256(source):  # after the timing: what arrived is what was sent
        raise SystemExit(f"the {size}-byte file arrived different (sha256 mismatch)")
    saved.unlink()  # keep the disk free for the next size
    return {
        "seconds": got["end"] - sent["start"],
        "upload": sent["end"] - sent["start"],
        "sender_rss": sent["rss_mib"],
        "receiver_rss": got["rss_mib"],
        "hub_rss": _peak_rss_mib(hub_pid),
    }


def bare_run(port: int, work: Path, source: Path, size: int) -> dict[str, float]:
    copied = _result(_client("bare", str(port), str(source), str(work / "bare-inbox")))
    (work / "bare-inbox" / "copy").unlink()
    return {"seconds": copied["end"] - copied["start"], "client_rss": copied["rss_mib"]}


# -- the bare server (run as `files.py --serve-bare DIR` in a process of its own) -------------


async def serve_bare(directory: Path) -> None:
    blob = directory / "bare.blob"

    async def handle(request: WebSocketRequest) -> None:
        ws = await request.accept()
        if request.path == "/put":
            with blob.open("wb") as sink:
                while block := await ws.get_message():
                    assert isinstance(block, bytes)
                    sink.write(block)
            await ws.send_message(b"stored")
        else:
            with blob.open("rb") as source:
                while block := source.read(64 * 1024):
                    await ws.send_message(block)
        await ws.aclose()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            lambda task_status: serve_websocket(
                handle,
                "127.0.0.1",
                0,
                ssl_context=None,
                max_message_size=1 << 20,
                task_status=task_status,
            )
        )
        print(f"bare server port {listeners.port}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        default="10",
        help="file sizes in MB, comma-separated (default 10; the full set is 10,200,1024)",
    )
    parser.add_argument("--serve-bare", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare is not None:
        trio.run(serve_bare, args.serve_bare)
        return
    sizes = [int(float(text) * MB) for text in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        config = work / "hub.toml"
        config.write_text(
            "[limits]\nmax_file_bytes = 2147483647\n"
            "file_quota_per_user = 17179869184\n"
            "file_quota_total = 17179869184\n"
            "file_bytes_per_second = 1e12\nfile_bytes_burst = 1e12\n"
        )
        hub, hub_port = _start(
            [
                sys.executable,
                "-m",
                "gossip.hub",
                "--insecure-no-tls",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--password",
                PASSWORD,
                "--data-dir",
                str(work / "hub"),
                "--config",
                str(config),
            ],
            work / "hub.log",
        )
        bare, bare_port = _start(
            [sys.executable, __file__, "--serve-bare", str(work)], work / "bare.log"
        )
        try:
            print(
                f"{'size':>8} {'bare MB/s':>10} {'gossip MB/s':>12} {'ratio':>6} "
                f"{'upload s':>9} {'hub MiB':>8} {'sender MiB':>11} {'receiver MiB':>13} "
                f"{'bare client MiB':>16}"
            )
            for size in sizes:
                source = work / "source.bin"
                _make_file(source, size)
                baseline = bare_run(bare_port, work, source, size)
                ours = gossip_run(hub_port, hub.pid, work, source, size)
                for stored in (work / "hub" / "files").glob("*.blob"):
                    stored.unlink()  # its record stays; it expires unused
                bare_rate = size / MB / baseline["seconds"]
                rate = size / MB / ours["seconds"]
                print(
                    f"{size / MB:>6.0f}MB {bare_rate:>10.1f} {rate:>12.1f} "
                    f"{rate / bare_rate:>6.0%} {ours['upload']:>9.2f} {ours['hub_rss']:>8} "
                    f"{ours['sender_rss']:>11} {ours['receiver_rss']:>13} "
                    f"{baseline['client_rss']:>16}",
                    flush=True,
                )
        finally:
            for process in (hub, bare):
                process.terminate()
                process.wait(timeout=10)


if __name__ == "__main__":
    main()
