"""Messages you can work with, in the app: several lines, copy, links, reply, edit,
reactions, search and the scroll to new messages. The rules as pure functions; the rest in the
real window on a private X display, with real key presses where keys matter."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import time

import dearpygui.dearpygui as dpg
import pytest

from gossip.client import events as ev
from gossip.client.commands import EditChat, React, SendChat
from gossip.client.messages import MessageKind, new_chat
from gossip.crypto import Identity
from gossip.ui.composing import composer_lines, toggled_reaction
from gossip.ui.links import find_links, shown_text
from gossip.ui.model import AppModel, Phase
from gossip.ui.viewmodel import message_rows
from gossip.ui.views.conversation import COUNTDOWN_WIDTH

from .appwindow import WAIT, click, go_online, texts_in

# -- the rules, without a window -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, targets",
    [
        ("see https://example.com/a.", ["https://example.com/a"]),
        (
            "(https://en.wikipedia.org/wiki/Python_(language))",
            ["https://en.wikipedia.org/wiki/Python_(language)"],
        ),
        (
            "mail mailto:bob@example.org, or http://127.0.0.1:8080/x?y=1#z",
            ["mailto:bob@example.org", "http://127.0.0.1:8080/x?y=1#z"],
        ),
        # A look-alike host in another script shows (and opens) as punycode.
        ("https://аpple.com/login", ["https://xn--pple-43d.com/login"]),
        ("https://example.com/ü", ["https://example.com/%C3%BC"]),
        # Never a link: other schemes, a user name before the host, hidden characters.
        ("javascript:alert(1) file:///etc/passwd data:text/html,hi", []),
        ("https://bank.example@evil.example/", []),
        ("https://evil.example\u202e/moc.knab", []),
        ("https://%65vil.example/", []),
        ("xhttps://example.com", []),
    ],
)
def test_links_are_found_and_shown_as_where_they_go(text, targets):
    links = find_links(text)
    assert [link.target for link in links] == targets
    shown = shown_text(text, links)
    assert all(target in shown for target in targets)


def test_a_lookalike_link_is_rewritten_in_the_text_too():
    text = "log in at https://аpple.com now"
    assert shown_text(text, find_links(text)) == "log in at https://xn--pple-43d.com now"


def test_composer_grows_with_lines_and_a_reaction_toggles():
    assert composer_lines("one") == 1 and composer_lines("a\nb\nc") == 3
    assert composer_lines("\n" * 50) == 6
    assert toggled_reaction("", "👍") == "👍"
    assert toggled_reaction("👍", "👍") == ""
    assert toggled_reaction("👍", "🎉") == "🎉"


@pytest.fixture(scope="module")
def keys() -> dict[str, Identity]:
    return {name: Identity.generate(name) for name in ("you", "bob")}


def test_rows_show_quotes_edits_reactions_and_the_search(keys):
    model = AppModel()
    model.user, model.phase, model.channels = "you", Phase.ONLINE, ("general",)
    model.current_channel = "general"
    now = 1_700_000_000.0

    def say(who, text, **kw):
        message = new_chat(keys[who], channel="general", text=text, ttl=600, now=now, **kw)
        model.messages[message.id] = message
        return message

    first = say("bob", "shall we meet at 3?")
    now += 1
    reply = say("you", "yes, at the café", kind=MessageKind.REPLY, ref=first.id)
    now += 1
    say("bob", "shall we meet at 4?", kind=MessageKind.EDIT, ref=first.id)
    say("you", "nobody else edits this", kind=MessageKind.EDIT, ref=first.id)  # not bob's
    say("you", "👍", kind=MessageKind.REACTION, ref=first.id)
    say("bob", "👍", kind=MessageKind.REACTION, ref=first.id)
    rows = message_rows(model, now)
    assert [row.id for row in rows] == [first.id, reply.id]
    top, answer = rows
    assert (top.text, top.edited, top.reactions, top.my_reaction, top.mine) == (
        "shall we meet at 4?",
        True,
        (("👍", 2),),
        "👍",
        False,
    )
    assert answer.quote == "bob: shall we meet at 4?" and answer.mine
    assert [row.id for row in message_rows(model, now, "CAFÉ")] == [reply.id]
    assert [row.id for row in message_rows(model, now, "bob")] == [first.id]

    # Elsewhere, a reaction or an edit is not a new message: no unread count for it.
    aside = new_chat(keys["bob"], channel="random", text="over here", ttl=600, now=now)
    model.apply(ev.MessageReceived(aside), now)
    for kind, text in ((MessageKind.REACTION, "👀"), (MessageKind.EDIT, "over there")):
        about = new_chat(
            keys["bob"], channel="random", text=text, ttl=600, now=now, kind=kind, ref=aside.id
        )
        model.apply(ev.MessageReceived(about), now)
    assert model.unread == {"random": 1}


# -- the real window ---------------------------------------------------------------------------


@pytest.fixture
def app(app):
    """conftest's app, with links recorded instead of opened in a browser."""
    opened: list[str] = []
    conversation = app.main.conversation
    conversation.open_url = opened.append  # never a real browser
    app.opened = opened
    yield app
    conversation.escape()


