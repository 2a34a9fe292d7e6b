"""Train a gray-face classifier (the FER+ emotion head) with Keras on any backend: JAX on a GPU, or
TensorFlow on a CPU. The network is the trainer's (`facekit.training.build_model`); what differs from
`train_mask_detector.py` is what a GPU machine without TensorFlow needs:

    pack    FER+ train / valid as they are split by the trainer (duplicates of train dropped), at 48 px
            gray, with YuNet's key points and the soft labels, in JPEG mosaics: 35 MB, so the data, the
            ImageNet base (fp16) and the Keras wheel fit in what a remote machine is sent (64 MiB).
    fit     augmentation in numpy / OpenCV (no tf.data): a synthetic mask drawn on a share of faces,
            fresh each epoch and turned grey as inference sees it, rotation / scale / shift / flip,
            contrast and light, low resolution, random erasing. Two warm-up epochs, then a per-epoch
            cosine learning rate over as many epochs as fit a wall-clock deadline; the weights that
            score best on the validation split (face + mirror) are kept. On one H200 a 128 px epoch
            trains in 2-4 s: the augmentation (0.6-0.9 CPU ms a face) sets the pace, so give it the
            machine's cores (--workers, per run).
    folder  those weights -> a model folder (model.keras + card) that the trainer's --init-model and
            --ensemble take, so the TFLite file, the card, the test report and the int8 twin come from
            the trainer.

    python tools/accelerator_train.py pack -d FER/train FER/test --soft-labels FER/ferplus.csv --out packed
    KERAS_BACKEND=jax python tools/accelerator_train.py fit --data packed --size 128 --out runs --name e128
    KERAS_BACKEND=jax python tools/accelerator_train.py fit --data packed --size 112 --seed 3 --out runs --name e112
    python tools/accelerator_train.py folder runs/e128.npz --data packed -m runs/e128   # and e112 likewise
    python train_mask_detector.py ... -s 128 -e 0 --fine-tune-epochs 0 --init-model runs/e128 --ensemble runs/e112

The README's emotion recipe gives the whole command list and what the committed model ran.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if __name__ == "__main__":
    # A Ctrl-C in the imports below (OpenCV, numpy: ~0.3 s) is one line and exit 130, as the scripts', where it was
    # a KeyboardInterrupt traceback (facekit.signals.start_guard; main() ends it).
    from facekit.signals import start_guard

    start_guard()

import cv2  # noqa: E402
import numpy as np  # noqa: E402

TILE = 64  # faces per mosaic side: 48 px faces on 8 px JPEG blocks, so no block straddles two faces
FACE = 48  # FER2013's own size: packed as they are, upsized at fit time as to_model_input does


# ---------------------------------------------------------------------------------------------
# pack


def pack(args) -> None:
    from facekit import training as T
    from facekit.preprocess import CropSpec
    from facekit.softlabels import read_soft_labels

    roots = T.as_roots(args.dataset)
    labels = T.dataset_labels(roots)
    soft = read_soft_labels(args.soft_labels, labels)
    data = T.load_dataset(roots, size=FACE, color="gray", crop=CropSpec(margin=0.1, square=True), labels=labels,
                          keypoints=True)
    data, _ = T._with_soft_labels(data, soft, "votes")
    split = T.split_dataset(data, 0.1, 0.2, args.val_pattern, args.test_pattern)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    parts = {"tr": data.subset(split.train), "va": data.subset(split.val)}
    for part, quality in (("tr", args.jpeg_quality), ("va", 95)):
        x = parts[part].x[..., 0]
        for j, start in enumerate(range(0, len(x), TILE * TILE)):
            chunk = x[start:start + TILE * TILE]
            full = np.concatenate([chunk, np.zeros((TILE * TILE - len(chunk), FACE, FACE), np.uint8)])
            mosaic = full.reshape(TILE, TILE, FACE, FACE).transpose(0, 2, 1, 3).reshape(TILE * FACE, TILE * FACE)
            cv2.imwrite(str(out / f"{part}_{j:02d}.jpg"), mosaic, [cv2.IMWRITE_JPEG_QUALITY, quality])
    tr, va = parts["tr"], parts["va"]
    np.savez(out / "meta.npz", t_tr=tr.soft.astype(np.float16), y_tr=tr.y, k_tr=tr.keypoints.astype(np.float16),
             t_va=va.soft.astype(np.float16), y_va=va.y, labels=np.array(labels), n_tr=len(tr.y), n_va=len(va.y))
    _, base = T.build_model(len(labels), 96)  # the base's weights do not depend on the input size
    np.savez(out / "imagenet_base_fp16.npz", *[w.astype(np.float16) for w in base.get_weights()])
    (out / "source.json").write_text(json.dumps({
        "dataset": [str(r) for r in roots], "soft_labels": str(args.soft_labels), "how": split.how,
        "train": len(tr.y), "validation": len(va.y), "jpeg_quality_train": args.jpeg_quality}, indent=2) + "\n")
    print(f"[INFO] packed {len(tr.y)} training and {len(va.y)} validation faces into {out}")


def packed_meta(folder: Path):
    from facekit.errors import DatasetError

    if not (folder / "meta.npz").is_file() or not (folder / "imagenet_base_fp16.npz").is_file():
        raise DatasetError(f"--data {folder}: not a packed folder (make one with `accelerator_train.py pack`)")
    return np.load(folder / "meta.npz")


def load_packed(folder: Path, limit: int | None = None) -> dict:
    meta = packed_meta(folder)
    out = {}
    for part in ("tr", "va"):
        tiles = []
        for f in sorted(folder.glob(f"{part}_*.jpg")):
            mosaic = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
            tiles.append(mosaic.reshape(TILE, FACE, TILE, FACE).transpose(0, 2, 1, 3).reshape(-1, FACE, FACE))
        out[f"x_{part}"] = np.concatenate(tiles)[:int(meta[f"n_{part}"])]
    out.update(t_tr=meta["t_tr"].astype(np.float32), y_tr=meta["y_tr"], k_tr=meta["k_tr"].astype(np.float32),
               t_va=meta["t_va"].astype(np.float32), y_va=meta["y_va"], labels=[str(s) for s in meta["labels"]])
    if limit:
        for k in ("x_tr", "t_tr", "y_tr", "k_tr"):
            out[k] = out[k][:limit]
        for k in ("x_va", "t_va", "y_va"):
            out[k] = out[k][:max(8, limit // 4)]
    return out


# ---------------------------------------------------------------------------------------------
# fit


def model_input(x48: np.ndarray, size: int) -> np.ndarray:
    """(N, 48, 48) gray -> (N, size, size, 3): the inference preprocessing, one function for both."""
    from facekit.preprocess import to_model_input

    return to_model_input([np.repeat(im[:, :, None], 3, axis=2) for im in x48], size, "gray")


def augment_one(img: np.ndarray, kps: np.ndarray, rng: np.random.Generator, mask: bool) -> np.ndarray:
    """One (S, S) gray training face -> its augmented copy."""
    from facekit.preprocess import lift_exposure
    from facekit.synthmask import draw_mask

    size = img.shape[0]
    if mask:
        img = draw_mask(np.repeat(img[:, :, None], 3, axis=2), kps, rng, gray=True)[:, :, 0]
    m = cv2.getRotationMatrix2D((size / 2 - 0.5, size / 2 - 0.5), rng.uniform(-12, 12), rng.uniform(0.87, 1.15))
    m[:, 2] += rng.uniform(-0.07, 0.07, 2) * size
    img = cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    if rng.random() < 0.5:
        img = img[:, ::-1]
    f = img.astype(np.float32)
    f = (f - f.mean()) * rng.uniform(0.7, 1.3) + f.mean() + rng.uniform(-0.2, 0.2) * 255
    if rng.random() < 0.15:  # a small or blurred face, as in video and crowds
        small = int(rng.integers(size // 4, size // 2))
        f = cv2.resize(cv2.resize(f, (small, small), interpolation=cv2.INTER_AREA), (size, size),
                       interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.25:  # random erasing: a hand or a shadow over part of the face
        h, w = (rng.uniform(0.15, 0.4, 2) * size).astype(int)
        y0, x0 = int(rng.integers(0, size - h)), int(rng.integers(0, size - w))
        f[y0:y0 + h, x0:x0 + w] = rng.uniform(0, 255)
    # Inference lifts every dark crop (facekit.preprocess.lift_exposure): show the network that face.
    return lift_exposure(np.clip(f, 0, 255).astype(np.uint8))


_SHARED: dict = {}  # the training faces and key points, inherited by the forked augmentation workers


def _augment_chunk(job) -> np.ndarray:
    idx, seeds, mask = job
    x, kps = _SHARED["x"], _SHARED["kps"]
    return np.stack([augment_one(x[i], kps[i], np.random.default_rng(s), m) for i, s, m in zip(idx, seeds, mask)])


def augmentation_pool(x: np.ndarray, kps: np.ndarray, workers: int):
    """Processes, forked before Keras loads (a forked JAX or CUDA runtime can hang): augment_one is mostly
    small numpy steps that hold the GIL, so threads did not scale (one H200 waited on 16 threads, 26 s
    an epoch at 128 px). x: (N, S, S) gray."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    _SHARED.update(x=x, kps=kps)
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=_leave_stops)
    # The executor forks its workers at the first job: here, not at the first epoch's, which came after Keras had
    # started JAX's threads (Python warned "os.fork() ... will likely lead to a deadlock").
    pool.submit(int).result()
    return pool


