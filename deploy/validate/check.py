#!/usr/bin/env python3
"""Project assertions on the rendered pserve manifests, the Dockerfiles and
docs/deploy.md. Each problem prints one line "FAIL <check>: <message>".

Usage:
  check.py --root DIR --rendered DIR --flags FILE
      DIR/rendered holds overlay-<name>.yaml per overlay and storage.yaml.
  check.py --write-flags FILE [--server BIN --worker BIN]
      regenerates the checked-in flag list from the binaries' --helpfull.
"""

import argparse
import os
import re
import shlex
import subprocess
import sys

import yaml

from kube import containers, load_objects, pod_labels, pod_spec, port_numbers, resolve_port
import kube

# Overlay name -> (expected --mode, workers use GPUs).
OVERLAYS = {
    "sync": ("sync", True),
    "async": ("async", True),
    "ssp": ("ssp", True),
    "cpu": ("sync", False),
}
# Image short name -> Dockerfile under deploy/docker.
IMAGE_DOCKERFILES = {
    "ps-server": "server.Dockerfile",
    "ps-worker-gpu": "worker-gpu.Dockerfile",
    "ps-worker-cpu": "worker-cpu.Dockerfile",
}
BINARIES = ("ps_server", "ps_worker")

failures = []


def fail(check, message):
    failures.append(f"FAIL {check}: {message}")


# ------------------------------------------------------------------ flags

def parse_helpfull(text):
    return set(re.findall(r"^\s+--([A-Za-z0-9_]+)", text, re.M))


def load_flags(path):
    flags = {b: set() for b in BINARIES}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            binary, flag = line.split()
            flags.setdefault(binary, set()).add(flag)
    return flags


def write_flags(path, server, worker, fallback=None):
    """Flags from each binary's --helpfull; a binary that is not built yet
    keeps its lines from `fallback` (the checked-in list)."""
    known = load_flags(fallback) if fallback else {}
    lines, sources = [], []
    for binary, exe in (("ps_server", server), ("ps_worker", worker)):
        if exe and os.access(exe, os.X_OK):
            out = subprocess.run([exe, "--helpfull"], capture_output=True, text=True)
            found = parse_helpfull(out.stdout + out.stderr)
            sources.append(f"{binary}: live --helpfull")
        else:
            found = known.get(binary, set())
            sources.append(f"{binary}: known_flags.txt")
        lines += [f"{binary} {flag}" for flag in sorted(found)]
    with open(path, "w") as f:
        f.write("# Flags of the pserve binaries, one \"BINARY FLAG\" a line, as their --helpfull\n"
                "# lists them. The k8s check uses the live binaries instead whenever\n"
                "# //server:ps_server and //worker:ps_worker exist; regenerate this file with\n"
                "#   python3 deploy/validate/check.py --write-flags deploy/validate/known_flags.txt\n")
        f.write("\n".join(lines) + "\n")
    print("flags: " + ", ".join(sources))


# ------------------------------------------------------------------ helpers

def parse_flags(argv, known, binary, where):
    values = {}
    for a in argv:
        m = re.match(r"^--?([A-Za-z0-9_]+)(?:=(.*))?$", a)
        if not m:
            fail("flags", f"{where}: {binary} argument '{a}' is not a --flag=value")
            continue
        name, value = m.group(1), m.group(2)
        bare = name[2:] if name.startswith("no") and name[2:] in known else name
        if bare not in known:
            fail("flags", f"{where}: unknown flag --{name} for {binary} (not in its --helpfull)")
        values[name] = value
    return values


def image_ok(image, where):
    ref = image.split("@")[0]
    last = ref.rsplit("/", 1)[-1]
    if "@sha256:" in image:
        return
    if ":" not in last:
        fail("image", f"{where}: image '{image}' is untagged; pin a release tag")
    elif last.endswith(":latest"):
        fail("image", f"{where}: image '{image}' uses :latest; pin a release tag")


def as_int(value, what, where):
    try:
        return int(value)
    except (TypeError, ValueError):
        fail("flags", f"{where}: {what}={value!r} is not an integer")
        return None


# ------------------------------------------------------------------ manifests

