#!/usr/bin/env bash
# Installs every Debian package pserve needs, from nothing, idempotently.
# Both README commands (tools/demo.sh, tools/test.sh) call this first.
# Usage: tools/setup.sh [--with-torch] [--with-containers]
#   torch: only for references/benchmarks; containers: podman, runc and
#   mmdebstrap for tools/checks/k8s_containers.sh
set -euo pipefail

PACKAGES=(
  bazel-bootstrap
  build-essential
  pkg-config
  protobuf-compiler
  protobuf-compiler-grpc
  libprotobuf-dev
  libgrpc++-dev
  libabsl-dev
  libeigen3-dev
  libspdlog-dev
  libfmt-dev
  catch2
  clang-14
  libclang-rt-14-dev
  libomp-14-dev
  libcpp-httplib-dev
  prometheus-cpp-dev
  prometheus
  python3
  python3-numpy
  python3-matplotlib
  fortunes
  fortunes-min
  yamllint
  nodejs
  npm
  procps
  iproute2
  curl
  python3-grpcio
  python3-grpc-tools
)
for arg in "$@"; do
  case "$arg" in
    --with-torch) PACKAGES+=(python3-torch libopenblas0-pthread) ;;
    # tools/checks/k8s_containers.sh: images and containers, no Docker
    # (netavark needs iptables for the bridge networks).
    --with-containers) PACKAGES+=(podman runc mmdebstrap netavark aardvark-dns iptables) ;;
    *) echo "setup: unknown option $arg (use --with-torch, --with-containers)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# node and npm may come from elsewhere (nvm, nodesource); do not fight them.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do
    [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p")
  done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: all packages present"
