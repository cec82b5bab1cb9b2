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
 *
 * A room of the mount (struct fs_pollers at ctx->pollers, made and freed
 * with it by rooms.c): two mounts in one process wake their own waiters.
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

struct fs_pollers {
	pthread_mutex_t lock; /* the list */
	struct poller *list;
};
IMGFS_LOCK_LEVEL(pollers_lock, 58); /* a leaf (fs.h "locks") */

int fs_pollers_new(struct fs_pollers **out)
{
	struct fs_pollers *ps = calloc(1, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	pthread_mutex_init(&ps->lock, NULL);
	*out = ps;
	return 0;
}

void fs_pollers_free(struct fs_pollers *ps)
{
	if (!ps)
		return;
	while (ps->list) {
		struct poller *p = ps->list;
		ps->list = p->next;
		fuse_pollhandle_destroy(p->ph);
		free(p);
	}
	pthread_mutex_destroy(&ps->lock);
	free(ps);
}

/* Under the lock: key's registration, unlinked, or NULL. */
static struct poller *unlink_key(struct fs_pollers *ps, const void *key)
{
	IMGFS_ASSERT_HELD(&ps->lock);
	for (struct poller **p = &ps->list; *p; p = &(*p)->next) {
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

int fs_poll_wait(struct fs_pollers *ps, const void *key, fuse_ino_t ino, struct fuse_pollhandle *ph)
{
	struct poller *p = malloc(sizeof(*p)), *old;
	if (!p) {
		fuse_pollhandle_destroy(ph);
		return -ENOMEM;
	}
	*p = (struct poller){key, ino, ph, NULL};
	IMGFS_LOCK(&ps->lock, pollers_lock);
	old = unlink_key(ps, key);
	p->next = ps->list;
	ps->list = p;
	IMGFS_UNLOCK(&ps->lock, pollers_lock);
	drop(old);
	return 0;
}

void fs_poll_forget(struct fs_pollers *ps, const void *key)
{
	struct poller *p;
	IMGFS_LOCK(&ps->lock, pollers_lock);
	p = unlink_key(ps, key);
	IMGFS_UNLOCK(&ps->lock, pollers_lock);
	drop(p);
}

void fs_poll_wake(struct fs_pollers *ps, fuse_ino_t ino)
{
	struct poller *woken = NULL, **p;
	IMGFS_LOCK(&ps->lock, pollers_lock);
	for (p = &ps->list; *p;) {
		if ((*p)->ino == ino) {
			struct poller *w = *p;
			*p = w->next;
			w->next = woken;
			woken = w;
		} else {
			p = &(*p)->next;
		}
	}
	IMGFS_UNLOCK(&ps->lock, pollers_lock);
	/* Told outside the lock: the notification is a write to the device. */
	while (woken) {
		struct poller *w = woken;
		woken = w->next;
		fuse_lowlevel_notify_poll(w->ph);
		drop(w);
	}
}
