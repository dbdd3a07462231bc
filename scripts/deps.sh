#!/usr/bin/env bash
# Installs the Debian 12 packages vtfs builds and tests with.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config git
  libssl-dev libfmt-dev libgtest-dev liblmdb-dev libdeflate-dev
  libfuse3-dev fuse3
  # the RADOS block store and its test cluster
  librados-dev libradospp-dev ceph-mon ceph-osd ceph-common uuid-runtime
  # benchmarks
  bc
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
