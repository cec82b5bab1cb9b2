/*
 * state.c — opening and closing a state directory: its layout, the first
 * mount's default regions and the chunk-id key.  The regions' blob stores
 * are stores.c's, the clocks clock.c's.
 *
 * State directory layout:
 *   <dir>/imgfs.db      the metadata database (+ -wal, -shm; db/)
 *   <dir>/secret        the chunk-id key (blobstore.h)
 *   <dir>/imgfs.log     the daemon's log (fs/)
 *   <dir>/space.reserve.<k>  room kept aside so that deleting works on a
 *                       full disk (model_space_reserve)
 *   <dir>/regions/<r>/  one blob store per region
 *   <dir>/host          with the metadata in a database: the host whose
 *                       files these are (host.c: model_host_record)
 *   <dir>/service       with the metadata in a database: which service's
 *                       files these are ("imgfs service <fingerprint of
 *                       its chunk-id key>": state_claim)
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model_int.h"
#include "early.h"

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

bool model_state_dir_like(const char *dir)
{
	static const char *const marks[] = {"imgfs.db", "imgfs.log"};
	char path[PATH_MAX];
	struct stat st;
	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if (snprintf(path, sizeof(path), "%s/%s", dir, marks[i]) < (int)sizeof(path) && lstat(path, &st) == 0 &&
		    S_ISREG(st.st_mode))
			return true;
	return false;
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

const char *model_state_dir(const model *m)
{
	return m->dir;
}

/* ---- room for deleting (SPEC §12) ------------------------------------------ */

/* A delete is a transaction too: on a full disk SQLite cannot grow its
 * write-ahead log (SQLITE_FULL) and the delete that would free gigabytes
 * fails with ENOSPC.  So a mount keeps a few MiB of the state directory's
 * file system aside, in slices (space.reserve.0 ...); a delete that meets
 * ENOSPC gives up one slice and tries again (fs/fuse/ops.c), as often as there
 * are slices, and they are taken back once deleting has freed the room —
 * so several deletes that free little (a share, an image moved to the
 * recycle bin) still work in a row.  Allocated, not sparse: a hole would
 * reserve nothing. */
#define SPACE_SLICES 4
#define SPACE_SLICE (1 << 20)

static void space_path(const model *m, int k, char out[PATH_MAX])
{
	snprintf(out, PATH_MAX, "%s/space.reserve.%d", m->dir, k);
}

int model_space_reserve(model *m)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, rc = 0;
	for (int k = 0; k < SPACE_SLICES && rc == 0; k++) {
		space_path(m, k, path);
		if (stat(path, &st) == 0 && st.st_blocks * 512 >= SPACE_SLICE)
			continue;
		if ((fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) < 0)
			return -errno;
		if ((rc = posix_fallocate(fd, 0, SPACE_SLICE)) != 0 || fsync(fd) < 0) {
			rc = rc ? -rc : -errno;
			unlink(path); /* no room yet: none kept, none half kept */
		}
		close(fd);
	}
	return rc;
}

bool model_space_release(model *m)
{
	char path[PATH_MAX];
	for (int k = SPACE_SLICES - 1; k >= 0; k--) {
		space_path(m, k, path);
		if (unlink(path) == 0)
			return true;
	}
	return false;
}

/* Whether the default regions were all created (settings 'initialised'). */
static bool state_initialised(struct model_conn *c)
{
	db_stmt *st = model_stmt(c, SQL("SELECT 1 FROM settings WHERE key = 'initialised'"));
	bool yes = st && db_step(st) == DB_ROW;
	if (st)
		db_reset(st);
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
	return model_exec(c, "INSERT INTO settings(key, value) VALUES ('initialised', '1') ON CONFLICT DO NOTHING");
}

/* A state directory given with a database holds that service's files
 * only (issue 47): one that holds another service's — an embedded state
 * whose chunk-id key is not the database's (a migrated one's is), or the
 * mark of another database's service — is refused, for its default
 * regions' chunks would be shared and each service's gc would delete the
 * other's.  One without a mark gets it (claim: a mount or init). */
