"""Detectors on real photos: the seed's examples, dlib's annotated faces, a few mask_scenes_val
scenes with their reference boxes, a cat, and a face cut by the image border.

Thresholds sit a little under what `python -m bench.detection` measures, so a regression fails
while the run-to-run wobble of OpenCV's thread scheduling does not.
"""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from collections import defaultdict

import cv2
import numpy as np
import pytest

from facekit.detection import (DEFAULT_DETECTOR, DETECTORS, Res10Detector, YuNetDetector, create_detector,
                               pass_scales, tile_windows)
from facekit.errors import ModelError
from facekit.preprocess import load_image
from facekit.types import Box

from bench.detection import load_scenes, match, mosaics


@pytest.fixture(scope="module")
def default_detector():
    return create_detector()


def _boxes(faces) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([f.box.as_list() for f in faces], dtype=np.float32).reshape(-1, 4),
            np.array([f.score for f in faces], dtype=np.float32))


def _center_inside(face, x1, y1, x2, y2) -> bool:
    cx, cy = face.box.center
    return x1 <= cx <= x2 and y1 <= cy <= y2


# --- the seed's photos ----------------------------------------------------------------------------

@pytest.mark.parametrize("photo, count", [("obama.jpg", 1), ("two_people.jpg", 2), ("no_face_cat.png", 0),
                                          ("example_01.png", 1), ("example_02.png", 1)])
def test_default_detector_counts_faces(default_detector, media, photo, count):
    assert len(default_detector.detect(load_image(media / photo))) == count


def test_default_detector_finds_masked_woman_and_man_behind_her(default_detector, media):
    image = load_image(media / "example_03.png")  # 600x400
    faces = default_detector.detect(image)
    # The masked woman in front (centre ~(325, 180)) is the face res10 scores 0.43 and misses;
    # the older man behind her on the left (centre ~(215, 145)).
    assert any(_center_inside(f, 280, 120, 380, 250) for f in faces), [f.box for f in faces]
    assert any(_center_inside(f, 160, 90, 265, 200) for f in faces), [f.box for f in faces]
    assert len(faces) <= 3  # the third, partly visible man at the right edge at most


def test_default_is_the_detector_the_cli_offers():
    from facekit.cli.common import add_pipeline_options
    import argparse

    parser = argparse.ArgumentParser()
    add_pipeline_options(parser)
    args = parser.parse_args([])
    assert args.detector == DEFAULT_DETECTOR
    assert create_detector(args.detector, args.confidence).name == DEFAULT_DETECTOR


# --- dlib's annotated photos (PASCAL VOC faces, boxes by hand) ------------------------------------

def _imglab(path):
    for image in ET.parse(path).getroot().iter("image"):
        boxes = [[int(b.get("left")), int(b.get("top")), int(b.get("left")) + int(b.get("width")),
                  int(b.get("top")) + int(b.get("height"))] for b in image.iter("box") if b.get("ignore") != "1"]
        yield image.get("file"), np.array(boxes, dtype=np.float32).reshape(-1, 4)


@pytest.mark.parametrize("name", ["yunet", "res10"])
def test_annotated_faces_are_found(media, name):
    detector = create_detector(name)
    folder = media / "annotated_faces"
    found = total = false = 0
    for xml in ("training.xml", "testing.xml"):
        for file, truth in _imglab(folder / xml):
            boxes, scores = _boxes(detector.detect(load_image(folder / file)))
            m = match(boxes, scores, truth, 0.5)
            found += int((m >= 0).sum())
            false += int((m < 0).sum())
            total += len(truth)
    # bench: yunet 42/43 found, 3 boxes on unannotated background; res10 42/43, 1.
    assert total == 43
    assert found >= 40
    assert false <= 5


# --- mask_scenes_val: real street scenes with tight reference boxes --------------------------------

SCENES = [f"images/maksssksksss{i}.jpg" for i in range(10)]  # the first ten by number, not picked


