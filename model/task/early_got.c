/*
 * early_got.c — the chunks an early import's fetches stored, as rows every
 * host reads (SPEC §6.5 "Early", §11.1, §13.13): table early_got
 * (schema_sqlite.c v28 says each column).
 *
 * Who calls it: early_fetch.c (a chunk stored: early_got_add), early.c
 * (early_begin: early_got_pick), import.c (before each window:
 * early_got_pick; a run after a crash: early_got_kept).  Any thread; no
 * lock held but the set's, taken here only around the entry's fields.
 *
 * Order (§11.1): a row is written after its chunk was stored durably
 * (blob_store_put_chunk returned), in a transaction of its own, and only
 * while the image's import task exists; the task row's deletion (the
 * seal, a failure, a cancel) deletes the rows in the same transaction (a
 * trigger).  A row is a hint: a failure to write one costs a fetch, never
 * bytes, and a taker takes a chunk only once the store says it holds it
 * (gc may have taken a chunk no blob names yet).
 *
 * Who takes the rows: the importing host before each window (so a chunk a
 * reader on another host fetched is not fetched again), the run after a
 * crash and a host that takes the import over (the chunks that arrived
 * past the durable point), and another host's early entry when it reads
 * the task row again (the chunks the importing host fetched; the chunk
 * its reader holds in flight by early_got_take).  Each reads the rows
 * written since the last it read (seq), of its version only.
 *
 * Bounds (SPEC §12.8): the rows read at once (20 B each), at most the
 * file's chunks.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "early_int.h"

int early_got_add(model *m, struct early_import *e, uint32_t i, const chunk_id *id)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;

	if ((rc = model_write_begin(m, &c, NULL)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("INSERT INTO early_got(image_id, idx, chunk, size, validator) "
	                             "SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM tasks "
	                             "WHERE image_id = ? AND kind = 'import') ON CONFLICT DO NOTHING")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, e->image_id);
	db_bind_int64(st, 2, i);
	/* A hole: no id (an empty blob). */
	db_bind_blob(st, 3, id->b, chunk_id_is_null(id) ? 0 : sizeof(id->b));
	db_bind_int64(st, 4, (int64_t)e->total);
	db_bind_text(st, 5, e->validator); /* set before any fetch, never changed while one runs */
	db_bind_int64(st, 6, e->image_id);
	rc = model_exec_stmt(st);
out:
	return model_write_end(c, rc, NULL);
}

struct got_rows {
	int64_t seq;
	uint32_t n, cap;
	struct got_row {
		uint32_t idx;
		chunk_id id;
	} *r;
};

