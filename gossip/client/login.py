"""Logging in over an open hub link: greeting, SPAKE2 with key confirmation both ways, and
the proof that we hold the key we present. The ClientHandshake machine decides every step;
this module does the cryptography and the I/O it asks for."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import trio

from gossip.crypto import CryptoError, Identity, PakeClient, prove_possession
from gossip.fsm import ClientHandshake, MachineDriver, ProtocolViolation, Step
from gossip.wire import (
    PROTOCOL_VERSION,
    Command,
    Error,
    ErrorCode,
    Greeting,
    HubHello,
    LoginProof,
    Queued,
    Welcome,
)

from .errors import ConnectionLost, LoginFailed
from .transport import HubLink

# How long a login may take in all, however often a hub in a storm says we are still in
# line: past a hub's own bound (Limits.login_queue_wait, 120 s) and the login after it. Words
# restart the timer for the next step; none extends this.
LOGIN_QUEUE_LIMIT = 180.0

# Told of our place in the hub's line (1: next) and its expected wait in seconds (the hub's
# word, shown, never trusted for a timer).
QueueWatcher = Callable[[int, float], None]


async def log_in(link: HubLink, identity: Identity, password: str, *, timeout: float,
                 queue_limit: float = LOGIN_QUEUE_LIMIT,
                 on_queued: QueueWatcher | None = None) -> str:
    """Log in as `identity`; return the hub's name. Each step has `timeout` seconds; a hub
    in a login storm that says we are in its line (a Queued word) restarts that timer, up to
    `queue_limit` seconds for the whole login. Raises LoginFailed (refused, impostor, too
    slow) or ConnectionLost (the link broke, the hub broke the protocol, or it is too busy
    for now: that one may be tried again, or another hub of the cluster)."""
    login = MachineDriver(ClientHandshake)
    pake: PakeClient | None = None
    hub_name = ""
    started = trio.current_time()
    words = 0
    with trio.CancelScope(deadline=started + min(timeout, queue_limit)) as timer:
        try:
            await _carry_out(link, login.step("connected", {Command.GREETING: lambda: Greeting(
                version=PROTOCOL_VERSION, user=identity.user,
                public_key=identity.public.to_bytes())}))
            while not login.finished:
                frame = await link.receive()
                if isinstance(frame, Queued):
                    step = login.step("queued")
                    words += 1
                    timer.deadline = min(trio.current_time() + timeout, started + queue_limit)
                    if on_queued is not None:
                        on_queued(frame.place, _shown_wait(frame.wait, queue_limit))
                elif isinstance(frame, HubHello):
                    hub_name = frame.hub
                    pake = PakeClient(password, identity.user, identity.fingerprint,
                                      link.fingerprint, PROTOCOL_VERSION)
                    step = login.step(
                        "hub_hello", {Command.LOGIN_PROOF: partial(_proof, pake, frame,
                                                                   identity)},
                        supported=frame.version == PROTOCOL_VERSION)
                elif isinstance(frame, Welcome) and pake is not None:
                    step = login.step("welcome", valid=_confirms(pake, frame.confirm))
                elif isinstance(frame, Error):
                    login.step("error")
                    if frame.code in _TRY_AGAIN:  # that hub, for now: try again
                        raise ConnectionLost(_refusal(frame))
                    raise LoginFailed(frame.code, _refusal(frame))
                else:
                    step = login.step(frame.command.readable)
                await _carry_out(link, step)
        except CryptoError as exc:  # the hub's PAKE message was not a valid point
            raise LoginFailed(ErrorCode.AUTH,
                              f"the hub's login message was invalid: {exc}") from None
        except ProtocolViolation as exc:
            raise ConnectionLost(f"the hub broke the login protocol: {exc}") from None
    if timer.cancelled_caught:
        login.step("timeout")
        waited = trio.current_time() - started
        if words and waited >= queue_limit:
            raise LoginFailed(ErrorCode.TIMEOUT, (
                f"the hub kept us in its login queue for {waited:.0f} s ({words} times it "
                f"said to wait); giving up on it"))
        raise LoginFailed(ErrorCode.TIMEOUT, "the hub did not complete the login in time")
    return hub_name


def _shown_wait(wait: float, limit: float) -> float:
    """The hub's estimate, within what we would ever wait (a lying hub's is anything)."""
    return min(max(wait, 0.0), limit)


# Refusals that say "not now" rather than "no": the session tries again after its pause.
_TRY_AGAIN = frozenset({ErrorCode.CLUSTER_DOWN, ErrorCode.BUSY})


def _proof(pake: PakeClient, hello: HubHello, identity: Identity) -> LoginProof:
    confirm = pake.finish(hello.pake)
    return LoginProof(pake=pake.message, confirm=confirm,
                      possession=prove_possession(pake.transcript_digest, identity))


async def _carry_out(link: HubLink, step: Step) -> None:
    for frame in step.frames:
        await link.send(frame)
    if step.close is not None:
        raise LoginFailed(step.close.code, step.close.reason)


def _confirms(pake: PakeClient, confirm: bytes) -> bool:
    try:
        pake.verify_hub(confirm)
    except CryptoError:
        return False
    return True


def _refusal(frame: Error) -> str:
    if frame.code == ErrorCode.AUTH:
        return "login refused: wrong password (or the hub is not the one you pinned)"
    return f"login refused by the hub ({frame.code}): {frame.reason}"
