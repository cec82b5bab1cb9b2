/*
 * task.c — background tasks: the queue, claiming, progress, and the first
 * kind of task, the capture of an instance into a private image (SPEC
 * §5.1, seed 001).
 *
 * Who calls it: fs/ (writing `source` queues a capture; the `task` file;
 * the mount's worker threads call model_task_work in a loop), the unit
 * tests.  Workload: a handful of tasks at a time, each moving gigabytes;
 * the database sees a claim, a progress row every PROGRESS_NS and one
 * transaction per finished device.
 *
 * The tasks row (schema.c) is the queue entry and the task's whole state:
 *   kind        'capture'
 *   image_id    the image it makes
 *   source_kind 'instance', source_id the instance it reads (which is
 *               "busy" while the row exists: model_instance_busy)
 *   args        one line per captured device,
 *               "<idx> <src blob id> <dst blob id> <snapshot id or 0>"
 *   state       'queued' or 'running' (finished and failed rows are deleted)
 *   claimed_by  the runner that runs it, "<pid>:<start time>", '' when none
 *   bytes_done, bytes_total, started, updated: what `task` shows
 *
 * Claiming and liveness.  A runner is a process; its id is its pid and the
 * start time of that process (field 22 of /proc/<pid>/stat, clock ticks
 * since boot), so a recycled pid is not mistaken for the runner.  A claim
 * is one guarded UPDATE in a write transaction: a 'queued' task, or a
 * 'running' one whose runner is dead, becomes 'running' under this runner
 * WHERE claimed_by is still what was read — so no task runs twice, across
 * the threads of a process and across processes.  Every later write of the
 * task repeats the guard (claimed_by = me); finding the task taken over, a
 * runner stops quietly.  Assumption: every process that opens a state
 * directory runs on the same machine and in the same pid namespace (the
 * state directory is local; two machines sharing one over NFS, or
 * containers with separate pid namespaces, are not supported: each would
 * see the other's runners as dead).
 *
 * Capture.  model_image_capture() checks and reserves everything in one
 * transaction: the image goes queued -> pending with its type, format,
 * size and source; a destination blob row "being written" (no manifest,
 * no wblob) is created per device, a snapshot row `creating` for a cloud
 * vda and for every data disk (visible and counted by the quota at once),
 * and the task row.  The runner moves the image to replicating, then seals
 * each instance disk (blob_wblob_seal_progress: unchanged chunks keep the
 * ids of the disk's base, the others are stored, deduplicated), and
 * records each manifest in its destination blob, with the snapshot
 * `available`, in one transaction: that is the durable point of a device,
 * and a resumed task skips every device whose blob has its manifest.  The
 * last transaction maps the devices and makes the image available; only
 * it does, after every manifest is durable (SQLite synchronous=FULL, chunk
 * files fsynced by the store), so a crash never yields an available image
 * with wrong bytes.  A failure removes every snapshot and blob row the
 * task created, leaves the image in `error` with the reason, and changes
 * nothing else (SPEC §4); chunks it stored are left to gc.
 *
 * Stopping: a runner whose *stop is set stops between two chunks and puts
 * its task back in the queue; the next runner resumes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "model_int.h"

#define PROGRESS_NS (250 * 1000000LL) /* at most this often a progress write */
#define RUNNER_ID_MAX 48

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

/* This process's runner id, "<pid>:<start time>".  Computed per claim, not
 * cached: no process-wide state, and a forked child gets its own. */
static int runner_self(char out[RUNNER_ID_MAX])
{
	unsigned long long start;
	int rc = proc_start_time((long)getpid(), &start);
	if (rc < 0)
		return rc;
	snprintf(out, RUNNER_ID_MAX, "%ld:%llu", (long)getpid(), start);
	return 0;
}

/* Whether the runner named by a claimed_by value is alive: its pid exists
 * and started when the runner did.  A value of another form is dead. */
static bool runner_alive(const char *id)
{
	unsigned long long start, now;
	long pid;
	int used = 0;

	if (sscanf(id, "%ld:%llu%n", &pid, &start, &used) != 2 || id[used] != '\0' || pid <= 0)
		return false;
	return proc_start_time(pid, &now) == 0 && now == start;
}

/* ---- task rows ---------------------------------------------------------------- */

struct task_row {
	int64_t id;
	char kind[16];
	int64_t image_id;
	char source_kind[16];
	int64_t source_id;
	char args[MODEL_TEXT_MAX + 1];
	char state[16];
	uint64_t bytes_done, bytes_total;
	int64_t started, updated;
};

static void task_fill(sqlite3_stmt *st, void *out)
{
	struct task_row *t = out;
	t->id = sqlite3_column_int64(st, 0);
	model_col_text(st, 1, t->kind, sizeof(t->kind));
	t->image_id = sqlite3_column_int64(st, 2);
	model_col_text(st, 3, t->source_kind, sizeof(t->source_kind));
	t->source_id = sqlite3_column_int64(st, 4);
	model_col_text(st, 5, t->args, sizeof(t->args));
	model_col_text(st, 6, t->state, sizeof(t->state));
	t->bytes_done = (uint64_t)sqlite3_column_int64(st, 7);
	t->bytes_total = (uint64_t)sqlite3_column_int64(st, 8);
	t->started = sqlite3_column_int64(st, 9);
	t->updated = sqlite3_column_int64(st, 10);
}

