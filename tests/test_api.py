"""The Python API as a library user calls it: FaceAnalyzer on real photos and the clip, facekit.analyze,
and the promise that `import facekit` loads nothing."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from .conftest import ROOT, mp4_cut_by_copy, run_script

CLIP = "short_hamilton_clip.mp4"


@pytest.fixture(scope="module")
def analyzer():
    from facekit import FaceAnalyzer

    return FaceAnalyzer()


def face_at(faces, x, y):
    hits = [f for f in faces if f.box.x1 <= x < f.box.x2 and f.box.y1 <= y < f.box.y2]
    assert len(hits) == 1, [f.to_dict() for f in faces]
    return hits[0]


def test_a_photo_framed_by_a_border_or_saved_again_as_jpeg_gives_the_same_faces(analyzer, media):
    """Harmless changes a photo goes through on its way to the library (an editor's border, a JPEG saved again at
    quality 70) give the same faces: each box where it was (plus the border) and each label the heads are sure of.
    Measured on these photos' 18 faces: boxes moved by at most 5.9% of their width (a median 0.8-1.9%), the only
    labels that changed were near a tie (an emotion at 0.59, 12_angry_men's mask at 0.76)."""
    for name in ["example_03.png", "two_people.jpg", "obama_and_biden.jpg", "12_angry_men.jpg"]:
        image = cv2.imread(str(media / name))
        framed = cv2.copyMakeBorder(image, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=(128, 128, 128))
        saved = cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 70])[1], cv2.IMREAD_COLOR)
        faces = analyzer.analyze(image)
        for changed, shift in ((framed, 40), (saved, 0)):
            others = analyzer.analyze(changed)
            assert len(others) == len(faces) >= 2, name
            for face in faces:
                want = np.array(face.box.as_list()) + shift
                other = min(others, key=lambda g: np.abs(np.array(g.box.as_list()) - want).sum())
                assert np.abs(np.array(other.box.as_list()) - want).max() <= 0.08 * face.box.width, \
                    (name, shift, face.box, other.box)
                for task in ("mask", "gender"):
                    if face.predictions[task].score > 0.9:
                        assert other.label(task) == face.label(task), (name, shift, face.box, task)


def test_import_loads_nothing_heavy():
    code = ("import sys, facekit; from facekit import FaceAnalyzer; "
            "print(sorted(m for m in ('cv2', 'numpy', 'tensorflow', 'ai_edge_litert', 'onnxruntime', 'ray') "
            "if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert res.returncode == 0, res.stderr
    # FaceAnalyzer itself is a lazy name: touching it imports the analyzer (numpy), never TensorFlow.
    assert "tensorflow" not in res.stdout and "ai_edge_litert" not in res.stdout and "ray" not in res.stdout
    code = "import sys, facekit; print('cv2' in sys.modules, 'numpy' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert res.stdout.split() == ["False", "False"]


def test_photo_faces_and_labels(analyzer, media):
    faces = analyzer.analyze(media / "example_03.png")
    assert len(faces) == 3
    assert face_at(faces, 320, 190).predictions["mask"].label == "with_mask"  # the woman in front
    assert face_at(faces, 215, 140).predictions["mask"].label == "without_mask"
    # Given in another order, each face still gets its own label, not its neighbour's.
    pair = [face_at(faces, 215, 140), face_at(faces, 320, 190)]
    assert [f.label("mask") for f in analyzer.analyze(media / "example_03.png", faces=pair)] == ["without_mask",
                                                                                                  "with_mask"]
    record = faces[0].to_dict()
    assert set(record) >= {"box", "score", "mask", "emotion", "gender"}
    assert json.loads(json.dumps(record)) == record  # plain JSON types
    # An array (BGR, or grayscale) gives the same faces as the path.
    image = cv2.imread(str(media / "example_03.png"))
    assert [f.box for f in analyzer.analyze(image)] == [f.box for f in faces]
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)  # gray arrays are taken as they are, as 3 equal channels
    boxes = [f.box for f in analyzer.analyze(gray)]
    assert boxes and boxes == [f.box for f in analyzer.analyze(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))]


def test_a_csv_row_says_what_the_json_record_of_its_face_does(analyzer, media):
    """The video CSV and facekit-batch's rows come from csv_row, the JSON from to_dict: the same face must read
    the same in both, column by column (box corners, every class's probability, the pose's three angles)."""
    from facekit.records import csv_row
    from facekit.types import Pose

    faces = analyzer.analyze(media / "example_03.png")
    labels = {task: head.labels for task, head in analyzer.heads.items()}
    for face in faces:
        face = face.replace(pose=Pose(12.5, -3.25, 7.75), track_id=4)
        record, row = face.to_dict(), csv_row(41, 1.368, face, labels)
        assert (row["frame"], row["time_s"], row["track_id"]) == (41, 1.368, 4)
        assert [row[k] for k in ("x1", "y1", "x2", "y2")] == record["box"]
        assert (row["yaw"], row["pitch"], row["roll"]) == (12.5, -3.25, 7.75)
        for task, names in labels.items():
            assert row[f"{task}_label"] == record[task]["label"]
            for name in names:
                assert row[f"{task}_{name}"] == pytest.approx(record[task]["probabilities"][name], abs=1e-5)


def test_same_result_as_the_image_script(analyzer, media, tmp_path):
    out = tmp_path / "r.json"
    res = run_script("detect_mask_image.py", "-i", media / "example_03.png", "-j", out, "--no-display")
    assert res.returncode == 0, res.stderr
    script = json.loads(out.read_text())["faces"]
    assert [f.to_dict() for f in analyzer.analyze(media / "example_03.png")] == script


def test_the_image_scripts_json_reads_back_as_faces(media, tmp_path):
    """to_dict() had no way back: an app reading the image script's JSON (or a worker's records) got dicts,
    which annotate() and analyze(faces=) do not take. Face.from_dict gives the faces whose records they are."""
    from facekit import ArgumentError, Face, FaceAnalyzer

    out = tmp_path / "r.json"
    res = run_script("detect_mask_image.py", "-i", media / "example_03.png", "-j", out, "--landmarks",
                     "--no-display")
    assert res.returncode == 0, res.stderr
    records = json.loads(out.read_text())["faces"]
    faces = [Face.from_dict(r) for r in records]
    assert [f.to_dict() for f in faces] == records
    assert faces[0].pose is not None and faces[0].landmarks is not None and faces[0].landmarks.shape == (468, 2)
    assert faces[0].label("mask") == records[0]["mask"]["label"]
    tracked = {**records[0], "track_id": 7}  # a video's record, as analyze_video's faces write it
    assert Face.from_dict(tracked).track_id == 7 and Face.from_dict(tracked).to_dict() == tracked
    analyzer = FaceAnalyzer(tasks="mask")
    relabelled = analyzer.analyze(media / "example_03.png", faces=faces)
    assert [f.label("mask") for f in relabelled] == [r["mask"]["label"] for r in records]
    # README: read back, a face holds its record's rounded numbers, so compare records, not the faces themselves.
    analyzed = analyzer.analyze(media / "example_03.png")[0]
    back = Face.from_dict(analyzed.to_dict())
    assert back.to_dict() == analyzed.to_dict() and back.score == round(analyzed.score, 6) != analyzed.score
    for record, word in (({"score": 1.0}, "'box' must be"), ({**records[0], "pose": {"yaw": 1}}, "'pose' is not"),
                         ({**records[0], "mask": "with_mask"}, "'mask' is neither"), (records, "expected a dict")):
        with pytest.raises(ArgumentError, match=r"^not a face record \(Face.to_dict\(\)\): " + word):
            Face.from_dict(record)


def test_scripts_build_the_library_object():
    from facekit.analyzer import FaceAnalyzer
    from facekit.cli.common import build_pipeline
    from facekit.cli.image import build_parser

    pipeline = build_pipeline(build_parser().parse_args(["-i", "x.png", "--tasks", "mask"]))
    assert type(pipeline) is FaceAnalyzer and pipeline.tasks == ["mask"]


def test_one_liner_and_options(media):
    import facekit
    from facekit.errors import ModelError

    faces = facekit.analyze(media / "example_01.png")
    assert [f.predictions["mask"].label for f in faces] == ["with_mask"]
    only_mask = facekit.analyze(media / "example_01.png", tasks=["mask"])
    assert set(only_mask[0].predictions) == {"mask"}
    # A head trained into a folder of one's own is not in models/: the line says how it is given.
    with pytest.raises(ModelError, match=r"no trained model for task 'age' in .*\(available: mask, emotion, gender\); "
                                         r"a head trained into another folder is given with -m FOLDER \(in Python, "
                                         r"models=\[FOLDER\]\)"):
        facekit.FaceAnalyzer(tasks=["age"])
    crops = facekit.FaceAnalyzer(tasks=["mask"], detector=None)
    with pytest.raises(ValueError):
        crops.analyze(media / "example_01.png")
    assert crops.classify_whole(media / "example_01.png").predictions["mask"].label == "with_mask"
    with pytest.raises(facekit.FacekitError, match="no such file"):
        crops.analyze(media / "missing.png", faces=[])


def test_a_misspelt_task_is_a_key_error_and_a_head_that_could_not_read_the_face_none(analyzer, media):
    """face.label("emotions") (a typo) was None, as for a face too small for the emotion head: the typo went
    unseen. A face knows its analyzer's heads: a task none of them has is a KeyError naming them."""
    import copy
    import pickle

    from facekit import Face

    photo = cv2.imread(str(media / "obama.jpg"))
    tiny = analyzer.analyze(photo, faces=[(0, 0, 12, 12)])[0]  # under the emotion head's 16 px, over the mask's 8
    assert tiny.label("mask") is not None and tiny.label("emotion") is None
    for face in (tiny, analyzer.classify_whole(photo), pickle.loads(pickle.dumps(tiny)), copy.deepcopy(tiny)):
        with pytest.raises(KeyError, match=r"no head 'emotions' labelled this face: its analyzer's heads are "
                                           r"'mask', 'emotion', 'gender'"):
            face.label("emotions")
    # A face that does not know its analyzer's heads says None, as before; it equals the one that does
    back = Face.from_dict(tiny.to_dict())
    assert back.tasks is None and back.label("emotions") is None and tiny.replace(tasks=None) == tiny
    assert analyzer.detect(photo)[0].label("emotions") is None


def test_a_wildcard_pattern_is_named_as_one_not_as_a_missing_file(analyzer, media, tmp_path):
    """analyze("photos/*.jpg") and analyze_video("frames/*.png") said only "no such file" of a pattern that
    matched a folder of photos: the message says it is a pattern, not expanded, and how many files match."""
    from facekit import ImageError, VideoError

    for name in ("a.jpg", "b.jpg"):
        (tmp_path / name).write_bytes((media / "obama.jpg").read_bytes())
    said = r"no such file \(a pattern, which is not expanded here: 2 files match it; glob.glob\(\) gives them"
    with pytest.raises(ImageError, match=said):
        analyzer.analyze(tmp_path / "*.jpg")
    with pytest.raises(VideoError, match=said):
        next(analyzer.analyze_video(str(tmp_path / "?.jpg")))
    with pytest.raises(ImageError, match=r"x\*.jpg: no such file$"):  # one that matches nothing: as before
        analyzer.analyze(tmp_path / "x*.jpg")


def test_a_prediction_of_ones_own_is_checked_where_it_is_added():
    """face.with_predictions(smile="yes") made a face without a word, whose print() or to_dict() then failed as
    "'str' object has no attribute 'label'", far from the call that was wrong."""
    from facekit import ArgumentError, Box, Face, Prediction

    face = Face(Box(0, 0, 20, 20), 0.9)
    for wrong in ("yes", {"label": "yes", "score": 0.8}, None):
        with pytest.raises(ArgumentError, match=r"^with_predictions\(smile=...\) takes a facekit.Prediction, "
                                                r"e.g. Prediction.from_probabilities\(\['no', 'yes'\], \[0.2, 0.8\]\)"):
            face.with_predictions(smile=wrong)
    # ...as is a face built by hand with a box of 4 numbers: print(face), to_dict() and annotate() raised
    # "'tuple' object has no attribute 'x1'"
    for fields_, word in (({"box": (0, 0, 20, 20), "score": 0.9}, r"box=...\) takes a facekit.Box, e.g. Box\(10, 20"),
                          ({"box": Box(0, 0, 20, 20), "score": "0.9"}, r"score=...\) takes a number")):
        with pytest.raises(ArgumentError, match=r"^Face\(" + word):
            Face(**fields_)
    with pytest.raises(ArgumentError, match=r"^Face\(box=...\) takes a facekit.Box.*got \[1, 2, 3, 4\]$"):
        face.replace(box=[1, 2, 3, 4])
    # Prediction.from_probabilities dropped labels past the last probability without a word ("maybe" here), and a
    # model's (1, N) output was an IndexError from inside
    for labels, probs, said in ((["no", "yes", "maybe"], [0.2, 0.8], r"3 labels, got probabilities of shape \(2,\)$"),
                                (["no", "yes"], [[0.2, 0.8]], r"2 labels, got .*\(1, 2\): a batch, pass one row"),
                                (["no", "yes"], [0.1, 0.2, 0.7], r"2 labels, got probabilities of shape \(3,\)$")):
        with pytest.raises(ArgumentError, match=r"^Prediction.from_probabilities takes one probability per label: "
                                                + said):
            Prediction.from_probabilities(labels, probs)
    smiling = face.with_predictions(smile=Prediction.from_probabilities(["no", "yes"], [0.2, 0.8]))
    assert smiling.label("smile") == "yes" and smiling.to_dict()["smile"]["score"] == 0.8 and not face.predictions


def test_faces_make_a_flat_table_with_the_video_csvs_columns(analyzer, media):
    """pd.json_normalize of to_dict() records, README's recipe for a table, left the box and each key point a column
    of lists. face.to_row() is the video CSV's row of the face: plain values, the same names and roundings."""
    import pandas as pd

    from facekit import Face
    from facekit.records import csv_row

    faces = analyzer.analyze(media / "example_03.png") + analyzer.analyze(media / "obama.jpg", faces=[(0, 0, 12, 12)])
    table = pd.DataFrame([{"image": "x.png", **f.to_row()} for f in faces])
    assert list(table.columns) == ["image"] + [c for c in analyzer.record_columns()
                                               if c not in ("frame", "time_s", "track_id", "width", "height")]
    assert table.map(lambda v: isinstance(v, (list, tuple, dict))).sum().sum() == 0
    assert table[["x1", "y1", "x2", "y2"]].values.tolist() == [f.box.as_list() for f in faces]
    assert table["mask_label"].tolist() == [f.label("mask") for f in faces]
    assert table["emotion_label"].isna().tolist() == [False] * 3 + [True]  # the 12 px face: too small for it
    row = faces[0].replace(track_id=7).to_row()
    assert row == {k: v for k, v in csv_row(0, 0.0, faces[0].replace(track_id=7), analyzer.task_labels).items()
                   if k not in ("frame", "time_s")}
    assert row["track_id"] == 7 and row["emotion_eyes_only"] in (0, 1)
    hand = Face.from_dict({"box": [1, 2, 3, 4], "score": 0.5, "pose": {"yaw": 1.0, "pitch": 2.0, "roll": 3.0},
                           "keypoints": {"nose_tip": [2.0, 3.0]}, "measures": {"eye_openness": 0.25}})
    assert hand.to_row() == {"x1": 1, "y1": 2, "x2": 3, "y2": 4, "score": 0.5, "yaw": 1.0, "pitch": 2.0, "roll": 3.0,
                             "eye_openness": 0.25}


def test_a_whole_crop_too_small_or_too_dark_gets_no_label_as_a_detected_face_would(analyzer, media):
    """classify_whole (--crops) labelled any crop: a 4x4 black one read "with_mask 84%". It follows the rules a
    detected face does: each head's min_face (mask 8 px, emotion and gender 16) and the brightness floor."""
    import numpy as np

    photo = cv2.imread(str(media / "obama.jpg"))
    big = analyzer.classify_whole(photo)
    assert set(big.predictions) == set(analyzer.tasks) and analyzer.why_unlabelled(photo, big) is None
    small = cv2.resize(photo, (12, 12), interpolation=cv2.INTER_AREA)
    assert set(analyzer.classify_whole(small).predictions) == {"mask"}
    for crop, why in ((np.full((4, 4, 3), 128, np.uint8), "too small for the heads (4 px, under 8)"),
                      (np.zeros((64, 64, 3), np.uint8), "too dark to read")):
        face = analyzer.classify_whole(crop)
        assert not face.predictions and why in analyzer.why_unlabelled(crop, face), face


def test_why_unlabelled_names_the_head_that_gave_a_small_face_no_label(analyzer, media):
    """A 12 px face has the mask head's label and none from emotion's: why_unlabelled returned None (some head
    labelled it), so nothing said why face.label("emotion") was None. It now names the heads that could not."""
    photo = cv2.resize(cv2.imread(str(media / "obama.jpg")), (12, 12), interpolation=cv2.INTER_AREA)
    face = analyzer.classify_whole(photo)
    assert face.label("mask") is not None and face.label("emotion") is None
    assert analyzer.why_unlabelled(photo, face, "emotion") == "too small for the emotion head (12 px, under 16)"
    assert analyzer.why_unlabelled(photo, face, "mask") is None
    assert analyzer.why_unlabelled(photo, face) == "too small for the emotion, gender heads (12 px, under 16)"
    with pytest.raises(KeyError, match="emotions"):
        analyzer.why_unlabelled(photo, face, "emotions")


def test_why_unlabelled_takes_the_photo_as_analyze_does(analyzer, media, tmp_path):
    """analyze() takes a path, a float array in [0, 1], bytes: why_unlabelled of the same photo raised "string indices
    must be integers" for its path, and called a float array's well-lit face "too dark to read"."""
    from facekit import ArgumentError
    from facekit.types import Face

    photo = cv2.resize(cv2.imread(str(media / "obama.jpg")), (12, 12), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(tmp_path / "small.png"), photo)
    face = analyzer.classify_whole(photo)
    said = "too small for the emotion head (12 px, under 16)"
    for image in (tmp_path / "small.png", str(tmp_path / "small.png"), photo.astype(np.float32) / 255):
        assert analyzer.why_unlabelled(image, face, "emotion") == said, image
    bare = Face(box=face.box, score=1.0)  # no head's label: a lit float photo is not "too dark to read"
    assert analyzer.why_unlabelled(photo.astype(np.float32) / 255, bare) == analyzer.why_unlabelled(photo, bare) \
        == "too small for the emotion, gender heads (12 px, under 16)"
    # analyze()'s whole list given where one face goes: an AttributeError from inside ('Faces' ... 'predictions')
    with pytest.raises(ArgumentError, match=r"takes one Face \(from analyze\(\)\), got a Faces: one face of it"):
        analyzer.why_unlabelled(photo, analyzer.analyze(media / "obama.jpg"), "emotion")
    with pytest.raises(ArgumentError, match="got a dict"):
        analyzer.why_unlabelled(photo, face.to_dict())


def test_a_box_unpacks_as_print_shows_it(analyzer, media):
    """print(face) shows box=(x1, y1, x2, y2), and `x1, y1, x2, y2 = face.box` was "'Box' object is not iterable":
    a box unpacks (and tuple() gives it) in that order, the pixels it names being the face's crop."""
    from facekit import ArgumentError
    from facekit.drawing import annotate

    image = cv2.imread(str(media / "example_03.png"))
    faces = analyzer.analyze(image)
    assert len(faces) == 3
    for face in faces:
        x1, y1, x2, y2 = face.box
        assert [x1, y1, x2, y2] == list(face.box) == face.box.as_list() and f"box={tuple(face.box)}" in repr(face)
        assert np.array_equal(image[y1:y2, x1:x2], face.crop(image))
    with pytest.raises(ArgumentError, match="got a Box"):  # one box, not faces: said as before, not "got a int"
        annotate(image, faces[0].box)


def test_readme_says_analyze_videos_times_count_from_the_first_picture(analyzer, media):
    """The CSV's docs and the video script say its times count from the first picture, which a player shows
    0.852 s in on the hamilton clip; analyze_video's docs said nothing of it, so a researcher lining its time_s up
    with a transcript was 25 frames off. README and the docstring say so, and name where the delay is read."""
    from facekit.container import sound

    readme = (ROOT / "README.md").read_text()
    at = readme.index("It yields `(frame_index, time_s, faces)`")
    said = " ".join(readme[at:at + 600].split())
    assert "counts from its first picture" in said and "`facekit.container.sound(path).picture_start_s`" in said
    assert "sound(path).picture_start_s" in " ".join(analyzer.analyze_video.__doc__.split())
    [(index, time_s, _)] = list(analyzer.analyze_video(media / CLIP, max_frames=1))
    assert (index, time_s) == (0, 0.0) and sound(media / CLIP).picture_start_s == 0.852
    # README said only "0 where the container does not say": sound() of one it does not read is None, and
    # sound(path).picture_start_s an AttributeError there
    assert sound(media / "obama.jpg") is None and "`sound(path)` is None for another container" in said


def test_video_frames_times_and_tracks(analyzer, media):
    results = list(analyzer.analyze_video(media / CLIP, every=10))
    indices = [r.frame_index for r in results]
    assert indices == list(range(0, 275, 10))  # 275 frames, every 10th analysed
    fps = cv2.VideoCapture(str(media / CLIP)).get(cv2.CAP_PROP_FPS)
    assert all(abs(r.time_s - r.frame_index / fps) < 1e-6 for r in results)
    faces = [f for _, _, fs in results for f in fs]
    assert len(faces) > 20 and all(f.track_id is not None for f in faces)
    # Tracking holds: some face keeps its id over several analysed frames.
    ids = [f.track_id for f in faces]
    assert max(ids.count(i) for i in set(ids)) >= 5
    # Every face wide enough gets a mask label, unless it is too dark to read (the clip's dark audience).
    from facekit.pipeline import MIN_BRIGHTNESS_FOR_HEADS, brightness

    cap, frames = cv2.VideoCapture(str(media / CLIP)), {}
    for i in range(275):
        ok, frame = cap.read()
        if ok and i % 10 == 0:
            frames[i] = frame
    # Each result carries the frame it analysed (a caller drawing the faces read the video a second time, as here)
    assert all(np.array_equal(r.frame, frames[r.frame_index]) for r in results)
    lit = [("mask" in f.predictions, brightness(r.frame, f.box) >= MIN_BRIGHTNESS_FOR_HEADS)
           for r in results for f in r.faces if f.box.width >= 16]
    assert all(labelled == bright for labelled, bright in lit)
    # ...and the check above met one: the dark faces score just over the detector's threshold (0.52-0.60),
    # so which of the sampled frames hold one moves with the detector's input size.
    assert sum(not bright for _, bright in lit) >= 1
    # The README's loop: face.label(task) is None on those faces, where predictions[task] raised KeyError.
    labels = [(f.label("emotion"), f.label("mask")) for f in faces]
    assert {lab for lab, _ in labels} >= {None, "neutral"}
    assert all(m == (f.predictions["mask"].label if "mask" in f.predictions else None) for f, (_, m) in
               zip(faces, labels))
    # ...and a task no head has is not one of them (a typo gave None too): KeyError, on tracked faces as well
    assert all(f.tasks == tuple(analyzer.tasks) for f in faces)
    with pytest.raises(KeyError, match="no head 'emotions' labelled this face: its analyzer's heads are 'mask', "):
        faces[-1].label("emotions")
    first = next(iter(analyzer.analyze_video(media / CLIP, max_frames=3, detect_every=2)))
    assert first.frame_index == 0 and first.time_s == 0.0


