"""A part of a long video (detect_mask_video.py --start / --end, analyze_video(start_s=, end_s=)): it seeks
there, and every row keeps the whole file's frame numbers and times."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from facekit.cli.video import main
from facekit.container import sound
from facekit.errors import ArgumentError, VideoError
from facekit.heads import CARD, TFLITE, models_dir
from facekit.video import FrameSource, NothingInRange, parse_time

try:
    from .conftest import MEDIA
except ImportError:  # tests/ run as a plain folder (no __init__.py)
    from conftest import MEDIA

CLIP = MEDIA / "short_hamilton_clip.mp4"  # 275 frames at 29.97 fps, from 0 to 9.142 s


@pytest.fixture(scope="module")
def clip() -> Path:
    if not CLIP.is_file():
        pytest.skip("the video clip needs the asset mirror (FACEKIT_ASSETS)")
    return CLIP


@pytest.fixture(scope="module")
def mask_model() -> Path:
    folder = models_dir() / "mask"
    assert (folder / CARD).is_file() and (folder / TFLITE).is_file(), f"no mask model in {folder}"
    return folder


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("[ERROR]")]
    assert len(errors) == 1, stderr
    return errors[0]


def every_frame(path: Path) -> list[tuple[float, np.ndarray]]:
    """Each frame's time and picture, read from the start as a whole run reads them."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return frames
        frames.append((cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0, frame))


