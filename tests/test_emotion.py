"""The emotion head: 7-class grayscale training through the one trainer, parity of its inputs, the
committed model on a real photo."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from facekit.preprocess import CropSpec, crop_face, load_image, to_model_input

from .conftest import ROOT, run_script

EMOTIONS = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
MODEL = ROOT / "models" / "emotion"


def fer_subset(datasets, root, split, per_class, skip=()):
    for label in EMOTIONS:
        if label in skip:
            continue
        (root / label).mkdir(parents=True)
        for src in sorted((datasets / "fer2013" / split / label).iterdir())[:per_class]:
            shutil.copy(src, root / label / src.name)
    return root


def test_fer_image_parity(datasets, tmp_path):
    """A 48x48 gray FER image reaches the network as the same array in training and at inference."""
    from facekit.training import load_dataset

    data = fer_subset(datasets, tmp_path / "fer", "test", 1)
    trained = load_dataset(data, 96, "gray", CropSpec(), face_crops="none")
    first = data / trained.labels[0]
    at_inference = to_model_input([load_image(next(first.iterdir()))], 96, "gray")
    assert np.array_equal(trained.x[0], at_inference[0])
    assert np.array_equal(trained.x[0][..., 0], trained.x[0][..., 2])  # gray in all three channels


def test_detector_crop_parity_in_gray(media, tmp_path):
    """A detector crop of a real photo goes through the same gray path as a training image."""
    import cv2

    from facekit.detection import create_detector
    from facekit.training import load_dataset

    image = load_image(media / "astronaut.png")
    face = create_detector("yunet").detect(image)[0]  # the detector the trainer is given below
    spec = CropSpec(margin=0.1)
    for label in ("a", "b"):
        (tmp_path / "d" / label).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "d" / label / "x.png"), image)
    trained = load_dataset(tmp_path / "d", 64, "gray", spec, face_crops="detect", detector_name="yunet")
    assert np.array_equal(trained.x[0], to_model_input([crop_face(image, face.box, spec)], 64, "gray")[0])


@pytest.mark.slow
def test_smoke_training_seven_classes_with_a_class_missing_from_test(datasets, tmp_path):
    train = fer_subset(datasets, tmp_path / "train", "train", 6)
    test = fer_subset(datasets, tmp_path / "test", "test", 2, skip=("disgust",))
    model = tmp_path / "emotion"
    res = run_script("train_mask_detector.py", "-d", train, "--test-dataset", test, "-m", model, "--color", "gray",
                     "--face-crops", "none", "-s", "48", "-e", "1", "--fine-tune-epochs", "0", "-b", "16")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "no folder for class(es) ['disgust']" in res.stdout
    card = json.loads((model / "card.json").read_text())
    assert card["task"] == "emotion" and card["labels"] == EMOTIONS and card["color"] == "gray"
    report = json.loads((model / "report.json").read_text())
    assert report["disgust"]["support"] == 0 and report["happy"]["support"] == 2


committed = pytest.mark.skipif(not (MODEL / "card.json").exists(), reason="no committed emotion model")


@committed
def test_committed_emotion_card(media):
    import cv2

    from facekit.heads import Head

    head = Head.load(MODEL)
    assert head.task == "emotion" and head.labels == EMOTIONS
    # Its card's "color": "gray" is how its faces are read: a colour photo reads as its gray copy does (to 0.004,
    # the gray taken after the resize; read in colour, 0.13 apart).
    photo = load_image(media / "example_01.png")
    gray = cv2.cvtColor(cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    colour, grey = (head.predict([image])[0] for image in (photo, gray))
    assert head.card.color == "gray"
    assert max(abs(colour.probabilities[k] - grey.probabilities[k]) for k in EMOTIONS) < 0.02
    card = json.loads((MODEL / "card.json").read_text())
    assert card["color"] == "gray" and card["metrics"]["test_accuracy"] > 0.8  # FER+ test (PrivateTest)
    # Trained on FER+'s ten votes per face, with masks drawn on a share of the training faces.
    assert card["dataset"]["labels_from"]["source"] == "votes"
    assert card["training"]["loss"] == "cross-entropy to soft labels"
    # Drawn once on the training set by the trainer, or fresh each epoch by tools/accelerator_train.py.
    started = card["training"].get("started_from", {})
    assert (card["dataset"].get("masks_drawn_on_training_faces", 0) > 5000 or
            "--mask-share 0.3" in started["command"] and started["fit"]["epochs"])


@committed
def test_astronaut_gets_an_emotion(media, tmp_path):
    out = tmp_path / "a.json"
    res = run_script("detect_mask_image.py", "-i", media / "astronaut.png", "-j", out, "--no-display")
    assert res.returncode == 0, res.stderr
    faces = json.loads(out.read_text())["faces"]
    assert len(faces) == 1
    emotion = faces[0]["emotion"]
    assert emotion["label"] in EMOTIONS and set(emotion["probabilities"]) == set(EMOTIONS)
    assert abs(sum(emotion["probabilities"].values()) - 1) < 1e-3
    assert emotion["label"] == "happy"  # she is smiling broadly


def test_intensity_follows_the_neutral_probability_and_stays_in_range():
    from facekit.types import Box, Face, Prediction

    calm = Prediction.from_probabilities(EMOTIONS, np.array([0.02, 0.0, 0.03, 0.05, 0.85, 0.03, 0.02]))
    strong = Prediction.from_probabilities(EMOTIONS, np.array([0.01, 0.0, 0.01, 0.95, 0.01, 0.01, 0.01]))
    assert calm.intensity == pytest.approx(0.15) and strong.intensity == pytest.approx(0.99)
    mask = Prediction.from_probabilities(["with_mask", "without_mask"], np.array([0.9, 0.1]))
    assert mask.intensity is None  # a head without a neutral class has no intensity
    record = Face(Box(0, 0, 10, 10), 0.9, {"mask": mask}).to_dict()
    assert "emotion_intensity" not in record and "emotion_eyes_only" not in record


@committed
def test_example_03_masked_woman_gets_an_eyes_only_emotion_in_json_and_drawing(media, tmp_path):
    """The woman in front wears a mask: her emotion is still given, marked as read from the eyes only,
    in the JSON and the drawing; the unmasked man behind her is not marked. Every face has an intensity."""
    import cv2

    from facekit.detection import create_detector
    from facekit.drawing import Style, annotate, head_lines
    from facekit.heads import load_heads
    from facekit.pipeline import FacePipeline
    from facekit.types import Prediction

    out, picture = tmp_path / "e3.json", tmp_path / "e3.png"
    res = run_script("detect_mask_image.py", "-i", media / "example_03.png", "-j", out, "-o", picture,
                     "--no-display", "--tasks", "mask,emotion")
    assert res.returncode == 0, res.stderr
    faces = json.loads(out.read_text())["faces"]

    def at(x, y):
        return next(f for f in faces if f["box"][0] <= x < f["box"][2] and f["box"][1] <= y < f["box"][3])

    woman, man = at(320, 190), at(215, 140)
    assert woman["mask"]["label"] == "with_mask" and woman["emotion"]["label"] in EMOTIONS
    assert woman["emotion_eyes_only"] is True and man["emotion_eyes_only"] is False
    for f in faces:
        assert 0.0 <= f["emotion_intensity"] <= 1.0
        assert f["emotion_intensity"] == pytest.approx(1 - f["emotion"]["probabilities"]["neutral"], abs=1e-3)

    # The same faces in process: the drawn line says "(eyes only)" and is dimmer than it would be unmasked.
    image = load_image(media / "example_03.png")
    heads = load_heads(["mask", "emotion"])
    found = FacePipeline(create_detector(), heads)(image)
    masked = next(f for f in found if f.predictions["mask"].label == "with_mask")
    style = Style.from_heads(heads)
    text, color = head_lines(masked, style)[1]
    assert text.endswith("(eyes only)") and text.startswith(style.text("emotion", masked.predictions["emotion"].label))
    unmasked = Prediction.from_probabilities(["with_mask", "without_mask"], np.array([0.0, 1.0]))
    plain_text, plain_color = head_lines(masked.with_predictions(mask=unmasked), style)[1]
    assert "(eyes only)" not in plain_text and sum(color) < sum(plain_color)
    drawn = annotate(image, [masked], style)
    assert cv2.absdiff(drawn, image).max() > 100 and cv2.imread(str(picture)) is not None


@committed
def test_video_csv_and_timeline_carry_a_smoothed_intensity_per_track(media, tmp_path):
    import csv

    import cv2

    table, plot = tmp_path / "faces.csv", tmp_path / "timeline.png"
    res = run_script("detect_mask_video.py", "--source", media / "short_hamilton_clip.mp4", "--no-display",
                     "--tasks", "mask,emotion", "--max-frames", "40", "--csv", table, "--timeline", plot)
    assert res.returncode == 0, res.stderr[-2000:]
    with table.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and "emotion_intensity" in rows[0]
    labelled = [r for r in rows if r["emotion_label"]]
    assert len(labelled) > 30
    for r in labelled:
        value = float(r["emotion_intensity"])
        assert 0.0 <= value <= 1.0
        # Derived from the smoothed probabilities, so it is smoothed with them.
        assert value == pytest.approx(1 - float(r["emotion_neutral"]), abs=2e-4)
    assert cv2.imread(str(plot)) is not None


@committed
def test_video_csv_marks_a_masked_faces_emotion_as_eyes_only(media, tmp_path):
    """The JSON record had emotion_eyes_only; the video CSV dropped it, so a table of intensity over time
    could not tell the masked woman of example_03 (emotion read from her eyes) from the unmasked faces."""
    import csv

    from facekit.records import csv_columns

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        shutil.copy(media / "example_03.png", frames / f"{i:04d}.png")
    table = tmp_path / "faces.csv"
    res = run_script("detect_mask_video.py", "--source", frames / "%04d.png", "--no-display",
                     "--tasks", "mask,emotion", "--csv", table)
    assert res.returncode == 0, res.stderr[-2000:]
    with table.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and all(r["emotion_eyes_only"] in ("0", "1") for r in rows if r["emotion_label"])
    for r in rows:
        if r["emotion_label"]:
            assert r["emotion_eyes_only"] == ("1" if r["mask_label"] == "with_mask" else "0")
    assert {r["emotion_eyes_only"] for r in rows} == {"0", "1"}  # the woman masked, the men not
    # Without a mask head nobody looked at the mouth: no column that would claim it was seen uncovered.
    assert "emotion_eyes_only" not in csv_columns({"emotion": EMOTIONS})


def test_without_a_mask_head_the_json_does_not_say_the_mouth_was_seen(media, tmp_path):
    """With --tasks emotion every face's JSON said "emotion_eyes_only": false, as if a mask head had seen its
    mouth uncovered, while the video CSV (and facekit-batch's rows) rightly leave the column out there."""
    out = tmp_path / "e3.json"
    res = run_script("detect_mask_image.py", "-i", media / "example_03.png", "-j", out, "--no-display",
                     "--tasks", "emotion")
    assert res.returncode == 0, res.stderr
    faces = json.loads(out.read_text())["faces"]
    assert len(faces) == 3 and all("emotion" in f and "emotion_intensity" in f for f in faces)
    assert not [f for f in faces if "emotion_eyes_only" in f], faces
    from facekit.types import Box, Face, Prediction

    emotion = Prediction.from_probabilities(EMOTIONS, np.array([0.02, 0.0, 0.03, 0.05, 0.85, 0.03, 0.02]))
    mask = Prediction.from_probabilities(["with_mask", "without_mask"], np.array([0.9, 0.1]))
    assert "emotion_eyes_only" not in Face(Box(0, 0, 10, 10), 0.9, {"emotion": emotion}).to_dict()
    assert Face(Box(0, 0, 10, 10), 0.9, {"mask": mask, "emotion": emotion}).to_dict()["emotion_eyes_only"] is True


def test_a_face_the_mask_head_did_not_read_is_not_written_as_seen_uncovered():
    """With a mask head whose min_face is above the emotion head's (one trained with --faces all --min-face 24), a
    20 px face gets an emotion and no mask label: the CSV and Parquet wrote emotion_eyes_only 0, "the mouth was
    seen uncovered", where its JSON leaves the key out. The cell is empty there, as for a head that could not read."""
    from facekit.records import csv_row
    from facekit.types import Box, Face, Prediction

    labels = {"mask": ["with_mask", "without_mask"], "emotion": EMOTIONS}
    emotion = Prediction.from_probabilities(EMOTIONS, np.array([0.02, 0.0, 0.03, 0.05, 0.85, 0.03, 0.02]))
    mask = Prediction.from_probabilities(labels["mask"], np.array([0.1, 0.9]))
    unread = Face(Box(0, 0, 20, 20), 0.9, {"emotion": emotion}, track_id=1)
    assert csv_row(0, 0.0, unread, labels)["emotion_eyes_only"] == ""
    assert "emotion_eyes_only" not in unread.to_row() and "emotion_eyes_only" not in unread.to_dict()
    read = Face(Box(0, 0, 20, 20), 0.9, {"mask": mask, "emotion": emotion}, track_id=1)
    assert csv_row(0, 0.0, read, labels)["emotion_eyes_only"] == 0 == read.to_row()["emotion_eyes_only"]


def test_a_small_face_without_room_for_its_label_keeps_only_its_coloured_box():
    """Crowds: a face under SMALL_FACE_TEXT px whose label would land on another label draws no text (its
    box colour still tells the label); a bigger face keeps its text even when it must overlap."""
    import numpy as np

    from facekit.drawing import SMALL_FACE_TEXT, _paint_block, _place_block
    from facekit.types import Box

    img = np.full((120, 200, 3), 255, np.uint8)
    taken = [(0, 0, 200, 120)]  # every place already holds a label
    lines = [("Mask: 99.00%", (0, 255, 0))]
    small = Box(50, 50, 50 + SMALL_FACE_TEXT - 8, 50 + SMALL_FACE_TEXT - 8)
    assert _place_block(img.shape, lines, small, 0.4, 1, list(taken)) is None
    layout = _place_block(img.shape, lines, Box(50, 50, 90, 90), 0.4, 1, list(taken))
    assert layout is not None
    _paint_block(img, lines, layout, 0.4, 1)
    assert (img == 0).any()  # its dark backing was drawn
    assert _place_block(img.shape, lines, small, 0.4, 1, []) is not None  # room: a small face gets its text


def test_a_label_goes_where_it_hides_no_other_face():
    """Group photos: a face's label above its box would cover the face above it; it goes below instead,
    and when neither side is free, over its own box rather than over a neighbour's face."""
    from facekit.drawing import _place_block
    from facekit.types import Box

    lines = [("No Mask: 99.00%", (0, 0, 255)), ("Neutral: 80.00%", (0, 200, 255))]
    upper, face = Box(100, 10, 220, 110), Box(100, 120, 220, 220)

    def block(img_h, boxes):
        placed = []
        assert _place_block((img_h, 400, 3), lines, face, 0.5, 1, placed, boxes) is not None
        return placed[-1]

    def hides(rect, box):
        x1, y1, x2, y2 = rect
        return x1 < box.x2 and box.x1 < x2 and y1 < box.y2 and box.y1 < y2

    alone = block(300, [face])
    assert alone[3] <= face.y1  # nothing above: the usual place, above the box
    moved = block(300, [upper, face])
    assert moved[1] >= face.y2 and not hides(moved, upper)  # below, clear of the face above
    lower = Box(100, 230, 220, 330)
    boxed_in = block(340, [upper, face, lower])
    assert not hides(boxed_in, upper) and not hides(boxed_in, lower)
    assert face.y1 <= boxed_in[1] and boxed_in[3] <= face.y2  # over its own face


def test_a_crowd_on_a_big_photo_gets_letters_small_enough_that_no_label_hides_another(monkeypatch):
    """crowd_masks.jpg (2048 px, 18 faces ~245 px wide in 341-px columns): letters sized to the faces made each
    label wider than its column, and 6 of the 18 blocks (15 with the pose line) were painted over another's
    text. The letters now shrink until every block has a place of its own; a lone face keeps its size."""
    from facekit import drawing
    from facekit.types import Box, Face, Pose, Prediction

    painted = []
    paint = drawing._paint_block
    monkeypatch.setattr(drawing, "_paint_block", lambda img, lines, block, *a: (painted.append(block),
                                                                                 paint(img, lines, block, *a)))
    bare = Prediction.from_probabilities(["with_mask", "without_mask"], np.array([0.0034, 0.9966]))
    calm = Prediction.from_probabilities(list(EMOTIONS), np.eye(len(EMOTIONS))[EMOTIONS.index("neutral")] * 0.5868
                                         + 0.059)
    man = Prediction.from_probabilities(["man", "woman"], np.array([0.9999, 0.0001]))
    faces = [Face(Box(55 + 341 * col, 125 + 455 * row, 300 + 341 * col, 410 + 455 * row), 0.9,
                  {"mask": bare, "emotion": calm, "gender": man}, pose=Pose(-12.0, -11.0, 10.0))
             for row in range(3) for col in range(6)]
    image = np.full((1365, 2048, 3), 200, np.uint8)
    drawing.annotate(image, faces, drawing.Style())
    assert len(painted) == len(faces)
    for i, a in enumerate(painted):
        for b in painted[i + 1:]:
            assert not (a.x < b.x + b.width and b.x < a.x + a.width and a.top < b.top + b.height
                        and b.top < a.top + a.height), f"label {b} painted over label {a}"
    painted.clear()
    drawing.annotate(image, faces[:1], drawing.Style())
    assert painted[0].width > 1.4 * faces[0].box.width  # alone, its letters are as big as before


def test_a_small_faces_mesh_leaves_the_face_visible():
    """--landmarks on a video's far faces (45 px wide on the hamilton clip): 468 dots of the smallest size
    covered half the face in white. Such a face's points are now one pixel each, and under 64 px one in
    (64 / width)^2: here one in 2, still a mesh to see."""
    from facekit.drawing import _draw_landmarks
    from facekit.types import Box, Face

    grid = np.stack(np.meshgrid(np.linspace(11, 54, 26), np.linspace(11, 64, 18)), axis=-1).reshape(-1, 2)
    face = Face(Box(10, 10, 55, 65), 0.9, landmarks=grid)  # 468 points over a 45-px face, as the mesh's
    img = np.zeros((80, 70, 3), np.uint8)
    _draw_landmarks(img, face, "mesh", (0, 0, 255))
    white = (img[10:65, 10:55].min(axis=2) > 128).mean()
    assert 0.05 < white < 0.3, f"{white:.0%} of the face whitened"


def test_a_label_moved_away_from_its_face_has_a_leader_to_its_box():
    """Crowds push a label several lines off its face (another label took the places beside it): a line in the
    face's colour now runs from the label to the box. A label beside its box gets none."""
    import numpy as np

    from facekit.drawing import _draw_leader, _place_block
    from facekit.types import Box

    red = (0, 0, 255)
    lines = [("No Mask: 99.00%", red), ("Neutral: 80.00%", (0, 200, 255))]
    face = Box(100, 200, 220, 300)
    taken = [(0, 150, 400, 200), (0, 300, 400, 360)]  # labels already beside it, above and below
    img = np.zeros((500, 400, 3), np.uint8)
    x, top, width, height, *_ = layout = _place_block(img.shape, lines, face, 0.5, 1, list(taken), [face])
    assert top + height < 150  # moved up, past the label above it
    _draw_leader(img, face, layout, red, 1)
    column = img[top + height + 1:face.y1 - 1, x]
    assert len(column) > 40 and ((column[:, 2] > 150) & (column[:, :2].max(axis=1) < 60)).mean() > 0.9
    beside = np.zeros_like(img)
    layout = _place_block(beside.shape, lines, face, 0.5, 1, [], [face])
    assert layout[1] + layout[3] <= face.y1 <= layout[1] + layout[3] + 5  # the usual place, just above
    _draw_leader(beside, face, layout, red, 1)
    assert not beside.any()


def test_the_timeline_marks_a_masked_faces_emotion_as_eyes_only(tmp_path):
    """The drawing, JSON and CSV mark an emotion read from the eyes alone (a mask over mouth and nose); the
    timeline drew a masked face's curves as a whole face's. Its row now says so under the face's number."""
    import matplotlib

    from facekit.timeline import Timeline
    from facekit.types import Box, Face, Prediction

    emotion = Prediction.from_probabilities(EMOTIONS, np.array([0.02, 0.0, 0.03, 0.8, 0.1, 0.03, 0.02]))
    masked, bare = (Prediction.from_probabilities(["with_mask", "without_mask"], np.array(p))
                    for p in ([0.95, 0.05], [0.05, 0.95]))
    timeline = Timeline("emotion", EMOTIONS)
    for i in range(10):
        timeline.add(i / 30, [Face(Box(10, 10, 60, 60), 0.9, track_id=1).with_predictions(mask=masked, emotion=emotion),
                              Face(Box(90, 10, 140, 60), 0.9, track_id=2).with_predictions(mask=bare, emotion=emotion),
                              Face(Box(170, 10, 220, 60), 0.9, track_id=3).with_predictions(
                                  mask=masked if i < 5 else bare, emotion=emotion)])
    out = tmp_path / "timeline.svg"
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text as text, to read it back
        assert timeline.save(out) == 3
    svg = out.read_text()
    assert svg.count("(eyes only)") == 1 and svg.count("(eyes only 50%)") == 1


def test_a_day_long_timeline_stays_small_and_plots(tmp_path):
    """A camera watched for hours with --timeline kept every point of every face (240 bytes each: ~1.2 GB a
    day at 30 FPS with two faces). Past MAX_POINTS a track keeps every other point; the plot still spans
    the whole watch."""
    import cv2

    from facekit.timeline import MAX_POINTS, Timeline
    from facekit.types import Box, Face, Prediction

    labels = ["angry", "happy", "neutral"]
    timeline = Timeline("emotion", labels)
    for i in range(30 * 3600):  # an hour at 30 FPS
        p = 0.5 + 0.5 * np.sin(i / 900)
        pred = Prediction.from_probabilities(labels, np.array([0.0, p, 1 - p]))
        timeline.add(i / 30, [Face(box=Box(10, 10, 60, 60), score=0.9, track_id=1).with_predictions(emotion=pred)])
    series = timeline.series[1]
    assert MAX_POINTS // 2 <= len(series) <= MAX_POINTS and len(timeline.intensity[1]) == len(series)
    assert series[0][0] == 0 and series[-1][0] > 3590  # the first and the latest minutes are both there
    out = tmp_path / "timeline.png"
    assert timeline.save(out) == 1 and cv2.imread(str(out)) is not None


def test_a_face_crop_too_small_for_its_labels_is_drawn_enlarged_with_every_line_inside():
    """A 78-px face crop (--crops) had its labels run past its right edge. The photo scripts now draw a
    small image enlarged by a whole factor, and no line of text is wider than the image."""
    import numpy as np

    from facekit.drawing import MIN_DRAWN_SIDE, Style, annotate
    from facekit.types import Box, Face, Prediction

    crop = np.full((78, 78, 3), 128, np.uint8)
    masked = Prediction.from_probabilities(["with_mask", "without_mask"], np.array([0.9912, 0.0088]))
    happy = Prediction.from_probabilities(list(EMOTIONS), np.eye(len(EMOTIONS))[list(EMOTIONS).index("happy")])
    face = Face(Box(0, 0, 78, 78), 1.0, {"mask": masked, "emotion": happy})  # "Happy: 100.00% (eyes only)"
    drawn = annotate(crop, [face], Style(), enlarge_small=True)
    assert drawn.shape[0] == drawn.shape[1] >= MIN_DRAWN_SIDE and drawn.shape[0] % 78 == 0
    # The box's right edge, drawn first, is covered nowhere by a label's dark backing running past it.
    right = drawn[:, -1].astype(int)
    assert (right.sum(axis=1) > 0).all(), "a label's backing reaches the right edge"
    assert annotate(crop, [face], Style()).shape == crop.shape  # video frames keep their size


def test_a_small_photo_of_small_faces_is_drawn_enlarged_so_its_labels_fit():
    """solvay_conference.jpg shrunk to 320 px: faces of ~15 px under labels ~110 px wide at the smallest letters,
    each covering its face and its neighbours'. A photo whose faces are narrower than LABEL_FACE is drawn
    enlarged by a whole factor towards that width, up to MAX_DRAWN_SIDE; bigger faces or photos keep their size."""
    import numpy as np

    from facekit.drawing import LABEL_FACE, MAX_DRAWN_SIDE, Style, annotate
    from facekit.types import Box, Face, Prediction

    bare = Prediction.from_probabilities(["with_mask", "without_mask"], np.array([0.03, 0.97]))

    def row(width, n=6, gap=70):
        return [Face(Box(20 + gap * i, 100, 20 + gap * i + width, 100 + width), 0.9, {"mask": bare}) for i in range(n)]

    photo = np.full((360, 640, 3), 90, np.uint8)
    assert annotate(photo, row(36), Style(), enlarge_small=True).shape == (720, 1280, 3)  # 36 px -> 72
    assert annotate(photo, row(20), Style(), enlarge_small=True).shape == (720, 1280, 3)  # 4x: past the limit
    assert annotate(photo[:, :320], row(20, n=4), Style(), enlarge_small=True).shape == (1080, 960, 3)  # 360 x 3
    assert annotate(photo, row(LABEL_FACE, n=5, gap=110), Style(), enlarge_small=True).shape == photo.shape
    big = np.full((720, MAX_DRAWN_SIDE, 3), 90, np.uint8)
    assert annotate(big, row(30), Style(), enlarge_small=True).shape == big.shape
    assert annotate(photo, row(36), Style()).shape == photo.shape  # video frames keep their size


def test_a_busy_entrances_timeline_keeps_only_the_faces_it_can_draw(tmp_path):
    """Two faces in view, a new person every 100 frames (30 FPS): every point of every face was kept for
    the run (~40 MB an hour) for a plot that draws MAX_TRACKS of them. Faces long gone and not among the
    longest are let go, and the plot says how many it left out."""
    from facekit.timeline import GONE_S, MAX_TRACKS, Timeline
    from facekit.types import Box, Face, Prediction

    labels = ["happy", "neutral"]
    pred = Prediction.from_probabilities(labels, np.array([0.3, 0.7]))
    timeline = Timeline("emotion", labels)
    for i in range(30 * 1800):  # half an hour
        length = 400 if i < 8 * 400 else 100  # the first 8 faces are the longest seen
        faces = [Face(box=Box(10, 10, 60, 60), score=0.9, track_id=(i + 50 * k) // length * 2 + k)
                 for k in range(2)]
        timeline.add(i / 30, [f.with_predictions(emotion=pred) for f in faces])
    assert timeline.seen > 1000
    new_per_s = 2 * 30 / 100  # faces kept: the longest, and those seen in the last 2 x GONE_S at most
    assert len(timeline.series) <= MAX_TRACKS + 2 * GONE_S * new_per_s + 4
    assert all(timeline.points[t] == 400 for t in timeline.tracks())
    out = tmp_path / "timeline.png"
    assert timeline.save(out) == MAX_TRACKS


def test_the_timeline_draws_the_longest_seen_faces_whole_however_late_they_came():
    """The plot draws the MAX_TRACKS longest-seen faces, not the first ones seen; and a face still in view (missed
    on every other frame) is not let go as one gone, which drew it from its last minutes only. Neither was
    tested: eight faces seen first and longest by then hid both."""
    from facekit.timeline import MAX_TRACKS, Timeline
    from facekit.types import Box, Face, Prediction

    pred = Prediction.from_probabilities(["with_mask", "without_mask"], np.array([0.2, 0.8]))
    timeline = Timeline("mask", ["with_mask", "without_mask"])
    for t in range(600):  # a frame a second, ten minutes
        ids = [*range(MAX_TRACKS)] * (t < 200) + [99] * (t % 2 == 1 and t > 100)  # 99: 250 frames, from 101 s
        timeline.add(float(t), [Face(Box(10, 10, 60, 60), 0.9, track_id=i).with_predictions(mask=pred) for i in ids])
    assert 99 in timeline.tracks() and len(timeline.tracks()) == MAX_TRACKS
    assert timeline.points[99] == 250 and timeline.series[99][0][0] == 101.0


def test_a_face_labelled_in_just_min_points_frames_is_drawn():
    """The note counts a face labelled in MIN_POINTS frames as one the plot may draw ("in 3 frames or more"): so
    the plot must draw it, not leave out the very faces its note counts."""
    from facekit.timeline import MIN_POINTS, Timeline
    from facekit.types import Box, Face, Prediction

    pred = Prediction.from_probabilities(["with_mask", "without_mask"], np.array([0.2, 0.8]))
    timeline = Timeline("mask", ["with_mask", "without_mask"])
    for t in range(MIN_POINTS):
        timeline.add(t / 30, [Face(Box(10, 10, 60, 60), 0.9, track_id=7).with_predictions(mask=pred)])
    assert timeline.tracks() == [7] and timeline.left_out() == ""


def test_the_timeline_keeps_a_curve_whole_across_under_half_a_second_missed():
    """A curve breaks where its face went unseen for GAP_STEPS of its usual steps and MIN_GAP_S at least: at
    --every 3 (a point each 0.1 s) a face missed for 0.4 s, a turn of the head, is no gap; 1 s is one."""
    from facekit.timeline import _gaps

    times = [i / 10 for i in range(20)]
    assert _gaps(times[:10] + [t + 0.3 for t in times[10:]]) == set()
    assert _gaps(times[:10] + [t + 0.9 for t in times[10:]]) == {10}


@pytest.mark.parametrize("people, blips", [(3, 5), (10, 2)])
def test_the_timelines_count_of_faces_is_of_those_it_can_draw(tmp_path, people, blips):
    """Tracks labelled in under MIN_POINTS frames (detector blips) are never drawn, yet the plot's title said "(the 3
    longest of 8 labelled)" and the run "3 of the 8 faces ...: the longest-seen", as if 5 people had been left
    out for room."""
    import matplotlib

    from facekit.timeline import MAX_TRACKS, MIN_POINTS, Timeline
    from facekit.types import Box, Face, Prediction

    pred = Prediction.from_probabilities(["with_mask", "without_mask"], np.array([0.2, 0.8]))
    timeline = Timeline("mask", ["with_mask", "without_mask"])
    for i in range(20):
        ids = list(range(people)) + [100 + i] * (i < blips)  # a new one-frame blip in each of the first frames
        # A face no head could read (too small, too dark), seen in 2 frames: it has no curve either, and the run's
        # table already lists it with no label. The line said "N seen in under 3 frames" and counted only the
        # labelled blips: on the hamilton clip's first 60 frames "2", beside a table of 4 tracks under 3 frames.
        unread = [Face(Box(0, 0, 8, 8), 0.6, track_id=200)] if i < 2 else []
        timeline.add(i / 30, [Face(Box(10, 10, 60, 60), 0.9, track_id=t).with_predictions(mask=pred) for t in ids]
                     + unread)
    drawn = min(people, MAX_TRACKS)
    out = tmp_path / "timeline.svg"
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text as text, to read it back
        assert timeline.save(out) == drawn
    title = re.search(r"mask probability over time, per face[^<]*", out.read_text()).group(0)
    note = timeline.left_out()
    assert f"; {blips} labelled in under {MIN_POINTS} frames not drawn" in note, note
    if people > MAX_TRACKS:
        assert title.endswith(f"(the {drawn} longest of {people} labelled in {MIN_POINTS} frames or more)"), title
        assert note.startswith(f" ({drawn} of the {people} faces with mask labels"), note
    else:
        assert title == "mask probability over time, per face", title
        assert note.startswith(" (every face with mask labels"), note


def test_json_intensity_has_the_probabilities_precision():
    """The JSON rounded emotion_intensity to 4 decimals, its probabilities to 6 and the CSV the intensity to 5: the
    woman of example_03 read 0.9072 in the JSON, 0.90719 in the video CSV and facekit-batch's rows, and 1 - her own
    neutral probability was 0.907187, so one face's intensity differed between the tables joined."""
    from facekit.records import csv_row
    from facekit.types import Box, Face, Prediction

    emotion = Prediction.from_probabilities(EMOTIONS, np.array([0.007337, 0.00234, 0.002223, 0.864654, 0.092813,
                                                                0.007991, 0.022642]))
    face = Face(Box(0, 0, 10, 10), 0.9, {"emotion": emotion})
    record = face.to_dict()
    assert record["emotion_intensity"] == round(1 - record["emotion"]["probabilities"]["neutral"], 6) == 0.907187
    row = csv_row(0, 0.0, face, {"emotion": EMOTIONS})
    assert abs(record["emotion_intensity"] - row["emotion_intensity"]) <= 5e-6


def test_a_masked_face_is_read_from_the_eyes_only_when_an_emotion_head_read_it():
    """emotion_eyes_only says how the emotion was read: a face that only the mask head saw has no emotion to
    qualify, and True there would tell a library user an emotion was read from its eyes."""
    from facekit.types import Box, Face, Prediction

    masked = Prediction.from_probabilities(["with_mask", "without_mask"], np.array([0.9, 0.1]))
    emotion = Prediction.from_probabilities(EMOTIONS, np.full(len(EMOTIONS), 1 / len(EMOTIONS)))
    face = Face(Box(0, 0, 10, 10), 0.9, {"mask": masked})
    assert face.emotion_eyes_only is False
    assert face.with_predictions(emotion=emotion).emotion_eyes_only is True
    bare = Prediction.from_probabilities(["with_mask", "without_mask"], np.array([0.1, 0.9]))
    assert face.with_predictions(emotion=emotion, mask=bare).emotion_eyes_only is False


@pytest.mark.parametrize("labels", [EMOTIONS, ["angry", "happy", "sad", "surprise"]])
def test_the_timelines_title_names_a_dashed_intensity_only_when_one_is_drawn(tmp_path, labels):
    """An emotion head of one's own without a "neutral" class has no intensity, so no dashed line is drawn, yet the
    title promised "probability and intensity (dashed)"."""
    import matplotlib

    from facekit.timeline import Timeline
    from facekit.types import Box, Face, Prediction

    probabilities = np.linspace(1.0, 2.0, len(labels))
    pred = Prediction.from_probabilities(labels, probabilities / probabilities.sum())
    timeline = Timeline("emotion", labels)
    for i in range(10):
        timeline.add(i / 30, [Face(Box(10, 10, 60, 60), 0.9, track_id=1).with_predictions(emotion=pred)])
    out = tmp_path / "timeline.svg"
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text as text, to read it back
        assert timeline.save(out) == 1
    svg = out.read_text()
    title = re.search(r"emotion [^<]*over time, per face", svg).group(0)
    drawn = ">intensity<" in svg  # the legend's entry for the dashed line
    assert drawn == ("neutral" in labels), svg[:200]
    assert title == ("emotion probability and intensity (dashed) over time, per face" if drawn
                     else "emotion probability over time, per face"), title


@pytest.mark.slow
def test_the_bench_scores_a_head_trained_elsewhere_beside_the_committed_one(datasets, tmp_path):
    """`python -m bench.emotion --model runs/emo` gave the new head's row and the baseline's, never the committed
    head's: the number a researcher's head has to beat was missing."""
    import os
    import subprocess
    import sys

    new = tmp_path / "emo"
    new.mkdir()
    for name in ("card.json", "model.tflite"):  # the committed network, as a folder outside git
        shutil.copy(MODEL / name, new / name)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FACEKIT_THREADS": "1"}
    res = subprocess.run([sys.executable, "-m", "bench.emotion", "--model", str(new), "--limit", "6", "--no-previous"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    rows = {line.split("|")[0].strip(): [c.strip() for c in line.split("|")[1:]] for line in res.stdout.splitlines()
            if line.count("|") > 5}
    assert f"facekit ({new})" in rows and "committed (models/emotion)" in rows, list(rows)
    # The same network in both folders: the same scores on every set, plain and masked (timings aside).
    assert rows[f"facekit ({new})"][1:8] == rows["committed (models/emotion)"][1:8]


def test_the_timelines_curves_are_told_apart_by_their_marker_as_well_as_their_colour(tmp_path, monkeypatch):
    """Colour alone named a face's 7 emotion curves: a reader who cannot tell red from green could not tell one
    from another, nor read the legend. Each label's curve now has a marker shape of its own, in the legend too;
    the dashed intensity line has none."""
    import matplotlib.figure

    from facekit.timeline import Timeline
    from facekit.types import Box, Face, Prediction

    seen = []
    real_savefig = matplotlib.figure.Figure.savefig

    def savefig(self, *args, **kwargs):
        seen.append(([(line.get_label(), line.get_marker()) for line in self.axes[0].lines],
                     [(h.get_label(), h.get_marker()) for h in self.axes[0].get_legend().legend_handles]))
        return real_savefig(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    pred = Prediction.from_probabilities(EMOTIONS, np.linspace(1.0, 2.0, len(EMOTIONS)) / 10.5)
    timeline = Timeline("emotion", EMOTIONS)
    for i in range(40):
        timeline.add(i / 30, [Face(Box(10, 10, 60, 60), 0.9, track_id=1).with_predictions(emotion=pred)])
    assert timeline.save(tmp_path / "timeline.png") == 1
    [(lines, legend)] = seen
    assert lines == legend and [label for label, _ in lines] == [*EMOTIONS, "intensity"]
    marks = [marker for label, marker in lines if label != "intensity"]
    assert len(set(marks)) == len(EMOTIONS) and "None" not in marks, lines
    assert dict(lines)["intensity"] == "None"


def test_a_long_videos_timeline_gives_faces_seen_briefly_their_own_time_axis(tmp_path, monkeypatch):
    """A 10-minute video's 8 longest faces were seen about 4 s each, spread over 200 s: on one shared time axis
    each face's curves were a sliver no value could be read from. Such faces now get a time axis each, said under
    the plot; faces that fill a shared axis keep it."""
    import matplotlib.figure

    from facekit.timeline import Timeline
    from facekit.types import Box, Face, Prediction

    labels = ["happy", "neutral"]
    pred = Prediction.from_probabilities(labels, np.array([0.3, 0.7]))
    widths = []
    real_savefig = matplotlib.figure.Figure.savefig

    def savefig(self, *args, **kwargs):
        widths.append(([ax.get_xlim()[1] - ax.get_xlim()[0] for ax in self.axes if ax.lines],
                       self.axes[-1].get_xlabel()))
        return real_savefig(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    for start_every_s, name in [(27.5, "brief.png"), (0.5, "overlapping.png")]:
        timeline = Timeline("emotion", labels)
        for track in range(8):
            for i in range(26):  # 26 points 0.167 s apart: a face seen 4.2 s
                timeline.add(track * start_every_s + i / 6, [
                    Face(Box(10, 10, 60, 60), 0.9, track_id=track + 1).with_predictions(emotion=pred)])
        assert timeline.save(tmp_path / name) == 8
    (brief, brief_label), (overlapping, overlapping_label) = widths
    assert len(brief) == 8 and max(brief) < 10, brief  # each face's 4.2 s fills its axis
    assert brief_label == "time (s), each face on its own axis"
    assert len(overlapping) == 8 and min(overlapping) > 7.5, overlapping  # one axis, 0 to 7.7 s
    assert overlapping_label == "time (s)"
