/*
 * test_rooms.c — mirrors fs/fuse/rooms.c: the mount's state lives in the
 * mount (issue 48 step 2, docs/style.md).  Two contexts made in one
 * process share nothing: files/'s room (inside.c, inside_helper.c) keeps
 * its own helpers, spare and counters, and /stats reads them from the
 * room; freeing a room stops and joins its spare's thread and reaps every
 * helper, so a process that lives on after an unmount keeps no thread and
 * no child of it (SPEC §18).  The spare helpers are real processes: the
 * build's imgfs-inside-helper, found beside this test's binary.  The open
 * disks (disk.c, ctx->disks) are one mount's too: an instance's disk open
 * in one context is not open in another over the same state.
 */
#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "attr.h"
#include "buf.h"
#include "dirs.h"
#include "disk.h"
#include "fs.h"
#include "inside_int.h"
#include "model/lifecycle_test.h"
#include "node_test.h"
#include "rooms.h"

static struct fs_ctx *ctx_new(void)
{
	struct fs_ctx *ctx = calloc(1, sizeof(*ctx));
	assert_non_null(ctx);
	assert_int_equal(fs_rooms_new(ctx), 0);
	assert_non_null(ctx->inside);
	/* Not a skip: without the helper's program nothing here is tried. */
	if (!ctx->inside->helper_exe[0])
		fail_msg("imgfs-inside-helper is not beside this test's binary: build the whole tree");
	return ctx;
}

static void ctx_free(struct fs_ctx *ctx)
{
	fs_rooms_free(ctx);
	assert_null(ctx->inside);
	free(ctx);
}

