"""Look-alike user names: a skeleton per name, equal for names a reader cannot tell apart
(`aIice` and `alice`, `rnallory` and `mallory`, `bob_` and `bob`), and the lookup of a name's
look-alikes among others. Pure; the app marks such names and warns when one joins.

Why a small table and not a library: names are ASCII only (gossip.wire.is_valid_name), and
the Unicode TR39 skeleton that `confusables`, `confusable_homoglyphs` and their kind implement
has only seven mappings inside printable ASCII (0→O, 1→l, I→l, |→l, m→rn, and two quote
marks). It is case-sensitive (so `bob` and `BOB`, even `b0b` and `bob`, differ), keeps
separators, and has nothing for `vv`/`w`; those libraries' data (about 1 MB) covers scripts
that cannot occur here. The table below is TR39's ASCII part plus what it leaves out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

# Dropped: `alice.`, `a.lice`, `a-lice` and `a_lice` read as `alice` at a glance.
SEPARATORS = frozenset("._-")

# One prototype per class of characters that render alike in the app's sans-serif font, applied
# after case folding. Folding makes `I` an `i`, while `I` also looks like `l` (`Ian`/`lan`), so
# `i` joins the `l` class: one skeleton cannot keep `IAN`≡`ian` and `Ian`≡`lan` otherwise.
CHARACTER_PROTOTYPES = {
    "1": "l", "i": "l", "|": "l",
    "0": "o",
    "5": "s",
}

# Letter pairs that read as one letter. The letter is expanded into the pair (as TR39 maps
# m → rn), not the pair contracted, so runs have one answer: `vvv`, `wv` and `vw` all give `vvv`.
SEQUENCE_PROTOTYPES = (("m", "rn"), ("w", "vv"))


def skeleton(name: str) -> str:
    """The canonical form of `name` for comparing: equal skeletons mean look-alike names.
    Only for comparing, never for showing (`mallory` becomes `rnallory`)."""
    folded = "".join(CHARACTER_PROTOTYPES.get(ch, ch) for ch in name.casefold()
                     if ch not in SEPARATORS)
    for letter, pair in SEQUENCE_PROTOTYPES:
        folded = folded.replace(letter, pair)
    return folded


def lookalikes(name: str, others: Iterable[str]) -> tuple[str, ...]:
    """The names among `others` (not `name` itself) that look like `name`, sorted."""
    own = skeleton(name)
    return tuple(sorted({other for other in others
                         if other != name and skeleton(other) == own}))


def lookalikes_among(names: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """For each of `names` that has look-alikes among the others, those look-alikes, sorted:
    one skeleton per name, so a whole member list costs one pass."""
    by_skeleton: dict[str, set[str]] = defaultdict(set)
    for name in names:
        by_skeleton[skeleton(name)].add(name)
    return {name: tuple(sorted(group - {name}))
            for group in by_skeleton.values() if len(group) > 1 for name in group}
