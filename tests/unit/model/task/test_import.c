/*
 * test_import.c — unit tests for model/task/import.c (URL import, SPEC §5.2):
 * beginning an import (status, redacted source, the rows, the task's
 * args), refusals at the write (bad URLs, wrong status or class: nothing
 * changes), cancel (also of a queued task: the runner then finds nothing),
 * a transfer that fails (connection refused: error with the reason, the
 * rows gone), and the task's resume point: with a server that honours
 * ranges the bytes before the durable point are kept and the rest fetched;
 * with one that does not, the file comes again from 0; bytes beyond the
 * durable point are never trusted.  The version those bytes belong to (the
 * validator, a third line of the task's args) is recorded with each
 * durable point: a resume with it keeps them; without one (args from
 * before it was recorded), or once the file changed on the server, the
 * file comes again from 0 — never the old start spliced to the new end.
 *
 * Servers: tests/servers/serve.py (http, noranges, slow) serving a 3 MiB
 * raw disk with an MBR, started by main() with Debian's /usr/bin/python3
 * and killed at the end (and with this process: PR_SET_PDEATHSIG).  The
 * tests that stop a transfer midway run the task in a thread on the slow
 * server and set its stop flag once tasks.bytes_done shows enough bytes.
 */
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "fetch.h"
#include "test_util.h"

#define PY "/usr/bin/python3"
#define FILE_LEN (3u << 20)
#define MARK (1u << 20)

enum { SRV_HTTP, SRV_NORANGES, SRV_SLOW, SRV_N };
static const char *const srv_mode[SRV_N] = {"http", "noranges", "slow"};
/* The servers of this test process (main() starts them). */
static struct {
	char dir[64];
	pid_t pid[SRV_N];
	int port[SRV_N];
	uint8_t *file; /* FILE_LEN bytes, also <dir>/disk.raw */
} srv;

/* ---- servers ------------------------------------------------------------------ */

static void serve_py(char *out, size_t cap)
{
	snprintf(out, cap, "%s/tests/servers/serve.py", IMGFS_SOURCE_DIR);
}

