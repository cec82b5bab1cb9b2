/*
 * test_crypt.c — unit tests for blobstore/crypt.c and what the store does
 * with keys (SPEC §17): the primitives against known answers and against
 * a reference written here (GCM: the test case of its specification; the
 * chunk format: its keys, nonce and ciphertext recomputed with libcrypto
 * by hand; XTS: an implementation from AES-ECB and the doubling in
 * GF(2^128)); then the store: sealed blobs read back, hold no plaintext
 * (a plain store of the same bytes does: the check can fail), deduplicate
 * within a key and never across; a flipped byte is EIO (the id's hash, or
 * the tag of an object stored under its own hash), a wrong key EIO and
 * never served from a neighbour's cache entry; verification and copies
 * need no key; writable blobs under a key (random writes, punches and size
 * changes against a reference, reopened, sealed under their key and under
 * another, streamed) keep no plaintext in their overlay files; copies by
 * reference only inside a key.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "blobstore/wblob/wblob_test.h"

static void unhex(uint8_t *out, const char *hex)
{
	for (size_t i = 0; hex[2 * i]; i++) {
		unsigned v;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static blob_key *key_of(uint8_t seed)
{
	uint8_t dk[BLOB_KEY_SIZE];
	blob_key *k = NULL;

	for (int i = 0; i < BLOB_KEY_SIZE; i++)
		dk[i] = (uint8_t)(seed * 37 + i);
	assert_int_equal(blob_key_new(&k, dk), 0);
	return k;
}

/* HMAC-SHA256 (wide: -SHA512) of label under key: the derivations written
 * down in crypt.c's header, computed here on their own. */
static void mac(uint8_t *out, size_t outlen, const uint8_t *key, size_t keylen, const char *label, size_t len)
{
	uint8_t m[64];
	unsigned n = 0;

	assert_non_null(HMAC(outlen > 32 ? EVP_sha512() : EVP_sha256(), key, (int)keylen, (const uint8_t *)label, len, m, &n));
	memcpy(out, m, outlen);
}

/* Whether any of 8 windows of 32 bytes spread over plain[0, len) is in
 * buf[0, n) (plain is random: a window is no accident). */
static bool holds_plain(const uint8_t *buf, size_t n, const uint8_t *plain, size_t len)
{
	for (int k = 0; k < 8; k++) {
		size_t at = (len - 32) / 8 * (size_t)k;
		if (memmem(buf, n, plain + at, 32) != NULL)
			return true;
	}
	return false;
}

/* How many stored objects of s hold plaintext of plain. */
struct scan {
	blob_store *s;
	const uint8_t *plain;
	size_t len;
	uint8_t *buf;
	int found, objects;
};

static int scan_one(void *arg, const chunk_id *id, int64_t mtime)
{
	struct scan *sc = arg;
	size_t n = 0;

	(void)mtime;
	assert_int_equal(sc->s->be->get(sc->s->be, id, sc->buf, BLOB_OBJ_MAX, &n), 0);
	sc->objects++;
	sc->found += holds_plain(sc->buf, n, sc->plain, sc->len);
	return 0;
}

static int store_holds_plain(blob_store *s, const uint8_t *plain, size_t len)
{
	struct scan sc = {s, plain, len, malloc(BLOB_OBJ_MAX), 0, 0};

	assert_non_null(sc.buf);
	assert_int_equal(s->be->list(s->be, scan_one, &sc), 0);
	free(sc.buf);
	return sc.found;
}

/* Whether any file under dir holds plaintext of plain (every byte read:
 * the test's files are small). */
static bool dir_holds_plain(const char *dir, const uint8_t *plain, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;

	if (d == NULL)
		return false;
	while (!found && (e = readdir(d)) != NULL) {
		char path[512];
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			found = dir_holds_plain(path, plain, len);
		} else if (S_ISREG(st.st_mode) && st.st_size > 0) {
			uint8_t *buf = malloc((size_t)st.st_size);
			int fd = open(path, O_RDONLY);
			assert_non_null(buf);
			assert_true(fd >= 0);
			assert_int_equal(blob_pread_full(fd, buf, (size_t)st.st_size, 0), st.st_size);
			close(fd);
			found = holds_plain(buf, (size_t)st.st_size, plain, len);
			free(buf);
		}
	}
	closedir(d);
	return found;
}

/* ---- the primitives ----------------------------------------------------------- */

/* The GCM specification's test cases 15 and 16 (McGrew and Viega,
 * AES-256; 16 with associated data): the ciphertext and the tag, and
 * back. */
