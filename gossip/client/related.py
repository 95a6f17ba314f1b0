"""Replies, edits and reactions: the checks a receiver makes against the message one names,
and how they fold into what is shown. Pure: the chat desk and the front ends call it.

An edit counts only when it was signed by the key that signed its original, under the same
name, in the same channel: the hub relays sealed blobs it can neither read nor forge, and a
member who names someone else's message in an edit is refused. Nothing that names a message
outlives it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from operator import attrgetter

from .errors import MessageRejected
from .messages import SHOWN_KINDS, ChatMessage, MessageKind


def check_against(message: ChatMessage, target: ChatMessage) -> ChatMessage:
    """`message` (a reply, edit or reaction naming `target`) as it may be kept: refused
    (MessageRejected) when it may not name `target`, its expiry cut to `target`'s."""
    if message.channel != target.channel:
        raise MessageRejected(
            "wrong_channel", f"names a message of #{target.channel} from #{message.channel}"
        )
    if target.kind not in SHOWN_KINDS:
        raise MessageRejected("malformed", f"names a {target.kind.value}, not a message")
    if message.kind is MessageKind.EDIT and not same_author(message, target):
        raise MessageRejected(
            "not_author",
            f"{message.sender} tried to edit a message of {target.sender}'s: only its author may",
        )
    if message.kind is not MessageKind.REPLY and message.expires_at > target.expires_at:
        # An edit or a reaction never keeps anything of its original past its time.
        message = replace(message, expires_at=target.expires_at)
    return message


def same_author(edit: ChatMessage, original: ChatMessage) -> bool:
    """The same name and the same signing identity key (a key the hub swapped in since does
    not count, even under the same name)."""
    return edit.sender == original.sender and bool(edit.signer) and edit.signer == original.signer


@dataclass(frozen=True)
class Shown:
    """One message as a front end shows it: its latest text and what names it."""

    message: ChatMessage
    text: str  # the latest edit's, else the original's
    edited: bool
    reactions: tuple[tuple[str, int], ...]  # (emoji, how many members), most first
    my_reaction: str  # "" when we put none
    quoted: ChatMessage | None  # for a reply: the message it answers, when we have it
    quoted_text: str  # that message's latest text


def fold(messages: Iterable[ChatMessage], me: str) -> list[Shown]:
    """The messages to show (texts and replies, oldest first) with their edits and
    reactions applied. An edit or reaction whose original is not here waits (it is not
    shown); one that may not name its original is ignored, whatever the store held."""
    everything = sorted(messages, key=attrgetter("sent_at", "id"))
    shown: dict[str, ChatMessage] = {}
    naming: list[ChatMessage] = []  # edits and reactions
    for message in everything:
        if message.kind in SHOWN_KINDS:
            shown[message.id] = message
        else:
            naming.append(message)
    texts: dict[str, str] = {}
    reactions: dict[str, dict[str, str]] = {}  # original -> sender -> emoji (latest wins)
    for message in naming:
        target = shown.get(message.ref)
        if target is None or message.channel != target.channel:
            continue
        if message.kind is MessageKind.EDIT and same_author(message, target):
            texts[target.id] = message.text
        elif message.kind is MessageKind.REACTION:
            reactions.setdefault(target.id, {})[message.sender] = message.text
    result = []
    for message in shown.values():
        given = reactions.get(message.id)
        counts: dict[str, int] = {}
        for emoji in given.values() if given else ():
            if emoji:
                counts[emoji] = counts.get(emoji, 0) + 1
        quoted = shown.get(message.ref) if message.kind is MessageKind.REPLY else None
        if quoted is not None and quoted.channel != message.channel:
            quoted = None
        result.append(
            Shown(
                message,
                texts.get(message.id, message.text),
                message.id in texts,
                tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0]))),
                given.get(me, "") if given else "",
                quoted,
                texts.get(quoted.id, quoted.text) if quoted is not None else "",
            )
        )
    return result
