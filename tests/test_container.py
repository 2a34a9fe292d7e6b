"""facekit.container: the sound tracks of a video file, read from its container's own track list (OpenCV's
reader and writer know none), so the video script can say that the annotated video left them out."""

from __future__ import annotations

import shutil
import struct
import subprocess

import numpy as np
import pytest

from facekit.container import Sound, sound
from facekit.errors import VideoError
from facekit.video import FrameSource, VideoSink


def audio_tracks(path):
    found = sound(path)
    return None if found is None else found.tracks

try:
    from .conftest import MEDIA
except ImportError:  # tests/ run as a plain folder (no __init__.py)
    from conftest import MEDIA

CLIP = MEDIA / "short_hamilton_clip.mp4"


def test_the_hamilton_clip_has_one_sound_track_and_its_pictures_start_late():
    if not CLIP.is_file():
        pytest.skip("the video clip needs the asset mirror (FACEKIT_ASSETS)")
    found = sound(CLIP)  # its video track's empty edit is 852 ms, its sound's 8 (ffprobe: start 0.852019)
    assert found is not None and found.tracks == 1 and found.picture_start_s == pytest.approx(0.852)


def _ffprobe_video(path) -> tuple[float, float]:
    """(start, duration) of the file's video stream, in seconds, as ffprobe reads its edit list."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=start_time,duration", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True).stdout
    start, duration = out.strip().split(",")
    return float(start), float(duration)


@pytest.mark.skipif(not shutil.which("ffmpeg") or not shutil.which("ffprobe"), reason="needs ffmpeg and ffprobe")
@pytest.mark.parametrize("sound_first", [False, True], ids=["as-filmed", "sound-track-first"])
def test_the_pictures_start_and_span_are_the_video_tracks_as_ffprobe_reads_them(tmp_path, sound_first):
    """The hamilton clip (an empty edit, then one that shows 9.18 s) and the same clip remuxed with its sound track
    first (`ffmpeg -map 0:a -map 0:v -c copy`, as some editors and phones write): the start and span are the video
    track's, read past each edit's rate field, not the first track's (the sound's starts at 0)."""
    if not CLIP.is_file():
        pytest.skip("the video clip needs the asset mirror (FACEKIT_ASSETS)")
    path = CLIP
    if sound_first:
        path = tmp_path / "sound_first.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(CLIP), "-map", "0:a", "-map", "0:v", "-c", "copy",
                        str(path)], check=True)
    start, duration = _ffprobe_video(path)
    found = sound(path)
    assert found is not None and found.tracks == 1 and found.pictures == 1 and start > 0.8
    assert found.picture_start_s == pytest.approx(start, abs=0.002)
    assert found.picture_span_s == pytest.approx(duration, abs=0.002)


@pytest.mark.parametrize("name", ["o.mp4", "o.mkv", "o.avi", "o.webm", "o.mov"])
def test_the_videos_opencv_writes_have_no_sound(tmp_path, name):
    sink = VideoSink(tmp_path / name, 25, (64, 48))
    for i in range(3):
        sink.write(np.full((48, 64, 3), 60 * i, np.uint8))
    assert sink.close()
    found = sound(tmp_path / name)
    assert found is not None and found.tracks == 0 and found.picture_start_s == 0.0


def _ebml(element: int, body: bytes, unknown_size: bool = False) -> bytes:
    size = b"\x01\xff\xff\xff\xff\xff\xff\xff" if unknown_size else b"\x01" + len(body).to_bytes(7, "big")
    return element.to_bytes((element.bit_length() + 7) // 8, "big") + size + body


def _track(kind: int) -> bytes:
    return _ebml(0xAE, _ebml(0xD7, b"\x01") + _ebml(0x83, bytes([kind])))  # TrackNumber, TrackType


def test_a_matroska_files_sound_tracks_are_counted_also_in_a_segment_of_unknown_size(tmp_path):
    header = _ebml(0x1A45DFA3, _ebml(0x4282, b"webm"))
    info = _ebml(0x1549A966, _ebml(0x2AD7B1, (1000000).to_bytes(3, "big")))
    for unknown in (False, True):  # a live recording's Segment has no size
        tracks = _ebml(0x1654AE6B, _track(1) + _track(2) + _track(2))
        path = tmp_path / f"s{unknown}.mkv"
        path.write_bytes(header + _ebml(0x18538067, info + tracks, unknown_size=unknown))
        assert audio_tracks(path) == 2
    silent = tmp_path / "silent.webm"
    silent.write_bytes(header + _ebml(0x18538067, info + _ebml(0x1654AE6B, _track(1))))
    assert audio_tracks(silent) == 0


def test_a_matroska_clip_cut_from_a_recording_says_when_its_pictures_start(tmp_path):
    """`ffmpeg -i long.mp4 -ss 2.5 -c copy clip.mkv`: its pictures from 0.346 s, its sound from 0.008, and the first
    cluster holds sound alone. OpenCV times that first picture 0, and the outputs' times were 0.346 s early with no
    word (an MP4's were told); a cluster's size may be unknown (a live recording's)."""
    header = _ebml(0x1A45DFA3, _ebml(0x4282, b"matroska"))
    info = _ebml(0x1549A966, _ebml(0x2AD7B1, (1000000).to_bytes(3, "big")))
    tracks = _ebml(0x1654AE6B, _track(1) + _ebml(0xAE, _ebml(0xD7, b"\x02") + _ebml(0x83, b"\x02")))

    def cluster(time_ms: int, blocks: list[tuple[int, int]], unknown: bool) -> bytes:  # (track, offset ms)
        body = _ebml(0xE7, time_ms.to_bytes(2, "big")) + b"".join(
            _ebml(0xA3, bytes([0x80 | track]) + struct.pack(">h", offset) + b"\x80" + b"\0" * 20)
            for track, offset in blocks)
        return _ebml(0x1F43B675, body, unknown_size=unknown)

    for unknown in (False, True):
        path = tmp_path / f"clip{unknown}.mkv"
        path.write_bytes(header + _ebml(0x18538067, info + tracks + cluster(0, [(2, 8), (2, 29)], unknown)
                                        + cluster(300, [(2, 30), (1, 46), (1, 79)], unknown)))
        found = sound(path)
        assert found is not None and found.tracks == 1 and found.picture_start_s == pytest.approx(0.346), unknown
    for cut in (b"\x1f\x43", cluster(0, [(2, 8)], False)[:-9]):  # cut where its pictures begin: tracks still told
        path.write_bytes(header + _ebml(0x18538067, info + tracks, unknown_size=True) + cut)
        assert sound(path) == Sound(1, 0.0, pictures=1)


def test_a_matroska_file_cut_short_in_its_track_list_cannot_be_told(tmp_path):
    """A WebM download cut in its track list (its first few hundred bytes) had its tracks counted as far as they
    went: "no tracks, no pictures: not a video" cut in the first entry, no sound cut in the second."""
    header = _ebml(0x1A45DFA3, _ebml(0x4282, b"webm"))
    whole = header + _ebml(0x18538067, _ebml(0x1654AE6B, _track(1) + _ebml(0xAE, _ebml(0xD7, b"\x02")
                                                                            + _ebml(0x83, b"\x02"))))
    path = tmp_path / "cut.webm"
    path.write_bytes(whole)
    assert sound(path) == Sound(1, 0.0, pictures=1)
    for cut in (len(whole) - 30, len(whole) - 5):  # in the picture track's entry, then in the sound's
        path.write_bytes(whole[:cut])
        assert sound(path) is None, cut
        with pytest.raises(VideoError, match=r"cut.webm: not a readable video \(corrupt, truncated"):
            FrameSource(str(path))


def _chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + b"\0" * (len(body) & 1)


def test_an_avi_files_sound_stream_is_counted(tmp_path):
    def strl(kind: bytes) -> bytes:
        return _chunk(b"LIST", b"strl" + _chunk(b"strh", kind + b"\0" * 52) + _chunk(b"strf", b"\0" * 3))

    for streams, expected in (((b"vids", b"auds"), 1), ((b"vids",), 0)):
        hdrl = _chunk(b"LIST", b"hdrl" + _chunk(b"avih", b"\0" * 56) + b"".join(strl(s) for s in streams))
        path = tmp_path / f"{expected}.avi"
        path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(hdrl)) + b"AVI " + hdrl)
        assert audio_tracks(path) == expected


