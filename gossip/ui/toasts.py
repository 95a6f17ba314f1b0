"""Toasts: short notices stacked in a corner that leave by themselves, except the ones that
need the user (a changed key, a look-alike name), which stay until dealt with. Pure: the view
draws them."""

from __future__ import annotations

from dataclasses import dataclass, field

LIFETIMES = {"info": 5.0, "join": 4.0, "leave": 4.0, "error": 9.0}
MAX_VISIBLE = 4
# Kinds about one member whose answer is to compare safety numbers with them.
SAFETY_KINDS = frozenset({"key_changed", "lookalike"})


@dataclass(frozen=True)
class Toast:
    id: int
    kind: str  # "info", "join", "leave", "error", "key_changed", "lookalike"
    title: str
    body: str
    created: float
    sticky: bool = False
    user: str | None = None  # whom it is about; a SAFETY_KINDS toast opens their safety number

    @property
    def opens_safety(self) -> bool:
        return self.kind in SAFETY_KINDS and self.user is not None

    def expires_at(self) -> float | None:
        return None if self.sticky else self.created + LIFETIMES.get(self.kind, 5.0)


@dataclass
class ToastBoard:
    toasts: list[Toast] = field(default_factory=list)
    version: int = 0
    _next_id: int = 1

    def push(self, kind: str, title: str, body: str, now: float, *, sticky: bool = False,
             user: str | None = None) -> Toast | None:
        """Add a toast; a sticky one already shown for the same user and kind is not repeated."""
        if sticky and any(t.sticky and t.kind == kind and t.user == user for t in self.toasts):
            return None
        toast = Toast(self._next_id, kind, title, body, now, sticky, user)
        self._next_id += 1
        self.toasts.append(toast)
        self.version += 1
        return toast

    def dismiss(self, toast_id: int) -> None:
        self._keep(lambda t: t.id != toast_id)

    def dismiss_about(self, user: str, kind: str) -> None:
        self._keep(lambda t: not (t.user == user and t.kind == kind))

    def dismiss_titled(self, title: str) -> None:
        """Take down the toasts with this title (a notice whose news is no longer news)."""
        self._keep(lambda t: t.title != title)

    def expire(self, now: float) -> None:
        self._keep(lambda t: (t.expires_at() or float("inf")) > now)

    def visible(self) -> list[Toast]:
        """Sticky ones first (they matter most), then the newest few."""
        sticky = [t for t in self.toasts if t.sticky]
        passing = [t for t in reversed(self.toasts) if not t.sticky]
        return (sticky + passing)[:max(MAX_VISIBLE, len(sticky))]

    def _keep(self, wanted: object) -> None:
        kept = [t for t in self.toasts if wanted(t)]  # type: ignore[operator]
        if len(kept) != len(self.toasts):
            self.toasts = kept
            self.version += 1
