/*
 * size.h: the one parser of byte sizes (layer: util, the bottom of fs/,
 * which every layer and tool may include). Used by mkfs.eiocbfs -s/-b,
 * the fault knobs offset=, byte= and keep=, and eiocb-stress -b/-s.
 *
 * Grammar: DIGITS [K|M|G|T [iB]], decimal digits, the suffix in either
 * case: binary multiples as e2fsprogs and util-linux read them (K = KiB =
 * 1024, M = 2^20, G = 2^30, T = 2^40). Nothing else: no sign, no blanks,
 * no fraction, no hexadecimal, and no "KB"/"MB" (util-linux reads those as
 * powers of 1000, e2fsprogs as powers of 1024: refused rather than
 * guessed). The value must fit in 64 bits.
 */
#ifndef EIOCBFS_SIZE_H
#define EIOCBFS_SIZE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parses s into *out. Returns 0, or -EINVAL (empty, negative, not a size,
 * an unknown or ambiguous suffix) or -ERANGE (over 64 bits) with a
 * one-line reason in err naming s (err may be NULL).
 */
int size_parse(const char *s, uint64_t *out, char *err, size_t errlen);

#endif
