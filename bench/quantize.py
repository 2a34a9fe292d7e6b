"""int8 heads: each head's TFLite quantized to int8, measured against the fp16 model it came from, same run.

    python -m bench.quantize [--tasks mask,gender,emotion] [--out DIR] [--calibration 300] [--limit N] [--install]
                             [--float-layers K]

The committed models hold only model.tflite (fp16 weights), not the Keras model the converter would
start from, so the int8 model is made from the TFLite file itself: the fp16 weights are widened to
fp32 in the flatbuffer (each DEQUANTIZE of a constant folded into an fp32 constant), then TensorFlow's
post-training calibrator (the one TFLiteConverter runs after its own conversion) quantizes weights and
activations to int8 from `--calibration` training images; input and output stay float32, so
facekit.heads runs either file unchanged. A model that averages views or networks is quantized whole
(they are not separable without the Keras networks). A folder that already has a
model_int8.tflite (the trainer's --export-int8, quantized from the Keras model) has that one scored
instead of a new one made. `--float-layers K` quantizes from the folder's model.keras instead (the card's
views averaged in, as the trainer exports it) and keeps in float the K layers whose int8 outputs stray
most from their float outputs on the calibration images (TensorFlow's quantization debugger): chosen on
training images, checked on the validation set like any twin. The emotion head shipped that way (K = 5)
until it became two networks averaged (model.keras holds only the first): its twin is now the trainer's
--export-int8, and --float-layers says so rather than quantize half of it.

Then, in a process without TensorFlow (it slows LiteRT 2x), both models score each head's validation
set: mask -> mask_real_val (992 real masks), gender -> the trainer's val split, emotion -> FER+ valid.
A head's int8 file is worth shipping only if its accuracy stays within 0.3 points of fp16; `--install`
copies those into their model folders as model_int8.tflite with int8.json (the fp16 file's sha256, the
numbers, the command), which facekit.heads then uses instead of model.tflite while the hash matches.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import ROOT, ArgumentParser, assets_root, limit_count, machine_info, print_table, run_bench
from facekit.heads import INT8_TOLERANCE

TASKS = ("mask", "gender", "emotion")
TOLERANCE = INT8_TOLERANCE  # accuracy, as a fraction
# Training images the calibrator sees, per task (validation sets are never used to calibrate).
CALIBRATION_SETS = {"mask": "mask", "gender": "gender", "emotion": "fer2013/train"}


# --- step 1: quantize (TensorFlow, own process) ---------------------------------------------------------


def fp16_to_fp32(data: bytes) -> bytes:
    """The same model with fp32 constants: every DEQUANTIZE(fp16 constant) becomes the fp32 constant."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    dequantize = {i for i, c in enumerate(model.operatorCodes)
                  if max(c.builtinCode, c.deprecatedBuiltinCode) == schema.BuiltinOperator.DEQUANTIZE}
    for graph in model.subgraphs:
        kept = []
        for op in graph.operators:
            src = graph.tensors[op.inputs[0]]
            if op.opcodeIndex in dequantize and src.type == schema.TensorType.FLOAT16 \
                    and model.buffers[src.buffer].data is not None:
                buffer = model.buffers[src.buffer]
                wide = np.frombuffer(bytes(buffer.data), dtype=np.float16).astype(np.float32)
                buffer.data = None  # the fp16 copy is dead once nothing reads it
                new = schema.BufferT()
                new.data = np.frombuffer(wide.tobytes(), dtype=np.uint8)
                model.buffers.append(new)
                graph.tensors[op.outputs[0]].buffer = len(model.buffers) - 1
            else:
                kept.append(op)
        graph.operators = kept
    # An operator code nothing uses still has to be registered by the interpreter: drop it.
    used = sorted({op.opcodeIndex for g in model.subgraphs for op in g.operators})
    index = {old: new for new, old in enumerate(used)}
    model.operatorCodes = [model.operatorCodes[i] for i in used]
    for graph in model.subgraphs:
        for op in graph.operators:
            op.opcodeIndex = index[op.opcodeIndex]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def calibration_inputs(task: str, card, n: int) -> list[np.ndarray]:
    """`n` training images, evenly spread over the classes' files, as model input (whole images)."""
    from facekit.preprocess import list_images, load_image, to_model_input

    root = assets_root() / "datasets" / CALIBRATION_SETS[task]
    paths = sorted(p for lab in card.labels if (root / lab).is_dir() for p in list_images(root / lab)[0])
    picks = [paths[i] for i in np.linspace(0, len(paths) - 1, min(n, len(paths))).astype(int)]
    return [to_model_input([load_image(p)], card.input_size, card.color).astype(np.float32) for p in picks]


