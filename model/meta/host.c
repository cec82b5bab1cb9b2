/*
 * host.c — the hosts that mount one service (SPEC §13), their leases, and
 * whether a task's runner is still alive.
 *
 * Every process of the service acts for a host: its name is the mount's
 * `-o host=` (default: the machine's name).  A mount registers its host
 * and renews the host's lease (hosts.renewed_ns) every few seconds
 * (fs/fuse/watch.c calls model_host_renew); `imgfs admin host list` shows them.
 *
 * A task's runner is "<host>/<pid>:<start time>".  Whether it is alive:
 *   - on this host: its process exists and started when the runner did
 *     (/proc: exact, at once — a mount killed and remounted takes its
 *     tasks back immediately);
 *   - on another host: that host renewed its lease within the lease period
 *     (settings 'lease', default 30 s).  A host that died stops renewing;
 *     once its lease expired, another host claims its tasks and resumes
 *     them from their last durable point.  A runner alive is never taken
 *     over, so a task never runs on two hosts at once, provided a host that
 *     lost its lease stops (its renewal failing means the database is
 *     unreachable, and so are the task's next writes: every write of a task
 *     is guarded by claimed_by, task.c).
 * A runner id without a host (written by an older imgfs) is this host's.
 *
 * The embedded default (SQLite in one state directory) serves one machine
 * (§13): there every runner, instance and task is this machine's whatever
 * host name it records (a state directory may be moved to a machine of
 * another name).
 *
 * Host names: 1-64 of [A-Za-z0-9._-], not starting with '.' or '-'.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "model_int.h"
#include "task_int.h" /* model_runner_ended, model_runner_silent: the tasks ask */

#define LEASE_DEFAULT 30 /* seconds */

bool model_host_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > MODEL_HOST_MAX || name[0] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
		      ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

int model_host_set(model *m, const char *name, struct model_err *err)
{
	char buf[256];
	if (!name) {
		if (gethostname(buf, sizeof(buf)) < 0)
			return model_fail(err, -errno, "cannot find this machine's name: %s", strerror(errno));
		buf[sizeof(buf) - 1] = '\0';
		buf[strcspn(buf, ".")] = '\0'; /* the short name */
		name = buf;
	}
	if (!model_host_name_valid(name))
		return model_fail(err, -EINVAL, "a host name is 1-%d of A-Z a-z 0-9 . _ - (not starting with . or -)",
		                  MODEL_HOST_MAX);
	memcpy(m->host, name, strlen(name) + 1); /* valid: at most MODEL_HOST_MAX */
	return 0;
}

const char *model_host(const model *m)
{
	return m->host;
}

/* <state>/host: the host whose files the state directory holds. */
#define HOST_FILE "host"

int model_host_from_dir(model *m)
{
	char path[PATH_MAX], name[MODEL_HOST_MAX + 2] = "";
	FILE *f;
	if (!m->dir)
		return 0;
	snprintf(path, sizeof(path), "%s/" HOST_FILE, m->dir);
	if (!(f = fopen(path, "re")))
		return errno == ENOENT ? 0 : -errno;
	bool ok = fgets(name, sizeof(name), f) != NULL;
	fclose(f);
	name[strcspn(name, "\n")] = '\0';
	if (!ok || !model_host_name_valid(name))
		return -EINVAL;
	memcpy(m->host, name, strlen(name) + 1);
	return 1;
}

/* A file of dir written whole (then renamed over the old): 0 or -errno. */
static int file_put(const char *path, const char *line)
{
	char tmp[PATH_MAX + 16];
	size_t n = strlen(line);
	int fd;
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		return -errno;
	if (write(fd, line, n) != (ssize_t)n || fsync(fd) < 0) {
		int rc = -errno;
		close(fd);
		unlink(tmp);
		return rc < 0 ? rc : -EIO;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		int rc = -errno;
		unlink(tmp);
		return rc;
	}
	return 0;
}

int model_host_record(model *m)
{
	char path[PATH_MAX], old[MODEL_HOST_MAX + 2] = "", line[MODEL_HOST_MAX + 2];
	FILE *f;
	int rc;
	if (!m->dir)
		return -EPERM;
	snprintf(path, sizeof(path), "%s/" HOST_FILE, m->dir);
	if ((f = fopen(path, "re"))) {
		if (!fgets(old, sizeof(old), f))
			old[0] = '\0';
		fclose(f);
		old[strcspn(old, "\n")] = '\0';
		if (strcmp(old, m->host) == 0)
			return 0;
	}
	/* Written whole, then renamed over the old: never half a name. */
	snprintf(line, sizeof(line), "%s\n", m->host);
	if ((rc = file_put(path, line)) < 0)
		return rc;
	if (old[0])
		model_log(m, "state directory %s held host %s's files; now host %s's", m->dir, old, m->host);
	return 0;
}

