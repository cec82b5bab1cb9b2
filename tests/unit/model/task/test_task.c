/*
 * test_task.c — unit tests for model/task/task.c: claiming (no task runs twice,
 * dead runners' tasks are resumed, live runners' are left alone), fair
 * share (the claim order between accounts, an import's time slice), the
 * `task` view, and captures end to end in process: queueing and its
 * refusals, running to available with the instance's exact bytes, failure
 * (everything the task made goes, the image says why), resumption after a
 * crash, and a stop that puts the task back in the queue.
 */
#include <pthread.h>

#include "model/lifecycle_test.h"
#include "task_int.h"

#define MiB LT_MiB

/* Field 22 of /proc/<pid>/stat (start time), as the runner ids record it. */
static unsigned long long start_time_of(long pid)
{
	char path[64], buf[2048];
	unsigned long long v = 0;
	FILE *f;
	char *p;
	int field = 3;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof buf, f));
	fclose(f);
	p = strrchr(buf, ')');
	assert_non_null(p);
	for (p += 2; field < 22; field++) {
		p = strchr(p, ' ');
		assert_non_null(p);
		p++;
	}
	assert_int_equal(sscanf(p, "%llu", &v), 1);
	return v;
}

/* ---- claiming ---------------------------------------------------------------------- */

/* A pending image (the state a task's target is in) of a fresh account. */
static int64_t pending_image(struct ut_fx *fx, const char *account, const char *name)
{
	int64_t id = ut_image(fx, fx->r1, ut_account(fx, account), MODEL_FOLDER_PRIVATE, name);
	ut_force_status(fx, id, MODEL_IMG_PENDING);
	return id;
}

/* A task of a kind this version does not know: running it fails its image
 * (it has nothing else to undo), which makes each run visible. */
static int64_t bogus_task(struct ut_fx *fx, int64_t image_id, const char *state, const char *claimed_by)
{
	ut_sql(fx, "INSERT INTO tasks(kind, image_id, state, claimed_by) VALUES ('bogus', %lld, %Q, %Q)",
	       (long long)image_id, state, claimed_by);
	return ut_sql_int(fx, "SELECT max(id) FROM tasks");
}

struct racer {
	model *m;
	pthread_barrier_t *start;
	int ran;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	int rc;
	pthread_barrier_wait(r->start);
	while ((rc = model_task_work(r->m, NULL)) == 1)
		r->ran++;
	if (rc != 0)
		r->ran = -1000; /* an error: fails the sum */
	return NULL;
}

/* Four threads (four connections) race over 40 queued tasks: each task is
 * run exactly once.  A claim that two threads could both win would run a
 * task twice and make the sum exceed 40. */
