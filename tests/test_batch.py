"""facekit-batch through local Ray as a user runs it: photos, a corrupt file and the clip; Parquet read back
with pyarrow and compared with the image script; a resumed job; refusals before any work."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from .conftest import ROOT, built_once, run_script, unreadable_file

pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("ray")

PHOTOS = ("example_01.png", "example_03.png", "two_people.jpg", "obama.jpg")
CLIP = "short_hamilton_clip.mp4"
# First in a script that starts Ray itself: its start stops and names ("[INFO] stopped 1 Ray process ...") the Ray
# processes killed jobs left on this machine (another test worker's too), a line above those its test reads.
LEAVE_ORPHANS = "import facekit.batch\nfacekit.batch.stop_orphans = lambda: []\n"


def batch(*args, timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facekit.batch", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def job(media, tmp_path_factory):
    """Run a job in two steps as an interrupted one would: --limit 3 stops after three sources (the corrupt
    photo and two good ones), and the same command again does the rest. Between the two, a faces part is planted
    without its status part, as a run killed between its two renames leaves it. Once for both test workers."""
    return built_once(tmp_path_factory, "batch-job", lambda tmp: _interrupted_job(media, tmp))


def _interrupted_job(media, tmp: Path) -> dict:
    photos = tmp / "photos"
    photos.mkdir()
    for name in PHOTOS:
        shutil.copy(media / name, photos / name)
    (photos / "broken.jpg").write_bytes((media / "obama.jpg").read_bytes()[:3000])  # truncated JPEG
    (photos / "notes.txt").write_text("not a photo")
    out = tmp / "results"
    listed = tmp / "more.txt"
    listed.write_text(f"# a list file: one source a line\n{tmp / 'gone.jpg'}\n")
    args = [photos, media / CLIP, "--list", listed, "-o", out, "--every", "10", "--workers", "2",
            "--photos-per-task", "2"]
    first = batch(*args, "--limit", "3")
    parts = sorted((out / "faces").glob("part-*.parquet"))
    assert parts, first.stderr
    shutil.copy(parts[0], out / "faces" / "part-orphan.parquet")
    second = batch(*args)
    return {"photos": photos, "out": out, "first": first, "second": second}


@pytest.mark.slow
def test_first_run_stops_after_its_limit(job):
    assert job["first"].returncode == 1, job["first"].stderr  # broken.jpg
    assert "3 sources to do" in job["first"].stdout
    assert "not done yet: run the same command again" in job["first"].stdout


@pytest.mark.slow
def test_resume_does_the_rest_once(job):
    res = job["second"]
    assert res.returncode == 1, res.stderr  # the corrupt photo failed, the job went on
    assert "resuming: 2 of 7 sources already done" in res.stdout
    assert "5 sources to do" in res.stdout  # the failed one is tried again
    assert not (job["out"] / "faces" / "part-orphan.parquet").exists()
    status = pq.read_table(job["out"] / "status").to_pylist()
    assert len(status) == 8  # the corrupt photo has a row per try, every other source exactly one
    status = [r for r in status if r["status"] == "ok"]
    assert len(status) == 5 and len({r["source"] for r in status}) == 5
    faces = pq.read_table(job["out"] / "faces").to_pylist()
    keys = [(f["source"], f["frame"], f["x1"], f["y1"], f["x2"], f["y2"]) for f in faces]
    assert len(keys) == len(set(keys))  # no face written twice
    by_source = {r["source"]: r for r in status}
    # The worker gives a video's picture start in its row (the closing line reads it there), a photo none.
    assert [r["picture_start_s"] for r in status if r["kind"] == "video"] == [0.852]
    assert {r["picture_start_s"] for r in status if r["kind"] == "image"} == {None}
    assert sum(r["faces"] for r in status) == len(faces)
    assert all(sum(f["source"] == s for f in faces) == r["faces"] for s, r in by_source.items())


@pytest.mark.slow
def test_corrupt_file_recorded(job):
    csv = (job["out"] / "status.csv").read_text().splitlines()
    assert csv[0].startswith("source,kind,status,message,faces,frames,seconds")
    broken = [line for line in csv if "broken.jpg" in line]
    assert len(broken) == 1 and ",error," in broken[0] and "not a readable image" in broken[0]
    assert "[WARN] 2 sources failed" in job["second"].stderr
    gone = [line for line in csv if "gone.jpg" in line]
    assert len(gone) == 1 and ",error," in gone[0] and "no such file" in gone[0]
    assert not any("notes.txt" in line for line in csv)  # not an image: skipped and counted, not an error
    assert "Traceback" not in job["first"].stderr + job["second"].stderr


@pytest.mark.slow
def test_photo_rows_equal_the_image_script(job, tmp_path):
    jsonl = tmp_path / "faces.jsonl"
    res = run_script("detect_mask_image.py", "-i", job["photos"], "-j", jsonl, "--no-display")
    assert res.returncode == 1, res.stderr  # the corrupt photo, as the batch job's exit 1
    # The photos the script could not read are lines too ({image, error}): the batch job has no face rows of them.
    script = {os.path.abspath(r["image"]): r["faces"] for r in map(json.loads, jsonl.read_text().splitlines())
              if "faces" in r}
    faces = pq.read_table(job["out"] / "faces").to_pylist()
    assert set(script) == {f["source"] for f in faces if f["kind"] == "image"}
    for source, expected in script.items():
        rows = [f for f in faces if f["source"] == source]  # a source's rows: one part, the analyzer's order
        assert [[r["x1"], r["y1"], r["x2"], r["y2"]] for r in rows] == [f["box"] for f in expected], source
        for row, face in zip(rows, expected):
            assert row["frame"] is None and row["track_id"] is None
            for task in ("mask", "emotion", "gender"):
                assert row[f"{task}_label"] == face[task]["label"]
                for label, p in face[task]["probabilities"].items():
                    assert row[f"{task}_{label}"] == pytest.approx(p, abs=2e-5)


@pytest.mark.slow
def test_video_rows(job, media):
    faces = [f for f in pq.read_table(job["out"] / "faces").to_pylist() if f["kind"] == "video"]
    frames = {f["frame"] for f in faces}
    assert frames and all(i % 10 == 0 for i in frames) and len(frames) > 20
    assert all(f["track_id"] is not None and abs(f["time_s"] - f["frame"] / 29.97) < 0.01 for f in faces)
    ids = [f["track_id"] for f in faces]
    assert max(ids.count(i) for i in set(ids)) >= 5  # tracks last across analysed frames
    status = {r["source"]: r for r in pq.read_table(job["out"] / "status").to_pylist()}
    assert status[os.path.abspath(media / CLIP)]["frames"] == 28
    # A video's faces are counted a frame each, as the video script's closing line counts them ("142 faces" there
    # read as people).
    assert re.search(r"^\[INFO\] 5 sources, \d+ frames, \d+ face detections in ", job["second"].stdout, re.M), \
        job["second"].stdout
    # "frames/s" where the video script prints "FPS" for the same thing
    assert re.search(r" face detections in [\d.]+s \([\d.]+ FPS\); results in ", job["second"].stdout), \
        job["second"].stdout


def test_smooth_help_gives_the_lag_as_the_video_scripts_does():
    """facekit-batch's --smooth help said "0 = off (default: 0.6)" alone, where the video script's gives how far
    the smoothed numbers lag a change of expression; a researcher reading the batch job's help had no word of it."""
    from facekit.batch import build_parser
    from facekit.cli.video import build_parser as video_parser

    def smooth(parser) -> str:
        return " ".join(next(a.help for a in parser._actions if a.dest == "smooth").split()) % {}

    assert "87% of the way, N times later in time with --every N" in smooth(build_parser())
    assert smooth(build_parser()).endswith(smooth(video_parser()).split("(default: 0.6): ")[1])


def test_landmarks_help_names_the_columns_the_rows_gain():
    """--landmarks said it adds "landmarks, head pose and openness to each face's row", but a row holds no landmark
    point: a data scientist looked for point columns in the Parquet. The help names the columns it adds."""
    from facekit.batch import build_parser
    from facekit.landmarks import MEASURE_NAMES
    from facekit.records import csv_columns

    text = " ".join(next(a.help for a in build_parser()._actions if a.dest == "landmarks").split())
    labels = {"mask": ["with_mask", "without_mask"]}
    added = [c for c in csv_columns(labels, pose=True, measures=MEASURE_NAMES) if c not in csv_columns(labels)]
    assert f"to each face's row: {', '.join(added)} (the mesh's points are not written" in text, text
    assert "add landmarks" not in text, text


def test_rotate_help_says_where_a_job_tells_a_photo_found_turned():
    """facekit-batch's --rotate help said of a photo found turned "its line and JSON say how", the photo script's
    words: a job writes no line a photo and no JSON. Its status row's `turned` says it; the photo script's help is
    as it was."""
    from facekit.batch import STATUS_COLUMNS, build_parser
    from facekit.cli.image import build_parser as image_parser

    def rotate(parser) -> str:
        return " ".join(next(a.help for a in parser._actions if a.dest == "rotate").split())

    assert "it lies turned, its status row's turned says how; 0: as read" in rotate(build_parser())
    assert "turned" in STATUS_COLUMNS and "JSON" not in rotate(build_parser())
    assert "it lies turned, its line and JSON say how; 0: as read" in rotate(image_parser())


def test_readme_says_what_kind_and_the_status_counts_hold():
    """README listed `kind` among the Parquet's and status.csv's columns without its values: a notebook filtering
    df[df.kind == "photo"] (README's word throughout) got no row and no error. Nor did it say that a video's `faces`
    in status.csv counts a face a frame, not its people. Both are said as the job writes them."""
    from facekit.batch import source_kind

    readme = " ".join((ROOT / "README.md").read_text().split())
    kinds = {source_kind(Path(name)) for name in ("a.jpg", "b.mp4")}
    assert kinds == {"image", "video"} and source_kind(Path("c.txt")) == "other"
    assert "one row per face: `source, kind` (`image` or `video`), `frame, time_s" in readme
    assert "`source, kind` (as above, or `other` for a `--list` entry that is neither, an error)" in readme
    assert ("`faces` (the source's rows in `faces/`: a video's face detections, one a face a frame, not its people), "
            "`frames` (1 for a photo read, 0 for one that failed; a video's analysed frames)") in readme


def test_a_videos_times_are_said_to_count_from_its_first_picture(media, capsys):
    """The Parquet's time_s counts from a video's first picture, which a player shows 0.852 s in on the hamilton
    clip: the video script says so and how much to add, facekit-batch said nothing (a row looked up in a player
    landed 25 frames early). It now says it as the video script does, for each video whose pictures start late."""
    from facekit.batch import _say_late_pictures

    # The delay comes from each video's status row, as its worker read it: the driver opens no video (it read every
    # video's header itself at the job's end, a file share's round trip each), so a path it cannot see is no matter.
    elsewhere = "/on/the/workers/only/clip.mp4"
    _say_late_pictures([(elsewhere, 0.852), (str(media / "missing.mp4"), None), (str(media / CLIP), 0.0)],
                       "results/faces")
    out = capsys.readouterr().out.splitlines()
    assert out == [f"[INFO] {elsewhere}: the times in results/faces count from the video's first picture, which "
                   "a player shows at 0.852 s (the file holds its pictures back that long): add 0.852 to line them "
                   "up with a player's clock, the sound or a transcript"], out
    _say_late_pictures([(str(media / CLIP), 0.852)] * 7, "results/faces")
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 6 and out[-1].startswith("[INFO] and 2 more videos whose pictures a player shows later"), out


def test_unreachable_address_writes_nothing(tmp_path, media):
    out = tmp_path / "results"
    res = batch(media / "example_01.png", "-o", out, "--address", "ray://127.0.0.1:9", timeout=60)
    assert res.returncode == 2
    assert res.stderr.strip().startswith("[ERROR] --address ray://127.0.0.1:9: no Ray cluster answers there")
    assert len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_unwritable_output_refused_before_work(tmp_path, media):
    res = batch(media / "example_01.png", "-o", "/proc/facekit-results", timeout=60)
    assert res.returncode == 2 and "[ERROR] --output /proc/facekit-results: cannot write" in res.stderr
    assert "Traceback" not in res.stderr and "sources to do" not in res.stdout
    (tmp_path / "file").write_text("x")
    res = batch(media / "example_01.png", "-o", tmp_path / "file" / "results", timeout=60)
    assert res.returncode == 2 and "is a file, not a folder" in res.stderr


def test_a_local_job_runs_beside_a_named_cluster_a_home_without_room_for_rays_token_under_a_memory_limit(tmp_path,
                                                                                                        media):
    """One job, one Ray start, for four settings a local job once failed in (each was a job of its own here, 4 Ray
    starts for one photo each):
    - RAY_ADDRESS or /tmp/ray/ray_current_cluster naming a cluster (a `ray start` left running, or a stale file after
      one died): ray.init() joined it and refused the job's num_cpus, "cannot connect to Ray" (seen in CI after
      another session's `ray start`). A local job starts its own.
    - A home where ~/.ray/auth_token cannot be made (a service with ProtectHome=read-only): "cannot start Ray here
      ([Errno 30] Read-only file system: '/home/u/.ray'); /tmp, where Ray keeps its session, cannot be written: set
      RAY_TMPDIR ...", of a /tmp that could be written. Its Ray gets a token of its own in its environment: nothing
      is written in that home.
    - `ulimit -v 8000000` on a machine with 23 GB: Ray's default object store (6.5 GB) left its workers no room to
      map it, and the job hung for good after its first line. The store is sized to the limit.
    - Ray names the driver by its command line and its core takes that name as UTF-8: a photo named "caf\\xe9.jpg"
      typed on the command line ended the job in "cannot start Ray here ('utf-8' codec can't encode character
      '\\udce9' ...)", exit 2, though the same file in a folder given was a source like any other."""
    latin1 = os.fsdecode(os.fsencode(str(tmp_path)) + b"/caf\xe9.jpg")
    shutil.copy(media / "obama.jpg", latin1)
    (tmp_path / "not_a_folder").write_text("a file: no folder can be made under it, by root either")
    home = tmp_path / "not_a_folder" / "home"
    out = tmp_path / "results"
    res = run_script("facekit.batch", latin1, "-o", out, "--workers", "1", "--tasks", "mask", timeout=300,
                     env={"RAY_ADDRESS": "192.0.2.2:6379", "HOME": str(home)},  # TEST-NET: nothing answers there
                     max_address_bytes=8_000_000 << 10)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "1 source to do (1 photo, 0 videos) on 1 worker" in res.stdout  # was "1 sources ... (1 photos"
    assert "1 source, 1 frame, " in res.stdout and (out / "status.csv").is_file()
    assert pq.read_table(out / "faces").num_rows == 1
    status = pq.read_table(out / "status").to_pylist()
    assert [(r["source"], r["status"], r["faces"]) for r in status] == [(f"{tmp_path}/caf\\xe9.jpg", "ok", 1)]
    assert sorted(os.listdir(os.fsencode(tmp_path))) == [b"caf\xe9.jpg", b"not_a_folder", b"results"]


def test_a_mistyped_input_is_refused_before_work(tmp_path, media):
    """A folder name with a typo ran as "1 sources to do (1 photos ...)", started Ray, made the results
    folder and failed the one source, exit 1."""
    out = tmp_path / "results"
    res = batch(media / "example_01.png", tmp_path / "phtos", "-o", out, timeout=60)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip() == f"[ERROR] {tmp_path / 'phtos'}: no such file or folder"
    assert not out.exists()


def test_a_missing_or_damaged_model_file_is_refused_before_ray_starts(tmp_path, media):
    """A detector's file (or the face mesh's, with --landmarks) that the mirror and the cache lack, or hold cut
    short, was met by the first worker: Ray started (seconds, its log lines), the results folder was made (job.json,
    status.csv), then the job ended. Now it is the job's one line before any of that, exit 2, nothing written."""
    mirror = tmp_path / "assets"
    (mirror / "models").mkdir(parents=True)
    for name in ("face_detection_yunet_2023mar.onnx", "face_landmark.tflite"):  # cut short, as by a full disk
        (mirror / "models" / name).write_bytes((media.parent / "models" / name).read_bytes()[:5000])
    (mirror / "models" / "scrfd_2.5g_bnkps.onnx").symlink_to(media.parent / "models" / "scrfd_2.5g_bnkps.onnx")
    env = {"FACEKIT_ASSETS": str(mirror), "FACEKIT_CACHE": str(tmp_path / "cache")}
    out = tmp_path / "results"
    for options, named in ((["--detector", "yunet"], "face_detection_yunet_2023mar.onnx"),
                           (["--landmarks"], "face_landmark.tflite"),
                           (["--model", tmp_path / "nowhere"], "nowhere: model not found")):
        res = batch(media / "example_01.png", "-o", out, "--workers", "1", *options, timeout=120, env=env)
        assert res.returncode == 2, res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("[ERROR] ") and named in lines[0], res.stderr
        assert "truncated or corrupt" in lines[0] or "--model" in options
        assert "to do" not in res.stdout and "Ray" not in res.stdout + res.stderr
        assert not out.exists()


def test_other_options_refused_on_resume(tmp_path, media):
    from dataclasses import asdict

    from facekit.batch import JobOptions
    from facekit.detection import DEFAULT_DETECTOR

    out = tmp_path / "results"
    out.mkdir()  # as a job run with --tasks mask leaves it
    (out / "job.json").write_text(json.dumps(asdict(JobOptions(detector=DEFAULT_DETECTOR, tasks=["mask"]))))
    res = batch(media / "example_01.png", "-o", out, "--every", "5", timeout=60)
    assert res.returncode == 2 and "holds results made with other options (tasks, every)" in res.stderr
    (out / "job.json").write_text("[1, 2]")  # another tool's JSON: a TypeError traceback
    res = batch(media / "example_01.png", "-o", out, timeout=60)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.strip() == f"[ERROR] {out / 'job.json'}: not a facekit-batch job record (a JSON list, not an " \
                                 "object); use another --output", res.stderr


def test_another_tools_job_json_in_the_output_folder_is_not_taken_for_a_job(tmp_path):
    """An --output folder holding another tool's job.json (a render queue's {"name": ..., "frames": ...}) was read
    as a job begun by an older facekit: "holds results made with other options (detector): detector: none in
    job.json", or, given options that matched, the job written in beside it. It is told apart by its content now;
    a job.json as the first facekit-batch wrote it still resumes."""
    from facekit.batch import JobOptions, Results
    from facekit.errors import FacekitError

    out = tmp_path / "results"
    out.mkdir()
    (out / "job.json").write_text(json.dumps({"name": "render", "frames": 240, "every": 1}))
    with pytest.raises(FacekitError) as err:
        Results(out).check_options(JobOptions(detector="yunet"), warn_now=False)
    assert str(err.value) == (f"{out / 'job.json'}: not a facekit-batch job record (no confidence, detect_every, "
                              "detector, fast, landmarks, models, smooth, tasks: another tool's?); the job would "
                              "write beside it: use another --output")
    (out / "job.json").write_text(json.dumps({"tasks": None, "models": [], "detector": "yunet", "confidence": None,
                                              "landmarks": False, "fast": False, "every": 1, "detect_every": 1,
                                              "smooth": 0.6}))  # as a1fa17c wrote it
    assert "an older facekit" in Results(out).check_options(JobOptions(detector="yunet"), warn_now=False)


