#!/usr/bin/env bash
# Prepares the GPU check (docs/architecture.md, "GPU checks"). The GPU
# machine has CUDA, cuBLAS and nvcc but no Bazel, apt or network, so this
# script, run HERE on the build machine:
#   1. builds the CUDA kernel test, the whole-model GPU test, the GPU
#      benchmark and the server, worker, ps_prepare and ps_launch binaries
#      with `bazel build --config=cuda --config=portable`;
#   2. copies the binaries into ./gpu_bundle with the shared libraries `ldd`
#      lists, except the C library family, the CUDA driver (libcuda) and the
#      CUDA toolkit's own libraries under /usr/local/cuda (cuBLAS alone is
#      ~600 MB, over what can be carried; the GPU machine's CUDA 13 toolkit
#      provides them) -- libcudart is small and is copied anyway;
#   3. copies tools/gpu/run.sh into the bundle: on the GPU machine it runs
#      both tests, a 2-worker training run on the GPU and the benchmark,
#      within GPU_CHECK_BUDGET_S (default 570) seconds, and prints a table.
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

TARGETS=(
  //kernels/cuda:cuda_backend_test
  //kernels/cuda:gpu_ops_bench
  //worker/model:gpt_cuda_test
  //server:ps_server
  //worker:ps_worker
  //worker/data:ps_prepare
  //tools/launch:ps_launch
)
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
cp tools/gpu/run.sh "$BUNDLE/run.sh"
chmod +x "$BUNDLE/run.sh"

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

for t in "${TARGETS[@]}"; do
  bin="$BUNDLE/${t##*:}"
  ldd "$bin" | awk '/=> \// { print $3 }' | while read -r lib; do
    skip_lib "$lib" && continue
    [[ -e "$BUNDLE/lib/$(basename "$lib")" ]] || cp -L "$lib" "$BUNDLE/lib/"
  done
done

echo "gpu_check: bundle ready in $BUNDLE ($(du -sh "$BUNDLE" | cut -f1)):"
ls "$BUNDLE" "$BUNDLE/lib" | tr '\n' ' '
echo
echo "gpu_check: on the GPU machine run: bash $BUNDLE/run.sh"
