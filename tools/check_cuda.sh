#!/usr/bin/env bash
# Compile-check every csrc/cuda/*.cu with nvcc (works with a CPU-only torch wheel and no GPU):
# catches compile errors, proves nothing about correctness.
#   tools/check_cuda.sh [python]     python: the interpreter whose torch headers are used (python3)
# Exits 0 with a note when nvcc is absent, non-zero when any file fails to compile.
set -uo pipefail
cd "$(dirname "$0")/.."

PY="${1:-python3}"
NVCC="${NVCC:-nvcc}"
if ! command -v "$NVCC" >/dev/null 2>&1; then
  echo "check_cuda: nvcc not found, CUDA compile check skipped"
  exit 0
fi
shopt -s nullglob
files=(csrc/cuda/*.cu)
if [ ${#files[@]} -eq 0 ]; then
  echo "check_cuda: no csrc/cuda/*.cu files"
  exit 0
fi

flags=$("$PY" - <<'PYEOF'
import sysconfig
from torch.utils.cpp_extension import include_paths
import torch.utils.cpp_extension as ce
paths = list(include_paths()) + [sysconfig.get_paths()["include"]]
# the flags torch's BuildExtension gives nvcc (--expt-relaxed-constexpr for c10::complex, ...)
common = getattr(ce, "COMMON_NVCC_FLAGS", ["--expt-relaxed-constexpr"])
print(" ".join(["-I" + p for p in paths] + list(common)))
PYEOF
) || { echo "check_cuda: could not get torch's include paths and nvcc flags from $PY"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for f in "${files[@]}"; do
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  if "$NVCC" -c "$f" -o "$tmp/$(basename "$f").o" -std=c++20 -Xcompiler -fPIC \
      -gencode arch=compute_90,code=sm_90 -DC10_CUDA_NO_CMAKE_CONFIGURE_FILE \
      -O3 -Icsrc $flags 2>"$tmp/log"; then
    result=ok
  else
    result=FAILED
    status=1
  fi
  secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  printf 'check_cuda: %-32s %-6s %6ss\n' "$f" "$result" "$secs"
  # compiler messages (errors and warnings) go to the log of the run
  if [ -s "$tmp/log" ]; then sed 's/^/    /' "$tmp/log"; fi
done
exit $status
