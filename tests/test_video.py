"""detect_mask_video.py on the real clip with a real mask model: annotated video, per-frame CSV,
timeline, tracking, and every kind of bad input (one line, non-zero exit, outputs kept valid)."""

from __future__ import annotations

import contextlib
import csv
import glob
import os
import re
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from facekit.cli.video import main
from facekit.errors import ArgumentError, VideoError, counted
from facekit.heads import CARD, TFLITE, models_dir
from facekit.tracking import LABEL_MARGIN
from facekit.types import Box
from facekit.video import FrameSource, VideoSink

try:
    from .conftest import (MEDIA, NEEDS_X, ROOT, interrupt_video_run, killed_after, killed_runs_temp_folder,
                           line_on_stdout, mp4_cut_by_copy, on_x_screen, press_close_button, run_script,
                           run_script_reader_gone, signals_default, unreadable_file, whole_lines, window_on_screen)
except ImportError:  # tests/ run as a plain folder (no __init__.py)
    from conftest import (MEDIA, NEEDS_X, ROOT, interrupt_video_run, killed_after, killed_runs_temp_folder,
                          line_on_stdout, mp4_cut_by_copy, on_x_screen, press_close_button, run_script,
                          run_script_reader_gone, signals_default, unreadable_file, whole_lines, window_on_screen)

CLIP = MEDIA / "short_hamilton_clip.mp4"
CLIP_FRAMES, CLIP_SIZE = 275, (640, 360)


@pytest.fixture(scope="session")
def mask_model() -> Path:
    folder = models_dir() / "mask"  # committed: its absence is a broken checkout, not a reason to skip
    assert (folder / CARD).is_file() and (folder / TFLITE).is_file(), f"no mask model in {folder}"
    return folder


@pytest.fixture(scope="session")
def clip() -> Path:
    if not CLIP.is_file():
        pytest.skip("the video clip needs the asset mirror (FACEKIT_ASSETS)")
    return CLIP


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def video_info(path: Path) -> tuple[int, tuple[int, int]]:
    """Frames actually decodable (not the header's claim) and the frame size."""
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), f"{path} does not open"
    n, size = 0, None
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        n += 1
        size = (frame.shape[1], frame.shape[0])
    cap.release()
    return n, size


def frames_done(output: Path):
    """interrupt_video_run's `until` for a run writing `output`: its hidden temp file holds a row (a CSV) or a
    frame (a video: the muxer's header is 44 bytes, its frames' come 32 KB at a time), so that the signal comes
    once frames are done. `after` alone did not see to it: on a loaded machine 1.5 s can pass between "starting
    video stream" and the first frame (the source opened, the outputs made)."""
    def done() -> bool:
        for temp in output.parent.glob(f".{glob.escape(output.stem)}*"):
            with contextlib.suppress(OSError):  # renamed or removed meanwhile
                if temp.read_bytes().count(b"\n") >= 2 if output.suffix == ".csv" else temp.stat().st_size > 4096:
                    return True
        return False

    return done


def alerts_ran(said: str) -> int:
    """How many --alert commands a run started, by its closing line."""
    ran = re.search(r"^\[INFO\] --alert ran (\d+) times?", said, re.M)
    assert ran, said
    return int(ran[1])


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("[ERROR]")]
    assert len(errors) == 1, stderr
    others = [line for line in stderr.splitlines() if line.strip() and not line.startswith(("[", "INFO: Created"))]
    assert not others, f"stray output on stderr: {others}"
    return errors[0]


# --- the real clip, end to end ------------------------------------------------------------------------


def test_a_display_that_does_not_answer_runs_headless(tmp_path, clip, mask_model):
    # A DISPLAY left from an ssh -X session whose forwarding is gone: Qt aborted the run (exit 134), CSV lost.
    table = tmp_path / "faces.csv"
    r = run_script("detect_mask_video.py", "--source", clip, "--model", mask_model, "--csv", table, "--max-frames",
                   "5", env={"DISPLAY": ":4242", "WAYLAND_DISPLAY": ""})
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("running headless") == 1 and read_csv(table)


def test_a_window_that_cannot_open_runs_headless(tmp_path, clip, mask_model):
    """A Wayland session with no DISPLAY (no XWayland): the opencv-python wheels' Qt has only X11's plugin and
    aborted the run ("could not connect to display", exit 134), every output lost."""
    table, out = tmp_path / "faces.csv", tmp_path / "annotated.mp4"
    r = run_script("detect_mask_video.py", "--source", clip, "--model", mask_model, "--csv", table, "--output", out,
                   "--max-frames", "30", env={"DISPLAY": None, "WAYLAND_DISPLAY": "facekit-test-no-such-display"})
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and r.stdout.count("running headless") == 1, r.stdout + r.stderr
    assert max(int(row["frame"]) for row in read_csv(table)) == 29 and video_info(out) == (30, CLIP_SIZE)


def test_a_video_runs_under_a_small_boards_memory_limit(tmp_path, clip, mask_model):
    """ulimit -v 1.5 GB: scipy (the tracker's assignment, imported at the first frame) loaded its OpenBLAS,
    which mapped buffers for every core: the run died with a traceback ("failed to map segment from shared
    object") or, at 1.3 GB, hung at full CPU. The tracker needs no scipy now, and numpy's BLAS one thread."""
    table = tmp_path / "faces.csv"
    r = run_script("detect_mask_video.py", "--source", clip, "--model", mask_model, "--csv", table, "--max-frames",
                   "10", "--no-display", env={"OPENBLAS_NUM_THREADS": None}, max_address_bytes=1500 << 20,
                   timeout=180)
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    assert r.returncode == 0 and len(read_csv(table)) >= 10, r.stderr[-2000:]


class ScriptedWindow:
    """The scripts' window process, played: each frame shown is recorded with its window's title, and after it
    event() hands back the next of `events` (a key's code, CLOSED, LOST; None: nothing happened)."""

    def __init__(self, events):
        self.events = iter(events)
        self.titles = []
        self.pending = []
        self.closed = False
        self.opened = True  # its first picture is on the screen
        self.gone = False

    def __call__(self, title):  # stands in for the Window class: the scripts make one per window
        self.title = title
        return self

    def show(self, image):
        self.titles.append(self.title)
        self.pending.append(next(self.events, None))

    def event(self, timeout=None):
        from facekit.cli.window import CLOSED, LOST

        event = self.pending.pop(0) if self.pending else None
        self.gone = self.gone or event in (CLOSED, LOST)
        return event

    def why_lost(self):
        return "The X11 connection broke (error 1). Did the X11 server die?"

    def close(self):
        self.closed = True


def _qt_window_closed_by_the_user(monkeypatch, module):
    """The user closes the window (its title bar's x) once the first picture is in it. (Under OpenCV's Qt windows
    getWindowProperty then raises "NULL guiReceiver" instead of answering 0: see
    test_a_window_qt_no_longer_knows_counts_as_closed.)"""
    import facekit.cli.window as window_module
    from facekit.cli.window import CLOSED

    window = ScriptedWindow([CLOSED])
    monkeypatch.setattr(module, "has_display", lambda: True)
    # The photo script imports Window where it opens one (a headless command skips its subprocess machinery).
    for where in (module, window_module):
        if hasattr(where, "Window"):
            monkeypatch.setattr(where, "Window", window)
    return window


def test_a_window_qt_no_longer_knows_counts_as_closed(monkeypatch):
    """OpenCV's Qt windows (the opencv-python wheels) once the user closes the last one: getWindowProperty
    raises "NULL guiReceiver" instead of answering 0. That was a traceback, exit 1, and the --output lost."""
    from facekit.cli.common import window_closed

    def gone(*args):
        raise cv2.error("OpenCV(4.14.0) window_QT.cpp:179: error: (-27:Null pointer) NULL guiReceiver "
                        "(please create a window) in function 'cvGetPropVisible_QT'")

    monkeypatch.setattr(cv2, "getWindowProperty", gone)
    assert window_closed("facekit (q or Esc quits)")
    monkeypatch.setattr(cv2, "getWindowProperty", lambda *args: 1.0)
    assert not window_closed("facekit (q or Esc quits)")


def test_closing_the_live_window_ends_the_run_and_keeps_its_outputs(tmp_path, clip, mask_model, monkeypatch,
                                                                     capfd):
    """The window's x (not q or Esc) was a traceback and exit 1, and the annotated video was lost. Its lines said
    "after 1 frames" and "(1 frames)"."""
    import facekit.cli.video as video_cli

    window = _qt_window_closed_by_the_user(monkeypatch, video_cli)
    out = tmp_path / "annotated.mp4"
    assert main(["--source", str(clip), "--model", str(mask_model), "--output", str(out)]) == 0
    assert video_info(out) == (1, CLIP_SIZE)  # the frame shown when the window was closed
    said = capfd.readouterr()
    said = said.out + said.err
    assert "[INFO] stopped with the window closed after 1 frame: every output finalized" in said
    assert f"[INFO] annotated video written to {out} (1 frame)" in said
    assert re.search(r"^\[INFO\] 1 frame, \d+ face detections?, \d+ tracks? in ", said, re.M), said
    assert window.closed


def test_q_in_the_live_window_says_the_run_was_stopped(tmp_path, clip, mask_model, monkeypatch, capfd):
    """q ended the run with only "3 frames" where the clip has 275: nothing said it was the user's stop."""
    import facekit.cli.video as video_cli

    window = ScriptedWindow([None, None, ord("q")])
    monkeypatch.setattr(video_cli, "has_display", lambda: True)
    monkeypatch.setattr(video_cli, "Window", window)
    table = tmp_path / "faces.csv"
    assert main(["--source", str(clip), "--model", str(mask_model), "--csv", str(table)]) == 0
    said = capfd.readouterr()
    assert "[INFO] stopped with the q key after 3 frames: every output finalized" in said.out + said.err
    titles = window.titles
    assert {int(r["frame"]) for r in read_csv(table)} <= {0, 1, 2}
    assert titles == [f"facekit: {clip.name} (space pauses, q or Esc quits)"] * 3


def test_a_live_window_bigger_than_the_screen_is_fitted_to_it(tmp_path, clip, monkeypatch):
    """A 1080p source on a 1366x768 laptop opened a 1920x1142 window: its right third and bottom (labels
    included) off the screen, the corner to resize it out of reach."""
    import facekit.cli.common as common
    from facekit.cli.common import QT_CHROME_PX, SCREEN_SHARE, show_image

    asked = {"named": [], "resized": [], "shown": []}
    monkeypatch.setattr(common, "screen_size", lambda: (1366, 768))
    monkeypatch.setattr(common, "_fitted", set())
    monkeypatch.setattr(cv2, "namedWindow", lambda name, flags=0: asked["named"].append(flags))
    monkeypatch.setattr(cv2, "resizeWindow", lambda name, w, h: asked["resized"].append((w, h)))
    monkeypatch.setattr(cv2, "imshow", lambda name, image: asked["shown"].append(image.shape))
    cap = cv2.VideoCapture(str(clip))
    frame = cap.read()[1]
    cap.release()
    big = cv2.resize(frame, (1920, 1080))
    show_image("big", big)
    show_image("big", big)  # sized once: a user's own resize is kept
    assert len(asked["named"]) == 1 and asked["named"][0] & cv2.WINDOW_AUTOSIZE == 0  # the user can resize it
    [(width, height)] = asked["resized"]
    picture = height - QT_CHROME_PX
    assert width <= 1366 * SCREEN_SHARE and height <= 768 * SCREEN_SHARE and abs(width / picture - 16 / 9) < 0.01
    assert asked["shown"] == [(1080, 1920, 3)] * 2  # the frame itself, full size: the window scales it

    # A source that fits is shown pixel for pixel, in OpenCV's own window, as before.
    show_image("small", frame)
    assert len(asked["named"]) == 1 and len(asked["resized"]) == 1


@contextlib.contextmanager
def _clip_in_window(tmp_path, clip, mask_model):
    """The clip played in the live window on a virtual screen, with -o and --csv, some frames already shown:
    (process, its env, the X server, the window's id list, the annotated video's path, the CSV's)."""
    out, table = tmp_path / "annotated.mp4", tmp_path / "faces.csv"
    with on_x_screen("detect_mask_video.py", "--source", clip, "--model", mask_model, "--output", out,
                     "--csv", table) as (proc, env, server):
        window = window_on_screen(proc, env)
        time.sleep(2)  # some frames shown
        yield proc, env, server, window, out, table


@NEEDS_X
@pytest.mark.parametrize("end", ["xkill", "X server stops"])
def test_the_live_windows_display_going_away_keeps_every_output(tmp_path, clip, mask_model, end):
    """OpenCV's Qt window ends the process with exit(1) when its X connection breaks: a window closed with
    xkill (xdotool windowkill), an X server that stops, a remote desktop dropped. The run said only "The X11
    connection broke (error 1). Did the X11 server die?", exit 1, and its annotated video and CSV were lost,
    left as hidden .part files. Now the run stops as on Ctrl-C, every output finalized."""
    with _clip_in_window(tmp_path, clip, mask_model) as (proc, env, server, window, out, table):
        if end == "xkill":
            subprocess.run(["xdotool", "windowkill", window[0]], env=env, capture_output=True)
        else:
            server.terminate()
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "[WARN] the live window is gone (" in stderr, stderr
    assert "[INFO] interrupted: outputs finalized" in stderr
    frames, size = video_info(out)
    rows = read_csv(table)
    assert frames > 0 and size == CLIP_SIZE and frames < CLIP_FRAMES
    assert rows and max(int(r["frame"]) for r in rows) < frames  # the CSV holds the video's frames
    assert f"annotated video written to {out} ({counted(frames, 'frame')})" in stdout
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no .part file left


@NEEDS_X
@pytest.mark.parametrize("how", ["close button", "q", "Escape", "windowclose"])
def test_the_live_window_stops_the_run_with_every_output_whole(tmp_path, clip, mask_model, how):
    """The ways the README gives to end a run from its window, on a real (virtual) screen: each stops the clip
    part-way, exit 0, its annotated video and CSV whole and holding the same frames. A window another program
    destroys (xdotool windowclose) Qt never heard of: the run went on to the clip's end with no window (a
    camera's for ever, with nothing to press q in); it now stops as when the window is closed."""
    with _clip_in_window(tmp_path, clip, mask_model) as (proc, env, _, window, out, table):
        if how == "close button":
            press_close_button(env, window[0])
        elif how == "windowclose":
            subprocess.run(["xdotool", "windowclose", window[0]], env=env, capture_output=True)
        else:
            subprocess.run(["xdotool", "key", "--window", window[0], how], env=env, capture_output=True)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    said = {"q": "the q key", "Escape": "Esc"}.get(how, "the window closed")
    stopped = re.search(rf"\[INFO\] stopped with {said} after (\d+) frames: every output finalized", stdout)
    assert stopped and "Traceback" not in stderr, stdout + stderr
    frames, size = video_info(out)
    assert frames == int(stopped[1]) < CLIP_FRAMES and size == CLIP_SIZE
    rows = read_csv(table)
    assert rows and max(int(r["frame"]) for r in rows) < frames
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no .part file left


def _settled(frames, quiet_s: float, timeout: float = 120) -> set[int]:
    """`frames()` once it has not changed for `quiet_s` seconds: the frames a paused run had done."""
    seen, since, deadline = frames(), time.monotonic(), time.monotonic() + timeout
    while time.monotonic() - since < quiet_s and time.monotonic() < deadline:
        time.sleep(0.1)
        if (now := frames()) != seen:
            seen, since = now, time.monotonic()
    return seen


def test_space_on_a_camera_holds_the_window_while_its_frames_go_on(monkeypatch):
    """A camera or stream paused is still read (its frames would be lost otherwise): the window holds the frame it
    showed, saying so, and show() never waits; space again shows the frames as they come. The title names the
    camera."""
    import facekit.cli.video as video_cli
    from facekit.cli.video import PAUSE_KEY, RunStats, _LiveView
    from facekit.records import CutShort
    from facekit.video import SourceSpec

    shown = []

    class Recording(ScriptedWindow):
        def show(self, image):
            shown.append(int(image[-1, -1, 0]))  # each test frame's number, in a corner no text reaches
            super().show(image)

    window = Recording([None, PAUSE_KEY])
    monkeypatch.setattr(video_cli, "Window", window)
    from types import SimpleNamespace

    camera = SimpleNamespace(spec=SourceSpec.parse("0"), live=True, waiting=None)
    with contextlib.ExitStack() as stack:
        view = _LiveView(camera, RunStats(cut=CutShort(inputs=["0"])), stack)
        frames = [np.full((120, 160, 3), n, np.uint8) for n in range(8)]
        started = time.monotonic()
        assert not any(view.show(frames[n]) for n in range(5))  # space came after frame 1
        assert view.paused and time.monotonic() - started < 1  # nothing waited on
        window.pending.append(PAUSE_KEY)
        assert not any(view.show(frames[n]) for n in range(5, 8))
    assert not view.paused and window.title == "facekit: camera 0 (space pauses, q or Esc quits)"
    # 0, 1, then 1 held (saying so), frames 2-4 not shown, 1 again as space let go, and the frames that came after
    assert shown == [0, 1, 1, 1, 6, 7]


@NEEDS_X
def test_space_pauses_the_live_window_on_a_file_and_q_still_quits(clip, mask_model):
    """The live window had no pause (README: "there is no pause key"). Space holds the frame shown and a file is
    read no further, its rows on `--csv -` standing still for seconds; space again goes on from there; q quits a
    paused run, exit 0, its outputs holding the frames done. The title names the clip and the keys."""
    with on_x_screen("detect_mask_video.py", "--source", clip, "--model", mask_model, "--tasks", "mask",
                     "--csv", "-") as (proc, env, _):
        rows: list[str] = []

        def read_rows():
            for line in proc.stdout:
                rows.append(line)

        threading.Thread(target=read_rows, daemon=True).start()

        def frames() -> set[int]:  # the clip has faces in every frame: each frame done has rows
            return {int(line.split(",")[0]) for line in rows[1:]}

        def key(name: str) -> None:
            subprocess.run(["xdotool", "key", "--window", window[0], name], env=env, capture_output=True)

        window = window_on_screen(proc, env, rf"^facekit: {re.escape(clip.name)} \(space pauses, q or Esc quits\)$")
        deadline = time.monotonic() + 120
        while not frames() and time.monotonic() < deadline:
            time.sleep(0.05)
        began = time.monotonic()
        while len(frames()) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        # Paused is no row for five frames' time at the pace the run went: a fixed 1.5 s, on a loaded machine where
        # a frame took that long, took a running clip for a paused one (and a paused one's wait grows the same way).
        quiet_s = max(1.5, 5 * (time.monotonic() - began) / 9)
        key("space")
        held = _settled(frames, quiet_s)
        time.sleep(max(3.0, quiet_s))
        assert frames() == held and 10 <= len(held) < CLIP_FRAMES  # nothing read while paused
        key("space")
        while len(frames()) < len(held) + 10 and time.monotonic() < deadline + 120:
            time.sleep(0.1)
        key("space")
        paused = _settled(frames, quiet_s)
        assert len(paused) >= len(held) + 10  # resumed, then paused again
        key("q")
        with killed_after(proc, 60, "the run to end on q"):
            err = proc.stderr.read()
        assert proc.wait(timeout=60) == 0, err
    assert f"[INFO] stopped with the q key after {len(paused)} frames: every output finalized" in err, err
    assert frames() == paused == set(range(len(paused))) and "Traceback" not in err


@NEEDS_X
def test_a_folder_runs_live_window_names_the_video_it_plays(tmp_path, clip, mask_model):
    """A folder run's videos each played in a window titled "facekit (q or Esc quits)": which one was playing went
    unsaid. Each window names its video, as the photo window names its photo."""
    clips = tmp_path / "clips"
    clips.mkdir()
    _cut_of(clips / "a.mp4", clip, 90)
    shutil.copy(clip, clips / "b.mp4")
    with on_x_screen("detect_mask_video.py", "--source", clips, "--model", mask_model, "--tasks", "mask") \
            as (proc, env, _):
        window_on_screen(proc, env, r"^facekit: a\.mp4 \(space pauses, q or Esc quits\)$", every=0.1)
        second = window_on_screen(proc, env, r"^facekit: b\.mp4 \(space pauses, q or Esc quits\)$", every=0.1)
        subprocess.run(["xdotool", "key", "--window", second[0], "q"], env=env, capture_output=True)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert f"[INFO] {clips}/a.mp4: 90 frames" in out and "stopped with the q key" in out, out


@pytest.mark.slow
def test_full_clip_headless_writes_video_csv_and_timeline(tmp_path, clip, mask_model):
    out, table, plot = tmp_path / "annotated.mp4", tmp_path / "faces.csv", tmp_path / "timeline.png"
    env = {k: "" for k in ("DISPLAY", "WAYLAND_DISPLAY")}
    # No --no-display: without a display the script must notice and run headless by itself.
    r = run_script("detect_mask_video.py", "--source", clip, "--model", mask_model, "--output", out, "--csv", table,
                   "--timeline", plot, env=env)
    assert r.returncode == 0, r.stderr
    assert "[INFO] loading face detector model..." in r.stdout and "[INFO] starting video stream..." in r.stdout
    assert r.stdout.count("running headless") == 1

    assert video_info(out) == (CLIP_FRAMES, CLIP_SIZE)
    cap = cv2.VideoCapture(str(out))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(29.97, abs=0.05)

    rows = read_csv(table)
    assert rows, "no faces found in the clip"
    assert {"frame", "time_s", "track_id", "x1", "y1", "x2", "y2", "score", "mask_with_mask",
            "mask_without_mask"} <= set(rows[0])
    # Every head in the CSV (mask, plus any other trained head found in models/): probabilities sum to 1.
    tasks = [c[: -len("_label")] for c in rows[0] if c.endswith("_label")]
    assert "mask" in tasks
    # Probability columns are task_label for each of the head's labels (not derived ones like emotion_intensity).
    from facekit.heads import ModelCard, available_tasks

    labels = {t: ModelCard.load(f / CARD).labels for t, f in available_tasks().items()}
    labels["mask"] = ModelCard.load(mask_model / CARD).labels
    prob_columns = {t: [f"{t}_{lab}" for lab in labels[t]] for t in tasks}
    for row in rows:
        assert 0 <= int(row["frame"]) < CLIP_FRAMES
        assert float(row["time_s"]) == pytest.approx(int(row["frame"]) / 29.97, abs=1e-3)
        for task, columns in prob_columns.items():
            if row[f"{task}_label"] != "":
                probs = [float(row[c]) for c in columns]
                assert sum(probs) == pytest.approx(1.0, abs=1e-4)
                # The top class, or one it leads by no more than LABEL_MARGIN: a track's label holds near a tie.
                shown = probs[columns.index(f"{task}_{row[f'{task}_label']}")]
                assert max(probs) - shown <= LABEL_MARGIN + 1e-5, row
    classified = [r for r in rows if r["mask_with_mask"] != ""]
    assert len(classified) >= 0.8 * len(rows)
    # The closing table names the tracks no head ever labelled (the clip's dark audience) and why.
    never = {r["track_id"] for r in rows} - {r["track_id"] for r in classified}
    said = re.findall(r"^no label for tracks? ([\d, ]+): (.+)$", r.stdout, re.M)
    assert never and {t for ids, _ in said for t in ids.split(", ")} == never, (never, said)
    assert {why for _, why in said} <= {"too dark to read", "too small for the heads"}, said

    # One row per face per frame: the detector alone, on a few frames, finds as many faces.
    from facekit.detection import VIDEO_DETECTOR, create_detector

    detector = create_detector(VIDEO_DETECTOR, fine_pass=False)  # what the script runs by default
    source = cv2.VideoCapture(str(clip))
    per_frame = {}
    for r_ in rows:
        per_frame.setdefault(int(r_["frame"]), []).append(r_)
    for index in range(0, CLIP_FRAMES, 37):
        source.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = source.read()
        assert ok
        assert len(per_frame.get(index, [])) == len(detector.detect(frame)), f"frame {index}"
        ids = [r_["track_id"] for r_ in per_frame.get(index, [])]
        assert len(ids) == len(set(ids)), "two faces of one frame share a track id"

    # Ids persist: a face overlapping a face of the previous frame carries the same id.
    def box(r_):
        return Box(int(r_["x1"]), int(r_["y1"]), int(r_["x2"]), int(r_["y2"]))

    continued = same = 0
    for index, faces in per_frame.items():
        for prev in per_frame.get(index - 1, []):
            for cur in faces:
                if box(prev).iou(box(cur)) > 0.5:
                    continued += 1
                    same += prev["track_id"] == cur["track_id"]
    assert continued > 100
    assert same == continued

    img = cv2.imread(str(plot))
    assert img is not None and img.shape[0] > 100 and img.shape[1] > 100


def test_detect_every_follows_faces_between_detections(tmp_path, clip, mask_model):
    table, out = tmp_path / "faces.csv", tmp_path / "out.avi"
    assert main(["--source", str(clip), "--model", str(mask_model), "--no-display", "--max-frames", "30",
                 "--detect-every", "3", "--csv", str(table), "--output", str(out)]) == 0
    rows = read_csv(table)
    frames = {int(r["frame"]) for r in rows}
    # Faces are reported on the frames between detections too, on the same tracks.
    assert {f for f in frames if f % 3} and len(frames) >= 25
    by_frame = {}
    for r in rows:
        by_frame.setdefault(int(r["frame"]), set()).add(r["track_id"])
    assert any(by_frame[f] & by_frame.get(f + 1, set()) for f in by_frame)
    assert video_info(out) == (30, CLIP_SIZE)


def test_max_frames_limits_every_output(tmp_path, clip, mask_model):
    table, out = tmp_path / "f.csv", tmp_path / "o.mp4"
    assert main(["--source", str(clip), "--model", str(mask_model), "--no-display", "--max-frames", "12",
                 "--csv", str(table), "--output", str(out), "--smooth", "0"]) == 0
    assert video_info(out) == (12, CLIP_SIZE)
    assert max(int(r["frame"]) for r in read_csv(table)) <= 11
    # The overlay is drawn: each face's box and labels, but not the processing speed the live window shows
    # top left (a different number on every run of the same video).
    src, dst = cv2.VideoCapture(str(clip)), cv2.VideoCapture(str(out))
    for _ in range(6):
        a, b = src.read()[1], dst.read()[1]
    diff = cv2.absdiff(a, b).max(axis=2)
    assert (diff[8:22, 10:60] > 60).mean() < 0.02
    row = next(r for r in read_csv(table) if r["frame"] == "5")
    x1, y1, x2, y2 = (int(row[k]) for k in ("x1", "y1", "x2", "y2"))
    assert diff[y1:y2, x1:x1 + 2].mean() > 40 or diff[y1:y2, x2 - 2:x2].mean() > 40  # box edge


def test_smooth_sets_how_steady_the_csvs_probabilities_are(tmp_path, clip, mask_model):
    """--smooth is the weight of a track's past: at 0 each frame's own mask probabilities go to the CSV, at 0.9
    they move far less from frame to frame (the first frame's are the same either way)."""
    moved = {}
    for smooth in ("0", "0.9"):
        table = tmp_path / f"s{smooth}.csv"
        assert main(["--source", str(clip), "--model", str(mask_model), "--no-display", "--max-frames", "12",
                     "--head-every", "1", "--csv", str(table), "--smooth", smooth]) == 0
        rows = [r for r in read_csv(table) if r["track_id"] == "1" and r["mask_with_mask"]]
        assert len(rows) >= 10
        values = [float(r["mask_with_mask"]) for r in rows]
        moved[smooth] = (values[0], sum(abs(b - a) for a, b in zip(values, values[1:])))
    assert moved["0"][0] == moved["0.9"][0]
    assert moved["0.9"][1] < 0.5 * moved["0"][1], moved


def test_a_webm_output_is_vp8_which_browsers_play(tmp_path, clip, mask_model):
    """The .mp4 written is MPEG-4 Part 2, which no web browser plays, and a .webm was refused ("cannot write a
    video with extension '.webm'"). A .webm is now VP8 (browsers play it), with every frame and the overlay."""
    out = tmp_path / "o.webm"
    assert main(["--source", str(clip), "--model", str(mask_model), "--no-display", "--max-frames", "8",
                 "--output", str(out), "--smooth", "0"]) == 0
    assert video_info(out) == (8, CLIP_SIZE)
    dst = cv2.VideoCapture(str(out))
    assert int(dst.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little") == b"VP80"
    src = cv2.VideoCapture(str(clip))
    diffs = [cv2.absdiff(src.read()[1], dst.read()[1]).max(axis=2) for _ in range(8)]
    assert all(np.median(d) < 20 for d in diffs)  # the clip itself, encoded well
    assert max((d > 60).mean() for d in diffs) > 0.002  # and the boxes and labels drawn on it
    assert [p.name for p in tmp_path.iterdir()] == ["o.webm"]


def test_an_outputs_lost_sound_is_said_with_the_command_that_puts_it_back_in_step(tmp_path, clip, mask_model, capfd):
    """The hamilton clip has sound; the annotated video had none (OpenCV writes pictures only) and nothing said so.
    Now one [WARN] line says so, with an ffmpeg command that shifts the pictures to the source's 0.852 s start
    (they played 0.85 s ahead of the sound). A source without sound, the output itself, gets no such line."""
    out, again = tmp_path / "o.mp4", tmp_path / "again.mkv"
    assert main(["--source", str(clip), "--model", str(mask_model), "--no-display", "--max-frames", "3",
                 "--output", str(out)]) == 0
    warned = [line for line in capfd.readouterr().err.splitlines() if line.startswith("[WARN]")]
    assert warned == [f"[WARN] {out} has no sound: OpenCV writes pictures only, and the source's sound track is left "
                      f"out. With ffmpeg: ffmpeg -itsoffset 0.852 -i {out} -i {clip} -map 0:v -map 1:a -c:v copy "
                      f"-shortest {tmp_path / 'o_sound.mp4'}"], warned
    assert video_info(out) == (3, CLIP_SIZE)
    assert main(["--source", str(out), "--model", str(mask_model), "--no-display", "--output", str(again)]) == 0
    said = capfd.readouterr()
    assert "has no sound" not in said.err + said.out and video_info(again) == (3, CLIP_SIZE)


def test_a_folder_runs_videos_say_their_outputs_lost_sound_too(tmp_path, clip, mask_model, capfd):
    """A folder of phone videos, each with sound: the annotated ones had none, and the folder run said nothing."""
    clips, out = tmp_path / "clips", tmp_path / "out"
    clips.mkdir()
    shutil.copy(clip, clips / "walk.mp4")
    assert main(["--source", str(clips), "--model", str(mask_model), "--tasks", "mask", "--no-display",
                 "--max-frames", "3", "--output", f"{out}/"]) == 0
    warned = [line for line in capfd.readouterr().err.splitlines() if line.startswith("[WARN]")]
    assert warned == [f"[WARN] {out / 'walk.mp4'} has no sound: OpenCV writes pictures only, and the source's sound "
                      f"track is left out. With ffmpeg: ffmpeg -itsoffset 0.852 -i {out / 'walk.mp4'} -i "
                      f"{clips / 'walk.mp4'} -map 0:v -map 1:a -c:v copy -shortest {out / 'walk_sound.mp4'}"], warned


def test_help_names_the_csv_and_summary_columns_that_are_no_heads_class():
    """A researcher reading --help learnt of "time, track id, box, every probability": not that time_s is in
    seconds, that the probabilities are smoothed, nor the intensity and eyes-only columns and what they hold."""
    from facekit.cli.video import build_parser
    from facekit.landmarks import MEASURE_NAMES
    from facekit.people import PeopleSummary
    from facekit.records import csv_columns

    labels = {"mask": ["with_mask", "without_mask"], "emotion": ["happy", "neutral"]}
    helps = {a.dest: " ".join(a.help.split()) for a in build_parser()._actions if a.dest in ("csv", "summary")}
    classes = {f"{t}_{c}" for t, cs in labels.items() for c in cs} | {f"{t}_label" for t in labels}
    # Every column, the box, the detector's score and --landmarks' pose and openness too: the help left those out.
    for name in set(csv_columns(labels, pose=True, measures=MEASURE_NAMES, clock=True)) - classes:
        assert re.search(rf"\b{name}\b", helps["csv"]), name
    assert "<task>_label and <task>_<class>" in helps["csv"] and "with --landmarks yaw" in helps["csv"]
    assert "seconds" in helps["csv"] and "smoothed" in helps["csv"] and "1 - P(neutral)" in helps["csv"]
    for name in set(PeopleSummary(labels, clock=True).columns()) - classes - {"mask_prob", "emotion_prob"}:
        assert name in helps["summary"], name
    assert "<task>_label" in helps["summary"] and "<task>_prob (that label's mean probability)" in helps["summary"]
    assert "seconds" in helps["summary"]


def test_times_that_a_player_shows_later_are_said_with_the_offset(tmp_path, clip, mask_model, capfd):
    """A researcher lining the CSV up with a transcript of the hamilton clip's sound was 0.852 s off: the CSV's
    frame 0 is at 0.0, a player shows it at 0.852 (the file's pictures start after its sound), and only README said
    so. One line of the run says it, with the number; a video whose pictures start at 0 gets no such line."""
    table, summary, copy = tmp_path / "f.csv", tmp_path / "p.csv", tmp_path / "copy.mp4"
    assert main(["--source", str(clip), "--model", str(mask_model), "--no-display", "--max-frames", "2",
                 "--csv", str(table), "--summary", str(summary), "--output", str(copy)]) == 0
    assert read_csv(table)[0]["time_s"] == "0.0"
    said = [line for line in capfd.readouterr().out.splitlines() if "first picture" in line]
    assert said == [f"[INFO] the times in {table} and {summary} count from the video's first picture, which a player "
                    "shows at 0.852 s (the file holds its pictures back that long): add 0.852 to line them up with "
                    "a player's clock, the sound or a transcript"], said
    assert main(["--source", str(copy), "--model", str(mask_model), "--no-display", "--csv", str(table)]) == 0
    assert "first picture" not in capfd.readouterr().out


def test_every_nth_frame_of_a_file_keeps_its_frame_numbers_times_and_duration(tmp_path, clip, mask_model):
    """--every N (the library and the batch job had it; the script did not): frames 0, N, 2N, ... with their
    own numbers and times, and an --output of those frames at 1/N of the rate, as long as its source."""
    table, out = tmp_path / "f.csv", tmp_path / "o.avi"
    assert main(["--source", str(clip), "--model", str(mask_model), "--no-display", "--every", "5",
                 "--max-frames", "20", "--csv", str(table), "--output", str(out)]) == 0
    rows = read_csv(table)
    assert {int(r["frame"]) for r in rows} <= set(range(0, 100, 5)) and len({r["frame"] for r in rows}) >= 15
    fps = cv2.VideoCapture(str(clip)).get(cv2.CAP_PROP_FPS)
    assert all(float(r["time_s"]) == pytest.approx(int(r["frame"]) / fps, abs=1e-3) for r in rows)
    assert video_info(out) == (20, CLIP_SIZE)
    assert cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FPS) == pytest.approx(fps / 5, rel=1e-3)