def iou(a: dict, b: dict) -> float:
    ax1, ay1, ax2, ay2 = (int(a[k]) for k in ("x1", "y1", "x2", "y2"))
    bx1, by1, bx2, by2 = (int(b[k]) for k in ("x1", "y1", "x2", "y2"))
    inter = max(0, min(ax2, bx2) - max(ax1, bx1)) * max(0, min(ay2, by2) - max(ay1, by1))
    return inter / ((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter)


@pytest.mark.parametrize("text, seconds", [("95.5", 95.5), ("500ms", 0.5), ("1:35.5", 95.5), ("0:10:00", 600.0),
                                           ("10:00.033", 600.033), ("1:02:03.5", 3723.5)])
def test_times_are_read_as_ffmpeg_reads_them(text, seconds):
    assert parse_time(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["-5", "1:75", "1:60:00", "abc", "", "nan", "10:00s", "5:"])
def test_a_time_that_is_no_time_is_refused(text):
    with pytest.raises(ValueError):
        parse_time(text)


def test_a_range_gives_the_whole_runs_rows_of_its_frames_at_their_own_times(tmp_path, clip, mask_model, capfd):
    """--start 2.5 --end 3.5: the rows are the frames from 2.5 s up to 3.5 s, numbered and timed as a whole run
    numbers and times them, with its boxes and labels; --output holds those frames only, the progress bar counts
    them, and the sound line takes the sound from the range's first frame."""
    common = ["--model", str(mask_model), "--tasks", "mask", "--no-display", "--smooth", "0", "--head-every", "1"]
    whole, part, out = tmp_path / "whole.csv", tmp_path / "part.csv", tmp_path / "part.mp4"
    assert main(["--source", str(clip), *common, "--max-frames", "110", "--csv", str(whole)]) == 0
    capfd.readouterr()
    assert main(["--source", str(clip), *common, "--start", "2.5", "--end", "0:03.5", "--csv", str(part),
                 "--output", str(out)]) == 0
    err = capfd.readouterr().err
    rows, before = read_csv(part), read_csv(whole)
    in_range = [r for r in before if 2.5 <= float(r["time_s"]) < 3.5]
    assert rows and {r["frame"] for r in rows} == {r["frame"] for r in in_range} == {str(n) for n in range(75, 105)}
    assert all(2.5 <= float(r["time_s"]) < 3.5 for r in rows)
    times = {r["frame"]: r["time_s"] for r in in_range}
    assert all(r["time_s"] == times[r["frame"]] for r in rows)
    same = 0
    for row in rows:
        match = max((r for r in in_range if r["frame"] == row["frame"]), key=lambda r: iou(r, row), default=None)
        if match is not None and iou(match, row) > 0.9:
            same += 1
            assert row["mask_label"] == match["mask_label"], (row, match)
    assert same >= 0.9 * len(rows)
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 30
    cue = re.search(rf"ffmpeg -i {re.escape(str(out))} -ss ([0-9.]+) -i {re.escape(str(clip))} ", err)
    assert cue and "-itsoffset" not in err, err
    assert float(cue[1]) == pytest.approx(sound(clip).picture_start_s + float(rows[0]["time_s"]), abs=1e-3)


def test_a_seek_lands_on_the_frame_a_read_from_the_start_reaches(tmp_path, clip):
    """A recording joined from pieces (ffmpeg -stream_loop, its clock jumping 0.83 s between them, so its average
    rate is 27.6 fps for 29.97): OpenCV's own seek to 150.0 s of such a file gave the frame at 150.70. The frames of
    each range are the ones a read from the start gives for those times, their pictures and times alike."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg")
    joined = tmp_path / "joined.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-stream_loop", "3", "-i", str(clip), "-c", "copy", str(joined)],
                   check=True)
    truth = every_frame(joined)
    for start in (9.2, 20.0, 27.53, 33.0):
        want = next(i for i, (t, _) in enumerate(truth) if t >= start - 5e-5)
        with FrameSource(str(joined), start_s=start, end_s=start + 1.0) as source:
            got = []
            while (item := source.read()) is not None:
                got.append((source.time_s(item[0]), item[1]))
        wanted = [item for item in truth[want:] if item[0] < start + 1.0 - 5e-5]
        assert [t for t, _ in got] == [t for t, _ in wanted], start
        assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(got, wanted)), start
    with pytest.raises(NothingInRange, match="no frame from 0:09.200 to 0:09.700: its first one after 9.2 s is at"):
        FrameSource(str(joined), start_s=9.2, end_s=9.7)  # between two pieces: 9.142 s, then 9.985


def test_a_start_in_an_mpeg_ts_first_keyframes_gap_is_read_from_its_start(tmp_path, clip):
    """An MPEG-TS has no index: OpenCV's seek lands on a packet near the time, and the decoder's first frame is the
    next keyframe's, 8 s on where ffmpeg's libx264 puts them. Going back to the start was a seek to 0 too, which
    landed the same way: --start 1.5 of one with a keyframe at 0 and at 2.0 s gave the frame at 2.0 s as frame 0."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg")
    pieces = [tmp_path / "a.ts", tmp_path / "b.ts"]
    for at, piece in zip((1, 5), pieces):  # each 2 s, a keyframe at its start
        subprocess.run(["ffmpeg", "-v", "error", "-ss", str(at), "-i", str(clip), "-an", "-frames:v", "60",
                        "-c:v", "libx264", str(piece)], check=True)
    joined = tmp_path / "joined.ts"
    (tmp_path / "list.txt").write_text("".join(f"file '{piece}'\n" for piece in pieces))
    subprocess.run(["ffmpeg", "-v", "error", "-f", "concat", "-safe", "0", "-i", str(tmp_path / "list.txt"),
                    "-c", "copy", str(joined)], check=True)
    truth = every_frame(joined)
    with FrameSource(str(joined), start_s=1.5) as source:
        got = [(index, source.time_s(index), frame) for index, frame in iter(source.read, None)]
    assert [index for index, _, _ in got] == list(range(45, 120))
    assert [t for _, t, _ in got] == [t for t, _ in truth[45:]]
    assert all(np.array_equal(frame, truth[index][1]) for index, _, frame in got)


def test_the_librarys_range_counts_every_from_its_first_frame(clip):
    import facekit

    with facekit.FaceAnalyzer(tasks=["mask"]) as analyzer:
        results = list(analyzer.analyze_video(str(clip), start_s=parse_time("0:05"), end_s=5.5, every=2))
        assert [r.frame_index for r in results] == list(range(150, 165, 2))
        assert all(5.0 <= r.time_s < 5.5 for r in results) and results[0].time_s == pytest.approx(150 / 29.97)
        for bad in ({"start_s": -1}, {"start_s": "10:00"}, {"end_s": float("nan")}, {"start_s": 3, "end_s": 2}):
            with pytest.raises(ArgumentError):
                list(analyzer.analyze_video(str(clip), **bad))
        with pytest.raises(VideoError, match="for a video file"):
            list(analyzer.analyze_video([np.zeros((8, 8, 3), np.uint8)] * 3, fps=5, start_s=0.2))
        with pytest.raises(NothingInRange, match="0:09.176 long"):
            list(analyzer.analyze_video(str(clip), start_s=20))