static void test_claim_each_task_once(void **state)
{
	struct ut_fx *fx = *state;
	enum { NTASKS = 40, NTHREADS = 4 };
	int64_t img = pending_image(fx, "alice", "target");
	pthread_t t[NTHREADS];
	struct racer r[NTHREADS];
	pthread_barrier_t start;
	int total = 0;

	for (int i = 0; i < NTASKS; i++)
		bogus_task(fx, img, "queued", "");
	pthread_barrier_init(&start, NULL, NTHREADS);
	for (int i = 0; i < NTHREADS; i++) {
		r[i] = (struct racer){fx->m, &start, 0};
		assert_int_equal(pthread_create(&t[i], NULL, racer_main, &r[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		total += r[i].ran;
	}
	pthread_barrier_destroy(&start);
	assert_int_equal(total, NTASKS);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks"), 0);
	/* The first run failed the image; later ones found it in error. */
	struct model_image i = ut_get(fx, img);
	assert_int_equal(i.status, MODEL_IMG_ERROR);
	assert_string_equal(i.error, "unknown task kind bogus");
}

/* A task left 'running' by a runner that is gone — a pid that does not
 * exist, or a pid that exists but started at another time (reused) — is
 * claimed again and run. */
static void test_dead_runner_reclaimed(void **state)
{
	struct ut_fx *fx = *state;
	char reused[64];
	int64_t a = pending_image(fx, "alice", "a"), b = pending_image(fx, "bob", "b");

	snprintf(reused, sizeof reused, "%ld:%llu", (long)getppid(), start_time_of((long)getppid()) + 1);
	bogus_task(fx, a, "running", "999999999:1");
	bogus_task(fx, b, "running", reused);
	assert_int_equal(model_task_work(fx->m, NULL), 1);
	assert_int_equal(model_task_work(fx->m, NULL), 1);
	assert_int_equal(model_task_work(fx->m, NULL), 0);
	assert_int_equal(ut_get(fx, a).status, MODEL_IMG_ERROR);
	assert_int_equal(ut_get(fx, b).status, MODEL_IMG_ERROR);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks"), 0);
}

/* A task another live process runs (our parent, with its real start time)
 * is not touched; a queued one behind it runs. */
static void test_live_runner_left_alone(void **state)
{
	struct ut_fx *fx = *state;
	char live[64];
	int64_t a = pending_image(fx, "alice", "a"), b = pending_image(fx, "bob", "b");
	int64_t ta;

	snprintf(live, sizeof live, "%ld:%llu", (long)getppid(), start_time_of((long)getppid()));
	ta = bogus_task(fx, a, "running", live);
	bogus_task(fx, b, "queued", "");
	assert_int_equal(model_task_work(fx->m, NULL), 1); /* b's */
	assert_int_equal(model_task_work(fx->m, NULL), 0);
	assert_int_equal(ut_get(fx, a).status, MODEL_IMG_PENDING);
	assert_int_equal(ut_get(fx, b).status, MODEL_IMG_ERROR);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE id = %lld AND state = 'running' AND "
	                                "claimed_by = %Q", (long long)ta, live),
	                 1);
}

/* A pending image of an account that exists. */
static int64_t pending_of(struct ut_fx *fx, int64_t account, const char *name)
{
	int64_t id = ut_image(fx, fx->r1, account, MODEL_FOLDER_PRIVATE, name);
	ut_force_status(fx, id, MODEL_IMG_PENDING);
	return id;
}

/* Which of imgs[] the next claim ran (its image went to error), -1: none. */
static int next_run(struct ut_fx *fx, const int64_t *imgs, int n)
{
	if (model_task_work(fx->m, NULL) != 1)
		return -1;
	for (int i = 0; i < n; i++)
		if (ut_get(fx, imgs[i]).status == MODEL_IMG_ERROR &&
		    ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE image_id = %lld", (long long)imgs[i]) == 0) {
			ut_force_status(fx, imgs[i], MODEL_IMG_AVAILABLE); /* counted once */
			return i;
		}
	return -2;
}

/* Fair share (SPEC §8, task.c's header): the next claim goes to the
 * account with the fewest running tasks of the task's kind — bob's
 * running task of another kind does not count against his —, then to its
 * oldest task; the order before it (fewest running tasks of any kind, then
 * the oldest task) took alice's a1 first. */
static void test_fair_fewest_running_of_the_kind(void **state)
{
	struct ut_fx *fx = *state;
	char live[64];
	int64_t alice = ut_account(fx, "alice"), bob = ut_account(fx, "bob");
	int64_t ar = pending_of(fx, alice, "ar"), bo = pending_of(fx, bob, "bo");
	int64_t img[4] = {pending_of(fx, alice, "a1"), pending_of(fx, alice, "a2"), pending_of(fx, bob, "b1"),
	                  pending_of(fx, bob, "b2")};

	snprintf(live, sizeof live, "%ld:%llu", (long)getppid(), start_time_of((long)getppid()));
	bogus_task(fx, ar, "running", live);
	ut_sql(fx, "INSERT INTO tasks(kind, image_id, state, claimed_by) VALUES ('other', %lld, 'running', %Q)",
	       (long long)bo, live);
	for (int i = 0; i < 4; i++)
		bogus_task(fx, img[i], "queued", "");
	assert_int_equal(next_run(fx, img, 4), 2); /* bob runs no bogus task, alice one */
	assert_int_equal(next_run(fx, img, 4), 3);
	assert_int_equal(next_run(fx, img, 4), 0); /* then alice's, oldest first */
	assert_int_equal(next_run(fx, img, 4), 1);
	assert_int_equal(next_run(fx, img, 4), -1);
}

/* Round robin among equals: nobody runs anything; alice's last turn is
 * newer than bob's, so bob's b1 goes first although alice's tasks are
 * older; each claim is its account's turn, so they alternate (the order
 * before took a1, a2, b1, b2: the cancelled import's account took the
 * freed worker again).  Every claim stamps its account's turn. */
static void test_fair_round_robin(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice"), bob = ut_account(fx, "bob");
	int64_t img[4] = {pending_of(fx, alice, "a1"), pending_of(fx, alice, "a2"), pending_of(fx, bob, "b1"),
	                  pending_of(fx, bob, "b2")};

	for (int i = 0; i < 4; i++)
		bogus_task(fx, img[i], "queued", "");
	ut_sql(fx, "INSERT INTO task_turns(account_id, kind, served_ns) VALUES (%lld, 'bogus', 200), (%lld, 'bogus', 100)",
	       (long long)alice, (long long)bob);
	assert_int_equal(next_run(fx, img, 4), 2);
	assert_true(ut_sql_int(fx, "SELECT served_ns > 200 FROM task_turns WHERE account_id = %lld AND kind = 'bogus'",
	                       (long long)bob));
	assert_int_equal(next_run(fx, img, 4), 0);
	assert_int_equal(next_run(fx, img, 4), 3);
	assert_int_equal(next_run(fx, img, 4), 1);
	assert_int_equal(next_run(fx, img, 4), -1);
	/* Another kind's turns are its own. */
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM task_turns WHERE kind != 'bogus'"), 0);
}

/* The time slice (task_yield_due): alice's import has run 3 s on a mount
 * with 2 workers (one import slot).  It yields only once the slice has
 * passed, while a task of another account waits that the next claim would
 * take first and that no free worker or import slot would take anyway; at
 * most one look a second; slice 0 never. */
static void test_yield_due(void **state)
{
	struct ut_fx *fx = *state;
	char live[64];
	struct model_err err = {0};
	struct task_run r = {.m = fx->m};
	int64_t bob = ut_account(fx, "bob");
	int64_t a = pending_image(fx, "alice", "a"), b = pending_of(fx, bob, "b");
	int64_t b2 = pending_of(fx, bob, "b2"), c = pending_image(fx, "carol", "c");
	int64_t ta, tb;

	snprintf(live, sizeof live, "%ld:%llu", (long)getppid(), start_time_of((long)getppid()));
	ut_sql(fx, "INSERT INTO tasks(kind, image_id, state, claimed_by) VALUES ('import', %lld, 'running', %Q)",
	       (long long)a, live);
	ta = ut_sql_int(fx, "SELECT max(id) FROM tasks");
	r.t.id = ta;
	snprintf(r.t.kind, sizeof(r.t.kind), "import");
	r.account_id = ut_get(fx, a).account_id;
	r.claimed_ns = model_now_ns() - 3000000000LL;
	model_set_workers(fx->m, 2);
	atomic_store(&fx->m->running_here, 1);
	atomic_store(&fx->m->imports_here, 1);
#define LOOK() (r.yield_checked_ns = 0, task_yield_due(&r))

	assert_int_equal(model_import_slice(fx->m), MODEL_IMPORT_SLICE);
	assert_false(LOOK()); /* 3 s of 60 */
	assert_int_equal(model_import_slice_set(fx->m, 2, &err), 0);
	assert_int_equal(model_import_slice_set(fx->m, -1, &err), -EINVAL);
	assert_int_equal(model_import_slice(fx->m), 2);
	assert_false(LOOK()); /* nobody waits */

	/* bob's import waits: the import slot is alice's. */
	ut_sql(fx, "INSERT INTO tasks(kind, image_id, state) VALUES ('import', %lld, 'queued')", (long long)b);
	tb = ut_sql_int(fx, "SELECT max(id) FROM tasks");
	assert_false(task_yield_due(&r)); /* looked less than a second ago */
	assert_true(LOOK());
	assert_true(r.yielded && r.stopped);
	r.yielded = r.stopped = false;
	/* ... unless a slot is free for it (3 workers: 2 import slots). */
	model_set_workers(fx->m, 3);
	assert_false(LOOK());
	model_set_workers(fx->m, 2);
	/* ... or bob runs as many imports as alice: the turns decide, no slice. */
	ut_sql(fx, "INSERT INTO tasks(kind, image_id, state, claimed_by) VALUES ('import', %lld, 'running', %Q)",
	       (long long)b2, live);
	assert_false(LOOK());
	ut_sql(fx, "DELETE FROM tasks WHERE id = %lld", (long long)tb);

	/* carol's task of another kind waits only when no worker is free. */
	bogus_task(fx, c, "queued", "");
	assert_false(LOOK());
	atomic_store(&fx->m->running_here, 2);
	assert_true(LOOK());
	r.yielded = r.stopped = false;
	/* Slice 0: never. */
	assert_int_equal(model_import_slice_set(fx->m, 0, &err), 0);
	assert_false(LOOK());
	/* A yield given back is its account's turn, with the requeue. */
	assert_int_equal(model_import_slice_set(fx->m, 2, &err), 0);
	assert_int_equal(model_runner_self(fx->m, r.me), 0);
	ut_sql(fx, "UPDATE tasks SET claimed_by = %Q WHERE id = %lld", r.me, (long long)ta);
	assert_true(LOOK());
	assert_int_equal(task_requeue(&r), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE id = %lld AND state = 'queued'", (long long)ta),
	                 1);
	assert_true(ut_sql_int(fx, "SELECT served_ns FROM task_turns WHERE account_id = %lld AND kind = 'import'",
	                       (long long)r.account_id) > r.claimed_ns);
	atomic_store(&fx->m->running_here, 0);
	atomic_store(&fx->m->imports_here, 0);
#undef LOOK
}

/* A stop that is already set claims nothing. */
static void test_stopped_runner_claims_nothing(void **state)
{
	struct ut_fx *fx = *state;
	atomic_bool stop = true;
	int64_t img = pending_image(fx, "alice", "a");
	int64_t t = bogus_task(fx, img, "queued", "");

	assert_int_equal(model_task_work(fx->m, &stop), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE id = %lld AND state = 'queued'", (long long)t),
	                 1);
}

/* `task` of an image: its queue position, 0 once running, the rate, the
 * host that runs it; the source image of a task sees the task too. */
static void test_task_of_image(void **state)
{
	struct ut_fx *fx = *state;
	struct model_task t;
	char me[MODEL_RUNNER_ID_MAX];
	int64_t a = pending_image(fx, "alice", "a"), b = pending_image(fx, "bob", "b"),
	        c = pending_image(fx, "carol", "c"), src = pending_image(fx, "dave", "src");
	int64_t now = (int64_t)time(NULL);

	assert_int_equal(model_runner_self(fx->m, me), 0);
	ut_sql(fx, "INSERT INTO tasks(kind, image_id, state, claimed_by, bytes_done, bytes_total, started, updated) "
	           "VALUES ('capture', %lld, 'running', %Q, 3000, 9000, %lld, %lld)",
	       (long long)a, me, (long long)(now - 10), (long long)now);
	ut_sql(fx, "INSERT INTO tasks(kind, image_id, state, bytes_total) VALUES ('capture', %lld, 'queued', 7)",
	       (long long)b);
	ut_sql(fx, "INSERT INTO tasks(kind, image_id, source_kind, source_id, state) "
	           "VALUES ('copy', %lld, 'image', %lld, 'queued')",
	       (long long)c, (long long)src);

	assert_int_equal(model_task_of_image(fx->m, a, &t), 0);
	assert_string_equal(t.state, "running");
	assert_string_equal(t.host, model_host(fx->m));
	assert_int_equal(t.orphaned_since, 0);
	assert_int_equal(t.position, 0);
	assert_int_equal(t.bytes_done, 3000);
	assert_int_equal(t.bytes_total, 9000);
	assert_true(t.rate >= 3000.0 / 11 && t.rate <= 3000.0 / 9);
	assert_int_equal(model_task_of_image(fx->m, b, &t), 0);
	assert_string_equal(t.state, "queued");
	assert_string_equal(t.host, "");
	assert_int_equal(t.position, 1);
	assert_true(t.rate == 0);
	assert_int_equal(model_task_of_image(fx->m, c, &t), 0);
	assert_int_equal(t.position, 2);
	assert_string_equal(t.kind, "copy");
	assert_int_equal(model_task_of_image(fx->m, src, &t), 0);
	assert_int_equal(t.image_id, c);
	assert_string_equal(t.source_kind, "image");
	assert_int_equal(model_task_of_image(fx->m, ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "centos-7.4").id, &t),
	                 -ENOENT);
}

