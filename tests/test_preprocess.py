"""Image loading of every common format, face cropping, and train/inference input parity."""

from __future__ import annotations


import cv2
import numpy as np
import pytest

from facekit.errors import ImageError
from facekit.preprocess import CropSpec, crop_face, load_image, to_model_input
from facekit.types import Box


def test_formats_load_as_8bit_bgr(tmp_path, media):
    photo = load_image(media / "obama.jpg")
    assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3

    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    rgba = cv2.cvtColor(photo, cv2.COLOR_BGR2BGRA)
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    cv2.imwrite(str(tmp_path / "deep.png"), photo.astype(np.uint16) * 257)  # 16-bit
    for name in ("gray.png", "rgba.png", "deep.png"):
        img = load_image(tmp_path / name)
        assert img.shape == photo.shape and img.dtype == np.uint8, name
    assert np.abs(load_image(tmp_path / "deep.png").astype(int) - photo).max() <= 1
    assert np.array_equal(load_image(tmp_path / "rgba.png"), photo)


def test_exif_rotation_is_applied(tmp_path, media):
    from PIL import Image

    photo = Image.open(media / "obama.jpg")
    exif = photo.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    photo.save(tmp_path / "rotated.jpg", exif=exif)
    img = load_image(tmp_path / "rotated.jpg")
    assert img.shape[:2] == (photo.width, photo.height)  # displayed upright: width and height swapped
    # Turned clockwise, as the tag says: the shape alone passed a photo turned the other way (or decoded upside
    # down), which the detectors still find faces in. Only the JPEG saved again above differs, by a few levels.
    clockwise = cv2.rotate(cv2.imread(str(media / "obama.jpg")), cv2.ROTATE_90_CLOCKWISE)
    assert np.abs(img.astype(int) - clockwise).mean() < 6
    assert np.abs(img.astype(int) - clockwise[::-1, ::-1]).mean() > 20  # the other way: far off


@pytest.mark.parametrize("make, reason", [
    (lambda p: p, "no such file"),
    (lambda p: (p.write_bytes(b""), p)[1], "empty"),
    (lambda p: (p.write_bytes(b"\xff\xd8\xff garbage, not a jpeg"), p)[1], "not a readable image"),
])
def test_bad_images_raise_one_clear_error(tmp_path, make, reason):
    path = make(tmp_path / "photo.jpg")
    with pytest.raises(ImageError, match=reason):
        load_image(path)


def test_crop_at_border_is_padded_not_cut():
    image = np.full((100, 100, 3), 50, np.uint8)
    image[:, :10] = 200  # a bright left edge
    crop = crop_face(image, Box(0, 20, 40, 80), CropSpec(margin=0.2, square=True))
    side = round(60 * 1.4)
    assert crop.shape[:2] == (side, side)  # full size although the region starts left of x=0
    assert (crop[:, 0] == 200).all()  # padding replicates the border


def test_a_face_past_the_right_and_bottom_edges_is_padded_to_its_region(media):
    """A selfie's face running off the photo's right and bottom edges: its crop is the region `crop_region` names,
    the part past the edges filled with the photo's last column and row (one short there, the crop was squashed
    when resized to the square input)."""
    from facekit.detection import create_detector
    from facekit.preprocess import crop_region

    photo = load_image(media / "obama.jpg")
    whole = create_detector("yunet").detect(photo)[0].box
    cut = np.ascontiguousarray(photo[:int(whole.y2) - 25, :int(whole.x2) - 20])
    face = create_detector("yunet").detect(cut)[0].box
    spec = CropSpec(margin=0.1, square=True)
    x1, y1, x2, y2 = crop_region(face, spec)
    assert x2 > cut.shape[1] and y2 > cut.shape[0] and x1 > 0 and y1 > 0
    crop = crop_face(cut, face, spec)
    assert crop.shape == (y2 - y1, x2 - x1, 3)
    inside = cut[y1:, x1:]
    assert np.array_equal(crop[:inside.shape[0], :inside.shape[1]], inside)
    assert (crop[:inside.shape[0], inside.shape[1]:] == inside[:, -1:]).all()  # the last column, repeated
    assert (crop[inside.shape[0]:, :inside.shape[1]] == inside[-1:]).all()  # the last row, repeated


def test_a_card_that_says_square_false_gets_the_boxs_own_shape(media):
    """A head trained on unsquared crops says so in its card ("square": false); read back as square, its faces
    were cut at another shape than it learnt from. A box wholly past the edge keeps its shape too."""
    photo = load_image(media / "obama.jpg")
    spec = CropSpec.from_dict({"margin": 0.1, "square": False})
    assert spec == CropSpec(margin=0.1, square=False)
    assert crop_face(photo, Box(300, 200, 500, 500), spec).shape == (360, 240, 3)
    assert crop_face(photo, Box(5000, 200, 5200, 500), spec).shape == (360, 240, 3)