/* A task being run: the row as claimed, the runner, and how it ended. */
struct task_run {
	model *m;
	char me[RUNNER_ID_MAX];
	struct task_row t;
	const volatile int *stop;
	int64_t region_id;     /* of the image (and everything the task made) */
	enum model_folder folder;
	uint64_t bytes_done;
	int64_t last_progress; /* ns */
	bool stopped;          /* *stop was seen: the task goes back to the queue */
	bool lost;             /* another runner holds it now: hands off */
};

/* Inside a transaction: records bytes_done if the task is still ours.  1
 * when it is, 0 when another runner took it (or it is gone), -errno. */
static int task_touch(struct model_conn *c, struct task_run *r)
{
	sqlite3_stmt *st = model_stmt(c, "UPDATE tasks SET bytes_done = ?, updated = ? WHERE id = ? AND claimed_by = ?");
	int rc;
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, (int64_t)r->bytes_done);
	sqlite3_bind_int64(st, 2, (int64_t)time(NULL));
	sqlite3_bind_int64(st, 3, r->t.id);
	sqlite3_bind_text(st, 4, r->me, -1, SQLITE_STATIC);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	if (sqlite3_changes(c->db) != 1)
		r->lost = true;
	return !r->lost;
}

/* Begins a write transaction in which the task is still ours: 1 (with the
 * transaction open), 0 (lost: nothing open), -errno. */
static int task_begin(struct task_run *r, struct model_conn **c)
{
	int rc;
	if ((rc = model_write_begin(r->m, c, NULL)) < 0)
		return rc;
	if ((rc = task_touch(*c, r)) <= 0)
		model_rollback(*c);
	return rc;
}

static int task_delete_row(struct model_conn *c, int64_t id)
{
	sqlite3_stmt *st = model_stmt(c, "DELETE FROM tasks WHERE id = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	return model_exec_stmt(st);
}

/* Puts the task back in the queue for another runner (stopping, or a
 * database error that another try may not meet). */
static int task_requeue(struct task_run *r)
{
	struct model_conn *c;
	sqlite3_stmt *st;
	int rc;
	if ((rc = task_begin(r, &c)) <= 0)
		return rc;
	if (!(st = model_stmt(c, "UPDATE tasks SET state = 'queued', claimed_by = '' WHERE id = ?"))) {
		rc = -EIO;
		goto out;
	}
	sqlite3_bind_int64(st, 1, r->t.id);
	/* The task file shows the state: an IMAGE change. */
	if ((rc = model_exec_stmt(st)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, r->t.image_id, r->region_id, r->folder, NULL)) < 0)
		goto out;
	return model_commit(c);
out:
	model_rollback(c);
	return rc;
}

/* In the caller's transaction: the image's progress (0..99 until the task
 * makes it available) from bytes_done.  progress is a file whose content
 * changes, and `task` with it: the image's mtime and an IMAGE change. */
static int image_progress(struct model_conn *c, struct task_run *r)
{
	sqlite3_stmt *st = model_stmt(c, "UPDATE images SET progress = ?, mtime_ns = ?2, ctime_ns = ?2 WHERE id = ?3");
	uint64_t total = r->t.bytes_total;
	int pct = total ? (int)(r->bytes_done * 100 / total) : 0;
	int rc;
	if (!st)
		return -EIO;
	sqlite3_bind_int(st, 1, pct > 99 ? 99 : pct);
	sqlite3_bind_int64(st, 2, model_now_ns());
	sqlite3_bind_int64(st, 3, r->t.image_id);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	return model_log_change(c, MODEL_CHANGE_IMAGE, r->t.image_id, r->region_id, r->folder, NULL);
}

/* One short transaction: bytes_done and the image's progress.  1 to go
 * on, 0 when the task was lost.  A database error costs one update, not
 * the task: the next one (or the device's end) writes it again. */
static int task_progress(struct task_run *r)
{
	struct model_conn *c;
	int rc = task_begin(r, &c);
	if (rc <= 0)
		return rc < 0 ? 1 : 0;
	if (image_progress(c, r) < 0) {
		model_rollback(c);
		return 1;
	}
	model_commit(c);
	return 1;
}

/* ---- claiming ------------------------------------------------------------------ */

struct claim_pick {
	int64_t id;
	char claimed_by[64];
	char state[16];
};

static int claim_row(void *arg, sqlite3_stmt *st)
{
	struct claim_pick *p = arg;
	char state[16], by[64];
	model_col_text(st, 1, state, sizeof(state));
	model_col_text(st, 2, by, sizeof(by));
	if (strcmp(state, "running") == 0 && runner_alive(by))
		return 0; /* its runner works on it (maybe another thread of ours) */
	p->id = sqlite3_column_int64(st, 0);
	memcpy(p->claimed_by, by, sizeof(by));
	memcpy(p->state, state, sizeof(state));
	return 1;
}

