"""Emotion heads on FER+ and FER2013, plain and with masks drawn on, in one run.

    python -m bench.emotion [--model DIR] [--limit N] [--no-previous]
    python -m bench.emotion --export-ferplus DIR [--masked-share 0.25]

Rows: facekit's model (models/emotion or --model), the committed models/emotion when --model names another
folder, the previous committed model (the last version in git history that differs from it) and the `fer`
package's mini-Xception. Columns:
- FER+ valid (PublicTest) and test (PrivateTest) with Microsoft's FER+ re-annotation: accuracy against
  the ten annotators' plurality label (images whose plurality is contempt or none of the seven classes
  are left out, as are valid/test images with a byte-identical copy in FER2013's training files), and
  the mean probability the model gives to that label;
- FER2013 test (PublicTest + PrivateTest) with its original folder labels;
- the same FER+ test and FER2013 test faces with a synthetic mask drawn over nose and mouth
  (facekit.synthmask, placed from YuNet's key points, a fixed seed; faces without key points are
  left out of the masked columns).
A second table compares candidate emotion-intensity measures with the share of FER+ valid annotators
who saw an emotion rather than a neutral face.

--export-ferplus writes FER+ train / valid / test as folder-per-class sets (symlinks, plurality label,
duplicates of train left out of valid and test) plus masked copies of a share of the training faces,
and votes.csv, FER+'s ten votes for every file written (a masked copy has its face's votes), for the
trainer's --soft-labels: the emotion head's training data (see the README's recipe).

facekit's heads run here (LiteRT, no TensorFlow in this process); the baseline runs in its own process.
"""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import baselines as B
from bench.common import ROOT, ArgumentParser, assets_root, limit_count, machine_info, print_table, run_bench
from facekit.cli.common import probability
from facekit.softlabels import FERPLUS_COLUMNS

TASK = "emotion"
SPLITS = {"Training": "train", "PublicTest": "valid", "PrivateTest": "test"}
# FER+ vote column -> facekit class; contempt, unknown and NF (not a face) have no class here.
FERPLUS = {column: label for column, label in FERPLUS_COLUMNS.items() if label}
MASK_SIZE = 96  # masks are drawn on the 48 px face scaled up to this, where their edges are not blocks
SEED = 16


@dataclass
class FaceSet:
    name: str
    paths: list[str]
    y: np.ndarray  # label index, facekit order
    votes: np.ndarray | None = None  # (N, 7) FER+ votes in facekit order (None: FER2013 labels)
    rows: list[dict] | None = None  # the ferplus.csv rows (all ten vote columns)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def ferplus_sets(root: Path, labels: list[str]) -> dict[str, FaceSet]:
    """FER+ train / valid / test: plurality label among the seven classes, valid and test without the
    images that also appear (byte for byte) among FER2013's training files."""
    fer = root / "datasets" / "fer2013"
    table = fer / "ferplus.csv"
    if not table.is_file():
        raise SystemExit(f"[ERROR] {table} not found (the FER+ votes come with the asset mirror)")
    train_hashes = {_md5(p) for p in (fer / "train").rglob("*") if p.is_file()}
    order = [next(k for k, v in FERPLUS.items() if v == lab) for lab in labels]
    out = {split: ([], [], [], []) for split in SPLITS.values()}
    with table.open(newline="") as fh:
        for row in csv.DictReader(fh):
            split = SPLITS.get(Path(row["file"]).name.split("_")[0])
            if split is None or row["ferplus_label"] not in labels:
                continue
            path = fer / row["file"]
            if split != "train" and _md5(path) in train_hashes:
                continue
            paths, ys, votes, rows = out[split]
            paths.append(str(path))
            ys.append(labels.index(row["ferplus_label"]))
            votes.append([float(row[c]) for c in order])
            rows.append(row)
    return {s: FaceSet(f"FER+ {s}", p, np.array(y, dtype=np.int64), np.array(v), r)
            for s, (p, y, v, r) in out.items()}


