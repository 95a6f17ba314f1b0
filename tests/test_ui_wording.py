"""Every error a person can see reads as a sentence with what to do next: each failure the
connection and the call side can report is worded once (gossip/ui/wording.py), names the hub's
address at most once, and never shows an exception's text, a Python value or a pin that does
not exist yet."""

from __future__ import annotations

import re

import pytest

from gossip.client.errors import HubUnreachable, LoginFailed
from gossip.crypto import HubKeyChanged
from gossip.ui import notices as nt
from gossip.ui.formatting import grouped_fingerprint, short_fingerprint
from gossip.ui.trioside.keeper import ending_of
from gossip.ui.wording import LOGIN_REFUSALS, UNREACHABLE, audio_device_failure, connect_failure
from gossip.wire.codes import ErrorCode

HOST, PORT, USER = "hub.example", 1720, "alice"
NEXT_STEP = re.compile(r"\b(Check|Connect|Pick|Wait|Update|Ask|Compare|ask|compare|pick)\b")


def failed(kind: str, code: str = "", first_visit: bool = False) -> nt.ConnectFailed:
    # The reason is the technical text; it must never be what the card shows.
    return nt.ConnectFailed(
        kind, "RAW DETAIL (Errno 111) None", HOST, PORT, code=code, first_visit=first_visit
    )


CASES = [
    *(failed("login", code) for code in LOGIN_REFUSALS),
    failed("login", ErrorCode.AUTH, first_visit=True),
    failed("login", ErrorCode.AUTH, first_visit=False),
    failed("login", "some_future_code"),
    *(failed("unreachable", cause) for cause in UNREACHABLE),
    failed("hub_key"),
    failed("elsewhere"),
    failed("lost"),
    failed("profile"),
    failed("error"),
]


@pytest.mark.parametrize("failure", CASES, ids=lambda f: f"{f.kind}-{f.code}-{f.first_visit}")
def test_every_connect_failure_is_a_sentence_with_a_next_step(failure: nt.ConnectFailed):
    wording = connect_failure(failure, USER)
    text = wording.sentence
    assert wording.title and text[0].isupper() and text.endswith(".")
    assert NEXT_STEP.search(text), text
    assert "RAW DETAIL" not in text and "None" not in text and "Errno" not in text
    assert text.count(f"{HOST}:{PORT}") <= 1  # the address once, not twice


def test_a_wrong_password_on_a_first_visit_blames_no_pin():
    first = connect_failure(failed("login", ErrorCode.AUTH, first_visit=True), USER).sentence
    again = connect_failure(failed("login", ErrorCode.AUTH, first_visit=False), USER).sentence
    assert "pinned" not in first and "before" not in first and "password" in first
    assert "connected to before" in again


def test_a_device_that_will_not_open_is_named_as_a_person_would():
    default = audio_device_failure("microphone", "", "You are in the call.")
    assert "system's default microphone" in default and "None" not in default
    named = audio_device_failure("speakers", "USB Headset", "The ones you had stay in use.")
    assert "“USB Headset”" in named and named.endswith("stay in use.")


def test_the_session_endings_carry_what_the_wording_needs():
    assert ending_of(LoginFailed(ErrorCode.AUTH, "no"), False).code == "auth"
    assert ending_of(HubUnreachable("x", "refused"), False).code == "refused"
    changed = ending_of(HubKeyChanged("h", 1, "aa:bb", "cc:dd", ""), False)
    assert (changed.pinned_fingerprint, changed.offered_fingerprint) == ("aa:bb", "cc:dd")


def test_fingerprints_read_the_same_wherever_they_show():
    colons = ":".join(["ab", "cd"] * 16)  # how the crypto layer writes a hub's
    grouped = grouped_fingerprint(colons)
    assert re.fullmatch(r"([0-9A-F]{4} ){15}[0-9A-F]{4}", grouped)
    assert grouped_fingerprint(grouped) == grouped
    assert short_fingerprint(colons) == grouped[:9] + " … " + grouped[-9:]
