"""`gossip-cli call`: join a channel's call from a terminal, show who is in it (each peer's
identity trust apart from their link: a newcomer or a changed key is said loudly) and their
levels, record their video if asked, and end with a summary (JSON for scripts)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Literal

import av
import numpy as np
import trio

from gossip.actors import ActorRef, ActorStopped
from gossip.client import events as ev
from gossip.client.calltypes import (
    CallOptions,
    CallState,
    GetCallState,
    GetVideoFrames,
    LeaveCall,
    PeerState,
    SetTalkKey,
    VideoFrames,
)
from gossip.client.commands import JoinCall
from gossip.client.errors import CommandRefused
from gossip.client.session import Session
from gossip.crypto.pins import Trust
from gossip.media.errors import MediaError
from gossip.media.gcpolicy import freeze_call_heap
from gossip.media.sinks import parse_sink
from gossip.media.sources import parse_source
from gossip.media.videoframes import Picture
from gossip.media.videospec import parse_video_source
from gossip.media.voicespec import TransmitMode, VoiceOptions

from .failures import EXIT_USAGE, CliError
from .terminal import safe_field

# --media-path (benchmarks) -> how mesh links receive audio (CallOptions.mesh_receive).
_MESH_RECEIVE: dict[str, Literal["in-place", "in-place-readiness", "in-place-aioice",
                                  "aiortc"]] = {
    "sealed": "in-place", "once": "in-place", "sealed-readiness": "in-place-readiness",
    "sealed-aioice": "in-place-aioice",
    "sealed-aiortc": "aiortc", "per-link": "aiortc"}

# Who a call peer is, in words: the link's check (DTLS against the signed SDP) says nothing
# about that, so it is printed apart.
IDENTITY_WORDS: dict[Trust, str] = {
    Trust.NEW: "NEW key, NOT verified (first contact)",
    Trust.PINNED: "known key (pinned, not verified)",
    Trust.VERIFIED: "verified key",
    Trust.CHANGED: "KEY CHANGED, not accepted",
}
_TICKER_MARKS = {Trust.NEW: " (NEW, unverified)", Trust.CHANGED: " (KEY CHANGED)"}


def check_audio_specs(args: argparse.Namespace) -> None:
    """Open the source and sink once up front, so a bad spec or a missing device is one
    clear line before anything connects."""
    try:
        parse_source(args.source).close()
        parse_sink(args.sink).close()
    except MediaError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    try:
        parse_video_source(args.video, width=args.video_width, height=args.video_height,
                           fps=args.video_fps).close()
    except (MediaError, ValueError) as exc:  # a bad spec, an unreadable file, a bad size
        raise CliError(f"--video: {exc}", EXIT_USAGE) from None


def voice_options(args: argparse.Namespace) -> VoiceOptions:
    """Processing stages and transmit mode from the flags (None: the default for the
    devices)."""
    return VoiceOptions(echo_cancellation=args.aec, noise_suppression=args.ns,
                        gain_control=args.agc, high_pass=args.high_pass,
                        transmit=TransmitMode(args.transmit))


async def run_call(args: argparse.Namespace, session: Session,
                   events: trio.MemoryReceiveChannel[ev.SessionEvent]) -> None:
    freeze_call_heap()  # collections' pauses would land on the audio path
    options = CallOptions(source=args.source, sink=args.sink, ice_hosts=tuple(args.ice_host),
                          ice_servers=tuple(args.ice_server), muted=args.mute,
                          video=args.video, video_width=args.video_width,
                          video_height=args.video_height, video_fps=args.video_fps,
                          voice=voice_options(args),
                          frame_encryption=args.media_path.startswith("sealed"),
                          encode_once=args.media_path != "per-link",
                          mesh_receive=_MESH_RECEIVE[args.media_path],
                          send_path=args.send_path, video_encode=args.video_encode)
    try:
        call = await session.ref.ask(JoinCall(args.channel, options))
    except CommandRefused as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    final: CallState | None = None
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_show_call_events, events, args.channel, nursery.cancel_scope,
                               args.json)
            if options.voice.transmit is TransmitMode.PUSH_TO_TALK:
                nursery.start_soon(_talk_key_toggles, call, args.talk_key)
            if args.duration is None:
                nursery.start_soon(_show_levels, call)
            nursery.start_soon(_until_signal, signals, nursery.cancel_scope)
            recorder = None
            if args.record_video is not None:
                recorder = VideoRecorder(args.record_video)
                nursery.start_soon(recorder.run, call)
            if args.duration is not None:
                await trio.sleep(args.duration)
                nursery.cancel_scope.cancel()
    with trio.move_on_after(5):
        try:
            if recorder is not None:
                await recorder.save_last(call)
            final = await call.ask(GetCallState())
            await call.tell(LeaveCall())
            with trio.move_on_after(3):  # the hub confirms the hang-up; don't wait forever
                async for event in events:
                    if isinstance(event, ev.CallLeft) and event.channel == args.channel:
                        break
        except ActorStopped:
            pass
    if final is None:
        raise CliError("the call ended before it could be summarised")
    _print_call_summary(final, args.json)


class VideoRecorder:
    """Saves what arrived of each peer's video: a PNG about every second and the last one."""

    def __init__(self, directory: Path) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CliError(f"--record-video: cannot create {directory}: "
                           f"{exc.strerror or exc}") from None
        self.directory = directory
        self._saved: dict[str, int] = {}   # peer -> pictures saved
        self._newest: dict[str, Picture] = {}  # peer -> the newest picture seen

    async def run(self, call: ActorRef) -> None:
        while True:
            await trio.sleep(1)
            frames: VideoFrames = await call.ask(GetVideoFrames())
            for peer, latest in frames.peers.items():
                picture = latest.latest()
                seen = self._newest.get(peer)
                if picture is None or (seen is not None and seen.sequence == picture.sequence):
                    continue  # nothing (new) from this peer
                self._newest[peer] = picture
                count = self._saved[peer] = self._saved.get(peer, 0) + 1
                self._write(f"{peer}-{count:04d}.png", picture)

    async def save_last(self, call: ActorRef) -> None:
        """Each peer's newest picture, from the call now or (a peer who left) as last seen."""
        frames: VideoFrames = await call.ask(GetVideoFrames())
        for peer, latest in frames.peers.items():
            picture = latest.latest()
            if picture is not None:
                self._newest[peer] = picture
        for peer, picture in self._newest.items():
            self._write(f"{peer}-last.png", picture)

    def _write(self, name: str, picture: Picture) -> None:
        (self.directory / name).write_bytes(png_bytes(picture.image))