static void test_gcm_known_answer(void **state)
{
	uint8_t key[32], nonce[12], plain[64], want[64], tag_want[16], out[64], tag[16];

	(void)state;
	unhex(key, "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
	unhex(nonce, "cafebabefacedbaddecaf888");
	unhex(plain, "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	             "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255");
	unhex(want, "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	            "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad");
	unhex(tag_want, "b094dac5d93471bdec1a502270e3cc6c");
	assert_int_equal(blob_gcm_seal(key, nonce, NULL, 0, plain, sizeof plain, out, tag), 0);
	assert_memory_equal(out, want, sizeof want);
	assert_memory_equal(tag, tag_want, sizeof tag);
	assert_int_equal(blob_gcm_open(key, nonce, NULL, 0, out, sizeof out, tag), 0);
	assert_memory_equal(out, plain, sizeof plain);
	/* A flipped bit anywhere: refused, and nothing of it shown. */
	memcpy(out, want, sizeof want);
	tag[15] ^= 1;
	assert_int_equal(blob_gcm_open(key, nonce, NULL, 0, out, sizeof out, tag), -EIO);
	assert_true(blob_is_zero(out, sizeof out));
	tag[15] ^= 1;
	memcpy(out, want, sizeof want);
	out[7] ^= 0x80;
	assert_int_equal(blob_gcm_open(key, nonce, NULL, 0, out, sizeof out, tag), -EIO);
	/* Test case 16: the first 60 bytes, with associated data (what data
	 * keys are wrapped with). */
	uint8_t aad[20];
	unhex(aad, "feedfacedeadbeeffeedfacedeadbeefabaddad2");
	unhex(tag_want, "76fc6ece0f4e1768cddf8853bb2d551b");
	assert_int_equal(blob_gcm_seal(key, nonce, aad, sizeof aad, plain, 60, out, tag), 0);
	assert_memory_equal(out, want, 60);
	assert_memory_equal(tag, tag_want, sizeof tag);
	assert_int_equal(blob_gcm_open(key, nonce, aad, sizeof aad, out, 60, tag), 0);
	assert_memory_equal(out, plain, 60);
	assert_int_equal(blob_gcm_seal(key, nonce, aad, sizeof aad, plain, 60, out, tag), 0);
	aad[0] ^= 1; /* other associated data: refused */
	assert_int_equal(blob_gcm_open(key, nonce, aad, sizeof aad, out, 60, tag), -EIO);
}

/* The nonce of crypt.c's header, AES-256(np, GMAC(nh, 0^96, P)), by hand:
 * GHASH's tag from GCM over associated data alone, then one ECB block. */
static void chunk_nonce_v2(uint8_t *out, const uint8_t nh[32], const uint8_t np[32], const uint8_t *p, size_t len)
{
	static const uint8_t zero[12];
	uint8_t gmac[16], block[32];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0;

	assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, nh, zero), 1);
	assert_int_equal(EVP_EncryptUpdate(ctx, NULL, &n, p, (int)len), 1);
	assert_int_equal(EVP_EncryptFinal_ex(ctx, block, &n), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, gmac), 1);
	EVP_CIPHER_CTX_free(ctx);
	ctx = EVP_CIPHER_CTX_new();
	assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_256_ecb(), NULL, np, NULL), 1);
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	assert_int_equal(EVP_EncryptUpdate(ctx, block, &n, gmac, 16), 1);
	assert_int_equal(n, 16);
	EVP_CIPHER_CTX_free(ctx);
	memcpy(out, block, 16);
}

/* A sealed chunk is nonce || AES-256-GCM(enc, nonce, P) || tag, with the
 * keys and the nonce crypt.c's header gives: recomputed here, by hand.
 * And a chunk of v1 (its nonce HMAC-SHA256("imgfs chunk nonce v1" key,
 * P)), made here, still opens: stores written before v2 stay readable. */
static void test_chunk_format(void **state)
{
	struct blob_fx *fx = *state;
	static const size_t lens[] = {1, 100, 4096, BLOB_CHUNK_SIZE};
	uint8_t dk[32], enc[32], nh[32], np[32], siv1[32], nonce[32];
	blob_key *k = NULL;

	for (int i = 0; i < 32; i++)
		dk[i] = (uint8_t)(200 + i);
	assert_int_equal(blob_key_new(&k, dk), 0);
	mac(enc, 32, dk, 32, "imgfs chunk key v1", 18);
	mac(nh, 32, dk, 32, "imgfs nonce hash v2", 19);
	mac(np, 32, dk, 32, "imgfs nonce prp v2", 18);
	mac(siv1, 32, dk, 32, "imgfs chunk nonce v1", 20);
	for (size_t t = 0; t < sizeof lens / sizeof lens[0]; t++) {
		size_t len = lens[t];
		uint8_t *p = malloc(len), *obj = blob_chunk_buf_new(), *ct = malloc(len);
		uint8_t tag[16];
		size_t plen = 0;
		int outl = 0;
		EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

		fx_fill(fx, p, len);
		assert_int_equal(blob_key_seal(k, obj, p, len), (int)(len + BLOB_SEAL_OVERHEAD));
		chunk_nonce_v2(nonce, nh, np, p, len);
		assert_memory_equal(obj, nonce, BLOB_SEAL_NONCE);
		/* The ciphertext and tag by libcrypto directly. */
		assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, enc, nonce), 1);
		assert_int_equal(EVP_EncryptUpdate(ctx, ct, &outl, p, (int)len), 1);
		assert_int_equal(EVP_EncryptFinal_ex(ctx, ct + outl, &outl), 1);
		assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag), 1);
		EVP_CIPHER_CTX_free(ctx);
		assert_bytes_equal(obj + BLOB_SEAL_NONCE, ct, len);
		assert_memory_equal(obj + BLOB_SEAL_NONCE + len, tag, 16);
		if (len >= 256)
			assert_false(holds_plain(obj, len + BLOB_SEAL_OVERHEAD, p, len));
		/* And back, in place. */
		assert_int_equal(blob_key_open(k, obj, len + BLOB_SEAL_OVERHEAD, &plen), 0);
		assert_int_equal(plen, len);
		assert_bytes_equal(obj + BLOB_SEAL_NONCE, p, len);
		/* v1: the nonce an HMAC, the rest alike; opened, not re-derived. */
		mac(nonce, 32, siv1, 32, (const char *)p, len);
		memcpy(obj, nonce, BLOB_SEAL_NONCE);
		ctx = EVP_CIPHER_CTX_new();
		assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, enc, nonce), 1);
		assert_int_equal(EVP_EncryptUpdate(ctx, obj + BLOB_SEAL_NONCE, &outl, p, (int)len), 1);
		assert_int_equal(EVP_EncryptFinal_ex(ctx, ct, &outl), 1);
		assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, obj + BLOB_SEAL_NONCE + len), 1);
		EVP_CIPHER_CTX_free(ctx);
		assert_int_equal(blob_key_open(k, obj, len + BLOB_SEAL_OVERHEAD, &plen), 0);
		assert_bytes_equal(obj + BLOB_SEAL_NONCE, p, len);
		free(p);
		free(obj);
		free(ct);
	}
	blob_key_unref(k);
}

