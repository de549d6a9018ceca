#!/usr/bin/env bash
# The pserve demo, the README's first command: setup, build, data, training
# on a local cluster started by ps_launch, plot, samples, summary. The steps
# after the build are tools/demo/demo.py's subcommands; everything lands in
# one run folder (default runs/<date>-<time>/). tools/demo.sh --help lists
# the options. Ctrl-C or SIGTERM stops the current step and everything the
# launcher started.
set -euo pipefail
export LC_ALL=C.UTF-8

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=/usr/bin/python3
DEMO="$ROOT/tools/demo/demo.py"
cd "$ROOT"

if [[ " $* " == *" -h "* || " $* " == *" --help "* ]]; then
  exec "$PY" "$DEMO" init --help
fi
init=$("$PY" "$DEMO" init "$@") || exit $?
OUT=${init%%$'\n'*}
BACKEND=${init##*$'\n'}
LOGS="$OUT/logs"
echo "pserve demo -> ${OUT#"$ROOT/"}/"

# Runs one step in the background and waits, so that a signal to this
# script reaches the step (which passes it on) instead of waiting behind it.
CHILD=""
on_signal() {
  [[ -n "$CHILD" ]] && kill "-$1" "$CHILD" 2>/dev/null
  [[ -n "$CHILD" ]] && wait "$CHILD" 2>/dev/null
  echo "demo.sh: interrupted by SIG$1; logs in $OUT/" >&2
  [[ "$1" == INT ]] && exit 130
  exit 143
}
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
step() {
  "$@" &
  CHILD=$!
  local rc=0
  wait "$CHILD" || rc=$?
  CHILD=""
  return "$rc"
}
failed() { # message log
  echo "demo.sh: FAILED: $1; the end of ${2#"$OUT/"}:" >&2
  tail -n 25 "$2" | sed 's/^/  | /' >&2
  exit 1
}

N=6
[[ " $* " == *" --textbook "* ]] && N=4  # tools/demo/textbook.py: data, train
echo "[1/$N] setup: tools/setup.sh (installs missing Debian packages)"
step "$ROOT/tools/setup.sh" >"$LOGS/setup.log" 2>&1 || failed "tools/setup.sh" "$LOGS/setup.log"

# The convenience symlinks go into the run folder, so the binaries come from
# this build's own output tree (CPU or CUDA) whatever else Bazel does.
TARGETS=(//server:ps_server //worker:ps_worker //worker:ps_prepare
  //worker:ps_generate //tools/launch:ps_launch)
build() {
  step bazel build --symlink_prefix="$OUT/.bazel/" "$@" "${TARGETS[@]}" >>"$LOGS/build.log" 2>&1
}
t0=$SECONDS
if [[ "$BACKEND" == auto ]]; then
  BACKEND=cpu
  if nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then BACKEND=cuda; fi
  echo "[2/$N] build: bazel build ${TARGETS[*]} (backend $BACKEND)"
  if [[ "$BACKEND" == cuda ]] && ! build --config=cuda; then
    echo "      the CUDA build failed (see logs/build.log); using the CPU backend"
    BACKEND=cpu
  fi
  if [[ "$BACKEND" == cpu ]]; then build || failed "bazel build" "$LOGS/build.log"; fi
else
  echo "[2/$N] build: bazel build ${TARGETS[*]} (backend $BACKEND)"
  config=()
  [[ "$BACKEND" == cuda ]] && config=(--config=cuda)
  build "${config[@]+"${config[@]}"}" || failed "bazel build" "$LOGS/build.log"
fi
echo "      built in $((SECONDS - t0))s"
# The exact binaries of this run, unaffected by later builds.
mkdir -p "$OUT/bin"
for b in server/ps_server worker/ps_worker worker/data/ps_prepare \
  worker/ps_generate tools/launch/ps_launch; do
  cp "$OUT/.bazel/bin/$b" "$OUT/bin/" || failed "no built $b" "$LOGS/build.log"
done

if ((N == 4)); then exec "$PY" "$ROOT/tools/demo/textbook.py" "$OUT"; fi

echo "[3/6] data: ps_prepare"
step "$PY" "$DEMO" data "$OUT"

echo "[4/6] train: ps_launch"
step "$PY" "$DEMO" train "$OUT" "$BACKEND"

echo "[5/6] plot and samples"
for folder in "$OUT" "$OUT"/sync "$OUT"/async "$OUT"/ssp; do
  [[ -s "$folder/metrics.jsonl" ]] || continue
  step "$PY" "$ROOT/tools/demo/plot.py" loss --run "$folder" --out "$folder/loss.png" \
    >>"$LOGS/plot.log" 2>&1 || failed "plotting $folder/loss.png" "$LOGS/plot.log"
done
if [[ -d "$OUT/sync" ]]; then
  args=()
  for m in sync async ssp; do args+=(--run "$OUT/$m" --label "$m"); done
  step "$PY" "$ROOT/tools/demo/plot.py" compare "${args[@]}" --out "$OUT/compare.png" \
    >>"$LOGS/plot.log" 2>&1 || failed "plotting compare.png" "$LOGS/plot.log"
fi
step "$PY" "$DEMO" samples "$OUT"

echo "[6/6] summary"
"$PY" "$DEMO" summary "$OUT"
