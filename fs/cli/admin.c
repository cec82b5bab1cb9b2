/*
 * admin.c — `imgfs admin [--state DIR] [--db URL] COMMAND ...` (SPEC §1,
 * §15): accounts, regions, quotas, publishing platform images, the recycle
 * bin's retention period, fsck and gc.  Works on a state directory whether
 * it is mounted or not (SQLite WAL), or on the PostgreSQL database of a
 * cluster (--db).
 *
 * The command line is getopt_long's: --state DIR, --state=DIR, --db URL and
 * -h/--help are accepted before or after the command, and each command's
 * own options anywhere after its name.  Only `init` (and a mount) creates a
 * state: any other command on a directory that holds none says so and
 * creates nothing, so a typo in --state cannot start a second service.
 * Exit status: 0, 1 for a refusal (one line: what, errno name, reason), 2
 * for a usage error (one line, then the command's usage).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "model.h"

/* The command line once parsed: the global options, the command's own
 * (by its index in the command's table) and its operands. */
struct admin {
	char state[PATH_MAX];
	bool state_given;         /* --state (or init's DIR) was given */
	const char *db;
	const char *keyfile, *keycmd; /* the key-encryption key (SPEC §17) */
	const struct admin_cmd *cmd;
	const char *opt[8];       /* the command's options' values ("" for a flag) */
	const char *stores[64];   /* migrate: each --store, in order */
	int nstores;
	int argc;                 /* operands */
	char **argv;
};

struct admin_cmd {
	const char *name;
	const char *usage;          /* its lines of the usage, without "imgfs admin " */
	const struct option *opts;  /* its own options (val: index in admin.opt) */
	int (*run)(struct admin *a, model *m);
	bool no_model;              /* runs without opening the state (init, migrate) */
	int repeated;               /* 1 + the index of its option that may be given again
	                               (into admin.stores), or 0 */
	/* With --db: whether it needs this host's files (a state directory:
	 * chunks of dir: stores, wblobs, the default regions): NULL never, ""
	 * always, else when its first operand is this word ("add"). */
	const char *host_files;
};

static const struct admin_cmd *admin_cmds(size_t *n);

static void print_usage(FILE *f, const struct admin_cmd *only)
{
	size_t n;
	const struct admin_cmd *cmds = admin_cmds(&n);
	if (!only)
		fputs("usage: imgfs admin [--state DIR] [--db URL] [--keyfile PATH | --keycmd CMD] COMMAND [ARGS]\n"
	      "       (options before or after COMMAND)\n", f);
	for (size_t i = 0; i < n; i++)
		if (!only || only == &cmds[i])
			fputs(cmds[i].usage, f);
	if (!only)
		fputs("imgfs admin COMMAND --help: that command's usage; imgfs-admin(8): the manual\n", f);
}

/* A usage error: one line, then the usage of the command (or all). */
static int usage_error(const struct admin *a, const char *why)
{
	fprintf(stderr, "imgfs admin: %s\n", why);
	print_usage(stderr, a ? a->cmd : NULL);
	return 2;
}

static int refused(const char *what, int rc, const struct model_err *err)
{
	fprintf(stderr, "imgfs admin: %s: %s %s\n", what, fs_errno_name(rc),
	        err && err->msg[0] ? err->msg : strerror(-rc));
	return 1;
}

static bool parse_i64(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return false;
	*out = v;
	return true;
}

/* account list: NAME UID ROLE PARENT (- for none), ROLE admin, main or
 * sub, and "encrypt-by-default" after them when the account has it. */
static int print_account(void *arg, const struct model_account *a)
{
	model *m = arg;
	struct model_account up = {0};
	char uid[24];
	if (a->parent_id && model_account_get(m, a->parent_id, &up) < 0)
		snprintf(up.name, sizeof(up.name), "?");
	snprintf(uid, sizeof(uid), a->uid >= 0 ? "%lld" : "-", (long long)a->uid);
	printf("%s %s %s %s%s\n", a->name, uid, a->admin ? "admin" : a->parent_id ? "sub" : "main",
	       a->parent_id ? up.name : "-", a->encrypt_default ? " encrypt-by-default" : "");
	return 0;
}

/* Another account whose name differs from arg's only by case. */
struct case_twin {
	const char *name;
	char twin[MODEL_NAME_MAX + 1];
};

static int find_case_twin(void *arg, const struct model_account *a)
{
	struct case_twin *t = arg;
	if (strcasecmp(a->name, t->name) == 0 && strcmp(a->name, t->name) != 0) {
		snprintf(t->twin, sizeof(t->twin), "%s", a->name);
		return 1;
	}
	return 0;
}

static void over_quota_warnings(model *m, const char *main);

#define ACCOUNT_SET_USAGE                                                                                   \
	"account set NAME admin yes|no | account set NAME parent MAIN|- | account set NAME encrypt-by-default " \
	"yes|no | account set NAME uid UID|- | account set NAME api-password"

/* account set NAME admin yes|no, account set NAME parent MAIN|- (§16),
 * account set NAME encrypt-by-default yes|no (§17), account set NAME uid
 * UID|- (§8: a single-user state's account given its uid for multiuser). */
