"""The file helpers behind identities and pins: atomic replace, no-clobber create, modes."""

from __future__ import annotations

import stat
from pathlib import Path

from gossip.crypto._files import create_exclusive, ensure_private_dir, write_atomic


def test_write_atomic_replaces_content_and_sets_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "pins.json"
    write_atomic(path, b"one")
    write_atomic(path, b"two")
    assert path.read_bytes() == b"two"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["pins.json"]


def test_create_exclusive_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "identity.asc"
    assert create_exclusive(path, b"first") is True
    assert create_exclusive(path, b"second") is False
    assert path.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["identity.asc"]


def test_create_exclusive_can_make_a_public_file(tmp_path: Path) -> None:
    path = tmp_path / "cert.pem"
    create_exclusive(path, b"cert", 0o644)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_new_directory_is_private_an_existing_one_is_left_alone(tmp_path: Path) -> None:
    new = tmp_path / "a" / "b"
    ensure_private_dir(new)
    assert stat.S_IMODE(new.stat().st_mode) == 0o700
    existing = tmp_path / "shared"
    existing.mkdir(mode=0o755)
    existing.chmod(0o755)
    ensure_private_dir(existing)
    assert stat.S_IMODE(existing.stat().st_mode) == 0o755