def check_overlay(name, objects, flags, root):
    expected_mode, gpu = OVERLAYS[name]
    tag = f"overlay {name}"
    configmaps = {o["metadata"]["name"]: o.get("data") or {} for o in objects if o["kind"] == "ConfigMap"}
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    server_sets, worker_jobs = [], []

    for obj in objects:
        spec = pod_spec(obj)
        if spec is None:
            continue
        where = f"{tag} {obj['kind']}/{obj['metadata']['name']}"
        pod_sc = spec.get("securityContext") or {}
        for c in containers(spec):
            cwhere = f"{where} container {c['name']}"
            image_ok(c.get("image", ""), cwhere)
            sc = c.get("securityContext") or {}
            if not (sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True):
                fail("non-root", f"{cwhere}: runAsNonRoot must be true")
            res = c.get("resources") or {}
            for kind in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in (res.get(kind) or {}):
                        fail("resources", f"{cwhere}: resources.{kind}.{r} missing")
            for probe_name in ("readinessProbe", "livenessProbe", "startupProbe"):
                probe = c.get(probe_name)
                if not probe:
                    continue
                for handler in ("grpc", "httpGet", "tcpSocket"):
                    if handler in probe and resolve_port(probe[handler].get("port"), c) is None:
                        fail("probe", f"{cwhere}: {probe_name} {handler} port {probe[handler].get('port')} "
                                      f"is not a containerPort {sorted(port_numbers(c)[0])}")
        # Which binary this workload runs decides the role.
        main = (spec.get("containers") or [{}])[0]
        script = " ".join(str(x) for x in (main.get("command") or []))
        if obj["kind"] == "StatefulSet" and "ps_server" in script:
            server_sets.append(obj)
        elif obj["kind"] == "Job" and "ps_worker" in script:
            worker_jobs.append(obj)

    if len(server_sets) != 1 or len(worker_jobs) != 1:
        fail("roles", f"{tag}: expected one ps_server StatefulSet and one ps_worker Job, "
                      f"found {len(server_sets)} and {len(worker_jobs)}")
        return
    sts, job = server_sets[0], worker_jobs[0]
    replicas = sts["spec"].get("replicas", 1)
    server_spec = pod_spec(sts)
    server = server_spec["containers"][0]
    swhere = f"{tag} StatefulSet/{sts['metadata']['name']}"

    # Headless service.
    svc_name = sts["spec"].get("serviceName")
    svc = services.get(svc_name)
    if svc is None:
        fail("serviceName", f"{swhere}: serviceName '{svc_name}' names no Service "
                            f"(Services: {sorted(services)})")
    else:
        if svc["spec"].get("clusterIP") != "None":
            fail("serviceName", f"{swhere}: Service {svc_name} must be headless (clusterIP: None)")
        selector = svc["spec"].get("selector") or {}
        if not selector or any(pod_labels(sts).get(k) != v for k, v in selector.items()):
            fail("serviceName", f"{swhere}: Service {svc_name} selector {selector} does not select the server pods")
    if sts["spec"].get("podManagementPolicy") != "Parallel":
        fail("statefulset", f"{swhere}: podManagementPolicy must be Parallel")
    pdbs = [o for o in objects if o["kind"] == "PodDisruptionBudget"
            and all(pod_labels(sts).get(k) == v
                    for k, v in (o["spec"].get("selector", {}).get("matchLabels") or {}).items())]
    if not pdbs:
        fail("pdb", f"{swhere}: no PodDisruptionBudget selects the server pods")
    for p in ("readinessProbe", "livenessProbe"):
        if not {"grpc", "tcpSocket"} & set(server.get(p) or {}):
            fail("probe", f"{swhere}: ps_server needs a grpc {p} (standard health service), "
                          "or tcpSocket when it serves TLS")

    # Server argv, as pod ps-(N-1) would run it.
    env = kube.container_env(server, configmaps, {}, fail)
    ordinal = replicas - 1
    binary, argv = kube.simulate_argv(server, env, {"HOSTNAME": f"{sts['metadata']['name']}-{ordinal}"}, swhere, fail)
    if binary != "ps_server":
        fail("flags", f"{swhere}: runs {binary}, expected ps_server")
        return
    sflags = parse_flags(argv, flags["ps_server"], binary, swhere)
    check_binary_in_image(server, binary, root, swhere)

    # Worker argv, as the last index would run it.
    wspec = pod_spec(job)
    worker = wspec["containers"][0]
    jwhere = f"{tag} Job/{job['metadata']['name']}"
    if job["spec"].get("completionMode") != "Indexed":
        fail("job", f"{jwhere}: completionMode must be Indexed")
    completions = job["spec"].get("completions")
    parallelism = job["spec"].get("parallelism")
    if "--rank=$(JOB_COMPLETION_INDEX)" not in [str(a) for a in worker.get("args") or []]:
        fail("flags", f"{jwhere}: ps_worker must get --rank=$(JOB_COMPLETION_INDEX)")
    index = (completions or 1) - 1
    wenv = kube.container_env(worker, configmaps, {"JOB_COMPLETION_INDEX": str(index)}, fail)
    binary, wargv = kube.simulate_argv(worker, wenv, {"HOSTNAME": f"{job['metadata']['name']}-{index}-x"}, jwhere, fail)
    if binary != "ps_worker":
        fail("flags", f"{jwhere}: runs {binary}, expected ps_worker")
        return
    wflags = parse_flags(wargv, flags["ps_worker"], binary, jwhere)
    check_binary_in_image(worker, binary, root, jwhere)

    # Ports, probes and scrape annotations against the flags.
    port = as_int(sflags.get("port", "7070"), "--port", swhere)
    numbers, names = port_numbers(server)
    if port not in numbers:
        fail("ports", f"{swhere}: --port={port} is not a containerPort {sorted(numbers)}")
    for p in ("readinessProbe", "livenessProbe"):
        probe = server.get(p) or {}
        handler = "tcpSocket" if "tcpSocket" in probe else "grpc"
        if handler == "tcpSocket" and not sflags.get("tls_cert"):
            fail("probe", f"{swhere}: {p} is tcpSocket but ps_server serves plaintext: use the grpc probe")
        probe_port = resolve_port(probe.get(handler, {}).get("port"), server)
        if probe_port is not None and probe_port != port:
            fail("probe", f"{swhere}: {p} checks port {probe_port} but ps_server serves gRPC on --port={port}")
    for obj, c, f, where in ((sts, server, sflags, swhere), (job, worker, wflags, jwhere)):
        mport = f.get("metrics_port")
        ann = obj["spec"]["template"]["metadata"].get("annotations") or {}
        if ann.get("prometheus.io/scrape") != "true":
            fail("metrics", f"{where}: prometheus.io/scrape must be \"true\"")
        if mport is None:
            fail("metrics", f"{where}: --metrics_port not set")
            continue
        if as_int(mport, "--metrics_port", where) not in port_numbers(c)[0]:
            fail("ports", f"{where}: --metrics_port={mport} is not a containerPort")
        if ann.get("prometheus.io/port") != str(mport):
            fail("metrics", f"{where}: prometheus.io/port {ann.get('prometheus.io/port')!r} != --metrics_port={mport}")
        if ann.get("prometheus.io/path") != "/metrics":
            fail("metrics", f"{where}: prometheus.io/path must be /metrics")

    # Counts.
    if sflags.get("server_id") != str(ordinal):
        fail("counts", f"{swhere}: pod ordinal {ordinal} gets --server_id={sflags.get('server_id')}")
    if sflags.get("num_servers") != str(replicas):
        fail("counts", f"{swhere}: --num_servers={sflags.get('num_servers')} but replicas={replicas}")
    if completions != parallelism:
        fail("counts", f"{jwhere}: completions={completions} != parallelism={parallelism}")
    for what, value in (("ps_server --num_workers", sflags.get("num_workers")),
                        ("ps_worker --num_workers", wflags.get("num_workers"))):
        if value != str(completions):
            fail("counts", f"{tag}: {what}={value} but the Job runs {completions} workers")
    if wflags.get("rank") != str(index):
        fail("counts", f"{jwhere}: index {index} gets --rank={wflags.get('rank')}")

    # Server list: ps-0.ps:PORT ... one per server replica.
    expected = [f"{sts['metadata']['name']}-{i}.{svc_name}:{port}" for i in range(replicas)]
    got = (wflags.get("servers") or "").split(",")
    if got != expected:
        fail("server list", f"{jwhere}: --servers={','.join(got)} but the StatefulSet gives {','.join(expected)}")

    # Mode.
    for who, f in (("ps_server", sflags), ("ps_worker", wflags)):
        if f.get("mode") != expected_mode:
            fail("mode", f"{tag}: {who} --mode={f.get('mode')}, expected {expected_mode}")
    if expected_mode == "ssp" and as_int(sflags.get("staleness", "0"), "--staleness", swhere) in (None, 0):
        fail("mode", f"{tag}: ssp needs --staleness > 0")

    # GPUs.
    limits = (worker.get("resources") or {}).get("limits") or {}
    gpus = int(limits.get("nvidia.com/gpu", 0))
    if gpu and gpus < 1:
        fail("gpu", f"{jwhere}: GPU workers must request nvidia.com/gpu: 1")
    if gpu and wflags.get("backend") != "cuda":
        fail("gpu", f"{jwhere}: GPU workers need --backend=cuda, got {wflags.get('backend')}")
    if not gpu and gpus:
        fail("gpu", f"{jwhere}: the cpu overlay must not request nvidia.com/gpu")
    if not gpu and wflags.get("backend") != "cpu":
        fail("gpu", f"{jwhere}: the cpu overlay needs --backend=cpu, got {wflags.get('backend')}")
    image = worker.get("image", "")
    if ("ps-worker-gpu" in image) != gpu:
        fail("gpu", f"{jwhere}: image {image} does not match the {'GPU' if gpu else 'CPU'} overlay")

    # Checkpoints on the claim template.
    mounts = {m["name"]: m["mountPath"] for m in server.get("volumeMounts") or []}
    claims = [t["metadata"]["name"] for t in sts["spec"].get("volumeClaimTemplates") or []]
    ckpt = sflags.get("checkpoint_dir")
    if not any(mounts.get(c) == ckpt for c in claims):
        fail("checkpoints", f"{swhere}: --checkpoint_dir={ckpt} is not a volumeClaimTemplates mount")