def _turned(image: np.ndarray, degrees: float) -> np.ndarray:
    """`image` turned counter-clockwise by `degrees` on a canvas that holds all of it, as a camera held askew."""
    h, w = image.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(turn[0, 0]), abs(turn[0, 1])
    size = int(h * sin + w * cos + 0.5), int(h * cos + w * sin + 0.5)
    turn[:, 2] += (size[0] / 2 - w / 2, size[1] / 2 - h / 2)
    return cv2.warpAffine(image, turn, size)


@pytest.mark.parametrize("name, degrees", [("example_01.png", 0), ("two_people.jpg", 60)])
def test_train_and_inference_inputs_match(media, tmp_path, name, degrees):
    """The trainer and a head must feed the network identical arrays for the same face, a tilted one too
    (two_people.jpg turned 60 degrees: YuNet's eye points read roll -32, so the crop is levelled)."""
    from facekit.detection import create_detector
    from facekit.training import load_dataset

    image = _turned(load_image(media / name), degrees)
    face = max(create_detector("yunet").detect(image), key=lambda f: f.box.area)
    spec = CropSpec(margin=0.1, square=True)
    at_inference = to_model_input([crop_face(image, face.box, spec, face.detector_keypoints)], 128)

    root = tmp_path / "ds"
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        cv2.imwrite(str(root / label / "x.png"), image)
    data = load_dataset(root, 128, "rgb", spec, face_crops="detect", detector_name="yunet", keypoints=True)
    assert np.array_equal(data.x[0], at_inference[0])
    # Its key points (where --synth-masks draws a mask) moved with the levelled face: the eyes level in the crop.
    (lx, ly), (rx, ry) = data.keypoints[0][:2]
    assert abs(np.degrees(np.arctan2(ry - ly, rx - lx))) < 20


