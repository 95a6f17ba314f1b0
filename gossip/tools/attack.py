"""`python -m gossip.tools.attack`: a battery of hostile clients against a running hub, then a
check that two ordinary users still chat through it. For operators and for our own tests.

Each attack says what a sound hub must answer (an error frame with a code, or a closed
connection) and whether it did. Without `--password` only the unauthenticated attacks run;
with it, a member turned hostile also floods, forges, probes and squats names. Exit status 0
when every attack was answered as expected and the two users then chatted, 1 otherwise.

The hub penalises the address that attacks (failed logins, logins under way), as it should;
give the attackers an address of their own (`--attacker-address`, e.g. 127.0.0.2 against a
hub on loopback) so that the final check's ordinary users do not queue behind them.

    python -m gossip.tools.attack --host 127.0.0.1 --port 1720 --password secret \
        --attacker-address 127.0.0.2
"""

from __future__ import annotations

import argparse
import itertools
import os
import ssl
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_client_stream

from gossip.actors.actor import run_actor
from gossip.client import events as ev
from gossip.client.commands import Leave, SendChat
from gossip.client.profile import Profile
from gossip.client.session import Session, SessionConfig
from gossip.crypto import (
    Identity,
    PakeClient,
    PublicKey,
    certificate_fingerprint,
    client_ssl_context,
    prove_possession,
)
from gossip.crypto._pgpy import PGPUID, constants
from gossip.wire import (
    DEFAULT_PORT,
    PROTOCOL_VERSION,
    EndOfKeys,
    Error,
    Frame,
    Greeting,
    HubHello,
    KeyRequest,
    LoginProof,
    Message,
    Offer,
    Welcome,
    decode_frame,
)

# How long a hub may take to answer one attack; the login throttle (8 s at most) included.
ANSWER_SECONDS = 20.0
RANDOM_BYTES = 4096


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    password: str | None
    tls: bool = True
    source: str | None = None  # the attackers' own address (None: whatever the OS picks)


@dataclass(frozen=True)
class Verdict:
    attack: str
    expected: str
    observed: str
    ok: bool

    def __str__(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.attack}: expected {self.expected}; " \
               f"got {self.observed}"


class _Closed(Exception):
    """The hub closed the connection (with no error frame we could read)."""


# -- raw connections -----------------------------------------------------------------------
async def _open_stream(
        target: Target) -> tuple[trio.SocketStream | trio.SSLStream[trio.SocketStream], str]:
    stream = await trio.open_tcp_stream(target.host, target.port, local_address=target.source)
    if not target.tls:
        return stream, ""
    context = client_ssl_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the attacker does not care who the hub is
    tls = trio.SSLStream(stream, context, server_hostname=target.host)
    await tls.do_handshake()
    return tls, certificate_fingerprint(tls.getpeercert(binary_form=True))


@asynccontextmanager
async def _websocket(target: Target) -> AsyncIterator[tuple[WebSocketConnection, str]]:
    stream, fingerprint = await _open_stream(target)
    async with trio.open_nursery() as nursery:
        ws = await wrap_client_stream(nursery, stream, target.host, "/gossip",
                                      message_queue_size=64, max_message_size=2**22)
        try:
            yield ws, fingerprint
        finally:
            with trio.move_on_after(2) as scope:
                scope.shield = True
                await ws.aclose()
            nursery.cancel_scope.cancel()


async def _next_frame(ws: WebSocketConnection) -> Frame:
    try:
        data = await ws.get_message()
    except ConnectionClosed:
        raise _Closed() from None
    if isinstance(data, str):
        raise _Closed()
    return decode_frame(data)


async def _refusal(ws: WebSocketConnection) -> str:
    """The code of the next error frame, skipping other frames; "closed" if none came."""
    try:
        while True:
            frame = await _next_frame(ws)
            if isinstance(frame, Error):
                return frame.code
    except _Closed:
        return "closed"


