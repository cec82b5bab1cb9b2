/*
 * import_addresses.c — the admin's rules of where imports may connect
 * (SPEC §5.2): `imgfs admin import allow|deny|remove CIDR` and `import
 * rules`, kept in the database so that every host's imports follow the
 * same rules.  The judging itself is model/fetch/address.c's, on every
 * socket an import opens; this file stores the rules and hands them to
 * the import task.
 *
 * Who calls it: fs/cli/admin.c, model/task/import.c, the unit tests.
 *
 * A rule is stored as its canonical text (fetch_rule_format): an IPv6
 * form of an IPv4 address ("::ffff:127.0.0.1") is stored as the IPv4 rule
 * it means ("127.0.0.1/32"), which is how address.c judges such
 * addresses, and the admin is told.  A row an older imgfs stored in the
 * IPv6 spelling is read, listed and removed as its canonical rule.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "model_int.h"

/* cidr as a rule in canonical text (an IPv6 form of an IPv4 address
 * already rewritten as the IPv4 rule, note saying so), or a refusal. */
static int canonical(const char *cidr, bool allow, char out[64], char *note, size_t note_cap, struct model_err *err)
{
	struct fetch_rule r;
	char why[256];
	int rc = fetch_rule_parse_note(cidr, allow, &r, why, sizeof(why));
	if (rc < 0 && why[0])
		return model_fail(err, -EINVAL, "%s", why);
	if (rc < 0)
		return model_fail(err, -EINVAL, "%.64s is not an address or a CIDR prefix (10.0.0.0/8, fd00::/8)", cidr);
	fetch_rule_format(&r, out, 64);
	if (note && note_cap)
		snprintf(note, note_cap, "%s", rc == 1 ? why : "");
	return 0;
}

/* Inside a transaction: the rows whose rule is text under another spelling
 * go (one an older imgfs stored before it rewrote IPv6 forms of IPv4
 * addresses: "::ffff:127.0.0.1/128" is 127.0.0.1/32).  Their count. */
static int drop_spellings(struct model_conn *c, const char *text)
{
	char rows[16][64];
	int n = 0, dropped = 0, rc;
	db_stmt *st = model_stmt(c, SQL_SCAN("the admin's few rules, listed whole",
	                                     "SELECT cidr FROM import_addresses WHERE cidr != ? ORDER BY cidr"));
	if (!st)
		return -EIO;
	db_bind_text(st, 1, text);
	while ((rc = db_step(st)) == DB_ROW && n < 16) {
		struct fetch_rule r;
		char stored[64], canon[64];
		model_col_text(st, 0, stored, sizeof(stored));
		if (fetch_rule_parse(stored, true, &r) < 0)
			continue;
		fetch_rule_format(&r, canon, sizeof(canon));
		if (strcmp(canon, text) == 0)
			memcpy(rows[n++], stored, sizeof(stored));
	}
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_errno(rc);
	for (int i = 0; i < n; i++) {
		if (!(st = model_stmt(c, SQL("DELETE FROM import_addresses WHERE cidr = ?"))))
			return -EIO;
		db_bind_text(st, 1, rows[i]);
		if ((rc = model_exec_stmt(st)) < 0)
			return rc;
		dropped += model_changes(c);
	}
	return dropped;
}

