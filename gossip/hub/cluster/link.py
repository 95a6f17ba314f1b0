"""One hub's link to its cluster through Redis: presence, the key directory, name bindings,
fan-out over pub/sub and frames routed to the hub that holds their reader (what lives where
in Redis: keyspace.py).

The registry's calls stay synchronous: what it tells the cluster is queued here and sent in
order by one task, in pipelines; what the cluster tells arrives on one subscription, in the
order it was published, so a member's key always comes before its messages. When Redis
cannot be reached the hub keeps serving its own members, counts everyone elsewhere as gone
(its members are told, so nobody seals to a reader it cannot reach) and refuses logins it
cannot check; when Redis is back it writes its presence again, reads everyone's, and both
sides announce each other's members anew, which makes clients resend what was missed.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import coredis
import trio

from gossip.wire import (
    MAX_FILE_CHUNK_BYTES,
    MAX_FILE_GET_CHUNKS,
    MAX_ROSTER_ENTRIES,
    ErrorCode,
    FileChunk,
    Key,
)

from ..files import FileRefused, StoredFile
from ..names import Claim
from ..private import PrivateBook, RosterRefusal
from . import news as nw
from .backend import Admitted, ClusterUnavailable
from .directory import RemoteDirectory
from .failures import LINK_ERRORS, Resync, first_reason, unavailable
from .keyspace import (
    HUBS,
    KEY_OWNERS,
    NAMES,
    Topics,
    calls_key,
    connections_key,
    file_key,
    hub_key,
    key_verdict_key,
    members_key,
    new_hub_id,
    roster_key,
    text,
)
from .sharedfiles import ChunkReader, SharedFile

if TYPE_CHECKING:
    from ..registry import Registry

log = logging.getLogger("gossip.hub.cluster")

# Pipelined commands per round trip, and what may wait for Redis before the link counts as
# broken (then it resyncs, and clients resend what did not get through).
_BATCH = 512
_QUEUE = 20_000
# News larger than a frame and its fields cannot be ours; a key longer than a greeting can
# carry neither.
_NEWS_OVERHEAD = 4096
_MAX_KEY_BYTES = 17 * 1024
_NAMES_CACHED = 100_000

_CLAIM_SCRIPT = """
local owner = redis.call('HGET', KEYS[1], ARGV[1])
if owner then
  if owner == ARGV[2] then return {'owned', ''} end
  return {'name_taken', owner}
end
local other = redis.call('HGET', KEYS[2], ARGV[2])
if other then return {'key_taken', other} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
return {'registered', ''}
"""

# A login's name claim and its identity's connection count in one step (one round trip, where
# the two scripts above took two): the claim exactly as _CLAIM_SCRIPT, then, if the name is
# the key's, the count exactly as _ADMIT_SCRIPT. Returns {claim, other, elsewhere} (elsewhere
# -1: counted, or not asked because the claim failed).
_CLAIM_AND_ADMIT = """
local outcome = 'owned'
local owner = redis.call('HGET', KEYS[1], ARGV[1])
if owner then
  if owner ~= ARGV[2] then return {'name_taken', owner, -1, verdict} end
else
  local other = redis.call('HGET', KEYS[2], ARGV[2])
  if other then return {'key_taken', other, -1, verdict} end
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
  outcome = 'registered'
end
local elsewhere = 0
for _, hub in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  if redis.call('EXISTS', ARGV[6] .. hub) == 0 then
    redis.call('SREM', KEYS[3], hub)
  elseif ARGV[7] .. hub ~= KEYS[4] then
    elsewhere = elsewhere + (tonumber(redis.call('HGET', ARGV[7] .. hub, ARGV[1])) or 0)
  end
end
if elsewhere + tonumber(ARGV[3]) > tonumber(ARGV[4]) then
  return {outcome, '', elsewhere, verdict}
