#!/usr/bin/env bash
# The pserve demo, the README's first command. It installs what is missing
# (tools/setup.sh), builds with Bazel, prepares the fortunes corpus, starts
# parameter servers and workers on free loopback ports, trains a small
# GPT-2-style model data-parallel while showing one live progress line, then
# plots the loss, samples text from the exported model and stops every process
# it started. Everything lands in one run folder (default runs/<timestamp>/).
# tools/demo.sh --help lists the options.
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=/usr/bin/python3
PLOT="$ROOT/tools/demo/plot.py"
FORTUNES=/usr/share/games/fortunes

usage() {
  cat <<'EOF'
Usage: tools/demo.sh [options]

Trains a small GPT-2-style model on Debian's fortune cookies with a local
parameter-server cluster (servers and workers on loopback), then plots the
loss and samples text. Defaults fit about 10 minutes on 2 CPU cores.

Cluster
  --servers N         parameter servers (default 2)
  --workers N         workers (default 2)
  --mode M            sync, async or ssp (default sync)
  --staleness S       ssp only: clocks a worker may run ahead (default 2)
  --compare-modes     run the same budget in sync, async and ssp one after
                      another and plot their validation curves (compare.png)
Training
  --steps N           steps per worker (default: small 500, tiny 60,
                      gpt2-124m 50; a third of that each with --compare-modes)
  --model PRESET      tiny, small or gpt2-124m (default small)
  --optimizer NAME    sgd, momentum, adam or adamw (default adamw)
  --lr X              peak learning rate, warmup then cosine (default 1e-3)
  --batch-size N      sequences per worker per step (default: preset's)
  --seq-len N         tokens per sequence (default: preset's)
  --threads N         compute threads per CPU worker (default 1)
  --eval-every N      steps between validation passes (default steps/10)
  --seed N            seed of the model initialisation and data order (default 1)
  --backend B         cpu or cuda (default: cuda where nvidia-smi shows a GPU
                      and the CUDA build works, else cpu)
Data and output
  --data PATH         a text file, a directory of text or fortune files, or a
                      folder already holding train.bin, val.bin and
                      tokenizer.bin (default /usr/share/games/fortunes)
  --out DIR           run folder, new or empty (default runs/<timestamp>/)
  --progress-every S  seconds between progress lines when stdout is not a
                      terminal (default 10)
  --timeout S         give up on a training run after S seconds (default 3600)
  -h, --help          this text
EOF
}

bad() {
  echo "demo.sh: $*" >&2
  echo "Run tools/demo.sh --help for the options." >&2
  exit 2
}

# ---------------------------------------------------------------- options --
SERVERS=2
WORKERS=2
MODE=sync
MODE_SET=0
STALENESS=""
STEPS=""
MODEL=small
DATA=""
BACKEND=auto
OPTIMIZER=adamw
LR=1e-3
OUT=""
COMPARE=0
BATCH=""
SEQ=""
THREADS=1
EVAL_EVERY=""
SEED=1
PROGRESS_EVERY=10
TIMEOUT=3600

while (($#)); do
  opt=$1
  val=""
  has_inline=0
  if [[ "$opt" == --*=* ]]; then
    val=${opt#*=}
    opt=${opt%%=*}
    has_inline=1
  fi
  case "$opt" in
    -h | --help)
      usage
      exit 0
      ;;
    --compare-modes)
      ((has_inline == 0)) || bad "$opt takes no value"
      COMPARE=1
      shift
      continue
      ;;
    --servers | --workers | --mode | --staleness | --steps | --model | --data | \
      --backend | --optimizer | --lr | --out | --batch-size | --seq-len | \
      --threads | --eval-every | --seed | --progress-every | --timeout)
      if ((has_inline == 0)); then
        (($# >= 2)) || bad "$opt needs a value"
        val=$2
        shift
      fi
      shift
      ;;
    *)
      bad "unknown option '$1'"
      ;;
  esac
  case "$opt" in
    --servers) SERVERS=$val ;;
    --workers) WORKERS=$val ;;
    --mode) MODE=$val MODE_SET=1 ;;
    --staleness) STALENESS=$val ;;
    --steps) STEPS=$val ;;
    --model) MODEL=$val ;;
    --data) DATA=$val ;;
    --backend) BACKEND=$val ;;
    --optimizer) OPTIMIZER=$val ;;
    --lr) LR=$val ;;
    --out) OUT=$val ;;
    --batch-size) BATCH=$val ;;
    --seq-len) SEQ=$val ;;
    --threads) THREADS=$val ;;
    --eval-every) EVAL_EVERY=$val ;;
    --seed) SEED=$val ;;
    --progress-every) PROGRESS_EVERY=$val ;;
    --timeout) TIMEOUT=$val ;;
  esac
