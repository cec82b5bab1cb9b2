/*
 * test_iso9660_out.c — unit tests for blobstore/format/iso9660_out.c
 * (SPEC §16: an instance's disks/cidata).  The image is read back by a
 * reader written here from ECMA-119 and the Joliet specification (not by
 * the code under test): the volume descriptors and every field a reader
 * looks at (both byte orders of each both-endian number), the path
 * tables, both root directories (names, order, extents, lengths, dates)
 * and each file's bytes; the same arguments give the same bytes; every
 * argument outside the limits is refused.  The integration test
 * (test_iso_boot.sh) reads a seed with isoinfo as well.
 */
#include "blobstore/blob_test.h"
#include "format.h"
#include "iso9660_out.h"

#define SECTOR 2048
#define WHEN 1700000000 /* 2023-11-14 22:13:20 UTC */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[1] | p[0] << 8);
}

/* A both-endian 32-bit number (7.3.3): both halves agree; its value. */
static uint32_t both32(const uint8_t *p)
{
	assert_int_equal(le32(p), be32(p + 4));
	return le32(p);
}

static uint16_t both16(const uint8_t *p)
{
	assert_int_equal(le16(p), be16(p + 2));
	return le16(p);
}

/* A UCS-2 big-endian identifier as ASCII (every character here is). */
static void ucs2_ascii(char *out, const uint8_t *p, size_t bytes)
{
	size_t n = 0;
	for (size_t i = 0; i + 1 < bytes; i += 2) {
		assert_int_equal(p[i], 0);
		out[n++] = (char)p[i + 1];
	}
	out[n] = '\0';
}

struct rec {
	uint32_t lba, len;
	uint8_t flags;
	char name[64];
};

/* The records of the directory at sector lba (one sector), names as
 * ASCII (joliet: from UCS-2); their count. */
static int read_dir(const uint8_t *img, size_t len, uint32_t lba, bool joliet, struct rec *out, int cap)
{
	const uint8_t *d = img + (size_t)lba * SECTOR;
	int n = 0;
	assert_true((size_t)(lba + 1) * SECTOR <= len);
	for (size_t off = 0; off < SECTOR && d[off]; off += d[off]) {
		const uint8_t *r = d + off;
		uint8_t idlen = r[32];
		assert_true(n < cap);
		assert_int_equal(r[0] % 2, 0);                        /* records are even-sized */
		assert_int_equal(r[0], 33 + idlen + (idlen % 2 == 0)); /* with the padding byte */
		assert_true(off + r[0] <= SECTOR);                     /* never across a sector */
		assert_int_equal(r[1], 0);
		out[n].lba = both32(r + 2);
		out[n].len = both32(r + 10);
		/* 2023-11-14 22:13:20, GMT */
		const uint8_t date[7] = {123, 11, 14, 22, 13, 20, 0};
		assert_memory_equal(r + 18, date, 7);
		out[n].flags = r[25];
		assert_int_equal(both16(r + 28), 1);
		if (idlen == 1 && (r[33] == 0 || r[33] == 1))
			snprintf(out[n].name, sizeof(out[n].name), "%s", r[33] ? ".." : ".");
		else if (joliet)
			ucs2_ascii(out[n].name, r + 33, idlen);
		else
			snprintf(out[n].name, sizeof(out[n].name), "%.*s", (int)idlen, (const char *)r + 33);
		n++;
	}
	return n;
}

