"""Keyboard shortcuts: which key with which modifiers does what. Pure, so the table is tested
without a window; app.py feeds it key presses and performs the actions it names."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shortcut:
    keys: str  # as shown to the user
    action: str
    description: str


# Keys the push-to-talk key may be (names as app.py gives them): function keys bound to
# nothing else, so holding one never types into the message box or fires a shortcut.
TALK_KEYS = tuple(f"F{number}" for number in range(2, 13))
DEFAULT_TALK_KEY = "F8"

SHORTCUTS: tuple[Shortcut, ...] = (
    Shortcut("Enter", "send", "Send the message"),
    Shortcut("Ctrl+Enter", "new_line", "Start a new line in the message"),
    Shortcut("Ctrl+F", "search", "Search this channel"),
    Shortcut("Ctrl+L", "focus_composer", "Jump to the message box"),
    Shortcut("Ctrl+1 … Ctrl+9", "channel:N", "Go to the Nth channel"),
    Shortcut("Alt+↑ / Alt+↓", "channel:prev / channel:next", "Previous / next channel"),
    Shortcut("Ctrl+J", "toggle_call", "Join or leave the call"),
    Shortcut("Ctrl+M", "toggle_mute", "Mute or unmute your microphone"),
    Shortcut("Ctrl+D", "toggle_deafen", "Deafen or undeafen"),
    Shortcut("Ctrl+E", "toggle_video", "Turn your camera on or off"),
    Shortcut(f"{DEFAULT_TALK_KEY} (hold)", "push_to_talk",
             "Talk while held, in push-to-talk mode (the key is `talk_key` in the settings)"),
    Shortcut("Ctrl+,", "settings", "Settings"),
    Shortcut("F1", "help", "This list"),
    Shortcut("Esc", "close_dialog", "Close the dialog, the search, or a reply or edit"),
    Shortcut("Ctrl+Q", "quit", "Quit"),
)


def action_for(key: str, *, ctrl: bool = False, alt: bool = False, shift: bool = False
               ) -> str | None:
    """The action for a key press. `key` is a name: "A".."Z", "0".."9", "Up", "F1", ","."""
    if ctrl and not alt:
        if key.isdigit() and key != "0":
            return f"channel:{key}"
        return {"F": "search", "L": "focus_composer", "J": "toggle_call", "M": "toggle_mute",
                "D": "toggle_deafen", "E": "toggle_video", ",": "settings", "Q": "quit"}.get(key)
    if alt and not ctrl:
        return {"Up": "channel:prev", "Down": "channel:next"}.get(key)
    if not (ctrl or alt or shift):
        return {"F1": "help", "Escape": "close_dialog"}.get(key)
    return None


def channel_after(channels: tuple[str, ...], current: str | None, action: str) -> str | None:
    """The channel a channel:* action leads to, or None to stay."""
    if not channels:
        return None
    what = action.split(":", 1)[1]
    if what.isdigit():
        index = int(what) - 1
        return channels[index] if index < len(channels) else None
    position = channels.index(current) if current in channels else 0
    step = -1 if what == "prev" else 1
    return channels[(position + step) % len(channels)]
