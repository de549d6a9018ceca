#!/usr/bin/python3
"""PyTorch reference for pserve's GPT-2 model (worker/model), and helpers to
evaluate and check models that pserve exports.

Run with Debian's interpreter, which has python3-torch (1.13):

    /usr/bin/python3 tests/reference/make_reference.py  # gpt_reference.bin
    /usr/bin/python3 tests/reference/make_reference.py eval MODEL.bin SHARD.bin
    /usr/bin/python3 tests/reference/make_reference.py check-export MODEL.bin

The model is GPT-2 exactly as pserve and llm.c compute it: learned absolute
positions, pre-LayerNorm blocks (eps 1e-5), GELU with the tanh approximation,
causal attention, tied token embedding (logits = lnf(x) @ wte^T over the
padded vocabulary; the loss uses the first V columns). Parameters are kept
in llm.c's layout (per-layer kinds stacked over layers, weights (out, in)),
so gradients come out in pserve's layout with no conversion. The reference
is computed in float64 from float32 weights and rounded to float32.

gpt_reference.bin (all little-endian; P = number of parameters):
    int32[16]   magic 20240913, version 1, B, T, maxT, V, Vp, L, NH, C,
                num_steps, then 5 zeros
    float32[8]  AdamW lr, beta1, beta2, eps, weight_decay, then 3 zeros
    int32[B*T]  inputs (B, T)
    int32[B*T]  targets (B, T)
    float32[P]  params, llm.c order: wte (Vp,C), wpe (maxT,C), ln1w (L,C),
                ln1b (L,C), qkvw (L,3C,C), qkvb (L,3C), attprojw (L,C,C),
                attprojb (L,C), ln2w (L,C), ln2b (L,C), fcw (L,4C,C),
                fcb (L,4C), fcprojw (L,C,4C), fcprojb (L,C), lnfw (C), lnfb (C)
    float32[B*T*Vp] logits (B, T, Vp)
    float32[1]  mean cross-entropy loss
    float32[P]  gradients of the loss, same order and layout as params
    float32[num_steps] losses of num_steps AdamW steps on the same batch:
                entry i is the loss with the parameters after i updates
                (entry 0 equals the loss above). torch.optim.AdamW semantics,
                weight decay applied to ALL parameters.
"""

import argparse
import json
import math
import struct
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REF_MAGIC = 20240913
REF_VERSION = 1
CKPT_MAGIC = 20240326
SHARD_MAGIC = 20240520

# The reference configuration: small enough that the file stays ~260 KB.
REF = dict(B=2, T=16, maxT=24, V=60, Vp=128, L=2, NH=4, C=32)
ADAMW = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1)
NUM_STEPS = 10
SEED = 1234


def tensor_shapes(maxT, V, Vp, L, NH, C):
    """(name, shape) of every parameter tensor, in llm.c order."""
    return [
        ("wte", (Vp, C)), ("wpe", (maxT, C)),
        ("ln1w", (L, C)), ("ln1b", (L, C)),
        ("qkvw", (L, 3 * C, C)), ("qkvb", (L, 3 * C)),
        ("attprojw", (L, C, C)), ("attprojb", (L, C)),
        ("ln2w", (L, C)), ("ln2b", (L, C)),
        ("fcw", (L, 4 * C, C)), ("fcb", (L, 4 * C)),
        ("fcprojw", (L, C, 4 * C)), ("fcprojb", (L, C)),
        ("lnfw", (C,)), ("lnfb", (C,)),
    ]


