"""What of a photo's metadata its annotated image keeps: the colour profile always, EXIF only with
--keep-exif, and then without the GPS position, the thumbnail or a rotation the pixels already had."""

from __future__ import annotations

import io
import json
import shutil
import struct
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from .conftest import run_script

# Where a GPS block would say the photo was taken: 48 deg 51' 29.6" N, 2 deg 17' 40.2" E, 1234.56 m up; in lowest
# terms, as Pillow writes them (296/10 was never in the file, and its check could not fail).
LATITUDE = ((48, 1), (51, 1), (148, 5))
LONGITUDE = ((2, 1), (17, 1), (201, 5))
ALTITUDE = ((30864, 25),)  # one rational, 8 bytes: a value kept outside its directory, as the others


def display_p3_profile() -> bytes:
    """A matrix/TRC ICC v2 profile with Display P3's primaries (D50-adapted, as Apple's own), the profile of
    an iPhone's photos: enough for a colour-managed viewer, and bytes no encoder makes up on its own."""
    tags = [(b"rXYZ", _xyz(0.515121, 0.241196, -0.001053)), (b"gXYZ", _xyz(0.291977, 0.692245, 0.041885)),
            (b"bXYZ", _xyz(0.157104, 0.066574, 0.784073))]
    tags += [(sig, _gamma(2.2)) for sig in (b"rTRC", b"gTRC", b"bTRC")]
    return _profile(b"RGB ", b"Display P3 (facekit test)", tags)


def gray_profile() -> bytes:
    """A gray ICC profile (gamma 2.2), as a black-and-white photo exported from Lightroom or Photoshop carries."""
    return _profile(b"GRAY", b"Gray Gamma 2.2 (facekit test)", [(b"kTRC", _gamma(2.2))])


def _s15(v):
    return struct.pack(">i", round(v * 65536))


def _xyz(x, y, z):
    return b"XYZ \0\0\0\0" + _s15(x) + _s15(y) + _s15(z)


def _gamma(value):
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(value * 256)) + b"\0\0"


def _profile(space: bytes, name: bytes, tags) -> bytes:
    name += b"\0"
    tags = [(b"desc", b"desc\0\0\0\0" + struct.pack(">I", len(name)) + name + bytes(8 + 67 + 1)),
            (b"cprt", b"text\0\0\0\0No copyright\0"), (b"wtpt", _xyz(0.964203, 1.0, 0.824905)), *tags]
    table, data, start = b"", b"", 128 + 4 + 12 * len(tags)
    for sig, body in tags:
        body += bytes(-len(body) % 4)
        table += sig + struct.pack(">II", start + len(data), len(body))
        data += body
    header = (struct.pack(">I", start + len(data)) + b"none" + bytes([2, 0x10, 0, 0]) + b"mntr" + space + b"XYZ "
              + bytes(12) + b"acsp" + b"APPL" + bytes(24) + _s15(0.9642) + _s15(1.0) + _s15(0.8249) + b"none"
              + bytes(44))
    return header + struct.pack(">I", len(tags)) + table + data


