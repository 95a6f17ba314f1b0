"""The command line: arguments, connecting a session, and the chat and key commands.

The `call` command lives in call.py and is imported only when it runs (it loads the media
stack); everything else here starts without aiortc, PyAV or numpy.
"""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import os
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from gossip._groups import leaves
from gossip.actors.actor import run_actor
from gossip.actors.errors import ActorStopped
from gossip.client import events as ev
from gossip.client.commands import GetState, Leave, SendChat, VerifyKey
from gossip.client.errors import (
    CommandRefused,
    ConnectionLost,
    HubUnreachable,
    LoginFailed,
    SignedInElsewhere,
)
from gossip.client.lookalike import lookalikes_among
from gossip.client.messages import check_ttl
from gossip.client.profile import Profile
from gossip.client.session import Session, SessionConfig
from gossip.client.state import SessionState
from gossip.crypto import (
    CryptoError,
    HubKeyChanged,
    PassphraseRequired,
    WrongPassphrase,
    safety_number,
)
from gossip.media.defaults import DEFAULT_FPS, DEFAULT_HEIGHT, DEFAULT_WIDTH
from gossip.media.voicespec import TransmitMode
from gossip.wire import DEFAULT_PORT, is_valid_name

from .channel import add_channel_parser, run_channel
from .failures import EXIT_FAILURE, EXIT_HUB_KEY, EXIT_LOGIN, EXIT_USAGE, CliError
from .files import add_file_parsers, listen_saving, run_send_file
from .listen import ListenPrinter, listen
from .terminal import safe_field


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gossip-cli", description="Gossip from a terminal.")
    parser.add_argument("--host", default=os.environ.get("GOSSIP_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GOSSIP_PORT",
                                                                       DEFAULT_PORT)))
    parser.add_argument("--hub", action="append", default=[], metavar="HOST:PORT",
                        dest="hubs", help="a hub of a cluster (repeat for each; the first is "
                        "tried first, the others when it is lost; or GOSSIP_HUBS, comma-"
                        "separated); replaces --host and --port")
    parser.add_argument("--password",
                        help="the hub's password: visible to every user in the process list, "
                             "prefer --password-file, GOSSIP_PASSWORD or the prompt")
    parser.add_argument("--password-file", type=Path, metavar="PATH",
                        help="read the hub's password from the first line of PATH")
    parser.add_argument("--passphrase-file", type=Path, metavar="PATH",
                        help="read the passphrase of your identity key from the first line "
                             "of PATH (or GOSSIP_PASSPHRASE); a new identity is then stored "
                             "protected by it")
    parser.add_argument("--user", default=os.environ.get("GOSSIP_USER") or _login_name())
    parser.add_argument("--profile", type=Path, help="profile directory (keys and pins)")
    parser.add_argument("--insecure-no-tls", action="store_true",
                        help="plain ws:// to a hub started the same way (debugging only)")
    parser.add_argument("--accept-hub-key", metavar="FINGERPRINT",
                        help="accept this new certificate fingerprint for the hub")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("members", help="users online, one a line")
    commands.add_parser("channels", help="the hub's channels")
    send = commands.add_parser("send", help="send a message to a channel")
    send.add_argument("channel")
    send.add_argument("text")
    send.add_argument("--expiry", type=float, default=3600.0, help="seconds to live")
    send.add_argument("--reply-to", default="", metavar="ID",
                      help="answer the message with this id (the \"id\" `listen --json` prints)")
    listen = commands.add_parser("listen", help="print messages as they arrive")
    listen.add_argument("--channel")
    listen.add_argument("--count", type=int, help="stop after this many messages")
    listen.add_argument("--json", action="store_true", help="one JSON object a line")
    listen.add_argument("--save-files", type=Path, metavar="DIR",
                        help="save files that arrive into DIR (names made safe)")
    add_file_parsers(commands)
    call = commands.add_parser("call", help="join (or start) a channel's voice call")
    call.add_argument("channel")
    call.add_argument("--source", default="mic",
                      help="tone:HZ, wav:PATH, null or mic[:DEVICE] (default mic)")
    call.add_argument("--sink", default="speaker",
                      help="wav:PATH, null or speaker[:DEVICE] (default speaker)")
    call.add_argument("--duration", type=float, help="seconds to stay (default: until Ctrl-C)")
    call.add_argument("--json", action="store_true", help="end with a JSON summary line")
    call.add_argument("--mute", action="store_true", help="join muted")
    call.add_argument("--ice-host", action="append", default=[], metavar="ADDR",
                      help="offer only this local address to peers (repeatable)")
    call.add_argument("--ice-server", action="append", default=[], metavar="URL",
                      help="a STUN/TURN server (none by default)")
    call.add_argument("--video", default="none", metavar="SPEC",
                      help="video to send: pattern, none, file:PATH, camera[:DEVICE] or "
                           "screen[:DISPLAY] (default none; others' video is received "
                           "either way)")
    call.add_argument("--video-size", default=f"{DEFAULT_WIDTH}x{DEFAULT_HEIGHT}",
                      metavar="WxH", help=f"size of the video sent (default "
                                          f"{DEFAULT_WIDTH}x{DEFAULT_HEIGHT})")
    call.add_argument("--video-fps", type=float, default=DEFAULT_FPS, metavar="N",
                      help=f"frames a second sent, at most (default {DEFAULT_FPS:g})")
    # Benchmarks only (every member must agree, and only "sealed" is end to end): "once"
    # encodes once per call unsealed, "per-link" encodes for each link (the old path);
    # "sealed-aiortc" is "sealed" with mesh audio received through aiortc's receivers,
    # "sealed-aioice" with each link's socket read by aioice, "sealed-readiness" read in
    # place but woken by each packet (not at the playout ticks).
    call.add_argument("--media-path", choices=("sealed", "sealed-readiness", "sealed-aioice",
                                               "sealed-aiortc", "once", "per-link"),
                      default="sealed", help=argparse.SUPPRESS)
    # Benchmarks only: who packetizes and sends our audio (aiortc's sender: the old path).
    call.add_argument("--send-path", choices=("ours", "aiortc"), default="ours",
                      help=argparse.SUPPRESS)
    call.add_argument("--video-encode", choices=("once", "per-link"), default="once",
                      help=argparse.SUPPRESS)
    call.add_argument("--record-video", type=Path, metavar="DIR",
                      help="save received video in DIR (created): a PNG per peer about "
                           "every second, PEER-NNNN.png, and the last picture, PEER-last.png")
    for flag, what in (("aec", "echo cancellation"), ("ns", "noise suppression"),
                       ("agc", "automatic gain control"), ("high-pass", "the high-pass filter")):
        call.add_argument(f"--{flag}", action=argparse.BooleanOptionalAction, default=None,
                          help=f"{what} on the microphone (default: on for mic and speaker, "
                               "off for tone and WAV sources)")
    call.add_argument("--transmit", choices=[mode.value for mode in TransmitMode],
                      default=TransmitMode.CONTINUOUS.value,
                      help="send always (continuous), only while you speak (voice), or "
                           "push-to-talk (ptt: press the --talk-key to start and again to "
                           "stop talking; a terminal cannot tell when a key is let go)")
    call.add_argument("--talk-key", default=" ", metavar="KEY",
                      help="the push-to-talk key in the terminal (default: space)")
    add_channel_parser(commands)
    key = commands.add_parser("key", help="your key and other users' keys")
    key_commands = key.add_subparsers(dest="key_command", required=True)
    key_commands.add_parser("fingerprint", help="your key's fingerprint")
    key_commands.add_parser("export", help="your public key, ASCII-armoured")
    for name, text in (("safety", "the safety number to compare with USER out of band"),
                       ("verify", "show the safety number, and mark USER's key verified once "
                                  "you confirm USER reads the same one"),
                       ("accept", "accept USER's changed key")):
        sub = key_commands.add_parser(name, help=text)
        sub.add_argument("peer", metavar="USER")
        if name == "verify":
            sub.add_argument("--yes", action="store_true",
                             help="do not ask: you compared the numbers already (scripts)")
    return parser


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "me"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _check_args(args)
        read_secrets(args)
        return trio.run(run, args) or 0
    except CliError as exc:
        return _fail(str(exc), exc.status)
    except KeyboardInterrupt:
        return 130
    except BaseExceptionGroup as group:  # a nursery wraps what its tasks raised
        return _fail_group(group)


