#!/usr/bin/env bash
# `make demo`: the whole STM path on a CPU in a few minutes, with `stm-keras` from .venv/bin.
#   synth (Jester layout, direction classes) -> preprocess (Beam) -> fit (small STM)
#   -> evaluate (3x10) -> export (SavedModel, LiteRT) -> predict (frame folders, WebM, features,
#   a stream)
#   -> visualize (feature maps, Grad-CAM, training curves, confusion matrix).
# Every output goes under $DEMO_DIR (git-ignored), which is recreated on each run.
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO_DIR=${DEMO_DIR:-demo-output}
RAW_DIR=$DEMO_DIR/raw                 # synthetic videos in Jester's native layout
RECORDS_DIR=$DEMO_DIR/records         # TFRecord shards + dataset_info.json
MODEL_DIR=$DEMO_DIR/model             # config.json, final/ and best/ presets, history, logs

# Four Jester classes: Swiping Left/Right/Up/Down (Left and Right are time reversals).
CLASSES=4
VIDEOS_PER_CLASS=80
VIDEO_FRAMES=16
# A small STM that trains in about three minutes on two cores: the recipe
# stm_keras/recipes/cpu-demo.json (ResNet-18 x0.25, 8 frames of 64x64, from scratch).
RECIPE=cpu-demo

export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
DEMO_START=$SECONDS
step() { printf '\n== [%4ss] %s\n' "$((SECONDS - DEMO_START))" "$*"; }

rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR"

step "synth: $((CLASSES * VIDEOS_PER_CLASS)) synthetic Jester videos -> $RAW_DIR"
stm-keras synth --layout jester --output-dir "$RAW_DIR" --num-classes "$CLASSES" \
  --videos-per-class "$VIDEOS_PER_CLASS" --video-frames "$VIDEO_FRAMES" --height 72 --width 96

step "preprocess: Beam job -> $RECORDS_DIR"
stm-keras preprocess --dataset jester --data-dir "$RAW_DIR" --output-dir "$RECORDS_DIR" \
  --num-shards 4

step "fit: recipe $RECIPE (STM-ResNet18 x0.25, 8 frames, 64x64) -> $MODEL_DIR"
stm-keras fit --recipe "$RECIPE" --data-dir "$RECORDS_DIR" --model-dir "$MODEL_DIR"
python - "$MODEL_DIR/history.csv" <<'EOF'
import csv, sys
last = list(csv.DictReader(open(sys.argv[1])))[-1]
print(f"fit: last epoch top-1 train {float(last['top1']):.3f}, "
      f"validation {float(last.get('val_top1') or 'nan'):.3f}")
EOF

step "fit done. Written:"
echo "  raw videos:     $RAW_DIR"
echo "  TFRecords:      $RECORDS_DIR (dataset_info.json lists shards and classes)"
echo "  trained model:  $MODEL_DIR/final (keras-hub preset; config.json: every fit option)"
echo "  best epoch:     $MODEL_DIR/best (preset)"
echo "  history:        $MODEL_DIR/history.csv, TensorBoard logs in $MODEL_DIR/logs"

# --- evaluate -> export -> predict (docs/deployment.md) ---
SAVED_MODEL=$DEMO_DIR/saved_model     # TensorFlow SavedModel: raw uint8 video in, probabilities out
EVAL_REPORT=$MODEL_DIR/eval-validation-3x10.json

step "evaluate: validation split, the paper's 3x10 protocol (3 crops x 10 clips per video)"
stm-keras evaluate --model "$MODEL_DIR" --protocol 3x10 --batch-size 60

step "export: SavedModel with frame sampling, resize, crop and normalization in the graph"
stm-keras export --model "$MODEL_DIR" --output-dir "$SAVED_MODEL"

