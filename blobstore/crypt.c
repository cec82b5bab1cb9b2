/*
 * crypt.c — the chunks and overlays of encrypted blobs (SPEC §17): a key
 * context per data key (blob_key), each chunk sealed whole with
 * AES-256-GCM under a nonce derived from its bytes, each writable blob's
 * overlay encrypted with AES-256-XTS by 4 KiB sector.  docs/design.md,
 * "Encrypted images", argues the construction and says what it leaks.
 *
 * Who calls it: the store's readers and writers (cache.c, read.c, batch.c,
 * wblob*.c) through the internal functions of blobstore_int.h; model/
 * makes the key contexts (blob_key_new) from the data keys it unwraps and
 * hands them to the store with each blob (a manifest's key, a wblob's,
 * a batch's).  A blob_key is immutable once made and shared by any number
 * of threads (its reference count is atomic).  libcrypto's EVP interface
 * does the work (AES-NI and PCLMULQDQ where the CPU has them); a cipher
 * context is made per call: a chunk is a megabyte, a sector 4 KiB, and the
 * context costs a microsecond or two.
 *
 * Keys, all derived from the 32-byte data key dk (HMAC-SHA256(dk, label),
 * the expand step of HKDF with a uniformly random key):
 *   enc   "imgfs chunk key v1"      AES-256-GCM key of chunks
 *   nh    "imgfs nonce hash v2"     AES-256 key of the nonces' GMAC
 *   np    "imgfs nonce prp v2"      AES-256 key the GMAC is enciphered under
 *   ovl   "imgfs overlay key v1"    from which each wblob's XTS keys come:
 *         HMAC-SHA512(ovl, "overlay " NAME), 64 bytes (key 1, key 2)
 *   fp    "imgfs key identity v1"   the key's identity (16 bytes): which
 *         chunk cache entries are whose, whether two blobs share a key
 *
 * A sealed chunk (a stored object: BLOB_SEAL_OVERHEAD bytes more than the
 * plaintext P):
 *   nonce  12 bytes   AES-256(np, GMAC(nh, 0^96, P)), first 12 bytes
 *   C      |P| bytes  AES-256-GCM(enc, nonce, P), no associated data
 *   tag    16 bytes   GCM's tag
 * Equal plaintexts under one key make equal objects (so a lineage
 * deduplicates), different ones different nonces with overwhelming
 * probability (the nonce is a PRF of the bytes): GCM's one rule, never a
 * nonce twice for two messages, holds without a counter anywhere.
 *
 * The nonce's PRF is a universal hash enciphered by a block cipher, the
 * synthetic IV of AES-GCM-SIV (RFC 8452, which Debian 12's libcrypto
 * lacks): GMAC under a fixed nonce is GHASH_H(P) masked by a constant,
 * GHASH is (l+1)/2^128-almost-universal for l blocks, and AES under an
 * independent key over an almost-universal hash is a PRF up to
 * q^2 (l+1)/2^128 + q^2/2^129 for q chunks.  The GMAC alone is never
 * shown (it would give away H); it costs a fifth of an HMAC-SHA256 pass
 * (PCLMULQDQ: 7.9 against 1.8 GB/s here), which was the upload's largest
 * cost.  Chunks sealed under v1's nonce (HMAC-SHA256(siv, P), "imgfs
 * chunk nonce v1") open as any: the nonce is read, not recomputed; only
 * a v1 and a v2 chunk of equal bytes are two objects.  The
 * store names an object by the keyed XXH3-128 of its bytes, as any chunk
 * (store.c), so it verifies, copies, migrates and collects encrypted
 * chunks without a key; opening one checks the tag (-EIO on a mismatch:
 * a changed byte, or another key).
 *
 * An overlay sector (wblob.c): 4096 bytes at disk offset o, AES-256-XTS
 * with the wblob's keys and the tweak o / 4096 (little-endian, 16 bytes).
 * A sector whose ciphertext is all zeros is a sector of zeros: holes
 * punched in an overlay file, its sparse tail and a fresh file read as
 * zeros, as in a plain overlay; XTS never makes 4096 zero bytes of
 * anything but with probability 2^-32768.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "blobstore_int.h"
#include "imgfs_lock.h"

struct blob_key {
	atomic_uint refs;
	uint8_t enc[32];
	uint8_t nh[32];
	uint8_t np[32];
	uint8_t ovl[32];
	uint8_t fp[16];
};

/* HMAC-SHA256 (or -SHA512, wide) of label under key into out. */
static int kdf(uint8_t *out, size_t outlen, const uint8_t *key, size_t keylen, const void *label, size_t len)
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	const EVP_MD *md = outlen > 32 ? EVP_sha512() : EVP_sha256();

	if (HMAC(md, key, (int)keylen, label, len, mac, &n) == NULL || n < outlen)
		return -EIO;
	memcpy(out, mac, outlen);
	explicit_bzero(mac, sizeof mac);
	return 0;
}

