/*
 * apitask.c — the image API's import tasks (SPEC §19: GET
 * /v2/images/{id}/tasks, /v2/tasks/{id}): a row per POST .../import, with
 * what was asked and the request's id.  How a task stands is not kept
 * here but read from its image when it is shown (fs/serve/glance): the
 * import is the image's upload or URL import (§5.2, §5.3), whose end is
 * the image's status — one truth, nothing to keep in step.
 *
 * Who calls it: fs/serve/glance, the unit tests.  Bounded (SPEC §12):
 * MODEL_API_TASKS_PER_IMAGE rows an image at most (a new one ends the
 * oldest), gone with the image.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "model_int.h"

#define TASK_COLS "id, uuid, image_id, account_id, method, input, request_id, created, ended, result FROM api_tasks "

static void task_fill(db_stmt *st, void *out)
{
	struct model_api_task *t = out;
	t->id = db_col_int64(st, 0);
	model_col_text(st, 1, t->uuid, sizeof(t->uuid));
	t->image_id = db_col_int64(st, 2);
	t->account_id = db_col_int64(st, 3);
	model_col_text(st, 4, t->method, sizeof(t->method));
	model_col_text(st, 5, t->input, sizeof(t->input));
	model_col_text(st, 6, t->request_id, sizeof(t->request_id));
	t->created = db_col_int64(st, 7);
	t->ended = db_col_int64(st, 8);
	model_col_text(st, 9, t->result, sizeof(t->result));
}

int model_api_task_new(model *m, int64_t image_id, int64_t account_id, const char *method, const char *input,
                       const char *request_id, const char *failed, struct model_api_task *out, struct model_err *err)
{
	struct model_conn *c;
	struct model_api_task t = {0};
	db_stmt *st;
	int rc;
	if (strlen(input) >= sizeof(t.input) || strlen(method) >= sizeof(t.method) ||
	    strlen(request_id) >= sizeof(t.request_id))
		return model_fail(err, -EINVAL, "an import's request is at most %zu bytes", sizeof(t.input) - 1);
	if (model_uuid_new(t.uuid) < 0)
		return model_fail(err, -EIO, "no random bytes for an id");
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	/* the oldest beyond the bound go first */
	if (!(st = model_stmt(c, SQL("DELETE FROM api_tasks WHERE image_id = ?1 AND id <= (SELECT id FROM api_tasks WHERE "
	                             "image_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, image_id);
	db_bind_int64(st, 2, MODEL_API_TASKS_PER_IMAGE - 1);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if (!(st = model_stmt(c, SQL("INSERT INTO api_tasks(uuid, image_id, account_id, method, input, request_id, "
	                             "created, ended, result) VALUES (?, ?, ?, ?, ?, ?, ?7, CASE WHEN ?8 = '' THEN 0 ELSE ?7 "
	                             "END, ?8) RETURNING id")))) {
		rc = -EIO;
		goto out;
	}
	t.image_id = image_id;
	t.account_id = account_id;
	snprintf(t.method, sizeof(t.method), "%s", method);
	snprintf(t.input, sizeof(t.input), "%s", input);
	snprintf(t.request_id, sizeof(t.request_id), "%s", request_id);
	t.created = model_now_ns() / 1000000000;
	db_bind_text(st, 1, t.uuid);
	db_bind_int64(st, 2, image_id);
	db_bind_int64(st, 3, account_id);
	db_bind_text(st, 4, method);
	db_bind_text(st, 5, input);
	db_bind_text(st, 6, request_id);
	db_bind_int64(st, 7, t.created);
	db_bind_text(st, 8, failed ? failed : "");
	snprintf(t.result, sizeof(t.result), "%s", failed ? failed : "");
	t.ended = failed && failed[0] ? t.created : 0;
	if ((rc = model_insert(st, &t.id)) < 0)
		goto out;
	if (out)
		*out = t;
out:
	return model_write_end(c, rc, err);
}

int model_api_task_get(model *m, const char *uuid, struct model_api_task *out)
{
	if (!model_uuid_valid(uuid))
		return -ENOENT;
	return model_fetch_one(m, SQL("SELECT " TASK_COLS "WHERE uuid = ?"), uuid, 0, task_fill, out);
}

struct task_cb {
	int (*cb)(void *arg, const struct model_api_task *t);
	void *arg;
};

static int task_each(void *arg, db_stmt *st)
{
	struct task_cb *tc = arg;
	struct model_api_task t;
	task_fill(st, &t);
	return tc->cb(tc->arg, &t);
}

int model_api_task_list(model *m, int64_t image_id, int (*cb)(void *arg, const struct model_api_task *t),
                        void *arg)
{
	struct model_conn *c;
	struct task_cb tc = {cb, arg};
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT " TASK_COLS "WHERE image_id = ? ORDER BY id DESC"))))
		return -EIO;
	db_bind_int64(st, 1, image_id);
	return model_each_row(st, task_each, &tc);
}

int model_api_task_list_account(model *m, int64_t account_id, int max,
                                int (*cb)(void *arg, const struct model_api_task *t), void *arg)
{
	struct model_conn *c;
	struct task_cb tc = {cb, arg};
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT " TASK_COLS "WHERE account_id = ? ORDER BY id DESC LIMIT ?"))))
		return -EIO;
	db_bind_int64(st, 1, account_id);
	db_bind_int(st, 2, max);
	return model_each_row(st, task_each, &tc);
}
