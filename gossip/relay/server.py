"""The relay's WebSocket server: one connection per participant, for as long as it is in the
call (closing it leaves the call). One DTLS certificate for every connection, the one the hub
names and clients pin."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import trio
import trio_asyncio
from aiortc.rtcdtlstransport import RTCCertificate
from trio_websocket import (
    ConnectionClosed,
    WebSocketConnection,
    WebSocketRequest,
    serve_websocket,
)

from gossip.media.fingerprint import format_fingerprint
from gossip.media.loop import open_media_loop
from gossip.wire.relay import (
    MAX_MESSAGE_BYTES,
    Answer,
    Join,
    Refused,
    RelayMessage,
    RelayProtocolError,
    Slot,
    Want,
    decode,
    encode,
    ticket_admits,
)

from .room import SENDER_KBPS, Forwarding, RelayParticipant, Room, RoomFull, SenderBudget

logger = logging.getLogger(__name__)

NOTICES_QUEUED = 64  # slot notices waiting for one participant's connection
JOIN_SECONDS = 15.0  # to send the join and have it answered
MAX_SECTIONS = 64  # media sections in an offer (ours: one to send, 24 slots)
WANT_SECONDS = 0.25  # a participant's wants applied at most this often (the latest one)
# Messages a participant may send a second (a second's burst): a client sends a want when
# whom it hears speaking changes; a connection past this is closed (it leaves the call).
MESSAGES_PER_SECOND = 20


@dataclass(frozen=True)
class RelayConfig:
    host: str = "127.0.0.1"
    port: int = 0
    ice_hosts: tuple[str, ...] = ("127.0.0.1",)
    max_participants: int = 25  # a call; a participant gets this many slots at most
    max_calls: int = 16
    max_connections: int = 512  # open WebSockets, joined or not (each costs a socket)
    secret: bytes = field(default=b"", repr=False)  # shared with the hub: it makes tickets
    sender_kbps: int = SENDER_KBPS  # a sender's bitrate past which its packets are dropped
    # "packets": forward RTP as an SFU does; "frames": the first relay, through aiortc's
    # receivers and senders (benchmarks/big_call.py's baseline).
    forwarding: Forwarding = "packets"
    # Each participant's socket read in place ("packets"); off: through aiortc's receive
    # task, a hop per packet (benchmarks/big_call.py's baseline).
    read_in_place: bool = True


@dataclass
class Relay:
    config: RelayConfig
    certificate: RTCCertificate = field(default_factory=RTCCertificate.generateCertificate)
    rooms: dict[str, Room] = field(default_factory=dict)
    connections: int = 0

    @property
    def fingerprint(self) -> str:
        for fingerprint in self.certificate.getFingerprints():
            if fingerprint.algorithm == "sha-256":
                return format_fingerprint(fingerprint.algorithm, fingerprint.value)
        raise RuntimeError("aiortc made no sha-256 fingerprint")  # pragma: no cover

    async def handle(self, request: WebSocketRequest) -> None:
        # An exception escaping a handler would stop trio-websocket's whole server.
        if self.connections >= self.config.max_connections:
            await request.reject(503, body=b"the relay is at its connection limit")
            return
        self.connections += 1
        try:
            connection = await request.accept()
            await self._serve(connection)
        except* (ConnectionClosed, trio.BrokenResourceError, trio.TooSlowError):
            pass
        except* RelayProtocolError as group:
            logger.info("relay connection ended: %s", group.exceptions[0])
        except* Exception as group:
            logger.warning("relay connection failed: %r", group.exceptions)
        finally:
            self.connections -= 1

    async def _serve(self, connection: WebSocketConnection) -> None:
        with trio.fail_after(JOIN_SECONDS):
            try:
                join = decode(await connection.get_message())
            except RelayProtocolError as exc:
                await self._refuse(connection, str(exc))
                return
            if not isinstance(join, Join):
                await self._refuse(connection, "the first message must be a join")
                return
            # One section to send on and one per slot: more costs aiortc work for nothing.
            if join.sdp.count("\nm=") > MAX_SECTIONS:
                await self._refuse(connection, f"an offer has at most {MAX_SECTIONS} sections")
                return
            if not ticket_admits(self.config.secret, join.token, join.call, join.user, time.time()):
                await self._refuse(
                    connection,
                    "no valid ticket from the hub for this call and name (or it expired)",
                )
                return
            room = self.rooms.get(join.call)
            if room is None:
                if len(self.rooms) >= self.config.max_calls:
                    await self._refuse(connection, "the relay carries no more calls now")
                    return
                room = self.rooms[join.call] = Room(
                    join.call, self.config.max_participants, sender_kbps=self.config.sender_kbps
                )
            notices_in, notices = trio.open_memory_channel[RelayMessage](NOTICES_QUEUED)

            def notify(slot: Slot) -> None:
                try:
                    notices_in.send_nowait(slot)
                except trio.WouldBlock:  # a connection not reading: it leaves
                    notices_in.close()

            participant = RelayParticipant(
                join.user, self.certificate, self.config.ice_hosts, notify,
                self.config.forwarding, self.config.read_in_place,
            )
            try:
                answer = await trio_asyncio.aio_as_trio(participant.answer)(join.sdp, room)
            except ValueError as exc:
                await self._refuse(connection, f"offer refused: {exc}")
                await trio_asyncio.aio_as_trio(participant.pc.close)()
                return
        try:
            await connection.send_message(encode(Answer(answer)))
            try:
                room.admit(participant)
            except RoomFull as exc:
                await self._refuse(connection, str(exc))
                return
            logger.info(
                "call %s: %s joined (%d in the call)", room.call, join.user, len(room.participants)
            )
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._send_notices, connection, notices, nursery.cancel_scope)
                wanted = _Latest()
                nursery.start_soon(self._apply_wants, room, participant, wanted)
                if participant.reading is not None:
                    # Ends with this nursery, before the connection closes its socket.
                    nursery.start_soon(participant.reading.read_in_trio)
                # Only wants are expected from the participant (anything else ends its part);
                # the connection's end is its leaving the call.
                budget = SenderBudget(MESSAGES_PER_SECOND, MAX_MESSAGE_BYTES, 1.0)
                while True:
                    data = await connection.get_message()
                    if not budget.take(len(data), int(trio.current_time() * 1000)):
                        raise RelayProtocolError("more messages than a participant sends")
                    message = decode(data)
                    if not isinstance(message, Want):
                        raise RelayProtocolError(f"unexpected {type(message).__name__}")
                    wanted.put(message.users)
        finally:
            room.remove(participant)
            if not room.participants:
                self.rooms.pop(room.call, None)
            with trio.move_on_after(5, shield=True):
                await trio_asyncio.aio_as_trio(participant.pc.close)()
            logger.info("call %s: %s left", room.call, join.user)

    async def _send_notices(
        self,
        connection: WebSocketConnection,
        notices: trio.MemoryReceiveChannel[RelayMessage],
        done: trio.CancelScope,
    ) -> None:
        async for notice in notices:
            await connection.send_message(encode(notice))
        done.cancel()  # the channel was closed: the participant fell too far behind

    async def _apply_wants(
        self, room: Room, participant: RelayParticipant, wanted: _Latest
    ) -> None:
        """Each want as it comes, but at most one per WANT_SECONDS: a participant flipping its
        wants costs the relay little and its senders few keyframes (each is rate-limited too)."""
        while True:
            users = await wanted.take()
            room.want(participant, users)
            await trio.sleep(WANT_SECONDS)

    async def _refuse(self, connection: WebSocketConnection, reason: str) -> None:
        await connection.send_message(encode(Refused(reason)))
        await connection.aclose()


class _Latest:
    """The newest of a participant's wants not applied yet (older ones are moot)."""

    def __init__(self) -> None:
        self._users: tuple[str, ...] | None = None
        self._event = trio.Event()

    def put(self, users: tuple[str, ...]) -> None:
        self._users = users
        self._event.set()

    async def take(self) -> tuple[str, ...]:
        await self._event.wait()
        self._event = trio.Event()
        users, self._users = self._users, None
        assert users is not None
        return users


async def run_relay(
    config: RelayConfig, *, task_status: trio.TaskStatus[tuple[int, str]] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve until cancelled; reports (port, certificate fingerprint) once listening."""
    async with open_media_loop(), trio.open_nursery() as nursery:
        relay = Relay(config)
        server = await nursery.start(
            lambda task_status: serve_websocket(
                relay.handle,
                config.host,
                config.port,
                ssl_context=None,
                max_message_size=MAX_MESSAGE_BYTES,
                task_status=task_status,
            )
        )
        task_status.started((server.port, relay.fingerprint))


def ice_hosts_of(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(values) or ("127.0.0.1",)
