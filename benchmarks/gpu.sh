#!/usr/bin/env bash
# The GPU benchmark of docs/benchmarks.md, in one command, on a machine with jaxgan's
# dependencies and a CUDA build of jax and torch installed:
#
#   bash benchmarks/gpu.sh [OUT_DIR] [all|bench|epochs]      (default runs/gpu-bench all)
#
# 1. DCGAN on CelebA-shaped batches of 128: jax (float32, XLA's convolutions), torch eager
#    and torch.compile in one `jaxgan.bench` run; then jax with XLA's own convolution
#    gradients (JAXGAN_CONV_IMPL=xla) and jax with model.precision=bfloat16, each beside torch.
# 2. Five epochs of a CelebA-sized folder (202,599 JPEG files, stand-in images) end to end:
#    `python -m jaxgan.train`, timed from process start to exit, the one-time JPEG decode
#    into the cache timed apart.
# Every result goes to OUT_DIR (JSON tables and logs).
set -uo pipefail
OUT=${1:-runs/gpu-bench}
PART=${2:-all}
STEPS=${STEPS:-400}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}

{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  $PY -c "import jax, flax, optax, torch; print('jax', jax.__version__, jax.devices()); print('flax', flax.__version__, 'optax', optax.__version__); print('torch', torch.__version__, torch.cuda.get_device_name())"
  nproc
} 2>&1 | tee "$OUT/machine.txt"

bench() {  # name, then jaxgan.bench arguments
  local name=$1; shift
  echo "== $name"
  $PY -m jaxgan.bench --config configs/dcgan_celeba.yaml --data fake --steps "$STEPS" \
    --json "$OUT/$name.json" "$@" 2>&1
}

if [ "$PART" != epochs ]; then
bench dcgan_f32 --backends jax,torch,torch-compile
JAXGAN_CONV_IMPL=xla bench dcgan_f32_xla_gradients --backends jax,torch
bench dcgan_bf16 --backends jax,torch --set model.precision=bfloat16
fi
[ "$PART" = bench ] && exit 0

echo "== five epochs of a CelebA-sized folder"
DATA=/tmp/jaxgan-celeba-sized
rm -rf "$DATA" /tmp/jaxgan-five-epochs*
/usr/bin/time -f "write 202599 files: %e s" $PY -m jaxgan.fake_data --config configs/dcgan_celeba.yaml \
  --out "$DATA" --num 202599 --distinct 2000 2>&1 | tee "$OUT/five_epochs.log"
SETS="--set data.root=$DATA/img_align_celeba --set data.cache_dir=$DATA/cache"
# the one-time decode (and the jit compile) on a 1-step run; then the timed five epochs
/usr/bin/time -f "decode once + 1 step: %e s" $PY -m jaxgan.train --config configs/dcgan_celeba.yaml $SETS \
  --set train.max_steps=1 --workdir /tmp/jaxgan-five-epochs-decode --no-progress 2>&1 | tail -3 | tee -a "$OUT/five_epochs.log"
for precision in float32 bfloat16; do
  /usr/bin/time -f "five epochs, $precision, end to end: %e s" $PY -m jaxgan.train --config configs/dcgan_celeba.yaml \
    $SETS --set model.precision=$precision --workdir /tmp/jaxgan-five-epochs-$precision --no-progress 2>&1 \
    | tail -6 | tee -a "$OUT/five_epochs.log"
  cp /tmp/jaxgan-five-epochs-$precision/summary.json "$OUT/five_epochs_$precision.json" 2>/dev/null
done
