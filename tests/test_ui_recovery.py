"""Recovering from a changed hub certificate in the window: the connect card says what
happened as a sentence, shows the pinned and the new fingerprint in the one format used
everywhere, scrolls so the way forward is reachable in a small window at large text, trusts
the new certificate only after a confirmation that says what it means, and an error goes away
once the user changes what it was about."""

from __future__ import annotations

import re

import dearpygui.dearpygui as dpg
import pytest

from gossip.client.profile import Profile
from gossip.ui.formatting import grouped_fingerprint
from gossip.ui.model import Phase

from .appwindow import WAIT, PeerWorld, click
from .conftest import PASSWORD

GROUPED = re.compile(r"([0-9A-F]{4} ){15}[0-9A-F]{4}")
STALE_PIN = ":".join(["5a"] * 32)


@pytest.fixture
def app(window, tmp_path):
    window.profile_root = tmp_path / "profiles"
    yield window
    window.confirm_dialog.close()
    window.set_font_scale(1.0)
    dpg.set_viewport_width(1240)
    dpg.set_viewport_height(800)
    window.disconnect()
    window.pump_until(lambda: window.model.phase in (Phase.IDLE, Phase.FAILED), WAIT)


def settle(app) -> None:
    target = app.frames + 6  # the card's content is measured a frame after it changes
    app.pump_until(lambda: app.frames >= target, WAIT)


def inside(item: int | str, outer: int | str) -> bool:
    (x, y), (w, h) = dpg.get_item_rect_min(item), dpg.get_item_rect_size(item)
    (ox, oy), (ow, oh) = dpg.get_item_pos(outer), dpg.get_item_rect_size(outer)
    return ox <= x and oy <= y and x + w <= ox + ow and y + h <= oy + oh


def test_a_changed_certificate_is_shown_scrollable_and_trusted_only_after_confirming(app, tmp_path):
    with PeerWorld(tmp_path / "world") as world:
        # This computer knew the hub's address with another certificate.
        Profile.open("you", app.profile_root / "you").known_hubs.accept(
            "127.0.0.1", world.port, STALE_PIN
        )
        app.set_font_scale(1.5)
        dpg.set_viewport_width(960)
        dpg.set_viewport_height(620)
        app.connect("127.0.0.1", world.port, "you", PASSWORD, remember=False)
        app.pump_until(lambda: app.model.phase is Phase.FAILED, WAIT)
        card = app.connect_view
        app.pump_until(lambda: dpg.is_item_shown(card.hub_key), WAIT)
        assert dpg.get_value(card.error_title) == "The hub's certificate changed"
        assert f"127.0.0.1:{world.port}" in dpg.get_value(card.error)
        old, new = (str(dpg.get_value(i)) for i in (card.old_fingerprint, card.new_fingerprint))
        assert old == grouped_fingerprint(STALE_PIN) and GROUPED.fullmatch(new) and old != new

        # The card is shorter than what it holds: it scrolls to the button.
        settle(app)
        assert not inside(card.trust_hub, card.card)
        dpg.set_y_scroll(card.card, dpg.get_y_scroll_max(card.card))
        settle(app)
        assert inside(card.trust_hub, card.card)

        click(card.trust_hub)
        app.pump_until(lambda: app.confirm_dialog.shown, WAIT)
        asked = str(dpg.get_value(app.confirm_dialog.body))
        assert new in asked and "operator" in asked
        pins = Profile.open("you", app.profile_root / "you").known_hubs
        assert pins.pinned("127.0.0.1", world.port) == STALE_PIN  # nothing trusted yet
        click(app.confirm_dialog.confirm)
        app.pump_until(lambda: app.model.phase is Phase.ONLINE, WAIT)
        assert grouped_fingerprint(pins.pinned("127.0.0.1", world.port) or "") == new


def test_an_error_goes_away_once_the_user_changes_what_it_was_about(app, tmp_path):
    with PeerWorld(tmp_path / "world") as world:
        card = app.connect_view
        dpg.set_value(card.host, "127.0.0.1")
        dpg.set_value(card.port, str(world.port))
        dpg.set_value(card.user, "you")
        dpg.set_value(card.password, "not the password")
        click(card.button)
        app.pump_until(lambda: app.model.phase is Phase.FAILED, WAIT)
        app.pump_until(lambda: dpg.is_item_shown(card.error_box), WAIT)
        sentence = str(dpg.get_value(card.error))
        assert "did not accept the password for you" in sentence and "pinned" not in sentence
        dpg.set_value(card.password, PASSWORD)  # the user types the right one
        app.pump_until(lambda: not dpg.is_item_shown(card.error_box), WAIT)