/* Checks the volume descriptor at sector s; the root directory's sector. */
static uint32_t check_vd(const uint8_t *img, size_t len, int s, bool joliet, uint32_t path_l)
{
	const uint8_t *v = img + (size_t)s * SECTOR;
	char vol[40];
	assert_int_equal(v[0], joliet ? 2 : 1);
	assert_memory_equal(v + 1, "CD001", 5);
	assert_int_equal(v[6], 1);
	if (joliet) {
		/* UCS-2 level 3; the volume id in UCS-2, padded with spaces */
		assert_memory_equal(v + 88, "%/E", 3);
		ucs2_ascii(vol, v + 40, 32);
		assert_string_equal(vol, "cidata          ");
	} else {
		assert_memory_equal(v + 40, "cidata                          ", 32);
	}
	assert_int_equal(both32(v + 80), len / SECTOR);
	assert_int_equal(both16(v + 120), 1);
	assert_int_equal(both16(v + 124), 1);
	assert_int_equal(both16(v + 128), SECTOR);
	assert_int_equal(both32(v + 132), 10);
	assert_int_equal(le32(v + 140), path_l);
	assert_int_equal(be32(v + 148), path_l + 1);
	assert_memory_equal(v + 813, "2023111422132000", 16); /* created */
	assert_memory_equal(v + 830, "2023111422132000", 16); /* modified */
	assert_memory_equal(v + 847, "0000000000000000", 16); /* never expires */
	assert_int_equal(v[881], 1);
	/* The root's record: a directory of one sector. */
	const uint8_t *root = v + 156;
	assert_int_equal(root[0], 34);
	assert_int_equal(root[25], 2);
	assert_int_equal(both32(root + 10), SECTOR);
	assert_int_equal(root[32], 1);
	assert_int_equal(root[33], 0);
	/* Both path tables name it, as the only directory. */
	const uint8_t *pl = img + (size_t)path_l * SECTOR, *pm = pl + SECTOR;
	assert_int_equal(pl[0], 1);
	assert_int_equal(le32(pl + 2), both32(root + 2));
	assert_int_equal(le16(pl + 6), 1);
	assert_int_equal(pm[0], 1);
	assert_int_equal(be32(pm + 2), both32(root + 2));
	assert_int_equal(be16(pm + 6), 1);
	return both32(root + 2);
}

static const char USER[] = "#cloud-config\npassword: \"$6$salt$hash\"\n";
static const char META[] = "instance-id: \"i-0123abcd\"\nlocal-hostname: \"web\"\n";

static void build(void **out, size_t *len, const struct iso9660_file *files, size_t n)
{
	assert_int_equal(iso9660_build(out, len, "cidata", files, n, WHEN), 0);
	assert_non_null(*out);
	assert_int_equal(*len % SECTOR, 0);
}

/* The seed's two files, given out of order: every structure in place,
 * both directories sorted, each file's bytes at its extent. */
static void test_seed_layout(void **state)
{
	const struct iso9660_file files[] = {{"user-data", USER, sizeof(USER) - 1}, {"meta-data", META, sizeof(META) - 1}};
	struct rec r[8];
	uint8_t *img;
	size_t len;
	build((void **)&img, &len, files, 2);
	assert_int_equal(len, (ISO9660_FIRST_DATA + 2) * SECTOR);
	for (size_t i = 0; i < 16 * SECTOR; i++)
		assert_int_equal(img[i], 0); /* the system area */
	uint32_t proot = check_vd(img, len, 16, false, 19);
	uint32_t jroot = check_vd(img, len, 17, true, 21);
	assert_int_not_equal(proot, jroot);
	assert_int_equal(img[18 * SECTOR], 255); /* the set terminator */
	assert_memory_equal(img + 18 * SECTOR + 1, "CD001", 5);

	/* Primary: 8.3 d-character names, sorted. */
	assert_int_equal(read_dir(img, len, proot, false, r, 8), 4);
	assert_string_equal(r[0].name, ".");
	assert_int_equal(r[0].lba, proot);
	assert_int_equal(r[0].flags, 2);
	assert_string_equal(r[1].name, "..");
	assert_string_equal(r[2].name, "META_DAT.;1");
	assert_string_equal(r[3].name, "USER_DAT.;1");
	/* The files keep the order given on the disc: user-data first. */
	assert_int_equal(r[3].lba, ISO9660_FIRST_DATA);
	assert_int_equal(r[2].lba, ISO9660_FIRST_DATA + 1);
	assert_int_equal(r[3].len, sizeof(USER) - 1);
	assert_int_equal(r[2].len, sizeof(META) - 1);
	assert_int_equal(r[2].flags, 0);
	assert_memory_equal(img + (size_t)r[3].lba * SECTOR, USER, sizeof(USER) - 1);
	assert_memory_equal(img + (size_t)r[2].lba * SECTOR, META, sizeof(META) - 1);
	/* The rest of a file's last sector is zeros. */
	for (size_t i = r[2].len; i < SECTOR; i++)
		assert_int_equal(img[(size_t)r[2].lba * SECTOR + i], 0);

	/* Joliet: the names as given, the same extents. */
	struct rec j[8];
	assert_int_equal(read_dir(img, len, jroot, true, j, 8), 4);
	assert_int_equal(j[0].lba, jroot);
	assert_string_equal(j[2].name, "meta-data");
	assert_string_equal(j[3].name, "user-data");
	assert_int_equal(j[2].lba, r[2].lba);
	assert_int_equal(j[3].lba, r[3].lba);
	assert_int_equal(j[3].len, r[3].len);

	/* imgfs's own sniffer and check take it for an ISO whose volume fits. */
	enum blob_format f;
	uint64_t vsize;
	char why[128];
	assert_int_equal(blob_format_sniff(img, len, false, &f), 1);
	assert_int_equal(f, BLOB_FORMAT_ISO);
	assert_int_equal(blob_format_check(f, img, len, len, &vsize, why, sizeof(why)), 0);
	assert_int_equal(vsize, len);
	free(img);
}

