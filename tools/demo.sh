#!/usr/bin/env bash
# demo.sh: the patch's own test on a mount, in each of the four semantics,
# told as one table (docs/semantics.md section 7). Installs what is missing,
# builds, makes an image file, and for deferred, mainline, legacy and drop:
# mounts it, runs eiocb-stress (O_DIRECT libaio writers + buffered readers of
# the same blocks) while page-cache invalidation fails with EIO, reads the
# daemon's counters and what the next fsync of the file says, unmounts and
# runs fsck. Cleans up whatever happens. In deferred and legacy it also traces the daemon's iocbs around the first failure and
# draws one request of each as a timeline picture (tools/trace-svg).
#
#   tools/demo.sh [-t SECONDS] [-p PERCENT] [-k]   (-k keeps the work dir)
set -euo pipefail

secs=6 pct=20 keep=0
while getopts "t:p:kh" o; do
	case $o in
	t) secs=$OPTARG ;;
	p) pct=$OPTARG ;;
	k) keep=1 ;;
	*) echo "usage: tools/demo.sh [-t SECONDS] [-p PERCENT] [-k]" >&2; exit 2 ;;
	esac
done

top=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (it installs packages and mounts a FUSE filesystem)" >&2
	exit 1
fi
if [ ! -e /dev/fuse ]; then
	echo "demo: /dev/fuse is missing: this machine cannot mount FUSE filesystems" >&2
	exit 1
fi
"$top/tools/install-deps.sh"
echo "demo: building..."
"$top/tools/build.sh" "$top/build" >/dev/null

bin=$top/build
work=$(mktemp -d "${TMPDIR:-/var/tmp}/eiocbfs-demo.XXXXXX")
mnt=$work/mnt
img=$work/eiocbfs.img
daemon_pid=
mkdir -p "$mnt"

cleanup() {
	if mountpoint -q "$mnt" 2>/dev/null; then
		fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null || true
	fi
	if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
		kill "$daemon_pid" 2>/dev/null || true
		wait "$daemon_pid" 2>/dev/null || true
	fi
	if [ $keep -eq 0 ]; then rm -rf "$work"; else echo "demo: kept $work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

json_get() { # json_get FILE EXPR: a value from a JSON file (python3 is a dependency)
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"d": d}))' "$1" "$2"
}

run_mode() { # run_mode MODE: one row of the table into $work/MODE.*
	local mode=$1
	rm -f "$img"
	if ! "$bin/tools/mkfs.eiocbfs" -s 256M "$img" >"$work/$mode.mkfs" 2>&1; then
		echo "demo: mkfs failed: $(tail -1 "$work/$mode.mkfs")" >&2
		exit 1
	fi
	"$bin/fs/eiocbfs" -f -o "semantics=$mode,fault=invalidate:errno=EIO:probability=$pct" \
		"$img" "$mnt" 2>"$work/$mode.daemon" &
	daemon_pid=$!
	for _ in $(seq 100); do mountpoint -q "$mnt" && break; sleep 0.1; done
	if ! mountpoint -q "$mnt"; then
		echo "demo: mount failed in $mode mode: $(head -1 "$work/$mode.daemon")" >&2
		exit 1
	fi
	# The stress tool exits 1 when it sees a violation of R7 or P5: that is
	# a result to show here (drop mode exists to show stale reads), not a failure.
	local trace=() # deferred and legacy: a trace around the first failure, for the picture
	case $mode in deferred | legacy) trace=(--trace "$work/$mode.trace.json" --trace-ms 100) ;; esac
	"$bin/tools/eiocb-stress" -t "$secs" -s 16M -q 16 -w 2 -r 2 --json "${trace[@]}" "$mnt/stress.dat" \
		>"$work/$mode.stress" 2>"$work/$mode.stress.err" || true
	"$bin/tools/eiocbctl" "$mnt" stats --json >"$work/$mode.stats" 2>"$work/$mode.ctl" || true
	# What an application's next fsync of the file says (mainline reports the
	# failed invalidations there, once per open file description).
	python3 -c 'import os,sys
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    os.fsync(fd); print("ok")
except OSError as e:
    print("-" + __import__("errno").errorcode[e.errno])' "$mnt/stress.dat" >"$work/$mode.fsync" 2>&1 || echo "?" >"$work/$mode.fsync"
	local alive=no
	kill -0 "$daemon_pid" 2>/dev/null && alive=yes
	echo "$alive" >"$work/$mode.alive"
	fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null || true
	wait "$daemon_pid" 2>/dev/null || true
	daemon_pid=
	local fsck=clean
	"$bin/tools/fsck.eiocbfs" -n "$img" >"$work/$mode.fsck" 2>&1 || fsck="errors($?)"
	echo "$fsck" >"$work/$mode.fsckres"
}

