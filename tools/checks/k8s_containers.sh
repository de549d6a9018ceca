#!/usr/bin/env bash
# Container check (tools/checks/k8s_containers.py): builds the server and
# CPU-worker images with podman and runs the cpu overlay's pods as
# containers. Slow from cold (packages and a full compile in the image
# build), so from tools/test.sh it runs only when its inputs changed since
# its last pass: deploy/, tools/setup.sh or the container checks themselves.
# Usage: tools/checks/k8s_containers.sh [--force]   (--force: run regardless)
set -euo pipefail
cd "$(dirname "$0")/../.."
cache="$HOME/.cache/pserve-containers"
force=0
if [[ "${1:-}" == "--force" ]]; then force=1; shift; fi
if (($#)); then echo "k8s_containers.sh: unknown argument $1 (use --force)" >&2; exit 2; fi

inputs=$(git ls-files -co --exclude-standard -- deploy tools/setup.sh \
  tools/checks/k8s_containers.sh tools/checks/k8s_containers.py \
  tools/checks/k8s_run.py | sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
if ((!force)) && [[ -f "$cache/passed" && "$(cat "$cache/passed")" == "$inputs" ]]; then
  echo "SKIP containers: deploy/ and the container checks are unchanged since the last pass" \
    "(tools/checks/k8s_containers.sh --force runs it anyway)"
  exit 0
fi
tools/setup.sh --with-containers
mkdir -p "$cache"
/usr/bin/python3 tools/checks/k8s_containers.py --base "$cache/debian-bookworm-base.tar"
echo "$inputs" >"$cache/passed"
