/*
 * host.c — the hosts that mount one service (SPEC §13), their leases, and
 * whether a task's runner is still alive.
 *
 * Every process of the service acts for a host: its name is the mount's
 * `-o host=` (default: the machine's name).  A mount registers its host
 * and renews the host's lease (hosts.renewed_ns) every few seconds
 * (fs/watch.c calls model_host_renew); `imgfs admin host list` shows them.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "model_int.h"

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

int64_t model_lease(model *m)
{
	struct model_conn *c;
	db_stmt *st;
	int64_t v = 0;
	if (model_conn_get(m, &c) == 0 && (st = model_stmt(c, SQL("SELECT value FROM settings WHERE key = 'lease'")))) {
		if (db_step(st) == DB_ROW)
			v = db_col_int64(st, 0);
		db_reset(st);
	}
	return v >= 1 ? v : LEASE_DEFAULT;
}

int model_lease_set(model *m, int64_t seconds, struct model_err *err)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if (seconds < 2 || seconds > 86400)
		return model_fail(err, -EINVAL, "the lease is 2 .. 86400 seconds");
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("INSERT INTO settings(key, value) VALUES ('lease', ?) "
	                             "ON CONFLICT(key) DO UPDATE SET value = excluded.value")))) {
		model_rollback(c);
		return -EIO;
	}
	db_bind_int64(st, 1, seconds);
	if ((rc = model_exec_stmt(st)) < 0) {
		model_rollback(c);
		return model_fail(err, rc, "database: %s", strerror(-rc));
	}
	return model_commit(c);
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
static bool host_alive(struct model_conn *c, const char *host)
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

int model_runner_self(model *m, char out[MODEL_RUNNER_ID_MAX])
{
	unsigned long long start;
	int rc = proc_start_time((long)getpid(), &start);
	if (rc < 0)
		return rc;
	snprintf(out, MODEL_RUNNER_ID_MAX, "%s/%ld:%llu", m->host, (long)getpid(), start);
	return 0;
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
			return host_alive(c, host);
		}
		id = slash + 1;
	}
	if (sscanf(id, "%ld:%llu%n", &pid, &start, &used) != 2 || id[used] != '\0' || pid <= 0)
		return false;
	return proc_start_time(pid, &now) == 0 && now == start;
}
