"""Look-alike names in the app: the member list marks a name that reads like another member's,
and such a member's arrival raises a warning that stays until dismissed. The model's rules
first, then the real window against a real hub where "b0b" joins beside "bob"."""

from __future__ import annotations

import dearpygui.dearpygui as dpg
import trio

from gossip.actors.actor import run_actor
from gossip.client import events as ev
from gossip.client.profile import Profile
from gossip.client.session import Session, SessionConfig
from gossip.client.state import MemberView, SessionState
from gossip.crypto.pins import Trust
from gossip.ui import notices as nt
from gossip.ui import viewmodel as vm
from gossip.ui.model import AppModel
from gossip.ui.toasts import LIFETIMES

from .appwindow import WAIT, PeerWorld, click, go_online, texts_in
from .conftest import PASSWORD

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


# -- in the window ------------------------------------------------------------------------------


def start_member(world: PeerWorld, name: str) -> None:
    """Another real client, `name` with a key of its own, joins the world's hub."""
    async def start() -> None:
        send, receive = trio.open_memory_channel[ev.SessionEvent](256)
        profile = Profile.open(name, world.directory / f"profile-{name}")
        session = Session(profile, SessionConfig("127.0.0.1", world.port, PASSWORD), send)

        async def drain() -> None:
            async for _ in receive:
                pass

        world._nursery.start_soon(run_actor, session)
        world._nursery.start_soon(drain)
        with trio.fail_after(WAIT):
            await session.synced.wait()
    world.call(start)


def test_in_the_window_a_lookalike_is_flagged_and_its_warning_opens_the_safety_number(app, world):
    go_online(app, world)
    members = app.main.sidebar.members
    app.pump_until(lambda: "bob" in texts_in(members), WAIT)
    start_member(world, "b0b")
    app.pump_until(lambda: "b0b ⚠ looks like bob" in texts_in(members)
                   and "bob ⚠ looks like b0b" in texts_in(members), WAIT)
    slots = app.toasts._slots
    warning = next(slot for slot in slots if dpg.is_item_shown(slot["window"])
                   and dpg.get_value(slot["title"]) == "b0b looks like bob")
    assert dpg.is_item_shown(warning["act"]) and dpg.is_item_shown(warning["close"])
    click(warning["act"])  # "Check safety number"
    dialog = app.safety_dialog
    app.pump_until(lambda: dpg.is_item_shown(dialog.window)
                   and len(str(dpg.get_value(dialog.number))) == 71, WAIT)
    app.close_safety()
    click(warning["close"])
    app.pump_until(lambda: not any(t.kind == "lookalike" for t in app.model.toasts.toasts),
                   WAIT)
    assert "b0b ⚠ looks like bob" in texts_in(members)  # the mark stays
