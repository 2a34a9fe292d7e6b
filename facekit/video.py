"""Video in and out: a frame source read on its own thread (camera, file or stream URL), an atomic
video writer, and an FPS meter.

Files are read without dropping frames (a bounded queue that blocks the reader), so every frame is
analysed and the output has the source's frame count. Cameras and streams keep only the latest
frame, so a slow model shows fresh frames instead of falling further and further behind.
"""

from __future__ import annotations

import itertools
import os
import queue
import re
import shlex
import stat
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import cv2
import numpy as np

from .container import CLOCK_RESTART_S
from .errors import VideoError, VideoNotFoundError, counted, loops, native_path, near_names, shown
from .preprocess import MAX_PIXELS, as_bgr, check_rotation, header_size, is_image_path, rotate_clockwise, special_kind
from .records import TEMP_SUFFIX, CutShort, make_ordinary, make_temp, sweep_stale, sync_if_replacing

# Cameras often report 0 fps (or nonsense); the writer needs a number.
DEFAULT_FPS = 30.0
STREAM_TIMEOUT_MS = 5000
# A file whose reader stops this many frames short of its own frame count is truncated or corrupt;
# containers' counts are estimates, so allow a little slack.
SHORT_READ_SLACK = 2
# A live stream (an IP camera over RTSP, an MJPEG or HLS feed: no frame count) that stops is opened again
# again and again, RECONNECT_PAUSE_S apart at first, then twice as long each time up to
# RECONNECT_MAX_PAUSE_S, for RECONNECT_WINDOW_S before the run ends: Wi-Fi drops and camera restarts
# (30-90 s for most IP cameras) are routine on a feed watched for hours, and three tries a second apart
# ended an unattended run on any outage over ~3 s. A file served over HTTP (it has a frame count) just ends.
RECONNECT_PAUSE_S = 1.0
RECONNECT_MAX_PAUSE_S = 15.0
RECONNECT_WINDOW_S = 300.0
# A frame of a live stream that does not decode (a corrupt JPEG in an MJPEG feed, a damaged packet) fails
# its read at once while the connection goes on: the next read gets the next frame. Up to this many in a
# row are skipped before the stream is taken as stopped (opening it again cost a second of frames and a
# [WARN] line for every bad frame).
BAD_FRAMES_SKIPPED = 5
# A file's frame that does not decode (a damaged packet: a bad sector, a broken copy) fails its read, and the next read
# gets the next frame, as ffmpeg and players go on past it. Taken for the file's end, an MP4 whose frames 100-104 of 275
# were damaged ended at frame 100 ("truncated or corrupt", exit 2), the good frames after them lost. Up to this many in
# a row are skipped while the file's frame count says frames are still to come, each keeping its number.
FILE_BAD_FRAMES_SKIPPED = 300
# A time range's seek (start_s) lands this far before its start, then reads forward to its first frame: OpenCV
# turns a time into a frame number by the file's average rate, so in a recording joined from pieces (its clock
# jumping between them) a seek to 150.0 s landed at 150.70, 21 frames late. One that still lands late goes back
# SEEK_LEAD_S x 4, x 16, ... to the file's start.
SEEK_LEAD_S = 1.0
# A file's rate over MAX_TRUSTED_FPS is most often its time base (1000 fps of a 30 fps video), and is believed only
# where its first RATE_PROBE_FRAMES frames' timestamps are as far apart as it says.
MAX_TRUSTED_FPS = 240.0
RATE_PROBE_FRAMES = 9
# A frame belongs to a range [start_s, end_s) when its time is within this of it (a timestamp's float error).
RANGE_SLACK_S = 5e-5

# .mp4's MPEG-4 Part 2 plays in desktop players (VLC, mpv, QuickTime, Windows' player) but in no web browser; the
# opencv-python wheels write no H.264. WebM's VP8 plays in every current browser, for ~24 ms of CPU a 640x360 frame
# (mp4v's ~1.6); VP9 took ~125 ms for the same size and quality, too slow for a live run.
FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "mp4v", ".webm": "VP80"}
SOUND_EXTENSIONS = {".mp3", ".wav", ".m4a", ".aac", ".flac", ".ogg", ".oga", ".opus", ".wma", ".amr"}
PLAYABLE_CUT_SHORT = {".mkv", ".avi"}  # containers a player reads without the index written at the end


def silence_opencv() -> None:
    """OpenCV / FFmpeg log their own errors (moov atom not found, overread, ...) on stderr; the CLI
    prints one line instead. FFmpeg's level is read when its backend first opens something."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except AttributeError:
        pass


_quiet_lock = threading.Lock()
_quiet_videos = 0  # analyze_video runs under way in opencv_quiet
_level_before: int | None = None  # OpenCV's log level before the first of them


@contextmanager
def opencv_quiet():
    """silence_opencv while the block runs, OpenCV's log level set back as it was once the last such block ends:
    the library's. silence_opencv alone (the scripts' own processes) left it silent for good, so after one
    analyze_video a notebook's cv2.imread("typo.png") gave None without OpenCV's "can't open/read file" line."""
    global _quiet_videos, _level_before
    with _quiet_lock:
        if _quiet_videos == 0:
            try:
                _level_before = cv2.utils.logging.getLogLevel()
            except AttributeError:
                _level_before = None
        _quiet_videos += 1
        silence_opencv()
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_videos -= 1
            if _quiet_videos == 0 and _level_before is not None:
                cv2.utils.logging.setLogLevel(_level_before)


def quiet_stderr():
    """FFmpeg and some OpenCV backends print straight to fd 2 (not through OpenCV's logger) when a
    file or writer fails to open; hide that so the user sees our one line."""
    from .runtime import native_stderr

    return native_stderr(drop_all=True)


class NothingInRange(VideoError):
    """A time range (start_s, end_s) that holds none of a readable video's frames: one that starts past its end.
    A folder's run says so of that video and goes on, as of a video that is not there to read."""


_TIME = re.compile(r"(?:(?:(?P<h>\d+):)?(?P<m>\d+):)?(?P<s>\d+(?:\.\d*)?|\.\d+)(?P<unit>s|ms|us)?")


def parse_time(text: str) -> float:
    """A time in a video, as ffmpeg's -ss and -to take it: seconds (95.5, 95.5s, 500ms), MM:SS[.ms] or
    HH:MM:SS[.ms] (0:10:00, 1:35.5); seconds past 59 after a colon, minutes past 59 after hours, a sign or
    anything else is a ValueError saying so."""
    found = _TIME.fullmatch(str(text).strip())
    if found is None and str(text).strip().startswith("-"):
        raise ValueError(f"a time counts from the video's start: 0 or more; got {text}")
    if found is None:
        raise ValueError(f"a time is seconds (95.5) or [HH:]MM:SS[.ms] (1:35.5, 0:10:00), from the video's "
                         f"start; got {text}")
    h, m, sec, unit = found.group("h", "m", "s", "unit")
    if m is not None and (unit or float(sec) >= 60 or (h is not None and int(m) >= 60)):
        raise ValueError(f"{text}: after a colon, minutes and seconds are under 60 (as in 1:02:03.5) and take "
                         f"no unit")
    scale = {"ms": 1e-3, "us": 1e-6}.get(unit or "s", 1.0)
    return int(h or 0) * 3600 + int(m or 0) * 60 + float(sec) * scale


def time_text(seconds: float) -> str:
    """Seconds as a player shows them: 9.142 s as 0:09.142, 3725.5 as 1:02:05.500."""
    millis = round(seconds * 1000)
    h, rest = divmod(millis, 3_600_000)
    m, rest = divmod(rest, 60_000)
    return (f"{h}:{m:02d}" if h else f"{m}") + f":{rest // 1000:02d}.{rest % 1000:03d}"


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # "camera", "file" or "stream"
    target: int | str

    @classmethod
    def parse(cls, source: str | int | os.PathLike[str]) -> "SourceSpec":
        # os.fsdecode, not str: an os.scandir() entry's str is "<DirEntry 'clip.mp4'>", no path.
        s = (os.fsdecode(source) if isinstance(source, os.PathLike) else str(source)).strip()
        if s.isdigit():
            return cls("camera", int(s))
        if s[:7].lower() == "file://":
            # A file's URL (a file manager's copy, a browser's address bar) was read as a live stream: only its
            # newest frame each time (2 of 10 analysed), with a camera's clock column.
            from urllib.parse import urlparse
            from urllib.request import url2pathname

            return cls("file", url2pathname(urlparse(s).path))
        if "://" in s:
            return cls("stream", s)
        if s.startswith("~") and not os.path.exists(s):  # "~/clip.mp4" in a notebook, read as a shell reads it
            s = os.path.expanduser(s)
        return cls("file", s)

    @property
    def live(self) -> bool:
        return self.kind != "file"

    @property
    def path(self) -> Path:
        """A file's target, its name, as a Path: for a file's code only (a camera's target is its index)."""
        return Path(cast(str, self.target))

    def describe(self) -> str:
        if self.kind == "camera":
            return f"camera {self.target}"
        return hide_password(str(self.target)) if self.kind == "stream" else str(self.target)


def hide_password(url: str) -> str:
    """A stream URL as it may be shown: its password, if it has one, as ***. An IP camera's address carries
    its credentials (rtsp://admin:pw@cam/stream), and every line that named the stream (does not answer,
    opening it again, back) printed the password into logs, journald and cron mail."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    if not sep or "@" not in netloc:
        return url
    user, colon, _ = netloc.rpartition("@")[0].partition(":")
    if not colon:  # a user name alone (rtsp://admin@cam/...) is no secret
        return url
    return f"{scheme}://{user}:***@{netloc.rpartition('@')[2]}{slash}{path}"


def _address_limit_mb() -> int | None:
    """This process's address-space limit (ulimit -v) in MB, None when there is none (or no such limit here)."""
    from .runtime import address_space_limit

    soft = address_space_limit()
    return None if soft is None else soft >> 20


def _opencv_name(path: Path) -> str:
    r"""The name OpenCV opens `path` by (facekit.errors.native_path), or one line when the name is not UTF-8 (an
    old archive's Latin-1 "caf\xe9.mp4", which Python holds as surrogate escapes): OpenCV's bindings crash the
    whole process on such a string (SIGSEGV, exit 139, no message, every output lost)."""
    name = native_path(path)
    if name is None:
        raise VideoError(f"{shown(str(path))}: OpenCV cannot open a file whose name is not UTF-8; rename it")
    return name


def check_file_source(spec: SourceSpec) -> None:
    """The checks a video file's name can have without opening it (there, a folder, empty): the scripts make
    them before the models load, so a missing video is named at once, not after ~1 s of "loading face detector
    model..." and the detector's licence line. Cameras, streams and image sequences pass."""
    if spec.kind != "file":
        return
    if not str(spec.target):  # Path("") is ".": "is a folder, not a video" named a folder nobody gave
        raise VideoError("empty path: expected a video file's path, a camera index or a stream URL")
    path = spec.path
    if _is_sequence(path):
        return
    if not path.exists():
        # "-1", OpenCV's "any camera" in examples on the web, read as a file that is not there.
        camera = " (cameras are numbered from 0)" if re.fullmatch(r"-\d+", str(path)) else ""
        # `-s webcam`, as a user guesses the camera is named: read as a file's name.
        if str(path).lower() in ("webcam", "camera", "cam", "usb", "video0", "/dev/video0"):
            camera = " (a camera is given by its index: -s 0 for the first)"
        if path.is_symlink() and loops(path):  # "which does not exist" sent the user looking for a lost video
            raise VideoError(f"{path}: a link to {os.readlink(path)}, which leads back to itself (a loop of links), "
                             "not a file")
        if path.is_symlink():  # as a photo's: "no such file" of a link the user can see in the folder
            raise VideoNotFoundError(f"{path}: a link to {os.readlink(path)}, which does not exist (a disk not "
                                     "mounted, a video moved?)", filename=str(path))
        raise VideoNotFoundError(f"{path}: no such file{camera or near_names(path)}", filename=str(path))
    if path.is_dir():
        raise VideoError(f"{path}: is a folder, not a video (for its images as frames, give a pattern such "
                         f"as {path / '%04d.png'})")
    mode = path.stat().st_mode
    if stat.S_ISFIFO(mode):
        # `-s <(curl -s URL)`, /dev/stdin: a pipe's size is 0, and it read "empty file (0 bytes)". From a pipe
        # OpenCV reads no MP4 whose index is at its end (most are); --source - reads it to its end first.
        raise VideoError(f"{path}: a pipe, not a video file: pipe the video to --source - instead (cat clip.mp4 | "
                         "detect_mask_video.py --source -), which reads it to its end first")
    kind = None if stat.S_ISREG(mode) else special_kind(path)
    if kind is not None:
        # -s /dev/zero, /dev/null, a camera's /dev/video0: "empty file (0 bytes)", as a device's size is 0.
        device = re.fullmatch(r"video(\d+)", path.name) if kind == "a device" else None
        raise VideoError(f"{path}: {kind}, not a video file"
                         + (f" (a camera is given by its index: -s {int(device[1])})" if device else ""))
    if stat.S_ISREG(mode):  # not a device: opening it here would take it from OpenCV
        try:
            # Opened, not only stat'ed: a file this user may not read went on to OpenCV, whose failure read "not a
            # readable video (corrupt, truncated, ...)" of an intact video.
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise VideoError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file (0 bytes)")


def _open_capture(spec: SourceSpec, hold_stderr: bool = True, explain: bool = True,
                  read_ms: int | None = None) -> cv2.VideoCapture:
    """hold_stderr False: FFmpeg's own lines are not held back (a reconnect on the reader thread, or the
    library, where holding the process's stderr for up to the time-out would swallow the other threads'
    lines; `silence_opencv` keeps OpenCV and FFmpeg quiet there). explain False: a stream that does not open
    is not asked why (a reconnect's tries, whose error is not shown: each was one request more to the camera).
    read_ms: how long a stream's read may wait for a frame (STREAM_TIMEOUT_MS; a live HLS stream's: _hls_read_ms)."""
    quiet = quiet_stderr if hold_stderr else nullcontext
    if spec.kind == "camera":
        try:
            with quiet():
                cap = cv2.VideoCapture(spec.target)
        except (cv2.error, OverflowError):  # an index past a C int ("--source 99999999999"): OpenCV's traceback
            cap = None
        if cap is None or not cap.isOpened():
            raise VideoError(f"camera {spec.target} cannot be opened (not connected, or in use by another program)")
        return cap
    if spec.kind == "stream":
        # Without the timeouts an unreachable stream blocks for 30 s or more.
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                  read_ms or STREAM_TIMEOUT_MS]
        began = time.monotonic()
        with quiet():
            cap = cv2.VideoCapture(spec.target, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            # Asked only of a server that answered in time: one that did not would hold the run 5 s more.
            answered = time.monotonic() - began < STREAM_TIMEOUT_MS / 1000 - 0.5
            refused = _http_refusal(str(spec.target)) if answered and explain else None
            if refused:
                raise VideoError(f"stream {spec.describe()} {refused}")
            # "no connection within 5 s" of a port nothing listens on (a camera's stream switched off, a wrong port)
            # came after a second, and sent users to the network rather than the port.
            closed = _closed_port(str(spec.target)) if answered and explain else None
            if closed:
                raise VideoError(f"stream {spec.describe()} refused the connection: nothing listens on {closed} (is "
                                 "the camera's stream on, and the port the one its manual gives?)")
            raise VideoError(f"stream {spec.describe()} does not answer (no connection within "
                             f"{STREAM_TIMEOUT_MS // 1000} s, or not a video stream)")
        return cap
    check_file_source(spec)
    path = spec.path
    sequence = _is_sequence(path)
    name = _opencv_name(path)
    gif = None if sequence else _GifCapture.opened(path)
    if gif is not None:
        return cast(cv2.VideoCapture, gif)  # its read, get, set and release are all FrameSource calls
    with quiet():
        # An image sequence ("frame_%03d.png") goes through OpenCV's own reader, which hands back each
        # image at its own size; FFmpeg's image2 would rescale them silently.
        cap = cv2.VideoCapture(name, cv2.CAP_IMAGES) if sequence else cv2.VideoCapture(name)
    if not cap.isOpened():
        if sequence:
            _check_sequence_start(path)
        else:
            _say_why_unreadable(path)
        limit = _address_limit_mb()
        # FFmpeg fails to open an intact file silently when it cannot allocate (ulimit -v ~480 MB here): with a
        # limit set, "corrupt" alone sent users to fetch a good file again.
        memory = f", or too little memory to open it under this process's limit of {limit} MB (ulimit -v)" if limit \
            else ""
        raise VideoError(f"{path}: not a readable video (corrupt, truncated, no frames, or unsupported format)"
                         f"{memory}")
    if not sequence:
        _refuse_cover_art(path, cap)
    return cap


def _refuse_cover_art(path: Path, cap: cv2.VideoCapture) -> None:
    """A song's or a podcast's file with its cover art (an .mp3's, an .m4a's or a sound-only .mp4's picture,
    which FFmpeg gives as a video stream of one frame at 90000 fps) is refused as the sound file it is: it was
    read as that one picture, then "[ERROR] video ends at frame 1 of 270000 (truncated or corrupt)", exit 2.
    Asked only where the name or the rate (over 240 fps: most often a time base) hints at one."""
    fps = cap.get(cv2.CAP_PROP_FPS)
    sound_name = path.suffix.lower() in SOUND_EXTENSIONS
    if not (sound_name or not np.isfinite(fps) or fps > MAX_TRUSTED_FPS):
        return
    from .container import sound

    found = sound(path)
    if found is not None:
        only_sound = found.pictures == 0 and found.tracks > 0
    else:  # no container sound() reads: an .mp3 by its name, or by the ID3 tag its art is in (piped: no name)
        only_sound = sound_name or _file_head(path).startswith(b"ID3")
    if only_sound:
        cap.release()
        raise VideoError(f"{path}: sound only, its one picture the cover art: not a video")


def _http_request(url: str):
    """A GET of an http(s) URL, its credentials (http://user:pw@cam/...) sent as Basic authorization, which urllib
    does not do itself; None for another scheme."""
    import base64
    from urllib.parse import unquote, urlsplit, urlunsplit
    from urllib.request import Request

    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return None
    headers = {}
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    return Request(urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])), headers=headers)


