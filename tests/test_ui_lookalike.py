"""Look-alike names in the app: the member list marks a name that reads like another member's,
and such a member's arrival raises a warning that stays until dismissed."""

from __future__ import annotations

from gossip.client import events as ev
from gossip.client.state import MemberView, SessionState
from gossip.crypto.pins import Trust
from gossip.ui import notices as nt
from gossip.ui import viewmodel as vm
from gossip.ui.model import AppModel
from gossip.ui.toasts import LIFETIMES

NOW = 1_700_000_000.0


def fingerprint(user: str) -> str:
    return (user.encode().hex().upper() * 40)[:40]


def online_model(*members: str, me: str = "you") -> AppModel:
    state = SessionState("test hub", "AB" * 32, ("general",),
                         tuple(MemberView(u, fingerprint(u), Trust.PINNED)
                               for u in (me, *members)), ())
    model = AppModel()
    model.begin_connect("127.0.0.1", 1720, me)
    model.apply(nt.Online("127.0.0.1", 1720, me, fingerprint(me), state), NOW)
    return model


def join(model: AppModel, user: str, at: float = NOW) -> None:
    model.apply(ev.MemberJoined(user, fingerprint(user), Trust.NEW), at)


def rows_by_user(model: AppModel) -> dict[str, vm.MemberRow]:
    return {row.user: row for row in vm.member_rows(model)}


def lookalike_toasts(model: AppModel) -> list[tuple[str | None, str]]:
    return [(t.user, t.title) for t in model.toasts.toasts if t.kind == "lookalike"]


def test_a_lookalike_joining_is_marked_in_the_list_and_warned_about_until_dismissed():
    model = online_model("alice", "bob")
    assert all(not row.looks_like for row in vm.member_rows(model))
    version = model.members_version
    join(model, "aIice")
    assert model.members_version > version  # the list redraws
    rows = rows_by_user(model)
    assert rows["aIice"].label == "aIice ⚠ looks like alice"
    assert rows["aIice"].looks_like == ("alice",)
    assert rows["alice"].label == "alice ⚠ looks like aIice"  # either may be the impostor
    assert "compare safety numbers" in rows["aIice"].tooltip
    assert rows["bob"].label == "bob" and rows["bob"].looks_like == ()
    assert lookalike_toasts(model) == [("aIice", "aIice looks like alice")]
    toast = next(t for t in model.toasts.toasts if t.kind == "lookalike")
    assert toast.sticky and toast.opens_safety
    model.toasts.expire(NOW + 10 * max(LIFETIMES.values()))
    assert toast in model.toasts.visible()  # still there long after the join toast left
    assert all(t.kind != "join" for t in model.toasts.toasts)
    model.toasts.dismiss(toast.id)
    assert lookalike_toasts(model) == []
    assert rows_by_user(model)["aIice"].looks_like == ("alice",)  # the mark stays


def test_an_ordinary_new_member_raises_no_warning():
    model = online_model("alice", "bob", "ann")
    for user in ("alicia", "rob", "anna"):
        join(model, user)
    assert lookalike_toasts(model) == []
    assert all(not row.looks_like for row in vm.member_rows(model))
    assert [t.kind for t in model.toasts.toasts] == ["join", "join", "join"]


def test_a_name_like_ours_is_marked_with_you_and_our_own_row_is_not():
    model = online_model("bob", me="alice")
    join(model, "alice.")
    rows = rows_by_user(model)
    assert rows["alice."].label == "alice. ⚠ looks like alice (you)"
    assert rows["alice"].is_self and rows["alice"].looks_like == ()
    assert lookalike_toasts(model) == [("alice.", "alice. looks like alice (you)")]


def test_lookalikes_already_there_at_login_are_marked_and_warned_about_once():
    model = online_model("mallory", "rnallory", "bob_", "bob")
    rows = rows_by_user(model)
    assert rows["rnallory"].looks_like == ("mallory",)
    assert rows["mallory"].looks_like == ("rnallory",)
    assert rows["bob_"].looks_like == ("bob",)
    assert sorted(lookalike_toasts(model)) == [("bob", "bob looks like bob_"),
                                               ("rnallory", "rnallory looks like mallory")]
    # The sync after a reconnect announces everyone again: no new warnings.
    model.apply(nt.Reconnecting("lost", 1.0, 1), NOW + 1)
    for user in ("mallory", "rnallory", "bob_", "bob"):
        join(model, user, NOW + 2)
    assert len(lookalike_toasts(model)) == 2


def test_a_departed_member_still_counts_so_a_squatter_is_marked():
    model = online_model("bob")
    model.apply(ev.MemberLeft("bob"), NOW)
    join(model, "B0B", NOW + 5)
    rows = rows_by_user(model)
    assert rows["B0B"].looks_like == ("bob",) and not rows["bob"].online
    assert lookalike_toasts(model) == [("B0B", "B0B looks like bob")]


def test_several_lookalikes_are_all_named():
    model = online_model("alice", "a1ice")
    join(model, "aIice")
    assert rows_by_user(model)["aIice"].label == "aIice ⚠ looks like a1ice, alice"
    assert lookalike_toasts(model)[-1] == ("aIice", "aIice looks like a1ice, alice")