def camera_exif(thumbnail: bytes) -> bytes:
    """A camera's EXIF (APP1 payload) of a photo stored sideways (1137 x 910 px): make, model, owner, date, serial
    number, Orientation 6, a GPS position and a thumbnail in IFD1, as cameras and phones write them (Pillow
    writes no IFD1: it is added by hand)."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x013B], exif[0x0112] = "Canon", "Canon EOS R5", "Jane Photographer", 6
    # Sub-IFDs as dicts: what get_ifd(...).update() adds, Pillow 9.0 (the declared lower bound) does not write.
    exif[0x8769] = {0x9003: "2024:05:17 14:03:22", 0xA431: "0123456789", 0xA002: 1137, 0xA003: 910}
    exif[0x8825] = {1: "N", 2: tuple(a / b for a, b in LATITUDE), 3: "E", 4: tuple(a / b for a, b in LONGITUDE),
                    6: ALTITUDE[0][0] / ALTITUDE[0][1]}
    tiff = bytearray(exif.tobytes()[6:])
    order = "<" if tiff[:2] == b"II" else ">"
    ifd0 = struct.unpack_from(order + "I", tiff, 4)[0]
    next_at = ifd0 + 2 + 12 * struct.unpack_from(order + "H", tiff, ifd0)[0]
    tiff += bytes(len(tiff) % 2)
    ifd1 = len(tiff)
    struct.pack_into(order + "I", tiff, next_at, ifd1)
    entries = [(0x0103, 3, 1, struct.pack(order + "HH", 6, 0)),  # Compression: JPEG
               (0x0201, 4, 1, struct.pack(order + "I", ifd1 + 2 + 3 * 12 + 4)),
               (0x0202, 4, 1, struct.pack(order + "I", len(thumbnail)))]
    tiff += struct.pack(order + "H", len(entries))
    tiff += b"".join(struct.pack(order + "HHI", tag, kind, n) + value for tag, kind, n, value in entries)
    return b"Exif\0\0" + bytes(tiff + bytes(4) + thumbnail)


def rationals(values, order: str) -> bytes:
    return b"".join(struct.pack(order + "II", a, b) for a, b in values)


def overlap(a, b) -> float:
    """Intersection over union of two [x1, y1, x2, y2] boxes."""
    w, h = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0) * max(h, 0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def detect(photo: Path, output: Path, *extra) -> dict:
    record = output.with_suffix(".json")
    res = run_script("detect_mask_image.py", "-i", photo, "-o", output, "-j", record, "--no-display",
                     "--tasks", "mask", *extra)
    assert res.returncode == 0, res.stderr
    return json.loads(record.read_text())


def test_annotated_images_keep_the_photos_colour_profile(media, tmp_path):
    """A Display-P3 photo's annotated image had no profile: every viewer read its numbers as sRGB and
    showed it dull. JPEG and PNG outputs, of a JPEG, PNG or HEIC photo, carry the photo's profile as it was."""
    pillow_heif = pytest.importorskip("pillow_heif")
    icc = display_p3_profile()
    assert ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip() == \
        "Display P3 (facekit test)"
    photos = tmp_path / "photos"
    photos.mkdir()
    # A third of its size: what is checked is the profile's bytes and the size, not the faces (the HEIC's encoding
    # and the runs took 6.1 s of CPU, now 2.3).
    face = Image.open(media / "obama.jpg").convert("RGB").reduce(3)
    face.save(photos / "studio.jpg", quality=92, icc_profile=icc)
    face.save(photos / "scan.png", icc_profile=icc)
    pillow_heif.from_pillow(face).save(photos / "IMG_0001.heic", icc_profile=icc)
    out = tmp_path / "annotated"
    res = run_script("detect_mask_image.py", "-i", photos, "-o", f"{out}/", "--no-display", "--tasks", "mask")
    assert res.returncode == 0, res.stderr
    detect(photos / "studio.jpg", tmp_path / "studio_as.png")
    for written in (out / "studio.jpg", out / "scan.png", out / "IMG_0001.jpg", tmp_path / "studio_as.png"):
        with Image.open(written) as image:
            assert image.info.get("icc_profile") == icc, written
            image.load()  # the pixels after the inserted segments or chunk still decode
            assert image.size == face.size