def test_a_default_changed_since_the_job_began_is_named_on_resume(tmp_path, media):
    """The command that began a job under an older facekit, typed again after the upgrade, was refused with "holds
    results made with other options (detector); use the same options to resume": the same options had been used,
    but the detector's default went from yunet to scrfd. The refusal names each option's two values."""
    out = tmp_path / "results"
    out.mkdir()  # job.json as 65facf9 wrote it, for a job run with no --detector
    (out / "job.json").write_text(json.dumps({"tasks": None, "models": [], "detector": "yunet", "confidence": None,
                                              "landmarks": False, "fast": False, "every": 1, "detect_every": 1,
                                              "smooth": 0.6}, indent=2))
    res = batch(media / "obama.jpg", "-o", out, "--tasks", "mask", timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1 and line.startswith("[ERROR]"), line
    assert "holds results made with other options (detector, tasks): detector: yunet in job.json, scrfd in this " \
           "run; tasks: none in job.json, mask in this run; " in line, line
    assert "one not given takes this facekit's default" in line
    assert sorted(p.name for p in out.iterdir()) == ["job.json"]  # nothing written


def test_a_head_retrained_in_place_is_refused_on_resume(tmp_path, monkeypatch):
    """job.json named only the model folder: a head retrained there between two runs of the job mixed two
    models' rows in one table, unsaid. Each head's model file is part of the job now; a job.json from before
    resumes as it did."""
    import shutil
    from dataclasses import asdict

    from facekit.batch import JobOptions, Results, head_hashes
    from facekit.errors import FacekitError
    from facekit.heads import INT8, TFLITE, load_heads, models_dir

    own = tmp_path / "mask"
    shutil.copytree(models_dir() / "mask", own, ignore=shutil.ignore_patterns("model.keras"))

    def hashes():
        return head_hashes(load_heads(["mask"], [str(own)]))

    first = JobOptions(detector="scrfd", tasks=["mask"], models=(str(own),), heads=hashes())
    assert list(first.heads) == ["mask"] and len(first.heads["mask"]) == 16
    out = tmp_path / "results"
    out.mkdir()
    (out / "job.json").write_text(json.dumps(asdict(first)))
    Results(out).check_options(first)
    shutil.copyfile(own / INT8, own / TFLITE)  # "retrained": another file of the same shape
    again = JobOptions(detector="scrfd", tasks=["mask"], models=(str(own),), heads=hashes())
    with pytest.raises(FacekitError, match=r"holds results of other models for mask"):
        Results(out).check_options(again)
    (out / "job.json").write_text(json.dumps({k: v for k, v in asdict(first).items() if k != "heads"}))
    Results(out).check_options(again)


def test_a_heads_card_edited_between_runs_is_refused_on_resume(tmp_path):
    """A hand-written card's labels in the wrong order, mended between two runs of a job: the same model file gave
    rows whose labels were swapped beside the first run's, in one table without a word (job.json held only the
    model files' hashes). A job.json from before it held the cards resumes as it did."""
    import shutil
    from dataclasses import asdict

    from facekit.batch import JobOptions, Results, card_digests, head_hashes
    from facekit.errors import FacekitError
    from facekit.heads import CARD, load_heads, models_dir

    own = tmp_path / "mask"
    shutil.copytree(models_dir() / "mask", own, ignore=shutil.ignore_patterns("model.keras"))

    def options():
        heads = load_heads(["mask"], [str(own)])
        return JobOptions(detector="scrfd", tasks=["mask"], models=(str(own),), heads=head_hashes(heads),
                          cards=card_digests(heads))

    first = options()
    out = tmp_path / "results"
    out.mkdir()
    (out / "job.json").write_text(json.dumps(asdict(first)))
    Results(out).check_options(first)
    card = json.loads((own / CARD).read_text())
    card["colors"] = {label: [255, 0, 0] for label in card["labels"]}  # drawn otherwise, the same rows
    (own / CARD).write_text(json.dumps(card))
    Results(out).check_options(options())
    card["labels"] = card["labels"][::-1]
    (own / CARD).write_text(json.dumps(card))
    again = options()
    assert again.heads == first.heads  # the model file is the same
    with pytest.raises(FacekitError, match=r"holds results of other model cards for mask \(a card.json edited"):
        Results(out).check_options(again)
    (out / "job.json").write_text(json.dumps({k: v for k, v in asdict(first).items() if k != "cards"}))
    Results(out).check_options(again)


@pytest.mark.slow
def test_a_worker_with_other_models_than_the_driver_ends_the_job_in_one_line(tmp_path, media):
    """A node of a cluster whose facekit has another mask head than the driver's (retrained there, or not
    upgraded) added its rows to the job's table without a word. Its workers now refuse to start, and the job
    ends in one line naming the head, the node and both files' hashes, without Ray's tracebacks of it. Here the
    driver's record of the head is made to differ, as only a second machine could make it otherwise."""
    script = f"""{LEAVE_ORPHANS}
from pathlib import Path
from facekit.batch import JobOptions, Results, head_hashes, run_job, start_ray
from facekit.heads import load_heads
from facekit.cli.common import guarded
results = Results(Path({str(tmp_path / "job")!r}))
results.status_dir.mkdir(parents=True)
results.faces_dir.mkdir()
options = JobOptions(detector="scrfd", tasks=["mask"], heads={{"mask": "0" * 16}})
assert head_hashes(load_heads(["mask"])) != options.heads
job = guarded(lambda argv: run_job([[({str(media / "obama.jpg")!r}, "image")]], options, results, start_ray(None, 1)))
raise SystemExit(job([]))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode != 0
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, done.stdout + done.stderr
    assert re.search(r"worker on \S+ has other model files for mask than this job's driver \(sha256 [0-9a-f]{16} "
                     r"there, 0{16} here\)", lines[0]), lines[0]


def test_a_worker_of_another_facekit_version_refuses_to_start():
    from types import SimpleNamespace

    from facekit import __version__
    from facekit.batch import check_same_facekit
    from facekit.errors import FacekitError

    check_same_facekit(__version__, {}, SimpleNamespace(heads={}))
    with pytest.raises(FacekitError, match=rf"runs facekit {re.escape(__version__)}, this job's driver 0\.1\.0: "
                                           "install the same facekit on every node"):
        check_same_facekit("0.1.0", {}, SimpleNamespace(heads={}))


def test_a_workers_refusal_in_rays_text_is_the_jobs_one_line():
    from facekit.batch import _guard_ray
    from facekit.errors import FacekitError

    def batches():
        raise RuntimeError("The actor died because of an error raised in its creation task\n  File \"x.py\"\n"
                           "facekit.errors.FacekitError: worker on node7 runs facekit 0.3.0, this job's driver 0.2.0\n")
        yield

    with pytest.raises(FacekitError) as err:
        next(_guard_ray(batches(), {"sources": 5}))
    assert str(err.value) == ("worker on node7 runs facekit 0.3.0, this job's driver 0.2.0 (the job stopped after 5 "
                              "sources; what was finished is saved)")


def test_rays_threads_short_of_memory_do_not_say_only_to_run_the_command_again(monkeypatch):
    """prlimit --as=2300000000: Ray started, its threads could not, and the job ended in "the Ray job stopped after 0
    sources (can't start new thread); what was finished is saved: run the same command to go on", a command that
    met the same limit again. The line says the memory is short, the limit, and what to change."""
    import resource

    from facekit.batch import _guard_ray
    from facekit.errors import FacekitError

    def batches(error):
        raise error
        yield

    monkeypatch.setattr(resource, "getrlimit", lambda which: (2300 << 20, 2300 << 20) if which == resource.RLIMIT_AS
                        else (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    for error in (RuntimeError("can't start new thread"), MemoryError("std::bad_alloc")):
        with pytest.raises(FacekitError) as err:
            next(_guard_ray(batches(error), {"sources": 0}))
        assert str(err.value).endswith(
            "what was finished is saved: too little memory for Ray's workers (this process may use 2300.0 MB, "
            "ulimit -v; the container's limit?): raise it, or give fewer --workers, then run the same command to go "
            "on"), str(err.value)
    with pytest.raises(FacekitError, match=r"\(ActorDiedError\); what was finished is saved: run the same command "
                                           r"to go on$"):
        next(_guard_ray(batches(RuntimeError("ActorDiedError")), {"sources": 3}))


def test_a_job_begun_by_an_older_facekit_is_resumed_with_a_warning(tmp_path, capsys):
    """A job begun by an older facekit (job.json as 65facf9 wrote it: no version, no heads' files) resumed in
    silence after an upgrade, and the old mask head's rows (example_03's third face with_mask) sat beside the new
    one's (without_mask) in one table. Its resume now says so in one [WARN] line; a job.json names the facekit
    that began it, so a resume by the same facekit says nothing."""
    from facekit import __version__
    from facekit.batch import JobOptions, Results

    out = tmp_path / "results"
    out.mkdir()
    (out / "job.json").write_text(json.dumps({"tasks": None, "models": [], "detector": "yunet", "confidence": None,
                                              "landmarks": False, "fast": False, "every": 1, "detect_every": 1,
                                              "smooth": 0.6}, indent=2))
    today = JobOptions(detector="yunet", heads={"mask": "0123456789abcdef"})
    Results(out).check_options(today)  # the same options: resumed, as before
    warned = capsys.readouterr().err.strip().splitlines()
    assert len(warned) == 1 and warned[0].startswith("[WARN]"), warned
    assert "begun by an older facekit (its job.json names no version)" in warned[0], warned
    assert "did not record its heads' model files" in warned[0] and f"facekit {__version__}'s" in warned[0]

    fresh = tmp_path / "fresh"
    Results(fresh).open(today)
    assert json.loads((fresh / "job.json").read_text())["facekit"] == __version__
    Results(fresh).check_options(today)
    assert capsys.readouterr().err == ""
    job = json.loads((fresh / "job.json").read_text())
    (fresh / "job.json").write_text(json.dumps({**job, "facekit": "0.0.9"}))
    Results(fresh).check_options(today)
    assert "was begun by facekit 0.0.9: " in capsys.readouterr().err


def test_int8_is_a_job_option(tmp_path, media, monkeypatch):
    """--int8 (or FACEKIT_INT8 where the job starts) travels in the job's options to every worker, and a
    resume with another choice is refused; a job.json from before the option resumes as the default."""
    from dataclasses import asdict

    import cv2

    from facekit import runtime
    from facekit.batch import JobOptions, Results, Worker
    from facekit.detection import DEFAULT_DETECTOR
    from facekit.errors import FacekitError
    from facekit.heads import INT8, TFLITE

    monkeypatch.delenv("FACEKIT_INT8", raising=False)
    monkeypatch.setattr(runtime, "_override", runtime._override)  # a Worker sets 1 thread for the process
    opencv_threads = cv2.getNumThreads()
    plain, twins = JobOptions(detector=DEFAULT_DETECTOR, tasks=["mask"]), \
        JobOptions(detector=DEFAULT_DETECTOR, tasks=["mask"], int8=True)
    try:
        assert Worker(asdict(plain)).analyzer.heads["mask"].model_path.name == TFLITE  # photos: fp16
        worker = Worker(asdict(twins))
        assert worker.analyzer.heads["mask"].model_path.name == INT8
        rows, status = worker.run_source(str(media / "example_01.png"), "image")
    finally:
        cv2.setNumThreads(opencv_threads)
    assert status["status"] == "ok" and [r["mask_label"] for r in rows] == ["with_mask"]
    out = tmp_path / "results"
    out.mkdir()
    (out / "job.json").write_text(json.dumps({k: v for k, v in asdict(plain).items() if k != "int8"}))
    Results(out).check_options(plain)  # written before the option existed: the same job
    with pytest.raises(FacekitError, match=r"other options \(int8\)"):
        Results(out).check_options(twins)
    res = batch(media / "example_01.png", "-o", out, "--tasks", "mask", "--int8", timeout=60)
    assert res.returncode == 2 and "holds results made with other options (int8)" in res.stderr


def test_a_workers_rows_and_status_agree_and_a_video_failing_part_way_keeps_its_rows(media, monkeypatch):
    """A source's status row counts the face rows written for it (a resume and a notebook's join rely on it); a
    photo's rows have no frame or time; a video that fails after some frames (truncated) keeps the rows of those,
    its status partial, which a resume does not try again (it would write its first frames' faces twice)."""
    from dataclasses import asdict
    from itertools import islice

    import cv2

    from facekit import runtime
    from facekit.batch import JobOptions, Worker
    from facekit.detection import DEFAULT_DETECTOR
    from facekit.errors import FacekitError

    monkeypatch.setattr(runtime, "_override", runtime._override)  # a Worker sets 1 thread for the process
    opencv_threads = cv2.getNumThreads()
    try:
        worker = Worker(asdict(JobOptions(detector=DEFAULT_DETECTOR, tasks=["mask"])))
        photo = str(media / "example_03.png")
        rows, status = worker.run_source(photo, "image")
        real = worker.analyzer.analyze_video

        def cut_short(source, **options):
            yield from islice(real(source, **options), 2)
            raise FacekitError(f"{source}: cut short")

        monkeypatch.setattr(worker.analyzer, "analyze_video", cut_short)
        broken, failed = worker.run_source(str(media / CLIP), "video")
    finally:
        cv2.setNumThreads(opencv_threads)
    assert status["status"] == "ok" and status["faces"] == len(rows) == 3
    # A photo is one frame: status.csv's frames, and the closing line's "N frames ... (FPS)" that sums them.
    assert status["frames"] == 1
    assert all(r["source"] == photo and r["frame"] is None and r["time_s"] is None for r in rows)
    assert failed["status"] == "partial" and failed["frames"] == 2
    assert failed["message"] == f"{media / CLIP}: cut short; the rows of the 2 frames before are kept"
    assert {r["frame"] for r in broken} == {0, 1} and failed["faces"] == len(broken) > 0
    assert status["turned"] == 0 and failed["turned"] is None  # an upright photo; a video is never searched turned


def _run_turned(media, tmp_path, monkeypatch, rotate: int, frames: int):
    """example_03.png stored turned the other way (so `--rotate rotate` turns it upright), as a photo and as a video
    of `frames` frames, each run by one Worker with that --rotate: (worker, photo rows, photo status, frame rows)."""
    from dataclasses import asdict

    import cv2

    from facekit import runtime
    from facekit.batch import JobOptions, Worker
    from facekit.detection import DEFAULT_DETECTOR

    undo = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180}[rotate]
    stored = cv2.rotate(cv2.imread(str(media / "example_03.png")), undo)
    photo, video = tmp_path / "turned.png", tmp_path / "turned.avi"
    cv2.imwrite(str(photo), stored)
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (stored.shape[1], stored.shape[0]))
    for _ in range(frames):
        writer.write(stored)
    writer.release()
    monkeypatch.setattr(runtime, "_override", runtime._override)  # a Worker sets 1 thread for the process
    opencv_threads = cv2.getNumThreads()
    try:
        worker = Worker(asdict(JobOptions(detector=DEFAULT_DETECTOR, tasks=["mask"], rotate=rotate)))
        rows, status = worker.run_source(str(photo), "image")
        frame_rows, _ = worker.run_source(str(video), "video")
    finally:
        cv2.setNumThreads(opencv_threads)
    return worker, rows, status, frame_rows


def test_rotate_turns_each_photo_and_video_upright_in_a_workers_rows(media, tmp_path, monkeypatch):
    """facekit-batch --rotate 180 (a ceiling camera's photos and videos): example_03.png upside down gave no
    face; each source is now turned before analysis, its boxes the upright picture's."""
    from facekit.batch import build_parser

    assert build_parser().parse_args(["x", "-o", "y", "--rotate", "180"]).rotate == 180
    _, rows, status, frames = _run_turned(media, tmp_path, monkeypatch, 180, frames=1)
    assert status["status"] == "ok" and sorted((r["x1"], r["mask_label"]) for r in rows) == [
        (172, "without_mask"), (263, "with_mask"), (530, "without_mask")]
    assert status["turned"] == 0  # turned by --rotate, read as turned: no search, as the photo script's JSON has it
    assert len(frames) == 3 and all(r["x2"] <= 600 and r["y2"] <= 400 for r in frames)


def test_a_photo_upside_down_without_rotate_gives_its_faces_in_its_own_pixels(media, tmp_path, monkeypatch):
    """A job's photo stored upside down with no --rotate (a messenger's copy, its EXIF orientation stripped): its
    rows were empty, status ok. The worker's analyzer searches it turned, as the photo script does: the upright
    photo's three faces and labels, their boxes in the photo as stored (the upright x1 is 600 - x2 there)."""
    from dataclasses import asdict

    import cv2

    from facekit import runtime
    from facekit.batch import JobOptions, Worker
    from facekit.detection import DEFAULT_DETECTOR

    photo = tmp_path / "down.png"
    cv2.imwrite(str(photo), cv2.rotate(cv2.imread(str(media / "example_03.png")), cv2.ROTATE_180))
    monkeypatch.setattr(runtime, "_override", runtime._override)  # a Worker sets 1 thread for the process
    opencv_threads = cv2.getNumThreads()
    from facekit.batch import build_parser

    rotate = build_parser().parse_args(["x", "-o", "y"]).rotate
    try:
        worker = Worker(asdict(JobOptions(detector=DEFAULT_DETECTOR, tasks=["mask"], rotate=rotate)))
        rows, status = worker.run_source(str(photo), "image")
        # `--rotate 0` is as read with no search, as the photo script's: it could not be had (0 was the default).
        as_read = Worker(asdict(JobOptions(detector=DEFAULT_DETECTOR, tasks=["mask"], rotate=0)))
        _, status_as_read = as_read.run_source(str(photo), "image")
    finally:
        cv2.setNumThreads(opencv_threads)
    assert status["status"] == "ok" and status["faces"] == 3
    assert sorted((600 - r["x2"], r["mask_label"], r["width"], r["height"]) for r in rows) == [
        (172, "without_mask", 600, 400), (263, "with_mask", 600, 400), (530, "without_mask", 600, 400)]
    assert status_as_read["status"] == "ok" and status_as_read["faces"] < 3
    # Which photos lay turned, as the photo script's JSON says it ("turned": 180): nothing in the job said it.
    assert status["turned"] == 180 and status_as_read["turned"] == 0


def test_each_row_has_its_photos_or_frames_size_to_normalise_its_box(media, tmp_path, monkeypatch):
    """The Parquet held boxes in pixels and no size: dividing them by the picture's took opening each photo or video
    again. Each row has `width` and `height` (int64), the picture's its box is in: turned by --rotate first."""
    import io

    import pyarrow.parquet as pq

    worker, photo_rows, _, frame_rows = _run_turned(media, tmp_path, monkeypatch, 90, frames=2)
    assert len(photo_rows) == 3 and len(frame_rows) == 6, (photo_rows, frame_rows)
    table = pq.read_table(io.BytesIO(worker.parquet(photo_rows + frame_rows))).to_pandas()
    assert str(table["width"].dtype) == "int64" and str(table["height"].dtype) == "int64"
    assert set(zip(table["width"], table["height"])) == {(600, 400)}  # upright: 600x400, as example_03.png
    assert list(table.columns[:7]) == ["source", "kind", "frame", "time_s", "track_id", "width", "height"]
    assert ((table["x2"] / table["width"]) <= 1).all() and ((table["y2"] / table["height"]) <= 1).all()


def test_an_animated_gif_is_a_video_of_its_frames_as_the_video_script_reads_it(media, tmp_path, monkeypatch):
    """An animated GIF in a job's folder was run as a photo, its first frame alone, where detect_mask_video.py
    --source reads every frame at its own time. A worker now reads it as a video (rows of every frame, kind video,
    tracked); a still GIF beside it stays a photo."""
    from dataclasses import asdict

    import cv2
    from PIL import Image

    from facekit import runtime
    from facekit.batch import JobOptions, Worker, gather_sources
    from facekit.detection import DEFAULT_DETECTOR

    cap = cv2.VideoCapture(str(media / CLIP))
    frames = [Image.fromarray(cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2RGB)) for _ in range(3)]
    cap.release()
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=[100, 300, 100], loop=0)
    frames[0].save(tmp_path / "still.gif")
    sources = gather_sources([str(tmp_path)], None, False)[0]
    monkeypatch.setattr(runtime, "_override", runtime._override)  # a Worker sets 1 thread for the process
    opencv_threads = cv2.getNumThreads()
    try:
        worker = Worker(asdict(JobOptions(detector=DEFAULT_DETECTOR, tasks=["mask"])))
        done = {Path(source).name: worker.run_source(source, kind) for source, kind in sources}
    finally:
        cv2.setNumThreads(opencv_threads)
    rows, status = done["anim.gif"]
    assert (status["status"], status["kind"], status["frames"]) == ("ok", "video", 3), status
    assert {(r["frame"], r["time_s"]) for r in rows} == {(0, 0.0), (1, 0.1), (2, 0.4)}, rows
    assert all(r["kind"] == "video" and r["track_id"] for r in rows)
    still_rows, still = done["still.gif"]
    assert (still["status"], still["kind"], still["frames"]) == ("ok", "image", 1), still
    assert still_rows and all(r["frame"] is None and r["kind"] == "image" for r in still_rows)


