/*
 * settings.c — the service's settings: one text value a key in the
 * settings table (schema_sqlite.c), read and written here only, so that
 * each setting's own file (retention in image.c, the lease in host.c, the
 * imports' floor and slice, the download URL) keeps its rule and its
 * default and nothing of the SQL.
 *
 * Who calls it: the model's getters and setters of settings (admin.h),
 * from any thread, with the calling thread's connection.  A missing or
 * unreadable value is the caller's default: settings are read on paths
 * that must not fail for them (a task's claim, a lease's renewal).
 *
 * Not here: 'secret' and 'initialised' (state.c), which are written once,
 * never replaced, in the transaction that opens a state.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "model_int.h"

int model_setting_get(model *m, const char *key, char *out, size_t cap)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT value FROM settings WHERE key = ?"))))
		return -EIO;
	db_bind_text(st, 1, key);
	if ((rc = db_step(st)) == DB_ROW)
		model_col_text(st, 0, out, cap);
	db_reset(st);
	return rc == DB_ROW ? 1 : db_errno(rc);
}

int64_t model_setting_int(model *m, const char *key, int64_t min, int64_t def)
{
	char v[32];
	char *end;
	long long n;
	if (model_setting_get(m, key, v, sizeof(v)) <= 0)
		return def;
	errno = 0;
	n = strtoll(v, &end, 10);
	return v[0] && !*end && !errno && n >= min ? (int64_t)n : def;
}

int model_setting_put(struct model_conn *c, const char *key, const char *value)
{
	db_stmt *st = model_stmt(c, SQL("INSERT INTO settings(key, value) VALUES (?, ?) "
	                                "ON CONFLICT(key) DO UPDATE SET value = excluded.value"));
	if (!st)
		return -EIO;
	db_bind_text(st, 1, key);
	db_bind_text(st, 2, value);
	return model_exec_stmt(st);
}

int model_setting_set(model *m, const char *key, const char *value, struct model_err *err)
{
	struct model_conn *c;
	int rc;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	rc = model_setting_put(c, key, value);
	return model_write_end(c, rc, err);
}

int model_setting_set_int(model *m, const char *key, int64_t value, struct model_err *err)
{
	char v[32];
	snprintf(v, sizeof(v), "%" PRId64, value);
	return model_setting_set(m, key, v, err);
}
