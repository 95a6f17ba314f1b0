"""The driver every actor runs its machines with: the machine decides, then only the frames it
asked for are built; the current state is a typed phase, compared by identity.
"""

from __future__ import annotations

import pytest

from gossip.fsm import (
    HubHandshake,
    HubKeySync,
    MachineDriver,
    MissingFrameBuilder,
    PeerLink,
    ProtocolViolation,
)
from gossip.fsm.call import PeerLinkPhase, peer_link_status
from gossip.fsm.handshake import HubHandshakePhase
from gossip.fsm.keysync import HubKeySyncPhase
from gossip.wire import Channels, Command, EndOfKeys, Frame, HubHello, Key


def test_the_phase_is_the_machines_own_enum_member_and_follows_each_step() -> None:
    driver = MachineDriver(HubKeySync)
    assert HubKeySync.Phase is HubKeySyncPhase
    assert driver.phase is HubKeySyncPhase.WAITING
    built: list[Command] = []

    def frames(command: Command, *made: Frame) -> tuple[Frame, ...]:
        built.append(command)
        return made

    step = driver.step("key_request", build={
        Command.KEY: lambda: frames(Command.KEY, Key(user="alice", key=b"k")),
        Command.CHANNELS: lambda: frames(Command.CHANNELS, Channels(channels=("general",))),
        Command.END_OF_KEYS: lambda: frames(Command.END_OF_KEYS, EndOfKeys()),
    })
    assert driver.phase is HubKeySyncPhase.LIVE
    assert driver.phase == "live" and driver.state_id == "live"  # a StrEnum: still the id
    assert built == [Command.KEY, Command.CHANNELS, Command.END_OF_KEYS]
    assert [frame.command for frame in step.frames] == built
    assert step.reports == ("synced",) and step.close is None


def test_a_builder_for_a_frame_the_machine_did_not_ask_for_is_never_called() -> None:
    driver = MachineDriver(HubHandshake)

    def must_not_build() -> Frame:
        raise AssertionError("built a frame the machine did not want")

    step = driver.step("greeting", build={Command.HUB_HELLO: must_not_build,
                                          Command.WELCOME: must_not_build}, supported=False)
    assert driver.phase is HubHandshakePhase.REFUSED and driver.finished
    assert step.frames == () and step.close is not None and step.close.code == "version"


def test_a_missing_builder_and_an_illegal_event_are_specific_errors() -> None:
    driver = MachineDriver(HubHandshake)
    with pytest.raises(MissingFrameBuilder, match="HubHandshake asked to send"):
        driver.step("greeting", supported=True)
    driver = MachineDriver(HubHandshake)
    driver.step("greeting", build={Command.HUB_HELLO: lambda: HubHello(
        version=2, hub="h", pake=b"p")}, supported=True)
    with pytest.raises(ProtocolViolation) as refused:
        driver.step("greeting", supported=True)
    assert (refused.value.state, refused.value.event) == ("challenged", "greeting")
    assert driver.phase is HubHandshakePhase.CHALLENGED  # refused: nothing changed


def test_the_peer_link_status_is_read_off_its_phase() -> None:
    assert peer_link_status(PeerLinkPhase.MAKING_REOFFER) == "connected"
    assert peer_link_status("reoffer_held") == "connecting"
    assert peer_link_status(PeerLinkPhase.AWAITING_ANSWER) == "awaiting_answer"
    assert MachineDriver(PeerLink).phase is PeerLinkPhase.NEW