/* A task nobody runs is `orphaned` (SPEC §13): its runner's process died
 * (this host: since its last update), its runner's host let its lease
 * lapse, or it waits for a host whose lease lapsed (since the lapse);
 * with a live runner, or bound to a live host or to this one, it is not.
 * Several hosts exist only with PostgreSQL; SQLite's runners are all this
 * machine's. */
static void test_task_orphaned(void **state)
{
	struct ut_fx *fx = *state;
	struct model_task t;
	int64_t a = pending_image(fx, "alice", "a"), b = pending_image(fx, "bob", "b"),
	        c = pending_image(fx, "carol", "c"), d = pending_image(fx, "dave", "d");
	int64_t now = (int64_t)time(NULL), lease = model_lease(fx->m);
	char dead[MODEL_RUNNER_ID_MAX + 8];
	bool cluster = fx->pgdb[0] != '\0';

	/* pid 1 did not start at tick 1: a dead runner of this host */
	snprintf(dead, sizeof dead, "%s/1:1", model_host(fx->m));
	ut_sql(fx, "INSERT INTO tasks(kind, image_id, state, claimed_by, bytes_done, bytes_total, started, updated) "
	           "VALUES ('capture', %lld, 'running', %Q, 3000, 9000, %lld, %lld)",
	       (long long)a, dead, (long long)(now - 100), (long long)(now - 50));
	assert_int_equal(model_task_of_image(fx->m, a, &t), 0);
	assert_string_equal(t.state, "orphaned");
	assert_string_equal(t.host, model_host(fx->m));
	assert_int_equal(t.orphaned_since, now - 50);
	assert_true(t.rate == 0);

	/* host far renewed its lease 1000 s ago; host near just now */
	ut_sql(fx, "INSERT INTO hosts(name, started_ns, renewed_ns) VALUES ('far', 1, %lld), ('near', 1, %lld)",
	       (long long)(now - 1000) * 1000000000LL, (long long)now * 1000000000LL);
	ut_sql(fx, "INSERT INTO tasks(kind, image_id, state, claimed_by, updated, host) "
	       "VALUES ('import', %lld, 'running', 'far/1:1', %lld, 'far')",
	       (long long)b, (long long)(now - 2000));
	assert_int_equal(model_task_of_image(fx->m, b, &t), 0);
	assert_string_equal(t.host, "far");
	assert_string_equal(t.state, "orphaned");
	/* SQLite: the runner is this machine's, its process gone since its update */
	assert_int_equal(t.orphaned_since, cluster ? now - 1000 + lease : now - 2000);

	ut_sql(fx, "INSERT INTO tasks(kind, image_id, state, updated, host) VALUES ('import', %lld, 'queued', %lld, "
	           "'far')",
	       (long long)c, (long long)(now - 2000));
	assert_int_equal(model_task_of_image(fx->m, c, &t), 0);
	assert_string_equal(t.host, "far");
	assert_string_equal(t.state, cluster ? "orphaned" : "queued");
	assert_int_equal(t.orphaned_since, cluster ? now - 1000 + lease : 0);

	ut_sql(fx, "INSERT INTO tasks(kind, image_id, state, claimed_by, host) VALUES ('import', %lld, 'running', "
	           "'near/1:1', 'near')",
	       (long long)d);
	assert_int_equal(model_task_of_image(fx->m, d, &t), 0);
	assert_string_equal(t.host, "near");
	assert_string_equal(t.state, cluster ? "running" : "orphaned");
}

