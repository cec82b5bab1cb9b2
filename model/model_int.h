/*
 * model_int.h — what the model's source files share and nobody else sees:
 * the model struct, per-thread database connections with a
 * prepared-statement cache, transactions, and the stepping helpers.  The
 * database engine itself is behind a driver (db/db.h).
 *
 * Locks of model/ (each a leaf, level 54 of include/imgfs_lock.h: it
 * guards a few pointers or a small table, and nothing else is taken while
 * it is held, a database call least of all; SQLite's commits_lock too):
 *   model.lock              conns, stores[], regions[] and keys (below);
 *                           a store is opened outside it (state.c)
 *   model_row_cache.lock    the image row cache's entries (image.c)
 *   model_keys.lock         the KEK and the data keys opened (keys.c);
 *                           it drops key references, which are atomics
 * Callers above may hold their own locks across a model call (fs/fuse's
 * disk locks: fs/fuse/fs.h, "locks"); the model never calls up.
 */
#ifndef IMGFS_MODEL_INT_H
#define IMGFS_MODEL_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "db.h"
#include "imgfs_lock.h"
#include "model.h"

#define MODEL_MAX_REGIONS 4096
#define MODEL_TASK_KINDS 8 /* at least kinds.c's task_kinds[] */

struct task_kind; /* model/task/task_int.h */

struct model {
	char *dir;                     /* state directory */
	char host[MODEL_HOST_MAX + 1]; /* the host this process acts for (host.c) */
	bool cluster;                  /* several hosts may share the database (§13) */
	const struct db_driver *drv;   /* the database's driver */
	char *db_target;               /* what drv->open takes: <dir>/imgfs.db */
	atomic_int_fast64_t scan_steps;/* rows read by unexpected full scans (db.h) */
	atomic_int_fast64_t statements;/* statements run (model_stmt) */
	atomic_int_fast64_t rows;      /* rows the database produced for them */
	atomic_int_fast64_t writes;    /* write transactions begun (model_write_begin) */
	atomic_int_fast64_t round_trips; /* exchanges with a database server (db.h) */
	atomic_int_fast64_t change_wakes; /* model_changes_wait woken by this process's commit */
	atomic_uint_fast64_t changes_logged; /* change-log rows this process wrote (changes.c) */
	atomic_int imports_here;       /* import tasks this process runs (task.c) */
	atomic_int running_here;       /* tasks of any kind this process runs (task.c) */
	atomic_int checksums_here;     /* checksum passes this process runs: at most one (checksum.c) */
	atomic_int inspects_here;      /* inspections this process runs: at most one (inspect.c) */
	struct { model_inspector_fn fn; void *arg; } inspector; /* the mount's, set before the workers; fn NULL: none */
	atomic_uint_fast64_t task_bytes[MODEL_TASK_KINDS];  /* progress of this process's tasks, by kind (task.c) */
	atomic_uint_fast64_t moved_bytes[MODEL_TASK_KINDS]; /* bytes they moved: fetched by imports, placed by copies */
	/* virtual bytes of blobs read back to hash them (§2.1: task.c, checksum.c) */
	atomic_uint_fast64_t sha_read_bytes;
	unsigned workers;              /* its task workers (model_set_workers) */
	/* The kinds of task (kinds.c: task_kinds_all), set by model_open: the
	 * engine (task.c) reaches the kinds only through them. */
	const struct task_kind *task_kinds;
	size_t task_nkinds;
	uint8_t secret[BLOB_SECRET_SIZE];
	pthread_key_t conn_key;        /* -> struct model_conn of this thread */
	pthread_mutex_t lock;          /* guards conns, stores, regions, parked */
	struct model_conn *conns;      /* every open connection, for close */
	blob_store *stores[MODEL_MAX_REGIONS]; /* by region id */
	/* A checksum pass that gave its worker back in a blob's middle: its
	 * hashes so far, taken up where it stopped by the next run of that
	 * task in this process (checksum.c).  One: one pass runs at a time. */
	struct {
		int64_t task_id, blob_id;
		blob_digest *d;
	} parked;
	/* Regions read so far, by id (account.c): a region's row never changes
	 * but for its mtime, and no region is ever removed. */
	struct model_region *regions[MODEL_MAX_REGIONS];
	/* model_set_log (log.c): where model_log lines go. */
	void (*log_fn)(void *arg, const char *line);
	void *log_arg;
	struct model_row_cache *rows_cache; /* image.c; NULL: every read asks the database */
	/* Bumped after anything may have changed a row the cache holds: a
	 * commit of this process, a statement that writes (db.h), a commit of
	 * another one as the watcher learns it (model_changes_wait). */
	atomic_int_fast64_t rows_gen;
	int64_t swept_at;              /* unix seconds of the last model_wblobs_sweep (upload.c) */
	struct model_keys *keys;       /* the KEK and the data keys opened (keys.c); NULL until needed */
};
IMGFS_LOCK_LEVEL(model_lock, 54); /* a leaf (above) */

