"""Classification heads: a trained model folder (model card + TFLite) run with LiteRT.

A model folder, as `train_mask_detector.py` writes it:
    card.json      task, labels in output order, input size, colour mode, crop spec, metrics, ...
    model.tflite   what inference runs (LiteRT; no TensorFlow import)
    model.keras    what training resumes / fine-tunes from (not needed for inference)
    model_int8.tflite  optional: the same network in int8 (half the CPU per face), from the trainer's
                   --export-int8 or made from model.tflite by `python -m bench.quantize --install`
                   (model.int8.tflite in a folder from the first bench.quantize: used the same)
    int8.json      written by bench.quantize --install once the int8 model's validation accuracy is
                   within 0.3 points of model.tflite's; it records model.tflite's sha256. The int8
                   model is used only while that hash matches: a retrained model.tflite goes back
                   to fp16 until its int8 twin is validated again.

Video runs the int8 twins where int8 pays on the CPU, photos the fp16 models (`use_int8`).
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ModelError, native_path
from .preprocess import CropSpec, crop_face, to_model_input
from .runtime import engine, engine_call, native_stderr, threads
from .types import Box, Prediction

CARD = "card.json"
TFLITE = "model.tflite"
KERAS = "model.keras"
INT8 = "model_int8.tflite"  # the trainer's --export-int8 name too (facekit.training.TFLITE_INT8)
INT8_RECORD = "int8.json"
# The twin's name when bench.quantize first made twins (8724592): a folder from then, its int8.json naming the
# same model.tflite, ran fp16 after an upgrade, twice the CPU a face in video, with nothing said.
OLD_INT8 = "model.int8.tflite"
# An int8 twin runs only if it loses at most this much accuracy against model.tflite on validation faces
# (bench.quantize for the shipped heads, the trainer's --export-int8 for a user's own).
INT8_TOLERANCE = 0.003
CARD_FORMAT = 1
# Keys of a face's JSON record besides its heads (facekit.types.Face.to_dict): a head of one of these
# names would overwrite them (a task 'score' replaced the detection score with its prediction).
RESERVED_TASKS = {"box", "score", "track_id", "landmarks", "keypoints", "pose", "measures",
                  "emotion_intensity", "emotion_eyes_only"}
# A task names a JSON key, CSV / Parquet columns and a --tasks item (a comma list).
TASK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# The video CSV's and the batch Parquet's columns that are no head's <task>_label / <task>_<class> (records.csv_row,
# facekit.batch, facekit.landmarks.MEASURE_NAMES). A head's column of one of these names, or two heads' columns
# of one name, wrote two numbers into one cell: the last one won, without a word (a task 'mask_with' with a
# class 'mask' replaced the mask head's with_mask probability, an emotion class 'intensity' was left empty).
RECORD_COLUMNS = {"source", "kind", "frame", "time_s", "clock", "track_id", "width", "height", "x1", "y1", "x2", "y2",
                  "score", "emotion_intensity", "emotion_eyes_only", "yaw", "pitch", "roll", "eye_openness",
                  "mouth_openness"}
# The --summary CSV's columns besides each head's <task>_label and <task>_prob (facekit.people.PeopleSummary): a
# class 'prob' made the per-frame <task>_prob (its probability) and the summary's (the label's mean) two meanings.
SUMMARY_COLUMNS = {"track_id", "first_frame", "last_frame", "first_s", "last_s", "first_clock", "last_clock",
                   "frames"}

DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
# An installed facekit carries its trained models inside the package (pyproject maps the checkout's
# models/ to facekit/models); a source checkout has no such folder and uses models/ beside facekit/.
PACKAGED_MODELS_DIR = Path(__file__).resolve().parent / "models"


def models_dir() -> Path:
    """Where trained heads are found: $FACEKIT_MODELS, else the installed package's, else the checkout's."""
    if os.environ.get("FACEKIT_MODELS"):
        from .assets import _setting_path

        # "~" read as FACEKIT_ASSETS / FACEKIT_CACHE read it: a service's Environment=FACEKIT_MODELS=~/models (no
        # shell to expand it) was "no such folder" for a folder that is there, and facekit-train made ./~/models.
        return _setting_path("FACEKIT_MODELS", os.environ["FACEKIT_MODELS"])
    return PACKAGED_MODELS_DIR if PACKAGED_MODELS_DIR.is_dir() else DEFAULT_MODELS_DIR


def _bgr(label, value) -> tuple[int, ...]:
    """A card's colour for `label`. A colour edited by hand as a name ("red") was "missing or has a bad field:
    invalid literal for int() with base 10: 'r'", naming neither the field nor the label, and "255" was (2, 5, 5)."""
    try:
        bgr = () if isinstance(value, str) else tuple(int(c) for c in value)
    except (TypeError, ValueError, OverflowError):
        bgr = ()
    if len(bgr) != 3 or not all(0 <= v <= 255 for v in bgr):
        raise ModelError(f"model card's colors gives {label!r} {value!r:.40}: give [B, G, R], 3 whole numbers 0-255 in "
                         f"blue, green, red order (red is [0, 0, 255])")
    return bgr


