#!/usr/bin/env bash
# Prepares the GPU check (DESIGN.md, section 8: GPU checks). The GPU machine has CUDA,
# cuBLAS and nvcc but no Bazel, apt or network, so this script, run HERE on
# the build machine:
#   1. builds the CUDA kernel test and the GPU benchmark with
#      `bazel build --config=cuda --config=portable`;
#   2. copies both binaries into ./gpu_bundle with the shared libraries `ldd`
#      lists, except the C library family, the CUDA driver (libcuda) and the
#      CUDA toolkit's own libraries under /usr/local/cuda (cuBLAS alone is
#      ~600 MB, over what can be carried; the GPU machine's CUDA 13 toolkit
#      provides them) -- libcudart is small and is copied anyway;
#   3. writes gpu_bundle/run.sh, which on the GPU machine sets
#      LD_LIBRARY_PATH, runs the tests and the benchmark, saves both logs to
#      $OUT (when set) and prints a short table last.
# gpu_bundle/ is ignored through .git/info/exclude.
#
# Usage:
#   tools/gpu_check.sh              # here: build and bundle
#   bash gpu_bundle/run.sh          # there, e.g. through the device tool:
#                                   #   run(command="bash gpu_bundle/run.sh",
#                                   #       carry=["gpu_bundle"], timeout_s=600)
# Then record the table in docs/gpu-results.md (card, date, numbers, command).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(//kernels/cuda:cuda_backend_test //kernels/cuda:gpu_ops_bench)
BUNDLE=gpu_bundle

bazel build --config=cuda --config=portable "${TARGETS[@]}"

rm -rf "$BUNDLE"
mkdir -p "$BUNDLE/lib"
for t in "${TARGETS[@]}"; do
  bin="bazel-bin/${t#//}"
  bin="${bin/://}"
  cp -L "$bin" "$BUNDLE/"
  chmod u+w "$BUNDLE/$(basename "$bin")"
done

# Libraries to leave out: glibc's own, the driver, the CUDA toolkit's.
skip_lib() {
  case "$(basename "$1")" in
    linux-vdso* | ld-linux* | libc.so* | libm.so* | libpthread.so* | \
      libdl.so* | librt.so* | libresolv.so* | libutil.so* | libcuda.so* | \
      libnvidia*) return 0 ;;
  esac
  case "$1" in
    /usr/local/cuda*/lib64/libcudart.so*) return 1 ;;
    /usr/local/cuda*) return 0 ;;
  esac
  return 1
}

for bin in "$BUNDLE"/cuda_backend_test "$BUNDLE"/gpu_ops_bench; do
  ldd "$bin" | awk '/=> \// { print $3 }' | while read -r lib; do
    skip_lib "$lib" && continue
    [[ -e "$BUNDLE/lib/$(basename "$lib")" ]] || cp -L "$lib" "$BUNDLE/lib/"
  done
done

cat >"$BUNDLE/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs the CUDA kernel tests and the GPU benchmark from this bundle (made by
# tools/gpu_check.sh) and prints a short table last. Logs go to $OUT if set.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cublas_dir=""
for d in /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64 \
  /usr/local/cuda/targets/x86_64-linux/lib; do
  if [[ -e "$d/libcublas.so.13" ]]; then cublas_dir="$d"; break; fi
done
if [[ -z "$cublas_dir" ]]; then
  found="$(find /usr /opt -name 'libcublas.so.13' 2>/dev/null | head -1)"
  [[ -n "$found" ]] && cublas_dir="$(dirname "$found")"
fi
export LD_LIBRARY_PATH="$here/lib${cublas_dir:+:$cublas_dir}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
logs="${OUT:-$(mktemp -d)}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader \
  2>/dev/null | sed 's/^/gpu: /'

echo "== cuda_backend_test"
timeout 400 "$here/cuda_backend_test" 2>&1 | tee "$logs/gpu_test.log"
test_rc=${PIPESTATUS[0]}
echo "== gpu_ops_bench"
timeout 300 "$here/gpu_ops_bench" 2>&1 | tee "$logs/gpu_bench.log"
bench_rc=${PIPESTATUS[0]}

echo
echo "==== GPU check ($(date -u +%Y-%m-%d)) ===="
test_status="$([[ $test_rc == 0 ]] && echo PASSED || echo "FAILED (rc $test_rc)")"
cases="$(grep -m1 -E '^(test cases|All tests passed)' "$logs/gpu_test.log")"
printf '%-36s %s; %s\n' "cuda_backend_test" "$test_status" "$cases"
grep -q '^SKIPPED' "$logs/gpu_test.log" && printf '%-36s %s\n' "" \
  "$(grep -m1 '^SKIPPED' "$logs/gpu_test.log")"
printf '%-36s %s\n' "gpu_ops_bench" \
  "$([[ $bench_rc == 0 ]] && echo ran || echo "FAILED (rc $bench_rc)")"
awk '/^SUMMARY / { k = $2; $1 = ""; $2 = ""; sub(/^ +/, ""); printf "%-36s %s\n", k, $0 }' \
  "$logs/gpu_bench.log"
[[ $test_rc == 0 && $bench_rc == 0 ]]
RUN
chmod +x "$BUNDLE/run.sh"

echo "gpu_check: bundle ready in $BUNDLE ($(du -sh "$BUNDLE" | cut -f1)):"
ls "$BUNDLE" "$BUNDLE/lib" | tr '\n' ' '
echo
echo "gpu_check: on the GPU machine run: bash $BUNDLE/run.sh"
