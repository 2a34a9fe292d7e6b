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
