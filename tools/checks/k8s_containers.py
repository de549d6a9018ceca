#!/usr/bin/env python3
"""Container check of the cpu overlay: builds the server and CPU-worker
images from deploy/docker with podman (on Debian base images made with
mmdebstrap and tagged with the names the Dockerfiles use), then runs the
overlay's pods as containers on one podman network: each StatefulSet replica
and Job index one container with the rendered command, args and env, its
pod hostname and DNS name (ps-0.ps), its securityContext (user, read-only
root filesystem, dropped capabilities, no privilege escalation) and its
volumes; servers must pass their gRPC readiness probe before the workers
start; the Job must complete and write its export, which the toolbox's
ps_generate must read. Then a fault run: kill -9 of a server mid-training,
started again as the StatefulSet would (same name, same volume); it must
restore its checkpoint and the Job complete with the clean run's export,
bit for bit (sync mode). Images: k8s_images.py. Single-threaded; removes
only the containers and network it creates.

Usage: k8s_containers.py --base TAR [--keep DIR] [--no-build]
Exit 0 only if every step passes; 2 on a bad flag or a missing tool.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import k8s_run  # noqa: E402
from k8s_images import ULIMITS, base_images, build_image, podman, prepare_data, sample_export  # noqa: E402
from k8s_run import ROOT, kube  # noqa: E402

PREFIX = f"pserve-check-{os.getpid()}"
# Long enough to kill a server mid-training (the tiny model runs a step in
# about 10 ms), checkpoints every 50 steps, workers retry a server 120 s.
CONTAINER_PARAMS = {"STEPS": "600", "TOTAL_STEPS": "600", "EVAL_EVERY": "300", "LOG_EVERY": "10",
                    "CHECKPOINT_EVERY": "50", "KEEP_CHECKPOINTS": "2", "SERVER_TIMEOUT": "120"}
JOB_TIMEOUT_S = 600


def security_args(pod):
    """podman flags for the pod's and container's securityContext."""
    psc = pod.spec.get("securityContext") or {}
    csc = pod.container.get("securityContext") or {}
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    gid = csc.get("runAsGroup", psc.get("runAsGroup"))
    args = []
    if uid is not None:
        args += ["--user", f"{uid}:{gid}" if gid is not None else str(uid)]
    if psc.get("fsGroup") is not None:
        args += ["--group-add", str(psc["fsGroup"])]
    if csc.get("readOnlyRootFilesystem"):
        args.append("--read-only")
    if "ALL" in ((csc.get("capabilities") or {}).get("drop") or []):
        args.append("--cap-drop=ALL")
    if csc.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    return args


def volume_owner(pod):
    """(uid, gid) a writable volume gets: the pod's user, its fsGroup."""
    psc = pod.spec.get("securityContext") or {}
    uid = psc.get("runAsUser", 0)
    return uid, psc.get("fsGroup", psc.get("runAsGroup", uid))