def _display_text(label, value) -> str:
    """A card's text for `label`: a number or null edited in by hand was refused only when the first face was drawn,
    as "Style display[...]", a name the card does not use."""
    if not isinstance(value, str) or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ModelError(f"model card's display gives {label!r} {value!r:.40}: give the text to draw, e.g. "
                         f"{str(label).replace('_', ' ').capitalize()!r}")
    return value


@dataclass(frozen=True)
class ModelCard:
    task: str
    labels: list[str]
    input_size: int
    color: str = "rgb"
    crop: CropSpec = field(default_factory=CropSpec)
    display: dict = field(default_factory=dict)  # label -> short text shown on the image
    colors: dict = field(default_factory=dict)  # label -> BGR colour
    # The narrowest face (px) this head labels, chosen on its held-out faces shrunk to N px (None: the
    # pipeline's MIN_FACE_FOR_HEADS).
    min_face: int | None = None
    extra: dict = field(default_factory=dict)  # everything else the card holds (metrics, data, command)

    def to_dict(self) -> dict:
        return {
            "format": CARD_FORMAT,
            "task": self.task,
            "labels": list(self.labels),
            "input_size": self.input_size,
            "color": self.color,
            "crop": self.crop.to_dict(),
            "display": self.display,
            "colors": self.colors,
            **({"min_face": self.min_face} if self.min_face is not None else {}),
            **self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "ModelCard":
        if not isinstance(data, dict):  # a list's error read "list indices must be integers or slices, not str"
            raise ModelError(f"model card must be a JSON object with task, labels and input_size; got {data!r:.60}")
        try:
            known = {"format", "task", "labels", "input_size", "color", "crop", "display", "colors", "min_face"}
            if not isinstance(data["labels"], list):  # a string's letters were taken as its labels
                raise TypeError(f"labels must be a list, got {data['labels']!r}")
            # Each names a column and a JSON key, and is printed and drawn: null was the label "None", {"a": 1}
            # "{'a': 1}", "" the column "mask_", "no\nmask" a CSV header and a console line broken in two, and a
            # label of 100,000 letters was drawn across the photo. (255: the longest folder name the trainer takes.)
            bad = [x for x in data["labels"] if isinstance(x, bool) or not isinstance(x, (str, int))
                   or not 0 < len(str(x)) <= 255 or any(ord(c) < 32 or ord(c) == 127 for c in str(x))]
            if bad:
                raise ModelError(f"model card's labels must be texts of 1 to 255 characters, none a control "
                                 f"character such as a line break; got {bad[0]!r:.60}")
            card = cls(
                task=str(data["task"]),
                labels=[str(x) for x in data["labels"]],
                input_size=int(data["input_size"]),
                color=str(data.get("color", "rgb")),
                crop=CropSpec.from_dict(data.get("crop")),
                display={k: _display_text(k, v) for k, v in (data.get("display") or {}).items()},
                # Whole BGR numbers here, not at the first face drawn: "red" or NaN (JSON takes it) ended a run in
                # a traceback after its work.
                colors={k: _bgr(k, v) for k, v in (data.get("colors") or {}).items()},
                min_face=None if data.get("min_face") is None else int(data["min_face"]),
                extra={k: v for k, v in data.items() if k not in known},
            )
        except (KeyError, TypeError, ValueError, OverflowError) as exc:  # OverflowError: int() of 1e400 (inf)
            raise ModelError(f"model card is missing or has a bad field: {exc}") from None
        except AttributeError:  # "colors": "red" (or a list) was "'str' object has no attribute 'items'", a traceback
            table = "display" if not isinstance(data.get("display") or {}, dict) else "colors"
            raise ModelError(f"model card's {table} must be an object of label: "
                             f"{'text' if table == 'display' else '[B, G, R]'}, got {data.get(table)!r:.60}") from None
        # Its terms are read where the head is offered (card_terms): "licences": "CC-BY" by hand was a traceback
        # ("'str' object has no attribute 'get'") from every command that loaded the head.
        licences = card.extra.get("licences")
        if licences is not None and not (isinstance(licences, dict) and all(isinstance(v, str)
                                                                            for v in licences.values())):
            raise ModelError(f'model card\'s licences must be an object of texts such as {{"model": "...", "data": '
                             f'"..."}}, got {licences!r:.60}')
        # The trainer refuses these names; a card written by hand reached the records, where a task "box"
        # replaced every face's box with its prediction.
        if card.task in RESERVED_TASKS or not TASK_NAME.fullmatch(card.task):
            raise ModelError(f"model card has a bad task name {card.task!r}: use ASCII letters, digits, '_', '-' or "
                             f"'.', and none of a face record's own fields ({', '.join(sorted(RESERVED_TASKS))})")
        if card.min_face is not None and card.min_face < 1:
            raise ModelError(f"model card has a bad min_face: {card.min_face}")
        if "label" in card.labels:  # its CSV / Parquet column <task>_label is the label column's name
            raise ModelError(f"model card has a label named 'label', which names the {card.task}_label column: "
                             f"rename it")
        if len(set(card.labels)) < len(card.labels):  # one key in the probabilities for two outputs
            raise ModelError(f"model card names a label twice: {card.labels}")
        if any(len(c) != 3 or not all(0 <= v <= 255 for v in c) for c in card.colors.values()):
            raise ModelError(f"model card has a bad colour (3 numbers 0-255, BGR): {card.colors}")
        for name, keyed in (("display", card.display), ("colors", card.colors)):
            # Keyed by the text drawn ("Lächeln" for the label "lächeln"), a colour or text set by hand was not used
            # and nothing said why.
            stray = [k for k in keyed if k not in card.labels]
            if stray:
                raise ModelError(f"model card's {name} names {stray[0]!r}, which is not one of its labels "
                                 f"({', '.join(card.labels)}): key it by the label as the labels list writes it")
        # A crop has a size (over -0.5) and stays near the face: a NaN margin failed at the first face, a huge
        # one asked for gigabytes; 2 is a crop 5 times the box.
        if not -0.5 < card.crop.margin <= 2:
            raise ModelError(f"model card has a bad crop margin: {card.crop.margin} (from -0.5 to 2)")
        if len(card.labels) < 2 or card.input_size < 8 or card.color not in ("rgb", "gray"):
            raise ModelError("model card has fewer than 2 labels, a bad input size or an unknown colour mode")
        return card

    @classmethod
    def load(cls, path: Path) -> "ModelCard":
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise ModelError(f"{path}: model card not found") from None
        except IsADirectoryError:  # a folder of that name: a traceback from every command that loaded the head
            raise ModelError(f"{path}: model card cannot be read (it is a folder)") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelError(f"{path}: model card is not valid JSON ({exc})") from None
        except RecursionError:  # [[[[...]]]] thousands deep: Python's JSON reader gives up, a traceback
            raise ModelError(f"{path}: model card is not a model card (JSON nested too deep)") from None
        except ModelError as exc:  # which card: "model card has a bad field: 'labels'" named none of several
            raise ModelError(f"{path}: {exc}") from None


def model_folder(path: str | os.PathLike) -> Path:
    """Accept a model folder, its card.json or its model.tflite and return the folder."""
    path = Path(path)
    if path.is_file() and path.name in (CARD, TFLITE, KERAS):
        return path.parent
    if path.is_dir():
        if (path / CARD).is_file():  # a model folder: the SavedModel check would import the converter (zipfile)
            return path
        from .convert import keras_file_kind

        if keras_file_kind(path) == "savedmodel":
            raise ModelError(f"{path} is a TensorFlow SavedModel, not a facekit model folder: save it as HDF5 "
                             "(model.save('model.h5')) where it was trained, then convert that with "
                             "`python -m facekit.convert model.h5 -m FOLDER`")
        # -m models (the folder of every head, as shipped) was "models/card.json: model card not found".
        heads = sorted(d.name for d in path.iterdir() if (d / CARD).is_file())
        if heads:
            # FaceAnalyzer(models="models") got the scripts' "-m" alone: its own argument is named too.
            raise ModelError(f"{path} holds the heads {', '.join(heads)}, not one head: give -m {path / heads[0]} "
                             f"(one -m per head; in Python models=[{str(path / heads[0])!r}, ...]), or set "
                             f"FACEKIT_MODELS={path} for them all")
        return path
    if path.is_file():
        from .convert import keras_file_kind, suggested_folder

        # The PyImageSearch tutorial's mask_detector.model is such a file: "model not found" sent its owner
        # looking for a file that was there.
        if keras_file_kind(path):
            folder = suggested_folder(path)
            raise ModelError(f"{path} is a Keras model file (as the PyImageSearch tutorial's mask_detector.model), "
                             f"not a facekit model folder ({CARD} + {TFLITE}): make one with "
                             f"`python -m facekit.convert {path} -m {folder}` (TensorFlow needed once: "
                             f"facekit[train]), then give -m {folder}; or train one with train_mask_detector.py")
        raise ModelError(f"{path} is a file, not a model folder (expected a folder with {CARD} and {TFLITE})")
    if path.suffix.lower() in (".model", ".h5", ".hdf5", ".keras"):
        from .convert import suggested_folder

        # Named like the tutorial's Keras file: its owner has one somewhere, and needs the converter, not a folder.
        raise ModelError(f"{path}: model not found (expected a folder with {CARD} and {TFLITE}); a Keras model "
                         f"file (as the PyImageSearch tutorial's) is converted to one first: "
                         f"`python -m facekit.convert KERAS_FILE -m {suggested_folder(path)}`")
    raise ModelError(f"{path}: model not found (expected a folder with {CARD} and {TFLITE})")


def load_interpreter(model_path: Path, num_threads: int | None = None, allocate: bool = True):
    """A LiteRT interpreter for `model_path`; ModelError when the file is missing or not a model.

    allocate=False leaves the tensors to the caller, who sizes the input first: allocating at batch 1 and
    again at the first batch of faces set XNNPACK up twice (30-35 ms of a photo command's three heads)."""
    from ai_edge_litert.interpreter import Interpreter  # imported here: ~50 ms, only when a model is used

    if not model_path.is_file():
        raise ModelError(f"{model_path}: model file not found{_how_to_restore(model_path)}")
    # LiteRT opens the file itself, and one this user may not read (copied by root under umask 077) was "not a
    # valid TFLite model (Could not open ...)", which sent users to download an intact file again.
    try:
        with open(model_path, "rb"):
            pass
    except OSError as exc:
        raise ModelError(f"{model_path}: cannot read it ({exc.strerror or exc}): check its owner and "
                         "permissions") from None
    parsed = False
    try:
        with native_stderr():
            name = native_path(model_path)
            # A name LiteRT cannot be given (not UTF-8) is read here and handed over as the model's bytes.
            interp = (Interpreter(model_path=name, num_threads=num_threads or threads()) if name is not None else
                      Interpreter(model_content=model_path.read_bytes(), num_threads=num_threads or threads()))
            parsed = True
            if allocate:
                interp.allocate_tensors()  # LiteRT's one-off "Created ... XNNPACK delegate" line comes here
        return engine(interp)  # a forked child never frees it (facekit.runtime._keep_inherited_engines)
    except (ValueError, RuntimeError, MemoryError) as exc:
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]  # LiteRT may give no message at all
        # A file that parsed, or an mmap refused with ENOMEM (error '12'), is short memory (ulimit -v, a small
        # board), not a broken model: "not a valid TFLite model" sent users to download intact files again.
        if parsed or isinstance(exc, MemoryError) or "error '12'" in why:
            raise ModelError(f"{model_path}: LiteRT could not load it ({why}), most often for want of memory: "
                             "free some, or raise the process's memory limit (ulimit -v)") from None
        raise ModelError(f"{model_path}: not a valid TFLite model ({why}){_how_to_restore(model_path)}") from None


