/*
 * migrate.c — `imgfs admin migrate --state DIR --to URL [--store
 * REGION=SPEC ...]` (SPEC §13, "moving up"): an embedded state (SQLite in
 * DIR, chunks under DIR/regions) becomes a service whose metadata is in
 * PostgreSQL, so its users keep their images when they outgrow one
 * machine.
 *
 * What moves, in one read transaction of the source (a consistent
 * snapshot; unmount it first — what changes after the snapshot stays
 * behind):
 *   - the chunk-id key: the target's (a chunk's id is keyed by it, so the
 *     stores' chunks keep their names); a target that already has another
 *     key holds another service and is refused;
 *   - every row of every table, ids kept (inode numbers derive from them:
 *     backups stay incremental across the move), with what a cluster
 *     needs recorded: each region's store (its directory in DIR, or the
 *     one --store names), the host of its instances and of the tasks that
 *     read this host's files (this machine: --host, default its name);
 *     running tasks back in the queue; the identity sequences moved past
 *     the ids;
 *   - quota usage (and its totals per main account) and share counts
 *     recomputed from the rows;
 *   - the chunks of a region given a --store other than its directory:
 *     every chunk copied (linked on one file system) and verified;
 *   - encrypted images (SPEC §17) as they are: their data keys' rows,
 *     wrapped as they were (the same key-encryption key opens them), and
 *     their sealed chunks by id, like any chunk — no key is needed.
 * The instances' disks and uploads in progress stay in DIR: they are this
 * host's (mount the service from DIR, -o host= this host).
 *
 * Run again after an interruption it goes on: rows are inserted with ON
 * CONFLICT DO NOTHING, chunks already there are not copied again.  `imgfs
 * admin fsck` answers for the target what it answered for the source.
 *
 * The rows are copied generically (every column of SELECT *, by name), so
 * both schemas must have the same columns (they do: schema_pg.c mirrors
 * schema_sqlite.c); a difference fails the copy with the column's name.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model_int.h"

/* Tables in an order that satisfies every foreign key. */
static const char *const tables[] = {
	"accounts", "regions", "data_keys", "blobs", "images", "devices", "snapshots", "instances",
	"instance_disks", "shares", "quotas", "tasks", "writers", "settings", "import_addresses",
	"download_links", "task_turns", "blob_holds", "image_props", "api_tokens", "api_tasks", "inspections",
	"snapshot_inspections", "early_got", "early_profiles",
};

struct migrate {
	struct db_conn *src, *dst;
	const char *dir;
	const char *host;
	const struct model_migrate_store *stores;
	int nstores;
	void (*say)(void *arg, const char *line);
	void *arg;
	struct model_err *err;
};

static void say(struct migrate *mg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct migrate *mg, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	if (!mg->say)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	mg->say(mg->arg, line);
}

/* An ad-hoc statement on a raw connection (its text built here). */
static int prepare(struct db_conn *c, struct model_sql *q, const char *text, db_stmt **out)
{
	*q = (struct model_sql){text, "migrate copies whole tables", __FILE__, __LINE__};
	return c->drv->prepare(c, q, out);
}

/* The --store named for region, or NULL. */
static const char *store_for(const struct migrate *mg, const char *region)
{
	for (int i = 0; i < mg->nstores; i++)
		if (strcmp(mg->stores[i].region, region) == 0)
			return mg->stores[i].store;
	return NULL;
}

/* One value of the row being copied, rewritten where a cluster needs
 * more than the embedded state recorded; NULL: as it is. */