class Cluster:
    """The overlay's pods as podman containers on one network; owns them."""

    def __init__(self, objects, work, data_dir, network):
        self.work, self.data_dir, self.network = work, data_dir, network
        self.problems = []
        self.pods = kube.pods(objects, lambda check, msg: self.problems.append(f"{check}: {msg}"))
        self.started = set()

    def container(self, pod):
        return f"{PREFIX}-{pod.name}"

    def run(self, pod, fresh_scratch=True):
        """Starts the pod's container the way the kubelet would; returns
        its name. fresh_scratch: a new pod gets empty emptyDir volumes."""
        name = self.container(pod)
        args = ["run", "-d", "--name", name, "--hostname", pod.hostname, "--network", self.network,
                *ULIMITS, *security_args(pod)]
        if pod.dns:
            args += ["--network-alias", pod.dns]
        for path, (host, read_only) in k8s_run.host_folders(pod, os.path.join(self.work, "volumes"),
                                                            self.data_dir).items():
            if fresh_scratch and kube.volume_sources(pod)[path][0] == "scratch":
                shutil.rmtree(host, ignore_errors=True)
                os.makedirs(host)
            if not read_only:  # what fsGroup does to a pod's writable volumes
                os.chown(host, *volume_owner(pod))
            args += ["-v", f"{host}:{path}:{'ro' if read_only else 'rw'}"]
        for key, value in pod.env.items():
            if key != "HOSTNAME":
                args += ["-e", f"{key}={value}"]
        command = [kube.kubelet_expand(str(c), pod.env) for c in pod.container.get("command") or []]
        cargs = [kube.kubelet_expand(str(a), pod.env) for a in pod.container.get("args") or []]
        args += ["--entrypoint", command[0], pod.container["image"], *command[1:], *cargs]
        podman(*args)
        self.started.add(name)
        return name

    def ip(self, pod):
        out = podman("inspect", "--format", "{{json .NetworkSettings.Networks}}", self.container(pod))
        return json.loads(out.stdout)[self.network]["IPAddress"]

    def log_text(self, pod):
        out = podman("logs", self.container(pod), check=False)
        return out.stdout + out.stderr

    def logs(self, pod, lines=4):
        return " | ".join(self.log_text(pod).strip().splitlines()[-lines:])

    def save_log(self, pod, tag):
        """Copies the container's log to work/logs/<tag>/<pod>.log."""
        folder = os.path.join(self.work, "logs", tag)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{pod.name}.log"), "w") as f:
            f.write(self.log_text(pod))

    def state(self, pod):
        out = podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", self.container(pod))
        status, code = out.stdout.split()
        return status, int(code)

    def wait_ready(self, pod, timeout_s=60):
        """Polls the readinessProbe (grpc) from the host; None or an error."""
        probe = (pod.container.get("readinessProbe") or {}).get("grpc") or {}
        port = kube.resolve_port(probe.get("port"), pod.container)
        if port is None:
            return f"{pod.name}: no grpc readinessProbe on a containerPort"
        target = f"{self.ip(pod)}:{port}"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status, code = self.state(pod)
            if status != "running":
                return f"{pod.name} {status} (exit {code}): {self.logs(pod)}"
            if kube.grpc_serving(target):
                return None
            time.sleep(0.5)
        return f"{pod.name}: not SERVING at {target} after {timeout_s}s: {self.logs(pod)}"

    def log_has(self, pod, text):
        return text in self.log_text(pod)

    def remove(self, pod):
        podman("rm", "-f", "-t", "10", self.container(pod), check=False, timeout=60)

    def stop(self):
        for name in sorted(self.started):
            podman("rm", "-f", "-t", "10", name, check=False, timeout=60)


def run_job(cluster, workers, timeout_s, during=None):
    """Runs the Indexed Job: restarts a failed worker container in place
    (restartPolicy OnFailure) until backoffLimit failures; calls during()
    once while it runs. Returns None when every index succeeded, else why."""
    job = workers[0].owner["spec"]
    backoff, failures, done = job.get("backoffLimit", 6), 0, set()
    for pod in workers:
        cluster.run(pod)
    deadline = time.monotonic() + timeout_s
    while len(done) < len(workers):
        if time.monotonic() > deadline:
            return f"Job not complete after {timeout_s}s: {cluster.logs(workers[0])}"
        if during:
            during = during()
        for pod in workers:
            if pod.name in done:
                continue
            status, code = cluster.state(pod)
            if status == "exited" and code == 0:
                done.add(pod.name)
            elif status == "exited":
                failures += 1
                if failures > backoff:
                    return f"Job failed: backoffLimit {backoff} reached; {pod.name}: {cluster.logs(pod)}"
                podman("start", cluster.container(pod))
        time.sleep(0.5)
    return None


def start_servers(cluster, servers):
    return k8s_run.start_ready(servers, cluster.run, cluster.wait_ready)


def export_file(cluster, workers):
    """(path in the pod, path on the host) of rank 0's --export."""
    rank0 = next(p for p in workers if p.env.get("JOB_COMPLETION_INDEX") == "0")
    export = kube.flag_value(rank0.argv, "export") or ""
    for path, (host, _) in k8s_run.host_folders(rank0, os.path.join(cluster.work, "volumes"),
                                                 cluster.data_dir).items():
        if export.startswith(path + "/"):
            return export, host + export[len(path):]
    return export, ""


