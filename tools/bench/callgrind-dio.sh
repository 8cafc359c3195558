#!/bin/bash
# callgrind-dio.sh: instruction counts (callgrind Ir) of the eiocbfs daemon
# for a fixed direct-I/O workload, so a change to the request path can be
# weighed without the machine's noise: fio (libaio, direct=1) writes a 64 MiB
# file in 1 MiB requests at QD8, then 2000 random 4 KiB writes and 2000
# random 4 KiB reads at QD1. Compare PROGRAM TOTALS of two builds; the
# difference over the 4128 requests is the cost per request.
# Usage (root, fio and valgrind installed): tools/bench/callgrind-dio.sh BUILD [OUTDIR]
set -u
B=${1:?usage: callgrind-dio.sh BUILD [OUTDIR]}
W=${2:-$(mktemp -d /var/tmp/callgrind-dio-XXXXXX)}
mkdir -p "$W/mnt"
"$B/tools/mkfs.eiocbfs" -f -s 256M "$W/img" >/dev/null || exit 1
valgrind --tool=callgrind --callgrind-out-file="$W/cg.out" \
	"$B/fs/eiocbfs" -f -o cache_mb=64 "$W/img" "$W/mnt" 2>"$W/vg.log" &
VP=$!
cleanup() { fusermount3 -u "$W/mnt" 2>/dev/null; wait $VP 2>/dev/null; }
trap cleanup EXIT
for _ in $(seq 100); do mountpoint -q "$W/mnt" && break; sleep 0.3; done
mountpoint -q "$W/mnt" || { echo "callgrind-dio: the mount did not come up (see $W/vg.log)" >&2; exit 1; }
f="--filename=$W/mnt/f --size=64M --ioengine=libaio --direct=1 --randseed=1"
fio --name=w1m $f --rw=write --bs=1M --iodepth=8 --output=/dev/null >/dev/null || exit 1
fio --name=w4k $f --rw=randwrite --bs=4k --iodepth=1 --number_ios=2000 --output=/dev/null >/dev/null || exit 1
fio --name=r4k $f --rw=randread --bs=4k --iodepth=1 --number_ios=2000 --output=/dev/null >/dev/null || exit 1
cleanup
trap - EXIT
callgrind_annotate "$W/cg.out" | sed -n '/PROGRAM TOTALS/p'
echo "callgrind-dio: profile in $W/cg.out (callgrind_annotate --tree=caller $W/cg.out)"
