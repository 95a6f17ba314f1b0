"""The hub's settings: defaults, the TOML config file, the environment and the command line.

Precedence: command line > environment (GOSSIP_HUB_PASSWORD) > config file > defaults.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from gossip.wire import DEFAULT_MAX_FRAME_BYTES, DEFAULT_PORT, is_valid_name
from gossip.wire.relay import read_relay_secret

PASSWORD_ENV = "GOSSIP_HUB_PASSWORD"


class ConfigError(ValueError):
    """The configuration is unusable; the message says what to fix."""


@dataclass(frozen=True)
class Limits:
    """Defences against slow, idle and hostile clients; each has a specific error frame."""

    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    handshake_timeout: float = 10.0
    # Frames queued for one slow reader before it is disconnected (it reconnects and
    # catches up); a bounded queue per connection means one slow reader stalls nobody else.
    outbox_frames: int = 512
    max_connections: int = 10_000
    max_connections_per_address: int = 64
    # Connections of one identity (a name under its key: one person's devices) at once; a
    # further one is refused, those there stay. They share the budgets below (per identity).
    connections_per_identity: int = 8
    # Frames per second an identity may send over all its connections (token bucket: the
    # rate, and a burst on top).
    frames_per_second: float = 50.0
    frame_burst: int = 200
    # The hub pings every `keepalive_interval` s; no pong within `keepalive_timeout` s, or no
    # frame at all for `idle_timeout` s, and the connection is closed (the client reconnects).
    keepalive_interval: float = 20.0
    keepalive_timeout: float = 20.0
    idle_timeout: float = 600.0
    # A call is a full mesh: each member sends its audio to every other one.
    max_call_members: int = 8
    # With a relay configured (HubConfig.relay_url), a call of more than `relay_threshold`
    # members goes through it, and a call may have up to `relay_call_members`.
    relay_threshold: int = 5
    relay_call_members: int = 25
    # -- fairness between members (see gossip/hub/fairqueue.py) --
    # Bytes a member may make the hub send each second, counting every recipient (a frame of
    # 200 KiB to ten members costs 2 MiB), with a burst; over it, frames are refused (budget).
    sender_bytes_per_second: float = 4 * 2**20
    sender_bytes_burst: float = 32 * 2**20
    # Messages a member may post per second in one channel, with a burst (channel_rate).
    channel_messages_per_second: float = 20.0
    channel_message_burst: int = 200
    # One reader's outbox in bytes; and one sender's share of it, past which that sender's
    # frames to that reader are dropped (and reported) rather than the reader called slow.
    outbox_bytes: int = 32 * 2**20
    sender_backlog_frames: int = 64
    sender_backlog_bytes: int = 2 * 2**20
    # Readers let go as slow: what they missed is kept (counts only) this long, for this many.
    missed_ttl: float = 600.0
    missed_users: int = 256
    # Calls: joins per second per member (with a burst; hanging up is never refused), and a
    # seat taken by someone who sends no offer, answer or candidate this long, while others
    # are in the call, is given back.
    call_changes_per_second: float = 1.0
    call_change_burst: int = 5
    call_seat_timeout: float = 30.0
    # Before login a connection has proved nothing, so it gets little: frames of at most
    # this many bytes (a greeting carries a public key of at most 16 KiB), read one at a time.
    prelogin_max_frame_bytes: int = 17 * 1024
    # Logins under way at once from one address (one /64 for IPv6); more wait, unread and
    # before TLS, for a slot. Two lets a second device behind the same NAT log in beside the
    # first; a third logs in a moment later rather than failing.
    max_pending_logins_per_address: int = 2
    # Logins under way at once on the whole hub (greeting to welcome); more wait in line,
    # unread, in arrival order (below). A restart's reconnect storm then costs
    # each login its own CPU once: with every login of the storm under way at once, each
    # takes the storm's whole time, all reach their timeouts together and the work is lost.
    # Large enough that holding every turn with silent connections takes many addresses
    # (two turns each), as filling `max_connections` does.
    logins_at_once: int = 128
    # Connections waiting in line for a turn (after TLS and the WebSocket upgrade, before the
    # greeting is read); more are turned away at once (busy). A client that takes queue words
    # (wire.LOGIN_QUEUE_SUBPROTOCOL) is told its place and the expected wait every
    # `login_queue_word_interval` s, and may wait up to `login_queue_wait` s (then busy);
    # one that does not waits up to `handshake_timeout`, in silence. Holding places takes
    # many addresses: each holds at most `max_pending_logins_per_address`.
    login_queue_length: int = 8192
    # TLS and WebSocket handshakes under way at once (before the line above); more wait,
    # unread, in arrival order, up to `handshake_timeout`.
    handshakes_at_once: int = 64
    login_queue_wait: float = 120.0
    login_queue_word_interval: float = 5.0
    # Each failed login makes the address wait before its next exchange starts: base after
    # the first failure, doubling up to the cap; forgotten after `login_failure_memory` s.
    login_penalty_base: float = 0.5
    login_penalty_cap: float = 8.0
    login_failure_memory: float = 300.0
    # Failed logins allowed per user name, and on the whole hub, within `failure_window` s;
    # once spent, logins (of that name, or all) are refused before any cryptography until the
    # window moves on. Addresses that logged in successfully within a day are exempt, so
    # outsiders cannot lock out people who were already here.
    failure_window: float = 600.0
    user_failure_budget: int = 20
    hub_failure_budget: int = 200
    # -- files (gossip/hub/files.py): sealed chunks kept in the data directory until they
    # expire. The largest file (sealed bytes; the wire's sizes stop below 2 GiB), the bytes
    # one member may have stored at once and the whole hub's, and files being uploaded at
    # once per member. File frames are paced by bytes, not by the frame rate: a chunk frame
    # costs its size (at least `file_frame_cost`) from a per-member budget.
    max_file_bytes: int = 1 << 30
    file_quota_per_user: int = 2 << 30
    file_quota_total: int = 20 << 30
    open_uploads_per_user: int = 8
    files_per_user: int = 1000  # stored at once: tiny files cost disk entries, not bytes
    file_bytes_per_second: float = 64 * 2**20
    file_bytes_burst: float = 64 * 2**20
    file_frame_cost: int = 64 * 1024


@dataclass(frozen=True)
class HubConfig:
    name: str = "gossip"
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    password: str | None = None
    channels: tuple[str, ...] = ("general",)
    data_dir: Path = field(default_factory=lambda: platformdirs.user_data_path("gossip-hub"))
    tls: bool = True
    limits: Limits = field(default_factory=Limits)
    # Several hubs as one (gossip/hub/cluster): the Redis they share, redis://HOST:PORT/DB;
    # None, the default, is a hub on its own. A hub that stops beating is gone after
    # `cluster_ttl` seconds (its members are told, and may log in to another hub).
    redis: str | None = None
    cluster_ttl: float = 15.0
    # Prometheus metrics on http://127.0.0.1:PORT/metrics (0: any free port); None: none.
    metrics_port: int | None = None
    # A relay for large calls (`python -m gossip.relay` prints both): clients are told them.
    relay_url: str = ""
    relay_fingerprint: str = ""
    relay_secret_file: str = ""  # the relay made it: the hub signs each member's ticket with it
    relay_secret: bytes = field(default=b"", repr=False)  # read from relay_secret_file

    @property
    def call_members_limit(self) -> int:
        return self.limits.relay_call_members if self.relay_url else self.limits.max_call_members

    def checked(self) -> HubConfig:
        """Return self after checking it, or raise ConfigError saying what is wrong."""
        if not self.password:
            raise ConfigError(
                f"no server password: pass --password, set {PASSWORD_ENV}, or put "
                "password = \"...\" in the config file")
        if not self.channels:
            raise ConfigError("the hub needs at least one channel")
        bad = [name for name in self.channels if not is_valid_name(name)]
        if bad:
            raise ConfigError(f"invalid channel names: {', '.join(bad)} "
                              "(letters, digits, '_', '.', '-', at most 32)")
        if not (0 <= self.port < 65536):
            raise ConfigError(f"port {self.port} is out of range")
        if self.redis is not None and not self.redis.startswith(("redis://", "unix://")):
            raise ConfigError(f"redis = {self.redis!r} is not a Redis address: give "
                              "redis://HOST:PORT/DB")
        if self.cluster_ttl < 0.5:
            raise ConfigError("cluster_ttl must be at least 0.5 seconds")
        if bool(self.relay_url) != bool(self.relay_fingerprint):
            raise ConfigError("a relay needs both relay_url and relay_fingerprint (python -m "
                              "gossip.relay prints them when it starts)")
        if self.relay_url and not self.relay_secret:
            raise ConfigError("a relay needs relay_secret_file too (python -m gossip.relay "
                              "prints where it keeps it)")
        if self.relay_url and not self.relay_url.startswith(("ws://", "wss://")):
            raise ConfigError(f"relay_url {self.relay_url!r} is not a ws:// or wss:// URL")
        return self


def load_config(path: Path | None = None, **overrides: Any) -> HubConfig:
    """Build the hub's config from a TOML file (optional), the environment and overrides."""
    config = HubConfig()
    if path is not None:
        config = _apply_file(config, path)
    password = os.environ.get(PASSWORD_ENV)
    if password:
        config = replace(config, password=password)
    given = {key: value for key, value in overrides.items() if value is not None}
    if "data_dir" in given:
        given["data_dir"] = Path(given["data_dir"])
    if "channels" in given:
        given["channels"] = tuple(given["channels"])
    config = replace(config, **given)
    if config.relay_secret_file and not config.relay_secret:
        try:
            config = replace(config, relay_secret=read_relay_secret(config.relay_secret_file))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return config.checked()


def _apply_file(config: HubConfig, path: Path) -> HubConfig:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    limits_data = data.pop("limits", {})
    known = {item.name for item in fields(HubConfig)} - {"limits"}
    unknown = set(data) - known
    unknown_limits = set(limits_data) - {item.name for item in fields(Limits)}
    if unknown or unknown_limits:
        names = sorted(unknown) + sorted(f"limits.{n}" for n in unknown_limits)
        raise ConfigError(f"{path}: unknown settings {', '.join(names)}")
    if "channels" in data:
        data["channels"] = tuple(data["channels"])
    if "data_dir" in data:
        data["data_dir"] = Path(data["data_dir"]).expanduser()
    try:
        return replace(config, limits=replace(config.limits, **limits_data), **data)
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
