/*
 * test_keys.c — unit tests for model/meta/keys.c and the lineages of
 * encrypted images (SPEC §17), on both database drivers:
 *   - the key-encryption key from a file (its owner and mode checked, the
 *     refusals naming the fix) or a command (its status and output
 *     checked); its id;
 *   - data keys: wrapped in the database as the header says (unwrapped
 *     here by hand, with libcrypto), made only with the service's KEK,
 *     opened only with it (EACCES and the reason otherwise);
 *   - rotation: every key re-wrapped, the old KEK opening none, a second
 *     run a no-op; a rotation killed (SIGKILL, in a child process) after a
 *     few keys resumed by the next run, each key under one KEK or the
 *     other meanwhile;
 *   - lineages: `encrypted` writable while queued, the account's default,
 *     an upload into an encrypted image sealed (no plaintext in the
 *     region's files, where a plain one's is: the check can fail), a
 *     capture of an instance built from it in its lineage, a conversion
 *     and a copy too, a capture of a plain instance into an encrypted
 *     image under a key of its own; without the KEK its blobs are EACCES
 *     with the reason and its tasks wait (waits_key), and run once a KEK
 *     is given; fsck checks the tags, and says what it could not open.
 */
#include "format_test.h"
#include "model/lifecycle_test.h"

#include <dirent.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <sys/wait.h>

#define MiB ((uint64_t)1 << 20)

static const uint8_t KEK_A[MODEL_KEK_SIZE] = "0123456789abcdef0123456789abcdef";
static const uint8_t KEK_B[MODEL_KEK_SIZE] = "fedcba9876543210fedcba9876543210";
static const uint8_t KEK_C[MODEL_KEK_SIZE] = "the third key-encryption key...!";

static int64_t alice(struct ut_fx *fx)
{
	return ut_account_once(fx, "alice");
}

static int64_t queued(struct ut_fx *fx, const char *name)
{
	return ut_image(fx, fx->r1, alice(fx), MODEL_FOLDER_PRIVATE, name);
}

/* Writes path with content (n bytes) and mode. */
static void write_file(const char *path, const void *content, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, n), (ssize_t)n);
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

static void hex_of(char *out, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* ---- the KEK ---------------------------------------------------------------------- */

static void test_kek_file(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	uint8_t k[MODEL_KEK_SIZE];
	char path[PATH_MAX], hex[2 * MODEL_KEK_SIZE + 2];

	snprintf(path, sizeof(path), "%s/kek", fx->dir);
	/* 32 bytes, or 64 hex digits and a newline. */
	write_file(path, KEK_A, MODEL_KEK_SIZE, 0600);
	assert_int_equal(model_kek_load(k, path, NULL, &err), 0);
	assert_memory_equal(k, KEK_A, MODEL_KEK_SIZE);
	hex_of(hex, KEK_B, MODEL_KEK_SIZE);
	strcat(hex, "\n");
	write_file(path, hex, strlen(hex), 0400);
	assert_int_equal(model_kek_load(k, path, NULL, &err), 0);
	assert_memory_equal(k, KEK_B, MODEL_KEK_SIZE);
	/* Others may read it: refused, with the fix. */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(model_kek_load(k, path, NULL, &err), -EACCES);
	assert_non_null(strstr(err.msg, "0644"));
	assert_non_null(strstr(err.msg, "chmod 600"));
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(model_kek_load(k, path, NULL, &err), -EACCES);
	/* Another user's. */
	assert_int_equal(chmod(path, 0600), 0);
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 65534, 65534), 0);
		assert_int_equal(model_kek_load(k, path, NULL, &err), -EACCES);
		assert_non_null(strstr(err.msg, "uid 65534"));
		assert_int_equal(chown(path, 0, 0), 0);
	}
	/* No key in it; no file; a directory; both ways or none. */
	write_file(path, "not a key\n", 10, 0600);
	assert_int_equal(model_kek_load(k, path, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "64 hex digits"));
	hex[10] = 'g';
	write_file(path, hex, strlen(hex), 0600);
	assert_int_equal(model_kek_load(k, path, NULL, &err), -EINVAL);
	assert_int_equal(model_kek_load(k, "/nonexistent/kek", NULL, &err), -ENOENT);
	assert_int_equal(model_kek_load(k, fx->dir, NULL, &err), -EINVAL); /* a directory */
	assert_int_equal(model_kek_load(k, NULL, NULL, &err), -EINVAL);
	assert_int_equal(model_kek_load(k, path, "true", &err), -EINVAL);
	/* The key's bytes are never in a reason. */
	assert_null(strstr(err.msg, hex));
}

static void test_kek_cmd(void **state)
{
	struct model_err err = {0};
	uint8_t k[MODEL_KEK_SIZE];
	char hex[2 * MODEL_KEK_SIZE + 1], cmd[256];

	(void)state;
	hex_of(hex, KEK_A, MODEL_KEK_SIZE);
	snprintf(cmd, sizeof(cmd), "echo %s", hex);
	assert_int_equal(model_kek_load(k, NULL, cmd, &err), 0);
	assert_memory_equal(k, KEK_A, MODEL_KEK_SIZE);
	snprintf(cmd, sizeof(cmd), "echo %s; exit 3", hex);
	assert_int_equal(model_kek_load(k, NULL, cmd, &err), -EIO);
	assert_non_null(strstr(err.msg, "status 3"));
	assert_int_equal(model_kek_load(k, NULL, "echo short", &err), -EINVAL);
	assert_int_equal(model_kek_load(k, NULL, "printf %0300d 0", &err), -EINVAL); /* too long: no key */
	assert_int_equal(model_kek_load(k, NULL, "", &err), -EINVAL);
}