/* The same arguments, the same bytes (no clock read); another date, other
 * bytes only in the dates. */
static void test_stable(void **state)
{
	const struct iso9660_file files[] = {{"user-data", USER, sizeof(USER) - 1}, {"meta-data", META, sizeof(META) - 1}};
	void *a, *b, *c;
	size_t la, lb, lc;
	build(&a, &la, files, 2);
	build(&b, &lb, files, 2);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	assert_int_equal(iso9660_build(&c, &lc, "cidata", files, 2, WHEN + 1), 0);
	assert_int_equal(lc, la);
	assert_memory_not_equal(a, c, la);
	free(a);
	free(b);
	free(c);
}

/* Many files, an empty one (no extent), one over a sector, names that
 * sort differently as 8.3 and as given, a name with an extension. */
static void test_many_files(void **state)
{
	static uint8_t big[3 * SECTOR + 5];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 1);
	const struct iso9660_file files[] = {
		{"z", "z", 1},     {"empty", NULL, 0},       {"big.bin", big, sizeof(big)}, {"a-b", "ab", 2},
		{"a_c", "ac", 2},  {"readme.txt", "hi\n", 3}, {"b1", "1", 1},               {"b0", "0", 1},
	};
	struct rec r[12], j[12];
	uint8_t *img;
	size_t len;
	build((void **)&img, &len, files, 8);
	/* 7 non-empty files, big.bin four sectors. */
	assert_int_equal(len, (ISO9660_FIRST_DATA + 6 + 4) * SECTOR);
	uint32_t proot = check_vd(img, len, 16, false, 19), jroot = check_vd(img, len, 17, true, 21);
	assert_int_equal(read_dir(img, len, proot, false, r, 12), 10);
	assert_int_equal(read_dir(img, len, jroot, true, j, 12), 10);
	static const char *const primary[] = {"A_B.;1", "A_C.;1", "B0.;1", "B1.;1", "BIG.BIN;1",
	                                      "EMPTY.;1", "README.TXT;1", "Z.;1"};
	static const char *const joliet[] = {"a-b", "a_c", "b0", "b1", "big.bin", "empty", "readme.txt", "z"};
	for (int i = 0; i < 8; i++) {
		assert_string_equal(r[i + 2].name, primary[i]);
		assert_string_equal(j[i + 2].name, joliet[i]);
		assert_int_equal(r[i + 2].lba, j[i + 2].lba);
		assert_int_equal(r[i + 2].len, j[i + 2].len);
	}
	/* empty: no extent; big.bin: its bytes across sectors. */
	assert_int_equal(r[7].len, 0);
	assert_int_equal(r[7].lba, 0);
	assert_int_equal(r[6].len, sizeof(big));
	assert_memory_equal(img + (size_t)r[6].lba * SECTOR, big, sizeof(big));
	/* Extents in the order given, each from a sector of its own. */
	assert_int_equal(j[9].lba, ISO9660_FIRST_DATA);     /* z */
	assert_int_equal(j[6].lba, ISO9660_FIRST_DATA + 1); /* big.bin, after empty (none) */
	assert_int_equal(j[2].lba, ISO9660_FIRST_DATA + 5); /* a-b */
	free(img);
}

