"""Several hubs as one cluster over Redis; without it, the hub is one process on its own.

The registry and the login talk to a `Fanout` and a `NameClaims` (backend.py): the local
ones keep today's single process; `RedisCluster` (link.py) shares them through Redis.
"""

from .backend import ClusterUnavailable, Fanout, LocalFanout, LocalNames, NameClaims
from .directory import RemoteDirectory, RemoteMember

__all__ = [
    "ClusterUnavailable",
    "Fanout",
    "LocalFanout",
    "LocalNames",
    "NameClaims",
    "RemoteDirectory",
    "RemoteMember",
]