def test_every_nth_frame_ends_tracks_at_real_cuts_only(clip, mask_model):
    """--every 5 compared analysed frames 5 apart for scene cuts: the hamilton clip's camera zooms onto the
    performer after its first cut (frame 20), and frames 25, 30 and 50 read as cuts too, each ending every
    track: the performer got three ids (the run counted 20 people, 17 at every frame) and her smoothed
    probabilities restarted each time. Cuts are now judged on consecutive frames, which are decoded anyway."""
    from facekit import FaceAnalyzer

    analyzer = FaceAnalyzer(tasks=["mask"], models=[mask_model])
    frames = {index: faces for index, _, faces in analyzer.analyze_video(clip, every=5, max_frames=10)}
    assert sorted(frames) == list(range(0, 50, 5))

    def biggest(index):
        return max(frames[index], key=lambda f: (f.box.x2 - f.box.x1) * (f.box.y2 - f.box.y1))

    # The real cut at frame 20 still ends every track; the zoom after it does not.
    assert not {f.track_id for f in frames[15]} & {f.track_id for f in frames[20]}
    assert len({biggest(i).track_id for i in range(20, 50, 5)}) == 1


def test_an_image_sequence_takes_its_frame_rate_from_fps(tmp_path, clip, mask_model, capfd):
    """An editor's 25 fps export was timed at 30 fps, by the script and by analyze_video alike: a 10-minute
    interview's rows ended at 8:20, and neither could be told the rate. --fps and fps= give it; --fps for a
    video file, whose times are its container's, is one [ERROR] line."""
    from facekit import FaceAnalyzer

    cap, frames = cv2.VideoCapture(str(clip)), tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i:04d}.png"), cap.read()[1])
    table = tmp_path / "f.csv"
    assert main(["--source", str(frames / "%04d.png"), "--model", str(mask_model), "--no-display", "--fps", "25",
                 "--csv", str(table)]) == 0
    assert "no frame rate" not in capfd.readouterr().err
    assert {r["frame"]: r["time_s"] for r in read_csv(table)} == {"0": "0.0", "1": "0.04", "2": "0.08"}
    with FaceAnalyzer(tasks=[]) as analyzer:
        assert [r.time_s for r in analyzer.analyze_video(str(frames / "%04d.png"), fps=25)] == [0.0, 0.04, 0.08]
        # The library's fps= on a video file was ignored without a word: it is refused as --fps is.
        with pytest.raises(ArgumentError, match="times are its own"):
            next(analyzer.analyze_video(clip, fps=25))
    code, line = _run(capfd, "--source", clip, "--model", mask_model, "--no-display", "--fps", "25")
    assert code == 2 and "--fps is for an image sequence" in line and "times are its own" in line, line
    # A stream's password stayed in that line, where every other line shows it as ***.
    code, line = _run(capfd, "--source", "rtsp://admin:secret@10.0.0.9/live", "--no-display", "--fps", "25")
    assert code == 2 and line.endswith("rtsp://admin:***@10.0.0.9/live's times are its own"), line


def test_an_image_sequence_is_a_source_timed_at_30_fps_and_its_folder_says_how(tmp_path, clip, mask_model, capfd):
    """frames/%04d.png works (OpenCV's own reader), but OpenCV gives it 1 fps: frame 9 was at 9 s. It has no
    rate of its own, so 30 fps is taken, with a [WARN] line; the folder alone says to give a pattern."""
    cap, frames = cv2.VideoCapture(str(clip)), tmp_path / "frames"
    frames.mkdir()
    for i in range(10):
        cv2.imwrite(str(frames / f"{i:04d}.png"), cap.read()[1])
    table = tmp_path / "f.csv"
    assert main(["--source", str(frames / "%04d.png"), "--model", str(mask_model), "--no-display",
                 "--csv", str(table)]) == 0
    assert "has no frame rate: times and --output at 30 fps (--fps RATE gives its own)" in capfd.readouterr().err
    rows = read_csv(table)
    assert len({r["frame"] for r in rows}) == 10
    assert all(float(r["time_s"]) == pytest.approx(int(r["frame"]) / 30, abs=1e-4) for r in rows)
    code, line = _run(capfd, "--source", frames, "--model", mask_model, "--no-display")
    assert code == 2 and f"no videos found in {frames}" in line and "10 images" in line, line
    assert f"as a video's frames, give a pattern such as {frames / '%04d.png'}" in line, line


def _sequence(folder: Path, clip: Path, numbers) -> Path:
    folder.mkdir()
    frame = cv2.VideoCapture(str(clip)).read()[1]
    for n in numbers:
        cv2.imwrite(str(folder / f"img_{n:04d}.png"), frame)
    return folder / "img_%04d.png"


def test_an_image_sequence_that_does_not_open_says_why(tmp_path, clip, mask_model, capfd):
    """OpenCV reads a sequence only from image 0 or 1; an editor's export starting at 0100 was called corrupt."""
    pattern = _sequence(tmp_path / "late", clip, range(100, 103))
    code, line = _run(capfd, "--source", pattern, "--model", mask_model, "--no-display")
    assert code == 2 and "start at img_0100.png" in line and "from number 0 or 1" in line
    code, line = _run(capfd, "--source", pattern.with_name("img_%03d.png"), "--model", mask_model, "--no-display")
    assert code == 2 and "no image matches this pattern" in line


def test_readme_says_a_live_sources_frame_numbers_are_not_its_videos():
    """A stream's CSV numbered the frames it analysed (frames 0-19 over 3.2 s) while its --output video, which fills
    in the frames a slower loop skipped, held 82 for those seconds: a row looked up in the video by its frame number
    showed a moment seconds earlier, and README said only "frame (from 0)". It says where a row's picture is."""
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert ("`frame` (from 0: a file's own frame number; a camera's or stream's counts the frames analysed, leaving "
            "out those a slower loop skipped, which its `--output` video fills in, so there a row's picture is found "
            "by its `time_s`, not its `frame`)") in readme


def test_readme_says_how_to_concatenate_tables_when_a_video_had_no_face(tmp_path, mask_model):
    """A folder run's table of a video with no face is its header alone, which pandas reads as text columns: the
    folder's tables concatenated had every column as text (describe() counted them, select_dtypes("number") found
    none), and README said nothing of it. It says to leave such tables out, which gives numbers again."""
    pd = pytest.importorskip("pandas")
    from facekit.records import csv_row
    from facekit.types import Face, Prediction

    cv2.imwrite(str(tmp_path / "0000.png"), np.full((90, 160, 3), 128, np.uint8))  # no face
    empty, faces = tmp_path / "empty.csv", tmp_path / "faces.csv"
    assert main(["--source", str(tmp_path / "%04d.png"), "--model", str(mask_model), "--no-display", "--fps", "25",
                 "--csv", str(empty)]) == 0
    columns = empty.read_text().split()
    assert len(columns) == 1  # the header alone
    labels = {"mask": ["with_mask", "without_mask"]}
    face = Face(Box(10, 10, 60, 70), 0.9, {"mask": Prediction.from_probabilities(labels["mask"], np.array([.2, .8]))},
                track_id=1)
    with open(faces, "w", newline="") as fh:  # a video's table with a face, as the script writes it
        writer = csv.DictWriter(fh, fieldnames=columns[0].split(","))
        writer.writeheader()
        writer.writerow(csv_row(0, 0.0, face, labels))
    tables = [pd.read_csv(faces), pd.read_csv(empty)]
    assert all(pd.concat(tables)[c].dtype == object for c in ("frame", "x1", "score"))
    kept = pd.concat(t for t in tables if len(t))  # README's advice
    assert list(kept.select_dtypes("number").columns)[:3] == ["frame", "time_s", "track_id"]
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert ("A video with no face gets the header alone, which `pandas.read_csv` reads as columns of text (object)"
            in readme and "so leave such tables out: `pd.concat(t for t in tables if len(t))`" in readme)


def test_an_image_sequence_numbered_from_1_says_which_image_is_frame_0(tmp_path, clip, mask_model, capfd):
    """ffmpeg's frame export (frames/%04d.png) starts at 0001.png, which the CSV and --summary call frame 0: a row
    joined to the image of its frame number was the next image's, and nothing said so. One line says it; a
    sequence numbered from 0 needs none."""
    pattern, table, people = _sequence(tmp_path / "from1", clip, [1, 2, 3, 4]), tmp_path / "f.csv", tmp_path / "p.csv"
    assert main(["--source", str(pattern), "--model", str(mask_model), "--no-display", "--fps", "25", "--every", "2",
                 "--csv", str(table), "--summary", str(people)]) == 0
    assert {r["frame"] for r in read_csv(table)} == {"0", "2"}  # img_0001.png and img_0003.png
    assert (f"[INFO] the frame numbers in {table} and {people} count the images of img_%04d.png from 0: frame 0 is "
            "img_0001.png, frame N the image numbered N + 1") in capfd.readouterr().out.splitlines()
    pattern = _sequence(tmp_path / "from0", clip, [0, 1])
    assert main(["--source", str(pattern), "--model", str(mask_model), "--no-display", "--fps", "25",
                 "--csv", str(table)]) == 0
    assert "the frame numbers in" not in capfd.readouterr().out


def test_an_image_sequence_with_a_gap_is_not_cut_short_without_a_word(tmp_path, clip, mask_model, capfd):
    """OpenCV ends a sequence at its first missing number: 3 of 6 images were read, exit 0."""
    pattern, table = _sequence(tmp_path / "gap", clip, [1, 2, 3, 5, 6, 7]), tmp_path / "f.csv"
    code, line = _run(capfd, "--source", pattern, "--model", mask_model, "--no-display", "--csv", table)
    assert code == 2 and "img_0004.png is missing" in line and "3 of its 6 images were not read" in line
    assert {r["frame"] for r in read_csv(table)} == {"0", "1", "2"}  # what was read is kept


def test_an_image_sequence_of_exif_rotated_photos_is_read_upright_as_the_image_script_reads_them(tmp_path, clip):
    """OpenCV's image-sequence reader ignores EXIF orientation: a phone's portrait photos (stored on their side,
    Orientation 6) came out lying down, so faces were found sideways, in boxes matching no viewer's picture nor
    detect_mask_image.py's. Each of the 8 orientations is now turned as load_image turns the same file."""
    from PIL import Image

    from facekit.preprocess import load_image

    upright = Image.fromarray(cv2.VideoCapture(str(clip)).read()[1][::-1, ::-1, ::-1][:120, :200])  # not symmetric
    # How each orientation's file is stored: the transpose that its EXIF tag undoes.
    stored = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90,
              7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}
    folder = tmp_path / "phone"
    folder.mkdir()
    for n, (orientation, turn) in enumerate(stored.items()):
        exif = Image.Exif()
        exif[0x0112] = orientation
        (upright.transpose(turn) if turn else upright).save(folder / f"{n:04d}.jpg", quality=95, exif=exif)
    with FrameSource(folder / "%04d.jpg") as source:
        assert source.size == (200, 120)
        frames = []
        while (item := source.read()) is not None:
            frames.append(item[1])
    assert len(frames) == 8
    for n, frame in enumerate(frames):
        assert np.array_equal(frame, load_image(folder / f"{n:04d}.jpg")), f"orientation {n + 1}"


def test_a_photo_given_as_a_video_is_read_upright_by_its_exif_orientation(tmp_path, media, mask_model):
    """A phone's portrait photo given to detect_mask_video.py (read as one frame, as it says) went through FFmpeg,
    which ignores EXIF orientation: two_people.jpg stored sideways with Orientation 6 was read lying down, and the
    mask head called Obama's sideways face with_mask (0.68). It is now read as detect_mask_image.py reads it."""
    from PIL import Image

    from facekit.preprocess import load_image

    photo, table = tmp_path / "portrait.jpg", tmp_path / "f.csv"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.open(media / "two_people.jpg").transpose(Image.Transpose.ROTATE_90).save(photo, quality=95, exif=exif)
    with FrameSource(photo) as source:
        index, frame = source.read()
        assert source.read() is None
    expected = load_image(photo)  # FFmpeg's JPEG decoder rounds its colours a little otherwise
    assert frame.shape == expected.shape and np.abs(frame.astype(int) - expected).mean() < 3
    assert main(["--source", str(photo), "--model", str(mask_model), "--no-display", "--csv", str(table)]) == 0
    rows = read_csv(table)
    upright = load_image(media / "two_people.jpg")
    assert len(rows) == 2 and all(int(r["x2"]) - int(r["x1"]) < int(r["y2"]) - int(r["y1"]) for r in rows)
    assert all(int(r["x2"]) <= upright.shape[1] and int(r["y2"]) <= upright.shape[0] for r in rows)
    assert {r["mask_label"] for r in rows} == {"without_mask"}


def _turned_clip(clip: Path, path: Path, frames: int) -> list[np.ndarray]:
    """The clip's first `frames` frames turned 90 degrees clockwise, written to `path` (MJPEG .avi); the upright
    frames."""
    cap = cv2.VideoCapture(str(clip))
    upright = [cap.read()[1] for _ in range(frames)]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (360, 640))
    for frame in upright:
        writer.write(cv2.rotate(frame, cv2.ROTATE_90_CLOCKWISE))
    writer.release()
    return upright


def test_rotate_reads_a_video_that_lost_its_rotation_flag_upright(tmp_path, clip, mask_model, capfd):
    """The hamilton clip turned a quarter turn (a phone video whose rotation flag was lost, a camera mounted on
    its side) gave 4 face-frames in its first 90 frames, where upright it gives 196, and nothing could turn it
    back. --rotate 270 reads it upright: the faces upright's, the boxes and the written video in the upright
    frame's pixels; a turn that is not a quarter's multiple is one line."""
    from facekit.errors import ArgumentError

    turned, table, out = tmp_path / "sideways.avi", tmp_path / "f.csv", tmp_path / "upright.mp4"
    upright = _turned_clip(clip, turned, 4)
    with FrameSource(turned, rotate=270) as source:
        assert source.size == (640, 360)
        assert np.abs(source.read()[1].astype(int) - upright[0]).mean() < 4  # MJPEG's loss only
    with pytest.raises(ArgumentError):
        FrameSource(turned, rotate=45)
    assert main(["--source", str(turned), "--rotate", "270", "--model", str(mask_model), "--no-display",
                 "--csv", str(table), "--output", str(out)]) == 0
    rows = read_csv(table)
    assert video_info(out) == (4, (640, 360))
    # Frame 0's two faces, where upright frame 0 has them (the top right man's and the left one's).
    first = sorted((int(r["x1"]), int(r["y1"])) for r in rows if r["frame"] == "0")
    assert len(first) == 2 and abs(first[0][0] - 57) < 8 and abs(first[1][0] - 524) < 8, first
    assert len(rows) >= 7 and {r["mask_label"] for r in rows} == {"without_mask"}
    # The frame's size, as its boxes are in it (the turned picture's): the CSV had none, so normalising a box
    # (x1 / width) took opening the video again.
    assert {(r["width"], r["height"]) for r in rows} == {("640", "360")}
    assert all(int(r["x2"]) <= 640 and int(r["y2"]) <= 360 for r in rows)
    capfd.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["--source", str(turned), "--rotate", "45", "--no-display"])
    assert exc.value.code == 2 and "--rotate: must be 90, 180 or 270" in one_error_line(capfd.readouterr().err)


def test_a_video_with_no_face_that_shows_faces_turned_names_the_turn(tmp_path, clip, mask_model, capfd, monkeypatch):
    """The hamilton clip turned a quarter turn found no face and said nothing of why. Where the first frames have
    none, a few are searched turned, and the turn that shows faces is named with the --rotate that reads it
    (after 30 frames; here 3). An upright video's, or one given --rotate, is not searched again."""
    from facekit.cli import video

    monkeypatch.setattr(video, "TURN_SAMPLES", (0, 1, 2))
    turned = tmp_path / "sideways.avi"
    _turned_clip(clip, turned, 4)
    capfd.readouterr()
    for rotate, hinted in (("0", True), ("270", False)):
        assert main(["--source", str(turned), "--rotate", rotate, "--model", str(mask_model), "--tasks", "mask",
                     "--no-display"]) == 0
        said = capfd.readouterr().out
        hint = "[INFO] no face in the first 3 frames, but turned 270 degrees clockwise 3 of 3 of them show "
        assert (hint in said and "--rotate 270 reads it turned" in said) == hinted, said
    assert main(["--source", str(clip), "--max-frames", "3", "--model", str(mask_model), "--tasks", "mask",
                 "--no-display"]) == 0
    assert "no face in the first" not in capfd.readouterr().out
    # A folder's run says it of the video it is in.
    assert main(["--source", str(tmp_path), "--model", str(mask_model), "--tasks", "mask", "--no-display"]) == 0
    assert f"[INFO] {turned}: no face in the first 3 frames, but turned 270 degrees" in capfd.readouterr().out


def test_a_video_with_a_percent_sign_in_its_name_is_a_file_not_an_image_sequence(tmp_path, clip, mask_model):
    """ "zoom 200%.mp4" went to OpenCV's image-sequence reader and was called corrupt."""
    for name in ("zoom 200%.mp4", "take_%1.mp4", "cut_%04d.mp4"):
        path, table = tmp_path / name, tmp_path / "f.csv"
        path.write_bytes(clip.read_bytes())
        assert main(["--source", str(path), "--model", str(mask_model), "--no-display", "--max-frames", "3",
                     "--csv", str(table)]) == 0, name
        assert {r["frame"] for r in read_csv(table)} == {"0", "1", "2"}


def test_a_files_url_is_read_as_the_file_every_frame(tmp_path, clip, mask_model):
    """file:///.../clip%201.mp4 was taken for a live stream: its newest frame each time, and a clock column."""
    path, table = tmp_path / "clip 1.mp4", tmp_path / "f.csv"
    path.write_bytes(clip.read_bytes())
    assert main(["--source", path.as_uri(), "--model", str(mask_model), "--no-display", "--max-frames", "20",
                 "--csv", str(table)]) == 0
    rows = read_csv(table)
    assert {r["frame"] for r in rows} == {str(i) for i in range(20)} and "clock" not in rows[0]


def test_frame_source_reads_every_frame_of_a_file_and_sink_is_atomic(tmp_path, clip):
    path = tmp_path / "copy.mp4"
    with FrameSource(clip) as source:
        assert source.size == CLIP_SIZE and not source.live
        sink = VideoSink(path, source.fps, source.size)
        indices = []
        while (item := source.read()) is not None:
            indices.append(item[0])
            if len(indices) <= 20:
                sink.write(item[1])
            if len(indices) == 10:
                assert not path.exists(), "the output appeared before it was finished"
        with pytest.raises(VideoError):
            sink.write(np.zeros((10, 10, 3), np.uint8))
        assert sink.close()
    assert indices == list(range(CLIP_FRAMES))  # a file loses no frame, even with a slow consumer
    assert video_info(path) == (20, CLIP_SIZE)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temp file left behind"


def test_live_source_keeps_only_the_latest_frame(clip):
    # A file read the way a camera is: a slow consumer gets fresh frames, not a backlog.
    with FrameSource(clip, live=True) as source:
        assert source.live
        time.sleep(1.0)
        first = source.read()[0]
        assert first > 5, "the reader did not run ahead of the consumer"
        seen = [first]
        while (item := source.read()) is not None:
            seen.append(item[0])
            time.sleep(0.02)
    assert seen == sorted(set(seen)) and seen[-1] == CLIP_FRAMES - 1
    assert len(seen) < CLIP_FRAMES - 5


class _ClumpedCamera:
    """A network camera over Wi-Fi, as OpenCV's capture of it: 30 frames a second, taken steadily and delivered
    `clump` at a time (frame i's pixels are i). `clump` 1 and a pause after frame 0: a camera that waits."""

    clump, pause = 9, 0.0

    def __init__(self, *args, **kwargs):
        self.start, self.i = time.perf_counter(), 0

    def delivered(self, i: int) -> float:
        return self.start + (i // self.clump) * self.clump / 30 + (self.pause if i else 0.0)

    def isOpened(self):
        return True

    def get(self, prop):
        return 0.0

    def read(self):
        time.sleep(max(0.0, self.delivered(self.i) - time.perf_counter()))
        self.i += 1
        return True, np.full((24, 32, 3), (self.i - 1) % 256, np.uint8)

    def release(self):
        pass


def test_a_camera_that_sends_its_frames_in_clumps_is_handed_out_steadily(monkeypatch):
    """A network camera over Wi-Fi (or a stream's segments) delivers its frames in clumps. The loop got the
    newest of each clump and waited for the next: 2 of each 9 frames analysed, the CPU idle in between. A
    clump's frames now come one after another, as far behind as the clumps are spread and no further, each timed
    at the camera's rate."""
    import facekit.video as video

    cameras = []
    monkeypatch.setattr(video.cv2, "VideoCapture", lambda *a, **k: cameras.append(_ClumpedCamera()) or cameras[-1])
    got = []
    with FrameSource("rtsp://camera.local/stream") as source:
        while time.perf_counter() - cameras[0].start < 2.4:
            index, frame = source.read()
            got.append((time.perf_counter(), int(frame[0, 0, 0]), source.time_s(index)))
            time.sleep(0.01)  # a loop faster than the camera
    late = [g for g in got if g[0] - cameras[0].start > 1.2]  # once a few clumps have come
    assert len(late) >= 24, f"{len(late)} of the 36 frames of the last 1.2 s handed out"
    assert max(t - cameras[0].delivered(i) for t, i, _ in late) < 0.3 + 0.25, "lag built up"
    times = [s for *_, s in late]
    assert times == sorted(times) and max(b - a for a, b in zip(times, times[1:])) < 0.15


def test_a_live_frame_is_not_held_until_the_next_one_comes(monkeypatch):
    """The loop read a camera's next frame before it handed on the one in hand: a camera that sends a frame a second
    (or stalls) had each frame shown a second late, and the last one before a stall never."""
    import facekit.video as video
    from facekit.pipeline import FacePipeline, track_faces
    from facekit.tracking import IoUTracker

    resume = threading.Event()

    class StalledCamera(_ClumpedCamera):
        """Its first frame at once, the next once `resume` is set: a stall that lasts as long as the test needs
        (a minute at most), where a 1.5 s pause and a bound on the first frame's wait raced a loaded machine."""

        clump = 1

        def read(self):
            if self.i == 1:
                resume.wait(60)
            return super().read()

    cameras = []
    monkeypatch.setattr(video.cv2, "VideoCapture", lambda *a, **k: cameras.append(StalledCamera()) or cameras[-1])
    try:
        with FrameSource("rtsp://camera.local/stream") as source:
            loop = track_faces(source, FacePipeline(_StillFace()), IoUTracker())
            index, *_ = next(loop)
            second_came = cameras[0].i > 1
            resume.set()
            loop.close()
    finally:
        resume.set()
    assert index == 0 and not second_came, "the first frame was handed on only once the second had come"


# --- bad input: one line, non-zero exit, no traceback -----------------------------------------------


@pytest.mark.parametrize("fps, out_fps", [(0.5, 0.5), (1000.0, 1000.0)])
def test_a_files_own_frame_rate_gives_its_times_and_the_outputs_rate(tmp_path, clip, mask_model, fps, out_fps):
    """A 0.5 fps time-lapse is timed and written at its own rate, not at 30 fps; so is a high-speed camera's
    1000 fps, its frames 1 ms apart (it was written at 30 fps, each frame at its own time: 1 frame of 4 kept)."""
    src = _cut_of(tmp_path / "rate.avi", clip, 4, "MJPG", fps)
    with FrameSource(src) as source:
        assert source.fps == out_fps
        while (item := source.read()) is not None:
            assert source.time_s(item[0]) == pytest.approx(item[0] / fps)
    out, table = tmp_path / "out.mp4", tmp_path / "faces.csv"
    assert main(["--source", str(src), "--model", str(mask_model), "--no-display", "--output", str(out),
                 "--csv", str(table)]) == 0
    assert all(float(r["time_s"]) == pytest.approx(int(r["frame"]) / fps, abs=1e-4) for r in read_csv(table))
    assert cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FPS) == pytest.approx(out_fps)


def test_a_rate_that_is_a_time_base_is_not_the_outputs(tmp_path, clip):
    """A Matroska whose default duration says 1 ms (1000 fps, as OpenCV reports it) while its frames are ~33 ms
    apart: its rate is no frame rate, and the --output video is written at 30 fps, its frames at their times."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg")
    base, jittered = tmp_path / "base.mkv", tmp_path / "jittered.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-an", "-frames:v", "12", "-c:v", "mjpeg", str(base)],
                   check=True)
    # Timestamps off the 30 fps grid, so FFmpeg guesses no rate from them (its time base: 1 ms).
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(base), "-c", "copy", "-bsf:v", r"setts=ts=N*33+mod(N*7\,5)",
                    str(jittered)], check=True)
    data = bytearray(jittered.read_bytes())
    at = data.find(bytes.fromhex("23e38384"))  # DefaultDuration, 4 bytes of nanoseconds
    assert at > 0
    data[at + 4:at + 8] = (1_000_000).to_bytes(4, "big")
    (tmp_path / "time_base.mkv").write_bytes(bytes(data))
    with FrameSource(str(tmp_path / "time_base.mkv")) as source:
        assert (source.reported_fps, source.fps_known, source.fps) == (1000.0, False, 30.0)
        first, second = source.read()[0], source.read()[0]
        assert source.time_s(second) - source.time_s(first) == pytest.approx(0.035)


def test_a_video_piped_in_is_read_as_its_file_is(tmp_path, clip, mask_model, monkeypatch, capfd):
    """`--source -` (`cat clip.mp4 | ...`, as the photo script's `-i -`) was "-: no such file". The copy a piped
    run killed with kill -9 left in the temp folder (the whole video, kept for good) is removed by the next."""
    import io
    import tempfile

    cap, video = cv2.VideoCapture(str(clip)), tmp_path / "short.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30, CLIP_SIZE)  # its index at its end
    for _ in range(4):
        writer.write(cap.read()[1])
    writer.release()
    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    killed = killed_runs_temp_folder(spool / "facekit-stdin")

    class Pipe:
        def __init__(self, data: bytes):
            self.buffer = io.BytesIO(data)

        def isatty(self):
            return False

    common = ["--model", str(mask_model), "--no-display"]
    assert main(["--source", str(video), "--csv", str(tmp_path / "file.csv"), *common]) == 0
    monkeypatch.setattr(sys, "stdin", Pipe(video.read_bytes()))
    into = f"{tmp_path / 'out'}/"
    assert main(["--source", "-", "--csv", into, "--output", into, "--summary", into, "--timeline", into,
                 *common]) == 0
    assert read_csv(tmp_path / "out" / "stdin.csv") == read_csv(tmp_path / "file.csv") != []
    assert video_info(tmp_path / "out" / "stdin.mp4") == (4, CLIP_SIZE)
    # README names each output a folder gets: the timeline's was left out
    readme = " ".join((ROOT / "README.md").read_text().split())
    named = re.search(r"outputs given as a folder get ((?:`stdin[.a-z0-9]+`(?:, | and )?)+)", readme)
    assert named and sorted(re.findall(r"`(stdin[.a-z0-9]+)`", named.group(1))) == sorted(
        p.name for p in (tmp_path / "out").iterdir()), named
    assert list(spool.iterdir()) == [] and not killed.exists()  # the copy it was read into, and a killed run's, gone
    capfd.readouterr()
    for data, message in ((b"", "--source -: nothing came on standard input"),
                          (b"not a video", "-: not a readable video")):
        monkeypatch.setattr(sys, "stdin", Pipe(data))
        assert main(["--source", "-", *common]) == 2
        assert one_error_line(capfd.readouterr().err).startswith(f"[ERROR] {message}")
    assert list(spool.iterdir()) == []


def test_a_piped_video_with_no_room_for_its_copy_names_the_temp_folder(tmp_path, clip):
    """`cat clip.mp4 | ... --source -` with a full temp folder (the copy of the piped video is written there first)
    said "[ERROR] cannot write an output: No space left on device", naming no output, as there was none: the full
    disk was TMPDIR's. The line now names the temp folder and TMPDIR, and the part copied is removed."""
    import resource

    spool = tmp_path / "tmp"
    spool.mkdir()

    def small_disk():  # a write past 200 KB fails with EFBIG, as one on a full disk fails with ENOSPC
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    res = subprocess.run([sys.executable, str(ROOT / "detect_mask_video.py"), "--source", "-", "--no-display",
                          "--csv", str(tmp_path / "faces.csv")], input=clip.read_bytes(), capture_output=True,
                         timeout=120, cwd=ROOT, env=dict(os.environ, TMPDIR=str(spool)), preexec_fn=small_disk)
    err = res.stderr.decode()
    assert res.returncode == 2, err
    line = one_error_line(err)
    assert line.startswith(f"[ERROR] --source -: no room in the temp folder {spool} ") and "TMPDIR" in line, line
    assert list(spool.iterdir()) == [] and not (tmp_path / "faces.csv").exists()


def _with_pixel_aspect(data: bytes, h: int, v: int) -> bytes:
    """An MP4's bytes (moov after mdat, as OpenCV writes it) with a pasp box, pixels h:v, in its video sample
    entry: how a camcorder or a DVD rip marks an anamorphic picture, and FFmpeg reads it."""
    starts, at, end = [], 0, len(data)
    for name in (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"):
        while at < end:
            size, kind = struct.unpack(">I4s", data[at:at + 8])
            if kind == name:
                starts.append(at)
                end, at = at + size, at + 8
                break
            at += size
    entry = at + 8  # after stsd's version, flags and count
    size = struct.unpack(">I", data[entry:entry + 4])[0]
    out = bytearray(data[:entry + size] + struct.pack(">I4sII", 16, b"pasp", h, v) + data[entry + size:])
    for start in [*starts, entry]:
        struct.pack_into(">I", out, start, struct.unpack(">I", out[start:start + 4])[0] + 16)
    return bytes(out)


def test_an_anamorphic_video_is_analysed_and_drawn_as_players_show_it(tmp_path, clip, mask_model, capfd):
    """A file of 480x360 pixels shown 4:3 wide (640x360, its sample aspect ratio; DV, DVD, HDV) was analysed and
    drawn as its stored pixels: every face squashed, and the boxes off the picture a player shows by a quarter."""
    cap, frames = cv2.VideoCapture(str(clip)), []
    for _ in range(4):
        frames.append(cap.read()[1])
    plain, squeezed = tmp_path / "plain.mp4", tmp_path / "squeezed.mp4"
    for path, size in ((plain, CLIP_SIZE), (squeezed, (480, 360))):
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, size)
        for frame in frames:
            writer.write(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
        writer.release()
    squeezed.write_bytes(_with_pixel_aspect(squeezed.read_bytes(), 4, 3))
    boxes = {}
    for path in (plain, squeezed):
        table, out = tmp_path / f"{path.stem}.csv", tmp_path / f"{path.stem}_out.mp4"
        assert main(["--source", str(path), "--model", str(mask_model), "--no-display", "--csv", str(table),
                     "--output", str(out)]) == 0
        assert video_info(out) == (4, CLIP_SIZE)
        boxes[path.stem] = sorted([int(r[k]) for k in ("x1", "y1", "x2", "y2")] for r in read_csv(table)
                                  if r["frame"] == "0")
    assert len(boxes["squeezed"]) == len(boxes["plain"]) == 2
    assert np.abs(np.array(boxes["squeezed"]) - np.array(boxes["plain"])).max() <= 8, boxes
    assert f"{squeezed}: its 480x360 pictures are shown 640x360 (pixels not square)" in capfd.readouterr().out


def _with_rotation_flag(data: bytes) -> bytes:
    """An MP4's bytes with its track's matrix (tkhd) saying "turn 90 degrees clockwise to show": how a phone marks
    the frames it stores on their side, and FFmpeg (so OpenCV) turns them by."""
    at = data.index(b"tkhd") + 4
    assert data[at] == 0  # version 0: the matrix follows 36 bytes of times, ids, layer and volume
    return data[:at + 40] + struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 1 << 30) + data[at + 76:]


def test_a_phone_video_stored_on_its_side_is_read_upright_at_its_shape_on_screen(tmp_path, clip, mask_model,
                                                                                   capfd):
    """The clip's frames stored turned a quarter with a rotation flag (a phone's video) are read upright, boxes on
    the upright clip's; and one whose pixels are not square too (stored 360x480, pixels 3:4) is stretched along
    the side players stretch: the ratio is the stored pixels', which the flag turns, and its upright 480x360 came
    out 480x480, every face a third too tall, where players show 640x360. The same file without its flag, turned
    by --rotate 90, is read so too."""
    cap, frames = cv2.VideoCapture(str(clip)), []
    for _ in range(4):
        frames.append(cv2.rotate(cap.read()[1], cv2.ROTATE_90_COUNTERCLOCKWISE))
    plain, phone, squeezed, turned = (tmp_path / f"{name}.mp4" for name in ("plain", "phone", "squeezed", "turned"))
    for path, size in ((plain, None), (phone, (360, 640)), (squeezed, (360, 480))):
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, size or CLIP_SIZE)
        for frame in frames:
            writer.write(cv2.rotate(frame, cv2.ROTATE_90_CLOCKWISE) if size is None else
                         cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
        writer.release()
    phone.write_bytes(_with_rotation_flag(phone.read_bytes()))
    turned.write_bytes(_with_pixel_aspect(squeezed.read_bytes(), 3, 4))
    squeezed.write_bytes(_with_rotation_flag(turned.read_bytes()))
    boxes = {}
    for path in (plain, phone, squeezed, turned):
        table, out = tmp_path / f"{path.stem}.csv", tmp_path / f"{path.stem}_out.mp4"
        assert main(["--source", str(path), "--model", str(mask_model), "--no-display", "--csv", str(table),
                     "--output", str(out), *(["--rotate", "90"] if path == turned else [])]) == 0
        assert video_info(out) == (4, CLIP_SIZE), path
        rows = read_csv(table)
        assert {(r["width"], r["height"]) for r in rows} == {("640", "360")}, path
        boxes[path.stem] = np.array(sorted([int(r[k]) for k in ("x1", "y1", "x2", "y2")] for r in rows
                                           if r["frame"] == "0"))
    assert len(boxes["plain"]) == 2 and all(b.shape == boxes["plain"].shape for b in boxes.values()), boxes
    assert np.abs(boxes["phone"] - boxes["plain"]).max() <= 4, boxes
    assert np.abs(boxes["squeezed"] - boxes["plain"]).max() <= 8, boxes
    assert np.abs(boxes["turned"] - boxes["squeezed"]).max() <= 2, boxes
    said = capfd.readouterr().out
    assert f"{squeezed}: its 480x360 pictures are shown 640x360 (pixels not square)" in said
    assert f"{turned}: its 480x360 pictures are shown 640x360 (pixels not square)" in said


def _run(capfd, *args) -> tuple[int, str]:
    code = main([*map(str, args)])
    return code, one_error_line(capfd.readouterr().err)


def test_a_models_folder_that_is_not_there_is_the_runs_one_line(tmp_path, clip, capfd, monkeypatch):
    """It was named after "[INFO] loading face detector model...", as if the models had begun to load."""
    monkeypatch.setenv("FACEKIT_MODELS", str(tmp_path / "modles"))
    assert main(["--source", str(clip), "--no-display", "--max-frames", "2"]) == 2
    out, err = capfd.readouterr()
    assert out == "" and err.strip().splitlines() == [f"[ERROR] FACEKIT_MODELS={tmp_path / 'modles'}: no such "
                                                      "folder (unset it to use the shipped heads)"], out + err


def _bad_files(tmp_path: Path, clip: Path) -> dict[str, Path]:
    files = {}
    files["empty"] = tmp_path / "empty.mp4"
    files["empty"].write_bytes(b"")
    files["random"] = tmp_path / "random.mp4"
    files["random"].write_bytes(np.random.default_rng(0).integers(0, 256, 100_000, dtype=np.uint8).tobytes())
    files["truncated"] = tmp_path / "truncated.mp4"
    files["truncated"].write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    files["zero_frames"] = tmp_path / "zero_frames.mp4"
    writer = cv2.VideoWriter(str(files["zero_frames"]), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 64))
    writer.release()
    return files