/* ---- one name, one state ------------------------------------------------- */

#define STATE_ID_FILE "state-id"
#define STATE_ID_LEN 32
#define HOLDER_KEY "host-state:"
#define HOLD_FILE "host.lock" /* held shared by each process of the state that claimed */

/* <state>/host.lock opened (close-on-exec), or -errno. */
static int hold_open(model *m)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/" HOLD_FILE, m->dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	return fd < 0 ? -errno : fd;
}

/* This state directory's id (32 hex digits, <state>/state-id, made at
 * its first claim): two state directories on one machine, or two
 * machines of one name, are told apart. */
static int state_id(model *m, char out[STATE_ID_LEN + 1])
{
	char path[PATH_MAX], line[STATE_ID_LEN + 2] = "";
	uint8_t r[STATE_ID_LEN / 2];
	FILE *f;
	snprintf(path, sizeof(path), "%s/" STATE_ID_FILE, m->dir);
	if ((f = fopen(path, "re"))) {
		bool ok = fgets(line, sizeof(line), f) != NULL;
		fclose(f);
		line[strcspn(line, "\n")] = '\0';
		if (ok && strlen(line) == STATE_ID_LEN && strspn(line, "0123456789abcdef") == STATE_ID_LEN) {
			memcpy(out, line, STATE_ID_LEN + 1);
			return 0;
		}
	}
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -EIO;
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
	snprintf(line, sizeof(line), "%s\n", out);
	return file_put(path, line);
}

