"""Logging in over an open hub link: greeting, SPAKE2 with key confirmation both ways, and
the proof that we hold the key we present. The ClientHandshake machine decides every step;
this module does the cryptography and the I/O it asks for."""

from __future__ import annotations

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
    Welcome,
)

from .errors import ConnectionLost, LoginFailed
from .transport import HubLink


async def log_in(link: HubLink, identity: Identity, password: str, *, timeout: float) -> str:
    """Log in as `identity`; return the hub's name. Raises LoginFailed (refused, impostor,
    too slow) or ConnectionLost (the link broke, or the hub broke the protocol)."""
    login = MachineDriver(ClientHandshake)
    pake: PakeClient | None = None
    hub_name = ""
    try:
        with trio.fail_after(timeout):
            await _carry_out(link, login.step("connected", {Command.GREETING: lambda: Greeting(
                version=PROTOCOL_VERSION, user=identity.user,
                public_key=identity.public.to_bytes())}))
            while not login.finished:
                frame = await link.receive()
                if isinstance(frame, HubHello):
                    hub_name = frame.hub
                    pake = PakeClient(password, identity.user, identity.fingerprint,
                                      link.fingerprint, PROTOCOL_VERSION)
                    step = login.step(
                        "hub_hello", {Command.LOGIN_PROOF: partial(_proof, pake, frame, identity)},
                        supported=frame.version == PROTOCOL_VERSION)
                elif isinstance(frame, Welcome) and pake is not None:
                    step = login.step("welcome", valid=_confirms(pake, frame.confirm))
                elif isinstance(frame, Error):
                    login.step("error")
                    if frame.code == ErrorCode.CLUSTER_DOWN:  # that hub, for now: try again
                        raise ConnectionLost(_refusal(frame))
                    raise LoginFailed(frame.code, _refusal(frame))
                else:
                    step = login.step(frame.command.readable)
                await _carry_out(link, step)
    except trio.TooSlowError:
        login.step("timeout")
        raise LoginFailed(ErrorCode.TIMEOUT,
                          "the hub did not complete the login in time") from None
    except CryptoError as exc:  # the hub's PAKE message was not a valid point
        raise LoginFailed(ErrorCode.AUTH, f"the hub's login message was invalid: {exc}") from None
    except ProtocolViolation as exc:
        raise ConnectionLost(f"the hub broke the login protocol: {exc}") from None
    return hub_name


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
