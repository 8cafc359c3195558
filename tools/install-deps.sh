#!/usr/bin/env bash
# Installs what eiocbfs needs to build and test, from the distribution's
# packages, when it is missing. Runs as root (here and in CI); a no-op when
# everything is there already.
set -euo pipefail

pkgs=(build-essential cmake pkg-config libfuse3-dev fuse3 libaio-dev check
      libblkid-dev libjansson-dev python3 util-linux e2fsprogs fio bindfs man-db groff-base
      clang-format)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
    missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run as root" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
