"""The command table: each wire command name from the seed protocol beside a readable name.

Wire names stay short and stable on the wire; code and docs use the readable names.
"""

from __future__ import annotations

from enum import Enum


class Command(str, Enum):
    """Every frame's command. The value is what travels on the wire."""

    GREETING = "grtng"          # client -> hub: version, user, public key
    HUB_HELLO = "hru"           # hub -> client: hub name, hub's PAKE message
    LOGIN_PROOF = "ighru"       # client -> hub: client's PAKE message + key confirmation
    WELCOME = "ig"              # hub -> client: hub's key confirmation
    QUEUED = "qd"               # hub -> client, before the login: your place in line, the wait
    ERROR = "err"               # either way: a refusal with a code and a reason
    KEY_REQUEST = "gmk"         # client -> hub: send me the members' keys
    KEY = "ckp"                 # hub -> client: one member's public key
    CHANNELS = "cup"            # hub -> client: the channel list
    END_OF_KEYS = "eok"         # hub -> client: the key snapshot is complete
    KEY_REMOVED = "rmk"         # hub -> client: a member left
    MESSAGE = "msg"             # either way: an opaque sealed chat message for a channel
    MISSED = "msd"              # hub -> reader: messages of one sender it did not get
    MISSED_BY = "msb"           # hub -> sender: a reader did not get some of your messages
    START_CALL = "start_call"   # client -> hub: join (or start) a channel's call
    CALL_MEMBERS = "gmp"        # hub -> client: who is in the call
    CALL_ROSTER = "cpr"         # hub -> channel members: who is in its call, before joining
    OFFER = "offer"             # peer -> peer via hub: sealed SDP offer
    ANSWER = "answer"           # peer -> peer via hub: sealed SDP answer
    ICE = "ice"                 # peer -> peer via hub: sealed ICE candidate
    HANG_UP = "hang-up"         # client -> hub (and hub -> peers): leave the call
    # private channels (docs/protocol.md, "Private channels"): the roster log, relayed blind
    CREATE_PRIVATE = "mkp"      # client -> hub: create a private channel with its first entry
    ROSTER_APPEND = "rap"       # client -> hub -> members: one signed roster entry appended
    ROSTER_REQUEST = "grl"      # client -> hub: send me a private channel's whole log again
    ROSTER_LOG = "rlg"          # hub -> client: a private channel's whole log (in parts)
    PRIVATE_CHANNELS = "pcl"    # hub -> client: the private channels it lists for you
    # files (docs/architecture.md, "Files"): sealed chunks the hub stores blind until they expire
    FILE_BEGIN = "fbg"          # client -> hub: store a file of this size until then
    FILE_HELD = "fhd"           # hub -> client: a stored file's id and which chunks it holds
    FILE_STATUS = "fst"         # client -> hub: which chunks of this file do you hold?
    FILE_PUT = "fpt"            # client -> hub: one sealed chunk of an upload
    FILE_DONE = "fdn"           # client -> hub: every chunk is up; others may fetch it
    FILE_GET = "fgt"            # client -> hub: send me one chunk of a stored file
    FILE_CHUNK = "fck"          # hub -> client: one sealed chunk of a stored file
    FILE_ABANDON = "fab"        # client -> hub: drop my unfinished upload (its room is free)

    @property
    def readable(self) -> str:
        return self.name.lower()


BY_WIRE_NAME: dict[str, Command] = {command.value: command for command in Command}
