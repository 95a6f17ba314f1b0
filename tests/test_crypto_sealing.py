"""Sealed messages and detached signatures: round trips, every refusal, and hostile bytes."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gossip.crypto import (
    BadSignature,
    CryptoError,
    Identity,
    MalformedMessage,
    NotForMe,
    open_sealed,
    seal,
    sign_detached,
    verify_detached,
)
from gossip.crypto._packets import Tag, tags
from gossip.crypto._pgpy import (
    IntegrityProtectedSKEDataV1,
    PGPMessage,
    PGPSignature,
    PKESessionKeyV3,
    constants,
)

PAYLOAD = b"\x00meet at the usual place\xff"


@cache
def people() -> dict[str, Identity]:
    return {name: Identity.generate(name) for name in ("alice", "bob", "carol", "mallory")}


@cache
def sealed_for_bob_and_carol() -> bytes:
    p = people()
    return seal(PAYLOAD, p["alice"], [p["bob"].public, p["carol"].public])


def _encrypt_to(message: PGPMessage, identity: Identity,
                cipher=constants.SymmetricKeyAlgorithm.AES256) -> bytes:
    return bytes(identity.public.encryption_keys[0].encrypt(message, cipher=cipher))


def test_every_recipient_opens_the_same_payload() -> None:
    p = people()
    blob = sealed_for_bob_and_carol()
    assert open_sealed(blob, p["bob"], p["alice"].public) == PAYLOAD
    assert open_sealed(blob, p["carol"], p["alice"].public) == PAYLOAD


def test_one_session_key_and_one_pkesk_per_recipient() -> None:
    p = people()
    recipients = [p[name].public for name in ("alice", "bob", "carol", "bob")]
    blob = seal(b"x", p["alice"], recipients)
    assert tags(blob) == [Tag.PKESK, Tag.PKESK, Tag.PKESK, Tag.SEIPD]
    assert open_sealed(blob, p["alice"], p["alice"].public) == b"x"


def test_empty_payload_and_large_payload() -> None:
    p = people()
    assert open_sealed(seal(b"", p["alice"], [p["bob"].public]), p["bob"], p["alice"].public) == b""
    big = os.urandom(300_000)
    blob = seal(big, p["alice"], [p["bob"].public])
    assert open_sealed(blob, p["bob"], p["alice"].public) == big


def test_seal_needs_a_recipient() -> None:
    with pytest.raises(ValueError):
        seal(b"x", people()["alice"], [])


def test_someone_not_addressed_cannot_open_it() -> None:
    p = people()
    with pytest.raises(NotForMe):
        open_sealed(sealed_for_bob_and_carol(), p["mallory"], p["alice"].public)


def test_the_sender_must_be_the_expected_one() -> None:
    p = people()
    with pytest.raises(BadSignature, match="not signed by 'mallory'"):
        open_sealed(sealed_for_bob_and_carol(), p["bob"], p["mallory"].public)


def test_a_message_signed_by_someone_else_is_refused() -> None:
    p = people()
    blob = seal(PAYLOAD, p["mallory"], [p["bob"].public])
    with pytest.raises(BadSignature):
        open_sealed(blob, p["bob"], p["alice"].public)


def test_an_unsigned_message_is_refused() -> None:
    p = people()
    message = PGPMessage.new(PAYLOAD, format="b",
                             compression=constants.CompressionAlgorithm.Uncompressed)
    with pytest.raises(BadSignature, match="not signed"):
        open_sealed(_encrypt_to(message, p["bob"]), p["bob"], p["alice"].public)


def test_a_message_forwarded_by_a_recipient_is_refused() -> None:
    """Bob re-encrypts Alice's signed message to Carol: the signature names only Bob."""
    p = people()
    blob = seal(PAYLOAD, p["alice"], [p["bob"].public])
    inner = p["bob"].pgp_key.decrypt(PGPMessage.from_blob(blob))
    inner._mdc = None  # PGPy keeps the old integrity packet; a fresh encryption adds its own
    forwarded = _encrypt_to(inner, p["carol"])
    with pytest.raises(BadSignature, match="did not address"):
        open_sealed(forwarded, p["carol"], p["alice"].public)