static int account_set(struct admin *a, model *m)
{
	struct model_err err = {0};
	const char *name = a->argv[1], *key = a->argv[2], *value = a->argc > 3 ? a->argv[3] : NULL;
	bool yesno = value && (strcmp(value, "yes") == 0 || strcmp(value, "no") == 0);
	int rc;
	if (strcmp(key, "api-password") == 0) /* SPEC §19: from standard input */
		return value ? usage_error(a, "account set NAME api-password reads the password from standard input")
		             : fs_admin_api_password(m, name);
	if (!value)
		return usage_error(a, ACCOUNT_SET_USAGE);
	if (strcmp(key, "admin") == 0) {
		if (!yesno)
			return usage_error(a, "account set NAME admin takes yes or no");
		rc = model_account_set_admin(m, name, strcmp(value, "yes") == 0, &err);
	} else if (strcmp(key, "encrypt-by-default") == 0) {
		if (!yesno)
			return usage_error(a, "account set NAME encrypt-by-default takes yes or no");
		rc = model_account_set_encrypt_default(m, name, strcmp(value, "yes") == 0, &err);
	} else if (strcmp(key, "parent") == 0) {
		rc = model_account_set_parent(m, name, value, &err);
	} else if (strcmp(key, "uid") == 0) {
		char *end;
		errno = 0;
		long long uid = strcmp(value, "-") == 0 ? -1 : strtoll(value, &end, 10);
		if (strcmp(value, "-") != 0 && (errno || end == value || *end || uid < 0))
			return usage_error(a, "account set NAME uid takes a uid (0 to 4294967294) or -");
		rc = model_account_set_uid(m, name, uid, &err);
	} else {
		return usage_error(a, ACCOUNT_SET_USAGE);
	}
	if (rc < 0)
		return refused(name, rc, &err);
	if (strcmp(key, "parent") == 0)
		over_quota_warnings(m, strcmp(value, "-") == 0 ? name : value);
	return 0;
}

static int cmd_account(struct admin *a, model *m)
{
	struct model_err err = {0};
	int64_t uid = -1;
	int rc;
	bool flags = a->opt[0] || a->opt[1] || a->opt[2];
	if (a->argc == 1 && strcmp(a->argv[0], "list") == 0 && !flags)
		return model_account_list(m, print_account, m) < 0 ? 1 : 0;
	if (a->argc == 2 && strcmp(a->argv[0], "remove") == 0 && !flags) {
		if ((rc = model_account_remove(m, a->argv[1], &err)) < 0)
			return refused(a->argv[1], rc, &err);
		return 0;
	}
	if ((a->argc == 4 || a->argc == 3) && strcmp(a->argv[0], "set") == 0 && !flags)
		return account_set(a, m);
	if (a->argc != 2 || strcmp(a->argv[0], "add") != 0)
		return usage_error(a, "account add NAME [--uid UID] [--admin | --parent MAIN] | account list | "
		                      ACCOUNT_SET_USAGE " | account remove NAME");
	/* (uid_t)-1 is "no uid" to chown(2) and setreuid(2): never an account's. */
	if (a->opt[0] && (!parse_i64(a->opt[0], &uid) || uid < 0 || uid > 4294967294LL))
		return usage_error(a, "--uid takes a number from 0 to 4294967294");
	if (a->opt[1] && a->opt[2])
		return usage_error(a, "--admin and --parent exclude each other: an administrator is nobody's "
		                      "sub-account");
	struct case_twin t = {a->argv[1], ""};
	model_account_list(m, find_case_twin, &t);
	if ((rc = model_account_create(m, a->argv[1], uid, a->opt[1] != NULL, a->opt[2], &err)) < 0)
		return refused(a->argv[1], rc, &err);
	/* Names are case-sensitive (§10), but two that differ by case only are
	 * one person's typo more often than two people. */
	if (t.twin[0])
		fprintf(stderr, "imgfs admin: warning: account %s differs from account %s only by case\n", a->argv[1],
		        t.twin);
	return 0;
}

static int print_region(void *arg, const struct model_region *r)
{
	(void)arg;
	printf("%s %s\n", r->name, r->store[0] ? r->store : "-");
	return 0;
}

static int cmd_region(struct admin *a, model *m)
{
	struct model_err err = {0};
	int rc;
	if (a->argc == 1 && strcmp(a->argv[0], "list") == 0 && !a->opt[0])
		return model_region_list(m, 0, print_region, NULL) < 0 ? 1 : 0;
	if (a->argc != 2 || strcmp(a->argv[0], "add") != 0)
		return usage_error(a, "region add NAME [--store SPEC] | region list");
	if ((rc = model_region_add_store(m, a->argv[1], a->opt[0], &err)) < 0)
		return refused(a->argv[1], rc, &err);
	return 0;
}

static int print_host(void *arg, const struct model_host *h)
{
	char started[21], renewed[21];
	(void)arg;
	model_fmt_time(started, h->started_ns / 1000000000);
	model_fmt_time(renewed, h->renewed_ns / 1000000000);
	printf("%s %s started %s renewed %s\n", h->name, h->alive ? "alive" : "gone", started, renewed);
	return 0;
}

static int cmd_host(struct admin *a, model *m)
{
	struct model_err err = {0};
	int rc;
	if (a->argc == 1 && strcmp(a->argv[0], "list") == 0)
		return model_host_list(m, print_host, NULL) < 0 ? 1 : 0;
	if (a->argc != 2 || strcmp(a->argv[0], "remove") != 0)
		return usage_error(a, "host list | host remove NAME");
	if ((rc = model_host_remove(m, a->argv[1], &err)) < 0)
		return refused(a->argv[1], rc, &err);
	return 0;
}

static int cmd_lease(struct admin *a, model *m)
{
	struct model_err err = {0};
	int64_t v;
	int rc;
	if (a->argc == 0) {
		printf("%lld\n", (long long)model_lease(m));
		return 0;
	}
	if (a->argc != 1 || !parse_i64(a->argv[0], &v))
		return usage_error(a, "lease [SECONDS]");
	if ((rc = model_lease_set(m, v, &err)) < 0)
		return refused("lease", rc, &err);
	return 0;
}

/* quota show: each region's quotas, a line each (REGION KEY USED LIMIT);
 * an account of a family (SPEC §16: a sub-account, or a main account that
 * has some) adds "own=N main=MAIN": USED and LIMIT are then its main
 * account's, the family's total, and N its own part. */
