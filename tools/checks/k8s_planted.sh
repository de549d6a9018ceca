#!/usr/bin/env bash
# Planted-mistake test for tools/checks/k8s.sh: for each kind of mistake,
# copies the deployment tree to a temporary directory, plants that one
# mistake, runs the check there and asserts that it fails with the expected
# message. Exit 0 only if every planted mistake is caught.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [[ ! -d deploy/validate/node_modules/kubernetes-models ]]; then
  npm ci --prefix deploy/validate --no-audit --no-fund >/dev/null
fi

# The pristine copy must pass, or every "caught" below means nothing.
pristine="$work/pristine"
mkdir -p "$pristine/tools" "$pristine/docs"
# node_modules is large and read-only here: link it instead of copying.
tar -C "$root" --exclude=deploy/validate/node_modules -cf - deploy | tar -C "$pristine" -xf -
ln -s "$root/deploy/validate/node_modules" "$pristine/deploy/validate/node_modules"
cp -a tools/checks "$pristine/tools/"
cp docs/deploy.md "$pristine/docs/"
export PSERVE_FLAGS_FILE="$pristine/deploy/validate/known_flags.txt"
if ! bash "$pristine/tools/checks/k8s.sh" >"$work/log" 2>&1; then
  cat "$work/log"
  echo "FAIL planted: the unmodified tree does not pass"
  exit 1
fi

caught=0
missed=0
# plant NAME FILE OLD NEW EXPECTED: replace the first OLD with NEW in FILE
# (relative to the copy), run the check, expect failure mentioning EXPECTED.
plant() {
  local name=$1 file=$2 old=$3 new=$4 expected=$5
  local copy="$work/$name"
  rm -rf "$copy"
  cp -a "$pristine" "$copy"
  if ! /usr/bin/python3 - "$copy/$file" "$old" "$new" <<'PY'
import sys
path, old, new = sys.argv[1:]
text = open(path).read()
if old not in text:
    sys.exit(f"planted: '{old}' not found in {path}")
open(path, "w").write(text.replace(old, new, 1))
PY
  then
    echo "FAIL planted $name: could not plant the mistake"
    missed=$((missed + 1))
    return
  fi
  if PSERVE_FLAGS_FILE="$copy/deploy/validate/known_flags.txt" \
    bash "$copy/tools/checks/k8s.sh" >"$work/log" 2>&1; then
    echo "FAIL planted $name: the check passed"
    missed=$((missed + 1))
  elif grep -qF -- "$expected" "$work/log"; then
    echo "PASS planted $name: $(grep -F -m1 -- "$expected" "$work/log" | sed 's/^ *//')"
    caught=$((caught + 1))
  else
    echo "FAIL planted $name: failed, but without '$expected':"
    sed 's/^/  /' "$work/log"
    missed=$((missed + 1))
  fi
}

base=deploy/k8s/base
plant unknown-flag $base/ps-statefulset.yaml '--lr=$(LR)' '--learning_rate=$(LR)' \
  'unknown flag --learning_rate for ps_server'
plant missing-config-key $base/ps-statefulset.yaml '--lr=$(LR)' '--lr=$(LEARNING_RATE)' \
  'unresolved $(LEARNING_RATE)'
plant probe-port $base/ps-statefulset.yaml $'grpc:\n              port: 7070' \
  $'grpc:\n              port: 7071' 'readinessProbe grpc port 7071 is not a containerPort'
plant server-list-port $base/worker-job.yaml 'ps-$i.ps:7070' 'ps-$i.ps:7071' \
  'FAIL server list'
plant server-list-count $base/worker-job.yaml '-lt "$NUM_SERVERS"' '-le "$NUM_SERVERS"' \
  'FAIL server list'
plant count-replacement $base/kustomization.yaml $'          - spec.parallelism\n' '' \
  'completions=2 != parallelism=1'
plant worker-no-gpu $base/worker-job.yaml 'nvidia.com/gpu: 1' 'nvidia.com/gpu: 0' \
  'GPU workers must request nvidia.com/gpu'
plant image-latest deploy/k8s/components/images/kustomization.yaml 'newTag: 0.1.0' 'newTag: latest' \
  "uses :latest"
plant image-untagged deploy/k8s/components/images/kustomization.yaml $'    newTag: 0.1.0\n' '' \
  'is untagged'
plant service-name $base/ps-statefulset.yaml 'serviceName: ps' 'serviceName: pserve' \
  "serviceName 'pserve' names no Service"
plant not-headless $base/ps-service.yaml $'  clusterIP: None\n' '' \
  'must be headless'
plant schema $base/worker-job.yaml 'backoffLimit: 6' 'backoffLimit: six' \
  '/spec/backoffLimit must be integer'
plant yamllint $base/ps-pdb.yaml 'maxUnavailable: 0' 'maxUnavailable: 0   ' \
  'trailing spaces'
plant kustomize $base/kustomization.yaml '- ps-pdb.yaml' '- ps-pdbs.yaml' \
  'FAIL kustomize'
plant mode deploy/k8s/overlays/async/kustomization.yaml 'MODE=async' 'MODE=sync' \
  'ps_server --mode=sync, expected async'
plant non-root $base/worker-job.yaml 'runAsNonRoot: true' 'runAsNonRoot: false' \
  'runAsNonRoot must be true'
plant scrape-port $base/ps-statefulset.yaml 'prometheus.io/port: "9100"' 'prometheus.io/port: "9101"' \
  "prometheus.io/port '9101' != --metrics_port=9100"
plant pdb $base/ps-pdb.yaml 'app.kubernetes.io/name: ps' 'app.kubernetes.io/name: server' \
  'no PodDisruptionBudget selects the server pods'
plant dockerfile-latest deploy/docker/server.Dockerfile 'FROM debian:12.11-slim' 'FROM debian:latest' \
  "server.Dockerfile FROM: image 'debian:latest' uses :latest"
plant dockerfile-root deploy/docker/worker-cpu.Dockerfile 'USER 10001:10001' 'USER root' \
  'worker-cpu.Dockerfile: the runtime stage must set a non-root USER'
plant docs-overlay docs/deploy.md 'kubectl apply -k deploy/k8s/overlays/async' \
  'kubectl apply -k deploy/k8s/overlays/asink' 'deploy/k8s/overlays/asink is not a rendered kustomization'
plant docs-port docs/deploy.md 'pod/ps-0 9100:9100' 'pod/ps-0 9100:9200' \
  'pod/ps-0 exposes no port 9200'

echo "planted mistakes: ${caught} caught, ${missed} missed"
((missed == 0))
