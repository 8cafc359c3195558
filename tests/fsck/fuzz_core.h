/*
 * fuzz_core.h: image fuzzing shared by the seeded CTest run (fuzz_image.c)
 * and the libFuzzer target (fuzz_libfuzzer.c). See fuzz_core.c.
 */
#ifndef EIOCBFS_FUZZ_CORE_H
#define EIOCBFS_FUZZ_CORE_H

#include <stddef.h>
#include <stdint.h>

struct fuzz_stats {
	long fsck[9]; /* fsck -n exit codes */
	long repaired, mounted, refused;
};

/* Makes the base image (in /dev/shm) and the case file; aborts on failure. */
void fuzz_setup(void);
void fuzz_teardown(void);
/* Where a case's randomness comes from: a seed and the case number, or bytes. */
void fuzz_seed(uint64_t seed, long c);
void fuzz_bytes(const uint8_t *data, size_t len);
/* Runs one case; aborts (with the case printed) when something must not hold. */
const char *fuzz_case(long c, struct fuzz_stats *st);

#endif
