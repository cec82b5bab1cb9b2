/*
 * radix.c — sparse arrays indexed by chunk index (struct blob_radix).
 *
 * Who calls it: wblob.c, for the state byte and the streamed id of every
 * chunk of a writable blob; the unit tests (against a dense array).
 *
 * Why: a disk's virtual size is the tenant's to choose, up to BLOB_MAX_SIZE
 * (2^32 - 1 chunks); a dense array of one byte per chunk is 4 GiB at that
 * size, and 17 bytes per chunk (state and id) 68 GiB.  A blob_radix costs
 * memory only where an element is non-zero, so a writable blob's memory
 * follows what was written, never the size (SPEC §12 "Bounded by design").
 *
 * Shape: elements of esize bytes, all zero until set.  They live in leaves
 * of 2^leaf_bits elements (a leaf is a few KiB: one 4 KiB page of state
 * bytes, 256 ids); above the leaves, RADIX_LEVELS levels of directories of
 * 2^RADIX_DIR_BITS pointers each, indexed by the leaf number's digits, the
 * top one by the most significant (fewer bits there when the leaf number
 * has fewer than RADIX_LEVELS * RADIX_DIR_BITS).  A leaf is allocated when
 * the first non-zero element is stored in it and freed when its last one
 * goes back to zero; a directory when its first child is made and freed
 * with its last.  Each node counts what it holds (a leaf its non-zero
 * elements, a directory its children), so these are O(1) decisions.
 *
 * Costs: get is RADIX_LEVELS + 1 dependent loads; set the same, plus an
 * allocation or a free at most per level; next (the first non-zero
 * element at or after an index) skips absent subtrees whole and scans at
 * most the rest of each leaf it enters, so walking every non-zero element
 * costs in proportion to the leaves that hold them; clear_from frees whole
 * subtrees.  Nothing here is proportional to the largest index.
 *
 * Not thread-safe: the caller locks (wblob.c's rwlock: readers only get
 * and next).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blobstore_int.h"

#define RADIX_LEVELS 3
#define RADIX_DIR_BITS 8
#define RADIX_DIR (1u << RADIX_DIR_BITS)

struct radix_leaf {
	uint32_t nonzero; /* non-zero elements */
	uint8_t e[];      /* (1 << leaf_bits) * esize bytes */
};

struct radix_dir {
	uint32_t used; /* non-NULL children */
	void *child[RADIX_DIR];
};

int blob_radix_init(struct blob_radix *r, size_t esize, unsigned leaf_bits)
{
	/* The directories must cover every leaf number of a u32 index. */
	if (esize == 0 || leaf_bits >= 32 || 32 - leaf_bits > RADIX_LEVELS * RADIX_DIR_BITS)
		return -EINVAL;
	memset(r, 0, sizeof *r);
	r->esize = esize;
	r->leaf_bits = leaf_bits;
	return 0;
}

/* Bits of the leaf number the directory at level l (0: top) uses, and
 * where they start. */
static unsigned level_shift(unsigned l)
{
	return (RADIX_LEVELS - 1 - l) * RADIX_DIR_BITS;
}

static unsigned digit(uint32_t leafno, unsigned l)
{
	return (leafno >> level_shift(l)) & (RADIX_DIR - 1);
}

static bool elem_zero(const uint8_t *e, size_t esize)
{
	for (size_t k = 0; k < esize; k++)
		if (e[k])
			return false;
	return true;
}

static void free_node(struct blob_radix *r, void *node, unsigned l)
{
	if (node == NULL)
		return;
	if (l == RADIX_LEVELS) {
		r->leaves--;
		r->nonzero -= ((struct radix_leaf *)node)->nonzero;
		free(node);
		return;
	}
	struct radix_dir *d = node;
	for (unsigned k = 0; k < RADIX_DIR && d->used > 0; k++)
		if (d->child[k]) {
			free_node(r, d->child[k], l + 1);
			d->child[k] = NULL;
			d->used--;
		}
	r->dirs--;
	free(d);
}

void blob_radix_release(struct blob_radix *r)
{
	free_node(r, r->top, 0);
	r->top = NULL;
}

/* The leaf holding index i, NULL when absent. */
static struct radix_leaf *find_leaf(const struct blob_radix *r, uint32_t i)
{
	uint32_t leafno = i >> r->leaf_bits;
	const struct radix_dir *d = r->top;

	for (unsigned l = 0; d != NULL && l < RADIX_LEVELS - 1; l++)
		d = d->child[digit(leafno, l)];
	return d ? d->child[digit(leafno, RADIX_LEVELS - 1)] : NULL;
}

const void *blob_radix_get(const struct blob_radix *r, uint32_t i)
{
	struct radix_leaf *leaf = find_leaf(r, i);

	if (leaf == NULL)
		return NULL;
	return leaf->e + (size_t)(i & ((1u << r->leaf_bits) - 1)) * r->esize;
}

/* The leaf holding index i, made (with its directories) when absent. */
static struct radix_leaf *make_leaf(struct blob_radix *r, uint32_t i)
{
	uint32_t leafno = i >> r->leaf_bits;
	void **slot = (void **)&r->top;
	struct radix_dir *parent = NULL;

	for (unsigned l = 0; l <= RADIX_LEVELS; l++) {
		if (*slot == NULL) {
			size_t sz = l == RADIX_LEVELS
			                ? sizeof(struct radix_leaf) + ((size_t)r->esize << r->leaf_bits)
			                : sizeof(struct radix_dir);
			if ((*slot = calloc(1, sz)) == NULL)
				return NULL; /* directories made so far stay, empty: freed with the radix */
			if (l == RADIX_LEVELS)
				r->leaves++;
			else
				r->dirs++;
			if (parent)
				parent->used++;
		}
		if (l == RADIX_LEVELS)
			break;
		parent = *slot;
		slot = &parent->child[digit(leafno, l)];
	}
	return *slot;
}

