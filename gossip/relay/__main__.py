"""`python -m gossip.relay`: serve calls as a relay that cannot listen.

Prints one JSON line once listening: {"url": "ws://HOST:PORT", "fingerprint": "sha-256 ...",
"secret_file": PATH}; the hub's operator gives all three to the hub's config (relay_url,
relay_fingerprint, relay_secret_file): the hub tells clients the first two, and makes each
member a ticket with the secret, which the relay checks before it admits a name to a call.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import trio

from gossip.wire.relay import RELAY_SECRET_BYTES, read_relay_secret

from .room import SENDER_KBPS
from .server import RelayConfig, ice_hosts_of, run_relay


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gossip.relay",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    parser.add_argument(
        "--ice-host",
        action="append",
        default=[],
        metavar="ADDR",
        help="address offered to participants for media (repeatable; default 127.0.0.1)",
    )
    parser.add_argument(
        "--max-participants",
        type=int,
        default=25,
        metavar="N",
        help="participants a call may have (default 25)",
    )
    parser.add_argument(
        "--max-calls", type=int, default=16, metavar="N", help="calls carried at once (default 16)"
    )
    parser.add_argument(
        "--sender-kbps",
        type=int,
        default=SENDER_KBPS,
        metavar="N",
        help=f"a sender's bitrate past which its packets are dropped (default {SENDER_KBPS})",
    )
    parser.add_argument(
        "--forwarding",
        choices=("packets", "frames"),
        default="packets",
        help="forward RTP packets (default), or frames through aiortc (the old path, for "
        "benchmarks)",
    )
    parser.add_argument(
        "--read",
        choices=("in-place", "queued"),
        default="in-place",
        help="read each participant's socket in place (default), or through aiortc's receive "
        "task (the old path, for benchmarks)",
    )
    parser.add_argument(
        "--secret-file",
        type=Path,
        default=Path("relay-secret"),
        metavar="PATH",
        help="the secret shared with the hub, made (mode 0600) if missing (default ./relay-secret)",
    )
    args = parser.parse_args(argv)
    if args.max_participants < 2 or args.max_calls < 1 or args.sender_kbps < 8:
        parser.error(
            "--max-participants must be at least 2, --max-calls at least 1 and "
            "--sender-kbps at least 8"
        )
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        secret = _secret(args.secret_file)
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    config = RelayConfig(
        args.host,
        args.port,
        ice_hosts_of(args.ice_host),
        args.max_participants,
        args.max_calls,
        secret=secret,
        sender_kbps=args.sender_kbps,
        forwarding=args.forwarding,
        read_in_place=args.read == "in-place",
    )

    async def serve() -> None:
        async with trio.open_nursery() as nursery:
            port, fingerprint = await nursery.start(run_relay, config)
            print(
                json.dumps(
                    {
                        "url": f"ws://{config.host}:{port}",
                        "fingerprint": fingerprint,
                        "secret_file": str(args.secret_file.resolve()),
                    }
                ),
                flush=True,
            )

    try:
        trio.run(serve)
    except KeyboardInterrupt:
        return 0
    return 0


def _secret(path: Path) -> bytes:
    """The secret in `path`, or a new one written there readable by its owner alone."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(os.urandom(RELAY_SECRET_BYTES).hex())
    return read_relay_secret(str(path))


if __name__ == "__main__":
    sys.exit(main())
