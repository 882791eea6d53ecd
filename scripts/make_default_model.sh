#!/usr/bin/env bash
# Rebuild the embedded default model (edge_lrcn/models/default.lrcn) from synthetic data, reproducibly.
#
# The reference LRCN (Conv 16-32-64-64, pools 4-4-2-2, LSTM 32) pools each frame down to 1x1x64 before the LSTM,
# so the position of the moving shape survives only through padding effects; from scratch on the cluttered synth
# set it sits at chance for many epochs and memorises per-clip appearance instead. Two measures fix that
# (docs/training.md has the measurements):
#   1. time-reversal augmentation (--reverse-pairs): a window played backwards is the opposite direction, so
#      appearance alone can never explain a label;
#   2. a curriculum: warm up on plain-background clips, where motion is easy to see, then fine-tune on the full set
#      (plain, noise and texture backgrounds) with --init-from.
# Usage: scripts/make_default_model.sh [WORKDIR]     (needs the convert extra: pip install -e '.[convert]')
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${1:-build/default-model}"
mkdir -p "$WORK"
PAIRS="left:right,up:down,still:still"

edge-lrcn synth "$WORK/plain" --clips-per-class 40 --seed 100 --backgrounds plain
edge-lrcn synth "$WORK/synth" --clips-per-class 40 --seed 0
edge-lrcn train --data "$WORK/plain" --out "$WORK/warmup.keras" --reverse-pairs "$PAIRS" \
  --learning-rate 2e-3 --epochs 30 --patience 8
edge-lrcn convert --data "$WORK/synth" --out "$WORK/default.lrcn" --init-from "$WORK/warmup.keras" \
  --reverse-pairs "$PAIRS" --learning-rate 1e-3 --epochs 60 --patience 12

install -m 0644 "$WORK/default.lrcn" edge_lrcn/models/default.lrcn
install -m 0644 "$WORK/default.keras" edge_lrcn/models/default.keras
install -m 0644 "$WORK/default.lrcn.report.json" edge_lrcn/models/default.report.json
install -m 0644 "$WORK/default_training.png" docs/default_training.png
install -m 0644 "$WORK/default_confusion.png" docs/default_confusion.png
edge-lrcn info edge_lrcn/models/default.lrcn | head -20
