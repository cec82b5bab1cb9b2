/*
 * test_format.c — unit tests for blobstore/format/format.c: sniffing the first
 * bytes of an upload (decided, not yet, refused) and the full check of a
 * whole file, on crafted buffers (format_test.h): QCOW2 headers sane and
 * not, ISO 9660 descriptors whole, damaged and cut short, raw disks with
 * an MBR, a GPT, or neither.
 */
#include "blobstore/blob_test.h"
#include "format.h"
#include "format_test.h"

#define HEAD (64 * FT_KiB)

static uint8_t *zeroed(void)
{
	uint8_t *b = calloc(1, HEAD);
	assert_non_null(b);
	return b;
}

static void test_sniff_qcow2_from_four_bytes(void **state)
{
	uint8_t *b = zeroed();
	enum blob_format f;
	ft_qcow2(b, 64 * MiB);
	assert_int_equal(blob_format_sniff(b, 4, true, &f), 1);
	assert_int_equal(f, BLOB_FORMAT_QCOW2);
	assert_int_equal(blob_format_sniff(b, 3, true, &f), 0); /* 3 bytes say nothing yet */
	assert_int_equal(f, BLOB_FORMAT_UNKNOWN);
	b[3] = 0xfa; /* one bit off the magic: junk */
	assert_int_equal(blob_format_sniff(b, HEAD, true, &f), -EINVAL);
	free(b);
}

static void test_sniff_raw(void **state)
{
	uint8_t *b = zeroed();
	enum blob_format f;
	ft_mbr(b);
	/* Short: an MBR suggests raw, but a hybrid ISO has one too. */
	assert_int_equal(blob_format_sniff(b, 512, true, &f), 0);
	assert_int_equal(f, BLOB_FORMAT_RAW);
	/* The whole file, or enough to rule the ISO out: decided. */
	assert_int_equal(blob_format_sniff(b, 512, false, &f), 1);
	assert_int_equal(f, BLOB_FORMAT_RAW);
	assert_int_equal(blob_format_sniff(b, HEAD, true, &f), 1);
	assert_int_equal(f, BLOB_FORMAT_RAW);
	/* GPT without the protective MBR's signature. */
	memset(b, 0, HEAD);
	ft_gpt(b);
	assert_int_equal(blob_format_sniff(b, HEAD, true, &f), 1);
	assert_int_equal(f, BLOB_FORMAT_RAW);
	b[512] = 'e'; /* "eFI PART" */
	assert_int_equal(blob_format_sniff(b, HEAD, true, &f), -EINVAL);
	free(b);
}

static void test_sniff_iso(void **state)
{
	uint8_t *b = zeroed();
	enum blob_format f;
	ft_iso(b, FT_ISO_BLOCKS);
	assert_int_equal(blob_format_sniff(b, BLOB_FORMAT_SNIFF_LEN, true, &f), 1);
	assert_int_equal(f, BLOB_FORMAT_ISO);
	/* One byte short of the descriptor's version: not decided yet. */
	assert_int_equal(blob_format_sniff(b, BLOB_FORMAT_SNIFF_LEN - 1, true, &f), 0);
	assert_int_equal(f, BLOB_FORMAT_UNKNOWN);
	/* A hybrid ISO (MBR in the system area) is an ISO. */
	ft_mbr(b);
	assert_int_equal(blob_format_sniff(b, HEAD, true, &f), 1);
	assert_int_equal(f, BLOB_FORMAT_ISO);
	/* A supplementary descriptor (type 2) or another version is not the PVD. */
	memset(b, 0, HEAD);
	ft_iso(b, FT_ISO_BLOCKS);
	b[32768] = 2;
	assert_int_equal(blob_format_sniff(b, HEAD, true, &f), -EINVAL);
	b[32768] = 1;
	b[32774] = 2;
	assert_int_equal(blob_format_sniff(b, HEAD, true, &f), -EINVAL);
	free(b);
}

static void test_sniff_junk(void **state)
{
	uint8_t *b = zeroed();
	enum blob_format f;
	for (size_t i = 0; i < HEAD; i++)
		b[i] = (uint8_t)(i * 7 + 3);
	b[510] = 0; /* no accidental MBR */
	assert_int_equal(blob_format_sniff(b, HEAD, true, &f), -EINVAL);
	assert_int_equal(blob_format_sniff(b, 100, true, &f), 0); /* short and more coming */
	assert_int_equal(blob_format_sniff(b, 100, false, &f), -EINVAL);
	assert_int_equal(blob_format_sniff(b, 0, false, &f), -EINVAL);
	free(b);
}