@pytest.mark.filterwarnings("ignore:Selected compression algorithm")
def test_compressed_content_is_refused() -> None:
    p = people()
    message = PGPMessage.new(PAYLOAD, format="b", compression=constants.CompressionAlgorithm.ZIP)
    message |= p["alice"].pgp_key.sign(message)
    with pytest.raises(MalformedMessage):
        open_sealed(_encrypt_to(message, p["bob"]), p["bob"], p["alice"].public)


@pytest.mark.filterwarnings("ignore:Selected symmetric algorithm")
def test_a_weaker_cipher_is_refused() -> None:
    p = people()
    message = PGPMessage.new(PAYLOAD, format="b",
                             compression=constants.CompressionAlgorithm.Uncompressed)
    message |= p["alice"].pgp_key.sign(message, intended_recipients=[p["bob"].public.pgp_key])
    blob = _encrypt_to(message, p["bob"], cipher=constants.SymmetricKeyAlgorithm.AES128)
    with pytest.raises(MalformedMessage, match="cipher"):
        open_sealed(blob, p["bob"], p["alice"].public)


def test_altered_ciphertext_fails_the_integrity_check() -> None:
    p = people()
    blob = bytearray(sealed_for_bob_and_carol())
    blob[-30] ^= 0x01
    with pytest.raises(MalformedMessage, match="integrity"):
        open_sealed(bytes(blob), p["bob"], p["alice"].public)


def test_a_detached_signature_is_not_a_sealed_message_signature() -> None:
    """A signature made for one purpose never verifies for another."""
    p = people()
    signature = sign_detached(PAYLOAD, p["alice"])
    message = PGPMessage.new(PAYLOAD, format="b",
                             compression=constants.CompressionAlgorithm.Uncompressed)
    message |= PGPSignature.from_blob(signature)
    with pytest.raises(BadSignature, match="another purpose"):
        open_sealed(_encrypt_to(message, p["bob"]), p["bob"], p["alice"].public)


def test_detached_signatures_verify_and_bind_signer_data_and_context() -> None:
    p = people()
    signature = sign_detached(b"offer sdp", p["alice"], context="call-offer")
    verify_detached(b"offer sdp", signature, p["alice"].public, context="call-offer")
    with pytest.raises(BadSignature):
        verify_detached(b"offer sdp!", signature, p["alice"].public, context="call-offer")
    with pytest.raises(BadSignature):
        verify_detached(b"offer sdp", signature, p["bob"].public, context="call-offer")
    with pytest.raises(BadSignature, match="another purpose"):
        verify_detached(b"offer sdp", signature, p["alice"].public)
    with pytest.raises(BadSignature):
        verify_detached(b"offer sdp", b"garbage", p["alice"].public, context="call-offer")
    with pytest.raises(ValueError):
        sign_detached(b"x", p["alice"], context="seal")


@pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg (Debian package gnupg) not installed")
def test_gnupg_decrypts_and_verifies_a_sealed_message() -> None:
    p = people()
    blob = seal(PAYLOAD, p["alice"], [p["bob"].public, p["carol"].public])
    with tempfile.TemporaryDirectory(prefix="gossip-gpg-") as home:
        env = {**os.environ, "GNUPGHOME": home}
        try:
            for key in (p["bob"].armored_private(), p["alice"].public.armored()):
                subprocess.run(["gpg", "--batch", "--import"], input=key.encode(), env=env,
                               check=True, capture_output=True)
            result = subprocess.run(
                ["gpg", "--batch", "--status-fd", "2", "--decrypt"], input=blob, env=env,
                capture_output=True, check=False,
            )
        finally:
            subprocess.run(["gpgconf", "--kill", "all"], env=env, capture_output=True, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stdout == PAYLOAD
    assert f"VALIDSIG {p['alice'].fingerprint}".encode() in result.stderr


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=1024))
def test_random_bytes_only_raise_crypto_errors(blob: bytes) -> None:
    p = people()
    with pytest.raises(CryptoError):
        open_sealed(blob, p["bob"], p["alice"].public)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=1, max_size=64))
