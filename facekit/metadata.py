"""A photo's colour profile (ICC) and, when asked, its EXIF, carried into the annotated image OpenCV encodes.

OpenCV writes pixels only: a Display-P3 or Adobe-RGB photo's annotated image had no profile, so every viewer
read its numbers as sRGB and showed it dull. The profile is copied byte for byte (a JPEG's APP2 segments, a
PNG's iCCP chunk). EXIF is not copied unless asked (`keep_exif`): a photo of people shared once annotated
should not publish where it was taken, the camera's serial number, or (in its thumbnail) the photo before it
was annotated. Asked for, it is copied without the GPS position and the thumbnail, and with Orientation 1: the
pixels OpenCV read are already upright, and a copied Orientation 6 turned the annotated image a second time.
"""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

_ORIENTATION, _GPS_IFD, _THUMB_AT, _THUMB_LEN = 0x0112, 0x8825, 0x0201, 0x0202
_EXIF_IFD, _PIXEL_WIDTH, _PIXEL_HEIGHT = 0x8769, 0xA002, 0xA003
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
# A JPEG segment holds at most 65,533 bytes after its length: an ICC profile is cut into numbered APP2 parts
# of this size (the ICC's own rule), an EXIF block longer than one segment is left out.
_ICC_CHUNK = 65_519
_SEGMENT_MAX = 65_533
_EXIF_HEADER = b"Exif\0\0"


@dataclass(frozen=True)
class PhotoMetadata:
    icc: bytes | None = None  # an RGB profile only: a gray or CMYK one does not describe the BGR OpenCV decoded
    exif: bytes | None = None  # a TIFF block (byte order mark first), already cleaned by `clean_exif`
    unread: bool = False  # the photo has an EXIF block that `clean_exif` could not read (left out)


def photo_metadata(path: str | os.PathLike, keep_exif: bool = False,
                   size: tuple[int, int] | None = None) -> PhotoMetadata:
    """What of `path`'s metadata an annotated image of `size` (width, height) keeps; empty where there is none
    or it cannot be read (the pixels were read already: their annotated image is written without it rather than
    not at all)."""
    path = Path(path)
    if not path.is_file():  # a pipe or a device was read once already: a second read would wait forever
        return PhotoMetadata()
    try:
        info = _header_info(path)
    except Exception:  # noqa: BLE001 - Pillow's and libheif's errors come as many types; metadata is optional
        return PhotoMetadata()
    icc = info.get("icc_profile") or None
    if not isinstance(icc, bytes) or len(icc) < 128 or icc[16:20] != b"RGB ":
        icc = None
    exif = info.get("exif") if keep_exif else None
    if isinstance(exif, bytes) and len(exif) > len(_EXIF_HEADER):
        cleaned = clean_exif(exif[len(_EXIF_HEADER):] if exif.startswith(_EXIF_HEADER) else exif, size)
        return PhotoMetadata(icc, cleaned, unread=cleaned is None)
    return PhotoMetadata(icc, None)


def _header_info(path: Path) -> dict:
    """Pillow's `info` of the photo (its headers only, no pixels decoded); a HEIC's through pillow-heif."""
    from .preprocess import HEIF_EXTENSIONS, _is_heif

    with open(path, "rb") as fh:
        head = fh.read(12)
    if path.suffix.lower() in HEIF_EXTENSIONS or _is_heif(head):
        import pillow_heif

        return pillow_heif.open_heif(path).info
    from PIL import Image

    # Pillow's DecompressionBombWarning of a photo over 89 MP, which load_image has read already, was a
    # stray line on standard error; one past twice that raises, and that photo's annotated image keeps nothing.
    # So was its "Corrupt EXIF data" UserWarning (two lines, a file path of Pillow's), with or without
    # --keep-exif, which says in its own line what a broken block means for the annotated image.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.simplefilter("ignore", UserWarning)
        with Image.open(path) as image:
            info = dict(image.info)
            if image.format == "TIFF" and "exif" not in info:
                info["exif"] = _tiff_exif(image)
            return info


