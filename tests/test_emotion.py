"""The emotion head: 7-class grayscale training through the one trainer, parity of its inputs, the
committed model on a real photo."""

from __future__ import annotations

import json
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
    face = create_detector().detect(image)[0]
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
def test_committed_emotion_card():
    from facekit.heads import Head

    head = Head.load(MODEL)
    assert head.task == "emotion" and head.labels == EMOTIONS
    card = json.loads((MODEL / "card.json").read_text())
    assert card["color"] == "gray" and card["metrics"]["test_accuracy"] > 0.5
    assert card["dataset"]["counts"]["disgust"] == 436


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