@pytest.mark.parametrize("int8_pays", [True, False])
def test_photos_run_the_fp16_heads_and_video_their_int8_twins(analyzer, media, monkeypatch, int8_pays):
    """facekit.heads.use_int8: the library, the image script and the batch job's photos run model.tflite;
    analyze_video and the video script run the validated int8 twins where int8 pays on the CPU
    (facekit.runtime.int8_pays), model.tflite where it does not; FACEKIT_INT8 sets both."""
    from facekit import runtime
    from facekit.cli import image, video
    from facekit.cli.common import build_pipeline
    from facekit.heads import INT8, TFLITE, int8_twin

    monkeypatch.delenv("FACEKIT_INT8", raising=False)
    monkeypatch.setattr(runtime, "int8_pays", lambda: int8_pays)
    monkeypatch.setattr(analyzer, "_video_pipelines", {})  # built by other tests on this machine's CPU
    in_video_name = INT8 if int8_pays else TFLITE
    twins = {t for t, h in analyzer.heads.items() if int8_twin(h.folder) is not None}
    assert twins == {"mask", "emotion", "gender"}  # the shipped models
    assert {h.model_path.name for h in analyzer.heads.values()} == {TFLITE}
    in_video = analyzer._pipeline_for_video(False).heads
    assert {h.model_path.name for h in in_video.values()} == {in_video_name}
    assert analyzer._pipeline_for_video(False) is analyzer._pipeline_for_video(False)  # loaded once
    frame = next(iter(analyzer.analyze_video(media / CLIP, max_frames=1)))
    assert frame.faces and all(0.99 < sum(f.predictions["mask"].probabilities.values()) < 1.01
                               for f in frame.faces if "mask" in f.predictions)
    photo_script = build_pipeline(image.build_parser().parse_args(["-i", "x.png", "--tasks", "mask"]))
    video_script = build_pipeline(video.build_parser().parse_args(["--tasks", "mask"]), video=True)
    assert photo_script.heads["mask"].model_path.name == TFLITE
    assert video_script.heads["mask"].model_path.name == in_video_name
    assert video_script._pipeline_for_video(False).heads["mask"] is video_script.heads["mask"]
    monkeypatch.setenv("FACEKIT_INT8", "0")
    assert build_pipeline(video.build_parser().parse_args(["--tasks", "mask"]), video=True) \
        .heads["mask"].model_path.name == TFLITE
    monkeypatch.setenv("FACEKIT_INT8", "1")
    assert build_pipeline(image.build_parser().parse_args(["-i", "x.png", "--tasks", "mask"])) \
        .heads["mask"].model_path.name == INT8


def test_a_twin_under_its_first_name_still_runs(media, tmp_path):
    """bench.quantize first named the int8 twin model.int8.tflite (8724592); a model folder from then, its int8.json
    naming the same model.tflite, ran fp16 after an upgrade (twice the CPU a face in video), unsaid. Its twin runs
    as a twin of today's name does, with the same labels."""
    import shutil

    from facekit.heads import INT8, Head, models_dir
    from facekit.preprocess import load_image
    from facekit.types import Box

    folder = tmp_path / "mask"
    shutil.copytree(models_dir() / "mask", folder, ignore=shutil.ignore_patterns("model.keras"))
    (folder / INT8).rename(folder / "model.int8.tflite")
    head = Head.load(folder, int8=True)
    assert head.model_path == folder / "model.int8.tflite"
    image = load_image(media / "example_03.png")
    boxes = [Box(172, 95, 263, 197), Box(263, 110, 393, 262)]  # the man behind, the masked woman in front
    shipped = Head.load(models_dir() / "mask", int8=True)
    assert shipped.model_path.name == INT8
    old, new = head.predict_boxes(image, boxes), shipped.predict_boxes(image, boxes)
    assert [p.label for p in old] == [p.label for p in new] == ["without_mask", "with_mask"]
    assert Head.load(folder, int8=False).model_path.name == "model.tflite"


@pytest.mark.parametrize("machine, flags, pays", [
    ("x86_64", {"avx2", "fma", "avx512f", "avx512_vnni"}, True),  # AMD Zen 4/5, Intel Xeon since Cascade Lake
    ("x86_64", {"avx2", "fma", "avx_vnni"}, True),  # Intel Alder Lake and later
    ("x86_64", {"avx2", "fma", "f16c"}, False),  # AMD Zen 2/3, Intel before Ice Lake: the twins ran slower
    ("AMD64", set(), True),  # flags unreadable (not Linux): as before the check
    ("aarch64", {"asimd", "asimddp"}, True)])
def test_int8_twins_run_where_the_cpu_has_int8_dot_products(monkeypatch, machine, flags, pays):
    import platform

    from facekit import runtime
    from facekit.heads import use_int8

    monkeypatch.delenv("FACEKIT_INT8", raising=False)
    monkeypatch.setattr(platform, "machine", lambda: machine)
    monkeypatch.setattr(runtime, "cpu_info", lambda: ("some CPU", frozenset(flags)))
    assert runtime.int8_pays() is pays
    assert use_int8(video=True) is pays and use_int8(video=False) is False
    assert f"int8 twins pay on this CPU: {'yes' if pays else 'no'}" in runtime.describe()


def test_video_errors(analyzer, tmp_path):
    from facekit.errors import VideoError

    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 2000)
    with pytest.raises(VideoError):
        next(iter(analyzer.analyze_video(bad)))


def test_a_crowd_runs_each_head_a_few_faces_at_a_time(analyzer, media):
    """18 faces go through each head in runs of at most MAX_BATCH (the interpreter keeps the memory of its
    largest batch), with the probabilities each face gets on its own."""
    import numpy as np

    from facekit import heads as heads_module
    from facekit.preprocess import load_image

    image = load_image(media / "crowd_masks.jpg")
    faces = analyzer.analyze(image)
    assert len(faces) == 18 > heads_module.MAX_BATCH
    for task, head in analyzer.heads.items():
        sizes = []
        resize = head._interp.resize_tensor_input
        head._interp.resize_tensor_input = lambda index, shape: (sizes.append(shape[0]), resize(index, shape))[1]
        try:
            together = head.predict_boxes(image, [f.box for f in faces])
        finally:
            head._interp.resize_tensor_input = resize
        assert head._batch <= heads_module.MAX_BATCH and all(n <= heads_module.MAX_BATCH for n in sizes), sizes
        alone = [head.predict_boxes(image, [f.box])[0] for f in faces[:3]]
        assert np.allclose([list(p.probabilities.values()) for p in together[:3]],
                           [list(p.probabilities.values()) for p in alone], atol=1e-6), task


def test_a_head_sets_its_tensors_up_once_at_its_first_batch_size(media, monkeypatch, capfd):
    """A photo command loaded each head at batch 1 and set it up again for its first faces: XNNPACK prepared
    every head twice (30-35 ms of a 0.5 s command on a 2-core EPYC). Now the first batch sizes it, and
    LiteRT's "Created ... delegate" line, printed there now, still stays out of the user's terminal."""
    from ai_edge_litert.interpreter import Interpreter

    from facekit.detection import create_detector
    from facekit.heads import Head, available_tasks
    from facekit.preprocess import load_image

    calls = []
    allocate = Interpreter.allocate_tensors
    monkeypatch.setattr(Interpreter, "allocate_tensors", lambda self: (calls.append(self), allocate(self))[1])
    image = load_image(media / "obama.jpg")
    box = create_detector().detect(image)[0].box
    for task, folder in available_tasks().items():
        calls.clear()
        head = Head.load(folder, int8=False)
        assert calls == [], task
        first = head.predict_boxes(image, [box, box])
        again = head.predict_boxes(image, [box, box])
        assert len(calls) == 1 and first[0].probabilities == again[0].probabilities, task
    captured = capfd.readouterr()
    assert "XNNPACK" not in captured.err + captured.out


def test_each_head_labels_faces_down_to_its_own_min_face(media):
    """The mask card's min_face (8 px, chosen on its held-out faces) lets it label a 12 px face; gender,
    with no min_face in its card, keeps the pipeline's 16 px; an explicit min_face applies to every head."""
    from facekit.heads import Head
    from facekit.pipeline import MIN_FACE_FOR_HEADS, FacePipeline
    from facekit.preprocess import load_image
    from facekit.types import Box, Face

    heads = {"mask": Head.load(ROOT / "models" / "mask"), "gender": Head.load(ROOT / "models" / "gender")}
    assert heads["mask"].card.min_face < 12 < MIN_FACE_FOR_HEADS and heads["gender"].card.min_face is None
    image = load_image(media / "two_people.jpg")
    faces = [Face(box=Box(10, 10, 22, 22), score=0.9), Face(box=Box(100, 100, 160, 160), score=0.9)]
    tiny, big = FacePipeline(None, heads).classify(image, faces)
    assert set(tiny.predictions) == {"mask"} and set(big.predictions) == {"mask", "gender"}
    tiny, big = FacePipeline(None, heads, min_face=16).classify(image, faces)
    assert not tiny.predictions and set(big.predictions) == {"mask", "gender"}
    # "Down to" includes the size itself: a face exactly min_face wide is labelled.
    edge = Face(box=Box(100, 100, 100 + MIN_FACE_FOR_HEADS, 100 + MIN_FACE_FOR_HEADS), score=0.9)
    assert set(FacePipeline(None, heads).classify(image, [edge])[0].predictions) == {"mask", "gender"}


def test_a_dark_face_exactly_min_face_wide_is_called_too_dark_not_too_small(media):
    """A face as wide as the smallest min_face is big enough (labelled when lit): unlabelled in the dark, the
    reason given is the dark, not "too small (8 px, under 8)"."""
    from facekit.heads import Head
    from facekit.pipeline import FacePipeline
    from facekit.preprocess import load_image
    from facekit.types import Box, Face

    pipeline = FacePipeline(None, {"mask": Head.load(ROOT / "models" / "mask")})
    side = pipeline.heads["mask"].card.min_face
    dark = (load_image(media / "two_people.jpg") * 0.02).astype("uint8")
    face = pipeline.classify(dark, [Face(box=Box(100, 100, 100 + side, 100 + side), score=0.9)])[0]
    assert not face.predictions
    assert pipeline.why_unlabelled(dark, face).startswith("too dark to read")


def test_the_int8_twins_probabilities_sum_to_one(media):
    """An int8 softmax comes out in steps of 1/256 (rows summing to 0.99x); video runs the int8 twins, and its
    records promise probabilities that sum to 1 whichever twin ran."""
    from facekit.heads import Head
    from facekit.preprocess import load_image
    from facekit.types import Box

    image = load_image(media / "example_03.png")
    woman, man = Box(263, 116, 399, 266), Box(172, 95, 263, 197)
    for task in ("mask", "emotion"):
        head = Head.load(ROOT / "models" / task, int8=True)
        assert head.model_path.name == "model_int8.tflite"
        for pred in head.predict_boxes(image, [woman, man]):
            assert sum(pred.probabilities.values()) == pytest.approx(1.0, abs=1e-6)


def test_landmarks_run_beside_the_heads_with_the_same_result(media):
    """With two cores the mesh runs on its own thread while the heads run on the caller's; the faces that come
    back are those of the one-thread run (same points, same labels), and a landmarker that drops a face is an
    error, not labels shifted onto the wrong faces."""
    import threading

    import numpy as np

    from facekit import runtime
    from facekit.detection import create_detector
    from facekit.heads import Head
    from facekit.landmarks import create_landmarker
    from facekit.pipeline import FacePipeline
    from facekit.preprocess import load_image

    class Spy:
        def __init__(self, mesh):
            self.mesh, self.threads = mesh, []

        def __call__(self, image, faces):
            self.threads.append(threading.current_thread().name)
            return self.mesh(image, faces)

    image = load_image(media / "two_people.jpg")
    detector, mesh = create_detector(), create_landmarker()
    faces = detector.detect(image)
    assert len(faces) == 2
    runs = {}
    try:
        for n in (1, 2):
            runtime.set_threads(n)
            spy = Spy(mesh)
            pipeline = FacePipeline(None, {"mask": Head.load(ROOT / "models" / "mask")}, spy)
            runs[n] = (pipeline.classify(image, faces), spy.threads, pipeline.times)
    finally:
        runtime.set_threads(None)
    (alone, alone_threads, _), (beside, beside_threads, times) = runs[1], runs[2]
    assert alone_threads == ["MainThread"] and beside_threads[0].startswith("facekit-landmarks")
    assert "landmarks" in times.beside and times.faces["landmarks"] == 2 and times.faces["head:mask"] == 2
    for a, b in zip(alone, beside):
        assert a.box == b.box and a.predictions["mask"].label == b.predictions["mask"].label
        assert b.landmarks is not None and np.array_equal(a.landmarks, b.landmarks) and a.pose == b.pose

    pipeline = FacePipeline(None, {"mask": Head.load(ROOT / "models" / "mask")}, lambda image, faces: faces[:1])
    with pytest.raises(TypeError, match="one Face per face"):
        pipeline.classify(image, faces)
    # None, a generator, dicts: one line naming the landmarker's fault, beside the heads or not
    for n in (1, 2):
        runtime.set_threads(n)
        try:
            for wrong, why in ((lambda image, faces: None, "got NoneType"),
                               (lambda image, faces: ({} for f in faces), "got {}")):
                pipeline = FacePipeline(None, {"mask": Head.load(ROOT / "models" / "mask")}, wrong)
                with pytest.raises(TypeError, match=f"a landmarker returns a list of .*{why}"):
                    pipeline.classify(image, faces)
            generated = FacePipeline(None, {"mask": Head.load(ROOT / "models" / "mask")},
                                     lambda image, faces: (f for f in faces))
            assert [f.box for f in generated.classify(image, faces)] == [f.box for f in faces]
        finally:
            runtime.set_threads(None)


_FORK_MADE_BEFORE = """
import multiprocessing, sys
from facekit import runtime
from facekit.detection import create_detector
from facekit.heads import Head
from facekit.landmarks import create_landmarker
from facekit.pipeline import FacePipeline
from facekit.preprocess import load_image

def classify_in_child(_):
    return [f.landmarks is not None for f in pipeline.classify(image, faces)]

if __name__ == "__main__":
    image = load_image(sys.argv[1])
    faces = create_detector().detect(image)
    runtime.set_threads(2)
    pipeline = FacePipeline(None, {"mask": Head.load(sys.argv[2])}, create_landmarker())
    print([f.landmarks is not None for f in pipeline.classify(image, faces)])
    with multiprocessing.get_context("fork").Pool(1) as pool:
        print(pool.map_async(classify_in_child, [0]).get(timeout=120))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_a_forked_worker_marks_faces_with_a_pipeline_made_before_the_fork(media):
    """multiprocessing forks on Linux: a pipeline whose landmarker thread had started in the parent was
    inherited without that thread, and the child's classify waited forever for the mesh. Run in a fresh
    interpreter, as the fork tests below: forked from a pytest worker, the child also inherited whatever the
    earlier tests' threads held, and once hung a clean-clone CI run for good."""
    res = subprocess.run([sys.executable, "-c", _FORK_MADE_BEFORE, str(media / "two_people.jpg"),
                          str(ROOT / "models" / "mask")], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split("\n")[:2] == ["[True, True]", "[[True, True]]"], res.stdout + res.stderr[-2000:]


_FORK_INITIALIZER = """
import multiprocessing, os, sys
from facekit import FaceAnalyzer

def start():
    global analyzer
    os.environ["FACEKIT_THREADS"] = "1"  # README's pool initializer
    analyzer = FaceAnalyzer(tasks="mask", landmarks=True)

def work(path):
    return [face.landmarks is not None for face in analyzer.analyze(path)]

if __name__ == "__main__":
    parent = FaceAnalyzer(tasks="mask", landmarks=True)  # the mesh's own thread runs OpenCV in the parent
    print([face.landmarks is not None for face in parent.analyze(sys.argv[1])])
    with multiprocessing.get_context("fork").Pool(1, initializer=start) as pool:
        print(pool.map_async(work, [sys.argv[1]]).get(timeout=60))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_a_forked_worker_builds_its_own_analyzer_after_the_parent_used_the_mesh(media):
    """README's worker pool (FACEKIT_THREADS=1, an analyzer built in the initializer), forked from a process that had
    analysed a photo with landmarks=True: each worker hung for good in cv2.setNumThreads(1) while building its
    analyzer (OpenCV's pool, run by the mesh's thread in the parent, cannot be resized in a fork)."""
    res = subprocess.run([sys.executable, "-c", _FORK_INITIALIZER, str(media / "two_people.jpg")], cwd=ROOT,
                         capture_output=True, text=True, timeout=180, env={**os.environ, "FACEKIT_THREADS": "2"})
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split("\n")[:2] == ["[True, True]", "[[True, True]]"], res.stdout


# A child forked while a thread of the parent holds something, labelling a face: "hung", or its exit code and
# whether its label is the one the parent got alone. Each case's part starts the thread `busy` and says how
# to let it go (`release`).
_FORK_WHILE = """
import multiprocessing, sys, threading
import cv2
from facekit import FaceAnalyzer

analyzer = FaceAnalyzer(tasks="mask", detector=None)
image = cv2.imread(sys.argv[1])
box = (0, 0, image.shape[1], image.shape[0])
alone = analyzer.analyze(image, faces=[box])[0].label("mask")


def label(queue):
    queue.put(analyzer.analyze(image, faces=[box])[0].label("mask"))

{case}
ctx = multiprocessing.get_context("fork")
queue = ctx.Queue()
child = ctx.Process(target=label, args=(queue,))
child.start()
child.join(30)
release()
if child.is_alive():
    child.kill()
    print("hung")
else:
    print(child.exitcode, child.exitcode == 0 and queue.get(timeout=30) == alone)  # a dead child put nothing
busy.join()
"""

_INSIDE_A_HEAD = """
import os
head = analyzer.heads["mask"]
inside, forking = threading.Event(), threading.Event()
os.register_at_fork(before=forking.set)  # after facekit's gate, so called before it: the fork has begun


class Slow:  # the head's interpreter, whose run in the thread 'busy' lasts until a fork begins, which lands inside it
    def __init__(self, interp):
        self.interp = interp

    def __getattr__(self, name):
        return getattr(self.interp, name)

    def invoke(self):
        if threading.current_thread().name == "busy":
            inside.set()
            forking.wait(60)
        self.interp.invoke()


head._interp = Slow(head._interp)
busy = threading.Thread(target=label, args=(multiprocessing.Queue(),), name="busy")
busy.start()
assert inside.wait(60), "the head never ran on the thread busy"
release = lambda: None
"""

_TIMING_A_STAGE = """
held, done = threading.Event(), threading.Event()


def adding():  # a thread of the parent inside StageTimes.add (microseconds, outside the fork gate) at the fork
    with analyzer.times._lock:
        held.set()
        done.wait()


busy = threading.Thread(target=adding)
busy.start()
assert held.wait(60), "the thread busy never took the timing lock"
release = done.set
"""


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
@pytest.mark.parametrize("case", [_INSIDE_A_HEAD, _TIMING_A_STAGE], ids=["inside-a-head", "timing-a-stage"])
def test_a_process_forked_while_a_thread_analyses_labels_its_faces(media, case):
    """A fork (multiprocessing's default on Linux) while another thread of the parent was analysing: the child
    inherited the head's lock held by a thread it does not have, and waited for ever at its first face (2 of 20
    forks with two threads analysing photos). A fork now waits for the engine calls under way to end. The
    stage-timing lock (StageTimes._lock) is held for microseconds outside that gate: a fork in them left the
    child's copy held, and its first face's timing waited for ever; the child now gets a fresh one."""
    res = subprocess.run([sys.executable, "-c", _FORK_WHILE.replace("{case}", case), str(media / "obama.jpg")],
                         cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == ["0", "True"], res.stdout + res.stderr[-2000:]


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_a_forked_worker_can_drop_an_analyzer_made_before_the_fork(media):
    """An analyzer built and used before a fork pool, dropped in a worker (its initializer building the worker's
    own into the same global): freeing the parent's onnxruntime session hung the worker for good, and freeing
    its LiteRT interpreters killed it with SIGSEGV. The child now keeps the inherited engines."""
    code = f"""if True:
        import gc, os, sys
        from facekit import FaceAnalyzer
        analyzer = FaceAnalyzer(landmarks=True)
        assert len(analyzer.analyze({str(media / "two_people.jpg")!r})) == 2
        pid = os.fork()
        if pid == 0:
            import faulthandler
            faulthandler.dump_traceback_later(60, exit=True)  # a hung child ends itself, not left behind
            del analyzer
            gc.collect()
            os.write(1, b"dropped\\n")
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print("child status", status)
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["dropped", "child", "status", "0"], done.stdout + done.stderr[-2000:]


def test_malloc_thresholds_fixed_once_unless_the_user_set_them():
    """Building a pipeline fixes glibc's malloc thresholds (the detector's per-frame buffers are then
    recycled instead of page-faulted in: 8 ms a frame instead of 12 in the video loop); a user's own
    MALLOC_*_ setting or FACEKIT_MALLOC=0 is left alone."""
    code = ("from facekit.pipeline import FacePipeline; from facekit import runtime; FacePipeline(None); "
            "print(runtime._malloc_tuned, runtime.keep_freed_memory())")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "FACEKIT_MALLOC"))}
    outs = {}
    cases = [("default", {}), ("user", {"MALLOC_TRIM_THRESHOLD_": "1000000"}), ("off", {"FACEKIT_MALLOC": "0"})]
    for name, extra in cases:
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
                             env={**env, **extra})
        assert res.returncode == 0, res.stderr
        outs[name] = res.stdout.split()
    if sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION"):  # glibc: set once, then kept
        assert outs["default"] == ["True", "True"]
    assert outs["user"] == ["False", "False"] and outs["off"] == ["False", "False"]


def test_one_analyzer_shared_by_threads_gives_each_photo_its_own_faces(media):
    """A web server's threads sharing one FaceAnalyzer: each model runs one call at a time, so every
    photo gets the faces, labels and landmarks it gets alone (without the locks, LiteRT raised "There is
    at least 1 reference to internal data", YuNet an OpenCV assertion, and some photos got another's)."""
    from concurrent.futures import ThreadPoolExecutor

    from facekit import FaceAnalyzer
    from facekit.preprocess import load_image

    shared = FaceAnalyzer(detector="yunet", landmarks=True)
    # Photos of other sizes and face counts; obama.jpg's 1137x910 only made each of the 28 calls longer.
    photos = [load_image(media / name) for name in ("obama-240p.jpg", "two_people.jpg", "example_03.png",
                                                    "kit_with_rose.jpg")]

    def summary(image):
        return [(f.box.as_list(), {t: round(p.score, 5) for t, p in f.predictions.items()},
                 None if f.landmarks is None else round(float(f.landmarks[:, :2].sum()), 1))
                for f in shared.analyze(image)]

    alone = [summary(image) for image in photos]
    assert all(alone) and sum(len(faces) for faces in alone) >= 6
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(summary, photos * 6))
    assert together == alone * 6


def test_a_closed_analyzer_lets_its_models_go_and_says_so_when_used_again(media, threads_started_here):
    """`with FaceAnalyzer(...) as analyzer:` (insightface users close theirs; a web app on reload) and close(): the
    models are freed at once, and a later call is one ValueError saying the analyzer is closed (there was no
    close(), and a with block was "'FaceAnalyzer' object does not support the context manager protocol")."""
    import gc
    import weakref

    from facekit import FaceAnalyzer

    photo = media / "obama.jpg"
    with FaceAnalyzer(tasks="mask,emotion", landmarks=True) as analyzer:
        assert [f.label("mask") for f in analyzer.analyze(photo)] == ["without_mask"]
        models = [weakref.ref(m) for m in (analyzer.detector, analyzer.landmarker, *analyzer.heads.values())]
        video = analyzer.analyze_video([photo] * 3, fps=25)
        assert len(next(video).faces) == 1
    gc.collect()
    assert [m() for m in models] == [None] * len(models)
    assert threads_started_here("facekit-landmarks") == []
    calls = {"analyze": lambda: analyzer.analyze(photo), "call": lambda: analyzer(photo),
             "classify_whole": lambda: analyzer.classify_whole(photo),
             "a new video": lambda: next(analyzer.analyze_video([photo])), "the video begun": lambda: next(video),
             "with": lambda: analyzer.__enter__()}
    with FaceAnalyzer(tasks="mask") as other:  # its video runs on a pipeline of its own (the video detector)
        clip = other.analyze_video(media / CLIP)
        next(clip)
    calls["a video file begun"] = lambda: next(clip)  # said "this FacePipeline is closed", a class nobody made
    for name, call in calls.items():
        with pytest.raises(ValueError, match=r"^this FaceAnalyzer is closed \(close\(\) was called"):
            call()
    analyzer.close()  # again: nothing to do, no error