# The tags of a TIFF's first directory that an EXIF block's holds too (description, camera, orientation,
# resolution, software, date, artist, copyright, and the EXIF and GPS directories); the others say how the
# TIFF's own pixels are stored (strips, compression, samples), which an annotated image's EXIF must not.
_EXIF_IFD0_TAGS = frozenset({270, 271, 272, 274, 282, 283, 296, 305, 306, 315, 318, 319, 33432, _EXIF_IFD, _GPS_IFD})


def _tiff_exif(image) -> bytes | None:
    """A TIFF photo's EXIF, which Pillow keeps among the TIFF's own tags, not in `info` as for a JPEG, PNG or WebP:
    --keep-exif on a scanner's or a camera's TIFF copied none of it, in silence."""
    exif = image.getexif()
    for ifd in (_EXIF_IFD, _GPS_IFD):
        exif.get_ifd(ifd)  # loaded, so that tobytes() writes it
    for tag in [tag for tag in exif if tag not in _EXIF_IFD0_TAGS]:
        del exif[tag]
    return exif.tobytes() if len(exif) else None


def clean_exif(tiff: bytes, size: tuple[int, int] | None = None) -> bytes | None:
    """A photo's EXIF (TIFF block) edited in place: Orientation 1, the GPS directory and the thumbnail (IFD1)
    removed, their bytes zeroed, and the pixel size the image's `size` (a photo stored sideways, or enlarged to
    be drawn on, is not the size its camera wrote). In place, so that the offsets inside a camera's maker note
    stay right. None where the block is not one this can read (it is then left out, not copied unedited)."""
    if tiff[:4] not in (b"II*\0", b"MM\0*"):
        return None
    buf = bytearray(tiff)
    order = "<" if tiff[:2] == b"II" else ">"
    try:
        ifd0 = _unpack(order + "I", buf, 4)
        entries = _entries(buf, ifd0, order)
        for at, tag, kind, count in entries:
            if tag == _ORIENTATION and kind == 3 and count == 1:
                struct.pack_into(order + "H", buf, at + 8, 1)
        if size is not None:
            for exif_ifd in [_unpack(order + "I", buf, at + 8) for at, tag, _, _ in entries if tag == _EXIF_IFD]:
                for at, tag, kind, count in _entries(buf, exif_ifd, order):
                    value = {_PIXEL_WIDTH: size[0], _PIXEL_HEIGHT: size[1]}.get(tag)
                    if value is not None and count == 1 and (kind == 4 or (kind == 3 and value < 1 << 16)):
                        struct.pack_into(order + ("I" if kind == 4 else "H"), buf, at + 8, value)
        gps = [(at, _unpack(order + "I", buf, at + 8)) for at, tag, _, _ in entries if tag == _GPS_IFD]
        next_at = ifd0 + 2 + 12 * len(entries)
        thumbnail = _unpack(order + "I", buf, next_at)
        for _, offset in gps:
            _zero_ifd(buf, offset, order)
        if thumbnail:
            _zero_ifd(buf, thumbnail, order)
        # The GPS pointer's entry goes: the entries after it move up, the directory ends 12 bytes sooner.
        kept = [bytes(buf[at:at + 12]) for at, tag, _, _ in entries if tag != _GPS_IFD]
        struct.pack_into(order + "H", buf, ifd0, len(kept))
        buf[ifd0 + 2:next_at + 4] = b"".join(kept) + bytes(4) + bytes(12 * (len(entries) - len(kept)))
    except (struct.error, IndexError, ValueError):
        return None
    return bytes(buf)


def _unpack(fmt: str, buf: bytearray, at: int) -> int:
    if at < 0 or at + struct.calcsize(fmt) > len(buf):
        raise ValueError("offset outside the EXIF block")
    return struct.unpack_from(fmt, buf, at)[0]