def process_security(cluster, pod):
    """What the kernel enforces on the container's main process (pid 1,
    the exec'd binary): its uids, effective capabilities, no_new_privs and
    whether / is writable, against the pod's securityContext; None or why."""
    csc = pod.container.get("securityContext") or {}
    uid = str(csc.get("runAsUser", pod.spec.get("securityContext", {}).get("runAsUser")))
    out = podman("exec", cluster.container(pod), "sh", "-c",
                 "grep -E '^(Uid|CapEff|NoNewPrivs):' /proc/1/status; "
                 "if touch /.probe 2>/dev/null; then echo Root: rw; else echo Root: ro; fi").stdout
    facts = dict(line.split(":", 1) for line in out.strip().splitlines())
    want = {"Uid": " ".join([uid] * 4), "CapEff": "0" * 16,
            "NoNewPrivs": "1" if csc.get("allowPrivilegeEscalation") is False else "0",
            "Root": "ro" if csc.get("readOnlyRootFilesystem") else "rw"}
    wrong = [f"{k} {' '.join(facts.get(k, '').split())!r} (want {v!r})" for k, v in want.items()
             if " ".join(facts.get(k, "").split()) != v]
    return f"{pod.name}: " + ", ".join(wrong) if wrong else None


def clean_run(cluster, servers, workers):
    """Servers, readiness, their processes' security, the Job to
    completion; keeps rank 0's export as work/clean-model.bin for the fault
    run to compare."""
    error = start_servers(cluster, servers)
    for pod in servers:
        error = error or process_security(cluster, pod)
    error = error or run_job(cluster, workers, JOB_TIMEOUT_S)
    if error:
        return False, error
    export, local = export_file(cluster, workers)
    if not local or not os.path.exists(local) or os.path.getsize(local) == 0:
        return False, f"the Job completed but rank 0 wrote no {export}"
    shutil.copy(local, os.path.join(cluster.work, "clean-model.bin"))
    sample = sample_export(cluster.data_dir, workers[0], export, local)
    return True, (f"{len(servers)} servers SERVING before the workers started, their processes "
                  "as their securityContext says (uids, no capabilities, no_new_privs, root "
                  "filesystem), Job completed "
                  f"({len(workers)} indices), rank 0 exported {export} ({os.path.getsize(local)} bytes); "
                  f"ps_generate in the CPU worker image (the toolbox pod's) samples it: {sample!r}")


def last_step(log):
    steps = re.findall(r"\] step (\d+) loss", log)
    return int(steps[-1]) if steps else 0


def fault_run(cluster, servers, workers):
    """kill -9 of the last server once it has written its first checkpoint,
    restarted as its StatefulSet would (same name, same volume, fresh /tmp);
    the restarted server must restore that checkpoint, the Job complete and
    (sync mode) export exactly the clean run's model."""
    victim, every = servers[-1], int(CONTAINER_PARAMS["CHECKPOINT_EVERY"])
    steps, seen = int(CONTAINER_PARAMS["STEPS"]), {}

    def kill_and_restart():
        if not cluster.log_has(victim, f"checkpoint of step {every} written"):
            return kill_and_restart
        podman("kill", "-s", "KILL", cluster.container(victim))
        seen["step"] = last_step(cluster.log_text(workers[0]))
        seen["running"] = all(cluster.state(p)[0] == "running" for p in workers)
        cluster.save_log(victim, "fault-killed")
        cluster.remove(victim)
        cluster.run(victim)
        seen["ready"] = cluster.wait_ready(victim)
        return None

    error = start_servers(cluster, servers)
    if error:
        return False, error
    job_error = run_job(cluster, workers, JOB_TIMEOUT_S, kill_and_restart)
    if "step" not in seen:
        return False, f"the Job ended before {victim.name} wrote its step-{every} checkpoint: {job_error}"
    if not seen["running"] or seen["step"] >= steps:
        return False, f"killed {victim.name} too late: rank 0 was at step {seen['step']} of {steps}"
    if seen["ready"] or job_error:
        return False, f"restarted {victim.name}: {seen['ready'] or job_error}"
    return fault_verdict(cluster, victim, workers, seen["step"])