@pytest.mark.parametrize("kind", ["missing", "empty", "random", "truncated", "zero_frames"])
def test_unreadable_video_files(tmp_path, clip, mask_model, capfd, kind):
    path = _bad_files(tmp_path, clip).get(kind, tmp_path / "missing.mp4")
    out = tmp_path / "out.mp4"
    code, line = _run(capfd, "--source", path, "--model", mask_model, "--no-display", "--output", out)
    assert code == 2
    assert path.name in line
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_video_this_user_may_not_read_says_so(tmp_path, clip, capfd):
    """It went on to OpenCV, whose failure read "not a readable video (corrupt, truncated, no frames, or
    unsupported format)" of an intact video that was only refused to this user."""
    path = unreadable_file(tmp_path, "locked.mp4", clip)
    assert _run(capfd, "--source", path, "--no-display") == (2, f"[ERROR] {path}: cannot read (Permission denied)")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_a_device_given_as_a_video_says_it_is_a_device(capfd, device):
    """-s /dev/zero said "empty file (0 bytes)", of a device that never ends (a device's size reads 0)."""
    assert _run(capfd, "--source", device, "--no-display") == (2, f"[ERROR] {device}: a device, not a video file")


@pytest.mark.parametrize("fps, shown", [("0.0001", "0.0001"), ("1e9", "1e+09"), ("1000.123", "1000.123")])
def test_a_frame_rate_no_writer_takes_says_it_is_the_rate_not_the_extension(tmp_path, capfd, fps, shown):
    """`--fps 1e9 --output clip.mp4` said "cannot write a video with extension '.mp4'": the extension is fine, the
    rate is not. Said before any work, with the rates OpenCV's writers take; at the writer (a video's rate over
    --every's step, known once it is open) as well."""
    from facekit.video import VideoSink

    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "0000.png"), np.zeros((48, 64, 3), np.uint8))
    code, line = _run(capfd, "--source", frames / "%04d.png", "--fps", fps, "--output", tmp_path / "clip.mp4",
                      "--no-display")
    assert code == 2 and line.startswith(f"[ERROR] cannot write a video at {shown} frames a second: OpenCV's video "
                                         "writers take a rate over 0.001 frames a second; "), line
    with pytest.raises(VideoError, match=f"cannot write a video at {re.escape(shown)} frames a second"):
        VideoSink(tmp_path / "clip.mp4", float(fps), (64, 48))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]


def test_a_video_given_as_a_pipe_says_to_pipe_it_to_source_dash(tmp_path, capfd):
    """`-s <(curl -s URL)` or `-s /dev/stdin` named a pipe, whose size is 0: "empty file (0 bytes)"."""
    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)
    code, line = _run(capfd, "--source", fifo, "--no-display")
    assert (code, line) == (2, f"[ERROR] {fifo}: a pipe, not a video file: pipe the video to --source - instead (cat "
                               "clip.mp4 | detect_mask_video.py --source -), which reads it to its end first")


def test_a_sound_file_and_an_mp4_cut_before_its_index_say_what_they_are(tmp_path):
    """A voice memo's .m4a (sound only) and a download cut short before an MP4's index (the moov box, written
    last) were both "not a readable video (corrupt, truncated, no frames, or unsupported format)"."""
    def box(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I4s", 8 + len(body), kind) + body

    hdlr = box(b"hdlr", b"\0" * 8 + b"soun" + b"\0" * 13)
    mvhd = box(b"mvhd", b"\0" * 12 + struct.pack(">II", 1000, 0) + b"\0" * 80)
    memo = tmp_path / "memo.m4a"
    memo.write_bytes(box(b"ftyp", b"M4A \0\0\0\0isom") + box(b"moov", mvhd + box(b"trak", box(b"mdia", hdlr)))
                     + box(b"mdat", b"\0" * 64))
    with pytest.raises(VideoError, match="memo.m4a: sound only, no pictures: not a video"):
        FrameSource(str(memo))
    import wave

    with wave.open(str(tmp_path / "memo.wav"), "wb") as wav:
        wav.setnchannels(1), wav.setsampwidth(2), wav.setframerate(8000), wav.writeframes(b"\0" * 1600)
    with pytest.raises(VideoError, match=r"memo.wav: a sound file \(.wav\), no pictures: not a video"):
        FrameSource(str(tmp_path / "memo.wav"))
    whole, cut = tmp_path / "whole.mp4", tmp_path / "cut.mp4"
    sink = VideoSink(whole, 10, (64, 48))
    for i in range(10):
        sink.write(np.full((48, 64, 3), 20 * i, np.uint8))
    assert sink.close()
    data = whole.read_bytes()
    ftyp, moov = struct.unpack(">I", data[:4])[0], data.index(b"moov") - 4
    web = data[:ftyp] + data[moov:] + data[ftyp:moov]  # the index first, as -movflags +faststart puts it
    # OpenCV writes the index last: cut in the pictures, then in the index; a web download's is cut in its index
    # (it was "not a readable video (corrupt, truncated, no frames, or unsupported format)")
    for cut_data in (data[:len(data) // 4], data[:len(data) // 2], web[:ftyp + (len(data) - moov) // 2]):
        cut.write_bytes(cut_data)
        with pytest.raises(VideoError, match="cut.mp4: an MP4 without its index .*: a recording or download cut"):
            FrameSource(str(cut))


def test_a_web_page_or_an_mp3_saved_as_a_video_says_what_it_is(tmp_path, capfd):
    """`curl -o clip.mp4 URL` of a link that needs a sign-in or has expired keeps the server's HTML page, and an
    .mp3 renamed .mp4 has no name to tell it by: both were "not a readable video (corrupt, truncated, no frames,
    or unsupported format)", which sent users to codecs and truncation."""
    page, song = tmp_path / "clip.mp4", tmp_path / "talk.mp4"
    page.write_bytes(b"\xef\xbb\xbf\n<!DOCTYPE html>\n<html><head><title>403 Forbidden</title></head></html>\n")
    song.write_bytes(b"ID3\x03\0\0\0\0\0\0" + (b"\xff\xfb\x90\x00" + b"\0" * 413) * 10)
    with pytest.raises(VideoError, match=r"clip.mp4: a web page \(HTML\), not a video: the download got the server's"):
        FrameSource(str(page))
    with pytest.raises(VideoError, match=r"talk.mp4: a sound file \(MP3\), no pictures: not a video"):
        FrameSource(str(song))
    piped = subprocess.run([sys.executable, str(ROOT / "detect_mask_video.py"), "--source", "-", "--no-display",
                            "--csv", str(tmp_path / "faces.csv")], input=page.read_bytes(), capture_output=True,
                           timeout=120, cwd=ROOT)
    assert piped.returncode == 2 and one_error_line(piped.stderr.decode()).startswith(
        "[ERROR] -: a web page (HTML), not a video")
    assert sorted(tmp_path.iterdir()) == sorted([page, song])


def test_a_song_or_podcast_with_cover_art_is_a_sound_file_not_a_one_frame_video(tmp_path, media, capfd):
    """An .mp3 with its cover art (an ID3 APIC picture) and a podcast's sound-only .mp4 with one (iTunes' covr),
    which FFmpeg gives as a video of that one picture at 90000 fps: read as that frame, then "[ERROR] ... video
    ends at frame 1 of 93825 (truncated or corrupt)", exit 2, its CSV and video written of the cover's face."""
    def box(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I4s", 8 + len(body), kind) + body

    jpeg = (media / "obama-240p.jpg").read_bytes()
    apic = b"\0image/jpeg\0\x03\0" + jpeg  # latin-1 text, its type, the front cover (3), no description
    frame = b"APIC" + struct.pack(">I", len(apic)) + b"\0\0" + apic
    tag = b"ID3\x03\0\0" + bytes((len(frame) >> shift) & 127 for shift in (21, 14, 7, 0)) + frame
    song = tmp_path / "song.mp3"
    song.write_bytes(tag + (b"\xff\xfb\x90\x00" + b"\0" * 413) * 40)  # 1 s of silent 128 kb/s MPEG-1 layer III
    covr = box(b"meta", b"\0" * 4 + box(b"hdlr", b"\0" * 8 + b"mdirappl" + b"\0" * 9)
               + box(b"ilst", box(b"covr", box(b"data", struct.pack(">II", 13, 0) + jpeg))))
    podcast = tmp_path / "podcast.mp4"
    podcast.write_bytes(box(b"ftyp", b"M4A \0\0\0\0isom") + box(b"moov", box(b"mvhd", b"\0" * 12 + struct.pack(
        ">II", 1000, 0) + b"\0" * 80) + box(b"trak", box(b"mdia", box(b"hdlr", b"\0" * 8 + b"soun" + b"\0" * 13)))
        + box(b"udta", covr)) + box(b"mdat", b"\0" * 64))
    for path in (song, podcast):
        assert cv2.VideoCapture(str(path)).read()[0], f"FFmpeg no longer reads {path.name}'s cover as a frame"
        with pytest.raises(VideoError, match=f"{path.name}: sound only, its one picture the cover art: not a video"):
            FrameSource(str(path))
    table = tmp_path / "faces.csv"
    assert _run(capfd, "--source", song, "--no-display", "--csv", table) == (
        2, f"[ERROR] {song}: sound only, its one picture the cover art: not a video")
    piped = subprocess.run([sys.executable, str(ROOT / "detect_mask_video.py"), "--source", "-", "--no-display",
                            "--csv", str(table)], input=song.read_bytes(), capture_output=True, timeout=120, cwd=ROOT)
    assert piped.returncode == 2 and one_error_line(piped.stderr.decode()) == (
        "[ERROR] -: sound only, its one picture the cover art: not a video")  # no name: its ID3 tag says it
    assert sorted(tmp_path.iterdir()) == sorted([podcast, song])  # no CSV, no temp file


def test_video_that_breaks_midway_keeps_what_was_written(tmp_path, clip, mask_model, capfd):
    # An AVI cut in half still opens (its header says 40 frames) and then stops early.
    full = _cut_of(tmp_path / "full.avi", clip, 40, "MJPG")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    out, table = tmp_path / "out.mp4", tmp_path / "faces.csv"
    code, line = _run(capfd, "--source", cut, "--model", mask_model, "--no-display", "--output", out, "--csv", table)
    assert code == 2 and "truncated" in line
    n, size = video_info(out)
    assert 5 < n < 40 and size == CLIP_SIZE
    assert read_csv(table) and max(int(r["frame"]) for r in read_csv(table)) < n


def _ebml(element: int, body: bytes) -> bytes:
    return element.to_bytes((element.bit_length() + 7) // 8, "big") + b"\x01" + len(body).to_bytes(7, "big") + body


def _mjpeg_mkv(path: Path, frames: int, start_ms: int, duration_ms: int) -> None:
    """A Matroska file of `frames` 64x48 MJPEG pictures 100 ms apart from start_ms, its Duration duration_ms
    counted from 0, as FFmpeg writes a clip cut from a recording (OpenCV's writer starts every file at 0)."""
    def uint(element: int, value: int, size: int = 4) -> bytes:
        return _ebml(element, value.to_bytes(size, "big"))

    header = _ebml(0x1A45DFA3, _ebml(0x4282, b"matroska") + uint(0x4287, 4, 1) + uint(0x4285, 2, 1))
    info = _ebml(0x1549A966, uint(0x2AD7B1, 1000000) + _ebml(0x4489, struct.pack(">d", duration_ms)))
    track = _ebml(0xAE, uint(0xD7, 1, 1) + uint(0x73C5, 1, 1) + uint(0x83, 1, 1) + _ebml(0x86, b"V_MJPEG")
                  + uint(0x23E383, 100_000_000) + _ebml(0xE0, uint(0xB0, 64, 2) + uint(0xBA, 48, 2)))
    blocks = b"".join(_ebml(0xA3, b"\x81" + struct.pack(">h", 100 * i) + b"\x80"
                            + cv2.imencode(".jpg", np.full((48, 64, 3), 20 * i, np.uint8))[1].tobytes())
                      for i in range(frames))
    cluster = _ebml(0x1F43B675, uint(0xE7, start_ms) + blocks)
    path.write_bytes(header + _ebml(0x18538067, info + _ebml(0x1654AE6B, track) + cluster))


def test_a_matroska_clip_whose_pictures_start_late_is_read_whole(tmp_path):
    """A WebM / MKV cut from a recording (pictures from 0.83 s on) gave 65 of the "90" frames OpenCV counts from
    its duration, and was "truncated or corrupt", exit 2; one cut short mid-download still is."""
    whole, cut = tmp_path / "whole.mkv", tmp_path / "cut.mkv"
    _mjpeg_mkv(whole, 10, start_ms=1000, duration_ms=2000)  # frames 10-19 of a count of 20
    _mjpeg_mkv(cut, 5, start_ms=1000, duration_ms=2000)  # frames 10-14 of it: the rest never came
    with FrameSource(str(whole)) as source:
        assert source.frame_count == 20
        assert sum(1 for _ in iter(source.read, None)) == 10
    with FrameSource(str(cut)) as source, pytest.raises(VideoError, match="ends at frame 5 of 20"):
        while source.read() is not None:
            pass


def test_an_mp4_cut_without_re_encoding_is_read_whole(tmp_path):
    """A clip cut with `ffmpeg -ss 2.5 -i long.mp4 -c copy` counts the lead-in pictures from the keyframe before
    2.5 s, which its edit list hides: 60 of its "110" decoded, and it was "video ends at frame 60 of 110 (truncated
    or corrupt)", exit 2, every row of it dropped in facekit-batch. Times are its shown ones, from 0; the same clip
    cut short mid-download still ends in that error."""
    whole, cut = tmp_path / "whole.mp4", tmp_path / "cut.mp4"
    mp4_cut_by_copy(whole, 20, hidden=8)  # frames 8-19 of a count of 20 shown
    with FrameSource(str(whole)) as source:
        assert source.frame_count == 20
        read = [(index, frame, source.time_s(index)) for index, frame in iter(source.read, None)]
    assert [index for index, *_ in read] == list(range(12)) and abs(read[0][1].mean() - 80) < 8
    assert [round(t, 3) for *_, t in read] == [i / 10 for i in range(12)]
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 9 // 10])
    # Said against what it shows: "frame 56 of 110" was said of a clip that showed 60.
    shown = r"cut.mp4: video ends at frame \d+, \d\.\d\d s into the 1\.20 s it shows \(truncated or corrupt\)$"
    with FrameSource(str(cut)) as source, pytest.raises(VideoError, match=shown):
        while source.read() is not None:
            pass


def test_the_progress_bar_counts_the_frames_a_cut_clip_shows(tmp_path, mask_model, capfd, monkeypatch):
    """A clip cut with `ffmpeg -ss 2.5 -i long.mp4 -c copy` was read whole, but the script's bar counted its header's
    frames, lead-in and all: it ended at "224/275" of the 225 it shows. So did a Matroska clip whose pictures start
    late (cut with -ss after -i: "215/225")."""
    import io

    from tqdm import tqdm

    import facekit.cli.video as video_cli

    bars = []

    def drawn(**options):  # the bar as a terminal gets it
        bars.append(tqdm(file=io.StringIO(), **options))
        return bars[-1]

    monkeypatch.setattr(video_cli, "progress_bar", drawn)
    mp4_cut_by_copy(tmp_path / "cut.mp4", 20, hidden=8)
    _mjpeg_mkv(tmp_path / "late.mkv", 10, start_ms=1000, duration_ms=2000)
    for name, shown in (("cut.mp4", 12), ("late.mkv", 10)):
        with FrameSource(str(tmp_path / name)) as source:
            assert source.frame_count == 20 and source.frames_shown == shown
        assert main(["--source", str(tmp_path / name), "--model", str(mask_model), "--no-display"]) == 0
        assert (bars[-1].n, bars[-1].total) == (shown, shown), name
        assert f"[INFO] {shown} frames," in capfd.readouterr().out


@pytest.mark.parametrize("options, frames", [
    (["--every", "5"], CLIP_FRAMES),  # its last analysed frame is 270: "271/275"
    (["--every", "5", "--max-frames", "10"], 46),  # stops at frame 45: "46/50"
    (["--every", "7", "--start", "2", "--end", "4"], 60),  # frames 60 to 119: "57/60"
])
def test_the_progress_bar_ends_full_with_every_max_frames_and_a_range(clip, mask_model, monkeypatch, options, frames):
    """The bar counts the file's frames up to the last analysed one: with --every M the frames read after it, to
    the file's or the range's end, were never counted, and --max-frames N took N x M for the total."""
    import io

    from tqdm import tqdm

    import facekit.cli.video as video_cli

    bars = []

    def drawn(**options):  # the bar as a terminal gets it
        bars.append(tqdm(file=io.StringIO(), **options))
        return bars[-1]

    monkeypatch.setattr(video_cli, "progress_bar", drawn)
    assert main(["--source", str(clip), "--model", str(mask_model), "--tasks", "mask", "--no-display",
                 "--detect-every", "3", *options]) == 0
    assert (bars[-1].n, bars[-1].total) == (frames, frames)


def test_a_files_frames_that_do_not_decode_are_skipped_and_the_rest_keep_their_numbers(tmp_path, clip, mask_model,
                                                                                      capfd):
    """Frames whose data is damaged (a bad sector, a broken copy: here four JPEGs of an MJPEG AVI without their
    headers) fail their reads, and the next read gets the next frame, as ffmpeg goes on past them. The first was
    taken for the file's end: "video ends at frame 20 of 60 (truncated or corrupt)", exit 2, the 36 good frames after
    it lost, and a range's seek past them found nothing. They are skipped with one [WARN] line, and every other frame
    keeps its number and time."""
    whole, damaged = _cut_of(tmp_path / "whole.avi", clip, 60, "MJPG", 29.97), tmp_path / "damaged.avi"
    data = bytearray(whole.read_bytes())
    starts = [m.start() for m in re.finditer(b"\xff\xd8", bytes(data))]
    assert len(starts) == 60
    lost = {20, 21, 22, 40}
    for k in lost:
        data[starts[k]:starts[k] + 400] = bytes(400)
    damaged.write_bytes(bytes(data))
    read = {}
    for path in (whole, damaged):
        with FrameSource(str(path)) as source:
            read[path] = {index: source.time_s(index) for index, _ in iter(source.read, None)}
    assert sorted(read[whole]) == list(range(60)) and sorted(read[damaged]) == sorted(set(range(60)) - lost)
    assert all(read[damaged][n] == pytest.approx(read[whole][n], abs=1e-6) for n in read[damaged])
    # A time range read on from before them: its seek reads forward from the file's start.
    with FrameSource(str(damaged), start_s=read[whole][30] - 1e-3, end_s=read[whole][45] - 1e-3) as source:
        assert [index for index, _ in iter(source.read, None)] == [n for n in range(30, 45) if n not in lost]
    table = tmp_path / "faces.csv"
    assert main(["--source", str(damaged), "--model", str(mask_model), "--tasks", "mask", "--no-display",
                 "--csv", str(table)]) == 0
    err = capfd.readouterr().err
    assert [line for line in err.splitlines() if line.startswith(("[WARN]", "[ERROR]"))] == [
        f"[WARN] {damaged}: 4 frames did not decode (damaged), skipped; the others keep their numbers and times"]
    rows = read_csv(table)
    assert {int(r["frame"]) for r in rows} <= set(read[damaged]) and max(int(r["frame"]) for r in rows) >= 55
    assert all(float(r["time_s"]) == pytest.approx(read[whole][int(r["frame"])], abs=1e-3) for r in rows)


def test_an_mpeg_ts_that_lost_packets_keeps_its_frames_numbers(tmp_path, clip):
    """Two stretches of an MPEG-TS garbled (60 packets each, as a broadcast recording's dropouts): their frames never
    reach the decoder, so no read fails, and every frame after them was numbered 4, then 8, short of the same frame
    in the intact file, and of the number a time range gives it. The lost frames are told by their timestamps."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg")
    whole, damaged = tmp_path / "whole.ts", tmp_path / "damaged.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-c", "copy", str(whole)], check=True)
    data = bytearray(whole.read_bytes())
    packets, noise = len(data) // 188, np.random.default_rng(1)
    for start in (packets * 2 // 5, packets * 3 // 5):
        for k in range(start, start + 60):
            data[188 * k + 4:188 * k + 188] = noise.integers(0, 256, 184, dtype=np.uint8).tobytes()
    damaged.write_bytes(bytes(data))
    read = {}
    for path in (whole, damaged):
        with FrameSource(str(path)) as source:
            read[path] = {index: source.time_s(index) for index, _ in iter(source.read, None)}
            lost = source.undecodable
    assert sorted(read[whole]) == list(range(CLIP_FRAMES))
    missing = set(read[whole]) - set(read[damaged])
    assert 2 <= len(missing) == lost and max(read[damaged]) == CLIP_FRAMES - 1
    assert all(read[damaged][n] == pytest.approx(read[whole][n], abs=1e-3) for n in read[damaged])
    after = min(n for n in read[damaged] if n > max(missing))
    with FrameSource(str(damaged), start_s=read[whole][after] - 1e-3) as source:
        assert source.read()[0] == after


def test_a_file_read_as_live_ends_without_an_error_on_its_reader_thread(tmp_path, monkeypatch):
    """FrameSource(file, live=True) keeps no timestamps: at the end of a Matroska clip read short of its count its
    reader thread died of an AttributeError (the last frame's timestamp was never kept), and read() then ended
    as at a whole file's end. Without timestamps the count is all there is to go by: "truncated", as before."""
    failed = []
    monkeypatch.setattr(threading, "excepthook", failed.append)
    _mjpeg_mkv(tmp_path / "whole.mkv", 10, start_ms=1000, duration_ms=2000)
    with FrameSource(str(tmp_path / "whole.mkv"), live=True) as source, pytest.raises(VideoError, match="of 20"):
        while source.read(timeout=5) is not None:
            pass
    assert failed == []


def test_a_matroska_clip_whose_pictures_start_late_is_read_whole_over_http(tmp_path):
    """The same clip on a web server: "video ends at frame 10 of 20 (truncated or corrupt)", exit 2. Its progress bar
    counts the 10 it shows, told by its head as a local file's are (it ran to 10/20)."""
    import functools
    import http.server

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    _mjpeg_mkv(tmp_path / "whole.webm", 10, start_ms=1000, duration_ms=2000)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with FrameSource(f"http://127.0.0.1:{server.server_address[1]}/whole.webm") as source:
            assert not source.live and source.frame_count == 20 and source.frames_shown == 10
            assert sum(1 for _ in iter(source.read, None)) == 10
    finally:
        server.shutdown()
        server.server_close()


def test_an_mp4_cut_without_re_encoding_is_read_whole_over_http(tmp_path, monkeypatch):
    """The clip cut with -c copy on a web server: "video ends at frame 12 of 20 (truncated or corrupt)", its index
    read first (-movflags +faststart) or past its pictures (a server that answers range requests); the same clip
    cut short mid-download still is."""
    import functools
    import http.server

    class Ranges(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):  # http.server ignores Range; nginx or Apache answer it, as a file with its index last needs
            start = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
            if start is None:
                return super().do_GET()
            data = (tmp_path / self.path.lstrip("/")).read_bytes()
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start[1]}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - int(start[1])))
            self.end_headers()
            self.wfile.write(data[int(start[1]):])

        def log_message(self, *args):
            pass

    import facekit.video

    monkeypatch.setattr(facekit.video, "SERVED_SKIP_BYTES", 0)  # these pictures are as big as a long clip's
    mp4_cut_by_copy(tmp_path / "first.mp4", 20, hidden=8)
    mp4_cut_by_copy(tmp_path / "last.mp4", 20, hidden=8, faststart=False)
    whole = (tmp_path / "first.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(whole[: len(whole) * 9 // 10])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Ranges, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        for name in ("first.mp4", "last.mp4"):
            with FrameSource(f"{url}/{name}") as source:
                assert not source.live and source.frame_count == 20
                assert sum(1 for _ in iter(source.read, None)) == 12
        with FrameSource(f"{url}/cut.mp4") as source, pytest.raises(VideoError, match="s into the 1.20 s it shows"):
            while source.read() is not None:
                pass
    finally:
        server.shutdown()
        server.server_close()


def test_frames_of_changing_size(tmp_path, clip, mask_model, capfd):
    cap = cv2.VideoCapture(str(clip))
    for i in range(10):
        frame = cap.read()[1]
        cv2.imwrite(str(tmp_path / f"f_{i:03d}.png"), frame if i < 6 else cv2.resize(frame, (320, 180)))
    out = tmp_path / "out.mp4"
    code, line = _run(capfd, "--source", tmp_path / "f_%03d.png", "--model", mask_model, "--no-display",
                      "--output", out)
    assert code == 2 and "changing size" in line
    assert video_info(out) == (6, CLIP_SIZE)


@pytest.mark.parametrize("codec", [["libx264"], ["libx265", "-x265-params", "log-level=none"]])
def test_a_file_whose_size_changes_mid_stream_keeps_its_pictures_shape(tmp_path, clip, mask_model, capfd, codec):
    """A recording whose size changes (a live stream saved as it switched quality; pieces joined with ffmpeg -f
    concat -c copy), H.264 or H.265: OpenCV stretches every frame to the first one's size, so a 4:3 part after a 16:9
    one had its faces a third too wide, in the picture, the boxes and --output. Its frames are fitted in with black
    bars, their shape kept, and one [WARN] line says so."""
    if shutil.which("ffmpeg") is None or codec[0] not in subprocess.run(["ffmpeg", "-hide_banner", "-encoders"],
                                                                       capture_output=True, text=True).stdout:
        pytest.skip(f"needs ffmpeg with {codec[0]}")
    wide, square, joined = tmp_path / "wide.ts", tmp_path / "square.ts", tmp_path / "joined.ts"
    encode = ["-an", "-frames:v", "30", "-c:v", *codec, "-pix_fmt", "yuv420p"]
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), *encode, str(wide)], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-ss", "3", "-i", str(clip), "-vf", "crop=480:360,scale=960:720",
                    *encode, str(square)], check=True)
    (tmp_path / "list.txt").write_text(f"file '{wide}'\nfile '{square}'\n")
    subprocess.run(["ffmpeg", "-v", "error", "-f", "concat", "-safe", "0", "-i", str(tmp_path / "list.txt"),
                    "-c", "copy", str(joined)], check=True)
    cap = cv2.VideoCapture(str(square))
    truth = cv2.resize(cap.read()[1], (480, 360), interpolation=cv2.INTER_AREA)  # its first picture, as fitted
    cap.release()
    with FrameSource(str(joined)) as source:
        frames = dict(iter(source.read, None))
    assert sorted(frames) == list(range(60)) and {f.shape for f in frames.values()} == {(360, 640, 3)}
    assert frames[29][:, :78].max() > 60  # the 16:9 part fills its frames
    fitted = frames[30]
    assert fitted[:, :78].max() < 20 and fitted[:, -78:].max() < 20  # the 4:3 part: bars left and right
    # Packets lost in the 16:9 part (a dropout) are frames without packets: the bars still start at frame 30.
    data, noise, first = bytearray(joined.read_bytes()), np.random.default_rng(3), wide.stat().st_size // 188
    for k in range(first // 3, first // 3 + first // 5):
        data[188 * k + 4:188 * k + 188] = noise.integers(0, 256, 184, dtype=np.uint8).tobytes()
    (tmp_path / "dropout.ts").write_bytes(bytes(data))
    with FrameSource(str(tmp_path / "dropout.ts")) as source:
        barred = [index for index, frame in iter(source.read, None) if frame[:, :78].max() < 20]
        assert source.undecodable > 0 and barred == list(range(30, 60))
    assert np.abs(fitted[:, 80:560].astype(int) - truth).mean() < 6  # and its picture unstretched between them
    table = tmp_path / "faces.csv"
    assert main(["--source", str(joined), "--model", str(mask_model), "--tasks", "mask", "--no-display",
                 "--csv", str(table)]) == 0
    assert [line for line in capfd.readouterr().err.splitlines() if line.startswith(("[WARN]", "[ERROR]"))] == [
        f"[WARN] {joined}: frames from 30 on are 960x720 (the video changes size); fitted into the first frames' "
        "640x360, their shape kept (boxes are in those pixels)"]
    # Its boxes are where a run puts them on the 4:3 part letterboxed by ffmpeg.
    padded = tmp_path / "padded.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(square), "-vf", "scale=480:360,pad=640:360:80:0", *encode,
                    str(padded)], check=True)
    assert main(["--source", str(padded), "--model", str(mask_model), "--tasks", "mask", "--no-display",
                 "--csv", str(tmp_path / "padded.csv")]) == 0
    own: dict[int, list[Box]] = {}
    for r in read_csv(tmp_path / "padded.csv"):
        own.setdefault(int(r["frame"]) + 30, []).append(Box(*(int(r[k]) for k in ("x1", "y1", "x2", "y2"))))
    overlaps = [max((Box(*(int(r[k]) for k in ("x1", "y1", "x2", "y2"))).iou(b) for b in own.get(int(r["frame"]), [])),
                    default=0.0) for r in read_csv(table) if int(r["frame"]) >= 30]
    assert len(overlaps) >= 30 and np.median(overlaps) > 0.8, overlaps