def check_binary_in_image(container, binary, root, where):
    image = container.get("image", "")
    short = image.split("@")[0].rsplit("/", 1)[-1].split(":")[0]
    dockerfile = IMAGE_DOCKERFILES.get(short)
    if dockerfile is None:
        fail("image", f"{where}: image {image} is not built by deploy/docker ({sorted(IMAGE_DOCKERFILES)})")
        return
    text = open(os.path.join(root, "deploy/docker", dockerfile)).read()
    final = text.split("\nFROM ")[-1]
    if not re.search(rf"COPY .*{binary}.*/usr/local/bin/|COPY .*/out/bin/ /usr/local/bin/", final) \
            or binary not in text:
        fail("image", f"{where}: {dockerfile} does not install /usr/local/bin/{binary}")


# ------------------------------------------------------------------ Dockerfiles

def check_dockerfiles(root):
    ddir = os.path.join(root, "deploy/docker")
    for name in sorted(IMAGE_DOCKERFILES.values()):
        path = os.path.join(ddir, name)
        if not os.path.exists(path):
            fail("dockerfile", f"{name} missing")
            continue
        stages, user = set(), None
        froms = 0
        for line in open(path):
            m = re.match(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.I)
            if m:
                froms += 1
                user = None
                if m.group(1) not in stages:
                    image_ok(m.group(1), f"{name} FROM")
                if m.group(2):
                    stages.add(m.group(2))
            m = re.match(r"^USER\s+(\S+)", line)
            if m:
                user = m.group(1)
        if froms < 2:
            fail("dockerfile", f"{name}: needs a build stage and a runtime stage")
        if user is None or user.split(":")[0] in ("root", "0"):
            fail("dockerfile", f"{name}: the runtime stage must set a non-root USER")