def test_an_animated_gif_or_png_is_counted_and_queued_as_a_video_from_the_start(media, tmp_path, monkeypatch, capsys):
    """The job's start line counted an animated GIF among the photos ("3 photos, 0 videos"), and it went into a photo
    task, though its worker reads it as a video. Now it is one of the videos from the start: a task of its own,
    first; a still GIF and a PNG that is no animation stay photos."""
    import cv2
    from PIL import Image

    import facekit.batch as batch_module

    cap = cv2.VideoCapture(str(media / CLIP))
    frames = [Image.fromarray(cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2RGB)) for _ in range(2)]
    cap.release()
    photos = tmp_path / "photos"
    photos.mkdir()
    frames[0].save(photos / "a_anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    frames[0].save(photos / "b_anim.png", save_all=True, append_images=frames[1:], duration=100, loop=0)
    frames[0].save(photos / "c_still.gif")
    shutil.copy(media / "example_01.png", photos / "d_still.png")
    ran = []
    monkeypatch.setattr(batch_module, "start_ray", lambda *a: 2)
    monkeypatch.setattr(batch_module, "run_job", lambda tasks, *a, **k: ran.append(tasks) or {
        "sources": 0, "frames": 0, "faces": 0, "failed": 0})
    batch_module.main([str(photos), "-o", str(tmp_path / "out"), "--photos-per-task", "8"])
    assert "4 sources to do (2 photos, 2 videos) on 2 workers" in capsys.readouterr().out
    name = {str(photos / n): n for n in os.listdir(photos)}
    assert [[(name[s], kind) for s, kind in task] for task in ran[0]] == [
        [("a_anim.gif", "video")], [("b_anim.png", "video")], [("c_still.gif", "image"), ("d_still.png", "image")]]


def test_a_results_folder_under_a_key_value_folder_says_how_duckdb_reads_it_and_job_json_keeps_the_terms(media,
                                                                                                       tmp_path):
    """Results written under `archive/year=2024/` (beside a hive-style archive's photos): DuckDB's
    read_parquet('.../faces/*.parquet') gave every row a `year` column, and `-o kind=x/` made every row's kind 'x'.
    The job names such folders and DuckDB's option that reads the parts' own columns alone. And --workers past the
    cores with one task: one worker starts, no more than the cores, so no [WARN] line (see the start line's test).
    The same job (one Ray start where there were two): a results folder handed on said which detector and head
    files made it (job.json) but not on what terms: SCRFD's and the gender head's weights are for non-commercial
    research only. job.json keeps them now, and a resume is not refused for them."""
    import importlib.util

    import pandas as pd

    from facekit.runtime import usable_cores

    archive = tmp_path / "archive" / "year=2024"
    archive.mkdir(parents=True)
    shutil.copy(media / "obama-240p.jpg", archive / "a=b.jpg")
    out = archive / "kind=x"
    cores = usable_cores()
    args = [archive, "-o", out, "--tasks", "mask,gender", "--workers", cores + 1, "--landmarks"]
    res = batch(*args)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "[WARN] --workers" not in res.stderr, res.stderr
    assert f"[INFO] 1 source to do (1 photo, 0 videos) on 1 worker (1 task; {cores + 1} asked)" in res.stdout
    line = (f"[INFO] {out}'s path holds year=2024, kind=x: DuckDB reads each such folder as a column of every row (a "
            f"hive partition); read the faces with read_parquet('{out}/faces/*.parquet', hive_partitioning = false), "
            "status.csv with read_csv(..., hive_partitioning = false)")
    assert line in res.stdout.splitlines(), res.stdout
    faces = pd.read_parquet(out / "faces")  # README's read line: the parts' own columns
    assert faces["kind"].tolist() == ["image"] and faces["source"].tolist() == [str(archive / "a=b.jpg")]
    if importlib.util.find_spec("duckdb") is not None:  # not a dependency of facekit's
        import duckdb

        told = duckdb.sql(f"select * from read_parquet('{out}/faces/*.parquet', hive_partitioning = false)").df()
        assert list(told.columns) == list(faces.columns) and told["kind"].tolist() == ["image"]
    from facekit.batch import hive_line, more_workers_than_cores

    assert more_workers_than_cores(cores, None) is None
    assert hive_line(tmp_path / "results") is None and hive_line(tmp_path / "a=b=c") is None  # as DuckDB takes them
    assert "[INFO] for non-commercial research only: the scrfd detector" in res.stdout + res.stderr
    job = json.loads((out / "job.json").read_text())
    assert job["licences"]["detector"] == "scrfd: InsightFace weights: non-commercial research only"
    assert set(job["licences"]["heads"]) == {"mask", "gender"}
    assert "non-commercial" in job["licences"]["heads"]["gender"]
    assert "non-commercial" not in job["licences"]["heads"]["mask"]
    # the pose and openness columns come from MediaPipe's face mesh, whose terms were left out
    assert job["licences"]["landmarks"] == "face mesh: MediaPipe: Apache-2.0"
    again = batch(*args, timeout=120)
    assert again.returncode == 0 and "nothing to do" in again.stdout + again.stderr, again.stderr[-2000:]


def test_the_start_line_counts_the_workers_that_run_not_those_asked(media, tmp_path, monkeypatch, capsys):
    """A worker takes a task: 40 photos in 5 tasks on --workers 8 said "on 8 workers" where 5 started. The line
    counts those that run, and says why fewer (the tasks; what was asked, or the cores by default); the job runs
    that many. The warning of --workers past the cores counts them too: a job of 2 tasks on --workers 8 (2 cores)
    warned of 3.0 GB more memory where 2 workers ran. And a task's photos are at most the job's."""
    import facekit.batch as batch_module
    from facekit.runtime import usable_cores

    cores = usable_cores()
    for folder, count in [("ten", 10), ("many", cores + 1)]:
        (tmp_path / folder).mkdir()
        for i in range(count):
            shutil.copy(media / "obama-240p.jpg", tmp_path / folder / f"{i}.jpg")
    ran = []

    def run_job(tasks, options, results, workers, rank, suspects=False):
        ran.append((len(tasks), workers))
        return {"sources": 0, "frames": 0, "faces": 0, "failed": 0}

    monkeypatch.setattr(batch_module, "start_ray", lambda address, workers: workers or 8)  # 8 cores
    monkeypatch.setattr(batch_module, "run_job", run_job)
    monkeypatch.setattr(batch_module.Results, "lock", lambda self: None)  # held till the process ends
    asked = max(3, cores + 1)
    for folder, options, line in [
            ("ten", [], "10 photos, 0 videos) on 2 workers (2 tasks; 8 cores), 8 photos a task"),  # 8, then 2
            ("ten", ["--workers", asked, "--photos-per-task", 5],
             f"10 photos, 0 videos) on 2 workers (2 tasks; {asked} asked), 5 photos a task"),
            ("many", ["--workers", cores + 1, "--photos-per-task", 1],
             f"{cores + 1} photos, 0 videos) on {cores + 1} workers, 1 photo a task"),
            ("many", ["--workers", 1],  # the one task holds them all, not "8 photos a task"
             f"{cores + 1} photos, 0 videos) on 1 worker, {min(8, cores + 1)} photos a task")]:
        out = tmp_path / f"out{len(ran)}"
        assert batch_module.main([str(tmp_path / folder), "-o", str(out), "--tasks", "mask", *map(str, options)]) == 0
        said, err = capsys.readouterr()
        assert f" sources to do ({line}\n" in said, said
        warned = re.findall(r"^\[WARN\] --workers (\d+), where this machine may use .* holds about ([\d.]+) GB more",
                            err, re.M)
        running = ran[-1][1]
        more = (running - cores) * batch_module.WORKER_GB
        assert warned == ([(str(options[1]), f"{more:.1f}")] if options and running > cores else []), err
    assert ran == [(2, 2), (2, 2), (cores + 1, cores + 1), (1, 1)]
    told = next(a.help for a in batch_module.build_parser()._actions if a.dest == "workers")
    assert told.endswith("; no more start than the job has tasks"), told


def test_workers_past_a_clusters_cpus_are_counted_against_the_cluster_not_this_machine(monkeypatch):
    """With --address the workers run on the cluster's nodes: its CPUs, as Ray counts them, are what they share, and
    a laptop's 2 cores say nothing of a cluster of 64."""
    import ray

    from facekit.batch import more_workers_than_cores

    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 64.0, "memory": 1e11})
    assert more_workers_than_cores(64, "auto") is None
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 4.0})
    line = more_workers_than_cores(8, "ray://head:10001")
    assert line is not None and line.startswith("--workers 8, where the Ray cluster has 4 cores: "), line
    assert "about 2.0 GB more memory" in line and line.endswith("give --workers 4 or fewer (or leave it out)"), line


def test_ray_failure_is_one_line():
    from facekit.batch import _guard_ray
    from facekit.errors import FacekitError

    def batches():
        yield "first"
        raise RuntimeError("MapBatches(Worker): actors died during initialization\n(traceback...)")

    results = _guard_ray(batches(), {"sources": 3})
    assert next(results) == "first"
    with pytest.raises(FacekitError, match=r"stopped after 3 sources \(MapBatches\(Worker\): actors died during "
                                           r"initialization\); what was finished is saved"):
        next(results)


def test_sigterm_while_ray_starts_shuts_it_down_and_is_ctrl_cs_path(monkeypatch, capfd):
    """ray.init sets a SIGTERM handler of its own (sys.exit) as it begins: a scheduler's stop in the seconds Ray
    took to start ended the job with exit 15, no word, and Ray's agents left running for good. The stop now
    waits until Ray is up, shuts it down and ends the job as a Ctrl-C does."""
    import signal
    import time

    import ray
    import ray._private.utils

    import facekit.batch
    from facekit.signals import clear_stop, exit_status

    shut = []

    def starting(ray_module, address, workers, store):  # what ray.init does first, then the signal comes
        ray._private.utils.set_sigterm_handler(lambda signum, frame: sys.exit(signum))
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)
        shut.append("up")

    # start_ray sets them for its Ray's processes: put back after, as they were (unset too)
    for name in ("PYTHONPATH", "RAY_BACKEND_LOG_LEVEL", facekit.batch.DRIVER_PID, facekit.batch.LOCAL_RAY_ONLY,
                 "RAY_AUTH_TOKEN"):
        monkeypatch.setenv(name, os.environ.get(name, ""))
        if not os.environ[name]:
            monkeypatch.delenv(name)
    monkeypatch.setattr(facekit.batch, "_init", starting)
    # Its start stops what killed jobs' Ray left on this machine, and said so: the test failed on "[INFO] stopped 1
    # Ray process that a facekit-batch killed outright left running", another test worker's (test_a_killed_jobs_...
    # checks that part).
    monkeypatch.setattr(facekit.batch, "stop_orphans", lambda: [])
    monkeypatch.setattr(ray, "shutdown", lambda: shut.append("shut down"))
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    clear_stop()
    try:
        with pytest.raises(KeyboardInterrupt):
            facekit.batch.start_ray(None, 1)
        assert shut == ["up", "shut down"] and exit_status() == 143
        assert capfd.readouterr().out == "[INFO] stopping once Ray is up (a few seconds)...\n"
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        clear_stop()


def test_a_stop_while_ray_starts_says_how_many_sources_are_left(media, monkeypatch, tmp_path, capfd):
    """Ctrl-C in the seconds Ray took to start ended the job with a bare "[INFO] interrupted", where a stop once it
    is up says how many sources are not done yet and that the same command goes on."""
    import facekit.batch
    from facekit.signals import clear_stop

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("obama.jpg", "two_people.jpg"):
        (photos / name).symlink_to(media / name)

    def stopped(address, workers):  # as _HeldWhileRayStarts raises the held Ctrl-C once Ray is up and shut down
        raise KeyboardInterrupt

    monkeypatch.setattr(facekit.batch, "start_ray", stopped)
    clear_stop()
    out = tmp_path / "out"
    assert facekit.batch.main([str(photos), "-o", str(out), "--tasks", "mask"]) == 130
    said = capfd.readouterr().err.splitlines()
    assert said[-1] == "[INFO] interrupted while Ray started: 2 of 2 sources not done yet, none begun: run the same " \
                       "command to go on", said
    assert not out.exists()  # a new job's folder is made once Ray answers


def stopped_once_a_task_is_done(proc: subprocess.Popen, out: Path, signum: int) -> tuple[str, str]:
    """The job's output once `signum`, sent when its first task's status part is there (a part is renamed into
    place whole), has ended it. A job that ends before, or runs past 240 s without a part or 120 s after the
    signal, is killed and the test fails saying so: the wait's proc.communicate() without a timeout waited for a
    stuck job for ever, and a job that outlived the signal was left running."""
    import time

    deadline = time.monotonic() + 240
    try:
        while not list((out / "status").glob("part-*.parquet")):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                stdout, stderr = proc.communicate(timeout=60)
                pytest.fail(f"no task done in {out / 'status'} (the job's exit {proc.returncode}, -9 where it was "
                            f"killed here after 240 s): {stdout}{stderr}")
            time.sleep(0.2)
        proc.send_signal(signum)
        try:
            return proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the job still runs 120 s after signal {signum}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=60)


