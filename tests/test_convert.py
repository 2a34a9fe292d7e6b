"""An old Keras model file (the PyImageSearch tutorial's mask_detector.model) given to the scripts, and
`python -m facekit.convert` making it a head folder they run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from .conftest import ASSETS, ROOT, _environment, broken_tensorflow, built_once, killed_runs_temp_folder, run_script

pytestmark = pytest.mark.slow  # TensorFlow's import and a TFLite export: about a minute

TUTORIAL_MODEL = ASSETS / "baselines" / "pyimagesearch_mask_detector.h5"
TUTORIAL_TERMS = "prajnasb/observations: research and education"  # its training images'


def convert(*args, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facekit.convert", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=_environment(None))


def error_line(res) -> str:
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("[ERROR]"), res.stderr
    return lines[-1]


@pytest.fixture(scope="module")
def old_model(tmp_path_factory):
    """The tutorial's trained file (TF 2.2, HDF5), under the name its train_mask_detector.py gave it."""
    if not TUTORIAL_MODEL.is_file():
        pytest.skip("the PyImageSearch model needs the asset mirror (FACEKIT_ASSETS)")
    path = tmp_path_factory.mktemp("tutorial") / "mask_detector.model"
    shutil.copy(TUTORIAL_MODEL, path)
    return path


@pytest.mark.parametrize("script", ["detect_mask_image.py", "detect_mask_video.py"])
def test_old_keras_file_as_model_says_how_to_convert(media, old_model, script):
    args = ["-i", media / "example_01.png"] if script == "detect_mask_image.py" else ["-s", media / "obama.jpg"]
    line = error_line(run_script(script, *args, "-m", old_model, "--no-display"))
    # It said "model not found", for a file that was there.
    assert "not found" not in line, line
    assert "Keras model file" in line and f"python -m facekit.convert {old_model}" in line, line


@pytest.fixture(scope="module")
def converted(old_model, tmp_path_factory):
    """The tutorial model converted once with the defaults and its images' terms (~20 s of TensorFlow; once for both
    test workers), and the run that made it: the tests of what a conversion gives read this one."""
    def build(root):
        folder = root / "mask_detector"
        # What a conversion killed with kill -9 while exporting left, and a folder of the user's: swept, and kept.
        killed_runs_temp_folder(folder)
        (folder.parent / ".mask_detector.backup").mkdir()
        return folder, convert(old_model, "-m", folder, "--data-licence", TUTORIAL_TERMS)

    return built_once(tmp_path_factory, "converted", build)


def test_converted_tutorial_model_labels_the_examples(media, old_model, converted, tmp_path):
    folder, res = converted
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr and "cpu_feature_guard" not in res.stderr, res.stderr
    card = json.loads((folder / "card.json").read_text())
    assert card["labels"] == ["with_mask", "without_mask"] and card["input_size"] == 224 and card["task"] == "mask"
    assert sorted(p.name for p in folder.iterdir()) == ["card.json", "model.tflite"]
    assert old_model.is_file()

    out = tmp_path / "result.json"
    res = run_script("detect_mask_image.py", "-i", media / "example_03.png", "-m", folder, "--tasks", "mask",
                     "-j", out, "--no-display")
    assert res.returncode == 0, res.stderr
    faces = sorted(json.loads(out.read_text())["faces"], key=lambda f: f["box"][0])
    # The old man behind, the masked woman in front, the smoker at the edge, as the tutorial labels them.
    assert [f["mask"]["label"] for f in faces] == ["without_mask", "with_mask", "without_mask"]
    assert all(f["mask"]["score"] > 0.9 for f in faces)


def test_a_conversion_sweeps_the_temp_folder_a_killed_one_left(converted):
    """A conversion killed while exporting (kill -9, the out-of-memory killer) left its hidden temp folder beside
    the head for good; the next one to the same head now removes it, and nothing else (the user's .backup)."""
    folder, res = converted
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in folder.parent.iterdir()) == [".mask_detector.backup", "mask_detector"]


def test_a_card_names_the_facekit_that_wrote_it(converted):
    """A model folder kept across upgrades named the Python, TensorFlow and OpenCV that made it, not the facekit,
    whose network, crop and preprocessing --init-model and the scripts must match. The trainer's card gets the
    same versions block (facekit.training._versions)."""
    from facekit import __version__

    folder, res = converted
    assert res.returncode == 0, res.stderr
    versions = json.loads((folder / "card.json").read_text())["versions"]
    assert versions["facekit"] == __version__ and versions["tensorflow"]