def _how_to_restore(model_path: Path) -> str:
    """Where a head's missing or damaged file comes from again: a shipped head's "not a valid TFLite model" (a copy
    cut short, a disk that filled up) named the file and no way to get it back, as a detector's file does."""
    try:
        models = model_path.resolve().parent.parent
    except (OSError, RuntimeError):
        return ""
    if model_path.name == INT8:
        return f": delete it, and {TFLITE} beside it runs instead"
    if models == DEFAULT_MODELS_DIR and (models.parent / ".git").exists():
        return f": restore the shipped head with `git -C {models.parent} checkout -- models/{model_path.parent.name}`"
    if models == PACKAGED_MODELS_DIR:
        return ": restore the shipped head with `pip install --force-reinstall --no-deps facekit`"
    return ": copy the model folder again whole, or train it again"


def int8_twin(folder: Path) -> Path | None:
    """The folder's int8 model if it was made from (and validated against) its current model.tflite."""
    record, model = folder / INT8_RECORD, folder / INT8
    if not model.is_file() and (folder / OLD_INT8).is_file():
        model = folder / OLD_INT8
    if not (record.is_file() and model.is_file() and (folder / TFLITE).is_file()):
        return None
    try:
        source = json.loads(record.read_text(encoding="utf-8"))["source_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    from .assets import sha256sum

    return model if sha256sum(folder / TFLITE) == source else None


def use_int8(video: bool = False) -> bool:
    """Whether heads run their validated int8 twins: in video on a CPU where int8 pays, not for photos.

    In video a head runs on every tracked face many times a second, and on a CPU with int8 dot products
    its twin halves that CPU (bench.video); on one without them (an x86 CPU without VNNI, most laptops
    and cloud VMs before 2021) the twin is slower than the fp16 model (`facekit.runtime.int8_pays`). A
    photo does not wait on a head's millisecond a face, and there the fp16 model is the more accurate
    one: on bench.detection's street scenes the mask head reads 132 of 138 unmasked faces right, its
    twin 129. FACEKIT_INT8=0 or 1 sets one choice for both.
    """
    from .runtime import int8_pays

    forced = forced_int8()
    return video and int8_pays() if forced is None else forced


def forced_int8() -> bool | None:
    """FACEKIT_INT8's choice for every head (0 / false / off: fp16, 1 / true / on: int8), or None when unset."""
    from .runtime import env_switch

    return env_switch("FACEKIT_INT8")


# Faces per network run. The interpreter keeps the activation memory of its largest batch, and a crowd
# photo is hundreds of faces: at 160 px in float that was 1.1 GB of RSS for 72 faces (0.6 GB at 18).
# Per face, 8 at a time runs as fast as one big batch (bench.mask / bench.gender: ms/face b1 ~ b8).
MAX_BATCH = 8


class Head:
    """One trained classifier. `predict(crops)` runs the crops in batches of up to MAX_BATCH."""

    def __init__(self, folder: Path, card: ModelCard, interpreter, model_path: Path | None = None):
        self.folder = folder
        self.card = card
        self.model_path = model_path or folder / TFLITE  # model.tflite, or its int8 twin
        self._interp = interpreter
        self._in = interpreter.get_input_details()[0]
        self._out = interpreter.get_output_details()[0]
        self._batch: int | None = None
        # A LiteRT interpreter holds one input and one output: two threads in it at once (a web server
        # sharing one FaceAnalyzer) raise "There is at least 1 reference to internal data" or get each
        # other's faces. One at a time; the video loop runs heads on one thread and never waits here.
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | os.PathLike, int8: bool | None = None) -> "Head":
        """int8: use the folder's validated int8 twin when there is one (None: as photos do, `use_int8`)."""
        folder = model_folder(path)
        card = ModelCard.load(folder / CARD)
        twin = int8_twin(folder) if (use_int8() if int8 is None else int8) else None
        model_path = twin or folder / TFLITE
        interp = load_interpreter(model_path, allocate=False)  # at the first batch's size (predict_inputs)
        inputs, outputs = interp.get_input_details(), interp.get_output_details()
        shape = [int(n) for n in inputs[0]["shape"]]
        n_out = int(outputs[0]["shape"][-1])
        # Faces go in as float32 pixels 0-255 and one output of probabilities comes back: a float16 or uint8 input,
        # loaded and then failed at the first face in a LiteRT traceback, and of two outputs the first was read.
        dtype = np.dtype(inputs[0]["dtype"]).name
        if len(inputs) != 1 or dtype != "float32" or len(outputs) != 1:
            raise ModelError(f"{model_path}: a head takes one float32 input (N, S, S, 3) of pixels 0-255 and gives one "
                             f"output of probabilities; this model has {len(inputs)} input(s) ({dtype}) and "
                             f"{len(outputs)} output(s)")
        if shape[1:] != [card.input_size, card.input_size, 3] or n_out != len(card.labels):
            raise ModelError(
                f"{folder}: card does not match the model (card: {card.input_size}px, {len(card.labels)} labels; "
                f"model: input {shape[1:]}, {n_out} outputs)"
            )
        return cls(folder, card, interp, model_path)

    def __repr__(self) -> str:
        """What a notebook shows for `analyzer.heads`: the task, its labels and the file that runs (the int8 twin or
        not, from which models folder); it was "<facekit.heads.Head object at 0x7f...>", saying none of them."""
        return f"Head({self.task!r}, labels={self.labels!r}, model={str(self.model_path)!r})"

    @property
    def task(self) -> str:
        return self.card.task

    @property
    def labels(self) -> list[str]:
        return self.card.labels

    def crops(self, image: np.ndarray, boxes: list[Box], keypoints=None) -> list[np.ndarray]:
        """keypoints: each box's detector key points (or None), to level a tilted face (`crop_face`)."""
        keypoints = [None] * len(boxes) if keypoints is None else keypoints
        return [crop_face(image, box, self.card.crop, kps) for box, kps in zip(boxes, keypoints)]

    def predict_inputs(self, batch: np.ndarray) -> np.ndarray:
        """Model-ready uint8 batch (N, S, S, 3) -> probabilities (N, classes), MAX_BATCH faces a run."""
        if len(batch) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        if len(batch) > MAX_BATCH:
            return np.concatenate([self.predict_inputs(batch[i:i + MAX_BATCH])
                                   for i in range(0, len(batch), MAX_BATCH)])
        n = len(batch)
        batch = batch.astype(np.float32)
        with engine_call(), self._lock:  # no fork in the middle (facekit.runtime._ForkGate)
            if self._batch != n:
                self._interp.resize_tensor_input(self._in["index"], [n, *self._in["shape"][1:]])
                try:
                    with native_stderr():  # the first allocation prints LiteRT's "Created ... delegate" line
                        self._interp.allocate_tensors()
                except RuntimeError as exc:  # a model that loaded, short of memory for a bigger batch
                    self._batch = None
                    raise MemoryError(f"LiteRT could not allocate {self.task}'s tensors for {n} faces") from exc
                self._batch = n
            self._interp.set_tensor(self._in["index"], batch)
            self._interp.invoke()
            probs = np.array(self._interp.get_tensor(self._out["index"]), dtype=np.float32)
        # An int8 softmax comes out in steps of 1/256, so its rows sum to 0.99x; records promise
        # probabilities that sum to 1 whichever twin ran.
        return probs / np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)

    def predict(self, crops: list[np.ndarray]) -> list[Prediction]:
        batch = to_model_input(crops, self.card.input_size, self.card.color)
        probs = self.predict_inputs(batch)
        return [Prediction.from_probabilities(self.labels, p) for p in probs]

    def predict_boxes(self, image: np.ndarray, boxes: list[Box], keypoints=None) -> list[Prediction]:
        return self.predict(self.crops(image, boxes, keypoints))