/* Claims the oldest runnable task into r->t: 1, 0 when none, -errno. */
static int task_claim(struct task_run *r)
{
	struct claim_pick pick = {0};
	struct model_conn *c;
	sqlite3_stmt *st;
	int64_t now = (int64_t)time(NULL);
	int rc;

	if ((rc = model_write_begin(r->m, &c, NULL)) < 0)
		return rc;
	if (!(st = model_stmt(c, "SELECT id, state, claimed_by FROM tasks WHERE state IN ('queued', 'running') "
	                         "ORDER BY id"))) {
		rc = -EIO;
		goto out;
	}
	if ((rc = model_each_row(st, claim_row, &pick)) <= 0)
		goto out;
	if (!(st = model_stmt(c, "UPDATE tasks SET state = 'running', claimed_by = ?, "
	                         "started = CASE started WHEN 0 THEN ?2 ELSE started END, updated = ?2 "
	                         "WHERE id = ? AND claimed_by = ? AND state = ?"))) {
		rc = -EIO;
		goto out;
	}
	sqlite3_bind_text(st, 1, r->me, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, pick.id);
	sqlite3_bind_text(st, 4, pick.claimed_by, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, pick.state, -1, SQLITE_STATIC);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if (sqlite3_changes(c->db) != 1) { /* cannot happen inside BEGIN IMMEDIATE; be safe */
		rc = 0;
		goto out;
	}
	if (!(st = model_stmt(c, "SELECT id, kind, image_id, source_kind, source_id, args, state, bytes_done, "
	                         "bytes_total, started, updated FROM tasks WHERE id = ?"))) {
		rc = -EIO;
		goto out;
	}
	sqlite3_bind_int64(st, 1, pick.id);
	if ((rc = model_one_row(st, task_fill, &r->t)) < 0)
		goto out;
	if ((rc = model_commit(c)) < 0)
		return rc;
	r->bytes_done = r->t.bytes_done;
	return 1;
out:
	model_rollback(c);
	return rc;
}

/* ---- capture: the plan -------------------------------------------------------- */

/* One captured device. */
struct cap_dev {
	int idx;             /* 0 vda .. 25 vdz */
	int64_t src_blob;    /* the instance's disk (a wblob) */
	int64_t dst_blob;    /* being written: no manifest until sealed */
	int64_t snap_id;     /* 0: vda of a local image (the image file) */
	uint64_t size;
	char wblob[64];      /* the source's wblob name */
};

static void dev_name(char out[8], int idx)
{
	snprintf(out, 8, "vd%c", 'a' + idx);
}

/* Orders the requested data devices, refusing repeats and non-data
 * devices; vda leads the plan. */
static int cap_select(const int *devs, int ndevs, int out[MODEL_VM_MAX_DISKS], struct model_err *err)
{
	bool seen[MODEL_VM_MAX_DISKS] = {false};
	int n = 0;
	char name[8];

	if (ndevs < 0 || ndevs > MODEL_VM_MAX_DISKS - 1)
		return model_fail(err, -EINVAL, "at most %d data disks", MODEL_VM_MAX_DISKS - 1);
	for (int i = 0; i < ndevs; i++) {
		if (devs[i] < 1 || devs[i] >= MODEL_VM_MAX_DISKS)
			return model_fail(err, -EINVAL, "device %d is not a data disk (vdb .. vdz)", devs[i]);
		dev_name(name, devs[i]);
		if (seen[devs[i]])
			return model_fail(err, -EINVAL, "%s is listed twice", name);
		seen[devs[i]] = true;
	}
	out[n++] = 0;
	for (int idx = 1; idx < MODEL_VM_MAX_DISKS; idx++)
		if (seen[idx])
			out[n++] = idx;
	return n;
}

/* The plan: every selected device of the instance with its size, read from
 * the disk itself (blobs.size lags behind a writer that is still open). */
static int cap_plan(model *m, const struct model_instance *vm, const int *devs, int ndevs, struct cap_dev *cap,
                    struct model_err *err)
{
	struct model_vm_disk disks[MODEL_VM_MAX_DISKS];
	int want[MODEL_VM_MAX_DISKS];
	blob_store *s;
	int n, ndisks, rc;

	if ((n = cap_select(devs, ndevs, want, err)) < 0)
		return n;
	if ((ndisks = model_instance_disks(m, vm->id, disks)) < 0)
		return model_fail(err, ndisks, "cannot list the disks of instance %s", vm->name);
	if ((rc = model_store(m, vm->region_id, &s)) < 0)
		return model_fail(err, rc, "cannot open the blob store: %s", strerror(-rc));
	for (int k = 0; k < n; k++) {
		const struct model_vm_disk *d = NULL;
		blob_wblob *w = NULL;
		char name[8];

		dev_name(name, want[k]);
		for (int j = 0; j < ndisks && !d; j++)
			if (disks[j].index == want[k])
				d = &disks[j];
		if (!d)
			return model_fail(err, -ENOENT, "instance %s has no disk %s", vm->name, name);
		if ((rc = blob_wblob_open(&w, s, d->wblob)) < 0)
			return model_fail(err, -EIO, "disk %s of instance %s cannot be read: %s", name, vm->name,
			                  strerror(-rc));
		cap[k] = (struct cap_dev){.idx = want[k], .src_blob = d->blob_id, .size = blob_wblob_size(w)};
		snprintf(cap[k].wblob, sizeof(cap[k].wblob), "%s", d->wblob);
		blob_wblob_close(w);
	}
	return n;
}

