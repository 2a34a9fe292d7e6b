"""The gender head: the committed model and its card, gender on every face of real photos through the
image CLI, and a smoke training run on datasets/gender through the one trainer."""

from __future__ import annotations

import json
import shutil

import pytest

from facekit.preprocess import list_images

from .conftest import ROOT, run_script

GENDERS = ["man", "woman"]
MODEL = ROOT / "models" / "gender"
MIN_WIDTH = 16  # px; the issue asks for a gender on every face at least this wide


def heads_in(face: dict) -> set[str]:
    """Task names of the head predictions in one face record (each is a dict with probabilities)."""
    return {k for k, v in face.items() if isinstance(v, dict) and "probabilities" in v}


def width(face: dict) -> int:
    return face["box"][2] - face["box"][0]


def by_size(faces: list[dict]) -> list[dict]:
    return sorted(faces, key=lambda f: (f["box"][2] - f["box"][0]) * (f["box"][3] - f["box"][1]), reverse=True)


def test_committed_gender_card(datasets):
    from facekit.heads import Head, load_interpreter

    assert (MODEL / "card.json").is_file() and (MODEL / "model.tflite").is_file(), "gender model must be committed"
    head = Head.load(MODEL)  # refuses a card whose size or label count disagrees with the TFLite
    assert head.task == "gender" and head.labels == GENDERS  # order = the network's output columns
    shape = list(load_interpreter(MODEL / "model.tflite").get_input_details()[0]["shape"])
    assert shape[1:] == [head.card.input_size, head.card.input_size, 3]

    card = json.loads((MODEL / "card.json").read_text())
    assert card["color"] == "rgb"
    assert card["metrics"]["test_accuracy"] >= 0.96
    # Inference cuts detector boxes with this spec; the trainer cut its detector crops the same way.
    assert card["crop"] == {"margin": 0.1, "square": True} and card["dataset"]["face_crops"] == "detect"

    on_disk = {label: len(list_images(datasets / "gender" / label)[0]) for label in GENDERS}
    assert card["dataset"]["counts"] == on_disk
    assert sum(card["dataset"]["split"].values()) == sum(on_disk.values())
    report = json.loads((MODEL / "report.json").read_text())
    assert report["accuracy"] == pytest.approx(card["metrics"]["test_accuracy"])
    assert report["macro avg"]["support"] == card["dataset"]["split"]["test"]
    for key in ("tflite", "plot", "report", "confusion"):
        path = MODEL / card["files"][key]
        assert path.is_file() and path.stat().st_size > 0, key


@pytest.fixture(scope="module")
def records(media, tmp_path_factory):
    """One CLI run per photo, shared by the checks below (each run loads every head)."""
    out = {}
    for name in ("two_people.jpg", "obama_and_biden.jpg"):
        js = tmp_path_factory.mktemp("gender") / f"{name}.json"
        res = run_script("detect_mask_image.py", "--image", media / name, "--json", js, "--no-display")
        assert res.returncode == 0, res.stderr
        out[name] = json.loads(js.read_text())
    return out


@pytest.mark.parametrize("name", ["two_people.jpg", "obama_and_biden.jpg"])
def test_every_face_gets_a_gender(records, name):
    faces = [f for f in records[name]["faces"] if width(f) >= MIN_WIDTH]
    assert len(faces) >= 2
    for face in faces:
        gender = face["gender"]
        assert set(gender) == {"label", "score", "probabilities"}
        assert gender["label"] in GENDERS and set(gender["probabilities"]) == set(GENDERS)
        assert abs(sum(gender["probabilities"].values()) - 1) < 1e-3
        assert gender["score"] == max(gender["probabilities"].values())
        assert gender["label"] == max(gender["probabilities"], key=gender["probabilities"].get)


def test_men_are_men(records):
    # two_people.jpg: Obama and Biden, each alone in his half of the picture.
    two = records["two_people.jpg"]["faces"]
    assert len(two) == 2 and [f["gender"]["label"] for f in two] == ["man", "man"]

    # obama_and_biden.jpg: the two men waving are the two largest faces; a girl's smaller face is
    # lower right. The position check keeps a size-based pick from landing on her.
    record = records["obama_and_biden.jpg"]
    main = by_size(record["faces"])[:2]
    assert all(f["box"][3] < record["height"] / 2 for f in main), main
    assert [f["gender"]["label"] for f in main] == ["man", "man"]


def test_tasks_gender_runs_only_the_gender_head(media, tmp_path):
    out = tmp_path / "g.json"
    res = run_script("detect_mask_image.py", "-i", media / "two_people.jpg", "-j", out, "--no-display",
                     "--tasks", "gender")
    assert res.returncode == 0, res.stderr
    faces = json.loads(out.read_text())["faces"]
    assert len(faces) == 2
    assert all(heads_in(f) == {"gender"} for f in faces), faces
    assert [f["gender"]["label"] for f in faces] == ["man", "man"]


@pytest.mark.slow
def test_smoke_training_on_the_gender_set(datasets, media, tmp_path):
    data = tmp_path / "gender"
    for label in GENDERS:
        (data / label).mkdir(parents=True)
        for src in list_images(datasets / "gender" / label)[0][:8]:
            shutil.copy(src, data / label / src.name)
    model = tmp_path / "model"
    res = run_script("train_mask_detector.py", "--dataset", data, "--model", model,
                     "-s", "64", "-e", "1", "--fine-tune-epochs", "1", "-b", "8")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for name in ("model.tflite", "card.json", "plot.png", "report.txt", "report.json", "confusion.png"):
        assert (model / name).is_file() and (model / name).stat().st_size > 0, name
    card = json.loads((model / "card.json").read_text())
    assert card["task"] == "gender" and card["labels"] == GENDERS  # task named from the class folders
    assert card["input_size"] == 64 and card["dataset"]["counts"] == {"man": 8, "woman": 8}
    # The CLI's defaults crop the faces with the detector, as the committed model was trained.
    assert card["dataset"]["face_crops"] == "detect" and card["crop"]["margin"] == 0.1

    # The new model serves the image CLI under its own task name.
    out = tmp_path / "r.json"
    res = run_script("detect_mask_image.py", "-i", media / "obama.jpg", "-m", model, "--tasks", "gender",
                     "-j", out, "--no-display")
    assert res.returncode == 0, res.stderr
    face = json.loads(out.read_text())["faces"][0]
    assert set(face["gender"]["probabilities"]) == set(GENDERS)