# ------------------------------------------------------------------ docs

def doc_commands(path):
    text = open(path).read()
    blocks = re.findall(r"```(?:sh|bash|console)\n(.*?)```", text, re.S)
    for block in blocks:
        block = block.replace("\\\n", " ")
        for line in block.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                yield line


def check_docs(root, rendered):
    path = os.path.join(root, "docs/deploy.md")
    if not os.path.exists(path):
        fail("docs", "docs/deploy.md missing")
        return
    kustomizations = set(rendered)
    everything = [o for objs in rendered.values() for o in objs]
    namespaces = {o["metadata"].get("namespace") for o in everything if o["kind"] != "Namespace"}
    images = set()
    comp = yaml.safe_load(open(os.path.join(root, "deploy/k8s/components/images/kustomization.yaml")))
    for i in comp.get("images") or []:
        images.add(f"{i.get('newName', i['name'])}:{i.get('newTag')}")
    params = open(os.path.join(root, "deploy/k8s/base/params.env")).read()
    param_keys = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", params, re.M))

    def find(kind, name):
        kind = {"sts": "statefulset", "svc": "service", "po": "pod", "cm": "configmap",
                "pvc": "persistentvolumeclaim", "pdb": "poddisruptionbudget"}.get(kind.lower(), kind.lower())
        for o in everything:
            if o["kind"].lower() == kind and o["metadata"]["name"] == name:
                return o
            if kind == "pod" and o["kind"] == "StatefulSet":
                base = o["metadata"]["name"]
                m = re.match(rf"^{re.escape(base)}-(\d+)$", name)
                if m and int(m.group(1)) < o["spec"].get("replicas", 1):
                    return o
        return None

    forwarded = set()
    for line in doc_commands(path):
        where = f"docs/deploy.md: `{line}`"
        for part in re.split(r"\s*(?:&&|\|)\s*", line):
            try:
                tokens = shlex.split(part)
            except ValueError as e:
                fail("docs", f"{where}: {e}")
                continue
            if not tokens:
                continue
            tool = tokens[0]
            if tool.startswith("tools/checks/"):
                if not os.path.exists(os.path.join(root, tool)):
                    fail("docs", f"{where}: {tool} does not exist")
            elif tool == "sed":
                target = tokens[-1]
                if not os.path.exists(os.path.join(root, target)):
                    fail("docs", f"{where}: {target} does not exist")
                for key in re.findall(r"\^([A-Z_][A-Z0-9_]*)=", part):
                    if key not in param_keys:
                        fail("docs", f"{where}: {key} is not a key of deploy/k8s/base/params.env")
            elif tool == "docker":
                check_docker_doc(tokens, images, root, where)
            elif tool == "curl":
                m = re.search(r"localhost:(\d+)(/\S*)", part)
                if not m or int(m.group(1)) not in forwarded or m.group(2) != "/metrics":
                    fail("docs", f"{where}: curl must fetch /metrics on a port forwarded above")
            elif tool == "kubectl":
                check_kubectl_doc(tokens, kustomizations, namespaces, find, forwarded, where)
            elif tool in ("head", "grep", "tail", "sort"):
                continue  # filters after a pipe
            else:
                fail("docs", f"{where}: '{tool}' is not a command the validation exercises")


