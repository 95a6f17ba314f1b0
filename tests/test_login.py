"""Login: the password never crosses the wire in reusable form, and the hub's certificate is
pinned like SSH's known_hosts."""

from __future__ import annotations

import ssl

import pytest
import trio
import trio.testing
from trio_websocket import wrap_client_stream

from gossip.client import events as ev
from gossip.client.commands import SendChat
from gossip.client.errors import HubUnreachable, LoginFailed
from gossip.client.profile import Profile
from gossip.crypto import (
    HubKeyChanged,
    Identity,
    PublicKey,
    certificate_fingerprint,
    client_ssl_context,
    load_or_create_hub_certificate,
)
from gossip.tools.attack import log_in_raw
from gossip.wire import Error, Welcome

from .conftest import PASSWORD
from .helpers import pump


async def test_the_first_connection_pins_the_hub_and_later_ones_match(connect, hub, profiles):
    alice = await connect("alice")
    assert alice.profile.known_hubs.pinned("127.0.0.1", hub.port) == hub.fingerprint
    again = await connect("alice")  # same profile, same hub: no complaint
    assert again.failure is None


async def test_a_wrong_password_is_refused(connect, hub_tap):
    eve = await connect("eve", password="guess", wait=False)
    with trio.fail_after(20):
        await eve.done.wait()
    assert isinstance(eve.failure, LoginFailed) and eve.failure.code == "auth"
    assert b"guess" not in hub_tap.everything() and PASSWORD.encode() not in hub_tap.everything()


async def test_repeated_failures_are_slowed_down(hub):
    from gossip.hub.throttle import LoginThrottle

    throttle = LoginThrottle(base=0.5, cap=8.0)
    waits = [throttle.failed("10.0.0.1") for _ in range(6)]
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert throttle.failed("10.0.0.2") == 0.5  # per address
    throttle.succeeded("10.0.0.1")
    assert throttle.failed("10.0.0.1") == 0.5


async def test_a_hub_with_another_certificate_is_refused(connect, hub, profiles, tmp_path):
    alice = profiles("alice")
    other = load_or_create_hub_certificate(tmp_path / "impostor", "impostor")
    alice.known_hubs.accept("127.0.0.1", hub.port, other.fingerprint)  # pinned earlier
    client = await connect("alice", wait=False)
    with trio.fail_after(20):
        await client.done.wait()
    assert isinstance(client.failure, HubKeyChanged)
    assert hub.fingerprint in str(client.failure)


async def test_a_relaying_fake_hub_cannot_log_in_for_the_user(connect, nursery, hub, tmp_path):
    """A man in the middle with its own certificate (the client has never seen the real
    hub, so it pins the fake) relays every byte to the real hub. The PAKE transcript binds
    the certificate each side saw, so both key confirmations fail."""
    fake = load_or_create_hub_certificate(tmp_path / "fake", "fake")
    server_ctx = fake.server_ssl_context()
    client_ctx = ssl.create_default_context()
    client_ctx.check_hostname, client_ctx.verify_mode = False, ssl.CERT_NONE
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]

    async def relay(stream: trio.SocketStream) -> None:
        victim = trio.SSLStream(stream, server_ctx, server_side=True)
        upstream = await trio.open_ssl_over_tcp_stream("127.0.0.1", hub.port,
                                                       ssl_context=client_ctx)
        async with trio.open_nursery() as pipes:
            pipes.start_soon(pump, victim, upstream)
            pipes.start_soon(pump, upstream, victim)

    nursery.start_soon(trio.serve_listeners, relay, listeners)
    client = await connect("alice", port=port, wait=False)
    with trio.fail_after(20):
        await client.done.wait()
    assert isinstance(client.failure, LoginFailed)
    assert client.failure.code == "auth"
    # The fake never proved the password, so its certificate was not pinned.
    assert client.profile.known_hubs.pinned("127.0.0.1", port) is None


async def test_a_hub_is_pinned_only_after_it_proves_the_password(connect, hub):
    """An impostor on a first connection (one that does not know the password) must not
    get pinned, or the real hub would be refused afterwards as "certificate changed"."""
    failed = await connect("alice", password="not the password", wait=False)
    with trio.fail_after(20):
        await failed.done.wait()
    assert isinstance(failed.failure, LoginFailed)
    assert failed.profile.known_hubs.pinned("127.0.0.1", hub.port) is None
    client = await connect("alice", profile=failed.profile)
    assert client.profile.known_hubs.pinned("127.0.0.1", hub.port) == hub.fingerprint


