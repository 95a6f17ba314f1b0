"""What the app's message list costs to compute (viewmodel.message_rows) for a full channel:
links found and made safe, edits and reactions folded in, first draw and redraws.

Baseline measured in the same run: the same number of plain messages (no links, no edits or
reactions). CPU time, the least of --repeats runs (the machine may be shared).
Run: python benchmarks/message_rows.py
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from gossip.client.messages import ChatMessage, MessageKind
from gossip.crypto.pins import Trust
from gossip.ui.model import AppModel, Phase
from gossip.ui.viewmodel import LinkMemo, message_rows

NOW = 1_700_000_000.0


def _channel(count: int, *, rich: bool) -> AppModel:
    """`count` messages in #general from seven members; `rich`: each text holds a link, and
    every fifth message is a reaction, every tenth an edit, of the one before."""
    model = AppModel()
    model.user, model.phase, model.channels = "you", Phase.ONLINE, ("general",)
    model.current_channel = "general"
    for number in range(count):
        kind, ref, text = MessageKind.TEXT, "", f"message {number}, nothing to open"
        if rich:
            text = f"message {number}: see https://example.com/notes/{number}?page=2"
            if number % 10 == 9:
                kind, ref, text = MessageKind.EDIT, f"{number - 1:032x}", "edited words"
            elif number % 5 == 4:
                kind, ref, text = MessageKind.REACTION, f"{number - 1:032x}", "👍"
        sender = "user8" if kind is MessageKind.EDIT else f"user{number % 7}"
        message = ChatMessage(
            f"{number:032x}",
            "general",
            sender,
            text,
            NOW + number,
            NOW + 86_400,
            True,
            Trust.PINNED,
            signer="f" * 40,
            kind=kind,
            ref=ref,
        )
        model.messages[message.id] = message
    return model


def _least_ms(action: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        action()
        best = min(best, time.process_time() - start)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)  # the store's cap in all
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="500 messages, 3 runs")
    args = parser.parse_args()
    if args.quick:
        args.messages, args.repeats = 500, 3
    now = NOW + args.messages + 1
    plain, rich = _channel(args.messages, rich=False), _channel(args.messages, rich=True)
    baseline = _least_ms(lambda: message_rows(plain, now), args.repeats)
    first = _least_ms(lambda: message_rows(rich, now, memo={}), args.repeats)
    memo: LinkMemo = {}
    redraw = _least_ms(lambda: message_rows(rich, now, memo=memo), args.repeats)
    print(f"baseline: {args.messages} plain messages:                 {baseline:7.1f} ms")
    print(
        f"with links, edits and reactions, first draw:    {first:7.1f} ms ({first / baseline:.1f}x)"
    )
    print(
        f"with links, edits and reactions, redraw:        {redraw:7.1f} ms "
        f"({redraw / baseline:.1f}x)"
    )


if __name__ == "__main__":
    main()
