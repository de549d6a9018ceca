#!/usr/bin/env python3
"""Images for the container check (k8s_containers.py): podman itself (with
runc: crun refuses these VMs' hybrid cgroup layout), the Debian base images
made with mmdebstrap from Debian's archive and tagged with the names the
Dockerfiles use (no registry is reachable), podman builds of
deploy/docker's Dockerfiles from the repository root, and the two steps of
the storage kit's toolbox pod run in the CPU worker image (staging the data,
sampling the export). Single-threaded; each call blocks until podman
returns.
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import k8s_run  # noqa: E402
from k8s_run import ROOT  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "deploy/validate"))
from check import IMAGE_DOCKERFILES  # noqa: E402

PODMAN = ["podman", "--runtime", "runc"]
# runc cannot raise the container's limits above the host's hard limits.
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
BASE_TAGS = ("debian:12.11", "debian:12.11-slim")
BUILD_TIMEOUT_S = 3600
# deploy/k8s/storage/toolbox.yaml's runAsUser:runAsGroup, for the steps that
# stand in for the toolbox pod (staging the data, sampling the export).
TOOLBOX_USER = (10001, 10001)


def podman(*args, check=True, timeout=120):
    """Runs podman with runc; returns the CompletedProcess (text output).
    check: a non-zero exit raises RuntimeError with podman's message."""
    out = subprocess.run(PODMAN + list(args), capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args[:3])}: {out.stderr.strip()[-600:]}")
    return out


def base_images(tar):
    """Makes the Debian base tarball with mmdebstrap if `tar` is missing
    (cached from then on), imports it under the tags the Dockerfiles name.
    RuntimeError if mmdebstrap or podman fails."""
    start, made = time.monotonic(), not os.path.exists(tar)
    if made:
        os.makedirs(os.path.dirname(tar), exist_ok=True)
        part = tar + ".part"
        out = subprocess.run(["mmdebstrap", "--variant=apt", "--format=tar", "--include=ca-certificates",
                              "bookworm", part, "http://deb.debian.org/debian"],
                             capture_output=True, text=True, timeout=1800)
        if out.returncode != 0:
            raise RuntimeError(f"mmdebstrap failed: {out.stderr.strip()[-600:]}")
        os.rename(part, tar)
    stamp = str(os.path.getmtime(tar))
    have = podman("image", "inspect", "--format", "{{index .Labels \"pserve.base\"}}", BASE_TAGS[0],
                  check=False)
    if have.returncode != 0 or have.stdout.strip() != stamp:
        podman("import", "--change", f"LABEL pserve.base={stamp}", "--change", "CMD [\"/bin/bash\"]",
               tar, BASE_TAGS[0], timeout=600)
    for tag in BASE_TAGS[1:]:
        podman("tag", BASE_TAGS[0], tag)
    how = "made with mmdebstrap" if made else "cached"
    print(f"PASS base images: {', '.join(BASE_TAGS)} from {tar} ({how}, {time.monotonic() - start:.0f}s)",
          flush=True)


def build_image(image, cache_dir):
    """podman build of the image's Dockerfile from the repository root; the
    full output goes to cache_dir/build-<name>.log."""
    short = image.split("@")[0].rsplit("/", 1)[-1].split(":")[0]
    dockerfile = os.path.join("deploy/docker", IMAGE_DOCKERFILES[short])
    log = os.path.join(cache_dir, f"build-{short}.log")
    print(f"building {image} from {dockerfile} (log: {log})", flush=True)
    start = time.monotonic()
    # The build stage's Bazel output and disk cache and apt's downloads live
    # on the host, so rebuilds after a small change take minutes.
    for sub in ("bazel", "apt"):
        os.makedirs(os.path.join(cache_dir, sub), exist_ok=True)
    with open(log, "w") as out:
        rc = subprocess.run(PODMAN + ["build", "--pull=never", *ULIMITS, "-v", f"{cache_dir}/bazel:/root/.cache",
                                      "-v", f"{cache_dir}/apt:/var/cache/apt/archives",
                                      "-f", dockerfile, "-t", image, "."],
                            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S).returncode
    if rc != 0:
        raise RuntimeError(f"podman build -f {dockerfile} failed (exit {rc}): {k8s_run.tail(log, 12)}")
    print(f"PASS image {image}: built from {dockerfile} in {time.monotonic() - start:.0f}s", flush=True)


def prepare_data(image, data_dir):
    """Token shards made by the worker image's own ps_prepare, as the
    storage kit's toolbox would."""
    os.makedirs(data_dir, exist_ok=True)
    os.chown(data_dir, *TOOLBOX_USER)
    podman("run", "--rm", "--user", "%d:%d" % TOOLBOX_USER, "--read-only", "--cap-drop=ALL", *ULIMITS,
           "-v", "/usr/share/games/fortunes:/in:ro", "-v", f"{data_dir}:/data:rw",
           "--entrypoint", "/usr/local/bin/ps_prepare", image, "--input=/in/art", "--out_dir=/data")


def sample_export(data_dir, worker, export, local):
    """Reads the export as docs/deploy.md does through the toolbox pod: the
    CPU worker image's ps_generate with the data's tokenizer, both volumes
    read-only. Returns the sampled text; RuntimeError if it fails."""
    out = podman("run", "--rm", "--user", "%d:%d" % TOOLBOX_USER, "--read-only", "--cap-drop=ALL", *ULIMITS,
                 "--network", "none", "-v", f"{data_dir}:/data:ro",
                 "-v", f"{os.path.dirname(local)}:{os.path.dirname(export)}:ro",
                 "--entrypoint", "/usr/local/bin/ps_generate", worker.container["image"],
                 f"--model={export}", f"--tokenizer={worker.env['TOKENIZER']}", "--prompt=Never trust a",
                 "--max_tokens=24", "--seed=1")
    if not out.stdout.strip():
        raise RuntimeError(f"ps_generate printed nothing: {out.stderr.strip()[-300:]}")
    return out.stdout.strip()
