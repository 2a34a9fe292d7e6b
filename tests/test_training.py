"""train_mask_detector.py end to end on small real subsets, and its bad inputs."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from facekit.training import cosine_lr

from .conftest import ROOT, run_script

pytestmark = pytest.mark.slow

QUICK = ["-s", "64", "-e", "1", "--fine-tune-epochs", "1", "-b", "8"]


def small_mask_set(datasets: Path, root: Path, per_class: int = 10) -> Path:
    for label in ("with_mask", "without_mask"):
        (root / label).mkdir(parents=True)
        for src in sorted((datasets / "mask" / label).iterdir())[:per_class]:
            shutil.copy(src, root / label / src.name)
    return root


def test_smoke_training_writes_a_usable_model(datasets, media, tmp_path):
    data = small_mask_set(datasets, tmp_path / "data")
    (data / "without_mask" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    (data / "with_mask" / "README.txt").write_text("not an image")
    (data / "empty_class").mkdir()
    model, plot = tmp_path / "model", tmp_path / "plot.png"
    res = run_script("train_mask_detector.py", "--dataset", data, "--model", model, "--plot", plot, *QUICK)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "[INFO] training head" in res.stdout and "[INFO] fine-tuning" in res.stdout
    assert "skipped 1 unreadable image(s) and 1 non-image file(s)" in res.stdout
    assert "empty_class" in res.stdout  # reported as skipped

    for name in ("model.keras", "model.tflite", "card.json", "plot.png", "report.txt", "report.json", "confusion.png"):
        assert (model / name).is_file() and (model / name).stat().st_size > 0, name
    assert cv2.imread(str(plot)) is not None and cv2.imread(str(model / "confusion.png")) is not None
    card = json.loads((model / "card.json").read_text())
    assert card["task"] == "mask" and card["labels"] == ["with_mask", "without_mask"]
    assert card["input_size"] == 64 and card["dataset"]["counts"] == {"with_mask": 10, "without_mask": 10}
    assert card["dataset"]["skipped"] == {"unreadable": 1, "not an image": 1}
    assert 0 <= card["metrics"]["test_accuracy"] <= 1 and "train_mask_detector.py" in card["command"]
    assert "accuracy" in json.loads((model / "report.json").read_text())
    assert not list(tmp_path.glob(".model*")), "no temp or checkpoint folders left behind"

    # Continuing from it, or averaging it in, at another input size is refused, naming the difference.
    for flag in ("--init-model", "--ensemble"):
        res = run_script("train_mask_detector.py", "-d", data, "-m", tmp_path / "m2", flag, model,
                         "-s", "96", "-e", "0", "--fine-tune-epochs", "1")
        assert res.returncode != 0 and "Traceback" not in res.stderr
        assert "does not match" in res.stderr and "input_size" in res.stderr and flag in res.stderr
    assert not (tmp_path / "m2").exists()

    # Continuing it at its own size works, and the new card says what it started from.
    res = run_script("train_mask_detector.py", "-d", data, "-m", tmp_path / "m3", "--init-model", model,
                     "-s", "64", "-e", "0", "--fine-tune-epochs", "1", "-b", "8", "--class-weights", "sqrt",
                     "--tta", "flip-zoom", "--ensemble", model)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    card3 = json.loads((tmp_path / "m3" / "card.json").read_text())
    training = card3["training"]
    assert training["class_weights"] == "sqrt" and training["epochs_head"] == 0
    assert training["started_from"]["command"] == card["command"]
    assert training["started_from"]["test_accuracy"] == card["metrics"]["test_accuracy"]

    # --tta flip-zoom --ensemble: the exported file averages both networks over four views, so it answers
    # the same for a face and its mirror image; the plain one does not.
    from facekit.heads import Head

    assert card["tta"] == ["face"] and card["ensemble"] == []
    assert card3["tta"] == ["face", "mirror", "zoom", "zoom mirror"]
    assert card3["ensemble"][0]["command"] == card["command"] and "2 such network(s)" in card3["architecture"]
    face = cv2.imread(str(media / "example_01.png"))[60:200, 300:434]  # around the face YuNet finds

    def mirror_gap(head):
        a, b = head.predict([face, face[:, ::-1]])
        return max(abs(a.probabilities[k] - b.probabilities[k]) for k in head.labels)

    assert mirror_gap(Head.load(model)) > 1e-4
    assert mirror_gap(Head.load(tmp_path / "m3")) < 1e-5

    # The freshly trained model reloads and serves the image CLI.
    out = tmp_path / "r.json"
    res = run_script("detect_mask_image.py", "-i", media / "example_01.png", "-m", model, "-j", out, "--no-display")
    assert res.returncode == 0, res.stderr
    face = json.loads(out.read_text())["faces"][0]
    assert set(face["mask"]["probabilities"]) == {"with_mask", "without_mask"}


def _fails_cleanly(res, needle):
    assert res.returncode != 0, res.stdout[-2000:]
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    assert needle in res.stderr, res.stderr[-2000:]


def test_missing_model_folders_refused(datasets, tmp_path):
    data = small_mask_set(datasets, tmp_path / "data", 3)
    for flag in ("--init-model", "--ensemble"):
        res = run_script("train_mask_detector.py", "-d", data, "-m", tmp_path / "m", flag, tmp_path / "nope",
                         "-e", "0", "--fine-tune-epochs", "1")
        _fails_cleanly(res, f"{flag} {tmp_path / 'nope'}: no such model folder")
    assert not (tmp_path / "m").exists()


def test_width_without_weights_refused(datasets, tmp_path):
    # The mirror has ImageNet weights for alpha 1.0 only; other widths come from Keras' download, which
    # is made to fail here (a closed proxy port, an empty Keras cache) whether or not there is internet.
    data = small_mask_set(datasets, tmp_path / "data", 3)
    env = {"KERAS_HOME": str(tmp_path / "keras"), "https_proxy": "http://127.0.0.1:9",
           "HTTPS_PROXY": "http://127.0.0.1:9"}
    res = run_script("train_mask_detector.py", "-d", data, "-m", tmp_path / "m", "--alpha", "0.5", "-s", "64",
                     "-e", "1", "--fine-tune-epochs", "0", env=env)
    _fails_cleanly(res, "MobileNetV2 ImageNet weights for --alpha 0.5 are not in the asset mirror")
    assert not (tmp_path / "m").exists()


def test_one_class_dataset_refused(datasets, tmp_path):
    data = small_mask_set(datasets, tmp_path / "data", 3)
    shutil.rmtree(data / "without_mask")
    _fails_cleanly(run_script("train_mask_detector.py", "-d", data, "-m", tmp_path / "m", *QUICK),
                   "need at least 2 class folders")


def test_missing_dataset_and_output_folder(tmp_path):
    _fails_cleanly(run_script("train_mask_detector.py", "-d", tmp_path / "nope"), "dataset folder not found")
    (tmp_path / "d" / "a").mkdir(parents=True)
    (tmp_path / "d" / "b").mkdir()
    _fails_cleanly(run_script("train_mask_detector.py", "-d", tmp_path / "d", "-m", tmp_path / "x" / "y" / "m"),
                   "does not exist")


def test_test_dataset_with_other_classes_is_named(datasets, tmp_path):
    data = small_mask_set(datasets, tmp_path / "data", 4)
    test = small_mask_set(datasets, tmp_path / "test", 2)
    (test / "with_mask").rename(test / "masked")
    _fails_cleanly(run_script("train_mask_detector.py", "-d", data, "--test-dataset", test, "-m", tmp_path / "m",
                              *QUICK), "masked")


def test_ctrl_c_keeps_previous_model_and_resume_checks_the_checkpoint(datasets, tmp_path):
    data = small_mask_set(datasets, tmp_path / "data", 16)
    model = tmp_path / "model"
    model.mkdir()
    (model / "card.json").write_text('{"previous": true}')
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    args = [sys.executable, str(ROOT / "train_mask_detector.py"), "-d", str(data), "-m", str(model),
            "-s", "64", "-e", "1", "--fine-tune-epochs", "3", "--fine-tune-lr", "1e-4", "-b", "8"]
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen, deadline = [], time.time() + 240
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("Epoch 2/3"):  # the head epoch and fine-tune epoch 1 are done and checkpointed
            proc.send_signal(signal.SIGINT)
            break
        assert time.time() < deadline, "".join(seen)
    rest = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, "".join(seen) + rest
    assert "Traceback" not in rest
    assert "stopping after this batch" in rest  # TF is never interrupted mid-step
    assert json.loads((model / "card.json").read_text()) == {"previous": True}, "old model must be intact"
    assert not list(tmp_path.glob(".model.*.part")), "no half-written model folder"
    assert (tmp_path / ".model.checkpoint" / "state.json").is_file()

    # Resuming with another input size is refused; with the same settings it finishes the run.
    _fails_cleanly(run_script("train_mask_detector.py", "-d", data, "-m", model, "-s", "96", "-e", "3",
                              "--fine-tune-epochs", "1", "-b", "8", "--resume"), "cannot resume")
    res = run_script("train_mask_detector.py", *args[2:], "--resume")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "resuming after 1 head epoch(s) and 1 fine-tune epoch(s)" in res.stdout
    assert json.loads((model / "card.json").read_text())["task"] == "mask"

    # The resumed run goes on along the same cosine curve: each fine-tune epoch ends at the rate an
    # uninterrupted run would have (a restarted schedule would end epoch 2 near the half-way rate).
    lines = [ln for ln in "".join(seen).splitlines() + res.stdout.splitlines() if "learning_rate:" in ln]
    assert len(lines) == 4, lines  # head, fine 1 before the stop, fine 2 and 3 after it
    steps = int(re.match(r"\s*(\d+)/\1 ", lines[1]).group(1))
    rates = [float(re.search(r"learning_rate: (\S+)", ln).group(1)) for ln in lines[1:]]
    want = [cosine_lr(1e-4, k * steps - 1, 3 * steps) for k in (1, 2, 3)]
    assert rates == pytest.approx(want, rel=2e-3), (rates, want)


def test_class_weights_balance_rare_classes_and_sqrt_softens_them():
    import numpy as np

    from facekit.training import class_weights

    y = np.array([0] * 90 + [1] * 10)
    balanced, soft = class_weights(y, 2, "balanced"), class_weights(y, 2, "sqrt")
    assert balanced[1] / balanced[0] == pytest.approx(9.0)  # each class carries the same total weight
    assert soft[1] / soft[0] == pytest.approx(3.0)
    assert class_weights(y, 2, "none") is None
    assert class_weights(np.array([0, 0]), 3, "balanced")[2] > 0  # a class with no images: no division by 0


def test_batchnorm_is_fine_tuned_only_when_asked():
    import keras

    from facekit.training import build_model, set_fine_tune

    for train_bn in (False, True):
        model, base = build_model(3, 32, alpha=0.35, weights=None, train_batchnorm=train_bn)
        set_fine_tune(base, "block_16_expand", batchnorm=train_bn)
        top = base.layers[[layer.name for layer in base.layers].index("block_16_expand"):]
        bns = [layer for layer in top if isinstance(layer, keras.layers.BatchNormalization)]
        assert bns and all(layer.trainable == train_bn for layer in bns)
        assert not any(layer.trainable for layer in base.layers[:10])
        assert all(layer.momentum == (0.99 if train_bn else 0.999) for layer in bns)


def test_cosine_lr_is_keras_cosine_decay():
    import keras

    keras_curve = keras.optimizers.schedules.CosineDecay(3e-4, 1000, alpha=0.05)
    for step in (0, 1, 250, 500, 999, 1000, 1500):
        assert cosine_lr(3e-4, step, 1000) == pytest.approx(float(keras_curve(step)), rel=1e-5)
