"""One resolver for every third-party file facekit uses.

Lookup order for `resolve(name)`:
  1. the local mirror folder `$FACEKIT_ASSETS` (laid out like ../shared/assets: models/, media/, ...);
  2. the download cache `$FACEKIT_CACHE` (default ~/.cache/facekit);
  3. a download from the canonical URL, with a progress bar, checked by sha256 where pinned,
     written to a temp file and renamed into the cache only when complete.
When none works, one `AssetError` line names the file, the URL and the env var.

`python -m facekit.assets fetch [--layout DIR]` puts every model in the cache (from the mirror or a
download) and lays out `face_detector/` and `examples/` the way the original PyImageSearch repo had them.
`list` shows where each file resolves from; both print each file's licence in brackets.
"""

from __future__ import annotations

# `python -m facekit.assets`: a Ctrl-C in the imports below (numpy, by records) is the command's one line and
# exit 130 (facekit.signals.start_guard; run_script ends it), not a KeyboardInterrupt traceback. So they come after.
# ruff: noqa: E402
if __name__ == "__main__":
    from facekit.signals import start_guard

    start_guard()

import errno
import hashlib
import os
import shutil
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from .errors import NO_ROOM_ERRNOS, AssetError, FacekitError, counted
from .records import atomic_write

ENV_MIRROR = "FACEKIT_ASSETS"
ENV_CACHE = "FACEKIT_CACHE"

_OPENCV_RAW = "https://raw.githubusercontent.com/opencv"
_FACE_RECOGNITION_RAW = "https://raw.githubusercontent.com/ageitgey/face_recognition/master/examples"

# Terms of use of each file, from the asset mirror's MANIFEST.md (one place: facekit.detection's LICENCES and the
# scripts' --detector help read them from here).
_RES10 = "OpenCV samples: BSD-3 / Apache-2.0"
_SCRFD = "InsightFace weights: non-commercial research only"
_MEDIAPIPE = "MediaPipe: Apache-2.0"
_IMAGENET = "Keras Applications: Apache-2.0; learnt from ImageNet, whose images are for non-commercial research"
_AIZOO = "AIZOOTech FaceMaskDetection: MIT"
_PYIS_PHOTO = "PyImageSearch example photo: no licence stated"
_FACE_RECOGNITION = "ageitgey/face_recognition examples: MIT"


@dataclass(frozen=True)
class Asset:
    name: str
    path: str  # relative to the mirror root
    url: str | None  # None: there is no public single-file download; mirror only
    sha256: str | None = None  # None: not pinned (the canonical bytes differ from the mirror's)
    # The file's terms of use, printed by `list` and `fetch` (and the detectors' by --help): whoever ships a
    # product learns them where the file is got, not from a manifest they may never open.
    licence: str = ""

    @property
    def filename(self) -> str:
        return Path(self.path).name