static const char *rewrite(struct migrate *mg, const char *table, const char *col, db_stmt *row, char *buf,
                           size_t cap)
{
	if (strcmp(table, "regions") == 0 && strcmp(col, "store") == 0) {
		const char *given = NULL, *name = NULL;
		for (int i = 0; i < db_col_count(row); i++)
			if (strcmp(db_col_name(row, i), "name") == 0)
				name = db_col_text(row, i);
		const char *now = NULL;
		for (int i = 0; i < db_col_count(row); i++)
			if (strcmp(db_col_name(row, i), "store") == 0)
				now = db_col_text(row, i);
		if (name && (given = store_for(mg, name)))
			snprintf(buf, cap, "%s", given);
		else if (now && now[0])
			return NULL; /* a store named already */
		else
			snprintf(buf, cap, "dir:%s/regions/%s", mg->dir, name ? name : "");
		return buf;
	}
	if (strcmp(table, "instances") == 0 && strcmp(col, "host") == 0)
		return mg->host; /* every instance of an embedded state runs here */
	if (strcmp(table, "writers") == 0 && strcmp(col, "host") == 0)
		return mg->host; /* so are its writers (model/meta/writer.c) */
	if (strcmp(table, "tasks") == 0) {
		if (strcmp(col, "claimed_by") == 0)
			return ""; /* back in the queue: any host may resume it */
		if (strcmp(col, "state") == 0) {
			const char *s = NULL;
			for (int i = 0; i < db_col_count(row); i++)
				if (strcmp(db_col_name(row, i), "state") == 0)
					s = db_col_text(row, i);
			return s && strcmp(s, "running") == 0 ? "queued" : NULL;
		}
		if (strcmp(col, "host") == 0) {
			const char *kind = NULL;
			for (int i = 0; i < db_col_count(row); i++)
				if (strcmp(db_col_name(row, i), "kind") == 0)
					kind = db_col_text(row, i);
			/* Captures, uploads and imports read this host's files. */
			if (kind && (strcmp(kind, "capture") == 0 || strcmp(kind, "upload") == 0 ||
			             strcmp(kind, "import") == 0))
				return mg->host;
			return "";
		}
	}
	return NULL;
}

/* Copies one table, every row, ON CONFLICT DO NOTHING; the number of rows
 * the target did not have yet. */
static int copy_table(struct migrate *mg, const char *table, int64_t *added)
{
	struct model_sql qs, qi;
	char sel[128], ins[4096], val[MODEL_TEXT_MAX + 1];
	db_stmt *src = NULL, *dst = NULL;
	int rc, ncol = 0, batch = 0;

	*added = 0;
	snprintf(sel, sizeof(sel), "SELECT * FROM %s", table);
	if ((rc = prepare(mg->src, &qs, sel, &src)) < 0)
		return model_fail(mg->err, rc, "reading %s", table);
	if ((rc = mg->dst->drv->begin_write(mg->dst)) < 0)
		goto out;
	while ((rc = db_step(src)) == DB_ROW) {
		if (!dst) {
			size_t n = (size_t)snprintf(ins, sizeof(ins), "INSERT INTO %s(", table);
			ncol = db_col_count(src);
			for (int i = 0; i < ncol; i++)
				n += (size_t)snprintf(ins + n, sizeof(ins) - n, "%s%s", i ? ", " : "", db_col_name(src, i));
			n += (size_t)snprintf(ins + n, sizeof(ins) - n, ") VALUES (");
			for (int i = 0; i < ncol; i++)
				n += (size_t)snprintf(ins + n, sizeof(ins) - n, "%s?%d", i ? ", " : "", i + 1);
			n += (size_t)snprintf(ins + n, sizeof(ins) - n, ") ON CONFLICT DO NOTHING");
			if (n >= sizeof(ins)) {
				rc = -E2BIG;
				goto out;
			}
			if ((rc = prepare(mg->dst, &qi, ins, &dst)) < 0) {
				model_fail(mg->err, rc, "the database's %s has other columns than the state's", table);
				goto out;
			}
		}
		db_reset(dst);
		for (int i = 0; i < ncol; i++) {
			const char *v = rewrite(mg, table, db_col_name(src, i), src, val, sizeof(val));
			if (v) {
				db_bind_text(dst, i + 1, v);
				continue;
			}
			switch (db_col_type(src, i)) {
			case DB_INTEGER: db_bind_int64(dst, i + 1, db_col_int64(src, i)); break;
			case DB_BLOB: db_bind_blob(dst, i + 1, db_col_blob(src, i), db_col_bytes(src, i)); break;
			case DB_NULL: db_bind_null(dst, i + 1); break;
			default: db_bind_text(dst, i + 1, db_col_text(src, i)); break;
			}
		}
		if ((rc = db_step(dst)) < 0) {
			model_fail(mg->err, rc, "copying a row of %s: %s", table, strerror(-rc));
			goto out;
		}
		*added += mg->dst->drv->changes(mg->dst);
		/* A transaction per thousand rows: a rerun after an interruption
		 * loses at most that much work. */
		if (++batch == 1000) {
			if ((rc = mg->dst->drv->commit(mg->dst)) < 0 || (rc = mg->dst->drv->begin_write(mg->dst)) < 0)
				goto out;
			batch = 0;
		}
	}
	if (rc != DB_DONE)
		goto out;
	rc = mg->dst->drv->commit(mg->dst);
out:
	if (rc < 0)
		mg->dst->drv->rollback(mg->dst);
	if (dst)
		mg->dst->drv->finalize(dst);
	mg->src->drv->finalize(src);
	return rc < 0 ? rc : 0;
}