/* Starts serve.py MODE <dir>; its port, or -1. */
static int server_start(int i)
{
	char script[PATH_MAX], buf[512] = "", *port;
	size_t n = 0;
	int p[2];

	serve_py(script, sizeof(script));
	if (pipe(p) < 0 || (srv.pid[i] = fork()) < 0)
		return -1;
	if (srv.pid[i] == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execl(PY, PY, script, srv_mode[i], srv.dir, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while ((port = strstr(buf, "PORT ")) == NULL || !strchr(port, '\n')) {
		struct pollfd pfd = {.fd = p[0], .events = POLLIN};
		ssize_t r;
		if (n + 1 >= sizeof(buf) || poll(&pfd, 1, 30000) <= 0 || (r = read(p[0], buf + n, sizeof(buf) - n - 1)) <= 0) {
			close(p[0]);
			return -1;
		}
		n += (size_t)r;
		buf[n] = '\0';
	}
	close(p[0]);
	return atoi(port + 5);
}

/* A FILE_LEN raw disk (an MBR, then xorshift64 bytes from seed:
 * incompressible, repeatable) put in place as <srv.dir>/name the way a
 * file changes on a server: written aside with mtime, renamed over.  Its
 * bytes (the caller frees them), or NULL. */
static uint8_t *disk_put(const char *name, uint64_t seed, time_t mtime)
{
	char aside[PATH_MAX], path[PATH_MAX];
	const struct timespec ts[2] = {{.tv_sec = mtime}, {.tv_sec = mtime}};
	uint8_t *b = malloc(FILE_LEN);
	uint64_t x = seed;
	FILE *f;

	if (!b)
		return NULL;
	for (size_t i = 0; i < FILE_LEN; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b[i] = (uint8_t)(x >> 24);
	}
	memset(b, 0, 512);
	b[510] = 0x55;
	b[511] = 0xaa;
	snprintf(aside, sizeof(aside), "%s/%s.new", srv.dir, name);
	snprintf(path, sizeof(path), "%s/%s", srv.dir, name);
	if (!(f = fopen(aside, "wb")) || fwrite(b, 1, FILE_LEN, f) != FILE_LEN || fclose(f) != 0 ||
	    utimensat(AT_FDCWD, aside, ts, 0) != 0 || rename(aside, path) != 0) {
		free(b);
		return NULL;
	}
	return b;
}

static int servers_start(void)
{
	snprintf(srv.dir, sizeof(srv.dir), "/tmp/imgfs-import-XXXXXX");
	if (!mkdtemp(srv.dir) || !(srv.file = disk_put("disk.raw", 0x9e3779b97f4a7c15ull, time(NULL) - 3600)))
		return -1;
	for (int i = 0; i < SRV_N; i++)
		if ((srv.port[i] = server_start(i)) <= 0)
			return -1;
	return 0;
}

static void servers_stop(void)
{
	for (int i = 0; i < SRV_N; i++)
		if (srv.pid[i] > 0) {
			kill(srv.pid[i], SIGTERM);
			waitpid(srv.pid[i], NULL, 0);
		}
	ut_rm_rf(srv.dir);
	free(srv.file);
}

/* ---- helpers --------------------------------------------------------------------- */

static int64_t queued(struct ut_fx *fx, enum model_folder folder, const char *name)
{
	struct model_err err = {0};
	struct model_account a;
	struct model_image img;
	int64_t acc = model_account_by_name(fx->m, "alice", &a) == 0 ? a.id : ut_account(fx, "alice");
	assert_int_equal(model_image_create(fx->m, fx->r1, acc, folder, name, &img, &err), 0);
	return img.id;
}

static void import(struct ut_fx *fx, int64_t id, const char *url)
{
	struct model_err err = {0};
	int rc = model_image_import_url(fx->m, id, url, &err);
	if (rc != 0)
		fail_msg("model_image_import_url %s: %d %s", url, rc, err.msg);
}

static int64_t rows(struct ut_fx *fx, const char *table, int64_t image_id)
{
	if (strcmp(table, "blobs") == 0)
		return ut_sql_int(fx, "SELECT count(*) FROM blobs WHERE wblob IS NOT NULL");
	/* The import's own; a finished one leaves the checksum pass that reads
	 * its XXH3-128 (§2.3), the service's work, not the import's. */
	if (strcmp(table, "tasks") == 0)
		return ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE image_id = %lld AND kind != 'checksum'",
		                  (long long)image_id);
	return ut_sql_int(fx, "SELECT count(*) FROM %s WHERE image_id = %lld", table, (long long)image_id);
}

/* The wblob of the image's import, opened. */
static blob_wblob *wblob_of(struct ut_fx *fx, int64_t id)
{
	struct model_blob b;
	blob_store *s;
	blob_wblob *w;
	int64_t blob = ut_sql_int(fx, "SELECT blob_id FROM devices WHERE image_id = %lld", (long long)id);
	assert_int_equal(model_blob_get(fx->m, blob, &b), 0);
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	assert_int_equal(blob_wblob_open(&w, s, b.wblob), 0);
	return w;
}

/* The available image's disks/vda, read back whole. */
static uint8_t *disk_bytes(struct ut_fx *fx, int64_t id, uint64_t *len)
{
	blob_manifest *man;
	blob_store *s;
	int64_t blob = ut_sql_int(fx, "SELECT blob_id FROM devices WHERE image_id = %lld", (long long)id);
	assert_int_equal(model_blob_manifest(fx->m, blob, &man), 0);
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	uint8_t *b = calloc(1, man->size ? man->size : 1);
	assert_non_null(b);
	for (uint64_t off = 0; off < man->size;) {
		ssize_t n = blob_store_read(s, man, b + off, man->size - off, off);
		assert_true(n > 0);
		off += (uint64_t)n;
	}
	*len = man->size;
	blob_manifest_free(man);
	return b;
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_begin(void **state)
{
	struct ut_fx *fx = *state;
	const char *url = "ftp://bob:pa%3Ass@127.0.0.1:1/images/disk.qcow2";
	int64_t id = queued(fx, MODEL_FOLDER_PRIVATE, "golden");
	struct model_image img;

	import(fx, id, url);
	img = ut_get(fx, id);
	assert_int_equal(img.status, MODEL_IMG_UPLOADING);
	assert_int_equal(img.progress, 0);
	assert_string_equal(img.source, "url ftp://bob:***@127.0.0.1:1/images/disk.qcow2");
	assert_true(model_image_is_url_import(&img));
	/* One queued 'import' task holding the URL in full (it resumes from it),
	 * a device row (disks/vda) over a writable blob. */
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE image_id = %lld AND kind = 'import' AND "
	                                "state = 'queued' AND args LIKE '%% 0\n%q\n'",
	                            (long long)id, url),
	                 1);
	assert_int_equal(rows(fx, "devices", id), 1);
	assert_int_equal(ut_sql_int(fx, "SELECT idx FROM devices WHERE image_id = %lld", (long long)id), 0);
	blob_wblob_close(wblob_of(fx, id));
	/* An ISO image imports into disks/cdrom. */
	int64_t iso = queued(fx, MODEL_FOLDER_ISO, "cd");
	import(fx, iso, "http://127.0.0.1:1/x.iso");
	assert_int_equal(ut_sql_int(fx, "SELECT idx FROM devices WHERE image_id = %lld", (long long)iso), 26);
	assert_string_equal(ut_get(fx, iso).source, "url http://127.0.0.1:1/x.iso");
}

