"""The demo's training settings, in one place: per demo model, the worker's
model flags, batch, context, steps, learning rate, tokenizer and sampling
length, and the optimizer flags every server gets. docs/training.md shows
how they were chosen. Constants only.
"""

# Server flags of every demo run (beyond optimizer, lr and the schedule).
TRAIN = {"server_flags": ["--beta2=0.99", "--weight_decay=0.1", "--log_level=info"]}

MODELS = {
    # The default: 4 layers, 128 channels, context 128, on BPE-1024 tokens.
    "small": {"worker_flags": ["--model=small", "--channels=128", "--max_seq_len=128"],
              "batch": 16, "seq": 128, "max_seq": 128, "steps": 1000, "lr": 3e-3,
              "bpe": 1024, "eval_batches": 8, "max_tokens": 120, "samples": 10},
    "tiny": {"worker_flags": ["--model=tiny"], "batch": 8, "seq": 64, "max_seq": 64,
             "steps": 60, "lr": 1e-3, "bpe": 0, "eval_batches": 8, "max_tokens": 80,
             "samples": 1},
    "gpt2-124m": {"worker_flags": ["--model=gpt2-124m"], "batch": 4, "seq": 1024,
                  "max_seq": 1024, "steps": 50, "lr": 6e-4, "bpe": 0,
                  "eval_batches": 4, "max_tokens": 160, "samples": 1},
}

# "samples": per prompt, each with its own seed (a fortune often ends after
# a line, and the word share needs a few hundred words to mean something).
PROMPTS = ["The meaning of life is", "Q: What do you get when you cross",
           "Never trust a"]
# Cooler than the usual 0.8 / top-k 40: the small model's text reads as
# words far more often (docs/training.md, "The demo's settings").
SAMPLING = ["--temperature=0.5", "--top_k=10"]


def describe(run, mode):
    """One line: the cluster and training settings of a run in `mode`."""
    s = f" (s={run['staleness']})" if mode == "ssp" else ""
    return (f"{run['model']} on {run['servers']} server(s) x {run['workers']} "
            f"worker(s), {mode}{s}, {run['optimizer']} lr {run['lr']:g}, "
            f"batch {run['batch']} x {run['seq']} tokens per worker, "
            f"{run['steps']} steps, {run['threads']} thread(s) per worker")