def test_a_live_source_has_no_range(clip):
    with pytest.raises(VideoError, match="is live"):
        FrameSource(str(clip), live=True, start_s=1.0)


@pytest.mark.parametrize("args, said", [
    (["--start", "6", "--end", "5"], "--end 0:05.000 is not after --start 0:06.000"),
    (["--end", "0"], "--end 0 leaves no frame"),
    (["--start", "20"], "nothing to read from 0:20.000 (20 s) on: the video is 0:09.176 long"),
    (["--start", "9.15"], "its last frame is at 0:09.142"),
    (["--start", "-5"], "0 or more; got -5"),
    (["--start", "-0:05"], "0 or more; got -0:05"),  # argparse took it for an option: "expected one argument"
    (["--start", "1:75"], "under 60"),
    (["--end", "ten"], "a time is seconds (95.5) or [HH:]MM:SS[.ms]"),
    (["--source", "0", "--start", "5"], "camera 0 is live"),
])
def test_a_range_that_cannot_be_is_one_error_line(tmp_path, clip, mask_model, capfd, args, said):
    table = tmp_path / "faces.csv"
    try:
        code = main(["--source", str(clip), "--model", str(mask_model), "--tasks", "mask", "--no-display",
                     "--csv", str(table), *args])
    except SystemExit as exc:  # argparse's: a time that is no time
        code = exc.code
    assert code == 2
    line = one_error_line(capfd.readouterr().err)
    assert said in line, line
    assert not table.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("args, said", [
    (["--start", "6", "--end", "5"], "[ERROR] --end 0:05.000 is not after --start 0:06.000: the range is a video's "
                                     "frames from --start up to --end"),
    (["--end", "0"], "[ERROR] --end 0 leaves no frame: it counts from the video's start (--end 12:00: to 12 minutes)"),
])
def test_the_video_script_and_the_batch_job_refuse_a_range_in_the_same_words(tmp_path, clip, capfd, args, said):
    """One check for both: facekit-batch said "each video's frames" where the script said "the frames", and took
    --end 0 for "--end 0:00.000 is not after --start 0:00.000"."""
    from facekit.batch import main as batch_main

    assert main(["--source", str(clip), "--no-display", "--csv", str(tmp_path / "faces.csv"), *args]) == 2
    assert one_error_line(capfd.readouterr().err) == said
    assert batch_main([str(clip), "-o", str(tmp_path / "job"), *args]) == 2
    assert one_error_line(capfd.readouterr().err) == said
    assert not list(tmp_path.iterdir())


def test_an_end_past_the_files_end_reads_it_to_its_end_and_says_so(tmp_path, clip, mask_model, capfd):
    table = tmp_path / "faces.csv"
    assert main(["--source", str(clip), "--model", str(mask_model), "--tasks", "mask", "--no-display",
                 "--start", "8.8", "--end", "1:00", "--csv", str(table)]) == 0
    warned = [line for line in capfd.readouterr().err.splitlines() if line.startswith("[WARN]")]
    assert warned == [f"[WARN] --end 1:00.000 is past the end of {clip} (0:09.176): read to its end"]
    assert {int(r["frame"]) for r in read_csv(table)} == set(range(264, 275))