class Keyboard:
    """Real key presses and clicks on the test display (XTEST), for the window under the
    pointer."""

    RETURN, SHIFT, CONTROL = 0xFF0D, 0xFFE1, 0xFFE3

    def __init__(self, app) -> None:
        x11_name, xtst_name = ctypes.util.find_library("X11"), ctypes.util.find_library("Xtst")
        if x11_name is None or xtst_name is None:
            pytest.skip("libX11/libXtst are not installed: no way to press keys")
        self.x11, self.xtst = ctypes.CDLL(x11_name), ctypes.CDLL(xtst_name)
        self.x11.XOpenDisplay.restype = ctypes.c_void_p
        self.x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        self.x11.XFlush.argtypes = [ctypes.c_void_p]
        self.x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self.x11.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        self.x11.XKeysymToKeycode.restype = ctypes.c_ubyte
        self.xtst.XTestFakeKeyEvent.argtypes = [
            ctypes.c_void_p,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_ulong,
        ]
        self.xtst.XTestFakeMotionEvent.argtypes = [
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_ulong,
        ]
        self.xtst.XTestFakeButtonEvent.argtypes = [
            ctypes.c_void_p,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_ulong,
        ]
        self.x11.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
        self.x11.XAutoRepeatOff.argtypes = [ctypes.c_void_p]
        self.x11.XAutoRepeatOn.argtypes = [ctypes.c_void_p]
        self.app = app
        self.connection = self.x11.XOpenDisplay(os.environ["DISPLAY"].encode())
        assert self.connection, "cannot open the test display"
        # A slow frame on a busy machine must not turn a press into a held, repeating key
        # (the display is the tests' own).
        self.x11.XAutoRepeatOff(self.connection)
        self._sync()

    def close(self) -> None:
        self.x11.XAutoRepeatOn(self.connection)
        self._sync()
        self.x11.XCloseDisplay(self.connection)

    def _sync(self) -> None:
        """Every event sent is in the server's hands, on its way to the window."""
        self.x11.XSync(self.connection, 0)

    def frames(self, count: int = 2) -> None:
        for _ in range(count):
            self.app.step()

    def point_at(self, item) -> None:
        x, y = dpg.get_viewport_pos()
        left, top = dpg.get_item_rect_min(item)
        self.xtst.XTestFakeMotionEvent(
            self.connection, -1, int(x + left + 20), int(y + top + 10), 0
        )
        self._sync()
        self.frames()

    def right_click(self, item) -> None:
        self.point_at(item)
        for down in (True, False):
            self.xtst.XTestFakeButtonEvent(self.connection, 3, int(down), 0)
            self._sync()
            self.frames()

    def key(self, keysym: int, down: bool) -> None:
        code = self.x11.XKeysymToKeycode(self.connection, keysym)
        self.xtst.XTestFakeKeyEvent(self.connection, code, int(down), 0)
        self._sync()
        self.frames()

    def tap(self, keysym: int, *held: int) -> None:
        for modifier in held:
            self.key(modifier, True)
        self.key(keysym, True)
        self.key(keysym, False)
        for modifier in held:
            self.key(modifier, False)

    def type(self, text: str, into) -> None:
        """Type `text` into an input, each key once it shows the one before."""
        for char in text:
            before = str(dpg.get_value(into))
            self.tap(ord(char))
            self.app.pump_until(lambda b=before, c=char: dpg.get_value(into) == b + c, WAIT)


