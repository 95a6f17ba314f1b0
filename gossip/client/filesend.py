"""Sending and saving files through a running session: upload then post, fetch then save.

The two steps a front end takes for a file, over the session's requests: the upload (in the
caller's task, over the session's FileLane) and the file message that carries its manifest.
"""

from __future__ import annotations

from pathlib import Path

import trio

from gossip.actors import ActorRef

from .commands import GetFileLane, SendChat
from .files import SavedFile, download_file, upload_file
from .messages import ChatMessage


def describe_size(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000  # type: ignore[assignment]
    return f"{size} bytes"  # pragma: no cover


async def send_file(
    session: ActorRef,
    path: Path,
    *,
    channel: str,
    ttl: float,
    name: str | None = None,
    file_id: str | None = None,
) -> ChatMessage:
    """Upload `path` for `channel` and post its file message; the message. The message lives
    as long as the stored file: `ttl` from when the upload began."""
    lane = await session.ask(GetFileLane())
    began = trio.current_time()
    manifest = await upload_file(lane, path, channel=channel, ttl=ttl, name=name, file_id=file_id)
    left = ttl - (trio.current_time() - began)
    if left < 1:
        raise ValueError(
            "the upload took longer than the file's expiry; send it with a longer --expiry"
        )
    text = f"[file] {manifest.name} ({describe_size(manifest.size)})"
    return await session.ask(SendChat(channel, text, left, file=manifest))


async def save_file(session: ActorRef, message: ChatMessage, directory: Path) -> SavedFile:
    """Fetch, check and save the file `message` carries into `directory`."""
    if message.file is None:
        raise ValueError("that message carries no file")
    lane = await session.ask(GetFileLane())
    return await download_file(lane, message.file, directory)
