/*
 * qcow2.c — a reader of QCOW2 image files (versions 2 and 3) as raw disks.
 *
 * Who calls it: model/ (type conversion, uploads and URL imports: they
 * check an uploaded file's header, then read its virtual disk in large
 * sequential steps), the unit tests and the fuzz target.  Every byte comes
 * from a user, so every number read from the file is range-checked before
 * it is used as an offset, a length or a count, and the only allocations
 * are the L1 table (bounded by the virtual size check), a few L2 tables and
 * cluster buffers.
 *
 * The on-disk layout (big-endian throughout), as far as a reader needs it:
 *
 *   header  0 magic "QFI\xfb"        4 version (2, 3)
 *           8 backing_file_offset   16 backing_file_size
 *          20 cluster_bits          24 size (virtual, bytes)
 *          32 crypt_method          36 l1_size (entries)
 *          40 l1_table_offset       48 refcount_table_offset ...
 *   v3     72 incompatible_features 80 compatible_features
 *          88 autoclear_features    96 refcount_order
 *         100 header_length        104 compression_type (if header_length > 104)
 *   then header extensions up to the end of the first cluster:
 *           u32 type, u32 length, data padded to 8 bytes; type 0 ends.
 *
 *   L1 entry: bits 9..55 offset of an L2 table (one cluster), 0 = none.
 *   L2 entry: bit 62 compressed, else bit 0 "reads as zero" and bits 9..55
 *             the data cluster's offset (0 = unallocated: zeros, no backing).
 *             A compressed entry holds, with x = 62 - (cluster_bits - 8),
 *             the byte offset of the deflate stream in bits 0..x-1 and the
 *             number of 512-byte sectors it spans beyond the first in bits
 *             x..61.
 *
 * Speed: a sequential conversion reads each L2 table once (a small LRU
 * cache), and consecutive data clusters that are also consecutive in the
 * file are fetched with one call of the read function, straight into the
 * caller's buffer.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "qcow2.h"

#define QCOW2_MAGIC 0x514649fbu
#define QCOW2_V2_HEADER 72
#define QCOW2_V3_HEADER 104

/* Incompatible feature bits (v3). */
#define QCOW2_INCOMPAT_DIRTY (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ull << 4)

/* Header extension types. */
#define QCOW2_EXT_END 0u
#define QCOW2_EXT_DATA_FILE 0x44415441u

/* qemu's own limit on the L1 table (32 MiB): an image claiming more is not
 * one qemu could have written. */
#define QCOW2_MAX_L1_ENTRIES (32u << 20 >> 3)

#define QCOW2_OFFSET_MASK 0x00fffffffffffe00ull /* bits 9..55 */
#define QCOW2_L2_COMPRESSED (1ull << 62)
#define QCOW2_L2_ZERO 1ull

/* L2 tables kept in memory: 16, fewer for huge clusters (each table of a
 * 2 MiB-cluster image maps 512 GiB: four of them are plenty). */
#define QCOW2_L2_CACHE_MAX 16
#define QCOW2_L2_CACHE_BYTES (8u << 20)

#define QCOW2_WHY_CAP 200

struct qcow2_l2_slot {
	uint64_t offset; /* of the table in the file; 0: slot empty */
	uint64_t used;   /* LRU stamp */
	uint8_t *table;  /* one cluster */
};

struct qcow2_reader {
	qcow2_read_fn rd;
	void *arg;
	uint64_t file_size; /* 0: unknown */
	struct qcow2_info info;
	uint64_t cluster_size;
	uint32_t l2_bits;       /* log2 of the entries per L2 table */
	uint32_t l1_loaded;     /* entries of l1 (those the virtual size needs) */
	uint64_t *l1;           /* host byte order */
	struct qcow2_l2_slot l2[QCOW2_L2_CACHE_MAX];
	uint32_t l2_slots;
	uint64_t l2_clock;
	struct qcow2_l2_slot *l2_hot; /* the slot used last */
	uint8_t *cbuf;          /* compressed input, two clusters */
	uint8_t *zbuf;          /* one inflated cluster */
	uint64_t zbuf_entry;    /* the L2 entry zbuf holds; 0: none */
	z_stream zs;
	bool zs_ready;
	char why[QCOW2_WHY_CAP];
};