def test_exif_is_left_out_and_kept_with_keep_exif_without_gps_thumbnail_or_rotation(media, tmp_path):
    """A phone's photo stored sideways with Orientation 6: its annotated image is upright. With --keep-exif its
    EXIF is copied, but a copied Orientation 6 would turn the upright image a second time, and its GPS block and
    thumbnail (the photo before it was annotated) are what a user sharing a photo of people does not expect to
    publish; without it no EXIF at all goes out, nor into the JSON."""
    upright = Image.open(media / "obama.jpg").convert("RGB").reduce(3)  # its face 83 px wide: found in each run
    thumb = io.BytesIO()
    upright.resize((40, 50)).save(thumb, "JPEG", quality=50)
    exif = camera_exif(thumb.getvalue())
    photo = tmp_path / "IMG_1234.jpg"
    upright.rotate(90, expand=True).save(photo, quality=92, exif=exif)  # stored sideways

    plain = detect(photo, tmp_path / "plain.jpg")
    with Image.open(tmp_path / "plain.jpg") as image:
        assert not image.getexif() and "exif" not in image.info
        assert image.size == upright.size
    assert set(plain) == {"image", "width", "height", "faces"}
    assert "Canon" not in (tmp_path / "plain.json").read_text()

    kept = detect(photo, tmp_path / "kept.jpg", "--keep-exif")
    data = (tmp_path / "kept.jpg").read_bytes()
    with Image.open(tmp_path / "kept.jpg") as image:
        tags = image.getexif()
        assert (tags[0x010F], tags[0x0110], tags.get_ifd(0x8769)[0x9003]) == ("Canon", "Canon EOS R5",
                                                                              "2024:05:17 14:03:22")
        assert tags[0x0112] == 1
        assert (tags.get_ifd(0x8769)[0xA002], tags.get_ifd(0x8769)[0xA003]) == upright.size
        assert 0x8825 not in tags and not tags.get_ifd(0x8825)
        order = "<" if image.info["exif"][6:8] == b"II" else ">"
    position = [rationals(values, order) for values in (LATITUDE, LONGITUDE, ALTITUDE)]
    assert all(p in photo.read_bytes() for p in position)
    assert not any(p in data for p in position)
    assert thumb.getvalue() not in data
    assert (kept["width"], kept["height"]) == upright.size

    # Read again (OpenCV applies EXIF rotation), the annotated image is as it was drawn: its face where it was
    # (the label drawn over its forehead moves the box's top a little).
    again = detect(tmp_path / "kept.jpg", tmp_path / "again.png")
    assert (again["width"], again["height"]) == upright.size
    (face,), (first,) = again["faces"], kept["faces"]
    assert overlap(face["box"], first["box"]) > 0.8, (face["box"], first["box"])


def test_an_exif_block_that_cannot_be_read_is_left_out(media, tmp_path):
    """--keep-exif on a photo whose EXIF points past its own end: the annotated image is written, without it
    (copied unedited, it could carry what --keep-exif promises to remove), and one [WARN] line says so: it was
    left out in silence."""
    photo = tmp_path / "odd.jpg"
    Image.open(media / "obama.jpg").save(photo, exif=b"Exif\0\0MM\0*\x7f\xff\xff\xff")
    res = run_script("detect_mask_image.py", "-i", photo, "-o", tmp_path / "odd_out.jpg", "--no-display",
                     "--tasks", "mask", "--keep-exif")
    assert res.returncode == 0, res.stderr
    (line,) = [line for line in res.stderr.splitlines() if "EXIF" in line]
    assert line.startswith("[WARN] --keep-exif") and "odd_out.jpg" in line and "could not be read" in line, line
    assert "Warning" not in res.stderr, res.stderr  # Pillow's own "Corrupt EXIF data" lines, file path and all
    with Image.open(tmp_path / "odd_out.jpg") as image:
        assert "exif" not in image.info
        image.load()


