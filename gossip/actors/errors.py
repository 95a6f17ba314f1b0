"""The exceptions the actor runtime raises to its callers.

One base class, so code that talks to actors can catch every runtime failure at once.
"""


class ActorError(Exception):
    """Base class for failures reported by the actor runtime."""


class InboxFull(ActorError):
    """`tell_nowait`/`tell_threadsafe` found the actor's bounded inbox full."""


class ActorStopped(ActorError):
    """The actor has stopped (or stopped before answering), so the message cannot be handled."""


class ActorFailed(ActorError):
    """The actor crashed while handling an `ask`; `__cause__` is the exception it raised."""


class RestartIntensityExceeded(ActorError):
    """A supervisor saw more restarts within its period than it allows, and gave up."""