def test_a_start_past_a_cat_joined_ts_clock_says_why_and_how_to_read_it(tmp_path, clip, mask_model, capfd):
    """`cat a.ts b.ts > joined.ts` plays both pieces, but its timestamps start again at the join: OpenCV gives it
    the length from its first timestamp to its last and seeks by them, so a --start in the second piece was "the
    video is 0:01.502 long" of a file that plays 3 s. The line says why, and the remux it names reads it; a whole
    run's [WARN] line says where its times start again."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg")
    pieces = [tmp_path / "a.ts", tmp_path / "b.ts"]
    for at, piece in zip((1, 5), pieces):
        subprocess.run(["ffmpeg", "-v", "error", "-ss", str(at), "-i", str(clip), "-an", "-frames:v", "45",
                        "-c:v", "libx264", str(piece)], check=True)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(piece.read_bytes() for piece in pieces))
    common = ["--model", str(mask_model), "--tasks", "mask", "--no-display", "--start", "2.5"]
    assert main(["--source", str(joined), *common, "--csv", str(tmp_path / "faces.csv")]) == 2
    assert one_error_line(capfd.readouterr().err) == (
        f"[ERROR] {joined}: nothing to read from 0:02.500 (2.5 s) on: its timestamps start again after 0:01.468 "
        "(pieces joined with cat?), so OpenCV gives it 0:01.502 of the 0:03.003 it plays, and a time past that "
        f"cannot be sought; remux it into one timeline first: ffmpeg -i {joined} -c copy whole.ts")
    assert not (tmp_path / "faces.csv").exists()
    # A whole run reads both pieces, its rows' times those of each piece: said, where they went back without a word.
    assert main(["--source", str(joined), *common[:-2], "--csv", str(tmp_path / "faces.csv")]) == 0
    assert [line for line in capfd.readouterr().err.splitlines() if line.startswith(("[WARN]", "[ERROR]"))] == [
        f"[WARN] {joined}: its timestamps start again at frame 45 (pieces joined with cat?): the times from there "
        f"are that piece's own; ffmpeg -i {joined} -c copy whole.ts puts them in one timeline"]
    times = {int(r["frame"]): float(r["time_s"]) for r in read_csv(tmp_path / "faces.csv")}
    # The second piece's first frame at its own 0.000: it kept the first piece's clock, a frame on (1.502).
    assert [times[44], times[45], times[46]] == pytest.approx([1.468, 0.0, 0.033], abs=1e-3), times
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(joined), "-c", "copy", str(tmp_path / "whole.ts")], check=True)
    assert main(["--source", str(tmp_path / "whole.ts"), *common, "--csv", str(tmp_path / "whole.csv")]) == 0
    assert "[WARN]" not in capfd.readouterr().err
    assert {int(r["frame"]) for r in read_csv(tmp_path / "whole.csv")} == set(range(75, 90))
    # A TS that is that short says so as before, its packets read for a restart they do not have.
    assert main(["--source", str(pieces[0]), *common]) == 2
    assert one_error_line(capfd.readouterr().err).endswith("on: the video is 0:01.502 long")


def test_each_piece_of_a_cat_joined_ts_of_copied_pieces_keeps_its_own_clock_from_its_first_frame(tmp_path, clip):
    """Pieces cut with `-c copy -f mpegts` (the second from 4 s, its first picture on its keyframe) and joined with
    cat: the second piece's clock starts 0.83 s before the first's own 0, and its frames to its 0 were timed index /
    fps, the first piece's clock carried on for 25 frames from 3.170 s, then went back to the piece's own. Each piece's
    frames now step at the rate from its first frame; the one jump is at the join."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg")
    pieces = [tmp_path / "a.ts", tmp_path / "b.ts"]
    for cut, piece in zip((["-i", str(clip), "-t", "4"], ["-ss", "4", "-i", str(clip)]), pieces):
        subprocess.run(["ffmpeg", "-v", "error", *cut, "-an", "-c", "copy", "-f", "mpegts", str(piece)], check=True)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(piece.read_bytes() for piece in pieces))
    cap, raw = cv2.VideoCapture(str(joined)), []
    while cap.read()[0]:
        raw.append(cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0)
    cap.release()
    join = next(i for i in range(1, len(raw)) if raw[i] < raw[i - 1] - 1.0)
    assert raw[join] < -0.5  # the case: the second piece starts before the first's 0
    with FrameSource(str(joined)) as source:
        times = []
        while (item := source.read()) is not None:
            times.append(source.time_s(item[0]))
    assert len(times) == len(raw) and times[join] == pytest.approx(raw[join])
    odd = [i for i in range(1, len(times)) if abs((times[i] - times[i - 1]) * 29.97 - 1.0) > 0.05]
    assert odd == [join], odd


