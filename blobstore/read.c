/*
 * read.c — reading immutable blobs: ranges, and the whole-blob hash.
 *
 * Who calls it: fs/ for read() on a sealed blob (disks/<device> of an
 * available image or a snapshot), model/ for the user.imgfs.xxh128 value
 * (its background checksum pass) and conversions (which decode a QCOW2 blob through blob_store_read).
 *
 * blob_store_read serves the kernel's 128 KiB .. 1 MiB requests, from many
 * threads: holes are zero-filled without touching the backend; data comes
 * from the store's verified-chunk cache (cache.c), so a sequential pass reads
 * and hashes every chunk once.  blob_store_read_pinned is the same read of
 * a range inside one data chunk without the copy: fs/ replies to the
 * kernel straight from the cache entry, which stays pinned meanwhile.  Any chunk that fails verification fails the
 * whole request with -EIO: a short count would let the kernel retry the rest,
 * and what it returned is always right, but an error is what the reader must
 * see (SPEC §11).  blob_store_read_judged is the same read telling a
 * chunk read and condemned (-EUCLEAN, naming it) from a read that failed:
 * an inspection's verdict (SPEC §20.2); everyone else gets EIO for both.
 *
 * A manifest sealed under a key (SPEC §17: m->key) is read through it:
 * each chunk opened as it is loaded (cache.c, blob_store_load_chunk), so
 * every reader here sees the plaintext and nothing else changes.
 *
 * blob_manifest_digest is the unkeyed XXH3-128 of the manifest's encoding
 * (the size and the data chunks' indexes and ids): a name of the content
 * (equal ids are equal bytes, §11) that costs no read and nothing per
 * hole, for HTTP validators (fs/serve/, ETag).
 *
 * Read-ahead, for backends that prefetch (RADOS: each chunk is a network
 * round trip, and one at a time reads a third of what several in flight
 * do).  When a chunk is not in the cache and the data chunk before it is
 * (ready or being loaded) — a sequential reader: the kernel's own
 * read-ahead asks for the next chunks from several threads at once — the
 * backend is told the next BLOB_READ_AHEAD data chunks not in the cache,
 * so they are on their way while this one is hashed and copied out.  A
 * random reader (qemu-img, a guest's base chunks) rarely has the chunk
 * before in the cache, so it costs no extra reads.  The local backend does
 * not prefetch: the kernel's page cache read-ahead does that job for files.
 *
 * blob_store_walk_bytes hands every byte of a blob, in order, holes as
 * zero runs, to a sink: blob_store_hash_blob's unkeyed XXH3-128 (printed
 * like `xxhsum -H2`, canonical big-endian hex), digest.c's SHA-256 and
 * both at once (blob_store_digests).  Being a hash of the bytes, it costs
 * CPU for every byte of the virtual size, holes included (3.3 s per 10 GiB
 * of zeros here: weeks for a 4 PiB disk), and memory for none: only
 * background work calls it (model/'s checksum pass, which bounds the holes
 * it hashes; `imgfs admin publish`), never a request thread.  It reads
 * every chunk once, verified, into its own buffer, bypassing the cache so a
 * hashing pass does not evict what readers are using; it hints the chunks
 * ahead as a sequential reader does.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "blobstore_int.h"
#include "xxh.h"

#define ZERO_FEED 65536

void blob_store_read_ahead(blob_store *s, const blob_manifest *m, uint32_t k, bool cached_too)
{
	chunk_id ahead[BLOB_READ_AHEAD];
	size_t n = 0;

	if (s->be->prefetch == NULL)
		return;
	for (uint32_t j = k + 1; j < m->count && n < BLOB_READ_AHEAD; j++)
		if (cached_too || !blob_cache_has(&s->cache, &m->id[j]))
			ahead[n++] = m->id[j];
	if (n > 0)
		s->be->prefetch(s->be, ahead, n);
}

/* Whether reading data entry k of m is part of a sequential pass that the
 * backend should be told about (see the top of the file). */
static bool read_is_sequential(blob_store *s, const blob_manifest *m, uint32_t k)
{
	if (s->be->prefetch == NULL || blob_cache_has(&s->cache, &m->id[k]))
		return false;
	/* The first data chunk of a blob: readers start there. */
	return k == 0 || blob_cache_has(&s->cache, &m->id[k - 1]);
}

