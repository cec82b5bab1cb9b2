/*
 * postgres_values.c — the PostgreSQL driver's values (db.h's bind_* and
 * col_*): the model's SQLite-typed values as libpq parameters, and the
 * server's text results as the model's types.  Integers go as int8 text,
 * blobs as binary bytea, text and NULL untyped (the server takes the type
 * from the statement); results come back as text: integers parsed,
 * booleans ('t'/'f') read as 1/0, bytea decoded once per column and row
 * (PQunescapeBytea) into a buffer the statement keeps until its next step.
 * The statement itself (prepare, pipeline, step) is postgres.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postgres_int.h"

static int bind(struct pg_stmt *s, int i, char *value, int len, int format, Oid type)
{
	if (i < 1 || i > s->nparams) {
		free(value);
		return -ERANGE;
	}
	free(s->values[i - 1]);
	s->values[i - 1] = value;
	s->lengths[i - 1] = len;
	s->formats[i - 1] = format;
	s->bound[i - 1] = type;
	return 0;
}

int pg_bind_int64(db_stmt *st, int i, int64_t v)
{
	char *t = malloc(24);
	if (!t)
		return -ENOMEM;
	snprintf(t, 24, "%lld", (long long)v);
	return bind(ST(st), i, t, 0, 0, PG_OID_INT8);
}

int pg_bind_text(db_stmt *st, int i, const char *s)
{
	char *t = NULL;
	if (s && !(t = strdup(s)))
		return -ENOMEM;
	return bind(ST(st), i, t, 0, 0, 0);
}

int pg_bind_blob(db_stmt *st, int i, const void *p, size_t n)
{
	char *t = malloc(n ? n : 1);
	if (!t)
		return -ENOMEM;
	if (n > INT32_MAX) {
		free(t);
		return -E2BIG;
	}
	if (n)
		memcpy(t, p, n); /* an empty blob may come as NULL (sqlite3_column_blob's) */
	return bind(ST(st), i, t, (int)n, 1, PG_OID_BYTEA);
}

int pg_bind_null(db_stmt *st, int i)
{
	return bind(ST(st), i, NULL, 0, 0, 0);
}

static bool valid_col(struct pg_stmt *s, int i)
{
	return s->res && s->row >= 0 && s->row < s->nrows && i >= 0 && i < PQnfields(s->res);
}

bool pg_col_null(db_stmt *st, int i)
{
	struct pg_stmt *s = ST(st);
	return !valid_col(s, i) || PQgetisnull(s->res, s->row, i);
}

int64_t pg_col_int64(db_stmt *st, int i)
{
	struct pg_stmt *s = ST(st);
	if (pg_col_null(st, i))
		return 0;
	const char *v = PQgetvalue(s->res, s->row, i);
	if (v[0] == 't' && v[1] == '\0')
		return 1;
	if (v[0] == 'f' && v[1] == '\0')
		return 0;
	return strtoll(v, NULL, 10);
}

const char *pg_col_text(db_stmt *st, int i)
{
	struct pg_stmt *s = ST(st);
	return pg_col_null(st, i) ? NULL : PQgetvalue(s->res, s->row, i);
}

/* Column i of the current row, a bytea, decoded once (the pointer stays
 * valid until the statement moves on, whichever of blob and bytes the
 * caller asks first). */
static bool decode(struct pg_stmt *s, int i)
{
	if (s->blob_col == i)
		return s->blob != NULL;
	PQfreemem(s->blob);
	s->blob_len = 0;
	s->blob = PQunescapeBytea((const unsigned char *)PQgetvalue(s->res, s->row, i), &s->blob_len);
	s->blob_col = i;
	return s->blob != NULL;
}

size_t pg_col_bytes(db_stmt *st, int i)
{
	struct pg_stmt *s = ST(st);
	if (pg_col_null(st, i))
		return 0;
	if (PQftype(s->res, i) == PG_OID_BYTEA)
		return decode(s, i) ? s->blob_len : 0;
	return (size_t)PQgetlength(s->res, s->row, i);
}

const void *pg_col_blob(db_stmt *st, int i)
{
	struct pg_stmt *s = ST(st);
	if (pg_col_null(st, i))
		return NULL;
	if (PQftype(s->res, i) != PG_OID_BYTEA)
		return PQgetvalue(s->res, s->row, i);
	return decode(s, i) ? s->blob : NULL;
}

int pg_col_count(db_stmt *st)
{
	return ST(st)->res ? PQnfields(ST(st)->res) : 0;
}

const char *pg_col_name(db_stmt *st, int i)
{
	return ST(st)->res ? PQfname(ST(st)->res, i) : NULL;
}

int pg_col_type(db_stmt *st, int i)
{
	struct pg_stmt *s = ST(st);
	if (pg_col_null(st, i))
		return DB_NULL;
	switch (PQftype(s->res, i)) {
	case PG_OID_BYTEA: return DB_BLOB;
	case PG_OID_INT8: case 21: case 23: case 16: return DB_INTEGER; /* int8, int2, int4, bool */
	default: return DB_TEXT;
	}
}
