/*
 * blob.c — blob rows and device mappings (SPEC §2.2, §2.3).
 *
 * A blob row records a device's bytes: a sealed manifest (immutable) or
 * the name of a writable blob in the region's store.  Devices map an
 * image's vda..vdz / cdrom to blobs, directly (an image file) or through a
 * snapshot.  A blob of an encrypted image (SPEC §17) names its data key
 * (key_id): its manifest is handed out with the key's context attached,
 * its wblob opened under it (model_wblob_open), or -EACCES with the
 * reason when this process cannot open the key.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_int.h"

int model_device_index(const char *name)
{
	if (strcmp(name, "cdrom") == 0)
		return 26;
	if (name[0] == 'v' && name[1] == 'd' && name[2] >= 'a' && name[2] <= 'z' && name[3] == '\0')
		return name[2] - 'a';
	return -EINVAL;
}

static void device_name(char out[8], int idx)
{
	if (idx == 26) {
		strcpy(out, "cdrom");
	} else {
		out[0] = 'v';
		out[1] = 'd';
		out[2] = (char)('a' + idx);
		out[3] = '\0';
	}
}

int model_device_list(model *m, int64_t image_id, struct model_device out[MODEL_MAX_DEVICES])
{
	struct model_conn *c;
	db_stmt *st;
	int rc, n = 0;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT d.idx, d.blob_id, d.snapshot_id, COALESCE(s.ext_id, ''), b.size "
	                         "FROM devices d JOIN blobs b ON b.id = d.blob_id "
	                         "LEFT JOIN snapshots s ON s.id = d.snapshot_id WHERE d.image_id = ? ORDER BY d.idx"))))
		return -EIO;
	db_bind_int64(st, 1, image_id);
	while (n < MODEL_MAX_DEVICES && (rc = db_step(st)) == DB_ROW) {
		struct model_device *d = &out[n++];
		d->index = db_col_int(st, 0);
		device_name(d->name, d->index);
		d->blob_id = db_col_int64(st, 1);
		d->snapshot_id = db_col_int64(st, 2);
		d->kind = d->snapshot_id ? MODEL_DEV_SNAPSHOT : MODEL_DEV_IMAGE;
		model_col_text(st, 3, d->snapshot_ext_id, sizeof(d->snapshot_ext_id));
		d->size = (uint64_t)db_col_int64(st, 4);
	}
	db_reset(st);
	return rc == DB_ROW || rc == DB_DONE ? n : db_errno(rc);
}

int model_blob_get(model *m, int64_t blob_id, struct model_blob *out)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT id, region_id, size, stored, manifest IS NOT NULL, xxh128, "
	                         "COALESCE(wblob, ''), mtime_ns, sha256, key_id FROM blobs WHERE id = ?"))))
		return -EIO;
	db_bind_int64(st, 1, blob_id);
	rc = db_step(st);
	if (rc == DB_ROW) {
		out->id = db_col_int64(st, 0);
		out->region_id = db_col_int64(st, 1);
		out->size = (uint64_t)db_col_int64(st, 2);
		out->stored = (uint64_t)db_col_int64(st, 3);
		out->sealed = db_col_int(st, 4) != 0;
		model_col_text(st, 5, out->xxh128, sizeof(out->xxh128));
		model_col_text(st, 6, out->wblob, sizeof(out->wblob));
		out->mtime_ns = db_col_int64(st, 7);
		model_col_text(st, 8, out->sha256, sizeof(out->sha256));
		out->key_id = db_col_int64(st, 9);
		rc = 0;
	} else {
		rc = rc == DB_DONE ? -ENOENT : db_errno(rc);
	}
	db_reset(st);
	return rc;
}

/* The manifest of a sealed blob as stored (no key) and its key's id. */
static int manifest_row(model *m, int64_t blob_id, blob_manifest **out, int64_t *key_id)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;
	*out = NULL;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT manifest, key_id FROM blobs WHERE id = ?"))))
		return -EIO;
	db_bind_int64(st, 1, blob_id);
	rc = db_step(st);
	if (rc == DB_ROW) {
		*key_id = db_col_int64(st, 1);
		if (db_col_null(st, 0))
			rc = -EINVAL; /* a writable blob has no manifest */
		else
			rc = blob_manifest_decode(out, db_col_blob(st, 0), db_col_bytes(st, 0));
	} else {
		rc = rc == DB_DONE ? -ENOENT : db_errno(rc);
	}
	db_reset(st);
	return rc;
}

