#!/usr/bin/env bash
# Prepares the GPU check (DESIGN.md, section 8: GPU checks). The GPU machine has CUDA,
# cuBLAS and nvcc but no Bazel, apt or network, so this script, run HERE on
# the build machine:
#   1. builds the CUDA kernel test, the whole-model GPU test, the GPU
#      benchmark and the server, worker and ps_prepare binaries with
#      `bazel build --config=cuda --config=portable`;
#   2. copies the binaries into ./gpu_bundle with the shared libraries `ldd`
#      lists, except the C library family, the CUDA driver (libcuda) and the
#      CUDA toolkit's own libraries under /usr/local/cuda (cuBLAS alone is
#      ~600 MB, over what can be carried; the GPU machine's CUDA 13 toolkit
#      provides them) -- libcudart is small and is copied anyway;
#   3. writes gpu_bundle/run.sh, which on the GPU machine sets
#      LD_LIBRARY_PATH, runs both tests, a 2-worker training run on the GPU
#      (one sync server, two `ps_worker --backend=cuda` on a generated
#      corpus) and the benchmark, saves the logs to $OUT (when set) and
#      prints a short table last. Every step has a time limit, each cut to
#      fit GPU_CHECK_BUDGET_S (default 570) seconds in all.
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

cat >"$BUNDLE/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs the CUDA kernel tests, the whole-model GPU test, a 2-worker training
# run on the GPU and the GPU benchmark from this bundle (made by
# tools/gpu_check.sh) and prints a short table last. Logs go to $OUT if set.
# Every step has a time limit, cut to fit GPU_CHECK_BUDGET_S (default 570 s)
# in all; the training run stops only the processes it started.
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
work="$(mktemp -d)"  # corpus and token shards: not for $OUT
deadline=$((SECONDS + ${GPU_CHECK_BUDGET_S:-570}))
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader \
  2>/dev/null | sed 's/^/gpu: /'

# The smaller of $1 seconds and the budget left (keeping 15 s for the end).
limit() {
  local left=$((deadline - SECONDS - 15))
  ((left < 5)) && left=5
  echo $(($1 < left ? $1 : left))
}