def _hub_address(text: str) -> tuple[str, int]:
    host, _, port = text.strip().rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CliError(f"--hub takes HOST:PORT (e.g. 127.0.0.1:1720), not {text!r}", EXIT_USAGE)
    return host.strip("[]"), int(port)


def _check_args(args: argparse.Namespace) -> None:
    if getattr(args, "duration", None) is not None and args.duration <= 0:
        raise CliError("--duration must be positive", EXIT_USAGE)
    for host in getattr(args, "ice_host", []):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise CliError(f"--ice-host takes an IP address, not {host!r}", EXIT_USAGE) from None
    args.other_hubs = ()
    hubs = args.hubs or [hub for hub in os.environ.get("GOSSIP_HUBS", "").split(",") if hub]
    if hubs:
        addresses = [_hub_address(hub) for hub in hubs]
        (args.host, args.port), args.other_hubs = addresses[0], tuple(addresses[1:])
    if not is_valid_name(args.user):
        raise CliError(f"invalid user name {args.user!r} (letters, digits, '_', '.', '-')",
                       EXIT_USAGE)
    channel = getattr(args, "channel", None)
    if channel is not None and not is_valid_name(channel):
        raise CliError(f"invalid channel name {channel!r}", EXIT_USAGE)
    if args.command == "channel" and not is_valid_name(args.name):
        raise CliError(f"invalid channel name {args.name!r}", EXIT_USAGE)
    if args.command == "call":
        args.video_width, args.video_height = _video_size(args.video_size)
    if getattr(args, "count", None) is not None and args.count < 1:
        raise CliError("--count must be at least 1", EXIT_USAGE)
    if getattr(args, "expiry", None) is not None:
        try:
            check_ttl(args.expiry)
        except ValueError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None