def test_a_time_range_of_a_file_whose_size_changes_is_fitted_from_its_keyframe(tmp_path, clip):
    """A time range's start is sought in the packets read for the frames' sizes too, where they were read from the
    file's start (a 2.7-hour MP4's --start 9000 opened in 2.9 s, not 0.2 s), and were numbered by their count: an MP4
    with a 2 s hole in its clock before its 4:3 part reports 20 fps for its 30, so FrameSource numbers the frames
    after a seek by time x 20 while the count ran ahead, and from --start 1.5 the 4:3 part's first 15 frames were
    stretched (bars from frame 60, where it starts at 45)."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg")
    wide, square, joined = tmp_path / "wide.ts", tmp_path / "square.ts", tmp_path / "joined.mp4"
    encode = ["-an", "-frames:v", "60", "-c:v", "libx264", "-pix_fmt", "yuv420p"]
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), *encode, str(wide)], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-ss", "3", "-i", str(clip), "-vf", "crop=480:360,scale=960:720",
                    *encode, str(square)], check=True)
    (tmp_path / "list.txt").write_text(f"file '{wide}'\nduration 4\nfile '{square}'\n")
    subprocess.run(["ffmpeg", "-v", "error", "-f", "concat", "-safe", "0", "-i", str(tmp_path / "list.txt"),
                    "-c", "copy", str(joined)], check=True)

    def barred(start_s: float) -> tuple[list[int], list[int]]:
        with FrameSource(str(joined), start_s=start_s) as source:
            frames = dict(iter(source.read, None))
        return sorted(frames), [index for index, frame in frames.items() if frame[:, :78].max() < 20]

    read, fitted = barred(1.5)  # before the change: the 16:9 frames 30-44 (1.5 s to 2 s, at 20 fps), then 4:3
    assert read == list(range(30, 105)) and fitted == list(range(45, 105))
    read, fitted = barred(4.5)  # after it: its keyframe at 4 s is before the range
    assert read == list(range(90, 135)) and fitted == read


def test_camera_that_does_not_exist(mask_model, capfd):
    index = next(i for i in range(9, 64) if not os.path.exists(f"/dev/video{i}"))
    code, line = _run(capfd, "--source", index, "--model", mask_model, "--no-display")
    assert code == 2 and f"camera {index}" in line


def test_camera_minus_one_says_cameras_start_at_0(mask_model, capfd, tmp_path, monkeypatch):
    """-1, OpenCV's "any camera" in examples on the web, was "[ERROR] -1: no such file" alone: it read as a file."""
    monkeypatch.chdir(tmp_path)  # no file named -1 here
    code, line = _run(capfd, "--source", "-1", "--model", mask_model, "--no-display")
    assert code == 2 and line == "[ERROR] -1: no such file (cameras are numbered from 0)"


def test_a_missing_video_is_named_before_the_models_load(tmp_path):
    """A missing video, or a folder without one, was named only after ~1 s of "loading face detector model..."
    and the default detector's non-commercial licence line."""
    from facekit.batch import VIDEO_EXTENSIONS

    looked = ", ".join(sorted(VIDEO_EXTENSIONS))
    for source, line in ((tmp_path / "clip.mp4", f"{tmp_path / 'clip.mp4'}: no such file"),
                         (tmp_path, f"no videos found in {tmp_path} (looked for {looked})")):
        res = run_script("detect_mask_video.py", "--source", source, "--no-display")
        assert res.returncode == 2 and res.stderr.strip().splitlines()[-1] == f"[ERROR] {line}", res.stderr
        assert "loading" not in res.stdout and "non-commercial" not in res.stdout + res.stderr, res.stdout


def test_stream_that_does_not_answer_times_out(mask_model, capfd):
    started = time.monotonic()
    code, line = _run(capfd, "--source", "rtsp://127.0.0.1:9/none", "--model", mask_model, "--no-display")
    assert code == 2 and "rtsp://127.0.0.1:9/none" in line
    assert time.monotonic() - started < 20


class _MJPEGFeed:
    """An IP camera's MJPEG feed on localhost: `per_connection` frames of the clip a connection, then the
    connection drops (a Wi-Fi hiccup, a camera restart); past `max_connections` the camera is gone (404)."""

    def __init__(self, clip: Path, per_connection: int, max_connections: int | None = None,
                 corrupt_every: int | None = None, size_after_first: tuple[int, int] | None = None,
                 stall_s: float = 0.0):
        """corrupt_every K: every K-th frame's JPEG is noise of its size (it does not decode).
        size_after_first (w, h): the connections after the first send frames of that size.
        stall_s: the first connection, its frames sent, stays open that long without a byte (a camera that hangs)."""
        import http.server

        frames = []
        cap = cv2.VideoCapture(str(clip))
        noise = np.random.default_rng(0)
        while len(frames) < per_connection:
            ok, frame = cap.read()
            if not ok:
                break
            jpg = cv2.imencode(".jpg", frame)[1].tobytes()
            if corrupt_every and len(frames) % corrupt_every == corrupt_every - 1:
                jpg = noise.integers(0, 256, len(jpg), dtype=np.uint8).tobytes()
            frames.append(jpg)
        cap.release()
        later = frames
        if size_after_first is not None:
            later = [cv2.imencode(".jpg", cv2.resize(cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR),
                                                     size_after_first))[1].tobytes() for jpg in frames]
        self.connections = 0
        feed = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                feed.connections += 1
                if max_connections is not None and feed.connections > max_connections:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    for jpg in (frames if feed.connections == 1 else later):
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                         + str(len(jpg)).encode() + b"\r\n\r\n" + jpg + b"\r\n")
                        time.sleep(1 / 60)
                    if feed.connections == 1:
                        time.sleep(stall_s)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/video.mjpg"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_video_file_served_over_http_is_read_as_a_file_every_frame(clip, mask_model, tmp_path):
    """A video file on a web server (it has a frame count) was read as a live stream: the newest frame each
    time, 2 of its 60 analysed, with a camera's clock column. (30 frames here: as many as show it.)"""
    import functools
    import http.server

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    table = tmp_path / "f.csv"
    _cut_of(tmp_path / "clip.avi", clip, 30, "MJPG")  # served below
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/clip.avi"
        assert main(["--source", url, "--model", str(mask_model), "--no-display", "--csv", str(table)]) == 0
    finally:
        server.shutdown()
        server.server_close()
    rows = read_csv(table)
    assert {r["frame"] for r in rows} == {str(i) for i in range(30)} and "clock" not in rows[0]


def test_an_mpeg_ts_that_gives_fewer_frames_than_its_count_is_not_called_truncated(tmp_path):
    """A camcorder's .mts or a TV recording's .ts whose sound starts 0.86 s before its pictures: OpenCV counts
    "91" frames over every stream's timestamps, the file holds 65, and it was "truncated or corrupt", exit 2. A TS
    has no count of its own (a cut one is a shorter TS): the count stands in here for the one the sound made."""
    video = tmp_path / "recording.ts"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for i in range(20):
        writer.write(np.full((48, 64, 3), 10 * i, np.uint8))
    writer.release()
    with FrameSource(str(video)) as source:  # its reader waits on a full queue of 8 frames meanwhile
        assert source.frame_count == 20
        source.frame_count = 30
        assert sum(1 for _ in iter(source.read, None)) == 20


def test_a_piece_of_an_mpeg_ts_split_by_size_is_not_called_truncated(tmp_path):
    """A long recording split by size (split -b 1G, for a FAT32 card) gives pieces that start mid-packet: taken for no
    TS at all (its sync bytes looked for from byte 0 only), the hamilton clip's piece from 30% of its bytes on gave
    65 frames of "72" and was "truncated or corrupt", exit 2, where the same piece cut at a packet's start was read
    whole. As above, the count stands in for the one the sound made."""
    whole = tmp_path / "recording.ts"
    writer = cv2.VideoWriter(str(whole), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for i in range(40):
        writer.write(np.random.default_rng(i).integers(0, 256, (48, 64, 3), dtype=np.uint8))
    writer.release()
    data = whole.read_bytes()
    piece = tmp_path / "recording.ts.001"
    piece.write_bytes(data[len(data) * 3 // 10 // 188 * 188 + 61:])  # 61 bytes into a packet
    with FrameSource(str(piece)) as source:
        read = source.frame_count
        assert 20 < read < 40
        source.frame_count = read + 10
        assert sum(1 for _ in iter(source.read, None)) == read


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg")
@pytest.mark.parametrize("name, m2ts", [("recording.ts", False), ("00001.m2ts", True)], ids=["ts", "m2ts"])
def test_a_recording_whose_sound_starts_first_is_read_whole_in_188_or_192_byte_packets(tmp_path, clip, name, m2ts):
    """The hamilton clip's first 3 s as a TV recording (.ts) and as a camcorder writes it (.m2ts: 192-byte packets,
    a 4-byte time before each sync byte): its sound starts 0.84 s before its pictures, OpenCV counts "90" frames
    and reads 65. Both are read to their end without "truncated or corrupt"."""
    video = tmp_path / name
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-t", "3", "-c", "copy", "-f", "mpegts",
                    *(["-mpegts_m2ts_mode", "1"] if m2ts else []), str(video)], check=True)
    head = video.read_bytes()[:1024]
    step, first = (192, 4) if m2ts else (188, 0)
    assert all(head[first + step * k] == 0x47 for k in range(4))  # the sync bytes where each packet size puts them
    with FrameSource(str(video)) as source:
        count = source.frame_count
        read = sum(1 for _ in iter(source.read, None))
    assert 50 < read < 80 and count >= read + 15, (read, count)


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg")
def test_an_avi_that_counts_the_frames_its_variable_rate_dropped_is_read_whole(tmp_path, clip):
    """An AVI counts the frames a variable rate dropped (an empty chunk each, as ffmpeg -fps_mode passthrough and
    screen recorders write them): every third picture of the hamilton clip's first 2 s is 12 pictures of a count of
    59, read to the end without "truncated or corrupt"; half of the file still is."""
    video, half = tmp_path / "every_third.avi", tmp_path / "half.avi"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-t", "2", "-an", "-vf", r"select=not(mod(n\,3))",
                    "-fps_mode", "passthrough", "-c:v", "mjpeg", str(video)], check=True)
    with FrameSource(str(video)) as source:
        count = source.frame_count
        frames = [index for index, _ in iter(source.read, None)]
    assert len(frames) >= 10 and count >= 3 * len(frames) and frames == list(range(len(frames))), (count, frames)
    half.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    with FrameSource(str(half)) as source, pytest.raises(VideoError, match="truncated or corrupt"):
        for _ in iter(source.read, None):
            pass


