# make demo: virtual environment + install + assets + the main job on an example photo.
# make test: the test suite (what CI runs).  make bench: every benchmark, one table each.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# The local asset mirror, when this checkout sits beside one (CI does); otherwise assets download.
MIRROR := $(abspath ../shared/assets)
ifneq ($(wildcard $(MIRROR)/MANIFEST.md),)
export FACEKIT_ASSETS ?= $(MIRROR)
endif
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED := 1

.PHONY: demo test test-fast bench assets compile clean

# Asked first: under an older python3 (a Mac's own is 3.9) pip ended in "No matching distribution found for
# tensorflow-cpu==2.21.*" (3.9) or "'keras' requires a different Python" (3.10), and left a .venv of that Python.
$(VENV)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "[ERROR] facekit's venv needs Python 3.11 or later (requirements.txt holds the trainer's Keras 3.15)," \
	    "and $(PYTHON) is $$($(PYTHON) -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null \
	    || echo 'not found'): give another, e.g. make demo PYTHON=python3.12 (on a Mac: python.org or Homebrew's)"; \
	  exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# facekit itself, editable: `import facekit` and facekit-image / -video / -train / -batch work from any
# folder with this venv active, while the code and models/ stay where they are in the clone. Made again when
# the version or the package's metadata moves: an editable install keeps the version it was made at, so after
# a pull that bumped it `pip show facekit` and importlib.metadata named the old one (and pip would take another
# facekit for a requirement on the new one), while facekit itself ran and recorded the new.
$(VENV)/.editable: $(VENV)/.installed pyproject.toml facekit/__init__.py
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# Compiled once here, as pip compiles a wheel it installs: an editable install is not, and where
# PYTHONDONTWRITEBYTECODE is set (many container images set it) Python compiled facekit's modules again in
# every process: 40-70 ms of the ~0.5 s a photo command takes. Only changed files are compiled again; a checkout
# it cannot write to runs as before, uncompiled, so a failure here is not one of make's. A syntax error (a merge's
# conflict markers) is one: it got that warning too, saying "it runs" of a module that cannot even be imported.
compile: $(VENV)/.editable
	@out=$$($(PY) -m compileall -q facekit 2>&1) && exit 0; \
	if printf '%s\n' "$$out" | grep -qE '^(SyntaxError|IndentationError|TabError):'; then \
	  printf '%s\n' "$$out" | grep -vE '^(\*\*\* Error compiling|[A-Za-z]*Error: \[Errno)'; \
	  echo "[ERROR] facekit does not compile (above): fix that file"; exit 1; \
	fi; \
	echo "[WARN] could not compile facekit (a read-only checkout?): it runs, more slowly to start"

assets: $(VENV)/.editable
	$(PY) -m facekit.assets fetch --layout .

# example_03 (PyImageSearch's) comes from the mirror only; without one, two_people.jpg (downloadable) stands in.
demo: assets compile
	mkdir -p output
	@img=examples/example_03.png; [ -f $$img ] || img=examples/two_people.jpg; name=$$(basename $${img%.*}); \
	echo "$(PY) detect_mask_image.py --image $$img --output output/$$name.png --json output/$$name.json --no-display"; \
	$(PY) detect_mask_image.py --image $$img --output output/$$name.png --json output/$$name.json --no-display && \
	echo "[INFO] open output/$$name.png to see the result"

# Two workers (pytest-xdist; tests/conftest.py shares the costliest fixtures): about 20 minutes on 2 cores (stop 53's CI: 19:08).
# --durations names the slowest tests in every CI log, so a test that grows slow is seen where it lands.
# compile: the suite starts several hundred facekit processes, each of which compiled an uncompiled clone again.
TEST_WORKERS ?= 2

test: compile
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --durations=15

test-fast: compile
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup -m "not slow"

bench: compile
	$(PY) -m bench

# The bytecode goes too: `make compile` writes it beside facekit's sources, where no rm above reached it.
# So do setuptools' build/ and egg-info: a wheel built in the checkout (`pip wheel .`, `python -m build --wheel`)
# took every file build/ kept from an earlier build, a module deleted since included. dist/ (built wheels) stays.
clean:
	rm -rf $(VENV) output face_detector examples .pytest_cache build facekit.egg-info
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
