"""What hubs of a cluster tell each other, the replica each keeps of the others' members,
and the hub addresses a client takes: pure parts, no Redis needed."""

from __future__ import annotations

import pytest

from gossip.hub.cluster import news as nw
from gossip.hub.cluster.directory import RemoteDirectory

NEWS = [
    nw.Joined("h1", "alice", b"\0key\0bytes", rejoin=True),
    nw.Left("h1", "alice"),
    nw.CallChanged("h2", "general", "bob", joined=False),
    nw.Published("h1", "general", "alice", b"\0frame\0"),
    nw.Published("h1", "secret", "alice", b"x", {"bob": "ab12", "carol": "cd34"}),
    nw.Direct("h2", "bob", "", "", b"\0\0"),
    nw.Direct("h2", "bob", "ann", "", b"\0sdp", call="general"),
    nw.RosterAppended("h1", "council", "alice", 3, b"\0entry"),
    nw.FileAsked("h2", "f0a1", bytes(range(16)), 32, 16),
    nw.FileAnswered("h1", "f0a1", 33, "", b"\0sealed\0chunk"),
    nw.FileAnswered("h1", "f0a1", 34, "unknown_file", b""),
]


@pytest.mark.parametrize("news", NEWS, ids=lambda news: type(news).__name__)
def test_every_kind_of_news_survives_the_trip_whatever_bytes_it_carries(news):
    assert nw.decode(nw.encode(news)) == news


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"Z\0h1\0alice\0",
        b"J\0h1\0alice",
        b"L\0h1",
        b"M\0h1\0gen eral\0alice\0\0x",
        b"P\0h1\0general\0alice\0bob\0x",
        b"D\0h1\0\xff\xfe\0\0\0x",
        b"F\0h2\0f0a1\0not-hex\x000\x001\x00",
        b"F\0h2\0f0a1\0" + b"00" * 16 + b"\0-1\0001\0",
        b"A\0h1\0f0a1\0x\0\0data",
    ],
)
def test_news_that_does_not_parse_is_refused_whole(data):
    with pytest.raises(nw.MalformedNews):
        nw.decode(data)


def test_replayed_news_tells_the_members_nothing_twice():
    directory = RemoteDirectory("here")
    assert directory.joined("h1", "alice", b"k1")
    assert not directory.joined("h1", "alice", b"k1")  # a snapshot, then the same news
    assert directory.joined("h1", "alice", b"k2")  # another key is news
    assert not directory.joined("here", "bob", b"k")  # our own members are not remote
    assert directory.left("h1", "alice") and not directory.left("h1", "alice")


def test_a_member_on_several_hubs_leaves_only_when_the_last_one_says_goodbye_or_dies():
    directory = RemoteDirectory("here")
    directory.joined("h1", "alice", b"k")
    directory.joined("h1", "carol", b"k3")
    assert not directory.joined("h2", "alice", b"k")  # alice on h2 too (or moved): no news
    assert directory.get("alice").hub == "h2"  # direct frames go where it came last
    assert not directory.left("h1", "alice")  # still on h2
    assert directory.hub_gone("h1") == ["carol"]
    assert [key.user for key in directory.public_keys()] == ["alice"]
    assert directory.hub_gone("h2") == ["alice"]
    assert directory.get("alice") is None and directory.clear() == []


def test_the_cli_takes_a_clusters_hubs_and_refuses_a_malformed_one(monkeypatch):
    from gossip.cli.failures import CliError
    from gossip.cli.main import _check_args, build_parser

    args = build_parser().parse_args(
        ["--hub", "127.0.0.1:1720", "--hub", "[::1]:1721", "--user", "dan", "members"]
    )
    _check_args(args)
    assert (args.host, args.port, args.other_hubs) == ("127.0.0.1", 1720, (("::1", 1721),))
    monkeypatch.setenv("GOSSIP_HUBS", "10.0.0.1:1720,10.0.0.2:1720")
    args = build_parser().parse_args(["--user", "dan", "members"])
    _check_args(args)
    assert args.other_hubs == (("10.0.0.2", 1720),)
    with pytest.raises(CliError, match="HOST:PORT"):
        _check_args(build_parser().parse_args(["--hub", "nonsense", "members"]))
