/*
 * stats.c — /stats at the root of the mount: what the mount has done and
 * what the service holds, in the Prometheus text exposition format
 * (version 0.0.4; SPEC §15), so that `cat` and any scraper read it.
 *
 * Who calls it: req.c counts every request a handler answers (fs_stats_request at
 * the top of each handler, fs_stats_error with the errno when the answer
 * is one) and the bytes READ replies with from blobs and disks and WRITE
 * takes into disks and uploads; node.c and ops.c render the file when it
 * is stat()ed or opened, like any generated file (content taken once at
 * open, opened direct_io, so a read is never cut at an older st_size).
 * Who may read it: fs_stats_readable (in a multi-user mount, root and the
 * mounting user; others get EACCES at open, with a log line).
 * Counters are per mount and start at zero when it mounts; they are
 * relaxed atomics, bumped from every FUSE thread without a lock.
 *
 * The families (every name is imgfs_..., every label value escaped by
 * fs_stats_label):
 *   requests_total{op}, request_errors_total{op}   every operation, zeros too
 *   request_errors_by_errno_total{op,errno}        only the pairs seen
 *   read_bytes_total, written_bytes_total          blob and disk data only
 *   cluster_reads_total, cluster_writes_total      READs, WRITEs a cluster client's thread answered
 *   upload_bytes_total                             of them, into uploads as they arrive
 *   copied_bytes_total                             bytes copied on their way into a store
 *   shared_bytes_total                             copy_file_range by reference
 *   sha256_read_bytes_total                        blobs read back to hash them
 *   chunk_cache_hits_total{region}, ..._misses_total{region}   stores open
 *   stored_chunks{region}, stored_bytes{region}    sums over blobs (dedup
 *                                                  not subtracted)
 *   images{region,status}                          every status, zeros too
 *   tasks{kind,state}                              the queue's rows
 *   task_bytes_total{kind}                         progress this mount's
 *                                                  tasks made (virtual bytes)
 *   moved_bytes_total{kind}                        bytes its imports fetched
 *                                                  and its copies placed
 *   db_*                                           the model's own counters
 *   inside_*                                       files/'s helpers, their
 *                                                  round trips and block reads
 *                                                  (inside.c: the mount's room)
 * What the database holds is counted from indexes (model/meta/stats.c),
 * never by reading every image's row.
 *
 * What tests read here: that a second walk of an unchanged tree sends no
 * LOOKUP or READDIRPLUS (the kernel's caches serve it), and that no
 * request read a whole table (imgfs_db_unexpected_scan_rows_total, the
 * model's count of rows that statements not allowed to scan read in full
 * scans: model/db/db.h); tests/integration/test_metrics.sh the rest.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "common.h"
#include "dirs.h"
#include "fs.h"
#include "log.h"
#include "stats.h"

static const char *const op_names[FS_OP_COUNT] = {
	[FS_OP_LOOKUP] = "lookup", [FS_OP_FORGET] = "forget", [FS_OP_GETATTR] = "getattr",
	[FS_OP_SETATTR] = "setattr", [FS_OP_ACCESS] = "access", [FS_OP_READLINK] = "readlink",
	[FS_OP_MKNOD] = "mknod", [FS_OP_MKDIR] = "mkdir", [FS_OP_UNLINK] = "unlink", [FS_OP_RMDIR] = "rmdir",
	[FS_OP_SYMLINK] = "symlink", [FS_OP_RENAME] = "rename", [FS_OP_LINK] = "link", [FS_OP_OPEN] = "open",
	[FS_OP_READ] = "read", [FS_OP_WRITE] = "write", [FS_OP_FLUSH] = "flush", [FS_OP_RELEASE] = "release",
	[FS_OP_FSYNC] = "fsync", [FS_OP_OPENDIR] = "opendir", [FS_OP_READDIR] = "readdir",
	[FS_OP_READDIRPLUS] = "readdirplus", [FS_OP_STATFS] = "statfs", [FS_OP_SETXATTR] = "setxattr",
	[FS_OP_GETXATTR] = "getxattr", [FS_OP_LISTXATTR] = "listxattr", [FS_OP_REMOVEXATTR] = "removexattr",
	[FS_OP_CREATE] = "create", [FS_OP_LSEEK] = "lseek", [FS_OP_FALLOCATE] = "fallocate", [FS_OP_POLL] = "poll",
	[FS_OP_COPY_FILE_RANGE] = "copy_file_range",
};

/* Every tenant's activity is in it (requests and errors of every caller,
 * every account's tasks, bytes and images by region): in a multi-user
 * mount it is the administrators' (fs_caller_is_admin), unless the mount
 * says otherwise (-o stats=all).  A single-user mount has one account. */