row() { # row MODE: one formatted line of the table
	local m=$1 s=$work/$1.stress c=$work/$1.stats
	local req=- ev=- eio=- dbl=- stale=-
	if [ -s "$s" ]; then
		req=$(json_get "$s" 'd["writes"]["submitted"]')
		ev=$(json_get "$s" 'd["writes"]["events"]')
		eio=$(json_get "$s" 'd["writes"]["eio"]')
		stale=$(json_get "$s" 'd["reads"]["stale"]')
	fi
	[ -s "$c" ] && dbl=$(json_get "$c" 'd["ioctx"]["double_completions"]')
	printf '%-9s %9s %9s %9s %13s %6s %10s %6s %11s\n' "$m" "$req" "$ev" "$eio" "$dbl" "$stale" \
		"$(head -1 "$work/$m.fsync")" "$(cat "$work/$m.alive")" "$(cat "$work/$m.fsckres")"
}

echo "demo: O_DIRECT aio writers + buffered readers of the same blocks, ${secs}s per mode,"
echo "      page-cache invalidation failing with EIO on ${pct}% of calls (a direct write"
echo "      invalidates twice, after submission and after completion: P2)"
modes="deferred mainline legacy drop"
for m in $modes; do
	echo "demo: running $m..."
	run_mode "$m"
done

echo
printf '%-9s %9s %9s %9s %13s %6s %10s %6s %11s\n' mode requests events "-EIO seen" "double compl." stale "next fsync" alive "fsck"
for m in $modes; do row "$m"; done
cat <<'EOF'

deferred  the 2007 patch, in the kernels that followed it until the error moved out of
          the event: each failed invalidation reaches the writer as -EIO in exactly one
          completion event; no double completion.
mainline  Linux today: the event is still written at the last reference drop, but it
          carries the byte count; the failure becomes the file's write-back error: the
          next fsync of each open file description says -EIO, once (errseq_t), and the
          daemon logs the kernel's "Page cache invalidation failure on direct I/O" line.
          Buffered readers may meanwhile see stale data, as on Linux.
legacy    2.6.20, before the patch: the error overwrites -EIOCBQUEUED, the submitter and
          the device completion both complete the request: double completions, detected
          and counted by eiocbfs (the kernel oopsed here); the daemon survives.
drop      a naive "fix" that ignores the error: writers see success, nobody is told,
          while buffered readers can read stale data (stale > 0).
EOF

# The picture: one failing request in deferred and in legacy, from the traces.
out=${DEMO_OUT:-$top/build}
if [ -s "$work/deferred.trace.json" ] && [ -s "$work/legacy.trace.json" ] &&
	python3 "$top/tools/trace-svg" -o "$out/eiocbfs-timeline.svg" \
		"$work/deferred.trace.json" "$work/legacy.trace.json"; then
	cp "$work/deferred.trace.json" "$work/legacy.trace.json" "$out/"
	echo
	echo "timeline  $out/eiocbfs-timeline.svg: one failing write per mode, submission and"
	echo "          completion paths, reference count, when the error is queued and when the"
	echo "          event is written. The full traces ($out/deferred.trace.json,"
	echo "          $out/legacy.trace.json) open in ui.perfetto.dev."
else
	echo "demo: no timeline picture (tracing failed: see $work/*.stress.err)" >&2
fi