/* blob_store_read, judged (blob_store_read_judged): -EUCLEAN with *bad
 * the chunk whose bytes were read and condemned. */
static ssize_t read_range(blob_store *s, const blob_manifest *m, void *buf, size_t len, uint64_t off, uint32_t *bad)
{
	size_t done = 0;
	uint32_t k; /* the first data entry not before the chunk being read */

	if (off >= m->size)
		return 0;
	if (len > m->size - off)
		len = (size_t)(m->size - off);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;

	k = blob_manifest_find(m, (uint32_t)(off >> BLOB_CHUNK_SHIFT));
	while (done < len) {
		uint64_t pos = off + done;
		uint32_t i = (uint32_t)(pos >> BLOB_CHUNK_SHIFT);
		size_t coff = (size_t)(pos & BLOB_CHUNK_MASK);
		size_t clen = blob_chunk_len(m->size, i);
		size_t n = clen - coff;
		uint8_t *dst = (uint8_t *)buf + done;
		int rc;

		if (n > len - done)
			n = len - done;
		if (k < m->count && m->index[k] < i)
			k++;
		if (k >= m->count || m->index[k] != i) {
			/* A hole up to the next data chunk: one step. */
			uint64_t end = k < m->count ? (uint64_t)m->index[k] << BLOB_CHUNK_SHIFT : m->size;
			size_t z = end - pos < len - done ? (size_t)(end - pos) : len - done;
			memset(dst, 0, z);
			done += z;
			continue;
		}
		bool seq = read_is_sequential(s, m, k);

		if (seq)
			blob_store_read_ahead(s, m, k, false);
		/* A sequential reader takes whole chunks (they are on their way). */
		if ((rc = blob_store_read_chunk_how(s, m->key, &m->id[k], clen, dst, coff, n, !seq)) < 0) {
			*bad = i;
			return rc;
		}
		done += n;
	}
	return (ssize_t)done;
}

ssize_t blob_store_read(blob_store *s, const blob_manifest *m, void *buf, size_t len, uint64_t off)
{
	uint32_t bad;
	ssize_t n = read_range(s, m, buf, len, off, &bad);
	return n == -EUCLEAN ? -EIO : n;
}

ssize_t blob_store_read_judged(blob_store *s, const blob_manifest *m, void *buf, size_t len, uint64_t off,
                               uint32_t *bad)
{
	return read_range(s, m, buf, len, off, bad);
}

ssize_t blob_store_read_pinned(blob_store *s, const blob_manifest *m, uint64_t off, size_t len, const void **p,
                               blob_pin **pin)
{
	struct blob_cache_ent *e;
	uint32_t i, k;
	size_t clen, coff;
	int rc;

	*p = NULL;
	*pin = NULL;
	if (off >= m->size || len == 0)
		return 0;
	if (len > m->size - off)
		len = (size_t)(m->size - off);
	i = (uint32_t)(off >> BLOB_CHUNK_SHIFT);
	coff = (size_t)(off & BLOB_CHUNK_MASK);
	clen = blob_chunk_len(m->size, i);
	k = blob_manifest_find(m, i);
	if (k >= m->count || m->index[k] != i || len > clen - coff)
		return 0;
	if (read_is_sequential(s, m, k))
		blob_store_read_ahead(s, m, k, false);
	if ((rc = blob_cache_pin(s, m->key, &m->id[k], clen, &e)) < 0 || e == NULL)
		return rc;
	*p = e->buf + e->off + coff;
	*pin = e;
	return (ssize_t)len;
}

void blob_store_unpin(blob_store *s, blob_pin *pin)
{
	if (pin != NULL)
		blob_cache_unpin(&s->cache, pin);
}

static void hex16(char out[33], const uint8_t b[16])
{
	chunk_id id;

	memcpy(id.b, b, 16);
	chunk_id_fmt(out, &id);
}

#define WALK_ZERO_STEP (64u << 20) /* a hole's zeros in pieces, the tick asked between them */

/* n zeros from pos on: a long hole (a 40 GiB blank disk, hashed at 0.55 s
 * per GiB) must not keep a stop waiting. */