/* The id is an HMAC of the key, as the header says; two keys, two ids. */
static void test_kek_id(void **state)
{
	static const char label[] = "imgfs key-encryption key id v1";
	char id[MODEL_KEK_ID_LEN + 1], other[MODEL_KEK_ID_LEN + 1], want[MODEL_KEK_ID_LEN + 1];
	uint8_t mac[32];
	unsigned n;

	(void)state;
	model_kek_id(id, KEK_A);
	model_kek_id(other, KEK_B);
	assert_int_equal(strlen(id), MODEL_KEK_ID_LEN);
	assert_string_not_equal(id, other);
	HMAC(EVP_sha256(), KEK_A, MODEL_KEK_SIZE, (const uint8_t *)label, sizeof(label) - 1, mac, &n);
	hex_of(want, mac, MODEL_KEK_ID_LEN / 2);
	assert_string_equal(id, want);
}

/* ---- data keys ---------------------------------------------------------------------- */

/* A data key made in a transaction of its own. */
static int64_t new_key(struct ut_fx *fx, struct model_err *err)
{
	struct model_conn *c;
	int64_t id = 0;
	int rc;
	assert_int_equal(model_write_begin(fx->m, &c, NULL), 0);
	if ((rc = model_key_new(c, &id, err)) < 0) {
		model_write_end(c, -ECANCELED, NULL);
		return rc;
	}
	assert_int_equal(model_write_end(c, 0, NULL), 0);
	return id;
}

/* The data key of row id, unwrapped here by hand from its row with kek:
 * nonce || AES-256-GCM(kek, key, "imgfs data key v1 <kek id>") || tag. */
static int unwrap_by_hand(struct ut_fx *fx, int64_t id, const uint8_t kek[MODEL_KEK_SIZE], uint8_t dk[32])
{
	char kid[MODEL_KEK_ID_LEN + 1], aad[64];
	uint8_t row[64];
	int outl = 0, fin = 0, ok;
	db_stmt *st = ut_prepare(fx, "SELECT wrapped, kek FROM data_keys WHERE id = ?");

	db_bind_int64(st, 1, id);
	assert_int_equal(db_step(st), DB_ROW);
	assert_int_equal(db_col_bytes(st, 0), 60);
	memcpy(row, db_col_blob(st, 0), 60);
	model_col_text(st, 1, kid, sizeof(kid));
	ut_finalize(st);
	snprintf(aad, sizeof(aad), "imgfs data key v1 %s", kid);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, kek, row) == 1 &&
	     EVP_DecryptUpdate(ctx, NULL, &outl, (const uint8_t *)aad, (int)strlen(aad)) == 1 &&
	     EVP_DecryptUpdate(ctx, dk, &outl, row + 12, 32) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, row + 44) == 1 && EVP_DecryptFinal_ex(ctx, dk + outl, &fin) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

static void test_data_keys(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	char ida[MODEL_KEK_ID_LEN + 1];
	blob_key *k = NULL, *mine = NULL;
	uint8_t dk[32];
	int64_t id;

	/* No KEK: no data key. */
	assert_int_equal(new_key(fx, &err), -EACCES);
	assert_non_null(strstr(err.msg, "keyfile"));
	model_set_kek(fx->m, KEK_A);
	assert_true((id = new_key(fx, &err)) > 0);
	model_kek_id(ida, KEK_A);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM data_keys WHERE id = %lld AND kek = '%q'", (long long)id, ida),
	                 1);
	/* The service's KEK of record is A's now. */
	char service[MODEL_KEK_ID_LEN + 1];
	assert_int_equal(model_setting_get(fx->m, "kek", service, sizeof(service)), 1);
	assert_string_equal(service, ida);
	assert_int_equal(model_kek_check(fx->m, &err), 0);
	/* The row unwraps by hand to the key the model hands out. */
	assert_int_equal(unwrap_by_hand(fx, id, KEK_A, dk), 0);
	assert_int_equal(blob_key_new(&mine, dk), 0);
	assert_int_equal(model_key_get(fx->m, id, &k, &err), 0);
	assert_true(blob_key_same(k, mine));
	blob_key_unref(k);
	/* Not with B's. */
	assert_int_equal(unwrap_by_hand(fx, id, KEK_B, dk), -EIO);
	/* Another process (nothing kept): B cannot open it, nor make keys. */
	ut_reopen(fx);
	model_set_kek(fx->m, KEK_B);
	assert_int_equal(model_key_get(fx->m, id, &k, &err), -EACCES);
	assert_non_null(strstr(err.msg, ida));
	assert_int_equal(model_kek_check(fx->m, &err), -EACCES);
	assert_int_equal(new_key(fx, &err), -EACCES);
	assert_non_null(strstr(err.msg, "not the service's"));
	/* None: the reason says how to give one. */
	ut_reopen(fx);
	assert_int_equal(model_key_get(fx->m, id, &k, &err), -EACCES);
	assert_non_null(strstr(err.msg, "-o keyfile="));
	assert_int_equal(model_kek_check(fx->m, &err), 0); /* nothing to compare */
	/* A: the same key again, from its row. */
	model_set_kek(fx->m, KEK_A);
	assert_int_equal(model_key_get(fx->m, id, &k, &err), 0);
	assert_true(blob_key_same(k, mine));
	blob_key_unref(k);
	/* A row that says B wrapped it (it did not): B's process cannot
	 * unwrap it — EIO, never another key. */
	char idb[MODEL_KEK_ID_LEN + 1];
	model_kek_id(idb, KEK_B);
	ut_sql(fx, "UPDATE data_keys SET kek = '%q' WHERE id = %lld", idb, (long long)id);
	ut_reopen(fx);
	model_set_kek(fx->m, KEK_B);
	assert_int_equal(model_key_get(fx->m, id, &k, &err), -EIO);
	assert_non_null(strstr(err.msg, "does not unwrap"));
	assert_null(k);
	blob_key_unref(mine);
}

