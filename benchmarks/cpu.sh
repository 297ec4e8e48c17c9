#!/usr/bin/env bash
# The CPU benchmark of docs/benchmarks.md, in one command (on a quiet machine: other work on
# the same cores changes every figure, torch's most):
#
#   bash benchmarks/cpu.sh [OUT_DIR]        (default runs/cpu-bench)
#
# Each recipe's train step in jax, torch eager, torch.compile and torch-tuned (torch_ref.tuned:
# no host sync in the step, foreach Adam), one `jaxgan.bench` run per recipe (so each ratio is
# measured in one run), on the recipe's data where it is installed and stand-in images of the
# same shape otherwise. TORCH_THREADS=N sets torch's threads (on a busy machine 1 is fairer:
# two threads fighting other work for two cores slow torch down many times over).
set -uo pipefail
OUT=${1:-runs/cpu-bench}
mkdir -p "$OUT"
PY=${PYTHON:-python}
THREADS=()
[ -n "${TORCH_THREADS:-}" ] && THREADS=(--torch-threads "$TORCH_THREADS")
{ date -u; uname -a; nproc; grep -m1 "model name" /proc/cpuinfo
  $PY -c "import jax, torch; print('jax', jax.__version__, '/ torch', torch.__version__, torch.get_num_threads(), 'threads')"
} 2>&1 | tee "$OUT/machine.txt"

bench() {  # recipe, steps, extra arguments
  local recipe=$1 steps=$2; shift 2
  echo "== $recipe"
  local backends=jax,torch,torch-compile,torch-tuned
  case $recipe in myfgan_*) backends=jax,torch,torch-compile ;; esac  # the book's loop: no tuned version
  $PY -m jaxgan.bench --config "configs/$recipe.yaml" --backends $backends --steps "$steps" \
    --json "$OUT/$recipe.json" "${THREADS[@]}" "$@"
}
bench dcgan_celeba 20
bench dcgan_cifar10 20
bench gan_fashion_mnist 1000
bench gan_maxout_mnist 1000
bench myfgan_mnist 5000 --warmup 500
bench myfgan_mnist_first 5000 --warmup 500
bench myfgan_celeba 200 --warmup 20