def test_a_big_photos_largest_face_is_found_shrunk_and_a_small_one_at_full_size(media, tmp_path, monkeypatch):
    """The trainer found the faces of a big photo through YuNet's full-resolution tiles, for --faces largest too,
    which keeps one face and no small one: example_03 upscaled to 2,040 px took 2.9 s here, 0.4 s shrunk. Its
    largest face (the same box and crop as the tiles' search gives it) is now found without the tiles; a photo
    whose only face shows too small shrunk (29 px in 2,600 px) is searched with them, and --faces all keeps them."""
    from facekit.detection import YuNetDetector
    from facekit.training import load_dataset

    root = tmp_path / "ds"
    for label in ("with_mask", "without_mask"):
        (root / label).mkdir(parents=True)
    big = cv2.resize(load_image(media / "example_03.png"), None, fx=3.4, fy=3.4, interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(root / "with_mask" / "big.png"), big)
    far = np.full((2000, 2600, 3), 128, np.uint8)  # a small face in a big frame: obama-240p at half its size
    face = cv2.resize(load_image(media / "obama-240p.jpg"), None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    far[900:900 + face.shape[0], 1200:1200 + face.shape[1]] = face
    cv2.imwrite(str(root / "without_mask" / "far.png"), far)
    tiled = []
    monkeypatch.setattr(YuNetDetector, "_tiled_pass", lambda self, image, real=YuNetDetector._tiled_pass: (
        tiled.append(image.shape[1]), real(self, image))[1])
    spec = CropSpec(margin=0.1, square=True)
    largest = load_dataset(root, 64, "rgb", spec, face_crops="detect", detector_name="yunet")
    assert tiled == [2600] and largest.crops_detected == 2 and len(largest.y) == 2  # the far face: tiles
    assert 20 <= largest.boxes[1][2] - largest.boxes[1][0] <= 40  # its 29 px face
    tiled.clear()
    every = load_dataset(root, 64, "rgb", spec, face_crops="detect", detector_name="yunet", faces="all")
    assert sorted(tiled) == [2040, 2600] and len(every.y) == 4  # big.png's 3 faces, found with the tiles
    widest = max(range(3), key=lambda i: every.boxes[i][2] - every.boxes[i][0])
    assert np.array_equal(largest.boxes[0], every.boxes[widest]) and np.array_equal(largest.x[0], every.x[widest])


def test_a_tilted_face_is_cut_levelled_and_an_upright_one_as_it_was():
    """The detector's eye points level a face tilted past LEVEL_MIN_ROLL; under it the crop is the plain one."""
    image = np.zeros((200, 200, 3), np.uint8)
    box, spec = Box(50, 50, 150, 150), CropSpec(margin=0.1)
    eyes = np.array([[80, 90], [120, 90], [100, 110], [85, 130], [115, 130]], float)
    tilt = np.radians(30)  # the eye line turned 30 degrees clockwise about the box's centre
    tilted = (eyes - 100) @ np.array([[np.cos(tilt), np.sin(tilt)], [-np.sin(tilt), np.cos(tilt)]]) + 100
    cv2.line(image, tuple(map(int, tilted[0])), tuple(map(int, tilted[1])), (255, 255, 255), 3)
    plain = crop_face(image, box, spec)
    slight = eyes + [[0, 3], [0, -3], [0, 0], [0, 0], [0, 0]]  # -8.5 degrees: a head held as most are
    assert np.array_equal(crop_face(image, box, spec, slight), plain)
    levelled = crop_face(image, box, spec, tilted)
    assert levelled.shape == plain.shape
    rows = np.flatnonzero(levelled[..., 0].max(axis=1) > 128)
    assert rows.max() - rows.min() <= 6  # the eye line is level: a band of rows, not a slope
    assert abs(rows.mean() - (90 - 40)) <= 2  # where the upright face's eyes lie in the crop (y 90, crop from 40)
    # A profile's eye points lie together, their line any angle: its crop is left as it is, not turned over.
    profile = tilted.copy()
    profile[1] = profile[0] + (1, -4)
    assert np.array_equal(crop_face(image, box, spec, profile), plain)


@pytest.mark.parametrize("name, degrees", [("obama-240p.jpg", 60), ("two_people.jpg", 90)])
def test_a_turned_photo_keeps_its_upright_labels(media, name, degrees):
    """Heads read a tilted face's crop levelled: Obama turned 60 degrees read woman (0.57), a man of two_people
    turned 90 degrees with_mask (0.90) and woman (0.71)."""
    from facekit import FaceAnalyzer

    image = load_image(media / name)
    with FaceAnalyzer(tasks="mask,gender") as analyzer:
        upright = sorted(analyzer.analyze(image), key=lambda f: f.box.x1)
        turned = analyzer.analyze(_turned(image, degrees))
    # Turned counter-clockwise, faces left to right become faces bottom to top.
    turned = sorted(turned, key=lambda f: -f.box.y1)
    assert len(turned) == len(upright) >= 1
    for up, face in zip(upright, turned):
        assert (face.label("mask"), face.label("gender")) == (up.label("mask"), up.label("gender"))


def test_a_face_turned_past_a_quarter_turn_keeps_its_upright_labels_with_landmarks(media):
    """Past ~110 degrees the detector's eye points lie 180 degrees off, and the heads read the face levelled upside
    down: obama-240p.jpg turned 120, 150 and 210 read woman, upside down with_mask. The mesh, checked both ways up,
    reads the turn right, and the heads read the face again levelled by its points."""
    from facekit import FaceAnalyzer

    image = load_image(media / "obama-240p.jpg")
    # Closed, not dropped: a dropped analyzer's facekit-landmarks thread ran on into the worker's later tests.
    with FaceAnalyzer(tasks="mask,gender", landmarks=True) as analyzer:
        (upright,) = analyzer.analyze(image)
        assert (upright.label("mask"), upright.label("gender")) == ("without_mask", "man")
        for degrees in (120, 150, 180, 210):
            (face,) = analyzer.analyze(_turned(image, degrees))
            assert (face.label("mask"), face.label("gender")) == ("without_mask", "man"), degrees


def test_gray_mode_gives_three_equal_channels(media):
    batch = to_model_input([load_image(media / "astronaut.png")], 48, color="gray")
    assert batch.shape == (1, 48, 48, 3)
    assert np.array_equal(batch[..., 0], batch[..., 1]) and np.array_equal(batch[..., 1], batch[..., 2])


def test_dark_crops_are_lifted_and_the_others_left_as_they_are(media):
    """A crop darker than nearly every training face is brightened to a mean of ~100 (gain at most 8);
    a normally lit one reaches the model unchanged."""
    from facekit import preprocess

    crop = cv2.resize(load_image(media / "astronaut.png"), (128, 128), interpolation=cv2.INTER_AREA)
    assert crop.mean() >= preprocess.DARK_CROP
    plain = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)[None]
    assert np.array_equal(to_model_input([crop], 128), plain)

    dim = (crop * 0.15).astype(np.uint8)
    lifted = to_model_input([dim], 128)
    assert abs(lifted.mean() - preprocess.LIFTED_MEAN) < 3
    assert np.corrcoef(lifted.ravel(), plain.ravel())[0, 1] > 0.99  # one gain: the picture is the same

    black = np.full((64, 64, 3), 2, np.uint8)  # nothing to see: the gain stops at MAX_GAIN
    assert to_model_input([black], 64).max() == 2 * preprocess.MAX_GAIN

    # The line is DARK_CROP itself: a crop at a mean of 60 is one of the faces the heads learnt as they were.
    at_line = np.full((64, 64, 3), int(preprocess.DARK_CROP), np.uint8)
    assert np.array_equal(to_model_input([at_line], 64), at_line[None])
    just_under = at_line - 1
    assert to_model_input([just_under], 64).mean() == pytest.approx(preprocess.LIFTED_MEAN, abs=1)


