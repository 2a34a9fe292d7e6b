"""`python -m facekit COMMAND ...`: the four console scripts' commands, for where those are not on PATH (a
`pip install --user`, a venv not activated), and `serve`, which has no console script."""

from __future__ import annotations

import shlex
import sys

# command -> (module whose main() runs it, what it does)
COMMANDS = {
    "image": ("facekit.cli.image", "faces in photos or folders of photos: labels, JSON, annotated images"),
    "video": ("facekit.cli.video", "a webcam, video file or stream: tracking, CSV, annotated video, timeline"),
    "train": ("facekit.cli.train", "train a head (mask, emotion, gender, ...) on a folder per class"),
    "batch": ("facekit.batch", "photos and videos by the million on Ray: Parquet results, resumable"),
    "serve": ("facekit.serve", "keep the photo command's models loaded: photo commands in a row start faster"),
}

MODULES = ("convert", "assets")  # run as python -m facekit.<name>


def usage() -> str:
    lines = ["usage: python -m facekit COMMAND [options]   (COMMAND --help for its options)", "", "commands:"]
    lines += [f"  {name:7}{what}" for name, (_, what) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        # No command is a bad option like any other: its [ERROR] line is what a log searched for one shows.
        text = usage() if argv else f"[ERROR] give a command: {', '.join(COMMANDS)}\n\n{usage()}"
        try:
            print(text, file=sys.stdout if argv else sys.stderr, flush=True)
        except BrokenPipeError:  # `--help | head -1`: the reader has what it wanted (a traceback, exit 1, here)
            from facekit.cli.common import reader_gone

            reader_gone(sys.stdout if argv else sys.stderr)
        except OSError as exc:  # `--help > /dev/full`, a full disk under a redirect: an OSError traceback, exit 1
            from facekit.cli.common import reader_gone

            reader_gone(sys.stdout if argv else sys.stderr)
            print(f"[ERROR] cannot write standard output ({exc.strerror or exc})", file=sys.stderr)
            return 2
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name == "--version":
        name, rest = "image", ["--version"]
    if name in MODULES:
        # `python -m facekit convert ...`, typed as the commands above are, was "unknown command" with no word of
        # the command the README gives for it.
        print(f"[ERROR] {name} is a command of its own: python -m facekit.{name} {shlex.join(rest) or '--help'}",
              file=sys.stderr)
        return 2
    if name not in COMMANDS:
        print(f"[ERROR] unknown command {name!r}: use one of {', '.join(COMMANDS)} "
              "(python -m facekit --help)", file=sys.stderr)
        return 2
    # --help, its examples and messages then name the command as it was typed: facekit-<name> is what this is for
    # where it is not on PATH (a `(see facekit-image --help)` there was "command not found").
    sys.argv[0] = f"python -m facekit {name}"
    from facekit.cli import run_script  # the scripts' guards: a missing package or a Ctrl-C is one line

    return run_script(COMMANDS[name][0], rest)


if __name__ == "__main__":
    raise SystemExit(main())
