#!/usr/bin/env bash
# One-shot check of torchlops on a GPU machine: versions, in-place build of the CUDA
# extension (about 110 s on the H100 machine), the CUDA tests (again with the stencils' vector
# path, TORCHLOPS_STENCIL_VEC=1), compute-sanitizer memchecks of small kernel-test subsets, the
# kernel benchmarks, CGLS on the 4096^2 Laplacian system, the convolution benchmark, then the
# other benchmarks. Logs under ${OUT:-/tmp/torchlops_gpu} (at most 8 files: the device tool
# returns no more), a summary table (step, status, seconds) last. Every step runs under
# `timeout` within an overall budget (BUDGET_S, 540 s by default: of a 15-minute loan, time is
# left for a shorter rerun); the script goes on past failures, except a failed build, and exits
# non-zero when any step failed. The steps that matter most run first.
#   bash benchmarks/gpu_check.sh            (from anywhere; runs in the repository root)
# PyLops is not on the GPU image; before the run, here (a pure-Python wheel; an untracked
# wheels/ travels with the working tree, do not commit it):
#   python3 -m pip download --no-deps --only-binary=:all: -d wheels pylops==2.8.0
set -uo pipefail
cd "$(dirname "$0")/.."

LOG="${OUT:-/tmp/torchlops_gpu}"
mkdir -p "$LOG"
PY="${PYTHON:-python3}"
BUDGET_S="${BUDGET_S:-540}"
T0=$(date +%s)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export CC=gcc CXX=g++
export PYTHONUNBUFFERED=1                                  # (logs as they are written: a timeout keeps them)
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}" # H100 / H200

STEPS=()
FAILED=0

# run NAME LOGFILE LIMIT_S CMD...: CMD under `timeout` (LIMIT_S, cut to what is left of the
# budget), output appended to $LOG/LOGFILE.log and its tail echoed; records status and seconds.
run() {
  local name=$1 logf=$2 limit=$3
  shift 3
  local left=$((BUDGET_S - ($(date +%s) - T0)))
  if [ "$left" -lt 10 ]; then
    STEPS+=("$name|SKIPPED (budget)|0")
    FAILED=1
    echo "== $name: skipped, the time budget is spent"
    return 1
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (timeout ${limit}s): $*" | tee -a "$LOG/$logf.log"
  local start rc status
  start=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" >>"$LOG/$logf.log" 2>&1
  rc=$?
  local secs=$(($(date +%s) - start))
  tail -n 30 "$LOG/$logf.log"
  case $rc in
    0) status=ok ;;
    124 | 137) status="TIMEOUT (${limit}s)" ;;
    *) status="FAILED (rc=$rc)" ;;
  esac
  [ "$rc" -ne 0 ] && FAILED=1
  STEPS+=("$name|$status|$secs")
  return $rc
}

note() {
  STEPS+=("$1|$2|0")
  echo "== $1: $2"
}

summary() {
  {
    echo
    echo "== summary (logs in $LOG, total $(($(date +%s) - T0)) s of a $BUDGET_S s budget)"
    printf '%-16s | %-28s | %7s\n' step status seconds
    printf '%-16s-+-%-28s-+-%7s\n' ---------------- ---------------------------- -------
    for s in "${STEPS[@]}"; do
      IFS='|' read -r name status secs <<<"$s"
      printf '%-16s | %-28s | %7s\n' "$name" "$status" "$secs"
    done
  } | tee "$LOG/summary.txt"
}

# ---------------------------------------------------------------------------------------------- setup
run info setup 30 bash -c "nvidia-smi; nvcc --version; $PY -c 'import sys, torch; print(sys.version); \
print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, \"available\", torch.cuda.is_available()); \
print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else \"no GPU\")'; \
$PY -c 'import cupy; print(\"cupy\", cupy.__version__)' || true"

wheel=$(ls wheels/pylops-*.whl shared/wheels/pylops-*.whl 2>/dev/null | head -n 1)
if [ -n "$wheel" ]; then
  # (into a folder of its own: the image's site-packages may be read-only)
  run pylops setup 60 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/torchlops_site "$wheel" && export PYTHONPATH="$PYTHONPATH:/tmp/torchlops_site"
