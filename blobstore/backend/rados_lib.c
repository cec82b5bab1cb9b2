/*
 * backend/rados_lib.c — librados opened at the first rados: store
 * (rados_lib.h says why).  Once per process; never closed: its threads
 * and its atexit handlers outlive any one store.
 */
#ifdef IMGFS_HAVE_RADOS

#define RADOS_LIB_IMPL
#include "rados_lib.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

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

#endif /* IMGFS_HAVE_RADOS */
