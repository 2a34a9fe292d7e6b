"""Video speed and memory: facekit's video loop beside the PyImageSearch-style loop, same run.

    python -m bench.video [--clip PATH] [--model MASK_MODEL] [--passes 10] [--head-every 2,3,4]

Rows: facekit headless on the clip (mask head only; then every head that exists plus landmarks, with
heads every frame and with `--head-every K`), the PyImageSearch detect_mask_video.py loop (frame
resized to width 400, res10 blob, each face cropped, the baseline Keras model's .predict per frame) in
its own process (TensorFlow in the same process slows LiteRT about 2x), and RSS over repeated passes.
FPS = frames / seconds of the frame loop, models already loaded; best of `--repeat` passes each.

Then where each frame's time goes (every stage, ms per frame and per face, drawing and writing an
annotated video included), and how often `--head-every K` gives each face-frame the label that heads
on every frame give. The CPU model and its SIMD flags head the output: the figures depend on them.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench.common import (ROOT, ArgumentParser, assets_root, limit_count, machine_info, print_table, rss_mb,
                          run_bench)

if TYPE_CHECKING:  # imported where it runs: the bench starts without facekit's heavy modules
    from facekit.pipeline import StageTimes

# --- facekit ---------------------------------------------------------------------------------------


DETECTOR: list[str] = []  # ["--detector", NAME] from this bench's --detector, for every facekit row


def _facekit_args(clip: Path, extra: list[str]):
    from facekit.cli.video import build_parser

    return build_parser().parse_args(["--source", str(clip), "--no-display", *DETECTOR, *extra])


def facekit_pass(args, pipeline):
    """One pass of the video script's loop, in this process; its RunStats. The loop takes a Ctrl-C as its run's
    end (its outputs finalized) and returns: the bench went on to the next pass, and a Ctrl-C 2 s into
    `python -m bench.video` left it running for minutes. It ends the bench here."""
    from facekit.cli.video import run

    stats = run(args, pipeline, report=False)
    if stats.interrupted:
        raise KeyboardInterrupt
    return stats


def facekit_fps(clip: Path, pipeline, extra: list[str], repeat: int) -> tuple[float, float, int]:
    """Best FPS of `repeat` passes, the CPU ms per frame of that pass (all threads), frames."""
    args = _facekit_args(clip, extra)
    best, cpu_ms, frames = 0.0, float("nan"), 0
    for _ in range(repeat):
        cpu = time.process_time()
        stats = facekit_pass(args, pipeline)
        cpu = time.process_time() - cpu
        if stats.error:
            raise SystemExit(f"[ERROR] {stats.error}")
        if stats.fps > best:
            best, cpu_ms, frames = stats.fps, 1000 * cpu / max(1, stats.frames), stats.frames
    return best, cpu_ms, frames


def mask_model_path(explicit: str | None) -> Path:
    from facekit.heads import CARD, TFLITE, models_dir

    for folder in ([Path(explicit)] if explicit else [models_dir() / "mask"]):
        if (folder / CARD).is_file() and (folder / TFLITE).is_file():
            return folder
    raise SystemExit("[ERROR] no mask model: train one (models/mask) or pass --model")


def build(heads: dict, landmarks: bool, clip: Path):
    """The pipeline detect_mask_video.py builds by default: its default detector, one pass per frame."""
    from facekit.detection import create_detector
    from facekit.pipeline import FacePipeline

    landmarker = None
    if landmarks:
        from facekit.landmarks import create_landmarker

        landmarker = create_landmarker()
    return FacePipeline(create_detector(_facekit_args(clip, []).detector, fine_pass=False), heads, landmarker)


# --- the PyImageSearch loop (own process: imports TensorFlow) ----------------------------------------


def _load_baseline(path: Path):
    try:
        from bench.baselines import build_pyimagesearch_mask
    except ImportError:
        build_pyimagesearch_mask = None
    if build_pyimagesearch_mask is not None:
        return build_pyimagesearch_mask(path)
    import keras
    from keras import layers

    base = keras.applications.MobileNetV2(input_shape=(224, 224, 3), include_top=False, weights=None)
    x = layers.AveragePooling2D(pool_size=(7, 7))(base.output)
    x = layers.Dense(128, activation="relu")(layers.Flatten()(x))
    x = layers.Dense(2, activation="softmax")(layers.Dropout(0.5)(x))
    model = keras.Model(base.input, x)
    model.load_weights(path)
    return model


def baseline_loop(clip: Path, repeat: int) -> dict:
    """PyImageSearch's detect_mask_video.py, minus the window: same resize, blob, crops and predict."""
    import cv2
    import imutils
    import numpy as np
    from keras.applications.mobilenet_v2 import preprocess_input
    from keras.utils import img_to_array

    root = assets_root()
    face_net = cv2.dnn.readNet(str(root / "models" / "deploy.prototxt"),
                               str(root / "models" / "res10_300x300_ssd_iter_140000.caffemodel"))
    mask_net = _load_baseline(root / "baselines" / "pyimagesearch_mask_detector.h5")

    def detect_and_predict_mask(frame):
        (h, w) = frame.shape[:2]
        blob = cv2.dnn.blobFromImage(frame, 1.0, (224, 224), (104.0, 177.0, 123.0))
        face_net.setInput(blob)
        detections = face_net.forward()
        faces, locs, preds = [], [], []
        for i in range(0, detections.shape[2]):
            if detections[0, 0, i, 2] > 0.5:
                box = detections[0, 0, i, 3:7] * np.array([w, h, w, h])
                (x1, y1, x2, y2) = box.astype("int")
                (x1, y1), (x2, y2) = (max(0, x1), max(0, y1)), (min(w - 1, x2), min(h - 1, y2))
                face = frame[y1:y2, x1:x2]
                if face.size == 0:  # the original crashes here on boxes at the border
                    continue
                face = preprocess_input(img_to_array(cv2.resize(cv2.cvtColor(face, cv2.COLOR_BGR2RGB), (224, 224))))
                faces.append(face)
                locs.append((x1, y1, x2, y2))
        if faces:
            preds = mask_net.predict(np.array(faces, dtype="float32"), batch_size=32, verbose=0)
        return locs, preds

    results = []
    for _ in range(repeat):
        cap = cv2.VideoCapture(str(clip))
        frames, started, cpu = 0, time.perf_counter(), time.process_time()
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frame = imutils.resize(frame, width=400)
            locs, preds = detect_and_predict_mask(frame)
            for (x1, y1, x2, y2), (mask, without) in zip(locs, preds):
                label = "Mask" if mask > without else "No Mask"
                color = (0, 255, 0) if label == "Mask" else (0, 0, 255)
                label = f"{label}: {max(mask, without) * 100:.2f}%"
                cv2.putText(frame, label, (x1, y1 - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 2)
                cv2.rectangle(frame, (x1, y1), (x2, y2), color, 2)
            frames += 1
        results.append((frames / (time.perf_counter() - started), 1000 * (time.process_time() - cpu) / frames))
        cap.release()
    fps, cpu_ms = max(results)
    return {"fps": fps, "cpu_ms": cpu_ms, "frames": frames}


def run_baseline(clip: Path, repeat: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="facekit_bench_") as tmp:
        out = Path(tmp) / "baseline.json"
        cmd = [sys.executable, "-m", "bench.video", "--baseline-loop", "--clip", str(clip), "--repeat", str(repeat),
               "--json", str(out)]
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
        if r.returncode != 0:
            raise SystemExit(f"[ERROR] baseline loop failed:\n{r.stderr[-2000:]}")
        return json.loads(out.read_text())


# --- main --------------------------------------------------------------------------------------------


def stage_pass(clip: Path, pipeline, head_every: int, out_dir: Path | None) -> tuple[dict, StageTimes, float]:
    """One pass of the video loop with every stage timed; the labels of each face-frame, keyed by
    (frame, box), the stage times, and the process CPU ms per frame. With `out_dir`, the frames are
    also drawn and written to an annotated video, as --output does."""
    from facekit.drawing import Style, annotate
    from facekit.pipeline import track_faces
    from facekit.tracking import IoUTracker
    from facekit.video import FrameSource, VideoSink

    pipeline.times.reset()
    times = pipeline.times
    labels = {}
    style = Style.from_heads(pipeline.heads, "mesh" if pipeline.landmarker is not None else None)
    with FrameSource(str(clip)) as source:
        sink = VideoSink(out_dir / "annotated.mp4", source.fps, source.size) if out_dir else None
        cpu = time.process_time()
        for index, frame, faces in track_faces(source, pipeline, IoUTracker(), head_every=head_every):
            for f in faces:
                labels[(index, f.box)] = {task: p.label for task, p in f.predictions.items()}
            if sink is not None:
                with times.stage("drawing", len(faces)):
                    shown = annotate(frame, faces, style, copy=False)
                with times.stage("writing"):
                    sink.write(shown)
        cpu = 1000 * (time.process_time() - cpu) / max(1, times.frames)
        if sink is not None:
            sink.close()
    return labels, copy.deepcopy(times), cpu  # the pipeline's own timer starts again on the next pass


def decode_ms(clip: Path) -> float:
    """Decoding alone (cv2.VideoCapture.read), ms per frame: in the loop it runs on the reader thread."""
    import cv2

    cap, n = cv2.VideoCapture(str(clip)), 0
    start = time.process_time()
    while cap.read()[0]:
        n += 1
    cap.release()
    return 1000 * (time.process_time() - start) / max(1, n)


def print_stage_table(title: str, timed: dict, decode: float) -> None:
    """One column pair (ms per frame, ms per face) per head-every setting: `timed` maps K -> (StageTimes,
    process CPU ms per frame)."""
    tables = {k: {row[0]: row[1:] for row in times.table()} for k, (times, _) in timed.items()}
    stages = list(dict.fromkeys(name for t in tables.values() for name in t))
    beside = set().union(*(times.beside for times, _ in timed.values()))
    rows = [["decode (reader thread, CPU ms)", *[c for _ in timed for c in (f"{decode:.2f}", "-")]]]
    for stage in stages:
        cells = []
        for k in timed:
            per_frame, per_face, faces = tables[k].get(stage, (0.0, None, 0.0))
            cells += [f"{per_frame:.2f}", "-" if per_face is None else f"{per_face:.2f} ({faces:.2f}/frame)"]
        where = " (worker threads, per worker)" if stage == "detector" else " (its own thread)"
        rows.append([stage + where if stage in beside else stage, *cells])
    totals = [sum(v[0] for name, v in tables[k].items() if name not in beside) for k in timed]
    rows.append(["main thread, all stages (wall)", *[c for t in totals for c in (f"{t:.2f}", f"{1000 / t:.1f} FPS")]])
    rows.append(["process CPU, every thread", *[c for _, cpu in timed.values() for c in (f"{cpu:.2f}", "-")]])
    headers = ["stage"] + [h for k in timed for h in (f"ms/frame, head-every {k}", f"ms/face (faces/frame), K={k}")]
    print_table(title, headers, rows,
                notes=["wall ms inside each stage (perf_counter), per frame and per face it ran on; 'frame wait' is"
                       " the main thread waiting for the reader thread, whose decoding CPU is the first row.",
                       "the detector works on the next frames on worker threads (facekit.pipeline.detector_workers)"
                       " while the main thread runs this one's heads, tracking, drawing and writing; its row is the"
                       " time each frame's detection took on its worker; 'detector wait' is the main thread waiting"
                       " for it, and the sum is the main thread's stages only. The landmarks run on their own"
                       " thread beside the heads (FacePipeline._mark_beside); 'landmarks wait' is the main thread"
                       " waiting for them after its heads.",
                       machine_info()])


def agreement(ref: dict, other: dict, tasks: list[str]) -> dict[str, float]:
    """Share of face-frames (present in both runs) whose label for each task is the same; "all" = every task."""
    keys = [k for k in ref if k in other]
    out = {t: sum(ref[k].get(t) == other[k].get(t) for k in keys) / max(1, len(keys)) for t in tasks}
    out["all"] = sum(ref[k] == other[k] for k in keys) / max(1, len(keys))
    return out


def k_values(text: str) -> list[int]:
    """--head-every's type: "2,x" and "0" were a ValueError traceback or an empty table at the end of the run,
    minutes after the options were read."""
    values = [limit_count(k.strip()) for k in text.split(",") if k.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, got {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(prog="python -m bench.video", description=__doc__.splitlines()[0])
    p.add_argument("--clip", type=Path, default=None, help="video (default: the mirror's short_hamilton_clip.mp4)")
    p.add_argument("--model", help="mask model folder (default: models/mask)")
    p.add_argument("--detector", help="facekit's detector for every row (default: the video script's)")
    p.add_argument("--repeat", type=limit_count, default=2, help="passes per FPS row; the best counts (default: 2)")
    p.add_argument("--passes", type=limit_count, default=10, help="passes for the memory row (default: 10)")
    p.add_argument("--head-every", type=k_values, default="2,3,4,6",
                   help="K values for the label-agreement table (default: 2,3,4,6)")
    p.add_argument("--baseline-loop", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    clip = args.clip or assets_root() / "media" / "short_hamilton_clip.mp4"
    if args.clip is not None:  # named before the models load, as the video script does (a traceback at the first row)
        from facekit.errors import VideoError
        from facekit.video import FrameSource, SourceSpec, check_file_source

        try:
            check_file_source(SourceSpec.parse(str(clip)))
            with FrameSource(str(clip)):  # opened too: notes.txt was a VideoError traceback at the first row
                pass
        except VideoError as err:
            p.error(f"argument --clip: {err}")
    DETECTOR[:] = ["--detector", args.detector] if args.detector else []
    from bench.baselines import require

    require("pyimagesearch_mask")

    if args.baseline_loop:
        args.json.write_text(json.dumps(baseline_loop(clip, args.repeat)))
        return 0

    from facekit.tracking import HEAD_EVERY
    from facekit.heads import Head, available_tasks, load_heads, use_int8
    from facekit.runtime import describe as thread_policy

    print(f"[INFO] {machine_info()}", flush=True)
    print(f"[INFO] threads: {thread_policy()}", flush=True)
    int8 = use_int8(video=True)  # the heads as detect_mask_video.py runs them
    mask = Head.load(mask_model_path(args.model), int8)
    others = {t: h for t, h in load_heads(int8=int8).items() if t != "mask"} if available_tasks() else {}
    have_landmarks = True  # the face mesh is part of facekit; its model comes from the resolver

    files = ", ".join(f"{h.task} {h.model_path}" for h in (mask, *others.values()))
    print(f"[INFO] clip {clip.name}; heads: {files}; landmarks: {'yes' if have_landmarks else 'no'}", flush=True)
    mask_only = build({"mask": mask}, landmarks=False, clip=clip)
    detector = mask_only.detector.name
    fps_mask, cpu_mask, n = facekit_fps(clip, mask_only, ["--head-every", "1"], args.repeat)
    fps_mask_k, cpu_mask_k, _ = facekit_fps(clip, mask_only, ["--head-every", str(HEAD_EVERY)], args.repeat)
    fps_k2, cpu_k2, _ = facekit_fps(clip, mask_only, ["--head-every", "1", "--detect-every", "2"], args.repeat)
    with tempfile.TemporaryDirectory(prefix="facekit_bench_") as tmp:
        fps_out, cpu_out, _ = facekit_fps(clip, mask_only, ["--head-every", "1", "--output", f"{tmp}/annotated.mp4",
                                                            "--csv", f"{tmp}/faces.csv"], args.repeat)
    print("[INFO] facekit mask rows done; running the PyImageSearch loop in its own process...", flush=True)
    base = run_baseline(clip, args.repeat)
    all_heads = {"mask": mask, **others}
    everything = build(all_heads, landmarks=have_landmarks, clip=clip)
    names = ", ".join(all_heads) + (" + landmarks" if have_landmarks else "")
    fps_all, cpu_all, _ = facekit_fps(clip, everything, ["--head-every", "1"], args.repeat)
    fps_all_d2, cpu_all_d2, _ = facekit_fps(clip, everything, ["--head-every", "1", "--detect-every", "2"],
                                            args.repeat)
    fps_all_k, cpu_all_k, _ = facekit_fps(clip, everything, ["--head-every", str(HEAD_EVERY)], args.repeat)

    mem_args = _facekit_args(clip, [])
    rss = []
    for _ in range(args.passes):
        facekit_pass(mem_args, mask_only)
        rss.append(rss_mb())

    def ok(cond: bool) -> str:
        return "yes" if cond else "NO"

    def ratio(fps: float) -> float:
        return fps / base["fps"] if base["fps"] else float("nan")

    speedup, speedup_k, speedup_k2 = ratio(fps_mask), ratio(fps_mask_k), ratio(fps_k2)
    cpu_ratio, cpu_ratio_k = base["cpu_ms"] / cpu_mask, base["cpu_ms"] / cpu_mask_k
    rows = [
        [f"facekit, mask head ({detector}, every frame), heads every frame", n, fps_mask, cpu_mask, ">= 80 FPS",
         ok(fps_mask >= 80)],
        [f"facekit, mask head ({detector}, every frame), --head-every {HEAD_EVERY} (the default)", n, fps_mask_k,
         cpu_mask_k, ">= 80 FPS", ok(fps_mask_k >= 80)],
        [f"facekit, mask head ({detector}, --detect-every 2)", n, fps_k2, cpu_k2, "-", "-"],
        [f"facekit, mask head ({detector}, every frame) + --output mp4 + --csv", n, fps_out, cpu_out, "-", "-"],
        ["PyImageSearch loop (res10, width 400, Keras .predict)", base["frames"], base["fps"], base["cpu_ms"], "-",
         "-"],
        ["speed-up, every frame, heads every frame (FPS ratio / CPU ratio)", "-", f"{speedup:.1f}x",
         f"{cpu_ratio:.1f}x", ">= 7x / 4x", ok(speedup >= 7 and cpu_ratio >= 4)],
        [f"speed-up, every frame, --head-every {HEAD_EVERY} (the default)", "-", f"{speedup_k:.1f}x",
         f"{cpu_ratio_k:.1f}x", ">= 7x / 4x", ok(speedup_k >= 7 and cpu_ratio_k >= 4)],
        ["speed-up, --detect-every 2 (FPS ratio / CPU ratio)", "-", f"{speedup_k2:.1f}x",
         f"{base['cpu_ms'] / cpu_k2:.1f}x", "-", "-"],
        [f"facekit, all heads ({names}), heads every frame", n, fps_all, cpu_all, ">= 40 FPS", ok(fps_all >= 40)],
        ["facekit, all heads, heads every frame, --detect-every 2", n, fps_all_d2, cpu_all_d2, "-", "-"],
        [f"facekit, all heads, --head-every {HEAD_EVERY} (the default)", n, fps_all_k, cpu_all_k, ">= 40 FPS",
         ok(fps_all_k >= 40)],
        [f"RSS after pass 1 / pass {args.passes} (MB)", "-", f"{rss[0]:.0f} / {rss[-1]:.0f}", "-", "-", "-"],
        [f"RSS growth over {args.passes} passes (MB)", "-", f"{rss[-1] - rss[0]:+.1f}", "-", "<= 20 MB",
         ok(rss[-1] - rss[0] <= 20)],
    ]
    print_table(f"video: {clip.name} ({n} frames), headless, end to end", ["measurement", "frames", "FPS / value",
                                                                           "CPU ms/frame", "target", "met"], rows,
                notes=["CPU ms/frame = process CPU time (every thread) per frame: less sensitive than FPS to"
                       " other jobs on the machine.",
                       "FPS = frames / seconds of the frame loop (decode thread, detector, heads, tracker; no drawing,"
                       " video or CSV unless the row says so); models loaded once, best of "
                       f"{args.repeat} passes.",
                       "PyImageSearch loop in its own process (TensorFlow), cv2.VideoCapture reads, res10 blob "
                       "224x224 as in its detect_mask_video.py, drawing kept, no window.",
                       f"facekit detector: {detector}, its own default threshold, one pass per frame (the video "
                       "script's default; --fine-pass adds the image script's small-face pass).",
                       machine_info()])

    # Where the time goes, and what skipping head runs costs in labels.
    ks = sorted((set(args.head_every) | {HEAD_EVERY}) - {1})
    with tempfile.TemporaryDirectory(prefix="facekit_bench_") as tmp:
        ref, times1, cpu1 = stage_pass(clip, everything, 1, Path(tmp))
        runs = {k: stage_pass(clip, everything, k, Path(tmp) if k == HEAD_EVERY else None) for k in ks}
    timed = {1: (times1, cpu1), HEAD_EVERY: runs[HEAD_EVERY][1:]} if HEAD_EVERY > 1 else {1: (times1, cpu1)}
    print_stage_table(f"where the time goes: all heads + landmarks, {clip.name}, drawn and written to mp4",
                      timed, decode_ms(clip))

    tasks = list(all_heads)
    agree_rows = []
    for k in ks:
        a = agreement(ref, runs[k][0], tasks)
        share = {t: runs[k][1].faces[f"head:{t}"] / max(1, times1.faces[f"head:{t}"]) for t in tasks}
        agree_rows.append([f"--head-every {k}" + (" (default)" if k == HEAD_EVERY else ""),
                           *[f"{100 * a[t]:.2f}% ({100 * share[t]:.0f}%)" for t in tasks], f"{100 * a['all']:.2f}%",
                           f"{runs[k][2]:.1f}"])
    print_table(f"labels with --head-every K vs heads every frame ({len(ref)} face-frames)",
                ["run", *[f"{t} agree (runs)" for t in tasks], "every head agrees", "CPU ms/frame"], agree_rows,
                notes=[f"heads every frame: {cpu1:.1f} CPU ms/frame. The same detections and tracks in every run, so "
                       "face-frames pair up exactly; (runs) = the head's runs as a share of heads-every-frame's.",
                       "target: >= 98% of face-frames with every head's label unchanged."])
    return 0


if __name__ == "__main__":
    raise SystemExit(run_bench(main))
