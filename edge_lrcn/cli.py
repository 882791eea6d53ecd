"""The ``edge-lrcn`` command line.

Exit codes: 0 clean stop or end of a file source; 1 anything unexpected; 2 usage or config error; 3 invalid model
bundle; 4 a file source could not be opened (a live camera is retried). Errors the user can fix print one line;
``--debug`` shows tracebacks.
Host-side subcommands (synth, train, convert, demo) import ``edge_lrcn.convert`` lazily.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from types import ModuleType

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
                   help="instead of a dataset, write one video OUT_DIR of labelled segments back to back (each a "
                        "new scene, of --kind's classes) and its timeline OUT_DIR.timeline.csv for eval")
    p.add_argument("--one-scene", action="store_true",
                   help="with --sequence: all segments in one scene, the shape changing what it does at each "
                        "segment (no cut between activities; --kind directions only)")

    from .convert.options import add_arguments

    p = sub.add_parser("train", parents=[common], help="train the LRCN on a labelled video folder")
    add_arguments(p, "train")

    p = sub.add_parser("convert", parents=[common], help="train, int8-convert, validate and write a model bundle")
    add_arguments(p, "convert")

    _add_device_commands(sub, common)
    _add_fleet_commands(sub, common)

    p = sub.add_parser("demo", parents=[common], help="synth -> convert -> stream a demo video -> events")
    p.add_argument("--workdir", type=Path, default=Path("edge-lrcn-demo"))
    p.add_argument("--clips-per-class", type=int, default=16)
    p.add_argument("--epochs", type=int, default=6)

    return ap


def _add_device_commands(sub, common) -> None:
    """info, run, eval, bench, record, dataset, check-config: the commands a device runs."""
    p = sub.add_parser("info", parents=[common], help="print a bundle's manifest")
    p.add_argument("model", nargs="?", help="bundle (default: the embedded model)")
    p.add_argument("--verify", action="store_true", help="also load every model in a child process")
    p.add_argument("--report", action="store_true", help="print the validation report as a person reads it "
                   "(accuracy and which estimate, confusion matrix, clips per class, signer); with --json: raw")
    p.add_argument("--json", action="store_true", help="with --report: the manifest and the raw report as JSON")
    p.add_argument("--trusted-key", action="append", default=[], metavar="PUB",
                   help="say whether this public key (or a directory of *.pub) verifies the signature; repeatable")

    from .config import add_arguments
    from .publish.clips import FORMATS

    p = sub.add_parser("run", parents=[common], help="the streaming daemon")
    add_arguments(p)

    _add_eval_command(sub, common)

    p = sub.add_parser("bench", parents=[common], help="measure speed and memory on this machine")
    p.add_argument("--model", help="bundle (default: the embedded model)")
    p.add_argument("--video", type=Path, help="640x480 video for the end-to-end figures (default: generated)")
    p.add_argument("--threads", type=int)
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--paced-seconds", type=float, default=20.0,
                   help="length of the video the daemon's CPU is measured on at its own pace (0: skip)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("record", parents=[common], help="record labelled clips for a dataset: DATA/LABEL/<time>.mp4")
    p.add_argument("--source", required=True, help="as for run: /dev/videoN, file, rtsp://..., gst:..., picamera2")
    p.add_argument("--label", required=True, help="the class; the clips go to OUT/LABEL/")
    p.add_argument("--seconds", type=float, default=4.0, help="length of each clip (default 4)")
    p.add_argument("--count", type=int, default=1, help="clips to record (default 1)")
    p.add_argument("--interval", type=float, default=2.0,
                   help="seconds between clips: a countdown for a camera, skipped video for a file (default 2)")
    p.add_argument("--out", type=Path, default=Path("data"), help="dataset folder (default ./data)")
    p.add_argument("--format", choices=sorted(FORMATS), default="mp4", help="mp4 (default) or webm (docs/clips.md)")
    p.add_argument("--width", type=int, default=640, help="camera capture width (default 640)")
    p.add_argument("--height", type=int, default=480, help="camera capture height (default 480)")
    p.add_argument("--fps", type=float, default=30.0, help="camera capture fps (default 30)")
    _region_arguments(p, "record only this region of the frame, cut as the daemon cuts it")

    p = sub.add_parser("dataset", parents=[common], help="dataset tools: add a clip the daemon saved")
    dsub = p.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)
    d = dsub.add_parser("add", parents=[common], help="copy a clip (or its .json sidecar) into DATA/LABEL/")
    d.add_argument("clip", type=Path, help="a clip from the clips folder, or its .json sidecar")
    d.add_argument("--label", help="the class (default: the label in the clip's sidecar)")
    d.add_argument("--data", type=Path, required=True, help="dataset folder")
    _region_arguments(d, "add only this region of the clip (default: the region in the clip's sidecar, if any)")

    p = sub.add_parser("check-config", parents=[common],
                       help="check a config file as the daemon would: every error with its key, exit 2 if any")
    p.add_argument("file", nargs="?", type=Path)


def _add_eval_command(sub, common) -> None:
    """eval: accuracy on a labelled folder, or event delays on a segment video (segments.py)."""
    p = sub.add_parser("eval", parents=[common], help="bundle accuracy on a labelled video folder, or event delays "
                                                      "on a segment video")
    p.add_argument("data", type=Path, help="a folder of class folders, or a segment video (docs/events.md)")
    p.add_argument("--model", help="bundle (default: the embedded model)")
    p.add_argument("--threads", type=int)
    p.add_argument("--stride", type=int, help="classify every N kept frames (default 5 for a folder; for a segment "
                                              "video the daemon's default, 1)")
    p.add_argument("--timeline", type=Path, help="a segment video's timeline: CSV start_s,end_s,label (default "
                                                 "VIDEO.timeline.csv, which synth --sequence writes)")
    from .config import BY_NAME

    for name in ("enter_threshold", "exit_threshold", "smoothing", "min_duration", "agree"):
        p.add_argument("--" + name.replace("_", "-"), type=type(BY_NAME[name].default),
                       help=f"segment video: the event setting (default the daemon's, {BY_NAME[name].default})")
    p.add_argument("--encoder", choices=("auto", "int8", "fp16"), default="auto",
                   help="CPU encoder, as the daemon's setting (default auto: the faster here)")
    p.add_argument("--plot", type=Path, help="write the confusion matrix as a PNG here")
    p.add_argument("--json", action="store_true")


def _add_fleet_commands(sub, common) -> None:
    """keygen, sign, push: the host side of fleet updates (docs/fleet.md)."""
    p = sub.add_parser("keygen", parents=[common], help="write an Ed25519 signing key pair")
    p.add_argument("--out", type=Path, required=True, help="directory for edge-lrcn.key (0600) and edge-lrcn.pub")
    p.add_argument("--name", help="who the key belongs to, shown by info and the devices (default user@host)")

    p = sub.add_parser("sign", parents=[common], help="sign a bundle's manifest (which holds every member's sha256)")
    p.add_argument("model", type=Path)
    p.add_argument("--key", type=Path, required=True, help="edge-lrcn.key from keygen")
    p.add_argument("--out", type=Path, help="write the signed bundle here (default: in place)")
    p.add_argument("--rollback", action="store_true",
                   help="say in the signed release that this is an older model sent back on purpose (docs/fleet.md)")

    p = sub.add_parser("push", parents=[common], help="send a signed bundle to devices over MQTT and wait for them")
    p.add_argument("model", type=Path)
    p.add_argument("--broker", required=True, help="mqtt[s]://[user@]host[:port]")
    p.add_argument("--device", help="device id (topic prefix <base>/<device>)")
    p.add_argument("--all", action="store_true", help="every device that announced it takes pushes")
    p.add_argument("--topic-prefix", help="the device's topic prefix, when it is not <base>/<device>")
    p.add_argument("--base", default="edge-lrcn", help="first topic level of the devices (default edge-lrcn)")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the answers (default 180)")
    p.add_argument("--discover-s", type=float, default=2.0, help="seconds to collect the devices' announcements")
    for name in ("username", "password_file", "password_env", "ca_file", "cert_file", "key_file"):
        p.add_argument("--" + name.replace("_", "-"), dest=name)
    p.add_argument("--tls-insecure", action="store_true", help="do not verify the broker's host name")


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

    # 1: one progress line per head on a terminal; 2: Keras's epoch lines (--debug only); 0: --quiet
    return from_args(args, verbose=0 if args.quiet else (2 if args.debug else 1))


def _cmd_synth(args) -> int:
    from .convert import synth
    from .progress import Progress

    if args.sequence:
        segs = []
        for part in args.sequence.split(","):
            label, _, secs = part.partition(":")
            try:
                segs.append((label.strip(), float(secs)))
            except ValueError:
                raise UsageError(f"--sequence: bad segment {part!r} (use LABEL:SECONDS)") from None
        try:
            if args.kind == "motion" and args.one_scene:
                raise UsageError("--one-scene: only --kind directions has one-scene sequences")
            if args.kind == "motion":
                from .convert import motion_synth

                truth = motion_synth.make_sequence(args.out_dir, segs, args.seed)
            else:
                truth = synth.make_sequence(args.out_dir, segs, args.seed, args.fps, (args.width, args.height),
                                            args.one_scene)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        for label, a, b in truth:
            print(f"{a:7.2f} {b:7.2f} {label}")
        from .segments import TIMELINE_SUFFIX, write_timeline

        timeline = write_timeline(Path(str(args.out_dir) + TIMELINE_SUFFIX), truth)
        print(f"video: {args.out_dir}\ntimeline: {timeline}")
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
    bar = Progress(len(synth.CLASSES) * args.clips_per_class, "writing clips", unit="clip")
    try:
        counts = synth.make_dataset(args.out_dir, args.clips_per_class, args.seed, fps=args.fps,
                                    size=(args.width, args.height), progress=lambda done, total: bar.update(),
                                    backgrounds=[b.strip() for b in args.backgrounds.split(",") if b.strip()])
    except ValueError as exc:
        raise UsageError(f"--backgrounds: {exc}") from None
    finally:
        bar.close()
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
    if args.report and not args.json:
        from .fleet.keys import signature_of
        from .model.summary import as_text, summary

        print(as_text(summary(b, signature_of(b))))
        return 0
    out = {"path": path, "sha256": b.sha256, **b.manifest}
    if args.report:
        out["report"] = b.report
    if args.verify:
        from .model.verify import verify_in_child

        out["verify"] = verify_in_child(path)
    out["signature"] = _signature_info(b, args.trusted_key)
    print(json.dumps(out, indent=2))
    return 0


def _signature_info(bundle, trusted_paths) -> dict | None:
    """Who signed the bundle (as the bundle says), and with --trusted-key whether one of those keys verifies it."""
    from .fleet.keys import load_trusted, signature_of, verify

    sig = signature_of(bundle)
    if sig is None:
        return None
    out = {k: sig.get(k) for k in ("signer", "key_id", "signed_at", "algorithm")}
    if trusted_paths:
        try:
            out["verified_by"] = verify(bundle, load_trusted(trusted_paths)).name
            out["verified"] = True
        except EdgeLrcnError as exc:
            out["verified"], out["error"] = False, str(exc)
    return out


def _cmd_keygen(args) -> int:
    from .fleet.keys import keygen, load_public

    key, pub = keygen(args.out, args.name)
    info = load_public(pub)
    print(f"private key: {key} (keep it on this host; mode 0600)\npublic key:  {pub} (name {info.name}, key id "
          f"{info.key_id}): copy it to /etc/edge-lrcn/trusted-keys/ on the devices")
    return 0


def _cmd_sign(args) -> int:
    from .fleet.keys import sign

    record = sign(args.model, args.key, args.out, rollback=args.rollback)
    print(f"signed {args.out or args.model} as {record['signer']} (key id {record['key_id']})")
    return 0


def _cmd_push(args) -> int:
    from .fleet.push import push_command

    return push_command(args)


def _cmd_check_config(args) -> int:
    from .config import DEFAULT_CONFIG_PATH, gather

    path = args.file or Path(os.environ.get("EDGE_LRCN_CONFIG") or DEFAULT_CONFIG_PATH)
    settings, found = gather({}, path, must_exist=True)
    problems = [str(p) for p in found]
    if settings is not None:  # the trusted key files as the daemon reads them (which skips a bad one and goes on)
        from .fleet.keys import load_trusted

        keys: list[str] = []
        load_trusted(settings.fleet.trusted_keys, strict=False, problems=keys, quiet=True)
        problems += [f"{k} (run skips it and uses the other keys)" for k in keys]
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


def _region_arguments(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--region", metavar="NAME|X0,Y0,X1,Y1",
                   help=f"{what}: a region of the config file, or a box in fractions of the frame")
    p.add_argument("--config", type=Path, help="the config file whose regions --region names (default: the "
                   "daemon's, /etc/edge-lrcn/config.toml or EDGE_LRCN_CONFIG)")


def _cmd_record(args) -> int:
    from .record import record_command

    return record_command(args)


def _cmd_dataset(args) -> int:
    from .record import dataset_add_command

    return dataset_add_command(args)


def _cmd_demo(args) -> int:
    from .demo import demo_command

    return demo_command(args)


COMMANDS = {"synth": _cmd_synth, "train": _cmd_train, "convert": _cmd_convert, "info": _cmd_info, "run": _cmd_run,
            "eval": _cmd_eval, "bench": _cmd_bench, "demo": _cmd_demo, "check-config": _cmd_check_config,
            "keygen": _cmd_keygen, "sign": _cmd_sign, "push": _cmd_push, "record": _cmd_record,
            "dataset": _cmd_dataset}


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: usage errors exit 2 already, --help exits 0
        return int(exc.code or 0)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    hushed: ModuleType | None = None  # convert/quiet.py once installed, for the commands that load TensorFlow
    if args.command in ("train", "convert", "demo") and not args.debug:
        from .convert import quiet

        quiet.install()  # TensorFlow's, the converter's and LiteRT's C++ chatter on fd 2 hidden; --debug shows it
        hushed = quiet
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
    except BrokenPipeError:
        # the reader of stdout went away (`edge-lrcn info M | head`): it had what it wanted, nothing failed here.
        # stdout now goes nowhere, so that the interpreter's flush at exit does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line unless --debug
        if args.debug:
            raise
        print(f"edge-lrcn {args.command}: unexpected error: {type(exc).__name__}: {exc} (run with --debug for "
              f"details)", file=sys.stderr)
        return EXIT_UNEXPECTED
    finally:
        if hushed is not None:
            hushed.uninstall()  # everything written to fd 2 is out before main returns


if __name__ == "__main__":
    sys.exit(main())