/* ---- rotation ------------------------------------------------------------------------ */

#define NKEYS 20

static void count_rows(struct ut_fx *fx, int64_t *under_a, int64_t *under_b)
{
	char ida[MODEL_KEK_ID_LEN + 1], idb[MODEL_KEK_ID_LEN + 1];
	model_kek_id(ida, KEK_A);
	model_kek_id(idb, KEK_B);
	*under_a = ut_sql_int(fx, "SELECT count(*) FROM data_keys WHERE kek = '%q'", ida);
	*under_b = ut_sql_int(fx, "SELECT count(*) FROM data_keys WHERE kek = '%q'", idb);
}

/* Every key opens under kek, none under the other. */
static void all_open_under(struct ut_fx *fx, const int64_t *ids, blob_key **keys, const uint8_t *kek,
                           const uint8_t *other)
{
	struct model_err err = {0};
	blob_key *k = NULL;
	ut_reopen(fx);
	model_set_kek(fx->m, other);
	for (int i = 0; i < NKEYS; i++)
		assert_int_equal(model_key_get(fx->m, ids[i], &k, &err), -EACCES);
	model_set_kek(fx->m, kek);
	for (int i = 0; i < NKEYS; i++) {
		assert_int_equal(model_key_get(fx->m, ids[i], &k, &err), 0);
		assert_true(blob_key_same(k, keys[i]));
		blob_key_unref(k);
	}
}

static void make_keys(struct ut_fx *fx, int64_t *ids, blob_key **keys)
{
	struct model_err err = {0};
	model_set_kek(fx->m, KEK_A);
	for (int i = 0; i < NKEYS; i++) {
		assert_true((ids[i] = new_key(fx, &err)) > 0);
		assert_int_equal(model_key_get(fx->m, ids[i], &keys[i], &err), 0);
	}
}

static void test_rotate(void **state)
{
	struct ut_fx *fx = *state;
	struct model_key_rotation r;
	struct model_err err = {0};
	int64_t ids[NKEYS], a, b;
	blob_key *keys[NKEYS];

	make_keys(fx, ids, keys);
	/* Not without the current key; not to itself. */
	ut_reopen(fx);
	assert_int_equal(model_key_rotate(fx->m, KEK_B, NULL, NULL, &r, &err), -EACCES);
	model_set_kek(fx->m, KEK_A);
	assert_int_equal(model_key_rotate(fx->m, KEK_A, NULL, NULL, &r, &err), -EINVAL);
	assert_int_equal(model_key_rotate(fx->m, KEK_B, NULL, NULL, &r, &err), 0);
	assert_int_equal(r.rewrapped, NKEYS);
	assert_int_equal(r.done, 0);
	count_rows(fx, &a, &b);
	assert_int_equal(a, 0);
	assert_int_equal(b, NKEYS);
	all_open_under(fx, ids, keys, KEK_B, KEK_A);
	/* The service's KEK is B's now. */
	assert_int_equal(model_kek_check(fx->m, &err), 0);
	model_set_kek(fx->m, KEK_A);
	assert_int_equal(model_kek_check(fx->m, &err), -EACCES);
	/* The same command again (A to B): nothing left to do. */
	assert_int_equal(model_key_rotate(fx->m, KEK_B, NULL, NULL, &r, &err), 0);
	assert_int_equal(r.rewrapped, 0);
	assert_int_equal(r.done, NKEYS);
	/* From A to a third key: A is not the service's any more. */
	model_set_kek(fx->m, KEK_A);
	assert_int_equal(model_key_rotate(fx->m, KEK_C, NULL, NULL, &r, &err), -EACCES);
	/* From B, the service's, to C: every key again. */
	model_set_kek(fx->m, KEK_B);
	assert_int_equal(model_key_rotate(fx->m, KEK_C, NULL, NULL, &r, &err), 0);
	assert_int_equal(r.rewrapped, NKEYS);
	all_open_under(fx, ids, keys, KEK_C, KEK_B);
	for (int i = 0; i < NKEYS; i++)
		blob_key_unref(keys[i]);
}

static void die_after(void *arg, const char *line)
{
	int *left = arg;
	(void)line;
	if (--*left == 0)
		raise(SIGKILL);
}

