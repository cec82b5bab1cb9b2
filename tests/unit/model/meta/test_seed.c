/*
 * test_seed.c — unit tests for model/meta/seed.c (SPEC §16, the
 * administrator password), on both drivers: the password rules (every
 * refusal's reason is the rule and never holds the password), the SHA-512
 * crypt hash (crypt_rn of the password with it gives it back; salts
 * differ), the seed's files (user-data and meta-data exactly, the host
 * name rule, quoting), disks/cidata made, made again and removed, with
 * refusals that change nothing, and the password itself in no file of the
 * state directory and no row of the database.
 */
#include <crypt.h>
#include <ftw.h>

#include "model/lifecycle_test.h"
#include "iso9660_out.h"

#define GOOD "Tr0ub4dor&3"

static void test_rules(void **state)
{
	static const char *const good[] = {
		"Passw0rd",                       /* upper, lower, digit: 8 */
		"abcdef1!",                       /* lower, digit, symbol */
		"ABCDEF1!",                       /* upper, digit, symbol */
		"Abcdefg!",                       /* upper, lower, symbol */
		"Aa1!Aa1!Aa1!Aa1!Aa1!Aa1!Aa1!Aa", /* 30 */
		"Aa1!\"#$%&'()*+,-./:;<=>?@[\\]^", /* every ASCII symbol, in two */
		"Aa1_`{|}~",
	};
	static const char *const bad[] = {
		"",
		"Pa1!",                            /* short */
		"Passw0r",                         /* 7 */
		"Aa1!Aa1!Aa1!Aa1!Aa1!Aa1!Aa1!Aa1", /* 31 */
		"password",                        /* one class */
		"password1",                       /* two */
		"PASSWORD!",                       /* two */
		"12345678!@",                      /* two */
		"Pass w0rd",                       /* a space */
		"Pass\tw0rd",                      /* a control character */
		"Passw0rd\x7f",                    /* DEL */
		"P\xc3\xa4ssw0rd!",                /* not ASCII */
		"Passw0rd\n",                      /* a newline (the file strips one before this) */
	};
	struct model_err err;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		memset(&err, 0, sizeof err);
		if (model_password_check(good[i], &err) != 0)
			fail_msg("\"%s\": %s", good[i], err.msg);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&err, 0, sizeof err);
		if (model_password_check(bad[i], &err) != -EINVAL)
			fail_msg("\"%s\" taken", bad[i]);
		assert_string_equal(err.msg, MODEL_PASSWORD_RULE);
	}
}

/* The hash verifies the password (crypt_rn with the hash as its setting
 * gives the hash back) and nothing else; two hashes of one password have
 * different salts; the shape is "$6$" + 16 salt characters + "$" + 86. */
static void test_hash(void **state)
{
	char a[MODEL_PASSWORD_HASH_MAX], b[MODEL_PASSWORD_HASH_MAX];
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	assert_non_null(cd);
	assert_int_equal(model_password_hash(GOOD, a), 0);
	assert_int_equal(model_password_hash(GOOD, b), 0);
	assert_int_equal(strlen(a), 3 + 16 + 1 + 86);
	assert_memory_equal(a, "$6$", 3);
	assert_int_equal(a[19], '$');
	assert_string_not_equal(a, b);
	assert_null(strstr(a, GOOD));
	const char *again = crypt_rn(GOOD, a, cd, (int)sizeof(*cd));
	assert_non_null(again);
	assert_string_equal(again, a);
	again = crypt_rn("Tr0ub4dor&4", a, cd, (int)sizeof(*cd));
	assert_true(!again || strcmp(again, a) != 0);
	free(cd);
}

/* The files of a seed, read back from its Joliet directory. */
struct seed_files {
	char user[1024], meta[1024];
};

