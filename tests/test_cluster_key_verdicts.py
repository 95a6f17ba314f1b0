"""A key validated by one hub of a cluster is not validated again by the others (nor by a
restarted one): its verdict is kept in Redis under the digest of its exact bytes and the
rules' version. The possession proof is checked at every login all the same, and a verdict
covers nothing but those bytes, that user and its time (a real redis-server, two hubs)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import coredis
import trio
from trio_websocket import wrap_client_stream

from gossip.crypto import Identity, KeyVerdict, certificate_fingerprint, client_ssl_context
from gossip.crypto._packets import Tag, walk
from gossip.crypto._pgpy import PGPUID, PGPKey, constants
from gossip.crypto.keyverdict import VERDICT_TTL, verdict_name
from gossip.hub import RunningHub
from gossip.hub.cluster.keyspace import KEY_OWNERS, NAMES, key_verdict_key
from gossip.tools.attack import log_in_raw
from gossip.wire import Error, ErrorCode, Frame, Welcome

from .conftest import PASSWORD
from .rawmember import identity_of, log_in
from .redisserver import needs_redis
from .test_cluster import hub_b, hub_config, redis_server  # noqa: F401  (fixtures)

pytestmark = needs_redis


@dataclass(frozen=True)
class Presented:
    """Key bytes as a client may present them (log_in_raw reads these two)."""

    data: bytes
    fingerprint: str

    def to_bytes(self) -> bytes:
        return self.data


def with_altered_self_signature(identity: Identity) -> Presented:
    """The identity's key with one byte of its user id's self-signature changed: the same
    primary key packet (so the same fingerprint, and a proof the identity can still make)."""
    data = identity.public.to_bytes()
    packets = walk(data)
    after_user_id = next(index for index, packet in enumerate(packets)
                         if packet.tag == Tag.USER_ID) + 1
    signature = packets[after_user_id]
    assert signature.tag == Tag.SIGNATURE
    altered = bytearray(data)
    altered[signature.end - 3] ^= 0x01  # inside the signature's last value
    return Presented(bytes(altered), identity.fingerprint)


async def login(nursery: trio.Nursery, hub: RunningHub, user: str, key: Presented,
                signer: Identity) -> Frame:
    stream = await trio.open_ssl_over_tcp_stream("127.0.0.1", hub.port,
                                                 ssl_context=client_ssl_context(),
                                                 https_compatible=False)
    await stream.do_handshake()
    seen = certificate_fingerprint(stream.getpeercert(binary_form=True))
    ws = await wrap_client_stream(nursery, stream, "127.0.0.1", "/gossip",
                                  message_queue_size=1, max_message_size=2**20)
    return await log_in_raw(ws, seen, user, key, signer, PASSWORD)  # type: ignore[arg-type]


async def stored(hub: RunningHub, name: str, verdict: KeyVerdict | bytes | None = None,
                 ttl_ms: int = 60_000) -> tuple[bytes | None, int]:
    """The verdict kept under `name` and its time to live (after writing `verdict`)."""
    assert hub.cluster is not None
    async with coredis.Redis.from_url(hub.cluster.url, decode_responses=False) as client:
        if verdict is not None:
            value = verdict if isinstance(verdict, bytes) else verdict.encode()
            await client.set(key_verdict_key(name), value, px=ttl_ms)
        return await client.get(key_verdict_key(name)), await client.pttl(key_verdict_key(name))


async def test_a_key_validated_on_one_hub_is_vouched_for_on_the_others(
    nursery, hub, hub_b  # noqa: F811
):
    alice = identity_of("alice")
    await log_in(nursery, hub, "alice")
    assert hub.cluster is not None
    await hub.cluster.written()
    found, ttl = await stored(hub, verdict_name(alice.public.to_bytes()))
    assert found is not None
    assert KeyVerdict.decode(found) == KeyVerdict(alice.fingerprint, "alice", 0)
    assert 0 < ttl <= VERDICT_TTL.total_seconds() * 1000
    assert verdict_name(alice.public.to_bytes()).endswith(
        hashlib.sha256(alice.public.to_bytes()).hexdigest())
    assert (hub.key_checks("validated"), hub.key_checks("shared")) == (1, 0)

    await log_in(nursery, hub_b, "alice")
    assert (hub_b.key_checks("validated"), hub_b.key_checks("shared")) == (0, 1)


async def test_a_verdict_never_stands_for_the_possession_proof(nursery, hub, hub_b):  # noqa: F811
    alice, mallory = identity_of("alice"), identity_of("mallory")
    await log_in(nursery, hub, "alice")
    assert hub.cluster is not None
    await hub.cluster.written()
    # Mallory knows the password and alice's public key, and her verdict is in Redis.
    answer = await login(nursery, hub_b, "alice",
                         Presented(alice.public.to_bytes(), alice.fingerprint), mallory)
    assert isinstance(answer, Error) and answer.code == ErrorCode.AUTH
    # The proof is checked before the verdict is even read (and so before any name claim).
    assert (hub_b.key_checks("shared"), hub_b.key_checks("validated")) == (0, 0)


async def test_a_verdict_covers_only_its_bytes_its_rules_its_user_and_its_time(
    nursery, hub, hub_b  # noqa: F811
):
    carol = identity_of("carol")
    await log_in(nursery, hub, "carol")
    assert hub.cluster is not None
    await hub.cluster.written()
    altered = with_altered_self_signature(carol)
    assert verdict_name(altered.data) != verdict_name(carol.public.to_bytes())

    async def refused() -> bool:
        answer = await login(nursery, hub_b, "carol", altered, carol)
        return isinstance(answer, Error) and answer.code == ErrorCode.BAD_KEY

    # carol's verdict is for her key's bytes, not these: they are validated, and refused.
    assert await refused()
    # A verdict for these bytes under other rules, for another user, or past the key's end.
    now = datetime.now(UTC)
    old_rules = "v0" + verdict_name(altered.data)[verdict_name(altered.data).index(":"):]
    await stored(hub, old_rules, KeyVerdict(carol.fingerprint, "carol", 0))
    assert await refused()
    name = verdict_name(altered.data)
    await stored(hub, name, KeyVerdict(carol.fingerprint, "mallory", 0))
    assert await refused()
    await stored(hub, name, KeyVerdict(carol.fingerprint, "carol",
                                       int((now - timedelta(minutes=1)).timestamp())))
    assert await refused()
    await stored(hub, name, b"garbage")
    assert await refused()
    assert hub_b.key_checks("shared") == 0

    # Redis is inside the cluster's trust boundary: a verdict written there is believed (each
    # client still validates every key it is given, so this key would get no further).
    dave = identity_of("dave")
    broken = with_altered_self_signature(dave)
    await stored(hub, verdict_name(broken.data), KeyVerdict(dave.fingerprint, "dave", 0))
    assert isinstance(await login(nursery, hub_b, "dave", broken, dave), Welcome)
    assert hub_b.key_checks("shared") == 1


async def test_a_vouched_login_is_refused_a_name_bound_to_another_key(
    nursery, hub, hub_b  # noqa: F811
):
    owner, impostor = identity_of("erin"), Identity.generate("erin")
    assert hub.cluster is not None
    async with coredis.Redis.from_url(hub.cluster.url, decode_responses=False) as client:
        # erin's name is bound to her key (she is not online anywhere now).
        await client.hset(NAMES, {"erin": owner.fingerprint})
        await client.hset(KEY_OWNERS, {owner.fingerprint: "erin"})
    # Another good key under her name, with a verdict of its own: the key passes, the name not.
    await stored(hub, verdict_name(impostor.public.to_bytes()), KeyVerdict.of(impostor.public))
    answer = await login(nursery, hub_b, "erin",
                         Presented(impostor.public.to_bytes(), impostor.fingerprint), impostor)
    assert isinstance(answer, Error) and answer.code == ErrorCode.USER_TAKEN
    assert hub_b.key_checks("shared") == 1
    assert hub_b.registry.connections_of("erin") == 0


async def test_a_key_that_is_not_ed25519_is_refused_as_a_bad_key(nursery, hub):
    rsa = PGPKey.new(constants.PubKeyAlgorithm.RSAEncryptOrSign, 1024)
    rsa.add_uid(PGPUID.new("frank"), usage={constants.KeyFlags.Sign})
    answer = await login(nursery, hub, "frank",
                         Presented(bytes(rsa.pubkey), str(rsa.fingerprint).replace(" ", "")),
                         identity_of("frank"))
    assert isinstance(answer, Error) and answer.code == ErrorCode.BAD_KEY


async def test_only_a_key_that_got_in_leaves_a_verdict(nursery, hub, hub_b):  # noqa: F811
    await log_in(nursery, hub, "gina")
    impostor = Identity.generate("gina")  # a good key, but the name is another key's
    answer = await login(nursery, hub_b, "gina",
                         Presented(impostor.public.to_bytes(), impostor.fingerprint), impostor)
    assert isinstance(answer, Error) and answer.code == ErrorCode.USER_TAKEN
    assert hub_b.cluster is not None
    await hub_b.cluster.written()
    assert await stored(hub_b, verdict_name(impostor.public.to_bytes())) == (None, -2)
    assert (await stored(hub, verdict_name(identity_of("gina").public.to_bytes())))[0]
