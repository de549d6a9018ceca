#!/usr/bin/env bash
# Fuzz check (run by tools/test.sh): every libFuzzer target for
# FUZZ_SECONDS (default 30) from its seed corpus; fails on any crash.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
exec tools/fuzz.sh all "${FUZZ_SECONDS:-30}"
