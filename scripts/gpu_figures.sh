#!/usr/bin/env bash
# The GPU figures of BENCHMARKS.md in one command, on a host with Keras on JAX (TensorFlow not
# needed):
#
#   scripts/gpu_figures.sh [OUT_DIR]        # default OUT_DIR: gpu-figures
#
# For each batch size in BATCHES it runs `bench model` (STM- against TSN-ResNet, XLA, steps on
# device-kept state) with a profiler trace of one step per model and mode, then the per-block
# probe (scripts/block_variants.py). It writes OUT_DIR/model-b<BATCH>.json,
# OUT_DIR/traces-b<BATCH>/ and OUT_DIR/blocks.json, and prints each table.
#
# Settings, from the environment (defaults: BENCHMARKS.md's GPU runs):
#   PEAK_TFLOPS    the GPU's dense bf16 datasheet peak, for MFU (989: H100 or H200 SXM)
#   DEPTH FRAMES IMAGE_SIZE WIDTH_MULTIPLIER NUM_CLASSES STEPS WARMUP DTYPE_POLICY
#   BATCHES        space-separated batch sizes ("16 32")
#   STAGES         stages of the block probe ("conv2,conv3,conv4,conv5")
#   BLOCK_SECONDS  the block probe stops starting new rows after this many seconds (150)
#   MATMUL_SIZE    side of the matmul timed as the device's practical peak (bench's default)
#   BLOCK_ARGS     extra arguments for the block probe (e.g. "--calls 40")
#   MODULES        1: bench model also times CSTM-only and CMM-only models (--modules; about
#                  twice the bench's time)
#   KERAS_OPS      1: bench model also times STM and TSN with BN and max-pooling on Keras's own
#                  ops (--keras-ops: what stm-keras's XLA paths save; about twice the time)
#   PYTHON         the interpreter (python3)
set -euo pipefail

out=${1:-gpu-figures}
python=${PYTHON:-python3}
peak=${PEAK_TFLOPS:-989}
depth=${DEPTH:-50}
frames=${FRAMES:-8}
image_size=${IMAGE_SIZE:-224}
width=${WIDTH_MULTIPLIER:-1}
classes=${NUM_CLASSES:-174}
steps=${STEPS:-10}
warmup=${WARMUP:-2}
dtype=${DTYPE_POLICY:-mixed_bfloat16}
batches=${BATCHES:-16 32}
stages=${STAGES:-conv2,conv3,conv4,conv5}
block_seconds=${BLOCK_SECONDS:-150}
read -r -a block_args <<<"${BLOCK_ARGS:-}"
matmul=()
if [ -n "${MATMUL_SIZE:-}" ]; then matmul=(--matmul-size "$MATMUL_SIZE"); fi
more=()
if [ "${MODULES:-0}" = 1 ]; then more=(--modules); fi
if [ "${KERAS_OPS:-0}" = 1 ]; then more+=(--keras-ops); fi

export KERAS_BACKEND=jax
mkdir -p "$out"
for batch in $batches; do
    echo "== bench model, batch $batch"
    "$python" -m stm_keras.cli.bench model --depth "$depth" --frames "$frames" \
        --image-size "$image_size" --width-multiplier "$width" --num-classes "$classes" \
        --batch-size "$batch" --steps "$steps" --warmup "$warmup" --dtype-policy "$dtype" \
        --jit-compile --peak-tflops "$peak" "${matmul[@]}" "${more[@]}" \
        --trace-dir "$out/traces-b$batch" --output "$out/model-b$batch.json"
done
read -r first_batch _ <<<"$batches"
echo "== block probe, batch $first_batch, stages $stages"
"$python" "$(dirname "$0")/block_variants.py" --batch-size "$first_batch" --frames "$frames" \
    --stages "$stages" --dtype-policy "$dtype" --deadline "$block_seconds" \
    "${block_args[@]}" --output "$out/blocks.json"
echo "figures: $out"
