"""Files in chunks: a STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár) over
ChaCha20-Poly1305, and the manifest a file message carries (name, size, key, root hash).

Each file gets a fresh random key. Chunk i of plaintext (64 KiB; the last may be shorter) is
sealed under the nonce prefix || i || last-flag, so a chunk moved to another place, a stream
cut short (the new last chunk carries flag 0) and a chunk from another file (another key)
all fail their tag. The root hash (SHA-256 over the chunk ciphertexts' SHA-256s, in order)
commits the sender to the exact ciphertext: a receiver checks each chunk as it comes and the
root once the last one is in, before anything is shown as complete.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from .errors import CryptoError

CHUNK_BYTES = 64 * 1024
TAG_BYTES = 16
SEALED_CHUNK_BYTES = CHUNK_BYTES + TAG_BYTES
KEY_BYTES = 32
PREFIX_BYTES = 7  # 7 + 4 (index) + 1 (last flag) = ChaCha20-Poly1305's 12-byte nonce
MAX_CHUNKS = 2**31 - 1  # the index is 4 bytes; the wire caps counts far lower anyway
# The largest file a manifest may name: the wire's sizes stop below 2 GiB of ciphertext.
MAX_FILE_SIZE = 2**31 - 1
ID_BYTES = 16
# A manifest's text fields, as a receiver bounds them before looking further.
MAX_NAME_CHARS = 255
MAX_MIME_CHARS = 127
_HEX = re.compile(r"[0-9a-f]*")


class ChunkRefused(CryptoError):
    """A chunk that does not open under the file's key at its place (tampered, moved, cut
    short, from another file), or a file whose chunks do not add up to the manifest's root."""


class BadManifest(CryptoError):
    """A file message's manifest is missing fields or has values out of range."""


def chunk_count(size: int) -> int:
    """Chunks a file of `size` plaintext bytes takes (an empty file is one empty chunk)."""
    return max(1, math.ceil(size / CHUNK_BYTES))


def sealed_size(size: int) -> int:
    """Bytes of ciphertext a file of `size` plaintext bytes becomes."""
    return size + TAG_BYTES * chunk_count(size)


def sealed_chunk_size(index: int, count: int, total_sealed: int) -> int:
    """The exact size chunk `index` of `count` must have in a stream of `total_sealed` bytes
    (every chunk is full but the last). The hub checks uploads against it without a key."""
    if index < count - 1:
        return SEALED_CHUNK_BYTES
    return total_sealed - SEALED_CHUNK_BYTES * (count - 1)


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


@dataclass(frozen=True)
class FileKey:
    """A file's key and nonce prefix; fresh for every file, never reused."""

    key: bytes
    prefix: bytes

    @classmethod
    def generate(cls) -> FileKey:
        return cls(ChaCha20Poly1305.generate_key(), os.urandom(PREFIX_BYTES))

    def seal_chunk(self, index: int, plain: bytes, *, last: bool) -> bytes:
        if not 0 <= index < MAX_CHUNKS or len(plain) > CHUNK_BYTES:
            raise ValueError("chunk index or size out of range")
        return ChaCha20Poly1305(self.key).encrypt(_nonce(self.prefix, index, last), plain, None)

    def open_chunk(self, index: int, sealed: bytes, *, last: bool) -> bytes:
        """The plaintext of chunk `index`, or ChunkRefused."""
        if not 0 <= index < MAX_CHUNKS or not TAG_BYTES <= len(sealed) <= SEALED_CHUNK_BYTES:
            raise ChunkRefused(f"chunk {index} has an impossible size or place")
        try:
            return ChaCha20Poly1305(self.key).decrypt(
                _nonce(self.prefix, index, last), sealed, None
            )
        except InvalidTag:
            raise ChunkRefused(
                f"chunk {index} does not verify (tampered, moved, cut short or from another file)"
            ) from None


