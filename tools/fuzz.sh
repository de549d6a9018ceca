#!/usr/bin/env bash
# Builds the libFuzzer targets (bazel --config=fuzz: clang 14, ASan, UBSan)
# and runs each for SECONDS, starting from its committed seed corpus. Exit 0
# only if no target crashed; a crashing input is kept in fuzz-crashes/ and
# replays with `bazel run //PKG:TARGET -- fuzz-crashes/FILE`.
# Usage: tools/fuzz.sh [TARGET|all] [SECONDS] [libFuzzer flags...]
#   TARGET: a name such as service_fuzz (default all), SECONDS default 30.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
which=${1:-all}
seconds=${2:-30}
shift $(($# < 2 ? $# : 2))
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "SECONDS must be a number, got '$seconds'"; exit 2; }

mapfile -t targets < <(bazel query --noshow_progress \
  'attr(name, "_fuzz$", kind(cc_binary, //...))' 2>/dev/null)
if [[ "$which" != all ]]; then
  mapfile -t targets < <(printf '%s\n' "${targets[@]}" | grep -E ":${which#*:}\$")
  ((${#targets[@]})) || { echo "no fuzz target '$which'"; exit 2; }
fi
bazel build --config=fuzz "${targets[@]}" >/dev/null 2>&1 ||
  { echo "fuzz build failed: bazel build --config=fuzz ${targets[*]}"; exit 1; }
bin=$(bazel info --config=fuzz bazel-bin 2>/dev/null)

# Scratch files in memory when possible: loaders read their input from disk.
base=/dev/shm; [[ -w $base ]] || base=${TMPDIR:-/tmp}
work=$(mktemp -d "$base/pserve-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p fuzz-crashes
failed=0
for t in "${targets[@]}"; do
  pkg=${t#//}; pkg=${pkg%%:*}; name=${t##*:}
  mkdir -p "$work/$name"
  log="$work/$name.log"
  began=$SECONDS
  (cd "$work" && TMPDIR="$work" "$bin/$pkg/$name" -max_total_time="$seconds" \
    -print_final_stats=1 -artifact_prefix="$root/fuzz-crashes/$name-" "$@" \
    "$work/$name" "$root/$pkg/fuzz/${name%_fuzz}") >"$log" 2>&1
  rc=$?
  took=$((SECONDS - began))
  runs=$(grep -oP 'stat::number_of_executed_units: \K[0-9]+' "$log" || echo 0)
  rate=$(grep -oP 'stat::average_exec_per_sec: +\K[0-9]+' "$log" || echo 0)
  if ((rc == 0)); then
    echo "$name: PASSED, $runs runs in ${took}s ($rate/s), no crash"
  else
    echo "$name: FAILED (exit $rc) after $runs runs; input in fuzz-crashes/"
    grep -m1 -E 'ERROR|runtime error|deadly signal|abort' "$log" || tail -5 "$log"
    failed=$((failed + 1))
  fi
done
rmdir fuzz-crashes 2>/dev/null || true
((failed == 0))
