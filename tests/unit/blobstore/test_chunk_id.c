/*
 * test_chunk_id.c — unit tests for blobstore/chunk_id.c: equality, the null
 * id, printing and parsing (round trip, and refusal of bad input).
 */
#include "blob_test.h"

static void test_equal_and_null(void **state)
{
	chunk_id a, b, z;

	(void)state;
	memset(&z, 0, sizeof z);
	for (int i = 0; i < 16; i++)
		a.b[i] = (uint8_t)(i * 17 + 1);
	b = a;
	assert_true(chunk_id_equal(&a, &b));
	assert_false(chunk_id_is_null(&a));
	assert_true(chunk_id_is_null(&z));
	for (int i = 0; i < 16; i++) {
		b = a;
		b.b[i] ^= 1;
		assert_false(chunk_id_equal(&a, &b));
		z.b[i] = 1; /* one non-zero byte anywhere: not null */
		assert_false(chunk_id_is_null(&z));
		z.b[i] = 0;
	}
}

static void test_fmt_parse_roundtrip(void **state)
{
	chunk_id a, back;
	char hex[33];

	(void)state;
	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < 16; i++)
			a.b[i] = (uint8_t)((round * 31 + i * 97) ^ (round >> 1));
		chunk_id_fmt(hex, &a);
		assert_int_equal(strlen(hex), 32);
		for (int i = 0; i < 32; i++)
			assert_true((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f'));
		assert_int_equal(chunk_id_parse(&back, hex), 0);
		assert_true(chunk_id_equal(&a, &back));
	}
	/* Known bytes, big-endian order as printed. */
	for (int i = 0; i < 16; i++)
		a.b[i] = (uint8_t)i;
	chunk_id_fmt(hex, &a);
	assert_string_equal(hex, "000102030405060708090a0b0c0d0e0f");
	assert_int_equal(chunk_id_parse(&back, "FFEEDDCCBBAA99887766554433221100"), 0);
	assert_int_equal(back.b[0], 0xff);
	assert_int_equal(back.b[15], 0x00);
}

static void test_parse_rejects(void **state)
{
	chunk_id out;
	const char *good = "00112233445566778899aabbccddeeff";

	(void)state;
	memset(&out, 0x77, sizeof out);
	assert_int_equal(chunk_id_parse(&out, ""), -EINVAL);
	assert_int_equal(chunk_id_parse(&out, "0011223344556677"), -EINVAL);
	assert_int_equal(chunk_id_parse(&out, "00112233445566778899aabbccddeef"), -EINVAL);   /* 31 */
	assert_int_equal(chunk_id_parse(&out, "00112233445566778899aabbccddeeff0"), -EINVAL); /* 33 */
	assert_int_equal(chunk_id_parse(&out, "00112233445566778899aabbccddeefg"), -EINVAL);
	assert_int_equal(chunk_id_parse(&out, "0011223344556677 899aabbccddeeff"), -EINVAL);
	assert_int_equal(chunk_id_parse(&out, "0x112233445566778899aabbccddeeff"), -EINVAL);
	assert_int_equal(chunk_id_parse(&out, "00112233445566778899aabbccddeeff\n"), -EINVAL);
	/* A refused parse leaves the output alone. */
	for (int i = 0; i < 16; i++)
		assert_int_equal(out.b[i], 0x77);
	assert_int_equal(chunk_id_parse(&out, good), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_equal_and_null),
		cmocka_unit_test(test_fmt_parse_roundtrip),
		cmocka_unit_test(test_parse_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