def check_docker_doc(tokens, images, root, where):
    sub = tokens[1] if len(tokens) > 1 else ""
    if sub == "build":
        f = tokens[tokens.index("-f") + 1] if "-f" in tokens else None
        t = tokens[tokens.index("-t") + 1] if "-t" in tokens else None
        if not f or not os.path.exists(os.path.join(root, f)):
            fail("docs", f"{where}: Dockerfile {f} does not exist")
        if t not in images:
            fail("docs", f"{where}: tag {t} is not an image the manifests use {sorted(images)}")
        elif f:
            short = t.rsplit("/", 1)[-1].split(":")[0]
            if IMAGE_DOCKERFILES.get(short) != os.path.basename(f):
                fail("docs", f"{where}: {f} does not build {short}")
        if tokens[-1] != ".":
            fail("docs", f"{where}: build context must be the repository root '.'")
    elif sub == "push":
        if tokens[2] not in images:
            fail("docs", f"{where}: pushes {tokens[2]}, not an image the manifests use")
    else:
        fail("docs", f"{where}: docker {sub} is not exercised")


def check_kubectl_doc(tokens, kustomizations, namespaces, find, forwarded, where):
    args = tokens[1:]
    if "--" in args:
        args = args[:args.index("--")]
    sub = args[0] if args else ""
    allowed = {"kustomize", "apply", "delete", "get", "logs", "wait", "port-forward", "cp", "exec",
               "rollout", "describe"}
    if sub not in allowed:
        fail("docs", f"{where}: kubectl {sub} is not exercised (counts change in params.env, not kubectl scale)")
        return
    i = 1
    positional = []
    while i < len(args):
        a = args[i]
        value = args[i + 1] if i + 1 < len(args) else None
        if a in ("-k", "--kustomize"):
            if value not in kustomizations:
                fail("docs", f"{where}: {value} is not a rendered kustomization ({sorted(kustomizations)})")
            i += 2
            continue
        if a in ("-n", "--namespace"):
            if value not in namespaces:
                fail("docs", f"{where}: namespace {value} is not used by the manifests ({sorted(namespaces)})")
            i += 2
            continue
        if a in ("-l", "--selector"):
            pairs = dict(p.split("=", 1) for p in value.split(","))
            check_selector(pairs, find, where)
            i += 2
            continue
        if a in ("-c", "--container"):
            i += 2
            continue
        if sub in ("apply", "delete") and a in ("-f", "--filename"):
            if value is None or not value.startswith("deploy/monitoring/") or \
                    not os.path.isfile(os.path.join(check_kubectl_doc.root, value)):
                fail("docs", f"{where}: -f {value} is not a file under deploy/monitoring/")
            i += 2
            continue
        if a.startswith("-"):
            i += 1  # boolean or --name=value flags
            continue
        positional.append(a)
        i += 1
    if sub == "kustomize" and (not positional or positional[0] not in kustomizations):
        fail("docs", f"{where}: kustomize path {positional[:1]} is not a rendered kustomization")
    for p in positional:
        if sub == "cp":
            if ":" in p:
                pod = p.split(":")[0].split("/")[-1]
                obj = find("pod", pod)
                if obj is None:
                    fail("docs", f"{where}: pod {pod} is not in the manifests")
                else:
                    path = p.split(":", 1)[1]
                    mounts = [m["mountPath"] for c in containers(pod_spec(obj)) for m in c.get("volumeMounts") or []]
                    if not any(path == m or path.startswith(m.rstrip("/") + "/") for m in mounts):
                        fail("docs", f"{where}: {path} is on no volume of pod {pod} ({mounts})")
            continue
        if "/" in p and not p.startswith(("deploy/", "./")):
            kind, name = p.split("/", 1)
            obj = find(kind, name)
            if obj is None:
                fail("docs", f"{where}: {p} is not in the manifests")
            elif sub == "port-forward":
                ports = [pp for pp in positional if re.match(r"^\d+:\d+$", pp)]
                for pp in ports:
                    local, remote = (int(x) for x in pp.split(":"))
                    spec = pod_spec(obj)
                    if spec is None and obj["kind"] == "Service":
                        svc_ports = [sp["port"] for sp in obj["spec"].get("ports") or []]
                        ok = remote in svc_ports
                    else:
                        ok = any(remote in port_numbers(c)[0] for c in containers(spec))
                    if not ok:
                        fail("docs", f"{where}: {p} exposes no port {remote}")
                    forwarded.add(local)
        elif sub == "get" and p in ("pods", "pvc", "jobs", "statefulsets", "svc"):
            continue
        elif sub in ("apply", "delete") and p.startswith("deploy/"):
            fail("docs", f"{where}: apply/delete overlays with -k, not {p}")


