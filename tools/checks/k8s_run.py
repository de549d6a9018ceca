#!/usr/bin/env python3
"""Render-and-run check of the Kubernetes overlays: renders each overlay
(through a test overlay that only shrinks the model and the step count),
derives every pod's argv and environment as the kubelet would, and runs
them as local processes against the built binaries. Servers must pass their
gRPC readiness probe, the worker Job must run to completion and rank 0 must
write its export. Only what exists in a cluster alone is swapped: ports
(each server gets a free loopback port, the workers' DNS names point there),
volume paths (local folders), GPUs (BACKEND=cpu) and the cluster-wide bind
address (127.0.0.1). Single-threaded; kills only the processes it starts.

Usage: k8s_run.py --bin DIR [--overlays sync,async,ssp,cpu] [--keep DIR]
Exit 0 only if every overlay passes; 2 on a bad flag or missing binary.
"""

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
sys.path.insert(0, os.path.join(ROOT, "deploy/validate"))
import kube  # noqa: E402

# The test overlay: a tiny model and a few steps, on CPU.
TEST_PARAMS = {
    "MODEL": "tiny", "BATCH_SIZE": "2", "SEQ_LEN": "64", "STEPS": "6",
    "TOTAL_STEPS": "6", "WARMUP_STEPS": "1", "EVAL_EVERY": "3", "LOG_EVERY": "1",
    "THREADS": "1", "BACKEND": "cpu", "CONNECT_TIMEOUT": "60", "METRICS_LINGER": "0",
}
BINARIES = {"ps_server": "server/ps_server", "ps_worker": "worker/ps_worker",
            "ps_prepare": "worker/data/ps_prepare"}
READY_TIMEOUT_S = 60
JOB_TIMEOUT_S = 300


@contextlib.contextmanager
def work_dir(keep, prefix):
    """A scratch folder for one check: `keep` if given (left in place for
    reading the logs), else a temporary one removed afterwards."""
    work = keep or tempfile.mkdtemp(prefix=prefix)
    try:
        yield work
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_overlay(overlay_dir, work, extra=None):
    """Renders overlay_dir through a kustomization in `work` that merges
    TEST_PARAMS (and `extra`) into the pserve-params ConfigMap; returns the
    objects."""
    os.makedirs(work, exist_ok=True)
    params = {**TEST_PARAMS, **(extra or {})}
    literals = "".join(f"      - {k}={v}\n" for k, v in params.items())
    with open(os.path.join(work, "kustomization.yaml"), "w") as f:
        f.write("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                f"resources:\n  - {os.path.relpath(overlay_dir, work)}\n"
                "configMapGenerator:\n  - name: pserve-params\n    behavior: merge\n"
                f"    literals:\n{literals}")
    out = subprocess.run(["kubectl", "kustomize", work], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"kubectl kustomize failed: {out.stderr.strip()}")
    path = os.path.join(work, "rendered.yaml")
    with open(path, "w") as f:
        f.write(out.stdout)
    return kube.load_objects(path)


def host_folders(pod, folders, data_dir):
    """mountPath -> (host folder, read only) for the pod's volumes: the data
    claim is data_dir; other claims are shared folders under `folders`;
    claim-template and emptyDir volumes are per pod (a restarted pod with
    the same name gets the same folder, as a StatefulSet's claim)."""
    out = {}
    for path, (kind, name, read_only) in kube.volume_sources(pod).items():
        if kind == "claim" and name == "pserve-data":
            out[path] = (data_dir, read_only)
            continue
        key = name if kind == "claim" else f"{pod.name}/{name}"
        out[path] = (os.path.join(folders, key), read_only)
        os.makedirs(out[path][0], exist_ok=True)
    return out


def local_argv(pod, ports, metrics_port, folders, data_dir):
    """pod.argv with cluster-only values swapped for local ones: server
    ports from `ports` (DNS name -> (cluster port, local port)), the metrics
    port for metrics_port, volume paths for folders."""
    local = {path: host for path, (host, _) in host_folders(pod, folders, data_dir).items()}
    out = []
    for a in pod.argv:
        m = re.match(r"^(--[A-Za-z0-9_]+)=(.*)$", a)
        if m:
            flag, value = m.groups()
            for path in sorted(local, key=len, reverse=True):
                if value == path or value.startswith(path + "/"):
                    value = local[path] + value[len(path):]
                    break
            for dns, (cluster_port, port) in ports.items():
                value = re.sub(rf"\b{re.escape(dns)}(\.[A-Za-z0-9.-]*)?:{cluster_port}\b",
                               f"127.0.0.1:{port}", value)
            if flag == "--port" and pod.role == "server":
                value = str(ports[pod.dns][1])
            if flag == "--metrics_port" and value not in ("-1", "0"):
                value = str(metrics_port)
            a = f"{flag}={value}"
        out.append(a)
    if pod.role == "server":
        out.append("--bind_address=127.0.0.1")
    return out


def start_ready(pods, start, wait_ready):
    """Starts every pod, then waits for each one's readiness probe, as the
    workers' start waits for the servers; None, or the first error."""
    for pod in pods:
        start(pod)
    for pod in pods:
        error = wait_ready(pod)
        if error:
            return error
    return None


def tail(path, lines=4):
    with open(path, errors="replace") as f:
        return " | ".join(f.read().strip().splitlines()[-lines:])


