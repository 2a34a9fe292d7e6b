"""The PyImageSearch baseline is rebuilt and its h5 weights assigned correctly: it must tell the masked
face of example_01 from the bare one of example_02, as it does in PyImageSearch's own demo."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.slow  # imports TensorFlow (in a subprocess, so this pytest process stays TF-free)
def test_pyimagesearch_mask_baseline_classifies_example_faces(media):
    from bench.baselines import FACEKIT_LABELS, run_subprocess
    from facekit.detection import create_detector
    from facekit.preprocess import crop_face, load_image

    detector = create_detector("yunet")
    crops = []
    for name in ("example_01.png", "example_02.png"):
        faces = detector.detect(load_image(media / name))
        assert faces, f"no face found in {name}"
        biggest = max(faces, key=lambda f: f.box.area)
        crops.append(crop_face(load_image(media / name), biggest.box))

    probs, _ = run_subprocess("pyimagesearch_mask", crops=crops, timeout=600)
    labels = FACEKIT_LABELS["mask"]
    assert probs.shape == (2, 2)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-4)
    assert labels[int(probs[0].argmax())] == "with_mask", probs[0]
    assert labels[int(probs[1].argmax())] == "without_mask", probs[1]
    # Wrongly assigned weights give near-chance outputs; the real model is sure of both faces.
    assert probs[0, 0] > 0.9 and probs[1, 1] > 0.9, probs


@pytest.mark.parametrize("bench", ["mask", "emotion", "gender", "detection", "lowlight", "quantize", "batch"])
@pytest.mark.parametrize("limit", ["0", "-5"])
def test_a_limit_below_one_is_refused_before_any_work(bench, limit):
    """--limit 0 ran every image (bench.emotion: minutes, where a quick look was asked for); --limit -5 read
    the data, then stopped with numpy's ValueError traceback."""
    import os
    import subprocess
    import sys

    from .conftest import ROOT

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-m", f"bench.{bench}", "--limit", limit], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert f"argument --limit: must be 1 or more, got {limit}" in res.stderr, res.stderr


def test_a_damaged_baseline_file_is_one_line_naming_it(tmp_path):
    """The baselines were read straight from the mirror, past the resolver and its pinned sha256: dlib's gender
    ONNX cut short was onnxruntime's INVALID_PROTOBUF traceback. It is one line naming the file and the mirror."""
    import os
    import subprocess
    import sys

    from .conftest import ROOT

    (tmp_path / "baselines").mkdir()
    (tmp_path / "baselines" / "dlib_models_gender_v1.onnx").write_bytes(b"\x08\x07" * 1000)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FACEKIT_ASSETS": str(tmp_path)}
    res = subprocess.run([sys.executable, "-m", "bench.baselines", "dlib_gender"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert res.stderr.strip() == (
        f"[ERROR] {tmp_path / 'baselines' / 'dlib_models_gender_v1.onnx'} is truncated or corrupt (2000 bytes, "
        f"sha256 does not match): the asset mirror FACEKIT_ASSETS={tmp_path} holds a damaged copy; replace it there, "
        "or unset FACEKIT_ASSETS to use the cache"), res.stderr
