"""facekit: face detection, per-face classification heads, landmarks and tracking.

    from facekit import FaceAnalyzer
    faces = FaceAnalyzer().analyze("photo.jpg")     # or the one-liner: facekit.analyze("photo.jpg")

Nothing heavy is imported here: `import facekit` must stay cheap so that the detection scripts
start fast and never pull TensorFlow in by accident. The public names below are loaded on first
use (module `__getattr__`), not at import.
"""

__version__ = "0.1.0"

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

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'facekit' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