async def log_in_raw(ws: WebSocketConnection, hub_fingerprint: str, user: str,
                     public: PublicKey, signer: Identity, password: str) -> Frame:
    """The login by hand, frame by frame, as any client could do it: greet with `public`,
    answer the PAKE with `password`, sign the possession proof with `signer` (someone else's
    key, to attack). Returns the hub's answer to the proof: an Error, or a Welcome whose
    confirmation was checked (AuthenticationFailed if the hub did not prove the password).
    `hub_fingerprint` is the certificate seen ("" over plain ws)."""
    await ws.send_message(Greeting(version=PROTOCOL_VERSION, user=user,
                                   public_key=public.to_bytes()).encode())
    hello = await _next_frame(ws)
    if not isinstance(hello, HubHello):
        return hello
    pake = PakeClient(password, user, public.fingerprint, hub_fingerprint, PROTOCOL_VERSION)
    confirm = pake.finish(hello.pake)
    proof = prove_possession(pake.transcript_digest, signer)
    await ws.send_message(LoginProof(pake=pake.message, confirm=confirm,
                                     possession=proof).encode())
    answer = await _next_frame(ws)
    if isinstance(answer, Welcome):
        pake.verify_hub(answer.confirm)
    return answer


async def _log_in(ws: WebSocketConnection, fingerprint: str, target: Target, user: str,
                  identity: Identity, *, signer: Identity | None = None,
                  password: str | None = None) -> Frame:
    return await log_in_raw(ws, fingerprint, user, identity.public, signer or identity,
                            password if password is not None else target.password or "")


def _outcome(frame: Frame) -> str:
    return frame.code if isinstance(frame, Error) else frame.command.readable


# -- the attacks ---------------------------------------------------------------------------
Attack = Callable[[Target], Awaitable[Verdict]]


async def garbage_before_tls(target: Target) -> Verdict:
    stream = await trio.open_tcp_stream(target.host, target.port, local_address=target.source)
    observed = "still open"
    with trio.move_on_after(ANSWER_SECONDS):
        try:
            await stream.send_all(os.urandom(RANDOM_BYTES))
            while await stream.receive_some(65536):
                pass
            observed = "closed"
        except (trio.BrokenResourceError, OSError):
            observed = "closed"
    await trio.aclose_forcefully(stream)
    return Verdict("random bytes instead of TLS", "closed", observed, observed == "closed")


async def garbage_instead_of_websocket(target: Target) -> Verdict:
    stream, _ = await _open_stream(target)
    observed = "still open"
    with trio.move_on_after(ANSWER_SECONDS):
        try:
            await stream.send_all(b"GET / HTTP/1.1\r\n" + os.urandom(RANDOM_BYTES))
            while await stream.receive_some(65536):
                pass
            observed = "closed"
        except (trio.BrokenResourceError, OSError, ssl.SSLError):
            observed = "closed"
    await trio.aclose_forcefully(stream)
    return Verdict("garbage instead of a WebSocket upgrade", "closed", observed,
                   observed == "closed")


async def _one_frame_attack(target: Target, name: str, payload: bytes | str,
                            expected: set[str]) -> Verdict:
    async with _websocket(target) as (ws, _):
        try:
            await ws.send_message(payload)
        except ConnectionClosed:
            pass  # closed while we were still sending: the refusal is in the close
        with trio.move_on_after(ANSWER_SECONDS):
            observed = await _refusal(ws)
            return Verdict(name, " or ".join(sorted(expected)), observed, observed in expected)
    return Verdict(name, " or ".join(sorted(expected)), "no answer", False)


async def undecodable_frame(target: Target) -> Verdict:
    return await _one_frame_attack(target, "an undecodable binary frame", os.urandom(64),
                                   {"malformed", "unknown_command", "closed"})


async def text_frame(target: Target) -> Verdict:
    return await _one_frame_attack(target, "a text frame", "hello?", {"malformed", "closed"})


async def oversized_frame(target: Target) -> Verdict:
    return await _one_frame_attack(target, "a 3 MiB frame", bytes(3 * 2**20),
                                   {"too_large", "closed"})


async def unsupported_version(target: Target) -> Verdict:
    identity = Identity.generate("mallory")
    payload = Greeting(version=PROTOCOL_VERSION + 99, user="mallory",
                       public_key=identity.public.to_bytes()).encode()
    return await _one_frame_attack(target, "a greeting in a future protocol version", payload,
                                   {"version"})


async def unusable_key(target: Target) -> Verdict:
    payload = Greeting(version=PROTOCOL_VERSION, user="mallory", public_key=b"not a key").encode()
    return await _one_frame_attack(target, "a greeting with an unusable key", payload,
                                   {"bad_key"})


