#!/usr/bin/env python3
"""Container check of the cpu overlay: builds the server and CPU-worker
images from deploy/docker with podman (on Debian base images made with
mmdebstrap and tagged with the names the Dockerfiles use), then runs the
overlay's pods as containers on one podman network: each StatefulSet replica
and Job index one container with the rendered command, args and env, its
pod hostname and DNS name (ps-0.ps), its securityContext (user, read-only
root filesystem, dropped capabilities, no privilege escalation) and its
volumes; servers must pass their gRPC readiness probe before the workers
start; the Job must complete and write its export. Then a fault run kills a
server mid-training and starts it again as the StatefulSet would (same
name, same volume): it must come back SERVING. Single-threaded; removes
only the containers and network it creates.

Usage: k8s_containers.py --base TAR [--keep DIR] [--no-build]
Exit 0 only if every step passes; 2 on a bad flag or a missing tool.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import k8s_run  # noqa: E402
from k8s_run import ROOT, kube  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "deploy/validate"))
from check import IMAGE_DOCKERFILES  # noqa: E402

PODMAN = ["podman", "--runtime", "runc"]
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
BASE_TAGS = ("debian:12.11", "debian:12.11-slim")
PREFIX = f"pserve-check-{os.getpid()}"
# Long enough to kill a server mid-training.
CONTAINER_PARAMS = {"STEPS": "40", "TOTAL_STEPS": "40", "EVAL_EVERY": "20", "LOG_EVERY": "1"}
BUILD_TIMEOUT_S = 3600


def podman(*args, check=True, timeout=120):
    out = subprocess.run(PODMAN + list(args), capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args[:3])}: {out.stderr.strip()[-600:]}")
    return out


def base_images(tar):
    """Makes the Debian base tarball once (cached), imports it under the
    tags the Dockerfiles name."""
    if not os.path.exists(tar):
        os.makedirs(os.path.dirname(tar), exist_ok=True)
        part = tar + ".part"
        subprocess.run(["mmdebstrap", "--variant=apt", "--include=ca-certificates", "bookworm", part,
                        "http://deb.debian.org/debian"], check=True, capture_output=True, timeout=1800)
        os.rename(part, tar)
    stamp = str(os.path.getmtime(tar))
    have = podman("image", "inspect", "--format", "{{index .Labels \"pserve.base\"}}", BASE_TAGS[0],
                  check=False)
    if have.returncode != 0 or have.stdout.strip() != stamp:
        podman("import", "--change", f"LABEL pserve.base={stamp}", "--change", "CMD [\"/bin/bash\"]",
               tar, BASE_TAGS[0], timeout=600)
    for tag in BASE_TAGS[1:]:
        podman("tag", BASE_TAGS[0], tag)
    print(f"PASS base images: {', '.join(BASE_TAGS)} from {tar}")


def build_image(image, cache_dir):
    short = image.split("@")[0].rsplit("/", 1)[-1].split(":")[0]
    dockerfile = os.path.join("deploy/docker", IMAGE_DOCKERFILES[short])
    start = time.monotonic()
    # The build stage's Bazel output and disk cache and apt's downloads live
    # on the host, so rebuilds after a small change take minutes.
    os.makedirs(os.path.join(cache_dir, "apt"), exist_ok=True)
    out = subprocess.run(PODMAN + ["build", "--pull=never", *ULIMITS, "-v", f"{cache_dir}/bazel:/root/.cache",
                                   "-v", f"{cache_dir}/apt:/var/cache/apt/archives",
                                   "-f", dockerfile, "-t", image, "."],
                         cwd=ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    if out.returncode != 0:
        raise RuntimeError(f"podman build -f {dockerfile} failed: {out.stdout[-1500:]}{out.stderr[-800:]}")
    print(f"PASS image {image}: built from {dockerfile} in {time.monotonic() - start:.0f}s")


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
            if not read_only:
                os.chown(host, 10001, 10001)
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
        import json
        return json.loads(out.stdout)[self.network]["IPAddress"]

    def logs(self, pod, lines=4):
        out = podman("logs", self.container(pod), check=False)
        return " | ".join((out.stdout + out.stderr).strip().splitlines()[-lines:])

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
        out = podman("logs", self.container(pod), check=False)
        return text in out.stdout + out.stderr

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


def export_size(cluster, workers):
    rank0 = next(p for p in workers if p.env.get("JOB_COMPLETION_INDEX") == "0")
    export = kube.flag_value(rank0.argv, "export")
    for path, (host, _) in k8s_run.host_folders(rank0, os.path.join(cluster.work, "volumes"),
                                                 cluster.data_dir).items():
        if export and export.startswith(path + "/"):
            local = host + export[len(path):]
            return export, os.path.getsize(local) if os.path.exists(local) else 0
    return export, 0


def clean_run(cluster, servers, workers):
    error = start_servers(cluster, servers) or run_job(cluster, workers, 600)
    if error:
        return False, error
    export, size = export_size(cluster, workers)
    if size == 0:
        return False, f"the Job completed but rank 0 wrote no {export}"
    return True, (f"{len(servers)} servers SERVING before the workers started, Job completed "
                  f"({len(workers)} indices), rank 0 exported {export} ({size} bytes)")


def fault_run(cluster, servers, workers):
    """Kills the last server after rank 0's step 5 and starts it again with
    the same name and volume; the restarted server must be SERVING."""
    victim = servers[-1]
    result = {}

    def kill_and_restart():
        if not cluster.log_has(workers[0], "] step 5 loss"):
            return kill_and_restart
        podman("kill", cluster.container(victim), check=False)
        cluster.remove(victim)
        cluster.run(victim)
        result["ready"] = cluster.wait_ready(victim)
        return None

    error = start_servers(cluster, servers)
    if error:
        return False, error
    job_error = run_job(cluster, workers, 120, kill_and_restart)
    if "ready" not in result:
        return False, f"the Job ended before rank 0 logged step 5: {job_error}"
    if result["ready"]:
        return False, f"restarted {victim.name}: {result['ready']}"
    after = "the Job then completed" if job_error is None else f"the Job then did not complete ({job_error})"
    return True, f"killed {victim.name} after step 5, restarted with the same name and volume: SERVING; {after}"


def prepare_data(image, data_dir):
    """Token shards made by the worker image's own ps_prepare, as the
    storage kit's toolbox would."""
    os.makedirs(data_dir, exist_ok=True)
    os.chown(data_dir, 10001, 10001)
    podman("run", "--rm", "--user", "10001:10001", "--read-only", "--cap-drop=ALL", *ULIMITS,
           "-v", "/usr/share/games/fortunes:/in:ro", "-v", f"{data_dir}:/data:rw",
           "--entrypoint", "/usr/local/bin/ps_prepare", image, "--input=/in/art", "--out_dir=/data")


def fresh(cluster, work):
    cluster.stop()
    shutil.rmtree(os.path.join(work, "volumes"), ignore_errors=True)


def run_checks(cluster, work, image_of):
    servers = [p for p in cluster.pods if p.role == "server"]
    workers = [p for p in cluster.pods if p.role == "worker"]
    prepare_data(image_of["worker"], cluster.data_dir)
    failed = 0
    for name, step in (("clean run", clean_run), ("fault run", fault_run)):
        fresh(cluster, work)
        try:
            ok, message = step(cluster, servers, workers)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            ok, message = False, str(e)
        print(f"{'PASS' if ok else 'FAIL'} {name}: {message}")
        failed += not ok
    return failed


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
