#!/usr/bin/env bash
# Offline validation of the Kubernetes deployment: renders every kustomize
# overlay and the storage kit, validates every object's schema
# (kubernetes-models), lints the YAML, and checks project rules (flags exist
# in the binaries, ports, probes, server list, GPUs, images, Dockerfiles,
# docs/deploy.md). Prints PASS/FAIL per step; exit 0 only if all pass.
# Env: PSERVE_FLAGS_FILE=FILE uses that flag list instead of the binaries.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

PY=/usr/bin/python3  # Debian's python3: has PyYAML (a yamllint dependency)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
failed=0

step() {  # step NAME COMMAND...: runs it, prints PASS/FAIL with its output
  local name=$1
  shift
  if "$@" >"$out/log" 2>&1; then
    echo "PASS $name"
  else
    echo "FAIL $name"
    sed 's/^/  /' "$out/log"
    failed=1
  fi
}

# 1. Render.
mkdir -p "$out/rendered"
render() {
  for o in sync async ssp cpu secure; do
    kubectl kustomize "deploy/k8s/overlays/$o" >"$out/rendered/overlay-$o.yaml" ||
      { echo "kustomize: overlay $o does not render"; return 1; }
  done
  kubectl kustomize deploy/k8s/storage >"$out/rendered/storage.yaml" ||
    { echo "kustomize: deploy/k8s/storage does not render"; return 1; }
  echo "kustomize: rendered 5 overlays and the storage kit"
}
step kustomize render
if ((failed)); then
  echo "k8s checks: FAILED (nothing to validate without rendered manifests)"
  exit 1
fi

# 2. Schema of every rendered object.
if [[ ! -d deploy/validate/node_modules/kubernetes-models ]]; then
  npm ci --prefix deploy/validate --no-audit --no-fund >"$out/npm.log" 2>&1 ||
    { cat "$out/npm.log"; echo "FAIL schema: npm ci failed"; exit 1; }
fi
step schema node deploy/validate/validate.js "$out"/rendered/*.yaml

# 3. YAML style, sources and rendered output.
step yamllint yamllint --strict -c deploy/.yamllint deploy/ "$out/rendered"

# 4. Project rules. Flags: the live binaries for whichever of ps_server and
# ps_worker Bazel has a target for; the checked-in list for the others.
flags=${PSERVE_FLAGS_FILE:-}
if [[ -z "$flags" ]]; then
  targets=()
  grep -qs 'name = "ps_server"' server/BUILD && targets+=(//server:ps_server)
  grep -qs 'name = "ps_worker"' worker/BUILD && targets+=(//worker:ps_worker)
  if ((${#targets[@]})) && ! bazel build "${targets[@]}" >"$out/bazel.log" 2>&1; then
    tail -20 "$out/bazel.log"
    echo "FAIL flags: bazel build ${targets[*]} failed"
    failed=1
  fi
  live() { if [[ " ${targets[*]-} " == *" $1 "* ]]; then echo "$2"; fi; }
  $PY deploy/validate/check.py --write-flags "$out/flags.txt" \
    --fallback deploy/validate/known_flags.txt \
    --server "$(live //server:ps_server bazel-bin/server/ps_server)" \
    --worker "$(live //worker:ps_worker bazel-bin/worker/ps_worker)"
  flags="$out/flags.txt"
fi
step project $PY deploy/validate/check.py --root "$root" --rendered "$out/rendered" --flags "$flags"

if ((failed)); then
  echo "k8s checks: FAILED"
  exit 1
fi
echo "k8s checks: all passed"