/* Equal chunks under one key seal alike (a lineage deduplicates); under
 * another key, or one byte apart, they do not — not even their nonces. */
static void test_seal_deterministic(void **state)
{
	struct blob_fx *fx = *state;
	blob_key *a = key_of(1), *a2 = key_of(1), *b = key_of(2);
	uint8_t *p = malloc(MiB), *o1 = blob_chunk_buf_new(), *o2 = blob_chunk_buf_new();
	size_t olen = MiB + BLOB_SEAL_OVERHEAD;

	fx_fill(fx, p, MiB);
	assert_true(blob_key_same(a, a2));
	assert_false(blob_key_same(a, b));
	assert_false(blob_key_same(a, NULL));
	assert_true(blob_key_same(NULL, NULL));
	assert_int_equal(blob_key_seal(a, o1, p, MiB), (int)olen);
	assert_int_equal(blob_key_seal(a2, o2, p, MiB), (int)olen);
	assert_bytes_equal(o1, o2, olen);
	assert_int_equal(blob_key_seal(b, o2, p, MiB), (int)olen);
	assert_true(memcmp(o1, o2, BLOB_SEAL_NONCE) != 0);
	assert_true(memcmp(o1 + BLOB_SEAL_NONCE, o2 + BLOB_SEAL_NONCE, 64) != 0);
	p[MiB / 2] ^= 1;
	assert_int_equal(blob_key_seal(a, o2, p, MiB), (int)olen);
	assert_true(memcmp(o1, o2, BLOB_SEAL_NONCE) != 0);
	/* A reference more, a reference less: the key lives while one does. */
	blob_key_unref(blob_key_ref(a));
	assert_true(blob_key_same(a, a2));
	assert_null(blob_key_ref(NULL));
	blob_key_unref(NULL);
	blob_key_unref(a);
	blob_key_unref(a2);
	blob_key_unref(b);
	free(p);
	free(o1);
	free(o2);
}

/* XTS by hand: AES-ECB of each block under key 1, whitened with the tweak
 * (AES of the sector number under key 2, doubled in GF(2^128) from block
 * to block, little-endian as IEEE 1619 has it). */
static void xts_reference(const uint8_t key[64], uint64_t sector, const uint8_t *in, uint8_t *out, size_t len)
{
	EVP_CIPHER_CTX *c1 = EVP_CIPHER_CTX_new(), *c2 = EVP_CIPHER_CTX_new();
	uint8_t t[16] = {0}, x[16];
	int n;

	assert_int_equal(EVP_EncryptInit_ex(c1, EVP_aes_256_ecb(), NULL, key, NULL), 1);
	assert_int_equal(EVP_EncryptInit_ex(c2, EVP_aes_256_ecb(), NULL, key + 32, NULL), 1);
	EVP_CIPHER_CTX_set_padding(c1, 0);
	EVP_CIPHER_CTX_set_padding(c2, 0);
	for (int i = 0; i < 8; i++)
		t[i] = (uint8_t)(sector >> (8 * i));
	assert_int_equal(EVP_EncryptUpdate(c2, t, &n, t, 16), 1);
	for (size_t off = 0; off < len; off += 16) {
		for (int i = 0; i < 16; i++)
			x[i] = in[off + i] ^ t[i];
		assert_int_equal(EVP_EncryptUpdate(c1, x, &n, x, 16), 1);
		for (int i = 0; i < 16; i++)
			out[off + i] = x[i] ^ t[i];
		uint8_t carry = 0;
		for (int i = 0; i < 16; i++) {
			uint8_t next = t[i] >> 7;
			t[i] = (uint8_t)(t[i] << 1) | carry;
			carry = next;
		}
		if (carry)
			t[0] ^= 0x87;
	}
	EVP_CIPHER_CTX_free(c1);
	EVP_CIPHER_CTX_free(c2);
}

