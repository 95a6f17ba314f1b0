"""The app's call panel and grid with a call of 25 (the relay's size), and a participant whose
frames do not open shown as such: pure view-model tests on what the call side reports."""

from __future__ import annotations

from gossip.client import events as ev
from gossip.client.calltypes import CallState, PeerState
from gossip.crypto.pins import Trust
from gossip.ui import viewmodel as vm
from gossip.ui.callview import CallPeer, CallPhase, CallView
from gossip.ui.gridlayout import grid_layout
from gossip.ui.model import AppModel
from gossip.ui.trioside.callcontrol import participants

NAMES = tuple(f"member{index:02d}" for index in range(24))  # and us: 25


def peer_state(user: str, *, link: str = "relayed", frame_keys: str = "keyed",
               level: float = -70.0) -> PeerState:
    return PeerState(user, link, 50, None, 80.0, False, level, 1.0, False,
                     trust=Trust.PINNED, frame_keys=frame_keys)


def in_call(*peers: CallPeer) -> CallView:
    return CallView(available=True, unavailable_reason="", channel="general",
                    phase=CallPhase.IN_CALL, participants=peers, own_level_dbfs=-90.0)


def test_a_relayed_call_of_25_shows_everyone_heard_and_one_who_does_not_decrypt():
    states = {user: peer_state(user) for user in NAMES}
    states["member07"] = peer_state("member07", frame_keys="failing")
    states["member03"] = peer_state("member03", level=-15.0)
    state = CallState("general", "in_call", (*NAMES, "you"), False, False, states,
                      relayed=True)
    peers = participants(state, "you")
    # Through the relay counts as heard: its hop was checked, their frames opened.
    assert len(peers) == 24 and all(peer.connected for peer in peers)
    assert [peer.user for peer in peers if peer.undecryptable] == ["member07"]

    model = AppModel(user="you")
    model.set_call(in_call(*peers))
    panel = vm.call_panel(model)
    assert len(panel.peers) == 24  # one row each: the panel scrolls, nobody is cut
    rows = {row.user: row for row in panel.peers}
    assert rows["member07"].link_kind == "failed" and "cannot decrypt" in rows["member07"].link
    assert rows["member08"].link_kind == "ok"

    tiles = vm.video_tiles(model)
    assert len(tiles) == 25 and tiles[0].is_self  # ourselves first
    assert all(tile.initials for tile in tiles)  # no video: each tile shows initials
    assert [tile.user for tile in tiles if tile.speaking] == ["member03"]
    assert next(t for t in tiles if t.user == "member07").label.endswith("cannot decrypt")
    layout = grid_layout(len(tiles), 1280, 720)
    assert (layout.columns, layout.rows) == (5, 5)


def test_the_undecryptable_event_marks_the_participant_at_once_and_clears_when_they_open():
    model = AppModel(user="you")
    model.set_call(in_call(CallPeer("bob", connected=True), CallPeer("carol", connected=True)))
    model.apply(ev.CallPeerUndecryptable("general", "bob", "unknown_key"), 1.0)
    assert model.call.peer("bob").undecryptable and not model.call.peer("carol").undecryptable
    assert any(toast.title == "Cannot hear bob" for toast in model.toasts.visible())
    row = next(r for r in vm.call_panel(model).peers if r.user == "bob")
    assert row.link_kind == "failed" and "cannot decrypt" in row.link
    model.apply(ev.CallPeerDecryptable("general", "bob"), 2.0)
    assert not model.call.peer("bob").undecryptable