def _leave_stops() -> None:
    """A worker ignores Ctrl-C and SIGTERM: a terminal sends them to every process of the run, and the
    handler it inherited printed each idle worker's KeyboardInterrupt traceback over the trainer's one line.
    The trainer stops, and the workers end with it."""
    import signal

    from facekit.signals import STOP_SIGNALS

    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def epoch_data(n: int, share: float, seed: int, pool) -> np.ndarray:
    """A fresh augmented copy of every training face in the pool's _SHARED, as (N, S, S, 3)."""
    rng = np.random.default_rng(seed)
    mask = ~np.isnan(_SHARED["kps"]).any(axis=(1, 2)) & (rng.random(n) < share)
    seeds = rng.integers(0, 2**31, n)
    jobs = [(idx, seeds[idx], mask[idx]) for idx in np.array_split(np.arange(n), min(64, n))]
    faces = np.concatenate(list(pool.map(_augment_chunk, jobs)))
    return np.repeat(faces[..., None], 3, axis=3)


def epoch_lr(peak: float, epoch: int, total: int, warm: int) -> float:
    """A linear warm-up over `warm` epochs, then the trainer's cosine down to 2% of `peak` at the last."""
    from facekit.training import cosine_lr

    if epoch < warm:
        return peak * (epoch + 1) / (warm + 1)
    return cosine_lr(peak, epoch - warm, total - warm - 1, alpha=0.02)