done

is_int() { [[ "$1" =~ ^[0-9]+$ ]] && (( 10#$1 >= $2 && 10#$1 <= $3 )); }
need_int() { # option value min max
  is_int "$2" "$3" "$4" || bad "$1 wants a whole number from $3 to $4, got '$2'"
}
need_int --servers "$SERVERS" 1 64
need_int --workers "$WORKERS" 1 64
need_int --threads "$THREADS" 1 256
need_int --seed "$SEED" 0 2147483647
need_int --progress-every "$PROGRESS_EVERY" 1 3600
need_int --timeout "$TIMEOUT" 10 604800
case "$MODE" in
  sync | async | ssp) ;;
  *) bad "--mode must be sync, async or ssp, got '$MODE'" ;;
esac
if ((COMPARE)) && ((MODE_SET)); then
  bad "--compare-modes runs sync, async and ssp in turn; drop --mode $MODE"
fi
if [[ -n "$STALENESS" ]]; then
  need_int --staleness "$STALENESS" 0 1000000
  if ((!COMPARE)) && [[ "$MODE" != ssp ]]; then
    bad "--staleness applies to --mode ssp only (mode is $MODE)"
  fi
fi
STALENESS=${STALENESS:-2}
case "$MODEL" in
  tiny) : "${BATCH:=8}" "${SEQ:=64}" ;;
  small) : "${BATCH:=8}" "${SEQ:=256}" ;;
  gpt2-124m) : "${BATCH:=4}" "${SEQ:=1024}" ;;
  *) bad "--model must be tiny, small or gpt2-124m, got '$MODEL'" ;;
esac
case "$MODEL" in
  tiny) default_steps=60 max_seq=64 ;;
  small) default_steps=500 max_seq=256 ;;
  gpt2-124m) default_steps=50 max_seq=1024 ;;
esac
if [[ -z "$STEPS" ]]; then
  STEPS=$default_steps
  if ((COMPARE)); then STEPS=$(((STEPS + 2) / 3)); fi
fi
need_int --steps "$STEPS" 1 100000000
STEPS=$((10#$STEPS))
need_int --batch-size "$BATCH" 1 65536
need_int --seq-len "$SEQ" 1 "$max_seq"
if [[ -z "$EVAL_EVERY" ]]; then
  EVAL_EVERY=$(((STEPS + 9) / 10))
fi
need_int --eval-every "$EVAL_EVERY" 1 100000000
case "$BACKEND" in
  auto | cpu | cuda) ;;
  *) bad "--backend must be cpu or cuda, got '$BACKEND'" ;;
esac
case "$OPTIMIZER" in
  sgd | momentum | adam | adamw) ;;
  *) bad "--optimizer must be sgd, momentum, adam or adamw, got '$OPTIMIZER'" ;;
esac
if ! [[ "$LR" =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$ ]] ||
  ! awk -v x="$LR" 'BEGIN { exit !(x > 0 && x <= 10) }'; then
  bad "--lr wants a number in (0, 10], got '$LR'"
fi
if [[ -n "$DATA" && ! -e "$DATA" ]]; then
  bad "--data: '$DATA' does not exist"
fi

# ------------------------------------------------------------ run folder --
if [[ -z "$OUT" ]]; then
  stamp=$(date +%Y%m%d-%H%M%S)
  OUT="$ROOT/runs/$stamp"
  n=1
  while [[ -e "$OUT" ]] && ((n < 100)); do
    OUT="$ROOT/runs/$stamp-$n"
    n=$((n + 1))
  done
fi
if [[ -e "$OUT" && ! -d "$OUT" ]]; then
  bad "--out: '$OUT' exists and is not a folder"
fi
if [[ -d "$OUT" ]] && [[ -n "$(ls -A "$OUT")" ]]; then
  bad "--out: '$OUT' is not empty (metrics would mix with an earlier run)"
fi
mkdir -p "$OUT/logs" "$OUT/bin"
OUT=$(cd "$OUT" && pwd)
PIDFILE="$OUT/pids.txt"
: >"$PIDFILE"

