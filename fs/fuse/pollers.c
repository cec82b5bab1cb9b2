/*
 * pollers.c — who is waiting in poll(2) for a generated file to change (SPEC
 * §12 "Generated files": POLLPRI once its content differs from what the
 * descriptor took at open; `imgfs wait` sleeps on its `status` files so).
 *
 * Who calls it: files.c (ops_poll registers a handle before it looks, so
 * that a change after the look still wakes; a handle released forgets its
 * own), watch.c and copies.c (every inode invalidated wakes what waits
 * on it: the request that made a change, or the watcher that learnt of
 * another connection's commit, or another host's).
 *
 * One registration per file handle at most (the kernel asks again with a
 * new poll handle after each wake-up, and the old one is then dropped), so
 * what this holds is bounded by the descriptors open.  A wake walks the
 * list once: the waiters are few (one per `imgfs wait` path), and each
 * change invalidates a few dozen inodes at most.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "imgfs_lock.h"
#include "pollers.h"

struct poller {
	const void *key;                /* the file handle (files.c's struct fh) */
	fuse_ino_t ino;
	struct fuse_pollhandle *ph;
	struct poller *next;
};

static pthread_mutex_t pollers_lock = PTHREAD_MUTEX_INITIALIZER;
IMGFS_LOCK_LEVEL(pollers_lock, 58);
static struct poller *pollers;

/* Under the lock: key's registration, unlinked, or NULL. */
static struct poller *unlink_key(const void *key)
{
	IMGFS_ASSERT_HELD(&pollers_lock);
	for (struct poller **p = &pollers; *p; p = &(*p)->next) {
		if ((*p)->key == key) {
			struct poller *found = *p;
			*p = found->next;
			return found;
		}
	}
	return NULL;
}

static void drop(struct poller *p)
{
	if (p) {
		fuse_pollhandle_destroy(p->ph);
		free(p);
	}
}

int fs_poll_wait(const void *key, fuse_ino_t ino, struct fuse_pollhandle *ph)
{
	struct poller *p = malloc(sizeof(*p)), *old;
	if (!p) {
		fuse_pollhandle_destroy(ph);
		return -ENOMEM;
	}
	*p = (struct poller){key, ino, ph, NULL};
	IMGFS_LOCK(&pollers_lock, pollers_lock);
	old = unlink_key(key);
	p->next = pollers;
	pollers = p;
	IMGFS_UNLOCK(&pollers_lock, pollers_lock);
	drop(old);
	return 0;
}

void fs_poll_forget(const void *key)
{
	struct poller *p;
	IMGFS_LOCK(&pollers_lock, pollers_lock);
	p = unlink_key(key);
	IMGFS_UNLOCK(&pollers_lock, pollers_lock);
	drop(p);
}

void fs_poll_wake(fuse_ino_t ino)
{
	struct poller *woken = NULL, **p;
	IMGFS_LOCK(&pollers_lock, pollers_lock);
	for (p = &pollers; *p;) {
		if ((*p)->ino == ino) {
			struct poller *w = *p;
			*p = w->next;
			w->next = woken;
			woken = w;
		} else {
			p = &(*p)->next;
		}
	}
	IMGFS_UNLOCK(&pollers_lock, pollers_lock);
	/* Told outside the lock: the notification is a write to the device. */
	while (woken) {
		struct poller *w = woken;
		woken = w->next;
		fuse_lowlevel_notify_poll(w->ph);
		drop(w);
	}
}
