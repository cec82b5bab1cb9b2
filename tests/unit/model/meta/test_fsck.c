/*
 * test_fsck.c — unit tests for model/meta/fsck.c: `imgfs admin fsck` finds
 * missing and damaged chunks and, with repair, removes damaged ones;
 * `imgfs admin gc` drops exactly the unreferenced chunks older than the
 * grace period (SPEC §1); instance disks (wblobs) must open, wblob files no
 * row names are found and, with repair, removed, and blobs left incomplete
 * with no task to finish them are reported.  These tests damage chunk
 * files, so every test has its own copies (ut_setup_copy).
 */
#include <pthread.h>
#include <stdint.h>

#include "model/lifecycle_test.h"
#include "blobstore_int.h"
#include "model_int.h"

#define MAX_LINES 64

struct report {
	int n;
	char lines[MAX_LINES][512];
};

static void on_report(void *arg, const char *line)
{
	struct report *r = arg;

	assert_non_null(line);
	assert_true(line[0] != '\0');
	assert_null(strchr(line, '\n')); /* one line per problem */
	if (r->n < MAX_LINES)
		snprintf(r->lines[r->n], sizeof r->lines[0], "%s", line);
	r->n++;
}

/* Whether some report line mentions s. */
static bool reported(const struct report *r, const char *s)
{
	for (int i = 0; i < r->n && i < MAX_LINES; i++)
		if (strstr(r->lines[i], s))
			return true;
	return false;
}

static int fsck(struct ut_fx *fx, bool repair, struct report *r)
{
	int rc;

	memset(r, 0, sizeof *r);
	rc = model_fsck(fx->m, repair, on_report, r);
	assert_true(rc >= 0);
	assert_int_equal(rc, r->n); /* the count is the number of lines */
	return rc;
}

/* The path of a chunk in cn-north-1's store, and its hex id. */
static void chunk_path(struct ut_fx *fx, const chunk_id *id, char *path, size_t cap, char hex[33])
{
	chunk_id_fmt(hex, id);
	snprintf(path, cap, "%s/regions/cn-north-1/chunks/%.2s/%s", fx->dir, hex, hex);
}

/* The data chunk ids of a public image of cn-north-1. */
static blob_manifest *public_manifest(struct ut_fx *fx, const char *name)
{
	struct model_image img = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, name);
	struct model_device devs[MODEL_MAX_DEVICES];
	blob_manifest *man = NULL;

	assert_int_equal(model_device_list(fx->m, img.id, devs), 1);
	assert_int_equal(model_blob_manifest(fx->m, devs[0].blob_id, &man), 0);
	return man;
}

/* Index of the n-th (from 0) data chunk of man. */
static uint32_t nth_data(const blob_manifest *man, int n)
{
	for (uint32_t i = 0; i < man->nchunks; i++)
		if (!chunk_id_is_null(mf_id(man, i)) && n-- == 0)
			return i;
	fail_msg("no data chunk %d", n);
	return 0;
}

/* Number of chunk files under <state>/regions/<region>/chunks. */
static int count_chunks(struct ut_fx *fx, const char *region)
{
	char cmd[256];
	int n = -1;
	FILE *p;

	snprintf(cmd, sizeof cmd, "find '%s/regions/%s/chunks' -type f | wc -l", fx->dir, region);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

static int count_all_chunks(struct ut_fx *fx)
{
	int n = 0;

	for (int r = 0; r < UT_REGIONS; r++)
		n += count_chunks(fx, ut_region_names[r]);
	return n;
}

static void test_fsck_fresh(void **state)
{
	struct ut_fx *fx = *state;
	struct report r;

	assert_int_equal(fsck(fx, false, &r), 0);
	assert_int_equal(fsck(fx, true, &r), 0);
	/* Every region's store holds its catalogue: 16 images, >= 1 chunk each. */
	for (int i = 0; i < UT_REGIONS; i++)
		assert_true(count_chunks(fx, ut_region_names[i]) >= UT_PUBLIC_COUNT + UT_MARKETPLACE_COUNT);
}

static void test_fsck_missing_chunk(void **state)
{
	struct ut_fx *fx = *state;
	blob_manifest *man = public_manifest(fx, "centos-7.4");
	uint32_t idx = nth_data(man, 1);
	char path[256], hex[33];
	struct report r;

	chunk_path(fx, mf_id(man, idx), path, sizeof path, hex);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(unlink(path), 0);
	assert_true(fsck(fx, false, &r) >= 1);
	if (!reported(&r, hex))
		fail_msg("fsck did not name the missing chunk %s (%d lines, first: %s)", hex, r.n, r.n ? r.lines[0] : "");
	/* Repair cannot bring it back; it is still reported. */
	assert_true(fsck(fx, true, &r) >= 1);
	assert_true(reported(&r, hex));
	/* The other regions' copies are intact. */
	for (int i = 0; i < r.n && i < MAX_LINES; i++)
		assert_null(strstr(r.lines[i], "cn-east-2"));
	blob_manifest_free(man);
}

static void test_fsck_corrupt_chunk(void **state)
{
	struct ut_fx *fx = *state;
	blob_manifest *man = public_manifest(fx, "ubuntu-16.04");
	uint32_t idx = nth_data(man, 0);
	char path[256], hex[33];
	struct report r;
	uint8_t b;
	int fd, before = count_all_chunks(fx);

	chunk_path(fx, mf_id(man, idx), path, sizeof path, hex);
	/* Chunk files are read-only once placed. */
	assert_int_equal(chmod(path, 0644), 0);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, 1000), 1);
	b ^= 0x01;
	assert_int_equal(pwrite(fd, &b, 1, 1000), 1);
	close(fd);

	assert_true(fsck(fx, false, &r) >= 1);
	if (!reported(&r, hex))
		fail_msg("fsck did not name the corrupt chunk %s (%d lines, first: %s)", hex, r.n, r.n ? r.lines[0] : "");
	assert_int_equal(access(path, F_OK), 0); /* reporting deletes nothing */
	assert_int_equal(count_all_chunks(fx), before);

	/* Repair removes the chunk (reads then fail with EIO, never wrong bytes). */
	assert_true(fsck(fx, true, &r) >= 1);
	assert_true(reported(&r, hex));
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(count_all_chunks(fx), before - 1);
	/* Now it is missing, and still named. */
	assert_true(fsck(fx, false, &r) >= 1);
	assert_true(reported(&r, hex));
	blob_manifest_free(man);
}

