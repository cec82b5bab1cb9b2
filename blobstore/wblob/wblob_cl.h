/*
 * wblob_cl.h — a cluster wblob's layers, split from wblob_int.h (which
 * includes it where these sections stood): wblob_cluster.c, the backend's
 * disk objects and records, and wblob_patch.c, patched chunks.  Nothing
 * but wblob_int.h includes it; the handle and the shared types are there.
 */
#ifndef IMGFS_WBLOB_CL_H
#define IMGFS_WBLOB_CL_H

/* ---- wblob_cluster.c: a cluster wblob's objects ------------------------------ */

/* Whether `where` puts a wblob of s in its cluster (s has one). */
bool wb_cl_where(const blob_store *s, enum blob_wb_where where);
int wb_cl_create(blob_store *s, const char *name, const void *hdr, size_t len);
/* Fences its writer, then removes it. */
int wb_cl_remove(blob_store *s, const char *name);
/* A record read back into the radixes (open's callback). */
int wb_cl_load_rec(blob_wblob *w, uint32_t i, const uint8_t *val, size_t n);
/* Chunk i's record: state v (and, for WB_STORED, its id from w->sid). */
int wb_cl_set_state(blob_wblob *w, uint32_t i, enum wb_state v);
/* The header's size and base_limit (h: their 12 bytes at offset 8). */
int wb_cl_header(blob_wblob *w, const uint8_t h[12]);
int wb_cl_cut(blob_wblob *w, uint32_t first);
/* Chunk i's object: read (zeros past its end; -EIO when it is gone, as
 * for no answer: readers cannot tell them apart, SPEC §9), written
 * (fresh: the object emptied first, in the same operation), zeroed,
 * removed. */
int wb_cl_read(blob_wblob *w, uint32_t i, size_t a, void *dst, size_t n);
/* After a read of chunk i's object failed: 1 when the store says the
 * object is gone (a verdict: the disk lost its bytes), 0 when it is
 * there, -errno when the store did not answer (a seal's judge). */
int wb_cl_gone(blob_wblob *w, uint32_t i);
int wb_cl_write(blob_wblob *w, uint32_t i, size_t a, const void *src, size_t n, bool fresh);
int wb_cl_zero(blob_wblob *w, uint32_t i, size_t a, size_t n);
int wb_cl_drop(blob_wblob *w, uint32_t i);
/* Blocks [b0, b0 + nb) of chunk i's object from buf, marked written, in
 * one operation (fresh: its old bytes and marks gone first); the marks
 * of the n chunks idx to cb (blob_backend.h: -ENOENT when an object is
 * gone, which the open judges). */
int wb_cl_patch(blob_wblob *w, uint32_t i, uint32_t b0, uint32_t nb, const void *buf, bool fresh);
int wb_cl_marks(blob_wblob *w, const uint32_t *idx, size_t n, int (*cb)(void *arg, uint32_t i, const uint8_t *bits),
                void *arg);
/* Chunk i's record: WB_STORED with id (before the radixes say so). */
int wb_cl_set_stored(blob_wblob *w, uint32_t i, const chunk_id *id);
/* A whole chunk's record beside its put ("A record beside its chunk"):
 * started naming id and chunk i's record now (its state `now`: the
 * caller's, this layer reads no state; chunk i busy, w->lock held),
 * then waited for; confirmed by the next record set or fsync. */
struct wb_cl_recs {
	struct wb_cl_recs *next; /* the callers of one operation (wblob_recs.c) */
	int rc;
	bool done;
	uint8_t own[2 + 2 * sizeof(chunk_id)];
};
int wb_cl_beside_start(blob_wblob *w, uint32_t i, enum wb_state now, const chunk_id *id, struct wb_cl_recs *r);
int wb_cl_beside_wait(blob_wblob *w, struct wb_cl_recs *r);
/* Chunk i's record names only id from the next record set on. */
void wb_cl_confirm_later(blob_wblob *w, uint32_t i, const chunk_id *id);
/* Every record still naming two rewritten naming one (fsync, close). */
int wb_cl_confirm_all(blob_wblob *w);
/* After the records were read: each naming two resolved by whether its
 * chunk is in the store (a writer rewrites it). */
