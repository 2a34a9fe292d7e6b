"""Commercial use (facekit.licensing): --commercial-use, FACEKIT_COMMERCIAL_USE=1 and FaceAnalyzer(commercial_use=True)
load only weights whose terms allow commercial use, and refuse in one line the ones asked for that do not. The
tests check the terms of what was loaded (the detector's registry licence, each head's card), not the flag."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys

import pytest

from facekit.assets import REGISTRY
from facekit.detection import LICENCES
from facekit.errors import FacekitError
from facekit.heads import ModelCard, available_tasks
from facekit.licensing import LicenceError, allows_commercial_use, card_allows

from .conftest import ROOT, needs_mirror

pytestmark = needs_mirror
TERMS = "Acme Corp: own photos, commercial use"


def own_head(tmp_path, terms=TERMS):
    """The shipped mask head's weights under a card of one's own terms, as a company's retrained head has them."""
    folder = tmp_path / "own_mask"
    shutil.copytree(available_tasks()["mask"], folder)
    card = json.loads((folder / "card.json").read_text())
    card["licences"] = {"data": terms,
                        "model": f"facekit's code is MIT; the weights inherit the data's terms ({terms})"}
    (folder / "card.json").write_text(json.dumps(card))
    return folder


def loaded_terms(analyzer) -> list[str]:
    """The terms of every set of weights the analyzer holds."""
    from facekit.heads import card_terms

    terms = [LICENCES[analyzer.detector_name], LICENCES[analyzer.video_detector_name]]
    terms += [card_terms(head.card) for head in analyzer.heads.values()]
    return terms + ([REGISTRY["face_mesh"].licence] if analyzer.landmarker is not None else [])


def script(name, *args, env=None):
    import os

    return subprocess.run([sys.executable, str(ROOT / name), *map(str, args), "--no-display"], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})}, cwd=ROOT)


def test_terms_are_read_strictly():
    assert allows_commercial_use(LICENCES["yunet"]) and allows_commercial_use(LICENCES["res10"])
    assert allows_commercial_use(REGISTRY["face_mesh"].licence)
    assert not allows_commercial_use(LICENCES["scrfd"]) and not allows_commercial_use(LICENCES["scrfd-500m"])
    for terms in ("CC-BY-NC-4.0", "MIT; from --init-model's weights: non-commercial research only", "no terms recorded",
                  "research and education: check them before commercial use", "not for commercial use", ""):
        assert not allows_commercial_use(terms), terms
    # Every shipped head learnt from research, education or non-commercial images (their cards say so).
    for task, folder in available_tasks().items():
        assert not card_allows(ModelCard.load(folder / "card.json")), task


def test_commercial_analyzer_loads_only_commercial_weights(media, tmp_path):
    from facekit import FaceAnalyzer

    with FaceAnalyzer(commercial_use=True, landmarks=True) as analyzer:
        assert all(allows_commercial_use(t) for t in loaded_terms(analyzer)), loaded_terms(analyzer)
        assert set(analyzer.withheld) == set(available_tasks()) and not analyzer.heads
        assert len(analyzer.analyze(media / "two_people.jpg")) == 2
    # A head of one's own whose card's terms allow it runs; the shipped ones stay out.
    with FaceAnalyzer(commercial_use=True, models=[own_head(tmp_path)]) as analyzer:
        assert list(analyzer.heads) == ["mask"] and "mask" not in analyzer.withheld
        assert all(allows_commercial_use(t) for t in loaded_terms(analyzer))
        faces = analyzer.analyze(media / "example_03.png")
        assert len(faces) == 3 and all(f.label("mask") in ("with_mask", "without_mask") for f in faces)


@pytest.mark.parametrize("options", [dict(detector="scrfd"), dict(detector="SCRFD-500m"), dict(tasks="gender"),
                                     dict(tasks=["mask", "emotion"]), dict(models=["gender"])])
def test_a_non_commercial_model_asked_for_by_name_is_refused(options):
    from facekit import FaceAnalyzer

    if "models" in options:
        options = dict(models=[available_tasks()["gender"]])
    with pytest.raises(LicenceError, match="not for commercial use"):
        FaceAnalyzer(commercial_use=True, **options)


def test_the_environment_variable_turns_it_on(monkeypatch):
    from facekit import FaceAnalyzer

    monkeypatch.setenv("FACEKIT_COMMERCIAL_USE", "1")
    with pytest.raises(LicenceError):
        FaceAnalyzer(detector="scrfd")
    with FaceAnalyzer(tasks=[]) as analyzer:
        assert analyzer.commercial_use and analyzer.detector_name == "yunet"
    assert FaceAnalyzer(commercial_use=False, tasks=[], detector="scrfd").detector_name == "scrfd"
    monkeypatch.setenv("FACEKIT_COMMERCIAL_USE", "maybe")  # read as off, it would load what it is set to keep out
    with pytest.raises(FacekitError, match=re.escape("FACEKIT_COMMERCIAL_USE=maybe: expected 1 or 0 (or true / "
                                                     "false, yes / no, on / off)")):
        FaceAnalyzer(tasks=[])
    monkeypatch.setenv("FACEKIT_COMMERCIAL_USE", "Yes")  # one the message offers (it named on / off, not yes / no)
    with FaceAnalyzer(tasks=[]) as analyzer:
        assert analyzer.commercial_use and analyzer.detector_name == "yunet"


