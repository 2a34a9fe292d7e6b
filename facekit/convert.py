"""A Keras classifier saved outside facekit (the PyImageSearch tutorial's `mask_detector.model`, HDF5) made into a
head folder the scripts run: model.tflite with the tutorial's pixel scaling inside it, and a card.

Inference never imports TensorFlow (heads are TFLite files run by LiteRT), so an old .model / .h5 file cannot be
given to `--model` as it is; this is the one-off step between the two (`python -m facekit.convert`)."""

from __future__ import annotations

# `python -m facekit.convert`: a Ctrl-C in the imports below (numpy) is the command's one line and
# exit 130 (facekit.signals.start_guard; run_script ends it), not a KeyboardInterrupt traceback. So they come after.
# ruff: noqa: E402
if __name__ == "__main__":
    from facekit.signals import start_guard

    start_guard()

import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np

from .errors import ModelError
from .records import TEMP_SUFFIX, make_temp_dir, sweep_stale
from .heads import CARD, CARD_FORMAT, TFLITE, folder_task

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
MASK_LABELS = ("with_mask", "without_mask")  # the tutorial's LabelBinarizer order (alphabetical)
# What each --preprocess choice does to the 0-255 RGB crop the heads hand over, inside the exported model.
SCALINGS = {"mobilenet_v2": (1 / 127.5, -1.0), "unit": (1 / 255.0, 0.0), "none": (1.0, 0.0)}
SCALING_TEXT = {"mobilenet_v2": "x / 127.5 - 1 (keras.applications.mobilenet_v2.preprocess_input, the tutorial's)",
                "unit": "x / 255", "none": "the model takes 0-255 as it is"}


def keras_file_kind(path: Path) -> str | None:
    """'hdf5' or 'keras' (Keras 3's zip) for a file that holds a Keras model, 'savedmodel' for a TensorFlow
    SavedModel folder, else None. Read from the bytes: the tutorial's file is HDF5 named .model."""
    path = Path(path)
    if path.is_dir():
        return "savedmodel" if (path / "saved_model.pb").is_file() else None
    if path.exists() and not path.is_file():  # a named pipe's open() waits for a writer: the command hung
        return None
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return None
    if head == HDF5_SIGNATURE:
        return "hdf5"
    if head[:2] == b"PK" and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            return "keras" if "config.json" in z.namelist() else None
    return None


def suggested_folder(path: Path) -> Path:
    """A model folder's name for the converted `path`: mask_detector.model -> mask_detector."""
    path = Path(path)
    return path.with_suffix("") if path.suffix else path.with_name(f"{path.name}_head")


def build_pyimagesearch_mask(path: Path):
    """Rebuild the tutorial's TF 2.x model and copy the weights in from the h5 groups.

    Keras 3 cannot deserialize the TF 2.2 config, and load_weights' by-name matching does not apply
    either: PyImageSearch built the model as Model(baseModel.input, head), so the MobileNetV2 layers
    sit flat at the top level of the file. Each layer's weights are read from its group in the order
    the group's weight_names lists them, which is Keras' own order for every layer type here.
    """
    import h5py
    import keras
    from keras import layers

    base = keras.applications.MobileNetV2(input_shape=(224, 224, 3), include_top=False, weights=None)
    x = layers.AveragePooling2D(pool_size=(7, 7), name="average_pooling2d")(base.output)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, activation="relu", name="dense")(x)
    x = layers.Dropout(0.5, name="dropout")(x)
    x = layers.Dense(2, activation="softmax", name="dense_1")(x)
    model = keras.Model(base.input, x, name="pyimagesearch_mask")

    with h5py.File(path, "r") as h5:
        group = h5["model_weights"] if "model_weights" in h5 else h5
        stored = {n.decode() if isinstance(n, bytes) else n for n in group.attrs["layer_names"]}
        assigned = set()
        for layer in model.layers:
            if not layer.weights:
                continue
            if layer.name not in group:
                raise ValueError(f"{path.name}: no weights for layer {layer.name}")
            g = group[layer.name]
            names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs["weight_names"]]
            values = [np.asarray(g[n]) for n in names]
            expected = [tuple(w.shape) for w in layer.weights]
            if [v.shape for v in values] != expected:
                raise ValueError(f"{path.name}: layer {layer.name} shapes {[v.shape for v in values]} != {expected}")
            layer.set_weights(values)
            assigned.add(layer.name)
        with_weights = {n for n in stored if group[n].attrs.get("weight_names") is not None
                        and len(group[n].attrs["weight_names"])}
        if with_weights - assigned:
            raise ValueError(f"{path.name}: weights left unassigned for {sorted(with_weights - assigned)}")
    return model


def load_keras_classifier(path: Path):
    """The Keras model in `path`: loaded as saved where Keras can, else (a TF 2.x HDF5 file Keras 3 cannot
    deserialize) rebuilt as the tutorial's network with the file's weights. ModelError when neither works."""
    import keras

    kind = keras_file_kind(path)
    if kind == "savedmodel":
        raise ModelError(f"{path} is a TensorFlow SavedModel folder, which Keras 3 does not load: save it from "
                         "the Python it was trained with as HDF5 (model.save('mask_detector.h5')) and convert that, "
                         "or train a head with train_mask_detector.py")
    if kind is None:
        raise ModelError(f"{path} is not a Keras model file (HDF5 .model / .h5, or .keras)")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras' errors for a config it cannot read are of many kinds
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    if kind == "hdf5":
        try:
            return build_pyimagesearch_mask(path)
        except Exception as exc:
            raise ModelError(f"{path}: Keras cannot load it ({first}), and it is not the PyImageSearch tutorial's "
                             f"network ({(str(exc).splitlines() or [type(exc).__name__])[0][:200]}): load it where "
                             "it was trained and save it again with model.save('model.keras'), or train a head with "
                             "train_mask_detector.py") from None
    raise ModelError(f"{path}: Keras cannot load it ({first})")


