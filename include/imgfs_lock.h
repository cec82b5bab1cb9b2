/*
 * imgfs_lock.h — the lock order, checked: every mutex and rwlock of imgfs
 * has a level, and a thread takes locks in rising level only (the kernel's
 * lockdep, reduced to one ladder).  In Debug and Asan builds taking a lock
 * whose level is not above every level the thread holds aborts, naming
 * both locks; in Release (NDEBUG) the macros are the pthread calls they
 * wrap, nothing more.
 *
 * A lock's level is written where the lock is declared, by its name (for
 * a struct member: STRUCT_MEMBER, right after the struct):
 *
 *	static pthread_mutex_t disks_lock = PTHREAD_MUTEX_INITIALIZER;
 *	IMGFS_LOCK_LEVEL(disks_lock, 10);
 *
 * and every site names the lock it takes and lets go:
 *
 *	IMGFS_LOCK(&disks_lock, disks_lock);
 *	IMGFS_COND_WAIT(&cond, &disks_lock, disks_lock);
 *	IMGFS_UNLOCK(&disks_lock, disks_lock);
 *
 * (a name that has no level does not compile; IMGFS_TIMEDLOCK,
 * IMGFS_COND_TIMEDWAIT, IMGFS_RDLOCK, IMGFS_WRLOCK and IMGFS_RWUNLOCK
 * alike).  IMGFS_TRYLOCK is recorded without the check: it cannot wait,
 * so it cannot deadlock.  Locks of one
 * level are never held together (two wblobs' locks included): where code
 * must, it takes them in an order of its own and says so.
 *
 * The ladder, 1 (outermost) to IMGFS_LOCK_LEVELS - 1 (leaves), in bands;
 * the comments beside the declarations say what each guards:
 *    2        the stop locks of `imgfs` (fs/cli/main.c) and `imgfs serve`
 *    6 .. 9   imgfs serve's transfers and connection table (fs/serve),
 *             the Glance API's waits for a seal (fs/serve/glance/data.c)
 *   10 .. 20  fs/fuse: the open disks, a disk's writes; the inside
 *             helpers' load, a volume's conversation, their table
 *   30 .. 34  blobstore: a wblob (rwlock), its upload batch, the batch
 *   50        blobstore's leaves: the chunk cache, ext files, sealer,
 *             hasher, RADOS prefetch
 *   52        the RADOS OSD map waits (rados_op.c: under the cluster
 *             disks' lock, which RADOS calls are made under)
 *   54        model/'s leaves: the model, its row cache, its keys,
 *             SQLite's commit signal
 *   58 .. 62  fs's leaves: renderings, handles, pollers, work and rmdir
 *             queues, a volume's attributes, the Glance API's workers'
 *             kicks; the log, the /errors rings,
 *             imgfs serve's log
 * (fs/fuse/fs.h "locks", blobstore/blobstore_int.h and model/model_int.h
 * draw the same order with what each lock guards.)
 *
 * The record is per thread: the count of locks held at each level and the
 * name last taken there, in one thread-local object (weak: one for the
 * program, whatever includes this); a thread's locks are its own state,
 * as glibc's owner field in each mutex is (IMGFS_ASSERT_HELD reads that).
 */
#ifndef IMGFS_LOCK_H
#define IMGFS_LOCK_H

#include <pthread.h>

#include "imgfs_assert.h"

#define IMGFS_LOCK_LEVELS 64

