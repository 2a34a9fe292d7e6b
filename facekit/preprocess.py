"""Image loading and the one crop -> model-input path shared by training and inference.

Training reads every dataset image through `load_image`, cuts the face with `crop_face`
(or takes the whole image when it is already a face crop) and turns it into model input with
`to_model_input` (which also brightens a crop too dark for the heads, `lift_exposure`); the heads at
inference call the same two functions on detector boxes, with the crop settings stored in the model
card. A test checks both paths give identical arrays.
"""

from __future__ import annotations

import base64
import binascii
import errno
import functools
import io
import os
import re
import stat
import struct
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import (ArgumentError, ImageError, ImageNotFoundError, loops, name_too_long_line, near_names,
                     out_of_memory)
from .types import Box

# HEIC / HEIF is what an iPhone saves by default; OpenCV cannot read it, pillow-heif can (the `heic` extra).
HEIF_EXTENSIONS = {".heic", ".heif"}
# .jfif / .jpe: JPEGs as Windows browsers save them from the web; without them such photos were "non-image files".
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".jfif", ".jpe", ".png", ".bmp", ".webp", ".tif", ".tiff", ".jp2", ".pgm",
                    ".ppm", ".pbm", ".gif", ".avif"} | HEIF_EXTENSIONS
# The ISO box brands of HEIF still images (a HEIC photo renamed .jpg is still one).
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}

# Images over this many pixels (200 MP, 600 MB decoded) are refused, from the size their header claims,
# before anything is decoded: a PNG of a few KB can claim 60000x60000 px (a decompression bomb).
MAX_PIXELS = 200_000_000
# An encoded image held in memory or read from a file object (an upload) is refused over this many bytes, and a
# stream is read no further than one byte past it: a web handler's analyze(upload.file) read a body of any size
# into memory before the pixel check could say no. 1 GiB: a 200 MP 8-bit RGB PNG of noise, stored uncompressed,
# takes about 600 MB.
MAX_BYTES = 1 << 30
READ_CHUNK = 1 << 23  # a file object is read 8 MiB at a time (_read_upload): memory for what it holds, no more
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def exif_orientation(source) -> int:
    """A photo's EXIF Orientation (1-8; 1 where it states none or Pillow cannot read it), from its headers alone.
    source: a path or a binary file object. Image's own getexif reads the headers only; a PNG's first decodes every
    pixel, to find an eXIf chunk written after them (140 ms a 16-bit 1126x661 video frame, every frame)."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # one over the pixel limit: its header
            with Image.open(source) as image:
                return int(Image.Image.getexif(image).get(0x0112, 1))
    except Exception:  # noqa: BLE001 - Pillow's errors come as many types (over twice its pixel limit: one raises)
        return 1


def header_size(data: bytes | memoryview) -> tuple[int, int] | None:
    """(width, height) as a PNG, JPEG, BMP, WebP, GIF or TIFF header states it, without decoding; None for
    other formats or a header too short to say (OpenCV's own limit and the decoded size are checked then).
    `data`: the file's bytes, or a memoryview of them (a TIFF's first directory may be at its end)."""
    try:
        # OpenCV allocates and fills a GIF's screen or a TIFF's page before it decodes a pixel, up to its own
        # limit of 1 GP: a 29-byte GIF claiming 30000x30000 px took 6.9 GB and 23 s to be refused after decoding.
        if data[:6] in (b"GIF87a", b"GIF89a"):
            flags = data[10]
            block = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)  # after the screen and its colour table
            # An extension, an image or the end follows there; anything else is no GIF (OpenCV reads none).
            return struct.unpack("<HH", data[6:10]) if data[block:block + 1] in (b"!", b",", b";") else None
        if data[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
            return _tiff_size(data)
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if data[:2] == b"BM":
            dib = _bmp_dib_size(data)
            if dib == 12:  # OS/2's BITMAPCOREHEADER: 16-bit sizes
                return struct.unpack("<HH", data[18:22])
            if dib is None:
                return None
            w, h = struct.unpack("<ii", data[18:26])
            return abs(w), abs(h)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            chunk = data[12:16]
            if chunk == b"VP8X":
                return (int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1)
            if chunk == b"VP8L":
                bits = int.from_bytes(data[21:25], "little")
                return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
            if chunk == b"VP8 ":
                w, h = struct.unpack("<HH", data[26:30])
                return w & 0x3FFF, h & 0x3FFF
        if data[:2] == b"\xff\xd8":
            i = 2
            while i + 9 < len(data):
                if data[i] != 0xFF:
                    return None
                marker = data[i + 1]
                if marker in _JPEG_SOF:
                    h, w = struct.unpack(">HH", data[i + 5:i + 9])
                    return w, h
                if marker == 0xFF:  # fill byte
                    i += 1
                    continue
                i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
    except struct.error:  # cut short: let the decoder report it
        return None
    return None


def _bmp_dib_size(data) -> int | None:
    """The size of a BMP's info header, when bytes starting "BM" have one OpenCV reads (12, or 36 and over);
    None for anything else. Text that starts "BM" (a file "BM hello" named .bmp or .jpg) has four letters there,
    a number in the hundreds of millions: its letters read as a width and height were "over the limit of 200 MP"."""
    try:
        size = struct.unpack("<I", data[14:18])[0]
    except struct.error:
        return None
    return size if size == 12 or 36 <= size <= 255 else None


def _tiff_size(data) -> tuple[int, int] | None:
    """(width, height) of a TIFF's first page (the one OpenCV reads), from its first directory; BigTIFF too."""
    fields = _tiff_fields(data)
    return (fields[256], fields[257]) if 256 in fields and 257 in fields else None