def png_bytes(image: np.ndarray) -> bytes:
    """An RGB picture as a PNG file (PyAV's encoder; no imaging library needed)."""
    height, width = image.shape[:2]
    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "rgb24"
    packets = codec.encode(av.VideoFrame.from_ndarray(image, format="rgb24"))
    return b"".join(bytes(packet) for packet in packets)


async def _until_signal(signals: AsyncIterator[int], scope: trio.CancelScope) -> None:
    async for _ in signals:
        scope.cancel()
        return


async def _talk_key_toggles(call: ActorRef, key: str) -> None:
    """Push-to-talk from the terminal: each press of `key` on standard input starts or stops
    talking. A terminal reports key presses, not releases, so this is a toggle; in a TTY the
    key needs no Enter (cbreak mode, restored on the way out)."""
    if not key or len(key) != 1:
        raise CliError("--talk-key must be one character", EXIT_USAGE)
    fd = sys.stdin.fileno()
    restore = _cbreak(fd)
    held = False
    print(f"push-to-talk: press {key!r} to talk, again to stop", file=sys.stderr, flush=True)
    try:
        while True:
            await trio.lowlevel.wait_readable(fd)
            data = os.read(fd, 64)
            if not data:
                await trio.sleep_forever()  # stdin closed: keep the call, stop listening
            for _ in range(data.decode(errors="replace").count(key)):
                held = not held
                await call.tell(SetTalkKey(held))
                print("talking" if held else "not talking", file=sys.stderr, flush=True)
    finally:
        restore()


def _cbreak(fd: int) -> Callable[[], None]:
    """Put a terminal in cbreak mode (keys arrive unbuffered); returns how to undo it.
    Not a terminal (a pipe, a file): nothing to do."""
    if not os.isatty(fd):
        return lambda: None
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    return lambda: termios.tcsetattr(fd, termios.TCSADRAIN, saved)


