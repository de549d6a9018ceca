#!/usr/bin/python3
"""tools/demo.sh --textbook: the textbook's worked example as a demo run.

The chapter's classifier (here 13 -> 10 -> 5 -> 3, ReLU, cross-entropy, as
wine has 13 features) trained by 4 workers in sync mode with SGD and
momentum 0.9 through ps_launch, each worker on its own shard of every
global batch; then the validation accuracy and the global loss.
  textbook.py RUN    (after demo.py init and the build; RUN/bin holds them)
Single-threaded; SIGINT and SIGTERM are passed on to ps_launch.
"""
import os
import re
import signal
import sys
import time

import demo

SERVER_FLAGS = ["--optimizer=momentum", "--momentum=0.9", "--lr=0.05",
                "--log_level=info"]
WORKER_FLAGS = ["--model=mlp", "--hidden=10,5", "--activation=relu",
                "--loss=cross_entropy", "--init=xavier", "--batch_size=8",
                "--threads=1", "--connect_timeout=30"]


def prepare(run):
    """Wine's CSV (or --data's) into train.tab / val.tab in RUN/data."""
    data = run["data"]
    dst = os.path.join(run["out"], "data")
    os.makedirs(dst, exist_ok=True)
    log = os.path.join(run["out"], "logs", "prepare.log")
    demo.run_logged([os.path.join(run["out"], "bin", "ps_prepare"),
                     f"--input={data}", "--target=target", f"--out_dir={dst}",
                     f"--seed={run['seed']}"], log, 120, run)
    with open(log, encoding="utf-8") as f:
        print("      " + f.read().strip().replace(run["out"] + "/", ""))
    return dst


def launch_argv(run, data):
    b, out = os.path.join(run["out"], "bin"), run["out"]
    steps = run["steps"]
    return ([f"{b}/ps_launch", f"--servers={run['servers']}",
             f"--workers={run['workers']}", "--mode=sync",
             f"--log_dir={out}/logs", f"--pid_file={out}/pids.txt",
             f"--server_binary={b}/ps_server", "--stream=false",
             f"--progress_every={run['progress_every']}",
             f"--timeout={run['timeout']}"] + SERVER_FLAGS +
            ["--", f"{b}/ps_worker", f"--data={data}/train.tab",
             f"--val_data={data}/val.tab", f"--steps={steps}",
             f"--seed={run['seed']}", f"--eval_every={max(1, steps // 3)}",
             f"--log_every={max(1, steps // 15)}",
             f"--metrics_file={out}/metrics.jsonl",
             f"--export={out}/model.safetensors"] + WORKER_FLAGS)


def result(run):
    """The key=value pairs of rank 0's RESULT line."""
    with open(os.path.join(run["out"], "logs", "worker-0.log"),
              encoding="utf-8", errors="replace") as f:
        lines = [l for l in f if l.startswith("RESULT ")]
    if not lines:
        demo.fail("worker 0 printed no RESULT line", run)
    return dict(kv.split("=", 1) for kv in lines[-1].split()[1:] if "=" in kv)


def main(out):
    run = demo.load(out)
    t0 = time.time()
    print(f"[3/4] data: ps_prepare on {os.path.relpath(run['data'], demo.ROOT)}")
    data = prepare(run)
    print(f"[4/4] train: ps_launch, {run['servers']} server(s) x "
          f"{run['workers']} workers, sync, SGD momentum 0.9, "
          "13 -> 10 -> 5 -> 3 ReLU, cross-entropy")
    rc, _ = demo.launch(launch_argv(run, data))
    if rc in (128 + signal.SIGINT, 128 + signal.SIGTERM):
        sys.exit(rc)
    if rc != 0:
        demo.fail(f"training ended with status {rc}", run)
    r = result(run)
    print(f"Done in {time.time() - t0:.0f}s: val_accuracy {float(r['val_accuracy']):.3f}, "
          f"val_loss {float(r['val_loss']):.4f}, global training loss "
          f"{float(r.get('global_loss', 'nan')):.4f} after {r['step']} steps")
    print(f"Run folder: {os.path.relpath(out, demo.ROOT) if out.startswith(demo.ROOT) else out}/"
          "  model.safetensors (the trained MLP with its normalisation), "
          "metrics.jsonl, logs/")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: textbook.py RUN")
    main(os.path.abspath(sys.argv[1]))
