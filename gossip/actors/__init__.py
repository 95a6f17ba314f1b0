"""A generic actor runtime on trio: actors with bounded inboxes, and OTP-style supervisors.

Knows nothing about Gossip; the hub and client build their actor trees from these parts.
"""

from gossip.actors.actor import Actor, ActorRef, Request, open_actor, run_actor
from gossip.actors.errors import (
    ActorError,
    ActorFailed,
    ActorStopped,
    InboxFull,
    Refusal,
    RestartIntensityExceeded,
)
from gossip.actors.supervisor import ChildSpec, Restart, StartChild, StopChild, Supervisor

__all__ = [
    "Actor",
    "ActorError",
    "ActorFailed",
    "ActorRef",
    "ActorStopped",
    "ChildSpec",
    "InboxFull",
    "Refusal",
    "Request",
    "Restart",
    "RestartIntensityExceeded",
    "StartChild",
    "StopChild",
    "Supervisor",
    "open_actor",
    "run_actor",
]