@pytest.fixture(scope="module")
def scenes(datasets):
    root = datasets / "mask_scenes_val"
    rows = defaultdict(list)
    with open(root / "boxes.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["image"] in SCENES:
                rows[r["image"]].append(r)
    out = []
    for name in SCENES:
        truth = np.array([[float(r[k]) for k in ("xmin", "ymin", "xmax", "ymax")] for r in rows[name]]).reshape(-1, 4)
        out.append((load_image(root / name), truth, [r["label"] for r in rows[name]]))
    return out


def _scene_stats(detector, scenes):
    found = total = false = big_found = big_total = 0
    for image, truth, _ in scenes:
        boxes, scores = _boxes(detector.detect(image))
        m = match(boxes, scores, truth, 0.5)
        hit = set(m[m >= 0].tolist())
        big = [j for j, b in enumerate(truth) if b[2] - b[0] >= 32]
        found += len(hit)
        false += int((m < 0).sum())
        total += len(truth)
        big_total += len(big)
        big_found += sum(j in hit for j in big)
    return found / total, found / max(found + false, 1), big_found / big_total


def test_scene_recall_and_precision(default_detector, scenes):
    recall, precision, recall_big = _scene_stats(default_detector, scenes)
    # measured on these ten (38 faces, 17 of them >= 32 px): recall 0.82, precision 0.89, >= 32 px
    # 15/17 (seed res10: 0.34 / 0.93 / 11/17); the whole set: 0.72 / 0.90 / 0.91.
    assert recall >= 0.75
    assert precision >= 0.80
    assert recall_big >= 0.80


def test_default_finds_far_more_scene_faces_than_the_seed(default_detector, scenes):
    seed = Res10Detector(single_pass=True)
    assert _scene_stats(default_detector, scenes)[0] >= _scene_stats(seed, scenes)[0] + 0.25


def test_scene_mask_labels(default_detector, scenes):
    from facekit.heads import available_tasks, Head
    from facekit.pipeline import FacePipeline

    tasks = available_tasks()
    if "mask" not in tasks:
        pytest.skip("no trained mask model in models/")
    pipe = FacePipeline(default_detector, {"mask": Head.load(tasks["mask"])})
    right = labelled = 0
    for image, truth, labels in scenes:
        faces = pipe(image)
        boxes, scores = _boxes(faces)
        for i, j in enumerate(match(boxes, scores, truth, 0.5)):
            if j >= 0 and labels[j] in ("with_mask", "without_mask") and "mask" in faces[i].predictions:
                labelled += 1
                right += faces[i].predictions["mask"].label == labels[j]
    # models/mask of 23:26: 29/30 here, 0.91 on all of mask_scenes_val (the earlier /tmp/runs/mask_a
    # head: 20/30 and 0.64, which this rejects).
    assert labelled >= 25
    assert right / labelled >= 0.85


# --- edges -----------------------------------------------------------------------------------------

def test_face_touching_the_border_is_found_and_clipped(default_detector, media):
    image = load_image(media / "obama.jpg")
    full = default_detector.detect(image)[0].box
    # Cut the photo through the middle of the face: half a face, touching the left border.
    cut = image[:, (full.x1 + full.x2) // 2:]
    faces = default_detector.detect(cut)
    assert len(faces) >= 1
    box = faces[0].box
    assert box.x1 == 0
    assert 0 <= box.y1 < box.y2 <= cut.shape[0] and box.x2 <= cut.shape[1]
    assert box.width >= 4 and box.height >= 4


def test_a_small_box_at_the_frames_edge_is_no_cut_face(default_detector, datasets):
    """Only a big box that reaches the frame's edge is taken for a face cut by it, kept from half the threshold:
    taken so, boxes of 6-26 px in a corner or on an edge of three street scenes, where no face is, were faces
    (0.27-0.34, at 0.5)."""
    for n in (11, 12, 19):
        faces = default_detector.detect(load_image(datasets / "mask_scenes_val" / "images" / f"maksssksksss{n}.jpg"))
        assert len(faces) >= 6 and min(f.score for f in faces) >= default_detector.confidence, (n, faces)


@pytest.mark.parametrize("name, turn", [("12_angry_men.jpg", cv2.ROTATE_90_CLOCKWISE),
                                        ("example_03.png", cv2.ROTATE_90_COUNTERCLOCKWISE)])
def test_a_sideways_photo_finds_the_faces_an_upright_one_does(default_detector, media, name, turn):
    """A phone held sideways whose EXIF rotation was lost: 12_angry_men.jpg turned a quarter turn clockwise gave
    1 face of the upright photo's 10, example_03.png turned the other way 1 of 3. Where a face's key points say it
    lies on its side, the photo is searched again turned upright, and the faces map back onto the sideways one."""
    image = load_image(media / name)
    image = cv2.resize(image, None, fx=640 / max(image.shape[:2]), fy=640 / max(image.shape[:2]),
                       interpolation=cv2.INTER_AREA)
    upright = default_detector.detect(image)
    sideways = cv2.rotate(image, turn)
    faces = default_detector.detect(sideways)
    assert len(faces) == len(upright) >= 3
    assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)
    h, w = image.shape[:2]
    for face in faces:
        cx, cy = face.box.center
        # Back to the upright photo: the clockwise turn took (x, y) to (h - y, x), the other (y, w - x).
        x, y = (cy, h - cx) if turn == cv2.ROTATE_90_CLOCKWISE else (w - cy, cx)
        near = min(upright, key=lambda f: np.hypot(f.box.center[0] - x, f.box.center[1] - y))
        assert np.hypot(near.box.center[0] - x, near.box.center[1] - y) < 0.25 * near.box.width
        assert abs(face.box.width - near.box.height) <= 0.15 * near.box.height  # turned: width and height swap
        # Its key points as the photo shows the face: the eye line a quarter turn from the upright face's.
        (lx, ly), (rx, ry) = face.detector_keypoints[:2]
        roll = np.degrees(np.arctan2(ry - ly, rx - lx))
        assert abs(abs(roll) - 90) < 25 and (roll > 0) == (turn == cv2.ROTATE_90_CLOCKWISE)


def test_fast_searches_a_sideways_photo_again_as_its_help_says(default_detector, media):
    """--fast's help said "one detection pass per photo", but a photo where a face lies on its side is searched
    again turned upright with --fast too (as in video, which runs one pass): its help says so."""
    import copy
    import dataclasses

    from facekit.cli.image import build_parser

    image = load_image(media / "two_people.jpg")
    sideways = cv2.rotate(cv2.resize(image, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA),
                          cv2.ROTATE_90_COUNTERCLOCKWISE)
    fast = copy.copy(default_detector)
    fast.options = dataclasses.replace(default_detector.options, fine_pass=False)
    searches, search = [], fast._detect
    fast._detect = lambda *args, **kwargs: searches.append(1) or search(*args, **kwargs)
    assert len(fast.detect(sideways)) == 2 and len(searches) == 2
    assert "one detection pass per photo (a second, turned upright, where a face lies on its side)" in " ".join(
        build_parser().format_help().split())


def test_no_face_on_blank_and_tiny_images(default_detector):
    assert default_detector.detect(np.full((480, 640, 3), 127, np.uint8)) == []
    assert default_detector.detect(np.zeros((8, 8, 3), np.uint8)) == []


def test_boxes_are_sorted_and_inside_the_image(default_detector, datasets):
    image = load_image(datasets / "mask_scenes_val" / SCENES[1])  # 9 faces
    faces = default_detector.detect(image)
    assert len(faces) > 3
    scores = [f.score for f in faces]
    assert scores == sorted(scores, reverse=True)
    h, w = image.shape[:2]
    for f in faces:
        assert 0 <= f.box.x1 < f.box.x2 <= w and 0 <= f.box.y1 < f.box.y2 <= h
        assert f.detector_keypoints is not None and f.detector_keypoints.shape == (5, 2)


# --- res10 stays available, the seed's way --------------------------------------------------------

def test_res10_single_pass_is_the_seed_detector(media):
    det = Res10Detector(single_pass=True)
    assert det.confidence == 0.5 and det.input_size == (300, 300) and det.mean == (104.0, 177.0, 123.0)
    scores = det.raw(load_image(media / "example_03.png"))[1]
    assert len(scores) >= 1 and scores.min() >= 0.5


def test_res10_runs_a_photo_at_its_own_size_never_enlarged(media, monkeypatch):
    """res10's pyramid is the 300x300 blob and the photo at its own size, shrunk to max_side but never enlarged, as
    the docstrings say: enlarged to 640 px, the first 40 mask_scenes_val scenes took 2.7x as long, at precision
    0.92 instead of 0.98 (recall 0.56 instead of 0.41), another detector than the one benchmarked."""
    det = create_detector("res10")
    sizes = []
    forward = Res10Detector._forward
    monkeypatch.setattr(Res10Detector, "_forward", lambda self, net, image, size, confidence: sizes.append(size)
                        or forward(self, net, image, size, confidence))
    assert len(det.detect(load_image(media / "example_03.png"))) == 3  # 600x400
    assert (600, 400) in sizes and all(max(size) <= 600 for size in sizes), sizes


def test_confidence_is_per_detector_and_overridable():
    assert create_detector("res10").confidence == 0.5
    assert create_detector("yunet").confidence == YuNetDetector.default_confidence
    assert create_detector("yunet", 0.9).confidence == 0.9


def test_higher_confidence_never_finds_more(media):
    image = load_image(media / "example_03.png")
    assert len(create_detector("yunet", 0.95).detect(image)) <= len(create_detector("yunet", 0.5).detect(image))


@pytest.mark.parametrize("name, photo, confidence", [(DEFAULT_DETECTOR, "12_angry_men.jpg", 0.8),
                                                      ("yunet", "example_03.png", 0.9),
                                                      ("res10", "12_angry_men.jpg", 0.9)])
def test_a_higher_confidence_drops_the_faces_scoring_under_it(media, name, photo, confidence):
    """The checks above pass as well on a detector that ignores its confidence (the same faces at any value):
    --confidence must drop the faces scoring under it, and only those."""
    image = load_image(media / photo)
    low = create_detector(name, 0.5).detect(image)
    high = create_detector(name, confidence).detect(image)
    kept = {tuple(f.box.as_list()) for f in low if f.score >= confidence}
    assert 0 < len(high) < len(low), ([f.score for f in low], [f.score for f in high])
    assert {tuple(f.box.as_list()) for f in high} == kept and min(f.score for f in high) >= confidence


def test_unknown_detector_is_a_clear_error():
    with pytest.raises(ModelError, match="unknown detector"):
        create_detector("nope")
    assert {"res10", "yunet"} <= set(DETECTORS)


def test_pass_scales_follow_the_image_size():
    assert pass_scales(400, 300, 800, 2.0) == [1.0, 2.0]  # small scene: upscaled pass for tiny faces
    assert pass_scales(640, 480, 800, 2.0) == [1.0, 1.25]  # a video frame: a cheaper second pass
    assert pass_scales(1280, 720, 800, 2.0) == [1.0]
    # The upscaled pass is for faces too small at the photo's own size, which 1.2x or less hardly grows: a whole
    # pass for nothing. obama.jpg (910 px) under SCRFD's 960 px cap, a 720x540 photo under YuNet's 800: one pass.
    assert pass_scales(910, 1137, 960, 2.0) == [1.0] and pass_scales(720, 540, 800, 2.0) == [1.0]
    assert pass_scales(780, 585, 960, 2.0) == [1.0, pytest.approx(960 / 780)]
    assert pass_scales(4000, 3000, 800, 2.0) == [pytest.approx(0.32)]  # big photo: one shrunk pass


def test_box_calibration_moves_by_its_own_side_and_scales_each_side_on_its_own():
    """Every detector's boxes go through its BoxCalibration (res10's: down 0.123 of the box height, 0.83 as tall):
    dy is in box heights and dx in widths, sy scales the height and sx the width, on a tall box as on a wide one."""
    from facekit.detection import BoxCalibration

    tall_and_wide = np.array([[0, 0, 100, 200], [10, 20, 310, 120]], dtype=np.float32)
    moved = BoxCalibration(dx=0.1, dy=0.2, sx=1.5, sy=0.5).apply(tall_and_wide)
    assert moved.tolist() == [[-15, 90, 135, 190], [-35, 65, 415, 115]]


def test_each_faces_key_points_lie_on_its_own_face(default_detector, media):
    """The detector's 5 key points level a tilted face's crop for the heads and place the mesh: after NMS drops
    the passes' duplicate boxes, and after the close-up pass's grey border is taken off (example_03's woman cut
    by the left edge is found there), each face must carry its own points, every coordinate moved back."""
    faces = default_detector.detect(load_image(media / "example_03.png"))
    assert len(faces) == 3
    for face in faces:
        b, points = face.box, face.detector_keypoints
        slack = 0.1 * max(b.width, b.height)
        assert points.shape == (5, 2)
        assert np.all((points >= (b.x1 - slack, b.y1 - slack)) & (points <= (b.x2 + slack, b.y2 + slack))), face


def test_scrfd_500m_maps_a_squeezed_frames_boxes_back_to_its_own_pixels(media):
    """SCRFD-0.5GF squeezes a frame's side down to a multiple of 32 when that is nearer (366 px tall runs as 352):
    its boxes and key points are scaled back by each side's own factor, so they land where the same frame's padded
    run (to 384, no squeeze) puts them, to a pixel or two (each side scaled by the other's: 6-20 px off)."""
    photo = cv2.resize(load_image(media / "two_people.jpg"), (640, 366), interpolation=cv2.INTER_AREA)
    padded = cv2.copyMakeBorder(photo, 0, 18, 0, 0, cv2.BORDER_CONSTANT, value=(127, 127, 127))
    detector = create_detector("scrfd-500m")
    squeezed, whole = (sorted(detector.detect(image), key=lambda f: f.box.x1) for image in (photo, padded))
    assert len(squeezed) == len(whole) == 2
    for a, b in zip(squeezed, whole):
        assert np.abs(np.array(a.box.as_list()) - b.box.as_list()).max() <= 3, (a.box, b.box)
        assert np.abs(a.detector_keypoints - b.detector_keypoints).max() <= 3


def test_nms_drops_a_box_overlapping_a_better_one_past_the_threshold_only():
    """The passes' boxes of one face overlap (IoU 0.4-0.9): at nms_threshold 0.3 the best stays, the others go;
    two neighbours' boxes overlapping a little (IoU 0.25) both stay, best first."""
    from facekit.detection import nms

    boxes = np.array([[100, 100, 200, 200], [130, 100, 230, 200], [300, 100, 400, 200], [380, 100, 480, 200]],
                     dtype=np.float32)  # IoU 0.54 (first pair), 0.11 (second pair)
    assert nms(boxes, np.array([0.7, 0.9, 0.8, 0.6]), 0.3).tolist() == [1, 2, 3]
    assert nms(boxes, np.array([0.7, 0.9, 0.8, 0.6]), 0.6).tolist() == [1, 2, 0, 3]
    close = np.array([[0, 0, 100, 100], [60, 0, 160, 100]], dtype=np.float32)  # IoU 0.25
    assert nms(close, np.array([0.5, 0.6]), 0.3).tolist() == [1, 0]
    assert nms(close, np.array([0.5, 0.6]), 0.2).tolist() == [1]


def _passes_run(detector, monkeypatch) -> list[tuple[int, int]]:
    """The input sizes (h, w) of every network pass `detector` makes from now on."""
    sizes = []
    run = type(detector)._run

    def counted(self, image, floor=None):
        sizes.append(image.shape[:2])
        return run(self, image, floor)

    monkeypatch.setattr(type(detector), "_run", counted)
    return sizes


def _same_faces(a, b, iou: float = 0.7) -> bool:
    if len(a) != len(b):
        return False
    if not len(a):
        return True
    (ba, _), (bb, _) = _boxes(a), _boxes(b)
    return bool(np.all(match(ba, np.ones(len(ba)), bb, iou) >= 0))


def test_the_upscaled_pass_runs_only_where_a_photo_may_hold_small_faces(media, scenes, monkeypatch):
    """SCRFD's upscaled pass costs 2-3x the photo's own; it is skipped where that pass sees nothing under 32 px
    and found a face (fine_gate). example_03: two passes (its own size and the close-up), not three, for the
    same faces; the crowd scenes keep it and their faces; a thumbnail whose face scores under the threshold at
    its own size (the masked woman of example_03, 56 px tall) keeps it, and its face."""
    detector = create_detector("scrfd")
    sizes = _passes_run(detector, monkeypatch)
    photo = load_image(media / "example_03.png")
    gated = detector.detect(photo)
    assert len(sizes) == 2 and (400, 600) in sizes, sizes
    with monkeypatch.context() as m:
        m.setattr(detector, "fine_gate", None)
        sizes.clear()
        everything = detector.detect(photo)
        assert len(sizes) == 3 and (640, 960) in sizes, sizes
        assert len(gated) == 3 and _same_faces(gated, everything)
        ungated = [detector.detect(image) for image, _, _ in scenes]
    sizes.clear()
    assert all(_same_faces(detector.detect(image), faces) for (image, _, _), faces in zip(scenes, ungated))
    upscaled = [s for s in sizes if s[0] > 420]  # the scenes are at most 400 px tall; their 2x pass, 800 px
    assert len(upscaled) >= 5, sizes

    b = next(f.box for f in everything if 263 <= (f.box.x1 + f.box.x2) / 2 <= 400)  # the masked woman
    thumb = photo[b.y1:b.y2, b.x1:b.x2]
    thumb = cv2.resize(thumb, (round(thumb.shape[1] * 56 / thumb.shape[0]), 56), interpolation=cv2.INTER_AREA)
    own = detector._pass(thumb, 1.0, floor=0.1)
    assert not np.any(own[:, 14] >= detector.confidence)  # not found at its own size
    assert not np.any((own[:, 2] < 32) & (own[:, 14] >= 0.1))  # nor anything small there
    sizes.clear()
    assert len(detector.detect(thumb)) == 1
    assert (112, 96) in sizes, sizes  # found upscaled
    # A lower --confidence must not skip it: a 0.3-0.5 box at the thumbnail's own size is no face found.
    low = create_detector("scrfd", 0.3)
    thumb = cv2.resize(photo[b.y1:b.y2, b.x1:b.x2], (55, 64), interpolation=cv2.INTER_AREA)
    assert np.any(low._pass(thumb, 1.0)[:, 14] >= 0.3) and not np.any(low._pass(thumb, 1.0)[:, 14] >= 0.5)
    sizes.clear()
    assert len(low.detect(thumb)) == 1 and (128, 110) in sizes, sizes


def test_res10_frames_a_close_up_like_yunet(media):
    """A face filling the frame (a selfie, a dataset crop) used to get a nose-to-chin box from res10."""
    image = load_image(media / "obama.jpg")
    face = create_detector("yunet").detect(image)[0].box
    pad = face.width // 10
    close_up = image[face.y1 - pad:face.y2 + pad, face.x1 - pad:face.x2 + pad]
    yunet = create_detector("yunet").detect(close_up)
    res10 = create_detector("res10").detect(close_up)
    assert len(yunet) == 1 and len(res10) == 1
    assert res10[0].box.iou(yunet[0].box) > 0.6


@pytest.mark.parametrize("photo, share", [("obama.jpg", 0.2), ("obama.jpg", 0.3), ("obama_and_biden.jpg", 0.3),
                                          ("annotated_faces/Tom_Cruise_avp_2014_4.jpg", 0.3)])
def test_res10_boxes_a_face_cut_at_the_top_up_to_the_edge(media, photo, share):
    """A face cut by the photo's top edge (obama.jpg, 30% of its box off): res10's box stopped 30-65 px under the
    edge, around the nose and chin (IoU 0.70 with the uncut photo's box moved by the cut), where scrfd's reaches it;
    the calibration took res10's forehead off a box that has none in the photo."""
    image = load_image(media / photo)
    res10 = create_detector("res10")
    ref = max(res10.detect(image), key=lambda f: f.box.area).box
    y0 = int(ref.y1 + share * ref.height)
    part = np.ascontiguousarray(image[y0:])
    expected = Box.clipped(ref.x1, ref.y1 - y0, ref.x2, ref.y2 - y0, part.shape[1], part.shape[0])
    got = max(res10.detect(part), key=lambda f: f.box.iou(expected)).box
    assert got.y1 <= 0.02 * ref.height and got.iou(expected) > 0.8, (got, expected)


# --- big photos: full-resolution tiles ------------------------------------------------------------

def test_tile_windows_cover_the_photo_with_overlap():
    windows = tile_windows(3000, 2000, 1280, 256)
    covered = np.zeros((2000, 3000), dtype=bool)
    for x1, y1, x2, y2 in windows:
        assert (x2 - x1, y2 - y1) == (1280, 1280)
        covered[y1:y2, x1:x2] = True
    assert covered.all()
    for axis in (0, 1):
        starts = sorted({w[axis] for w in windows})
        assert all(b - a <= 1280 - 256 for a, b in zip(starts, starts[1:]))
    assert tile_windows(800, 600, 1280, 256) == [(0, 0, 800, 600)]


def test_small_faces_on_tile_edges_of_a_big_photo_are_found_once(default_detector, small_faces_photo):
    """25 px faces on a 3000x2000 photo: shrunk to 1280 they are 11 px and lost; the tiles find each
    one once, also where it straddles a tile edge or corner."""
    canvas, expected = small_faces_photo
    boxes, scores = _boxes(default_detector.detect(canvas))
    assert len(boxes) == 4
    assert (match(boxes, scores, expected) >= 0).all()
    # What one shrunk pass gives up: YuNet loses all four (SCRFD still finds these 11 px faces).
    assert create_detector("yunet", fine_pass=False).detect(canvas) == []


def test_small_faces_of_a_photo_over_4096_px_are_found_where_they_are(default_detector, media):
    """A photo past 4096 px (a 24 MP camera's is 6000 wide) is tiled at 4096 on its long side: the tiles' boxes are
    scaled back to its own pixels. 32 px faces on a 4300 px strip: 10 px in the shrunk pass, found by the tiles, one
    of them cut by the photo's edge."""
    small = cv2.resize(load_image(media / "obama.jpg"), None, fx=0.125, fy=0.125, interpolation=cv2.INTER_AREA)
    ref = default_detector.detect(small)[0].box
    canvas = np.full((200, 4300, 3), 127, dtype=np.uint8)
    expected = []
    for x0 in (1500, 4100):  # the second where a box left at the tiles' scale lands ~200 px to its left
        canvas[30:30 + small.shape[0], x0:x0 + small.shape[1]] = small
        expected.append([ref.x1 + x0, ref.y1 + 30, ref.x2 + x0, ref.y2 + 30])
    # One cut by the photo's own left edge (5 px of it past): a tile's edge there cuts nothing the next tile has.
    cut = small[:, ref.x1 + 5:]
    canvas[30:30 + cut.shape[0], :cut.shape[1]] = cut
    expected.append([0, ref.y1 + 30, ref.x2 - ref.x1 - 5, ref.y2 + 30])
    boxes, scores = _boxes(default_detector.detect(canvas))
    assert len(boxes) == 3 and (match(boxes, scores, np.array(expected, dtype=np.float32)) >= 0).all(), boxes


def test_big_crowd_photo_keeps_its_small_faces(datasets):
    """64 street scenes on one 3200x2400 canvas (an 8 MP crowd photo). This one, default detector (SCRFD):
    recall 0.82 at precision 0.88 with tiles, 0.49 when the photo is only shrunk to 1280 px (YuNet: 0.62 at
    0.91, and 0.16)."""
    scenes = load_scenes(datasets / "mask_scenes_val", 64)
    (big,), (image,) = mosaics(scenes, [load_image(s.path) for s in scenes])
    found = {}
    for name, det in (("tiles", create_detector()), ("fast", create_detector(fine_pass=False))):
        boxes, scores = _boxes(det.detect(image))
        m = match(boxes, scores, big.boxes)
        found[name] = ((m >= 0).sum() / len(big.boxes), (m >= 0).sum() / max(len(m), 1))
    assert found["tiles"][0] >= 0.75 and found["tiles"][1] >= 0.83
    assert found["fast"][0] <= found["tiles"][0] - 0.2


def test_tiles_keep_no_box_the_shrunk_pass_sees_well_and_scores_nothing():
    """On two_people.jpg upscaled to 24 MP the tiles took three blurred sleeve buttons, 13-14 px at the shrunk
    pass's scale where it scored them under 0.02, for faces (0.50-0.56). Painted squares here stand for what each
    pass scores: such a box goes, a face the shrunk pass scores under the threshold stays, as does one too small
    for it to see, and a face both find."""
    from facekit.detection import BoxCalibration, CloseUp, MultiPassDetector
    from facekit.scrfd import SCRFDDetector

    # grey level: (x, y, side) in the 2560x1280 photo, score in the shrunk pass (1280x640), score in the tiles
    painted = {200: ((200, 200, 120), 0.8, 0.8), 150: ((1500, 900, 40), None, 0.55),
               100: ((2000, 300, 20), None, 0.6), 50: ((600, 900, 40), 0.2, 0.6)}

    class Painted(MultiPassDetector):
        name, default_confidence, calibration, closeup = "painted", 0.5, BoxCalibration(), CloseUp(side=0)
        tile_check = SCRFDDetector.tile_check

        def _run(self, image, floor=None):
            floor = self._floor() if floor is None else floor
            found = []
            for grey, (_, shrunk, tiles) in painted.items():
                score = shrunk if image.shape[0] == 640 else tiles
                n, _, stats, _ = cv2.connectedComponentsWithStats((image[:, :, 0] == grey).astype(np.uint8))
                found += [[x, y, w, h] + [0] * 10 + [score] for x, y, w, h, _ in stats[1:]
                          if score is not None and score >= floor]
            return np.array(found, dtype=np.float32).reshape(-1, 15)

    photo = np.zeros((1280, 2560, 3), dtype=np.uint8)
    for grey, ((x, y, side), _, _) in painted.items():
        photo[y:y + side, x:x + side] = grey
    found = {grey for f in Painted().detect(photo) for grey in painted if f.box.x1 == painted[grey][0][0]}
    assert found == {200, 100, 50}
    Painted.tile_check = None
    found = {grey for f in Painted().detect(photo) for grey in painted if f.box.x1 == painted[grey][0][0]}
    assert found == {200, 150, 100, 50}


@pytest.mark.parametrize("name, photo", [(DEFAULT_DETECTOR, "Tom_Cruise_avp_2014_4.jpg"), ("res10", "2007_007763.jpg")])
def test_lower_confidence_keeps_every_face_a_higher_one_finds(media, name, photo):
    # At 0.1 a big stray box once decided the close-up pass: SCRFD skipped it and lost the portrait's face that
    # only it finds (0.86), res10 ran it alone and lost the group photo's 0.99 faces.
    image = load_image(media / "annotated_faces" / photo)
    found = {c: {tuple(f.box.as_list()) for f in create_detector(name, c).detect(image)} for c in (0.5, 0.1)}
    assert found[0.5] and found[0.5] <= found[0.1], found


def test_readme_on_res10_and_the_cat(media):
    """README: PyImageSearch's one 300x300 res10 pass takes the cat for a face at the score it quotes, and
    facekit's res10 finds no face there (the README said res10 fired on it, 0.59, once its passes no longer did)."""
    import re

    import cv2

    from facekit.assets import resolve

    from .conftest import ROOT

    text = " ".join((ROOT / "README.md").read_text().split())
    quoted = re.search(r"takes the cat of `no_face_cat.png` for a face \((0\.\d+)\), facekit's res10 finds none there",
                       text)
    assert quoted, "README no longer says what res10 does on the cat"
    image = load_image(media / "no_face_cat.png")
    net = cv2.dnn.readNetFromCaffe(str(resolve("res10.prototxt")), str(resolve("res10.caffemodel")))
    net.setInput(cv2.dnn.blobFromImage(image, 1.0, (300, 300), (104.0, 177.0, 123.0)))  # PyImageSearch's pass
    assert f"{float(net.forward()[0, 0, :, 2].max()):.2f}" == quoted.group(1)
    assert create_detector("res10").detect(image) == []