@pytest.mark.parametrize("cores", [1, 2])
def test_a_call_under_way_when_another_thread_closes_the_analyzer_finishes_whole(media, monkeypatch, cores):
    """close() on one thread while another's analyze() was between its heads and the mesh: that photo's faces
    came back without their landmarks (one core) as if the mesh had found none. The call under way finishes with
    the models it began with; the next one is the closed error."""
    import facekit.runtime
    from facekit import FaceAnalyzer

    monkeypatch.setattr(facekit.runtime, "threads", lambda: cores)
    analyzer = FaceAnalyzer(tasks="mask", landmarks=True)
    head = analyzer.heads["mask"]
    labelled = head.predict_boxes

    def closing_meanwhile(image, boxes, *more):  # another thread's close(), at the worst moment
        analyzer.close()
        return labelled(image, boxes, *more)

    monkeypatch.setattr(head, "predict_boxes", closing_meanwhile)
    [face] = analyzer.analyze(media / "obama.jpg")
    assert face.label("mask") == "without_mask" and face.landmarks is not None and face.pose is not None
    with pytest.raises(ValueError, match="is closed"):
        analyzer.analyze(media / "obama.jpg")


def test_close_returns_once_the_landmarks_thread_has_ended(media, monkeypatch, threads_started_here):
    """close() while the mesh was still on a face (its thread, beside the heads) let the thread go without waiting
    for it: the thread ran on after close() returned, and under load the closed-analyzer test above, checking
    right after close(), still found it (1 run in 3 on two busy cores, Python 3.11 to 3.13). close() now returns
    once the face under way is done and the thread has ended."""
    import time

    import facekit.runtime
    from facekit import FaceAnalyzer

    monkeypatch.setattr(facekit.runtime, "threads", lambda: 2)  # the mesh runs beside the heads
    analyzer = FaceAnalyzer(tasks="mask", landmarks=True)
    mesh = analyzer.landmarker

    def slow_mesh(image, faces):
        time.sleep(0.5)
        return mesh(image, faces)

    analyzer.landmarker = slow_mesh
    head = analyzer.heads["mask"]
    labelled = head.predict_boxes
    running = []

    def closing_meanwhile(image, boxes, *more):  # the mesh is on the face now
        analyzer.close()
        running.extend(threads_started_here("facekit-landmarks"))
        return labelled(image, boxes, *more)

    monkeypatch.setattr(head, "predict_boxes", closing_meanwhile)
    [face] = analyzer.analyze(media / "obama.jpg")
    assert face.label("mask") == "without_mask" and face.landmarks is not None
    assert running == []


def test_the_one_liner_builds_one_analyzer_for_threads_calling_at_once(media, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    import facekit.analyzer as module

    built = []

    class Counted(module.FaceAnalyzer):
        def __init__(self, **options):
            built.append(options)
            super().__init__(**options)

    monkeypatch.setattr(module, "FaceAnalyzer", Counted)
    monkeypatch.setattr(module, "_default", None)
    with ThreadPoolExecutor(4) as pool:
        found = list(pool.map(lambda _: module.analyze(media / "obama-240p.jpg", tasks=["mask"]), range(8)))
    assert built == [{"tasks": ["mask"]}]
    assert [len(faces) for faces in found] == [1] * 8


_SPAWNED_FROM_A_CELL = """
import multiprocessing, os, sys
from concurrent.futures import ProcessPoolExecutor
from functools import partial
import facekit

paths = sys.argv[1:]
os.environ["FACEKIT_THREADS"] = "1"
with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
    found = list(pool.map(partial(facekit.analyze, tasks="mask"), paths))
alone = [facekit.analyze(path, tasks="mask") for path in paths]
print([len(faces) for faces in found], found == alone)
"""


@pytest.mark.slow
def test_a_spawned_pool_started_from_a_notebook_like_main_runs_readmes_recipe(media):
    """README's worker pool defines its functions in __main__, which a spawned worker (macOS, Windows) cannot reach
    from a notebook: every worker died at "Can't get attribute 'start'" and the Pool started others for good.
    README's recipe for a cell maps facekit.analyze itself: run here from `python -c`, a __main__ without a file as
    a notebook's is, on spawn, each photo gets the faces it gets alone."""
    photos = [str(media / "two_people.jpg"), str(media / "obama.jpg"), str(media / "no_face_cat.png")]
    res = subprocess.run([sys.executable, "-c", _SPAWNED_FROM_A_CELL, *photos], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split("\n")[-2] == "[2, 1, 0] True", res.stdout + res.stderr[-2000:]


def test_worker_processes_get_results_and_errors_and_a_clear_word_for_an_analyzer(analyzer, media):
    """What a process pool sends back and forth: faces and facekit's errors pickle whole; an analyzer cannot
    (native sessions), and says what to do instead of "cannot pickle 'onnxruntime...InferenceSession'"."""
    import copy
    import pickle

    from facekit import FaceAnalyzer, ImageError

    faces = analyzer.analyze(media / "two_people.jpg")
    back = pickle.loads(pickle.dumps(faces))
    assert [f.to_dict() for f in back] == [f.to_dict() for f in faces] and len(faces) == 2
    error = pickle.loads(pickle.dumps(ImageError("bad.jpg: not a readable image")))
    assert type(error) is ImageError and str(error) == "bad.jpg: not a readable image"
    for shared in (analyzer, FaceAnalyzer(detector=None, tasks="mask")):
        with pytest.raises(TypeError, match="FaceAnalyzer cannot be pickled.*build one in each worker"):
            pickle.dumps(shared)
        # deepcopy spoke of pickling and other processes to a caller who copied it in the same one
        for copied in (shared, {"config": [shared]}):
            with pytest.raises(TypeError, match=r"^a FaceAnalyzer cannot be deep-copied \(its models are native "
                                                r"sessions\): use the same one"):
                copy.deepcopy(copied)
    view = copy.copy(analyzer)  # analyze_video's copies share the models
    assert view.heads is analyzer.heads and view.detector is analyzer.detector


def test_arrays_of_every_common_kind_are_read_and_others_are_one_clear_error(analyzer, media):
    """Library callers hand over what their own code holds: a 0-1 float photo (scikit-image, most ML
    code) was cast to a black image with no face; a channels-first array or a list failed deep inside."""
    import numpy as np

    from facekit.errors import ImageError
    from facekit.preprocess import load_image

    photo = load_image(media / "obama-240p.jpg")  # a small photo: seven more analyses of it follow
    reference = analyzer.analyze(photo)
    assert len(reference) == 1
    grey = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    # A 0-1 photo a resize's overshoot (INTER_CUBIC) or a 10% brightening took a little past 1 was read as 0-255: black.
    overshoot = photo.astype(np.float32) / 255 * 1.1
    assert overshoot.max() > 1.05
    for same in (photo.astype(np.float32) / 255, photo.astype(np.float64), photo.astype(np.int64),
                 grey.astype(np.float32) / 255, np.ascontiguousarray(photo[:, :, ::-1])[:, :, ::-1], overshoot):
        faces = analyzer.analyze(same)
        assert len(faces) == 1 and faces[0].box.iou(reference[0].box) > 0.9
    for bad, needle in ((photo.transpose(2, 0, 1), "channels first"), (photo[:, :, 0].ravel(), "shape"),
                        (photo.tolist(), "got list"), (None, r"got None .*cv2.imread returns None")):
        with pytest.raises(ImageError, match=needle):
            analyzer.analyze(bad)


def test_faces_given_as_boxes_from_another_detector(analyzer, media):
    """analyze(faces=) takes Faces, Boxes or (x1, y1, x2, y2) tuples and clips them to the photo: a box
    reaching past the top-left corner was sliced with negative indices, read as black and left unlabelled."""
    from facekit.types import Box

    photo = media / "obama.jpg"
    found = analyzer.analyze(photo)[0]
    b = found.box
    for given in (found, b, (b.x1, b.y1, b.x2, b.y2), [float(v) for v in b.as_list()],
                  Box(b.x1 - 2000, b.y1 - 2000, b.x2, b.y2)):
        [face] = analyzer.analyze(photo, faces=[given])
        assert face.predictions["mask"].label == found.predictions["mask"].label == "without_mask"
        assert 0 <= face.box.x1 and 0 <= face.box.y1
    assert analyzer.analyze(photo, faces=[found])[0].score == found.score  # a Face keeps its own score
    with pytest.raises(ValueError, match="x1, y1, x2, y2"):
        analyzer.analyze(photo, faces=[(1, 2, 3)])


def test_faces_given_come_back_in_the_order_given(analyzer, media):
    """README and analyze()'s docstring said the faces come back sorted by detection score, given ones too: they
    keep the caller's order (and so line up with the caller's list of boxes), as both now say."""
    from facekit.types import Box, Face

    photo = media / "obama.jpg"
    b = analyzer.analyze(photo)[0].box
    given = [Face(box=b, score=0.2), Box(0, 0, 20, 20), Face(box=Box(0, 0, 30, 30), score=0.9)]
    assert [f.score for f in analyzer.analyze(photo, faces=given)] == [0.2, 1.0, 0.9]
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "sorted by detection score (faces given as `faces=` in the order given, one for each)" in readme
    assert "faces` given: in their order" in " ".join(analyzer.analyze.__doc__.split())


def test_video_from_frames_the_caller_holds(analyzer, media):
    """analyze_video on frames from elsewhere (a list, or a generator over picamera2 or any capture library
    OpenCV does not read): the same tracks and labels as the file, frame for frame; bad input is one
    VideoError. Before, a list was taken for a file name ('File name too long')."""
    from facekit.errors import VideoError

    cap, frames = cv2.VideoCapture(str(media / CLIP)), []
    for _ in range(30):
        frames.append(cap.read()[1])
    fps = cap.get(cv2.CAP_PROP_FPS)

    def summary(results):
        return [(r.frame_index, round(r.time_s, 6), [(f.track_id, f.box.as_list(), f.predictions["mask"].label)
                                                    for f in r.faces if "mask" in f.predictions])
                for r in results]

    from_file = summary(analyzer.analyze_video(media / CLIP, max_frames=30))
    assert summary(analyzer.analyze_video(frames, fps=fps)) == from_file
    assert sum(len(faces) for _, _, faces in from_file) >= 30

    def camera():  # a live feed: grey frames, times from the wall clock
        for frame in frames[:5]:
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)

    live = list(analyzer.analyze_video(camera()))
    assert [r.frame_index for r in live] == list(range(5)) and all(len(r.faces) == 2 for r in live)
    assert all(0 <= a.time_s <= b.time_s < 60 for a, b in zip(live, live[1:]))
    for bad, needle in (([], "empty"), (frames[0], "use analyze()"), ([frames[0], frames[1][:100]], "changing size"),
                        (3.5, "got float")):
        with pytest.raises(VideoError, match=needle):
            list(analyzer.analyze_video(bad))


def test_heads_show_their_task_labels_and_model_file(analyzer):
    """analyzer.heads in a notebook cell (README passes it to Style.from_heads) showed
    {'mask': <facekit.heads.Head object at 0x7f...>, ...}: nothing of which model runs."""
    head = analyzer.heads["mask"]
    assert repr(head) == f"Head('mask', labels=['with_mask', 'without_mask'], model={str(head.model_path)!r})"
    assert str(head.model_path).endswith(".tflite") and "object at 0x" not in repr(analyzer.heads)


def test_a_video_results_frame_is_what_its_faces_are_drawn_on(analyzer, media):
    """VideoResult.frame: the frame as analysed, so the README's loop draws each one; held frames come back as the
    BGR image the faces were found in (a gray frame converted), and unpacking stays three names."""
    from facekit.drawing import Style, annotate

    style = Style.from_heads(analyzer.heads)
    for index, time_s, faces in analyzer.analyze_video(media / CLIP, max_frames=2):
        assert index in (0, 1) and time_s >= 0
    result = next(r for r in analyzer.analyze_video(media / CLIP, max_frames=60) if r.faces)
    assert result.frame.shape == (360, 640, 3) and result.frame.dtype == np.uint8
    drawn = annotate(result.frame, result.faces, style)
    b = result.faces[0].box
    assert drawn.shape == result.frame.shape and not np.array_equal(drawn[b.y1:b.y2, b.x1:b.x2],
                                                                       result.frame[b.y1:b.y2, b.x1:b.x2])
    gray = cv2.cvtColor(cv2.imread(str(media / "two_people.jpg")), cv2.COLOR_BGR2GRAY)
    held = list(analyzer.analyze_video([gray, gray], fps=25))
    assert len(held) == 2 and all(r.frame.shape == (*gray.shape, 3) for r in held)
    assert np.array_equal(held[0].frame[..., 0], gray) and len(held[0].faces) == 2
    # a copy with its faces filtered (the tuple's _replace) kept no frame: an AttributeError at .frame
    kept = held[0]._replace(faces=held[0].faces[:1])
    assert kept.frame is held[0].frame and kept[:2] == held[0][:2] and kept.faces == held[0].faces[:1]
    assert held[0]._replace(frame=gray).frame is gray


def test_analyze_video_shows_its_progress_when_asked(analyzer, media, capsys):
    """A long video in a notebook cell said nothing until it ended, and tqdm around the generator could only count
    ("1234it"): it cannot know the frame count. progress=True draws a bar to the source's end (the video
    script's), a widget in Jupyter, text on standard error elsewhere, though that is no terminal (a notebook's)."""
    from facekit.errors import ArgumentError

    assert len(list(analyzer.analyze_video(media / CLIP, max_frames=3))) == 3
    assert "frames" not in capsys.readouterr().err  # none unless asked for
    total = int(cv2.VideoCapture(str(media / CLIP)).get(cv2.CAP_PROP_FRAME_COUNT))
    for options, shown in (({"max_frames": 3}, "3/3"), ({"max_frames": 2, "every": 100}, "101/101"),
                           ({"every": 100}, f"{total}/{total}")):
        assert list(analyzer.analyze_video(media / CLIP, progress=True, **options))
        err = capsys.readouterr().err
        assert "frames: 100%" in err and shown in err, (options, err)
    photo = cv2.imread(str(media / "example_03.png"))
    assert len(list(analyzer.analyze_video([photo] * 4, fps=25, progress=True))) == 4
    assert "4/4" in capsys.readouterr().err
    with pytest.raises(ArgumentError, match="progress must be True or False"):
        next(analyzer.analyze_video(media / CLIP, progress="yes"))


def test_analyze_video_progress_ends_at_the_frames_a_cut_clip_shows(analyzer, tmp_path, capsys):
    """A clip cut with `ffmpeg -ss 4.2 -i long.mp4 -c copy` gave its 60 frames and the bar ended at "101/101": its
    header counts the lead-in frames its edit list hides."""
    mp4_cut_by_copy(tmp_path / "cut.mp4", 20, hidden=8)
    assert len(list(analyzer.analyze_video(tmp_path / "cut.mp4", every=5, progress=True))) == 3
    err = capsys.readouterr().err
    assert "12/12" in err and "20/20" not in err, err


def test_a_live_feed_the_caller_holds_is_timed_as_its_frames_come(analyzer, media):
    """A generator of frames with no fps (picamera2, say) is a live feed, timed by the wall clock. Its times were
    taken when each result was handed back: the first frame read 0.7 s (the models' first run) instead of 0, and
    every later one a frame's analysis and the next frame's wait late, the loop reading a frame ahead. A camera
    opened by path is timed as its frames arrive; held frames now are too."""
    frame = cv2.imread(str(media / "example_03.png"))
    came = []

    def camera():  # a frame every 0.3 s, as a slow camera gives them
        for i in range(4):
            if i:
                time.sleep(0.3)
            came.append(time.perf_counter())
            yield frame

    times = [r.time_s for r in analyzer.analyze_video(camera())]
    assert times[0] == 0.0
    assert times == pytest.approx([t - came[0] for t in came], abs=0.05)


def test_readme_says_which_faces_have_a_score_no_detector_gave(analyzer, media):
    """README said a face's `score` is "the detector's, 0-1", but a crop, a box given to analyze(faces=) and
    classify_whole() get 1.0: a study of detector scores over such records counted them as the surest faces."""
    photo = cv2.imread(str(media / "obama-240p.jpg"))
    given = analyzer.analyze(photo, faces=[(0, 0, 40, 40)])[0]
    found = analyzer.analyze(photo)[0]
    assert given.score == analyzer.classify_whole(photo).score == 1.0 > found.score
    assert analyzer.analyze(photo, faces=[found])[0].score == found.score  # a Face keeps its own
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert ("`score` is the detector's, 0-1 (1.0 where no detector ran: a `--crops` image, a box given to "
            "`analyze(faces=)`, `classify_whole()`)") in readme


def test_a_list_of_frames_without_fps_is_said_to_be_timed_by_the_wall_clock(analyzer, caplog):
    """analyze_video(sorted(glob("frames/*.png"))) timed a recording's frames as a live feed's, by the wall clock as
    they were analysed: its time_s measured the analysis (0.23 s a frame on 2 cores, not 1/30), without a word,
    where frames/%04d.png warns that it is taken at 30 fps. A list or array warns; fps= and a generator do not."""
    frames = [np.full((48, 64, 3), 128, np.uint8)] * 2
    with caplog.at_level(logging.WARNING, logger="facekit"):
        assert len(list(analyzer.analyze_video(frames))) == 2
    said = [r.getMessage() for r in caplog.records if r.name == "facekit"]
    assert said == ["the 2 frames given (a list) have no frame rate: timed by the wall clock as they are analysed, "
                    "as a live feed's (fps= gives a recording's times)"], said
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="facekit"):
        assert [r.time_s for r in analyzer.analyze_video(frames, fps=25)] == [0.0, 0.04]
        list(analyzer.analyze_video(iter(frames)))  # a generator may be a camera: a live feed, as documented
    assert not [r for r in caplog.records if r.name == "facekit"]


def test_every_nth_frame_keeps_its_container_time_however_far_apart(tmp_path, media, monkeypatch):
    """A file's frame is timed by its container (a phone's variable frame rate: times are not index / fps). With
    every=1000 the reader ran thousands of frames ahead of the analysed ones, their timestamps were pushed out of
    the reader's record, and every analysed frame but the last was timed index / fps. Here the container's clock
    runs 1.5x the frame rate's, as a stretch of a variable-rate video may."""
    import facekit.video
    from facekit import FaceAnalyzer

    video = tmp_path / "long.mp4"
    # Small frames (their size plays no part), and 3000 of them: each is decoded and looked at for scene cuts,
    # and the stamp of frame 1000 was already lost by then.
    frame = cv2.resize(cv2.imread(str(media / "example_03.png")), (96, 64))
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30, (96, 64))
    for _ in range(3000):
        writer.write(frame)
    writer.release()

    class Stretched:  # the real capture, its timestamps 1.5x index / fps
        def __init__(self, cap):
            self.cap = cap

        def get(self, prop):
            value = self.cap.get(prop)
            return value * 1.5 if prop == cv2.CAP_PROP_POS_MSEC else value

        def __getattr__(self, name):
            return getattr(self.cap, name)

    opened = facekit.video._open_capture
    monkeypatch.setattr(facekit.video, "_open_capture", lambda *a, **k: Stretched(opened(*a, **k)))
    results = [(r.frame_index, r.time_s) for r in FaceAnalyzer(tasks="mask").analyze_video(video, every=1000)]
    assert [i for i, _ in results] == list(range(0, 3000, 1000))
    assert [t for _, t in results] == pytest.approx([1.5 * i / 30 for i, _ in results], abs=1e-3)


def test_a_face_prints_as_one_readable_line(media):
    from facekit import FaceAnalyzer

    [face] = FaceAnalyzer(tasks=["mask"], landmarks=True).analyze(media / "obama.jpg")
    text = repr(face)
    assert text.startswith(f"Face(box=({face.box.x1}, {face.box.y1}, ") and "mask=without_mask" in text
    assert "pose=(yaw " in text and "landmarks=468" in text
    assert "\n" not in text and "array(" not in text and len(text) < 200
    assert "-0 " not in str(face.pose) + " "  # whole degrees, never "-0"


def test_faces_compare_by_value_across_calls_copies_and_processes(media):
    """A Face compared by identity: analyze(photo) != analyze(photo), and a face pickled to a worker and back,
    or deep-copied, was unequal to itself, so an app's cache or a regression test could not compare results.
    Faces are equal when every field is (the mesh's points by value), and stay usable in sets."""
    import copy
    import pickle

    import numpy as np

    from facekit import FaceAnalyzer

    analyzer = FaceAnalyzer(tasks="mask,emotion", landmarks=True)
    first, again = analyzer.analyze(media / "example_03.png"), analyzer.analyze(media / "example_03.png")
    assert len(first) == 3 and first[0].landmarks is not None
    assert first == again and first[0] != first[1]
    face = first[0]
    for twin in (pickle.loads(pickle.dumps(face)), copy.deepcopy(face), face.replace()):
        assert twin == face and not twin != face and twin is not face
        assert hash(twin) == hash(face) and len({face, twin}) == 1
    moved = face.landmarks.copy()
    moved[0, 0] += 1
    assert face.replace(landmarks=moved) != face and face.replace(landmarks=None) != face
    assert face.replace(track_id=3) != face and face.replace(predictions={}) != face
    assert face != face.to_dict() and (face == "face") is False
    twin = pickle.loads(pickle.dumps(face.predictions["mask"]))
    assert len({face.predictions["mask"], twin, first[1].predictions["mask"]}) == 2  # a frozen Prediction hashes
    assert np.array_equal(first[1].landmarks, again[1].landmarks)


def test_a_face_crops_its_own_pixels_from_the_photo_or_array_it_was_found_in(media, tmp_path):
    """No crop helper: an app slicing image[y1:y2, x1:x2] itself wrote its own margins and edge handling. face.crop
    gives the box's pixels (an array's own dtype and channel order; a path read as analyze() reads it), with a
    margin and a square as the heads' crops, the edge repeated past the image."""
    import numpy as np

    from facekit import ArgumentError, FaceAnalyzer

    photo = media / "example_03.png"
    image = cv2.imread(str(photo))
    faces = FaceAnalyzer(tasks="mask").analyze(photo)
    edge = max(faces, key=lambda f: f.box.x2)  # the man at the right edge
    for face in faces:
        b = face.box
        assert np.array_equal(face.crop(photo), image[b.y1:b.y2, b.x1:b.x2])
        rgb = face.crop(image[..., ::-1])
        assert np.array_equal(rgb, image[b.y1:b.y2, b.x1:b.x2, ::-1])
        rgb[:] = 0  # a copy: the caller's photo is left as it was
    assert image.any()
    wide = edge.crop(image, margin=0.25, square=True)
    side = round(max(edge.box.width, edge.box.height) * 1.5)
    assert wide.shape == (side, side, 3) and edge.box.x2 + side // 4 > image.shape[1]
    assert edge.crop(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), margin=0.1).ndim == 2
    cv2.imwrite(str(tmp_path / "crop.png"), wide)
    assert np.array_equal(cv2.imread(str(tmp_path / "crop.png")), wide)
    with pytest.raises(ArgumentError, match=r"does not lie inside this 50x50 image: crop the image the face"):
        faces[0].crop(image[:50, :50])
    with pytest.raises(ArgumentError, match=r"does not lie inside this 600x50 image"):  # each side against its own
        faces[0].crop(image[:50])
    with pytest.raises(ArgumentError, match=r"^margin must be a number from 0"):
        faces[0].crop(image, margin=-0.1)