static int state_claim(model *m, bool claim, struct model_err *err)
{
	uint8_t key[BLOB_SECRET_SIZE];
	char path[PATH_MAX], tmp[PATH_MAX + 32], want[64], got[64] = "";
	int rc;
	snprintf(path, sizeof(path), "%s/secret", m->dir);
	rc = blob_secret_load(key, path);
	bool other = rc == 0 && memcmp(key, m->secret, sizeof(key)) != 0;
	explicit_bzero(key, sizeof(key));
	if (other)
		return model_fail(err, -EEXIST, "%s holds another service's state (its chunk-id key is not the "
		                  "database's: each one's gc would delete the other's chunks); give this host a state "
		                  "directory of its own", m->dir);
	if (rc < 0 && rc != -ENOENT)
		return model_fail(err, rc, "%s: %s", path, strerror(-rc));
	snprintf(want, sizeof(want), "imgfs service %016llx\n", (unsigned long long)blob_secret_fingerprint(m->secret));
	snprintf(path, sizeof(path), "%s/service", m->dir);
	FILE *f = fopen(path, "re");
	if (f) {
		if (!fgets(got, sizeof(got), f))
			got[0] = '\0';
		fclose(f);
		const char *named = strncmp(got, want, 14) == 0 ? got + 14 : "nothing imgfs knows";
		if (strcmp(got, want) != 0)
			return model_fail(err, -EEXIST, "%s holds another service's files (its service file names %.*s, "
			                  "not this database's); give this host a state directory of its own", m->dir,
			                  (int)strcspn(named, "\n"), named);
		return 0;
	}
	if (errno != ENOENT)
		return model_fail(err, -errno, "%s: %s", path, strerror(errno));
	if (!claim)
		return 0;
	/* Written whole, then linked: never half a line, and of two claims
	 * at once the first stays (the second compares against it). */
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return model_fail(err, -errno, "%s: %s", tmp, strerror(errno));
	size_t n = strlen(want);
	rc = write(fd, want, n) == (ssize_t)n && fsync(fd) == 0 ? 0 : -errno;
	close(fd);
	if (rc == 0 && link(tmp, path) < 0)
		rc = errno == EEXIST ? 1 : -errno;
	unlink(tmp);
	if (rc < 0)
		return model_fail(err, rc, "%s: %s", path, strerror(-rc));
	return rc == 1 ? state_claim(m, false, err) : 0;
}

/* The chunk-id key of a service whose metadata is in a database that
 * several hosts share: in its settings (hex), made by the first opener
 * (SPEC §13: what hosts must agree on lives in the database). */
static int db_secret(model *m, struct model_err *err)
{
	char hex[2 * BLOB_SECRET_SIZE + 1] = "";
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if ((rc = model_write_begin(m, &c, NULL)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT value FROM settings WHERE key = 'secret'")))) {
		rc = -EIO;
		goto out;
	}
	if ((rc = db_step(st)) == DB_ROW)
		model_col_text(st, 0, hex, sizeof(hex));
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		goto out;
	if (!hex[0]) {
		uint8_t key[BLOB_SECRET_SIZE];
		if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key)) {
			rc = -EIO;
			goto out;
		}
		for (size_t i = 0; i < sizeof(key); i++)
			snprintf(hex + 2 * i, 3, "%02x", key[i]);
		if (!(st = model_stmt(c, SQL("INSERT INTO settings(key, value) VALUES ('secret', ?)")))) {
			rc = -EIO;
			goto out;
		}
		db_bind_text(st, 1, hex);
		if ((rc = model_exec_stmt(st)) < 0)
			goto out;
	}
	for (size_t i = 0; i < BLOB_SECRET_SIZE; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
			rc = -EIO;
			goto out;
		}
		m->secret[i] = (uint8_t)v;
	}
	/* The state directory looked at before a new key commits: a refusal
	 * leaves the database without one (state_claim). */
	if (m->dir && (rc = state_claim(m, false, err)) < 0)
		goto out;
	rc = 0;
out:
	return model_write_end(c, rc, err);
}

/* The refusal of a state the caller may not open. */
static int state_denied(const char *dir, struct model_err *err)
{
	struct stat st;
	if (stat(dir, &st) == 0 && st.st_uid != geteuid())
		return model_fail(err, -EACCES,
		                  "%s: permission denied (the state belongs to uid %u: run imgfs as that user or as root)", dir,
		                  (unsigned)st.st_uid);
	return model_fail(err, -EACCES, "%s: permission denied", dir);
}

int model_state_probe(const char *dir, struct model_err *err)
{
	char path[PATH_MAX];
	struct stat st;
	if ((size_t)snprintf(path, sizeof(path), "%s/imgfs.db", dir) >= sizeof(path))
		return model_fail(err, -ENAMETOOLONG, "%s: the path is too long", dir);
	if (stat(path, &st) < 0) {
		int e = errno;
		if (e == ENOENT || e == ENOTDIR)
			return model_fail(err, -ENOENT,
			                  "no imgfs state at %s (create one with imgfs admin init %s or by mounting)", dir, dir);
		/* Not "no state": there may well be one, and it is not ours. */
		if (e == EACCES || e == EPERM)
			return state_denied(dir, err);
		return model_fail(err, -e, "%s: %s", path, strerror(e));
	}
	/* There, but not ours to open: SQLite would only say "unable to open". */
	if (faccessat(AT_FDCWD, path, R_OK | W_OK, AT_EACCESS) < 0)
		return state_denied(dir, err);
	if (st.st_size == 0)
		return model_fail(err, -EINVAL,
		                  "%s is empty: not an imgfs state (remove it, then create one with imgfs admin init %s or "
		                  "by mounting)",
		                  path, dir);
	return 0;
}

int model_open(model **out, const char *state_dir, int flags, struct model_err *err)
{
	return model_open_db(out, state_dir, NULL, flags, err);
}

