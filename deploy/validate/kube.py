"""What the kubelet does with a rendered pod template, for the checks that
run pserve's manifests without a cluster: which pods exist (one per
StatefulSet replica, one per Indexed Job index), their downward-API values,
their environment (envFrom, env, $(VAR) expansion, $$ escapes) and the argv
their binary receives after the container's sh wrapper. Single-threaded;
no global state.
"""

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field

import yaml


def load_objects(path):
    with open(path) as f:
        return [o for o in yaml.safe_load_all(f) if o]


def pod_spec(obj):
    kind = obj.get("kind")
    if kind == "Pod":
        return obj.get("spec", {})
    if kind in ("StatefulSet", "Deployment", "DaemonSet", "ReplicaSet", "Job"):
        return obj.get("spec", {}).get("template", {}).get("spec", {})
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return None


def pod_labels(obj):
    if obj.get("kind") == "Pod":
        return obj.get("metadata", {}).get("labels", {}) or {}
    return obj.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {}) or {}


def containers(spec):
    return (spec.get("initContainers") or []) + (spec.get("containers") or [])


def port_numbers(container):
    numbers, names = set(), {}
    for p in container.get("ports") or []:
        numbers.add(p["containerPort"])
        if "name" in p:
            names[p["name"]] = p["containerPort"]
    return numbers, names


def resolve_port(port, container):
    numbers, names = port_numbers(container)
    if isinstance(port, int):
        return port if port in numbers else None
    return names.get(port)


def kubelet_expand(s, env):
    """Kubernetes $(VAR) expansion in command/args/env: $$ is a literal $,
    an undefined $(VAR) stays as written."""
    out, i = [], 0
    while i < len(s):
        if s[i] == "$" and i + 1 < len(s):
            if s[i + 1] == "$":
                out.append("$")
                i += 2
                continue
            if s[i + 1] == "(":
                j = s.find(")", i + 2)
                if j != -1:
                    name = s[i + 2:j]
                    out.append(env[name] if name in env else s[i:j + 1])
                    i = j + 1
                    continue
        out.append(s[i])
        i += 1
    return "".join(out)


def container_env(container, configmaps, extra, fail):
    """The container's environment: `extra` (downward-API values), then
    envFrom ConfigMaps, then env entries in order. Problems go to
    fail(check, message)."""
    env = dict(extra)
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef")
        if ref:
            data = configmaps.get(ref["name"])
            if data is None:
                fail("configmap", f"container {container['name']} reads missing ConfigMap {ref['name']}")
                continue
            env.update({k: str(v) for k, v in data.items()})
    for e in container.get("env") or []:
        if "value" in e:
            env[e["name"]] = kubelet_expand(str(e["value"]), env)
        elif "valueFrom" in e and "configMapKeyRef" in e["valueFrom"]:
            ref = e["valueFrom"]["configMapKeyRef"]
            data = configmaps.get(ref["name"], {})
            if ref["key"] not in data:
                fail("configmap", f"env {e['name']}: ConfigMap {ref['name']} has no key {ref['key']}")
            else:
                env[e["name"]] = str(data[ref["key"]])
    return env


def simulate_argv(container, env, shell_env, where, fail):
    """(binary name, argv) the binary would see: kubelet expansion, then the
    sh wrapper run for real with the binary replaced by a stub that prints
    its argv. Problems go to fail(check, message); (None, []) if hopeless."""
    command = [kubelet_expand(str(c), env) for c in container.get("command") or []]
    args = [kubelet_expand(str(a), env) for a in container.get("args") or []]
    for text in command + args:
        for name in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", text):
            fail("flags", f"{where}: unresolved $({name}) (no such key in the ConfigMap or env)")
    if not command:
        fail("flags", f"{where}: no command; the manifests must name the binary")
        return None, []
    if command[:2] != ["sh", "-c"]:
        return os.path.basename(command[0]), command[1:] + args
    script = command[2]
    binaries = re.findall(r"/usr/local/bin/(ps_[a-z_]+)", script)
    if len(set(binaries)) != 1:
        fail("flags", f"{where}: the sh wrapper must exec exactly one /usr/local/bin/ps_* binary")
        return None, []
    binary = binaries[0]
    with tempfile.TemporaryDirectory() as stub_dir:
        stub = os.path.join(stub_dir, binary)
        with open(stub, "w") as f:
            f.write('#!/bin/sh\nfor a in "$@"; do printf "%s\\0" "$a"; done\n')
        os.chmod(stub, 0o755)
        run_env = {"PATH": "/usr/bin:/bin"}
        run_env.update(env)
        run_env.update(shell_env)
        result = subprocess.run(
            ["sh", "-c", script.replace(f"/usr/local/bin/{binary}", stub)] + command[3:] + args,
            env=run_env, capture_output=True, text=True, timeout=10)
    if result.returncode != 0:
        fail("flags", f"{where}: wrapper script failed: {result.stderr.strip()}")
        return binary, []
    return binary, [a for a in result.stdout.split("\0") if a]