def test_convert_refuses_before_loading_tensorflow(old_model, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    line = error_line(convert(old_model, "-m", busy, timeout=60))
    assert "not a model folder" in line and (busy / "notes.txt").read_text() == "mine"
    text = tmp_path / "notes.model"
    text.write_text("not a model")
    line = error_line(convert(text, "-m", tmp_path / "out", timeout=120))
    assert "not a Keras model file" in line and not (tmp_path / "out").exists()
    res = convert(old_model, "-m", tmp_path / "out", "--labels", "with_mask,label", "--task", "masks", timeout=60)
    assert "label named 'label'" in error_line(res) and "loading" not in res.stdout
    line = error_line(convert(old_model, "-m", old_model, timeout=60))
    assert "is a file" in line and "-m " + str(old_model.with_suffix("")) in line
    assert old_model.read_bytes() == TUTORIAL_MODEL.read_bytes()
    # A model folder of another task (a head trained before, its model.keras and report with it) was replaced.
    trained = tmp_path / "expr"
    trained.mkdir()
    (trained / "card.json").write_text(json.dumps({"task": "expr", "labels": ["no", "yes"], "input_size": 64}))
    (trained / "model.keras").write_bytes(b"weights")
    res = convert(old_model, "-m", trained, timeout=60)
    assert error_line(res) == (f"[ERROR] --model {trained} holds a model of task 'expr' and this makes one of task "
                               "'mask'; the converted model replaces the whole folder: name another folder")
    assert "loading" not in res.stdout and (trained / "model.keras").read_bytes() == b"weights"


def test_a_tensorflow_that_fails_to_load_is_one_line_naming_the_conversion(old_model, tmp_path):
    """TensorFlow installed but failing to import (here a shared library missing) was a traceback from inside Keras;
    now one line naming the conversion and the cause, and no model folder."""
    env, mark = broken_tensorflow(tmp_path, "libtensorflow_framework.so.2: cannot open shared object file")
    res = subprocess.run([sys.executable, "-m", "facekit.convert", str(old_model), "-m", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300, cwd=ROOT, env=_environment(env))
    assert error_line(res) == ("[ERROR] conversion needs TensorFlow and Keras, installed here but failing to load "
                               "(libtensorflow_framework.so.2: cannot open shared object file): reinstall them: "
                               "pip install --force-reinstall 'facekit[train]'")
    assert mark.exists() and not (tmp_path / "out").exists()


def test_convert_without_tensorflow_names_the_conversion(old_model, tmp_path, monkeypatch, capfd):
    """The message was the trainer's ("training needs tensorflow ..."), read as the wrong command; and the
    conversion does not need the trainer's scikit-learn or matplotlib, so it should not ask for them."""
    import importlib.util

    from facekit.cli.convert import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("tensorflow", "sklearn") else real(name, *a))
    assert main([str(old_model), "-m", str(tmp_path / "out")]) == 2
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err and "loading" not in captured.out
    line = [ln for ln in captured.err.splitlines() if ln.strip()][-1]
    assert line.startswith("[ERROR] conversion needs tensorflow, not installed here"), line
    assert "pip install 'facekit[train]'" in line and "scikit-learn" not in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["mask_detector.model", "mask.h5", "mask.keras"])
def test_missing_keras_named_model_says_how_to_convert(media, tmp_path, name):
    missing = tmp_path / name
    line = error_line(run_script("detect_mask_image.py", "-i", media / "example_01.png", "-m", missing,
                                 "--no-display"))
    # It said only "model not found": the tutorial's user, holding such a file elsewhere, got no hint.
    assert f"{missing}: model not found" in line and "python -m facekit.convert" in line, line


def test_without_the_train_extra_on_python_3_10_says_it_needs_3_11(old_model, tmp_path, monkeypatch, capfd):
    """On Python 3.10 the message said pip install 'facekit[train]', which pip then refused: the extra's Keras
    3.15 requires Python 3.11. It says so now (an older Python stood in for by a newer floor)."""
    import importlib.util

    from facekit import training
    from facekit.cli.convert import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "keras" else real(name, *a))
    monkeypatch.setattr(training, "TRAIN_PYTHON", (sys.version_info.major, sys.version_info.minor + 1))
    assert main([str(old_model), "-m", str(tmp_path / "out")]) == 2
    captured = capfd.readouterr()
    line = [ln for ln in captured.err.splitlines() if ln.strip()][-1]
    assert "Traceback" not in captured.err and line.startswith("[ERROR] conversion needs keras, not installed"), line
    assert f"needs Python {sys.version_info.major}.{sys.version_info.minor + 1} or later" in line, line
    assert not (tmp_path / "out").exists()


def test_a_converted_head_keeps_the_terms_given_and_says_when_none_are(old_model, converted, tmp_path, monkeypatch,
                                                                       capfd):
    """The trainer records the training images' terms (--data-licence) and says when none are recorded; a converted
    head had neither: no way to record them, and not a word, so --tasks help and the scripts offered it as "no
    terms recorded" with nothing said at conversion. The shared conversion was given the terms; the command
    without them is run here with the export (TensorFlow's 70 s, the card's terms already proven) stood in for."""
    import facekit.convert
    from facekit.cli.convert import main
    from facekit.heads import ModelCard, card_terms

    folder, res = converted
    assert res.returncode == 0, res.stderr
    card = json.loads((folder / "card.json").read_text())
    assert card["licences"]["data"] == TUTORIAL_TERMS
    assert card_terms(ModelCard.from_dict(card)) == TUTORIAL_TERMS
    assert "records no terms" not in res.stdout + res.stderr

    given = {}

    def export(source, output, labels, task, preprocess, command=None, log=print, data_licence=None):
        given["data_licence"] = data_licence
        return {key: value for key, value in card.items() if key != "licences"}

    monkeypatch.setattr(facekit.convert, "convert", export)
    assert main([str(old_model), "-m", str(tmp_path / "mask_detector")]) == 0  # no --data-licence
    captured = capfd.readouterr()
    assert given == {"data_licence": None}
    assert ("[INFO] the card records no terms for the images the model learnt from, which the weights inherit: "
            "--data-licence TEXT records them") in captured.out + captured.err


def test_a_named_pipe_given_as_the_keras_file_is_refused_not_waited_on(tmp_path):
    """A named pipe given as the Keras file (or one whose writer is gone) hung the command: its first bytes were
    read to tell HDF5 from .keras, and opening a pipe waits for a writer."""
    fifo = tmp_path / "mask_detector.model"
    os.mkfifo(fifo)
    line = error_line(convert(fifo, "-m", tmp_path / "out", timeout=60))
    assert line == f"[ERROR] {fifo} is not a Keras model file (HDF5 .model / .h5, or .keras): it is a named pipe"
    assert not (tmp_path / "out").exists()
