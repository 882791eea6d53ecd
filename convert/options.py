"""The host-side options, written once: the dataclasses hold the defaults, one table gives each its flag and help.

``edge-lrcn train`` and ``convert`` build their argparse flags from :data:`TABLE`; :func:`from_args` builds the
dataclasses back from the parsed flags. No TensorFlow here: the CLI imports this module to build its parser.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields
from pathlib import Path

ENCODERS = ("efficientnet", "reference")
MOTION = ("both", "delta", "none")
INPUTS = ("difference", "frame")


@dataclass
class LrcnConfig:
    """What the model is: window, input size, encoder and head."""

    frames: int = 20
    height: int = 64
    width: int = 64
    encoder: str = "efficientnet"
    input: str = "difference"  # what the encoder sees: the "difference" to the kept frame `lag` before, or "frame"
    lag: int = 3  # kept frames between the two frames of a difference (3 at 10 fps: 0.3 s)
    gain: float = 0.5  # a difference is scaled by this power of two before it is clipped to the uint8 range
    filters: tuple[int, ...] = (16, 32, 64, 64)  # reference encoder
    pools: tuple[int, ...] = (4, 4, 2, 2)  # reference encoder
    backbone_blocks: int = 11  # efficientnet encoder: blocks kept (11: to stage 5, a 4x4 grid at 64x64)
    neck_channels: int = 16  # efficientnet encoder: trained channels per grid cell
    delta_lag: int = 2  # the head's feature changes are over this many kept frames (2 at 10 fps: 0.2 s)
    motion: str = "delta"  # what the LSTM sees of the features: their changes ("delta"), "both", or "none"
    dropout: float = 0.25
    lstm_units: int = 32
    heads: int = 5  # an ensemble of this many heads over the same features, each trained on its own, averaged
    labels: list[str] = field(default_factory=list)

    def to_dict(self):
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["filters"], d["pools"] = list(self.filters), list(self.pools)
        return d

    @classmethod
    def reference(cls, **kw) -> LrcnConfig:
        """The tutorial model as it was: its CNN trained from scratch, the LSTM on the features themselves."""
        return cls(**{"encoder": "reference", "input": "frame", "motion": "none", "heads": 1, **kw})


@dataclass
class TrainOptions:
    epochs: int = 40
    patience: int = 8
    batch_size: int = 16
    windows_per_clip: int = 4
    eval_windows_per_clip: int = 3
    learning_rate: float = 1e-3
    seed: int = 0
    sampling: str = "stream"
    verbose: int = 1  # 0: silent; 1: one progress line per head on a terminal; 2: Keras's epoch lines (--debug)
    reverse_pairs: dict[int, int] | str | None = None  # label index -> label of the window played backwards
    # label index -> label of the mirrored window (left-right); "auto": by name
    hflip: dict[int, int] | str | None = "auto"
    vflip: dict[int, int] | str | None = None  # label index -> label of the upside-down window
    checkpoint: str | None = None  # save the best weights here after every improving epoch
    init_from: str | None = None  # a trained .keras model whose weights start the training (fine-tuning)
    early_windows: float = 0.3  # share of training windows that begin right after a restart (docs/events.md)
    straddle_windows: float = 0.0  # share of training windows that straddle a change of activity in one scene


@dataclass
class ConvertOptions:
    data: Path
    out: Path
    cfg: LrcnConfig = field(default_factory=LrcnConfig)
    fps: float = 10.0
    train: TrainOptions = field(default_factory=TrainOptions)
    val_split: float = 0.15
    test_split: float = 0.15
    cache_dir: Path | None = None
    groups: Path | None = None  # a CSV of clip,group rows (convert/dataset.py read_groups)
    estimate: str = "auto"  # how accuracy is estimated: auto, holdout or cv (convert/groups.py plan)
    keras_model: Path | None = None
    min_agreement: float = 0.97  # trained encoders: int8/float top-1 agreement
    max_int8_drop: float = 0.10  # frozen pre-quantized encoders: int8 accuracy at most this far below float
    max_p_value: float = 0.01  # the quality gate: held-out accuracy must beat chance at this significance
    allow_degraded: bool = False
    baseline: bool = True
    calibration_frames: int = 1000  # int8 calibration inputs (400: int8 87.0%, 1200: 88.9% on the motion set)
    plots: bool = True


# the tutorial model's own defaults where they differ (frames in, the LSTM on the features, no mirroring)
ENCODER_DEFAULTS = {"input": LrcnConfig.reference().input, "motion": LrcnConfig.reference().motion, "hflip": None,
                    "heads": LrcnConfig.reference().heads}


def transform_of(cfg: LrcnConfig) -> str | None:
    """The manifest's ``input.transform`` (and the dataset cache's) for this model: None for plain frames."""
    return None if cfg.input == "frame" else cfg.input


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


@dataclass(frozen=True)
class Opt:
    """One flag: which dataclass field it sets (``owner.field``), and how argparse reads it."""

    flag: str
    owner: type
    name: str
    help: str
    type: object = None
    choices: tuple | None = None
    minimum: float | None = None  # checked after parsing: at least this
    commands: tuple[str, ...] = ("train", "convert")
    extra: dict = field(default_factory=dict)

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    def default(self):
        f = next(f for f in fields(self.owner) if f.name == self.name)
        return f.default_factory() if callable(f.default_factory) else f.default


C, T, V = LrcnConfig, TrainOptions, ConvertOptions
TABLE: tuple[Opt, ...] = (
    Opt("--frames", C, "frames", "window length T in frames", int, minimum=1),
    Opt("--fps", V, "fps", "model fps F: frames kept per second", float),
    Opt("--size", C, "height", "model input height and width", int, minimum=8),
    Opt("--encoder", C, "encoder", "per-frame CNN: efficientnet (ImageNet-pretrained EfficientNet-Lite0, learns "
        "from few clips) or reference (the tutorial CNN, from scratch; needs thousands of clips)", str, ENCODERS),
    Opt("--input", C, "input", "what the encoder sees of each kept frame: its difference to the previous kept frame "
        "(the scene drops out, motion stays) or the frame itself (the reference's way)", str, INPUTS),
    Opt("--lag", C, "lag", "--input difference: kept frames between the two frames of a difference", int,
        minimum=1),
    Opt("--gain", C, "gain", "--input difference: scale of the difference before it is clipped to the uint8 range "
        "(a power of two)", float, (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)),
    Opt("--delta-lag", C, "delta_lag", "the head's feature changes span this many kept frames", int, minimum=1),
    Opt("--motion", C, "motion", "what the LSTM sees of the per-frame features: their change since the previous kept "
        "frame (delta), features and changes (both), features only (none; the reference's way)", str, MOTION),
    Opt("--neck-channels", C, "neck_channels", "efficientnet: trained channels per grid cell", int, minimum=1),
    Opt("--filters", C, "filters", "reference: conv filters per stage", _ints),
    Opt("--pools", C, "pools", "reference: max-pool size per stage", _ints),
    Opt("--lstm-units", C, "lstm_units", "LSTM units", int, minimum=1),
    Opt("--heads", C, "heads", "heads over the encoder's features, each trained on its own with its own seed, their "
        "probabilities averaged (an ensemble: steadier on a few dozen clips; each head costs ~0.03 ms a window)",
        int, minimum=1),
    Opt("--dropout", C, "dropout", "dropout rate", float),
    Opt("--epochs", T, "epochs", "at most this many epochs", int, minimum=1),
    Opt("--patience", T, "patience", "early stopping patience in epochs", int, minimum=1),
    Opt("--batch-size", T, "batch_size", "windows per batch", int, minimum=1),
    Opt("--learning-rate", T, "learning_rate", "Adam learning rate", float),
    Opt("--windows-per-clip", T, "windows_per_clip", "random temporal crops per clip and epoch", int, minimum=1),
    Opt("--early-windows", T, "early_windows", "share of training windows cut as the daemon sees them right after a "
        "restart (a scene cut, the start of a stream): the first 1-19 kept frames of an activity after the rest "
        "input, labelled by that activity, so events come within a second (a model fed differences; 0: off)",
        float),
    Opt("--straddle-windows", T, "straddle_windows", "share of training windows that straddle a change of activity "
        "inside one scene (no cut): another clip's last frames then the first 1-19 of this one, labelled by this one "
        "(a pretrained encoder fed differences; 0: off)", float),
    Opt("--seed", T, "seed", "seed of the split, the crops and the initial weights", int),
    Opt("--sampling", T, "sampling", "stream: T frames at F fps (matches the daemon); uniform: T frames over the "
        "whole clip (the tutorial's way, does not match a live stream)", str, ("stream", "uniform")),
    Opt("--reverse-pairs", T, "reverse_pairs", "time-reversal augmentation: half the training windows play "
        "backwards with label A<->B (e.g. left:right,up:down,still:still; sit_down:stand_up)", str,
        extra={"metavar": "A:B,..."}),
    Opt("--hflip", T, "hflip", "mirror half the training windows left-right; labels kept, except pairs that swap "
        "(e.g. left:right); auto: the pairs found by name (left/right, clockwise/counterclockwise), off when a "
        "label names a side without its mirror; none: off", str,
        extra={"nargs": "?", "const": "", "metavar": "auto|none|A:B,..."}),
    Opt("--vflip", T, "vflip", "flip half the training windows upside down; labels kept, except pairs that swap "
        "(up:down)", str, extra={"nargs": "?", "const": "", "metavar": "A:B,..."}),
    Opt("--init-from", T, "init_from", "start from this trained .keras model: fine-tuning, or new labels on its "
        "encoder and LSTM (the output layer is trained afresh when the labels differ)", Path),
    Opt("--val-split", V, "val_split", "share of each class's clips for validation", float),
    Opt("--test-split", V, "test_split", "share of each class's clips held out for the test figures", float),
    Opt("--groups", V, "groups", "CSV of 'clip,group' rows (clip paths under --data): clips of one person or session "
        "share a group, and no group is ever in two of train, validation and test (sub-folders per session and "
        "file-name prefixes before '__' say it too)", Path, extra={"metavar": "FILE.csv"}),
    Opt("--estimate", V, "estimate", "how the gate's accuracy is estimated: holdout (a test split), cv (k-fold "
        "cross-validation over groups, then the final model trains on all clips) or auto (cv when the test split "
        "would hold fewer than 30 clips or a class has fewer than 3 groups)", str, ("auto", "holdout", "cv"),
        commands=("convert",)),
    Opt("--cache", V, "cache_dir", "frame cache folder (default DATA/.edge-lrcn-cache)", Path),
    Opt("--keras-model", V, "keras_model", "convert this trained .keras model instead of training", Path,
        commands=("convert",)),
    Opt("--min-agreement", V, "min_agreement", "refuse a bundle whose int8 top-1 agreement with float is below "
        "this", float, commands=("convert",)),
    Opt("--max-int8-drop", V, "max_int8_drop", "frozen (pretrained) encoder: refuse a bundle whose int8 accuracy "
        "is more than this below the float model's (the head trained on the int8 features too)", float,
        commands=("convert",)),
    Opt("--max-p-value", V, "max_p_value", "refuse a bundle whose held-out accuracy is not above chance at this "
        "significance (one-sided binomial test over the held-out clips)", float, commands=("convert",)),
    Opt("--calibration-frames", V, "calibration_frames", "frames for the int8 calibration", int, minimum=1,
        commands=("convert",)),
)
FLAGS_ONLY = ("data", "out", "allow_degraded", "no_baseline", "no_plots", "quiet")


def add_arguments(p: argparse.ArgumentParser, command: str) -> None:
    p.add_argument("--data", required=True, type=Path, help="labelled video folder, one sub-folder per class")
    p.add_argument("--out", required=True, type=Path,
                   help="the bundle to write (.lrcn)" if command == "convert" else "the Keras model (.keras)")
    for o in TABLE:
        if command not in o.commands:
            continue
        default = o.default()
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        if o.name in ENCODER_DEFAULTS:  # their defaults depend on the encoder: see from_args
            default, shown = None, f"{default} with efficientnet, {ENCODER_DEFAULTS[o.name]} with reference"
        kw = {"type": o.type, "default": default, "dest": o.dest, **o.extra}
        if o.choices:
            kw["choices"] = o.choices
        help_text = o.help + (f" (default {shown})" if shown not in (None, "") else "")
        p.add_argument(o.flag, help=help_text.replace("%", "%%"), **kw)
    if command == "convert":
        p.add_argument("--allow-degraded", action="store_true",
                       help="write the bundle even when it fails the quality gate; the manifest marks it degraded")
        p.add_argument("--no-baseline", action="store_true", help="skip training the single-frame baseline")
    p.add_argument("--no-plots", action="store_true", help="do not write the PNG plots")
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress")


def from_args(args, verbose: int) -> ConvertOptions:
    """The parsed flags -> ConvertOptions (with its LrcnConfig and TrainOptions); bad values are usage errors."""
    from edge_lrcn.errors import UsageError

    values: dict[type, dict] = {C: {}, T: {}, V: {}}
    for o in TABLE:
        if not hasattr(args, o.dest):
            continue
        v = getattr(args, o.dest)
        if v is None and o.name in ENCODER_DEFAULTS:
            v = ENCODER_DEFAULTS[o.name] if args.encoder == "reference" else o.default()
        if o.minimum is not None and v < o.minimum:
            raise UsageError(f"{o.flag} must be at least {o.minimum:g}")
        values[o.owner][o.name] = str(v) if o.name == "init_from" and v is not None else v
    cfg = values[C]
    cfg["width"] = cfg["height"]
    if not 0 < values[V]["fps"] <= 120:
        raise UsageError("--fps must be in (0, 120]")
    if len(cfg["filters"]) != len(cfg["pools"]):
        raise UsageError("--filters and --pools need the same number of stages")
    if not 0 <= values[T]["early_windows"] <= 1:
        raise UsageError("--early-windows must be in [0, 1]")
    if not 0 <= values[T]["straddle_windows"] <= 1 - values[T]["early_windows"]:
        raise UsageError("--straddle-windows must be in [0, 1 - --early-windows]")
    for name in ("val_split", "test_split"):
        if not 0 < values[V][name] < 0.5:
            raise UsageError(f"--{name.replace('_', '-')} must be in (0, 0.5)")
    if cfg["input"] == "difference" and values[T]["sampling"] == "uniform":
        raise UsageError("--sampling uniform spreads frames over the whole clip: it cannot feed --input difference, "
                         "which needs consecutive kept frames (use --input frame)")
    if cfg["encoder"] == "reference" and cfg["heads"] > 1:
        raise UsageError("--heads above 1 needs the frozen pretrained encoder (--encoder efficientnet): the reference "
                         "encoder trains with its head, so its heads could not be trained one at a time")
    if not 0 < values[V].get("max_p_value", 0.01) < 1:
        raise UsageError("--max-p-value must be in (0, 1)")
    if not 0 <= values[V].get("max_int8_drop", 0.1) <= 1 or not 0 <= values[V].get("min_agreement", 0.97) <= 1:
        raise UsageError("--max-int8-drop and --min-agreement must be in [0, 1]")
    train = TrainOptions(**values[T], verbose=verbose, checkpoint=str(args.out.with_suffix("")) + ".best.keras")
    return ConvertOptions(data=args.data, out=args.out, cfg=LrcnConfig(**cfg), train=train, **values[V],
                          allow_degraded=getattr(args, "allow_degraded", False),
                          baseline=not getattr(args, "no_baseline", False), plots=not args.no_plots)
