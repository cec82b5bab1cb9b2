/*
 * qcow2_out.c — a sealed blob served as a QCOW2 file (layout in
 * qcow2_out.h).
 *
 * Who calls it: fs/serve/ for every range of a qcow2 download, from its
 * connection threads (a qcow2_out is per request: it holds the list of the
 * L1 entries that have an L2 table, 4 bytes each, at most one per data
 * chunk, and nothing that grows with the virtual size).
 *
 * Reading any byte range: the cluster it falls in tells what it is; a
 * table cluster's bytes are computed entry by entry for the part asked
 * (an L1 entry's table is found by a binary search of that list, an L2
 * entry's cluster by one of the manifest's data chunks), a data cluster's
 * come from the blob store.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qcow2_out.h"

#define QO_CLUSTER_BITS BLOB_CHUNK_SHIFT /* one data chunk = one cluster */
#define QO_CLUSTER ((uint64_t)1 << QO_CLUSTER_BITS)
#define QO_L2_ENTRIES (QO_CLUSTER / 8)  /* 131072: one L2 table maps 128 GiB */
#define QO_RC_ENTRIES (QO_CLUSTER / 2)  /* 16-bit refcounts per block */
#define QO_COPIED (1ull << 63)
#define QO_HEADER_LEN 104

_Static_assert(QO_CLUSTER_BITS >= 9 && QO_CLUSTER_BITS <= 21, "a QCOW2 cluster is 512 B .. 2 MiB");

struct qcow2_out {
	const blob_manifest *m; /* its index[] lists the data chunks, ascending */
	uint32_t nl1;      /* L1 entries */
	uint32_t *l2_key;  /* the L1 entries that have an L2 table, ascending: */
	uint32_t nl2;      /* the table of l2_key[j] is the j-th */
	/* First cluster of each region, and the total. */
	uint64_t l1_at, l1_n, rt_at, rt_n, rb_at, rb_n, l2_at, data_at, total;
};

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

int qcow2_out_new(qcow2_out **out, const blob_manifest *m)
{
	qcow2_out *q;
	if (m->size == 0 || m->nchunks == 0)
		return -EINVAL;
	if (!(q = calloc(1, sizeof(*q))))
		return -ENOMEM;
	q->m = m;
	q->nl1 = (uint32_t)div_up(m->nchunks, QO_L2_ENTRIES);
	q->l2_key = malloc(sizeof(*q->l2_key) * (m->count ? m->count : 1));
	if (!q->l2_key) {
		qcow2_out_free(q);
		return -ENOMEM;
	}
	for (uint32_t k = 0; k < m->count; k++) {
		uint32_t l1 = m->index[k] / QO_L2_ENTRIES;
		if (q->nl2 == 0 || q->l2_key[q->nl2 - 1] != l1)
			q->l2_key[q->nl2++] = l1;
	}
	q->l1_at = 1;
	q->l1_n = div_up((uint64_t)q->nl1 * 8, QO_CLUSTER);
	/* The refcounts cover every cluster, their own included: grow until
	 * the count is stable (two rounds at most in practice). */
	uint64_t fixed = 1 + q->l1_n + q->nl2 + m->count, rb = 0, rt = 0, total;
	for (;;) {
		total = fixed + rb + rt;
		uint64_t rb2 = div_up(total, QO_RC_ENTRIES), rt2 = div_up(rb2 * 8, QO_CLUSTER);
		if (rb2 == rb && rt2 == rt)
			break;
		rb = rb2;
		rt = rt2;
	}
	q->rt_at = q->l1_at + q->l1_n;
	q->rt_n = rt;
	q->rb_at = q->rt_at + rt;
	q->rb_n = rb;
	q->l2_at = q->rb_at + rb;
	q->data_at = q->l2_at + q->nl2;
	q->total = total;
	*out = q;
	return 0;
}

void qcow2_out_free(qcow2_out *q)
{
	if (!q)
		return;
	free(q->l2_key);
	free(q);
}

uint64_t qcow2_out_size(const qcow2_out *q)
{
	return q->total * QO_CLUSTER;
}

