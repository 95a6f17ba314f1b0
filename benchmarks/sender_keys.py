"""Per-message cost of channel messages before and after sender keys, for 2, 10 and 50 members.

Before (the baseline, measured in the same run): gossip.crypto.seal to every member, as the
client does today, and open_sealed by one receiver. After: OutboundSenderKey.encrypt (AEAD +
Ed25519 signature) and InboundSenderKey.decrypt by one receiver, plus the one-off cost of
handing the epoch to each member (seal_distribution / open_distribution).
Run: python benchmarks/sender_keys.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from functools import partial

from gossip.crypto import Identity, open_sealed, seal
from gossip.crypto.senderkeys import OutboundSenderKey, open_distribution

PAYLOAD = b"x" * 300  # a typical chat message with its envelope fields
ASSOCIATED = b"alice -> general"
CHANNEL = "general"


def _median_ms(action: Callable[[], object], repeats: int) -> float:
    action()  # warm caches outside the measurement
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def _median_each_ms(actions: Iterator[Callable[[], object]]) -> float:
    """Median of single runs of distinct actions (a sender-key message decrypts only once)."""
    samples = []
    for action in actions:
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (under a minute)")
    args = parser.parse_args()
    slow_repeats, fast_repeats = (5, 50) if args.quick else (21, 500)

    sender = Identity.generate("alice")
    others = [Identity.generate(f"member{i}") for i in range(49)]
    print(f"payload {len(PAYLOAD)} B; medians of {slow_repeats} (PGP) / {fast_repeats} "
          "(sender-key) runs; a channel of N members = the sender + N-1 receivers\n")
    print(f"{'N':>3} | {'PGP seal':>9} {'SK encrypt':>10} {'ratio':>6} | {'PGP open':>9} "
          f"{'SK decrypt':>10} | {'dist seal/member':>16} {'dist open':>9} | "
          f"{'PGP blob':>8} {'SK msg':>6} {'dist blob':>9}")
    seal_costs: dict[int, tuple[float, float, float]] = {}
    for members in (2, 10, 50):
        receivers = others[: members - 1]
        everyone = [sender.public] + [r.public for r in receivers]
        reader = receivers[0]

        pgp_seal = _median_ms(partial(seal, PAYLOAD, sender, everyone), slow_repeats)
        blob = seal(PAYLOAD, sender, everyone)
        pgp_open = _median_ms(partial(open_sealed, blob, reader, sender.public), slow_repeats)

        outbound = OutboundSenderKey.create(sender.public, CHANNEL)
        dist_seal = _median_ms(
            partial(outbound.seal_distribution, sender, [r.public for r in receivers]),
            slow_repeats)
        dist_blob = outbound.seal_distribution(sender, [r.public for r in receivers])
        dist_open = _median_ms(
            partial(open_distribution, dist_blob, reader, sender.public), slow_repeats)
        inbound = open_distribution(dist_blob, reader, sender.public)

        sk_encrypt = _median_ms(partial(outbound.encrypt, PAYLOAD, ASSOCIATED), fast_repeats)
        messages = [outbound.encrypt(PAYLOAD, ASSOCIATED) for _ in range(fast_repeats)]
        # Skip the ones encrypted while timing encrypt, so every decrypt is the in-order case.
        inbound.decrypt(messages[0], ASSOCIATED)
        sk_decrypt = _median_each_ms(
            partial(inbound.decrypt, message, ASSOCIATED) for message in messages[1:])

        print(f"{members:>3} | {pgp_seal:7.2f}ms {sk_encrypt:8.3f}ms {pgp_seal / sk_encrypt:5.0f}x"
              f" | {pgp_open:7.2f}ms {sk_decrypt:8.3f}ms | "
              f"{dist_seal / len(receivers):14.2f}ms {dist_open:7.2f}ms | "
              f"{len(blob):7d}B {len(messages[0]):5d}B {len(dist_blob):8d}B")
        seal_costs[members] = (pgp_seal, sk_encrypt, dist_seal)

    per_member = (seal_costs[50][0] - seal_costs[2][0]) / 48
    pgp_50, sk_50, dist_50 = seal_costs[50]
    print(f"\nPGP sealing costs {per_member:.2f} ms more per extra member; a sender-key message "
          "costs the same whatever the channel's size.")
    print(f"At 50 members, handing out an epoch ({dist_50:.1f} ms) is paid back after "
          f"{dist_50 / (pgp_50 - sk_50):.1f} messages.")

if __name__ == "__main__":
    main()
