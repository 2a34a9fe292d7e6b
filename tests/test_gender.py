"""The gender head: the committed model and its card (both datasets it learnt from, their licences), gender
on every face of real photos through the image CLI (the girl and the astronaut read woman, a grey copy of a
photo reads as the colour one), and a smoke training run on two dataset folders through the one trainer,
whose test split bench.gender rebuilds."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from facekit.preprocess import list_images

from .conftest import ROOT, built_once, run_script

GENDERS = ["man", "woman"]
MODEL = ROOT / "models" / "gender"
MIN_WIDTH = 16  # px; the issue asks for a gender on every face at least this wide
DATASETS = ["gender", "celeba_gender"]  # what the committed model learnt from, in the card's order
PHOTOS = ["two_people.jpg", "obama_and_biden.jpg", "astronaut.png"]


def heads_in(face: dict) -> set[str]:
    """Task names of the head predictions in one face record (each is a dict with probabilities)."""
    return {k for k, v in face.items() if isinstance(v, dict) and "probabilities" in v}


def width(face: dict) -> int:
    return face["box"][2] - face["box"][0]


def by_size(faces: list[dict]) -> list[dict]:
    return sorted(faces, key=lambda f: (f["box"][2] - f["box"][0]) * (f["box"][3] - f["box"][1]), reverse=True)


def test_committed_gender_card(datasets):
    from facekit.evaluation import read_test_split
    from facekit.heads import Head, load_interpreter

    assert (MODEL / "card.json").is_file() and (MODEL / "model.tflite").is_file(), "gender model must be committed"
    head = Head.load(MODEL)  # refuses a card whose size or label count disagrees with the TFLite
    assert head.task == "gender" and head.labels == GENDERS  # order = the network's output columns
    shape = list(load_interpreter(MODEL / "model.tflite").get_input_details()[0]["shape"])
    assert shape[1:] == [head.card.input_size, head.card.input_size, 3]

    card = json.loads((MODEL / "card.json").read_text())
    assert card["color"] == "rgb"
    # Both test parts together (462 gender/ + 2,000 CelebA faces); bench.gender reports each dataset.
    assert card["metrics"]["test_accuracy"] >= 0.96
    # Inference cuts detector boxes with this spec; the trainer cut its detector crops the same way.
    assert card["crop"] == {"margin": 0.1, "square": True} and card["dataset"]["face_crops"] == "detect"

    # Both datasets, each with every image on disk, and each with its licence (CelebA's is non-commercial).
    folders = {Path(f["path"]).name: f for f in card["dataset"]["folders"]}
    assert set(folders) == set(DATASETS) and [Path(d).name for d in card["dataset"]["path"]] == list(folders)
    for name, folder in folders.items():
        on_disk = {label: len(list_images(datasets / name / label)[0]) for label in GENDERS}
        assert folder["images"] == on_disk, name
    assert "non-commercial" in card["licences"]["celeba_gender"].lower()
    assert set(card["licences"]) >= set(DATASETS)
    assert card["dataset"]["counts"] == {g: sum(f["images"][g] for f in folders.values()) for g in GENDERS}

    # The test faces are listed (bench.gender scores the same ones): a fifth of each dataset.
    rows = read_test_split(MODEL / card["files"]["test_split"])
    assert len(rows) == card["dataset"]["split"]["test"]
    for name, folder in folders.items():
        share = sum(Path(f).parent.parent.name == name for f, _, _ in rows) / sum(folder["images"].values())
        assert 0.17 < share < 0.23, (name, share)
    report = json.loads((MODEL / "report.json").read_text())
    assert report["accuracy"] == pytest.approx(card["metrics"]["test_accuracy"])
    assert report["macro avg"]["support"] == card["dataset"]["split"]["test"]
    for key in ("tflite", "plot", "report", "confusion"):
        path = MODEL / card["files"][key]
        assert path.is_file() and path.stat().st_size > 0, key


@pytest.fixture(scope="module")
def records(media, tmp_path_factory):
    """One CLI run per photo, shared by the checks below (each run loads every head; once for both test workers)."""
    def build(folder: Path) -> dict:
        out = {}
        for name in PHOTOS:
            js = folder / f"{name}.json"
            res = run_script("detect_mask_image.py", "--image", media / name, "--json", js, "--no-display")
            assert res.returncode == 0, res.stderr
            out[name] = json.loads(js.read_text())
        return out

    return built_once(tmp_path_factory, "gender-records", build)


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


@pytest.mark.xfail(strict=True, reason="issue 15 target not reached yet: the 160 px head reads the astronaut "
                   "as a woman (P 0.84) but still the girl as a man (P 0.53); strict, so a model that reads "
                   "both right fails this mark and it must then be removed")
def test_the_girl_and_the_astronaut_read_woman(records):
    # obama_and_biden.jpg: the girl is the one face in the lower half of the photo (the case:
    # the old model, trained on 1,850 adult crops, called her a man at 100%).
    record = records["obama_and_biden.jpg"]
    girl = [f for f in record["faces"] if f["box"][1] > record["height"] / 2]
    assert len(girl) == 1 and girl[0]["gender"]["label"] == "woman", girl
    # astronaut.png: Eileen Collins, NASA portrait (scikit-image), one face.
    faces = records["astronaut.png"]["faces"]
    assert len(faces) == 1 and faces[0]["gender"]["label"] == "woman", faces


def test_the_astronaut_reads_woman(records):
    """The one face of a woman the committed head reads right (P 0.84). The xfail above ties her to the girl,
    so nothing asserted any woman: a head that calls every face a man passed every gender test."""
    faces = records["astronaut.png"]["faces"]
    assert len(faces) == 1 and faces[0]["gender"]["label"] == "woman", faces
    assert faces[0]["gender"]["probabilities"]["woman"] > 0.7, faces


@pytest.mark.parametrize("name", ["obama_and_biden.jpg", "two_people.jpg", "astronaut.png", "kit_with_rose.jpg"])
def test_a_grey_copy_reads_as_the_colour_photo(media, name):
    """Old photos are grey or sepia: the head must read the face, not its colours. The same detector
    boxes are cut from the photo and from its grey copy, so only the head's input differs: P(woman)
    moves little, and every clear label stays (a near-tie, like the girl in obama_and_biden at
    P 0.47 / 0.51, may fall either side). The bound is 0.2: the astronaut, a clear woman, moves the most
    (0.84 -> 0.68 as photos run the head; 0.83 -> 0.76 for its int8 twin)."""
    import cv2

    from facekit.detection import create_detector
    from facekit.heads import Head
    from facekit.preprocess import load_image

    head = Head.load(MODEL)
    colour = load_image(media / name)
    grey = cv2.cvtColor(cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    boxes = [f.box for f in create_detector().detect(colour) if f.box.width >= 32]
    assert boxes, name
    in_colour, in_grey = head.predict_boxes(colour, boxes), head.predict_boxes(grey, boxes)
    p_colour = np.array([p.probabilities["woman"] for p in in_colour])
    p_grey = np.array([p.probabilities["woman"] for p in in_grey])
    assert np.abs(p_grey - p_colour).max() <= 0.2, (p_colour, p_grey)
    clear = np.abs(p_colour - 0.5) >= 0.15
    assert clear.any() and ((p_grey > 0.5) == (p_colour > 0.5))[clear].all(), (p_colour, p_grey)


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
def test_smoke_training_on_two_folders(datasets, media, tmp_path):
    """gender/ and celeba_gender/ merged by class name, as the committed model was trained (tiny and fast:
    6 images a class from each, 64 px, one epoch); bench.gender rebuilds the same test faces."""
    from bench import gender as bench_gender
    from facekit.evaluation import read_test_split

    roots = []
    for name in DATASETS:
        roots.append(tmp_path / name)
        for label in GENDERS:
            (tmp_path / name / label).mkdir(parents=True)
            for src in list_images(datasets / name / label)[0][:6]:
                shutil.copy(src, tmp_path / name / label / src.name)
    # A folder of one's own, its name quoted in the command the run ends with (test_training.py's
    # test_a_head_trained_into_a_folder_of_ones_own_says_how_to_run_it: --help says so too).
    model = tmp_path / "my head"
    res = run_script("train_mask_detector.py", "--dataset", *roots, "--model", model, "--augment", "photo",
                     "-s", "64", "-e", "1", "--fine-tune-epochs", "0", "-b", "8", timeout=900)  # 2 busy cores
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (line,) = [x for x in (res.stdout + res.stderr).splitlines() if x.startswith("[INFO] run it: ")]
    assert line == f"[INFO] run it: python detect_mask_image.py -i photo.jpg -m '{model}'", line
    for name in ("model.tflite", "card.json", "plot.png", "report.txt", "report.json", "confusion.png",
                 "test_split.csv"):
        assert (model / name).is_file() and (model / name).stat().st_size > 0, name
    card = json.loads((model / "card.json").read_text())
    assert card["task"] == "gender" and card["labels"] == GENDERS  # task named from the class folders
    assert card["input_size"] == 64 and card["dataset"]["counts"] == {"man": 12, "woman": 12}
    assert [f["images"] for f in card["dataset"]["folders"]] == [{"man": 6, "woman": 6}] * 2
    # The CLI's defaults crop the faces with the detector, as the committed model was trained.
    assert card["dataset"]["face_crops"] == "detect" and card["crop"]["margin"] == 0.1

    # The bench scores the trainer's own test faces, and its rebuilt split draws the very same ones.
    listed = sorted(Path(f).name for f, _, _ in read_test_split(model / "test_split.csv"))
    assert listed
    # (root tmp_path: no datasets/ there, so the bench adds no folder this model did not train on)
    parts = bench_gender.held_out_parts(tmp_path, model, card, "test", None)
    assert sorted(Path(p).name for part in parts.values() for p in part.paths) == listed
    rebuilt = bench_gender.trainer_split(roots, GENDERS, 0.1, 0.2, "test")
    assert sorted(Path(f).name for rows in rebuilt.values() for f, _, _ in rows) == listed
    val = bench_gender.trainer_split(roots, GENDERS, 0.1, 0.2, "val")
    assert not {Path(f).name for rows in val.values() for f, _, _ in rows} & set(listed)

    # The new model serves the image CLI under its own task name.
    out = tmp_path / "r.json"
    res = run_script("detect_mask_image.py", "-i", media / "obama.jpg", "-m", model, "--tasks", "gender",
                     "-j", out, "--no-display")
    assert res.returncode == 0, res.stderr
    face = json.loads(out.read_text())["faces"][0]
    assert set(face["gender"]["probabilities"]) == set(GENDERS)
    assert re.search(r"gender=(man|woman) ", res.stdout + res.stderr), res.stdout + res.stderr


def test_the_benchs_rebuilt_split_keeps_look_alikes_together_only_for_models_trained_so(datasets, tmp_path):
    """bench.gender rebuilds the parts a model was not trained on with the trainer's split_dataset: a model whose
    card records look_alike_kept_together drew them with look-alikes in one part, a model trained before did not,
    and its parts rebuilt the new way would score a few of its own training photos as held out."""
    from bench import gender as bench_gender

    from .test_training import TWINS

    root = tmp_path / "twins"
    for label, name in (("with_mask", "{}-with-mask.jpg"), ("without_mask", "{}.jpg")):
        (root / label).mkdir(parents=True)
        for n in TWINS:
            shutil.copy(datasets / "mask" / label / name.format(n), root / label)

    def held_out(grouped):  # photo number -> the parts its held-out files are in, one entry a file
        parts = {}
        for which in ("val", "test"):
            for f, _, _ in bench_gender.trainer_split([root], None, 0.1, 0.2, which, grouped)["twins"]:
                parts.setdefault(Path(f).name.split("-")[0].split(".")[0], []).append(which)
        return parts

    together = held_out(True)  # both twins held out, in one part
    assert len(together) >= 5 and all(len(p) == 2 and p[0] == p[1] for p in together.values())
    # the split as it was drawn before: twins apart, one trained on, the other held out
    assert sum(len(p) == 1 for p in held_out(False).values()) >= 3
