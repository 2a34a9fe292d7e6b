"""Drawing on real photos and frames: labels of crowds in small frames, labels in any script."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

SMALL = (320, 180)  # a small video's frame (w, h): drawn at its own size, as the video script draws


@pytest.fixture(scope="module")
def analyzer():
    from facekit import FaceAnalyzer

    return FaceAnalyzer()


def _hamilton_frame(media, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(media / "short_hamilton_clip.mp4"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    cap.release()
    assert ok
    return cv2.resize(frame, SMALL, interpolation=cv2.INTER_AREA)


def _painted_blocks(monkeypatch) -> list:
    """The label blocks annotate paints, as it paints them."""
    from facekit import drawing

    painted = []
    paint = drawing._paint_block
    monkeypatch.setattr(drawing, "_paint_block", lambda img, lines, block, *a: (painted.append(block),
                                                                                paint(img, lines, block, *a)))
    return painted


def _overlapping(blocks) -> list:
    return [(a, b) for i, a in enumerate(blocks) for b in blocks[i + 1:]
            if a.x < b.x + b.width and b.x < a.x + a.width and a.top < b.top + b.height and b.top < a.top + a.height]


@pytest.mark.parametrize("source", ["short_hamilton_clip.mp4", "crowd_masks.jpg"])
def test_labels_of_adjacent_faces_in_a_small_frame_neither_overlap_nor_leave_it(analyzer, media, monkeypatch, source):
    """short_hamilton_clip.mp4 shrunk to 320x180 (four audience faces ~25 px wide side by side, each with a track
    id and three heads' lines): every label was four lines of ~110 px, painted over each other's text; crowd_masks.jpg
    at that size (18 faces ~40 px wide) too. Labels now get fewer letters (whole percents, the track id beside the
    first head's label, that line alone, the first head's label alone) until each has a place of its own inside the
    frame."""
    from facekit.drawing import Style, annotate

    if source.endswith(".mp4"):
        frame = _hamilton_frame(media, 216)
    else:
        frame = cv2.resize(cv2.imread(str(media / source)), SMALL, interpolation=cv2.INTER_AREA)
    faces = [face.replace(track_id=i + 1) for i, face in enumerate(analyzer.analyze(frame))]
    assert len(faces) >= 4
    painted = _painted_blocks(monkeypatch)
    drawn = annotate(frame, faces, Style.from_heads(analyzer.heads))
    assert drawn.shape == frame.shape  # a video frame keeps its size
    assert len(painted) == len(faces), "a face lost its label"
    assert not _overlapping(painted)
    h, w = frame.shape[:2]
    for block in painted:
        assert 0 <= block.x and block.x + block.width <= w and 0 <= block.top and block.top + block.height <= h, block


def _side(box, block) -> str:
    if block.top + block.height <= box.y1:
        return "above"
    return "below" if block.top >= box.y2 else "over"


def test_a_tracked_faces_label_keeps_its_place_and_length_from_frame_to_frame(analyzer, media, monkeypatch):
    """short_hamilton_clip.mp4 at 320x180, the audience's last 75 frames: each frame's labels were placed afresh, so a
    face's label jumped between above and below its box, and between long and short labels, a dozen times a
    second. A track's label now stays where it was while that place is still free, and labels get longer again
    only after LABEL_CALM_FRAMES frames."""
    from facekit import drawing
    from facekit.drawing import LABEL_CALM_FRAMES, Style, annotate

    cap = cv2.VideoCapture(str(media / "short_hamilton_clip.mp4"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 200)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(frame, SMALL, interpolation=cv2.INTER_AREA))
    cap.release()
    assert len(frames) >= 60
    seen = []
    leader = drawing._draw_leader
    monkeypatch.setattr(drawing, "_draw_leader", lambda img, box, block, *a: (seen.append((box, block)),
                                                                              leader(img, box, block, *a)))
    style = Style.from_heads(analyzer.heads)
    places, lengths = [], []
    for index, _, faces in analyzer.analyze_video(frames, fps=29.97):
        seen.clear()
        annotate(frames[index], faces, style)
        tracks = {id(face.box): face.track_id for face in faces}
        places.append({tracks[id(box)]: _side(box, block) for box, block in seen})
        lengths.append({block.height for _, block in seen})
    moves = sum(place[t] != before[t] for before, place in zip(places, places[1:]) for t in place if t in before)
    labelled = sum(len(place) for place in places)
    assert labelled > 100 and moves <= labelled // 30, f"{moves} moves of {labelled} labels"
    changes = [i for i, (a, b) in enumerate(zip(lengths, lengths[1:])) if a and b and a != b]
    assert all(b - a >= LABEL_CALM_FRAMES for a, b in zip(changes, changes[1:])), changes
