"""Which files are pictures to show inline: the types we show, what a file's first bytes
say it is, and how small a picture must be to be fetched on its own to be shown.

A file's name and the mime type in its manifest are the sender's word: the mime type says
whether to try, the first bytes choose the decoder (thumbnails.py). No media stack here, so
the window's side may ask without loading PyAV.
"""

from __future__ import annotations

# The mime types shown inline, and the FFmpeg demuxer for each (forced, never guessed).
PICTURE_DEMUXERS = {
    "image/png": "png_pipe",
    "image/jpeg": "jpeg_pipe",
    "image/gif": "gif",
    "image/webp": "webp_pipe",
}
# A picture up to this size is fetched as it arrives, only to be shown (setting
# "auto_fetch_pictures"); a bigger one shows once saved.
AUTO_FETCH_BYTES = 2_000_000
SNIFF_BYTES = 16


def is_picture_type(mime: str) -> bool:
    return mime.lower() in PICTURE_DEMUXERS


def sniff_picture(head: bytes) -> str | None:
    """The picture type the first bytes of a file announce (their magic numbers), or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None
