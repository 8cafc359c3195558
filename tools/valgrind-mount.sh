#!/usr/bin/env bash
# valgrind-mount.sh [BUILD_DIR]: the daemon under valgrind's memcheck
# through a short mount workload. As root, on a plain
# build (default: build/): mkfs an image in a temporary directory, run
#   valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect eiocbfs -f IMAGE MNT
# then eiocb-load (8 processes, 10 s, faults on through eiocbctl: invalidate,
# device_write, device_read) and eiocb-stress (libaio QD8, 3 s), a control
# client and a clean unmount. Prints valgrind's summary; exit 0 only if
# there was no invalid access, no definite or indirect leak, the daemon
# exited 0 and fsck.eiocbfs -n is clean. Unmounts and deletes everything on
# every exit path.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
command -v valgrind >/dev/null || { echo "valgrind-mount: valgrind is not installed (apt-get install valgrind)" >&2; exit 3; }
work=$(mktemp -d /var/tmp/eiocbfs-valgrind.XXXXXX)
mnt=$work/mnt img=$work/image log=$work/valgrind.log
vpid=
cleanup() {
  if mountpoint -q "$mnt" 2>/dev/null; then fusermount3 -u -z "$mnt" 2>/dev/null || umount -l "$mnt" || true; fi
  if [[ -n $vpid ]] && kill -0 "$vpid" 2>/dev/null; then kill "$vpid" 2>/dev/null || true; wait "$vpid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
mkdir "$mnt"
"$build/tools/mkfs.eiocbfs" -s 256M "$img" >/dev/null
valgrind --leak-check=full --show-leak-kinds=definite,indirect \
  --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --log-file="$log" \
  "$build/fs/eiocbfs" -f -o cache_mb=16 "$img" "$mnt" &
vpid=$!
for _ in $(seq 600); do mountpoint -q "$mnt" && break; sleep 0.1; done
mountpoint -q "$mnt" || { echo "valgrind-mount: the daemon did not mount" >&2; cat "$log" >&2; exit 1; }
echo "== eiocb-load under valgrind (8 processes, 10 s, faults on)"
EIOCB_LOAD_FAULTS=1 "$build/tools/eiocb-load" -p 8 -t 10 --pid "$vpid" \
  --eiocbctl "$build/tools/eiocbctl" --mount "$mnt" \
  --fault "invalidate probability=5" --fault "device_write probability=2" \
  --fault "device_read probability=1" "$mnt"
echo "== eiocb-stress under valgrind (QD8, 3 s)"
"$build/tools/eiocb-stress" -t 3 -w 1 -q 8 -r 1 -s 8M -D 60 "$mnt/stress.dat" | tail -3
"$build/tools/eiocbctl" "$mnt" stats >/dev/null
fusermount3 -u "$mnt"
set +e
wait "$vpid"; rc=$?
vpid=
set -e
echo "== valgrind (daemon exit status $rc)"
grep -E "ERROR SUMMARY|in use at exit|total heap usage|All heap blocks|definitely lost|indirectly lost|possibly lost|still reachable|Invalid" "$log" || true
"$build/tools/fsck.eiocbfs" -n "$img"
if [[ $rc -ne 0 ]]; then
  echo "valgrind-mount: FAILED (exit $rc); full log:" >&2
  cat "$log" >&2
  exit 1
fi
echo "valgrind-mount: clean"
