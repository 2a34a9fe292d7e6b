"""The wheel as a user installs it: built from the checkout, installed into a fresh folder outside the repo,
`facekit-image` run from elsewhere on a real photo, with the models that came inside the package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT, built_once, read_pyproject


# What a build reads from a checkout; the rest of it (tests, scripts, benches) stays out of the wheel and sdist.
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "NOTICE", "MANIFEST.in")


def _clean_sources(src: Path) -> Path:
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, src / name)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "model.keras")
    for folder in ("facekit", "models"):
        shutil.copytree(ROOT / folder, src / folder, ignore=skip)
    return src


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    """The sdist as `python -m build --sdist` makes it (no isolation: nothing is downloaded) in a checkout that
    holds tests, caches and run outputs beside the sources. Once for both test workers."""
    def build(tmp: Path) -> Path:
        src = _clean_sources(tmp / "src")
        # what a working checkout holds beside the sources, none of which is the package's
        shutil.copytree(ROOT / "tests", src / "tests", ignore=shutil.ignore_patterns("__pycache__"))
        for junk in ("facekit/__pycache__/analyzer.cpython-311.pyc", "tests/__pycache__/conftest.cpython-311.pyc",
                     "runs/mask/state.json", "output/example_03.png"):
            (src / junk).parent.mkdir(parents=True, exist_ok=True)
            (src / junk).write_bytes(b"junk")
        res = subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "-o", str(tmp / "dist"),
                              str(src)], capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr
        return next((tmp / "dist").glob("facekit-*.tar.gz"))

    return built_once(tmp_path_factory, "sdist", build)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Build the wheel from a clean copy of the sources (a build in the checkout would reuse its build/
    folder, which can hold files deleted since), then install it without dependencies: they are the
    ones this environment already has, so nothing is downloaded. Once for both test workers; the tests write
    files of their own names in its folder."""
    def build(tmp: Path) -> dict:
        src = _clean_sources(tmp / "src")
        dist = tmp / "dist"
        res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                              "-w", str(dist), str(src)], capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        wheel = next(dist.glob("facekit-*.whl"))
        site = tmp / "site"
        res = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                              str(wheel)], capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        return {"wheel": wheel, "site": site, "cwd": tmp}

    made = built_once(tmp_path_factory, "installed", build)
    env = {k: v for k, v in os.environ.items() if k not in ("FACEKIT_MODELS", "PYTHONPATH")}
    env["PYTHONPATH"] = os.pathsep.join([str(made["site"]), sysconfig.get_paths()["purelib"]])
    return {**made, "env": env}


def test_wheel_carries_models_scripts_and_dependencies(installed):
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    # Every head committed under models/ (pyproject lists each folder as a package: setuptools warned ~130
    # lines about data in folders that are not, in every `pip install`).
    heads = sorted(p.parent.name for p in (ROOT / "models").glob("*/card.json"))
    assert {"mask", "emotion", "gender"} <= set(heads)
    for task in heads:
        assert f"facekit/models/{task}/model.tflite" in names and f"facekit/models/{task}/card.json" in names
    assert not any(n.endswith("model.keras") for n in names)
    meta = next(n for n in names if n.endswith("METADATA"))
    metadata = zipfile.ZipFile(installed["wheel"]).read(meta).decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert any("onnxruntime" in r and "extra" not in r for r in requires)
    assert not any("tensorflow" in r and "extra" not in r for r in requires)  # inference never needs it
    assert any("ray[data]" in r.replace(" ", "") and "scale" in r for r in requires)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    scripts = zipfile.ZipFile(installed["wheel"]).read(entry).decode()
    for name in ("facekit-image", "facekit-video", "facekit-train", "facekit-batch"):
        assert f"{name} = " in scripts


