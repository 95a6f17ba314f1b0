"""`gossip-cli` / `python -m gossip.cli`: chat from a terminal or a script.

Every failure is one line on stderr and a non-zero exit status, never a traceback:
1 general failure, 2 bad usage or input, 3 login refused, 4 the hub's key changed.
"""

from .main import main

__all__ = ["main"]
