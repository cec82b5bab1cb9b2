/*
 * wblob_recs.c — a cluster wblob's record sets, together (group commit).
 *
 * Every record of a cluster disk lands on one object, the disk's header
 * (backend/rados_disk.c), whose operations the OSD applies one after the
 * other, one commit each: fio's 16 first writes in flight queued 16
 * record sets there, and each waited for the ones before it.  So at most
 * ONE record operation of a wblob is in flight; the records started
 * meanwhile join the next one, which is started when the one in flight
 * returns, and every caller returns once the operation holding its record
 * is acknowledged, with that operation's answer (a failed operation fails
 * every caller in it, and none other: "could not tell" stays EIO).  A lone
 * record (dd's, serial: nothing in flight when it comes) goes out at once,
 * as before.
 *
 * Order (wblob_cluster.c "A record beside its chunk").  A record joins
 * under ext_lock; records joined in one order land in that order: in one
 * operation (one omap set: all or none; a key joined twice holds the later
 * value, as two operations in a row would leave it) or in operations
 * started one after the other.  The pending confirmations are taken when
 * the operation is started, after every newer record of their chunk
 * dropped them (wb_conf_forget, at join), so a confirmation never lands over
 * a newer record.
 *
 * Bounds (SPEC §12): at most WB_RQ_OWN callers' records in one operation
 * (the 65th waits for the next), the pending confirmations filling the
 * rest up to BLOB_RECS_MAX (the others wait for a later one); per open
 * writer one struct wb_rq (about 6 KiB), allocated at its first record.
 *
 * Who waits does the work: no thread of its own.  A caller waiting for
 * its operation, when the one in flight has nobody waiting for it, waits
 * for it (without ext_lock), answers its callers, then starts the next.
 *
 * The bottom layer, beside wblob_cluster.c (which calls it): the backend's
 * table and the handle's fields, nothing else.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "imgfs_assert.h"
#include "wblob_int.h"

#define REC_LEN (1 + sizeof(chunk_id))

struct wb_rq {
	pthread_cond_t cv; /* an operation answered, room made, a hold lifted */
	/* The next operation's records (callers' own: their memory until
	 * they are answered) and its callers, linked by next. */
	uint32_t idx[WB_RQ_OWN];
	const uint8_t *val[WB_RQ_OWN];
	size_t len[WB_RQ_OWN];
	unsigned n, ncallers, room_waiting;
	struct wb_cl_recs *who;
	/* The operation in flight (NULL: none), its callers, the
	 * confirmations it carries; reaping: a caller is waiting for it. */
	struct blob_backend_recs *op;
	struct wb_cl_recs *fly;
	struct wb_conf carried[WB_CONF_MAX];
	uint8_t cval[WB_CONF_MAX][REC_LEN];
	unsigned ncarried;
	bool reaping, hold;
};

/* w's queue (under ext_lock), made at its first record; NULL: no memory. */
static struct wb_rq *rq_of(blob_wblob *w)
{
	IMGFS_ASSERT_HELD(&w->ext_lock);
	if (w->rq == NULL && (w->rq = calloc(1, sizeof *w->rq)) != NULL)
		pthread_cond_init(&w->rq->cv, NULL);
	return w->rq;
}

void wb_rq_free(blob_wblob *w)
{
	if (w->rq == NULL)
		return;
	pthread_cond_destroy(&w->rq->cv);
	free(w->rq);
	w->rq = NULL;
}

/* The operation's callers answered rc (under ext_lock); on success the
 * confirmations it carried are done (those no newer record dropped). */
static void rq_answer(blob_wblob *w, struct wb_rq *q, int rc)
{
	IMGFS_ASSERT_HELD(&w->ext_lock);
	for (struct wb_cl_recs *r = q->fly, *next; r; r = next) {
		next = r->next;
		r->rc = rc;
		r->done = true; /* r may be gone once its caller sees this */
	}
	q->fly = NULL;
	for (unsigned k = 0; rc == 0 && k < q->ncarried; k++)
		for (unsigned j = 0; j < w->nconf; j++)
			if (w->conf[j].i == q->carried[k].i && chunk_id_equal(&w->conf[j].id, &q->carried[k].id)) {
				w->conf[j] = w->conf[--w->nconf];
				break;
			}
	q->ncarried = 0;
	pthread_cond_broadcast(&q->cv);
}

/* The records joined, with the pending confirmations that fit, started as
 * one operation (under ext_lock, none in flight, some caller joined).  A
 * start that fails answers its callers at once. */
