"""PGPy's known warnings never reach the user: not in the app, not in a pytest run."""

from __future__ import annotations

import subprocess
import sys
import warnings

from gossip.crypto import Identity, PublicKey, open_sealed, seal, sign_detached, verify_detached


def test_key_and_message_operations_raise_no_warnings_even_with_every_filter_reset() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter("always")
        alice, bob = Identity.generate("alice"), Identity.generate("bob")
        PublicKey.from_bytes(bob.public.to_bytes())
        blob = seal(b"hi", alice, [bob.public])
        assert open_sealed(blob, bob, alice.public) == b"hi"
        verify_detached(b"x", sign_detached(b"x", alice), alice.public)
    assert [str(w.message) for w in caught] == []


def test_a_fresh_interpreter_prints_no_warnings() -> None:
    script = (
        "from gossip.crypto import Identity, open_sealed, seal\n"
        "a, b = Identity.generate('a'), Identity.generate('b')\n"
        "assert open_sealed(seal(b'hi', a, [b.public]), b, a.public) == b'hi'\n"
    )
    result = subprocess.run([sys.executable, "-W", "always", "-c", script],
                            capture_output=True, text=True, check=True)
    assert result.stderr == ""