def build(size: int, classes: int, packed: Path):
    from facekit.training import build_model, set_fine_tune

    model, base = build_model(classes, size, weights=None, train_batchnorm=True)
    w = np.load(packed / "imagenet_base_fp16.npz")
    base.set_weights([w[f"arr_{i}"].astype(np.float32) for i in range(len(w.files))])
    set_fine_tune(base, "Conv1", batchnorm=True)  # every layer: 27k faces far from ImageNet
    return model


def weights_file(path: Path) -> Path:
    """`path`, a weights file that is there (ModelError where not)."""
    from facekit.errors import ModelError

    if not path.is_file():
        raise ModelError(f"{path}: no such weights file")
    return path


def load_weights(model, path: Path) -> None:
    from facekit.errors import ModelError

    w = np.load(weights_file(path))
    try:
        model.set_weights([w[f"arr_{i}"] for i in range(sum(k.startswith("arr_") for k in w.files))])
    except ValueError as exc:  # another --size or class count
        raise ModelError(f"{path}: these weights do not fit this network ({str(exc).splitlines()[0][:120]})") from None


def choose_backend() -> str:
    """KERAS_BACKEND as set, else JAX where it is installed (a GPU machine without TensorFlow), else TensorFlow.
    Keras imports its backend only after the data is loaded and the workers forked: a backend not installed
    (KERAS_BACKEND=jax on a CPU machine with TensorFlow only) was a traceback from inside Keras, minutes in."""
    from importlib.util import find_spec

    from facekit.errors import FacekitError

    chosen = os.environ.get("KERAS_BACKEND") or next((b for b in ("jax", "tensorflow") if find_spec(b)), "jax")
    os.environ["KERAS_BACKEND"] = chosen
    module = {"jax": "jax", "tensorflow": "tensorflow", "torch": "torch"}.get(chosen)
    if module and find_spec(module) is None:
        raise FacekitError(f"KERAS_BACKEND={chosen}: {module} is not installed here (pip install {module}; "
                           "for a GPU see JAX's install guide), or run with KERAS_BACKEND=tensorflow")
    return chosen