end
redis.call('HSET', KEYS[4], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[4], ARGV[5])
return {outcome, '', -1, verdict}
"""
_CLAIM_AND_ADMIT_SCRIPT = "local verdict = ''" + _CLAIM_AND_ADMIT
# The same for a login whose key a hub of the cluster validated before, in the same round
# trip: first its verdict (KEYS[5]; crypto/keyverdict.py's "1|fingerprint|valid until|user")
# is read, and only if it names this fingerprint (ARGV[2]) and user (ARGV[1]) and has not
# expired at ARGV[8] (Unix seconds) are the name claimed and the connection counted, the
# verdict returned fourth. Otherwise nothing changes and {'unknown'} comes back: the hub
# validates the key in full and admits it as any other. (The hub checks the verdict again,
# with the same rules, in KeyVerdict.vouches_for.)
_VOUCHED_ADMIT_SCRIPT = """
local verdict = redis.call('GET', KEYS[5])
if not verdict or #verdict > 512 then return {'unknown'} end
local prefix = '1|' .. ARGV[2] .. '|'
local suffix = '|' .. ARGV[1]
if #verdict < #prefix + #suffix + 1 or string.sub(verdict, 1, #prefix) ~= prefix
    or string.sub(verdict, -#suffix) ~= suffix then
  return {'unknown'}
end
local ends = string.sub(verdict, #prefix + 1, #verdict - #suffix)
if not string.match(ends, '^%d+$') then return {'unknown'} end
if tonumber(ends) ~= 0 and tonumber(ends) <= tonumber(ARGV[8]) then return {'unknown'} end
""" + _CLAIM_AND_ADMIT

_Op = Callable[[Any], object]
# Appends an entry to a private channel's log only at the position the hub checked it for,
# and announces it in the same step (so every hub hears of it in the order of the log).
_RESERVE_SCRIPT = """
if redis.call('LLEN', KEYS[1]) ~= tonumber(ARGV[1]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
"""
_RESERVE_TIMEOUT = 5.0
# Counts a connection of one identity on this hub (its count hash, KEYS[2]) only if, with
# those every other hub listed in KEYS[1] holds, it stays within the cap: checked and counted
# in one step, so two hubs admitting at once cannot both pass, and a hub that joined the
# cluster a moment ago is counted too. A listed hub whose presence expired is struck off.
# (The other hubs' keys are named inside the script: one Redis, or one hash slot, holds them.)
# Returns -1 if counted, else the others' sum.
_ADMIT_SCRIPT = """
local elsewhere = 0
for _, hub in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[5] .. hub) == 0 then
    redis.call('SREM', KEYS[1], hub)
  elseif ARGV[6] .. hub ~= KEYS[2] then
    elsewhere = elsewhere + (tonumber(redis.call('HGET', ARGV[6] .. hub, ARGV[1])) or 0)
  end
end
if elsewhere + tonumber(ARGV[2]) > tonumber(ARGV[3]) then return elsewhere end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return -1
"""
# Writes back the entries a log in Redis lacks, only if it is still as long as when read
# (several hubs write back the same log after Redis lost it: one does, the others see it).
_RESTORE_SCRIPT = """
if redis.call('LLEN', KEYS[1]) ~= tonumber(ARGV[1]) then return 0 end
for index = 2, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[index]) end
return 1
"""
# Chunk fetches from other hubs this hub waits for at once (each at most
# MAX_FILE_GET_CHUNKS chunks: a few MiB in flight at worst), and how long one may take before
# the member is told to try again.
_FILE_FETCHES = 64
_FILE_FETCH_TIMEOUT = 10.0
# Relays a private channel's entry to this hub's members: (author, channel, entry, position,
# members before, members after); see rosterrelay.py.
RosterRelay = Callable[[str, str, bytes, int, Mapping[str, str], Mapping[str, str]], None]


class _Awaited:
    """A queued command whose answer someone waits for."""

    def __init__(self, op: _Op) -> None:
        self._op = op
        self.result: Any = None
        self.answer: object = None
        self.failed = False
        self.done = trio.Event()

    def __call__(self, pipe: Any) -> object:
        self.result = self._op(pipe)
        return self.result


@dataclass
class LinkStats:
    """What the link did, for metrics and `--check`."""

    round_trips: int = 0
    published: int = 0
    received: int = 0
    outages: int = 0
    peers: dict[str, str] = field(default_factory=dict)  # hub id -> its address
    on_round_trip: Callable[[float], None] | None = None
    on_fanout: Callable[[int, float], None] | None = None  # readers here, seconds


class RedisCluster:
    """The Fanout and NameClaims of a hub in a cluster (see backend.py)."""

    def __init__(
        self,
        url: str,
        channels: tuple[str, ...],
        *,
        address: str = "",
        ttl: float = 15.0,
        hub_id: str | None = None,
        max_news_bytes: int = 2**20,
        share_key_verdicts: bool = True,
    ) -> None:
        self.url = url
        # Verdicts on validated keys read and written in Redis (False: every login's key is
        # validated in full, as before; benchmarks/reconnect.py's baseline).
        self.share_key_verdicts = share_key_verdicts
        self._topics = Topics.of(url)
        self.hub_id = hub_id or new_hub_id()
        self.address = address
        self._channels = channels
        self._ttl_ms = max(int(ttl * 1000), 300)
        self._beat = ttl / 3
        self._max_news = max_news_bytes + _NEWS_OVERHEAD
        self._directory = RemoteDirectory(self.hub_id)
        self._registry: Registry | None = None
        self._private: PrivateBook | None = None
        self._relay: RosterRelay | None = None
        self._waiting: set[_Awaited] = set()
        self._local: dict[str, bytes] = {}  # live members here -> key (our presence)
        self._local_calls: set[tuple[str, str]] = set()
        self._local_connections: dict[str, int] = {}  # user -> connections here (the cap)
        # (channel, user) -> the other hub holding that call seat: when the hub is gone, so is
        # the seat, even if the user is still on another hub (or this one).
        self._remote_seats: dict[tuple[str, str], str] = {}
        self._names: dict[str, str] = {}  # bindings seen, for logins while Redis is away
        self._read_chunk: ChunkReader | None = None  # this hub's file store, if it has one
        self._files_held: Callable[[], list[StoredFile]] = list
        # request id -> where its chunks' answers go (buffered: the reader never waits)
        self._fetches: dict[str, trio.MemorySendChannel[nw.FileAnswered]] = {}
        self._send, self._receive = trio.open_memory_channel[_Op](_QUEUE)
        self._client: coredis.Redis[bytes] | None = None
        self._broken = trio.Event()  # set when the queue overflows: resync
        self.up = False
        self.state_changed = trio.Event()
        self.stats = LinkStats()

    def attach(
        self,
        registry: Registry,
        private: PrivateBook | None = None,
        relay: RosterRelay | None = None,
    ) -> None:
        """The hub's registry, and its private channels' book with the relay of their
        entries to its members (the logs are then shared through Redis)."""
        self._registry = registry
        self._private = private
        self._relay = relay

    @property
    def registry(self) -> Registry:
        assert self._registry is not None, "attach the registry before running the link"
        return self._registry

    # -- Fanout: synchronous, never waits ------------------------------------------------
    def remote_keys(self) -> list[Key]:
        return self._directory.public_keys()

    def remote_key(self, user: str) -> bytes | None:
        member = self._directory.get(user)
        return None if member is None else member.public_key

    def remote_count(self) -> int:
        return len(self._directory)

    def member_live(self, user: str, public_key: bytes) -> None:
        self._local[user] = public_key
        news = nw.encode(nw.Joined(self.hub_id, user, public_key, rejoin=False))
        self._queue(
            lambda pipe: pipe.hset(members_key(self.hub_id), {user: public_key}),
            lambda pipe: pipe.publish(self._topics.events, news),
        )

    def member_left(self, user: str) -> None:
        self._local.pop(user, None)
        news = nw.encode(nw.Left(self.hub_id, user))
        self._queue(
            lambda pipe: pipe.hdel(members_key(self.hub_id), [user]),
            lambda pipe: pipe.publish(self._topics.events, news),
        )

    def publish(self, channel: str, data: bytes, *, sender: str) -> int:
        if not self._directory:
            return 0  # nobody elsewhere (or out of reach): no publish at all
        news = nw.encode(nw.Published(self.hub_id, channel, sender, data))
        self._queue(lambda pipe: pipe.publish(self._topics.channel(channel), news))
        return len(self._directory)

    def publish_to(
        self, members: Mapping[str, str], channel: str, data: bytes, *, sender: str
    ) -> int:
        away = {
            user: fingerprint
            for user, fingerprint in members.items()
            if self._directory.get(user) is not None
        }
        if not away:
            return 0
        news = nw.encode(nw.Published(self.hub_id, channel, sender, data, away))
        self._queue(lambda pipe: pipe.publish(self._topics.private, news))
        return len(away)

    def send_to(
        self, user: str, data: bytes, *, sender: str | None, channel: str | None, call: str | None
    ) -> bool:
        hubs = self._directory.hubs_of(user)
        if not hubs:
            return False
        news = nw.encode(
            nw.Direct(self.hub_id, user, sender or "", channel or "", data, call or "")
        )
        self._queue(*(_publisher(self._topics.direct(hub), news) for hub in hubs))
        return True

    def call_changed(self, channel: str, user: str, joined: bool) -> None:
        if user not in self._local:
            return  # a member of another hub: that hub says so
        entry = f"{channel} {user}"
        if joined:
            self._local_calls.add((channel, user))
        else:
            self._local_calls.discard((channel, user))
        news = nw.encode(nw.CallChanged(self.hub_id, channel, user, joined))
        self._queue(
            (lambda pipe: pipe.sadd(calls_key(self.hub_id), [entry]))
            if joined
            else (lambda pipe: pipe.srem(calls_key(self.hub_id), [entry])),
            lambda pipe: pipe.publish(self._topics.events, news),
        )

    def hubs_holding(self, user: str) -> int:
        return len(self._directory.hubs_of(user))

    def connections_changed(self, user: str, count: int) -> None:
        if count > 0:
            self._local_connections[user] = count
            self._queue(lambda pipe: pipe.hset(connections_key(self.hub_id), {user: count}))
        else:
            self._local_connections.pop(user, None)
            self._queue(lambda pipe: pipe.hdel(connections_key(self.hub_id), [user]))

    # -- ConnectionCap -------------------------------------------------------------------
    async def admit_connection(self, user: str, here: int, limit: int) -> int | None:
        client = self._client
        if client is None or not self.up:
            return None  # out of reach: each hub keeps its own cap until Redis is back
        with unavailable("the cluster did not answer", "; try again soon"):
            reply = await client.eval(
                _ADMIT_SCRIPT,
                [HUBS, connections_key(self.hub_id)],
                [user, str(here), str(limit), str(self._ttl_ms), hub_key(""),
                 connections_key("")],
            )
        self._round_trip_done(0.0)
        elsewhere = int(reply)  # type: ignore[arg-type]
        return None if elsewhere < 0 else elsewhere

    def _queue(self, *ops: _Op) -> None:
        if not self.up:
            return  # written afresh, and announced again, when the link is back
        for op in ops:
            try:
                self._send.send_nowait(op)
            except trio.WouldBlock:
                # Redis is not keeping up: treat it as an outage (resync, clients resend)
                # rather than hold the registry or drop news silently.
                log.warning("cluster queue full (%d): resyncing", _QUEUE)
                self._broken.set()
                return

    async def written(self) -> None:
        """Until what was queued before now has reached Redis (for tools and tests: the
        queue is sent in order, so a ping queued last is answered last)."""
        waiting = _Awaited(lambda pipe: pipe.ping())
        self._waiting.add(waiting)
        try:
            self._queue(waiting)
            await waiting.done.wait()
        finally:
            self._waiting.discard(waiting)

    # -- SharedRosters ----------------------------------------------------------------------
    async def reserve_roster(self, channel: str, position: int, entry: bytes, author: str) -> bool:
        if not self.up:
            raise ClusterUnavailable(
                "this hub cannot reach its cluster right now, where private channels' rosters "
                "are kept; try again in a moment"
            )
        news = nw.encode(nw.RosterAppended(self.hub_id, channel, author, position, entry))
        waiting = _Awaited(
            lambda pipe: pipe.eval(
                _RESERVE_SCRIPT,
                [roster_key(channel)],
                [position, entry, self._topics.private, news],
            )
        )
        self._waiting.add(waiting)
        try:
            self._queue(waiting)  # in order with what this hub published before
            with trio.move_on_after(_RESERVE_TIMEOUT):
                await waiting.done.wait()
        finally:
            self._waiting.discard(waiting)
        if waiting.failed or not waiting.done.is_set():
            raise ClusterUnavailable("the cluster did not answer; try again in a moment")
        return bool(waiting.answer)

    # -- SharedFiles: files held by one hub, fetched by the others ----------------------
    def attach_files(
        self, read_chunk: ChunkReader, held: Callable[[], list[StoredFile]] = list
    ) -> None:
        """How this hub reads a chunk of a file it holds (FileStore.read), for other hubs,
        and which files it holds (FileStore.held), written again when the link is back."""
        self._read_chunk = read_chunk
        self._files_held = held

    def file_held(self, stored: StoredFile) -> None:
        self._write_file_records([stored])

    def _write_file_records(self, files: list[StoredFile]) -> None:
        """One queued op for them all: a resync with many files fills one pipeline, not
        the queue."""
        now = time.time()
        records = [
            (file_key(stored.file_id), SharedFile.of(self.hub_id, stored).encode(), ttl_ms)
            for stored in files
            if (ttl_ms := int((stored.expires_at - now) * 1000)) > 0
        ]
        if records:
            self._queue(lambda pipe: [pipe.set(key, raw, px=ttl) for key, raw, ttl in records])

    async def file_record(self, file_id: bytes) -> SharedFile | None:
        client = self._client
        if client is None or not self.up:
            raise ClusterUnavailable("this hub cannot reach its cluster right now")
        with unavailable("the cluster's file directory did not answer"):
            raw = await client.get(file_key(file_id))
        self._round_trip_done(0.0)
        if raw is None:
            return None
        try:
            return SharedFile.decode(raw)
        except ValueError as exc:
            log.warning("file record %s dropped: %s", file_id.hex()[:8], exc)
            return None

    async def fetch_chunks(
        self, record: SharedFile, file_id: bytes, index: int, count: int
    ) -> list[FileChunk]:
        if record.hub == self.hub_id:  # ours, yet not in our store: it is gone
            raise FileRefused(ErrorCode.UNKNOWN_FILE, "no such file here (expired)")
        if not await self._hub_alive(record.hub):
            raise FileRefused(
                ErrorCode.UNKNOWN_FILE,
                "the hub holding that file is gone (it is back when that hub is); try later",
            )
        if not self.up or len(self._fetches) >= _FILE_FETCHES:
            raise FileRefused(
                ErrorCode.CLUSTER_DOWN, "this hub cannot fetch that file now; try again soon"
            )
        request = "f" + secrets.token_hex(8)
        send, receive = trio.open_memory_channel[nw.FileAnswered](count)
        self._fetches[request] = send
        news = nw.encode(nw.FileAsked(self.hub_id, request, file_id, index, count))
        chunks: dict[int, bytes] = {}
        try:
            self._queue(_publisher(self._topics.direct(record.hub), news))
            with trio.move_on_after(_FILE_FETCH_TIMEOUT):
                async for answer in receive:
                    if answer.code:
                        raise FileRefused(_code(answer.code), "the hub holding it refused")
                    if index <= answer.index < index + count:
                        chunks[answer.index] = answer.data
                    if len(chunks) == count:
                        break
        finally:
            del self._fetches[request]
        if len(chunks) < count:
            raise FileRefused(
                ErrorCode.CLUSTER_DOWN,
                "the hub holding that file did not answer in time; try again soon",
            )
        return [FileChunk(file=file_id, index=at, data=chunks[at]) for at in sorted(chunks)]

    async def _hub_alive(self, hub: str) -> bool:
        """Whether `hub`'s presence is in Redis now (our list of peers is as old as our last
        heartbeat: a hub that just started is not in it yet)."""
        if hub in self.stats.peers:
            return True
        client = self._client
        if client is None:
            return False
        with unavailable("the cluster did not answer", "; try again soon"):
            alive = await client.exists([hub_key(hub)])
        self._round_trip_done(0.0)
        return bool(alive)

    def _answer_file(self, asked: nw.FileAsked) -> None:
        """Another hub's member reads a file we hold: its chunks, sealed, one news each."""
        topic = self._topics.direct(asked.hub)
        count = min(asked.count, MAX_FILE_GET_CHUNKS)
        for index in range(asked.index, asked.index + count):
            code, data = "", b""
            if self._read_chunk is None:
                code = ErrorCode.UNKNOWN_FILE.value
            else:
                try:
                    data = self._read_chunk(asked.file, index)
                except FileRefused as refusal:
                    code = refusal.code.value
            news = nw.encode(nw.FileAnswered(self.hub_id, asked.request, index, code, data))
            self._queue(_publisher(topic, news))
            if code:
                return

    def _file_answered(self, answer: nw.FileAnswered) -> None:
        waiting = self._fetches.get(answer.request)
        if waiting is None or len(answer.data) > MAX_FILE_CHUNK_BYTES:
            return  # late (timed out) or not ours
        try:
            waiting.send_nowait(answer)
        except (trio.WouldBlock, trio.BrokenResourceError):
            pass  # more answers than asked for: the extra ones are not ours

    # -- NameClaims ------------------------------------------------------------------------
    async def claim(self, user: str, fingerprint: str) -> tuple[Claim, str]:
        client = self._client
        if client is None or not self.up:
            if self._names.get(user) == fingerprint:
                return Claim.OWNED, ""  # seen here before the outage: it cannot have changed
            raise ClusterUnavailable(
                "this hub cannot reach its cluster's name directory right now; try again in "
                "a moment, or another hub of the cluster"
            )
        with unavailable("the cluster's name directory did not answer", "; try again soon"):
            reply = await client.eval(_CLAIM_SCRIPT, [NAMES, KEY_OWNERS], [user, fingerprint])
        self._round_trip_done(0.0)
        outcome, other = (text(part) for part in reply)  # type: ignore[union-attr,arg-type]
        claim = Claim(outcome)
        if claim in (Claim.OWNED, Claim.REGISTERED):
            self._remember_name(user, fingerprint)
        return claim, other

    def _remember_name(self, user: str, fingerprint: str) -> None:
        """A binding seen in Redis: claimed again after an outage (_restore_names), and
        trusted for its own key while Redis is out of reach."""
        if len(self._names) >= _NAMES_CACHED:
            self._names.clear()
        self._names[user] = fingerprint

    # -- KeyVerdicts ----------------------------------------------------------------------
    async def admit_vouched(self, name: str, user: str, fingerprint: str, here: int,
                            limit: int, now: int) -> tuple[bytes, Admitted] | None:
        client = self._client
        if client is None or not self.up or not self.share_key_verdicts:
            return None
        try:
            with unavailable("the cluster did not answer"):
                reply = await client.eval(
                    _VOUCHED_ADMIT_SCRIPT,
                    [NAMES, KEY_OWNERS, HUBS, connections_key(self.hub_id),
                     key_verdict_key(name)],
                    [user, fingerprint, str(here), str(limit), str(self._ttl_ms),
                     hub_key(""), connections_key(""), str(now)],
                )
        except ClusterUnavailable:
            return None  # validated in full, then admitted (or refused) as any other
        self._round_trip_done(0.0)
        parts = cast("list[Any]", reply)
        if len(parts) != 4:
            return None
        outcome, other, counted, verdict = parts
        return verdict, self._admitted(user, fingerprint, outcome, other, counted)

    def remember_key_verdict(self, name: str, verdict: bytes, ttl_ms: int) -> None:
        if ttl_ms > 0 and self.share_key_verdicts:
            self._queue(lambda pipe: pipe.set(key_verdict_key(name), verdict, px=ttl_ms))

    # -- Admission -------------------------------------------------------------------------
    async def admit(self, user: str, fingerprint: str, here: int, limit: int) -> Admitted:
        client = self._client
        if client is None or not self.up:
            # Out of reach: the name only if this hub saw it bound (claim says so, or
            # raises), and each hub keeps its own cap until Redis is back.
            claim, other = await self.claim(user, fingerprint)
            return Admitted(claim, other)
        with unavailable("the cluster's name directory did not answer", "; try again soon"):
            reply = await client.eval(
                _CLAIM_AND_ADMIT_SCRIPT,
                [NAMES, KEY_OWNERS, HUBS, connections_key(self.hub_id)],
                [user, fingerprint, str(here), str(limit), str(self._ttl_ms), hub_key(""),
                 connections_key("")],
            )
        self._round_trip_done(0.0)
        outcome, other, counted, _ = cast("list[Any]", reply)
        return self._admitted(user, fingerprint, outcome, other, counted)

    def _admitted(self, user: str, fingerprint: str, outcome: bytes, other: bytes,
                  counted: int) -> Admitted:
        claim = Claim(text(outcome))
        if claim in (Claim.OWNED, Claim.REGISTERED):
            self._remember_name(user, fingerprint)
        elsewhere = int(counted)
        return Admitted(claim, text(other), None if elsewhere < 0 else elsewhere)

    # -- the link's life ---------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep the link up until cancelled: started once the first attempt succeeded or
        failed (a hub starts serving its own members either way)."""
        delay = 0.1
        started = False

        def start() -> None:
            nonlocal started
            if not started:
                started = True
                task_status.started()

        while True:
            try:
                await self._session(start)
            except* LINK_ERRORS as group:
                if self.up or not started:
                    log.warning("cluster link down: %s", first_reason(group))
                # Back off while Redis stays away; retry at once after a link that worked.
                delay = 0.1 if self.up else min(delay * 2, 2.0)
                self._down()
            start()
            await trio.sleep(delay)

    async def _session(self, started: Callable[[], None]) -> None:
        self._broken = trio.Event()
        async with AsyncExitStack() as stack:
            client: coredis.Redis[bytes] = await stack.enter_async_context(
                coredis.Redis.from_url(
                    self.url, decode_responses=False, stream_timeout=5.0, connect_timeout=2.0
                )
            )
            topics = [
                self._topics.events,
                self._topics.private,
                self._topics.direct(self.hub_id),
                *(self._topics.channel(channel) for channel in self._channels),
            ]
            # No retries inside coredis: an outage must reach us, to resync afterwards.
            pubsub = await stack.enter_async_context(
                client.pubsub(channels=topics, ignore_subscribe_messages=True, retry_policy=None)
            )
            # Subscribed first, then the snapshot: news published meanwhile waits in the
            # subscription and replays on top of it (each change is idempotent).
            await self._write_presence(client)
            await self._read_everyone(client)
            await self._restore_names(client)
            await self._sync_rosters(client)
            while True:  # whatever was queued for the old link is covered by the resync
                try:
                    self._receive.receive_nowait()
                except trio.WouldBlock:
                    break
            self._client = client
            self.up = True
            self._announce_state()
            self._rejoin_ours()
            log.info(
                "cluster link up: hub %s, %d members elsewhere", self.hub_id, len(self._directory)
            )
            started()
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._heartbeat, client)
                    nursery.start_soon(self._publish_loop, client)
                    nursery.start_soon(self._watch_broken)
                    await self._read_news(pubsub)
            finally:
                await self._withdraw()

    def _down(self) -> None:
        was_up = self.up
        self.up = False
        self._client = None
        if was_up:
            self.stats.outages += 1
            self._announce_state()
        for waiting in self._waiting:  # their commands may or may not have run: unknown
            waiting.failed = True
            waiting.done.set()
        registry = self._registry
        self._remote_seats.clear()  # remote_left below takes them out of the rosters
        for user in self._directory.clear():
            if registry is not None:
                registry.remote_left(user)
        if registry is not None:
            registry.reshare()  # each hub on its own now: whole budgets until Redis is back

    def _announce_state(self) -> None:
        self.state_changed.set()
        self.state_changed = trio.Event()

    async def wait_state(self, up: bool) -> None:
        """Until the link is up (or down): for tools and tests, without polling."""
        while self.up != up:
            await self.state_changed.wait()

    async def _write_presence(self, client: coredis.Redis[bytes]) -> None:
        async with client.pipeline(transaction=True) as pipe:
            pipe.set(hub_key(self.hub_id), self.address.encode(), px=self._ttl_ms)
            pipe.sadd(HUBS, [self.hub_id])
            pipe.delete(
                [members_key(self.hub_id), calls_key(self.hub_id), connections_key(self.hub_id)]
            )
            if self._local_connections:
                pipe.hset(connections_key(self.hub_id), dict(self._local_connections))
                pipe.pexpire(connections_key(self.hub_id), self._ttl_ms)
            if self._local:
                pipe.hset(members_key(self.hub_id), dict(self._local))
                pipe.pexpire(members_key(self.hub_id), self._ttl_ms)
            if self._local_calls:
                pipe.sadd(
                    calls_key(self.hub_id),
                    [f"{channel} {user}" for channel, user in self._local_calls],
                )
                pipe.pexpire(calls_key(self.hub_id), self._ttl_ms)
        self._round_trip_done(0.0)

    async def _restore_names(self, client: coredis.Redis[bytes]) -> None:
        """Claim again every binding this hub has seen. A Redis that lost its data (restarted
        without persistence) would otherwise let the first comer take a name that was bound;
        with the bindings intact this changes nothing. A name taken meanwhile by another key
        stays with it, and is logged."""
        if not self._names:
            return
        async with client.pipeline(transaction=False) as pipe:
            results = [
                (user, pipe.eval(_CLAIM_SCRIPT, [NAMES, KEY_OWNERS], [user, fingerprint]))
                for user, fingerprint in self._names.items()
            ]
        self._round_trip_done(0.0)
        for user, result in results:
            outcome = text((await result)[0])  # type: ignore[index,arg-type]
            if outcome not in (Claim.OWNED.value, Claim.REGISTERED.value):
                log.warning(
                    "name %s is bound to another key in the cluster now (%s)", user, outcome
                )
                self._names.pop(user, None)

    def _rejoin_ours(self) -> None:
        """Our members again, as rejoining: the other hubs' members resend to them what they
        sent while we could not be reached. (Written again too: a member that went live
        while the session was starting is in no snapshot yet.)"""
        if self._local:
            presence = dict(self._local)
            self._queue(lambda pipe: pipe.hset(members_key(self.hub_id), presence))
        # Where our files live (Redis may have lost it, or missed a record while away):
        # written before our members are announced, so whoever hears of them finds them.
        self._write_file_records(self._files_held())
        for user, public_key in self._local.items():
            news = nw.encode(nw.Joined(self.hub_id, user, public_key, rejoin=True))
            self._queue(_publisher(self._topics.events, news))

    async def _alive_hubs(self, client: coredis.Redis[bytes]) -> dict[str, str]:
        hubs: dict[str, str] = {}
        async for key in client.scan_iter(match=hub_key("*"), count=1000):
            hub = text(key).removeprefix(hub_key(""))
            hubs[hub] = ""
        if hubs:
            addresses = await client.mget([hub_key(hub) for hub in hubs])
            for hub, address in zip(list(hubs), addresses, strict=True):
                hubs[hub] = text(address) if address is not None else ""
        self._round_trip_done(0.0)
        return hubs

    async def _read_everyone(self, client: coredis.Redis[bytes]) -> None:
        registry = self.registry
        alive = await self._alive_hubs(client)
        self.stats.peers = {hub: address for hub, address in alive.items() if hub != self.hub_id}
        for hub in self.stats.peers:
            members = await client.hgetall(members_key(hub))
            for raw_user, public_key in members.items():
                user = text(raw_user)
                if (
                    len(public_key) > _MAX_KEY_BYTES
                    or self._local.get(user, public_key) != public_key
                ):
                    continue  # (another key than ours under the name: a stale entry)
                if self._directory.joined(hub, user, public_key):
                    registry.remote_joined(user, public_key)
                registry.reshare([user])
            for raw in await client.smembers(calls_key(hub)):
                channel, _, user = text(raw).partition(" ")
                if self._directory.get(user) is not None:
                    self._remote_seat(hub, channel, user, joined=True)
        self._round_trip_done(0.0)

    async def _heartbeat(self, client: coredis.Redis[bytes]) -> None:
        """Keep our presence alive; notice hubs whose presence expired (they died)."""
        while True:
            await trio.sleep(self._beat)
            started = trio.current_time()
            async with client.pipeline(transaction=False) as pipe:
                previous = pipe.set(
                    hub_key(self.hub_id), self.address.encode(), px=self._ttl_ms, get=True
                )
                pipe.pexpire(members_key(self.hub_id), self._ttl_ms)
                pipe.pexpire(calls_key(self.hub_id), self._ttl_ms)
                pipe.pexpire(connections_key(self.hub_id), self._ttl_ms)
            self._round_trip_done(trio.current_time() - started)
            if await previous is None:
                # We were too late (a stall longer than the TTL, or Redis lost its data): the
                # others counted us gone and our presence expired. Start over and resync.
                raise Resync("our presence expired before the heartbeat")
            alive = await self._alive_hubs(client)
            self.stats.peers = {
                hub: address for hub, address in alive.items() if hub != self.hub_id
            }
            for hub in self._directory.hubs() - set(alive):
                log.info("hub %s is gone (its presence expired)", hub)
                for channel, user in [s for s, at in self._remote_seats.items() if at == hub]:
                    self._remote_seat(hub, channel, user, joined=False)
                for user in self._directory.hub_gone(hub):
                    self.registry.remote_left(user)
                self.registry.reshare()

    async def _publish_loop(self, client: coredis.Redis[bytes]) -> None:
        while True:
            batch = [await self._receive.receive()]
            while len(batch) < _BATCH:
                try:
                    batch.append(self._receive.receive_nowait())
                except trio.WouldBlock:
                    break
            started = trio.current_time()
            async with client.pipeline(transaction=False) as pipe:
                for op in batch:
                    op(pipe)
            for op in batch:
                if isinstance(op, _Awaited):
                    op.answer = await op.result
                    op.done.set()
            self.stats.published += len(batch)
            self._round_trip_done(trio.current_time() - started)

    async def _watch_broken(self) -> None:
        await self._broken.wait()
        raise Resync("the cluster queue overflowed")

    async def _read_news(self, pubsub: Any) -> None:
        async for message in pubsub:
            data = message["data"]
            if not isinstance(data, bytes) or len(data) > self._max_news:
                log.warning(
                    "cluster news dropped: %s",
                    "too large" if isinstance(data, bytes) else "not bytes",
                )
                continue
            try:
                news = nw.decode(data)
            except nw.MalformedNews as exc:
                log.warning("cluster news dropped: %s", exc)
                continue
            self.stats.received += 1
            self._take(news)
        raise Resync("the subscription ended")

    def _take(self, news: nw.News) -> None:
        registry = self.registry
        if isinstance(news, nw.FileAsked):
            self._answer_file(news)
            return
        if isinstance(news, nw.FileAnswered):
            self._file_answered(news)
            return
        if news.hub == self.hub_id and not isinstance(news, nw.Direct):
            return  # our own, echoed back
        if isinstance(news, nw.Joined):
            if len(news.public_key) > _MAX_KEY_BYTES:
                return
            news_here = self._directory.joined(news.hub, news.user, news.public_key)
            # A member held here too hears of each of its devices elsewhere (its own key
            # again: new sender keys that open there too), even one the directory knew of.
            if news_here or news.rejoin or registry.online(news.user):
                if not registry.online(news.user):
                    self._local.pop(news.user, None)
                registry.remote_joined(news.user, news.public_key)
            registry.reshare([news.user])
        elif isinstance(news, nw.Left):
            if self._directory.left(news.hub, news.user):
                registry.remote_left(news.user)
            registry.reshare([news.user])
        elif isinstance(news, nw.RosterAppended):
            self._replicate_roster(news.channel, news.position, news.entry, news.author)
        elif isinstance(news, nw.CallChanged):
            self._remote_seat(news.hub, news.channel, news.user, joined=news.joined)
        elif isinstance(news, nw.Published):
            started = time.perf_counter()
            if news.members is None:
                count = registry.deliver_published(
                    news.channel, news.data, sender=news.sender, from_elsewhere=True
                )
            else:
                count = registry.deliver_published_to(
                    news.members, news.channel, news.data, sender=news.sender, from_elsewhere=True
                )
            if self.stats.on_fanout is not None:
                self.stats.on_fanout(count, time.perf_counter() - started)
        else:
            registry.send_local(
                news.user,
                news.data,
                sender=news.sender or None,
                channel=news.channel or None,
                call=news.call or None,
            )

    def _remote_seat(self, hub: str, channel: str, user: str, *, joined: bool) -> None:
        """A member of `hub` joined or left a channel's call."""
        if joined:
            self._remote_seats[(channel, user)] = hub
        elif self._remote_seats.get((channel, user), hub) == hub:
            self._remote_seats.pop((channel, user), None)
        else:
            return  # an older seat's leaving: the user sits in the call from another hub now
        self.registry.remote_call_changed(channel, user, joined=joined)

    def _replicate_roster(
        self, channel: str, position: int, entry: bytes, author: str, *, resync: bool = True
    ) -> bool:
        """An entry another hub accepted: stored here too, and relayed to our members.
        False if it does not continue the log held here (with `resync`, the link starts over
        and reads every log again: news went missing)."""
        if self._private is None or self._relay is None:
            return True
        try:
            appended = self._private.replicate(channel, position, entry)
        except RosterRefusal as refusal:
            log.warning("private channel %s: %s", channel, refusal.reason)
            if resync:
                self._broken.set()
            return False
        if appended is not None:
            self._relay(author, channel, entry, position, appended.before, appended.after)
        return True

    async def _sync_rosters(self, client: coredis.Redis[bytes]) -> None:
        """The logs as Redis holds them: entries we lack are stored and relayed; a log Redis
        lost (or never had: a hub that ran alone before) is written back from ours."""
        private = self._private
        if private is None or self._relay is None:
            return
        held: dict[str, list[bytes]] = {}
        async for key in client.scan_iter(match=roster_key("*"), count=1000):
            channel = text(key).removeprefix(roster_key(""))
            held[channel] = list(await client.lrange(key, 0, MAX_ROSTER_ENTRIES))
        for channel, entries in held.items():
            for position in range(private.length(channel), len(entries)):
                # A log that does not continue ours (a fork) is logged below, not retried.
                if not self._replicate_roster(
                    channel, position, entries[position], "", resync=False
                ):
                    break
        for channel in private.channels():
            ours = private.entries(channel)
            theirs = held.get(channel, [])
            if len(theirs) < len(ours) and ours[: len(theirs)] == theirs:
                await client.eval(
                    _RESTORE_SCRIPT, [roster_key(channel)], [len(theirs), *ours[len(theirs) :]]
                )
            elif ours[: len(theirs)] != theirs[: len(ours)]:
                log.error(
                    "private channel %s: this hub's log and the cluster's differ; the "
                    "cluster's stands for new entries",
                    channel,
                )
        self._round_trip_done(0.0)

    def _round_trip_done(self, seconds: float) -> None:
        self.stats.round_trips += 1
        if self.stats.on_round_trip is not None:
            self.stats.on_round_trip(seconds)

    async def _withdraw(self) -> None:
        """The session ends (the hub stops, or the link starts over): our presence goes at
        once, if Redis still listens (a killed hub's expires instead). On a connection of its
        own: the session's may be closed already by the cancellation that ends it. (The
        link counts as down only after, in _down, which tells whoever waits for it.)"""
        with trio.move_on_after(1.0) as scope:
            scope.shield = True
            try:
                async with (
                    coredis.Redis.from_url(
                        self.url, decode_responses=False, connect_timeout=1.0
                    ) as client,
                    client.pipeline(transaction=False) as pipe,
                ):
                    pipe.delete(
                        [hub_key(self.hub_id), members_key(self.hub_id), calls_key(self.hub_id),
                         connections_key(self.hub_id)]
                    )
                    pipe.srem(HUBS, [self.hub_id])
                    for user in self._local:
                        pipe.publish(self._topics.events, nw.encode(nw.Left(self.hub_id, user)))
            except* LINK_ERRORS:
                pass  # Redis is away: our presence expires instead


def _code(value: str) -> ErrorCode:
    try:
        return ErrorCode(value)
    except ValueError:
        return ErrorCode.UNKNOWN_FILE


def _publisher(topic: str, news: bytes) -> _Op:
    return lambda pipe: pipe.publish(topic, news)