def test_an_analyzer_prints_what_it_runs():
    """A notebook showed "<facekit.analyzer.FaceAnalyzer object at 0x7f...>": which heads, which detector?"""
    from facekit import FaceAnalyzer

    analyzer = FaceAnalyzer(tasks="mask,emotion", detector="yunet", landmarks=True)
    assert repr(analyzer) == "FaceAnalyzer(tasks=['mask', 'emotion'], detector='yunet', landmarks=True)"
    from facekit.detection import DEFAULT_DETECTOR, VIDEO_DETECTOR

    assert repr(FaceAnalyzer(tasks="mask")) == (f"FaceAnalyzer(tasks=['mask'], detector={DEFAULT_DETECTOR!r}, "
                                                f"video_detector={VIDEO_DETECTOR!r}, landmarks=False)")

    class Mine:
        def detect(self, image):
            return []

    assert repr(FaceAnalyzer(tasks="mask", detector=Mine())).startswith("FaceAnalyzer(tasks=['mask'], detector=<Mine>")
    analyzer.close()
    assert repr(analyzer) == "<FaceAnalyzer, closed>"


def test_a_prediction_and_a_pose_print_short_and_read_back(media):
    """`face.predictions` in a REPL printed every probability to 17 digits (the three heads: ~700 characters) and
    a pose's angles to 15: the reprs keep the constructor form, to 4 significant digits (a pose to 0.01 degree)."""
    from facekit import FaceAnalyzer, Pose, Prediction

    [face] = FaceAnalyzer(landmarks=True).analyze(media / "obama.jpg")
    text = repr(face.predictions)
    digits = [len(m.lstrip("0.").replace(".", "")) for m in re.findall(r"\d+\.\d+|\d+(?=e)", text)
              if not m.startswith("0.9999")]  # those keep the digits that tell them from 1
    assert digits and max(digits) <= 4 and "\n" not in text, text
    for pred in face.predictions.values():
        back = eval(repr(pred), {"Prediction": Prediction})
        assert back.label == pred.label and list(back.probabilities) == list(pred.probabilities)
        assert all(abs(back.probabilities[k] - v) <= 1e-3 * max(v, 1e-9) for k, v in pred.probabilities.items())
    assert face.pose is not None
    back_pose = eval(repr(face.pose), {"Pose": Pose})
    assert len(repr(face.pose)) < 50 and abs(back_pose.yaw - face.pose.yaw) <= 0.005
    assert repr(Prediction("a", 1.728212e-05, {"a": 1.728212e-05})) == \
        "Prediction(label='a', score=1.728e-05, probabilities={'a': 1.728e-05})"  # small values keep their digits
    # ...and one just short of 1 is not printed as 1 (0.99998 was "1", a certainty the head did not give)
    assert repr(Prediction("a", 0.999984, {"a": 0.999984, "b": 1.6e-05})) == \
        "Prediction(label='a', score=0.999984, probabilities={'a': 0.999984, 'b': 1.6e-05})"
    assert repr(Prediction("a", 0.99999999, {"a": 0.99999999})).startswith("Prediction(label='a', score=0.99999999,")
    assert repr(Prediction("a", 1.0, {"a": 1.0, "b": 0.0})) == \
        "Prediction(label='a', score=1, probabilities={'a': 1, 'b': 0})"


# --- What a new user hit: the README's error classes, tasks as a string, bad boxes, empty images, bad steps ---