def test_the_mask_head_reads_unmasked_faces_in_dim_light(media, monkeypatch):
    """two_people.jpg at 9% of its light, with sensor noise: both unmasked faces read without_mask. Without
    the exposure lift the head calls a dark lower face a mask (0.64 and 0.74 with_mask)."""
    from facekit import preprocess
    from facekit.detection import create_detector
    from facekit.heads import Head, models_dir

    image = load_image(media / "two_people.jpg")
    boxes = [f.box for f in create_detector("yunet").detect(image)]
    assert len(boxes) == 2
    noise = np.random.default_rng(0).normal(0, 2.0, image.shape)
    dim = np.clip(image * 0.09 + noise, 0, 255).astype(np.uint8)
    head = Head.load(models_dir() / "mask")
    assert [p.label for p in head.predict_boxes(dim, boxes)] == ["without_mask"] * 2
    monkeypatch.setattr(preprocess, "DARK_CROP", 0.0)
    assert "with_mask" in [p.label for p in head.predict_boxes(dim, boxes)]


def test_faces_too_dark_to_read_get_no_label(media, monkeypatch):
    """Under a mean grey level of 10 (where even the lifted crop is mostly noise) a face keeps its box but no
    head labels it, as a face under min_face; at 3x that light every head does."""
    from facekit import pipeline
    from facekit.detection import create_detector
    from facekit.heads import load_heads
    from facekit.pipeline import FacePipeline

    image = load_image(media / "two_people.jpg")
    faces = create_detector("yunet").detect(image)
    pipe = FacePipeline(None, load_heads(["mask", "gender"]))
    dark = (image * 0.04).astype(np.uint8)
    assert all(pipeline.brightness(dark, f.box) < pipeline.MIN_BRIGHTNESS_FOR_HEADS for f in faces)
    unlabelled = pipe.classify(dark, faces)
    assert [f.predictions for f in unlabelled] == [{}, {}]
    assert all("too dark to read" in pipe.why_unlabelled(dark, f) for f in unlabelled)  # what the CLI prints
    dim = (image * 0.12).astype(np.uint8)
    labelled = pipe.classify(dim, faces)
    assert all(set(f.predictions) == {"mask", "gender"} for f in labelled)
    assert [pipe.why_unlabelled(dim, f) for f in labelled] == [None, None]
    tiny = faces[0].replace(box=Box(faces[0].box.x1, faces[0].box.y1, faces[0].box.x1 + 6, faces[0].box.y1 + 6))
    assert "too small" in pipe.why_unlabelled(image, pipe.classify(image, [tiny])[0])
    monkeypatch.setattr(pipeline, "MIN_BRIGHTNESS_FOR_HEADS", 0.0)
    assert all(set(f.predictions) == {"mask", "gender"} for f in pipe.classify(dark, faces))


def _tiff(width: int, height: int, order: str = "<") -> bytes:
    """A TIFF header and first directory stating width x height, with no pixels behind it."""
    import struct

    tags = [(256, 4, width), (257, 4, height), (258, 3, 8), (262, 3, 1), (277, 3, 1)]
    body = b"".join(struct.pack(order + ("HHIHH" if kind == 3 else "HHII"), tag, kind, 1, value,
                                *((0,) if kind == 3 else ())) for tag, kind, value in tags)
    return (b"II*\0" if order == "<" else b"MM\0*") + struct.pack(order + "IH", 8, len(tags)) + body + b"\0" * 4


