#!/usr/bin/env python3
"""Prometheus check: runs the cpu overlay's pods as local processes
(k8s_run.py) with Debian's real `prometheus` scraping them once a second
through deploy/monitoring/prometheus.yml's own relabel rules (its pod
discovery swapped for a file listing the local pods with the labels and
annotations Kubernetes discovery would give them), then asks Prometheus's
HTTP API for the training metrics the Grafana dashboard plots and checks
that they moved. Single-threaded; kills only
the processes it starts.

Usage: prometheus_scrape.py --bin DIR [--keep DIR]
Exit 0 only if every query returns what it should; 2 if prometheus is
missing or the binaries are not built.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import k8s_run  # noqa: E402
from k8s_run import ROOT, kube  # noqa: E402

# METRICS_LINGER: each worker waits (at most 20 s) for the scrape of its
# final values, as the manifests have it wait 30 s for a 15 s interval.
PARAMS = {"STEPS": "60", "TOTAL_STEPS": "60", "EVAL_EVERY": "20", "LOG_EVERY": "5",
          "METRICS_LINGER": "20"}
# The last step's index, which every worker's final scrape must show.
LAST_STEP = int(PARAMS["STEPS"]) - 1
# query -> what it shows on the dashboard; each must return a value > 0.
QUERIES = {
    f"min(max_over_time(pserve_worker_step[5m])) == {LAST_STEP}": "every worker's final step scraped",
    "max(max_over_time(pserve_worker_step[5m]))": "worker step",
    "max(max_over_time(pserve_worker_loss[5m]))": "training loss",
    "sum(max_over_time(pserve_push_bytes_total[5m]))": "pushed bytes",
    "sum(max_over_time(pserve_pull_bytes_total[5m]))": "pulled bytes",
    "count(max_over_time(pserve_pulls_in_flight[5m]))": "pulls-in-flight series (one per server)",
    "count(max_over_time(pserve_rejected_requests_total[5m]))": "rejected-requests series",
    'count(up{component="server"} == 1)': "server targets up, labelled by the shipped relabel rules",
    'count(max_over_time(up{component="worker"}[5m]))': "worker targets, labelled by the shipped relabel rules",
}


def query(port, expr):
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as r:
        body = json.load(r)
    result = body.get("data", {}).get("result", [])
    return float(result[0]["value"][1]) if result else None


def wait_scraped(port, servers, timeout_s=60):
    """Waits until Prometheus is ready and has scraped every server once;
    None, or why not."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if query(port, 'count(up{component="server"} == 1)') == servers:
                return None
        except OSError:
            pass  # not listening yet
        time.sleep(0.5)
    return f"Prometheus did not scrape the {servers} servers within {timeout_s}s"


def write_config(work, overlay):
    """deploy/monitoring/prometheus.yml with its kubernetes_sd_configs (which
    Debian's prometheus is built without) replaced by a file_sd_configs list
    of the local pods, labelled as Kubernetes pod discovery labels them: so
    the shipped relabel rules choose the targets, ports and labels."""
    with open(os.path.join(ROOT, "deploy/monitoring/prometheus.yml")) as f:
        config = yaml.safe_load(f)
    targets = []
    for pod in overlay.pods:
        meta = pod.owner["spec"]["template"]["metadata"]
        annotations = dict(meta.get("annotations") or {})
        annotations["prometheus.io/port"] = str(overlay.metrics_ports[pod.name])  # the local swap
        labels = {"__meta_kubernetes_pod_name": pod.name}
        for k, v in annotations.items():
            labels["__meta_kubernetes_pod_annotation_" + re.sub(r"[^A-Za-z0-9_]", "_", k)] = v
        for k, v in (meta.get("labels") or {}).items():
            labels["__meta_kubernetes_pod_label_" + re.sub(r"[^A-Za-z0-9_]", "_", k)] = v
        for port in sorted(kube.port_numbers(pod.container)[0]):
            targets.append({"targets": [f"127.0.0.1:{port}"], "labels": labels})
    with open(os.path.join(work, "pods.json"), "w") as f:
        json.dump(targets, f)
    config["global"] = {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}
    for job in config["scrape_configs"]:
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["file_sd_configs"] = [{"files": [os.path.join(work, "pods.json")]}]
    path = os.path.join(work, "prometheus.yml")
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    return path


def start_prometheus(work, overlay):
    config = write_config(work, overlay)
    check = subprocess.run(["promtool", "check", "config", config], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError("promtool check config (deploy/monitoring/prometheus.yml, file_sd in place of "
                           f"kubernetes_sd): {(check.stdout + check.stderr).strip()}")
    port = k8s_run.free_port()
    log = open(os.path.join(work, "prometheus.log"), "w")
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={work}/tsdb",
         f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    return proc, port


def run(work, bins):
    data = k8s_run.prepare_data(bins, work)
    objects = k8s_run.test_overlay(os.path.join(ROOT, "deploy/k8s/overlays/cpu"),
                                   os.path.join(work, "cpu"), PARAMS)
    overlay = k8s_run.Overlay("cpu", objects, bins, os.path.join(work, "cpu"), data)
    prom, port = start_prometheus(work, overlay)
    try:
        error = overlay.start_servers() or wait_scraped(port, len(overlay.pods) - len(
            [p for p in overlay.pods if p.role == "worker"]))
        if error:
            return [f"FAIL servers: {error}"]
        workers = [p for p in overlay.pods if p.role == "worker"]
        for pod in workers:
            overlay.start(pod)
        error = overlay.wait_workers(workers)
        if error:
            return [f"FAIL job: {error}"]
        time.sleep(2)  # one more scrape of the servers
        lines = ["PASS promtool check config: deploy/monitoring/prometheus.yml (pod discovery as file_sd)"]
        for expr, what in QUERIES.items():
            value = query(port, expr)
            ok = value is not None and value > 0
            lines.append(f"{'PASS' if ok else 'FAIL'} prometheus {what}: {expr} = {value}")
        return lines
    finally:
        overlay.stop()
        prom.terminate()
        prom.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--keep")
    opts = ap.parse_args()
    for tool in ("prometheus", "promtool"):
        if shutil.which(tool) is None:
            print(f"prometheus_scrape: {tool} is not installed (tools/setup.sh installs Debian's prometheus)",
                  file=sys.stderr)
            return 2
    bins = {b: os.path.join(opts.bin, p) for b, p in k8s_run.BINARIES.items()}
    if not all(os.access(p, os.X_OK) for p in bins.values()):
        print("prometheus_scrape: binaries not built under " + opts.bin, file=sys.stderr)
        return 2
    lines = []
    with k8s_run.work_dir(opts.keep, "prometheus_scrape.") as work:
        try:
            lines += run(work, bins)
        except RuntimeError as e:
            lines.append(f"FAIL prometheus: {e}")
    print("\n".join(lines))
    return 0 if all(line.startswith("PASS") for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
