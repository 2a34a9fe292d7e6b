"""Per-person video summary (--summary) and --alert: the summary agrees with the per-frame CSV of the
same run on the real clip, the alert command runs exactly once per person unmasked for 1 s, never
blocks the frames nor leaves zombies, and a bad --alert fails before the video starts."""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from facekit.cli.video import main
from facekit.errors import FacekitError, counted
from facekit.people import AlertDispatcher, PeopleSummary, parse_alert_command
from facekit.types import Box, Face, Prediction

try:
    from .conftest import MEDIA, ROOT, built_once, interrupt_video_run
    from .test_video import _cut_of, clip, mask_model, one_error_line, read_csv  # noqa: F401 (fixtures)
except ImportError:  # tests/ run as a plain folder (no __init__.py)
    from conftest import MEDIA, ROOT, built_once, interrupt_video_run
    from test_video import _cut_of, clip, mask_model, one_error_line, read_csv  # noqa: F401

MASK = ["with_mask", "without_mask"]
# How long a dispatcher's close() gives its commands, each a Python start: it returns as soon as they are done, so a
# bound that a machine ten times slower than a quiet one meets costs nothing.
WAIT_S = 90
# Appends one JSON line per run of the alert command to <folder>/<track id>.
RECORDER = ("import json, os, sys; e = os.environ; "
            "open(os.path.join(sys.argv[1], e['FACEKIT_TRACK_ID']), 'a').write(json.dumps({k: e[k] for k in "
            "('FACEKIT_TIME_S', 'FACEKIT_LABEL', 'FACEKIT_SOURCE', 'FACEKIT_FRAME')} | {'pid': os.getpid()}) + '\\n')")


def recorder(folder: Path, extra: str = "") -> list[str]:
    return [sys.executable, "-c", extra + RECORDER, str(folder)]


def face(track: int, label: str | None, p: float = 0.9) -> Face:
    preds = {}
    if label is not None:
        other = next(k for k in MASK if k != label)
        preds["mask"] = Prediction(label, p, {label: p, other: 1 - p})
    return Face(Box(10, 10, 60, 60), 0.9, preds, track_id=track)


def recorded(folder: Path) -> dict[int, list[dict]]:
    return {int(f.name): [json.loads(line) for line in f.read_text().splitlines()] for f in folder.iterdir()}


def process_state(pid: int) -> str | None:
    """R, S, Z (exited but not reaped: a zombie)... or None once the parent has reaped it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def wait_for(condition, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what or condition}"
        time.sleep(0.05)


# --- the summary ---------------------------------------------------------------------------------------


def test_summary_majority_label_and_its_mean_probability():
    people = PeopleSummary({"mask": MASK})
    frames = [("without_mask", 0.8), ("without_mask", 0.6), ("with_mask", 0.7), (None, 0.0)]
    for i, (label, p) in enumerate(frames):
        people.add(i, i / 10, [face(3, label, p)])
    people.add(9, 0.9, [face(5, "with_mask", 0.9), face(None, "with_mask")])  # no track id: not a person
    rows = people.rows()
    assert [r["track_id"] for r in rows] == [3, 5]
    r = rows[0]
    assert (r["first_frame"], r["last_frame"], r["first_s"], r["last_s"], r["frames"]) == (0, 3, 0.0, 0.3, 4)
    # Mean of without_mask's probability over the 3 labelled frames (0.8, 0.6, and 0.3 on the with_mask one).
    assert r["mask_label"] == "without_mask" and r["mask_prob"] == pytest.approx((0.8 + 0.6 + 0.3) / 3, abs=1e-4)
    assert people.headline() == "2 people seen, 1 without a mask"
    assert PeopleSummary({"emotion": ["happy", "sad"]}).headline() == "0 people seen"


def test_one_person_seen_is_said_so():
    """A video of one person ended "[INFO] 1 people seen, 1 without a mask" (a folder of videos likewise)."""
    people = PeopleSummary({"mask": MASK})
    people.add(0, 0.0, [face(1, "without_mask", 0.9)])
    assert people.headline() == "1 person seen, 1 without a mask"


def test_summary_majority_is_the_label_given_most_often_not_the_most_probability():
    """Two frames read with_mask at 0.55 and one without_mask at 0.99: the label given most often is with_mask,
    though without_mask's probabilities add up to more (1.89 against 1.11). The sum only breaks a tie."""
    people = PeopleSummary({"mask": MASK})
    for i, (label, p) in enumerate([("with_mask", 0.55), ("with_mask", 0.55), ("without_mask", 0.99)]):
        people.add(i, i / 10, [face(3, label, p)])
    assert people.rows()[0]["mask_label"] == "with_mask"
    people.add(3, 0.3, [face(3, "without_mask", 0.6)])  # two each: the larger sum, without_mask's, wins the tie
    assert people.rows()[0]["mask_label"] == "without_mask"


def test_the_closing_table_says_why_a_track_got_no_label():
    """A row of dashes said nothing: the tracks no head ever labelled are named, a line per reason."""
    people = PeopleSummary({"mask": MASK})

    def why(f):
        return {2: "too dark to read (mean grey level 6.1, under 10)", 3: "too small for the heads (6 px, under 8)",
                4: "too dark to read (mean grey level 9.0, under 10)"}.get(f.track_id)

    for i in range(5):
        faces = [face(1, "with_mask"), face(2, None), face(3, None), face(4, None)]
        faces += [face(t, None) for t in range(20, 32)]  # a dim crowd at the back: too dark, all of them
        if i >= 3:
            faces[3] = face(4, "without_mask")  # came into the light: labelled after all, not listed
        people.add(i, i / 10, faces, why=lambda f: why(f) or ("too dark to read (mean grey level 3.0, under 10)"
                                                              if f.track_id >= 20 else None))
    lines = people.table()
    assert lines[-2:] == ["no label for tracks 2, 20, 21, 22, 23, 24, 25, 26, 27, 28 and 3 more: too dark to read",
                          "no label for track 3: too small for the heads"], lines
    assert not any("no label" in line for line in PeopleSummary({"mask": MASK}).table())


def _seen_with_neutral(emotions: list[str], track: int, neutral: float | None) -> Face:
    """Track `track`'s face read without a mask and, unless `neutral` is None, by an emotion head of `emotions`
    (happy, neutral) with P(neutral) = `neutral`."""
    preds = {"mask": Prediction.from_probabilities(MASK, np.array([0.1, 0.9]))}
    if neutral is not None:
        preds["emotion"] = Prediction.from_probabilities(emotions, np.array([1 - neutral, neutral]))
    return Face(Box(10, 10, 60, 60), 0.9, preds, track_id=track)


def test_summary_gives_each_persons_mean_emotion_intensity_as_the_csvs_mean(tmp_path):
    """A researcher computed each person's mean intensity from the per-frame CSV: people.csv had no such column.
    It is the mean of the CSV's emotion_intensity (1 - P(neutral)) over the frames the emotion head labelled."""
    emotions = ["happy", "neutral"]
    people = PeopleSummary({"mask": MASK, "emotion": emotions})
    seen = functools.partial(_seen_with_neutral, emotions)

    for neutral in (0.8, 0.4, None, 0.3):  # a frame the emotion head did not label counts for nothing
        people.add(0, 0.0, [seen(1, neutral), seen(2, None)])
    frames = [seen(1, n).emotion_intensity for n in (0.8, 0.4, 0.3)]
    assert people.columns()[-1] == "emotion_intensity"
    assert [r["emotion_intensity"] for r in people.rows()] == [round(sum(frames) / 3, 4), ""] == [0.5, ""]
    people.save(tmp_path / "people.csv")
    with open(tmp_path / "people.csv", newline="") as fh:
        assert [r["emotion_intensity"] for r in csv.DictReader(fh)] == ["0.5", ""]
    assert "emotion_intensity" not in PeopleSummary({"mask": MASK}).columns()