def fit(args) -> None:
    choose_backend()
    t0 = time.time()
    cv2.setNumThreads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log_file = (out / f"{args.name}.log").open("a")

    def log(**kw):
        line = json.dumps({**kw, "t": round(time.time() - t0, 1)})
        print(args.name, line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    packed = Path(args.data)
    d = load_packed(packed, args.limit)
    x_tr, x_va = model_input(d["x_tr"], args.size), model_input(d["x_va"], args.size)
    pool = augmentation_pool(x_tr[..., 0], d["k_tr"] * (args.size / FACE), args.workers)
    import keras  # only now: the workers are forked without it

    keras.utils.set_random_seed(args.seed)
    log(event="data", train=len(x_tr), val=len(x_va), backend=keras.backend.backend(), argv=sys.argv[1:])

    model = build(args.size, len(d["labels"]), packed)
    warm = 2
    if args.init:  # continue a finished run: no warm-up, the cosine from --lr down
        load_weights(model, Path(args.init))
        warm = 0
    opt = keras.optimizers.Adam(args.lr)
    model.compile(optimizer=opt, loss="categorical_crossentropy")  # to the normalised votes

    ready = {}

    def prepare(e):
        ready[e] = epoch_data(len(x_tr), args.mask_share, args.seed * 1000 + e, pool)

    prepare(0)
    total, best, e = args.max_epochs, -1.0, 0
    while e < total:
        nxt = threading.Thread(target=prepare, args=(e + 1,))  # the next epoch's faces while this one trains
        nxt.start()
        lr = epoch_lr(args.lr, e, total, warm)
        opt.learning_rate.assign(lr)  # between fit() calls: the JAX trainer syncs its state only then
        start = time.time()
        h = model.fit(ready.pop(e), d["t_tr"], batch_size=args.batch, epochs=1, shuffle=True, verbose=0)
        secs = time.time() - start
        p = model.predict(x_va, batch_size=512, verbose=0) + model.predict(x_va[:, :, ::-1], batch_size=512, verbose=0)
        acc = float((p.argmax(1) == d["y_va"]).mean())
        log(event="epoch", epoch=e + 1, of=total, lr=float(lr), loss=float(h.history["loss"][-1]), val_flip=acc,
            secs=round(secs, 1))
        if acc > best:
            best = acc
            tmp = out / f"{args.name}.tmp"  # the network's variables only (a .weights.h5 carries Adam's too)
            with tmp.open("wb") as fh:
                np.savez(fh, *model.get_weights(), input_size=np.array(args.size))
            os.replace(tmp, out / f"{args.name}.npz")
            log(event="best", epoch=e + 1, val_flip=acc)
        nxt.join()
        if e == max(warm - 1, 0) and args.deadline:  # the first epochs paid for compiling: time the next ones
            whole = time.time() - start  # training, validation, and any wait for the next epoch's faces
            left = args.deadline - (time.time() - t0)
            total = min(args.max_epochs, e + 1 + max(1, int(left / (whole * 1.03))))
        e += 1
    pool.shutdown()
    log(event="done", best_val_flip=best)


# ---------------------------------------------------------------------------------------------
# folder


def folder(args) -> None:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from facekit.errors import ModelError
    from facekit.heads import CARD, KERAS, ModelCard
    from facekit.preprocess import CropSpec

    packed = Path(args.data)
    labels = [str(s) for s in packed_meta(packed)["labels"]]
    # MobileNetV2's weights fit any input size, so the size the network learnt at travels in the file.
    weights = Path(args.weights)
    # Before the network is built: a mistyped name was said only after Keras' import and MobileNetV2 (~10 s).
    saved = np.load(weights_file(weights))
    learnt = int(saved["input_size"]) if "input_size" in saved.files else None
    if learnt and args.size and learnt != args.size:
        raise ModelError(f"{weights}: learnt at {learnt} px, not --size {args.size}")
    args.size = args.size or learnt
    if not args.size:
        raise ModelError(f"{weights}: the file does not say its input size: give --size")
    model = build(args.size, len(labels), packed)
    load_weights(model, Path(args.weights))
    out = Path(args.model)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / KERAS)
    fit_run = {}  # the fit log: backend, arguments and epochs, kept in the card and drawn as the model's curves
    if args.log:
        events = [json.loads(line) for line in Path(args.log).read_text().splitlines() if line.strip()]
        start = next((e for e in events if e.get("event") == "data"), {})
        epochs = [{k: e[k] for k in ("epoch", "lr", "loss", "val_flip", "secs")} for e in events
                  if e.get("event") == "epoch"]
        fit_run = {"backend": start.get("backend"), **({"argv": start["argv"]} if "argv" in start else {}),
                   "epochs": epochs}
        from facekit.evaluation import training_plot

        # The trainer copies an --init-model's plot when its own run has no epochs.
        training_plot({"loss": [e["loss"] for e in epochs], "val_accuracy": [e["val_flip"] for e in epochs]},
                      out / "plot.png", title="emotion: loss to the votes, FER+ valid accuracy (face + mirror)")
    card = ModelCard(task="emotion", labels=labels, input_size=args.size, color="gray",
                     crop=CropSpec(margin=0.1, square=True), display={}, colors={},
                     extra={"command": args.command or "", "packed": json.loads((packed / "source.json").read_text())
                            if (packed / "source.json").is_file() else {}, "fit": fit_run})
    (out / CARD).write_text(json.dumps(card.to_dict(), indent=2) + "\n")
    print(f"[INFO] {out}: {KERAS} and {CARD} for train_mask_detector.py --init-model")