# Shows a path relative to the repository when it lies inside it.
show() {
  local p=$1
  if [[ "$p" == "$ROOT/"* ]]; then p=${p#"$ROOT/"}; fi
  printf '%s' "$p"
}

fmt_dur() { # seconds -> 1h02m03s / 4m05s / 7s
  local s=${1%.*}
  s=${s:-0}
  if ((s >= 3600)); then
    printf '%dh%02dm%02ds' $((s / 3600)) $((s % 3600 / 60)) $((s % 60))
  elif ((s >= 60)); then
    printf '%dm%02ds' $((s / 60)) $((s % 60))
  else
    printf '%ds' "$s"
  fi
}

# --------------------------------------------------- process bookkeeping --
# Every process this script starts goes through start_proc: its PID goes to
# PIDS and pids.txt, and stop_all ends exactly those PIDs.
PIDS=()
declare -A PNAME=() PLOG=()

start_proc() { # name log cmd...   (stderr to $ERRLOG when set, else to log)
  local name=$1 log=$2
  shift 2
  if [[ -n "${ERRLOG:-}" ]]; then
    "$@" </dev/null >"$log" 2>"$ERRLOG" &
  else
    "$@" </dev/null >"$log" 2>&1 &
  fi
  local pid=$!
  PIDS+=("$pid")
  PNAME[$pid]=$name
  PLOG[$pid]=$log
  echo "$pid $name" >>"$PIDFILE"
  LAST_PID=$pid
}

# True while the process runs (an exited child is reaped by bash; a zombie
# counts as gone).
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  local st
  read -r st 2>/dev/null <"/proc/$1/stat" || return 1
  st=${st##*) }
  [[ "${st%% *}" != Z ]]
}

# Exit status of an exited child (kept by bash until waited for) into ST.
# Not for $(...): a subshell cannot wait for its parent's children.
exit_status() {
  if wait "$1" 2>/dev/null; then ST=0; else ST=$?; fi
}

forget() { # pid: drop it from PIDS once it has exited and been waited for
  local keep=() p
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do [[ "$p" == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]+"${keep[@]}"}")
}

stop_pids() { # pids...: TERM, up to 10 s of grace, then KILL
  local live=() p i any
  for p in "$@"; do alive "$p" && live+=("$p"); done
  ((${#live[@]})) || return 0
  kill -TERM "${live[@]}" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    any=0
    for p in "${live[@]}"; do alive "$p" && any=1; done
    ((any)) || break
    sleep 0.1
  done
  for p in "${live[@]}"; do
    if alive "$p"; then
      echo "demo.sh: ${PNAME[$p]:-process $p} ignored SIGTERM for 10 s; killing it" >&2
      kill -KILL "$p" 2>/dev/null || true
    fi
  done
  for p in "${live[@]}"; do wait "$p" 2>/dev/null || true; done
}

stop_all() {
  ((${#PIDS[@]})) || return 0
  stop_pids "${PIDS[@]}"
  PIDS=()
}

tail_log() { # log [lines]
  if [[ -s "$1" ]]; then
    echo "--- last ${2:-25} lines of $(show "$1"):" >&2
    tail -n "${2:-25}" "$1" | sed 's/^/  | /' >&2
  else
    echo "--- $(show "$1") is empty" >&2
  fi
}

fail() { # message [log]
  [[ -t 1 ]] && printf '\n'
  echo "demo.sh: FAILED: $1" >&2
  if [[ -n "${2:-}" ]]; then tail_log "$2"; fi
  echo "demo.sh: stopping every process it started; logs in $(show "$OUT/")" >&2
  stop_all
  exit 1
}

on_signal() {
  trap - INT TERM
  printf '\n' >&2
  echo "demo.sh: interrupted by SIG$1: stopping ${#PIDS[@]} process(es); logs in $(show "$OUT/")" >&2
  stop_all
  if [[ "$1" == INT ]]; then exit 130; else exit 143; fi
}
on_exit() {
  local rc=$?
  stop_all
  exit "$rc"
}
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
trap on_exit EXIT

# Runs one short command as a tracked child and waits for it, at most
# `limit` seconds. Sets RUN_RC.
run_bounded() { # name log limit cmd...
  local name=$1 log=$2 limit=$3 i
  shift 3
  start_proc "$name" "$log" "$@"
  local pid=$LAST_PID
  for ((i = 0; i < limit * 10; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    stop_pids "$pid"
    forget "$pid"
    fail "$name did not finish within ${limit}s" "$log"
  fi
  exit_status "$pid"
  RUN_RC=$ST
  forget "$pid"
}

START=$SECONDS
echo "pserve demo -> $(show "$OUT/")"

# --------------------------------------------------------- setup, build --
echo "[1/4] setup: tools/setup.sh (installs missing Debian packages)"
if ! "$ROOT/tools/setup.sh" >"$OUT/logs/setup.log" 2>&1; then
  fail "tools/setup.sh failed" "$OUT/logs/setup.log"
fi

if [[ -z "$DATA" ]]; then
  if [[ ! -d "$FORTUNES" ]]; then
    fail "the corpus $FORTUNES is missing: install Debian's 'fortunes' package (apt-get install fortunes fortunes-min) or pass --data PATH"
  fi
  DATA=$FORTUNES
fi

BUILD_T0=$SECONDS
TARGETS=(//server:ps_server //worker:ps_worker //worker:ps_prepare //worker:ps_generate)
have_gpu() {
  command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'
}
# The convenience symlinks go into the run folder (--symlink_prefix), so the
# binaries are found in this build's own output tree (CPU or CUDA) whatever
# other Bazel commands do to the checkout's bazel-bin meanwhile.
mkdir -p "$OUT/.bazel"
build() { # extra bazel flags...
  (cd "$ROOT" && bazel build --symlink_prefix="$OUT/.bazel/" "$@" "${TARGETS[@]}") \
    >>"$OUT/logs/build.log" 2>&1
}
if [[ "$BACKEND" == auto ]]; then
  BACKEND=cpu
  if have_gpu; then
    echo "[2/4] build: bazel build --config=cuda (a GPU is present)"
    if build --config=cuda; then
      BACKEND=cuda
    else
      echo "      the CUDA build failed (see logs/build.log); using the CPU backend"
    fi
  fi
  if [[ "$BACKEND" == cpu ]]; then
    echo "[2/4] build: bazel build ${TARGETS[*]}"
    build || fail "bazel build failed" "$OUT/logs/build.log"
  fi
elif [[ "$BACKEND" == cuda ]]; then
  have_gpu || echo "demo.sh: warning: --backend cuda but nvidia-smi shows no GPU" >&2
  echo "[2/4] build: bazel build --config=cuda ${TARGETS[*]}"
  build --config=cuda || fail "bazel build --config=cuda failed" "$OUT/logs/build.log"
else
  echo "[2/4] build: bazel build ${TARGETS[*]}"
  build || fail "bazel build failed" "$OUT/logs/build.log"
fi

build_note=""
grep -q '^Another command' "$OUT/logs/build.log" && build_note=", part of it waiting for another Bazel command"
echo "      built in $(fmt_dur $((SECONDS - BUILD_T0)))$build_note"

# Copies the binaries into the run folder so the run is self-contained and
# unaffected by later builds.
BIN="$OUT/bin"
for name in ps_server ps_worker ps_prepare ps_generate; do
  src=""
  for dir in server worker worker/data; do
    if [[ -f "$OUT/.bazel/bin/$dir/$name" && -x "$OUT/.bazel/bin/$dir/$name" ]]; then
      src="$OUT/.bazel/bin/$dir/$name"
      break
    fi
  done
  [[ -n "$src" ]] || fail "built $name not found in Bazel's output tree" "$OUT/logs/build.log"
  cp "$src" "$BIN/$name"
done

# ---------------------------------------------------------------- data --
DATA_DIR="$OUT/data"
mkdir -p "$DATA_DIR"
if [[ -d "$DATA" && -f "$DATA/train.bin" && -f "$DATA/val.bin" && -f "$DATA/tokenizer.bin" ]]; then
  echo "[3/4] data: using the prepared shards in $DATA"
  cp "$DATA/train.bin" "$DATA/val.bin" "$DATA/tokenizer.bin" "$DATA_DIR/"
  echo "prepared shards copied from $DATA" >"$OUT/logs/prepare.log"
else
  echo "[3/4] data: ps_prepare --input=$DATA"
  run_bounded "ps_prepare" "$OUT/logs/prepare.log" 600 \
    "$BIN/ps_prepare" --input="$DATA" --out_dir="$DATA_DIR"
  ((RUN_RC == 0)) || fail "ps_prepare exited with status $RUN_RC (input $DATA)" "$OUT/logs/prepare.log"
  sed -e "s|$OUT/||g" -e 's/^/      /' "$OUT/logs/prepare.log"
fi
cp "$DATA_DIR/tokenizer.bin" "$OUT/tokenizer.bin"

# ------------------------------------------------------------ training --
# Global tokens per step (all workers), for the progress line's rate.
TOKENS_PER_STEP=$((WORKERS * BATCH * SEQ))
WARMUP=$((STEPS / 20))
((WARMUP >= 1)) || WARMUP=1
((WARMUP < STEPS)) || WARMUP=0

json_num() { # json-line key -> number or empty
  sed -n 's/.*"'"$2"'"[[:space:]]*:[[:space:]]*\([-+0-9.eEnaifNAIF]*\).*/\1/p' <<<"$1"
}

# One progress line from rank 0's metrics.
progress_line() { # metrics total t0
  local m=$1 total=$2 t0=$3 tr="" va="" step=0 loss="-" vloss="-" rate="-" eta="-"
  local now=$SECONDS
  if [[ -s "$m" ]]; then
    tr=$(grep '"kind"[[:space:]]*:[[:space:]]*"train"' "$m" | tail -n 1) || true
    va=$(grep '"kind"[[:space:]]*:[[:space:]]*"val"' "$m" | tail -n 1) || true
  fi
  if [[ -n "$tr" ]]; then
    step=$(json_num "$tr" step)
    step=${step%.*}
    step=$((${step:-0} + 1)) # steps completed (the record's step is 0-based)
    loss=$(printf '%.3f' "$(json_num "$tr" loss)" 2>/dev/null) || loss="-"
    # The cluster's mean rate so far: steps x global tokens per step over
    # rank 0's training seconds (evaluation excluded).
    local el
    el=$(json_num "$tr" elapsed_s)
    if [[ -n "$el" ]]; then
      rate=$(awk -v s="$step" -v t="$TOKENS_PER_STEP" -v e="$el" \
        'BEGIN { if (e > 0) printf "%.0f", s * t / e; else printf "-" }')
    fi
    if ((step > 0 && now > t0)); then
      eta=$(fmt_dur $(((now - t0) * (total - step) / step)))
    fi
  fi
  if [[ -n "$va" ]]; then
    vloss=$(printf '%.3f' "$(json_num "$va" val_loss)" 2>/dev/null) || vloss="-"
  fi
  if [[ -z "$tr" ]]; then
    printf 'step %*d/%d  starting: workers connect, declare the model, pull  %s' \
      "${#total}" 0 "$total" "$(fmt_dur $((now - t0)))"
    return 0
  fi
  printf 'step %*d/%d  loss %s  val %s  %s tok/s  %s  ETA %s' \
    "${#total}" "$step" "$total" "$loss" "$vloss" "$rate" \
    "$(fmt_dur $((now - t0)))" "$eta"
}

# Trains one run into folder $1 in mode $2. Sets R_* result variables.
train_run() { # dir mode
  local dir=$1 mode=$2 i
  mkdir -p "$dir/logs"
  local total_updates=$STEPS warm=$WARMUP
  if [[ "$mode" != sync ]]; then
    # async and ssp apply every push: W updates per step.
    total_updates=$((STEPS * WORKERS))
    warm=$((WARMUP * WORKERS))
  fi
  local sched=(--lr_schedule=cosine --warmup_steps="$warm" --total_steps="$total_updates")
  local server_pids=() worker_pids=()
  for ((i = 0; i < SERVERS; i++)); do
    local extra=()
    [[ "$mode" == ssp ]] && extra=(--staleness="$STALENESS")
    start_proc "server $i" "$dir/logs/server-$i.log" \
      "$BIN/ps_server" --port=0 --port_file="$dir/logs/server-$i.port" \
      --bind_address=127.0.0.1 --server_id="$i" --num_servers="$SERVERS" \
      --num_workers="$WORKERS" --mode="$mode" "${extra[@]+"${extra[@]}"}" \
      --optimizer="$OPTIMIZER" --lr="$LR" "${sched[@]}" --log_level=info
    server_pids+=("$LAST_PID")
  done
  local addrs="" pid port
  for ((i = 0; i < SERVERS; i++)); do
    pid=${server_pids[$i]}
    local pf="$dir/logs/server-$i.port" n
    for ((n = 0; n < 300; n++)); do # 30 s
      [[ -s "$pf" ]] && break
      if ! alive "$pid"; then
        exit_status "$pid"
        fail "server $i exited with status $ST before listening" "${PLOG[$pid]}"
      fi
      sleep 0.1
    done
    [[ -s "$pf" ]] || fail "server $i wrote no port file within 30 s" "${PLOG[$pid]}"
    port=$(tr -dc '0-9' <"$pf")
    addrs+="${addrs:+,}127.0.0.1:$port"
  done
  echo "      $SERVERS server(s) on $addrs ($mode, $OPTIMIZER lr $LR, warmup+cosine)"

  local metrics="$dir/metrics.jsonl"
  for ((i = 0; i < WORKERS; i++)); do
    # Rank 0 alone evaluates (all ranks would score the same batches) and
    # exports the model.
    local m="$metrics" rank0=()
    if ((i == 0)); then
      rank0=(--val_data="$DATA_DIR/val.bin" --eval_every="$EVAL_EVERY"
        --eval_batches="$EVAL_BATCHES" --export="$dir/model.bin")
    else
      m="$dir/logs/worker-$i.metrics.jsonl"
    fi
    start_proc "worker $i" "$dir/logs/worker-$i.log" \
      "$BIN/ps_worker" --servers="$addrs" --rank="$i" --num_workers="$WORKERS" \
      --mode="$mode" --data="$DATA_DIR/train.bin" \
      --tokenizer="$DATA_DIR/tokenizer.bin" --model="$MODEL" --backend="$BACKEND" \
      --threads="$THREADS" --batch_size="$BATCH" --seq_len="$SEQ" --steps="$STEPS" \
      --seed="$SEED" --log_every=1 --metrics_file="$m" --connect_timeout=30 \
      "${rank0[@]+"${rank0[@]}"}"
    worker_pids+=("$LAST_PID")
  done
  echo "      $WORKERS worker(s): $MODEL, $BACKEND, batch $BATCH x $SEQ tokens, $STEPS steps, $THREADS thread(s) each"

  # Watch: every second, check every process; show progress from rank 0.
  local t0=$SECONDS last_print=-1000 done_workers=0 tty=0 line
  [[ -t 1 ]] && tty=1
  local -A finished=()
  local last_step_seen=-1 last_change=$SECONDS cur
  while ((done_workers < WORKERS)); do
    ((SECONDS - t0 <= TIMEOUT)) || fail "training ($mode) did not finish within --timeout ${TIMEOUT}s" "${PLOG[${worker_pids[0]}]}"
    for pid in "${server_pids[@]}"; do
      if ! alive "$pid"; then
        exit_status "$pid"
        fail "${PNAME[$pid]} exited with status $ST during training" "${PLOG[$pid]}"
      fi
    done
    for pid in "${worker_pids[@]}"; do
      [[ -n "${finished[$pid]:-}" ]] && continue
      if ! alive "$pid"; then
        exit_status "$pid"
        ((ST == 0)) || fail "${PNAME[$pid]} exited with status $ST" "${PLOG[$pid]}"
        finished[$pid]=1
        forget "$pid"
        done_workers=$((done_workers + 1))
      fi
    done
    # The line is read from the metrics every second on a terminal, else
    # only when it is printed.
    if ((tty || SECONDS - last_print >= PROGRESS_EVERY)); then
      line=$(progress_line "$metrics" "$STEPS" "$t0")
      if ((tty)); then
        printf '\r      %s\033[K' "$line"
      else
        printf '      %s\n' "$line"
      fi
      last_print=$SECONDS
      cur=${line#step }
      cur=${cur%%/*}
      cur=${cur// /}
      if [[ "$cur" != "$last_step_seen" ]]; then
        last_step_seen=$cur
        last_change=$SECONDS
      elif ((SECONDS - last_change > 600)); then
        fail "no training progress ($mode) for 600 s" "${PLOG[${worker_pids[0]}]}"
      fi
    fi
    ((done_workers < WORKERS)) || break
    sleep 1
  done
  line=$(progress_line "$metrics" "$STEPS" "$t0")
  if ((tty)); then printf '\r      %s\033[K\n' "$line"; else printf '      %s\n' "$line"; fi
  R_TRAIN_S=$((SECONDS - t0))

  # Servers: SIGTERM, and each must exit 0.
  kill -TERM "${server_pids[@]}" 2>/dev/null || true
  for pid in "${server_pids[@]}"; do
    local n
    for ((n = 0; n < 150; n++)); do # 15 s
      alive "$pid" || break
      sleep 0.1
    done
    alive "$pid" && fail "${PNAME[$pid]} did not exit within 15 s of SIGTERM" "${PLOG[$pid]}"
    exit_status "$pid"
    forget "$pid"
    ((ST == 0)) || fail "${PNAME[$pid]} exited with status $ST on SIGTERM" "${PLOG[$pid]}"
  done

  [[ -s "$dir/model.bin" ]] || fail "worker 0 wrote no model export ($dir/model.bin)" "$dir/logs/worker-0.log"
  [[ -s "$dir/model.safetensors" ]] || fail "worker 0 wrote no $dir/model.safetensors" "$dir/logs/worker-0.log"
  [[ -s "$metrics" ]] || fail "worker 0 wrote no metrics ($metrics)" "$dir/logs/worker-0.log"
  [[ "$dir" == "$OUT" ]] || cp "$OUT/tokenizer.bin" "$dir/tokenizer.bin"

  R_RESULT=$(grep '^RESULT ' "$dir/logs/worker-0.log" | tail -n 1) || R_RESULT=""
  # key=value stats from metrics.jsonl (first/last losses, steady tokens/s).
  local stats
  stats=$("$PY" "$PLOT" stats "$metrics") || fail "could not read $metrics"
  R_FIRST_VAL=$(sed -n 's/^first_val_loss=//p' <<<"$stats")
  R_LAST_VAL=$(sed -n 's/^last_val_loss=//p' <<<"$stats")
  R_FIRST_TRAIN=$(sed -n 's/^first_train_loss=//p' <<<"$stats")
  R_LAST_TRAIN=$(sed -n 's/^last10_train_loss=//p' <<<"$stats")
  # Cluster tokens/s: worker 0's mean rate (RESULT: its steps x B x T over its
  # training seconds) times the worker count; else the metrics' median.
  local tps
  tps=$(sed -n 's/.*tokens_per_s=\([0-9.eE+-]*\).*/\1/p' <<<"$R_RESULT")
  [[ -n "$tps" ]] || tps=$(sed -n 's/^tokens_per_s=//p' <<<"$stats")
  R_TPS=$(awk -v r="$tps" -v w="$WORKERS" 'BEGIN { printf "%.0f", r * w }')

  # The loss plot.
  local title="pserve: $MODEL GPT on fortunes, $SERVERS servers x $WORKERS workers, $mode"
  [[ "$mode" == ssp ]] && title+=" (s=$STALENESS)"
  title+=", $OPTIMIZER lr $LR"
  run_bounded "plot" "$dir/logs/plot.log" 120 \
    "$PY" "$PLOT" loss --metrics "$metrics" --out "$dir/loss.png" --title "$title"
  ((RUN_RC == 0)) || fail "plotting loss.png failed" "$dir/logs/plot.log"

  # Samples from the exported model.
  local prompts=("The meaning of life is" "Q: What do you get when you cross"
    "Never trust a")
  local max_tokens=160
  [[ "$MODEL" == tiny ]] && max_tokens=80
  : >"$dir/samples.txt"
  local k=0 p
  for p in "${prompts[@]}"; do
    ERRLOG="$dir/logs/generate-$k.log" run_bounded "ps_generate" "$dir/logs/generate-$k.out" 300 \
      "$BIN/ps_generate" --model="$dir/model.bin" --tokenizer="$DATA_DIR/tokenizer.bin" \
      --prompt="$p" --max_tokens="$max_tokens" --temperature=0.8 --top_k=40 --seed=$((SEED + k)) \
      --threads=0
    ((RUN_RC == 0)) || fail "ps_generate exited with status $RUN_RC" "$dir/logs/generate-$k.log"
    {
      printf '=== prompt: "%s" (temperature 0.8, top-k 40, %d tokens)\n' "$p" "$max_tokens"
      printf '%s' "$p"
      cat "$dir/logs/generate-$k.out"
      printf '\n\n'
    } >>"$dir/samples.txt"
    k=$((k + 1))
  done
}

case "$MODEL" in
  tiny) EVAL_BATCHES=8 ;;
  small) EVAL_BATCHES=8 ;;
  *) EVAL_BATCHES=4 ;;
esac

f3() { printf '%.3f' "$1"; }

show_result() {
  printf '  val loss %s -> %s, train loss %s -> %s (last 10 steps), %s tokens/s, %s of training\n' \
    "$(f3 "$R_FIRST_VAL")" "$(f3 "$R_LAST_VAL")" "$(f3 "$R_FIRST_TRAIN")" "$(f3 "$R_LAST_TRAIN")" \
    "$R_TPS" "$(fmt_dur "$R_TRAIN_S")"
}

# "small (L=4 C=256 ...), 3.2M parameters" from the logs of run folder $1.
model_desc() {
  local arch n
  arch=$(grep -o -m1 "model $MODEL ([^)]*)" "$1/logs/worker-0.log" 2>/dev/null | sed 's/^model //') || true
  n=$(cat "$1"/logs/server-*.log 2>/dev/null | sed -n 's/.*model declared: [0-9]* tensors, \([0-9]*\) params.*/\1/p' |
    awk '{ s += $1 } END { if (s >= 1e6) printf "%.1fM", s / 1e6; else if (s > 0) printf "%.0fK", s / 1e3 }')
  printf '%s' "${arch:-$MODEL}${n:+, $n parameters}"
}

if ((COMPARE)); then
  modes=(sync async ssp)
  series=()
  summary=()
  k=1
  for m in "${modes[@]}"; do
    echo "[4/4] train ($k/3): mode $m"
    train_run "$OUT/$m" "$m"
    label="$m"
    [[ "$m" == ssp ]] && label+=" (s=$STALENESS)"
    label+=": $R_TPS tok/s"
    series+=(--metrics "$OUT/$m/metrics.jsonl" --label "$label")
    summary+=("$(printf '  %-5s val loss %s -> %s, train loss %s, %6s tokens/s, %s of training' \
      "$m" "$(f3 "$R_FIRST_VAL")" "$(f3 "$R_LAST_VAL")" "$(f3 "$R_LAST_TRAIN")" "$R_TPS" "$(fmt_dur "$R_TRAIN_S")")")
    k=$((k + 1))
  done
  run_bounded "plot" "$OUT/logs/plot-compare.log" 120 \
    "$PY" "$PLOT" compare "${series[@]}" --out "$OUT/compare.png" \
    --title "pserve: $MODEL GPT, $SERVERS servers x $WORKERS workers, $STEPS steps each"
  ((RUN_RC == 0)) || fail "plotting compare.png failed" "$OUT/logs/plot-compare.log"
  echo
  echo "Done in $(fmt_dur $((SECONDS - START))): model $(model_desc "$OUT/sync"), $SERVERS servers, $WORKERS workers, $BACKEND, $STEPS steps per mode"
  printf '%s\n' "${summary[@]}"
  echo "Run folder: $(show "$OUT/")"
  echo "  compare.png         validation loss of the three modes"
  echo "  sync/ async/ ssp/   each: loss.png, samples.txt, model.bin + model.safetensors,"
  echo "                      tokenizer.bin, metrics.jsonl, logs/"
else
  echo "[4/4] train: $MODEL on $SERVERS server(s) x $WORKERS worker(s), mode $MODE"
  train_run "$OUT" "$MODE"
  echo
  echo "Done in $(fmt_dur $((SECONDS - START))): model $(model_desc "$OUT"), $SERVERS servers, $WORKERS workers, $MODE, $BACKEND, $STEPS steps"
  show_result
  echo "Run folder: $(show "$OUT/")"
  echo "  loss.png                      train and validation loss vs step"
  echo "  samples.txt                   text generated from $(grep -c '^=== prompt' "$OUT/samples.txt") prompts"
  echo "  model.bin, model.safetensors  the trained model (llm.c and Hugging Face layouts)"
  echo "  tokenizer.bin                 its tokenizer"
  echo "  metrics.jsonl                 worker 0's per-step metrics"
  echo "  logs/                         every process's log; pids.txt lists their PIDs"
  echo "First sample:"
  awk 'NR > 1 && /^=== prompt/ { exit } NR > 1' "$OUT/samples.txt" | sed 's/^/  /' | head -n 12
fi

# Everything exited already; stop_all (also run on exit) is a no-op.
stop_all