@dataclass
class Pod:
    """One pod the controllers would create, as its main container sees it."""
    name: str            # ps-0, ps-worker-1-x
    hostname: str        # the pod's hostname (HOSTNAME)
    dns: str             # its DNS name inside the namespace (ps-0.ps), or ""
    role: str            # "server" (StatefulSet) or "worker" (Job)
    owner: dict          # the StatefulSet or Job
    container: dict      # the main container
    env: dict            # the container's environment, HOSTNAME included
    binary: str          # ps_server or ps_worker
    argv: list = field(default_factory=list)  # what the binary receives

    @property
    def spec(self):
        return pod_spec(self.owner)


def _job_pods(job):
    n = job["spec"].get("completions") or 1
    name = job["metadata"]["name"]
    for index in range(n):
        # The Job controller sets JOB_COMPLETION_INDEX; pod names get a
        # random suffix, which "x" stands for.
        pod_name = f"{name}-{index}-x"
        yield pod_name, pod_name, "", {"JOB_COMPLETION_INDEX": str(index)}


def _statefulset_pods(sts):
    name, service = sts["metadata"]["name"], sts["spec"].get("serviceName", "")
    for ordinal in range(sts["spec"].get("replicas", 1)):
        pod_name = f"{name}-{ordinal}"
        yield pod_name, pod_name, f"{pod_name}.{service}" if service else "", {}


def pods(objects, fail):
    """Every server and worker pod of one rendered overlay, in start order
    (servers first). Problems go to fail(check, message)."""
    configmaps = {o["metadata"]["name"]: o.get("data") or {} for o in objects if o["kind"] == "ConfigMap"}
    out = []
    for kind, role in (("StatefulSet", "server"), ("Job", "worker")):
        for obj in (o for o in objects if o["kind"] == kind):
            instances = _statefulset_pods(obj) if kind == "StatefulSet" else _job_pods(obj)
            container = pod_spec(obj)["containers"][0]
            for pod_name, hostname, dns, downward in instances:
                env = container_env(container, configmaps, downward, fail)
                env["HOSTNAME"] = hostname
                where = f"{kind}/{obj['metadata']['name']} pod {pod_name}"
                binary, argv = simulate_argv(container, env, {}, where, fail)
                out.append(Pod(pod_name, hostname, dns, role, obj, container, env, binary or "", argv))
    return out


def flag_value(argv, name):
    """The value of --name=VALUE in argv (the last one wins), or None."""
    value = None
    for a in argv:
        if a.startswith(f"--{name}="):
            value = a.split("=", 1)[1]
    return value


def grpc_serving(target, timeout_s=1.0):
    """True if the standard gRPC health service at host:port answers SERVING
    for the empty service name, as the kubelet's grpc probe asks. Blocks up
    to timeout_s; False on any error."""
    import grpc  # Debian's python3-grpcio; only the probing checks need it
    try:
        with grpc.insecure_channel(target) as channel:
            check = channel.unary_unary("/grpc.health.v1.Health/Check")
            # HealthCheckRequest{} is empty; HealthCheckResponse{status:
            # SERVING} is field 1 = 1.
            return check(b"", timeout=timeout_s) == b"\x08\x01"
    except grpc.RpcError:
        return False


def volume_sources(pod):
    """mountPath -> (kind, name, read_only) for the main container's mounts: kind is
    "claim" (a shared PersistentVolumeClaim, name = claimName), "pod-claim"
    (a volumeClaimTemplates volume, one per pod), or "scratch" (emptyDir)."""
    spec = pod.spec
    by_name = {v["name"]: v for v in spec.get("volumes") or []}
    templates = {t["metadata"]["name"] for t in pod.owner["spec"].get("volumeClaimTemplates") or []}
    out = {}
    for m in pod.container.get("volumeMounts") or []:
        volume = by_name.get(m["name"], {})
        if "persistentVolumeClaim" in volume:
            out[m["mountPath"]] = ("claim", volume["persistentVolumeClaim"]["claimName"], m.get("readOnly", False))
        elif m["name"] in templates:
            out[m["mountPath"]] = ("pod-claim", m["name"], False)
        else:
            out[m["mountPath"]] = ("scratch", m["name"], False)
    return out