# -- secrets --------------------------------------------------------------------------------

def _needs_hub(args: argparse.Namespace) -> bool:
    return not (args.command == "key"
                and args.key_command in ("fingerprint", "export", "accept"))


def read_secrets(args: argparse.Namespace) -> None:
    """Settle args.password (for commands that connect) and args.passphrase before anything
    runs: the prompts need the terminal, and a missing secret is one line, not a traceback."""
    args.passphrase = _secret_from(args.passphrase_file, "GOSSIP_PASSPHRASE", "--passphrase-file")
    if not _needs_hub(args):
        return
    if args.password is not None:
        print("gossip-cli: warning: --password is visible to other users in the process "
              "list; use --password-file, GOSSIP_PASSWORD or the prompt", file=sys.stderr)
    else:
        args.password = _secret_from(args.password_file, "GOSSIP_PASSWORD", "--password-file")
    if args.password is None and _terminal_attached():
        args.password = _prompt(f"Password for the hub {args.host}:{args.port}: ")
    if not args.password:
        raise CliError("no password: give --password-file PATH or GOSSIP_PASSWORD (or run "
                       "in a terminal to be asked)", EXIT_USAGE)


def _secret_from(path: Path | None, variable: str, option: str) -> str | None:
    if path is not None:
        try:
            with path.open(encoding="utf-8") as file:
                secret = file.readline(4096).rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"cannot read {option} {path}: "
                           f"{getattr(exc, 'strerror', None) or exc}", EXIT_USAGE) from None
        if not secret:
            raise CliError(f"{option} {path} is empty", EXIT_USAGE)
        return secret
    return os.environ.get(variable) or None


def _terminal_attached() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _prompt(text: str) -> str | None:
    try:
        return getpass.getpass(text) or None
    except EOFError:
        return None


def _video_size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    try:
        return int(width), int(height)
    except ValueError:
        raise CliError(f"--video-size takes WIDTHxHEIGHT, such as 640x360, not {text!r}",
                       EXIT_USAGE) from None


def _fail(message: str, status: int) -> int:
    print(f"gossip-cli: {message}", file=sys.stderr)
    return status


def _fail_group(group: BaseExceptionGroup) -> int:
    found = leaves(group)
    for exc in found:
        if isinstance(exc, KeyboardInterrupt):
            return 130
    for exc in found:
        status = _status_of(exc)
        if status is not None:
            return _fail(_message_of(exc), status)
    raise group


def _status_of(exc: BaseException) -> int | None:
    if isinstance(exc, CliError):
        return exc.status
    if isinstance(exc, LoginFailed):
        return EXIT_LOGIN
    if isinstance(exc, HubKeyChanged):
        return EXIT_HUB_KEY
    if isinstance(exc, (HubUnreachable, ConnectionLost, SignedInElsewhere, CryptoError,
                        OSError)):
        return EXIT_FAILURE
    return None


def _message_of(exc: BaseException) -> str:
    if isinstance(exc, HubKeyChanged):
        return (f"the hub's certificate changed (pinned {exc.pinned}, offered {exc.offered}); "
                f"if its operator confirms the new one, rerun with --accept-hub-key "
                f"{exc.offered}")
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


# -- commands -------------------------------------------------------------------------------

