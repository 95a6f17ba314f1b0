"""`python -m gossip`: the desktop app; `--demo` runs it on an in-process hub with scripted
users. Until the desktop app lands, the demo prints the scene in the terminal."""

from __future__ import annotations

import argparse
import sys

import trio

from .demo import run_terminal_demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gossip")
    parser.add_argument("--demo", action="store_true",
                        help="in-process hub and scripted users (no network, no sound card)")
    parser.add_argument("--quit-after", type=float, help="exit after this many seconds")
    args = parser.parse_args(argv)
    if not args.demo:
        parser.error("the desktop app is not built yet; run with --demo")
    try:
        trio.run(run_terminal_demo, sys.stdout, args.quit_after)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