def _hls_playlist(url: str) -> bytes | None:
    """A live HLS stream's media playlist as the server has it now (a master playlist's first variant's), None
    when it is no HLS URL or cannot be read. An encoder that stops leaves its playlist as it was: opened again,
    FFmpeg plays its last segments once more, old pictures taken for new ones (timed now, their people counted
    again, alerts again), every 15 s or so for as long as the server is up."""
    from http.client import HTTPException
    from urllib.parse import urljoin
    from urllib.request import urlopen

    if not _is_hls(url):
        return None
    for _ in range(2):  # the master playlist, then its first variant's
        request = _http_request(url)
        if request is None:
            return None
        try:
            with urlopen(request, timeout=STREAM_TIMEOUT_MS / 1000) as answer:
                text = answer.read(1 << 20)
        except (OSError, ValueError, HTTPException):
            return None
        if b"#EXT-X-STREAM-INF" not in text:
            return text
        lines = [x.strip() for x in text.decode("utf-8", "replace").splitlines()]
        at = next(i for i, x in enumerate(lines) if x.startswith("#EXT-X-STREAM-INF"))
        variant = next((x for x in lines[at + 1:] if x and not x.startswith("#")), None)
        if variant is None:
            return text
        url = urljoin(url, variant)
    return None


def _is_hls(url: str) -> bool:
    from urllib.parse import urlsplit

    return urlsplit(url).path.lower().endswith((".m3u8", ".m3u"))


def _hls_target_s(url: str) -> float | None:
    """A live HLS stream's target duration (its segments' longest), from its playlist; None if it has none."""
    found = re.search(rb"#EXT-X-TARGETDURATION:[ \t]*([0-9]+(?:[.][0-9]+)?)", _hls_playlist(url) or b"")
    return float(found[1]) if found else None


def _hls_read_ms(target_s: float | None) -> int:
    """How long a read of a live HLS stream may wait for its next frame: FFmpeg's reader, at the edge, waits for
    the next segment up to its duration and half more. With STREAM_TIMEOUT_MS alone, 6 s segments (Apple's
    advice) timed out a read whenever the reader had caught up: "no frames after N; opening it again", 7 to 13 s
    without frames, every ~40 s of a stream that never stopped. Twice the target duration and 1 s."""
    return STREAM_TIMEOUT_MS if target_s is None else max(STREAM_TIMEOUT_MS, round(1000 * (2 * target_s + 1)))


# Each scheme's port where the URL gives none.
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443, "rtmp": 1935, "rtmps": 443}


def _closed_port(url: str) -> str | None:
    """'port N of HOST' where a TCP connection there is refused at once (nothing listens); None where it is taken,
    times out, the host is not found, or the stream is not over TCP (udp://, rtp://)."""
    import socket
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:  # a port that is not a number
        return None
    if scheme not in DEFAULT_PORTS or not parts.hostname or port is None:
        return None
    try:
        with socket.create_connection((parts.hostname, port), timeout=1.0):
            return None
    except ConnectionRefusedError:
        return f"port {port} of {parts.hostname}"
    except OSError:
        return None


def _http_refusal(url: str) -> str | None:
    """Why an HTTP server that answered gave no stream, from its status: a camera that refused the credentials
    (401), a wrong path (404), a camera in trouble (500) were all "does not answer (no connection within 5 s)",
    which sent users to check the network and the address; a web page (HTML) is named as one. None where there is
    no such answer (not HTTP, no connection, a time-out, another 200 that is not a video)."""
    from http.client import HTTPException
    from urllib.error import HTTPError
    from urllib.request import urlopen

    request = _http_request(url)
    if request is None:
        return None
    try:
        with urlopen(request, timeout=STREAM_TIMEOUT_MS / 1000) as answer:
            page = answer.headers.get_content_type() == "text/html" or _is_html(answer.read(512))
    except HTTPError as exc:
        code, reason = exc.code, exc.reason
    except (OSError, ValueError, HTTPException):  # no connection, a time-out: "does not answer" says it
        return None
    else:
        # A site's page that plays a video (a YouTube or news link, as a new user pastes one) was "does not answer
        # (no connection within 5 s, or not a video stream)", said at once of a server that had answered.
        return ("answered with a web page (HTML), not a video: a site's page that plays a video is not the "
                "video's own address; download the video and give its file") if page else None
    why = {401: "the user name or password in the URL is wrong or missing",
           403: "this user may not watch it", 404: "no stream at that path: check the address in the camera's "
           "manual or web page"}.get(code, "the camera or server failed" if code >= 500 else "")
    if code in (403, 404, 410) and _names_a_video_file(url):
        # A video file's link (a download's, a shared one's) sent users to "the camera's manual" for a 404; an
        # expired signed link (a cloud bucket's) is a 403.
        why = ("the link is wrong, has expired or needs a sign-in" if code == 403 else
               "no video file at that address: the link is wrong or has expired")
    return f"answered HTTP {code} {reason}" + (f": {why}" if why else "")


def _names_a_video_file(url: str) -> bool:
    """Whether a URL's path ends in a video file's extension (clip.mp4), as no camera's stream does."""
    from urllib.parse import urlsplit

    from .batch import VIDEO_EXTENSIONS

    return Path(urlsplit(url).path).suffix.lower() in VIDEO_EXTENSIONS


def _say_why_unreadable(path: Path) -> None:
    """Where the container tells why OpenCV opened no video, one line that says so: a voice memo's .m4a or a
    podcast's .mp4 (sound only) and a download cut short before an MP4's index were all "corrupt, truncated, no
    frames, or unsupported format", which sent users to a codec for the first and to check a good file."""
    from .container import cut_short_mp4, sound

    found = sound(path)
    if found is not None and found.pictures == 0:
        raise VideoError(f"{path}: {'sound only' if found.tracks else 'no tracks'}, no pictures: not a video")
    if path.suffix.lower() in SOUND_EXTENSIONS:  # .mp3, .wav: no container sound() reads
        raise VideoError(f"{path}: a sound file ({path.suffix}), no pictures: not a video")
    head = _file_head(path)
    if head.startswith(b"ID3"):  # an .mp3 by its tag: named .mp4, or piped in
        raise VideoError(f"{path}: a sound file (MP3), no pictures: not a video")
    if _is_html(head):
        # What `curl -o clip.mp4 URL` (or curl ... | --source -) keeps of a link that needs a sign-in, has expired
        # or is a player's page: it was "not a readable video (corrupt, truncated, ...)", sending users to codecs.
        raise VideoError(f"{path}: a web page (HTML), not a video: the download got the server's page (an error, a "
                         "sign-in or the video's player page) instead of the video file")
    if cut_short_mp4(path):
        raise VideoError(f"{path}: an MP4 without its index (the moov box, written when a recording ends, or "
                         "first in a file made for the web): a recording or download cut short, which no player "
                         "opens; copy it again whole")


def _is_html(head: bytes) -> bool:
    """Whether a file's or an answer's first bytes are a web page's."""
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").lower().startswith((b"<!doctype html", b"<html"))


def _file_head(path: Path, size: int = 64) -> bytes:
    """The first `size` bytes of the file at `path` (none where it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except OSError:
        return b""


_FRAME_NUMBER = r"%0?\d*d"  # where an image sequence's name holds its number: %d or %0Nd


def _check_photo_pixels(spec: SourceSpec) -> None:
    """A photo given as a video, over load_image's pixel limit from its header, is refused before FFmpeg reads it:
    a 60000x60000 PNG bomb was "no frames (empty, corrupt or truncated video)", and a 15000x15000 one was decoded
    (1.9 GB, 12 s) to end in a line naming no file."""
    if spec.kind != "file":  # a camera's target is its index, no path
        return
    path = spec.path
    if not is_image_path(path) or _is_sequence(path):
        return
    try:
        with open(path, "rb") as fh:
            size = header_size(fh.read(1 << 20))  # past a JPEG's EXIF, up to 64 KB
    except OSError:
        return  # opening it as a video says why
    if size and size[0] * size[1] > MAX_PIXELS:
        raise VideoError(f"{spec.describe()}: image of {size[0]}x{size[1]} px is over the limit of "
                         f"{MAX_PIXELS // 10**6} MP")


def no_time_range(spec: SourceSpec, live: bool = False) -> str | None:
    """Why `spec` takes no time range (start_s, end_s), or None: it is a video file's. A live source's times start
    when it is opened, and an image sequence's or a photo's are its frame numbers (and a rate given after it opens).
    live: a stream's URL is only known to be live once it opens."""
    file = spec.kind == "file"
    why = ("is live: its times count from when it is opened" if live else
           "is an image sequence, which holds no times" if file and _is_sequence(spec.path) else
           "is a photo, not a video" if file and is_image_path(spec.path) and not animated(spec.path) else None)
    return None if why is None else f"{spec.describe()} {why}; a time range (start, end) is for a video file"