static void test_xts_reference(void **state)
{
	struct blob_fx *fx = *state;
	blob_key *k = key_of(3);
	struct blob_xts x;
	uint8_t dk[32], ovl[32], want_key[64];
	uint8_t *p = malloc(3 * BLOB_XTS_SECTOR), *c = malloc(3 * BLOB_XTS_SECTOR), *ref = malloc(BLOB_XTS_SECTOR);
	const uint64_t sector = 0x0123456789ull;

	for (int i = 0; i < 32; i++)
		dk[i] = (uint8_t)(3 * 37 + i);
	mac(ovl, 32, dk, 32, "imgfs overlay key v1", 20);
	mac(want_key, 64, ovl, 32, "overlay d42", 11);
	assert_int_equal(blob_key_xts(k, "d42", &x), 0);
	assert_memory_equal(x.key, want_key, 64);
	fx_fill(fx, p, 3 * BLOB_XTS_SECTOR);
	memcpy(c, p, 3 * BLOB_XTS_SECTOR);
	assert_int_equal(blob_xts_crypt(&x, c, 3, sector, true), 0);
	for (int s = 0; s < 3; s++) {
		xts_reference(x.key, sector + (uint64_t)s, p + s * BLOB_XTS_SECTOR, ref, BLOB_XTS_SECTOR);
		assert_bytes_equal(c + s * BLOB_XTS_SECTOR, ref, BLOB_XTS_SECTOR);
	}
	/* Back, with a zero sector among them: zeros stay zeros. */
	memset(c + BLOB_XTS_SECTOR, 0, BLOB_XTS_SECTOR);
	assert_int_equal(blob_xts_crypt(&x, c, 3, sector, false), 0);
	assert_bytes_equal(c, p, BLOB_XTS_SECTOR);
	assert_true(blob_is_zero(c + BLOB_XTS_SECTOR, BLOB_XTS_SECTOR));
	assert_bytes_equal(c + 2 * BLOB_XTS_SECTOR, p + 2 * BLOB_XTS_SECTOR, BLOB_XTS_SECTOR);
	/* Another wblob's keys are others. */
	struct blob_xts y;
	assert_int_equal(blob_key_xts(k, "d43", &y), 0);
	assert_true(memcmp(x.key, y.key, 64) != 0);
	blob_key_unref(k);
	free(p);
	free(c);
	free(ref);
}

/* ---- sealed blobs in the store --------------------------------------------------- */

#define BLOB_LEN (6 * MiB + 12345)

static void test_blob_round_trip(void **state)
{
	struct blob_fx *fx = *state;
	blob_key *k = key_of(4);
	uint8_t *data = fx_make_blob(fx, BLOB_LEN, 20), *got = malloc(BLOB_LEN);
	blob_manifest *m = NULL, *plain = NULL;
	blob_store *other = NULL;
	int before;

	memset(data, 0, MiB); /* chunk 0: a hole however sealed */
	fx_fill(fx, data + MiB, MiB);
	assert_int_equal(blob_store_put_buf_key(fx->s, k, &m, data, BLOB_LEN), 0);
	assert_true(m->key == k);
	assert_null(blob_manifest_get(m, 0));
	assert_int_equal(blob_store_read(fx->s, m, got, BLOB_LEN, 0), BLOB_LEN);
	assert_bytes_equal(got, data, BLOB_LEN);
	/* Pieces, across chunks. */
	assert_int_equal(blob_store_read(fx->s, m, got, 3 * MiB, MiB - 7), 3 * MiB);
	assert_bytes_equal(got, data + MiB - 7, 3 * MiB);
	/* Nothing stored holds its bytes; the same blob stored plain in
	 * another store does (so the scan finds plaintext when it is there). */
	assert_int_equal(store_holds_plain(fx->s, data + MiB, MiB), 0);
	assert_int_equal(fx_open_store(fx, &other, "plain", fx->secret), 0);
	assert_int_equal(blob_store_put_buf(other, &plain, data, BLOB_LEN), 0);
	assert_true(store_holds_plain(other, data + MiB, MiB) > 0);
	/* Ids differ from the plain ones: no plaintext hash is stored. */
	for (uint32_t i = 0; i < m->count; i++)
		for (uint32_t j = 0; j < plain->count; j++)
			assert_false(chunk_id_equal(&m->id[i], &plain->id[j]));
	/* The same blob again under the same key: nothing new; under
	 * another key: every data chunk new. */
	before = fx_nchunks(fx);
	blob_manifest *again = NULL, *other_key = NULL;
	blob_key *k2 = key_of(5);
	assert_int_equal(blob_store_put_buf_key(fx->s, k, &again, data, BLOB_LEN), 0);
	assert_int_equal(fx_nchunks(fx), before);
	assert_int_equal(blob_store_put_buf_key(fx->s, k2, &other_key, data, BLOB_LEN), 0);
	assert_int_equal(fx_nchunks(fx), before + (int)m->count);
	/* The whole-blob digests read the plaintext. */
	char h1[33], h2[33];
	assert_int_equal(blob_store_hash_blob(fx->s, m, h1), 0);
	assert_int_equal(blob_store_hash_blob(other, plain, h2), 0);
	assert_string_equal(h1, h2);
	char s1[65], s2[65];
	assert_int_equal(blob_store_sha256(fx->s, m, s1, NULL, NULL), 0);
	assert_int_equal(blob_store_sha256(other, plain, s2, NULL, NULL), 0);
	assert_string_equal(s1, s2);
	/* The store verifies what it holds without any key. */
	assert_int_equal(blob_store_verify_all(fx->s, false, NULL, NULL), 0);
	/* Stored objects: the chunk and 28 bytes (the padding of its direct
	 * write cut off again). */
	if (!fx_rados(fx)) {
		char path[256];
		struct stat st;
		fx_chunk_path(path, sizeof path, fx->store, blob_manifest_get(m, 1));
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_size, MiB + BLOB_SEAL_OVERHEAD);
	}
	blob_manifest_free(m);
	blob_manifest_free(plain);
	blob_manifest_free(again);
	blob_manifest_free(other_key);
	blob_store_close(other);
	blob_key_unref(k);
	blob_key_unref(k2);
	free(data);
	free(got);
}