def test_what_cannot_be_told_is_none(tmp_path):
    text, cut = tmp_path / "notes.txt", tmp_path / "cut.mp4"
    text.write_text("not a video\n")
    cut.write_bytes(struct.pack(">I4s", 24, b"ftyp") + b"isom" + b"\0" * 12 + struct.pack(">I4s", 999, b"mdat"))
    assert audio_tracks(text) is None and audio_tracks(tmp_path / "missing.mp4") is None
    assert audio_tracks(cut) is None  # no moov: a recording cut short


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg")
@pytest.mark.parametrize("name", ["clip.mov", "clip.mkv", "clip.avi", "clip.ts", "clip.m2ts"])
def test_a_copy_of_the_clip_in_any_container_counts_the_frames_it_gives(tmp_path, name):
    """The progress bar's total (frames_shown) of the hamilton clip copied into another container (`ffmpeg -c
    copy`): OpenCV counts 601 in the AVI (its entries at twice the rate, every other one empty) and 300 in the TS
    (its sound's span too), and the bar ran 275/601, 271/300. Each gives its 275 now, read in a few ms at open; a
    duration still spans every frame's time."""
    if not CLIP.is_file():
        pytest.skip("the video clip needs the asset mirror (FACEKIT_ASSETS)")
    path = tmp_path / name
    form = {".ts": ["-f", "mpegts"], ".m2ts": ["-f", "mpegts", "-mpegts_m2ts_mode", "1"]}.get(path.suffix, [])
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(CLIP), "-c", "copy", *form, str(path)], check=True)
    with FrameSource(path) as source:
        shown, frames = source.frames_shown, 0
        while (item := source.read()) is not None:
            frames, last = frames + 1, source.time_s(item[0])
    assert frames == shown == 275 and source.duration_s >= last


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg")
def test_a_ts_joined_with_cat_has_no_total_rather_than_a_wrong_one(tmp_path):
    """`cat a.ts b.ts` starts its clock again at the join: OpenCV's count (215) and the last piece's span (190)
    both fell short of its 310 frames. Its progress bar counts frames without a total; a whole TS keeps its total."""
    if not CLIP.is_file():
        pytest.skip("the video clip needs the asset mirror (FACEKIT_ASSETS)")
    pieces = [tmp_path / "a.ts", tmp_path / "b.ts"]
    for cut, piece in zip((["-i", str(CLIP), "-t", "4"], ["-ss", "4", "-i", str(CLIP)]), pieces):
        subprocess.run(["ffmpeg", "-v", "error", *cut, "-c", "copy", "-f", "mpegts", str(piece)], check=True)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(piece.read_bytes() for piece in pieces))
    with FrameSource(joined) as source:
        assert source.frames_shown is None and source.duration_s is not None  # a --start past it still says why
    with FrameSource(pieces[0]) as source:
        assert source.frames_shown == 95
