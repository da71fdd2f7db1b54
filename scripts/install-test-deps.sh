#!/usr/bin/env bash
# Installs what the tests, demo and benchmarks need on a fresh Debian machine (as root).
# Idempotent and quiet when everything is already there.
set -euo pipefail

need=()
# The test images are built from a *static* busybox (no libc inside the image).
if ! [ -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then need+=(busybox-static); fi
command -v umoci >/dev/null || need+=(umoci)
command -v skopeo >/dev/null || need+=(skopeo)
# Networking: published ports, isolation, NAT and firewall rules go through nft; tests use ss/ip.
command -v nft >/dev/null || need+=(nftables)
command -v ss >/dev/null || need+=(iproute2)
# The real distribution registry the pull tests start on 127.0.0.1.
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
if [ "${POLIS_BENCH_DEPS:-0}" = 1 ]; then
  command -v runc >/dev/null || need+=(runc)
  command -v podman >/dev/null || need+=(podman)
  command -v hyperfine >/dev/null || need+=(hyperfine)
  command -v wrk >/dev/null || need+=(wrk)
fi

if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install-test-deps: missing ${need[*]} and cannot install them (need root on Debian)" >&2
  exit 0
fi
echo "install-test-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq "${need[@]}" >/dev/null
