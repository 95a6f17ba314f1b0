"""`python -m gossip.hub`: run a hub until SIGINT/SIGTERM; `... user reset NAME` frees a name
that a key registered, so another key may take it."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from functools import partial
from pathlib import Path

import trio

from .check import check_command
from .cluster.admin import reset_name
from .cluster.backend import ClusterUnavailable
from .config import ConfigError, HubConfig, load_config
from .heap import HeapPolicy
from .names import NameBook
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
    parser.add_argument("--redis", metavar="URL",
                        help="join the cluster of hubs sharing this Redis (redis://HOST:PORT/DB)"
                        "; without it the hub runs on its own")
    parser.add_argument("--metrics-port", type=int, metavar="PORT",
                        help="serve Prometheus metrics on http://127.0.0.1:PORT/metrics")
    parser.add_argument("--check", action="store_true",
                        help="report whether the hub can reach its cluster's Redis and the "
                        "other hubs, then exit (0: all reachable)")
    parser.add_argument("--relay-url", help="a relay for large calls (python -m gossip.relay "
                        "prints its URL and fingerprint)")
    parser.add_argument("--relay-fingerprint", help="the relay's certificate fingerprint")
    parser.add_argument("--relay-secret-file", help="the secret the relay made (it prints "
                        "where), with which the hub makes members' tickets")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every frame")
    return parser.parse_args(argv)


def parse_user_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="gossip-hub user", description="Manage the names keys registered on this hub.")
    actions = parser.add_subparsers(dest="action", required=True)
    reset = actions.add_parser("reset", help="free NAME, so that another key may register it "
                               "(e.g. its owner lost their key); works while the hub runs")
    reset.add_argument("name")
    reset.add_argument("--config", type=Path, help="the hub's TOML config file")
    reset.add_argument("--data-dir", type=Path, help="the hub's data directory")
    reset.add_argument("--redis", metavar="URL",
                       help="the cluster's Redis, where a cluster binds its names")
    return parser.parse_args(argv)


def user_command(argv: list[str]) -> int:
    args = parse_user_args(argv)
    try:
        config = _data_config(args.config, args.data_dir, args.redis)
    except ConfigError as exc:
        print(f"gossip hub: {exc}", file=sys.stderr)
        return 2
    if config.redis is not None:  # a cluster binds names in Redis, for all its hubs
        try:
            freed = trio.run(reset_name, config.redis, args.name)
        except ClusterUnavailable as exc:
            print(f"gossip hub: cannot free the name: {exc}", file=sys.stderr)
            return 1
        print(f"{args.name} is free now" if freed else f"{args.name} was not registered")
        return 0
    book = NameBook.open(config.data_dir)
    try:
        freed = book.reset(args.name)
    finally:
        book.close()
    print(f"{args.name} is free now" if freed else f"{args.name} was not registered")
    return 0


def _data_config(path: Path | None, data_dir: Path | None,
                 redis: str | None = None) -> HubConfig:
    """The config as far as where its data lives: managing names needs no password, so a
    placeholder stands in for one the file or environment may not give."""
    return load_config(path, data_dir=data_dir, password="-", redis=redis)


def _config(args: argparse.Namespace) -> HubConfig:
    return load_config(args.config, host=args.host, port=args.port, password=args.password,
                       name=args.name, channels=args.channels, data_dir=args.data_dir,
                       tls=False if args.insecure_no_tls else None, redis=args.redis,
                       metrics_port=args.metrics_port, relay_url=args.relay_url,
                       relay_fingerprint=args.relay_fingerprint,
                       relay_secret_file=args.relay_secret_file)


async def run(args: argparse.Namespace) -> None:
    config = _config(args)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            hub: RunningHub = await nursery.start(
                partial(serve_hub, config, heap=HeapPolicy()))
            print(f"gossip hub {config.name!r} on {hub.host}:{hub.port}, certificate "
                  f"fingerprint {hub.fingerprint}", file=sys.stderr, flush=True)
            async for signum in signals:
                logging.getLogger("gossip.hub").info("stopping on %s",
                                                     signal.Signals(signum).name)
                nursery.cancel_scope.cancel()
                break


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["user"]:
        return user_command(argv[1:])
    args = parse_args(argv)
    if args.check:
        try:
            return trio.run(check_command, _data_config(args.config, args.data_dir, args.redis))
        except ConfigError as exc:
            print(f"gossip hub: {exc}", file=sys.stderr)
            return 2
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