int wb_cl_resolve(blob_wblob *w, char *why, size_t cap);
/* Chunk i's record: WB_PATCHED showing stored chunk id. */
int wb_cl_set_patched(blob_wblob *w, uint32_t i, const chunk_id *id);
/* Chunks [lo, hi) held busy: waits while another holds any of them (or
 * every slot is taken, or an exclusive taker waits for all).  Never with
 * w->lock held: the holder of a busy chunk may wait for that lock. */
void wb_cl_busy_take(blob_wblob *w, uint32_t lo, uint64_t hi);
/* Chunk i held busy if no one holds it: true, else false at once (under
 * w->lock). */
bool wb_cl_busy_try(blob_wblob *w, uint32_t i);
/* wb_cl_busy_try, but false too while an exclusive taker waits (a write
 * started from here must not starve it: wblob_awrite.c). */
bool wb_cl_busy_try_fair(blob_wblob *w, uint32_t i);
void wb_cl_busy_give(blob_wblob *w, uint32_t lo, uint64_t hi);

/* ---- wblob_recs.c: a cluster wblob's record sets, together ---------------- */

/* Callers' records in one operation, at most (the confirmations fill the
 * rest, up to BLOB_RECS_MAX). */
#define WB_RQ_OWN 64
/* Chunk objects a removal sweeps whether recorded or not: disks up to
 * this many chunks (4 GiB); a larger one drops its recorded ones only. */
#define WB_CL_SWEEP_MAX 4096u
/* Joins r (own: rec, n bytes, as chunk i's record; else only the pending
 * confirmations) to the next record operation, under ext_lock: the order
 * joined is the order landed.  0 (then wb_rq_wait, always), or -errno
 * when its operation could not start (answered: no wait). */
int wb_rq_join(blob_wblob *w, bool own, uint32_t i, const uint8_t *rec, size_t n, struct wb_cl_recs *r);
/* Once the operation holding r is acknowledged: 0, or its -errno. */
int wb_rq_wait(blob_wblob *w, struct wb_cl_recs *r);
/* Under ext_lock: chunk i's pending confirmation dropped (a newer record
 * of it joins). */
void wb_conf_forget(blob_wblob *w, uint32_t i);
void wb_rq_free(blob_wblob *w);
/* Tests: HOLD, nothing started or waited for from then on (records join
 * the next operation); SEND, the joined started now (still held); GO,
 * held no longer.  out (or NULL): the records joined to the next
 * operation, its callers, the callers waiting for room in it. */
enum wb_rq_test { WB_RQ_PEEK, WB_RQ_HOLD, WB_RQ_SEND, WB_RQ_GO };
void wb_rq_test(blob_wblob *w, enum wb_rq_test what, unsigned out[3]);

/* ---- wblob_ahead.c: whole chunks answered before they land ----------------- */

/* Whole chunks of one cluster wblob answered before they landed, at most
 * (a 9th is answered once it landed, as before). */
#define WB_AHEAD_MAX 8
/* One write answered ahead: the writer's, on its stack, in w->ahead while
 * its chunk is in flight (its bytes are the writer's buffer). */
struct wb_ahead {
	struct wb_ahead *next;
	const uint8_t *buf; /* whole chunk i */
	uint64_t seq;
	uint32_t i;
	void (*answer)(void *arg, size_t n);
	void *arg;
	bool on; /* answered: in w->ahead until wb_ah_end */
};
/* Chunk i (held busy, w->lock shared), whole in a->buf, answered now if
 * there is room (a->on), reads then showing a->buf. */
void wb_ah_start(blob_wblob *w, struct wb_ahead *a, uint32_t i, const uint8_t *buf);
/* a's chunk landed (rc >= 0) or not (-errno, counted for
 * blob_wblob_settle): out of w->ahead.  The last thing a's writer does
 * with w (a close may free it then). */
