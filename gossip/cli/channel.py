"""`gossip-cli channel`: create a private channel, add and remove members, hand its ownership
over, show its roster.

Each command waits until the hub's roster logs for this connection were verified (or given up
as withheld), so it acts on the roster every member verifies, never on the hub's word.
"""

from __future__ import annotations

import argparse
import json

from gossip.client.commands import (
    AddToChannel,
    CreatePrivateChannel,
    GetPrivateChannels,
    HandOverChannel,
    RemoveFromChannel,
)
from gossip.client.errors import CommandRefused
from gossip.client.private import PrivateChannelView
from gossip.client.session import Session

from .failures import EXIT_FAILURE, EXIT_USAGE, CliError
from .listen import TRUST_LABELS
from .terminal import safe_field


def add_channel_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    channel = commands.add_parser(
        "channel", help="private channels: create, add, remove, hand over, show")
    sub = channel.add_subparsers(dest="channel_command", required=True)
    sub.add_parser("create", help="create private channel NAME, owned by you").add_argument(
        "name", metavar="NAME")
    for name, text in (("add", "add USER (their key as announced now) to NAME (owner only)"),
                       ("remove", "remove USER from NAME (owner; or yourself, to leave)"),
                       ("handover", "make member USER the owner of NAME (owner only)")):
        parser = sub.add_parser(name, help=text)
        parser.add_argument("name", metavar="NAME")
        parser.add_argument("user", metavar="USER")
    show = sub.add_parser("show", help="NAME's verified roster: members, their keys and trust")
    show.add_argument("name", metavar="NAME")
    show.add_argument("--json", action="store_true", help="one JSON object")


async def run_channel(args: argparse.Namespace, session: Session) -> None:
    await session.ref.ask(GetPrivateChannels(settled=True))
    command = args.channel_command
    try:
        if command == "create":
            view = await session.ref.ask(CreatePrivateChannel(args.name))
        elif command == "add":
            view = await session.ref.ask(AddToChannel(args.name, args.user))
        elif command == "remove":
            view = await session.ref.ask(RemoveFromChannel(args.name, args.user))
        elif command == "handover":
            view = await session.ref.ask(HandOverChannel(args.name, args.user))
        else:
            views = await session.ref.ask(GetPrivateChannels())
            found = next((view for view in views if view.channel == args.name), None)
            if found is None:
                raise CliError(f"no private channel {args.name!r} lists you", EXIT_FAILURE)
            view = found
    except CommandRefused as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    print(as_json(view) if getattr(args, "json", False) else describe(view))


def describe(view: PrivateChannelView) -> str:
    """The roster as lines: the channel and our phase, then one member a line."""
    lines = [f"#{safe_field(view.channel)} (private, {view.phase.value}"
             + (f"; ALARM {safe_field(view.alarm)}" if view.alarm else "") + ")"]
    for member in view.members:
        role = " (owner)" if member.owner else ""
        lines.append(f"  {safe_field(member.user)}{role}  {member.fingerprint}  "
                     f"{TRUST_LABELS[member.trust]}")
    return "\n".join(lines)


def as_json(view: PrivateChannelView) -> str:
    return json.dumps({"channel": view.channel, "phase": view.phase.value, "owner": view.owner,
                       "alarm": view.alarm,
                       "members": [{"user": m.user, "fingerprint": m.fingerprint,
                                    "trust": m.trust.value, "owner": m.owner}
                                   for m in view.members]})