async def _show_call_events(events: trio.MemoryReceiveChannel[ev.SessionEvent], channel: str,
                            scope: trio.CancelScope, as_json: bool = False) -> None:
    async for event in events:
        if getattr(event, "channel", None) != channel:
            continue
        if isinstance(event, ev.CallSpeaking):
            if as_json:  # one object a line before the summary, for scripts
                print(json.dumps({"event": "speaking", "user": event.user,
                                  "speaking": event.speaking}), flush=True)
            continue
        if isinstance(event, ev.CallDeviceLost) and as_json:
            print(json.dumps({"event": "device-lost", "kind": event.kind.value,
                              "device": event.device, "now": "none" if event.problem
                              else "default", "problem": event.problem}), flush=True)
        line = call_event_line(event)
        if line is not None:
            print(line, file=sys.stderr, flush=True)
        if isinstance(event, ev.CallRefused):
            scope.cancel()
            raise CliError(f"cannot join the call: {event.reason}")


async def _show_levels(call: ActorRef) -> None:
    while True:
        await trio.sleep(1)
        state: CallState = await call.ask(GetCallState())
        levels = "  ".join(f"{safe_field(user)}{_TICKER_MARKS.get(peer.trust, '')} "
                           f"{peer.level_dbfs:6.1f} dBFS"
                           for user, peer in sorted(state.peers.items()))
        print(f"\r{levels or 'waiting for others to join...'}", end="", file=sys.stderr,
              flush=True)


def call_event_line(event: ev.SessionEvent) -> str | None:
    """What `call` prints for a call event (None: nothing); names are escaped."""
    if isinstance(event, ev.CallMembersChanged):
        return f"in the call: {', '.join(safe_field(user) for user in event.users)}"
    if isinstance(event, ev.CallPeerUnknown):
        return (f"WARNING: unverified newcomer in the call: {safe_field(event.user)} "
                f"(first contact, key {event.fingerprint}); they hear you. Compare safety "
                f"numbers (gossip-cli keys) before trusting them.")
    if isinstance(event, ev.CallPeerKeyChanged):
        return (f"WARNING: not calling {safe_field(event.user)}: their key changed "
                f"({event.fingerprint}) and is not accepted; nothing is sent to it.")
    if isinstance(event, ev.CallPeerNotMember):
        return (f"WARNING: not calling {safe_field(event.user)}: the hub put them in the call "
                f"but the channel's verified roster does not name them (key "
                f"{event.fingerprint}); nothing is sent to them.")
    if isinstance(event, ev.CallPeerConnected):
        return (f"{safe_field(event.user)}: link up in {event.setup_ms:.0f} ms (DTLS matches "
                f"their signed offer); identity: {IDENTITY_WORDS[event.trust]}")
    if isinstance(event, ev.CallPeerLeft):
        return f"{safe_field(event.user)} left the call"
    if isinstance(event, ev.CallPeerFailed):
        return f"gossip-cli: no link to {safe_field(event.user)}: {safe_field(event.reason)}"
    if isinstance(event, ev.CallPeerUndecryptable):
        return (f"WARNING: {safe_field(event.user)}'s media does not decrypt "
                f"({safe_field(event.reason)}); you do not hear them.")
    if isinstance(event, ev.CallDeviceLost):
        which = safe_field(event.device) if event.device else "the default"
        now = (f"nothing could replace it ({safe_field(event.problem)})" if event.problem
               else "using the default now")
        return f"WARNING: the {event.kind} {which} went away; {now}"
    if isinstance(event, ev.CallPeerDecryptable):
        return f"{safe_field(event.user)}'s media decrypts again"
    return None


def peer_line(user: str, peer: PeerState) -> str:
    """One peer of the summary: who they are (identity trust), then the link and its media."""
    setup = f"{peer.setup_ms:.0f} ms" if peer.setup_ms is not None else "never"
    first = f"{peer.first_audio_ms:.0f} ms" if peer.first_audio_ms is not None else "never"
    link = peer.link + (", authenticated" if peer.link_authenticated else
                        ", NOT authenticated")
    return (f"  {safe_field(user)}: identity {IDENTITY_WORDS[peer.trust]}; link {link}; "
            f"{peer.frames_received} frames, set up in {setup}, first audio {first}, "
            f"{peer.level_dbfs:.1f} dBFS")


def _print_call_summary(state: CallState, as_json: bool) -> None:
    if as_json:
        print(json.dumps(state.as_json()), flush=True)
        return
    print(f"call in #{state.channel}:")
    if not state.peers:
        print("  nobody else joined")
    for user, peer in sorted(state.peers.items()):
        print(peer_line(user, peer))
        if peer.video_frames_received:
            print(f"    video: {peer.video_frames_received} frames, {peer.video_fps:.1f} fps")