static void read_seed(const uint8_t *iso, size_t len, struct seed_files *out)
{
	const uint8_t *svd = iso + 17 * ISO9660_SECTOR;
	assert_true(len >= (ISO9660_FIRST_DATA + 2) * ISO9660_SECTOR);
	assert_memory_equal(svd + 1, "CD001", 5);
	assert_memory_equal(svd + 40, "\0c\0i\0d\0a\0t\0a\0 ", 14);
	uint32_t root = svd[158] | svd[159] << 8 | svd[160] << 16 | (uint32_t)svd[161] << 24;
	const uint8_t *d = iso + (size_t)root * ISO9660_SECTOR;
	memset(out, 0, sizeof(*out));
	for (size_t off = 0; d[off]; off += d[off]) {
		const uint8_t *r = d + off;
		uint32_t lba = r[2] | r[3] << 8 | r[4] << 16 | (uint32_t)r[5] << 24;
		uint32_t n = r[10] | r[11] << 8 | r[12] << 16 | (uint32_t)r[13] << 24;
		char *to = r[32] == 18 && memcmp(r + 33, "\0u\0s\0e\0r", 8) == 0   ? out->user
		           : r[32] == 18 && memcmp(r + 33, "\0m\0e\0t\0a", 8) == 0 ? out->meta
		                                                                   : NULL;
		if (!to)
			continue;
		assert_true(n < 1024 && (size_t)lba * ISO9660_SECTOR + n <= len);
		memcpy(to, iso + (size_t)lba * ISO9660_SECTOR, n);
	}
}

static void test_seed_files(void **state)
{
	struct model_instance vm = {.ext_id = "i-0a1b2c3d", .name = "web-1"};
	const char *hash = "$6$abcdefghABCDEFGH$0123456789./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                   "0123456789./abcdefghijklmnop";
	struct seed_files f;
	void *iso;
	size_t len;
	assert_int_equal(model_seed_build(&vm, hash, 1700000000, &iso, &len), 0);
	read_seed(iso, len, &f);
	char want[1024];
	snprintf(want, sizeof want,
	         "#cloud-config\n"
	         "# Made by imgfs from the instance's password file: the default user's\n"
	         "# password, as its SHA-512 crypt hash.\n"
	         "password: \"%s\"\n"
	         "chpasswd:\n"
	         "  expire: false\n"
	         "ssh_pwauth: true\n",
	         hash);
	assert_string_equal(f.user, want);
	assert_string_equal(f.meta, "instance-id: \"i-0a1b2c3d-1700000000\"\nlocal-hostname: \"web-1\"\n");
	free(iso);
	/* A seed made later (a new password) has another instance id: the
	 * guest's cloud-init applies the new password at its next boot. */
	assert_int_equal(model_seed_build(&vm, hash, 1700000001, &iso, &len), 0);
	read_seed(iso, len, &f);
	assert_string_equal(f.meta, "instance-id: \"i-0a1b2c3d-1700000001\"\nlocal-hostname: \"web-1\"\n");
	free(iso);

	/* Host names: the instance's name when it is one, else its id. */
	static const struct {
		const char *name;
		bool host;
	} names[] = {
		{"web-1", true},     {"db.prod", true},  {"A9", true},          {"yes", true},
		{"web_1", false},    {"web-", false},    {"a..b", false},       {"\xe6\x95\xb0\xe6\x8d\xae", false},
		{"x.", false},       {"1.5", true},
		{"a123456789012345678901234567890123456789012345678901234567890123", false}, /* a 64-byte label */
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(vm.name, sizeof vm.name, "%s", names[i].name);
		assert_int_equal(model_seed_build(&vm, hash, 1700000000, &iso, &len), 0);
		read_seed(iso, len, &f);
		snprintf(want, sizeof want, "instance-id: \"i-0a1b2c3d-1700000000\"\nlocal-hostname: \"%s\"\n",
		         names[i].host ? names[i].name : "i-0a1b2c3d");
		if (strcmp(f.meta, want) != 0)
			fail_msg("name %s: %s", names[i].name, f.meta);
		free(iso);
	}
	/* Not a hash: nothing that could break the YAML goes in. */
	static const char *const bad[] = {"", "$1$abc$def", "$6$a\"b$c", "$6$ab\n$c", "plain"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(model_seed_build(&vm, bad[i], 1700000000, &iso, &len), -EINVAL);
}

/* The bytes of the instance's cidata, read through its manifest. */
static uint8_t *cidata_bytes(struct ut_fx *fx, int64_t vm_id, size_t *len, int64_t *blob_out)
{
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	int n = model_instance_disks(fx->m, vm_id, disks);
	for (int i = 0; i < n; i++) {
		if (disks[i].index != MODEL_VM_CIDATA)
			continue;
		blob_manifest *man = NULL;
		blob_store *s;
		assert_true(disks[i].sealed);
		assert_string_equal(disks[i].name, "cidata");
		assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
		assert_int_equal(model_blob_manifest(fx->m, disks[i].blob_id, &man), 0);
		uint8_t *buf = malloc(man->size);
		assert_non_null(buf);
		assert_int_equal(blob_store_read(s, man, buf, man->size, 0), (ssize_t)man->size);
		*len = man->size;
		if (blob_out)
			*blob_out = disks[i].blob_id;
		blob_manifest_free(man);
		return buf;
	}
	return NULL;
}

/* The hash in a seed's user-data. */
static void seed_hash(const struct seed_files *f, char out[MODEL_PASSWORD_HASH_MAX])
{
	const char *p = strstr(f->user, "password: \"");
	assert_non_null(p);
	p += strlen("password: \"");
	size_t n = strcspn(p, "\"");
	assert_true(n < MODEL_PASSWORD_HASH_MAX);
	memcpy(out, p, n);
	out[n] = '\0';
}

static void assert_verifies(const char *hash, const char *password)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	assert_non_null(cd);
	const char *h = crypt_rn(password, hash, cd, (int)sizeof(*cd));
	assert_non_null(h);
	assert_string_equal(h, hash);
	free(cd);
}

