"""The asset resolver: mirror first, then cache, then a checked download; one clear error otherwise."""

from __future__ import annotations

import http.server
import shutil
import threading
from pathlib import Path

import pytest

from facekit import assets
from facekit.errors import AssetError

from .conftest import ASSETS, ROOT, needs_mirror, refused_to_this_user, run_script


@needs_mirror
def test_mirror_resolves_every_model_asset():
    for name, asset in assets.REGISTRY.items():
        if name.startswith(("media.", "baseline.")):
            continue
        path = assets.resolve(name, download=False)
        assert path.is_file() and path.stat().st_size > 1000, name
        if asset.sha256:  # the mirror holds exactly the pinned bytes
            assert assets.sha256sum(path) == asset.sha256, name


def test_offline_without_mirror_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv(assets.ENV_MIRROR, raising=False)
    monkeypatch.setenv(assets.ENV_CACHE, str(tmp_path / "cache"))
    asset = assets.REGISTRY["yunet"]
    monkeypatch.setitem(assets.REGISTRY, "yunet", assets.Asset("yunet", asset.path, "http://127.0.0.1:9/yunet.onnx",
                                                                asset.sha256))
    with pytest.raises(AssetError) as err:
        assets.resolve("yunet")
    message = str(err.value)
    assert "face_detection_yunet_2023mar.onnx" in message
    assert "http://127.0.0.1:9/yunet.onnx" in message and assets.ENV_MIRROR in message
    assert "\n" not in message
    assert not list((tmp_path / "cache").rglob("*.onnx")), "nothing half-downloaded may stay in the cache"
    # Offline with no mirror, the line named only the mirror; it names where a copy fetched elsewhere goes, and one
    # saved there is taken.
    saved = tmp_path / "cache" / asset.path
    assert message.endswith(f", or save a copy downloaded elsewhere as {saved}"), message
    if not (ASSETS / asset.path).is_file():
        pytest.skip("the copy saved in the cache is the asset mirror's (FACEKIT_ASSETS)")
    shutil.copy(ASSETS / asset.path, saved)
    assert assets.resolve_checked("yunet") == saved


def test_a_cache_that_is_a_file_is_one_clear_error(monkeypatch, tmp_path):
    """FACEKIT_CACHE naming a file (a typo, a photo's path) ended in a NotADirectoryError traceback."""
    monkeypatch.delenv(assets.ENV_MIRROR, raising=False)
    (tmp_path / "photo.jpg").write_bytes(b"not a folder")
    monkeypatch.setenv(assets.ENV_CACHE, str(tmp_path / "photo.jpg"))
    with pytest.raises(AssetError) as err:
        assets.resolve("yunet")
    assert str(err.value) == (f"cannot make the folder {tmp_path / 'photo.jpg' / 'models'} (a file is in the way); "
                              f"set {assets.ENV_CACHE} to a folder you can write")