/* kill -9 in the middle: each key under one KEK, whole; the next run goes
 * on from there; then every key opens under the new KEK and none under
 * the old. */
static void test_rotate_killed(void **state)
{
	struct ut_fx *fx = *state;
	struct model_key_rotation r;
	struct model_err err = {0};
	int64_t ids[NKEYS], a, b;
	blob_key *keys[NKEYS];
	int status;

	make_keys(fx, ids, keys);
	model_close(fx->m); /* the child has the state to itself */
	fx->m = NULL;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		model *m = NULL;
		char target[640];
		int left = 7;
		if (fx->pgdb[0])
			ut_pg_target(target, sizeof(target), fx->pgdb);
		if (model_open_db(&m, fx->dir, fx->pgdb[0] ? target : NULL, 0, &err) < 0)
			_exit(2);
		model_set_kek(m, KEK_A);
		model_key_rotate(m, KEK_B, die_after, &left, &r, &err);
		_exit(3); /* never: killed at its 7th key */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	ut_reopen(fx);
	count_rows(fx, &a, &b);
	assert_int_equal(b, 7);
	assert_int_equal(a, NKEYS - 7);
	/* Meanwhile the old KEK opens the keys not re-wrapped yet, the new
	 * one the others. */
	model_set_kek(fx->m, KEK_A);
	blob_key *k = NULL;
	assert_int_equal(model_key_get(fx->m, ids[0], &k, &err), -EACCES);
	assert_int_equal(model_key_get(fx->m, ids[NKEYS - 1], &k, &err), 0);
	blob_key_unref(k);
	/* Run again: it goes on. */
	assert_int_equal(model_key_rotate(fx->m, KEK_B, NULL, NULL, &r, &err), 0);
	assert_int_equal(r.rewrapped, NKEYS - 7);
	assert_int_equal(r.done, 7);
	count_rows(fx, &a, &b);
	assert_int_equal(a, 0);
	all_open_under(fx, ids, keys, KEK_B, KEK_A);
	for (int i = 0; i < NKEYS; i++)
		blob_key_unref(keys[i]);
}

/* ---- lineages ---------------------------------------------------------------------- */

/* Whether any file under dir holds one of 8 windows of plain (random
 * bytes: no window is there by accident). */
static bool dir_holds(const char *dir, const uint8_t *plain, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;
	if (!d)
		return false;
	while (!found && (e = readdir(d))) {
		char path[PATH_MAX];
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			found = dir_holds(path, plain, len);
			continue;
		}
		if (!S_ISREG(st.st_mode) || st.st_size == 0 || st.st_size > (off_t)(64 * MiB))
			continue;
		uint8_t *buf = malloc((size_t)st.st_size);
		int fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
		close(fd);
		for (int k = 0; k < 8 && !found; k++)
			found = memmem(buf, (size_t)st.st_size, plain + (len - 64) / 8 * (size_t)k, 64) != NULL;
		free(buf);
	}
	closedir(d);
	return found;
}

static bool region_holds(struct ut_fx *fx, const uint8_t *plain, size_t len)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/regions/%s", fx->dir, fx->region[0].name);
	return dir_holds(dir, plain, len);
}

/* An upload of disk (a raw MBR disk) into image id, run to its end. */
static int64_t upload(struct ut_fx *fx, int64_t id, const uint8_t *disk, size_t len)
{
	struct model_err err = {0};
	struct model_upload u;
	struct model_blob b;
	blob_wblob *w = NULL;
	if (model_upload_begin(fx->m, id, 0, &u, &err) < 0)
		fail_msg("upload: %s", err.msg);
	assert_int_equal(model_blob_get(fx->m, u.blob_id, &b), 0);
	assert_int_equal(model_wblob_open(fx->m, &b, &w, &err), 0);
	blob_wblob_stream(w);
	assert_int_equal(blob_wblob_pwrite(w, disk, len, 0), (ssize_t)len);
	assert_int_equal(blob_wblob_fsync(w), 0);
	uint64_t size = blob_wblob_size(w), stored = blob_wblob_stored(w);
	blob_wblob_close(w);
	assert_int_equal(model_upload_close(fx->m, &u, size, stored, NULL, NULL), 0);
	/* The seal, then the checksum pass (no hash was given at close). */
	assert_int_equal(lt_run_tasks(fx), 2);
	return u.blob_id;
}

static uint8_t *random_disk(size_t len, unsigned seed)
{
	uint8_t *d = malloc(len);
	assert_non_null(d);
	srand(seed);
	for (size_t i = 0; i < len; i++)
		d[i] = (uint8_t)rand();
	memset(d, 0, 512);
	ft_mbr(d);
	return d;
}

static void assert_blob_is(struct ut_fx *fx, int64_t blob_id, const uint8_t *want, size_t len)
{
	blob_manifest *man = NULL;
	blob_store *s;
	uint8_t *got = malloc(len);
	assert_int_equal(model_blob_manifest(fx->m, blob_id, &man), 0);
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	assert_int_equal(blob_store_read(s, man, got, len, 0), (ssize_t)len);
	assert_memory_equal(got, want, len);
	blob_manifest_free(man);
	free(got);
}

