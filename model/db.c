/*
 * db.c — opening a state directory, per-thread SQLite connections, the
 * prepared-statement cache, transactions and the SQLite → errno mapping.
 *
 * Every thread that touches the model gets its own connection (WAL mode:
 * readers run concurrently with one writer, across processes too).  The
 * connections of threads still alive are closed by model_close; a thread
 * that exits closes its own through the pthread key destructor.
 *
 * State directory layout:
 *   <dir>/imgfs.db      this database (+ -wal, -shm)
 *   <dir>/secret        the chunk-id key (blobstore.h)
 *   <dir>/imgfs.log     the daemon's log (fs/)
 *   <dir>/regions/<r>/  one blob store per region
 */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "model_int.h"

int model_fail(struct model_err *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		err->code = code;
	}
	return code;
}

int model_sqlite_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_TOOBIG:
		return -E2BIG;
	default:
		return -EIO;
	}
}

static void conn_close(struct model_conn *c)
{
	for (int i = 0; i < MODEL_STMT_CACHE; i++)
		sqlite3_finalize(c->cache[i].st);
	sqlite3_close(c->db);
	free(c);
}

static void conn_unlink(model *m, struct model_conn *c)
{
	pthread_mutex_lock(&m->lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		m->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&m->lock);
}

static void conn_destructor(void *p)
{
	struct model_conn *c = p;
	conn_unlink(c->m, c);
	conn_close(c);
}

static int conn_open(model *m, struct model_conn **out)
{
	struct model_conn *c = calloc(1, sizeof(*c));
	int rc;
	if (!c)
		return -ENOMEM;
	c->m = m;
	rc = sqlite3_open_v2(m->db_path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = model_sqlite_errno(rc);
		sqlite3_close(c->db);
		free(c);
		return rc;
	}
	sqlite3_busy_timeout(c->db, 10000);
	sqlite3_extended_result_codes(c->db, 1);
	/* synchronous=FULL: a change that returned success survives power loss,
	 * not only kill -9 (SPEC §11). */
	rc = model_exec(c, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
	if (rc < 0) {
		conn_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

int model_conn_get(model *m, struct model_conn **out)
{
	struct model_conn *c = pthread_getspecific(m->conn_key);
	int rc;
	if (c) {
		*out = c;
		return 0;
	}
	if ((rc = conn_open(m, &c)) < 0)
		return rc;
	pthread_mutex_lock(&m->lock);
	c->next = m->conns;
	if (m->conns)
		m->conns->prev = c;
	m->conns = c;
	pthread_mutex_unlock(&m->lock);
	pthread_setspecific(m->conn_key, c);
	*out = c;
	return 0;
}

sqlite3_stmt *model_stmt(struct model_conn *c, const char *sql)
{
	/* Keyed by the literal's address: each call site has its own slot. */
	size_t h = ((uintptr_t)sql >> 3) % MODEL_STMT_CACHE;
	for (size_t n = 0; n < MODEL_STMT_CACHE; n++) {
		size_t i = (h + n) % MODEL_STMT_CACHE;
		if (c->cache[i].sql == sql) {
			sqlite3_reset(c->cache[i].st);
			sqlite3_clear_bindings(c->cache[i].st);
			return c->cache[i].st;
		}
		if (!c->cache[i].sql) {
			sqlite3_stmt *st;
			if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
				fprintf(stderr, "imgfs: sql: %s: %s\n", sqlite3_errmsg(c->db), sql);
				return NULL;
			}
			c->cache[i].sql = sql;
			c->cache[i].st = st;
			return st;
		}
	}
	fprintf(stderr, "imgfs: sql: statement cache full\n");
	return NULL;
}

int model_exec_stmt(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	return model_sqlite_errno(rc);
}

int model_each_row(sqlite3_stmt *st, int (*row)(void *arg, sqlite3_stmt *st), void *arg)
{
	int rc, stop = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((stop = row(arg, st)) != 0)
			break;
	sqlite3_reset(st);
	if (stop)
		return stop;
	return rc == SQLITE_DONE ? 0 : model_sqlite_errno(rc);
}

int model_one_row(sqlite3_stmt *st, void (*fill)(sqlite3_stmt *st, void *out), void *out)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		fill(st, out);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : model_sqlite_errno(rc);
}

int model_fetch_one(model *m, const char *sql, const char *text, int64_t num,
                    void (*fill)(sqlite3_stmt *st, void *out), void *out)
{
	struct model_conn *c;
	sqlite3_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, sql)))
		return -EIO;
	if (text)
		sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, num);
	return model_one_row(st, fill, out);
}