/* ---- capture: queueing -------------------------------------------------------- */

/* queued -> pending, with what the capture decides about the image. */
static int cap_image_pending(struct model_conn *c, const struct model_image *img, const struct model_instance *vm,
                             const struct cap_dev *cap, int n, struct model_err *err)
{
	char source[MODEL_TEXT_MAX + 1];
	size_t len;
	sqlite3_stmt *st;
	int rc;

	/* By id (SPEC §12): the instance may be renamed or another take its
	 * name later. */
	len = (size_t)snprintf(source, sizeof(source), "instance %s", vm->ext_id);
	for (int k = 1; k < n && len < sizeof(source); k++)
		len += (size_t)snprintf(source + len, sizeof(source) - len, " vd%c", 'a' + cap[k].idx);
	if (!(st = model_stmt(c, "UPDATE images SET status = ?, progress = 0, type = ?, format = 'raw', size = ?, "
	                         "source = ?, mtime_ns = ?5, ctime_ns = ?5 WHERE id = ? AND status = ?")))
		return -EIO;
	sqlite3_bind_int(st, 1, MODEL_IMG_PENDING);
	sqlite3_bind_int(st, 2, (int)vm->system_disk);
	sqlite3_bind_int64(st, 3, (int64_t)cap[0].size);
	sqlite3_bind_text(st, 4, source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, model_now_ns());
	sqlite3_bind_int64(st, 6, img->id);
	sqlite3_bind_int(st, 7, MODEL_IMG_QUEUED);
	if ((rc = model_exec_stmt(st)) < 0)
		return model_fail(err, rc, "database: %s", strerror(-rc));
	if (sqlite3_changes(c->db) != 1)
		return model_fail(err, -EBUSY, "the image changed status meanwhile");
	return 0;
}

/* The destination blob of a device, "being written". */
static int cap_insert_blob(struct model_conn *c, int64_t region_id, uint64_t size, int64_t *id_out)
{
	sqlite3_stmt *st = model_stmt(c, "INSERT INTO blobs(region_id, size, stored, mtime_ns) VALUES (?, ?, 0, ?)");
	int rc;
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, region_id);
	sqlite3_bind_int64(st, 2, (int64_t)size);
	sqlite3_bind_int64(st, 3, model_now_ns());
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	*id_out = sqlite3_last_insert_rowid(c->db);
	return 0;
}

/* A snapshot `creating` over the device's destination blob. */
static int cap_insert_snapshot(struct model_conn *c, const struct model_image *img, const struct model_instance *vm,
                               struct cap_dev *d)
{
	/* Names are at most 32 characters (§10), so both fit their limits;
	 * the buffers only keep the compiler's truncation check quiet. */
	char ext[16], name[MODEL_NAME_MAX + 16], desc[MODEL_NAME_MAX + 64], dev[8];
	sqlite3_stmt *st;
	int64_t now = model_now_ns();
	int rc;

	if ((rc = model_new_ext_id(c, "snap-", "snapshots", ext)) < 0)
		return rc;
	dev_name(dev, d->idx);
	snprintf(name, sizeof(name), "%s-%s", img->name, dev);
	snprintf(desc, sizeof(desc), "captured from instance %s %s", vm->name, dev);
	if (!(st = model_stmt(c, "INSERT INTO snapshots(ext_id, region_id, account_id, name, description, status, "
	                         "size, blob_id, created, mtime_ns, ctime_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?10)")))
		return -EIO;
	sqlite3_bind_text(st, 1, ext, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, img->region_id);
	sqlite3_bind_int64(st, 3, img->account_id);
	sqlite3_bind_text(st, 4, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, desc, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, MODEL_SNAP_CREATING);
	sqlite3_bind_int64(st, 7, (int64_t)d->size);
	sqlite3_bind_int64(st, 8, d->dst_blob);
	sqlite3_bind_int64(st, 9, now / 1000000000);
	sqlite3_bind_int64(st, 10, now);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	d->snap_id = sqlite3_last_insert_rowid(c->db);
	return model_log_change(c, MODEL_CHANGE_SNAPSHOT, d->snap_id, img->region_id, MODEL_FOLDER_INVALID, NULL);
}

