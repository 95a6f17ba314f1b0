"""Raise a server WebSocket's receive limits once its client has logged in.

trio-websocket fixes the largest message and the receive queue when the connection is made;
the hub wants them small before login (an outsider parks next to nothing) and normal after.
It has no setter, so this reaches into two private attributes, checked here so that a
trio-websocket that renamed them fails loudly (tests/test_hub_prelogin.py) instead of
silently keeping members at the pre-login limits.
"""

from __future__ import annotations

from trio_websocket import WebSocketConnection


class ReceiveLimitsUnsupported(RuntimeError):
    """This trio-websocket keeps its receive limits elsewhere; update widen_receive_limits."""


def widen_receive_limits(ws: WebSocketConnection, *, max_message_size: int, queue: int) -> None:
    state = getattr(getattr(ws, "_send_channel", None), "_state", None)
    if not hasattr(ws, "_max_message_size") or not hasattr(state, "max_buffer_size"):
        raise ReceiveLimitsUnsupported("trio-websocket's receive limits moved")
    ws._max_message_size = max_message_size  # type: ignore[attr-defined]
    state.max_buffer_size = max(state.max_buffer_size, queue)  # type: ignore[union-attr]
