"""What OpenCV does not say about a video file: how many sound tracks it has, when its pictures start, and how many
pictures an AVI or an MPEG-TS holds.

OpenCV's VideoWriter writes pictures only, and the opencv-python wheels' FFmpeg reader opens no audio stream
(CAP_PROP_AUDIO_TOTAL_STREAMS is 0 for a clip with sound), so an annotated video silently lost its source's sound.
Reading the container's own track list (MP4 / MOV, Matroska / WebM, AVI) lets the run say so. Pure Python, headers
and indexes only: a file of gigabytes costs a few reads."""

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


def matroska_head(head: bytes) -> Sound | None:
    """sound() of a Matroska / WebM file told from its first bytes (one on a web server), where its track list and
    first cluster are; None where they do not tell."""
    if not head.startswith(MKV_EBML.to_bytes(4, "big")):
        return None
    try:
        return _matroska(io.BytesIO(head))
    except (ValueError, struct.error):
        return None


def _matroska(fh: BinaryIO) -> Sound | None:
    end = fh.seek(0, os.SEEK_END)
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


def avi_pictures(path: str | os.PathLike) -> int | None:
    """The pictures of an AVI's first video stream, as its index (idx1) lists them, the empty entries left out: FFmpeg
    writes a video of B-frames (`ffmpeg -i clip.mp4 -c copy clip.avi`) at twice its rate, every other entry empty,
    and OpenCV counts them (601 for the hamilton clip's 275). None where it cannot be told: no index, or an OpenDML
    file past 1 GB, whose first index lists only its first part."""
    try:
        with open(path, "rb") as fh:
            riff, riff_size, form = struct.unpack("<4sI4s", fh.read(12))
            end = os.fstat(fh.fileno()).st_size
            if riff != b"RIFF" or form != b"AVI " or 8 + riff_size + (riff_size & 1) < end - 8:
                return None  # another RIFF (AVIX) follows: its pictures are in no idx1
            at, stream = 12, None
            while at + 8 <= end:
                fh.seek(at)
                kind, size = struct.unpack("<4sI", fh.read(8))
                if kind == b"LIST" and size <= MAX_HEADER_BYTES and fh.read(4) == b"hdrl":
                    types = list(_avi_stream_types(fh.read(size - 4), 0))
                    stream = types.index(b"vids") if b"vids" in types else None
                elif kind == b"idx1" and stream is not None and size <= MAX_HEADER_BYTES:
                    import numpy as np

                    entries = np.frombuffer(fh.read(size - size % 16), dtype=[("id", "S4"), ("flags", "<u4"),
                                                                               ("at", "<u4"), ("size", "<u4")])
                    ids = [f"{stream:02d}{suffix}".encode() for suffix in ("dc", "db")]  # compressed, uncompressed
                    return int(np.count_nonzero(np.isin(entries["id"], ids) & (entries["size"] > 0))) or None
                at += 8 + size + (size & 1)
    except (OSError, ValueError, struct.error):
        return None
    return None


TS_PROBE_BYTES = 1 << 20  # an MPEG-TS's first and last pictures are looked for this far into its head and tail
TS_PROBES = 8  # and its clock at this many places between, each TS_PROBE_BYTES // 16 long
# Stream types of video in an MPEG-TS's program map: MPEG-1/2, MPEG-4 Part 2, H.264, H.265, VVC.
TS_VIDEO_TYPES = {0x01, 0x02, 0x10, 0x1B, 0x24, 0x33}
CLOCK_RESTART_S = 1.0  # a TS's timestamps that go back by more than this are a new piece's (B-frames' go back by a few)


def ts_sync(data: bytes) -> tuple[int, int] | None:
    """(the packets' length, the first one's offset) of MPEG-TS `data`: 188-byte packets, each from the sync byte
    0x47 (a camcorder's .mts / .m2ts: 192). Looked for past the first bytes: a piece of a recording split by size
    (split -b 1G) starts mid-packet. None where `data` is no TS."""
    return next(((step, at) for step in (188, 192) for at in range(step)
                 if all(data[at + step * k:at + step * k + 1] == b"G" for k in range(4))), None)