def test_a_photo_stored_turned_with_an_exif_orientation_gives_the_upright_photos_faces(media, tmp_path):
    """A phone stores a photo as its sensor saw it and says how to turn it (EXIF Orientation); every viewer shows it
    turned, so its record must be the upright photo's: the displayed size, boxes in the displayed pixels, the same
    labels. Checked on JPEG, PNG (eXIf chunk) and WebP, each turn a viewer applies; stored losslessly, the record is
    the upright photo's to the last digit, and a JPEG saved again moves a box by at most a pixel (1 measured)."""
    # At half size and in one pass (--fast) the 16 photos cost a quarter of the full-size, two-pass run's CPU, and
    # the turn is undone before either: its faces (80 px) are found and labelled as well (2.2 s CPU, from 10.6).
    upright = Image.open(media / "two_people.jpg").convert("RGB").reduce(2)
    photos = tmp_path / "photos"
    photos.mkdir()
    upright.save(photos / "a_upright.png")
    # The turn that, undone by the tag's, gives the upright photo: 6 is stored a quarter turn counter-clockwise.
    stored_as = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270,
                 2: Image.Transpose.FLIP_LEFT_RIGHT, 5: Image.Transpose.TRANSPOSE}
    for orientation, turn in stored_as.items():
        exif = Image.Exif()
        exif[0x0112] = orientation
        turned = upright.transpose(turn)
        turned.save(photos / f"o{orientation}.png", exif=exif.tobytes())
        turned.save(photos / f"o{orientation}.webp", exif=exif.tobytes(), lossless=True)
        turned.save(photos / f"o{orientation}.jpg", exif=exif.tobytes(), quality=95)
    record = tmp_path / "faces.jsonl"
    res = run_script("detect_mask_image.py", "-i", photos, "-j", record, "--no-display", "--tasks", "mask,gender",
                     "--fast")
    assert res.returncode == 0, res.stderr
    records = {Path(r["image"]).name: r for r in map(json.loads, record.read_text().splitlines())}
    assert len(records) == 1 + 3 * len(stored_as)
    want = records.pop("a_upright.png")
    assert (want["width"], want["height"]) == upright.size and len(want["faces"]) == 2
    for name, got in records.items():
        assert (got["width"], got["height"]) == upright.size, name
        if not name.endswith(".jpg"):
            assert got["faces"] == want["faces"], name
            continue
        assert len(got["faces"]) == len(want["faces"]), name
        for face, other in zip(got["faces"], want["faces"]):
            assert max(abs(a - b) for a, b in zip(face["box"], other["box"])) <= 2, (name, face["box"], other["box"])
            assert [face[t]["label"] for t in ("mask", "gender")] == [other[t]["label"] for t in ("mask", "gender")]


def test_a_photo_from_a_named_pipe_is_annotated_without_its_metadata(media, tmp_path):
    """`-i <(curl -s URL) -o out.jpg --keep-exif`: the pipe's bytes were read once, for the pixels; looking in it
    again for the profile and EXIF would wait for a writer that is gone, and the run would never end. The image is
    written, without them."""
    import os
    import threading

    fifo = tmp_path / "photo.fifo"
    os.mkfifo(fifo)
    photo = io.BytesIO()
    Image.open(media / "obama.jpg").save(photo, "JPEG", quality=92, icc_profile=display_p3_profile(),
                                         exif=camera_exif(b""))
    # A daemon: a run that never opens the pipe leaves the writer blocked in open() for good, and a thread that
    # is not one kept the whole worker process from ending (its failed test, then a hang).
    writer = threading.Thread(target=fifo.write_bytes, args=(photo.getvalue(),), daemon=True)
    writer.start()
    try:
        record = tmp_path / "out.json"
        res = run_script("detect_mask_image.py", "-i", fifo, "-o", tmp_path / "out.jpg", "-j", record,
                         "--no-display", "--tasks", "mask", "--keep-exif", timeout=60)
    finally:
        writer.join(timeout=30)
    assert res.returncode == 0, res.stderr
    assert len(json.loads(record.read_text())["faces"]) == 1
    with Image.open(tmp_path / "out.jpg") as image:
        assert "icc_profile" not in image.info and "exif" not in image.info
        assert image.size == Image.open(media / "obama.jpg").size[::-1]  # turned by its Orientation 6


def test_a_black_and_white_photos_gray_profile_is_not_put_on_its_colour_image(media, tmp_path):
    """A black-and-white photo's gray profile (Gray Gamma 2.2) does not describe the three colour channels its
    annotated image is drawn in (coloured boxes and labels): that image goes out without a profile, read as
    sRGB."""
    gray = gray_profile()
    assert ImageCms.ImageCmsProfile(io.BytesIO(gray)).profile.xcolor_space.strip() == "GRAY"
    photo = tmp_path / "bw.jpg"
    Image.open(media / "obama.jpg").convert("L").save(photo, quality=92, icc_profile=gray)
    assert len(detect(photo, tmp_path / "bw_out.jpg")["faces"]) == 1
    with Image.open(tmp_path / "bw_out.jpg") as image:
        assert image.mode == "RGB" and "icc_profile" not in image.info