/* More slots than model/ has statements (about 150): once the cache is
 * full, model_stmt fails every statement not in it yet. */
#define MODEL_STMT_CACHE 512
struct model_conn {
	struct db_conn *db;
	const struct db_driver *drv;
	model *m;
	struct model_conn *next, *prev;
	struct {
		const struct model_sql *sql; /* keyed by the registry record's address */
		db_stmt *st;
	} cache[MODEL_STMT_CACHE];
	int depth;               /* transaction nesting */
	int read_depth;          /* model_read_begin nesting */
	bool read_open;          /* a read transaction is open (db.c) */
};

/* The per-thread connections of a model: set up at open, all closed at
 * close (db.c). */
int model_conns_init(model *m);
void model_conns_close(model *m);
/* The calling thread's connection (opened on first use). */
int model_conn_get(model *m, struct model_conn **out);
/* The admin's import address rules (rules/import_addresses.c) for
 * fetch_req.rules: a malloc'd array the caller frees. */
struct fetch_rule;
int model_import_addresses_load(model *m, struct fetch_rule **rules, size_t *n);
/* The cached, reset statement of this connection for sql (written as
 * SQL("...")); NULL on error (logged). */
db_stmt *model_stmt(struct model_conn *c, const struct model_sql *sql);
/* Steps an INSERT ... RETURNING id: *id_out gets the new row's id (one
 * round trip for PostgreSQL, not a second statement).  Resets it. */
int model_insert(db_stmt *st, int64_t *id_out);
/* Steps a statement that returns no rows; 0 or -errno.  Resets it. */
int model_exec_stmt(db_stmt *st);
/* The same for a statement inside a write transaction whose failure may be
 * reported by the transaction's next statement or its commit instead
 * (db_driver.defer: PostgreSQL sends it with them).  For the writes that
 * end a transaction and decide nothing: the change log, a listing's time. */
int model_exec_deferred(db_stmt *st);
/* Sends st ahead inside a write transaction (db_driver.send): 1, and its
 * first db_step, even after the commit, reads its result.  Where the
 * driver has no such thing (SQLite) st runs now and the result of that
 * first step is returned (DB_ROW, DB_DONE or -errno): read the row, reset.
 * So what follows st in the transaction must not depend on its outcome
 * but in SQL.  A step after a commit that succeeded although its answer
 * was lost with the connection (db.h: commit) is -ESTALE: st ran, but its
 * rows are gone; read what it made anew. */
int model_send(db_stmt *st);
/* Steps st calling row(arg, st) for each row; stops at the first non-zero
 * value and returns it (a callback's "stop" is never taken for an SQLite
 * code).  0 after the last row, -errno on an SQLite error.  Resets st. */
int model_each_row(db_stmt *st, int (*row)(void *arg, db_stmt *st), void *arg);
/* Listings read in pages: a statement whose last parameter is the key to
 * start after and that ends "ORDER BY <key> " MODEL_PAGE_SQL, run again
 * from the last key until row(arg, st) returns non-zero (returned) or a
 * page comes back short.  params: the statement's integer parameters, the
 * start key last; key_col: the key's column.  (A listing's cost follows
 * what the caller takes, never the table: PostgreSQL sends a whole result
 * at once.) */
#define MODEL_PAGE 64
#define MODEL_PAGE_SQL "LIMIT 64"
int model_each_page(struct model_conn *c, const struct model_sql *sql, const int64_t *params, int nparams,
                    int key_col, int (*row)(void *arg, db_stmt *st), void *arg);
/* Steps st once: fill(st, out) and 0 for a row, -ENOENT for none, -errno
 * on an SQLite error.  Resets st. */
int model_one_row(db_stmt *st, void (*fill)(db_stmt *st, void *out), void *out);
/* Prepares the literal sql on this thread's connection, binds one text
 * (when not NULL) or number parameter, and fetches one row (model_one_row). */