def folder_task(folder: Path) -> str | None:
    """The task a model folder's card names, read leniently (None where there is no readable card): the trainer
    and the converter refuse to replace a head of another task with it."""
    try:
        task = json.loads((Path(folder) / CARD).read_text(encoding="utf-8")).get("task")
    except (OSError, ValueError, AttributeError):
        return None
    return task if isinstance(task, str) else None


def available_tasks(folder: Path | None = None) -> dict[str, Path]:
    """Task name -> model folder for every trained model found in the models folder."""
    return _scan_models(folder)[0]


def _scan_models(folder: Path | None = None) -> tuple[dict[str, Path], list[ModelError], dict[str, ModelError]]:
    """available_tasks, the errors of the head folders there whose card does not load or whose model file is
    not there, and task -> the error of a task two folders there hold (models/mask beside models/mask_v2): the
    one sorted last ran in the other's place without a word, where two --model folders of one task are refused."""
    folder = folder or models_dir()
    found: dict[str, Path] = {}
    broken: list[ModelError] = []
    doubled: dict[str, ModelError] = {}
    if folder.is_dir():
        for card_path in sorted(folder.glob(f"*/{CARD}")):
            where = f"a head of the models folder {folder}"
            if not (card_path.parent / TFLITE).is_file():
                # A copy cut short, or the model file moved away: that head was left out of every run unsaid.
                broken.append(ModelError(f"{card_path.parent}: {CARD} is there but not {TFLITE} ({where}: copy its "
                                         f"{TFLITE} in, or move its folder out)"))
                continue
            try:
                task = ModelCard.load(card_path).task
            except ModelError as exc:
                broken.append(ModelError(f"{exc} ({where}: mend its {CARD}, or move its folder out)"))
                continue
            if task in found:
                doubled[task] = ModelError(
                    f"two models for the task {task!r} in the models folder {folder}: {found[task].name} and "
                    f"{card_path.parent.name}; give one with --model (the library: models=[folder]), or move "
                    "the other out")
            found[task] = card_path.parent
    return found, broken, doubled