def subset(fs: FaceSet, limit: int | None) -> FaceSet:
    if not limit or limit >= len(fs.y):
        return fs
    idx = np.linspace(0, len(fs.y) - 1, limit).astype(int)
    return FaceSet(fs.name, [fs.paths[i] for i in idx], fs.y[idx], None if fs.votes is None else fs.votes[idx],
                   None if fs.rows is None else [fs.rows[i] for i in idx])


def masked_faces(images: list[np.ndarray], seed: int = SEED) -> list[np.ndarray | None]:
    """Each face scaled to MASK_SIZE with a synthetic mask drawn from YuNet's five key points (YuNet finds
    them on ~97% of FER's 48 px faces); None where it finds none."""
    import cv2

    from facekit.detection import create_detector
    from facekit.synthmask import draw_mask

    detector = create_detector("yunet", 0.5)
    rng = np.random.default_rng(seed)
    out = []
    for image in images:
        faces = [f for f in detector.detect(image) if f.detector_keypoints is not None]
        if not faces:
            out.append(None)
            continue
        kps = max(faces, key=lambda f: f.box.area).detector_keypoints.astype(np.float32)
        scale = np.array([MASK_SIZE / image.shape[1], MASK_SIZE / image.shape[0]], np.float32)
        big = cv2.resize(image, (MASK_SIZE, MASK_SIZE), interpolation=cv2.INTER_LINEAR)
        out.append(draw_mask(big, kps * scale, rng))
    return out


def input_desc(card) -> str:
    """'gray 128 + 112' for a card whose TFLite file averages networks of other sizes: the shipped head's row said
    'gray 128' alone, as if its 112 px network were not there."""
    sizes = [card.input_size] + [m["input_size"] for m in card.extra.get("ensemble", [])
                                 if isinstance(m, dict) and m.get("input_size")]
    return f"{card.color} {' + '.join(map(str, sizes))}"