static int cap_insert_task(struct model_conn *c, int64_t image_id, int64_t vm_id, const struct cap_dev *cap, int n)
{
	char args[MODEL_TEXT_MAX + 1];
	size_t len = 0;
	uint64_t total = 0;
	sqlite3_stmt *st;

	for (int k = 0; k < n; k++) {
		len += (size_t)snprintf(args + len, sizeof(args) - len, "%d %" PRId64 " %" PRId64 " %" PRId64 "\n",
		                        cap[k].idx, cap[k].src_blob, cap[k].dst_blob, cap[k].snap_id);
		if (len >= sizeof(args))
			return -E2BIG; /* 26 lines of 4 numbers: cannot happen */
		total += cap[k].size;
	}
	if (!(st = model_stmt(c, "INSERT INTO tasks(kind, image_id, source_kind, source_id, args, state, bytes_total) "
	                         "VALUES ('capture', ?, 'instance', ?, ?, 'queued', ?)")))
		return -EIO;
	sqlite3_bind_int64(st, 1, image_id);
	sqlite3_bind_int64(st, 2, vm_id);
	sqlite3_bind_text(st, 3, args, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)total);
	return model_exec_stmt(st);
}

/* The checks of SPEC §5.1 on the image and on the instance (resolved in
 * the caller's view: another account's, or another region's, is none). */
static int cap_check_image(const struct model_image *img, struct model_err *err)
{
	if (img->folder != MODEL_FOLDER_PRIVATE)
		return model_fail(err, -EPERM, "only private images are captured from instances");
	if (img->status != MODEL_IMG_QUEUED)
		return model_fail(err, -EPERM, "source is written only while the image is queued");
	return 0;
}

static int cap_check_vm(model *m, const struct model_image *img, int64_t vm_id, struct model_instance *vm,
                        struct model_err *err)
{
	if (model_instance_get(m, vm_id, vm) < 0 || vm->account_id != img->account_id ||
	    vm->region_id != img->region_id)
		return model_fail(err, -ENOENT, "no such instance");
	if (vm->status == MODEL_VM_RUNNING)
		return model_fail(err, -EBUSY, "instance %s is running; stop it first", vm->name);
	if (model_instance_busy(m, vm->id))
		return model_fail(err, -EBUSY, "instance %s is busy: another image is being captured from it", vm->name);
	return 0;
}

int model_image_capture(model *m, int64_t image_id, int64_t vm_id, const int *devs, int ndevs,
                        struct model_err *err)
{
	struct cap_dev cap[MODEL_VM_MAX_DISKS];
	struct model_instance vm;
	struct model_image img;
	struct model_conn *c;
	int n, nsnaps, rc;

	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_image_get(m, image_id, &img)) < 0) {
		model_fail(err, rc, "no such image");
		goto out;
	}
	if ((rc = cap_check_image(&img, err)) < 0 || (rc = cap_check_vm(m, &img, vm_id, &vm, err)) < 0 ||
	    (rc = n = cap_plan(m, &vm, devs, ndevs, cap, err)) < 0)
		goto out;
	nsnaps = n - (vm.system_disk == MODEL_TYPE_CLOUD ? 0 : 1);
	/* Checked only when snapshots are added: a quota lowered below its use
	 * does not stop a capture that takes none. */
	if ((nsnaps > 0 &&
	     (rc = model_quota_check(c, img.account_id, img.region_id, MODEL_QUOTA_SNAPSHOTS, nsnaps, err)) < 0) ||
	    (rc = cap_image_pending(c, &img, &vm, cap, n, err)) < 0)
		goto out;
	for (int k = 0; k < n; k++) {
		if ((rc = cap_insert_blob(c, img.region_id, cap[k].size, &cap[k].dst_blob)) < 0)
			goto fail_db;
		if ((k > 0 || vm.system_disk == MODEL_TYPE_CLOUD) && (rc = cap_insert_snapshot(c, &img, &vm, &cap[k])) < 0)
			goto fail_db;
	}
	/* snapshots/ lists the new ones; the instance is busy from now on. */
	if ((nsnaps > 0 && (rc = model_touch_region(c, img.region_id)) < 0) ||
	    (rc = cap_insert_task(c, image_id, vm_id, cap, n)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, image_id, img.region_id, img.folder, NULL)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_INSTANCE, vm_id, vm.region_id, MODEL_FOLDER_INVALID, NULL)) < 0)
		goto fail_db;
	if ((rc = model_commit(c)) < 0)
		return model_fail(err, rc, "database: %s", strerror(-rc));
	return 0;
fail_db:
	model_fail(err, rc, "database: %s", strerror(-rc));
out:
	model_rollback(c);
	return rc;
}

/* ---- capture: running ---------------------------------------------------------- */

/* The plan back from the task's args (sizes and wblob names from the
 * rows).  Returns the device count or -EINVAL for args this version did
 * not write. */
static int cap_parse(const char *args, struct cap_dev *cap)
{
	int n = 0;
	for (const char *p = args; *p;) {
		struct cap_dev d = {0};
		int used = 0;
		if (n == MODEL_VM_MAX_DISKS ||
		    sscanf(p, "%d %" SCNd64 " %" SCNd64 " %" SCNd64 "%n", &d.idx, &d.src_blob, &d.dst_blob, &d.snap_id,
		           &used) != 4 ||
		    d.idx < 0 || d.idx >= MODEL_VM_MAX_DISKS || p[used] != '\n')
			return -EINVAL;
		cap[n++] = d;
		p += used + 1;
	}
	return n > 0 && cap[0].idx == 0 ? n : -EINVAL;
}