def test_installed_facekit_image_outside_the_repo(installed, media):
    out = installed["cwd"] / "result.json"
    script = installed["site"] / "bin" / "facekit-image"
    res = subprocess.run([sys.executable, str(script), "-i", str(media / "example_01.png"), "-j", str(out),
                          "--no-display"], capture_output=True, text=True, timeout=300, cwd=installed["cwd"],
                         env=installed["env"])
    assert res.returncode == 0, res.stderr
    faces = json.loads(out.read_text())["faces"]
    assert len(faces) == 1 and faces[0]["mask"]["label"] == "with_mask"
    assert {"emotion", "gender"} <= set(faces[0])
    where = subprocess.run([sys.executable, "-c", "import facekit, facekit.heads as h; "
                            "print(facekit.__file__); print(h.models_dir())"],
                           capture_output=True, text=True, timeout=60, cwd=installed["cwd"], env=installed["env"])
    package, models = where.stdout.split()
    site = str(installed["site"])
    assert package.startswith(site) and models == str(installed["site"] / "facekit" / "models")
    res = subprocess.run([sys.executable, str(installed["site"] / "bin" / "facekit-batch"), "--help"],
                         capture_output=True, text=True, timeout=60, cwd=installed["cwd"], env=installed["env"])
    assert res.returncode == 0 and "usage: facekit-batch" in res.stdout


def test_wheel_and_sdist_carry_the_licence_their_metadata_names(installed, sdist):
    """The wheel said `License-Expression: MIT` and carried no licence text, which MIT itself asks every copy to
    keep: a distributor had nothing to ship beside it. The LICENSE file now goes into the wheel's dist-info
    (PEP 639 `license-files`, named by `License-File`) and into the sdist."""
    import tarfile

    wheel = zipfile.ZipFile(installed["wheel"])
    names = wheel.namelist()
    info = next(n for n in names if n.endswith(".dist-info/METADATA")).rsplit("/", 1)[0]
    metadata = wheel.read(f"{info}/METADATA").decode()
    assert "License-File: LICENSE" in metadata.splitlines(), metadata[:800]
    text = wheel.read(f"{info}/licenses/LICENSE").decode()
    assert text.startswith("MIT License") and "Permission is hereby granted" in text
    assert (ROOT / "LICENSE").read_text() == text
    found = next(installed["site"].glob("facekit-*.dist-info/licenses/LICENSE"))
    assert found.read_text() == text
    with tarfile.open(sdist) as tar:
        top = tar.getnames()[0].split("/")[0]
        assert tar.extractfile(f"{top}/LICENSE").read().decode() == text
        assert "License-File: LICENSE" in tar.extractfile(f"{top}/PKG-INFO").read().decode().splitlines()


def test_the_package_says_its_shipped_weights_are_not_mit(installed, sdist):
    """The wheel's one licence line was `License-Expression: MIT` while it carries three heads whose weights
    inherit their images' terms, the gender head's CelebA's non-commercial ones: a distributor reading the
    metadata took all of it for MIT. The expression now names the weights apart, and NOTICE (beside LICENSE in
    the dist-info and the sdist) names each head's datasets and terms as its card keeps them, and the
    non-commercial detectors facekit downloads."""
    import tarfile

    from facekit.detection import LICENCES

    wheel = zipfile.ZipFile(installed["wheel"])
    info = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")).rsplit("/", 1)[0]
    metadata = wheel.read(f"{info}/METADATA").decode().splitlines()
    assert "License-Expression: MIT AND LicenseRef-facekit-model-weights" in metadata
    assert "License-File: NOTICE" in metadata
    notice = wheel.read(f"{info}/licenses/NOTICE").decode()
    assert notice == (ROOT / "NOTICE").read_text()
    with tarfile.open(sdist) as tar:
        top = tar.getnames()[0].split("/")[0]
        assert tar.extractfile(f"{top}/NOTICE").read().decode() == notice
    assert "License-Expression: MIT AND LicenseRef-facekit-model-weights" in notice
    blocks = {b.split(" ", 1)[0]: b for b in notice.split("\n- ")[1:]}
    shipped = sorted(n.split("/")[2] for n in wheel.namelist() if n.endswith("/card.json"))
    assert shipped == sorted(p.parent.name for p in (ROOT / "models").glob("*/card.json"))
    for task in shipped:
        card = json.loads(wheel.read(f"facekit/models/{task}/card.json"))
        block = blocks[task]
        assert block.startswith(f"{task} head (facekit/models/{task})"), block[:80]
        for name in set(card["licences"]) - {"model"}:
            assert f"{name}: " in block, (task, name)
        noncommercial = "non-commercial" in card["licences"]["model"]
        assert noncommercial == ("NON-COMMERCIAL RESEARCH ONLY" in block.splitlines()[0]), task
    for detector, terms in LICENCES.items():
        if "non-commercial" in terms:
            block = next(b for b in blocks.values() if detector in b.split(" (")[0].replace(",", "").split())
            assert "NON-COMMERCIAL RESEARCH ONLY" in block, detector


