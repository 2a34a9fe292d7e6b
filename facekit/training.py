"""Fine-tune MobileNetV2 (ImageNet weights) on any folder-per-class dataset.

Recipe (keras-io transfer-learning guide): pixel scaling inside the model; train a new head on the
frozen base, then unfreeze the top of the base and fine-tune at a low rate with BatchNorm kept in
inference mode. Images go through `facekit.preprocess` exactly as they do at inference.

TensorFlow / Keras are imported inside the functions that need them, so that importing this module
(e.g. for `--help`) stays fast.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DatasetError, ImageError, ModelError
from .heads import CARD, KERAS, TFLITE, ModelCard
from .preprocess import CropSpec, crop_face, crop_region, list_images, load_image, to_model_input
from .records import make_ordinary

SEED = 42
# Test-time augmentation: the views of a face that the exported model averages its prediction over.
# "zoom" is the centre 11/12 of the crop scaled back up, a view the training zoom augmentation covers.
# On the FER2013 validation split the emotion network gains 1.1 points from the mirror and 1.1 more
# from the zoomed pair (66.3 -> 67.4 -> 68.5%; test 67.1 -> 68.2 -> 68.7%).
TTA_VIEWS = {"none": ("face",), "flip": ("face", "mirror"), "flip-zoom": ("face", "mirror", "zoom", "zoom mirror")}

# Task names and display conventions for the datasets this project knows.
KNOWN_TASKS = {
    frozenset({"with_mask", "without_mask"}): "mask",
    frozenset({"angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"}): "emotion",
    frozenset({"man", "woman"}): "gender",
}
DISPLAY = {
    "mask": ({"with_mask": "Mask", "without_mask": "No Mask"},
             {"with_mask": [0, 255, 0], "without_mask": [0, 0, 255]}),
    "gender": ({"man": "Man", "woman": "Woman"}, {}),
}


@dataclass
class TrainConfig:
    dataset: Path
    output: Path
    test_dataset: Path | None = None
    task: str | None = None
    input_size: int = 128
    color: str = "rgb"
    batch_size: int = 32
    epochs: int = 5  # head-only phase
    fine_tune_epochs: int = 5
    fine_tune_at: str = "block_13_expand"  # first base layer made trainable in phase 2
    learning_rate: float = 1e-3
    fine_tune_learning_rate: float = 1e-4
    alpha: float = 1.0
    crop: CropSpec = field(default_factory=lambda: CropSpec(margin=0.0, square=True))
    face_crops: str = "none"  # "none": images are crops; "detect": crop the largest detected face
    detector: str = "yunet"
    val_split: float = 0.1
    test_split: float = 0.2
    max_per_class: int | None = None
    synth_masks: int = 0  # synthetic-mask copies of each training without_mask face
    augment: str = "strong"  # none | basic | strong
    class_weights: str = "balanced"  # balanced | sqrt | none
    resume: bool = False
    train_batchnorm: bool = False  # fine-tune BatchNorm statistics too (big data far from ImageNet)
    init_model: Path | None = None  # continue from this trained model folder (same task, classes, size)
    tta: str = "none"  # views of each face the exported model averages over (see TTA_VIEWS)
    ensemble: tuple[Path, ...] = ()  # other trained model folders whose networks the export averages in
    plot: Path | None = None
    command: str = ""


# ---------------------------------------------------------------------------------------------
# data


@dataclass
class Dataset:
    x: np.ndarray  # uint8 (N, S, S, 3)
    y: np.ndarray  # int (N,)
    labels: list[str]
    paths: list[str]
    skipped: dict[str, int]  # reason -> count
    crops_detected: int = 0
    keypoints: np.ndarray | None = None  # (N, 5, 2) detector key points in model-input px; NaN if none


def class_folders(root: Path) -> list[Path]:
    if not root.exists():
        raise DatasetError(f"dataset folder not found: {root}")
    if not root.is_dir():
        raise DatasetError(f"dataset must be a folder with one sub-folder per class: {root}")
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def load_dataset(root: Path, size: int, color: str, crop: CropSpec, face_crops: str = "none",
                 detector_name: str = "yunet", labels: list[str] | None = None,
                 max_per_class: int | None = None, keypoints: bool = False, log=print) -> Dataset:
    """Read a folder-per-class dataset through the shared preprocessing.

    `labels` fixes the class order (for a test set that must match training); empty class folders
    and unreadable files are skipped and counted.
    """
    folders = class_folders(root)
    found = [f.name for f in folders]
    if labels is None:
        nonempty = []
        for f in folders:
            if list_images(f)[0]:
                nonempty.append(f.name)
            else:
                log(f"[WARN] class folder {f} has no images: skipped")
        labels = nonempty
        if len(labels) < 2:
            raise DatasetError(f"{root}: need at least 2 class folders with images, found {len(labels)} "
                               f"({', '.join(found) or 'none'})")
    else:
        extra = sorted(set(found) - set(labels))
        if extra:
            raise DatasetError(f"{root}: class folders {extra} are not among the training classes {labels}")
        missing = [lab for lab in labels if lab not in found]
        if missing:
            log(f"[WARN] {root}: no folder for class(es) {missing}; they are reported with 0 support")

    detector = None
    if face_crops == "detect" or keypoints:
        from .detection import create_detector

        # Key points (for synthetic masks) come from YuNet, whatever detector crops the faces.
        detector = create_detector("yunet" if keypoints else detector_name, 0.5)

    xs, ys, paths, kps_all = [], [], [], []
    skipped = {"unreadable": 0, "not an image": 0}
    detected = 0
    for idx, label in enumerate(labels):
        folder = root / label
        if not folder.is_dir():
            continue
        files, others = list_images(folder)
        skipped["not an image"] += others
        if max_per_class:
            files = files[:max_per_class]
        for path in files:
            try:
                image = load_image(path)
            except ImageError:
                skipped["unreadable"] += 1
                continue
            kps = np.full((5, 2), np.nan, dtype=np.float32)
            if detector is not None:
                faces = detector.detect(image)
                if faces:
                    biggest = max(faces, key=lambda f: f.box.area)
                    if biggest.detector_keypoints is not None:
                        kps = biggest.detector_keypoints.astype(np.float32)
                    if face_crops == "detect":
                        x1, y1, x2, y2 = crop_region(biggest.box, crop)
                        image = crop_face(image, biggest.box, crop)
                        kps = (kps - (x1, y1)) * (size / (x2 - x1), size / (y2 - y1))
                        detected += 1
                    else:
                        kps = kps * (size / image.shape[1], size / image.shape[0])
            kps_all.append(kps)
            xs.append(to_model_input(image, size, color)[0])
            ys.append(idx)
            paths.append(str(path))
    if skipped["unreadable"] or skipped["not an image"]:
        log(f"[WARN] {root}: skipped {skipped['unreadable']} unreadable image(s) and "
            f"{skipped['not an image']} non-image file(s)")
    if not xs:
        raise DatasetError(f"{root}: no readable images")
    return Dataset(np.stack(xs), np.array(ys, dtype=np.int64), labels, paths, skipped, detected,
                   np.stack(kps_all) if keypoints else None)


def add_synthetic_masks(x: np.ndarray, y: np.ndarray, kps: np.ndarray, labels: list[str], copies: int,
                        source: str = "without_mask", target: str = "with_mask", seed: int = SEED):
    """`copies` synthetic-mask versions of every `source` image that has key points, labelled `target`."""
    from .synthmask import draw_mask

    if source not in labels or target not in labels:
        raise DatasetError(f"--synth-masks needs classes {source!r} and {target!r}; this dataset has {labels}")
    rng = np.random.default_rng(seed)
    src = [i for i in np.flatnonzero(y == labels.index(source)) if not np.isnan(kps[i]).any()]
    new = [draw_mask(x[i], kps[i], rng) for i in src for _ in range(copies)]
    if not new:
        return x, y, 0
    return (np.concatenate([x, np.stack(new)]), np.concatenate([y, np.full(len(new), labels.index(target))]),
            len(new))


def split_indices(y: np.ndarray, val: float, test: float, seed: int = SEED):
    """Stratified train / validation / test indices with a fixed seed; every part gets at least one
    image per class, so small datasets split too (or fail with a clear message)."""
    from sklearn.model_selection import train_test_split

    k, n = len(np.unique(y)), len(y)
    # Sizes rounded up, as sklearn rounds a fractional test_size: the split models were trained on
    # stays the split the benches rebuild.
    n_test = max(k, math.ceil(test * n)) if test > 0 else 0
    n_val = max(k, math.ceil(val / (1 - test) * (n - n_test)))
    if n - n_test - n_val < k:
        raise DatasetError(f"{n} images are too few to split into train / validation / test for {k} classes")
    idx = np.arange(n)
    test_idx = np.array([], dtype=np.int64)
    if n_test:
        idx, test_idx = train_test_split(idx, test_size=n_test, stratify=y, random_state=seed)
    train_idx, val_idx = train_test_split(idx, test_size=n_val, stratify=y[idx], random_state=seed)
    return np.sort(train_idx), np.sort(val_idx), np.sort(test_idx)


# ---------------------------------------------------------------------------------------------
# model


def class_weights(y: np.ndarray, num_classes: int, mode: str) -> dict[int, float] | None:
    """Loss weight per class index: "balanced" (inverse frequency, mean 1), "sqrt" of that, or "none".

    sqrt keeps a rare class (FER2013's disgust: 1.5% of the images, weight 9.4 balanced, 3.1 sqrt)
    from being over-predicted, which full inverse-frequency weights do at a cost in overall accuracy.
    """
    if mode == "none":
        return None
    if mode not in ("balanced", "sqrt"):
        raise ValueError(f"class weights {mode!r}: choose balanced, sqrt or none")
    freq = np.bincount(y, minlength=num_classes).astype(np.float64)
    balanced = len(y) / (num_classes * np.maximum(freq, 1))
    weights = np.sqrt(balanced) if mode == "sqrt" else balanced
    return {i: float(w) for i, w in enumerate(weights)}


def build_model(num_classes: int, size: int, alpha: float = 1.0, weights: str | None = "imagenet",
                train_batchnorm: bool = False, name: str = "facekit_mobilenetv2"):
    """Rescaling -> MobileNetV2 base -> pooling -> dropout -> softmax. Input: RGB 0..255 floats."""
    import keras

    if weights == "imagenet":
        from . import assets

        # A file path loads the same weights for any input size (Keras would only fetch 224's).
        weights = str(assets.resolve("mobilenet_v2_imagenet")) if alpha == 1.0 else "imagenet"
    try:
        base = keras.applications.MobileNetV2(input_shape=(size, size, 3), include_top=False, weights=weights,
                                              alpha=alpha)
    except Exception as exc:  # Keras raises a bare Exception when its download fails
        if weights != "imagenet":
            raise
        raise ModelError(f"MobileNetV2 ImageNet weights for --alpha {alpha} are not in the asset mirror (it has "
                         f"alpha 1.0) and Keras could not download them: {str(exc).splitlines()[0][:160]}") from None
    base.trainable = False
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="scale_to_pm1")(inputs)
    # BatchNorm stays in inference mode, also when fine-tuning (the keras-io recipe for small sets),
    # unless the data is large and far from ImageNet (FER2013's 48 px gray faces), where the
    # ImageNet statistics hold the fine-tuned network back; then trainable BatchNorm layers learn.
    x = base(x) if train_batchnorm else base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(0.3, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name), base


def averaged(networks: list, views: tuple[str, ...], size: int):
    """The model the TFLite file holds: the mean of every network's prediction on every view of the
    face (TTA_VIEWS), one file with each network's weights once. Faces are left-right symmetric and
    framed a little differently by each detector; the networks' errors are not."""
    import keras

    if len(networks) == 1 and views == ("face",):
        return networks[0]
    inputs = keras.Input((size, size, 3), name="image")
    side = size - 2 * round(size / 24)
    top = (size - side) // 2

    def view(name):
        x = inputs
        if name.startswith("zoom"):
            x = keras.ops.image.resize(x[:, top:top + side, top:top + side, :], (size, size), interpolation="bilinear")
        if name.endswith("mirror"):
            x = keras.ops.flip(x, axis=2)
        return x

    # The views go through each network as one batch: XNNPACK runs a batch of 4 faces in ~half the
    # time of 4 single-face passes (emotion, 2 networks x 4 views: 5.8 -> ~3 ms a face).
    batch = keras.ops.concatenate([view(v) for v in views], axis=0) if len(views) > 1 else inputs
    outputs = []
    for net in networks:
        probs = net(batch)
        outputs.append(keras.ops.mean(keras.ops.reshape(probs, (len(views), -1, probs.shape[-1])), axis=0))
    if len(outputs) > 1:
        outputs = [keras.layers.Average(name="average")(outputs)]
    return keras.Model(inputs, outputs[0], name="facekit_averaged")


def set_fine_tune(base, first_layer: str, batchnorm: bool = False) -> int:
    """Make `first_layer` and everything above it trainable (BatchNorm layers too only if `batchnorm`)."""
    import keras

    names = [layer.name for layer in base.layers]
    if first_layer not in names:
        raise DatasetError(f"--fine-tune-at {first_layer!r} is not a MobileNetV2 layer")
    start = names.index(first_layer)
    base.trainable = True
    count = 0
    for i, layer in enumerate(base.layers):
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = i >= start and (batchnorm or not is_bn)
        if is_bn and layer.trainable:
            layer.momentum = 0.99  # MobileNetV2's 0.999 would take thousands of steps to adopt new statistics
        count += int(layer.trainable)
    return count


def augmenter(kind: str, size: int):
    """Augmentation applied to training batches only (never part of the saved model)."""
    import keras
    import tensorflow as tf

    if kind == "none":
        return None
    layers = [
        keras.layers.RandomFlip("horizontal"),
        keras.layers.RandomRotation(0.04, fill_mode="reflect"),
        keras.layers.RandomZoom((-0.15, 0.15), fill_mode="reflect"),
        keras.layers.RandomTranslation(0.06, 0.06, fill_mode="reflect"),
        keras.layers.RandomBrightness(0.2, value_range=(0, 255)),
        keras.layers.RandomContrast(0.3),
    ]
    if kind == "strong":
        # The pasted-on masks of the mask set are all one light blue: colour, blur and low-resolution
        # jitter keep the model from learning "light blue = mask" and help on small real crops.
        layers += [
            keras.layers.RandomHue(0.5, value_range=(0, 255)),
            keras.layers.RandomSaturation((0.2, 0.8), value_range=(0, 255)),
            keras.layers.RandomGrayscale(0.15),
            keras.layers.RandomGaussianBlur(0.3, kernel_size=5, sigma=1.0, value_range=(0, 255)),
        ]
    pipeline = keras.Sequential(layers, name="augment")

    def low_res(x):
        # Down- and up-sample a random share of the batch, as faces far from the camera look.
        n = tf.shape(x)[0]
        small = tf.random.uniform([], size // 6, size, dtype=tf.int32)
        degraded = tf.image.resize(tf.image.resize(x, [small, small], antialias=True), [size, size])
        pick = tf.random.uniform([n, 1, 1, 1]) < (0.3 if kind == "strong" else 0.0)
        return tf.where(pick, degraded, x)

    def apply(x, training=True):
        x = pipeline(x, training=True)
        return tf.clip_by_value(low_res(x), 0.0, 255.0)

    return apply


def make_tf_dataset(x, y, batch, augment=None, shuffle=False, num_classes=2):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=SEED, reshuffle_each_iteration=True)
    ds = ds.batch(batch).map(lambda a, b: (tf.cast(a, tf.float32), b), num_parallel_calls=tf.data.AUTOTUNE)
    if augment is not None:
        ds = ds.map(lambda a, b: (augment(a), b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------------------------------------
# training run


def task_name(labels: list[str], dataset: Path) -> str:
    known = KNOWN_TASKS.get(frozenset(labels))
    if known:
        return known
    name = dataset.name if dataset.name not in ("train", "training") else dataset.parent.name
    return name.replace(" ", "_").lower() or "task"


def train(cfg: TrainConfig) -> dict:
    """Run a whole training; returns the card dict. Everything is written to a temp folder beside
    the output and moved into place at the end, so an interrupted run leaves the old model intact."""
    log = _log
    t_start = time.perf_counter()
    log(f"[INFO] loading images from {cfg.dataset}...")
    data = load_dataset(cfg.dataset, cfg.input_size, cfg.color, cfg.crop, cfg.face_crops, cfg.detector,
                        max_per_class=cfg.max_per_class, keypoints=cfg.synth_masks > 0, log=log)
    labels = data.labels
    counts = {lab: int((data.y == i).sum()) for i, lab in enumerate(labels)}
    log(f"[INFO] {len(data.y)} images in {len(labels)} classes: {counts}")
    if cfg.face_crops == "detect":
        log(f"[INFO] face found and cropped in {data.crops_detected} of {len(data.y)} images")
    if min(counts.values()) < 3:
        raise DatasetError(f"{cfg.dataset}: every class needs at least 3 images to split, got {counts}")

    if cfg.test_dataset:
        log(f"[INFO] loading test images from {cfg.test_dataset}...")
        test = load_dataset(cfg.test_dataset, cfg.input_size, cfg.color, cfg.crop, cfg.face_crops, cfg.detector,
                            labels=labels, log=log)
        x_test, y_test = test.x, test.y
        tr, va, _ = split_indices(data.y, cfg.val_split, 0.0)
    else:
        tr, va, te = split_indices(data.y, cfg.val_split, cfg.test_split)
        x_test, y_test = data.x[te], data.y[te]
    x_tr, y_tr, x_va, y_va = data.x[tr], data.y[tr], data.x[va], data.y[va]
    log(f"[INFO] split: {len(y_tr)} train, {len(y_va)} validation, {len(y_test)} test")
    n_synth = 0
    if cfg.synth_masks:
        # Only training images are drawn on: validation and test stay real photos.
        x_tr, y_tr, n_synth = add_synthetic_masks(x_tr, y_tr, data.keypoints[tr], labels, cfg.synth_masks)
        log(f"[INFO] added {n_synth} synthetic-mask training images")
    task = cfg.task or task_name(labels, cfg.dataset)

    import keras  # ~4 s: only now that the data is known to be usable

    keras.utils.set_random_seed(SEED)
    output = cfg.output
    if not output.parent.is_dir():
        raise DatasetError(f"output folder does not exist: {output.parent}")
    ckpt_dir = output.parent / f".{output.name}.checkpoint"
    signature = {"task": task, "labels": labels, "input_size": cfg.input_size, "color": cfg.color,
                 "alpha": cfg.alpha}
    state = _load_checkpoint_state(ckpt_dir, signature) if cfg.resume else None

    log("[INFO] building MobileNetV2 with ImageNet weights...")
    model, base = build_model(len(labels), cfg.input_size, cfg.alpha, train_batchnorm=cfg.train_batchnorm)
    if cfg.init_model is not None:
        _load_trained(model, cfg.init_model, signature, "--init-model")
        log(f"[INFO] starting from the weights of {cfg.init_model}")
    members = []  # checked before training, not after it
    for i, folder in enumerate(cfg.ensemble):
        member, _ = build_model(len(labels), cfg.input_size, cfg.alpha, weights=None, name=f"member_{i + 1}")
        _load_trained(member, folder, signature, "--ensemble")
        members.append(member)
    augment = augmenter(cfg.augment, cfg.input_size)
    train_ds = make_tf_dataset(x_tr, y_tr, cfg.batch_size, augment, shuffle=True)
    val_ds = make_tf_dataset(x_va, y_va, cfg.batch_size)
    class_weight = class_weights(y_tr, len(labels), cfg.class_weights)

    history: dict[str, list[float]] = {"accuracy": [], "val_accuracy": [], "loss": [], "val_loss": []}
    done_head, done_fine = 0, 0
    if state:
        model.load_weights(ckpt_dir / "weights.weights.h5")  # same variables whatever is trainable
        history = state["history"]
        done_head, done_fine = state["done_head"], state["done_fine"]
        log(f"[INFO] resuming after {done_head} head epoch(s) and {done_fine} fine-tune epoch(s)")

    ckpt_dir.mkdir(exist_ok=True)
    (ckpt_dir / "signature.json").write_text(json.dumps(signature))

    def fit(phase, epochs, done, lr):
        if done >= epochs:
            return done
        model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        counter = {"done": done, "epoch": done}
        stop = _GracefulStop()
        steps = len(train_ds)

        class Checkpoint(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                counter["epoch"] = epoch

            def on_train_batch_begin(self, batch, logs=None):
                # Set from the absolute step, so a resumed run goes on along the same curve instead of
                # climbing back to the peak rate (a Keras schedule restarts with the fresh optimizer).
                if phase == "fine":
                    self.model.optimizer.learning_rate.assign(
                        cosine_lr(lr, counter["epoch"] * steps + batch, epochs * steps))

            def on_train_batch_end(self, batch, logs=None):
                if stop.requested:
                    self.model.stop_training = True

            def on_epoch_end(self, epoch, logs=None):
                if stop.requested:  # Keras ends a stopped epoch too; half an epoch is not a finished one
                    return
                if logs is not None:  # shown on the epoch's line: the rate its last step used
                    logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
                for k in history:
                    history[k].append(float(logs.get(k, float("nan"))))
                counter["done"] = epoch + 1
                _save_checkpoint(ckpt_dir, model, phase, history,
                                 done_head if phase == "fine" else counter["done"],
                                 counter["done"] if phase == "fine" else 0)

        with stop:
            model.fit(train_ds, validation_data=val_ds, epochs=epochs, initial_epoch=done,
                      class_weight=class_weight, callbacks=[Checkpoint()], verbose=_verbosity(), shuffle=False)
        if stop.requested:
            raise KeyboardInterrupt
        return counter["done"]

    log(f"[INFO] training head ({cfg.epochs} epochs, base frozen)...")
    done_head = fit("head", cfg.epochs, done_head, cfg.learning_rate)
    fine_start = done_head  # history holds the head epochs first, whether or not this run resumed
    if cfg.fine_tune_epochs > 0:
        n = set_fine_tune(base, cfg.fine_tune_at, cfg.train_batchnorm)
        log(f"[INFO] fine-tuning top of the base from {cfg.fine_tune_at} ({n} layers, "
            f"{cfg.fine_tune_epochs} epochs, lr {cfg.fine_tune_learning_rate:g})...")
        fit("fine", cfg.fine_tune_epochs, done_fine, cfg.fine_tune_learning_rate)
    train_secs = time.perf_counter() - t_start

    views = TTA_VIEWS[cfg.tta]
    served = averaged([model, *members], views, cfg.input_size)  # what the TFLite file will compute
    n_nets = 1 + len(members)
    log("[INFO] evaluating network" + (f" (mean of {n_nets} network(s) x {len(views)} view(s))..."
                                       if served is not model else "..."))
    probs = served.predict(x_test.astype(np.float32), batch_size=64, verbose=0) if len(x_test) else np.zeros((0, 1))
    from .evaluation import confusion_png, report, training_plot

    rep_text, rep = report(y_test, probs, labels)
    print(rep_text)

    display, colors = DISPLAY.get(task, ({}, {}))
    card = ModelCard(
        task=task, labels=labels, input_size=cfg.input_size, color=cfg.color, crop=cfg.crop,
        display=display, colors={k: tuple(v) for k, v in colors.items()},
        extra={
            "architecture": f"MobileNetV2 (alpha {cfg.alpha}, ImageNet weights) + global average pool + "
                            f"dropout 0.3 + dense softmax" + (
                                f"; the TFLite file averages {n_nets} such network(s) over the view(s) "
                                f"{', '.join(views)} ({KERAS} holds the first network)" if served is not model else ""),
            "tta": list(views),
            "ensemble": [_lineage(folder) for folder in cfg.ensemble],
            "preprocessing": "facekit.preprocess: crop_face(box, crop) -> resize to input_size (INTER_AREA when "
                             "shrinking) -> RGB uint8" + (" -> grayscale x3" if cfg.color == "gray" else "") +
                             "; scaling to [-1, 1] is inside the model",
            "input": {"dtype": "float32", "range": [0, 255], "channels": "RGB", "shape": [cfg.input_size] * 2 + [3]},
            "dataset": {"path": str(cfg.dataset), "counts": counts, "skipped": data.skipped,
                        "face_crops": cfg.face_crops, "synthetic_masks": n_synth,
                        "test": str(cfg.test_dataset) if cfg.test_dataset else
                        f"stratified {cfg.test_split:.0%} of the dataset (seed {SEED})",
                        "split": {"train": int(len(y_tr)), "validation": int(len(y_va)), "test": int(len(y_test))}},
            "training": {"epochs_head": cfg.epochs, "epochs_fine_tune": cfg.fine_tune_epochs,
                         "fine_tune_at": cfg.fine_tune_at, "train_batchnorm": cfg.train_batchnorm,
                         "lr": cfg.learning_rate,
                         "lr_fine_tune": cfg.fine_tune_learning_rate, "batch_size": cfg.batch_size,
                         "augment": cfg.augment, "class_weights": cfg.class_weights,
                         "wall_seconds": round(train_secs, 1), "cpu_count": os.cpu_count(),
                         **({"started_from": _lineage(cfg.init_model)} if cfg.init_model else {})},
            "metrics": {"test_accuracy": rep.get("accuracy"), "test_macro_f1": rep.get("macro avg", {}).get("f1-score"),
                        "per_class": {lab: rep.get(lab) for lab in labels},
                        "val_accuracy": history["val_accuracy"][-1] if history["val_accuracy"] else None},
            "command": cfg.command,
            "versions": _versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "files": {"tflite": TFLITE, "keras": KERAS, "plot": "plot.png", "report": "report.txt",
                      "confusion": "confusion.png"},
        },
    )

    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".part", dir=output.parent))
    try:
        log(f"[INFO] saving model to {output}...")
        model.save(tmp / KERAS)
        export_tflite(served, tmp / TFLITE)
        _check_tflite(tmp / TFLITE, x_test[:8], probs[:8])
        (tmp / CARD).write_text(json.dumps(card.to_dict(), indent=2) + "\n")
        (tmp / "report.txt").write_text(rep_text + "\n")
        (tmp / "report.json").write_text(json.dumps(rep, indent=2) + "\n")
        confusion_png(y_test, probs, labels, tmp / "confusion.png", title=f"{task}: test confusion matrix")
        if not history["loss"] and cfg.init_model and (cfg.init_model / "plot.png").is_file():
            shutil.copyfile(cfg.init_model / "plot.png", tmp / "plot.png")  # no epochs here: the weights' own curves
        else:
            training_plot(history, tmp / "plot.png", fine_start=fine_start if cfg.fine_tune_epochs else None,
                          title=f"{task}: training loss and accuracy")
        make_ordinary(tmp)
        _replace_dir(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if cfg.plot:
        shutil.copyfile(output / "plot.png", cfg.plot)
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    log(f"[INFO] done in {time.perf_counter() - t_start:.0f}s: test accuracy "
        f"{rep.get('accuracy', float('nan')) * 100:.2f}%; model, card, plot and report in {output}")
    return card.to_dict()


class _GracefulStop:
    """Ctrl-C during `fit` stops after the current batch instead of at once: a KeyboardInterrupt
    raised while TensorFlow's threads are mid-step can abort the process with heap corruption
    ("free(): invalid next size", seen in CI), where the finished epochs' checkpoint is safe anyway.
    A second Ctrl-C stops at once."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\n[INFO] stopping after this batch (Ctrl-C again to stop at once)...", file=sys.stderr, flush=True)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():  # signals reach only the main thread
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def export_tflite(model, path: Path, fp16: bool = True) -> None:
    """Keras -> TFLite for LiteRT inference; fp16 weights halve the file at no measurable cost."""
    import tensorflow as tf

    kwargs = {}
    if fp16:
        kwargs = {"optimizations": [tf.lite.Optimize.DEFAULT], "target_spec": {"supported_types": [tf.float16]}}
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints a line per saved artifact
        model.export(str(path), format="litert", verbose=False, **kwargs)


def _check_tflite(path: Path, x: np.ndarray, expected: np.ndarray) -> None:
    """The exported model must agree with Keras before it replaces anything."""
    if not len(x):
        return
    from .heads import load_interpreter

    interp = load_interpreter(path)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.resize_tensor_input(inp["index"], [len(x), *inp["shape"][1:]])
    interp.allocate_tensors()
    interp.set_tensor(inp["index"], x.astype(np.float32))
    interp.invoke()
    got = interp.get_tensor(out["index"])
    # fp16 weights move a probability by up to a few hundredths on a barely trained model (0.024 seen
    # in a smoke run); a broken export is off by far more.
    if np.abs(got - expected).max() > 0.1:
        raise ModelError(f"TFLite export disagrees with the Keras model (max diff {np.abs(got - expected).max():.3f})")


def _replace_dir(new: Path, target: Path) -> None:
    """Swap `new` into `target` with renames only: the old model is kept until the new one is in place."""
    if target.exists() and not target.is_dir():
        raise DatasetError(f"--model must name a folder; {target} is a file")
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def cosine_lr(peak: float, step: int, total: int, alpha: float = 0.05) -> float:
    """Cosine decay from `peak` to `alpha * peak` over `total` steps: big steps while far from the optimum,
    tiny ones at the end (the same curve as keras.optimizers.schedules.CosineDecay)."""
    t = min(step, total) / max(1, total)
    return peak * (alpha + (1 - alpha) * 0.5 * (1 + math.cos(math.pi * t)))


def _save_checkpoint(ckpt_dir: Path, model, phase: str, history, done_head: int, done_fine: int) -> None:
    tmp = ckpt_dir / "weights.tmp.weights.h5"
    model.save_weights(tmp)
    os.replace(tmp, ckpt_dir / "weights.weights.h5")
    state = {"phase": phase, "done_head": done_head, "done_fine": done_fine, "history": history}
    (ckpt_dir / "state.tmp.json").write_text(json.dumps(state))
    os.replace(ckpt_dir / "state.tmp.json", ckpt_dir / "state.json")


def _load_checkpoint_state(ckpt_dir: Path, signature: dict) -> dict | None:
    if not (ckpt_dir / "state.json").exists():
        _log(f"[INFO] no checkpoint at {ckpt_dir}: starting from scratch")
        return None
    saved = json.loads((ckpt_dir / "signature.json").read_text())
    if saved != signature:
        diff = {k: (saved.get(k), v) for k, v in signature.items() if saved.get(k) != v}
        raise ModelError(f"cannot resume: the checkpoint in {ckpt_dir} is for another task or size {diff}")
    return json.loads((ckpt_dir / "state.json").read_text())


def _lineage(folder: Path) -> dict:
    """What a model continued with --init-model started from, back to the first run: a card alone
    then says how to rebuild the model."""
    card = json.loads((folder / CARD).read_text())
    training = card.get("training", {})
    earlier = training.get("started_from") or training.get("previous_run")
    return {"folder": str(folder), "command": card.get("command"),
            "test_accuracy": card.get("metrics", {}).get("test_accuracy"),
            "epochs_fine_tune": training.get("epochs_fine_tune"), **({"started_from": earlier} if earlier else {})}


def _load_trained(model, folder: Path, signature: dict, flag: str) -> None:
    """Load a model facekit trained before into `model`; anything of another task, class list, size,
    colour mode or width is refused rather than silently half-loaded."""
    card_path, weights = folder / CARD, folder / KERAS
    if not weights.is_file():
        raise ModelError(f"{flag} {folder}: no {KERAS} there (committed models keep only the TFLite; retrain)")
    card = ModelCard.load(card_path)
    mine = {"task": card.task, "labels": card.labels, "input_size": card.input_size, "color": card.color}
    theirs = {k: signature[k] for k in mine}
    if mine != theirs:
        diff = {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]}
        raise ModelError(f"{flag} {folder} does not match this training run: {diff}")
    try:
        model.load_weights(weights)
    except ValueError as exc:  # the card does not record the width: a different --alpha shows up here
        raise ModelError(f"{flag} {folder}: its weights do not fit this network (another --alpha?): "
                         f"{str(exc).splitlines()[0][:120]}") from None


def _versions() -> dict:
    import cv2
    import keras
    import tensorflow as tf

    return {"python": sys.version.split()[0], "tensorflow": tf.__version__, "keras": keras.__version__,
            "opencv": cv2.__version__, "numpy": np.__version__}


def _verbosity():
    return 1 if sys.stdout.isatty() else 2


def _log(message: str) -> None:
    print(message, flush=True)
