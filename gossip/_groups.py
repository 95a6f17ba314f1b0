"""Trio nurseries wrap errors in exception groups; callers of our APIs want the one error."""

from __future__ import annotations


def leaves(exc: BaseException) -> list[BaseException]:
    """The non-group exceptions inside a (possibly nested) exception group."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc]


def sole_error(group: BaseExceptionGroup) -> BaseException:
    """The one meaningful error of a group: its only leaf that is not a cancellation,
    or the group itself when there are several."""
    import trio

    found = [leaf for leaf in leaves(group) if not isinstance(leaf, trio.Cancelled)]
    return found[0] if len(found) == 1 else group