int model_fetch_one(model *m, const struct model_sql *sql, const char *text, int64_t num,
                    void (*fill)(db_stmt *st, void *out), void *out);
/* Executes plain SQL (no parameters). */
int model_exec(struct model_conn *c, const char *sql);

/* The kinds of background task (model/task/kinds.c) and how many. */
const struct task_kind *task_kinds_all(size_t *n);

/* Write transactions (db.c), the one way to write: this thread's
 * connection with a write transaction begun (BEGIN IMMEDIATE; nested in
 * the thread's open one, where the outermost end decides), err cleared
 * (may be NULL).  Every writer leaves through one label:
 *	out:
 *	return model_write_end(c, rc, err);
 * rc >= 0 commits and returns 0 — a failed commit rolls back and returns
 * its -errno (-EIO, -EBUSY...) with "database: <strerror>" in err; rc < 0
 * rolls back and returns rc, with err's reason when a step gave one (a
 * refusal) and "database: <strerror>" when none did.  Nothing else may
 * commit or roll back. */
int model_write_begin(model *m, struct model_conn **out, struct model_err *err);
int model_write_end(struct model_conn *c, int rc, struct model_err *err);
/* The one way a database failure rc is told: "database: <strerror>" in err
 * (may be NULL); returns rc. */
int model_fail_db(struct model_err *err, int rc);

/* The columns model_image_row reads, of the images row p ("i.") and its owner's
 * name (the expression owner). */
#define MODEL_IMAGE_FIELDS_OF(p, owner)                                                                          \
	p "id, " p "ext_id, " p "region_id, " p "account_id, " owner ", " p "folder, " p "name, " p "status, " \
	p "progress, " p "type, " p "format, " p "os_type, " p "platform, " p "version, " p "arch, "           \
	p "boot_mode, " p "features, " p "description, " p "tags, " p "source, " p "error, " p "encrypted, "   \
	p "size, " p "created, " p "mtime_ns, " p "ctime_ns, " p "deleted_at, " p "dir_mtime_ns, "             \
	p "description_ns, " p "tags_ns, " p "error_ns, " p "dir_gen, " p "origin_id, " p "origin_kind, "        \
	p "project, " p "project_ns, " p "key_id, " p "uuid, " p "title, " p "disk_format, " p "container_format, "  \
	p "min_disk, " p "min_ram, " p "gflags, "                                                          \
	"(SELECT count(*) FROM image_props pr WHERE pr.image_id = " p "id)"
#define MODEL_IMAGE_FIELDS MODEL_IMAGE_FIELDS_OF("i.", "COALESCE(a.name, 'platform')")
#define MODEL_IMAGE_NFIELDS 45 /* the columns model_image_row reads */
#define MODEL_IMAGE_FROM "FROM images i LEFT JOIN accounts a ON a.id = i.account_id "
#define MODEL_IMAGE_COLS MODEL_IMAGE_FIELDS " " MODEL_IMAGE_FROM

/* Reads an image row of MODEL_IMAGE_FIELDS into img (image.c). */
void model_image_row(db_stmt *st, struct model_image *img);
/* Accounts (account.c, roles.c).  The columns model_account_row reads, of
 * "accounts a" (has_subs: an index probe of accounts_parent). */
#define MODEL_ACCOUNT_COLS                                                                                 \
	"a.id, a.name, a.uid, a.admin, a.parent_id, CASE WHEN EXISTS (SELECT 1 FROM accounts s WHERE "      \
	"s.parent_id = a.id) THEN 1 ELSE 0 END, a.created, a.encrypt_default FROM accounts a "
void model_account_row(db_stmt *st, struct model_account *a);
/* A row callback (model_each_row, model_each_page) that reads each row
 * with model_account_row and calls cb(arg, account); arg: this struct. */
struct model_account_cb {
	int (*cb)(void *arg, const struct model_account *a);
	void *arg;
};
int model_account_each(void *arg, db_stmt *st);
/* Account name read into out (in the caller's transaction, if any): 0, or
 * -ENOENT "no account NAME", or another -errno. */
int model_account_named(model *m, const char *name, struct model_account *out, struct model_err *err);
/* The main account a sub-account may be put under (parent, by name):
 * -ENOENT "no account P", -EINVAL for an administrator or a sub-account. */
int model_account_main_check(model *m, const char *parent, struct model_account *out, struct model_err *err);
/* Inside the caller's transaction: an account was added, removed or given
 * another role — the tenants/ listings' time (model_accounts_mtime) and a
 * change every mount's watcher reads (MODEL_CHANGE_ACCOUNT). */
