/*
 * test_log.c — mirrors fs/fuse/log.c: what reaches a log line or an `error`
 * file (SPEC §9) is printable UTF-8, and errnos are named; the log file
 * (-o log=, §15) is reopened by fs_log_reopen after logrotate moved it, and
 * rotated by size unless log_max is 0.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "attr.h"
#include "common.h"
#include "fs.h"
#include "log.h"

static void expect_escaped(const char *in, const char *want)
{
	char out[256];
	size_t n = fs_escape(out, sizeof(out), in);
	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
}

static void test_printable_utf8_passes(void **state)
{
	(void)state;
	expect_escaped("mkdir private/img-1: EEXIST an image named x exists", "mkdir private/img-1: EEXIST an image named x exists");
	expect_escaped("中文镜像 — é ü 😀", "中文镜像 — é ü 😀");
	expect_escaped("", "");
}

static void test_controls_are_escaped(void **state)
{
	(void)state;
	/* A newline would start a forged line; ESC a terminal sequence. */
	expect_escaped("x\nFORGED line", "x\\x0aFORGED line");
	expect_escaped("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m");
	expect_escaped("a\rb\tc\x7f", "a\\x0db\\x09c\\x7f");
	/* The escape character itself is escaped, so \x0a typed by a caller
	 * cannot pass for an escaped newline. */
	expect_escaped("a\\x0ab", "a\\\\x0ab");
}

static void test_bad_utf8_and_invisible_code_points(void **state)
{
	(void)state;
	expect_escaped("\xff\xfe", "\\xff\\xfe");               /* never UTF-8 */
	expect_escaped("\xc3", "\\xc3");                        /* cut short */
	expect_escaped("\xc0\xaf", "\\xc0\\xaf");               /* overlong '/' */
	expect_escaped("\xe0\x80\xaf", "\\xe0\\x80\\xaf");      /* overlong, 3 bytes */
	expect_escaped("\xed\xa0\x80", "\\xed\\xa0\\x80");      /* a surrogate */
	expect_escaped("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"); /* above U+10FFFF */
	expect_escaped("\xc2\x85", "\\xc2\\x85");               /* NEL, a C1 control */
	expect_escaped("a\xe2\x80\xae" "cba", "a\\xe2\\x80\\xaecba"); /* RIGHT-TO-LEFT OVERRIDE */
	expect_escaped("\xe2\x80\xa8", "\\xe2\\x80\\xa8");      /* LINE SEPARATOR */
}

static void test_cut_at_a_whole_character(void **state)
{
	(void)state;
	char out[6];
	assert_int_equal(fs_escape(out, sizeof(out), "ab\n"), 2); /* "\x0a" does not fit after "ab" */
	assert_string_equal(out, "ab");
	assert_int_equal(fs_escape(out, sizeof(out), "abcd中"), 4);
	assert_string_equal(out, "abcd");
	assert_int_equal(fs_escape(out, 0, "x"), 0);
}

static void test_errno_names(void **state)
{
	(void)state;
	assert_string_equal(fs_errno_name(EMFILE), "EMFILE");
	assert_string_equal(fs_errno_name(-ENOSPC), "ENOSPC");
	assert_string_equal(fs_errno_name(EROFS), "EROFS");
	assert_string_equal(fs_errno_name(EDOM), "E33"); /* not listed: its number */
}

/* No reply carries ENOSYS: the kernel would stop sending the operation for
 * the whole mount (SPEC §12). */
static void test_reply_errno_never_enosys(void **state)
{
	(void)state;
	assert_int_equal(fs_reply_errno(ENOSYS), EPERM);
	assert_int_equal(fs_reply_errno(-ENOSYS), EPERM);
	assert_int_equal(fs_reply_errno(-EIO), EIO);
	assert_int_equal(fs_reply_errno(EDQUOT), EDQUOT);
	assert_int_equal(fs_reply_errno(0), 0);
}

/* ---- the log file ------------------------------------------------------- */

struct logdir {
	char dir[64];
	char path[128];
	struct fs_ctx ctx;
};

