"""`python -m gossip.fsm`: list, draw, audit and document every protocol machine.

Exit codes: 0 all good; 1 findings, stale docs, or a diagram tool missing; 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .audit.docs import DocsError, default_path, stale_diff, write_document
from .audit.export import FORMATS, ExportUnavailable, export
from .audit.pairs import Bounds
from .audit.report import audit, format_report
from .base import ProtocolMachine
from .registry import MACHINES, PAIRS, Pair

OK, FINDINGS, USAGE = 0, 1, 2


class UnknownName(Exception):
    """A name on the command line is neither a machine nor a pair."""

    def __init__(self, unknown: Sequence[str], known: Sequence[str]) -> None:
        super().__init__(f"unknown name(s): {', '.join(unknown)}; known: {', '.join(known)}")


def main(argv: Sequence[str] | None = None,
         machines: Mapping[str, type[ProtocolMachine]] = MACHINES,
         pairs: Sequence[Pair] = PAIRS) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            return _list(machines, pairs)
        if args.command == "export":
            return _export(args, _select_machines(args.names, machines))
        if args.command == "check":
            return _check(args, machines, pairs)
        return _docs(args, machines, pairs)
    except UnknownName as unknown:
        print(f"error: {unknown}", file=sys.stderr)
        return USAGE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gossip.fsm",
        description="Gossip's protocol machines: list, draw, audit, document.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("list", help="name every machine with its purpose")
    export_ = commands.add_parser("export", help="write one diagram file per machine")
    export_.add_argument("--format", choices=list(FORMATS), required=True)
    export_.add_argument("--out", type=Path, default=Path("."), metavar="DIR",
                         help="directory to write into (default: the current one)")
    export_.add_argument("names", nargs="*", metavar="MACHINE", help="default: all")
    check = commands.add_parser(
        "check", help="audit machines against the rules and explore the pairs",
        description="Names may be machines or pairs; a machine brings in the pairs it is in.")
    check.add_argument("names", nargs="*", metavar="NAME", help="default: all")
    check.add_argument("--max-states", type=_positive, default=Bounds.max_states,
                       help="joint states explored per pair before stopping (default: "
                            "%(default)s)")
    check.add_argument("--depth", type=_positive, default=Bounds.depth,
                       help="frames in flight per direction beyond which local requests wait "
                            "(default: %(default)s)")
    docs = commands.add_parser("docs", help="regenerate docs/protocol.md from the machines")
    docs.add_argument("--check", action="store_true",
                      help="only report whether the file is up to date (exit 1 if not)")
    docs.add_argument("--path", type=Path, default=None,
                      help="the document (default: docs/protocol.md of this source tree)")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _select_machines(names: Sequence[str], machines: Mapping[str, type[ProtocolMachine]]
                     ) -> dict[str, type[ProtocolMachine]]:
    unknown = [name for name in names if name not in machines]
    if unknown:
        raise UnknownName(unknown, list(machines))
    return {name: machine for name, machine in machines.items() if not names or name in names}


def _list(machines: Mapping[str, type[ProtocolMachine]], pairs: Sequence[Pair]) -> int:
    width = max(len(name) for name in machines)
    for name, machine in machines.items():
        print(f"{name:<{width}}  {machine.purpose or '(no purpose given)'}")
    if pairs:
        print("\npairs:")
        for pair in pairs:
            print(f"  {pair.name}: {pair.left} <-> {pair.right}")
    return OK


def _export(args: argparse.Namespace, machines: Mapping[str, type[ProtocolMachine]]) -> int:
    try:
        written = export(machines, args.format, args.out)
    except ExportUnavailable as unavailable:
        print(f"error: {unavailable}", file=sys.stderr)
        return FINDINGS
    for path in written:
        print(path)
    return OK


def _check(args: argparse.Namespace, machines: Mapping[str, type[ProtocolMachine]],
           pairs: Sequence[Pair]) -> int:
    names = set(args.names)
    known = [*machines, *(pair.name for pair in pairs)]
    unknown = sorted(names - set(known))
    if unknown:
        raise UnknownName(unknown, known)
    chosen_pairs = [pair for pair in pairs
                    if not names or pair.name in names or {pair.left, pair.right} & names]
    chosen = {name: machine for name, machine in machines.items()
              if not names or name in names
              or any(name in (pair.left, pair.right) for pair in chosen_pairs
                     if pair.name in names)}
    report = audit(chosen, chosen_pairs, Bounds(args.max_states, args.depth))
    # Pairs may involve machines outside the selection; they are explored, not rule-checked.
    print(format_report(report, machines), end="")
    return OK if report.ok else FINDINGS


def _docs(args: argparse.Namespace, machines: Mapping[str, type[ProtocolMachine]],
          pairs: Sequence[Pair]) -> int:
    path = args.path or default_path()
    try:
        if args.check:
            diff = stale_diff(path, machines, pairs)
            if diff:
                print(diff, end="")
                print(f"{path} is out of date: run `python -m gossip.fsm docs`",
                      file=sys.stderr)
                return FINDINGS
            print(f"{path} is up to date")
            return OK
        changed = write_document(path, machines, pairs)
    except DocsError as error:
        print(f"error: {path}: {error}", file=sys.stderr)
        return FINDINGS
    print(f"{path} {'rewritten' if changed else 'already up to date'}")
    return OK


if __name__ == "__main__":
    raise SystemExit(main())