async def run(args: argparse.Namespace) -> int:
    profile = _open_profile(args)
    if args.command == "key" and args.key_command in ("fingerprint", "export", "accept"):
        return _offline_key_command(args, profile)
    if args.command == "call":
        # The media stack loads only for a call.
        from gossip.media.loop import open_media_loop

        from .call import check_audio_specs

        check_audio_specs(args)
        # aiortc runs on one asyncio loop for the whole process, entered before anything else.
        async with open_media_loop():
            return await _run_connected(args, profile)
    return await _run_connected(args, profile)


async def _run_connected(args: argparse.Namespace, profile: Profile) -> int:
    async with connect(args, profile) as (session, events):
        if args.command == "members":
            state: SessionState = await session.ref.ask(GetState())
            names = [member.user for member in state.members]
            for name in names:
                print(name)
            for name, similar in lookalikes_among(names).items():
                print(f"gossip-cli: warning: {safe_field(name)} looks like "
                      f"{', '.join(map(safe_field, similar))}", file=sys.stderr)
        elif args.command == "channels":
            state = await session.ref.ask(GetState())
            for channel in state.channels:
                print(channel)
        elif args.command == "send":
            await _send(args, session)
        elif args.command == "listen" and args.save_files is not None:
            await listen_saving(args, session.ref, events, _printer(args))
        elif args.command == "listen":
            await _listen(args, events)
        elif args.command == "send-file":
            await run_send_file(args, session.ref, events)
        elif args.command == "key":
            await _key_with_hub(args, profile, session)
        elif args.command == "channel":
            await run_channel(args, session)
        elif args.command == "call":
            from .call import run_call

            await run_call(args, session, events)
    return 0


def _open_profile(args: argparse.Namespace) -> Profile:
    try:
        profile = _open_protected_profile(args)
    except CryptoError as exc:
        raise CliError(f"cannot open the profile: {exc}") from None
    except OSError as exc:
        raise CliError(f"cannot open the profile: {exc.strerror or exc}") from None
    if args.accept_hub_key:
        profile.known_hubs.accept(args.host, args.port, args.accept_hub_key)
        print(f"accepted hub key {args.accept_hub_key} for {args.host}:{args.port}",
              file=sys.stderr)
    return profile


def _open_protected_profile(args: argparse.Namespace) -> Profile:
    passphrase: str | None = getattr(args, "passphrase", None)
    try:
        try:
            return Profile.open(args.user, args.profile, passphrase=passphrase)
        except PassphraseRequired:
            if not _terminal_attached():
                raise CliError("your identity key is protected by a passphrase: give "
                               "--passphrase-file PATH or GOSSIP_PASSPHRASE",
                               EXIT_USAGE) from None
            passphrase = _prompt(f"Passphrase for {args.user}'s identity key: ")
            if passphrase is None:
                raise CliError("no passphrase given for your identity key", EXIT_USAGE) from None
        return Profile.open(args.user, args.profile, passphrase=passphrase)
    except WrongPassphrase:
        raise CliError("wrong passphrase for your identity key", EXIT_LOGIN) from None


@asynccontextmanager
async def connect(args: argparse.Namespace, profile: Profile
                  ) -> AsyncIterator[tuple[Session, trio.MemoryReceiveChannel[ev.SessionEvent]]]:
    """A synced session; events that the command does not read are printed when they are
    warnings (a changed key, the first use of a hub)."""
    if not args.password:
        raise CliError("no password: give --password-file PATH or GOSSIP_PASSWORD",
                       EXIT_USAGE)
    config = SessionConfig(args.host, args.port, args.password, tls=not args.insecure_no_tls,
                           other_hubs=getattr(args, "other_hubs", ()))
    send_events, receive_events = trio.open_memory_channel[ev.SessionEvent](1024)
    session = Session(profile, config, send_events)
    forward, events = trio.open_memory_channel[ev.SessionEvent](1024)
    ended = trio.Event()

    async def run_session() -> None:
        try:
            await run_actor(session)
        finally:
            ended.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_session)
        nursery.start_soon(_watch, receive_events, forward, args)
        with trio.fail_after(30):
            await session.synced.wait()
        yield session, events
        # Leave politely, so the hub has read everything we sent before the socket closes.
        with trio.move_on_after(5):
            try:
                await session.ref.tell(Leave())
            except ActorStopped:
                pass
            await ended.wait()
        nursery.cancel_scope.cancel()


