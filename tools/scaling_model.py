#!/usr/bin/env python3
"""Analytic model of a synchronous pserve job on a cluster.

Predicts step time, throughput and scaling efficiency for W workers and S
servers from per-operation costs measured on one machine (docs/benchmarks.md)
and a link speed. Pure function of its flags; no shared state.
Usage: tools/scaling_model.py [--table] [--check_byteps] [flags...]
"""
import argparse
import sys

GBIT = 1e9 / 8  # bytes per second in one Gb/s


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--params", type=float, default=124_475_904,
                   help="model parameters (default GPT-2 124M)")
    p.add_argument("--wire_bytes", type=float, default=4,
                   help="bytes per gradient/parameter on the wire (4 fp32, 2 bf16)")
    p.add_argument("--conn_gbps", type=float, default=1.9,
                   help="push+pull GB/s one client reaches through pserve's "
                        "software path (measured on loopback: 1.7-1.9)")
    p.add_argument("--sum_gbps", type=float, default=31.0,
                   help="server memory bandwidth per core for summing pushes "
                        "(measured memcpy, one thread: 31 GB/s)")
    p.add_argument("--update_gbps", type=float, default=42.0,
                   help="server AdamW throughput per core, 28 bytes/param "
                        "(measured: 42 GB/s)")
    p.add_argument("--server_cores", type=int, default=8)
    p.add_argument("--compute_s", type=float, default=0.30,
                   help="worker forward+backward seconds per step (assumed; "
                        "see docs/scaling.md)")
    p.add_argument("--backward_share", type=float, default=2 / 3,
                   help="share of compute that is backward (push overlaps it)")
    p.add_argument("--overlap_pull", action="store_true",
                   help="model the next step's pull overlapped with forward")
    p.add_argument("--table", action="store_true", help="print the grid")
    p.add_argument("--check_byteps", action="store_true",
                   help="compare with BytePS's published scaling")
    args = p.parse_args(argv)
    for name in ("params", "wire_bytes", "conn_gbps", "sum_gbps",
                 "update_gbps", "compute_s"):
        if getattr(args, name) <= 0:
            p.error(f"--{name} must be > 0")
    if not 0 <= args.backward_share <= 1:
        p.error("--backward_share must be in [0, 1]")
    return args


def step_time(a, workers, servers, link_gbit):
    """Seconds per synchronous step and its parts, for one configuration."""
    model = a.params * a.wire_bytes  # bytes one worker pushes and pulls
    link = link_gbit * GBIT
    worker_bw = min(link, a.conn_gbps * 1e9)
    # Each server receives every worker's share of its keys, and sends it.
    per_server = workers * model / servers
    server_bw = min(link, a.conn_gbps * 1e9 * workers)
    push = max(model / worker_bw, per_server / server_bw)
    pull = push  # the same bytes the other way
    shard = a.params / servers  # parameters one server owns
    cores = a.server_cores
    aggregate = workers * shard * 12 / (a.sum_gbps * 1e9 * cores)
    update = shard * 28 / (a.update_gbps * 1e9 * cores)
    backward = a.compute_s * a.backward_share
    forward = a.compute_s - backward
    exposed_push = max(0.0, push - backward)
    exposed_pull = max(0.0, pull - forward) if a.overlap_pull else pull
    total = a.compute_s + exposed_push + aggregate + update + exposed_pull
    return total, dict(push=push, pull=pull, aggregate=aggregate,
                       update=update)


def efficiency(a, workers, servers, link_gbit):
    total, _ = step_time(a, workers, servers, link_gbit)
    return a.compute_s / total


def print_table(a):
    links = (10, 25, 100)
    print(f"model {a.params / 1e6:.0f}M params x {a.wire_bytes:g} B, "
          f"compute {a.compute_s * 1e3:.0f} ms/step, "
          f"pull overlap {'on' if a.overlap_pull else 'off'}")
    print("workers servers " + " ".join(f"{l:>4d}Gb/s eff  steps/s"
                                        for l in links))
    for workers in (8, 16, 32, 64, 128, 256):
        for servers in (2, 8, 16, 64):
            if servers > workers * 2:
                continue
            row = []
            for link in links:
                total, _ = step_time(a, workers, servers, link)
                row.append(f"{a.compute_s / total:13.2f} {1 / total:8.2f}")
            print(f"{workers:7d} {servers:7d} " + " ".join(row))


def check_byteps(a):
    """BytePS reports ~90% scaling at 256 GPUs over 100 Gb/s RDMA, 8 GPUs a
    machine with local NVLink reduction: 32 network workers, one server per
    machine, and an RDMA path that runs at the link's speed."""
    b = argparse.Namespace(**vars(a))
    b.conn_gbps = 100 * GBIT / 1e9
    b.wire_bytes = 2  # fp16 gradients
    b.overlap_pull = True
    lo, hi = 1e-3, 10.0
    for _ in range(60):  # bisect the compute time that gives 90%
        mid = (lo + hi) / 2
        b.compute_s = mid
        lo, hi = (mid, hi) if efficiency(b, 32, 32, 100) < 0.9 else (lo, mid)
    print(f"BytePS setting (32 machines x 8 GPUs, 32 servers, 100 Gb/s, fp16,"
          f" push and pull overlapped): 90% needs compute >= {hi * 1e3:.0f} ms"
          f" per step for a {a.params / 1e6:.0f}M model")
    today = argparse.Namespace(**vars(b))
    today.conn_gbps = a.conn_gbps
    today.compute_s = hi
    print(f"  the same compute through today's {a.conn_gbps} GB/s software "
          f"path: {efficiency(today, 32, 32, 100):.2f}")
    ring = 2 * 31 / 32
    print(f"bandwidth: a PS worker sends M and receives M; ring all-reduce "
          f"sends and receives {ring:.3f} M per link at n=32, so with S >= W "
          f"server links a PS moves {1 / ring:.2f}x the all-reduce's bytes")


def main(argv):
    a = parse_args(argv)
    if not (a.table or a.check_byteps):
        a.table = a.check_byteps = True
    if a.table:
        print_table(a)
    if a.check_byteps:
        check_byteps(a)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
