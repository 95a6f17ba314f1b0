"""How `gossip-cli` fails: one line on stderr and an exit status a script can act on."""

from __future__ import annotations

EXIT_FAILURE, EXIT_USAGE, EXIT_LOGIN, EXIT_HUB_KEY = 1, 2, 3, 4


class CliError(Exception):
    def __init__(self, message: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.status = status