def quantize(folder: Path, out: Path, n_calibration: int, float_layers: int = 0) -> None:
    import tensorflow as tf
    from tensorflow.lite.python.optimize import calibrator

    from facekit.heads import CARD, INT8, INT8_RECORD, TFLITE, ModelCard, int8_twin

    card = ModelCard.load(folder / CARD)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(folder / CARD, out / CARD)
    stale = (folder / INT8_RECORD).is_file() and int8_twin(folder) is None  # made from an earlier model.tflite
    if (folder / INT8).is_file() and not stale and not float_layers:  # the trainer's twin: score that one
        shutil.copy(folder / INT8, out / TFLITE)
        return
    inputs = calibration_inputs(card.task, card, n_calibration)
    if float_layers:
        int8, kept = selective_int8(folder, card, inputs, float_layers)
        (out / FLOAT_LAYERS).write_text(json.dumps(kept, indent=1) + "\n")
    else:
        wide = fp16_to_fp32((folder / TFLITE).read_bytes())
        int8 = calibrator.Calibrator(wide).calibrate_and_quantize(
            lambda: ([x] for x in inputs), tf.float32, tf.float32, False, tf.int8)
    (out / TFLITE).write_bytes(int8)


FLOAT_LAYERS = "float_layers.json"  # beside a selective twin in --out: the layers it kept in float


def selective_int8(folder: Path, card, inputs: list[np.ndarray], keep_float: int) -> tuple[bytes, list[str]]:
    """int8 from the Keras network (the file model.tflite was exported from, with the card's views
    averaged in as the trainer's export does), except the `keep_float` layers whose int8 outputs stray
    most from their float outputs on the calibration images (root mean square error over the
    quantization step, TensorFlow's quantization debugger), which stay float. The trainer's own int8
    export quantizes every layer; this is for networks where that loses more than the rule allows
    (the 112 px emotion network lost 0.64 points through the calibrator)."""
    import csv
    import io
    import tempfile

    import keras
    import tensorflow as tf

    from facekit.heads import KERAS
    from facekit.training import averaged

    if not (folder / KERAS).is_file():
        raise SystemExit(f"[ERROR] --float-layers needs {folder / KERAS}: retrain the model, or quantize "
                         f"every layer without --float-layers")
    if card.extra.get("ensemble"):
        raise SystemExit(f"[ERROR] --float-layers: {folder} averages an ensemble whose members are not in {KERAS}")
    network = keras.models.load_model(folder / KERAS, compile=False)
    served = averaged([network], tuple(card.extra.get("tta") or ("face",)), card.input_size)

    def calibration():
        for x in inputs:
            yield [x.astype(np.float32)]

    with tempfile.TemporaryDirectory(prefix="facekit_int8_") as tmp:
        served.export(tmp, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = calibration
        debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=calibration)
        debugger.run()
        stats = io.StringIO()
        debugger.layer_statistics_dump(stats)
        stats.seek(0)
        error = {row["tensor_name"]: float(row["mean_squared_error"]) ** 0.5 / float(row["scale"])
                 for row in csv.DictReader(stats) if float(row["scale"]) > 0}
        kept = sorted(error, key=error.get, reverse=True)[:keep_float]
        options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=kept)
        selective = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=calibration,
                                                              debug_options=options)
        return selective.get_nondebug_quantized_model(), kept


# --- step 2: score both (LiteRT only) -------------------------------------------------------------------


def validation(task: str, folder: Path, limit: int | None) -> tuple[str, list[np.ndarray], np.ndarray]:
    from bench import baselines as B
    from facekit.preprocess import load_image

    root = assets_root()
    labels = json.loads((folder / "card.json").read_text())["labels"]
    if task == "mask":
        paths, y = B.folder_dataset(root / "datasets" / "mask_real_val", labels, limit)
        return "mask_real_val (real masks, whole crops)", [load_image(p) for p in paths], y
    if task == "gender":
        from bench.gender import held_out_parts

        parts = held_out_parts(root, folder, json.loads((folder / "card.json").read_text()), "val", limit)
        crops = [c for part in parts.values() for c in part.crops]
        return "the trainer's val split (" + ", ".join(parts) + ")", crops, np.concatenate(
            [part.y for part in parts.values()])
    from bench.emotion import ferplus_sets, subset

    valid = subset(ferplus_sets(root, labels)["valid"], limit)
    return "FER+ valid (PublicTest, FER2013-train duplicates removed)", [load_image(p) for p in valid.paths], valid.y