/* A changed byte is EIO, wherever it is; another key is EIO; a chunk read
 * under one key is not served, from the cache, to a reader of another. */
static void test_tamper_and_wrong_key(void **state)
{
	struct blob_fx *fx = *state;
	blob_key *k = key_of(6), *wrong = key_of(7);
	uint8_t *data = malloc(2 * MiB), *got = malloc(2 * MiB), *obj = blob_chunk_buf_new();
	blob_manifest *m = NULL;
	size_t len = 0;
	chunk_id bad;

	fx_fill(fx, data, 2 * MiB);
	assert_int_equal(blob_store_put_buf_key(fx->s, k, &m, data, 2 * MiB), 0);
	assert_int_equal(blob_store_read(fx->s, m, got, 2 * MiB, 0), 2 * MiB);
	/* The wrong key, after the right one filled the cache. */
	blob_manifest_set_key(m, wrong);
	assert_int_equal(blob_store_read(fx->s, m, got, 4096, 0), -EIO);
	uint32_t at = 9;
	assert_int_equal(blob_store_read_judged(fx->s, m, got, 4096, MiB, &at), -EUCLEAN); /* its tag */
	assert_int_equal(at, 1);
	const void *p;
	blob_pin *pin;
	assert_int_equal(blob_store_read_pinned(fx->s, m, 0, 4096, &p, &pin), -EIO);
	blob_manifest_set_key(m, NULL); /* plain: the object's own bytes, not the chunk */
	assert_int_equal(blob_store_read(fx->s, m, got, 4096, 0), -EIO); /* its length is not the manifest's */
	blob_manifest_set_key(m, k);
	/* An object changed under the same id (of a blob nobody read yet: the
	 * cache would answer): its hash refuses it. */
	blob_manifest *fresh = NULL;
	fx_fill(fx, data, 2 * MiB);
	assert_int_equal(blob_store_put_buf_key(fx->s, k, &fresh, data, 2 * MiB), 0);
	fx_corrupt(fx, &fresh->id[1], MiB / 3);
	assert_int_equal(blob_store_read(fx->s, fresh, got, 4096, MiB), -EIO);
	assert_int_equal(blob_store_read(fx->s, fresh, got, 4096, 0), 4096);
	assert_bytes_equal(got, data, 4096);
	blob_manifest_free(fresh);
	/* Changed bytes stored under their own (right) hash: the tag refuses
	 * them — in the ciphertext, the tag and the nonce alike. */
	static const size_t where[] = {BLOB_SEAL_NONCE + 5, MiB + BLOB_SEAL_NONCE + 3, 2};
	for (size_t w = 0; w < sizeof where / sizeof where[0]; w++) {
		assert_int_equal(fx->s->be->get(fx->s->be, &m->id[0], obj, BLOB_OBJ_MAX, &len), 0);
		obj[where[w]] ^= 0x01;
		blob_store_chunk_id(fx->s, &bad, obj, len);
		assert_true(fx->s->be->put(fx->s->be, &bad, obj, len, NULL) >= 0);
		blob_manifest *t = NULL;
		assert_int_equal(blob_manifest_new(&t, MiB), 0);
		assert_int_equal(blob_manifest_set(t, 0, &bad), 0);
		blob_manifest_set_key(t, k);
		assert_int_equal(blob_store_read(fx->s, t, got, MiB, 0), -EIO);
		at = 9;
		assert_int_equal(blob_store_read_judged(fx->s, t, got, MiB, 0, &at), -EUCLEAN); /* a verdict */
		assert_int_equal(at, 0);
		char hex[65];
		assert_int_equal(blob_store_sha256(fx->s, t, hex, NULL, NULL), -EIO);
		blob_manifest_free(t);
	}
	blob_manifest_free(m);
	blob_key_unref(k);
	blob_key_unref(wrong);
	free(data);
	free(got);
	free(obj);
}

/* Copies between stores move the sealed objects by id, keyless; the
 * target reads them under the key. */