int model_import_address_set(model *m, const char *cidr, bool allow, char *note, size_t note_cap,
                             struct model_err *err)
{
	struct model_conn *c;
	char text[64];
	db_stmt *st;
	int rc;
	if ((rc = canonical(cidr, allow, text, note, note_cap, err)) < 0)
		return rc;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = drop_spellings(c, text)) < 0)
		goto out;
	if (!(st = model_stmt(c, SQL("INSERT INTO import_addresses(cidr, allow) VALUES (?, ?) "
	                             "ON CONFLICT(cidr) DO UPDATE SET allow = excluded.allow")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, text);
	db_bind_int(st, 2, allow ? 1 : 0);
	rc = model_exec_stmt(st);
out:
	if ((rc = model_write_end(c, rc, err)) < 0)
		return rc;
	model_log(m, "imports: %s %s%s%s", allow ? "allow" : "deny", text, note && note[0] ? ": " : "",
	          note && note[0] ? note : "");
	return 0;
}

int model_import_address_remove(model *m, const char *cidr, struct model_err *err)
{
	struct model_conn *c;
	char text[64];
	db_stmt *st;
	int rc, gone;
	if ((rc = canonical(cidr, true, text, NULL, 0, err)) < 0)
		return rc;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = gone = drop_spellings(c, text)) < 0)
		goto out;
	if (!(st = model_stmt(c, SQL("DELETE FROM import_addresses WHERE cidr = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, text);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if (model_changes(c) + gone < 1)
		rc = model_fail(err, -ENOENT, "no rule for %s", text);
out:
	if ((rc = model_write_end(c, rc, err)) < 0)
		return rc;
	model_log(m, "imports: rule for %s removed", text);
	return 0;
}

struct list_arg {
	int (*cb)(void *arg, const char *cidr, bool allow);
	void *arg;
};

/* A row as the rule it is: its canonical text (a row an older imgfs
 * stored as "::ffff:127.0.0.1/128" lists, and acts, as 127.0.0.1/32). */
static int list_row(void *arg, db_stmt *st)
{
	struct list_arg *l = arg;
	struct fetch_rule r;
	char cidr[64];
	bool allow = db_col_int64(st, 1) != 0;
	model_col_text(st, 0, cidr, sizeof(cidr));
	if (fetch_rule_parse(cidr, allow, &r) >= 0)
		fetch_rule_format(&r, cidr, sizeof(cidr));
	return l->cb(l->arg, cidr, allow);
}

int model_import_address_list(model *m, int (*cb)(void *arg, const char *cidr, bool allow), void *arg)
{
	struct model_conn *c;
	struct list_arg l = {cb, arg};
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL_SCAN("the admin's few rules, listed whole",
	                                  "SELECT cidr, allow FROM import_addresses ORDER BY cidr"))))
		return -EIO;
	return model_each_row(st, list_row, &l);
}

struct load_arg {
	struct fetch_rule *rules;
	size_t n, cap;
};

static int load_rule(void *arg, const char *cidr, bool allow)
{
	struct load_arg *l = arg;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct fetch_rule *r = realloc(l->rules, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		l->rules = r;
		l->cap = cap;
	}
	if (fetch_rule_parse(cidr, allow, &l->rules[l->n]) >= 0) /* stored canonical: always */
		l->n++;
	return 0;
}

int model_import_addresses_load(model *m, struct fetch_rule **rules, size_t *n)
{
	struct load_arg l = {0};
	int rc = model_import_address_list(m, load_rule, &l);
	if (rc < 0) {
		free(l.rules);
		return rc;
	}
	*rules = l.rules;
	*n = l.n;
	return 0;
}

/* ---- the rate floor ------------------------------------------------------ */

void model_import_floor(model *m, uint64_t *bps, int *window)
{
	char v[64] = "";
	unsigned long long b;
	int w;
	*bps = MODEL_IMPORT_FLOOR_BPS;
	*window = MODEL_IMPORT_FLOOR_WINDOW;
	if (model_setting_get(m, "import_floor", v, sizeof(v)) > 0 && sscanf(v, "%llu %d", &b, &w) == 2 && w > 0) {
		*bps = b;
		*window = w;
	}
}

int model_import_floor_set(model *m, uint64_t bps, int window, struct model_err *err)
{
	char v[64];
	if (window < 1 || window > 86400)
		return model_fail(err, -EINVAL, "the window is 1 to 86400 seconds");
	if (bps > (1ULL << 40))
		return model_fail(err, -EINVAL, "the floor is at most 1 TiB a second");
	snprintf(v, sizeof(v), "%llu %d", (unsigned long long)bps, window);
	return model_setting_set(m, "import_floor", v, err);
}
