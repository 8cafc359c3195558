#!/bin/bash
# test_cli.sh MKFS FSCK: fsck.eiocbfs's command line: e2fsck's exit codes
# (0 clean, 1 fixed, 4 left, 8 operational, 16 usage), -n writes nothing, -v lists
# findings, bad usage exits 16, a missing or foreign target is an operational
# error named in one line.
set -u
mkfs=$1 fsck=$2
dir=$(mktemp -d /tmp/eiocbfs-fsck-cli.XXXXXX)
trap 'rm -rf "$dir"' EXIT
img=$dir/img
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() { # expect CODE CMD...: run, compare the exit code
  local want=$1; shift
  "$@" >"$dir/out" 2>&1; local got=$?
  [ "$got" = "$want" ] || { cat "$dir/out" >&2; fail "$* exited $got, want $want"; }
}

"$mkfs" -s 16M -b 1024 "$img" >/dev/null || fail "mkfs"
expect 0 "$fsck" -n "$img"
# e2fsck's summary line; mkfs made /lost+found (no finding about it).
grep -Eq "^$img: clean, 2/[0-9]+ files \(0\.0% non-contiguous\), [0-9]+/16384 blocks$" "$dir/out" ||
  { cat "$dir/out" >&2; fail "no e2fsck summary line"; }
expect 0 "$fsck" -n -v "$img"
grep -q "lost+found" "$dir/out" && fail "mkfs made no /lost+found"
expect 0 "$fsck" -y "$img"
expect 0 "$fsck" "$img"          # default: check only

# Usage errors are e2fsck's 16; impossible targets operational errors (8).
expect 16 "$fsck"
expect 16 "$fsck" -n -y "$img"
expect 16 "$fsck" -q "$img"
expect 0 "$fsck" --help
expect 0 "$fsck" -V
expect 8 "$fsck" -n "$dir/missing"
head -c 1048576 /dev/zero >"$dir/zero"
expect 8 "$fsck" -n "$dir/zero"
grep -q "superblock" "$dir/out" || fail "no reason for a foreign target"
[ "$(wc -l <"$dir/out")" = 1 ] && [ "$(grep -o "$dir/zero" "$dir/out" | wc -l)" = 1 ] ||
  fail "a foreign target: want one line naming it once, got: $(cat "$dir/out")"

# Damage (every repair has its own Check test; here one is enough to see
# the exit codes): record an error in the superblock, resealing its crc.
python3 - "$img" <<'PY' || fail "corrupting"
import struct, sys
p = sys.argv[1]
with open(p, 'r+b') as f:
    b = bytearray(f.read(1024))
    # struct ef_super: hdr(16) version block_size nblocks ninodes 4x2 regions data_start
    # free_blocks free_inodes orphan_head state ...
    off_state = 16 + 4 + 4 + 8 + 8 + 8 * 8 + 8 + 8 + 8 + 8
    st, = struct.unpack_from('<I', b, off_state)
    struct.pack_into('<I', b, off_state, st | 4)     # EF_STATE_ERROR
    # reseal: crc32c of the block with the crc field zero
    struct.pack_into('<I', b, 4, 0)
    def crc32c(data):
        crc = 0xffffffff
        for x in data:
            crc ^= x
            for _ in range(8):
                crc = (crc >> 1) ^ (0x82f63b78 if crc & 1 else 0)
        return crc ^ 0xffffffff
    struct.pack_into('<I', b, 4, crc32c(bytes(b)))
    f.seek(0); f.write(b)
PY
sum1=$(md5sum <"$img")
expect 4 "$fsck" -n "$img"
[ "$(md5sum <"$img")" = "$sum1" ] || fail "-n wrote to the image"
grep -q "^$img: \*\*\*\*\*\*\*\*\*\* WARNING: Filesystem still has errors \*\*\*\*\*\*\*\*\*\*$" "$dir/out" ||
  fail "-n does not warn of errors left"
expect 4 "$fsck" -n -v "$img"
grep -q "recorded an error" "$dir/out" || fail "-v does not list the finding"
expect 1 "$fsck" -y "$img"
grep -q "fixed" "$dir/out" || fail "-y does not say fixed"
grep -q "^$img: \*\*\*\*\* FILE SYSTEM WAS MODIFIED \*\*\*\*\*$" "$dir/out" ||
  fail "-y does not say the filesystem was modified"
expect 0 "$fsck" -n "$img"
echo "fsck.eiocbfs command line: ok"