static void test_encrypted_attribute(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_image img;
	int64_t id = queued(fx, "e");

	assert_false(ut_get(fx, id).encrypted);
	assert_int_equal(model_image_set_encrypted(fx->m, id, true, &err), 0);
	assert_true(ut_get(fx, id).encrypted);
	assert_int_equal(model_image_set_encrypted(fx->m, id, true, &err), 0);
	assert_int_equal(model_image_set_encrypted(fx->m, id, false, &err), 0);
	assert_false(ut_get(fx, id).encrypted);
	ut_force_status(fx, id, MODEL_IMG_AVAILABLE);
	assert_int_equal(model_image_set_encrypted(fx->m, id, true, &err), -EPERM);
	assert_non_null(strstr(err.msg, "cannot change after upload"));
	img = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "centos-7.4");
	assert_int_equal(model_image_set_encrypted(fx->m, img.id, true, &err), -EPERM);
	/* The account's default. */
	assert_int_equal(model_account_set_encrypt_default(fx->m, "alice", true, &err), 0);
	assert_int_equal(model_account_set_encrypt_default(fx->m, "nobody", true, &err), -ENOENT);
	struct model_account a;
	assert_int_equal(model_account_by_name(fx->m, "alice", &a), 0);
	assert_true(a.encrypt_default);
	assert_true(ut_get(fx, queued(fx, "e2")).encrypted);
	assert_int_equal(model_image_create(fx->m, fx->r1, a.id, MODEL_FOLDER_ISO, "disc", &img, &err), 0);
	assert_true(img.encrypted);
	assert_int_equal(model_account_set_encrypt_default(fx->m, "alice", false, &err), 0);
	assert_false(ut_get(fx, queued(fx, "e3")).encrypted);
}

#define DISK (3 * MiB)

static void note(void *arg, const char *line)
{
	char *seen = arg;
	snprintf(seen, 512, "%s", line);
}

static void problem_line(void *arg, const char *line)
{
	(void)arg;
	print_message("fsck: %s\n", line);
}


static void test_upload_sealed(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_upload u;
	uint8_t *disk = random_disk(DISK, 1), *plain = random_disk(DISK, 2);
	int64_t enc = queued(fx, "enc"), pl = queued(fx, "plain");

	/* Without a KEK an encrypted image takes no upload: EACCES, why. */
	assert_int_equal(model_image_set_encrypted(fx->m, enc, true, &err), 0);
	assert_int_equal(model_upload_begin(fx->m, enc, 0, &u, &err), -EACCES);
	assert_non_null(strstr(err.msg, "key-encryption key"));
	assert_int_equal(ut_get(fx, enc).status, MODEL_IMG_QUEUED);
	model_set_kek(fx->m, KEK_A);
	int64_t eb = upload(fx, enc, disk, DISK), pb = upload(fx, pl, plain, DISK);
	struct model_image img = ut_get(fx, enc);
	assert_int_equal(img.status, MODEL_IMG_AVAILABLE);
	assert_true(img.key_id > 0);
	assert_int_equal(ut_sql_int(fx, "SELECT key_id FROM blobs WHERE id = %lld", (long long)eb), img.key_id);
	assert_int_equal(ut_sql_int(fx, "SELECT key_id FROM blobs WHERE id = %lld", (long long)pb), 0);
	assert_blob_is(fx, eb, disk, DISK);
	assert_blob_is(fx, pb, plain, DISK);
	/* No plaintext of it in the region's files; the plain one's is there. */
	assert_false(region_holds(fx, disk + MiB, 2 * MiB));
	assert_true(region_holds(fx, plain + MiB, 2 * MiB));
	/* Its SHA-256 is the plaintext's (§2.1). */
	char want[65], got[65];
	lt_blob_sha256(fx, fx->r1, eb, want);
	assert_int_equal(model_image_sha256(fx->m, enc, got), 0);
	assert_string_equal(got, want);
	/* ... which the database holds sealed under its data key (§17: no
	 * hash of an encrypted disk's plaintext there), the plain one's as
	 * it is. */
	struct model_blob b;
	assert_int_equal(model_blob_get(fx->m, eb, &b), 0);
	assert_int_equal(strlen(b.sha256), 1 + 2 * (32 + BLOB_SEAL_OVERHEAD));
	assert_int_equal(b.sha256[0], 'k');
	char prefix[17];
	snprintf(prefix, sizeof(prefix), "%.16s", want);
	assert_null(strstr(b.sha256, prefix)); /* nor a part of it */
	char pwant[65];
	lt_blob_sha256(fx, fx->r1, pb, pwant);
	assert_int_equal(model_blob_get(fx->m, pb, &b), 0);
	assert_string_equal(b.sha256, pwant);
	/* Its XXH3-128 (§2.3) likewise: sealed there, the plaintext's here. */
	char xwant[33], xgot[33];
	blob_store *s;
	blob_manifest *em = NULL;
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	assert_int_equal(model_blob_manifest(fx->m, eb, &em), 0);
	assert_int_equal(blob_store_hash_blob(s, em, xwant), 0);
	blob_manifest_free(em);
	assert_int_equal(model_blob_hash(fx->m, eb, xgot), 0);
	assert_string_equal(xgot, xwant);
	assert_int_equal(model_blob_get(fx->m, eb, &b), 0);
	assert_int_equal(strlen(b.xxh128), 1 + 2 * (16 + BLOB_SEAL_OVERHEAD));
	assert_int_equal(b.xxh128[0], 'k');
	snprintf(prefix, sizeof(prefix), "%.16s", xwant);
	assert_null(strstr(b.xxh128, prefix));
	/* Without the KEK: the blob is EACCES with the reason; fsck notes it;
	 * its sha256 is unknown here, the plain one's as before. */
	ut_reopen(fx);
	assert_int_equal(model_image_sha256(fx->m, enc, got), 0);
	assert_string_equal(got, "");
	assert_int_equal(model_image_sha256(fx->m, pl, got), 0);
	assert_string_equal(got, pwant);
	assert_int_equal(model_blob_hash(fx->m, eb, xgot), -ENODATA); /* unopenable here */
	blob_manifest *man = NULL;
	assert_int_equal(model_blob_manifest_err(fx->m, eb, &man, &err), -EACCES);
	assert_null(man);
	assert_int_equal(model_blob_manifest(fx->m, pb, &man), 0);
	blob_manifest_free(man);
	assert_int_equal(model_blob_ids(fx->m, eb, &man), 0); /* its ids: no key needed */
	blob_manifest_free(man);
	char seen[512] = "";
	assert_int_equal(model_fsck_report(fx->m, false, problem_line, note, seen), 0);
	free(disk);
	free(plain);
}

