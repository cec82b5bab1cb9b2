/*
 * backend/rados_lib.c — librados opened at the first rados: store
 * (rados_lib.h says why).  Once per process; never closed: its threads
 * and its atexit handlers outlive any one store.
 *
 * For tests (blob_rados_test_handles): the handles librados gives the
 * backend (a client, a pool's handle, a read or write operation, a
 * completion), counted until given back, by shims put into the table in
 * front of librados's own once a test asks; nothing is counted before.
 */
#include <errno.h>

#include "blob_rados_test.h"

#ifdef IMGFS_HAVE_RADOS

#define RADOS_LIB_IMPL
#include "rados_lib.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct blob_rados_lib blob_rados_lib;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static char load_error[256]; /* empty: loaded */

/* dlsym's void * into a function pointer, the way POSIX allows (C does
 * not convert between the two). */
static int slot_set(void *slot, void *h, const char *name)
{
	void *sym = dlsym(h, name);

	if (!sym)
		return -1;
	memcpy(slot, &sym, sizeof sym);
	return 0;
}

static void load(void)
{
	const char *e;
	void *h = dlopen(RADOS_LIB_SONAME, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		e = dlerror();
		snprintf(load_error, sizeof load_error, "cannot load librados (install librados2): %s",
		         e ? e : RADOS_LIB_SONAME);
		return;
	}
#define RADOS_LIB_LOOKUP(f)                                                                                    \
	_Static_assert(sizeof blob_rados_lib.f == sizeof(void *), "a function pointer is a pointer here");     \
	if (slot_set(&blob_rados_lib.f, h, #f) < 0) {                                                          \
		snprintf(load_error, sizeof load_error, "%s has no %s: a librados too old for imgfs",          \
		         RADOS_LIB_SONAME, #f);                                                                \
		memset(&blob_rados_lib, 0, sizeof blob_rados_lib);                                             \
		dlclose(h);                                                                                    \
		return;                                                                                        \
	}
	RADOS_LIB_FUNCS(RADOS_LIB_LOOKUP)
#undef RADOS_LIB_LOOKUP
}

int blob_rados_lib_load(char *why, size_t cap)
{
	pthread_once(&load_once, load);
	if (load_error[0] == '\0')
		return 0;
	if (why && cap)
		snprintf(why, cap, "%s", load_error);
	return -EPROTONOSUPPORT;
}

/* ---- for tests: the handles not given back ------------------------------ */

static struct blob_rados_lib real;           /* librados's own, once the shims are in */
static atomic_long live[BLOB_RADOS_HANDLE_KINDS]; /* given, not given back, by kind */
static pthread_once_t shims_once = PTHREAD_ONCE_INIT;

static int shim_create(rados_t *cluster, const char *id)
{
	int rc = real.rados_create(cluster, id);

	if (rc == 0)
		atomic_fetch_add(&live[BLOB_RADOS_CLIENTS], 1);
	return rc;
}

static void shim_shutdown(rados_t cluster)
{
	if (cluster != NULL)
		atomic_fetch_sub(&live[BLOB_RADOS_CLIENTS], 1);
	real.rados_shutdown(cluster);
}

static int shim_ioctx_create(rados_t cluster, const char *pool, rados_ioctx_t *io)
{
	int rc = real.rados_ioctx_create(cluster, pool, io);

	if (rc == 0)
		atomic_fetch_add(&live[BLOB_RADOS_IOCTXS], 1);
	return rc;
}

static void shim_ioctx_destroy(rados_ioctx_t io)
{
	if (io != NULL)
		atomic_fetch_sub(&live[BLOB_RADOS_IOCTXS], 1);
	real.rados_ioctx_destroy(io);
}

static rados_read_op_t shim_create_read_op(void)
{
	rados_read_op_t op = real.rados_create_read_op();

	if (op != NULL)
		atomic_fetch_add(&live[BLOB_RADOS_READ_OPS], 1);
	return op;
}

static void shim_release_read_op(rados_read_op_t op)
{
	if (op != NULL)
		atomic_fetch_sub(&live[BLOB_RADOS_READ_OPS], 1);
	real.rados_release_read_op(op);
}

static rados_write_op_t shim_create_write_op(void)
{
	rados_write_op_t op = real.rados_create_write_op();

	if (op != NULL)
		atomic_fetch_add(&live[BLOB_RADOS_WRITE_OPS], 1);
	return op;
}

static void shim_release_write_op(rados_write_op_t op)
{
	if (op != NULL)
		atomic_fetch_sub(&live[BLOB_RADOS_WRITE_OPS], 1);
	real.rados_release_write_op(op);
}

static int shim_aio_create_completion2(void *arg, rados_callback_t cb, rados_completion_t *c)
{
	int rc = real.rados_aio_create_completion2(arg, cb, c);

	if (rc == 0)
		atomic_fetch_add(&live[BLOB_RADOS_COMPLETIONS], 1);
	return rc;
}

static void shim_aio_release(rados_completion_t c)
{
	atomic_fetch_sub(&live[BLOB_RADOS_COMPLETIONS], 1);
	real.rados_aio_release(c);
}

/* The shims in front of librados's calls.  Once, before the test opens a
 * store: no handle exists yet that one of them would give back uncounted. */
static void shims_put(void)
{
	real = blob_rados_lib;
	blob_rados_lib.rados_create = shim_create;
	blob_rados_lib.rados_shutdown = shim_shutdown;
	blob_rados_lib.rados_ioctx_create = shim_ioctx_create;
	blob_rados_lib.rados_ioctx_destroy = shim_ioctx_destroy;
	blob_rados_lib.rados_create_read_op = shim_create_read_op;
	blob_rados_lib.rados_release_read_op = shim_release_read_op;
	blob_rados_lib.rados_create_write_op = shim_create_write_op;
	blob_rados_lib.rados_release_write_op = shim_release_write_op;
	blob_rados_lib.rados_aio_create_completion2 = shim_aio_create_completion2;
	blob_rados_lib.rados_aio_release = shim_aio_release;
}

int blob_rados_test_handles(long out[BLOB_RADOS_HANDLE_KINDS])
{
	int rc;

	if ((rc = blob_rados_lib_load(NULL, 0)) < 0)
		return rc;
	pthread_once(&shims_once, shims_put);
	for (int k = 0; k < BLOB_RADOS_HANDLE_KINDS; k++)
		out[k] = atomic_load(&live[k]);
	return 0;
}

int blob_rados_test_handles_kept(const long before[BLOB_RADOS_HANDLE_KINDS], FILE *say)
{
	static const char *const kind[BLOB_RADOS_HANDLE_KINDS] = {"client", "pool handle", "read operation",
	                                                          "write operation", "completion"};
	long now[BLOB_RADOS_HANDLE_KINDS];
	int k;

	for (int round = 0;; round++) {
		if (blob_rados_test_handles(now) < 0)
			return 0;
		for (k = 0; k < BLOB_RADOS_HANDLE_KINDS && now[k] <= before[k]; k++)
			;
		if (k == BLOB_RADOS_HANDLE_KINDS)
			return 0;
		if (k != BLOB_RADOS_CLIENTS || round == 3000)
			break;
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	}
	fprintf(say, "    librados handles kept: %ld %s(s) more than before\n", now[k] - before[k], kind[k]);
	return 1;
}

#else

int blob_rados_test_handles_kept(const long before[BLOB_RADOS_HANDLE_KINDS], FILE *say)
{
	(void)before;
	(void)say;
	return 0;
}

int blob_rados_test_handles(long out[BLOB_RADOS_HANDLE_KINDS])
{
	for (int k = 0; k < BLOB_RADOS_HANDLE_KINDS; k++)
		out[k] = 0;
	return -EPROTONOSUPPORT;
}

#endif /* IMGFS_HAVE_RADOS */
