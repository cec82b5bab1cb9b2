/*
 * qcow2.c — a reader of QCOW2 image files (versions 2 and 3) as raw disks.
 *
 * Who calls it: model/ (type conversion, uploads and URL imports: they
 * check an uploaded file's header, then read its virtual disk in large
 * sequential steps), the unit tests and the fuzz target.  Every byte comes
 * from a user, so every number read from the file is range-checked before
 * it is used as an offset, a length or a count, and the only allocations
 * are the L1 table (bounded by the virtual size check), a few L2 tables and
 * cluster buffers (and, while qcow2_check_tables runs, a sorted copy of the
 * L1 table's L2 offsets: 8 bytes an entry, like the L1 table itself).
 * It is one file of a little over the house's ~1,000 lines on purpose:
 * the header's validation and the reads share one set of range checks,
 * and splitting them would put the trust boundary in two places.
 *
 * The on-disk layout (big-endian throughout), as far as a reader needs it:
 *
 *   header  0 magic "QFI\xfb"        4 version (2, 3)
 *           8 backing_file_offset   16 backing_file_size
 *          20 cluster_bits          24 size (virtual, bytes)
 *          32 crypt_method          36 l1_size (entries)
 *          40 l1_table_offset       48 refcount_table_offset
 *          56 refcount_table_clusters
 *          60 nb_snapshots          64 snapshots_offset
 *   v3     72 incompatible_features 80 compatible_features
 *          88 autoclear_features    96 refcount_order
 *         100 header_length        104 compression_type (if header_length > 104)
 *   then header extensions up to the end of the first cluster:
 *           u32 type, u32 length, data padded to 8 bytes; type 0 ends.
 *
 *   snapshot table entry (8-byte aligned): 0 l1_table_offset, 8 l1_size,
 *           12 id_str_size (u16), 14 name_size (u16), ..., 36
 *           extra_data_size; 40 bytes, then the extra data, the id, the name.
 *   L1 entry: bits 9..55 offset of an L2 table (one cluster), 0 = none.
 *   L2 entry: bit 62 compressed, else bit 0 "reads as zero" and bits 9..55
 *             the data cluster's offset (0 = unallocated: zeros, no backing).
 *             A compressed entry holds, with x = 62 - (cluster_bits - 8),
 *             the byte offset of the deflate stream in bits 0..x-1 and the
 *             number of 512-byte sectors it spans beyond the first in bits
 *             x..61.
 *   extended L2 entry (incompatible bit 4): the 64 bits above (bit 0 not
 *             used), then a 64-bit bitmap: bit k (0..31) subcluster k is
 *             allocated (its bytes at offset + k * cluster/32), bit 32+k
 *             it reads as zero; both set, or an allocation without an
 *             offset, is invalid; neither: zeros (no backing file).  A
 *             compressed cluster is whole, its bitmap unused.
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
/* Autoclear feature bits (v3): unknown ones are harmless (qemu clears them). */
#define QCOW2_AUTOCLEAR_BITMAPS (1ull << 0)
#define QCOW2_AUTOCLEAR_DATA_FILE_RAW (1ull << 1)

/* Header extension types. */
#define QCOW2_EXT_END 0u
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acau
#define QCOW2_EXT_CRYPTO 0x0537be77u
#define QCOW2_EXT_BITMAPS 0x23852875u
#define QCOW2_EXT_DATA_FILE 0x44415441u
#define QCOW2_BACKING_FORMAT_MAX 15u /* qemu keeps the name in 16 bytes */
#define QCOW2_BITMAPS_EXT_LEN 24u
#define QCOW2_MAX_BITMAPS 65535u
#define QCOW2_MAX_BITMAP_DIRECTORY (1024ull * QCOW2_MAX_BITMAPS)

/* qemu's own limits: an image claiming more is not one qemu would open. */
#define QCOW2_MAX_L1_ENTRIES (32u << 20 >> 3)  /* the L1 table: 32 MiB */
#define QCOW2_MAX_REFTABLE_BYTES (8ull << 20)  /* the refcount table: 8 MiB */
#define QCOW2_MAX_REFCOUNT_ORDER 6u            /* 64-bit refcounts */
#define QCOW2_MAX_SNAPSHOTS 65536u
#define QCOW2_SNAPSHOT_HEADER 40u
#define QCOW2_MAX_SNAPSHOT_EXTRA 1024u
#define QCOW2_MAX_SNAPSHOTS_BYTES (1024ull * QCOW2_MAX_SNAPSHOTS) /* 64 MiB */
#define QCOW2_SUBCLUSTERS 32u
#define QCOW2_MIN_SUBCLUSTER_BITS 9u

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
	uint32_t entry_shift;   /* log2 of an L2 entry's bytes: 3, or 4 (extended) */
	uint32_t sc_bits;       /* log2 of a subcluster's bytes (extended L2) */
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