/* ---- captures ------------------------------------------------------------------------- */

struct vm_fx {
	int64_t account, vm, image;
	char vm_ext[16];
};

#define SMALL_VDA (64 * MiB)

static struct model_vm_disk vm_disk(struct ut_fx *fx, int64_t vm_id, int idx, bool attach);

/* An account with a stopped instance (system disk of the given type) and a
 * queued private image "golden".  The system disk is the default 40 GiB
 * (full) or SMALL_VDA: a capture hashes every byte of it (§2.1 sha256,
 * 0.55 s per GiB), and most tests are about something else. */
static struct vm_fx make_vm_sized(struct ut_fx *fx, unsigned system_disk, bool full)
{
	struct model_err err = {0};
	struct model_instance vm;
	struct vm_fx v = {0};

	v.account = ut_account(fx, "alice");
	if (model_instance_create(fx->m, fx->r1, v.account, "web", &v.vm, &err) < 0)
		fail_msg("model_instance_create: %s", err.msg);
	if (system_disk != MODEL_TYPE_LOCAL && model_instance_set_system_disk(fx->m, v.vm, system_disk, &err) < 0)
		fail_msg("model_instance_set_system_disk: %s", err.msg);
	assert_int_equal(model_instance_get(fx->m, v.vm, &vm), 0);
	memcpy(v.vm_ext, vm.ext_id, sizeof v.vm_ext);
	v.image = ut_image(fx, fx->r1, v.account, MODEL_FOLDER_PRIVATE, "golden");
	if (!full) {
		struct model_vm_disk vda = vm_disk(fx, v.vm, 0, false);
		blob_wblob *w = NULL;
		blob_store *s;
		assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
		assert_int_equal(blob_wblob_open(&w, s, vda.wblob), 0);
		assert_int_equal(blob_wblob_truncate(w, SMALL_VDA), 0);
		blob_wblob_close(w);
		assert_int_equal(model_instance_disk_touch(fx->m, vda.blob_id, SMALL_VDA, 0), 0);
	}
	return v;
}

static struct vm_fx make_vm(struct ut_fx *fx, unsigned system_disk)
{
	return make_vm_sized(fx, system_disk, false);
}

/* The instance's disk at idx (attached first for a data disk). */
static struct model_vm_disk vm_disk(struct ut_fx *fx, int64_t vm_id, int idx, bool attach)
{
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	struct model_err err = {0};
	int n;

	if (attach && model_instance_disk_attach(fx->m, vm_id, idx, &err) < 0)
		fail_msg("attach %d: %s", idx, err.msg);
	n = model_instance_disks(fx->m, vm_id, disks);
	for (int i = 0; i < n; i++)
		if (disks[i].index == idx)
			return disks[i];
	fail_msg("instance %lld has no disk %d", (long long)vm_id, idx);
	return disks[0];
}

/* Writes len bytes of a pattern seeded by seed at off into the disk. */
static void disk_write(struct ut_fx *fx, const struct model_vm_disk *d, uint64_t off, size_t len, unsigned seed)
{
	uint8_t *buf = malloc(len);
	blob_wblob *w = NULL;
	blob_store *s;

	assert_non_null(buf);
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)((i * 2654435761u + seed) >> 13 | 1);
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	assert_int_equal(blob_wblob_open(&w, s, d->wblob), 0);
	assert_int_equal(blob_wblob_pwrite(w, buf, len, off), (ssize_t)len);
	blob_wblob_close(w);
	free(buf);
}

static int64_t count_rows(struct ut_fx *fx, const char *table)
{
	return ut_sql_int(fx, "SELECT count(*) FROM %s", table);
}

static int64_t snapshots_used(struct ut_fx *fx, int64_t account)
{
	struct model_quota q[MODEL_QUOTA_COUNT];
	int n = model_quota_list(fx->m, account, fx->r1, q);
	for (int i = 0; i < n; i++)
		if (q[i].key == MODEL_QUOTA_SNAPSHOTS)
			return q[i].used;
	fail_msg("no snapshots quota");
	return -1;
}

/* Runs tasks until none is left. */
static void run_all(struct ut_fx *fx)
{
	int rc, n = 0;
	while ((rc = model_task_work(fx->m, NULL)) == 1)
		assert_true(++n < 100);
	assert_int_equal(rc, 0);
}

/* Runs tasks while the image has one of its own: the capture's background
 * SHA-256 pass (§2.1 sha256, which model_task_of_image does not count) is
 * left queued.  For a default 40 GiB system disk that pass is 40 GiB of
 * SHA-256 over holes, 53 s of CPU in each of the four runs of a test
 * (SQLite and PostgreSQL, Release and ASan); test_checksum.c has it. */
static void run_image_tasks(struct ut_fx *fx, int64_t image_id)
{
	struct model_task t;
	int n = 0;

	while (model_task_of_image(fx->m, image_id, &t) == 0) {
		assert_int_equal(model_task_work(fx->m, NULL), 1);
		assert_true(++n < 100);
	}
}

/* A local instance with a data disk, captured: pending at once with its
 * snapshot creating and counted; then available, vda the image file and
 * vdb a snapshot, each holding exactly the disk's bytes. */