/* The MD5 and SHA-512 an upload hashed (the image API's checksum and
 * os_hash, SPEC §19.5, schema v27) are kept with its blob: as they are for
 * a plain image, sealed for an encrypted one (§17) — and shown by the API's
 * read either way; "" (none) without the KEK, and never where the SHA-256
 * was not given (the three come from one pass). */
static void test_upload_glance_hashes(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	const char *sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	const char *md5 = "d41d8cd98f00b204e9800998ecf8427e";
	const char *s512 = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
	                   "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";
	uint8_t disk[4096] = {0};
	struct model_api_image a;
	int64_t ids[3];

	ft_mbr(disk);
	model_set_kek(fx->m, KEK_A);
	ids[0] = queued(fx, "plain");
	ids[1] = queued(fx, "enc");
	ids[2] = queued(fx, "nosha");
	assert_int_equal(model_image_set_encrypted(fx->m, ids[1], true, &err), 0);
	for (int i = 0; i < 3; i++) {
		struct model_upload u;
		struct model_blob b;
		blob_wblob *w = NULL;
		assert_int_equal(model_upload_begin(fx->m, ids[i], 0, &u, &err), 0);
		assert_string_equal(u.md5, ""); /* begun with none */
		assert_int_equal(model_blob_get(fx->m, u.blob_id, &b), 0);
		assert_int_equal(model_wblob_open(fx->m, &b, &w, &err), 0);
		assert_int_equal(blob_wblob_pwrite(w, disk, sizeof disk, 0), (ssize_t)sizeof disk);
		assert_int_equal(blob_wblob_fsync(w), 0);
		blob_wblob_close(w);
		snprintf(u.md5, sizeof(u.md5), "%s", md5);
		snprintf(u.sha512, sizeof(u.sha512), "%s", s512);
		assert_int_equal(model_upload_close(fx->m, &u, sizeof disk, sizeof disk, i == 2 ? "" : sha, NULL), 0);
	}
	assert_true(lt_run_tasks(fx) >= 3);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(model_api_image_get(fx->m, ids[i], &a), 0);
		assert_int_equal(a.img.status, MODEL_IMG_AVAILABLE);
		assert_string_equal(a.sha256, sha);
		assert_string_equal(a.md5, md5);
		assert_string_equal(a.sha512, s512);
	}
	assert_int_equal(model_api_image_get(fx->m, ids[2], &a), 0);
	assert_string_equal(a.md5, "");
	assert_string_equal(a.sha512, "");
	/* As stored: the plain one's as is; the encrypted one's sealed. */
	const char *q = "SELECT length(b.md5) * 1000 + length(b.sha512) FROM devices d JOIN blobs b ON b.id = d.blob_id "
	                "WHERE d.image_id = %lld";
	assert_int_equal(ut_sql_int(fx, q, (long long)ids[0]), 32 * 1000 + 128);
	assert_int_equal(ut_sql_int(fx, q, (long long)ids[1]),
	                 (1 + 2 * (16 + BLOB_SEAL_OVERHEAD)) * 1000 + 1 + 2 * (64 + BLOB_SEAL_OVERHEAD));
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM devices d JOIN blobs b ON b.id = d.blob_id WHERE "
	                                "d.image_id = %lld AND b.md5 LIKE 'k%%' AND b.sha512 LIKE 'k%%' AND "
	                                "b.md5 NOT LIKE '%%d41d8cd98f00%%' AND b.sha512 NOT LIKE '%%cf83e1357eef%%'",
	                            (long long)ids[1]),
	                 1);
	/* Without the KEK: the encrypted one's are unknown here. */
	ut_reopen(fx);
	assert_int_equal(model_api_image_get(fx->m, ids[1], &a), 0);
	assert_string_equal(a.md5, "");
	assert_string_equal(a.sha512, "");
	assert_int_equal(model_api_image_get(fx->m, ids[0], &a), 0);
	assert_string_equal(a.md5, md5);
}

/* An instance built from an encrypted image, captured: the new image in
 * the same lineage; a conversion and a copy too. */