void wb_ah_end(blob_wblob *w, struct wb_ahead *a, int rc);
/* [a, a + n) of chunk i from a write in flight into dst: true, else
 * false (under w->lock, shared or not). */
bool wb_ah_read(blob_wblob *w, uint32_t i, uint8_t *dst, size_t a, size_t n);

/* ---- wblob_patch.c: patched chunks (a cluster wblob's WB_PATCHED) ---------- */

/* Chunk i, in state st, may be patched by its first write: a cluster
 * wblob's chunk that shows a whole 1 MiB stored chunk. */
bool wb_pt_can(const blob_wblob *w, uint32_t i, enum wb_state st);
/* [a, a + n) of chunk i from src as whole blocks (the edges filled with
 * what the chunk shows) in one operation on its object; fresh: the first
 * (the object started afresh; chunk i still shows its stored chunk).
 * bits: the blocks written, for wb_pt_mark or wb_pt_publish once it
 * returned — never before (a bit set is a block in the object). */
int wb_pt_write(blob_wblob *w, uint32_t i, const uint8_t *src, size_t a, size_t n, bool fresh,
                uint8_t bits[WB_BLOCKS / 8]);
/* Chunk i's record WB_PATCHED with the id it shows (after wb_pt_write's
 * first operation: the object before the record). */
int wb_pt_record(blob_wblob *w, uint32_t i);
/* In memory, under the exclusive lock: chunk i WB_PATCHED showing the id
 * it showed, bits written. */
int wb_pt_publish(blob_wblob *w, uint32_t i, const uint8_t bits[WB_BLOCKS / 8]);
/* bits of patched chunk i marked written (under the shared lock). */
void wb_pt_mark(blob_wblob *w, uint32_t i, const uint8_t bits[WB_BLOCKS / 8]);
/* A patched chunk's element of w->wbits: its marks (WB_BLOCKS / 8 bytes,
 * block b at bit b % 8 of byte b / 8), then one byte, 1 while they were
 * not read from its object yet (wblob_patch.c "The marks, read when first
 * needed"). */
#define WB_MARKS_LEN (WB_BLOCKS / 8 + 1)
/* Patched chunk i's marks in memory (under the shared lock): where they
 * stay while it is patched (a leaf of w->wbits is freed only when its
 * last element is cleared, which only a change of state does). */
uint8_t *wb_pt_marks(blob_wblob *w, uint32_t i);
/* Patched chunk i's marks read from its object's keys if they were not
 * yet (under either lock): 0, -EIO (the object gone: its record names it,
 * the disk lost it; or the cluster did not answer), -ENOMEM. */
int wb_pt_need(blob_wblob *w, uint32_t i);
/* bits ORed into marks (atomic: beside readers and other writes). */
void wb_pt_or(uint8_t *marks, const uint8_t bits[WB_BLOCKS / 8]);
/* A write into chunk i as a patch, whole (first: the op, the record, the
 * state in memory), under the exclusive lock: 1 done, 0 not a patch. */
int wb_pt_write_locked(blob_wblob *w, uint32_t i, const uint8_t *src, size_t a, size_t n);
/* Bytes [a, a + n) of patched chunk i: each run of blocks from its object
 * or its stored chunk. */
int wb_pt_read(blob_wblob *w, uint32_t i, uint8_t *dst, size_t a, size_t n);
/* Whether bytes [a, a + n) of patched chunk i are in its object: 1 all
 * their blocks marked, 0 none (all in the stored chunk), -1 some, or its
 * marks not read yet (wb_pt_need). */
int wb_pt_marked(const blob_wblob *w, uint32_t i, size_t a, size_t n);
/* Patched chunk i made an overlay chunk (its merged bytes its object's
 * whole content, then its record): what everything rare does first. */
int wb_pt_materialise(blob_wblob *w, uint32_t i);
/* At open: every patched chunk's marks in memory, those of the first
 * BLOB_MARKS_AT_OPEN read (64 a round trip), the others' when first
 * needed (wb_pt_need); a read that fails leaves them to that. */
int wb_pt_load(blob_wblob *w);

#endif