/* Two problems at once are two reports at least. */
static void test_fsck_counts_problems(void **state)
{
	struct ut_fx *fx = *state;
	blob_manifest *a = public_manifest(fx, "centos-6.5");
	blob_manifest *b = public_manifest(fx, "windows-server-2016-datacenter");
	char pa[256], pb[256], ha[33], hb[33];
	struct report r;

	chunk_path(fx, mf_id(a, nth_data(a, 0)), pa, sizeof pa, ha);
	chunk_path(fx, mf_id(b, nth_data(b, 2)), pb, sizeof pb, hb);
	assert_int_equal(unlink(pa), 0);
	assert_int_equal(unlink(pb), 0);
	assert_true(fsck(fx, false, &r) >= 2);
	assert_true(reported(&r, ha));
	assert_true(reported(&r, hb));
	blob_manifest_free(a);
	blob_manifest_free(b);
}

/* A store that does not answer (issue 47): its backend's reads and
 * existence checks fail with EIO, as the RADOS backend's do after its
 * retries when the OSD is down; every call counted. */
static struct {
	struct blob_backend *be, saved;
	int calls;
} mute;

static int mute_get(struct blob_backend *be, const chunk_id *id, void *buf, size_t cap, size_t *len)
{
	(void)be, (void)id, (void)buf, (void)cap, (void)len;
	mute.calls++;
	return -EIO;
}

static int mute_get_buf(struct blob_backend *be, const chunk_id *id, uint8_t **buf, size_t *len)
{
	(void)be, (void)id, (void)buf, (void)len;
	mute.calls++;
	return -EIO;
}

static int mute_exists(struct blob_backend *be, const chunk_id *id)
{
	(void)be, (void)id;
	mute.calls++;
	return -EIO;
}