static void test_inheritance(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	uint8_t *disk = random_disk(DISK, 3);
	int64_t src = queued(fx, "src");

	model_set_kek(fx->m, KEK_A);
	assert_int_equal(model_image_set_encrypted(fx->m, src, true, &err), 0);
	upload(fx, src, disk, DISK);
	int64_t key = ut_get(fx, src).key_id;
	/* The instance: its disks under the image's key, written in place. */
	int64_t vm = lt_instance(fx, fx->r1, alice(fx), "vm");
	assert_int_equal(model_instance_rebuild(fx->m, vm, src, alice(fx), &err), 0);
	assert_int_equal(lt_instance_get(fx, vm).key_id, key);
	assert_int_equal(model_instance_disk_attach(fx->m, vm, 1, &err), 0);
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	int n = model_instance_disks(fx->m, vm, disks);
	assert_int_equal(n, 2);
	for (int i = 0; i < n; i++)
		assert_int_equal(disks[i].key_id, key);
	struct model_blob vda;
	blob_wblob *w = NULL;
	uint8_t *mark = random_disk(MiB, 4);
	assert_int_equal(model_blob_get(fx->m, disks[0].blob_id, &vda), 0);
	assert_int_equal(model_wblob_open(fx->m, &vda, &w, &err), 0);
	assert_int_equal(blob_wblob_pwrite(w, mark + 512, MiB - 512, 2 * MiB + 512), (ssize_t)(MiB - 512));
	assert_int_equal(blob_wblob_fsync(w), 0);
	blob_wblob_close(w);
	assert_false(region_holds(fx, mark + 512, MiB - 512));
	/* Captured into an image that did not ask to be encrypted. */
	int64_t cap = queued(fx, "cap");
	assert_int_equal(model_image_capture(fx->m, cap, vm, NULL, 0, &err), 0);
	assert_int_equal(lt_run_tasks(fx), 2); /* the capture, then its checksum pass (§2.1) */
	char sha[65];
	assert_int_equal(model_image_sha256(fx->m, cap, sha), 0);
	assert_int_equal(strlen(sha), 64);
	struct model_image ci = ut_get(fx, cap);
	assert_int_equal(ci.status, MODEL_IMG_AVAILABLE);
	assert_true(ci.encrypted);
	assert_int_equal(ci.key_id, key);
	struct model_device d[MODEL_MAX_DEVICES];
	assert_int_equal(model_device_list(fx->m, cap, d), 1);
	memcpy(disk + 2 * MiB + 512, mark + 512, MiB - 512);
	assert_blob_is(fx, d[0].blob_id, disk, DISK);
	assert_int_equal(ut_sql_int(fx, "SELECT key_id FROM blobs WHERE id = %lld", (long long)d[0].blob_id), key);
	/* Unchanged chunks kept their ids: one lineage. */
	blob_manifest *a = NULL, *b = NULL;
	struct model_device sd[MODEL_MAX_DEVICES];
	assert_int_equal(model_device_list(fx->m, src, sd), 1);
	assert_int_equal(model_blob_ids(fx->m, sd[0].blob_id, &a), 0);
	assert_int_equal(model_blob_ids(fx->m, d[0].blob_id, &b), 0);
	assert_true(chunk_id_equal(mf_id(a, 1), mf_id(b, 1)));
	assert_false(chunk_id_equal(mf_id(a, 2), mf_id(b, 2)));
	blob_manifest_free(a);
	blob_manifest_free(b);
	/* A conversion of the source: its lineage too, its bytes. */
	int64_t conv = 0;
	assert_int_equal(model_image_convert(fx->m, src, "", &conv, &err), 0);
	assert_int_equal(lt_run_tasks(fx), 1);
	struct model_image cv = ut_get(fx, conv);
	assert_int_equal(cv.status, MODEL_IMG_AVAILABLE);
	assert_true(cv.encrypted);
	assert_int_equal(cv.key_id, key);
	assert_int_equal(model_device_list(fx->m, conv, d), 1);
	uint8_t *orig = random_disk(DISK, 3);
	assert_blob_is(fx, d[0].blob_id, orig, DISK);
	free(orig);
	/* And a copy of the conversion (a cloud image) to another region. */
	int64_t copy = 0;
	assert_int_equal(model_image_copy(fx->m, conv, fx->region[1].id, &copy, &err), 0);
	assert_int_equal(lt_run_tasks(fx), 1);
	struct model_image cp = ut_get(fx, copy);
	assert_int_equal(cp.status, MODEL_IMG_AVAILABLE);
	assert_int_equal(cp.key_id, key);
	assert_true(cp.encrypted);
	free(disk);
	free(mark);
}

/* A plain instance captured into an encrypted image: a key of its own,
 * every chunk sealed again (no id of the plain disk's). */