def _is_sequence(path: Path) -> bool:
    """Whether a file source is an image sequence's pattern (frames/%04d.png) rather than one file: a video
    named "zoom 200%.mp4" or "take_%1.mov" went to OpenCV's image reader and was called corrupt."""
    return re.search(_FRAME_NUMBER, path.name) is not None and not path.is_file()


def _sequence_numbers(pattern: Path) -> list[int] | None:
    """The numbers, sorted, of the images in the folder of an image sequence's `pattern` (img_%04d.png) that
    it names; None for a pattern with anything but one %d or %0Nd."""
    parts = re.fullmatch(f"(.*?){_FRAME_NUMBER}(.*)", pattern.name)
    if parts is None or "%" in parts.group(1) + parts.group(2):
        return None
    try:
        names = set(os.listdir(pattern.parent))
    except OSError:
        return []
    numbered = re.compile(re.escape(parts.group(1)) + r"(\d+)" + re.escape(parts.group(2)))
    found = [int(m.group(1)) for m in map(numbered.fullmatch, names) if m is not None]
    return sorted(n for n in found if pattern.name % n in names)  # as OpenCV names them: %04d is 0012, not 12


# EXIF orientation -> how the stored pixels are turned upright (PIL's ImageOps.exif_transpose, as numpy views).
_EXIF_TURNS: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1), 6: lambda a: a.swapaxes(0, 1)[:, ::-1],
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1], 8: lambda a: a.swapaxes(0, 1)[::-1],
}


def _exif_upright(frame: np.ndarray, path: Path) -> np.ndarray:
    """`frame`, read from `path` without its EXIF orientation, turned as a viewer (and load_image) shows it."""
    from .preprocess import exif_orientation

    turn = _EXIF_TURNS.get(exif_orientation(path))
    return np.ascontiguousarray(turn(frame)) if turn else frame


def image_frames(path: Path) -> int:
    """How many frames an image file holds (an animated GIF's, APNG's or WebP's); 1 where Pillow cannot tell."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return int(getattr(image, "n_frames", 1))
    except Exception:  # noqa: BLE001 - Pillow's errors come as many types; OpenCV's reading says what is wrong
        return 1


def animated(path: Path) -> bool:
    """Whether `path` is an animated GIF or PNG, which the video reader (FFmpeg) reads as a video of its frames, as
    detect_mask_video.py --source reads it; a video folder run and facekit-batch take it so too (they took it for a
    photo: skipped, or its first frame alone). An animated WebP, which FFmpeg cannot read, stays a photo."""
    return Path(path).suffix.lower() in (".gif", ".png") and image_frames(Path(path)) > 1


# A GIF frame's delay where it gives none (a GIF87a has no field for one) or 0, as OpenCV's FFmpeg and browsers play it.
GIF_DEFAULT_DELAY_MS = 100


class _GifCapture:
    """A GIF's frames through the calls FrameSource makes of a cv2.VideoCapture, read one at a time by Pillow: OpenCV's
    FFmpeg stops a GIF87a (what Pillow writes for an animation saved without a duration) early without a word, 1 of
    12 frames read, 234 of 275, and the short read ended the run "truncated or corrupt". Pillow reads both versions,
    the same pixels, one frame held at a time (cv2.imreadanimation holds them all, and took 20 s for 275 frames where
    Pillow took 3). A frame's time is the sum of the delays before it, as FFmpeg adds them up (GIF_DEFAULT_DELAY_MS
    where one has none); the rate is their average. Not a subclass of cv2.VideoCapture: one crashed the process
    (SIGSEGV) when collected."""

    def __init__(self, image, length_ms: float | None) -> None:
        self._image = image
        self._count = int(getattr(image, "n_frames", 1))
        self._next = 0  # the frame the next read gives
        self._at_ms = 0.0  # the time of the frame read last
        self._ends_ms = 0.0  # and when it ends: the next one's time
        # Its average rate, so that its frame count over it is its length: by the first frame's delay, a GIF of 5
        # frames at 100 ms then 5 at 300 was "1.0 s long", and a --start of 1.2 was refused.
        self._fps = 1000.0 * self._count / length_ms if length_ms else 1000.0 / self._delay_ms()

    @classmethod
    def opened(cls, path: Path) -> "_GifCapture | None":
        """The GIF at `path` opened, or None where it is no GIF Pillow opens (then OpenCV's reader says why)."""
        from PIL import Image

        if not _file_head(path, 6).startswith((b"GIF87a", b"GIF89a")):
            return None
        try:
            return cls(Image.open(path), _gif_length_ms(path))
        except Exception:  # noqa: BLE001 - Pillow's errors come as many types
            return None

    def _delay_ms(self) -> float:
        return float(self._image.info.get("duration") or GIF_DEFAULT_DELAY_MS)

    def isOpened(self) -> bool:
        return self._image is not None

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self._image is None or self._next >= self._count:
            return False, None
        try:
            self._image.seek(self._next)
            frame = self._image.convert("RGBA") if "transparency" in self._image.info or \
                self._image.mode in ("RGBA", "PA", "LA") else self._image.convert("RGB")
            pixels = np.asarray(frame)
        except Exception:  # noqa: BLE001 - a damaged frame fails in Pillow as many types: the file ends there
            return False, None
        self._next += 1
        self._at_ms, self._ends_ms = self._ends_ms, self._ends_ms + self._delay_ms()
        # On white, as a transparent GIF is read as a photo (as_bgr).
        return True, cv2.cvtColor(as_bgr(pixels) if pixels.shape[2] == 4 else pixels, cv2.COLOR_RGB2BGR)

    def get(self, prop: int) -> float:
        return {cv2.CAP_PROP_FPS: self._fps, cv2.CAP_PROP_FRAME_COUNT: float(self._count),
                cv2.CAP_PROP_POS_MSEC: self._at_ms, cv2.CAP_PROP_POS_FRAMES: float(self._next),
                cv2.CAP_PROP_PTS: float(self._next - 1)}.get(prop, 0.0)

    def set(self, prop: int, value: float) -> bool:
        return False  # no seeking: a range is read from the first frame (FrameSource._seek)

    def release(self) -> None:
        if self._image is not None:
            self._image.close()
            self._image = None


def _gif_length_ms(path: Path) -> float | None:
    """How long a GIF plays, its frames' delays added up (GIF_DEFAULT_DELAY_MS where one has none), from its blocks'
    headers, the pictures skipped (Pillow learns a frame's delay only by decoding the frames before it: 3.8 s for 275
    frames); None where its blocks cannot be walked (then the first frame's delay gives the rate)."""
    import mmap

    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            at = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)  # past the global colour table
            total, delay = 0.0, None
            while at < len(data) and data[at] != 0x3B:  # the trailer
                if data[at] == 0x21:  # an extension: a graphic control extension's delay is the next picture's
                    if data[at + 1] == 0xF9 and data[at + 2] >= 4:
                        delay = 10 * int.from_bytes(data[at + 4:at + 6], "little")
                    at += 2
                elif data[at] == 0x2C:  # a picture: its descriptor, its local colour table, its LZW code size
                    flags = data[at + 9]
                    at += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0) + 1
                    total, delay = total + (delay or GIF_DEFAULT_DELAY_MS), None
                else:
                    return None
                while data[at]:  # the sub-blocks that follow, each after its length
                    at += 1 + data[at]
                at += 1
    except (OSError, ValueError, IndexError):
        return None
    return total or None


def _check_sequence_start(pattern: Path) -> None:
    """Why OpenCV opened no image sequence: it reads one only from image 0 or 1, and an editor's frame export
    often starts elsewhere (86400, 1001); "corrupt or truncated" sent users to check good images."""
    if not pattern.parent.is_dir():
        raise VideoNotFoundError(f"{pattern}: no such folder {pattern.parent}", filename=str(pattern.parent))
    numbers = _sequence_numbers(pattern)
    if numbers is not None and not numbers:
        raise VideoError(f"{pattern}: no image matches this pattern in {pattern.parent}")
    if numbers and numbers[0] > 1:
        raise VideoError(f"{pattern}: the images start at {pattern.name % numbers[0]}, but OpenCV reads an image "
                         f"sequence only from number 0 or 1: number them from 0 or 1")


def _served_file(url: str) -> bool:
    """Whether a stream URL that OpenCV gives no frame count is a file on a web server all the same: an MPEG-TS
    recording (.ts) has no count of its own. Taken for a live feed, it was read at its newest frame, and at its end
    opened again, and again, for ever: the file replayed with a [WARN] line each time, until killed. The server
    says: a length, and no feed's type (a camera's MJPEG is multipart, a live HLS playlist an mpegurl), asked as
    `_http_request` asks (its credentials sent). No answer (a camera that knows no HEAD) leaves it a live feed."""
    from http.client import HTTPException
    from urllib.request import urlopen

    request = _http_request(url)
    if request is None:  # not http(s)
        return False
    request.method = "HEAD"
    try:
        with urlopen(request, timeout=STREAM_TIMEOUT_MS / 1000) as answer:
            length, kind = answer.headers.get("Content-Length", ""), answer.headers.get_content_type()
    except (OSError, ValueError, HTTPException):  # urllib's HTTPError, URLError and a time-out are OSErrors
        return False
    feed = kind.startswith("multipart/") or "mpegurl" in kind or kind.endswith("dash+xml")
    return length.isdigit() and int(length) > 0 and not feed


SERVED_SKIP_BYTES = 1 << 20  # a box past this size in a served MP4 is not read through: a range request skips it


def _served_mp4_span(url: str) -> float | None:
    """container.Sound.picture_span_s of an MP4 / MOV on a web server, read from its index: in the same answer where
    it comes first (-movflags +faststart), else from a range request past the pictures before it (a server that
    answers none could not have served that file to FFmpeg either). None where it cannot be told."""
    import struct
    from http.client import HTTPException
    from urllib.request import urlopen

    from .container import MAX_HEADER_BYTES, mp4_index

    at = 0
    try:
        for _ in range(8):  # ftyp, free, mdat, moov: a few top-level boxes, a request for each big one
            request = _http_request(url)
            if request is None:
                return None
            if at:
                request.add_header("Range", f"bytes={at}-")
            with urlopen(request, timeout=STREAM_TIMEOUT_MS / 1000) as answer:
                if at and answer.status != 206:
                    return None
                while True:
                    head = answer.read(8)
                    if len(head) < 8:
                        return None
                    size, kind = struct.unpack(">I4s", head)
                    header = 8
                    if size == 1:
                        size, header = struct.unpack(">Q", answer.read(8))[0], 16
                    if size < header or size - header > MAX_HEADER_BYTES and kind == b"moov":
                        return None  # 0 too: the pictures run to the end, no index after them
                    if kind == b"moov":
                        body = answer.read(size - header)
                        found = mp4_index(body) if len(body) == size - header else None
                        return found.picture_span_s if found is not None else None
                    at += size
                    if size - header > SERVED_SKIP_BYTES:  # the pictures: skipped by the next request
                        break
                    answer.read(size - header)
    except (OSError, ValueError, HTTPException, struct.error):
        return None
    return None


# A network camera over Wi-Fi (or a stream's segments) delivers its frames in clumps: 30 at once each second. The
# loop took the newest of each clump and idled until the next one: 6 of 30 frames a second analysed, each shown a
# second late (the loop held it until the next clump came). A clump's frames are timed at the stream's rate, as
# they were taken, and handed out as far behind as the clumps are spread over the last PACE_WINDOW_S, never more
# than PACE_MAX_HOLD_S, so the loop works through them one by one and lag cannot build up. Frames held for less
# than PACE_MIN_HOLD_S (or 3 frames' time) go out at once: a steady camera's are handed out as they come.
PACE_WINDOW_S = 6.0
PACE_MAX_HOLD_S = 2.5
PACE_MIN_HOLD_S = 0.15
# The stream's frame interval is measured over this long, from the end of a clump (the longest wait between two
# frames in its older half): counted from a clump's start, its frames made the interval short, and the frames' times
# fell further behind with every clump. It is taken a little longer than measured, so they catch up.
PACE_RATE_WINDOW_S = 10.0
PACE_STEP_MARGIN = 1.1
PACE_MAX_BYTES = 192 << 20  # frames held for pacing (a 4K camera's are 25 MB): the oldest go past this