static void test_copy_keyless(void **state)
{
	struct blob_fx *fx = *state;
	blob_key *k = key_of(8);
	uint8_t *data = fx_make_blob(fx, 5 * MiB, 0), *got = malloc(5 * MiB);
	blob_manifest *m = NULL;
	blob_store *dst = NULL;
	blob_batch *b = NULL;

	assert_int_equal(blob_store_put_buf_key(fx->s, k, &m, data, 5 * MiB), 0);
	assert_int_equal(fx_open_store(fx, &dst, "copy", fx->secret), 0);
	assert_int_equal(blob_batch_new(&b, dst), 0);
	assert_int_equal(blob_batch_copy_many(b, fx->s, m->id, m->count, NULL), (int)m->count);
	assert_true(blob_batch_commit(b) >= 0);
	blob_batch_free(b);
	assert_int_equal(blob_store_read(dst, m, got, 5 * MiB, 0), 5 * MiB);
	assert_bytes_equal(got, data, 5 * MiB);
	assert_int_equal(store_holds_plain(dst, data, MiB), 0);
	blob_manifest_free(m);
	blob_store_close(dst);
	blob_key_unref(k);
	free(data);
	free(got);
}

/* ---- writable blobs under a key --------------------------------------------------- */

#define WB_MAX (7 * MiB)

static void wb_dir(struct blob_fx *fx, char *out, size_t cap)
{
	snprintf(out, cap, "%s/wblobs", fx->store);
}

/* An encrypted overlay lost or cut outside imgfs is EIO as a plain one
 * is (issue 36): at open below a written chunk, and under an open wblob
 * at a read of a sector it no longer holds (never zeros). */
static void test_wblob_lost_overlay(void **state)
{
	struct blob_fx *fx = *state;
	blob_key *k = key_of(11);
	uint8_t *buf = malloc(MiB), *got = malloc(MiB);
	blob_wblob *w = NULL;
	char path[256];

	assert_non_null(buf);
	assert_non_null(got);
	fx_fill(fx, buf, MiB);
	assert_int_equal(blob_wblob_create(fx->s, "lost", NULL, 8 * MiB), 0);
	assert_int_equal(blob_wblob_open_key(&w, fx->s, "lost", k), 0);
	assert_int_equal(blob_wblob_pwrite(w, buf, MiB, 2 * MiB + 512), (ssize_t)MiB);
	snprintf(path, sizeof path, "%s/wblobs/lost.data", fx->store);
	assert_int_equal(truncate(path, 2 * MiB + 8192), 0);
	assert_int_equal(blob_wblob_pread(w, got, 4096, 2 * MiB + 512), 4096); /* what is left reads */
	assert_bytes_equal(got, buf, 4096);
	assert_int_equal(blob_wblob_pread(w, got, MiB, 2 * MiB + 512), -EIO);
	blob_wblob_close(w);
	w = NULL;
	assert_int_equal(truncate(path, 2 * MiB), 0);
	assert_int_equal(blob_wblob_open_key(&w, fx->s, "lost", k), -EIO);
	assert_null(w);
	blob_key_unref(k);
	free(buf);
	free(got);
}

/* Random writes (any offset and length), punches and size changes over a
 * sealed base, against a byte array; reopened; no plaintext in the overlay
 * files, where a plain wblob's do hold it; sealed under its key and under
 * another. */