def test_small_gifs_and_tiffs_claiming_huge_pictures_are_refused_before_decoding(monkeypatch):
    """OpenCV allocates and fills a GIF's screen or a TIFF's page before decoding, up to its own 1 GP: a 29-byte
    GIF claiming 30000x30000 px took 6.9 GB and 23 s, a 64 KB TIFF 5.2 GB and 16 s, before MAX_PIXELS said no."""
    import io
    import struct

    from PIL import Image

    from facekit.preprocess import decode_image, header_size

    for kind, options in (("GIF", {}), ("TIFF", {}), ("TIFF", {"big_tiff": True})):
        held = io.BytesIO()
        Image.new("RGB", (64, 48)).save(held, kind, **options)
        assert header_size(held.getvalue()) == (64, 48) and decode_image(held.getvalue()).shape == (48, 64, 3)
    assert header_size(_tiff(64, 48, ">")) == (64, 48) and header_size(b"GIF89a not really") is None

    def decoded(*args):
        raise AssertionError("decoded a picture over the limit")

    monkeypatch.setattr(cv2, "imdecode", decoded)
    gif = b"GIF89a" + struct.pack("<HH", 30000, 30000) + b"\0\0\0,\0\0\0\0" + struct.pack("<HH", 30000, 30000)
    for bomb in (gif + b"\0\2\2L\1\0;", _tiff(30000, 30000), _tiff(30000, 30000, ">")):
        with pytest.raises(ImageError, match="30000x30000 px is over the limit"):
            decode_image(bomb)


@pytest.mark.parametrize("ext, kept", [(".jpg", 0.5), (".jpg", 0.002), (".png", 0.5), (".webp", 0.5), (".bmp", 0.5),
                                       (".gif", 0.5), (".tif", 0.001)])
def test_a_photo_cut_short_is_named_as_one(tmp_path, media, ext, kept):
    """An interrupted download or copy. Before, "not a readable image (corrupt or unsupported format)", which
    for a .jpg had the user wondering whether the format is read at all."""
    whole, cut = tmp_path / f"whole{ext}", tmp_path / f"cut{ext}"
    assert cv2.imwrite(str(whole), load_image(media / "two_people.jpg"))
    data = whole.read_bytes()
    cut.write_bytes(data[:max(12, int(len(data) * kept))])
    with pytest.raises(ImageError, match=r"not a readable image: cut short \(the file ends at [\d,]+ bytes, before "
                                         r"its picture does: an interrupted download or copy\?\)"):
        load_image(cut)


@pytest.mark.parametrize("data", [b"\xff\xd8\xff garbage, not a jpeg", b"GIF89a not really", b"\xff\xd8 truncated",
                                  b"hello"])
def test_garbage_is_not_taken_for_a_photo_cut_short(tmp_path, data):
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    with pytest.raises(ImageError, match=r"not a readable image \(corrupt or unsupported format\)"):
        load_image(path)


@pytest.mark.parametrize("name", ["notes.bmp", "notes.jpg"])
@pytest.mark.parametrize("data", [b"BM hello\n", b"BM hello, this is a text file about bitmaps, not one.\n"])
def test_text_that_starts_bm_is_not_a_bitmap_over_the_limit(tmp_path, name, data):
    """Before, its letters read as a BMP header's width and height: "image of 1702109281x1713403000 px is over the
    limit of 200 MP" (or, under 18 bytes, "cut short"), for a file that is no image at all."""
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ImageError, match=r"not a readable image \(corrupt or unsupported format\)$"):
        load_image(path)


def test_bitmaps_still_state_their_size_and_are_refused_over_the_limit(tmp_path, media):
    import struct

    from facekit.preprocess import header_size

    photo = load_image(media / "two_people.jpg")
    assert cv2.imwrite(str(tmp_path / "p.bmp"), photo)
    data = (tmp_path / "p.bmp").read_bytes()
    assert header_size(data) == (photo.shape[1], photo.shape[0])
    core = b"BM" + struct.pack("<IHHII", 26 + 16, 0, 0, 26, 12) + struct.pack("<HHHH", 2, 2, 1, 24) + bytes(16)
    assert header_size(core) == (2, 2) and load_image_bytes(tmp_path, core).shape == (2, 2, 3)
    bomb = data[:18] + struct.pack("<ii", 30000, -30000) + data[26:]
    with pytest.raises(ImageError, match="30000x30000 px is over the limit"):
        load_image_bytes(tmp_path, bomb)


@pytest.mark.parametrize("ext, params", [(".png", []), (".jpg", []), (".webp", [cv2.IMWRITE_WEBP_QUALITY, 80]),
                                         (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101])])
def test_headers_state_width_then_height(media, ext, params):
    """The pixel limit's message ("image of WxH px is over the limit") and the video reader's check read the size
    from the header: a wide photo's must come back as (width, height), not turned. WebP 101: lossless (VP8L)."""
    from facekit.preprocess import header_size

    photo = load_image(media / "two_people.jpg")  # 1126 x 661
    ok, data = cv2.imencode(ext, photo, params)
    assert ok and header_size(data.tobytes()) == (1126, 661)