class Pacer:
    """When a live source's frames were taken and are due to be handed out, on the clock their arrivals are given
    in (time.perf_counter()): `arrived(t)` gives (taken, due) of a frame that arrived at t."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """A new connection: what came before says nothing of its clumps."""
        self._arrivals: deque[float] = deque()
        self._holds: deque[tuple[float, float]] = deque()  # (arrival, how long after it was taken)
        self._taken: float | None = None

    def arrived(self, t: float) -> tuple[float, float]:
        arrivals, holds = self._arrivals, self._holds
        arrivals.append(t)
        while arrivals[0] < t - PACE_RATE_WINDOW_S:
            arrivals.popleft()
        step = longest = 0.0
        if len(arrivals) >= 4:
            gaps = [b - a for a, b in zip(arrivals, itertools.islice(arrivals, 1, None))]
            start = max(range(len(arrivals) // 2), key=gaps.__getitem__)
            step = (t - arrivals[start]) / (len(arrivals) - 1 - start)
            longest = max(gaps)
        # No further behind than the longest wait for frames explains: a steady stream's first frames, queued while
        # it waited for this connection and dumped at once, made the interval short, and its frames' times fell
        # seconds behind for good.
        behind = min(PACE_MAX_HOLD_S, 1.2 * longest)
        taken = t if self._taken is None else max(min(t, self._taken + PACE_STEP_MARGIN * step), t - behind)
        self._taken = taken
        holds.append((t, t - taken))
        while holds[0][0] < t - PACE_WINDOW_S:
            holds.popleft()
        hold = max(h for _, h in holds)
        return taken, (taken + hold if hold >= max(PACE_MIN_HOLD_S, 3 * step) else t)


class FrameSource:
    """Frames from a camera, file or stream, decoded on a background thread.

    `read()` returns (index, frame) or None at the end; it raises VideoError when the source breaks
    (a file that ends before its own frame count, a camera that disappears, a frame of a new size).
    """

    def __init__(self, source: str | int | os.PathLike[str], queue_size: int = 8, live: bool | None = None,
                 notify: Callable[[str], None] | None = None, hold_stderr: bool = True, rotate: int = 0,
                 start_s: float | None = None, end_s: float | None = None):
        """live: keep only the latest frame (default: for cameras and streams, not for files).
        start_s, end_s: a file's frames from the first at start_s or after, up to the last before end_s (seconds, as
        time_s counts them); each keeps its number and time in the whole file (first_index: the first's number).
        A camera, a live stream, an image sequence or a photo is a VideoError, and so is a start past the end.
        rotate: turn every frame this many degrees clockwise (90, 180, 270), after the file's own rotation flag
        or EXIF orientation: the frames, their size and every box are then the turned picture's.
        notify: called (on the reader thread) with a line when a live stream is lost and opened again.
        hold_stderr: hold the process's stderr while the source opens (the scripts); False in the library,
        whose host's other threads write there (a stream that does not answer held it for 5 s, their lines
        dropped)."""
        self.spec = SourceSpec.parse(source)
        self._notify = notify
        self._rotate = check_rotation(rotate)
        # Called (on the thread that reads) every 0.1 s while a camera or stream has no new frame; True ends the
        # reading as the source's end. The script's live window: its q, Esc or x went unread while a stream was
        # gone, as the loop waited here (up to the 5 minutes a reconnection takes).
        self.waiting: Callable[[], bool] | None = None
        self._live = self.spec.live if live is None else live
        self._hold_stderr = hold_stderr  # as the source opens again (_seek)
        _check_photo_pixels(self.spec)
        self.cap = _open_capture(self.spec, hold_stderr)
        # A live HLS stream's reads wait for its segments (_hls_read_ms): its playlist is asked for once the stream
        # has opened, so one that does not answer still fails in STREAM_TIMEOUT_MS.
        self._hls = self.spec.kind == "stream" and _is_hls(str(self.spec.target)) and \
            not self.cap.get(cv2.CAP_PROP_FRAME_COUNT) > 0  # a live HLS stream
        self._hls_target_s = _hls_target_s(str(self.spec.target)) if self._hls else None  # its target duration (s)
        self._read_ms = _hls_read_ms(self._hls_target_s)
        if self._read_ms > STREAM_TIMEOUT_MS:
            self.cap.release()
            self.cap = _open_capture(self.spec, hold_stderr, read_ms=self._read_ms)
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        # A file below 1 fps is a time-lapse or a CCTV export, taken at its word; cameras and streams often
        # report nonsense, and a file's 1000 is often its time base, so above 240 (or none) is believed only of a
        # file whose frames are that far apart (_rate_is_real: a high-speed camera's 480 or 960 fps).
        # A file's times come from its timestamps either way (time_s); this rate is the --output video's.
        self.sequence = self.spec.kind == "file" and _is_sequence(self.spec.path)  # frames/%04d.png
        # OpenCV ends a sequence at its first missing number without a word: checked against these at the end.
        self._images = _sequence_numbers(self.spec.path) if self.sequence else None
        # A photo given as a video (read as one frame, the script says so), which FFmpeg reads without its EXIF turn.
        self._photo = self.spec.kind == "file" and not self.sequence and is_image_path(self.spec.path)
        # OpenCV gives an image sequence 1 fps and no timestamps: it has no rate of its own.
        self.reported_fps = float(fps) if fps and np.isfinite(fps) and not self.sequence else 0.0
        lowest_ok = self.reported_fps > 0 if self.spec.kind == "file" else self.reported_fps >= 1.0
        self.fps_known = lowest_ok and (self.reported_fps <= MAX_TRUSTED_FPS or self._rate_is_real(hold_stderr))
        self.fps = self.reported_fps if self.fps_known else DEFAULT_FPS
        # A file's frames keep the time its container gives them (CAP_PROP_POS_MSEC): a phone's variable
        # frame rate makes index / fps drift by seconds. (index, seconds), in read order.
        # Bounded: a caller that never asks (the bench) does not grow it; the reader is at most a queue ahead.
        self._stamps: deque[tuple[int, float]] = deque(maxlen=1024)
        # Only every stamp_every-th frame's stamp is kept (EveryNth sets it): with --every 1000 the reader ran
        # thousands of frames ahead of the analysed ones, their stamps were pushed out of the deque, and their
        # times fell back to index / fps, which a phone's variable frame rate puts seconds off.
        self.stamp_every = 1
        self._last_pts = float("nan")  # the last frame's timestamp in frames (_read_to_end); a live source's: none
        self._last_s = float("nan")  # and in seconds, as time_s gives it
        self._span_s: float | None = None  # seconds of pictures an MP4's edit list shows (_read_to_end)
        count = self.cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.frame_count = int(count) if self.spec.kind != "camera" and count and count > 0 else None
        # The frames a player shows, where a local file's header counts more: the progress bar's total. A clip cut
        # with -c copy counted its hidden lead-in ("224/275" at its end, of the 225 it shows).
        self.frames_shown: int | None = self.frame_count
        spanned = self.frame_count  # the frames the file's duration spans at its rate
        if self.frame_count and self.spec.kind == "file" and not (self.sequence or self._photo):
            self.frames_shown, spanned = _frames_shown(self.spec.path, self.frame_count, self.fps,
                                                       self._container() == "ts")
        if self.frame_count and self.spec.kind == "stream" and _served_matroska(str(self.spec.target)):
            # A Matroska / WebM file on a web server, told by its head as a local one is: its bar ran to 275/300.
            self.frames_shown = spanned = _served_frames_shown(str(self.spec.target), self.frame_count, self.fps)
        self._endless = (self.spec.kind == "stream" and not (count and count > 0)
                         and not _served_file(str(self.spec.target)))
        if live is None and self.spec.kind == "stream" and not self._endless:
            # A video file served over HTTP has a frame count and an end: read as a file, every frame. As a live
            # stream the loop got only its newest frame each time (2 of 60 analysed).
            self._live = False
        self.first_index = 0  # the first frame's number in the file: a time range's first frame's
        self.first_s = 0.0  # and its time
        self.duration_s = spanned / self.fps if spanned and self.fps_known else None
        self._end_s = None
        self._seeked = False  # whether the capture was moved to a time range's start (_seek)
        if start_s is not None or end_s is not None:
            self._check_range()
            self._end_s = end_s
        ok, first = self._seek(start_s) if start_s else self.cap.read()
        if ok and self._range_ended():
            assert end_s is not None  # a range ends only where it was given an end
            self.cap.release()
            raise NothingInRange(f"{self.spec.describe()}: no frame from {time_text(start_s or 0.0)} to "
                             f"{time_text(end_s)}: its first one after {start_s or 0.0:g} s is at {self.first_s:.3f} s")
        if not ok or first is None or first.size == 0:
            self.cap.release()
            what = self.spec.describe()
            if self.spec.kind == "camera":
                raise VideoError(f"camera {self.spec.target} opened but gives no frames (in use by another program?)")
            if self.spec.kind == "stream" and self.frame_count is not None:
                # A file on a web server that opens (its index read) and gives no frame: FFmpeg reads an MP4 whose
                # index is at its end by seeking back, and a server that ignores range requests (python -m
                # http.server) sends the file from its start again. "Corrupt or truncated" named a good file.
                raise VideoError(f"{what}: no frames (a damaged file, or one the server cannot seek in: an MP4 whose "
                                 "index is at its end needs a server that answers range requests, which python -m "
                                 "http.server does not; download it, or serve it from another server)")
            if self._photo and (frames := image_frames(self.spec.path)) > 1:
                # An animated WebP, which FFmpeg does not decode: "corrupt or truncated" named a good file.
                raise VideoError(f"{what}: an animated image of {frames} frames that OpenCV's video reader (FFmpeg) "
                                 "cannot decode (an animated WebP): save its frames as numbered images and give "
                                 "their pattern (frames/%04d.png), or convert it to a video")
            raise VideoError(f"{what}: no frames (empty, corrupt or truncated video)")
        self._sizes = None if self.sequence or self._photo else _PictureSizes.of(
            self.spec, self.cap, hold_stderr, (self.first_index, self.first_s) if self._seeked else None)
        self._fitted: set[tuple[int, int]] = set()  # picture sizes fitted into the first frames' size: said once each
        first = self._upright(self.first_index, self._picture(self.first_index, first))
        if start_s is not None or end_s is not None:
            self._range_counted(end_s)
        # An anamorphic file (DV, DVD, HDV: pixels wider or taller than square, its sample aspect ratio) was
        # analysed and drawn as its stored pixels, every face squashed against how players show it. Its frames
        # are stretched to that shape, and the boxes are in its pixels.
        self.stored_size = (first.shape[1], first.shape[0])
        sar = self.cap.get(cv2.CAP_PROP_SAR_NUM), self.cap.get(cv2.CAP_PROP_SAR_DEN)
        # The ratio is the stored pixels' width to height; a frame turned a quarter (a phone's rotation flag, which
        # OpenCV applies, or rotate=) has them on their side: a portrait phone video's 81:88 stretched its picture
        # 9% taller where players show it 9% wider.
        if (self._orientation() + self._rotate) % 180 == 90:
            sar = sar[::-1]
        self.size = _display_size(self.stored_size, *sar)  # (w, h)
        self._first = first
        self._opened = time.perf_counter()  # a live source's time 0: its first frame's arrival
        self._stamp(self.first_index)
        self._error: str | None = None
        self._rescaled = False  # a camera or stream that came back at another size: said once
        self._outage_s = 0.0  # seconds a live stream spent gone, being opened again (_reopen), outages ended
        self._gone_since: float | None = None  # when the outage going on began (time.monotonic()), if one is
        self._stop = threading.Event()
        self._done = threading.Event()
        self._read_count = self.first_index + 1
        self.undecodable = 0  # a file's frames that did not decode, skipped (their numbers kept)
        self._ts_gaps = (self.spec.kind == "file" and not self._live and not self.sequence and not self._photo
                         and self._container() == "ts")
        self._steps: deque[float] = deque(maxlen=9)  # a TS's last steps between frames, in seconds (_lost_before)
        self._restart_said = False  # a TS whose timestamps start again part-way (_lost_before): said once
        self._restarted_at: int | None = None  # and the frame where they first did
        if self._live:
            self._pacer = Pacer()
            # Frames read and not handed out yet, oldest first: (index, frame, when taken, when due), as the Pacer
            # times them; read() hands out the newest one due, and the ones before it are skipped.
            self._pending: deque[tuple[int, np.ndarray, float, float]] = deque([(0, first, *self._pacer.arrived(
                self._opened))])
            self._cond = threading.Condition()
            # (how many frames read() had handed out before it, when it was taken) for each frame handed out:
            # track_faces numbers a live source's frames 0, 1, 2, ... as it gets them, and a loop slower than
            # the camera skips frames, so the n-th frame handed out is not the reader's n-th.
            self._given: deque[tuple[int, float]] = deque(maxlen=1024)
            self._handed = 0
        else:
            self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
            self._queue.put((self.first_index, first))
        self._thread = threading.Thread(target=self._run, name="frame-reader", daemon=True)
        self._thread.start()

    @property
    def live(self) -> bool:
        return self._live

    def _rate_is_real(self, hold_stderr: bool) -> bool:
        """Whether a video file's rate over MAX_TRUSTED_FPS is its frames': its first frames' timestamps (from a
        capture of its own, so the reading starts untouched) as far apart as the rate says, within 10%. A 480 fps
        clip was written at 30 fps, each frame at its own time: 19 of its 275 frames kept. A rate that is a time base
        (a Matroska whose default duration says 1 ms, its frames 33 ms apart) stays unbelieved."""
        if self.spec.kind != "file" or self.sequence or self._photo:
            return False
        quiet = quiet_stderr if hold_stderr else nullcontext
        times: list[float] = []
        try:
            with quiet():
                cap = cv2.VideoCapture(_opencv_name(self.spec.path))
                try:
                    while len(times) < RATE_PROBE_FRAMES and cap.read()[0]:
                        times.append(cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0)
                finally:
                    cap.release()
        except cv2.error:
            return False
        if len(times) < 3 or not all(np.isfinite(times)):
            return False
        step = (max(times) - min(times)) / (len(times) - 1)
        return abs(step * self.reported_fps - 1.0) < 0.1

    @property
    def outage_s(self) -> float:
        """Seconds a live stream spent gone, the outage going on counted in: a run stopped while the stream was
        being opened again counted none of it ("in 9.4s (4.3 FPS)", "could not keep up with the source (about 6
        fps)" for a 30 fps camera gone for 7 of those seconds)."""
        since = self._gone_since
        return self._outage_s + (time.monotonic() - since if since is not None else 0.0)

    @property
    def first_image(self) -> int | None:
        """An image sequence's first number (0 or 1, the only ones OpenCV starts at); None for any other source."""
        return self._images[0] if self._images else None

    @property
    def frames_read(self) -> int:
        """Frames the source has given so far (at its end: all it held, which a header that over-counts exceeds)."""
        return self._read_count - self.first_index

    @property
    def skipped(self) -> int:
        """Frames a live source gave that the loop never got (it reads the newest): 0 for a file."""
        if not self._live:
            return 0
        with self._cond:
            return max(0, self._read_count - self._handed - len(self._pending))  # those pending: not yet

    def _run(self) -> None:
        index = self.first_index + 1
        bad = 0  # reads in a row that failed at once
        try:
            while not self._stop.is_set():
                asked = time.monotonic()
                ok, frame = self.cap.read()
                if not ok or frame is None:
                    if self._endless and bad < BAD_FRAMES_SKIPPED and time.monotonic() - asked < 1.0:
                        bad += 1
                        continue
                    if self._damaged(index + bad, bad):
                        bad += 1
                        continue
                    bad = 0
                    if self._reopen(index, asked):
                        if self.live:
                            self._pacer.reset()
                        continue
                    self._on_end(index)
                    break
                lost = 0 if self._endless else max(bad, self._lost_before(index))
                if lost:  # a file's frames that did not decode: the next ones keep their numbers
                    self.undecodable += lost
                    index += lost
                bad = 0
                if self._range_ended():  # end_s reached: an end, not a file that stops short
                    break
                frame = self._upright(index, self._picture(index, frame))
                self._read_count = index + 1
                self._stamp(index)
                if self.live:
                    with self._cond:
                        self._pending.append((index, frame, *self._pacer.arrived(time.perf_counter())))
                        held = sum(item[1].nbytes for item in self._pending)
                        while len(self._pending) > 1 and held > PACE_MAX_BYTES:
                            held -= self._pending.popleft()[1].nbytes
                        self._cond.notify_all()
                else:
                    while not self._stop.is_set():
                        try:
                            self._queue.put((index, frame), timeout=0.1)
                            break
                        except queue.Full:
                            continue
                index += 1
        except cv2.error as exc:
            self._error = f"{self.spec.describe()}: read failed ({str(exc).strip().splitlines()[-1]})"
        finally:
            if self._sizes is not None:
                self._sizes.close()
            if self.undecodable and self._notify is not None:
                self._notify(f"{self.spec.describe()}: {counted(self.undecodable, 'frame')} did not decode (damaged), "
                             "skipped; the others keep their numbers and times")
            self._done.set()
            if self.live:
                with self._cond:
                    self._cond.notify_all()

    def _lost_before(self, index: int) -> int:
        """How many frames an MPEG-TS lost before the one just read, by its timestamp: the packets of a damaged
        stretch never reach the decoder, so no read fails, and the frames after them were numbered 4 and 8 short of
        the same frames in the intact file (and of a time range's numbers for them). A TS (a broadcast's, a
        camcorder's, a saved HLS stream's) has a constant rate, its frames' usual step measured from the last few
        (the rate a TS reports can be its field rate: 50 fps for 25 interlaced frames a second); a jump of over a
        second is recordings joined."""
        if not self._ts_gaps:
            return 0
        step = self.cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0 - self._last_s  # _last_s: the frame before's, or NaN
        if step < -CLOCK_RESTART_S and self._restarted_at is None:
            self._restarted_at = index
        if step < -CLOCK_RESTART_S and not self._restart_said and self._notify is not None:
            # Pieces joined with `cat`: the rows' times went back to the second piece's own without a word.
            self._restart_said = True
            self._notify(f"{self.spec.describe()}: its timestamps start again at frame {index} (pieces joined with "
                         "cat?): the times from there are that piece's own; ffmpeg -i "
                         f"{shlex.quote(str(self.spec.target))} -c copy whole.ts puts them in one timeline")
        # Its first few steps are too few to go by: the rate it reports stands in for them.
        usual = float(np.median(self._steps)) if len(self._steps) >= 4 else 1.0 / self.fps if self.fps_known else 0.0
        if step > 0:
            self._steps.append(step)
        return round(step / usual) - 1 if usual > 0 and 1.5 * usual <= step <= 1.0 else 0

    def _read_on(self, index: int) -> tuple[bool, np.ndarray | None, int]:
        """A file's read of frame `index` or the first after it that decodes: (ok, frame, frames skipped). A time
        range's seek read forward through damaged frames too: "nothing to read from 0:05.000 on: its last frame is
        at 0:03.303" of a file whose frames 100 to 104 of 275 did not decode."""
        bad = 0
        while True:
            ok, frame = self.cap.read()
            if (ok and frame is not None) or not self._damaged(index + bad, bad):
                return ok, frame, bad
            bad += 1

    def _damaged(self, index: int, bad: int) -> bool:
        """Whether a file's read that failed at frame `index`, after `bad` others in a row, is a frame that did not
        decode rather than the file's end: its frame count says more are to come (FILE_BAD_FRAMES_SKIPPED)."""
        return (not self._endless and self.spec.kind != "camera" and self.frame_count is not None
                and bad < FILE_BAD_FRAMES_SKIPPED and index + SHORT_READ_SLACK < self.frame_count)

    def _orientation(self) -> int:
        """The degrees of a file's rotation flag, by which OpenCV's reader turns its frames (0 where it has none or
        the reader turns none: a camera)."""
        if self.cap.get(cv2.CAP_PROP_ORIENTATION_AUTO) != 1:  # a backend without it answers 0 or -1
            return 0
        degrees = self.cap.get(cv2.CAP_PROP_ORIENTATION_META)
        return int(degrees) % 360 if np.isfinite(degrees) and degrees % 90 == 0 else 0

    def _picture(self, index: int, frame: np.ndarray) -> np.ndarray:
        """A file's frame `index` with its picture's own shape: OpenCV stretches every frame to the first one's size,
        so the part of a recording after its size changed (a live stream saved as it switched quality, pieces
        joined) had its picture stretched to the first part's shape, a 4:3 part's faces a third too wide. Its
        picture, as its H.264 or H.265 parameters give its size, is fitted into that size (black bars) instead."""
        picture = None if self._sizes is None else self._sizes.at(index, self.cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0)
        if picture is None:
            return frame
        if self._orientation() % 180 == 90:  # OpenCV turned the frame by the file's rotation flag
            picture = picture[::-1]
        h, w = frame.shape[:2]
        if abs(picture[0] * h / (picture[1] * w) - 1.0) < 0.01:
            return frame
        if picture not in self._fitted and self._notify is not None:
            self._notify(f"{self.spec.describe()}: frames from {index} on are {picture[0]}x{picture[1]} (the video "
                         f"changes size); fitted into the first frames' {w}x{h}, their shape kept (boxes are in "
                         "those pixels)")
        self._fitted.add(picture)
        return _fit(frame, (w, h), picture)

    def _upright(self, index: int, frame: np.ndarray) -> np.ndarray:
        """An image sequence's frame, or a photo's, turned as its file's EXIF orientation says. OpenCV's readers
        ignore it: a phone's portrait photos came out lying on their side, faces found sideways or not at all, in
        boxes that matched no viewer's picture nor detect_mask_image.py's (which reads them upright). Then the
        user's own turn (rotate=), which nothing in the file says."""
        if self._images or self._photo:  # a camera's target is its index, not a path
            pattern = self.spec.path
            if self._images:
                frame = _exif_upright(frame, pattern.parent / (pattern.name % (self._images[0] + index)))
            else:
                frame = _exif_upright(frame, pattern)
        return rotate_clockwise(frame, self._rotate)

    def _stamp(self, index: int) -> None:
        if not self.live:  # where a short read ended: _read_to_end
            self._last_pts = self.cap.get(cv2.CAP_PROP_PTS)
            self._last_s = self.cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        # A live source's frames are timed as handed out; a time range's counted from its first.
        if not self.live and (index - self.first_index) % self.stamp_every == 0:
            self._stamps.append((index, self.cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0))

    def _check_range(self) -> None:
        refused = no_time_range(self.spec, self._live)
        if refused is not None:
            self.cap.release()
            raise VideoError(refused)

    def _seek(self, start_s: float) -> tuple[bool, np.ndarray | None]:
        """Reads on from the frame at start_s or the first after it: (False, None) where there is none. Seeks
        SEEK_LEAD_S before it (keyframes, and OpenCV's frame numbers from the average rate, land early or late)
        and reads forward; one that lands past it seeks 4x as far back, down to the file's start. Sets first_index
        (the number a whole read gives that frame: counted where the read began at the start, else its time x the
        rate, a constant-rate file's number) and first_s."""
        # An animated GIF or PNG (small; each frame at its own delay, so no rate gives its numbers) is read from its
        # first frame, counted.
        lead, last_s, moved = (float("inf") if self._photo else SEEK_LEAD_S), None, False
        if self.duration_s is not None and start_s >= self.duration_s:  # not looked for: a seek there reads nothing
            self.cap.release()
            what = f"{self.spec.describe()}: nothing to read from {time_text(start_s)} ({start_s:g} s) on"
            ts = self.spec.kind == "file" and self._container() == "ts"  # a served TS is not read through for it
            restart = _clock_restart(self.spec.path) if ts else None
            if restart is None:
                raise NothingInRange(f"{what}: the video is {time_text(self.duration_s)} long")
            # `cat a.ts b.ts > joined.ts`: FFmpeg's length of a TS is its last timestamp less its first, and a seek
            # goes by timestamps, which are the second piece's own again after the join, so no time past the
            # first piece can be asked for. Remuxed, FFmpeg puts the pieces one after the other.
            raise NothingInRange(
                f"{what}: its timestamps start again after {time_text(restart[0])} (pieces joined with cat?), so "
                f"OpenCV gives it {time_text(self.duration_s)} of the {time_text(restart[1] / self.fps)} it plays, "
                f"and a time past that cannot be sought; remux it into one timeline first: ffmpeg -i "
                f"{shlex.quote(str(self.spec.target))} -c copy whole.ts")
        while True:
            at = max(0.0, start_s - lead)
            if at > 0:
                self.cap.set(cv2.CAP_PROP_POS_MSEC, at * 1000.0)
            elif moved:
                # Opened again, not sought to 0: an MPEG-TS has no index, and a seek to 0 in one whose keyframes are
                # 8 s apart read on from its second (2.0 s in, after a change of size), its frames before unread and
                # the count begun there: --start 1.5 gave the frame at 2.0 s as frame 0 (of 60).
                self.cap.release()
                self.cap = _open_capture(self.spec, self._hold_stderr, read_ms=self._read_ms)
            moved, before = True, 0
            ok, frame, skipped = self._read_on(0)
            t = self.cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if at > 0 and (not ok or t > start_s + RANGE_SLACK_S):
                lead *= 4
                continue
            while ok and t < start_s - RANGE_SLACK_S:
                last_s, before = t, before + 1 + skipped
                ok, frame, skipped = self._read_on(before)
                t = self.cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            before += skipped
            break
        if not ok:
            if last_s is None:  # not one frame: the file's fault, said as for any other
                return False, None
            self.cap.release()
            raise NothingInRange(f"{self.spec.describe()}: nothing to read from {time_text(start_s)} ({start_s:g} s) "
                             f"on: its last frame is at {time_text(last_s)} ({last_s:.3f} s)")
        self.first_index, self.first_s = (before if at == 0 else round(t * self.fps)), t
        self._seeked = at > 0
        return True, frame

    def _range_ended(self) -> bool:
        """Whether the frame just read is at end_s or after it."""
        return self._end_s is not None and \
            self.cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0 >= self._end_s - RANGE_SLACK_S

    def _range_counted(self, end_s: float | None) -> None:
        """frames_shown, the progress bar's total, as the range's: the frames from the first to end_s or the file's
        end (a constant rate's count)."""
        if self.frames_shown is None:
            return
        last = self.duration_s if end_s is None or self.duration_s is None else min(end_s, self.duration_s)
        if last is not None:
            self.frames_shown = max(1, int(np.ceil((last - self.first_s) * self.fps - 1e-6)))

    def timed_at(self, fps: float) -> None:
        """An image sequence's frame rate, which it does not hold (OpenCV gives it 1 fps, read as none): its
        times and the --output video's, where DEFAULT_FPS timed a 25 fps export 20% fast."""
        self.fps, self.fps_known = float(fps), True

    def time_s(self, index: int) -> float:
        """Frame `index`'s time in seconds. A camera's or stream's (`index`: the n-th frame read() handed out,
        from 0, as track_faces numbers them): when it came (a clump's frames spread at the camera's rate), after
        the first frame (so an outage is not time a face was seen). A file's: its container's timestamp when it
        has one (an image sequence has none: OpenCV gives 0 for every frame), else index / fps. Call in read order
        (older stamps are dropped)."""
        if self.live:
            while self._given and self._given[0][0] < index:
                self._given.popleft()
            t = self._given[0][1] if self._given and self._given[0][0] == index else None
            return max(0.0, (t if t is not None else time.perf_counter()) - self._opened)
        while self._stamps and self._stamps[0][0] < index:
            self._stamps.popleft()
        t = self._stamps[0][1] if self._stamps and self._stamps[0][0] == index else None
        # A time of 0 (or less) is no timestamp (an image sequence's every frame) but in the first frame, and in an
        # MPEG-TS whose clock started again (pieces joined with cat): a piece's first frame at 0.000 was given
        # index / fps, the first piece's clock a frame on (1.502 s after its last at 1.468), and in a piece that
        # starts before the first's own start every frame to its 0 was.
        restarted = self._restarted_at is not None and index >= self._restarted_at
        if t is not None and np.isfinite(t) and (t > 0 or index == 0 or restarted):
            return t
        return index / self.fps

    def wall_time(self, time_s: float) -> float | None:
        """When a camera's or stream's frame of `time_s` arrived, in seconds since the epoch (as time.time());
        None for a file, whose times are its own. The wall clock now less how long ago the frame came (on
        the monotonic clock), so a clock that NTP steps during a weeks-long run is followed from then on."""
        if not self.live:
            return None
        return time.time() - (time.perf_counter() - self._opened - time_s)

    def _reopen(self, index: int, asked: float) -> bool:
        """A live stream that stopped, opened again (for up to RECONNECT_WINDOW_S); False when it is not one,
        or did not come back (then the run ends with an error, its outputs finalized). asked: when the read that
        failed began (time.monotonic())."""
        if not self._endless or self._stop.is_set():
            return False
        if self._hls and b"#EXT-X-ENDLIST" in (_hls_playlist(str(self.spec.target)) or b""):
            # A live HLS stream that ended (a broadcast or webinar over: its encoder closed the playlist) was taken
            # for one that stopped: "opening it again" for 5 minutes, then an [ERROR] and exit 2. It ends the run
            # as a file's end does.
            return False
        what = self.spec.describe()
        began = time.monotonic()
        # The outage began when the failed read did: a stream that stalls (a camera that hangs, a network
        # that stops answering) fails its read only at the 5 s time-out, which was left out ("4.0 s of it
        # with the stream gone" for four 6 s stalls, and an FPS counted over the stalls).
        self._gone_since = min(asked, began)
        try:
            return self._reconnect(index, what, began + RECONNECT_WINDOW_S)
        finally:
            self._outage_s += time.monotonic() - self._gone_since
            self._gone_since = None

    def _reconnect(self, index: int, what: str, gave_up_at: float) -> bool:
        pause, attempt = RECONNECT_PAUSE_S, 0
        # Let go of first: a UDP or RTP stream's capture holds its local port, so a new one could not bind it (its
        # open failed at once) and such a stream never came back. This thread is the one that reads it.
        self.cap.release()
        # An HLS stream is opened again only once its playlist has changed (a new segment): the same playlist
        # replays the segments already seen.
        playlist = _hls_playlist(str(self.spec.target))
        while time.monotonic() < gave_up_at:
            attempt += 1
            if self._notify is not None and (attempt & (attempt - 1)) == 0:  # tries 1, 2, 4, 8, ...
                self._notify(f"{what}: no frames after {index}; opening it again (try {attempt}, "
                             f"for up to {RECONNECT_WINDOW_S:g} s)")
            if self._stop.wait(pause):
                return False
            pause = min(2 * pause, RECONNECT_MAX_PAUSE_S)
            if playlist is not None and _hls_playlist(str(self.spec.target)) == playlist:
                continue
            try:
                cap = _open_capture(self.spec, hold_stderr=False, explain=False, read_ms=self._read_ms)
            except VideoError:
                continue
            self.cap = cap
            if self._notify is not None:
                # Said on the first try too: a log whose stream stalled now and then (its read failing at the time-
                # out, opened again at once) had "opening it again (try 1, ...)" lines and never one saying it was
                # back, so nobody reading it could tell a run still waiting from one that went on.
                gone = time.monotonic() - (self._gone_since or time.monotonic())
                self._notify(f"{what}: back after {attempt} {'try' if attempt == 1 else 'tries'}, "
                             f"{gone:.0f} s without frames")
            return True
        self._error = (f"{what}: the stream stopped after {counted(index, 'frame')} received and did not come back "
                       f"({attempt} tries over {RECONNECT_WINDOW_S:g} s)")
        return False

    def _on_end(self, index: int) -> None:
        if self.spec.kind == "camera" and not self._stop.is_set():
            self._error = f"camera {self.spec.target} stopped delivering frames after {index} (disconnected?)"
        elif self.frame_count is not None and index + SHORT_READ_SLACK < self.frame_count and not self._read_to_end():
            span = self._span_s
            if span is not None and span * self.fps + SHORT_READ_SLACK < self.frame_count:
                # A clip cut with -c copy and then cut short: "frame 56 of 110" of the 60 frames it shows.
                self._error = (f"{self.spec.describe()}: video ends at frame {index}, {self._last_s:.2f} s into the "
                               f"{span:.2f} s it shows (truncated or corrupt)")
            else:
                self._error = (f"{self.spec.describe()}: video ends at frame {index} of {self.frame_count} "
                               f"(truncated or corrupt)")
        elif self._images and index < len(self._images):
            pattern = self.spec.path.name
            stop = self._images[0] + index  # the number OpenCV found no readable image at
            why = "cannot be read" if stop in self._images else "is missing"
            self._error = (f"{self.spec.target}: image {pattern % stop} {why}, and OpenCV ends an image sequence "
                           f"there: {len(self._images) - index} of its {len(self._images)} images were not read")

    def _container(self) -> str | None:
        """A file's container, as its end and its timestamps are read: "mp4" (MP4 / MOV), "pts" (Matroska / WebM,
        AVI: timestamps in frames from 0), "ts" (MPEG-TS) or None (another, or none that can be told)."""
        from .container import MP4_TOP, ts_sync

        if self.spec.kind == "stream":  # a file served over HTTP: its name says (its first bytes: another request)
            return {".mkv": "pts", ".webm": "pts", ".avi": "pts", ".ts": "ts", ".mts": "ts", ".m2ts": "ts",
                    ".mp4": "mp4", ".m4v": "mp4", ".mov": "mp4"}.get(_url_suffix(str(self.spec.target)))
        try:
            with open(self.spec.target, "rb") as fh:
                head = fh.read(1024)
        except (OSError, TypeError):  # a camera's target is its index
            return None
        matroska = head.startswith(b"\x1a\x45\xdf\xa3")  # EBML's magic number
        avi = head[:4] == b"RIFF" and head[8:12] == b"AVI "
        # An MPEG-TS's packets are looked for past the first bytes: a piece of a recording split by size (split -b
        # 1G) starts mid-packet, and was "video ends at frame 65 of 72 (truncated or corrupt)", exit 2.
        # An MP4's box names come first: an index's table of repeating 4-byte entries can hold 0x47 every 188 bytes.
        ts = ts_sync(head) is not None
        return "pts" if matroska or avi else "mp4" if head[4:8] in MP4_TOP else "ts" if ts else None

    def _read_to_end(self) -> bool:
        """Whether a file that gave fewer frames than its frame count was still read to its end. A Matroska /
        WebM count is the duration times the rate, and the duration counts from 0: a clip whose pictures start
        0.83 s in (cut from a recording, a stream saved by OBS) gave 65 of "90" frames, and an AVI's count holds
        the frames a variable rate dropped; both whole files were "truncated or corrupt", exit 2. Their last
        frame's timestamp, in frames from 0, reaches the count. An MP4's or MOV's timestamps count from where its
        pictures start, so a cut one's would pass that too: its count is its own frames', but those of a clip cut
        without re-encoding (`ffmpeg -ss 2.5 -i long.mp4 -c copy`) start at the keyframe before the cut, and its
        edit list shows only those from the cut on (60 of "110" decoded, and the clip was "truncated or
        corrupt"). Its last frame reaches the end of what that edit list shows; one cut short mid-download does
        not. An MPEG-TS always is (below)."""
        from .container import sound

        if self.frame_count is None or self.spec.kind == "camera":
            return False
        kind = self._container()
        if kind == "ts":
            # An MPEG-TS (a camcorder's .mts, a broadcast or HLS recording) has no frame count or duration of its
            # own: OpenCV's count spans every stream's timestamps, and its sound often starts first (65 of "91"
            # frames, "truncated or corrupt", exit 2). A TS cut short is a shorter TS, which players read whole.
            return True
        if kind == "mp4":
            if self.spec.kind == "stream":
                span = _served_mp4_span(str(self.spec.target))
            else:
                span = getattr(sound(self.spec.path), "picture_span_s", None)
            self._span_s = span
            return (span is not None and np.isfinite(self._last_s)
                    and self._last_s + (1 + SHORT_READ_SLACK) / self.fps >= span)
        reached = np.isfinite(self._last_pts) and self._last_pts + 1 + SHORT_READ_SLACK >= self.frame_count
        return kind == "pts" and reached

    def read(self, timeout: float | None = None) -> tuple[int, np.ndarray] | None:
        item = self._next(timeout)
        if item is None:
            if self._error:
                raise VideoError(self._error)
            return None
        index, frame = item
        if self.size != self.stored_size and (frame.shape[1], frame.shape[0]) == self.stored_size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_LINEAR)
            item = index, frame
        if self.spec.live and (frame.shape[1], frame.shape[0]) != self.size:
            # A camera or stream opened again at another size (an IP camera rebooted with another profile):
            # fitted into the first frames' size. Ending the run made the reconnection pointless for an unattended
            # camera. (Within one connection OpenCV's FFmpeg reader stretches the new size to the first, unsaid.)
            if not self._rescaled and self._notify is not None:
                self._notify(f"{self.spec.describe()}: frames are now {frame.shape[1]}x{frame.shape[0]}; fitted "
                             f"into the first frames' {self.size[0]}x{self.size[1]} (boxes are in those pixels)")
            self._rescaled = True
            return index, _fit(frame, self.size)
        _same_size(frame, self.size, index, f"{self.spec.describe()}: ")
        return item

    def _next(self, timeout: float | None):
        if not self.live:
            while True:
                try:
                    return self._queue.get(timeout=0.1)
                except queue.Empty:
                    if self._done.is_set() and self._queue.empty():
                        return None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._cond:
                item = self._due()
                if item is not None:
                    self._given.append((self._handed, item[2]))
                    self._handed += 1
                    return item[0], item[1]
                if self._done.is_set():
                    return None
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                wait = 0.1 if left is None else min(0.1, left)
                if self._pending:  # held back by the Pacer: until the first is due
                    wait = max(0.001, min(wait, min(due for *_, due in self._pending) - time.perf_counter()))
                if self._cond.wait(wait) or self._pending:
                    continue  # a frame came, or one held back is due
            if self.waiting is not None and self.waiting():  # outside the lock: the reader goes on meanwhile
                return None

    def _due(self) -> tuple[int, np.ndarray, float, float] | None:
        """The newest pending frame that is due (any, once the reading has ended), taken with the ones before it;
        None while none is. Under self._cond."""
        now = time.perf_counter()
        due = [i for i, item in enumerate(self._pending) if item[3] <= now or self._done.is_set()]
        if not due:
            return None
        for _ in range(due[-1]):
            self._pending.popleft()
        return self._pending.popleft()

    def frame_waiting(self) -> bool:
        """Whether read() would return at once: a file's next frame is read, a live source's newest due one has
        come, or the reading has ended."""
        if not self.live:
            return not self._queue.empty() or self._done.is_set()
        with self._cond:
            now = time.perf_counter()
            return self._done.is_set() or any(item[3] <= now for item in self._pending)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        # A stream read can block up to its timeout; releasing the capture under a reading thread
        # can crash OpenCV, so a reader still stuck is left to die with the (daemon) thread.
        if not self._thread.is_alive():
            self.cap.release()

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _clock_restart(path: Path) -> tuple[float, int] | None:
    """Where an MPEG-TS's timestamps start again (pieces joined with `cat`): (the time they had reached, the
    packets in the file), or None where they never go back by more than CLOCK_RESTART_S. Reads every packet
    undecoded (OpenCV's raw mode: 0.6 s for an hour of video), so it is asked only when a time past what
    OpenCV gives the file is wanted."""
    cap = cv2.VideoCapture(_opencv_name(path))
    try:
        if not (cap.isOpened() and cap.set(cv2.CAP_PROP_FORMAT, -1)):
            return None
        packets, reached, restart = 0, float("-inf"), None
        while cap.read()[0]:
            packets += 1
            t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if restart is None and t < reached - CLOCK_RESTART_S:
                restart = reached
            reached = max(reached, t)
    finally:
        cap.release()
    return None if restart is None else (restart, packets)


