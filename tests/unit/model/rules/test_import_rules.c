/*
 * test_import_rules.c — unit tests for model/rules/import_rules.c: the rules of
 * SPEC §5.4 row by row, each with an allowed value and a refused neighbour
 * just outside it; unknown values; unset attributes; and the attribute
 * writes (queued private and ISO images only, a refused write changes
 * nothing, features normalised, mtime moves).
 */
#include "test_util.h"

/* A set with every attribute given (NULL: unset). */
static struct model_import_attrs set6(const char *os, const char *pf, const char *ver, const char *arch,
                                      const char *boot, const char *features)
{
	return (struct model_import_attrs){os, pf, ver, arch, boot, features};
}

/* Asserts the set is allowed (want 0) or refused with EINVAL and a reason
 * holding why. */
#define CHECK(want, why, ...)                                                                       \
	do {                                                                                             \
		struct model_import_attrs a_ = set6(__VA_ARGS__);                                             \
		struct model_err e_ = {0};                                                                    \
		int rc_ = model_import_check(&a_, &e_);                                                       \
		if (rc_ != (want))                                                                            \
			fail_msg("%s: got %d (%s), want %d", #__VA_ARGS__, rc_, e_.msg, (want));                  \
		if ((want) < 0 && !strstr(e_.msg, (why)))                                                     \
			fail_msg("%s: reason \"%s\" lacks \"%s\"", #__VA_ARGS__, e_.msg, (why));                 \
	} while (0)
#define OK(...) CHECK(0, "", __VA_ARGS__)
#define NO(why, ...) CHECK(-EINVAL, why, __VA_ARGS__)

static void test_centos_x86_64(void **state)
{
	OK("linux", "centos", "6.5", "x86_64", "bios", NULL);
	NO("not importable", "linux", "centos", "6.4", "x86_64", "bios", NULL);
	OK("linux", "centos", "6.10", "x86_64", NULL, NULL); /* 6.10 is after 6.9 */
	OK("linux", "centos", "6.9", "x86_64", NULL, NULL);
	NO("not importable", "linux", "centos", "6.11", "x86_64", NULL, NULL);
	OK("linux", "centos", "7.0", "x86_64", NULL, NULL);
	OK("linux", "centos", "7", "x86_64", NULL, NULL); /* 7 is 7.0 */
	OK("linux", "centos", "7.9", "x86_64", NULL, NULL);
	NO("not importable", "linux", "centos", "7.10", "x86_64", NULL, NULL);
	NO("6.5-6.10, 7.0-7.9", "linux", "centos", "5.11", "x86_64", NULL, NULL); /* the example */
}

static void test_centos_aarch64(void **state)
{
	OK("linux", "centos", "7.6", "aarch64", "uefi", NULL);
	NO("not importable", "linux", "centos", "7.5", "aarch64", "uefi", NULL);
	OK("linux", "centos", "7.9", "aarch64", "uefi", NULL);
	NO("7.6-7.9", "linux", "centos", "8.0", "aarch64", "uefi", NULL);
	NO("not importable", "linux", "centos", "6.8", "aarch64", NULL, NULL);
}

static void test_ubuntu(void **state)
{
	OK("linux", "ubuntu", "14.04", "x86_64", NULL, NULL);
	NO("not importable", "linux", "ubuntu", "13.10", "x86_64", NULL, NULL);
	OK("linux", "ubuntu", "20.10", "x86_64", NULL, NULL);
	NO("14.04-20.10", "linux", "ubuntu", "21.04", "x86_64", NULL, NULL);
	OK("linux", "ubuntu", "16.04", "aarch64", "uefi", NULL);
	NO("not importable", "linux", "ubuntu", "16.10", "aarch64", "uefi", NULL);
	OK("linux", "ubuntu", "18.04", "aarch64", "uefi", NULL);
	NO("16.04, 18.04", "linux", "ubuntu", "17.04", "aarch64", "uefi", NULL);
	NO("not importable", "linux", "ubuntu", "18.10", "aarch64", "uefi", NULL);
}

static void test_windows(void **state)
{
	OK("windows", "windows", "2008", "x86_64", "bios", NULL);
	NO("not importable", "windows", "windows", "2007", "x86_64", NULL, NULL);
	OK("windows", "windows", "2019", "x86_64", NULL, NULL);
	NO("not importable", "windows", "windows", "2020", "x86_64", NULL, NULL);
	OK("windows", "windows", "2012 R2", "x86_64", NULL, NULL);
	OK("windows", "windows", "2008r2", "x86_64", NULL, NULL);
	NO("not importable", "windows", "windows", "10 R2", "x86_64", NULL, NULL); /* R2: servers only */
	OK("windows", "windows", "7", "x86_64", NULL, NULL);
	NO("not importable", "windows", "windows", "6", "x86_64", NULL, NULL);
	OK("windows", "windows", "10", "x86_64", NULL, NULL);
	OK("windows", "windows", "8.1", "x86_64", NULL, NULL);
	NO("not importable", "windows", "windows", "11", "x86_64", NULL, NULL);
	/* x86_64 only, whichever attribute says Windows. */
	NO("x86_64 only", "windows", "windows", "2016", "aarch64", "uefi", NULL);
	NO("x86_64 only", "windows", NULL, NULL, "aarch64", NULL, NULL);
	NO("x86_64 only", NULL, "windows", NULL, "aarch64", NULL, NULL);
	OK(NULL, "windows", NULL, "x86_64", NULL, NULL);
}

static void test_os_type_agrees(void **state)
{
	OK("linux", "centos", NULL, NULL, NULL, NULL);
	NO("does not agree", "windows", "centos", NULL, NULL, NULL, NULL);
	OK("linux", "ubuntu", NULL, NULL, NULL, NULL);
	NO("does not agree", "windows", "ubuntu", NULL, NULL, NULL, NULL);
	OK("windows", "windows", NULL, NULL, NULL, NULL);
	NO("does not agree", "linux", "windows", NULL, NULL, NULL, NULL);
}

/* SPEC §16: the seeds' Chinese enterprise systems and the common others;
 * no version ranges of seed 004's, so any well-formed version. */
static void test_more_platforms(void **state)
{
	static const char *const linuxes[] = {"kylin", "uos", "debian", "rocky", "almalinux", "opensuse", "fedora"};
	for (size_t i = 0; i < sizeof(linuxes) / sizeof(linuxes[0]); i++) {
		const char *pf = linuxes[i];
		OK("linux", pf, NULL, NULL, NULL, NULL);
		OK(NULL, pf, "10", "x86_64", "bios", NULL);
		OK("linux", pf, "15.4", "aarch64", "uefi", NULL);
		OK("linux", pf, "1.2.3", NULL, NULL, NULL);
		NO("not a version number", "linux", pf, "V10", NULL, NULL, NULL);
		NO("R2 is Windows Server", "linux", pf, "10 R2", NULL, NULL, NULL);
		NO("does not agree", "windows", pf, NULL, NULL, NULL, NULL);
		NO("does not agree", "other", pf, NULL, NULL, NULL, NULL);
		NO("uefi only", "linux", pf, "10", "aarch64", "bios", NULL); /* the other rules hold */
	}
	/* freebsd is the one os-type other. */
	OK("other", "freebsd", "13.2", "x86_64", "uefi", NULL);
	OK("other", "freebsd", "14.0", "aarch64", "uefi", NULL);
	OK("other", NULL, NULL, "aarch64", "uefi", NULL);
	NO("os-type linux does not agree with platform freebsd (it is other)", "linux", "freebsd", NULL, NULL, NULL,
	   NULL);
	NO("does not agree", "windows", "freebsd", NULL, NULL, NULL, NULL);
	NO("os-type other does not agree with platform kylin (it is linux)", "other", "kylin", NULL, NULL, NULL, NULL);
	NO("does not agree", "other", "centos", NULL, NULL, NULL, NULL);
	NO("does not agree", "other", "windows", NULL, NULL, NULL, NULL);
	/* Words are lowercase, as every other. */
	NO("platform is", "linux", "Kylin", NULL, NULL, NULL, NULL);
	NO("os-type is", "Other", NULL, NULL, NULL, NULL, NULL);
}

/* The agreement rule is a table: every (os-type, platform) pair, against
 * the pairs SPEC §16 names. */
static void test_agreement_table(void **state)
{
	static const char *const oses[] = {"linux", "windows", "other"};
	static const struct {
		const char *platform, *os_type;
	} want[] = {
		{"centos", "linux"}, {"ubuntu", "linux"},    {"windows", "windows"}, {"kylin", "linux"},
		{"uos", "linux"},    {"debian", "linux"},    {"rocky", "linux"},     {"almalinux", "linux"},
		{"opensuse", "linux"}, {"fedora", "linux"}, {"freebsd", "other"},
	};
	for (size_t p = 0; p < sizeof(want) / sizeof(want[0]); p++)
		for (size_t o = 0; o < sizeof(oses) / sizeof(oses[0]); o++) {
			struct model_import_attrs a = set6(oses[o], want[p].platform, NULL, NULL, NULL, NULL);
			struct model_err e = {0};
			int rc = model_import_check(&a, &e);
			int expect = strcmp(oses[o], want[p].os_type) == 0 ? 0 : -EINVAL;
			if (rc != expect)
				fail_msg("os-type %s, platform %s: got %d (%s), want %d", oses[o], want[p].platform, rc,
				         e.msg, expect);
		}
}

static void test_aarch64_uefi(void **state)
{
	OK(NULL, NULL, NULL, "aarch64", "uefi", NULL);
	NO("uefi only", NULL, NULL, NULL, "aarch64", "bios", NULL);
	OK(NULL, NULL, NULL, "x86_64", "bios", NULL);
	OK(NULL, NULL, NULL, "x86_64", "uefi", NULL);
	OK(NULL, NULL, NULL, "aarch64", NULL, NULL); /* boot-mode not set yet */
}

static void test_values(void **state)
{
	OK(NULL, NULL, NULL, NULL, NULL, NULL); /* an image of unknown OS */
	OK("", "", "", "", "", "");
	NO("os-type is linux, windows or other, not macos", "macos", NULL, NULL, NULL, NULL, NULL);
	NO("os-type is linux, windows or other", "Linux", NULL, NULL, NULL, NULL, NULL);
	NO("boot-mode is bios or uefi, not efi", NULL, NULL, NULL, NULL, "efi", NULL);
	NO("platform is centos, ubuntu, windows, kylin, uos, debian, rocky, almalinux, opensuse, fedora or freebsd, "
	   "not debain", NULL, "debain", NULL, NULL, NULL, NULL);
	NO("arch is x86_64 or aarch64", NULL, NULL, NULL, "i386", NULL, NULL);
	NO("boot-mode is bios or uefi", NULL, NULL, NULL, NULL, "efi", NULL);
	OK(NULL, NULL, "7.4", NULL, NULL, NULL); /* a version alone: only its form */
	NO("not a version number", NULL, NULL, "seven", NULL, NULL, NULL);
	NO("not a version number", NULL, NULL, "7.", NULL, NULL, NULL);
	NO("not a version number", NULL, NULL, "7.4 ", NULL, NULL, NULL);
	NO("not a version number", NULL, NULL, "1.2.3.4", NULL, NULL, NULL);
	OK(NULL, NULL, NULL, NULL, NULL, "cloud-init qemu-ga hot-upgrade");
	OK(NULL, NULL, NULL, NULL, NULL, "qemu-ga");
	NO("unknown feature ssh: features are cloud-init, qemu-ga or hot-upgrade", NULL, NULL, NULL, NULL, NULL,
	   "qemu-ga ssh");
	NO("listed twice", NULL, NULL, NULL, NULL, NULL, "qemu-ga qemu-ga");
	/* Platform known, arch not: any architecture's range will do. */
	OK("linux", "ubuntu", "19.04", NULL, NULL, NULL);
	NO("not importable", "linux", "ubuntu", "12.04", NULL, NULL, NULL);
}

/* ---- the writes ---- */

static int64_t queued_image(struct ut_fx *fx, enum model_folder folder, const char *name)
{
	struct model_err err = {0};
	struct model_account a;
	struct model_image img;
	if (model_account_by_name(fx->m, "alice", &a) < 0)
		assert_int_equal(model_account_add(fx->m, "alice", -1, &err), 0);
	assert_int_equal(model_account_by_name(fx->m, "alice", &a), 0);
	assert_int_equal(model_image_create(fx->m, fx->r1, a.id, folder, name, &img, &err), 0);
	return img.id;
}

static struct model_image get(struct ut_fx *fx, int64_t id)
{
	struct model_image img;
	assert_int_equal(model_image_get(fx->m, id, &img), 0);
	return img;
}

static void test_writes(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t id = queued_image(fx, MODEL_FOLDER_PRIVATE, "golden");
	int64_t before = get(fx, id).mtime_ns;

	assert_int_equal(model_image_set_import_attr(fx->m, id, MODEL_IMPORT_ARCH, "aarch64", &err), 0);
	assert_string_equal(get(fx, id).arch, "aarch64");
	assert_true(get(fx, id).mtime_ns > before);
	/* aarch64 + bios: refused, and nothing changes. */
	assert_int_equal(model_image_set_import_attr(fx->m, id, MODEL_IMPORT_BOOT_MODE, "bios", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "uefi only"));
	assert_string_equal(get(fx, id).boot_mode, "");
	assert_int_equal(model_image_set_import_attr(fx->m, id, MODEL_IMPORT_BOOT_MODE, "uefi", &err), 0);
	/* Windows on aarch64, however it is said. */
	assert_int_equal(model_image_set_import_attr(fx->m, id, MODEL_IMPORT_OS_TYPE, "windows", &err), -EINVAL);
	assert_int_equal(model_image_set_import_attr(fx->m, id, MODEL_IMPORT_PLATFORM, "windows", &err), -EINVAL);
	assert_int_equal(model_image_set_import_attr(fx->m, id, MODEL_IMPORT_PLATFORM, "centos", &err), 0);
	assert_int_equal(model_image_set_import_attr(fx->m, id, MODEL_IMPORT_VERSION, "7.5", &err), -EINVAL);
	assert_int_equal(model_image_set_import_attr(fx->m, id, MODEL_IMPORT_VERSION, "7.6", &err), 0);
	/* Unsetting is a write like any other. */
	assert_int_equal(model_image_set_import_attr(fx->m, id, MODEL_IMPORT_VERSION, "", &err), 0);
	assert_string_equal(get(fx, id).version, "");
	/* features: one blank between words. */
	assert_int_equal(model_image_set_import_attr(fx->m, id, MODEL_IMPORT_FEATURES, " qemu-ga \t cloud-init ", &err),
	                 0);
	assert_string_equal(get(fx, id).features, "qemu-ga cloud-init");
	/* Too long for its column. */
	assert_int_equal(model_image_set_import_attr(fx->m, id, MODEL_IMPORT_OS_TYPE, "linuxlinuxlinuxlinux", &err),
	                 -EINVAL);
	/* Once past queued: EPERM. */
	ut_force_status(fx, id, MODEL_IMG_AVAILABLE);
	assert_int_equal(model_image_set_import_attr(fx->m, id, MODEL_IMPORT_ARCH, "x86_64", &err), -EPERM);
	assert_non_null(strstr(err.msg, "cannot change after upload"));
	ut_force_status(fx, id, MODEL_IMG_UPLOADING);
	assert_int_equal(model_image_set_import_attr(fx->m, id, MODEL_IMPORT_ARCH, "x86_64", &err), -EPERM);
	assert_string_equal(get(fx, id).arch, "aarch64");
	/* ISO images take them too; platform images never. */
	int64_t iso = queued_image(fx, MODEL_FOLDER_ISO, "installer");
	assert_int_equal(model_image_set_import_attr(fx->m, iso, MODEL_IMPORT_OS_TYPE, "linux", &err), 0);
	struct model_image pub;
	assert_int_equal(model_image_lookup(fx->m, fx->r1, 0, MODEL_FOLDER_PUBLIC, "centos-7.4", &pub), 0);
	assert_int_equal(model_image_set_import_attr(fx->m, pub.id, MODEL_IMPORT_OS_TYPE, "linux", &err), -EPERM);
	assert_int_equal(model_image_set_import_attr(fx->m, id, MODEL_IMPORT_INVALID, "x", &err), -EPERM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_centos_x86_64),
		cmocka_unit_test(test_centos_aarch64),
		cmocka_unit_test(test_ubuntu),
		cmocka_unit_test(test_windows),
		cmocka_unit_test(test_os_type_agrees),
		cmocka_unit_test(test_more_platforms),
		cmocka_unit_test(test_agreement_table),
		cmocka_unit_test(test_aarch64_uefi),
		cmocka_unit_test(test_values),
		cmocka_unit_test_setup_teardown(test_writes, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}
