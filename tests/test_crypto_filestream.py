"""The file STREAM: each chunk opens only under its file's key, at its place, with its
last-chunk flag; the manifest a file message carries is checked field by field."""

from __future__ import annotations

import io

import pytest

from gossip.crypto.filestream import (
    CHUNK_BYTES,
    SEALED_CHUNK_BYTES,
    BadManifest,
    ChunkRefused,
    FileKey,
    FileManifest,
    RootHash,
    chunk_count,
    new_file_id,
    seal_stream,
    sealed_chunk_size,
    sealed_size,
)

PLAIN = bytes(range(256)) * (CHUNK_BYTES * 3 // 256) + b"tail"  # three full chunks and a bit


def _sealed(key: FileKey, plain: bytes = PLAIN) -> list[bytes]:
    return [chunk for _, chunk in seal_stream(io.BytesIO(plain), key, len(plain))]


def _open_all(key: FileKey, chunks: list[bytes]) -> bytes:
    return b"".join(key.open_chunk(i, c, last=i == len(chunks) - 1) for i, c in enumerate(chunks))


def test_a_file_round_trips_and_sizes_add_up() -> None:
    key = FileKey.generate()
    chunks = _sealed(key)
    assert len(chunks) == chunk_count(len(PLAIN)) == 4
    assert sum(map(len, chunks)) == sealed_size(len(PLAIN))
    assert [len(c) for c in chunks] == [
        sealed_chunk_size(i, 4, sealed_size(len(PLAIN))) for i in range(4)
    ]
    assert _open_all(key, chunks) == PLAIN


def test_an_empty_file_is_one_empty_chunk() -> None:
    key = FileKey.generate()
    chunks = _sealed(key, b"")
    assert len(chunks) == 1 and key.open_chunk(0, chunks[0], last=True) == b""


def test_a_tampered_chunk_is_refused() -> None:
    key = FileKey.generate()
    chunks = _sealed(key)
    bad = bytearray(chunks[1])
    bad[100] ^= 1
    with pytest.raises(ChunkRefused):
        key.open_chunk(1, bytes(bad), last=False)


def test_reordered_chunks_are_refused() -> None:
    key = FileKey.generate()
    chunks = _sealed(key)
    with pytest.raises(ChunkRefused):
        key.open_chunk(0, chunks[1], last=False)


def test_a_truncated_stream_is_refused() -> None:
    """Cut after chunk 2: chunk 2 was sealed as not-last, so as the end it fails."""
    key = FileKey.generate()
    chunks = _sealed(key)
    with pytest.raises(ChunkRefused):
        _open_all(key, chunks[:3])


def test_a_forged_last_flag_is_refused() -> None:
    key = FileKey.generate()
    chunks = _sealed(key)
    with pytest.raises(ChunkRefused):
        key.open_chunk(3, chunks[3], last=False)


def test_a_chunk_spliced_from_another_file_or_opened_with_another_key_is_refused() -> None:
    key, other = FileKey.generate(), FileKey.generate()
    spliced = _sealed(key)
    spliced[2] = _sealed(other)[2]
    with pytest.raises(ChunkRefused):
        _open_all(key, spliced)
    with pytest.raises(ChunkRefused):
        _open_all(other, _sealed(key))


def test_an_oversized_chunk_is_refused_before_decrypting() -> None:
    with pytest.raises(ChunkRefused):
        FileKey.generate().open_chunk(0, b"x" * (SEALED_CHUNK_BYTES + 1), last=True)


def test_the_root_hash_changes_with_any_chunk() -> None:
    key = FileKey.generate()
    chunks = _sealed(key)
    one, two = RootHash(), RootHash()
    for chunk in chunks:
        one.add(chunk)
    for chunk in [chunks[0], chunks[2], chunks[1], chunks[3]]:
        two.add(chunk)
    assert one.digest() != two.digest()


def test_a_file_that_changes_while_sent_is_an_error() -> None:
    with pytest.raises(ValueError):
        list(seal_stream(io.BytesIO(PLAIN), FileKey.generate(), len(PLAIN) + 10))
    with pytest.raises(ValueError):
        list(seal_stream(io.BytesIO(PLAIN), FileKey.generate(), len(PLAIN) - 10))


def _manifest() -> FileManifest:
    return FileManifest(
        file_id=new_file_id(),
        name="photo.jpg",
        mime="image/jpeg",
        size=len(PLAIN),
        chunks=chunk_count(len(PLAIN)),
        root=b"r" * 32,
        key=FileKey.generate(),
        blob=b"b" * 16,
    )


def test_a_manifest_round_trips_through_its_fields() -> None:
    manifest = _manifest()
    assert FileManifest.from_fields(manifest.as_fields()) == manifest


@pytest.mark.parametrize(
    "change",
    [
        {"size": -1},
        {"size": 2**40, "chunks": 2**24},
        {"chunks": 99},
        {"key": "zz" * 32},
        {"root": "ab"},
        {"name": 7},
        {"name": "x" * 300},
        {"blob": None},
        {"size": 1.5},
    ],
)
def test_a_malformed_manifest_is_refused(change: dict[str, object]) -> None:
    fields = _manifest().as_fields() | change
    with pytest.raises(BadManifest):
        FileManifest.from_fields(fields)
