#!/usr/bin/env bash
# The test command: sets up, builds everything, runs every test (the
# server's, the client's and common's also under ASan + UBSan and TSan), the
# CUDA build and tools/checks/*.sh (among them the fuzz targets and the
# soak), and ends with one line "N passed, N failed".
# Exit status 0 only if nothing failed.
# Usage: tools/test.sh [bazel test patterns...]   (default: //...)
set -uo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

patterns=("$@")
((${#patterns[@]})) || patterns=(//...)

# run_tests LABEL [bazel options...] -- TARGETS...: runs bazel test and adds
# its per-test results to the counts; a build error counts as one failure.
run_tests() {
  local label=$1
  shift
  bazel test --test_summary=short "$@" 2>&1 | tee "$log" |
    grep -E "PASSED|FAILED|TIMEOUT|NO STATUS|ERROR:|SKIPPED|FLAKY" |
    sed "s|^|$label|" || true
  local rc=${PIPESTATUS[0]} p f
  p=$(grep -cE "^//[^ ]+ +(\(cached\) )?PASSED" "$log")
  f=$(grep -cE "^//[^ ]+ +.*(FAILED|TIMEOUT|NO STATUS|FLAKY)" "$log")
  passed=$((passed + p))
  failed=$((failed + f))
  if ((rc != 0 && f == 0)); then
    echo "${label}bazel test exited $rc without a failing test: build error above"
    tail -40 "$log"
    failed=$((failed + 1))
  fi
}

run_tests "" -- "${patterns[@]}"
# The network-facing code's unit tests again under AddressSanitizer +
# UndefinedBehaviorSanitizer and under ThreadSanitizer (.bazelrc configs).
# Not yet every test: see "Sanitizers" in docs/fuzzing.md for what the
# others cost and what TSan reports inside Debian's gRPC.
sanitized=(//server/... //worker/client/... //common/...)
run_tests "asan: " --config=asan -- "${sanitized[@]}"
run_tests "tsan: " --config=tsan -- //server/... //worker/client/...

# CUDA targets compile wherever nvcc is present, GPU or not.
if command -v nvcc >/dev/null || [[ -x /usr/local/cuda/bin/nvcc ]]; then
  if bazel build --config=cuda //kernels/... //worker:ps_worker >"$log" 2>&1; then
    echo "cuda build: PASSED"
    passed=$((passed + 1))
  else
    echo "cuda build: FAILED"
    tail -40 "$log"
    failed=$((failed + 1))
  fi
else
  echo "cuda build: skipped (no nvcc on this machine)"
fi

# Script checks outside Bazel (each prints PASS/FAIL lines of its own).
for check in tools/checks/*.sh; do
  [[ -e "$check" ]] || continue
  if bash "$check" >"$log" 2>&1; then
    echo "$check: PASSED"
    passed=$((passed + 1))
  else
    echo "$check: FAILED"
    tail -40 "$log"
    failed=$((failed + 1))
  fi
done

echo "${passed} passed, ${failed} failed"
((failed == 0))