def test_enter_sends_and_ctrl_enter_starts_a_new_line(app, world):
    go_online(app, world)
    conversation = app.main.conversation
    keyboard = Keyboard(app)
    try:
        keyboard.point_at(conversation.composer)
        dpg.focus_item(conversation.composer)
        keyboard.frames()
        box = conversation.composer
        keyboard.type("line one", box)
        keyboard.tap(Keyboard.RETURN, Keyboard.SHIFT)  # never sends half a message
        keyboard.tap(Keyboard.RETURN, Keyboard.CONTROL)
        app.pump_until(lambda: dpg.get_value(box) == "line one\n", WAIT)
        keyboard.type("line two", box)
        assert dpg.get_value(conversation.composer) == "line one\nline two"
        keyboard.tap(Keyboard.RETURN)
    finally:
        keyboard.close()
    got = world.wait_for(ev.MessageReceived).message
    assert got.text == "line one\nline two"
    app.pump_until(lambda: dpg.get_value(conversation.composer) == "", WAIT)
    app.pump_until(lambda: "line one\nline two" in texts_in(conversation.messages), WAIT)


def _row_id(app, text: str) -> str:
    conversation = app.main.conversation
    app.pump_until(lambda: any(row.text == text for row in conversation._rows.values()), WAIT)
    return next(row.id for row in conversation._rows.values() if row.text == text)


def test_copy_links_reply_edit_and_reactions_in_the_window(app, world):
    go_online(app, world)
    conversation = app.main.conversation
    said = world.ask(SendChat("general", "the plan: https://exаmple.com/plan", 600))
    shown = "the plan: https://xn--exmple-4nf.com/plan"
    bobs = _row_id(app, shown)
    assert bobs == said.id

    text_item = next(item for item, mid in conversation._message_of.items() if mid == bobs)
    mouse = Keyboard(app)
    try:
        mouse.right_click(text_item)  # a real right-click on the message
    finally:
        mouse.close()
    app.pump_until(lambda: dpg.is_item_shown(conversation.menu), WAIT)
    labels = texts_in(conversation.menu_body)
    assert "Edit" not in labels  # bob's message, not ours
    copy = next(
        item
        for item in dpg.get_item_children(conversation.menu_body, 1)
        if dpg.get_item_label(item) == "Copy text"
    )
    click(copy)
    assert dpg.get_clipboard_text() == shown
    assert not dpg.is_item_shown(conversation.menu)

    link = next(
        item
        for item in dpg.get_item_children(dpg.get_item_parent(text_item), 1)
        if dpg.get_item_type(item).endswith("mvButton")
    )
    assert dpg.get_item_label(link) == "↗ https://xn--exmple-4nf.com/plan"
    click(link)
    assert app.opened == ["https://xn--exmple-4nf.com/plan"]

    conversation.start_reply(bobs)
    assert dpg.is_item_shown(conversation.context_bar)
    dpg.set_value(conversation.composer, "on my way")
    click(conversation.composer)  # Enter
    reply = world.wait_for(ev.MessageReceived, lambda e: e.message.text == "on my way").message
    assert (reply.kind, reply.ref) == (MessageKind.REPLY, bobs)
    app.pump_until(lambda: f"↪ bob: {shown}" in texts_in(conversation.messages), WAIT)

    world.ask(EditChat(said.id, "new plan: meet at noon"))
    app.pump_until(
        lambda: (
            "new plan: meet at noon" in texts_in(conversation.messages)
            and "(edited)" in texts_in(conversation.messages)
        ),
        WAIT,
    )
    world.ask(React(said.id, "🎉"))
    app.pump_until(lambda: "🎉 1" in texts_in(conversation.messages), WAIT)
    conversation.react(bobs, "🎉")
    got = world.wait_for(ev.MessageReceived, lambda e: e.message.kind is MessageKind.REACTION)
    assert (got.message.ref, got.message.text) == (bobs, "🎉")
    app.pump_until(lambda: "🎉 2" in texts_in(conversation.messages), WAIT)

    ours = _row_id(app, "on my way")
    conversation.start_edit(ours)
    assert dpg.get_value(conversation.composer) == "on my way"
    dpg.set_value(conversation.composer, "on my way, 5 min")
    click(conversation.composer)
    edit = world.wait_for(ev.MessageReceived, lambda e: e.message.kind is MessageKind.EDIT)
    assert (edit.message.ref, edit.message.text) == (ours, "on my way, 5 min")