static void test_capture_local(void **state)
{
	struct ut_fx *fx = *state;
	struct vm_fx v = make_vm_sized(fx, MODEL_TYPE_LOCAL, true);
	struct model_vm_disk vda = vm_disk(fx, v.vm, 0, false), vdb = vm_disk(fx, v.vm, 1, true);
	struct model_device dev[MODEL_MAX_DEVICES];
	struct model_err err = {0};
	struct model_snapshot snap;
	struct model_image img;
	struct model_task t;
	char source[64];
	const int devs[] = {1};
	int64_t snap_id, region_mtime = lt_region_mtime(fx, fx->r1), dir_mtime;

	disk_write(fx, &vda, 0, 3 * MiB + 123, 1);                  /* a boot sector and more */
	disk_write(fx, &vda, MODEL_VM_DISK_SIZE - MiB / 2, 4096, 2); /* something at the very end */
	disk_write(fx, &vdb, 0, 5 * MiB + 7, 3);                     /* grows it to 5 MiB + 7 */

	if (model_image_capture(fx->m, v.image, v.vm, devs, 1, &err) < 0)
		fail_msg("capture: %s", err.msg);
	img = ut_get(fx, v.image);
	dir_mtime = img.dir_mtime_ns;
	assert_int_equal(img.status, MODEL_IMG_PENDING);
	assert_int_equal(img.type, MODEL_TYPE_LOCAL);
	assert_string_equal(img.format, "raw");
	assert_int_equal(img.size, MODEL_VM_DISK_SIZE);
	snprintf(source, sizeof source, "instance %s vdb", v.vm_ext);
	assert_string_equal(img.source, source);
	assert_true(model_instance_busy(fx->m, v.vm));
	assert_int_equal(model_task_of_image(fx->m, v.image, &t), 0);
	assert_string_equal(t.state, "queued");
	assert_int_equal(t.position, 1);
	assert_int_equal(t.bytes_total, MODEL_VM_DISK_SIZE + 5 * MiB + 7);
	/* The snapshot exists at once, creating, listed and counted. */
	assert_int_equal(snapshots_used(fx, v.account), 1);
	snap_id = ut_sql_int(fx, "SELECT id FROM snapshots WHERE account_id = %lld", (long long)v.account);
	assert_int_equal(model_snapshot_get(fx->m, snap_id, &snap), 0);
	assert_int_equal(snap.status, MODEL_SNAP_CREATING);
	assert_string_equal(snap.name, "golden-vdb");
	assert_string_equal(snap.description, "captured from instance web vdb");
	assert_int_equal(snap.size, 5 * MiB + 7);
	assert_true(lt_region_mtime(fx, fx->r1) > region_mtime);
	assert_true(lt_changes(fx, MODEL_CHANGE_SNAPSHOT, snap_id) >= 1);
	assert_true(lt_changes(fx, MODEL_CHANGE_INSTANCE, v.vm) >= 1);

	run_image_tasks(fx, v.image);
	img = ut_get(fx, v.image);
	assert_int_equal(img.status, MODEL_IMG_AVAILABLE);
	assert_int_equal(img.progress, 100);
	assert_int_equal(img.size, MODEL_VM_DISK_SIZE);
	assert_true(img.dir_mtime_ns > dir_mtime);
	assert_int_equal(model_device_list(fx->m, v.image, dev), 2);
	assert_string_equal(dev[0].name, "vda");
	assert_int_equal(dev[0].kind, MODEL_DEV_IMAGE);
	assert_int_equal(dev[0].size, MODEL_VM_DISK_SIZE);
	assert_string_equal(dev[1].name, "vdb");
	assert_int_equal(dev[1].kind, MODEL_DEV_SNAPSHOT);
	assert_int_equal(dev[1].snapshot_id, snap_id);
	assert_string_equal(dev[1].snapshot_ext_id, snap.ext_id);
	assert_int_equal(dev[1].size, 5 * MiB + 7);
	lt_assert_wblob_is_blob(fx, fx->r1, vda.wblob, dev[0].blob_id);
	lt_assert_wblob_is_blob(fx, fx->r1, vdb.wblob, dev[1].blob_id);
	assert_int_equal(model_snapshot_get(fx->m, snap_id, &snap), 0);
	assert_int_equal(snap.status, MODEL_SNAP_AVAILABLE);
	/* The task is gone and the instance free again. */
	assert_int_equal(model_task_of_image(fx->m, v.image, &t), -ENOENT);
	assert_false(model_instance_busy(fx->m, v.vm));
	assert_int_equal(model_instance_set_status(fx->m, v.vm, MODEL_VM_RUNNING, &err), 0);
}

/* A cloud instance: the image is cloud, vda a new snapshot named after the
 * image. */
static void test_capture_cloud(void **state)
{
	struct ut_fx *fx = *state;
	struct vm_fx v = make_vm(fx, MODEL_TYPE_CLOUD);
	struct model_vm_disk vda = vm_disk(fx, v.vm, 0, false);
	struct model_device dev[MODEL_MAX_DEVICES];
	struct model_err err = {0};
	struct model_snapshot snap;
	char source[64];

	disk_write(fx, &vda, 7 * MiB + 5, 2 * MiB, 9);
	if (model_image_capture(fx->m, v.image, v.vm, NULL, 0, &err) < 0)
		fail_msg("capture: %s", err.msg);
	snprintf(source, sizeof source, "instance %s", v.vm_ext);
	assert_string_equal(ut_get(fx, v.image).source, source);
	assert_int_equal(snapshots_used(fx, v.account), 1);
	run_all(fx);
	assert_int_equal(ut_get(fx, v.image).status, MODEL_IMG_AVAILABLE);
	assert_int_equal(ut_get(fx, v.image).type, MODEL_TYPE_CLOUD);
	assert_int_equal(model_device_list(fx->m, v.image, dev), 1);
	assert_int_equal(dev[0].kind, MODEL_DEV_SNAPSHOT);
	assert_int_equal(model_snapshot_get(fx->m, dev[0].snapshot_id, &snap), 0);
	assert_string_equal(snap.name, "golden-vda");
	assert_int_equal(snap.status, MODEL_SNAP_AVAILABLE);
	assert_int_equal(snap.blob_id, dev[0].blob_id);
	lt_assert_wblob_is_blob(fx, fx->r1, vda.wblob, dev[0].blob_id);
	/* §2.1: the system disk's SHA-256, there once available. */
	char want[65], got[65];
	lt_blob_sha256(fx, fx->r1, dev[0].blob_id, want);
	assert_int_equal(model_image_sha256(fx->m, v.image, got), 0);
	assert_string_equal(got, want);
}

/* An instance booted from an ISO image, with a password: the capture
 * takes vda (and the data disks asked for), never disks/cdrom nor
 * disks/cidata, which stay with the instance (SPEC §16). */
static void test_capture_skips_media(void **state)
{
	struct ut_fx *fx = *state;
	struct vm_fx v = make_vm(fx, MODEL_TYPE_LOCAL);
	struct model_device dev[MODEL_MAX_DEVICES];
	struct model_err err = {0};
	int64_t iso = lt_iso_image(fx, fx->r1, v.account, "installer", 2 * MiB);
	const int cdrom[] = {MODEL_VM_CDROM};

	assert_int_equal(model_instance_rebuild(fx->m, v.vm, iso, v.account, &err), 0);
	assert_int_equal(model_instance_set_password(fx->m, v.vm, "Install3d!", &err), 0);
	struct model_vm_disk vda = vm_disk(fx, v.vm, 0, false), vdb = vm_disk(fx, v.vm, 1, true);
	disk_write(fx, &vda, 0, MiB + 1, 6); /* what the installer wrote */
	disk_write(fx, &vdb, 0, MiB, 7);
	/* Not a data disk. */
	assert_int_equal(model_image_capture(fx->m, v.image, v.vm, cdrom, 1, &err), -EINVAL);
	const int devs[] = {1};
	if (model_image_capture(fx->m, v.image, v.vm, devs, 1, &err) < 0)
		fail_msg("capture: %s", err.msg);
	run_image_tasks(fx, v.image); /* vda is the ISO boot's blank 40 GiB */
	assert_int_equal(ut_get(fx, v.image).status, MODEL_IMG_AVAILABLE);
	assert_int_equal(model_device_list(fx->m, v.image, dev), 2);
	assert_string_equal(dev[0].name, "vda");
	assert_string_equal(dev[1].name, "vdb");
	lt_assert_wblob_is_blob(fx, fx->r1, vda.wblob, dev[0].blob_id);
	/* The instance keeps its cdrom and its seed. */
	assert_int_equal(model_instance_boot(fx->m, v.vm), 1);
	assert_true(vm_disk(fx, v.vm, MODEL_VM_CIDATA, false).sealed);
}

