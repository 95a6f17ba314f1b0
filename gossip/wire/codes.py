"""The error code table: every code an `err` frame carries, hub's and client's, in one place.

Codes travel as their string value, so a peer that knows a newer code than ours still decodes
the frame; code compares `frame.code == ErrorCode.SLOW` (a StrEnum equals its value).
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    # login
    AUTH = "auth"                    # wrong password, or a proof that does not check out
    VERSION = "version"              # unsupported protocol version
    BAD_KEY = "bad_key"              # the greeting's public key is unusable
    USER_TAKEN = "user_taken"        # another key is signed in (or registered) under the name
    KEY_TAKEN = "key_taken"          # the key is registered under another name
    THROTTLED = "throttled"          # too many failed logins (this name, or the hub): wait
    REPLACED = "replaced"            # (older hubs) the same user signed in on a newer connection
    TOO_MANY_CONNECTIONS = "too_many_connections"  # the identity has all the connections it may
    TIMEOUT = "timeout"              # a phase took too long (login, keepalive)
    CLUSTER_DOWN = "cluster_down"    # a hub of a cluster cannot reach its peers: try later
    BUSY = "busy"                    # the hub's login queue is full, or was waited in too long
    # any frame
    PROTOCOL = "protocol"            # an event the protocol machine does not allow
    MALFORMED = "malformed"          # bytes that are not a frame
    TOO_LARGE = "too_large"          # a frame over the size limit
    UNKNOWN_COMMAND = "unknown_command"
    RATE = "rate"                    # over the frame rate: this frame was not relayed
    IDLE = "idle"                    # nothing received for too long
    SLOW = "slow"                    # the reader fell too far behind its outbox
    BUDGET = "budget"                # over the sender's bytes per second (fan-out counted)
    CHANNEL_RATE = "channel_rate"    # over the sender's message rate in that channel
    # chat and calls
    FORGED = "forged"                # a client set a field only the hub may set
    UNKNOWN_CHANNEL = "unknown_channel"
    CALL_FULL = "call_full"
    CALL_ELSEWHERE = "call_elsewhere"  # in this call already, from another connection
    NOT_IN_CALL = "not_in_call"
    NOT_ONLINE = "not_online"        # a message `to` a member who is not online
    CALL_CHURN = "call_churn"        # joining and leaving calls faster than allowed
    SEAT_TIMEOUT = "seat_timeout"    # in a call with others, and no signalling in time
    # private channels
    CHANNEL_EXISTS = "channel_exists"      # a channel (open or private) of that name exists
    NOT_MEMBER = "not_member"              # not in that private channel's roster (hub's view)
    ROSTER_REFUSED = "roster_refused"      # an entry that does not continue the log as stored
    ROSTER_FULL = "roster_full"            # the log is at its length or size limit
    TOO_MANY_CHANNELS = "too_many_channels"  # over the private channels per member or hub
    # files
    FILE_TOO_LARGE = "file_too_large"  # over the hub's size limit for one file
    QUOTA = "quota"                    # over the bytes stored for this member, or in all
    UNKNOWN_FILE = "unknown_file"      # no such file (never was, expired, or not yours)
    BAD_CHUNK = "bad_chunk"            # a chunk index or size that does not fit the file
    FILE_INCOMPLETE = "file_incomplete"  # done or get before every chunk is up


# Refusals that concern a call; they name no channel, so every call decides if it is its own.
CALL_ERRORS: frozenset[str] = frozenset({ErrorCode.CALL_FULL, ErrorCode.NOT_IN_CALL,
                                         ErrorCode.CALL_CHURN, ErrorCode.CALL_ELSEWHERE})