def test_a_folder_run_skips_a_video_shorter_than_the_start(tmp_path, clip, mask_model, capfd):
    """A folder of interviews, minute 10 of each: one shorter than that has nothing there, which is no failure
    to read it (exit 0); when none has, one [ERROR] line, exit 2."""
    clips, tables = tmp_path / "clips", tmp_path / "tables"
    clips.mkdir()
    shutil.copy(clip, clips / "long.mp4")
    writer = cv2.VideoWriter(str(clips / "short.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 64))
    for _ in range(20):
        writer.write(np.zeros((64, 64, 3), np.uint8))
    writer.release()
    common = ["--source", f"{clips}/", "--model", str(mask_model), "--tasks", "mask", "--no-display"]
    assert main([*common, "--start", "8", "--end", "8.2", "--csv", f"{tables}/"]) == 0
    said = "".join(capfd.readouterr())
    assert f"[INFO] skipped {clips / 'short.mp4'}: nothing to read from 0:08.000" in said, said
    assert "1 video with no frame from --start to --end" in said and "[WARN]" not in said, said
    assert {int(r["frame"]) for r in read_csv(tables / "long.csv")} == set(range(240, 246))
    assert not (tables / "short.csv").exists()
    assert main([*common, "--start", "30"]) == 2
    assert "none of the 2 video(s) has a frame from --start to --end" in one_error_line(capfd.readouterr().err)


def test_a_batch_jobs_range_gives_the_video_scripts_rows_of_it(tmp_path, clip, mask_model):
    """facekit-batch --start / --end: each video's rows from the range only, the video script's rows of the same
    range (frame numbers and times the whole file's); the range is the job's option (job.json), and an --end not
    after --start is one [ERROR] line before any work."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("ray")
    import json
    import sys

    from facekit.cli.video import main as video_main

    out, table = tmp_path / "results", tmp_path / "faces.csv"
    options = ["--head-every", "1", "--detector", "scrfd-500m", "--tasks", "mask", "--start", "4", "--end", "4.3"]
    res = subprocess.run([sys.executable, "-m", "facekit.batch", str(clip), "-o", str(out), "--workers", "1",
                          *options], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert video_main(["-s", str(clip), "--no-display", *options[:6], "--start", "4", "--end", "4.3",
                       "--csv", str(table)]) == 0
    columns = ["frame", "time_s", "track_id", "x1", "y1", "x2", "y2", "mask_label"]
    rows = pd.read_parquet(out / "faces")[columns].sort_values(["frame", "track_id"]).reset_index(drop=True)
    script = pd.read_csv(table)[columns].sort_values(["frame", "track_id"]).reset_index(drop=True)
    assert sorted(rows["frame"].unique()) == list(range(120, 129))
    pd.testing.assert_frame_equal(rows, script, check_dtype=False)
    job = json.loads((out / "job.json").read_text())
    assert (job["start_s"], job["end_s"]) == (4.0, 4.3)
    res = subprocess.run([sys.executable, "-m", "facekit.batch", str(clip), "-o", str(tmp_path / "other"),
                          "--start", "5", "--end", "4"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "--end 0:04.000 is not after --start 0:05.000" in one_error_line(res.stderr)
    assert not (tmp_path / "other").exists()


def test_a_piped_videos_range_past_its_end_names_it_as_given(tmp_path, clip, mask_model, monkeypatch, capfd):
    """`cat clip.mp4 | ... --source - --start 20` named the temporary file it was read into
    (/tmp/.facekit-stdin.2fwnx5sc.part/stdin), which is gone once the run ends."""
    import io
    import sys
    import tempfile

    class Pipe:
        buffer = io.BytesIO(clip.read_bytes())

        def isatty(self):
            return False

    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    monkeypatch.setattr(sys, "stdin", Pipe())
    assert main(["--source", "-", "--model", str(mask_model), "--tasks", "mask", "--no-display", "--start", "20"]) == 2
    line = one_error_line(capfd.readouterr().err)
    assert line == "[ERROR] -: nothing to read from 0:20.000 (20 s) on: the video is 0:09.176 long", line


def test_an_animated_gifs_range_is_its_frames_at_their_own_delays(tmp_path):
    """An animated GIF is read as a video of its frames (README), each at its own delay: its range was refused as
    "an image". Its frames keep the numbers and times a whole read gives them, which no frame rate does (delays of
    0.1 s, then 0.3 s: the frame at 0.8 s is the 7th)."""
    from PIL import Image

    gif = tmp_path / "anim.gif"
    frames = [Image.fromarray(np.full((64, 64, 3), 20 * i, np.uint8)) for i in range(10)]
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=[100] * 5 + [300] * 5, loop=0)
    with FrameSource(str(gif), start_s=0.6, end_s=1.5) as source:
        got = []
        while (item := source.read()) is not None:
            got.append((item[0], round(source.time_s(item[0]), 3), int(item[1][0, 0, 0])))
    assert got == [(6, 0.8, 120), (7, 1.1, 140), (8, 1.4, 160)]
    # Its length is its delays' sum, 2.0 s: by its first delay's rate it was "1.0 s long", a start at 1.2 refused.
    with FrameSource(str(gif), start_s=1.2) as source:
        assert source.duration_s == pytest.approx(2.0) and source.read()[0] == 8 and source.time_s(8) == 1.4
    photo = tmp_path / "still.png"
    frames[0].save(photo)
    with pytest.raises(VideoError, match="is a photo, not a video"):
        FrameSource(str(photo), start_s=0.5)


def test_a_photos_or_image_sequences_range_is_refused_before_the_models_load(tmp_path, mask_model, capfd):
    """`--source photo.jpg --start 1` said "[INFO] photo.jpg is a photo: read as a video of one frame", loaded the
    models (about a second), then "[ERROR] photo.jpg is a photo, not a video; ..."; an image sequence's line came
    after the load too. Each is the one line now, before any work."""
    frames = tmp_path / "frames"
    frames.mkdir()
    for number in (1, 2):
        shutil.copy(MEDIA / "two_people.jpg", frames / f"{number:04d}.jpg")
    table = tmp_path / "faces.csv"
    for source, why in ((frames / "0001.jpg", "is a photo, not a video"),
                        (frames / "%04d.jpg", "is an image sequence, which holds no times")):
        assert main(["--source", str(source), "--model", str(mask_model), "--tasks", "mask", "--no-display",
                     "--start", "1", "--csv", str(table)]) == 2
        said = capfd.readouterr()
        assert (said.out + said.err).strip().splitlines() == [
            f"[ERROR] {source} {why}; a time range (start, end) is for a video file"], said
        assert not table.exists()


def test_a_batch_jobs_video_shorter_than_the_start_is_done_not_failed(clip, monkeypatch):
    """facekit-batch --start 20 over a 9 s video wrote it an error row: every resume tried it again (it can never
    have a frame from 0:20 on) and the job ended "1 source failed", exit 1. It is done, with no rows and the reason,
    as the video script's folder run skips it."""
    from dataclasses import asdict

    from facekit import runtime
    from facekit.batch import JobOptions, Worker

    monkeypatch.setattr(runtime, "_override", runtime._override)  # a Worker sets 1 thread for the process
    opencv_threads = cv2.getNumThreads()
    worker = None
    try:
        worker = Worker(asdict(JobOptions(detector="scrfd-500m", tasks=["mask"], start_s=20.0)))
        rows, status = worker.run_source(str(clip), "video")
    finally:
        cv2.setNumThreads(opencv_threads)
        if worker is not None:  # its analyzer's threads, left to a garbage collection, count in later tests'
            worker.analyzer.close()
    assert rows == [] and status["status"] == "ok" and status["frames"] == 0
    assert "nothing to read from 0:20.000" in status["message"], status
