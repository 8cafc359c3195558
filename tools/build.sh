#!/usr/bin/env bash
# build.sh [DIR [SANITIZER]]: configure and build eiocbfs into DIR
# (default build/). SANITIZER is "address" (ASan+UBSan) or "thread" (TSan).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$top/build}
san=${2:-}
cmake -S "$top" -B "$dir" -DEIOCBFS_SANITIZE="$san" >/dev/null
cmake --build "$dir" -j"$(nproc)"