def main(argv=None) -> int:
    from facekit.cli.common import guarded
    from facekit.signals import end_start_guard

    end_start_guard()
    return guarded(_main)(argv)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack", help="FER+ train/valid -> JPEG mosaics + labels + ImageNet base")
    p.add_argument("-d", "--dataset", nargs="+", required=True)
    p.add_argument("--soft-labels", type=Path, required=True)
    p.add_argument("--val-pattern", default="PublicTest_")
    p.add_argument("--test-pattern", default="PrivateTest_")
    p.add_argument("--jpeg-quality", type=int, default=90, help="training mosaics (validation: 95)")
    p.add_argument("--out", required=True)
    p = sub.add_parser("fit", help="train on a packed folder")
    p.add_argument("--data", required=True)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-epochs", type=int, default=40)
    p.add_argument("--deadline", type=float, default=0, help="seconds from start for the last epoch to end (0: none)")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--mask-share", type=float, default=0.3)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--limit", type=int, help="first N training faces only (smoke runs)")
    p.add_argument("--init", help="NAME.npz of a finished run to continue (no warm-up)")
    p.add_argument("--out", required=True)
    p.add_argument("--name", required=True)
    p = sub.add_parser("folder", help="NAME.npz -> model folder for --init-model")
    p.add_argument("weights")
    p.add_argument("--data", required=True)
    p.add_argument("--size", type=int, help="input size (default: the one the weights file records)")
    p.add_argument("-m", "--model", required=True)
    p.add_argument("--command", help="what made the weights, for the card")
    p.add_argument("--log", help="the fit's NAME.log: its epochs go into the card and plot.png")
    return ap


def _main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    {"pack": pack, "fit": fit, "folder": folder}[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