static void test_refusals(void **state)
{
	struct ut_fx *fx = *state;
	static const char *const bad[] = {"file:///etc/passwd", "gopher://127.0.0.1/x", "", "http://",
	                                  "ftp://127.0.0.1/dir/", "http://a b/", "javascript:alert(1)"};
	struct model_err err = {0};
	int64_t id = queued(fx, MODEL_FOLDER_PRIVATE, "golden");
	int64_t blobs = rows(fx, "blobs", 0);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(model_image_import_url(fx->m, id, bad[i], &err), -EINVAL);
		assert_true(err.msg[0] != '\0');
		assert_int_equal(ut_get(fx, id).status, MODEL_IMG_QUEUED);
		assert_string_equal(ut_get(fx, id).source, "");
		assert_int_equal(rows(fx, "tasks", id), 0);
		assert_int_equal(rows(fx, "devices", id), 0);
		assert_int_equal(rows(fx, "blobs", 0), blobs);
	}
	/* Only a queued private or ISO image. */
	struct model_image pub = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "centos-7.4");
	assert_int_equal(model_image_import_url(fx->m, pub.id, "http://127.0.0.1:1/x", &err), -EPERM);
	import(fx, id, "http://127.0.0.1:1/x");
	assert_int_equal(model_image_import_url(fx->m, id, "http://127.0.0.1:1/y", &err), -EPERM);
	assert_int_equal(rows(fx, "tasks", id), 1);
	assert_string_equal(ut_get(fx, id).source, "url http://127.0.0.1:1/x");
	/* An upload cannot start over an import either. */
	struct model_upload u;
	assert_int_equal(model_upload_begin(fx->m, id, 0, &u, &err), -EPERM);
}

static void test_cancel(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t id = queued(fx, MODEL_FOLDER_PRIVATE, "golden");
	int64_t blobs = rows(fx, "blobs", 0);

	import(fx, id, "http://127.0.0.1:1/x");
	assert_int_equal(rows(fx, "blobs", 0), blobs + 1);
	assert_int_equal(model_upload_cancel(fx->m, id, &err), 0);
	assert_int_equal(ut_get(fx, id).status, MODEL_IMG_ERROR);
	assert_string_equal(ut_get(fx, id).error, "cancelled");
	assert_string_equal(ut_get(fx, id).source, "url http://127.0.0.1:1/x"); /* where it came from */
	assert_int_equal(rows(fx, "tasks", id), 0);
	assert_int_equal(rows(fx, "devices", id), 0);
	assert_int_equal(rows(fx, "blobs", 0), blobs);
	assert_int_equal(model_upload_cancel(fx->m, id, &err), -EPERM);
	assert_int_equal(model_task_work(fx->m, NULL), 0); /* nothing left to run */
}

/* The servers are on loopback: allowed by the rule an admin adds (§5.2). */
static int setup_loopback(void **state)
{
	int rc = ut_setup(state);
	if (rc == 0)
		rc = model_import_address_set(((struct ut_fx *)*state)->m, "127.0.0.1", true, NULL, 0, NULL);
	return rc;
}

static int count_rule(void *arg, const char *cidr, bool allow)
{
	char *out = arg;
	size_t n = strlen(out);
	snprintf(out + n, 256 - n, "%s%s %s", n ? "|" : "", allow ? "allow" : "deny", cidr);
	return 0;
}

