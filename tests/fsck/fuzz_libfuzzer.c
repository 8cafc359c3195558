/*
 * fuzz_libfuzzer.c: the image fuzzing (fuzz_core.c) as a libFuzzer target:
 * the fuzzer's input bytes drive every mutation choice, coverage guides it.
 * Built only with -DEIOCBFS_FUZZ=ON and clang:
 *
 *   CC=clang cmake -S . -B build-fuzz -DEIOCBFS_FUZZ=ON -DEIOCBFS_SANITIZE=address \
 *         -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link   # coverage of fs/ too
 *   cmake --build build-fuzz --target fuzz_libfuzzer
 *   mkdir -p corpus && build-fuzz/tests/fsck/fuzz_libfuzzer -max_len=256 corpus/
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_core.h"

static long ncase;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_setup();
	atexit(fuzz_teardown);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_stats st = {0};
	fuzz_bytes(data, size);
	/* The first byte's low bit picks check-only or check-and-repair. */
	long c = 2 * ncase++ + (size && (data[0] & 1));
	fuzz_case(c, &st);
	return 0;
}
