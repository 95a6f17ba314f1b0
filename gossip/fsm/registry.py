"""Every protocol machine Gossip runs, and which machines talk to each other.

The audit tools (`python -m gossip.fsm`) and the docs are generated from this table, so a
machine that is not listed here is not audited: add new ones here.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import ProtocolMachine
from .call import ClientCall, HubCall, PeerLink
from .filetransfer import FileTransfer
from .framekeys import FrameKeys
from .handshake import ClientHandshake, HubHandshake
from .keysync import ClientKeySync, HubKeySync
from .reconnect import Reconnect
from .roster import RosterView

MACHINES: dict[str, type[ProtocolMachine]] = {
    "hub-handshake": HubHandshake,
    "client-handshake": ClientHandshake,
    "hub-keysync": HubKeySync,
    "client-keysync": ClientKeySync,
    "client-call": ClientCall,
    "hub-call": HubCall,
    "peer-link": PeerLink,
    # Driven by their owners only (no wire peer), so in no pair: the rules check them alone.
    "reconnect": Reconnect,
    "roster": RosterView,
    "file-transfer": FileTransfer,
    "frame-keys": FrameKeys,
}


@dataclass(frozen=True)
class Pair:
    """Two machines that exchange frames over one in-order connection.

    `kickoff` lists owner events (not from the wire) that start the conversation, in order,
    each for a side named by its machine, or "left"/"right" when both sides are the same
    machine. Kickoff events fire only as listed, never as free local requests.
    """

    name: str
    left: str
    right: str
    kickoff: tuple[tuple[str, str], ...]


PAIRS: tuple[Pair, ...] = (
    Pair("login", "client-handshake", "hub-handshake",
         kickoff=(("client-handshake", "connected"),)),
    Pair("key-sync", "client-keysync", "hub-keysync", kickoff=(("client-keysync", "start"),)),
    Pair("call", "client-call", "hub-call", kickoff=(("client-call", "join"),)),
    Pair("peer-link", "peer-link", "peer-link",
         kickoff=(("left", "start_offering"), ("right", "start_answering"))),
)