def test_an_mpeg_ts_file_on_a_web_server_ends_at_its_end(tmp_path):
    """A .ts recording on a web server has no frame count: it was taken for a live feed, read at its newest frame,
    and at its end opened again and again, for ever (the file replayed with a [WARN] line each time)."""
    import functools
    import http.server

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    writer = cv2.VideoWriter(str(tmp_path / "recording.ts"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for i in range(20):
        writer.write(np.full((48, 64, 3), 10 * i, np.uint8))
    writer.release()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with FrameSource(f"http://127.0.0.1:{server.server_address[1]}/recording.ts") as source:
            assert source.frame_count is None and not source.live
            frames = [item[0] for item in iter(lambda: source.read(timeout=10), None)]
    finally:
        server.shutdown()
        server.server_close()
    assert frames == list(range(20))


def test_an_mp4_on_a_server_that_cannot_seek_says_so(tmp_path):
    """An MP4 whose index is at its end (as OpenCV and most cameras write one) served by python -m http.server,
    which ignores range requests: "no frames (empty, corrupt or truncated video)" of a good file."""
    import functools
    import http.server

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    sink = VideoSink(tmp_path / "clip.mp4", 10, (320, 240))
    noise = np.random.default_rng(0)
    for _ in range(10):  # noise: past FFmpeg's read buffer, where a seek back within it needs no server
        sink.write(noise.integers(0, 256, (240, 320, 3), dtype=np.uint8))
    assert sink.close()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(VideoError, match="needs a server that answers range requests"):
            FrameSource(f"http://127.0.0.1:{server.server_address[1]}/clip.mp4")
    finally:
        server.shutdown()
        server.server_close()


def test_a_live_stream_that_drops_is_opened_again(clip, mask_model, tmp_path, capfd):
    """An IP camera's feed drops every 25 frames: the run opens it again, says so, and goes on to the
    frames asked for. Before, the first drop ended the run as if the video were over, with exit 0."""
    feed = _MJPEGFeed(clip, per_connection=25)
    try:
        out = tmp_path / "faces.csv"
        code = main(["--source", feed.url, "--model", str(mask_model), "--no-display", "--max-frames", "60",
                     "--csv", str(out)])
    finally:
        feed.stop()
    err = capfd.readouterr().err
    assert code == 0, err
    assert "opening it again (try 1," in err and feed.connections >= 3
    # Each reopening says it is back, the first try's too (a log had "opening it again" lines and no word after).
    backs = len(re.findall(r": back after 1 try, \d+ s without frames", err))
    assert 1 <= backs and backs >= err.count("opening it again (try 1,") - 1, err  # the last may be cut by the end
    with open(out, newline="") as fh:
        frames = {int(r["frame"]) for r in csv.DictReader(fh)}
    assert max(frames) >= 50  # faces in frames well past the first connection's 25


def test_a_live_stream_that_does_not_come_back_is_one_error_line(clip, mask_model, tmp_path, capfd, monkeypatch):
    import facekit.video
    monkeypatch.setattr(facekit.video, "RECONNECT_WINDOW_S", 2.5)  # tries at +1 s and +3 s
    feed = _MJPEGFeed(clip, per_connection=20, max_connections=1)  # gone after its first 20 frames
    out = tmp_path / "faces.csv"
    try:
        code = main(["--source", feed.url, "--model", str(mask_model), "--no-display", "--csv", str(out)])
    finally:
        feed.stop()
    said = capfd.readouterr()
    line = one_error_line(said.err)
    assert code == 2 and "stopped after 20 frames received and did not come back (2 tries over 2.5 s)" in line, line
    assert feed.connections == 1 + 2
    assert out.is_file() and len(out.read_text().splitlines()) > 1  # what was seen is kept
    # The closing line's FPS leaves the outage out (it counted the whole wait: "0.1 FPS" after 5 minutes).
    closing = next(x for x in (said.out + said.err).splitlines() if " face detections, " in x)
    n, total, gone, fps = re.search(r"(\d+) frames, .* in ([\d.]+)s, ([\d.]+)s of it with the stream gone "
                                    r"\(([\d.]+) FPS\)", closing).groups()
    assert 2.4 <= float(gone) <= 4, closing
    # Counted in, the ~3 s outage would make it frames / total; left out, several times that (a floor of 5 FPS
    # failed on a loaded machine: 3 frames analysed in 0.8 s).
    assert float(fps) > 2 * int(n) / float(total), closing


def test_a_live_streams_frames_keep_their_own_arrival_time_when_the_loop_skips_some(clip):
    """A loop slower than the camera gets the newest frame and skips the rest; the n-th frame it gets (the
    n-th that track_faces yields) must be timed when that frame arrived. It was timed as the reader's n-th
    frame: on a 25 fps camera a 9 FPS loop's CSV said 7 s after 19 s, then jumped to the wall clock once
    the reader was 1,024 frames ahead (time_s, --summary, --timeline and --alert's 1 s all followed it)."""
    feed = _MJPEGFeed(clip, per_connection=275)  # 60 fps
    try:
        with FrameSource(feed.url) as source:
            reads, started = [], time.perf_counter()  # (read() called, returned, the frame's time), from _opened
            while time.perf_counter() - started < 1.5:
                called = time.perf_counter() - source._opened
                assert source.read() is not None
                reads.append((called, time.perf_counter() - source._opened, source.time_s(len(reads))))
                time.sleep(0.25)  # a 4 FPS loop
    finally:
        feed.stop()
    # The n-th frame came after the read before it began (that read took the newest frame there was) and before
    # its own read returned; the reader's n-th frame's time is n / 60 s. A bound on how late the frame was
    # (0.3 s) failed on a loaded machine, where the feed's thread fell behind (0.64 s): the frame was that old.
    assert len(reads) >= 4, reads
    assert all(reads[n - 1][0] - 0.05 <= time_s <= returned for n, (_, returned, time_s) in enumerate(reads) if n), [
        tuple(round(x, 3) for x in r) for r in reads]


def test_a_corrupt_frame_in_a_live_stream_is_skipped_not_taken_for_an_outage(clip):
    """An MJPEG camera that sends a frame that does not decode now and then: the connection is fine and the
    next frame reads. Each bad frame closed and reopened the stream, a second of frames and a [WARN] each."""
    feed = _MJPEGFeed(clip, per_connection=120, corrupt_every=10)
    said = []
    try:
        with FrameSource(feed.url, notify=said.append) as source:
            seen = 0
            while source.read(timeout=10) is not None and seen < 80:
                seen += 1
    finally:
        feed.stop()
    assert seen == 80 and feed.connections == 1 and not said, (seen, feed.connections, said)


def test_a_streams_password_is_never_printed(clip, mask_model, capfd):
    """An IP camera's URL carries its credentials (rtsp://admin:pw@cam/stream): the lines that named the stream
    (does not answer, opening it again, back) printed the password into logs, journald and cron mail."""
    code, line = _run(capfd, "--source", "rtsp://admin:hunter2@127.0.0.1:9/none", "--model", mask_model,
                      "--no-display")
    assert code == 2 and "rtsp://admin:***@127.0.0.1:9/none" in line and "hunter2" not in line, line
    feed = _MJPEGFeed(clip, per_connection=10)
    said = []
    try:
        with FrameSource(feed.url.replace("://", "://cam:s3cret@"), notify=said.append) as source:
            for _ in range(15):
                assert source.read(timeout=10) is not None
    finally:
        feed.stop()
    assert said and all("cam:***@" in x and "s3cret" not in x for x in said), said


def test_a_stream_on_a_port_nothing_listens_on_says_the_connection_was_refused(mask_model, capfd):
    """rtsp://127.0.0.1:1/x (a camera's stream switched off, a wrong port) said "does not answer (no connection
    within 5 s)" after a second: the connection was refused, and the line sent users to the network instead."""
    import socket

    with socket.socket() as held:  # a free port, closed again: nothing listens there
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
    code, line = _run(capfd, "--source", f"rtsp://127.0.0.1:{port}/live", "--model", mask_model, "--no-display")
    assert code == 2 and f"refused the connection: nothing listens on port {port} of 127.0.0.1" in line, line
    assert "within 5 s" not in line, line


def test_a_stream_the_server_refuses_says_its_http_status(clip, mask_model, capfd):
    """A camera that refused the credentials (401) or has no such path (404) was "does not answer (no connection
    within 5 s)", which sent users to check the network instead of the password or the address."""
    import http.server

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(401 if "cam" in self.path else 404)
            self.send_header("WWW-Authenticate", 'Basic realm="cam"')
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        code, line = _run(capfd, "--source", f"http://admin:bad@127.0.0.1:{port}/cam.mjpg", "--model", mask_model,
                          "--no-display")
        assert code == 2 and "answered HTTP 401 Unauthorized: the user name or password in the URL" in line, line
        assert "bad@" not in line, line
        code, line = _run(capfd, "--source", f"http://127.0.0.1:{port}/nothing", "--model", mask_model,
                          "--no-display")
        assert code == 2 and "answered HTTP 404 Not Found: no stream at that path" in line, line
        # A video file's link: it was "check the address in the camera's manual or web page" too.
        code, line = _run(capfd, "--source", f"http://127.0.0.1:{port}/talks/day1.mp4?sig=x", "--model",
                          mask_model, "--no-display")
        assert (code, line) == (2, f"[ERROR] stream http://127.0.0.1:{port}/talks/day1.mp4?sig=x answered HTTP 404 "
                                   "Not Found: no video file at that address: the link is wrong or has expired")
    finally:
        server.shutdown()
        server.server_close()


def test_a_stalled_streams_wait_for_the_time_out_counts_as_time_gone(clip, monkeypatch):
    """A stream that stalls (the connection open, no bytes) fails its read only at the read time-out: that wait
    was left out of the time "with the stream gone" (four 6 s stalls were "4.0s of it"), and so FPS was
    counted over the stalls."""
    import facekit.video
    monkeypatch.setattr(facekit.video, "STREAM_TIMEOUT_MS", 1500)
    feed = _MJPEGFeed(clip, per_connection=10, stall_s=4.0)
    try:
        with FrameSource(feed.url) as source:
            for _ in range(14):  # 10 frames, the stall, the pause before opening it again, frames again
                assert source.read(timeout=15) is not None
            gone = source.outage_s
    finally:
        feed.stop()
    assert feed.connections >= 2 and gone >= 1.5 + 1.0 - 0.2, gone  # the read time-out, then the 1 s pause


def test_a_live_source_waiting_for_frames_asks_its_waiting_callback(clip, monkeypatch):
    """While a stream is gone the loop waits in read() for up to the 5 minutes of reconnection: the live window's
    q, Esc and x went unheard all that time. `waiting` is asked meanwhile, and True ends the reading."""
    import facekit.video
    monkeypatch.setattr(facekit.video, "RECONNECT_WINDOW_S", 20.0)
    feed = _MJPEGFeed(clip, per_connection=10, max_connections=1)  # gone after its first 10 frames
    asked = []
    try:
        with FrameSource(feed.url) as source:
            source.waiting = lambda: asked.append(1) or len(asked) >= 5
            started = None
            while source.read(timeout=10) is not None:
                started = time.monotonic()
            assert time.monotonic() - started < 5, "read() waited for the reconnection"
    finally:
        feed.stop()
    assert len(asked) == 5


@NEEDS_X
def test_q_in_the_live_window_stops_a_run_whose_stream_is_gone(clip, mask_model, tmp_path):
    """q pressed while a stream was gone did nothing until it came back, or until the 5 minutes of reconnection
    ended the run with an error; it now stops the run as it does any time, every output finalized."""
    feed = _MJPEGFeed(clip, per_connection=20, max_connections=1)
    table = tmp_path / "faces.csv"
    try:
        with on_x_screen("detect_mask_video.py", "--source", feed.url, "--model", mask_model, "--csv", table) \
                as (proc, env, server):
            window = window_on_screen(proc, env)
            # q once the run says it is opening the stream again: 3 s after the window came, the feed's 20 frames
            # long gone on a quiet machine, could be before a loaded one had read them all.
            said: list[str] = []
            printed: list[str] = []
            readers = [threading.Thread(target=lambda: said.extend(proc.stderr), daemon=True),
                       threading.Thread(target=lambda: printed.extend(proc.stdout), daemon=True)]
            for reader in readers:
                reader.start()
            deadline = time.monotonic() + 120
            while not any("opening it again" in line for line in said) and time.monotonic() < deadline \
                    and proc.poll() is None:
                time.sleep(0.1)
            subprocess.run(["xdotool", "key", "--window", window[0], "q"], env=env, capture_output=True)
            proc.wait(timeout=30)
            for reader in readers:
                reader.join(timeout=30)
            stdout, stderr = "".join(printed), "".join(said)
    finally:
        feed.stop()
    assert proc.returncode == 0, stderr
    assert "opening it again" in stderr and "[INFO] stopped with the q key after" in stdout + stderr, stderr
    assert read_csv(table)


def test_the_live_window_says_so_while_its_stream_is_gone(clip, monkeypatch):
    """A stream that stopped sending (a dropped connection, one that stalls: up to 5 minutes of reconnection) left
    its last frame in the window with the FPS it had, as if it were still live. The window now shows that frame
    saying for how long no frame has come, each second."""
    import facekit.cli.video as video_cli
    import facekit.video
    from facekit.drawing import draw_status
    from facekit.pipeline import FacePipeline

    class Recording(ScriptedWindow):
        def show(self, image):
            self.images.append(image.copy())
            super().show(image)

    window = Recording([])
    window.images = []
    monkeypatch.setattr(video_cli, "has_display", lambda: True)
    monkeypatch.setattr(video_cli, "Window", window)
    monkeypatch.setattr(video_cli, "WAITING_SHOWN_S", 1.0)
    # One try, 3.2 s on: the pictures come 1, 1.5 and 2.5 s into the wait (its seconds rounded); at 2.2 s, with two
    # needed, a loaded machine had 0.7 s to spare (two pictures in each of four runs beside three busy loops).
    monkeypatch.setattr(facekit.video, "RECONNECT_PAUSE_S", 3.2)
    monkeypatch.setattr(facekit.video, "RECONNECT_WINDOW_S", 3.2)
    feed = _MJPEGFeed(clip, per_connection=5, max_connections=1)  # gone after its first 5 frames
    args = video_cli.build_parser().parse_args(["--source", feed.url])
    try:
        stats = video_cli.run(args, FacePipeline(_StillFace()), report=False)
    finally:
        feed.stop()
    assert "did not come back" in stats.error
    # The last frame that came, then the same picture (below its top line) each second of the wait.
    shown = window.images
    still = [image for image in shown if np.array_equal(image[40:], shown[-1][40:])]
    last, waiting = still[0], still[1:]
    assert len(shown) > len(still) and len(waiting) >= 2, f"{len(waiting)} pictures of the wait"
    told = [last.copy() for _ in range(1, 16)]
    for seconds, picture in enumerate(told, 1):
        draw_status(picture, f"waiting: no frames for {seconds} s")
    said = [next((seconds for seconds, picture in enumerate(told, 1) if np.array_equal(image, picture)), None)
            for image in waiting]
    assert None not in said and said == sorted(set(said)) and said[0] <= 2, said  # a line a second, counting


def test_a_udp_stream_that_drops_comes_back(monkeypatch):
    """A UDP (or RTP) stream's capture holds its local port: the one opened again could not bind it while the old
    one was held, its open failed at once each try, and a sender that stopped for a moment ended the run after 5
    minutes of "opening it again". The old capture is let go first."""
    import facekit.video as video

    bound = set()

    class UDPCapture(_ClumpedCamera):
        clump, opened = 1, 0

        def __init__(self, url, *args):
            super().__init__()
            self.url, self.ok = url, url not in bound  # FFmpeg's bind() of a port in use fails
            bound.add(url)
            UDPCapture.opened += 1
            self.first = UDPCapture.opened == 1

        def isOpened(self):
            return self.ok

        def read(self):
            if self.first and self.i >= 5:  # the sender stops: the read times out
                return False, None
            return super().read()

        def release(self):
            bound.discard(self.url)

    monkeypatch.setattr(video, "RECONNECT_PAUSE_S", 0.05)
    monkeypatch.setattr(video, "RECONNECT_WINDOW_S", 1.0)
    monkeypatch.setattr(video.cv2, "VideoCapture", UDPCapture)
    said = []
    with FrameSource("udp://127.0.0.1:5000", notify=said.append) as source:
        got = [source.read(timeout=3) for _ in range(8)]
    assert None not in got and any("back after" in line for line in said), said


def test_an_outage_going_on_counts_as_time_gone(clip):
    """A run stopped (q, Ctrl-C) while its stream was being opened again counted none of the outage: "in 9.4s (4.3
    FPS)" and "could not keep up with the source (about 6 fps)" for a 30 fps camera gone for 7 of those seconds."""
    feed = _MJPEGFeed(clip, per_connection=10, max_connections=1)  # gone after its first 10 frames
    try:
        with FrameSource(feed.url) as source:
            while source.read(timeout=2) is not None:
                pass
            time.sleep(1.5)
            gone = source.outage_s
    finally:
        feed.stop()
    assert gone >= 3.0, gone  # the 2 s of read(timeout=2) and the 1.5 s slept, all in the outage


def test_a_live_hls_stream_whose_playlist_stopped_is_not_replayed(clip, tmp_path, monkeypatch):
    """An HLS encoder that stops leaves its playlist as it was: each reopening played its last segments again, old
    pictures taken for new ones (timed now, their people counted again), every ~15 s for as long as the server was
    up, and the run never ended. It is opened again only once the playlist changes."""
    import functools
    import http.server

    import facekit.video
    monkeypatch.setattr(facekit.video, "STREAM_TIMEOUT_MS", 1500)
    monkeypatch.setattr(facekit.video, "RECONNECT_WINDOW_S", 4.0)
    cap = cv2.VideoCapture(str(clip))
    for k in range(3):
        writer = cv2.VideoWriter(str(tmp_path / f"seg{k}.ts"), cv2.VideoWriter_fourcc(*"mp4v"), 30, CLIP_SIZE)
        for _ in range(15):
            writer.write(cap.read()[1])
        writer.release()
    cap.release()
    (tmp_path / "live.m3u8").write_text("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n"
                                        + "".join(f"#EXTINF:0.5,\nseg{k}.ts\n" for k in range(3)))  # no ENDLIST: live
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    said, frames = [], 0
    try:
        with FrameSource(f"http://127.0.0.1:{server.server_address[1]}/live.m3u8", notify=said.append) as source:
            with pytest.raises(VideoError, match="did not come back"):
                while frames <= 90 and source.read(timeout=30) is not None:  # over 90: replayed (a failure)
                    frames += 1
    finally:
        server.shutdown()
        server.server_close()
    assert 0 < frames <= 45 and not any("back after" in x for x in said), (frames, said)


def _hls_segments(clip, folder, count: int = 4, frames: int = 15) -> None:
    """`count` MPEG-TS segments of the clip's first frames, seg0.ts..., `frames` each, as an HLS encoder writes."""
    cap = cv2.VideoCapture(str(clip))
    for k in range(count):
        writer = cv2.VideoWriter(str(folder / f"seg{k}.ts"), cv2.VideoWriter_fourcc(*"mp4v"), 30, CLIP_SIZE)
        for _ in range(frames):
            writer.write(cap.read()[1])
        writer.release()
    cap.release()


@contextlib.contextmanager
def _served(folder):
    """A local HTTP server of `folder` for the length of the block; its port."""
    import functools
    import http.server

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # set on a functools.partial, it was never the handler's: lines on stderr
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_a_web_pages_address_given_as_a_video_is_named_a_web_page(tmp_path, mask_model, capfd):
    """A site's page that plays a video (a YouTube or news link, as a new user pastes one; here a page and an HTML
    error page saved as .mp4, served with and without text/html) was "stream ... does not answer (no connection
    within 5 s, or not a video stream)", said at once of a server that had answered."""
    (tmp_path / "watch.html").write_text('<!DOCTYPE html><html><body><video src="talk.mp4"></video></body></html>\n')
    (tmp_path / "talk.mp4").write_text("<html><head><title>Sign in</title></head></html>\n")  # served as video/mp4
    with _served(tmp_path) as port:
        for name in ("watch.html", "talk.mp4"):
            code, line = _run(capfd, "--source", f"http://127.0.0.1:{port}/{name}", "--model", mask_model,
                              "--no-display", "--csv", tmp_path / "faces.csv")
            assert (code, line) == (2, f"[ERROR] stream http://127.0.0.1:{port}/{name} answered with a web page "
                                       "(HTML), not a video: a site's page that plays a video is not the video's own "
                                       "address; download the video and give its file"), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talk.mp4", "watch.html"]


def test_a_live_hls_stream_of_long_segments_is_not_taken_for_one_that_stopped(clip, tmp_path, monkeypatch):
    """FFmpeg's HLS reader, once at the live edge, waits up to a segment's duration for the next one: a read
    timed out at STREAM_TIMEOUT_MS (5 s) whenever it had caught up with 6 s segments (Apple's advice), and the
    stream was "opened again" every ~40 s, 7-13 s without frames each time, though it never stopped. A live HLS
    stream's reads wait twice its playlist's target duration and 1 s. Here: 1 s reads against 2 s segments."""
    import facekit.video
    monkeypatch.setattr(facekit.video, "STREAM_TIMEOUT_MS", 1000)
    _hls_segments(clip, tmp_path)

    def playlist(segments: int) -> None:  # a live one (no ENDLIST), rewritten whole as an encoder does
        (tmp_path / "next.m3u8").write_text("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"
                                            "#EXT-X-MEDIA-SEQUENCE:0\n"
                                            + "".join(f"#EXTINF:2.0,\nseg{k}.ts\n" for k in range(segments)))
        os.replace(tmp_path / "next.m3u8", tmp_path / "live.m3u8")

    playlist(3)
    said = []
    with _served(tmp_path) as port:
        with FrameSource(f"http://127.0.0.1:{port}/live.m3u8", notify=said.append) as source:
            threading.Timer(1.0, playlist, (4,)).start()  # the next segment, a second after the first three
            began = time.monotonic()
            # into the fourth segment: reading, not waiting (the segments are there), 60 s a loaded machine's bound
            while source.frames_read < 55 and time.monotonic() - began < 60:
                source.read(timeout=0.1)
            frames, before = source.frames_read, list(said)
    assert frames >= 55 and not any("opening it again" in line for line in before), (frames, before)


def test_a_live_hls_stream_that_ends_ends_the_run(clip, tmp_path, monkeypatch):
    """A live HLS stream whose encoder finished (a broadcast over: its playlist closed with #EXT-X-ENDLIST) was taken
    for one that stopped: "opening it again" for 5 minutes, then "did not come back", exit 2. It ends as a file
    does, every frame read."""
    import facekit.video
    monkeypatch.setattr(facekit.video, "RECONNECT_PAUSE_S", 0.2)
    monkeypatch.setattr(facekit.video, "RECONNECT_WINDOW_S", 3.0)
    _hls_segments(clip, tmp_path)

    def playlist(segments: int, end: str = "") -> None:
        (tmp_path / "next.m3u8").write_text("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n"
                                            "#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:EVENT\n"
                                            + "".join(f"#EXTINF:0.5,\nseg{k}.ts\n" for k in range(segments)) + end)
        os.replace(tmp_path / "next.m3u8", tmp_path / "live.m3u8")

    playlist(3)
    said = []
    with _served(tmp_path) as port:
        with FrameSource(f"http://127.0.0.1:{port}/live.m3u8", notify=said.append) as source:
            threading.Timer(0.5, playlist, (4, "#EXT-X-ENDLIST\n")).start()  # its last segment, and the end
            while source.read(timeout=10) is not None:
                pass
            frames = source.frames_read
    assert frames == 60 and not any("opening it again" in line for line in said), (frames, said)


def test_a_live_stream_that_comes_back_at_another_size_goes_on_fitted_into_the_first(clip):
    """An IP camera that reboots with another resolution: the run ended with "frames of changing size" the
    moment the reconnection succeeded. Its frames are now fitted into the first size, with one line."""
    feed = _MJPEGFeed(clip, per_connection=20, size_after_first=(640, 480))
    said = []
    try:
        with FrameSource(feed.url, notify=said.append) as source:
            shapes = []
            while len(shapes) < 30 and (item := source.read(timeout=10)) is not None:
                shapes.append(item[1].shape)
    finally:
        feed.stop()
    assert len(shapes) == 30 and set(shapes) == {(360, 640, 3)} and feed.connections >= 2
    assert sum("frames are now 640x480" in line for line in said) == 1, said


def test_the_library_reopens_a_dropped_stream_and_says_so(clip, mask_model, caplog):
    """analyze_video on an IP camera's feed that drops every 15 frames: the frames keep coming, and each
    reopening is a warning on the "facekit" logger (a library prints no [WARN] lines of its own)."""
    import logging

    from facekit import FaceAnalyzer

    feed = _MJPEGFeed(clip, per_connection=15)
    try:
        with caplog.at_level(logging.WARNING, logger="facekit"):
            results = list(FaceAnalyzer(models=[str(mask_model)]).analyze_video(feed.url, max_frames=40))
    finally:
        feed.stop()
    assert len(results) == 40 and feed.connections >= 3
    assert any("opening it again" in r.getMessage() for r in caplog.records if r.name == "facekit")


def test_a_live_streams_csv_can_be_read_while_it_runs(clip, mask_model, tmp_path):
    """A camera is watched for hours: its CSV grows in place, row by row, so it can be read (tail -f) while
    the run goes on and survives a kill. Before, it was a hidden temp file until the run ended."""
    feed = _MJPEGFeed(clip, per_connection=275)
    out = tmp_path / "faces.csv"
    proc = subprocess.Popen([sys.executable, str(ROOT / "detect_mask_video.py"), "--source", feed.url, "--model",
                             str(mask_model), "--no-display", "--csv", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, preexec_fn=signals_default)
    try:
        deadline = time.monotonic() + 180  # a hang's bound: the run's start and first rows took 16 s under load
        while time.monotonic() < deadline and proc.poll() is None:
            if out.is_file() and len(out.read_text().splitlines()) >= 5:
                break
            time.sleep(0.2)
        running = proc.poll() is None
        rows = out.read_text().splitlines() if out.is_file() else []
        proc.kill()  # no clean-up at all: what was written stays
        proc.wait(timeout=30)
    finally:
        feed.stop()
    assert running and len(rows) >= 5 and rows[0].startswith("frame,"), (running, rows[:2], proc.stderr.read())
    kept = out.read_text().splitlines()
    assert len(kept) >= len(rows) and all(len(r.split(",")) == len(kept[0].split(",")) for r in kept[:len(rows)])


def test_a_live_streams_mkv_survives_a_kill(clip, mask_model, tmp_path):
    """A camera's --output was a hidden temp file renamed at the end, so a kill -9 or a power cut lost
    every frame. An .mkv (or .avi) cut short still plays: for a live source it is written in place."""
    feed = _MJPEGFeed(clip, per_connection=275)
    out, table = tmp_path / "cam.mkv", tmp_path / "faces.csv"
    proc = subprocess.Popen([sys.executable, str(ROOT / "detect_mask_video.py"), "--source", feed.url, "--model",
                             str(mask_model), "--no-display", "--output", str(out), "--csv", str(table)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            preexec_fn=signals_default)
    try:
        deadline = time.monotonic() + 240  # a hang's bound: the run's start and its 150 frames, 17 s under load
        while time.monotonic() < deadline and proc.poll() is None:
            rows = table.read_text().splitlines() if table.is_file() else []
            # 5 s of the feed: at 2 s the muxer's unflushed tail was most of what had been written (18 frames kept)
            if len(rows) > 2 and int(rows[-1].split(",")[0]) >= 150:
                break
            time.sleep(0.2)
        running = proc.poll() is None
        proc.kill()  # no clean-up at all
        proc.wait(timeout=30)
    finally:
        feed.stop()
    assert running, proc.stderr.read()
    n, size = video_info(out)
    assert n >= 20 and size == CLIP_SIZE, n
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_live_video_sink_writes_in_place_and_finishes_whole(tmp_path):
    frames = [np.full((120, 160, 3), i, np.uint8) for i in range(0, 250, 5)]
    for name, live, in_place in [("a.mkv", True, True), ("a.avi", True, True), ("a.mp4", True, False),
                                 ("b.mkv", False, False)]:
        sink = VideoSink(tmp_path / name, 25, (160, 120), live=live)
        for f in frames:
            sink.write(f)
        assert (tmp_path / name).exists() == in_place
        assert sink.close() and video_info(tmp_path / name) == (len(frames), (160, 120))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.avi", "a.mkv", "a.mp4", "b.mkv"]


def test_a_live_video_lasts_as_long_as_the_run_when_the_loop_skips_frames(tmp_path):
    """Frames of a 10 fps camera that a slower loop got at 0, 0.35 and 0.5 s, then after a 30 s outage: each
    stands for the frames up to the next, and the outage is not written as a 30 s still."""
    frames = [np.full((120, 160, 3), i, np.uint8) for i in (0, 80, 160, 240)]
    sink = VideoSink(tmp_path / "cam.mkv", 10.0, (160, 120), live=True)
    for frame, t in zip(frames, (0.0, 0.35, 0.5, 30.5)):
        sink.write_at(frame, t)
    assert sink.frames == 1 + 3 + 2 + 1
    assert sink.close() and video_info(tmp_path / "cam.mkv") == (7, (160, 120))


def test_a_live_video_lasts_as_long_as_the_run_when_the_loop_outruns_its_rate(tmp_path):
    """An MJPEG camera sends 30 fps and FFmpeg reports 25 (its default): a loop that kept up wrote each of the 30
    frames a second into the 25 fps video, which lasted 20% longer than the run and fell ever further behind it."""
    sink = VideoSink(tmp_path / "cam.mkv", 25.0, (32, 24), live=True)
    for i in range(60):  # 2 s of the camera
        sink.write_at(np.full((24, 32, 3), 4 * i, np.uint8), i / 30)
    assert sink.frames in (50, 51)  # within a slot of the 2 s
    assert sink.close() and video_info(tmp_path / "cam.mkv") == (sink.frames, (32, 24))


def test_a_variable_frame_rate_file_is_written_at_its_own_times(tmp_path):
    """A phone's clip at 30 fps, 15 in a dim second, then 30 again (OpenCV reports the average, 25): written one frame
    a slot, the dim second played 1.7x fast and the rest slow, 0.2 s off the source at 1.2 s. Each output frame is
    now the source's frame of that moment, within one source frame; a constant-rate file gets each frame once."""
    times = [i / 30 for i in range(30)] + [1 + i / 15 for i in range(15)] + [2 + i / 30 for i in range(30)]
    sink = VideoSink(tmp_path / "vfr.avi", 25, (32, 24))
    for i, t in enumerate(times):
        sink.write_timed(np.full((24, 32, 3), 3 * i, np.uint8), t)
    assert sink.close()
    cap, shown = cv2.VideoCapture(str(tmp_path / "vfr.avi")), []
    while (frame := cap.read()[1]) is not None:
        shown.append(round(float(frame.mean()) / 3))
    assert abs(len(shown) - 75) <= 1  # three seconds at 25 fps
    assert all(abs(times[i] - k / 25) <= 1 / 15 + 1e-9 for k, i in enumerate(shown)), shown
    steady = VideoSink(tmp_path / "cfr.avi", 29.97, (32, 24))
    for i in range(300):  # the hamilton clip's rate, as OpenCV rounds it against its timestamps (1001 / 30000 s)
        assert steady.write_timed(np.zeros((24, 32, 3), np.uint8), i * 1001 / 30000)
    assert steady.frames == 300 and steady.close()


def test_a_variable_frame_rate_files_output_lasts_as_its_times_say(tmp_path, clip, mask_model, monkeypatch):
    """The script writes a file's frames at their times: here frames from 20 on come at half the rate (15 fps),
    so the 29.97 fps output holds each twice and lasts as long as the CSV's times."""
    real = FrameSource.time_s
    monkeypatch.setattr(FrameSource, "time_s",
                        lambda self, index: real(self, index) + max(0, index - 20) * 1001 / 30000)
    out, table = tmp_path / "o.mkv", tmp_path / "f.csv"
    assert main(["--source", str(clip), "--model", str(mask_model), "--no-display", "--max-frames", "50",
                 "--tasks", "mask", "--output", str(out), "--csv", str(table)]) == 0
    last = max(float(r["time_s"]) for r in read_csv(table))
    frames, size = video_info(out)
    assert size == CLIP_SIZE and abs(frames - 80) <= 1 and abs(frames / 29.97 - (last + 1 / 29.97)) < 0.05


def test_an_odd_sized_video_keeps_its_last_column_and_row(tmp_path):
    """OpenCV's codecs cut 641x361 frames to 640x360: the output gets a black column and row instead."""
    frame = np.full((361, 641, 3), 200, np.uint8)
    frame[-1, :], frame[:, -1] = (0, 0, 255), (255, 0, 0)  # a red last row, a blue last column
    sink = VideoSink(tmp_path / "odd.avi", 25, (641, 361))
    for _ in range(3):
        sink.write(frame)
    assert sink.close() and video_info(tmp_path / "odd.avi") == (3, (642, 362))
    back = cv2.VideoCapture(str(tmp_path / "odd.avi")).read()[1]
    red, blue = back[360, 100].astype(int), back[100, 640].astype(int)
    assert red[2] > red[0] + 50 and blue[0] > blue[2] + 50  # the last row and column are still there
    gray = cv2.cvtColor(back, cv2.COLOR_BGR2GRAY)
    assert gray[:, 641].max() < 60 and gray[361].max() < 60  # the added ones: black (MJPG bleeds colour in)


def test_a_live_streams_summary_is_rewritten_while_it_runs(clip, mask_model, tmp_path, monkeypatch):
    """A camera's --summary has no end to wait for: it is rewritten whole every LIVE_SUMMARY_EVERY_S (60 s;
    0.3 s here), so it is there, readable, while the run goes on."""
    import facekit.cli.video as video_cli

    monkeypatch.setattr(video_cli, "LIVE_SUMMARY_EVERY_S", 0.3)
    feed = _MJPEGFeed(clip, per_connection=275)
    out = tmp_path / "people.csv"
    result = {}
    # A daemon: a run that hung kept pytest's worker from exiting after the test had failed.
    run = threading.Thread(target=lambda: result.setdefault("code", main(
        ["--source", feed.url, "--model", str(mask_model), "--no-display", "--max-frames", "60",
         "--summary", str(out)])), daemon=True)
    run.start()
    try:
        seen, deadline = None, time.monotonic() + 120  # a hang's bound: the run takes seconds
        while run.is_alive() and seen is None and time.monotonic() < deadline:
            if out.is_file():
                seen = out.read_text().splitlines()
            time.sleep(0.05)
        run.join(timeout=max(0.0, deadline - time.monotonic()))
    finally:
        feed.stop()
    assert not run.is_alive(), "the run had not ended 120 s after it started"
    assert result.get("code") == 0
    assert seen and seen[0].startswith("track_id,") and len(seen) >= 2, seen  # while it ran
    # and not the end's: the run went on after it (the end's was caught by a thread not yet ended, 1 run in 3)
    final = out.read_text().splitlines()
    assert len(final) >= len(seen) and final != seen, seen


def test_a_live_streams_rows_say_when_each_face_was_seen(clip, mask_model, tmp_path, capfd):
    """A camera watched for a week: "time_s 483920.1" says little. Its CSV rows, summary rows and alerts
    also carry the local date and time each frame came (ISO 8601 with the UTC offset); a file's do not."""
    from datetime import datetime

    feed = _MJPEGFeed(clip, per_connection=275)
    table, people, fired = tmp_path / "faces.csv", tmp_path / "people.csv", tmp_path / "alerts.txt"
    alert = shlex.join([sys.executable, "-c", "import os, sys; open(sys.argv[1], 'a').write("
                        "os.environ.get('FACEKIT_CLOCK', 'none') + '\\n')", str(fired)])
    before = datetime.now().astimezone()
    try:
        # 180 frames: the feed plays the clip at 60 fps, twice its speed, so its first 90 frames held no unmasked
        # face for the alert's 1 s (the first two performers' tracks last 0.3-0.7 s there): one CI run fired
        # none. The third performer, unmasked from frame 82 on, is followed for over a second within 180.
        code = main(["--source", feed.url, "--model", str(mask_model), "--no-display", "--max-frames", "180",
                     "--csv", str(table), "--summary", str(people), "--alert", alert])
    finally:
        feed.stop()
    after = datetime.now().astimezone()
    assert code == 0
    rows = read_csv(table)
    assert rows and list(rows[0])[:4] == ["frame", "time_s", "clock", "track_id"]
    clocks = [datetime.fromisoformat(r["clock"]) for r in rows]
    assert all(c.tzinfo is not None and before <= c <= after for c in clocks)
    # The clock and time_s tell the same story: the same seconds between any two rows.
    gaps = [(c - clocks[0]).total_seconds() - (float(r["time_s"]) - float(rows[0]["time_s"]))
            for c, r in zip(clocks, rows)]
    assert max(map(abs, gaps)) < 0.03, max(map(abs, gaps))  # two clock reads; a thread switch between them
    summary = read_csv(people)
    assert summary and list(summary[0])[3:8] == ["first_s", "last_s", "first_clock", "last_clock", "frames"]
    for person in summary:
        seen = [r["clock"] for r in rows if r["track_id"] == person["track_id"]]
        assert (person["first_clock"], person["last_clock"]) == (seen[0], seen[-1])
    # The clip's unmasked performers: each alert said when, from the same clock.
    said = whole_lines(fired, alerts_ran(capfd.readouterr().out))
    assert said and all(datetime.fromisoformat(c) and c in {r["clock"] for r in rows} for c in said), said

    # A file's times are its own: no clock anywhere (an alert's environment included).
    code = main(["--source", str(clip), "--model", str(mask_model), "--no-display", "--max-frames", "90",
                 "--csv", str(table), "--summary", str(people), "--alert", alert])
    assert code == 0
    assert "clock" not in read_csv(table)[0] and "first_clock" not in read_csv(people)[0]
    later = whole_lines(fired, len(said) + alerts_ran(capfd.readouterr().out))[len(said):]
    assert later and set(later) == {"none"}, later


def test_every_on_a_live_stream_says_it_is_for_files(clip, mask_model, capfd):
    feed = _MJPEGFeed(clip, per_connection=275)
    try:
        code = main(["--source", feed.url, "--model", str(mask_model), "--no-display", "--max-frames", "5",
                     "--every", "3"])
    finally:
        feed.stop()
    err = capfd.readouterr().err
    assert code == 0 and "[WARN] --every 3 is for files: a camera or stream is read at its newest frame" in err, err


def test_help_says_a_cameras_rows_and_alerts_carry_the_clock():
    """--help is what someone setting up a camera's alert script reads: FACEKIT_CLOCK and the clock columns
    were in the README alone, and the --alert line listed every other variable."""
    from facekit.cli.video import build_parser

    text = " ".join(build_parser().format_help().split())
    alert = text[text.index("--alert CMD run CMD"):]
    assert "FACEKIT_CLOCK" in alert[:alert.index("--no-display")], alert
    assert "date and time" in text[text.index("--csv CSV one row"):text.index("--timeline TIMELINE plot")]
    assert "first_clock / last_clock" in text[text.index("--summary PEOPLE.CSV one row"):text.index("--alert CMD run")]


def test_timeline_help_names_every_format_it_writes(clip, mask_model, tmp_path):
    """--timeline's help said .png; a .pdf or .svg, which a report takes, was written all along (by its extension)."""
    from facekit.cli.video import TIMELINE_EXTENSIONS, build_parser

    text = " ".join(build_parser().format_help().split())
    said = text[text.index("--timeline TIMELINE plot"):text.index("--summary PEOPLE.CSV one row")]
    assert all(ext in said for ext in TIMELINE_EXTENSIONS - {".jpeg"}), said
    r = run_script("detect_mask_video.py", "--source", clip, "--model", mask_model, "--tasks", "mask", "--timeline",
                   tmp_path / "t.svg", "--max-frames", "10", "--no-display")
    assert r.returncode == 0 and (tmp_path / "t.svg").read_text().lstrip().startswith("<?xml"), r.stderr


def test_faces_labelled_in_just_the_timelines_minimum_of_frames_are_drawn(clip, mask_model, tmp_path, capfd):
    """The plot draws a face labelled "in 3 frames or more", as its lines say: --max-frames 3 labels the hamilton
    clip's two performers in exactly 3, and both are drawn, not an "(empty: ...)" plot."""
    from facekit.timeline import MIN_POINTS

    plot, people = tmp_path / "t.svg", tmp_path / "people.csv"
    assert main(["--source", str(clip), "--model", str(mask_model), "--tasks", "mask", "--no-display", "--max-frames",
                 str(MIN_POINTS), "--timeline", str(plot), "--summary", str(people)]) == 0
    said = capfd.readouterr().out
    assert f"[INFO] timeline written to {plot}\n" in said, said
    assert sum(int(r["frames"]) == MIN_POINTS for r in read_csv(people)) == 2
    assert plot.read_text().count("face #") == 2


def test_the_timeline_of_a_run_with_every_head_plots_emotion(clip, tmp_path, capfd):
    """With the default heads (mask first among them) the plot is of emotion, as --timeline's help says, with its
    dashed intensity: picking the first head drew the mask probabilities instead."""
    plot = tmp_path / "t.svg"
    assert main(["--source", str(clip), "--no-display", "--max-frames", "3", "--timeline", str(plot)]) == 0
    assert f"[INFO] timeline written to {plot}\n" in capfd.readouterr().out
    assert "emotion probability and intensity (dashed) over time, per face" in plot.read_text()


@pytest.mark.parametrize("table", ["--csv", "--summary"])
def test_an_alerts_output_stays_out_of_a_table_on_standard_output(clip, mask_model, tmp_path, table):
    """`--csv - --alert 'echo ...'`: the command's line went into the CSV a pipe was reading (pandas then read the
    frame column as text). With a table on standard output, a command's output goes to standard error, as every
    other line does; its lines are all still there."""
    alert = shlex.join([sys.executable, "-c", "import os; print('ALERT', os.environ['FACEKIT_TRACK_ID'])"])
    r = run_script("detect_mask_video.py", "--source", clip, "--model", mask_model, "--tasks", "mask", table, "-",
                   "--alert", alert, "--max-frames", "120", "--no-display")
    assert r.returncode == 0, r.stderr
    assert "ALERT" not in r.stdout, r.stdout
    fired = [ln for ln in r.stderr.splitlines() if ln.startswith("ALERT ")]
    assert fired and f"[INFO] --alert ran {len(fired)} time{'' if len(fired) == 1 else 's'}" in r.stderr, r.stderr
    rows = list(csv.DictReader(r.stdout.splitlines()))
    key = "frame" if table == "--csv" else "first_frame"
    assert rows and all(row[key].isdigit() for row in rows), r.stdout[-500:]


def test_max_frames_counts_analysed_frames_as_its_help_says(clip, mask_model, tmp_path):
    """--every 5 --max-frames 4 analysed 4 frames, the file's first 20 (0, 5, 10, 15): --help said "stop after N
    frames", which reads as the file's first N."""
    from facekit.cli.video import build_parser

    text = " ".join(build_parser().format_help().split())
    assert "stop after N analysed frames (with --every M, the file's first N x M)" in text
    table = tmp_path / "f.csv"
    r = run_script("detect_mask_video.py", "--source", clip, "--model", mask_model, "--tasks", "mask", "--csv", table,
                   "--every", "5", "--max-frames", "4", "--no-display")
    assert r.returncode == 0, r.stderr
    assert sorted({int(row["frame"]) for row in read_csv(table)}) == [0, 5, 10, 15]


def test_summary_to_standard_output_is_in_the_help_and_works(clip, mask_model):
    """`--summary -` wrote the per-person CSV to standard output (the other lines to standard error), as `--csv -`
    does, but only --csv's help said so."""
    from facekit.cli.video import build_parser

    text = " ".join(build_parser().format_help().split())
    assert "(- for standard output;" in text[text.index("--summary PEOPLE.CSV one row"):text.index("--alert CMD run")]
    r = run_script("detect_mask_video.py", "--source", clip, "--model", mask_model, "--tasks", "mask", "--summary", "-",
                   "--max-frames", "20", "--no-display")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("track_id,first_frame,last_frame,first_s,last_s,frames,mask_label")
    assert "people seen" in r.stderr and "[INFO]" not in r.stdout


@pytest.mark.parametrize("name", ["no_such_folder/out.mp4", "out.xyz", "out.png"])
def test_unwritable_output_fails_before_any_work(tmp_path, clip, mask_model, capfd, name):
    started = time.monotonic()
    code, line = _run(capfd, "--source", clip, "--model", mask_model, "--no-display", "--output", tmp_path / name)
    assert code == 2 and ("--output" in line or "extension" in line)
    assert time.monotonic() - started < 10
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option", ["--output", "--csv", "--summary"])
def test_an_output_never_replaces_the_source_video(tmp_path, clip, mask_model, capfd, option):
    source = tmp_path / "clip.mp4"
    source.write_bytes(clip.read_bytes())
    code, line = _run(capfd, "--source", source, "--model", mask_model, "--no-display", option,
                      tmp_path / ".." / tmp_path.name / "clip.mp4")
    assert code == 2 and f"{option} would write over the input {source}" in line
    assert source.read_bytes() == clip.read_bytes() and [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


@pytest.mark.parametrize("option,name", [("--csv", "photo.jpg"), ("--summary", "holiday.mp4")])
def test_a_table_named_as_a_photo_or_a_video_is_refused(tmp_path, clip, mask_model, capfd, option, name):
    """`--csv photo.jpg` (a typo, or --csv typed for -o) replaced the photo with a 551-byte CSV, exit 0."""
    target = tmp_path / name
    target.write_bytes(b"the user's own file")
    code, line = _run(capfd, "--source", clip, "--model", mask_model, "--no-display", option, target)
    kind = "photo" if name.endswith(".jpg") else "video"
    assert code == 2 and f"{option} {target}: a table is written there, and {target.suffix} names a {kind}" in line
    assert target.read_bytes() == b"the user's own file"


@pytest.mark.parametrize("option,name,kind", [("--summary", "people.json", "JSON"),
                                              ("--csv", "faces.xlsx", "an Excel")])
def test_a_table_named_as_another_format_is_refused(tmp_path, clip, mask_model, capfd, option, name, kind):
    """`--summary people.json` wrote CSV text into a file named .json, exit 0: json.load then failed on it."""
    target = tmp_path / name
    code, line = _run(capfd, "--source", clip, "--model", mask_model, "--no-display", option, target)
    assert code == 2 and f"{option} {target}: writes CSV, and {target.suffix} names {kind}" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option", ["--csv", "--summary"])
def test_a_table_named_other_than_csv_leaves_the_file_there_as_it_was(tmp_path, clip, mask_model, capfd, option):
    """`--csv notes.txt` replaced the user's notes with a table, exit 0, where `-o notes.txt` and `--timeline
    notes.txt` were refused. A .csv (any case) is replaced, as a shell's `>` replaces it."""
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    code, line = _run(capfd, "--source", clip, "--model", mask_model, "--no-display", option, notes)
    assert code == 2 and line == (f"[ERROR] {option} {notes}: writes CSV, and .txt is not .csv (a file there would be "
                                  "replaced by the table): name it notes.csv"), line
    assert notes.read_text() == "my notes\n" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    table = tmp_path / "faces.CSV"
    table.write_text("an earlier run's\n")
    assert main(["--source", str(clip), "--model", str(mask_model), "--no-display", "--max-frames", "3", option,
                 str(table)]) == 0
    rows = list(csv.DictReader(table.read_text().splitlines()))
    assert rows and {"track_id", "mask_label"} <= set(rows[0]), rows[:1]


@pytest.mark.parametrize("option", ["--csv", "--output"])
def test_an_output_that_is_a_folder_is_refused(tmp_path, clip, mask_model, capfd, option):
    (tmp_path / "out.mp4").mkdir()
    code, line = _run(capfd, "--source", clip, "--model", mask_model, "--no-display", option, tmp_path / "out.mp4")
    assert code == 2 and f"{option} {tmp_path / 'out.mp4'} is a folder" in line
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_csv_to_standard_output_for_a_pipe(clip, mask_model):
    res = run_script("detect_mask_video.py", "--source", clip, "--model", mask_model, "--no-display", "--csv", "-",
                     "--max-frames", 10)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(res.stdout.splitlines()))  # nothing else on standard output
    assert len(rows) >= 10 and {r["frame"] for r in rows} == {str(i) for i in range(10)}
    assert "[INFO] per-frame results written to standard output" in res.stderr


def test_csv_to_standard_output_with_a_standard_stream_closed(clip, mask_model):
    # `2>&-`: the [INFO] lines went into the CSV; `>&-`: a traceback (exit 1) once the models had loaded.
    command = [sys.executable, str(ROOT / "detect_mask_video.py"), "--source", str(clip), "--model", str(mask_model),
               "--no-display", "--csv", "-", "--max-frames", "3"]
    res = subprocess.run(command, cwd=ROOT, timeout=300, stdout=subprocess.PIPE, text=True,
                         preexec_fn=lambda: os.close(2))
    assert res.returncode == 0 and {r["frame"] for r in csv.DictReader(res.stdout.splitlines())} == {"0", "1", "2"}
    res = subprocess.run(command, cwd=ROOT, timeout=300, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: os.close(1))
    assert res.returncode == 2 and res.stderr == (
        "[ERROR] results go to standard output (-), which is closed: name a file instead\n")


def test_a_csv_reader_that_goes_away_stops_the_run_and_keeps_the_other_outputs(clip, mask_model, tmp_path):
    """`--csv - | head`: the broken pipe ended the run with exit 0 and none of --output, --summary or
    --timeline written. Now it stops as Ctrl-C does, every other output finalized."""
    from facekit.cli.common import READER_STOPPED

    out, people, plot = tmp_path / "v.mp4", tmp_path / "people.csv", tmp_path / "t.png"
    code, err = run_script_reader_gone("detect_mask_video.py", "--source", clip, "--model", mask_model,
                                       "--no-display", "--csv", "-", "--output", out, "--summary", people,
                                       "--timeline", plot, lines=20)
    assert code == 0 and f": kept {out}, {plot}, {people}\n" in err and READER_STOPPED in err, err
    assert "Traceback" not in err
    n, _ = video_info(out)
    assert 0 < n < CLIP_FRAMES
    assert read_csv(people) and cv2.imread(str(plot)) is not None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("lines", [1, 0])
def test_a_csv_reader_gone_before_the_first_frame_does_not_say_a_video_was_kept(clip, mask_model, tmp_path, lines):
    """`--csv - | head -1` read the header alone: the video, of no frame, was not written, yet the last line said
    "the other outputs kept". The line names what was kept, or says that nothing else was written. `| true` (no
    line read: the reader gone before the header) ended the run in no line at all, exit 0: it says so too."""
    out = tmp_path / "v.mp4"
    code, err = run_script_reader_gone("detect_mask_video.py", "--source", clip, "--model", mask_model,
                                       "--no-display", "--csv", "-", "--output", out, lines=lines)
    last = err.rstrip().splitlines()[-1]
    assert code == 0 and "Traceback" not in err and last.startswith("[INFO] standard output was closed"), err
    if not lines:  # closed before the models had loaded: no row was written, nor the video
        assert "[INFO] 0 frames, 0 face detections" in err and not out.exists()
        assert last == "[INFO] standard output was closed by its reader: stopped there after 0 frames; no other " \
                       "output was written", err
    if out.exists():  # frame 0's rows may have reached the pipe before its reader went
        assert video_info(out)[0] > 0 and last.endswith(f": kept {out}"), err
    else:
        assert last.endswith("; no other output was written"), err


def test_a_summary_reader_gone_says_the_summary_was_not_written_and_keeps_the_rest(clip, mask_model, tmp_path):
    """`--summary - | true`: the summary, written last, met a closed pipe, and the run ended in silence, exit 0: no
    counts, no people, not a word that the summary was lost. The rest of the run is said and kept."""
    out = tmp_path / "v.mp4"
    code, err = run_script_reader_gone("detect_mask_video.py", "--source", clip, "--model", mask_model,
                                       "--no-display", "--summary", "-", "--max-frames", 5, "--output", out)
    assert code == 0 and "Traceback" not in err, err
    assert "[INFO] 5 frames, " in err and f"annotated video written to {out} (5 frames)" in err
    assert err.rstrip().endswith("[INFO] standard output was closed by its reader before the per-person summary "
                                 "(--summary -): it was not written; the run was whole"), err
    assert "summary written to" not in err and "times in standard output" not in err
    assert video_info(out) == (5, CLIP_SIZE)


def test_an_output_that_fails_at_the_end_leaves_the_others_written(clip, mask_model, tmp_path, monkeypatch, capfd):
    """The timeline plot failing (no matplotlib, a full disk) threw away the CSV and the summary with it."""
    import errno

    from facekit.timeline import Timeline

    def full_disk(self, path, **where):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(Timeline, "save", full_disk)
    table, people, plot = tmp_path / "faces.csv", tmp_path / "people.csv", tmp_path / "t.png"
    code, line = _run(capfd, "--source", clip, "--model", mask_model, "--no-display", "--max-frames", "20",
                      "--csv", table, "--summary", people, "--timeline", plot)
    assert code == 2 and f"cannot write {plot}: No space left on device" in line
    assert {int(r["frame"]) for r in read_csv(table)} == set(range(20)) and read_csv(people)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces.csv", "people.csv"]


def test_a_csv_that_fills_the_disk_mid_run_keeps_the_other_outputs(clip, mask_model, tmp_path, monkeypatch, capfd,
                                                                     threads_started_here):
    """The CSV's disk filling up half-way ended the run with its one line, and the annotated video, the summary
    and the timeline (on another disk, with room) were thrown away with it: every frame analysed so far lost.
    They are now finalized with the frames before the failure, and so is the CSV, its rows whole up to there,
    beside the old one (a write the disk takes part-way, then refuses)."""
    import contextlib
    import errno

    import facekit.records

    real_atomic_write, real_write = facekit.records.atomic_write, os.write
    table = tmp_path / "full" / "faces.csv"
    table.parent.mkdir()
    table.write_text("an earlier run's rows\n")
    full = {"fd": None, "room": 20_000}

    def write(fd, data):
        if fd != full["fd"]:
            return real_write(fd, data)
        if not full["room"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        taken = real_write(fd, bytes(data[:full["room"]]))
        full["room"] -= taken
        return taken

    @contextlib.contextmanager
    def atomic_write(path, *args, **kwargs):
        with real_atomic_write(path, *args, **kwargs) as fh:
            if Path(path) == table:
                full["fd"] = fh.fileno()
            yield fh

    monkeypatch.setattr(facekit.records, "atomic_write", atomic_write)
    monkeypatch.setattr(os, "write", write)
    out, people, plot = tmp_path / "out.mp4", tmp_path / "people.csv", tmp_path / "t.png"
    code, line = _run(capfd, "--source", clip, "--model", mask_model, "--no-display", "--output", out,
                      "--csv", table, "--summary", people, "--timeline", plot)
    assert code == 2 and f"cannot write {table}: No space left on device" in line, line
    n, size = video_info(out)
    assert 0 < n < CLIP_FRAMES and size == CLIP_SIZE
    rows = read_csv(people)
    assert rows and max(int(r["last_frame"]) for r in rows) == n - 1
    assert cv2.imread(str(plot)) is not None
    assert table.read_text() == "an earlier run's rows\n"
    assert {int(r["frame"]) for r in read_csv(table.parent / "faces.partial.csv")} == set(range(n)), line
    assert sorted(p.name for p in table.parent.iterdir()) == ["faces.csv", "faces.partial.csv"]  # no temp file left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "out.mp4", "people.csv", "t.png"]
    # The loop left at the CSV's error ends its detector's threads with the run: the error's traceback held the
    # loop, and they outlived it (until a garbage collection) in a process that goes on, as facekit serve does.
    assert threads_started_here("facekit-detector") == []


def test_the_timeline_draws_each_label_in_the_videos_colour(clip, mask_model, tmp_path, monkeypatch):
    """The plot took matplotlib's default cycle: the video's green "Mask" and red "No Mask" were a blue and an
    orange curve (emotion's cyan "Happy" a red one, and orange meant disgust). Each curve now takes its label's
    drawing colour, darkened to read on white."""
    from facekit.timeline import Timeline, on_white

    saved = {}
    real_save = Timeline.save

    def save(self, path, title="", **where):
        saved["colors"] = dict(self.colors)
        return real_save(self, tmp_path / "t.svg", title)

    monkeypatch.setattr(Timeline, "save", save)
    assert main(["--source", str(clip), "--model", str(mask_model), "--tasks", "mask", "--no-display",
                 "--max-frames", "30", "--timeline", str(tmp_path / "t.png")]) == 0
    assert saved["colors"] == {"with_mask": on_white((0, 255, 0)), "without_mask": on_white((0, 0, 255))}
    svg = (tmp_path / "t.svg").read_text()
    assert "stroke: #00b200" in svg and "stroke: #b20000" in svg  # 0.7 of full green and red
    assert "#1f77b4" not in svg and "#ff7f0e" not in svg  # matplotlib's default blue and orange


def test_the_timelines_curves_are_the_probabilities_of_the_csv(clip, mask_model, tmp_path):
    """The timeline tests read only its colours, size and captions: a plot whose curves all lay flat at 0.5 (or
    had their labels swapped, or another face's values) passed. Each face's green and red curves are now read
    back from the SVG and must be the CSV's P(with_mask) of that track, frame by frame."""
    from collections import defaultdict

    table, plot = tmp_path / "faces.csv", tmp_path / "timeline.svg"
    assert main(["--source", str(clip), "--model", str(mask_model), "--tasks", "mask", "--no-display",
                 "--max-frames", "60", "--csv", str(table), "--timeline", str(plot)]) == 0
    by_track = defaultdict(list)
    for row in read_csv(table):
        if row["mask_label"]:
            by_track[int(row["track_id"])].append(float(row["mask_with_mask"]))
    plotted = sorted(t for t, ps in by_track.items() if len(ps) >= 3)  # Timeline's MIN_POINTS
    assert len(plotted) >= 3  # the clip's first 60 frames: six faces, no mask, some read unsure

    def curve(chunk, colour):  # y in SVG units (down the page) of the one long line in that colour
        lines = [d for d, style in re.findall(r'<path d="([^"]*)"[^>]*style="([^"]*)"', chunk)
                 if f"stroke: {colour}" in style]
        assert len(lines) == 1, (colour, len(lines))
        return np.array([float(y) for _, y in re.findall(r"([-\d.]+) ([-\d.]+)", lines[0])])

    axes = plot.read_text().split('<g id="axes_')[1:]
    assert len(axes) == len(plotted)
    spreads = []
    for chunk, track in zip(axes, plotted):
        chunk = chunk.split('<g id="legend_')[0]
        green, red = curve(chunk, "#00b200"), curve(chunk, "#b20000")  # with_mask, without_mask
        p = np.array(by_track[track])
        assert len(green) == len(red) == len(p), track
        # y = top - scale * P for both curves of one face: red minus green is scale * (2 P(with_mask) - 1)
        clear = np.abs(2 * p - 1) > 0.2
        spreads += list((red - green)[clear] / (2 * p - 1)[clear])
    assert len(spreads) > 50 and min(spreads) > 0 and max(spreads) - min(spreads) < 0.01 * np.median(spreads), spreads


def test_two_outputs_to_one_file_are_refused(tmp_path, clip, mask_model, capfd):
    code, line = _run(capfd, "--source", clip, "--model", mask_model, "--no-display", "--csv", tmp_path / "a.csv",
                      "--summary", tmp_path / "a.csv")
    assert code == 2 and "--csv and --summary would both write" in line
    assert list(tmp_path.iterdir()) == []


def test_a_disk_that_fills_up_keeps_no_broken_video(tmp_path, clip, mask_model):
    """OpenCV reports no write error: on a full disk it left an mp4 without its index, renamed into place and
    reported as written. Files here may not grow past 300 kB (as on a disk with that much room): 90 frames pass it."""
    out, summary = tmp_path / "out.mp4", tmp_path / "people.csv"
    res = run_script("detect_mask_video.py", "--source", clip, "--model", mask_model, "--no-display", "--output", out,
                     "--summary", summary, "--max-frames", "90", max_file_bytes=300_000)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert "could not be written whole" in one_error_line(res.stderr) and "nothing was kept" in res.stderr
    # The disk had gigabytes free: "N MB free there" alone sent one looking for space that was there.
    assert "MB free there, and files may not grow past 293 kB (ulimit -f)" in res.stderr
    assert not out.exists() and "annotated video written" not in res.stdout
    assert read_csv(summary)  # the outputs that fit are still finalized
    assert sorted(p.name for p in tmp_path.iterdir()) == ["people.csv"]  # no temp file left


def test_a_full_disk_at_the_csv_keeps_the_rows_before(tmp_path, clip, mask_model):
    """The CSV's disk filling up threw its temp file away, every row of the frames before with it (the photo
    command's JSON Lines keep their lines). Files here may not grow past 20 kB: the rows of the frames before are
    kept, each frame's whole, beside an earlier run's CSV as a stopped run's are."""
    table = tmp_path / "faces.csv"
    table.write_text("an earlier run's\n")
    res = run_script("detect_mask_video.py", "--source", clip, "--model", mask_model, "--no-display", "--csv",
                     table, "--summary", tmp_path / "people.csv", max_file_bytes=20_000)
    assert res.returncode == 2
    line = one_error_line(res.stderr)
    assert f"cannot write {table}: File too large (the rows of the " in line, line
    frames = int(re.search(r"the rows of the (\d+) frames before are kept in (\S+);", line)[1])
    assert f"kept in {tmp_path / 'faces.partial.csv'}; the other outputs stop at the same frame" in line, line
    assert table.read_text() == "an earlier run's\n"
    rows = read_csv(tmp_path / "faces.partial.csv")
    assert {int(row["frame"]) for row in rows} == set(range(frames)) and 0 < frames < CLIP_FRAMES
    assert all(None not in row and None not in row.values() for row in rows)  # no row cut short
    assert (tmp_path / "faces.partial.csv").read_text().endswith("\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces.csv", "faces.partial.csv", "people.csv"]


def test_a_run_that_keeps_nothing_removes_the_output_folder_it_made(tmp_path, clip, mask_model):
    """A video whose annotated video could not be written whole (files here may not grow past 20 kB, as on a full
    disk) left the empty `-o annotated/` the run had made; a folder of videos too. One that was there stays."""
    clips = tmp_path / "clips"
    clips.mkdir()
    video = _cut_of(clips / "a.mp4", clip, 5)
    _cut_of(clips / "b.mp4", clip, 5)
    for source in (video, clips):
        res = run_script("detect_mask_video.py", "--source", source, "--model", mask_model, "--tasks", "mask",
                         "--output", f"{tmp_path / 'annotated'}/", "--no-display", max_file_bytes=20_000)
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == ["clips"], res.stderr
    # Its summing-up said "2 broke part-way (their outputs hold the frames before)", "outputs written as each
    # video's name: annotated/NAME.mp4" and "none of the 2 video(s) could be read to its end" of videos read whole.
    said = res.stdout + res.stderr
    assert "; 2 whose outputs could not be written (above)" in said and "broke part-way" not in said, said
    assert "outputs written as" not in said, said
    assert one_error_line(res.stderr) == "[ERROR] the outputs of none of the 2 video(s) could be written (above)"
    (tmp_path / "annotated").mkdir()
    res = run_script("detect_mask_video.py", "--source", video, "--model", mask_model, "--tasks", "mask",
                     "--output", f"{tmp_path / 'annotated'}/", "--no-display", max_file_bytes=20_000)
    assert res.returncode == 2 and (tmp_path / "annotated").is_dir(), res.stderr


def test_a_full_disk_names_every_output_it_could_not_write(tmp_path, clip, mask_model):
    """On a full disk the video (removed, not whole) and then the timeline failed: the one line named the timeline
    alone, so the video's loss went unsaid, and the CSV and summary that were written were not reported. Files here
    may not grow past 30 kB (as on a disk with that much room): the line names both, and the rest is reported."""
    out, table, people, plot = tmp_path / "out.mp4", tmp_path / "faces.csv", tmp_path / "people.csv", tmp_path / "t.png"
    res = run_script("detect_mask_video.py", "--source", clip, "--model", mask_model, "--no-display", "--max-frames",
                     "40", "--output", out, "--csv", table, "--summary", people, "--timeline", plot,
                     max_file_bytes=30_000)
    assert res.returncode == 2, res.stderr
    line = one_error_line(res.stderr)
    assert f"{out}: the video could not be written whole" in line and f"cannot write {plot}: File too large" in line
    assert {int(r["frame"]) for r in read_csv(table)} == set(range(40)) and read_csv(people)
    assert f"per-frame results written to {table}" in res.stdout and f"summary written to {people}" in res.stdout
    assert "timeline written" not in res.stdout and "annotated video written" not in res.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces.csv", "people.csv"]  # no temp file left


def test_an_interrupted_run_counts_landmarks_on_the_faces_it_wrote(tmp_path, clip, mask_model):
    """A Ctrl-C while the next frame was analysed: its faces were counted in "landmarks on N of M face(s)" (67
    faces where the CSV had 65 rows), as the mesh counts a frame's faces before the loop gets the frame."""
    table = tmp_path / "faces.csv"
    code, said = interrupt_video_run("--source", clip, "--model", mask_model, "--landmarks", "--csv", table,
                                     with_stdout=True, until=frames_done(table))
    assert code == 130 and "Traceback" not in said, said
    rows = read_csv(table)
    # [INFO] where every face so far was marked (the performers alone), else [WARN] (the dark audience).
    counts = re.search(r"^\[(?:INFO|WARN)\] landmarks on (\d+) of (\d+) face", said, re.M)
    assert rows and counts, said
    assert tuple(map(int, counts.groups())) == (sum(1 for r in rows if r["yaw"]), len(rows)), said


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["ctrl-c", "sigterm", "sighup"])
def test_ctrl_c_mid_run_finalizes_outputs(tmp_path, clip, mask_model, sig):
    # SIGTERM is what docker stop / systemctl stop send: before, it left two temp files and no output.
    # SIGHUP is what a dropped ssh session sends: the same before.
    out, table = tmp_path / "out.mp4", tmp_path / "faces.csv"
    code, stderr = interrupt_video_run("--source", clip, "--model", mask_model, "--output", out, "--csv", table,
                                       sig=sig, until=frames_done(table))
    # 128 + the signal, as a shell reports a process that signal ended: 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP (every
    # one was 130, so `docker stop` or a scheduler's time limit read as a person's Ctrl-C).
    assert code == 128 + sig, stderr
    assert "Traceback" not in stderr
    n, size = video_info(out)
    assert 0 < n < CLIP_FRAMES and size == CLIP_SIZE
    rows = read_csv(table)
    assert rows and max(int(r["frame"]) for r in rows) < n + 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temp file left behind"


def test_a_run_under_nohup_outlives_the_terminal_that_started_it(tmp_path, clip, mask_model):
    """nohup leaves SIGHUP ignored so that a run outlives the ssh session that started it: the run's stop handler
    must not take SIGHUP back, or the dropped session's hang-up ends it part-way (exit 129)."""
    def nohup() -> None:
        signals_default()
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    table = tmp_path / "faces.csv"
    proc = subprocess.Popen([sys.executable, str(ROOT / "detect_mask_video.py"), "--source", str(clip), "--model",
                             str(mask_model), "--csv", str(table), "--max-frames", "30", "--no-display"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env=dict(os.environ, DISPLAY="", WAYLAND_DISPLAY=""), preexec_fn=nohup)
    line_on_stdout(proc, "starting video stream")
    proc.send_signal(signal.SIGHUP)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert {int(r["frame"]) for r in read_csv(table)} <= set(range(30)) and read_csv(table)
    assert max(int(r["frame"]) for r in read_csv(table)) >= 25


def test_a_rerun_stopped_half_way_keeps_the_whole_outputs_of_the_run_before(tmp_path, clip, mask_model):
    """A re-run into the same outputs stopped with SIGTERM (or Ctrl-C) half-way finalized its short video, CSV,
    summary and timeline under their names, over the whole ones an earlier run had written. Now they go beside
    them, named .partial, and one line says so."""
    names = {"--output": "out.mp4", "--csv": "faces.csv", "--summary": "people.csv", "--timeline": "tl.png"}
    outputs = [arg for option, name in names.items() for arg in (option, str(tmp_path / name))]
    assert main(["--source", str(clip), "--model", str(mask_model), "--no-display", "--max-frames", "30",
                 *outputs]) == 0  # whole outputs of any length: the stopped run must leave them as they are
    before = {name: (tmp_path / name).read_bytes() for name in names.values()}
    code, said = interrupt_video_run("--source", clip, "--model", mask_model, *outputs, sig=signal.SIGTERM,
                                     after=1.0, with_stdout=True, until=frames_done(tmp_path / "faces.csv"))
    assert code == 143 and "Traceback" not in said, said
    assert {name: (tmp_path / name).read_bytes() for name in names.values()} == before
    frames, size = video_info(tmp_path / "out.partial.mp4")
    assert 0 < frames < CLIP_FRAMES and size == CLIP_SIZE
    rows = read_csv(tmp_path / "faces.partial.csv")
    assert rows and max(int(r["frame"]) for r in rows) < frames
    assert read_csv(tmp_path / "people.partial.csv")
    assert cv2.imread(str(tmp_path / "tl.partial.png")) is not None
    assert (f"this run's outputs are beside them: {tmp_path / 'out.partial.mp4'}, {tmp_path / 'faces.partial.csv'}, "
            f"{tmp_path / 'people.partial.csv'}, {tmp_path / 'tl.partial.png'}") in said, said
    assert f"annotated video written to {tmp_path / 'out.partial.mp4'} ({counted(frames, 'frame')})" in said
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*names.values(), "out.partial.mp4",
                                                                 "faces.partial.csv", "people.partial.csv",
                                                                 "tl.partial.png"])


def test_a_killed_runs_temp_files_are_swept_by_the_next_run_but_not_a_live_runs(tmp_path, clip, mask_model):
    """kill -9 (the out-of-memory killer, a power cut) left a run's hidden temp video and CSV beside its outputs for
    good, the video's as big as the video, and every later run to the same outputs added none but removed none.
    The next run now removes them; a temp file another run is still writing, and anything not facekit's own
    temp file of those outputs, stay."""
    from facekit.records import make_temp

    out, table = tmp_path / "out.mp4", tmp_path / "faces.csv"
    proc = subprocess.Popen([sys.executable, str(ROOT / "detect_mask_video.py"), "--source", str(clip), "--model",
                             str(mask_model), "--output", str(out), "--csv", str(table), "--no-display"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    line_on_stdout(proc, "starting video stream")
    # Killed once both temp files are there and a frame is in them: 1.5 s after that line was too soon on a loaded
    # machine, the source still being opened (the minute is a hang's bound, not a wait: it ends at the frame).
    deadline = time.monotonic() + 60
    while not (frames_done(out)() and frames_done(table)()) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.kill()
    proc.wait(timeout=30)
    killed = {p.name for p in tmp_path.iterdir()}
    assert len(killed) == 2 and all(name.startswith((".out.", ".faces.csv.")) for name in killed), killed
    live_fd, live = make_temp(table)  # another run writing faces.csv right now: it holds its temp file's lock
    others = [".out.mp4.bak", ".faces.csv.notes", "faces.csv.part", ".faces.csv.ABCDEFGH.part", ".other.abcdefgh.part"]
    for name in others:
        (tmp_path / name).write_text("mine")
    try:
        assert main(["--source", str(clip), "--model", str(mask_model), "--no-display", "--max-frames", "10",
                     "--output", str(out), "--csv", str(table)]) == 0
        left = {p.name for p in tmp_path.iterdir()}
        assert not killed & left, left
        assert left == {"out.mp4", "faces.csv", Path(live).name, *others}
        assert all((tmp_path / name).read_text() == "mine" for name in others)
        assert video_info(out) == (10, CLIP_SIZE) and {int(r["frame"]) for r in read_csv(table)} == set(range(10))
    finally:
        os.close(live_fd)


def test_a_stopped_runs_partial_video_never_replaces_the_video_it_reads(tmp_path, clip, mask_model):
    """`--source out.partial.mp4 --output out.mp4`, out.mp4 there, stopped: the partial name this run's video took
    was its own source, which it replaced."""
    source, out = tmp_path / "out.partial.mp4", tmp_path / "out.mp4"
    shutil.copy(clip, source)
    out.write_bytes(b"an earlier run's video")
    code, said = interrupt_video_run("--source", source, "--model", mask_model, "--output", out, with_stdout=True,
                                     until=frames_done(out))
    assert code == 130, said
    assert source.read_bytes() == clip.read_bytes() and out.read_bytes() == b"an earlier run's video"
    frames, size = video_info(tmp_path / "out.partial-2.mp4")
    assert 0 < frames < CLIP_FRAMES and size == CLIP_SIZE
    assert f"this run's output is beside it: {tmp_path / 'out.partial-2.mp4'}" in said, said


def test_a_ctrl_c_that_a_library_swallows_still_stops_the_run(tmp_path, clip, mask_model, monkeypatch, capfd):
    """numpy's Cython start-up, run by a lazy `import scipy.optimize` in the first frames, cleared the
    KeyboardInterrupt raised inside it: that run went on to the clip's end and exit 0 (about 1 run in 40 of
    the start-up test below). Here the third frame's read swallows one the same way."""
    read, reads = FrameSource.read, []

    def read_and_swallow(self):
        reads.append(1)
        if len(reads) == 3:
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.5)  # the handler runs at the first bytecode after the signal
            except KeyboardInterrupt:
                pass
        return read(self)

    monkeypatch.setattr(FrameSource, "read", read_and_swallow)
    table = tmp_path / "faces.csv"
    code = main(["--source", str(clip), "--model", str(mask_model), "--no-display", "--csv", str(table)])
    stderr = capfd.readouterr().err
    assert code == 130 and "[INFO] interrupted: outputs finalized" in stderr and "Traceback" not in stderr
    assert 0 < len({r["frame"] for r in read_csv(table)}) < 20 and len(reads) < 20
    assert [p.name for p in tmp_path.iterdir()] == ["faces.csv"]


@pytest.mark.parametrize("delay", [0.3, 0.8, 1.5])
def test_ctrl_c_during_start_up_is_one_line(tmp_path, clip, mask_model, delay):
    # `delay` counts from the script's start. Counted from the process's, 0.3 s on a loaded machine fell in
    # Python's own start-up (site's imports), before the script's first line: Python's traceback, which no
    # script can help. Its start is said on standard output, then the script runs as `python script.py` does.
    script = ("import runpy, sys; print('the script starts', flush=True); sys.argv = sys.argv[1:]; "
              "runpy.run_path(sys.argv[0], run_name='__main__')")
    proc = subprocess.Popen([sys.executable, "-c", script, str(ROOT / "detect_mask_video.py"), "--source", str(clip),
                             "--model", str(mask_model), "--output", str(tmp_path / "o.mp4"), "--no-display"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            preexec_fn=signals_default)
    line_on_stdout(proc, "the script starts")
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode in (130, -signal.SIGINT), stderr
    assert "Traceback" not in stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# --- heads every K frames --------------------------------------------------------------------------------


class _Frames:
    """A frame source (the interface track_faces reads) over frames held in memory."""

    live = False

    def __init__(self, frames: list[np.ndarray]):
        self.frames, self.size = frames, (frames[0].shape[1], frames[0].shape[0])
        self.i = 0

    def read(self):
        if self.i >= len(self.frames):
            return None
        self.i += 1
        return self.i - 1, self.frames[self.i - 1]


class _CountingHead:
    """The real mask head, counting the faces it is asked about."""

    def __init__(self, head):
        self.head, self.labels, self.calls = head, head.labels, 0

    def predict_boxes(self, image, boxes, keypoints=None):
        self.calls += len(boxes)
        return self.head.predict_boxes(image, boxes, keypoints)


class _FoundOnce:
    """A detector that finds each frame's faces once: tests that run the same frames through the pipeline more
    than once (to compare two settings) get the same faces each time, at the cost of one detection a frame."""

    def __init__(self, detector):
        self.detector, self.seen = detector, {}

    def detect(self, image, **options):
        import copy
        import hashlib

        key = (hashlib.blake2b(image.tobytes(), digest_size=16).digest(), tuple(sorted(options.items())))
        if key not in self.seen:
            self.seen[key] = self.detector.detect(image, **options)
        return [copy.copy(face) for face in self.seen[key]]

    def __getattr__(self, name):
        return getattr(self.detector, name)


@pytest.fixture(scope="module")
def steady_detector():
    """The video detector, each of the steady clip's frames detected once for every head_every setting."""
    from facekit.detection import create_detector

    return _FoundOnce(create_detector(fine_pass=False))


def _steady_clip(media) -> list[np.ndarray]:
    """A still shot of two people (two_people.jpg) for 16 frames, the camera drifting 1 px a frame."""
    from facekit.preprocess import load_image

    photo = load_image(media / "two_people.jpg")
    return [np.ascontiguousarray(np.roll(photo, i, axis=1)) for i in range(16)]


@pytest.mark.parametrize("every", [2, 4])
def test_head_every_runs_heads_less_often_but_keeps_a_steady_faces_labels(media, mask_model, steady_detector, every):
    from facekit.heads import Head
    from facekit.pipeline import FacePipeline, track_faces
    from facekit.tracking import IoUTracker

    frames = _steady_clip(media)
    detector, head = steady_detector, Head.load(mask_model)
    labels, calls = {}, {}
    for k in (1, every):
        counter = _CountingHead(head)
        pipeline = FacePipeline(detector, {"mask": counter})
        labels[k] = [[(f.track_id, f.predictions["mask"].label) for f in faces]
                     for _, _, faces in track_faces(_Frames(frames), pipeline, IoUTracker(), head_every=k)]
        calls[k] = counter.calls
    n_faces = len(labels[1][0])
    assert n_faces == 2 and all(len(f) == n_faces for f in labels[1])
    assert calls[1] == n_faces * len(frames)
    # New tracks at once, each one's staggered turn, then every K-th frame: about 1/K of the work.
    assert calls[every] <= n_faces * (2 + len(frames) // every)
    assert labels[every] == labels[1]
    # The stage timer saw the head run on exactly those faces.
    assert pipeline.times.faces["head:mask"] == calls[every]


class _StillFace:
    """A detector that finds one face, always in the same place."""

    def detect(self, image, closeup=True):
        from facekit.types import Face

        return [Face(box=Box(100, 60, 220, 180), score=0.9)]


class _Turning:
    """A head whose first reading is sure of one label and every later one of the other."""

    labels = ["a", "b"]

    def __init__(self):
        self.calls = 0

    def predict_boxes(self, image, boxes, keypoints=None):
        from facekit.types import Prediction

        self.calls += 1
        return [Prediction.from_probabilities(self.labels, [0.99, 0.01] if self.calls == 1 else [0.1, 0.9])
                for _ in boxes]


def test_a_followed_face_between_searches_smooths_as_a_searched_one_does():
    """Between searches (--detect-every) a face is where its track predicts. Had it kept the track's last labels,
    they would count as a head's fresh reading on frames its head skipped (--head-every): smoothing would weigh
    the head's next reading as one frame's, not as those of all the frames it skipped, and the labels would
    differ from the same still face searched on every frame."""
    from facekit.pipeline import FacePipeline, track_faces
    from facekit.tracking import IoUTracker

    frames = [np.full((240, 320, 3), 128, np.uint8)] * 8
    shown = {}
    for k in (1, 4):
        loop = track_faces(_Frames(frames), FacePipeline(_StillFace(), {"mask": _Turning()}), IoUTracker(smooth=0.6),
                           detect_every=k, head_every=4)
        shown[k] = [round(faces[0].predictions["mask"].probabilities["b"], 4) for _, _, faces in loop]
    assert shown[4] == shown[1]
    assert shown[1][0] == 0.01 and shown[1][-1] > 0.5


class _CloseupSpy:
    """The video detector, recording whether each call asked for the close-up pass."""

    optional_closeup = True

    def __init__(self, detector):
        self.detector, self.asked = detector, []

    def detect(self, image, closeup=True):
        self.asked.append(closeup)
        return self.detector.detect(image, closeup=closeup)


def test_video_closeup_pass_every_third_frame_and_every_frame_for_a_close_face(media):
    """In video the close-up pass runs on every 3rd detection while faces are small, and on every one
    once a face fills the frame: someone leaning into the webcam is found, then kept, frame after frame."""
    from bench.detection import closeup_views
    from facekit.detection import create_detector
    from facekit.pipeline import CLOSEUP_EVERY, FacePipeline, track_faces
    from facekit.preprocess import load_image
    from facekit.tracking import IoUTracker

    detector = create_detector("scrfd-500m", fine_pass=False)
    small = _steady_clip(media)[:9]  # two people, faces ~15% of the frame
    spy = _CloseupSpy(detector)
    list(track_faces(_Frames(small), FacePipeline(spy), IoUTracker()))
    assert spy.asked == [i % CLOSEUP_EVERY == 0 for i in range(len(small))]

    # The astronaut's face filling a 640x480 frame top to bottom: only the close-up pass finds it.
    photo = load_image(media / "astronaut.png")
    face = max(detector.detect(photo), key=lambda f: f.box.width).box
    _, frame, _ = closeup_views(photo, face.as_list(), height=480, fills=(1.0,), edges=())[0]
    close = [frame] * 6
    assert not detector.detect(frame, closeup=False) and detector.detect(frame)
    spy = _CloseupSpy(detector)
    found = [len(faces) for _, _, faces in track_faces(_Frames(close), FacePipeline(spy), IoUTracker())]
    assert spy.asked == [True] * len(close)
    assert found == [1] * len(close)


def test_video_closeup_decisions_do_not_depend_on_the_cores(media):
    """SCRFD's close-up decisions looked as many frames back as it had workers (1 on one core, 4 on two),
    so FACEKIT_THREADS=1 and 2 gave a video different boxes and labels (11 of the hamilton clip's 615)."""
    from bench.detection import closeup_views
    from facekit import runtime
    from facekit.detection import create_detector
    from facekit.pipeline import FacePipeline, track_faces
    from facekit.preprocess import load_image
    from facekit.tracking import IoUTracker

    detector = create_detector("scrfd-500m", fine_pass=False)
    photo = load_image(media / "astronaut.png")
    face = max(detector.detect(photo), key=lambda f: f.box.width).box
    _, frame, _ = closeup_views(photo, face.as_list(), height=480, fills=(1.0,), edges=())[0]
    asked = {}
    for n in (1, 2):
        runtime.set_threads(n)
        try:
            spy = _CloseupSpy(detector)
            spy.concurrent = True
            list(track_faces(_Frames([frame] * 8), FacePipeline(spy), IoUTracker()))
        finally:
            runtime.set_threads(None)
        asked[n] = spy.asked
    assert asked[1] == asked[2], asked


def test_head_every_option_labels_every_face_of_every_frame(tmp_path, clip, mask_model):
    table = tmp_path / "faces.csv"
    assert main(["--source", str(clip), "--model", str(mask_model), "--no-display", "--max-frames", "30",
                 "--head-every", "3", "--csv", str(table)]) == 0
    rows = read_csv(table)
    assert len({int(r["frame"]) for r in rows}) == 30
    # Faces too small or too dark for the heads have no label, with or without --head-every; every other
    # face has one.
    from facekit.pipeline import MIN_BRIGHTNESS_FOR_HEADS, brightness
    from facekit.types import Box

    cap = cv2.VideoCapture(str(clip))
    frames = [cap.read()[1] for _ in range(30)]
    big = [r for r in rows if min(int(r["x2"]) - int(r["x1"]), int(r["y2"]) - int(r["y1"])) >= 16]
    lit = [r for r in big if brightness(frames[int(r["frame"])], Box(*(int(r[k]) for k in ("x1", "y1", "x2", "y2"))))
           >= MIN_BRIGHTNESS_FOR_HEADS]
    assert lit and all(r["mask_label"] in ("with_mask", "without_mask") for r in lit)


def test_head_every_zero_is_refused(clip, mask_model, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--source", str(clip), "--model", str(mask_model), "--no-display", "--head-every", "0"])
    assert exc.value.code == 2
    assert "--head-every" in capsys.readouterr().err


@pytest.mark.parametrize("option, value, said", [("--every", "x", "expected a whole number, got 'x'"),
                                                  ("--smooth", "lots", "expected a number, got 'lots'"),
                                                  ("--confidence", "high", "expected a number, got 'high'")])
def test_a_word_where_a_number_goes_says_so(clip, capsys, option, value, said):
    """argparse's own wording named the type function: "argument --every: invalid positive_int value: 'x'"."""
    with pytest.raises(SystemExit) as exc:
        main(["--source", str(clip), "--no-display", option, value])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and option in err.splitlines()[-1] and said in err.splitlines()[-1], err
    assert "_int" not in err and "strength" not in err and "probability" not in err, err


def test_landmarks_follow_tracks_with_fewer_model_runs_and_the_same_points(clip):
    """Video landmarks start from the track's last landmarks (MediaPipe's tracking mode): fewer runs of
    the mesh model, every face the per-frame path marks still marked, at nearly the same points."""
    from facekit.detection import create_detector
    from facekit.landmarks import create_landmarker
    from facekit.pipeline import FacePipeline, track_faces
    from facekit.tracking import IoUTracker

    detector, found, runs = _FoundOnce(create_detector(fine_pass=False)), {}, {}  # both passes: the same frames
    for track in (False, True):
        mesh = create_landmarker(track=track)
        with FrameSource(str(clip)) as source:
            loop = track_faces(source, FacePipeline(detector, {}, mesh), IoUTracker())
            found[track] = {(i, f.box): (f.landmarks[:, :2], f.box.width)
                            for i, _, faces in loop for f in faces if f.landmarks is not None}
        runs[track] = mesh.invocations
    assert len(found[False]) > 250
    assert set(found[False]) <= set(found[True])
    assert runs[True] < 0.75 * runs[False]
    error = [np.linalg.norm(found[False][k][0] - found[True][k][0], axis=1).mean() / found[False][k][1]
             for k in found[False]]
    assert np.median(error) < 0.02  # of the face's width


# --- int8 heads ------------------------------------------------------------------------------------------

PHOTOS = ["example_01.png", "example_02.png", "example_03.png", "obama.jpg", "two_people.jpg", "12_angry_men.jpg",
          "solvay_conference.jpg", "astronaut.png", "kit_with_rose.jpg", "crowd_masks.jpg", "obama_and_biden.jpg"]


def test_int8_twin_is_used_only_while_it_matches_model_tflite(tmp_path, mask_model):
    import json
    import shutil

    from facekit.assets import sha256sum
    from facekit.heads import INT8, INT8_RECORD, Head

    folder = tmp_path / "mask"
    folder.mkdir()
    for name in (CARD, TFLITE):
        shutil.copy(mask_model / name, folder / name)
    assert Head.load(folder, int8=True).model_path.name == TFLITE  # no twin
    shutil.copy(mask_model / TFLITE, folder / INT8)  # any valid TFLite stands in for the int8 file here
    (folder / INT8_RECORD).write_text(json.dumps({"source_sha256": sha256sum(folder / TFLITE)}))
    assert Head.load(folder, int8=True).model_path.name == INT8
    assert Head.load(folder, int8=False).model_path.name == TFLITE
    # model.tflite retrained (another hash): the twin no longer speaks for it.
    (folder / INT8_RECORD).write_text(json.dumps({"source_sha256": "0" * 64}))
    assert Head.load(folder, int8=True).model_path.name == TFLITE


@pytest.fixture(scope="module")
def photo_faces(media) -> list[tuple[np.ndarray, list[Box]]]:
    """Each of PHOTOS with its faces of 16 px or more, found once for every head's int8 test."""
    from facekit.detection import create_detector
    from facekit.preprocess import load_image

    detector, found = create_detector(), []
    for name in PHOTOS:
        image = load_image(media / name)
        found.append((image, [f.box for f in detector.detect(image) if min(f.box.width, f.box.height) >= 16]))
    return found


@pytest.mark.parametrize("task", ["mask", "emotion", "gender"])
def test_shipped_int8_head_agrees_with_its_fp16_twin_on_the_test_photos(photo_faces, task):
    from facekit.heads import INT8, Head, available_tasks, int8_twin

    folder = available_tasks().get(task)
    if folder is None or int8_twin(folder) is None:
        pytest.skip(f"no int8 {task} model shipped")
    int8, fp16 = Head.load(folder, int8=True), Head.load(folder, int8=False)
    assert int8.model_path.name == INT8 and fp16.model_path.name == TFLITE
    p8, p16 = [], []
    for image, boxes in photo_faces:
        p8 += [list(p.probabilities.values()) for p in int8.predict_boxes(image, boxes)]
        p16 += [list(p.probabilities.values()) for p in fp16.predict_boxes(image, boxes)]
    p8, p16 = np.array(p8), np.array(p16)
    assert len(p16) > 40
    top = np.sort(p16, axis=1)
    clear = top[:, -1] - top[:, -2] >= 0.3  # a near-tie may go either way in either model
    assert clear.sum() > 20
    assert (p8.argmax(1) == p16.argmax(1))[clear].all()
    assert np.abs(p8 - p16).mean() < 0.05


def test_detector_ahead_gives_the_same_faces_and_labels(clip, mask_model):
    """track_faces runs the detector on the next frames on worker threads while this frame's heads run
    (SCRFD: several workers): the faces, boxes and labels are those of the plain loop, frame for frame,
    on the real clip."""
    from facekit.detection import create_detector
    from facekit.heads import Head
    from facekit.pipeline import FacePipeline, track_faces
    from facekit.tracking import IoUTracker

    pipeline = FacePipeline(create_detector("scrfd-500m", fine_pass=False), {"mask": Head.load(mask_model)})
    runs = {}
    for overlap in (False, True):
        with FrameSource(str(clip)) as source:
            runs[overlap] = [(i, [(f.box, f.track_id, f.predictions["mask"].label if "mask" in f.predictions else None)
                                  for f in faces])
                             for i, _, faces in track_faces(source, pipeline, IoUTracker(), max_frames=40,
                                                            head_every=2, overlap=overlap)]
        assert pipeline.times.beside == ({"detector"} if overlap else set())
    assert len(runs[True]) == 40 and sum(len(faces) for _, faces in runs[True]) > 40
    assert runs[True] == runs[False]


class _CountingDetector:
    """Wraps a detector; records how many of its calls overlapped and on which threads they ran."""

    name, confidence = "counting", 0.5

    def __init__(self, detector, concurrent):
        import threading

        self.detector, self.concurrent = detector, concurrent
        self.lock, self.running, self.most, self.threads = threading.Lock(), 0, 0, set()

    def detect(self, image, closeup=True):
        import threading
        import time

        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.threads.add(threading.current_thread().name)
        try:
            time.sleep(0.01)  # long enough for the next frame's call to start beside this one
            return self.detector.detect(image)
        finally:
            with self.lock:
                self.running -= 1


def test_engines_and_detector_workers_follow_the_cores_this_process_may_use(monkeypatch, tmp_path):
    """Under `taskset -c 0` each engine ran 2 threads and SCRFD 4 workers, all on one core (os.cpu_count()
    counts the machine's); a container's CPU quota (docker --cpus 1.5) limits them the same way."""
    from facekit import runtime

    monkeypatch.delenv("FACEKIT_THREADS", raising=False)
    monkeypatch.setattr(runtime, "_override", None)
    monkeypatch.setattr(runtime, "CGROUP_CPU_MAX", str(tmp_path / "none"))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    monkeypatch.setattr(runtime, "usable_cores", runtime.usable_cores.__wrapped__)  # uncached: asked anew
    assert runtime.usable_cores() == 1 and runtime.threads() == 1 and runtime.video_detector_workers() == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    monkeypatch.setattr(runtime, "CGROUP_CPU_MAX", str(tmp_path / "cpu.max"))
    assert runtime.usable_cores() == 2 and runtime.threads() == 2 and runtime.video_detector_workers() == 4
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert runtime.usable_cores() == 8 and runtime.threads() == 4  # at most 4 an engine


@pytest.mark.parametrize("concurrent", [True, False])
def test_a_concurrent_detector_gets_a_worker_per_core_and_others_one(media, concurrent):
    """With 2 cores allowed, a detector that says it may run on several threads at once gets 4 workers
    running side by side, in frame order; one that does not (YuNet, res10: one OpenCV network) never
    runs twice at once. SCRFD's workers each get a one-thread session."""
    from facekit import runtime
    from facekit.detection import create_detector
    from facekit.pipeline import FacePipeline, detector_workers, track_faces
    from facekit.tracking import IoUTracker

    frames = _steady_clip(media)[:12]
    scrfd = create_detector("scrfd-500m", fine_pass=False)
    runtime.set_threads(2)
    try:
        counting = _CountingDetector(scrfd, concurrent)
        assert detector_workers(counting) == (4 if concurrent else 1)
        got = [(i, len(faces)) for i, _, faces in track_faces(_Frames(frames), FacePipeline(counting),
                                                              IoUTracker())]
        if concurrent:
            assert 1 in scrfd._sessions  # the workers' one-thread session, beside the process-wide one
        assert detector_workers(scrfd) == 4
    finally:
        runtime.set_threads(None)
    assert [i for i, _ in got] == list(range(12)) and all(n == 2 for _, n in got)
    assert counting.most == (4 if concurrent else 1) and len(counting.threads) == counting.most

    # A camera or stream keeps one frame in flight: more would only show each picture later.
    live = _Frames(frames)
    live.live = True
    runtime.set_threads(2)
    try:
        counting = _CountingDetector(scrfd, concurrent)
        assert len(list(track_faces(live, FacePipeline(counting), IoUTracker()))) == 12
    finally:
        runtime.set_threads(None)
    assert counting.most == 1


class _FailingDetector:
    name, confidence = "failing", 0.5

    def __init__(self, detector, fail_at):
        self.detector, self.fail_at, self.calls = detector, fail_at, 0

    def detect(self, image, closeup=True):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("detector broke on this frame")
        return self.detector.detect(image)


def test_a_detector_error_on_its_thread_reaches_the_caller_and_an_early_stop_leaves_no_thread(media,
                                                                                               threads_started_here):
    from facekit.detection import create_detector
    from facekit.pipeline import FacePipeline, track_faces
    from facekit.tracking import IoUTracker

    frames = _steady_clip(media)[:6]
    detector = create_detector("scrfd-500m", fine_pass=False)
    loop = track_faces(_Frames(frames), FacePipeline(_FailingDetector(detector, 3)), IoUTracker())
    got = []
    with pytest.raises(RuntimeError, match="detector broke"):
        for i, _, faces in loop:
            got.append(i)
    assert got == [0, 1]  # the frames before the failing one came out whole

    loop = track_faces(_Frames(frames), FacePipeline(detector), IoUTracker())
    next(loop)
    loop.close()  # the caller stops after one frame (Ctrl-C, --max-frames): the worker is shut down
    assert threads_started_here("facekit-detector") == []


@pytest.mark.parametrize("name", ["out.gif", "out"])
def test_a_wrong_video_extension_names_mkv_too(tmp_path, clip, mask_model, capfd, name):
    """The refusal lists .mkv, which --help and the README recommend for a camera (it survives a kill)."""
    code, line = _run(capfd, "--source", clip, "--model", mask_model, "--no-display", "--output", tmp_path / name)
    assert code == 2 and ".mp4, .mkv, .avi or .webm" in line, line


def test_an_output_named_only_by_its_extension_is_told_to_be_named(tmp_path, clip, mask_model, capfd):
    """`-o .mp4` is a hidden file with no extension to Python and OpenCV: the refusal said it "needs a video extension
    such as .mp4" and showed ".mp4", the one typed. Now it says what is wrong and what to type."""
    code, line = _run(capfd, "--source", clip, "--model", mask_model, "--no-display", "--output", tmp_path / ".mp4")
    assert code == 2 and line == (f"[ERROR] --output {tmp_path / '.mp4'} is a hidden file's name with no extension: "
                                  f"name the video, e.g. {tmp_path / 'annotated.mp4'}"), line
    assert list(tmp_path.iterdir()) == []


def test_help_says_the_pose_units_and_signs():
    """A researcher reading --help (or a CSV's yaw column) could not tell degrees from radians, nor which
    way is positive: the signs were only in facekit/landmarks.py's docstring."""
    from facekit.cli.video import build_parser

    text = " ".join(build_parser().format_help().split())
    landmarks = text[text.index("--landmarks"):]
    assert "degrees" in landmarks and "yaw > 0" in landmarks and "roll > 0" in landmarks, landmarks
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "are **degrees**" in readme and "`yaw` > 0 when the face points toward the" in readme


def test_a_video_name_that_is_not_utf8_is_one_line(tmp_path, clip, mask_model):
    """OpenCV's bindings crash the process on a name Python holds as surrogate escapes (an old archive's Latin-1
    "clip\\xe9.mp4"): as a source or an --output it was a SIGSEGV, exit 139, no message."""
    latin1 = tmp_path / os.fsdecode(b"clip\xe9.mp4")
    latin1.write_bytes(clip.read_bytes())
    for args in (["--source", latin1], ["--source", clip, "--output", tmp_path / os.fsdecode(b"out\xe9.mp4")]):
        res = run_script("detect_mask_video.py", *args, "--model", mask_model, "--no-display", "--max-frames", 3,
                         timeout=120)
        assert res.returncode == 2, res.stderr
        assert res.stderr.strip().splitlines()[-1].endswith(".mp4: OpenCV cannot open a file whose name is not "
                                                            "UTF-8; rename it"), res.stderr
        assert "\\xe9" in res.stderr.strip().splitlines()[-1]
    assert [p.name for p in tmp_path.iterdir()] == [latin1.name]


def test_a_folder_with_a_video_whose_name_is_not_utf8_does_the_others_with_output_folders(tmp_path, clip,
                                                                                            mask_model):
    """A folder run skips a video OpenCV cannot open by its name ("cl\\xe9ment.mp4") and does the others; with
    -o FOLDER/ the check of that video's output, named as it is, refused the whole run before any work ("[ERROR]
    out/cl\\xe9ment.mp4: OpenCV cannot open a file whose name is not UTF-8; rename it", exit 2, nothing done)."""
    videos = tmp_path / "videos"
    videos.mkdir()
    latin1 = videos / os.fsdecode(b"cl\xe9ment.mp4")
    shutil.copy(clip, latin1)
    shutil.copy(clip, videos / "walk.mp4")
    res = run_script("detect_mask_video.py", "--source", videos, "-o", tmp_path / "out", "--csv", tmp_path / "csv",
                     "--model", mask_model, "--no-display", "--max-frames", 3, timeout=120)
    assert res.returncode == 1, res.stderr
    assert "[ERROR]" not in res.stderr and re.search(r"\[WARN\] skipped .*cl\\xe9ment\.mp4: OpenCV cannot open a file "
                                                     r"whose name is not UTF-8; rename it", res.stderr), res.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["walk.mp4"]
    assert video_info(tmp_path / "out" / "walk.mp4") == (3, CLIP_SIZE)
    assert {row["frame"] for row in read_csv(tmp_path / "csv" / "walk.csv")} == set("012")


def _uhd_scenes(datasets, video: Path, frames: int = 1) -> list[Box]:
    """40 mask_scenes_val street scenes tiled into a 3840x2160 frame (190 faces, most 16-64 px wide), written
    `frames` times to `video` (MJPG); their true face boxes."""
    import csv as csv_module
    from collections import defaultdict

    scenes = datasets / "mask_scenes_val"
    truth = defaultdict(list)
    with open(scenes / "boxes.csv", newline="") as fh:
        for r in csv_module.DictReader(fh):
            truth[r["image"]].append([float(r[k]) for k in ("xmin", "ymin", "xmax", "ymax")])
    canvas, boxes = np.full((2160, 3840, 3), 127, dtype=np.uint8), []
    for i, name in enumerate(sorted(truth)[:40]):
        image = cv2.imread(str(scenes / name))
        f = min(1.0, 480 / image.shape[1], 432 / image.shape[0])
        image = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1 else image
        x0, y0 = (i % 8) * 480, (i // 8) * 432
        canvas[y0:y0 + image.shape[0], x0:x0 + image.shape[1]] = image
        boxes += [Box(*(round(v) for v in np.array(b) * f + [x0, y0, x0, y0])) for b in truth[name]]
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30, (3840, 2160))
    for _ in range(frames):
        writer.write(canvas)
    writer.release()
    return boxes


def test_a_4k_videos_small_faces_need_fine_pass_and_the_run_says_so(datasets, tmp_path):
    """A 4K video's one pass per frame sees it shrunk to 1280 px: of the faces of 40 mask_scenes_val street
    scenes tiled into a 3840x2160 frame (most 16-64 px wide) it found 0.28, and said nothing. The run now says so
    and names --fine-pass, which searches full-size tiles and finds 0.70; a 640x360 video gets no such line."""
    video = tmp_path / "uhd.avi"
    boxes = _uhd_scenes(datasets, video)
    recall = {}
    for extra in ((), ("--fine-pass",)):
        out = tmp_path / f"faces{len(extra)}.csv"
        res = run_script("detect_mask_video.py", "-s", video, "--no-display", "--tasks", "mask", "--csv", out, *extra)
        assert res.returncode == 0, res.stderr
        hint = [line for line in res.stdout.splitlines() if "frames are searched for faces shrunk" in line]
        assert bool(hint) == (not extra), res.stdout
        if hint:
            assert hint[0].startswith("[INFO] 3840x2160 frames are searched for faces shrunk to 1280x720: faces "
                                      "narrower than about 60 px are often missed; --fine-pass"), hint
        found = [Box(*(int(r[k]) for k in ("x1", "y1", "x2", "y2"))) for r in read_csv(out)]
        recall[extra] = sum(any(f.iou(b) >= 0.5 for f in found) for b in boxes) / len(boxes)
    assert recall[()] < 0.4 and recall[("--fine-pass",)] > 0.6, recall


def test_the_4k_line_names_detect_every_which_keeps_a_still_scenes_small_faces(datasets, tmp_path):
    """The 4K line named only --fine-pass, at 11x the detector time. --fine-pass --detect-every K searches every
    K-th frame and the tracker carries the faces between: on a still scene as many faces on every frame for 1/K of
    the searches. The line names it (and README says what a moving camera costs), except to a run that has it."""
    video = tmp_path / "uhd.avi"
    boxes = _uhd_scenes(datasets, video, frames=5)
    out = tmp_path / "faces.csv"
    res = run_script("detect_mask_video.py", "-s", video, "--no-display", "--tasks", "mask", "--max-frames", "1")
    assert res.returncode == 0, res.stderr
    hint = [line for line in res.stdout.splitlines() if "frames are searched for faces shrunk" in line]
    assert len(hint) == 1 and "; --fine-pass --detect-every K searches every K-th frame only" in hint[0], hint
    res = run_script("detect_mask_video.py", "-s", video, "--no-display", "--tasks", "mask", "--csv", out,
                     "--detect-every", "5")  # one pass a 5th frame: the line is still said, without the lever
    hint = [line for line in res.stdout.splitlines() if "frames are searched for faces shrunk" in line]
    assert res.returncode == 0 and len(hint) == 1 and "--detect-every" not in hint[0], res.stdout
    res = run_script("detect_mask_video.py", "-s", video, "--no-display", "--tasks", "mask", "--csv", out,
                     "--fine-pass", "--detect-every", "5")
    assert res.returncode == 0, res.stderr
    rows = read_csv(out)
    recall = []
    for frame in range(5):  # frame 0 searched, 1-4 carried by the tracker
        found = [Box(*(int(r[k]) for k in ("x1", "y1", "x2", "y2"))) for r in rows if r["frame"] == str(frame)]
        recall.append(sum(any(f.iou(b) >= 0.5 for f in found) for b in boxes) / len(boxes))
    assert min(recall) > 0.6, recall


def test_the_big_frame_line_of_a_one_pixel_high_video_names_no_zero_size(tmp_path):
    """A 5000x1 image sequence said its frames were "searched for faces shrunk to 1280x0": the detector shrinks
    them to 1 px at the least, and the line says what it does."""
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"{i:04d}.png"), np.full((1, 5000, 3), 128, np.uint8))
    res = run_script("detect_mask_video.py", "-s", tmp_path / "%04d.png", "--no-display", "--tasks", "mask")
    assert res.returncode == 0, res.stderr
    hint = [line for line in res.stdout.splitlines() if "frames are searched for faces shrunk" in line]
    assert len(hint) == 1 and "5000x1 frames are searched for faces shrunk to 1280x1:" in hint[0], res.stdout


def test_a_small_video_gets_no_big_frame_line(clip, tmp_path):
    res = run_script("detect_mask_video.py", "-s", clip, "--no-display", "--tasks", "mask", "--max-frames", "2")
    assert res.returncode == 0, res.stderr
    assert "frames are searched for faces shrunk" not in res.stdout + res.stderr, res.stdout


def test_a_video_named_in_any_script_prints_on_a_windows_console(tmp_path, clip, mask_model):
    """On a cp1252 console (PYTHONIOENCODING=cp1252) "[INFO] annotated video written to 東京.mp4" was a
    UnicodeEncodeError traceback and exit 1 after the whole run; the line is now printed, the name escaped."""
    source, out, table = tmp_path / "vidéo.mp4", tmp_path / "東京.mp4", tmp_path / "東京.csv"
    os.symlink(clip, source)
    res = subprocess.run([sys.executable, str(ROOT / "detect_mask_video.py"), "-s", source, "-o", out, "--csv",
                          table, "--max-frames", "5", "--no-display", "--tasks", "mask"], capture_output=True,
                         timeout=300, cwd=ROOT, env={**os.environ, "PYTHONIOENCODING": "cp1252"})
    stdout, stderr = res.stdout.decode("cp1252"), res.stderr.decode("cp1252")
    assert res.returncode == 0 and "Traceback" not in stderr, stderr
    assert f"annotated video written to {tmp_path}/\\u6771\\u4eac.mp4 (5 frames)" in stdout
    assert video_info(out) == (5, CLIP_SIZE) and {row["frame"] for row in read_csv(table)} == set("01234")


def test_a_video_named_in_utf8_opens_under_a_locale_that_is_not(tmp_path, clip, mask_model):
    """Under LC_ALL=C with PYTHONUTF8=0 vidéo.mp4 (a UTF-8 name) was refused with "OpenCV cannot open a file whose
    name is not UTF-8; rename it", and so was an --output 東京.mp4: Python holds such names as surrogate escapes.
    OpenCV is given their real UTF-8 names; a name that is not UTF-8 is still the one line."""
    source, out = tmp_path / "vidéo.mp4", tmp_path / "東京.mp4"
    os.symlink(clip, source)
    c_locale = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0"}
    res = run_script("detect_mask_video.py", "-s", source, "-o", out, "--max-frames", "5", "--no-display",
                     "--tasks", "mask", env=c_locale)
    assert res.returncode == 0, res.stderr
    assert video_info(out) == (5, CLIP_SIZE)
    latin1 = os.fsencode(tmp_path) + b"/caf\xe9.mp4"
    os.symlink(clip, latin1)
    res = subprocess.run([sys.executable, str(ROOT / "detect_mask_video.py"), b"-s", latin1, b"--no-display"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT, env={**os.environ, **c_locale})
    assert res.returncode == 2 and one_error_line(res.stderr).endswith(
        "caf\\xe9.mp4: OpenCV cannot open a file whose name is not UTF-8; rename it")


def _head_with_labels_in_utf8(mask_model: Path, folder: Path) -> Path:
    """The mask head as a user's own, its classes named in German and Japanese, its card saved as a UTF-8 text
    editor saves it (not \\u-escaped)."""
    import json

    shutil.copytree(mask_model, folder)
    card = json.loads((folder / CARD).read_text(encoding="utf-8"))
    names = {"with_mask": "mit_Maske_ü", "without_mask": "ohne_東京"}
    card.update(task="maske", labels=[names[k] for k in card["labels"]],
                display={names[k]: v for k, v in card["display"].items()},
                colors={names[k]: v for k, v in card["colors"].items()})
    (folder / CARD).write_text(json.dumps(card, indent=2, ensure_ascii=False), encoding="utf-8")
    return folder


def test_csv_outputs_are_utf8_whatever_the_locale_or_console(tmp_path, clip, mask_model):
    """A head whose classes are "mit_Maske_ü" and "ohne_東京": under LC_ALL=C with PYTHONUTF8=0 its card was a
    UnicodeDecodeError traceback and the CSV and per-person files a UnicodeEncodeError (written in the locale's
    ASCII), and `--csv -` on a Windows cp1252 console held \\u6771\\u4eac: CSV is UTF-8, on any console."""
    head = _head_with_labels_in_utf8(mask_model, tmp_path / "head")
    table, people = tmp_path / "faces.csv", tmp_path / "people.csv"
    common = ["-s", clip, "-m", head, "--tasks", "maske", "--max-frames", "3", "--no-display"]
    res = run_script("detect_mask_video.py", *common, "--csv", table, "--summary", people,
                     env={"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0"})
    assert res.returncode == 0, res.stderr
    with open(table, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert "maske_ohne_東京" in rows[0] and {r["maske_label"] for r in rows} <= {"mit_Maske_ü", "ohne_東京"}
    assert {r["maske_label"] for r in csv.DictReader(people.read_text(encoding="utf-8").splitlines())} <= {
        "mit_Maske_ü", "ohne_東京"}
    piped = subprocess.run([sys.executable, str(ROOT / "detect_mask_video.py"), *map(str, common), "--csv", "-"],
                           capture_output=True, timeout=300, cwd=ROOT,
                           env={**os.environ, "PYTHONIOENCODING": "cp1252"})
    assert piped.returncode == 0, piped.stderr
    lines, written = piped.stdout.decode("utf-8").splitlines(), table.read_text(encoding="utf-8").splitlines()
    assert lines[0] == written[0] and len(lines) == len(written)


def test_a_scheduled_run_keeps_the_permissions_of_the_outputs_it_replaces(tmp_path, clip, mask_model):
    # A cron job (umask 077) rewriting a video, a CSV and a summary that the operator had shared with a group
    # (chmod 664, chgrp): the first run turned them private (0600) and gave them the job's own group.
    outputs = {"--output": tmp_path / "out.mp4", "--csv": tmp_path / "faces.csv", "--summary": tmp_path / "p.csv"}
    others = [g for g in os.getgroups() if g != os.getgid()]
    group = others[0] if others else (os.getgid() + 4321 if os.geteuid() == 0 else None)
    for path in outputs.values():
        path.write_bytes(b"old")
        if group is not None:
            os.chown(path, -1, group)
        path.chmod(0o664)
    old = os.umask(0o077)
    try:
        assert main(["--source", str(clip), "--model", str(mask_model), "--no-display", "--max-frames", "4",
                     *[str(a) for item in outputs.items() for a in item]]) == 0
    finally:
        os.umask(old)
    assert video_info(outputs["--output"])[0] == 4 and len(read_csv(outputs["--csv"])) >= 4
    for path in outputs.values():
        assert oct(path.stat().st_mode & 0o777) == oct(0o664), path
        if group is not None:
            assert path.stat().st_gid == group, path


@pytest.mark.parametrize("cache", ["writable", "unwritable"])
def test_a_home_that_cannot_be_written_leaves_the_timeline_runs_log_clean(tmp_path, clip, mask_model, cache):
    # A service user (HOME=/nonexistent, a read-only home): matplotlib printed "mkdir -p failed for path ..." and
    # "Matplotlib created a temporary cache directory ..." into every --timeline run's log. Its font cache now
    # goes to facekit's cache folder, else to a temp folder that goes at exit.
    home = tmp_path / "not_a_folder"  # not even root can make ~/.config in it
    home.write_text("")
    temp = tmp_path / "tmp"
    temp.mkdir()
    facekit_cache = tmp_path / "cache" if cache == "writable" else home / "cache"
    plot, table = tmp_path / "t.png", tmp_path / "faces.csv"
    res = run_script("detect_mask_video.py", "--source", clip, "--model", mask_model, "--no-display",
                     "--max-frames", "6", "--timeline", plot, "--csv", table,
                     env={"HOME": str(home), "XDG_CONFIG_HOME": None, "XDG_CACHE_HOME": None, "MPLCONFIGDIR": None,
                          "FACEKIT_CACHE": str(facekit_cache), "TMPDIR": str(temp)})
    assert res.returncode == 0 and res.stderr == "", res.stderr
    assert cv2.imread(str(plot)) is not None and len(read_csv(table)) >= 6
    assert list(temp.iterdir()) == []
    if cache == "writable":
        assert (facekit_cache / "matplotlib").is_dir()


def test_a_font_cache_built_slowly_in_facekits_matplotlib_folder_says_nothing(tmp_path):
    """The test above failed on a loaded machine: "Matplotlib is building the font cache; this may take a moment."
    on stderr, which matplotlib logs once building it has taken 5 s, as it did in the temp folder facekit chose
    (every run builds it there). Here the 5 s are 0, as on a machine that slow, and the log stays clean."""
    home = tmp_path / "not_a_folder"
    home.write_text("")
    code = ("import threading; timer = threading.Timer; "
            "threading.Timer = lambda interval, *a, **k: timer(0, *a, **k); "
            "from facekit.runtime import matplotlib_folder; matplotlib_folder(); "
            "import time, matplotlib; from matplotlib import font_manager; time.sleep(0.5); "
            "print(matplotlib.get_cachedir())")
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "MPLCONFIGDIR")}
    env.update(HOME=str(home), FACEKIT_CACHE=str(home / "cache"), TMPDIR=str(tmp_path))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    assert res.stdout.startswith(str(tmp_path / "facekit-matplotlib-")), res.stdout  # the temp folder, built there


def test_a_read_only_root_with_no_temp_folder_runs_the_video_and_refuses_a_timeline_first(tmp_path, clip,
                                                                                            mask_model):
    # `docker run --read-only` (or ProtectSystem=strict without PrivateTmp), HOME not writable either: the first
    # model load was a "No usable temporary directory found" traceback; with it fixed, --timeline was the same
    # traceback from matplotlib, after the whole video. The video runs; a timeline is one line before any work.
    from .test_image_cli import _NO_TEMP_FOLDER

    home = tmp_path / "not_a_folder"
    home.write_text("")
    env = {**os.environ, "HOME": str(home), "FACEKIT_CACHE": str(home / "cache"), "TMPDIR": str(tmp_path / "no")}
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "MPLCONFIGDIR"):
        env.pop(name, None)
    video, table, plot = tmp_path / "out.mp4", tmp_path / "faces.csv", tmp_path / "t.png"
    command = [sys.executable, "-c", _NO_TEMP_FOLDER, str(tmp_path / "no"), str(ROOT / "detect_mask_video.py"),
               "--source", str(clip), "--model", str(mask_model), "--no-display", "--max-frames", "4"]
    res = subprocess.run([*command, "-o", str(video), "--csv", str(table), "--timeline", str(plot)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 2 and "starting video stream" not in res.stdout, res.stdout + res.stderr
    assert one_error_line(res.stderr).startswith("[ERROR] matplotlib, which draws the plot, needs a folder it can "
                                                 "write") and "MPLCONFIGDIR" in res.stderr
    assert not video.exists() and not table.exists() and not plot.exists()
    res = subprocess.run([*command, "-o", str(video), "--csv", str(table)], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env=env)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert video_info(video)[0] == 4 and len(read_csv(table)) >= 4


def test_a_killed_timeline_run_with_no_writable_home_leaves_no_temp_folder(tmp_path, clip, mask_model):
    # The check that a folder for matplotlib can be had made a temp folder before the video (removed only at exit):
    # a camera watched for days and then killed (kill -9, an OOM kill) left an empty facekit-matplotlib-* behind.
    home = tmp_path / "not_a_folder"
    home.write_text("")
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "MPLCONFIGDIR")}
    env.update(HOME=str(home), FACEKIT_CACHE=str(home / "cache"), TMPDIR=str(temp), DISPLAY="", WAYLAND_DISPLAY="")
    proc = subprocess.Popen([sys.executable, str(ROOT / "detect_mask_video.py"), "--source", str(clip), "--model",
                             str(mask_model), "--no-display", "--timeline", str(tmp_path / "t.png")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        line_on_stdout(proc, "starting video stream")
        time.sleep(0.5)
        assert proc.poll() is None, "the run ended before it could be killed"
    finally:
        proc.kill()
        proc.communicate(timeout=60)
    assert list(temp.iterdir()) == []


def _cut_of(path: Path, clip: Path, frames: int, fourcc: str = "mp4v", fps: float = 30, start: int = 0) -> Path:
    """The clip's `frames` frames from frame `start` on (read, not sought: exact) as a video of its own."""
    cap, writer = cv2.VideoCapture(str(clip)), cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps,
                                                                CLIP_SIZE)
    for _ in range(start):
        cap.read()
    for _ in range(frames):
        writer.write(cap.read()[1])
    writer.release()
    cap.release()
    return path


def test_a_folder_of_videos_gets_each_ones_outputs_in_folders_and_goes_on_past_a_bad_one(tmp_path, clip, mask_model):
    """`-s clips/ -o out/` was "--output needs a video extension" and `-o out.mp4` "clips: is a folder, not a video":
    a folder of clips took a shell loop. It runs as the photo command's folder run: each video's outputs named as
    it (_2 where two share a name), other files named and skipped, a bad video a [WARN] line and the run goes on
    (exit 1), one line sums up."""
    clips = tmp_path / "clips"
    clips.mkdir()
    _cut_of(clips / "walk.avi", clip, 8, "MJPG")
    _cut_of(clips / "walk.mp4", clip, 12)
    half = _cut_of(tmp_path / "half.avi", clip, 40, "MJPG")
    (clips / "half.avi").write_bytes(half.read_bytes()[: half.stat().st_size // 2])  # breaks part-way
    (clips / "empty.mp4").write_bytes(b"")
    (clips / "take3.mov").write_bytes(b"\0" * 4096)  # unreadable: no annotated .mov comes of it
    (clips / "notes.txt").write_text("take 2 is the good one\n")
    shutil.copy(MEDIA / "obama.jpg", clips / "obama.jpg")
    (clips / "walk_link.mp4").symlink_to("walk.mp4")
    out, tables = tmp_path / "out", tmp_path / "tables"
    r = run_script("detect_mask_video.py", "--source", f"{clips}/", "--model", mask_model, "--tasks", "mask",
                   "--output", f"{out}/", "--csv", tables, "--summary", tables, "--no-display")
    said = r.stdout + r.stderr
    assert r.returncode == 1 and "Traceback" not in said, said
    assert sorted(p.name for p in out.iterdir()) == ["half.avi", "walk.avi", "walk_2.mp4"]
    assert video_info(out / "walk.avi") == (8, CLIP_SIZE) and video_info(out / "walk_2.mp4") == (12, CLIP_SIZE)
    assert {int(row["frame"]) for row in read_csv(tables / "walk.csv")} == set(range(8))
    assert {int(row["frame"]) for row in read_csv(tables / "walk_2.csv")} == set(range(12))
    assert read_csv(tables / "walk_2.people.csv") and read_csv(tables / "half.people.csv")
    broken = video_info(out / "half.avi")[0]
    assert 0 < broken < 40 and max(int(row["frame"]) for row in read_csv(tables / "half.csv")) < broken
    for line in (f"[INFO] skipped {clips}/notes.txt: not a video file", f"[INFO] skipped {clips}/obama.jpg: a photo (",
                 f"[INFO] skipped {clips}/walk_link.mp4: the same file as {clips}/walk.mp4, read once",
                 f"[WARN] skipped {clips}/empty.mp4: empty file", f"[WARN] {clips}/half.avi: {broken} frames",
                 f"[INFO] {clips}/walk.mp4: 12 frames, ", "(its outputs named walk_2: another video has its name)",
                 f"[INFO] 2 videos, {20 + broken} frames, "):
        assert line in said, (line, said)
    assert "skipped 2 unreadable videos and 2 non-video files; 1 broke part-way" in said, said
    assert (f"[INFO] outputs written as each video's name: {out}/NAME{{.avi,.mp4}}, {tables}/NAME.csv, "
            f"{tables}/NAME.people.csv\n") in said, said
    assert not [p for p in [*out.iterdir(), *tables.iterdir()] if p.name.startswith(".")]


def test_a_folder_run_does_not_count_its_own_tables_beside_the_videos_as_skipped(tmp_path, clip, mask_model):
    """`--source clips/ --csv clips/` run twice: the second run said "skipped clips/walk.csv: not a video file" of
    the first one's table and counted it among the folder's non-video files."""
    clips = tmp_path / "clips"
    clips.mkdir()
    _cut_of(clips / "walk.mp4", clip, 3)
    (clips / "notes.txt").write_text("take 2 is the good one\n")
    for _ in range(2):
        r = run_script("detect_mask_video.py", "--source", f"{clips}/", "--model", mask_model, "--tasks", "mask",
                       "--csv", f"{clips}/", "--summary", f"{clips}/", "--no-display")
        said = r.stdout + r.stderr
        assert r.returncode == 0, said
        assert "skipped 0 unreadable videos and 1 non-video file" in said and ".csv: not a video" not in said, said
    assert sorted(p.name for p in clips.iterdir()) == ["notes.txt", "walk.csv", "walk.mp4", "walk.people.csv"]


def test_a_camcorders_and_an_old_phones_videos_are_videos_of_a_folder(tmp_path, clip, mask_model, capfd):
    """A camcorder's AVCHD folder (00000.MTS, 00001.m2ts) and an old phone's .3gp: "no videos found in ..."."""
    clips = tmp_path / "clips"
    clips.mkdir()
    for name in ("00000.MTS", "00001.m2ts", "old.3gp"):
        _cut_of(clips / name, clip, 3)
    code = main(["--source", str(clips), "--model", str(mask_model), "--tasks", "mask", "--no-display",
                 "--csv", f"{tmp_path / 'tables'}/"])
    assert code == 0, capfd.readouterr().err
    assert sorted(p.name for p in (tmp_path / "tables").iterdir()) == ["00000.csv", "00001.csv", "old.csv"]


@pytest.mark.parametrize("given, line", [
    (["--output", "out.mp4"], "--output out.mp4: a folder of videos gets one annotated video per video, named as the "
                              "video: name a folder, e.g. --output out/"),
    (["--csv", "-"], "--csv -: a folder of videos gets one CSV per video, named as the video: name a folder, e.g. "
                     "--csv faces/"),
    (["--output", "{clips}"], "--output would write over the input {clips}/walk.mp4: choose another folder")])
def test_a_folder_of_videos_refuses_an_output_that_is_not_a_folder_of_its_own(tmp_path, clip, mask_model, capfd,
                                                                              monkeypatch, given, line):
    clips = tmp_path / "clips"
    clips.mkdir()
    _cut_of(clips / "walk.mp4", clip, 2)
    monkeypatch.chdir(tmp_path)
    code, said = _run(capfd, "--source", "clips", "--model", mask_model, "--no-display",
                      *[arg.format(clips="clips") for arg in given])
    assert code == 2 and said == "[ERROR] " + line.format(clips="clips"), said
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["clips", "walk.mp4"]


def test_one_videos_output_into_a_folder_takes_the_videos_name(tmp_path, clip, mask_model):
    """`-s clip.mp4 -o annotated/` was "--output needs a video extension", as the photo command's once was."""
    video = _cut_of(tmp_path / "walk.mov", clip, 5)
    r = run_script("detect_mask_video.py", "--source", video, "--model", mask_model, "--tasks", "mask",
                   "--output", f"{tmp_path / 'annotated'}/", "--csv", f"{tmp_path / 'annotated'}/", "--no-display")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "annotated").iterdir()) == ["walk.csv", "walk.mov"]
    assert video_info(tmp_path / "annotated" / "walk.mov") == (5, CLIP_SIZE)
    assert {int(row["frame"]) for row in read_csv(tmp_path / "annotated" / "walk.csv")} == set(range(5))


def test_ctrl_c_in_a_folder_of_videos_stops_the_run_and_keeps_an_earlier_output(tmp_path, clip, mask_model):
    """A Ctrl-C during the second of three videos: the first one's outputs whole, the second's short ones beside
    the earlier run's (kept), the third not reached, exit 130."""
    clips, tables = tmp_path / "clips", tmp_path / "tables"
    clips.mkdir()
    tables.mkdir()
    _cut_of(clips / "a.mp4", clip, 3)
    shutil.copy(clip, clips / "b.mp4")
    _cut_of(clips / "c.mp4", clip, 3)
    (tables / "b.csv").write_text("an earlier run's\n")
    env = dict(os.environ, DISPLAY="", WAYLAND_DISPLAY="")
    proc = subprocess.Popen([sys.executable, str(ROOT / "detect_mask_video.py"), "--source", str(clips), "--model",
                             str(mask_model), "--tasks", "mask", "--csv", str(tables), "--no-display"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
                            preexec_fn=signals_default)
    line_on_stdout(proc, f"[INFO] {clips}/a.mp4: 3 frames")
    # Ctrl-C once b.mp4 has rows: 1.5 s after a.mp4's line could pass before b.mp4's first frame on a loaded machine.
    deadline, b_done = time.monotonic() + 60, frames_done(tables / "b.csv")
    while not b_done() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "[INFO] interrupted after 2 of 3 videos: outputs finalized" in err, out + err
    assert f"[INFO] {clips}/b.mp4: " in out and "(stopped before its end)" in out and "1 not reached" in out, out
    assert (tables / "b.csv").read_text() == "an earlier run's\n"
    assert 0 < len(read_csv(tables / "b.partial.csv")) and not (tables / "c.csv").exists()
    assert {int(row["frame"]) for row in read_csv(tables / "a.csv")} == {0, 1, 2}


def test_ctrl_c_between_two_videos_of_a_folder_still_sums_up(tmp_path, clip, mask_model, monkeypatch, capfd):
    """A Ctrl-C that landed as the first video's line was said (between two videos) ended a folder run with a bare
    "[INFO] interrupted": no line said which videos were done and which were not reached."""
    import facekit.cli.video as video_cli

    clips = tmp_path / "clips"
    clips.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        _cut_of(clips / name, clip, 3)
    said = video_cli.info

    def info_then_ctrl_c(text):
        said(text)
        if text.startswith(f"{clips / 'a.mp4'}: "):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)  # the handler runs at the first bytecode after the signal

    monkeypatch.setattr(video_cli, "info", info_then_ctrl_c)
    code = main(["--source", str(clips), "--model", str(mask_model), "--tasks", "mask", "--csv", f"{tmp_path}/t/",
                 "--no-display"])
    out, err = capfd.readouterr()
    assert code == 130 and "Traceback" not in err, err
    assert re.search(r"^\[INFO\] 1 video, 3 frames, .*; 2 not reached$", out, re.M), out
    assert "[INFO] interrupted after 1 of 3 videos: outputs finalized" in err, err
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["a.csv"]


def test_a_complete_run_removes_the_partial_outputs_a_stopped_run_left(tmp_path, clip, mask_model):
    """A run stopped with Ctrl-C put its outputs beside the earlier whole ones (out.partial.mp4, faces.partial.csv);
    the next complete run replaced out.mp4 and faces.csv and left the older partials there, looking newer than
    they are. A partial that is the run's own input stays."""
    table, out = tmp_path / "faces.csv", tmp_path / "out.mp4"
    table.write_text("an earlier run's\n")
    _cut_of(out, clip, 2)
    code, err = interrupt_video_run("--source", clip, "--model", mask_model, "--tasks", "mask", "--csv", table,
                                    "--output", out, until=frames_done(table))
    assert code == 130 and (tmp_path / "faces.partial.csv").is_file() and (tmp_path / "out.partial.mp4").is_file(), err
    r = run_script("detect_mask_video.py", "--source", clip, "--model", mask_model, "--tasks", "mask", "--csv", table,
                   "--output", out, "--max-frames", "3", "--no-display")
    assert r.returncode == 0, r.stderr
    assert (f"[INFO] removed {tmp_path / 'out.partial.mp4'}, {tmp_path / 'faces.partial.csv'}: an earlier run stopped "
            "short left them, and this run's outputs are whole") in r.stdout, r.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces.csv", "out.mp4"]
    assert {int(row["frame"]) for row in read_csv(table)} == {0, 1, 2} and video_info(out) == (3, CLIP_SIZE)
    source = _cut_of(tmp_path / "walk.partial.mp4", clip, 2)
    r = run_script("detect_mask_video.py", "--source", source, "--model", mask_model, "--tasks", "mask", "--output",
                   tmp_path / "walk.mp4", "--no-display")
    assert r.returncode == 0 and video_info(source) == (2, CLIP_SIZE) and "removed" not in r.stdout, r.stdout


def test_a_second_stream_run_keeps_the_first_ones_outputs(clip, mask_model, tmp_path, capfd):
    """A camera's or stream's second run with the same --csv emptied the first one's the moment it started (its
    rows are written in place), and its --summary and --output replaced the first one's: a camera's frames cannot
    be analysed again, as a file's can. What an earlier run left is kept under the time it was last written."""
    table, people, video = tmp_path / "faces.csv", tmp_path / "people.csv", tmp_path / "cam.mkv"
    first = {}
    for run in range(2):
        feed = _MJPEGFeed(clip, per_connection=275)
        try:
            assert main(["--source", feed.url, "--model", str(mask_model), "--tasks", "mask", "--no-display",
                         "--max-frames", "4", "--csv", str(table), "--summary", str(people),
                         "--output", str(video)]) == 0
        finally:
            feed.stop()
        if not run:
            first = {path.name: path.read_bytes() for path in (table, people, video)}
    said = capfd.readouterr().out
    kept = {path.name: path for path in tmp_path.iterdir() if path.name not in first}
    assert len(kept) == 3, sorted(kept)
    for name, earlier in first.items():
        stem, ext = name.split(".")
        [moved] = [path for path in kept.values() if path.name.startswith(stem + ".") and path.suffix == "." + ext]
        assert moved.read_bytes() == earlier and re.fullmatch(rf"{stem}\.\d{{4}}-\d\d-\d\dT\d\d-\d\d-\d\d\.{ext}",
                                                              moved.name), moved.name
        assert f"{tmp_path / name} as {moved.name}" in said, said
    assert {int(row["frame"]) for row in read_csv(table)} == {0, 1, 2, 3} and read_csv(people)
    # Written at the camera's time: the feed's frames come faster than the video's rate, so not one each.
    assert "[INFO] kept what an earlier run left: " in said and video_info(video)[0] >= 2


def test_an_earlier_runs_output_kept_twice_in_one_second_loses_neither(tmp_path):
    """keep_earlier names what it keeps by the second it was last written: a third camera run started within the
    same second as the second one's last row (a script that restarts it) would rename over the file kept first.
    An empty file (a run that saw no face) is nothing to keep."""
    from facekit.records import keep_earlier

    table = tmp_path / "faces.csv"
    kept = []
    for rows in ("frame\n0\n", "frame\n1\n"):
        table.write_text(rows)
        os.utime(table, (1_700_000_000, 1_700_000_000))
        kept.append(keep_earlier(table))
    assert kept[0] != kept[1] and kept[1].name.endswith("-2.csv")
    assert [k.read_text() for k in kept] == ["frame\n0\n", "frame\n1\n"] and not table.exists()
    table.write_text("")
    assert keep_earlier(table) is None and table.exists()


def test_a_photo_given_as_the_video_says_how_it_is_read(media, mask_model, tmp_path, capfd):
    """`--source photo.jpg` ran as a one-frame video without a word (a folder of photos says what reads them)."""
    table = tmp_path / "faces.csv"
    code = main(["--source", str(media / "obama.jpg"), "--model", str(mask_model), "--no-display", "--csv", str(table)])
    out, err = capfd.readouterr()
    assert code == 0, err
    said = out + err
    assert (f"[INFO] {media / 'obama.jpg'} is a photo: read as a video of one frame (" in said
            and f"detect_mask_image.py -i {media / 'obama.jpg'} reads photos)" in said), said
    assert [r["frame"] for r in read_csv(table)] == ["0"]


def test_an_animated_gif_given_as_the_video_is_read_at_its_own_times(clip, mask_model, tmp_path, capfd):
    """`--source anim.gif` said "is a photo: read as a video of one frame", then read its every frame (FFmpeg does):
    "60 frames" after it. It now says it is an animated image of N frames; each frame keeps the GIF's own delay.
    A folder run takes it as a video too."""
    from PIL import Image

    cap = cv2.VideoCapture(str(clip))
    frames = [Image.fromarray(cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2RGB)) for _ in range(5)]
    cap.release()
    gif, table = tmp_path / "anim.gif", tmp_path / "faces.csv"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=[100, 100, 300, 100, 100], loop=0)
    code = main(["--source", str(gif), "--model", str(mask_model), "--no-display", "--csv", str(table)])
    out, err = capfd.readouterr()
    assert code == 0, err
    assert f"[INFO] {gif} is an animated image: read as a video of its 5 frames\n" in out and "one frame" not in out
    assert "[INFO] 5 frames, " in out
    times = {int(r["frame"]): float(r["time_s"]) for r in read_csv(table)}
    assert set(times) == {0, 1, 2, 3, 4} and times == {0: 0.0, 1: 0.1, 2: 0.2, 3: 0.5, 4: 0.6}
    # In a folder of videos it was skipped as a photo; it is a video there too, read as --source reads it. A still
    # GIF beside it is still a photo, skipped.
    folder, tables = tmp_path / "clips", tmp_path / "tables"
    folder.mkdir()
    shutil.copy(gif, folder / "anim.gif")
    frames[0].save(folder / "still.gif")
    code = main(["--source", str(folder), "--model", str(mask_model), "--no-display", "--csv", f"{tables}/"])
    out, err = capfd.readouterr()
    assert code == 0, err
    assert f"[INFO] skipped {folder / 'still.gif'}: a photo (" in out and "anim.gif: a photo" not in out, out
    assert sorted(p.name for p in tables.iterdir()) == ["anim.csv"]
    assert read_csv(tables / "anim.csv") == read_csv(table)


def test_a_gif87a_animation_is_read_whole_at_its_default_delay(clip, mask_model, tmp_path, capfd):
    """Pillow writes an animation saved without a duration as a GIF87a, which has no delays: OpenCV's FFmpeg read 1 of
    its 12 frames, then "[ERROR] ... video ends at frame 1 of 12 (truncated or corrupt)", exit 2. Every frame comes
    through now, 100 ms apart as players show one, the same pixels as the GIF89a with delays of 100 ms."""
    from PIL import Image

    cap = cv2.VideoCapture(str(clip))
    frames = [Image.fromarray(cv2.cvtColor(cv2.resize(cap.read()[1], (320, 180)), cv2.COLOR_BGR2RGB))
              for _ in range(12)]
    cap.release()
    old, new, table = tmp_path / "old.gif", tmp_path / "new.gif", tmp_path / "faces.csv"
    frames[0].save(old, save_all=True, append_images=frames[1:])
    frames[0].save(new, save_all=True, append_images=frames[1:], duration=100)
    assert old.read_bytes()[:6] == b"GIF87a" and new.read_bytes()[:6] == b"GIF89a"
    code = main(["--source", str(old), "--model", str(mask_model), "--no-display", "--csv", str(table)])
    out, err = capfd.readouterr()
    assert code == 0 and "[ERROR]" not in err, err
    assert "[INFO] 12 frames, " in out
    times = {int(r["frame"]): float(r["time_s"]) for r in read_csv(table)}
    assert times == {n: round(n / 10, 3) for n in range(12)}, times
    with FrameSource(old) as a, FrameSource(new) as b:
        assert a.frames_shown == b.frames_shown == 12 and a.fps == b.fps == 10.0
        for _ in range(12):
            (i, x), (j, y) = a.read(), b.read()
            assert i == j and a.time_s(i) == b.time_s(j) and np.array_equal(x, y)
        assert a.read() is None and b.read() is None


def test_analyze_video_gives_back_what_its_reader_freed_when_it_ends(clip, monkeypatch):
    """analyze_video per web request: what each run's reader thread freed stayed with the process (266-267 MB after
    12 calls of a 2 s clip, 241-249 MB trimmed). Each run now ends in glibc's malloc_trim(0), a run read to its end
    and one its caller stops early alike; FACEKIT_MALLOC=0 leaves malloc alone."""
    import platform

    from facekit import FaceAnalyzer, runtime

    trim, calls = runtime.give_back_freed_memory, []
    monkeypatch.setattr(runtime, "give_back_freed_memory", lambda: calls.append(trim()))
    analyzer = FaceAnalyzer(detector="yunet", tasks="mask")
    assert len(list(analyzer.analyze_video(clip, max_frames=2))) == 2 and len(calls) == 1
    run = analyzer.analyze_video(clip)
    next(run)
    assert len(calls) == 1
    run.close()
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert calls == [glibc, glibc]
    monkeypatch.setenv("FACEKIT_MALLOC", "0")
    assert trim() is False


def test_an_animated_webp_given_as_the_video_is_one_line_that_says_why_it_is_not_read(clip, mask_model, tmp_path,
                                                                                      capfd):
    """FFmpeg decodes no animated WebP: `--source anim.webp` said "is a photo: read as a video of one frame", then
    "no frames (empty, corrupt or truncated video)" of a good file. A still WebP is read as a photo still is."""
    from PIL import Image

    cap = cv2.VideoCapture(str(clip))
    frames = [Image.fromarray(cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2RGB)) for _ in range(3)]
    cap.release()
    frames[0].save(tmp_path / "anim.webp", save_all=True, append_images=frames[1:], duration=100)
    frames[0].save(tmp_path / "still.webp")
    code, line = _run(capfd, "--source", tmp_path / "anim.webp", "--model", mask_model, "--no-display")
    assert code == 2 and line == (f"[ERROR] {tmp_path / 'anim.webp'}: an animated image of 3 frames that OpenCV's "
                                  "video reader (FFmpeg) cannot decode (an animated WebP): save its frames as numbered "
                                  "images and give their pattern (frames/%04d.png), or convert it to a video"), line
    assert main(["--source", str(tmp_path / "still.webp"), "--model", str(mask_model), "--no-display"]) == 0
    assert "is a photo: read as a video of one frame" in capfd.readouterr().out


def test_the_timeline_lifts_the_pen_where_a_track_went_unseen(tmp_path, monkeypatch):
    """With --every 3 the hamilton clip's face #17 was unseen from 8.1 s to 9.1 s (the tracker keeps it through
    15 analysed frames), and its curves ran straight across that second, values no frame measured. Each curve
    (the dashed intensity too) now breaks there; a few frames missed keep it whole."""
    import matplotlib.axes

    from facekit.timeline import Timeline
    from facekit.types import Box, Face, Prediction

    labels = ["happy", "neutral"]
    drawn = []
    real_plot = matplotlib.axes.Axes.plot

    def plot(self, x, y, *args, **kwargs):
        drawn.append((kwargs.get("label"), list(x), list(y)))
        return real_plot(self, x, y, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "plot", plot)
    timeline = Timeline("emotion", labels)
    frames = [*range(0, 243, 3), 249, *range(273, 276, 3)]  # one point missed at 246 (kept whole), then 24 frames
    for frame in frames:
        pred = Prediction.from_probabilities(labels, np.array([0.3, 0.7]))
        timeline.add(frame / 29.97, [Face(Box(10, 10, 60, 60), 0.9, track_id=17).with_predictions(emotion=pred)])
    assert timeline.save(tmp_path / "t.png") == 1
    assert {label for label, _, _ in drawn} == {"happy", "neutral", "intensity"}
    for label, x, y in drawn:
        assert len(x) == len(frames) + 1 and sum(np.isnan(y)) == 1, label  # one break, at the 1 s gap
        at = int(np.flatnonzero(np.isnan(y))[0])
        assert x[at - 1] == pytest.approx(249 / 29.97) and x[at + 1] == pytest.approx(273 / 29.97), label


def test_the_closing_line_does_not_call_tracked_faces_detections(clip, mask_model, capfd):
    """With --detect-every 3 the closing line said "310 face detections" for the hamilton clip's 138 frames at
    --every 2: every face the tracker carried between the detector's frames was counted as one it detected. It
    now says tracked faces, and how often the detector ran."""
    assert main(["--source", str(clip), "--model", str(mask_model), "--tasks", "mask", "--no-display",
                 "--max-frames", "9", "--detect-every", "3"]) == 0
    said = capfd.readouterr()
    closing = next(x for x in (said.out + said.err).splitlines() if x.startswith("[INFO] 9 frames, "))
    assert "detection" not in closing, closing
    assert re.search(r"\d+ tracked faces? \(the detector ran every 3 frames\), \d+ tracks? in ", closing), closing


def test_the_closing_line_and_table_count_what_the_csv_holds(clip, mask_model, capfd, tmp_path):
    """The closing line's counts were checked by pattern only ("\\d+ face detections"), and the people table not
    against the CSV: a miscount, or the table left out, passed. They must say what the CSV holds."""
    table = tmp_path / "faces.csv"
    assert main(["--source", str(clip), "--model", str(mask_model), "--tasks", "mask", "--no-display",
                 "--max-frames", "9", "--csv", str(table)]) == 0
    said = capfd.readouterr()
    rows = read_csv(table)
    tracks = {r["track_id"] for r in rows}
    assert f"[INFO] 9 frames, {len(rows)} face detections, {len(tracks)} tracks in " in said.out, said.out
    listed = re.findall(r"^(\d+) +\d+\.\d\d +\d+\.\d\d +\d+ ", said.out, re.M)
    assert set(listed) == tracks and len(tracks) > 1, said.out


@pytest.mark.parametrize("side", [60000, 15000])
def test_a_photo_over_the_pixel_limit_given_as_the_video_is_one_line_naming_it(mask_model, tmp_path, capfd, side):
    """A PNG bomb given as --source was "no frames (empty, corrupt or truncated video)" at 60000x60000 px; at
    15000x15000 FFmpeg decoded it (1.9 GB) and the run ended in "image array of ... px", naming no file."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * (side + 1) * 16, 9)) + chunk(b"IEND", b""))
    with pytest.raises(VideoError, match=rf"bomb.png: image of {side}x{side} px is over the limit of 200 MP"):
        FrameSource(str(bomb))
    table = tmp_path / "faces.csv"
    code = main(["--source", str(bomb), "--model", str(mask_model), "--no-display", "--csv", str(table)])
    err = capfd.readouterr().err
    assert code == 2 and "Traceback" not in err and not table.exists(), err
    assert [ln for ln in err.splitlines() if ln.startswith("[ERROR]")] == [
        f"[ERROR] {bomb}: image of {side}x{side} px is over the limit of 200 MP"], err


def test_help_says_detect_every_follows_the_camera():
    """--every N with --detect-every K broke tracks on a moving camera (a panning crowd: 438 track ids against 155
    with --every 5 alone), and --help said so. The tracks now move with the camera's measured shift
    (test_tracks_follow_a_handheld_camera), and --help says that instead of sending a moving camera elsewhere."""
    from facekit import batch
    from facekit.cli.video import build_parser

    text = " ".join(build_parser().format_help().split())
    start = text.index("--detect-every K run")
    option = text[start:text.index("--head-every K", start)]
    assert "with the camera's pans and shakes" in option and "fixed camera" not in option, option
    text = " ".join(batch.build_parser().format_help().split())
    start = text.index("--detect-every K videos")
    option = text[start:text.index("--head-every K", start)]
    assert "with the camera's pans and shakes" in option and "tracks break" not in option, option


def test_links_that_loop_in_a_folder_of_videos_are_named_not_a_traceback(tmp_path):
    """`--source clips/ --csv tables/` where clips/ holds a link that loops (a -> b -> a) ended in "RuntimeError:
    Symlink loop" (Python 3.11's Path.resolve) before any video was read."""
    clips = tmp_path / "clips"
    clips.mkdir()
    os.symlink("self.mp4", clips / "self.mp4")
    os.symlink("b", clips / "a")
    os.symlink("a", clips / "b")
    res = run_script("detect_mask_video.py", "--source", clips, "--csv", f"{tmp_path / 'tables'}/", "--no-display")
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.splitlines()[-1] == "[ERROR] none of the 1 video(s) could be read to its end", res.stderr


@pytest.mark.parametrize("every, detect_every", [(1, 3), (4, 1), (2, 2)])
def test_tracks_follow_a_handheld_camera(media, every, detect_every):
    """A phone swung across a group photo (up to 60 px a frame, and a hand's shake) with --detect-every K or --every N:
    the boxes between searches moved by the faces' past motion alone, so they lagged the faces the camera had
    moved, and faces came back under new ids. The tracks now move with the camera's measured shift."""
    from facekit.pipeline import FacePipeline, track_faces
    from facekit.tracking import IoUTracker
    from facekit.types import Face, iou_matrix
    from facekit.video import EveryNth

    photo = cv2.imread(str(media / "12_angry_men.jpg"))
    rng = np.random.default_rng(3)
    corners = [(int(200 + 150 * np.sin(i / 2.5) + rng.normal(0, 5)), int(300 + 40 * np.sin(i / 1.6) + rng.normal(0, 5)))
               for i in range(40)]
    frames = [photo[y:y + 360, x:x + 640] for x, y in corners]
    people = np.array([[420, 400, 490, 480], [560, 390, 630, 470]])  # where they sit in the photo

    def seen(i):
        x, y = corners[i]
        return people - [x, y, x, y]

    class Detector:
        def detect(self, image):
            i = next(i for i, frame in enumerate(frames) if frame is image)
            return [Face(box=Box(*map(int, b)), score=0.9) for b in seen(i)]

    source = _Frames(frames)
    ids, overlaps = {}, []
    for index, _, faces in track_faces(source if every == 1 else EveryNth(source, every), FacePipeline(Detector()),
                                       IoUTracker(max_missed=max(15, 2 * detect_every)), detect_every):
        truth = seen(index)
        for face in faces:
            iou = iou_matrix(np.array([face.box.as_list()], float), truth.astype(float))[0]
            ids.setdefault(int(iou.argmax()), set()).add(face.track_id)
            overlaps.append(iou.max())
    assert {person: len(tracks) for person, tracks in ids.items()} == {0: 1, 1: 1}
    assert min(overlaps) > 0.7, sorted(overlaps)[:5]


def test_a_big_face_walking_across_a_still_shot_is_no_camera_move(media):
    """A close face crossing a still backdrop (a stage curtain) moves the picture's correlation peak as a pan does:
    taken for the camera's move, it dragged a still face's box between searches off that face (the hamilton clip's
    second shot, --detect-every 3: 6 ID switches against 2). A shift counts as the camera's only where it explains
    the picture's change."""
    from facekit.pipeline import FacePipeline, track_faces
    from facekit.tracking import IoUTracker
    from facekit.types import Face, iou_matrix

    backdrop = cv2.GaussianBlur(cv2.imread(str(media / "12_angry_men.jpg"))[200:560, 300:940], (0, 0), 3) // 2
    walker = cv2.resize(cv2.imread(str(media / "obama.jpg"))[150:850, 150:800], (260, 280))
    still = np.array([40, 60, 100, 130])  # a small face that holds still at the back
    frames, boxes = [], []
    for i in range(24):
        frame, x = backdrop.copy(), 330 - 12 * i
        frame[60:340, x:x + 260] = walker
        frames.append(frame)
        boxes.append(np.array([still, [x + 60, 100, x + 200, 260]]))

    class Detector:
        def detect(self, image):
            i = next(i for i, frame in enumerate(frames) if frame is image)
            return [Face(box=Box(*map(int, b)), score=0.9) for b in boxes[i]]

    overlaps, ids = [], set()
    for index, _, faces in track_faces(_Frames(frames), FacePipeline(Detector()), IoUTracker(), 3):
        for face in faces:
            iou = iou_matrix(np.array([face.box.as_list()], float), still[None].astype(float))[0, 0]
            if iou > 0.1:
                overlaps.append(iou)
                ids.add(face.track_id)
    assert len(overlaps) == len(frames) and min(overlaps) > 0.8 and len(ids) == 1, (sorted(overlaps)[:4], ids)


@pytest.mark.parametrize("every, detect_every", [(1, 3), (3, 2)])
def test_tracks_follow_a_camera_walking_toward_the_people(media, every, detect_every):
    """Walking toward a group with a phone (its picture growing 3% a frame), --detect-every K or --every N: the
    tracks moved with the camera's shift only, so boxes away from the centre fell behind the faces between
    searches (off the face on 23% of face-frames). They now grow and move with the camera's zoom too."""
    from facekit.pipeline import FacePipeline, track_faces
    from facekit.tracking import IoUTracker
    from facekit.types import Face, iou_matrix
    from facekit.video import EveryNth

    photo = cv2.imread(str(media / "12_angry_men.jpg"))
    people = np.array([[470, 250, 540, 330], [760, 240, 830, 320], [560, 400, 630, 480]], float)  # in the photo
    frames, seen = [], []
    for i in range(30):
        z = 0.55 * 1.03 ** i
        x0, y0 = 640 - 320 / z, 360 - 180 / z  # the window's corner: the photo's centre stays in the middle
        frames.append(cv2.warpAffine(photo, np.float32([[z, 0, -x0 * z], [0, z, -y0 * z]]), (640, 360)))
        seen.append((people - [x0, y0, x0, y0]) * z)

    class Detector:
        def detect(self, image):
            i = next(i for i, frame in enumerate(frames) if frame is image)
            return [Face(box=Box(*map(int, b)), score=0.9) for b in seen[i]]

    source = _Frames(frames)
    ids, overlaps = {}, []
    for index, _, faces in track_faces(source if every == 1 else EveryNth(source, every), FacePipeline(Detector()),
                                       IoUTracker(max_missed=max(15, 2 * detect_every)), detect_every):
        for face in faces:
            iou = iou_matrix(np.array([face.box.as_list()], float), seen[index])[0]
            ids.setdefault(int(iou.argmax()), set()).add(face.track_id)
            overlaps.append(iou.max())
    assert {person: len(tracks) for person, tracks in ids.items()} == {0: 1, 1: 1, 2: 1}
    assert min(overlaps) > 0.85, sorted(overlaps)[:5]


def test_a_long_video_names_outputs_in_a_folder_cut_to_fit():
    """A video named with 246 bytes and --timeline out/ was refused, once found, for its NAME.timeline.png of 259
    bytes, "a name too long: give a shorter one" of a name the user never gave; each output's name is cut to fit
    in 255 bytes, as a photo's annotated image's is."""
    from facekit.cli.video import _name_in_folder

    video = Path("clips") / ("é" * 121 + "abcd.mov")  # 246 bytes before .mov
    for attr, ending in (("output", ".mov"), ("csv", ".csv"), ("summary", ".people.csv"),
                         ("timeline", ".timeline.png")):
        name = _name_in_folder(attr, video.with_suffix(".csv"), video)
        assert name.parent == Path("clips") and name.name.endswith(ending), name
        assert len(os.fsencode(name.name)) <= 255 and name.name.startswith("é" * 100), name
        name.name.encode("utf-8")  # cut between characters, not inside one


def test_two_videos_named_alike_past_242_bytes_get_outputs_of_their_own_in_a_folder(tmp_path, clip, mask_model,
                                                                                     capfd):
    """Two videos whose 244-byte names differ only at their end, with --timeline out/: each output's name was cut
    to fit after the names were made unique, so both cut to one NAME.timeline.png and the run was refused, "--timeline
    and --timeline would both write" one file. Now the second one's outputs are NAME_2.*, as for two of one name."""
    clips, out = tmp_path / "clips", tmp_path / "out"
    clips.mkdir()
    for end in ("x1", "x2"):
        _cut_of(clips / ("v" * 242 + end + ".mp4"), clip, 2)
    code = main(["--source", str(clips), "--model", str(mask_model), "--tasks", "mask", "--no-display",
                 "--output", f"{out}/", "--summary", f"{out}/", "--timeline", f"{out}/"])
    assert code == 0, capfd.readouterr().err
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 6 and all(len(os.fsencode(name)) <= 255 for name in names), names
    assert sum(name.endswith("_2.timeline.png") for name in names) == 1, names


def test_one_videos_summary_is_not_anothers_csv_in_one_folder(tmp_path, clip, mask_model, capfd):
    """x.mp4 and x.people.mp4 with --csv out/ --summary out/: x's summary and x.people's CSV were both
    out/x.people.csv, and the run was refused, "give each its own file", of names it had chosen itself."""
    clips, out = tmp_path / "clips", tmp_path / "out"
    clips.mkdir()
    for name in ("x.mp4", "x.people.mp4"):
        _cut_of(clips / name, clip, 2)
    code = main(["--source", str(clips), "--model", str(mask_model), "--tasks", "mask", "--no-display",
                 "--csv", f"{out}/", "--summary", f"{out}/"])
    assert code == 0, capfd.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["x.csv", "x.people.csv", "x.people_2.csv",
                                                     "x.people_2.people.csv"]
    assert {int(row["frame"]) for row in read_csv(out / "x.people_2.csv")} == {0, 1}


@pytest.mark.parametrize("finalizer", ["class Engine:\n    def __del__(self):\n        wait_for_ctrl_c()\nEngine()\n",
                                       "class Engine:\n    pass\nengine = Engine()\n"
                                       "ref = weakref.ref(engine, lambda _: wait_for_ctrl_c())\ndel engine\n"])
def test_a_ctrl_c_inside_a_finalizer_is_kept_for_the_run_not_printed_as_a_traceback(finalizer):
    """A Ctrl-C as the video script ended (3 of 9 tries at its last line) landed in LiteRT's Interpreter.__del__ or
    a WeakSet's callback, where Python prints a KeyboardInterrupt as "Exception ignored in ..." and its traceback,
    above the run's "interrupted" line. Now it is not printed, and check_stop raises the stop after: here a
    __del__ or a weakref callback sends the SIGINT itself and waits in itself for it."""
    code = ("import os, signal, time, weakref\n"
            "from facekit.signals import check_stop, set_stop_handler, stop_handler\n"
            "def wait_for_ctrl_c():\n"
            "    os.kill(os.getpid(), signal.SIGINT)\n"
            "    time.sleep(1)\n"
            "set_stop_handler(stop_handler)\n"
            f"{finalizer}"
            "try:\n"
            "    check_stop()\n"
            "except KeyboardInterrupt:\n"
            "    print('stopped after the finalizer')\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.stderr == "" and res.stdout == "stopped after the finalizer\n", res.stderr
