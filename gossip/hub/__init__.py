"""The hub: authenticates clients, hands out keys, relays sealed traffic it cannot read."""

from .config import ConfigError, HubConfig, Limits, load_config
from .server import RunningHub, serve_hub

__all__ = ["ConfigError", "HubConfig", "Limits", "RunningHub", "load_config", "serve_hub"]