int model_exec(struct model_conn *c, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "imgfs: sql: %s\n", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return model_sqlite_errno(rc);
	}
	return 0;
}

int model_begin(struct model_conn *c)
{
	if (c->depth++ > 0)
		return 0;
	int rc = model_exec(c, "BEGIN IMMEDIATE");
	if (rc < 0)
		c->depth = 0;
	return rc;
}

int model_write_begin(model *m, struct model_conn **out, struct model_err *err)
{
	int rc;
	if ((rc = model_conn_get(m, out)) < 0)
		return model_fail(err, rc, "database: %s", strerror(-rc));
	if ((rc = model_begin(*out)) < 0)
		return model_fail(err, rc, "database busy");
	return 0;
}

int model_commit(struct model_conn *c)
{
	if (--c->depth > 0)
		return 0;
	int rc = model_exec(c, "COMMIT");
	if (rc < 0)
		model_exec(c, "ROLLBACK");
	return rc;
}

void model_rollback(struct model_conn *c)
{
	if (c->depth > 0 && --c->depth > 0)
		return;
	c->depth = 0;
	if (!sqlite3_get_autocommit(c->db))
		model_exec(c, "ROLLBACK");
}

int model_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (!s)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

void model_col_text(sqlite3_stmt *st, int i, char *out, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	size_t n = t ? (size_t)sqlite3_column_bytes(st, i) : 0;
	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(out, t, n);
	out[n] = '\0';
}

