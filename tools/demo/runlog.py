"""Reads what a demo run leaves behind: the workers' metrics.jsonl and log
lines, the servers' byte counts, the token shards, and the share of
generated words that occur in the training corpus. Pure functions of the
files; safe to call from any thread.

The worker's per-window log line (worker/trainer.cc) reads
  2026-12-02 06:02:43.114 [worker 0] [info] step 4 loss 5.2191 tokens/s 2686
  pull 0.023s compute 0.012s push 0.012s (per step)
with a 0-based step; ps_launch's progress line parses the same line.
"""
import datetime
import json
import math
import os
import re
import struct

STEP_LINE = re.compile(
    r"^(\S+ \S+) .*\] step (\d+) loss (\S+) tokens/s (\S+) pull (\S+)s "
    r"compute (\S+)s push (\S+)s")
SERVED_LINE = re.compile(
    r"served (\d+) pushes \((\d+) bytes in\), (\d+) pulls \((\d+) bytes out\)")
WORD = re.compile(r"[A-Za-z]+")


def finite(x):
    return isinstance(x, (int, float)) and math.isfinite(x)


def read_metrics(path):
    """(train, val): sorted (step, loss) pairs from a --metrics_file."""
    train, val = {}, {}
    if not os.path.exists(path):
        return [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            step = rec.get("step")
            if step is None:
                continue
            if rec.get("kind") == "train" and finite(rec.get("loss")):
                train[int(step)] = float(rec["loss"])
            elif rec.get("kind") == "val" and finite(rec.get("val_loss")):
                val[int(step)] = float(rec["val_loss"])
    return sorted(train.items()), sorted(val.items())


def read_steps(log_path):
    """One dict per step line of a worker log: step (1-based count), loss,
    tokens_per_s, pull_s, compute_s, push_s, t (seconds since the first)."""
    rows, t0 = [], None
    if not os.path.exists(log_path):
        return rows
    with open(log_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = STEP_LINE.search(line)
            if not m:
                continue
            t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f")
            t0 = t0 or t
            rows.append({
                "step": int(m.group(2)) + 1, "loss": float(m.group(3)),
                "tokens_per_s": float(m.group(4)), "pull_s": float(m.group(5)),
                "compute_s": float(m.group(6)), "push_s": float(m.group(7)),
                "t": (t - t0).total_seconds()})
    return rows


def worker_logs(run):
    """The run's worker logs in rank order."""
    logs, r = [], 0
    while os.path.exists(os.path.join(run, "logs", f"worker-{r}.log")):
        logs.append(os.path.join(run, "logs", f"worker-{r}.log"))
        r += 1
    return logs


def bytes_moved(run):
    """(push bytes in, pull bytes out) summed over the run's servers, from
    the line each server logs when it stops; (0, 0) if none."""
    pushed = pulled = 0
    logs = os.path.join(run, "logs")
    for name in sorted(os.listdir(logs)) if os.path.isdir(logs) else []:
        if not (name.startswith("server-") and name.endswith(".log")):
            continue
        with open(os.path.join(logs, name), encoding="utf-8",
                  errors="replace") as f:
            for m in SERVED_LINE.finditer(f.read()):
                pushed += int(m.group(2))
                pulled += int(m.group(4))
    return pushed, pulled


def decode_shard(shard, tokenizer):
    """The text of an llm.c token shard, decoded with an llm.c tokenizer
    file (magic 20240328): header of 256 int32, then one length byte and
    the bytes of each token."""
    with open(tokenizer, "rb") as f:
        header = struct.unpack("<256i", f.read(1024))
        pieces = []
        for _ in range(header[2]):
            (n,) = struct.unpack("<B", f.read(1))
            pieces.append(f.read(n))
    with open(shard, "rb") as f:
        count = struct.unpack("<256i", f.read(1024))[2]
        tokens = struct.unpack(f"<{count}H", f.read(2 * count))
    return b"".join(pieces[t] if t < len(pieces) else b"" for t in tokens
                    ).decode("utf-8", errors="replace")


def words(text):
    """Lower-cased words of letters only, at least two long."""
    return [w.lower() for w in WORD.findall(text) if len(w) >= 2]


def word_share(generated, corpus_words):
    """(found, total) generated words that occur in the corpus."""
    ws = words(generated)
    return sum(w in corpus_words for w in ws), len(ws)
