#!/usr/bin/env bash
# Render-and-run check: every Kubernetes overlay's server and worker pods,
# with the argv and environment the kubelet would give them, run as local
# processes (tools/checks/k8s_run.py). Builds the binaries first.
set -euo pipefail
cd "$(dirname "$0")/../.."
bazel build //server:ps_server //worker:ps_worker //worker:ps_prepare
exec /usr/bin/python3 tools/checks/k8s_run.py --bin bazel-bin "$@"
