/* st_testlib.h: helpers of the storage tests: a private temporary
   directory, images made with storage_format, raw block access. */
#ifndef ST_TESTLIB_H
#define ST_TESTLIB_H
#include <check.h>
#include <stdint.h>

#include "storage.h"
#include "storage_int.h"

/* The test's temporary directory (made once, removed at exit). */
const char *st_dir(void);
/* A path in it: st_path("a.img") (a static buffer per call slot, 8 slots). */
const char *st_path(const char *name);
/* Makes an image of size bytes with block size bs (ninodes 0: default). */
void st_mkfs(const char *path, uint64_t size, uint32_t bs, uint64_t ninodes);
/* Raw block I/O on an image (no O_DIRECT, no lock). */
void st_read_block(const char *path, uint32_t bs, uint64_t blockno, void *buf);
void st_write_block(const char *path, uint32_t bs, uint64_t blockno, const void *buf);
void st_pwrite(const char *path, const void *buf, size_t len, uint64_t off);
void st_copy(const char *from, const char *to);
/* Compares two files byte for byte. */
int st_same(const char *a, const char *b);
/* Runs a Check suite; returns the exit status. */
int st_run(Suite *s);
#endif
