"""Every failure the client reports, in one family: catch `ClientError` for all of them.

Front ends act on the subclasses: `CommandRefused` answers a command that cannot be carried
out (the session goes on), the connection errors end or pause a session, and the rejections
describe one message or signal that failed a check (it is dropped, nothing else happens).
"""

from __future__ import annotations

from gossip.actors.errors import Refusal


class ClientError(Exception):
    """Base class of the client's own failures."""


# -- a command that cannot be carried out: raised to the asker, the session goes on ---------

class CommandRefused(ClientError, Refusal):
    """The session (or a call) will not do what was asked, and says why."""


class OutboxFull(CommandRefused):
    """Offline, and the outbox already holds as many messages as it may."""


class NotConnected(CommandRefused):
    """The command needs a live connection to the hub, and there is none right now."""


# -- the connection ---------------------------------------------------------------------------

class HubUnreachable(ClientError):
    """No connection to the hub could be made (down, wrong address, not a Gossip hub).
    `cause` says which, for a front end to word: "refused" (nothing listens there),
    "no_answer", "unknown_host", "not_gossip" or "network" (anything else)."""

    def __init__(self, message: str, cause: str = "network") -> None:
        super().__init__(message)
        self.cause = cause


class ConnectionLost(ClientError):
    """The hub closed the connection or it broke."""


class LoginFailed(ClientError):
    """The hub refused us or could not prove itself; `code` is the hub's or ours."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class SignedInElsewhere(ClientError):
    """The hub let a newer connection of the same user replace this one."""


# -- one message, signal or link that failed a check ------------------------------------------

class MessageRejected(ClientError):
    """A message failed a receiver's checks; `reason` is one word (bad_signature, ...)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class SignalRejected(ClientError):
    """A sealed call signal failed a check; `reason` is one word."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class LinkFailed(ClientError):
    """A peer link could not be set up or broke; its supervisor decides whether to retry."""
