"""Every error a person sees, worded in one place: what happened, as a sentence, and what to
do next. The actors report failures as typed values (a kind and the hub's error code, the
cause of an unreachable hub, which device would not open); the connect card, the toasts and
the call panel show what these functions make of them, never an exception's text. The
technical detail stays in the log."""

from __future__ import annotations

from dataclasses import dataclass

from gossip.media.devicekind import DeviceKind
from gossip.wire.codes import ErrorCode

from . import notices as nt


@dataclass(frozen=True)
class Wording:
    title: str
    sentence: str  # what happened and what to do next


# The hub's login refusals, by code: {user} and {hub} ("host:port") are filled in.
LOGIN_REFUSALS: dict[str, Wording] = {
    ErrorCode.VERSION: Wording(
        "Gossip versions differ",
        "The hub at {hub} runs another version of Gossip. Update Gossip, or ask the hub's "
        "operator which version it needs.",
    ),
    ErrorCode.BAD_KEY: Wording(
        "Your key was refused",
        "The hub at {hub} cannot use your key. Connect with a new user name (a new profile), "
        "or ask the hub's operator.",
    ),
    ErrorCode.USER_TAKEN: Wording(
        "That name is taken",
        "Someone else is registered on {hub} as {user}. Pick another user name, or ask the "
        "hub's operator to free this one.",
    ),
    ErrorCode.KEY_TAKEN: Wording(
        "You are registered under another name",
        "Your key is registered on {hub} under another user name. Connect with that name.",
    ),
    ErrorCode.THROTTLED: Wording(
        "Too many attempts",
        "The hub at {hub} had too many failed logins and asks you to wait. Wait a minute, "
        "then connect again.",
    ),
    ErrorCode.TIMEOUT: Wording(
        "The login took too long",
        "The hub at {hub} did not finish the login in time. Check your network, then connect "
        "again.",
    ),
}

UNREACHABLE: dict[str, Wording] = {
    "refused": Wording(
        "No hub there",
        "Nothing answers at {hub}. Check the address and the port, and that the hub is "
        "running, then connect again.",
    ),
    "no_answer": Wording(
        "No answer",
        "The hub at {hub} did not answer. Check your network and the address, then connect again.",
    ),
    "unknown_host": Wording(
        "Unknown address",
        "No computer is known by the name {host}. Check the hub's address for typing mistakes.",
    ),
    "not_gossip": Wording(
        "Not a Gossip hub",
        "Something answers at {hub}, but not as a Gossip hub. Check the port number with the "
        "hub's operator.",
    ),
    "network": Wording(
        "Cannot reach the hub",
        "The hub at {hub} cannot be reached. Check your network connection, then connect again.",
    ),
}


def connect_failure(failure: nt.ConnectFailed, user: str) -> Wording:
    """Why connecting failed, for the connect card."""
    hub = f"{failure.host}:{failure.port}"
    fill = {"hub": hub, "host": failure.host, "user": user}
    kind = failure.kind
    if kind == "login":
        if failure.code == ErrorCode.AUTH:
            if failure.first_visit:
                # Nothing is pinned: a wrong password and a hub that is not the real one
                # look the same, and there is no earlier certificate to blame.
                return Wording(
                    "Password not accepted",
                    f"The hub at {hub} did not accept the password for {user}. "
                    "Check the password and the hub's address with whoever runs "
                    "the hub, then connect again.",
                )
            return Wording(
                "Wrong password",
                f"The hub at {hub} (the one you connected to before) did not "
                f"accept the password for {user}. Check the password, or ask the "
                "hub's operator whether it changed.",
            )
        known = LOGIN_REFUSALS.get(failure.code)
        if known is not None:
            return Wording(known.title, known.sentence.format(**fill))
        return Wording(
            "Login refused",
            f"The hub at {hub} refused the login. Connect again; if it keeps "
            "refusing, tell the hub's operator.",
        )
    if kind == "unreachable":
        known = UNREACHABLE.get(failure.code, UNREACHABLE["network"])
        return Wording(known.title, known.sentence.format(**fill))
    if kind == "hub_key":
        return Wording(
            "The hub's certificate changed",
            f"The hub at {hub} shows another certificate than last time. Either "
            "its operator made a new one, or someone is between you and the hub. "
            "Ask the operator, by phone or in person, for the new fingerprint and "
            "compare it with the one below before you trust it.",
        )
    if kind == "elsewhere":
        return Wording(
            "Signed in elsewhere",
            f"You signed in to {hub} as {user} from another connection, which "
            "took over from this one. Connect again to continue here.",
        )
    if kind == "lost":
        return Wording(
            "Connection broken", f"The connection to {hub} broke while logging in. Connect again."
        )
    if kind == "profile":
        return Wording(
            "Your profile cannot be opened",
            f"Gossip cannot read {user}'s keys on this computer. Check that the "
            "profile folder is yours and readable, or connect under another "
            "name.",
        )
    return Wording(
        "Something went wrong",
        f"Connecting to {hub} failed unexpectedly. Connect again; if it happens "
        "again, start Gossip with -v and report what the log says.",
    )


def audio_device_failure(what: str, device: str, consequence: str) -> str:
    """`what` ("microphone", "speakers") named `device` ("" = the system's default) would
    not open; `consequence` says what that means for the call."""
    which = f"the {what} “{device}”" if device else f"the system's default {what}"
    return (
        f"Gossip cannot open {which}. Check that it is plugged in and not held by another "
        f"program, or pick another under Audio devices. {consequence}"
    )


def device_lost(kind: DeviceKind, device: str, problem: str) -> tuple[str, str]:
    """A toast's title and sentence: the `kind` ("microphone", "speakers") named `device`
    ("" = the default) went away mid-call; `problem` is why no default replaced it."""
    which = f"The {kind} “{device}”" if device else f"The system's default {kind}"
    gone = f"{which} {'was' if kind is DeviceKind.MICROPHONE else 'were'} unplugged"
    if problem:
        lost = ("others hear silence from you" if kind is DeviceKind.MICROPHONE
                else "you hear nothing")
        return (f"Your {kind} went away",
                f"{gone}, and no other {kind} could be opened: {lost}. Plug one in and pick "
                "it under Audio devices.")
    return (f"Your {kind} went away",
            f"{gone}; the call goes on with the system's default {kind}. Pick another under "
            "Audio devices.")


def camera_failure(consequence: str) -> str:
    return (
        "Gossip cannot open the video source. Check that the camera is connected and not "
        f"in use by another program, or choose another source in Settings. {consequence}"
    )


# Why the call panel has no sound devices to offer.
NO_PORTAUDIO = (
    "No sound devices: PortAudio is not installed. Install it (Debian: "
    "libportaudio2), then restart Gossip."
)
SOUND_SYSTEM_FAILED = (
    "No sound devices: the system's sound service did not answer. Check "
    "that it is running; Gossip looks again every few seconds."
)
NO_DEVICES = "No sound devices found. Plug in a headset or microphone: it shows up here."
LISTING_FAILED = "The sound devices could not be listed. Gossip looks again every few seconds."