def cpu_ms_per_face(head, crops: list[np.ndarray], batch: int = 2, repeat: int = 20) -> float:
    """Process CPU ms per face (every thread) at a small batch: steadier than wall time on a busy machine."""
    from facekit.preprocess import to_model_input

    x = to_model_input((list(crops) * batch)[:batch], head.card.input_size, head.card.color)
    head.predict_inputs(x)
    start = time.process_time()
    for _ in range(repeat):
        head.predict_inputs(x)
    return 1000 * (time.process_time() - start) / (repeat * batch)


def score(task: str, fp16: Path, int8: Path, limit: int | None) -> dict:
    from bench import baselines as B
    from facekit.heads import Head

    what, crops, y = validation(task, fp16, limit)
    out = {"task": task, "set": what, "images": len(y)}
    probs = {}
    for name, head in (("fp16", Head.load(fp16, int8=False)), ("int8", Head.load(int8, int8=False))):
        probs[name] = B.head_probs(head, crops)
        out[f"{name}_accuracy"] = round(B.accuracy(y, probs[name]), 5)
        out[f"{name}_cpu_ms_per_face"] = round(cpu_ms_per_face(head, crops[:8]), 3)
    out["same_label"] = round(float((probs["fp16"].argmax(1) == probs["int8"].argmax(1)).mean()), 5)
    out["holds"] = out["int8_accuracy"] - out["fp16_accuracy"] >= -TOLERANCE
    return out


