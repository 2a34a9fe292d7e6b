"""Soft labels: per-file vote counts (Microsoft's FER+ re-annotation of FER2013) as training targets.

FER2013's folder labels are one annotator's guess; FER+ asked ten people per image, and their majority
disagrees with the folder label on a third of the images. Training to the distribution of their votes
(cross-entropy to the normalised votes) teaches the ambiguity instead of a coin flip. The CSV has a
`file` column (relative to the CSV's folder), one count column per class, and optionally the
plurality label; FER+'s own names map onto facekit's seven emotion classes, and its contempt / unknown
/ not-a-face votes are dropped (no such class here).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DatasetError

# FER+ vote column -> facekit class (None: dropped)
FERPLUS_COLUMNS = {"neutral": "neutral", "happiness": "happy", "surprise": "surprise", "sadness": "sad",
                   "anger": "angry", "disgust": "disgust", "fear": "fear",
                   "contempt": None, "unknown": None, "NF": None}
LABEL_COLUMN = "ferplus_label"
OTHER_COLUMNS = ("fer2013_row",)  # known, not used


@dataclass
class SoftLabels:
    csv: Path
    votes: dict[str, np.ndarray]  # resolved file path -> votes per training class (float, labels order)
    majority: dict[str, str]  # resolved file path -> plurality label as written (may be a dropped class)
    columns: dict[str, str | None]  # vote column -> class it counts for (None: dropped)


def read_soft_labels(path: Path, labels: list[str]) -> SoftLabels:
    """Read and check the whole CSV before any training: a missing file, an unknown column, a vote that is
    not a non-negative number or a row with no votes at all is one error naming the row."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"--soft-labels {path}: no such file")
    raw = path.read_bytes()
    # A spreadsheet's "CSV UTF-8" export starts with a byte-order mark, which made the first column '\ufefffile'
    # and the whole file "needs a 'file' column".
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        # Decoded whole, not as the reader goes: a stream fails a chunk ahead of the row being read, and the
        # error was a traceback. A file name with an accent, saved as Latin-1, is the usual cause.
        row_no = raw.count(b"\n", 0, e.start) + 1
        raise DatasetError(f"--soft-labels {path} row {row_no}: byte {raw[e.start]:#04x} is not UTF-8 text; save "
                           f"the CSV as UTF-8") from None
    with io.StringIO(text, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header:
            raise DatasetError(f"--soft-labels {path}: the file is empty (it needs a header row and one row per file)")
        if "file" not in header:
            raise DatasetError(f"--soft-labels {path} row 1: the header needs a 'file' column (got {header})")
        columns: dict[str, str | None] = {}
        for name in header:
            if name == "file" or name == LABEL_COLUMN or name in OTHER_COLUMNS:
                continue
            if name in labels:
                columns[name] = name
            elif name in FERPLUS_COLUMNS:
                columns[name] = FERPLUS_COLUMNS[name]
            else:
                raise DatasetError(f"--soft-labels {path} row 1: unknown column {name!r} (expected file, "
                                   f"{LABEL_COLUMN}, the classes {labels} or FER+'s {list(FERPLUS_COLUMNS)})")
        unmapped = sorted({c for c in columns.values() if c is not None} - set(labels))
        if unmapped:
            raise DatasetError(f"--soft-labels {path}: vote columns for {unmapped}, which are not training classes "
                               f"{labels}")
        if not any(columns.values()):
            raise DatasetError(f"--soft-labels {path} row 1: no vote column for any of the classes {labels}")
        # A class no column votes for can never be a target: its folder's files all land in the other classes,
        # and the run failed only after loading every image ("every class needs at least 3 images").
        unvoted = [lab for lab in labels if lab not in columns.values()]
        if unvoted:
            ferplus = sorted(name for name, lab in FERPLUS_COLUMNS.items() if lab in unvoted)
            named = "a column named as the class" + (f", or FER+'s {ferplus}" if ferplus else "")
            raise DatasetError(f"--soft-labels {path} row 1: no vote column for the class(es) {unvoted} ({named}; "
                               f"got {header})")
        col_idx = {name: header.index(name) for name in columns}
        file_idx = header.index("file")
        label_idx = header.index(LABEL_COLUMN) if LABEL_COLUMN in header else None
        votes, majority = {}, {}
        row_of: dict[str, int] = {}
        for row_no, row in enumerate(reader, start=2):
            if not row:
                continue
            where = f"--soft-labels {path} row {row_no}"
            if len(row) != len(header):
                raise DatasetError(f"{where}: {len(row)} fields, the header has {len(header)}")
            file = (path.parent / row[file_idx]).resolve()
            if not file.is_file():
                raise DatasetError(f"{where}: file {row[file_idx]} not found (looked in {path.parent})")
            # A second row for a file replaced the first without a word (two CSVs joined, a row pasted twice):
            # which votes a face is trained on then depends on the row order.
            first = row_of.setdefault(str(file), row_no)
            if first != row_no:
                raise DatasetError(f"{where}: file {row[file_idx]} again, as in row {first}: keep one row per file")
            counts = {}
            for name, i in col_idx.items():
                try:
                    counts[name] = float(row[i])
                except ValueError:
                    raise DatasetError(f"{where}: {name} = {row[i]!r} is not a number") from None
                # float() takes "nan" and "inf": nan was called negative, and inf passed and made the targets NaN.
                if not math.isfinite(counts[name]):
                    raise DatasetError(f"{where}: {name} = {row[i]} is not a finite number")
                if counts[name] < 0:
                    raise DatasetError(f"{where}: {name} = {row[i]} is negative")
            if sum(counts.values()) == 0:
                raise DatasetError(f"{where}: every vote is zero")
            v = np.zeros(len(labels), dtype=np.float32)
            for name, n in counts.items():
                target = columns[name]
                if target is not None:
                    v[labels.index(target)] += n
            votes[str(file)] = v
            if label_idx is not None:
                majority[str(file)] = row[label_idx]
    if not votes:  # a header alone: every image was loaded before "no row matches any dataset file"
        raise DatasetError(f"--soft-labels {path} row 2: no rows after the header (one row of votes per file)")
    return SoftLabels(path, votes, majority, columns)


def apply_soft_labels(paths: list[str], labels: list[str], soft: SoftLabels, source: str):
    """Targets for each example. Returns (keep indices, hard labels, distributions or None, drop counts).

    source="votes": the normalised votes over the training classes (hard label: the plurality label
    where it is a training class, else the most-voted training class); "majority": the plurality label
    alone. Files without a row, rows with votes only for dropped classes, and (majority) rows whose
    plurality is a dropped class are left out and counted."""
    if source == "majority" and not soft.majority:
        raise DatasetError(f"--label-source majority: {soft.csv} has no {LABEL_COLUMN} column")
    keep, hard, dist = [], [], []
    dropped = {"no row in the CSV": 0, "votes only for dropped classes": 0, "plurality is not a training class": 0}
    cache: dict[str, str] = {}
    for i, p in enumerate(paths):
        key = cache.setdefault(p, str(Path(p).resolve()))
        v = soft.votes.get(key)
        if v is None:
            dropped["no row in the CSV"] += 1
            continue
        if v.sum() == 0:
            dropped["votes only for dropped classes"] += 1
            continue
        plural = soft.majority.get(key)
        if plural is not None and plural not in labels:
            plural = FERPLUS_COLUMNS.get(plural, plural)  # FER+'s own names too
        if source == "majority" and plural not in labels:
            dropped["plurality is not a training class"] += 1
            continue
        keep.append(i)
        hard.append(labels.index(plural) if plural in labels else int(v.argmax()))
        dist.append(v / v.sum())
    return (np.array(keep, dtype=np.int64), np.array(hard, dtype=np.int64),
            np.stack(dist) if source == "votes" and dist else None, dropped)