static int walk_zeros(const struct blob_byte_sink *sink, uint64_t pos, uint64_t n)
{
	while (n > 0) {
		uint64_t k = n < WALK_ZERO_STEP ? n : WALK_ZERO_STEP;
		sink->zeros(sink->arg, k);
		pos += k;
		n -= k;
		if (sink->tick && sink->tick(sink->arg, pos) != 0)
			return -ECANCELED;
	}
	return 0;
}

int blob_store_walk_bytes(blob_store *s, const blob_manifest *m, uint64_t from, const struct blob_byte_sink *sink)
{
	uint8_t *buf;
	uint32_t k = 0, hint_at;
	uint64_t pos = from; /* bytes handed on so far */
	int rc = 0;

	if (from > m->size)
		return -EINVAL;
	/* The data chunks before from were handed on by an earlier walk; from
	 * is where its tick was (a chunk's end, or a place in a hole). */
	for (; k < m->count && ((uint64_t)m->index[k] << BLOB_CHUNK_SHIFT) < from; k++)
		if (((uint64_t)m->index[k] << BLOB_CHUNK_SHIFT) + blob_chunk_len(m->size, m->index[k]) > from)
			return -EINVAL;
	if ((buf = blob_chunk_buf_new()) == NULL)
		return -ENOMEM;
	for (hint_at = k; k < m->count && rc == 0; k++) {
		uint32_t i = m->index[k];
		size_t clen = blob_chunk_len(m->size, i);
		size_t len, off;

		if ((rc = walk_zeros(sink, pos, ((uint64_t)i << BLOB_CHUNK_SHIFT) - pos)) < 0)
			break;
		if (k >= hint_at) { /* half of what was hinted is read: the next */
			blob_store_read_ahead(s, m, k, true); /* it bypasses the cache */
			hint_at = k + BLOB_READ_AHEAD / 2;
		}
		if ((rc = blob_store_load_chunk(s, m->key, &m->id[k], &buf, &off, &len)) < 0)
			break;
		if (len != clen) {
			blob_store_log_chunk(s, &m->id[k], "length does not match the manifest");
			rc = -EIO;
			break;
		}
		sink->bytes(sink->arg, buf + off, len);
		pos = ((uint64_t)i << BLOB_CHUNK_SHIFT) + len;
		if (sink->tick && sink->tick(sink->arg, pos) != 0)
			rc = -ECANCELED;
	}
	if (rc == 0)
		rc = walk_zeros(sink, pos, m->size - pos);
	free(buf);
	return rc;
}

static void xxh_bytes(void *arg, const void *buf, size_t len)
{
	XXH3_128bits_update(arg, buf, len);
}

static void xxh_zeros(void *arg, uint64_t n)
{
	static const uint8_t zeros[ZERO_FEED];

	for (uint64_t fed = 0; fed < n; fed += ZERO_FEED)
		XXH3_128bits_update(arg, zeros, n - fed < ZERO_FEED ? (size_t)(n - fed) : ZERO_FEED);
}

int blob_store_hash_blob(blob_store *s, const blob_manifest *m, char out[33])
{
	XXH3_state_t *st = XXH3_createState();
	XXH128_canonical_t c;
	int rc;

	if (st == NULL)
		return -ENOMEM;
	if (XXH3_128bits_reset(st) != XXH_OK) {
		rc = -EINVAL;
		goto out;
	}
	struct blob_byte_sink sink = {.bytes = xxh_bytes, .zeros = xxh_zeros, .arg = st};
	if ((rc = blob_store_walk_bytes(s, m, 0, &sink)) < 0)
		goto out;
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
	hex16(out, c.digest);
out:
	XXH3_freeState(st);
	return rc;
}

void blob_manifest_digest(const blob_manifest *m, char out[33])
{
	XXH128_canonical_t c;
	void *enc = NULL;
	size_t len;

	if (blob_manifest_encode(&enc, &len, m) < 0) { /* no digest: a name no content has */
		memset(out, '0', 32);
		out[32] = '\0';
		return;
	}
	XXH128_canonicalFromHash(&c, XXH3_128bits(enc, len));
	free(enc);
	hex16(out, c.digest);
}