/* The level of lock `name`: a constant, no storage. */
#define IMGFS_LOCK_LEVEL(name, level)                                                                     \
	enum { imgfs_lock_level_##name = (level) };                                                       \
	_Static_assert((level) > 0 && (level) < IMGFS_LOCK_LEVELS, "lock level out of the ladder")

#ifdef NDEBUG

#define IMGFS_LOCK(m, name) ((void)imgfs_lock_level_##name, pthread_mutex_lock(m))
#define IMGFS_TRYLOCK(m, name) ((void)imgfs_lock_level_##name, pthread_mutex_trylock(m))
#define IMGFS_TIMEDLOCK(m, t, name) ((void)imgfs_lock_level_##name, pthread_mutex_timedlock((m), (t)))
#define IMGFS_UNLOCK(m, name) ((void)imgfs_lock_level_##name, pthread_mutex_unlock(m))
#define IMGFS_COND_WAIT(c, m, name) ((void)imgfs_lock_level_##name, pthread_cond_wait((c), (m)))
#define IMGFS_COND_TIMEDWAIT(c, m, t, name) ((void)imgfs_lock_level_##name, pthread_cond_timedwait((c), (m), (t)))
#define IMGFS_RDLOCK(l, name) ((void)imgfs_lock_level_##name, pthread_rwlock_rdlock(l))
#define IMGFS_WRLOCK(l, name) ((void)imgfs_lock_level_##name, pthread_rwlock_wrlock(l))
#define IMGFS_RWUNLOCK(l, name) ((void)imgfs_lock_level_##name, pthread_rwlock_unlock(l))

#else

#include <stdio.h>

struct imgfs_lock_held {
	unsigned short count[IMGFS_LOCK_LEVELS]; /* locks this thread holds at each level */
	const char *name[IMGFS_LOCK_LEVELS];     /* the one last taken there */
	int top;                                 /* the highest level held; 0: none */
};
__thread struct imgfs_lock_held imgfs_lock_held_ __attribute__((weak));

__attribute__((noreturn, cold)) static inline void imgfs_lock_order_fail(int level, const char *name,
                                                                         const char *file, int line)
{
	const struct imgfs_lock_held *h = &imgfs_lock_held_;
	char what[192];
	snprintf(what, sizeof(what), "lock order: taking %s (level %d) while holding %s (level %d)", name, level,
	         h->name[h->top] ? h->name[h->top] : "?", h->top);
	imgfs_assert_fail(what, file, line, "IMGFS_LOCK");
}

/* Before taking a lock of level: above every level held, or abort. */
static inline void imgfs_lock_before(int level, const char *name, const char *file, int line)
{
	if (level <= imgfs_lock_held_.top)
		imgfs_lock_order_fail(level, name, file, line);
}

static inline void imgfs_lock_taken(int level, const char *name)
{
	struct imgfs_lock_held *h = &imgfs_lock_held_;
	h->count[level]++;
	h->name[level] = name;
	if (level > h->top)
		h->top = level;
}

static inline void imgfs_lock_released(int level, const char *name, const char *file, int line)
{
	struct imgfs_lock_held *h = &imgfs_lock_held_;
	if (h->count[level] == 0) {
		char what[160];
		snprintf(what, sizeof(what), "lock order: letting go of %s (level %d), not held", name, level);
		imgfs_assert_fail(what, file, line, "IMGFS_UNLOCK");
	}
	if (--h->count[level] == 0 && level == h->top)
		while (h->top > 0 && h->count[h->top] == 0)
			h->top--;
}

static inline int imgfs_lock_mutex(pthread_mutex_t *m, int level, const char *name, const char *file, int line)
{
	imgfs_lock_before(level, name, file, line);
	int rc = pthread_mutex_lock(m);
	if (rc == 0)
		imgfs_lock_taken(level, name);
	return rc;
}

static inline int imgfs_trylock_mutex(pthread_mutex_t *m, int level, const char *name)
{
	int rc = pthread_mutex_trylock(m);
	if (rc == 0)
		imgfs_lock_taken(level, name);
	return rc;
}

/* A wait with a deadline can still wait on a cycle: checked as a lock. */
static inline int imgfs_timedlock_mutex(pthread_mutex_t *m, const struct timespec *t, int level, const char *name,
                                        const char *file, int line)
{
	imgfs_lock_before(level, name, file, line);
	int rc = pthread_mutex_timedlock(m, t);
	if (rc == 0)
		imgfs_lock_taken(level, name);
	return rc;
}

static inline int imgfs_unlock_mutex(pthread_mutex_t *m, int level, const char *name, const char *file, int line)
{
	imgfs_lock_released(level, name, file, line);
	return pthread_mutex_unlock(m);
}

/* The wait lets go of m and takes it again: in between, the thread's other
 * locks are what it holds. */
static inline int imgfs_cond_wait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *t, int level,
                                  const char *name, const char *file, int line)
{
	imgfs_lock_released(level, name, file, line);
	imgfs_lock_before(level, name, file, line);
	int rc = t ? pthread_cond_timedwait(c, m, t) : pthread_cond_wait(c, m);
	imgfs_lock_taken(level, name);
	return rc;
}

static inline int imgfs_lock_rw(pthread_rwlock_t *l, int write, int level, const char *name, const char *file,
                                int line)
{
	imgfs_lock_before(level, name, file, line);
	int rc = write ? pthread_rwlock_wrlock(l) : pthread_rwlock_rdlock(l);
	if (rc == 0)
		imgfs_lock_taken(level, name);
	return rc;
}

static inline int imgfs_unlock_rw(pthread_rwlock_t *l, int level, const char *name, const char *file, int line)
{
	imgfs_lock_released(level, name, file, line);
	return pthread_rwlock_unlock(l);
}

#define IMGFS_LOCK(m, name) imgfs_lock_mutex((m), imgfs_lock_level_##name, #name, __FILE__, __LINE__)
#define IMGFS_TRYLOCK(m, name) imgfs_trylock_mutex((m), imgfs_lock_level_##name, #name)
#define IMGFS_TIMEDLOCK(m, t, name)                                                                       \
	imgfs_timedlock_mutex((m), (t), imgfs_lock_level_##name, #name, __FILE__, __LINE__)
#define IMGFS_UNLOCK(m, name) imgfs_unlock_mutex((m), imgfs_lock_level_##name, #name, __FILE__, __LINE__)
#define IMGFS_COND_WAIT(c, m, name)                                                                       \
	imgfs_cond_wait((c), (m), NULL, imgfs_lock_level_##name, #name, __FILE__, __LINE__)
#define IMGFS_COND_TIMEDWAIT(c, m, t, name)                                                               \
	imgfs_cond_wait((c), (m), (t), imgfs_lock_level_##name, #name, __FILE__, __LINE__)
#define IMGFS_RDLOCK(l, name) imgfs_lock_rw((l), 0, imgfs_lock_level_##name, #name, __FILE__, __LINE__)
#define IMGFS_WRLOCK(l, name) imgfs_lock_rw((l), 1, imgfs_lock_level_##name, #name, __FILE__, __LINE__)
#define IMGFS_RWUNLOCK(l, name) imgfs_unlock_rw((l), imgfs_lock_level_##name, #name, __FILE__, __LINE__)

#endif /* NDEBUG */

#endif
