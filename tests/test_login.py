"""Login: the password never crosses the wire in reusable form, and the hub's certificate is
pinned like SSH's known_hosts."""

from __future__ import annotations

import ssl

import pytest
import trio

from gossip.client.session import LoginFailed
from gossip.client.transport import HubUnreachable
from gossip.crypto import HubKeyChanged, load_or_create_hub_certificate

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

    first = await hub_time_until_refused()
    second = await hub_time_until_refused()  # a new connection, so a new source port
    assert first == pytest.approx(0.5) and second == pytest.approx(1.0)
