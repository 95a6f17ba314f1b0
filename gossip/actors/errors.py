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


class Refusal(Exception):  # noqa: N818 (a refusal is an answer, not an "Error")
    """An actor's answer that it will not do what was asked: not a crash.

    Raised from `receive`, it travels back to the caller of `ask`, which raises it again; the
    actor carries on. Layers subclass it for their own refusals (see gossip.client.errors).
    """
