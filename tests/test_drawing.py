"""Drawing on real photos and frames: labels of crowds in small frames, labels in any script."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

SMALL = (320, 180)  # a small video's frame (w, h): drawn at its own size, as the video script draws


@pytest.fixture(scope="module")
def analyzer():
    from facekit import FaceAnalyzer

    return FaceAnalyzer()


def _hamilton_frame(media, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(media / "short_hamilton_clip.mp4"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    cap.release()
    assert ok
    return cv2.resize(frame, SMALL, interpolation=cv2.INTER_AREA)


def _painted_blocks(monkeypatch) -> list:
    """The label blocks annotate paints, as it paints them."""
    from facekit import drawing

    painted = []
    paint = drawing._paint_block
    monkeypatch.setattr(drawing, "_paint_block", lambda img, lines, block, *a: (painted.append(block),
                                                                                paint(img, lines, block, *a)))
    return painted


def _overlapping(blocks) -> list:
    return [(a, b) for i, a in enumerate(blocks) for b in blocks[i + 1:]
            if a.x < b.x + b.width and b.x < a.x + a.width and a.top < b.top + b.height and b.top < a.top + a.height]


def _portrait(photo: np.ndarray, size=(120, 214)) -> np.ndarray:
    """A phone's upright video frame, small: a 9:16 cut of `photo`, shrunk to `size`."""
    h, w = photo.shape[:2]
    left = int(w * 0.3)
    return cv2.resize(photo[:, left:left + h * 9 // 16], size, interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("source", ["short_hamilton_clip.mp4", "crowd_masks.jpg", "example_03.png"])
def test_labels_of_adjacent_faces_in_a_small_frame_neither_overlap_nor_leave_it(analyzer, media, monkeypatch, source):
    """short_hamilton_clip.mp4 shrunk to 320x180 (four audience faces ~25 px wide side by side, each with a track
    id and three heads' lines): every label was four lines of ~110 px, painted over each other's text; crowd_masks.jpg
    at that size (18 faces ~40 px wide) too; in example_03.png cut to an upright 120x214 frame, the masked woman's
    "Happy: 87.01% (eyes only)" ran 55 px past the frame's right edge. Labels now get fewer letters (whole percents,
    the track id beside the first head's label, that line alone, the first head's label alone) until each has a place
    of its own inside the frame."""
    from facekit.drawing import Style, annotate

    if source.endswith(".mp4"):
        frame = _hamilton_frame(media, 216)
    elif source == "example_03.png":
        frame = _portrait(cv2.imread(str(media / source)))
    else:
        frame = cv2.resize(cv2.imread(str(media / source)), SMALL, interpolation=cv2.INTER_AREA)
    faces = [face.replace(track_id=i + 1) for i, face in enumerate(analyzer.analyze(frame))]
    assert len(faces) >= (2 if source == "example_03.png" else 4)
    painted = _painted_blocks(monkeypatch)
    drawn = annotate(frame, faces, Style.from_heads(analyzer.heads))
    assert drawn.shape == frame.shape  # a video frame keeps its size
    assert len(painted) == len(faces), "a face lost its label"
    assert not _overlapping(painted)
    h, w = frame.shape[:2]
    for block in painted:
        assert 0 <= block.x and block.x + block.width <= w and 0 <= block.top and block.top + block.height <= h, block


def _side(box, block) -> str:
    if block.top + block.height <= box.y1:
        return "above"
    return "below" if block.top >= box.y2 else "over"


def test_a_tracked_faces_label_keeps_its_place_and_length_from_frame_to_frame(analyzer, media, monkeypatch):
    """short_hamilton_clip.mp4 at 320x180, the audience's last 75 frames: each frame's labels were placed afresh, so a
    face's label jumped between above and below its box, and between long and short labels, a dozen times a
    second. A track's label now stays where it was while that place is still free, and labels get longer again
    only after LABEL_CALM_FRAMES frames."""
    from facekit import drawing
    from facekit.drawing import LABEL_CALM_FRAMES, Style, annotate

    cap = cv2.VideoCapture(str(media / "short_hamilton_clip.mp4"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 200)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(frame, SMALL, interpolation=cv2.INTER_AREA))
    cap.release()
    assert len(frames) >= 60
    seen = []
    leader = drawing._draw_leader
    monkeypatch.setattr(drawing, "_draw_leader", lambda img, box, block, *a: (seen.append((box, block)),
                                                                              leader(img, box, block, *a)))
    style = Style.from_heads(analyzer.heads)
    places, lengths = [], []
    for index, _, faces in analyzer.analyze_video(frames, fps=29.97):
        seen.clear()
        annotate(frames[index], faces, style)
        tracks = {id(face.box): face.track_id for face in faces}
        places.append({tracks[id(box)]: _side(box, block) for box, block in seen})
        lengths.append({block.height for _, block in seen})
    moves = sum(place[t] != before[t] for before, place in zip(places, places[1:]) for t in place if t in before)
    labelled = sum(len(place) for place in places)
    assert labelled > 100 and moves <= labelled // 30, f"{moves} moves of {labelled} labels"
    changes = [i for i, (a, b) in enumerate(zip(lengths, lengths[1:])) if a and b and a != b]
    assert all(b - a >= LABEL_CALM_FRAMES for a, b in zip(changes, changes[1:])), changes


def test_a_tracked_faces_label_goes_back_above_it_once_there_is_room_a_while(monkeypatch):
    """A label kept where it had to go (below a face at the frame's top) stayed there for as long as that place was
    free, though the face had moved down and there was room above (the hamilton clip's track 3, frame 40: its label
    over its chin). It goes back above once there has been room for LABEL_RETURN_FRAMES frames, and not back and
    forth while the face sways a pixel or two."""
    from facekit.drawing import LABEL_RETURN_FRAMES, Style, annotate
    from facekit.types import Box, Face, Prediction

    painted = _painted_blocks(monkeypatch)
    pred = Prediction("with_mask", 0.97, {"with_mask": 0.97, "without_mask": 0.03})
    style, above = Style(), []
    tops = [10] * 10 + [100 + (i % 3) for i in range(40)]  # at the top, then lower down, swaying
    for top in tops:
        painted.clear()
        face = Face(Box(100, top, 200, top + 100), 0.9, {"mask": pred}, track_id=1)
        annotate(np.full((400, 320, 3), 90, np.uint8), [face], style)
        (block,) = painted
        above.append(block.top + block.height <= top)
    assert not any(above[:10]) and above[-1], above
    moved = above.index(True)
    assert moved >= 10 + LABEL_RETURN_FRAMES - 1 and all(above[moved:]), above


def test_a_small_face_coming_and_going_for_a_frame_or_two_leaves_the_letters_their_size(monkeypatch):
    """The hamilton clip's letters went 1.0 -> 0.57 -> 0.89 -> 0.62 in three frames as a small face in the audience
    was found, missed and found again (the faces' median width, which sizes them, jumping with it). They now take
    another size only once the faces have asked for it SCALE_CALM_FRAMES frames in a row."""
    from facekit.drawing import SCALE_CALM_FRAMES, Style, annotate
    from facekit.types import Box, Face, Prediction

    painted = _painted_blocks(monkeypatch)
    pred = Prediction("with_mask", 0.97, {"with_mask": 0.97, "without_mask": 0.03})
    big = Face(Box(300, 250, 600, 550), 0.9, {"mask": pred}, track_id=1)
    small = [Face(Box(60 + 1000 * k, 400, 100 + 1000 * k, 440), 0.9, {"mask": pred}, track_id=2 + k) for k in range(2)]
    style, heights = Style(), []
    # Alone; the small faces there every other frame; there for good.
    for extra in [False] * 5 + [True, False] * 6 + [True] * (SCALE_CALM_FRAMES + 4):
        painted.clear()
        annotate(np.full((720, 1280, 3), 90, np.uint8), [big, *small] if extra else [big], style)
        heights.append(max(block.height for block in painted))  # the big face's label: the tallest
    flicker, settled = heights[5:17], heights[-1]
    assert set(flicker) == {heights[0]}, heights
    assert settled < heights[0], heights  # the small faces ask for smaller letters, and get them after a while
    assert heights.index(settled) >= 17 + SCALE_CALM_FRAMES - 1, heights


def _head_named(folder, names: dict):
    """The committed mask head as a user's own, its classes renamed (with_mask, without_mask -> `names`) and shown
    by their names (no display texts), its card saved as a UTF-8 text editor saves it."""
    import json
    import shutil

    from .conftest import ROOT

    shutil.copytree(ROOT / "models" / "mask", folder, ignore=shutil.ignore_patterns("*.keras"))
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    card.update(task="maske", labels=[names[k] for k in card["labels"]], display={},
                colors={names[k]: v for k, v in card["colors"].items()})
    (folder / "card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False), encoding="utf-8")
    return folder


def test_a_heads_class_names_outside_ascii_are_drawn_in_their_letters(media, tmp_path):
    """A head whose classes are "mit_Maske_ü" and "ohne_Maske_ß": OpenCV's font has ASCII only, so the annotated
    example_03.png said "Mit Maske u" and "Ohne Maske ?", the same picture as a head named in those letters. The
    letters outside ASCII are now drawn from DejaVu Sans (matplotlib's font) into the photo."""
    from .conftest import run_script

    pictures = []
    for names in ({"with_mask": "mit_Maske_ü", "without_mask": "ohne_Maske_ß"},
                  {"with_mask": "mit_Maske_u", "without_mask": "ohne_Maske_?"}):
        head = _head_named(tmp_path / f"head{len(pictures)}", names)
        out = tmp_path / f"drawn{len(pictures)}.png"
        res = run_script("detect_mask_image.py", "-i", media / "example_03.png", "-m", head, "--tasks", "maske",
                         "-o", out, "--no-display")
        assert res.returncode == 0, res.stderr
        assert "Mit Maske ü" not in res.stderr  # (the text is drawn, not printed)
        pictures.append(cv2.imread(str(out)))
    assert pictures[0].shape == pictures[1].shape
    differ = np.argwhere((pictures[0] != pictures[1]).any(axis=2))
    assert len(differ), "drawn as the ASCII look-alikes"
    # Only the labels' letters differ: a few small patches, not the photo or the boxes.
    assert len(differ) < 0.05 * pictures[0].shape[0] * pictures[0].shape[1]


def _ink(text: str, scale: float = 0.8) -> np.ndarray:
    from facekit.drawing import _put_text

    img = np.full((60, 400, 3), 40, np.uint8)
    _put_text(img, text, 10, 40, scale, (255, 255, 255), 1)
    return (img != 40).any(axis=2)


def test_a_letter_outside_ascii_is_its_own_shape_and_ascii_keeps_opencvs_font(monkeypatch):
    """"ü", "ß" and "é" were each drawn as OpenCV's "?" (or their accent dropped); each now has ink of its own
    shape. ASCII text never goes through the font renderer (the fast path), a letter no font here has is drawn as
    drawable() writes it, and a video's labels (the same names, other percentages) render no letter twice."""
    from facekit import drawing

    question = _ink("?")
    for letter in "üßé":
        ink = _ink(letter)
        assert ink.sum() > 20, letter
        assert (ink & question).sum() < 0.5 * (ink | question).sum(), f"{letter} drawn like '?'"
    assert not np.array_equal(_ink("Mit Maske ü"), _ink("Mit Maske u"))
    nowhere = "\U000f0001"  # a private-use letter: no font has it
    assert np.array_equal(drawing._rendered(f"Ohne {nowhere}", 24, False)[0], drawing._rendered("Ohne ?", 24, False)[0])

    drawing._rendered("Mit Maske ü: 97.12%", 12, False)  # one frame's label
    glyphs = drawing._glyph.cache_info().misses
    drawing._rendered("Mit Maske ü: 71.29%", 12, False)  # the next frame's
    assert drawing._glyph.cache_info().misses == glyphs

    def no_font(*args):
        raise AssertionError("ASCII text went through the font renderer")

    monkeypatch.setattr(drawing, "_rendered", no_font)
    from facekit.types import Box, Face, Prediction

    pred = Prediction("with_mask", 0.97, {"with_mask": 0.97, "without_mask": 0.03})
    drawn = drawing.annotate(np.full((240, 320, 3), 90, np.uint8), [Face(Box(100, 60, 200, 160), 0.9, {"mask": pred})])
    assert (drawn[:60] != 90).any()  # its label, above the box, drawn by OpenCV


def test_japanese_class_names_are_drawn_where_a_font_has_them():
    """"ohne_東京" was drawn "Ohne ??", as "ohne_京東" was: where a Japanese font is installed (the fonts plot_fonts
    takes for the confusion matrix), the two names are two different drawings, neither of them "??"."""
    from matplotlib import font_manager

    from facekit import drawing

    found = [f for f in font_manager.findSystemFonts() if Path(f).name.startswith(("DroidSansFallback", "NotoSansCJK"))]
    if not found:
        pytest.skip("no font with Japanese letters installed")
    font_manager.fontManager.addfont(found[0])  # where it was installed after matplotlib's font cache was made
    drawing._label_fonts.cache_clear()
    drawing._glyph.cache_clear()
    drawing._rendered.cache_clear()
    tokyo, kyoto, unknown = _ink("Ohne 東京"), _ink("Ohne 京東"), _ink("Ohne ??")
    assert not np.array_equal(tokyo, kyoto) and not np.array_equal(tokyo, unknown)


def test_a_videos_letters_keep_their_size_while_its_faces_keep_theirs(analyzer, media, monkeypatch):
    """short_hamilton_clip.mp4 at 1280x720, the speaker's frames: the letters were sized to each frame's boxes
    afresh (scale 0.91-0.98), so they changed size in 42 of 60 frames. They now keep their size while the faces
    stay within SCALE_SLACK of the size they were drawn for."""
    from facekit import drawing
    from facekit.drawing import Style, annotate

    cap = cv2.VideoCapture(str(media / "short_hamilton_clip.mp4"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 100)
    frames = []
    while len(frames) < 60:
        ok, frame = cap.read()
        assert ok
        frames.append(cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_CUBIC))
    cap.release()
    painted = []
    paint = drawing._paint_block
    monkeypatch.setattr(drawing, "_paint_block", lambda img, lines, block, scale, thick: (
        painted.append(scale), paint(img, lines, block, scale, thick)))
    style, scales = Style.from_heads(analyzer.heads), []
    for index, _, faces in analyzer.analyze_video(frames, fps=29.97):
        painted.clear()
        annotate(frames[index], faces, style)
        scales.append(painted[0] if painted else None)
    drawn = [s for s in scales if s is not None]
    assert len(drawn) >= 50 and max(drawn) < 1.2 * min(drawn)  # the speaker's face stays about as big
    changes = sum(a != b for a, b in zip(scales, scales[1:]) if a and b)
    assert changes <= 2, f"letters resized in {changes} of {len(drawn)} frames"


def test_what_annotate_cannot_draw_is_one_clear_error(analyzer, media):
    """A list of boxes or records (not Faces) was an AttributeError about `.box`; a 0-pixel array came back as an
    empty drawing where analyze() says no image; Style(landmarks="bogus") drew the key points without a word."""
    from facekit.drawing import Style, annotate
    from facekit.errors import ArgumentError, ImageError

    photo = media / "obama.jpg"
    faces = analyzer.analyze(photo)
    assert annotate(photo, faces).shape == cv2.imread(str(photo)).shape
    with pytest.raises(ArgumentError, match=r"annotate\(\) draws Face objects .* got a dict"):
        annotate(photo, [f.to_dict() for f in faces])
    with pytest.raises(ImageError, match="empty array"):
        annotate(np.zeros((0, 0, 3), np.uint8), [])
    with pytest.raises(ArgumentError, match=r"Style\(landmarks='bogus'\): use one of None, '5', 'mesh'"):
        Style.from_heads(analyzer.heads, landmarks="bogus")


@pytest.mark.parametrize("edge", ["left", "right"])
def test_a_close_ups_label_goes_beside_its_face_rather_than_over_it(monkeypatch, edge):
    """A face filling the frame's height at its edge (a webcam leaned into, a face cut by the frame): no room above
    or below, and the label was painted over the face it names, though the rest of the frame was free. It goes
    beside the face, in letters at most OWN_FACE_SHRINK smaller; with no room beside either, over the face still."""
    from facekit.drawing import OWN_FACE_SHRINK, Style, annotate
    from facekit.types import Box, Face, Prediction

    painted = _painted_blocks(monkeypatch)
    preds = {"mask": Prediction("with_mask", 0.99, {"with_mask": 0.99, "without_mask": 0.01}),
             "emotion": Prediction("neutral", 0.58, {"neutral": 0.58, "happy": 0.42}),
             "gender": Prediction("woman", 0.97, {"woman": 0.97, "man": 0.03})}
    box = Box(0, 40, 230, 440) if edge == "left" else Box(410, 40, 640, 440)
    annotate(np.full((480, 640, 3), 90, np.uint8), [Face(box, 0.9, preds)], Style())
    (block,) = painted
    x1, y1, x2, y2 = block.rect
    assert x2 <= box.x1 or x1 >= box.x2, (block, box)  # beside, not over it
    assert 0 <= x1 and x2 <= 640 and 0 <= y1 and y2 <= 480
    painted.clear()
    whole = Box(20, 20, 620, 470)  # no room anywhere: over its own face, at the size the face asks for
    annotate(np.full((480, 640, 3), 90, np.uint8), [Face(whole, 0.9, preds)], Style())
    (over,) = painted
    assert over.x < whole.x2 and over.x + over.width > whole.x1 and over.height > OWN_FACE_SHRINK * block.height


def _one_masked_face():
    from facekit.types import Box, Face, Prediction

    return Face(Box(40, 30, 160, 170), 0.9, {"mask": Prediction("with_mask", 0.9,
                                                                  {"with_mask": 0.9, "without_mask": 0.1})})


@pytest.mark.parametrize("fields, named", [
    ({"font_scale": float("nan")}, r"font_scale=nan"), ({"font_scale": float("inf")}, r"font_scale=inf"),
    ({"font_scale": "2"}, r"font_scale='2'"), ({"font_scale": True}, r"font_scale=True"),
    ({"font_scale": -1}, r"font_scale=-1"), ({"colors": {"mask": {"with_mask": "red"}}}, r"colors\['mask'\]"),
    ({"colors": {"mask": {"with_mask": (1, 2)}}}, r"colors\['mask'\]"), ({"colors": {"mask": (0, 0, 255)}}, "colors"),
    ({"display": {"mask": {"with_mask": 5}}}, r"display\['mask'\]\['with_mask'\] = 5")])
def test_a_style_that_cannot_be_drawn_is_one_clear_error(fields, named):
    """Style(font_scale=nan) was 'cannot convert float NaN to integer' from inside annotate() (inf an OverflowError,
    '2' or True a TypeError from cv2.putText), a colour "red" 'invalid literal for int()', a display of 5
    'normalize() argument 2 must be str', and a negative font_scale drew upside-down letters without a word: each is
    an ArgumentError naming the field, when the Style is built and when a field set later is drawn."""
    from facekit.drawing import Style, annotate
    from facekit.errors import ArgumentError

    image = np.full((200, 200, 3), 128, np.uint8)
    with pytest.raises(ArgumentError, match=named):
        Style(**fields)
    style = Style()
    for name, value in fields.items():
        setattr(style, name, value)
    with pytest.raises(ArgumentError, match=named):
        annotate(image, [_one_masked_face()], style)
    with pytest.raises(ArgumentError, match=r"annotate\(style=...\): a facekit.drawing.Style .* got a dict"):
        annotate(image, [_one_masked_face()], {"landmarks": "mesh"})  # type: ignore[arg-type]
    assert annotate(image, [_one_masked_face()], Style(font_scale=0.5, colors={"mask": {"with_mask": (0, 0, 255)}}))\
        .shape == image.shape
    assert np.array_equal(annotate(image, [_one_masked_face()], Style(font_scale=np.float32(0.5))),
                          annotate(image, [_one_masked_face()], Style(font_scale=0.5)))  # a NumPy number is a number


def test_annotate_draws_the_faces_a_generator_gives():
    """annotate(image, (f for f in faces if ...)) came back with nothing drawn and NumPy's 'Mean of empty slice'
    warning: the check for things that are not Faces used the generator up before the drawing began."""
    from facekit.drawing import annotate
    from facekit.errors import ArgumentError

    image = np.full((200, 200, 3), 128, np.uint8)
    face = _one_masked_face()
    listed = annotate(image, [face])
    assert (listed != image).any()
    assert np.array_equal(annotate(image, (f for f in [face] if f.score > 0.5)), listed)
    for bad in (None, face):
        with pytest.raises(ArgumentError, match=r"annotate\(\) draws a list of Face objects"):
            annotate(image, bad)  # type: ignore[arg-type]


def test_annotate_in_place_on_a_read_only_or_sliced_array():
    """annotate(frame, faces, copy=False) on a read-only array, a slice such as frame[:, ::2] or a Fortran-ordered
    array was cv2.rectangle's 'Overload resolution failed' traceback. A read-only one is an ArgumentError; the others
    are drawn in place, as a contiguous array is."""
    from facekit.drawing import annotate
    from facekit.errors import ArgumentError

    image = np.full((200, 200, 3), 128, np.uint8)
    drawn = annotate(image, [_one_masked_face()])
    for held in (np.asfortranarray(image), np.repeat(image, 2, axis=1)[:, ::2]):
        assert not held.flags.c_contiguous
        assert annotate(held, [_one_masked_face()], copy=False) is held
        assert np.array_equal(held, drawn)
    frozen = image.copy()
    frozen.flags.writeable = False
    with pytest.raises(ArgumentError, match=r"copy=False.*read-only: pass copy=True"):
        annotate(frozen, [_one_masked_face()], copy=False)
    assert np.array_equal(annotate(frozen, [_one_masked_face()]), drawn)


def test_annotate_refuses_an_fps_that_is_not_a_number():
    """annotate(frame, faces, fps="30") was "Unknown format code 'f' for object of type 'str'" from inside, after
    the drawing; fps=NaN or inf drew "FPS: nan" / "FPS: inf". Each is an ArgumentError; a number draws as before."""
    from facekit.drawing import annotate
    from facekit.errors import ArgumentError

    image = np.full((200, 200, 3), 128, np.uint8)
    for bad in ("30", float("nan"), float("inf"), -1, True):
        with pytest.raises(ArgumentError, match=r"annotate\(fps=.*\): a number of frames a second"):
            annotate(image, [_one_masked_face()], fps=bad)  # type: ignore[arg-type]
    assert not np.array_equal(annotate(image, [], fps=np.float32(29.97)), image)


def test_one_style_draws_each_video_as_a_style_of_its_own_would(analyzer, media):
    """A Style remembers a video's label places and letter size from frame to frame. Shared by two videos (README's
    one `style`, a web server's module-level one), the second was drawn with the first's: every one of its first 12
    frames unlike the same frames drawn with a fresh Style (letters twice the size), and two videos drawn at once
    on two threads unlike either. Each analyze_video run now keeps its own memory in the Style."""
    import threading
    import time

    from facekit.drawing import Style, annotate

    cap = cv2.VideoCapture(str(media / "short_hamilton_clip.mp4"))
    frames = []
    for _ in range(190):
        ok, frame = cap.read()
        assert ok
        frames.append(frame)
    cap.release()

    def drawn(held, style):
        return [annotate(r.frame, r.faces, style) for r in analyzer.analyze_video(held, fps=25)]

    first, second = frames[:12], frames[178:]
    alone = [drawn(held, Style.from_heads(analyzer.heads)) for held in (first, second)]
    shared = Style.from_heads(analyzer.heads)
    assert all(np.array_equal(a, b) for a, b in zip(drawn(first, shared), alone[0]))
    assert all(np.array_equal(a, b) for a, b in zip(drawn(second, shared), alone[1]))
    together = Style.from_heads(analyzer.heads)
    out: dict[int, list] = {}
    # Daemons, joined with a bound: two runs on one analyzer that deadlocked held the CI worker for ever, and kept
    # its process from ending after the last test.
    threads = [threading.Thread(target=lambda i=i: out.__setitem__(i, drawn((first, second)[i], together)),
                                daemon=True) for i in (0, 1)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 300
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "the two videos drawn at once had not ended in 300 s"
    for i in (0, 1):
        assert all(np.array_equal(a, b) for a, b in zip(out[i], alone[i]))


def test_a_head_of_more_classes_than_the_palette_draws_each_in_its_own_colour():
    """A head of 10 age brackets drew its 9th and 10th labels (boxes, lines and --timeline curves) in its 1st's and
    2nd's colours: the legend's 0-9 and 80-89 were one blue. The first 8 keep the palette's colours."""
    from facekit.drawing import PALETTE, Style

    labels = [f"{a}-{a + 9}" for a in range(0, 100, 10)]
    colors = [Style().color("age", label, labels) for label in labels]
    assert colors[:len(PALETTE)] == PALETTE and len(set(colors)) == 10
    assert all(len(c) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in c) for c in colors)
    many = [Style().color("t", str(i), [str(j) for j in range(24)]) for i in range(24)]
    assert len(set(many)) == 24


def test_no_two_labels_of_the_heads_drawn_together_share_a_colour(monkeypatch):
    """With gender and emotion drawn, man / woman took the palette by their place, as emotion's angry / disgust did:
    one picture drew "Man" and "Angry" in one blue. Each head now takes colours no head before it has; mask and
    emotion keep theirs, in any --tasks order, and a Style not built from the heads (annotate's default) does so too."""
    import json
    from types import SimpleNamespace

    from facekit import drawing
    from facekit.drawing import PALETTE, Style
    from facekit.types import Box, Face, Prediction

    def head(task):
        card = json.loads((Path(__file__).resolve().parents[1] / "models" / task / "card.json").read_text())
        return SimpleNamespace(labels=card["labels"], card=SimpleNamespace(display=card.get("display", {}),
                                                                           colors=card.get("colors", {})))

    heads = {t: head(t) for t in ("mask", "emotion", "gender")}
    for order in (("mask", "emotion", "gender"), ("gender", "emotion", "mask")):
        style = Style.from_heads({t: heads[t] for t in order})
        drawn = {(t, label): style.color(t, label, heads[t].labels) for t in order for label in heads[t].labels}
        assert len(set(drawn.values())) == len(drawn) == 11, drawn
        assert [drawn["emotion", label] for label in heads["emotion"].labels] == PALETTE[:7]
        assert drawn["mask", "with_mask"] == (0, 255, 0) and drawn["mask", "without_mask"] == (0, 0, 255)
    alone = Style.from_heads({"gender": heads["gender"]})
    assert [alone.color("gender", label, heads["gender"].labels) for label in ("man", "woman")] == PALETTE[:2]

    painted = []
    paint = drawing._put_text
    monkeypatch.setattr(drawing, "_put_text", lambda img, text, *a: (painted.append((text.split(":")[0], a[-2])),
                                                                     paint(img, text, *a)))
    preds = {t: Prediction.from_probabilities(heads[t].labels, np.eye(len(heads[t].labels))[0] * 0.9 + 0.01)
             for t in ("gender", "emotion")}  # gender first: the order of the face's predictions is not the rank
    drawing.annotate(np.full((240, 320, 3), 90, np.uint8), [Face(Box(100, 100, 200, 200), 0.9, preds)])
    assert dict(painted) == {"Man": PALETTE[7], "Angry": PALETTE[0]}


def test_annotate_without_a_style_draws_the_labels_as_the_scripts_do(monkeypatch):
    """annotate(image, faces), as a notebook calls it, drew an unmasked face "Without mask" in the palette's gold
    and a masked one "With mask" in its blue, where the scripts draw "No Mask" in red and "Mask" in green: without
    a style, the labels' texts and colours now come from the models folder's cards, as Style.from_heads' do."""
    from facekit import drawing
    from facekit.types import Box, Face, Prediction

    painted = []
    paint = drawing._put_text
    monkeypatch.setattr(drawing, "_put_text", lambda img, text, *a: (painted.append((text.split(":")[0], a[-2])),
                                                                     paint(img, text, *a)))
    bare = Prediction.from_probabilities(["with_mask", "without_mask"], np.array([0.1, 0.9]))
    masked = Prediction.from_probabilities(["with_mask", "without_mask"], np.array([0.9, 0.1]))
    drawing.annotate(np.full((240, 640, 3), 90, np.uint8), [Face(Box(60, 100, 160, 200), 0.9, {"mask": bare}),
                                                            Face(Box(400, 100, 500, 200), 0.9, {"mask": masked})])
    assert sorted(painted) == [("Mask", (0, 255, 0)), ("No Mask", drawing.RED)]


def test_a_narrow_photo_is_drawn_wide_enough_for_its_faces_labels(monkeypatch):
    """obama.jpg cut to a 90x341 strip around its face: 341 px on its long side, it was drawn at its own size, where
    the face's three labels (mask, emotion, gender) were cut to "No Mask" alone, painted over the face. A photo
    with faces is now drawn at least MIN_DRAWN_SIDE wide, and every line is drawn whole."""
    from facekit import drawing
    from facekit.types import Box, Face, Prediction

    painted = []
    paint = drawing._put_text
    monkeypatch.setattr(drawing, "_put_text", lambda img, text, *a: (painted.append(text), paint(img, text, *a)))
    preds = {"mask": Prediction.from_probabilities(["with_mask", "without_mask"], np.array([0.001, 0.999])),
             "emotion": Prediction.from_probabilities(["happy", "neutral"], np.array([0.997, 0.003])),
             "gender": Prediction.from_probabilities(["man", "woman"], np.array([0.999, 0.001]))}
    drawn = drawing.annotate(np.full((341, 90, 3), 90, np.uint8), [Face(Box(12, 43, 87, 135), 0.84, preds)],
                             enlarge_small=True)
    assert drawn.shape == (1023, 270, 3)
    assert painted == ["No Mask: 99.90%", "Happy: 99.70%", "Man: 99.90%"], painted


def test_an_eyes_only_emotion_line_is_dimmer_yet_readable_in_every_emotions_colour():
    """A masked face's emotion line is drawn dimmer: darkened to 60%, "Fear: 88.00% (eyes only)" in deep pink and
    "Sad: ..." in violet stood at 2.5:1 and 2.8:1 against their black backing, under WCAG's 3:1 for any text and
    hard to read in small letters. Every emotion's eyes-only line now keeps 4.5:1, still dimmer than its plain one."""
    from facekit.drawing import Style, head_lines
    from facekit.types import Box, Face, Prediction

    def contrast(bgr) -> float:  # WCAG's contrast ratio against black
        lin = [c / 255 / 12.92 if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in bgr]
        return (0.0722 * lin[0] + 0.7152 * lin[1] + 0.2126 * lin[2] + 0.05) / 0.05

    emotions = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    masked = Prediction.from_probabilities(["with_mask", "without_mask"], np.array([0.9, 0.1]))
    bare = Prediction.from_probabilities(["with_mask", "without_mask"], np.array([0.1, 0.9]))
    for i in range(len(emotions)):
        emotion = Prediction.from_probabilities(emotions, np.eye(len(emotions))[i] * 0.9 + 0.1 / len(emotions))
        face = Face(Box(10, 10, 90, 90), 0.9, {"mask": masked, "emotion": emotion})
        style = Style(colors={"mask": {"with_mask": (0, 255, 0), "without_mask": (0, 0, 255)}})  # the mask card's
        [_, (text, dim)] = head_lines(face, style)
        [_, (_, plain)] = head_lines(face.with_predictions(mask=bare), style)
        assert text.endswith("(eyes only)") and 4.5 <= contrast(dim) < contrast(plain), (emotions[i], dim, plain)


def test_colours_past_the_palette_are_told_apart_from_the_palettes_and_each_other():
    """The hues past the palette were taken as they came: a head of 16 classes (or one of 7 drawn beside emotion
    and gender) drew its 14th label in a cyan 14 (CIELAB) from happy's and its 16th in a violet 10 from sad's,
    one colour to the eye. Each is now at least COLOR_APART from the palette's colours and from the others'."""
    import cv2

    from facekit.drawing import PALETTE, palette_color

    apart_enough = 25  # facekit.drawing.COLOR_APART; the palette's own colours are 33 apart or more
    extra = [palette_color(i) for i in range(len(PALETTE), len(PALETTE) + 30)]
    lab = cv2.cvtColor(np.float32([PALETTE + extra]) / 255, cv2.COLOR_BGR2Lab)[0]
    apart = np.linalg.norm(lab[:, None] - lab[None], axis=2)
    for i in range(len(PALETTE), len(lab)):
        assert apart[i, :i].min() >= apart_enough, (i, extra[i - len(PALETTE)], apart[i, :i].min())
    assert len(set(palette_color(i) for i in range(900))) == 900  # a head of hundreds of classes too


def test_the_emotion_heads_classes_get_colours_of_distinct_hues():
    """The default palette gave fear deep pink and sad pink, 2 degrees of hue apart: on the --timeline plot, where
    only colour names a curve, a face's sad curve could not be told from its fear one. Every class of the shipped
    emotion head now has a hue of its own, on the plot as in the video."""
    import colorsys
    import json

    from facekit.drawing import Style
    from facekit.timeline import on_white

    card = json.loads((Path(__file__).resolve().parents[1] / "models" / "emotion" / "card.json").read_text())
    labels = card["labels"]
    assert len(labels) == 7 and not card.get("colors")  # the palette draws them
    hues = {label: colorsys.rgb_to_hsv(*on_white(Style().color("emotion", label, labels)))[0] * 360
            for label in labels}
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            apart = abs(hues[a] - hues[b]) % 360
            assert min(apart, 360 - apart) >= 20, (a, b, hues)


def test_a_tracked_faces_kept_label_place_does_not_hide_a_face_that_comes_up_under_it(monkeypatch):
    """The hamilton clip, frame 49: track 3's label, kept left of its face from frame to frame, covered the whole
    of track 5's face, found under it, although a place hiding none of it was free (a fresh layout used it)."""
    from facekit import drawing
    from facekit.types import Box, Face, Prediction

    painted = []
    paint = drawing._paint_block
    monkeypatch.setattr(drawing, "_paint_block", lambda img, lines, block, *a: (painted.append(block),
                                                                                 paint(img, lines, block, *a)))
    preds = {"mask": Prediction.from_probabilities(["with_mask", "without_mask"], np.array([0.59, 0.41])),
             "gender": Prediction.from_probabilities(["man", "woman"], np.array([0.44, 0.56]))}
    near = Face(Box(467, 60, 633, 287), 0.51, preds, track_id=3)
    far = Face(Box(187, 78, 242, 146), 0.53, preds, track_id=5)
    style = drawing.Style()
    image = np.full((360, 640, 3), 40, np.uint8)
    for _ in range(5):
        painted.clear()
        drawing.annotate(image, [near], style)
    [alone] = painted
    assert alone.x < far.box.x2 and far.box.x1 < alone.x + alone.width and alone.top < far.box.y2 \
        and far.box.y1 < alone.top + alone.height  # where it settled, the far face comes up under it
    for _ in range(3):
        painted.clear()
        drawing.annotate(image, [near, far], style)
        for b in painted:
            wide = min(b.x + b.width, far.box.x2) - max(b.x, far.box.x1)
            tall = min(b.top + b.height, far.box.y2) - max(b.top, far.box.y1)
            assert max(0, wide) * max(0, tall) <= 0.5 * far.box.area, f"label {b} hides face #5"


def test_style_from_heads_has_help_naming_its_landmark_modes():
    """help(Style.from_heads), which README's notebook code calls with landmarks="mesh", was empty: nothing said
    what landmarks takes or where the labels' texts and colours come from."""
    from facekit.drawing import LANDMARK_MODES, Style

    doc = " ".join((Style.from_heads.__doc__ or "").split())
    assert "card.json" in doc and ".heads" in doc
    for mode in LANDMARK_MODES:
        assert f'"{mode}"' in doc or (mode is None and "None" in doc), mode


def test_a_score_just_short_of_one_is_not_drawn_or_printed_as_a_certainty():
    """0.99998 was drawn "With mask: 100.00%" (short labels "100%") and Face's repr read "with_mask 1.00", a
    certainty the head did not give (Prediction's repr printed 0.99998): the drawing stops a step under 100, no
    longer than before, and the repr keeps the digits Prediction's does. A score of 1 is still 100%."""
    from facekit.drawing import Style, _head_lines, head_lines
    from facekit.types import Box, Face, Prediction

    sure = Prediction("with_mask", 0.99998, {"with_mask": 0.99998, "without_mask": 2e-05})
    face = Face(Box(0, 0, 80, 80), 0.99999, {"mask": sure})
    style = Style()
    assert head_lines(face, style)[0][0] == "With mask: 99.99%"
    assert _head_lines(face, style, short=True)[0][0] == "With mask 99%"
    assert repr(face) == "Face(box=(0, 0, 80, 80), score=0.99999, mask=with_mask 0.99998)"
    whole = face.with_predictions(mask=Prediction("with_mask", 1.0, {"with_mask": 1.0, "without_mask": 0.0}))
    assert head_lines(whole, style)[0][0] == "With mask: 100.00%" and "with_mask 1.00" in repr(whole)
    assert head_lines(face.with_predictions(mask=Prediction("with_mask", 0.9876, {"with_mask": 0.9876})),
                      style)[0][0] == "With mask: 98.76%"


def test_a_face_crops_labels_go_in_a_band_under_it_not_over_its_mouth(media, tmp_path):
    """--crops -o: the whole image is the face, so its labels were painted over the crop's lower third, its mouth
    and chin (what the mask and emotion heads read). They go in a band under the crop: every pixel of the crop is
    drawn as it was but the box's frame, the mouth well inside it, and the band holds the label lines in their
    colours."""
    from facekit.cli.image import main
    from facekit.detection import create_detector
    from facekit.landmarks import INNER_LIP_BOTTOM, MOUTH_LEFT, MOUTH_RIGHT, create_landmarker

    folder, out = tmp_path / "crops", tmp_path / "drawn"
    folder.mkdir()
    detector, mesh = create_detector(), create_landmarker()
    crops, mouths = {}, {}
    for name, photo, (y0, y1, x0, x1), size in [("masked.png", "example_03.png", (110, 280, 250, 410), None),
                                                ("biden.png", "obama_and_biden.jpg", (370, 690, 1100, 1380), None),
                                                ("small.png", "obama.jpg", (120, 480, 350, 650), (40, 48))]:
        image = cv2.imread(str(media / photo))
        crop = image[y0:y1, x0:x1]
        face = next(f for f in mesh(image, detector.detect(image))
                    if x0 < f.box.center[0] < x1 and y0 < f.box.center[1] < y1 and f.landmarks is not None)
        mouths[name] = face.landmarks[[MOUTH_LEFT, MOUTH_RIGHT, INNER_LIP_BOTTOM], :2] - (x0, y0)
        if size is not None:
            mouths[name] = mouths[name] * (size[0] / crop.shape[1])
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        crops[name] = crop
        cv2.imwrite(str(folder / name), crop)
    assert main(["-i", str(folder), "--crops", "-o", str(out), "--no-display"]) == 0
    for name, crop in crops.items():
        drawn = cv2.imread(str(out / name))
        h, w = crop.shape[:2]
        factor = drawn.shape[1] // w
        assert drawn.shape[1] == w * factor and drawn.shape[0] > h * factor, (name, drawn.shape, crop.shape)
        big = cv2.resize(crop, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
        frame = max(2, drawn.shape[1] // 100)  # the box, drawn along the crop's edges
        changed = np.any(drawn[:h * factor] != big, axis=2)
        assert not changed[frame:-frame, frame:-frame].any(), (name, np.argwhere(changed[frame:-frame, frame:-frame]))
        assert mouths[name][:, 1].max() * factor < h * factor - 2 * frame, name  # what was hidden is in that part
        band = drawn[h * factor:]
        lit = band.max(axis=2) > 100
        assert lit.sum() > 0.03 * lit.size, name  # letters
        red, green = band[..., 2] > 150 + band[..., 1], band[..., 1] > 150 + band[..., 2]
        assert (green.sum() > red.sum()) == (name == "masked.png"), (name, green.sum(), red.sum())
    from facekit import FaceAnalyzer
    from facekit.drawing import annotate
    from facekit.errors import ArgumentError
    from facekit.types import Box, Face

    # README: the library draws a crop as --crops -o does with band=True, enlarge_small=True (a 40 px crop: 6x).
    face = FaceAnalyzer().classify_whole(crops["small.png"])
    np.testing.assert_array_equal(annotate(crops["small.png"], [face], band=True, enlarge_small=True),
                                  cv2.imread(str(out / "small.png")))
    two = [Face(box=Box(0, 0, 20, 20), score=1.0), Face(box=Box(20, 0, 40, 20), score=1.0)]
    with pytest.raises(ArgumentError, match=r"band=True\) draws the labels of one face"):
        annotate(crops["biden.png"], two, band=True)  # whose would each line be?


@pytest.fixture(scope="module")
def marked():
    from facekit import FaceAnalyzer

    return FaceAnalyzer(landmarks=True)


@pytest.mark.parametrize("photo", ["crowd_masks.jpg", "annotated_faces/bald_guys.jpg"])
def test_a_crowds_labels_with_landmarks_hide_no_faces_eyes_or_mouth(marked, media, monkeypatch, photo):
    """--landmarks adds a pose line to every label, wider than the others: crowd_masks.jpg's labels found no room
    above their faces and 11 of its 18 were painted over their own faces (26 eyes, noses and mouth corners hidden),
    bald_guys.jpg's 7 of 24 (16). Most labels over their faces: every label is shortened (no pose line); a few: those
    alone, the others keeping every line."""
    from facekit import drawing
    from facekit.drawing import Style, annotate

    faces = marked.analyze(media / photo)
    assert len(faces) >= 18 and all(f.keypoints for f in faces)
    painted = []
    paint = drawing._paint_block
    monkeypatch.setattr(drawing, "_paint_block", lambda img, lines, block, *a: (painted.append((len(lines), block)),
                                                                                 paint(img, lines, block, *a)))
    image = cv2.imread(str(media / photo))
    drawn = annotate(image, faces, Style.from_heads(marked.heads, landmarks="mesh"), enlarge_small=True)
    assert drawn.shape == image.shape and len(painted) == len(faces)
    blocks = [block for _, block in painted]
    assert not _overlapping(blocks)
    for face in faces:
        for name, (x, y) in face.keypoints.items():
            assert not any(b.x <= x < b.x + b.width and b.top <= y < b.top + b.height for b in blocks), (face, name)
    lines = [n for n, _ in painted]
    assert max(lines) == 4 if photo.startswith("annotated") else max(lines) == 3, lines  # the pose line kept or not
