"""Several hubs as one cluster over a real redis-server: chat and keys cross hubs, names are
bound once for the whole cluster, and a Redis outage costs cross-hub traffic only."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import coredis
import pytest
import trio

from gossip.client import events as ev
from gossip.client.commands import AddToChannel, CreatePrivateChannel, GetState, SendChat
from gossip.client.errors import CommandRefused, LoginFailed
from gossip.client.files import FileTransferFailed
from gossip.client.filesend import save_file, send_file
from gossip.client.profile import Profile
from gossip.crypto.hubcert import CERT_FILE, KEY_FILE
from gossip.hub import HubConfig, RunningHub, serve_hub
from gossip.hub.__main__ import user_command
from gossip.hub.check import check_command
from gossip.hub.cluster import link as cluster_link
from gossip.hub.cluster.keyspace import file_key
from gossip.wire import CallMembers, Error, ErrorCode, HangUp, Message, Offer, StartCall

from .conftest import PASSWORD
from .hubprocess import start_hub_process
from .rawmember import log_in, next_of
from .redisserver import RedisServer, needs_redis, running_redis

pytestmark = needs_redis


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    async with running_redis(tmp_path) as server:
        yield server


@pytest.fixture
def hub_config(tmp_path: Path, redis_server: RedisServer, hub_config: HubConfig) -> HubConfig:
    # Hubs of one cluster beat often here, so that a dead one is noticed within a test.
    return replace(hub_config, redis=redis_server.url, cluster_ttl=1.5)


@pytest.fixture
async def hub_b(nursery: trio.Nursery, hub_config: HubConfig, tmp_path: Path) -> RunningHub:
    config = replace(hub_config, data_dir=tmp_path / "hub-b")
    return await nursery.start(lambda task_status: serve_hub(config, task_status=task_status))


@pytest.fixture
async def hub_c(nursery: trio.Nursery, hub_config: HubConfig, tmp_path: Path) -> RunningHub:
    config = replace(hub_config, data_dir=tmp_path / "hub-c")
    return await nursery.start(lambda task_status: serve_hub(config, task_status=task_status))


async def _texts(client, count: int) -> list[str]:
    return [(await client.next_event(ev.MessageReceived)).message.text for _ in range(count)]


async def test_chat_and_keys_cross_hubs_and_names_are_bound_once(connect, hub, hub_b, tmp_path):
    alice = await connect("alice")
    bob = await connect("bob", port=hub_b.port)
    await alice.next_event(ev.MemberJoined, lambda e: e.user == "bob")
    state = await bob.session.ref.ask(GetState())
    assert [m.user for m in state.members] == ["alice", "bob"]

    await alice.session.ref.ask(SendChat("general", "from hub a", 60))
    await bob.session.ref.ask(SendChat("general", "from hub b", 60))
    assert await _texts(bob, 1) == ["from hub a"]
    assert await _texts(alice, 1) == ["from hub b"]

    # "bob" is bound to bob's key for the whole cluster: another key is refused on hub A.
    impostor = Profile.open("bob", tmp_path / "impostor")
    refused = await connect("bob", profile=impostor, wait=False)
    with trio.fail_after(20):
        await refused.done.wait()
    assert isinstance(refused.failure, LoginFailed)
    assert refused.failure.code == ErrorCode.USER_TAKEN

    bob.stop()
    left = await alice.next_event(ev.MemberLeft)
    assert left.user == "bob"
    assert hub.cluster is not None and hub.cluster.remote_keys() == []
    # The operator frees the name for the whole cluster; then the other key may take it.
    reset = ["reset", "bob", "--redis", hub.cluster.url]
    assert await trio.to_thread.run_sync(user_command, reset) == 0
    await connect("bob", profile=impostor, port=hub_b.port)


async def test_a_redis_outage_costs_cross_hub_work_only_and_the_hubs_resync(
    connect, hub, hub_b, redis_server, tmp_path
):
    erin = await connect("erin")  # registers her name on hub A, and goes
    erin.stop()
    alice = await connect("alice")
    carol = await connect("carol")
    bob = await connect("bob", port=hub_b.port)
    await alice.next_event(ev.MemberJoined, lambda e: e.user == "bob")
    assert hub.cluster is not None and hub_b.cluster is not None

    redis_server.kill()  # and with it every binding: it saves nothing
    # Out of reach is gone: each hub's members are told the others left (nobody seals to a
    # reader their hub cannot reach), and each hub keeps serving its own.
    assert (await alice.next_event(ev.MemberLeft)).user == "bob"
    assert (await bob.next_event(ev.MemberLeft, lambda e: e.user == "alice")).user == "alice"
    await alice.session.ref.ask(SendChat("general", "still here", 60))
    assert await _texts(carol, 1) == ["still here"]
    # A login this hub cannot check against the cluster's names is refused, saying why.
    dave = await connect("dave", wait=False)
    with trio.fail_after(20):
        await dave.done.wait()
    assert "cluster" in str(dave.failure)

    await redis_server.start()
    with trio.fail_after(20):
        await hub.cluster.wait_state(up=True)
        await hub_b.cluster.wait_state(up=True)
    # The hubs claimed again the names they had seen: erin's is still hers.
    impostor = await connect(
        "erin", profile=Profile.open("erin", tmp_path / "x"), wait=False, port=hub_b.port
    )
    with trio.fail_after(20):
        await impostor.done.wait()
    assert isinstance(impostor.failure, LoginFailed)
    assert impostor.failure.code == ErrorCode.USER_TAKEN
    await alice.next_event(ev.MemberJoined, lambda e: e.user == "bob")
    seen = {(await bob.next_event(ev.MemberJoined)).user for _ in range(2)}
    assert seen == {"alice", "carol"}
    await bob.session.ref.ask(SendChat("general", "back again", 60))
    assert await _texts(alice, 1) == ["back again"]
    assert await _texts(carol, 1) == ["back again"]
    # Nothing shown twice: the next message anyone sees is the next one sent.
    await alice.session.ref.ask(SendChat("general", "last", 60))
    assert await _texts(bob, 1) == ["last"]
    assert await _texts(carol, 1) == ["last"]


async def test_a_killed_hub_expires_and_its_members_go_on_from_another(
    connect, hub, hub_config, nursery, tmp_path
):
    # Hub A runs in a process of its own, with hub B's certificate (one per cluster).
    a_dir = tmp_path / "hub-a"
    a_dir.mkdir(mode=0o700)
    for name in (CERT_FILE, KEY_FILE):
        shutil.copy2(hub_config.data_dir / name, a_dir / name)
    config = tmp_path / "hub-a.toml"
    config.write_text(
        f'name = "hub a"\nport = 0\npassword = "{PASSWORD}"\nchannels = ["general"]\n'
        f'data_dir = "{a_dir}"\nredis = "{hub_config.redis}"\ncluster_ttl = 1.5\n'
    )
    process, a_port = await start_hub_process(nursery, config)
    try:
        alice = await connect("alice", port=a_port, other_hubs=(("127.0.0.1", hub.port),))
        carol = await connect("carol", port=a_port, reconnect=False)
        bob = await connect("bob")
        await bob.next_event(ev.MemberJoined, lambda e: e.user == "carol")
        await alice.session.ref.ask(SendChat("general", "before", 60))
        assert await _texts(bob, 1) == ["before"]

        process.kill()  # -9: no goodbye to Redis
        # Hub A's presence expires; bob hears that carol, who stayed with it, is gone.
        assert (await bob.next_event(ev.MemberLeft, lambda e: e.user == "carol")).user == "carol"
        # Alice goes on from hub B, under the certificate pinned for the cluster.
        await alice.next_event(ev.Connected)
        await alice.session.ref.ask(SendChat("general", "after", 60))
        assert await _texts(bob, 1) == ["after"]  # not "before" again
        assert carol.failure is not None
    finally:
        process.kill()


async def test_a_call_spans_hubs_and_its_signals_reach_the_peer_sealed(nursery, hub, hub_b):
    ann = await log_in(nursery, hub, "ann")
    ben = await log_in(nursery, hub_b, "ben")
    await ann.send_message(StartCall(channel="general").encode())
    await next_of(ann, CallMembers, matching=lambda f: f.users == ("ann",))
    await ben.send_message(StartCall(channel="general").encode())
    # Both hubs hold one roster: ben joins ann's call (at once, or as soon as her hub's news
    # reaches his: joins on two hubs at the same moment race), and ann is told on her hub.
    both = {"ann", "ben"}
    await next_of(ben, CallMembers, matching=lambda frame: set(frame.users) == both)
    await next_of(ann, CallMembers, matching=lambda frame: set(frame.users) == both)
    # An offer to a member of the other hub reaches it, naming who sent it.
    await ann.send_message(Offer(channel="general", peer="ben", blob=b"sealed sdp").encode())
    offer = await next_of(ben, Offer)
    assert (offer.peer, offer.blob) == ("ann", b"sealed sdp")
    await ben.send_message(HangUp(channel="general").encode())
    assert (await next_of(ann, CallMembers)).users == ("ann",)


async def test_one_identity_on_two_hubs_is_in_a_call_once_and_its_signals_go_to_that_one(
    nursery, hub, hub_b
):
    phone = await log_in(nursery, hub, "gil")
    desk = await log_in(nursery, hub_b, "gil")
    ben = await log_in(nursery, hub_b, "ben")
    await phone.send_message(StartCall(channel="general").encode())
    await next_of(phone, CallMembers, matching=lambda f: f.users == ("gil",))
    await ben.send_message(StartCall(channel="general").encode())
    await next_of(ben, CallMembers, matching=lambda frame: set(frame.users) == {"gil", "ben"})
    # Hub B knows gil sits in the call from hub A: his desk there may not join it too.
    await desk.send_message(StartCall(channel="general").encode())
    refused = await next_of(desk, Error)
    assert refused.code == ErrorCode.CALL_ELSEWHERE
    # Ben's offer to gil goes to the phone, the one in the call; a chat message to gil
    # reaches both his devices.
    await ben.send_message(Offer(channel="general", peer="gil", blob=b"sealed sdp").encode())
    offer = await next_of(phone, Offer)
    assert (offer.peer, offer.blob) == ("ben", b"sealed sdp")
    await ben.send_message(Message(channel="general", blob=b"to gil", to="gil").encode())
    for device in (desk, phone):
        got = await next_of(device, (Message, Offer))
        assert isinstance(got, Message) and got.blob == b"to gil"  # no offer before it
    # The phone hangs up: now the desk may join.
    await phone.send_message(HangUp(channel="general").encode())
    await next_of(ben, CallMembers, matching=lambda frame: frame.users == ("ben",))
    await desk.send_message(StartCall(channel="general").encode())
    joined = await next_of(desk, CallMembers)
    assert set(joined.users) == {"gil", "ben"}


async def test_metrics_and_the_check_report_the_cluster(connect, hub_config, nursery, capsys):
    config = replace(hub_config, metrics_port=0)
    hub_a = await nursery.start(lambda task_status: serve_hub(config, task_status=task_status))
    hub_b = await nursery.start(
        lambda task_status: serve_hub(
            replace(config, data_dir=config.data_dir.parent / "hub-b"), task_status=task_status
        )
    )
    alice = await connect("alice", port=hub_a.port)
    bob = await connect("bob", port=hub_b.port)
    await alice.next_event(ev.MemberJoined, lambda e: e.user == "bob")
    await alice.session.ref.ask(SendChat("general", "counted", 60))
    assert await _texts(bob, 1) == ["counted"]
    refused = await connect("eve", password="guess", port=hub_a.port, wait=False)
    await refused.done.wait()

    a, b = await _metrics(hub_a.metrics_port), await _metrics(hub_b.metrics_port)
    assert a["gossip_logins_total"] == 1 and b["gossip_logins_total"] == 1
    assert a['gossip_refusals_total{reason="auth"}'] == 1
    assert a["gossip_deliveries_total"] >= 1  # to bob, through Redis
    assert b["gossip_deliveries_total"] >= 1  # to bob, on his hub
    assert a["gossip_redis_round_trip_seconds_count"] > 0

    assert await check_command(config) == 0
    report = capsys.readouterr().out
    assert "reachable" in report
    assert f"127.0.0.1:{hub_a.port}: reachable" in report
    assert f"127.0.0.1:{hub_b.port}: reachable" in report


async def _metrics(port: int) -> dict[str, float]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        body = b""
        while chunk := await stream.receive_some():
            body += chunk
    figures = {}
    for line in body.decode().split("\r\n\r\n", 1)[1].splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            figures[name] = float(value)
    return figures


async def test_a_private_channel_spans_hubs_its_log_kept_once_for_all(
    connect, hub, hub_b, redis_server
):
    alice = await connect("alice")
    bob = await connect("bob", port=hub_b.port)
    carol = await connect("carol", port=hub_b.port)
    phone = await connect(
        "alice", profile=Profile.open("alice", alice.profile.directory), port=hub_b.port
    )
    await alice.next_event(ev.MemberJoined, lambda e: e.user == "bob")
    await alice.session.ref.ask(CreatePrivateChannel("council"))
    # The owner on hub A adds a member of hub B: the entry's place is taken in Redis, and
    # hub B stores it too and hands bob the whole log.
    await alice.session.ref.ask(AddToChannel("council", "bob"))
    changed = await bob.next_event(ev.RosterChanged, lambda e: e.channel == "council")
    assert changed.member and {m.user for m in changed.members} == {"alice", "bob"}
    await alice.session.ref.ask(SendChat("council", "between hubs", 60))
    got = (await bob.next_event(ev.MessageReceived)).message
    assert (got.channel, got.text, got.verified) == ("council", "between hubs", True)
    # Alice's phone on hub B sees what she wrote from hub A, as her devices on one hub do.
    mine = (
        await phone.next_event(ev.MessageReceived, lambda e: e.message.sender == "alice")
    ).message
    assert (mine.channel, mine.text, mine.verified) == ("council", "between hubs", True)
    # Another channel of that name cannot be made on the other hub: the log is one.
    with pytest.raises(CommandRefused, match="exists|moved on"):
        await bob.session.ref.ask(CreatePrivateChannel("council"))

    # Redis loses everything; the hubs write the log back from their copies, and it goes on.
    redis_server.kill()
    assert hub.cluster is not None and hub_b.cluster is not None
    with trio.fail_after(20):
        await hub.cluster.wait_state(up=False)
        await hub_b.cluster.wait_state(up=False)
    await alice.next_event(ev.MemberLeft, lambda e: e.user == "carol")
    await redis_server.start()
    with trio.fail_after(20):
        await hub.cluster.wait_state(up=True)
        await hub_b.cluster.wait_state(up=True)
    await alice.next_event(ev.MemberJoined, lambda e: e.user == "carol")
    await alice.session.ref.ask(AddToChannel("council", "carol"))
    changed = await carol.next_event(ev.RosterChanged, lambda e: e.channel == "council")
    assert changed.member and {m.user for m in changed.members} == {"alice", "bob", "carol"}


async def test_one_identity_on_two_hubs_is_one_member_to_the_others(connect, hub, hub_b, hub_c):
    alice = await connect("alice", port=hub_c.port)
    listener = await connect("bob")  # bob's desk, on hub A
    carol = await connect("carol", port=hub_b.port)
    # Bob's phone, the same profile, signs in on hub B: both stay, and alice sees bob once.
    sender = await connect(
        "bob", profile=Profile.open("bob", listener.profile.directory), port=hub_b.port
    )
    await sender.session.ref.ask(SendChat("general", "from my phone", 60))
    seen = await _events_until_text(alice, "from my phone")
    assert [e.user for e in seen if isinstance(e, ev.MemberJoined)].count("bob") == 1
    # What bob sent on hub B shows on his desk on hub A, verified as his, with no "bob
    # joined" for his own phone and no "signed in elsewhere".
    mine = [
        e
        for e in await _events_until_text(listener, "from my phone")
        if isinstance(e, ev.MessageReceived)
    ][-1].message
    assert (mine.sender, mine.verified) == ("bob", True)
    # And the other way round; alice got "from my phone" once (the next is the next one).
    await listener.session.ref.ask(SendChat("general", "from my desk", 60))
    assert await _texts(sender, 1) == ["from my desk"]
    assert await _texts(alice, 1) == ["from my desk"]
    # A third device, on hub C. Once its hello reached the desk (after its joining, on the
    # same way), the desk has heard of it and what it writes next opens on all three.
    tablet = await connect(
        "bob", profile=Profile.open("bob", listener.profile.directory), port=hub_c.port
    )
    await tablet.session.ref.ask(SendChat("general", "tablet here", 60))
    assert await _texts(listener, 1) == ["tablet here"]
    await listener.session.ref.ask(SendChat("general", "to every device", 60))
    got = (await tablet.next_event(ev.MessageReceived, lambda e: e.message.sender == "bob")).message
    assert (got.text, got.verified) == ("to every device", True)
    assert await _texts(alice, 2) == ["tablet here", "to every device"]
    tablet.stop()
    await tablet.done.wait()

    # The phone goes: the desk stays, and alice is told nothing (carol's message on hub B
    # comes after the phone's leaving, so alice's hub has heard of it by then).
    sender.stop()
    await sender.done.wait()
    await carol.session.ref.ask(SendChat("general", "phone gone", 60))
    seen = await _events_until_text(alice, "phone gone")
    assert not [e for e in seen if isinstance(e, (ev.MemberJoined, ev.MemberLeft))]
    # The desk goes too: now bob left, once.
    assert listener.failure is None and not listener.done.is_set()
    listener.stop()
    assert (await alice.next_event(ev.MemberLeft)).user == "bob"
    await carol.session.ref.ask(SendChat("general", "all gone", 60))
    seen = await _events_until_text(alice, "all gone")
    assert not [e for e in seen if isinstance(e, (ev.MemberJoined, ev.MemberLeft))]


async def _events_until_text(client, text: str) -> list[object]:
    """Every event up to and with the message `text`."""
    seen: list[object] = []
    while True:
        seen.append(event := await client.next_event(object))
        if isinstance(event, ev.MessageReceived) and event.message.text == text:
            return seen


async def test_a_member_chats_on_while_their_hub_asks_another_for_a_file(
    connect, hub, hub_b, tmp_path, monkeypatch
):
    """Hub B asks hub A for the chunks bob wants; A never answers (a slow or stalled holder):
    what bob writes meanwhile still goes out, his own frames are not held behind the ask."""
    alice = await connect("alice")
    bob = await connect("bob", port=hub_b.port)
    await alice.next_event(ev.MemberJoined, lambda e: e.user == "bob")
    source = tmp_path / "notes.bin"
    source.write_bytes(os.urandom(100_000))
    await send_file(alice.session.ref, source, channel="general", ttl=600)
    got = (await bob.next_event(ev.MessageReceived)).message
    asked = trio.Event()
    assert hub.cluster is not None
    monkeypatch.setattr(hub.cluster, "_answer_file", lambda request: asked.set())
    monkeypatch.setattr(cluster_link, "_FILE_FETCH_TIMEOUT", 3600.0)  # B waits, not gives up
    async with trio.open_nursery() as nursery:
        nursery.start_soon(save_file, bob.session.ref, got, tmp_path / "inbox")
        await asked.wait()  # hub B waits for hub A's chunks now
        await bob.session.ref.ask(SendChat("general", "still here", 60))
        with trio.fail_after(30):  # a guard: without the fix it would wait for ever
            await alice.next_event(ev.MessageReceived, lambda e: e.message.text == "still here")
        nursery.cancel_scope.cancel()


async def test_a_file_sent_through_one_hub_is_saved_through_another(
    connect, hub, hub_b, redis_server, tmp_path
):
    """The file stays on hub A; hub B fetches its sealed chunks from A for bob, after the
    same read check as A's. Once A is gone, B refuses clearly instead of leaving bob
    waiting."""
    alice = await connect("alice")
    bob = await connect("bob", port=hub_b.port)
    await alice.next_event(ev.MemberJoined, lambda e: e.user == "bob")
    data = os.urandom(300 * 1024 + 17)  # five chunks, the last a short one
    source = tmp_path / "notes.bin"
    source.write_bytes(data)
    await send_file(alice.session.ref, source, channel="general", ttl=600)
    got = (await bob.next_event(ev.MessageReceived)).message
    assert got.file is not None
    assert not list((tmp_path / "hub-b" / "files").glob("*.blob"))  # not copied to hub B
    saved = await save_file(bob.session.ref, got, tmp_path / "inbox")
    assert saved.sha256 == hashlib.sha256(data).hexdigest()
    assert saved.path.read_bytes() == data

    # Redis goes, and with it every record: bob is told the cluster is down; once it is
    # back, hub A writes again where its files live, and bob saves the file again.
    redis_server.kill()
    assert hub_b.cluster is not None
    await bob.next_event(ev.MemberLeft, lambda e: e.user == "alice")  # B is cut off
    with pytest.raises(FileTransferFailed, match="cluster_down"):
        await save_file(bob.session.ref, got, tmp_path / "down")
    await redis_server.start()
    with trio.fail_after(20):
        await hub_b.cluster.wait_state(up=True)
    # Hub A rewrote its records before announcing alice again.
    await bob.next_event(ev.MemberJoined, lambda e: e.user == "alice")
    again = await save_file(bob.session.ref, got, tmp_path / "after")
    assert again.sha256 == saved.sha256

    # A file of a private channel bob is not in: hub B refuses him by its own copy of the
    # roster, without asking hub A for anything.
    await alice.session.ref.ask(CreatePrivateChannel("council"))
    secret = await send_file(alice.session.ref, source, channel="council", ttl=600)
    with pytest.raises(FileTransferFailed, match="for you"):
        await save_file(bob.session.ref, secret, tmp_path / "secret")

    # The record now names a hub that is gone: bob is refused at once, saying so.
    record = file_key(got.file.blob)
    async with coredis.Redis.from_url(hub_b.cluster.url, decode_responses=False) as client:
        held = json.loads(await client.get(record))
        await client.set(record, json.dumps({**held, "hub": "hgone"}).encode(), px=60_000)
    with pytest.raises(FileTransferFailed, match="gone"):
        await save_file(bob.session.ref, got, tmp_path / "again")