static void test_wblob_random(void **state)
{
	struct blob_fx *fx = *state;
	blob_key *k = key_of(9), *k2 = key_of(10);
	uint8_t *ref = calloc(1, WB_MAX + MiB), *buf = malloc(2 * MiB), *base = fx_make_blob(fx, 3 * MiB, 0);
	uint8_t *marker = malloc(MiB);
	blob_manifest *bm = NULL, *sealed = NULL, *resealed = NULL;
	blob_wblob *w = NULL;
	uint64_t size = 3 * MiB + 777;
	char dir[256];

	fx_fill(fx, marker, MiB);
	assert_int_equal(blob_store_put_buf_key(fx->s, k, &bm, base, 3 * MiB), 0);
	memcpy(ref, base, 3 * MiB);
	assert_int_equal(blob_wblob_create(fx->s, "enc", bm, size), 0);
	assert_int_equal(blob_wblob_open_key(&w, fx->s, "enc", k), 0);
	assert_true(blob_wblob_key(w) == k);
	check_bytes(w, ref, size);
	/* A known pattern written whole, then random operations. */
	assert_int_equal(blob_wblob_pwrite(w, marker, MiB, 4 * MiB + 100), (ssize_t)MiB);
	if (4 * MiB + 100 + MiB > size)
		size = 4 * MiB + 100 + MiB;
	memcpy(ref + 4 * MiB + 100, marker, MiB);
	for (int op = 0; op < 300; op++) {
		uint64_t off = fx_below(fx, WB_MAX), len = 1 + fx_below(fx, op % 3 ? 9000 : 2 * MiB);
		int what = (int)fx_below(fx, 10);
		if (off + len > WB_MAX)
			len = WB_MAX - off;
		if (len == 0)
			continue;
		if (what < 6) {
			fx_fill(fx, buf, len);
			if (fx_below(fx, 5) == 0)
				memset(buf, 0, len); /* zeros written: a sector of zeros */
			assert_int_equal(blob_wblob_pwrite(w, buf, len, off), (ssize_t)len);
			memcpy(ref + off, buf, len);
			if (off + len > size)
				size = off + len;
		} else if (what < 8) {
			assert_int_equal(blob_wblob_punch(w, off, len), 0);
			if (off < size)
				memset(ref + off, 0, (off + len < size ? off + len : size) - off);
		} else {
			uint64_t to = fx_below(fx, WB_MAX);
			assert_int_equal(blob_wblob_truncate(w, to), 0);
			if (to < size)
				memset(ref + to, 0, size - to);
			size = to;
		}
		if (op % 25 == 0)
			check_bytes(w, ref, size);
	}
	check_bytes(w, ref, size);
	/* Whatever is left of the marker, and of everything else written,
	 * is not in the overlay files. */
	assert_int_equal(blob_wblob_fsync(w), 0);
	blob_wblob_close(w);
	wb_dir(fx, dir, sizeof dir);
	assert_false(dir_holds_plain(dir, marker, MiB));
	assert_int_equal(blob_wblob_open_key(&w, fx->s, "enc", k), 0);
	check_bytes(w, ref, size);
	/* The marker again, whole, and the whole overlay scanned for it. */
	assert_int_equal(blob_wblob_pwrite(w, marker, MiB, 100), (ssize_t)MiB);
	memcpy(ref + 100, marker, MiB);
	if (size < 100 + MiB)
		size = 100 + MiB;
	assert_false(dir_holds_plain(dir, marker, MiB));
	/* Sealed: under its key, then under another (every chunk again). */
	assert_int_equal(blob_wblob_seal(w, &sealed), 0);
	assert_true(sealed->key == k);
	uint8_t *got = malloc(size);
	assert_int_equal(blob_store_read(fx->s, sealed, got, size, 0), (ssize_t)size);
	assert_bytes_equal(got, ref, size);
	assert_int_equal(blob_wblob_seal_key(w, k2, &resealed, NULL, NULL), 0);
	assert_int_equal(blob_store_read(fx->s, resealed, got, size, 0), (ssize_t)size);
	assert_bytes_equal(got, ref, size);
	for (uint32_t i = 0; i < sealed->count; i++)
		for (uint32_t j = 0; j < resealed->count; j++)
			assert_false(chunk_id_equal(&sealed->id[i], &resealed->id[j]));
	assert_int_equal(store_holds_plain(fx->s, marker, MiB), 0);
	blob_wblob_close(w);
	free(got);

	/* The control: a plain wblob's overlay holds what was written. */
	assert_int_equal(blob_wblob_create(fx->s, "plain", NULL, 2 * MiB), 0);
	assert_int_equal(blob_wblob_open(&w, fx->s, "plain"), 0);
	assert_int_equal(blob_wblob_pwrite(w, marker, MiB, 4096), (ssize_t)MiB);
	blob_wblob_close(w);
	assert_true(dir_holds_plain(dir, marker, MiB));
	blob_manifest_free(bm);
	blob_manifest_free(sealed);
	blob_manifest_free(resealed);
	blob_key_unref(k);
	blob_key_unref(k2);
	free(ref);
	free(buf);
	free(base);
	free(marker);
}

/* An upload under a key, written in pieces of `piece` bytes: whole chunks
 * streamed (sealed beside the writes that follow), a short tail in the
 * overlay; read back while written, after the fsync and by another handle;
 * nothing plain anywhere; every whole data chunk sealed beside the writes
 * (counted); sealed as it is.  Over 64 chunks (on the local store): the pending
 * list grows and is compacted (each growth of the size compacts it) while
 * a chunk is being sealed. */
static void wblob_stream(struct blob_fx *fx, size_t piece)
{
	blob_key *k = key_of(11);
	/* On RADOS a few chunks: what differs there is the store, not the list. */
	const uint64_t len = (fx_rados(fx) ? 6 : 66) * MiB + 3000;
	uint8_t *data = fx_make_blob(fx, len, 10), *got = malloc(len);
	blob_manifest *m = NULL;
	blob_wblob *w = NULL, *w2 = NULL;
	char dir[256];

	fx_fill(fx, data + 2 * MiB, MiB);
	fx_fill(fx, data + len - 3000, 3000);
	assert_int_equal(blob_wblob_create(fx->s, "up", NULL, 0), 0);
	assert_int_equal(blob_wblob_open_key(&w, fx->s, "up", k), 0);
	blob_wblob_stream(w);
	for (uint64_t off = 0; off < len;) {
		size_t n = (size_t)(len - off < piece ? len - off : piece);
		assert_int_equal(blob_wblob_pwrite(w, data + off, n, off), (ssize_t)n);
		off += n;
		if (off >= 3 * MiB && off - n < 3 * MiB) { /* chunk 2 sealed or being sealed: its bytes */
			check_bytes(w, data, off);
			/* Held in memory by the streamer, it is data all the same. */
			assert_int_equal(blob_wblob_seek(w, 2 * MiB, SEEK_DATA), (int64_t)(2 * MiB));
			assert_int_equal(blob_wblob_seek(w, 2 * MiB, SEEK_HOLE), (int64_t)blob_wblob_size(w));
		}
	}
	assert_int_equal(blob_wblob_fsync(w), 0);
	check_bytes(w, data, len);
	/* Every whole data chunk was sealed beside the writes (zero chunks
	 * are holes, the short tail goes to the overlay). */
	uint64_t beside = 0;
	for (uint64_t c = 0; c < len / MiB; c++)
		beside += !blob_is_zero(data + c * MiB, MiB);
	assert_int_equal(blob_wblob_sealed_beside(w), beside);
	assert_int_equal(blob_wblob_open_key(&w2, fx->s, "up", k), 0);
	check_bytes(w2, data, len);
	blob_wblob_close(w2);
	wb_dir(fx, dir, sizeof dir);
	assert_false(dir_holds_plain(dir, data + 2 * MiB, MiB));
	assert_false(dir_holds_plain(dir, data + len - 3000, 3000));
	assert_int_equal(store_holds_plain(fx->s, data + 2 * MiB, MiB), 0);
	assert_int_equal(blob_wblob_seal(w, &m), 0);
	assert_int_equal(blob_store_read(fx->s, m, got, len, 0), (ssize_t)len);
	assert_bytes_equal(got, data, len);
	blob_wblob_close(w);
	blob_manifest_free(m);
	blob_key_unref(k);
	free(data);
	free(got);
}

