/*
 * region.c — adding a region (SPEC §1, `imgfs admin region add`, a first
 * mount's default regions): the name checked, the store's spec checked
 * (stores.c), then the row and the platform catalogue (catalogue.c) in
 * one transaction, so a region never exists without its public images.
 *
 * Its own file, above the stores and the catalogue: the catalogue opens a
 * region's store to write its chunks, so adding beside the stores would
 * tie stores.c and catalogue.c (and image.c, blob.c) into one circle.
 * Reading regions is account.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "model_int.h"

static int region_add(model *m, const char *name, const char *spec, struct model_err *err);

int model_region_add(model *m, const char *name, struct model_err *err)
{
	return model_region_add_store(m, name, NULL, err);
}

int model_region_add_store(model *m, const char *name, const char *store, struct model_err *err)
{
	char spec[MODEL_TEXT_MAX + 1] = "";
	int rc;
	/* Region names are directory names in the state dir: §10 rules. */
	if ((rc = model_name_check(name, err)) < 0)
		return rc;
	if ((rc = model_store_spec(m, name, store, spec, err)) < 0)
		return rc;
	/* Its catalogue's chunks are written before the commit names them:
	 * kept from every gc meanwhile (writer.c; region 0: its id is not
	 * known yet). */
	int64_t writer = 0;
	char what[MODEL_NAME_MAX + 16];
	snprintf(what, sizeof(what), "region add %s", name);
	if ((rc = model_writer_begin(m, 0, what, &writer)) < 0)
		return model_fail_db(err, rc);
	rc = region_add(m, name, spec, err);
	model_writer_end(m, writer);
	return rc;
}

/* model_region_add_store's transaction. */
static int region_add(model *m, const char *name, const char *spec, struct model_err *err)
{
	struct model_conn *c;
	struct model_region r;
	db_stmt *st;
	int rc;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if (model_region_by_name(m, name, &r) == 0) {
		rc = model_fail(err, -EEXIST, "region %s exists", name);
		goto out;
	}
	if (!(st = model_stmt(c, SQL_SCAN("adding a region (admin): SQLite looks for rows of other tables that name it",
	                             "INSERT INTO regions(name, created_ns, mtime_ns, store) VALUES (?, ?, ?, ?) RETURNING id")))) {
		rc = -EIO;
		goto out;
	}
	int64_t now = model_now_ns();
	db_bind_text(st, 1, name);
	db_bind_int64(st, 2, now);
	db_bind_int64(st, 3, now);
	db_bind_text(st, 4, spec);
	int64_t id = 0;
	if ((rc = model_insert(st, &id)) < 0)
		goto out;
	if (id >= MODEL_MAX_REGIONS) {
		rc = model_fail(err, -ENOSPC, "at most %d regions", MODEL_MAX_REGIONS - 1);
		goto out;
	}
	if ((rc = model_catalogue_install(m, id, err)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_REGION, id, id, MODEL_FOLDER_INVALID, NULL)) < 0)
		goto out;
out:
	return model_write_end(c, rc, err);
}
