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

#include "fs.h"

/* The command line once parsed: the global options, the command's own
 * (by its index in the command's table) and its operands. */
struct admin {
	char state[PATH_MAX];
	const char *db;
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
};

static const struct admin_cmd *admin_cmds(size_t *n);

static void print_usage(FILE *f, const struct admin_cmd *only)
{
	size_t n;
	const struct admin_cmd *cmds = admin_cmds(&n);
	if (!only)
		fputs("usage: imgfs admin [--state DIR] [--db URL] COMMAND [ARGS]   (options before or after COMMAND)\n", f);
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

static int print_account(void *arg, const struct model_account *a)
{
	(void)arg;
	if (a->uid >= 0)
		printf("%s %lld\n", a->name, (long long)a->uid);
	else
		printf("%s -\n", a->name);
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

static int cmd_account(struct admin *a, model *m)
{
	struct model_err err = {0};
	int64_t uid = -1;
	int rc;
	if (a->argc == 1 && strcmp(a->argv[0], "list") == 0 && !a->opt[0])
		return model_account_list(m, print_account, NULL) < 0 ? 1 : 0;
	if (a->argc != 2 || strcmp(a->argv[0], "add") != 0)
		return usage_error(a, "account add NAME [--uid UID] | account list");
	/* (uid_t)-1 is "no uid" to chown(2) and setreuid(2): never an account's. */
	if (a->opt[0] && (!parse_i64(a->opt[0], &uid) || uid < 0 || uid > 4294967294LL))
		return usage_error(a, "--uid takes a number from 0 to 4294967294");
	struct case_twin t = {a->argv[1], ""};
	model_account_list(m, find_case_twin, &t);
	if ((rc = model_account_add(m, a->argv[1], uid, &err)) < 0)
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

static int cmd_quota(struct admin *a, model *m)
{
	struct model_err err = {0};
	int64_t v;
	int rc;
	if (a->argc != 5 || strcmp(a->argv[0], "set") != 0)
		return usage_error(a, "quota set ACCOUNT REGION KEY VALUE");
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
	if ((fd = open(a->argv[3], O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "imgfs admin: %s: %s\n", a->argv[3], strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	rc = model_store(m, r.id, &s);
	if (rc == 0)
		rc = blob_store_put_fd(s, &man, fd, (uint64_t)st.st_size);
	close(fd);
	if (rc < 0) {
		blob_manifest_free(man);
		return refused(a->argv[3], rc, NULL);
	}
	/* Detected and checked as an upload is (§5.3, §5.4); a QCOW2 becomes
	 * the raw disk it describes. */
	blob_manifest *disk = NULL;
	if ((rc = model_publish_disk(s, &p, man, &disk, &err)) < 0) {
		blob_manifest_free(man);
		return refused(a->argv[3], rc, &err);
	}
	if (disk) {
		blob_manifest_free(man);
		man = disk;
	}
	if ((rc = blob_store_hash_blob(s, man, hash)) < 0) {
		blob_manifest_free(man);
		return refused(a->argv[3], rc, NULL);
	}
	rc = model_image_publish(m, r.id, &p, man, hash, NULL, &err);
	blob_manifest_free(man);
	if (rc < 0)
		return refused(p.name, rc, &err);
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
	if (argc != 2)
		return usage_error(a, "import allow|deny|remove CIDR | import rules | import floor");
	if (strcmp(argv[0], "allow") == 0 || strcmp(argv[0], "deny") == 0)
		rc = model_import_address_set(m, argv[1], strcmp(argv[0], "allow") == 0, &err);
	else if (strcmp(argv[0], "remove") == 0)
		rc = model_import_address_remove(m, argv[1], &err);
	else
		return usage_error(a, "import allow|deny|remove CIDR | import rules | import floor");
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
}

static int cmd_fsck(struct admin *a, model *m)
{
	bool repair = a->opt[0] != NULL;
	if (a->argc != 0)
		return usage_error(a, "fsck [--repair]");
	int n = model_fsck(m, repair, print_line, NULL);
	if (n < 0)
		return refused("fsck", n, NULL);
	printf("%d problem%s%s\n", n, n == 1 ? "" : "s", n && repair ? " (repaired what could be)" : "");
	return n ? 1 : 0;
}

static int cmd_gc(struct admin *a, model *m)
{
	int64_t grace = 3600;
	uint64_t removed = 0;
	if (a->argc != 0)
		return usage_error(a, "gc [--grace SECONDS]");
	if (a->opt[0] && (!parse_i64(a->opt[0], &grace) || grace < 0))
		return usage_error(a, "--grace takes seconds");
	int rc = model_gc(m, grace, &removed);
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
static bool state_exists(const char *dir)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/imgfs.db", dir);
	return access(path, F_OK) == 0;
}

static int missing_state(const char *dir)
{
	fprintf(stderr, "imgfs admin: no imgfs state at %s (create one with imgfs admin init %s or by mounting)\n", dir,
	        dir);
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
	if (a->argc == 1)
		snprintf(a->state, sizeof(a->state), "%s", a->argv[0]);
	if (!a->db && state_exists(a->state)) {
		printf("an imgfs state is at %s already\n", a->state);
		return 0;
	}
	if ((rc = model_open_db(&m, a->state, a->db, MODEL_OPEN_CREATE, &err)) < 0)
		return refused(a->state, rc, &err);
	model_close(m);
	printf("created an imgfs state at %s%s%s\n", a->state, a->db ? " with its metadata in " : "",
	       a->db ? "the database" : "");
	return 0;
}

static int cmd_help(struct admin *a, model *m);

static const struct option no_opts[] = {{0, 0, 0, 0}};
static const struct option account_opts[] = {{"uid", required_argument, 0, 0}, {0, 0, 0, 0}};
static const struct option region_opts[] = {{"store", required_argument, 0, 0}, {0, 0, 0, 0}};
static const struct option publish_opts[] = {
	{"os-type", required_argument, 0, 0}, {"platform", required_argument, 0, 1},
	{"version", required_argument, 0, 2}, {"arch", required_argument, 0, 3},
	{"boot-mode", required_argument, 0, 4}, {"features", required_argument, 0, 5},
	{"description", required_argument, 0, 6}, {0, 0, 0, 0}};
static const struct option fsck_opts[] = {{"repair", no_argument, 0, 0}, {0, 0, 0, 0}};
static const struct option gc_opts[] = {{"grace", required_argument, 0, 0}, {0, 0, 0, 0}};
/* --store (val 2) may be given once per region. */
static const struct option migrate_opts[] = {
	{"to", required_argument, 0, 0}, {"host", required_argument, 0, 1}, {"store", required_argument, 0, 2},
	{0, 0, 0, 0}};
#define STORE_SPEC "dir:PATH|rados:POOL[,conf=FILE][,id=CLIENT][,ns=NAMESPACE]"

static const struct admin_cmd cmds[] = {
	{"init", "  init [DIR]                            create a state (default regions, platform catalogue)\n",
	 no_opts, cmd_init, true, 0},
	{"account", "  account add NAME [--uid UID]\n  account list\n", account_opts, cmd_account, false, 0},
	{"region", "  region add NAME [--store " STORE_SPEC "]\n  region list                           NAME STORE (-: the state directory)\n",
	 region_opts, cmd_region, false, 0},
	{"host",
	 "  host list                             hosts mounting the service, their last lease renewal\n"
	 "  host remove NAME                      forget a dead host: its tasks end in error\n",
	 no_opts, cmd_host, false, 0},
	{"lease",
	 "  lease [SECONDS]                       print, or set, how long a host may go without\n"
	 "                                        renewing before others take its tasks (default 30)\n",
	 no_opts, cmd_lease, false, 0},
	{"migrate",
	 "  migrate --to URL [--store REGION=" STORE_SPEC "]... [--host NAME]\n"
	 "                                        move the (unmounted) state into a PostgreSQL database\n",
	 migrate_opts, cmd_migrate, true, 3 /* --store, once per region */},
	{"quota", "  quota set ACCOUNT REGION KEY VALUE   (private-images, snapshots, shared-images, shares-per-image)\n",
	 no_opts, cmd_quota, false, 0},
	{"publish",
	 "  publish public|marketplace REGION NAME FILE [--os-type T] [--platform P] [--version V]\n"
	 "          [--arch A] [--boot-mode B] [--features F] [--description D]\n",
	 publish_opts, cmd_publish, false, 0},
	{"import",
	 "  import allow|deny|remove CIDR        where URL imports may connect (default: public\n"
	 "                                        addresses only, not loopback, private, link-local, ...)\n"
	 "  import rules                          list those rules\n"
	 "  import floor [BYTES_PER_S [SECONDS]]  print, or set, the rate below which an import ends\n"
	 "                                        in error (default 65536 over 300 s; 0: none)\n",
	 no_opts, cmd_import, false, 0},
	{"download-url",
	 "  download-url [URL]                    print, or set, the base of download links (SPEC §14;\n"
	 "                                        default http://localhost:8080): where imgfs serve is reached\n",
	 no_opts, cmd_download_url, false, 0},
	{"fsck", "  fsck [--repair]\n", fsck_opts, cmd_fsck, false, 0},
	{"retention",
	 "  retention [SECONDS]                   print, or set, how long deleted images stay in\n"
	 "                                        recycle-bin/ before they are destroyed (default 604800)\n",
	 no_opts, cmd_retention, false, 0},
	{"gc", "  gc [--grace SECONDS]                  (default 3600: younger chunks may be in use)\n", gc_opts, cmd_gc,
	 false, 0},
	{"help", "  help [COMMAND]                        this usage, or COMMAND's\n", no_opts, cmd_help, true, 0},
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

enum { OPT_STATE = 256, OPT_DB, OPT_HELP, OPT_OWN = 512 };

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
	for (int i = 0; cmd && cmd->opts[i].name; i++)
		longopts[n++] = (struct option){cmd->opts[i].name, cmd->opts[i].has_arg, 0, OPT_OWN + i};
	longopts[n] = (struct option){0, 0, 0, 0};
	opterr = 0;
	while ((c = getopt_long(argc, argv, stop, longopts, &idx)) != -1) {
		switch (c) {
		case OPT_STATE:
			snprintf(a->state, sizeof(a->state), "%s", optarg);
			break;
		case OPT_DB:
			a->db = optarg;
			break;
		case 'h':
		case OPT_HELP:
			return 1;
		case '?':
		case ':': {
			char why[160];
			const char *bad = argv[optind - 1];
			if (optopt >= 256) /* one of ours, its value missing */
				snprintf(why, sizeof(why), "%.64s needs a value", bad);
			else if (optopt)
				snprintf(why, sizeof(why), "unknown option -%c", optopt);
			else
				snprintf(why, sizeof(why), "unknown option %.64s", bad);
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
	if (!a.state[0] && model_default_state_dir(a.state, sizeof(a.state)) < 0)
		return usage_error(&a, "no default state directory; use --state DIR");
	if (a.cmd->run == cmd_migrate && !state_exists(a.state))
		return missing_state(a.state);
	if (a.cmd->no_model)
		return a.cmd->run(&a, NULL);
	/* Only init and a mount create a state; with --db the database is the
	 * service and the directory only this host's files. */
	if (!a.db && !state_exists(a.state))
		return missing_state(a.state);
	if ((rc = model_open_db(&m, a.state, a.db, a.db ? MODEL_OPEN_CREATE : 0, &err)) < 0) {
		fprintf(stderr, "imgfs admin: %s\n", err.msg[0] ? err.msg : strerror(-rc));
		return 1;
	}
	rc = a.cmd->run(&a, m);
	model_close(m);
	return rc;
}