struct quota_show {
	model *m;
	int64_t account_id;
	bool family;
	char main[MODEL_NAME_MAX + 1];
};

static int print_quotas(void *arg, const struct model_region *r)
{
	struct quota_show *q = arg;
	struct model_quota qs[MODEL_QUOTA_COUNT];
	int n = model_quota_list(q->m, q->account_id, r->id, qs);
	for (int i = 0; i < n; i++) {
		printf("%s %s %lld %lld", r->name, model_quota_name(qs[i].key), (long long)qs[i].used,
		       (long long)qs[i].limit);
		if (q->family)
			printf(" own=%lld main=%s", (long long)qs[i].own, q->main);
		putchar('\n');
	}
	return n < 0 ? n : 0;
}

/* After account set ... parent: the regions where the main account of
 * the family is now above a limit (nothing was refused for it: its next
 * creation there is). */
static int warn_over(void *arg, const struct model_region *r)
{
	struct quota_show *q = arg;
	struct model_quota qs[MODEL_QUOTA_COUNT];
	int n = model_quota_list(q->m, q->account_id, r->id, qs);
	for (int i = 0; i < n; i++)
		if (qs[i].key != MODEL_QUOTA_SHARES_PER_IMAGE && qs[i].used > qs[i].limit)
			fprintf(stderr, "imgfs admin: warning: %s's %s in %s is %lld of %lld: nothing more is made there "
			        "until it is under\n", q->main, model_quota_name(qs[i].key), r->name, (long long)qs[i].used,
			        (long long)qs[i].limit);
	return 0;
}

static void over_quota_warnings(model *m, const char *main)
{
	struct model_account acc;
	if (model_account_by_name(m, main, &acc) < 0)
		return;
	struct quota_show q = {m, acc.id, true, ""};
	snprintf(q.main, sizeof(q.main), "%s", acc.name);
	model_region_list(m, 0, warn_over, &q);
}

static int quota_show(struct admin *a, model *m)
{
	struct model_account acc;
	struct model_region r;
	int rc;
	if (model_account_by_name(m, a->argv[1], &acc) < 0)
		return refused(a->argv[1], -ENOENT, &(struct model_err){0, "no such account"});
	struct quota_show q = {m, acc.id, acc.parent_id || acc.has_subs, ""};
	struct model_account main = acc;
	if (acc.parent_id && model_account_get(m, acc.parent_id, &main) < 0)
		snprintf(main.name, sizeof(main.name), "?");
	snprintf(q.main, sizeof(q.main), "%s", main.name);
	if (a->argc == 3) {
		if (model_region_by_name(m, a->argv[2], &r) < 0)
			return refused(a->argv[2], -ENOENT, &(struct model_err){0, "no such region"});
		rc = print_quotas(&q, &r);
	} else {
		rc = model_region_list(m, 0, print_quotas, &q);
	}
	return rc < 0 ? refused("quota show", rc, NULL) : 0;
}

static int cmd_quota(struct admin *a, model *m)
{
	struct model_err err = {0};
	int64_t v;
	int rc;
	if (a->argc >= 2 && a->argc <= 3 && strcmp(a->argv[0], "show") == 0)
		return quota_show(a, m);
	if (a->argc != 5 || strcmp(a->argv[0], "set") != 0)
		return usage_error(a, "quota set ACCOUNT REGION KEY VALUE | quota show ACCOUNT [REGION]");
	if (!parse_i64(a->argv[4], &v))
		return usage_error(a, "VALUE is a number");
	if ((rc = model_quota_set(m, a->argv[1], a->argv[2], a->argv[3], v, &err)) < 0)
		return refused(a->argv[3], rc, &err);
	return 0;
}