def test_the_sdist_holds_the_package_only_and_builds_the_same_wheel(installed, sdist, tmp_path):
    """The sdist carried tests/test_*.py (setuptools adds them) without the conftest.py and __init__.py they import
    from, nor the scripts, Makefile and asset mirror they run: a distributor's `pytest` on it failed at
    collection. It now holds the package (code, heads, README, LICENSE, NOTICE) and no test, cache or run output,
    and a wheel built from it has the files of the one built from the checkout."""
    import tarfile

    with tarfile.open(sdist) as tar:
        names = [n.split("/", 1)[1] for n in tar.getnames() if "/" in n]
    assert not [n for n in names if n.split("/")[0] in ("tests", "runs", "output") or "__pycache__" in n
                or n.endswith((".pyc", ".keras"))], names
    assert {"README.md", "LICENSE", "NOTICE", "pyproject.toml", "facekit/__init__.py",
            "models/gender/card.json", "models/gender/model.tflite"} <= set(names)
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          "-w", str(tmp_path), str(sdist)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    rebuilt = zipfile.ZipFile(next(tmp_path.glob("facekit-*.whl"))).namelist()
    assert sorted(rebuilt) == sorted(zipfile.ZipFile(installed["wheel"]).namelist())


def test_the_installed_package_says_it_is_typed(installed):
    """A project type-checking its use of facekit (mypy, pyright) got "Cannot find implementation or library stub
    for module named 'facekit'" and every facekit name as Any: the package is annotated, but only a py.typed
    marker inside it (PEP 561) lets checkers read an installed package's annotations."""
    assert "facekit/py.typed" in zipfile.ZipFile(installed["wheel"]).namelist()
    assert (installed["site"] / "facekit" / "py.typed").is_file()


def test_python_m_facekit_runs_each_command_and_says_its_version(installed, media):
    """Where the console scripts are not on PATH (`pip install --user`, a venv not activated): `python -m
    facekit image ...` runs the command; with no command, the list of them. --version names facekit's
    version (the wheel's, written once in facekit/__init__.py) and its engines', for a bug report."""
    def run(*args):
        return subprocess.run([sys.executable, "-m", "facekit", *map(str, args)], capture_output=True, text=True,
                              timeout=300, cwd=installed["cwd"], env=installed["env"])

    out = installed["cwd"] / "m.json"
    res = run("image", "-i", media / "obama.jpg", "-j", out, "--no-display", "--tasks", "mask")
    assert res.returncode == 0, res.stderr
    assert len(json.loads(out.read_text())["faces"]) == 1
    res = run()
    assert res.returncode == 2 and all(f"  {c} " in res.stderr for c in ("image", "video", "train", "batch", "serve"))
    res = run("imgae")
    assert res.returncode == 2 and res.stderr.strip().splitlines() == [
        "[ERROR] unknown command 'imgae': use one of image, video, train, batch, serve (python -m facekit --help)"]
    version = installed["wheel"].name.split("-")[1]
    for res in (run("--version"), run("video", "--version"),
                subprocess.run([sys.executable, str(installed["site"] / "bin" / "facekit-train"), "--version"],
                               capture_output=True, text=True, timeout=60, env=installed["env"])):
        assert res.returncode == 0 and res.stdout.startswith(f"facekit {version} (Python "), res.stdout + res.stderr
        assert "OpenCV 4." in res.stdout and "onnxruntime " in res.stdout


def test_one_version_past_0_1_0_in_the_wheel_the_code_and_readme(installed):
    """facekit said 0.1.0 through hundreds of changes (new heads, defaults, outputs), so a job.json, card or bug
    report naming it told nothing. The version is written once (facekit/__init__.py); the wheel's name and
    metadata, and every version README quotes for a wheel or a job.json, are that one."""
    import re

    from packaging.version import Version

    from facekit import __version__

    assert Version(__version__) >= Version("0.2.0")
    assert installed["wheel"].name.startswith(f"facekit-{__version__}-")
    wheel = zipfile.ZipFile(installed["wheel"])
    meta = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    assert f"Version: {__version__}" in wheel.read(meta).decode().splitlines()
    readme = (ROOT / "README.md").read_text()
    quoted = re.findall(r'facekit-(\d+\.\d+\.\d+)-py3|"facekit": "(\d+\.\d+\.\d+)"', readme)
    assert len(quoted) >= 2 and {a or b for a, b in quoted} == {__version__}, quoted