def _tiff_fields(data) -> dict[int, int]:
    """The first value of the numeric fields of a TIFF's first directory, by tag (256 ImageWidth, 257
    ImageLength, 339 SampleFormat, ...); BigTIFF too."""
    order = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"+\0", b"\0+")
    count, entry, offset = ("Q", 20, 8) if big else ("H", 12, 4)
    ifd = struct.unpack(order + ("Q" if big else "I"), data[offset:offset * 2])[0]
    n = struct.unpack(order + count, data[ifd:ifd + struct.calcsize(count)])[0]
    fields = {}
    start = ifd + struct.calcsize(count)
    for i in range(min(n, 4096)):
        at = start + i * entry
        tag, kind = struct.unpack(order + "HH", data[at:at + 4])
        if kind in (3, 4, 16):  # SHORT, LONG or LONG8
            fmt = order + {3: "H", 4: "I", 16: "Q"}[kind]
            many = struct.unpack(order + count.replace("H", "I"), data[at + 4:at + 4 + offset])[0]
            value = at + (12 if big else 8)  # left-justified in the entry's value field, when it fits there
            if many * struct.calcsize(fmt) > offset:  # else that field holds where the values are
                value = struct.unpack(order + ("Q" if big else "I"), data[value:value + offset])[0]
            try:
                fields[tag] = struct.unpack(fmt, data[value:value + struct.calcsize(fmt)])[0]
            except struct.error:  # values past a file cut short: the fields before them still count
                pass
    return fields


# A camera's raw files, which neither OpenCV nor Pillow decodes: a photographer's folder holds them beside (or
# instead of) the JPEGs, and "not an image file" left them wondering why their photos were not read.
RAW_EXTENSIONS = {".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".dng", ".orf", ".rw2", ".raf",
                  ".pef", ".srw", ".x3f", ".3fr", ".iiq", ".erf", ".kdc", ".mrw", ".raw", ".rwl"}
RAW_HINT = "a camera RAW file (not read: export it as JPEG or TIFF)"