def test_the_error_classes_the_readme_names_are_exported_cheaply():
    """README: bad input raises facekit.FacekitError (ImageError, VideoError, ModelError); `from facekit import
    ImageError` was an ImportError. They load as facekit.errors alone: no OpenCV, no numpy."""
    names = ["FacekitError", "ImageError", "VideoError", "ModelError", "AssetError", "DatasetError"]
    code = (f"import sys, facekit, facekit.errors as e; from facekit import {', '.join(names)}; "
            f"print(all(getattr(facekit, n) is getattr(e, n) and issubclass(getattr(e, n), e.FacekitError) "
            f"for n in {names!r}), 'cv2' in sys.modules, 'numpy' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["True", "False", "False"]
    import facekit

    assert set(names) <= set(facekit.__all__) and set(names) <= set(dir(facekit))


def test_every_module_name_readme_gives_works_after_a_bare_import(media):
    """README names facekit.container.sound(path), facekit.errors.ImageNotFoundError, facekit.detection.LICENCES, ...:
    after `import facekit` alone each was "module 'facekit' has no attribute 'container'" (in an except clause,
    raised in place of the error it was to catch). Each of README's 20-odd now resolves in a fresh interpreter, the
    module loaded on first use; a misspelt name, the command line's __main__ and a data folder are still no
    attribute, and a bare import still loads no OpenCV or numpy."""
    names = sorted(set(re.findall(r"facekit\.([a-z_]+)\.([A-Za-z_]\w*)", (ROOT / "README.md").read_text())))
    assert len(names) >= 20 and ("container", "sound") in names and ("errors", "ImageNotFoundError") in names
    code = ("import sys, facekit; cheap = 'cv2' not in sys.modules and 'numpy' not in sys.modules; "
            "print(cheap, [n for n in ('FaceAnalyser', '__main__', 'nope', 'models', 'a.b', '') "
            "if hasattr(facekit, n)], "
            f"[f'{{m}}.{{n}}' for m, n in {names!r} if not hasattr(getattr(facekit, m), n)], "
            "facekit.container.sound(sys.argv[1]).picture_start_s)")
    res = subprocess.run([sys.executable, "-c", code, str(media / CLIP)], capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == "True [] [] 0.852", res.stdout + res.stderr


def test_type_checkers_see_every_public_name_as_what_it_is():
    """`from facekit import FaceAnalyzer` type-checked as Any (mypy --strict, pyright): the names are loaded by a
    module __getattr__, which checkers cannot follow, so `FaceAnalyzer().analyze(...)` went unchecked and a
    misspelt `facekit.FaceAnalyser` passed. What checkers read (__all__ as written, the `if TYPE_CHECKING:`
    imports) must give the same objects as the lazy loading does at run time."""
    import ast

    import facekit

    tree = ast.parse((ROOT / "facekit" / "__init__.py").read_text())
    written = next(n.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "__all__")
    assert ast.literal_eval(written) == facekit.__all__  # a literal list: checkers do not run the module
    assert sorted(facekit.__all__) == sorted(["__version__", *facekit._LAZY])
    block = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING")
    names: dict = {}
    exec(compile(ast.Module(body=block.body, type_ignores=[]), "facekit/__init__.py", "exec"),
         {"__name__": "facekit", "__package__": "facekit"}, names)
    assert sorted(names) == sorted(facekit._LAZY)
    assert all(names[n] is getattr(facekit, n) for n in names)
    for alias in (a for node in block.body for a in node.names):
        assert alias.asname == alias.name  # "X as X": a re-export to checkers run with implicit re-exports off


def test_an_app_using_the_readme_api_passes_mypy_strict(tmp_path, media):
    """Where mypy is installed: README's own patterns (faces from one call given back to analyze(faces=...), a
    video wrapped in contextlib.closing, model folders as Paths) were errors to `mypy --strict`, the signatures
    saying list[...] (invariant) and Iterator (no close()), and so were a box unpacked and facekit.analyze(...).turned.
    They pass now, and a wrong use is still an error.
    A bare `np.ndarray` annotation passes only from numpy 2.3 (its type parameters' defaults), which Python 3.10
    cannot install: the app names the array type as every numpy 2 takes it."""
    pytest.importorskip("mypy")
    app = tmp_path / "app.py"
    app.write_text(f"""from __future__ import annotations
import contextlib
import io
import tempfile
import numpy as np
import numpy.typing as npt
from pathlib import Path
from typing import Any
import facekit
from facekit import Box, Face, FaceAnalyzer, ImageError
from facekit.drawing import Style, annotate

analyzer = FaceAnalyzer(tasks=["mask"])
mine = FaceAnalyzer(tasks=("mask", "emotion"), models=[Path({str(ROOT / "models" / "mask")!r})])
faces: list[Face] = analyzer.analyze({str(media / "obama.jpg")!r})
again: list[Face] = analyzer.analyze({str(media / "obama.jpg")!r}, faces=faces)
boxes: list[tuple[int, int, int, int]] = [(0, 0, 10, 10)]
given = analyzer.analyze({str(media / "obama.jpg")!r}, faces=boxes)
rows = analyzer.analyze({str(media / "obama.jpg")!r}, faces=[np.array([0, 0, 10, 10]), Box(0, 0, 9, 9)])
with contextlib.closing(analyzer.analyze_video({str(media / CLIP)!r}, max_frames=1)) as frames:
    for index, time_s, found in frames:
        label: str | None = found[0].label("mask") if found else None
upload = Path({str(media / "obama.jpg")!r}).read_bytes()
with open({str(media / "obama.jpg")!r}, "rb") as opened, tempfile.SpooledTemporaryFile() as spooled:
    spooled.write(upload)
    spooled.seek(0)
    held: list[Face] = analyzer.analyze(io.BytesIO(upload)) + analyzer.analyze(opened) + analyzer.analyze(spooled)
box: Box = faces[0].box
x1, y1, x2, y2 = box  # as print(face) shows it: "'Box' object is not iterable" to mypy and at run time
width: int = x2 - x1
def turned_of(path: str) -> int:  # facekit.analyze's Faces, which was a list[Face] without .turned to checkers
    return facekit.analyze(path).turned
def strong_turned_of(path: str) -> int:  # a part of it is a Faces too, to checkers as at run time
    faces = facekit.analyze(path)
    return faces[:2].turned + faces[faces.scores > 0.8].turned
with FaceAnalyzer(tasks="mask") as scoped:
    scoped_faces: list[Face] = scoped.analyze({str(media / "obama.jpg")!r})
    boxes_only: list[Face] = scoped.detect(Path({str(media / "obama.jpg")!r}))
    back: Face = Face.from_dict(scoped_faces[0].to_dict())
    cut: npt.NDArray[Any] = back.crop({str(media / "obama.jpg")!r}, margin=0.2, square=True)
    unique: set[Face] = set(scoped_faces) | {{back}}
scoped.close()
drawn = annotate(np.zeros((8, 8, 3), np.uint8), tuple(faces), Style.from_heads(analyzer.heads))
try:
    facekit.analyze("x.jpg")
except ImageError as exc:
    print(exc)
""")
    # The checkout's facekit (an editable install's import hook is one checkers cannot follow), its own code
    # unchecked as an installed package's is: the app's use of it is what is checked.
    # Incremental, with a cache of its own here: the first run checks numpy and facekit, the later two reuse that.
    (tmp_path / "mypy.ini").write_text(f"[mypy]\nstrict = True\nmypy_path = {ROOT}\n"
                                       f"cache_dir = {tmp_path / 'mypy_cache'}\n"
                                       f"[mypy-facekit.*]\nignore_errors = True\n")
    res = subprocess.run([sys.executable, "-m", "mypy", "--strict", str(app)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    res = subprocess.run([sys.executable, str(app)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert "no such file" in res.stdout, res.stdout + res.stderr  # and it runs, to its last line
    # README's own example, as a user pastes it, to its real photo and clip
    readme = (ROOT / "README.md").read_text().split("## Python API and batch jobs")[1]
    example = readme.split("```python\n")[1].split("```")[0]
    example = example.replace("examples/example_03.png", str(media / "example_03.png")).replace(
        '"clip.mp4"', repr(str(media / CLIP))).replace('"photo.jpg"', repr(str(media / "obama.jpg"))).replace(
        '"annotated.png"', repr(str(tmp_path / "annotated.png")))
    app.write_text(example)
    res = subprocess.run([sys.executable, "-m", "mypy", "--strict", str(app)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    app.write_text("from facekit import FaceAnalyzer\ncount: int = FaceAnalyzer().analyze('x.jpg')\n")
    res = subprocess.run([sys.executable, "-m", "mypy", "--strict", str(app)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert res.returncode == 1 and 'has type "Faces"' in res.stdout, res.stdout  # a list[Face] with .turned


def test_facekit_itself_passes_mypy(tmp_path):
    """facekit ships py.typed, so a user's type checker reads its annotations, and mypy in the checkout
    (pyproject's [tool.mypy]) reported 258 errors in 28 of its 37 modules: the package it checks is clean now,
    and an error put into one of its modules is still found (the check reads facekit, not an empty list)."""
    pytest.importorskip("mypy")
    cache = tmp_path / "mypy_cache"
    res = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(cache)], capture_output=True, text=True,
                         cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
    checked = re.search(r"no issues found in (\d+) source files", res.stdout)
    assert checked and int(checked.group(1)) >= 30, res.stdout
    broken = tmp_path / "types.py"
    source = (ROOT / "facekit" / "types.py").read_text()
    broken.write_text(source + "\n_WRONG: int = 'a string'\n")
    wrong_line = len(source.splitlines()) + 2
    res = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(cache), "--shadow-file",
                          str(ROOT / "facekit" / "types.py"), str(broken)], capture_output=True, text=True,
                         cwd=ROOT, timeout=600)
    assert res.returncode == 1 and f"facekit/types.py:{wrong_line}: error" in res.stdout, res.stdout[-3000:]


PUBLIC_CALLABLES = ["FaceAnalyzer.__init__", "FaceAnalyzer.analyze", "FaceAnalyzer.__call__",
                    "FaceAnalyzer.classify_whole", "FaceAnalyzer.analyze_video", "FaceAnalyzer.record_columns",
                    "FaceAnalyzer.detect", "FaceAnalyzer.close", "FaceAnalyzer.__enter__", "FaceAnalyzer.__exit__",
                    "analyze", "Face.to_dict", "Face.to_row", "Face.from_dict", "Face.crop", "Face.label",
                    "Face.replace", "Face.with_predictions",
                    "Prediction.to_dict", "Pose.to_dict", "Box.as_list", "Box.iou", "drawing.annotate",
                    "drawing.Style.from_heads", "drawing.Style.color", "drawing.Style.text", "drawing.head_lines",
                    "analyzer.Faces.__getitem__", "analyzer.Faces.copy"]


def test_every_public_method_and_property_says_what_it_does_in_help():
    """help(Face) and help(Box) showed Face.replace, Face.with_predictions and every Box method bare (help(Style)
    its text and color): a library user reading help() had only their names."""
    import inspect

    from facekit import Face, FaceAnalyzer
    from facekit.analyzer import Faces
    from facekit.drawing import Style
    from facekit.types import Box, Pose, Prediction

    bare = [f"{cls.__name__}.{name}" for cls in (Face, Box, Prediction, Pose, FaceAnalyzer, Style, Faces)
            for name, member in inspect.getmembers(cls) if not name.startswith("_")
            and (callable(member) or isinstance(inspect.getattr_static(cls, name), property))
            and not inspect.getdoc(inspect.getattr_static(cls, name))]
    assert bare == []
    # ...and help(Face) said only "a detected face and everything the later stages learned about it": each field
    # is named there with what it holds
    from dataclasses import fields

    assert [f.name for f in fields(Face) if f"{f.name}: " not in (Face.__doc__ or "")] == []


@pytest.mark.parametrize("name", PUBLIC_CALLABLES)
def test_every_public_signature_is_annotated_in_full(name):
    """analyze(self, image, ...) left `image` unannotated: pyright (VS Code's checker) took the base class's
    np.ndarray for it and flagged README's analyzer.analyze("photo.jpg") as an error; its strict mode called
    analyze_video's `source`, `**options` and to_dict()'s bare dict "partially unknown". Every parameter and
    return of the public API is annotated, with no bare dict / list / tuple."""
    import inspect
    import typing

    import facekit
    import facekit.drawing

    obj = facekit
    for part in name.split("."):
        obj = getattr(obj, part)
    sig = inspect.signature(obj)
    typing.get_type_hints(obj)  # what FastAPI, Typer or pydantic read: every name in them resolves at run time
    notes = {p.name: p.annotation for p in sig.parameters.values() if p.name not in ("self", "cls")}
    notes["return"] = sig.return_annotation
    assert all(n is not inspect.Parameter.empty for n in notes.values()), notes
    assert not [n for n in notes.values() if re.search(r"\b(dict|list|tuple)\b(?!\[)", str(n))], notes
    if "image" in notes:  # what as_image reads
        image = str(notes["image"])
        assert image == "ImageInput", image
        from facekit.types import ImageInput

        assert {str, bytes, __import__("numpy").ndarray} <= set(ImageInput.__args__)


def test_an_app_using_the_readme_api_passes_pyright(tmp_path, media):
    """Where pyright is on PATH (VS Code's Pylance runs it): README's calls, a photo as a path, Path, bytes or
    PIL image, type-check in pyright's standard mode (analyze("photo.jpg") was an error: see above)."""
    import shutil

    pyright = shutil.which("pyright")
    if pyright is None:
        pytest.skip("pyright is not on PATH")
    app = tmp_path / "app.py"
    app.write_text(f"""from pathlib import Path
import numpy as np
from PIL import Image
import facekit
from facekit import FaceAnalyzer
from facekit.drawing import Style, annotate

analyzer = FaceAnalyzer(tasks="mask")
photo = Path({str(media / "obama.jpg")!r})
for image in (str(photo), photo, photo.read_bytes(), Image.open(photo), np.zeros((8, 8, 3), np.uint8)):
    faces = analyzer.analyze(image)
    drawn = annotate(image, faces, Style.from_heads(analyzer.heads))
print(facekit.analyze(photo, tasks="mask"), analyzer.classify_whole(photo))
for index, time_s, found in analyzer.analyze_video(str(photo)):
    print([face.to_dict()["box"] for face in found])
""")
    # The checkout's facekit, as an editable install's import hook is one checkers cannot follow.
    (tmp_path / "pyrightconfig.json").write_text(json.dumps({"typeCheckingMode": "standard",
                                                             "extraPaths": [str(ROOT)]}))
    res = subprocess.run([pyright, "--pythonpath", sys.executable, str(app)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr


def test_tasks_as_one_string_as_the_scripts_take_it():
    """FaceAnalyzer(tasks="mask") asked for tasks 'm', 'a', 's', 'k'; a string is one task, or a comma-separated
    list as --tasks takes it, giving the heads the script builds."""
    from facekit import FaceAnalyzer
    from facekit.cli.common import build_pipeline
    from facekit.cli.image import build_parser
    from facekit.errors import FacekitError, ModelError

    assert FaceAnalyzer(tasks="mask", detector=None).tasks == ["mask"]
    script = build_pipeline(build_parser().parse_args(["-i", "x.png", "--tasks", "gender,mask"]))
    assert FaceAnalyzer(tasks="gender, mask", detector=None).tasks == script.tasks == ["gender", "mask"]
    with pytest.raises(ModelError, match="no trained model for task 'age'"):
        FaceAnalyzer(tasks="mask,age", detector=None)
    with pytest.raises(FacekitError, match="give at least one task"):  # as --tasks "" is refused
        FaceAnalyzer(tasks=" , ", detector=None)


def test_options_of_the_wrong_kind_are_one_error_naming_the_option(media):
    """landmarks="no" (a config file's or an environment variable's string) turned the mesh on, fine_pass="no" and
    int8="false" what they named off, and tasks=5 or models=5 were "'int' object is not iterable"."""
    from pathlib import Path

    from facekit import ArgumentError, FaceAnalyzer

    for options, named in ((dict(landmarks="no"), "landmarks must be True, False, 'mesh' or '5'; got 'no'"),
                           (dict(fine_pass="no"), "fine_pass must be True or False; got 'no'"),
                           (dict(int8="false"), r"int8 must be True or False \(or None\); got 'false'"),
                           (dict(tasks=5), "tasks must be a list of head names such as 'mask'"),
                           (dict(tasks=[Path("models/mask")]), r"tasks must .* \(a model folder goes in models=\)"),
                           (dict(models=5), "models must be a list of model folders, as str or Path; got 5")):
        with pytest.raises(ArgumentError, match="^" + named):
            FaceAnalyzer(**options)
    analyzer = FaceAnalyzer(tasks=("mask",), landmarks="mesh", int8=None, models=[ROOT / "models" / "mask"])
    assert repr(analyzer).endswith("landmarks=True)") and analyzer.tasks == ["mask"]
    with pytest.raises(ArgumentError, match="^fine_pass must be True or False; got 'no'"):
        next(analyzer.analyze_video([media / "obama.jpg"], fine_pass="no"))


def test_a_head_given_as_a_model_folder_keeps_the_heads_order(media, tmp_path):
    """A user's own head (--model / models=) came first: the box took its colour instead of the mask head's,
    its columns led the CSV whatever --tasks said, and an unknown task's error listed the heads without it."""
    import shutil

    from facekit import FaceAnalyzer
    from facekit.drawing import Style, annotate
    from facekit.errors import ModelError
    from facekit.heads import load_heads

    own = tmp_path / "glasses"  # a trained folder of another task: the gender network under a new name
    shutil.copytree(ROOT / "models" / "gender", own)
    card = json.loads((own / "card.json").read_text())
    (own / "card.json").write_text(json.dumps({**card, "task": "glasses", "display": {}, "colors": {}}))

    assert list(load_heads(model_paths=[str(own)])) == ["mask", "emotion", "gender", "glasses"]
    assert list(load_heads(["gender", "glasses", "mask"], [str(own)])) == ["gender", "glasses", "mask"]
    analyzer = FaceAnalyzer(models=[str(own)], detector=None)
    assert list(analyzer.heads) == ["mask", "emotion", "gender", "glasses"]
    with pytest.raises(ModelError, match=r"available: mask, emotion, gender, glasses"):
        load_heads(["glass"], [str(own)])

    # On a photo the faces carry the heads in that order, and the box is drawn in the mask head's colour
    # (red: no mask), not in the new head's.
    image = cv2.imread(str(media / "two_people.jpg"))
    faces = FaceAnalyzer(models=[str(own)]).analyze(image)
    assert faces and all(list(f.predictions) == ["mask", "emotion", "gender", "glasses"] for f in faces)
    drawn = annotate(image, faces, Style.from_heads(analyzer.heads))
    b = faces[0].box
    assert tuple(int(c) for c in drawn[(b.y1 + b.y2) // 2, b.x1]) == (0, 0, 255)


def test_confidence_outside_0_to_1_is_refused_as_the_scripts_refuse_it():
    """FaceAnalyzer(confidence=50) (a percentage) found no face without a word, NaN the same, and "0.5" from a
    web form was a TypeError from inside the detector; --confidence refuses them. Now one ArgumentError."""
    from facekit import FaceAnalyzer
    from facekit.errors import ArgumentError

    for bad in (50, 1.5, -0.1, float("nan"), "0.5", True):
        with pytest.raises(ArgumentError, match="confidence must be"):
            FaceAnalyzer(tasks="mask", confidence=bad)
    for fine in (None, 0, 0.6, 1):
        assert FaceAnalyzer(tasks="mask", confidence=fine).confidence == fine


def test_malformed_boxes_given_as_faces_are_one_error_naming_the_box(analyzer, media):
    """analyze(faces=) with a box that is not one: an inverted or empty box came back as a Face with no labels,
    NaN or "abc" as a bare ValueError from inside, and "1234" as the box (1, 2, 3, 4). Now a FacekitError (still
    a ValueError, as before) that names the box."""
    from facekit import FacekitError
    from facekit.preprocess import load_image
    from facekit.types import Box, Face

    photo = load_image(media / "obama.jpg")
    nan = float("nan")
    cases = [(["abc"], "'abc'", "4 numbers"), (["1234"], "'1234'", "4 numbers"),
             ([(1, 2, 3)], "(1, 2, 3)", "4 numbers"), ([None], "None", "4 numbers"),
             ([(50, 50, 10, 10)], "(50, 50, 10, 10)", "inverted"),
             ([(50, 50, 50, 90)], "(50, 50, 50, 90)", "empty"), ([Box(60, 10, 20, 90)], "x1=60", "inverted"),
             ([Face(box=Box(5, 5, 90, 5), score=0.5)], "Face(box=(5, 5, 90, 5)", "empty"),
             ([(10, 10, 90, 90), (nan, 10, 90, 90)], "faces[1] = (nan, 10, 90, 90)", "finite"),
             ([(10, 10, float("inf"), 90)], "inf", "finite"), ((10, 10, 90, 90), "faces[0] = 10", "one box"),
             (5, "got int", "list of")]
    for faces, box_text, reason in cases:
        with pytest.raises(FacekitError, match=reason) as info:
            analyzer.analyze(photo, faces=faces)
        assert isinstance(info.value, ValueError) and re.search(re.escape(box_text), str(info.value)), info.value
        assert "\n" not in str(info.value)
    [face] = analyzer.analyze(photo, faces=[(10.0, 10.0, 90.0, 90.0)])  # a good box is still labelled
    assert face.box.as_list() == [10, 10, 90, 90] and "mask" in face.predictions
    # Another detector's rows: (x1, y1, x2, y2, score) was "4 numbers" alone, OpenCV's Haar cascade's (x, y, w, h)
    # "inverted" alone; each now says what to pass, and so passed the face is found and labelled.
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    haar = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    [(x, y, w, h)] = haar.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(100, 100))
    assert w < x  # read as x1, y1, x2, y2, the box is inverted
    with pytest.raises(FacekitError, match=r"inverted box .*detectMultiScale gives\? pass \(x, y, x \+ w, y \+ h\)$"):
        analyzer.analyze(photo, faces=[(x, y, w, h)])
    rows = np.array([[x, y, x + w, y + h, 0.99]], np.float32)
    with pytest.raises(FacekitError, match=r"4 numbers \(x1, y1, x2, y2 and a score, .*: boxes\[:, :4\]\)$"):
        analyzer.analyze(photo, faces=rows)
    [face] = analyzer.analyze(photo, faces=rows[:, :4])
    assert face.box.iou(analyzer.analyze(photo)[0]) > 0.5 and face.label("mask") == "without_mask"


def test_empty_or_non_numeric_arrays_are_an_image_error(analyzer):
    """README: anything that is not an image is one ImageError. A 0-pixel array was no faces (or an OpenCV
    assertion), a string, date or object array a numpy TypeError; the kinds that work are kept."""
    import numpy as np

    from facekit.errors import ImageError

    for bad in (np.zeros((0, 0, 3), np.uint8), np.zeros((0, 10), np.uint8), np.zeros((10, 0, 3), np.float32),
                np.zeros((0, 0))):
        with pytest.raises(ImageError, match=re.escape(f"empty array of shape {bad.shape}")):
            analyzer.analyze(bad)
        with pytest.raises(ImageError, match="empty"):
            analyzer.classify_whole(bad)
    for dtype in (object, complex, "U1", "datetime64[s]"):
        with pytest.raises(ImageError, match="dtype"):
            analyzer.analyze(np.zeros((64, 64, 3), dtype))
    # int8 / int16 ones were an OverflowError traceback in numpy 2.0 (np.clip to 65535, past their range).
    for fine in (np.zeros((64, 64), np.uint8), np.zeros((64, 64, 1), bool), np.zeros((64, 64, 4), np.uint16),
                 np.full((64, 64, 3), -5, np.int8), np.full((64, 64), -300, np.int16),
                 np.zeros((64, 64, 3), np.float16)):
        assert analyzer.analyze(fine) == []


def test_detection_alone_takes_what_analyze_takes(analyzer, media):
    """analyzer.detect(), for boxes without heads, took only 8-bit BGR arrays: a path was "'str' object has no
    attribute 'shape'", a gray array an onnxruntime error and a float one in [0, 1] no face at all."""
    import numpy as np

    from facekit.errors import ImageNotFoundError

    photo = media / "two_people.jpg"
    image = cv2.imread(str(photo))
    boxes = [f.box for f in analyzer.detect(image)]
    assert len(boxes) == 2 and [f.box for f in analyzer.analyze(image)] == boxes
    for same in (photo, str(photo), photo.read_bytes(), image.astype(np.float32) / 255, image[..., None, 0]):
        found = analyzer.detect(same)
        assert len(found) == 2 and not any(f.predictions for f in found)
        pairs = zip(sorted(f.box.as_list() for f in found), sorted(b.as_list() for b in boxes))
        assert max(abs(a - b) for got, want in pairs for a, b in zip(got, want)) <= 8  # gray: the boxes move a little
    with pytest.raises(ImageNotFoundError, match="no such file"):
        analyzer.detect(media / "nope.jpg")


def test_a_list_of_photos_is_one_line_saying_one_image_a_call(analyzer, media):
    """analyze([photo, photo]) (a batch, as some libraries take one) was "expected an image path or a numpy array,
    got list", which left the user guessing what the list should hold; it says to call once per image."""
    from facekit.errors import ImageError

    image = cv2.imread(str(media / "obama.jpg"))
    for batch in ([media / "obama.jpg", media / "two_people.jpg"], (image, image), [str(media / "obama.jpg")]):
        with pytest.raises(ImageError, match=rf"^got a {type(batch).__name__} of {len(batch)} images: one image a "
                                             r"call \(\[analyzer.analyze\(photo\) for photo in photos\]"):
            analyzer.analyze(batch)
    with pytest.raises(ImageError, match="got a list of 2 images"):
        analyzer.classify_whole([image, image])
    with pytest.raises(ImageError, match="got list"):  # pixel values as nested lists stay the plain message
        analyzer.analyze(image[:2].tolist())


def test_video_steps_and_frame_counts_below_1_are_refused_before_the_source_opens(analyzer):
    """every=0 or -2 analysed every frame and max_frames=-1 returned nothing, silently; the video script refuses
    --max-frames 0 and steps below 1. As with a source that cannot be opened, the error comes on the first
    iteration (analyze_video is a generator), and before the source is read."""
    import numpy as np

    from facekit import FacekitError

    read = []

    def frames():
        for i in range(4):
            read.append(i)
            yield np.zeros((64, 64, 3), np.uint8)

    for option, value in (("every", 0), ("every", -2), ("every", 1.5), ("max_frames", -1), ("max_frames", 0),
                          ("detect_every", 0), ("head_every", 0)):
        results = analyzer.analyze_video(frames(), fps=25, **{option: value})
        with pytest.raises(FacekitError, match=f"{option} must be a whole number, 1 or more; got {value}") as info:
            next(results)
        assert isinstance(info.value, ValueError) and read == [], option
    assert [r.frame_index for r in analyzer.analyze_video(frames(), fps=25, every=2)] == [0, 2]
    assert [r.frame_index for r in analyzer.analyze_video(frames(), fps=25, every=np.int64(2), max_frames=1)] == [0]


# --- analyze_video's fps and smooth, and frames held as a list or generator: bad ones said so, paths taken ---


def test_analyze_video_smooths_by_the_strength_it_is_given(analyzer, media):
    """smooth is the weight of a track's past (as --smooth): 0 passes each frame's own probabilities, 0.9 holds
    them steady. The clip's first 12 frames with the heads on every frame: the first frame reads alike, then a
    face's probabilities move less from frame to frame the stronger the smoothing."""
    import numpy as np

    cap, frames = cv2.VideoCapture(str(media / CLIP)), []
    while len(frames) < 12:
        frames.append(cap.read()[1])

    def steps(smooth):
        runs = list(analyzer.analyze_video(frames, fps=30, smooth=smooth, head_every=1))
        track = {}
        for result in runs:
            for face in result.faces:
                p = face.predictions.get("emotion")
                if p is not None:
                    track.setdefault(face.track_id, []).append(np.array(list(p.probabilities.values())))
        longest = max(track.values(), key=len)
        assert len(longest) >= 10
        return longest[0], float(np.abs(np.diff(longest, axis=0)).sum())

    (first_off, moved_off), (first_on, moved_on) = steps(0.0), steps(0.9)
    assert first_off == pytest.approx(first_on, abs=1e-6)
    assert moved_on < 0.5 * moved_off


def _counted_frames(read, n=4):
    """Blank frames that note each one read: a check that comes before the source is read leaves it empty."""
    import numpy as np

    for i in range(n):
        read.append(i)
        yield np.zeros((64, 64, 3), np.uint8)


def test_video_fps_must_be_none_or_a_finite_number_above_0(analyzer):
    """fps=-5 gave negative times, NaN NaN times, 0 fell back to 1/30 s without a word and "25" (or True) was
    taken; each is now an ArgumentError naming the value, before the frames are read, as every=0 is."""
    import numpy as np

    from facekit import FacekitError

    for bad in (-5, float("nan"), float("inf"), 0, 0.0, "25", True, [25]):
        read = []
        results = analyzer.analyze_video(_counted_frames(read), fps=bad)
        with pytest.raises(FacekitError, match=re.escape(f"fps must be None (a live feed) or a finite number above "
                                                         f"0, e.g. 25; got {bad!r}")) as info:
            next(results)
        assert isinstance(info.value, ValueError) and read == [], bad
    times = [r.time_s for r in analyzer.analyze_video(_counted_frames([]), fps=np.float32(12.5))]
    assert times == [0.0, 0.08, 0.16, 0.24]


def test_video_smooth_outside_0_to_1_is_refused_as_the_video_script_refuses_it(analyzer):
    """smooth=2 or -1 was the tracker's bare ValueError, raised once the source was open; now an ArgumentError
    with the range --smooth takes, before the frames are read. The values the script takes still run."""
    import argparse

    from facekit import FacekitError
    from facekit.cli.video import smooth_strength

    for bad in (2, -1, 1, 1.0, float("nan"), "0.5", True, None):
        read = []
        results = analyzer.analyze_video(_counted_frames(read), fps=25, smooth=bad)
        with pytest.raises(FacekitError, match=re.escape(f"smooth must be a number in [0, 1): 0 = off, 0.9 = very "
                                                         f"steady; got {bad!r}")) as info:
            next(results)
        assert isinstance(info.value, ValueError) and read == [], bad
        if isinstance(bad, (int, float)) and not isinstance(bad, bool):
            with pytest.raises(argparse.ArgumentTypeError):
                smooth_strength(str(bad))
    for fine in (0, 0.0, 0.9):
        assert smooth_strength(str(fine)) == fine
        assert len(list(analyzer.analyze_video(_counted_frames([]), fps=25, smooth=fine))) == 4


def test_video_a_held_frame_that_is_not_an_image_is_an_error_naming_its_index(analyzer):
    """[f0, None, f2, f3] gave frame 0 and ended there, silently dropping f2 and f3 (a None read as the end of
    the frames), and [None, f1] said "the frames given are empty". A frame that is not an image is now a
    VideoError naming its index, as a frame of changing size is, whether a list or a generator holds it."""
    import numpy as np

    from facekit.errors import VideoError

    f = np.zeros((64, 64, 3), np.uint8)
    cases = [([f, None, f, f], "frame 1: got None instead of an image"),
             ([None, f], "frame 0: got None instead of an image"),
             ([f, f, f, 7], "frame 3: expected an image path or a numpy array, got int"),
             ([f, np.zeros((64, 64, 3), object)], "frame 1: expected an image array of numbers"),
             ([f, np.zeros((0, 0, 3), np.uint8)], "frame 1: expected an image, got an empty array"),
             ([f.transpose(2, 0, 1)], "frame 0: expected an image array of shape"),
             ([f, f[:32]], "frame 1 is 64x32 but the frames started at 64x64")]
    for frames, needle in cases:
        # A list as a recording, and a generator (a capture library handing on what it got) as a live feed.
        for source, fps in ((frames, 25), ((frame for frame in frames), None)):
            with pytest.raises(VideoError, match=re.escape(needle)):
                list(analyzer.analyze_video(source, fps=fps))


def test_a_generator_that_fills_one_buffer_again_gets_each_frames_own_faces(analyzer, media):
    """A capture library may hand out one array filled anew for each frame (OpenCV's cap.read(buf), a camera's ring
    of buffers). Read ahead of the analysis, the frame under analysis changed beneath it: of the clip's first 60
    frames so read, 19 got other faces than their own and every result's .frame was the last one. Its frames are
    now taken as they come: the faces and frames are those of fresh arrays, frame for frame."""
    def frames(reuse):
        capture, buffer = cv2.VideoCapture(str(media / CLIP)), None
        try:
            for _ in range(30):
                ok, buffer = capture.read(buffer if reuse else None)
                if not ok:
                    return
                yield buffer
        finally:
            capture.release()

    def run(reuse):
        return [(r.frame_index, [(f.track_id, f.box.as_list(), f.label("mask")) for f in r.faces], r.frame)
                for r in analyzer.analyze_video(frames(reuse), fps=29.97)]

    fresh, reused = run(False), run(True)
    assert len(fresh) == len(reused) == 30 and sum(bool(faces) for _, faces, _ in fresh) >= 25
    assert [r[:2] for r in reused] == [r[:2] for r in fresh]
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(fresh, reused))
    # a list's frames, which the caller holds, are analysed as they are, not copied
    held = [frame for _, _, frame in fresh[:3]]
    assert all(r.frame is frame for r, frame in zip(analyzer.analyze_video(held, fps=29.97), held))


def test_video_frames_held_as_image_paths(analyzer, media):
    """A list or generator of image paths was refused as "expected an image path or a numpy array, got str".
    README: analyze_video takes the frames you hold; a path is read as analyze() reads it, so the faces are
    those of the loaded arrays. A path that is no image is a VideoError naming the frame."""
    from pathlib import Path

    from facekit.errors import VideoError
    from facekit.preprocess import load_image

    photo = media / "two_people.jpg"

    def summary(results):
        return [(r.frame_index, r.time_s, [(f.track_id, f.box.as_list()) for f in r.faces]) for r in results]

    from_arrays = summary(analyzer.analyze_video([load_image(photo)] * 3, fps=10))
    assert len(from_arrays) == 3 and all(len(faces) == 2 for _, _, faces in from_arrays)
    assert summary(analyzer.analyze_video([str(photo), photo, Path(str(photo))], fps=10)) == from_arrays
    assert summary(analyzer.analyze_video((str(photo) for _ in range(3)), fps=10)) == from_arrays
    with pytest.raises(VideoError, match=re.escape("frame 1: nope.jpg: no such file")):
        list(analyzer.analyze_video([photo, "nope.jpg"], fps=10))
    with pytest.raises(VideoError, match="frame 0: .*a video .*, not a photo.* pass a video file as the source itself"):
        list(analyzer.analyze_video([media / CLIP], fps=10))


def test_uploads_as_bytes_and_pil_images_read_as_the_file_is(analyzer, media, tmp_path):
    """A web service holds an upload's bytes, a notebook a PIL image. Both were "expected an image path or a
    numpy array"; the natural ways round it lost what the path gives: cv2.imdecode of a 219 KB PNG that
    claims 15000x15000 px took 3.3 GB and 13 s (the path refuses it from its header), and np.asarray(PIL
    image) is RGB, read as BGR (the mask head put masks on 3 of 15 bare faces), with no EXIF rotation."""
    import io
    import struct
    import zlib

    import numpy as np
    from PIL import Image

    from facekit.errors import ImageError

    photo = media / "example_03.png"

    def summary(faces):
        return [(f.box.as_list(), {t: p.label for t, p in f.predictions.items()}) for f in faces]

    reference = summary(analyzer.analyze(photo))
    data = photo.read_bytes()
    for held in (data, bytearray(data), memoryview(data)):
        assert summary(analyzer.analyze(held)) == reference
    assert summary(analyzer.analyze(Image.open(photo))) == reference
    # A phone photo stored sideways with its EXIF rotation: upright from PIL as from the path.
    sideways = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.open(media / "two_people.jpg").rotate(90, expand=True).save(sideways, exif=exif)
    upright = summary(analyzer.analyze(sideways))
    assert len(upright) == 2 and summary(analyzer.analyze(Image.open(sideways))) == upright
    assert summary(analyzer.analyze(sideways.read_bytes())) == upright

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 15000, 15000, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 15001 * 8)) + chunk(b"IEND", b""))
    for bad, needle in ((bomb, "15000x15000 px is over the limit"), (b"", "empty"),
                        (b"<html>not found</html>", "not a readable image"),
                        # was a cv2.error traceback from inside (cvtColor of nothing), where an empty array is this
                        (Image.new("RGB", (0, 0)), r"PIL image: empty \(0x0 px\)"),
                        (Image.new("L", (640, 0)), r"PIL image: empty \(640x0 px\)"),
                        (io.BytesIO(b"<html>not found</html>"), "BytesIO: not a readable image"),
                        # an array as big (decoded by the caller): refused before any work
                        (np.broadcast_to(np.zeros((1, 1), np.uint8), (15000, 15000)), "over the limit")):
        with pytest.raises(ImageError, match=needle):
            analyzer.analyze(bad)


def test_a_photo_sent_as_base64_text_is_one_short_line_saying_how_to_decode_it(analyzer, media):
    """A JSON API's image field or a browser canvas's toDataURL() is base64 text: given as a str it was read as a path,
    "a name too long" with all 373,129 characters of obama.jpg's in the one line (a web service's log took it
    all), and as bytes "not a readable image". Each is now a line of under 200 characters that names what it is and
    how to decode it; decoded so, it gives the file's faces."""
    import base64

    from facekit import ImageError

    photo = media / "obama.jpg"
    text = base64.b64encode(photo.read_bytes()).decode()
    url = "data:image/jpeg;base64," + text
    for given, said in ((text, r"\(373,232 characters\): base64 text .*not a path: pass base64.b64decode\(text\)"),
                        (text.encode(), r"\(373,232 bytes\): base64 text .*not its bytes"),
                        (url, r"^data:image/jpeg;base64,/9j/4SL1R\.\.\. \(373,255 characters\): a data: URL "
                              r".*base64.b64decode\(url.partition\(','\)\[2\]\), the image's bytes$")):
        with pytest.raises(ImageError, match=said) as caught:
            analyzer.analyze(given)
        assert len(str(caught.value)) < 200
    assert analyzer.analyze(base64.b64decode(url.partition(",")[2])) == analyzer.analyze(photo)


def test_uploads_as_binary_file_objects_read_as_their_bytes_are(analyzer, media, tmp_path):
    """FastAPI's UploadFile.file (a SpooledTemporaryFile), Flask's FileStorage and its .stream, an open file, a
    BytesIO: all were "expected an image path or a numpy array, got BytesIO" though their bytes were read. Each is
    read once, as bytes are: same faces, EXIF rotation, the pixel limit from the header; a text-mode file, a read()
    giving str, or a stream already read to its end is one ImageError saying so."""
    import io
    import struct
    import tempfile
    import zlib

    from PIL import Image

    from facekit.drawing import annotate
    from facekit.errors import ImageError

    photo = media / "example_03.png"
    data = photo.read_bytes()

    def boxes(faces):
        return [f.box.as_list() for f in faces]

    reference = boxes(analyzer.analyze(data))
    assert len(reference) == 3
    spooled = tempfile.SpooledTemporaryFile(max_size=1024)  # rolled over to a real file: an upload of any size
    spooled.write(data)
    spooled.seek(0)

    class FileStorage:  # werkzeug's shape: a filename, and read() and the rest passed on to its stream
        def __init__(self, stream, filename):
            self.stream, self.filename = stream, filename

        def __getattr__(self, name):
            return getattr(self.stream, name)

    with open(photo, "rb") as opened:
        for held in (io.BytesIO(data), opened, spooled, FileStorage(io.BytesIO(data), "upload.png")):
            assert boxes(analyzer.analyze(held)) == reference
    assert annotate(io.BytesIO(data), []).shape == cv2.imread(str(photo)).shape
    # Read once, from where it stands: a second analyze() of the same stream says why it got nothing.
    with pytest.raises(ImageError, match=r"SpooledTemporaryFile: nothing left to read at byte 349,322 .*seek\(0\)"):
        analyzer.analyze(spooled)
    spooled.seek(0)
    assert boxes(analyzer.analyze(spooled)) == reference

    sideways = io.BytesIO()  # a phone photo stored sideways with its EXIF rotation
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.open(media / "two_people.jpg").rotate(90, expand=True).save(sideways, "JPEG", exif=exif)
    upright = boxes(analyzer.analyze(sideways.getvalue()))
    assert len(upright) == 2 and boxes(analyzer.analyze(io.BytesIO(sideways.getvalue()))) == upright

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 15000, 15000, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 15001 * 8)) + chunk(b"IEND", b""))

    class TextReader:  # a read() giving str, as a text stream from some other library does
        def read(self):
            return data.decode("latin-1")

    text_file = open(photo, encoding="latin-1")
    closed = open(photo, "rb")
    closed.close()
    try:
        for bad, needle in ((io.BytesIO(bomb), "BytesIO: image of 15000x15000 px is over the limit"),
                            (FileStorage(io.BytesIO(b""), "empty.jpg"), "empty.jpg: empty file"),
                            (text_file, "example_03.png: a file opened in text mode"),
                            (io.StringIO("photo"), "StringIO: a file opened in text mode"),
                            (TextReader(), r"TextReader: read\(\) gave text"),
                            (closed, "example_03.png: cannot read")):
            with pytest.raises(ImageError, match=needle):
                analyzer.analyze(bad)
    finally:
        text_file.close()


def test_a_photo_or_video_that_is_a_link_looping_back_is_said_to_loop(analyzer, tmp_path):
    """A link that loops (self.jpg -> self.jpg, a.mp4 -> b.mp4 -> a.mp4) was "a link to self.jpg, which does not
    exist (a disk not mounted, a photo moved?)" from analyze(), the photo and the video scripts, sending the user
    looking for a file that never was; it is said to loop, as facekit-batch says it."""
    from facekit import ImageError, VideoError

    (tmp_path / "self.jpg").symlink_to("self.jpg")
    (tmp_path / "a.mp4").symlink_to("b.mp4")
    (tmp_path / "b.mp4").symlink_to("a.mp4")
    with pytest.raises(ImageError) as caught:
        analyzer.analyze(tmp_path / "self.jpg")
    assert str(caught.value) == (f"{tmp_path / 'self.jpg'}: a link to self.jpg, which leads back to itself (a loop "
                                 "of links), not a file")
    with pytest.raises(VideoError) as caught:
        list(analyzer.analyze_video(str(tmp_path / "a.mp4")))
    assert str(caught.value) == (f"{tmp_path / 'a.mp4'}: a link to b.mp4, which leads back to itself (a loop of "
                                 "links), not a file")


def test_a_photo_named_too_long_for_the_file_system_is_an_image_error(analyzer, tmp_path):
    """analyze() of a name with more than 255 bytes in one part raised "OSError: [Errno 36] File name too long",
    which an app's `except ImageError` (facekit serve's, a web handler's) let through as a crash."""
    from facekit import ImageError

    name = tmp_path / ("L" * 300 + ".jpg")
    with pytest.raises(ImageError) as caught:
        analyzer.analyze(name)
    assert str(caught.value) == (f"{name}: a name too long (one part of it is 304 bytes, over the 255 a file system "
                                 "allows a name): give a shorter one")


def test_a_missing_photo_or_video_is_also_a_file_not_found_error(analyzer, tmp_path):
    """A web handler's `except FileNotFoundError` (a 404) let facekit's "no such file" ImageError through as a 500:
    a missing photo, a link to nothing and a missing video are now a FileNotFoundError too, with the same one
    line, errno ENOENT, still a FacekitError (the scripts' one line) and still that after pickling (a worker's)."""
    import errno
    import pickle

    from facekit import FacekitError, ImageError, VideoError

    (tmp_path / "gone.jpg").symlink_to(tmp_path / "unmounted" / "photo.jpg")
    (tmp_path / "gone.mp4").symlink_to(tmp_path / "unmounted" / "clip.mp4")
    # filename as open() gives it (it was None); a link to nothing is said so for a video too ("no such file").
    missing = [(lambda: analyzer.analyze(tmp_path / "nope.jpg"), ImageError, "nope.jpg: no such file", "nope.jpg"),
               (lambda: analyzer.analyze(str(tmp_path / "gone.jpg")), ImageError, "which does not exist", "gone.jpg"),
               (lambda: list(analyzer.analyze_video(str(tmp_path / "nope.mp4"))), VideoError, "nope.mp4: no such file",
                "nope.mp4"),
               (lambda: list(analyzer.analyze_video(str(tmp_path / "gone.mp4"))), VideoError,
                f"gone.mp4: a link to {tmp_path / 'unmounted' / 'clip.mp4'}, which does not exist", "gone.mp4"),
               (lambda: list(analyzer.analyze_video(str(tmp_path / "none" / "%04d.png"))), VideoError,
                "no such folder", "none")]
    for call, kind, needle, name in missing:
        with pytest.raises(FileNotFoundError) as caught:
            call()
        exc = caught.value
        assert isinstance(exc, kind) and isinstance(exc, FacekitError) and exc.errno == errno.ENOENT
        assert needle in str(exc) and "Errno" not in str(exc), str(exc)
        assert exc.filename == str(tmp_path / name), exc.filename
        again = pickle.loads(pickle.dumps(exc))
        assert type(again) is type(exc) and str(again) == str(exc) and again.errno == errno.ENOENT
        assert again.filename == exc.filename
    # Not every ImageError: a file that is there but is no image is not "not found".
    (tmp_path / "notes.jpg").write_text("not a photo")
    with pytest.raises(ImageError) as caught:
        analyzer.analyze(tmp_path / "notes.jpg")
    assert not isinstance(caught.value, FileNotFoundError)


def test_a_16_bit_gray_pil_image_reads_as_its_file_does(analyzer, media, tmp_path):
    """PIL opens a 16-bit gray PNG as mode "I;16", whose convert("RGB") clips every value over 255: the PIL
    image was a white picture with no face, where its path and its array found both."""
    import numpy as np
    from PIL import Image

    gray = cv2.cvtColor(cv2.imread(str(media / "two_people.jpg")), cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257
    path = tmp_path / "gray16.png"
    cv2.imwrite(str(path), gray)
    boxes = [f.box for f in analyzer.analyze(path)]
    assert len(boxes) == 2 and [f.box for f in analyzer.analyze(gray)] == boxes
    held = Image.open(path)
    assert held.mode.startswith("I") and [f.box for f in analyzer.analyze(held)] == boxes


def test_annotate_draws_on_what_analyze_takes(analyzer, media):
    """A notebook draws on the picture it analysed: a gray array drew each label in its colour's gray level
    (the red "No mask" black on its black block), a float one came back as floats up to 255, a PIL image was
    an AttributeError from inside annotate. Each is drawn on the 8-bit BGR picture analyze() read."""
    import numpy as np
    from PIL import Image

    from facekit.drawing import RED, Style, annotate

    photo = media / "example_03.png"
    bgr = cv2.imread(str(photo))
    faces = analyzer.analyze(bgr)
    style = Style(colors={"mask": {"without_mask": RED}})
    drawn = annotate(bgr, faces, style)
    assert drawn.dtype == np.uint8 and drawn.shape == bgr.shape
    gray = annotate(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), faces, style)
    assert gray.shape == bgr.shape and (gray == RED).all(axis=2).any()  # the label's colour, not black
    for same in (bgr.astype(np.float32) / 255, Image.open(photo), photo):
        out = annotate(same, faces, style)
        assert out.dtype == np.uint8 and np.array_equal(out, drawn)


def test_two_videos_alive_at_once_on_one_analyzer_each_get_their_own_landmarks(media):
    """Two analyze_video generators alive on one analyzer (zip() over two clips in a notebook), or a photo
    analysed inside a video's loop: the mesh followed the other run's tracks (both numbered from 1), and the
    points and pose of each video differed from its run alone, without a word."""
    from facekit import FaceAnalyzer

    analyzer = FaceAnalyzer(tasks=["mask"], landmarks=True)

    def summary(faces):
        return [(f.track_id, f.box.as_list(), None if f.landmarks is None else f.landmarks[:, :2].round(1).tolist())
                for f in faces]

    def run(**options):
        return analyzer.analyze_video(media / CLIP, max_frames=12, **options)

    alone = [[summary(faces) for _, _, faces in run(every=every)] for every in (1, 2)]
    assert any(f[2] is not None for faces in alone[0] for f in faces)
    together = ([], [])
    for first, second in zip(run(), run(every=2)):
        together[0].append(summary(first.faces))
        together[1].append(summary(second.faces))
        analyzer.analyze(media / "obama-240p.jpg")  # a photo inside the loop: any photo with a face
    assert list(together) == alone


def test_one_model_folder_given_as_a_string_or_path(tmp_path):
    """models="my_head" (one folder, as tasks="mask" is one task) was read a character at a time: "/card.json:
    model card not found", a folder nobody named."""
    import shutil

    from facekit import FaceAnalyzer
    from facekit.errors import ModelError

    own = tmp_path / "glasses"
    shutil.copytree(ROOT / "models" / "gender", own)
    card = json.loads((own / "card.json").read_text())
    (own / "card.json").write_text(json.dumps({**card, "task": "glasses", "display": {}, "colors": {}}))
    for one in (str(own), own):
        assert FaceAnalyzer(tasks="glasses", models=one, detector=None).tasks == ["glasses"]
    with pytest.raises(ModelError, match=f"^{tmp_path / 'none'}: model not found"):
        FaceAnalyzer(models=str(tmp_path / "none"), detector=None)


def test_a_model_card_from_an_untrusted_folder_is_checked_when_it_loads():
    """A card's bad values failed after the photo's work, in a traceback: a colour "red" or NaN when the face was
    drawn, a crop margin NaN at the first face (1e6: out of memory), an input size 1e400 (inf) as OverflowError;
    labels "ab" were two labels, and a label named twice lost a class from the probabilities."""
    from facekit.errors import ModelError
    from facekit.heads import ModelCard

    card = json.loads((ROOT / "models" / "mask" / "card.json").read_text())
    assert ModelCard.from_dict(card).colors["with_mask"] == (0, 255, 0)
    # A colour or text edited by hand is named with its label ("red" was "bad field: invalid literal for int() with
    # base 10: 'r'", a display of 5 refused only as the first face was drawn, as "Style display[...]").
    for change, needle in (({"colors": {"with_mask": "red"}}, r"colors gives 'with_mask' 'red': give \[B, G, R\]"),
                           ({"colors": {"with_mask": "255"}}, "colors gives 'with_mask' '255'"),
                           ({"colors": {"with_mask": [float("nan"), 0, 0]}}, "colors gives 'with_mask' \\[nan"),
                           ({"colors": {"with_mask": [0, 300, 0]}}, "colors gives 'with_mask'"),
                           ({"colors": {"with_mask": [0, 255]}}, "colors gives 'with_mask'"),
                           ({"display": {"with_mask": 5}}, "display gives 'with_mask' 5: give the text to draw, e.g. "
                                                           "'With mask'"),
                           ({"display": "Mask"}, "display must be an object of label: text, got 'Mask'"),
                           ({"crop": {"margin": float("nan")}}, "bad crop margin"),
                           ({"crop": {"margin": 1e6}}, "bad crop margin"),
                           ({"input_size": float("inf")}, "bad field"),
                           ({"labels": "ab"}, "labels must be a list"),
                           ({"labels": ["a", "a"]}, "names a label twice"),
                           ({"labels": ["with_mask"], "display": {}, "colors": {}}, "fewer than 2 labels"),
                           ({"input_size": 4}, "a bad input size"), ({"color": "bgr"}, "an unknown colour mode"),
                           ({"min_face": 0}, "bad min_face"),
                           # written by hand: an AttributeError from inside, and "false" read as true
                           ({"crop": 0.1}, "crop must be an object"),
                           ({"crop": {"margin": 0.1, "square": "false"}}, "crop must be an object")):
        with pytest.raises(ModelError, match=needle):
            ModelCard.from_dict({**card, **change})
    with pytest.raises(ModelError, match="must be a JSON object"):
        ModelCard.from_dict([card])
    import argparse

    from facekit.cli.train import crop_margin  # the trainer writes no card that would then not load

    assert crop_margin("0.1") == 0.1
    for bad in ("nan", "3", "-0.5"):
        with pytest.raises(argparse.ArgumentTypeError):
            crop_margin(bad)


def test_a_hand_written_card_with_a_task_the_records_cannot_hold_is_refused_when_it_loads():
    """The trainer refuses these task names, a card written by hand did not: a task "box" replaced every face's box
    in the JSON with its prediction, "score" the detection score, and "a,b" could not be asked for with --tasks."""
    from facekit.errors import ModelError
    from facekit.heads import ModelCard

    card = {"labels": ["no_glasses", "glasses"], "input_size": 160}
    assert ModelCard.from_dict({**card, "task": "eye.glasses-2"}).task == "eye.glasses-2"
    for task in ("box", "score", "track_id", "emotion_intensity", "", "a,b", "my glasses"):
        with pytest.raises(ModelError, match="bad task name"):
            ModelCard.from_dict({**card, "task": task})
    # A class "label": its probability column glasses_label took the label column's place in the CSV.
    with pytest.raises(ModelError, match="a label named 'label'"):
        ModelCard.from_dict({**card, "task": "glasses", "labels": ["none", "label"]})


def test_a_head_tflite_of_another_input_type_or_two_outputs_is_refused_when_it_loads(tmp_path, monkeypatch):
    """A model of a float16 or uint8 input (a converter's option) loaded, and the first face was a LiteRT traceback
    ("Got value of type FLOAT32 but expected type FLOAT16"); of two outputs the first one was taken as the labels'."""
    import numpy as np

    import facekit.heads as heads
    from facekit.errors import ModelError

    (tmp_path / "card.json").write_text(json.dumps({"task": "glasses", "labels": ["no", "yes"], "input_size": 160}))

    class Interpreter:  # what LiteRT says of the model; nothing runs
        def __init__(self, dtype, outputs):
            self.dtype, self.outputs = dtype, outputs

        def get_input_details(self):
            return [{"index": 0, "shape": np.array([1, 160, 160, 3], np.int32), "dtype": self.dtype}]

        def get_output_details(self):
            return [{"index": i + 1, "shape": np.array([1, 2], np.int32), "dtype": np.float32}
                    for i in range(self.outputs)]

    for dtype, outputs, fine in ((np.float32, 1, True), (np.float16, 1, False), (np.uint8, 1, False),
                                 (np.float32, 2, False)):
        monkeypatch.setattr(heads, "load_interpreter",
                            lambda path, allocate=True, d=dtype, n=outputs: Interpreter(d, n))
        if fine:
            assert heads.Head.load(tmp_path).labels == ["no", "yes"]
            continue
        with pytest.raises(ModelError, match=r"a head takes one float32 input .* this model has 1 input\(s\) \("
                                             f"{np.dtype(dtype).name}\\) and {outputs} output"):
            heads.Head.load(tmp_path)


def test_a_detector_that_is_not_one_is_refused_when_the_analyzer_is_built(media):
    """detector=123 (or "", or a variable holding something else) was taken, and the first photo failed with
    "AttributeError: 'int' object has no attribute 'detect'" from inside the pipeline."""
    from facekit import FaceAnalyzer
    from facekit.errors import ArgumentError, ModelError

    for wrong in (123, [], ""):
        with pytest.raises((ArgumentError, ModelError), match="detector"):
            FaceAnalyzer(tasks="mask", detector=wrong)
    with pytest.raises(ArgumentError, match=r"a name \(scrfd, .*\), \"auto\", None or an object with detect"):
        FaceAnalyzer(tasks="mask", detector=123)

    class Fixed:  # any object with detect(image) -> list[Face] still goes
        def detect(self, image):
            from facekit import Box, Face

            return [Face(box=Box(374, 142, 622, 456), score=0.9)]

    [face] = FaceAnalyzer(tasks="mask", detector=Fixed()).analyze(media / "obama.jpg")
    assert face.label("mask") == "without_mask"


def test_a_detector_named_as_the_scripts_take_it_is_taken_by_the_library_too(media):
    """--detector YuNet or SCRFD (the README's spelling) runs in the scripts; FaceAnalyzer(detector="YuNet") was
    "unknown detector 'YuNet'"."""
    from facekit import FaceAnalyzer
    from facekit.detection import create_detector

    for given, name in (("YuNet", "yunet"), ("SCRFD", "scrfd"), ("scrfd_500m", "scrfd-500m"), (" Auto", "scrfd")):
        with FaceAnalyzer(tasks="mask", detector=given) as analyzer:
            assert analyzer.detector_name == name
            assert type(analyzer.detector) is type(create_detector(name))
            [face] = analyzer.analyze(media / "obama.jpg")
            assert face.label("mask") == "without_mask"


def test_a_callers_detector_boxes_are_whole_pixels_inside_the_image_in_photos_and_video(media):
    """A detector of one's own (FaceAnalyzer(detector=obj)) whose boxes were floats failed in the crop as "TypeError:
    slice indices must be integers", and one past the photo's edge was written to the JSON as it was, unlabelled (its
    slice read as empty: "too dark"); facekit's own detectors clip theirs (README: Boxes)."""
    import numpy as np

    from facekit import Box, Face, FaceAnalyzer

    class Own:
        boxes: list = []

        def detect(self, image):
            return [Face(box=b, score=0.9) for b in self.boxes]

    own = Own()
    analyzer = FaceAnalyzer(tasks="mask", detector=own)
    image = cv2.imread(str(media / "obama.jpg"))
    h, w = image.shape[:2]
    own.boxes = [Box(374.4, 141.6, 621.7, 456.2), Box(-40, -30, 180, h + 500), Box(w + 10, 0, w + 90, 50),
                 Box(np.int64(300), np.int64(100), np.int64(400), np.int64(200))]
    faces = analyzer.analyze(image)
    assert [f.box.as_list() for f in faces] == [[374, 142, 622, 456], [0, 0, 180, h], [300, 100, 400, 200]]
    assert all(type(v) is int for f in faces for v in f.box.as_list()) and all(f.label("mask") for f in faces)
    json.dumps([f.to_dict() for f in faces])  # np.int64 is no JSON number
    frames = list(analyzer.analyze_video([image, image], fps=25))
    assert [f.box.as_list() for f in frames[-1].faces] == [[374, 142, 622, 456], [0, 0, 180, h], [300, 100, 400, 200]]
    own.boxes = []
    assert analyzer.analyze(image) == []

    class Scored:  # in its own order, not by score: analyze() promises them by score (README)
        def detect(self, image):
            return [Face(box=Box(10 + 60 * i, 10, 60 + 60 * i, 60), score=s) for i, s in enumerate((0.6, 0.95, 0.8))]

    assert [f.score for f in FaceAnalyzer(tasks="mask", detector=Scored()).analyze(image)] == [0.95, 0.8, 0.6]

    class Forgetful:  # no return: "'NoneType' object is not iterable" named neither the detector nor what it owes
        def detect(self, image):
            pass

    with pytest.raises(TypeError, match=r"^a detector's detect\(image\) returns a list of facekit.types.Face \(an "
                                        r"empty one for no face\), got None$"):
        FaceAnalyzer(tasks="mask", detector=Forgetful()).analyze(image)


def test_an_empty_path_says_so(analyzer):
    """analyze("") (a notebook variable not filled in yet) said ".: is a folder, not an image", a folder
    nobody gave; analyze_video("") the same of a video."""
    from facekit.errors import ImageError, VideoError

    with pytest.raises(ImageError, match="^empty path"):
        analyzer.analyze("")
    for empty in ("", "  "):
        with pytest.raises(VideoError, match="^empty path"):
            next(analyzer.analyze_video(empty))


def test_uploads_over_the_byte_limit_are_refused_before_being_read_whole(analyzer, media, monkeypatch):
    """An upload had no byte-size limit: analyze(io.BytesIO(body)) read a body of any size into memory before the
    pixel check. A stream is read at most MAX_BYTES + 1 bytes, and over MAX_BYTES (bytes too) is one ImageError."""
    import io

    import numpy as np

    from facekit import preprocess
    from facekit.errors import ImageError

    data = (media / "example_03.png").read_bytes()
    monkeypatch.setattr(preprocess, "MAX_BYTES", len(data))
    reference = [f.box for f in analyzer.analyze(data)]
    assert len(reference) == 3 and [f.box for f in analyzer.analyze(io.BytesIO(data))] == reference

    class Counted(io.BytesIO):
        asked: list = []

        def read(self, size=-1):
            self.asked.append(size)
            return super().read(size)

    body = b"\xff\xd8\xff" + b"\0" * (2 * len(data))
    stream = Counted(body)
    limit = f"over the limit of {len(data):,} bytes"
    with pytest.raises(ImageError, match=f"^Counted: {limit}"):
        analyzer.analyze(stream)
    assert stream.asked == [len(data) + 1] and stream.tell() == len(data) + 1
    for held in (body, bytearray(body), memoryview(body), np.frombuffer(body, np.uint8)):
        with pytest.raises(ImageError, match=f"^image data: {limit}"):
            analyzer.analyze(held)


    class Trickle(io.BytesIO):  # a socket's or an unbuffered file's read(n): fewer than n bytes before the end
        def read(self, size=-1):
            return super().read(min(size, 4096) if size >= 0 else size)

    assert [f.box for f in analyzer.analyze(Trickle(data))] == reference
    with pytest.raises(ImageError, match=f"^Trickle: {limit}"):
        analyzer.analyze(Trickle(body))


def test_a_video_held_as_bytes_is_refused_in_one_line(analyzer, media):
    """analyze_video(open("clip.mp4", "rb").read()) iterated the bytes as frames: "frame 0: expected an image
    path or a numpy array, got int"; an open file (an upload) the same with its "lines"."""
    from facekit.errors import VideoError

    data = (media / CLIP).read_bytes()
    with open(media / CLIP, "rb") as upload:  # an open file iterated as its "lines"
        for held in (data, bytearray(data[:100]), memoryview(data), upload):
            with pytest.raises(VideoError, match=r"a video held in memory \(\w+\) is not read: write it to a file"):
                next(analyzer.analyze_video(held))


def test_a_path_from_the_home_folder_as_a_notebook_types_it(analyzer, media, tmp_path, monkeypatch):
    """A shell reads "~/photo.jpg" for the user; in Python it was "~/photo.jpg: no such file" for a file
    that is there."""
    import shutil

    monkeypatch.setenv("HOME", str(tmp_path))
    shutil.copy(media / "obama.jpg", tmp_path / "photo.jpg")
    shutil.copy(media / CLIP, tmp_path / "clip.mp4")
    assert [f.box for f in analyzer.analyze("~/photo.jpg")] == [f.box for f in analyzer.analyze(media / "obama.jpg")]
    _, _, faces = next(analyzer.analyze_video("~/clip.mp4"))
    assert faces


def test_analyze_help_says_what_it_takes_and_that_rgb_arrays_are_flipped():
    """help(analyzer.analyze) in a notebook named paths and arrays only: not the bytes and PIL images it takes,
    nor that an RGB array (plt.imread, np.asarray of a PIL image) is read as BGR, masks put on bare faces."""
    from facekit import FaceAnalyzer

    doc = " ".join(FaceAnalyzer.analyze.__doc__.split())
    for needle in ("bytes", "PIL image", "rgb[..., ::-1]", "plt.imread", "ImageError"):
        assert needle in doc, needle


def test_rgba_recipe_in_help_and_readme_keeps_bare_faces_bare(media):
    """README and help(analyze) told a notebook user to pass `rgb[..., ::-1]` for plt.imread's array; a PNG with
    alpha gives RGBA there, which that turned into ABGR: both bare faces of two_people.jpg came out with_mask.
    The recipe they give for RGBA now labels them as the photo's path does."""
    from PIL import Image

    from facekit import FaceAnalyzer

    readme = " ".join((ROOT / "README.md").read_text().split())
    doc = " ".join(FaceAnalyzer.analyze.__doc__.split())
    recipe = "rgba[..., [2, 1, 0, 3]]"
    assert recipe in readme and recipe in doc
    rgba = np.asarray(Image.open(media / "two_people.jpg").convert("RGBA"))
    mask = FaceAnalyzer(tasks="mask")
    expected = [(f.box, f.label("mask")) for f in mask.analyze(media / "two_people.jpg")]
    assert [f.label("mask") for f in mask.analyze(rgba[..., ::-1])] == ["with_mask"] * 2  # the old recipe's ABGR
    assert [(f.box, f.label("mask")) for f in mask.analyze(rgba[..., [2, 1, 0, 3]])] == expected
    assert {label for _, label in expected} == {"without_mask"}


def test_analyze_video_of_a_camera_index_says_the_camera():
    """analyze_video(0) in a notebook (README: a camera index) was a TypeError from pathlib ("expected str, bytes or
    os.PathLike object, not int"), the photo-size check taking the index for a path; a camera not there is the
    VideoError naming it, as the video script says."""
    from facekit import FaceAnalyzer, VideoError

    index = next(i for i in range(9, 64) if not os.path.exists(f"/dev/video{i}"))
    with pytest.raises(VideoError, match=f"camera {index} cannot be opened"):
        next(FaceAnalyzer(tasks="mask").analyze_video(index))


def test_facekit_analyze_names_its_own_options_for_a_misspelt_one(media):
    """facekit.analyze(photo, task="mask") was "FaceAnalyzer.__init__() got an unexpected keyword argument 'task'",
    a call the user never wrote, and help(facekit.analyze) said nothing of what **options takes."""
    import facekit

    with pytest.raises(TypeError, match=r"^facekit.analyze\(\) got .* 'task'; it takes FaceAnalyzer's options: tasks,"):
        facekit.analyze(media / "example_01.png", task="mask")
    with pytest.raises(TypeError, match=r"faces= is FaceAnalyzer\(...\).analyze\(image, faces=...\)'s"):
        facekit.analyze(media / "example_01.png", faces=[(0, 0, 10, 10)])
    assert "tasks=, detector=" in facekit.analyze.__doc__
    assert [f.label("mask") for f in facekit.analyze(media / "example_01.png", tasks="mask")] == ["with_mask"]


def test_readme_signatures_give_the_code_defaults():
    """README gave `face.crop(image, margin=0.2, square=True)` where it gives FaceAnalyzer's and analyze_video's
    signatures with their defaults, so face.crop(photo) looked like a square crop with a margin: it is the box."""
    import inspect

    from facekit import Face, FaceAnalyzer

    readme = " ".join((ROOT / "README.md").read_text().split())
    for name, fn in (("FaceAnalyzer", FaceAnalyzer.__init__), ("analyze_video", FaceAnalyzer.analyze_video),
                     ("face.crop", Face.crop)):
        params = [p for p in inspect.signature(fn).parameters.values() if p.name != "self"]
        shown = ", ".join(p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}"
                          for p in params).replace("'", '"')
        assert f"`{name}({shown})`" in readme, shown


def test_analyze_video_help_says_held_rgb_frames_are_flipped(media):
    """help(analyze_video) and README's paragraph on held frames never said they are read as BGR: RGB frames from
    imageio or PyAV, given as they came, made example_03's two bare faces with_mask. The recipe they give now
    labels them as the photo's path does."""
    from facekit import FaceAnalyzer

    readme = " ".join((ROOT / "README.md").read_text().split())
    doc = " ".join(FaceAnalyzer.analyze_video.__doc__.split())
    assert "frame[..., ::-1]" in doc and "rgb24" in doc and "frame[..., ::-1]" in readme and "rgb24" in readme
    mask = FaceAnalyzer(tasks="mask", detector="scrfd")
    photo = media / "example_03.png"
    expected = sorted(f.label("mask") for f in mask.analyze(photo))
    rgb = cv2.imread(str(photo))[..., ::-1]
    _, _, as_came = next(mask.analyze_video([rgb]))
    assert sorted(f.label("mask") for f in as_came).count("with_mask") > expected.count("with_mask")
    _, _, flipped = next(mask.analyze_video([rgb[..., ::-1]]))
    assert sorted(f.label("mask") for f in flipped) == expected


def test_a_folder_of_heads_as_models_names_the_argument_to_give():
    """FaceAnalyzer(models="models"), the folder every head ships in, said "give -m models/emotion (one -m per
    head)": the scripts' option, which a notebook has no use for. The line names models=[...] too, and that works."""
    from facekit import FaceAnalyzer, ModelError

    folder = ROOT / "models"
    with pytest.raises(ModelError, match=re.escape(f"in Python models=[{str(folder / 'emotion')!r}, ...]")):
        FaceAnalyzer(models=str(folder))
    assert FaceAnalyzer(tasks="mask", models=[str(folder / "mask")]).tasks == ["mask"]


def test_help_and_readme_name_the_error_for_missing_detector_weights():
    """Offline, without the asset mirror, FaceAnalyzer() raised AssetError (SCRFD's weights not downloadable),
    while its help said ModelError for a missing model and README's list of errors to catch left AssetError out."""
    from facekit import AssetError, FacekitError, FaceAnalyzer

    assert issubclass(AssetError, FacekitError)
    doc = " ".join(FaceAnalyzer.__doc__.split())
    readme = " ".join((ROOT / "README.md").read_text().split("## Python API and batch jobs")[1].split())
    assert "AssetError" in doc and "`FaceAnalyzer()` raises `AssetError`" in readme


def test_readme_json_example_is_what_example_03_gives(media):
    """README's JSON record of example_03 is what a user compares their own output with: its third face's score
    read 0.67 where the JSON writes 0.668422, as if that face's score were rounded another way."""
    from facekit import FaceAnalyzer

    readme = (ROOT / "README.md").read_text()
    start = readme.index("```json", readme.index("The JSON record (one per image"))
    block = readme[start:readme.index("```\n", start + 7)]
    records = {tuple(f["box"]): f for f in
               (face.to_dict() for face in FaceAnalyzer(landmarks=True).analyze(media / "example_03.png"))}
    shown = re.findall(r'"box": \[(\d+), (\d+), (\d+), (\d+)\], "score": ([0-9.]+)', block)
    assert len(shown) == len(records) == 3
    for *box, score in shown:
        record = records[tuple(map(int, box))]
        assert float(score) == pytest.approx(record["score"], abs=5e-4), (box, record["score"])
    woman = records[(263, 116, 399, 266)]
    for name in ("emotion_intensity", "yaw", "eye_openness"):
        value = float(re.search(rf'"{name}": (-?[0-9.]+)', block).group(1))
        actual = woman.get(name, woman["pose"].get(name, woman["measures"].get(name)))
        assert value == pytest.approx(actual, abs=5e-4), name


def test_readme_mask_percentages_on_example_03_are_a_runs(media):
    """README said the smoker of example_03 reads no mask at 97.5% where the photo script prints 97.7% (an earlier
    head's number, left when the record above it was updated)."""
    from facekit import FaceAnalyzer

    readme = " ".join((ROOT / "README.md").read_text().split())
    quoted = re.search(r"`example_03` the woman in front masked \(([0-9.]+)%\), the man behind her and the smoker "
                       r"without \(([0-9.]+)%, ([0-9.]+)%;", readme)
    assert quoted, "README's sentence on example_03's mask labels"
    faces = {tuple(f["box"]): f["mask"] for f in
             (face.to_dict() for face in FaceAnalyzer(tasks="mask").analyze(media / "example_03.png"))}
    woman, man, smoker = faces[(263, 116, 399, 266)], faces[(172, 95, 263, 197)], faces[(530, 30, 598, 108)]
    assert woman["label"] == "with_mask" and man["label"] == smoker["label"] == "without_mask"
    shown = [f"{round(100 * face['score'], 1):g}" for face in (woman, man, smoker)]
    # The woman's 0.999999 is printed "99.9%", not "100%": a certainty the head did not give.
    assert list(quoted.groups()) == ["99.9", *shown[1:]] and woman["score"] < 1, shown


def test_readme_gives_the_analyzers_real_signature():
    """README wrote `FaceAnalyzer(..., detector=..., ...)` and never said which detector analyze_video runs, so a
    user joining analyze_video's rows with the video script's CSV could not tell that detector="scrfd" (the photo
    script's, as facekit-batch runs videos) gives other faces than the default "auto"."""
    import inspect

    from facekit import FaceAnalyzer

    readme = " ".join((ROOT / "README.md").read_text().split())
    for name, function in (("FaceAnalyzer", FaceAnalyzer.__init__), ("analyze_video", FaceAnalyzer.analyze_video)):
        params = [p for p in inspect.signature(function).parameters.values() if p.name != "self"]
        text = ", ".join(p.name if p.default is p.empty else f"{p.name}={p.default!r}".replace("'", '"')
                         for p in params)
        assert f"`{name}({text})`" in readme, text
    assert '`detector="auto"`: SCRFD-2.5GF for `analyze()` and SCRFD-0.5GF for `analyze_video()`' in readme
    from facekit.detection import DEFAULT_DETECTOR, VIDEO_DETECTOR

    auto = FaceAnalyzer(tasks="mask")
    assert (auto.detector_name, auto.video_detector_name) == (DEFAULT_DETECTOR, VIDEO_DETECTOR)
    assert (DEFAULT_DETECTOR, VIDEO_DETECTOR) == ("scrfd", "scrfd-500m")
    named = FaceAnalyzer(tasks="mask", detector="scrfd")
    assert named.video_detector_name == "scrfd"


def test_a_16_bit_array_of_8_bit_values_is_read_as_8_bit(analyzer, media):
    """`photo.astype(np.uint16)` (a sum or a difference kept from overflowing) holds 0-255 in a 16-bit array.
    Its top 8 bits were taken, as for a 16-bit photo's 0-65535: an all-black picture, no face, no word, where
    the same values as int32, int64 or float found both faces."""
    import numpy as np

    photo = cv2.imread(str(media / "two_people.jpg"))
    boxes = [f.box for f in analyzer.analyze(photo)]
    assert len(boxes) == 2
    for same in (photo.astype(np.uint16), cv2.cvtColor(photo, cv2.COLOR_BGR2BGRA).astype(np.uint16)):
        assert [f.box for f in analyzer.analyze(same)] == boxes
    assert [f.box for f in analyzer.analyze(photo.astype(np.uint16) * 257)] == boxes  # a 16-bit photo, as before


def test_integer_arrays_are_read_by_their_values_whatever_their_dtype(analyzer, media):
    """A 16-bit photo held as uint32, int32 or int64 (`deep.astype(np.int32)`, a sum kept from overflowing) was
    clipped to 0-255, a white picture with no face and no word, where the same values as uint16 found both."""
    import numpy as np

    from facekit.errors import ImageError
    from facekit.preprocess import as_image

    photo = cv2.imread(str(media / "two_people.jpg"))
    deep = photo.astype(np.uint16) * 257
    boxes = [f.box for f in analyzer.analyze(deep)]
    assert len(boxes) == 2
    # analyze() reads an array through as_image alone, so the same pixels out of it are the same faces: each
    # dtype is checked there, and two of them end to end (a full analysis each was 8 of this test's 10).
    for dtype in (np.uint32, np.int32, np.int64, np.uint64):
        assert np.array_equal(as_image(photo.astype(dtype) * 257), as_image(deep)), dtype
        assert np.array_equal(as_image(photo.astype(dtype)), photo), dtype
    assert [f.box for f in analyzer.analyze(photo.astype(np.int64) * 257)] == boxes
    assert [f.box for f in analyzer.analyze(photo.astype(np.uint32))] == boxes
    with pytest.raises(ImageError, match=r"0-65535 \(16-bit\) values, got uint32 values up to 4,294,967,295"):
        analyzer.analyze(photo.astype(np.uint32) * 16843009)


def test_a_float_pil_image_reads_as_its_array_does(analyzer, media):
    """A PIL image of mode "F" (Image.fromarray of a 0-1 float array, as scientific code makes them): its
    convert("RGB") cast 0-1 to 0 and 1, a black picture with no face, where the array itself, read as 0-1 as
    README says, found both."""
    import numpy as np
    from PIL import Image

    gray = cv2.cvtColor(cv2.imread(str(media / "two_people.jpg")), cv2.COLOR_BGR2GRAY)
    boxes = [f.box for f in analyzer.analyze(gray)]
    assert len(boxes) == 2
    for values in (gray.astype(np.float32) / 255, gray.astype(np.float32)):
        assert [f.box for f in analyzer.analyze(values)] == boxes
        assert [f.box for f in analyzer.analyze(Image.fromarray(values))] == boxes


def test_an_encoded_photo_held_in_a_uint8_array_is_read_as_its_bytes_are(analyzer, media):
    """np.fromfile(path, np.uint8) or np.frombuffer(upload, np.uint8), the array cv2.imdecode takes, was "expected
    an image array of shape (H, W) or (H, W, C) ...; got (230196,)", where the same bytes as `bytes` are read."""
    import numpy as np

    from facekit.errors import ImageError

    path = media / "two_people.jpg"
    boxes = [f.box for f in analyzer.analyze(path.read_bytes())]
    assert len(boxes) == 2
    assert [f.box for f in analyzer.analyze(np.fromfile(path, np.uint8))] == boxes
    assert [f.box for f in analyzer.analyze(np.frombuffer(path.read_bytes(), np.uint8))] == boxes
    with pytest.raises(ImageError, match=r"shape \(H, W\)"):  # a row of pixels is no encoded photo
        analyzer.analyze(cv2.imread(str(path))[0, :, 0].copy())


def test_a_path_given_as_bytes_is_read_as_a_path(analyzer, media, tmp_path):
    """os.fsencode(path), os.listdir(b"."), a list of names read in binary mode: a path as bytes was taken for an
    encoded photo, "image data: not a readable image (corrupt or unsupported format)"."""
    import os

    from facekit.errors import ImageError

    photo = media / "two_people.jpg"
    boxes = [f.box for f in analyzer.analyze(photo)]
    assert len(boxes) == 2
    assert [f.box for f in analyzer.analyze(os.fsencode(photo))] == boxes
    with pytest.raises(ImageError, match=re.escape(f"{tmp_path / 'gone.jpg'}: no such file")):
        analyzer.analyze(os.fsencode(tmp_path / "gone.jpg"))


def test_a_big_endian_16_bit_array_reads_as_its_native_twin(analyzer, media):
    """A 16-bit array in big-endian order (astropy's FITS data, np.frombuffer(raw, ">u2") of a PNG's or a
    Motorola TIFF's samples): its dtype, ">u2", is not np.uint16, so it was clipped to 0-255 as other integers
    are, a white picture with no face."""
    import numpy as np

    deep = cv2.imread(str(media / "two_people.jpg")).astype(np.uint16) * 257
    boxes = [f.box for f in analyzer.analyze(deep)]
    assert len(boxes) == 2
    assert [f.box for f in analyzer.analyze(deep.astype(">u2"))] == boxes
    assert [f.box for f in analyzer.analyze(cv2.cvtColor(deep, cv2.COLOR_BGR2GRAY).astype(">u2"))] == \
        [f.box for f in analyzer.analyze(cv2.cvtColor(deep, cv2.COLOR_BGR2GRAY))]


def test_a_users_class_names_are_drawn_as_written():
    """A trained head's labels are the user's folder names: "Sun Glasses" was drawn "Sun glasses" (the rest of
    the name lowered) and "Lunettes é" as "Lunettes ??" (OpenCV's font draws each UTF-8 byte as "?"), then as
    "Lunettes e": its letters are now drawn from a font that has them (tests/test_drawing.py)."""
    import numpy as np

    from facekit.drawing import Style, annotate
    from facekit.types import Box, Face, Prediction

    style = Style(display={"shades": {"no_glasses": "Bare Eyes"}})
    assert style.text("shades", "Sun Glasses") == "Sun Glasses"
    assert style.text("shades", "with_mask") == "With mask"
    assert style.text("shades", "no_glasses") == "Bare Eyes"
    assert style.text("shades", "Lunettes é") == "Lunettes é"
    assert style.text("shades", "Lunettes e\u0301") == "Lunettes é"  # macOS names its folders decomposed
    assert style.text("shades", "眼镜") == "眼镜"

    def drawn(label):
        pred = Prediction(label, 0.5, {label: 0.5, "other": 0.5})
        return annotate(np.full((240, 320, 3), 90, np.uint8), [Face(Box(100, 40, 200, 140), 0.9, {"shades": pred})],
                        Style())

    assert not np.array_equal(drawn("Lunettes é"), drawn("Lunettes e"))
    assert not np.array_equal(drawn("Lunettes é"), drawn("Lunettes ?"))


def _own_head(folder, task, labels):
    """A head of the user's own: the shipped gender network (2 outputs) under another card."""
    import shutil

    shutil.copytree(ROOT / "models" / "gender", folder, ignore=shutil.ignore_patterns("*.keras"))
    card = json.loads((folder / "card.json").read_text())
    (folder / "card.json").write_text(json.dumps({**card, "task": task, "labels": labels, "display": {},
                                                  "colors": {}}))
    return folder


def test_a_class_named_like_a_summary_column_is_refused_when_it_loads(tmp_path, media):
    """A mask head with a class 'prob' was accepted: its per-frame CSV column mask_prob (that class's probability)
    and --summary's mask_prob (the majority label's mean) then meant two things. Refused, naming the folder."""
    from facekit import FaceAnalyzer
    from facekit.errors import ModelError
    from facekit.heads import SUMMARY_COLUMNS
    from facekit.people import PeopleSummary

    own = _own_head(tmp_path / "mask_prob", "mask", ["with_mask", "prob"])
    with pytest.raises(ModelError, match=f"^{own}: the mask head's class 'prob' is the column 'mask_prob' .* "
                                         "already the mask head's mean probability in --summary"):
        FaceAnalyzer(tasks="mask", models=[own], detector=None)
    first = _own_head(tmp_path / "first", "first", ["frame", "other"])
    with pytest.raises(ModelError, match="is the column 'first_frame' .* already facekit's own"):
        FaceAnalyzer(tasks="first", models=[first], detector=None)
    # Every column the summary writes beside the heads' is in the list the check reads.
    summary = PeopleSummary({"mask": ["with_mask", "without_mask"]}, clock=True)
    assert set(summary.columns()) - {"mask_label", "mask_prob"} == SUMMARY_COLUMNS
    _video_run_refuses(media, own, "--summary", tmp_path / "people.csv", f"[ERROR] {own}: the mask head's class 'prob'")


def test_heads_whose_csv_columns_collide_are_refused_when_they_load(tmp_path, media):
    """A head's <task>_<class> column that is another head's or facekit's own was written over without a word: a task
    'mask_with' with a class 'mask' replaced the mask head's with_mask probability in the video CSV, an emotion head
    with a class 'intensity' left that class's column empty (the derived intensity took it), a task 'time' with a
    class 's' overwrote time_s. Refused where the heads load, naming the user's folder, and no CSV is written."""
    from facekit import FaceAnalyzer
    from facekit.errors import ModelError
    from facekit.heads import RECORD_COLUMNS

    mask_with = _own_head(tmp_path / "mask_with", "mask_with", ["mask", "nothing"])
    for tasks in ("mask,mask_with", "mask_with,mask"):  # whichever comes first, the user's head is named
        with pytest.raises(ModelError, match=f"^{mask_with}: the mask_with head's class 'mask' is the column "
                                             "'mask_with_mask' .* already the mask head's class 'with_mask'"):
            FaceAnalyzer(tasks=tasks, models=[mask_with], detector=None)
    assert FaceAnalyzer(tasks="mask_with,gender", models=[mask_with], detector=None).tasks == ["mask_with", "gender"]
    for task, labels, column in (("emotion", ["intensity", "calm"], "emotion_intensity"),
                                 ("emotion", ["eyes_only", "whole"], "emotion_eyes_only"),
                                 ("time", ["s", "ms"], "time_s"), ("track", ["id", "none"], "track_id"),
                                 ("eye", ["openness", "shut"], "eye_openness")):
        own = _own_head(tmp_path / f"{task}-{labels[0]}", task, labels)
        with pytest.raises(ModelError, match=f"is the column '{column}' .* already facekit's own"):
            FaceAnalyzer(tasks=task, models=[own], detector=None)
    # Every column the records write beside the heads' is in the list the check reads.
    analyzer = FaceAnalyzer(tasks="mask,emotion", detector=None, landmarks=True)
    from facekit.records import csv_columns

    own_columns = set(csv_columns(analyzer.task_labels, pose=True, measures=("eye_openness", "mouth_openness"),
                                  clock=True)) - {c for t, ls in analyzer.task_labels.items()
                                                  for c in [f"{t}_label", *(f"{t}_{x}" for x in ls)]}
    assert own_columns | {"source", "kind"} == RECORD_COLUMNS
    _video_run_refuses(media, mask_with, "--csv", tmp_path / "faces.csv",
                       f"[ERROR] {mask_with}: the mask_with head's class 'mask'")


def _video_run_refuses(media, model, flag, out, error):
    """The video script given `model` ends on one line starting `error`, exit 2, before writing `flag`'s file."""
    res = run_script("detect_mask_video.py", "-s", media / "short_hamilton_clip.mp4", "--no-display", "--max-frames",
                     "2", "--model", model, flag, out)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith(error)
    assert not out.exists()


def test_the_api_says_its_defaults_are_non_commercial_and_how_to_avoid_them(media):
    """README's API section gave FaceAnalyzer's defaults (detector="auto": SCRFD; every head, gender among them)
    with no word that those weights are for non-commercial research only: an app built on the library used them
    unsaid. README now says so and names the code that gives the terms; both say what the models' files say."""
    from facekit import FaceAnalyzer
    from facekit.analyzer import FaceAnalyzer as documented
    from facekit.detection import LICENCES
    from facekit.heads import weights_terms

    api = (ROOT / "README.md").read_text().split("## Python API and batch jobs")[1].split("\n## ")[0]
    paragraph = " ".join(next(p for p in api.split("\n\n") if 'detector="auto"' in p).split())
    assert "non-commercial research only" in paragraph and "gender head" in paragraph
    assert all(name in paragraph for name in ("facekit.detection.LICENCES", "facekit.heads.weights_terms()",
                                              'detector="yunet"', 'tasks="mask,emotion"', "commercial_use=True"))
    assert "non-commercial" in (documented.__doc__ or "")
    # help(facekit) and help(facekit.analyze), the one-liner's, are where a library user looks first: they showed
    # FaceAnalyzer() and analyze("photo.jpg") with the defaults and no word of their terms
    import facekit

    for doc in (facekit.__doc__, facekit.analyze.__doc__):
        assert "non-commercial research only" in " ".join(doc.split()) and 'detector="yunet"' in doc, doc
        assert "commercial_use=True" in doc and "research and education" in " ".join(doc.split()), doc
    assert all("non-commercial" in LICENCES[d] for d in ("scrfd", "scrfd-500m")) and LICENCES["yunet"] == "MIT"
    assert "non-commercial" in weights_terms()["gender"]
    assert not any("non-commercial" in weights_terms()[t] for t in ("mask", "emotion"))
    # what README offers instead runs: the three faces of example_03, no gender read
    faces = FaceAnalyzer(detector="yunet", tasks="mask,emotion").analyze(str(media / "example_03.png"))
    assert len(faces) == 3 and all(set(f.predictions) == {"mask", "emotion"} for f in faces)


def test_facekit_models_reads_a_tilde_as_the_other_folder_settings_do(monkeypatch, tmp_path):
    """FACEKIT_MODELS=~/models where no shell expands it (a systemd unit's Environment=, a quoted value): "no such
    folder" for a folder that is there, and facekit-train wrote its model under ./~/models. FACEKIT_ASSETS and
    FACEKIT_CACHE already read "~" as a shell does."""
    import shutil

    from facekit.heads import available_tasks, load_heads, models_dir

    shutil.copytree(ROOT / "models" / "mask", tmp_path / "models" / "mask",
                    ignore=shutil.ignore_patterns("model.keras"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("FACEKIT_MODELS", "~/models")
    assert models_dir() == tmp_path / "models"
    assert list(available_tasks()) == ["mask"]
    assert list(load_heads()) == ["mask"]


def test_a_head_of_the_models_folder_whose_card_does_not_load_is_named_not_left_out(monkeypatch, tmp_path):
    """A card cut short (a copy of models/ onto a full SD card) or mistyped by hand: that head was left out of every
    run without a word, the others' results looking complete, and --tasks of it said "no trained model" though its
    folder was there. README: a card that does not fit is one error line when the head loads."""
    import shutil

    from facekit.errors import ModelError
    from facekit.heads import load_heads

    for task in ("mask", "gender"):
        shutil.copytree(ROOT / "models" / task, tmp_path / task, ignore=shutil.ignore_patterns("model.keras"))
    (tmp_path / "gender" / "card.json").write_text("{}")
    monkeypatch.setenv("FACEKIT_MODELS", str(tmp_path))
    for tasks in (None, ["gender"]):
        with pytest.raises(ModelError) as err:
            load_heads(tasks)
        assert str(err.value) == (f"{tmp_path / 'gender' / 'card.json'}: model card is missing or has a bad field: "
                                  f"'labels' (a head of the models folder {tmp_path}: mend its card.json, or move "
                                  "its folder out)")
    assert list(load_heads(["mask"])) == ["mask"]  # the heads asked for are there: the run goes on


def test_a_head_of_the_models_folder_without_its_model_file_is_named_not_left_out(monkeypatch, tmp_path):
    """card.json copied but model.tflite not (a copy cut short, the file moved away): the photo script ran on
    the other heads without a word, and --tasks of it said "no trained model" though its folder was there."""
    import shutil

    from facekit.errors import ModelError
    from facekit.heads import load_heads

    for task in ("mask", "gender"):
        shutil.copytree(ROOT / "models" / task, tmp_path / task, ignore=shutil.ignore_patterns("model.keras"))
    (tmp_path / "gender" / "model.tflite").unlink()
    monkeypatch.setenv("FACEKIT_MODELS", str(tmp_path))
    for tasks in (None, ["gender"]):
        with pytest.raises(ModelError) as err:
            load_heads(tasks)
        assert str(err.value) == (f"{tmp_path / 'gender'}: card.json is there but not model.tflite (a head of the "
                                  f"models folder {tmp_path}: copy its model.tflite in, or move its folder out)")
    assert list(load_heads(["mask"])) == ["mask"]  # the heads asked for are there: the run goes on


def test_two_heads_of_one_task_in_the_models_folder_are_named_not_one_picked(monkeypatch, tmp_path):
    """models/mask beside a user's models/mask_v2 (or FACEKIT_MODELS=runs over three runs of one head): the folder
    sorted last ran in the other's place without a word, where two --model folders of a task are one error line."""
    import shutil

    from facekit.errors import ModelError
    from facekit.heads import load_heads

    for name, task in (("mask", "mask"), ("mask_v2", "mask"), ("gender", "gender")):
        shutil.copytree(ROOT / "models" / task, tmp_path / name, ignore=shutil.ignore_patterns("model.keras"))
    monkeypatch.setenv("FACEKIT_MODELS", str(tmp_path))
    for tasks in (None, ["mask"]):
        with pytest.raises(ModelError) as err:
            load_heads(tasks)
        assert str(err.value) == (f"two models for the task 'mask' in the models folder {tmp_path}: mask and mask_v2; "
                                  "give one with --model (the library: models=[folder]), or move the other out")
    assert list(load_heads(["gender"])) == ["gender"]  # the other heads are not in doubt
    heads = load_heads(None, [str(tmp_path / "mask_v2")])  # one given: that one runs
    assert list(heads) == ["mask", "gender"] and heads["mask"].folder == tmp_path / "mask_v2"


def test_readme_upgrade_notes_name_what_an_older_setup_now_meets(monkeypatch, tmp_path):
    """Upgrading said model folders 'load and run as they are' and a photo analysed again changes on 'a few
    faces' by the new defaults, and nothing of a models folder with two heads of one task (it ran the one sorted
    last, now an error line) nor of tilted faces levelled before the heads (their labels change)."""
    import shutil

    from facekit.errors import ModelError
    from facekit.heads import load_heads
    from facekit.preprocess import LEVEL_MIN_ROLL

    readme = " ".join((ROOT / "README.md").read_text().split())
    upgrading = readme[readme.index("## Upgrading from an earlier facekit"):readme.index("## Layout")]
    quoted = re.search(r'are "(two models for the task [^"]+)"', upgrading)
    assert quoted, "Upgrading: the two-heads error line"
    models = tmp_path / "models"
    for name in ("mask", "mask_v2"):
        shutil.copytree(ROOT / "models" / "mask", models / name)
    monkeypatch.setenv("FACEKIT_MODELS", str(models))
    with pytest.raises(ModelError) as err:
        load_heads(["mask"])
    assert str(err.value).startswith(quoted.group(1).replace("models folder models:", f"models folder {models}:"))
    assert f"A face tilted past {LEVEL_MIN_ROLL:g} degrees is now levelled before the heads" in upgrading


def test_crop_takes_a_numpy_margin():
    """face.crop(image, margin=np.float32(0.2)) was refused: "margin must be a number from 0 (the box itself) to
    under 10, e.g. 0.2; got np.float32(0.2)". A NumPy number crops as the same Python number does."""
    from facekit.errors import ArgumentError
    from facekit.types import Box, Face

    face, image = Face(Box(10, 10, 50, 60), 0.9), np.arange(100 * 100 * 3, dtype=np.uint8).reshape(100, 100, 3)
    assert np.array_equal(face.crop(image, margin=np.float32(0.25)), face.crop(image, margin=0.25))
    assert np.array_equal(face.crop(image, margin=np.int64(0)), face.crop(image))
    with pytest.raises(ArgumentError, match="margin must be a number"):
        face.crop(image, margin=np.float64("nan"))


def test_crop_refuses_a_square_that_is_not_a_bool():
    """face.crop(image, square="false"), a query string's value passed on, gave a square crop without a word
    (bool("false") is True). It is an ArgumentError; True, False and NumPy's bools crop as before."""
    from facekit.errors import ArgumentError
    from facekit.types import Box, Face

    face, image = Face(Box(10, 10, 50, 60), 0.9), np.zeros((100, 100, 3), np.uint8)
    for bad in ("false", "no", None, 1):
        with pytest.raises(ArgumentError, match=r"square must be True or False; got"):
            face.crop(image, square=bad)  # type: ignore[arg-type]
    assert face.crop(image, square=True).shape == (50, 50, 3)
    assert face.crop(image, square=np.bool_(False)).shape == (50, 40, 3)


def test_detect_refuses_a_closeup_that_is_not_a_bool(analyzer):
    """analyzer.detect(image, closeup="false") ran the close-up pass without a word (any truthy value did)."""
    from facekit.errors import ArgumentError

    image = np.zeros((64, 64, 3), np.uint8)
    for bad in ("false", None, 0):
        with pytest.raises(ArgumentError, match=r"closeup must be True or False; got"):
            analyzer.detect(image, closeup=bad)  # type: ignore[arg-type]
    assert analyzer.detect(image, closeup=np.bool_(False)) == analyzer.detect(image) == []


def test_a_video_path_given_as_bytes_is_read_as_the_path(analyzer, media):
    """analyze_video(os.fsencode(path)), a path as os.listdir(b".") gives it and as analyze() takes one, was "a
    video held in memory (bytes) is not read"."""
    from facekit.errors import VideoError

    def first(source):
        _, _, faces = next(analyzer.analyze_video(source, max_frames=1))
        return [f.box for f in faces]

    expected = first(str(media / CLIP))
    assert expected and first(os.fsencode(media / CLIP)) == expected
    with pytest.raises(VideoError, match="no such file"):
        first(os.fsencode(media / "no_such_clip.mp4"))


def test_a_video_given_as_a_folders_entry_is_read_as_its_path(analyzer, media, tmp_path):
    """analyze_video(entry) for an os.scandir() entry, a path object as analyze() takes one, was "<DirEntry
    'clip.mp4'>: no such file": the video was opened by str() of the object, not its path (os.fspath)."""
    import shutil

    from facekit.video import SourceSpec

    shutil.copy(media / CLIP, tmp_path / CLIP)

    def first(source):
        _, _, faces = next(analyzer.analyze_video(source, max_frames=1))
        return [f.box for f in faces]

    expected = first(str(tmp_path / CLIP))
    for folder in (str(tmp_path), os.fsencode(tmp_path)):
        with os.scandir(folder) as entries:
            (entry,) = entries
            assert first(entry) == expected and expected
            # The video module's own reader, as a caller makes one, reads the path too.
            assert SourceSpec.parse(entry) == SourceSpec.parse(str(tmp_path / CLIP))


def test_analyze_video_refuses_a_bool_source(analyzer):
    """analyze_video(True) (a flag passed where the source goes) was looked for as a file: "True: no such file"."""
    from facekit.errors import VideoError

    with pytest.raises(VideoError, match=r"expected a video file, camera index, stream URL or frames, got True"):
        next(analyzer.analyze_video(True))  # type: ignore[arg-type]


def test_a_video_given_to_analyze_says_it_is_a_video(analyzer, media, tmp_path):
    """analyze("clip.mp4"), or a video uploaded to a web service's photo endpoint, was "not a readable image (corrupt
    or unsupported format)": a sound video, read as a broken photo, though the image script names it a video. The
    ImageError says it is one, by its first bytes (an upload has no name), and which call reads it."""
    import io

    from facekit.errors import ImageError

    data = (media / CLIP).read_bytes()
    renamed = tmp_path / "photo.jpg"
    renamed.write_bytes(data)
    for held in (media / CLIP, str(renamed), data, io.BytesIO(data)):
        with pytest.raises(ImageError, match=r"a video \(MP4 / QuickTime\), not a photo: FaceAnalyzer.analyze_video"):
            analyzer.analyze(held)
    with pytest.raises(ImageError, match=r"not a readable image \(corrupt or unsupported format\)$"):
        analyzer.analyze(b"\0\0\0\x18ftypavif" + data[12:200])  # an AVIF brand: a photo's, not a video


def test_progress_over_held_frames_without_fps_counts_to_the_list_length(analyzer, media, capsys):
    """analyze_video([frame] * 4, progress=True) with no fps= (frames timed as they come, as a camera's) drew
    "frames: 4frame" with no total, though README says the bar runs to a list's length; fps=25 drew "4/4". A
    generator's frames still have no total."""
    photo = cv2.imread(str(media / "example_03.png"))
    assert len(list(analyzer.analyze_video([photo] * 4, progress=True))) == 4
    assert "frames: 100%" in (err := capsys.readouterr().err) and "4/4" in err, err
    assert len(list(analyzer.analyze_video((photo for _ in range(3)), progress=True))) == 3
    assert "3frame" in capsys.readouterr().err


def test_readme_on_how_a_records_probabilities_sum(analyzer, media):
    """README said each head's probabilities 'sum to 1 (to the 6 decimals written)', and a user's
    round(sum(...), 6) == 1 failed on 6 of 12_angry_men.jpg's 10 emotion records (0.999999, 1.000001): each
    probability is rounded on its own. README now says so; this checks the sums stay within that rounding."""
    text = " ".join((ROOT / "README.md").read_text().split())
    assert "sum to 1 within their rounding: each is rounded to 6 decimals on its own, so an emotion's 7 can sum to " \
           "0.999999 or 1.000001" in text
    sums = []
    for face in analyzer.analyze(media / "12_angry_men.jpg"):
        record = face.to_dict()
        for task in ("mask", "emotion", "gender"):
            probabilities = record[task]["probabilities"]
            sums.append(round(sum(probabilities.values()), 9))
            assert abs(sums[-1] - 1) <= 0.5e-6 * len(probabilities), (task, probabilities)
    assert set(sums) - {1.0}, "every sum read 1.000000: README's 0.999999 / 1.000001 no longer happen here"


def test_a_model_given_for_a_task_the_tasks_leave_out_is_named_not_dropped(tmp_path, media):
    """`-m runs/smile --tasks mask,emotion` (a head trained, its task forgotten in --tasks): the head given by its
    folder was loaded and never run, the photo's record without it and no word said. One line now, exit 2."""
    from facekit import FaceAnalyzer
    from facekit.errors import ModelError

    own = _own_head(tmp_path / "smile", "smile", ["no", "yes"])
    message = (f"{own} is the 'smile' head, which the tasks asked for (mask, emotion) leave out: add smile to them "
               "(--tasks), or leave that model out")
    with pytest.raises(ModelError) as err:
        FaceAnalyzer(tasks="mask,emotion", models=[own], detector=None)
    assert str(err.value) == message
    assert FaceAnalyzer(tasks="mask,smile", models=[own], detector=None).tasks == ["mask", "smile"]
    res = run_script("detect_mask_image.py", "-i", media / "obama.jpg", "-m", own, "--tasks", "mask,emotion",
                     "--no-display")
    assert res.returncode == 2 and res.stderr.strip().splitlines()[-1] == f"[ERROR] {message}", res.stderr


def test_the_one_line_analyze_takes_up_a_head_retrained_in_place(media, tmp_path, monkeypatch):
    """facekit.analyze(photo, models=["runs/smile"]) in a notebook, the head retrained into the same folder, the
    call run again: the analyzer kept from the first call gave the old head's labels. The same options with
    the same files still share one analyzer."""
    import shutil

    import facekit.analyzer as module

    own = _own_head(tmp_path / "smile", "smile", ["no", "yes"])
    monkeypatch.setattr(module, "_default", None)
    first = module.analyze(media / "obama.jpg", tasks="smile", models=[own])
    kept = module._default[1]
    assert module.analyze(media / "obama.jpg", tasks="smile", models=[own]) == first and module._default[1] is kept
    retrained = tmp_path / "retrained"  # the trainer writes a new folder and moves it over the old one
    _own_head(retrained, "smile", ["yes", "no"])
    shutil.rmtree(own)
    retrained.rename(own)
    again = module.analyze(media / "obama.jpg", tasks="smile", models=[own])
    assert module._default[1] is not kept
    assert [f.label("smile") for f in again] == [{"no": "yes", "yes": "no"}[f.label("smile")] for f in first]


def test_a_cards_colour_keyed_by_the_text_drawn_is_named_not_ignored(tmp_path):
    """"colors": {"Lächeln": [0, 255, 0]} set by hand for the label "lächeln" (keyed as the photo shows it): the
    label kept its palette colour and nothing said why. A display or colour key that is no label is one line."""
    from facekit.errors import ModelError
    from facekit.heads import ModelCard

    card = {"task": "expr", "labels": ["lächeln", "neutral"], "input_size": 64}
    assert ModelCard.from_dict({**card, "colors": {"lächeln": [0, 255, 0]}}).colors == {"lächeln": (0, 255, 0)}
    for name, table in (("colors", {"Lächeln": [0, 255, 0]}), ("display", {"Neutral": "Calm"})):
        with pytest.raises(ModelError) as err:
            ModelCard.from_dict({**card, name: table})
        assert str(err.value) == (f"model card's {name} names {next(iter(table))!r}, which is not one of its labels "
                                  "(lächeln, neutral): key it by the label as the labels list writes it")


def test_a_hand_written_card_whose_colors_or_licences_are_not_objects_is_one_line():
    """"colors": "red" and "licences": "CC-BY" (or {"model": 5}) in a card written by hand were tracebacks from every
    command that loaded the head ("'str' object has no attribute 'items'" / "... 'get'"), after its photos' work."""
    from facekit.errors import ModelError
    from facekit.heads import ModelCard, card_terms

    card = json.loads((ROOT / "models" / "mask" / "card.json").read_text())
    assert "research" in card_terms(ModelCard.from_dict(card))
    for change, needle in (({"colors": "red"}, "colors must be an object of label"),
                           ({"colors": [[0, 255, 0]]}, "colors must be an object of label"),
                           ({"licences": "CC-BY"}, "licences must be an object of texts"),
                           ({"licences": ["MIT"]}, "licences must be an object of texts"),
                           ({"licences": {"model": 5}}, "licences must be an object of texts")):
        with pytest.raises(ModelError, match=needle):
            ModelCard.from_dict({**card, **change})


def test_a_card_label_that_is_no_text_or_breaks_lines_is_refused_and_the_trainer_says_so_first():
    """Labels null, {"a": 1}, "" and "no\\nmask" loaded as the labels "None", "{'a': 1}", a column "mask_" and a CSV
    header and console line broken in two; one of 100,000 letters was drawn across the photo. Numbers and letters
    outside ASCII are labels still; the trainer refuses a class folder whose card would then not load."""
    from facekit.cli.train import check_task_name
    from facekit.errors import DatasetError, ModelError
    from facekit.heads import ModelCard

    card = {**json.loads((ROOT / "models" / "mask" / "card.json").read_text()), "display": {}, "colors": {}}
    assert ModelCard.from_dict({**card, "labels": [0, 1]}).labels == ["0", "1"]
    assert ModelCard.from_dict({**card, "labels": ["lächeln", "東京"]}).labels == ["lächeln", "東京"]
    for bad in (None, {"a": 1}, ["x"], True, "", "no\nmask", "tab\there", "a" * 256):
        with pytest.raises(ModelError, match="labels must be texts of 1 to 255 characters"):
            ModelCard.from_dict({**card, "labels": [bad, "other"]})
    with pytest.raises(DatasetError, match="has a control character"):
        check_task_name("glasses", ["no\nglasses", "glasses"], False)


def test_a_card_json_that_is_a_folder_or_nested_too_deep_is_one_line(tmp_path):
    """A head folder whose card.json is a folder (IsADirectoryError) or JSON thousands of brackets deep
    (RecursionError) ended every command that loaded it in a traceback."""
    from facekit.errors import ModelError
    from facekit.heads import ModelCard

    (tmp_path / "folder" / "card.json").mkdir(parents=True)
    with pytest.raises(ModelError, match=r"card\.json: model card cannot be read \(it is a folder\)$"):
        ModelCard.load(tmp_path / "folder" / "card.json")
    deep = tmp_path / "card.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelError, match=r"card\.json: model card is not a model card \(JSON nested too deep\)$"):
        ModelCard.load(deep)


def test_detect_takes_rotate_as_analyze_does(analyzer, media):
    """README: detect() takes what analyze() takes; rotate= was a TypeError there."""
    from facekit.preprocess import load_image

    photo = load_image(media / "example_03.png")
    down = cv2.rotate(photo, cv2.ROTATE_180)
    assert [f.box.as_list() for f in analyzer.detect(down, rotate=180)] == [
        f.box.as_list() for f in analyzer.detect(photo)]


def test_rotate_turns_a_photo_or_held_frames_upright_before_analysis(analyzer, media):
    """A photo whose orientation was lost (upside down, on its side): example_03.png upside down gave no face,
    and two_people.jpg one, called with_mask. rotate= turns it first, so the faces, boxes and labels are the
    upright photo's; held frames (analyze_video) likewise, each result's frame the turned one."""
    from facekit.errors import ArgumentError
    from facekit.preprocess import load_image

    photo = load_image(media / "example_03.png")
    upright = [(f.box.as_list(), f.predictions["mask"].label) for f in analyzer.analyze(photo)]
    assert len(upright) == 3
    down = cv2.rotate(photo, cv2.ROTATE_180)
    assert [(f.box.as_list(), f.predictions["mask"].label) for f in analyzer.analyze(down, rotate=180)] == upright
    sideways = cv2.rotate(photo, cv2.ROTATE_90_CLOCKWISE)
    (result,), (plain,) = analyzer.analyze_video([sideways], fps=25, rotate=270), analyzer.analyze_video([photo])
    assert result.frame_index == 0 and np.array_equal(result.frame, photo) and len(plain.faces) == 3
    assert [f.box.as_list() for f in result.faces] == [f.box.as_list() for f in plain.faces]  # the video detector's
    for bad in (45, "90", True, float("nan")):
        with pytest.raises(ArgumentError, match="rotate must be 0, 90, 180 or 270"):
            analyzer.analyze(photo, rotate=bad)


def test_rotate_takes_a_counter_clockwise_turn_as_a_negative_one(analyzer, media):
    """rotate=-90 (a turn counter-clockwise, as numpy's rot90 counts it) is 270 and 450 is 90, as check_rotation
    says: each turns the photo as its clockwise twin does, where a turn outside 0-270 reached the table of turns
    as it was (a KeyError)."""
    from facekit.preprocess import load_image

    photo = load_image(media / "example_03.png")
    upright = [f.box.as_list() for f in analyzer.detect(photo)]
    assert len(upright) == 3
    for turned, turns in ((cv2.ROTATE_90_CLOCKWISE, (-90, 270)), (cv2.ROTATE_90_COUNTERCLOCKWISE, (450, 90))):
        for turn in turns:
            assert [f.box.as_list() for f in analyzer.detect(cv2.rotate(photo, turned), rotate=turn)] == upright


def test_a_photo_upside_down_whose_faces_score_well_as_read_is_still_turned(analyzer, media):
    """obama_and_biden.jpg turned 180 with numpy (no EXIF to say so): SCRFD found one of its three faces, at 0.78,
    read upside down, and a face scoring 0.75 or more stopped the turn search. Its best face is now read again in a
    small crop as it is and turned, which scores it clearly higher turned: all three faces, found turned 180, in
    the photo's pixels where the upright photo's are. Upright, the same check keeps it as it is."""
    from facekit.preprocess import load_image

    photo = load_image(media / "obama_and_biden.jpg")
    h, w = photo.shape[:2]
    upright = analyzer.analyze(photo)
    assert len(upright) == 3 and upright.turned == 0
    assert 0.75 <= upright[0].score < 0.9  # checked, not taken as sure
    down = analyzer.analyze(np.ascontiguousarray(photo[::-1, ::-1]))
    assert down.turned == 180 and len(down) == 3
    for face in upright:
        b = face.box
        assert [f for f in down if abs(f.box.x1 - (w - b.x2)) <= 4 and abs(f.box.y1 - (h - b.y2)) <= 4]


def test_with_yunet_a_photo_upside_down_showing_one_face_is_turned(media):
    """YuNet keeps no face under 0.75, so upside down it searched only a photo showing none: example_03.png turned
    180 with numpy showed one of its three faces, at 0.87, read upside down. That face scores clearly higher in its
    crop turned, so the photo is searched: its three faces, found turned 180 (and a photo on its side, turned 90)."""
    from facekit import FaceAnalyzer
    from facekit.preprocess import load_image

    analyzer = FaceAnalyzer(tasks="mask", detector="yunet")
    photo = load_image(media / "example_03.png")
    upright = analyzer.analyze(photo)
    assert len(upright) == 3 and upright.turned == 0
    down = analyzer.analyze(np.ascontiguousarray(photo[::-1, ::-1]))
    assert down.turned == 180 and len(down) == 3
    assert sorted(f.label("mask") for f in down) == sorted(f.label("mask") for f in upright)
    # A face lying on its side can read as standing too, and better turned 180 than as it is: every turn is searched
    # (2008_002506.jpg turned 270: one face at 0.78, 0.81 turned 180, its three at 0.91-0.94 turned 90).
    lying = analyzer.analyze(np.rot90(load_image(media / "annotated_faces" / "2008_002506.jpg")))
    assert lying.turned == 90 and len(lying) == 3


def test_a_part_of_the_faces_of_a_photo_found_turned_keeps_its_turn(analyzer, media):
    """faces[:2] of a photo found upside down was a plain list: its `turned` (180) was gone, and so was what said
    the boxes had been found turned. A slice, copy() and a list or array of positions or of bools (supervision's
    Detections' way) give a Faces of the same turn, holding those faces in that order; an index past the end or a
    mask of the wrong length is an IndexError saying so, not a part of the wrong faces."""
    from facekit import Face
    from facekit.analyzer import Faces
    from facekit.preprocess import load_image

    down = analyzer.analyze(cv2.rotate(load_image(media / "example_03.png"), cv2.ROTATE_180))
    assert down.turned == 180 and len(down) == 3
    assert down.scores.tolist() == [f.score for f in down] and down.scores[0] > down.scores[2]
    strong = down.scores >= down.scores[1]
    parts = {"[:2]": (down[:2], down[0:2]), "copy": (down.copy(), list(down)),
             "[[2, 0]]": (down[[2, 0]], [down[2], down[0]]), "argsort": (down[np.argsort(down.scores)], down[::-1]),
             "mask": (down[strong], down[:2]), "bools": (down[[f.label("mask") == "with_mask" for f in down]],
                                                         [f for f in down if f.label("mask") == "with_mask"])}
    for name, (part, faces) in parts.items():
        assert isinstance(part, Faces) and part.turned == 180, name
        assert list(part) == list(faces) and len(part) == len(faces) > 0, name
    assert isinstance(down[1], Face) and down[-1] is list(down)[-1]
    down.note = "kept"  # what a caller sets on the list travels with its parts too
    assert down[1:].note == "kept" and down[1:].turned == 180
    with pytest.raises(IndexError, match="face index 3 out of range: 3 faces"):
        down[[0, 3]]
    with pytest.raises(IndexError, match="one bool per face: 3 faces, got 2 bools"):
        down[[True, False]]
    with pytest.raises(TypeError, match="list or 1-D array of ints"):
        down[[0.5]]


def test_a_missing_name_with_a_space_at_an_end_names_the_file_it_was_pasted_from(tmp_path):
    """`-i "photo.jpg "` (a name pasted with the space after it) was "photo.jpg : no such file" beside photo.jpg,
    nothing to say the space was the difference."""
    from facekit.errors import near_names

    (tmp_path / "photo.jpg").write_bytes(b"")
    for typed in ("photo.jpg ", " photo.jpg"):
        assert near_names(tmp_path / typed) == f" (did you mean {tmp_path / 'photo.jpg'}?)"


def test_a_photo_upside_down_is_searched_turned_and_its_faces_read_upright(analyzer, media):
    """example_03.png upside down (its EXIF orientation stripped, as a messenger's copy is) gave no face unless the
    caller knew to pass rotate=180. Given no rotate=, a photo with no face or only weak ones is searched turned, and
    the turn that stands its faces up is kept: its three faces, boxes in the photo's pixels as given (the upright
    boxes turned with it), labelled as upright, `turned` 180. rotate=0 is the photo as it is, unsearched; a cat
    searched every way up is still no face."""
    from facekit.preprocess import load_image

    photo = load_image(media / "example_03.png")
    h, w = photo.shape[:2]
    upright = analyzer.analyze(photo)
    assert len(upright) == 3 and upright.turned == 0
    down = analyzer.analyze(cv2.rotate(photo, cv2.ROTATE_180))
    assert down.turned == 180 and len(down) == 3
    for face in upright:
        b = face.box
        (match,) = [f for f in down if abs(f.box.x1 - (w - b.x2)) <= 3 and abs(f.box.y1 - (h - b.y2)) <= 3]
        assert {t: p.label for t, p in match.predictions.items()} == {t: p.label for t, p in face.predictions.items()}
    assert analyzer.analyze(cv2.rotate(photo, cv2.ROTATE_180), rotate=0) == []
    cat = load_image(media / "no_face_cat.png")
    for turn in (None, cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_180, cv2.ROTATE_90_COUNTERCLOCKWISE):
        found = analyzer.analyze(cat if turn is None else cv2.rotate(cat, turn))
        assert found == [] and found.turned == 0
