#!/usr/bin/env bash
# Container check (tools/checks/k8s_containers.py): builds the server and
# CPU-worker images with podman and runs the cpu overlay's pods as
# containers. Slow from cold (packages and a full compile in the image
# build), so from tools/test.sh it runs only once it has passed on this
# machine (a first --force run), and then only when its inputs (deploy/,
# tools/setup.sh, BUILD files, Bazel settings, the container checks) differ
# from main and have not passed here with these exact contents.
# Usage: tools/checks/k8s_containers.sh [--force [--keep DIR]]
#   --force: run regardless; --keep DIR: leave the renders, volumes and
#   every container's log in DIR.
set -euo pipefail
{ # Read whole before it runs: a run takes long, the file may change meanwhile.
cd "$(dirname "$0")/../.."
cache="$HOME/.cache/pserve-containers"
force=0
keep=()
if [[ "${1:-}" == "--force" ]]; then force=1; shift; fi
if ((force)) && [[ "${1:-}" == "--keep" && -n "${2:-}" ]]; then keep=(--keep "$2"); shift 2; fi
if (($#)); then echo "k8s_containers.sh: unknown argument $1 (use --force [--keep DIR])" >&2; exit 2; fi

# What decides the images and the pods other than the code itself: the
# manifests and Dockerfiles, the packages, the link lines (BUILD files, Bazel
# settings), the checks.
paths=(deploy tools/setup.sh .bazelrc WORKSPACE third_party ':(glob)**/BUILD'
  tools/checks/k8s_containers.sh tools/checks/k8s_containers.py tools/checks/k8s_images.py
  tools/checks/k8s_run.py)
inputs=$(git ls-files -co --exclude-standard -- "${paths[@]}" | sort -u | xargs sha256sum |
  sha256sum | cut -d' ' -f1)
if ((!force)); then
  # Changed: against the branch point from main (uncommitted edits count),
  # and not already passed on this machine with these exact inputs.
  base=$(git merge-base main HEAD 2>/dev/null || git merge-base origin/main HEAD 2>/dev/null || true)
  if [[ -z "$base" ]]; then
    echo "SKIP containers: no main branch here to compare with" \
      "(tools/checks/k8s_containers.sh --force runs it anyway)"
    exit 0
  fi
  if git diff --quiet "$base" -- "${paths[@]}" &&
    [[ -z "$(git ls-files -o --exclude-standard -- "${paths[@]}")" ]]; then
    echo "SKIP containers: deploy/, setup.sh, BUILD files and the container checks are unchanged from main" \
      "(tools/checks/k8s_containers.sh --force runs it anyway)"
    exit 0
  fi
  if [[ ! -f "$cache/passed" ]]; then
    echo "SKIP containers: never passed on this machine; run tools/checks/k8s_containers.sh" \
      "--force once (it builds the images from nothing: slow), then tools/test.sh runs it on changes"
    exit 0
  fi
  if [[ "$(cat "$cache/passed")" == "$inputs" ]]; then
    echo "SKIP containers: these inputs already passed on this machine" \
      "(tools/checks/k8s_containers.sh --force runs it anyway)"
    exit 0
  fi
fi
mkdir -p "$cache"
# One run at a time per machine: the images, tags and caches are shared.
exec 9>>"$cache/lock"
flock 9
tools/setup.sh --with-containers
/usr/bin/python3 tools/checks/k8s_containers.py --base "$cache/debian-bookworm-base.tar" "${keep[@]}"
echo "$inputs" >"$cache/passed"
exit 0
}