async def _watch(events: trio.MemoryReceiveChannel[ev.SessionEvent],
                 forward: trio.MemorySendChannel[ev.SessionEvent],
                 args: argparse.Namespace) -> None:
    async for event in events:
        if isinstance(event, ev.Disconnected) and event.retry_in is None:
            raise CliError(f"disconnected: {safe_field(event.reason)}")
        warning = _warning(event, args)
        if warning is not None:
            print(f"gossip-cli: {warning}", file=sys.stderr, flush=True)
        try:
            forward.send_nowait(event)
        except trio.WouldBlock:
            pass  # nobody is reading (e.g. `members`): events are not needed


def _warning(event: ev.SessionEvent, args: argparse.Namespace) -> str | None:
    """The stderr line an event is worth whatever the command (alarms, first use, reconnects);
    what came from the network is escaped."""
    if isinstance(event, ev.Connected) and event.first_use:
        return (f"first connection to {args.host}:{args.port}; pinned its certificate "
                f"{event.fingerprint}")
    if isinstance(event, ev.OwnKeyForged):
        return (f"ALARM: the hub announced a key under YOUR OWN name {safe_field(event.user)} "
                f"that is not yours ({event.offered}; yours is {event.ours}). The hub is "
                f"lying or compromised: the key is refused and nothing is sealed to it; tell "
                f"the hub's operator")
    if isinstance(event, ev.KeyChanged):
        user = safe_field(event.user)
        return (f"WARNING: {user}'s key CHANGED (pinned {event.pinned}, now {event.offered}); "
                f"their messages are unverified until you run 'gossip-cli key accept {user}'")
    if isinstance(event, ev.Disconnected) and event.retry_in is not None:
        return f"{safe_field(event.reason)}; reconnecting in {event.retry_in:.1f} s"
    if isinstance(event, ev.RosterAlarm):
        return (f"ALARM: private channel #{safe_field(event.channel)}: roster "
                f"{event.kind.upper()}: {safe_field(event.detail)}; nothing is sent there "
                f"until a verified roster names you again")
    return None


async def _send(args: argparse.Namespace, session: Session) -> None:
    try:
        message = await session.ref.ask(SendChat(args.channel, args.text, args.expiry,
                                                      reply_to=args.reply_to))
    except CommandRefused as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    print(message.id)


async def _listen(args: argparse.Namespace,
                  events: trio.MemoryReceiveChannel[ev.SessionEvent]) -> None:
    await listen(events, _printer(args))


def _printer(args: argparse.Namespace) -> ListenPrinter:
    return ListenPrinter(sys.stdout, as_json=args.json, channel=args.channel, count=args.count)


async def _confirm_same_number(peer: str, number: str) -> bool:
    """Verifying is a promise that the numbers were compared: ask, on a terminal only."""
    if not sys.stdin.isatty():
        raise CliError("key verify asks you to confirm on a terminal; compare the safety "
                       f"number with {peer} first (key safety {peer}), then pass --yes",
                       status=EXIT_USAGE)
    print(f"Safety number with {peer}:\n  {number}\n"
          f"Compare it with {peer} in person or on a call you trust.")

    def ask() -> str:
        try:
            return input(f"Does {peer} read the same number? [y/N] ")
        except EOFError:
            return ""

    answer = await trio.to_thread.run_sync(ask)
    return answer.strip().lower() in ("y", "yes")


def _offline_key_command(args: argparse.Namespace, profile: Profile) -> int:
    if args.key_command == "fingerprint":
        print(profile.identity.fingerprint)
    elif args.key_command == "export":
        print(profile.identity.public.armored())
    elif args.key_command == "accept":
        try:
            profile.pins.accept(args.peer)
        except CryptoError as exc:
            raise CliError(f"nothing to accept for {args.peer}: {exc}") from None
        print(f"accepted the new key of {args.peer}; it is pinned now")
    return 0


async def _key_with_hub(args: argparse.Namespace, profile: Profile, session: Session) -> None:
    state: SessionState = await session.ref.ask(GetState())
    peer = next((m for m in state.members if m.user == args.peer), None)
    fingerprint = peer.fingerprint if peer else profile.pins.pinned_fingerprint(args.peer)
    if fingerprint is None:
        raise CliError(f"{args.peer} is not online and has no pinned key")
    number = safety_number(profile.identity.user, profile.identity.fingerprint,
                           args.peer, fingerprint)
    if args.key_command == "safety":
        print(number)
        return
    if not args.yes and not await _confirm_same_number(args.peer, number):
        raise CliError(f"{args.peer}'s key was not marked verified", status=EXIT_FAILURE)
    try:
        await session.ref.ask(VerifyKey(args.peer))
    except CommandRefused as exc:
        raise CliError(str(exc)) from None
    print(f"{args.peer}'s key is verified (safety number {number})")