int model_blob_manifest_err(model *m, int64_t blob_id, blob_manifest **out, struct model_err *err)
{
	blob_key *key = NULL;
	int64_t key_id = 0;
	int rc;
	if ((rc = manifest_row(m, blob_id, out, &key_id)) < 0)
		return rc;
	/* An encrypted blob is read through its key (SPEC §17), or not at all. */
	if ((rc = model_key_get(m, key_id, &key, err)) < 0) {
		blob_manifest_free(*out);
		*out = NULL;
		return rc;
	}
	blob_manifest_set_key(*out, key);
	blob_key_unref(key);
	return 0;
}

int model_blob_manifest(model *m, int64_t blob_id, blob_manifest **out)
{
	return model_blob_manifest_err(m, blob_id, out, NULL);
}

int model_blob_ids(model *m, int64_t blob_id, blob_manifest **out)
{
	int64_t key_id;
	return manifest_row(m, blob_id, out, &key_id);
}

enum blob_wb_where model_wblob_where(const char *wblob)
{
	return wblob[0] == 'c' ? BLOB_WB_CLUSTER : BLOB_WB_HOST;
}

static int wblob_open(model *m, const struct model_blob *b, bool reader, blob_wblob **out, struct model_err *err)
{
	blob_key *key = NULL;
	blob_store *s;
	int rc;
	*out = NULL;
	if (!b->wblob[0])
		return model_fail(err, -ENOENT, "the disk has no writable blob");
	if ((rc = model_store(m, b->region_id, &s)) < 0)
		return model_fail(err, rc, "cannot open the blob store: %s", strerror(-rc));
	if ((rc = model_key_get(m, b->key_id, &key, err)) < 0)
		return rc;
	char why[192];
	/* A lost or cut overlay is EIO with what is missing (never zeros). */
	if ((rc = (reader ? blob_wblob_open_judged : blob_wblob_open_in)(out, s, model_wblob_where(b->wblob), b->wblob,
	                                                                 key, why, sizeof(why))) < 0)
		model_fail(err, rc, "cannot open %s: %s", b->wblob, why[0] ? why : strerror(-rc));
	blob_key_unref(key);
	return rc;
}

int model_wblob_open(model *m, const struct model_blob *b, blob_wblob **out, struct model_err *err)
{
	return wblob_open(m, b, false, out, err);
}

int model_wblob_open_reader(model *m, const struct model_blob *b, blob_wblob **out, struct model_err *err)
{
	return wblob_open(m, b, true, out, err);
}

