/*
 * chunk_id.c — the chunk id value type: compare, test for the hole id,
 * print and parse.
 *
 * Who calls it: everything that handles manifests (blobstore/, model/, fs/
 * for the xattr and the admin tools).  A chunk id is the 16-byte canonical
 * (big-endian) form of the keyed XXH3-128 of the chunk's bytes; the all-zero
 * id is reserved for holes.  The printed form, 32 lowercase hex digits, is
 * also the chunk's file name in the local backend.
 */
#include <errno.h>

#include "blobstore_int.h"

bool chunk_id_equal(const chunk_id *a, const chunk_id *b)
{
	return memcmp(a->b, b->b, sizeof a->b) == 0;
}

bool chunk_id_is_null(const chunk_id *id)
{
	for (size_t i = 0; i < sizeof id->b; i++)
		if (id->b[i] != 0)
			return false;
	return true;
}

void chunk_id_fmt(char out[33], const chunk_id *id)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < sizeof id->b; i++) {
		out[2 * i] = hex[id->b[i] >> 4];
		out[2 * i + 1] = hex[id->b[i] & 15];
	}
	out[32] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int chunk_id_parse(chunk_id *out, const char *hex)
{
	chunk_id id;

	for (size_t i = 0; i < 32; i++)
		if (hexval(hex[i]) < 0) /* also stops at the NUL of a short string */
			return -EINVAL;
	if (hex[32] != '\0')
		return -EINVAL;
	for (size_t i = 0; i < sizeof id.b; i++)
		id.b[i] = (uint8_t)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
	*out = id;
	return 0;
}