def install(result: dict, folder: Path, int8: Path, calibration: int, float_layers: int = 0) -> None:
    """model.int8.tflite + int8.json into the model folder (temp file then rename, like every output)."""
    from facekit.assets import sha256sum
    from facekit.heads import CARD, INT8, INT8_RECORD, TFLITE
    from facekit.records import atomic_write

    # The trainer's twin was scored as it is; anything else in the folder (a twin of an earlier
    # model.tflite) is replaced by the file just scored.
    trainers = not float_layers and (folder / INT8).is_file() and (folder / INT8).read_bytes() == (
        int8 / TFLITE).read_bytes()
    selective = f" --float-layers {float_layers}" if float_layers else ""
    record = {"source": TFLITE, "source_sha256": sha256sum(folder / TFLITE),
              "made_by": "the trainer's --export-int8 (see card.json's command)" if trainers else
              f"python -m bench.quantize --tasks {result['task']} --calibration {calibration}{selective} --install",
              "method": "int8 weights and activations, float32 input and output; " + (
                  "quantized from the Keras model" if trainers else
                  f"quantized from the Keras model (model.keras, with the card's views), the {float_layers} layers "
                  "whose int8 outputs strayed most from float on the calibration images kept float"
                  if float_layers else
                  "fp16 weights widened to fp32, then TensorFlow's post-training calibrator"),
              **({"float_layers": json.loads((int8 / FLOAT_LAYERS).read_text())} if float_layers else {}),
              "calibration": "the trainer's (256 training faces)" if trainers else
              f"{calibration} training images from datasets/{CALIBRATION_SETS[result['task']]}",
              "validated_by": f"python -m bench.quantize --tasks {result['task']}{selective} --install",
              "validation": {k: v for k, v in result.items() if k not in ("task", "holds")},
              "machine": machine_info(),
              "licence": "the same as model.tflite's (see card.json)"}
    if not trainers:
        with atomic_write(folder / INT8, "wb") as fh:
            fh.write((int8 / TFLITE).read_bytes())
    with atomic_write(folder / INT8_RECORD, "w") as fh:
        fh.write(json.dumps(record, indent=2) + "\n")
    # The card's files named every file but this one (the gender head's), as a head trained without
    # --export-int8 left it.
    card = json.loads((folder / CARD).read_text(encoding="utf-8"))
    if isinstance(card.get("files"), dict) and card["files"].get("tflite_int8") != INT8:
        card["files"]["tflite_int8"] = INT8
        with atomic_write(folder / CARD, "w") as fh:
            fh.write(json.dumps(card, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(prog="python -m bench.quantize", description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", default=",".join(TASKS), help="heads to quantize (default: all three)")
    p.add_argument("--out", type=Path, default=Path("/tmp/facekit_int8"), help="where the int8 folders go")
    p.add_argument("--calibration", type=limit_count, default=300, help="training images for calibration (default 300)")
    p.add_argument("--limit", type=limit_count,
                   help="score an evenly spread subset of N validation images (development)")
    p.add_argument("--install", action="store_true",
                   help="copy the int8 models that hold into their model folders (model.int8.tflite + int8.json)")
    p.add_argument("--float-layers", type=int, default=0, metavar="K",
                   help="quantize from the folder's model.keras and keep in float the K layers whose int8 "
                        "outputs stray most from float on the calibration images (default 0: every layer int8)")
    p.add_argument("--quantize-only", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    # The calibration images come from the mirror: without it, TensorFlow's converter swallowed the error in its
    # calibration generator and three "int8 written" lines came before it was named.
    assets_root()
    from facekit.cli.common import check_output_path
    from facekit.errors import FacekitError

    try:  # a file there was a NotADirectoryError traceback from the TensorFlow process, then "quantizing failed"
        check_output_path(args.out, "--out", folder=True)
    except FacekitError as err:
        raise SystemExit(f"[ERROR] {err}") from None

    from facekit.heads import INT8, available_tasks

    found = available_tasks()
    asked = [t.strip() for t in args.tasks.split(",") if t.strip()]
    other = [t for t in asked if t not in TASKS]
    if other:  # an own head fell through to FER+'s validation and died there (StopIteration)
        raise SystemExit(f"[ERROR] bench.quantize scores the shipped heads only ({', '.join(TASKS)}), not "
                         f"{', '.join(other)}: train your head with --export-int8, which validates its int8 twin")
    tasks = [t for t in asked if t in found]
    if args.quantize_only:  # the TensorFlow half, in its own process
        for task in tasks:
            start = time.perf_counter()
            quantize(found[task], args.out / task, args.calibration, args.float_layers)
            print(f"[INFO] {task}: int8 written to {args.out / task} in {time.perf_counter() - start:.0f}s", flush=True)
        return 0

    print(f"[INFO] {machine_info()}", flush=True)
    cmd = [sys.executable, "-m", "bench.quantize", "--quantize-only", "--tasks", ",".join(tasks), "--out",
           str(args.out), "--calibration", str(args.calibration), "--float-layers", str(args.float_layers)]
    if subprocess.call(cmd, cwd=ROOT) != 0:
        raise SystemExit("[ERROR] quantizing failed")
    results = [score(task, found[task], args.out / task, args.limit) for task in tasks]
    rows = [[r["task"], f"{r['set']}: {r['images']}", f"{100 * r['fp16_accuracy']:.2f}%",
             f"{r['fp16_cpu_ms_per_face']:.2f}", f"{100 * r['int8_accuracy']:.2f}%", f"{r['int8_cpu_ms_per_face']:.2f}",
             f"{100 * (r['int8_accuracy'] - r['fp16_accuracy']):+.2f}", f"{100 * r['same_label']:.2f}%",
             f"{(args.out / r['task'] / 'model.tflite').stat().st_size / 1e6:.1f}", "yes" if r["holds"] else "NO"]
            for r in results]
    print_table("int8 (weights and activations) vs the fp16 model, validation sets",
                ["head", "validation set: images", "fp16 acc", "fp16 CPU ms/face", "int8 acc", "int8 CPU ms/face",
                 "change (points)", "same label", "int8 MB", "holds"],
                rows, notes=[f"holds = int8 accuracy no more than {100 * TOLERANCE:.1f} points below fp16.",
                             f"calibration: {args.calibration} training images per head, never validation images.",
                             "CPU ms/face: process CPU time, batch of 2, the engine's default threads.",
                             machine_info()])
    if args.install:
        for r in results:
            if r["holds"] and not args.limit:
                install(r, found[r["task"]], args.out / r["task"], args.calibration, args.float_layers)
                print(f"[INFO] {r['task']}: {found[r['task']] / INT8} installed", flush=True)
            else:
                print(f"[INFO] {r['task']}: not installed ({'--limit run' if r['holds'] else 'accuracy does not hold'})")
    return 0


if __name__ == "__main__":
    sys.exit(run_bench(main))