static void test_fsck_unanswered(void **state)
{
	struct ut_fx *fx = *state;
	blob_manifest *man = public_manifest(fx, "ubuntu-16.04");
	char path[256], hex[33];
	struct report r = {0}, notes = {0};
	int unchecked = -1, before = count_all_chunks(fx);
	blob_store *s;

	/* One chunk really damaged: with the store answering it is condemned. */
	chunk_path(fx, mf_id(man, nth_data(man, 0)), path, sizeof path, hex);
	assert_int_equal(chmod(path, 0644), 0);
	FILE *f = fopen(path, "r+");
	assert_non_null(f);
	fputs("not the chunk", f);
	fclose(f);
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	mute.be = s->be;
	mute.saved = *s->be;
	s->be->get = mute_get;
	s->be->exists = mute_exists;
	if (s->be->get_buf)
		s->be->get_buf = mute_get_buf;
	/* With repair: not one problem, every unanswered check counted and
	 * said, nothing removed, and the store asked a bounded number of
	 * times (it stopped answering: the rest is counted, not asked). */
	assert_int_equal(model_fsck_checked(fx->m, true, on_report, on_report, &notes, &unchecked), 0);
	(void)r;
	assert_true(unchecked > (int)man->count);
	assert_true(reported(&notes, "could not check: region cn-north-1"));
	assert_true(reported(&notes, "its store stopped answering"));
	assert_false(reported(&notes, "does not match"));
	assert_false(reported(&notes, "is missing"));
	/* Asked thrice (whether its first chunks are there), then counted:
	 * not one read of the verify pass either. */
	assert_int_equal(mute.calls, BLOB_VERIFY_GIVE_UP);
	assert_int_equal(count_all_chunks(fx), before);
	assert_int_equal(access(path, F_OK), 0);
	/* The other regions answered: checked, clean. */
	for (int i = 0; i < notes.n && i < MAX_LINES; i++)
		assert_null(strstr(notes.lines[i], "cn-east-2"));
	/* The case: the store says its chunks are there, and then
	 * does not answer their reads (an OSD gone during the walk).  The
	 * reads that failed condemn nothing and remove nothing, the damaged
	 * chunk included (it was not read either): 3 in a row end the walk. */
	*mute.be = mute.saved;
	s->be->get = mute_get;
	if (s->be->get_buf)
		s->be->get_buf = mute_get_buf;
	mute.calls = 0;
	memset(&notes, 0, sizeof notes);
	assert_int_equal(model_fsck_checked(fx->m, true, on_report, on_report, &notes, &unchecked), 0);
	assert_int_equal(mute.calls, BLOB_VERIFY_GIVE_UP);
	assert_int_equal(unchecked, BLOB_VERIFY_GIVE_UP + 1); /* 3 reads, and the walk's rest */
	assert_true(reported(&notes, "the walk of its chunks stopped"));
	assert_false(reported(&notes, "does not match"));
	assert_int_equal(count_all_chunks(fx), before);
	assert_int_equal(access(path, F_OK), 0);
	/* Answering again: the damaged chunk is condemned, the rest clean. */
	*mute.be = mute.saved;
	memset(&notes, 0, sizeof notes);
	assert_int_equal(model_fsck_checked(fx->m, false, on_report, on_report, &notes, &unchecked), 1);
	assert_int_equal(unchecked, 0);
	assert_true(reported(&notes, hex));
	/* A store that answers that it cannot be used (here: a spec no store
	 * takes) is a problem, not "could not check". */
	int64_t r3 = ut_sql_int(fx, "SELECT id FROM regions WHERE name = 'cn-south-1'");
	blob_store_close(fx->m->stores[r3]);
	fx->m->stores[r3] = NULL;
	ut_sql(fx, "UPDATE regions SET store = 'dir:relative' WHERE id = %lld", (long long)r3);
	free(fx->m->regions[r3]); /* (the row as kept: read again) */
	fx->m->regions[r3] = NULL;
	memset(&notes, 0, sizeof notes);
	assert_true(model_fsck_checked(fx->m, false, on_report, on_report, &notes, &unchecked) >= 2);
	assert_int_equal(unchecked, 0);
	assert_true(reported(&notes, "region cn-south-1: cannot open its blob store"));
	blob_manifest_free(man);
}

