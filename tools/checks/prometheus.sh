#!/usr/bin/env bash
# Prometheus check: Debian's prometheus scrapes a local run of the cpu
# overlay's pods and its HTTP API must return the training metrics
# (tools/checks/prometheus_scrape.py). Builds the binaries first.
set -euo pipefail
cd "$(dirname "$0")/../.."
bazel build //server:ps_server //worker:ps_worker //worker:ps_prepare
exec /usr/bin/python3 tools/checks/prometheus_scrape.py --bin bazel-bin "$@"