/* Whether the bytes of needle appear in any file below dir, writable
 * blobs (wblobs/: an instance's sparse 40 GiB disks) left out; each file
 * read in pieces that overlap by the needle's length. */
static const char *grep_needle;
static char grep_hit[PATH_MAX];
static int grep_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	enum { PIECE = 1 << 20 };
	static char buf[PIECE + 256];
	size_t nlen = strlen(grep_needle), keep = 0, n;
	(void)st;
	(void)ftw;
	if (flag != FTW_F || grep_hit[0] || strstr(path, "/wblobs/"))
		return 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	assert_true(nlen < 256);
	while ((n = fread(buf + keep, 1, PIECE, f)) > 0) {
		size_t total = keep + n;
		if (memmem(buf, total, grep_needle, nlen)) {
			snprintf(grep_hit, sizeof grep_hit, "%s", path);
			break;
		}
		keep = total < nlen - 1 ? total : nlen - 1; /* a needle across two pieces */
		memmove(buf, buf + total - keep, keep);
	}
	fclose(f);
	return 0;
}

static const char *grep_tree(const char *dir, const char *needle)
{
	grep_needle = needle;
	grep_hit[0] = '\0';
	nftw(dir, grep_one, 16, FTW_PHYS);
	return grep_hit[0] ? grep_hit : NULL;
}