static void test_gc_fresh(void **state)
{
	struct ut_fx *fx = *state;
	uint64_t removed = 99;
	int before = count_all_chunks(fx);
	struct report r;

	/* Everything in a fresh state is referenced. */
	assert_int_equal(model_gc(fx->m, 0, &removed), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(count_all_chunks(fx), before);
	assert_int_equal(fsck(fx, false, &r), 0);
}

static void test_gc_unreferenced(void **state)
{
	struct ut_fx *fx = *state;
	blob_store *s;
	uint8_t buf[4096];
	chunk_id old_id, young_id;
	char old_path[256], young_path[256], hex[33];
	uint64_t removed = 99;
	struct report r;
	int before = count_all_chunks(fx);

	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(blob_store_put_chunk(s, &old_id, buf, sizeof buf), 1);
	buf[0] ^= 0xff;
	assert_int_equal(blob_store_put_chunk(s, &young_id, buf, sizeof buf), 1);
	chunk_path(fx, &old_id, old_path, sizeof old_path, hex);
	chunk_path(fx, &young_id, young_path, sizeof young_path, hex);
	assert_int_equal(access(old_path, F_OK), 0);
	assert_int_equal(count_all_chunks(fx), before + 2);
	/* The old one was written two hours ago. */
	struct timespec ts[2] = {{.tv_sec = time(NULL) - 7200}, {.tv_sec = time(NULL) - 7200}};
	assert_int_equal(utimensat(AT_FDCWD, old_path, ts, 0), 0);

	/* A grace longer than its age keeps it. */
	assert_int_equal(model_gc(fx->m, 10 * 24 * 3600, &removed), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(access(old_path, F_OK), 0);
	/* An hour's grace drops it, and only it: the young one may belong to
	 * a blob whose row is not committed yet. */
	assert_int_equal(model_gc(fx->m, 3600, &removed), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(access(old_path, F_OK), -1);
	assert_int_equal(access(young_path, F_OK), 0);
	assert_int_equal(count_all_chunks(fx), before + 1);
	/* Again: nothing left to drop. */
	assert_int_equal(model_gc(fx->m, 3600, &removed), 0);
	assert_int_equal(removed, 0);
	/* The catalogue is intact. */
	assert_int_equal(fsck(fx, false, &r), 0);
	/* removed_out may be NULL. */
	assert_int_equal(model_gc(fx->m, 3600, NULL), 0);
}

/* Old catalogue chunks are referenced: gc keeps them whatever their age. */
static void test_gc_keeps_old_referenced(void **state)
{
	struct ut_fx *fx = *state;
	blob_manifest *man = public_manifest(fx, "centos-7.1");
	struct timespec ts[2] = {{.tv_sec = time(NULL) - 30 * 24 * 3600}, {.tv_sec = time(NULL) - 30 * 24 * 3600}};
	char path[256], hex[33];
	uint64_t removed = 99;
	int before = count_all_chunks(fx);
	struct report r;

	for (uint32_t i = 0; i < man->nchunks; i++) {
		if (chunk_id_is_null(mf_id(man, i)))
			continue;
		chunk_path(fx, mf_id(man, i), path, sizeof path, hex);
		assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	}
	assert_int_equal(model_gc(fx->m, 0, &removed), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(count_all_chunks(fx), before);
	assert_int_equal(fsck(fx, false, &r), 0);
	blob_manifest_free(man);
}

/* ---- writable and incomplete blobs ----------------------------------------------- */

/* Instances with disks, written to, and gc: a clean state. */
static void test_fsck_instances_clean(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	struct model_image pub = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "centos-7.4");
	int64_t alice = ut_account(fx, "alice"), vm = 0;
	blob_store *s;
	blob_wblob *w = NULL;
	struct report r;

	assert_int_equal(model_instance_create(fx->m, fx->r1, alice, "vm", &vm, &err), 0);
	assert_int_equal(model_instance_rebuild(fx->m, vm, pub.id, alice, &err), 0);
	assert_int_equal(model_instance_disk_attach(fx->m, vm, 1, &err), 0);
	assert_int_equal(model_instance_disks(fx->m, vm, disks), 2);
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	assert_int_equal(blob_wblob_open(&w, s, disks[1].wblob), 0);
	assert_int_equal(blob_wblob_pwrite(w, "data", 4, 5 * LT_MiB), 4);
	blob_wblob_close(w);
	assert_int_equal(fsck(fx, false, &r), 0);
	/* gc skips rows without a manifest and keeps the disks' base chunks. */
	assert_int_equal(model_gc(fx->m, -60, NULL), 0);
	assert_int_equal(fsck(fx, false, &r), 0);
	lt_assert_wblob_is_blob(fx, fx->r1, disks[0].wblob,
	                        ut_sql_int(fx, "SELECT blob_id FROM devices WHERE image_id = %lld", (long long)pub.id));
}

/* Makes both files of a wblob look an hour old. */
static void age_wblob(struct ut_fx *fx, const char *region, const char *name)
{
	struct timespec ts[2] = {{.tv_sec = time(NULL) - 3600}, {.tv_sec = time(NULL) - 3600}};
	const char *ext[] = {"map", "data"};
	char path[256];

	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "%s/regions/%s/wblobs/%s.%s", fx->dir, region, name, ext[i]);
		assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	}
}

/* What a crash between a disk's file and its commit leaves: a file no row
 * names.  Reported once it is old enough to be no transaction's; repair
 * removes it. */
static void test_fsck_orphan_wblob(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	int64_t alice = ut_account(fx, "alice"), vm = 0;
	blob_store *s;
	struct report r;

	assert_int_equal(model_instance_create(fx->m, fx->r1, alice, "vm", &vm, &err), 0);
	assert_int_equal(model_instance_disks(fx->m, vm, disks), 1);
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	assert_int_equal(blob_wblob_create(s, "d999999", NULL, LT_MiB), 0);
	/* Young: maybe a transaction's that has not committed yet. */
	assert_int_equal(fsck(fx, false, &r), 0);
	age_wblob(fx, "cn-north-1", "d999999");
	age_wblob(fx, "cn-north-1", disks[0].wblob); /* old, but named */
	assert_int_equal(fsck(fx, false, &r), 1);
	assert_true(reported(&r, "d999999"));
	assert_true(reported(&r, "cn-north-1"));
	assert_true(lt_wblob_exists(fx, fx->r1, "d999999"));
	assert_int_equal(fsck(fx, true, &r), 1);
	assert_true(reported(&r, "removed"));
	assert_false(lt_wblob_exists(fx, fx->r1, "d999999"));
	assert_true(lt_wblob_exists(fx, fx->r1, disks[0].wblob));
	assert_int_equal(fsck(fx, false, &r), 0);
}

/* In cluster mode another host's disk is that host's file: fsck given
 * this host's state does not judge it (its file is not here), it notes it;
 * with SQLite every disk is this machine's. */
static void test_fsck_other_hosts(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	int64_t alice = ut_account(fx, "alice"), vm = 0;
	blob_store *s;
	struct report r, notes = {0};

	assert_int_equal(model_instance_create(fx->m, fx->r1, alice, "vm", &vm, &err), 0);
	assert_int_equal(model_instance_disks(fx->m, vm, disks), 1);
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	assert_int_equal(blob_wblob_remove(s, disks[0].wblob), 0); /* it is on host zz */
	ut_sql(fx, "UPDATE instances SET host = 'zz' WHERE id = %lld", (long long)vm);
	memset(&r, 0, sizeof r);
	int n = model_fsck_report(fx->m, false, on_report, NULL, &r);
	assert_int_equal(n, r.n);
	if (fx->pgdb[0]) {
		assert_int_equal(n, 0);
		assert_int_equal(model_fsck_report(fx->m, false, on_report, on_report, &notes), 0);
		assert_int_equal(notes.n, 1);
		assert_true(reported(&notes, "region cn-north-1: 1 writable blob of other hosts (zz) not "
		                             "checked here"));
	} else {
		assert_int_equal(n, 1);
		assert_true(reported(&r, disks[0].wblob));
	}
}

/* The sweep removes what no row names (a killed upload's wblob) and old
 * temp files, and keeps named wblobs and young temp files. */
static void test_sweep(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	int64_t alice = ut_account(fx, "alice"), vm = 0;
	struct timespec old[2] = {{.tv_sec = time(NULL) - 3600}, {.tv_sec = time(NULL) - 3600}};
	char told[256], tyoung[256];
	blob_store *s;
	int fd;

	assert_int_equal(model_instance_create(fx->m, fx->r1, alice, "vm", &vm, &err), 0);
	assert_int_equal(model_instance_disks(fx->m, vm, disks), 1);
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	assert_int_equal(blob_wblob_create(s, "u999999", NULL, LT_MiB), 0);
	snprintf(told, sizeof told, "%s/regions/cn-north-1/tmp/w.1.1.1.tmp", fx->dir);
	snprintf(tyoung, sizeof tyoung, "%s/regions/cn-north-1/tmp/w.1.1.2.tmp", fx->dir);
	assert_true((fd = open(told, O_CREAT | O_WRONLY, 0600)) >= 0);
	close(fd);
	assert_int_equal(utimensat(AT_FDCWD, told, old, 0), 0);
	assert_true((fd = open(tyoung, O_CREAT | O_WRONLY, 0600)) >= 0);
	close(fd);

	assert_int_equal(model_wblobs_sweep(fx->m), 1);
	assert_false(lt_wblob_exists(fx, fx->r1, "u999999"));
	assert_true(lt_wblob_exists(fx, fx->r1, disks[0].wblob));
	assert_int_equal(access(told, F_OK), -1);
	assert_int_equal(access(tyoung, F_OK), 0);
	assert_int_equal(model_wblobs_sweep(fx->m), 0);
}

/* A wblob whose row a transaction still holds uncommitted (the file comes
 * first, then the commit: an upload beginning) is not swept: the sweep
 * looks an unnamed file up again under the write lock. */
struct holder {
	struct ut_fx *fx;
	pthread_barrier_t *made;
};

static void *hold_a_new_wblob(void *arg)
{
	struct holder *h = arg;
	struct model_conn *c;
	blob_store *s;
	char sql[160];
	int rc = model_write_begin(h->fx->m, &c, NULL);
	snprintf(sql, sizeof sql, "INSERT INTO blobs(region_id, size, stored, wblob, mtime_ns) VALUES (%lld, 0, 0, "
	                          "'u424242', 1)",
	         (long long)h->fx->r1);
	if (rc == 0 && (rc = model_exec(c, sql)) == 0 && (rc = model_store(h->fx->m, h->fx->r1, &s)) == 0)
		rc = blob_wblob_create(s, "u424242", NULL, 0);
	pthread_barrier_wait(h->made);
	struct timespec hold = {0, 300 * 1000000L}; /* the sweep meets the open transaction */
	nanosleep(&hold, NULL);
	if (rc == 0)
		rc = model_write_end(c, 0, NULL);
	else
		model_write_end(c, -ECANCELED, NULL);
	return (void *)(intptr_t)rc;
}

static void test_sweep_waits_for_the_writer(void **state)
{
	struct ut_fx *fx = *state;
	pthread_barrier_t made;
	struct holder h = {fx, &made};
	pthread_t t;
	void *rc;

	pthread_barrier_init(&made, NULL, 2);
	assert_int_equal(pthread_create(&t, NULL, hold_a_new_wblob, &h), 0);
	pthread_barrier_wait(&made);
	assert_int_equal(model_wblobs_sweep(fx->m), 0);
	assert_int_equal(pthread_join(t, &rc), 0);
	assert_int_equal((intptr_t)rc, 0);
	pthread_barrier_destroy(&made);
	assert_true(lt_wblob_exists(fx, fx->r1, "u424242"));
}

/* A disk whose file is gone or damaged is reported (nothing to repair). */
static void test_fsck_wblob_unreadable(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	int64_t alice = ut_account(fx, "alice"), vm = 0;
	blob_store *s;
	struct report r;
	char want[160];

	assert_int_equal(model_instance_create(fx->m, fx->r1, alice, "vm", &vm, &err), 0);
	assert_int_equal(model_instance_disk_attach(fx->m, vm, 1, &err), 0);
	assert_int_equal(model_instance_disks(fx->m, vm, disks), 2);
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	assert_int_equal(blob_wblob_remove(s, disks[1].wblob), 0);
	assert_int_equal(fsck(fx, false, &r), 1);
	snprintf(want, sizeof want, "blob %lld: writable blob %s does not open", (long long)disks[1].blob_id,
	         disks[1].wblob);
	if (!reported(&r, want))
		fail_msg("fsck did not report \"%s\" (%d lines, first: %s)", want, r.n, r.n ? r.lines[0] : "");
	assert_int_equal(fsck(fx, true, &r), 1);
}

/* A blob with neither manifest nor wblob is a capture's being written:
 * fine while a task will run, reported otherwise; repair deletes it when
 * nothing references it. */
static void test_fsck_incomplete_blob(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	struct report r;
	char want[64];

	ut_sql(fx, "INSERT INTO blobs(region_id, size, stored, mtime_ns) VALUES (%lld, 0, 0, 1)", (long long)fx->r1);
	int64_t loose = ut_sql_int(fx, "SELECT max(id) FROM blobs");
	ut_sql(fx, "INSERT INTO blobs(region_id, size, stored, mtime_ns) VALUES (%lld, 0, 0, 1)", (long long)fx->r1);
	int64_t held = ut_sql_int(fx, "SELECT max(id) FROM blobs");
	lt_snapshot(fx, fx->r1, alice, "snap-00000001", held, MODEL_SNAP_ERROR);

	int64_t task = lt_task(fx, 0, "instance", 1, "running");
	assert_int_equal(fsck(fx, false, &r), 0);
	ut_sql(fx, "UPDATE tasks SET state = 'queued' WHERE id = %lld", (long long)task);
	assert_int_equal(fsck(fx, true, &r), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs WHERE id IN (%lld, %lld)", (long long)loose,
	                            (long long)held),
	                 2);

	ut_sql(fx, "UPDATE tasks SET state = 'error' WHERE id = %lld", (long long)task);
	assert_int_equal(fsck(fx, false, &r), 2);
	snprintf(want, sizeof want, "blob %lld is incomplete", (long long)loose);
	assert_true(reported(&r, want));
	snprintf(want, sizeof want, "blob %lld is incomplete", (long long)held);
	assert_true(reported(&r, want));
	assert_int_equal(fsck(fx, true, &r), 2);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs WHERE id = %lld", (long long)loose), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs WHERE id = %lld", (long long)held), 1);
	assert_int_equal(fsck(fx, false, &r), 1); /* the snapshot's is still there to see */
}

