"""detect_mask_video.py on the real clip with a real mask model: annotated video, per-frame CSV,
timeline, tracking, and every kind of bad input (one line, non-zero exit, outputs kept valid)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from facekit.cli.video import main
from facekit.errors import VideoError
from facekit.heads import CARD, TFLITE, models_dir
from facekit.types import Box
from facekit.video import FrameSource, VideoSink

try:
    from .conftest import MEDIA, ROOT, run_script
except ImportError:  # tests/ run as a plain folder (no __init__.py)
    from conftest import MEDIA, ROOT, run_script

CLIP = MEDIA / "short_hamilton_clip.mp4"
CLIP_FRAMES, CLIP_SIZE = 275, (640, 360)


@pytest.fixture(scope="session")
def mask_model() -> Path:
    for folder in (models_dir() / "mask", Path("/tmp/runs/mask_a")):
        if (folder / CARD).is_file() and (folder / TFLITE).is_file():
            return folder
    pytest.skip("no trained mask model (models/mask) to run the video tests with")


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


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("[ERROR]")]
    assert len(errors) == 1, stderr
    others = [line for line in stderr.splitlines() if line.strip() and not line.startswith(("[", "INFO: Created"))]
    assert not others, f"stray output on stderr: {others}"
    return errors[0]


# --- the real clip, end to end ------------------------------------------------------------------------


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
    prob_columns = {t: [c for c in rows[0] if c.startswith(f"{t}_") and c != f"{t}_label"] for t in tasks}
    for row in rows:
        assert 0 <= int(row["frame"]) < CLIP_FRAMES
        assert float(row["time_s"]) == pytest.approx(int(row["frame"]) / 29.97, abs=1e-3)
        for task, columns in prob_columns.items():
            if row[f"{task}_label"] != "":
                probs = [float(row[c]) for c in columns]
                assert sum(probs) == pytest.approx(1.0, abs=1e-4)
                assert row[f"{task}_label"] == columns[int(np.argmax(probs))][len(task) + 1:]
    classified = [r for r in rows if r["mask_with_mask"] != ""]
    assert len(classified) >= 0.8 * len(rows)

    # One row per face per frame: the detector alone, on a few frames, finds as many faces.
    from facekit.detection import create_detector

    detector = create_detector(fine_pass=False)  # what the script runs by default
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
    # The overlay is drawn: the FPS label (top left) and each face's box and labels.
    src, dst = cv2.VideoCapture(str(clip)), cv2.VideoCapture(str(out))
    for _ in range(6):
        a, b = src.read()[1], dst.read()[1]
    diff = cv2.absdiff(a, b).max(axis=2)
    assert (diff[8:22, 10:60] > 60).mean() > 0.1  # white text on the dark backing
    row = next(r for r in read_csv(table) if r["frame"] == "5")
    x1, y1, x2, y2 = (int(row[k]) for k in ("x1", "y1", "x2", "y2"))
    assert diff[y1:y2, x1:x1 + 2].mean() > 40 or diff[y1:y2, x2 - 2:x2].mean() > 40  # box edge


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


# --- bad input: one line, non-zero exit, no traceback -----------------------------------------------


def _run(capfd, *args) -> tuple[int, str]:
    code = main([*map(str, args)])
    return code, one_error_line(capfd.readouterr().err)


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


def test_video_that_breaks_midway_keeps_what_was_written(tmp_path, clip, mask_model, capfd):
    # An AVI cut in half still opens (its header says 40 frames) and then stops early.
    full = tmp_path / "full.avi"
    cap, writer = cv2.VideoCapture(str(clip)), cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 30,
                                                                 CLIP_SIZE)
    for _ in range(40):
        writer.write(cap.read()[1])
    writer.release()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    out, table = tmp_path / "out.mp4", tmp_path / "faces.csv"
    code, line = _run(capfd, "--source", cut, "--model", mask_model, "--no-display", "--output", out, "--csv", table)
    assert code == 2 and "truncated" in line
    n, size = video_info(out)
    assert 5 < n < 40 and size == CLIP_SIZE
    assert read_csv(table) and max(int(r["frame"]) for r in read_csv(table)) < n


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


def test_camera_that_does_not_exist(mask_model, capfd):
    index = next(i for i in range(9, 64) if not os.path.exists(f"/dev/video{i}"))
    code, line = _run(capfd, "--source", index, "--model", mask_model, "--no-display")
    assert code == 2 and f"camera {index}" in line


def test_stream_that_does_not_answer_times_out(mask_model, capfd):
    started = time.monotonic()
    code, line = _run(capfd, "--source", "rtsp://127.0.0.1:9/none", "--model", mask_model, "--no-display")
    assert code == 2 and "rtsp://127.0.0.1:9/none" in line
    assert time.monotonic() - started < 20


@pytest.mark.parametrize("name", ["no_such_folder/out.mp4", "out.xyz", "out.png"])
def test_unwritable_output_fails_before_any_work(tmp_path, clip, mask_model, capfd, name):
    started = time.monotonic()
    code, line = _run(capfd, "--source", clip, "--model", mask_model, "--no-display", "--output", tmp_path / name)
    assert code == 2 and ("--output" in line or "extension" in line)
    assert time.monotonic() - started < 10
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_mid_run_finalizes_outputs(tmp_path, clip, mask_model):
    out, table = tmp_path / "out.mp4", tmp_path / "faces.csv"
    env = dict(os.environ, DISPLAY="", WAYLAND_DISPLAY="")
    proc = subprocess.Popen([sys.executable, str(ROOT / "detect_mask_video.py"), "--source", str(clip), "--model",
                             str(mask_model), "--output", str(out), "--csv", str(table), "--no-display"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    for line in proc.stdout:
        if "starting video stream" in line:
            break
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    n, size = video_info(out)
    assert 0 < n < CLIP_FRAMES and size == CLIP_SIZE
    rows = read_csv(table)
    assert rows and max(int(r["frame"]) for r in rows) < n + 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temp file left behind"


@pytest.mark.parametrize("delay", [0.3, 0.8, 1.5])
def test_ctrl_c_during_start_up_is_one_line(tmp_path, clip, mask_model, delay):
    proc = subprocess.Popen([sys.executable, str(ROOT / "detect_mask_video.py"), "--source", str(clip), "--model",
                             str(mask_model), "--output", str(tmp_path / "o.mp4"), "--no-display"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode in (130, -signal.SIGINT), stderr
    assert "Traceback" not in stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