/* An L2 entry: its 64-bit word and, for extended L2, its subcluster bitmap. */
struct l2e {
	uint64_t word;
	uint64_t bitmap;
};

/* ---- small helpers -------------------------------------------------------- */

static uint32_t be16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

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

/* log2 of the entries in one L2 table. */
static uint32_t l2_bits_of(const struct qcow2_info *info)
{
	return info->cluster_bits - (info->extended_l2 ? 4 : 3);
}

/* Entries the L1 table needs to map size bytes (size <= QCOW2_MAX_SIZE,
 * so nothing here overflows). */
static uint64_t l1_needed(const struct qcow2_info *info)
{
	uint32_t shift = info->cluster_bits + l2_bits_of(info); /* bytes one L2 table maps */

	return (info->size + (1ull << shift) - 1) >> shift;
}

/* A table of `bytes` bytes at offset (the header's `field`): cluster
 * aligned, below 2^63, and inside the file when its size is known. */
static int check_table(const char *what, const char *field, uint64_t offset, uint64_t bytes, uint64_t cluster_size,
                       uint64_t file_size, char *why, size_t cap)
{
	uint64_t end;

	if (offset & (cluster_size - 1))
		return refuse(why, cap, "qcow2: %s %llu is not cluster aligned", field, (unsigned long long)offset);
	if (__builtin_add_overflow(offset, bytes, &end) || end > INT64_MAX)
		return refuse(why, cap, "qcow2: %s %llu is out of range", field, (unsigned long long)offset);
	if (file_size && end > file_size)
		return refuse(why, cap, "qcow2: %s (%llu..%llu) beyond the end of the file (%llu bytes)", what,
		              (unsigned long long)offset, (unsigned long long)end, (unsigned long long)file_size);
	return 0;
}

/* The bitmaps extension, when the autoclear bit says the bitmaps are
 * consistent (without it qemu ignores them): qemu's checks of its fields. */
static int check_bitmaps_ext(const uint8_t *d, uint32_t elen, uint64_t cluster_size, uint64_t file_size, char *why,
                             size_t cap)
{
	uint32_t nb;
	uint64_t dir_size, dir_offset;

	if (elen != QCOW2_BITMAPS_EXT_LEN)
		return refuse(why, cap, "qcow2: bitmaps extension of %u bytes (not %u)", elen, QCOW2_BITMAPS_EXT_LEN);
	nb = be32(d);
	dir_size = be64(d + 8);
	dir_offset = be64(d + 16);
	if (be32(d + 4) != 0)
		return refuse(why, cap, "qcow2: bitmaps extension: reserved field is not zero");
	if (nb == 0 || nb > QCOW2_MAX_BITMAPS)
		return refuse(why, cap, "qcow2: bitmaps extension: nb_bitmaps %u outside 1..%u", nb, QCOW2_MAX_BITMAPS);
	if (dir_size > QCOW2_MAX_BITMAP_DIRECTORY)
		return refuse(why, cap, "qcow2: bitmaps extension: bitmap_directory_size %llu is above %llu",
		              (unsigned long long)dir_size, (unsigned long long)QCOW2_MAX_BITMAP_DIRECTORY);
	return check_table("bitmap directory", "bitmap_directory_offset", dir_offset, dir_size, cluster_size,
	                   file_size, why, cap);
}

/* Walks the header extensions in [start, end of the first cluster) of
 * head.  Extensions beyond the bytes we were given are not seen (the
 * header comment says so). */
