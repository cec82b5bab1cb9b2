/*
 * wblob_ahead.c — a cloud disk's whole chunks answered before they land
 * (SPEC §11 "Decision (issue 49, stop 48)").
 *
 * A write of a whole 1 MiB chunk to a cluster wblob, by a writer that did
 * not ask for each write to be durable (no O_DIRECT, O_SYNC or O_DSYNC:
 * `dd` and `cp` through the mount), is answered once its put and record
 * are in flight, not once they landed: the writer's next write overlaps
 * this one's round trip, as librbd's cache answers a write once it is
 * sent.  Nothing is copied and no thread is made: the writer's thread
 * answers, then goes on with the put in its own buffer, which stays its
 * own until it returns; the chunk stays busy (wblob_cluster.c "Busy
 * chunks") until its state in memory shows it, so a later write, punch or
 * truncate of it waits as for any first write, and reads take its bytes
 * from that buffer meanwhile (wb_ah_read), so a read after the answer
 * sees them.
 *
 * Durable at fsync and at close, as POSIX promises a write: both wait
 * for every write answered before they began (blob_wblob_settle), and a
 * kill -9 before them may lose what they would have waited for, never
 * more (what landed is as a write that returned, §11).  A write answered
 * ahead that then fails (the store did not answer after its tries, a
 * fence, a full pool) is not lost silently, as Linux keeps a writeback
 * error: the log says which chunk, and the next fsync and close of each
 * file open on the disk then returns its errno once (each handle keeps
 * the count of failures it was told of: blob_wblob_settle), so the
 * writer knows to write again; its chunk shows what it showed before.
 * Later writes are taken as usual (the OSD may be back: SPEC §13).
 *
 * Bounded (SPEC §12): at most WB_AHEAD_MAX writes of one wblob in flight
 * so, each in its writer's buffer (the mount's request buffers: nothing
 * more is held); a write beyond them waits for its own, as before.
 */
#include <errno.h>
#include <string.h>

#include "wblob_int.h"

void wb_ah_start(blob_wblob *w, struct wb_ahead *a, uint32_t i, const uint8_t *buf)
{
	a->on = false;
	if (a->answer == NULL)
		return;
	IMGFS_LOCK(&w->ext_lock, blob_wblob_ext_lock);
	if (w->nahead < WB_AHEAD_MAX) {
		a->i = i;
		a->buf = buf;
		a->seq = w->ahead_seq++;
		a->next = w->ahead;
		w->ahead = a;
		__atomic_store_n(&w->nahead, w->nahead + 1, __ATOMIC_RELEASE);
		a->on = true;
	}
	IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
	/* In w->ahead first: a read after the answer finds the bytes. */
	if (a->on)
		a->answer(a->arg, BLOB_CHUNK_SIZE);
}

void wb_ah_end(blob_wblob *w, struct wb_ahead *a, int rc)
{
	struct wb_ahead **p;

	if (!a->on)
		return;
	if (rc < 0)
		blob_log_line(&w->s->log,
		              "cloud disk %s: chunk %u, written whole and answered before it landed, did not land: %s; "
		              "the next fsync and close of each of its open files say so",
		              w->name, a->i, strerror(-rc));
	IMGFS_LOCK(&w->ext_lock, blob_wblob_ext_lock);
	if (rc < 0) {
		w->ahead_err = rc;
		w->ahead_fails++;
	}
	for (p = &w->ahead; *p != a; p = &(*p)->next)
		;
	*p = a->next;
	__atomic_store_n(&w->nahead, w->nahead - 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&w->busy_cv);
	IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
}

bool wb_ah_read(blob_wblob *w, uint32_t i, uint8_t *dst, size_t a, size_t n)
{
	bool found = false;

	/* None in flight (the usual case): no lock.  One answered meanwhile
	 * was answered after this read began: either bytes are right. */
	if (__atomic_load_n(&w->nahead, __ATOMIC_ACQUIRE) == 0)
		return false;
	IMGFS_LOCK(&w->ext_lock, blob_wblob_ext_lock);
	for (struct wb_ahead *e = w->ahead; e != NULL && !found; e = e->next)
		if (e->i == i) {
			memcpy(dst, e->buf + a, n);
			found = true;
		}
	IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
	return found;
}

uint64_t blob_wblob_ahead_mark(blob_wblob *w)
{
	uint64_t n;

	IMGFS_LOCK(&w->ext_lock, blob_wblob_ext_lock);
	n = w->ahead_fails;
	IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
	return n;
}

int blob_wblob_settle(blob_wblob *w, uint64_t *seen)
{
	uint64_t mark;
	bool older;
	int rc = 0;

	IMGFS_LOCK(&w->ext_lock, blob_wblob_ext_lock);
	/* Those answered before now: later ones do not hold it up. */
	mark = w->ahead_seq;
	do {
		older = false;
		for (struct wb_ahead *e = w->ahead; e != NULL && !older; e = e->next)
			older = e->seq < mark;
		if (older)
			IMGFS_COND_WAIT(&w->busy_cv, &w->ext_lock, blob_wblob_ext_lock);
	} while (older);
	if (seen != NULL && *seen != w->ahead_fails) {
		rc = w->ahead_err;
		*seen = w->ahead_fails;
	}
	IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
	return rc;
}