def test_the_closing_table_gives_each_persons_mean_intensity_as_the_summary_does():
    """people.csv had each person's mean emotion_intensity, the table printed at a video run's end had no such
    column: it now follows the emotion's, with the summary's number ("-" where the emotion head never read the
    face), and a run without an emotion head has none."""
    emotions = ["happy", "neutral"]
    people = PeopleSummary({"emotion": emotions, "mask": MASK})
    seen = functools.partial(_seen_with_neutral, emotions)

    for neutral in (0.8, 0.4, 0.3):
        people.add(0, 0.0, [seen(1, neutral), seen(2, None)])
    header, one, two = (line.split("  ") for line in people.table())
    header = [h.strip() for h in header if h]
    assert header[-3:] == ["emotion (mean p)", "intensity (mean)", "mask (mean p)"], header
    assert [c.strip() for c in one if c][-3:] == ["happy 0.50", "0.50", "without_mask 0.90"], one
    assert [c.strip() for c in two if c][-3:] == ["-", "-", "without_mask 0.90"], two
    assert "intensity" not in PeopleSummary({"mask": MASK}).table()[0]


def test_the_closing_table_does_not_round_a_mean_short_of_one_to_one():
    """The hamilton clip's track 1 was "man 0.9987" in people.csv and "man 1.00" in the closing table, a certainty
    the head did not give; the table keeps the digits that tell it from 1, as Face's repr does."""
    people = PeopleSummary({"mask": MASK})
    for p in (0.9986, 0.9988):
        people.add(0, 0.0, [Face(Box(10, 10, 60, 60), 0.9,
                                 {"mask": Prediction.from_probabilities(MASK, np.array([1 - p, p]))}, track_id=1)])
    people.add(0, 0.0, [face(2, "with_mask"), face(3, "with_mask", 1.0)])
    cells = [line.split("  ")[-1].strip() for line in people.table()[1:]]
    assert cells == ["without_mask 0.9987", "with_mask 0.90", "with_mask 1.00"], cells


def test_the_closing_table_does_not_call_a_track_labelled_once_unlabelled():
    """A face labelled, then gone into the dark, has its label in the table: no "no label for track" line of it."""
    people = PeopleSummary({"mask": MASK})
    people.add(0, 0.0, [face(5, "with_mask")], why=lambda f: None)
    people.add(1, 0.1, [face(5, None)], why=lambda f: "too dark to read (mean grey level 6.1, under 10)")
    lines = people.table()
    assert len(lines) == 2 and "with_mask" in lines[1], lines


def test_summary_says_which_peoples_emotion_was_read_from_the_eyes_alone():
    """The CSV and the timeline mark a masked face's emotion "eyes only"; people.csv and the closing table gave
    a masked interviewee's "happy 0.66" as if read from the whole face. The share of such frames is a column."""
    emotions = ["happy", "neutral"]
    people = PeopleSummary({"mask": MASK, "emotion": emotions})
    happy = Prediction.from_probabilities(emotions, np.array([0.7, 0.3]))

    def masked(track: int, label: str) -> Face:
        return Face(Box(10, 10, 60, 60), 0.9, {"mask": face(track, label).predictions["mask"], "emotion": happy},
                    track_id=track)

    for i in range(4):
        people.add(i, i / 10, [masked(1, "with_mask"), masked(2, "without_mask"),
                               masked(3, "with_mask" if i == 0 else "without_mask")])
    rows = people.rows()
    assert people.columns()[-4:-1] == ["emotion_label", "emotion_prob", "emotion_eyes_only"]
    assert [r["emotion_eyes_only"] for r in rows] == [1.0, 0.0, 0.25]
    # The last cell is the intensity's.
    cells = [[c.strip() for c in line.split("  ") if c.strip()][-2] for line in people.table()[1:]]
    assert cells == ["happy 0.70 (eyes only)", "happy 0.70", "happy 0.70 (eyes only 25%)"], cells
    # Without a mask head nobody looked for a mask: no column that would say each face was seen uncovered.
    assert "emotion_eyes_only" not in PeopleSummary({"emotion": emotions}).columns()


def test_a_masked_persons_eyes_only_share_counts_the_frames_their_emotion_was_read():
    """The share is of the frames the emotion head labelled: a masked person also seen in frames too dark or small
    for the heads read "eyes only 50%" (and the table "happy 0.70 (eyes only 50%)"), as if half their emotion
    readings had been of the whole face."""
    emotions = ["happy", "neutral"]
    people = PeopleSummary({"mask": MASK, "emotion": emotions})
    happy = Prediction.from_probabilities(emotions, np.array([0.7, 0.3]))
    masked = Face(Box(10, 10, 60, 60), 0.9, {"mask": face(1, "with_mask").predictions["mask"], "emotion": happy},
                  track_id=1)
    for i in range(4):
        people.add(i, i / 10, [masked if i % 2 else Face(Box(10, 10, 60, 60), 0.9, track_id=1)])
    assert people.rows()[0]["frames"] == 4 and people.rows()[0]["emotion_eyes_only"] == 1.0
    assert people.table()[1].endswith("happy 0.70 (eyes only)  0.70"), people.table()


def test_upgrading_names_the_summary_column_that_came_before_the_next_heads():
    """people.csv gained emotion_eyes_only between the emotion's columns and gender's, and README's Upgrading
    named the move for the per-frame CSV only: a script reading an older people.csv by place read shares as
    gender labels."""
    people = PeopleSummary({"mask": MASK, "emotion": ["happy", "neutral"], "gender": ["man", "woman"]})
    columns = people.columns()
    new = columns[columns.index("emotion_prob") + 1:columns.index("gender_label")]
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    upgrading = readme[readme.index("## Upgrading from an earlier facekit"):readme.index("## Layout")]
    bullet = " ".join(upgrading[upgrading.index("- **Video CSV.**"):].split("\n- ")[0].split())
    assert new == ["emotion_eyes_only", "emotion_intensity"]
    assert (f"`--summary`'s table likewise has two new columns after `emotion_prob`, `{new[0]}` (a share, 0 to 1) "
            f"and `{new[1]}` (the mean, 0 to 1), where an older one went on with `gender_label`") in bullet, bullet


def test_readme_places_the_summarys_emotion_columns_where_the_file_has_them():
    """README said people.csv has "emotion_intensity last", but the gender head's two columns come after it: a
    script taking the last column (df.iloc[:, -1]) got gender_prob. README now gives the place the file has."""
    readme = " ".join((Path(__file__).resolve().parent.parent / "README.md").read_text().split())
    bullet = readme[readme.index("- `--summary people.csv` (with or without `--csv`)"):]
    bullet = bullet[:bullet.index(" - `--alert")]
    assert "`emotion_intensity` last" not in bullet, bullet
    assert ("After the emotion's two, before the next head's: with a mask head too `emotion_eyes_only`, the share"
            in bullet and "some were), then `emotion_intensity`, the mean" in bullet), bullet
    for tasks in (("mask", "emotion", "gender"), ("emotion", "gender")):
        columns = PeopleSummary({t: {"mask": MASK, "emotion": ["happy", "neutral"], "gender": ["man", "woman"]}[t]
                                 for t in tasks}).columns()
        after = columns[columns.index("emotion_prob") + 1:columns.index("gender_label")]
        assert after == (["emotion_eyes_only"] if "mask" in tasks else []) + ["emotion_intensity"], columns


def test_the_closing_tables_last_line_does_not_call_tracks_as_long_as_those_shown_shorter():
    """A looped clip's 22 tracks were each seen in 26 frames: the table showed 20 and ended "... and 2 shorter
    tracks", though they were as long as every row above. The line says what holds: none was seen in more."""
    people = PeopleSummary({"mask": MASK})
    for i in range(26):
        people.add(i, i / 10, [face(t, "with_mask") for t in range(1, 23)])
    people.add(26, 2.6, [face(23, "with_mask")])  # a blip: shorter than any row shown
    lines = people.table()
    assert len(lines) == 1 + 20 + 1 and all(line.split()[3] == "26" for line in lines[1:21]), lines
    assert lines[-1] == "... and 3 more tracks, none seen in more frames (every one is in --summary)", lines


def test_a_closing_table_of_many_people_shows_the_longest_seen_in_track_order():
    """Past 20 rows the table keeps the longest-seen people, whoever came first: a crowd's passers-by (tracks 1-25,
    a frame each) ahead of the five people who stayed would have filled it."""
    people = PeopleSummary({"mask": MASK})
    people.add(0, 0.0, [face(t, "with_mask") for t in range(1, 26)])
    for i in range(1, 10):
        people.add(i, i / 10, [face(t, "with_mask") for t in range(26, 46)])
    lines = people.table()
    assert [int(line.split()[0]) for line in lines[1:21]] == list(range(26, 46)), lines
    assert lines[-1] == "... and 25 more tracks, none seen in more frames (every one is in --summary)", lines