/* Without a rule no import reaches loopback: the import ends in error
 * before connecting, with the address as the only thing said. */
static void test_address_rules(void **state)
{
	struct ut_fx *fx = *state;
	char url[128], list[256] = "";
	struct model_err err = {0};
	assert_int_equal(model_import_address_remove(fx->m, "127.0.0.1/32", &err), 0);
	int64_t id = queued(fx, MODEL_FOLDER_PRIVATE, "golden");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/disk.raw", srv.port[SRV_HTTP]);
	import(fx, id, url);
	assert_int_equal(model_task_work(fx->m, NULL), 1);
	struct model_image img = ut_get(fx, id);
	assert_int_equal(img.status, MODEL_IMG_ERROR);
	assert_string_equal(img.error, "import failed: the address 127.0.0.1 is not allowed for imports");

	assert_int_equal(model_import_address_set(fx->m, "10.1.2.3/8", false, NULL, 0, &err), 0);
	assert_int_equal(model_import_address_set(fx->m, "127.0.0.1", true, NULL, 0, &err), 0);
	assert_int_equal(model_import_address_set(fx->m, "10.0.0.0/8", true, NULL, 0, &err), 0); /* replaces the deny */
	assert_int_equal(model_import_address_set(fx->m, "no-address", true, NULL, 0, &err), -EINVAL);
	assert_int_equal(model_import_address_remove(fx->m, "192.168.0.0/16", &err), -ENOENT);
	assert_int_equal(model_import_address_list(fx->m, count_rule, list), 0);
	assert_string_equal(list, "allow 10.0.0.0/8|allow 127.0.0.1/32");

	/* An IPv6 form of an IPv4 address is the IPv4 rule, and the caller is
	 * told (issue 23: stored as ::ffff:127.0.0.1/128, it never matched). */
	char note[256] = "x";
	assert_int_equal(model_import_address_set(fx->m, "::ffff:127.0.0.1", false, note, sizeof(note), &err), 0);
	assert_string_equal(note, "::ffff:127.0.0.1 is an IPv4-mapped address (::ffff:0:0/96), judged as the IPv4 "
	                          "address it holds: the rule is 127.0.0.1/32");
	list[0] = '\0';
	assert_int_equal(model_import_address_list(fx->m, count_rule, list), 0);
	assert_string_equal(list, "allow 10.0.0.0/8|deny 127.0.0.1/32"); /* the same rule: now a deny */
	assert_int_equal(model_import_address_set(fx->m, "10.0.0.1", true, note, sizeof(note), &err), 0);
	assert_string_equal(note, "");
	assert_int_equal(model_import_address_set(fx->m, "2002:7f00:1::/64", true, note, sizeof(note), &err), -EINVAL);
	assert_non_null(strstr(err.msg, "write 127.0.0.1/32"));
	assert_int_equal(model_import_address_set(fx->m, "::ffff:0.0.0.0/96", true, note, sizeof(note), &err), -EINVAL);
	assert_non_null(strstr(err.msg, "write 0.0.0.0/0 if that is meant"));
	/* A row an older imgfs stored in the IPv6 spelling lists, and goes, as
	 * its IPv4 rule; a new rule for it replaces it. */
	ut_sql(fx, "INSERT INTO import_addresses(cidr, allow) VALUES ('::ffff:10.9.0.0/112', 0)");
	list[0] = '\0';
	assert_int_equal(model_import_address_list(fx->m, count_rule, list), 0);
	assert_string_equal(list, "allow 10.0.0.0/8|allow 10.0.0.1/32|deny 127.0.0.1/32|deny 10.9.0.0/16");
	assert_int_equal(model_import_address_set(fx->m, "10.9.0.0/16", true, NULL, 0, &err), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM import_addresses WHERE cidr LIKE '%%::ffff%%'"), 0);
	ut_sql(fx, "INSERT INTO import_addresses(cidr, allow) VALUES ('::ffff:10.8.0.0/112', 0)");
	assert_int_equal(model_import_address_remove(fx->m, "10.8.0.0/16", &err), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM import_addresses WHERE cidr LIKE '%%::ffff%%'"), 0);
}

static void test_transfer_fails(void **state)
{
	struct ut_fx *fx = *state;
	int64_t id = queued(fx, MODEL_FOLDER_PRIVATE, "golden");
	int64_t blobs = rows(fx, "blobs", 0);

	/* Port 1 on the loopback: nothing listens, refused at once. */
	import(fx, id, "http://127.0.0.1:1/disk.raw");
	assert_int_equal(model_task_work(fx->m, NULL), 1);
	struct model_image img = ut_get(fx, id);
	assert_int_equal(img.status, MODEL_IMG_ERROR);
	assert_non_null(strstr(img.error, "import failed: could not connect"));
	assert_int_equal(rows(fx, "tasks", id), 0);
	assert_int_equal(rows(fx, "devices", id), 0);
	assert_int_equal(rows(fx, "blobs", 0), blobs);
}

static void test_transfer_ok(void **state)
{
	struct ut_fx *fx = *state;
	char url[128];
	uint64_t len;
	int64_t id = queued(fx, MODEL_FOLDER_PRIVATE, "golden");

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/disk.raw", srv.port[SRV_HTTP]);
	import(fx, id, url);
	assert_int_equal(model_task_work(fx->m, NULL), 1);
	struct model_image img = ut_get(fx, id);
	if (img.status != MODEL_IMG_AVAILABLE)
		fail_msg("status %d: %s", img.status, img.error);
	assert_string_equal(img.format, "raw");
	assert_int_equal(img.size, FILE_LEN);
	assert_int_equal(img.progress, 100);
	uint8_t *b = disk_bytes(fx, id, &len);
	assert_int_equal(len, FILE_LEN);
	assert_memory_equal(b, srv.file, FILE_LEN);
	free(b);
	assert_int_equal(rows(fx, "tasks", id), 0);
}

/* ---- resume ---------------------------------------------------------------------- */

static int discard(void *arg, const void *buf, size_t len, uint64_t offset)
{
	(void)arg;
	(void)buf;
	(void)len;
	(void)offset;
	return 0;
}

/* The validator a whole download of url records (fetch.h). */
static void validator_of(const char *url, char out[FETCH_VALIDATOR_MAX])
{
	static const struct fetch_rule loopback = {AF_INET, {127, 0, 0, 1}, 32, true};
	struct fetch_req rq = {.url = url, .rules = &loopback, .nrules = 1, .connect_timeout = 5, .stall_timeout = 5,
	                       .sink = discard};
	struct fetch_result res;

	assert_int_equal(fetch_run(&rq, &res), 0);
	assert_true(res.validator[0] != '\0');
	snprintf(out, FETCH_VALIDATOR_MAX, "%s", res.validator);
}

/* Whether the image's import task has args "<blob> 0\n<url>\n<validator>\n". */
static bool args_name(struct ut_fx *fx, int64_t id, const char *url, const char *validator)
{
	int64_t blob = ut_sql_int(fx, "SELECT blob_id FROM devices WHERE image_id = %lld", (long long)id);
	return ut_sql_int(fx, "SELECT args = '%lld 0\n%q\n%q\n' FROM tasks "
	                      "WHERE image_id = %lld",
	                  (long long)blob, url, validator, (long long)id) == 1;
}

/* The image is available with exactly want's FILE_LEN bytes. */
static void assert_image_is(struct ut_fx *fx, int64_t id, const uint8_t *want)
{
	struct model_image img = ut_get(fx, id);
	uint64_t len;

	if (img.status != MODEL_IMG_AVAILABLE)
		fail_msg("status %d: %s", img.status, img.error);
	uint8_t *b = disk_bytes(fx, id, &len);
	assert_int_equal(len, FILE_LEN);
	assert_memory_equal(b, want, FILE_LEN);
	free(b);
	assert_int_equal(rows(fx, "tasks", id), 0);
}

enum held { HELD_NONE, HELD_CURRENT, HELD_STALE };

/* A run that left bytes [0, MARK) durable (the blob row's size) and more
 * beyond, which may not have reached the disk: a marker byte inside the
 * durable part shows whether those bytes were kept (resumed) or fetched
 * again (restarted); junk beyond the point must never survive.  held: the
 * args name no version (as written before validators were recorded), the
 * file's, or another one (the file changed since). */
static void resume_from_mark(struct ut_fx *fx, int server, enum held held, bool resumes)
{
	char url[128], v[FETCH_VALIDATOR_MAX] = "";
	uint64_t len;
	int64_t id = queued(fx, MODEL_FOLDER_PRIVATE, "resumed");
	uint8_t *junk = malloc(MARK / 2);
	assert_non_null(junk);
	memset(junk, 0x5a, MARK / 2);

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/disk.raw", srv.port[server]);
	if (held == HELD_CURRENT)
		validator_of(url, v);
	else if (held == HELD_STALE)
		snprintf(v, sizeof(v), "\"0-300000-0\"");
	import(fx, id, url);
	blob_wblob *w = wblob_of(fx, id);
	assert_int_equal(blob_wblob_pwrite(w, srv.file, MARK, 0), MARK);
	assert_int_equal(blob_wblob_pwrite(w, "M", 1, 1000), 1); /* the marker */
	assert_int_equal(blob_wblob_pwrite(w, junk, MARK / 2, MARK), MARK / 2);
	blob_wblob_close(w);
	free(junk);
	ut_sql(fx, "UPDATE blobs SET size = %u WHERE id = (SELECT blob_id FROM devices WHERE image_id = %lld)",
	       MARK, (long long)id);
	if (v[0])
		ut_sql(fx, "UPDATE tasks SET args = args || '%q\n' WHERE image_id = %lld", v, (long long)id);

	assert_int_equal(model_task_work(fx->m, NULL), 1);
	struct model_image img = ut_get(fx, id);
	if (img.status != MODEL_IMG_AVAILABLE)
		fail_msg("status %d: %s", img.status, img.error);
	uint8_t *b = disk_bytes(fx, id, &len);
	assert_int_equal(len, FILE_LEN);
	assert_int_equal(b[1000], resumes ? 'M' : srv.file[1000]);
	b[1000] = srv.file[1000];
	assert_memory_equal(b, srv.file, FILE_LEN);
	free(b);
}

static void test_resume(void **state)
{
	resume_from_mark(*state, SRV_HTTP, HELD_CURRENT, true);
}

static void test_restart(void **state)
{
	resume_from_mark(*state, SRV_NORANGES, HELD_CURRENT, false);
}

/* Args without a validator line still parse; the bytes held cannot be
 * told from another version's: the file comes again. */
static void test_restart_without_validator(void **state)
{
	resume_from_mark(*state, SRV_HTTP, HELD_NONE, false);
}

static void test_restart_when_changed(void **state)
{
	resume_from_mark(*state, SRV_HTTP, HELD_STALE, false);
}

/* A runner in its own thread, with a stop flag. */
struct runner {
	model *m;
	atomic_bool stop;
	int rc;
};

static void *runner_main(void *arg)
{
	struct runner *rt = arg;
	rt->rc = model_task_work(rt->m, &rt->stop);
	return NULL;
}

static int64_t mark_of(struct ut_fx *fx, int64_t id)
{
	return ut_sql_int(fx, "SELECT size FROM blobs WHERE id = (SELECT blob_id FROM devices WHERE image_id = %lld)",
	                  (long long)id);
}

/* Runs the image's import on the slow server in a thread and stops it,
 * once it holds at least at_least bytes (tasks.bytes_done), or with
 * at_least 0 once it has started again from 0 (the durable point dropped
 * to 0): the stop records a durable point, the task is queued again. */
static void run_and_stop(struct ut_fx *fx, int64_t id, int64_t at_least)
{
	struct runner rt = {fx->m, 0, 0};
	const struct timespec pause = {0, 20 * 1000000L};
	bool claimed = false;
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, runner_main, &rt), 0);
	for (int i = 0; i < 1500; i++) { /* 30 s at most */
		claimed = claimed || ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE image_id = %lld AND state = 'running'",
		                                (long long)id) == 1;
		if (claimed && (at_least > 0 ? ut_sql_int(fx, "SELECT bytes_done FROM tasks WHERE image_id = %lld",
		                                          (long long)id) >= at_least
		                              : mark_of(fx, id) == 0))
			break;
		nanosleep(&pause, NULL);
	}
	atomic_store(&rt.stop, true);
	pthread_join(th, NULL);
	assert_int_equal(rt.rc, 1);
	assert_int_equal(ut_get(fx, id).status, MODEL_IMG_UPLOADING);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE image_id = %lld AND state = 'queued'",
	                            (long long)id),
	                 1);
}