async def wrong_password(target: Target) -> Verdict:
    identity = Identity.generate("mallory")
    async with _websocket(target) as (ws, fingerprint):
        with trio.move_on_after(ANSWER_SECONDS):
            try:
                answer = _outcome(await _log_in(ws, fingerprint, target, "mallory", identity,
                                                password="password123"))
            except _Closed:
                answer = "closed"
            return Verdict("a wrong password", "auth", answer, answer == "auth")
    return Verdict("a wrong password", "auth", "no answer", False)


async def stolen_name(target: Target) -> Verdict:
    """The right password, a key, but the possession proof signed by another key: what a
    member would do to log in under someone else's (public) key."""
    victim, thief = Identity.generate("victim"), Identity.generate("thief")
    async with _websocket(target) as (ws, fingerprint):
        with trio.move_on_after(ANSWER_SECONDS):
            try:
                answer = _outcome(await _log_in(ws, fingerprint, target, "victim", victim,
                                                signer=thief))
            except _Closed:
                answer = "closed"
            return Verdict("a login under a key the client does not hold", "auth", answer,
                           answer == "auth")
    return Verdict("a login under a key the client does not hold", "auth", "no answer", False)


async def silent_crowd(target: Target, count: int = 16) -> Verdict:
    """Connections that never speak, held open while an ordinary user logs in (from another
    address if the attackers have one: from theirs, the login would rightly queue)."""
    count = count if target.source else 1
    streams = []
    try:
        for _ in range(count):
            streams.append(await trio.open_tcp_stream(target.host, target.port,
                                                      local_address=target.source))
        identity = Identity.generate("crowdtest")
        with trio.move_on_after(ANSWER_SECONDS):
            async with _websocket(replace(target, source=None)) as (ws, fingerprint):
                try:
                    answer = _outcome(await _log_in(ws, fingerprint, target, "crowdtest",
                                                    identity))
                except _Closed:
                    answer = "closed"
            expected = "welcome" if target.password else "auth"
            return Verdict(f"{count} silent connections, then a login", expected, answer,
                           answer == expected)
        return Verdict(f"{count} silent connections, then a login", "an answer", "none", False)
    finally:
        for stream in streams:
            await trio.aclose_forcefully(stream)


def bloated_public_key(user: str, max_bytes: int = 16 * 1024) -> bytes:
    """A real, correctly self-signed key with as many user ids as fit in `max_bytes` (about a
    hundred): what used to cost a hub ~1.2 s to validate, on its only thread."""
    key = Identity.generate(user).pgp_key
    for number in itertools.count(1):
        uid = PGPUID.new(f"{user}-{number}")
        key.add_uid(uid, usage={constants.KeyFlags.Sign}, hashes=[constants.HashAlgorithm.SHA256])
        if len(bytes(key.pubkey)) > max_bytes:
            key.del_uid(f"{user}-{number}")
            return bytes(key.pubkey)
    raise AssertionError("unreachable")


async def bloated_key_before_password(target: Target) -> Verdict:
    """A greeting whose key has ~100 self-signed user ids, from someone without the password:
    refused from its packet headers, before any challenge (no PAKE, no signature checked)."""
    name = "a bloated key (about 100 user ids) before the password"
    payload = Greeting(version=PROTOCOL_VERSION, user="mallory",
                       public_key=bloated_public_key("mallory")).encode()
    async with _websocket(target) as (ws, _):
        await ws.send_message(payload)
        with trio.move_on_after(ANSWER_SECONDS):
            try:
                first = _outcome(await _next_frame(ws))
            except _Closed:
                first = "closed"
            return Verdict(name, "bad_key before any challenge", first, first == "bad_key")
    return Verdict(name, "bad_key before any challenge", "no answer", False)


