#!/usr/bin/env bash
# The GPU benchmark of docs/benchmarks.md in one command, sized for a short rental of one
# H100/H200 (about 9 minutes from a bare machine), printing one table at the end:
#
#   bash benchmarks/gpu.sh [--small] [OUT_DIR]        (default runs/gpu-bench)
#   SECTIONS="1 4" bash benchmarks/gpu.sh               (only these sections, in this order)
#   bash benchmarks/gpu.sh --table OUT_DIR              (the table of what OUT_DIR holds)
#
# The sections run most-wanted first (SECTIONS, default "1 4 3 2"), each writing its JSON as it
# ends, so a run stopped at a rental's time limit keeps every section it finished.
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
# 3. The data path, every recipe (benchmarks/data_path.py): each chunk's batches streamed
#    from the host (data.on_device=never) against the images kept on the device and each
#    chunk its int32 indices (always): steps/s of both and their ratio from one process,
#    bytes sent per chunk, start-up time and peak memory. DCGAN at its recipe's batch of 128
#    in chunks of 50; stand-in images of each dataset's real size (at most 4 GiB).
# 4. Populations (jaxgan.bench --population N): 8 and then 32 members of gan_fashion_mnist,
#    myfgan_mnist and DCGAN sharing each batch, in member-steps/s: jax's one program against
#    the members one after another (N times one member's time, measured in the same run, for
#    jax, torch and torch-tuned). The population of 1 is that one member. The one program holds
#    the members as train.population_program's auto picks (vmap on a GPU); DCGAN's 8 also
#    run in turn (map), DCGAN being the one recipe a population did not speed up on a GPU.
#
# --small shrinks every piece (a few steps at batch 16; 5 epochs of 160 files) so the whole
# script, install check and table included, runs on a CPU in a few minutes: a dry run.
set -uo pipefail
SMALL=0; TABLE_ONLY=0
if [ "${1:-}" = "--small" ]; then SMALL=1; shift; fi
if [ "${1:-}" = "--table" ]; then TABLE_ONLY=1; shift; fi
OUT=${1:-runs/gpu-bench}
PY=${PYTHON:-python3}
SECTIONS=${SECTIONS:-1 4 3 2}
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
  DATA_PATH_ARGS=(--recipes gan_fashion_mnist,myfgan_mnist,dcgan_celeba --chunk 4 --chunks 1 --rounds 2
                  --dcgan-batch 4 --max-mib 16)
  POP_ARGS=(--steps 4 --warmup 2 --set train.steps_per_dispatch=2 --torch-threads 1); POP_SIZES=(2)
else
  BENCH_ARGS=(--steps 300 --warmup 50)
  FILES=202599; EPOCH_SETS=()
  DATA_PATH_ARGS=(--dcgan-batch 128 --dcgan-chunk 50 --chunks 5 --rounds 3 --max-mib 4096)
  POP_ARGS=(--steps 300 --warmup 50); POP_SIZES=(8 32)
fi

for section in $SECTIONS; do
  case $section in 1|2|3|4) ;; *) echo "error: SECTIONS holds '$section'; the sections are 1 2 3 4"; exit 2 ;; esac
done

# --- 0. install --------------------------------------------------------------------------
install_and_record_machine() {
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
}

# --- 1. the step ---------------------------------------------------------------------------
bench() {  # name, then jaxgan.bench arguments
  local name=$1; shift
  elapsed "bench $name"
  timeout 900 $PY -m jaxgan.bench --config configs/dcgan_celeba.yaml --data fake "${BENCH_ARGS[@]}" \
    --compile-mode "$TUNED_MODE" --json "$OUT/$name.json" "$@" 2>&1 | tee "$OUT/$name.log"
}
section_1() {
  bench dcgan_f32 --backends jax,torch,torch-tuned
  bench dcgan_bf16 --backends jax,torch-tuned --set model.precision=bfloat16
}

# --- 2. five epochs, end to end ------------------------------------------------------------
section_2() {
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
}

# --- 3. the data path ----------------------------------------------------------------------
section_3() {
  elapsed "data path: batches streamed from the host against images on the device"
  timeout 1500 $PY benchmarks/data_path.py "${DATA_PATH_ARGS[@]}" --json "$OUT/data_path.json" 2>&1 \
    | tee "$OUT/data_path.log"
}

# --- 4. populations ------------------------------------------------------------------------
population() {  # recipe, backends, members[, program: the population's program, default auto]
  local recipe=$1 backends=$2 members=$3 program=${4:-auto} batch=() name
  [ "$SMALL" = 1 ] && [ "$recipe" != myfgan_mnist ] && batch=(--batch-size 16)
  name="population_${recipe}_$members"; [ "$program" != auto ] && name="${name}_$program"
  elapsed "population of $members, $recipe, program $program"
  timeout 900 $PY -m jaxgan.bench --config "configs/$recipe.yaml" --data fake "${POP_ARGS[@]}" "${batch[@]}" \
    --compile-mode "$TUNED_MODE" --backends "$backends" --population "$members" \
    --set "train.population_program=$program" --json "$OUT/$name.json" 2>&1 | tee "$OUT/$name.log"
}
section_4() {
  for members in "${POP_SIZES[@]}"; do
    population gan_fashion_mnist jax,torch,torch-tuned "$members"
    population myfgan_mnist jax,torch "$members"  # torch-tuned has no book scheme
    population dcgan_celeba jax,torch,torch-tuned "$members"
  done
  population dcgan_celeba jax "${POP_SIZES[0]}" map  # members in turn: DCGAN at batch 128 fills a GPU alone
}

if [ "$TABLE_ONLY" = 0 ]; then
  install_and_record_machine
  for section in $SECTIONS; do "section_$section"; done
fi

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
echo
if [ -f "$OUT/data_path.json" ]; then $PY benchmarks/data_path.py --table "$OUT/data_path.json"; else echo "data path: (no result)"; fi
$PY - "$OUT" <<'EOF'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
print("\n| population | members | backend: how they run | member-steps/s | ms per step of all | vs jax's one program |")
print("|---|---:|---|---:|---:|---:|")
runs = [json.loads(p.read_text()) for p in out.glob("population_*.json")]
for run in sorted(runs, key=lambda r: (r["recipe"], r["population"])):
    n, rows = run["population"], []
    for r in run["results"]:
        if "error" in r:
            rows.append((r["backend"], f"failed: {r['error'][:60]}", None))
            continue
        p = r["population"]
        if r["backend"] == "jax":
            one = p["one_after_another"]
            rows.append(("jax", "one member (a population of 1)", {**one, "ms_per_step": one["ms_per_step"] / n}))
            rows.append(("jax", f"in one program ({p['one_program'].get('program', 'vmap')})", p["one_program"]))
        rows.append((r["backend"], "one after another", p["one_after_another"]))
    base = next((f["member_steps_per_s"] for _, how, f in rows if how.startswith("in one program")), None)
    for backend, how, f in rows:
        size = 1 if how.startswith("one member") else n
        if f is None:
            print(f"| {run['recipe']} | {n} | {backend}: {how} | | | |")
            continue
        ratio = f"{f['member_steps_per_s'] / base:.2f}" if base else "-"
        print(f"| {run['recipe']} | {size} | {backend}: {how} | {f['member_steps_per_s']:.1f} | "
              f"{f['ms_per_step']:.2f} | {ratio} |")
EOF