def load_image_bytes(tmp_path, data):
    path = tmp_path / "held.bmp"
    path.write_bytes(data)
    return load_image(path)


def test_a_float_tiff_reads_as_its_photo(tmp_path, media, capfd):
    """An editor's 32-bit float TIFF (an HDR merge, a "floating point" export), 0-1, and with a phone's
    rotation. Before, "not a readable image (corrupt or unsupported format)" after OpenCV's own line
    "TIFFRGBAImageOK: Sorry, can not handle images with 32-bit samples"."""
    from PIL import Image

    photo = load_image(media / "two_people.jpg")
    assert cv2.imwrite(str(tmp_path / "float.tif"), photo.astype(np.float32) / 255)
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned a quarter, "rotate 90 CW to display"
    Image.fromarray(np.rot90(gray).astype(np.float32) / 255).save(tmp_path / "turned.tif", exif=exif)
    capfd.readouterr()
    assert np.abs(load_image(tmp_path / "float.tif").astype(int) - photo).max() <= 1
    assert np.abs(load_image(tmp_path / "turned.tif")[:, :, 0].astype(int) - gray).max() <= 1
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("ext, options", [(".gif", {"duration": 500}), (".webp", {"duration": 500, "lossless": True}),
                                          (".tif", {})])
def test_an_animation_or_a_multi_page_file_is_read_at_its_first_frame(tmp_path, media, ext, options):
    """As README says: the first frame of an animated GIF or WebP, the first page of a scanner's TIFF."""
    from PIL import Image

    first = Image.open(media / "two_people.jpg").convert("RGB")
    second = Image.open(media / "no_face_cat.png").convert("RGB").resize(first.size)
    first.save(tmp_path / f"both{ext}", save_all=True, append_images=[second], **options)
    read = load_image(tmp_path / f"both{ext}").astype(int)
    near = [np.abs(read - cv2.cvtColor(np.asarray(frame), cv2.COLOR_RGB2BGR)).mean() for frame in (first, second)]
    assert near[0] < 10 < near[1], near


def test_a_pil_image_whose_file_was_closed_unread_names_the_cause(media):
    """`with Image.open(upload) as im: ...` and analyze(im) after the block: PIL had not read the pixels and its
    file was closed; the error was "PIL image: not readable (AssertionError)", as for a broken file. It says the
    file was closed; an image loaded inside the block still reads."""
    from PIL import Image

    from facekit.preprocess import as_image

    with Image.open(media / "obama.jpg") as unread:
        pass
    with pytest.raises(ImageError, match=r"^PIL image: its file was closed before its pixels were read .*\.load\(\)"):
        as_image(unread)
    with Image.open(media / "obama.jpg") as loaded:
        loaded.load()
    assert np.array_equal(as_image(loaded), cv2.imread(str(media / "obama.jpg")))


def test_a_file_object_is_read_in_chunks_not_into_a_gib_set_aside(media, monkeypatch):
    """as_image(open(path, "rb")) asked read() for MAX_BYTES + 1 bytes at once: Python set aside the whole GiB for a
    220 KB photo, a MemoryError under an address-space limit (ulimit -v, a small container) and a GiB more per
    upload read at once by a web server's threads. Reads are READ_CHUNK at most; the photo and the limit are as
    before."""
    import io

    from facekit import preprocess
    from facekit.preprocess import as_image

    data = (media / "obama.jpg").read_bytes()
    asked: list[int] = []

    class Counted(io.BytesIO):
        def read(self, size=-1):
            asked.append(size)
            return super().read(size)

    assert np.array_equal(as_image(Counted(data)), cv2.imread(str(media / "obama.jpg")))
    assert 0 < max(asked) <= preprocess.READ_CHUNK < preprocess.MAX_BYTES
    monkeypatch.setattr(preprocess, "READ_CHUNK", 10_000)
    asked.clear()
    assert np.array_equal(as_image(Counted(data)), cv2.imread(str(media / "obama.jpg")))
    assert max(asked) == 10_000 and len(asked) == len(data) // 10_000 + 2  # the last read: b"", the end
    monkeypatch.setattr(preprocess, "MAX_BYTES", len(data) - 1)
    stream = Counted(data)
    with pytest.raises(ImageError, match="over the limit"):
        as_image(stream)
    assert stream.tell() == len(data)  # one byte past the limit, no further


def test_a_premultiplied_gray_pil_image_reads_as_its_gray(media):
    """A PIL image in mode "La" (gray and premultiplied alpha) was "PIL image: not readable (conversion from La
    to L not supported)": PIL converts it to "LA" only. It reads as its gray picture, as "LA" does."""
    from PIL import Image

    from facekit.preprocess import as_image

    with Image.open(media / "obama.jpg") as photo:
        gray_alpha = photo.convert("LA")
    assert np.array_equal(as_image(gray_alpha.convert("La")), as_image(gray_alpha))


