#!/usr/bin/env bash
# `make demo`: the whole STM path on a CPU in a few minutes, with `stm-keras` from .venv/bin.
#   synth (Jester layout, direction classes) -> preprocess (Beam) -> fit (small STM) -> ...
# Every output goes under $DEMO_DIR (git-ignored), which is recreated on each run.
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO_DIR=${DEMO_DIR:-demo-output}
RAW_DIR=$DEMO_DIR/raw                 # synthetic videos in Jester's native layout
RECORDS_DIR=$DEMO_DIR/records         # TFRecord shards + dataset_info.json
MODEL_DIR=$DEMO_DIR/model             # config.json, model.keras, checkpoints, history, logs

# Four Jester classes: Swiping Left/Right/Up/Down (Left and Right are time reversals).
CLASSES=4
VIDEOS_PER_CLASS=80
VIDEO_FRAMES=16
# A small STM that trains in about three minutes on two cores.
FIT_ARGS=(
  --depth 18 --width-multiplier 0.25 --frames 8 --image-size 64 --init none
  --cpu-replicas 2 --batch-size 8 --epochs 24 --lr 0.2 --lr-steps 14,20 --seed 0
)

export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
DEMO_START=$SECONDS
step() { printf '\n== [%4ss] %s\n' "$((SECONDS - DEMO_START))" "$*"; }

rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR"

step "synth: $((CLASSES * VIDEOS_PER_CLASS)) synthetic Jester videos -> $RAW_DIR"
stm-keras synth --layout jester --output-dir "$RAW_DIR" --classes "$CLASSES" \
  --videos-per-class "$VIDEOS_PER_CLASS" --frames "$VIDEO_FRAMES" --height 72 --width 96

step "preprocess: Beam job -> $RECORDS_DIR"
stm-keras preprocess --dataset jester --data-dir "$RAW_DIR" --output-dir "$RECORDS_DIR" \
  --num-shards 4

step "fit: STM-ResNet18 x0.25, 8 frames, 64x64 -> $MODEL_DIR"
stm-keras fit --data-dir "$RECORDS_DIR" --model-dir "$MODEL_DIR" "${FIT_ARGS[@]}"
python - "$MODEL_DIR/history.csv" <<'EOF'
import csv, sys
last = list(csv.DictReader(open(sys.argv[1])))[-1]
print(f"fit: last epoch top-1 train {float(last['top1']):.3f}, "
      f"validation {float(last.get('val_top1') or 'nan'):.3f}")
EOF

step "fit done. Written:"
echo "  raw videos:     $RAW_DIR"
echo "  TFRecords:      $RECORDS_DIR (dataset_info.json lists shards and classes)"
echo "  trained model:  $MODEL_DIR/model.keras (config.json: every fit option)"
echo "  checkpoints:    $MODEL_DIR/checkpoints/{best,last}.keras"
echo "  history:        $MODEL_DIR/history.csv, TensorBoard logs in $MODEL_DIR/logs"
