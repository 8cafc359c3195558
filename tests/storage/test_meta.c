/* test_meta: crc32c (known vectors, hardware == table) and the metadata
   block header (meta_seal / meta_verify): layout.h "every metadata block
   carries a checksum that is verified on read". */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "st_testlib.h"

START_TEST(crc32c_known_vectors)
{
	/* RFC 3720 (iSCSI) appendix B.4 and the classic check value. */
	uint8_t buf[32];
	ck_assert_uint_eq(crc32c(0, "123456789", 9), 0xe3069283u);
	memset(buf, 0, 32);
	ck_assert_uint_eq(crc32c(0, buf, 32), 0x8a9136aau);
	memset(buf, 0xff, 32);
	ck_assert_uint_eq(crc32c(0, buf, 32), 0x62a8ab43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	ck_assert_uint_eq(crc32c(0, buf, 32), 0x46dd794eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	ck_assert_uint_eq(crc32c(0, buf, 32), 0x113fdb5cu);
	ck_assert_uint_eq(crc32c(0, buf, 0), 0);
}
END_TEST

START_TEST(crc32c_hw_equals_table_and_chains)
{
	uint8_t *buf = malloc(8192);
	srand(42);
	for (int i = 0; i < 8192; i++)
		buf[i] = (uint8_t)rand();
	/* every alignment and many lengths, both implementations */
	for (size_t off = 0; off < 16; off++)
		for (size_t len = 0; len < 8192 - off; len = len * 3 + 1)
			ck_assert_uint_eq(crc32c(0, buf + off, len),
					  crc32c_portable(0, buf + off, len));
	/* chaining: crc of a whole == crc of its parts */
	uint32_t whole = crc32c(0, buf, 8192);
	uint32_t part = crc32c(crc32c(0, buf, 1000), buf + 1000, 7192);
	ck_assert_uint_eq(whole, part);
	free(buf);
}
END_TEST

START_TEST(seal_then_verify_and_every_flip_detected)
{
	for (uint32_t bs = 1024; bs <= 4096; bs *= 2) {
		uint8_t *blk = calloc(1, bs);
		for (uint32_t i = 16; i < bs; i++)
			blk[i] = (uint8_t)(i * 7);
		meta_seal(blk, bs, EF_MAGIC_DIR, 1234);
		ck_assert_int_eq(meta_verify(blk, bs, EF_MAGIC_DIR, 1234), 0);
		ck_assert_int_eq(meta_verify(blk, bs, EF_MAGIC_EXTENT, 1234), -EUCLEAN);
		/* a misdirected write: right content, wrong place */
		ck_assert_int_eq(meta_verify(blk, bs, EF_MAGIC_DIR, 1235), -EUCLEAN);
		for (uint32_t i = 0; i < bs; i += 1) {
			blk[i] ^= 0x01;
			ck_assert_msg(meta_verify(blk, bs, EF_MAGIC_DIR, 1234) == -EUCLEAN,
				      "flip at %u of %u not detected", i, bs);
			blk[i] ^= 0x01;
		}
		ck_assert_int_eq(meta_verify(blk, bs, EF_MAGIC_DIR, 1234), 0);
		free(blk);
	}
}
END_TEST

START_TEST(zero_block_does_not_verify)
{
	uint8_t blk[1024] = {0};
	ck_assert_int_eq(meta_verify(blk, sizeof(blk), EF_MAGIC_ITABLE, 7), -EUCLEAN);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("meta");
	TCase *tc = tcase_create("crc");
	tcase_add_test(tc, crc32c_known_vectors);
	tcase_add_test(tc, crc32c_hw_equals_table_and_chains);
	tcase_add_test(tc, seal_then_verify_and_every_flip_detected);
	tcase_add_test(tc, zero_block_does_not_verify);
	suite_add_tcase(s, tc);
	return st_run(s);
}