/* A source disk that cannot be read: the image ends in error saying why,
 * and the snapshots and blob rows the capture made are gone (the quota
 * with them); the instance is free. */
static void test_capture_failure(void **state)
{
	struct ut_fx *fx = *state;
	struct vm_fx v = make_vm(fx, MODEL_TYPE_LOCAL);
	struct model_vm_disk vdb = vm_disk(fx, v.vm, 1, true), vdc = vm_disk(fx, v.vm, 2, true);
	struct model_err err = {0};
	struct model_image img;
	blob_store *s;
	const int devs[] = {2, 1};
	int64_t blobs, snaps = count_rows(fx, "snapshots");

	disk_write(fx, &vdb, 0, MiB, 4);
	disk_write(fx, &vdc, 0, MiB, 5);
	blobs = count_rows(fx, "blobs");
	if (model_image_capture(fx->m, v.image, v.vm, devs, 2, &err) < 0)
		fail_msg("capture: %s", err.msg);
	assert_int_equal(count_rows(fx, "blobs"), blobs + 3);
	assert_int_equal(snapshots_used(fx, v.account), 2);
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	assert_int_equal(blob_wblob_remove(s, vdc.wblob), 0);

	run_all(fx);
	img = ut_get(fx, v.image);
	assert_int_equal(img.status, MODEL_IMG_ERROR);
	char want[160];
	snprintf(want, sizeof(want), "capture failed: reading vdc: cannot open %s: No such file or directory", vdc.wblob);
	assert_string_equal(img.error, want);
	assert_int_equal(count_rows(fx, "snapshots"), snaps);
	assert_int_equal(count_rows(fx, "blobs"), blobs);
	assert_int_equal(count_rows(fx, "tasks"), 0);
	assert_int_equal(snapshots_used(fx, v.account), 0);
	assert_int_equal(model_device_list(fx->m, v.image, (struct model_device[MODEL_MAX_DEVICES]){0}), 0);
	assert_false(model_instance_busy(fx->m, v.vm));
	/* An image in error can be removed (§4). */
	assert_int_equal(model_image_remove(fx->m, v.image, &err), 0);
}

/* The destination blob of device idx in the (only) task's args. */
static int64_t task_dst_blob(struct ut_fx *fx, int want)
{
	db_stmt *st = ut_prepare(fx, "SELECT args FROM tasks");
	long long src, dst, snap, found = 0;
	const char *p;
	int idx, used;

	assert_int_equal(db_step(st), DB_ROW);
	for (p = db_col_text(st, 0); *p; p += used + 1) {
		assert_int_equal(sscanf(p, "%d %lld %lld %lld%n", &idx, &src, &dst, &snap, &used), 4);
		if (idx == want)
			found = dst;
	}
	ut_finalize(st);
	assert_true(found > 0);
	return found;
}

/* Crash recovery: the task is 'running' under a dead runner, the image
 * replicating, vda durable already.  The next runner resumes it and skips
 * vda: its source disk is gone, so resealing it would fail the task, and
 * its blob keeps the manifest it had. */
static void test_capture_resume_skips_done_devices(void **state)
{
	struct ut_fx *fx = *state;
	struct vm_fx v = make_vm(fx, MODEL_TYPE_LOCAL);
	struct model_vm_disk vda = vm_disk(fx, v.vm, 0, false), vdb = vm_disk(fx, v.vm, 1, true);
	struct model_device dev[MODEL_MAX_DEVICES];
	struct model_err err = {0};
	int64_t sentinel, vda_dst;
	blob_store *s;
	const int devs[] = {1};

	disk_write(fx, &vda, 0, MiB, 6);
	disk_write(fx, &vdb, 0, 2 * MiB, 7);
	if (model_image_capture(fx->m, v.image, v.vm, devs, 1, &err) < 0)
		fail_msg("capture: %s", err.msg);
	/* What a runner killed after vda's durable point left behind: vda's
	 * destination sealed (with bytes of our choosing, to recognise them),
	 * the image replicating, the task running under a dead pid. */
	sentinel = lt_tagged_blob(fx, fx->r1, "sentinel", 3 * MiB);
	vda_dst = task_dst_blob(fx, 0);
	ut_sql(fx, "UPDATE blobs SET manifest = (SELECT manifest FROM blobs WHERE id = %lld), size = 3145728, "
	           "stored = 3145728 WHERE id = %lld",
	       (long long)sentinel, (long long)vda_dst);
	ut_force_status(fx, v.image, MODEL_IMG_REPLICATING);
	ut_sql(fx, "UPDATE tasks SET state = 'running', claimed_by = '999999999:1', started = 1");
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	assert_int_equal(blob_wblob_remove(s, vda.wblob), 0);

	run_all(fx);
	assert_int_equal(ut_get(fx, v.image).status, MODEL_IMG_AVAILABLE);
	assert_int_equal(ut_get(fx, v.image).size, 3 * MiB); /* vda as it was sealed */
	assert_int_equal(model_device_list(fx->m, v.image, dev), 2);
	assert_int_equal(dev[0].blob_id, vda_dst);
	assert_int_equal(ut_sql_int(fx, "SELECT manifest = (SELECT manifest FROM blobs WHERE id = %lld) FROM blobs "
	                                "WHERE id = %lld", (long long)sentinel, (long long)vda_dst),
	                 1);
	lt_assert_wblob_is_blob(fx, fx->r1, vdb.wblob, dev[1].blob_id);
}

/* A runner in its own thread (its own connection), with a stop flag. */
struct runner_thread {
	model *m;
	atomic_bool stop;
	int rc;
};

static void *runner_main(void *arg)
{
	struct runner_thread *rt = arg;
	rt->rc = model_task_work(rt->m, &rt->stop);
	return NULL;
}

/* A runner told to stop mid-seal puts the task back in the queue, with
 * nobody's claim; the next run completes it with the right bytes.  To stop
 * it inside the task without a race, the test holds the write lock: the
 * runner, past its first look at the stop flag, waits in its claim; the
 * flag is set; the lock released; the runner claims and must stop at the
 * first chunk.  (A runner slow to get there sees the flag first, claims
 * nothing and returns 0: then the test tries again.) */
