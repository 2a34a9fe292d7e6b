"""What OpenCV does not say about a video file: how many sound tracks it has, and when its pictures start.

OpenCV's VideoWriter writes pictures only, and the opencv-python wheels' FFmpeg reader opens no audio stream
(CAP_PROP_AUDIO_TOTAL_STREAMS is 0 for a clip with sound), so an annotated video silently lost its source's sound.
Reading the container's own track list (MP4 / MOV, Matroska / WebM, AVI) lets the run say so. Pure Python, headers
only: a file of gigabytes costs a few reads."""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

# Track lists are small (a few KB; a long MP4's sample tables some MB): past this it is no file of ours to judge.
MAX_HEADER_BYTES = 64 * 2**20
MP4_CONTAINERS = {b"trak", b"mdia", b"edts"}
MP4_TOP = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid"}
MKV_EBML, MKV_SEGMENT, MKV_TRACKS, MKV_TRACK_ENTRY, MKV_TRACK_TYPE, MKV_CLUSTER = (
    0x1A45DFA3, 0x18538067, 0x1654AE6B, 0xAE, 0x83, 0x1F43B675)
MKV_INFO, MKV_TIMESTAMP_SCALE, MKV_TRACK_NUMBER, MKV_CLUSTER_TIME, MKV_BLOCK_GROUP, MKV_BLOCK, MKV_SIMPLE_BLOCK = (
    0x1549A966, 0x2AD7B1, 0xD7, 0xE7, 0xA0, 0xA1, 0xA3)
MKV_VIDEO, MKV_AUDIO = 1, 2


@dataclass(frozen=True)
class Sound:
    tracks: int  # sound tracks in the file
    # When the first picture shows, in seconds (an MP4's empty edit: the hamilton clip's pictures start at 0.852 s,
    # its sound at 0.008). OpenCV times that picture 0, so sound put back beside the annotated video must be
    # shifted by this much or it plays early. 0 where the container does not say.
    picture_start_s: float = 0.0
    pictures: int | None = None  # picture (video) tracks; None where not told
    # Seconds of pictures the first picture track's edit list shows, its empty edits not counted; None without
    # one. A clip cut with `ffmpeg -ss T -i long.mp4 -c copy` holds the pictures from the keyframe before T on
    # (its frame count counts them) and an edit that shows only those from T: OpenCV decodes only those.
    picture_span_s: float | None = None