/* Inside a transaction: removes what the task created (its snapshots and
 * their blobs, the image file's blob), leaves the image in error with the
 * reason, deletes the task.  SPEC §4: "changes nothing else". */
static int task_fail_rows(struct model_conn *c, struct task_run *r, const struct cap_dev *cap, int n,
                          const char *reason)
{
	sqlite3_stmt *st;
	int64_t now = model_now_ns();
	bool snaps = false;
	int rc;

	for (int k = 0; k < n; k++) {
		struct model_snapshot s;
		if (cap[k].snap_id && model_snapshot_get(r->m, cap[k].snap_id, &s) == 0) {
			if ((rc = model_snapshot_delete_row(c, &s)) < 0)
				return rc;
			snaps = true;
		}
		if ((rc = model_blob_drop_unreferenced(c, cap[k].dst_blob)) < 0)
			return rc;
	}
	if (snaps && (rc = model_touch_region(c, r->region_id)) < 0)
		return rc;
	if (!(st = model_stmt(c, "UPDATE images SET status = ?, error = ?, error_ns = ?3, mtime_ns = ?3, ctime_ns = ?3 "
	                         "WHERE id = ? AND status IN (?, ?)")))
		return -EIO;
	sqlite3_bind_int(st, 1, MODEL_IMG_ERROR);
	sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, r->t.image_id);
	sqlite3_bind_int(st, 5, MODEL_IMG_PENDING);
	sqlite3_bind_int(st, 6, MODEL_IMG_REPLICATING);
	if ((rc = model_exec_stmt(st)) < 0 || (rc = task_delete_row(c, r->t.id)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, r->t.image_id, r->region_id, r->folder, NULL)) < 0)
		return rc;
	if (strcmp(r->t.source_kind, "instance") == 0)
		return model_log_change(c, MODEL_CHANGE_INSTANCE, r->t.source_id, r->region_id, MODEL_FOLDER_INVALID,
		                        NULL);
	return 0;
}

static int task_fail(struct task_run *r, const struct cap_dev *cap, int n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int task_fail(struct task_run *r, const struct cap_dev *cap, int n, const char *fmt, ...)
{
	struct model_conn *c;
	char reason[256];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if ((rc = task_begin(r, &c)) <= 0)
		return rc;
	if ((rc = task_fail_rows(c, r, cap, n, reason)) < 0) {
		model_rollback(c);
		return rc;
	}
	return model_commit(c);
}

/* pending -> replicating when the runner starts (a resumed task is there
 * already). */
static int cap_start(struct task_run *r)
{
	struct model_conn *c;
	sqlite3_stmt *st;
	int rc;
	if ((rc = task_begin(r, &c)) <= 0)
		return rc;
	if (!(st = model_stmt(c, "UPDATE images SET status = ?, mtime_ns = ?2, ctime_ns = ?2 WHERE id = ? AND status = ?"))) {
		rc = -EIO;
		goto out;
	}
	sqlite3_bind_int(st, 1, MODEL_IMG_REPLICATING);
	sqlite3_bind_int64(st, 2, model_now_ns());
	sqlite3_bind_int64(st, 3, r->t.image_id);
	sqlite3_bind_int(st, 4, MODEL_IMG_PENDING);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if (sqlite3_changes(c->db) == 1 &&
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, r->t.image_id, r->region_id, r->folder, NULL)) < 0)
		goto out;
	return model_commit(c);
out:
	model_rollback(c);
	return rc;
}

/* Progress of the device being sealed (blob_wblob_seal_progress). */
struct cap_seal {
	struct task_run *r;
	uint64_t before; /* bytes of the devices done before this one */
	uint64_t size;   /* this device's size as planned */
};

static int cap_seal_progress(void *arg, uint64_t done, uint64_t total)
{
	struct cap_seal *cs = arg;
	struct task_run *r = cs->r;
	int64_t now;

	(void)total;
	if (r->stop && *r->stop) {
		r->stopped = true;
		return 1;
	}
	if ((now = model_now_ns()) - r->last_progress < PROGRESS_NS)
		return 0;
	r->last_progress = now;
	r->bytes_done = cs->before + (done < cs->size ? done : cs->size);
	return task_progress(r) ? 0 : 1;
}

/* The durable point of one device: its manifest in the destination blob,
 * its snapshot available, bytes_done — in one transaction. */
