"""The library inside a host program (a web service, a notebook): what it leaves to the host."""

from __future__ import annotations

import pytest

CLIP = "short_hamilton_clip.mp4"


@pytest.fixture(scope="module")
def analyzer():
    from facekit import FaceAnalyzer

    return FaceAnalyzer(tasks="mask")


def test_analyze_video_leaves_the_hosts_stderr_alone_while_a_source_opens(analyzer, media, capfd, monkeypatch):
    """The video script holds the process's stderr while OpenCV opens a source, to hide FFmpeg's lines. In the
    library that dropped what the host's other threads wrote meanwhile: a web server's log lines, for the 5 s a
    stream that did not answer took to open. A line written while the clip opens now gets through."""
    import os

    import facekit.video as video

    real = video.cv2.VideoCapture

    def opening(*args, **kwargs):  # another thread logs at that moment
        os.write(2, b"web-worker: request 4 served 200\n")
        return real(*args, **kwargs)

    monkeypatch.setattr(video.cv2, "VideoCapture", opening)
    assert len(list(analyzer.analyze_video(str(media / CLIP), max_frames=2))) == 2
    assert "request 4 served 200" in capfd.readouterr().err


def test_a_video_gives_opencv_its_log_level_back(analyzer, media, tmp_path):
    """analyze_video silenced OpenCV's log for the rest of the process: after one video a notebook's
    cv2.imread("typo.png") gave None without OpenCV's "can't open/read file" line. It is silent while videos run
    (an image sequence's end, a stream that does not answer: the caller gets one VideoError) and as it was after
    the last one ends, however it ends."""
    import cv2

    from facekit.errors import VideoError

    logging, before = cv2.utils.logging, cv2.utils.logging.getLogLevel()
    warning, silent = logging.LOG_LEVEL_WARNING, logging.LOG_LEVEL_SILENT
    try:
        logging.setLogLevel(warning)
        assert len(list(analyzer.analyze_video(media / CLIP, max_frames=2))) == 2
        assert logging.getLogLevel() == warning
        first, second = (analyzer.analyze_video(media / CLIP, max_frames=5) for _ in range(2))
        next(first), next(second)
        assert logging.getLogLevel() == silent  # while they run
        first.close()
        assert logging.getLogLevel() == silent
        second.close()
        assert logging.getLogLevel() == warning
        (tmp_path / "junk.mp4").write_bytes(b"not a video" * 100)
        with pytest.raises(VideoError):
            next(analyzer.analyze_video(tmp_path / "junk.mp4"))
        assert logging.getLogLevel() == warning
    finally:
        logging.setLogLevel(before)


def test_the_video_script_run_in_a_notebooks_kernel_gives_opencv_its_log_level_back(media, tmp_path, capfd):
    """README runs the scripts from a cell with `%run` in the kernel itself: after `%run detect_mask_video.py`
    (its main() in the kernel's process) OpenCV's log stayed silent, and a later cv2.imread("typo.png") there gave
    None without OpenCV's "can't open/read file" line, as analyze_video once did."""
    import cv2

    from facekit.cli.video import main

    logging, before = cv2.utils.logging, cv2.utils.logging.getLogLevel()
    try:
        logging.setLogLevel(logging.LOG_LEVEL_WARNING)
        assert main(["-s", str(media / CLIP), "--tasks", "mask", "--max-frames", "3", "--no-display",
                     "--csv", str(tmp_path / "faces.csv")]) == 0
        assert len((tmp_path / "faces.csv").read_text().splitlines()) > 3  # a header and each frame's faces
        assert logging.getLogLevel() == logging.LOG_LEVEL_WARNING
        capfd.readouterr()
        assert cv2.imread(str(tmp_path / "typo.png")) is None
        assert "can't open/read file" in capfd.readouterr().err
    finally:
        logging.setLogLevel(before)


def test_the_timeline_and_training_plots_leave_the_hosts_matplotlib_alone(media, tmp_path):
    """facekit drew its plots through pyplot after matplotlib.use("Agg"), which switched the whole process: in a
    notebook, after `%run detect_mask_video.py --timeline t.png` the kernel's backend was Agg, its plt.plot showed
    nothing, and the figures it had open were closed (a Mac desktop's windows too). Here a host on its own backend
    (svg stands in for the notebook's inline one) with a figure open draws the timeline and a training plot."""
    import subprocess
    import sys

    import cv2

    code = f"""
import matplotlib.pyplot as plt
plt.switch_backend("svg")
mine = plt.figure()
from facekit.cli.video import main
from facekit.evaluation import training_plot
assert main(["-s", {str(media / CLIP)!r}, "--tasks", "mask,emotion", "--max-frames", "30", "--no-display",
             "--timeline", {str(tmp_path / "t.png")!r}]) == 0
training_plot({{"loss": [1.0, 0.5], "accuracy": [0.5, 0.9]}}, {str(tmp_path / "plot.png")!r})
import matplotlib
print(matplotlib.get_backend(), plt.get_fignums() == [mine.number])
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split()[-2:] == ["svg", "True"], res.stdout
    for name in ("t.png", "plot.png"):
        image = cv2.imread(str(tmp_path / name))
        assert image is not None and image.shape[0] > 100 and image.std() > 10, name  # a drawn plot


def test_an_analyzer_built_per_request_and_dropped_leaves_nothing_behind(media, threads_started_here):
    """A web handler that builds an analyzer per request (README: "One analyzer may serve several threads") and
    drops it without close(): its models, its video pipeline (the video detector, its int8 heads) and its video's
    threads must go with it. Nothing of facekit's holds one: 100 such requests with a 2-frame video each grew the
    process 176 -> 250-263 MB only as glibc kept what the video threads freed (flat under MALLOC_ARENA_MAX=1)."""
    import gc
    import weakref

    from facekit import FaceAnalyzer

    def request():
        analyzer = FaceAnalyzer(tasks="mask", landmarks=True)
        faces = analyzer.analyze(media / "two_people.jpg")
        frames = [len(result.faces) for result in analyzer.analyze_video(media / CLIP, max_frames=2)]
        parts = [analyzer, analyzer.detector, analyzer.landmarker, *analyzer.heads.values(),
                 *analyzer._video_pipelines.values()]
        parts += [part for p in analyzer._video_pipelines.values() for part in (p.detector, *p.heads.values())]
        return [f.label("mask") for f in faces], frames, [weakref.ref(p) for p in parts]

    labels, frames, refs = request()
    assert labels == ["without_mask", "without_mask"] and frames == [2, 2]
    assert len(refs) >= 7  # the video pipeline is its own: another detector and the int8 heads
    gc.collect()
    assert [type(r()).__name__ for r in refs if r() is not None] == []
    assert threads_started_here("facekit", within=60) == []