int model_accounts_changed(struct model_conn *c, int64_t account_id);
/* "a, b, c" (and "and N more") of main_id's sub-accounts, for a refusal. */
void model_account_subs_named(model *m, int64_t main_id, char *out, size_t cap);
/* The account whose quotas account id `a` (an SQL expression) counts
 * against (SPEC §16): its main account when it is a sub-account, else
 * itself.  One primary-key probe. */
#define MODEL_SQL_PAYER(a) "COALESCE((SELECT NULLIF(parent_id, 0) FROM accounts WHERE id = " a "), " a ")"

/* Settings (meta/settings.c): the value of key into out (cap bytes,
 * truncated): 1, or 0 when unset (out untouched), or -errno. */
int model_setting_get(model *m, const char *key, char *out, size_t cap);
/* The value of key as a whole number >= min; def when unset, unreadable
 * or not such a number. */
int64_t model_setting_int(model *m, const char *key, int64_t min, int64_t def);
/* Sets key inside the caller's write transaction c: 0 or -errno. */
int model_setting_put(struct model_conn *c, const char *key, const char *value);
/* Sets key in a write transaction of its own: 0 or -errno. */
int model_setting_set(model *m, const char *key, const char *value, struct model_err *err);
int model_setting_set_int(model *m, const char *key, int64_t value, struct model_err *err);

/* Rows the last INSERT, UPDATE or DELETE of c changed (a new row's id
 * comes back from INSERT ... RETURNING: model_insert). */
int64_t model_changes(struct model_conn *c);

/* Ad-hoc SQL for the unit tests (not in the statement registry): runs one
 * statement on the calling thread's connection; model_sql_int reads the
 * first column of its first row (-ENOENT: no row). */
int model_sql_exec(model *m, const char *sql);
int model_sql_int(model *m, const char *sql, int64_t *out);

/* Binds a text or NULL. */
int model_bind_text(db_stmt *st, int i, const char *s);
/* Copies column text into a fixed buffer (truncating, always NUL-terminated). */
void model_col_text(db_stmt *st, int i, char *out, size_t cap);

