"""Pure protocol state machines (python-statemachine): events in, actions out, no I/O."""

from .actions import Action, Close, Report, Send
from .base import ProtocolMachine, ProtocolViolation
from .call import ClientCall, HubCall, PeerLink
from .handshake import ClientHandshake, HubHandshake
from .keysync import ClientKeySync, HubKeySync
from .registry import MACHINES, PAIRS, Pair

__all__ = [
    "Action", "Close", "Report", "Send", "ProtocolMachine", "ProtocolViolation",
    "ClientCall", "HubCall", "PeerLink", "ClientHandshake", "HubHandshake", "ClientKeySync", "HubKeySync", "MACHINES", "PAIRS", "Pair",
]