static int logdir_setup(void **state)
{
	struct logdir *d = calloc(1, sizeof(*d));
	assert_non_null(d);
	strcpy(d->dir, "/tmp/imgfs-ut-log-XXXXXX");
	assert_non_null(mkdtemp(d->dir));
	snprintf(d->path, sizeof(d->path), "%s/imgfs.log", d->dir);
	pthread_mutex_init(&d->ctx.log_lock, NULL);
	*state = d;
	return 0;
}

static int logdir_teardown(void **state)
{
	struct logdir *d = *state;
	char cmd[128];
	fs_log_close(&d->ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
	assert_int_equal(system(cmd), 0);
	free(d);
	return 0;
}

/* The whole file at path ("" when missing), in buf. */
static const char *slurp(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;
	if (f) {
		n = fread(buf, 1, size - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

static void test_reopen_after_a_move(void **state)
{
	struct logdir *d = *state;
	char moved[160], buf[4096];
	struct stat st;
	fs_log_reopen(); /* before any log is open: nothing to do, no crash */
	assert_int_equal(fs_log_open(&d->ctx, d->path), 0);
	int fd = d->ctx.log_fd;
	assert_int_equal(stat(d->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640); /* the log is not for everyone */
	fs_log(&d->ctx, "first %d", 1);
	/* logrotate's default: rename, (create,) then SIGHUP. */
	snprintf(moved, sizeof(moved), "%s.moved", d->path);
	assert_int_equal(rename(d->path, moved), 0);
	fs_log(&d->ctx, "into the moved file");
	errno = EINTR;
	fs_log_reopen();
	assert_int_equal(errno, EINTR); /* a signal handler keeps errno */
	fs_log(&d->ctx, "second\nFORGED");
	assert_int_equal(d->ctx.log_fd, fd); /* the same descriptor number */
	assert_non_null(strstr(slurp(moved, buf, sizeof(buf)), " imgfs: first 1\n"));
	assert_non_null(strstr(buf, " imgfs: into the moved file\n"));
	assert_null(strstr(buf, "second"));
	slurp(d->path, buf, sizeof(buf));
	assert_null(strstr(buf, "first"));
	assert_non_null(strstr(buf, " imgfs: second\\x0aFORGED\n"));
	assert_string_equal(strchr(buf, '\n') + 1, ""); /* one line */
	fs_log_close(&d->ctx);
	assert_int_equal(rename(d->path, moved), 0);
	fs_log_reopen(); /* after the close: nothing reopened or created */
	assert_int_equal(access(d->path, F_OK), -1);
}

static void test_rotation_by_size(void **state)
{
	struct logdir *d = *state;
	char p[160], buf[4096];
	d->ctx.log_max = 100;
	assert_int_equal(fs_log_open(&d->ctx, d->path), 0);
	for (int i = 0; i < 20; i++)
		fs_log(&d->ctx, "line %02d of about fifty bytes", i);
	for (int i = 1; i <= FS_LOG_KEEP; i++) {
		snprintf(p, sizeof(p), "%s.%d", d->path, i);
		assert_int_equal(access(p, F_OK), 0);
	}
	snprintf(p, sizeof(p), "%s.%d", d->path, FS_LOG_KEEP + 1);
	assert_int_equal(access(p, F_OK), -1);
	/* The newest lines, whole and in order, in imgfs.log.3 ... imgfs.log;
	 * no file much past log_max (a line may end past it). */
	char all[4 * 4096] = "";
	for (int i = FS_LOG_KEEP; i >= 0; i--) {
		if (i)
			snprintf(p, sizeof(p), "%s.%d", d->path, i);
		else
			snprintf(p, sizeof(p), "%s", d->path);
		slurp(p, buf, sizeof(buf));
		assert_true(strlen(buf) < 100 + 64);
		assert_true(!buf[0] || buf[strlen(buf) - 1] == '\n');
		strcat(all, buf);
	}
	const char *at = all;
	for (int i = 14; i < 20; i++) {
		char want[64];
		snprintf(want, sizeof(want), " imgfs: line %02d of about fifty bytes\n", i);
		assert_non_null(at = strstr(at, want));
	}
	assert_null(strstr(all, "line 05"));
}

static void test_log_max_0_never_rotates(void **state)
{
	struct logdir *d = *state;
	char p[160];
	struct stat st;
	d->ctx.log_max = 0; /* logrotate does it */
	assert_int_equal(fs_log_open(&d->ctx, d->path), 0);
	for (int i = 0; i < 50; i++)
		fs_log(&d->ctx, "line %02d of about fifty bytes", i);
	snprintf(p, sizeof(p), "%s.1", d->path);
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(stat(d->path, &st), 0);
	assert_true(st.st_size > 50 * 40);
}

static void test_open_failures(void **state)
{
	struct logdir *d = *state;
	char p[160];
	snprintf(p, sizeof(p), "%s/missing/imgfs.log", d->dir);
	assert_int_equal(fs_log_open(&d->ctx, p), -ENOENT);
	assert_null(d->ctx.log);
	fs_log(&d->ctx, "nowhere to go, and no crash");
	assert_int_equal(fs_log_open(&d->ctx, "syslog"), 0);
	assert_true(d->ctx.log_syslog);
	assert_null(d->ctx.log);
	fs_log_reopen(); /* syslog: nothing to reopen */
}

/* ---- the refusals' room: each mount's own (rooms.h) ----------------------- */

/* What /errors shows (account, uid) in ctx, in buf; "" when nothing. */
static const char *errors_of(struct fs_ctx *ctx, int64_t account, uid_t uid, char *buf, size_t size)
{
	struct fs_buf b = {0};
	struct fs_caller c = {.account_id = account, .uid = uid};
	fs_show_errors(ctx, &c, &b);
	snprintf(buf, size, "%.*s", (int)b.len, b.p ? b.p : "");
	fs_buf_release(&b);
	return buf;
}

/* A refusal of (account, uid) in ctx, as a request's thread makes it. */
static void refuse_as(struct fs_ctx *ctx, int64_t account, uid_t uid, const char *op, const char *reason)
{
	fs_log_set_caller(uid);
	fs_log_set_account(account, uid);
	fs_refuse(ctx, op, "/regions/r1/private/x", -EEXIST, reason, 0);
	fs_log_set_caller(-1);
}

/* Two mounts of one process keep their callers' lines apart, and each
 * keeps FS_ERR_CALLERS callers: at the limit the oldest caller of a mount
 * stays, one past it goes, and the other mount's caller stays throughout
 * (when the rings were the process's, B's callers evicted A's). */
static void test_errors_are_each_mounts(void **state)
{
	(void)state;
	struct fs_ctx a = {0}, b = {0};
	char buf[4096], why[64];
	pthread_mutex_init(&a.log_lock, NULL);
	pthread_mutex_init(&b.log_lock, NULL);
	assert_int_equal(fs_refusals_new(&a.refusals), 0);
	assert_int_equal(fs_refusals_new(&b.refusals), 0);
	refuse_as(&a, 5, 1000, "mkdir", "refused in A");
	refuse_as(&b, 5, 1000, "mkdir", "refused in B");
	assert_non_null(strstr(errors_of(&a, 5, 1000, buf, sizeof(buf)), "refused in A"));
	assert_null(strstr(buf, "refused in B"));
	assert_non_null(strstr(errors_of(&b, 5, 1000, buf, sizeof(buf)), "refused in B"));
	assert_null(strstr(buf, "refused in A"));
	/* B fills its table: FS_ERR_CALLERS - 1 more callers, at the limit. */
	for (int i = 1; i < FS_ERR_CALLERS; i++) {
		snprintf(why, sizeof(why), "caller %d", i);
		refuse_as(&b, 100 + i, 2000 + (uid_t)i, "mkdir", why);
	}
	assert_non_null(strstr(errors_of(&b, 5, 1000, buf, sizeof(buf)), "refused in B"));
	assert_non_null(strstr(errors_of(&b, 101, 2001, buf, sizeof(buf)), "caller 1"));
	/* One past: B's oldest caller gives its place; A's caller stays. */
	refuse_as(&b, 99, 1999, "mkdir", "one past");
	assert_string_equal(errors_of(&b, 5, 1000, buf, sizeof(buf)), "");
	assert_non_null(strstr(errors_of(&b, 99, 1999, buf, sizeof(buf)), "one past"));
	assert_non_null(strstr(errors_of(&b, 101, 2001, buf, sizeof(buf)), "caller 1"));
	assert_non_null(strstr(errors_of(&a, 5, 1000, buf, sizeof(buf)), "refused in A"));
	/* A context without the room keeps nothing, and shows nothing. */
	struct fs_ctx bare = {0};
	pthread_mutex_init(&bare.log_lock, NULL);
	refuse_as(&bare, 5, 1000, "mkdir", "refused bare");
	assert_string_equal(errors_of(&bare, 5, 1000, buf, sizeof(buf)), "");
	fs_refusals_free(a.refusals);
	fs_refusals_free(b.refusals);
}

/* Lines of "mkdir" in the file at path. */
static int lines_of(const char *path, char *buf, size_t size)
{
	int n = 0;
	slurp(path, buf, size);
	for (const char *p = buf; (p = strstr(p, " mkdir ")); p++)
		n++;
	return n;
}

/* The log's rate limit is each mount's: a caller's burst of refusals in one
 * mount (LOG_BURST, 20 lines, then one a second) leaves the same caller's
 * first refusal in another mount logged. */
static void test_rate_limit_is_each_mounts(void **state)
{
	struct logdir *d = *state;
	struct fs_ctx b = {0};
	char pb[160], buf[8192];
	static const char op[] = "mkdir"; /* one address: the slots compare it */
	pthread_mutex_init(&b.log_lock, NULL);
	assert_int_equal(fs_refusals_new(&d->ctx.refusals), 0);
	assert_int_equal(fs_refusals_new(&b.refusals), 0);
	snprintf(pb, sizeof(pb), "%s/b.log", d->dir);
	assert_int_equal(fs_log_open(&d->ctx, d->path), 0);
	assert_int_equal(fs_log_open(&b, pb), 0);
	for (int i = 0; i < 20; i++)
		refuse_as(&d->ctx, 5, 1000, op, "burst");
	assert_int_equal(lines_of(d->path, buf, sizeof(buf)), 20); /* the burst, at its limit */
	refuse_as(&d->ctx, 5, 1000, op, "burst");
	assert_int_equal(lines_of(d->path, buf, sizeof(buf)), 20); /* one past: held */
	refuse_as(&b, 5, 1000, op, "in B");
	assert_int_equal(lines_of(pb, buf, sizeof(buf)), 1);
	assert_non_null(strstr(buf, "in B"));
	fs_log_close(&b);
	fs_refusals_free(b.refusals);
	/* A context without the room (a unit test's) has no rate limit. */
	struct fs_ctx bare = {0};
	pthread_mutex_init(&bare.log_lock, NULL);
	snprintf(pb, sizeof(pb), "%s/bare.log", d->dir);
	assert_int_equal(fs_log_open(&bare, pb), 0);
	for (int i = 0; i < 21; i++)
		refuse_as(&bare, 5, 1000, op, "bare");
	assert_int_equal(lines_of(pb, buf, sizeof(buf)), 21);
	fs_log_close(&bare);
	fs_refusals_free(d->ctx.refusals);
	d->ctx.refusals = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_printable_utf8_passes),
		cmocka_unit_test(test_controls_are_escaped),
		cmocka_unit_test(test_bad_utf8_and_invisible_code_points),
		cmocka_unit_test(test_cut_at_a_whole_character),
		cmocka_unit_test(test_errno_names),
		cmocka_unit_test(test_reply_errno_never_enosys),
		cmocka_unit_test_setup_teardown(test_reopen_after_a_move, logdir_setup, logdir_teardown),
		cmocka_unit_test_setup_teardown(test_rotation_by_size, logdir_setup, logdir_teardown),
		cmocka_unit_test_setup_teardown(test_log_max_0_never_rotates, logdir_setup, logdir_teardown),
		cmocka_unit_test_setup_teardown(test_open_failures, logdir_setup, logdir_teardown),
		cmocka_unit_test(test_errors_are_each_mounts),
		cmocka_unit_test_setup_teardown(test_rate_limit_is_each_mounts, logdir_setup, logdir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
