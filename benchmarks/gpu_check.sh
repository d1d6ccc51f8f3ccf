#!/usr/bin/env bash
# One-shot check of torchlops on a GPU machine: versions, in-place build of the CUDA
# extension, the CUDA tests, a compute-sanitizer memcheck of the kernel tests and the
# benchmarks; logs under ${OUT:-/tmp/torchlops_gpu}, a summary table (step, status,
# seconds) last. Every step runs under `timeout` within an overall budget (BUDGET_S, 520 s
# by default); the script goes on past failures and exits non-zero when any step failed.
#   bash benchmarks/gpu_check.sh            (from anywhere; runs in the repository root)
set -uo pipefail
cd "$(dirname "$0")/.."

LOG="${OUT:-/tmp/torchlops_gpu}"
mkdir -p "$LOG"
PY="${PYTHON:-python3}"
BUDGET_S="${BUDGET_S:-520}"
T0=$(date +%s)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export CC=gcc CXX=g++

STEPS=()
FAILED=0

# run NAME LIMIT_S CMD...: CMD under `timeout` (LIMIT_S, cut to what is left of the budget),
# output to $LOG/NAME.log and echoed; records the status and seconds.
run() {
  local name=$1 limit=$2
  shift 2
  local left=$((BUDGET_S - ($(date +%s) - T0)))
  if [ "$left" -lt 10 ]; then
    STEPS+=("$name|SKIPPED (budget)|0")
    FAILED=1
    echo "== $name: skipped, the time budget is spent"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (timeout ${limit}s): $*"
  local start rc status
  start=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" >"$LOG/$name.log" 2>&1
  rc=$?
  local secs=$(($(date +%s) - start))
  tail -n 40 "$LOG/$name.log"
  case $rc in
    0) status=ok ;;
    124 | 137) status="TIMEOUT (${limit}s)" ;;
    *) status="FAILED (rc=$rc)" ;;
  esac
  [ "$rc" -ne 0 ] && FAILED=1
  STEPS+=("$name|$status|$secs")
}

note() {
  STEPS+=("$1|$2|0")
  echo "== $1: $2"
}

# ---------------------------------------------------------------------------------------------- machine
run info 30 bash -c "nvidia-smi; nvcc --version; $PY -c 'import sys, torch; print(sys.version); \
print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, \"available\", torch.cuda.is_available()); \
print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else \"no GPU\")'; \
$PY -c 'import cupy; print(\"cupy\", cupy.__version__)' || true"

# ---------------------------------------------------------------------------------------------- build
# TORCHLOPS_CUDA=1: a failed CUDA compile fails the step (instead of a silent CPU-only build)
rm -f torchlops/_C*.so
run build 180 env TORCHLOPS_CUDA=1 "$PY" setup.py build_ext --inplace
run ext_info 60 "$PY" -c "
import torchlops._ops as o
print(o.ext_info())
assert 'cuda' in o.EXT_DEVICES, 'the extension has no CUDA kernels'
"

# ---------------------------------------------------------------------------------------------- pylops
wheel=$(ls shared/wheels/pylops-*.whl wheels/pylops-*.whl 2>/dev/null | head -n 1)
if [ -n "$wheel" ]; then
  run pylops 60 "$PY" -m pip install --no-deps --no-index "$wheel"
elif "$PY" -c "import pylops" >/dev/null 2>&1; then
  note pylops "already installed"
else
  note pylops "no wheel under shared/wheels or wheels: the PyLops columns will be missing"
fi

# ---------------------------------------------------------------------------------------------- tests
run pytest_cuda 150 "$PY" -m pytest -q -m cuda -x -p no:cacheprovider
if command -v compute-sanitizer >/dev/null 2>&1; then
  run memcheck 90 compute-sanitizer --tool memcheck --error-exitcode 7 \
    "$PY" -m pytest -q -m cuda -k ext -x -p no:cacheprovider
else
  note memcheck "compute-sanitizer not found"
fi

# ---------------------------------------------------------------------------------------------- benchmarks
if [ -f benchmarks/bench_kernels.py ]; then
  run bench_kernels 90 "$PY" benchmarks/bench_kernels.py --device cuda
else
  note bench_kernels "benchmarks/bench_kernels.py not found"
  FAILED=1
fi
# the tiny-operator overhead (autograd Function per call) and the composite batch, on the GPU
run bench_core 45 "$PY" benchmarks/bench_core.py --device cuda
# Convolve1D / Convolve2D: FFT, kernels and the automatic choice vs torch.nn.functional.conv*
run bench_convolve 45 "$PY" benchmarks/bench_convolve.py --device cuda --skip-crossover
if "$PY" benchmarks/bench_solvers.py --help 2>/dev/null | grep -q -- "--device"; then
  # CGLS (dense blur + Laplacian; 30 steps on the 4096^2 Laplacian vs plain torch eager and
  # torch.compile, the goal <= 12 ms) and FISTA
  run bench_solvers 150 "$PY" benchmarks/bench_solvers.py --device cuda --repeat 3 --compile
else
  note bench_solvers "no --device flag: skipped"
fi

# ---------------------------------------------------------------------------------------------- summary
{
  echo
  echo "== summary (logs in $LOG, total $(($(date +%s) - T0)) s)"
  printf '%-14s | %-28s | %7s\n' step status seconds
  printf '%-14s-+-%-28s-+-%7s\n' -------------- ---------------------------- -------
  for s in "${STEPS[@]}"; do
    IFS='|' read -r name status secs <<<"$s"
    printf '%-14s | %-28s | %7s\n' "$name" "$status" "$secs"
  done
} | tee "$LOG/summary.txt"
exit $FAILED