async def test_an_unreachable_hub_is_one_clear_error(connect):
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    await listeners[0].aclose()  # nothing listens there now
    client = await connect("alice", port=port, wait=False)
    with trio.fail_after(20):
        await client.done.wait()
    assert isinstance(client.failure, HubUnreachable)
    assert f"127.0.0.1:{port}" in str(client.failure)


async def test_plain_websocket_login_works_for_debugging(nursery, hub_config, profiles):
    from dataclasses import replace

    from gossip.actors.actor import run_actor
    from gossip.client import events as ev
    from gossip.client.session import Session, SessionConfig
    from gossip.hub import serve_hub

    hub = await nursery.start(lambda task_status: serve_hub(
        replace(hub_config, tls=False), task_status=task_status))
    send, _receive = trio.open_memory_channel[ev.SessionEvent](100)
    session = Session(profiles("alice"), SessionConfig("127.0.0.1", hub.port, PASSWORD,
                                                       tls=False), send)
    nursery.start_soon(run_actor, session)
    with trio.fail_after(20):
        await session.synced.wait()


async def test_failed_logins_from_one_host_get_slower_whatever_the_port(connect, clock):
    import trio.testing

    async def hub_time_until_refused() -> float:
        """A wrong-password attempt on a new connection; the hub time its refusal took."""
        eve = await connect("eve", password="guess", wait=False)
        waited = 0.0
        while not eve.done.is_set():
            await trio.testing.wait_all_tasks_blocked()
            if eve.done.is_set():
                break
            clock.jump(0.25)
            waited += 0.25
        assert isinstance(eve.failure, LoginFailed)
        return waited

    # Each refusal comes at once; the penalty is waited out before the next exchange from
    # that address starts, on a new connection (so a new source port) too.
    waits = [await hub_time_until_refused() for _ in range(3)]
    assert waits == [pytest.approx(0.0), pytest.approx(0.5), pytest.approx(1.0)]


# -- a member cannot log in as another ---------------------------------------------------------
async def _raw_login(hub, user: str, public_key: bytes, signer) -> Error | Welcome:
    """Log in by hand with the right password, presenting `public_key` but signing the
    possession proof with `signer`; returns the hub's answer to the proof."""
    stream = await trio.open_ssl_over_tcp_stream("127.0.0.1", hub.port,
                                                 ssl_context=client_ssl_context())
    await stream.do_handshake()
    seen = certificate_fingerprint(stream.getpeercert(binary_form=True))
    async with trio.open_nursery() as nursery:
        ws = await wrap_client_stream(nursery, stream, "127.0.0.1", "/gossip")
        answer = await log_in_raw(ws, seen, user, PublicKey.from_bytes(public_key), signer,
                                  PASSWORD)
        await ws.aclose()
        nursery.cancel_scope.cancel()
    assert isinstance(answer, (Error, Welcome))
    return answer


async def test_a_member_with_the_password_cannot_log_in_under_anothers_key(connect, hub):
    alice = await connect("alice")
    bob = await connect("bob")
    mallory = Identity.generate("mallory")
    # Everyone has alice's public key; the password is right; only the private key is not.
    answer = await _raw_login(hub, "alice", alice.profile.identity.public.to_bytes(), mallory)
    assert isinstance(answer, Error) and answer.code == "auth"
    # Alice was not pushed off: she and bob still chat.
    await alice.session.ref.ask(SendChat("general", "still here", 60))
    got = (await bob.next_event(ev.MessageReceived)).message
    assert (got.sender, got.text, got.verified) == ("alice", "still here", True)
    assert alice.failure is None and hub.registry.online("alice")


async def test_the_owner_of_a_key_logs_in_by_hand_too(hub):
    carol = Identity.generate("carol")
    answer = await _raw_login(hub, "carol", carol.public.to_bytes(), carol)
    assert isinstance(answer, Welcome)


async def test_another_key_under_an_online_users_name_is_refused(connect, hub, tmp_path):
    alice = await connect("alice")
    bob = await connect("bob")
    other = Profile.open("alice", tmp_path / "another-alice")  # a new key, same name
    impostor = await connect("alice", profile=other, wait=False)
    with trio.fail_after(20):
        await impostor.done.wait()
    assert isinstance(impostor.failure, LoginFailed)
    assert impostor.failure.code == "user_taken"
    assert "signed in with another key" in str(impostor.failure)
    await alice.session.ref.ask(SendChat("general", "first come", 60))
    got = (await bob.next_event(ev.MessageReceived)).message
    assert (got.sender, got.text) == ("alice", "first come")
    assert alice.failure is None