def test_the_cache_follows_xdg_cache_home_unless_facekit_cache_says(monkeypatch, tmp_path):
    """A service with a read-only home points XDG_CACHE_HOME elsewhere: facekit's cache went to ~/.cache anyway
    and failed there. A relative XDG_CACHE_HOME is ignored, as the XDG spec says."""
    monkeypatch.delenv(assets.ENV_CACHE, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert assets.cache_root() == tmp_path / "xdg" / "facekit"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    assert assets.cache_root() == Path.home() / ".cache" / "facekit"
    monkeypatch.setenv(assets.ENV_CACHE, str(tmp_path / "mine"))
    assert assets.cache_root() == tmp_path / "mine"


def test_mirror_only_asset_names_the_env_var(monkeypatch, tmp_path):
    monkeypatch.setenv(assets.ENV_MIRROR, str(tmp_path))  # an empty mirror
    monkeypatch.setenv(assets.ENV_CACHE, str(tmp_path / "cache"))
    with pytest.raises(AssetError, match=assets.ENV_MIRROR):
        assets.resolve("baseline.pyimagesearch_mask")


@pytest.fixture
def local_server(tmp_path):
    """A file server on loopback standing in for the canonical URL."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_checks_sha256_and_caches(monkeypatch, tmp_path, local_server, capsys):
    root, url = local_server
    payload = b"not really a model, but bytes with a known hash" * 100
    (root / "good.bin").write_bytes(payload)
    import hashlib

    good = hashlib.sha256(payload).hexdigest()
    monkeypatch.delenv(assets.ENV_MIRROR, raising=False)
    monkeypatch.setenv(assets.ENV_CACHE, str(tmp_path / "cache"))
    monkeypatch.setitem(assets.REGISTRY, "t.good", assets.Asset("t.good", "models/good.bin", f"{url}/good.bin", good))
    monkeypatch.setitem(assets.REGISTRY, "t.bad", assets.Asset("t.bad", "models/bad.bin", f"{url}/good.bin", "0" * 64))

    path = assets.resolve("t.good")
    assert path.read_bytes() == payload and path.parent == tmp_path / "cache" / "models"
    (root / "good.bin").unlink()  # second call must come from the cache, not the server
    assert assets.resolve("t.good") == path

    (root / "good.bin").write_bytes(payload)
    capsys.readouterr()
    with pytest.raises(AssetError) as err:
        assets.resolve("t.bad")
    # no "downloaded" line before it, and the way forward: the same file will fail again
    assert str(err.value) == (f"bad.bin from {url}/good.bin failed its sha256 check ({len(payload)} bytes, not the "
                              f"pinned file); not saved: set {assets.ENV_MIRROR} to a folder holding models/bad.bin")
    assert "[INFO] downloaded" not in capsys.readouterr().err
    assert not (tmp_path / "cache" / "models" / "bad.bin").exists()
    assert [p.name for p in (tmp_path / "cache" / "models").iterdir()] == ["good.bin"]


def test_a_download_into_a_log_is_two_lines_not_a_redrawn_bar(monkeypatch, tmp_path, local_server, capsys):
    """A bar redrawn every 64 KB suits a terminal; CI logs, `2> log` and a notebook's stderr got ~250
    carriage-return updates per 16 MB in one line. Where stderr is no terminal: a line as it starts, one as it
    ends."""
    root, url = local_server
    payload = bytes(range(256)) * 2048  # 512 KB: eight reads
    (root / "big.bin").write_bytes(payload)
    monkeypatch.delenv(assets.ENV_MIRROR, raising=False)
    monkeypatch.setenv(assets.ENV_CACHE, str(tmp_path / "cache"))
    monkeypatch.setitem(assets.REGISTRY, "t.big", assets.Asset("t.big", "models/big.bin", f"{url}/big.bin", None))
    assets.resolve("t.big")
    err = capsys.readouterr().err
    assert "\r" not in err
    assert err.splitlines() == [f"[INFO] downloading big.bin from {url}/big.bin (0.5 MB)",
                                "[INFO] downloaded big.bin (0.5 MB)"], err


@pytest.fixture
def odd_server():
    """A server on loopback whose GET runs a test's own handler body (a connection closed early, a reset)."""
    behaviours = {}

    class Odd(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            behaviours[self.path](self)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Odd)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield behaviours, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_download_the_server_cuts_short_is_not_kept(monkeypatch, tmp_path, odd_server, capsys):
    """A server that closed the connection half-way through a file it had announced whole: the reads ended as at
    the file's end, and a file with no pinned sha256 (MobileNetV2's ImageNet weights) was kept in the cache cut
    short, "downloaded" said; training then failed on it in h5py. It is one line, and nothing is kept."""
    behaviours, url = odd_server

    def half(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", "200000")
        handler.end_headers()
        handler.wfile.write(b"x" * 100_000)
        handler.close_connection = True

    behaviours["/half.h5"] = half
    monkeypatch.delenv(assets.ENV_MIRROR, raising=False)
    monkeypatch.setenv(assets.ENV_CACHE, str(tmp_path / "cache"))
    monkeypatch.setitem(assets.REGISTRY, "t.half", assets.Asset("t.half", "models/half.h5", f"{url}/half.h5", None))
    with pytest.raises(AssetError) as err:
        assets.resolve("t.half")
    assert str(err.value) == (f"the download of half.h5 from {url}/half.h5 ended after 100000 of 200000 bytes (the "
                              "server closed the connection); not saved: run the command again")
    assert "[INFO] downloaded" not in capsys.readouterr().err
    assert list((tmp_path / "cache").rglob("*")) == [tmp_path / "cache" / "models"], "no file, no temp file"


def test_a_download_whose_connection_is_reset_mid_file_is_one_line(monkeypatch, tmp_path, odd_server):
    """A connection reset half-way through a download (a proxy, a flaky Wi-Fi) was a ConnectionResetError
    traceback, exit 1. It is one line naming the file and the URL; nothing is kept."""
    import socket
    import struct

    behaviours, url = odd_server

    def reset(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", "400000")
        handler.end_headers()
        handler.wfile.write(b"x" * 100_000)
        handler.wfile.flush()
        # linger 0: close() sends a RST, not a FIN
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()

    behaviours["/reset.onnx"] = reset
    monkeypatch.delenv(assets.ENV_MIRROR, raising=False)
    monkeypatch.setenv(assets.ENV_CACHE, str(tmp_path / "cache"))
    monkeypatch.setitem(assets.REGISTRY, "t.reset", assets.Asset("t.reset", "models/reset.onnx", f"{url}/reset.onnx",
                                                                 "0" * 64))
    with pytest.raises(AssetError) as err:
        assets.resolve("t.reset")
    message = str(err.value)
    assert message.startswith(f"the download of reset.onnx from {url}/reset.onnx broke off after "), message
    assert "(Connection reset by peer); not saved: run the command again, or set FACEKIT_ASSETS" in message, message
    assert list((tmp_path / "cache").rglob("*")) == [tmp_path / "cache" / "models"], "no file, no temp file"


@needs_mirror
def test_fetch_into_a_cache_it_may_not_write_is_one_line(monkeypatch, tmp_path, capsys):
    """`python -m facekit.assets fetch` into a cache folder on a read-only file system (a read-only home, a
    container's image) ended in an OSError traceback from the temp file, exit 1. It is one line naming the file
    and FACEKIT_CACHE, exit 2."""
    import errno
    import tempfile

    cache = tmp_path / "cache"
    (cache / "models").mkdir(parents=True)
    real = tempfile.mkstemp

    def read_only(*a, dir=None, **kw):
        if dir is not None and Path(dir).is_relative_to(cache):
            raise OSError(errno.EROFS, "Read-only file system", str(dir))
        return real(*a, dir=dir, **kw)

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    monkeypatch.setenv(assets.ENV_MIRROR, str(ASSETS))
    monkeypatch.setenv(assets.ENV_CACHE, str(cache))
    assert assets.main(["fetch"]) == 2
    first = cache / next(iter(assets.REGISTRY.values())).path
    assert capsys.readouterr().err == (f"[ERROR] cannot write {first} (Read-only file system); set "
                                       f"{assets.ENV_CACHE} to a folder you can write\n")
    assert list(cache.rglob("*")) == [cache / "models"]


def test_ctrl_c_during_fetchs_download_is_one_line_and_leaves_nothing(monkeypatch, tmp_path, capsys):
    """Ctrl-C while `python -m facekit.assets fetch` downloaded a model was a KeyboardInterrupt traceback. It ends
    as the scripts' Ctrl-C does: "[INFO] interrupted", exit 130, no file or temp file in the cache."""
    import io
    import urllib.request

    class Interrupted(io.BytesIO):
        headers = {"Content-Length": "300000"}
        calls = 0

        def read(self, n=-1):
            Interrupted.calls += 1
            if Interrupted.calls > 2:
                raise KeyboardInterrupt
            return b"x" * n

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: Interrupted())
    monkeypatch.delenv(assets.ENV_MIRROR, raising=False)
    monkeypatch.setenv(assets.ENV_CACHE, str(tmp_path / "cache"))
    assert assets.main(["fetch"]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == "[INFO] interrupted"
    assert list((tmp_path / "cache").rglob("*")) == [tmp_path / "cache" / "models"]


@needs_mirror
def test_layout_makes_the_seed_folders(tmp_path, capsys):
    assets.layout(tmp_path)
    # each folder's line gives its files' terms, as fetch's lines give the models': the photos had none
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"[INFO] {tmp_path / 'face_detector'}: deploy.prototxt, res10_300x300_ssd_iter_140000.caffemodel"
                     "  [OpenCV samples: BSD-3 / Apache-2.0]",
                     f"[INFO] {tmp_path / 'examples'}: example_01.png, example_02.png, example_03.png, obama.jpg, "
                     "two_people.jpg  [PyImageSearch example photo: no licence stated (example_01.png, example_02.png, "
                     "example_03.png); ageitgey/face_recognition examples: MIT (obama.jpg, two_people.jpg)]"], lines
    assert (tmp_path / "face_detector" / "deploy.prototxt").is_file()
    assert (tmp_path / "face_detector" / "res10_300x300_ssd_iter_140000.caffemodel").is_file()
    assert (tmp_path / "examples" / "example_01.png").is_file()
    # Each laid-out file is its asset's bytes: the checks above passed on empty or cut-short copies, and the
    # seed's script cannot load a cut-short caffemodel.
    for folder, names in assets.LAYOUT.items():
        for name in names:
            src = assets.resolve(name, download=False)
            assert (tmp_path / folder / src.name).read_bytes() == src.read_bytes(), name
    # A copy cut short (a copy interrupted by an older facekit, a full disk) is replaced on the next run.
    model = tmp_path / "face_detector" / "res10_300x300_ssd_iter_140000.caffemodel"
    whole = model.read_bytes()
    model.write_bytes(whole[:1000])
    assets.layout(tmp_path)
    assert model.read_bytes() == whole
    # So is a damaged copy of the same size (a pinned file: its sha256 tells).
    model.write_bytes(whole[:5000] + bytes(100) + whole[5100:])
    assets.layout(tmp_path)
    assert model.read_bytes() == whole


@needs_mirror
def test_fetch_copies_the_mirror_into_the_cache(monkeypatch, tmp_path):
    """After `make demo` (which sets FACEKIT_ASSETS) the scripts run from a plain shell too."""
    monkeypatch.setenv(assets.ENV_CACHE, str(tmp_path / "cache"))
    assert assets.main(["fetch"]) == 0
    monkeypatch.delenv(assets.ENV_MIRROR)
    for name in ("res10.caffemodel", "yunet", "face_mesh"):
        path = assets.resolve(name, download=False)
        assert path.is_relative_to(tmp_path / "cache") and path.stat().st_size > 1000, name
    assert not list((tmp_path / "cache").rglob(".*")), "no temp files left behind"


@needs_mirror
def test_fetch_does_not_copy_a_damaged_mirror_file_into_the_cache(monkeypatch, tmp_path, capsys):
    """A mirror file cut short (an interrupted copy onto the share) went into the cache without a word, exit 0,
    and a same-size damaged copy in the cache was never replaced: each run without the mirror then failed."""
    mirror = tmp_path / "mirror" / "models"
    mirror.mkdir(parents=True)
    for name in assets.REGISTRY:
        if not name.startswith(("baseline.", "media.")):
            (mirror / assets.REGISTRY[name].filename).symlink_to(assets.resolve(name, download=False))
    good = assets.resolve("yunet", download=False).read_bytes()
    (mirror / "face_detection_yunet_2023mar.onnx").unlink()
    (mirror / "face_detection_yunet_2023mar.onnx").write_bytes(good[:5000])
    monkeypatch.setenv(assets.ENV_MIRROR, str(tmp_path / "mirror"))
    monkeypatch.setenv(assets.ENV_CACHE, str(tmp_path / "cache"))
    assert assets.main(["fetch"]) == 2
    error, summary = capsys.readouterr().err.strip().splitlines()
    assert error.startswith("[ERROR] yunet: ") and "face_detection_yunet_2023mar.onnx is truncated or corrupt" in error
    assert summary == "[ERROR] 1 asset not fetched: yunet; the others are in the cache"
    assert not (tmp_path / "cache" / "models" / "face_detection_yunet_2023mar.onnx").exists()
    # The assets after it were fetched all the same: it stopped at the first it could not get.
    assert all((tmp_path / "cache" / a.path).is_file() for n, a in assets.REGISTRY.items()
               if n != "yunet" and not n.startswith(("baseline.", "media.")))

    listed = {}
    assert assets.main(["list"]) == 0
    for line in capsys.readouterr().out.splitlines():
        listed[line.split()[0]] = line
    # list showed the damaged mirror copy's path as if it were good
    assert "yunet" in listed and "-- " in listed["yunet"] and "is truncated or corrupt" in listed["yunet"]
    assert "-- " not in listed["scrfd_2.5g"]

    cached = tmp_path / "cache" / "models" / "face_detection_yunet_2023mar.onnx"
    cached.write_bytes(b"\0" * len(good))  # damaged, same size as the good file
    (mirror / "face_detection_yunet_2023mar.onnx").write_bytes(good)  # the share repaired: fetch heals the cache
    assert assets.main(["fetch"]) == 0
    assert cached.read_bytes() == good


def test_fetch_offline_with_no_mirror_says_the_cache_holds_none(monkeypatch, tmp_path, capsys):
    """Offline with no mirror, fetch named every file it could not get and ended "7 asset(s) not fetched: ...; the
    others are in the cache", of a cache that held none of them."""
    for name, asset in list(assets.REGISTRY.items()):
        monkeypatch.setitem(assets.REGISTRY, name, assets.Asset(asset.name, asset.path, "http://127.0.0.1:9/x",
                                                                asset.sha256, asset.licence))
    (tmp_path / "empty").mkdir()  # a mirror with nothing in it, as none
    monkeypatch.setenv(assets.ENV_MIRROR, str(tmp_path / "empty"))
    monkeypatch.setenv(assets.ENV_CACHE, str(tmp_path / "cache"))
    assert assets.main(["fetch"]) == 2
    wanted = [n for n in assets.REGISTRY if not n.startswith(("baseline.", "media."))]
    errors = capsys.readouterr().err.strip().splitlines()
    assert [line.split(":")[0] for line in errors[:-1]] == [f"[ERROR] {n}" for n in wanted], errors
    assert errors[-1] == (f"[ERROR] {len(wanted)} assets not fetched: {', '.join(wanted)}: none of the "
                          f"{len(wanted)} is in the cache")
    assert not any((tmp_path / "cache").rglob("*.*"))


@needs_mirror
def test_fetch_layout_goes_on_past_a_detector_file_it_cannot_get(monkeypatch, tmp_path, capsys):
    """make demo offline (fetch --layout) stopped at res10's prototxt: its download tried again and its error line
    printed twice, no examples/ laid out and no closing line naming what was not fetched."""
    mirror = tmp_path / "mirror"
    for name, asset in assets.REGISTRY.items():
        if name != "res10.prototxt" and not name.startswith("baseline."):
            (mirror / asset.path).parent.mkdir(parents=True, exist_ok=True)
            (mirror / asset.path).symlink_to(assets.resolve(name, download=False))
    asset = assets.REGISTRY["res10.prototxt"]
    monkeypatch.setitem(assets.REGISTRY, "res10.prototxt",
                        assets.Asset(asset.name, asset.path, "http://127.0.0.1:9/deploy.prototxt", asset.sha256,
                                     asset.licence))
    monkeypatch.setenv(assets.ENV_MIRROR, str(mirror))
    monkeypatch.setenv(assets.ENV_CACHE, str(tmp_path / "cache"))
    assert assets.main(["fetch", "--layout", str(tmp_path / "seed")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[ERROR]")]
    assert len(errors) == 2 and errors[0].startswith("[ERROR] res10.prototxt: "), errors
    assert errors[1] == "[ERROR] 1 asset not fetched: res10.prototxt; the others are in the cache"
    assert (tmp_path / "seed" / "face_detector" / "res10_300x300_ssd_iter_140000.caffemodel").is_file()
    assert sorted(p.name for p in (tmp_path / "seed" / "examples").iterdir()) == [
        "example_01.png", "example_02.png", "example_03.png", "obama.jpg", "two_people.jpg"]


def test_a_mirror_without_the_file_is_named_not_asked_for(monkeypatch, tmp_path):
    """FACEKIT_ASSETS set to a folder without the file (an empty or half-synced share) got "set FACEKIT_ASSETS to
    a folder holding ...", as if it were not set: the line now names the folder it points at."""
    monkeypatch.setenv(assets.ENV_MIRROR, str(tmp_path))
    monkeypatch.setenv(assets.ENV_CACHE, str(tmp_path / "cache"))
    asset = assets.REGISTRY["yunet"]
    monkeypatch.setitem(assets.REGISTRY, "yunet", assets.Asset("yunet", asset.path, "http://127.0.0.1:9/yunet.onnx",
                                                                asset.sha256))
    for name in ("yunet", "baseline.pyimagesearch_mask"):  # offline; no public download
        with pytest.raises(AssetError) as err:
            assets.resolve(name)
        message = str(err.value)
        assert f"{assets.ENV_MIRROR}={tmp_path} has no {assets.REGISTRY[name].path}" in message, message
        assert f"set {assets.ENV_MIRROR}" not in message and "\n" not in message


@needs_mirror
def test_list_and_fetch_name_each_files_licence(monkeypatch, tmp_path, capsys):
    """`list` and `fetch` named every file and where it came from but not its terms: fetch put InsightFace's
    non-commercial SCRFD weights in the cache beside MIT YuNet with nothing to tell them apart."""
    from facekit.detection import LICENCES

    assert assets.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(assets.REGISTRY)
    for name, asset in assets.REGISTRY.items():
        line = next(x for x in lines if x.split()[0] == name)
        assert asset.licence and line.endswith(f"[{asset.licence}]"), line
    for name in ("scrfd_2.5g", "scrfd_500m"):
        assert "non-commercial" in next(x for x in lines if x.startswith(name + " "))
    assert "[MIT]" in next(x for x in lines if x.startswith("yunet "))

    monkeypatch.setenv(assets.ENV_CACHE, str(tmp_path / "cache"))
    assert assets.main(["fetch"]) == 0
    fetched = capsys.readouterr().out.splitlines()
    scrfd = next(x for x in fetched if x.startswith("[INFO] scrfd_2.5g:"))
    assert scrfd.endswith("[InsightFace weights: non-commercial research only]") and (tmp_path / "cache").is_dir()
    # --detector's help reads the same terms, so it cannot say other than list does
    assert LICENCES["scrfd"] == assets.REGISTRY["scrfd_2.5g"].licence


def test_dataset_readme_states_the_terms_the_trainer_records_for_each_mirror_dataset():
    """dataset/README.md's table had no terms for most datasets, and called mask_real_val "real masks" where half
    its faces are CelebA's (non-commercial research only): the terms the trainer writes into a card read otherwise."""
    rows = {}
    for line in (ROOT / "dataset" / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) >= 5 and not line.startswith("|---"):
            rows[cells[0]] = cells[-1]
    assert rows.pop("dataset") == "terms"
    for key, terms in assets.DATASET_TERMS.items():
        names = {name: row for name, row in rows.items() if key in name.split(", ")}
        names = names or {name: row for name, row in rows.items() if name not in assets.DATASET_TERMS
                          and any(n.startswith(key + "/") for n in name.split(", "))}
        assert len(names) == 1, key
        row = next(iter(names.values()))
        assert ("non-commercial" in terms.lower()) == ("non-commercial" in row.lower()), (key, row)
        for licence in ("MIT", "CC0"):
            assert (licence in terms) == (licence in row), (key, licence, row)


def test_python_m_facekit_assets_says_its_version_and_a_bad_command_in_one_line():
    """`python -m facekit.assets`, where a distributor reads each downloaded file's terms, was the one command
    without --version ("the following arguments are required: command" under its usage, exit 2), and a mistyped
    subcommand was argparse's two lines where every other command gives one [ERROR] line."""
    import subprocess
    import sys

    from facekit import __version__

    def run(*args):
        return subprocess.run([sys.executable, "-m", "facekit.assets", *args], capture_output=True, text=True,
                              timeout=60, cwd=ROOT)

    res = run("--version")
    assert res.returncode == 0 and res.stdout.startswith(f"facekit {__version__} (Python "), res.stdout + res.stderr
    res = run("lst")
    assert res.returncode == 2 and res.stdout == "", res.stdout
    line, = res.stderr.splitlines()  # choices are quoted or not as the Python's argparse writes them
    assert line.startswith("[ERROR] argument command: invalid choice: 'lst' (choose from ") and line.endswith(
        "(see python -m facekit.assets --help)") and "fetch" in line, line


def test_a_cache_folder_this_user_cannot_look_into_is_one_line_naming_it(monkeypatch, tmp_path):
    # A shared FACEKIT_CACHE that root filled under umask 077 (models/ 0700), no mirror: the scripts said "cannot
    # write .../models/scrfd_2.5g_bnkps.onnx: Permission denied", an output's words for a model that was only read.

    monkeypatch.delenv(assets.ENV_MIRROR, raising=False)
    monkeypatch.setenv(assets.ENV_CACHE, str(tmp_path))
    models = tmp_path / "models"
    models.mkdir()
    with refused_to_this_user(monkeypatch, models, "stat"), pytest.raises(AssetError) as err:
        assets.resolve("yunet")
    assert str(err.value) == (f"cannot look into the cache folder {models} (Permission denied): set "
                              f"{assets.ENV_CACHE} to a folder you can read and write, or {assets.ENV_MIRROR} to "
                              "the asset mirror")


def test_a_model_file_this_user_cannot_read_is_named_as_read_not_written(monkeypatch, tmp_path):
    # A model in a shared cache that root copied there under umask 077 (0600): "cannot write ...: Permission denied"
    # was all the scripts said, an output's words for a file they only had to read.
    import shutil

    source = ASSETS / assets.REGISTRY["yunet"].path
    monkeypatch.delenv(assets.ENV_MIRROR, raising=False)
    monkeypatch.setenv(assets.ENV_CACHE, str(tmp_path))
    if not source.is_file():
        pytest.skip("needs the asset mirror's YuNet file")
    copy = tmp_path / assets.REGISTRY["yunet"].path
    copy.parent.mkdir(parents=True)
    shutil.copy(source, copy)
    with refused_to_this_user(monkeypatch, copy), pytest.raises(AssetError) as err:
        assets.resolve_checked("yunet")
    assert str(err.value) == (f"cannot read {copy} (Permission denied): make it readable to this user, or set "
                              f"{assets.ENV_CACHE} to a folder that holds a copy it can read")


@needs_mirror
def test_fetch_into_a_cache_with_no_room_is_one_line(tmp_path):
    """`python -m facekit.assets fetch` into a full cache (here: no file may pass 100 kB, as under ulimit -f) ended
    in an OSError traceback, exit 1. It is one line naming the file, why, and the setting; what was copied before
    it stays, and no temp file is left."""
    cache = tmp_path / "cache"
    res = run_script("facekit.assets", "fetch", env={assets.ENV_CACHE: str(cache), assets.ENV_MIRROR: str(ASSETS)},
                     max_file_bytes=100_000)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    line, = res.stderr.strip().splitlines()
    # The registry's first file over 100 kB is the one named.
    big = next(a for n, a in assets.REGISTRY.items() if not n.startswith(("baseline.", "media."))
               and (ASSETS / a.path).stat().st_size > 100_000)
    assert line == (f"[ERROR] cannot write {cache / big.path} (File too large): free some space there; set "
                    f"{assets.ENV_CACHE} to a folder with room"), line
    copied = [p for p in cache.rglob("*") if p.is_file()]
    assert copied and all(p.read_bytes() == (ASSETS / p.relative_to(cache)).read_bytes() for p in copied)
    assert not list(cache.rglob(".*")), "no temp files left behind"


def test_a_mirror_folder_this_user_cannot_look_into_is_one_line_naming_it(monkeypatch, tmp_path):
    # A shared FACEKIT_ASSETS another user keeps 0700: `python -m facekit.assets list` and `fetch` ended in a
    # PermissionError traceback, and the scripts named the file but not the setting that sent them there.
    monkeypatch.setenv(assets.ENV_MIRROR, str(tmp_path))
    monkeypatch.setenv(assets.ENV_CACHE, str(tmp_path / "cache"))
    models = tmp_path / "models"
    models.mkdir()
    with refused_to_this_user(monkeypatch, models, "stat"), pytest.raises(AssetError) as err:
        assets.resolve("yunet", download=False)
    assert str(err.value) == (f"cannot look into the asset mirror folder {models} (Permission denied): make it "
                              f"readable to this user, or unset {assets.ENV_MIRROR}")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("command", ["list", pytest.param("fetch", marks=needs_mirror)])
def test_a_full_standard_output_is_one_line(command, tmp_path):
    """`python -m facekit.assets list > /dev/full` (a redirect onto a full disk) ended in an OSError traceback."""
    import subprocess
    import sys

    from .conftest import _environment

    with open("/dev/full", "w") as full:
        res = subprocess.run([sys.executable, "-m", "facekit.assets", command], stdout=full, stderr=subprocess.PIPE,
                             text=True, cwd=ROOT, timeout=120, env=_environment({assets.ENV_CACHE: str(tmp_path)}))
    assert res.returncode == 2, res.stderr
    assert res.stderr.splitlines() == ["[ERROR] cannot write standard output (No space left on device)"], res.stderr


def test_a_damaged_mirror_file_says_to_mend_the_mirror_not_to_delete_it(monkeypatch, tmp_path):
    """A model cut short in a shared FACEKIT_ASSETS (an interrupted copy onto the share): the line said "delete it
    and run `python -m facekit.assets fetch`", of a file on a share the user often may not change, and fetch
    then failed on the same file. It names the mirror, and unsetting it (the cache serves then)."""
    damaged = tmp_path / "mirror" / assets.REGISTRY["yunet"].path
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"\0" * 5000)
    monkeypatch.setenv(assets.ENV_MIRROR, str(tmp_path / "mirror"))
    monkeypatch.setenv(assets.ENV_CACHE, str(tmp_path / "cache"))
    with pytest.raises(AssetError) as err:
        assets.resolve_checked("yunet")
    assert str(err.value) == (f"{damaged} is truncated or corrupt (5000 bytes, sha256 does not match): the asset "
                              f"mirror {assets.ENV_MIRROR}={tmp_path / 'mirror'} holds a damaged copy; replace it "
                              f"there, or unset {assets.ENV_MIRROR} to use the cache (or download it from "
                              f"{assets.REGISTRY['yunet'].url})")


def test_readme_names_where_each_download_comes_from():
    """README's resolver paragraph named "OpenCV's GitHub, opencv_zoo, MediaPipe's and Keras' storage" as where the
    downloads come from, and said each is sha256-checked; the default detector's weights come from two other
    people's GitHub copies of InsightFace's release, and MobileNetV2's file is not pinned."""
    from urllib.parse import urlparse

    paragraph = (ROOT / "README.md").read_text().split("3. a download from the canonical URL")[1].split("\n\n")[0]
    paragraph = " ".join(paragraph.split())
    named = {"opencv/opencv": "OpenCV's GitHub", "opencv/opencv_3rdparty": "OpenCV's GitHub",
             "opencv/opencv_zoo": "opencv_zoo", "cospectrum/scrfd": "cospectrum/scrfd",
             "hpc203/scrfd-opencv": "hpc203/scrfd-opencv", "mediapipe-assets": "MediaPipe's",
             "tensorflow/keras-applications": "Keras' storage"}
    for name, asset in assets.REGISTRY.items():
        if asset.url is None or name.startswith("media."):
            continue
        parts = urlparse(asset.url).path.strip("/").split("/")
        source = parts[0] if "googleapis" in asset.url and parts[0] != "tensorflow" else "/".join(parts[:2])
        assert source in named, f"{name}: {asset.url} comes from a source this test does not know"
        assert named[source] in paragraph, (name, named[source])
        if asset.sha256 is None:  # the one unpinned download, and README says so
            assert name == "mobilenet_v2_imagenet" and "every file but MobileNetV2's" in paragraph, name


def test_every_model_asset_fetch_gets_is_one_facekit_loads():
    """`fetch` downloaded res10_tf.pb / .pbtxt and blazeface, which nothing loads, and failed when they could not
    be had: each model asset is named where facekit or a benchmark resolves it."""
    sources = "\n".join(p.read_text(encoding="utf-8") for folder in ("facekit", "bench")
                        for p in (ROOT / folder).rglob("*.py") if p.name != "assets.py")
    unused = [name for name in assets.REGISTRY if not name.startswith(("baseline.", "media."))
              and f'"{name}"' not in sources]
    assert unused == []


def test_the_assets_command_says_its_commands_and_exit_statuses(capsys):
    """`python -m facekit.assets` with no command said "the following arguments are required: command" (which?), and its
    --help listed neither examples nor exit statuses, where every other command's does (fetch ends 2 for a file
    it could not get)."""
    from facekit.assets import main

    with pytest.raises(SystemExit) as stop:
        main([])
    assert stop.value.code == 2
    assert capsys.readouterr().err == "[ERROR] give a command: fetch, list (see python -m facekit.assets --help)\n"
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    said = capsys.readouterr().out
    assert "python -m facekit.assets fetch --layout ." in said and "\nexit status:\n  0    done\n  2    " in said, said
