"""The demo's closing summary: per training run the losses, tokens/s of each
worker, sync wait, bytes moved, CPU-seconds per step and the share of
generated words (letters only, length >= 2, prompts excluded) that occur in
the training corpus; then the run folder's contents and the first sample.
Single-threaded; reads the run folder only.
"""
import os
import re
import time

import runlog

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def duration(s):
    s = int(round(s))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def show(path):
    return os.path.relpath(path, ROOT) if path.startswith(ROOT + "/") else path


def model_line(folder, run):
    """"small (L=4 C=128 ...), 1.10M parameters" from the logs."""
    arch, params = run["model"], 0
    logs = os.path.join(folder, "logs")
    for log in sorted(os.listdir(logs)):
        with open(os.path.join(logs, log), encoding="utf-8", errors="replace") as f:
            text = f.read()
        m = re.search(r" model \S+ (\([^)]*\))", text)
        if log == "worker-0.log" and m:
            arch = f"{run['model']} {m.group(1)}"
        if log.startswith("server-"):
            params += sum(int(n) for n in re.findall(r"model declared: \d+ tensors, (\d+) params", text))
    return f"{arch}, {params / 1e6:.2f}M parameters" if params else arch


def corpus_words(run):
    data = os.path.join(run["out"], "data")
    return set(runlog.words(runlog.decode_shard(
        os.path.join(data, "train.bin"), os.path.join(data, "tokenizer.bin"))))


def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")


def run_lines(run, mode, res, vocab):
    folder = res["folder"]
    train, val = runlog.read_metrics(os.path.join(folder, "metrics.jsonl"))
    per_worker = [runlog.read_steps(log) for log in runlog.worker_logs(folder)]
    half = [rows[len(rows) // 2:] for rows in per_worker]  # the steady part
    tps = [mean([x["tokens_per_s"] for x in h]) for h in half]
    wait = [1000 * mean([x["pull_s"] for x in h]) for h in half]
    pushed, pulled = runlog.bytes_moved(folder)
    found, total = runlog.word_share("".join(res.get("generated", [])), vocab)
    tail = [v for _, v in train[-10:]]
    first = lambda xs: xs[0][1] if xs else float("nan")
    return [
        f"  {mode}: val loss {first(val):.3f} -> {val[-1][1] if val else float('nan'):.3f}, "
        f"train loss {first(train):.3f} -> {mean(tail):.3f} (last 10 steps), "
        f"{duration(res['train_s'])} of training",
        f"    tokens/s per worker {', '.join(f'{x:.0f}' for x in tps)} "
        f"({sum(tps):.0f} in all); sync wait (pull per step) "
        f"{', '.join(f'{x:.0f} ms' for x in wait)}",
        f"    moved {pushed / 1e9:.2f} GB of gradients and {pulled / 1e9:.2f} GB "
        f"of parameters; {res['cpu_s']:.0f} CPU-seconds in all, "
        f"{res['cpu_s'] / max(1, run['steps'] * run['workers']):.2f} per worker step",
        f"    words: {found} of {total} generated words "
        f"({found / max(1, total):.0%}) occur in the training corpus"]


def print_summary(run):
    vocab = corpus_words(run)
    first = next(iter(run["results"].values()))["folder"]
    modes = ", ".join(run["results"])
    print(f"\nDone in {duration(time.time() - run['started'])}: model "
          f"{model_line(first, run)}, {run['servers']} servers, {run['workers']} "
          f"workers, {modes}, {run['backend']}, {run['steps']} steps")
    for mode, res in run["results"].items():
        print("\n".join(run_lines(run, mode, res, vocab)))
    print(f"Run folder: {show(run['out'])}/")
    if len(run["results"]) > 1:
        print("  compare.png         loss against wall time of the three modes\n"
              "  sync/ async/ ssp/   each: loss.png, samples.txt, model.bin + "
              "model.safetensors,\n                      tokenizer.bin, "
              "metrics.jsonl, logs/")
        return
    for name, what in [
            ("loss.png", "loss vs step and wall time, tokens/s, sync wait"),
            ("samples.txt", "text generated after the prompts"),
            ("model.bin, model.safetensors", "the model (llm.c and Hugging Face layouts)"),
            ("tokenizer.bin", "its tokenizer"),
            ("metrics.jsonl", "worker 0's per-step metrics"),
            ("logs/", "every process's log; pids.txt lists their PIDs")]:
        print(f"  {name:<30}{what}")
    with open(os.path.join(first, "samples.txt"), encoding="utf-8") as f:
        sample = f.read().split("\n\n=== prompt")[0].splitlines()[1:13]
    print("First sample:\n" + "\n".join("  " + line for line in sample))