def _entries(buf: bytearray, ifd: int, order: str) -> list[tuple[int, int, int, int]]:
    """(where, tag, type, count) of each entry of the directory at `ifd`."""
    n = _unpack(order + "H", buf, ifd)
    if ifd + 2 + 12 * n + 4 > len(buf):
        raise ValueError("directory past the EXIF block")
    return [(at, *struct.unpack_from(order + "HHI", buf, at)) for at in range(ifd + 2, ifd + 2 + 12 * n, 12)]


def _zero_ifd(buf: bytearray, ifd: int, order: str) -> None:
    """Zero a directory, the values it keeps outside itself and the thumbnail it points to."""
    entries = _entries(buf, ifd, order)
    values = {tag: _unpack(order + "I", buf, at + 8) for at, tag, kind, count in entries if kind == 4 and count == 1}
    for at, _, kind, count in entries:
        size = _TYPE_SIZES.get(kind, 1) * count
        if size > 4:
            start = _unpack(order + "I", buf, at + 8)
            buf[start:start + size] = bytes(len(buf[start:start + size]))
    if _THUMB_AT in values and _THUMB_LEN in values:
        start, size = values[_THUMB_AT], values[_THUMB_LEN]
        buf[start:start + size] = bytes(len(buf[start:start + size]))
    buf[ifd:ifd + 2 + 12 * len(entries) + 4] = bytes(2 + 12 * len(entries) + 4)


_UNREAD = "its EXIF block could not be read (an offset past its end, a layout not TIFF's): left out"


def with_metadata(encoded: bytes, meta: PhotoMetadata) -> tuple[bytes, str | None]:
    """`encoded` (OpenCV's JPEG, PNG or WebP) with `meta` put in, and why its EXIF was left out, where it was
    (None otherwise): its caller says so, as --keep-exif asked for it. OpenCV's TIFF and BMP writers keep none
    of it, and facekit does not rebuild them."""
    if meta.unread:  # copied unedited, it could carry what --keep-exif promises to leave out (GPS, thumbnail)
        return with_metadata(encoded, PhotoMetadata(meta.icc))[0], _UNREAD
    if not (meta.icc or meta.exif):
        return encoded, None
    if encoded[:2] == b"\xff\xd8":
        return _jpeg_with(encoded, meta)
    if encoded[:8] == b"\x89PNG\r\n\x1a\n":
        return _png_with(encoded, meta), None
    if encoded[:4] == b"RIFF" and encoded[8:16] in (b"WEBPVP8 ", b"WEBPVP8L"):
        return _webp_with(encoded, meta), None
    return encoded, ("OpenCV writes this format's pixels only; a .jpg, .png or .webp output keeps it"
                     if meta.exif else None)


def _jpeg_with(encoded: bytes, meta: PhotoMetadata) -> tuple[bytes, str | None]:
    segments = []
    unkept = None
    exif = _trimmed(meta.exif) if meta.exif else None
    if exif and len(_EXIF_HEADER) + len(exif) <= _SEGMENT_MAX:
        segments.append(_segment(0xE1, _EXIF_HEADER + exif))
    elif exif:
        # No reader joins an EXIF block split over segments: it is left out, and said so, not lost in silence.
        unkept = (f"its EXIF ({len(exif):,} bytes) is longer than a JPEG's EXIF segment holds "
                  f"({_SEGMENT_MAX - len(_EXIF_HEADER):,}); a .png output keeps it")
    if meta.icc:
        parts = [meta.icc[i:i + _ICC_CHUNK] for i in range(0, len(meta.icc), _ICC_CHUNK)]
        if len(parts) < 256:  # numbered with one byte
            segments += [_segment(0xE2, b"ICC_PROFILE\0" + bytes([n, len(parts)]) + part)
                         for n, part in enumerate(parts, 1)]
    at = 2  # after SOI, and after OpenCV's JFIF APP0, which readers expect first
    if encoded[2:4] == b"\xff\xe0":
        at += 2 + struct.unpack(">H", encoded[4:6])[0]
    return encoded[:at] + b"".join(segments) + encoded[at:], unkept