/* cp's pieces, unaligned: whole chunks made in the stage. */
static void test_wblob_stream(void **state)
{
	wblob_stream(*state, 131072 + 17);
}

/* dd bs=1M: every write a whole chunk. */
static void test_wblob_stream_whole(void **state)
{
	wblob_stream(*state, MiB);
}

/* Copies by reference take ids inside a key only: across keys (or plain
 * and sealed) EXDEV, so the caller copies bytes, sealed under its key. */
static void test_share_inside_key(void **state)
{
	struct blob_fx *fx = *state;
	blob_key *k = key_of(12), *other = key_of(13);
	uint8_t *data = fx_make_blob(fx, 4 * MiB, 0), *got = malloc(4 * MiB);
	blob_manifest *src = NULL, *plain = NULL;
	blob_wblob *w = NULL, *p = NULL, *o = NULL;
	struct blob_share_counts c;
	int before;

	assert_int_equal(blob_store_put_buf_key(fx->s, k, &src, data, 4 * MiB), 0);
	assert_int_equal(blob_store_put_buf(fx->s, &plain, data, 4 * MiB), 0);
	assert_int_equal(blob_wblob_create(fx->s, "same", NULL, 0), 0);
	assert_int_equal(blob_wblob_create(fx->s, "plainw", NULL, 0), 0);
	assert_int_equal(blob_wblob_create(fx->s, "otherw", NULL, 0), 0);
	assert_int_equal(blob_wblob_open_key(&w, fx->s, "same", k), 0);
	assert_int_equal(blob_wblob_open(&p, fx->s, "plainw"), 0);
	assert_int_equal(blob_wblob_open_key(&o, fx->s, "otherw", other), 0);
	assert_int_equal(blob_wblob_share_check(w, fx->s, src), 0);
	assert_int_equal(blob_wblob_share_check(p, fx->s, src), -EXDEV);
	assert_int_equal(blob_wblob_share_check(o, fx->s, src), -EXDEV);
	assert_int_equal(blob_wblob_share_check(w, fx->s, plain), -EXDEV);
	assert_int_equal(blob_wblob_share(o, fx->s, src, 0, 0, 4 * MiB, &c), -EXDEV);
	assert_int_equal(blob_wblob_share(p, fx->s, src, 0, 0, 4 * MiB, &c), -EXDEV);
	before = fx_nchunks(fx);
	assert_int_equal(blob_wblob_share(w, fx->s, src, 0, 0, 4 * MiB, &c), (ssize_t)(4 * MiB));
	assert_int_equal(c.by_id, 4 * MiB);
	assert_int_equal(c.by_bytes, 0);
	assert_int_equal(fx_nchunks(fx), before);
	check_bytes(w, data, 4 * MiB);
	/* Unaligned: bytes, sealed under the disk's key. */
	assert_int_equal(blob_wblob_share(w, fx->s, src, 100, MiB + 50, 2 * MiB, &c), (ssize_t)(2 * MiB));
	assert_true(c.by_bytes > 0);
	assert_int_equal(blob_wblob_pread(w, got, 2 * MiB, MiB + 50), (ssize_t)(2 * MiB));
	assert_bytes_equal(got, data + 100, 2 * MiB);
	blob_wblob_close(w);
	blob_wblob_close(p);
	blob_wblob_close(o);
	blob_manifest_free(src);
	blob_manifest_free(plain);
	blob_key_unref(k);
	blob_key_unref(other);
	free(data);
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_gcm_known_answer, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_chunk_format, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_seal_deterministic, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_xts_reference, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_blob_round_trip, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_tamper_and_wrong_key, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_copy_keyless, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_wblob_random, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_wblob_lost_overlay, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_wblob_stream, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_wblob_stream_whole, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_share_inside_key, blob_fx_setup, blob_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
