#!/usr/bin/env bash
# Rebuild the embedded default model (edge_lrcn/models/default.lrcn + default.keras) from synthetic data: the spec's
# synth set at twice the spec's size (80 clips per class of the five directions, seed 0: more clips made the early
# windows sure sooner, docs/events.md) and `edge-lrcn convert` with its defaults, nothing
# else (the pretrained EfficientNet-Lite0 encoder fed frame differences, five LSTM heads over feature changes,
# mirrored clips; docs/training.md). Its test clips are the 60 of convert's split (seed 0), never trained on.
# On the CPU the same data and seed give the same split and figures; the bundle's bytes differ (creation time).
# 10-20 min on 2 cores (19 min on 2026-12-06 beside two other trainings). The reference LRCN that was embedded before: scripts/make_reference_model.sh.
# Usage: scripts/make_default_model.sh [WORKDIR]     (needs the convert extra: pip install -e '.[convert]')
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${1:-build/default-model}"
mkdir -p "$WORK"

edge-lrcn synth "$WORK/synth" --clips-per-class 80 --seed 0
edge-lrcn convert --data "$WORK/synth" --out "$WORK/default.lrcn"

install -m 0644 "$WORK/default.lrcn" edge_lrcn/models/default.lrcn
install -m 0644 "$WORK/default.keras" edge_lrcn/models/default.keras
install -m 0644 "$WORK/default.lrcn.report.json" edge_lrcn/models/default.report.json
install -m 0644 "$WORK/default_training.png" docs/default_training.png
install -m 0644 "$WORK/default_confusion.png" docs/default_confusion.png
edge-lrcn info edge_lrcn/models/default.lrcn | head -30
