"""Small file helpers for secrets and pins: private directories, atomic and no-clobber writes,
and an exclusive lock for stores that several processes on one profile update.

Writes go to a temporary file in the same directory, are flushed to disk, then renamed (replace)
or hard-linked (create only if absent), so a crash never leaves a half-written key or pin file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Generic, TypeVar

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def ensure_private_dir(path: Path) -> None:
    """Create path (and parents) if missing; a directory we create is made 0700.

    An existing directory keeps its mode: it may be one the user chose on purpose, and the
    secrets inside are protected by their own 0600 mode.
    """
    if path.is_dir():
        return
    path.mkdir(parents=True, mode=PRIVATE_DIR_MODE, exist_ok=True)
    # mkdir's mode is filtered by the umask; set it exactly.
    with contextlib.suppress(OSError):
        os.chmod(path, PRIVATE_DIR_MODE)


def _write_temp(path: Path, data: bytes, mode: int) -> Path:
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with contextlib.suppress(OSError, AttributeError):
            os.fchmod(fd, mode)  # the umask may have removed bits we want (e.g. 0644)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temp.unlink(missing_ok=True)
        raise
    os.close(fd)
    return temp


def _sync_dir(path: Path) -> None:
    # Makes the rename durable on POSIX; not possible (nor needed) everywhere.
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int = PRIVATE_FILE_MODE) -> None:
    """Replace path's content with data in one step, leaving the file with the given mode."""
    temp = _write_temp(path, data, mode)
    try:
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _sync_dir(path.parent)


def create_exclusive(path: Path, data: bytes, mode: int = PRIVATE_FILE_MODE) -> bool:
    """Create path holding data unless it exists; True if we created it.

    A hard link fails if the target exists, so two processes racing to create the same
    identity cannot overwrite each other's key.
    """
    temp = _write_temp(path, data, mode)
    try:
        os.link(temp, path)
    except FileExistsError:
        return False
    finally:
        temp.unlink(missing_ok=True)
    _sync_dir(path.parent)
    return True


FileStamp = tuple[int, int, int, int]


def file_stamp(path: Path) -> FileStamp | None:
    """What identifies this version of the file (None if absent): every atomic write makes a
    new inode, so a stamp that did not change means the content did not either."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on path's lock file (beside it) for the block.

    The store itself cannot be locked: it is replaced by each write. flock is per open file,
    so two stores in one process exclude each other as two processes do; the lock goes with
    the descriptor, even if the process dies.
    """
    ensure_private_dir(path.parent)
    fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


Entry = TypeVar("Entry")


class SharedPinFile(Generic[Entry]):
    """A pin store kept in one small file that several processes on a profile update: each
    change is decided under a lock on the file as it is on disk (`_change`), and a read
    rereads the file only when another writer replaced it (`_refresh`). Subclasses say how
    the file reads (`_load`) and write it themselves inside `_change`; None keeps the pins in
    memory only."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._pins: dict[str, Entry] = {}
        self._stamp: FileStamp | None = None
        self._refresh()

    def _refresh(self) -> None:
        """Reread the file if another store or process replaced it since we last did."""
        if self._path is None:
            return
        stamp = file_stamp(self._path)
        if stamp != self._stamp:
            self._pins = {} if stamp is None else self._load(self._path)
            self._stamp = stamp

    @contextlib.contextmanager
    def _change(self) -> Iterator[None]:
        """Decide and write one change under the lock, on the pins as they are on disk."""
        if self._path is None:
            yield
            return
        with exclusive_lock(self._path):
            self._refresh()
            yield

    @staticmethod
    def _load(path: Path) -> dict[str, Entry]:
        raise NotImplementedError