_ASSETS = [
    Asset("res10.prototxt", "models/deploy.prototxt",
          f"{_OPENCV_RAW}/opencv/4.x/samples/dnn/face_detector/deploy.prototxt",
          "f62621cac923d6f37bd669298c428bb7ee72233b5f8c3389bb893e35ebbcf795", licence=_RES10),
    Asset("res10.caffemodel", "models/res10_300x300_ssd_iter_140000.caffemodel",
          f"{_OPENCV_RAW}/opencv_3rdparty/dnn_samples_face_detector_20170830/res10_300x300_ssd_iter_140000.caffemodel",
          "2a56a11a57a4a295956b0660b4a3d76bbdca2206c4961cea8efe7d95c7cb2f2d", licence=_RES10),
    Asset("yunet", "models/face_detection_yunet_2023mar.onnx",
          "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/face_detection_yunet_2023mar.onnx",
          "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4", licence="MIT"),
    # SCRFD weights (InsightFace): for non-commercial research use only. cospectrum's copy of the 2.5GF file is
    # byte-identical to InsightFace's release; hpc203's is the 0.5GF release with key points.
    Asset("scrfd_2.5g", "models/scrfd_2.5g_bnkps.onnx",
          "https://raw.githubusercontent.com/cospectrum/scrfd/818a4448/models/scrfd.onnx",
          "9c162a817c7dd32d35d1f1c6ae6445032d6e73c6c5fe61d8b5b663ba8bc86b30", licence=_SCRFD),
    Asset("scrfd_500m", "models/scrfd_500m_kps.onnx",
          "https://raw.githubusercontent.com/hpc203/scrfd-opencv/eee7bf1e/weights/scrfd_500m_kps.onnx",
          "517cb1980c72422e676738fc45431700fb7cbee56d0f825b623ee427b3e5ce58", licence=_SCRFD),
    Asset("face_mesh", "models/face_landmark.tflite",
          "https://storage.googleapis.com/mediapipe-assets/face_landmark.tflite",
          "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814", licence=_MEDIAPIPE),
    # The mirror's copy holds Keras' weight values in other bytes, so Keras' own file can't be pinned
    # to the mirror hash; Keras itself does not pin it either.
    Asset("mobilenet_v2_imagenet", "models/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
          "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
          "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5", licence=_IMAGENET),
    # Other projects' trained models: for side-by-side benchmarks only.
    Asset("baseline.pyimagesearch_mask", "baselines/pyimagesearch_mask_detector.h5", None,
          "63b9dea8ae3309194c12cfed8ad7a0996416c46eb3d0dac34ea84853c94994a3",
          licence="PyImageSearch tutorial model: no licence stated; learnt from "
                  "prajnasb/observations (research and education)"),
    Asset("baseline.fer_mini_xception", "baselines/fer_mini_xception_emotion.hdf5", None,
          "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e",
          licence="the fer package: MIT; learnt from FER2013 (research)"),
    Asset("baseline.oarriaga_gender", "baselines/oarriaga_gender_mini_xception.hdf5", None,
          "7affc7bd520c48ca908eada26988d0e17fdfa1d447d8ae5675395f05ca6f943b",
          licence="oarriaga/face_classification: MIT; learnt from IMDB-WIKI (academic research only)"),
    Asset("baseline.dlib_gender", "baselines/dlib_models_gender_v1.onnx", None,
          "d4c4116cf720cde18de28a09071d8e1826bcff7935ef3470052163f3f6b5d734", licence="dlib-models: CC0"),
    Asset("baseline.aizoo_mask.prototxt", "baselines/aizoo_face_mask_detection.prototxt", None,
          "8de363802d3557f3d9ff7e72dd61eead60f5e9e145bb962d7979b99ff85d4212", licence=_AIZOO),
    Asset("baseline.aizoo_mask.caffemodel", "baselines/aizoo_face_mask_detection.caffemodel", None,
          "3c2e89cffdc9459a69dd5c2e4c1ca263e6488a56a5a37d81ca2ff32344fbf740", licence=_AIZOO),
    # Example photos and video.
    Asset("media.example_01", "media/example_01.png", None, licence=_PYIS_PHOTO),
    Asset("media.example_02", "media/example_02.png", None, licence=_PYIS_PHOTO),
    Asset("media.example_03", "media/example_03.png", None, licence=_PYIS_PHOTO),
    Asset("media.obama", "media/obama.jpg", f"{_FACE_RECOGNITION_RAW}/obama.jpg",
          "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6", licence=_FACE_RECOGNITION),
    Asset("media.two_people", "media/two_people.jpg", f"{_FACE_RECOGNITION_RAW}/two_people.jpg",
          "536b29cd513fb618e4d5aa79d51a279948daa804ce359463449cce5f9dc68aa7", licence=_FACE_RECOGNITION),
    Asset("media.short_hamilton_clip", "media/short_hamilton_clip.mp4",
          f"{_FACE_RECOGNITION_RAW}/short_hamilton_clip.mp4",
          "0b5ff4c55a4cd69f79956f312681730881fe1e2a9e6146e75c31636dffcc7e28", licence=_FACE_RECOGNITION),
]
REGISTRY: dict[str, Asset] = {a.name: a for a in _ASSETS}

