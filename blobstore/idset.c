/*
 * idset.c — a set of chunk ids (open addressing, linear probing).
 *
 * Who calls it: model/ builds the set of live chunk ids from every manifest
 * it holds and hands it to blob_store_gc; gc.c adds the wblobs' base ids.
 *
 * Workload: up to a few million ids (100s of GiB of 1 MiB chunks), added
 * once, looked up once per stored chunk.  Ids are keyed hashes and so well
 * spread, but both halves are mixed into the slot index anyway, so that
 * structured ids (tests, a buggy caller) cannot degrade the table into a
 * linear scan.  The null id marks an empty
 * slot; whether the null id itself is in the set is a separate flag.  The
 * table doubles at 70 % load.  Not thread-safe; readers may share a set that
 * nobody modifies.
 */
#include <errno.h>
#include <stdlib.h>

#include "blobstore_int.h"

struct blob_idset {
	chunk_id *slots;
	size_t cap; /* power of two */
	size_t n;   /* non-null ids stored */
	bool has_null;
};

static size_t idset_hash(const chunk_id *id, size_t cap)
{
	uint64_t lo, hi, h;

	memcpy(&hi, id->b, sizeof hi);
	memcpy(&lo, id->b + 8, sizeof lo);
	/* murmur3's fmix64 over both halves: every input bit reaches the
	 * low bits that pick the slot. */
	h = hi ^ (lo * 0x9e3779b97f4a7c15ull) ^ (lo >> 32);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return (size_t)h & (cap - 1);
}

int blob_idset_new(blob_idset **out)
{
	blob_idset *set = calloc(1, sizeof *set);

	if (set == NULL)
		return -ENOMEM;
	set->cap = 64;
	set->slots = calloc(set->cap, sizeof *set->slots);
	if (set->slots == NULL) {
		free(set);
		return -ENOMEM;
	}
	*out = set;
	return 0;
}

void blob_idset_free(blob_idset *set)
{
	if (set == NULL)
		return;
	free(set->slots);
	free(set);
}

/* Slot of id, or the empty slot where it would go. */
static size_t idset_find(const chunk_id *slots, size_t cap, const chunk_id *id)
{
	size_t i = idset_hash(id, cap);

	while (!chunk_id_is_null(&slots[i]) && !chunk_id_equal(&slots[i], id))
		i = (i + 1) & (cap - 1);
	return i;
}

static int idset_grow(blob_idset *set)
{
	size_t cap = set->cap * 2;
	chunk_id *slots = calloc(cap, sizeof *slots);

	if (slots == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < set->cap; i++)
		if (!chunk_id_is_null(&set->slots[i]))
			slots[idset_find(slots, cap, &set->slots[i])] = set->slots[i];
	free(set->slots);
	set->slots = slots;
	set->cap = cap;
	return 0;
}

int blob_idset_add(blob_idset *set, const chunk_id *id)
{
	size_t i;
	int rc;

	if (chunk_id_is_null(id)) {
		set->has_null = true;
		return 0;
	}
	if ((set->n + 1) * 10 > set->cap * 7 && (rc = idset_grow(set)) < 0)
		return rc;
	i = idset_find(set->slots, set->cap, id);
	if (chunk_id_is_null(&set->slots[i])) {
		set->slots[i] = *id;
		set->n++;
	}
	return 0;
}

bool blob_idset_has(const blob_idset *set, const chunk_id *id)
{
	if (set == NULL)
		return false;
	if (chunk_id_is_null(id))
		return set->has_null;
	return chunk_id_equal(&set->slots[idset_find(set->slots, set->cap, id)], id);
}