static void test_set_password(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct seed_files f;
	char h1[MODEL_PASSWORD_HASH_MAX], h2[MODEL_PASSWORD_HASH_MAX];
	int64_t alice = ut_account(fx, "alice");
	int64_t id = lt_instance(fx, fx->r1, alice, "web");
	struct model_instance vm;
	size_t len;
	int64_t b1, b2;

	assert_int_equal(model_instance_get(fx->m, id, &vm), 0);
	int64_t dir_mtime = vm.dir_mtime_ns;
	assert_null(cidata_bytes(fx, id, &len, NULL));
	int64_t t0 = (int64_t)time(NULL);
	assert_int_equal(model_instance_set_password(fx->m, id, GOOD, &err), 0);
	int64_t t1 = (int64_t)time(NULL);
	uint8_t *iso = cidata_bytes(fx, id, &len, &b1);
	assert_non_null(iso);
	read_seed(iso, len, &f);
	seed_hash(&f, h1);
	assert_verifies(h1, GOOD);
	/* The instance id is the instance's and the seed's time (made now). */
	char meta[128];
	long long when = 0;
	for (int64_t t = t0; t <= t1 && !when; t++) {
		snprintf(meta, sizeof meta, "instance-id: \"%s-%lld\"\nlocal-hostname: \"web\"\n", vm.ext_id, (long long)t);
		when = strcmp(f.meta, meta) == 0 ? t : 0;
	}
	if (!when)
		fail_msg("meta-data: %s", f.meta);
	assert_int_equal(model_instance_get(fx->m, id, &vm), 0);
	assert_true(vm.dir_mtime_ns > dir_mtime);
	assert_int_equal(lt_last_change(fx, MODEL_CHANGE_INSTANCE, id).name[0], '\0');
	/* Read twice: the same bytes (they are stored, not made per read). */
	size_t len2;
	uint8_t *again = cidata_bytes(fx, id, &len2, NULL);
	assert_int_equal(len2, len);
	assert_memory_equal(again, iso, len);
	free(again);
	free(iso);

	/* Again: a new seed (a new salt), the old blob row gone. */
	assert_int_equal(model_instance_set_password(fx->m, id, "N3w-password", &err), 0);
	iso = cidata_bytes(fx, id, &len, &b2);
	read_seed(iso, len, &f);
	seed_hash(&f, h2);
	assert_verifies(h2, "N3w-password");
	assert_string_not_equal(h1, h2);
	assert_true(b2 != b1);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs WHERE id = %lld", (long long)b1), 0);
	free(iso);

	/* Refusals change nothing: the rule, a running instance, a capture. */
	int64_t blobs = ut_sql_int(fx, "SELECT count(*) FROM blobs");
	assert_int_equal(model_instance_set_password(fx->m, id, "password", &err), -EINVAL);
	assert_string_equal(err.msg, MODEL_PASSWORD_RULE);
	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_RUNNING, &err), 0);
	assert_int_equal(model_instance_set_password(fx->m, id, GOOD, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "running"));
	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_STOPPED, &err), 0);
	int64_t task = lt_task(fx, 0, "instance", id, "running");
	assert_int_equal(model_instance_set_password(fx->m, id, GOOD, &err), -EBUSY);
	ut_sql(fx, "DELETE FROM tasks WHERE id = %lld", (long long)task);
	assert_int_equal(model_instance_set_password(fx->m, 424242, GOOD, &err), -ENOENT);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs"), blobs);
	iso = cidata_bytes(fx, id, &len, &b1);
	assert_int_equal(b1, b2);
	free(iso);

	/* Neither password in any file of the state (the database, its log,
	 * the chunks); the hash is in a chunk (local stores). */
	assert_null(grep_tree(fx->dir, GOOD));
	assert_null(grep_tree(fx->dir, "N3w-password"));
	if (!getenv("IMGFS_TEST_CEPH_CONF"))
		assert_non_null(grep_tree(fx->dir, h2));
	/* Nor in any text column of the rows a password write touches. */
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM instances WHERE name LIKE '%%N3w%%' OR host LIKE "
	                                "'%%N3w%%'"), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM changes WHERE name LIKE '%%N3w%%'"), 0);

	/* rm disks/cidata: stopped only; then gone, its row too. */
	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_RUNNING, &err), 0);
	assert_int_equal(model_instance_disk_detach(fx->m, id, MODEL_VM_CIDATA, &err), -EBUSY);
	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_STOPPED, &err), 0);
	assert_int_equal(model_instance_disk_detach(fx->m, id, MODEL_VM_CIDATA, &err), 0);
	assert_null(cidata_bytes(fx, id, &len, NULL));
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs WHERE id = %lld", (long long)b2), 0);
	assert_int_equal(model_instance_disk_detach(fx->m, id, MODEL_VM_CIDATA, &err), -ENOENT);

	/* Removing the instance drops its seed's row. */
	assert_int_equal(model_instance_set_password(fx->m, id, GOOD, &err), 0);
	assert_non_null(iso = cidata_bytes(fx, id, &len, &b1));
	free(iso);
	assert_int_equal(model_instance_remove(fx->m, id, &err), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs WHERE id = %lld", (long long)b1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_seed_files),
		cmocka_unit_test_setup_teardown(test_set_password, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}
