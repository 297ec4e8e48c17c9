#!/usr/bin/env bash
# The GPU benchmark of docs/benchmarks.md in one command, sized for a short rental of one
# H100/H200 (about 9 minutes from a bare machine), printing one table at the end:
#
#   bash benchmarks/gpu.sh [--small] [OUT_DIR]        (default runs/gpu-bench)
#
# 0. Installs jaxgan with CUDA builds of jax and torch into $PYTHON's environment, unless they
#    already import and see the GPU (with --small: unless jaxgan and torch import).
# 1. DCGAN on CelebA-shaped batches of 128 (configs/dcgan_celeba.yaml, stand-in images):
#    jax, torch eager and torch-tuned in float32 (TF32 in both), then jax and torch-tuned
#    with model.precision=bfloat16 (jax's mixed precision against torch's bf16 autocast).
#    torch-tuned compiles with $TUNED_MODE (default reduce-overhead: CUDA graphs); set
#    TUNED_MODE=max-autotune to try autotuning instead (its compile takes minutes).
# 2. Five epochs of a CelebA-sized folder (202,599 JPEG files of 64x64 stand-in images; the
#    one-time decode into the cache is timed apart), end to end from process start to exit:
#    float32 and bfloat16 with a cold compilation cache, then bfloat16 again with it warm.
#
# --small shrinks every piece (a few steps at batch 16; 5 epochs of 160 files) so the whole
# script, install check and table included, runs on a CPU in a few minutes: a dry run.
set -uo pipefail
SMALL=0
if [ "${1:-}" = "--small" ]; then SMALL=1; shift; fi
OUT=${1:-runs/gpu-bench}
PY=${PYTHON:-python3}
TUNED_MODE=${TUNED_MODE:-reduce-overhead}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/jaxgan-gpu-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
START=$(date +%s)
elapsed() { echo "[$(( $(date +%s) - START )) s] $*"; }

if [ "$SMALL" = 1 ]; then
  BENCH_ARGS=(--steps 4 --warmup 2 --batch-size 16 --set train.steps_per_dispatch=2 --torch-threads 1)
  FILES=160; EPOCH_SETS=(--set train.batch_size=16 --set train.sample_every=20 --set train.log_every=10
                         --set train.steps_per_dispatch=10)
  TUNED_MODE=none  # compiling the torch step on a CPU takes minutes and gains nothing
else
  BENCH_ARGS=(--steps 300 --warmup 50)
  FILES=202599; EPOCH_SETS=()
fi

# --- 0. install --------------------------------------------------------------------------
elapsed "install check"
READY='import jax, torch, jaxgan, torch_ref; assert jax.default_backend() == "gpu" and torch.cuda.is_available()'
INSTALL=(-e ".[torch]" "jax[cuda13]>=0.10,<0.11" --extra-index-url https://download.pytorch.org/whl/cu130)
if [ "$SMALL" = 1 ]; then  # the dry run: the same check and install, for a CPU
  READY='import jax, torch, jaxgan, torch_ref'
  INSTALL=(-e ".[torch]")
fi
if ! $PY -c "$READY" 2>/dev/null; then
  elapsed "installing: pip install ${INSTALL[*]}"
  $PY -m pip install -q "${INSTALL[@]}" || { echo "error: install failed"; exit 2; }
  $PY -c "$READY" || { echo "error: jax or torch does not import or does not see the GPU after the install"; exit 2; }
fi
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>/dev/null || echo "no GPU"
  $PY -c "import jax, flax, optax, torch; print('jax', jax.__version__, jax.devices()); print('flax', flax.__version__, 'optax', optax.__version__); print('torch', torch.__version__)"
  nproc
} 2>&1 | tee "$OUT/machine.txt"

# --- 1. the step ---------------------------------------------------------------------------
bench() {  # name, then jaxgan.bench arguments
  local name=$1; shift
  elapsed "bench $name"
  timeout 900 $PY -m jaxgan.bench --config configs/dcgan_celeba.yaml --data fake "${BENCH_ARGS[@]}" \
    --compile-mode "$TUNED_MODE" --json "$OUT/$name.json" "$@" 2>&1 | tee "$OUT/$name.log"
}
bench dcgan_f32 --backends jax,torch,torch-tuned
bench dcgan_bf16 --backends jax,torch-tuned --set model.precision=bfloat16

