/*
 * imgfs_assert.h — checked invariants, for every floor (fs/, model/,
 * blobstore/).  docs/style.md: the program's own state may be asserted;
 * input, I/O and SQL results never are (they are answered with an errno).
 *
 *   IMGFS_ASSERT(cond)       an invariant a comment states: in Debug and
 *                            Asan builds a false one prints where and aborts
 *   IMGFS_ASSERT_HELD(m)     "called with m held" (a pthread_mutex_t *):
 *                            the calling thread owns m
 *   IMGFS_ASSERT_WRLOCKED(l) the same for a pthread_rwlock_t * held for
 *                            writing
 *   IMGFS_ASSERT_LOCKED(l)   "called with l held, shared or not": l has a
 *                            reader or this thread is its writer (glibc
 *                            counts a rwlock's readers but not which
 *                            threads they are: a weaker check, the one
 *                            there is)
 *
 * In Release (NDEBUG, CMakeLists.txt) all four are nothing: neither the
 * condition nor the lock is evaluated, so a check may cost what it likes.
 * The lock checks read the owner glibc records in every mutex (and the
 * writer in every rwlock); with another C library they check nothing.
 * The lock order they keep honest is written in fs/fuse/fs.h ("locks"),
 * model/model_int.h and blobstore/blobstore_int.h.
 */
#ifndef IMGFS_ASSERT_H
#define IMGFS_ASSERT_H

#ifdef NDEBUG

#define IMGFS_ASSERT(cond) ((void)0)
#define IMGFS_ASSERT_HELD(m) ((void)0)
#define IMGFS_ASSERT_WRLOCKED(l) ((void)0)
#define IMGFS_ASSERT_LOCKED(l) ((void)0)

#else

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((noreturn, cold)) static inline void imgfs_assert_fail(const char *what, const char *file, int line,
                                                                    const char *func)
{
	fprintf(stderr, "imgfs: %s:%d: %s: assertion failed: %s\n", file, line, func, what);
	abort();
}

#define IMGFS_ASSERT(cond) \
	((cond) ? (void)0 : imgfs_assert_fail(#cond, __FILE__, __LINE__, __func__))

#ifdef __GLIBC__
#define IMGFS_ASSERT_HELD(m) IMGFS_ASSERT((m)->__data.__owner == gettid())
#define IMGFS_ASSERT_WRLOCKED(l) IMGFS_ASSERT((l)->__data.__cur_writer == gettid())
/* glibc's __readers: the readers' count above its 3 flag bits. */
#define IMGFS_ASSERT_LOCKED(l) \
	IMGFS_ASSERT(((l)->__data.__readers >> 3) > 0 || (l)->__data.__cur_writer == gettid())
#else
#define IMGFS_ASSERT_HELD(m) ((void)(m))
#define IMGFS_ASSERT_WRLOCKED(l) ((void)(l))
#define IMGFS_ASSERT_LOCKED(l) ((void)(l))
#endif

#endif /* NDEBUG */

#endif
