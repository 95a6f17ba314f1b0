"""`python -m gossip.hub`: run a hub until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

import trio

from .config import ConfigError, load_config
from .server import RunningHub, freeze_startup_heap, serve_hub


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gossip.hub",
                                     description="Run a Gossip hub (relays what it cannot read).")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 1720; 0 = any)")
    parser.add_argument("--password", help="server password (or GOSSIP_HUB_PASSWORD, or config)")
    parser.add_argument("--config", type=Path, help="TOML config file")
    parser.add_argument("--name", help="the hub's name, shown to clients")
    parser.add_argument("--channel", action="append", dest="channels",
                        help="a channel (repeat for several; default: general)")
    parser.add_argument("--data-dir", type=Path, help="where the hub keeps its TLS key")
    parser.add_argument("--insecure-no-tls", action="store_true",
                        help="plain ws:// (only for debugging on loopback)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every frame")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    config = load_config(args.config, host=args.host, port=args.port, password=args.password,
                         name=args.name, channels=args.channels, data_dir=args.data_dir,
                         tls=False if args.insecure_no_tls else None)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            hub: RunningHub = await nursery.start(serve_hub, config)
            print(f"gossip hub {config.name!r} on {hub.host}:{hub.port}, certificate "
                  f"fingerprint {hub.fingerprint}", file=sys.stderr, flush=True)
            async for signum in signals:
                logging.getLogger("gossip.hub").info("stopping on %s",
                                                     signal.Signals(signum).name)
                nursery.cancel_scope.cancel()
                break


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    freeze_startup_heap()
    try:
        trio.run(run, args)
    except ConfigError as exc:
        print(f"gossip hub: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"gossip hub: cannot listen: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
