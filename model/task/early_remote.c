/*
 * early_remote.c — an early instance on a host whose image's URL import
 * runs on another host (SPEC §6.5 "Early", §13.13; docs/design.md "Early
 * instances").
 *
 * Who calls it: early.c (a reader of an entry not ready, and before each
 * chunk such an entry asks the source for); import.c and this file read an
 * import's args with import_parse.  Any thread; no lock held.
 *
 * The importing host records a durable point in the task's row when hosts
 * share the metadata (import.c, import_mark): the blob row's size, the
 * manifest of those bytes in the region's store (tasks.resume) and the
 * version in the args.  This host's entry is made ready from them
 * (early_begin: the whole chunks of the point arrived, by id), so a read
 * of a chunk the other host made durable is a read of the region's store
 * — of the cluster's, for a RADOS region — not of the source; any other
 * chunk is fetched by range of that version, as on the importing host,
 * after the row was read again (the point may have moved), and so is a
 * chunk the importing host stored past its point (its rows, early_got.c,
 * taken by early_begin).  Such a fetch stores the chunk in the region's
 * store and writes its row: the importing host takes it before its next
 * window, and does not fetch it again.
 *
 * Bounds (SPEC §12): the manifest of the point, while it is read.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "early.h"
#include "fetch.h"
#include "task_int.h"

/* The URL and the validator from an import's task args (the lines after
 * the plan, upload_parse's rest); no validator line (none recorded, or args
 * from before they were): validator "" (early.h).  Here, not in import.c,
 * which reads them too: import.c calls early.c, which calls this file. */
int import_parse(const char *rest, char *url, char *validator)
{
	size_t n = strcspn(rest, "\n");
	if (n == 0 || n > FETCH_URL_MAX || rest[n] != '\n')
		return -EINVAL;
	memcpy(url, rest, n);
	url[n] = '\0';
	rest += n + 1;
	validator[0] = '\0';
	if (!*rest)
		return 0;
	n = strcspn(rest, "\n");
	if (n == 0 || n >= FETCH_VALIDATOR_MAX || rest[n] != '\n' || rest[n + 1])
		return -EINVAL;
	memcpy(validator, rest, n);
	validator[n] = '\0';
	return 0;
}

/* args, resume of task_id: *args filled, *man the point's manifest (NULL
 * when none). */
static int task_point(model *m, int64_t task_id, char *args, size_t cap, blob_manifest **man)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;

	*man = NULL;
	args[0] = '\0';
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT args, resume FROM tasks WHERE id = ?"))))
		return -EIO;
	db_bind_int64(st, 1, task_id);
	rc = db_step(st);
	if (rc == DB_ROW) {
		const char *a = db_col_text(st, 0);
		snprintf(args, cap, "%s", a ? a : "");
		rc = db_col_null(st, 1) ? 0 : blob_manifest_decode(man, db_col_blob(st, 1), db_col_bytes(st, 1));
	} else {
		rc = rc == DB_DONE ? -ENOENT : rc < 0 ? rc : -EIO;
	}
	db_reset(st);
	return rc;
}

int early_remote_load(model *m, int64_t image_id)
{
	char args[MODEL_TEXT_MAX + 1], url[FETCH_URL_MAX + 1], validator[FETCH_VALIDATOR_MAX];
	struct early_import *e = NULL;
	blob_manifest *man = NULL, *none = NULL;
	struct model_task t;
	struct model_blob b;
	const char *rest;
	int64_t blob_id;
	uint64_t held = 0;
	int idx, rc;

	if (!m->cluster)
		return 0;
	if ((rc = model_task_of_image(m, image_id, &t)) == -ENOENT) {
		early_end_image(m, image_id); /* sealed or failed: the image says */
		return -ENOENT;
	}
	if (rc < 0)
		return rc;
	if (strcmp(t.kind, "import") != 0 || strcmp(t.state, "running") != 0 || strcmp(t.host, model_host(m)) == 0 ||
	    t.bytes_total == 0)
		return 0;
	if ((rc = task_point(m, t.id, args, sizeof(args), &man)) < 0)
		return rc == -ENOENT ? 0 : rc;
	if (upload_parse(args, &blob_id, &idx, &rest) < 0 || import_parse(rest, url, validator) < 0 || !validator[0] ||
	    model_blob_get(m, blob_id, &b) < 0) {
		rc = 0; /* no version to ask ranges of: it waits for the import */
		goto out;
	}
	if (man && man->size == b.size)
		held = b.size;
	if (!held && (rc = blob_manifest_new(&none, t.bytes_total)) < 0)
		goto out;
	if ((rc = early_begin(m, image_id, url, validator, t.bytes_total, held ? man : none, held, &e)) == 0) {
		early_remote_set(m, image_id);
		rc = 1;
	}
out:
	explicit_bzero(url, sizeof(url));
	explicit_bzero(args, sizeof(args));
	blob_manifest_free(man);
	blob_manifest_free(none);
	return rc == -ENOENT ? 0 : rc;
}