/* The threads of this process (/proc/self/task). */
static int threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* This process has no child left, running or a zombie. */
static void assert_no_child(void)
{
	errno = 0;
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static pid_t spare_pid(struct fs_inside *in)
{
	IMGFS_LOCK(&in->table_lock, ins_table_lock);
	pid_t pid = in->spare.pid;
	IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
	return pid;
}

/* Waits (10 s at most) for in's spare thread to have started a spare. */
static pid_t wait_spare(struct fs_inside *in)
{
	for (int i = 0; i < 1000; i++) {
		pid_t pid = spare_pid(in);
		if (pid > 0)
			return pid;
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	}
	fail_msg("no spare helper started within 10 s");
	return 0;
}

static void assert_stat(struct fs_ctx *ctx, const char *line)
{
	struct fs_buf b = {0};
	fs_inside_stats(ctx, &b);
	assert_false(b.failed);
	if (!strstr(b.p, line))
		fail_msg("/stats lacks \"%s\" in:\n%s", line, b.p);
	fs_buf_release(&b);
}

/* Two rooms in one process: a spare started in one is that room's (its
 * count, its gauge, its /stats), never the other's; freeing one reaps its
 * spare and leaves the other's running. */
static void test_inside_rooms_independent(void **state)
{
	(void)state;
	assert_no_child();
	struct fs_ctx *a = ctx_new(), *b = ctx_new();
	assert_ptr_not_equal(a->inside, b->inside);

	fs_inside_spare_fill(a);
	pid_t pa = spare_pid(a->inside);
	assert_true(pa > 0);
	assert_int_equal(a->inside->n_starts, 1);
	assert_int_equal(a->inside->helpers_running, 1);
	assert_int_equal(a->inside->helpers_peak, 1);
	assert_int_equal(b->inside->n_starts, 0);
	assert_int_equal(b->inside->helpers_running, 0);
	assert_int_equal(b->inside->helpers_peak, 0);
	assert_int_equal(spare_pid(b->inside), 0);
	assert_stat(a, "\nimgfs_inside_helper_starts_total 1\n");
	assert_stat(a, "\nimgfs_inside_helpers 1\n");
	assert_stat(b, "\nimgfs_inside_helper_starts_total 0\n");
	assert_stat(b, "\nimgfs_inside_helpers 0\n");

	/* A second fill of a room that has its spare starts nothing. */
	fs_inside_spare_fill(a);
	assert_int_equal(spare_pid(a->inside), pa);
	assert_int_equal(a->inside->n_starts, 1);

	fs_inside_spare_fill(b);
	pid_t pb = spare_pid(b->inside);
	assert_true(pb > 0 && pb != pa);
	assert_int_equal(a->inside->n_starts, 1);
	assert_int_equal(b->inside->n_starts, 1);

	ctx_free(a);
	/* a's spare is reaped (no zombie: waitpid finds no such child), b's
	 * runs on, still b's. */
	errno = 0;
	assert_int_equal(waitpid(pa, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	assert_int_equal(waitpid(pb, NULL, WNOHANG), 0);
	assert_int_equal(spare_pid(b->inside), pb);
	assert_stat(b, "\nimgfs_inside_helpers 1\n");
	ctx_free(b);
	assert_no_child();
}

/* The spare's thread starts at the first request for a spare (in that
 * room only) and is stopped and joined when the room is freed, its spare
 * reaped: the process keeps no thread and no child of the mount. */
static void test_inside_free_leaves_no_thread_nor_child(void **state)
{
	(void)state;
	assert_no_child();
	struct fs_ctx *a = ctx_new(), *b = ctx_new();
	int before = threads();
	assert_false(a->inside->spare_thread); /* none until asked */

	ins_spare_request(a->inside);
	assert_true(a->inside->spare_thread);
	assert_false(b->inside->spare_thread);
	pid_t pa = wait_spare(a->inside);
	assert_int_equal(threads(), before + 1);
	assert_int_equal(spare_pid(b->inside), 0);
	assert_int_equal(b->inside->n_starts, 0);

	/* Asked again while its spare waits: the same spare, the same thread. */
	ins_spare_request(a->inside);
	nanosleep(&(struct timespec){0, 50000000}, NULL);
	assert_int_equal(spare_pid(a->inside), pa);
	assert_int_equal(a->inside->n_starts, 1);
	assert_int_equal(threads(), before + 1);

	ctx_free(a);
	assert_int_equal(threads(), before);
	assert_no_child();
	ctx_free(b);
	assert_int_equal(threads(), before);
}

/* The stack of in's spare thread (running). */
static void *spare_stack(struct fs_inside *in)
{
	pthread_attr_t attr;
	void *addr = NULL;
	size_t size = 0;
	assert_int_equal(pthread_getattr_np(in->spare_tid, &attr), 0);
	assert_int_equal(pthread_attr_getstack(&attr, &addr, &size), 0);
	pthread_attr_destroy(&attr);
	return addr;
}

/* Stopped is not enough: the thread is joined.  A thread that ended and
 * was never joined leaves no entry in /proc/self/task but keeps its stack
 * (glibc gives a joinable thread's stack back at the join), so the next
 * room's spare thread, of the same stack size, gets the first one's stack
 * only if the first was joined. */
static void test_inside_spare_thread_joined(void **state)
{
	(void)state;
	struct fs_ctx *a = ctx_new();
	ins_spare_request(a->inside);
	wait_spare(a->inside);
	void *first = spare_stack(a->inside);
	ctx_free(a);

	struct fs_ctx *b = ctx_new();
	ins_spare_request(b->inside);
	wait_spare(b->inside);
	assert_ptr_equal(spare_stack(b->inside), first);
	ctx_free(b);
	assert_no_child();
}

/* At most INS_MAX_HELPERS run at once, the spare included: a spare is
 * started with one place left, and not with none. */
static void test_inside_spare_within_the_bound(void **state)
{
	(void)state;
	struct fs_ctx *a = ctx_new();
	struct fs_inside *in = a->inside;

	in->helpers_running = INS_MAX_HELPERS; /* (as if that many volumes had one) */
	fs_inside_spare_fill(a);
	assert_int_equal(spare_pid(in), 0);
	assert_int_equal(in->n_starts, 0);
	assert_int_equal(in->helpers_running, INS_MAX_HELPERS);

	in->helpers_running = INS_MAX_HELPERS - 1;
	fs_inside_spare_fill(a);
	assert_true(spare_pid(in) > 0);
	assert_int_equal(in->n_starts, 1);
	assert_int_equal(in->helpers_running, INS_MAX_HELPERS);
	assert_int_equal(in->helpers_peak, INS_MAX_HELPERS);

	in->helpers_running -= INS_MAX_HELPERS - 1; /* the spare's place only */
	ctx_free(a);
	assert_no_child();
}

/* A room freed before anything ran in it, and NULL. */
static void test_inside_free_unused(void **state)
{
	(void)state;
	int before = threads();
	ctx_free(ctx_new());
	fs_inside_free(NULL);
	assert_int_equal(threads(), before);
}

/* Two mounts a and b over one state, where alice's instance vm1 has a
 * data disk vdb, whose node through a is n. */
struct two_mounts {
	struct ut_fx *fx;
	struct fs_ctx *a, *b;
	int64_t vm;
	struct fs_node n;
};

static void two_mounts_up(struct two_mounts *t)
{
	struct model_err err = {0};
	assert_int_equal(ut_setup((void **)&t->fx), 0);
	int64_t alice = ut_account(t->fx, "alice");
	t->vm = lt_instance(t->fx, t->fx->r1, alice, "vm1");
	assert_int_equal(model_instance_disk_attach(t->fx->m, t->vm, 1, &err), 0);
	struct fs_caller caller = ut_caller(alice);
	t->a = ctx_new();
	t->b = ctx_new();
	t->a->m = t->b->m = t->fx->m;
	ut_node(t->a, &caller, "/regions/cn-north-1/instances/vm1/disks/vdb", &t->n);
	assert_true(fs_node_is_vm_disk(&t->n));
}

static void two_mounts_down(struct two_mounts *t)
{
	t->a->m = t->b->m = NULL;
	ctx_free(t->a);
	ctx_free(t->b);
	ut_teardown((void **)&t->fx);
}

/* Two mounts over one state: an instance's disk open for writing in one
 * is open and written there only, and each mount's close is its own. */
static void test_disks_rooms_independent(void **state)
{
	(void)state;
	struct two_mounts t;
	struct model_err err = {0};
	struct fs_disk *da = NULL, *db = NULL;
	two_mounts_up(&t);
	struct fs_ctx *a = t.a, *b = t.b;
	struct fs_node n = t.n;
	int64_t vm = t.vm;

	assert_int_equal(fs_disk_open(a, &n, true, &da, &err), 0);
	assert_true(fs_disk_vm_open(a, vm));
	assert_true(fs_disk_vm_writing(a, vm));
	assert_false(fs_disk_vm_open(b, vm));
	assert_false(fs_disk_vm_writing(b, vm));

	/* b opens it to read: its own entry, not a's (a's writer stays a's). */
	assert_int_equal(fs_disk_open(b, &n, false, &db, &err), 0);
	assert_ptr_not_equal(da, db);
	assert_true(fs_disk_vm_open(b, vm));
	assert_false(fs_disk_vm_writing(b, vm));
	fs_disk_close(a, da, true);
	assert_false(fs_disk_vm_open(a, vm));
	assert_true(fs_disk_vm_open(b, vm));
	fs_disk_close(b, db, false);
	assert_false(fs_disk_vm_open(b, vm));
	two_mounts_down(&t);
}

/* What a getattr of an open instance disk answers while the database
 * does not (fs_disk_attr_open, SPEC §13): the attributes fs_node_stat
 * gives, its size and stored bytes the open disk's now; only for the
 * inode open, in the mount that opened it, while open, and under
 * multiuser for its opener's uid and root only. */
static void test_disk_attr_open(void **state)
{
	(void)state;
	struct two_mounts t;
	struct model_err err = {0};
	struct fs_disk *d = NULL;
	struct stat kept, st, want;
	two_mounts_up(&t);
	struct fs_ctx *a = t.a, *b = t.b;
	struct fs_node n = t.n;
	a->multiuser = true;
	fuse_ino_t ino = fs_node_nodeid(&n);
	uid_t uid = n.caller.uid;

	assert_int_equal(fs_disk_attr_open(a, ino, uid, &st), -EIO); /* not open */
	assert_int_equal(fs_disk_open(a, &n, true, &d, &err), 0);
	fs_node_disk_attr(&n, 0, 0, n.vmdisk.mtime_ns, &kept);
	fs_disk_keep_attr(a, d, ino, &kept, n.vmdisk.mtime_ns);
	fs_disk_keep_attr(a, d, ino + 7, &kept, n.vmdisk.mtime_ns); /* a second open's: the first's stay */
	assert_int_equal(fs_disk_truncate(d, 3 << 20), 0);
	char blk[4096];
	memset(blk, 0x5a, sizeof blk);
	assert_int_equal(fs_disk_pwrite(d, blk, sizeof blk, 1 << 20, true, NULL, NULL), (ssize_t)sizeof blk);
	assert_int_equal(fs_node_stat(a, &n, &want), 0);
	assert_int_equal(fs_disk_attr_open(a, ino, uid, &st), 0);
	assert_int_equal(st.st_size, 3 << 20);
	assert_int_equal(st.st_size, want.st_size);
	assert_int_equal(st.st_blocks, want.st_blocks);
	assert_true(st.st_blocks >= 8);
	assert_int_equal(st.st_ino, want.st_ino);
	assert_int_equal(st.st_mode, want.st_mode);
	assert_int_equal(st.st_uid, want.st_uid);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(fs_disk_attr_open(a, ino, 0, &st), 0); /* root */
	assert_int_equal(fs_disk_attr_open(a, ino, uid + 1, &st), -EIO); /* another caller: nothing of it */
	assert_int_equal(fs_disk_attr_open(a, ino + 1, uid, &st), -EIO);
	assert_int_equal(fs_disk_attr_open(a, ino + 7, uid, &st), -EIO);
	assert_int_equal(fs_disk_attr_open(b, ino, uid, &st), -EIO);     /* another mount's */
	a->multiuser = false;
	assert_int_equal(fs_disk_attr_open(a, ino, uid + 1, &st), 0);    /* one user's mount */
	fs_disk_close(a, d, true);
	assert_int_equal(fs_disk_attr_open(a, ino, uid, &st), -EIO);     /* closed */
	two_mounts_down(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inside_rooms_independent),
		cmocka_unit_test(test_inside_free_leaves_no_thread_nor_child),
		cmocka_unit_test(test_inside_spare_thread_joined),
		cmocka_unit_test(test_inside_spare_within_the_bound),
		cmocka_unit_test(test_inside_free_unused),
		cmocka_unit_test(test_disks_rooms_independent),
		cmocka_unit_test(test_disk_attr_open),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