/* A stop mid-transfer records the durable point and, in the same
 * transaction, the version of its bytes; the next run keeps them (the
 * marker inside them survives) and fetches the rest. */
static void test_stop_records_validator(void **state)
{
	struct ut_fx *fx = *state;
	char url[128], v[FETCH_VALIDATOR_MAX];
	int64_t id = queued(fx, MODEL_FOLDER_PRIVATE, "stopped");
	uint8_t *a = disk_put("kept.raw", 11, time(NULL) - 3600);

	assert_non_null(a);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/kept.raw", srv.port[SRV_SLOW]);
	validator_of(url, v);
	import(fx, id, url);
	run_and_stop(fx, id, 256 << 10);
	assert_true(mark_of(fx, id) >= 256 << 10);
	assert_true(args_name(fx, id, url, v));

	blob_wblob *w = wblob_of(fx, id);
	assert_int_equal(blob_wblob_pwrite(w, "M", 1, 1000), 1);
	blob_wblob_close(w);
	assert_int_equal(model_task_work(fx->m, NULL), 1);
	a[1000] = 'M'; /* kept: resumed, not fetched again */
	assert_image_is(fx, id, a);
	free(a);
}

/* The bug this guards against: A's first part held, the file on the server
 * replaced by B of the same size, a resume.  B comes whole; the restart's
 * durable point names B's version, not A's; the image is exactly B. */
