#!/usr/bin/python3
"""Plots of a demo run, drawn with matplotlib's Agg backend. Single-threaded.

  plot.py loss --run DIR --out loss.png [--title TEXT]
      four panels: train and validation loss against step, loss against
      wall time, tokens/s of each worker, and each worker's sync wait (pull
      time per step, which in sync mode includes waiting for the slowest
      worker); the bytes pushed and pulled in the title.
  plot.py compare --run DIR --label TEXT [--run ... --label ...] --out compare.png
      the train loss of several runs (sync, async, ssp) against wall time.
  plot.py check FILE.png
      exits 0 if FILE.png is a PNG that matplotlib decodes (smoke test).

DIR is a run folder: metrics.jsonl (worker 0) and logs/worker-<r>.log,
logs/server-<i>.log as ps_launch writes them.
"""
import argparse
import json
import os
import sys

import runlog
import settings

os.environ.setdefault("MPLBACKEND", "Agg")


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def smooth(values, half):
    """Centred means over 2*half+1 points (shorter at the ends)."""
    out = []
    for i in range(len(values)):
        w = values[max(0, i - half):i + half + 1]
        out.append(sum(w) / len(w))
    return out


def loss_panels(axes, run):
    train, val = runlog.read_metrics(os.path.join(run, "metrics.jsonl"))
    (a_step, a_time), logs = axes, runlog.worker_logs(run)
    if train:
        steps, losses = zip(*train)
        a_step.plot(steps, losses, color="tab:blue", alpha=0.25, lw=1,
                    label="train (worker 0)")
        a_step.plot(steps, smooth(losses, max(1, len(train) // 60)),
                    color="tab:blue", lw=2, label="train, smoothed")
    if val:
        a_step.plot(*zip(*val), color="tab:orange", marker="o", ms=4, lw=2,
                    label="validation")
    a_step.set(xlabel="step", ylabel="loss (nats per token)")
    for r, log in enumerate(logs):
        rows = runlog.read_steps(log)
        if rows:
            a_time.plot([x["t"] for x in rows],
                        smooth([x["loss"] for x in rows], 5), lw=1.5,
                        label=f"worker {r}")
    a_time.set(xlabel="wall time since the first step (s)",
               ylabel="train loss, smoothed")
    return bool(train or val)


def rate_panels(axes, run):
    a_rate, a_wait = axes
    for r, log in enumerate(runlog.worker_logs(run)):
        rows = runlog.read_steps(log)
        if not rows:
            continue
        steps = [x["step"] for x in rows]
        a_rate.plot(steps, smooth([x["tokens_per_s"] for x in rows], 5),
                    lw=1.5, label=f"worker {r}")
        a_wait.plot(steps, smooth([1000 * x["pull_s"] for x in rows], 5),
                    lw=1.5, label=f"worker {r}")
    a_rate.set(xlabel="step", ylabel="tokens/s per worker")
    a_wait.set(xlabel="step", ylabel="sync wait: pull ms per step")


def default_title(run):
    """The settings of the demo run in `run` (its run.json is there or one
    folder up, for the modes of --compare-modes)."""
    for where, mode in ((run, None), (os.path.dirname(run), os.path.basename(run))):
        path = os.path.join(where, "run.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                cfg = json.load(f)
            return "pserve: " + settings.describe(cfg, mode or cfg["modes"][0])
    return "pserve training"


def cmd_loss(args):
    plt = pyplot()
    fig, ax = plt.subplots(2, 2, figsize=(11, 7.5), dpi=100)
    if not loss_panels((ax[0][0], ax[0][1]), args.run):
        sys.exit(f"plot.py: no train or val records in {args.run}/metrics.jsonl")
    rate_panels((ax[1][0], ax[1][1]), args.run)
    pushed, pulled = runlog.bytes_moved(args.run)
    fig.suptitle(f"{args.title or default_title(args.run)}\ngradients pushed {pushed / 1e9:.2f} GB, "
                 f"parameters pulled {pulled / 1e9:.2f} GB", fontsize=11)
    for a in ax.flat:
        a.grid(True, alpha=0.3)
        if a.get_legend_handles_labels()[0]:
            a.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"plot.py: wrote {args.out}")


def cmd_compare(args):
    if len(args.run) != len(args.label):
        sys.exit("plot.py: give one --label per --run")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=110)
    drawn = 0
    for run, label in zip(args.run, args.label):
        rows = runlog.read_steps(os.path.join(run, "logs", "worker-0.log"))
        if not rows:
            print(f"plot.py: no step lines in {run}; skipped", file=sys.stderr)
            continue
        ax.plot([x["t"] for x in rows], smooth([x["loss"] for x in rows], 5),
                lw=2, label=label)
        drawn += 1
    if not drawn:
        sys.exit("plot.py: nothing to compare")
    ax.set(title=args.title, xlabel="wall-clock time since the first step (s)",
           ylabel="train loss of worker 0, smoothed")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"plot.py: wrote {args.out}")


def cmd_check(args):
    with open(args.png, "rb") as f:
        if f.read(8) != b"\x89PNG\r\n\x1a\n":
            sys.exit(f"plot.py: {args.png} does not start with the PNG signature")
    pyplot()
    import matplotlib.image as mpimg

    img = mpimg.imread(args.png)
    if img.ndim != 3 or img.shape[0] < 100 or img.shape[1] < 100:
        sys.exit(f"plot.py: {args.png} decodes to an odd shape {img.shape}")
    print(f"plot.py: {args.png} decodes: {img.shape[1]}x{img.shape[0]}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("loss")
    a.add_argument("--run", required=True)
    a.add_argument("--out", required=True)
    a.add_argument("--title", help="default: the run's settings (run.json)")
    a.set_defaults(func=cmd_loss)
    c = sub.add_parser("compare")
    c.add_argument("--run", action="append", required=True)
    c.add_argument("--label", action="append", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--title", default="loss by consistency mode")
    c.set_defaults(func=cmd_compare)
    k = sub.add_parser("check")
    k.add_argument("png")
    k.set_defaults(func=cmd_check)
    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
