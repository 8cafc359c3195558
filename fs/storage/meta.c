/*
 * meta.c: the meta layer, the bottom of fs/ storage: crc32c (Castagnoli)
 * and the header every metadata block carries (struct ef_blkhdr).
 * Calls nothing but the C library and the CPU.
 *
 * crc32c uses the SSE4.2 instruction when the CPU has it and a
 * slice-by-8 table otherwise; both give the same values (the tests check
 * the standard vectors), chaining like zlib's crc32: crc32c(0, ...) starts.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "storage.h"

#define CRC32C_POLY 0x82f63b78u /* reflected Castagnoli polynomial */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static uint32_t (*crc_impl)(uint32_t, const uint8_t *, size_t);

static uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len && ((uintptr_t)p & 7)) {
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
		len--;
	}
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		v ^= crc;
		crc = crc_table[7][v & 0xff] ^ crc_table[6][(v >> 8) & 0xff] ^
		      crc_table[5][(v >> 16) & 0xff] ^ crc_table[4][(v >> 24) & 0xff] ^
		      crc_table[3][(v >> 32) & 0xff] ^ crc_table[2][(v >> 40) & 0xff] ^
		      crc_table[1][(v >> 48) & 0xff] ^ crc_table[0][v >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p,
							    size_t len)
{
	uint64_t c = crc;
	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}
#endif

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc_table[0][i] = c;
	}
	for (int t = 1; t < 8; t++)
		for (int i = 0; i < 256; i++)
			crc_table[t][i] =
			    crc_table[0][crc_table[t - 1][i] & 0xff] ^ (crc_table[t - 1][i] >> 8);
	crc_impl = crc32c_sw;
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2"))
		crc_impl = crc32c_hw;
#endif
}

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
	return ~crc_impl(~crc, buf, len);
}

/* The table version, whatever the CPU: for the tests to compare both. */
uint32_t crc32c_portable(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
	return ~crc32c_sw(~crc, buf, len);
}

/* crc of a whole block with its header's crc field taken as zero. */
static uint32_t block_crc(const void *block, size_t bsize)
{
	static const uint32_t zero;
	const uint8_t *b = block;
	size_t off = offsetof(struct ef_blkhdr, crc);
	uint32_t c = crc32c(0, b, off);
	c = crc32c(c, &zero, sizeof(zero));
	return crc32c(c, b + off + sizeof(zero), bsize - off - sizeof(zero));
}

void meta_seal(void *block, size_t bsize, uint32_t magic, uint64_t blockno)
{
	struct ef_blkhdr h = {.magic = magic, .crc = 0, .blockno = blockno};
	memcpy(block, &h, sizeof(h));
	h.crc = block_crc(block, bsize);
	memcpy(block, &h, sizeof(h));
}

int meta_verify(const void *block, size_t bsize, uint32_t magic, uint64_t blockno)
{
	struct ef_blkhdr h;
	if (bsize < sizeof(h))
		return -EUCLEAN;
	memcpy(&h, block, sizeof(h));
	if (h.magic != magic || h.blockno != blockno)
		return -EUCLEAN;
	return h.crc == block_crc(block, bsize) ? 0 : -EUCLEAN;
}

bool meta_known_magic(uint32_t magic)
{
	switch (magic) {
	case EF_MAGIC_SUPER:
	case EF_MAGIC_IBITMAP:
	case EF_MAGIC_BBITMAP:
	case EF_MAGIC_ITABLE:
	case EF_MAGIC_DIR:
	case EF_MAGIC_EXTENT:
	case EF_MAGIC_XATTR:
	case EF_MAGIC_JDESC:
	case EF_MAGIC_JCOMMIT:
	case EF_MAGIC_JSUPER:
		return true;
	}
	return false;
}
