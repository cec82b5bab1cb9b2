/*
 * postgres_int.h — what the PostgreSQL driver's two files share: a
 * statement (postgres.c prepares, sends and steps it; postgres_values.c
 * binds its parameters and reads its columns) and the value functions the
 * driver table (postgres.c) names.
 */
#ifndef IMGFS_POSTGRES_INT_H
#define IMGFS_POSTGRES_INT_H

#include <libpq-fe.h>

#include "model_int.h"

#define PG_MAX_PARAMS 64
#define PG_OID_INT8 20
#define PG_OID_BYTEA 17

struct pg_stmt {
	db_stmt base;
	char *sql;                  /* with $N parameters */
	int nparams;
	char name[16];
	unsigned epoch;             /* prepared in this epoch; 0: not prepared */
	Oid types[PG_MAX_PARAMS];   /* as prepared */
	char *values[PG_MAX_PARAMS];
	int lengths[PG_MAX_PARAMS];
	int formats[PG_MAX_PARAMS];
	Oid bound[PG_MAX_PARAMS];   /* the type of what is bound now */
	PGresult *res;
	int row, nrows;             /* row: the current one, -1 before the first */
	int state;                  /* PG_IDLE, or sent in a pipeline: PG_OWED, PG_ARRIVED */
	int err;                    /* PG_ARRIVED: the failure instead of res */
	unsigned char *blob;        /* decoded bytea of column blob_col of the current row */
	size_t blob_len;
	int blob_col;
	bool reads_only;            /* a SELECT: running it twice changes nothing */
};

enum { PG_IDLE, PG_OWED, PG_ARRIVED }; /* pg_stmt.state */

#define ST(s) ((struct pg_stmt *)(s))

/* postgres_values.c: parameters in, columns out (db.h's bind_* and col_*). */
int pg_bind_int64(db_stmt *st, int i, int64_t v);
int pg_bind_text(db_stmt *st, int i, const char *s);
int pg_bind_blob(db_stmt *st, int i, const void *p, size_t n);
int pg_bind_null(db_stmt *st, int i);
bool pg_col_null(db_stmt *st, int i);
int64_t pg_col_int64(db_stmt *st, int i);
const char *pg_col_text(db_stmt *st, int i);
size_t pg_col_bytes(db_stmt *st, int i);
const void *pg_col_blob(db_stmt *st, int i);
int pg_col_count(db_stmt *st);
const char *pg_col_name(db_stmt *st, int i);
int pg_col_type(db_stmt *st, int i);

#endif