static void rq_send(blob_wblob *w, struct wb_rq *q)
{
	uint32_t idx[BLOB_RECS_MAX];
	const uint8_t *val[BLOB_RECS_MAX];
	size_t len[BLOB_RECS_MAX], m = q->n;
	int rc = 0;

	IMGFS_ASSERT_HELD(&w->ext_lock);
	memcpy(idx, q->idx, m * sizeof idx[0]);
	memcpy(val, q->val, m * sizeof val[0]);
	memcpy(len, q->len, m * sizeof len[0]);
	q->ncarried = 0;
	for (unsigned k = 0; k < w->nconf && m < BLOB_RECS_MAX; k++, m++) {
		q->carried[q->ncarried] = w->conf[k];
		q->cval[q->ncarried][0] = WB_STORED;
		memcpy(q->cval[q->ncarried] + 1, w->conf[k].id.b, sizeof w->conf[k].id.b);
		idx[m] = w->conf[k].i, val[m] = q->cval[q->ncarried], len[m] = REC_LEN;
		q->ncarried++;
	}
	q->fly = q->who;
	q->who = NULL;
	q->n = q->ncallers = 0;
	if (m > 0)
		rc = w->cx->recs_start(w->cl, m, idx, val, len, &q->op);
	if (m == 0 || rc < 0) {
		q->op = NULL;
		rq_answer(w, q, rc);
	}
	pthread_cond_broadcast(&q->cv); /* room in the next one */
}

void wb_conf_forget(blob_wblob *w, uint32_t i)
{
	for (unsigned k = 0; k < w->nconf; k++)
		if (w->conf[k].i == i) {
			w->conf[k] = w->conf[--w->nconf];
			return;
		}
}

int wb_rq_join(blob_wblob *w, bool own, uint32_t i, const uint8_t *rec, size_t n, struct wb_cl_recs *r)
{
	struct wb_rq *q;
	unsigned k = 0;

	r->done = false;
	r->rc = 0;
	IMGFS_LOCK(&w->ext_lock, blob_wblob_ext_lock);
	if ((q = rq_of(w)) == NULL) {
		IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
		return -ENOMEM;
	}
	if (own) {
		for (;;) {
			for (k = 0; k < q->n && q->idx[k] != i; k++)
				;
			if (k < q->n || q->n < WB_RQ_OWN)
				break;
			q->room_waiting++;
			IMGFS_COND_WAIT(&q->cv, &w->ext_lock, blob_wblob_ext_lock);
			q->room_waiting--;
		}
		/* Newer than chunk i's pending confirmation, and than a record
		 * of it joined before (the later value is what lands). */
		wb_conf_forget(w, i);
		if (k == q->n)
			q->idx[q->n++] = i;
		q->val[k] = rec;
		q->len[k] = n;
	}
	r->next = q->who;
	q->who = r;
	q->ncallers++;
	if (q->op == NULL && !q->hold)
		rq_send(w, q);
	IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
	/* Answered already: its start failed (nothing to wait for). */
	return r->done && r->rc < 0 ? r->rc : 0;
}

int wb_rq_wait(blob_wblob *w, struct wb_cl_recs *r)
{
	struct wb_rq *q = w->rq;
	int rc;

	IMGFS_LOCK(&w->ext_lock, blob_wblob_ext_lock);
	while (!r->done) {
		if (q->op && !q->reaping && !q->hold) {
			struct blob_backend_recs *op = q->op;
			q->reaping = true;
			IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
			rc = w->cx->recs_wait(op);
			IMGFS_LOCK(&w->ext_lock, blob_wblob_ext_lock);
			q->op = NULL;
			q->reaping = false;
			rq_answer(w, q, rc);
			if (q->who && !q->hold) /* the next at once, whoever it is for */
				rq_send(w, q);
		} else if (q->op == NULL && q->who && !q->hold) {
			rq_send(w, q);
		} else {
			IMGFS_COND_WAIT(&q->cv, &w->ext_lock, blob_wblob_ext_lock);
		}
	}
	rc = r->rc;
	IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
	return rc;
}

void wb_rq_test(blob_wblob *w, enum wb_rq_test what, unsigned out[3])
{
	struct wb_rq *q;

	IMGFS_LOCK(&w->ext_lock, blob_wblob_ext_lock);
	if ((q = rq_of(w)) != NULL) {
		if (what == WB_RQ_HOLD || what == WB_RQ_GO)
			q->hold = what == WB_RQ_HOLD;
		if (what == WB_RQ_SEND && q->op == NULL && q->who)
			rq_send(w, q);
		pthread_cond_broadcast(&q->cv);
		if (out) {
			out[0] = q->n;
			out[1] = q->ncallers;
			out[2] = q->room_waiting;
		}
	}
	IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
}