# The mirror's datasets (MANIFEST.md) and their terms, by folder under datasets/ (FER+'s CSV by its path): the
# trainer records them in the card of a head learnt from one, as the shipped heads' cards have them, so a head
# rebuilt by README's recipe keeps the terms --tasks help shows even when --data-licence was not given.
_CELEBA = "CelebA (MMLAB, CUHK): NON-COMMERCIAL research purposes only"
DATASET_TERMS = {
    "mask": "prajnasb/observations (the PyImageSearch set): web photos with masks pasted on, offered for research "
            "and education",
    "gender": "balajisrinivas/Gender-Detection (gender_dataset_face): Google-Images face crops; no licence stated "
              "for the images, offered for research and education",
    "mask_real_train": "chandrikadeb7/Face-Mask-Detection (MIT; Bing / Kaggle / RMFD web photos) and "
                       "X-zhangyang/Real-World-Masked-Face-Dataset RWMFD part 1 (research use)",
    "mask_real_val": "Kaggle Face Mask 12K Images (ashishjangra27): web photos of real masks, offered for research; "
                     f"its faces without a mask are CelebA's, {_CELEBA.split(': ')[1]}",
    "mask_scenes_val": "Kaggle Face Mask Detection (andrewmvd): CC0",
    "celeba_gender": _CELEBA,
    "fer2013": "Kaggle FER2013 (ICML 2013 representation-learning challenge): faces from Google image searches, "
               "no licence stated for the images, offered for research",
    "fer2013/ferplus.csv": "Microsoft FER+ labels (github.com/microsoft/FERPlus, fer2013new.csv): MIT",
}
# The key a card's licences block names each by, as the shipped cards do.
_TERMS_KEY = {"fer2013/ferplus.csv": "ferplus"}


def dataset_terms(path: Path) -> tuple[str, str] | None:
    """(key, terms) of a dataset folder or file inside the mirror's datasets/ (links followed, so README's
    `ln -s "$FACEKIT_ASSETS"/datasets/* dataset/` counts; the mirror is $FACEKIT_ASSETS, or a folder laid out as
    one: datasets/ beside MANIFEST.md and SHA256SUMS), else None: a folder of one's own has no known terms."""
    try:
        real = Path(path).resolve()
    except OSError:
        return None
    try:
        root = mirror_root()
    except AssetError:  # a FACEKIT_ASSETS that is no folder: its terms are unknown, not a failed training
        root = None
    # The mirror is also known by its layout: the shipped cards' own commands name `-d ../shared/assets/datasets/...`,
    # and run so without FACEKIT_ASSETS (which only the Makefile sets) a gender head learnt from CelebA was carded
    # with no terms at all, offered by --tasks help as "no terms recorded".
    found = next((p.parent for p in real.parents if p.name == "datasets" and (p.parent / "MANIFEST.md").is_file()
                  and (p.parent / "SHA256SUMS").is_file()), None)
    for mirror in dict.fromkeys(r for r in (root, found) if r is not None):
        try:
            inside = real.relative_to((mirror / "datasets").resolve())
        except (ValueError, OSError):
            continue
        for key in (inside.as_posix(), inside.parts[0] if inside.parts else ""):
            if key in DATASET_TERMS:
                return _TERMS_KEY.get(key, key), DATASET_TERMS[key]
    return None

# What `make demo` lays out at the top level, as the seed repo had it.
LAYOUT = {
    "face_detector": ["res10.prototxt", "res10.caffemodel"],
    "examples": ["media.example_01", "media.example_02", "media.example_03", "media.obama", "media.two_people"],
}


def _setting_path(name: str, value: str) -> Path:
    """A folder setting's path, "~" read as a shell reads it (systemd's Environment= does not). Where this user has
    no home folder (a container run as --user 12345 without HOME) that was a RuntimeError traceback."""
    try:
        return Path(value).expanduser()
    except RuntimeError:
        raise AssetError(f"{name}={value}: ~ names no folder here (HOME is not set and user id {os.getuid()} has no "
                         "home folder): give an absolute path") from None


def mirror_root() -> Path | None:
    value = os.environ.get(ENV_MIRROR)
    if not value:
        return None
    root = _setting_path(ENV_MIRROR, value)
    if not root.is_dir():  # else ignored without a word, and a later error blamed the missing files
        raise AssetError(f"{ENV_MIRROR}={value}: no such folder (point it at the asset mirror, or unset it)")
    return root


def cache_root() -> Path:
    """$FACEKIT_CACHE, else the XDG cache folder ($XDG_CACHE_HOME, where a service or a read-only home
    points the caches, else ~/.cache) + facekit."""
    value = os.environ.get(ENV_CACHE)
    if value:
        return _setting_path(ENV_CACHE, value)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg).expanduser() / "facekit"
    try:
        home = Path.home()
    except RuntimeError:  # no HOME and no passwd entry: a container run as an arbitrary user (docker run --user)
        raise AssetError(f"no cache folder: HOME is not set and user id {os.getuid()} has no home folder; set "
                         f"{ENV_CACHE} (or HOME) to a folder you can write") from None
    return home / ".cache" / "facekit"