/* A line for the daemon's log (model_set_log), e.g. what a copy moved. */
void model_log(model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Task runners (host.c): "<host>/<pid>:<start time>" of this process, and
 * whether a runner is alive (this host: its process; another: its lease),
 * asked in c's transaction. */
#define MODEL_RUNNER_ID_MAX (MODEL_HOST_MAX + 48)
int model_runner_self(model *m, char out[MODEL_RUNNER_ID_MAX]);
/* The same for this process acting for host (migrate, which has no model). */
int model_runner_id(const char *host, char out[MODEL_RUNNER_ID_MAX]);
/* Whether a task whose runner is `runner` ("" for none) and that is bound
 * to host `bound` ("" for any) has nobody to run it now (host.c): 1 with
 * host_out the runner's (else the bound) host and *since_out when that
 * began (a lease's lapse; for a dead process of this host, `updated`), 0
 * with host_out set, -errno. */
int model_task_orphaned(struct model_conn *c, const char *runner, const char *bound, int64_t updated,
                        char host_out[MODEL_HOST_MAX + 1], int64_t *since_out);
bool model_runner_alive(struct model_conn *c, const char *id);
bool model_host_alive(struct model_conn *c, const char *host); /* lease current; cannot tell: true */

/* Writers of chunks (writer.c).  In the caller's transaction: a row for
 * this process writing into region_id's store (task_id 0: not a task's);
 * *id_out may be NULL. */
int model_writer_insert(struct model_conn *c, int64_t region_id, int64_t task_id, const char *what,
                        int64_t *id_out);
/* In a claim's transaction: task_id's row, made now (since: now) if the
 * task has none, else its runner recorded (its since kept). */
int model_writer_claimed(struct model_conn *c, int64_t task_id, const char *runner);
/* gc: lowers *not_after (unix seconds) below what the writers of region_id
 * in progress may still name, report(arg, line) for each; their number. */
int model_writers_cut(model *m, int64_t region_id, const char *region, int64_t *not_after,
                      void (*report)(void *arg, const char *line), void *arg);

/* Steps st, an "INSERT ... ON CONFLICT ... DO NOTHING RETURNING ..."
 * whose first parameter is the new row's external id, with every other
 * parameter bound: draws ids (prefix — "img-", "snap-", "i-" — and 8 hex
 * digits; ext) until the row goes in, one statement each (no probe
 * first), at most 64 (-EEXIST); fill(st, arg) reads what it returned
 * (model_fill_id: the id into an int64_t).  Resets st. */
int model_insert_ext(db_stmt *st, const char *prefix, char ext[16], void (*fill)(db_stmt *st, void *arg),
                     void *arg);
/* A new image's id in the image API (SPEC §19): a random version 4 UUID,
 * lowercase, 36 characters.  0 or -EIO. */
int model_uuid_new(char out[37]);
/* A random external id: prefix and 8 hex digits (model_insert_ext's). */
int model_draw_ext_id(char out[16], const char *prefix);
/* A fill for model_fetch_one or model_insert_ext: the first column, an
 * int64_t (an id, a time), into *(int64_t *)out. */
void model_fill_id(db_stmt *st, void *out);

/* The store spec to record for a new region (state.c): store as given
 * (checked), or the default for this service (NULL). */
int model_store_spec(model *m, const char *region, const char *store, char out[MODEL_TEXT_MAX + 1],
                     struct model_err *err);

/* Region creation inside a transaction (catalogue.c). */
int model_catalogue_install(model *m, int64_t region_id, struct model_err *err);
/* The SHA-256 of catalogue image `name`'s disk, written down in
 * catalogue.c; NULL for a name the catalogue does not have. */
const char *model_catalogue_sha256(const char *name);

/* Data keys of encrypted images (keys.c, SPEC §17).  The context of data
 * key key_id (0: *out NULL, plain): a reference the caller unrefs.
 * -EACCES with the reason when this process has no KEK or not the one
 * that wrapped it, -EIO when its row is damaged. */
int model_key_get(model *m, int64_t key_id, blob_key **out, struct model_err *err);
/* Whether this process can open key_id (0: yes), for a task's claim. */
bool model_key_usable(struct model_conn *c, int64_t key_id);
/* In c's write transaction: a new data key, wrapped by this process's KEK
 * (which becomes the service's of record if it has none): its id.
 * -EACCES with the reason without a KEK or with another than the
 * service's. */
int model_key_new(struct model_conn *c, int64_t *id_out, struct model_err *err);
/* At close: the KEK wiped, the contexts dropped. */
void model_keys_free(model *m);
/* In c's write transaction: the data key img's blobs are sealed under —
 * 0 for a plain image, its key_id when it has one, else a new one
 * (model_key_new) recorded as its lineage's (images.key_id). */
int model_image_key_ensure(struct model_conn *c, const struct model_image *img, int64_t *key_id,
                           struct model_err *err);

/* Blob rows (blob.c). */
int model_blob_insert_sealed(struct model_conn *c, int64_t region_id, const blob_manifest *man, const char *xxh128,
                             int64_t key_id, int64_t *id_out);

/* The seeds' limit of key k (0 for MODEL_QUOTA_INVALID): what applies when
 * the admin set none (quota.c). */
int64_t model_quota_default(enum model_quota_key k);
/* Quota check inside a transaction: -EDQUOT when adding `adding` would
 * exceed (quota.c). */
int model_quota_check(struct model_conn *c, int64_t account_id, int64_t region_id, enum model_quota_key key,
                      int64_t adding, struct model_err *err);

/* Appends to the change log inside the caller's transaction (changes.c).
 * old_name: the entry that went away (rename, removal), or NULL. */
int model_log_change(struct model_conn *c, enum model_change_kind kind, int64_t obj, int64_t region_id,
                     enum model_folder folder, const char *old_name);
/* The same for the image an insert sent ahead (model_send) made, if it
 * made one: the one whose ext_id and ctime_ns these are. */
int model_log_image_inserted(struct model_conn *c, const char *ext_id, int64_t ctime_ns);

/* Marks the (region, account, folder) listing as changed now. */
int model_touch_region(struct model_conn *c, int64_t region_id);

/* Lifecycle helpers (snapshot.c), inside the caller's transaction.
 * Deletes the blob row unless a device, snapshot, instance disk or hold
 * (a copy by reference, blob.c) still references it; 1 when deleted, 0
 * when kept.  What it held is released first.  The caller removes a wblob
 * the row named, after its commit. */
int model_blob_drop_unreferenced(struct model_conn *c, int64_t blob_id);
/* The destruction of an image (recycle.c, SPEC §16 "deleting"), in the
 * caller's transaction: its shares, its devices, the blob rows only it
 * used and the snapshots no other image references go; the image's row
 * stays (deleting) until the destroy task has freed the chunks. */
int model_image_strip(model *m, struct model_conn *c, const struct model_image *img);
/* Queues the destroy task of img (model/task/destroy.c), in the caller's
 * transaction (model_image_destroy's, which made it deleting). */
int model_destroy_queue(struct model_conn *c, const struct model_image *img);
/* Seconds two hosts' clocks may differ (NTP keeps them far closer), and
 * how old a chunk's stamp must be before anything may remove it unless it
 * is sure no writer relies on it: a writer that finds a chunk stored
 * refreshes its stamp only when it is older than BLOB_STAMP_FRESH, so a
 * younger one may be in use by a writer that started after its check
 * (writer.c, fsck.c). */
#define MODEL_CLOCK_SKEW 60
#define MODEL_STAMP_MARGIN (BLOB_STAMP_FRESH + MODEL_CLOCK_SKEW)
/* gc of the chunks ids only (fsck.c): each that no manifest of the region
 * names any more and no writer may rely on — none stamped in the last
 * MODEL_STAMP_MARGIN seconds, nor since the oldest writer's start minus
 * that (model_writers_cut) — is removed, with gc's rules
 * (blob_store_gc_ids). */
int model_gc_chunks(model *m, int64_t region_id, const chunk_id *ids, size_t n, uint64_t *removed_out);
/* The SHA-256 of the blob being made with manifest man, found without
 * reading it (blob.c): a blob with the same manifest — src_blob (a raw
 * conversion's or a copy's source; 0 none) or one holder took by
 * reference (an upload's; 0 none) — whose SHA-256 is known.  1 (out set),
 * 0 (not found), -errno. */
int model_blob_sha256_reuse(model *m, int64_t src_blob, int64_t holder, const blob_manifest *man, char out[65]);
/* The same for the XXH3-128 (§2.3), kept in the clear as the column is.
 * 1 (out set), 0 (not found), -errno. */
int model_blob_xxh128_reuse(model *m, int64_t src_blob, int64_t holder, const blob_manifest *man, char out[33]);
/* Records a blob's SHA-256 hashed on its way in (an import), on its own;
 * best effort (blob.c). */
void model_blob_set_sha256(model *m, int64_t blob_id, const char *sha256);
/* Image id for a change its owner may make only before its data comes
 * (image.c): a private or ISO image, queued.  -ENOENT, or -EPERM, with the
 * reason. */
int model_image_get_queued(model *m, int64_t id, struct model_image *img, struct model_err *err);
/* In c's transaction, a change to img that model_image_get_queued allowed:
 * st (NULL: it did not prepare) an UPDATE of its row whose ?1 the caller
 * bound, ?2 the time, ?3 its id and ?4 the status it must still have
 * (queued); run, and the change logged.  0 or -errno. */
int model_image_queued_update(struct model_conn *c, db_stmt *st, const struct model_image *img);
/* A SHA-256 (64 hex digits, or "") as the database keeps it for blob_id
 * (blob.c): as it is for a plain blob, sealed under the blob's data key
 * for an encrypted one (SPEC §17: no hash of an encrypted disk's
 * plaintext in the database).  0, or -errno with out "" (unknown) when it
 * cannot be sealed here. */
int model_sha256_seal(model *m, int64_t blob_id, const char *hex, char out[MODEL_SHA_STORED]);
/* The SHA-256 stored (either form) of a blob of data key key_id, as 64
 * hex digits: "" when it is unknown or this process cannot open it. */
void model_sha256_open(model *m, int64_t key_id, const char *stored, char out[65]);
/* The same for a whole-blob XXH3-128 (32 hex digits: SPEC §2.3, which
 * would name a known file as well as a SHA-256 would). */
int model_xxh128_seal(model *m, int64_t blob_id, const char *hex, char out[MODEL_SHA_STORED]);
void model_xxh128_open(model *m, int64_t key_id, const char *stored, char out[33]);
/* Lets go of every blob holder holds (blob.c), each dropped in turn once
 * nothing else keeps it: when the holder's row goes, or at its seal, once
 * its own manifest names what it kept.  0 or -errno. */
int model_blob_release_holds(struct model_conn *c, int64_t holder);
/* Deletes a snapshot row, its blob row unless referenced elsewhere, and
 * logs the change (old name: the ext id). */
int model_snapshot_delete_row(struct model_conn *c, const struct model_snapshot *s);

#endif