static int cmd_publish(struct admin *a, model *m)
{
	struct model_publish p = {0};
	struct model_err err = {0};
	struct model_region r;
	blob_manifest *man = NULL;
	blob_store *s;
	struct stat st;
	char hash[33];
	int64_t writer = 0;
	int fd = -1, rc;

	if (a->argc != 4)
		return usage_error(a, "publish public|marketplace REGION NAME FILE [options]");
	if (strcmp(a->argv[0], "public") == 0)
		p.folder = MODEL_FOLDER_PUBLIC;
	else if (strcmp(a->argv[0], "marketplace") == 0)
		p.folder = MODEL_FOLDER_MARKETPLACE;
	else
		return usage_error(a, "publish to public or marketplace");
	p.name = a->argv[2];
	/* In the order of publish_opts. */
	p.os_type = a->opt[0];
	p.platform = a->opt[1];
	p.version = a->opt[2];
	p.arch = a->opt[3];
	p.boot_mode = a->opt[4];
	p.features = a->opt[5];
	p.description = a->opt[6];
	if ((rc = model_region_by_name(m, a->argv[1], &r)) < 0)
		return refused(a->argv[1], rc, &(struct model_err){0, "no such region"});
	if ((rc = model_name_check(p.name, &err)) < 0)
		return refused(p.name, rc, &err);
	/* Before a chunk is stored: every tenant reads it. */
	if (p.description && (rc = model_description_check(p.description, &err)) < 0)
		return refused("--description", rc, &err);
	if ((fd = open(a->argv[3], O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "imgfs admin: %s: %s\n", a->argv[3], strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	/* Its chunks are stored before the image names them: every gc keeps
	 * them meanwhile (model/meta/writer.c). */
	char what[MODEL_NAME_MAX + 16];
	snprintf(what, sizeof(what), "publish %s", p.name);
	if ((rc = model_writer_begin(m, r.id, what, &writer)) < 0) {
		close(fd);
		return refused(p.name, rc, NULL);
	}
	rc = model_store(m, r.id, &s);
	if (rc == 0)
		rc = blob_store_put_fd(s, &man, fd, (uint64_t)st.st_size);
	close(fd);
	if (rc < 0) {
		rc = refused(a->argv[3], rc, NULL);
		goto out;
	}
	/* Detected and checked as an upload is (§5.3, §5.4); a QCOW2 becomes
	 * the raw disk it describes. */
	blob_manifest *disk = NULL;
	if ((rc = model_publish_disk(s, &p, man, &disk, &err)) < 0) {
		rc = refused(a->argv[3], rc, &err);
		goto out;
	}
	if (disk) {
		blob_manifest_free(man);
		man = disk;
	}
	if ((rc = blob_store_hash_blob(s, man, hash)) < 0) {
		rc = refused(a->argv[3], rc, NULL);
		goto out;
	}
	if ((rc = model_image_publish(m, r.id, &p, man, hash, NULL, &err)) < 0)
		rc = refused(p.name, rc, &err);
out:
	model_writer_end(m, writer);
	blob_manifest_free(man);
	return rc;
}

static int cmd_unpublish(struct admin *a, model *m)
{
	struct model_err err = {0};
	struct model_region r;
	enum model_folder folder;
	int rc;
	if (a->argc != 3)
		return usage_error(a, "unpublish public|marketplace REGION NAME");
	if (strcmp(a->argv[0], "public") == 0)
		folder = MODEL_FOLDER_PUBLIC;
	else if (strcmp(a->argv[0], "marketplace") == 0)
		folder = MODEL_FOLDER_MARKETPLACE;
	else
		return usage_error(a, "unpublish from public or marketplace");
	if ((rc = model_region_by_name(m, a->argv[1], &r)) < 0)
		return refused(a->argv[1], rc, &(struct model_err){0, "no such region"});
	if ((rc = model_image_unpublish(m, r.id, folder, a->argv[2], &err)) < 0)
		return refused(a->argv[2], rc, &err);
	return 0;
}

static int cmd_retention(struct admin *a, model *m)
{
	struct model_err err = {0};
	int64_t v;
	int rc;
	if (a->argc == 0) {
		printf("%lld\n", (long long)model_retention(m));
		return 0;
	}
	if (a->argc != 1)
		return usage_error(a, "retention [SECONDS]");
	if (!parse_i64(a->argv[0], &v))
		return usage_error(a, "SECONDS is a number");
	if ((rc = model_retention_set(m, v, &err)) < 0)
		return refused("retention", rc, &err);
	return 0;
}

static int print_import_rule(void *arg, const char *cidr, bool allow)
{
	(void)arg;
	printf("%s %s\n", allow ? "allow" : "deny", cidr);
	return 0;
}

static int cmd_import(struct admin *a, model *m)
{
	struct model_err err = {0};
	int argc = a->argc;
	char **argv = a->argv;
	int rc;
	if (argc == 1 && strcmp(argv[0], "rules") == 0)
		return model_import_address_list(m, print_import_rule, NULL) < 0 ? 1 : 0;
	if (argc >= 1 && strcmp(argv[0], "floor") == 0) {
		int64_t bps, window = MODEL_IMPORT_FLOOR_WINDOW;
		if (argc == 1) {
			uint64_t b;
			int w;
			model_import_floor(m, &b, &w);
			printf("%llu %d\n", (unsigned long long)b, w);
			return 0;
		}
		if (argc > 3 || !parse_i64(argv[1], &bps) || bps < 0 || (argc == 3 && !parse_i64(argv[2], &window)))
			return usage_error(a, "import floor [BYTES_PER_SECOND [SECONDS]]");
		if ((rc = model_import_floor_set(m, (uint64_t)bps, (int)(window > 86400 ? 0 : window), &err)) < 0)
			return refused("import floor", rc, &err);
		return 0;
	}
	if (argc >= 1 && strcmp(argv[0], "slice") == 0) {
		int64_t secs;
		if (argc == 1) {
			printf("%lld\n", (long long)model_import_slice(m));
			return 0;
		}
		if (argc != 2 || !parse_i64(argv[1], &secs))
			return usage_error(a, "import slice [SECONDS]");
		if ((rc = model_import_slice_set(m, secs, &err)) < 0)
			return refused("import slice", rc, &err);
		return 0;
	}
	if (argc != 2)
		return usage_error(a, "import allow|deny|remove CIDR | import rules | import floor | import slice");
	if (strcmp(argv[0], "allow") == 0 || strcmp(argv[0], "deny") == 0) {
		char note[256] = "";
		rc = model_import_address_set(m, argv[1], strcmp(argv[0], "allow") == 0, note, sizeof(note), &err);
		if (rc == 0 && note[0])
			printf("%s\n", note);
	} else if (strcmp(argv[0], "remove") == 0)
		rc = model_import_address_remove(m, argv[1], &err);
	else
		return usage_error(a, "import allow|deny|remove CIDR | import rules | import floor | import slice");
	return rc < 0 ? refused(argv[1], rc, &err) : 0;
}

static int cmd_download_url(struct admin *a, model *m)
{
	struct model_err err = {0};
	char url[512];
	int rc;
	if (a->argc == 0) {
		if ((rc = model_download_url(m, url, sizeof(url))) < 0)
			return refused("download-url", rc, NULL);
		printf("%s\n", url);
		return 0;
	}
	if (a->argc != 1)
		return usage_error(a, "download-url [URL]");
	if ((rc = model_download_url_set(m, a->argv[0], &err)) < 0)
		return refused(a->argv[0], rc, &err);
	return 0;
}

static void print_line(void *arg, const char *line)
{
	(void)arg;
	printf("%s\n", line);
	fflush(stdout); /* as found: an fsck of a large store runs for long */
}

/* gc: a writer whose chunks it kept (model/meta/writer.c). */
static void print_kept(void *arg, const char *line)
{
	(void)arg;
	printf("%s: its chunks kept\n", line);
}

/* key rotate: one line per data key re-wrapped, as it happens (a run cut
 * by kill -9 shows how far it got). */
static void print_progress(void *arg, const char *line)
{
	(void)arg;
	printf("%s\n", line);
	fflush(stdout);
}

static int print_kek(void *arg, const char *kek, int64_t keys)
{
	const char *service = arg;
	printf("%s %lld%s\n", kek, (long long)keys, strcmp(kek, service) == 0 ? " service" : "");
	return 0;
}

/* key rotate --new-keyfile PATH | --new-keycmd CMD; key status (SPEC §17). */
static int cmd_key(struct admin *a, model *m)
{
	struct model_key_rotation r;
	struct model_err err = {0};
	uint8_t kek[MODEL_KEK_SIZE];
	char service[MODEL_KEK_ID_LEN + 1];
	int rc;
	if (a->argc == 1 && strcmp(a->argv[0], "status") == 0 && !a->opt[0] && !a->opt[1]) {
		if ((rc = model_key_status(m, service, print_kek, service)) < 0)
			return refused("key status", rc, NULL);
		printf("service %s\n", service[0] ? service : "-");
		return 0;
	}
	if (a->argc != 1 || strcmp(a->argv[0], "rotate") != 0 || !a->opt[0] == !a->opt[1])
		return usage_error(a, "key rotate --new-keyfile PATH | --new-keycmd CMD (and the current key: --keyfile or "
		                      "--keycmd) | key status");
	if (model_kek_load(kek, a->opt[0], a->opt[1], &err) < 0)
		return refused("key rotate", err.code, &err);
	rc = model_key_rotate(m, kek, print_progress, NULL, &r, &err);
	explicit_bzero(kek, sizeof(kek));
	printf("%llu re-wrapped, %llu under the new key already, %llu under another\n",
	       (unsigned long long)r.rewrapped, (unsigned long long)r.done, (unsigned long long)r.other);
	return rc < 0 ? refused("key rotate", rc, &err) : 0;
}

static int cmd_fsck(struct admin *a, model *m)
{
	bool repair = a->opt[0] != NULL;
	if (a->argc != 0)
		return usage_error(a, "fsck [--repair]");
	int unchecked = 0;
	int n = model_fsck_checked(m, repair, print_line, print_line, NULL, &unchecked);
	if (n < 0)
		return refused("fsck", n, NULL);
	printf("%d problem%s%s", n, n == 1 ? "" : "s", n && repair ? " (repaired what could be)" : "");
	if (unchecked)
		printf("; could not check %d (a store did not answer: nothing of it was judged or repaired; run fsck "
		       "again once it answers)", unchecked);
	printf("\n");
	/* SPEC §1: 1 problems (whatever else), 3 none found but not every
	 * check answered: not a clean bill. */
	return n ? 1 : unchecked ? 3 : 0;
}

/* gc --dry-run: each region's line, and the total. */
struct gc_total {
	uint64_t chunks, bytes;
};

static void print_gc_plan(void *arg, const char *name, uint64_t chunks, uint64_t bytes)
{
	struct gc_total *t = arg;
	t->chunks += chunks;
	t->bytes += bytes;
	printf("%s: would remove %llu chunks (%llu bytes)\n", name, (unsigned long long)chunks,
	       (unsigned long long)bytes);
}

static int cmd_gc(struct admin *a, model *m)
{
	int64_t grace = 3600, lease;
	uint64_t removed = 0;
	if (a->argc != 0)
		return usage_error(a, "gc [--grace SECONDS] [--force] [--dry-run]");
	if (a->opt[0] && (!parse_i64(a->opt[0], &grace) || grace < 0))
		return usage_error(a, "--grace takes seconds");
	/* A grace shorter than the host lease is for someone who knows every
	 * writer is accounted for (SPEC §12: arguments that could hurt). */
	if (grace < (lease = model_lease(m)) && !a->opt[1]) {
		fprintf(stderr,
		        "imgfs admin: gc: EINVAL a grace of %llds is shorter than the host lease (%llds, imgfs admin "
		        "lease): use gc --grace %lld (or more), or gc --grace %lld --force if no host is writing\n",
		        (long long)grace, (long long)lease, (long long)lease, (long long)grace);
		return 1;
	}
	if (a->opt[2]) {
		struct gc_total t = {0, 0};
		int rc = model_gc_plan(m, grace, print_kept, print_gc_plan, &t);
		if (rc < 0)
			return refused("gc", rc, NULL);
		printf("would remove %llu chunks (%llu bytes) in all; nothing removed\n", (unsigned long long)t.chunks,
		       (unsigned long long)t.bytes);
		return 0;
	}
	int rc = model_gc_report(m, grace, print_kept, NULL, &removed);
	if (rc < 0)
		return refused("gc", rc, NULL);
	printf("removed %llu chunks\n", (unsigned long long)removed);
	return 0;
}

/* migrate works on the state directory and the target itself (no model). */
static int cmd_migrate(struct admin *a, model *m)
{
	struct model_migrate_store stores[64];
	struct model_err err = {0};
	const char *to = a->opt[0], *host = a->opt[1];
	char self[MODEL_HOST_MAX + 1];
	int rc;
	(void)m;
	if (a->argc != 0 || !to)
		return usage_error(a, "migrate needs --to URL and no other operand");
	for (int i = 0; i < a->nstores; i++) {
		const char *eq = strchr(a->stores[i], '=');
		if (!eq || eq == a->stores[i])
			return usage_error(a, "--store takes REGION=SPEC (dir:PATH or rados:POOL[,...])");
		*(char *)eq = '\0'; /* argv's own bytes */
		stores[i] = (struct model_migrate_store){a->stores[i], eq + 1};
	}
	if (!host) {
		/* This machine's name, as a mount would take it. */
		if (gethostname(self, sizeof(self)) < 0)
			strcpy(self, "localhost");
		self[sizeof(self) - 1] = '\0';
		self[strcspn(self, ".")] = '\0';
		host = self;
	}
	if (!model_host_name_valid(host))
		return usage_error(a, "--host takes 1-64 of A-Z a-z 0-9 . _ -");
	if ((rc = model_migrate(a->state, to, host, stores, a->nstores, print_line, NULL, &err)) < 0)
		return refused("migrate", rc, &err);
	printf("migrated %s; mount it with -o db=... from %s, -o host=%s\n", a->state, a->state, host);
	return 0;
}

/* Whether the embedded state directory dir holds a state. */
/* Whether a state is at dir (model_state_probe): 0, or 1 after printing
 * why not (none there, not the caller's, an empty imgfs.db). */
static int need_state(const char *dir)
{
	struct model_err err = {0};
	if (model_state_probe(dir, &err) == 0)
		return 0;
	fprintf(stderr, "imgfs admin: %s\n", err.msg);
	return 1;
}

static bool dir_exists(const char *dir)
{
	struct stat st;
	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Whether the command as given needs this host's files (admin_cmd). */
static bool needs_host_files(const struct admin *a)
{
	const char *w = a->cmd->host_files;
	return w && (!w[0] || (a->argc > 0 && strcmp(a->argv[0], w) == 0));
	return 1;
}

/* init [DIR]: the one command besides a mount that creates a state (with
 * the default regions and the platform catalogue, as a first mount does). */
static int cmd_init(struct admin *a, model *m)
{
	struct model_err err = {0};
	int rc;
	(void)m;
	if (a->argc > 1)
		return usage_error(a, "init [DIR]");
	if (a->argc == 1) {
		snprintf(a->state, sizeof(a->state), "%s", a->argv[0]);
		a->state_given = true;
	}
	if (a->db && !a->state_given)
		return usage_error(a, "init --db needs this host's state directory: imgfs admin --db URL --state "
		                      "DIR init (the default regions' chunks go there)");
	rc = a->db ? -ENOENT : model_state_probe(a->state, &err);
	if (rc == 0) {
		printf("an imgfs state is at %s already\n", a->state);
		return 0;
	}
	if (rc != -ENOENT) { /* one that is not ours, an empty imgfs.db */
		fprintf(stderr, "imgfs admin: %s\n", err.msg);
		return 1;
	}
	if ((rc = model_open_db(&m, a->state, a->db, MODEL_OPEN_CREATE, &err)) < 0)
		return refused(a->state, rc, &err);
	model_close(m);
	printf("created an imgfs state at %s%s%s\n", a->state, a->db ? " with its metadata in " : "",
	       a->db ? "the database" : "");
	return 0;
}

static int cmd_token(struct admin *a, model *m)
{
	int rc = fs_admin_token(m, a->argc, a->argv);
	return rc == 2 ? usage_error(a, "token ACCOUNT [DURATION] | token list ACCOUNT | token revoke ACCOUNT [TOKEN]")
	               : rc;
}

static int cmd_help(struct admin *a, model *m);

static const struct option no_opts[] = {{0, 0, 0, 0}};
static const struct option account_opts[] = {{"uid", required_argument, 0, 0}, {"admin", no_argument, 0, 1},
                                             {"parent", required_argument, 0, 2}, {0, 0, 0, 0}};
static const struct option region_opts[] = {{"store", required_argument, 0, 0}, {0, 0, 0, 0}};
static const struct option publish_opts[] = {
	{"os-type", required_argument, 0, 0}, {"platform", required_argument, 0, 1},
	{"version", required_argument, 0, 2}, {"arch", required_argument, 0, 3},
	{"boot-mode", required_argument, 0, 4}, {"features", required_argument, 0, 5},
	{"description", required_argument, 0, 6}, {0, 0, 0, 0}};
static const struct option fsck_opts[] = {{"repair", no_argument, 0, 0}, {0, 0, 0, 0}};
static const struct option key_opts[] = {{"new-keyfile", required_argument, 0, 0},
                                         {"new-keycmd", required_argument, 0, 1}, {0, 0, 0, 0}};
static const struct option gc_opts[] = {{"grace", required_argument, 0, 0}, {"force", no_argument, 0, 1},
                                        {"dry-run", no_argument, 0, 2}, {0, 0, 0, 0}};
/* --store (val 2) may be given once per region. */
static const struct option migrate_opts[] = {
	{"to", required_argument, 0, 0}, {"host", required_argument, 0, 1}, {"store", required_argument, 0, 2},
	{0, 0, 0, 0}};
#define STORE_SPEC "dir:PATH|rados:POOL[,conf=FILE][,id=CLIENT][,ns=NAMESPACE]"

static const struct admin_cmd cmds[] = {
	{"init", "  init [DIR]                            create a state (default regions, platform catalogue)\n",
	 no_opts, cmd_init, true, 0, ""},
	{"account",
	 "  account add NAME [--uid UID] [--admin | --parent MAIN]\n"
	 "                                        --admin: sees every tenant under tenants/; --parent:\n"
	 "                                        a sub-account of MAIN, counted in MAIN's quotas\n"
	 "  account list                          NAME UID ROLE PARENT (ROLE admin, main or sub; - none)\n"
	 "  account set NAME admin yes|no\n"
	 "  account set NAME parent MAIN|-        make NAME a sub-account of MAIN, or a main account\n"
	 "  account set NAME encrypt-by-default yes|no\n"
	 "                                        its new images are encrypted (SPEC §17)\n"
	 "  account set NAME uid UID|-            callers of uid UID act as NAME under -o multiuser\n"
	 "                                        (-: no uid; a uid another account has: EEXIST)\n"
	 "  account set NAME api-password         the image API's password (SPEC §19), read from\n"
	 "                                        standard input; empty: none\n"
	 "  account remove NAME                   only one that owns nothing and has no sub-accounts\n"
	 "                                        (EBUSY: what it owns, its sub-accounts)\n",
	 account_opts, cmd_account, false, 0, NULL},
	{"region", "  region add NAME [--store " STORE_SPEC "]\n  region list                           NAME STORE (-: the state directory)\n",
	 region_opts, cmd_region, false, 0, "add"},
	{"host",
	 "  host list                             hosts mounting the service, their last lease renewal\n"
	 "  host remove NAME                      forget a dead host: its tasks end in error\n",
	 no_opts, cmd_host, false, 0, NULL},
	{"lease",
	 "  lease [SECONDS]                       print, or set, how long a host may go without\n"
	 "                                        renewing before others take its tasks (default 30)\n",
	 no_opts, cmd_lease, false, 0, NULL},
	{"migrate",
	 "  migrate --to URL [--store REGION=" STORE_SPEC "]... [--host NAME]\n"
	 "                                        move the (unmounted) state into a PostgreSQL database\n",
	 migrate_opts, cmd_migrate, true, 3 /* --store, once per region */, NULL},
	{"quota",
	 "  quota set ACCOUNT REGION KEY VALUE   (private-images, snapshots, shared-images, shares-per-image,\n"
	 "                                        instances)\n"
	 "  quota show ACCOUNT [REGION]           REGION KEY USED LIMIT, a line per quota; with\n"
	 "                                        own=N main=MAIN when counted with sub-accounts\n",
	 no_opts, cmd_quota, false, 0, NULL},
	{"publish",
	 "  publish public|marketplace REGION NAME FILE [--os-type T] [--platform P] [--version V]\n"
	 "          [--arch A] [--boot-mode B] [--features F] [--description D]\n",
	 publish_opts, cmd_publish, false, 0, ""},
	{"unpublish",
	 "  unpublish public|marketplace REGION NAME\n"
	 "                                        remove a platform image (EBUSY while an instance was made\n"
	 "                                        from it or a task uses it); its chunks go to gc\n",
	 no_opts, cmd_unpublish, false, 0, NULL},
	{"import",
	 "  import allow|deny|remove CIDR        where URL imports may connect (default: public\n"
	 "                                        addresses only, not loopback, private, link-local, ...)\n"
	 "  import rules                          list those rules\n"
	 "  import floor [BYTES_PER_S [SECONDS]]  print, or set, the rate below which an import ends\n"
	 "                                        in error (default 65536 over 300 s; 0: none)\n"
	 "  import slice [SECONDS]                print, or set, how long an import runs before it gives\n"
	 "                                        its worker to another account's waiting task and resumes\n"
	 "                                        later (default 60; 0: never)\n",
	 no_opts, cmd_import, false, 0, NULL},
	{"download-url",
	 "  download-url [URL]                    print, or set, the base of download links (SPEC §14;\n"
	 "                                        default http://localhost:8080): where imgfs serve is reached\n",
	 no_opts, cmd_download_url, false, 0, NULL},
	{"token",
	 "  token ACCOUNT [DURATION]              a token of the image API (SPEC §19) for ACCOUNT, valid\n"
	 "                                        DURATION (30s, 90m, 24h, 30d; default 24h, at most 366d):\n"
	 "                                        TOKEN EXPIRES\n"
	 "  token list ACCOUNT                    ID CREATED EXPIRES VIA of its live tokens\n"
	 "  token revoke ACCOUNT [TOKEN]          end one token, or every one\n",
	 no_opts, cmd_token, false, 0, NULL},
	{"fsck", "  fsck [--repair]\n", fsck_opts, cmd_fsck, false, 0, ""},
	{"key",
	 "  key rotate --new-keyfile PATH | --new-keycmd CMD\n"
	 "                                        wrap every data key of encrypted images anew under a new\n"
	 "                                        key-encryption key (the current one: --keyfile/--keycmd);\n"
	 "                                        no chunk is rewritten; run again to resume\n"
	 "  key status                            KEK-ID KEYS per key-encryption key (service: the current)\n",
	 key_opts, cmd_key, false, 0, NULL},
	{"retention",
	 "  retention [SECONDS]                   print, or set, how long deleted images stay in\n"
	 "                                        recycle-bin/ before they are destroyed (default 604800)\n",
	 no_opts, cmd_retention, false, 0, NULL},
	{"gc",
	 "  gc [--grace SECONDS] [--force] [--dry-run]\n"
	 "                                        drop chunks nothing names, older than the grace (default\n"
	 "                                        3600; less than the host lease only with --force) and\n"
	 "                                        than any write in progress; --dry-run: what it would\n"
	 "                                        drop, chunks and bytes per region, nothing removed\n",
	 gc_opts, cmd_gc, false, 0, ""},
	{"help", "  help [COMMAND]                        this usage, or COMMAND's\n", no_opts, cmd_help, true, 0,
	 NULL},
};

static const struct admin_cmd *admin_cmds(size_t *n)
{
	*n = sizeof(cmds) / sizeof(cmds[0]);
	return cmds;
}

static const struct admin_cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
}

static int cmd_help(struct admin *a, model *m)
{
	const struct admin_cmd *c = NULL;
	(void)m;
	if (a->argc > 1 || (a->argc == 1 && !(c = find_cmd(a->argv[0]))))
		return usage_error(NULL, "help [COMMAND]");
	print_usage(stdout, c);
	return 0;
}

enum { OPT_STATE = FS_OPT_FIRST, OPT_DB, OPT_HELP, OPT_KEYFILE, OPT_KEYCMD, OPT_OWN = 512 };

/* Parses argv[optind..] with getopt_long: the global options and, once cmd
 * is known, its own (each at OPT_OWN + its index).  0, 1 (help asked) or 2
 * (a usage error, said). */
static int parse(struct admin *a, int argc, char **argv, const struct admin_cmd *cmd, const char *stop)
{
	struct option longopts[16];
	int n = 0, c, idx;
	longopts[n++] = (struct option){"state", required_argument, 0, OPT_STATE};
	longopts[n++] = (struct option){"db", required_argument, 0, OPT_DB};
	longopts[n++] = (struct option){"help", no_argument, 0, OPT_HELP};
	longopts[n++] = (struct option){"keyfile", required_argument, 0, OPT_KEYFILE};
	longopts[n++] = (struct option){"keycmd", required_argument, 0, OPT_KEYCMD};
	for (int i = 0; cmd && cmd->opts[i].name; i++)
		longopts[n++] = (struct option){cmd->opts[i].name, cmd->opts[i].has_arg, 0, OPT_OWN + i};
	longopts[n] = (struct option){0, 0, 0, 0};
	opterr = 0;
	while ((c = getopt_long(argc, argv, stop, longopts, &idx)) != -1) {
		switch (c) {
		case OPT_STATE:
			snprintf(a->state, sizeof(a->state), "%s", optarg);
			a->state_given = true;
			break;
		case OPT_DB:
			a->db = optarg;
			break;
		case OPT_KEYFILE:
			a->keyfile = optarg;
			break;
		case OPT_KEYCMD:
			a->keycmd = optarg;
			break;
		case 'h':
		case OPT_HELP:
			return 1;
		case '?':
		case ':': {
			char why[160];
			fs_opts_why(why, sizeof(why), c, argv);
			return usage_error(a, why);
		}
		default:
			if (c >= OPT_OWN) {
				int i = c - OPT_OWN;
				if (i + 1 == cmd->repeated) {
					if (a->nstores == (int)(sizeof(a->stores) / sizeof(a->stores[0])))
						return usage_error(a, "too many --store");
					a->stores[a->nstores++] = optarg;
				} else {
					a->opt[i] = optarg ? optarg : "";
				}
			}
			break;
		}
	}
	return 0;
}

int fs_admin_main(int argc, char **argv)
{
	struct admin a = {0};
	struct model_err err = {0};
	model *m = NULL;
	int rc;

	/* The global options up to the command's name ("+": stop there). */
	optind = 0;
	if ((rc = parse(&a, argc, argv, NULL, "+h")) != 0) {
		if (rc == 1)
			print_usage(stdout, NULL);
		return rc == 1 ? 0 : rc;
	}
	if (optind >= argc)
		return usage_error(NULL, "which command?");
	if (!(a.cmd = find_cmd(argv[optind]))) {
		char why[160];
		snprintf(why, sizeof(why), "unknown command %.64s", argv[optind]);
		return usage_error(NULL, why);
	}
	/* The rest: its options and the global ones anywhere among its operands
	 * (getopt_long moves the operands to the end). */
	int first = optind;
	optind = 0;
	if ((rc = parse(&a, argc - first, argv + first, a.cmd, "h")) != 0) {
		if (rc == 1)
			print_usage(stdout, a.cmd);
		return rc == 1 ? 0 : rc;
	}
	a.argc = argc - first - optind;
	a.argv = argv + first + optind;
	/* With --db the database is the service and a state directory only
	 * this host's files: a command that needs them (SPEC §12: arguments
	 * that could hurt) names them, or the default (another service's
	 * live state, maybe) would be written. */
	bool files = needs_host_files(&a);
	if (a.db && files && !a.state_given && a.cmd->run != cmd_init) {
		char why[256];
		snprintf(why, sizeof(why),
		         "%s --db needs this host's state directory: imgfs admin --db URL --state DIR %s ...", a.cmd->name,
		         a.cmd->name);
		return usage_error(&a, why);
	}
	if (!a.state[0] && model_default_state_dir(a.state, sizeof(a.state)) < 0)
		return usage_error(&a, "no default state directory; use --state DIR");
	if (a.cmd->run == cmd_migrate && need_state(a.state))
		return 1;
	if (a.cmd->no_model)
		return a.cmd->run(&a, NULL);
	/* Only init and a mount create a state; a host's state directory
	 * with --db is made by its mount or init too (a typo must not start
	 * another host's files). */
	int flags = 0;
	if (!a.db && need_state(a.state))
		return 1;
	/* The key-encryption key (SPEC §17), for the commands that read or
	 * make encrypted blobs (fsck's tags, publish, key rotate). */
	uint8_t kek[MODEL_KEK_SIZE];
	bool have_kek = false;
	if (a.keyfile || a.keycmd) {
		if (model_kek_load(kek, a.keyfile, a.keycmd, &err) < 0)
			return refused("the key-encryption key", err.code, &err);
		have_kek = true;
	}
	if (a.db && !files)
		flags = MODEL_OPEN_NO_FILES; /* rows only: nothing of this host is touched */
	else if (a.db && !dir_exists(a.state)) {
		fprintf(stderr, "imgfs admin: no state directory %s (this host's files: a mount with -o db=... or "
		                "imgfs admin --db URL --state %s init makes it)\n", a.state, a.state);
		return 1;
	}
	rc = model_open_db(&m, a.state, a.db, flags, &err);
	if (rc == 0 && have_kek)
		model_set_kek(m, kek);
	if (have_kek)
		explicit_bzero(kek, sizeof(kek));
	if (rc < 0) {
		fprintf(stderr, "imgfs admin: %s\n", err.msg[0] ? err.msg : strerror(-rc));
		return 1;
	}
	/* The host whose files they are (recorded by its mount): fsck judges
	 * that host's, gc and publish act for it. */
	if (a.db && files && (rc = model_host_from_dir(m)) < 0) {
		fprintf(stderr, "imgfs admin: %s/host: %s\n", a.state, strerror(-rc));
		model_close(m);
		return 1;
	}
	rc = a.cmd->run(&a, m);
	model_close(m);
	return rc;
}
