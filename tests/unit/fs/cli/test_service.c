/*
 * test_service.c — mirrors fs/cli/service.c: the mount point checks made
 * before anything is created (missing, not a directory, already mounted,
 * each with a one-line reason), and what a failed mount removes (the
 * top-most directory it created, with all below), and the arguments that
 * could hurt (SPEC §12: a state directory as the mount point, one that
 * overlaps the state directory, a non-empty one).  The kernel side
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

#include "cli.h"

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

/* Arguments that could hurt (SPEC §12): each refusal with its form, and
 * what passes.  dir/st is a state (imgfs.db), dir/mnt an empty directory,
 * dir/full one with a file, dir/st2 a state without imgfs.db (a cluster
 * host's: imgfs.log only). */
static void make(const char *rel, bool file)
{
	char p[PATH_MAX];
	path_in(p, sizeof(p), rel);
	if (file) {
		FILE *f = fopen(p, "w");
		assert_non_null(f);
		fclose(f);
	} else {
		assert_int_equal(mkdir(p, 0755), 0);
	}
}

static int check(const char *mnt_rel, const char *state, const char *source, bool state_named, bool nonempty,
                 char *why, size_t cap)
{
	char mnt[PATH_MAX], real[PATH_MAX];
	path_in(mnt, sizeof(mnt), mnt_rel);
	assert_int_equal(fs_service_check_mountpoint(mnt, real, sizeof(real), why, cap), 0);
	struct fs_mount_args a = {.mountpoint = real, .state = state, .source = source,
	                          .source_is_url = source && strncmp(source, "postgresql://", 13) == 0,
	                          .state_named = state_named, .nonempty = nonempty};
	why[0] = '\0';
	int rc = fs_service_check_args(&a, why, cap);
	assert_null(strchr(why, '\n'));
	return rc;
}

static void test_arguments_that_could_hurt(void **state)
{
	(void)state;
	char st[PATH_MAX], st2[PATH_MAX], mnt[PATH_MAX], other[PATH_MAX], want[PATH_MAX * 5], why[PATH_MAX * 5];
	make("st", false);
	make("st/imgfs.db", true);
	make("st/regions", false);
	make("st2", false);
	make("st2/imgfs.log", true);
	make("mnt", false);
	make("full", false);
	make("full/x", true);
	make("c", false);
	path_in(st, sizeof(st), "st");
	path_in(st2, sizeof(st2), "st2");
	path_in(mnt, sizeof(mnt), "mnt");
	path_in(other, sizeof(other), "other-state");

	/* imgfs STATE: the mount point forgotten, with the state's default. */
	assert_int_equal(check("st", "/nonexistent/default", NULL, false, false, why, sizeof(why)), -EINVAL);
	snprintf(want, sizeof(want), "%s is an imgfs state directory, not a mount point: imgfs [-o OPTIONS] %s MOUNTPOINT",
	         st, st);
	assert_string_equal(why, want);
	/* A cluster host's state directory (no imgfs.db) counts too. */
	assert_int_equal(check("st2", "/nonexistent/default", NULL, false, false, why, sizeof(why)), -EINVAL);
	/* imgfs MNT STATE: swapped. */
	assert_int_equal(check("st", mnt, mnt, false, false, why, sizeof(why)), -EINVAL);
	snprintf(want, sizeof(want), "the mount point %s is an imgfs state directory and the source %s is not: "
	         "swapped? imgfs [-o OPTIONS] %s %s", st, mnt, st, mnt);
	assert_string_equal(why, want);
	/* Both states, or -o state= and a state as the mount point. */
	assert_int_equal(check("st", st2, st2, false, false, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "mount on an empty directory, imgfs [-o OPTIONS] "));
	assert_int_equal(check("st2", other, NULL, true, false, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "imgfs [-o OPTIONS] STATE MOUNTPOINT"));
	/* A PostgreSQL source is never printed (it may hold a password). */
	assert_int_equal(check("st", other, "postgresql://u:pw@h/db", false, false, why, sizeof(why)), -EINVAL);
	assert_null(strstr(why, "pw"));
	assert_non_null(strstr(why, "SOURCE MOUNTPOINT"));
	/* -o nonempty does not make any of those acceptable. */
	assert_int_equal(check("st", mnt, mnt, false, true, why, sizeof(why)), -EINVAL);

	/* The state directory itself (new, empty), inside it, around it. */
	assert_int_equal(check("mnt", mnt, mnt, false, false, why, sizeof(why)), -EINVAL);
	snprintf(want, sizeof(want), "the mount point %s is the state directory %s, which the mount would hide: "
	         "imgfs [-o OPTIONS] %s MOUNTPOINT, with a mount point outside it", mnt, mnt, mnt);
	assert_string_equal(why, want);
	char inside[PATH_MAX], around[PATH_MAX];
	assert_int_equal(check("st/regions", st, NULL, true, false, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "lies inside the state directory"));
	/* A state not made yet, named relatively and with "..": resolved. */
	path_in(around, sizeof(around), "c/new/../new/./state");
	assert_int_equal(check("c", around, around, false, false, why, sizeof(why)), -EINVAL);
	path_in(inside, sizeof(inside), "c/new/state");
	snprintf(want, sizeof(want), "contains the state directory %s,", inside);
	assert_non_null(strstr(why, want));
	char cwd[PATH_MAX];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(check("c", "c/deep/s", "c/deep/s", false, false, why, sizeof(why)), -EINVAL);
	assert_int_equal(check("c", "./x/../c/s", NULL, true, false, why, sizeof(why)), -EINVAL);
	assert_int_equal(check("c", "cc/s", "cc/s", false, false, why, sizeof(why)), 0); /* c is no prefix of cc */
	assert_int_equal(chdir(cwd), 0);

	/* Not empty: refused unless -o nonempty. */
	assert_int_equal(check("full", other, other, false, false, why, sizeof(why)), -ENOTEMPTY);
	assert_non_null(strstr(why, "-o nonempty"));
	assert_int_equal(check("full", other, other, false, true, why, sizeof(why)), 0);
	/* The usual: an empty mount point, a state elsewhere. */
	assert_int_equal(check("mnt", st, st, false, false, why, sizeof(why)), 0);
	assert_int_equal(check("mnt", other, NULL, false, false, why, sizeof(why)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_missing_file_and_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_mount_point_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_top_and_remove_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arguments_that_could_hurt, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
