"""One profile, several processes: key pins and known hubs are changed under a lock and merged
with what is on disk, so no process loses another's update."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from gossip.crypto import KeyPinStore, KnownHubs, Trust

OLD = "A" * 40
NEW = "B" * 40
CERT_A = ":".join(["aa"] * 32)
CERT_B = ":".join(["bb"] * 32)
UPDATES_PER_PROCESS = 60


def test_two_pin_stores_on_one_file_keep_both_updates(tmp_path: Path) -> None:
    path = tmp_path / "pins.json"
    first, second = KeyPinStore(path), KeyPinStore(path)
    assert first.check("alice", OLD) is Trust.NEW
    assert second.check("bob", OLD) is Trust.NEW  # written on top of first's alice
    # second decides on the file as it is: alice is pinned already, so another key is CHANGED.
    assert second.check("alice", NEW) is Trust.CHANGED
    assert first.trust_of("alice") is Trust.CHANGED
    assert first.trust_of("bob") is Trust.PINNED
    first.accept("alice")
    second.verify("alice", NEW)
    fresh = KeyPinStore(path)
    assert fresh.pinned_fingerprint("alice") == NEW
    assert fresh.trust_of("alice") is Trust.VERIFIED
    assert fresh.pinned_fingerprint("bob") == OLD


def test_two_known_hub_stores_on_one_file_keep_both_updates(tmp_path: Path) -> None:
    path = tmp_path / "known_hubs"
    first, second = KnownHubs(path), KnownHubs(path)
    assert first.check("hub.example", 7000, CERT_A)
    assert second.check("other.example", 7000, CERT_A)
    assert first.pinned("other.example", 7000) == CERT_A
    first.accept("other.example", 7000, CERT_B)
    # second sees first's accept instead of pinning over it.
    assert not second.check("other.example", 7000, CERT_B)
    fresh = KnownHubs(path)
    assert fresh.pinned("hub.example", 7000) == CERT_A
    assert fresh.pinned("other.example", 7000) == CERT_B


def _pin_many(directory: str, name: str, barrier: multiprocessing.synchronize.Barrier) -> None:
    pins = KeyPinStore(Path(directory) / "pins.json")
    hubs = KnownHubs(Path(directory) / "known_hubs")
    barrier.wait(timeout=60)  # both processes start updating together
    for number in range(UPDATES_PER_PROCESS):
        pins.check(f"{name}-{number}", OLD)
        hubs.check(f"{name}-{number}.example", 7000, CERT_A)


def test_two_processes_updating_one_profile_lose_nothing(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [context.Process(target=_pin_many, args=(str(tmp_path), name, barrier))
               for name in ("left", "right")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    pins = KeyPinStore(tmp_path / "pins.json")
    hubs = KnownHubs(tmp_path / "known_hubs")
    for name in ("left", "right"):
        for number in range(UPDATES_PER_PROCESS):
            assert pins.pinned_fingerprint(f"{name}-{number}") == OLD
            assert hubs.pinned(f"{name}-{number}.example", 7000) == CERT_A


def test_a_store_in_memory_takes_no_lock(tmp_path: Path) -> None:
    pins = KeyPinStore(None)
    assert pins.check("alice", OLD) is Trust.NEW
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("store", [KeyPinStore, KnownHubs])
def test_a_deleted_file_is_an_empty_store(tmp_path: Path, store: type) -> None:
    path = tmp_path / "store"
    first = store(path)
    if store is KeyPinStore:
        first.check("alice", OLD)
        path.unlink()
        assert first.check("alice", NEW) is Trust.NEW
    else:
        first.check("hub.example", 7000, CERT_A)
        path.unlink()
        assert first.check("hub.example", 7000, CERT_B)