def weights_terms(folder: Path | None = None) -> dict[str, str]:
    """Task -> the terms its shipped weights inherit from their data, short (the card's licences.model
    says "... the weights inherit the data's terms (TERMS)"): shown where the heads are offered."""
    return {task: card_terms(ModelCard.load(model / CARD)) for task, model in available_tasks(folder).items()}


def card_terms(card: ModelCard) -> str:
    """The terms a head's weights inherit, short, from its card (see weights_terms)."""
    licences = card.extra.get("licences") or {}
    text = licences.get("model", "")
    inner = text[text.find("(") + 1:text.rfind(")")] if "(" in text and text.endswith(")") else text
    # A head trained without --data-licence has no licences block: "see its card.json" sent the user to
    # a card that says nothing about them.
    return inner or ("see its card.json" if licences else "no terms recorded")


# Default order of heads: in the drawing the box takes the first head's colour, and the seed's box
# colour says mask / no mask.
TASK_ORDER = ("mask", "emotion", "gender")


def _task_rank(task: str) -> tuple[int, str]:
    return (TASK_ORDER.index(task) if task in TASK_ORDER else len(TASK_ORDER), task)


def check_models_folder() -> None:
    """ModelError when $FACEKIT_MODELS names no folder: else a typo there turned every head off, unsaid. The
    scripts ask before their "loading face detector model..." line, so the setting is the run's one line."""
    folder = os.environ.get("FACEKIT_MODELS")
    if folder and not models_dir().is_dir():
        raise ModelError(f"FACEKIT_MODELS={folder}: no such folder (unset it to use the shipped heads)")
    # FACEKIT_MODELS=models/mask (one head, as -m takes it) found no head folder in it: faces with no label, unsaid.
    if folder and (models_dir() / CARD).is_file():
        raise ModelError(f"FACEKIT_MODELS={folder}: one head's folder (its {CARD}), not the folder of heads: give "
                         f"it with -m {folder}, or set FACEKIT_MODELS={models_dir().parent} for every head there")


