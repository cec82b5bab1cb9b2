/*
 * glance_rows.c — what the image API (SPEC §19) reads to show images:
 * an image's row with its system disk's file size and SHA-256 in one
 * statement, and the ids of each source of a listing (the caller's
 * private/ and iso/, the platform's public/ and marketplace/, the images
 * shared with it), newest first, a page an index range.
 *
 * Who calls it: fs/serve/glance (show, list), the unit tests.
 *
 * Cost (SPEC §12): a listing merges the sources' ids in pages of
 * MODEL_API_IDS_PAGE (one statement each, an index range of one account's
 * rows or the caller's shares), then reads each shown image in one
 * statement: what a page costs follows the page and what the caller
 * filtered out of its own images, never the service's other accounts.
 */
#include <errno.h>
#include <string.h>

#include "model_int.h"

/* The image row, then its system disk's blob: size, SHA-256 as stored,
 * its key, MD5 and SHA-512 as stored (vda; an ISO image's cdrom). */
#define API_COLS                                                                                          \
	MODEL_IMAGE_FIELDS ", b.size, b.sha256, b.key_id, b.md5, b.sha512 " MODEL_IMAGE_FROM                \
	"LEFT JOIN devices d ON d.image_id = i.id AND d.idx = CASE WHEN i.folder = 4 THEN 26 ELSE 0 END "   \
	"LEFT JOIN blobs b ON b.id = d.blob_id "

struct api_fill {
	model *m;
	struct model_api_image *out;
};

static void api_fill(db_stmt *st, void *arg)
{
	struct api_fill *f = arg;
	struct model_api_image *o = f->out;
	char stored[MODEL_HASH512_STORED];
	int64_t key_id = db_col_int64(st, MODEL_IMAGE_NFIELDS + 2);
	model_image_row(st, &o->img);
	o->has_data = db_col_type(st, MODEL_IMAGE_NFIELDS) != DB_NULL;
	o->file_size = o->has_data ? (uint64_t)db_col_int64(st, MODEL_IMAGE_NFIELDS) : 0;
	model_col_text(st, MODEL_IMAGE_NFIELDS + 1, stored, sizeof(stored));
	o->sha256[0] = o->md5[0] = o->sha512[0] = '\0';
	/* sealed under the image's key when it is encrypted (SPEC §17) */
	if (stored[0])
		model_sha256_open(f->m, key_id, stored, o->sha256);
	model_col_text(st, MODEL_IMAGE_NFIELDS + 3, stored, sizeof(stored));
	if (stored[0])
		model_md5_open(f->m, key_id, stored, o->md5);
	model_col_text(st, MODEL_IMAGE_NFIELDS + 4, stored, sizeof(stored));
	if (stored[0])
		model_sha512_open(f->m, key_id, stored, o->sha512);
}

int model_api_image_get(model *m, int64_t id, struct model_api_image *out)
{
	struct api_fill f = {m, out};
	return model_fetch_one(m, SQL("SELECT " API_COLS "WHERE i.id = ?"), NULL, id, api_fill, &f);
}

int model_api_image_by_uuid(model *m, const char *uuid, struct model_api_image *out)
{
	struct api_fill f = {m, out};
	char low[37];
	if (!model_uuid_valid(uuid))
		return -ENOENT;
	for (size_t i = 0; i < sizeof(low); i++) /* stored lowercase */
		low[i] = (char)(uuid[i] >= 'A' && uuid[i] <= 'F' ? uuid[i] - 'A' + 'a' : uuid[i]);
	return model_fetch_one(m, SQL("SELECT " API_COLS "WHERE i.uuid = ?"), low, 0, api_fill, &f);
}

int model_api_ids(model *m, enum model_api_source src, int64_t region_id, int64_t account_id,
                  enum model_member_status member, int64_t before, int64_t *ids, int max)
{
	struct model_conn *c;
	db_stmt *st;
	int rc, n = 0;
	if (max > MODEL_API_IDS_PAGE)
		max = MODEL_API_IDS_PAGE;
	if (before <= 0)
		before = INT64_MAX;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (src == MODEL_API_SHARED) {
		/* the caller's shares, by the receiver's index; member 0: any answer */
		st = model_stmt(c, SQL("SELECT s.image_id FROM shares s JOIN images i ON i.id = s.image_id WHERE "
		                       "s.account_id = ?1 AND s.image_id < ?2 AND (?3 = 0 OR s.status = ?3) AND "
		                       "i.region_id = ?4 AND i.folder = 3 ORDER BY s.image_id DESC LIMIT ?5"));
		if (!st)
			return -EIO;
		db_bind_int64(st, 1, account_id);
		db_bind_int64(st, 2, before);
		db_bind_int(st, 3, member);
		db_bind_int64(st, 4, region_id);
		db_bind_int(st, 5, max);
	} else {
		static const enum model_folder folders[] = {
			[MODEL_API_OWN_PRIVATE] = MODEL_FOLDER_PRIVATE,
			[MODEL_API_OWN_ISO] = MODEL_FOLDER_ISO,
			[MODEL_API_PUBLIC] = MODEL_FOLDER_PUBLIC,
			[MODEL_API_MARKETPLACE] = MODEL_FOLDER_MARKETPLACE,
		};
		if ((unsigned)src >= sizeof(folders) / sizeof(folders[0]))
			return -EINVAL;
		bool platform = src == MODEL_API_PUBLIC || src == MODEL_API_MARKETPLACE;
		st = model_stmt(c, SQL("SELECT id FROM images WHERE region_id = ? AND account_id = ? AND folder = ? AND "
		                       "id < ? ORDER BY id DESC LIMIT ?"));
		if (!st)
			return -EIO;
		db_bind_int64(st, 1, region_id);
		db_bind_int64(st, 2, platform ? 0 : account_id);
		db_bind_int(st, 3, folders[src]);
		db_bind_int64(st, 4, before);
		db_bind_int(st, 5, max);
	}
	while ((rc = db_step(st)) == DB_ROW)
		ids[n++] = db_col_int64(st, 0);
	db_reset(st);
	return rc == DB_DONE ? n : db_errno(rc);
}