# --rotate / rotate=: a turn the user knows the picture needs (a phone video whose rotation flag was lost, a camera
# mounted upside down), clockwise as ffmpeg's transpose and cv2.rotate name it. The detectors find few faces lying
# on their side and fewer upside down, so such a video was analysed nearly blind.
ROTATIONS = {0: None, 90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def check_rotation(degrees) -> int:
    """`degrees` as a turn ROTATIONS knows (0, 90, 180, 270; -90 is 270), or one ArgumentError saying what is."""
    number = isinstance(degrees, (int, float, np.integer, np.floating)) and not isinstance(degrees, (bool, np.bool_))
    if not number or not np.isfinite(degrees) or degrees % 90:
        raise ArgumentError(f"rotate must be 0, 90, 180 or 270 (degrees clockwise); got {degrees!r}")
    return int(degrees) % 360


def rotate_clockwise(image: np.ndarray, degrees: int) -> np.ndarray:
    """`image` turned `degrees` (0, 90, 180, 270) clockwise; itself at 0."""
    code = ROTATIONS[degrees]
    return image if code is None else cv2.rotate(image, code)


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read any common image as 8-bit BGR, with its EXIF rotation applied.

    Grayscale is expanded to 3 channels, a transparent PNG, WebP, GIF or TIFF is laid on white, 16-bit is scaled
    to 8-bit.
    Raises ImageError with a one-line reason when the file is missing, empty or not an image, or
    over MAX_PIXELS (checked from the header before decoding, where the format allows).
    """
    text = os.fspath(path)
    path = Path(path)
    if not text:  # Path("") is ".": "is a folder, not an image" named a folder nobody gave
        raise ImageError("empty path: expected an image file's path")
    try:
        if not path.exists() and path.expanduser().exists():  # "~/photo.jpg" in a notebook, as a shell reads it
            path = path.expanduser()
    except RuntimeError:  # "~" with no home folder to name (no HOME, no passwd entry): "no such file" below
        pass
    except OSError as exc:  # a name over the file system's limit: an OSError traceback from analyze()
        if exc.errno != errno.ENAMETOOLONG:
            raise
        raise ImageError(name_too_long_line(exc)) from None
    if not path.exists():
        # A web address: Path("https://x/a.jpg") prints as "https:/x/a.jpg", and "no such file" would
        # leave the user guessing whether URLs are read at all.
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:/", text):
            raise ImageError(f"{text}: a web address; images are read from files (download it first)")
        if path.is_symlink() and loops(path):  # "which does not exist" sent the user looking for a lost photo
            raise ImageError(f"{path}: a link to {os.readlink(path)}, which leads back to itself (a loop of links), "
                             "not a file")
        if path.is_symlink():
            raise ImageNotFoundError(f"{path}: a link to {os.readlink(path)}, which does not exist (a disk not "
                                     "mounted, a photo moved?)", filename=str(path))
        raise ImageNotFoundError(f"{path}: no such file{near_names(path)}", filename=str(path))
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image")
    data: np.ndarray | bytes
    try:
        st = path.stat()
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) or stat.S_ISSOCK(st.st_mode):
            # -i /dev/null said "empty file (0 bytes)", /dev/zero read a GiB before "over the limit", a socket
            # "cannot read (No such device or address)". A pipe (below) is read: `-i <(curl -s URL)`.
            raise ImageError(f"{path}: {special_kind(path)}, not an image file")
        if stat.S_ISREG(st.st_mode):
            # The upload's limit, from the file's size: a 3 GB file named .jpg was read whole (3.2 GB of memory,
            # 40 s; in `facekit serve`, the server's) to end in "cannot decode (> - Expected Ptr<cv::UMat> ...)".
            if st.st_size > MAX_BYTES:
                raise ImageError(f"{path}: {st.st_size:,} bytes, over the limit of {MAX_BYTES:,} bytes for an image "
                                 "(facekit.preprocess.MAX_BYTES)")
            data = np.fromfile(path, dtype=np.uint8)  # fromfile + imdecode: also works for non-ASCII paths
        else:
            # A pipe (`-i <(curl -s URL)`, /dev/stdin, a FIFO) has no file position for np.fromfile ("cannot read
            # (obtaining file position failed)"): read as a stream, no further than MAX_BYTES (/dev/zero never ends).
            with open(path, "rb") as stream:
                data = _read_upload(stream)[0]
    except OSError as exc:
        raise ImageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return decode_image(data, path)


def decode_image(data, name: str | os.PathLike = "image data") -> np.ndarray:
    """An encoded image held in memory (bytes, bytearray, memoryview or a uint8 array: a file's
    contents, an upload's body) as 8-bit BGR, read exactly as `load_image` reads a file: EXIF rotation,
    HEIC, and the MAX_PIXELS limit checked from the header before anything is decoded. `name` only
    prefixes the error messages (one ImageError)."""
    data = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1)
    path = Path(name) if not isinstance(name, Path) else name
    if data.size == 0:
        raise ImageError(f"{name}: empty file (0 bytes)")
    if path.suffix.lower() in HEIF_EXTENSIONS or _is_heif(data[:12].tobytes()):
        return _load_heif(name, data)
    size = header_size(memoryview(data))
    if size is not None:
        _check_pixels(name, *size)
    # IMREAD_COLOR applies the EXIF orientation, converts gray/RGBA to BGR and 16-bit to 8-bit.
    try:
        if _float_tiff(memoryview(data)):
            # An editor's 32-bit float TIFF (HDR, "floating point" export), which IMREAD_COLOR refuses as "not a
            # readable image": read at its own depth, then 0-1 (or 0-255) as a float array is.
            deep = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
            image = as_bgr(deep) if deep is not None and deep.size else None
        else:
            image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error as exc:  # e.g. a TIFF over OpenCV's own pixel limit (CV_IO_MAX_IMAGE_PIXELS)
        if out_of_memory(exc):
            # Short memory (a small board's limit), not a broken photo: "cannot decode (... Insufficient memory)"
            # sent one to check a photo that any other machine reads.
            raise MemoryError(f"decoding {name}" + (f", {size[0]}x{size[1]} px" if size else "")) from exc
        raise ImageError(f"{name}: cannot decode ({str(exc).strip().splitlines()[-1]})") from None
    if image is None or image.size == 0:
        # analyze("IMG_0001.CR2") or a scanned PDF read "corrupt", of a sound file: the image script said so of
        # a RAW file alone, by its name. Before "cut short": most RAW formats are TIFF-based, which that check misreads.
        if path.suffix.lower() in RAW_EXTENSIONS:
            raise ImageError(f"{name}: {RAW_HINT}")
        if _cut_short(memoryview(data)):
            raise ImageError(f"{name}: not a readable image: cut short (the file ends at {data.size:,} bytes, before "
                             "its picture does: an interrupted download or copy?)")
        kind = _video_kind(data[:16].tobytes())
        if kind:
            # analyze("clip.mp4"), or a video uploaded to a photo endpoint, was "not a readable image (corrupt or
            # unsupported format)": a sound video, read as a broken photo (the image script says so by its name).
            raise ImageError(f"{name}: a video ({kind}), not a photo: FaceAnalyzer.analyze_video() reads it from its "
                             f"file")
        if data[:5].tobytes() == b"%PDF-":
            raise ImageError(f"{name}: a PDF document, not a photo (export its pages as JPEG or PNG)")
        raise ImageError(f"{name}: not a readable image (corrupt or unsupported format)")
    _check_pixels(name, image.shape[1], image.shape[0])
    if _has_alpha(memoryview(data)):
        # IMREAD_COLOR drops alpha: a face on a transparent area (a layer hidden in an editor's export, a cut-out's
        # removed background) was found and drawn where every viewer shows nothing. Read it as a browser shows
        # it, on white (as_bgr), when the colour is the same picture (no EXIF turn that the alpha would miss).
        whole = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        if whole is not None and whole.ndim == 3 and whole.shape[2] == 4 \
                and np.array_equal(as_bgr(whole[..., :3]), image):
            image = as_bgr(whole)
    return image


def _has_alpha(data) -> bool:
    """Whether a PNG, WebP, GIF or TIFF holds transparency: a PNG's alpha channel (colour type 4 or 6) or tRNS
    chunk, a WebP's alpha flag (VP8X) or alpha_is_used bit (lossless VP8L), a GIF's transparent colour (its first
    frame's graphic control extension), a TIFF's extra sample."""
    if len(data) < 26:
        return False
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return data[25] in (4, 6) or bytes(data[:4096]).find(b"tRNS") >= 0
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        if data[12:16] == b"VP8X":
            return bool(data[20] & 0x10)
        if data[12:16] == b"VP8L":
            return bool(struct.unpack("<I", data[21:25])[0] >> 28 & 1)
    # A cut-out saved as GIF or TIFF was read with its hidden pixels (black, or whatever the editor left there)
    # where PNG and WebP ones are laid on white.
    if data[:6] in (b"GIF87a", b"GIF89a"):
        head = bytes(data[:1 << 16])
        at = head.find(b"\x21\xf9\x04")
        return at >= 0 and at + 3 < len(head) and bool(head[at + 3] & 1)
    if data[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
        try:
            fields = _tiff_fields(data)
        except (struct.error, IndexError):
            return False
        # ExtraSamples, or an RGB one of 4 samples without it (OpenCV writes its RGBA so, and reads it as alpha)
        return 338 in fields or (fields.get(262) == 2 and fields.get(277, 3) >= 4)
    return False


def _float_tiff(data) -> bool:
    if data[:4] not in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
        return False
    try:
        return _tiff_fields(data).get(339) == 3  # SampleFormat: IEEE floating point
    except (struct.error, IndexError):
        return False


def _cut_short(data) -> bool:
    """Whether a file OpenCV could not decode is a photo of a known format whose bytes stop before its end
    marker or stated size: a download or copy cut short, where "corrupt or unsupported format" had the user
    wondering whether a .jpg is supported at all. False for anything else, garbage with a JPEG's first bytes too."""
    n = len(data)
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            return bytes(data[-12:]).find(b"IEND") < 0
        if data[:2] == b"BM" and n < 18:  # before the info header: cut short if its reserved bytes are 0, as a BMP's
            return not any(bytes(data[6:10]))
        if data[:2] == b"BM" and _bmp_dib_size(data) is not None:
            return struct.unpack("<I", data[2:6])[0] > n  # the file's size, as its header states it
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return struct.unpack("<I", data[4:8])[0] + 8 > n
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return header_size(data) is not None and data[n - 1] != 0x3B  # ";", the trailer
        if data[:4] in (b"II*\0", b"MM\0*"):
            return struct.unpack(("<" if data[:2] == b"II" else ">") + "I", data[4:8])[0] + 2 > n  # first directory
        if data[:3] == b"\xff\xd8\xff":
            i = 2
            while i + 4 <= n:  # the markers before the scan; each segment's length skips an EXIF thumbnail's
                if data[i] != 0xFF or data[i + 1] < 0xC0:  # no marker there: garbage, not a JPEG cut short
                    return False
                if data[i + 1] == 0xFF:
                    i += 1
                    continue
                if data[i + 1] == 0xDA:  # start of scan: the picture, which ends with FFD9 (never in its data)
                    return bytes(data[i:]).find(b"\xff\xd9") < 0
                i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
            return True  # ended among the headers
    except (struct.error, IndexError):
        return True
    return False


# A photo's ISO-BMFF brands (HEIF's above, AVIF's): any other "ftyp" file is a video (MP4, MOV, 3GP, M4V).
_PHOTO_BRANDS = frozenset({b"avif", b"avis"})


def _video_kind(head: bytes) -> str | None:
    """The video container `head` (a file's first 16 bytes) begins as, or None."""
    if head[4:8] == b"ftyp" and head[8:12] not in _HEIF_BRANDS | _PHOTO_BRANDS:
        return "MP4 / QuickTime"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "Matroska / WebM"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    if head[:4] == b"FLV\x01":
        return "FLV"
    if head[:8] == b"\x30\x26\xb2\x75\x8e\x66\xcf\x11":
        return "ASF / WMV"
    if head[:4] == b"\x00\x00\x01\xba":
        return "MPEG"
    return None


def _is_heif(head: bytes) -> bool:
    return len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS


def _load_heif(path: str | os.PathLike, data: np.ndarray) -> np.ndarray:
    """A HEIC / HEIF photo's primary image through pillow-heif, as 8-bit BGR (libheif applies the file's
    rotation and mirroring, which is where HEIF keeps a phone's orientation)."""
    try:
        import pillow_heif
    except ImportError:
        raise ImageError(f"{path}: a HEIC / HEIF photo (an iPhone's default); reading it needs pillow-heif "
                         "(pip install 'facekit[heic]' or pillow-heif), or save it as JPEG") from None
    import io

    try:
        heif = pillow_heif.open_heif(io.BytesIO(data.tobytes()), convert_hdr_to_8bit=True)
        _check_pixels(path, *heif.size)
        pixels = np.asarray(heif)
    except ImageError:
        raise
    except Exception as exc:  # noqa: BLE001 - libheif's errors come as several types
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImageError(f"{path}: not a readable HEIC / HEIF image ({reason})") from None
    if pixels.ndim == 3:  # RGB(A) in, as_bgr's BGR(A) out; as_bgr then takes a deep (16-bit) image down to 8
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA if pixels.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    return as_bgr(pixels)


def _check_pixels(path: str | os.PathLike, width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageError(f"{path}: image of {width}x{height} px is over the limit of {MAX_PIXELS // 10**6} MP")


def as_image(image) -> np.ndarray:
    """What the library takes as a photo or a held frame: an image path (`load_image`), an encoded image
    in memory such as an upload's body (bytes, bytearray, memoryview: `decode_image`), or a binary file object
    (anything whose read() gives bytes: BytesIO, open(path, "rb"), an upload's stream), a PIL image (its
    EXIF rotation applied, RGB turned to BGR) or an array (`as_bgr`); 8-bit BGR out, or one ImageError."""
    if isinstance(image, (str, os.PathLike)):
        _refuse_base64(image)
        return load_image(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        _refuse_base64(image)
        _check_bytes("image data", memoryview(image).nbytes)
        path = _path_in_bytes(image)
        return load_image(path) if path is not None else decode_image(image)
    if _is_binary_file(image):
        return decode_image(*_read_upload(image))
    if _is_pil(image):
        return _from_pil(image)
    if isinstance(image, np.ndarray) and image.ndim == 1 and image.dtype == np.uint8 and _looks_encoded(image):
        # np.fromfile(path, np.uint8) / np.frombuffer(upload, np.uint8), cv2.imdecode's input: an encoded photo
        # the bytes route reads, where as pixels it was a shape error. A row of pixels has no image header.
        _check_bytes("image data", image.nbytes)
        return decode_image(image)
    return as_bgr(image)


def _refuse_base64(image) -> None:
    """An ImageError for a photo given as base64 text (a JSON API's image field, a browser canvas's toDataURL(),
    data: URL or not), as a str or its bytes: read as a path it was "no such file" or "a name too long" with the
    whole text in the line (373,129 characters for obama.jpg), as bytes "not a readable image"."""
    if isinstance(image, os.PathLike):
        return
    head = bytes(memoryview(image)[:256]) if not isinstance(image, str) else image[:256].encode("latin-1", "replace")
    url = re.match(rb"data:[\w.+/-]*(;[\w.+=-]+)*;base64,", head)
    body = head[url.end():] if url else head
    if not url and not re.fullmatch(rb"[A-Za-z0-9+/]{64}", body[:64]):
        return
    try:
        start = base64.b64decode(body[:64], validate=True)
    except (binascii.Error, ValueError):
        return
    if not url and not _looks_encoded(np.frombuffer(start, np.uint8)):  # a name that merely looks like base64
        return
    what = "a data: URL" if url else "base64 text"
    given, unit = ("a path", "characters") if isinstance(image, str) else ("its bytes", "bytes")
    decode = "base64.b64decode(url.partition(',')[2])" if url else "base64.b64decode(text)"
    # Not the whole text in the line: a web service's log took it all.
    raise ImageError(f"{bytes(head[:32]).decode('latin-1')}... ({len(image):,} {unit}): {what} (an image written as "
                     f"text), not {given}: pass {decode}, the image's bytes")


def _is_binary_file(image) -> bool:
    """An open file or an upload's stream (BytesIO, open(path, "rb"), the SpooledTemporaryFile behind FastAPI's
    UploadFile.file, werkzeug's FileStorage): anything with a read(). Not OpenCV's VideoCapture, whose read()
    takes a frame, and not PIL or numpy objects, which are read as pictures."""
    return (callable(getattr(image, "read", None)) and not isinstance(image, np.ndarray)
            and type(image).__module__.split(".")[0] not in ("cv2", "PIL"))


def _read_upload(stream) -> tuple[bytes, str]:
    """A binary file-like object's bytes from where it stands, read once, and the name its errors carry: the file's
    own (an open file's, FileStorage's filename) or its type's. A text-mode file is refused before any read: its
    str would not be the photo's bytes (decoded as UTF-8, or failing to)."""
    name = next((n for n in (getattr(stream, "filename", None), getattr(stream, "name", None))
                 if isinstance(n, str) and n), type(stream).__name__)
    if isinstance(stream, io.TextIOBase):
        raise ImageError(f"{name}: a file opened in text mode; open it in binary mode (open(path, 'rb'))")
    # FastAPI's (Starlette's) UploadFile itself, the handler's argument: its read() is a coroutine, which was "got
    # UploadFile (its read() gave coroutine, not bytes)" and Python's "coroutine ... was never awaited" warning.
    import inspect  # here, not at the top: a few ms more for every script's start, for file objects alone

    if inspect.iscoroutinefunction(stream.read):
        raise ImageError(f"{name}: an async file ({type(stream).__name__}: its read() must be awaited); pass its "
                         f"synchronous file (upload.file) or the bytes of await upload.read()")
    try:
        try:
            # In chunks: read(MAX_BYTES + 1) had Python set aside the whole 1 GiB first, for any photo (tracemalloc:
            # 1024 MB at its peak for a 220 KB JPEG), a MemoryError under an address-space limit (ulimit -v, a small
            # container's heuristic overcommit) and a GiB more per upload read at once by a web server's threads.
            data, sized = stream.read(min(READ_CHUNK, MAX_BYTES + 1)), True
        except TypeError:  # a read() of the user's own that takes no size
            data, sized = stream.read(), False
        if isinstance(data, str):
            raise ImageError(f"{name}: read() gave text (str), not the image's bytes; open it in binary mode ('rb')")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ImageError(f"expected an image path, bytes, a binary file or a numpy array, got "
                             f"{type(stream).__name__} (its read() gave {type(data).__name__}, not bytes)")
        # read(n) may stop short of n before the end (a socket, an unbuffered file), where read() read on to it.
        parts, total = [data], memoryview(data).nbytes
        while sized and data and total <= MAX_BYTES:
            more = stream.read(min(READ_CHUNK, MAX_BYTES + 1 - total))
            if not isinstance(more, (bytes, bytearray, memoryview)) or not more:  # the end (None: none yet)
                break
            parts.append(more)
            total += memoryview(more).nbytes
    except (OSError, ValueError) as exc:  # a closed file is a ValueError, a socket gone an OSError
        raise ImageError(f"{name}: cannot read ({exc})") from None
    _check_bytes(name, total)
    if len(parts) > 1:
        data = b"".join(parts)
    if not data:
        # A stream read before (a framework's validation, a second analyze()) stands at its end: 0 bytes, where
        # "empty file" alone had the user look for an empty upload.
        at = _position(stream)
        if at:
            raise ImageError(f"{name}: nothing left to read at byte {at:,} (read already? call .seek(0) first)")
    return data, name


def _check_bytes(name: str, size: int) -> None:
    if size > MAX_BYTES:
        raise ImageError(f"{name}: over the limit of {MAX_BYTES:,} bytes for an image held in memory or read from a "
                         "file object (facekit.preprocess.MAX_BYTES)")


def _position(stream) -> int:
    try:
        return int(stream.tell())
    except (AttributeError, OSError, ValueError, TypeError):
        return 0


def _path_in_bytes(data) -> str | None:
    """A path given as bytes (os.fsencode, os.listdir(b".")), which read as an encoded photo was "not a readable
    image"; None for anything else. Only a few hundred bytes naming a file that is there, or an image's name."""
    if len(data) > 4096 or _looks_encoded(np.frombuffer(data, np.uint8)):
        return None
    text = os.fsdecode(bytes(data))
    if "\0" in text or "\n" in text or not text.strip():
        return None
    return text if os.path.exists(text) or is_image_path(Path(text)) else None


def _looks_encoded(data: np.ndarray) -> bool:
    head = data[:64].tobytes()
    return head[:3] == b"\xff\xd8\xff" or _is_heif(head[:12]) or header_size(data.data) is not None


def _is_pil(image) -> bool:
    return type(image).__module__.split(".")[0] == "PIL" and hasattr(image, "convert") and hasattr(image, "size")


def _from_pil(image) -> np.ndarray:
    """A PIL image as 8-bit BGR: PIL holds RGB, and np.asarray(image) passed on as it is would be read as
    BGR (red and blue swapped: the mask head turned 3 of 15 bare faces of the media photos into masked
    ones); a phone photo's EXIF rotation, which PIL does not apply on open, is applied here."""
    from PIL import ImageOps

    _check_pixels("PIL image", *image.size)
    if not image.size[0] or not image.size[1]:  # as an empty array is: it was a cv2.error traceback from cvtColor
        raise ImageError(f"PIL image: empty ({image.size[0]}x{image.size[1]} px), no picture to read")
    try:
        upright = ImageOps.exif_transpose(image)
        if upright.mode == "F":
            # 32-bit floats, 0-1 as often as 0-255: convert("RGB") cast 0-1 to 0 and 1, a black picture. The
            # array's rule tells them apart.
            return as_bgr(np.asarray(upright))
        if upright.mode.startswith("I"):
            gray = np.asarray(upright)
            # PIL opens a 16-bit gray PNG as "I;16" (or "I"), and its convert("RGB") clips every value over 255:
            # a white picture, no face where the path found them. Read as the path reads it: the top 8 bits.
            if gray.max() > 255:
                return as_bgr(np.clip(gray, 0, 65535).astype(np.uint16))
        if upright.mode == "La":  # premultiplied gray + alpha, which PIL converts to "LA" only: "not readable"
            upright = upright.convert("LA")
        if upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info:
            # On white, as the path reads a transparent PNG (as_bgr): convert("RGB") kept the hidden pixels.
            return as_bgr(cv2.cvtColor(np.asarray(upright.convert("RGBA")), cv2.COLOR_RGBA2BGRA))
        rgb = np.asarray(upright.convert("RGB"))
    except Exception as exc:  # PIL decodes a file lazily, here, and fails as several exception types
        if getattr(image, "fp", "") is None and not getattr(image, "_im", None):
            # `with Image.open(upload) as im: ...` then analyze(im) after the block: PIL had not read the pixels
            # yet and its file was closed, which it reports as a bare AssertionError ("not readable
            # (AssertionError)" sent the user looking for a broken file).
            raise ImageError("PIL image: its file was closed before its pixels were read (Image.open's with block "
                             "ended, or .close()): pass it while the file is open, or call its .load() "
                             "first") from None
        raise ImageError(f"PIL image: not readable ({str(exc).strip() or type(exc).__name__})") from None
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


FLOAT_01_MAX = 2.0  # a float image whose values are all at most this is a 0-1 picture (see as_bgr)


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Accept gray, BGRA, 16-bit, boolean and float arrays from callers and return 8-bit 3-channel BGR.
    Integer arrays of any dtype are read by their values: 0-255 as 8-bit, else 0-65535 as 16-bit (negatives as
    0); larger values are an ImageError. Float arrays are read as 0-1 (scikit-image's and most ML code's
    convention) when no value is above FLOAT_01_MAX, else as 0-255: a 0-1 photo cast to 8 bits would be black
    and show no face. Values past the range are clipped.
    Any other shape is an ImageError, not a silent empty result (a channels-first (3, H, W) array read as
    (H, W, C) has none)."""
    if image is None:  # the commonest: cv2.imread's answer for a path it cannot read
        raise ImageError("got None instead of an image (cv2.imread returns None for a file it cannot read: check "
                         "its path, or pass the path itself for a message that says why)")
    if isinstance(image, (list, tuple)) and image and all(
            isinstance(i, (str, os.PathLike, bytes, np.ndarray)) or _is_pil(i) for i in image):
        # insightface's and supervision's calls take one image too, but "got list" left a user with a list of
        # photos wondering what shape the list should have.
        raise ImageError(f"got a {type(image).__name__} of {len(image)} images: one image a call ([analyzer.analyze"
                         f"(photo) for photo in photos]; facekit-batch for a folder or a list of many)")
    if not isinstance(image, np.ndarray):
        raise ImageError(f"expected an image path or a numpy array, got {type(image).__name__} (also taken: "
                         f"encoded image bytes, a binary file object, a PIL image)")
    # Cast as they are below, strings and dates failed inside numpy, complex numbers lost their imaginary
    # part, and a 0-pixel array was "no faces" instead of no image.
    if image.dtype.kind not in "buif":
        raise ImageError(f"expected an image array of numbers (uint8, uint16, float, ...), got dtype {image.dtype}")
    if image.size == 0:
        raise ImageError(f"expected an image, got an empty array of shape {image.shape}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3, 4))):
        hint = " (channels first? pass image.transpose(1, 2, 0))" \
            if image.ndim == 3 and image.shape[0] in (1, 3, 4) else ""
        raise ImageError(f"expected an image array of shape (H, W) or (H, W, C) with C = 1, 3 or 4; got "
                         f"{image.shape}{hint}")
    if image.shape[0] * image.shape[1] > MAX_PIXELS:  # as a file is refused (a decoded PNG bomb, say)
        raise ImageError(f"image array of {image.shape[1]}x{image.shape[0]} px is over the limit of "
                         f"{MAX_PIXELS // 10**6} MP")
    if not image.dtype.isnative:  # ">u2" (FITS, a Motorola TIFF's samples) is no np.uint16: clipped to a white picture
        image = image.astype(image.dtype.newbyteorder("="))
    if image.dtype.kind in "ui" and image.dtype != np.uint8:
        # Read by their values, whatever the dtype: a 16-bit photo held as uint32 or int32 (`deep.astype(np.int32)`,
        # PIL's mode "I") was clipped to 0-255, a white picture with no face, where as uint16 it was read. And
        # 0-255 values held in 16 bits (`photo.astype(np.uint16)`) lost them all to the shift: a black picture;
        # a 16-bit photo that dark is black in 8 bits either way.
        top = int(image.max())
        if top > 65535:  # no scale to guess from: 32-bit samples, or sums that are no picture
            raise ImageError(f"expected an image array of 0-255 (8-bit) or 0-65535 (16-bit) values, got {image.dtype} "
                             f"values up to {top:,} (scale it to one of them first)")
        # Negatives to 0 (the top is checked above): np.clip(.., 0, 65535) of an int8 / int16 array was an
        # OverflowError traceback in numpy 2.0, where 65535 does not fit those types.
        image = np.maximum(image, 0)
        image = image.astype(np.uint8) if top <= 255 else (image.astype(np.uint16) >> 8).astype(np.uint8)
    elif image.dtype == np.bool_:
        image = image.astype(np.uint8) * 255
    elif np.issubdtype(image.dtype, np.floating):
        image = np.nan_to_num(image, nan=0.0, posinf=255.0, neginf=0.0)
        # Up to 2, not 1: a 0-1 photo resized with INTER_CUBIC (or brightened 10%) reaches 1.03-1.1, and read as
        # 0-255 it was a black picture, no face, no word. A 0-255 float picture whose brightest pixel is 2 is black
        # either way.
        if image.size and image.max() <= FLOAT_01_MAX:
            image = image * 255.0
        image = np.rint(np.clip(image, 0, 255)).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        # On white, as a browser shows a transparent PNG: alpha dropped, a face on a transparent area (hidden pixels
        # of an editor's export) was found where the picture shows none.
        alpha = image[..., 3:].astype(np.float32) * (1.0 / 255.0)
        return np.rint(image[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    if image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return image


@dataclass(frozen=True)
class CropSpec:
    """How a face box becomes a crop. Stored in each model card so inference matches training.

    margin: fraction of the box size added on each side; square: grow the short side to the long
    one (around the centre) so that resizing to the square model input does not squash the face.
    """

    margin: float = 0.0
    square: bool = True

    def to_dict(self) -> dict:
        return {"margin": self.margin, "square": self.square}

    @classmethod
    def from_dict(cls, data: dict | None) -> "CropSpec":
        data = {} if data is None else data
        # A hand-written card's "crop": 0.1 was an AttributeError from inside, and "square": "false" read as true.
        if not isinstance(data, dict) or not isinstance(data.get("square", True), bool):
            raise TypeError(f'crop must be an object such as {{"margin": 0.1, "square": true}}, got {data!r}')
        return cls(margin=float(data.get("margin", 0.0)), square=data.get("square", True))


def crop_region(box: Box, spec: CropSpec = CropSpec()) -> tuple[int, int, int, int]:
    """The (x1, y1, x2, y2) pixel region `crop_face` cuts for `box`; may extend past the image."""
    w: float = box.x2 - box.x1
    h: float = box.y2 - box.y1
    cx, cy = (box.x1 + box.x2) / 2.0, (box.y1 + box.y2) / 2.0
    if spec.square:
        w = h = max(w, h)
    w, h = w * (1 + 2 * spec.margin), h * (1 + 2 * spec.margin)
    x1, y1 = int(round(cx - w / 2)), int(round(cy - h / 2))
    return x1, y1, x1 + max(1, int(round(w))), y1 + max(1, int(round(h)))


# The heads learnt from upright faces: a tilted face's crop is turned about the box's centre until its eye line
# is level (the media photos turned 45 degrees kept their upright gender on 34 -> 46 of 46 faces, mask 34 -> 41;
# README, Known weaknesses). Only past LEVEL_MIN_ROLL degrees: heads held as people hold them reach 19 in the
# media photos, whose records stay as they were; at 10, two of their emotions changed.
LEVEL_MIN_ROLL = 20.0
# Eyes closer together than this share of their distance to the mouth: a profile, left as it is (frontal ~1).
LEVEL_MIN_EYES = 0.5


def face_roll(keypoints) -> float:
    """The eye line's angle in degrees (> 0: tilted clockwise) from a detector's 5 key points, image-left eye
    first; 0.0 without them."""
    if keypoints is None or len(keypoints) < 2:
        return 0.0
    (lx, ly), (rx, ry) = np.asarray(keypoints, dtype=np.float64)[:2, :2]
    return float(np.degrees(np.arctan2(ry - ly, rx - lx)))


def level_turn(box: Box, keypoints) -> np.ndarray | None:
    """The 2x3 turn about `box`'s centre that levels a face tilted past LEVEL_MIN_ROLL (image pixels to
    levelled image pixels), or None where the face is cut as it is."""
    roll = face_roll(keypoints)
    if abs(roll) <= LEVEL_MIN_ROLL:
        return None
    # A profile's two eye points fall together (the hamilton clip: 1-10 px apart, ~100 px above the mouth), so
    # their line is no roll: levelled by it, a performer's profile came out on its back and read with_mask.
    points = np.asarray(keypoints, dtype=np.float64)
    eyes = np.linalg.norm(points[1] - points[0])
    if len(points) < 5 or eyes < LEVEL_MIN_EYES * np.linalg.norm(points[3:5].mean(axis=0) - points[:2].mean(axis=0)):
        return None
    return cv2.getRotationMatrix2D(box.center, roll, 1.0)


def crop_face(image: np.ndarray, box: Box, spec: CropSpec = CropSpec(), keypoints=None) -> np.ndarray:
    """Cut the face region described by `box` and `spec`; parts outside the image are padded
    by replicating the border instead of being cut off, so a face at the border keeps its shape.
    keypoints: the detector's 5 points; a face tilted past LEVEL_MIN_ROLL is cut levelled (`level_turn`)."""
    x1, y1, x2, y2 = crop_region(box, spec)
    turn = level_turn(box, keypoints)
    if turn is not None:
        turn[:, 2] -= (x1, y1)
        return cv2.warpAffine(image, turn, (x2 - x1, y2 - y1), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
    ih, iw = image.shape[:2]
    pad_l, pad_t = max(0, -x1), max(0, -y1)
    pad_r, pad_b = max(0, x2 - iw), max(0, y2 - ih)
    crop = image[max(0, y1):min(ih, y2), max(0, x1):min(iw, x2)]
    if crop.size == 0:  # box entirely outside the image: nothing to pad from
        return np.zeros((y2 - y1, x2 - x1, 3), dtype=image.dtype)
    if pad_l or pad_t or pad_r or pad_b:
        crop = cv2.copyMakeBorder(crop, pad_t, pad_b, pad_l, pad_r, cv2.BORDER_REPLICATE)
    return crop


# Exposure: a face crop darker on average than DARK_CROP is brightened (one gain for every pixel, at most
# MAX_GAIN) to a mean of LIFTED_MEAN. 60 is the 2nd percentile of the heads' own held-out faces (mask test
# split 59.7, gender val 61.8, FER+ valid 57.7; their medians 113-131), so nearly every face the heads
# learnt from passes unchanged. Darker faces are where the mask head failed: the mask test split dimmed to
# a mean of 12 (56 px, sensor noise) was 77.0% right, unmasked faces 65.4%, since a dark lower face looks
# like a dark mask; lifted, 94.7% / 93.3% (python -m bench.lowlight). Past a gain of 8 (a mean under ~12)
# mostly noise is amplified.
# The same call prepares training faces, so a model trained from now on learns lifted faces too.
DARK_CROP = 60.0
LIFTED_MEAN = 100.0
MAX_GAIN = 8.0


def lift_exposure(image: np.ndarray) -> np.ndarray:
    """`image` (uint8) brightened as above when its mean is under DARK_CROP, else returned as it is."""
    mean = float(image.mean())
    if mean >= DARK_CROP:
        return image
    gain = min(MAX_GAIN, LIFTED_MEAN / max(mean, 1.0))
    return cv2.convertScaleAbs(image, alpha=gain)


def to_model_input(crops: list[np.ndarray] | np.ndarray, size: int, color: str = "rgb") -> np.ndarray:
    """Face crops (BGR uint8, any size) -> uint8 batch (N, size, size, 3) in RGB order.

    color="gray" turns each crop grayscale first (and back to 3 equal channels) for models trained
    on grayscale data such as FER2013. A dark crop is brightened first (`lift_exposure`). Pixel scaling is
    *inside* the models, so nothing else here.
    """
    if isinstance(crops, np.ndarray) and crops.ndim == 3:
        crops = [crops]
    batch = np.empty((len(crops), size, size, 3), dtype=np.uint8)
    for i, crop in enumerate(crops):
        crop = as_bgr(crop)
        interp = cv2.INTER_AREA if min(crop.shape[:2]) > size else cv2.INTER_LINEAR
        resized = lift_exposure(cv2.resize(crop, (size, size), interpolation=interp))
        if color == "gray":
            gray = cv2.cvtColor(resized, cv2.COLOR_BGR2GRAY)
            batch[i] = gray[:, :, None]
        else:
            batch[i] = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)
    return batch


def recursive_hint(paths, recursive: bool, is_wanted=None) -> str:
    """The end of a "no images found" line: "; DIR's sub-folders hold some: add --recursive" when a folder
    named (not searched recursively) has a wanted file below it, else "". It stops at the first one found."""
    if recursive:
        return ""
    is_wanted = is_wanted or is_image_path
    for path in map(Path, paths):
        if path.is_dir() and any(is_wanted(f) for f in folder_files(path, recursive=True)):
            return f"; {path}'s sub-folders hold some: add --recursive"
    return ""


def special_kind(path: Path) -> str | None:
    """What `path` is where it is there but neither a file nor a folder ("a named pipe", ...); else None."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else None


def folder_files(folder: Path, recursive: bool = False, specials: list[Path] | None = None) -> list[Path]:
    """The files in `folder` (sorted; hidden ones left out), and with `recursive` in its sub-folders too.
    specials: where given, gets the pipes, sockets and devices found there, which are not listed.
    Sub-folders that are links are followed, as a glob's ** does: rglob skipped them without a word, so an
    archive spread over disks by links lost whole years. Each real folder is read once, so a link back up the
    tree is no loop."""
    if not recursive:
        entries = list(folder.iterdir())
    else:
        seen, entries = set(), []
        for root, dirs, names in os.walk(folder, followlinks=True):
            real = os.path.realpath(root)
            if real in seen:
                dirs[:] = []
                continue
            seen.add(real)
            # Real sub-folders before links to them, then by name: a folder reached both ways keeps its own
            # name in the results, whatever order the file system lists them in.
            dirs.sort(key=lambda name: (os.path.islink(os.path.join(root, name)), name))
            entries += [Path(root, name) for name in names]
    # A link whose target is gone (a selection's links to a disk not mounted) is listed, for load_image to name:
    # left out, a folder of them was "no images found". Devices and pipes stay out (reading one may never end).
    files = []
    for p in sorted(p for p in entries if not p.name.startswith(".")):
        if p.is_file() or (p.is_symlink() and not p.exists()):
            files.append(p)
        elif specials is not None and special_kind(p) is not None:  # a second stat only for what is no file
            specials.append(p)
    return files


_DIGITS = re.compile(r"(\d+)")


def _natural(text: str) -> tuple:
    # Text and numbers alternate from a text part ("" before a leading number), so two keys never compare a
    # str with an int. NFC first: a Mac writes é as e + a combining accent, typed names hold the one character,
    # and the two spellings of café10 / café2 sorted apart.
    parts = _DIGITS.split(unicodedata.normalize("NFC", text).casefold())
    parts[1::2] = map(int, parts[1::2])  # a comprehension over every part took a third of a big archive's listing
    return tuple(parts)


def natural_key(path: Path) -> tuple:
    """A file browser's order (Finder, Explorer, Nautilus): numbers by value, case ignored, a name's stem
    before its extension (img2.jpg, img2 copy.jpg, img10.jpg), folder by folder. String order put img10
    before img2 and every IMG_ before img, so a folder run's console, JSON Lines and outputs listed a shoot out
    of its order. The path itself breaks ties (IMG.jpg / img.jpg, img01 / img1): the order is always the same."""
    *folders, name = path.parts or ("",)
    last = Path(name)
    return (tuple((_natural_folder(part), ()) for part in folders)
            + ((_natural(last.stem), _natural(last.suffix)),), str(path))


# A folder's key once, not once for each of its files: sorting an archive of 30,000 photos took 2.8 s.
_natural_folder = functools.lru_cache(maxsize=4096)(_natural)


def list_images(folder: Path, recursive: bool = False) -> tuple[list[Path], int]:
    """Image files in `folder` (sorted by path: the benchmarks' evenly spread picks stay the images they measured;
    natural_key gives a file browser's order) and how many other files were skipped."""
    files = folder_files(folder, recursive)
    images = [p for p in files if is_image_path(p)]
    return images, len(files) - len(images)