/* One statement on the target, its text built here. */
static int dst_exec(struct migrate *mg, const char *sql)
{
	int rc = mg->dst->drv->exec(mg->dst, sql);
	return rc < 0 ? model_fail(mg->err, rc, "the database refused: %.80s", sql) : 0;
}

/* One migrate at a time into a database: a session lock, held until this
 * process's connection ends.  A migrate killed during a statement leaves
 * the server running that statement to its end (it notices the lost
 * client only when it answers); the next migrate waits here for it
 * instead of racing it (seen: the recount's INSERT into usage of both). */
#define MIGRATE_LOCK_KEY "7596841836160576871" /* 'imgfs-mg' as an int8 */
static int migrate_lock(struct migrate *mg)
{
	return dst_exec(mg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")");
}

/* The source's chunk-id key as the target's; -EEXIST when the target has
 * another (it is another service). */
static int copy_secret(struct migrate *mg, const uint8_t key[BLOB_SECRET_SIZE])
{
	char hex[2 * BLOB_SECRET_SIZE + 1], sql[2 * BLOB_SECRET_SIZE + 128];
	struct model_sql q;
	db_stmt *st;
	int rc;
	for (size_t i = 0; i < BLOB_SECRET_SIZE; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	if ((rc = prepare(mg->dst, &q, "SELECT value FROM settings WHERE key = 'secret'", &st)) < 0)
		return rc;
	rc = db_step(st);
	bool other = rc == DB_ROW && strcmp(db_col_text(st, 0), hex) != 0;
	mg->dst->drv->finalize(st);
	if (rc < 0)
		return rc;
	if (other)
		return model_fail(mg->err, -EEXIST, "the database holds another service (its chunk-id key differs)");
	snprintf(sql, sizeof(sql), "INSERT INTO settings(key, value) VALUES ('secret', '%s') ON CONFLICT DO NOTHING",
	         hex);
	return dst_exec(mg, sql);
}

/* Each identity sequence past the ids the rows brought. */
static int move_sequences(struct migrate *mg)
{
	static const char *const with_ids[] = {"accounts", "regions", "data_keys", "blobs", "images", "snapshots",
	                                       "instances", "tasks", "writers", "changes", "api_tokens", "api_tasks",
	                                       "early_got"};
	char sql[256];
	int rc;
	for (size_t i = 0; i < sizeof(with_ids) / sizeof(with_ids[0]); i++) {
		const char *col =
		    strcmp(with_ids[i], "changes") == 0 || strcmp(with_ids[i], "early_got") == 0 ? "seq" : "id";
		snprintf(sql, sizeof(sql),
		         "SELECT setval(pg_get_serial_sequence('%s', '%s'), GREATEST((SELECT max(%s) FROM %s), 1))",
		         with_ids[i], col, col, with_ids[i]);
		if ((rc = dst_exec(mg, sql)) < 0)
			return rc;
	}
	return 0;
}

/* Usage and share counts from the rows (the triggers counted the shares
 * once more on top of the copied counts). */
static int recount(struct migrate *mg)
{
	int rc;
	/* usage_totals follow usage by its triggers (roles.c): emptied with
	 * it, they are made again by the inserts, each row to its payer. */
	if ((rc = dst_exec(mg, "DELETE FROM usage")) < 0 || (rc = dst_exec(mg, "DELETE FROM usage_totals")) < 0 ||
	    (rc = dst_exec(mg, "INSERT INTO usage SELECT account_id, region_id, 1, count(*) FROM images WHERE folder = 3 "
	                       "GROUP BY account_id, region_id")) < 0 ||
	    (rc = dst_exec(mg, "INSERT INTO usage SELECT account_id, region_id, 2, count(*) FROM snapshots "
	                       "GROUP BY account_id, region_id")) < 0 ||
	    (rc = dst_exec(mg, "INSERT INTO usage SELECT s.account_id, i.region_id, 3, count(*) FROM shares s JOIN "
	                       "images i ON i.id = s.image_id WHERE s.status != 3 GROUP BY s.account_id, i.region_id")) < 0)
		return rc;
	return dst_exec(mg, "UPDATE images SET shares = (SELECT count(*) FROM shares WHERE image_id = images.id)");
}

/* A writers row on the target for what move_chunks places in region's
 * store (model/meta/writer.c: a gc of the cluster meanwhile keeps it);
 * *id_out 0 when none could be made (the rows copied name every chunk a
 * manifest needs: only what no manifest names is then left to gc). */
static void writer_begin(struct migrate *mg, const char *region, int64_t *id_out)
{
	struct model_sql q;
	db_stmt *st;
	char runner[MODEL_RUNNER_ID_MAX];
	*id_out = 0;
	if (model_runner_id(mg->host, runner) < 0 ||
	    prepare(mg->dst, &q,
	            "INSERT INTO writers(region_id, host, runner, what, since_ns) SELECT id, ?1, ?2, 'migrate', ?3 "
	            "FROM regions WHERE name = ?4 RETURNING id",
	            &st) < 0)
		return;
	db_bind_text(st, 1, mg->host);
	db_bind_text(st, 2, runner);
	db_bind_int64(st, 3, model_now_ns());
	db_bind_text(st, 4, region);
	if (db_step(st) == DB_ROW)
		*id_out = db_col_int64(st, 0);
	mg->dst->drv->finalize(st);
}

static void writer_end(struct migrate *mg, int64_t id)
{
	struct model_sql q;
	db_stmt *st;
	if (id && prepare(mg->dst, &q, "DELETE FROM writers WHERE id = ?1", &st) == 0) {
		db_bind_int64(st, 1, id);
		db_step(st);
		mg->dst->drv->finalize(st);
	}
}

/* The chunks of every region given a store of its own. */
static int move_chunks(struct migrate *mg, const uint8_t key[BLOB_SECRET_SIZE])
{
	for (int i = 0; i < mg->nstores; i++) {
		const char *spec = mg->stores[i].store, *region = mg->stores[i].region;
		char from[PATH_MAX], why[PATH_MAX] = "";
		blob_store *src = NULL, *dst = NULL;
		uint64_t placed = 0;
		int64_t writer;
		int rc;
		snprintf(from, sizeof(from), "%s/regions/%s", mg->dir, region);
		if (strncmp(spec, "dir:", 4) == 0 && strcmp(from, spec + 4) == 0)
			continue;
		writer_begin(mg, region, &writer);
		/* The target as a mount will open it (a dir:PATH or a RADOS pool,
		 * whose unsealed blobs stay in the region's directory here). */
		if ((rc = blob_store_open(&src, from, key)) < 0 ||
		    (rc = blob_store_open_spec(&dst, spec, from, region, key, why, sizeof(why))) < 0 ||
		    (rc = blob_store_copy_all(dst, src, &placed)) < 0)
			model_fail(mg->err, rc, "region %s: moving its chunks to %s: %s", region, spec,
			           why[0] ? why : strerror(-rc));
		blob_store_close(src);
		blob_store_close(dst);
		writer_end(mg, writer);
		if (rc < 0)
			return rc;
		say(mg, "region %s: %llu chunks placed in %s", region, (unsigned long long)placed, spec);
	}
	return 0;
}

int model_migrate(const char *state_dir, const char *db_url, const char *host,
                  const struct model_migrate_store *stores, int nstores,
                  void (*say_fn)(void *arg, const char *line), void *arg, struct model_err *err)
{
	struct migrate mg = {NULL, NULL, NULL, host, stores, nstores, say_fn, arg, err};
	uint8_t key[BLOB_SECRET_SIZE];
	char path[PATH_MAX], *dir = NULL;
	int rc;

	if (!(dir = realpath(state_dir, NULL)))
		return model_fail(err, -errno, "state directory %s: %s", state_dir, strerror(errno));
	mg.dir = dir;
	/* dir:PATH stores are checked here, RADOS pools once the key that
	 * names their owner is loaded. */
	for (int i = 0; i < nstores; i++) {
		char spec[MODEL_TEXT_MAX + 1];
		if (strncmp(stores[i].store, "rados:", 6) != 0 &&
		    (rc = model_store_spec(NULL, stores[i].region, stores[i].store, spec, err)) < 0)
			goto out;
	}
	snprintf(path, sizeof(path), "%s/imgfs.db", dir);
	if (access(path, F_OK) != 0) {
		rc = model_fail(err, -ENOENT, "%s holds no imgfs state (no imgfs.db)", dir);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/secret", dir);
	if ((rc = blob_secret_load_or_create(key, path)) < 0) {
		model_fail(err, rc, "the chunk-id key %s: %s", path, strerror(-rc));
		goto out;
	}
	for (int i = 0; i < nstores; i++) {
		char why[PATH_MAX];
		if (strncmp(stores[i].store, "rados:", 6) == 0 &&
		    (rc = blob_store_check_spec(stores[i].store, stores[i].region, key, why, sizeof(why))) < 0) {
			model_fail(err, rc, "--store %s=%s: %s", stores[i].region, stores[i].store, why);
			goto out;
		}
	}
	snprintf(path, sizeof(path), "%s/imgfs.db", dir);
	if ((rc = db_sqlite.open(&mg.src, path, err)) < 0 || (rc = db_sqlite.schema(mg.src)) < 0 ||
	    (rc = db_postgres.open(&mg.dst, db_url, err)) < 0 || (rc = migrate_lock(&mg)) < 0 ||
	    (rc = db_postgres.schema(mg.dst)) < 0) {
		if (err && !err->msg[0])
			model_fail(err, rc, "cannot set up the databases: %s", strerror(-rc));
		goto out;
	}
	/* One snapshot of the source for everything. */
	if ((rc = mg.src->drv->begin_read(mg.src)) < 0 || (rc = copy_secret(&mg, key)) < 0)
		goto out;
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		int64_t added;
		if ((rc = copy_table(&mg, tables[t], &added)) < 0)
			goto out;
		say(&mg, "%s: %lld rows moved", tables[t], (long long)added);
	}
	if ((rc = move_sequences(&mg)) < 0 || (rc = recount(&mg)) < 0 || (rc = move_chunks(&mg, key)) < 0)
		goto out;
	rc = dst_exec(&mg, "INSERT INTO settings(key, value) VALUES ('initialised', '1') ON CONFLICT DO NOTHING");
out:
	if (mg.src) {
		mg.src->drv->rollback(mg.src);
		mg.src->drv->close(mg.src);
	}
	if (mg.dst)
		mg.dst->drv->close(mg.dst);
	free(dir);
	return rc;
}
