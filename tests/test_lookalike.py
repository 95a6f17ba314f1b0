"""Look-alike names: one skeleton for names a reader cannot tell apart, and none shared by
ordinary distinct names."""

from __future__ import annotations

import pytest

from gossip.client.lookalike import lookalikes, lookalikes_among, skeleton
from gossip.wire import is_valid_name

LOOKALIKE_PAIRS = [
    ("aIice", "alice"),  # capital i for l
    ("a1ice", "alice"),  # digit one for l
    ("alice.", "alice"),  # a trailing separator
    ("a.lice", "alice"),
    ("a-l_i.c-e", "alice"),
    ("bob_", "bob"),
    ("Alice", "alice"),  # case
    ("ALICE", "alice"),
    ("IAN", "ian"),
    ("Ian", "lan"),  # capital i for l, in a name that starts with it
    ("rnallory", "mallory"),  # r and n side by side for m
    ("Rnallory", "mallory"),
    ("vvendy", "wendy"),  # two v for w
    ("b0b", "bob"),  # zero for o
    ("B0B", "bob"),
    ("5am", "sam"),
    ("jo1ly", "jolly"),
    ("wwv", "vww"),  # every split of a run of v gives one skeleton
    ("vvvv", "ww"),
]

DISTINCT_PAIRS = [
    ("alice", "alicia"), ("bob", "rob"), ("ann", "anna"), ("tim", "tom"), ("dan", "don"),
    ("sam", "pam"), ("eve", "ava"), ("mia", "mila"), ("leo", "lea"), ("emma", "erma"),
    ("clara", "dara"), ("mallory", "malory"), ("carol", "carlo"), ("nina", "nino"),
    ("alice2", "alice"), ("bob", "bobby"), ("max", "rnax2"), ("wendy", "vendy"),
    ("kim", "kin"), ("jan", "ian"), ("alex", "alexa"), ("ben", "ben1"),
]


@pytest.mark.parametrize(("name", "other"), LOOKALIKE_PAIRS)
def test_names_that_read_alike_share_a_skeleton(name, other):
    assert is_valid_name(name) and is_valid_name(other)
    assert skeleton(name) == skeleton(other)
    assert lookalikes(name, [other]) == (other,)
    assert lookalikes(other, [name]) == (name,)


@pytest.mark.parametrize(("name", "other"), DISTINCT_PAIRS)
def test_ordinary_distinct_names_are_not_flagged(name, other):
    assert skeleton(name) != skeleton(other)
    assert lookalikes(name, [other]) == ()


def test_a_name_is_not_its_own_lookalike_and_the_answer_is_sorted_and_unique():
    members = ["alice", "aIice", "alice.", "bob", "a1ice", "alice.", "carol"]
    assert lookalikes("alice", members) == ("a1ice", "aIice", "alice.")
    assert lookalikes("bob", members) == ()
    assert lookalikes("zed", []) == ()


def test_the_skeleton_is_stable_under_itself():
    # Applying it twice changes nothing, so a skeleton can be stored and compared later.
    for name, other in LOOKALIKE_PAIRS + DISTINCT_PAIRS:
        for each in (name, other):
            assert skeleton(skeleton(each)) == skeleton(each)


def test_a_skeleton_is_only_for_comparing():
    assert skeleton("mallory") == "rnallory"
    assert skeleton("Wil.Liam_1") == "vvllllarnl"


def test_a_whole_list_at_once_gives_what_each_name_would():
    members = ["alice", "aIice", "alice.", "bob", "B0B", "carol", "rnallory", "mallory", "ann"]
    grouped = lookalikes_among(members)
    assert grouped == {name: lookalikes(name, members)
                       for name in members if lookalikes(name, members)}
    assert grouped["B0B"] == ("bob",) and "carol" not in grouped and "ann" not in grouped