step "predict: two validation clips of different classes as frame folders, one also as WebM"
mapfile -t PREDICT_CLIPS < <(awk -F';' 'NR == 1 { print; first = $2; next }
  $2 != first { print; exit }' "$RAW_DIR/jester-v1-validation.csv")
PREDICT_INPUTS=()
for line in "${PREDICT_CLIPS[@]}"; do
  PREDICT_INPUTS+=("$RAW_DIR/20bn-jester-v1/${line%%;*}")
  echo "  ${line%%;*}: true class ${line#*;}"
done
python - "$DEMO_DIR" "${PREDICT_INPUTS[@]}" <<'EOF'
import os, sys
import av
import numpy as np
from PIL import Image
demo_dir, folders = sys.argv[1], sys.argv[2:]
clips = [[np.asarray(Image.open(os.path.join(folder, name)).convert("RGB"))
          for name in sorted(os.listdir(folder))] for folder in folders]
def write(output, frames, rate):
    with av.open(output, "w") as container:
        stream = container.add_stream("libvpx-vp9", rate=rate)
        stream.height, stream.width = frames[0].shape[:2]
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
write(os.path.join(demo_dir, "clip.webm"), clips[0], 12)
# Both clips back to back, one second each: a "live" stream whose class changes.
write(os.path.join(demo_dir, "stream.webm"), clips[0] + clips[1], len(clips[0]))
EOF
PREDICT_INPUTS+=("$DEMO_DIR/clip.webm")
stm-keras predict --model "$SAVED_MODEL" --top-k 2 "${PREDICT_INPUTS[@]}"

LITERT=$DEMO_DIR/litert               # model.tflite (builtin ops only) + labels + preprocessing
step "export: LiteRT, dynamic-range quantized; predict with it, and with --features"
stm-keras export --model "$MODEL_DIR" --format litert --quantize dynamic \
  --calibration-data "$RECORDS_DIR" --output-dir "$LITERT"
stm-keras predict --model "$LITERT/model.tflite" --top-k 1 "${PREDICT_INPUTS[@]}" \
  --features "$DEMO_DIR/features.npy"

step "predict --stream: the two clips back to back as one video, a window per second"
stm-keras predict --model "$LITERT/model.tflite" --stream "$DEMO_DIR/stream.webm" \
  --window 1 --stride 16 --top-k 1

# --- visualize (docs/visualize.md) ---
PICTURES_DIR=$DEMO_DIR/pictures
step "visualize: the first validation clip's feature maps and Grad-CAM, curves, confusion"
stm-keras visualize features --model "$MODEL_DIR" "${PREDICT_INPUTS[0]}" \
  --output "$PICTURES_DIR/features.png"
stm-keras visualize cam --model "$MODEL_DIR" "${PREDICT_INPUTS[0]}" \
  --output "$PICTURES_DIR/cam.png"
stm-keras visualize history --model-dir "$MODEL_DIR" --output "$PICTURES_DIR/history.png"
stm-keras visualize confusion --eval-json "$EVAL_REPORT" --output "$PICTURES_DIR/confusion.png"

step "demo done. Deployment:"
python - "$EVAL_REPORT" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
print(f"  accuracy (validation, 3x10): top-1 {100 * report['top1']:.1f}%, "
      f"mean class {100 * report['mean_class_accuracy']:.1f}% over {report['num_videos']} videos")
print(f"  report:         {sys.argv[1]} + {report['confusion_matrix_png']}")
EOF
echo "  SavedModel:     $SAVED_MODEL (signature serving_default; class names in assets/labels.txt)"
echo "  try:            saved_model_cli show --dir $SAVED_MODEL --all"
echo "  LiteRT:         $LITERT/model.tflite (int8 weights; builtin ops only)"
echo "  clip features:  $DEMO_DIR/features.npy (+ features.json naming the inputs)"
echo "  pictures:       $PICTURES_DIR/features.png (STM block conv2_block1: CSTM and CMM rows)"
echo "                  $PICTURES_DIR/cam.png (Grad-CAM per frame)"
echo "                  $PICTURES_DIR/history.png (loss, top-1, learning rate per epoch)"
echo "                  $PICTURES_DIR/confusion.png (validation, 3x10)"