static void test_capture_plain_into_encrypted(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	uint8_t *data = random_disk(2 * MiB, 5);
	int64_t vm = lt_instance(fx, fx->r1, alice(fx), "plainvm");
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	struct model_blob vda;
	blob_wblob *w = NULL;

	assert_int_equal(model_instance_disks(fx->m, vm, disks), 1);
	assert_int_equal(disks[0].key_id, 0);
	assert_int_equal(model_blob_get(fx->m, disks[0].blob_id, &vda), 0);
	assert_int_equal(model_wblob_open(fx->m, &vda, &w, &err), 0);
	assert_int_equal(blob_wblob_truncate(w, 4 * MiB), 0);
	assert_int_equal(blob_wblob_pwrite(w, data, 2 * MiB, MiB), (ssize_t)(2 * MiB));
	blob_wblob_close(w);
	int64_t img = queued(fx, "sealed");
	assert_int_equal(model_image_set_encrypted(fx->m, img, true, &err), 0);
	/* No KEK: refused at the request, nothing changed. */
	assert_int_equal(model_image_capture(fx->m, img, vm, NULL, 0, &err), -EACCES);
	assert_int_equal(ut_get(fx, img).status, MODEL_IMG_QUEUED);
	model_set_kek(fx->m, KEK_A);
	assert_int_equal(model_image_capture(fx->m, img, vm, NULL, 0, &err), 0);
	assert_int_equal(lt_run_tasks(fx), 2); /* the capture, then its checksum pass (§2.1) */
	struct model_image got = ut_get(fx, img);
	assert_int_equal(got.status, MODEL_IMG_AVAILABLE);
	assert_true(got.key_id > 0);
	struct model_device d[MODEL_MAX_DEVICES];
	assert_int_equal(model_device_list(fx->m, img, d), 1);
	uint8_t *want = calloc(1, 4 * MiB);
	memcpy(want + MiB, data, 2 * MiB);
	assert_blob_is(fx, d[0].blob_id, want, 4 * MiB);
	/* Its chunks hold no plaintext; the plain disk's overlay does. */
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/regions/%s/chunks", fx->dir, fx->region[0].name);
	assert_false(dir_holds(dir, data, 2 * MiB));
	snprintf(dir, sizeof(dir), "%s/regions/%s/wblobs", fx->dir, fx->region[0].name);
	assert_true(dir_holds(dir, data, 2 * MiB));
	free(data);
	free(want);
}

/* Tasks of an encrypted image wait for a process with the key: a claim
 * passes them by (the task file says why), takes a plain image's, and
 * takes them once the key is given. */
static void test_tasks_wait_for_the_key(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_task t;
	uint8_t *disk = random_disk(DISK, 6);
	int64_t src = queued(fx, "src"), plain = queued(fx, "plainsrc");

	model_set_kek(fx->m, KEK_A);
	assert_int_equal(model_image_set_encrypted(fx->m, src, true, &err), 0);
	upload(fx, src, disk, DISK);
	upload(fx, plain, disk, DISK);
	ut_reopen(fx); /* no KEK now */
	int64_t conv = 0, conv2 = 0;
	assert_int_equal(model_image_convert(fx->m, src, "", &conv, &err), 0); /* queued: no key needed to ask */
	assert_int_equal(model_task_of_image(fx->m, conv, &t), 0);
	assert_true(t.waits_key);
	assert_int_equal(model_image_convert(fx->m, plain, "", &conv2, &err), 0);
	assert_int_equal(model_task_of_image(fx->m, conv2, &t), 0);
	assert_false(t.waits_key);
	assert_int_equal(lt_run_tasks(fx), 1); /* the plain one only */
	assert_int_equal(ut_get(fx, conv2).status, MODEL_IMG_AVAILABLE);
	assert_int_equal(ut_get(fx, conv).status, MODEL_IMG_PENDING);
	model_set_kek(fx->m, KEK_B); /* not the key that wrapped it: still waits */
	assert_int_equal(lt_run_tasks(fx), 0);
	model_set_kek(fx->m, KEK_A);
	assert_int_equal(model_task_of_image(fx->m, conv, &t), 0);
	assert_false(t.waits_key);
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(ut_get(fx, conv).status, MODEL_IMG_AVAILABLE);
	free(disk);
}

/* fsck opens every chunk of an encrypted blob under its key: a blob
 * pointed at another lineage's key is found. */
static void test_fsck_tags(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	char seen[512] = "";
	uint8_t *disk = random_disk(DISK, 7);
	int64_t a = queued(fx, "a"), b = queued(fx, "b");

	model_set_kek(fx->m, KEK_A);
	assert_int_equal(model_image_set_encrypted(fx->m, a, true, &err), 0);
	assert_int_equal(model_image_set_encrypted(fx->m, b, true, &err), 0);
	int64_t ab = upload(fx, a, disk, DISK);
	upload(fx, b, disk, DISK);
	assert_int_equal(model_fsck_report(fx->m, false, problem_line, note, seen), 0);
	/* Without the key: a note, no problem. */
	ut_reopen(fx);
	assert_int_equal(model_fsck_report(fx->m, false, problem_line, note, seen), 0);
	assert_non_null(strstr(seen, "not opened"));
	/* a's blob named under b's key: every data chunk fails its tag. */
	model_set_kek(fx->m, KEK_A);
	ut_sql(fx, "UPDATE blobs SET key_id = %lld WHERE id = %lld", (long long)ut_get(fx, b).key_id, (long long)ab);
	assert_int_equal(model_fsck_report(fx->m, false, problem_line, note, seen), 3);
	free(disk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kek_file, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_kek_cmd, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_kek_id, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_data_keys, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_rotate, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_rotate_killed, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_encrypted_attribute, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_upload_sealed, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_upload_glance_hashes, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_inheritance, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_capture_plain_into_encrypted, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_tasks_wait_for_the_key, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_fsck_tags, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}