def ts_pictures_span_s(path: str | os.PathLike) -> float | None:
    """Seconds from an MPEG-TS's first picture to its last, by their timestamps (PTS) in its first and last
    TS_PROBE_BYTES: a TS holds no frame count, and OpenCV's is the whole file's span times the rate, its sound's
    included (300 for the hamilton clip's 275 frames: `ffmpeg -i clip.mp4 -c copy clip.ts`). None where it cannot be
    told: no program map or picture timestamp found there, or a clock that goes back at one of TS_PROBES places
    between (pieces joined with cat: the span is the last piece's)."""
    try:
        with open(path, "rb") as fh:
            end = os.fstat(fh.fileno()).st_size
            places = [(0, TS_PROBE_BYTES), *((end * k // (TS_PROBES + 1), TS_PROBE_BYTES // 16)
                                             for k in range(1, TS_PROBES + 1)), (end - TS_PROBE_BYTES, TS_PROBE_BYTES)]
            chunks, read_to = [], 0
            for at, size in places:  # in the file's order, none read twice
                at = max(at, read_to)
                fh.seek(at)
                chunks.append(fh.read(max(0, min(size, end - at))))
                read_to = at + len(chunks[-1])
    except OSError:
        return None
    sync = ts_sync(chunks[0])
    video = None if sync is None else _ts_video_pid(_ts_packets(chunks[0], sync[0]))
    if sync is None or video is None:
        return None
    times = [pts for chunk in chunks for pid, pts in _ts_pts(_ts_packets(chunk, sync[0])) if pid == video]
    if not times:
        return None
    first = reached = times[0]
    for pts in times:  # as far past the first picture as each is, at 90 kHz in 33 bits that wrap
        if (pts - first) % (1 << 33) > (1 << 32):  # before the first picture: a B-frame shown before it
            first = pts
        elif ((reached - pts) % (1 << 33)) / 90000.0 > CLOCK_RESTART_S and (reached - pts) % (1 << 33) < (1 << 32):
            return None  # gone back by more than a B-frame's reorder
        elif (pts - reached) % (1 << 33) < (1 << 32):
            reached = pts
    return ((reached - first) % (1 << 33)) / 90000.0


def _ts_packets(data: bytes, step: int):
    """(PID, payload) of each packet in `data` in which a unit (a table, a PES packet) starts, from its first sync
    byte: picked out with numpy, as a megabyte holds ~5,600 packets and a picture starts in one of dozens."""
    import numpy as np

    sync = ts_sync(data)
    if sync is None or sync[0] != step:
        return
    rows = (len(data) - sync[1]) // step
    packets = np.frombuffer(data, np.uint8, rows * step, sync[1]).reshape(rows, step)
    for row in np.flatnonzero((packets[:, 0] == 0x47) & (packets[:, 1] & 0x40 != 0)):
        at = sync[1] + int(row) * step
        control = (data[at + 3] >> 4) & 0x3
        body = at + 4 + (1 + data[at + 4] if control == 3 else 0)
        if control & 1 and body < at + 188:
            yield ((data[at + 1] & 0x1F) << 8) | data[at + 2], data[body:at + 188]


def _ts_video_pid(packets) -> int | None:
    """The PID of the first video stream the program map (found by the PAT) lists."""
    pmt = None
    for pid, payload in packets:
        if len(payload) < 13:
            continue
        section = payload[1 + payload[0]:]
        if pid == 0 and section[:1] == b"\x00" and len(section) >= 16:
            pmt = ((section[10] & 0x1F) << 8) | section[11]  # the first program's
        elif pid == pmt and section[:1] == b"\x02" and len(section) >= 12:
            length = ((section[1] & 0x0F) << 8) | section[2]
            at = 12 + (((section[10] & 0x0F) << 8) | section[11])
            while at + 5 <= min(len(section), 3 + length - 4):
                kind, es_pid = section[at], ((section[at + 1] & 0x1F) << 8) | section[at + 2]
                if kind in TS_VIDEO_TYPES:
                    return es_pid
                at += 5 + (((section[at + 3] & 0x0F) << 8) | section[at + 4])
            return None
    return None


def _ts_pts(packets):
    """(PID, PTS) of each PES packet that starts in `packets` and has a PTS."""
    for pid, payload in packets:
        if payload[:3] == b"\x00\x00\x01" and len(payload) >= 14 and payload[7] & 0x80:
            p = payload[9:14]
            yield pid, (((p[0] >> 1) & 0x07) << 30) | (p[1] << 22) | ((p[2] >> 1) << 15) | (p[3] << 7) | (p[4] >> 1)


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