static void test_refusals(void **state)
{
	struct iso9660_file ok = {"user-data", USER, 3};
	void *out = (void *)1;
	size_t len = 1;
	struct iso9660_file nine[9];
	for (int i = 0; i < 9; i++)
		nine[i] = (struct iso9660_file){"x", "x", 1};
	/* Files. */
	assert_int_equal(iso9660_build(&out, &len, "cidata", &ok, 0, WHEN), -EINVAL);
	assert_null(out);
	assert_int_equal(len, 0);
	char nm[16];
	for (int i = 0; i < 9; i++) {
		snprintf(nm, sizeof(nm), "f%d", i);
		nine[i].name = strdup(nm);
	}
	assert_int_equal(iso9660_build(&out, &len, "cidata", nine, 9, WHEN), -EINVAL);
	assert_int_equal(iso9660_build(&out, &len, "cidata", nine, 8, WHEN), 0);
	free(out);
	for (int i = 0; i < 9; i++)
		free((void *)nine[i].name);
	static const char *const bad[] = {"", ".hidden", "User-data", "a/b", "a b", "caf\xc3\xa9",
	                                  "0123456789012345678901234567890" /* 31 */};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct iso9660_file f = {bad[i], "x", 1};
		if (iso9660_build(&out, &len, "cidata", &f, 1, WHEN) != -EINVAL)
			fail_msg("name \"%s\" taken", bad[i]);
	}
	struct iso9660_file thirty = {"012345678901234567890123456789", "x", 1};
	assert_int_equal(iso9660_build(&out, &len, "cidata", &thirty, 1, WHEN), 0);
	free(out);
	struct iso9660_file noname = {NULL, "x", 1}, nodata = {"x", NULL, 1};
	assert_int_equal(iso9660_build(&out, &len, "cidata", &noname, 1, WHEN), -EINVAL);
	assert_int_equal(iso9660_build(&out, &len, "cidata", &nodata, 1, WHEN), -EINVAL);
	struct iso9660_file huge = {"x", "x", (size_t)ISO9660_FILE_MAX + 1};
	assert_int_equal(iso9660_build(&out, &len, "cidata", &huge, 1, WHEN), -EINVAL);
	/* The same 8.3 name twice: the primary directory could not tell them. */
	struct iso9660_file clash[] = {{"user-data", "a", 1}, {"user-date", "b", 1}};
	assert_int_equal(iso9660_build(&out, &len, "cidata", clash, 2, WHEN), -EINVAL);
	/* Volume ids. */
	assert_int_equal(iso9660_build(&out, &len, "", &ok, 1, WHEN), -EINVAL);
	assert_int_equal(iso9660_build(&out, &len, NULL, &ok, 1, WHEN), -EINVAL);
	assert_int_equal(iso9660_build(&out, &len, "cidata cidata", &ok, 1, WHEN), -EINVAL);
	assert_int_equal(iso9660_build(&out, &len, "0123456789abcdefg", &ok, 1, WHEN), -EINVAL);
	assert_int_equal(iso9660_build(&out, &len, "0123456789abcdef", &ok, 1, WHEN), 0);
	free(out);
	/* Dates a directory record can hold: 1970 .. 2099. */
	assert_int_equal(iso9660_build(&out, &len, "cidata", &ok, 1, -1), -EINVAL);
	assert_int_equal(iso9660_build(&out, &len, "cidata", &ok, 1, 4102444800LL), -EINVAL);
	assert_int_equal(iso9660_build(&out, &len, "cidata", &ok, 1, 4102444799LL), 0);
	const uint8_t *r = (const uint8_t *)out + 23 * SECTOR; /* the primary root's "." */
	assert_int_equal(r[18], 199);                          /* 2099 */
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_layout),
		cmocka_unit_test(test_stable),
		cmocka_unit_test(test_many_files),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
