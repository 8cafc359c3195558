/*
 * fuzz_image.c: the seeded mutation fuzzing of the image parsers
 * (superblock, inode table, extent trees, directories and their hash
 * index, xattr blocks, journal records) as a CTest: fsck and the mount must
 * never crash on a damaged image (what must hold: fuzz_core.c).
 *
 * EIOCBFS_FUZZ_CASES (default 1000) and EIOCBFS_FUZZ_SEED (default 1) set
 * the run; a failing case prints its number, and EIOCBFS_FUZZ_FIRST=N
 * EIOCBFS_FUZZ_CASES=1 replays it alone (with the same seed).
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fuzz_core.h"

START_TEST(mutated_images_never_crash)
{
	const char *s = getenv("EIOCBFS_FUZZ_SEED");
	uint64_t seed = s ? strtoull(s, NULL, 0) : 1;
	s = getenv("EIOCBFS_FUZZ_CASES");
	long ncases = s ? strtol(s, NULL, 0) : 1000;
	s = getenv("EIOCBFS_FUZZ_FIRST");
	long first = s ? strtol(s, NULL, 0) : 0;
	bool verbose = getenv("EIOCBFS_FUZZ_VERBOSE") != NULL;
	struct fuzz_stats st = {0};
	for (long c = first; c < first + ncases; c++) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		fuzz_seed(seed, c);
		const char *what = fuzz_case(c, &st);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double dt =
		    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		if (verbose && dt > 0.5)
			fprintf(stderr, "case %ld (%s): %.2f s\n", c, what, dt);
	}
	printf("fuzz: %ld cases (seed %llu): fsck -n clean %ld, errors %ld, refused %ld; "
	       "-y fixed %ld; mounted %ld, mount refused %ld\n",
	       ncases, (unsigned long long)seed, st.fsck[0], st.fsck[4], st.fsck[8], st.repaired,
	       st.mounted, st.refused);
	ck_assert_int_eq(st.fsck[0] + st.fsck[4] + st.fsck[8], ncases);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fsck_fuzz");
	TCase *tc = tcase_create("fuzz");
	tcase_add_unchecked_fixture(tc, fuzz_setup, fuzz_teardown);
	tcase_set_timeout(tc, 3600);
	tcase_add_test(tc, mutated_images_never_crash);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
