#!/usr/bin/env bash
# test.sh: the whole test suite, as CI runs it. Installs what is missing,
# then builds and runs every test three ways: a plain build, an ASan+UBSan
# build, and a ThreadSanitizer build of the tests labelled "tsan"; then
# compiles a Release (-O3) build, whose inlining finds more -Werror warnings.
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
# -O3 inlines across functions and finds maybe-uninitialized paths that -O2
# does not; a Release build must compile under -Werror too (build only).
echo "=== release build (-O3)"
cmake -S "$top" -B "$top/build-release" -DCMAKE_BUILD_TYPE=Release >/dev/null &&
  cmake --build "$top/build-release" -j"$(nproc)" >"$top/build-release/build.log" 2>&1 ||
  { grep -E "error|warning" "$top/build-release/build.log" | head -20; echo "release build failed"; status=1; }
exit $status