static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* Position of v in the ascending a[0..n), or -1. */
static int64_t rank_of(const uint32_t *a, uint32_t n, uint64_t v)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (a[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && a[lo] == v ? (int64_t)lo : -1;
}

/* Entry e (esize bytes, big-endian) of the table in cluster c. */
static uint64_t table_entry(const qcow2_out *q, uint64_t c, uint64_t e)
{
	if (c >= q->l1_at && c < q->l1_at + q->l1_n) {
		uint64_t k = (c - q->l1_at) * (QO_CLUSTER / 8) + e;
		int64_t j = k < q->nl1 ? rank_of(q->l2_key, q->nl2, k) : -1;
		if (j < 0)
			return 0;
		return ((q->l2_at + (uint64_t)j) * QO_CLUSTER) | QO_COPIED;
	}
	if (c >= q->rt_at && c < q->rt_at + q->rt_n) {
		uint64_t b = (c - q->rt_at) * (QO_CLUSTER / 8) + e;
		return b < q->rb_n ? (q->rb_at + b) * QO_CLUSTER : 0;
	}
	if (c >= q->rb_at && c < q->rb_at + q->rb_n) {
		uint64_t cl = (c - q->rb_at) * QO_RC_ENTRIES + e;
		return cl < q->total ? 1 : 0;
	}
	/* An L2 table: its ordinal names the L1 entry it serves. */
	uint64_t ord = c - q->l2_at;
	if (ord >= q->nl2)
		return 0;
	uint64_t i = (uint64_t)q->l2_key[ord] * QO_L2_ENTRIES + e;
	if (i >= q->m->nchunks)
		return 0;
	int64_t r = rank_of(q->m->index, q->m->count, i);
	return r < 0 ? 0 : ((q->data_at + (uint64_t)r) * QO_CLUSTER) | QO_COPIED;
}

static void header(const qcow2_out *q, uint8_t h[QO_HEADER_LEN])
{
	memset(h, 0, QO_HEADER_LEN);
	be32(h + 0, 0x514649fbu); /* "QFI\xfb" */
	be32(h + 4, 3);
	be32(h + 20, QO_CLUSTER_BITS);
	be64(h + 24, q->m->size);
	be32(h + 36, q->nl1);
	be64(h + 40, q->l1_at * QO_CLUSTER);
	be64(h + 48, q->rt_at * QO_CLUSTER);
	be32(h + 56, (uint32_t)q->rt_n);
	be32(h + 96, 4); /* refcount_order: 16 bits */
	be32(h + 100, QO_HEADER_LEN);
}

/* n bytes of the metadata cluster c from its offset coff. */
static void meta_bytes(const qcow2_out *q, uint64_t c, uint64_t coff, uint8_t *dst, size_t n)
{
	if (c == 0) {
		uint8_t h[QO_HEADER_LEN];
		memset(dst, 0, n);
		if (coff < QO_HEADER_LEN) {
			header(q, h);
			size_t k = QO_HEADER_LEN - coff < n ? (size_t)(QO_HEADER_LEN - coff) : n;
			memcpy(dst, h + coff, k);
		}
		return;
	}
	unsigned esize = c >= q->rb_at && c < q->rb_at + q->rb_n ? 2 : 8;
	size_t done = 0;
	while (done < n) {
		uint64_t pos = coff + done, e = pos / esize, eoff = pos % esize;
		uint8_t v[8];
		uint64_t val = table_entry(q, c, e);
		if (esize == 2) {
			v[0] = (uint8_t)(val >> 8);
			v[1] = (uint8_t)val;
		} else {
			be64(v, val);
		}
		size_t k = esize - eoff < n - done ? (size_t)(esize - eoff) : n - done;
		memcpy(dst + done, v + eoff, k);
		done += k;
	}
}

ssize_t qcow2_out_read(qcow2_out *q, blob_store *s, void *buf, size_t len, uint64_t off)
{
	uint64_t size = qcow2_out_size(q);
	size_t done = 0;
	if (off >= size)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	while (done < len) {
		uint64_t pos = off + done, c = pos >> QO_CLUSTER_BITS, coff = pos & (QO_CLUSTER - 1);
		size_t n = QO_CLUSTER - coff < len - done ? (size_t)(QO_CLUSTER - coff) : len - done;
		uint8_t *dst = (uint8_t *)buf + done;
		if (c < q->data_at) {
			meta_bytes(q, c, coff, dst, n);
		} else {
			uint32_t i = q->m->index[c - q->data_at];
			size_t clen = blob_chunk_len(q->m->size, i), k = 0;
			if (coff < clen) {
				k = clen - coff < n ? (size_t)(clen - coff) : n;
				ssize_t r = blob_store_read(s, q->m, dst, k, ((uint64_t)i << BLOB_CHUNK_SHIFT) + coff);
				if (r < 0)
					return done ? (ssize_t)done : r;
				if ((size_t)r != k)
					return done ? (ssize_t)done : -EIO;
			}
			memset(dst + k, 0, n - k); /* the last cluster's padding */
		}
		done += n;
	}
	return (ssize_t)done;
}
