"""The one place that imports PGPy, with its known-noisy warnings silenced.

Other modules do `from gossip.crypto._pgpy import pgpy, constants`; importing PGPy anywhere else
would scatter the imghdr, "moved to decrepit" and "TODO: Self-sigs ..." warnings over every run.
"""

from __future__ import annotations

import warnings

# Filters are scoped to warnings attributed to PGPy's own modules: cryptography's deprecations
# of CFB/TripleDES/Camellia and the stdlib's imghdr deprecation are all raised on PGPy's lines.
_PGPY_MODULES = r"pgpy(\..*)?$"
warnings.filterwarnings("ignore", category=DeprecationWarning, module=_PGPY_MODULES)
# PGPy warns (UserWarning) about its own unimplemented checks; we do those checks ourselves
# (see identity.py and sealing.py), and cryptography's deprecation class is a UserWarning too.
warnings.filterwarnings("ignore", category=UserWarning, module=_PGPY_MODULES)
# Raised with a stacklevel that lands on the caller's line: a recipient's key does not list the
# algorithm we use anyway (we always seal with AES-256 and sign with SHA-256).
warnings.filterwarnings(
    "ignore", message=r"Selected \w+ algorithm not in key preferences", category=UserWarning
)

with warnings.catch_warnings():
    # The import-time imghdr warning is raised while the importer's frame is ours.
    warnings.simplefilter("ignore", DeprecationWarning)
    import pgpy
    from pgpy import constants
    from pgpy.errors import PGPError
    from pgpy.types import Fingerprint

PGPKey = pgpy.PGPKey
PGPMessage = pgpy.PGPMessage
PGPSignature = pgpy.PGPSignature
PGPUID = pgpy.PGPUID

__all__ = [
    "PGPKey",
    "PGPMessage",
    "PGPSignature",
    "PGPUID",
    "PGPError",
    "Fingerprint",
    "constants",
    "pgpy",
]