async def parked_frames(target: Target, connections: int = 4, frames: int = 16) -> Verdict:
    """Wrong passwords, each followed at once by a stream of large frames, as if to park them
    in the hub's memory while it waits to refuse: refused at once, then closed."""
    name = f"{connections} wrong passwords, each followed by {frames} frames of 16 KiB"
    outcomes: list[str] = []

    async def one() -> None:
        identity = Identity.generate("mallory")
        async with _websocket(target) as (ws, fingerprint):
            outcome = "no answer"
            with trio.move_on_after(ANSWER_SECONDS):
                try:
                    await ws.send_message(Greeting(version=PROTOCOL_VERSION, user="mallory",
                                                   public_key=identity.public.to_bytes()).encode())
                    hello = await _next_frame(ws)
                    if not isinstance(hello, HubHello):
                        outcomes.append(_outcome(hello))  # refused before the challenge
                        return
                    pake = PakeClient("password123", "mallory", identity.fingerprint,
                                      fingerprint, PROTOCOL_VERSION)
                    confirm = pake.finish(hello.pake)
                    await ws.send_message(LoginProof(pake=pake.message, confirm=confirm,
                                                     possession=b"").encode())
                    for _ in range(frames):
                        await ws.send_message(bytes(16 * 1024))
                except (_Closed, ConnectionClosed):
                    pass
                outcome = await _refusal(ws)
                if outcome == "auth" and await _refusal(ws) == "closed":
                    outcome = "auth, closed"
            outcomes.append(outcome)

    async with trio.open_nursery() as nursery:
        for _ in range(connections):
            nursery.start_soon(one)
    # Every connection must report (an empty list would pass vacuously); a refusal before
    # the challenge (a spent failure budget: throttled) is a refusal too.
    ok = len(outcomes) == connections and all(
        outcome in ("auth, closed", "closed", "throttled") for outcome in outcomes)
    return Verdict(name, "each refused and closed", ", ".join(sorted(set(outcomes))), ok)