def test_an_async_upload_names_what_to_pass_instead(media, recwarn):
    """analyzer.analyze(upload) with FastAPI's UploadFile itself (the handler's argument, whose read() is a
    coroutine) was "got UploadFile (its read() gave coroutine, not bytes)" and Python's "coroutine ... was never
    awaited" RuntimeWarning. One ImageError names the upload and says to pass upload.file or the awaited bytes."""
    import gc
    import io

    from facekit.preprocess import as_image

    class UploadFile:  # Starlette's, as far as facekit sees it
        filename = "obama.jpg"

        def __init__(self, data: bytes):
            self.file = io.BytesIO(data)

        async def read(self, size: int = -1) -> bytes:
            return self.file.read(size)

    upload = UploadFile((media / "obama.jpg").read_bytes())
    with pytest.raises(ImageError, match=r"^obama.jpg: an async file \(UploadFile: .*upload\.file.*await upload\.read"):
        as_image(upload)
    gc.collect()
    # This upload's read() alone: the collection also takes coroutines other tests on this worker left unawaited,
    # whose warnings were counted here (reproduced with one left in a reference cycle before this test).
    assert not [w for w in recwarn if "never awaited" in str(w.message) and "UploadFile.read" in str(w.message)]
    assert as_image(upload.file).shape == cv2.imread(str(media / "obama.jpg")).shape


def test_transparent_png_is_read_on_white(tmp_path, media):
    """A face on a fully transparent area (hidden pixels an editor kept) was read with its alpha dropped: found
    and drawn where every viewer shows nothing. The file, its bytes, a BGRA array and a PIL image read alike."""
    from PIL import Image

    from facekit.preprocess import as_image, decode_image

    photo = load_image(media / "obama.jpg")
    rgba = cv2.cvtColor(photo, cv2.COLOR_BGR2BGRA)
    rgba[..., 3] = 0
    rgba[:10, :10, 3] = 128  # half-seen corner
    cv2.imwrite(str(tmp_path / "hidden.png"), rgba)
    img = load_image(tmp_path / "hidden.png")
    assert (img[10:, 10:] == 255).all()
    assert np.abs(img[:10, :10].astype(int) - (photo[:10, :10] * 0.502 + 127).astype(int)).max() <= 2
    assert np.array_equal(decode_image((tmp_path / "hidden.png").read_bytes()), img)
    assert np.array_equal(as_image(rgba), img)
    assert np.array_equal(as_image(Image.open(tmp_path / "hidden.png")), img)


def test_a_gray_pngs_transparent_area_is_read_on_white(tmp_path, media):
    """A black-and-white cut-out saved as gray + alpha (PNG colour type 4, as GIMP and Pillow's "LA" write it): its
    hidden pixels were read as they were stored, while a colour PNG's are laid on white."""
    from PIL import Image

    gray = Image.open(media / "obama.jpg").convert("L")
    alpha = Image.new("L", gray.size, 0)
    alpha.paste(255, (0, 0, 100, 100))  # one corner seen, the face hidden
    Image.merge("LA", (gray, alpha)).save(tmp_path / "cutout.png")
    assert (tmp_path / "cutout.png").read_bytes()[25] == 4
    img = load_image(tmp_path / "cutout.png")
    assert (img[100:] == 255).all() and (img[:, 100:] == 255).all()
    assert np.array_equal(img[:100, :100, 0], np.asarray(gray)[:100, :100])


def test_a_palette_pngs_transparent_colour_is_read_on_white(tmp_path, media):
    """A cut-out saved with 256 colours keeps its transparency as one palette entry (a tRNS chunk), not an alpha
    channel: its hidden area read as the colour that entry holds (black here) where viewers show nothing."""
    from PIL import Image

    photo = load_image(media / "obama.jpg")
    palette = Image.fromarray(photo[..., ::-1]).quantize(255)  # entries 0-254; 255 left for the hidden area
    index = np.array(palette)
    index[:, :300] = 255
    cut_out = Image.fromarray(index, mode="P")
    cut_out.putpalette(palette.getpalette()[:765] + [0, 0, 0])
    cut_out.save(tmp_path / "cut_out.png", transparency=255)
    img = load_image(tmp_path / "cut_out.png")
    assert (img[:, :300] == 255).all() and img[:, 300:].mean() < 200


