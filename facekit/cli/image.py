"""detect_mask_image.py: find every face in a photo (or a folder of photos) and label it with
every trained head; draw the result and write JSON."""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import shlex
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from ..errors import NAME_MAX, FacekitError, ImageError, ImageNotFoundError, counted, one_line, out_of_memory
from ..errors import shown as printable
from ..metadata import photo_metadata, with_metadata
from ..preprocess import (RAW_EXTENSIONS, RAW_HINT, folder_files, is_image_path, load_image, natural_key,
                          recursive_hint, rotate_clockwise, special_kind)
from ..records import (TEMP_SUFFIX, CutShort, MadeFolders, append_lines, atomic_write, failed_record, file_identity,
                       image_record, is_device, is_stdout, partial_name, sweep_stale, write_json)
from .common import (READER_GONE, WRITE_ERRNOS, ArgumentParser, add_pipeline_options, add_version, build_pipeline,
                     check_output_path, detector_given, example_command, exit_status_help, guarded, has_display, info,
                     one_file, out_of_memory_line, prog_name, progress_bar, reader_gone, refuse_overwriting,
                     report_landmarks, results_to_stdout, say, say_commercial_use, say_non_commercial, sibling_command,
                     warn, where, window_title)


class _AsTyped(type(Path())):  # type: ignore[misc]  # PosixPath / WindowsPath: Path itself cannot be subclassed
    """A web address given to -i, printed as typed: Path() folds its "//" ("https://x.org/a.jpg" was named
    "https:/x.org/a.jpg" in the [ERROR] / [WARN] line and in its JSON record's "image", which says "as typed")."""
    typed: str | None = None  # paths derived from it (.parent, ...) print as paths do

    def __str__(self) -> str:
        return self.typed if self.typed is not None else super().__str__()


def _image_arg(text: str) -> Path:
    path = Path(text)
    if "://" in text and str(path) != text:
        path = _AsTyped(text)
        path.typed = text
    return path