def test_photo_script_commercial_use(media, tmp_path):
    out = tmp_path / "r.json"
    res = script("detect_mask_image.py", "-i", media / "example_03.png", "-j", out, "-m", own_head(tmp_path),
                 env={"FACEKIT_COMMERCIAL_USE": "1"})
    assert res.returncode == 0, res.stderr
    said = res.stdout + res.stderr
    assert "commercial use: loading only the yunet detector (MIT), the mask head (Acme Corp" in said
    assert "left out, their weights not for commercial use: the emotion head" in said
    assert "non-commercial research only: the" not in said
    faces = json.loads(out.read_text())["faces"]
    assert len(faces) == 3 and all(set(f) == {"box", "score", "mask"} for f in faces)
    for args in (["--detector", "scrfd"], ["--tasks", "gender"], ["-m", ROOT / "models" / "emotion"]):
        res = script("detect_mask_image.py", "-i", media / "example_03.png", "-j", out, "--commercial-use", *args)
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
        errors = [line for line in res.stderr.splitlines() if line.startswith("[ERROR]")]
        assert len(errors) == 1 and "not for commercial use" in errors[0], res.stderr
        assert len(json.loads(out.read_text())["faces"]) == 3  # the earlier result is kept


def test_video_script_commercial_use(media, tmp_path):
    out = tmp_path / "v.csv"
    res = script("detect_mask_video.py", "-s", media / "short_hamilton_clip.mp4", "--max-frames", "10",
                 "--csv", out, "--commercial-use")
    assert res.returncode == 0, res.stderr
    assert "commercial use: loading only the yunet detector (MIT), no head (boxes only)" in res.stdout + res.stderr
    rows = list(csv.DictReader(out.open()))
    assert rows and not any(column.startswith(("mask", "emotion", "gender")) for column in rows[0])


