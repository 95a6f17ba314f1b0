"""Pure protocol state machines (python-statemachine): events in, actions out, no I/O."""

from .actions import Action, Close, Report, Send
from .base import PhasesUndeclared, ProtocolMachine, ProtocolViolation
from .call import ClientCall, ClientCallPhase, HubCall, HubCallPhase, PeerLink, PeerLinkPhase
from .compiled import CompiledMachine
from .driver import NO_BUILDERS, Builders, MachineDriver, MissingFrameBuilder, Step
from .filetransfer import FileOrder, FileTransfer, FileTransferPhase
from .framekeys import FrameKeys, FrameKeysOrder, FrameKeysPhase
from .handshake import ClientHandshake, ClientHandshakePhase, HubHandshake, HubHandshakePhase
from .keysync import ClientKeySync, ClientKeySyncPhase, HubKeySync, HubKeySyncPhase
from .reconnect import Backoff, BackoffPolicy, Reconnect, ReconnectOrder, ReconnectPhase
from .registry import MACHINES, PAIRS, Pair
from .roster import RosterOrder, RosterPhase, RosterView, seal_to

__all__ = [
    "MACHINES",
    "NO_BUILDERS",
    "PAIRS",
    "Action",
    "Backoff",
    "BackoffPolicy",
    "Builders",
    "ClientCall",
    "ClientCallPhase",
    "ClientHandshake",
    "ClientHandshakePhase",
    "ClientKeySync",
    "ClientKeySyncPhase",
    "Close",
    "FrameKeys",
    "FrameKeysOrder",
    "FrameKeysPhase",
    "CompiledMachine",
    "FileOrder",
    "FileTransfer",
    "FileTransferPhase",
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
    "Reconnect",
    "ReconnectOrder",
    "ReconnectPhase",
    "Report",
    "RosterOrder",
    "RosterPhase",
    "RosterView",
    "Send",
    "Step",
    "seal_to",
]