def export_ferplus(target: Path, share: float, labels: list[str]) -> int:
    """FER+ as folder-per-class sets under `target` (symlinks) plus masked copies of `share` of the
    training faces, written as PNG beside them with the same label."""
    import cv2

    from facekit.preprocess import load_image
    from facekit.records import atomic_write

    sets = ferplus_sets(assets_root(), labels)
    votes = []  # (file relative to target, ferplus.csv row)
    for split, fs in sets.items():
        for path, k, row in zip(fs.paths, fs.y, fs.rows):
            link = Path(split) / labels[k] / Path(path).name
            (target / link).parent.mkdir(parents=True, exist_ok=True)
            if not (target / link).exists():
                os.symlink(path, target / link)
            votes.append((link, row))
    train = sets["train"]
    pick = np.flatnonzero(np.random.default_rng(SEED).random(len(train.y)) < share)
    drawn = masked_faces([load_image(train.paths[i]) for i in pick])
    n = 0
    for i, face in zip(pick, drawn):
        if face is not None:
            name = Path("train") / labels[train.y[i]] / ("masked_" + Path(train.paths[i]).stem + ".png")
            cv2.imwrite(str(target / name), face)
            votes.append((name, train.rows[i]))
            n += 1
    columns = list(train.rows[0])
    with atomic_write(target / "votes.csv", "w") as fh:
        writer = csv.DictWriter(fh, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({**row, "file": str(name)} for name, row in votes)
    counts = {s: len(fs.y) for s, fs in sets.items()}
    print(f"[INFO] {target}: {counts} images, {n} masked training copies")
    return 0


def previous_model(folder: Path, into: Path) -> tuple[Path, str] | None:
    """The last version of `folder`'s model in git history that differs from the file there now,
    written to `into`; None outside a git checkout or when there is no earlier version."""
    try:
        rel = folder.resolve().relative_to(ROOT)
    except ValueError:
        return None
    git = ["git", "-C", str(ROOT)]

    def out(*args) -> str:
        return subprocess.run(git + list(args), capture_output=True, text=True, check=True).stdout.strip()

    try:
        current = out("hash-object", str(rel / "model.tflite"))
        for commit in out("log", "--format=%H", "--", str(rel / "model.tflite")).split():
            if out("rev-parse", f"{commit}:{rel}/model.tflite") == current:
                continue
            into.mkdir(parents=True, exist_ok=True)
            for name in ("card.json", "model.tflite"):
                data = subprocess.run(git + ["show", f"{commit}:{rel}/{name}"], capture_output=True, check=True).stdout
                (into / name).write_bytes(data)
            return into, commit[:7]
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None
    return None


def scores(y: np.ndarray, probs: np.ndarray, keep: np.ndarray | None = None) -> tuple[float, float]:
    """Accuracy and the mean probability given to the right label (over `keep` rows)."""
    if keep is not None:
        y, probs = y[keep], probs[keep]
    return float((probs.argmax(1) == y).mean()), float(probs[np.arange(len(y)), y].mean())


def intensity_table(valid: FaceSet, probs: np.ndarray, labels: list[str]) -> None:
    """Which number tracks "how much emotion" best: each candidate against the share of annotators
    who chose an emotion over neutral (Pearson and Spearman, FER+ valid)."""
    share = 1.0 - valid.votes[:, labels.index("neutral")] / valid.votes.sum(1)
    others = np.delete(probs, labels.index("neutral"), axis=1)
    entropy = -(probs * np.log(np.clip(probs, 1e-9, 1))).sum(1) / np.log(len(labels))
    from facekit.types import emotion_intensity

    used = np.array([emotion_intensity(dict(zip(labels, p))) for p in probs])
    candidates = {"1 - P(neutral) (facekit.types.emotion_intensity)": used,
                  "top non-neutral probability": others.max(1),
                  "top probability if not neutral, else 0": np.where(probs.argmax(1) == labels.index("neutral"),
                                                                     0.0, probs.max(1)),
                  "1 - normalised entropy": 1.0 - entropy}

    def rank(v):
        return np.argsort(np.argsort(v)).astype(float)

    rows = [[name, f"{np.corrcoef(v, share)[0, 1]:.3f}", f"{np.corrcoef(rank(v), rank(share))[0, 1]:.3f}",
             f"{np.abs(v - share).mean():.3f}"] for name, v in candidates.items()]
    print_table("emotion intensity: candidates vs the annotators' non-neutral share (FER+ valid)",
                ["candidate", "Pearson r", "Spearman", "mean |diff|"], rows,
                [f"{len(share)} faces; share = votes for any of the six emotions / votes for the seven classes."])


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(prog="python -m bench.emotion", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="model folder (default: models/emotion); another folder is scored beside the "
                   "committed models/emotion")
    p.add_argument("--limit", type=limit_count, help="use an evenly spread subset of N images per set (development)")
    p.add_argument("--no-previous", action="store_true", help="skip the previous committed model")
    p.add_argument("--export-ferplus", type=Path, metavar="DIR", help="write FER+ as training folders and exit")
    p.add_argument("--masked-share", type=probability, default=0.25,
                   help="with --export-ferplus: share of training faces that also get a masked copy")
    args = p.parse_args(argv)
    labels = B.FACEKIT_LABELS[TASK]
    if args.export_ferplus:
        from facekit.cli.common import check_output_path
        from facekit.errors import FacekitError

        try:  # a file there was a NotADirectoryError traceback once FER+ had been read
            check_output_path(args.export_ferplus, "--export-ferplus", folder=True)
        except FacekitError as err:
            raise SystemExit(f"[ERROR] {err}") from None
        return export_ferplus(args.export_ferplus, args.masked_share, labels)

    from facekit.preprocess import load_image

    root = assets_root()
    B.require("fer_emotion")
    fp = ferplus_sets(root, labels)
    paths, y = B.folder_dataset(root / "datasets" / "fer2013" / "test", labels)
    sets = [subset(fp["valid"], args.limit), subset(fp["test"], args.limit),
            subset(FaceSet("FER2013 test", paths, y), args.limit)]
    images = [[load_image(q) for q in s.paths] for s in sets]
    masked = [masked_faces(images[1]), masked_faces(images[2])]
    drawn = [np.array([m is not None for m in ms]) for ms in masked]
    # One list of crops for every model: plain sets, then the masked faces that could be drawn.
    crops = images[0] + images[1] + images[2] + [m for ms in masked for m in ms if m is not None]
    bounds = np.cumsum([0, len(images[0]), len(images[1]), len(images[2]), int(drawn[0].sum()), int(drawn[1].sum())])
    timing_crops = images[1][:8]

    def row(name, desc, probs, t, cpu="-"):
        part = [probs[bounds[i]:bounds[i + 1]] for i in range(5)]
        v = scores(sets[0].y, part[0])
        plain, masked_fp = scores(sets[1].y, part[1]), scores(sets[1].y[drawn[0]], part[3])
        orig, masked_orig = scores(sets[2].y, part[2]), scores(sets[2].y[drawn[1]], part[4])
        return [name, desc, B.pct(v[0]), B.pct(plain[0]), f"{plain[1]:.3f}", B.pct(masked_fp[0]),
                f"{masked_fp[1]:.3f}", B.pct(orig[0]), B.pct(masked_orig[0]), B.ms(t["ms_b1"]), B.ms(t["ms_b8"]), cpu]

    rows, committed_probs = [], None
    folder, heads, _ = B.load_facekit_head(TASK, args.model)
    with tempfile.TemporaryDirectory(prefix="facekit_prev_emotion_") as tmp:
        models = list(heads)
        if heads:
            from facekit.heads import Head

            # A head trained outside git (runs/...) was scored alone: the committed one it would replace, the
            # number to beat, had no row.
            committed = B.find_model(TASK)
            if args.model and committed is not None and committed.resolve() != folder.resolve():
                shown = committed.relative_to(ROOT) if committed.is_relative_to(ROOT) else committed
                models.append((f"committed ({shown})", Head.load(committed, int8=False)))
            prev = None if args.no_previous else previous_model(folder, Path(tmp))
            if prev is not None:
                models.append((f"previous (git {prev[1]})", Head.load(prev[0])))
        for name, h in models:
            probs = B.head_probs(h, crops)
            if committed_probs is None:
                committed_probs = probs
            B.assert_no_tensorflow("bench.emotion")
            rows.append(row(name, f"{input_desc(h.card)}, {h.model_path.name}", probs,
                            B.head_timing(h, timing_crops), B.ms(B.head_cpu_ms(h, timing_crops))))

    spec = B.BASELINES["fer_emotion"]
    probs, t = B.run_subprocess("fer_emotion", crops=crops, timing_crops=timing_crops)
    rows.append(row("fer mini-Xception", spec.input_desc, probs, t))

    subset_note = f" [SUBSET: at most {args.limit} images per set]" if args.limit else ""
    print(machine_info())
    print_table(
        "emotion: FER+ (plurality of 10 annotators) and FER2013 (original labels), plain and masked",
        ["model", "input", "FER+ valid", "FER+ test", "P(choice)", "FER+ test masked", "P(choice)",
         "FER2013 test", "FER2013 masked", "ms/face b1", "ms/face b8", "CPU ms b1"],
        rows,
        [f"FER+ valid {len(sets[0].y)}, FER+ test {len(sets[1].y)} (masked: {int(drawn[0].sum())}), FER2013 test "
         f"{len(sets[2].y)} (masked: {int(drawn[1].sum())}) images{subset_note}; whole 48x48 faces for every model.",
         "FER+: plurality label of the seven classes; contempt / unknown / not-a-face pluralities and valid/test",
         "  images duplicated in train are left out. P(choice): mean probability given to the annotators' label.",
         "masked: a synthetic mask drawn from YuNet's key points on the face scaled to 96 px (fixed seed).",
         "The fer model trained on FER2013's Training rows with PublicTest as its validation set (checkpoint pick).",
         *B.TIMING_NOTE,
         "CPU ms b1: process CPU time per face at batch 1 (facekit only; its 2 threads both count)."],
    )
    if committed_probs is not None:
        intensity_table(sets[0], committed_probs[bounds[0]:bounds[1]], labels)
    return 0


if __name__ == "__main__":
    sys.exit(run_bench(main))
