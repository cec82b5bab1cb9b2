/*
 * extid.c — from an external id (img-…, snap-…, i-…) to its row.
 *
 * Commands that name another object (an image in an instance's `image`,
 * SPEC §12) accept its id as well as its path; the caller decides whether
 * the object is visible to whoever asked.
 */
#include <errno.h>
#include <string.h>

#include "model_int.h"

static void id_fill(db_stmt *st, void *out)
{
	*(int64_t *)out = db_col_int64(st, 0);
}

int model_find_ext_id(model *m, const char *ext_id, enum model_ext_kind *kind_out, int64_t *id_out)
{
	if (strncmp(ext_id, "img-", 4) == 0) {
		*kind_out = MODEL_EXT_IMAGE;
		return model_fetch_one(m, SQL("SELECT id FROM images WHERE ext_id = ?"), ext_id, 0, id_fill, id_out);
	}
	if (strncmp(ext_id, "snap-", 5) == 0) {
		*kind_out = MODEL_EXT_SNAPSHOT;
		return model_fetch_one(m, SQL("SELECT id FROM snapshots WHERE ext_id = ?"), ext_id, 0, id_fill, id_out);
	}
	if (strncmp(ext_id, "i-", 2) == 0) {
		*kind_out = MODEL_EXT_INSTANCE;
		return model_fetch_one(m, SQL("SELECT id FROM instances WHERE ext_id = ?"), ext_id, 0, id_fill, id_out);
	}
	return -ENOENT;
}
