"""`gossip-cli send-file` and `listen --save-files`: files with progress, saved safely.

On a terminal, progress is a bar (rich) with speed and time left; otherwise plain lines on
stderr, at most one a second. Received files are saved under their names made safe (no path
separators, no '..', no control characters, no hidden files, never outside the folder, never
over an existing file); --json reports each with its sha256.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

import trio
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from gossip.actors import ActorRef
from gossip.client import events as ev
from gossip.client.errors import CommandRefused
from gossip.client.files import FileTransferFailed
from gossip.client.filesend import describe_size, save_file, send_file
from gossip.client.messages import ChatMessage

from .failures import EXIT_USAGE, CliError
from .listen import ListenPrinter, listen
from .terminal import safe_field

PLAIN_PROGRESS_INTERVAL = 1.0  # seconds between two plain progress lines
SAVES_AT_ONCE = 2


class ProgressView:
    """Shows FileProgress events: a rich bar per file on a terminal, else plain lines."""

    def __init__(self, out: TextIO, *, terminal: bool) -> None:
        self._out = out
        self._bar: Progress | None = None
        if terminal:
            self._bar = Progress(
                "{task.description}",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=None,
                transient=False,
            )
        self._tasks: dict[str, TaskID] = {}
        self._last_line: dict[str, float] = {}

    def __enter__(self) -> ProgressView:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def show(self, event: ev.FileProgress) -> None:
        verb = "sending" if event.direction == "up" else "receiving"
        if self._bar is not None:
            task = self._tasks.get(event.file_id)
            if task is None:
                task = self._tasks[event.file_id] = self._bar.add_task(
                    f"{verb} {safe_field(event.name)}", total=event.total
                )
            self._bar.update(task, completed=event.done)
            return
        now = trio.current_time()
        final = event.done == event.total
        if not final and now - self._last_line.get(event.file_id, -1e9) < PLAIN_PROGRESS_INTERVAL:
            return
        self._last_line[event.file_id] = now
        print(
            f"gossip-cli: {verb} {safe_field(event.name)}: {describe_size(event.done)} of "
            f"{describe_size(event.total)} ({event.bytes_per_second / 1e6:.1f} MB/s)",
            file=self._out,
            flush=True,
        )


def _refusal(exc: Exception) -> CliError:
    if isinstance(exc, OSError):
        return CliError(f"cannot read the file: {exc.strerror or exc}", EXIT_USAGE)
    return CliError(str(exc))


async def run_send_file(
    args: argparse.Namespace, session: ActorRef, events: trio.MemoryReceiveChannel[ev.SessionEvent]
) -> None:
    path = Path(args.path)
    if not path.is_file():
        raise CliError(f"{path}: no such file (give the path of a file to send)", EXIT_USAGE)
    with ProgressView(sys.stderr, terminal=sys.stderr.isatty()) as view:
        async with trio.open_nursery() as nursery:

            async def show() -> None:
                async for event in events:
                    if isinstance(event, ev.FileProgress) and event.direction == "up":
                        view.show(event)

            nursery.start_soon(show)
            try:
                message = await send_file(session, path, channel=args.channel, ttl=args.expiry)
            except (FileTransferFailed, CommandRefused, ValueError, OSError) as exc:
                raise _refusal(exc) from None
            nursery.cancel_scope.cancel()
    print(message.id)


async def listen_saving(
    args: argparse.Namespace,
    session: ActorRef,
    events: trio.MemoryReceiveChannel[ev.SessionEvent],
    printer: ListenPrinter,
) -> None:
    """`listen`, and every file that arrives saved into --save-files (a line or a JSON
    object for each, saved or refused); with --count, waits for the files under way."""
    directory = Path(args.save_files)
    directory.mkdir(parents=True, exist_ok=True)
    limiter = trio.CapacityLimiter(SAVES_AT_ONCE)
    forward, timeline = trio.open_memory_channel[ev.SessionEvent](1024)

    async def save(message: ChatMessage) -> None:
        if not message.verified:
            # A changed key not accepted: its message shows as NOT VERIFIED, its file waits
            # for the user to check the key (nothing unverified lands on disk unasked).
            _report_save(
                args,
                message,
                directory,
                FileTransferFailed(
                    f"the sender's key is not verified ({message.trust.value}); accept it "
                    f"with 'gossip-cli key accept {message.sender}' once checked, and have it "
                    "sent again",
                    "unverified",
                ),
            )
            return
        async with limiter:
            _report_save(args, message, directory, await _save_one(session, message, directory))

    async with trio.open_nursery() as saves:

        async def tee() -> None:
            async with forward:
                async for event in events:
                    if (
                        isinstance(event, ev.MessageReceived)
                        and event.message.file is not None
                        and (not args.channel or event.message.channel == args.channel)
                    ):
                        saves.start_soon(save, event.message)
                    await forward.send(event)

        async with trio.open_nursery() as reading:
            reading.start_soon(tee)
            await listen(timeline, printer)
            reading.cancel_scope.cancel()
        # The count is reached: the saves nursery finishes the files already under way.


async def _save_one(
    session: ActorRef, message: ChatMessage, directory: Path
) -> tuple[str, str, int] | Exception:
    try:
        saved = await save_file(session, message, directory)
    except (FileTransferFailed, OSError) as exc:
        return exc
    return str(saved.path), saved.sha256, saved.size


def _report_save(
    args: argparse.Namespace,
    message: ChatMessage,
    directory: Path,
    result: tuple[str, str, int] | Exception,
) -> None:
    assert message.file is not None
    name = message.file.name
    if isinstance(result, Exception):
        reason = str(result)
        if args.json:
            print(
                json.dumps(
                    {
                        "event": "file_refused",
                        "id": message.file.file_id,
                        "message": message.id,
                        "name": name,
                        "reason": reason,
                    }
                ),
                flush=True,
            )
        else:
            print(
                f"!! file {safe_field(name)} from {safe_field(message.sender)} NOT saved: "
                f"{safe_field(reason)}",
                flush=True,
            )
        return
    path, digest, size = result
    if args.json:
        print(
            json.dumps(
                {
                    "event": "file_saved",
                    "id": message.file.file_id,
                    "message": message.id,
                    "sender": message.sender,
                    "channel": message.channel,
                    "name": name,
                    "path": path,
                    "size": size,
                    "sha256": digest,
                }
            ),
            flush=True,
        )
    else:
        print(
            f"== saved {safe_field(name)} from {safe_field(message.sender)} "
            f"({describe_size(size)}) as {safe_field(path)}  sha256 {digest}",
            flush=True,
        )


def add_file_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    send = commands.add_parser(
        "send-file",
        help="send a file to a channel (end-to-end encrypted, stored on the hub until it expires)",
    )
    send.add_argument("channel")
    send.add_argument("path")
    send.add_argument(
        "--expiry",
        type=float,
        default=3600.0,
        help="seconds the file and its message live (default 3600)",
    )