def load_heads(tasks: list[str] | None = None, model_paths: list[str] | None = None,
               int8: bool | None = None, commercial_use: bool = False) -> dict[str, Head]:
    """Heads from explicit `model_paths` (each card names its task) plus, for tasks not given that
    way, the models folder; `tasks` filters (None = every head that exists). int8: as `Head.load`.
    commercial_use: only heads whose card's terms allow it (facekit.licensing): with tasks None the others are left
    out (withheld_heads names them), and one asked for by task or path is a LicenceError, before any loads."""
    from .licensing import card_allows, check_head

    heads: dict[str, Head] = {}
    given: dict[str, str] = {}
    for path in model_paths or []:
        if commercial_use:
            card = ModelCard.load(model_folder(path) / CARD)
            check_head(card.task, card, str(path))
    for path in model_paths or []:
        head = Head.load(path, int8)
        if head.task in given:  # one would silently replace the other
            raise ModelError(f"two models for the task {head.task!r}: {given[head.task]} and {path}; give one")
        heads[head.task], given[head.task] = head, str(path)
    if tasks is None or set(tasks) - set(heads):  # the models folder is read
        check_models_folder()
    available, broken, doubled = _scan_models()
    # A head whose card does not load (cut short by a copy onto a full card, mistyped by hand), or whose model
    # file is not there, was left out of every run without a word, and --tasks of it said "no trained model": it
    # is the run's error where every head is asked for, or one that is not found (its folder may be it).
    if broken and (tasks is None or set(tasks) - set(heads) - set(available)):
        raise broken[0]
    wanted = tasks if tasks is not None else sorted(available, key=_task_rank)
    for task in wanted:
        if task in heads:
            continue
        if task not in available:
            have = ", ".join(sorted({*available, *heads}, key=_task_rank)) or "none"
            # A head just trained into a folder of one's own (-m runs/glasses) and run by --tasks alone: the line
            # listed the heads there are, not how to give it.
            raise ModelError(f"no trained model for task {task!r} in {models_dir()} (available: {have}); a head "
                             f"trained into another folder is given with -m FOLDER (in Python, models=[FOLDER])")
        if task in doubled:
            raise doubled[task]
        if commercial_use:
            card = ModelCard.load(available[task] / CARD)
            if tasks is None and not card_allows(card):
                continue
            check_head(task, card, str(available[task]))
        heads[task] = Head.load(available[task], int8)
    # After the tasks not found (a typo's line lists the heads there are): `-m runs/smile --tasks mask,emotion` loaded
    # the head given by its folder and never ran it, unsaid.
    left_out = [t for t in given if tasks is not None and t not in tasks]
    if left_out:
        raise ModelError(f"{given[left_out[0]]} is the {left_out[0]!r} head, which the tasks asked for "
                         f"({', '.join(tasks or [])}) leave out: add {left_out[0]} to them (--tasks), or leave that "
                         "model out")
    # --tasks' order, else TASK_ORDER's: a head given with --model must not move to the front, where the
    # box would take its colour instead of the mask head's (and the JSON / CSV order would change).
    order = tasks if tasks is not None else sorted(heads, key=_task_rank)
    heads = {t: heads[t] for t in order if t in heads}
    check_columns(heads)
    return heads