#define LABEL(s) s, sizeof(s) - 1

int blob_key_new(blob_key **out, const uint8_t dk[BLOB_KEY_SIZE])
{
	blob_key *k = calloc(1, sizeof *k);
	uint8_t fp[32];
	int rc;

	if (k == NULL)
		return -ENOMEM;
	atomic_init(&k->refs, 1);
	if ((rc = kdf(k->enc, 32, dk, BLOB_KEY_SIZE, LABEL("imgfs chunk key v1"))) < 0 ||
	    (rc = kdf(k->nh, 32, dk, BLOB_KEY_SIZE, LABEL("imgfs nonce hash v2"))) < 0 ||
	    (rc = kdf(k->np, 32, dk, BLOB_KEY_SIZE, LABEL("imgfs nonce prp v2"))) < 0 ||
	    (rc = kdf(k->ovl, 32, dk, BLOB_KEY_SIZE, LABEL("imgfs overlay key v1"))) < 0 ||
	    (rc = kdf(fp, 32, dk, BLOB_KEY_SIZE, LABEL("imgfs key identity v1"))) < 0) {
		blob_key_unref(k);
		return rc;
	}
	memcpy(k->fp, fp, sizeof k->fp);
	*out = k;
	return 0;
}

blob_key *blob_key_ref(const blob_key *k)
{
	blob_key *w = (blob_key *)k; /* the count is the only thing that changes */

	if (w != NULL)
		atomic_fetch_add(&w->refs, 1);
	return w;
}

void blob_key_unref(const blob_key *k)
{
	blob_key *w = (blob_key *)k;

	if (w == NULL || atomic_fetch_sub(&w->refs, 1) != 1)
		return;
	explicit_bzero(w, sizeof *w);
	free(w);
}

bool blob_key_same(const blob_key *a, const blob_key *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return a == b || memcmp(a->fp, b->fp, sizeof a->fp) == 0;
}

void blob_key_fp(const blob_key *k, uint8_t out[16])
{
	if (k == NULL)
		memset(out, 0, 16);
	else
		memcpy(out, k->fp, 16);
}

/* ---- chunks ---------------------------------------------------------------- */

int blob_gcm_seal(const uint8_t key[32], const uint8_t nonce[BLOB_SEAL_NONCE], const void *aad, size_t aadlen,
                  const void *plain, size_t len, uint8_t *out, uint8_t tag[BLOB_SEAL_TAG])
{
	EVP_CIPHER_CTX *ctx;
	int outl = 0, fin = 0, rc = -EIO, n;

	if (len > INT32_MAX || aadlen > INT32_MAX)
		return -EINVAL;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -ENOMEM;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, BLOB_SEAL_NONCE, NULL) == 1 &&
	    EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) == 1 &&
	    (aadlen == 0 || EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aadlen) == 1) &&
	    EVP_EncryptUpdate(ctx, out, &outl, plain, (int)len) == 1 && EVP_EncryptFinal_ex(ctx, out + outl, &fin) == 1 &&
	    (size_t)(outl + fin) == len && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, BLOB_SEAL_TAG, tag) == 1)
		rc = 0;
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int blob_gcm_open(const uint8_t key[32], const uint8_t nonce[BLOB_SEAL_NONCE], const void *aad, size_t aadlen,
                  uint8_t *buf, size_t len, const uint8_t tag[BLOB_SEAL_TAG])
{
	EVP_CIPHER_CTX *ctx;
	int outl = 0, fin = 0, rc = -EIO, n;

	if (len > INT32_MAX || aadlen > INT32_MAX)
		return -EINVAL;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -ENOMEM;
	/* In place: GCM (a stream mode) allows out == in exactly.  The tag
	 * is given before the final step, which checks it. */
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, BLOB_SEAL_NONCE, NULL) == 1 &&
	    EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) == 1 &&
	    (aadlen == 0 || EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aadlen) == 1) &&
	    EVP_DecryptUpdate(ctx, buf, &outl, buf, (int)len) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, BLOB_SEAL_TAG, (void *)tag) == 1 &&
	    EVP_DecryptFinal_ex(ctx, buf + outl, &fin) == 1 && (size_t)(outl + fin) == len)
		rc = 0;
	EVP_CIPHER_CTX_free(ctx);
	if (rc < 0) /* nothing of a message that does not verify is shown */
		explicit_bzero(buf, len);
	return rc;
}