static void test_check_qcow2(void **state)
{
	uint8_t *b = zeroed();
	uint64_t vsize = 0;
	char why[256];
	ft_qcow2(b, 64 * MiB);
	assert_int_equal(blob_format_check(BLOB_FORMAT_QCOW2, b, HEAD, FT_QCOW2_FILE_SIZE, &vsize, why, sizeof why), 0);
	assert_int_equal(vsize, 64 * MiB);
	/* Cut short: the L1 table lies beyond the end of the file. */
	assert_int_equal(blob_format_check(BLOB_FORMAT_QCOW2, b, HEAD, FT_QCOW2_L1_OFFSET, &vsize, why, sizeof why),
	                 -EINVAL);
	assert_non_null(strstr(why, "beyond the end"));
	/* A backing file. */
	ft_be64(b + 8, 4096);
	assert_int_equal(blob_format_check(BLOB_FORMAT_QCOW2, b, HEAD, FT_QCOW2_FILE_SIZE, &vsize, why, sizeof why),
	                 -EINVAL);
	assert_non_null(strstr(why, "backing"));
	ft_be64(b + 8, 0);
	/* Encryption. */
	ft_be32(b + 32, 1);
	assert_int_equal(blob_format_check(BLOB_FORMAT_QCOW2, b, HEAD, FT_QCOW2_FILE_SIZE, &vsize, why, sizeof why),
	                 -EINVAL);
	assert_non_null(strstr(why, "encryption"));
	ft_be32(b + 32, 0);
	/* A virtual size of 0. */
	ft_be64(b + 24, 0);
	assert_int_equal(blob_format_check(BLOB_FORMAT_QCOW2, b, HEAD, FT_QCOW2_FILE_SIZE, &vsize, why, sizeof why),
	                 -EINVAL);
	free(b);
}

static void test_check_iso(void **state)
{
	uint8_t *b = zeroed();
	uint64_t size = FT_ISO_BLOCKS * 2048u, vsize = 0;
	char why[256];
	ft_iso(b, FT_ISO_BLOCKS);
	assert_int_equal(blob_format_check(BLOB_FORMAT_ISO, b, HEAD, size, &vsize, why, sizeof why), 0);
	assert_int_equal(vsize, size);
	/* Padding after the volume is fine; a file shorter than it is not. */
	assert_int_equal(blob_format_check(BLOB_FORMAT_ISO, b, HEAD, size + 4096, &vsize, why, sizeof why), 0);
	assert_int_equal(vsize, size + 4096);
	assert_int_equal(blob_format_check(BLOB_FORMAT_ISO, b, HEAD, size - 2048, &vsize, why, sizeof why), -EINVAL);
	assert_non_null(strstr(why, "truncated"));
	/* The two byte orders of the volume size disagree. */
	b[32768 + 87] ^= 1;
	assert_int_equal(blob_format_check(BLOB_FORMAT_ISO, b, HEAD, size, &vsize, why, sizeof why), -EINVAL);
	b[32768 + 87] ^= 1;
	/* A block size of 4096. */
	b[32768 + 128] = 0x00, b[32768 + 129] = 0x10, b[32768 + 130] = 0x10, b[32768 + 131] = 0x00;
	assert_int_equal(blob_format_check(BLOB_FORMAT_ISO, b, HEAD, size * 2, &vsize, why, sizeof why), -EINVAL);
	/* No descriptor at all. */
	memset(b, 0, HEAD);
	assert_int_equal(blob_format_check(BLOB_FORMAT_ISO, b, HEAD, size, &vsize, why, sizeof why), -EINVAL);
	free(b);
}

