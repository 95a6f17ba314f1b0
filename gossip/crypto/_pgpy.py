"""The one place that imports PGPy, with its known-noisy warnings silenced at the source.

Other modules do `from gossip.crypto._pgpy import PGPKey, constants, ...`. PGPy warns about its
own unimplemented checks (we do those in identity.py and sealing.py) and uses cryptography names
that moved to the `decrepit` package; both are handled here, once, for the app and for pytest.
"""

from __future__ import annotations

import importlib
import logging
import warnings
from types import ModuleType
from typing import Any

_log = logging.getLogger("gossip.crypto.pgpy")

with warnings.catch_warnings():
    # PGPy imports imghdr, deprecated since Python 3.11; this is the only import-time warning.
    warnings.simplefilter("ignore", DeprecationWarning)
    import pgpy
    import pgpy.constants
    import pgpy.packet.packets
    import pgpy.pgp
    import pgpy.symenc
    import pgpy.types
    from pgpy import constants
    from pgpy.errors import PGPDecryptionError, PGPError
    from pgpy.packet import Packet
    from pgpy.packet.packets import IntegrityProtectedSKEDataV1, PKESessionKeyV3
    from pgpy.types import Fingerprint


class _QuietWarnings:
    """Stands in for the `warnings` module inside PGPy's modules: warnings go to a debug log.

    Filters cannot do this job: pytest (and any catch_warnings user) resets the filter list
    around every test, and PGPy's "Selected ... not in key preferences" warnings are attributed
    to the caller's module rather than PGPy's.
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(warnings, name)

    @staticmethod
    def warn(message: object, category: type[Warning] | None = None, stacklevel: int = 1,
             source: object = None) -> None:
        _log.debug("PGPy warning: %s", message)


class _PreferDecrepit:
    """A module proxy that finds ciphers and modes in cryptography's `decrepit` package first.

    PGPy 0.6 names CFB, TripleDES, Camellia, ... from their old place, which makes cryptography
    emit a deprecation warning on every encryption; the objects are the same classes.
    """

    def __init__(self, current: ModuleType, decrepit_name: str) -> None:
        self._current = current
        try:
            self._decrepit: ModuleType | None = importlib.import_module(decrepit_name)
        except ImportError:
            self._decrepit = None

    def __getattr__(self, name: str) -> Any:
        if self._decrepit is not None and name in vars(self._decrepit):
            return vars(self._decrepit)[name]
        return getattr(self._current, name)


def _quieten() -> None:
    quiet = _QuietWarnings()
    for module in (pgpy.pgp, pgpy.constants, pgpy.types, pgpy.packet.packets):
        if getattr(module, "warnings", None) is warnings:
            module.warnings = quiet
    if isinstance(getattr(pgpy.constants, "algorithms", None), ModuleType):
        pgpy.constants.algorithms = _PreferDecrepit(
            pgpy.constants.algorithms, "cryptography.hazmat.decrepit.ciphers.algorithms"
        )
    if isinstance(getattr(pgpy.symenc, "modes", None), ModuleType):
        pgpy.symenc.modes = _PreferDecrepit(
            pgpy.symenc.modes, "cryptography.hazmat.decrepit.ciphers.modes"
        )


_quieten()

PGPKey = pgpy.PGPKey
PGPMessage = pgpy.PGPMessage
PGPSignature = pgpy.PGPSignature
PGPUID = pgpy.PGPUID

__all__ = [
    "PGPUID",
    "Fingerprint",
    "IntegrityProtectedSKEDataV1",
    "PGPDecryptionError",
    "PGPError",
    "PGPKey",
    "PGPMessage",
    "PGPSignature",
    "PKESessionKeyV3",
    "Packet",
    "constants",
    "pgpy",
]