bool fs_stats_readable(const struct fs_ctx *ctx, const struct fs_caller *c)
{
	return !ctx->multiuser || ctx->stats_all || fs_caller_is_admin(ctx, c);
}

unsigned fs_stats_mode(const struct fs_ctx *ctx)
{
	return !ctx->multiuser || ctx->stats_all ? 0444 : 0400;
}

const char *fs_op_name(enum fs_op op)
{
	return op >= 0 && op < FS_OP_COUNT ? op_names[op] : "?";
}

void fs_stats_request(struct fs_ctx *ctx, enum fs_op op)
{
	atomic_fetch_add_explicit(&ctx->stats.requests[op], 1, memory_order_relaxed);
}

void fs_stats_error(struct fs_ctx *ctx, enum fs_op op, int err)
{
	atomic_fetch_add_explicit(&ctx->stats.errors[op], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&ctx->stats.errnos[op][err > 0 && err < FS_STATS_ERRNOS ? err : 0], 1,
	                          memory_order_relaxed);
}

void fs_stats_read(struct fs_ctx *ctx, size_t n)
{
	atomic_fetch_add_explicit(&ctx->stats.read_bytes, n, memory_order_relaxed);
}

void fs_stats_cluster_read(struct fs_ctx *ctx)
{
	atomic_fetch_add_explicit(&ctx->stats.cluster_reads, 1, memory_order_relaxed);
}

void fs_stats_cluster_write(struct fs_ctx *ctx)
{
	atomic_fetch_add_explicit(&ctx->stats.cluster_writes, 1, memory_order_relaxed);
}

void fs_stats_written(struct fs_ctx *ctx, size_t n)
{
	atomic_fetch_add_explicit(&ctx->stats.written_bytes, n, memory_order_relaxed);
}

void fs_stats_uploaded(struct fs_ctx *ctx, uint64_t n)
{
	atomic_fetch_add_explicit(&ctx->stats.upload_bytes, n, memory_order_relaxed);
}

void fs_stats_shared(struct fs_ctx *ctx, uint64_t n)
{
	atomic_fetch_add_explicit(&ctx->stats.shared_bytes, n, memory_order_relaxed);
}

void fs_stats_label(struct fs_buf *out, const char *v)
{
	const char *p = v;
	for (; *p; p++) {
		const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
		if (!esc)
			continue;
		fs_buf_put(out, v, (size_t)(p - v));
		fs_buf_put(out, esc, 2);
		v = p + 1;
	}
	fs_buf_put(out, v, (size_t)(p - v));
}