def forward(p, cfg, idx, targets=None):
    """Logits (B, T, Vp) and the mean loss (or None) for tokens idx (B, T)."""
    B, T = idx.shape
    C, NH, L, V = cfg["C"], cfg["NH"], cfg["L"], cfg["V"]
    hs = C // NH
    x = p["wte"][idx] + p["wpe"][:T]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(L):
        h = F.layer_norm(x, (C,), p["ln1w"][l], p["ln1b"][l], eps=1e-5)
        qkv = h @ p["qkvw"][l].T + p["qkvb"][l]
        q, k, v = qkv.split(C, dim=2)
        q = q.view(B, T, NH, hs).transpose(1, 2)
        k = k.view(B, T, NH, hs).transpose(1, 2)
        v = v.view(B, T, NH, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + y @ p["attprojw"][l].T + p["attprojb"][l]
        h = F.layer_norm(x, (C,), p["ln2w"][l], p["ln2b"][l], eps=1e-5)
        h = F.gelu(h @ p["fcw"][l].T + p["fcb"][l], approximate="tanh")
        x = x + h @ p["fcprojw"][l].T + p["fcprojb"][l]
    x = F.layer_norm(x, (C,), p["lnfw"], p["lnfb"], eps=1e-5)
    logits = x @ p["wte"].T
    loss = None
    if targets is not None:
        loss = F.cross_entropy(logits[..., :V].reshape(-1, V),
                               targets.reshape(-1))
    return logits, loss


def reference_weights(cfg):
    """Deterministic float32 weights, larger than GPT-2's init so that
    logits and gradients are O(1) and the comparison is meaningful."""
    g = torch.Generator().manual_seed(SEED)
    p = {}
    for name, shape in tensor_shapes(cfg["maxT"], cfg["V"], cfg["Vp"],
                                     cfg["L"], cfg["NH"], cfg["C"]):
        r = torch.randn(shape, generator=g, dtype=torch.float32)
        if name in ("ln1w", "ln2w", "lnfw"):
            t = 1.0 + 0.1 * r
        elif name.endswith("b"):
            t = 0.05 * r
        elif name in ("wte", "wpe"):
            t = 0.3 * r
        else:
            t = 0.1 * r
        p[name] = t
    return p


def make_reference(out_path):
    cfg = REF
    B, T, V = cfg["B"], cfg["T"], cfg["V"]
    torch.manual_seed(SEED)
    g = torch.Generator().manual_seed(SEED + 1)
    tokens = torch.randint(0, V, (B, T + 1), generator=g)
    inputs, targets = tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()
    p32 = reference_weights(cfg)
    p = {k: v.double().requires_grad_(True) for k, v in p32.items()}
    names = list(p.keys())

    logits, loss = forward(p, cfg, inputs, targets)
    loss.backward()
    grads = [p[k].grad.detach().clone() for k in names]

    opt = torch.optim.AdamW([p[k] for k in names], lr=ADAMW["lr"],
                            betas=(ADAMW["beta1"], ADAMW["beta2"]),
                            eps=ADAMW["eps"],
                            weight_decay=ADAMW["weight_decay"])
    step_losses = []
    for _ in range(NUM_STEPS):
        opt.zero_grad()
        _, l = forward(p, cfg, inputs, targets)
        step_losses.append(l.item())
        l.backward()
        opt.step()

    def f32(ts):
        return np.concatenate([t.detach().reshape(-1).float().numpy()
                               for t in ts]).astype("<f4")

    header = np.zeros(16, dtype="<i4")
    header[:11] = [REF_MAGIC, REF_VERSION, B, T, cfg["maxT"], V, cfg["Vp"],
                   cfg["L"], cfg["NH"], cfg["C"], NUM_STEPS]
    hyper = np.zeros(8, dtype="<f4")
    hyper[:5] = [ADAMW["lr"], ADAMW["beta1"], ADAMW["beta2"], ADAMW["eps"],
                 ADAMW["weight_decay"]]
    with open(out_path, "wb") as f:
        f.write(header.tobytes())
        f.write(hyper.tobytes())
        f.write(inputs.numpy().astype("<i4").tobytes())
        f.write(targets.numpy().astype("<i4").tobytes())
        f.write(f32([p32[k] for k in names]).tobytes())
        f.write(f32([logits]).tobytes())
        f.write(np.array([loss.item()], dtype="<f4").tobytes())
        f.write(f32(grads).tobytes())
        f.write(np.array(step_losses, dtype="<f4").tobytes())
    print(f"wrote {out_path}: loss {loss.item():.6f}, "
          f"AdamW losses {step_losses[0]:.6f} .. {step_losses[-1]:.6f}")


def load_llmc_checkpoint(path):
    """(cfg, params) from an llm.c fp32 checkpoint (magic 20240326, v3);
    params maps our tensor names to float32 tensors in llm.c layout."""
    data = Path(path).read_bytes()
    header = np.frombuffer(data[:1024], dtype="<i4")
    if header[0] != CKPT_MAGIC or header[1] != 3:
        raise ValueError(f"{path}: not an llm.c v3 checkpoint")
    maxT, V, L, NH, C, Vp = (int(x) for x in header[2:8])
    cfg = dict(maxT=maxT, V=V, L=L, NH=NH, C=C, Vp=Vp)
    flat = np.frombuffer(data[1024:], dtype="<f4")
    params, off = {}, 0
    for name, shape in tensor_shapes(maxT, V, Vp, L, NH, C):
        n = int(np.prod(shape))
        params[name] = torch.from_numpy(flat[off:off + n].copy()).view(shape)
        off += n
    if off != flat.size:
        raise ValueError(f"{path}: {flat.size} floats, expected {off}")
    return cfg, params


def load_token_shard(path):
    """uint16 tokens of an llm.c token shard (magic 20240520, version 1)."""
    data = Path(path).read_bytes()
    header = np.frombuffer(data[:1024], dtype="<i4")
    if header[0] != SHARD_MAGIC or header[1] != 1:
        raise ValueError(f"{path}: not an llm.c token shard")
    return np.frombuffer(data[1024:], dtype="<u2")[:int(header[2])]


@torch.no_grad()
def val_loss(checkpoint_path, shard_path, B=4, T=None, max_batches=20):
    """Mean loss of the exported model over consecutive (B, T+1) windows of
    the shard (as the worker's evaluation reads them)."""
    cfg, params = load_llmc_checkpoint(checkpoint_path)
    T = T or cfg["maxT"]
    tokens = torch.from_numpy(load_token_shard(shard_path).astype(np.int64))
    losses, pos = [], 0
    while len(losses) < max_batches and pos + B * T + 1 <= tokens.numel():
        buf = tokens[pos:pos + B * T + 1]
        x, y = buf[:-1].view(B, T), buf[1:].view(B, T)
        losses.append(forward(params, cfg, x, y)[1].item())
        pos += B * T
    if not losses:
        raise ValueError(f"{shard_path}: fewer than {B * T + 1} tokens")
    return sum(losses) / len(losses)


def load_safetensors(path):
    """name -> float32 tensor from a safetensors file (F32 only)."""
    data = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, e in header.items():
        assert e["dtype"] == "F32", name
        b, end = e["data_offsets"]
        a = np.frombuffer(data[8 + n + b:8 + n + end], dtype="<f4")
        out[name] = torch.from_numpy(a.copy()).view(e["shape"])
    return out


def check_export(checkpoint_path):
    """Checks that the safetensors beside an llm.c checkpoint holds the same
    weights under Hugging Face GPT-2 names and layouts. Returns 0 if so."""
    cfg, p = load_llmc_checkpoint(checkpoint_path)
    st_path = Path(checkpoint_path).with_suffix(".safetensors")
    st = load_safetensors(str(st_path))
    want = {"wte.weight": p["wte"][:cfg["V"]], "wpe.weight": p["wpe"],
            "ln_f.weight": p["lnfw"], "ln_f.bias": p["lnfb"]}
    for i in range(cfg["L"]):
        h = f"h.{i}."
        want.update({
            h + "ln_1.weight": p["ln1w"][i], h + "ln_1.bias": p["ln1b"][i],
            h + "attn.c_attn.weight": p["qkvw"][i].T,
            h + "attn.c_attn.bias": p["qkvb"][i],
            h + "attn.c_proj.weight": p["attprojw"][i].T,
            h + "attn.c_proj.bias": p["attprojb"][i],
            h + "ln_2.weight": p["ln2w"][i], h + "ln_2.bias": p["ln2b"][i],
            h + "mlp.c_fc.weight": p["fcw"][i].T,
            h + "mlp.c_fc.bias": p["fcb"][i],
            h + "mlp.c_proj.weight": p["fcprojw"][i].T,
            h + "mlp.c_proj.bias": p["fcprojb"][i]})
    bad = sorted(set(want) ^ set(st))
    bad += [k for k in want if k in st and not torch.equal(want[k], st[k])]
    print("safetensors OK" if not bad else f"safetensors mismatch: {bad}")
    return 0 if not bad else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd")
    gen = sub.add_parser("generate", help="write the reference file (default)")
    gen.add_argument("--out", default=str(Path(__file__).with_name(
        "gpt_reference.bin")))
    ev = sub.add_parser("eval", help="val loss of an exported model")
    ev.add_argument("checkpoint")
    ev.add_argument("shard")
    ev.add_argument("--batch", type=int, default=4)
    ev.add_argument("--seq", type=int, default=0)
    ev.add_argument("--max_batches", type=int, default=20)
    ce = sub.add_parser("check-export", help="compare .bin and .safetensors")
    ce.add_argument("checkpoint")
    args = ap.parse_args()
    if args.cmd == "eval":
        loss = val_loss(args.checkpoint, args.shard, args.batch,
                        args.seq or None, args.max_batches)
        print(f"val_loss {loss:.6f}")
        return 0
    if args.cmd == "check-export":
        return check_export(args.checkpoint)
    make_reference(getattr(args, "out", str(Path(__file__).with_name(
        "gpt_reference.bin"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
