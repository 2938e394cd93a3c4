#!/usr/bin/env bash
# Installs the Debian packages the build, the tests and the benchmarks need (idempotent).
set -euo pipefail
packages=(
  # build: libcontainer's seccomp support; protoc for the CRI test client's generated API
  build-essential pkg-config libseccomp-dev protobuf-compiler
  # test fixtures and tools: busybox rootfs, ps, ip/nft for sandbox networking
  busybox-static procps iproute2 nftables
  # real clients the integration tests drive, and the runc and crun baselines
  runc crun podman containerd docker.io uidmap
  # the local model (scripts/local-model.sh): llama-cpp-python compiles llama.cpp in a venv
  cmake python3-venv python3-dev
  # benchmarks
  hyperfine wrk socat gnuplot-nox
  # scripts/fetch-minilm.sh: the embedding model's wheel from PyPI
  python3-pip unzip
)
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/deps.sh: run as root (apt-get install)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
