"""Demo mode's own bookkeeping, kept out of the app's model: when the scripted scene's picture
is complete (its opening shown, the viewer's call linked to every scripted caller)."""

from __future__ import annotations

from dataclasses import fields

from gossip.__main__ import SceneWatch
from gossip.client import events as ev
from gossip.ui import notices as nt
from gossip.ui.callview import CallPeer
from gossip.ui.model import AppModel

from .test_ui_model import NOW, in_call, message, online_model


def test_the_demo_scene_is_complete_once_its_opening_shows_and_its_call_is_linked():
    model = online_model()
    watch = SceneWatch()
    model.apply(ev.MessageReceived(message("alice", "hi")), NOW)
    assert not watch.settled(model)  # the scene has not said what it sent yet
    watch.opening_sent(2, call_peers=2)
    model.apply(ev.MessageReceived(message("carol", "hello")), NOW)
    model.apply(nt.CallChanged(in_call(CallPeer("alice", connected=True),
                                       CallPeer("carol"))), NOW)
    assert not watch.settled(model)
    model.apply(ev.CallPeerConnected("general", "carol", 90.0), NOW)
    assert watch.settled(model)


def test_the_viewers_own_messages_do_not_count_and_expired_ones_still_do():
    model = online_model()
    watch = SceneWatch()
    watch.opening_sent(1, call_peers=0)
    model.apply(nt.MessageSent(message("you", "mine")), NOW)
    assert not watch.settled(model)
    model.apply(ev.MessageReceived(message("dave", "brief", ttl=1)), NOW)
    assert watch.settled(model)
    model.expire(NOW + 2)
    assert "dave-brief" not in model.messages and watch.settled(model)


def test_the_apps_model_holds_nothing_of_the_demo():
    names = {field.name for field in fields(AppModel)}
    assert not names & {"received", "settle_after", "settle_call_peers"}
    assert not hasattr(AppModel, "settled")
