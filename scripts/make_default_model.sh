#!/usr/bin/env bash
# Rebuild the embedded default model (edge_lrcn/models/default.lrcn + default.keras) from synthetic data.
# This is the sequence that produced the shipped model; re-running it gives a comparable, not bit-identical model.
#
# Architecture: the reference LRCN (Conv 16-32-64-64, pools 4-4-2-2, dropout 0.25, LSTM 32, 64x64, T=20 at 10 fps).
# From scratch on the spec's synth set it sits at chance and memorises clips (docs/training.md has the runs), so:
#   A. warm-up on white shapes on black (--backgrounds black, 200 clips/class): only motion differs; leaves the
#      plateau in ~2 epochs, 0.97 validation accuracy after 15;
#   B. fine-tune on the 40-clips/class spec set with time reversal (--reverse-pairs);
#   C. again with mirrored/flipped windows (--hflip/--vflip) and learning-rate decay: ~0.8 on held-out clips, the
#      ceiling of 140 training clips here;
#   D. pretrain on 200 more clips/class of the full spec distribution (another seed);
#   E. fine-tune on the 40-clips/class set again and convert. The 40-clip set's test clips are never seen by any
#      stage; but note that the final figure relies on D's extra synthetic data, not on 40 clips per class alone.
# Usage: scripts/make_default_model.sh [WORKDIR]     (needs the convert extra: pip install -e '.[convert]')
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${1:-build/default-model}"
mkdir -p "$WORK"
REV="left:right,up:down,still:still"
FLIPS=(--hflip left:right --vflip up:down)

edge-lrcn synth "$WORK/warmup" --clips-per-class 200 --seed 200 --backgrounds black
edge-lrcn synth "$WORK/synth" --clips-per-class 40 --seed 0
edge-lrcn synth "$WORK/more" --clips-per-class 200 --seed 300
# A
edge-lrcn train --data "$WORK/warmup" --out "$WORK/a.keras" --learning-rate 2e-3 --epochs 15 --patience 4 \
  --windows-per-clip 2 --val-split 0.05 --test-split 0.05
# B
edge-lrcn train --data "$WORK/synth" --out "$WORK/b.keras" --init-from "$WORK/a.keras" --reverse-pairs "$REV" \
  --learning-rate 1e-3 --epochs 40 --patience 10
# C
edge-lrcn train --data "$WORK/synth" --out "$WORK/c.keras" --init-from "$WORK/b.keras" --reverse-pairs "$REV" \
  "${FLIPS[@]}" --learning-rate 5e-4 --epochs 40 --patience 10
# D
edge-lrcn train --data "$WORK/more" --out "$WORK/d.keras" --init-from "$WORK/c.best.keras" --reverse-pairs "$REV" \
  "${FLIPS[@]}" --learning-rate 5e-4 --epochs 10 --patience 3 --windows-per-clip 2 --val-split 0.05 --test-split 0.05
# E
edge-lrcn convert --data "$WORK/synth" --out "$WORK/default.lrcn" --init-from "$WORK/d.best.keras" \
  --reverse-pairs "$REV" "${FLIPS[@]}" --learning-rate 2e-4 --epochs 10 --patience 4

install -m 0644 "$WORK/default.lrcn" edge_lrcn/models/default.lrcn
install -m 0644 "$WORK/default.keras" edge_lrcn/models/default.keras
install -m 0644 "$WORK/default.lrcn.report.json" edge_lrcn/models/default.report.json
install -m 0644 "$WORK/default_training.png" docs/default_training.png
install -m 0644 "$WORK/default_confusion.png" docs/default_confusion.png
edge-lrcn info edge_lrcn/models/default.lrcn | head -30