static void test_changed_file_never_spliced(void **state)
{
	struct ut_fx *fx = *state;
	char url[128], va[FETCH_VALIDATOR_MAX], vb[FETCH_VALIDATOR_MAX];
	int64_t id = queued(fx, MODEL_FOLDER_PRIVATE, "changed");
	time_t t0 = time(NULL) - 3600;
	uint8_t *a = disk_put("changing.raw", 21, t0), *b;

	assert_non_null(a);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/changing.raw", srv.port[SRV_SLOW]);
	validator_of(url, va);
	import(fx, id, url);
	run_and_stop(fx, id, 1 << 20);
	int64_t mark = mark_of(fx, id);
	assert_true(mark >= 1 << 20);
	assert_true(args_name(fx, id, url, va));

	assert_non_null(b = disk_put("changing.raw", 22, t0 + 60));
	validator_of(url, vb);
	assert_string_not_equal(va, vb);
	/* Stopped once the restart has begun: a point below the old one, with
	 * B's version. */
	run_and_stop(fx, id, 0);
	assert_true(mark_of(fx, id) < mark);
	assert_true(args_name(fx, id, url, vb));

	assert_int_equal(model_task_work(fx->m, NULL), 1);
	assert_image_is(fx, id, b);
	free(a);
	free(b);
}