_SUB_IFDS = (_EXIF_IFD, 0xA005, 0x014A)  # the EXIF and interoperability directories, a TIFF's SubIFDs


def _trimmed(tiff: bytes) -> bytes:
    """`tiff` (as `clean_exif` left it) without the zeroed bytes at its end that nothing it keeps points into: a
    phone's thumbnail, written last and zeroed, made a block too long for a JPEG's segment out of one that fits.
    Only zeros go, so nothing is lost; a block this cannot walk is returned as it is."""
    order = "<" if tiff[:2] == b"II" else ">"
    buf = bytearray(tiff)
    try:
        end = 8
        todo, seen = [_unpack(order + "I", buf, 4)], set()
        while todo:
            ifd = todo.pop()
            if ifd in seen:
                continue
            seen.add(ifd)
            entries = _entries(buf, ifd, order)
            end = max(end, ifd + 2 + 12 * len(entries) + 4)
            for at, tag, kind, count in entries:
                size = _TYPE_SIZES.get(kind, 1) * count
                if size > 4:
                    end = max(end, _unpack(order + "I", buf, at + 8) + size)
                if tag in _SUB_IFDS and kind in (4, 13):  # their offsets, in the entry or in the array it points to
                    table = at + 8 if size <= 4 else _unpack(order + "I", buf, at + 8)
                    todo += [_unpack(order + "I", buf, table + 4 * i) for i in range(count)]
            if _unpack(order + "I", buf, ifd + 2 + 12 * len(entries)):  # an IFD1 left: not cleaned, not trimmed
                return tiff
    except (struct.error, ValueError):
        return tiff
    end += end % 2  # values start on a word boundary
    return tiff[:end] if end < len(tiff) and not any(tiff[end:]) else tiff


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _png_with(encoded: bytes, meta: PhotoMetadata) -> bytes:
    chunks = []
    if meta.icc:
        chunks.append(_chunk(b"iCCP", b"ICC Profile\0\0" + zlib.compress(meta.icc)))
    if meta.exif:
        chunks.append(_chunk(b"eXIf", meta.exif))
    at = 8 + 12 + struct.unpack(">I", encoded[8:12])[0]  # after IHDR: both must come before the pixels
    return encoded[:at] + b"".join(chunks) + encoded[at:]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _webp_with(encoded: bytes, meta: PhotoMetadata) -> bytes:
    """OpenCV's simple WebP (one VP8 or VP8L chunk) made an extended one: a VP8X header that says which of the
    ICCP and EXIF chunks follow, the profile before the pixels and the EXIF after them, as the WebP container
    orders them."""
    image = encoded[12:]
    width, height = _webp_size(image)
    flags = (0x20 if meta.icc else 0) | (0x08 if meta.exif else 0)
    header = bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = (_riff_chunk(b"VP8X", header) + (_riff_chunk(b"ICCP", meta.icc) if meta.icc else b"") + image
            + (_riff_chunk(b"EXIF", meta.exif) if meta.exif else b""))
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def _webp_size(chunk: bytes) -> tuple[int, int]:
    """The width and height a simple WebP's VP8 (lossy) or VP8L (lossless) chunk holds."""
    data = chunk[8:]
    if chunk[:4] == b"VP8 ":  # a key frame: 3 bytes of frame tag, the start code, then 14-bit sizes
        return struct.unpack("<H", data[6:8])[0] & 0x3FFF, struct.unpack("<H", data[8:10])[0] & 0x3FFF
    bits = struct.unpack("<I", data[1:5])[0]  # after the 0x2f signature: 14 bits each, less one
    return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1


def _riff_chunk(kind: bytes, data: bytes) -> bytes:
    return kind + struct.pack("<I", len(data)) + data + bytes(len(data) % 2)