def test_a_closing_table_one_row_short_says_so_in_the_singular():
    """21 people: the table shows 20, and its last line said "... and 1 more tracks", or nothing had it been
    taken for a count of several."""
    people = PeopleSummary({"mask": MASK})
    people.add(0, 0.0, [face(t, "with_mask") for t in range(1, 22)])
    assert people.table()[-1] == "... and 1 more track, none seen in more frames (every one is in --summary)"


def test_a_cameras_closing_table_across_a_daylight_saving_change_keeps_the_offsets():
    """The night the clocks go back, 01:59:59 EDT is followed by 01:00:00 EST: the table showed someone seen
    across it as last seen an hour before they were first seen. With two offsets among its times it says them."""
    people = PeopleSummary({"mask": MASK}, clock=True)
    people.add(0, 0.0, [face(1, "with_mask")], "2026-11-01T01:59:58.500-04:00")
    people.add(1, 1.0, [face(1, "with_mask"), face(2, "without_mask")], "2026-11-01T01:59:59.500-04:00")
    people.add(2, 2.0, [face(1, "with_mask"), face(2, "without_mask")], "2026-11-01T01:00:00.500-05:00")
    lines = people.table()
    assert lines[0].split()[:5] == ["track", "first", "seen", "last", "seen"], lines
    assert lines[1].split()[:5] == ["1", "2026-11-01", "01:59:58-04:00", "2026-11-01", "01:00:00-05:00"], lines
    assert lines[2].split()[:5] == ["2", "2026-11-01", "01:59:59-04:00", "2026-11-01", "01:00:00-05:00"], lines
    # A day on one offset reads as before, to the second.
    people = PeopleSummary({"mask": MASK}, clock=True)
    people.add(0, 0.0, [face(1, "with_mask")], "2026-11-29T14:03:07.412+01:00")
    people.add(1, 5.0, [face(1, "with_mask")], "2026-11-29T14:03:12.412+01:00")
    assert people.table()[1].split()[:5] == ["1", "2026-11-29", "14:03:07", "2026-11-29", "14:03:12"]