int model_open_db(model **out, const char *state_dir, const char *db_url, int flags, struct model_err *err)
{
	model *m = NULL;
	struct model_conn *c;
	struct db_conn *probe;
	struct stat st;
	char path[PATH_MAX];
	int rc;

	*out = NULL;
	if ((flags & MODEL_OPEN_NO_FILES) && (!db_url || (flags & MODEL_OPEN_CREATE)))
		return model_fail(err, -EINVAL, "only a database's rows can be opened without a state directory");
	if (flags & MODEL_OPEN_NO_FILES)
		; /* nothing of this host is looked at */
	else if (stat(state_dir, &st) < 0) {
		if (errno != ENOENT || !(flags & MODEL_OPEN_CREATE))
			return model_fail(err, -errno, "state directory %s: %s", state_dir, strerror(errno));
		if ((rc = mkdir_p(state_dir)) < 0)
			return model_fail(err, rc, "cannot create %s: %s", state_dir, strerror(-rc));
	} else if (!S_ISDIR(st.st_mode)) {
		return model_fail(err, -ENOTDIR, "%s is not a directory", state_dir);
	} else if (!db_url && (rc = model_state_probe(state_dir, err)) < 0 && rc != -ENOENT) {
		/* An empty imgfs.db is no state to create on (SQLite would take
		 * it for a new database and a mount would fill it silently), and
		 * one the caller may not open is not "no state". */
		return rc;
	}
	if (!(m = calloc(1, sizeof(*m))))
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	m->task_kinds = task_kinds_all(&m->task_nkinds);
	if (model_conns_init(m) < 0) {
		free(m);
		return -EAGAIN;
	}
	m->dir = flags & MODEL_OPEN_NO_FILES ? NULL : realpath(state_dir, NULL);
	m->drv = db_url ? &db_postgres : &db_sqlite;
	m->cluster = db_url != NULL;
	if (early_set_new(&m->early) < 0) {
		rc = model_fail(err, -ENOMEM, "out of memory");
		goto fail;
	}
	uint64_t qk; /* db.h: quiet (none without random bytes: every commit wakes the watcher) */
	if (m->cluster && getrandom(&qk, sizeof(qk), 0) == (ssize_t)sizeof(qk))
		snprintf(m->quiet_key, sizeof(m->quiet_key), "q%016llx", (unsigned long long)qk);
	/* Rows a round trip away are worth keeping (image.c's row cache). */
	if (m->cluster && model_set_row_cache(m, MODEL_ROW_CACHE_MS) < 0) {
		rc = model_fail(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (model_host_set(m, NULL, NULL) < 0)
		strcpy(m->host, "localhost"); /* a machine name that is no host name */
	if ((!m->dir && !(flags & MODEL_OPEN_NO_FILES)) ||
	    (db_url ? !(m->db_target = strdup(db_url)) : asprintf(&m->db_target, "%s/imgfs.db", m->dir) < 0)) {
		rc = model_fail(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (!db_url && !(flags & MODEL_OPEN_CREATE) && access(m->db_target, F_OK) != 0) {
		rc = model_fail(err, -ENOENT, "%s holds no imgfs state (no imgfs.db)", m->dir);
		goto fail;
	}
	/* A first connection that says why it cannot be made. */
	if ((rc = m->drv->open(&probe, m->db_target, err)) < 0)
		goto fail;
	m->drv->close(probe);
	snprintf(path, sizeof(path), "%s/regions", m->dir);
	if (m->dir && mkdir(path, 0755) < 0 && errno != EEXIST) {
		rc = model_fail(err, -errno, "cannot create %s: %s", path, strerror(errno));
		goto fail;
	}
	if ((rc = model_conn_get(m, &c)) < 0) {
		model_fail(err, rc, "cannot open the database: %s", strerror(-rc));
		goto fail;
	}
	if ((rc = m->drv->schema(c->db)) < 0) {
		model_fail(err, rc, rc == -EPROTONOSUPPORT ? "the database was written by a newer imgfs"
		                                           : "cannot set up the database's schema");
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/secret", m->dir);
	if ((rc = db_url ? db_secret(m, err) : blob_secret_load_or_create(m->secret, path)) < 0) {
		if (!err || !err->msg[0] || rc != -EEXIST)
			model_fail(err, rc, "the chunk-id key: %s", strerror(-rc));
		goto fail;
	}
	if (db_url && m->dir && (flags & MODEL_OPEN_CREATE) && (rc = state_claim(m, true, err)) < 0)
		goto fail;
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
	model_conns_close(m);
	for (int i = 0; i < MODEL_MAX_REGIONS; i++) {
		blob_store_close(m->stores[i]);
		free(m->regions[i]);
	}
	model_set_row_cache(m, 0);
	model_keys_free(m);
	early_set_free(m->early);
	blob_digest_free(m->parked.d);
	pthread_mutex_destroy(&m->lock);
	free(m->db_target);
	free(m->dir);
	free(m);
}