int main(void)
{
	static const char *const proxies[] = {"http_proxy", "https_proxy", "ftp_proxy", "all_proxy",
	                                      "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "ALL_PROXY"};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_begin, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_refusals, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_cancel, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_address_rules, setup_loopback, ut_teardown),
		cmocka_unit_test_setup_teardown(test_transfer_fails, setup_loopback, ut_teardown),
		cmocka_unit_test_setup_teardown(test_transfer_ok, setup_loopback, ut_teardown),
		cmocka_unit_test_setup_teardown(test_resume, setup_loopback, ut_teardown),
		cmocka_unit_test_setup_teardown(test_restart, setup_loopback, ut_teardown),
		cmocka_unit_test_setup_teardown(test_restart_without_validator, setup_loopback, ut_teardown),
		cmocka_unit_test_setup_teardown(test_restart_when_changed, setup_loopback, ut_teardown),
		cmocka_unit_test_setup_teardown(test_stop_records_validator, setup_loopback, ut_teardown),
		cmocka_unit_test_setup_teardown(test_changed_file_never_spliced, setup_loopback, ut_teardown),
	};
	int rc;

	for (size_t i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
		unsetenv(proxies[i]); /* the servers are local; no proxy in between */
	unsetenv("SSL_CERT_FILE");
	if (servers_start() < 0) {
		fprintf(stderr, "test_import: could not start tests/servers/serve.py with %s\n", PY);
		servers_stop();
		return 1;
	}
	rc = cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
	servers_stop();
	return rc;
}