int64_t model_generation(model *m)
{
	struct model_conn *c;
	sqlite3_stmt *st;
	int64_t v = -1;
	if (model_conn_get(m, &c) < 0 || !(st = model_stmt(c, "PRAGMA data_version")))
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

int64_t model_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void model_fmt_time(char out[21], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int model_default_state_dir(char *out, size_t cap)
{
	const char *xdg = getenv("XDG_DATA_HOME");
	int n;
	if (xdg && xdg[0] == '/') {
		n = snprintf(out, cap, "%s/imgfs", xdg);
	} else if (geteuid() == 0) {
		n = snprintf(out, cap, "/var/lib/imgfs");
	} else {
		const char *home = getenv("HOME");
		struct passwd *pw = home ? NULL : getpwuid(geteuid());
		if (!home && pw)
			home = pw->pw_dir;
		if (!home)
			return -ENOENT;
		n = snprintf(out, cap, "%s/.local/share/imgfs", home);
	}
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);
	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int model_store(model *m, int64_t region_id, blob_store **out)
{
	struct model_region r;
	char path[PATH_MAX];
	int rc;
	if (region_id <= 0 || region_id >= MODEL_MAX_REGIONS)
		return -ENOENT;
	pthread_mutex_lock(&m->lock);
	*out = m->stores[region_id];
	pthread_mutex_unlock(&m->lock);
	if (*out)
		return 0;
	if ((rc = model_region_get(m, region_id, &r)) < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/regions/%s", m->dir, r.name);
	pthread_mutex_lock(&m->lock);
	if (!m->stores[region_id])
		rc = blob_store_open(&m->stores[region_id], path, m->secret);
	*out = m->stores[region_id];
	pthread_mutex_unlock(&m->lock);
	return rc;
}

const char *model_state_dir(const model *m)
{
	return m->dir;
}

/* Whether the default regions were all created (settings 'initialised'). */
static bool state_initialised(struct model_conn *c)
{
	sqlite3_stmt *st = model_stmt(c, "SELECT 1 FROM settings WHERE key = 'initialised'");
	bool yes = st && sqlite3_step(st) == SQLITE_ROW;
	if (st)
		sqlite3_reset(st);
	return yes;
}

/* Creates the default regions that are missing, then marks the state
 * initialised.  Each region commits on its own (it writes its catalogue's
 * chunks), so a first mount killed half-way is completed by the next one. */
static int state_initialise(model *m, struct model_conn *c, struct model_err *err)
{
	static const char *const defaults[] = {"cn-north-1", "cn-east-2", "cn-south-1"};
	int rc;
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		struct model_region r;
		if (model_region_by_name(m, defaults[i], &r) == 0)
			continue; /* made before a crash, or by a racing process */
		if ((rc = model_region_add(m, defaults[i], err)) < 0 && rc != -EEXIST)
			return rc;
	}
	return model_exec(c, "INSERT OR IGNORE INTO settings(key, value) VALUES ('initialised', '1')");
}

int model_open(model **out, const char *state_dir, int flags, struct model_err *err)
{
	model *m = NULL;
	struct model_conn *c;
	struct stat st;
	char path[PATH_MAX];
	int rc;

	*out = NULL;
	if (stat(state_dir, &st) < 0) {
		if (errno != ENOENT || !(flags & MODEL_OPEN_CREATE))
			return model_fail(err, -errno, "state directory %s: %s", state_dir, strerror(errno));
		if ((rc = mkdir_p(state_dir)) < 0)
			return model_fail(err, rc, "cannot create %s: %s", state_dir, strerror(-rc));
	} else if (!S_ISDIR(st.st_mode)) {
		return model_fail(err, -ENOTDIR, "%s is not a directory", state_dir);
	}
	if (!(m = calloc(1, sizeof(*m))))
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	if (pthread_key_create(&m->conn_key, conn_destructor) != 0) {
		free(m);
		return -EAGAIN;
	}
	m->dir = realpath(state_dir, NULL);
	if (!m->dir || asprintf(&m->db_path, "%s/imgfs.db", m->dir) < 0) {
		rc = model_fail(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (!(flags & MODEL_OPEN_CREATE) && access(m->db_path, F_OK) != 0) {
		rc = model_fail(err, -ENOENT, "%s holds no imgfs state (no imgfs.db)", m->dir);
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/regions", m->dir);
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		rc = model_fail(err, -errno, "cannot create %s: %s", path, strerror(errno));
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/secret", m->dir);
	if ((rc = blob_secret_load_or_create(m->secret, path)) < 0) {
		model_fail(err, rc, "secret %s: %s", path, strerror(-rc));
		goto fail;
	}
	if ((rc = model_conn_get(m, &c)) < 0) {
		model_fail(err, rc, "cannot open %s: %s", m->db_path, strerror(-rc));
		goto fail;
	}
	if ((rc = model_schema_apply(c)) < 0) {
		model_fail(err, rc, "cannot set up the schema of %s", m->db_path);
		goto fail;
	}
	if ((flags & MODEL_OPEN_CREATE) && !state_initialised(c) && (rc = state_initialise(m, c, err)) < 0)
		goto fail;
	*out = m;
	return 0;
fail:
	model_close(m);
	return rc < 0 ? rc : -EIO;
}

void model_close(model *m)
{
	if (!m)
		return;
	struct model_conn *c = pthread_getspecific(m->conn_key);
	if (c)
		pthread_setspecific(m->conn_key, NULL);
	while (m->conns) {
		c = m->conns;
		m->conns = c->next;
		conn_close(c);
	}
	pthread_key_delete(m->conn_key);
	for (int i = 0; i < MODEL_MAX_REGIONS; i++)
		blob_store_close(m->stores[i]);
	pthread_mutex_destroy(&m->lock);
	free(m->db_path);
	free(m->dir);
	free(m);
}