def test_pkesk_shaped_garbage_only_raises_crypto_errors(body: bytes) -> None:
    """Garbage inside well-framed packets reaches PGPy's parsers, not just our framing check."""
    p = people()
    blob = sealed_for_bob_and_carol()
    framed = bytes([0xC1, len(body)]) + body if len(body) < 192 else body
    with pytest.raises(CryptoError):
        open_sealed(framed + blob[-200:], p["bob"], p["alice"].public)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_bit_flipped_blobs_only_raise_crypto_errors_or_open_unchanged(data: st.DataObject) -> None:
    p = people()
    blob = bytearray(sealed_for_bob_and_carol())
    flips = data.draw(st.lists(st.integers(0, len(blob) * 8 - 1), min_size=1, max_size=4))
    for bit in flips:
        blob[bit // 8] ^= 1 << (bit % 8)
    try:
        payload = open_sealed(bytes(blob), p["bob"], p["alice"].public)
    except CryptoError:
        return
    # Flips in Carol's session-key packet do not concern Bob; nothing Bob reads may change.
    assert payload == PAYLOAD


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_bit_flipped_detached_signatures_only_raise_bad_signature(data: st.DataObject) -> None:
    p = people()
    signature = bytearray(_detached_signature())
    flips = data.draw(st.lists(st.integers(0, len(signature) * 8 - 1), min_size=1, max_size=3))
    for bit in flips:
        signature[bit // 8] ^= 1 << (bit % 8)
    try:
        verify_detached(PAYLOAD, bytes(signature), p["alice"].public)
    except BadSignature:
        pass


@cache
def _detached_signature() -> bytes:
    return sign_detached(PAYLOAD, people()["alice"])


def _encrypt_plaintext(plaintext: bytes, identity: Identity) -> bytes:
    """Encrypt arbitrary packet bytes to identity, as a hostile channel member could."""
    cipher = constants.SymmetricKeyAlgorithm.AES256
    session_key = cipher.gen_key()
    subkey = identity.public.encryption_keys[0]
    session_packet = PKESessionKeyV3()
    session_packet.encrypter = bytearray(bytes.fromhex(identity.public.encryption_keyids[0]))
    session_packet.pkalg = subkey.key_algorithm
    session_packet.encrypt_sk(subkey._key, cipher, session_key)
    encrypted = IntegrityProtectedSKEDataV1()
    encrypted.encrypt(session_key, cipher, plaintext)
    return bytes(session_packet) + bytes(encrypted)


@cache
def _signed_inner() -> bytes:
    p = people()
    message = PGPMessage.new(PAYLOAD, format="b",
                             compression=constants.CompressionAlgorithm.Uncompressed)
    message |= p["alice"].pgp_key.sign(message, notation={"context@gossip.invalid": "seal"},
                                       intended_recipients=[p["bob"].public.pgp_key])
    return bytes(message)


def test_the_plaintext_helper_builds_what_seal_builds() -> None:
    p = people()
    assert open_sealed(_encrypt_plaintext(_signed_inner(), p["bob"]), p["bob"],
                       p["alice"].public) == PAYLOAD


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_hostile_sender_cannot_crash_the_inner_parser(data: st.DataObject) -> None:
    """The ciphertext is intact, but the signed content inside was mangled by its sender."""
    p = people()
    inner = bytearray(_signed_inner())
    if data.draw(st.booleans()):
        flips = data.draw(st.lists(st.integers(0, len(inner) * 8 - 1), min_size=1, max_size=4))
        for bit in flips:
            inner[bit // 8] ^= 1 << (bit % 8)
    else:
        inner = bytearray(data.draw(st.binary(max_size=300)))
    try:
        payload = open_sealed(_encrypt_plaintext(bytes(inner), p["bob"]), p["bob"],
                              p["alice"].public)
    except CryptoError:
        return
    assert payload == PAYLOAD
