/*
 * props.c — an image's free-form properties (SPEC §19, §2.1
 * `properties`): key=value pairs the image API sets (Glance's "additional
 * properties": `openstack image create` sends three of its own, tools
 * add hw_*, os_distro ...), shown in the tree as the `properties` file.
 *
 * Who calls it: glance.c (which writes them, inside its change lists),
 * fs/serve/glance (every image it shows), fs/fuse (the file), the unit
 * tests.
 *
 * Layout: one row of image_props per (image, key), gone with the image.
 * Bounded (SPEC §12): at most MODEL_PROPS_MAX of them an image, each key
 * and value at most 255 bytes — what one image can make a reader hold is
 * 64 KiB.  A listing reads the properties of MODEL_PROPS_BATCH images in one
 * statement (model_image_props_of), never one statement per image.
 */
#include <errno.h>
#include <string.h>

#include "model_int.h"

int model_prop_key_check(const char *key, struct model_err *err)
{
	size_t n = strlen(key);
	int rc;
	if (n == 0)
		return model_fail(err, -EINVAL, "a property's name cannot be empty");
	if (n > MODEL_PROP_KEY_MAX)
		return model_fail(err, -EINVAL, "a property's name is at most %d bytes", MODEL_PROP_KEY_MAX);
	if ((rc = model_text_check("a property's name", key, "", err)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (key[i] == ' ' || key[i] == '=')
			return model_fail(err, -EINVAL, "a property's name cannot hold %s",
			                  key[i] == ' ' ? "blanks" : "'='");
	return 0;
}

struct props_cb {
	int (*cb)(void *arg, const char *key, const char *value);
	void *arg;
};

static int props_each(void *arg, db_stmt *st)
{
	struct props_cb *p = arg;
	return p->cb(p->arg, db_col_text(st, 0), db_col_text(st, 1));
}

int model_image_props(model *m, int64_t image_id, int (*cb)(void *arg, const char *key, const char *value),
                      void *arg)
{
	struct model_conn *c;
	struct props_cb p = {cb, arg};
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT key, value FROM image_props WHERE image_id = ? ORDER BY key"))))
		return -EIO;
	db_bind_int64(st, 1, image_id);
	return model_each_row(st, props_each, &p);
}

struct range_cb {
	int (*cb)(void *arg, int64_t image_id, const char *key, const char *value);
	void *arg;
};

static int range_each(void *arg, db_stmt *st)
{
	struct range_cb *r = arg;
	return r->cb(r->arg, db_col_int64(st, 0), db_col_text(st, 1), db_col_text(st, 2));
}

int model_image_props_of(model *m, const int64_t *ids, size_t n,
                         int (*cb)(void *arg, int64_t image_id, const char *key, const char *value), void *arg)
{
	struct model_conn *c;
	struct range_cb r = {cb, arg};
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	for (size_t at = 0; at < n; at += MODEL_PROPS_BATCH) {
		_Static_assert(MODEL_PROPS_BATCH == 16, "the statement below names 16 images");
		if (!(st = model_stmt(c, SQL("SELECT image_id, key, value FROM image_props WHERE image_id IN (?, ?, ?, ?, ?, "
		                             "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ORDER BY image_id, key"))))
			return -EIO;
		for (size_t i = 0; i < MODEL_PROPS_BATCH; i++) /* 0 names no image: ids start at 1 */
			db_bind_int64(st, (int)i + 1, at + i < n ? ids[at + i] : 0);
		if ((rc = model_each_row(st, range_each, &r)) != 0)
			return rc;
	}
	return 0;
}