def build_parser() -> argparse.ArgumentParser:
    run = example_command("detect_mask_image.py")
    p = ArgumentParser(
        prog=prog_name("detect_mask_image.py"),
        description="Detect faces in still images and classify each one (mask, emotion, gender, ...).\n"
                    "Many commands in a row: start `python -m facekit serve` once, and each command after it\n"
                    "skips loading the models (README: Many photo commands in a row).",
        epilog="examples:\n"
               f"  {run} --image photo.jpg --output annotated.jpg\n"
               f"  {run} -i photos/ --output annotated/ --json faces.jsonl --no-display\n"
               f"  {run} -i crops/ --crops --json scores.jsonl\n"
               + exit_status_help("some photos could not be read: the others are done, a [WARN] line (and a JSON "
                                  "line with \"error\") names each"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    # extend: `-i a.jpg -i b.jpg` (a script adding one -i per folder) ran b.jpg alone, a.jpg dropped without a word
    p.add_argument("-i", "--image", nargs="+", action="extend", required=True, type=_image_arg, metavar="PATH",
                   help="image file(s) or folder(s) of images (or --image given again); - reads one photo piped "
                        "in on standard input")
    # A str, made a Path in main(): Path("out/") drops the separator that says "a folder".
    p.add_argument("-o", "--output",
                   help="annotated image (one input), or folder for annotated images (several inputs, or one "
                        "input with a folder that exists or a name ending in /)")
    p.add_argument("-j", "--json", type=one_file("--json", "faces.jsonl"),
                   help="write results: JSON for one image, JSON Lines (one record per image) for several or "
                        "for a name ending in .jsonl, into one file (not a folder); - for standard output (always "
                        "JSON Lines)")
    p.add_argument("--no-display", action="store_true", help="never open a window")
    p.add_argument("--crops", action="store_true",
                   help="inputs are face crops: skip detection and classify each whole image as one face")
    p.add_argument("--recursive", action="store_true", help="look into sub-folders of folder inputs")
    p.add_argument("--fast", action="store_true",
                   help="one detection pass per photo (a second, turned upright, where a face lies on its side): "
                        "no upscaled pass for small faces, no full-resolution tiles on photos over 1280 px (several "
                        "times faster on big photos; finds fewer small faces)")
    p.add_argument("--keep-exif", action="store_true",
                   help="copy each photo's EXIF (camera, lens, exposure, date, and its serial number and owner "
                        "where the camera wrote them) into its annotated JPEG, PNG or WebP, without its GPS position "
                        "and thumbnail, Orientation set to upright. Without it no EXIF is copied, so a shared "
                        "annotated photo tells nothing of where it was taken; the colour profile (ICC) is always kept")
    add_pipeline_options(p)
    add_version(p)
    return p


Skipped = list[tuple[Path, "Path | None"]]  # a file left out, and the photo it is the same file as (or None)


def gather_inputs(paths: list[Path], recursive: bool, exclude: Path | None = None, wanted=None,
                  name_of=None, spare: int = 0) -> tuple[list[Path], list[Path], Skipped, bool]:
    """Expand folders; return (images, each one's file name under an --output folder, the files skipped, whether
    this is a batch run). A skipped file comes with the photo it is the same file as (a link to it, or met
    twice through the inputs given: it is read once, under the first name met), or None: not an image. A
    folder's images keep their place under it (their sub-folders, with --recursive), so two photos of one name
    in two sub-folders get two annotated images; a name two inputs still share gets _2, _3, ... Files under
    `exclude` (an --output folder inside an input folder) are left out: a second run must not annotate the
    first run's annotated images.
    wanted: which of a folder's files are inputs (default: images); name_of: an input's output name from its name
    under its folder, before _2, _3, ... (default: the annotated image's: a HEIC photo's .jpg, ...). The video
    command's folder run gives its clips' names here; spare: bytes an output's ending may add over the name's
    suffix (the video's NAME.timeline.png over NAME.csv), left free so that no output's name is cut again."""
    wanted = wanted or is_image_path
    images: list[Path] = []
    names: list[Path] = []
    skipped: Skipped = []
    batch = len(paths) > 1
    excluded = _real(exclude) if exclude is not None else None
    for path in paths:
        if path.is_dir():
            batch = True
            # A named pipe among the photos was left out and counted nowhere: "skipped 0 non-image files".
            specials: list[Path] = []
            found = sorted(folder_files(path, recursive, specials), key=natural_key)
            if excluded is not None and excluded != path.resolve():  # the folder itself: refused later
                found = [f for f in found if not _real(f).is_relative_to(excluded)]
                specials = [f for f in specials if not _real(f).is_relative_to(excluded)]
            skipped += [(f, None) for f in sorted(specials + [f for f in found if not wanted(f)], key=natural_key)]
            found = [f for f in found if wanted(f)]
            images += found
            names += [f.relative_to(path) for f in found]
        else:
            # Missing files are reported by load_image with a clear line, whatever their extension: a missing
            # notes.txt typed beside photos was counted as a "non-image file" and the run ended 0.
            images.append(path)
            names.append(Path(path.name))
    # A link to a photo in its folder (latest.jpg -> img10.jpg), or a sub-folder given beside its --recursive
    # folder, had the photo read twice: its faces counted twice in the totals, two annotated copies.
    first: dict[tuple[int, int], Path] = {}
    distinct: list[tuple[Path, Path]] = []
    repeats: Skipped = []
    for path, name in zip(images, names):
        identity = file_identity(path)
        if identity is not None and identity in first:
            if first[identity] != path:  # the very path typed twice is one photo without a word
                repeats.append((path, first[identity]))
            continue
        if identity is not None:
            first[identity] = path
        distinct.append((path, name))
    images, names = [p for p, _ in distinct], [n for _, n in distinct]
    others: Skipped = []
    seen: set[tuple[int, int] | None] = set()
    for path, _ in skipped:  # a non-image file met twice is named, and counted, once
        identity = file_identity(path)
        if identity is None or identity not in seen:
            seen.add(identity)
            others.append((path, None))
    skipped = others + repeats
    for i, name in enumerate(names if name_of is None else ()):
        if not is_image_path(name):  # a file without an image suffix is read by content; written as PNG
            names[i] = name.with_name(name.name + ".png")
        # Asked by its suffix alone: OpenCV crashes the process on a name that is not UTF-8 (Latin-1 bytes).
        elif not cv2.haveImageWriter("x" + name.suffix):  # read but not written by OpenCV (HEIC): a JPEG beside them
            names[i] = name.with_suffix(".jpg")
        elif name.suffix.lower() in GRAY_ONLY:  # a scanner's PGM: the drawing is in colour, kept lossless
            names[i] = name.with_suffix(".png")
    if name_of is not None:
        names = [name_of(name) for name in names]
    fitted = [_fitted(name, spare=spare) for name in names]
    keys = [name_key(name) for name in fitted]
    # _2, _3, ... go past every photo's own name: a photo named a_2.jpg beside two a.jpg made two outputs of one
    # name, and the whole run was refused.
    taken = set(keys)
    kept: set[str] = set()
    tried: dict[str, int] = {}
    for i, (name, key) in enumerate(zip(names, keys)):
        if key not in kept:
            kept.add(key)
            names[i] = fitted[i]
            continue
        n = tried.get(key, 1)  # from the last one given: a thousand photos of one name stay linear
        unique: Path | None = None
        while unique is None or name_key(unique) in taken:
            n += 1
            unique = _fitted(name, f"_{n}", spare)
        tried[key] = n
        taken.add(name_key(unique))
        names[i] = unique
    return images, names, skipped, batch


def name_key(name: Path) -> str:
    """`name` as a file system that ignores case and Unicode normalization (macOS, Windows) tells names apart.
    macOS keeps a name as it came (an accent decomposed, e + U+0301, from an older disk or an app that writes NFD,
    the typed one composed) but opens either for both: two photos named cafe\u0301.jpg and caf\u00e9.jpg in two folders
    got that one annotated image on a Mac, the second written over the first."""
    import unicodedata

    return unicodedata.normalize("NFC", str(name)).lower()


def _others(skipped: Skipped) -> str:
    """What a folder without a photo holds instead, for its "no images found" line: "3 .CR2, 3 .xmp"."""
    kinds = collections.Counter(path.suffix or "(no extension)" for path, same in skipped if same is None)
    if not kinds:
        return ""
    raw = any(kind.lower() in RAW_EXTENSIONS for kind in kinds)
    return (f": it holds {', '.join(f'{n} {kind}' for kind, n in kinds.most_common())}"
            + ("; camera RAW files are not read: export them as JPEG or TIFF" if raw else ""))


# Formats OpenCV writes gray only: an annotated image (in colour) of such a photo takes a PNG of its name.
GRAY_ONLY = {".pgm", ".pbm"}
# JPEG under names facekit reads as JPEG (preprocess.IMAGE_EXTENSIONS) but OpenCV's encoder may not know (.jfif):
# one photo's -o of such a name was refused. Folder runs still name those photos' annotated images .jpg.
JPEG_NAMES = {".jfif": ".jpg", ".jpe": ".jpg"}


def _fitted(name: Path, tag: str = "", spare: int = 0) -> Path:
    """`name` with `tag` after its stem, the stem cut so that the file name stays within NAME_MAX - `spare` bytes:
    a photo's name of 250 bytes with .png or _2 added ended a folder run in a traceback, its JSON Lines lost."""
    stem, room = name.stem, NAME_MAX - spare - len(os.fsencode(tag + name.suffix))
    while len(os.fsencode(stem)) > room:
        stem = stem[:-1]
    return name.with_name(stem + tag + name.suffix)


@guarded
def main(argv: list[str] | None = None) -> int:
    with MadeFolders() as made:  # an output folder the run made and left empty is removed, however it ends
        return _main(argv, made)


def _main(argv: list[str] | None, made: MadeFolders) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.crops and args.landmarks:  # the mesh and the pose follow a detected face; --crops detects none
        parser.error("--landmarks needs detected faces: leave out --crops")
    if args.crops:
        # No detector runs on crops: these changed nothing, without a word (-c 0.9 kept every crop, at score 1).
        unused = [flag for flag, given in (("--detector", detector_given(args)),
                                           ("--confidence", args.confidence is not None), ("--fast", args.fast))
                  if given]
        if unused:
            warn(f"{', '.join(unused)} {'sets' if len(unused) == 1 else 'set'} how faces are detected, and --crops "
                 "detects none (each whole image is one face): ignored")
    if is_stdout(args.output):  # `-j -` means standard output; `-o -` made a folder named "-"
        parser.error("--output -: annotated images are not sent to standard output; name an image file or a "
                     "folder (-j - sends the results there)")
    if is_stdout(args.json):  # `-j -`: the JSON for a pipe, everything else to standard error
        results_to_stdout()
    args.image = _stdin_photo(args.image, parser)
    # `-o annotated/` or an existing folder with one photo was refused ("give the annotated image a name", "is a
    # folder"): for one photo as for many it means "write into this folder", under the photo's name. A folder
    # named like an image (`-o out.png`, a folder of that name in the way) is still refused: the name says a file.
    named_folder = args.output is not None and args.output.endswith(tuple({os.sep, os.altsep or os.sep}))
    args.output = Path(args.output) if args.output is not None else None
    folder_out = args.output is not None and (named_folder or not (args.output.suffix
                                                                   and is_image_path(args.output)))
    images, names, skipped, batch = gather_inputs(args.image, args.recursive,
                                                  exclude=args.output if folder_out else None)
    if args.json is not None and not is_stdout(args.json):
        # `-i photos -j photos/faces.jsonl`: the next run named the last one's results "skipped ...: not an image
        # file" and counted them among the folder's non-image files.
        own = {_real(path) for path in (args.json, partial_name(args.json))}
        skipped = [(path, same) for path, same in skipped if same is not None or _real(path) not in own]
    if args.recursive and folder_out and args.output.is_dir():
        # `-i photos -o photos/Edited --recursive`, Edited the user's own: its photos were left out without a word,
        # as an earlier run's annotated images are, and the annotated images went in among them.
        out = args.output.resolve()
        inside = [folder for folder in args.image if folder.is_dir() and out.is_relative_to(folder.resolve())
                  and out != folder.resolve()]
        left = sum(map(is_image_path, folder_files(args.output, recursive=True))) if inside else 0
        if left:
            info(f"left out {printable(str(args.output))}, the --output folder inside {printable(str(inside[0]))}: "
                 f"{counted(left, 'image')} in it not read (an earlier run's annotated images?)")
    if not images:
        raise ImageError(f"no images found in {' '.join(map(str, args.image))}"
                         + (recursive_hint(args.image, args.recursive) or _others(skipped)))
    for folder in [] if args.recursive else args.image:
        # `-i archive/2020 archive/2019/best.jpg`, 2020's photos all in month folders: it was left out unsaid.
        if not folder.is_dir():
            continue
        if not any(map(is_image_path, folder_files(folder))) and recursive_hint([folder], False):
            warn(f"{folder}: left out, its photos are in its sub-folders: add --recursive")
        elif _photos_below(folder, args.output if folder_out else None):
            # A photographer's photos/ with 14 photos and 40 more in day folders said "14 images" and nothing of
            # the 40, as if the folder held no more.
            info(f"{printable(str(folder))}: its sub-folders' photos are not read: add --recursive")
    into_folder = batch or folder_out and (named_folder or args.output.is_dir())
    if not batch and into_folder:
        check_output_path(args.output, "--output", folder=True)
        args.output = args.output / names[0]
        annotated = [args.output]
    elif not batch:
        check_output_path(args.output, "--output")
        if args.output is not None:
            if not args.output.suffix:
                # `-o /dev/null` was offered "/dev/null/" as a folder to write into: one that is there, a file or a
                # device, cannot become a folder, so only the name is asked for.
                there = special_kind(args.output) or ("a file" if args.output.is_file() else None)
                if there:
                    raise FacekitError(f"--output {args.output} is {there}: an annotated image needs a file name "
                                       "with its extension, like result.png (leave --output out to write none)")
                raise FacekitError(f"--output {args.output}: give the annotated image a name like result.png, or "
                                   f"{args.output}{os.sep} to write it into that folder under the photo's name")
            _encode(args.output.suffix.lower(), np.zeros((2, 2, 3), np.uint8))  # fail before any work
        annotated = [args.output]
    elif args.output is not None:
        if not folder_out:
            raise FacekitError(f"--output {args.output}: a folder of photos or several photos need an output "
                               "folder (a name without an image extension)")
        check_output_path(args.output, "--output", folder=True)
        annotated = [args.output / name for name in names]
    else:
        annotated = []
    out_folder = (args.output if batch else args.output.parent) if into_folder and args.output else None
    if (out_folder is not None and args.json is not None and not is_stdout(args.json) and not out_folder.exists()
            and args.json.absolute().parent == out_folder.absolute()):
        # `-o annotated/ -j annotated/faces.jsonl` was "--json folder does not exist" of the folder the run makes
        # for its annotated images: made now (checked above), so the results go in beside them.
        made.make(out_folder)
    check_output_path(args.json, "--json")
    if args.json is not None and args.json.suffix.lower() in (".csv", ".tsv", ".xlsx"):
        # `-j counts.csv`, a user after a table, got JSON Lines under a .csv name that a spreadsheet shows as one
        # column of braces, and nothing said so.
        raise FacekitError(f"--json {args.json}: --json writes JSON, not {args.json.suffix[1:].upper()}: name it "
                           f"{args.json.with_suffix('.jsonl').name} (pandas.read_json(..., lines=True) reads it as "
                           "a table of one row per photo)")
    refuse_overwriting(images, [("--output", annotated, "folder" if into_folder else "file"),
                                ("--json", [args.json], "file")])
    if args.json is not None and args.json.suffix.lower() not in ("", ".json", *JSON_LINES_SUFFIXES) \
            and not is_stdout(args.json) and not is_device(args.json):
        # `-j notes.txt` replaced the user's notes with JSON, exit 0, as the video script's `--csv notes.txt` did: a
        # name whose extension is not JSON's is not taken to be a JSON file's to replace.
        raise FacekitError(f"--json {args.json}: writes JSON, and {args.json.suffix} is not .json or .jsonl (a "
                           f"file there would be replaced by the results): name it "
                           f"{args.json.with_suffix('.jsonl' if batch else '.json').name}")
    if batch and not (args.output or args.json):
        info("no --output or --json: the faces are only counted (add -o FOLDER or -j FILE to keep them)")

    # One photo is read before the models load (~1 s): a missing or broken one was named only after
    # "loading face detector model..." and, with the default detector, its non-commercial [INFO] line.
    image = None if batch else _read_single(images[0], args.rotate or 0)
    from ..heads import check_models_folder

    check_models_folder()
    info("loading face detector model..." if not args.crops else "loading models...")
    pipeline = build_pipeline(args, detector=not args.crops, fine_pass=not args.fast)
    if args.commercial_use:
        say_commercial_use(None if args.crops else args.detector, pipeline.heads, pipeline.withheld,
                           bool(args.landmarks))
    else:
        say_non_commercial(None if args.crops else args.detector, pipeline.heads)
    if not pipeline.heads and not pipeline.withheld:  # heads left out for commercial use were named above
        warn("no trained heads found: faces are found but not classified (train one with train_mask_detector.py)")
    from ..drawing import Style, annotate

    style = Style.from_heads(pipeline.heads, args.landmarks)

    if not batch:
        code = _single(args, images[0], image, pipeline, style, annotate, made, into_folder)
    else:
        code = _batch(args, images, names, skipped, pipeline, style, annotate, made)
    report_landmarks(pipeline)
    return code


def _real(path: Path) -> Path:
    """`path` with its links followed, as far as they go: a link in a folder that loops (self.jpg -> self.jpg)
    made Python 3.11's Path.resolve() raise "RuntimeError: Symlink loop", a traceback from a folder run; such a
    link is read as a photo, and fails as one, with the others'."""
    return Path(os.path.realpath(path))


def _photos_below(folder: Path, exclude: Path | None) -> bool:
    """Whether a sub-folder of `folder` holds a photo, one under `exclude` (an --output folder in it) aside."""
    excluded = _real(exclude) if exclude is not None else None
    return bool(recursive_hint([folder], False, lambda f: f.parent != folder and is_image_path(f) and (
        excluded is None or not _real(f).is_relative_to(excluded))))


STDIN = Path("/dev/stdin")


def _stdin_photo(paths: list[Path], parser) -> list[Path]:
    """`-i -`, a photo piped in (`curl -s URL | ... -i - -j -`), as /dev/stdin: read as any pipe is (load_image),
    named in the outputs as the command's other photos are. It was "-: no such file", where `-j -` writes to a pipe."""
    if Path("-") not in paths:
        return paths
    if len(paths) > 1:
        parser.error("--image -: standard input holds one photo; give it alone")
    if sys.stdin is None or sys.stdin.isatty():  # a terminal's: the command would wait for typed bytes
        raise FacekitError("--image - reads a photo piped in (cat photo.jpg | ... --image -), and standard input is "
                           + ("closed" if sys.stdin is None else "a terminal"))
    if special_kind(STDIN) == "a device":  # cron's, nohup's: `< /dev/null`, of which nothing comes
        raise FacekitError("--image - reads a photo piped in (cat photo.jpg | ... --image -), and standard input is "
                           "a device (/dev/null?)")
    if not STDIN.exists():  # Windows
        raise FacekitError("--image -: standard input cannot be read as a file here; save the photo, give its path")
    return [STDIN]

def _read(path: Path, rotate: int = 0):
    """load_image, with what OpenCV's decoders print themselves held back: a photo cut short got their lines
    ("libpng error: PNG input buffer is incomplete", "[ERROR:0@0.27] global loadsave.cpp:1409 imdecode_ ...",
    libtiff's) on standard error besides the script's own [WARN] or [ERROR] line, which says the same."""
    from ..runtime import native_stderr

    try:
        with native_stderr(drop_all=True):
            return rotate_clockwise(load_image(path), rotate)  # --rotate: after its EXIF turn, as video's flag
    except ImageNotFoundError:
        raise
    except ImageError:
        from ..batch import VIDEO_EXTENSIONS

        if path.suffix.lower() not in VIDEO_EXTENSIONS or not path.is_file():
            raise
        # `-i clip.mp4` was "not a readable image (corrupt or unsupported format)": a sound video, read as a
        # broken photo, and no word of the command that reads it.
        video = sibling_command("detect_mask_image.py", "detect_mask_video.py")
        raise ImageError(f"{path}: a video, not a photo: {video} --source {shlex.quote(str(path))} reads it") from None


def _analyze(pipeline, image, args):
    """The photo's faces; one given no --rotate is searched turned too where it shows none or only weak ones
    (FaceAnalyzer.analyze): `turned` on the result says where they were found."""
    if args.crops:
        return [pipeline.classify_whole(image)]
    return pipeline.analyze(image, rotate=None if args.rotate is None else 0)


def _turned(faces) -> dict:
    """The record's `turned` (degrees clockwise), where the photo's faces were found with it turned: absent else."""
    turned = getattr(faces, "turned", 0)
    return {"turned": turned} if turned else {}


def _turned_note(faces) -> str:
    """What a photo's face line adds where its faces were found with it turned: how it lies, and the --rotate that
    writes it upright (its boxes and annotated image stay the photo's as read)."""
    turned = getattr(faces, "turned", 0)
    if not turned:
        return ""
    lies = "upside down" if turned == 180 else "on its side"
    return f", found turned {turned} degrees clockwise ({lies}: --rotate {turned} writes it upright)"


def _summary(faces, pipeline, image) -> str:
    from ..drawing import _percent  # as the picture writes it: "100.0%" here beside its "99.99%" for 0.99998

    parts = []
    for f in faces:
        labels = ", ".join(f"{t}={p.label} ({_percent(p.score, 1)}%"
                           + (", eyes only)" if t == "emotion" and f.emotion_eyes_only else ")")
                           for t, p in f.predictions.items())
        # A 13 px face read "mask=without_mask (99.2%)" alone: nothing said why emotion and gender were missing.
        labels = "; ".join(filter(None, (labels, pipeline.why_unlabelled(image, f))))
        # --help offers --landmarks for "landmarks and head pose", yet a run without --json printed no angle:
        # a user asking for obama.jpg's pose saw only "landmarks on 1 of 1 face(s)".
        pose = f"; pose {f.pose} (degrees)" if f.pose is not None else ""
        parts.append(f"  face {f.box.as_list()} score {f.score:.2f}" + (f": {labels}" if labels else "") + pose)
    return "\n".join(parts)


JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")


def photo_window_title(path: Path) -> str:
    """The photo window's title, as the video's: which photo, and that any key (or the window's close button) ends
    the wait."""
    return window_title(path.name, "any key closes")


def _stated_size(path: Path, rotate: int = 0) -> tuple[int, int] | None:
    """The (width, height) a photo that could not be read states in its header (a download cut short, one over the
    pixel limit), turned as it would have been read: its EXIF orientation, then --rotate. None where it states none."""
    from ..preprocess import exif_orientation, header_size

    if not path.is_file():  # a pipe or a device was read once already: a second read could wait forever
        return None
    try:
        with open(path, "rb") as fh:
            data = fh.read(1 << 20)  # a phone JPEG's frame header follows its EXIF, within the first 64 KiB or so
    except OSError:
        return None
    size = header_size(memoryview(data))
    if size is None:
        return None
    orientation = exif_orientation(io.BytesIO(data))
    # EXIF 5-8 stand the stored picture on its side, as --rotate 90 and 270 do: two such turns cancel out.
    sideways = (orientation in (5, 6, 7, 8)) != (rotate in (90, 270))
    return (size[1], size[0]) if sideways else size


def _read_single(path: Path, rotate: int = 0):
    try:
        return _read(path, rotate)
    except ImageError:
        # README's first command (and the tutorial's) reads examples/, which a fresh checkout does not hold: "no
        # such file" left its reader to find that make demo lays it out.
        if path.parts[:1] == ("examples",) and not Path("examples").exists():
            raise ImageNotFoundError(f"{path}: no such file: examples/ (the tutorial's photos) is laid out here by "
                                     "`make demo` or `python -m facekit.assets fetch --layout .`",
                                     filename=str(path)) from None
        raise


# A photo lying on its side or upside down (its EXIF orientation lost, a camera mounted upside down) said "0 faces"
# and nothing of --rotate: example_03.png upside down gives none, with --rotate 180 its three. Without --rotate such
# a photo is searched each way up (_analyze); `--rotate 0` asks for none, and its line names --rotate.
TURN_HINT = "; on its side or upside down? --rotate 90|180|270 turns a photo clockwise first"


def _turn_hint(args, faces) -> bool:
    """Whether a photo's face line names --rotate: no face found as read, and not searched turned (a crop is no
    search)."""
    return not faces and not args.crops and args.rotate == 0


def _single(args, path: Path, image, pipeline, style, annotate, made: MadeFolders, into_folder: bool = False) -> int:
    faces = _analyze(pipeline, image, args)
    # \xNN for a Latin-1 name, as in the JSON
    info(f"{printable(str(path))}: {counted(len(faces), 'face')}" + _turned_note(faces)
         + (TURN_HINT if _turn_hint(args, faces) else ""))
    if faces:
        say(_summary(faces, pipeline, image))
    reader_left = False
    if args.json:
        try:
            record = image_record(path, image.shape[1], image.shape[0], faces, **_turned(faces))
            if args.json.suffix.lower() in JSON_LINES_SUFFIXES or is_stdout(args.json):
                # A glob that matched one photo (`-i photos/*.jpg -j faces.jsonl`) wrote indented JSON under
                # a .jsonl name, which pandas.read_json(lines=True) and a reader of lines cannot read. Standard
                # output is a stream of a record a line, as a folder's run writes it: a pipe's `while read` or
                # `jq -c` got one photo's record in 40 lines.
                with atomic_write(args.json) as fh:
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            else:
                write_json(args.json, record)
            info(f"results written to {where(args.json)}")
        except BrokenPipeError:  # `-j - | true`: the JSON's reader has gone; the image is still wanted
            reader_gone()
            reader_left = True
    annotated = annotate(image, faces, style, enlarge_small=True, band=args.crops)
    if args.output:
        if into_folder:  # `-o new_folder/`: made as a folder run makes its own
            made.make(args.output.parent)
        # A name nobody typed (the photo's, in that folder): a link there is replaced, as in a folder run, not
        # followed to overwrite whatever file it points to.
        unkept = _write_image(args.output, annotated, follow_links=not into_folder, source=path,
                              keep_exif=args.keep_exif)
        info(f"annotated image written to {printable(str(args.output))}")
        if unkept:
            warn(f"--keep-exif: the photo's EXIF is not in {printable(str(args.output))}: {unkept}")
    if reader_left:
        info(READER_GONE)
    if not args.no_display:
        if has_display():
            from .window import LOST, Window  # here: its subprocess machinery costs a headless command ~10 ms

            # The tutorial's "Output" named neither the photo nor how to leave the window; the video's names q / Esc.
            window = Window(photo_window_title(path))
            try:
                window.show(annotated)
                # A timed wait: Python's signal handlers run between two, so Ctrl-C and SIGTERM end it (in
                # cv2.waitKey(0) they were ignored until a key was pressed). A key or the window closed ends it.
                while (event := window.event(timeout=0.1)) is None:
                    pass
                if event == LOST:  # what there was to write is written: the window alone is gone
                    info(f"the window {'is gone' if window.opened else 'could not be opened'} "
                         f"({window.why_lost()})")
            finally:
                window.close()
        elif not (args.output or args.json):
            info("no display found: use --output / --json to keep the result (or --no-display to silence this)")
    return 0


def say_skipped(skipped: Skipped, why) -> None:
    """An `[INFO] skipped` line for each file a folder run leaves out; why(path): the reason for one that is not
    an input of the command (a met-twice one is said here)."""
    for path, same in skipped:
        special = special_kind(path) if same is None else None
        reason = (f"the same file as {printable(str(same))}, read once" if same is not None
                  else f"{special}, not a file (not read: reading one may never end)" if special else why(path))
        # A Latin-1 name's raw byte made standard output no longer UTF-8 (a reader decoding it failed): \xNN,
        # as in the JSON.
        info(f"skipped {printable(str(path))}: {reason}")


def _batch(args, images: list[Path], names: list[Path], skipped: Skipped, pipeline, style, annotate,
           made: MadeFolders) -> int:
    from tqdm import tqdm

    from ..batch import VIDEO_EXTENSIONS
    from ..signals import DeferredStop, check_stop, exit_status

    # "skipped 3 non-image file(s)" named none: a camera's RAW files, a clip or a typo'd extension among the
    # photos had to be found by hand.
    video = sibling_command("detect_mask_image.py", "detect_mask_video.py")
    # A camera set to RAW+JPEG writes IMG_0001.CR2 beside IMG_0001.JPG: each RAW's line said to export the JPEG
    # that the run was reading.
    twins = {(path.parent, path.stem.lower()): path for path in reversed(images)}

    def why(path: Path) -> str:
        if path.suffix.lower() in VIDEO_EXTENSIONS:
            return f"a video ({video} --source {printable(shlex.quote(str(path)))} reads it)"
        if path.suffix.lower() in RAW_EXTENSIONS:
            twin = twins.get((path.parent, path.stem.lower()))
            return RAW_HINT if twin is None else f"a camera RAW file (not read; {printable(twin.name)} beside it is)"
        return "not an image file (by its extension)"

    say_skipped(skipped, why)
    repeated = sum(same is not None for _, same in skipped)

    failed = n_faces = done = drawn = 0
    exif_unkept: dict[str, list] = {}  # why --keep-exif's EXIF is not in some annotated images -> [a why, images]
    hinted = False  # the --rotate hint, said once a run
    tally: dict[str, collections.Counter] = {}  # task -> label -> faces
    stopped = None  # "interrupted" (Ctrl-C, SIGTERM) or "reader gone" (`-j - | head`)
    # The OSError an annotated image met (a full disk; a FacekitError: its folder gone): it ends the run once the
    # JSON is kept.
    unwritten: OSError | FacekitError | None = None
    cut = CutShort(images)  # a run stopped before its last photo does not replace an earlier run's JSON Lines
    if args.output is not None:
        # The annotated images' temp files that killed runs left: one scan of each folder, not one per photo.
        folders: dict[Path, list] = {}
        for name in names:
            folders.setdefault(args.output / name.parent, []).append((name.name, TEMP_SUFFIX))
        for folder, outputs in folders.items():
            sweep_stale(folder, outputs)

    def skip(path: Path, message: str, size: tuple[int, int] | None) -> OSError | None:
        """A photo that could not be read or done: its line, and its record in the JSON Lines (the disk's refusal
        of that record handed back)."""
        nonlocal failed
        failed += 1
        tqdm.write(f"[WARN] skipped {one_line(message)}", file=sys.stderr)  # as warn() writes it
        # The JSON Lines had no word of it: a script reading them could not tell a photo that failed from one never
        # given, as facekit-batch's status rows tell them apart.
        failure = json.dumps(failed_record(path, message, size), ensure_ascii=False) + "\n"
        return None if out is None else _append_record(out, failure, args.json)

    started = time.perf_counter()
    finishing = DeferredStop()
    # `finishing` exits after the stack: the JSON Lines' rename runs under it too.
    with finishing, contextlib.ExitStack() as stack:
        # JSON Lines go to a temp file renamed into place at the end, so a crash leaves no half file; a
        # Ctrl-C keeps the lines of the photos done, as the video script keeps its frames.
        out = stack.enter_context(atomic_write(args.json, cut=cut)) if args.json else None
        try:
            for path, name in zip(progress_bar(images, desc="[INFO] images", unit="img"), names):
                check_stop()  # one held back below while the last photo was recorded, or one a library swallowed
                image = None
                try:
                    image = _read(path, args.rotate or 0)
                    faces = _analyze(pipeline, image, args)
                    shown = annotate(image, faces, style, enlarge_small=True, band=args.crops) if args.output else None
                except Exception as exc:
                    if isinstance(exc, ImageError) and image is None:
                        message, size = str(exc), _stated_size(path, args.rotate or 0)
                    elif out_of_memory(exc):
                        # One photo too big for the memory left (96 MP under a small board's 1.5 GB) ended the
                        # whole run, the photos after it never read: it is skipped as an unreadable one is.
                        # (Decoding it: the MemoryError names it and its size.)
                        size = _stated_size(path, args.rotate or 0) if image is None else image.shape[1::-1]
                        what = "" if image is None else f"a {image.shape[1]}x{image.shape[0]} px photo"
                        image = None  # its memory back before the next photo is read
                        message = f"{path}: {out_of_memory_line(exc, what)}"
                    else:
                        raise
                    if (unwritten := skip(path, message, size)) is not None:
                        break
                    continue
                # A Ctrl-C while a photo is recorded waits until both outputs have it.
                with DeferredStop() as holding:
                    holding.arm()
                    if shown is not None:
                        target = args.output / name
                        try:
                            made.make(target.parent)  # --recursive: the input's sub-folders
                            unkept = _write_image(target, shown, follow_links=False, sweep=False,  # swept below
                                                  source=path, keep_exif=args.keep_exif)
                            drawn += 1
                            if unkept:
                                # Said once at the end, with the count, not a line per photo among the progress.
                                exif_unkept.setdefault(unkept.split(" (")[0], [unkept, []])[1].append(target)
                        except (OSError, FacekitError) as exc:
                            # A full disk at the Nth image threw away the JSON Lines of the photos before it,
                            # which a Ctrl-C keeps: they are kept (this photo's line not yet written), then it ends.
                            # So does an output folder removed mid-run (FacekitError: records.folder_gone).
                            unwritten = exc
                            break
                    if out is not None:
                        record = image_record(path, image.shape[1], image.shape[0], faces, **_turned(faces))
                        line = json.dumps(record, ensure_ascii=False) + "\n"
                        if (unwritten := _append_record(out, line, args.json)) is not None:
                            break
                    n_faces += len(faces)
                    for face in faces:
                        for task, pred in face.predictions.items():
                            tally.setdefault(task, collections.Counter())[pred.label] += 1
                    done += 1
                # A folder run said only "11 images, 32 faces": which photo held how many took the JSON and a
                # script. The annotated image is named where its name is not the photo's (_2, a HEIC's .jpg).
                renamed = shown is not None and name.name != path.name
                # A crop no head labelled said why in a one-photo run only: a folder of crops (what --crops is
                # for) said "1 face" of a too dark or too small one, and its JSON line has no labels and no reason.
                unlabelled = pipeline.why_unlabelled(image, faces[0]) if args.crops and faces else None
                hint = TURN_HINT if not hinted and _turn_hint(args, faces) else ""
                hinted = hinted or bool(hint)
                with tqdm.external_write_mode():
                    info(f"{printable(str(path))}: {counted(len(faces), 'face')}"
                         + (f", {unlabelled}" if unlabelled else "")
                         + _turned_note(faces)
                         + (f" (annotated image: {printable(str(args.output / name))})" if renamed else "") + hint)
        except KeyboardInterrupt:
            stopped = "interrupted"
        except BrokenPipeError:
            reader_gone()
            stopped = "reader gone"
        # A Ctrl-C or SIGTERM from here on waits until the JSON Lines are in place: raised in their rename, it
        # removed the temp file, every photo's record with it, the run done.
        finishing.arm()
        # Each annotated image is whole and is its photo's: only the JSON Lines fall short.
        cut.cut = stopped is not None or unwritten is not None
        # Raised in here, so no empty JSON Lines file is kept.
        if not done and unwritten is not None:
            raise unwritten
        if not done and stopped == "interrupted":
            raise KeyboardInterrupt
        if not done and stopped is None:
            raise ImageError(f"none of the {len(images)} image(s) could be read")
    if finishing.received and stopped is None:
        stopped = "interrupted"  # once every photo was done: the outputs are whole, the exit status says it came
    if unwritten is not None:
        if args.json:
            info(f"the results of the {counted(done, 'image')} done before it are in {cut.shown(args.json)}")
            if (aside := cut.line([args.json])) is not None:
                info(aside)
        raise unwritten
    secs = time.perf_counter() - started
    info(f"{counted(done, 'image')}, {counted(n_faces, 'face')} in {secs:.1f}s; skipped "
         f"{counted(failed, 'unreadable image')} and {counted(len(skipped) - repeated, 'non-image file')}"
         + (f"; {counted(repeated, 'photo')} met twice, read once" if repeated else "")
         + (f"; {len(images) - done - failed} not reached" if stopped and len(images) > done + failed else ""))
    if n_faces and pipeline.heads:
        # "How many faces with and without masks in this folder" took a JSON file and a script: the run said
        # only how many faces. Faces a head could not read (too small, too dark) are counted too: "291 faces"
        # above "with_mask 122, without_mask 164" left 5 unaccounted for.
        # The task ends in a colon: a head trained from a folder named as one of its classes read "glasses glasses
        # 30, no_glasses 70", and one with a label of two words "three not smiling 3".
        counts = {task: tally.get(task, collections.Counter()) for task in pipeline.heads}
        info("faces per label: " + "; ".join(
            f"{task}: " + ", ".join([f"{label} {n}" for label, n in sorted(c.items())]
                                   + ([f"no label {n_faces - c.total()}"] if c.total() < n_faces else []))
            for task, c in counts.items()))
    # `-j - | head -1` said "results written to standard output" just above "standard output was closed by its
    # reader: stopped there": only the closing line is true then.
    if args.json and done and not (stopped == "reader gone" and is_stdout(args.json)):
        # A folder's records under a .json name (-j results.json) are JSON Lines, which json.load and
        # pandas.read_json without lines=True refuse ("Extra data", "Trailing data"): the line says what they are.
        lines = "" if args.json.suffix.lower() in JSON_LINES_SUFFIXES or is_stdout(args.json) else (
            " as JSON Lines, a record a photo (pandas.read_json(path, lines=True) reads them, json.load does not)")
        info(f"results written to {cut.shown(args.json)}{lines}")
        for said in (cut.line([args.json]), cut.cleared_line([args.json])):
            if said is not None:
                info(said)
    if args.output and drawn:
        pairs = list(zip(images, names))
        renamed = sum(name.stem != path.stem for path, name in pairs)
        unwritable = sorted({(path.suffix, name.suffix) for path, name in pairs
                             if name.stem == path.stem and path.suffix and name.suffix != path.suffix})
        # "(3, named as their photos)": 3 of what, beside "3 images, 2 faces" of the line before.
        info(f"annotated images written to {args.output}/ ({counted(drawn, 'image')}, named as their photos"
             + (f"; {renamed} with _2, _3, ... added: another input has their name" if renamed else "")
             + (f"; {', '.join(f'{old} photos as {new}' for old, new in unwritable)}, which OpenCV can write"
                if unwritable else "") + ")")
    for why, written in exif_unkept.values():
        warn(f"--keep-exif: the photo's EXIF is not in {counted(len(written), 'annotated image')} "
             f"({printable(str(written[0]))}{', ...' if len(written) > 1 else ''}): {why}")
    if stopped == "interrupted":
        print(f"[INFO] interrupted after {done + failed} of {len(images)} images: outputs finalized",
              file=sys.stderr, flush=True)
        return exit_status()
    if stopped == "reader gone":
        info(READER_GONE)
    # As facekit-batch: the run goes on past a photo it cannot read, and the exit status says one failed, so
    # a script running it over a folder learns of it (the [WARN] lines say which).
    return 1 if failed else 0


def _append_record(out, line: str, json_path) -> OSError | None:
    """One photo's JSON line, sent on now; the disk's refusal (full, a quota) is handed back for the run to end
    on, the lines before it kept."""
    try:
        # Each line leaves now: held in the buffer (stdout to a pipe), the lines counted as done were lost with
        # the reader (`-j - | head`), or all of them, silently, at the flush after the loop. A BrokenPipeError
        # (stopped before this photo) goes up: an annotated image already written stays, counted as such.
        append_lines(out, line)
    except BrokenPipeError:
        raise
    except OSError as exc:
        # The JSON Lines' own disk full: every line before was thrown away with the temp file, while an annotated
        # image that could not be written kept them. They are kept as then (append_lines leaves the file at the
        # last whole line), and the run ends here.
        if exc.errno not in WRITE_ERRNOS:
            raise
        if exc.filename is None:
            exc.filename = str(json_path)
        return exc
    return None


def _encode(ext: str, image):
    from ..runtime import native_stderr

    try:
        with native_stderr(drop_all=True):  # OpenCV's own "[ERROR:0@0.6] ... imencode(): can't encode data" line
            ok, buf = cv2.imencode(JPEG_NAMES.get(ext, ext), image)
    except cv2.error:
        ok = False
    if not ok:
        if ext in GRAY_ONLY:
            raise FacekitError(f"cannot write the annotated image as {ext!r}, which holds gray only (the drawing is "
                               "in colour); use .png or .jpg")
        raise FacekitError(f"cannot write images with extension {ext!r}; use .png or .jpg")
    return buf


def _write_image(path: Path, image, follow_links: bool = True, sweep: bool = True, source: Path | None = None,
                 keep_exif: bool = False) -> str | None:
    """Why the photo's EXIF that --keep-exif asked for is not in the written image, where it is not (else None)."""
    data = _encode(path.suffix.lower() or ".png", image).tobytes()
    unkept = None
    if source is not None:
        data, unkept = with_metadata(data, photo_metadata(source, keep_exif, (image.shape[1], image.shape[0])))
    with atomic_write(path, "wb", follow_links, sweep=sweep) as fh:
        fh.write(data)
    return unkept