def seconds_between(log, first, second):
    """'N.Ns' between the log lines holding `first` and `second` (spdlog's
    timestamps), or '?'."""
    stamps = []
    for text in (first, second):
        m = re.search(rf"^(\S+ \S+) .*{re.escape(text)}", log, re.M)
        if not m:
            return "?"
        stamps.append(datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f"))
    return f"{(stamps[1] - stamps[0]).total_seconds():.1f}s"


def fault_verdict(cluster, victim, workers, killed_at):
    """The restarted server's restore line, the workers' recovery lines and
    the export compared with the clean run's."""
    log = cluster.log_text(victim)
    restored = re.search(r"restored version \d+ from \S+", log)
    if not restored:
        return False, f"restarted {victim.name} did not restore a checkpoint: {cluster.logs(victim)}"
    recovery = sorted({m for p in workers for m in re.findall(
        r"rolling every server back to step \d+|resuming at step \d+[^\n]*", cluster.log_text(p))})
    _, local = export_file(cluster, workers)
    with open(local, "rb") as a, open(os.path.join(cluster.work, "clean-model.bin"), "rb") as b:
        same = a.read() == b.read()
    facts = (f"kill -9 of {victim.name} at rank 0's step {killed_at}, restarted with the same name and "
             f"volume: \"{restored.group(0)}\" {seconds_between(log, 'listening on', 'restored version')} "
             f"after it listened; workers: {'; '.join(recovery) or 'no recovery line'}; Job completed")
    if not same:
        return False, f"{facts}, but its export differs from the clean run's"
    return True, f"{facts}; export byte-identical to the clean run's"


def fresh(cluster, work):
    cluster.stop()
    shutil.rmtree(os.path.join(work, "volumes"), ignore_errors=True)


def run_checks(cluster, work, image_of):
    """The clean run, then (if it passed) the fault run, each on fresh
    volumes; prints one line each and returns the number failed. Every
    container's log is kept under work/logs/<run>/."""
    servers = [p for p in cluster.pods if p.role == "server"]
    workers = [p for p in cluster.pods if p.role == "worker"]
    prepare_data(image_of["worker"], cluster.data_dir)
    for name, step in (("clean run", clean_run), ("fault run", fault_run)):
        fresh(cluster, work)
        start = time.monotonic()
        try:
            ok, message = step(cluster, servers, workers)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            ok, message = False, str(e)
        for pod in cluster.pods:
            if cluster.container(pod) in cluster.started:
                cluster.save_log(pod, name.replace(" ", "-"))
        print(f"{'PASS' if ok else 'FAIL'} {name} ({time.monotonic() - start:.0f}s): {message}", flush=True)
        if not ok:
            return 1
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="cached Debian base tarball (made if missing)")
    ap.add_argument("--keep", help="keep renders and volumes in this folder")
    ap.add_argument("--no-build", action="store_true", help="use the images already built")
    opts = ap.parse_args()
    for tool in ("podman", "runc", "mmdebstrap", "kubectl"):
        if shutil.which(tool) is None:
            print(f"k8s_containers: {tool} is not installed (tools/setup.sh --with-containers)", file=sys.stderr)
            return 2
    with k8s_run.work_dir(opts.keep, "k8s_containers.") as work:
        try:
            return 1 if check_all(opts, work) else 0
        except (RuntimeError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
            print(f"FAIL containers: {e}")
            return 1


def check_all(opts, work):
    """Images, then the runs; returns the number of failed steps."""
    objects = k8s_run.test_overlay(os.path.join(ROOT, "deploy/k8s/overlays/cpu"),
                                   os.path.join(work, "render"), CONTAINER_PARAMS)
    network = f"{PREFIX}-net"
    cluster = Cluster(objects, work, os.path.join(work, "data"), network)
    if cluster.problems:
        print("FAIL render: " + "; ".join(cluster.problems))
        return 1
    image_of = {p.role: p.container["image"] for p in cluster.pods}
    if not opts.no_build:
        base_images(opts.base)
        for image in sorted(set(image_of.values())):
            build_image(image, os.path.dirname(opts.base))
    print("SKIP image ps-worker-gpu: not built here (its base is NVIDIA's CUDA image, which no "
          "registry here serves); tools/checks/k8s.sh checks its Dockerfile statically")
    podman("network", "create", network)
    try:
        return run_checks(cluster, work, image_of)
    finally:
        cluster.stop()
        podman("network", "rm", "-f", network, check=False)


if __name__ == "__main__":
    sys.exit(main())
