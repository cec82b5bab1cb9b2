/*
 * keys.c — the keys of encrypted images (SPEC §17; include/keys.h): the
 * key-encryption key a process is given, the data keys it wraps (the
 * data_keys table, schema_*.c v18), their contexts for the blob store, and
 * the rotation of the KEK.
 *
 * Who calls it: fs/cli (loading the KEK, rotate, status); inside model/
 * the places that open or make blobs of encrypted images (blob.c,
 * upload.c, capture.c, instance.c ...) through model_key_get and
 * model_key_new (model_int.h), and the task claim (model_key_usable).
 *
 * The design (docs/design.md, "Encrypted images"):
 *   - a data key is 32 random bytes, one per lineage (an encrypted image
 *     and what is made from it), made when the lineage gets its first
 *     data and never changed: every chunk of the lineage is sealed under
 *     it (blobstore/crypt.c);
 *   - the database holds it only wrapped: nonce (12 random bytes) ||
 *     AES-256-GCM(KEK, data key, associated data "imgfs data key v1 " and
 *     the KEK's id) || tag, 60 bytes, with the KEK's id beside it (kek):
 *     a process tells "not my KEK" from "damaged" before trying;
 *   - the KEK is 32 bytes a process reads from a file or a command at
 *     start (model_kek_load) and keeps in memory only; its id (an HMAC of
 *     it) is what rows and settings record;
 *   - settings 'kek' is the service's KEK of record: the first data key
 *     sets it, a rotation moves it first; a process whose KEK is not it
 *     makes no data key (its wrapped keys would outlive a finished
 *     rotation under the old KEK).
 *
 * The contexts of the data keys this process opened are kept (KEY_SLOTS
 * of them, least recently used replaced: nothing grows with the number of
 * lineages); a context is reference counted, so a blob keeps its own
 * while the slot is reused.  Unwrapping is a microsecond; the slots save
 * the row's read.
 *
 * Rotation: settings 'kek' := the new id (one transaction, so no process
 * with the old KEK makes a data key from then on), then the rows in id
 * order, each re-wrapped in a transaction of its own guarded by its kek
 * column (UPDATE ... WHERE id = ? AND kek = old): killed anywhere, every
 * row is under the old KEK or the new one, whole, and the next run goes
 * on.  A process holding only the old KEK can open the rows not re-wrapped
 * yet, then none.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "imgfs_lock.h"
#include "model_int.h"

#define KEY_SLOTS 64
#define WRAPPED_LEN (BLOB_SEAL_NONCE + BLOB_KEY_SIZE + BLOB_SEAL_TAG)
#define KEYCMD_TIMEOUT_MS 30000
#define KEY_TEXT_MAX 256 /* bytes of a key file or command output we read */

struct key_slot {
	int64_t id; /* data_keys(id); 0: free */
	blob_key *k;
	uint64_t used;
};

struct model_keys {
	pthread_mutex_t lock;
	bool has_kek;
	uint8_t kek[MODEL_KEK_SIZE];
	char kek_id[MODEL_KEK_ID_LEN + 1];
	uint64_t tick;
	struct key_slot slot[KEY_SLOTS];
};
IMGFS_LOCK_LEVEL(model_keys_lock, 54); /* a leaf */

/* ---- the KEK ------------------------------------------------------------------- */

