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


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _add_window_args(p, with_defaults=True):
    p.add_argument("--frames", type=int, default=20, help="window length T in frames (default 20)")
    p.add_argument("--fps", type=float, default=10.0, help="model fps F: frames kept per second (default 10)")
    p.add_argument("--size", type=int, default=64, help="model input height and width (default 64)")


def _add_train_args(p):
    _add_window_args(p)
    p.add_argument("--data", required=True, type=Path, help="labelled video folder, one sub-folder per class")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--patience", type=int, default=8, help="early stopping patience in epochs")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--windows-per-clip", type=int, default=4, help="random temporal crops per clip and epoch")
    p.add_argument("--val-split", type=float, default=0.15)
    p.add_argument("--test-split", type=float, default=0.15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", type=Path, help="frame cache folder (default DATA/.edge-lrcn-cache)")
    p.add_argument("--sampling", choices=("stream", "uniform"), default="stream",
                   help="stream: T frames at F fps (matches the daemon); uniform: T frames over the whole clip "
                        "(the tutorial's way, does not match a live stream)")
    p.add_argument("--filters", type=_ints, default=(16, 32, 64, 64), help="conv filters per stage")
    p.add_argument("--pools", type=_ints, default=(4, 4, 2, 2), help="max-pool size per stage")
    p.add_argument("--lstm-units", type=int, default=32)
    p.add_argument("--dropout", type=float, default=0.25)
    p.add_argument("--reverse-pairs", metavar="A:B,...",
                   help="time-reversal augmentation: half the training windows play backwards with label A<->B "
                        "(e.g. left:right,up:down,still:still; sit_down:stand_up). Stops the model from learning "
                        "appearance instead of motion")
    p.add_argument("--hflip", nargs="?", const="", metavar="A:B,...",
                   help="mirror half the training windows left-right; labels kept, except pairs that swap "
                        "(e.g. left:right)")
    p.add_argument("--vflip", nargs="?", const="", metavar="A:B,...",
                   help="flip half the training windows upside down; labels kept, except pairs that swap (up:down)")
    p.add_argument("--init-from", type=Path, help="start training from this trained .keras model (fine-tuning)")
    p.add_argument("--no-plots", action="store_true", help="do not write the PNG plots")
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="edge-lrcn", description="Video activity recognition on edge devices.")
    ap.add_argument("--version", action="version", version=f"edge-lrcn {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="verbose logs and tracebacks")
    common.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING (default INFO)")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("synth", parents=[common], help="write a synthetic labelled video dataset")
    p.add_argument("out_dir", type=Path)
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

    p = sub.add_parser("train", parents=[common], help="train the LRCN on a labelled video folder")
    _add_train_args(p)
    p.add_argument("--out", required=True, type=Path, help="where to save the Keras model (.keras)")

    p = sub.add_parser("convert", parents=[common], help="train, int8-convert, validate and write a model bundle")
    _add_train_args(p)
    p.add_argument("--out", required=True, type=Path, help="the bundle to write (.lrcn)")
    p.add_argument("--keras-model", type=Path, help="convert this trained .keras model instead of training")
    p.add_argument("--min-agreement", type=float, default=0.97,
                   help="refuse a bundle whose int8 top-1 agreement with float is below this (default 0.97)")
    p.add_argument("--allow-degraded", action="store_true", help="write the bundle even below --min-agreement")
    p.add_argument("--no-baseline", action="store_true", help="skip training the single-frame baseline")
    p.add_argument("--calibration-frames", type=int, default=400)

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
    p.add_argument("--plot", type=Path, help="write the confusion matrix as a PNG here")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("bench", parents=[common], help="measure speed and memory on this machine")
    p.add_argument("--model", help="bundle (default: the embedded model)")
    p.add_argument("--video", type=Path, help="640x480 video for the end-to-end figures (default: generated)")
    p.add_argument("--threads", type=int)
    p.add_argument("--repeats", type=int, default=200)
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
    from .convert.model import LrcnConfig
    from .convert.pipeline import ConvertOptions
    from .convert.train import TrainOptions

    for name in ("frames", "epochs", "batch_size", "windows_per_clip", "size", "lstm_units"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    if not 0 < args.fps <= 120:
        raise UsageError("--fps must be in (0, 120]")
    if len(args.filters) != len(args.pools):
        raise UsageError("--filters and --pools need the same number of stages")
    cfg = LrcnConfig(frames=args.frames, height=args.size, width=args.size, filters=args.filters, pools=args.pools,
                     dropout=args.dropout, lstm_units=args.lstm_units)
    topts = TrainOptions(epochs=args.epochs, patience=args.patience, batch_size=args.batch_size,
                         windows_per_clip=args.windows_per_clip, learning_rate=args.learning_rate, seed=args.seed,
                         sampling=args.sampling, verbose=0 if args.quiet else (1 if sys.stderr.isatty() else 2),
                         reverse_pairs=args.reverse_pairs, hflip=args.hflip, vflip=args.vflip,
                         init_from=str(args.init_from) if args.init_from else None,
                         checkpoint=str(args.out.with_suffix("")) + ".best.keras")
    return ConvertOptions(data=args.data, out=args.out, cfg=cfg, fps=args.fps, train=topts, val_split=args.val_split,
                          test_split=args.test_split, cache_dir=args.cache,
                          keras_model=getattr(args, "keras_model", None),
                          min_agreement=getattr(args, "min_agreement", 0.97),
                          allow_degraded=getattr(args, "allow_degraded", False),
                          baseline=not getattr(args, "no_baseline", False),
                          calibration_frames=getattr(args, "calibration_frames", 400), plots=not args.no_plots)


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


if __name__ == "__main__":
    sys.exit(main())