static int check_extensions(const uint8_t *head, size_t len, uint64_t start, const struct qcow2_info *info,
                            uint64_t autoclear, uint64_t file_size, char *why, size_t cap)
{
	uint64_t cluster_size = 1ull << info->cluster_bits, pos = start;
	int rc;

	while (pos + 8 <= len && pos + 8 <= cluster_size) {
		uint32_t type = be32(head + pos);
		uint32_t elen = be32(head + pos + 4);
		const uint8_t *d = head + pos + 8;

		if (type == QCOW2_EXT_END)
			return 0;
		/* As qemu: the data (not its padding) must end in the first cluster. */
		if (elen > cluster_size - (pos + 8))
			return refuse(why, cap, "qcow2: header extension 0x%08x at %llu runs past the first cluster",
			              type, (unsigned long long)pos);
		switch (type) {
		case QCOW2_EXT_DATA_FILE:
			return refuse(why, cap, "qcow2: external data file not supported");
		case QCOW2_EXT_CRYPTO:
			/* crypt_method 0 here (refused otherwise): qemu refuses the pair */
			return refuse(why, cap, "qcow2: crypto header extension without encryption");
		case QCOW2_EXT_BACKING_FORMAT:
			if (elen > QCOW2_BACKING_FORMAT_MAX)
				return refuse(why, cap, "qcow2: backing format name of %u bytes is too long (at most %u)", elen,
				              QCOW2_BACKING_FORMAT_MAX);
			break;
		case QCOW2_EXT_BITMAPS:
			if (!(autoclear & QCOW2_AUTOCLEAR_BITMAPS))
				break;
			if (pos + 8 + elen > len)
				return refuse(why, cap, "qcow2: header truncated inside the bitmaps extension");
			if ((rc = check_bitmaps_ext(d, elen, cluster_size, file_size, why, cap)) < 0)
				return rc;
			break;
		default:
			break; /* the feature name table, unknown ones: qemu keeps them */
		}
		pos += 8 + (((uint64_t)elen + 7) & ~7ull);
	}
	return 0;
}

/* The v3 fields: feature bits, refcount order, header length, compression
 * type.  *hdr_len and *autoclear get theirs. */
static int check_v3(const uint8_t *h, size_t len, struct qcow2_info *info, uint32_t *hdr_len, uint64_t *autoclear,
                    char *why, size_t cap)
{
	uint64_t incompat = be64(h + 72);
	uint64_t known = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT | QCOW2_INCOMPAT_DATA_FILE |
	                 QCOW2_INCOMPAT_COMPRESSION | QCOW2_INCOMPAT_EXTL2;
	uint32_t hl = be32(h + 100);
	uint8_t ctype = 0;

	*autoclear = be64(h + 88);
	if (hl < QCOW2_V3_HEADER || hl % 8 != 0 || hl > (1u << info->cluster_bits))
		return refuse(why, cap, "qcow2: header_length %u is not a multiple of 8 from %u to the cluster size", hl,
		              QCOW2_V3_HEADER);
	if (incompat & ~known)
		return refuse(why, cap, "qcow2: unknown incompatible_features 0x%llx",
		              (unsigned long long)(incompat & ~known));
	if (incompat & QCOW2_INCOMPAT_CORRUPT)
		return refuse(why, cap, "qcow2: image is marked corrupt (incompatible_features bit 1)");
	if (incompat & QCOW2_INCOMPAT_DATA_FILE)
		return refuse(why, cap, "qcow2: external data file not supported");
	if (*autoclear & QCOW2_AUTOCLEAR_DATA_FILE_RAW)
		return refuse(why, cap, "qcow2: autoclear_features bit 1 (data-file-raw) set without an external data file");
	info->extended_l2 = (incompat & QCOW2_INCOMPAT_EXTL2) != 0;
	if (info->extended_l2 && info->cluster_bits - 5 < QCOW2_MIN_SUBCLUSTER_BITS)
		return refuse(why, cap, "qcow2: extended L2 entries need clusters of 16 KiB or more (cluster_bits %u)",
		              info->cluster_bits);
	if (hl > QCOW2_V3_HEADER) {
		if (len <= QCOW2_V3_HEADER)
			return refuse(why, cap, "qcow2: header truncated (%zu of %u bytes)", len, hl);
		ctype = h[QCOW2_V3_HEADER];
	}
	if (ctype != 0)
		return refuse(why, cap, "qcow2: compression type %u (%s) not supported, only zlib", ctype,
		              ctype == 1 ? "zstd" : "unknown");
	/* qemu sets the feature bit exactly when the type is not zlib, and
	 * refuses a zlib image that has it. */
	if (incompat & QCOW2_INCOMPAT_COMPRESSION)
		return refuse(why, cap, "qcow2: incompatible_features bit 3 (compression type) set for zlib");
	info->refcount_order = be32(h + 96);
	*hdr_len = hl;
	return 0;
}

/* The L1 table: enough entries for the size, no more than qemu allows,
 * aligned, and inside the file when its size is known. */