# Processes of the training run, stopped on any exit.
PIDS=()
alive() { # pid: running (an exited child, reaped or zombie, is not)
  local st
  kill -0 "$1" 2>/dev/null || return 1
  read -r st 2>/dev/null <"/proc/$1/stat" || return 1
  st=${st##*) }
  [[ "${st%% *}" != Z ]]
}
stop_pids() { # pids...: TERM, up to 10 s of grace, then KILL
  local p i any
  (($#)) || return 0
  for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
  for ((i = 0; i < 100; i++)); do
    any=0
    for p in "$@"; do alive "$p" && any=1; done
    ((any)) || break
    sleep 0.1
  done
  for p in "$@"; do
    alive "$p" && kill -KILL "$p" 2>/dev/null
  done
  return 0
}
# Exit status of child $1 into ST (TERM, then KILL, first if it still runs).
finish() {
  alive "$1" && stop_pids "$1"
  wait "$1" 2>/dev/null
  ST=$?
}
cleanup() {
  local p
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do finish "$p"; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== cuda_backend_test"
timeout "$(limit 400)" "$here/cuda_backend_test" 2>&1 | tee "$logs/gpu_test.log"
test_rc=${PIPESTATUS[0]}
echo "== gpt_cuda_test"
timeout "$(limit 120)" "$here/gpt_cuda_test" 2>&1 | tee "$logs/gpt_cuda_test.log"
model_rc=${PIPESTATUS[0]}

# 2-worker run: one sync server, two CUDA workers, tiny model, 50 steps.
# Sets run_status (PASSED / FAILED (why) / skipped: no GPU (why)) and
# run_results (the workers' RESULT lines).
run_status=""
run_results=()
run_fail() { run_status="FAILED ($1)"; }
two_worker_run() {
  local d="$logs/cluster" i n pid rc
  mkdir -p "$d"
  # A generated corpus of ~350 KB of word salad (byte-level tokens).
  awk 'BEGIN {
    srand(7)
    n = split("the a of to and in parameter server worker gradient model " \
      "train step loss shard batch token layer weight update sync push " \
      "pull clock learning rate quickly slowly every each small large " \
      "device kernel memory stream matrix vector sum mean tiny fox dog " \
      "jumps over lazy river mountain cloud night morning", w, " ")
    for (i = 0; i < 5000; i++) {
      line = ""
      k = 6 + int(rand() * 10)
      for (j = 0; j < k; j++) line = line (j ? " " : "") w[1 + int(rand() * n)]
      print toupper(substr(line, 1, 1)) substr(line, 2) "."
    }
  }' >"$work/corpus.txt"
  timeout "$(limit 60)" "$here/ps_prepare" --input="$work/corpus.txt" \
    --out_dir="$work/data" >"$d/prepare.log" 2>&1
  rc=$?
  if ((rc != 0)); then
    run_fail "ps_prepare rc $rc"
    return
  fi

  "$here/ps_server" --port=0 --port_file="$work/server.port" \
    --bind_address=127.0.0.1 --num_workers=2 --mode=sync \
    </dev/null >"$d/server.log" 2>&1 &
  local server=$!
  PIDS+=("$server")
  n=$(($(limit 30) * 10))
  for ((i = 0; i < n; i++)); do
    [[ -s "$work/server.port" ]] && break
    alive "$server" || break
    sleep 0.1
  done
  if [[ ! -s "$work/server.port" ]]; then
    finish "$server"
    PIDS=()
    run_fail "ps_server wrote no port file (rc $ST)"
    tail -n 8 "$d/server.log"
    return
  fi
  local port
  port="$(tr -dc '0-9' <"$work/server.port")"

  local workers=() rcs=()
  for i in 0 1; do
    local extra=()
    ((i == 0)) && extra=(--val_data="$work/data/val.bin" --eval_every=25
      --eval_batches=4)
    "$here/ps_worker" --servers="127.0.0.1:$port" --rank="$i" \
      --num_workers=2 --mode=sync --data="$work/data/train.bin" \
      --tokenizer="$work/data/tokenizer.bin" --model=tiny --backend=cuda \
      --gpu=0 --batch_size=8 --seq_len=64 --steps=50 --log_every=10 \
      --connect_timeout=30 "${extra[@]}" </dev/null >"$d/worker-$i.log" 2>&1 &
    workers+=($!)
    PIDS+=($!)
  done
  n=$(($(limit 180) * 10))
  for ((i = 0; i < n; i++)); do
    alive "${workers[0]}" || alive "${workers[1]}" || break
    sleep 0.1
  done
  local timed_out=0
  for pid in "${workers[@]}"; do
    alive "$pid" && timed_out=1
    finish "$pid"
    rcs+=("$ST")
  done
  finish "$server"
  local server_rc=$ST
  PIDS=()

  for i in 0 1; do
    local r
    r="$(grep '^RESULT ' "$d/worker-$i.log" | tail -n 1)"
    [[ -n "$r" ]] && run_results+=("worker $i: $r")
  done
  local nogpu
  nogpu="$(grep -h -m1 'ps_worker: --backend=cuda: ' "$d"/worker-*.log | head -1)"
  if ((timed_out)); then
    run_fail "workers still running after the time limit"
  elif [[ ${rcs[0]} == 0 && ${rcs[1]} == 0 ]]; then
    run_status="PASSED"
    ((server_rc == 0)) || run_status+=" (server rc $server_rc on SIGTERM)"
  elif [[ -n "$nogpu" ]]; then
    run_status="skipped: no GPU (${nogpu#ps_worker: --backend=cuda: })"
  else
    run_fail "worker rc ${rcs[0]}, ${rcs[1]}"
  fi
  for i in 0 1; do
    if [[ ${rcs[$i]} != 0 && -z "$nogpu" ]]; then
      echo "--- last lines of worker-$i.log:"
      tail -n 8 "$d/worker-$i.log"
    fi
  done
}
echo "== 2-worker run (ps_server + 2 x ps_worker --backend=cuda, tiny, 50 steps)"
two_worker_run
echo "$run_status"
for r in "${run_results[@]+"${run_results[@]}"}"; do echo "$r"; done

echo "== gpu_ops_bench"
timeout "$(limit 300)" "$here/gpu_ops_bench" 2>&1 | tee "$logs/gpu_bench.log"
bench_rc=${PIPESTATUS[0]}

rc_text() { # rc -> PASSED / timed out / FAILED (rc N)
  case "$1" in
    0) echo PASSED ;;
    124) echo "FAILED (timed out)" ;;
    *) echo "FAILED (rc $1)" ;;
  esac
}
test_row() { # name rc log
  local cases
  cases="$(grep -m1 -E '^(test cases|All tests passed)' "$3")"
  printf '%-36s %s; %s\n' "$1" "$(rc_text "$2")" "$cases"
  grep -q '^SKIPPED' "$3" && printf '%-36s %s\n' "" "$(grep -m1 '^SKIPPED' "$3")"
  return 0
}

echo
echo "==== GPU check ($(date -u +%Y-%m-%d)) ===="
test_row "cuda_backend_test" "$test_rc" "$logs/gpu_test.log"
test_row "gpt_cuda_test (tiny model vs CPU)" "$model_rc" "$logs/gpt_cuda_test.log"
printf '%-36s %s\n' "2-worker cuda run (tiny, 50 steps)" "$run_status"
for r in "${run_results[@]+"${run_results[@]}"}"; do
  printf '%-36s %s\n' "" "$r"
done
printf '%-36s %s\n' "gpu_ops_bench" \
  "$([[ $bench_rc == 0 ]] && echo ran || rc_text "$bench_rc")"
awk '/^SUMMARY / { k = $2; $1 = ""; $2 = ""; sub(/^ +/, ""); printf "%-36s %s\n", k, $0 }' \
  "$logs/gpu_bench.log"
[[ $test_rc == 0 && $model_rc == 0 && $bench_rc == 0 && $run_status != FAILED* ]]
RUN
chmod +x "$BUNDLE/run.sh"

echo "gpu_check: bundle ready in $BUNDLE ($(du -sh "$BUNDLE" | cut -f1)):"
ls "$BUNDLE" "$BUNDLE/lib" | tr '\n' ' '
echo
echo "gpu_check: on the GPU machine run: bash $BUNDLE/run.sh"