/* ---- small helpers -------------------------------------------------------- */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* Fills why (when given) and returns -EINVAL: every refusal goes through here. */
__attribute__((format(printf, 3, 4))) static int refuse(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (why && cap > 0) {
		va_start(ap, fmt);
		vsnprintf(why, cap, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

bool qcow2_sniff(const void *buf, size_t len)
{
	return len >= 4 && be32(buf) == QCOW2_MAGIC;
}

/* ---- the header ------------------------------------------------------------ */

/* Entries the L1 table needs to map size bytes (size <= QCOW2_MAX_SIZE,
 * so nothing here overflows). */
static uint64_t l1_needed(uint64_t size, uint32_t cluster_bits)
{
	uint32_t shift = cluster_bits + (cluster_bits - 3); /* bytes one L2 table maps */

	return (size + (1ull << shift) - 1) >> shift;
}

/* Walks the header extensions in [start, end) of head: refuses an external
 * data file and any extension running past the first cluster.  Extensions
 * beyond the bytes we were given are not seen (the header comment says so). */
static int check_extensions(const uint8_t *head, size_t len, uint64_t start, uint64_t cluster_size,
                            char *why, size_t cap)
{
	uint64_t pos = start;

	while (pos + 8 <= len && pos + 8 <= cluster_size) {
		uint32_t type = be32(head + pos);
		uint32_t elen = be32(head + pos + 4);
		uint64_t next = pos + 8 + (((uint64_t)elen + 7) & ~7ull);

		if (type == QCOW2_EXT_END)
			return 0;
		if (type == QCOW2_EXT_DATA_FILE)
			return refuse(why, cap, "qcow2: external data file not supported");
		if (next > cluster_size)
			return refuse(why, cap, "qcow2: header extension 0x%08x at %llu runs past the first cluster",
			              type, (unsigned long long)pos);
		pos = next;
	}
	return 0;
}

/* The v3 fields: feature bits, header length, compression type. */
static int check_v3(const uint8_t *h, size_t len, uint32_t cluster_bits, uint32_t *hdr_len, char *why,
                    size_t cap)
{
	uint64_t incompat = be64(h + 72);
	uint64_t known = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT | QCOW2_INCOMPAT_DATA_FILE |
	                 QCOW2_INCOMPAT_COMPRESSION | QCOW2_INCOMPAT_EXTL2;
	uint32_t hl = be32(h + 100);
	uint8_t ctype = 0;

	if (incompat & QCOW2_INCOMPAT_CORRUPT)
		return refuse(why, cap, "qcow2: image is marked corrupt");
	if (incompat & QCOW2_INCOMPAT_DATA_FILE)
		return refuse(why, cap, "qcow2: external data file not supported");
	if (incompat & QCOW2_INCOMPAT_EXTL2)
		return refuse(why, cap, "qcow2: extended L2 entries (subclusters) not supported");
	if (incompat & ~known)
		return refuse(why, cap, "qcow2: unknown incompatible features 0x%llx",
		              (unsigned long long)(incompat & ~known));
	if (hl < QCOW2_V3_HEADER || hl % 8 != 0 || hl > (1u << cluster_bits))
		return refuse(why, cap, "qcow2: bad header length %u", hl);
	if (hl > QCOW2_V3_HEADER) {
		if (len <= QCOW2_V3_HEADER)
			return refuse(why, cap, "qcow2: header truncated (%zu of %u bytes)", len, hl);
		ctype = h[QCOW2_V3_HEADER];
	}
	/* qemu sets the feature bit exactly when the type is not zlib; a zlib
	 * image with the bit set is odd but still decodable. */
	if (ctype != 0)
		return refuse(why, cap, "qcow2: compression type %u (%s) not supported, only zlib", ctype,
		              ctype == 1 ? "zstd" : "unknown");
	if (incompat & QCOW2_INCOMPAT_COMPRESSION && hl <= QCOW2_V3_HEADER)
		return refuse(why, cap, "qcow2: compression type feature set but no compression type field");
	*hdr_len = hl;
	return 0;
}

/* The L1 table: enough entries for the size, no more than qemu allows,
 * aligned, and inside the file when its size is known. */
static int check_l1(const struct qcow2_info *info, uint64_t file_size, char *why, size_t cap)
{
	uint64_t need = l1_needed(info->size, info->cluster_bits);
	uint64_t end;

	if (info->l1_entries < need)
		return refuse(why, cap, "qcow2: L1 table has %u entries, the size needs %llu", info->l1_entries,
		              (unsigned long long)need);
	if (info->l1_entries > QCOW2_MAX_L1_ENTRIES)
		return refuse(why, cap, "qcow2: L1 table of %u entries is too large", info->l1_entries);
	if (info->l1_offset == 0 || info->l1_offset & ((1ull << info->cluster_bits) - 1))
		return refuse(why, cap, "qcow2: L1 table offset %llu is not cluster aligned",
		              (unsigned long long)info->l1_offset);
	if (__builtin_add_overflow(info->l1_offset, (uint64_t)info->l1_entries * 8, &end))
		return refuse(why, cap, "qcow2: L1 table offset %llu out of range",
		              (unsigned long long)info->l1_offset);
	if (file_size && end > file_size)
		return refuse(why, cap, "qcow2: L1 table (%llu..%llu) beyond the end of the file (%llu bytes)",
		              (unsigned long long)info->l1_offset, (unsigned long long)end,
		              (unsigned long long)file_size);
	return 0;
}

int qcow2_check_header(const void *head, size_t len, uint64_t file_size, struct qcow2_info *out, char *why,
                       size_t why_cap)
{
	const uint8_t *h = head;
	struct qcow2_info info = {0};
	uint32_t hdr_len = QCOW2_V2_HEADER;
	int rc;

	if (len < QCOW2_V2_HEADER || (file_size && file_size < QCOW2_V2_HEADER))
		return refuse(why, why_cap, "qcow2: file too short for a header");
	if (!qcow2_sniff(h, len))
		return refuse(why, why_cap, "qcow2: bad magic");
	info.version = be32(h + 4);
	if (info.version != 2 && info.version != 3)
		return refuse(why, why_cap, "qcow2: unsupported version %u", info.version);
	if (info.version == 3 && len < QCOW2_V3_HEADER)
		return refuse(why, why_cap, "qcow2: file too short for a version 3 header");
	if (be64(h + 8) != 0)
		return refuse(why, why_cap, "qcow2: backing file not supported (image has a backing file)");
	info.cluster_bits = be32(h + 20);
	if (info.cluster_bits < 9 || info.cluster_bits > 21)
		return refuse(why, why_cap, "qcow2: cluster_bits %u outside 9..21", info.cluster_bits);
	info.size = be64(h + 24);
	if (info.size == 0 || info.size > QCOW2_MAX_SIZE)
		return refuse(why, why_cap, "qcow2: virtual size %llu outside 1..%llu", (unsigned long long)info.size,
		              (unsigned long long)QCOW2_MAX_SIZE);
	if (be32(h + 32) != 0)
		return refuse(why, why_cap, "qcow2: encryption (method %u) not supported", be32(h + 32));
	info.l1_entries = be32(h + 36);
	info.l1_offset = be64(h + 40);
	if (info.version == 3 && (rc = check_v3(h, len, info.cluster_bits, &hdr_len, why, why_cap)) < 0)
		return rc;
	if ((rc = check_l1(&info, file_size, why, why_cap)) < 0)
		return rc;
	if ((rc = check_extensions(h, len, hdr_len, 1ull << info.cluster_bits, why, why_cap)) < 0)
		return rc;
	/* Refused otherwise: every accepted header allows zlib-compressed clusters. */
	info.compressed = true;
	if (out)
		*out = info;
	return 0;
}

/* ---- the reader ------------------------------------------------------------- */

/* rd, continued after short transfers; returns the bytes read (short only
 * at the end of the file) or -errno. */
static ssize_t read_full(qcow2_reader *r, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = r->rd(r->arg, (uint8_t *)buf + done, len - done, off + done);
		if (n < 0)
			return n;
		if (n == 0 || (size_t)n > len - done)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Reads exactly len bytes at off, which a table or cluster at off needs:
 * a range past the known end of the file, or a short read, is -EINVAL. */
static int read_exact(qcow2_reader *r, void *buf, size_t len, uint64_t off, const char *what)
{
	ssize_t n;

	if (r->file_size && (off > r->file_size || len > r->file_size - off))
		return refuse(r->why, sizeof r->why, "qcow2: %s at %llu beyond the end of the file (%llu bytes)",
		              what, (unsigned long long)off, (unsigned long long)r->file_size);
	n = read_full(r, buf, len, off);
	if (n < 0)
		return (int)n;
	if ((size_t)n < len)
		return refuse(r->why, sizeof r->why, "qcow2: %s at %llu beyond the end of the file (truncated)",
		              what, (unsigned long long)off);
	return 0;
}

static int load_l1(qcow2_reader *r)
{
	uint32_t n = (uint32_t)l1_needed(r->info.size, r->info.cluster_bits);
	uint8_t *raw;
	int rc;

	/* Only the entries the virtual size reaches: a shrunk image may keep a
	 * longer table, whose tail no read can use. */
	r->l1 = calloc(n, sizeof *r->l1);
	if (!r->l1)
		return -ENOMEM;
	raw = (uint8_t *)r->l1;
	if ((rc = read_exact(r, raw, (size_t)n * 8, r->info.l1_offset, "L1 table")) < 0)
		return rc;
	for (uint32_t i = 0; i < n; i++)
		r->l1[i] = be64(raw + (size_t)i * 8);
	r->l1_loaded = n;
	return 0;
}

/* The number of L2 cache slots; their tables (and the buffers for
 * compressed clusters) are allocated on first use: a small image, or a
 * reader opened only to validate a file, needs few or none. */
static void reader_size_cache(qcow2_reader *r)
{
	_Static_assert(QCOW2_L2_CACHE_BYTES >> 21 >= 2, "two L2 tables of the largest clusters fit");
	r->l2_slots = (uint32_t)(QCOW2_L2_CACHE_BYTES / r->cluster_size);
	if (r->l2_slots > QCOW2_L2_CACHE_MAX)
		r->l2_slots = QCOW2_L2_CACHE_MAX;
}

int qcow2_reader_new(qcow2_reader **out, qcow2_read_fn rd, void *arg, uint64_t file_size, char *why,
                     size_t why_cap)
{
	qcow2_reader *r = calloc(1, sizeof *r);
	size_t want = QCOW2_HEAD_MAX;
	uint8_t *head = NULL;
	ssize_t n;
	int rc;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	r->rd = rd;
	r->arg = arg;
	r->file_size = file_size;
	if (file_size && file_size < want)
		want = (size_t)file_size;
	if (!(head = malloc(QCOW2_HEAD_MAX))) {
		rc = -ENOMEM;
		goto out;
	}
	if ((n = read_full(r, head, want, 0)) < 0) {
		rc = (int)n;
		goto out;
	}
	if ((rc = qcow2_check_header(head, (size_t)n, file_size, &r->info, r->why, sizeof r->why)) < 0)
		goto out;
	r->cluster_size = 1ull << r->info.cluster_bits;
	r->l2_bits = r->info.cluster_bits - 3;
	reader_size_cache(r);
	if ((rc = load_l1(r)) < 0)
		goto out;
	*out = r;
	r = NULL;
out:
	if (rc == -EINVAL && why && why_cap)
		snprintf(why, why_cap, "%s", r->why);
	free(head);
	qcow2_reader_free(r);
	return rc;
}

const struct qcow2_info *qcow2_reader_info(const qcow2_reader *r)
{
	return &r->info;
}

const char *qcow2_reader_why(const qcow2_reader *r)
{
	return r->why;
}

void qcow2_reader_free(qcow2_reader *r)
{
	if (!r)
		return;
	for (uint32_t i = 0; i < QCOW2_L2_CACHE_MAX; i++)
		free(r->l2[i].table);
	if (r->zs_ready)
		inflateEnd(&r->zs);
	free(r->l1);
	free(r->cbuf);
	free(r->zbuf);
	free(r);
}

/* The L2 table at offset, from the cache or the file (evicting the least
 * recently used slot). */
static int l2_get(qcow2_reader *r, uint64_t offset, const uint8_t **out)
{
	struct qcow2_l2_slot *victim = &r->l2[0];
	int rc;

	/* Sequential reads stay in one table for a long time. */
	if (r->l2_hot && r->l2_hot->offset == offset) {
		*out = r->l2_hot->table;
		return 0;
	}
	for (uint32_t i = 0; i < r->l2_slots; i++) {
		struct qcow2_l2_slot *s = &r->l2[i];
		if (s->offset == offset) {
			s->used = ++r->l2_clock;
			r->l2_hot = s;
			*out = s->table;
			return 0;
		}
		if (s->used < victim->used)
			victim = s;
	}
	victim->offset = 0;
	if (!victim->table && !(victim->table = malloc((size_t)r->cluster_size)))
		return -ENOMEM;
	if ((rc = read_exact(r, victim->table, (size_t)r->cluster_size, offset, "L2 table")) < 0)
		return rc;
	victim->offset = offset;
	victim->used = ++r->l2_clock;
	r->l2_hot = victim;
	*out = victim->table;
	return 0;
}

/* The L2 entry of the cluster holding virtual offset voff (< size);
 * 0 when its L1 entry is empty. */
static int l2_entry(qcow2_reader *r, uint64_t voff, uint64_t *out)
{
	uint64_t idx = voff >> r->info.cluster_bits;
	uint64_t l1i = idx >> r->l2_bits;
	uint64_t l2_off;
	const uint8_t *t;
	int rc;

	*out = 0;
	if (l1i >= r->l1_loaded) /* cannot happen after check_l1: defensive */
		return refuse(r->why, sizeof r->why, "qcow2: offset %llu beyond the L1 table",
		              (unsigned long long)voff);
	l2_off = r->l1[l1i] & QCOW2_OFFSET_MASK;
	if (l2_off == 0) {
		*out = 0;
		return 0;
	}
	if (l2_off & (r->cluster_size - 1))
		return refuse(r->why, sizeof r->why, "qcow2: L2 table offset %llu is not cluster aligned",
		              (unsigned long long)l2_off);
	if ((rc = l2_get(r, l2_off, &t)) < 0)
		return rc;
	*out = be64(t + ((idx & ((1ull << r->l2_bits) - 1)) << 3));
	return 0;
}

int qcow2_check_tables(qcow2_reader *r)
{
	uint64_t per_l2 = 1ull << r->l2_bits, clusters = (r->info.size + r->cluster_size - 1) >> r->info.cluster_bits;
	uint32_t x = 62 - (r->info.cluster_bits - 8);
	int rc;

	if (!r->file_size)
		return refuse(r->why, sizeof r->why, "qcow2: the file's size is unknown");
	for (uint32_t i = 0; i < r->l1_loaded; i++) {
		uint64_t l2_off = r->l1[i] & QCOW2_OFFSET_MASK;
		const uint8_t *t;
		if (l2_off == 0)
			continue;
		if (l2_off & (r->cluster_size - 1))
			return refuse(r->why, sizeof r->why, "qcow2: L2 table offset %llu is not cluster aligned",
			              (unsigned long long)l2_off);
		if ((rc = l2_get(r, l2_off, &t)) < 0)
			return rc;
		/* The entries of clusters the virtual size reaches. */
		uint64_t n = clusters - (uint64_t)i * per_l2 < per_l2 ? clusters - (uint64_t)i * per_l2 : per_l2;
		for (uint64_t j = 0; j < n; j++) {
			uint64_t e = be64(t + (j << 3)), off, end;
			if (e & QCOW2_L2_COMPRESSED) {
				off = e & ((1ull << x) - 1);
				end = off + 1; /* its last sector may pass the end: the stream ends before */
			} else {
				uint64_t g = (uint64_t)i * per_l2 + j, rest = r->info.size - (g << r->info.cluster_bits);
				off = e & QCOW2_OFFSET_MASK;
				if (off == 0 || (e & QCOW2_L2_ZERO))
					continue; /* unallocated, or a zero cluster: read as zeros */
				if (off & (r->cluster_size - 1))
					return refuse(r->why, sizeof r->why,
					              "qcow2: data cluster offset %llu is not cluster aligned",
					              (unsigned long long)off);
				/* What qcow2_pread reads of it: up to the disk's end. */
				end = off + (rest < r->cluster_size ? rest : r->cluster_size);
			}
			if (end > r->file_size)
				return refuse(r->why, sizeof r->why,
				              "qcow2: cluster %llu of the disk is at %llu, beyond the end of the file "
				              "(%llu bytes): the file is cut short",
				              (unsigned long long)((uint64_t)i * per_l2 + j), (unsigned long long)off,
				              (unsigned long long)r->file_size);
		}
	}
	return 0;
}

/* Inflates the compressed cluster described by entry into r->zbuf (which
 * keeps the last one: unaligned reads often touch a cluster twice). */
static int inflate_cluster(qcow2_reader *r, uint64_t entry)
{
	uint32_t x = 62 - (r->info.cluster_bits - 8);
	uint64_t coff = entry & ((1ull << x) - 1);
	uint64_t sectors = ((entry & ~QCOW2_L2_COMPRESSED & ((1ull << 62) - 1)) >> x) + 1;
	size_t clen = (size_t)(sectors * 512 - (coff & 511)); /* <= 2 clusters */
	ssize_t n;
	int zrc;

	if (r->zbuf_entry == entry)
		return 0;
	if (!r->cbuf && !(r->cbuf = malloc((size_t)r->cluster_size * 2)))
		return -ENOMEM;
	if (!r->zbuf && !(r->zbuf = malloc((size_t)r->cluster_size)))
		return -ENOMEM;
	if (!r->zs_ready) {
		if (inflateInit2(&r->zs, -12) != Z_OK)
			return -ENOMEM;
		r->zs_ready = true;
	} else if (inflateReset(&r->zs) != Z_OK) {
		return -ENOMEM;
	}
	r->zbuf_entry = 0;
	/* The stream may end before its last sector does (the file's end). */
	if (r->file_size && coff >= r->file_size)
		return refuse(r->why, sizeof r->why, "qcow2: compressed cluster at %llu beyond the end of the file",
		              (unsigned long long)coff);
	if (r->file_size && clen > r->file_size - coff)
		clen = (size_t)(r->file_size - coff);
	if ((n = read_full(r, r->cbuf, clen, coff)) < 0)
		return (int)n;
	r->zs.next_in = r->cbuf;
	r->zs.avail_in = (uInt)n;
	r->zs.next_out = r->zbuf;
	r->zs.avail_out = (uInt)r->cluster_size;
	zrc = inflate(&r->zs, Z_FINISH);
	/* As qemu: the output must fill exactly one cluster. */
	if ((zrc != Z_STREAM_END && zrc != Z_BUF_ERROR && zrc != Z_OK) || r->zs.avail_out != 0)
		return refuse(r->why, sizeof r->why, "qcow2: corrupt compressed cluster at %llu",
		              (unsigned long long)coff);
	r->zbuf_entry = entry;
	return 0;
}

/* A run of the read: bytes [voff, voff+len) of the disk, all in data
 * clusters that follow each other in the file from host offset host. */
struct run {
	uint8_t *dst;
	uint64_t host;
	size_t len;
};

static int run_flush(qcow2_reader *r, struct run *run)
{
	int rc = 0;

	if (run->len)
		rc = read_exact(r, run->dst, run->len, run->host, "data cluster");
	run->len = 0;
	return rc;
}

/* One cluster's part [in, in+n) of the read into dst: extends the pending
 * run when the data is contiguous in the file, else serves it now. */
static int read_piece(qcow2_reader *r, uint64_t entry, uint8_t *dst, size_t in, size_t n, struct run *run,
                      bool *hole)
{
	uint64_t host;
	int rc;

	if (entry & QCOW2_L2_COMPRESSED) {
		if ((rc = run_flush(r, run)) < 0 || (rc = inflate_cluster(r, entry)) < 0)
			return rc;
		memcpy(dst, r->zbuf + in, n);
		*hole = false;
		return 0;
	}
	host = entry & QCOW2_OFFSET_MASK;
	if (entry & QCOW2_L2_ZERO || host == 0) {
		memset(dst, 0, n);
		return 0;
	}
	if (host & (r->cluster_size - 1))
		return refuse(r->why, sizeof r->why, "qcow2: data cluster offset %llu is not cluster aligned",
		              (unsigned long long)host);
	*hole = false;
	host += in;
	if (run->len && run->dst + run->len == dst && run->host + run->len == host) {
		run->len += n;
		return 0;
	}
	if ((rc = run_flush(r, run)) < 0)
		return rc;
	*run = (struct run){.dst = dst, .host = host, .len = n};
	return 0;
}

ssize_t qcow2_pread(qcow2_reader *r, void *buf, size_t len, uint64_t off, bool *hole_out)
{
	struct run run = {0};
	bool hole = true;
	size_t done = 0;
	int rc;

	if (off >= r->info.size)
		len = 0;
	else if (len > r->info.size - off)
		len = (size_t)(r->info.size - off);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	while (done < len) {
		uint64_t voff = off + done;
		size_t in = (size_t)(voff & (r->cluster_size - 1));
		size_t n = (size_t)r->cluster_size - in;
		uint64_t entry;

		if (n > len - done)
			n = len - done;
		if ((rc = l2_entry(r, voff, &entry)) < 0 ||
		    (rc = read_piece(r, entry, (uint8_t *)buf + done, in, n, &run, &hole)) < 0)
			return rc;
		done += n;
	}
	if ((rc = run_flush(r, &run)) < 0)
		return rc;
	if (hole_out)
		*hole_out = hole;
	return (ssize_t)done;
}
