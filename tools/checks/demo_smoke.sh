#!/usr/bin/env bash
# Smoke test of tools/demo.sh (run by tools/test.sh): the demo's own command
# with the tiny model and a few dozen steps into a temporary folder, then
# checks that it exited 0, that every promised file exists and is valid, that
# the validation loss fell, and that no process it started is still running.
# Also checks that a bad option is refused with exit status 2.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=/usr/bin/python3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/demo_smoke.XXXXXX")
RUN="$TMP/run"
trap 'rm -rf "$TMP"' EXIT

failures=0
pass() { echo "PASS: $*"; }
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# A bad option: exit 2, naming the option.
rc=0
"$ROOT/tools/demo.sh" --mode bogus >"$TMP/bad.out" 2>&1 || rc=$?
if ((rc == 2)) && grep -q -- '--mode' "$TMP/bad.out"; then
  pass "bad option refused with exit 2: $(head -n 1 "$TMP/bad.out")"
else
  fail "bad option: exit $rc, output: $(cat "$TMP/bad.out")"
fi

# The run itself, bounded in time (the demo stops its children on SIGTERM).
start=$SECONDS
rc=0
timeout 300 "$ROOT/tools/demo.sh" --model tiny --steps 40 --out "$RUN" \
  >"$TMP/demo.out" 2>&1 || rc=$?
took=$((SECONDS - start))
if ((rc == 0)); then
  pass "tools/demo.sh --model tiny --steps 40 exited 0 in ${took}s"
else
  fail "tools/demo.sh exited $rc after ${took}s; its output:"
  sed 's/^/  | /' "$TMP/demo.out" | tail -n 40
fi

for f in loss.png metrics.jsonl samples.txt model.bin model.safetensors \
  tokenizer.bin pids.txt logs/server-0.log logs/server-1.log \
  logs/worker-0.log logs/worker-1.log; do
  if [[ -s "$RUN/$f" ]]; then pass "$f exists"; else fail "$f missing or empty"; fi
done

if [[ -s "$RUN/loss.png" ]]; then
  if out=$("$PY" "$ROOT/tools/demo/plot.py" check "$RUN/loss.png" 2>&1); then
    pass "loss.png is a PNG that matplotlib decodes ($out)"
  else
    fail "loss.png: $out"
  fi
fi

# metrics.jsonl parses; the last validation loss is below the first; the
# exports carry llm.c's magic and a parseable safetensors header.
if [[ -s "$RUN/metrics.jsonl" ]]; then
  if out=$("$PY" - "$RUN" <<'EOF' 2>&1
import json, struct, sys
run = sys.argv[1]
val, train = [], 0
with open(f"{run}/metrics.jsonl") as f:
    for n, line in enumerate(f, 1):
        rec = json.loads(line)  # raises on a bad line
        if rec["kind"] == "val":
            val.append((rec["step"], rec["val_loss"]))
        elif rec["kind"] == "train":
            train += 1
assert train > 0, "no train records"
assert len(val) >= 2, f"only {len(val)} val records"
(s0, v0), (s1, v1) = val[0], val[-1]
assert v1 < v0, f"val loss did not fall: step {s0} {v0} -> step {s1} {v1}"
with open(f"{run}/model.bin", "rb") as f:
    magic, version = struct.unpack("<ii", f.read(8))
assert magic == 20240326, f"model.bin magic {magic}"
with open(f"{run}/model.safetensors", "rb") as f:
    (n,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(n))
assert "wte.weight" in header or "transformer.wte.weight" in header, \
    f"safetensors names: {sorted(header)[:5]}"
print(f"{train} train and {len(val)} val records; val loss {v0:.3f} (step {s0})"
      f" -> {v1:.3f} (step {s1}); model.bin v{version}; {len(header)} safetensors entries")
EOF
  ); then
    pass "$out"
  else
    fail "metrics/exports: $out"
  fi
fi

if [[ -s "$RUN/samples.txt" ]] && grep -q '^=== prompt' "$RUN/samples.txt"; then
  pass "samples.txt holds $(grep -c '^=== prompt' "$RUN/samples.txt") samples"
else
  fail "samples.txt has no samples"
fi

# No process the demo started may still run (a PID reused by an unrelated
# process would not name the run folder on its command line).
left=0
if [[ -s "$RUN/pids.txt" ]]; then
  while read -r pid name; do
    [[ "$pid" =~ ^[0-9]+$ ]] || continue
    if kill -0 "$pid" 2>/dev/null &&
      tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$RUN"; then
      fail "$name (PID $pid) is still running"
      left=$((left + 1))
    fi
  done <"$RUN/pids.txt"
  ((left)) || pass "none of the $(wc -l <"$RUN/pids.txt") processes in pids.txt is left running"
fi

if ((failures)); then
  echo "demo smoke test: $failures check(s) failed"
  exit 1
fi
echo "demo smoke test: all checks passed"