def test_ctrl_f_filters_the_channel_and_esc_ends_the_search(app, world):
    go_online(app, world)
    conversation = app.main.conversation
    long = " ".join(["a long line that has to wrap"] * 12) + " and then Apples at its end"
    for text in ("apples are red", "bananas are yellow", "green apples too", long):
        world.say("general", text)
    app.pump_until(lambda: "green apples too" in texts_in(conversation.messages), WAIT)
    app.perform("search")
    assert dpg.is_item_shown(conversation.search_bar)
    dpg.set_value(conversation.search_box, "APPLES")
    click(conversation.search_box)
    app.pump_until(lambda: "bananas are yellow" not in texts_in(conversation.messages), WAIT)
    shown = "".join(texts_in(conversation.messages))
    assert "apples are red" in shown and "green apples too" in shown
    assert dpg.get_value(conversation.search_count) == "3 of 4 messages"
    # Each match is its own piece, as written, in the accent colour and bold, drawn right
    # after the text before it on the same line; the long message wraps within the list.
    marks = conversation.highlights
    assert [dpg.get_value(mark) for mark in marks] == ["apples", "apples", "Apples"]
    accent = [c / 255 for c in app.themes.palette.accent]
    assert all(dpg.get_item_configuration(mark)["color"][:3] == pytest.approx(accent, abs=0.01)
               for mark in marks)
    assert {dpg.get_item_font(mark) for mark in marks} == {app.fonts.bold}
    settle = app.frames + 3
    app.pump_until(lambda: app.frames >= settle, WAIT)
    before = dpg.get_item_children(dpg.get_item_parent(marks[1]), 1)[0]  # "green "
    (x, y), (w, _) = dpg.get_item_rect_min(before), dpg.get_item_rect_size(before)
    assert dpg.get_item_rect_min(marks[1]) == pytest.approx((x + w, y), abs=1)
    # The list's right edge on screen, less the countdown column beside the text.
    right = (dpg.get_item_pos(conversation.root)[0] + dpg.get_item_pos(conversation.messages)[0]
             + dpg.get_item_rect_size(conversation.messages)[0] - COUNTDOWN_WIDTH)
    wrapped = dpg.get_item_children(dpg.get_item_parent(dpg.get_item_parent(marks[2])), 1)
    assert len(wrapped) > 1  # the long message is several lines
    for line in wrapped:
        for piece in dpg.get_item_children(line, 1):
            assert dpg.get_item_rect_min(piece)[0] + dpg.get_item_rect_size(piece)[0] <= right
    app.perform("close_dialog")  # Esc
    assert not dpg.is_item_shown(conversation.search_bar)
    app.pump_until(lambda: "bananas are yellow" in texts_in(conversation.messages), WAIT)


def test_new_messages_scroll_into_view_only_at_the_bottom(app, world):
    go_online(app, world)
    conversation = app.main.conversation
    for number in range(20):
        world.say("general", f"filler {number}\nof\nfour lines")
    app.pump_until(lambda: "filler 19\nof\nfour lines" in texts_in(conversation.messages), WAIT)
    for _ in range(5):
        app.step()
    assert dpg.get_y_scroll_max(conversation.messages) > 0
    assert conversation.at_bottom()  # the newest one is in view

    dpg.set_y_scroll(conversation.messages, 0)  # the reader scrolls back up
    for _ in range(3):  # a scroll shows in the next frame, and is read in the one after
        app.step()
    assert not conversation.at_bottom()
    world.say("general", "while you were reading")
    app.pump_until(lambda: conversation.unseen == 1, WAIT)
    for _ in range(5):
        app.step()
    assert dpg.get_y_scroll(conversation.messages) == 0  # not pulled away
    assert dpg.is_item_shown(conversation.jump)
    assert dpg.get_item_label(conversation.jump) == "↓ 1 new message"
    click(conversation.jump)
    deadline = time.monotonic() + WAIT
    while not conversation.at_bottom() and time.monotonic() < deadline:
        app.step()
    assert conversation.at_bottom() and not dpg.is_item_shown(conversation.jump)