/* The usage the schema's triggers keep for quotas: right after every kind
 * of change, and a drift (a usage row or a share count that no longer
 * agrees with the rows) is reported and repaired. */
static int64_t quota_used(struct ut_fx *fx, int64_t account_id, enum model_quota_key k)
{
	struct model_quota q[MODEL_QUOTA_COUNT];
	int n = model_quota_list(fx->m, account_id, fx->r1, q);
	for (int i = 0; i < n; i++)
		if (q[i].key == k)
			return q[i].used;
	fail_msg("no quota %d", (int)k);
	return -1;
}

static void test_fsck_usage(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct report r;
	int64_t alice = ut_account(fx, "alice"), bob = ut_account(fx, "bob");
	int64_t a = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "a");
	int64_t b = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "b");
	static char data[4096] = "usage";
	int64_t blob = lt_blob(fx, fx->r1, data, sizeof(data));

	ut_image(fx, fx->r1, alice, MODEL_FOLDER_ISO, "iso"); /* not a private image */
	lt_snapshot(fx, fx->r1, alice, "snap-0000000a", blob, MODEL_SNAP_AVAILABLE);
	ut_force_share(fx, a, bob);
	assert_int_equal(quota_used(fx, alice, MODEL_QUOTA_PRIVATE_IMAGES), 2);
	assert_int_equal(quota_used(fx, alice, MODEL_QUOTA_SNAPSHOTS), 1);
	assert_int_equal(quota_used(fx, alice, MODEL_QUOTA_SHARES_PER_IMAGE), 1);
	assert_int_equal(quota_used(fx, bob, MODEL_QUOTA_SHARED_IMAGES), 1);
	/* Moving out of private/ (as the recycle bin does) and removing. */
	ut_force_recycle(fx, b, 1);
	assert_int_equal(quota_used(fx, alice, MODEL_QUOTA_PRIVATE_IMAGES), 1);
	ut_sql(fx, "DELETE FROM images WHERE id = %lld", (long long)a); /* its share goes first */
	assert_int_equal(quota_used(fx, alice, MODEL_QUOTA_PRIVATE_IMAGES), 0);
	assert_int_equal(quota_used(fx, bob, MODEL_QUOTA_SHARED_IMAGES), 0);
	a = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "a");
	ut_force_share(fx, a, bob);
	assert_int_equal(model_quota_set(fx->m, "alice", "cn-north-1", "private-images", 1, &err), 0);
	assert_int_equal(model_image_create(fx->m, fx->r1, alice, MODEL_FOLDER_PRIVATE, "c", NULL, &err), -EDQUOT);
	assert_int_equal(fsck(fx, false, &r), 0);

	/* Drift: fsck names it, repair recounts. */
	ut_sql(fx, "UPDATE usage SET used = used + 3 WHERE account_id = %lld AND key = 1", (long long)alice);
	ut_sql(fx, "DELETE FROM usage WHERE account_id = %lld AND key = 2", (long long)alice);
	ut_sql(fx, "UPDATE images SET shares = 7 WHERE id = %lld", (long long)a);
	assert_int_equal(fsck(fx, false, &r), 3);
	assert_true(reported(&r, "quota usage differs from the rows"));
	assert_true(reported(&r, "its number of shares is wrong"));
	assert_int_equal(quota_used(fx, alice, MODEL_QUOTA_PRIVATE_IMAGES), 4);
	assert_int_equal(fsck(fx, true, &r), 3);
	assert_int_equal(fsck(fx, false, &r), 0);
	assert_int_equal(quota_used(fx, alice, MODEL_QUOTA_PRIVATE_IMAGES), 1);
	assert_int_equal(quota_used(fx, alice, MODEL_QUOTA_SNAPSHOTS), 1);
	assert_int_equal(quota_used(fx, alice, MODEL_QUOTA_SHARES_PER_IMAGE), 1);
}