async def parallel_guessing(target: Target, attempts: int = 16, seconds: float = 10.0
                            ) -> Verdict:
    """Many wrong passwords at once from one address: the hub works on two at a time and makes
    the address wait ever longer between them, so few are answered in `seconds`."""
    name = f"{attempts} password guesses at once from one address"
    expected = f"at most {attempts // 2} answered within {seconds:g} s"
    answered = 0

    async def guess() -> None:
        nonlocal answered
        identity = Identity.generate("mallory")
        async with _websocket(target) as (ws, fingerprint):
            try:
                answer = await _log_in(ws, fingerprint, target, "mallory", identity,
                                       password="password123")
            except _Closed:
                return
            if isinstance(answer, Error):
                answered += 1

    with trio.move_on_after(seconds):
        async with trio.open_nursery() as nursery:
            for _ in range(attempts):
                nursery.start_soon(guess)
    return Verdict(name, expected, f"{answered} answered", answered <= attempts // 2)


async def name_squatting(target: Target) -> Verdict:
    """A member registers a name and leaves; someone with another key (and the password)
    takes the name while its owner is offline."""
    user = f"owner-{os.urandom(3).hex()}"
    name, expected = "another key under an offline member's name", "user_taken"
    async with _websocket(target) as (ws, fingerprint):
        first = await _log_in(ws, fingerprint, target, user, Identity.generate(user))
        if not isinstance(first, Welcome):
            return Verdict(name, expected, f"the owner was refused: {_outcome(first)}", False)
    async with _websocket(target) as (ws, fingerprint):
        with trio.move_on_after(ANSWER_SECONDS):
            try:
                answer = _outcome(await _log_in(ws, fingerprint, target, user,
                                                Identity.generate(user)))
            except _Closed:
                answer = "closed"
            return Verdict(name, expected, answer, answer == expected)
    return Verdict(name, expected, "no answer", False)


async def one_key_many_names(target: Target) -> Verdict:
    """One member's key presented under a second name (a sybil that costs nothing)."""
    user = f"sybil-{os.urandom(3).hex()}"
    identity = Identity.generate(user)
    name, expected = "one key under a second name", {"bad_key", "key_taken"}
    async with _websocket(target) as (ws, fingerprint):
        first = await _log_in(ws, fingerprint, target, user, identity)
        if not isinstance(first, Welcome):
            return Verdict(name, "bad_key or key_taken",
                           f"the first name was refused: {_outcome(first)}", False)
    async with _websocket(target) as (ws, fingerprint):
        with trio.move_on_after(ANSWER_SECONDS):
            try:
                answer = _outcome(await _log_in(ws, fingerprint, target, user + "-2", identity))
            except _Closed:
                answer = "closed"
            return Verdict(name, "bad_key or key_taken", answer, answer in expected)
    return Verdict(name, "bad_key or key_taken", "no answer", False)


# Connections one identity may have at once on a hub (its Limits.connections_per_identity is
# 8 by default); the attack gives up past this many.
_IDENTITY_CONNECTIONS_TRIED = 32


async def one_identity_many_connections(target: Target) -> Verdict:
    """One member opens connection after connection under its own key (to multiply its
    budgets, or fill the hub): the hub takes a few and refuses the rest by name."""
    user = f"devices-{os.urandom(3).hex()}"
    identity = Identity.generate(user)
    name, expected = "one identity on ever more connections", "too_many_connections"
    async with AsyncExitStack() as held:
        for count in range(1, _IDENTITY_CONNECTIONS_TRIED + 1):
            ws, fingerprint = await held.enter_async_context(_websocket(target))
            with trio.move_on_after(ANSWER_SECONDS):
                try:
                    answer = _outcome(await _log_in(ws, fingerprint, target, user, identity))
                except _Closed:
                    answer = "closed"
                if answer == "welcome":
                    continue
                return Verdict(name, expected, f"{answer} after {count - 1} connections",
                               answer == expected and count > 1)
            return Verdict(name, expected, "no answer", False)
    return Verdict(name, expected, f"{_IDENTITY_CONNECTIONS_TRIED} connections taken", False)


@asynccontextmanager
async def _member(target: Target, role: str) -> AsyncIterator[WebSocketConnection]:
    """A logged-in, key-synced raw member (needs the password), under a fresh name."""
    user = f"{role}-{os.urandom(3).hex()}"  # never a real member's name
    async with _websocket(target) as (ws, fingerprint):
        answer = await _log_in(ws, fingerprint, target, user, Identity.generate(user))
        if not isinstance(answer, Welcome):
            raise RuntimeError(f"could not log in as {user}: {_outcome(answer)}")
        await ws.send_message(KeyRequest().encode())
        while not isinstance(await _next_frame(ws), EndOfKeys):
            pass
        yield ws


async def _expect_refusal(target: Target, name: str, user: str, payloads: Sequence[bytes],
                          expected: set[str]) -> Verdict:
    async with _member(target, user) as ws:
        for payload in payloads:
            await ws.send_message(payload)
        with trio.move_on_after(ANSWER_SECONDS):
            observed = await _refusal(ws)
            return Verdict(name, " or ".join(sorted(expected)), observed, observed in expected)
    return Verdict(name, " or ".join(sorted(expected)), "no answer", False)


async def forged_sender(target: Target) -> Verdict:
    payload = Message(channel="general", blob=b"x", sender="alice").encode()
    return await _expect_refusal(target, "a message with a forged sender", "forger", [payload],
                                 {"forged"})


async def unknown_channel(target: Target) -> Verdict:
    payload = Message(channel="nowhere-" + os.urandom(4).hex(), blob=b"x").encode()
    return await _expect_refusal(target, "a message to a channel that does not exist",
                                 "wanderer", [payload], {"unknown_channel"})


async def signal_to_a_stranger(target: Target) -> Verdict:
    payload = Offer(channel="general", peer="alice", blob=b"x").encode()
    return await _expect_refusal(target, "a call offer outside any call", "prankster",
                                 [payload], {"protocol", "not_in_call"})


async def second_key_request(target: Target) -> Verdict:
    return await _expect_refusal(target, "a second key request", "repeater",
                                 [KeyRequest().encode()], {"protocol"})


async def flood(target: Target, frames: int = 1000) -> Verdict:
    """Frames as fast as the socket takes them. Each is addressed to no channel, so nothing
    reaches real members; the rate limit must still catch the flood."""
    name, expected = f"{frames} frames at once", {"rate", "slow", "closed"}
    payload = Message(channel="nowhere-" + os.urandom(4).hex(), blob=b"x" * 32).encode()
    async with _member(target, "flooder") as ws:
        for _ in range(frames):
            await ws.send_message(payload)
        with trio.move_on_after(ANSWER_SECONDS):
            observed = "unknown_channel"
            while observed == "unknown_channel":
                observed = await _refusal(ws)
            return Verdict(name, "rate (or slow)", observed, observed in expected)
    return Verdict(name, "rate (or slow)", "no rate refusal", False)


UNAUTHENTICATED: tuple[Attack, ...] = (
    garbage_before_tls, garbage_instead_of_websocket, undecodable_frame, text_frame,
    oversized_frame, unsupported_version, unusable_key, bloated_key_before_password,
    wrong_password, stolen_name, parked_frames, silent_crowd)
AS_A_MEMBER: tuple[Attack, ...] = (
    forged_sender, unknown_channel, signal_to_a_stranger, second_key_request, flood,
    name_squatting, one_key_many_names, one_identity_many_connections)
# Last: the hub rightly makes the guessing address wait (its queued connections are served,
# two at a time, each after the address's penalty), so attacks after it would only measure
# that wait.
FINALLY: tuple[Attack, ...] = (parallel_guessing,)


# -- the check that matters ----------------------------------------------------------------
async def two_users_chat(target: Target, channel: str = "general") -> Verdict:
    """Two ordinary clients log in and one's message reaches the other, verified."""
    name = "two ordinary users chat afterwards"
    if target.password is None:
        return Verdict(name, "a message delivered", "skipped (no password)", True)
    with tempfile.TemporaryDirectory() as scratch:
        sessions = []
        receivers = []
        for user in ("checker-a", "checker-b"):
            profile = Profile.open(user, Path(scratch) / user)
            send, receive = trio.open_memory_channel[ev.SessionEvent](1000)
            config = SessionConfig(target.host, target.port, target.password, tls=target.tls,
                                   reconnect=False)
            sessions.append(Session(profile, config, send))
            receivers.append(receive)
        observed = "nothing arrived"
        with trio.move_on_after(2 * ANSWER_SECONDS):
            async with trio.open_nursery() as nursery:
                async def run(session: Session) -> None:
                    nonlocal observed
                    try:
                        await run_actor(session)
                    except* Exception as failures:  # refused, unreachable: the verdict
                        # (except*: a failure that races the other session's cancellation
                        # comes grouped with a Cancelled, which must go on up.)
                        exc = failures.exceptions[0]
                        observed = f"{type(exc).__name__}: {exc}"
                        nursery.cancel_scope.cancel()

                for session in sessions:
                    nursery.start_soon(run, session)
                for session in sessions:
                    await session.synced.wait()
                await sessions[0].ref.ask(SendChat(channel, "are you there?", 60))
                async for event in receivers[1]:
                    if isinstance(event, ev.MessageReceived):
                        message = event.message
                        observed = (f"{message.text!r} from {message.sender}, "
                                    f"{'verified' if message.verified else 'NOT verified'}")
                        break
                for session in sessions:
                    await session.ref.tell(Leave())
        ok = observed.startswith("'are you there?' from checker-a, verified")
        return Verdict(name, "a verified message", observed, ok)


async def run_battery(target: Target, *, report: Callable[[Verdict], None] = print
                      ) -> list[Verdict]:
    """Every attack in turn (member attacks only with a password), then the chat check."""
    verdicts: list[Verdict] = []
    attacks = UNAUTHENTICATED + (AS_A_MEMBER if target.password else ()) + FINALLY
    for attack in attacks:
        try:
            verdict = await attack(target)
        except Exception as exc:  # a crashed attack is a finding to report, not to die of
            verdict = Verdict(attack.__name__, "an answer", f"{type(exc).__name__}: {exc}",
                              False)
        verdicts.append(verdict)
        report(verdict)
    verdict = await two_users_chat(target)
    verdicts.append(verdict)
    report(verdict)
    return verdicts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gossip.tools.attack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--password", default=os.environ.get("GOSSIP_HUB_PASSWORD"),
                        help="the hub's password: adds the attacks of a hostile member and "
                             "the final chat check (default: $GOSSIP_HUB_PASSWORD)")
    parser.add_argument("--insecure-no-tls", action="store_true",
                        help="the hub serves plain WebSocket (debugging only)")
    parser.add_argument("--attacker-address", metavar="ADDRESS",
                        help="a local address for the attackers, so the hub's penalties on "
                             "them do not slow the final check (e.g. 127.0.0.2 on loopback)")
    args = parser.parse_args(argv)
    target = Target(args.host, args.port, args.password, tls=not args.insecure_no_tls,
                    source=args.attacker_address)
    try:
        verdicts = trio.run(run_battery, target)
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"cannot reach the hub at {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    failed = [verdict for verdict in verdicts if not verdict.ok]
    print(f"{len(verdicts) - len(failed)} of {len(verdicts)} as expected")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