def test_a_camera_watched_for_weeks_keeps_gone_people_as_rows(tmp_path, monkeypatch):
    """Each track's label counters took 2.5 KB for as long as the run went on: a shop door's camera sees
    thousands of people a day. Someone unseen for DONE_AFTER_FRAMES is kept as their row alone."""
    import tracemalloc

    import facekit.people

    # A tenth of the frames between sweeps, and so of the people and frames: the same bytes a person (260 against
    # 2.5 KB before), measured over 3,600 frames, not 36,000 (53 s of a loaded CI worker, traced all the while).
    monkeypatch.setattr(facekit.people, "DONE_AFTER_FRAMES", 180)
    DONE_AFTER_FRAMES = facekit.people.DONE_AFTER_FRAMES
    people = PeopleSummary({"mask": MASK})
    tracemalloc.start()
    frames = 20 * DONE_AFTER_FRAMES
    for i in range(frames):  # a new person every 10 frames, each in view for 30
        people.add(i, i / 30, [face(t, "without_mask" if t % 3 else "with_mask", 0.8)
                               for t in range(max(0, i // 10 - 2), i // 10 + 1)])
    grown = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    seen = frames // 10
    # In view: those seen in the last DONE_AFTER_FRAMES, swept every DONE_AFTER_FRAMES.
    assert len(people) == seen and len(people.people) <= 2 * DONE_AFTER_FRAMES // 10 + 5
    assert grown / seen < 800  # bytes a person (2.5 KB before)
    rows = people.rows()
    assert [r["track_id"] for r in rows] == list(range(seen))
    assert rows[7] == {"track_id": 7, "first_frame": 70, "last_frame": 99, "first_s": round(70 / 30, 4),
                       "last_s": 3.3, "frames": 30, "mask_label": "without_mask", "mask_prob": 0.8}
    assert people.headline() == f"{seen} people seen, {people.count()} without a mask"
    assert people.count() == sum(1 for t in range(seen) if t % 3)
    people.save(tmp_path / "people.csv")
    with open(tmp_path / "people.csv", newline="") as fh:
        saved = list(csv.DictReader(fh))
    assert len(saved) == seen and saved[7]["mask_label"] == "without_mask" and saved[7]["frames"] == "30"


def test_a_person_out_of_view_for_less_than_done_after_frames_keeps_one_row():
    """Someone who stepped out of view for a few seconds (200 frames) while the summary swept the people gone for
    good must not be closed with them: the tracker's id comes back, and would be a second row of one track."""
    from facekit.people import DONE_AFTER_FRAMES

    people = PeopleSummary({"mask": MASK})
    for i in range(DONE_AFTER_FRAMES + 200):  # 1 is missed across the sweep at DONE_AFTER_FRAMES analysed frames
        people.add(i, i / 30, [face(1, "with_mask")] * (not DONE_AFTER_FRAMES - 100 <= i < DONE_AFTER_FRAMES + 100))
    assert [(r["track_id"], r["frames"]) for r in people.rows()] == [(1, DONE_AFTER_FRAMES)]


def test_summary_rows_stay_in_track_order_when_some_are_closed():
    """The rows of people gone for good (closed at a sweep) and of those still in view come in track order: a
    passer-by (track 2) gone long ago came before the person in view since the start (track 1)."""
    from facekit.people import DONE_AFTER_FRAMES

    people = PeopleSummary({"mask": MASK})
    for i in range(2 * DONE_AFTER_FRAMES + 50):
        people.add(i, i / 30, [face(1, "with_mask")] + [face(2, "without_mask")] * (i < 10))
    assert len(people._done) == 1 and [r["track_id"] for r in people.rows()] == [1, 2]


def test_summary_keeps_one_row_for_a_track_missed_a_while_under_every():
    """--every 150 numbers the analysed frames 0, 150, 300, ...: a person missed for 13 of them (still one track:
    the tracker lets one go after 15) was closed after 1,800 file frames and came back as a second row."""
    people = PeopleSummary({"mask": MASK})
    for n in range(40):
        people.add(n * 150, n * 5.0, [face(1, "without_mask")] if n < 12 or n >= 25 else [])
    rows = people._rows()
    assert len(people) == 1 and len(rows) == 1, rows
    assert rows[0][:5] == (1, 0, 5850, 0.0, 195.0) and rows[0][5] == 27  # first / last frame and time, frames


# --- --alert: the dispatcher -------------------------------------------------------------------------


def test_alert_fires_once_per_track_after_one_second_unmasked(tmp_path):
    warnings = []
    alerts = AlertDispatcher(recorder(tmp_path), source="clip.mp4", warn=warnings.append)
    fps = 10.0
    for i in range(40):
        t = i / fps
        faces = [face(1, "without_mask"),  # unmasked throughout: fires at 1.0 s, once
                 face(2, "with_mask" if i in (5, 13) else "without_mask"),  # broken streaks: fires at 2.4 s
                 face(3, "with_mask")]  # never
        if 4 <= i < 8:
            faces = faces[1:]  # track 1 missed for a few frames: no evidence either way, no reset
        if i < 25:
            faces.append(face(4, None if i % 5 == 2 else "without_mask"))  # unlabelled frames do not reset
        alerts.update(i, t, faces)
    alerts.close(wait_s=WAIT_S)
    assert [(track, round(t, 3)) for track, t in alerts.fired] == [(1, 1.0), (4, 1.0), (2, 2.4)]
    runs = recorded(tmp_path)
    assert sorted(runs) == [1, 2, 4] and all(len(v) == 1 for v in runs.values())
    assert runs[2][0] == {"FACEKIT_TIME_S": "2.400", "FACEKIT_LABEL": "without_mask", "FACEKIT_SOURCE": "clip.mp4",
                          "FACEKIT_FRAME": "24", "pid": runs[2][0]["pid"]}
    assert warnings == [] and alerts.failed == 0


def test_alert_tells_its_command_since_when_how_sure_and_no_clock_of_a_file(tmp_path, monkeypatch):
    """FACEKIT_SINCE_S and FACEKIT_PROBABILITY, which the README offers an alert script, and a file's lack of
    FACEKIT_CLOCK (the caller's own left out) went unchecked; so did a command that exits 1 being warned of."""
    monkeypatch.setenv("FACEKIT_CLOCK", "2026-01-01T00:00:00.000+00:00")  # the caller's, no frame's
    script = ("import json, os, sys; e = os.environ; open(sys.argv[1], 'a').write(json.dumps([e['FACEKIT_SINCE_S'], "
              "e['FACEKIT_PROBABILITY'], e.get('FACEKIT_CLOCK')]) + '\\n'); sys.exit(1)")
    warnings = []
    alerts = AlertDispatcher([sys.executable, "-c", script, str(tmp_path / "got")], warn=warnings.append)
    for i in range(20):
        alerts.update(i, i / 10, [face(1, "with_mask" if i < 3 else "without_mask", 0.8)])
    alerts.close(wait_s=WAIT_S)
    assert json.loads((tmp_path / "got").read_text()) == ["0.300", "0.8000", None]
    assert len(warnings) == 1 and "track 1 exited with 1" in warnings[0], warnings


def test_alert_streak_does_not_span_a_stream_outage(tmp_path):
    """A camera that froze for 6 s: someone seen for 0.2 s before it is not 'unmasked for 1 s'."""
    alerts = AlertDispatcher(recorder(tmp_path), source="http://cam/stream.mjpg", warn=pytest.fail)
    times = [0.0, 0.1, 0.2] + [6.2 + i / 10 for i in range(12)]  # nothing between 0.2 and 6.2 s
    for i, t in enumerate(times):
        alerts.update(i, t, [face(1, "without_mask")])
    alerts.close(wait_s=WAIT_S)
    assert [(track, round(t, 3)) for track, t in alerts.fired] == [(1, 7.2)]  # 1 s after it came back


def test_alert_streak_of_a_file_read_sparsely_is_no_outage(tmp_path):
    """--every 90 on a 30 fps file (or a time-lapse) sees each face 3 s apart: with the outage rule alone no
    streak ever reached 1 s. The video script gives such a file a gap of two of its steps."""
    alerts = AlertDispatcher(recorder(tmp_path), source="clip.mp4", warn=pytest.fail, gap_s=6.0)
    for i, t in enumerate([0.0, 3.0, 6.0]):
        alerts.update(i * 90, t, [face(1, "without_mask")])
    alerts.close(wait_s=WAIT_S)
    assert [(track, round(t, 3)) for track, t in alerts.fired] == [(1, 3.0)]


def test_alert_gets_a_streams_address_without_its_password(tmp_path):
    alerts = AlertDispatcher(recorder(tmp_path), source="rtsp://admin:s3cret@10.0.0.5:554/live", warn=pytest.fail)
    for i in range(12):
        alerts.update(i, i / 10, [face(1, "without_mask")])
    alerts.close(wait_s=WAIT_S)
    assert recorded(tmp_path)[1][0]["FACEKIT_SOURCE"] == "rtsp://admin:***@10.0.0.5:554/live"


def test_alert_never_blocks_the_frames_and_leaves_no_zombie(tmp_path):
    # Each command says it started, then waits for the test to let it go before it records: 120 s at most, as the
    # test waits up to 60 s for the last of the five to start (a command that gave up first looked like a blocked loop).
    # A bound on the loop's time (1 s against commands of 1.5 s) raced a loaded machine's five process starts;
    # commands still running once the loop is done prove it waited for none.
    started, go, records = tmp_path / "started", tmp_path / "go", tmp_path / "records"
    started.mkdir()
    records.mkdir()
    hold = (f"import os, sys, time; open(os.path.join({str(started)!r}, str(os.getpid())), 'w').close(); "
            f"any(os.path.exists({str(go)!r}) or time.sleep(0.05) for _ in range(2400)) or sys.exit(0); ")
    alerts = AlertDispatcher(recorder(records, hold), warn=pytest.fail)
    for i in range(12):
        alerts.update(i, i * 0.5, [face(t, "without_mask") for t in range(1, 6)])
    assert len(alerts.fired) == 5
    wait_for(lambda: len(list(started.iterdir())) == 5, timeout=60)
    waiting = [int(p.name) for p in started.iterdir()]
    assert all(process_state(pid) not in ("Z", None) for pid in waiting), "the frame loop waited for the command"
    assert not list(records.iterdir())
    go.touch()
    # A record file exists from the recorder's open() until its line is written: wait for whole lines.
    wait_for(lambda: sum(f.read_text().endswith("\n") for f in records.iterdir()) == 5, timeout=60)
    pids = [run[0]["pid"] for run in recorded(records).values()]
    assert sorted(pids) == sorted(waiting)
    wait_for(lambda: all(process_state(pid) in ("Z", None) for pid in pids))  # exited, not yet reaped
    alerts.update(12, 6.0, [])  # any frame reaps what has finished
    assert [process_state(pid) for pid in pids] == [None] * 5, "finished alert commands left as zombies"
    alerts.close()


def test_alert_forgets_the_people_who_left(tmp_path):
    """A busy entrance watched for hours: one passer-by every 2 s, unmasked for 0.5 s (no alert), every 10th for
    1.5 s (one alert each). The dispatcher kept an entry for every one of them: memory grew without end."""
    true = shutil.which("true")
    assert true is not None
    alerts = AlertDispatcher([true], source="http://cam/stream.mjpg", warn=pytest.fail)
    people, fps = 600, 10
    for i in range(people * 2 * fps):
        t, k = i / fps, i // (2 * fps)  # person k arrives at 2k s
        stay = 1.5 if k % 10 == 0 else 0.5
        alerts.update(i, t, [face(k + 1, "without_mask")] if t - 2 * k < stay else [])
    alerts.close(wait_s=WAIT_S)
    assert len(alerts.fired) == people // 10  # each alerted once, as before
    assert len(alerts.since) <= 3, f"{len(alerts.since)} streaks kept of people long gone"
    # those seen in the last DONE_AFTER_FRAMES (swept that often): 18 of the 60 alerted
    assert len(alerts._done) <= 20, f"{len(alerts._done)} alerted people kept long after they left"


def test_alert_does_not_forget_a_track_the_tracker_still_holds_under_every(tmp_path):
    """--every 150 numbers the analysed frames 0, 150, 300, ...: a person missed for 13 of them (1,950 file frames,
    still one track: the tracker lets one go after 15) and back unmasked is the person already alerted on."""
    alerts = AlertDispatcher(recorder(tmp_path), source="clip.mp4", warn=pytest.fail, gap_s=10.0)
    for n in range(40):
        seen = n < 12 or n >= 25  # missed for updates 12-24
        alerts.update(n * 150, n * 5.0, [face(1, "without_mask")] if seen else [])
    alerts.close(wait_s=WAIT_S)
    assert [track for track, _ in alerts.fired] == [1]


def test_alert_fires_once_on_someone_who_stays_unmasked_past_every_sweep():
    """A cashier unmasked all shift is one alert: the sweep of alerted people gone for good must not let go of one
    still in view, who would be alerted on again a second later (each DONE_AFTER_FRAMES frames)."""
    from facekit.people import DONE_AFTER_FRAMES

    alerts = AlertDispatcher([shutil.which("true")], warn=pytest.fail)
    for i in range(2 * DONE_AFTER_FRAMES + 50):
        alerts.update(i, i / 10, [face(1, "without_mask")])
    alerts.close(wait_s=WAIT_S)
    assert alerts.fired == [(1, 1.0)]


def test_alert_command_that_fails_is_one_warning_not_a_crash(tmp_path):
    warnings = []
    alerts = AlertDispatcher([sys.executable, "-c", "import sys; sys.exit(3)"], warn=warnings.append)
    for i in range(15):
        alerts.update(i, i * 0.1, [face(7, "without_mask")])
    alerts.close(wait_s=WAIT_S)
    assert len(warnings) == 1 and "track 7" in warnings[0] and "exited with 3" in warnings[0]
    assert alerts.failed == 1


# An alert command still running when the run ends: says it started on both outputs, writes its shell's process id
# (its process group's, in a session of its own) to <folder>/<track id>.pid, then waits a minute in a child, as a
# script's curl or sleep does.
LINGERING = ("echo alert for $FACEKIT_TRACK_ID; echo its stderr >&2; echo $$ > {folder}/{name}.pid; sleep 60")
# A folder run's videos have their own track ids: its commands' files are named after the video too.
BY_VIDEO = "${FACEKIT_SOURCE##*/}-$FACEKIT_TRACK_ID"
# A run of the dispatcher alone in a process of its own (whose outputs are the test's pipes): one alert on track 7,
# then a close that gives its command 1 s.
DISPATCHING = ("import sys; from facekit.people import AlertDispatcher; "
               "from facekit.types import Box, Face, Prediction; "
               "alerts = AlertDispatcher(sys.argv[1:]); p = Prediction('without_mask', 0.9, {'without_mask': 0.9}); "
               "[alerts.update(i, i / 10, [Face(Box(10, 10, 60, 60), 0.9, {'mask': p}, track_id=7)]) "
               "for i in range(15)]; alerts.close(wait_s=1); print('closed', flush=True)")


def lingering(folder: Path, name: str = "$FACEKIT_TRACK_ID") -> list[str]:
    return ["sh", "-c", LINGERING.format(folder=shlex.quote(str(folder)), name=name)]


def lingered(folder: Path) -> dict[int | str, int]:
    """Track id (BY_VIDEO: "a.mp4-4") -> the process group of the lingering command run for it, once it has written
    it whole."""
    return {int(f.stem) if f.stem.isdigit() else f.stem: int(f.read_text()) for f in folder.glob("*.pid")
            if f.read_text().endswith("\n")}


def group_gone(pid: int) -> bool:
    """No process left in group `pid` (a child of a command stopped with its shell is a zombie a moment, until the
    system's init reaps it)."""
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def in_group(pgid: int) -> list[str]:
    """The names of the processes in process group `pgid`."""
    names = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            text = stat.read_text()
            if int(text[text.rindex(")") + 2:].split()[2]) == pgid:  # after the name: state, parent, group
                names.append(text[text.index("(") + 1:text.rindex(")")])
    return names


@contextlib.contextmanager
def stopped_after(folder: Path):
    """The lingering commands' process groups killed, whatever the test did (they ran a minute before the fix)."""
    try:
        yield
    finally:
        for group in lingered(folder).values():
            with contextlib.suppress(OSError):
                os.killpg(group, signal.SIGKILL)


def ended_with_its_outputs(proc: subprocess.Popen, timeout: float = 300) -> tuple[str, str]:
    """stdout, stderr of `proc` once it has ended, read to their end: as `| tee` reads them."""
    proc.wait(timeout=timeout)
    try:
        return proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.stdout.close()
        proc.stderr.close()
        pytest.fail("its standard output and error were still held open 10 s after it ended (an --alert command's)")


def test_alert_still_running_at_the_end_is_stopped_and_holds_no_output_open(tmp_path):
    """`detect_mask_video.py --alert CMD | tee log`: a command still running at the end kept the run's standard
    output and error, and so the pipeline, open until it ended (22.9 s where the run took 14.6). It is given its
    time, then stopped (its children too), and what it printed meanwhile still reaches the run's outputs."""
    with stopped_after(tmp_path):
        proc = subprocess.Popen([sys.executable, "-c", DISPATCHING, *lingering(tmp_path)], cwd=ROOT, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = ended_with_its_outputs(proc, timeout=60)
    assert proc.returncode == 0, err
    # The command's line and the close's come in either order: a loaded machine may start it late.
    waiting = "[INFO] waiting up to 1 s for 1 alert command still running (then stopped)"
    assert sorted(out.splitlines()[:2]) == sorted(["alert for 7", waiting]) and out.splitlines()[2:] == ["closed"], out
    assert err.splitlines() == ["its stderr", "[WARN] --alert: stopped 1 command still running at the end (track 7): "
                                + shlex.join(lingering(tmp_path))], err
    assert list(lingered(tmp_path)) == [7]
    wait_for(lambda: group_gone(lingered(tmp_path)[7]), timeout=10, what="the command's sleep to be stopped with it")


def test_alert_commands_child_that_left_its_group_holds_no_output_open(tmp_path):
    """A command whose child leaves its process group (a daemon, `setsid`), out of reach of the close's stop: that
    child held the run's outputs as long as it ran. It holds the dispatcher's own pipe now, which ends with it."""
    detach = ("import subprocess, sys; child = subprocess.Popen(['sleep', '60'], start_new_session=True); "
              "open(sys.argv[1], 'w').write(str(child.pid)); print('detached', flush=True)")
    proc = subprocess.Popen([sys.executable, "-c", DISPATCHING, sys.executable, "-c", detach, str(tmp_path / "pid")],
                            cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = ended_with_its_outputs(proc, timeout=60)
    finally:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int((tmp_path / "pid").read_text()), signal.SIGKILL)
    # A loaded machine may start the command's Python past ALERT_QUIET_S: the close then says it waits, and may.
    lines = [line for line in out.splitlines() if not line.startswith("[INFO] waiting up to ")]
    assert proc.returncode == 0 and lines == ["detached", "closed"] and err == "", (out, err)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full, whose every write fails as a full disk's")
def test_alert_command_whose_output_cannot_be_written_still_finishes(tmp_path):
    """The run's output on a full disk (or its reader gone): what a command prints is dropped, and it is read on,
    so the command does not block on its pipe once 64 KB are in it (it would be stopped at the end, not finished)."""
    warnings = []
    with open("/dev/full", "wb") as full:
        alerts = AlertDispatcher([sys.executable, "-c", "import sys; sys.stdout.write('x' * 2**20)"],
                                 warn=warnings.append, stdout=full)
        for i in range(15):
            alerts.update(i, i / 10, [face(4, "without_mask")])
        alerts.close(wait_s=WAIT_S)
    assert alerts.fired == [(4, 1.0)] and alerts.failed == 0 and alerts.stopped == 0 and warnings == []


def test_a_stop_during_the_wait_for_alert_commands_ends_it(tmp_path, capfd):
    """The video script's close of its alerts (facekit.cli.video._close_alerts, under the outputs' DeferredStop): a
    Ctrl-C at "[INFO] waiting up to 5 s ..." was held back with the rest, and did nothing for those 5 s. One that
    comes during the wait stops the commands then; one that came before, while the outputs were finalized, is the
    stop whose 5 s these are (a SIGTERM's)."""
    import threading
    from types import SimpleNamespace

    from facekit.cli.video import _close_alerts
    from facekit.people import ALERT_WAIT_S

    for came_before in (False, True):
        folder = tmp_path / str(came_before)
        folder.mkdir()
        with stopped_after(folder):
            warnings, said = [], []
            alerts = AlertDispatcher(lingering(folder), warn=warnings.append, info=said.append)
            for i in range(15):
                alerts.update(i, i / 10, [face(3, "without_mask")])
            wait_for(lambda: lingered(folder))
            finishing = SimpleNamespace(received=came_before)
            threading.Timer(0.5, lambda: setattr(finishing, "received", True)).start()
            started = time.monotonic()
            _close_alerts(alerts, finishing)
            took = time.monotonic() - started
        assert said == [f"waiting up to {ALERT_WAIT_S:.0f} s for 1 alert command still running (then stopped)"]
        assert alerts.stopped == 1 and len(warnings) == 1 and "stopped 1 command" in warnings[0], warnings
        assert (took < ALERT_WAIT_S - 1) != came_before, f"{took:.1f} s (a stop before the wait: {came_before})"
    capfd.readouterr()


def test_alert_commands_get_the_runs_ctrl_c(tmp_path, capfd):
    """A Ctrl-C at the terminal reached the commands too (they shared its process group): in a session of their own
    now, they get it from the run, not the close's wait, which would have been WAIT_S here."""
    warnings, said = [], []
    with stopped_after(tmp_path):
        alerts = AlertDispatcher(lingering(tmp_path), warn=warnings.append, info=said.append)
        for i in range(15):
            alerts.update(i, i / 10, [face(3, "without_mask")])
        # Its sleep started: a Ctrl-C between the shell's fork and exec of it is caught by the shell's handler there,
        # a terminal's too, and the command runs on (to be stopped after the wait).
        wait_for(lambda: lingered(tmp_path) and "sleep" in in_group(lingered(tmp_path)[3]))
        started = time.monotonic()
        alerts.close(wait_s=WAIT_S, signum=signal.SIGINT)
        took = time.monotonic() - started
    assert took < WAIT_S / 3, f"the close waited {took:.1f} s for a command the Ctrl-C should have stopped"
    assert alerts.stopped == 1 and alerts.failed == 0
    assert warnings == [f"--alert: stopped 1 command still running at the end (track 3): "
                        f"{shlex.join(lingering(tmp_path))}"]
    wait_for(lambda: group_gone(lingered(tmp_path)[3]), timeout=10, what="the command's sleep to be stopped with it")
    assert capfd.readouterr().out == "alert for 3\n"


def test_a_folder_runs_dispatcher_goes_on_to_its_next_video_with_its_commands_running(tmp_path):
    """A folder run's one dispatcher (AlertDispatcher.next_source): the next video's tracks start again (its track 3
    alerts, though the video before's did), the command of the video before runs on, and the close names each
    stopped command's video."""
    warnings, said = [], []
    command = lingering(tmp_path, BY_VIDEO)
    with stopped_after(tmp_path):
        alerts = AlertDispatcher(command, warn=warnings.append, info=said.append)
        for source in ("clips/a.mp4", "clips/b.mp4"):
            alerts.next_source(source)
            for i in range(15):
                alerts.update(i, i / 10, [face(3, "without_mask")])
        wait_for(lambda: len(lingered(tmp_path)) == 2)
        assert said == warnings == [] and all(not group_gone(group) for group in lingered(tmp_path).values())
        alerts.close(wait_s=0.5)
    assert alerts.fired == [(3, 1.0), (3, 1.0)] and alerts.stopped == 2 and alerts.failed == 0
    assert warnings == ["--alert: stopped 2 commands still running at the end (track 3 of clips/a.mp4; track 3 of "
                        f"clips/b.mp4): {shlex.join(command)}"], warnings
    assert sorted(lingered(tmp_path)) == ["a.mp4-3", "b.mp4-3"]


def test_a_folder_runs_failed_alert_names_its_video():
    """Each video of a folder starts its track ids again: "--alert for track 2 exited with 3" could be any video's."""
    warnings = []
    alerts = AlertDispatcher([sys.executable, "-c", "import sys; sys.exit(3)"], warn=warnings.append)
    for source in ("clips/a.mp4", "clips/b.mp4"):
        alerts.next_source(source)
        for i in range(15):
            alerts.update(i, i / 10, [face(2, "without_mask")])
    alerts.close(wait_s=WAIT_S)
    assert alerts.failed == 2 and sorted(w[:w.index(":")] for w in warnings) == [
        f"--alert for track 2 of clips/{video} exited with 3" for video in ("a.mp4", "b.mp4")], warnings


def test_a_stop_during_a_folder_runs_wait_for_its_alert_commands_ends_it(tmp_path):
    """A folder run closes its commands after its last video, its own stop signals held back meanwhile: a Ctrl-C
    during the wait ends it (as one video's), where a KeyboardInterrupt there would have left them running."""
    import threading

    from facekit.cli.video import _close_folder_alerts
    from facekit.people import ALERT_WAIT_S
    from facekit.signals import clear_stop

    warnings = []
    with stopped_after(tmp_path):
        alerts = AlertDispatcher(lingering(tmp_path), warn=warnings.append, info=lambda _: None)
        for i in range(15):
            alerts.update(i, i / 10, [face(3, "without_mask")])
        wait_for(lambda: lingered(tmp_path))
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        started = time.monotonic()
        try:
            stopped = _close_folder_alerts(alerts)
        finally:
            clear_stop()
        took = time.monotonic() - started
    assert stopped and took < ALERT_WAIT_S - 1, f"{took:.1f} s"
    assert alerts.stopped == 1 and len(warnings) == 1 and "stopped 1 command" in warnings[0], warnings
    wait_for(lambda: group_gone(lingered(tmp_path)[3]), timeout=10, what="the command's sleep to be stopped with it")


def test_a_folder_runs_alert_commands_outlive_their_video_and_are_counted(tmp_path, clip, mask_model):
    """`--source clips/ --alert CMD`: each video's end gave its commands 5 s, then stopped them, so a notifier slower
    than that which fired near one video's end was cut off and the run waited between videos; and no line said how
    many ran. The commands run on into the next video, the wait and the stop come once, after the last, and the
    closing lines count them."""
    clips, pids = tmp_path / "clips", tmp_path / "pids"
    clips.mkdir()
    pids.mkdir()
    # Each cut ends a few frames after someone's first second unmasked (the clip's frames 112 and 241).
    _cut_of(clips / "a.mp4", clip, 40, start=75)
    _cut_of(clips / "b.mp4", clip, 40, start=205)
    command = lingering(pids, BY_VIDEO)
    with stopped_after(pids):
        proc = subprocess.Popen([sys.executable, str(ROOT / "detect_mask_video.py"), "--source", f"{clips}/",
                                 "--model", str(mask_model), "--tasks", "mask", "--no-display", "--alert",
                                 shlex.join(command)], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=dict(os.environ, DISPLAY="", WAYLAND_DISPLAY=""))
        out, err = ended_with_its_outputs(proc)
    assert proc.returncode == 0 and "Traceback" not in err, err
    ran = lingered(pids)
    by_video = {video: sorted(int(key.split("-")[1]) for key in ran if key.startswith(video))
                for video in ("a.mp4", "b.mp4")}
    assert by_video["a.mp4"] and by_video["b.mp4"], ran
    # A command's "alert for N" can land between a line's text and its end (print writes them apart): startswith.
    lines = [line for line in out.splitlines() if line.startswith("[INFO]")]
    b_done = next(i for i, line in enumerate(lines) if line.startswith(f"[INFO] {clips}/b.mp4: 40 frames"))
    waits = [i for i, line in enumerate(lines) if line.startswith("[INFO] waiting up to 5 s")]
    assert waits == [b_done + 1] and lines[b_done + 1].startswith(
        f"[INFO] waiting up to 5 s for {len(ran)} alert commands still running (then stopped)"), out
    assert lines[-1] == f"[INFO] --alert ran {len(ran)} times, {len(ran)} stopped at the end", out
    assert lines[-2].startswith("[INFO] 2 videos, 80 frames, "), out
    named = "; ".join(f"{'track' if len(ids) == 1 else 'tracks'} {', '.join(map(str, ids))} of {clips}/{video}"
                      for video, ids in by_video.items())
    assert (f"[WARN] --alert: stopped {len(ran)} commands still running at the end ({named}): "
            f"{shlex.join(command)}") in err, err
    wait_for(lambda: all(group_gone(group) for group in ran.values()), timeout=10, what="the commands' sleeps stopped")


def test_video_run_piped_ends_with_its_alert_commands(tmp_path, clip, mask_model):
    """The script itself, its outputs piped (`| tee log`): they end when it does, each alert still running stopped
    after its 5 s, as the lines say; what the command printed is in the run's output."""
    with stopped_after(tmp_path):
        proc = subprocess.Popen([sys.executable, str(ROOT / "detect_mask_video.py"), "--source", str(clip), "--model",
                                 str(mask_model), "--no-display", "--max-frames", "60", "--alert",
                                 shlex.join(lingering(tmp_path))], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=dict(os.environ, DISPLAY="", WAYLAND_DISPLAY=""))
        out, err = ended_with_its_outputs(proc)
    assert proc.returncode == 0 and "Traceback" not in err, err
    ran = lingered(tmp_path)
    # Within a line of the run's own, maybe: a print's text and its end of line are two writes, as before.
    assert ran and all(f"alert for {track}\n" in out for track in ran), out
    assert f"[INFO] waiting up to 5 s for {counted(len(ran), 'alert command')} still running (then stopped)" in out
    assert f"[INFO] --alert ran {counted(len(ran), 'time')}, {len(ran)} stopped at the end" in out
    assert re.search(rf"\[WARN\] --alert: stopped {counted(len(ran), 'command')} still running at the end", err), err
    wait_for(lambda: all(group_gone(group) for group in ran.values()), timeout=10, what="the commands' sleeps stopped")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_video_run_stops_its_alert_commands_as_readme_says(tmp_path, clip, mask_model, sig):
    """README: a Ctrl-C reaches the commands at once (the terminal's did, when they shared its process group), a
    SIGTERM (`kill`, `docker stop`) gives them their 5 s; stopped either way, the run's outputs end with it."""
    def sleeping() -> bool:
        return any("sleep" in in_group(group) for group in lingered(tmp_path).values())

    with stopped_after(tmp_path):
        code, said = interrupt_video_run("--source", clip, "--model", mask_model, "--alert",
                                         shlex.join(lingering(tmp_path)), after=0, sig=sig, with_stdout=True,
                                         until=sleeping)
    assert code == 128 + sig and "Traceback" not in said, said
    assert re.search(r"\[WARN\] --alert: stopped \d+ commands? still running at the end", said), said
    assert ("[INFO] waiting up to 5 s for" in said) == (sig == signal.SIGTERM), said
    wait_for(lambda: all(group_gone(group) for group in lingered(tmp_path).values()), timeout=10,
             what="the commands' sleeps stopped")


def test_readme_and_help_give_the_wait_the_alert_close_has():
    """Commands still running at the end are stopped after ALERT_WAIT_S (they were left running): README's --alert
    bullet and --help say when, with the dispatcher's number, and that a folder run's end is after its last video
    (each video's was)."""
    from facekit.cli.video import build_parser
    from facekit.people import ALERT_WAIT_S

    readme = " ".join((ROOT / "README.md").read_text().split())
    bullet = readme[readme.index("- `--alert \"CMD\"` runs CMD"):]
    bullet = bullet[:bullet.index("E.g. `--alert")]
    assert f"Commands still running at the end get {ALERT_WAIT_S:.0f} s" in bullet and "then are stopped" in bullet
    assert "left to finish" not in bullet, bullet
    assert "A folder run (`--source clips/`) has one end, after its last video" in bullet, bullet
    text = " ".join(build_parser().format_help().split())
    assert (f"one still running {ALERT_WAIT_S:.0f} s after the run's end is stopped (a folder's run ends after its "
            "last video)") in text, text


def test_parse_alert_command(tmp_path):
    assert parse_alert_command("notify-send 'No mask' \"at the door\"".replace("notify-send", sys.executable)) == [
        sys.executable, "No mask", "at the door"]
    script = tmp_path / "alert.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    cases = {"no_such_command_facekit --x": "command not found: no_such_command_facekit",
             str(tmp_path / "missing.sh"): "does not exist",
             str(script): "is not an executable file",
             "echo 'unclosed": "cannot split",
             "  ": "empty"}
    for command, message in cases.items():
        with pytest.raises(FacekitError, match=message):
            parse_alert_command(command)
    script.chmod(0o755)
    assert parse_alert_command(shlex.quote(str(script))) == [str(script)]
    # Executable, yet the system would not start it (a shell would run the first itself).
    cannot_start = {"echo hi\n": "is neither a program nor a script with a #! line",
                    "": "is neither a program nor a script with a #! line",
                    "#!\necho hi\n": "has a #! line that names no program",
                    "#!/nonexistent/bash\necho hi\n": "names /nonexistent/bash on its #! line, which is not an "
                                                     "executable file",
                    "#!/usr/bin/env no_such_shell_facekit -e\necho hi\n": "names no_such_shell_facekit on its #! line, "
                                                                             "which is not on PATH"}
    for text, message in cannot_start.items():
        script.write_text(text)
        with pytest.raises(FacekitError, match=re.escape(f"--alert: {script} {message}")):
            parse_alert_command(str(script))
    script.write_text("#!/usr/bin/env sh\necho hi\n")
    assert parse_alert_command(str(script)) == [str(script)]


# --- the CLI on the real clip ----------------------------------------------------------------------------


FRAMES = 150  # 5 s: people unmasked for well over 1 s, and short tracks that are not


@pytest.fixture(scope="module")
def clip_run(tmp_path_factory, clip, mask_model):
    """The clip's first FRAMES frames with --csv, --summary and --alert: rows, people, alert runs. Once for both
    test workers."""
    def build(folder: Path):
        alerts = folder / "alerts"
        alerts.mkdir()
        table, summary = folder / "faces.csv", folder / "people.csv"
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(["--source", str(clip), "--model", str(mask_model), "--no-display", "--max-frames",
                         str(FRAMES), "--csv", str(table), "--summary", str(summary), "--alert",
                         shlex.join(recorder(alerts))])
        assert code == 0, out.getvalue()
        # The run gives its commands 5 s once the frames are done, then stops those still running: once it has
        # returned, each command it ran has written its line (none of these is stopped).
        said = re.search(r"--alert ran (\d+) times?\n", out.getvalue())
        assert said, out.getvalue()
        ran = int(said.group(1))
        assert sum(f.read_text().count("\n") for f in alerts.iterdir()) == ran, f"not {ran} lines in {alerts}"
        return read_csv(table), read_csv(summary), recorded(alerts)

    return built_once(tmp_path_factory, "people-clip-run", build)


def test_summary_rows_match_the_tracks_of_the_csv(clip_run):
    rows, people, _ = clip_run
    by_track = defaultdict(list)
    for r in rows:
        by_track[r["track_id"]].append(r)
    assert len(by_track) >= 3
    assert [p["track_id"] for p in people] == sorted(by_track, key=int)
    for p in people:
        seen = by_track[p["track_id"]]
        assert int(p["frames"]) == len(seen)
        assert p["first_s"] == seen[0]["time_s"] and p["last_s"] == seen[-1]["time_s"]
        assert (int(p["first_frame"]), int(p["last_frame"])) == (int(seen[0]["frame"]), int(seen[-1]["frame"]))
        labelled = [r for r in seen if r["mask_label"]]
        if not labelled:
            assert p["mask_label"] == ""
            continue
        counts = {k: sum(r["mask_label"] == k for r in labelled) for k in MASK}
        assert counts[p["mask_label"]] == max(counts.values())
        mean = sum(float(r[f"mask_{p['mask_label']}"]) for r in labelled) / len(labelled)
        assert float(p["mask_prob"]) == pytest.approx(mean, abs=1e-3)
    # Every other head of the run is summarised too.
    tasks = [c[: -len("_label")] for c in rows[0] if c.endswith("_label")]
    assert [c for c in people[0] if c.endswith("_label")] == [f"{t}_label" for t in tasks]


def test_alert_ran_once_per_track_unmasked_for_one_second(clip_run, clip):
    rows, _, runs = clip_run
    # Worked out from the CSV's smoothed labels: a streak of without_mask, broken only by another label.
    expected, since = {}, {}
    for r in rows:
        track, label, t = int(r["track_id"]), r["mask_label"], float(r["time_s"])
        if not label or track in expected:
            continue
        if label != "without_mask":
            since.pop(track, None)
        elif t - since.setdefault(track, t) >= 1.0 - 1e-6:
            expected[track] = t
    unmasked_sometime = {int(r["track_id"]) for r in rows if r["mask_label"] == "without_mask"}
    assert expected and set(expected) < unmasked_sometime, "the clip should have people both over and under 1 s"
    assert sorted(runs) == sorted(expected)
    for track, calls in runs.items():
        assert len(calls) == 1, f"track {track} alerted {len(calls)} times"
        assert float(calls[0]["FACEKIT_TIME_S"]) == pytest.approx(expected[track], abs=1e-3)
        assert calls[0]["FACEKIT_LABEL"] == "without_mask" and calls[0]["FACEKIT_SOURCE"] == str(clip)


def test_summary_alone_and_console_verdict(tmp_path, clip, mask_model, capfd):
    summary = tmp_path / "people.csv"
    assert main(["--source", str(clip), "--model", str(mask_model), "--no-display", "--max-frames", "20",
                 "--summary", str(summary)]) == 0
    out = capfd.readouterr().out
    people = read_csv(summary)
    unmasked = sum(p["mask_label"] == "without_mask" for p in people)
    assert people and f"[INFO] {len(people)} people seen, {unmasked} without a mask" in out
    assert f"per-person summary written to {summary}" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["people.csv"]


def test_a_video_with_nobody_in_it_says_so(tmp_path, mask_model, capfd):
    """The verdict line was left out when no face was found, where README promises it at every run's end."""
    import cv2

    from facekit.video import VideoSink

    cat = cv2.imread(str(MEDIA / "no_face_cat.png"))
    sink = VideoSink(tmp_path / "cat.mp4", 10, (cat.shape[1], cat.shape[0]))
    for _ in range(10):
        sink.write(cat)
    sink.close()
    assert main(["--source", str(tmp_path / "cat.mp4"), "--model", str(mask_model), "--no-display"]) == 0
    assert "[INFO] 0 people seen, 0 without a mask" in capfd.readouterr().out


def test_ctrl_c_still_writes_the_summary(tmp_path, clip, mask_model):
    table, summary = tmp_path / "faces.csv", tmp_path / "people.csv"
    # Ctrl-C only once the partial table holds a face: 1.5 s on a loaded machine could pass before the first one.
    def a_face_written():
        return any(len(p.read_text().splitlines()) > 1 for p in tmp_path.glob(".*") if p.is_file())

    code, stderr = interrupt_video_run("--source", clip, "--model", mask_model, "--csv", table, "--summary", summary,
                                       after=0.5, until=a_face_written)
    assert code == 130 and "Traceback" not in stderr, stderr
    rows, people = read_csv(table), read_csv(summary)
    assert people and sum(int(p["frames"]) for p in people) == len(rows)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temp file left behind"


@pytest.mark.parametrize("command, message", [("no_such_command_facekit --now", "command not found"),
                                              ("/nonexistent/alert.sh", "does not exist"),
                                              ("{no_hash_bang}", "is neither a program nor a script with a #! line")])
def test_alert_that_cannot_run_fails_before_the_video_starts(tmp_path, clip, mask_model, capfd, command, message):
    """A script without a #! line (it runs from a terminal, whose shell runs it) failed at every alert, a [WARN] line
    each ("could not start: Exec format error"), while the video went on."""
    scripts = tmp_path / "bin"
    scripts.mkdir()
    (scripts / "on_no_mask.sh").write_text('notify-send "No mask: track $FACEKIT_TRACK_ID"\n')
    (scripts / "on_no_mask.sh").chmod(0o755)
    summary = tmp_path / "people.csv"
    started = time.monotonic()
    code = main(["--source", str(clip), "--model", str(mask_model), "--no-display", "--summary", str(summary),
                 "--alert", command.format(no_hash_bang=scripts / "on_no_mask.sh")])
    captured = capfd.readouterr()
    assert code == 2 and message in one_error_line(captured.err) and "--alert" in captured.err
    assert "loading" not in captured.out and "starting video stream" not in captured.out
    assert time.monotonic() - started < 5 and [p.name for p in tmp_path.iterdir()] == ["bin"]


def test_alert_without_a_mask_head_is_one_line(tmp_path, clip, capfd):
    from facekit.heads import available_tasks

    if "emotion" not in available_tasks():
        pytest.skip("no emotion model to run without a mask head")
    code = main(["--source", str(clip), "--tasks", "emotion", "--no-display", "--max-frames", "5",
                 "--alert", sys.executable])
    captured = capfd.readouterr()
    assert code == 2 and "needs a mask head" in one_error_line(captured.err)
    assert "starting video stream" not in captured.out


def test_readme_join_table_names_and_rounds_as_the_outputs_do():
    """A data engineer joining the image JSON, the video CSV, --summary and the batch Parquet had no word of how
    their names map onto each other or how each rounds (a photo's score 0.794702 in the JSON, 0.7947 in its
    Parquet row): README's table says so, and is held here to what the writers write."""

    import numpy as np

    from facekit.records import csv_columns, csv_row
    from facekit.types import Pose

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("**One table from every output.**"):readme.index("**On a cluster.**")]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| quantity")]
    assert len(rows) >= 12
    emotions = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    labels = {"mask": MASK, "emotion": emotions}
    probs = np.array([0.0123456789, 0.0234567891, 0.0345678912, 0.612345678, 0.1456789123, 0.0567891234, 0.0])
    probs[-1] = 1 - probs.sum()
    emotion = Prediction.from_probabilities(emotions, probs)
    mask = Prediction.from_probabilities(MASK, np.array([0.123456789, 0.876543211]))
    mesh = np.array([[100.123456, 50.654321]] * 468)
    face = Face(Box(10, 20, 110, 140), 0.123456789, {"mask": mask, "emotion": emotion}, landmarks=mesh,
                keypoints={"nose_tip": (100.123456, 50.654321)}, pose=Pose(12.3456789, -3.4567891, 1.2345678),
                measures={"eye_openness": 0.23456789, "mouth_openness": 0.03456789}, track_id=3)
    record, row = face.to_dict(), csv_row(7, 1.23456789, face, labels)
    people = PeopleSummary(labels)
    people.add(7, 1.23456789, [face])
    summary = people.rows()[0]
    values = {  # (quantity, output column) -> what that output writes for it
        ("detector score", 1): record["score"], ("detector score", 2): row["score"],
        ("a head's class probability", 1): record["emotion"]["probabilities"]["happy"],
        ("a head's class probability", 2): row["emotion_happy"],
        ("a head's class probability", 3): summary["emotion_prob"],
        ("the label's probability", 1): record["emotion"]["score"],
        ("emotion intensity", 1): record["emotion_intensity"], ("emotion intensity", 2): row["emotion_intensity"],
        ("emotion intensity", 3): summary["emotion_intensity"],
        ("pose, degrees", 1): record["pose"]["yaw"], ("pose, degrees", 2): row["yaw"],
        ("openness", 1): record["measures"]["eye_openness"], ("openness", 2): row["eye_openness"],
        ("key points, mesh", 1): record["keypoints"]["nose_tip"][0],
        ("time, seconds", 2): row["time_s"], ("time, seconds", 3): summary["first_s"],
    }
    checked = set()
    for cells in rows:
        for column, cell in enumerate(cells[1:], 1):
            if (m := re.search(r"\((\d) decimals?\)", cell)) is None:
                continue
            key, places = (cells[0], column), int(m.group(1))
            assert key in values, f"README states a rounding nothing checks: {key}"
            value = values[key]
            assert value == round(value, places) != round(value, places - 1), (key, value, places)
            checked.add(key)
    assert checked == set(values)
    assert record["landmarks"][0][0] == 100.1
    # Every column the table names is one the CSV / Parquet and the summary write.
    names = {n for cells in rows for n in re.findall(r"`([a-z_0-9]+)`", cells[2])}
    assert names <= set(csv_columns(labels, pose=True, measures=("eye_openness", "mouth_openness"))) | {"source"}
    assert {n for cells in rows for n in re.findall(r"`([a-z_0-9]+)`", cells[3])} <= set(people.columns())
    assert {"x1", "yaw", "eye_openness", "emotion_eyes_only", "track_id"} <= names


def test_an_alert_not_found_from_cron_says_where_it_was_looked_for(tmp_path, monkeypatch):
    # cron's PATH is /usr/bin:/bin and a systemd service starts in /: a notifier in /usr/local/bin, or one named
    # relative to the project, found from a terminal, was "command not found: notify (not on PATH)" and
    # "scripts/alert.sh does not exist" there, with nothing to say why.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    notify = bin_dir / "notify"
    notify.write_text("#!/bin/sh\n")
    notify.chmod(0o755)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FacekitError) as err:
        parse_alert_command("notify 'No mask'")
    assert str(err.value) == ("--alert: command not found: notify (not on PATH, which is /usr/bin:/bin: name it by "
                              "its absolute path)")
    with pytest.raises(FacekitError) as err:
        parse_alert_command("scripts/alert.sh")
    assert str(err.value) == f"--alert: scripts/alert.sh does not exist (looked for in the current folder, {tmp_path})"
    assert parse_alert_command(f"{notify} 'No mask'") == [str(notify), "No mask"]
