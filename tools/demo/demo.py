#!/usr/bin/python3
"""The steps of tools/demo.sh after setup and build, one subcommand each:

  demo.py init [demo options]   check the options, make the run folder and
                                write run.json; prints the folder and the
                                requested backend (two lines)
  demo.py data RUN              token shards (ps_prepare) into RUN/data
  demo.py train RUN BACKEND     ps_launch: servers and workers, per mode
  demo.py samples RUN           ps_generate after three prompts: samples.txt
  demo.py summary RUN           losses, speed, sync wait, bytes, word share

A bad option exits 2 with one line. Single-threaded; while ps_launch runs,
SIGINT and SIGTERM are passed on to it, and it stops what it started.
"""
import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time

import runlog
from settings import MODELS, PROMPTS, SAMPLING, TRAIN, describe

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FORTUNES = "/usr/share/games/fortunes"
WINE = os.path.join(ROOT, "tests", "data", "wine.csv")  # --textbook's data
TEXTBOOK_STEPS = 150  # tools/demo/textbook.py


class Parser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write(f"demo.sh: {message}\n"
                         "Run tools/demo.sh --help for the options.\n")
        sys.exit(2)


def positive(lo, hi):
    def check(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number")
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{v} is not in [{lo}, {hi}]")
        return v
    return check


def options_parser():
    p = Parser(prog="tools/demo.sh", description=(
        "Trains a small GPT-2-style model on Debian's fortune cookies with a "
        "local parameter-server cluster (ps_launch: servers and workers on "
        "loopback), then plots, samples and summarises."))
    a = p.add_argument
    a("--servers", type=positive(1, 64), default=2, help="parameter servers (2)")
    a("--workers", type=positive(1, 64), help="workers (2; 4 with --textbook)")
    a("--mode", choices=["sync", "async", "ssp"], help="consistency mode (sync)")
    a("--staleness", type=positive(0, 10**6), help="ssp: clocks ahead (2)")
    a("--compare-modes", action="store_true",
      help="train in sync, async and ssp in turn; compare.png plots their "
           "loss against wall time")
    a("--textbook", action="store_true",
      help="the textbook's worked example instead: a 13-10-5-3 ReLU MLP on "
           "wine, 4 workers, sync SGD with momentum 0.9; prints its accuracy")
    a("--model", choices=sorted(MODELS), default="small", help="demo model (small)")
    a("--steps", type=positive(1, 10**8), help="steps (default: the model's)")
    a("--optimizer", choices=["sgd", "momentum", "adam", "adamw"], default="adamw")
    a("--lr", type=float, help="peak learning rate (default: the model's)")
    a("--batch-size", type=positive(1, 65536), help="sequences per worker per step")
    a("--seq-len", type=positive(1, 1024), help="tokens per sequence")
    a("--threads", type=positive(1, 256), default=1, help="threads per CPU worker (1)")
    a("--eval-every", type=positive(1, 10**8), help="steps between evaluations")
    a("--seed", type=positive(0, 2**31 - 1), default=1, help="model and data seed (1)")
    a("--backend", choices=["auto", "cpu", "cuda"], default="auto")
    a("--data", help=f"text file or folder, or prepared shards ({FORTUNES})")
    a("--bpe", type=positive(0, 65536), help="BPE vocabulary (0: bytes; default: the model's)")
    a("--out", help="run folder, new or empty (runs/<date>-<time>/)")
    a("--progress-every", type=positive(1, 3600), default=10,
      help="seconds between progress lines when not on a terminal (10)")
    a("--timeout", type=positive(10, 604800), default=3600,
      help="give up on a training run after this many seconds (3600)")
    return p


def cmd_init(argv):
    o = vars(options_parser().parse_args(argv))
    p = options_parser()
    if o["textbook"] and (o["compare_modes"] or o["mode"] not in (None, "sync")):
        p.error("--textbook trains in sync mode; drop --compare-modes / --mode")
    if o["compare_modes"] and o["mode"]:
        p.error(f"--compare-modes runs sync, async and ssp in turn; drop --mode {o['mode']}")
    if o["staleness"] is not None and not o["compare_modes"] and o["mode"] != "ssp":
        p.error("--staleness applies to --mode ssp only")
    if o["lr"] is not None and not 0 < o["lr"] <= 10:
        p.error(f"--lr wants a number in (0, 10], got {o['lr']}")
    m = MODELS[o["model"]]
    if o["seq_len"] and o["seq_len"] > m["max_seq"]:
        p.error(f"--seq-len {o['seq_len']} exceeds the model's context {m['max_seq']}")
    data = o["data"] or (WINE if o["textbook"] else FORTUNES)
    if o["textbook"] and not data.endswith(".csv"):
        p.error(f"--textbook wants a CSV file with a 'target' column, not '{data}'")
    if not os.path.exists(data):
        p.error(f"--data: '{data}' does not exist"
                + (" (install Debian's 'fortunes' package)" if data == FORTUNES else ""))
    out = o["out"] or os.path.join(ROOT, "runs", time.strftime("%Y%m%d-%H%M%S"))
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        p.error(f"--out: '{out}' is not an empty folder")
    os.makedirs(os.path.join(out, "logs"), exist_ok=True)
    steps = o["steps"] or (TEXTBOOK_STEPS if o["textbook"] else m["steps"])
    if o["compare_modes"] and not o["steps"]:
        steps = (steps + 2) // 3  # three runs in the budget of one
    run = dict(o, data=os.path.abspath(data), out=os.path.abspath(out),
               modes=["sync", "async", "ssp"] if o["compare_modes"] else [o["mode"] or "sync"],
               staleness=2 if o["staleness"] is None else o["staleness"],
               workers=o["workers"] or (4 if o["textbook"] else 2),
               steps=steps, lr=o["lr"] or m["lr"],
               batch=o["batch_size"] or m["batch"], seq=o["seq_len"] or m["seq"],
               bpe=m["bpe"] if o["bpe"] is None else o["bpe"],
               eval_every=o["eval_every"] or max(1, (steps + 9) // 10),
               started=time.time())
    save(run)
    print(run["out"])
    print(o["backend"])


def load(out):
    with open(os.path.join(out, "run.json"), encoding="utf-8") as f:
        return json.load(f)


def save(run):
    with open(os.path.join(run["out"], "run.json"), "w", encoding="utf-8") as f:
        json.dump(run, f, indent=1)


def fail(msg, run=None):
    where = f"; logs in {run['out']}/" if run else ""
    sys.exit(f"demo.sh: FAILED: {msg}{where}")


def run_logged(argv, log, limit_s, run):
    """Runs a short step to completion, its output in `log`."""
    with open(log, "w", encoding="utf-8") as f:
        try:
            rc = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT,
                                timeout=limit_s).returncode
        except subprocess.TimeoutExpired:
            fail(f"{os.path.basename(argv[0])} took over {limit_s}s", run)
    if rc != 0:
        with open(log, encoding="utf-8", errors="replace") as f:
            sys.stderr.write(f.read()[-2000:])
        fail(f"{os.path.basename(argv[0])} exited with status {rc}", run)


def cmd_data(out):
    run, data = load(out), load(out)["data"]
    dst = os.path.join(out, "data")
    os.makedirs(dst, exist_ok=True)
    names = ("train.bin", "val.bin", "tokenizer.bin")
    if os.path.isdir(data) and all(os.path.exists(os.path.join(data, n)) for n in names):
        for n in names:
            shutil.copy(os.path.join(data, n), dst)
        print(f"      using the prepared shards in {data}")
    else:
        log = os.path.join(out, "logs", "prepare.log")
        run_logged([os.path.join(out, "bin", "ps_prepare"), f"--input={data}",
                    f"--out_dir={dst}", f"--bpe_vocab={run['bpe']}"], log, 600, run)
        with open(log, encoding="utf-8") as f:
            print("      " + f.read().strip().replace(out + "/", ""))
    shutil.copy(os.path.join(dst, "tokenizer.bin"), out)


def launch_argv(run, mode, folder, backend):
    """ps_launch's command line for one training run in `folder`."""
    b, w = os.path.join(run["out"], "bin"), run["workers"]
    updates = run["steps"] * (1 if mode == "sync" else w)  # async: one per push
    m, d = MODELS[run["model"]], os.path.join(run["out"], "data")
    argv = [f"{b}/ps_launch", f"--servers={run['servers']}", f"--workers={w}",
            f"--mode={mode}", f"--log_dir={folder}/logs",
            f"--pid_file={run['out']}/pids.txt",
            f"--server_binary={b}/ps_server", "--stream=false",
            f"--progress_every={run['progress_every']}", f"--timeout={run['timeout']}"]
    if mode == "ssp":
        argv.append(f"--staleness={run['staleness']}")
    argv += [f"--optimizer={run['optimizer']}", f"--lr={run['lr']}",
             "--lr_schedule=cosine", f"--warmup_steps={max(1, updates // 20)}",
             f"--total_steps={updates}"] + TRAIN["server_flags"]
    argv += ["--", f"{b}/ps_worker", f"--data={d}/train.bin",
             f"--tokenizer={d}/tokenizer.bin", f"--backend={backend}",
             f"--threads={run['threads']}", f"--batch_size={run['batch']}",
             f"--seq_len={run['seq']}", f"--steps={run['steps']}",
             f"--seed={run['seed']}", "--log_every=1", "--connect_timeout=30",
             f"--metrics_file={folder}/logs/worker-%RANK%.metrics.jsonl",
             f"--val_data={d}/val.bin", f"--eval_every={run['eval_every']}",
             f"--eval_batches={m['eval_batches']}", f"--export={folder}/model.bin"]
    return argv + m["worker_flags"]


def launch(argv):
    """Runs ps_launch in the foreground, passing SIGINT/SIGTERM on to it.
    Returns (exit status, CPU-seconds it and its children used)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = subprocess.Popen(argv)
    forward = lambda sig, _frame: child.send_signal(sig)
    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    rc = child.wait()
    for s, h in old.items():
        signal.signal(s, h)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return rc, cpu


def cmd_train(out, backend):
    run = load(out)
    run["backend"], run["results"] = backend, {}
    for k, mode in enumerate(run["modes"]):
        folder = out if len(run["modes"]) == 1 else os.path.join(out, mode)
        os.makedirs(folder, exist_ok=True)
        print(f"      training {k + 1}/{len(run['modes'])}: {describe(run, mode)}")
        t0 = time.time()
        rc, cpu = launch(launch_argv(run, mode, folder, backend))
        if rc in (128 + signal.SIGINT, 128 + signal.SIGTERM):
            sys.exit(rc)  # interrupted: ps_launch said so and stopped all
        if rc != 0:
            fail(f"training ({mode}) ended with status {rc}", run)
        shutil.copy(f"{folder}/logs/worker-0.metrics.jsonl", f"{folder}/metrics.jsonl")
        if folder != out:
            shutil.copy(os.path.join(out, "tokenizer.bin"), folder)
        run["results"][mode] = {"folder": folder, "train_s": time.time() - t0,
                                "cpu_s": cpu}
        save(run)


def generate(run, folder, k, prompt, seed):
    """One sample after `prompt` from the model in `folder`."""
    gen = os.path.join(folder, "logs", f"generate-{k}.out")
    run_logged([os.path.join(run["out"], "bin", "ps_generate"),
                f"--model={folder}/model.bin", f"--tokenizer={run['out']}/tokenizer.bin",
                f"--prompt={prompt}", f"--max_tokens={MODELS[run['model']]['max_tokens']}",
                f"--seed={seed}", "--threads=0"] + SAMPLING, gen, 300, run)
    with open(gen, encoding="utf-8", errors="replace") as f:
        return f.read()


def cmd_samples(out):
    run = load(out)
    how = " ".join(a.lstrip("-").replace("_", "-").replace("=", " ") for a in SAMPLING)
    for res in run["results"].values():
        folder, text = res["folder"], []
        per_prompt = MODELS[run["model"]]["samples"]
        for i, prompt in enumerate(PROMPTS):
            for j in range(per_prompt):
                k = i * per_prompt + j
                text.append((prompt, generate(run, folder, k, prompt, run["seed"] + k)))
        with open(os.path.join(folder, "samples.txt"), "w", encoding="utf-8") as f:
            for prompt, gen in text:
                f.write(f'=== prompt: "{prompt}" ({how})\n{prompt}{gen}\n\n')
        res["generated"] = [g for _, g in text]
    save(run)


if __name__ == "__main__":
    import summary

    cmds = {"init": lambda a: cmd_init(a), "data": lambda a: cmd_data(a[0]),
            "train": lambda a: cmd_train(a[0], a[1]),
            "samples": lambda a: cmd_samples(a[0]),
            "summary": lambda a: summary.print_summary(load(a[0]))}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(f"usage: demo.py {{{','.join(cmds)}}} ...")
    cmds[sys.argv[1]](sys.argv[2:])