# Modules that run only with an extra installed; every other module runs on `pip install .` alone.
EXTRA_MODULES = {"training.py": "train", "evaluation.py": "train", "convert.py": "train", "batch.py": "scale"}
OPTIONAL_IMPORTS = {"pillow_heif": "heic"}  # imported inside try / except ImportError, with its own message
# Imported only to read an object of that library the caller passed: it is there.
CALLERS_OWN: set[str] = set()
# A module's distribution where the name differs and the extra is not installed here (packages_distributions()
# knows installed ones only): `pip install '.[test]'` has no scikit-learn, and sklearn was then "undeclared".
DISTRIBUTION_OF = {"sklearn": "scikit-learn"}


def test_every_import_is_a_declared_dependency():
    """scipy (the tracker) came only through scikit-learn, a training extra: `pip install .` then ran
    facekit-video into a ModuleNotFoundError. Each module's third-party imports must be in the package's
    dependencies, or in the extra that module needs."""
    import ast
    import re
    from importlib.metadata import packages_distributions

    project = read_pyproject()["project"]

    def names(requirements):
        return {re.split(r"[<>=!;\[ ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}

    base = names(project["dependencies"])
    extras = {k: names(v) for k, v in project["optional-dependencies"].items()}
    distributions = packages_distributions()
    missing = []
    for path in sorted((ROOT / "facekit").rglob("*.py")):
        allowed = base | extras.get(EXTRA_MODULES.get(path.name, ""), set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module.split(".")[0]]
            else:
                continue
            for module in modules:
                if module in sys.stdlib_module_names or module == "facekit" or module in CALLERS_OWN:
                    continue
                if module in OPTIONAL_IMPORTS:
                    assert OPTIONAL_IMPORTS[module] in extras
                    continue
                named = distributions.get(module, [DISTRIBUTION_OF.get(module, module)])
                dists = {d.lower().replace("_", "-") for d in named}
                if not dists & allowed and not (module == "tensorflow" and "tensorflow-cpu" in allowed):
                    missing.append(f"{path.relative_to(ROOT)}: {module}")
    assert not missing, missing


# The first release of each dependency that does what facekit needs, each tried on Python 3.10 with numpy 2.0.0.
# numpy 2 has another C ABI than numpy 1: a wheel built against numpy 1 fails to import beside it (OpenCV before
# 4.10.0.84, onnxruntime before 1.19); OpenCV before 4.12 has no GIF decoder (a GIF: "not a readable image");
# with ai-edge-litert before 2.1 a forked worker hung on a head or mesh the parent had run (test_api's fork tests).
LOWEST_THAT_WORKS = {"opencv-python": "4.12.0.88", "onnxruntime": "1.19", "ai-edge-litert": "2.1"}


def _requirements(lines) -> dict:
    from packaging.requirements import Requirement

    found = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            found[(req.name.lower(), str(req.marker or ""))] = req.specifier
    return found


def test_declared_lower_bounds_install_something_that_runs():
    """`pip install facekit` with the lowest versions its metadata allowed (uv's --resolution lowest-direct, on
    Python 3.10) got opencv-python 4.8 and onnxruntime 1.17 beside numpy 2: facekit-image and every import of
    cv2 was "A module that was compiled using NumPy 1.x cannot be run in NumPy 2" and a traceback. The lower
    bounds are the first numpy 2 builds now (OpenCV's, the first that reads GIF photos), and requirements.txt
    (make demo's) asks for what the package does."""
    from packaging.version import Version

    project = read_pyproject()["project"]
    declared = _requirements(project["dependencies"] + sum(project["optional-dependencies"].values(), []))
    listed = _requirements((ROOT / "requirements.txt").read_text().splitlines())
    assert {k: str(v) for k, v in declared.items()} == {k: str(listed.get(k)) for k in declared}
    for name, first in LOWEST_THAT_WORKS.items():
        specifier = declared[(name, "")]
        lowest = [Version(s.version) for s in specifier if s.operator == ">="]
        assert lowest and lowest[0] >= Version(first), f"{name}{specifier}: {first} is the first that works"


def test_the_code_is_python_the_oldest_declared_version_reads():
    """requires-python allows 3.10, and the suite mostly runs on 3.11: syntax new in 3.11 (`except*`) or a module
    new there (tomllib, which stopped two tests on 3.10 at ModuleNotFoundError) passed here and failed a 3.10
    user at import. Every module is parsed as the oldest declared Python parses it."""
    import ast
    import re

    floor = re.fullmatch(r">=(\d+)\.(\d+)", read_pyproject()["project"]["requires-python"])
    oldest = (int(floor[1]), int(floor[2]))
    assert oldest == (3, 10)  # a new floor: the standard modules new since it go here
    newer_stdlib = {"tomllib"}
    paths = [p for folder in ("facekit", "bench", "tools", "tests") for p in (ROOT / folder).rglob("*.py")]
    for path in sorted(paths + list(ROOT.glob("*.py"))):
        tree = ast.parse(path.read_text(), str(path), feature_version=oldest)  # a SyntaxError names the line
        # An import inside a try (with its fallback in the except) is how such a module is used on both.
        guarded = {id(n) for t in ast.walk(tree) if isinstance(t, ast.Try) for s in t.body for n in ast.walk(s)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and id(node) not in guarded:
                found = {a.name.split(".")[0] for a in node.names} & newer_stdlib
                assert not found, f"{path.relative_to(ROOT)}:{node.lineno}: {found} is not in Python 3.10"


def _checkout_for_make(tmp_path: Path) -> Path:
    """facekit and the Makefile in a folder whose venv make takes as set up (this Python): make has nothing
    to install."""
    clone = tmp_path / "clone"
    shutil.copytree(ROOT / "facekit", clone / "facekit", ignore=shutil.ignore_patterns("__pycache__", "models"))
    shutil.copy(ROOT / "Makefile", clone / "Makefile")
    shutil.copy(ROOT / "pyproject.toml", clone / "pyproject.toml")
    (clone / ".venv" / "bin").mkdir(parents=True)
    (clone / ".venv" / "bin" / "python").symlink_to(sys.executable)
    (clone / "requirements.txt").touch()
    (clone / ".venv" / ".installed").touch()  # set up already: make has nothing to install
    (clone / ".venv" / ".editable").touch()
    return clone


def _make(clone: Path, *args: str, timeout: int = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    """`make ARGS` in `clone` as a user types it: a make of its own, not a sub-make of one that started this suite
    (`make -C checkout test` exports -w, and each make here then printed its "make[1]: Entering directory" lines
    around the one line the tests read: two failed)."""
    top = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run(["make", *args], cwd=clone, capture_output=True, text=True, timeout=timeout,
                          env={**top, **(env or {})})


def _make_compile(clone: Path) -> subprocess.CompletedProcess:
    return _make(clone, "-s", "compile", timeout=300, env={"PYTHONDONTWRITEBYTECODE": "1"})


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_compiles_facekit_for_processes_that_cannot_cache_it(tmp_path):
    """`make demo` / `make bench` compile facekit as pip compiles a wheel: with PYTHONDONTWRITEBYTECODE set
    (many container images) an editable checkout was compiled again by every process (40-70 ms a photo)."""
    import importlib.util

    clone = _checkout_for_make(tmp_path)
    res = _make_compile(clone)
    assert res.returncode == 0, res.stderr
    sources = sorted((clone / "facekit").rglob("*.py"))
    assert len(sources) > 20
    for source in sources:
        cached = Path(importlib.util.cache_from_source(str(source)))
        assert cached.is_file() and cached.stat().st_mtime >= source.stat().st_mtime, source


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_test_compiles_facekit_before_the_suite_starts_its_processes(tmp_path):
    """A clean clone's `make test` (CI) left facekit uncompiled: with PYTHONDONTWRITEBYTECODE set, each of the
    suite's script and worker processes compiled it again."""
    clone = _checkout_for_make(tmp_path)
    for target in ("test", "test-fast"):
        res = _make(clone, "-n", target, timeout=60)
        assert res.returncode == 0, res.stderr
        assert "compileall -q facekit" in res.stdout.split("-m pytest")[0], (target, res.stdout)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_installs_facekit_again_when_its_version_moves(tmp_path):
    """A venv that `make` set up at 0.1.0 kept that version in its editable install's metadata after a pull that
    bumped facekit: `pip show facekit` and importlib.metadata said 0.1.0 while --version, cards and job.json said
    the new one. make now installs facekit again (no dependency: --no-deps) when facekit/__init__.py, where the
    version is written, or pyproject.toml is newer than that install, and only then."""
    clone = _checkout_for_make(tmp_path)

    def planned() -> str:
        res = _make(clone, "-n", "compile", timeout=60)
        assert res.returncode == 0, res.stderr
        return res.stdout

    reinstall = "pip install --quiet --no-deps --no-build-isolation -e ."
    assert reinstall not in planned()
    later = (clone / ".venv" / ".editable").stat().st_mtime + 10
    os.utime(clone / "facekit" / "__init__.py", (later, later))  # a pull that bumped the version
    assert reinstall in planned()
    (clone / ".venv" / ".editable").unlink()  # a venv that make set up before it kept this stamp
    os.utime(clone / "facekit" / "__init__.py", (later - 100, later - 100))
    assert reinstall in planned()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_clean_removes_the_bytecode_make_compile_wrote(tmp_path):
    """`make clean` after `make compile` left facekit/__pycache__ and facekit/cli/__pycache__ behind."""
    clone = _checkout_for_make(tmp_path)
    assert _make_compile(clone).returncode == 0
    assert list((clone / "facekit").rglob("*.pyc"))
    res = _make(clone, "-s", "clean")
    assert res.returncode == 0, res.stderr
    assert not list(clone.rglob("__pycache__")) and not list(clone.rglob("*.pyc"))
    assert sorted(p.name for p in (clone / "facekit").glob("*.py")) == sorted(
        p.name for p in (ROOT / "facekit").glob("*.py"))  # the sources stay


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_clean_removes_setuptools_build_folders_that_leak_deleted_files(tmp_path):
    """`pip wheel .` and `python -m build --wheel` in a checkout copy the package through setuptools' build/ folder,
    which keeps every file of an earlier build: a module deleted since was still in the next wheel. `make clean`
    left build/ and facekit.egg-info/ in place; it now removes both, and keeps dist/ (the wheels the user built)."""
    clone = _checkout_for_make(tmp_path)
    for leftover in ("build/lib/facekit/removed_since.py", "facekit.egg-info/SOURCES.txt", "dist/facekit.whl"):
        (clone / leftover).parent.mkdir(parents=True, exist_ok=True)
        (clone / leftover).write_text("x = 1\n")
    res = _make(clone, "-s", "clean")
    assert res.returncode == 0, res.stderr
    assert not (clone / "build").exists() and not (clone / "facekit.egg-info").exists()
    assert (clone / "dist" / "facekit.whl").is_file() and (clone / "facekit" / "__init__.py").is_file()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_compile_fails_on_a_syntax_error_and_only_warns_where_it_cannot_write(tmp_path):
    """A facekit file that does not compile (a merge's conflict markers) got the read-only checkout's warning,
    "it runs, more slowly to start", compileall's message thrown away, and make went on: now compileall's lines
    naming the file, one [ERROR] line and make fails. A checkout it cannot write to still only warns."""
    clone = _checkout_for_make(tmp_path)

    timeline = clone / "facekit" / "timeline.py"
    good = timeline.read_text()
    timeline.write_text(good + "<<<<<<< HEAD\n")
    res = _make_compile(clone)
    assert res.returncode != 0, res.stdout
    assert "timeline.py" in res.stdout and "SyntaxError" in res.stdout and "read-only" not in res.stdout, res.stdout
    assert "[ERROR] facekit does not compile" in res.stdout, res.stdout
    timeline.write_text(good)
    shutil.rmtree(clone / "facekit" / "__pycache__")
    (clone / "facekit" / "__pycache__").touch()  # no cache folder can be made there, as in a read-only checkout
    res = _make_compile(clone)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.splitlines() == [
        "[WARN] could not compile facekit (a read-only checkout?): it runs, more slowly to start"], res.stdout


@pytest.mark.parametrize("args", [["--help"], ["-h"]])
def test_python_m_facekit_help_into_a_closed_pipe_is_no_traceback(args):
    """`python -m facekit --help | head -1`: the command list into a pipe whose reader has gone was a
    BrokenPipeError traceback and exit 1, where every command's own --help (argparse's) is quiet, exit 0."""
    # The reader is gone before the command starts: a pipe whose read end is closed first. Closing proc.stdout
    # after Popen raced the command's write (a test process held up past it read a passing run of a broken one).
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "facekit", *args], stdout=write, stderr=subprocess.PIPE,
                                text=True, cwd=ROOT)
    finally:
        os.close(write)
    stderr = proc.communicate(timeout=60)[1]  # bounded: a bare stderr.read() waited for ever on a hung command
    assert proc.returncode == 0 and stderr == "", stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_python_m_facekit_help_onto_a_full_disk_is_one_line():
    """`python -m facekit --help > /dev/full` (a redirect onto a full disk) was an OSError traceback, exit 1."""
    with open("/dev/full", "w") as full:
        res = subprocess.run([sys.executable, "-m", "facekit", "--help"], stdout=full, stderr=subprocess.PIPE,
                             text=True, timeout=60, cwd=ROOT)
    assert res.returncode == 2
    assert res.stderr.splitlines() == ["[ERROR] cannot write standard output (No space left on device)"], res.stderr


def test_python_m_facekit_without_a_command_is_an_error_line():
    """With no command the list of them came alone, exit 2, where every command's bad option is an [ERROR] line
    first: a log searched for one (a cron job's) found nothing."""
    res = subprocess.run([sys.executable, "-m", "facekit"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.splitlines()[0] == "[ERROR] give a command: image, video, train, batch, serve", res.stderr
    assert all(f"  {c} " in res.stderr for c in ("image", "video", "train", "batch", "serve"))


def test_python_m_facekit_help_and_errors_name_the_command_as_typed():
    """`python -m facekit` is for where facekit-image and the others are not on PATH, yet its --help showed
    "usage: facekit-image", examples starting facekit-image and errors "(see facekit-video --help)": each of them
    "command not found" there. The card of a model trained this way kept the same command."""
    def run(*args):
        return subprocess.run([sys.executable, "-m", "facekit", *args], capture_output=True, text=True, timeout=120,
                              cwd=ROOT)

    for name in ("image", "video", "train", "batch"):
        res = run(name, "--help")
        assert res.returncode == 0 and res.stdout.startswith(f"usage: python -m facekit {name} [-h]"), res.stdout[:200]
        examples = res.stdout[res.stdout.index("examples:"):res.stdout.index("exit status:")].split("\n")[1:]
        starts = [ln.strip() for ln in examples if ln.startswith("  ") and not ln.startswith("      ")]
        assert starts and all(ln.startswith(f"python -m facekit {name}") for ln in starts), (name, starts)
        assert "facekit-" not in res.stdout.replace("facekit-batch --help", ""), name
    res = run("video", "--nope")
    assert res.returncode == 2 and res.stderr.strip() == (
        "[ERROR] unrecognized arguments: --nope (see python -m facekit video --help)"), res.stderr
    from facekit.cli.common import example_command

    assert example_command("detect_mask_image.py") == "python detect_mask_image.py"  # pytest's argv[0]: a script


def test_readme_tells_an_upgrader_what_changed():
    """README said nothing to a user upgrading with model folders, JSON and batch results from an older facekit:
    which facekit wrote a file, whether old folders still load, why a resume of the same command was refused.
    Its upgrade section names each record of the version and each older file it handles, and the version it
    quotes is the one facekit reports (a bump must revisit the section)."""
    from facekit import __version__
    from facekit.batch import FACEKIT_KEY
    from facekit.heads import OLD_INT8

    readme = (ROOT / "README.md").read_text()
    assert "\n## Upgrading from an earlier facekit\n" in readme
    section = readme.split("\n## Upgrading from an earlier facekit\n")[1].split("\n## ")[0]
    for named in ("`versions`", "`job.json`", f'`"{FACEKIT_KEY}"`', f"`{__version__}`", f"`{OLD_INT8}`",
                  "`--init-model`", "`min_face`", "`lift_exposure`", "`--detector yunet`", "`[WARN]`",
                  "`cpu_seconds`", "`emotion_eyes_only`", "`\\xNN`", "**Video CSV.**"):
        assert named in section, named


def test_readme_licence_table_names_every_dataset_each_shipped_head_learnt_from():
    """README said the mask head learnt from prajnasb/observations alone (its card: mask_real_train, mask and gender
    too, with RWMFD's research-only terms) and the emotion head from FER2013 (FER+'s labels unnamed): someone
    checking terms before shipping read a list shorter than the one the card keeps."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("**Licences.**", 1)[1].split("\n\n", 2)[1]
    rows = {cells[1].strip(): cells[2:4] for line in table.splitlines()
            if len(cells := line.split("|")) >= 5 and line.startswith("| ") and "---" not in line}
    cards = sorted((ROOT / "models").glob("*/card.json"))
    assert len(cards) >= 3
    for path in cards:
        card = json.loads(path.read_text())
        learnt_from, weights = rows[card["task"]]
        # the asset mirror's folder: fer2013/train and fer2013/test are both fer2013
        parts = [Path(p.split("=")[0]).parts for p in card["dataset"]["path"]]
        folders = {x[x.index("datasets") + 1] if "datasets" in x else x[-1] for x in parts}
        for name in folders | set(card["licences"]) - {"model"}:
            assert f"{name}: " in learnt_from, (card["task"], name)
        # a head whose card says non-commercial is not offered in README as anything else, nor the reverse
        assert ("non-commercial" in card["licences"]["model"]) == ("non-commercial" in weights), card["task"]


def test_each_committed_cards_files_are_in_its_folder():
    """models/gender/card.json left out its model_int8.tflite, and every card named model.keras, which is not
    committed (README): a card's files are the files its folder holds."""
    for card in sorted((ROOT / "models").glob("*/card.json")):
        files = json.loads(card.read_text(encoding="utf-8"))["files"]
        assert all((card.parent / name).is_file() for name in files.values()), (card, files)
        assert (card.parent / "model_int8.tflite").is_file() == ("tflite_int8" in files), (card, files)


def test_installing_an_int8_twin_names_it_in_the_card(tmp_path):
    from bench.quantize import install

    folder, made = tmp_path / "gender", tmp_path / "int8"
    folder.mkdir()
    made.mkdir()
    (folder / "model.tflite").write_bytes(b"fp16")
    (made / "model.tflite").write_bytes(b"int8")
    (folder / "card.json").write_text(json.dumps({"task": "gender", "files": {"tflite": "model.tflite"}}))
    install({"task": "gender"}, folder, made, 300)
    assert json.loads((folder / "card.json").read_text())["files"] == {"tflite": "model.tflite",
                                                                       "tflite_int8": "model_int8.tflite"}
    assert (folder / "model_int8.tflite").read_bytes() == b"int8"


@pytest.mark.parametrize("argv, said", [
    (["convert", "my model.h5", "-m", "out"], "[ERROR] convert is a command of its own: python -m facekit.convert "
                                              "'my model.h5' -m out"),
    (["assets"], "[ERROR] assets is a command of its own: python -m facekit.assets --help"),
])
def test_python_m_facekit_names_the_module_of_convert_and_assets(argv, said, capsys):
    """`python -m facekit convert ...`, typed as `python -m facekit image` is, was "unknown command 'convert': use
    one of image, video, ...", no word of the `python -m facekit.convert` the README gives."""
    from facekit.__main__ import main

    assert main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [said]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_refuses_a_python_too_old_for_the_requirements_in_one_line_before_any_venv(tmp_path):
    """A Mac's own python3 is 3.9: `make demo` made a .venv of it and pip ended minutes later in "No matching
    distribution found for tensorflow-cpu==2.21.*" (3.10: "'keras' requires a different Python"), nothing saying
    which Python to use. make now asks the interpreter first: one [ERROR] line naming it, its version and what to
    give instead, exit 2, no .venv. A Python of 3.11 or later goes on to make the venv."""
    clone = tmp_path / "clone"
    clone.mkdir()
    shutil.copy(ROOT / "Makefile", clone / "Makefile")
    (clone / "requirements.txt").touch()

    def python_of(version: tuple[int, int]) -> Path:
        # This Python, saying it is `version`; what make asks it to do past the check is only printed.
        fake = tmp_path / f"python{version[0]}.{version[1]}"
        fake.write_text(f'#!/bin/sh\nif [ "$1" = "-c" ]; then exec {sys.executable} -c "import sys; '
                        f'sys.version_info = {version + (6, "final", 0)!r}; exec(sys.argv[1])" "$2"; fi\n'
                        'echo "asked: $*"; exit 3\n')
        fake.chmod(0o755)
        return fake

    for version in ((3, 9), (3, 10)):
        res = _make(clone, "-s", "demo", f"PYTHON={python_of(version)}", timeout=60)
        assert res.returncode != 0
        said = res.stdout.strip().splitlines()
        assert len(said) == 1 and said[0].startswith("[ERROR] facekit's venv needs Python 3.11 or later"), said
        assert f"is {version[0]}.{version[1]}.6: give another" in said[0] and "asked" not in res.stdout, said
        assert not (clone / ".venv").exists()
    res = _make(clone, "-s", "demo", f"PYTHON={python_of((3, 11))}", timeout=60)
    assert "[ERROR]" not in res.stdout and "asked: -m venv .venv" in res.stdout, res.stdout + res.stderr