class RootHash:
    """The root over chunk ciphertexts, fed in index order."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256(b"gossip-file-root-v1")
        self.chunks = 0

    def add(self, sealed: bytes) -> None:
        self.add_digest(hashlib.sha256(sealed).digest())

    def add_digest(self, chunk_digest: bytes) -> None:
        """Fold in a chunk's SHA-256 computed earlier (chunks checked out of order)."""
        self._hash.update(chunk_digest)
        self.chunks += 1

    def digest(self) -> bytes:
        return self._hash.digest()


def seal_stream(source: BinaryIO, key: FileKey, size: int) -> Iterator[tuple[int, bytes]]:
    """Read `size` bytes from `source` a chunk at a time and yield (index, sealed chunk):
    memory stays one chunk whatever the file's size. A file that changes size under us is an
    error, never a silently different upload."""
    count = chunk_count(size)
    for index in range(count):
        want = min(CHUNK_BYTES, size - index * CHUNK_BYTES)
        plain = source.read(want)
        if len(plain) != want:
            raise ValueError("the file changed while it was being sent")
        yield index, key.seal_chunk(index, plain, last=index == count - 1)
    if source.read(1):
        raise ValueError("the file grew while it was being sent")


@dataclass(frozen=True)
class FileManifest:
    """What a file message carries inside its sealed, signed content: enough to fetch,
    check and open the file. `blob` is the hub's name for the stored ciphertext."""

    file_id: str
    name: str
    mime: str
    size: int
    chunks: int
    root: bytes
    key: FileKey
    blob: bytes

    @property
    def sealed_size(self) -> int:
        return sealed_size(self.size)

    def as_fields(self) -> dict[str, Any]:
        """Text and numbers only (the signed content carries no raw bytes)."""
        return {
            "id": self.file_id,
            "name": self.name,
            "mime": self.mime,
            "size": self.size,
            "chunks": self.chunks,
            "root": self.root.hex(),
            "key": self.key.key.hex(),
            "prefix": self.key.prefix.hex(),
            "blob": self.blob.hex(),
        }

    @classmethod
    def from_fields(cls, fields: Any) -> FileManifest:
        """Decode a manifest from a message, checking every field (a sender may lie)."""
        try:
            values = {
                name: fields[name]
                for name in (
                    "id",
                    "name",
                    "mime",
                    "size",
                    "chunks",
                    "root",
                    "key",
                    "prefix",
                    "blob",
                )
            }
        except Exception:
            raise BadManifest("the file message is missing fields") from None
        size, chunks = values["size"], values["chunks"]
        if type(size) is not int or type(chunks) is not int or not 0 <= size <= MAX_FILE_SIZE:
            raise BadManifest("the file's size is not a number in range")
        if chunks != chunk_count(size):
            raise BadManifest("the file's chunk count does not match its size")
        texts = ("id", "name", "mime", "root", "key", "prefix", "blob")
        if not all(isinstance(values[name], str) for name in texts):
            raise BadManifest("the file message has fields of the wrong type")
        if len(values["name"]) > MAX_NAME_CHARS or len(values["mime"]) > MAX_MIME_CHARS:
            raise BadManifest("the file's name or type is too long")
        raw = {}
        for name, length in (
            ("id", ID_BYTES),
            ("root", 32),
            ("key", KEY_BYTES),
            ("prefix", PREFIX_BYTES),
            ("blob", ID_BYTES),
        ):
            text = values[name]
            if len(text) != 2 * length or not _HEX.fullmatch(text):
                raise BadManifest(f"the file's {name} is malformed")
            raw[name] = bytes.fromhex(text)
        return cls(
            file_id=values["id"],
            name=values["name"],
            mime=values["mime"],
            size=size,
            chunks=chunks,
            root=raw["root"],
            key=FileKey(raw["key"], raw["prefix"]),
            blob=raw["blob"],
        )


def new_file_id() -> str:
    return os.urandom(ID_BYTES).hex()
