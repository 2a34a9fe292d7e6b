"""Reports and plots for trained models: classification report, confusion matrix, training curves."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def report(y_true: np.ndarray, probs: np.ndarray, labels: list[str]) -> tuple[str, dict]:
    """sklearn's classification report as text and as a dict (every class listed, even if absent)."""
    from sklearn.metrics import classification_report

    if len(y_true) == 0:
        return "no test images", {}
    y_pred = probs.argmax(axis=1)
    ids = list(range(len(labels)))
    text = classification_report(y_true, y_pred, labels=ids, target_names=labels, digits=4, zero_division=0)
    data = classification_report(y_true, y_pred, labels=ids, target_names=labels, digits=4, zero_division=0,
                                 output_dict=True)
    data["accuracy"] = float((y_pred == y_true).mean())  # sklearn omits it when a class has no support
    return text, data


# Fonts holding the letters matplotlib's own DejaVu Sans lacks (Chinese, Japanese, Korean), as Linux, Windows and
# macOS install them.
FALLBACK_FONTS = ("Noto Sans CJK JP", "Noto Sans CJK SC", "Source Han Sans", "Droid Sans Fallback",
                  "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Yu Gothic", "MS Gothic", "Microsoft YaHei",
                  "Malgun Gothic", "Hiragino Sans", "PingFang SC", "Apple SD Gothic Neo", "Arial Unicode MS")


def installed_fallback_fonts() -> list[str]:
    """The FALLBACK_FONTS installed here, in that order (matplotlib's folder already chosen:
    runtime.matplotlib_folder)."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    return [name for name in FALLBACK_FONTS if name in installed]


def plot_fonts(draw):
    """`draw` (a function that makes and saves a figure) with class names in any script. A class folder "ohne_東京"
    was drawn "ohne_□□" on the confusion matrix, with a "UserWarning: Glyph 26481 ... missing from font(s) DejaVu
    Sans" on standard error for each letter, though a font that has them was installed: installed ones now take
    the letters DejaVu Sans lacks, and a machine with none draws the boxes without the warnings. Matplotlib's
    settings are the caller's again afterwards (a library user's own plots)."""
    import functools

    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        import warnings

        from .runtime import matplotlib_folder

        matplotlib_folder()  # first: where the home cannot be written (a service user), another folder
        import matplotlib

        fallback = installed_fallback_fonts()
        # Matplotlib takes a letter its font lacks from the next family of font.family, not of font.sans-serif.
        own = list(matplotlib.rcParams["font.family"])
        fonts = own + [name for name in fallback if name not in own]
        with matplotlib.rc_context({"font.family": fonts}), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font", category=UserWarning)
            return draw(*args, **kwargs)

    return wrapper


@plot_fonts
def confusion_png(y_true, probs, labels, path: Path, title: str = "confusion matrix") -> None:
    from sklearn.metrics import confusion_matrix

    from .runtime import figure

    if len(y_true):
        cm = confusion_matrix(y_true, probs.argmax(axis=1), labels=list(range(len(labels))))
    else:  # --test-split 0, or every test image a copy of a training one: sklearn refuses an empty matrix
        cm = np.zeros((len(labels), len(labels)), dtype=int)
        title += " (no test images)"
    fig = figure(figsize=(1.2 * len(labels) + 3, 1.0 * len(labels) + 2.5))  # never a window from a training run
    ax = fig.subplots()
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    top = cm.max() if cm.size else 0
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color="white" if cm[i, j] > top / 2 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


@plot_fonts
def training_plot(history: dict, path: Path, fine_start: int | None = None, title: str = "training") -> None:
    """The seed's plot: training / validation loss and accuracy per epoch, with the fine-tune start marked."""
    from .runtime import figure

    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    fig = figure(figsize=(8, 5))
    ax = fig.subplots()
    for key, style in (("loss", "-"), ("val_loss", "--"), ("accuracy", "-"), ("val_accuracy", "--")):
        if history.get(key):
            # Points marked: a line of one epoch (-e 1 --fine-tune-epochs 0, a quick first try) drew nothing at all.
            ax.plot(epochs, history[key], style, marker="o", markersize=4, label=key.replace("accuracy", "acc"))
    from matplotlib.ticker import MaxNLocator

    # Whole epochs: one epoch's axis read 0.945 ... 1.050, which an integer locator alone does not change.
    if 0 < len(epochs) <= 20:
        ax.set_xticks(epochs)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if fine_start:
        ax.axvline(fine_start + 0.5, color="gray", linestyle=":", label="fine-tune starts")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss / accuracy")
    ax.set_title(title)
    if len(epochs):
        # Beside the axes: inside them, at their centre right, it hid the last epochs' points (a short run's val_acc
        # and acc), whose place depends on the run.
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    else:
        ax.text(0.5, 0.5, "no training epochs in this run", ha="center", va="center", transform=ax.transAxes)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def write_test_split(path: Path, rows) -> None:
    """The test examples a model was scored on (file, face box or blank for a whole image, label): benches
    score the same faces without rebuilding the trainer's split (several folders, several faces a photo)."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["file", "x1", "y1", "x2", "y2", "label"])
    for file, box, label in rows:
        w.writerow([file, *(["", "", "", ""] if np.isnan(box).any() else [int(v) for v in box]), label])
    # A file's name as its bytes (surrogateescape), so any reader opens it, whatever the locale that wrote it.
    path.write_text(buf.getvalue(), encoding="utf-8", errors="surrogateescape")


def read_test_split(path: Path) -> list[tuple[str, tuple[int, int, int, int] | None, str]]:
    """(file, box or None, label) rows written by write_test_split."""
    import csv

    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as fh:
        return [(os.fsdecode(r["file"].encode("utf-8", "surrogateescape")),
                 (int(r["x1"]), int(r["y1"]), int(r["x2"]), int(r["y2"])) if r["x1"] else None, r["label"])
                for r in csv.DictReader(fh)]