int blob_radix_reserve(struct blob_radix *r, uint32_t i)
{
	return make_leaf(r, i) ? 0 : -ENOMEM;
}

/* Frees the leaf of index i when it holds nothing any more, and the
 * directories it leaves empty. */
static void prune(struct blob_radix *r, uint32_t i)
{
	uint32_t leafno = i >> r->leaf_bits;
	struct radix_dir *path[RADIX_LEVELS];
	struct radix_dir *d = r->top;

	for (unsigned l = 0; l < RADIX_LEVELS; l++) {
		path[l] = d;
		d = d->child[digit(leafno, l)];
	}
	if (((struct radix_leaf *)d)->nonzero > 0)
		return;
	free(d);
	r->leaves--;
	for (unsigned l = RADIX_LEVELS; l-- > 0;) {
		path[l]->child[digit(leafno, l)] = NULL;
		if (--path[l]->used > 0)
			return;
		free(path[l]);
		r->dirs--;
		if (l == 0)
			r->top = NULL;
	}
}

int blob_radix_set(struct blob_radix *r, uint32_t i, const void *elem)
{
	bool zero = elem_zero(elem, r->esize);
	struct radix_leaf *leaf = zero ? find_leaf(r, i) : make_leaf(r, i);
	uint8_t *e;
	bool was_zero;

	if (leaf == NULL)
		return zero ? 0 : -ENOMEM;
	e = leaf->e + (size_t)(i & ((1u << r->leaf_bits) - 1)) * r->esize;
	was_zero = elem_zero(e, r->esize);
	memcpy(e, elem, r->esize);
	if (was_zero && !zero) {
		leaf->nonzero++;
		r->nonzero++;
	} else if (!was_zero && zero) {
		leaf->nonzero--;
		r->nonzero--;
	}
	if (zero && leaf->nonzero == 0)
		prune(r, i);
	return 0;
}

/* The first non-zero element at or after from inside node (level l,
 * covering leaf numbers from base), into *out. */
static bool next_in(const struct blob_radix *r, const void *node, unsigned l, uint32_t base, uint32_t from,
                    uint32_t *out)
{
	if (l == RADIX_LEVELS) {
		const struct radix_leaf *leaf = node;
		uint32_t n = 1u << r->leaf_bits;
		uint32_t first = (uint32_t)((uint64_t)base << r->leaf_bits);
		uint32_t k = from > first ? from - first : 0;

		for (; k < n; k++)
			if (!elem_zero(leaf->e + (size_t)k * r->esize, r->esize)) {
				*out = first + k;
				return true;
			}
		return false;
	}
	const struct radix_dir *d = node;
	unsigned shift = level_shift(l);
	uint32_t fromleaf = from >> r->leaf_bits;
	unsigned k = 0;

	/* Children wholly before from are skipped; the one holding from is
	 * entered at from, the later ones at their start. */
	if ((uint64_t)fromleaf >= base)
		k = (unsigned)(((uint64_t)fromleaf - base) >> shift);
	for (; k < RADIX_DIR; k++) {
		uint64_t cbase = (uint64_t)base + ((uint64_t)k << shift);
		if (cbase > (UINT32_MAX >> r->leaf_bits))
			break; /* beyond the last leaf number */
		if (d->child[k] && next_in(r, d->child[k], l + 1, (uint32_t)cbase, from, out))
			return true;
	}
	return false;
}

bool blob_radix_next(const struct blob_radix *r, uint32_t from, uint32_t *out)
{
	return r->top != NULL && next_in(r, r->top, 0, 0, from, out);
}

/* Zeroes every element >= first inside node (as in next_in); returns
 * whether the node holds nothing any more (the caller frees it). */
static bool clear_in(struct blob_radix *r, void *node, unsigned l, uint32_t base, uint32_t first)
{
	if (l == RADIX_LEVELS) {
		struct radix_leaf *leaf = node;
		uint32_t n = 1u << r->leaf_bits;
		uint32_t start = (uint32_t)((uint64_t)base << r->leaf_bits);

		for (uint32_t k = first > start ? first - start : 0; k < n && leaf->nonzero > 0; k++) {
			uint8_t *e = leaf->e + (size_t)k * r->esize;
			if (!elem_zero(e, r->esize)) {
				memset(e, 0, r->esize);
				leaf->nonzero--;
				r->nonzero--;
			}
		}
		return leaf->nonzero == 0;
	}
	struct radix_dir *d = node;
	unsigned shift = level_shift(l);
	uint32_t firstleaf = first >> r->leaf_bits;

	for (unsigned k = 0; k < RADIX_DIR && d->used > 0; k++) {
		uint64_t cbase = (uint64_t)base + ((uint64_t)k << shift);
		uint64_t cend = cbase + ((uint64_t)1 << shift); /* leaf numbers [cbase, cend) */
		if (d->child[k] == NULL || cend <= firstleaf)
			continue;
		/* A child wholly at or after first goes; the one holding first
		 * is cleared from there and goes if that empties it. */
		if ((cbase << r->leaf_bits) >= first || clear_in(r, d->child[k], l + 1, (uint32_t)cbase, first)) {
			free_node(r, d->child[k], l + 1);
			d->child[k] = NULL;
			d->used--;
		}
	}
	return d->used == 0;
}

void blob_radix_clear_from(struct blob_radix *r, uint32_t first)
{
	if (r->top && clear_in(r, r->top, 0, 0, first)) {
		free(r->top);
		r->dirs--;
		r->top = NULL;
	}
}