def test_an_exif_block_too_long_for_a_jpeg_segment_is_left_out_of_a_jpeg_said_so_and_kept_in_a_png(media, tmp_path):
    """A PNG's eXIf chunk may hold more than the 65,533 bytes a JPEG segment can: with --keep-exif a JPEG output is
    written without it (its length would not fit the segment's two bytes), and one [WARN] line says so and what
    keeps it, in a one-photo run and once for a folder's; a PNG output keeps it whole. It was left out in
    silence."""
    pillow_heif = pytest.importorskip("pillow_heif")
    exif = Image.Exif()
    exif[0x010F], exif[0x010E] = "Canon", "scanned album page " * 3700  # a description of ~70 KB
    photo = tmp_path / "scan.png"
    face = Image.open(media / "obama.jpg").convert("RGB").reduce(3)  # the EXIF's length is what counts, not the size
    face.save(photo, exif=exif.tobytes())
    assert len(Image.open(photo).info["exif"]) > 65_533
    photos = tmp_path / "album"  # HEIC photos, whose annotated images a folder run writes as .jpg
    photos.mkdir()
    for name in ("IMG_0001.heic", "IMG_0002.heic"):
        pillow_heif.from_pillow(face).save(photos / name, exif=exif.tobytes())
    # The PNG among them, annotated as a .png: the folder run's writer keeps it whole (one run less).
    shutil.copy(photo, photos / "scan.png")
    res = run_script("detect_mask_image.py", "-i", photo, "-o", tmp_path / "out.jpg", "--no-display",
                     "--tasks", "mask", "--keep-exif")
    assert res.returncode == 0, res.stderr
    (line,) = [line for line in res.stderr.splitlines() if "EXIF" in line]
    assert line.startswith("[WARN] --keep-exif") and "out.jpg" in line and "70,3" in line and ".png" in line, line
    with Image.open(tmp_path / "out.jpg") as image:
        assert "exif" not in image.info
        image.load()
    # A folder of them: one line for all, not one a photo.
    res = run_script("detect_mask_image.py", "-i", photos, "-o", tmp_path / "annotated", "--no-display",
                     "--tasks", "mask", "--keep-exif")
    assert res.returncode == 0, res.stderr
    (line,) = [line for line in res.stderr.splitlines() if "EXIF" in line]
    assert line.startswith("[WARN] --keep-exif") and "2 annotated images" in line and "IMG_0001.jpg" in line, line
    assert len(list((tmp_path / "annotated").glob("IMG_000?.jpg"))) == 2
    with Image.open(tmp_path / "annotated" / "scan.png") as image:
        assert image.getexif()[0x010F] == "Canon" and len(image.getexif()[0x010E]) == len("scanned album page ") * 3700


def test_a_phone_photos_exif_long_for_its_thumbnail_is_kept_in_a_jpeg(media, tmp_path):
    """A phone's HEIC or PNG export whose EXIF is over 65,533 bytes for its thumbnail (the photo before it was
    annotated, which --keep-exif leaves out anyway): with the thumbnail gone it fits a JPEG's segment, and the
    camera, date and serial number are kept (101,419 bytes, then 216). It was left out whole, in silence."""
    upright = Image.open(media / "obama.jpg").convert("RGB")
    thumb = io.BytesIO()
    upright.resize((640, 512)).save(thumb, "JPEG", quality=95)
    exif = camera_exif(thumb.getvalue())
    assert len(exif) > 65_533
    photo = tmp_path / "IMG_0042.png"
    upright.rotate(90, expand=True).save(photo, exif=exif)  # stored sideways, Orientation 6
    res = run_script("detect_mask_image.py", "-i", photo, "-o", tmp_path / "out.jpg", "--no-display",
                     "--tasks", "mask", "--keep-exif")
    assert res.returncode == 0, res.stderr
    assert "EXIF" not in res.stderr
    data = (tmp_path / "out.jpg").read_bytes()
    with Image.open(tmp_path / "out.jpg") as image:
        tags = image.getexif()
        assert (tags[0x010F], tags[0x0112], tags.get_ifd(0x8769)[0xA431]) == ("Canon", 1, "0123456789")
        assert 0x8825 not in tags and image.size == upright.size
        image.load()
    assert thumb.getvalue()[:4096] not in data