static void test_capture_stop_requeues(void **state)
{
	struct ut_fx *fx = *state;
	struct vm_fx v = make_vm(fx, MODEL_TYPE_LOCAL);
	struct model_vm_disk vda = vm_disk(fx, v.vm, 0, false);
	struct model_device dev[MODEL_MAX_DEVICES];
	struct model_err err = {0};
	struct runner_thread rt = {fx->m, 0, 0};
	struct timespec pause = {0, 50 * 1000000L};
	pthread_t th;

	disk_write(fx, &vda, 16 * MiB, 4 * MiB, 8);
	if (model_image_capture(fx->m, v.image, v.vm, NULL, 0, &err) < 0)
		fail_msg("capture: %s", err.msg);
	for (int tries = 0; rt.rc != 1; tries++) {
		assert_true(tries < 50);
		atomic_store(&rt.stop, false);
		ut_write_lock(fx);
		assert_int_equal(pthread_create(&th, NULL, runner_main, &rt), 0);
		nanosleep(&pause, NULL);
		atomic_store(&rt.stop, true);
		ut_write_unlock(fx);
		pthread_join(th, NULL);
		assert_true(rt.rc == 0 || rt.rc == 1);
	}
	assert_int_equal(ut_get(fx, v.image).status, MODEL_IMG_REPLICATING);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE state = 'queued' AND claimed_by = ''"), 1);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs WHERE id = %lld AND manifest IS NULL",
	                            (long long)task_dst_blob(fx, 0)),
	                 1);
	assert_true(model_instance_busy(fx->m, v.vm));

	run_all(fx);
	assert_int_equal(ut_get(fx, v.image).status, MODEL_IMG_AVAILABLE);
	assert_int_equal(model_device_list(fx->m, v.image, dev), 1);
	lt_assert_wblob_is_blob(fx, fx->r1, vda.wblob, dev[0].blob_id);
}

/* Refusals change nothing: the image stays queued, no snapshot, blob or
 * task row appears. */
static void assert_refused(struct ut_fx *fx, const struct vm_fx *v, const int *devs, int ndevs, int want,
                           const char *why)
{
	struct model_err err = {0};
	int64_t snaps = count_rows(fx, "snapshots"), blobs = count_rows(fx, "blobs");
	enum model_image_status before = ut_get(fx, v->image).status;

	assert_int_equal(model_image_capture(fx->m, v->image, v->vm, devs, ndevs, &err), want);
	if (!strstr(err.msg, why))
		fail_msg("reason \"%s\" does not say \"%s\"", err.msg, why);
	assert_int_equal(ut_get(fx, v->image).status, before);
	assert_string_equal(ut_get(fx, v->image).source, "");
	assert_int_equal(count_rows(fx, "snapshots"), snaps);
	assert_int_equal(count_rows(fx, "blobs"), blobs);
	assert_int_equal(count_rows(fx, "tasks"), 0);
}

static void test_capture_refusals(void **state)
{
	struct ut_fx *fx = *state;
	struct vm_fx v = make_vm(fx, MODEL_TYPE_LOCAL);
	struct model_err err = {0};
	const int vdb[] = {1}, vdq[] = {16}, twice[] = {1, 1}, vda[] = {0};
	int64_t other;
	struct vm_fx o;

	vm_disk(fx, v.vm, 1, true);
	assert_int_equal(model_instance_set_status(fx->m, v.vm, MODEL_VM_RUNNING, &err), 0);
	assert_refused(fx, &v, vdb, 1, -EBUSY, "instance web is running; stop it first");
	assert_int_equal(model_instance_set_status(fx->m, v.vm, MODEL_VM_STOPPED, &err), 0);
	assert_refused(fx, &v, vdq, 1, -ENOENT, "instance web has no disk vdq");
	assert_refused(fx, &v, twice, 2, -EINVAL, "vdb is listed twice");
	assert_refused(fx, &v, vda, 1, -EINVAL, "not a data disk");
	assert_int_equal(model_quota_set(fx->m, "alice", ut_region_names[0], "snapshots", 0, &err), 0);
	assert_refused(fx, &v, vdb, 1, -EDQUOT, "quota snapshots");
	assert_int_equal(model_quota_set(fx->m, "alice", ut_region_names[0], "snapshots", 15, &err), 0);
	/* Another account's instance does not exist for this image. */
	other = ut_account(fx, "bob");
	o = v;
	assert_int_equal(model_instance_create(fx->m, fx->r1, other, "theirs", &o.vm, &err), 0);
	assert_refused(fx, &o, NULL, 0, -ENOENT, "no such instance");
	/* Only a queued image takes a source. */
	ut_force_status(fx, v.image, MODEL_IMG_AVAILABLE);
	assert_refused(fx, &v, vdb, 1, -EPERM, "only while the image is queued");
	ut_force_status(fx, v.image, MODEL_IMG_QUEUED);
	/* One capture at a time per instance. */
	assert_int_equal(model_image_capture(fx->m, v.image, v.vm, vdb, 1, &err), 0);
	o = v;
	o.image = ut_image(fx, fx->r1, v.account, MODEL_FOLDER_PRIVATE, "second");
	assert_int_equal(model_image_capture(fx->m, o.image, o.vm, NULL, 0, &err), -EBUSY);
	assert_string_equal(ut_get(fx, o.image).source, "");
	assert_int_equal(ut_get(fx, o.image).status, MODEL_IMG_QUEUED);
}

/* A checksum pass (the service's own work) gives its worker back when a
 * task someone asked for waits and no worker is free for it — not for one
 * held back by its kind's limit or waiting for a data key it cannot open
 * here (§8, §16, §17), which would only make the pass start over. */
static void test_checksum_gives_way(void **state)
{
	struct ut_fx *fx = *state;
	struct task_run r = {.m = fx->m};
	int64_t a = pending_image(fx, "alice", "a"), b = pending_image(fx, "bob", "b");

	snprintf(r.t.kind, sizeof(r.t.kind), "checksum");
	model_set_workers(fx->m, 1);
	atomic_store(&fx->m->running_here, 1); /* the pass itself */
	assert_false(task_asked_waiting(&r)); /* nobody waits */
	ut_sql(fx, "INSERT INTO tasks(kind, image_id, state) VALUES ('checksum', %lld, 'queued')", (long long)a);
	assert_false(task_asked_waiting(&r)); /* another pass is no one's ask */
	/* bob's image waits for a data key this process has none for. */
	ut_sql(fx, "UPDATE images SET key_id = 4242 WHERE id = %lld", (long long)b);
	int64_t tb = bogus_task(fx, b, "queued", "");
	assert_false(task_asked_waiting(&r));
	ut_sql(fx, "UPDATE images SET key_id = 0 WHERE id = %lld", (long long)b);
	assert_true(task_asked_waiting(&r));
	/* A worker is free: it takes the task, the pass goes on. */
	model_set_workers(fx->m, 2);
	assert_false(task_asked_waiting(&r));
	model_set_workers(fx->m, 1);
	ut_sql(fx, "DELETE FROM tasks WHERE id = %lld", (long long)tb);
	assert_false(task_asked_waiting(&r));
	atomic_store(&fx->m->running_here, 0);
}

