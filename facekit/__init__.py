"""facekit: face detection, per-face classification heads, landmarks and tracking.

Nothing heavy is imported here: `import facekit` must stay cheap so that the
detection scripts start fast and never pull TensorFlow in by accident.
"""

__version__ = "0.1.0"