static void test_check_raw(void **state)
{
	uint8_t *b = zeroed();
	uint64_t vsize = 0;
	char why[256];
	ft_mbr(b);
	assert_int_equal(blob_format_check(BLOB_FORMAT_RAW, b, HEAD, 10 * MiB, &vsize, why, sizeof why), 0);
	assert_int_equal(vsize, 10 * MiB);
	/* A file shorter than its head: only the file's bytes count. */
	assert_int_equal(blob_format_check(BLOB_FORMAT_RAW, b, HEAD, 511, &vsize, why, sizeof why), -EINVAL);
	b[511] = 0;
	assert_int_equal(blob_format_check(BLOB_FORMAT_RAW, b, HEAD, 10 * MiB, &vsize, why, sizeof why), -EINVAL);
	assert_non_null(strstr(why, "MBR"));
	ft_gpt(b);
	assert_int_equal(blob_format_check(BLOB_FORMAT_RAW, b, HEAD, 10 * MiB, &vsize, why, sizeof why), 0);
	assert_int_equal(blob_format_check(BLOB_FORMAT_UNKNOWN, b, HEAD, 10 * MiB, &vsize, why, sizeof why), -EINVAL);
	free(b);
}

/* The formats imgfs refuses are named from their magic, wherever it is. */
static void test_unsupported_named(void **state)
{
	(void)state;
	uint8_t b[512] = {0};
	static const struct {
		size_t at;
		const char *magic;
		size_t n;
		const char *name;
	} cases[] = {
		{0, "KDMV\1\0\0\0", 8, "VMDK"}, {0, "# Disk DescriptorFile\n", 22, "VMDK"}, {0, "vhdxfile", 8, "VHDX"},
		{0, "conectix", 8, "VHD"},     {64, "\x7f\x10\xda\xbe", 4, "VDI"},     {0, "LUKS\xba\xbe\0\2", 8, "LUKS"},
		{0, "QED\0", 4, "QED"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(b, 0, sizeof(b));
		memcpy(b + cases[i].at, cases[i].magic, cases[i].n);
		const char *got = blob_format_unsupported(b, sizeof(b));
		assert_non_null(got);
		assert_string_equal(got, cases[i].name);
		assert_null(blob_format_unsupported(b, cases[i].at + 3)); /* too short to tell */
	}
	memset(b, 0, sizeof(b));
	memcpy(b, "QFI\xfb", 4);
	assert_null(blob_format_unsupported(b, sizeof(b))); /* QCOW2 is taken */
	assert_null(blob_format_unsupported(b, 0));
}

/* Encrypted files (SPEC §17): LUKS 1 and 2, a QCOW2 with either crypt
 * method; not a plain QCOW2, not before byte 36 is seen. */
static void test_encrypted(void **state)
{
	(void)state;
	uint8_t b[512] = {0};

	memcpy(b, "LUKS\xba\xbe\0\1", 8);
	assert_true(blob_format_encrypted(b, sizeof(b)));
	b[7] = 2; /* LUKS2: same magic */
	assert_true(blob_format_encrypted(b, 6));
	assert_false(blob_format_encrypted(b, 5));
	memset(b, 0, sizeof(b));
	ft_qcow2(b, 64 << 20);
	assert_false(blob_format_encrypted(b, sizeof(b)));
	for (uint32_t method = 1; method <= 2; method++) {
		ft_be32(b + 32, method);
		assert_true(blob_format_encrypted(b, sizeof(b)));
		assert_false(blob_format_encrypted(b, 35));
	}
	memset(b, 0, sizeof(b));
	ft_mbr(b);
	b[33] = 1; /* boot code, not a crypt method */
	assert_false(blob_format_encrypted(b, sizeof(b)));
}

static void test_names(void **state)
{
	assert_string_equal(blob_format_name(BLOB_FORMAT_RAW), "raw");
	assert_string_equal(blob_format_name(BLOB_FORMAT_QCOW2), "qcow2");
	assert_string_equal(blob_format_name(BLOB_FORMAT_ISO), "iso");
	assert_string_equal(blob_format_name(BLOB_FORMAT_UNKNOWN), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sniff_qcow2_from_four_bytes),
		cmocka_unit_test(test_sniff_raw),
		cmocka_unit_test(test_sniff_iso),
		cmocka_unit_test(test_sniff_junk),
		cmocka_unit_test(test_check_qcow2),
		cmocka_unit_test(test_check_iso),
		cmocka_unit_test(test_check_raw),
		cmocka_unit_test(test_unsupported_named),
		cmocka_unit_test(test_encrypted),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
