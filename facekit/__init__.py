"""facekit: face detection, per-face classification heads, landmarks and tracking.

    from facekit import FaceAnalyzer
    faces = FaceAnalyzer().analyze("photo.jpg")     # or the one-liner: facekit.analyze("photo.jpg")

The defaults run SCRFD's weights (InsightFace's) and the gender head (CelebA's terms), both for non-commercial
research only: FaceAnalyzer(detector="yunet", tasks="mask,emotion") runs neither, but those heads are for research
and education; FaceAnalyzer(commercial_use=True) loads only weights whose terms allow commercial use (README: Licences).

Nothing heavy is imported here: `import facekit` must stay cheap so that the detection scripts
start fast and never pull TensorFlow in by accident. The public names below are loaded on first
use (module `__getattr__`), not at import, as are its modules (`facekit.container.sound(path)` after a bare
`import facekit`); type checkers read the names from the `if TYPE_CHECKING:` imports.
"""

__version__ = "0.2.0"

# typing.TYPE_CHECKING without importing typing (a few ms, for every script): checkers read any name so spelt.
TYPE_CHECKING = False

# public name -> module that defines it
_LAZY = {
    "FaceAnalyzer": "analyzer",
    "VideoResult": "analyzer",
    "analyze": "analyzer",
    "Face": "types",
    "Box": "types",
    "Prediction": "types",
    "Pose": "types",
    "FacekitError": "errors",
    # what the library raises (README, "Python API"), to catch without knowing facekit.errors
    "ImageError": "errors",
    "VideoError": "errors",
    "ModelError": "errors",
    "AssetError": "errors",
    "DatasetError": "errors",
    "ArgumentError": "errors",
}

# Written out, not built from _LAZY: type checkers and IDEs read __all__ without running the module
# (tests/test_api.py checks the two agree).
__all__ = ["__version__", "FaceAnalyzer", "VideoResult", "analyze", "Face", "Box", "Prediction", "Pose",
           "FacekitError", "ImageError", "VideoError", "ModelError", "AssetError", "DatasetError", "ArgumentError"]

if TYPE_CHECKING:
    # What a type checker sees in place of the lazy loading below: without these, mypy and pyright typed
    # every name above as Any (FaceAnalyzer().analyze(...) unchecked). "X as X" marks each a re-export.
    from .analyzer import FaceAnalyzer as FaceAnalyzer, VideoResult as VideoResult, analyze as analyze
    from .errors import (ArgumentError as ArgumentError, AssetError as AssetError, DatasetError as DatasetError,
                         FacekitError as FacekitError, ImageError as ImageError, ModelError as ModelError,
                         VideoError as VideoError)
    from .types import Box as Box, Face as Face, Pose as Pose, Prediction as Prediction
else:
    # Hidden from type checkers: a module __getattr__ made any misspelt name (facekit.FaceAnalyser) pass as Any.
    def __getattr__(name: str) -> object:
        import importlib
        import importlib.util

        module = _LAZY.get(name)
        if module is None:
            # A module of the package, loaded now: README's facekit.container.sound(path), facekit.errors.
            # ImageNotFoundError or facekit.detection.LICENCES after a bare `import facekit` was "module 'facekit'
            # has no attribute 'container'" (in an except clause, raised as the error it was to catch). Not
            # __main__, which would run the command line, and not a data folder (the wheel's models/).
            spec = importlib.util.find_spec(f"{__name__}.{name}") if name.isidentifier() and name[0] != "_" else None
            if spec is not None and spec.origin is not None:
                return importlib.import_module(f".{name}", __name__)  # the import binds it here: no second call
            raise AttributeError(f"module 'facekit' has no attribute {name!r}")

        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
