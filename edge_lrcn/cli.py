"""The ``edge-lrcn`` command line.

Exit codes: 0 clean stop or end of a file source; 1 anything unexpected; 2 usage or config error; 3 invalid model
bundle; 4 source could not be opened. Errors the user can fix print one line; ``--debug`` shows tracebacks.
Host-side subcommands (synth, train, convert, demo) import ``edge_lrcn.convert`` lazily.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from . import __version__
from .errors import EXIT_UNEXPECTED, EXIT_USAGE, EdgeLrcnError, UsageError

log = logging.getLogger("edge_lrcn")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="edge-lrcn", description="Video activity recognition on edge devices.")
    ap.add_argument("--version", action="version", version=f"edge-lrcn {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="verbose logs and tracebacks")
    common.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING (default INFO)")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("synth", parents=[common], help="write a synthetic labelled video dataset")
    p.add_argument("out_dir", type=Path)
    p.add_argument("--kind", choices=("directions", "motion"), default="directions",
                   help="directions: left/right/up/down/still shapes (the embedded model's classes, default); "
                        "motion: oscillating/hopping/circling/growing/shrinking/still at 320x240, 30 fps, 4 s "
                        "(activities the embedded model never saw: docs/training.md)")
    p.add_argument("--clips-per-class", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fps", type=float, default=25.0, help="video frame rate (default 25)")
    p.add_argument("--width", type=int, default=160)
    p.add_argument("--height", type=int, default=120)
    p.add_argument("--backgrounds", default="plain,noise,texture",
                   help="background kinds to draw from (default all: plain,noise,texture; 'black' gives white "
                        "shapes on black, a warm-up set for curricula)")
    p.add_argument("--sequence", metavar="LABEL:SECONDS,...",
                   help="instead of a dataset, write one video OUT_DIR of labelled segments back to back")

    from .convert.options import add_arguments

    p = sub.add_parser("train", parents=[common], help="train the LRCN on a labelled video folder")
    add_arguments(p, "train")

    p = sub.add_parser("convert", parents=[common], help="train, int8-convert, validate and write a model bundle")
    add_arguments(p, "convert")

    _add_device_commands(sub, common)

    p = sub.add_parser("demo", parents=[common], help="synth -> convert -> stream a demo video -> events")
    p.add_argument("--workdir", type=Path, default=Path("edge-lrcn-demo"))
    p.add_argument("--clips-per-class", type=int, default=16)
    p.add_argument("--epochs", type=int, default=6)

    return ap


def _add_device_commands(sub, common) -> None:
    """info, run, eval, bench, check-config: the commands a device runs."""
    p = sub.add_parser("info", parents=[common], help="print a bundle's manifest")
    p.add_argument("model", nargs="?", help="bundle (default: the embedded model)")
    p.add_argument("--verify", action="store_true", help="also load every model in a child process")
    p.add_argument("--report", action="store_true", help="print the validation report too")

    from .config import add_arguments

    p = sub.add_parser("run", parents=[common], help="the streaming daemon")
    add_arguments(p)

    p = sub.add_parser("eval", parents=[common], help="bundle accuracy on a labelled video folder")
    p.add_argument("data", type=Path)
    p.add_argument("--model", help="bundle (default: the embedded model)")
    p.add_argument("--threads", type=int)
    p.add_argument("--stride", type=int, default=5, help="classify every N kept frames (default 5)")
    p.add_argument("--encoder", choices=("auto", "int8", "fp16"), default="auto",
                   help="CPU encoder, as the daemon's setting (default auto: the faster here)")
    p.add_argument("--plot", type=Path, help="write the confusion matrix as a PNG here")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("bench", parents=[common], help="measure speed and memory on this machine")
    p.add_argument("--model", help="bundle (default: the embedded model)")
    p.add_argument("--video", type=Path, help="640x480 video for the end-to-end figures (default: generated)")
    p.add_argument("--threads", type=int)
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--paced-seconds", type=float, default=20.0,
                   help="length of the video the daemon's CPU is measured on at its own pace (0: skip)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("check-config", parents=[common],
                       help="check a config file as the daemon would: every error with its key, exit 2 if any")
    p.add_argument("file", nargs="?", type=Path)


def _setup_logging(args) -> None:
    level = "DEBUG" if getattr(args, "debug", False) else (getattr(args, "log_level", None) or "INFO")
    logging.basicConfig(level=getattr(logging, str(level).upper(), logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "debug", False):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        for noisy in ("tensorflow", "absl", "h5py", "matplotlib", "PIL"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def _convert_options(args):
    from .convert.options import from_args

    return from_args(args, verbose=0 if args.quiet else (1 if sys.stderr.isatty() else 2))


def _cmd_synth(args) -> int:
    from .convert import synth

    if args.sequence:
        segs = []
        for part in args.sequence.split(","):
            label, _, secs = part.partition(":")
            try:
                segs.append((label.strip(), float(secs)))
            except ValueError:
                raise UsageError(f"--sequence: bad segment {part!r} (use LABEL:SECONDS)") from None
        try:
            truth = synth.make_sequence(args.out_dir, segs, args.seed, args.fps, (args.width, args.height))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        for label, a, b in truth:
            print(f"{a:7.2f} {b:7.2f} {label}")
        print(f"video: {args.out_dir}")
        return 0
    if args.clips_per_class < 1:
        raise UsageError("--clips-per-class must be at least 1")
    if args.kind == "motion":
        from .convert import motion_synth

        counts = motion_synth.make_dataset(args.out_dir, args.clips_per_class, args.seed)
        print(f"wrote {sum(counts.values())} clips in {len(counts)} classes to {args.out_dir}")
        return 0
    if args.width < 160 or args.height < 120:
        raise UsageError("--width/--height must be at least 160x120")
    try:
        counts = synth.make_dataset(args.out_dir, args.clips_per_class, args.seed, fps=args.fps,
                                    size=(args.width, args.height),
                                    backgrounds=[b.strip() for b in args.backgrounds.split(",") if b.strip()])
    except ValueError as exc:
        raise UsageError(f"--backgrounds: {exc}") from None
    print(f"wrote {sum(counts.values())} clips in {len(counts)} classes to {args.out_dir}")
    return 0


def _cmd_train(args) -> int:
    from .convert.pipeline import train_command

    train_command(_convert_options(args))
    return 0


def _cmd_convert(args) -> int:
    from .convert.pipeline import convert_command

    convert_command(_convert_options(args))
    return 0


def _cmd_info(args) -> int:
    from .model.bundle import read_bundle
    from .models import default_model_path

    path = args.model or str(default_model_path())
    b = read_bundle(path)
    out = {"path": path, "sha256": b.sha256, **b.manifest}
    if args.report:
        out["report"] = b.report
    if args.verify:
        from .model.verify import verify_in_child

        out["verify"] = verify_in_child(path)
    print(json.dumps(out, indent=2))
    return 0


def _cmd_check_config(args) -> int:
    from .config import DEFAULT_CONFIG_PATH, gather

    path = args.file or Path(os.environ.get("EDGE_LRCN_CONFIG") or DEFAULT_CONFIG_PATH)
    _, problems = gather({}, path, must_exist=True)
    for problem in problems:
        print(f"edge-lrcn check-config: error: {problem}", file=sys.stderr)
    if problems:
        return EXIT_USAGE
    print(f"{path}: ok")
    return 0


def _cmd_run(args) -> int:
    from .daemon import run_from_args

    return run_from_args(args)


def _cmd_eval(args) -> int:
    from .evaluate import eval_command

    return eval_command(args)


def _cmd_bench(args) -> int:
    from .bench import bench_command

    return bench_command(args)


def _cmd_demo(args) -> int:
    from .demo import demo_command

    return demo_command(args)


COMMANDS = {"synth": _cmd_synth, "train": _cmd_train, "convert": _cmd_convert, "info": _cmd_info, "run": _cmd_run,
            "eval": _cmd_eval, "bench": _cmd_bench, "demo": _cmd_demo, "check-config": _cmd_check_config}


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: usage errors exit 2 already, --help exits 0
        return int(exc.code or 0)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    quiet = None
    if args.command in ("train", "convert", "demo") and not args.debug:
        from .convert import quiet

        quiet.install()  # TensorFlow's, the converter's and LiteRT's C++ chatter on fd 2 hidden; --debug shows it
    _setup_logging(args)
    try:
        return COMMANDS[args.command](args)
    except EdgeLrcnError as exc:
        if args.debug:
            log.exception("failed")
        print(f"edge-lrcn {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line unless --debug
        if args.debug:
            raise
        print(f"edge-lrcn {args.command}: unexpected error: {type(exc).__name__}: {exc} (run with --debug for "
              f"details)", file=sys.stderr)
        return EXIT_UNEXPECTED
    finally:
        if quiet is not None:
            quiet.uninstall()  # everything written to fd 2 is out before main returns


if __name__ == "__main__":
    sys.exit(main())