def withheld_heads(model_paths: list[str] | None = None) -> dict[str, str]:
    """Task -> terms of the heads that `load_heads(None, model_paths, commercial_use=True)` leaves out: those of the
    models folder, not replaced by a model path, whose card's terms do not allow commercial use."""
    from .licensing import card_allows

    given = {ModelCard.load(model_folder(p) / CARD).task for p in model_paths or []}
    withheld = {}
    for task, folder in sorted(available_tasks().items(), key=lambda tf: _task_rank(tf[0])):
        card = ModelCard.load(folder / CARD)
        if task not in given and not card_allows(card):
            withheld[task] = card_terms(card)
    return withheld


def check_columns(heads: dict[str, Head]) -> None:
    """ModelError when two heads, or a head and facekit's own fields, would write one CSV / Parquet column
    (see RECORD_COLUMNS): refused where the heads load, before anything is written."""
    owner = {c: f"facekit's own {c!r} column" for c in RECORD_COLUMNS | SUMMARY_COLUMNS}
    shipped = models_dir().resolve()
    # The models folder's heads first, so the error names the folder of the user's own head, the one to rename.
    for task, head in sorted(heads.items(), key=lambda th: th[1].folder.resolve().parent != shipped):
        named = [(f"{task}_label", f"the {task} head's label column"),
                 (f"{task}_prob", f"the {task} head's mean probability in --summary")]
        named += [(f"{task}_{label}", f"the {task} head's class {label!r}") for label in head.labels]
        for column, what in named:
            if column in owner:
                raise ModelError(f"{head.folder}: {what} is the column {column!r} of the CSV, Parquet or "
                                 f"--summary, which is already {owner[column]}: rename the class (its folder, when "
                                 f"training) or the task (--task)")
            owner[column] = what


def video_heads(heads: dict[str, Head]) -> dict[str, Head]:
    """The same heads as video runs them (`use_int8(video=True)`): each head with a validated int8 twin
    it is not already running is loaded again as that twin; `heads` itself when nothing changes."""
    int8 = use_int8(video=True)
    swap = {t for t, h in heads.items() if ((int8 and int8_twin(h.folder)) or h.folder / TFLITE) != h.model_path}
    if not swap:
        return heads
    return {t: Head.load(h.folder, int8) if t in swap else h for t, h in heads.items()}