# --- 2. five epochs, end to end ------------------------------------------------------------
elapsed "writing $FILES files"
DATA="$WORK/celeba"
$PY -c "
import sys
from pathlib import Path
from jaxgan.data.synthetic import shapes, write_jpeg_folder
files = int(sys.argv[2])
write_jpeg_folder(Path(sys.argv[1]), shapes(min(files, 2000), (64, 64, 3), 0), files)" "$DATA" "$FILES" || exit 1
SETS=(--set "data.root=$DATA/img_align_celeba" --set "data.cache_dir=$DATA/cache" "${EPOCH_SETS[@]}")
export JAX_COMPILATION_CACHE_DIR="$WORK/jax-cache"
elapsed "decoding the folder once (not part of the five-epoch times)"
$PY -c "
import sys
from jaxgan.config import load_config
from jaxgan.data import load_images
print('decoded', load_images(load_config('configs/dcgan_celeba.yaml', sys.argv[2::2]).data).shape)
" "${SETS[@]}" 2>&1 | tail -1 | tee "$OUT/decode.log"

five_epochs() {  # precision, cold|warm
  local precision=$1 cache=$2 t0 t1
  [ "$cache" = cold ] && rm -rf "$JAX_COMPILATION_CACHE_DIR"
  elapsed "five epochs, $precision, $cache compilation cache"
  rm -rf "$WORK/run"
  t0=$(date +%s.%N)
  timeout 600 $PY -m jaxgan.train --config configs/dcgan_celeba.yaml "${SETS[@]}" --set model.precision=$precision \
    --workdir "$WORK/run" --no-progress 2>&1 | tail -3
  t1=$(date +%s.%N)
  $PY -c "import json, sys; s = json.load(open('$WORK/run/summary.json')); s['end_to_end_s'] = round($t1 - $t0, 2); \
json.dump(s, open('$OUT/five_epochs_${precision}_$cache.json', 'w'), indent=2)" || echo "no summary.json"
}
five_epochs float32 cold
five_epochs bfloat16 cold
five_epochs bfloat16 warm

# --- the table -------------------------------------------------------------------------------
elapsed "done"
$PY - "$OUT" <<'EOF'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
print("\n| piece | backend / run | ms/step | TFLOP/s | compile+warm-up s | jax speed-up |")
print("|---|---|---:|---:|---:|---:|")
for name in ("dcgan_f32", "dcgan_bf16"):
    path = out / f"{name}.json"
    if not path.exists():
        print(f"| {name} | (no result) | | | | |")
        continue
    results = json.loads(path.read_text())["results"]
    flops = next((r.get("flops_per_step") for r in results if r.get("flops_per_step")), None)
    jax_ms = next((r["ms_per_step"] for r in results if r["backend"] == "jax" and "error" not in r), None)
    for r in results:
        if "error" in r:
            print(f"| {name} | {r['backend']} | failed: {r['error'][:80]} | | | |")
            continue
        tflops = f"{flops / r['ms_per_step'] / 1e9:.2f}" if flops else "-"
        ratio = f"{r['ms_per_step'] / jax_ms:.2f}" if jax_ms else "-"
        print(f"| {name} | {r['backend']} ({r['version']}) | {r['ms_per_step']:.2f} | {tflops} | "
              f"{r['compile_s']:.1f} | {ratio} |")
print("\n| five epochs | end to end s | startup_s | compile_s | closing_s | steps | steps/s |")
print("|---|---:|---:|---:|---:|---:|---:|")
for path in sorted(out.glob("five_epochs_*.json")):
    s = json.loads(path.read_text())
    cells = [s.get(k, "-") for k in ("end_to_end_s", "startup_s", "compile_s", "closing_s", "step", "steps_per_s")]
    print(f"| {path.stem.removeprefix('five_epochs_')} | " + " | ".join(str(c) for c in cells) + " |")
EOF