/* ---- a failed run waits (issue 49) ------------------------------------------------- */

/* A kind whose run does what its args say: "fail" (-EIO: a store that did
 * not answer), "stop" (given back: r->stopped), anything else (done). */
static int flaky_run(struct task_run *r)
{
	if (strcmp(r->t.args, "fail") == 0)
		return -EIO;
	if (strcmp(r->t.args, "stop") == 0) {
		r->stopped = true;
		return 0;
	}
	return task_drop_row(r);
}

static const struct task_kind flaky_kinds[] = {{.name = "flaky", .run = flaky_run, .stores_nothing = true}};

/* The pause doubles from 1 s and stops at 60 s: 32 s after the sixth
 * failure in a row (retries 5), 60 s after the seventh (the limit) and
 * after any later one. */
static void test_retry_pause(void **state)
{
	(void)state;
	assert_int_equal(task_retry_pause_ns(-1), TASK_RETRY_MIN_NS);
	assert_int_equal(task_retry_pause_ns(0), 1000000000LL);
	assert_int_equal(task_retry_pause_ns(1), 2000000000LL);
	assert_int_equal(task_retry_pause_ns(4), 16000000000LL);
	assert_int_equal(task_retry_pause_ns(5), 32000000000LL);
	assert_int_equal(task_retry_pause_ns(6), 60000000000LL);
	assert_int_equal(task_retry_pause_ns(7), TASK_RETRY_MAX_NS);
	assert_int_equal(task_retry_pause_ns(62), TASK_RETRY_MAX_NS);
	assert_int_equal(task_retry_pause_ns(INT64_MAX), TASK_RETRY_MAX_NS);
}

/* A run that fails puts its task back in the queue, where no claim takes
 * it before its pause (1 s, doubling with each failure in a row, at most
 * 60 s) — not even to look: no write transaction while it waits.  A run
 * given back (a stop) is claimable at once and forgets the failures; a
 * run that succeeds ends the task.  A waiting task makes no checksum pass
 * give its worker back. */
static void test_failed_run_waits(void **state)
{
	struct ut_fx *fx = *state;
	const struct task_kind *kinds = fx->m->task_kinds;
	size_t nkinds = fx->m->task_nkinds;
	int64_t img = pending_image(fx, "alice", "a");
	ut_sql(fx, "INSERT INTO tasks(kind, image_id, state, args) VALUES ('flaky', %lld, 'queued', 'fail')",
	       (long long)img);
	int64_t t = ut_sql_int(fx, "SELECT max(id) FROM tasks");
	fx->m->task_kinds = flaky_kinds;
	fx->m->task_nkinds = 1;

	for (int64_t k = 0; k < 8; k++) {
		int64_t before = model_now_ns();
		assert_int_equal(model_task_work(fx->m, NULL), -EIO);
		int64_t after = model_now_ns();
		int64_t pause = k < 6 ? (1000000000LL << k) : 60000000000LL;
		assert_int_equal(ut_sql_int(fx, "SELECT retries FROM tasks WHERE id = %lld AND state = 'queued' "
		                                "AND claimed_by = ''", (long long)t), k + 1);
		int64_t at = ut_sql_int(fx, "SELECT retry_ns FROM tasks WHERE id = %lld", (long long)t);
		assert_true(at >= before + pause && at <= after + pause);
		/* Waiting: not claimed, not even under the write lock. */
		int64_t w0 = model_writes(fx->m);
		assert_int_equal(model_task_work(fx->m, NULL), 0);
		assert_int_equal(model_writes(fx->m), w0);
		/* Nor does it make a checksum pass give way (task_asked_waiting). */
		struct task_run r = {.m = fx->m};
		model_set_workers(fx->m, 1);
		atomic_store(&fx->m->running_here, 1);
		assert_false(task_asked_waiting(&r));
		ut_sql(fx, "UPDATE tasks SET retry_ns = %lld WHERE id = %lld", (long long)(model_now_ns() - 1),
		       (long long)t);
		assert_true(task_asked_waiting(&r));
		atomic_store(&fx->m->running_here, 0);
		model_set_workers(fx->m, 0);
	}
	/* Given back: claimable at once, the failures forgotten. */
	ut_sql(fx, "UPDATE tasks SET args = 'stop' WHERE id = %lld", (long long)t);
	assert_int_equal(model_task_work(fx->m, NULL), 1);
	assert_int_equal(ut_sql_int(fx, "SELECT retries + retry_ns FROM tasks WHERE id = %lld AND state = 'queued'",
	                            (long long)t), 0);
	/* A failure after it waits 1 s again. */
	ut_sql(fx, "UPDATE tasks SET args = 'fail' WHERE id = %lld", (long long)t);
	int64_t before = model_now_ns();
	assert_int_equal(model_task_work(fx->m, NULL), -EIO);
	assert_true(ut_sql_int(fx, "SELECT retry_ns FROM tasks WHERE id = %lld", (long long)t) <
	            model_now_ns() + 1000000000LL);
	assert_true(ut_sql_int(fx, "SELECT retry_ns FROM tasks WHERE id = %lld", (long long)t) >= before + 1000000000LL);
	/* Done once it succeeds. */
	ut_sql(fx, "UPDATE tasks SET args = 'ok', retry_ns = 0 WHERE id = %lld", (long long)t);
	assert_int_equal(model_task_work(fx->m, NULL), 1);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE id = %lld", (long long)t), 0);
	fx->m->task_kinds = kinds;
	fx->m->task_nkinds = nkinds;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_claim_each_task_once, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_dead_runner_reclaimed, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_live_runner_left_alone, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_stopped_runner_claims_nothing, ut_setup, ut_teardown),
		cmocka_unit_test(test_retry_pause),
		cmocka_unit_test_setup_teardown(test_failed_run_waits, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_task_orphaned, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_fair_fewest_running_of_the_kind, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_fair_round_robin, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_yield_due, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_task_of_image, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_capture_local, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_capture_cloud, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_capture_skips_media, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_capture_failure, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_capture_resume_skips_done_devices, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_capture_stop_requeues, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_capture_refusals, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_checksum_gives_way, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}