@pytest.mark.slow
def test_sigterm_stops_a_job_as_ctrl_c_does(tmp_path, media):
    """A cluster scheduler stops a job with SIGTERM. Ray's core took that signal over when it started: the
    job ended in a stack dump and exit 134. Now it is Ctrl-C's path, and a resume does the rest."""
    import signal

    photos = tmp_path / "photos"
    photos.mkdir()
    # Eight photos, a task each: the stop lands once the first is back, with seven to do (0.6 s of CPU each) for the
    # resume. It did 22 of 24: 9 s more CPU, three or four times that in wall time on a loaded machine.
    for i in range(8):
        shutil.copy(media / "two_people.jpg", photos / f"p{i:02d}.jpg")
    out = tmp_path / "results"
    command = [photos, "-o", out, "--workers", "1", "--photos-per-task", "1", "--tasks", "mask"]  # one head to load
    proc = subprocess.Popen([sys.executable, "-m", "facekit.batch", *command], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    stdout, stderr = stopped_once_a_task_is_done(proc, out, signal.SIGTERM)
    assert proc.returncode == 143, stdout + stderr  # 128 + SIGTERM: a scheduler's stop, not a Ctrl-C
    assert "SIGTERM received" not in stderr, stderr
    left = re.search(r"^\[INFO\] interrupted: (\d+) of 8 sources not done yet", stderr, re.M)
    assert left and 0 < int(left[1]) < 8, stderr  # stopped mid-job, with the rest for the resume
    rest = batch(*command)
    assert rest.returncode == 0, rest.stderr
    done = pq.read_table(out / "status").to_pylist()
    assert len({row["source"] for row in done if row["status"] == "ok"}) == 8


@pytest.mark.slow
def test_a_job_stopped_mid_task_says_interrupted_and_nothing_of_ray(tmp_path, media):
    """Ray Data kills the job's actors as it stops: the driver then printed the raylet's note of each task in
    flight ("(raylet) Task MapWorker(MapBatches(Worker)).submit failed. There are 2 retries remaining, so the
    task will be retried ... killed by `ray.kill`"), on standard output and in colour, as if the job went on."""
    import signal

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(40):
        shutil.copy(media / "two_people.jpg", photos / f"p{i:02d}.jpg")
    shutil.copy(media / CLIP, photos / CLIP)  # a long task, still in flight at the stop
    out = tmp_path / "results"
    # One head: each worker loaded all three before its first task, for a stop that asks nothing of them.
    proc = subprocess.Popen([sys.executable, "-m", "facekit.batch", photos, "-o", out, "--workers", "2",
                             "--photos-per-task", "2", "--tasks", "mask"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    stdout, stderr = stopped_once_a_task_is_done(proc, out, signal.SIGINT)
    assert proc.returncode == 130, stdout + stderr
    assert "[INFO] interrupted" in stderr and "Traceback" not in stderr, stderr
    assert "(raylet)" not in stdout + stderr and "retries remaining" not in stdout + stderr, stdout + stderr
    assert list((out / "status").glob("part-*.parquet")) and (out / "status.csv").is_file()
    # It says what is left and how to go on, as the photo script says how far it got.
    left = re.search(r"^\[INFO\] interrupted: (\d+) of 41 sources not done yet; what was finished is saved: run "
                     r"the same command to go on$", stderr, re.M)
    assert left and 0 < int(left[1]) < 41, stderr
    done = {row["source"] for row in pq.read_table(out / "status").to_pylist() if row["status"] == "ok"}
    assert len(done) == 41 - int(left[1])


def test_a_job_ended_by_an_error_hushes_ray_before_its_actors_are_killed(tmp_path, monkeypatch):
    """The results folder removed while tasks were in flight: the job's [ERROR] line came with the raylet's notes
    of the actors Ray Data killed ("... There are 2 retries remaining ..."). Ray Data kills them when the job's
    iterator is closed, which the unwinding of the loop did before any `finally` could say the job was over; it
    is now closed once that is said."""
    import ray.data

    from facekit import batch as batch_module
    from facekit.batch import JobOptions, Results
    from facekit.errors import FacekitError

    seen = {}

    class Dataset:
        def map_batches(self, *args, **kwargs):
            return self

        def iter_batches(self, **kwargs):
            try:
                yield {"part": ["part-1.parquet"], "faces": [b""], "status": ["[]"]}
                yield {"part": ["part-2.parquet"], "faces": [b""], "status": ["[]"]}
            finally:  # where Ray Data kills the actors
                seen["hushed when the actors went"] = batch_module._TEARING_DOWN.is_set()

    monkeypatch.setattr(ray.data, "from_items", lambda *args, **kwargs: Dataset())
    results = Results(tmp_path / "job")  # its folders never made: as if removed mid-job
    with pytest.raises(FacekitError, match="is gone"):
        batch_module.run_job([[("/a/1.jpg", "image")]], JobOptions(detector="scrfd"), results, workers=1)
    assert seen == {"hushed when the actors went": True}


def test_ray_notes_after_a_stop_are_dropped(monkeypatch, capsys):
    """The same, where it happens: the driver's listener hands each raylet note to print_to_stdstream, which
    printed it. While the job runs a note still shows; once a stop is asked for or the job has ended (by an error
    too: the actors Ray Data then kills are ours), none does."""
    import ray._private.worker as ray_worker

    from facekit.batch import _TEARING_DOWN, _hush_teardown
    from facekit.signals import clear_stop, stop_handler

    monkeypatch.setattr(ray_worker, "print_to_stdstream", ray_worker.print_to_stdstream)  # restored after
    _hush_teardown()
    _hush_teardown()  # a second job in one process wraps it once

    def note(text):
        ray_worker.print_to_stdstream({"lines": [text], "pid": "raylet", "is_err": False}, ignore_prefix=False)
        for leftover in ray_worker.stdout_deduplicator.flush():
            ray_worker.print_worker_logs(leftover, sys.stdout, False)
        return capsys.readouterr().out

    _TEARING_DOWN.clear()  # as while a job runs (run_job clears it; one that ended leaves it set)
    assert "node is low on memory" in note("the node is low on memory")
    # A retry of a task of the job's own workers is the job's to account for, even while it runs: a worker that
    # refused to start ended the job in one line and, on a busy machine (CI, load 30), this note above it.
    assert note("Task MapWorker(MapBatches(Worker)).get_location failed. There are 2 retries remaining, so the "
                "task will be retried. Error: The actor is temporarily unavailable: RpcError: CANCELLED") == ""
    killed = "Task MapWorker(MapBatches(Worker)).submit failed. There are 2 retries remaining"
    try:
        with pytest.raises(KeyboardInterrupt):
            stop_handler(None, None)
        assert note(killed) == ""
    finally:
        clear_stop()
    # The job ended by an error (its results folder gone): Ray Data kills the actors the same way.
    try:
        _TEARING_DOWN.set()
        assert note(killed) == ""
    finally:
        _TEARING_DOWN.clear()


def test_task_size_grows_with_the_job():
    """A small job keeps tasks of 8 photos; a million photos are not cut into 125,000 tasks (250,000 part
    files), but into tasks of at most 256, about 32 a worker where that is between the two."""
    from facekit.batch import make_tasks, photos_per_task

    assert photos_per_task(214, 2) == 8
    assert photos_per_task(10_000, 2) == 157  # 32 tasks a worker
    assert photos_per_task(1_000_000, 2) == 256
    assert photos_per_task(1_000_000, 200) == 157
    sources = [(f"/p/{i}.jpg", "photo") for i in range(1000)] + [("/v/clip.mp4", "video")]
    tasks = make_tasks(sources, photos_per_task(1000, 2))
    assert tasks[0] == [("/v/clip.mp4", "video")] and len(tasks) == 1 + 63
    assert sorted(s for t in tasks for s in t) == sorted(sources)
    # A job's first parts (and its progress) came after 256 photos a worker: the first tasks are small now.
    photos = [(f"/p/{i}.jpg", "photo") for i in range(3000)]
    tasks = make_tasks(photos, 256, ramp=2)
    assert [len(t) for t in tasks[:12]] == [8, 8, 16, 16, 32, 32, 64, 64, 128, 128, 256, 256]
    assert [s for t in tasks for s in t] == photos and len(tasks) == 10 + 9 + 1  # 496, then 9 of 256, then 200
    assert [len(t) for t in make_tasks(photos[:100], 8, ramp=2)] == [8] * 12 + [4]


def test_results_of_the_first_facekit_batch_resume(tmp_path):
    """The first facekit-batch (a1fa17c) wrote status parts without cpu_seconds: resuming its results ended in
    pyarrow's "No match for FieldRef.Name(cpu_seconds)" traceback, after the work was done, status.csv left as it
    was. Such a part reads with the column empty; a part that is no status part at all is one line."""
    import pyarrow as pa

    from facekit.batch import STATUS_COLUMNS, Results, done_already, killed_a_worker
    from facekit.errors import FacekitError

    results = Results(tmp_path / "job")
    results.status_dir.mkdir(parents=True)
    results.faces_dir.mkdir()
    old = {"source": ["/p/obama.jpg", "/p/bad.jpg"], "kind": ["image", "image"], "status": ["ok", "error"],
           "message": ["", "/p/bad.jpg: cannot read"], "faces": [1, 0], "frames": [1, 0], "seconds": [2.2073, 0.01],
           "worker": ["vm:19025", "vm:19025"], "worker_rss_mb": [358.9, 358.9],
           "finished": ["2026-11-30T07:02:30", "2026-11-30T07:02:31"]}  # as a1fa17c wrote them: no cpu_seconds
    pq.write_table(pa.table(old), results.status_dir / "part-e8a40d7bcf6c4760.parquet")
    results.write("part-0000000002-25a7d073834542c7.parquet", b"", [
        {"source": "/p/two.jpg", "kind": "image", "status": "ok", "message": "", "faces": 2, "frames": 1,
         "seconds": 0.43, "cpu_seconds": 0.24, "worker": "vm:2", "worker_rss_mb": 356.3,
         "finished": "2026-11-30T07:03:56.819"}])
    sources = [("/p/obama.jpg", "image"), ("/p/bad.jpg", "image"), ("/p/two.jpg", "image")]
    assert done_already(results, sources) == [True, False, True]
    assert killed_a_worker(results, sources) == [False, False, False]
    results.write_summary()
    lines = (results.folder / "status.csv").read_text().splitlines()
    assert lines[0] == ",".join(STATUS_COLUMNS) and len(lines) == 4
    assert lines[1] == "/p/obama.jpg,image,ok,,1,1,2.2073,,vm:19025,358.9,2026-11-30T07:02:30,,"
    assert lines[3].startswith("/p/two.jpg,image,ok,,2,1,0.43,0.24,")

    pq.write_table(pa.table({"name": ["x"]}), results.status_dir / "part-zz.parquet")
    with pytest.raises(FacekitError, match=r"part-zz.parquet: not a facekit-batch status part"):
        results.write_summary()
    # Cut short (a full disk, a copy stopped): pyarrow's "Parquet magic bytes not found" traceback, exit 1.
    cut = results.status_dir / "part-zz.parquet"
    cut.write_bytes((results.status_dir / "part-e8a40d7bcf6c4760.parquet").read_bytes()[:500])
    with pytest.raises(FacekitError, match=r"part-zz.parquet: a damaged status part \(.*\); move it out of the "):
        results.write_summary()


def test_the_latest_status_of_each_source_is_read_columnar(tmp_path):
    """A resume and the closing status.csv read every status part: as Python rows, 0.6 GB and 1.1 GB for a
    job of a million photos. Read as Arrow now; the same rows: each source's latest, in the order they
    finished."""
    from facekit.batch import STATUS_COLUMNS, Results, done_already

    results = Results(tmp_path / "job")
    results.status_dir.mkdir(parents=True)
    results.faces_dir.mkdir()

    def status(source, state, finished):
        return {"source": source, "kind": "image", "status": state, "message": "" if state == "ok" else "bad",
                "faces": 1, "frames": 1, "seconds": 0.5, "cpu_seconds": 0.4, "worker": "w", "worker_rss_mb": 9.5,
                "finished": f"2026-11-29T06:00:{finished:02d}"}

    results.write("part-1.parquet", b"", [status("a.jpg", "error", 1), status("b.jpg", "ok", 2)])
    results.write("part-2.parquet", b"", [status("c.jpg", "error", 3), status("a.jpg", "ok", 4)])
    results.write("part-3.parquet", b"", [status("c.jpg", "error", 5)])
    latest = results.write_summary()
    assert latest["source"].to_pylist() == ["b.jpg", "a.jpg", "c.jpg"]
    assert latest["status"].to_pylist() == ["ok", "ok", "error"]
    lines = (results.folder / "status.csv").read_text().splitlines()
    assert lines[0] == ",".join(STATUS_COLUMNS)
    assert lines[2] == "a.jpg,image,ok,,1,1,0.5,0.4,w,9.5,2026-11-29T06:00:04,," and len(lines) == 4
    sources = [("a.jpg", "image"), ("b.jpg", "image"), ("c.jpg", "image"), ("d.jpg", "image")]
    assert done_already(results, sources) == [True, True, False, False]
    assert done_already(Results(tmp_path / "new"), sources) == [False] * 4
    # A job begun when a source was named by its resolved path, resumed now that links keep their names.
    (tmp_path / "blobs").mkdir()
    (tmp_path / "blobs" / "9f86.jpg").write_bytes(b"")
    (tmp_path / "e.jpg").symlink_to(tmp_path / "blobs" / "9f86.jpg")
    results.write("part-4.parquet", b"", [status(str(tmp_path / "blobs" / "9f86.jpg"), "ok", 6)])
    assert done_already(results, [*sources, (str(tmp_path / "e.jpg"), "image")]) == [True, True, False, False, True]


def test_status_csv_takes_a_runs_new_rows_without_reading_every_part_again(tmp_path, monkeypatch):
    """status.csv was read from every status part and written whole at the end of every run: on a results folder of
    a million photos a Ctrl-C took 19-21 s to stop, a finished job's "nothing to do" 11 s. A run whose sources had
    no row before adds its rows to it; one that tries a source again, or finds status.csv other than the last run
    left it (a run killed before its summary, a hand edit), writes it whole, as before."""
    import facekit.batch as batch
    from facekit.batch import Results

    def status(source, state, finished):
        return {"source": source, "kind": "image", "status": state, "message": "" if state == "ok" else "bad",
                "faces": 1, "frames": 1, "seconds": 0.5, "cpu_seconds": 0.4, "worker": "w", "worker_rss_mb": 9.5,
                "finished": f"2026-11-29T06:00:{finished:02d}"}

    folder = tmp_path / "job"
    first = Results(folder)
    first.status_dir.mkdir(parents=True)
    first.faces_dir.mkdir()
    first.write("part-1.parquet", b"", [status("a.jpg", "ok", 1), status("b.jpg", "error", 2)])
    first.write("part-2.parquet", b"", [status("c.jpg", "ok", 3)])
    first.write_summary(fresh=True)
    read = []
    monkeypatch.setattr(batch, "_read_status", lambda path, columns, real=batch._read_status: (
        read.append(path.name), real(path, columns))[1])

    def whole():  # status.csv as every part gives it
        again = tmp_path / "whole"
        shutil.rmtree(again, ignore_errors=True)
        shutil.copytree(folder / "status", again / "status")
        Results(again).write_summary()
        return (again / "status.csv").read_text()

    second = Results(folder)  # a resume: its two photos new, each task's part written as it comes back
    second.write("part-4.parquet", b"", [status("e.jpg", "ok", 6)])
    second.write("part-3.parquet", b"", [status("d.jpg", "ok", 5)])
    assert second.write_summary(fresh=True)["source"].to_pylist() == ["d.jpg", "e.jpg"]
    assert read == ["part-4.parquet", "part-3.parquet"]  # this run's parts alone
    csv = (folder / "status.csv").read_text()
    assert csv == whole() and csv.splitlines()[-2:] == ["d.jpg,image,ok,,1,1,0.5,0.4,w,9.5,2026-11-29T06:00:05,,",
                                                        "e.jpg,image,ok,,1,1,0.5,0.4,w,9.5,2026-11-29T06:00:06,,"]
    read.clear()
    Results(folder).write_summary(fresh=True)  # nothing to do
    assert read == [] and (folder / "status.csv").read_text() == csv

    third = Results(folder)  # b.jpg tried again: its error row must go
    third.write("part-5.parquet", b"", [status("b.jpg", "ok", 7)])
    third.write_summary(fresh=False)
    assert read == ["part-5.parquet"]  # b.jpg's old row left out of the copy, every other part left unread
    csv = (folder / "status.csv").read_text()
    assert csv == whole() and csv.count("b.jpg") == 1
    # A run killed outright after its part, before its summary: the next run's summary has that part's rows too.
    Results(folder).write("part-6.parquet", b"", [status("f.jpg", "ok", 8)])
    fourth = Results(folder)
    fourth.write("part-7.parquet", b"", [status("g.jpg", "ok", 9)])
    fourth.write_summary(fresh=True)
    csv = (folder / "status.csv").read_text()
    assert csv == whole() and "f.jpg" in csv and "g.jpg" in csv
    with open(folder / "status.csv", "a") as fh:  # a hand edit: rewritten, not added to
        fh.write("mine\n")
    fifth = Results(folder)
    fifth.write("part-8.parquet", b"", [status("h.jpg", "ok", 10)])
    fifth.write_summary(fresh=True)
    assert (folder / "status.csv").read_text() == whole() and "mine" not in whole()


def test_a_status_csv_removed_as_its_run_ends_is_written_whole_by_the_next_run(tmp_path, monkeypatch):
    """status.csv removed just after a run wrote it (a clean-up job, a user's rm) ended the run in a TypeError
    traceback ("'NoneType' object is not a mapping") where it recorded which parts the file holds: nothing is
    recorded of a file that is not there, and the next run writes it whole, every source's row in it."""
    from facekit.batch import Results, worker_died

    folder = tmp_path / "job"
    first = Results(folder)
    first.status_dir.mkdir(parents=True)
    first.faces_dir.mkdir()
    first.write("part-1.parquet", b"", [worker_died("/a/1.jpg", "image")])
    first.write_summary(fresh=True)
    real = Results._summary_state

    def removed_first(self, parts):
        (self.folder / "status.csv").unlink(missing_ok=True)
        return real(self, parts)

    second = Results(folder)
    second.write("part-2.parquet", b"", [worker_died("/a/2.jpg", "image")])
    with monkeypatch.context() as patch:
        patch.setattr(Results, "_summary_state", removed_first)
        assert second.write_summary(fresh=True)["source"].to_pylist() == ["/a/1.jpg", "/a/2.jpg"]
    assert not (folder / "status.csv").exists()
    third = Results(folder)
    third.write("part-3.parquet", b"", [worker_died("/a/3.jpg", "image")])
    third.write_summary(fresh=True)
    rows = (folder / "status.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["/a/1.jpg", "/a/2.jpg", "/a/3.jpg"]

def test_a_resume_that_tries_failed_sources_again_patches_status_csv_without_reading_every_part(tmp_path,
                                                                                                   monkeypatch):
    """A resume that tried again the sources that had failed read every status part and wrote status.csv whole: on a
    million rows, 1,000 tried again, 20.1 s on a busy machine (3.0 s now). It copies status.csv without those
    sources' old rows and adds their new ones, the same file as written whole, names with commas, quotes and line
    breaks among them. A row of this run that finished before status.csv's last (a worker's clock behind) is out of
    order there: then written whole."""
    import facekit.batch as batch
    from facekit.batch import Results

    def status(source, state, finished, message="bad, really"):
        return {"source": source, "kind": "image", "status": state, "message": "" if state == "ok" else message,
                "faces": 1, "frames": 1, "seconds": 0.5, "cpu_seconds": 0.4, "worker": "w", "worker_rss_mb": 9.5,
                "finished": f"2026-11-29T06:{finished:02d}:00.000"}

    names = ["/a/plain.jpg", "/a/with, comma.jpg", '/a/"quoted".jpg', "/a/line\nbreak.jpg", "/a/carriage\rreturn.jpg",
             "/a/b.jpg", "/a/plain.jpg.jpg"]
    folder = tmp_path / "job"
    first = Results(folder)
    first.status_dir.mkdir(parents=True)
    first.faces_dir.mkdir()
    first.write("part-1.parquet", b"", [status(n, "ok" if i % 2 else "error", i, f"{n}: cannot\nread, {i}")
                                        for i, n in enumerate(names)])
    first.write("part-2.parquet", b"", [status("/a/later.jpg", "error", 10)])
    first.write_summary()
    read = []
    monkeypatch.setattr(batch, "_read_status", lambda path, columns, real=batch._read_status: (
        read.append(path.name), real(path, columns))[1])

    def whole():
        again = tmp_path / "whole"
        shutil.rmtree(again, ignore_errors=True)
        shutil.copytree(folder / "status", again / "status")
        Results(again).write_summary()
        return (again / "status.csv").read_bytes()

    second = Results(folder)  # the failed ones tried again, across two tasks
    second.write("part-3.parquet", b"", [status("/a/plain.jpg", "ok", 20), status("/a/line\nbreak.jpg", "ok", 21)])
    second.write("part-4.parquet", b"", [status("/a/carriage\rreturn.jpg", "ok", 22), status("/a/later.jpg", "ok", 23),
                                         status('/a/"quoted".jpg', "error", 22)])  # a tie: by name, as written whole
    rows = second.write_summary(fresh=False)
    assert read == ["part-3.parquet", "part-4.parquet"]
    assert rows["source"].to_pylist() == ["/a/plain.jpg", "/a/line\nbreak.jpg", '/a/"quoted".jpg',
                                          "/a/carriage\rreturn.jpg", "/a/later.jpg"]
    patched = (folder / "status.csv").read_bytes()
    assert patched == whole()
    table = pq.read_table(folder / "status").to_pandas()
    import pandas as pd

    back = pd.read_csv(folder / "status.csv", dtype={"message": "string"}, keep_default_na=False)
    assert sorted(back["source"]) == sorted(set(table["source"])) and len(back) == len(names) + 1
    assert back.set_index("source").loc["/a/plain.jpg", "status"] == "ok"
    assert back.set_index("source").loc['/a/"quoted".jpg', "finished"].endswith("06:22:00.000")

    read.clear()
    third = Results(folder)  # a worker whose clock is behind: its row belongs among the old ones
    third.write("part-5.parquet", b"", [status("/a/b.jpg", "ok", 15)])
    third.write_summary(fresh=False)
    assert set(read) == {f"part-{i}.parquet" for i in range(1, 6)} and (folder / "status.csv").read_bytes() == whole()


def test_a_source_that_kills_its_worker_goes_alone_next_time(tmp_path):
    """A file that kills the worker reading it (a decoder crash, the out-of-memory killer) had Ray restart
    workers on it forever: no photo done, the file never named. Its task is now given up after TASK_TRIES,
    its sources recorded as errors, and the next run gives each of them a task of its own."""
    from facekit.batch import Results, killed_a_worker, make_tasks, worker_died

    results = Results(tmp_path / "job")
    results.status_dir.mkdir(parents=True)
    results.faces_dir.mkdir()
    task = [("/a/1.jpg", "image"), ("/a/2.jpg", "image"), ("/a/3.jpg", "image")]
    results.write("part-1.parquet", b"", [worker_died(s, k) for s, k in task])
    row = results.write_summary().to_pylist()[0]
    assert row["status"] == "error" and "worker died" in row["message"] and row["message"].startswith("/a/1.jpg: ")
    sources = task + [("/b/4.jpg", "image"), ("/b/5.jpg", "image"), ("/v/6.mp4", "video")]
    alone = killed_a_worker(results, sources)
    assert alone == [True, True, True, False, False, False]
    assert make_tasks(sources, 8, alone) == [[("/a/1.jpg", "image")], [("/a/2.jpg", "image")],
                                             [("/a/3.jpg", "image")], [("/v/6.mp4", "video")],
                                             [("/b/4.jpg", "image"), ("/b/5.jpg", "image")]]


def test_a_results_folder_removed_mid_job_is_one_line(tmp_path):
    """The results folder removed while the job ran (a clean-up job, a share unmounted): the next part's write
    and then status.csv's ended the job in two FileNotFoundError tracebacks and exit 1."""
    from facekit.batch import Results, worker_died
    from facekit.errors import FacekitError

    results = Results(tmp_path / "job")
    results.status_dir.mkdir(parents=True)
    results.faces_dir.mkdir()
    shutil.rmtree(results.folder)
    gone = rf"the folder {results.faces_dir} is gone \(removed or moved during the run\?\)"
    with pytest.raises(FacekitError, match=gone):
        results.write("part-1.parquet", b"", [worker_died("/a/1.jpg", "image")])
    with pytest.raises(FacekitError, match=rf"cannot write {results.folder / 'status.csv'}: the folder"):
        results.write_summary()
    assert not results.folder.exists()


def test_a_file_name_that_is_not_utf8_is_a_source_like_any_other(media, tmp_path):
    """An archive from an old system holds Latin-1 names ("caf\\xe9.jpg"): Python reads them as surrogate
    escapes, which pyarrow refuses, and one such file ended the whole job in a UnicodeEncodeError traceback
    (exit 1) before any work. Its rows and status now name it with the odd byte as \\xNN, and a resume
    finds it done."""
    from types import SimpleNamespace

    from facekit.batch import Results, Worker, done_already

    latin1 = os.fsdecode(os.fsencode(str(tmp_path)) + b"/caf\xe9.jpg")
    # A real photo: the worker reads it itself, for the rows' width and height, before the stand-in analyzer
    Path(latin1).write_bytes((media / "obama.jpg").read_bytes())
    worker = Worker.__new__(Worker)  # no models: the stand-in analyzer finds no face
    worker.analyzer, worker.name = SimpleNamespace(task_labels={}, analyze=lambda source, rotate=None: []), "w"
    worker.options, worker.columns = SimpleNamespace(rotate=0), ["source", "kind"]  # JobOptions.rotate
    rows, status = worker.run_source(latin1, "image")
    assert status["status"] == "ok" and status["source"] == f"{tmp_path}/caf\\xe9.jpg"
    missing, error = worker.run_source(latin1 + ".gone", "image")
    assert error["status"] == "error" and error["message"].startswith(f"{tmp_path}/caf\\xe9.jpg.gone: ")
    results = Results(tmp_path / "job")
    results.status_dir.mkdir(parents=True)
    results.faces_dir.mkdir()
    results.write("part-1.parquet", worker.parquet(rows), [status, error])
    assert done_already(results, [(latin1, "image"), (latin1 + ".gone", "image")]) == [True, False]
    results.write_summary()
    assert f"{tmp_path}/caf\\xe9.jpg,image,ok," in (results.folder / "status.csv").read_text()


def test_a_file_name_with_a_carriage_return_keeps_its_status_row_whole(media, tmp_path):
    """csv quotes a field for the line ending it writes ("\\n"), not for a "\\r": a photo named "a\\rb.jpg" was
    written bare into status.csv, and csv and pandas read its row as two, the second a "source" named b.jpg."""
    import csv
    from types import SimpleNamespace

    from facekit.batch import STATUS_COLUMNS, Results, Worker

    names = [str(tmp_path / "a\rb.jpg"), str(tmp_path / "c.jpg"), str(tmp_path / "d\r\ne.jpg")]
    for name in names:  # real photos: the worker reads each itself, for the rows' width and height
        Path(name).write_bytes((media / "obama.jpg").read_bytes())
    worker = Worker.__new__(Worker)  # no models: the stand-in analyzer finds no face
    worker.analyzer, worker.name = SimpleNamespace(task_labels={}, analyze=lambda source, rotate=None: []), "w"
    worker.options, worker.columns = SimpleNamespace(rotate=0), ["source", "kind"]  # JobOptions.rotate
    statuses = [worker.run_source(name, "image")[1] for name in names]
    results = Results(tmp_path / "job")
    results.status_dir.mkdir(parents=True)
    results.faces_dir.mkdir()
    results.write("part-1.parquet", worker.parquet([]), statuses)
    results.write_summary()
    with open(results.folder / "status.csv", newline="") as fh:
        text = fh.read()
    rows = list(csv.reader(text.splitlines(keepends=True)))
    assert rows[0] == list(STATUS_COLUMNS) and sorted(r[0] for r in rows[1:]) == sorted(names), rows
    assert text.count("\r\n") == 1  # the row ends as the others: the one "\r\n" is d\r\ne.jpg's


def test_a_second_job_in_the_same_folder_is_refused(tmp_path):
    """The same command started again while the first still ran did all that the first had not finished yet
    a second time: 258 of 600 photos' faces written twice, both runs exit 0. The second is refused now."""
    pytest.importorskip("fcntl")
    from facekit.batch import JobOptions, Results
    from facekit.errors import FacekitError

    first, second = Results(tmp_path / "job"), Results(tmp_path / "job")
    first.open(JobOptions(detector="scrfd"))
    with pytest.raises(FacekitError, match="another facekit-batch is writing there"):
        second.open(JobOptions(detector="scrfd"))
    os.close(first._lock_fd)  # the first job ends
    second.open(JobOptions(detector="scrfd"))
    assert sorted(p.name for p in (tmp_path / "job").iterdir()) == ["faces", "job.json", "status"]


def test_recursive_follows_linked_folders(tmp_path, monkeypatch):
    """--recursive skipped a sub-folder that is a link (an archive's year kept on another disk) without a
    word, where the glob 'archive/**/*.jpg' took it; a link back up the tree is read once, not forever.
    Sources keep the names the archive shows: rows named a linked photo by its target (a blob store's
    hash name); a file reached by two paths is one source."""
    from facekit.batch import gather_sources

    (tmp_path / "disk2" / "2021").mkdir(parents=True)
    (tmp_path / "disk2" / "2021" / "b.jpg").write_bytes(b"")
    (tmp_path / "blobs").mkdir()
    (tmp_path / "blobs" / "9f86d081.jpg").write_bytes(b"")
    archive = tmp_path / "archive"
    (archive / "2020").mkdir(parents=True)
    (archive / "2020" / "a.jpg").write_bytes(b"")
    (archive / "2020" / "c.jpg").symlink_to(tmp_path / "blobs" / "9f86d081.jpg")
    (archive / "2021").symlink_to(tmp_path / "disk2" / "2021")
    (archive / "2020" / "up").symlink_to(archive)
    # A folder's second name for one of its photos (a "latest" link): the photo once, by the name met first.
    (archive / "2020" / "latest.jpg").symlink_to(archive / "2020" / "a.jpg")
    sources, _ = gather_sources([str(archive)], None, True)
    assert sorted(sources) == [(str(archive / "2020" / "a.jpg"), "image"),
                               (str(archive / "2020" / "c.jpg"), "image"), (str(archive / "2021" / "b.jpg"), "image")]
    monkeypatch.chdir(tmp_path)
    twice, _ = gather_sources(["archive/2020/c.jpg", str(tmp_path / "blobs" / "9f86d081.jpg")], None, False)
    assert twice == [(str(archive / "2020" / "c.jpg"), "image")]  # relative as typed, made absolute
    (tmp_path / "disk2" / "2020").mkdir()
    (tmp_path / "disk2" / "2020" / "a.jpg").write_bytes(b"")
    below_link = str(archive / "2021" / ".." / "2020" / "a.jpg")  # beside the link's target: disk2/2020/a.jpg
    assert gather_sources([below_link], None, False)[0] == [(below_link, "image")]


def test_a_list_file_with_a_byte_order_mark(tmp_path):
    """A list saved as "UTF-8 with BOM" (Notepad, Windows PowerShell's Out-File) made its first entry
    "\\ufeff/path/a.jpg", a source that failed as "no such file"; CRLF line ends are taken too."""
    from facekit.batch import gather_sources

    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "b.jpg").write_bytes(b"")
    listed = tmp_path / "list.txt"
    listed.write_bytes(f"\ufeff{tmp_path / 'a.jpg'}\r\n{tmp_path / 'b.jpg'}\r\n".encode())
    sources, skipped = gather_sources([], listed, False)
    assert sources == [(str(tmp_path / "a.jpg"), "image"), (str(tmp_path / "b.jpg"), "image")] and skipped == 0


def test_a_list_file_names_each_file_as_written(tmp_path, monkeypatch):
    """splitlines() also split a list at "\\u2028", "\\x1c", "\\x85", ..., which a file name may hold: an upload named
    "a\\u2028" + "/etc/b.jpg" became the sources "a" and /etc/b.jpg; and " c.jpg" was read as c.jpg."""
    from facekit.batch import gather_sources

    odd = [tmp_path / "a\u2028x.jpg", tmp_path / "d\x1ce\x85f.jpg", tmp_path / " c.jpg", tmp_path / "g.jpg"]
    for path in odd:
        path.write_bytes(b"")
    listed = tmp_path / "list.txt"
    listed.write_text("".join(f"{path}\n" for path in odd[:3]) + f"  {odd[3]}  \r\n# a comment\n\n",
                      encoding="utf-8")
    sources, _ = gather_sources([], listed, False)
    assert sources == [(str(path), "image") for path in odd]
    # "#2.jpg" (a file of that name, relative to the current folder) is no comment: it was dropped without a word.
    (tmp_path / "#2.jpg").write_bytes(b"")
    listed.write_text("#2.jpg\n# a comment\n#3.jpg\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    sources, _ = gather_sources([], listed, False)
    assert sources == [(str(tmp_path / "#2.jpg"), "image")], sources


def test_a_file_whose_name_holds_pattern_characters_is_that_file(tmp_path, capsys):
    """"photo[1].jpg" or "what?.jpg", given or in a --list (as `find` writes them), were read as shell patterns that
    matched nothing: "[WARN] photo[1].jpg: the pattern matches nothing", the file left out of the job."""
    from facekit.batch import gather_sources

    odd = [tmp_path / "photo[1].jpg", tmp_path / "what?.jpg", tmp_path / "*.jpg"]
    for path in odd:
        path.write_bytes(b"")
    listed = tmp_path / "list.txt"
    listed.write_text("".join(f"{path}\n" for path in odd), encoding="utf-8")
    for named, list_file in (([str(path) for path in odd], None), ([], listed)):
        sources, _ = gather_sources(named, list_file, False)
        assert sources == [(str(path), "image") for path in odd], sources
    assert capsys.readouterr().err == ""
    # A pattern that names no file is still one, as a shell would have expanded it.
    sources, _ = gather_sources([str(tmp_path / "photo[0-9].jpg")], None, False)
    assert sources == [], sources


def test_a_file_named_with_a_slash_at_its_end_is_said_to_be_a_file(tmp_path):
    """`facekit-batch photo.jpg/` was "photo.jpg/: no such file or folder (looked for in ...)" of a file that is
    there."""
    from facekit.batch import gather_sources
    from facekit.errors import FacekitError

    (tmp_path / "photo.jpg").write_bytes(b"")
    with pytest.raises(FacekitError) as err:
        gather_sources([f"{tmp_path / 'photo.jpg'}/"], None, False)
    assert str(err.value) == f"{tmp_path / 'photo.jpg'}/: a file, not a folder: name it without the / at its end"


def test_a_failed_source_named_with_a_line_break_keeps_its_warning_on_one_line(tmp_path, media, monkeypatch,
                                                                               capsys):
    """A source that failed was named raw in its [WARN] line above the progress bar: "cut\\n[INFO] done.jpg" split
    it in two, the second read as a line of facekit-batch's own. The job's own worker reads the photo, in this
    process: Ray only carries the worker's message to the driver, which words the line (37-59 s as a Ray job)."""
    import ray.data

    import facekit.batch as batch_module

    class Dataset:  # each task through the job's Worker, as one Ray actor would run them
        def __init__(self, items):
            self.items = items

        def map_batches(self, worker, **kwargs):
            self.worker = worker
            return self

        def iter_batches(self, **kwargs):
            worker = self.worker()
            for item in self.items:
                yield worker({"part": [item["part"]], "task": [item["task"]]})

    monkeypatch.setattr(batch_module, "start_ray", lambda address, workers: 1)
    monkeypatch.setattr(ray.data, "from_items", lambda items, **kwargs: Dataset(items))
    monkeypatch.setattr(batch_module.Results, "lock", lambda self: None)  # held till the process ends
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "cut\n[INFO] done.jpg").write_bytes((media / "obama.jpg").read_bytes()[:3000])
    assert batch_module.main([str(photos), "-o", str(tmp_path / "out"), "--tasks", "mask", "--workers", "1"]) == 1
    err = capsys.readouterr().err
    warned = [ln for ln in err.splitlines() if "not a readable image" in ln]
    assert len(warned) == 1 and warned[0].startswith(f"[WARN] {photos}/cut\\n[INFO] done.jpg: "), err


def test_a_photo_named_like_an_option_is_taken_after_a_double_dash(tmp_path, monkeypatch, capsys):
    """-old.jpg is refused where it would be read as `-o ld.jpg`; after `--`, the way a shell's tools take such a
    name, it is the photo."""
    from facekit.batch import build_parser

    (tmp_path / "-old.jpg").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert build_parser().parse_args(["-o", "out", "--", "-old.jpg"]).inputs == ["-old.jpg"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["a.jpg", "-old.jpg"])
    capsys.readouterr()
    with pytest.raises(SystemExit):  # no word of how to name a file that was named right
        build_parser().parse_args(["--", "-old.jpg"])
    assert capsys.readouterr().err == ("[ERROR] the following arguments are required: -o/--output (see facekit-batch "
                                       "--help)\n")


PLAIN_FRAMES = 6  # the most frames a test compares with the video script's plain rows


@pytest.fixture(scope="module")
def plain_clip_rows(media, tmp_path_factory) -> str:
    """The video script's CSV of the clip's first PLAIN_FRAMES frames (mask head, heads every frame, no other
    option), made once: three tests ran it each (4 or 6 frames), and a run's first N frames are a shorter run's
    rows (the tracker and smoothing look only back)."""
    def build(folder: Path) -> str:
        table = folder / "plain.csv"
        res = run_script("detect_mask_video.py", "-s", media / CLIP, "--no-display", "--max-frames",
                         str(PLAIN_FRAMES), "--head-every", "1", "--tasks", "mask", "--csv", table)
        assert res.returncode == 0, res.stderr[-2000:]
        return str(table)

    return built_once(tmp_path_factory, "batch-plain-clip", build)


def _plain_rows(plain_csv: str, frames: int, columns: list[str]):
    """plain_clip_rows' rows of the first `frames` frames, sorted as a job's Parquet rows are compared with them."""
    import pandas as pd

    assert frames <= PLAIN_FRAMES
    table = pd.read_csv(plain_csv)
    return table[table["frame"] < frames][columns].sort_values(["frame", "track_id"]).reset_index(drop=True)


def _video_script_tables(media, tmp_path, frames: int, columns: list[str], option: list[str], plain_csv: str):
    """The video script's CSV rows of the clip's first `frames` frames (mask head, heads every frame) with `option`
    and without it (plain_clip_rows'), each sorted as a job's Parquet rows are compared with them."""
    import pandas as pd

    table = tmp_path / "option.csv"
    res = run_script("detect_mask_video.py", "-s", media / CLIP, "--no-display", "--max-frames", str(frames),
                     "--head-every", "1", "--tasks", "mask", "--csv", table, *option)
    assert res.returncode == 0, res.stderr[-2000:]
    option_rows = pd.read_csv(table)[columns].sort_values(["frame", "track_id"]).reset_index(drop=True)
    return option_rows, _plain_rows(plain_csv, frames, columns)


def _a_finished_job(tmp_path, media):
    """A job folder whose one photo is done (its status part written as a worker writes it): (photo, Results)."""
    from facekit.batch import Results, gather_sources

    photo = tmp_path / "one.jpg"
    shutil.copy(media / "obama.jpg", photo)
    results = Results(tmp_path / "results")
    results.status_dir.mkdir(parents=True)
    results.faces_dir.mkdir()
    (source, kind), = gather_sources([str(photo)], None, False)[0]
    results.write("part-1.parquet", b"", [{
        "source": source, "kind": kind, "status": "ok", "message": "", "faces": 1, "frames": 1, "seconds": 0.5,
        "cpu_seconds": 0.4, "worker": "w", "worker_rss_mb": 9.5, "finished": "2026-11-29T06:00:01"}])
    return photo, results


def test_a_finished_job_resumed_ends_in_one_line_without_ray(tmp_path, media, monkeypatch, capsys):
    """A resume with every source done started Ray (seconds, a worker process per core) to print "0 sources to
    do (0 photos, 0 videos) on 2 worker(s)" and a line of zeros. It says so in one line now, exit 0."""
    import facekit.batch as batch_module

    photo, results = _a_finished_job(tmp_path, media)
    started = []
    monkeypatch.setattr(batch_module, "start_ray", lambda *a: started.append(a) or 2)
    assert batch_module.main([str(photo), "-o", str(results.folder)]) == 0
    assert not started
    out = capsys.readouterr().out
    assert out == f"[INFO] nothing to do: all 1 source already done in {results.folder}\n"
    assert (results.folder / "status.csv").read_text().count("\n") == 2


def test_a_finished_job_of_an_older_facekit_resumed_says_nothing_of_mixed_rows(tmp_path, media):
    """After the bump to 0.2.0, each finished job of 0.1.0 run again printed "[WARN] ... the sources done then keep
    that facekit's rows, those done now get facekit 0.2.0's ... use another --output" above "nothing to do": no
    row was added, its table was one facekit's. The warning now comes only with work to do."""
    from facekit.batch import FACEKIT_KEY

    photo, results = _a_finished_job(tmp_path, media)
    # each run in a process of its own, as a user's are: a job's lock on its folder lasts as long as its process
    assert batch(photo, "-o", results.folder).returncode == 0  # writes this facekit's job.json, starts no Ray
    job = json.loads((results.folder / "job.json").read_text())
    (results.folder / "job.json").write_text(json.dumps({**job, FACEKIT_KEY: "0.1.0"}))
    res = batch(photo, "-o", results.folder)
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"[INFO] nothing to do: all 1 source already done in {results.folder}\n"
    assert res.stderr == "", res.stderr


def test_a_job_begun_before_width_and_height_is_not_resumed_into_parts_of_two_schemas(tmp_path, media, monkeypatch,
                                                                                        capsys):
    """A job begun before the faces parts gained width, height and resumed after wrote its new parts beside the old
    ones in silence: pandas.read_parquet then read every row with the first part's columns (the sizes dropped),
    polars refused the folder. The resume is now one [ERROR] line before Ray starts, the folder as it was;
    --mixed-columns resumes it so, and a job of this facekit's own columns resumes as before."""
    import facekit.batch as batch_module
    from facekit import FaceAnalyzer
    from facekit.heads import load_heads

    heads = load_heads(None, [])
    columns = batch_module.face_columns(heads, False)
    # The driver's columns are those a worker's analyzer writes, face mesh or not.
    assert columns == ["source", "kind", *FaceAnalyzer(detector="yunet").record_columns()]
    assert batch_module.face_columns(heads, True) == ["source", "kind",
                                                      *FaceAnalyzer(detector="yunet", landmarks=True).record_columns()]
    photo, results = _a_finished_job(tmp_path, media)
    other = tmp_path / "two_people.jpg"
    shutil.copy(media / "two_people.jpg", other)
    row = {"source": str(photo), "kind": "image", "x1": 1, "y1": 2, "x2": 30, "y2": 40, "score": 0.9}
    part = results.faces_dir / "part-1.parquet"
    part.write_bytes(batch_module.Worker.parquet_of([row], [c for c in columns if c not in ("width", "height")]))
    def parts():
        return {p: p.read_bytes() for d in (results.faces_dir, results.status_dir) for p in d.iterdir()}

    had = parts()
    started = []
    monkeypatch.setattr(batch_module, "start_ray", lambda *a: started.append(a) or 1)
    monkeypatch.setattr(batch_module, "run_job", lambda *a, **k: {"sources": 0, "frames": 0, "faces": 0, "failed": 0})
    # Three runs in one process: the job's lock on its folder (held until the process ends) would refuse the next.
    monkeypatch.setattr(batch_module.Results, "lock", lambda self: None)
    assert batch_module.main([str(photo), str(other), "-o", str(results.folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("[ERROR]") and "without width, height" in err[0], err
    assert "--mixed-columns" in err[0] and "another --output" in err[0]
    assert not started
    assert parts() == had and not (results.folder / "status.csv").exists()

    assert batch_module.main([str(photo), str(other), "-o", str(results.folder), "--mixed-columns"]) == 0
    assert len(started) == 1 and "[ERROR]" not in capsys.readouterr().err
    part.write_bytes(batch_module.Worker.parquet_of([row], columns))  # this facekit's own columns
    assert batch_module.main([str(photo), str(other), "-o", str(results.folder)]) == 0
    assert len(started) == 2


def test_a_job_begun_before_the_turned_column_resumes_saying_which_photos_lay_turned(tmp_path, media, monkeypatch,
                                                                                       capsys):
    """status.csv gained `turned` (the photo script's JSON's: degrees clockwise a photo's faces were found turned).
    A job begun before it resumes: its status parts lack the column (empty there), its faces parts are unchanged,
    and its status.csv, written under the old header, is written whole once with the column instead of taking
    rows one field longer than its header (pandas: "Expected 12 fields in line 3, saw 13"). The upside-down photo
    done by the resume (a real worker, Ray left out) reads 180, and the job's closing line counts it."""
    from dataclasses import asdict

    import cv2
    import pandas as pd
    import pyarrow as pa

    import facekit.batch as batch_module
    from facekit import runtime
    from facekit.heads import load_heads

    old_columns = [c for c in batch_module.STATUS_COLUMNS if c != "turned"]
    photo, results = _a_finished_job(tmp_path, media)
    (results.status_dir / "part-1.parquet").unlink()  # as the older facekit wrote it: no turned column at all
    done = {"source": str(photo), "kind": "image", "status": "ok", "message": "", "faces": 1, "frames": 1,
            "seconds": 0.5, "cpu_seconds": 0.4, "worker": "w", "worker_rss_mb": 9.5,
            "finished": "2026-11-29T06:00:01", "picture_start_s": None}
    pq.write_table(pa.table({c: pa.array([done[c]], batch_module.STATUS_NUMBERS.get(c, "string"))
                             for c in old_columns}), results.status_dir / "part-1.parquet")
    heads = load_heads(["mask"], [])
    faces = batch_module.Worker.parquet_of([{"source": str(photo), "kind": "image", "x1": 1, "y1": 2, "x2": 30,
                                             "y2": 40, "score": 0.9}], batch_module.face_columns(heads, False))
    (results.faces_dir / "part-1.parquet").write_bytes(faces)
    from facekit import __version__
    from facekit.detection import DEFAULT_DETECTOR

    options = batch_module.JobOptions(detector=DEFAULT_DETECTOR, tasks=["mask"], heads=batch_module.head_hashes(heads),
                                      cards=batch_module.card_digests(heads))
    (results.folder / "job.json").write_text(json.dumps({**asdict(options), batch_module.FACEKIT_KEY: __version__}))
    (results.folder / "status.csv").write_text(",".join(old_columns) + f"\n{photo},image,ok,,1,1,0.5,0.4,w,9.5,"
                                               "2026-11-29T06:00:01,\n")
    record = results._summary_state(["part-1.parquet"])
    record.pop("columns")  # the older facekit's record of it
    (results.folder / batch_module.SUMMARY_RECORD).write_text(json.dumps({**record, "last": "2026-11-29T06:00:01"}))
    down = tmp_path / "down.png"  # stored upside down, its EXIF orientation lost
    cv2.imwrite(str(down), cv2.imread(str(media / "example_03.png"))[::-1, ::-1])  # numpy: no EXIF to turn it back

    def run_job(tasks, options, results, workers, rank, suspects=False):  # a real worker's rows, without Ray
        worker = batch_module.Worker(asdict(options))
        rows, status = worker.run_source(*tasks[0][0])
        results.write("part-0000000002-1764568800000-0a1b2c3d.parquet", worker.parquet(rows), [status])
        return {"sources": 1, "frames": 1, "faces": len(rows), "failed": 0, "turned": int(status["turned"] > 0)}

    monkeypatch.setattr(batch_module, "start_ray", lambda *a: 1)
    monkeypatch.setattr(batch_module, "run_job", run_job)
    monkeypatch.setattr(runtime, "_override", runtime._override)  # a Worker sets 1 thread for the process
    opencv_threads = cv2.getNumThreads()
    try:
        assert batch_module.main([str(photo), str(down), "-o", str(results.folder), "--tasks", "mask"]) == 0
    finally:
        cv2.setNumThreads(opencv_threads)
    out, err = capsys.readouterr()
    assert "[INFO] resuming: 1 of 2 sources already done" in out and "[WARN]" not in err and "[ERROR]" not in err
    assert "[INFO] 1 photo found turned (lying on a side or upside down): status.csv's turned gives the degrees " \
           "clockwise; its faces' boxes are in its pixels as read\n" in out, out
    table = pd.read_csv(results.folder / "status.csv")
    assert list(table.columns) == list(batch_module.STATUS_COLUMNS) and table["source"].tolist() == [str(photo),
                                                                                                      str(down)]
    assert pd.isna(table["turned"][0]) and table["turned"][1] == 180 and table["faces"].tolist() == [1, 3]
    assert batch_module.done_already(results, [(str(photo), "image"), (str(down), "image")]) == [True, True]
    assert (results.faces_dir / "part-1.parquet").read_bytes() == faces and len(list(results.faces_dir.iterdir())) == 2
    # Written whole once: the next run's rows are added to it again, as they were before the column.
    assert json.loads((results.folder / batch_module.SUMMARY_RECORD).read_text())["columns"][-1] == "turned"


def test_counts_in_the_progress_lines_agree_with_their_nouns():
    from facekit.batch import counted

    assert [counted(n, "video") for n in (0, 1, 2)] == ["0 videos", "1 video", "2 videos"]


def test_parquet_columns_take_the_csv_types():
    """emotion_eyes_only is the CSV's 0/1 flag, but its Parquet column was a double (0.0 / 1.0), so a video's CSV
    and its batch rows, read back with pandas, came back with the flag in two types."""
    import io

    import numpy as np

    from facekit.batch import Worker
    from facekit.records import csv_columns, csv_row
    from facekit.types import Box, Face, Prediction

    labels = {"mask": ["with_mask", "without_mask"],
              "emotion": ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]}
    mask = Prediction.from_probabilities(labels["mask"], np.array([0.9, 0.1]))
    emotion = Prediction.from_probabilities(labels["emotion"], np.array([0.1, 0, 0, 0.6, 0.2, 0.1, 0]))
    faces = [Face(Box(0, 0, 40, 40), 0.9, {"mask": mask, "emotion": emotion}, track_id=1),
             Face(Box(50, 0, 54, 4), 0.6, track_id=2)]  # too small for the heads: empty cells
    rows = [{"source": "/v.mp4", "kind": "video", **csv_row(3, 0.1, f, labels)} for f in faces]
    table = pq.read_table(io.BytesIO(Worker.parquet_of(rows, ["source", "kind", *csv_columns(labels)])))
    assert str(table.schema.field("emotion_eyes_only").type) == "int64"
    assert table.column("emotion_eyes_only").to_pylist() == [1, None]
    assert table.slice(0, 1).to_pandas()["emotion_eyes_only"].dtype == np.int64


@pytest.mark.slow
def test_video_frames_and_head_rate_as_the_video_script_takes_them(tmp_path, media, plain_clip_rows):
    """facekit-batch had no --max-frames or --head-every: a trial over each video's first seconds, or heads on every
    frame, could not be had from the job, though its video rows are the video script's. With the video detector,
    the rows are the video script's rows of the same options; the options are the job's (a resume with others is
    refused)."""
    import pandas as pd

    out = tmp_path / "results"
    args = [media / CLIP, "-o", out, "--max-frames", "6", "--head-every", "1", "--detector", "scrfd-500m",
            "--tasks", "mask", "--workers", "1"]
    res = batch(*args)
    assert res.returncode == 0, res.stderr[-2000:]
    columns = ["frame", "track_id", "x1", "y1", "x2", "y2", "mask_label", "mask_with_mask"]
    rows = pd.read_parquet(out / "faces")[columns].sort_values(["frame", "track_id"]).reset_index(drop=True)
    script = _plain_rows(plain_clip_rows, 6, columns)  # the script with --max-frames 6 --head-every 1
    assert sorted(rows["frame"].unique()) == [0, 1, 2, 3, 4, 5]
    pd.testing.assert_frame_equal(rows, script, check_dtype=False)
    status = pd.read_csv(out / "status.csv")
    assert status["frames"].tolist() == [6] and status["status"].tolist() == ["ok"]
    assert json.loads((out / "job.json").read_text())["max_frames"] == 6
    at = args.index("--head-every")
    res = batch(*args[:at], *args[at + 2:], timeout=120)  # --head-every's default again
    assert res.returncode == 2 and "holds results made with other options (head_every)" in res.stderr


# Loaded by every Python process of a job (PYTHONPATH): a Ray worker that imports facekit.batch calls the test's
# before(source), whose code goes first in the file, ahead of each source it runs.
WORKER_HOOK = '''
import os, sys

class _Hook:
    def find_spec(self, name, path=None, target=None):
        if name != "facekit.batch":
            return None
        sys.meta_path.remove(self)
        import importlib.util
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            source_run = module.Worker.run_source

            def run_source(self, source, kind):
                before(source)
                return source_run(self, source, kind)
            module.Worker.run_source = run_source
        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, _Hook())
'''


def worker_hook(tmp_path: Path, before: str, **env: str) -> dict:
    """The environment of a job whose Ray workers run `before` (the code of a function before(source)) ahead of
    each source, with env's variables for it."""
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(f"{before}\n{WORKER_HOOK}")
    return {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path / "hook"), os.environ.get("PYTHONPATH")]))}


# A worker's first source waits until another worker has begun one (its pid's empty file in FACEKIT_TEST_BEGUN), for
# 240 s at most: a worker whose next task could go elsewhere cannot finish this one before the other is up.
BOTH_WORKERS_BUSY = '''
import os, time
from pathlib import Path

def before(source):
    begun = Path(os.environ["FACEKIT_TEST_BEGUN"])
    if (begun / str(os.getpid())).exists():
        return
    (begun / str(os.getpid())).touch()
    deadline = time.monotonic() + 240
    while len(list(begun.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
'''

# A run_source that ends the process on one named file, as a decoder crash or the out-of-memory killer would.
DYING_WORKER = '''
import os

def before(source):
    if source.endswith(os.environ["FACEKIT_TEST_DIE_ON"]):
        os._exit(1)
'''


@pytest.mark.slow
def test_two_videos_on_two_workers_run_side_by_side(tmp_path, media):
    """Each worker held two tasks (its next one queued), and the first worker up took both videos of a job: two
    10-minute recordings on --workers 2 ran one after the other on one worker, the other idle, twice the time.
    A job with videos holds one task per worker, so each video gets a worker of its own."""
    import pandas as pd

    clips = tmp_path / "clips"
    clips.mkdir()
    for name in ("one.mp4", "two.mp4"):
        shutil.copy(media / CLIP, clips / name)
    out, begun = tmp_path / "results", tmp_path / "begun"
    begun.mkdir()
    # The first worker up holds its video until the second has begun one: a video outlasting the second worker's
    # start (the clip's 275 frames took 12 s here) was not enough on a loaded machine, where that start took
    # longer and the first worker, its video done, took the second too with the product right.
    env = worker_hook(tmp_path, BOTH_WORKERS_BUSY, FACEKIT_TEST_BEGUN=str(begun))
    res = batch(clips, "-o", out, "--detector", "scrfd-500m", "--workers", "2", "--max-frames", "20", "--tasks", "mask",
                env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    status = pd.read_csv(out / "status.csv")
    assert status["status"].tolist() == ["ok", "ok"] and status["frames"].tolist() == [20, 20]
    assert status["worker"].nunique() == 2, status[["source", "worker", "seconds", "finished"]].to_string()


@pytest.mark.slow
def test_fine_pass_for_videos_as_the_video_script_takes_it(tmp_path, media, plain_clip_rows):
    """detect_mask_video.py has --fine-pass (a 4K video's faces under ~60 px are missed without it); facekit-batch
    refused it, so a job of such videos could not find them. Its rows are now the script's --fine-pass rows (the
    clip's boxes and scores differ with and without it), and it is the job's option (a resume without it is
    refused)."""
    import pandas as pd

    out = tmp_path / "results"
    args = [media / CLIP, "-o", out, "--max-frames", "4", "--head-every", "1", "--detector", "scrfd-500m",
            "--tasks", "mask", "--workers", "1", "--fine-pass"]
    res = batch(*args)
    assert res.returncode == 0, res.stderr[-2000:]
    columns = ["frame", "track_id", "x1", "y1", "x2", "y2", "score", "mask_with_mask"]
    script, one_pass = _video_script_tables(media, tmp_path, 4, columns, ["--fine-pass"], plain_clip_rows)
    rows = pd.read_parquet(out / "faces")[columns].sort_values(["frame", "track_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(rows, script, check_dtype=False)
    assert not rows.equals(one_pass.astype(rows.dtypes.to_dict()))
    assert json.loads((out / "job.json").read_text())["fine_pass"] is True
    res = batch(*args[:-1], timeout=120)
    assert res.returncode == 2 and "holds results made with other options (fine_pass)" in res.stderr


@pytest.mark.slow
def test_smooth_for_videos_and_files_this_user_may_not_read(tmp_path, media, plain_clip_rows):
    """--smooth reached the videos' tasks unchecked: the job's rows are the video script's with the same strength
    (and differ from the default's). A photo and a video refused to this user (root too) are each one status row
    that says "cannot read", and the job goes on past them."""
    import pandas as pd

    out = tmp_path / "results"
    photo = unreadable_file(tmp_path, "locked.jpg", media / "obama.jpg")
    video = unreadable_file(tmp_path, "locked.mp4", media / CLIP)
    res = batch(media / CLIP, photo, video, "-o", out, "--max-frames", "6", "--head-every", "1", "--detector",
                "scrfd-500m", "--tasks", "mask", "--workers", "1", "--smooth", "0.9")
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-2000:]
    status = pd.read_csv(out / "status.csv").set_index("source")
    for path in (photo, video):
        assert status.loc[str(path), "status"] == "error"
        assert status.loc[str(path), "message"] == f"{path}: cannot read (Permission denied)"
    assert status.loc[str(media / CLIP), "status"] == "ok"
    columns = ["frame", "track_id", "x1", "y1", "mask_label", "mask_with_mask"]
    script, default = _video_script_tables(media, tmp_path, 6, columns, ["--smooth", "0.9"], plain_clip_rows)
    rows = pd.read_parquet(out / "faces")[columns].sort_values(["frame", "track_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(rows, script, check_dtype=False)
    assert (rows["mask_with_mask"] - default["mask_with_mask"]).abs().max() > 0.005  # 0.009 on frame 4
    assert json.loads((out / "job.json").read_text())["smooth"] == 0.9


@pytest.mark.slow
def test_a_truncated_video_keeps_the_rows_of_the_frames_before(tmp_path, media):
    """A video cut short (a recording or download stopped: an MKV cut at 60% of its bytes) lost every row: status
    error, "video ends at frame 11 of 20 (truncated or corrupt)", faces 0, where the video script keeps its outputs
    of the frames before. Those rows are now kept, its status partial, and a resume leaves it: read again, it gives
    the same frames, whose rows would be written twice."""
    import cv2
    import pandas as pd

    clips = tmp_path / "clips"
    clips.mkdir()
    cap = cv2.VideoCapture(str(media / CLIP))
    writer = cv2.VideoWriter(str(tmp_path / "whole.mkv"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 360))
    for _ in range(20):
        writer.write(cap.read()[1])
    writer.release()
    cap.release()
    whole = (tmp_path / "whole.mkv").read_bytes()
    (clips / "cut.mkv").write_bytes(whole[: len(whole) * 6 // 10])
    out = tmp_path / "results"
    args = [clips, "-o", out, "--detector", "scrfd-500m", "--tasks", "mask", "--workers", "1"]
    res = batch(*args)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-2000:]
    (row,) = pd.read_csv(out / "status.csv").to_dict("records")
    frames = row["frames"]
    assert row["status"] == "partial" and 5 < frames < 20, row
    assert row["message"] == (f"{clips / 'cut.mkv'}: video ends at frame {frames} of 20 (truncated or corrupt); the "
                              f"rows of the {frames} frames before are kept")
    faces = pd.read_parquet(out / "faces")
    assert len(faces) == row["faces"] and faces["frame"].nunique() == frames  # the clip's faces, on every frame
    assert "[WARN] 1 video ended part-way (truncated or corrupt)" in res.stderr
    res = batch(*args, timeout=120)
    assert res.returncode == 0 and "nothing to do: all 1 source already done" in res.stdout, res.stdout + res.stderr


@pytest.mark.slow
def test_faces_read_back_in_the_order_the_sources_were_given(tmp_path, media):
    """The faces parts were named by a random id, and pyarrow / pandas read a folder's parts in name order: two
    runs of one job gave the same rows in another order each time (the tasks finish in any order), so a table
    compared or diffed with the last run's differed in every row. The parts now read back in the order the sources
    were given: a folder's photos by name, then the video named after it."""
    photos = tmp_path / "photos"
    photos.mkdir()
    names = ["example_01.png", "example_02.png", "example_03.png", "obama.jpg", "two_people.jpg", "astronaut.png"]
    for name in names:
        shutil.copy(media / name, photos / name)
    out = tmp_path / "results"
    res = batch(photos, media / CLIP, "-o", out, "--max-frames", "2", "--tasks", "mask", "--fast", "--workers", "2",
                "--photos-per-task", "1")
    assert res.returncode == 0, res.stderr[-2000:]
    sources = pq.read_table(out / "faces").column("source").to_pylist()
    order = list(dict.fromkeys(sources))
    assert order == [str(photos / n) for n in sorted(names)] + [str(media / CLIP)], order
    assert sources == sorted(sources, key=order.index)  # each source's rows together


def test_a_source_tried_again_on_a_resume_reads_back_after_the_task_it_first_ran_in():
    """Parts are read in name order. A retried source's task has the rank of the task it first failed in when it
    led that task, and the random id alone decided which part came first (README says after)."""
    from facekit.batch import part_name

    first_run, resume = 1764540000000, 1764540000001
    for _ in range(20):  # whatever the random ids
        names = [part_name(0, first_run), part_name(3, first_run), part_name(0, resume), part_name(1, resume)]
        assert sorted(names) == [names[0], names[2], names[3], names[1]], names
    assert all(re.fullmatch(r"part-\d{10}-\d{13}-[0-9a-f]{8}\.parquet", n) for n in names), names


@pytest.mark.slow
def test_a_first_task_whose_worker_died_keeps_every_column(tmp_path, media):
    """A task whose worker died TASK_TRIES times got a faces part of two columns (source, kind), and pyarrow and
    pandas take a folder's schema from its first part: when that task came first, `pd.read_parquet` of the whole
    job gave every face with its source and kind only, boxes and labels gone. Such a task now writes no faces
    part (it has no faces); its sources are errors in status.csv."""
    import cv2
    import numpy as np

    from facekit.batch import Results

    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a_dies.jpg").write_bytes((media / "obama.jpg").read_bytes())
    shutil.copy(media / "example_01.png", photos / "b.png")
    # Two workers of two tasks in flight each: Ray now and then queued b.png's task behind the dying one, lost with
    # it, and the test ran the job again for b.png's faces (20 s more, at random). A job with a video holds one task
    # a worker (run_job), so b.png's never waits behind a_dies.jpg's; the video, given last, has no face: its part
    # comes after the others and adds no row.
    writer = cv2.VideoWriter(str(tmp_path / "grey.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25, (320, 240))
    for _ in range(2):
        writer.write(np.full((240, 320, 3), 128, np.uint8))  # media's no_face_cat.png gave a face (0.25) in a video
    writer.release()
    out = tmp_path / "results"
    env = worker_hook(tmp_path, DYING_WORKER, FACEKIT_TEST_DIE_ON="a_dies.jpg")
    res = batch(photos, tmp_path / "grey.avi", "-o", out, "--tasks", "mask", "--fast", "--workers", "2",
                "--photos-per-task", "1", env=env)
    assert res.returncode == 1, res.stderr[-2000:]
    status = {Path(r["source"]).name: r for r in Results(out).latest().to_pylist()}
    assert status["a_dies.jpg"]["status"] == "error" and "worker died" in status["a_dies.jpg"]["message"]
    assert status["b.png"]["status"] == "ok", status["b.png"]
    assert status["grey.avi"]["status"] == "ok" and status["grey.avi"]["frames"] == 2, status["grey.avi"]
    faces = pq.read_table(out / "faces")
    assert {"x1", "y2", "score", "mask_label", "mask_with_mask"} <= set(faces.column_names), faces.column_names
    assert faces.column("source").to_pylist() == [str(photos / "b.png")]


def test_an_older_jobs_stub_part_is_removed_when_it_resumes(tmp_path):
    """Results written before 6c2124d keep the two-column faces part (source, kind) of a task whose worker died;
    read first, it still made `results/faces` come back without boxes and labels after an upgrade, whatever the
    resume did. Opening such a folder removes it: it holds no face. Other parts, empty ones too, stay."""
    from facekit.batch import JobOptions, Results, Worker

    results = Results(tmp_path / "job")
    results.faces_dir.mkdir(parents=True)
    results.status_dir.mkdir()
    columns = ["source", "kind", "frame", "x1", "y1", "x2", "y2", "score", "mask_label", "mask_with_mask"]
    row = {"source": "/p/b.png", "kind": "image", "frame": None, "x1": 1, "y1": 2, "x2": 30, "y2": 40,
           "score": 0.9, "mask_label": "with_mask", "mask_with_mask": 0.99}
    parts = {"part-0000000000-0a.parquet": Worker.parquet_of([], ["source", "kind"]),  # as 6c2124d^ wrote it
             "part-0000000001-1b.parquet": Worker.parquet_of([row], columns),
             "part-0000000002-2c.parquet": Worker.parquet_of([], columns)}  # a task of photos with no face
    for name, data in parts.items():
        (results.faces_dir / name).write_bytes(data)
        pq.write_table(pq.read_table(results.faces_dir / name).select(["source"]), results.status_dir / name)
    assert pq.read_table(results.faces_dir).column_names == ["source", "kind"]  # what the user read back
    # A run killed mid-write leaves temp files in both folders, and one killed between a task's two renames a
    # faces part without its status part: its sources are not done, so its faces would be written twice.
    killed = [results.faces_dir / ".part-0000000003-3d.parquet.k3x9_q2a.part",
              results.status_dir / ".part-0000000003-3d.parquet.0aj5mmzt.part"]
    for path in killed:
        path.write_bytes(b"PAR1")
    (results.faces_dir / "part-0000000004-4e.parquet").write_bytes(parts["part-0000000001-1b.parquet"])
    Results(results.folder).open(JobOptions(detector="scrfd"))
    assert sorted(p.name for p in results.faces_dir.iterdir()) == sorted(parts)[1:]
    assert sorted(p.name for p in results.status_dir.iterdir()) == sorted(parts)
    faces = pq.read_table(results.faces_dir)
    assert faces.column_names == columns and faces.column("x2").to_pylist() == [30]


def test_readme_names_every_column_the_batch_job_writes():
    """README described status.csv as "ok or error and the error's one line, faces, frames, seconds, CPU
    seconds, worker and its peak memory": no column names, and kind and finished not at all, so a notebook
    reading it had to guess `cpu_seconds` and `worker_rss_mb`. Every column is now named there, and so is
    every fixed column of the faces parts."""
    import re

    from facekit.batch import STATUS_COLUMNS
    from facekit.records import csv_columns

    readme = (ROOT / "README.md").read_text().split("**Batch jobs.**")[1].split("**On a cluster.**")[0]
    status = readme.split("`results/status/part-*.parquet`")[1].split("\n- ")[0]
    named = set(re.findall(r"\w+", " ".join(re.findall(r"`([^`]+)`", status))))
    assert set(STATUS_COLUMNS) <= named, set(STATUS_COLUMNS) - named
    faces = readme.split("`results/faces/part-*.parquet`")[1].split("\n- ")[0]
    named = set(re.findall(r"\w+", " ".join(re.findall(r"`([^`]+)`", faces))))
    fixed = ["source", "kind", *csv_columns({}, pose=True, measures=("eye_openness", "mouth_openness"))]
    assert set(fixed) <= named, set(fixed) - named


def test_an_input_named_without_its_extension_is_offered_the_file_that_is_there(tmp_path, media):
    """`facekit-batch photos/obama -o results` (the name as a file manager shows it) said only "no such file or
    folder" about a photo that is there, as the image and video scripts did: the line names it."""
    shutil.copy(media / "obama.jpg", tmp_path / "obama.jpg")
    out = tmp_path / "results"
    res = batch(tmp_path / "obama", "-o", out, timeout=60)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip() == (f"[ERROR] {tmp_path / 'obama'}: no such file or folder (did you mean "
                                  f"{tmp_path / 'obama.jpg'}?)")
    assert not out.exists()


def test_a_folder_and_a_pattern_are_read_in_a_file_browsers_order(tmp_path):
    """The job's sources, and so its Parquet rows and status.csv, took a folder's photos in string order (img10
    before img2, IMG_ before img), unlike the folder in a file browser and unlike detect_mask_image.py."""
    from facekit.batch import gather_sources

    shoot = tmp_path / "shoot"
    (shoot / "day10").mkdir(parents=True)
    (shoot / "day2").mkdir()
    for name in ("img10.jpg", "img2.jpg", "IMG_0001.JPG", "day10/a.jpg", "day2/b.jpg"):
        (shoot / name).write_bytes(b"")
    want = ["day2/b.jpg", "day10/a.jpg", "img2.jpg", "img10.jpg", "IMG_0001.JPG"]
    sources, _ = gather_sources([str(shoot)], None, True)
    assert [os.path.relpath(s, shoot) for s, _ in sources] == want
    sources, _ = gather_sources([str(shoot / "*" / "*.jpg"), str(shoot / "*.*")], None, False)
    assert [os.path.relpath(s, shoot) for s, _ in sources] == want


def test_a_rerun_of_sources_that_killed_their_worker_queues_no_task_behind_another(tmp_path, media, monkeypatch):
    """Each actor holds two tasks (the next one waits in its queue); in a re-run of sources whose worker died, a
    good photo's task queued behind the culprit's died with it, TASK_TRIES times, and failed again (a clean-clone
    CI run). A job that retries such sources holds one task per actor."""
    import ray.data

    import facekit.batch as batch_module
    from facekit.batch import Results, gather_sources, worker_died

    photos = [tmp_path / "one.jpg", tmp_path / "two.jpg"]
    for photo in photos:
        shutil.copy(media / "obama.jpg", photo)
    in_flight = []

    class Dataset:  # no task comes back: each of its sources is recorded as one whose worker died
        def map_batches(self, *args, **kwargs):
            in_flight.append(kwargs["compute"].max_tasks_in_flight_per_actor)
            return self

        def iter_batches(self, **kwargs):
            return iter(())

    monkeypatch.setattr(ray.data, "from_items", lambda *args, **kwargs: Dataset())
    monkeypatch.setattr(batch_module, "start_ray", lambda *args: 2)
    assert batch_module.main([*map(str, photos), "-o", str(tmp_path / "fresh"), "--photos-per-task", "2"]) == 1
    # The re-run, in a process of its own as a user's is (a job's lock on its folder lasts as long as its
    # process): here, a job folder whose sources' worker died, as the run above left its own.
    results = Results(tmp_path / "retried")
    results.status_dir.mkdir(parents=True)
    results.faces_dir.mkdir()
    sources = gather_sources(list(map(str, photos)), None, False)[0]
    results.write("part-1.parquet", None, [worker_died(source, kind) for source, kind in sources])
    assert batch_module.main([*map(str, photos), "-o", str(results.folder), "--photos-per-task", "2"]) == 1
    assert in_flight == [2, 1]


def test_a_disk_that_fills_up_mid_job_stops_it_naming_the_part(tmp_path, media, monkeypatch, capsys):
    """The results' disk filled up at a task's status part: status.csv then failed too, and the job's one line
    named status.csv, not where it stopped, nor that what was done is kept; the task's faces part, whose sources
    are not done, lay there taking room until the next run. The line names the part and says how to go on; only
    the finished task's parts remain. (Ray's workers are stood in for: the disk is what is tested.)"""
    import contextlib
    import errno

    import ray.data

    import facekit.batch as batch_module
    import facekit.records

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("obama.jpg", "two_people.jpg", "example_01.png"):
        shutil.copy(media / name, photos / name)
    out = tmp_path / "results"

    class Dataset:  # each task comes back done, as a worker returns it
        def __init__(self, items):
            self.items = items

        def map_batches(self, *args, **kwargs):
            return self

        def iter_batches(self, **kwargs):
            for item in self.items:
                rows = [{"source": s, "kind": k, "status": "ok", "message": "", "faces": 1, "frames": 1,
                         "seconds": 0.5, "cpu_seconds": 0.4, "worker": "w", "worker_rss_mb": 9.5,
                         "finished": batch_module._now()} for s, k in json.loads(item["task"])]
                yield {"part": [item["part"]], "faces": [b"f" * 1000], "status": [json.dumps(rows)]}

    real_atomic_write = facekit.records.atomic_write
    disk = {"files": None}  # how many more files fit: None, no limit yet

    class FullDisk:
        def __init__(self, fh, full):
            self.fh, self.full = fh, full

        def write(self, data):
            if self.full and len(data):
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.fh.write(data)

        def __getattr__(self, name):
            return getattr(self.fh, name)

    @contextlib.contextmanager
    def atomic_write(path, *args, **kwargs):
        full = disk["files"] is not None and disk["files"] <= 0
        if disk["files"] is not None:
            disk["files"] -= 1
        with real_atomic_write(path, *args, **kwargs) as fh:
            yield FullDisk(fh, full)

    def one_task_fits(address, workers):
        # Room for job.json, the first task's two parts and the next one's faces part: its status part, and
        # status.csv, do not fit.
        disk["files"] = 4
        return 1

    monkeypatch.setattr(facekit.records, "atomic_write", atomic_write)
    monkeypatch.setattr(batch_module, "start_ray", one_task_fits)
    monkeypatch.setattr(ray.data, "from_items", lambda items, **kwargs: Dataset(items))
    code = batch_module.main([str(photos), "-o", str(out), "--photos-per-task", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    errors = [ln for ln in err.splitlines() if ln.startswith("[ERROR]")]
    faces = sorted(p.name for p in (out / "faces").iterdir())
    status = sorted(p.name for p in (out / "status").iterdir())
    assert len(faces) == len(status) == 1 and faces == status  # the finished task's: no temp file, no orphan
    assert len(errors) == 1 and re.fullmatch(
        rf"\[ERROR\] cannot write {re.escape(str(out / 'status'))}/part-\d+-\d+-\w+\.parquet: No space left on device: "
        r"the job stopped there, 2 of 3 sources not done yet; what was finished is saved: free some space and run "
        r"the same command to go on", errors[0]), errors
    assert pq.read_table(out / "status")["source"].to_pylist() == [str(photos / "example_01.png")]


@pytest.mark.slow
def test_ray_that_cannot_write_its_session_is_one_line_saying_why(tmp_path, media):
    """Where the files Ray writes as it starts may not grow (a file size limit, ulimit -f; a full /tmp says the same
    with its free space), Ray waited and raised a bare Exception ("The current node timed out during startup"):
    the job ended in a traceback. It is one line naming the limit, and nothing is written."""
    shutil.copy(media / "obama.jpg", tmp_path / "obama.jpg")
    res = run_script("facekit.batch", tmp_path / "obama.jpg", "-o", tmp_path / "results", "--workers", "1",
                     max_file_bytes=4096, timeout=300)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-3000:]
    line = [ln for ln in res.stderr.splitlines() if ln.strip()][-1]
    assert line.startswith("[ERROR] cannot start Ray here (") and line.endswith(
        "; files may not grow past 4 kB here (ulimit -f): too little for Ray's logs"), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["obama.jpg"]


def test_the_object_store_fits_under_an_address_space_limit(monkeypatch):
    """Ray sizes its object store from the machine's memory (30%), and each worker maps it whole: under `ulimit -v`
    a few GB below that the workers' mmap failed and the job waited for them for good, without a word."""
    import resource

    from facekit import batch

    monkeypatch.setattr(resource, "getrlimit", lambda which: (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    assert batch._object_store_size() == {}
    monkeypatch.setattr(resource, "getrlimit", lambda which: (8 << 30, 8 << 30) if which == resource.RLIMIT_AS
                        else (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    assert batch._object_store_size() == {"object_store_memory": 1 << 30}


def test_too_little_address_space_for_ray_is_one_line_before_it_starts(tmp_path, media):
    """Under `ulimit -v 1500000` Ray's start ended in an abort (exit 134) or exit 1 without a word: the limit is
    named before Ray is imported, and nothing is written."""
    shutil.copy(media / "obama.jpg", tmp_path / "obama.jpg")
    res = run_script("facekit.batch", tmp_path / "obama.jpg", "-o", tmp_path / "results", "--workers", "1",
                     max_address_bytes=1500 << 20, timeout=120)
    assert res.returncode == 2, res.stderr[-3000:]
    line = [ln for ln in res.stderr.splitlines() if ln.strip()][-1]
    assert line == ("[ERROR] this process may use 1500.0 MB of memory (ulimit -v): a local Ray needs 2400.0 MB at "
                    "least; raise the limit, or run facekit-image / facekit-video, which need less"), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["obama.jpg"]


def test_a_ray_session_folder_this_user_cannot_write_names_ray_tmpdir(monkeypatch, tmp_path):
    """A read-only /tmp (ProtectSystem=strict, `docker run --read-only`): the job's line was "cannot start Ray here
    ([Errno 13] Permission denied: '/tmp/ray')", naming neither what the folder is for nor how to move it."""
    from facekit import batch

    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    note = batch._ray_room(PermissionError(13, "Permission denied", str(tmp_path / "ray")))
    assert note == (f"; {tmp_path}, where Ray keeps its session, cannot be written: set RAY_TMPDIR to a folder "
                    "this user can write")
    assert batch._ray_room(None) == ""  # room and no file size limit: nothing to add
    # A read-only folder reports little free space too (a small tmpfs): "make room there" was added, for a disk no
    # write can reach.
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: types.SimpleNamespace(free=4 << 20))
    assert batch._ray_room(OSError(errno.EROFS, "Read-only file system", str(tmp_path / "ray"))) == note
    assert "has 4.0 MB free: make room there" in batch._ray_room(None)


def test_a_web_address_in_a_list_is_kept_as_written_and_said_to_be_one(tmp_path, monkeypatch):
    """A --list of links ("https://host/a.jpg") ran each as the file "<cwd>/https:/host/a.jpg" (Path folds "//"):
    "no such file", under a name no line of the list matched. On the command line it was "no such file or
    folder". A link to nothing said "no such file" where the image script names its target."""
    from types import SimpleNamespace

    from facekit.batch import Worker, gather_sources, main

    monkeypatch.chdir(tmp_path)
    listed = tmp_path / "list.txt"
    listed.write_text("https://example.com/a.jpg\nhttps://example.com/a.jpg\ns3://bucket/clip.mp4?x=1\n")
    sources, _ = gather_sources([], listed, False)
    assert sources == [("https://example.com/a.jpg", "image"), ("s3://bucket/clip.mp4?x=1", "video")]
    worker = Worker.__new__(Worker)  # no models: the stand-in analyzer is never reached
    worker.analyzer, worker.name = SimpleNamespace(task_labels={}, analyze=lambda source: []), "w"
    _, status = worker.run_source("https://example.com/a.jpg", "image")
    assert status["status"] == "error" and status["message"] == (
        "https://example.com/a.jpg: a web address; facekit-batch reads files (download it first, to a folder every "
        "worker can read)")
    (tmp_path / "gone.jpg").symlink_to("/nowhere/x.jpg")
    _, status = worker.run_source(str(tmp_path / "gone.jpg"), "image")
    assert status["message"] == f"{tmp_path / 'gone.jpg'}: no such file: a link to /nowhere/x.jpg, which does not exist"
    assert main(["https://example.com/a.jpg", "-o", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


def test_a_folder_whose_photos_are_all_in_sub_folders_is_said_to_be_left_out(tmp_path, capsys):
    """`archive/2019 archive/2020` where 2020 holds only month folders ran 2019 alone without a word (the
    "add --recursive" hint came only when no input gave a source): a year missing from a finished job's table."""
    from facekit.batch import gather_sources

    (tmp_path / "2019").mkdir()
    (tmp_path / "2019" / "a.jpg").write_bytes(b"")
    (tmp_path / "2020" / "01").mkdir(parents=True)
    (tmp_path / "2020" / "01" / "b.jpg").write_bytes(b"")
    sources, _ = gather_sources([str(tmp_path / "2019"), str(tmp_path / "2020")], None, False)
    assert sources == [(str(tmp_path / "2019" / "a.jpg"), "image")]
    assert capsys.readouterr().err.strip() == (
        f"[WARN] {tmp_path / '2020'}: left out, its photos and videos are in its sub-folders: add --recursive")
    sources, _ = gather_sources([str(tmp_path / "2019"), str(tmp_path / "2020")], None, True)
    assert len(sources) == 2 and capsys.readouterr().err == ""


def test_a_cluster_that_asks_for_rays_token_is_named_so(monkeypatch):
    """Ray 2.60's `ray start --head` turns token authentication on where ~/.ray/auth_token exists; the job, without
    RAY_AUTH_MODE=token, said "cannot connect to Ray (Failed to connect to Ray cluster at HOST:6391)" of a cluster
    that answered, the AuthenticationError that says why left in the exception's chain."""
    import facekit.batch as batch_module
    from facekit.errors import FacekitError

    class AuthenticationError(Exception):  # ray.exceptions.AuthenticationError, as its name is matched
        pass

    def refused(ray, address, workers, store):
        try:
            raise AuthenticationError("RPC error: InvalidAuthToken: Authentication token is missing or incorrect.")
        except AuthenticationError as exc:
            raise ConnectionError(f"Failed to connect to Ray cluster at {address}") from exc

    monkeypatch.delenv("RAY_BACKEND_LOG_LEVEL", raising=False)  # start_ray sets it: put back after the test
    monkeypatch.setattr(batch_module, "_init", refused)
    with pytest.raises(FacekitError) as caught:
        batch_module.start_ray("10.0.0.1:6391", 2)
    assert str(caught.value) == ("--address 10.0.0.1:6391: cannot connect to Ray: the cluster asks for Ray's "
                                 "authentication token (run with RAY_AUTH_MODE=token, the cluster's token in "
                                 "~/.ray/auth_token or RAY_AUTH_TOKEN; see Ray's docs on token authentication)")

    def unreachable(ray, address, workers, store):
        raise ConnectionError(f"Failed to connect to Ray cluster at {address}")

    monkeypatch.setattr(batch_module, "_init", unreachable)
    with pytest.raises(FacekitError, match=r"cannot connect to Ray \(Failed to connect to Ray cluster at 10"):
        batch_module.start_ray("10.0.0.1:6391", 2)

    # README's `--address auto` with no cluster here: Ray's line told the user to give --address, which they had.
    def none_here(ray, address, workers, store):  # Ray 2.x's text, seen on this machine
        raise ConnectionError("Could not find any running Ray instance. Please specify the one to connect to by "
                              "setting `--address` flag or `RAY_ADDRESS` environment variable.")

    monkeypatch.setattr(batch_module, "_init", none_here)
    with pytest.raises(FacekitError) as caught:
        batch_module.start_ray("auto", None)
    assert str(caught.value) == ("--address auto: cannot connect to Ray: no Ray cluster runs on this machine "
                                 "(RAY_ADDRESS unset, none started by `ray start --head` here): start one, give its "
                                 "address, or leave --address out for a local job")


def test_an_output_named_from_the_home_folder_is_read_as_a_shell_reads_it(tmp_path, media, monkeypatch, capsys):
    """--output=~/results (no shell expands a "~" after "="; nor does a scheduler's job file or a subprocess list)
    made a folder named "~" in the current one, and pyarrow, which expands "~", then read the status parts from the
    home folder: a FileNotFoundError traceback once the work was done, and at every resume."""
    import facekit.batch as batch_module

    photo, results = _a_finished_job(tmp_path, media)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setattr(batch_module, "start_ray", lambda *a: pytest.fail("the job is done: Ray is not needed"))
    assert batch_module.main([str(photo), "--output=~/results"]) == 0
    assert capsys.readouterr().out == f"[INFO] nothing to do: all 1 source already done in {results.folder}\n"
    assert (results.folder / "status.csv").is_file() and not (tmp_path / "work" / "~").exists()


def test_an_output_named_not_in_utf8_is_refused_before_work(tmp_path, media, monkeypatch, capsys):
    """pyarrow takes a path as UTF-8: a job with --output "res\\xe9" wrote its parts (through file handles), then
    reading them back for status.csv ended in a UnicodeEncodeError traceback, after the work and at every resume."""
    import facekit.batch as batch_module

    out = os.fsdecode(os.fsencode(str(tmp_path)) + b"/res\xe9")
    monkeypatch.setattr(batch_module, "start_ray", lambda *a: pytest.fail("refused before Ray starts"))
    assert batch_module.main([str(media / "obama.jpg"), "-o", out]) == 2
    assert capsys.readouterr().err.strip() == (f"[ERROR] --output {tmp_path}/res\\xe9: a folder name not in UTF-8, "
                                               "which pyarrow (and pandas.read_parquet) cannot open: give another "
                                               "--output")
    assert not os.path.exists(out)


def test_an_option_given_as_its_default_resumes_the_job(tmp_path):
    """`-c 0.5` (scrfd's own threshold) or `--tasks mask,emotion,gender` (every head there is) on a job begun without
    them was refused as "confidence: none in job.json, 0.5 in this run": the same rows either way. Other values
    are still refused, and a job whose job.json records no heads still compares tasks as given."""
    from dataclasses import asdict

    from facekit import __version__
    from facekit.batch import FACEKIT_KEY, JobOptions, Results
    from facekit.errors import FacekitError

    heads = {"mask": "a" * 16, "emotion": "b" * 16, "gender": "c" * 16}
    out = tmp_path / "results"
    out.mkdir()
    (out / "job.json").write_text(json.dumps({**asdict(JobOptions(detector="scrfd", heads=heads)),
                                              FACEKIT_KEY: __version__}))
    results = Results(out)
    assert results.check_options(JobOptions(detector="scrfd", confidence=0.5, heads=heads)) is None
    assert results.check_options(JobOptions(detector="scrfd", tasks=["mask", "emotion", "gender"], heads=heads)) is None
    with pytest.raises(FacekitError, match=r"other options \(confidence\): confidence: none in job.json, 0.6 in"):
        results.check_options(JobOptions(detector="scrfd", confidence=0.6, heads=heads))
    with pytest.raises(FacekitError, match=r"other options \(detector\): "):  # yunet's own is 0.75: one line says it
        results.check_options(JobOptions(detector="yunet", heads=heads))
    with pytest.raises(FacekitError, match=r"other options \(tasks\): tasks: none in job.json, mask in this run"):
        results.check_options(JobOptions(detector="scrfd", tasks=["mask"], heads={"mask": heads["mask"]}))
    older = {k: v for k, v in asdict(JobOptions(detector="scrfd")).items() if k != "heads"}
    (out / "job.json").write_text(json.dumps(older))  # before job.json held heads
    with pytest.raises(FacekitError, match=r"other options \(tasks\)"):
        results.check_options(JobOptions(detector="scrfd", tasks=["mask"], heads={"mask": heads["mask"]}), False)


def test_a_list_read_from_standard_input(tmp_path, monkeypatch):
    """`find /archive -name '*.jpg' | facekit-batch --list - -o out` was "--list -: cannot read ([Errno 2] No such
    file or directory: '-')"; "-" is standard input now (a file named "-" is still that file), and a terminal there
    is one line rather than a wait for lines typed."""
    import io

    from facekit.batch import gather_sources
    from facekit.errors import FacekitError

    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "b.mp4").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xef\xbb\xbfa.jpg\r\n\nb.mp4\n")))
    sources, _ = gather_sources([], Path("-"), False)
    assert sources == [(str(tmp_path / "a.jpg"), "image"), (str(tmp_path / "b.mp4"), "video")]

    class Terminal(io.TextIOWrapper):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdin", Terminal(io.BytesIO(b"")))
    with pytest.raises(FacekitError, match=r"^--list -: standard input is a terminal; pipe the list in"):
        gather_sources([], Path("-"), False)
    (tmp_path / "-").write_text("b.mp4\n")  # a list file named "-"
    assert gather_sources([], Path("-"), False)[0] == [(str(tmp_path / "b.mp4"), "video")]


def test_a_missing_list_file_is_said_as_a_missing_input_is(tmp_path, monkeypatch):
    """--list nosuch.txt was "cannot read ([Errno 2] No such file or directory: 'nosuch.txt')", Python's own words,
    where a missing input is "no such file or folder" and the folder it was looked for in (or the name meant)."""
    from facekit.batch import gather_sources
    from facekit.errors import FacekitError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(FacekitError) as said:
        gather_sources([], Path("nosuch.txt"), False)
    assert str(said.value) == f"--list nosuch.txt: no such file (looked for in the current folder, {tmp_path})"
    (tmp_path / "list.txt").write_text("a.jpg\n")
    with pytest.raises(FacekitError, match=r"^--list list: no such file \(did you mean .*list\.txt\?\)$"):
        gather_sources([], Path("list"), False)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_a_named_pipe_in_the_list_fails_rather_than_hangs_the_job(tmp_path):
    """A named pipe in a --list was opened as a photo or video: the open waited forever for a writer, and the
    whole job with it, without a word. (The image script reads a pipe it is named: test_image_cli.)"""
    import signal
    from types import SimpleNamespace

    from facekit.batch import Worker
    from facekit.preprocess import load_image

    def hung(*_):
        raise TimeoutError("still waiting on the named pipe")

    os.mkfifo(tmp_path / "pipe.jpg")
    os.mkfifo(tmp_path / "pipe.mp4")
    worker = Worker.__new__(Worker)  # no models: a photo is read as the analyzer reads it
    analyzer = SimpleNamespace(task_labels={}, analyze=lambda source, rotate=None: load_image(source) and [])
    worker.analyzer, worker.name, worker.options = analyzer, "w", SimpleNamespace(rotate=None)
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    try:
        _, photo = worker.run_source(str(tmp_path / "pipe.jpg"), "image")
        _, video = worker.run_source(str(tmp_path / "pipe.mp4"), "video")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert photo["message"] == (f"{tmp_path / 'pipe.jpg'}: not a regular file (a named pipe, socket or device), "
                                "not a photo")
    assert video["message"] == (f"{tmp_path / 'pipe.mp4'}: not a regular file (a named pipe, socket or device), "
                                "not a video")


def test_a_job_on_a_terminal_ends_without_a_colour_reset():
    """ray.init turns colorama on for Ray's CLI logger, whose exit hook wrote ESC[0m after the job's last line."""
    import pty

    script = f"{LEAVE_ORPHANS}import ray\nfrom facekit.batch import start_ray\nstart_ray(None, 1)\nray.shutdown()\n" \
             "print('done')\n"
    main_fd, term = pty.openpty()
    try:
        done = subprocess.run([sys.executable, "-c", script], stdout=term, stderr=subprocess.DEVNULL, timeout=300,
                              cwd=ROOT)
        os.close(term)
        seen = b""
        while True:
            try:
                chunk = os.read(main_fd, 4096)
            except OSError:  # EIO: the terminal's other end is closed and all is read
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(main_fd)
    assert done.returncode == 0
    assert seen.strip() == b"done", seen


def test_a_loop_of_links_in_a_folder_or_list_is_a_failed_source_not_a_traceback(tmp_path):
    """A link that leads back to itself (self.jpg -> self.jpg, a.jpg -> b.jpg -> a.jpg) in a folder or a --list
    ended facekit-batch in "RuntimeError: Symlink loop" before any work (Python 3.11's Path.resolve)."""
    from types import SimpleNamespace

    from facekit.batch import Worker, gather_sources

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "ok.jpg").write_bytes(b"")
    os.symlink("self.jpg", folder / "self.jpg")
    os.symlink("b.jpg", folder / "a.jpg")
    os.symlink("a.jpg", folder / "b.jpg")
    listed = tmp_path / "list.txt"
    listed.write_text(f"{folder / 'self.jpg'}\n", encoding="utf-8")
    sources, _ = gather_sources([str(folder)], listed, False)
    assert sources == [(str(folder / name), "image") for name in ("a.jpg", "b.jpg", "ok.jpg", "self.jpg")]
    worker = Worker.__new__(Worker)  # no models: a loop fails before anything is read
    worker.analyzer, worker.name = SimpleNamespace(task_labels={}), "w"
    _, status = worker.run_source(str(folder / "self.jpg"), "image")
    assert status["status"] == "error" and status["message"] == (
        f"{folder / 'self.jpg'}: a link to self.jpg, which leads back to itself (a loop of links), not a file")


def _processes_of(driver: int) -> dict[int, str]:
    """pid -> command line of every process that carries facekit-batch `driver`'s pid (its local Ray's, its
    watchdog) or writes in its Ray's session folder (Ray's agents, whose retitling may blank their environment)."""
    from facekit.batch import DRIVER_PID, _session_of

    found = {}
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                if f"{DRIVER_PID}={driver}".encode() in fh.read().split(b"\0") \
                        or (_session_of(int(name)) or (None,))[0] == driver:
                    with open(f"/proc/{name}/cmdline", "rb") as cmd:
                        found[int(name)] = cmd.read().replace(b"\0", b" ").decode(errors="replace")[:80]
        except OSError:
            continue
    return found


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_a_local_ray_listens_on_this_machine_alone_and_goes_with_a_driver_killed_outright(tmp_path):
    """A local job's Ray (its GCS and raylet) listened on every network interface, unauthenticated: anyone who could
    reach the machine could join it and run code as the job's user while it ran. Its servers bind to 127.0.0.1.
    And a driver killed outright (kill -9) left its Ray's DashboardAgent and RuntimeEnvAgent running, 85 MB each,
    until the next facekit-batch stopped them: its watchdog stops them as it goes (one Ray start for both checks)."""
    script = """if True:
        import json, sys, time
        import ray
        from facekit.batch import start_ray
        start_ray(None, 1)
        node = ray._private.worker.global_worker.node
        ports = {int(ray.get_runtime_context().gcs_address.rsplit(":", 1)[1]), node.node_manager_port}
        found = {}
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in open(table).read().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, port = local.split(":")
                if state == "0A" and int(port, 16) in ports:  # listening
                    found.setdefault(int(port, 16), []).append(address)
        print(json.dumps(found), flush=True)
        time.sleep(300)  # killed here
    """
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()[-2000:] if proc.poll() is not None else "no line"
        found = json.loads(line)
        assert len(found) == 2, found  # the GCS and the raylet
        loopback = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}
        assert all(address in loopback for addresses in found.values() for address in addresses), found
        ray_up = _processes_of(proc.pid)
        assert any("DashboardAgent" in cmd for cmd in ray_up.values()), ray_up
        proc.kill()
        proc.wait()
        # Without the watchdog both agents were still there minutes later; with it none was 2 s after the kill.
        for _ in range(60):
            left = _processes_of(proc.pid)
            if not left:
                break
            time.sleep(0.5)
        assert not left, left
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_a_list_that_is_no_text_is_one_error_line(tmp_path, media):
    """`--list photo.jpg` (the photo given where its list goes) ended in "ValueError: embedded null byte", a
    traceback: a list holding a NUL byte is no list of names, said in one line."""
    from facekit.batch import gather_sources
    from facekit.errors import FacekitError

    listed = tmp_path / "photo.jpg"
    listed.write_bytes((media / "obama.jpg").read_bytes())
    with pytest.raises(FacekitError) as err:
        gather_sources([], listed, False)
    assert str(err.value) == (f"--list {listed}: not a list of file names (it holds a NUL byte: a photo or another "
                              "binary file?); give a text file with one name a line")


def test_an_output_folder_that_is_a_link_looping_back_on_itself_is_refused_before_any_work(tmp_path):
    """-o naming a link that loops "did not exist" to the check before the work: the job ran on to "OSError: [Errno
    40] Too many levels of symbolic links", a traceback."""
    from facekit.batch import Results
    from facekit.errors import FacekitError

    os.symlink("results", tmp_path / "results")
    with pytest.raises(FacekitError) as err:
        Results(tmp_path / "results").check_writable()
    assert str(err.value) == (f"--output {tmp_path / 'results'}: a link that leads back to itself (a loop of links): "
                              "remove it or name another")


def test_a_status_csv_of_the_users_own_in_the_output_folder_is_not_written_over(tmp_path):
    """`facekit-batch photos/ -o photos/` where photos/ held the user's own status.csv replaced it with the job's,
    without a word. A job's folder (job.json, status/) is resumed as before."""
    from facekit.batch import Results
    from facekit.errors import FacekitError

    (tmp_path / "status.csv").write_text("my,own\n")
    with pytest.raises(FacekitError) as err:
        Results(tmp_path).check_writable()
    assert str(err.value) == (f"--output {tmp_path}: its status.csv is not a facekit-batch job's (no job.json or "
                              "status/ beside it), and the job would write over it: give another --output")
    assert (tmp_path / "status.csv").read_text() == "my,own\n"
    (tmp_path / "status").mkdir()  # a job's, killed before its job.json (or an older facekit's)
    Results(tmp_path).check_writable()


def test_a_pattern_with_a_line_break_stays_on_its_console_line(tmp_path):
    """facekit-batch printed a name holding a line break raw: its line split in two, the second one of its own."""
    res = batch(tmp_path / "a\n[INFO] 0 sources*.jpg", "-o", tmp_path / "out", timeout=60)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    lines = res.stderr.splitlines()
    assert lines[0] == f"[WARN] {tmp_path}/a\\n[INFO] 0 sources*.jpg: the pattern matches nothing", lines
    assert all(ln.startswith("[") for ln in lines), lines


def test_a_named_pipe_in_a_folder_is_counted_among_the_files_skipped(tmp_path):
    """A named pipe among the photos (pipe.jpg) was left out of the sources and of "skipped N files" alike."""
    from facekit.batch import gather_sources

    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    os.mkfifo(tmp_path / "pipe.jpg")
    assert gather_sources([str(tmp_path)], None, False) == ([(str(tmp_path / "a.jpg"), "image")], 2)


def test_a_killed_jobs_ray_processes_are_stopped_at_the_next_start():
    """A facekit-batch killed outright (kill -9) left its local Ray's DashboardAgent and RuntimeEnvAgent running for
    good, about 90 MB each, two more at every such kill. The next start stops what a gone facekit-batch left (each
    of its Ray processes carries its pid), and only that: a job still running keeps its own, and a process that is
    not Ray's (the user's own, started later from a notebook kernel that ran the job) keeps running, "ray" in its
    command line or not (any process naming "ray" was taken for Ray's: a user's array_stats.py, /home/ray)."""
    from facekit.batch import DRIVER_PID, stop_orphans

    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait()
    # As Ray starts its agents: python .../site-packages/ray/dashboard/agent.py (its workers: "ray::IDLE").
    ray_like = [sys.executable, "-c", "import time; time.sleep(60)", "/venv/lib/site-packages/ray/dashboard/agent.py"]
    running = subprocess.Popen(ray_like, env={**os.environ, DRIVER_PID: str(os.getpid())})
    users = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)  # array_stats", "/home/ray/x-ray"],
                             env={**os.environ, DRIVER_PID: str(gone.pid)})
    left = []
    try:
        # Every facekit-batch that starts stops such processes, and one may start beside this test (CI's other test
        # worker runs jobs on this machine): it then stopped the stand-in before the call below looked, and the test
        # failed. It is killed all the same then; a new one is left until this call is the one that stops it.
        for _ in range(10):
            left.append(subprocess.Popen(ray_like, env={**os.environ, DRIVER_PID: str(gone.pid)}))
            stopped = stop_orphans()
            if left[-1].pid in stopped:
                break
            assert left[-1].wait(timeout=60) == -9, stopped  # not stopped by this call: by a job starting beside it
        assert left[-1].pid in stopped and running.pid not in stopped and users.pid not in stopped, stopped
        assert left[-1].wait(timeout=5) == -9
        assert running.poll() is None and users.poll() is None
    finally:
        for process in (running, users, *left):
            process.kill()
            process.wait()


def test_a_killed_jobs_ray_agents_whose_environment_is_blank_are_found_by_their_session_folder(tmp_path):
    """Ray's agents retitle themselves, which may blank the environment /proc shows: a killed job's DashboardAgent
    and RuntimeEnvAgent had no FACEKIT_BATCH_DRIVER there, and the next job left them running. They are found by
    the session folder they write in, named after the dead driver and marked by it; a `ray start` cluster's folder,
    named after the command that started it (gone too), has no mark, and its processes keep running."""
    from facekit.batch import SESSION_MARK, stop_orphans

    gone, started_cluster = (subprocess.Popen([sys.executable, "-c", ""]) for _ in range(2))
    gone.wait()
    started_cluster.wait()  # `ray start` exits once its cluster is up
    env = {k: v for k, v in os.environ.items() if k != "FACEKIT_BATCH_DRIVER"}
    ray_like = [sys.executable, "-c", "import time; time.sleep(60)", "/venv/lib/site-packages/ray/dashboard/agent.py"]

    def agent_of(session: Path) -> subprocess.Popen:
        (session / "logs").mkdir(parents=True, exist_ok=True)
        with open(session / "logs" / "dashboard_agent.out", "a") as log:
            return subprocess.Popen(ray_like, env=env, stdout=log)

    ours = tmp_path / f"session_2026-12-02_11-42-28_639505_{gone.pid}"
    cluster = tmp_path / f"session_2026-12-02_11-40-00_123456_{started_cluster.pid}"
    (ours / "logs").mkdir(parents=True)
    (ours / SESSION_MARK).write_text(f"{gone.pid}\n")
    theirs = agent_of(cluster)
    left = []
    try:
        for _ in range(10):  # as in the test above: a job starting beside this one may stop it first
            left.append(agent_of(ours))
            time.sleep(0.3)  # its log open
            stopped = stop_orphans()
            if left[-1].pid in stopped:
                break
            assert left[-1].wait(timeout=60) == -9, stopped
        assert left[-1].pid in stopped and theirs.pid not in stopped, stopped
        assert theirs.poll() is None
    finally:
        for process in (theirs, *left):
            process.kill()
            process.wait()


def _archive(tmp_path, link: str) -> None:
    """archive/2019 and archive/2020, 20 empty .jpg names each, and archive/<link> a link to blobs/9f86.jpg."""
    for year in ("2019", "2020"):
        (tmp_path / "archive" / year).mkdir(parents=True)
        for i in range(20):
            (tmp_path / "archive" / year / f"img{i}.jpg").write_bytes(b"")
    (tmp_path / "blobs").mkdir()
    (tmp_path / "blobs" / "9f86.jpg").write_bytes(b"")
    (tmp_path / "archive" / link).symlink_to(tmp_path / "blobs" / "9f86.jpg")


def test_listing_a_big_archive_resolves_each_folder_once(tmp_path, monkeypatch):
    """Each file was resolved three times over (os.path.realpath, lstat-ing every part of its path): 30,000 photos
    in nested folders took 9-12 s to list before Ray started, a million photos ~7 minutes. A file that is no link
    is its real folder's: one realpath a folder now, the same sources and names; a link is still its own."""
    from facekit import batch as batch_module

    _archive(tmp_path, "2020/linked.jpg")
    calls = []
    realpath = os.path.realpath
    monkeypatch.setattr(batch_module.os.path, "realpath", lambda p: calls.append(p) or realpath(p))
    sources, _ = batch_module.gather_sources([str(tmp_path / "archive")], None, True)
    assert len(sources) == 41 and sources[0] == (str(tmp_path / "archive" / "2019" / "img0.jpg"), "image")
    assert (str(tmp_path / "archive" / "2020" / "linked.jpg"), "image") in sources
    assert len(calls) < 10, len(calls)


def test_a_long_list_of_photos_resolves_each_folder_once(tmp_path, monkeypatch):
    """Each name in a --list was resolved with realpath (an lstat for every part of its path) and taken through two
    Path objects and two more stat calls: a list of a million photos took 100 s on this busy machine before a resume
    with nothing left to do said so. A file that is no link is its folder's now; the same sources, names and kinds,
    links, names of no file, folders and names with "..", spaces or a "/" at their end included."""
    import importlib

    from facekit import batch as batch_module

    importlib.import_module("facekit.preprocess")  # before realpath is counted: OpenCV's import calls it

    _archive(tmp_path, "linked.jpg")
    (tmp_path / "archive" / "notes.txt").write_text("x")
    monkeypatch.chdir(tmp_path)
    names = [f"archive/{year}/img{i}.jpg" for year in ("2019", "2020") for i in range(20)]
    extra = ["archive/linked.jpg", "blobs/9f86.jpg", "archive/gone.mp4", "archive/notes.txt", "archive/2019/../x.jpg",
             " archive/2019/img3.jpg ", "archive/2020/img4.jpg/", str(tmp_path / "archive" / "2019" / "img0.jpg")]
    (tmp_path / "list.txt").write_text("\n".join(names + extra) + "\n")
    calls = []
    realpath = os.path.realpath
    monkeypatch.setattr(batch_module.os.path, "realpath", lambda p: calls.append(p) or realpath(p))
    sources, _ = batch_module.gather_sources([], Path("list.txt"), False)
    assert len(calls) < 10, len(calls)
    archive = tmp_path / "archive"
    assert sources == [(str(tmp_path / n), "image") for n in names] + [
        (str(archive / "linked.jpg"), "image"), (str(archive / "gone.mp4"), "video"),
        (str(archive / "notes.txt"), "other"), (str(archive / "x.jpg"), "image")]


def test_a_resume_reads_the_status_parts_once_before_its_first_photo(tmp_path, media, monkeypatch):
    """A resume read every status part twice before the first photo ran, once for what is done and again for what
    killed a worker: on a million photos' 3,900 parts, 41 s on 2 cores where once takes 18."""
    import facekit.batch as batch_module

    photo, results = _a_finished_job(tmp_path, media)
    shutil.copy(media / "obama.jpg", photo.parent / "obama.jpg")
    reads, ran = [], []
    latest = batch_module.Results.latest
    monkeypatch.setattr(batch_module.Results, "latest", lambda self, *a, **k: reads.append(a) or latest(self, *a, **k))
    monkeypatch.setattr(batch_module, "start_ray", lambda *a: 1)

    def run_job(tasks, *args, **kwargs):
        ran.append((tasks, len(reads)))
        return {"sources": 0, "frames": 0, "faces": 0, "failed": 0}

    monkeypatch.setattr(batch_module, "run_job", run_job)
    batch_module.main([str(photo.parent), "-o", str(results.folder)])
    assert ran == [([[(str(photo.parent / "obama.jpg"), "image")]], 1)], ran


def test_a_resume_with_nothing_to_do_looks_up_the_folders_files_without_sorting_them(tmp_path, monkeypatch, capsys):
    """A resume of a million photos with nothing left took 14-18 s to say so (150 s on this busy machine), most of it
    listing the folders: a Path, a sort key and three stat calls a file. The look-up takes the files as the folders
    list them now (19 s here), sorted only when there is work, which still runs in a file browser's order."""
    import facekit.batch as batch_module
    from facekit import preprocess
    from facekit.batch import Results

    photos = tmp_path / "photos"
    (photos / "later").mkdir(parents=True)
    for i in range(1, 41):
        (photos / f"img{i}.jpg").write_bytes(b"")
    (photos / "notes.txt").write_text("not a photo")
    (photos / ".hidden.jpg").write_bytes(b"")
    results = Results(tmp_path / "results")
    results.status_dir.mkdir(parents=True)
    results.faces_dir.mkdir()
    results.write("part-1.parquet", b"", [{
        "source": str(photos / f"img{i}.jpg"), "kind": "image", "status": "ok" if i != 7 else "error", "message": "",
        "faces": 1, "frames": 1, "seconds": 0.5, "cpu_seconds": 0.4, "worker": "w", "worker_rss_mb": 9.5,
        "finished": f"2026-11-29T06:00:{i:02d}"} for i in range(1, 41)])
    results.write("part-2.parquet", b"", [{
        "source": str(photos / "img7.jpg"), "kind": "image", "status": "ok", "message": "", "faces": 1, "frames": 1,
        "seconds": 0.5, "cpu_seconds": 0.4, "worker": "w", "worker_rss_mb": 9.5, "finished": "2026-11-29T06:01:00"}])
    keys, ran = [], []
    natural = preprocess._natural
    monkeypatch.setattr(preprocess, "_natural", lambda text: keys.append(text) or natural(text))
    monkeypatch.setattr(batch_module, "start_ray", lambda *a: 1)
    monkeypatch.setattr(batch_module.Results, "lock", lambda self: None)  # held by this process until it ends
    monkeypatch.setattr(batch_module, "run_job", lambda tasks, *a, **k: ran.append((tasks, a[3])) or {
        "sources": 0, "frames": 0, "faces": 0, "failed": 0})
    argv = [str(photos), "--recursive", "-o", str(results.folder)]
    assert batch_module.main(argv) == 0
    assert capsys.readouterr().out.splitlines() == [
        "[INFO] skipped 1 file in the folders that are neither images nor videos",
        f"[INFO] nothing to do: all 40 sources already done in {results.folder}"]
    assert not [k for k in keys if k.startswith("img")], keys  # no file's sort key
    assert not ran
    for name in ("img100.jpg", "img0.jpg", "later/img3.jpg"):
        (photos / name).write_bytes(b"")
    batch_module.main(argv)
    (tasks, order), = ran
    new = [str(photos / n) for n in ("img0.jpg", "img100.jpg", "later/img3.jpg")]
    assert [s for task in tasks for s, _ in task] == new
    assert [order[(s, "image")] for s in new] == [0, 41, 42]  # the rank of each among all 43, as sorted


def test_a_job_with_thousands_of_failures_names_the_first_and_points_to_status_csv(tmp_path, monkeypatch, capsys):
    """Each failed source was a [WARN] line as it failed: an archive of a million photos, 1% unreadable, printed
    10,000 of them and scrolled its progress bar away. The first FAILURES_SHOWN are named, then one line says where
    the others are; the count at the end is all of them."""
    import ray.data

    from facekit.batch import FAILURES_SHOWN, JobOptions, Results, run_job

    class Dataset:  # no task comes back: each of its sources is recorded as one whose worker died
        def map_batches(self, *args, **kwargs):
            return self

        def iter_batches(self, **kwargs):
            return iter(())

    monkeypatch.setattr(ray.data, "from_items", lambda *args, **kwargs: Dataset())
    results = Results(tmp_path / "results")
    results.status_dir.mkdir(parents=True)
    results.faces_dir.mkdir()
    tasks = [[(f"/archive/{i}.jpg", "image")] for i in range(FAILURES_SHOWN + 10)]
    totals = run_job(tasks, JobOptions(detector="scrfd"), results, 2)
    assert totals["failed"] == FAILURES_SHOWN + 10
    warned = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[WARN]")]
    assert len(warned) == FAILURES_SHOWN + 1 and warned[0].startswith("[WARN] /archive/0.jpg: not done"), warned
    assert warned[-1] == (f"[WARN] more than {FAILURES_SHOWN} sources failed: the others are not named here one by "
                          f"one; {results.folder / 'status.csv'} gives each its reason")
    assert len(pq.read_table(results.status_dir)) == FAILURES_SHOWN + 10


def test_a_tasks_parts_are_on_disk_before_their_rename_marks_its_sources_done(tmp_path, monkeypatch):
    """A task's faces and status parts were renamed into place unsynced, and the status part's rename is what marks
    its sources done: after a power cut on a file system that orders data after renames, a resume found the parts
    empty and the sources done. Both are now synced before their renames (status last)."""
    from facekit.batch import Results

    results = Results(tmp_path / "job")
    results.status_dir.mkdir(parents=True)
    results.faces_dir.mkdir()
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.fstat(fd).st_size), real_fsync(fd)))
    results.write("part-1.parquet", b"faces bytes", [{"source": "a.jpg", "kind": "image", "status": "ok",
                                                       "finished": "2026-12-01T19:00:00"}])
    assert len(synced) == 2 and synced[0] == len(b"faces bytes") and synced[1] > 0
    assert (results.status_dir / "part-1.parquet").stat().st_size == synced[1]


def test_an_interrupted_jobs_line_counts_the_failed_sources_a_resume_tries_again(tmp_path, media, monkeypatch,
                                                                                capsys):
    """An interrupted job said "N of M sources not done yet", N counting only sources with no status row, and the
    resume then did N plus every source that had failed (1086 of 2001, then 1,087 to do). The line now also counts
    those: failed in this run, or failed before it and not tried again. (Ray's workers are stood in for.)"""
    import ray.data

    import facekit.batch as batch_module

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        shutil.copy(media / "obama.jpg", photos / name)
    out = tmp_path / "results"
    stop = {"after": None}

    class Dataset:  # each task comes back done, b.jpg failed, until the stop
        def __init__(self, items):
            self.items = items

        def map_batches(self, *args, **kwargs):
            return self

        def iter_batches(self, **kwargs):
            for i, item in enumerate(self.items):
                if i == stop["after"]:
                    raise KeyboardInterrupt
                rows = [{"source": s, "kind": k, "status": "error" if s.endswith("b.jpg") else "ok",
                         "message": "bad" if s.endswith("b.jpg") else "", "faces": 1, "frames": 1, "seconds": 0.5,
                         "cpu_seconds": 0.4, "worker": "w", "worker_rss_mb": 9.5, "finished": batch_module._now()}
                        for s, k in json.loads(item["task"])]
                yield {"part": [item["part"]], "faces": [b""], "status": [json.dumps(rows)]}

    monkeypatch.setattr(batch_module, "start_ray", lambda address, workers: 1)
    monkeypatch.setattr(ray.data, "from_items", lambda items, **kwargs: Dataset(items))
    monkeypatch.setattr(batch_module.Results, "lock", lambda self: None)  # held till the process ends: four runs here
    job = [str(photos), "-o", str(out), "--photos-per-task", "1"]
    stop["after"] = 2  # a.jpg done, b.jpg failed in this run, c.jpg and d.jpg not done
    assert batch_module.main(job) == 130
    assert "[INFO] interrupted: 2 of 4 sources not done yet and 1 that failed (tried again then); what was " \
           "finished is saved" in capsys.readouterr().err
    stop["after"] = 0  # the resume (b.jpg, c.jpg, d.jpg) stopped before any: b.jpg failed before it
    assert batch_module.main(job) == 130
    assert "[INFO] interrupted: 2 of 4 sources not done yet and 1 that failed (tried again then);" \
           in capsys.readouterr().err
    stop["after"] = None
    assert batch_module.main(job) == 1  # to its end, b.jpg failing again (exit 1: a source failed)
    stop["after"] = 0
    assert batch_module.main(job) == 130
    assert "[INFO] interrupted: 0 of 4 sources not done yet and 1 that failed (tried again then);" \
           in capsys.readouterr().err


def test_ctrl_c_while_python_m_facekit_batch_still_imports_is_one_line_and_exit_130(tmp_path):
    """`python -m facekit.batch` runs the module's imports (numpy, OpenCV: ~0.5 s) before its guard could: a
    Ctrl-C there was a KeyboardInterrupt traceback (exit 1); now it is the line of a Ctrl-C later in the job,
    exit 130, and no results folder is made. The Ctrl-C lands while it imports numpy (held there)."""
    from .conftest import MEDIA, interrupt_during_import

    results = tmp_path / "results"
    run = interrupt_during_import("numpy", [sys.executable, "-m", "facekit.batch", MEDIA / "obama.jpg",
                                            "-o", results], tmp_path)
    assert run.returncode == 130, run.stderr
    assert run.stderr == "\n[INFO] interrupted\n"
    assert not results.exists()