elif "$PY" -c "import pylops" >/dev/null 2>&1; then
  note pylops "already installed"
else
  note pylops "no wheel under wheels/: PyLops columns and parity tests are skipped"
fi

# TORCHLOPS_CUDA=1: a failed CUDA compile fails the step (instead of a silent CPU-only build)
rm -f torchlops/_C*.so
run build setup 200 env TORCHLOPS_CUDA=1 "$PY" setup.py build_ext --inplace
build_rc=$?
if [ "$build_rc" -eq 0 ]; then
  run ext_info setup 60 "$PY" -c "
import torchlops._ops as o
print(o.ext_info())
assert 'cuda' in o.EXT_DEVICES, 'the extension has no CUDA kernels'
"
  build_rc=$?
fi
if [ "$build_rc" -ne 0 ]; then
  # without the CUDA kernels nothing below measures what it is for: stop, with time left to fix
  echo "== the CUDA build failed: see $LOG/setup.log"
  summary
  exit 1
fi

# ---------------------------------------------------------------------------------------------- tests
run pytest_cuda pytest_cuda 150 "$PY" -m pytest -q -m cuda --maxfail=5 -p no:cacheprovider

# the float32 vector path of the stencil kernels (TORCHLOPS_STENCIL_VEC=1, off by default until
# it has passed here): the kernel tests again with it on (tests/test_stencil_vec.py: shapes
# it takes, and its wrapping grid-stride loops)
run vec_tests pytest_cuda 90 env TORCHLOPS_STENCIL_VEC=1 "$PY" -m pytest -q -m cuda --maxfail=5 -p no:cacheprovider \
  tests/test_stencil_vec.py tests/test_ext.py tests/test_fused_cgls.py

# ---------------------------------------------------------------------------------------------- memcheck
# (a sandboxed machine may refuse the tools the device access they need: probed once first, so that
# an unsupported tool is a note, not a failed step)
probe_tool() {
  local out
  out=$(timeout 60 "$@" "$PY" -c "import torch; torch.zeros(1, device='cuda'); torch.cuda.synchronize()" 2>&1) \
    && ! grep -q "==ERROR==" <<<"$out"
}
if ! command -v compute-sanitizer >/dev/null 2>&1; then
  note memcheck "compute-sanitizer not found"
elif ! probe_tool compute-sanitizer --tool memcheck --error-exitcode 7; then
  note memcheck "compute-sanitizer unsupported here (its probe of a one-element kernel failed)"
else
  # small subsets (float32 kernel tests: the vector stencil path and its norm kernel on the
  # Laplacian cases; the tiled convolution and scalar stencil paths, and the fused CGLS kernels);
  # no caching allocator, so an out-of-bounds access lands outside any allocation
  run memcheck_vec memcheck 60 env TORCHLOPS_STENCIL_VEC=1 PYTORCH_NO_CUDA_MEMORY_CACHING=1 compute-sanitizer \
    --tool memcheck --error-exitcode 7 --report-api-errors no \
    "$PY" -m pytest -q -m cuda -k "test_cuda and not many_groups and not (test_cuda_norm and not laplacian)" \
    --maxfail=1 -p no:cacheprovider tests/test_stencil_vec.py
  run memcheck memcheck 60 env PYTORCH_NO_CUDA_MEMORY_CACHING=1 compute-sanitizer --tool memcheck \
    --error-exitcode 7 --report-api-errors no \
    "$PY" -m pytest -q -m cuda -k "(float32 and (convolve or stencil or laplacian)) or cgls_kernels" --maxfail=1 \
    -p no:cacheprovider tests/test_ext.py tests/test_fused_cgls.py
fi