def check_selector(pairs, find, where):
    for o in check_selector.objects:
        labels = dict(o["metadata"].get("labels") or {})
        labels.update(pod_labels(o) if pod_spec(o) is not None else {})
        if all(labels.get(k) == v for k, v in pairs.items()):
            return
    fail("docs", f"{where}: selector {pairs} matches nothing in the manifests")


check_selector.objects = []


# ------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root")
    ap.add_argument("--rendered")
    ap.add_argument("--flags")
    ap.add_argument("--write-flags")
    ap.add_argument("--server", default="bazel-bin/server/ps_server")
    ap.add_argument("--worker", default="bazel-bin/worker/ps_worker")
    ap.add_argument("--fallback", help="flag list for binaries not built yet")
    opts = ap.parse_args()
    if opts.write_flags:
        write_flags(opts.write_flags, opts.server, opts.worker, opts.fallback)
        return 0

    flags = load_flags(opts.flags)
    rendered = {}
    for name in OVERLAYS:
        rendered[f"deploy/k8s/overlays/{name}"] = load_objects(os.path.join(opts.rendered, f"overlay-{name}.yaml"))
    rendered["deploy/k8s/storage"] = load_objects(os.path.join(opts.rendered, "storage.yaml"))
    check_selector.objects = [o for objs in rendered.values() for o in objs]
    check_kubectl_doc.root = opts.root

    for name in OVERLAYS:
        check_overlay(name, rendered[f"deploy/k8s/overlays/{name}"], flags, opts.root)
    for obj in rendered["deploy/k8s/storage"]:
        spec = pod_spec(obj)
        for c in containers(spec) if spec else []:
            image_ok(c.get("image", ""), f"storage {obj['kind']}/{obj['metadata']['name']}")
    check_dockerfiles(opts.root)
    check_docs(opts.root, rendered)

    for line in failures:
        print(line)
    print(f"project checks: {len(failures)} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