void model_kek_id(char out[MODEL_KEK_ID_LEN + 1], const uint8_t kek[MODEL_KEK_SIZE])
{
	static const char label[] = "imgfs key-encryption key id v1";
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	memset(mac, 0, sizeof(mac));
	HMAC(EVP_sha256(), kek, MODEL_KEK_SIZE, (const uint8_t *)label, sizeof(label) - 1, mac, &n);
	for (int i = 0; i < MODEL_KEK_ID_LEN / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A key from what a key file or command gave: 32 bytes, or 64 hex digits
 * and at most one newline. */
static int key_parse(uint8_t out[MODEL_KEK_SIZE], const uint8_t *buf, size_t n)
{
	if (n == MODEL_KEK_SIZE) {
		memcpy(out, buf, MODEL_KEK_SIZE);
		return 0;
	}
	if (n == 2 * MODEL_KEK_SIZE + 1 && buf[n - 1] == '\n')
		n--;
	if (n != 2 * MODEL_KEK_SIZE)
		return -EINVAL;
	for (size_t i = 0; i < MODEL_KEK_SIZE; i++) {
		int hi = hexval((char)buf[2 * i]), lo = hexval((char)buf[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

#define KEY_FORM "a key is 32 bytes, or 64 hex digits (openssl rand -hex 32)"

static int kek_from_file(uint8_t out[MODEL_KEK_SIZE], const char *path, struct model_err *err)
{
	uint8_t buf[KEY_TEXT_MAX + 1];
	struct stat st;
	ssize_t n;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0)
		return model_fail(err, -errno, "keyfile %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = model_fail(err, -errno, "keyfile %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = model_fail(err, -EINVAL, "keyfile %s is not a regular file", path);
		goto out;
	}
	if (st.st_uid != geteuid()) {
		rc = model_fail(err, -EACCES, "keyfile %s belongs to uid %u, not to uid %u who runs imgfs (chown it)", path,
		                (unsigned)st.st_uid, (unsigned)geteuid());
		goto out;
	}
	if (st.st_mode & 077) {
		rc = model_fail(err, -EACCES, "keyfile %s has mode %04o: others may read it; it must be 0600 or "
		                "stricter (chmod 600 %s)", path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	for (n = 0; (size_t)n < sizeof(buf);) {
		ssize_t r = read(fd, buf + n, sizeof(buf) - (size_t)n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = model_fail(err, -errno, "keyfile %s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += r;
	}
	if ((rc = key_parse(out, buf, (size_t)n)) < 0)
		model_fail(err, rc, "keyfile %s: %s", path, KEY_FORM);
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return rc;
}

/* Runs cmd (/bin/sh -c) and reads its standard output, at most
 * KEY_TEXT_MAX + 1 bytes, within KEYCMD_TIMEOUT_MS. */
static int kek_from_cmd(uint8_t out[MODEL_KEK_SIZE], const char *cmd, struct model_err *err)
{
	uint8_t buf[KEY_TEXT_MAX + 1];
	size_t got = 0;
	int pfd[2], status = 0, rc = 0;
	pid_t pid;
	int64_t t0;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return model_fail(err, -errno, "keycmd: %s", strerror(errno));
	if ((pid = fork()) < 0) {
		rc = model_fail(err, -errno, "keycmd: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return rc;
	}
	if (pid == 0) {
		dup2(pfd[1], STDOUT_FILENO);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	t0 = model_mono_ns();
	for (;;) {
		struct pollfd p = {pfd[0], POLLIN, 0};
		long left;
		ssize_t n;
		left = KEYCMD_TIMEOUT_MS - (long)((model_mono_ns() - t0) / 1000000);
		if (left <= 0) {
			rc = model_fail(err, -ETIMEDOUT, "keycmd: no key within %d s", KEYCMD_TIMEOUT_MS / 1000);
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR) {
			rc = model_fail(err, -errno, "keycmd: %s", strerror(errno));
			kill(pid, SIGKILL);
			break;
		}
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(pfd[0], buf + got, sizeof(buf) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof(buf))
			break; /* too long already: no key */
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
		rc = model_fail(err, -EIO, "keycmd: exited with %s %d", WIFEXITED(status) ? "status" : "signal",
		                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	if (rc == 0 && (rc = key_parse(out, buf, got)) < 0)
		model_fail(err, rc, "keycmd: its output is no key (%s on its standard output)", KEY_FORM);
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

int model_kek_load(uint8_t out[MODEL_KEK_SIZE], const char *keyfile, const char *keycmd, struct model_err *err)
{
	if ((keyfile == NULL) == (keycmd == NULL))
		return model_fail(err, -EINVAL, "a key-encryption key comes from a keyfile or a keycmd, one of them");
	if (keyfile && !keyfile[0])
		return model_fail(err, -EINVAL, "keyfile: no file named");
	if (keycmd && !keycmd[0])
		return model_fail(err, -EINVAL, "keycmd: no command given");
	return keyfile ? kek_from_file(out, keyfile, err) : kek_from_cmd(out, keycmd, err);
}

/* The keys' state, made on first need. */
static struct model_keys *keys_of(model *m)
{
	struct model_keys *k;
	IMGFS_LOCK(&m->lock, model_lock);
	if (!m->keys && (k = calloc(1, sizeof(*k)))) {
		pthread_mutex_init(&k->lock, NULL);
		m->keys = k;
	}
	k = m->keys;
	IMGFS_UNLOCK(&m->lock, model_lock);
	return k;
}

/* Forgets every data key opened (under lock). */
static void slots_clear(struct model_keys *k)
{
	IMGFS_ASSERT_HELD(&k->lock);
	for (int i = 0; i < KEY_SLOTS; i++) {
		blob_key_unref(k->slot[i].k);
		k->slot[i] = (struct key_slot){0, NULL, 0};
	}
}

void model_set_kek(model *m, const uint8_t kek[MODEL_KEK_SIZE])
{
	struct model_keys *k = keys_of(m);
	if (!k)
		return;
	IMGFS_LOCK(&k->lock, model_keys_lock);
	slots_clear(k);
	k->has_kek = kek != NULL;
	if (kek) {
		memcpy(k->kek, kek, MODEL_KEK_SIZE);
		model_kek_id(k->kek_id, kek);
	} else {
		explicit_bzero(k->kek, sizeof(k->kek));
		k->kek_id[0] = '\0';
	}
	IMGFS_UNLOCK(&k->lock, model_keys_lock);
}

void model_keys_free(model *m)
{
	struct model_keys *k = m->keys;
	if (!k)
		return;
	IMGFS_LOCK(&k->lock, model_keys_lock); /* at close, alone: slots_clear's rule all the same */
	slots_clear(k);
	IMGFS_UNLOCK(&k->lock, model_keys_lock);
	explicit_bzero(k->kek, sizeof(k->kek));
	pthread_mutex_destroy(&k->lock);
	free(k);
	m->keys = NULL;
}

/* This process's KEK id into out ("" none). */
static bool my_kek(model *m, char out[MODEL_KEK_ID_LEN + 1])
{
	struct model_keys *k = keys_of(m);
	bool has = false;
	out[0] = '\0';
	if (k) {
		IMGFS_LOCK(&k->lock, model_keys_lock);
		if ((has = k->has_kek))
			memcpy(out, k->kek_id, MODEL_KEK_ID_LEN + 1);
		IMGFS_UNLOCK(&k->lock, model_keys_lock);
	}
	return has;
}

#define NO_KEK "no key-encryption key was given (mount with -o keyfile=PATH or -o keycmd=CMD; imgfs admin and imgfs serve take --keyfile or --keycmd)"

int model_kek_check(model *m, struct model_err *err)
{
	char mine[MODEL_KEK_ID_LEN + 1], service[MODEL_KEK_ID_LEN + 1] = "";
	int rc;
	if (!my_kek(m, mine))
		return 0;
	if ((rc = model_setting_get(m, "kek", service, sizeof(service))) <= 0)
		return rc;
	if (strcmp(mine, service) != 0)
		return model_fail(err, -EACCES, "the key-encryption key given (id %s) is not the service's (id %s): "
		                  "encrypted images stay unreadable here", mine, service);
	return 0;
}

/* ---- wrapping ---------------------------------------------------------------------- */

/* The associated data of a wrapped key: what it is and which KEK. */
static size_t wrap_aad(char out[64], const char *kek_id)
{
	return (size_t)snprintf(out, 64, "imgfs data key v1 %s", kek_id);
}

static int wrap(uint8_t out[WRAPPED_LEN], const uint8_t kek[MODEL_KEK_SIZE], const char *kek_id,
                const uint8_t dk[BLOB_KEY_SIZE])
{
	char aad[64];
	size_t alen = wrap_aad(aad, kek_id);
	if (getrandom(out, BLOB_SEAL_NONCE, 0) != BLOB_SEAL_NONCE)
		return -EIO;
	return blob_gcm_seal(kek, out, aad, alen, dk, BLOB_KEY_SIZE, out + BLOB_SEAL_NONCE,
	                     out + BLOB_SEAL_NONCE + BLOB_KEY_SIZE);
}

static int unwrap(uint8_t dk[BLOB_KEY_SIZE], const uint8_t kek[MODEL_KEK_SIZE], const char *kek_id,
                  const uint8_t *wrapped, size_t len)
{
	char aad[64];
	size_t alen = wrap_aad(aad, kek_id);
	if (len != WRAPPED_LEN)
		return -EIO;
	memcpy(dk, wrapped + BLOB_SEAL_NONCE, BLOB_KEY_SIZE);
	return blob_gcm_open(kek, wrapped, aad, alen, dk, BLOB_KEY_SIZE, wrapped + BLOB_SEAL_NONCE + BLOB_KEY_SIZE);
}

/* ---- data keys ---------------------------------------------------------------------- */

/* A slot for id (the free one, or the least recently used), under lock. */
static void slot_put(struct model_keys *k, int64_t id, blob_key *key)
{
	IMGFS_ASSERT_HELD(&k->lock);
	struct key_slot *v = &k->slot[0];
	for (int i = 0; i < KEY_SLOTS; i++) {
		if (k->slot[i].id == 0) {
			v = &k->slot[i];
			break;
		}
		if (k->slot[i].used < v->used)
			v = &k->slot[i];
	}
	blob_key_unref(v->k);
	*v = (struct key_slot){id, blob_key_ref(key), ++k->tick};
}

static blob_key *slot_get(struct model_keys *k, int64_t id)
{
	for (int i = 0; i < KEY_SLOTS; i++)
		if (k->slot[i].id == id) {
			k->slot[i].used = ++k->tick;
			return blob_key_ref(k->slot[i].k);
		}
	return NULL;
}

struct key_row {
	uint8_t wrapped[WRAPPED_LEN];
	size_t len;
	char kek[MODEL_KEK_ID_LEN + 1];
};

static void key_row_fill(db_stmt *st, void *out)
{
	struct key_row *r = out;
	size_t n = (size_t)db_col_bytes(st, 0);
	r->len = n <= sizeof(r->wrapped) ? n : 0;
	if (r->len)
		memcpy(r->wrapped, db_col_blob(st, 0), r->len);
	model_col_text(st, 1, r->kek, sizeof(r->kek));
}

static int key_row(model *m, int64_t id, struct key_row *out)
{
	return model_fetch_one(m, SQL("SELECT wrapped, kek FROM data_keys WHERE id = ?"), NULL, id, key_row_fill, out);
}

int model_key_get(model *m, int64_t key_id, blob_key **out, struct model_err *err)
{
	struct model_keys *k = keys_of(m);
	uint8_t dk[BLOB_KEY_SIZE];
	struct key_row r;
	int rc;

	*out = NULL;
	if (key_id == 0)
		return 0;
	if (!k)
		return -ENOMEM;
	IMGFS_LOCK(&k->lock, model_keys_lock);
	*out = slot_get(k, key_id);
	bool has = k->has_kek;
	IMGFS_UNLOCK(&k->lock, model_keys_lock);
	if (*out)
		return 0;
	if (!has)
		return model_fail(err, -EACCES, "the image is encrypted and %s", NO_KEK);
	if ((rc = key_row(m, key_id, &r)) < 0)
		return model_fail(err, rc == -ENOENT ? -EIO : rc, "the image's data key (%lld) %s", (long long)key_id,
		                  rc == -ENOENT ? "is missing from the database" : "cannot be read");
	IMGFS_LOCK(&k->lock, model_keys_lock);
	if (strcmp(r.kek, k->kek_id) != 0) {
		rc = model_fail(err, -EACCES, "the image's data key is wrapped by key-encryption key %s; the key given is "
		                "%s (the old one after a rotation?)", r.kek, k->kek_id);
	} else if ((rc = unwrap(dk, k->kek, k->kek_id, r.wrapped, r.len)) < 0) {
		rc = model_fail(err, -EIO, "the image's data key (%lld) does not unwrap: the database's row was changed",
		                (long long)key_id);
	} else if ((rc = blob_key_new(out, dk)) == 0) {
		slot_put(k, key_id, *out);
	}
	IMGFS_UNLOCK(&k->lock, model_keys_lock);
	explicit_bzero(dk, sizeof(dk));
	return rc;
}

bool model_key_usable(struct model_conn *c, int64_t key_id)
{
	blob_key *k = NULL;
	if (key_id == 0)
		return true;
	if (model_key_get(c->m, key_id, &k, NULL) < 0)
		return false;
	blob_key_unref(k);
	return true;
}

int model_key_new(struct model_conn *c, int64_t *id_out, struct model_err *err)
{
	struct model_keys *k = keys_of(c->m);
	char service[MODEL_KEK_ID_LEN + 1] = "", mine[MODEL_KEK_ID_LEN + 1];
	uint8_t dk[BLOB_KEY_SIZE], wrapped[WRAPPED_LEN];
	blob_key *key = NULL;
	db_stmt *st;
	int rc;

	if (!k || !my_kek(c->m, mine))
		return model_fail(err, -EACCES, "an encrypted image needs a data key and %s", NO_KEK);
	/* The service's KEK of record, read in the caller's write
	 * transaction: a rotation that moved it is seen here. */
	if ((rc = model_setting_get(c->m, "kek", service, sizeof(service))) < 0)
		return model_fail(err, rc, "cannot read the service's key-encryption key id");
	if (rc == 1 && strcmp(service, mine) != 0)
		return model_fail(err, -EACCES, "the key-encryption key given (id %s) is not the service's (id %s): no new "
		                  "data key is made under it", mine, service);
	if (rc == 0 && (rc = model_setting_put(c, "kek", mine)) < 0)
		return model_fail(err, rc, "cannot record the key-encryption key id");
	if (getrandom(dk, sizeof(dk), 0) != (ssize_t)sizeof(dk))
		return model_fail(err, -EIO, "no random bytes for a data key");
	IMGFS_LOCK(&k->lock, model_keys_lock);
	rc = wrap(wrapped, k->kek, k->kek_id, dk);
	IMGFS_UNLOCK(&k->lock, model_keys_lock);
	if (rc == 0)
		rc = blob_key_new(&key, dk);
	explicit_bzero(dk, sizeof(dk));
	if (rc < 0)
		return model_fail(err, rc, "cannot make a data key");
	if (!(st = model_stmt(c, SQL("INSERT INTO data_keys(wrapped, kek, created) VALUES (?, ?, ?) RETURNING id")))) {
		blob_key_unref(key);
		return model_fail(err, -EIO, "database");
	}
	db_bind_blob(st, 1, wrapped, sizeof(wrapped));
	db_bind_text(st, 2, mine);
	db_bind_int64(st, 3, (int64_t)time(NULL));
	if ((rc = model_insert(st, id_out)) < 0) {
		blob_key_unref(key);
		return model_fail_db(err, rc);
	}
	/* Kept under its id at once (an id a rolled-back insert had may come
	 * again: the slot is then replaced by what that id's row says). */
	IMGFS_LOCK(&k->lock, model_keys_lock);
	for (int i = 0; i < KEY_SLOTS; i++)
		if (k->slot[i].id == *id_out) {
			blob_key_unref(k->slot[i].k);
			k->slot[i] = (struct key_slot){0, NULL, 0};
		}
	slot_put(k, *id_out, key);
	IMGFS_UNLOCK(&k->lock, model_keys_lock);
	blob_key_unref(key);
	return 0;
}

/* ---- lineages ---------------------------------------------------------------------- */

int model_image_key_ensure(struct model_conn *c, const struct model_image *img, int64_t *key_id,
                           struct model_err *err)
{
	db_stmt *st;
	int rc;
	*key_id = img->key_id;
	if (!img->encrypted || img->key_id)
		return 0;
	if ((rc = model_key_new(c, key_id, err)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("UPDATE images SET key_id = ? WHERE id = ?"))))
		return -EIO;
	db_bind_int64(st, 1, *key_id);
	db_bind_int64(st, 2, img->id);
	return model_exec_stmt(st);
}

/* ---- rotation and status ---------------------------------------------------------- */

struct next_key {
	int64_t id;
	struct key_row r;
};

static void next_key_fill(db_stmt *st, void *out)
{
	struct next_key *n = out;
	n->id = db_col_int64(st, 0);
	size_t len = (size_t)db_col_bytes(st, 1);
	n->r.len = len <= sizeof(n->r.wrapped) ? len : 0;
	if (n->r.len)
		memcpy(n->r.wrapped, db_col_blob(st, 1), n->r.len);
	model_col_text(st, 2, n->r.kek, sizeof(n->r.kek));
}

/* One row re-wrapped in its own transaction, guarded by its kek column. */
static int rewrap_one(model *m, const struct next_key *n, const uint8_t old_kek[MODEL_KEK_SIZE], const char *old_id,
                      const uint8_t new_kek[MODEL_KEK_SIZE], const char *new_id, struct model_err *err)
{
	uint8_t dk[BLOB_KEY_SIZE], wrapped[WRAPPED_LEN];
	struct model_conn *c;
	db_stmt *st;
	int rc;

	if (unwrap(dk, old_kek, old_id, n->r.wrapped, n->r.len) < 0)
		return model_fail(err, -EIO, "data key %lld does not unwrap under key-encryption key %s: its row was changed",
		                  (long long)n->id, old_id);
	rc = wrap(wrapped, new_kek, new_id, dk);
	explicit_bzero(dk, sizeof(dk));
	if (rc < 0)
		return model_fail(err, rc, "cannot wrap data key %lld", (long long)n->id);
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("UPDATE data_keys SET wrapped = ?, kek = ? WHERE id = ? AND kek = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_blob(st, 1, wrapped, sizeof(wrapped));
	db_bind_text(st, 2, new_id);
	db_bind_int64(st, 3, n->id);
	db_bind_text(st, 4, old_id);
	rc = model_exec_stmt(st);
out:
	return model_write_end(c, rc, err);
}

/* settings 'kek' := new_id, unless it names a third key. */
static int rotation_begin(model *m, const char *old_id, const char *new_id, struct model_err *err)
{
	char service[MODEL_KEK_ID_LEN + 1] = "";
	struct model_conn *c;
	int rc;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_setting_get(m, "kek", service, sizeof(service))) < 0)
		goto out;
	if (rc == 1 && strcmp(service, old_id) != 0 && strcmp(service, new_id) != 0) {
		rc = model_fail(err, -EACCES, "the service's key-encryption key is %s: neither the key given (%s) nor the "
		                "new one (%s)", service, old_id, new_id);
		goto out;
	}
	if ((rc = model_setting_put(c, "kek", new_id)) < 0)
		goto out;
out:
	return model_write_end(c, rc, err);
}

int model_key_rotate(model *m, const uint8_t new_kek[MODEL_KEK_SIZE], void (*progress)(void *arg, const char *line),
                     void *arg, struct model_key_rotation *out, struct model_err *err)
{
	struct model_keys *k = keys_of(m);
	uint8_t old_kek[MODEL_KEK_SIZE];
	char old_id[MODEL_KEK_ID_LEN + 1], new_id[MODEL_KEK_ID_LEN + 1], line[160];
	struct next_key n = {0};
	int rc;

	memset(out, 0, sizeof(*out));
	if (!k || !my_kek(m, old_id))
		return model_fail(err, -EACCES, "rotation needs the current key-encryption key: give it with --keyfile or "
		                  "--keycmd");
	model_kek_id(new_id, new_kek);
	if (strcmp(old_id, new_id) == 0)
		return model_fail(err, -EINVAL, "the new key-encryption key is the current one (id %s)", old_id);
	IMGFS_LOCK(&k->lock, model_keys_lock);
	memcpy(old_kek, k->kek, sizeof(old_kek));
	IMGFS_UNLOCK(&k->lock, model_keys_lock);
	if ((rc = rotation_begin(m, old_id, new_id, err)) < 0)
		goto out;
	for (;;) {
		int64_t after = n.id;
		rc = model_fetch_one(m, SQL_SCAN("a rotation walks every data key, one row a statement",
		                                 "SELECT id, wrapped, kek FROM data_keys WHERE id > ? ORDER BY id LIMIT 1"),
		                     NULL, after, next_key_fill, &n);
		if (rc == -ENOENT) {
			rc = 0;
			break;
		}
		if (rc < 0) {
			model_fail_db(err, rc);
			goto out;
		}
		if (strcmp(n.r.kek, new_id) == 0) {
			out->done++;
			continue;
		}
		if (strcmp(n.r.kek, old_id) != 0) {
			out->other++;
			snprintf(line, sizeof(line), "data key %lld is wrapped by key-encryption key %s, neither key: left as it is",
			         (long long)n.id, n.r.kek);
			if (progress)
				progress(arg, line);
			continue;
		}
		if ((rc = rewrap_one(m, &n, old_kek, old_id, new_kek, new_id, err)) < 0)
			goto out;
		out->rewrapped++;
		snprintf(line, sizeof(line), "data key %lld re-wrapped: key-encryption key %s -> %s", (long long)n.id, old_id,
		         new_id);
		if (progress)
			progress(arg, line);
	}
	if (out->other)
		rc = model_fail(err, -EIO, "%llu data keys are under another key-encryption key: they stay unreadable with "
		                "the new one", (unsigned long long)out->other);
	/* This process goes on with the new key. */
	if (rc == 0)
		model_set_kek(m, new_kek);
out:
	explicit_bzero(old_kek, sizeof(old_kek));
	return rc;
}

struct status_cb {
	int (*cb)(void *arg, const char *kek, int64_t keys);
	void *arg;
};

static int status_row(void *arg, db_stmt *st)
{
	struct status_cb *s = arg;
	char kek[MODEL_KEK_ID_LEN + 1];
	model_col_text(st, 0, kek, sizeof(kek));
	return s->cb(s->arg, kek, db_col_int64(st, 1));
}

int model_key_status(model *m, char service[MODEL_KEK_ID_LEN + 1],
                     int (*cb)(void *arg, const char *kek, int64_t keys), void *arg)
{
	struct status_cb s = {cb, arg};
	struct model_conn *c;
	db_stmt *st;
	int rc;
	service[0] = '\0';
	if ((rc = model_setting_get(m, "kek", service, MODEL_KEK_ID_LEN + 1)) < 0 || (rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL_SCAN("key status counts every data key (one per encrypted lineage)",
	                                  "SELECT kek, count(*) FROM data_keys GROUP BY kek ORDER BY kek"))))
		return -EIO;
	return model_each_row(st, status_row, &s);
}