# ---------------------------------------------------------------------------------------------- benchmarks
# the kernels vs the torch engine, PyLops + CuPy and plain torch, with the copy-bandwidth floor
run bench_kernels bench_kernels 90 "$PY" benchmarks/bench_kernels.py --device cuda
# the stencils with the vector path (ext engine alone, each checked against the torch engine first)
run vec_bench bench_kernels 40 env TORCHLOPS_STENCIL_VEC=1 "$PY" benchmarks/bench_kernels.py --device cuda \
  --cases Derivative,Laplacian,Gradient --impls ext
# CGLS, 30 steps on the 4096^2 Laplacian system (goal <= 12 ms) vs plain torch (COMPILE=1: also
# torch.compile of the plain-torch CGLS, about 45 s of compilation)
# (--profile: the solve's kernels by device time)
run cgls_laplacian bench_cgls 120 "$PY" benchmarks/bench_solvers.py --device cuda --solver cgls-lap --repeat 3 \
  --profile ${COMPILE:+--compile}
run cgls_lap_vec bench_cgls 40 env TORCHLOPS_STENCIL_VEC=1 "$PY" benchmarks/bench_solvers.py --device cuda \
  --solver cgls-lap --repeat 3 --profile
# Convolve1D / Convolve2D: FFT, kernels and the automatic choice vs torch.nn.functional.conv*
run bench_convolve bench_convolve 45 "$PY" benchmarks/bench_convolve.py --device cuda --skip-crossover
# the 2-D tiled convolution with the other register tiles (outputs per thread, columns x
# rows; the default is 8 x 2), ext engine alone, each checked against the torch engine first
run conv_tiles bench_kernels 40 bash -c "for t in 8x4 16x2; do echo \"== TORCHLOPS_CONV_PLANE_TILE=\$t\"; \
  TORCHLOPS_CONV_PLANE_TILE=\$t $PY benchmarks/bench_kernels.py --device cuda --cases Convolve2D --impls ext \
  || exit 1; done"
# the convolution tests with the 16 x 2 tile (the fastest measured, 1.04 ms: the default once these pass)
run tile_tests pytest_cuda 40 env TORCHLOPS_CONV_PLANE_TILE=16x2 "$PY" -m pytest -q -m cuda --maxfail=5 \
  -p no:cacheprovider -k convolve tests/test_ext.py

# ---------------------------------------------------------------------------------------------- the rest
# CGLS with the vector path but without the norm kernel (||A c|| and ||A^H s|| as passes of their
# own; cgls_lap_vec has it): what the norm kernel saves
run cgls_lap_vec_nonorm bench_cgls 30 env TORCHLOPS_STENCIL_VEC=1 TORCHLOPS_FUSED_NORMS=0 "$PY" \
  benchmarks/bench_solvers.py --device cuda --solver cgls-lap --repeat 3
run bench_core bench_other 30 "$PY" benchmarks/bench_core.py --device cuda
run cgls_conv bench_other 60 "$PY" benchmarks/bench_solvers.py --device cuda --solver cgls-conv --repeat 3
run fista bench_other 45 "$PY" benchmarks/bench_solvers.py --device cuda --solver fista --repeat 3
# what bounds the stencil kernels: Nsight Compute's speed-of-light, occupancy and memory
# sections for one FirstDerivative and one Laplacian forward on 8192^2 float32, with the
# vector path (its kernels: stencil_vec_kernel)
if ! command -v ncu >/dev/null 2>&1; then
  note ncu_stencil "ncu not found"
elif ! probe_tool ncu --section SpeedOfLight -c 1; then
  note ncu_stencil "ncu unsupported here (its probe could not profile a one-element kernel)"
else
  run ncu_stencil bench_other 40 env TORCHLOPS_STENCIL_VEC=1 ncu --section SpeedOfLight --section Occupancy \
    --section MemoryWorkloadAnalysis -k regex:stencil_vec -c 2 "$PY" -c "
import torch, torchlops
x = torch.randn(8192, 8192, device='cuda')
for Op in (torchlops.FirstDerivative((8192, 8192), axis=-1, engine='ext'), torchlops.Laplacian((8192, 8192), engine='ext')):
    Op @ x
torch.cuda.synchronize()
"
fi

summary
exit $FAILED