def test_a_webp_output_keeps_the_colour_profile_and_with_keep_exif_the_exif(media, tmp_path):
    """OpenCV's WebP writer keeps no metadata: a Display-P3 photo annotated as .webp looked dull and, with
    --keep-exif, lost its EXIF too, where a .jpg or .png kept both. The WebP is now an extended one (VP8X) with
    the profile and the cleaned EXIF; every decoder still reads its pixels."""
    upright = Image.open(media / "obama.jpg").convert("RGB").reduce(3)  # the metadata is checked, not the faces
    icc = display_p3_profile()
    photo = tmp_path / "IMG_2001.jpg"
    upright.rotate(90, expand=True).save(photo, quality=92, exif=camera_exif(b"\xff\xd8thumb"), icc_profile=icc)
    plain = detect(photo, tmp_path / "plain.webp")
    kept = detect(photo, tmp_path / "kept.webp", "--keep-exif")
    with Image.open(tmp_path / "plain.webp") as image:
        assert image.info.get("icc_profile") == icc and not image.getexif()
    with Image.open(tmp_path / "kept.webp") as image:
        assert image.info.get("icc_profile") == icc
        tags = image.getexif()
        assert (tags[0x010F], tags[0x0112], tags.get_ifd(0x8769)[0x9003]) == ("Canon", 1, "2024:05:17 14:03:22")
        assert 0x8825 not in tags
        image.load()
        assert image.size == upright.size
    import cv2

    for written, record in ((tmp_path / "plain.webp", plain), (tmp_path / "kept.webp", kept)):
        pixels = cv2.imread(str(written))
        assert pixels is not None and pixels.shape[:2] == (record["height"], record["width"]) == upright.size[::-1]


def test_a_tiff_photos_exif_is_kept_without_the_tiffs_own_tags(media, tmp_path):
    """Pillow keeps a TIFF's EXIF among the TIFF's own tags, not where a JPEG's is: --keep-exif on a scanner's or a
    camera's TIFF copied none of it, and said nothing. Its camera tags are kept now, cleaned as any photo's (no
    GPS, Orientation 1), and none of the tags that say how the TIFF stored its pixels (strips, compression)."""
    photo = tmp_path / "IMG_7001.tif"
    Image.open(media / "obama.jpg").convert("RGB").save(photo, exif=camera_exif(b"\xff\xd8thumb"))  # Orientation 6
    with Image.open(photo) as image:
        assert "exif" not in image.info and image.getexif()[0x010F] == "Canon"
    res = run_script("detect_mask_image.py", "-i", photo, "-o", tmp_path / "out.jpg", "--no-display",
                     "--tasks", "mask", "--keep-exif")
    assert res.returncode == 0 and "EXIF" not in res.stderr, res.stderr
    with Image.open(tmp_path / "out.jpg") as image:
        tags = image.getexif()
        assert (tags[0x010F], tags[0x013B], tags[0x0112]) == ("Canon", "Jane Photographer", 1)
        assert tags.get_ifd(0x8769)[0x9003] == "2024:05:17 14:03:22" and not tags.get_ifd(0x8825)
        assert not {0x0100, 0x0103, 0x0111, 0x0117} & set(tags), sorted(tags)  # width, compression, strips
        assert image.size == Image.open(media / "obama.jpg").size[::-1]  # upright: a quarter turn
