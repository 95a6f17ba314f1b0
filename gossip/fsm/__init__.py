"""Pure protocol state machines (python-statemachine): events in, actions out, no I/O."""

from .actions import Action, Close, Report, Send
from .base import ProtocolMachine, ProtocolViolation
from .call import ClientCall, HubCall, PeerLink
from .compiled import CompiledMachine
from .driver import NO_BUILDERS, Builders, MachineDriver, MissingFrameBuilder, Step
from .handshake import ClientHandshake, HubHandshake
from .keysync import ClientKeySync, HubKeySync
from .registry import MACHINES, PAIRS, Pair

__all__ = [
    "MACHINES",
    "NO_BUILDERS",
    "PAIRS",
    "Action",
    "Builders",
    "ClientCall",
    "ClientHandshake",
    "ClientKeySync",
    "Close",
    "CompiledMachine",
    "HubCall",
    "HubHandshake",
    "HubKeySync",
    "MachineDriver",
    "MissingFrameBuilder",
    "Pair",
    "PeerLink",
    "ProtocolMachine",
    "ProtocolViolation",
    "Report",
    "Send",
    "Step",
]
