#!/usr/bin/python3
"""PyTorch peer of `ps_bench --suite=worker`: times a GPT-2 training step
(forward, backward, AdamW over all parameters) on the CPU in float32.

Run with Debian's interpreter, which has python3-torch (1.13):

    /usr/bin/python3 tools/torch_step_bench.py --layers 4 --channels 256 \
        --heads 4 --seq_len 256 --vocab 256 --batch 8 --threads 2

The model is the one pserve trains (worker/model): learned positions,
pre-LayerNorm blocks (eps 1e-5), GELU (tanh), causal attention, tied token
embedding, GPT-2 init (std 0.02, residual projections 0.02/sqrt(2L), wpe
0.01). Prints one line per timed step and a final line of key=value pairs:
    TORCH tok_s=<median-step tokens/s> best_tok_s=... blas=<openblas|netlib|...>

With --serve, it warms up, prints `TORCH ready blas=... blas_path=...`, then
runs one timed step per `step` line on stdin, answering `STEP <seconds>`,
and one timed float32 product of two n x n matrices per `gemm <n>` line
(torch.mm, which is the BLAS's sgemm), answering `GEMM <seconds>`, until
`quit` or end of input: ps_bench alternates these with its own steps so
that both see the same machine load.
"""

import argparse
import math
import os
import statistics
import sys
import time


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--channels", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--seq_len", type=int, default=256)
    ap.add_argument("--vocab", type=int, default=256)
    ap.add_argument("--padded_vocab", type=int, default=0,
                    help="rows of wte (default: vocab rounded up to 128)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--blas_only", action="store_true",
                    help="print which BLAS torch loaded and exit")
    ap.add_argument("--serve", action="store_true",
                    help="after warmup, time one step per 'step' stdin line")
    return ap.parse_args()


ARGS = parse_args()
# OpenBLAS sizes its own pool from these when it loads, before torch runs.
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)
os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.threads)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def loaded_blas():
    """Which BLAS library the process has mapped after a float matmul:
    'openblas', 'netlib' (Debian's reference libblas), 'mkl', 'blis' or
    'unknown', plus the mapped path."""
    a = torch.ones(64, 64)
    _ = a @ a
    paths = set()
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and "/" in parts[5]:
                paths.add(parts[5])
    for p in sorted(paths):
        real = os.path.realpath(p)
        name = os.path.basename(real)
        if "openblas" in real:
            return "openblas", real
        if "mkl" in name:
            return "mkl", real
        if "blis" in name:
            return "blis", real
    for p in sorted(paths):
        real = os.path.realpath(p)
        if os.path.basename(real).startswith("libblas.so"):
            return "netlib", real
    return "unknown", ""


class Block(nn.Module):
    def __init__(self, C, NH):
        super().__init__()
        self.nh = NH
        self.ln1 = nn.LayerNorm(C, eps=1e-5)
        self.qkv = nn.Linear(C, 3 * C)
        self.attproj = nn.Linear(C, C)
        self.ln2 = nn.LayerNorm(C, eps=1e-5)
        self.fc = nn.Linear(C, 4 * C)
        self.fcproj = nn.Linear(4 * C, C)

    def forward(self, x, mask):
        B, T, C = x.shape
        hs = C // self.nh
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q = q.view(B, T, self.nh, hs).transpose(1, 2)
        k = k.view(B, T, self.nh, hs).transpose(1, 2)
        v = v.view(B, T, self.nh, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        att = att.masked_fill(mask[:T, :T], float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + self.attproj(y)
        h = F.gelu(self.fc(self.ln2(x)), approximate="tanh")
        return x + self.fcproj(h)


class Gpt(nn.Module):
    def __init__(self, L, C, NH, maxT, V, Vp):
        super().__init__()
        self.V = V
        self.wte = nn.Embedding(Vp, C)
        self.wpe = nn.Embedding(maxT, C)
        self.blocks = nn.ModuleList(Block(C, NH) for _ in range(L))
        self.lnf = nn.LayerNorm(C, eps=1e-5)
        self.register_buffer(
            "mask", ~torch.tril(torch.ones(maxT, maxT, dtype=torch.bool)))
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif "ln" in name:
                nn.init.ones_(p)
            elif name == "wpe.weight":
                nn.init.normal_(p, std=0.01)
            elif name.endswith("proj.weight"):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * L))
            else:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe.weight[:T]
        for block in self.blocks:
            x = block(x, self.mask)
        logits = self.lnf(x) @ self.wte.weight.T  # tied embedding, (B,T,Vp)
        return F.cross_entropy(logits[..., :self.V].reshape(-1, self.V),
                               targets.reshape(-1))


def timed_gemm(n, cache):
    """Seconds of one torch.mm of two n x n float32 matrices; the first call
    for an n allocates them and runs one untimed product."""
    if n not in cache:
        g = torch.Generator().manual_seed(42)
        a = torch.rand(n, n, generator=g) * 2 - 1
        b = torch.rand(n, n, generator=g) * 2 - 1
        cache[n] = (a, b, torch.mm(a, b))
    a, b, c = cache[n]
    t0 = time.perf_counter()
    torch.mm(a, b, out=c)
    return time.perf_counter() - t0


def serve(step):
    """Answers `step` and `gemm <n>` lines on stdin until anything else."""
    cache = {}
    for line in sys.stdin:
        words = line.split()
        if words == ["step"]:
            t0 = time.perf_counter()
            step()
            print(f"STEP {time.perf_counter() - t0:.6f}", flush=True)
        elif len(words) == 2 and words[0] == "gemm" and words[1].isdigit():
            print(f"GEMM {timed_gemm(int(words[1]), cache):.6f}", flush=True)
        else:
            break


def main():
    a = ARGS
    torch.set_num_threads(a.threads)
    blas, blas_path = loaded_blas()
    if a.blas_only:
        print(f"TORCH blas={blas} blas_path={blas_path}")
        return 0
    Vp = a.padded_vocab or (a.vocab + 127) // 128 * 128
    torch.manual_seed(1234)
    model = Gpt(a.layers, a.channels, a.heads, a.seq_len, a.vocab, Vp)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.999),
                            eps=1e-8, weight_decay=0.0)
    g = torch.Generator().manual_seed(5678)
    tokens = torch.randint(0, a.vocab, (a.batch, a.seq_len + 1), generator=g)
    inputs, targets = tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()

    def step():
        opt.zero_grad(set_to_none=False)
        loss = model(inputs, targets)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    if a.serve:
        print(f"TORCH ready blas={blas} blas_path={blas_path} "
              f"torch={torch.__version__} threads={torch.get_num_threads()}",
              flush=True)
        serve(step)
        return 0
    times = []
    for i in range(a.steps):
        t0 = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - t0)
        print(f"torch step {i} {times[-1] * 1e3:.1f} ms loss {loss:.4f}",
              file=sys.stderr)
    tokens_per_step = a.batch * a.seq_len
    print(f"TORCH tok_s={tokens_per_step / statistics.median(times):.1f} "
          f"best_tok_s={tokens_per_step / min(times):.1f} "
          f"blas={blas} blas_path={blas_path} "
          f"torch={torch.__version__} threads={torch.get_num_threads()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
