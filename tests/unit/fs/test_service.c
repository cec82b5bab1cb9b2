/*
 * test_service.c — mirrors fs/service.c: the mount point checks made
 * before anything is created (missing, not a directory, already mounted,
 * each with a one-line reason), and what a failed mount removes (the
 * top-most directory it created, with all below).  The kernel side
 * (readiness, signals, dead mounts) is tests/integration/test_service.sh.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fs.h"

static char dir[PATH_MAX / 2]; /* room for a name below it in PATH_MAX */

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s/imgfs-test-service.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	fs_service_remove_tree(dir);
	return 0;
}

static void path_in(char *out, size_t cap, const char *rel)
{
	assert_true((size_t)snprintf(out, cap, "%s/%s", dir, rel) < cap);
}

static void test_missing_file_and_directory(void **state)
{
	(void)state;
	char p[PATH_MAX], real[PATH_MAX], why[PATH_MAX * 2];
	path_in(p, sizeof(p), "nope");
	assert_int_equal(fs_service_check_mountpoint(p, real, sizeof(real), why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, "does not exist"));
	assert_null(strchr(why, '\n'));

	path_in(p, sizeof(p), "file");
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(fs_service_check_mountpoint(p, real, sizeof(real), why, sizeof(why)), -ENOTDIR);
	assert_non_null(strstr(why, "is not a directory"));

	/* A directory, named through a symlink: accepted, resolved. */
	char d[PATH_MAX], link[PATH_MAX], want[PATH_MAX];
	path_in(d, sizeof(d), "mnt");
	assert_int_equal(mkdir(d, 0755), 0);
	path_in(link, sizeof(link), "link");
	assert_int_equal(symlink(d, link), 0);
	assert_int_equal(fs_service_check_mountpoint(link, real, sizeof(real), why, sizeof(why)), 0);
	assert_non_null(realpath(d, want));
	assert_string_equal(real, want);
}

static void test_a_mount_point_is_refused(void **state)
{
	(void)state;
	char real[PATH_MAX], why[PATH_MAX * 2];
	/* /proc is a mount point on every Linux machine these tests run on. */
	assert_int_equal(fs_service_check_mountpoint("/proc", real, sizeof(real), why, sizeof(why)), -EBUSY);
	assert_non_null(strstr(why, "is already mounted (proc)"));
	assert_null(strchr(why, '\n'));
}

static void test_missing_top_and_remove_tree(void **state)
{
	(void)state;
	char p[PATH_MAX], top[PATH_MAX], want[PATH_MAX];
	path_in(p, sizeof(p), "a/b/c");
	assert_int_equal(fs_service_missing_top(p, top, sizeof(top)), 0);
	path_in(want, sizeof(want), "a");
	assert_string_equal(top, want);

	/* What a mount would create there, then remove on failure. */
	path_in(p, sizeof(p), "a");
	assert_int_equal(mkdir(p, 0755), 0);
	path_in(p, sizeof(p), "a/b");
	assert_int_equal(mkdir(p, 0755), 0);
	path_in(p, sizeof(p), "a/b/imgfs.db");
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fclose(f);
	path_in(p, sizeof(p), "a/b");
	assert_int_equal(fs_service_missing_top(p, top, sizeof(top)), 0);
	assert_string_equal(top, ""); /* exists: nothing to remove */

	fs_service_remove_tree(want);
	struct stat st;
	assert_int_equal(lstat(want, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(lstat(dir, &st), 0); /* only what was named */
	fs_service_remove_tree("");           /* nothing */
	fs_service_remove_tree(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_missing_file_and_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_mount_point_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_top_and_remove_tree, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
