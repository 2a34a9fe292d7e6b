"""Shared fixtures: real photos and the asset mirror. Tests use real data, never mocks of it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_MIRROR = ROOT.parent / "shared" / "assets"
if "FACEKIT_ASSETS" not in os.environ and (_MIRROR / "MANIFEST.md").exists():
    os.environ["FACEKIT_ASSETS"] = str(_MIRROR)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ASSETS = Path(os.environ.get("FACEKIT_ASSETS", _MIRROR))
MEDIA = ASSETS / "media"
DATASETS = ASSETS / "datasets"

needs_mirror = pytest.mark.skipif(not (ASSETS / "MANIFEST.md").exists(),
                                  reason="the asset mirror (FACEKIT_ASSETS) is not available")


@pytest.fixture(scope="session")
def media() -> Path:
    if not MEDIA.is_dir():
        pytest.skip("media photos need the asset mirror (FACEKIT_ASSETS)")
    return MEDIA


@pytest.fixture(scope="session")
def datasets() -> Path:
    if not DATASETS.is_dir():
        pytest.skip("datasets need the asset mirror (FACEKIT_ASSETS)")
    return DATASETS


@pytest.fixture(scope="session")
def res10():
    """The res10 detector, loaded once (detection tests, and landmark tests: the mesh margin was chosen on its boxes)."""
    from facekit.detection import create_detector

    return create_detector("res10")


def run_script(script: str, *args, timeout: int = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a root script as a user would, in a fresh process."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, str(ROOT / script), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=full_env)
