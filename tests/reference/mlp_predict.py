#!/usr/bin/env python3
"""Reproduces an exported pserve MLP's validation predictions with PyTorch
from the safetensors file alone: reads the raw CSV, takes the validation
rows exactly as ps_prepare chose them (splitmix64 Fisher-Yates from --seed,
docs/formats.md), applies input_mean / input_std from the file, runs
fc1 -> act -> fc2 -> ... and prints
  val_loss <x> val_accuracy <a>     (classification)
  val_loss <x> val_r2 <r>           (regression; loss in normalised units)
Usage: mlp_predict.py MODEL.safetensors DATA.csv --target=COL
  [--val_fraction=0.2] [--seed=0] [--activation=relu] [--loss=cross_entropy]
Needs /usr/bin/python3 with torch (Debian's python3-torch).
"""
import argparse
import csv
import json
import struct

import torch

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, bound):
        limit = MASK - MASK % bound
        while True:
            x = self.next()
            if x < limit:
                return x % bound


def val_rows(n, fraction, seed):
    order = list(range(n))
    rng = SplitMix64(seed)
    for i in range(n, 1, -1):
        j = rng.below(i)
        order[i - 1], order[j] = order[j], order[i - 1]
    return order[:int(fraction * n)]


def load_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        data = torch.frombuffer(bytearray(blob[8 + n + b:8 + n + e]),
                                dtype=torch.float32)
        out[name] = data.reshape(t["shape"])
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("csv")
    p.add_argument("--target", required=True)
    p.add_argument("--val_fraction", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--activation", default="relu")
    p.add_argument("--loss", default="cross_entropy")
    a = p.parse_args()
    with open(a.csv, newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    header, body = rows[0], rows[1:]
    t = header.index(a.target)
    pick = val_rows(len(body), a.val_fraction, a.seed)
    x = torch.tensor([[float(v) for i, v in enumerate(body[r]) if i != t]
                      for r in pick], dtype=torch.float32)
    y = torch.tensor([float(body[r][t]) for r in pick], dtype=torch.float64)
    m = load_safetensors(a.model)
    act = {"relu": torch.relu, "sigmoid": torch.sigmoid,
           "tanh": torch.tanh}[a.activation]
    h = (x - m["input_mean"]) / m["input_std"]
    layers = sum(1 for k in m if k.endswith(".weight"))
    for i in range(1, layers + 1):
        h = h @ m[f"fc{i}.weight"].T + m[f"fc{i}.bias"]
        if i < layers:
            h = act(h)
    h = h.double()
    if "target_mean" in m:
        pred = h[:, 0] * m["target_std"].double() + m["target_mean"].double()
        yn = (y - m["target_mean"].double()) / m["target_std"].double()
        loss = torch.mean((h[:, 0] - yn) ** 2)
        r2 = 1 - torch.sum((pred - y) ** 2) / torch.sum((y - y.mean()) ** 2)
        print(f"val_loss {loss.item():.6f} val_r2 {r2.item():.6f}")
        return
    labels = sorted(set(float(r[t]) for r in body))
    yi = torch.tensor([labels.index(v) for v in y.tolist()])
    if a.loss == "hinge":
        s_y = h.gather(1, yi[:, None])
        margins = torch.clamp(1 + h - s_y, min=0)
        margins.scatter_(1, yi[:, None], 0)
        loss = margins.sum(1).mean()
    else:
        loss = torch.nn.functional.cross_entropy(h, yi)
    acc = (h.argmax(1) == yi).double().mean()
    print(f"val_loss {loss.item():.6f} val_accuracy {acc.item():.6f}")


if __name__ == "__main__":
    main()
