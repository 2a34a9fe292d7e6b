"""The benchmarks as README tells a user to run them: what they print, and how they refuse bad input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest


def _fake_baseline(name, crops=None, image_paths=None, timing_crops=None, timeout=1800):
    """bench.baselines.run_subprocess without TensorFlow: every input called with_mask."""
    n = len(crops or []) + len(image_paths or [])
    return np.tile([1.0, 0.0], (n, 1)), ({"ms_b1": 1.0, "ms_b8": 1.0} if timing_crops else {})


def _cpu_line_count(text: str) -> int:
    return sum(1 for line in text.splitlines() if "CPU: " in line and "SIMD: " in line)


def _timings_beside_tensorflow(monkeypatch):
    """bench.mask refuses to time in a process that imported TensorFlow (LiteRT runs ~2x slower there), and an
    earlier test in this pytest worker may have: these tests read its tables, not its timings."""
    from bench import baselines

    monkeypatch.setattr(baselines, "assert_no_tensorflow", lambda where: None)


def test_mask_bench_names_the_cpu_its_timings_ran_on(monkeypatch, capsys):
    """bench.mask printed ms per face for facekit and PyImageSearch with no CPU model or SIMD flags, where
    README says every bench does (the figures differ 2-4x between the project's machines)."""
    from bench import baselines
    from bench import mask

    monkeypatch.setattr(baselines, "run_subprocess", _fake_baseline)
    _timings_beside_tensorflow(monkeypatch)
    monkeypatch.setattr(mask, "by_width", lambda *a, **k: None)
    assert mask.main(["--limit", "4"]) == 0
    out = capsys.readouterr().out
    assert "ms/face b1" in out
    assert _cpu_line_count(out) >= 2, out  # before the work, and under the table that holds the timings


@pytest.mark.slow  # detects every annotated face twice (res10, YuNet): ~20 s on 2 cores
def test_landmarks_bench_names_the_cpu_its_timings_ran_on(monkeypatch, capsys):
    """bench.landmarks printed 'ms per face' rows with the core count and load but not the CPU model or its
    SIMD flags, which decide them."""
    from bench import landmarks

    monkeypatch.setattr(landmarks, "time_per_call", lambda fn, repeat=50, warmup=5: 1.0)
    monkeypatch.setattr(landmarks, "cpu_ms_per_call", lambda fn, repeat=200: 1.0)
    assert landmarks.main([]) == 0
    out = capsys.readouterr().out
    assert "ms per face" in out
    assert _cpu_line_count(out) >= 2, out


@pytest.mark.parametrize("argv, message", [
    (["--runs", "0"], "argument --runs: must be 1 or more, got 0"),
    (["--runs", "-2"], "argument --runs: must be 1 or more, got -2"),
    (["--image", "no_such_photo.png"], "argument --image: no such file: no_such_photo.png"),
    (["--image", "/dev/null"], "argument --image: /dev/null: a device, not a photo"),  # was "no such file"
])
def test_cli_bench_refuses_bad_arguments_in_one_line_before_any_work(argv, message, capsys):
    """bench.cli --runs 0 started a server, timed nothing and ended in a FileNotFoundError traceback (--runs -2
    the same); a missing --image was found only by the first timed command, after the server had loaded,
    and was shown as a Python list: "failed: ['[ERROR] ...: no such file']"."""
    from bench import cli

    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err


def test_cli_bench_quotes_a_failed_commands_last_line_as_text():
    from bench.cli import last_line

    assert last_line("[INFO] loading\n[ERROR] x.png: no such file\n") == "[ERROR] x.png: no such file"
    assert last_line("") == "(nothing on stderr)"


@pytest.mark.parametrize("argv, message", [
    (["--repeat", "0"], "argument --repeat: must be 1 or more, got 0"),
    (["--passes", "0"], "argument --passes: must be 1 or more, got 0"),
    (["--head-every", "2,x"], "argument --head-every: expected a whole number, got 'x'"),
    (["--head-every", "0"], "argument --head-every: must be 1 or more, got 0"),
    (["--head-every", ","], "argument --head-every: expected whole numbers separated by commas, got ','"),
    (["--clip", "no_such_clip.mp4"], "argument --clip: no_such_clip.mp4: no such file"),
])
def test_video_bench_refuses_bad_arguments_in_one_line_before_any_work(argv, message, capsys):
    """bench.video --repeat 0 ended in max()'s ValueError traceback after the models loaded, --passes 0 and
    --head-every 2,x in an IndexError / ValueError traceback after every FPS row had run (minutes), and a
    missing --clip in facekit's VideoNotFoundError traceback."""
    from bench import video

    with pytest.raises(SystemExit) as stop:
        video.main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err


def test_video_bench_refuses_a_clip_that_is_no_video_in_one_line(tmp_path, capsys):
    """--clip notes.txt passed the name checks and ended in facekit's VideoError traceback at the first row."""
    from bench import video

    notes = tmp_path / "notes.txt"
    notes.write_text("take 2 is the good one\n")
    with pytest.raises(SystemExit) as stop:
        video.main(["--clip", str(notes)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and f"argument --clip: {notes}: not a readable video" in err, err


def test_a_bench_interrupted_says_so_in_one_line():
    from bench.common import run_bench

    def interrupted():
        raise KeyboardInterrupt

    assert run_bench(interrupted) == 130
    assert run_bench(lambda: 0) == 0


@pytest.mark.slow  # starts bench.landmarks for real (its imports: ~1 s)
def test_ctrl_c_in_make_bench_is_one_line_per_process_and_exit_130():
    """Ctrl-C during `make bench` (python -m bench) printed two KeyboardInterrupt tracebacks, the bench's
    and the runner's; now the bench says it was interrupted, the runner names the benches not run, and the
    exit status is 130 as the scripts' own."""
    import os
    import signal
    import subprocess
    import sys
    import threading

    from .conftest import ROOT

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # SIGINT at its default in the child: under `&` or a test runner it may come in ignored, as a terminal's doesn't.
    proc = subprocess.Popen([sys.executable, "-m", "bench", "landmarks", "cli"], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # Pressed once bench.landmarks is at work (its CPU line): a fixed 6 s could come before its imports ended on a
    # loaded machine (they take 0.6-1 s here at load 15); a Ctrl-C there is the next test's.
    # The line never came in 5 minutes: both processes are ended, and the test fails below.
    hung = threading.Timer(300, os.killpg, (proc.pid, signal.SIGKILL))
    hung.start()
    try:
        started = next((line for line in proc.stdout if line.startswith("[INFO] CPU: ")), None)
    finally:
        hung.cancel()
    assert started, proc.communicate(timeout=60)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole foreground group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert "[INFO] interrupted\n" in err and "[INFO] interrupted during bench.landmarks; not run: cli" in err, err


def test_a_ctrl_c_inside_a_compiled_modules_import_is_one_line(capsys):
    """A Ctrl-C that landed while a bench imported LiteRT (its first model: bench.landmarks in `make bench`, seen in a
    loaded test run) came out as LiteRT's ImportError("initialization failed") caused by the KeyboardInterrupt, and
    the bench printed both tracebacks; it is the one line and 130 now. Any other ImportError is still raised."""
    from bench.common import run_bench

    def interrupted_import():
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise ImportError("initialization failed") from exc

    assert run_bench(interrupted_import) == 130
    assert capsys.readouterr().err == "\n[INFO] interrupted\n"

    def missing():
        raise ImportError("No module named 'imutils'")

    with pytest.raises(ImportError, match="imutils"):
        run_bench(missing)


@pytest.mark.parametrize("command, sig, said, status", [
    (["bench.lowlight"], "SIGINT", "\n[INFO] interrupted\n", 130),
    (["bench", "lowlight", "mask"], "SIGINT",
     "\n[INFO] interrupted\n[INFO] interrupted during bench.lowlight; not run: mask\n", 130),
    (["bench.lowlight"], "SIGTERM", "[INFO] interrupted\n", 143),  # was killed outright, without a word
])
def test_ctrl_c_while_a_bench_still_imports_is_one_line_and_exit_130(command, sig, said, status, tmp_path):
    """A Ctrl-C while a bench still imported its modules (OpenCV, numpy, TensorFlow: the first 0.2-5 s) was a
    KeyboardInterrupt traceback from inside the import, exit 1 (and under `python -m bench`, the runner's line
    under it): now it is the line a Ctrl-C later in the bench gives, and exit 130. The Ctrl-C lands while the
    bench imports OpenCV (held there until it comes), in the bench's process and the runner's alike."""
    import signal
    import sys

    from .conftest import interrupt_during_import

    run = interrupt_during_import("cv2", [sys.executable, "-m", *command], tmp_path, getattr(signal, sig))
    assert run.returncode == status, run.stderr
    assert run.stderr == said


def test_a_ctrl_c_in_a_video_bench_pass_ends_the_bench(media):
    """bench.video runs the video script's loop in its own process, and that loop takes a Ctrl-C as the end of its
    run and returns: the bench went on to its next pass and row, and a Ctrl-C 2-4 s into `python -m bench.video`
    left it running (over 40 s later, when it was killed). Now the pass raises it, for run_bench's line and exit
    130. The stop comes as the server's do (request_stop), so it lands in the loop, at its first frame."""
    import signal

    from bench import video
    from facekit.heads import Head
    from facekit.signals import clear_stop, request_stop

    clip = media / "short_hamilton_clip.mp4"
    pipeline = video.build({"mask": Head.load(video.mask_model_path(None))}, landmarks=False, clip=clip)
    request_stop(signal.SIGINT)
    try:
        with pytest.raises(KeyboardInterrupt):
            video.facekit_fps(clip, pipeline, ["--head-every", "1", "--max-frames", "20"], repeat=3)
    finally:
        clear_stop()
    stats = video.facekit_pass(video._facekit_args(clip, ["--max-frames", "3"]), pipeline)  # no stop: runs
    assert stats.frames == 3 and not stats.interrupted


@pytest.mark.slow  # loads every detector and runs the first on one scene: ~10 s
def test_detection_bench_limit_also_limits_the_closeups(monkeypatch):
    """bench.detection --limit 10, "a quick look", ran every detector on all 322 close-up frames anyway:
    9 minutes on 2 cores, most of it close-ups."""
    from bench import detection

    seen = []

    class Enough(Exception):
        pass

    def closeup_found(detector, views, iou=detection.IOU):
        seen.append(len(views))
        raise Enough

    monkeypatch.setattr(detection, "closeup_found", closeup_found)
    with pytest.raises(Enough):
        detection.main(["--limit", "3", "--no-baseline"])
    assert seen == [3]


def test_readme_says_what_detection_bench_limit_takes_as_its_help_does():
    """README said bench.detection --limit N scores 'the first N scenes and N close-ups', where its --help (and the
    bench) take N evenly spread close-ups: a user comparing two quick looks' close-up rows expected the first N."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    readme = " ".join((root / "README.md").read_text().split())
    said = re.search(r"detection: (the first N scenes and N [a-z ]*close-ups)", readme)
    assert said, "README's --limit sentence"
    usage = subprocess.run([sys.executable, "-m", "bench.detection", "--help"], capture_output=True, text=True,
                           cwd=root, timeout=120).stdout
    usage = " ".join(usage.split()).replace("close- up", "close-up")  # argparse wraps at the hyphen
    assert said.group(1).removesuffix("s") + " frames" in usage, usage


def test_batch_bench_pairs_the_scripts_photos_with_the_batchs_rows_through_links(tmp_path):
    """bench.batch links the mirror's photos into one folder; it keyed the image script's records by the
    link's target and facekit-batch's rows by the link, so its table said 'photos identical to (a): 0/6'
    (and printed 'batch: None' for each) where the two agreed on every photo."""
    import json

    from bench.batch import script_faces
    from facekit.batch import _source_name

    target = tmp_path / "mirror" / "a.jpg"
    target.parent.mkdir()
    target.write_bytes(b"")
    link = tmp_path / "photos" / "0000_a.jpg"
    link.parent.mkdir()
    link.symlink_to(target)
    record = {"image": str(link), "faces": [{"box": [1, 2, 3, 4], "mask": {"label": "with_mask"}}]}
    (tmp_path / "faces.jsonl").write_text(json.dumps(record) + "\n")
    assert script_faces(tmp_path / "faces.jsonl") == {_source_name(link): [((1, 2, 3, 4), ("with_mask",))]}


def test_quantize_bench_without_the_mirror_says_so_before_quantizing(tmp_path):
    """Without the asset mirror, bench.quantize printed 'mask: int8 written ...' for all three heads (TensorFlow's
    converter swallowed the error in its calibration generator) before the mirror was named."""
    import os
    import subprocess
    import sys

    from .conftest import ROOT

    env = {**os.environ, "PYTHONPATH": str(ROOT), "FACEKIT_ASSETS": str(tmp_path / "no_mirror")}
    res = subprocess.run([sys.executable, "-m", "bench.quantize", "--out", str(tmp_path / "int8")], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert "[ERROR] benchmarks need the asset mirror" in res.stderr
    assert "int8 written" not in res.stdout and not (tmp_path / "int8").exists(), res.stdout


def test_bench_tables_give_each_column_one_precision(capsys):
    """bench.detection's recall column read 0.9000 above 1.0 and 0.0000 (R<16), bench.cli's 'median s' 0.8304
    above 13.0: the 1.0 looked rounded, or another kind of number."""
    from bench.common import print_table

    text = print_table("t", ["name", "recall", "ms", "n"], [["a", 0.9, 228.43, 3], ["b", 1.0, 25.7, 4],
                                                             ["c", 0.0, float("nan"), 5]])
    lines = text.splitlines()[4:]
    assert [line.split(" | ")[1].strip() for line in lines] == ["0.9000", "1.0000", "0.0000"]
    assert [line.split(" | ")[2].strip() for line in lines] == ["228.4", "25.7", "nan"]


def test_quantize_bench_refuses_calibration_below_one(capsys):
    """--calibration 0 (or -5) was accepted, asking to quantize with no calibration image at all."""
    from bench import quantize

    with pytest.raises(SystemExit) as stop:
        quantize.main(["--calibration", "0"])
    assert stop.value.code == 2
    assert "argument --calibration: must be 1 or more, got 0" in capsys.readouterr().err


@pytest.mark.parametrize("bench, argv", [("mask", ["--limit", "2"]), ("gender", ["--limit", "2"]),
                                         ("emotion", ["--limit", "2"]), ("detection", ["--limit", "1"]),
                                         ("video", []), ("cli", [])])
def test_a_missing_baseline_is_one_line_before_any_work(bench, argv, tmp_path, monkeypatch):
    """A mirror without baselines/ (or without one file of it): bench.mask ran facekit's half, then stopped with a
    RuntimeError traceback from the baseline's process; bench.video printed that process's traceback text after
    the facekit rows, and bench.cli said so after the timed runs."""
    import importlib

    from .conftest import ASSETS

    mirror = tmp_path / "mirror"
    (mirror / "baselines").mkdir(parents=True)
    (mirror / "MANIFEST.md").symlink_to(ASSETS / "MANIFEST.md")
    # "Before any work" was a wall-clock bound (5 s), which a loaded CI machine can pass 3-10x slower, and which
    # a --limit 2 run's work could fit under. The mirror's models, photos and datasets are empty folders instead:
    # a bench that touched any of them first ends in another error than the baseline's line.
    for name in ("models", "media", "datasets"):
        (mirror / name).mkdir()
    monkeypatch.setenv("FACEKIT_ASSETS", str(mirror))
    module = importlib.import_module(f"bench.{bench}")
    with pytest.raises(SystemExit) as stop:
        module.main(argv)
    assert "not found (the baselines live in the asset mirror)" in str(stop.value.code), stop.value.code
    assert str(stop.value.code).startswith(f"[ERROR] {mirror / 'baselines'}/")


def test_gender_bench_checks_its_errors_sheet_path_before_any_work(tmp_path):
    """bench.gender --errors missing/sheet.png ran the whole bench, then stopped with a FacekitError traceback
    saying the folder was 'gone (removed or moved during the run?)': it never existed."""
    from bench import gender

    with pytest.raises(SystemExit) as stop:
        gender.main(["--limit", "2", "--errors", str(tmp_path / "missing" / "sheet.png")])
    assert stop.value.code == f"[ERROR] --errors folder does not exist: {tmp_path / 'missing'}"


@pytest.mark.parametrize("levels, message", [
    ("8,x", "argument --levels: expected a number, got 'x'"),
    ("-5", "argument --levels: expected grey levels from 0 to 255 separated by commas, got '-5'"),
    ("12,300", "argument --levels: expected grey levels from 0 to 255 separated by commas, got '12,300'"),
])
def test_lowlight_bench_refuses_levels_outside_0_255_in_one_line(levels, message, capsys):
    """bench.lowlight --levels 8,x was a ValueError traceback; -5 and 300, outside the 0-255 its help names, ran
    every head on faces dimmed to them."""
    from bench import lowlight

    with pytest.raises(SystemExit) as stop:
        lowlight.main(["--levels", levels])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err


def test_gender_bench_names_a_missing_compare_model_before_any_work(tmp_path):
    """bench.gender --compare DIR with no model there: a ModelError traceback once facekit's head had scored
    every crop."""
    from bench import gender

    with pytest.raises(SystemExit) as stop:
        gender.main(["--limit", "2", "--compare", str(tmp_path / "none")])
    assert stop.value.code == f"[ERROR] {tmp_path / 'none'}: no card.json + model.tflite there"


def test_make_bench_points_quantize_to_its_own_command(capsys):
    """python -m bench quantize said "no bench module for quantize", where bench/quantize.py is plain to see."""
    from bench.__main__ import main

    with pytest.raises(SystemExit) as stop:
        main(["quantize"])
    assert stop.value.code == 2
    assert "bench.quantize makes models, so python -m bench does not run it: python -m bench.quantize" in \
        capsys.readouterr().err


@pytest.mark.parametrize("module, argv, message", [
    ("__main__", ["nosuch"], "no bench module for nosuch"),
    ("detection", ["--limit", "0"], "argument --limit: must be 1 or more, got 0"),
    ("mask", ["--limit", "x"], "argument --limit: expected a whole number, got 'x'"),
    ("landmarks", ["extra"], "unrecognized arguments: extra"),
])
def test_bench_usage_errors_are_one_error_line_as_the_scripts(module, argv, message, capsys):
    """The benches' usage errors were argparse's usage block and "python -m bench.detection: error: ...", where
    every other command prints one "[ERROR] ..." line (what a log is searched for)."""
    import importlib

    with pytest.raises(SystemExit) as stop:
        importlib.import_module(f"bench.{module}").main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"[ERROR] {message}") and "usage:" not in err and err.count("\n") == 1, err


def test_mask_bench_limit_also_limits_the_scene_faces(monkeypatch, capsys):
    """bench.mask --limit 40 still read all 200 scenes of mask_scenes_val and ran the head on their 839 faces,
    in colour and in grey, for its by-width table."""
    from bench import baselines
    from bench import mask

    monkeypatch.setattr(baselines, "run_subprocess", _fake_baseline)
    _timings_beside_tensorflow(monkeypatch)
    assert mask.main(["--limit", "3"]) == 0
    rows = [line.split(" | ") for line in capsys.readouterr().out.splitlines() if line.startswith("colour  | all")]
    assert len(rows) == 1 and 0 < int(rows[0][2]) < 30, rows


def test_cli_bench_prints_the_thread_policy_as_readme_says(monkeypatch, capsys):
    """README: bench.video prints the CPU model, its SIMD flags, the thread policy and the load, "python -m
    bench.cli does the same"; bench.cli printed no thread policy (FACEKIT_THREADS changes its figures)."""
    import contextlib

    from bench import cli

    def wall(cmd, out, server=None):
        out.write_text('{"faces": []}')
        return 0.5

    monkeypatch.setattr(cli, "wall", wall)
    monkeypatch.setattr(cli, "facekit_server", contextlib.contextmanager(lambda folder: iter([None])))
    monkeypatch.setattr(cli, "stage_times", lambda image, out: [("read image", 1.0, 1.0)])
    assert cli.main(["--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "[INFO] threads: " in out and " per engine" in out, out
    # The stage table's note names the row its stage timer's rows sit in, as the stage script names it: it said
    # "inside '(detect + heads, total)'", a row there is not.
    assert "inside the 'detect + heads' row" in out and 'step(f"detect + heads (' in cli._STAGES


def test_quantize_bench_out_that_is_a_file_is_one_line_before_any_work(tmp_path):
    """bench.quantize --out FILE: a NotADirectoryError traceback from its TensorFlow process (after ~10 s of
    imports), then '[ERROR] quantizing failed'."""
    from bench import quantize

    taken = tmp_path / "int8"
    taken.write_text("")
    with pytest.raises(SystemExit) as stop:
        quantize.main(["--out", str(taken), "--tasks", "mask"])
    assert stop.value.code == f"[ERROR] --out {taken} is a file, not a folder"


def test_emotion_bench_export_folder_that_is_a_file_is_one_line(tmp_path):
    """bench.emotion --export-ferplus FILE: a NotADirectoryError traceback once FER+ had been read."""
    from bench import emotion

    taken = tmp_path / "ferplus"
    taken.write_text("")
    with pytest.raises(SystemExit) as stop:
        emotion.main(["--export-ferplus", str(taken)])
    assert stop.value.code == f"[ERROR] --export-ferplus {taken} is a file, not a folder"


def test_emotion_bench_masked_share_is_a_share(tmp_path, capsys):
    """--masked-share 1.5 or -1 was taken: a share of the training faces is from 0 to 1."""
    from bench import emotion

    for bad in ("1.5", "-0.1", "nan"):
        with pytest.raises(SystemExit) as stop:
            emotion.main(["--export-ferplus", str(tmp_path / "out"), "--masked-share", bad])
        assert stop.value.code == 2
        assert f"argument --masked-share: must be between 0 and 1, got {bad}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_emotion_bench_input_column_names_every_network_of_the_shipped_head():
    """The shipped emotion head averages a 128 px and a 112 px network; its input column said 'gray 128'."""
    from bench import emotion
    from facekit.heads import CARD, ModelCard

    models = Path(emotion.ROOT) / "models"
    assert emotion.input_desc(ModelCard.load(models / "emotion" / CARD)) == "gray 128 + 112"
    assert "+" not in emotion.input_desc(ModelCard.load(models / "mask" / CARD))


def test_bench_memory_figures_on_a_mac_without_proc(monkeypatch):
    """macOS has no /proc: bench.video read its RSS from /proc/self/status and ended in a FileNotFoundError after
    every timing had run, and bench.batch read getrusage's ru_maxrss as KiB where macOS gives bytes (1024x)."""
    import builtins
    import resource
    import sys

    from bench import common, video

    on_linux = common.rss_mb()
    assert on_linux > 10  # this Python with numpy loaded

    def no_proc(path, *args, **kwargs):
        if str(path).startswith("/proc"):
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return builtins.open(path, *args, **kwargs)

    monkeypatch.setattr(common, "open", no_proc, raising=False)
    monkeypatch.setattr(video, "open", no_proc, raising=False)
    on_mac = video.rss_mb()
    assert abs(on_mac - on_linux) < 0.2 * on_linux  # ps's RSS, the same process a moment later

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    linux_mb = common.maxrss_mb(peak)
    assert linux_mb == pytest.approx(peak / 1024)
    monkeypatch.setattr(sys, "platform", "darwin")
    assert common.maxrss_mb(peak * 1024) == pytest.approx(linux_mb)  # the same peak, in a Mac's bytes
