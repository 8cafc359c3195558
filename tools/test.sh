#!/usr/bin/env bash
# test.sh: the whole test suite, as CI runs it. Installs what is missing,
# then builds and runs every test three ways: a plain build, an ASan+UBSan
# build, and a ThreadSanitizer build of the tests labelled "tsan".
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
tools/install-deps.sh

status=0
run() { # run NAME DIR SANITIZER [ctest args...]
  local name=$1 dir=$2 san=$3; shift 3
  echo "=== $name build"
  tools/build.sh "$dir" "$san"
  echo "=== $name tests"
  (cd "$dir" && ctest --output-on-failure --timeout 900 "$@") || status=1
}
run plain "$top/build" ""
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  run asan "$top/build-asan" address
TSAN_OPTIONS=halt_on_error=1 run tsan "$top/build-tsan" thread -L tsan
exit $status
