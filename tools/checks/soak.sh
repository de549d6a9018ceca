#!/usr/bin/env bash
# Soak check (run by tools/test.sh): ps_bench --suite=soak for 60 s, 32
# clients against 2 async servers; passes only with zero failed RPCs and the
# servers' resident memory flat within 5% after warm-up (ps_bench's exit).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bazel build //tools:ps_bench //server:ps_server >/dev/null 2>&1 ||
  { echo "FAIL: bazel build //tools:ps_bench"; exit 1; }
bin=$(bazel info bazel-bin 2>/dev/null)
if "$bin/tools/ps_bench" --suite=soak --seconds="${SOAK_SECONDS:-60}" \
  --server_binary="$bin/server/ps_server"; then
  echo "PASS: soak"
else
  echo "FAIL: soak (see the table above)"
  exit 1
fi