/* The chunk's nonce (see the header): AES-256(np, GMAC(nh, 0^96, P)). */
static int chunk_nonce(const blob_key *k, uint8_t out[BLOB_SEAL_NONCE], const void *plain, size_t len)
{
	static const uint8_t zero_nonce[BLOB_SEAL_NONCE];
	uint8_t gmac[16], block[16 + 16];
	EVP_CIPHER_CTX *ctx;
	int n = 0, rc = -EIO;

	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -ENOMEM;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->nh, zero_nonce) == 1 &&
	    EVP_EncryptUpdate(ctx, NULL, &n, plain, (int)len) == 1 && EVP_EncryptFinal_ex(ctx, block, &n) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, sizeof gmac, gmac) == 1 &&
	    EVP_CIPHER_CTX_reset(ctx) == 1 && EVP_EncryptInit_ex(ctx, EVP_aes_256_ecb(), NULL, k->np, NULL) == 1 &&
	    EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 && EVP_EncryptUpdate(ctx, block, &n, gmac, sizeof gmac) == 1 &&
	    n == 16) {
		memcpy(out, block, BLOB_SEAL_NONCE);
		rc = 0;
	}
	EVP_CIPHER_CTX_free(ctx);
	explicit_bzero(gmac, sizeof gmac);
	return rc;
}

int blob_key_seal(const blob_key *k, uint8_t *out, const void *plain, size_t len)
{
	int rc;

	if (len > BLOB_CHUNK_SIZE)
		return -EINVAL;
	if ((rc = chunk_nonce(k, out, plain, len)) < 0)
		return rc;
	if ((rc = blob_gcm_seal(k->enc, out, NULL, 0, plain, len, out + BLOB_SEAL_NONCE, out + BLOB_SEAL_NONCE + len)) < 0)
		return rc;
	return (int)(len + BLOB_SEAL_OVERHEAD);
}

int blob_key_open(const blob_key *k, uint8_t *obj, size_t len, size_t *plain_len)
{
	size_t clen;
	int rc;

	if (len < BLOB_SEAL_OVERHEAD || len > BLOB_OBJ_MAX)
		return -EIO;
	clen = len - BLOB_SEAL_OVERHEAD;
	if ((rc = blob_gcm_open(k->enc, obj, NULL, 0, obj + BLOB_SEAL_NONCE, clen, obj + BLOB_SEAL_NONCE + clen)) < 0)
		return rc == -EINVAL ? -EIO : rc;
	*plain_len = clen;
	return 0;
}

/* ---- a seal beside the caller ---------------------------------------------- */

struct blob_sealer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a job given, a job done, the end */
	bool busy, quit;
	const blob_key *k;
	uint8_t *obj;
	const uint8_t *plain;
	size_t len;
	int rc;
};
IMGFS_LOCK_LEVEL(blob_sealer_lock, 50); /* a leaf */