int model_host_claim(model *m, int *hold, struct model_err *err)
{
	char id[STATE_ID_LEN + 1], key[sizeof(HOLDER_KEY) + MODEL_HOST_MAX], mine[PATH_MAX + 400], held[PATH_MAX + 400] = "";
	char machine[256];
	struct model_conn *c;
	db_stmt *st;
	int64_t now = model_now_ns(), renewed = 0;
	int rc;
	*hold = -1;
	if (!m->dir)
		return 0;
	if ((rc = state_id(m, id)) < 0)
		return model_fail(err, rc, "cannot record this state's id in %s/" STATE_ID_FILE ": %s", m->dir,
		                  strerror(-rc));
	/* Held before the claim: a holder of the state that is releasing (its
	 * exclusive lock, a moment) ends first, then this claim is written. */
	if ((*hold = hold_open(m)) < 0 || flock(*hold, LOCK_SH) < 0) {
		rc = *hold < 0 ? *hold : -errno;
		if (*hold >= 0)
			close(*hold);
		*hold = -1;
		return model_fail(err, rc, "cannot hold %s/" HOLD_FILE ": %s", m->dir, strerror(-rc));
	}
	if (gethostname(machine, sizeof(machine)) < 0)
		snprintf(machine, sizeof(machine), "?");
	machine[sizeof(machine) - 1] = '\0';
	snprintf(key, sizeof(key), HOLDER_KEY "%s", m->host);
	snprintf(mine, sizeof(mine), "%s %s on machine %s", id, m->dir, machine);
	if ((rc = model_write_begin(m, &c, err)) < 0) {
		close(*hold); /* nothing claimed: nothing held */
		*hold = -1;
		return rc;
	}
	if (!(st = model_stmt(c, SQL("SELECT value FROM settings WHERE key = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, key);
	if ((rc = db_step(st)) == DB_ROW)
		model_col_text(st, 0, held, sizeof(held));
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE) {
		rc = db_errno(rc);
		goto out;
	}
	if (!(st = model_stmt(c, SQL("SELECT renewed_ns FROM hosts WHERE name = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, m->host);
	if ((rc = db_step(st)) == DB_ROW)
		renewed = db_col_int64(st, 0);
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE) {
		rc = db_errno(rc);
		goto out;
	}
	rc = 0;
	/* Another state's, and its lease current: a live state holds it. */
	if (strlen(held) > STATE_ID_LEN && strncmp(held, id, STATE_ID_LEN) != 0 &&
	    renewed > now - model_lease(m) * 1000000000LL) {
		rc = model_fail(err, -EBUSY, "host %s is held by another live state, %s (its lease renewed %lld s ago): "
		                "mount this state under another name (-o host=NAME) or stop that one first", m->host,
		                held + STATE_ID_LEN + 1, (long long)((now - renewed) / 1000000000LL));
		goto out;
	}
	if ((rc = model_setting_put(c, key, mine)) < 0)
		goto out;
	if (!(st = model_stmt(c, SQL("INSERT INTO hosts(name, started_ns, renewed_ns) VALUES (?1, ?2, ?2) "
	                             "ON CONFLICT(name) DO UPDATE SET started_ns = excluded.started_ns, "
	                             "renewed_ns = excluded.renewed_ns")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, m->host);
	db_bind_int64(st, 2, now);
	rc = model_exec_stmt(st);
out:
	if ((rc = model_write_end(c, rc, err)) < 0) {
		close(*hold);
		*hold = -1;
	}
	return rc;
}

void model_host_release(model *m, int hold)
{
	char id[STATE_ID_LEN + 1], key[sizeof(HOLDER_KEY) + MODEL_HOST_MAX];
	struct model_conn *c;
	db_stmt *st;
	int rc, last;
	if (hold >= 0)
		close(hold);
	if (!m->dir || (last = hold_open(m)) < 0)
		return;
	/* Another process of this state still holds it (a serve beside the
	 * mount): the claim is its. */
	if (flock(last, LOCK_EX | LOCK_NB) < 0 || state_id(m, id) < 0 || model_write_begin(m, &c, NULL) < 0) {
		close(last);
		return;
	}
	snprintf(key, sizeof(key), HOLDER_KEY "%s", m->host);
	if (!(st = model_stmt(c, SQL("DELETE FROM settings WHERE key = ? AND substr(value, 1, 32) = ?")))) {
		rc = -EIO;
	} else {
		db_bind_text(st, 1, key);
		db_bind_text(st, 2, id);
		rc = model_exec_stmt(st);
	}
	model_write_end(c, rc, NULL);
	close(last);
}

int64_t model_lease(model *m)
{
	return model_setting_int(m, "lease", 1, LEASE_DEFAULT);
}

int model_lease_set(model *m, int64_t seconds, struct model_err *err)
{
	struct model_conn *c;
	char v[32];
	int rc;
	if (seconds < 2 || seconds > 86400)
		return model_fail(err, -EINVAL, "the lease is 2 .. 86400 seconds");
	snprintf(v, sizeof(v), "%lld", (long long)seconds);
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	rc = model_setting_put(c, "lease", v);
	return model_write_end(c, rc, err);
}

/* Writes this host's row: started (a new mount) or renewed. */
static int host_write(model *m, bool start)
{
	struct model_conn *c;
	db_stmt *st;
	int64_t now = model_now_ns();
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (start)
		st = model_stmt(c, SQL("INSERT INTO hosts(name, started_ns, renewed_ns) VALUES (?1, ?2, ?2) "
		                       "ON CONFLICT(name) DO UPDATE SET started_ns = excluded.started_ns, "
		                       "renewed_ns = excluded.renewed_ns"));
	else
		st = model_stmt(c, SQL("INSERT INTO hosts(name, started_ns, renewed_ns) VALUES (?1, ?2, ?2) "
		                       "ON CONFLICT(name) DO UPDATE SET renewed_ns = excluded.renewed_ns"));
	if (!st)
		return -EIO;
	db_bind_text(st, 1, m->host);
	db_bind_int64(st, 2, now);
	return model_exec_stmt(st);
}

int model_host_register(model *m)
{
	return host_write(m, true);
}

int model_host_renew(model *m)
{
	return host_write(m, false);
}

struct host_list {
	model *m;
	int64_t alive_after;
	int (*cb)(void *arg, const struct model_host *h);
	void *arg;
};

static int host_row(void *arg, db_stmt *st)
{
	struct host_list *l = arg;
	struct model_host h = {0};
	model_col_text(st, 0, h.name, sizeof(h.name));
	h.started_ns = db_col_int64(st, 1);
	h.renewed_ns = db_col_int64(st, 2);
	h.alive = h.renewed_ns > l->alive_after;
	return l->cb(l->arg, &h);
}

int model_host_list(model *m, int (*cb)(void *arg, const struct model_host *h), void *arg)
{
	struct host_list l = {m, model_now_ns() - model_lease(m) * 1000000000LL, cb, arg};
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL_SCAN("hosts are a handful of rows, listed whole",
	                                  "SELECT name, started_ns, renewed_ns FROM hosts ORDER BY name"))))
		return -EIO;
	return model_each_row(st, host_row, &l);
}

/* Whether host's lease is current, in c's transaction (or on its own). */
bool model_host_alive(struct model_conn *c, const char *host)
{
	db_stmt *st = model_stmt(c, SQL("SELECT renewed_ns FROM hosts WHERE name = ?"));
	bool alive = false;
	if (!st)
		return true; /* cannot tell: never take a task over on a guess */
	db_bind_text(st, 1, host);
	int rc = db_step(st);
	if (rc == DB_ROW)
		alive = db_col_int64(st, 0) > model_now_ns() - model_lease(c->m) * 1000000000LL;
	else if (rc != DB_DONE)
		alive = true;
	db_reset(st);
	return alive;
}

int model_instance_here(model *m, const struct model_instance *vm, struct model_err *err)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if (!m->cluster || !vm->host[0] || strcmp(vm->host, m->host) == 0)
		return 0;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	/* A host the admin removed holds nothing any more: any host may
	 * clean up after it (its disks' files went with it). */
	if (!(st = model_stmt(c, SQL("SELECT 1 FROM hosts WHERE name = ?"))))
		return -EIO;
	db_bind_text(st, 1, vm->host);
	rc = db_step(st);
	db_reset(st);
	if (rc == DB_DONE)
		return 0;
	if (rc != DB_ROW)
		return db_errno(rc);
	return model_fail(err, -EREMOTE, "instance %s runs on host %s", vm->name, vm->host);
}

/* ---- runners ---------------------------------------------------------------- */

/* Field 22 of /proc/<pid>/stat: when the process started, in clock ticks
 * since boot.  -errno when there is no such process. */
static int proc_start_time(long pid, unsigned long long *out)
{
	char path[64], buf[2048], *save = NULL, *tok;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = '\0';
	/* Field 2, the command name, is in parentheses and may hold spaces
	 * and parentheses itself: the fields that follow start after the last
	 * ')'.  The first of them is field 3. */
	char *p = strrchr(buf, ')');
	if (!p)
		return -EIO;
	tok = strtok_r(p + 1, " ", &save);
	for (int field = 3; tok && field < 22; field++)
		tok = strtok_r(NULL, " ", &save);
	if (!tok || sscanf(tok, "%llu", out) != 1)
		return -EIO;
	return 0;
}

int model_runner_id(const char *host, char out[MODEL_RUNNER_ID_MAX])
{
	unsigned long long start;
	int rc = proc_start_time((long)getpid(), &start);
	if (rc < 0)
		return rc;
	snprintf(out, MODEL_RUNNER_ID_MAX, "%s/%ld:%llu", host, (long)getpid(), start);
	return 0;
}

int model_runner_self(model *m, char out[MODEL_RUNNER_ID_MAX])
{
	return model_runner_id(m->host, out);
}

/* When host's lease lapses (or lapsed): unix seconds, 0 when it has no
 * row (removed, or never mounted). */
static int64_t lease_end(struct model_conn *c, const char *host)
{
	db_stmt *st = model_stmt(c, SQL("SELECT renewed_ns FROM hosts WHERE name = ?"));
	int64_t end = 0;
	if (!st)
		return 0;
	db_bind_text(st, 1, host);
	if (db_step(st) == DB_ROW)
		end = db_col_int64(st, 0) / 1000000000LL + model_lease(c->m);
	db_reset(st);
	return end;
}

int model_task_orphaned(struct model_conn *c, const char *runner, const char *bound, int64_t updated,
                        char host_out[MODEL_HOST_MAX + 1], int64_t *since_out)
{
	const char *slash = strchr(runner, '/');
	*since_out = 0;
	if (runner[0]) {
		/* A runner id without a host is this host's (the top of the file). */
		size_t n = slash ? (size_t)(slash - runner) : 0;
		if (slash && n <= MODEL_HOST_MAX) {
			memcpy(host_out, runner, n);
			host_out[n] = '\0';
		} else {
			snprintf(host_out, MODEL_HOST_MAX + 1, "%s", c->m->host);
		}
		if (model_runner_alive(c, runner))
			return 0;
		bool here = !c->m->cluster || strcmp(host_out, c->m->host) == 0;
		*since_out = here ? updated : lease_end(c, host_out);
		if (*since_out <= 0)
			*since_out = updated;
		return 1;
	}
	snprintf(host_out, MODEL_HOST_MAX + 1, "%s", bound);
	/* Queued: any host takes it, or its own host, if that one is there.
	 * In the embedded default every mount is this machine's. */
	if (!bound[0] || !c->m->cluster || strcmp(bound, c->m->host) == 0 || model_host_alive(c, bound))
		return 0;
	*since_out = lease_end(c, bound);
	if (*since_out <= 0)
		*since_out = updated;
	return 1;
}

bool model_runner_alive(struct model_conn *c, const char *id)
{
	unsigned long long start, now;
	const char *slash = strchr(id, '/');
	long pid;
	int used = 0;

	if (slash) {
		size_t n = (size_t)(slash - id);
		if (c->m->cluster && (n != strlen(c->m->host) || strncmp(id, c->m->host, n) != 0)) {
			char host[MODEL_HOST_MAX + 1];
			if (n > MODEL_HOST_MAX)
				return false;
			memcpy(host, id, n);
			host[n] = '\0';
			return model_host_alive(c, host);
		}
		id = slash + 1;
	}
	if (sscanf(id, "%ld:%llu%n", &pid, &start, &used) != 2 || id[used] != '\0' || pid <= 0)
		return false;
	return proc_start_time(pid, &now) == 0 && now == start;
}

/* The host of runner id (this host's when it names none); false when it
 * names one too long to be a host. */
static bool runner_host(const struct model_conn *c, const char *id, char host[MODEL_HOST_MAX + 1])
{
	const char *slash = strchr(id, '/');
	size_t n = slash ? (size_t)(slash - id) : 0;
	if (!slash) {
		snprintf(host, MODEL_HOST_MAX + 1, "%s", c->m->host);
		return true;
	}
	if (n > MODEL_HOST_MAX)
		return false;
	memcpy(host, id, n);
	host[n] = '\0';
	return true;
}

bool model_runner_ended(struct model_conn *c, const char *id)
{
	char host[MODEL_HOST_MAX + 1];
	if (!runner_host(c, id, host))
		return false;
	if (!c->m->cluster || strcmp(host, c->m->host) == 0)
		return !model_runner_alive(c, id);
	db_stmt *st = model_stmt(c, SQL("SELECT 1 FROM hosts WHERE name = ?"));
	if (!st)
		return false;
	db_bind_text(st, 1, host);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_DONE; /* no row: removed (a row, or no answer: not known to be over) */
}

bool model_runner_silent(struct model_conn *c, const char *id)
{
	char host[MODEL_HOST_MAX + 1];
	if (!c->m->cluster || !runner_host(c, id, host) || strcmp(host, c->m->host) == 0)
		return false;
	db_stmt *st = model_stmt(c, SQL("SELECT renewed_ns FROM hosts WHERE name = ?"));
	bool silent = false;
	if (!st)
		return true; /* cannot tell: show no rate */
	db_bind_text(st, 1, host);
	int rc = db_step(st);
	silent = rc != DB_ROW ||
	         db_col_int64(st, 0) < model_now_ns() - model_lease(c->m) * 1000000000LL / 3;
	db_reset(st);
	return silent;
}

int model_host_remove(model *m, const char *name, struct model_err *err)
{
	char reason[MODEL_HOST_MAX + 32];
	struct model_conn *c;
	db_stmt *st;
	int64_t renewed = 0;
	int rc;

	if (!model_host_name_valid(name))
		return model_fail(err, -EINVAL, "%s is not a host name", name);
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT renewed_ns FROM hosts WHERE name = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, name);
	rc = db_step(st);
	if (rc == DB_ROW)
		renewed = db_col_int64(st, 0);
	db_reset(st);
	if (rc == DB_DONE) {
		rc = model_fail(err, -ENOENT, "no host %s", name);
		goto out;
	}
	if (rc != DB_ROW)
		goto out;
	int64_t age = (model_now_ns() - renewed) / 1000000000LL;
	if (age < model_lease(m)) {
		rc = model_fail(err, -EBUSY, "host %s renewed its lease %llds ago: stop its mount first", name,
		                (long long)age);
		goto out;
	}
	/* Its tasks end in error at their next claim, on any host (each kind
	 * undoes what it made: task_int.h) — but a URL import, whose durable
	 * point is in the region's store and its row (import.c), goes on from
	 * there on the host that claims it (§13). */
	snprintf(reason, sizeof(reason), "host %s was removed", name);
	if (!(st = model_stmt(c, SQL("UPDATE tasks SET error = CASE kind WHEN 'import' THEN error ELSE ? END, host = '' "
	                             "WHERE host = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, reason);
	db_bind_text(st, 2, name);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	/* Its admin commands' writers (writer.c); its tasks' go with them. */
	if (!(st = model_stmt(c, SQL("DELETE FROM writers WHERE host = ? AND task_id IS NULL")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, name);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if (!(st = model_stmt(c, SQL("DELETE FROM hosts WHERE name = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, name);
	rc = model_exec_stmt(st);
out:
	return model_write_end(c, rc, err);
}
