"""The size a picture claims, read from its header without decoding it (pure).

A few kilobytes of PNG can declare 30000x30000 pixels, and a decoder allocates what the
header says before it reads a pixel: 2.5 GiB for that one. So every picture the box gets
(a camera snapshot, a frame ffmpeg hands over, a file given to ``check-frame``) has its
header read here first, and anything over :data:`MAX_PIXELS` — or in a format whose
header is not read here — is refused before any decoder sees it.
"""

from __future__ import annotations

import struct

from agent.errors import FrameUnavailable, ImageTooLarge

MAX_PIXELS = 4096 * 4096  # 16 Mpx: a 12 MP camera fits, a decompression bomb does not

FORMATS = ("jpeg", "png", "gif", "bmp", "webp", "tiff", "pnm")


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's SOF marker without decoding it; None if not a JPEG."""
    if len(data) < 4 or data[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        # SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if pos + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return (width, height) if width and height else None
        if length < 2:
            return None
        pos += 2 + length
    return None


def _png(data: bytes) -> tuple[int, int] | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR" or len(data) < 24:
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _gif(data: bytes) -> tuple[int, int] | None:
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 10:
        return None
    width, height = struct.unpack("<HH", data[6:10])
    return width, height


def _bmp(data: bytes) -> tuple[int, int] | None:
    if data[:2] != b"BM" or len(data) < 26:
        return None
    (header,) = struct.unpack("<I", data[14:18])
    if header == 12:
        width, height = struct.unpack("<HH", data[18:22])
        return width, height
    width, height = struct.unpack("<ii", data[18:26])
    return abs(width), abs(height)


def _webp(data: bytes) -> tuple[int, int] | None:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP" or len(data) < 30:
        return None
    chunk = data[12:16]
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None


def _tiff(data: bytes) -> tuple[int, int] | None:
    order = {b"II*\x00": "<", b"MM\x00*": ">"}.get(data[:4])
    if order is None or len(data) < 8:
        return None
    (offset,) = struct.unpack(order + "I", data[4:8])
    if offset + 2 > len(data):
        return None
    (count,) = struct.unpack(order + "H", data[offset : offset + 2])
    found: dict[int, int] = {}
    for index in range(min(count, 512)):
        entry = offset + 2 + 12 * index
        if entry + 12 > len(data):
            break
        tag, kind = struct.unpack(order + "HH", data[entry : entry + 4])
        if tag in (256, 257):
            short = kind == 3  # SHORT, else LONG
            field = data[entry + 8 : entry + (10 if short else 12)]
            found[tag] = struct.unpack(order + ("H" if short else "I"), field)[0]
    if 256 in found and 257 in found:
        return found[256], found[257]
    return None


def _pnm(data: bytes) -> tuple[int, int] | None:
    if len(data) < 3 or data[:1] != b"P" or data[1:2] not in b"123456":
        return None
    numbers: list[int] = []
    for line in data[2:512].splitlines():
        for token in line.split(b"#", 1)[0].split():
            if not token.isdigit():
                return None
            numbers.append(int(token))
            if len(numbers) == 2:
                return numbers[0], numbers[1]
    return None


_READERS = {
    "jpeg": jpeg_size,
    "png": _png,
    "gif": _gif,
    "bmp": _bmp,
    "webp": _webp,
    "tiff": _tiff,
    "pnm": _pnm,
}


def image_size(data: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) from the header of a picture in one of :data:`FORMATS`;
    None when it is none of them (or its header is cut short)."""
    for name, reader in _READERS.items():
        try:
            size = reader(data)
        except struct.error:
            size = None
        if size is not None:
            return name, size[0], size[1]
    return None


def check_image(data: bytes, formats: tuple[str, ...] = FORMATS) -> tuple[str, int, int]:
    """The picture's (format, width, height) when the box may decode it; raises
    FrameUnavailable (not one of ``formats``, no size) or ImageTooLarge (over MAX_PIXELS)."""
    found = image_size(data)
    if found is None or found[0] not in formats:
        raise FrameUnavailable("not a JPEG" if formats == ("jpeg",) else "not a readable image")
    name, width, height = found
    if width <= 0 or height <= 0:
        raise FrameUnavailable(f"{name} header gives no picture size")
    if width * height > MAX_PIXELS:
        raise ImageTooLarge(
            f"{name} picture declares {width}x{height} pixels, over the "
            f"{MAX_PIXELS // 1_000_000} Mpx the box decodes"
        )
    return found
