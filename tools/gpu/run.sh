#!/usr/bin/env bash
# Runs on the GPU machine, from the bundle tools/gpu_check.sh makes: the CUDA
# kernel tests, the whole-model GPU test, a 2-worker training run on the GPU
# (ps_launch: one sync server, two ps_worker --backend=cuda) and the GPU
# benchmark; prints a short table last. Logs go to $OUT if set. Every step
# has a time limit, cut to fit GPU_CHECK_BUDGET_S (default 570 s) in all.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cublas=$(find /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
  /usr /opt -name 'libcublas.so.13' -print -quit 2>/dev/null)
export LD_LIBRARY_PATH="$here/lib${cublas:+:$(dirname "$cublas")}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
logs="${OUT:-$(mktemp -d)}"
work="$(mktemp -d)" # corpus and token shards: not for $OUT
trap 'rm -rf "$work"' EXIT
deadline=$((SECONDS + ${GPU_CHECK_BUDGET_S:-570}))
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader \
  2>/dev/null | sed 's/^/gpu: /'

# The smaller of $1 seconds and the budget left (keeping 15 s for the end).
limit() {
  local left=$((deadline - SECONDS - 15))
  ((left < 5)) && left=5
  echo $(($1 < left ? $1 : left))
}

echo "== cuda_backend_test"
timeout "$(limit 400)" "$here/cuda_backend_test" 2>&1 | tee "$logs/gpu_test.log"
test_rc=${PIPESTATUS[0]}
echo "== gpt_cuda_test"
timeout "$(limit 120)" "$here/gpt_cuda_test" 2>&1 | tee "$logs/gpt_cuda_test.log"
model_rc=${PIPESTATUS[0]}

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

echo "== 2-worker run (ps_launch: ps_server + 2 x ps_worker --backend=cuda, tiny, 50 steps)"
d="$logs/cluster"
mkdir -p "$d"
run_status="PASSED"
if ! timeout "$(limit 60)" "$here/ps_prepare" --input="$work/corpus.txt" \
  --out_dir="$work/data" >"$d/prepare.log" 2>&1; then
  run_status="FAILED (ps_prepare)"
else
  timeout "$(limit 200)" "$here/ps_launch" --servers=1 --workers=2 --mode=sync \
    --log_dir="$d" --stream=false --progress=plain --timeout="$(limit 180)" \
    -- "$here/ps_worker" --data="$work/data/train.bin" \
    --tokenizer="$work/data/tokenizer.bin" --model=tiny --backend=cuda --gpu=0 \
    --batch_size=8 --seq_len=64 --steps=50 --log_every=10 --connect_timeout=30 \
    --val_data="$work/data/val.bin" --eval_every=25 --eval_batches=4 \
    </dev/null >"$d/launch.log" 2>&1
  rc=$?
  nogpu="$(grep -h -m1 'ps_worker: --backend=cuda: ' "$d"/worker-*.log | head -1)"
  if [[ -n "$nogpu" ]]; then
    run_status="skipped: no GPU (${nogpu#ps_worker: --backend=cuda: })"
  elif ((rc != 0)); then
    run_status="FAILED (ps_launch rc $rc)"
    tail -n 12 "$d/launch.log"
  fi
fi
echo "$run_status"
results=$(grep -h '^RESULT ' "$d"/worker-*.log 2>/dev/null)
[[ -n "$results" ]] && echo "$results"

echo "== gpu_ops_bench"
timeout "$(limit 300)" "$here/gpu_ops_bench" 2>&1 | tee "$logs/gpu_bench.log"
bench_rc=${PIPESTATUS[0]}

rc_text() { # rc -> PASSED / FAILED (timed out) / FAILED (rc N)
  case "$1" in
    0) echo PASSED ;;
    124) echo "FAILED (timed out)" ;;
    *) echo "FAILED (rc $1)" ;;
  esac
}
test_row() { # name rc log
  printf '%-36s %s; %s\n' "$1" "$(rc_text "$2")" \
    "$(grep -m1 -E '^(test cases|All tests passed)' "$3")"
  grep -q '^SKIPPED' "$3" && printf '%-36s %s\n' "" "$(grep -m1 '^SKIPPED' "$3")"
  return 0
}

echo
echo "==== GPU check ($(date -u +%Y-%m-%d)) ===="
test_row "cuda_backend_test" "$test_rc" "$logs/gpu_test.log"
test_row "gpt_cuda_test (tiny model vs CPU)" "$model_rc" "$logs/gpt_cuda_test.log"
printf '%-36s %s\n' "2-worker cuda run (tiny, 50 steps)" "$run_status"
if [[ -n "$results" ]]; then
  while read -r r; do printf '%-36s %s\n' "" "$r"; done <<<"$results"
fi
printf '%-36s %s\n' "gpu_ops_bench" \
  "$([[ $bench_rc == 0 ]] && echo ran || rc_text "$bench_rc")"
awk '/^SUMMARY / { k = $2; $1 = ""; $2 = ""; sub(/^ +/, ""); printf "%-36s %s\n", k, $0 }' \
  "$logs/gpu_bench.log"
[[ $test_rc == 0 && $model_rc == 0 && $bench_rc == 0 && $run_status != FAILED* ]]