def batch(*args):
    return subprocess.run([sys.executable, "-m", "facekit.batch", *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)


@pytest.mark.slow
def test_batch_commercial_use_records_the_terms(media, tmp_path):
    out = tmp_path / "results"
    res = batch(media / "two_people.jpg", "-o", out, "--workers", "1", "--commercial-use", "-m", own_head(tmp_path))
    assert res.returncode == 0, res.stderr[-2000:]
    job = json.loads((out / "job.json").read_text())
    assert job["licences"]["detector"] == f"yunet: {LICENCES['yunet']}"
    assert list(job["licences"]["heads"]) == ["mask"] and job["tasks"] == ["mask"]
    assert all(allows_commercial_use(t) for t in job["licences"]["heads"].values())
    refused = batch(media / "two_people.jpg", "-o", tmp_path / "other", "--commercial-use", "--detector", "scrfd-500m")
    assert refused.returncode == 2 and "not for commercial use" in refused.stderr and not (tmp_path / "other").exists()


def test_crops_under_commercial_use_warn_of_no_detector_option(datasets, tmp_path):
    """--crops runs no detector; commercial use's stand-in for the default detector is no option the user typed."""
    crop = next((datasets / "mask" / "with_mask").iterdir())
    out = tmp_path / "crop.json"
    res = script("detect_mask_image.py", "--crops", "-i", crop, "-j", out, "--commercial-use", "-m", own_head(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "[WARN]" not in res.stdout + res.stderr, res.stderr
    assert "commercial use: loading only the mask head (Acme Corp" in res.stdout + res.stderr
    assert json.loads(out.read_text())["faces"][0]["mask"]["label"] == "with_mask"
    res = script("detect_mask_image.py", "--crops", "-i", crop, "-j", out, "--detector", "yunet")
    assert "[WARN] --detector sets how faces are detected" in res.stderr


def test_the_one_liner_follows_the_environment_variable_set_after_a_first_call(media, monkeypatch):
    import facekit
    from facekit import analyzer

    monkeypatch.delenv("FACEKIT_COMMERCIAL_USE", raising=False)
    # The one-liner's analyzer is the process's: one another test on this worker built with the same options (while
    # it had the default detector patched, say) would be taken as this test's first.
    monkeypatch.setattr(analyzer, "_default", None)
    assert len(facekit.analyze(media / "two_people.jpg", tasks=[])) == 2
    assert analyzer._default[1].detector_name == "scrfd"
    monkeypatch.setenv("FACEKIT_COMMERCIAL_USE", "1")
    assert len(facekit.analyze(media / "two_people.jpg", tasks=[])) == 2
    used = analyzer._default[1]
    assert used.commercial_use and all(allows_commercial_use(t) for t in loaded_terms(used)), loaded_terms(used)
    with pytest.raises(LicenceError):
        facekit.analyze(media / "two_people.jpg", tasks="gender")


def test_fetch_under_commercial_use_leaves_non_commercial_weights_out_of_the_cache(tmp_path):
    """A product image built with FACEKIT_COMMERCIAL_USE=1 fetched SCRFD's weights into its cache all the same."""
    import os

    cache = tmp_path / "cache"
    res = subprocess.run([sys.executable, "-m", "facekit.assets", "fetch"], capture_output=True, text=True,
                         timeout=300, cwd=ROOT,
                         env={**os.environ, "FACEKIT_CACHE": str(cache), "FACEKIT_COMMERCIAL_USE": "1"})
    assert res.returncode == 0, res.stderr
    fetched = {p.name for p in cache.rglob("*") if p.is_file()}
    for name, asset in REGISTRY.items():
        if not name.startswith(("baseline.", "media.")):
            assert (asset.filename in fetched) == allows_commercial_use(asset.licence), (name, sorted(fetched))
    assert REGISTRY["yunet"].filename in fetched and REGISTRY["scrfd_2.5g"].filename not in fetched
    assert "not fetched, their weights not for commercial use: scrfd_2.5g" in res.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the server forks and passes descriptors")
def test_a_server_started_under_commercial_use_serves_only_commercial_weights(media, tmp_path):
    import signal

    from .test_serve import _command, _log, _start

    folder = tmp_path / "serve"
    folder.mkdir(mode=0o700)
    sock = folder / "photo.sock"
    env = {"FACEKIT_COMMERCIAL_USE": "1"}
    proc = _start(sock, env)
    try:
        out = tmp_path / "r.json"
        res = _command(["-i", media / "example_03.png", "-j", out, "--no-display"], sock, env=env)
        assert res.returncode == 0, res.stderr
        assert "commercial use: loading only the yunet detector (MIT), no head" in res.stdout + res.stderr
        assert len(json.loads(out.read_text())["faces"]) == 3
        res = _command(["-i", media / "example_03.png", "--no-display", "--tasks", "gender"], sock, env=env)
        assert res.returncode == 2 and "the gender head" in res.stderr and "Traceback" not in res.stderr, res.stderr
        # Both ran in the server. The test's reader thread may not have collected the server's lines yet when the
        # command's own process has ended: _log waits for them (a bare _log(proc) read what it had by then).
        said = _log(proc, "command 1:", "command 2:")
        assert "command 1:" in said and "command 2:" in said, said
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()  # not left running after the test, holding its models and socket
            raise


def test_a_bad_commercial_use_setting_is_refused_before_the_server_loads_anything(tmp_path):
    """python -m facekit serve said "[INFO] loading the photo command's models..." before refusing the value."""
    import os

    folder = tmp_path / "serve"
    folder.mkdir(mode=0o700)
    res = subprocess.run([sys.executable, "-m", "facekit", "serve", "--socket", str(folder / "s"), "--idle", "1"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT,
                         env={**os.environ, "FACEKIT_COMMERCIAL_USE": "maybe"})
    said = (res.stdout + res.stderr).splitlines()
    assert res.returncode == 2 and said == ["[ERROR] FACEKIT_COMMERCIAL_USE=maybe: expected 1 or 0 (or true / false, "
                                            "yes / no, on / off)"], said


def test_a_commercial_boxes_only_job_resumed_without_it_names_the_tasks_that_differ(tmp_path):
    """A --commercial-use job with no head left records tasks [] (no head); resumed without the switch, its refusal
    read "tasks: none in job.json, none in this run"."""
    from facekit.batch import JobOptions, Results, card_digests, head_hashes
    from facekit.heads import load_heads

    folder = tmp_path / "results"
    Results(folder).open(JobOptions(tasks=[], detector="yunet"))
    heads = load_heads()
    again = JobOptions(tasks=None, detector="scrfd", heads=head_hashes(heads), cards=card_digests(heads))
    with pytest.raises(FacekitError) as refused:
        Results(folder).check_options(again)
    assert "detector: yunet in job.json, scrfd in this run; tasks: no head in job.json, none in this run" \
        in str(refused.value), refused.value


def test_readme_licence_table_says_which_heads_commercial_use_leaves_out():
    """README's licence table is where a company checks the heads' terms: its last column says what --commercial-use
    does with each, as the cards make it do."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("**Licences.**", 1)[1].split("\n\n", 2)[1]
    lines = table.splitlines()
    assert lines[0].rstrip().endswith("| with `--commercial-use` |"), lines[0]
    rows = {cells[1].strip(): cells[4].strip() for line in lines[2:] if len(cells := line.split("|")) >= 6}
    for task, folder in available_tasks().items():
        allowed = card_allows(ModelCard.load(folder / "card.json"))
        assert rows[task] == ("runs" if allowed else "left out"), (task, rows[task])