static void *sealer_main(void *arg)
{
	blob_sealer *s = arg;

	IMGFS_LOCK(&s->lock, blob_sealer_lock);
	for (;;) {
		while (!s->busy && !s->quit)
			IMGFS_COND_WAIT(&s->cond, &s->lock, blob_sealer_lock);
		if (!s->busy)
			break; /* quit, and no job left */
		IMGFS_UNLOCK(&s->lock, blob_sealer_lock);
		int rc = blob_key_seal(s->k, s->obj, s->plain, s->len);
		IMGFS_LOCK(&s->lock, blob_sealer_lock);
		s->rc = rc;
		s->busy = false;
		pthread_cond_broadcast(&s->cond);
	}
	IMGFS_UNLOCK(&s->lock, blob_sealer_lock);
	return NULL;
}

int blob_sealer_new(blob_sealer **out)
{
	blob_sealer *s = calloc(1, sizeof *s);
	int rc;

	if (s == NULL)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	if ((rc = pthread_create(&s->thread, NULL, sealer_main, s)) != 0) {
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return -rc;
	}
	*out = s;
	return 0;
}

void blob_sealer_start(blob_sealer *s, const blob_key *k, uint8_t *obj, const uint8_t *plain, size_t len)
{
	IMGFS_LOCK(&s->lock, blob_sealer_lock);
	s->k = k;
	s->obj = obj;
	s->plain = plain;
	s->len = len;
	s->rc = 0;
	s->busy = true;
	pthread_cond_broadcast(&s->cond);
	IMGFS_UNLOCK(&s->lock, blob_sealer_lock);
}

int blob_sealer_wait(blob_sealer *s)
{
	int rc;

	IMGFS_LOCK(&s->lock, blob_sealer_lock);
	while (s->busy)
		IMGFS_COND_WAIT(&s->cond, &s->lock, blob_sealer_lock);
	rc = s->rc;
	IMGFS_UNLOCK(&s->lock, blob_sealer_lock);
	return rc;
}

void blob_sealer_free(blob_sealer *s)
{
	if (s == NULL)
		return;
	IMGFS_LOCK(&s->lock, blob_sealer_lock);
	s->quit = true;
	pthread_cond_broadcast(&s->cond);
	IMGFS_UNLOCK(&s->lock, blob_sealer_lock);
	pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* ---- overlay sectors ---------------------------------------------------------- */

int blob_key_xts(const blob_key *k, const char *name, struct blob_xts *out)
{
	char label[96];
	int n = snprintf(label, sizeof label, "overlay %s", name);

	if (n < 0 || (size_t)n >= sizeof label)
		return -EINVAL;
	if (kdf(out->key, sizeof out->key, k->ovl, sizeof k->ovl, label, (size_t)n) < 0)
		return -EIO;
	/* XTS refuses two equal halves (OpenSSL checks): never from a PRF,
	 * but say so rather than fail later. */
	if (memcmp(out->key, out->key + 32, 32) == 0)
		return -EIO;
	return 0;
}

/* The 16-byte tweak of sector s: its number, little-endian. */
static void tweak(uint8_t iv[16], uint64_t s)
{
	memset(iv, 0, 16);
	blob_put_le64(iv, s);
}

int blob_xts_crypt(const struct blob_xts *x, uint8_t *buf, size_t nsectors, uint64_t sector, bool enc)
{
	EVP_CIPHER_CTX *ctx;
	uint8_t iv[16];
	int outl, rc = 0;

	if (nsectors == 0)
		return 0;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -ENOMEM;
	tweak(iv, sector);
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_xts(), NULL, x->key, iv, enc ? 1 : 0) != 1)
		rc = -EIO;
	for (size_t k = 0; k < nsectors && rc == 0; k++) {
		uint8_t *p = buf + k * BLOB_XTS_SECTOR;
		/* A zero sector stays one on both ways (see the top). */
		if (!enc && blob_is_zero(p, BLOB_XTS_SECTOR))
			continue;
		tweak(iv, sector + k);
		/* One data unit per call: the IV is its tweak. */
		if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, -1) != 1 ||
		    EVP_CipherUpdate(ctx, p, &outl, p, BLOB_XTS_SECTOR) != 1 || outl != BLOB_XTS_SECTOR)
			rc = -EIO;
	}
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}