static int check_l1(const struct qcow2_info *info, uint64_t file_size, char *why, size_t cap)
{
	uint64_t need = l1_needed(info);

	if (info->l1_entries < need)
		return refuse(why, cap, "qcow2: l1_size %u: the L1 table has %u entries, the size needs %llu",
		              info->l1_entries, info->l1_entries, (unsigned long long)need);
	if (info->l1_entries > QCOW2_MAX_L1_ENTRIES)
		return refuse(why, cap, "qcow2: l1_size %u is above %u: the L1 table is too large", info->l1_entries,
		              QCOW2_MAX_L1_ENTRIES);
	if (info->l1_offset == 0)
		return refuse(why, cap, "qcow2: l1_table_offset is 0 (the header)");
	return check_table("L1 table", "l1_table_offset", info->l1_offset, (uint64_t)info->l1_entries * 8,
	                   1ull << info->cluster_bits, file_size, why, cap);
}

/* The refcount and snapshot tables, as far as the header tells them: qemu
 * refuses to open an image whose tables break these. */
static int check_meta_tables(const struct qcow2_info *info, uint64_t file_size, char *why, size_t cap)
{
	uint64_t cluster_size = 1ull << info->cluster_bits;
	int rc;

	if (info->refcount_order > QCOW2_MAX_REFCOUNT_ORDER)
		return refuse(why, cap, "qcow2: refcount_order %u is above %u", info->refcount_order,
		              QCOW2_MAX_REFCOUNT_ORDER);
	if (info->refcount_table_clusters == 0)
		return refuse(why, cap, "qcow2: refcount_table_clusters is 0: no refcount table");
	if (info->refcount_table_clusters > QCOW2_MAX_REFTABLE_BYTES / cluster_size)
		return refuse(why, cap, "qcow2: refcount_table_clusters %u is above %llu (8 MiB of table)",
		              info->refcount_table_clusters, (unsigned long long)(QCOW2_MAX_REFTABLE_BYTES / cluster_size));
	if ((rc = check_table("refcount table", "refcount_table_offset", info->refcount_table_offset,
	                      (uint64_t)info->refcount_table_clusters << info->cluster_bits, cluster_size, file_size, why,
	                      cap)) < 0)
		return rc;
	if (info->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
		return refuse(why, cap, "qcow2: nb_snapshots %u is above %u", info->nb_snapshots, QCOW2_MAX_SNAPSHOTS);
	/* qemu checks the offset's alignment even without snapshots; the
	 * entries' fixed parts at least must be in the file (the walk in
	 * qcow2_check_tables sees the rest). */
	return check_table("snapshot table", "snapshots_offset", info->snapshots_offset,
	                   (uint64_t)info->nb_snapshots * QCOW2_SNAPSHOT_HEADER, cluster_size,
	                   info->nb_snapshots ? file_size : 0, why, cap);
}

int qcow2_check_header(const void *head, size_t len, uint64_t file_size, struct qcow2_info *out, char *why,
                       size_t why_cap)
{
	const uint8_t *h = head;
	struct qcow2_info info = {0};
	uint32_t hdr_len = QCOW2_V2_HEADER;
	uint64_t autoclear = 0;
	int rc;

	if (len < QCOW2_V2_HEADER || (file_size && file_size < QCOW2_V2_HEADER))
		return refuse(why, why_cap, "qcow2: file too short for a header");
	if (!qcow2_sniff(h, len))
		return refuse(why, why_cap, "qcow2: bad magic");
	info.version = be32(h + 4);
	if (info.version != 2 && info.version != 3)
		return refuse(why, why_cap, "qcow2: version %u is not 2 or 3", info.version);
	if (info.version == 3 && len < QCOW2_V3_HEADER)
		return refuse(why, why_cap, "qcow2: file too short for a version 3 header");
	info.cluster_bits = be32(h + 20);
	if (info.cluster_bits < 9 || info.cluster_bits > 21)
		return refuse(why, why_cap, "qcow2: cluster_bits %u outside 9..21", info.cluster_bits);
	if (be32(h + 32) != 0)
		return refuse(why, why_cap, "qcow2: encryption (crypt_method %u) not supported", be32(h + 32));
	if (be64(h + 8) != 0)
		return refuse(why, why_cap, "qcow2: backing file not supported (image has a backing file)");
	info.refcount_order = 4; /* v2: 16-bit refcounts */
	if (info.version == 3 && (rc = check_v3(h, len, &info, &hdr_len, &autoclear, why, why_cap)) < 0)
		return rc;
	info.size = be64(h + 24);
	if (info.size == 0 || info.size > QCOW2_MAX_SIZE)
		return refuse(why, why_cap, "qcow2: virtual size %llu outside 1..%llu", (unsigned long long)info.size,
		              (unsigned long long)QCOW2_MAX_SIZE);
	info.l1_entries = be32(h + 36);
	info.l1_offset = be64(h + 40);
	info.refcount_table_offset = be64(h + 48);
	info.refcount_table_clusters = be32(h + 56);
	info.nb_snapshots = be32(h + 60);
	info.snapshots_offset = be64(h + 64);
	if ((rc = check_meta_tables(&info, file_size, why, why_cap)) < 0 ||
	    (rc = check_l1(&info, file_size, why, why_cap)) < 0 ||
	    (rc = check_extensions(h, len, hdr_len, &info, autoclear, file_size, why, why_cap)) < 0)
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
	uint32_t n = (uint32_t)l1_needed(&r->info);
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
	r->l2_bits = l2_bits_of(&r->info);
	r->entry_shift = r->info.extended_l2 ? 4 : 3;
	r->sc_bits = r->info.cluster_bits - 5;
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

/* Entry j of the L2 table t. */
static struct l2e l2e_at(const qcow2_reader *r, const uint8_t *t, uint64_t j)
{
	const uint8_t *p = t + (j << r->entry_shift);

	return (struct l2e){be64(p), r->info.extended_l2 ? be64(p + 8) : 0};
}

/* The L2 entry of the cluster holding virtual offset voff (< size);
 * all zero when its L1 entry is empty. */
static int l2_entry(qcow2_reader *r, uint64_t voff, struct l2e *out)
{
	uint64_t idx = voff >> r->info.cluster_bits;
	uint64_t l1i = idx >> r->l2_bits;
	uint64_t l2_off;
	const uint8_t *t;
	int rc;

	*out = (struct l2e){0, 0};
	if (l1i >= r->l1_loaded) /* cannot happen after check_l1: defensive */
		return refuse(r->why, sizeof r->why, "qcow2: offset %llu beyond the L1 table",
		              (unsigned long long)voff);
	l2_off = r->l1[l1i] & QCOW2_OFFSET_MASK;
	if (l2_off == 0)
		return 0;
	if (l2_off & (r->cluster_size - 1))
		return refuse(r->why, sizeof r->why, "qcow2: L2 table offset %llu is not cluster aligned",
		              (unsigned long long)l2_off);
	if ((rc = l2_get(r, l2_off, &t)) < 0)
		return rc;
	*out = l2e_at(r, t, idx & ((1ull << r->l2_bits) - 1));
	return 0;
}

/* An extended entry's bitmap against its offset (qemu's "invalid"
 * subcluster type): a subcluster both allocated and zero, or allocated in
 * a cluster with no offset.  A compressed entry's bitmap is not used. */
static int check_bitmap(qcow2_reader *r, struct l2e e)
{
	uint64_t alloc = e.bitmap & 0xffffffffull, zero = e.bitmap >> 32;

	if (!r->info.extended_l2 || e.word & QCOW2_L2_COMPRESSED)
		return 0;
	if ((alloc & zero) || ((e.word & QCOW2_OFFSET_MASK) == 0 && alloc))
		return refuse(r->why, sizeof r->why, "qcow2: an extended L2 entry (0x%016llx) has an invalid subcluster "
		              "bitmap 0x%016llx", (unsigned long long)e.word, (unsigned long long)e.bitmap);
	return 0;
}

/* ---- checking the whole file ------------------------------------------------ */

/* The snapshot table, entry by entry, as qemu reads it when it opens the
 * image: inside the file, at most 1024 bytes of extra data an entry and
 * 64 MiB in all.  Snapshots' own L1 tables are not read (qemu does not
 * at open either, and the active disk never uses them). */
static int check_snapshots(qcow2_reader *r)
{
	uint64_t off = r->info.snapshots_offset;
	uint8_t h[QCOW2_SNAPSHOT_HEADER];
	int rc;

	for (uint32_t i = 0; i < r->info.nb_snapshots; i++) {
		off = (off + 7) & ~7ull;
		if ((rc = read_exact(r, h, sizeof h, off, "snapshot table entry")) < 0)
			return rc;
		uint32_t extra = be32(h + 36);
		if (extra > QCOW2_MAX_SNAPSHOT_EXTRA)
			return refuse(r->why, sizeof r->why, "qcow2: snapshot %u has %u bytes of extra data (at most %u)", i,
			              extra, QCOW2_MAX_SNAPSHOT_EXTRA);
		off += sizeof h + extra + be16(h + 12) + be16(h + 14);
		if (off - r->info.snapshots_offset > QCOW2_MAX_SNAPSHOTS_BYTES)
			return refuse(r->why, sizeof r->why, "qcow2: the snapshot table is above %llu bytes at snapshot %u",
			              (unsigned long long)QCOW2_MAX_SNAPSHOTS_BYTES, i);
		if (off > r->file_size)
			return refuse(r->why, sizeof r->why,
			              "qcow2: snapshot %u ends at %llu, beyond the end of the file (%llu bytes)", i,
			              (unsigned long long)off, (unsigned long long)r->file_size);
	}
	return 0;
}

/* An L1 entry's L2 table: aligned, inside the file. */
static int check_l1_entry(qcow2_reader *r, uint64_t i, uint64_t entry)
{
	uint64_t l2_off = entry & QCOW2_OFFSET_MASK;

	if (l2_off == 0)
		return 0;
	if (l2_off & (r->cluster_size - 1))
		return refuse(r->why, sizeof r->why, "qcow2: L1 entry %llu: L2 table offset %llu is not cluster aligned",
		              (unsigned long long)i, (unsigned long long)l2_off);
	if (l2_off > r->file_size || r->cluster_size > r->file_size - l2_off)
		return refuse(r->why, sizeof r->why,
		              "qcow2: L1 entry %llu: L2 table at %llu beyond the end of the file (%llu bytes)",
		              (unsigned long long)i, (unsigned long long)l2_off, (unsigned long long)r->file_size);
	return 0;
}

/* The L1 entries past those the virtual size needs (where qemu keeps a
 * saved VM state): read in pieces, each entry checked. */
static int check_l1_tail(qcow2_reader *r)
{
	enum { PIECE = 8192 };
	uint8_t *buf;
	int rc = 0;

	if (r->l1_loaded >= r->info.l1_entries)
		return 0;
	if (!(buf = malloc(PIECE * 8)))
		return -ENOMEM;
	for (uint64_t i = r->l1_loaded; i < r->info.l1_entries && rc == 0;) {
		uint64_t n = r->info.l1_entries - i < PIECE ? r->info.l1_entries - i : PIECE;
		if ((rc = read_exact(r, buf, (size_t)n * 8, r->info.l1_offset + i * 8, "L1 table")) < 0)
			break;
		for (uint64_t k = 0; k < n && rc == 0; k++)
			rc = check_l1_entry(r, i + k, be64(buf + k * 8));
		i += n;
	}
	free(buf);
	return rc;
}

static int inflate_cluster(qcow2_reader *r, uint64_t entry);

/* Entry j of the L2 table at l2_off, of a cluster whose bytes up to the
 * disk's end are rest: what a read of it would touch lies in the file and
 * is aligned; a compressed cluster is inflated. */
static int check_l2_entry(qcow2_reader *r, struct l2e e, uint64_t l2_off, uint64_t j, uint64_t rest)
{
	uint32_t x = 62 - (r->info.cluster_bits - 8);
	uint64_t off, want = rest < r->cluster_size ? rest : r->cluster_size;
	int rc;

	if (e.word & QCOW2_L2_COMPRESSED) {
		off = e.word & ((1ull << x) - 1);
		if (off >= r->file_size) /* its last sector may pass the end: the stream ends before */
			goto beyond;
		return inflate_cluster(r, e.word);
	}
	if ((rc = check_bitmap(r, e)) < 0)
		return rc;
	off = e.word & QCOW2_OFFSET_MASK;
	if (off == 0)
		return 0; /* unallocated (or zero without an allocation): reads as zeros */
	if (off & (r->cluster_size - 1))
		return refuse(r->why, sizeof r->why,
		              "qcow2: data cluster offset %llu (L2 table at %llu, entry %llu) is not cluster aligned",
		              (unsigned long long)off, (unsigned long long)l2_off, (unsigned long long)j);
	if (r->info.extended_l2) {
		/* The allocated subclusters that are not zero: up to the last one. */
		uint64_t data = e.bitmap & ~(e.bitmap >> 32) & 0xffffffffull;
		if (!data)
			return 0;
		uint64_t sc_end = (uint64_t)(64 - __builtin_clzll(data)) << r->sc_bits;
		if (sc_end < want)
			want = sc_end;
	} else if (e.word & QCOW2_L2_ZERO) {
		return 0; /* a zero cluster: its allocation is never read */
	}
	/* What qcow2_pread reads of it: up to the disk's end. */
	if (off + want <= r->file_size)
		return 0;
beyond:
	return refuse(r->why, sizeof r->why,
	              "qcow2: %s cluster at %llu (L2 table at %llu, entry %llu) is beyond the end of the file (%llu "
	              "bytes): the file is cut short",
	              e.word & QCOW2_L2_COMPRESSED ? "compressed" : "data", (unsigned long long)off,
	              (unsigned long long)l2_off, (unsigned long long)j, (unsigned long long)r->file_size);
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Every L2 table the disk uses, each distinct one once (an L1 table that
 * names one table from many entries makes no more work than one entry):
 * its entries of clusters the virtual size reaches.  Only the last L1
 * entry's table may be cut by the disk's end; a table that another entry
 * names too is checked whole. */
static int check_l2_tables(qcow2_reader *r)
{
	uint64_t per_l2 = 1ull << r->l2_bits, last = r->l1_loaded - 1;
	uint64_t last_off = r->l1[last] & QCOW2_OFFSET_MASK;
	uint64_t *offs;
	size_t n = 0;
	int rc = 0;

	for (uint32_t i = 0; i < r->l1_loaded; i++)
		if ((rc = check_l1_entry(r, i, r->l1[i])) < 0)
			return rc;
	if (!(offs = malloc((size_t)r->l1_loaded * sizeof *offs)))
		return -ENOMEM;
	for (uint32_t i = 0; i < r->l1_loaded; i++)
		if (r->l1[i] & QCOW2_OFFSET_MASK)
			offs[n++] = r->l1[i] & QCOW2_OFFSET_MASK;
	qsort(offs, n, sizeof *offs, u64_cmp);
	for (size_t k = 0; k < n && rc == 0; k++) {
		const uint8_t *t;
		bool named_again = k + 1 < n && offs[k + 1] == offs[k];
		/* The disk's clusters this table maps: from `first`, `used` of them. */
		uint64_t first = 0, used = per_l2, rest = r->cluster_size;
		bool cut = offs[k] == last_off && !named_again;
		if (k > 0 && offs[k - 1] == offs[k])
			continue;
		if (cut) {
			first = last * per_l2;
			used = ((r->info.size + r->cluster_size - 1) >> r->info.cluster_bits) - first;
		}
		if ((rc = l2_get(r, offs[k], &t)) < 0)
			break;
		for (uint64_t j = 0; j < used && rc == 0; j++) {
			if (cut)
				rest = r->info.size - ((first + j) << r->info.cluster_bits);
			rc = check_l2_entry(r, l2e_at(r, t, j), offs[k], j, rest);
		}
	}
	free(offs);
	return rc;
}

int qcow2_check_tables(qcow2_reader *r)
{
	int rc;

	if (!r->file_size)
		return refuse(r->why, sizeof r->why, "qcow2: the file's size is unknown");
	if ((rc = check_snapshots(r)) < 0 || (rc = check_l1_tail(r)) < 0)
		return rc;
	return check_l2_tables(r);
}

/* ---- seeking data ------------------------------------------------------------ */

/* Whether entry e maps bytes from the file: what qcow2_pread does not
 * call a hole (an extended entry: any subcluster allocated; an invalid
 * bitmap is data here, so that the read refuses it). */
static bool l2e_has_data(const qcow2_reader *r, struct l2e e)
{
	if (e.word & QCOW2_L2_COMPRESSED)
		return true;
	if (r->info.extended_l2)
		return (e.bitmap & 0xffffffffull) != 0;
	return (e.word & QCOW2_OFFSET_MASK) != 0 && !(e.word & QCOW2_L2_ZERO);
}

int qcow2_next_data(qcow2_reader *r, uint64_t off, uint64_t *out)
{
	uint64_t per_l2 = 1ull << r->l2_bits, clusters = (r->info.size + r->cluster_size - 1) >> r->info.cluster_bits;
	uint64_t g = off >> r->info.cluster_bits;
	int rc;

	*out = r->info.size;
	while (g < clusters) {
		uint64_t l1i = g >> r->l2_bits, l2_off, end;
		const uint8_t *t;

		if (l1i >= r->l1_loaded) /* cannot happen after check_l1: defensive */
			break;
		l2_off = r->l1[l1i] & QCOW2_OFFSET_MASK;
		if (l2_off == 0) { /* a whole table's range unallocated: one step */
			g = (l1i + 1) << r->l2_bits;
			continue;
		}
		if (l2_off & (r->cluster_size - 1))
			return refuse(r->why, sizeof r->why, "qcow2: L2 table offset %llu is not cluster aligned",
			              (unsigned long long)l2_off);
		if ((rc = l2_get(r, l2_off, &t)) < 0)
			return rc;
		end = (l1i + 1) << r->l2_bits < clusters ? (l1i + 1) << r->l2_bits : clusters;
		for (; g < end; g++)
			if (l2e_has_data(r, l2e_at(r, t, g & (per_l2 - 1)))) {
				*out = g << r->info.cluster_bits;
				return 0;
			}
	}
	return 0;
}

/* ---- reading ---------------------------------------------------------------- */

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
	bool cut = r->file_size && clen > r->file_size - coff;
	if (cut)
		clen = (size_t)(r->file_size - coff);
	if ((n = read_full(r, r->cbuf, clen, coff)) < 0)
		return (int)n;
	r->zs.next_in = r->cbuf;
	r->zs.avail_in = (uInt)n;
	r->zs.next_out = r->zbuf;
	r->zs.avail_out = (uInt)r->cluster_size;
	zrc = inflate(&r->zs, Z_FINISH);
	/* As qemu: the output must fill exactly one cluster. */
	if ((zrc != Z_STREAM_END && zrc != Z_BUF_ERROR && zrc != Z_OK) || r->zs.avail_out != 0) {
		if (cut && zrc == Z_BUF_ERROR) /* it wanted the bytes past the end */
			return refuse(r->why, sizeof r->why,
			              "qcow2: compressed cluster at %llu runs beyond the end of the file (%llu bytes): "
			              "the file is cut short",
			              (unsigned long long)coff, (unsigned long long)r->file_size);
		return refuse(r->why, sizeof r->why, "qcow2: corrupt compressed cluster at %llu",
		              (unsigned long long)coff);
	}
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

/* Bytes at host offset host into dst: extends the pending run when they
 * follow it both in the file and in dst, else starts a new one. */
static int run_add(qcow2_reader *r, struct run *run, uint8_t *dst, uint64_t host, size_t n)
{
	int rc;

	if (run->len && run->dst + run->len == dst && run->host + run->len == host) {
		run->len += n;
		return 0;
	}
	if ((rc = run_flush(r, run)) < 0)
		return rc;
	*run = (struct run){.dst = dst, .host = host, .len = n};
	return 0;
}

/* One extended cluster's part [in, in+n) at host: subcluster by
 * subcluster, zeros where nothing is allocated or the zero bit is set. */
static int read_subclusters(qcow2_reader *r, struct l2e e, uint64_t host, uint8_t *dst, size_t in, size_t n,
                            struct run *run, bool *hole)
{
	size_t done = 0;
	int rc;

	while (done < n) {
		size_t pos = in + done;
		uint32_t sc = (uint32_t)(pos >> r->sc_bits);
		size_t piece = (((size_t)sc + 1) << r->sc_bits) - pos;
		bool data = (e.bitmap >> sc & 1) && !(e.bitmap >> (32 + sc) & 1);

		if (piece > n - done)
			piece = n - done;
		if (!data) {
			memset(dst + done, 0, piece);
		} else {
			*hole = false;
			if ((rc = run_add(r, run, dst + done, host + pos, piece)) < 0)
				return rc;
		}
		done += piece;
	}
	return 0;
}

/* One cluster's part [in, in+n) of the read into dst: extends the pending
 * run when the data is contiguous in the file, else serves it now. */
static int read_piece(qcow2_reader *r, struct l2e e, uint8_t *dst, size_t in, size_t n, struct run *run,
                      bool *hole)
{
	uint64_t host;
	int rc;

	if (e.word & QCOW2_L2_COMPRESSED) {
		if ((rc = run_flush(r, run)) < 0 || (rc = inflate_cluster(r, e.word)) < 0)
			return rc;
		memcpy(dst, r->zbuf + in, n);
		*hole = false;
		return 0;
	}
	if ((rc = check_bitmap(r, e)) < 0)
		return rc;
	host = e.word & QCOW2_OFFSET_MASK;
	if (host & (r->cluster_size - 1))
		return refuse(r->why, sizeof r->why, "qcow2: data cluster offset %llu is not cluster aligned",
		              (unsigned long long)host);
	if (r->info.extended_l2)
		return read_subclusters(r, e, host, dst, in, n, run, hole);
	if (e.word & QCOW2_L2_ZERO || host == 0) {
		memset(dst, 0, n);
		return 0;
	}
	*hole = false;
	return run_add(r, run, dst, host + in, n);
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
		struct l2e e;

		if (n > len - done)
			n = len - done;
		if ((rc = l2_entry(r, voff, &e)) < 0 ||
		    (rc = read_piece(r, e, (uint8_t *)buf + done, in, n, &run, &hole)) < 0)
			return rc;
		done += n;
	}
	if ((rc = run_flush(r, &run)) < 0)
		return rc;
	if (hole_out)
		*hole_out = hole;
	return (ssize_t)done;
}
