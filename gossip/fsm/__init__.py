"""Pure protocol state machines (python-statemachine): events in, actions out, no I/O."""

from .actions import Action, Close, Report, Send
from .base import PhasesUndeclared, ProtocolMachine, ProtocolViolation
from .call import ClientCall, ClientCallPhase, HubCall, HubCallPhase, PeerLink, PeerLinkPhase
from .compiled import CompiledMachine
from .driver import Builders, MachineDriver, MissingFrameBuilder, Step
from .handshake import ClientHandshake, ClientHandshakePhase, HubHandshake, HubHandshakePhase
from .keysync import ClientKeySync, ClientKeySyncPhase, HubKeySync, HubKeySyncPhase
from .registry import MACHINES, PAIRS, Pair

__all__ = [
    "MACHINES",
    "PAIRS",
    "Action",
    "Builders",
    "ClientCall",
    "ClientCallPhase",
    "ClientHandshake",
    "ClientHandshakePhase",
    "ClientKeySync",
    "ClientKeySyncPhase",
    "Close",
    "CompiledMachine",
    "HubCall",
    "HubCallPhase",
    "HubHandshake",
    "HubHandshakePhase",
    "HubKeySync",
    "HubKeySyncPhase",
    "MachineDriver",
    "MissingFrameBuilder",
    "Pair",
    "PeerLink",
    "PeerLinkPhase",
    "PhasesUndeclared",
    "ProtocolMachine",
    "ProtocolViolation",
    "Report",
    "Send",
    "Step",
]
