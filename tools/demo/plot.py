#!/usr/bin/python3
"""Plots for tools/demo.sh, drawn with matplotlib's Agg backend.

  plot.py loss --metrics FILE --out loss.png --title TEXT
      train loss (raw and smoothed) and validation loss against step.
  plot.py compare --metrics FILE --label TEXT [--metrics ... --label ...] --out compare.png
      the validation curves of several runs on one plot.
  plot.py check FILE.png
      exits 0 if FILE.png is a PNG that matplotlib decodes (used by the smoke test).
  plot.py stats FILE
      prints key=value lines: steps, first/last train and val loss, tokens/s.

FILE is a metrics.jsonl written by ps_worker --metrics_file: one JSON object
per line, {"kind": "train", "step", "loss", ...} or {"kind": "val", "step",
"val_loss", ...}. Lines that do not parse are skipped.
"""
import argparse
import json
import math
import os
import sys

os.environ.setdefault("MPLBACKEND", "Agg")


def read_metrics(path):
    train, val = {}, {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            kind = rec.get("kind")
            step = rec.get("step")
            if step is None:
                continue
            if kind == "train" and _finite(rec.get("loss")):
                train[int(step)] = float(rec["loss"])
            elif kind == "val" and _finite(rec.get("val_loss")):
                val[int(step)] = float(rec["val_loss"])
    return sorted(train.items()), sorted(val.items())


def _finite(x):
    return isinstance(x, (int, float)) and math.isfinite(x)


def centered_mean(values, half):
    """Means over windows of 2*half+1 points, one per point that has a full
    window (the points from half to len-half-1): centred, so no lag."""
    return [sum(values[i - half:i + half + 1]) / (2 * half + 1)
            for i in range(half, len(values) - half)]


def new_axes(title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=110)
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy loss (nats per token)")
    ax.grid(True, alpha=0.3)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return plt, fig, ax


def cmd_loss(args):
    train, val = read_metrics(args.metrics)
    if not train and not val:
        sys.exit(f"plot.py: no train or val records in {args.metrics}")
    plt, fig, ax = new_axes(args.title)
    if train:
        steps = [s for s, _ in train]
        losses = [v for _, v in train]
        ax.plot(steps, losses, color="tab:blue", alpha=0.25, linewidth=1,
                label="train loss (per step)")
        half = max(1, len(train) // 60)
        if len(train) > 2 * half + 2:
            ax.plot(steps[half:len(steps) - half], centered_mean(losses, half),
                    color="tab:blue",
                    linewidth=2, label=f"train loss (mean of {2 * half + 1} steps)")
    if val:
        ax.plot([s for s, _ in val], [v for _, v in val], color="tab:orange",
                marker="o", markersize=4, linewidth=2, label="validation loss")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"plot.py: wrote {args.out}")


def cmd_compare(args):
    plt, fig, ax = new_axes(args.title)
    drawn = 0
    if len(args.metrics) != len(args.label):
        sys.exit("plot.py: give one --label per --metrics")
    for path, label in zip(args.metrics, args.label):
        _, val = read_metrics(path)
        if not val:
            print(f"plot.py: no validation records in {path}; skipped",
                  file=sys.stderr)
            continue
        ax.plot([s for s, _ in val], [v for _, v in val], marker="o",
                markersize=4, linewidth=2, label=label)
        drawn += 1
    if not drawn:
        sys.exit("plot.py: nothing to compare")
    ax.set_ylabel("validation loss (nats per token)")
    ax.set_xlabel("step (of each worker)")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"plot.py: wrote {args.out}")


def cmd_check(args):
    with open(args.png, "rb") as f:
        if f.read(8) != b"\x89PNG\r\n\x1a\n":
            sys.exit(f"plot.py: {args.png} does not start with the PNG signature")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg

    img = mpimg.imread(args.png)
    if img.ndim != 3 or img.shape[0] < 100 or img.shape[1] < 100:
        sys.exit(f"plot.py: {args.png} decodes to an odd shape {img.shape}")
    print(f"plot.py: {args.png} decodes: {img.shape[1]}x{img.shape[0]}")


def cmd_stats(args):
    train, val = read_metrics(args.metrics)
    rates = []
    with open(args.metrics, encoding="utf-8") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("kind") == "train" and _finite(rec.get("tokens_per_s")):
                rates.append(float(rec["tokens_per_s"]))
    tail = [v for _, v in train[-10:]]
    out = {
        "last_step": train[-1][0] if train else 0,
        "first_train_loss": train[0][1] if train else float("nan"),
        "last_train_loss": train[-1][1] if train else float("nan"),
        "last10_train_loss": sum(tail) / len(tail) if tail else float("nan"),
        "first_val_step": val[0][0] if val else 0,
        "first_val_loss": val[0][1] if val else float("nan"),
        "last_val_step": val[-1][0] if val else 0,
        "last_val_loss": val[-1][1] if val else float("nan"),
        "val_points": len(val),
        # The steady rate: the median over the second half of the run.
        "tokens_per_s": sorted(rates[len(rates) // 2:])[
            len(rates[len(rates) // 2:]) // 2] if rates else float("nan"),
    }
    for k, v in out.items():
        print(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("loss")
    a.add_argument("--metrics", required=True)
    a.add_argument("--out", required=True)
    a.add_argument("--title", default="training loss")
    a.set_defaults(func=cmd_loss)
    c = sub.add_parser("compare")
    c.add_argument("--metrics", action="append", required=True)
    c.add_argument("--label", action="append", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--title", default="validation loss by consistency mode")
    c.set_defaults(func=cmd_compare)
    k = sub.add_parser("check")
    k.add_argument("png")
    k.set_defaults(func=cmd_check)
    t = sub.add_parser("stats")
    t.add_argument("metrics")
    t.set_defaults(func=cmd_stats)
    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