static int got_row(void *arg, db_stmt *st)
{
	struct got_rows *g = arg;
	size_t len = db_col_bytes(st, 2);
	int64_t idx = db_col_int64(st, 1);

	g->seq = db_col_int64(st, 0);
	if (idx < 0 || idx > UINT32_MAX || (len != 0 && len != sizeof(chunk_id)))
		return 0; /* not a row this program wrote: skipped */
	if (g->n == g->cap) {
		uint32_t cap = g->cap ? 2 * g->cap : 64;
		struct got_row *r = realloc(g->r, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		g->r = r;
		g->cap = cap;
	}
	g->r[g->n].idx = (uint32_t)idx;
	memset(&g->r[g->n].id, 0, sizeof(chunk_id));
	if (len)
		memcpy(g->r[g->n].id.b, db_col_blob(st, 2), len);
	g->n++;
	return 0;
}

int early_got_pick(model *m, struct early_import *e)
{
	struct model_early *set = m->early;
	char validator[FETCH_VALIDATOR_MAX];
	struct got_rows g = {0};
	struct model_conn *c;
	blob_store *s = NULL;
	uint8_t *ok = NULL;
	uint64_t total;
	uint32_t gen;
	db_stmt *st;
	int rc, taken = 0;

	IMGFS_LOCK(&set->lock, model_early_lock);
	rc = e->ready && !e->copy ? 0 : -ENOENT;
	g.seq = e->got_seq;
	total = e->total;
	gen = e->gen;
	snprintf(validator, sizeof(validator), "%s", e->validator);
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	if (rc < 0)
		return 0;
	if ((rc = model_conn_get(m, &c)) < 0 || (rc = model_store(m, e->region_id, &s)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT seq, idx, chunk FROM early_got WHERE image_id = ? AND seq > ? "
	                             "AND size = ? AND validator = ? ORDER BY seq"))))
		return -EIO;
	db_bind_int64(st, 1, e->image_id);
	db_bind_int64(st, 2, g.seq);
	db_bind_int64(st, 3, (int64_t)total);
	db_bind_text(st, 4, validator);
	if ((rc = model_each_row(st, got_row, &g)) < 0)
		goto out;
	if (g.n && !(ok = calloc(g.n, 1))) {
		rc = -ENOMEM;
		goto out;
	}
	/* Those neither arrived nor in flight, in flight for this while the
	 * store is asked (no lock held). */
	IMGFS_LOCK(&set->lock, model_early_lock);
	for (uint32_t k = 0; k < g.n && e->gen == gen; k++) {
		uint32_t i = g.r[k].idx;
		if (i < e->nchunks && !bit(e->arrived, i) && !bit(e->inflight, i)) {
			bit_set(e->inflight, i, true);
			ok[k] = 1;
		}
	}
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	for (uint32_t k = 0; k < g.n; k++)
		if (ok[k] && !chunk_id_is_null(&g.r[k].id) && blob_store_has_chunk(s, &g.r[k].id) != 1)
			ok[k] = 2; /* not there (gc took it): fetched as any other */
	IMGFS_LOCK(&set->lock, model_early_lock);
	for (uint32_t k = 0; k < g.n; k++) {
		uint32_t i = g.r[k].idx;
		if (!ok[k] || e->gen != gen) /* another version began meanwhile: its bits are new */
			continue;
		bit_set(e->inflight, i, false);
		if (ok[k] == 1 && blob_manifest_set(e->got, i, &g.r[k].id) == 0) {
			bit_set(e->arrived, i, true);
			e->arrived_bytes += blob_chunk_len(total, i);
			taken++;
		}
	}
	if (e->gen == gen && g.seq > e->got_seq)
		e->got_seq = g.seq;
	pthread_cond_broadcast(&set->cv);
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	rc = taken;
out:
	free(ok);
	free(g.r);
	return rc;
}

int early_got_take(model *m, struct early_import *e, uint32_t i)
{
	struct model_early *set = m->early;
	char validator[FETCH_VALIDATOR_MAX];
	struct model_conn *c;
	blob_store *s = NULL;
	chunk_id id;
	uint64_t total;
	uint32_t gen;
	size_t len = 0;
	db_stmt *st;
	int rc;

	IMGFS_LOCK(&set->lock, model_early_lock);
	total = e->total;
	gen = e->gen;
	snprintf(validator, sizeof(validator), "%s", e->validator);
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	if ((rc = model_conn_get(m, &c)) < 0 || (rc = model_store(m, e->region_id, &s)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT chunk FROM early_got WHERE image_id = ? AND idx = ? AND size = ? "
	                             "AND validator = ?"))))
		return -EIO;
	db_bind_int64(st, 1, e->image_id);
	db_bind_int64(st, 2, i);
	db_bind_int64(st, 3, (int64_t)total);
	db_bind_text(st, 4, validator);
	memset(&id, 0, sizeof(id));
	if ((rc = db_step(st)) == DB_ROW && ((len = db_col_bytes(st, 0)) == 0 || len == sizeof(id.b))) {
		if (len)
			memcpy(id.b, db_col_blob(st, 0), len);
		rc = 1;
	} else {
		rc = rc == DB_ROW || rc == DB_DONE ? 0 : rc < 0 ? rc : -EIO;
	}
	db_reset(st);
	if (rc <= 0 || (!chunk_id_is_null(&id) && blob_store_has_chunk(s, &id) != 1))
		return rc < 0 ? rc : 0;
	IMGFS_LOCK(&set->lock, model_early_lock);
	rc = 0;
	if (e->gen == gen && i < e->nchunks && !bit(e->arrived, i) && blob_manifest_set(e->got, i, &id) == 0) {
		bit_set(e->arrived, i, true);
		e->arrived_bytes += blob_chunk_len(total, i);
		pthread_cond_broadcast(&set->cv);
		rc = 1;
	}
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	return rc;
}

bool early_got_kept(model *m, int64_t image_id)
{
	struct model_conn *c;
	db_stmt *st;
	bool found;

	if (model_conn_get(m, &c) < 0 || !(st = model_stmt(c, SQL("SELECT 1 FROM early_got WHERE image_id = ? LIMIT 1"))))
		return false;
	db_bind_int64(st, 1, image_id);
	found = db_step(st) == DB_ROW;
	db_reset(st);
	return found;
}