class Overlay:
    """One overlay's pods as local processes; owns them until stop()."""

    def __init__(self, name, objects, bins, work, data_dir):
        self.name, self.bins, self.work, self.data_dir = name, bins, work, data_dir
        self.problems = []
        self.pods = kube.pods(objects, lambda check, msg: self.problems.append(f"{check}: {msg}"))
        self.procs = {}  # pod name -> (Popen, log path)
        self.ports = {}  # server DNS name -> (cluster port, local port)
        self.metrics_ports = {p.name: free_port() for p in self.pods}
        for p in self.pods:
            if p.role == "server":
                self.ports[p.dns] = (int(kube.flag_value(p.argv, "port") or 7070), free_port())

    def start(self, pod):
        argv = [self.bins[pod.binary]] + self.local_argv(pod)
        log = os.path.join(self.work, f"{pod.name}.log")
        env = {"PATH": "/usr/bin:/bin", **pod.env}
        with open(os.path.join(self.work, f"{pod.name}.argv"), "w") as f:
            f.write(" ".join(argv) + "\n")
        with open(log, "w") as f:
            proc = subprocess.Popen(argv, env=env, stdout=f, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        self.procs[pod.name] = (proc, log)
        return argv

    def local_argv(self, pod):
        return local_argv(pod, self.ports, self.metrics_ports[pod.name],
                          os.path.join(self.work, "volumes"), self.data_dir)

    def wait_ready(self, pod):
        """Polls the pod's readiness probe; an error string, or None."""
        proc, log = self.procs[pod.name]
        probe = (pod.container.get("readinessProbe") or {}).get("grpc")
        if probe is None:
            return f"{pod.name}: no grpc readinessProbe"
        probe_port = kube.resolve_port(probe.get("port"), pod.container)
        cluster_port, port = self.ports[pod.dns]
        if probe_port != cluster_port:
            return f"{pod.name}: readinessProbe port {probe_port} is not the --port={cluster_port} it serves"
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return f"{pod.name} exited {proc.returncode}: {tail(log)}"
            if kube.grpc_serving(f"127.0.0.1:{port}"):
                return None
            time.sleep(0.2)
        return f"{pod.name}: not SERVING after {READY_TIMEOUT_S}s: {tail(log)}"

    def wait_workers(self, workers):
        deadline = time.monotonic() + JOB_TIMEOUT_S
        for pod in workers:
            proc, log = self.procs[pod.name]
            try:
                proc.wait(timeout=max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                return f"{pod.name}: still running after {JOB_TIMEOUT_S}s: {tail(log)}"
            if proc.returncode != 0:
                return f"{pod.name} exited {proc.returncode}: {tail(log)}"
        return None

    def stop(self):
        for proc, _ in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def start_servers(self):
        """Starts every server pod and waits for its readiness; None or why."""
        if self.problems:
            return "; ".join(self.problems)
        return start_ready([p for p in self.pods if p.role == "server"], self.start, self.wait_ready)

    def run(self):
        """Servers, readiness, then the Job; a one-line result."""
        error = self.start_servers()
        if error:
            return error
        workers = [p for p in self.pods if p.role == "worker"]
        for pod in workers:
            self.start(pod)
        error = self.wait_workers(workers)
        if error:
            return error
        return self.check_export(workers, len(self.pods) - len(workers))

    def check_export(self, workers, num_servers):
        rank0 = next((p for p in workers if p.env.get("JOB_COMPLETION_INDEX") == "0"), None)
        export = kube.flag_value(self.local_argv(rank0), "export") if rank0 else None
        if not export or not os.path.exists(export) or os.path.getsize(export) == 0:
            return f"rank 0 wrote no export at {export}"
        steps = len(re.findall(r"\] step \d+ loss", open(self.procs[rank0.name][1]).read()))
        return (f"ok: {num_servers} servers SERVING, {len(workers)} workers completed "
                f"({steps} step lines from rank 0), export {os.path.getsize(export)} bytes")


def prepare_data(bins, work):
    out = os.path.join(work, "data")
    subprocess.run([bins["ps_prepare"], "--input=/usr/share/games/fortunes/art", f"--out_dir={out}"],
                   check=True, capture_output=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="bazel-bin of a build of the binaries")
    ap.add_argument("--overlays", default="sync,async,ssp,cpu")
    ap.add_argument("--keep", help="keep logs and renders in this folder")
    opts = ap.parse_args()
    bins = {b: os.path.join(opts.bin, p) for b, p in BINARIES.items()}
    for b, path in bins.items():
        if not os.access(path, os.X_OK):
            print(f"k8s_run: {path} is not built; run bazel build //server:ps_server "
                  "//worker:ps_worker //worker:ps_prepare", file=sys.stderr)
            return 2
    with work_dir(opts.keep, "k8s_run.") as work:
        return run_overlays(opts.overlays.split(","), bins, work)


def run_overlays(names, bins, work):
    """Runs each overlay's pods in turn, printing one line each; returns the
    exit status (0 all passed, 1 some failed, 2 no such overlay)."""
    failed = 0
    data = prepare_data(bins, work)
    for name in names:
        overlay_dir = os.path.join(ROOT, "deploy/k8s/overlays", name)
        if not os.path.isdir(overlay_dir):
            print(f"k8s_run: no overlay {overlay_dir}", file=sys.stderr)
            return 2
        owork = os.path.join(work, name)
        try:
            overlay = Overlay(name, test_overlay(overlay_dir, owork), bins, owork, data)
        except RuntimeError as e:
            print(f"FAIL overlay {name}: {e}")
            failed += 1
            continue
        try:
            result = overlay.run()
        finally:
            overlay.stop()
        ok = result.startswith("ok:")
        failed += not ok
        print(f"{'PASS' if ok else 'FAIL'} overlay {name}: {result}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