/* An image whose sha256 will never come (issue 36): available or in the
 * recycle bin, an empty sha256, no checksum task for it — a problem, and
 * repair queues the task; with one queued or running it is not; past the
 * 64 GiB of holes the pass hashes it is a note (by design), not a problem,
 * and repair queues nothing. */
static int checksum_tasks(struct ut_fx *fx, int64_t image_id)
{
	return (int)ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE kind = 'checksum' AND image_id = %lld",
	                       (long long)image_id);
}

static void test_fsck_checksum_never_comes(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	struct report r, notes;
	char want[64];

	assert_int_equal(fsck(fx, false, &r), 0);
	int64_t a = lt_local_image(fx, fx->r1, alice, "a", 2 * LT_MiB);
	int64_t iso = lt_iso_image(fx, fx->r1, alice, "iso", LT_MiB);
	struct model_image ia = ut_get(fx, a), iiso = ut_get(fx, iso);
	/* A queued or running pass will fill it. */
	ut_sql(fx, "INSERT INTO tasks(kind, image_id, state) VALUES ('checksum', %lld, 'queued')", (long long)a);
	ut_sql(fx, "INSERT INTO tasks(kind, image_id, state) VALUES ('checksum', %lld, 'running')", (long long)iso);
	assert_int_equal(fsck(fx, false, &r), 0);

	/* The rows gone (an outage's lost pass): both are problems. */
	ut_sql(fx, "DELETE FROM tasks WHERE kind = 'checksum'");
	assert_int_equal(fsck(fx, false, &r), 2);
	snprintf(want, sizeof want, "%s: its sha256 will never come", ia.ext_id);
	assert_true(reported(&r, want));
	snprintf(want, sizeof want, "%s: its sha256 will never come", iiso.ext_id);
	assert_true(reported(&r, want));
	/* In the recycle bin it is still one (a restore makes it usable). */
	ut_sql(fx, "UPDATE images SET status = %d WHERE id = %lld", (int)MODEL_IMG_DELETED, (long long)a);
	assert_int_equal(fsck(fx, false, &r), 2);
	/* Repair queues one task each, once; the next fsck is clean. */
	assert_int_equal(fsck(fx, true, &r), 2);
	assert_true(reported(&r, "; queued"));
	assert_int_equal(checksum_tasks(fx, a), 1);
	assert_int_equal(checksum_tasks(fx, iso), 1);
	assert_int_equal(fsck(fx, true, &r), 0);
	assert_int_equal(checksum_tasks(fx, a), 1);
	/* A sha256 kept: nothing to say, with or without a task. */
	ut_sql(fx, "DELETE FROM tasks WHERE kind = 'checksum'");
	ut_sql(fx, "UPDATE blobs SET sha256 = '%064d' WHERE id IN (SELECT blob_id FROM devices WHERE image_id IN "
	           "(%lld, %lld))",
	       0, (long long)a, (long long)iso);
	assert_int_equal(fsck(fx, false, &r), 0);
	/* An image in error never gets one: not a problem. */
	ut_sql(fx, "UPDATE blobs SET sha256 = '' WHERE id IN (SELECT blob_id FROM devices WHERE image_id = %lld)",
	       (long long)a);
	ut_sql(fx, "UPDATE images SET status = %d WHERE id = %lld", (int)MODEL_IMG_ERROR, (long long)a);
	assert_int_equal(fsck(fx, false, &r), 0);

	/* More holes than the pass hashes (a 1 TiB sparse capture): a note. */
	ut_sql(fx, "UPDATE images SET status = %d WHERE id = %lld", (int)MODEL_IMG_AVAILABLE, (long long)a);
	ut_sql(fx, "UPDATE blobs SET size = %lld WHERE id IN (SELECT blob_id FROM devices WHERE image_id = %lld)",
	       (long long)(1LL << 40), (long long)a);
	assert_int_equal(fsck(fx, false, &r), 0); /* without a note callback: nothing */
	for (int repair = 0; repair <= 1; repair++) {
		/* report and note share their argument: the one line is the note */
		memset(&notes, 0, sizeof notes);
		assert_int_equal(model_fsck_report(fx->m, repair, on_report, on_report, &notes), 0);
		assert_int_equal(notes.n, 1);
		snprintf(want, sizeof want, "%s: no sha256, by design", ia.ext_id);
		assert_true(reported(&notes, want));
		assert_true(reported(&notes, "1023 GiB of holes, more than the 64 GiB"));
	}
	assert_int_equal(checksum_tasks(fx, a), 0); /* repair queued nothing */
	/* Just under the cap: the pass hashes it, so a missing task is one. */
	ut_sql(fx, "UPDATE blobs SET size = stored + %lld WHERE id IN (SELECT blob_id FROM devices WHERE image_id = "
	           "%lld)",
	       (long long)(64LL << 30), (long long)a);
	assert_int_equal(fsck(fx, false, &r), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fsck_fresh, ut_setup_copy, ut_teardown),
		cmocka_unit_test_setup_teardown(test_fsck_missing_chunk, ut_setup_copy, ut_teardown),
		cmocka_unit_test_setup_teardown(test_fsck_corrupt_chunk, ut_setup_copy, ut_teardown),
		cmocka_unit_test_setup_teardown(test_fsck_unanswered, ut_setup_copy, ut_teardown),
		cmocka_unit_test_setup_teardown(test_fsck_counts_problems, ut_setup_copy, ut_teardown),
		cmocka_unit_test_setup_teardown(test_gc_fresh, ut_setup_copy, ut_teardown),
		cmocka_unit_test_setup_teardown(test_gc_unreferenced, ut_setup_copy, ut_teardown),
		cmocka_unit_test_setup_teardown(test_gc_keeps_old_referenced, ut_setup_copy, ut_teardown),
		cmocka_unit_test_setup_teardown(test_fsck_instances_clean, ut_setup_copy, ut_teardown),
		cmocka_unit_test_setup_teardown(test_fsck_orphan_wblob, ut_setup_copy, ut_teardown),
		cmocka_unit_test_setup_teardown(test_fsck_wblob_unreadable, ut_setup_copy, ut_teardown),
		cmocka_unit_test_setup_teardown(test_fsck_other_hosts, ut_setup_copy, ut_teardown),
		cmocka_unit_test_setup_teardown(test_sweep, ut_setup_copy, ut_teardown),
		cmocka_unit_test_setup_teardown(test_sweep_waits_for_the_writer, ut_setup_copy, ut_teardown),
		cmocka_unit_test_setup_teardown(test_fsck_incomplete_blob, ut_setup_copy, ut_teardown),
		cmocka_unit_test_setup_teardown(test_fsck_usage, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_fsck_checksum_never_comes, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}
