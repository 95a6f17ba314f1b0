"""What sealing a chat message costs: seal for 2, 10 and 50 recipients, and open, per message.

Baseline measured in the same run: a detached signature over the same payload (the part of
sealing that does not depend on the number of recipients). Run: python benchmarks/seal_cost.py
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial

from gossip.crypto import Identity, open_sealed, seal, sign_detached

PAYLOAD = b"x" * 300  # a typical chat message with its envelope fields


def _median_ms(action: Callable[[], object], repeats: int) -> float:
    action()  # warm caches outside the measurement
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    sender = Identity.generate("sender")
    members = [Identity.generate(f"member{i}") for i in range(50)]
    baseline = _median_ms(partial(sign_detached, PAYLOAD, sender), args.repeats)
    print(f"baseline: detached signature over {len(PAYLOAD)} B: {baseline:7.2f} ms")

    results: dict[int, float] = {}
    for count in (1, 2, 10, 50):
        recipients = [m.public for m in members[:count]]
        results[count] = _median_ms(partial(seal, PAYLOAD, sender, recipients), args.repeats)
        size = len(seal(PAYLOAD, sender, recipients))
        print(f"seal to {count:2d} recipients: {results[count]:7.2f} ms "
              f"({results[count] / baseline:5.1f}x baseline), blob {size} B")
    per_recipient = (results[50] - results[2]) / 48
    print(f"marginal cost per extra recipient: {per_recipient:.2f} ms")

    for count in (2, 50):
        blob = seal(PAYLOAD, sender, [m.public for m in members[:count]])
        opened = _median_ms(partial(open_sealed, blob, members[0], sender.public), args.repeats)
        print(f"open (message sealed to {count:2d}): {opened:7.2f} ms "
              f"({opened / baseline:5.1f}x baseline)")


if __name__ == "__main__":
    main()