@pytest.mark.parametrize("options", [{"lossless": True, "exact": True}, {"quality": 90}])
def test_transparent_webp_is_read_on_white(tmp_path, media, options):
    """As a transparent PNG: a WebP's alpha (lossless VP8L's bit, lossy VP8X's flag) was dropped, its hidden
    pixels read as the picture."""
    from PIL import Image

    photo = load_image(media / "obama.jpg")
    rgba = cv2.cvtColor(photo, cv2.COLOR_BGR2RGBA)
    rgba[..., 3] = 0
    Image.fromarray(rgba).save(tmp_path / "hidden.webp", **options)
    assert (load_image(tmp_path / "hidden.webp") == 255).all()


@pytest.mark.parametrize("name", ["pil.tif", "opencv.tif", "palette.gif"])
def test_transparent_tiff_and_gif_are_read_on_white(tmp_path, media, name):
    """As a transparent PNG or WebP: a TIFF's alpha sample (an editor's, or OpenCV's RGBA without ExtraSamples) and
    a GIF's transparent colour were dropped, the face on the hidden part found and drawn where viewers show none."""
    from PIL import Image

    photo = load_image(media / "obama.jpg")
    rgba = cv2.cvtColor(photo, cv2.COLOR_BGR2RGBA)
    rgba[:, : rgba.shape[1] // 2, 3] = 0  # the left half hidden
    path = tmp_path / name
    if name == "pil.tif":
        Image.fromarray(rgba).save(path)
    elif name == "opencv.tif":
        cv2.imwrite(str(path), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    else:
        indexed = np.array(Image.fromarray(rgba[..., :3]).quantize(255))
        indexed[rgba[..., 3] == 0] = 255
        gif = Image.fromarray(indexed, "P")
        gif.putpalette(Image.fromarray(rgba[..., :3]).quantize(255).getpalette()[:765] + [0, 0, 0])
        gif.save(path, transparency=255)
    img = load_image(path)
    half = img.shape[1] // 2
    assert (img[:, :half] == 255).all() and (img[:, half:] < 250).any()


def test_a_raw_file_or_a_pdf_is_named_not_called_corrupt(tmp_path):
    """analyze("IMG_0001.CR2") (a photographer's folder read in a loop) or a scanned PDF said "not a readable image
    (corrupt or unsupported format)" of a sound file; the image script named a RAW file alone."""
    from facekit.preprocess import decode_image

    raw, pdf = tmp_path / "IMG_0001.CR2", tmp_path / "scan.pdf"
    raw.write_bytes(b"II*\x00\x10\x00\x00\x00CR\x02\x00 raw data")
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
    with pytest.raises(ImageError, match=r"IMG_0001.CR2: a camera RAW file \(not read: export it as JPEG or TIFF\)$"):
        load_image(raw)
    for held in (pdf, tmp_path / "scan.jpg"):
        held.write_bytes(pdf.read_bytes())
        with pytest.raises(ImageError, match=rf"{held.name}: a PDF document, not a photo"):
            load_image(held)
    with pytest.raises(ImageError, match=r"^upload: a PDF document, not a photo"):
        decode_image(pdf.read_bytes(), "upload")
    (tmp_path / "notes.jpg").write_text("not a photo")
    with pytest.raises(ImageError, match=r"not a readable image \(corrupt or unsupported format\)$"):
        load_image(tmp_path / "notes.jpg")


def test_a_file_over_the_byte_limit_is_refused_before_it_is_read(media, tmp_path, monkeypatch):
    """A photo's path had no size limit: a 3 GB file named .jpg was read whole (3.2 GB of memory, 40 s; a served
    command's in the server) to end in "cannot decode (> - Expected Ptr<cv::UMat> for argument 'buf')". A file over
    MAX_BYTES is one ImageError from its size, as an upload over it is."""
    from facekit import preprocess
    from facekit.preprocess import load_image

    photo = tmp_path / "photo.jpg"
    photo.write_bytes((media / "obama.jpg").read_bytes())
    size = photo.stat().st_size
    assert load_image(photo).shape[2] == 3
    monkeypatch.setattr(preprocess, "MAX_BYTES", size - 1)
    monkeypatch.setattr(np, "fromfile", lambda *_a, **_k: pytest.fail("the file was read"))
    with pytest.raises(ImageError) as err:
        load_image(photo)
    assert str(err.value) == (f"{photo}: {size:,} bytes, over the limit of {size - 1:,} bytes for an image "
                              "(facekit.preprocess.MAX_BYTES)")


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
def test_a_device_given_as_a_photo_says_it_is_a_device(device):
    """-i /dev/null said "empty file (0 bytes)" and /dev/zero read a GiB into memory before "over the limit":
    neither said that a device is no photo."""
    with pytest.raises(ImageError, match=f"^{device}: a device, not an image file$"):
        load_image(device)