/* "# HELP" and "# TYPE" of a family (help holds no backslash or newline). */
static void family(struct fs_buf *out, const char *name, const char *type, const char *help)
{
	fs_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample: name{k1="v1",k2="v2"} value, with up to two labels (a NULL
 * key ends them). */
static void sample(struct fs_buf *out, const char *name, const char *k1, const char *v1, const char *k2,
                   const char *v2, uint64_t value)
{
	fs_buf_printf(out, "%s", name);
	if (k1) {
		fs_buf_printf(out, "{%s=\"", k1);
		fs_stats_label(out, v1);
		if (k2) {
			fs_buf_printf(out, "\",%s=\"", k2);
			fs_stats_label(out, v2);
		}
		fs_buf_printf(out, "\"}");
	}
	fs_buf_printf(out, " %" PRIu64 "\n", value);
}

/* One counter family with an `op` label: every operation, zeros included,
 * so a scraper sees every series from the first scrape on. */
static void per_op(struct fs_buf *out, const char *name, const char *help, const atomic_uint_fast64_t *v)
{
	family(out, name, "counter", help);
	for (int op = 0; op < FS_OP_COUNT; op++)
		sample(out, name, "op", op_names[op], NULL, NULL, atomic_load_explicit(&v[op], memory_order_relaxed));
}

static void per_errno(struct fs_ctx *ctx, struct fs_buf *out)
{
	const char *name = "imgfs_request_errors_by_errno_total";
	family(out, name, "counter",
	       "FUSE requests answered with an errno, by operation and errno name (only the pairs seen; "
	       "E0 counts errnos beyond the table).");
	for (int op = 0; op < FS_OP_COUNT; op++)
		for (int e = 0; e < FS_STATS_ERRNOS; e++) {
			uint64_t n = atomic_load_explicit(&ctx->stats.errnos[op][e], memory_order_relaxed);
			if (n)
				sample(out, name, "op", op_names[op], "errno", e ? fs_errno_name(e) : "E0", n);
		}
}

/* The regions' names by id, read once per rendering (a handful of rows;
 * past the first 64, a region's label is its number). */
struct region_names {
	int64_t id[64];
	char name[64][MODEL_NAME_MAX + 1];
	int n;
};

static int region_name_add(void *arg, const struct model_region *r)
{
	struct region_names *rn = arg;
	if (rn->n < (int)(sizeof(rn->id) / sizeof(rn->id[0]))) {
		rn->id[rn->n] = r->id;
		snprintf(rn->name[rn->n], sizeof(rn->name[0]), "%s", r->name);
		rn->n++;
	}
	return 0;
}

/* The name of region id; its number when it is not among the first 64. */
static const char *region_name(const struct region_names *rn, int64_t id, char other[24])
{
	for (int i = 0; i < rn->n; i++)
		if (rn->id[i] == id)
			return rn->name[i];
	snprintf(other, 24, "%" PRId64, id);
	return other;
}

struct render {
	struct fs_buf *out;
	const struct region_names *rn;
	const char *name;   /* the family being written */
	const char *name2;  /* and its second one (stored bytes, cache misses) */
	struct fs_buf *out2;
	uint64_t images[64][MODEL_IMG_STATUS_COUNT]; /* by region_names' index */
};

static int cache_row(void *arg, int64_t region_id, uint64_t hits, uint64_t misses)
{
	struct render *r = arg;
	char other[24];
	const char *rname = region_name(r->rn, region_id, other);
	sample(r->out, r->name, "region", rname, NULL, NULL, hits);
	sample(r->out2, r->name2, "region", rname, NULL, NULL, misses);
	return 0;
}

static int blobs_row(void *arg, int64_t region_id, int64_t chunks, int64_t bytes)
{
	struct render *r = arg;
	char other[24];
	const char *rname = region_name(r->rn, region_id, other);
	sample(r->out, r->name, "region", rname, NULL, NULL, (uint64_t)chunks);
	sample(r->out2, r->name2, "region", rname, NULL, NULL, (uint64_t)bytes);
	return 0;
}

/* Kept by region, to be written with the zeros of the statuses no image
 * has; a region beyond the first 64 is written as it comes. */
static int images_row(void *arg, int64_t region_id, enum model_image_status s, int64_t n)
{
	struct render *r = arg;
	char other[24];
	for (int i = 0; i < r->rn->n; i++)
		if (r->rn->id[i] == region_id) {
			r->images[i][s] = (uint64_t)n;
			return 0;
		}
	sample(r->out, "imgfs_images", "region", region_name(r->rn, region_id, other), "status",
	       model_image_status_name(s), (uint64_t)n);
	return 0;
}

static int tasks_row(void *arg, const char *kind, const char *state, int64_t n)
{
	struct render *r = arg;
	sample(r->out, r->name, "kind", kind, "state", state, (uint64_t)n);
	return 0;
}

static int task_bytes_row(void *arg, const char *kind, uint64_t progress, uint64_t moved)
{
	struct render *r = arg;
	sample(r->out, r->name, "kind", kind, NULL, NULL, progress);
	if (strcmp(kind, "import") == 0 || strcmp(kind, "copy") == 0)
		sample(r->out2, r->name2, "kind", kind, NULL, NULL, moved);
	return 0;
}

/* Appends the second family of a pair (written beside the first, row by
 * row) after the first, and empties it for the next pair. */
static void flush_second(struct fs_buf *out, struct fs_buf *second)
{
	if (second->failed)
		out->failed = true;
	if (second->len)
		fs_buf_put(out, second->p, second->len);
	second->len = 0;
}

/* What the database and the stores hold.  A family whose query fails is
 * left without samples and says why in a comment line. */
static void show_service(struct fs_ctx *ctx, struct fs_buf *out)
{
	struct region_names rn = {.n = 0};
	struct fs_buf second = {0};
	struct render r = {.out = out, .rn = &rn, .out2 = &second};
	int rc;

	if ((rc = model_region_list(ctx->m, 0, region_name_add, &rn)) < 0)
		fs_buf_printf(out, "# regions unavailable: %s\n", fs_errno_name(rc));

	family(out, "imgfs_chunk_cache_hits_total", "counter",
	       "Chunk reads the region's chunk cache served from memory, since the mount opened the store.");
	family(&second, "imgfs_chunk_cache_misses_total", "counter",
	       "Chunks the region's chunk cache read from the store (and verified), since the mount opened it.");
	r.name = "imgfs_chunk_cache_hits_total", r.name2 = "imgfs_chunk_cache_misses_total";
	model_stats_caches(ctx->m, cache_row, &r);
	flush_second(out, &second);

	family(out, "imgfs_stored_chunks", "gauge",
	       "Data chunks of the region's blobs, summed over blobs: a chunk that several blobs share (dedup) "
	       "counts once per blob; holes are not chunks.");
	family(&second, "imgfs_stored_bytes", "gauge",
	       "Bytes of those chunks, summed over blobs: dedup is not subtracted, so the store may hold less.");
	r.name = "imgfs_stored_chunks", r.name2 = "imgfs_stored_bytes";
	if ((rc = model_stats_blobs(ctx->m, blobs_row, &r)) < 0)
		fs_buf_printf(out, "# stored chunks unavailable: %s\n", fs_errno_name(rc));
	flush_second(out, &second);

	family(out, "imgfs_images", "gauge",
	       "Images by region and status (every account and folder, the recycle bin included).");
	if ((rc = model_stats_images(ctx->m, images_row, &r)) < 0)
		fs_buf_printf(out, "# images unavailable: %s\n", fs_errno_name(rc));
	else
		for (int i = 0; i < rn.n; i++)
			for (int s = MODEL_IMG_INVALID + 1; s < MODEL_IMG_STATUS_COUNT; s++)
				sample(out, "imgfs_images", "region", rn.name[i], "status", model_image_status_name(s),
				       r.images[i][s]);

	family(out, "imgfs_tasks", "gauge", "Background tasks in the queue by kind and state (finished ones are gone).");
	r.name = "imgfs_tasks";
	if ((rc = model_stats_tasks(ctx->m, tasks_row, &r)) < 0)
		fs_buf_printf(out, "# tasks unavailable: %s\n", fs_errno_name(rc));

	family(out, "imgfs_task_bytes_total", "counter",
	       "Bytes this mount's tasks went through, by kind: their progress, an image's virtual bytes "
	       "(holes included).");
	family(&second, "imgfs_moved_bytes_total", "counter",
	       "Bytes this mount's imports fetched and its copies placed in the target region's store (chunks "
	       "it already held not counted).");
	r.name = "imgfs_task_bytes_total", r.name2 = "imgfs_moved_bytes_total";
	model_task_bytes(ctx->m, task_bytes_row, &r);
	flush_second(out, &second);
	fs_buf_release(&second);
}

void fs_show_stats(struct fs_ctx *ctx, struct fs_buf *out)
{
	per_op(out, "imgfs_requests_total", "FUSE requests answered, by operation.", ctx->stats.requests);
	per_op(out, "imgfs_request_errors_total", "FUSE requests answered with an errno, by operation.",
	       ctx->stats.errors);
	per_errno(ctx, out);
	family(out, "imgfs_read_bytes_total", "counter",
	       "Bytes of image and instance disks that READ requests returned (the kernel's page cache serves "
	       "repeated reads of an image without a request; generated files are not counted).");
	sample(out, "imgfs_read_bytes_total", NULL, NULL, NULL, NULL,
	       atomic_load_explicit(&ctx->stats.read_bytes, memory_order_relaxed));
	family(out, "imgfs_cluster_reads_total", "counter",
	       "READ requests of cloud disks in the cluster answered with their bytes by the thread that took the "
	       "cluster's answer (an errno answer is counted in imgfs_request_errors_total only), "
	       "no FUSE thread waiting for the round trip (SPEC §12: small reads of an overlay, a patched chunk or a "
	       "stored chunk whose block digests are held).");
	sample(out, "imgfs_cluster_reads_total", NULL, NULL, NULL, NULL,
	       atomic_load_explicit(&ctx->stats.cluster_reads, memory_order_relaxed));
	family(out, "imgfs_cluster_writes_total", "counter",
	       "WRITE requests of cloud disks in the cluster that landed and were answered by the thread that took "
	       "the cluster's answer (an errno answer is counted in imgfs_request_errors_total only), "
	       "no FUSE thread waiting for the round trip (SPEC §12: small writes into an overlay or a patched "
	       "chunk's whole blocks).");
	sample(out, "imgfs_cluster_writes_total", NULL, NULL, NULL, NULL,
	       atomic_load_explicit(&ctx->stats.cluster_writes, memory_order_relaxed));
	family(out, "imgfs_written_bytes_total", "counter",
	       "Bytes WRITE requests stored into instance disks and uploads (control files are not counted).");
	sample(out, "imgfs_written_bytes_total", NULL, NULL, NULL, NULL,
	       atomic_load_explicit(&ctx->stats.written_bytes, memory_order_relaxed));
	family(out, "imgfs_upload_bytes_total", "counter",
	       "Bytes WRITE requests stored into uploads (SPEC §5.3), counted as they arrive, before the close.");
	sample(out, "imgfs_upload_bytes_total", NULL, NULL, NULL, NULL,
	       atomic_load_explicit(&ctx->stats.upload_bytes, memory_order_relaxed));
	family(out, "imgfs_copied_bytes_total", "counter",
	       "Bytes the daemon copied between buffers on their way into a store (a SHA-256 queue, a store "
	       "lane, a writable blob's stage): an upload's memory traffic per byte, the kernel's copies aside.");
	sample(out, "imgfs_copied_bytes_total", NULL, NULL, NULL, NULL, blob_copied_bytes());
	family(out, "imgfs_shared_bytes_total", "counter",
	       "Bytes COPY_FILE_RANGE requests put into instance disks by reference: whole chunks of a snapshot "
	       "or an image taken by id, none read or written (SPEC §16).");
	sample(out, "imgfs_shared_bytes_total", NULL, NULL, NULL, NULL,
	       atomic_load_explicit(&ctx->stats.shared_bytes, memory_order_relaxed));
	family(out, "imgfs_sha256_read_bytes_total", "counter",
	       "Virtual bytes of blobs this mount's tasks read back to hash them (SPEC §2.1 sha256): captures, "
	       "QCOW2 conversions, uploads written out of order, the upgrade's pass; uploads in order, copies "
	       "and raw conversions hash on the way in.");
	sample(out, "imgfs_sha256_read_bytes_total", NULL, NULL, NULL, NULL, ctx->m ? model_sha_read_bytes(ctx->m) : 0);
	fs_buf_printf(out,
	              "# HELP imgfs_db_statements_total Database statements run.\n"
	              "# TYPE imgfs_db_statements_total counter\n"
	              "imgfs_db_statements_total %" PRId64 "\n"
	              "# HELP imgfs_db_rows_total Rows the database produced for them.\n"
	              "# TYPE imgfs_db_rows_total counter\n"
	              "imgfs_db_rows_total %" PRId64 "\n"
	              "# HELP imgfs_db_write_transactions_total Write transactions begun (each holds the "
	              "database's write lock).\n"
	              "# TYPE imgfs_db_write_transactions_total counter\n"
	              "imgfs_db_write_transactions_total %" PRId64 "\n"
	              "# HELP imgfs_db_round_trips_total Network exchanges with the database server "
	              "(PostgreSQL; 0 for the embedded SQLite).\n"
	              "# TYPE imgfs_db_round_trips_total counter\n"
	              "imgfs_db_round_trips_total %" PRId64 "\n"
	              "# HELP imgfs_db_change_log_reads_total Reads of the change log by this mount's watcher "
	              "(at every commit anywhere but this mount's own quiet ones: a mkdir's).\n"
	              "# TYPE imgfs_db_change_log_reads_total counter\n"
	              "imgfs_db_change_log_reads_total %" PRId64 "\n",
	              ctx->m ? model_statements(ctx->m) : 0, ctx->m ? model_rows(ctx->m) : 0,
	              ctx->m ? model_writes(ctx->m) : 0, ctx->m ? model_round_trips(ctx->m) : 0,
	              ctx->m ? model_change_reads(ctx->m) : 0);
	fs_buf_printf(out,
	              "# HELP imgfs_db_unexpected_scan_rows_total Rows that statements not allowed to scan read "
	              "in full table scans (0 unless an index is missing).\n"
	              "# TYPE imgfs_db_unexpected_scan_rows_total counter\n"
	              "imgfs_db_unexpected_scan_rows_total %" PRId64 "\n",
	              ctx->m ? model_scan_steps(ctx->m) : 0);
	fs_inside_stats(ctx, out);
	fs_buf_printf(out,
	              "# HELP imgfs_inside_list_pages_total Pages of files/ directory listings asked of helpers "
	              "(each from where the last one ended: SPEC §18).\n"
	              "# TYPE imgfs_inside_list_pages_total counter\n"
	              "imgfs_inside_list_pages_total %" PRIu64 "\n"
	              "# HELP imgfs_inside_list_entries_total Entries of those pages given to the kernel.\n"
	              "# TYPE imgfs_inside_list_entries_total counter\n"
	              "imgfs_inside_list_entries_total %" PRIu64 "\n"
	              "# HELP imgfs_inside_list_read_total Entries those pages held, each with its inode's attributes "
	              "read by the helper (READDIRPLUS: at most 512 a readdir, and what its buffer holds: SPEC §18.7).\n"
	              "# TYPE imgfs_inside_list_read_total counter\n"
	              "imgfs_inside_list_read_total %" PRIu64 "\n"
	              "# HELP imgfs_inside_list_names_total Entries those pages held as names and types only, "
	              "no inode read (READDIR: ls -f, SPEC §18.7).\n"
	              "# TYPE imgfs_inside_list_names_total counter\n"
	              "imgfs_inside_list_names_total %" PRIu64 "\n",
	              (uint64_t)atomic_load(&ctx->stats.inside_list_pages),
	              (uint64_t)atomic_load(&ctx->stats.inside_list_entries),
	              (uint64_t)atomic_load(&ctx->stats.inside_list_read),
	              (uint64_t)atomic_load(&ctx->stats.inside_list_names));
	if (ctx->m)
		show_service(ctx, out);
}