static int cap_device_done(struct task_run *r, const struct cap_dev *d, const blob_manifest *man)
{
	struct model_conn *c;
	sqlite3_stmt *st;
	void *enc = NULL;
	size_t len = 0;
	int64_t now = model_now_ns();
	int rc;

	if ((rc = blob_manifest_encode(&enc, &len, man)) < 0)
		return rc;
	if ((rc = task_begin(r, &c)) <= 0)
		goto out_free;
	/* xxh128 '': computed lazily on first use (model_blob_hash). */
	if (!(st = model_stmt(c, "UPDATE blobs SET manifest = ?, size = ?, stored = ?, xxh128 = '', mtime_ns = ? "
	                         "WHERE id = ? AND manifest IS NULL"))) {
		rc = -EIO;
		goto out;
	}
	sqlite3_bind_blob(st, 1, enc, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)man->size);
	sqlite3_bind_int64(st, 3, (int64_t)man->stored);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_int64(st, 5, d->dst_blob);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if (d->snap_id) {
		if (!(st = model_stmt(c, "UPDATE snapshots SET status = ?, size = ?, mtime_ns = ?3, ctime_ns = ?3 "
		                         "WHERE id = ?"))) {
			rc = -EIO;
			goto out;
		}
		sqlite3_bind_int(st, 1, MODEL_SNAP_AVAILABLE);
		sqlite3_bind_int64(st, 2, (int64_t)man->size);
		sqlite3_bind_int64(st, 3, now);
		sqlite3_bind_int64(st, 4, d->snap_id);
		if ((rc = model_exec_stmt(st)) < 0 ||
		    (rc = model_log_change(c, MODEL_CHANGE_SNAPSHOT, d->snap_id, r->region_id, MODEL_FOLDER_INVALID,
		                           NULL)) < 0)
			goto out;
	}
	if ((rc = image_progress(c, r)) < 0)
		goto out;
	rc = model_commit(c);
	goto out_free;
out:
	model_rollback(c);
out_free:
	free(enc);
	return rc;
}

/* The last transaction: devices mapped (§2.2), the image available. */
static int cap_finish(struct task_run *r, const struct cap_dev *cap, int n)
{
	struct model_conn *c;
	sqlite3_stmt *st;
	int64_t now = model_now_ns();
	int rc;

	if ((rc = task_begin(r, &c)) <= 0)
		return rc;
	for (int k = 0; k < n; k++) {
		if (!(st = model_stmt(c, "INSERT INTO devices(image_id, idx, blob_id, snapshot_id) VALUES (?, ?, ?, ?)"))) {
			rc = -EIO;
			goto out;
		}
		sqlite3_bind_int64(st, 1, r->t.image_id);
		sqlite3_bind_int(st, 2, cap[k].idx);
		sqlite3_bind_int64(st, 3, cap[k].dst_blob);
		sqlite3_bind_int64(st, 4, cap[k].snap_id);
		if ((rc = model_exec_stmt(st)) < 0)
			goto out;
	}
	/* disks/ gets its entries: the directory's mtime too.  The size is
	 * vda's as sealed.  Entering available clears a refusal's reason. */
	if (!(st = model_stmt(c, "UPDATE images SET status = ?, progress = 100, "
	                         "size = (SELECT size FROM blobs WHERE id = ?), "
	                         "error_ns = CASE error WHEN '' THEN error_ns ELSE ?3 END, error = '', "
	                         "mtime_ns = ?3, ctime_ns = ?3, dir_mtime_ns = ?3 WHERE id = ? AND status IN (?, ?)"))) {
		rc = -EIO;
		goto out;
	}
	sqlite3_bind_int(st, 1, MODEL_IMG_AVAILABLE);
	sqlite3_bind_int64(st, 2, cap[0].dst_blob);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, r->t.image_id);
	sqlite3_bind_int(st, 5, MODEL_IMG_PENDING);
	sqlite3_bind_int(st, 6, MODEL_IMG_REPLICATING);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if (sqlite3_changes(c->db) != 1) {
		rc = -ESTALE; /* checked by the caller beforehand: cannot happen */
		goto out;
	}
	if ((rc = task_delete_row(c, r->t.id)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, r->t.image_id, r->region_id, r->folder, NULL)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_INSTANCE, r->t.source_id, r->region_id, MODEL_FOLDER_INVALID,
	                           NULL)) < 0)
		goto out;
	return model_commit(c);
out:
	model_rollback(c);
	return rc;
}

/* Seals one device unless a previous run did.  0 when sealed, skipped,
 * stopped or lost (see r), -errno from the database; a failure of the
 * device's bytes (the disk unreadable, the store full) goes to *dev_err. */
static int cap_device(struct task_run *r, struct cap_dev *d, uint64_t before, int *dev_err)
{
	struct cap_seal cs = {r, before, 0};
	struct model_blob src, dst;
	blob_manifest *man = NULL;
	blob_wblob *w = NULL;
	blob_store *s;
	int rc;

	if ((rc = model_blob_get(r->m, d->dst_blob, &dst)) < 0)
		goto fail;
	d->size = dst.size;
	if (dst.sealed)
		return 0; /* durable already: a resumed task skips it */
	cs.size = dst.size;
	/* The disk's wblob, named by its row now (the instance cannot change
	 * its disks while the capture makes it busy). */
	if ((rc = model_blob_get(r->m, d->src_blob, &src)) < 0 || (rc = src.wblob[0] ? 0 : -ENOENT) < 0 ||
	    (rc = model_store(r->m, r->region_id, &s)) < 0 || (rc = blob_wblob_open(&w, s, src.wblob)) < 0)
		goto fail;
	rc = blob_wblob_seal_progress(w, &man, cap_seal_progress, &cs);
	blob_wblob_close(w);
	if (rc == -ECANCELED && (r->stopped || r->lost))
		return 0;
	if (rc < 0)
		goto fail;
	r->bytes_done = before + d->size;
	rc = cap_device_done(r, d, man);
	blob_manifest_free(man);
	return rc < 0 ? rc : 0;
fail:
	*dev_err = rc;
	return 0;
}

