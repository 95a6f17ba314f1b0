"""What hostile keys and hand-overs cost a hub or client, before and after the bounds.

- A bloated public key (112 self-certified user ids, ~16 KiB; and one of 40 user ids under the
  size cap): refused from its framing, against a full PGPy validation as before.
- A normal key: first validation, then again from the validated-key cache.
- A ~200 KiB sender-key hand-over with ~2,127 session-key packets addressed to the victim:
  opened with the bound, against trying every packet addressed to us as before; an honest
  hand-over as the baseline.
Every "before" is measured in the same run by calling the old code path directly.
Run: python benchmarks/crypto_attacks.py
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from gossip.crypto import (
    CryptoError,
    Identity,
    OutboundSenderKey,
    PublicKey,
    ValidatedKeyCache,
    open_sealed,
)
from gossip.crypto import identity as identity_module
from gossip.crypto._packets import Tag, walk
from gossip.crypto._pgpy import PGPUID, Packet, PGPKey, constants

HAND_OVER_BYTES = 200 * 1024


def _median_ms(action: Callable[[], object], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        try:
            action()
        except CryptoError:
            pass
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def _bloated_key(user_ids: int) -> bytes:
    key = PGPKey.new(constants.PubKeyAlgorithm.EdDSA, constants.EllipticCurveOID.Ed25519)
    for number in range(user_ids):
        key.add_uid(PGPUID.new(f"sybil{number:03d}"),
                    usage={constants.KeyFlags.Sign, constants.KeyFlags.Certify},
                    hashes=[constants.HashAlgorithm.SHA256])
    subkey = PGPKey.new(constants.PubKeyAlgorithm.ECDH, constants.EllipticCurveOID.Curve25519)
    key.add_subkey(subkey, usage={constants.KeyFlags.EncryptCommunications})
    return bytes(key.pubkey)


def _validate_like_before(data: bytes) -> None:
    """The old PublicKey.from_bytes: parse with PGPy, then check every self-signature."""
    parsed = PGPKey.from_blob(data)
    key = parsed[0] if isinstance(parsed, tuple) else parsed
    identity_module._validate_public(key)


def _addressed_to(blob: bytes, victim: Identity) -> list[bytes]:
    keyid = victim.public.encryption_keyids[0]
    return [blob[h.start:h.end] for h in walk(blob) if h.tag == Tag.PKESK
            and blob[h.body_start + 1:h.body_start + 9].hex().upper() == keyid]


def _flooded_hand_over(honest: bytes, victim: Identity) -> bytes:
    """Undecryptable session-key packets addressed to victim, then the honest hand-over."""
    good = _addressed_to(honest, victim)[0]
    bogus = good[:-1] + bytes([good[-1] ^ 1])
    copies = (HAND_OVER_BYTES - len(honest)) // len(bogus)
    return bogus * copies + honest


def _open_like_before(blob: bytes, victim: Identity, sender: Identity) -> bytes:
    """The old opener: every session-key packet addressed to us is tried until one works."""
    for raw in _addressed_to(blob, victim):
        try:
            Packet(bytearray(raw)).decrypt_sk(victim.decryption_keys[0]._key)
        except Exception:  # noqa: BLE001, S112 - a bogus packet: the old code tried the next
            continue
        break
    honest_start = walk(blob)[-2].start  # the honest packet, then the encrypted data
    return open_sealed(blob[honest_start:], victim, sender.public)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    print("== public keys ==")
    for user_ids in (112, 40):
        data = _bloated_key(user_ids)
        before = _median_ms(lambda data=data: _validate_like_before(data), args.repeats)
        after = _median_ms(lambda data=data: PublicKey.from_bytes(data, cache=None),
                           args.repeats * 20)
        try:
            PublicKey.from_bytes(data, cache=None)
            verdict = "accepted"
        except CryptoError as error:
            verdict = f"{type(error).__name__}: {error}"
        print(f"key with {user_ids} user ids, {len(data)} B: before {before:8.1f} ms, "
              f"now {after * 1000:7.1f} us ({verdict})")

    normal = [Identity.generate(f"member{n}").public.to_bytes() for n in range(args.repeats)]
    first_ms = []
    cached_ms = []
    for data in normal:
        keys = ValidatedKeyCache()
        first_ms.append(_median_ms(lambda data=data, keys=keys: PublicKey.from_bytes(
            data, cache=keys), 1))
        cached_ms.append(_median_ms(lambda data=data, keys=keys: PublicKey.from_bytes(
            data, cache=keys), 50))
    print(f"normal key, {len(normal[0])} B: first validation {statistics.median(first_ms):.2f} "
          f"ms, again from the cache {statistics.median(cached_ms) * 1000:.1f} us")

    print("== sealed hand-over flooded with session keys ==")
    alice, victim = Identity.generate("alice"), Identity.generate("victim")
    others = [Identity.generate(f"m{n}") for n in range(8)]
    outbound = OutboundSenderKey.create(alice.public, "general")
    honest = outbound.seal_distribution(alice, [victim.public] + [m.public for m in others])
    flooded = _flooded_hand_over(honest, victim)
    addressed = len(_addressed_to(flooded, victim))
    members = len(others) + 2
    baseline = _median_ms(lambda: open_sealed(honest, victim, alice.public), args.repeats)
    before = _median_ms(lambda: _open_like_before(flooded, victim, alice), args.repeats)
    one_try = _median_ms(lambda: open_sealed(flooded, victim, alice.public,
                                             max_recipients=addressed + 10), args.repeats)
    bounded = _median_ms(lambda: open_sealed(flooded, victim, alice.public,
                                             max_recipients=members + 4), args.repeats)
    print(f"honest hand-over to {members - 1}, {len(honest)} B: {baseline:7.2f} ms (baseline)")
    print(f"flooded, {len(flooded)} B, {addressed} packets to the victim:")
    print(f"  before (every packet tried):            {before:8.2f} ms "
          f"({before / baseline:5.1f}x baseline)")
    print(f"  now, no count bound (one try per key id): {one_try:6.2f} ms "
          f"({one_try / baseline:5.1f}x baseline; refused NotForMe)")
    print(f"  now, max_recipients={members + 4} (members + 4):   {bounded:6.2f} ms "
          f"({bounded / baseline:5.1f}x baseline; refused TooManyRecipients)")


if __name__ == "__main__":
    main()