def _frames_shown(path: Path, count: int, fps: float, ts: bool) -> tuple[int | None, int]:
    """How many of a file's `count` frames (OpenCV's, from its header) a player shows, the progress bar's total (None
    where it cannot be told), and how many its duration spans at `fps`. An MP4's / MOV's edit list can hide a lead-in
    (`ffmpeg -ss 2.5 -i long.mp4 -c copy`), and a Matroska / WebM count is its duration times the rate from 0, where a
    cut one's pictures start later (0.346 s: 10 of "225" never there): both span the frames shown. An AVI of B-frames
    that FFmpeg wrote at twice its rate counts its empty entries ("601" for 275 pictures, at 59.94 fps: its duration
    is the count's), and an MPEG-TS's count is its every stream's span ("300" for 275, its sound from 0.85 s before
    its pictures): the progress bar stopped at 275/601 and 275/300. ts: the file is an MPEG-TS."""
    from .container import avi_pictures, sound, ts_pictures_span_s

    if ts:
        span = ts_pictures_span_s(path)
        if span is None:  # pieces joined with cat, each with its own clock: no count comes near (215 of 310)
            return None, count
        shown = round(span * fps) + 1
        return (shown, shown) if 0 < shown <= count + SHORT_READ_SLACK else (count, count)
    found = sound(path)
    if found is None:
        return count, count
    pictures = avi_pictures(path) if found.picture_span_s is None and found.picture_start_s == 0 else None
    if pictures is not None:
        return (pictures if pictures + SHORT_READ_SLACK < count else count), count
    shown = _shown_of(found, count, fps)
    return shown, shown