def check_output_folder(output: Path, source: Path, task: str | None = None) -> None:
    """The converted folder replaces `output` whole, as a trained one does: it must be new, empty or a model
    folder of the same task, and not the file converted."""
    target = Path(output)
    if target.exists() and not target.is_dir():
        raise ModelError(f"--model {output} is a file: name a new folder for the converted model, e.g. "
                         f"-m {suggested_folder(source)}")
    if target.is_dir() and any(target.iterdir()) and not (target / CARD).is_file():
        raise ModelError(f"--model {output} already holds files and is not a model folder (no {CARD}), and the "
                         "converted model replaces the whole folder: name a new folder")
    if Path(source).resolve().is_relative_to(target.resolve()):
        raise ModelError(f"--model {output} holds {source}, and the converted model replaces the whole folder: "
                         "name another folder")
    # As the trainer refuses it: a trained head of another task (its model.keras, plot and report with it) was
    # replaced by the converted one without a word.
    theirs = folder_task(target) if task is not None else None
    if theirs and theirs != task:
        raise ModelError(f"--model {output} holds a model of task {theirs!r} and this makes one of task {task!r}; "
                         "the converted model replaces the whole folder: name another folder")


def convert(source: Path, output: Path, labels: list[str], task: str, preprocess: str = "mobilenet_v2",
            command: str | None = None, log=print, data_licence: str | None = None) -> dict:
    """Write `output` (a head folder: model.tflite, card.json) from the Keras file `source`; returns the card.
    The crop is the detector's box as it is, squashed to the input, as the tutorial cut its faces. data_licence:
    the terms of the images it learnt from, kept in the card as the trainer's --data-licence keeps them."""
    from .heads import ModelCard

    check_output_folder(output, source)
    # A bad task or label name is said before TensorFlow loads (seconds), not after the export.
    ModelCard.from_dict({"task": task, "labels": list(labels), "input_size": 224})
    import keras

    from .assets import sha256sum
    from .training import _check_tflite, _replace_dir, _versions, export_tflite

    model = load_keras_classifier(source)
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[1] is None or shape[1] != shape[2] or shape[3] != 3:
        raise ModelError(f"{source}: input shape {shape[1:]}: a head takes square RGB crops (S, S, 3)")
    size = int(shape[1])
    outputs = tuple(model.output_shape)
    if len(outputs) != 2 or outputs[1] != len(labels):
        raise ModelError(f"{source}: {outputs[-1]} outputs, but {len(labels)} labels given ({', '.join(labels)}): "
                         "give one --labels name per output, in the model's order")
    scale, offset = SCALINGS[preprocess]
    inputs = keras.Input((size, size, 3), name="face")
    x = keras.layers.Rescaling(scale, offset=offset, name="scaling")(inputs)
    served = keras.Model(inputs, model(x, training=False), name="converted")

    rng = np.random.default_rng(0)
    probe = rng.uniform(0, 255, (4, size, size, 3)).astype(np.float32)
    expected = np.asarray(served.predict(probe, verbose=0))
    if not (np.all(expected >= -1e-4) and np.allclose(expected.sum(axis=1), 1, atol=1e-3)):
        # A head's outputs are divided by their sum: logits or a sigmoid per class would read as nonsense.
        raise ModelError(f"{source}: its outputs are not probabilities (a softmax over the labels): a head needs "
                         "one")

    output = Path(output)
    parent = output.resolve().parent
    # Named and locked as the trainer's: a conversion killed mid-export left its hidden folder there for good.
    sweep_stale(parent, [(output.name, TEMP_SUFFIX)], folders=True)
    tmp, held = make_temp_dir(parent / output.name)
    try:
        log(f"[INFO] exporting {source} ({size}x{size} RGB, {len(labels)} labels) to TFLite...")
        export_tflite(served, tmp / TFLITE)
        _check_tflite(tmp / TFLITE, probe, expected)
        card = {"format": CARD_FORMAT, "task": task, "labels": list(labels), "input_size": size, "color": "rgb",
                "crop": {"margin": 0.0, "square": False}}
        if tuple(labels) == MASK_LABELS:  # the tutorial's own words and colours
            card["display"] = {"with_mask": "Mask", "without_mask": "No Mask"}
            card["colors"] = {"with_mask": [0, 255, 0], "without_mask": [0, 0, 255]}
        card.update({
            "architecture": f"converted Keras model ({model.name}, {model.count_params():,} parameters)",
            "preprocessing": "facekit.preprocess: crop_face(box, crop) -> resize to input_size -> lift_exposure -> "
                             f"RGB; scaling inside the model: {SCALING_TEXT[preprocess]}",
            "input": {"dtype": "float32", "range": [0, 255], "channels": "RGB", "shape": [size, size, 3]},
            "converted_from": {"file": str(source), "sha256": sha256sum(Path(source)), "scaling": preprocess},
            "command": command,
            "versions": _versions(),
        })
        if data_licence:  # the trainer's words (training._licences), which --tasks help and the scripts read
            card["licences"] = {"data": data_licence, "model": "facekit's code is MIT; the weights inherit the "
                                                              f"data's terms ({data_licence})"}
        ModelCard.from_dict(card)  # what the scripts will ask of it, checked before it replaces anything
        (tmp / CARD).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o755)  # mkdtemp's 0700 would keep other users out of a shared model folder
        _replace_dir(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        os.close(held)
    return card


if __name__ == "__main__":  # `python -m facekit.convert`: the command line is facekit.cli.convert's, with its guard
    from facekit.cli import run_script

    raise SystemExit(run_script("convert"))
