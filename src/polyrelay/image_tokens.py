"""What an image in a chat message costs in prompt tokens, by OpenAI's rule.

From OpenAI's vision guide ("Calculating costs"): ``detail: "low"`` costs a
flat 85 tokens. ``"high"`` (and ``"auto"``, which picks high for any image
worth tiling) scales the image to fit in a 2048 x 2048 square, then shrinks
it so its shortest side is 768 px (images already smaller are not enlarged),
and costs 170 tokens per 512 px tile plus the 85 base: a 1024 x 1024 image is
4 tiles, 765 tokens. Other providers bill images their own way; this is the
estimate polyrelay uses for them too.

The size is read from the image's own header when the image is inline
(``data:image/...;base64,``): PNG, GIF, JPEG and WebP. A URL is never
fetched (counting must not touch the network), so an image known only by
its URL counts as 1024 x 1024, the most common size of uploaded photos.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from typing import Any

BASE_TOKENS = 85
TILE_TOKENS = 170
TILE_PX = 512
FIT_PX = 2048
SHORT_SIDE_PX = 768
UNKNOWN_SIZE = (1024, 1024)
_HEADER_CHARS = 64 * 1024  # base64 characters decoded first: enough for every header but a JPEG with a big EXIF


def image_part_tokens(part: dict[str, Any]) -> int:
    """Tokens for one ``{"type": "image_url", "image_url": ...}`` content part."""
    image = part.get("image_url")
    if isinstance(image, str):
        url, detail = image, "auto"
    elif isinstance(image, dict):
        url, detail = str(image.get("url") or ""), str(image.get("detail") or "auto")
    else:
        url, detail = "", "auto"
    if detail == "low":
        return BASE_TOKENS
    width, height = image_size(url) or UNKNOWN_SIZE
    return high_detail_tokens(width, height)


def high_detail_tokens(width: int, height: int) -> int:
    if width <= 0 or height <= 0:
        return BASE_TOKENS
    if max(width, height) > FIT_PX:
        scale = FIT_PX / max(width, height)
        width, height = int(width * scale), int(height * scale)
    if min(width, height) > SHORT_SIDE_PX:
        scale = SHORT_SIDE_PX / min(width, height)
        width, height = int(width * scale), int(height * scale)
    tiles = math.ceil(width / TILE_PX) * math.ceil(height / TILE_PX)
    return BASE_TOKENS + TILE_TOKENS * tiles


def image_size(url: str) -> tuple[int, int] | None:
    """(width, height) of an inline base64 image, None when it cannot be read."""
    if not url.startswith("data:"):
        return None
    _, _, encoded = url.partition(",")
    head = _decode(encoded[:_HEADER_CHARS])
    size = _size_from_header(head) if head else None
    if size is None and head[:2] == b"\xff\xd8" and len(encoded) > _HEADER_CHARS:
        size = _size_from_header(_decode(encoded))  # the frame header sits past a large EXIF block
    return size


def _decode(chunk: str) -> bytes:
    chunk = chunk[: len(chunk) - len(chunk) % 4]
    try:
        return base64.b64decode(chunk)
    except (binascii.Error, ValueError):
        return b""


def _size_from_header(data: bytes) -> tuple[int, int] | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_size(data)
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    kind = data[12:16]
    if kind == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L" and len(data) >= 25:
        b0, b1, b2, b3 = data[21:25]
        return 1 + (((b1 & 0x3F) << 8) | b0), 1 + (((b3 & 0xF) << 10) | (b2 << 2) | ((b1 & 0xC0) >> 6))
    if kind == b"VP8X" and len(data) >= 30:
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    return None


# JPEG start-of-frame markers (SOF0-SOF15 without DHT, JPG and DAC), which carry the size.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _SOF_MARKERS:
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        i += 2 + length
    return None