def _shown_of(found, count: int, fps: float) -> int:
    """The frames of `count` that a file whose container tells `found` (a container.Sound) shows."""
    if found.picture_span_s is not None:
        shown = round(found.picture_span_s * fps)
    else:  # an MP4 without an edit list and an AVI start at 0
        shown = count - round(found.picture_start_s * fps)
    return shown if 0 < shown and shown + SHORT_READ_SLACK < count else count


def _url_suffix(url: str) -> str:
    """The extension of the file a URL names, lower case: how a served file's container is told (FrameSource._container,
    _served_matroska), as its first bytes would be another request."""
    from urllib.parse import urlparse

    return Path(urlparse(url).path).suffix.lower()


def _served_matroska(url: str) -> bool:
    """Whether a stream's URL names a Matroska / WebM file."""
    return _url_suffix(url) in (".mkv", ".webm")


SERVED_HEAD_BYTES = 256 << 10  # a served Matroska's track list and first cluster's first blocks come within this


def _served_frames_shown(url: str, count: int, fps: float) -> int:
    """_frames_shown of a Matroska / WebM file on a web server, from its first SERVED_HEAD_BYTES (one request, as
    `_http_request` makes it); `count` where they do not tell."""
    from http.client import HTTPException
    from urllib.request import urlopen

    from .container import matroska_head

    request = _http_request(url)
    if request is None:
        return count
    try:
        with urlopen(request, timeout=STREAM_TIMEOUT_MS / 1000) as answer:
            found = matroska_head(answer.read(SERVED_HEAD_BYTES))
    except (OSError, ValueError, HTTPException):
        return count
    return count if found is None else _shown_of(found, count, fps)