def sound(path: str | os.PathLike) -> Sound | None:
    """The sound tracks of the video file at `path`, or None when that cannot be told (another container, a
    stream URL, an unreadable or damaged file)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            fh.seek(0)
            if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
                return _avi(fh)
            if head[:4] == MKV_EBML.to_bytes(4, "big"):
                return _matroska(fh)
            if head[4:8] in MP4_TOP:
                return _mp4(fh)
    except (OSError, ValueError, struct.error):
        return None
    return None


def cut_short_mp4(path: str | os.PathLike) -> bool:
    """Whether the file at `path` is an MP4 / MOV whose pictures are there but not its index (the moov box, which
    most cameras and encoders write last), or whose index, put first for the web (faststart), is cut part-way: a
    recording or download cut short, which no player opens."""
    try:
        with open(path, "rb") as fh:
            if fh.read(8)[4:8] not in MP4_TOP:
                return False
            end, at, pictures = os.fstat(fh.fileno()).st_size, 0, False
            while at + 8 <= end:
                fh.seek(at)
                size, kind = struct.unpack(">I4s", fh.read(8))
                if size == 1:
                    size = struct.unpack(">Q", fh.read(8))[0]
                elif size == 0:  # the last box, to the file's end (a recording's mdat before it is closed)
                    size = end - at
                if kind == b"moov":  # an index cut part-way is no index either, first (a web download) or last
                    return at + size > end
                pictures = pictures or kind == b"mdat"
                if size < 8:
                    return False
                at += size
            return pictures
    except (OSError, struct.error):
        return False


def _mp4_boxes(data: bytes, start: int, end: int):
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start:start + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[start + 8:start + 16])[0], 16
        elif size == 0:
            size = end - start
        if size < header:
            raise ValueError("bad MP4 box")
        yield kind, start + header, min(start + size, end)
        start += size


def _mp4(fh: BinaryIO) -> Sound | None:
    size_of_file = os.fstat(fh.fileno()).st_size
    at = 0
    while at + 8 <= size_of_file:  # top level: seek past mdat (the pictures and sound) to the moov
        fh.seek(at)
        size, kind = struct.unpack(">I4s", fh.read(8))
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", fh.read(8))[0], 16
        elif size == 0:
            size = size_of_file - at
        if size < header:
            return None
        if kind == b"moov":
            if size > MAX_HEADER_BYTES:
                return None
            moov = fh.read(size - header)
            # An index cut short (a download stopped in it) was read as one of no tracks: "no pictures".
            return _mp4_moov(moov) if len(moov) == size - header else None
        at += size
    return None  # no moov: a recording cut short, which OpenCV refuses too


def mp4_index(moov: bytes) -> Sound | None:
    """What an MP4's / MOV's index (its moov box's body, read from wherever the file is) says; None if damaged."""
    try:
        return _mp4_moov(moov)
    except (ValueError, struct.error):
        return None


def _mp4_moov(moov: bytes) -> Sound:
    timescale = 0
    tracks = []  # (handler, the length of its leading empty edits, of its other edits (None: no edit list))
    for kind, body, stop in _mp4_boxes(moov, 0, len(moov)):
        if kind == b"mvhd":  # edit lists count in the movie's time scale
            timescale = struct.unpack(">I", moov[body + (20 if moov[body] == 1 else 12):][:4])[0]
        elif kind == b"trak":
            found = dict(_mp4_track(moov, body, stop))
            tracks.append((found.get(b"hdlr"), *found.get(b"elst", (0, None))))
    start, span = next(((empty, shown) for handler, empty, shown in tracks if handler == b"vide"), (0, None))
    return Sound(sum(handler == b"soun" for handler, *_ in tracks), start / timescale if timescale else 0.0,
                 pictures=sum(handler == b"vide" for handler, *_ in tracks),
                 picture_span_s=span / timescale if span is not None and timescale else None)


def _mp4_track(data: bytes, start: int, end: int):
    for kind, body, stop in _mp4_boxes(data, start, end):
        if kind in MP4_CONTAINERS:
            yield from _mp4_track(data, body, stop)
        elif kind == b"hdlr":  # version and flags (4 bytes), pre_defined (4), then the handler type
            yield b"hdlr", data[body + 8:body + 12]
        elif kind == b"elst":
            wide = data[body] == 1
            count = struct.unpack(">I", data[body + 4:body + 8])[0]
            entry = struct.Struct(">Qq" if wide else ">Ii")
            empty, shown, at = 0, 0, body + 8
            # An empty edit (media time -1) holds the track back; the others show pictures. A count past the box's
            # end (a damaged file) is read as far as the box goes.
            for _ in range(min(count, (stop - body - 8) // (entry.size + 4))):
                duration, media_time = entry.unpack(data[at:at + entry.size])
                if media_time == -1 and not shown:
                    empty += duration
                elif media_time != -1:
                    shown += duration
                at += entry.size + 4  # the rate
            yield b"elst", (empty, shown)


def _vint(fh: BinaryIO, keep_marker: bool) -> tuple[int | None, int]:
    """An EBML variable-length number and its length in bytes; None for a size of all ones (unknown)."""
    first = fh.read(1)
    if not first:
        raise ValueError("end of file")
    length = 9 - first[0].bit_length()
    if length > 8:
        raise ValueError("bad EBML number")
    raw = first + fh.read(length - 1)
    value = int.from_bytes(raw, "big")
    if keep_marker:  # element IDs keep their length marker, as the spec writes them
        return value, length
    value &= (1 << (7 * length)) - 1
    return (None if value == (1 << (7 * length)) - 1 else value), length


def _matroska(fh: BinaryIO) -> Sound | None:
    end = os.fstat(fh.fileno()).st_size
    at, tracks, scale = 0, None, 1_000_000  # the track list; nanoseconds a timestamp counts (Matroska's default)
    while at < end:
        fh.seek(at)
        try:
            element, id_len = _vint(fh, keep_marker=True)
            size, size_len = _vint(fh, keep_marker=False)
        except ValueError:  # past the track list, only the pictures' start is lost: the tracks are still told
            if tracks is None:
                raise
            break
        body = at + id_len + size_len
        if element == MKV_SEGMENT:  # its children follow; a live recording's Segment has no size
            at = body
            continue
        if element == MKV_TRACKS:
            if size is None or size > MAX_HEADER_BYTES:
                return None
            tracks = fh.read(size)
            if len(tracks) < size:  # a download cut short in it: its tracks counted as far as it went were "no
                return None  # tracks, no pictures: not a video" of a WebM cut at 300 bytes, no sound at 400
        elif element == MKV_INFO and size is not None and size <= MAX_HEADER_BYTES:
            try:
                scale = next((int.from_bytes(value, "big") for kind, value in _mkv_children(fh.read(size))
                              if kind == MKV_TIMESTAMP_SCALE), scale)
            except ValueError:  # a damaged Info: the default scale, the track list still read
                pass
        elif element == MKV_CLUSTER:
            if tracks is None:  # pictures began before any track list
                return None
            # A clip cut from a recording (ffmpeg -i long.mkv -ss 2.5 -c copy) keeps the pictures' times, 0.346 s
            # here, its sound's from 0.008: OpenCV times that first picture 0, and nothing said so (an MP4's
            # empty edit did).
            try:
                fh.seek(at)
                first = _mkv_first_picture(fh, _mkv_video_number(tracks), end)
            except (ValueError, struct.error):
                first = None
            return Sound(_mkv_audio_entries(tracks), first * scale / 1e9 if first is not None and first > 0 else 0.0,
                         pictures=_mkv_entries(tracks, MKV_VIDEO))
        if size is None:
            break
        at = body + size
    return None if tracks is None else Sound(_mkv_audio_entries(tracks), pictures=_mkv_entries(tracks, MKV_VIDEO))


def _mkv_video_number(tracks: bytes) -> int | None:
    for kind, entry in _mkv_children(tracks):
        fields = dict(_mkv_children(entry)) if kind == MKV_TRACK_ENTRY else {}
        if int.from_bytes(fields.get(MKV_TRACK_TYPE, b""), "big") == MKV_VIDEO and MKV_TRACK_NUMBER in fields:
            return int.from_bytes(fields[MKV_TRACK_NUMBER], "big")
    return None


def _mkv_first_picture(fh: BinaryIO, track: int | None, end: int) -> int | None:
    """The timestamp of `track`'s first block (in the file's timestamp units), from the cluster at fh on: the
    first clusters of a cut clip can hold its sound alone. None where the first few clusters hold none."""
    if track is None:
        return None
    clusters, cluster_time = 0, 0
    while fh.tell() < end:
        element, _ = _vint(fh, keep_marker=True)
        length, _ = _vint(fh, keep_marker=False)
        if element == MKV_CLUSTER:  # its children follow, its size known or not
            clusters += 1
            if clusters > 64:
                return None
            continue
        if length is None:
            return None
        if element == MKV_CLUSTER_TIME:
            cluster_time = int.from_bytes(fh.read(length), "big")
        elif element in (MKV_SIMPLE_BLOCK, MKV_BLOCK):
            head = fh.read(min(length, 12))
            number, used = _vint(io.BytesIO(head), keep_marker=False)
            if number == track:
                return cluster_time + struct.unpack(">h", head[used:used + 2])[0]
            fh.seek(length - len(head), os.SEEK_CUR)
        elif element != MKV_BLOCK_GROUP:  # a group's children follow: its Block
            fh.seek(length, os.SEEK_CUR)
    return None


def _mkv_children(data: bytes):
    fh = io.BytesIO(data)
    while fh.tell() < len(data):
        element, _ = _vint(fh, keep_marker=True)
        size, _ = _vint(fh, keep_marker=False)
        if size is None:
            raise ValueError("unknown size inside the track list")
        yield element, fh.read(size)


def _mkv_audio_entries(tracks: bytes) -> int:
    return _mkv_entries(tracks, MKV_AUDIO)


def _mkv_entries(tracks: bytes, track_type: int) -> int:
    return sum(any(element == MKV_TRACK_TYPE and int.from_bytes(value, "big") == track_type
                   for element, value in _mkv_children(entry))
               for kind, entry in _mkv_children(tracks) if kind == MKV_TRACK_ENTRY)


def _avi(fh: BinaryIO) -> Sound | None:
    fh.seek(12)
    kind, size = struct.unpack("<4sI", fh.read(8))
    if kind != b"LIST" or size > MAX_HEADER_BYTES:
        return None
    hdrl = fh.read(size)
    if hdrl[:4] != b"hdrl":
        return None
    types = list(_avi_stream_types(hdrl, 4))
    return Sound(sum(kind == b"auds" for kind in types), pictures=sum(kind == b"vids" for kind in types))


def _avi_stream_types(data: bytes, at: int):
    while at + 8 <= len(data):
        kind, size = struct.unpack("<4sI", data[at:at + 8])
        body = at + 8
        if kind == b"LIST" and data[body:body + 4] == b"strl":
            yield from _avi_stream_types(data[body:body + size], 4)
        elif kind == b"strh":
            yield data[body:body + 4]
        at = body + size + (size & 1)  # RIFF chunks are padded to an even length


# H.264 profiles whose sequence parameter set holds the chroma format, bit depths and scaling lists.
H264_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


def picture_size(packet: bytes, hevc: bool = False) -> tuple[int, int] | None:
    """The picture size (w, h), cropping applied, that the first sequence parameter set in an H.264 (or, hevc, an
    H.265) `packet` gives (Annex B: NAL units after 00 00 01 start codes, as a keyframe's packet carries them); None
    where it holds none. OpenCV scales every frame to its first frame's size without a word, so a file whose size
    changes mid-stream (a live stream's recording switching quality) says its later pictures' size only here."""
    at = packet.find(b"\x00\x00\x01")
    while 0 <= at < len(packet) - 4:
        kind = packet[at + 3] >> 1 & 0x3F if hevc else packet[at + 3] & 0x1F
        if kind == (33 if hevc else 7):
            end = packet.find(b"\x00\x00\x01", at + 3)
            payload = packet[at + (5 if hevc else 4):end if end > 0 else len(packet)]
            payload = payload.replace(b"\x00\x00\x03", b"\x00\x00")  # emulation prevention
            try:
                return _hevc_sps_size(payload) if hevc else _sps_size(payload)
            except (IndexError, ValueError):
                return None
        at = packet.find(b"\x00\x00\x01", at + 3)
    return None


class _Bits:
    """An H.264 syntax element reader: fixed-width and Exp-Golomb numbers, most significant bit first."""

    def __init__(self, data: bytes):
        self.value, self.left = int.from_bytes(data, "big"), 8 * len(data)

    def u(self, n: int) -> int:
        if n > self.left:
            raise ValueError("past the end of the parameter set")
        self.left -= n
        return (self.value >> self.left) & ((1 << n) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad Exp-Golomb number")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def _sps_size(rbsp: bytes) -> tuple[int, int]:
    """(w, h) from a sequence parameter set's payload (emulation prevention removed), per H.264 7.3.2.1.1."""
    bits = _Bits(rbsp)
    profile = bits.u(8)
    bits.u(16)  # constraint flags, level
    bits.ue()  # its id
    chroma, separate = 1, 0
    if profile in H264_HIGH_PROFILES:
        chroma = bits.ue()
        if chroma == 3:
            separate = bits.u(1)
        bits.ue(), bits.ue(), bits.u(1)  # bit depths, transform bypass
        if bits.u(1):  # scaling matrices: skipped through
            for i in range(12 if chroma == 3 else 8):
                if bits.u(1):
                    last = following = 8
                    for _ in range(16 if i < 6 else 64):
                        if following:
                            following = (last + bits.se() + 256) % 256
                        last = following or last
    bits.ue()  # log2 of the largest frame number
    order = bits.ue()
    if order == 0:
        bits.ue()
    elif order == 1:
        bits.u(1), bits.se(), bits.se()
        for _ in range(bits.ue()):
            bits.se()
    bits.ue(), bits.u(1)  # reference frames, gaps allowed
    width, height = (bits.ue() + 1) * 16, (bits.ue() + 1) * 16
    frames_only = bits.u(1)
    if not frames_only:
        bits.u(1)
        height *= 2
    bits.u(1)  # direct 8x8 inference
    if bits.u(1):  # cropping, in chroma samples (luma for monochrome or separate planes)
        left, right, top, bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
        colour = 0 if separate else chroma
        unit_x = 2 if colour in (1, 2) else 1
        unit_y = (2 - frames_only) * (2 if colour == 1 else 1)
        width -= unit_x * (left + right)
        height -= unit_y * (top + bottom)
    if width <= 0 or height <= 0:
        raise ValueError("no picture")
    return width, height


def _hevc_sps_size(rbsp: bytes) -> tuple[int, int]:
    """(w, h) from an H.265 sequence parameter set's payload (emulation prevention removed), per H.265 7.3.2.2."""
    bits = _Bits(rbsp)
    bits.u(4)  # its video parameter set's id
    sub_layers = bits.u(3)
    bits.u(1)
    bits.u(96)  # profile_tier_level's general part: profile, flags, level
    present = [(bits.u(1), bits.u(1)) for _ in range(sub_layers)]
    if sub_layers:
        bits.u(2 * (8 - sub_layers))
    for profile, level in present:
        bits.u(88 * profile + 8 * level)
    bits.ue()  # its id
    chroma = bits.ue()
    separate = bits.u(1) if chroma == 3 else 0
    width, height = bits.ue(), bits.ue()
    if bits.u(1):  # the conformance window, in chroma samples
        left, right, top, bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
        colour = 0 if separate else chroma
        width -= (2 if colour in (1, 2) else 1) * (left + right)
        height -= (2 if colour == 1 else 1) * (top + bottom)
    if width <= 0 or height <= 0:
        raise ValueError("no picture")
    return width, height