int model_blob_insert_sealed(struct model_conn *c, int64_t region_id, const blob_manifest *man, const char *xxh128,
                             int64_t key_id, int64_t *id_out)
{
	void *enc = NULL;
	size_t len = 0;
	db_stmt *st;
	int rc;
	if ((rc = blob_manifest_encode(&enc, &len, man)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("INSERT INTO blobs(region_id, size, stored, manifest, xxh128, mtime_ns, key_id) "
	                         "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, region_id);
	db_bind_int64(st, 2, (int64_t)man->size);
	db_bind_int64(st, 3, (int64_t)man->stored);
	db_bind_blob(st, 4, enc, len);
	db_bind_text(st, 5, xxh128 ? xxh128 : "");
	db_bind_int64(st, 6, model_now_ns());
	db_bind_int64(st, 7, key_id);
	rc = model_insert(st, id_out);
out:
	free(enc);
	return rc;
}

int model_blob_hash(model *m, int64_t blob_id, char out[33])
{
	struct model_blob b;
	int rc;
	if ((rc = model_blob_get(m, blob_id, &b)) < 0)
		return rc;
	/* What is kept, nothing more: hashing a blob here would hold a request
	 * thread for as long as its virtual size takes (1 TiB of holes is
	 * minutes), so a blob waits for the checksum pass (model/task/checksum.c). */
	if (!b.sealed || !b.xxh128[0])
		return -ENODATA;
	model_xxh128_open(m, b.key_id, b.xxh128, out); /* sealed when encrypted (§17) */
	return out[0] ? 0 : -ENODATA;
}

/* ---- holds of copies by reference (SPEC §16, schema v14) ---------------- */

static int next_held(struct model_conn *c, int64_t holder, int64_t *held)
{
	db_stmt *st = model_stmt(c, SQL("SELECT held_id FROM blob_holds WHERE holder_id = ? LIMIT 1"));
	int rc;
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, holder);
	rc = db_step(st);
	if (rc == DB_ROW)
		*held = db_col_int64(st, 0);
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : db_errno(rc);
}

/* Whether holder holds held, read on c (1, 0 or -errno). */
static int hold_exists(struct model_conn *c, int64_t holder, int64_t held)
{
	db_stmt *st = model_stmt(c, SQL("SELECT 1 FROM blob_holds WHERE holder_id = ? AND held_id = ?"));
	int rc;
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, holder);
	db_bind_int64(st, 2, held);
	rc = db_step(st);
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : db_errno(rc);
}

int model_blob_hold(model *m, int64_t holder, int64_t held, struct model_err *err)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;
	/* Most requests of one cp find the row the first one made: a read. */
	if ((rc = model_conn_get(m, &c)) < 0 || (rc = hold_exists(c, holder, held)) != 0)
		return rc < 0 ? model_fail(err, rc, "cannot read the blob's holds") : 0;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	/* Both rows still there, the held one sealed, in one region: the
	 * INSERT's SELECT says so, or inserts nothing. */
	if (!(st = model_stmt(c, SQL("INSERT INTO blob_holds(holder_id, held_id) SELECT a.id, b.id FROM blobs a "
	                             "JOIN blobs b ON b.id = ?2 AND b.region_id = a.region_id AND b.manifest IS NOT "
	                             "NULL WHERE a.id = ?1 ON CONFLICT DO NOTHING")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, holder);
	db_bind_int64(st, 2, held);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if ((rc = hold_exists(c, holder, held)) <= 0) {
		rc = rc < 0 ? rc : model_fail(err, -ENOENT, "the source or the disk went away meanwhile");
		goto out;
	}
out:
	return model_write_end(c, rc, err);
}

int model_blob_release_holds(struct model_conn *c, int64_t holder)
{
	int64_t held = 0;
	db_stmt *st;
	int rc;
	while ((rc = next_held(c, holder, &held)) == 1) {
		if (!(st = model_stmt(c, SQL("DELETE FROM blob_holds WHERE holder_id = ? AND held_id = ?"))))
			return -EIO;
		db_bind_int64(st, 1, holder);
		db_bind_int64(st, 2, held);
		if ((rc = model_exec_stmt(st)) < 0 || (rc = model_blob_drop_unreferenced(c, held)) < 0)
			return rc;
	}
	return rc;
}

/* ---- SHA-256 (SPEC §2.1 sha256, schema v15) ------------------------------- */

/* An encrypted blob's SHA-256 is a hash of its plaintext, which would
 * tell whoever reads the database whether an encrypted disk is a known
 * file: it is stored sealed under the blob's data key as a chunk is
 * (blob_key_seal), "k" then the hex of nonce, ciphertext and tag (hex
 * digits never hold a "k").  Deterministic under one key, like chunks:
 * the same disk in one lineage keeps one stored form. */
#define SHA_SEALED 'k'
#define SHA_LEN 32
#define XXH_LEN 16
#define MD5_LEN 16
#define SHA512_LEN 64 /* the longest kept */

static int nibble(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Exactly 2n lowercase hex digits into n bytes. */
static int hex_decode(uint8_t *out, size_t n, const char *hex)
{
	for (size_t i = 0; i < n; i++) {
		int hi = nibble(hex[2 * i]), lo = hi < 0 ? -1 : nibble(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return hex[2 * n] == '\0' ? 0 : -EINVAL;
}

static void hex_encode(char *out, const uint8_t *in, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
	out[2 * n] = '\0';
}

/* A hash of n bytes (2n hex digits) as the database keeps it for blob_id:
 * as it is for a plain blob, sealed under its data key otherwise. */
static int hash_seal(model *m, int64_t blob_id, const char *hex, size_t n, char *out, size_t cap)
{
	uint8_t digest[SHA512_LEN], sealed[SHA512_LEN + BLOB_SEAL_OVERHEAD];
	struct model_blob b;
	blob_key *k = NULL;
	int rc;

	out[0] = '\0';
	if (!hex || !hex[0])
		return 0;
	if ((rc = model_blob_get(m, blob_id, &b)) < 0)
		return rc;
	if (b.key_id == 0) {
		snprintf(out, cap, "%.*s", (int)(2 * n), hex);
		return 0;
	}
	if ((rc = hex_decode(digest, n, hex)) < 0 || (rc = model_key_get(m, b.key_id, &k, NULL)) < 0)
		return rc;
	rc = blob_key_seal(k, sealed, digest, n);
	blob_key_unref(k);
	explicit_bzero(digest, sizeof(digest));
	if (rc < 0)
		return rc;
	out[0] = SHA_SEALED;
	hex_encode(out + 1, sealed, n + BLOB_SEAL_OVERHEAD);
	return 0;
}

/* The hash of n bytes stored (either form) by a blob of data key key_id,
 * as 2n hex digits into out (cap bytes): "" when unknown or unopenable. */
static void hash_open(model *m, int64_t key_id, const char *stored, size_t n, char *out, size_t cap)
{
	uint8_t sealed[SHA512_LEN + BLOB_SEAL_OVERHEAD];
	blob_key *k = NULL;
	size_t got = 0;

	out[0] = '\0';
	if (stored[0] != SHA_SEALED) {
		snprintf(out, cap, "%.*s", (int)(2 * n), stored); /* a plain blob's (or "") */
		return;
	}
	if (key_id == 0 || hex_decode(sealed, n + BLOB_SEAL_OVERHEAD, stored + 1) < 0 ||
	    model_key_get(m, key_id, &k, NULL) < 0)
		return;
	if (blob_key_open(k, sealed, n + BLOB_SEAL_OVERHEAD, &got) == 0 && got == n)
		hex_encode(out, sealed + BLOB_SEAL_NONCE, n);
	blob_key_unref(k);
	explicit_bzero(sealed, sizeof(sealed));
}

int model_sha256_seal(model *m, int64_t blob_id, const char *hex, char out[MODEL_SHA_STORED])
{
	return hash_seal(m, blob_id, hex, SHA_LEN, out, MODEL_SHA_STORED);
}

void model_sha256_open(model *m, int64_t key_id, const char *stored, char out[65])
{
	hash_open(m, key_id, stored, SHA_LEN, out, 65);
}

int model_xxh128_seal(model *m, int64_t blob_id, const char *hex, char out[MODEL_SHA_STORED])
{
	return hash_seal(m, blob_id, hex, XXH_LEN, out, MODEL_SHA_STORED);
}

void model_xxh128_open(model *m, int64_t key_id, const char *stored, char out[33])
{
	hash_open(m, key_id, stored, XXH_LEN, out, 33);
}

int model_md5_seal(model *m, int64_t blob_id, const char *hex, char out[MODEL_HASH512_STORED])
{
	return hash_seal(m, blob_id, hex, MD5_LEN, out, MODEL_HASH512_STORED);
}

void model_md5_open(model *m, int64_t key_id, const char *stored, char out[33])
{
	hash_open(m, key_id, stored, MD5_LEN, out, 33);
}

int model_sha512_seal(model *m, int64_t blob_id, const char *hex, char out[MODEL_HASH512_STORED])
{
	return hash_seal(m, blob_id, hex, SHA512_LEN, out, MODEL_HASH512_STORED);
}

void model_sha512_open(model *m, int64_t key_id, const char *stored, char out[129])
{
	hash_open(m, key_id, stored, SHA512_LEN, out, 129);
}

int model_image_sha256(model *m, int64_t image_id, char out[65])
{
	struct model_conn *c;
	char stored[MODEL_SHA_STORED] = "";
	int64_t key_id = 0;
	db_stmt *st;
	int rc;
	out[0] = '\0';
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT b.sha256, b.key_id FROM devices d JOIN blobs b ON b.id = d.blob_id "
	                             "WHERE d.image_id = ? AND d.idx IN (0, 26) ORDER BY d.idx LIMIT 1"))))
		return -EIO;
	db_bind_int64(st, 1, image_id);
	rc = db_step(st);
	if (rc == DB_ROW) {
		model_col_text(st, 0, stored, sizeof(stored));
		key_id = db_col_int64(st, 1);
	}
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_errno(rc);
	model_sha256_open(m, key_id, stored, out);
	return 0;
}

/* The kept hash (its stored form, and the key it is sealed under) of a
 * blob with manifest man: src_blob itself or one holder holds by
 * reference.  st selects (stored, key_id) given (?1 src_blob, ?2 holder,
 * ?3 the encoded manifest).  1 with stored set, 0 when none has one. */
static int reuse_row(db_stmt *st, int64_t src_blob, int64_t holder, const blob_manifest *man,
                     char stored[MODEL_SHA_STORED], int64_t *key_id)
{
	void *enc = NULL;
	size_t len = 0;
	int rc;
	if (!st)
		return -EIO;
	if ((rc = blob_manifest_encode(&enc, &len, man)) < 0)
		return rc;
	db_bind_int64(st, 1, src_blob);
	db_bind_int64(st, 2, holder);
	db_bind_blob(st, 3, enc, len);
	rc = db_step(st);
	if (rc == DB_ROW) {
		model_col_text(st, 0, stored, MODEL_SHA_STORED);
		*key_id = db_col_int64(st, 1);
	}
	db_reset(st);
	free(enc);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : db_errno(rc);
}

/* The same manifest is the same bytes: the source of a raw conversion or
 * a copy, or a blob an upload took whole by reference.  A hash that cannot
 * be opened (no key here) is read again. */
int model_blob_sha256_reuse(model *m, int64_t src_blob, int64_t holder, const blob_manifest *man, char out[65])
{
	struct model_conn *c;
	char stored[MODEL_SHA_STORED] = "";
	int64_t key_id = 0;
	int rc;
	out[0] = '\0';
	if ((rc = model_conn_get(m, &c)) < 0 ||
	    (rc = reuse_row(model_stmt(c, SQL("SELECT sha256, key_id FROM blobs WHERE (id = ?1 OR id IN (SELECT held_id "
	                                      "FROM blob_holds WHERE holder_id = ?2)) AND manifest = ?3 AND sha256 != '' "
	                                      "LIMIT 1")),
	                    src_blob, holder, man, stored, &key_id)) <= 0)
		return rc;
	model_sha256_open(m, key_id, stored, out);
	return out[0] ? 1 : 0;
}

int model_blob_xxh128_reuse(model *m, int64_t src_blob, int64_t holder, const blob_manifest *man, char out[33])
{
	struct model_conn *c;
	char stored[MODEL_SHA_STORED] = "";
	int64_t key_id = 0;
	int rc;
	out[0] = '\0';
	if ((rc = model_conn_get(m, &c)) < 0 ||
	    (rc = reuse_row(model_stmt(c, SQL("SELECT xxh128, key_id FROM blobs WHERE (id = ?1 OR id IN (SELECT held_id "
	                                      "FROM blob_holds WHERE holder_id = ?2)) AND manifest = ?3 AND xxh128 != '' "
	                                      "LIMIT 1")),
	                    src_blob, holder, man, stored, &key_id)) <= 0)
		return rc;
	model_xxh128_open(m, key_id, stored, out);
	return out[0] ? 1 : 0;
}

void model_blob_set_sha256(model *m, int64_t blob_id, const char *sha256)
{
	struct model_conn *c;
	db_stmt *st;
	char stored[MODEL_SHA_STORED];
	/* On its own: a failure only costs the seal a read of the file. */
	if (model_sha256_seal(m, blob_id, sha256, stored) < 0 || model_conn_get(m, &c) < 0 ||
	    !(st = model_stmt(c, SQL("UPDATE blobs SET sha256 = ? WHERE id = ?"))))
		return;
	db_bind_text(st, 1, stored);
	db_bind_int64(st, 2, blob_id);
	model_exec_stmt(st);
}

int model_blob_drop_unreferenced(struct model_conn *c, int64_t blob_id)
{
	db_stmt *st;
	int rc;
	if (!(st = model_stmt(c, SQL("SELECT 1 WHERE EXISTS (SELECT 1 FROM devices WHERE blob_id = ?1) "
	                             "OR EXISTS (SELECT 1 FROM snapshots WHERE blob_id = ?1) "
	                             "OR EXISTS (SELECT 1 FROM instance_disks WHERE blob_id = ?1) "
	                             "OR EXISTS (SELECT 1 FROM blob_holds WHERE held_id = ?1)"))))
		return -EIO;
	db_bind_int64(st, 1, blob_id);
	rc = db_step(st);
	db_reset(st);
	if (rc != DB_DONE)
		return rc == DB_ROW ? 0 : db_errno(rc);
	/* What it held is let go first (the holds name it). */
	if ((rc = model_blob_release_holds(c, blob_id)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("DELETE FROM blobs WHERE id = ?"))))
		return -EIO;
	db_bind_int64(st, 1, blob_id);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	return model_changes(c);
}