def _display_size(size: tuple[int, int], sar_num: float, sar_den: float) -> tuple[int, int]:
    """A frame's (w, h) as players show it: stretched along one side by its sample aspect ratio (OpenCV's 0 or
    1:1 when it has none), never shrunk."""
    if not (sar_num > 0 and sar_den > 0) or abs(sar_num / sar_den - 1.0) < 0.01:
        return size
    ratio = sar_num / sar_den
    return (round(size[0] * ratio), size[1]) if ratio > 1 else (size[0], round(size[1] / ratio))


def _fit(frame: np.ndarray, size: tuple[int, int], picture: tuple[int, int] | None = None) -> np.ndarray:
    """`frame` scaled to fit inside `size` (w, h), its aspect kept, and centred on black. picture: the (w, h) whose
    shape the frame's picture has, where the frame holds it stretched."""
    w, h = picture or (frame.shape[1], frame.shape[0])
    scale = min(size[0] / w, size[1] / h)
    fw, fh = max(1, round(w * scale)), max(1, round(h * scale))
    scaled = cv2.resize(frame, (fw, fh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    left, top = (size[0] - fw) // 2, (size[1] - fh) // 2
    return cv2.copyMakeBorder(scaled, top, size[1] - fh - top, left, size[0] - fw - left, cv2.BORDER_CONSTANT,
                              value=0)


def _same_size(frame: np.ndarray, size: tuple[int, int], index: int, where: str = "") -> None:
    """Every frame of a source must have its first frame's size (the tracker, the writer and the CSV's
    boxes assume one)."""
    if (frame.shape[1], frame.shape[0]) != size:
        raise VideoError(f"{where}frame {index} is {frame.shape[1]}x{frame.shape[0]} but the frames started at "
                         f"{size[0]}x{size[1]} (frames of changing size)")


def progress_total(shown: int | None, max_frames: int | None, every: int) -> int | None:
    """A file's progress bar's total: the `shown` frames, or up to the last one a --max-frames run reads, frame
    (max_frames - 1) x every from its first (max_frames x every ended the script's bar at "46/50")."""
    if shown is None or max_frames is None:
        return shown
    return min(shown, (max_frames - 1) * every + 1)


def fill_bar(bar, frames_read: int) -> None:
    """A progress bar whose run went through to its end (the file's, the range's or --max-frames'), at its total:
    with --every N the frames read after the last analysed one were never counted ("271/275" at the clip's end with
    --every 5), and a header that counts frames the file never shows (an MP4 cut with -c copy: 60 of "101") gives
    way to the frames it gave."""
    if bar is not None and bar.total:
        bar.total = min(bar.total, frames_read)
        bar.update(bar.total - bar.n)


class _PictureSizes:
    """The size each frame of an H.264 or H.265 video file was coded at, which OpenCV's reader does not say: a
    capture of its own reads the file's packets undecoded (OpenCV's raw mode: microseconds a packet), as far as the
    frame asked for, and each keyframe's sequence parameter set gives the size of the frames from it on (the
    packets' order is the frames', a keyframe starting a closed group)."""

    H264 = {"avc1", "avc3", "h264", "H264", "x264", "X264"}
    HEVC = {"hvc1", "hev1", "hevc", "HEVC"}
    # A time range's start: packets this far past it are read before the keyframe it lands on is given up
    # (a seek goes back further), and past the range's first frame (B-frames come before the frames they are
    # shown after: the packets shown before it are counted among these).
    AFTER_START_S = 0.5

    def __init__(self, cap: cv2.VideoCapture, hevc: bool):
        self._cap: cv2.VideoCapture | None = cap
        self._hevc = hevc
        self._read = 0  # packets read
        self._size: tuple[int, int] | None = None  # the size of the frame asked for last
        # Sizes read ahead of the frames, each from its keyframe on: (its packet's number, its time, the size).
        self._coming: deque[tuple[int, float, tuple[int, int]]] = deque()

    @classmethod
    def of(cls, spec: SourceSpec, cap: cv2.VideoCapture, hold_stderr: bool,
           start: tuple[int, float] | None = None) -> "_PictureSizes | None":
        """The sizes of a video file's frames, read beside `cap`; None where it is no H.264 or H.265 file.
        start: (number, time) of the first frame `cap` was moved to (a time range's), where it was."""
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC))
        codec = "".join(chr((fourcc >> 8 * i) & 0xFF) for i in range(4))
        if spec.kind != "file" or codec not in cls.H264 | cls.HEVC:
            return None
        sizes = cls._opened(Path(str(spec.target)), codec in cls.HEVC, hold_stderr)
        if sizes is not None and start is not None and not sizes._start_at(*start):
            sizes.close()  # no keyframe found before the range: its packets are read from the file's start
            sizes = cls._opened(Path(str(spec.target)), codec in cls.HEVC, hold_stderr)
        return sizes

    @classmethod
    def _opened(cls, path: Path, hevc: bool, hold_stderr: bool) -> "_PictureSizes | None":
        with quiet_stderr() if hold_stderr else nullcontext():
            raw = cv2.VideoCapture(_opencv_name(path))
        if raw.isOpened() and raw.set(cv2.CAP_PROP_FORMAT, -1):
            return cls(raw, hevc)
        raw.release()
        return None

    def _start_at(self, index: int, time_s: float) -> bool:
        """Moves to the keyframe before frame `index` at `time_s`: reading every packet from the file's start took a
        2.7-hour MP4's --start 9000 from 0.2 s to 2.9 s. OpenCV's raw mode seeks to a keyframe at or before the time
        asked in an MP4 or Matroska (its index), to a packet near it in an MPEG-TS (none): read on to a keyframe,
        it goes SEEK_LEAD_S back, then 4x as far, as FrameSource._seek does. The packets are numbered so that the
        one shown at `time_s` is `index`, as FrameSource numbers its frames after a seek. False: no keyframe found
        before it (a file whose clock starts again), or the file's start reached."""
        lead, cap = SEEK_LEAD_S, self._cap
        while cap is not None and time_s - lead > 0:
            cap.set(cv2.CAP_PROP_POS_MSEC, (time_s - lead) * 1000.0)
            lead *= 4
            packets: list[tuple[float, bytes | None]] = []  # from the keyframe on: (time, a keyframe's packet)
            while (read := cap.read())[0]:
                t, key = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0, cap.get(cv2.CAP_PROP_LRF_HAS_KEY_FRAME)
                if packets or key:
                    packets.append((t, read[1].tobytes() if key else None))
                if t > time_s + self.AFTER_START_S:
                    break
            if not packets or packets[0][0] > time_s + 1e-3:
                continue
            first = index - sum(1 for t, _ in packets if t < time_s - 1e-3)
            for number, (t, packet) in enumerate(packets, first):
                if packet is not None:
                    self._keyframe(number, t, packet)
            self._read = first + len(packets)
            return True
        return False

    def _keyframe(self, number: int, time_s: float, packet: bytes) -> None:
        """Keyframe packet `number`, at `time_s`: its size, where its parameter sets give a new one."""
        from .container import picture_size

        size = picture_size(packet, self._hevc)
        if size is not None and size != (self._coming[-1][2] if self._coming else self._size):
            self._coming.append((number, time_s, size))

    def at(self, index: int, time_s: float) -> tuple[int, int] | None:
        """The coded size of frame `index`, at `time_s` (the frames' sizes are asked for in order): None where none is
        known. A keyframe's size holds from the frame that has both its packet's number and its time on: frames
        dropped by the decoder (a damaged stretch, whose packets are there) or lost with their packets (a TS's)
        put the two apart, and the time of a recording joined with `cat` starts again at each piece."""
        bad = 0
        while self._cap is not None and self._read <= index:
            ok, packet = self._cap.read()
            self._read += 1  # one that does not read is a damaged frame's (FrameSource counts it too) or the end
            bad = 0 if ok else bad + 1
            if ok and self._cap.get(cv2.CAP_PROP_LRF_HAS_KEY_FRAME):
                self._keyframe(self._read - 1, self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0, packet.tobytes())
            elif bad > FILE_BAD_FRAMES_SKIPPED:
                self.close()
        while self._coming and self._coming[0][0] <= index and self._coming[0][1] <= time_s + 1e-3:
            self._size = self._coming.popleft()[2]
        return self._size

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class EveryNth:
    """A frame source that hands on only frames 0, N, 2N, ... of a file (with their own index; of a time range, its
    first frame and every N-th after it); a camera or stream is always read at its newest frame, so every one it
    gives is handed on."""

    def __init__(self, source, n: int):
        from .tracking import SceneCuts

        self.source, self.n = source, n
        # A range from 10:00 analyses its frame at 10:00: counted from frame 0, --every 30 began up to 29 frames on.
        self._first = getattr(source, "first_index", 0)
        if hasattr(source, "stamp_every"):  # a file's timestamps: only the analysed frames' are asked for
            source.stamp_every = n
        # Cuts are looked for between consecutive frames of the file, which are decoded anyway, not between
        # the analysed ones: N frames apart a camera's pan or zoom differs as much as a cut (the hamilton
        # clip at --every 5: three false cuts besides the real ones, each ending every track, so one person
        # counted three times and their smoothed intensity restarted each time).
        self._cuts = SceneCuts()
        self._cut_at: set[int] = set()
        self._shift_at: dict[int, tuple[tuple[float, float], float]] = {}

    def __getattr__(self, name):  # size, live, fps, time_s, ... as the source has them
        return getattr(self.source, name)

    def read(self):
        cut, shift, zoom = False, (0.0, 0.0), 1.0
        while True:
            item = self.source.read()
            if item is None:
                return item
            cut = self._cuts(item[1]) or cut
            # The camera's moves over the skipped frames add up to its move since the last analysed one (each
            # zoom about the centre scales the shift before it).
            z = self._cuts.zoom
            shift = (0.0, 0.0) if cut else (z * shift[0] + self._cuts.shift[0], z * shift[1] + self._cuts.shift[1])
            zoom = 1.0 if cut else zoom * z
            if self.source.live or (item[0] - self._first) % self.n == 0:
                if cut:
                    self._cut_at.add(item[0])
                self._shift_at[item[0]] = shift, zoom
                return item

    def scene_cut(self, index: int) -> bool:
        """Whether a cut came between the frame handed on before frame `index` and this one (asked once)."""
        if index in self._cut_at:
            self._cut_at.discard(index)
            return True
        return False

    def camera_shift(self, index: int) -> tuple[tuple[float, float], float]:
        """The camera's move in px and zoom between the frame handed on before frame `index` and this one
        (asked once)."""
        return self._shift_at.pop(index, ((0.0, 0.0), 1.0))