static int capture_run(struct task_run *r)
{
	struct cap_dev cap[MODEL_VM_MAX_DISKS];
	struct model_image img;
	uint64_t before = 0;
	char dev[8];
	int n, rc;

	if ((n = cap_parse(r->t.args, cap)) < 0)
		return task_fail(r, NULL, 0, "capture failed: its task record is unreadable");
	if ((rc = model_image_get(r->m, r->t.image_id, &img)) < 0 ||
	    (img.status != MODEL_IMG_PENDING && img.status != MODEL_IMG_REPLICATING))
		return task_fail(r, cap, n, "capture failed: the image is %s",
		                 rc < 0 ? "gone" : model_image_status_name(img.status));
	if ((rc = cap_start(r)) < 0 || r->lost)
		return rc;
	for (int k = 0; k < n; k++) {
		int dev_err = 0;
		if ((rc = cap_device(r, &cap[k], before, &dev_err)) < 0 || r->stopped || r->lost)
			return rc;
		if (dev_err) {
			dev_name(dev, cap[k].idx);
			return task_fail(r, cap, n, "capture failed: %s %s: %s", dev_err == -ENOSPC ? "storing" : "reading",
			                 dev, strerror(-dev_err));
		}
		before += cap[k].size;
	}
	return cap_finish(r, cap, n);
}

/* ---- the runner's entry points ---------------------------------------------------- */

int model_task_work(model *m, const volatile int *stop)
{
	struct task_run *r;
	struct model_image img;
	int rc;

	if (stop && *stop)
		return 0;
	if (!(r = calloc(1, sizeof(*r)))) /* args make it 4 KiB: not on a worker's stack */
		return -ENOMEM;
	r->m = m;
	r->stop = stop;
	if ((rc = runner_self(r->me)) < 0 || (rc = task_claim(r)) <= 0)
		goto out;
	if (model_image_get(m, r->t.image_id, &img) == 0) {
		r->region_id = img.region_id;
		r->folder = img.folder;
	}
	r->last_progress = model_now_ns();
	if (strcmp(r->t.kind, "capture") == 0)
		rc = capture_run(r);
	else
		rc = task_fail(r, NULL, 0, "unknown task kind %s", r->t.kind);
	/* Stopped: the next runner resumes it.  A database error: it may pass,
	 * and a task left 'running' under this live process would wait for
	 * the process to end — give it back now (best effort). */
	if ((r->stopped || rc < 0) && !r->lost) {
		int rq = task_requeue(r);
		if (rc >= 0)
			rc = rq;
	}
	if (rc >= 0)
		rc = 1;
out:
	free(r);
	return rc;
}

int model_task_housekeeping(model *m, int64_t now)
{
	return model_recycle_expire(m, now);
}

/* ---- what `task` shows ---------------------------------------------------------- */

int model_task_of_image(model *m, int64_t image_id, struct model_task *out)
{
	struct model_conn *c;
	sqlite3_stmt *st;
	int64_t now = (int64_t)time(NULL);
	int rc;

	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, "SELECT t.id, t.kind, t.image_id, t.source_kind, t.source_id, t.state, t.bytes_done, "
	                         "t.bytes_total, t.started, t.updated, "
	                         "(SELECT count(*) FROM tasks q WHERE q.state = 'queued' AND q.id < t.id) "
	                         "FROM tasks t WHERE t.image_id = ?1 OR (t.source_kind = 'image' AND t.source_id = ?1) "
	                         "ORDER BY t.id LIMIT 1")))
		return -EIO;
	sqlite3_bind_int64(st, 1, image_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		out->id = sqlite3_column_int64(st, 0);
		model_col_text(st, 1, out->kind, sizeof(out->kind));
		out->image_id = sqlite3_column_int64(st, 2);
		model_col_text(st, 3, out->source_kind, sizeof(out->source_kind));
		out->source_id = sqlite3_column_int64(st, 4);
		model_col_text(st, 5, out->state, sizeof(out->state));
		out->bytes_done = (uint64_t)sqlite3_column_int64(st, 6);
		out->bytes_total = (uint64_t)sqlite3_column_int64(st, 7);
		out->started = sqlite3_column_int64(st, 8);
		out->updated = sqlite3_column_int64(st, 9);
		out->position = strcmp(out->state, "queued") == 0 ? 1 + sqlite3_column_int(st, 10) : 0;
		/* Whole seconds: a task's first second shows its bytes as the rate. */
		if (out->started > 0 && out->bytes_done > 0)
			out->rate = (double)out->bytes_done / (double)(now - out->started > 0 ? now - out->started : 1);
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? -ENOENT : model_sqlite_errno(rc);
	}
	sqlite3_reset(st);
	return rc;
}