def check_cache() -> None:
    """$FACEKIT_CACHE as a setting, checked before any work (runtime.check_settings): one not there yet is made on
    first use, but one naming a file was ignored without a word while a mirror served the models (the SCRFD graph
    edited again on every run), and failed only once one did not."""
    value = os.environ.get(ENV_CACHE)
    if value and cache_root().exists() and not cache_root().is_dir():
        raise AssetError(f"{ENV_CACHE}={value}: not a folder (point it at a folder you can write, or unset it)")


def mirror_path(relative: str) -> Path | None:
    """A path inside the mirror (datasets, media), or None when no mirror is set or it lacks the path."""
    root = mirror_root()
    if root is None:
        return None
    path = root / relative
    try:
        return path if path.exists() else None
    except OSError as exc:  # a shared mirror another user keeps 0700: `assets list` / `fetch` were a traceback
        raise AssetError(f"cannot look into the asset mirror folder {path.parent} ({exc.strerror or exc}): make it "
                         f"readable to this user, or unset {ENV_MIRROR}") from None


def sha256sum(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve(name: str, download: bool = True) -> Path:
    """Local path of asset `name`, downloading it into the cache if needed."""
    try:
        asset = REGISTRY[name]
    except KeyError:
        raise AssetError(f"unknown asset {name!r}; known: {', '.join(sorted(REGISTRY))}") from None

    local = mirror_path(asset.path)
    if local is not None:
        return local
    cached = cache_root() / asset.path
    try:
        if cached.exists():
            return cached
    except OSError as exc:  # a shared cache filled by another user under umask 077: "cannot write" it said
        raise AssetError(f"cannot look into the cache folder {cached.parent} ({exc.strerror or exc}): set "
                         f"{ENV_CACHE} to a folder you can read and write, or {ENV_MIRROR} to the asset mirror"
                         ) from None
    where = _where(asset)
    if asset.url is None:
        raise AssetError(f"{asset.filename} is not in the mirror and has no public download: {where}")
    if not download:
        raise AssetError(f"{asset.filename} is not available locally: {where}, or download it from {asset.url}")
    _download(asset, cached)
    return cached


def _where(asset: Asset) -> str:
    # "set FACEKIT_ASSETS to a folder holding ..." told a user who had set it to set it: name the folder it names.
    root = mirror_root()
    if root is None:
        return f"set {ENV_MIRROR} to a folder holding {asset.path}"
    return f"{ENV_MIRROR}={root} has no {asset.path}: point it at the asset mirror, or copy the file there"


_checked: dict[tuple[str, int, int], bool] = {}


def resolve_checked(name: str) -> Path:
    """`resolve`, then the file's sha256 against the pinned one: a model file cut short by an interrupted
    copy, or replaced by other bytes, is one clear line naming the file and where to get it again,
    instead of a parse error deep inside OpenCV or onnxruntime (or silently different boxes)."""
    path = resolve(name)
    asset = REGISTRY[name]
    if asset.sha256 is None:
        return path
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _checked:  # hash each file once per process, again only if it changes
        try:
            _checked[key] = sha256sum(path) == asset.sha256
        except OSError as exc:  # another user's file (0600 under umask 077): "cannot write" it said of a read
            try:
                setting = ENV_CACHE if path.is_relative_to(cache_root()) else ENV_MIRROR
            except AssetError:  # no cache folder at all: the file is the mirror's
                setting = ENV_MIRROR
            raise AssetError(f"cannot read {path} ({exc.strerror or exc}): make it readable to this user, or "
                             f"set {setting} to a folder that holds a copy it can read") from None
    if not _checked[key]:
        try:
            in_cache = path == cache_root() / asset.path
        except AssetError:  # no cache folder at all: the file is the mirror's
            in_cache = False
        if not in_cache:  # the mirror's copy: often a share this user may not change, and the cache never used
            raise AssetError(f"{path} is truncated or corrupt ({stat.st_size} bytes, sha256 does not match): the "
                             f"asset mirror {ENV_MIRROR}={os.environ.get(ENV_MIRROR)} holds a damaged copy; replace "
                             f"it there, or unset {ENV_MIRROR} to use the cache"
                             + (f" (or download it from {asset.url})" if asset.url else ""))
        source = f"download it again from {asset.url}" if asset.url else f"copy it again into {ENV_MIRROR}"
        raise AssetError(f"{path} is truncated or corrupt ({stat.st_size} bytes, sha256 does not match): "
                         f"delete it and run `python -m facekit.assets fetch`, or {source}")
    return path


class _CannotWrite(AssetError):
    """The cache (or --layout's folder) takes no file: the same for every asset after it, so `fetch` stops there."""


def _make_folder(folder: Path) -> None:
    """mkdir -p, or one line naming the folder (a file in its way, no permission) and the setting to change."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        why = "a file is in the way" if isinstance(exc, (FileExistsError, NotADirectoryError)) else \
            (exc.strerror or str(exc))
        hint = f"; set {ENV_CACHE} to a folder you can write" if folder.is_relative_to(cache_root()) else ""
        raise _CannotWrite(f"cannot make the folder {folder} ({why}){hint}") from None


def _download(asset: Asset, dest: Path) -> None:
    # Imported here: urllib.request pulls in http, email and ssl, 33 ms of every command that only reads
    # models already on disk (on a 2-core AVX2 EPYC).
    import urllib.error
    import urllib.request

    assert asset.url is not None, asset.filename  # its one caller has refused an asset with none
    _make_folder(dest.parent)
    try:
        response = urllib.request.urlopen(asset.url, timeout=30)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        # Offline with no mirror (a board on a closed network) the line named only the mirror, which such a user
        # has not got: a copy fetched on another machine, saved where the cache is read, is taken as a download is.
        raise AssetError(f"cannot download {asset.filename} from {asset.url} ({reason}); {_where(asset)}, or save a "
                         f"copy downloaded elsewhere as {dest}") from None
    total = int(response.headers.get("Content-Length") or 0)
    done, digest = 0, hashlib.sha256()
    # A bar redrawn every 64 KB suits a terminal; a log (CI, 2> file, a notebook's stderr) got one line of ~250
    # carriage-return updates per 16 MB: it gets a line as the download starts and one as it ends.
    bar = _is_terminal(sys.stderr)
    if not bar:
        print(f"[INFO] downloading {asset.filename} from {asset.url}"
              + (f" ({total / 1e6:.1f} MB)" if total else ""), file=sys.stderr, flush=True)
    with response, _room_for(dest), atomic_write(dest, "wb") as out:  # a failed check raises inside: nothing saved
        while chunk := _read(response, asset, done, bar):
            out.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            if bar:
                _progress(asset.filename, done, total)
        if bar:
            print(file=sys.stderr)
        # A server that closes early ends the reads as the file's end would: a file with no pinned sha256
        # (MobileNetV2's) was kept cut short, and training failed on it later in h5py.
        if total and done < total:
            raise AssetError(f"the download of {asset.filename} from {asset.url} ended after {done} of {total} "
                             "bytes (the server closed the connection); not saved: run the command again")
        # Checked before "downloaded" is said: a log read "downloaded", then "not saved", and nothing said what to do
        # about a file that will fail again (changed at its source, or altered on the way by a proxy).
        if asset.sha256 and digest.hexdigest() != asset.sha256:
            raise AssetError(f"{asset.filename} from {asset.url} failed its sha256 check ({done} bytes, not the "
                             f"pinned file); not saved: {_where(asset)}")
        if not bar:
            print(f"[INFO] downloaded {asset.filename} ({done / 1e6:.1f} MB)", file=sys.stderr, flush=True)


def _read(response, asset: Asset, done: int, bar: bool) -> bytes:
    """The next piece of a download. A connection reset or stalled past the timeout mid-file was an OSError
    traceback, exit 1 (the temp file already gone): one line, as a download that cannot start is."""
    import http.client

    try:
        return response.read(1 << 16)
    except (OSError, http.client.HTTPException) as exc:
        if bar:
            print(file=sys.stderr)  # off the progress bar's line
        reason = exc.strerror or str(exc) if isinstance(exc, OSError) else type(exc).__name__
        raise AssetError(f"the download of {asset.filename} from {asset.url} broke off after {done} bytes "
                         f"({reason or 'timed out'}); not saved: run the command again, or {_where(asset)}") from None


def _is_terminal(stream) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # a stand-in without isatty, a closed stream
        return False


def _progress(label: str, done: int, total: int) -> None:
    if total:
        pct = 100.0 * done / total
        bar = "#" * int(pct / 4)
        print(f"\r[INFO] downloading {label} [{bar:<25}] {pct:5.1f}%", end="", file=sys.stderr, flush=True)
    else:
        print(f"\r[INFO] downloading {label} {done / 1e6:.1f} MB", end="", file=sys.stderr, flush=True)


def cache_copy(name: str) -> Path:
    """Make asset `name` available from the cache: copied there from the mirror if that is where it
    resolves, so that the scripts still find it when run later without `$FACEKIT_ASSETS` (the
    Makefile sets it for `make demo`, a user's shell usually does not)."""
    # Checked: a mirror file cut short was copied into the cache and `fetch` said nothing, exit 0; the
    # scripts then failed on it later, run without $FACEKIT_ASSETS.
    src = resolve_checked(name)
    asset = REGISTRY[name]
    dest = cache_root() / asset.path
    if src != dest:
        _copy_if_changed(src, dest, asset.sha256)
    return dest


def _copy_if_changed(src: Path, target: Path, sha256: str | None = None) -> None:
    """Copy unless a file of the same size (and the pinned sha256, where given: a damaged copy of the same
    size is replaced) is there already; an interrupted copy leaves no truncated file."""
    if target.exists() and target.stat().st_size == src.stat().st_size and \
            (sha256 is None or sha256sum(target) == sha256):
        return
    _make_folder(target.parent)
    with open(src, "rb") as inp, _room_for(target), atomic_write(target, "wb") as out:
        shutil.copyfileobj(inp, out)


@contextmanager
def _room_for(target: Path) -> Iterator:
    """A copy or download that the disk has no room for (full, a quota, ulimit -f): one line naming the file and
    the setting that puts it elsewhere. `fetch` into a full cache ended in an OSError traceback, exit 1 (the
    temp file was already gone, the files copied before it kept). So is one it may not write at all (a read-only
    file system or home, another user's folder), where the temp file could not be made: an OSError traceback too."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in NO_ROOM_ERRNOS | _NO_WRITE_ERRNOS:
            raise
        room = exc.errno in NO_ROOM_ERRNOS
        try:
            hint = (f"; set {ENV_CACHE} to a folder {'with room' if room else 'you can write'}"
                    if target.is_relative_to(cache_root()) else "")
        except AssetError:
            hint = ""
        raise _CannotWrite(f"cannot write {target} ({exc.strerror or exc})"
                         + (f": free some space there{hint}" if room else hint)) from None


_NO_WRITE_ERRNOS = frozenset((errno.EROFS, errno.EACCES, errno.EPERM))


def layout(root: Path, skip: Iterable[str] = ()) -> list[str]:
    """Copy the detector files and example photos into `root`/face_detector and `root`/examples. A detector file
    it cannot get is an [ERROR] line, and the rest are laid out all the same (as fetch goes on); skip: assets fetch
    has named already. Returns the names of those it could not get."""
    failed = []
    for folder, names in LAYOUT.items():
        target_dir = root / folder
        _make_folder(target_dir)
        laid: dict[str, list[str]] = {}  # licence -> the files laid out under it
        for name in names:
            # fetch offline, or on a damaged mirror, stopped here at the first detector file: the same download
            # tried again (its error line twice), no examples/ and no closing line of what was not fetched.
            if name in skip:
                continue
            try:
                src = resolve(name)
            except AssetError as exc:
                if name.startswith("media."):  # examples are a nicety, the detector is not
                    print(f"[WARN] {exc}", file=sys.stderr)
                else:
                    print(f"[ERROR] {name}: {exc}", file=sys.stderr)
                    failed.append(name)
                continue
            # Checked as the cache is: a damaged copy of the right size (a bit flip, a copy over a bad share) stayed.
            _copy_if_changed(src, target_dir / src.name, REGISTRY[name].sha256)
            laid.setdefault(REGISTRY[name].licence, []).append(src.name)
        # Each file's terms, as fetch gives the models': the example photos were laid out with none (PyImageSearch's
        # state no licence at all, face_recognition's are MIT).
        terms = "; ".join(f"{terms} ({', '.join(files)})" if len(laid) > 1 else terms for terms, files in laid.items())
        if laid:
            _say(f"[INFO] {target_dir}: {', '.join(sorted(p.name for p in target_dir.iterdir()))}"
                 + (f"  [{terms}]" if terms else ""))
    return failed


class _NoStdout(Exception):
    """Standard output refused a line (`list > /dev/full`, a full disk under a redirect)."""


def _say(line: str) -> None:
    """A line on standard output: one it cannot take was an OSError traceback (a closed pipe stays BrokenPipeError,
    the end of a `| head`, not an error)."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise _NoStdout(exc.strerror or str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    # The scripts' guard: a Ctrl-C (or SIGTERM) during a download or a copy was a KeyboardInterrupt traceback.
    from .cli.common import guarded

    return guarded(_main)(argv)


def _main(argv: list[str] | None = None) -> int:
    import argparse

    from .cli.common import ArgumentParser, add_version, exit_status_help

    # the commands' parser: a bad option or subcommand is one [ERROR] line, and --version is there as on the others;
    # its --help gave neither examples nor the exit statuses every other command's lists (fetch ends 2 for a file
    # it could not get).
    parser = ArgumentParser(prog="python -m facekit.assets", description=__doc__.split("\n\n")[0],
                            epilog="examples:\n  python -m facekit.assets fetch --layout .\n"
                                   "  python -m facekit.assets list\n" + exit_status_help(),
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_version(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="resolve (and download) every model asset; each line gives its licence")
    fetch.add_argument("--layout", type=Path, help="also lay out face_detector/ and examples/ here")
    fetch.add_argument("--commercial-use", action="store_true", default=None,
                       help="leave out the weights whose terms do not allow commercial use (SCRFD's, and the ImageNet "
                            "MobileNetV2 the trainer starts from), as the scripts' --commercial-use never loads them; "
                            "also on with FACEKIT_COMMERCIAL_USE=1")
    sub.add_parser("list", help="show where each asset resolves from, and its licence")
    # With no command argparse said "the following arguments are required: command", naming none.
    if not (sys.argv[1:] if argv is None else argv):
        parser.error(f"give a command: {', '.join(sub.choices)}")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for name, asset in REGISTRY.items():
                try:
                    resolve(name, download=False)
                    # The file is there, so this downloads nothing: a damaged copy was listed as if it were good.
                    line = f"{name:32s} {resolve_checked(name)}  [{asset.licence}]"
                except AssetError as exc:
                    line = f"{name:32s} -- {exc}  [{asset.licence}]"
                _say(line)
            return 0
        # One asset that cannot be had (offline, a damaged mirror copy) stopped the fetch of all after it.
        failed = []
        from .licensing import allows_commercial_use

        # A product's image built with FACEKIT_COMMERCIAL_USE=1 (`make demo`, a Dockerfile's fetch) got SCRFD's
        # non-commercial weights in its cache all the same, to be shipped with it.
        left = {name: asset.licence for name, asset in REGISTRY.items() if args.commercial_use
                and not name.startswith(("baseline.", "media.")) and not allows_commercial_use(asset.licence)}
        if left:
            _say("[INFO] commercial use: not fetched, their weights not for commercial use: "
                 + "; ".join(f"{name} ({terms})" for name, terms in left.items()))
        wanted = [name for name in REGISTRY if not name.startswith(("baseline.", "media.")) and name not in left]
        for name in wanted:
            try:
                _say(f"[INFO] {name}: {cache_copy(name)}  [{REGISTRY[name].licence}]")
            except _CannotWrite:
                raise
            except AssetError as exc:
                print(f"[ERROR] {name}: {exc}", file=sys.stderr)
                failed.append(name)
        if args.layout:
            failed += layout(args.layout, skip=failed)
        if failed:
            # Offline with no mirror every one fails: "the others are in the cache" named a cache holding none.
            rest = ("; the others are in the cache" if set(wanted) - set(failed)
                    else f": none of the {len(wanted)} is in the cache")
            raise AssetError(f"{counted(len(failed), 'asset')} not fetched: {', '.join(failed)}{rest}")
        return 0
    except FacekitError as exc:
        print(f"[ERROR] {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `... list | head`
        sys.stdout = None  # nothing left to flush into the closed pipe at exit
        return 0
    except _NoStdout as exc:
        sys.stdout = None  # nor into a full one
        print(f"[ERROR] cannot write standard output ({exc})", file=sys.stderr)
        return 2


if __name__ == "__main__":  # through the commands' entry, which ends the guard above
    from facekit.cli import run_script

    raise SystemExit(run_script("facekit.assets"))