class FrameIterable:
    """Frames the caller already holds, as a frame source: a list of arrays or image paths, or a generator
    over a capture library OpenCV does not read (picamera2 on a Raspberry Pi, a GStreamer appsink, frames
    from a network). Each frame goes through `preprocess.as_image`, as a photo given to the library does
    (gray, BGRA, 16-bit and float arrays, or a path); a frame it refuses is a VideoError naming its index.

    fps None: a live feed (one detection ahead, times from the wall clock); a number: a recording's
    frames at that rate (times from the frame index, frames read ahead as for a file)."""

    _END = object()  # not None: a None among the frames is a bad frame, not the end of them

    def __init__(self, frames, fps: float | None = None, rotate: int = 0, held: bool | None = None):
        self._rotate = check_rotation(rotate)  # each frame turned clockwise, as FrameSource's
        # A generator may hand out one buffer again and again, filled anew each time (OpenCV's cap.read(buf), a
        # camera library's ring of buffers): read ahead of the analysis, the frame under analysis changed beneath
        # it (a clip's 60 frames so read: 19 with other faces than their own, every result's .frame the last
        # one). Its frames are copied as they come; a list's or an array's, which the caller holds, are not (held:
        # whether `frames`, an iterator over such a sequence, is one).
        self._held = isinstance(frames, (list, tuple, np.ndarray)) if held is None else held
        self._frames = iter(frames)
        self._live = fps is None
        self.fps = float(fps) if fps else DEFAULT_FPS
        self._index = 0
        first = next(self._frames, self._END)
        if first is self._END:
            raise VideoError("no frames: the frames given are empty")
        self._opened = time.perf_counter()  # the first frame's arrival: a live feed's time 0
        self._first: np.ndarray | None = self._image(first)
        self.size = (self._first.shape[1], self._first.shape[0])
        # A live feed's frames are timed as they come from the caller's generator, as a camera's are: timed when
        # their results were asked for, the first frame read 0.7 s (the models' first run) and each later one a
        # frame's analysis late, the loop reading one frame ahead. (index, seconds), in read order.
        self._stamps: deque[tuple[int, float]] = deque([(0, 0.0)], maxlen=1024)

    @property
    def live(self) -> bool:
        return self._live

    def time_s(self, index: int) -> float:
        """A recording's frame time (frames given at `fps` have no timestamps of their own); a live feed's:
        seconds from its first frame's arrival to this one's. Call in read order (older stamps are dropped)."""
        if not self._live:
            return index / self.fps
        while self._stamps and self._stamps[0][0] < index:
            self._stamps.popleft()
        if self._stamps and self._stamps[0][0] == index:
            return self._stamps[0][1]
        return time.perf_counter() - self._opened

    def _image(self, frame) -> np.ndarray:
        from .errors import ImageError
        from .preprocess import as_image

        try:
            image = rotate_clockwise(as_image(frame), self._rotate)
            if not self._held and isinstance(frame, np.ndarray) and np.may_share_memory(image, frame):
                image = image.copy()
            return image
        except ImageError as exc:
            # A VideoError with the frame's index, as a frame of changing size is: "got None" alone
            # leaves the caller searching a long list for the bad one.
            hint = ""
            if isinstance(frame, (str, os.PathLike)) and os.path.isfile(frame):  # clip.mp4 in a list, say
                hint = " (frames are images: pass a video file as the source itself)"
            raise VideoError(f"frame {self._index}: {exc}{hint}") from None

    def read(self, timeout: float | None = None) -> tuple[int, np.ndarray] | None:
        if self._first is not None:
            frame, self._first = self._first, None
        else:
            got = next(self._frames, self._END)
            if got is self._END:
                return None
            if self._live:
                self._stamps.append((self._index, time.perf_counter() - self._opened))
            frame = self._image(got)
            _same_size(frame, self.size, self._index)
        item = (self._index, frame)
        self._index += 1
        return item

    def close(self) -> None:
        close = getattr(self._frames, "close", None)  # a generator's own cleanup (its camera, say)
        if close is not None:
            close()


def fourcc_for(path: Path) -> str:
    return FOURCC.get(path.suffix.lower(), "mp4v")


def _temp_path(path: Path) -> tuple[Path, int]:
    """The temp file a video is written to, and a descriptor holding its lock (`records.make_temp`): close it
    once the file is renamed or removed. Temp files of this video that killed runs left are removed first."""
    # The temp file keeps the real extension: OpenCV picks the container from it.
    suffix = f"{TEMP_SUFFIX}{path.suffix}"
    sweep_stale(path.parent, [(path.stem, suffix)])
    fd, tmp = make_temp(path, path.stem, suffix)
    make_ordinary(tmp)
    return Path(tmp), fd


# What OpenCV's writers take (4.x with FFmpeg): a rate over 0.001 (its FFmpeg writer rounds the rate to 0.001, so
# 0.001 and below are 0), and MPEG-4 (mp4v: .mp4, .mov, .m4v, .mkv) no more than 65,535, its time base's limit.
WRITER_RATES = ("OpenCV's video writers take a rate over 0.001 frames a second; for .mp4, .mov, .m4v and .mkv at "
                "most 65,535, its digits read as one number (29.97: 2997) at most 65,535 too")


def _writer_opens(tmp: Path, path: Path, fps: float, size: tuple[int, int]) -> bool:
    """Whether OpenCV opens a writer for `path`'s kind of video at `fps` and `size`, tried on `tmp` (removed)."""
    try:
        with quiet_stderr():
            writer = cv2.VideoWriter(_opencv_name(tmp), cv2.VideoWriter.fourcc(*fourcc_for(path)), fps, size)
        ok = writer.isOpened()
        writer.release()
    finally:
        tmp.unlink(missing_ok=True)
    return ok


def _rate_refused(path: Path, fps: float) -> str:
    return (f"cannot write a video at {fps:.7g} frames a second: {WRITER_RATES} (the annotated video's rate is the "
            f"frames' rate, over --every's step): {path}")


def check_video_output(path: Path, fps: float = DEFAULT_FPS) -> None:
    """Fail before any work when OpenCV cannot write a video to `path` (folder or extension), or at `fps`."""
    parent = path.resolve().parent
    if not parent.is_dir():
        raise VideoError(f"--output folder does not exist: {parent}")
    if not path.suffix and path.name.startswith(".") and Path("x" + path.name).suffix == path.name:
        # Python (and OpenCV) take ".mp4" for a hidden file with no extension: "needs a video extension such as
        # .mp4: .mp4" contradicted what was typed.
        raise VideoError(f"--output {path} is a hidden file's name with no extension: name the video, "
                         f"e.g. {path.with_name('annotated' + path.name)}")
    if not path.suffix:
        raise VideoError(f"--output needs a video extension such as .mp4, .mkv, .avi or .webm: {path}")
    if path.is_dir():
        raise VideoError(f"--output {path} is a folder: name a video file (in it, or beside it)")
    _opencv_name(Path(os.path.realpath(path)))  # the name VideoSink opens
    tmp, held = _temp_path(path)
    try:
        ok = _writer_opens(tmp, path, DEFAULT_FPS, (64, 64))
        # `--fps 1e9 -o clip.mp4` said "cannot write a video with extension '.mp4'", of the extension a user
        # then changed: the rate is tried on its own.
        if ok and fps != DEFAULT_FPS and not _writer_opens(tmp, path, fps, (64, 64)):
            raise VideoError(_rate_refused(path, fps))
    finally:
        os.close(held)
    if not ok:
        raise VideoError(f"cannot write a video with extension {path.suffix!r} (try .mp4, .mkv, .avi, or .webm for "
                         f"web browsers): {path}")


class VideoSink:
    """Annotated video writer: frames go to a temp file beside `path`, renamed into place on
    `close()`, so the output is either a complete, playable video or absent (never half-written).

    live: a camera or stream, which has no end to wait for. An .mkv or .avi cut short still plays (an mp4
    needs the index written at its end), so for those the video is written in place as it goes, as the
    live CSV is: a kill -9 or a power cut keeps every frame but the last second or so still buffered."""

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int], live: bool = False):
        self.path = Path(os.path.realpath(path))  # a link stays a link: its target is replaced (atomic_write)
        self.size = (int(size[0]), int(size[1]))
        self.fps = float(fps)
        self.frames = 0
        self._dropped = 0  # frames of the video's rate an outage of a live source did not fill (write_at)
        self._shift = 0.0  # slots a file's timestamps jumped (write_timed)
        self.written = False  # True once close() has put a whole, readable video in place
        self.in_place = live and self.path.suffix.lower() in PLAYABLE_CUT_SHORT
        _opencv_name(self.path)
        self._held: int | None  # the temp file's lock (_temp_path); a video written in place has none
        self._tmp, self._held = (self.path, None) if self.in_place else _temp_path(self.path)
        # Every codec OpenCV writes cuts an odd width or height to the even size below (a 641x361 video came
        # out 640x360, its last column and row lost): one black column or row is added instead.
        self._pad = (self.size[0] % 2, self.size[1] % 2)
        self._writer: cv2.VideoWriter | None  # None once closed or aborted
        with quiet_stderr():
            self._writer = cv2.VideoWriter(_opencv_name(self._tmp), cv2.VideoWriter.fourcc(*fourcc_for(self.path)),
                                           self.fps, (self.size[0] + self._pad[0], self.size[1] + self._pad[1]))
        if not self._writer.isOpened():
            self._tmp.unlink(missing_ok=True)
            # A rate no writer takes (a video's with --every 100000): not the extension's fault.
            size = (self.size[0] + self._pad[0], self.size[1] + self._pad[1])
            rate = (not self.in_place and self.fps != DEFAULT_FPS
                    and _writer_opens(self._tmp, self.path, DEFAULT_FPS, size))
            self._release()
            if rate:
                raise VideoError(_rate_refused(self.path, self.fps))
            raise VideoError(f"cannot write a video with extension {self.path.suffix!r}: {self.path}")

    def write(self, frame: np.ndarray) -> None:
        if (frame.shape[1], frame.shape[0]) != self.size:
            raise VideoError(f"frame of {frame.shape[1]}x{frame.shape[0]} does not fit the output video "
                             f"({self.size[0]}x{self.size[1]})")
        if any(self._pad):
            frame = cv2.copyMakeBorder(frame, 0, self._pad[1], 0, self._pad[0], cv2.BORDER_CONSTANT, value=0)
        assert self._writer is not None  # frames are written before close() or abort()
        self._writer.write(frame)
        self.frames += 1

    def write_at(self, frame: np.ndarray, time_s: float) -> None:
        """A camera's or stream's frame that came `time_s` after its first, written as many times as the
        video's frames it stands for: a loop slower than the camera skips frames, and written once each they
        made a video that played 2-5x too fast (a 20 s run, 9 frames a second of a 25 fps camera: 7 s).
        A gap of over a second (an outage) is not kept as a still: the video goes on from the next frame. A frame
        that would put the video more than a slot ahead of its time is left out: an MJPEG camera's 30 fps, which
        FFmpeg reports as 25, made a loop that kept up write 30 frames a second into a 25 fps video, 20% longer
        than the run and ever later."""
        copies = int(time_s * self.fps) + 1 - self._dropped - self.frames
        if copies > self.fps:
            self._dropped += copies - 1
            copies = 1
        if copies < 0:
            return
        for _ in range(max(1, copies)):
            self.write(frame)

    def write_timed(self, frame: np.ndarray, time_s: float) -> bool:
        """A file's frame at its own time in the file, put where that time falls in this constant-rate video; False
        when it was left out. A phone's variable frame rate (30 fps, 15 in dim light) was written one frame a
        slot at the average rate: the 15 fps stretch played 1.7x fast and the rest slow, 0.7 s off the source
        mid-clip. A frame more than one slot early (a denser stretch) is left out, a late one fills the slots
        before it; a constant-rate file gets each frame once. A jump of over a second (recordings joined, their
        clocks reset) is no rate: the video goes on from there."""
        late = time_s * self.fps - self._shift - self.frames
        if abs(late) > max(self.fps, 2.0):
            self._shift += late
            late = 0.0
        if late < -1.0:
            return False
        for _ in range(1 + max(0, round(late))):
            self.write(frame)
        return True

    def close(self, cut: CutShort | None = None) -> bool:
        """Finish the file and move it into place; True when a video was written. OpenCV reports no
        write error: a disk that fills up leaves an mp4 without its index, which no player opens. So the
        finished file is opened and its frames counted before it replaces anything; a file that falls
        short is removed and is a VideoError. cut: a run cut short does not replace a video already there
        (`records.CutShort`)."""
        if self._writer is None:
            return self.written
        self._writer.release()
        self._writer = None
        try:
            return self._finish(cut)
        finally:
            self._release()

    def _finish(self, cut: CutShort | None) -> bool:
        if self.frames == 0:
            self._tmp.unlink(missing_ok=True)
            return False
        with quiet_stderr():
            cap = cv2.VideoCapture(_opencv_name(self._tmp))
            count = cap.get(cv2.CAP_PROP_FRAME_COUNT) if cap.isOpened() else 0
            cap.release()
        if count + SHORT_READ_SLACK < self.frames:
            from .runtime import room_note

            free = room_note(self.path.parent)  # before the temp file goes: what the writer was left with
            if not self.in_place:
                self._tmp.unlink(missing_ok=True)
            raise VideoError(f"{self.path}: the video could not be written whole ({max(0, int(count))} of "
                             f"{self.frames} frames readable; {free}); "
                             + ("what was written is kept" if self.in_place else "nothing was kept"))
        if not self.in_place:
            dest = cut.destination(self.path) if cut is not None else self.path
            sync_if_replacing(self._tmp, dest)
            make_ordinary(self._tmp, replacing=dest)
            os.replace(self._tmp, dest)
        if cut is not None:
            cut.placed(self.path)
        self.written = True
        return True

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if not self.in_place or not self.frames:
            self._tmp.unlink(missing_ok=True)
        self._release()

    def _release(self) -> None:
        """Let go of the temp file's lock, once it is renamed into place or removed."""
        if self._held is not None:
            os.close(self._held)
            self._held = None


class FPSMeter:
    """Frames per second over the last `window` frames (a steady number for the overlay)."""

    def __init__(self, window: int = 30):
        self._times: deque[float] = deque(maxlen=window)

    def tick(self) -> float:
        self._times.append(time.perf_counter())
        return self.fps

    def reset(self) -> None:
        """Counted afresh from the next frame: a wait for frames is no slowness of the loop."""
        self._times.clear()

    @property
    def fps(self) -> float:
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0
