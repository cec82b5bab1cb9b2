/*
 * admin.c — `imgfs admin [--state DIR] COMMAND ...` (SPEC §1): accounts,
 * regions, quotas, publishing platform images, the recycle bin's retention
 * period, fsck and gc.  Works on a
 * state directory whether it is mounted or not (SQLite WAL).  Prints one
 * line per refusal and exits non-zero on any; 2 for a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"

static const char admin_usage[] =
	"usage: imgfs admin [--state DIR] [--db URL] COMMAND\n"
	"  account add NAME [--uid UID]\n"
	"  account list\n"
	"  region add NAME [--store dir:PATH | --store rados:POOL[,conf=FILE][,id=CLIENT][,ns=NAMESPACE]]\n"
	"  host list                             hosts mounting the service, their last lease renewal\n"
	"  host remove NAME                      forget a dead host: its tasks end in error\n"
	"  lease [SECONDS]                       print, or set, how long a host may go without\n"
	"                                        renewing before others take its tasks (default 30)\n"
	"  migrate --to URL [--store REGION=dir:PATH]... [--host NAME]\n"
	"                                        move the (unmounted) state into a PostgreSQL database\n"
	"  quota set ACCOUNT REGION KEY VALUE   (private-images, snapshots, shared-images, shares-per-image)\n"
	"  publish public|marketplace REGION NAME FILE [--os-type T] [--platform P] [--version V]\n"
	"          [--arch A] [--boot-mode B] [--features F] [--description D]\n"
	"  import allow|deny|remove CIDR        where URL imports may connect (default: public\n"
	"                                        addresses only, not loopback, private, link-local, ...)\n"
	"  import rules                          list those rules\n"
	"  import floor [BYTES_PER_S [SECONDS]]  print, or set, the rate below which an import ends\n"
	"                                        in error (default 65536 over 300 s; 0: none)\n"
	"  download-url [URL]                    print, or set, the base of download links (SPEC §14;\n"
	"                                        default http://localhost:8080): where imgfs serve is reached\n"
	"  fsck [--repair]\n"
	"  retention [SECONDS]                   print, or set, how long deleted images stay in\n"
	"                                        recycle-bin/ before they are destroyed (default 604800)\n"
	"  gc [--grace SECONDS]                  (default 3600: younger chunks may be in use)\n";

static int usage_error(const char *why)
{
	fprintf(stderr, "imgfs admin: %s\n%s", why, admin_usage);
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
	if (a->uid >= 0)
		printf("%s %lld\n", a->name, (long long)a->uid);
	else
		printf("%s -\n", a->name);
	return 0;
}

static int cmd_account(model *m, int argc, char **argv)
{
	struct model_err err = {0};
	int64_t uid = -1;
	int rc;
	if (argc >= 1 && strcmp(argv[0], "list") == 0 && argc == 1)
		return model_account_list(m, print_account, NULL) < 0 ? 1 : 0;
	if (argc < 2 || strcmp(argv[0], "add") != 0)
		return usage_error("account add NAME [--uid UID] | account list");
	if (argc == 4 && strcmp(argv[2], "--uid") == 0) {
		/* (uid_t)-1 is "no uid" to chown(2) and setreuid(2): never an account's. */
		if (!parse_i64(argv[3], &uid) || uid < 0 || uid > 4294967294LL)
			return usage_error("--uid takes a number from 0 to 4294967294");
	} else if (argc != 2) {
		return usage_error("account add NAME [--uid UID]");
	}
	if ((rc = model_account_add(m, argv[1], uid, &err)) < 0)
		return refused(argv[1], rc, &err);
	return 0;
}

static int cmd_region(model *m, int argc, char **argv)
{
	struct model_err err = {0};
	int rc;
	const char *store = NULL;
	if (argc == 4 && strcmp(argv[2], "--store") == 0)
		store = argv[3];
	else if (argc != 2)
		return usage_error("region add NAME [--store dir:PATH|rados:POOL[,conf=FILE][,id=CLIENT][,ns=NAMESPACE]]");
	if (strcmp(argv[0], "add") != 0)
		return usage_error("region add NAME [--store dir:PATH|rados:POOL[,conf=FILE][,id=CLIENT][,ns=NAMESPACE]]");
	if ((rc = model_region_add_store(m, argv[1], store, &err)) < 0)
		return refused(argv[1], rc, &err);
	return 0;
}

static int print_host(void *arg, const struct model_host *h)
{
	char started[21], renewed[21];
	model_fmt_time(started, h->started_ns / 1000000000);
	model_fmt_time(renewed, h->renewed_ns / 1000000000);
	printf("%s %s started %s renewed %s\n", h->name, h->alive ? "alive" : "gone", started, renewed);
	return 0;
}

static int cmd_host(model *m, int argc, char **argv)
{
	struct model_err err = {0};
	int rc;
	if (argc == 1 && strcmp(argv[0], "list") == 0)
		return model_host_list(m, print_host, NULL) < 0 ? 1 : 0;
	if (argc != 2 || strcmp(argv[0], "remove") != 0)
		return usage_error("host list | host remove NAME");
	if ((rc = model_host_remove(m, argv[1], &err)) < 0)
		return refused(argv[1], rc, &err);
	return 0;
}

static int cmd_lease(model *m, int argc, char **argv)
{
	struct model_err err = {0};
	int64_t v;
	int rc;
	if (argc == 0) {
		printf("%lld\n", (long long)model_lease(m));
		return 0;
	}
	if (argc != 1 || !parse_i64(argv[0], &v))
		return usage_error("lease [SECONDS]");
	if ((rc = model_lease_set(m, v, &err)) < 0)
		return refused("lease", rc, &err);
	return 0;
}

static int cmd_quota(model *m, int argc, char **argv)
{
	struct model_err err = {0};
	int64_t v;
	int rc;
	if (argc != 5 || strcmp(argv[0], "set") != 0)
		return usage_error("quota set ACCOUNT REGION KEY VALUE");
	if (!parse_i64(argv[4], &v))
		return usage_error("VALUE is a number");
	if ((rc = model_quota_set(m, argv[1], argv[2], argv[3], v, &err)) < 0)
		return refused(argv[3], rc, &err);
	return 0;
}

static int cmd_publish(model *m, int argc, char **argv)
{
	struct model_publish p = {0};
	struct model_err err = {0};
	struct model_region r;
	blob_manifest *man = NULL;
	blob_store *s;
	struct stat st;
	char hash[33];
	int fd = -1, rc;

	if (argc < 4)
		return usage_error("publish public|marketplace REGION NAME FILE [options]");
	if (strcmp(argv[0], "public") == 0)
		p.folder = MODEL_FOLDER_PUBLIC;
	else if (strcmp(argv[0], "marketplace") == 0)
		p.folder = MODEL_FOLDER_MARKETPLACE;
	else
		return usage_error("publish to public or marketplace");
	p.name = argv[2];
	for (int i = 4; i < argc; i += 2) {
		const char **slot = strcmp(argv[i], "--os-type") == 0       ? &p.os_type
		                    : strcmp(argv[i], "--platform") == 0    ? &p.platform
		                    : strcmp(argv[i], "--version") == 0     ? &p.version
		                    : strcmp(argv[i], "--arch") == 0        ? &p.arch
		                    : strcmp(argv[i], "--boot-mode") == 0   ? &p.boot_mode
		                    : strcmp(argv[i], "--features") == 0    ? &p.features
		                    : strcmp(argv[i], "--description") == 0 ? &p.description
		                                                            : NULL;
		if (!slot || i + 1 >= argc)
			return usage_error("unknown or incomplete publish option");
		*slot = argv[i + 1];
	}
	if ((rc = model_region_by_name(m, argv[1], &r)) < 0)
		return refused(argv[1], rc, &(struct model_err){0, "no such region"});
	if ((rc = model_name_check(p.name, &err)) < 0)
		return refused(p.name, rc, &err);
	if ((fd = open(argv[3], O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		fprintf(stderr, "imgfs admin: %s: %s\n", argv[3], strerror(errno));
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
		return refused(argv[3], rc, NULL);
	}
	/* Detected and checked as an upload is (§5.3, §5.4); a QCOW2 becomes
	 * the raw disk it describes. */
	blob_manifest *disk = NULL;
	if ((rc = model_publish_disk(s, &p, man, &disk, &err)) < 0) {
		blob_manifest_free(man);
		return refused(argv[3], rc, &err);
	}
	if (disk) {
		blob_manifest_free(man);
		man = disk;
	}
	if ((rc = blob_store_hash_blob(s, man, hash)) < 0) {
		blob_manifest_free(man);
		return refused(argv[3], rc, NULL);
	}
	rc = model_image_publish(m, r.id, &p, man, hash, NULL, &err);
	blob_manifest_free(man);
	if (rc < 0)
		return refused(p.name, rc, &err);
	return 0;
}

static int cmd_retention(model *m, int argc, char **argv)
{
	struct model_err err = {0};
	int64_t v;
	int rc;
	if (argc == 0) {
		printf("%lld\n", (long long)model_retention(m));
		return 0;
	}
	if (argc != 1)
		return usage_error("retention [SECONDS]");
	if (!parse_i64(argv[0], &v))
		return usage_error("SECONDS is a number");
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

static int cmd_import(model *m, int argc, char **argv)
{
	struct model_err err = {0};
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
			return usage_error("import floor [BYTES_PER_SECOND [SECONDS]]");
		if ((rc = model_import_floor_set(m, (uint64_t)bps, (int)(window > 86400 ? 0 : window), &err)) < 0)
			return refused("import floor", rc, &err);
		return 0;
	}
	if (argc != 2)
		return usage_error("import allow|deny|remove CIDR | import rules");
	if (strcmp(argv[0], "allow") == 0 || strcmp(argv[0], "deny") == 0)
		rc = model_import_address_set(m, argv[1], strcmp(argv[0], "allow") == 0, &err);
	else if (strcmp(argv[0], "remove") == 0)
		rc = model_import_address_remove(m, argv[1], &err);
	else
		return usage_error("import allow|deny|remove CIDR | import rules");
	return rc < 0 ? refused(argv[1], rc, &err) : 0;
}

static int cmd_download_url(model *m, int argc, char **argv)
{
	struct model_err err = {0};
	char url[512];
	int rc;
	if (argc == 0) {
		if ((rc = model_download_url(m, url, sizeof(url))) < 0)
			return refused("download-url", rc, NULL);
		printf("%s\n", url);
		return 0;
	}
	if (argc != 1)
		return usage_error("download-url [URL]");
	if ((rc = model_download_url_set(m, argv[0], &err)) < 0)
		return refused(argv[0], rc, &err);
	return 0;
}

static void print_problem(void *arg, const char *line)
{
	printf("%s\n", line);
}

static int cmd_fsck(model *m, int argc, char **argv)
{
	bool repair = argc == 1 && strcmp(argv[0], "--repair") == 0;
	if (argc > 1 || (argc == 1 && !repair))
		return usage_error("fsck [--repair]");
	int n = model_fsck(m, repair, print_problem, NULL);
	if (n < 0)
		return refused("fsck", n, NULL);
	printf("%d problem%s%s\n", n, n == 1 ? "" : "s", n && repair ? " (repaired what could be)" : "");
	return n ? 1 : 0;
}

static int cmd_gc(model *m, int argc, char **argv)
{
	int64_t grace = 3600;
	uint64_t removed = 0;
	if (argc == 2 && strcmp(argv[0], "--grace") == 0) {
		if (!parse_i64(argv[1], &grace) || grace < 0)
			return usage_error("--grace takes seconds");
	} else if (argc != 0) {
		return usage_error("gc [--grace SECONDS]");
	}
	int rc = model_gc(m, grace, &removed);
	if (rc < 0)
		return refused("gc", rc, NULL);
	printf("removed %llu chunks\n", (unsigned long long)removed);
	return 0;
}

static void print_line(void *arg, const char *line)
{
	(void)arg;
	printf("%s\n", line);
}

/* migrate works on the state directory and the target itself (no model). */
static int cmd_migrate(const char *state, int argc, char **argv)
{
	struct model_migrate_store stores[64];
	struct model_err err = {0};
	const char *to = NULL, *host = NULL;
	char self[MODEL_HOST_MAX + 1];
	int n = 0, rc;
	for (int i = 0; i < argc; i++) {
		if (i + 1 >= argc)
			return usage_error("migrate --to URL [--store REGION=dir:PATH]... [--host NAME]");
		if (strcmp(argv[i], "--to") == 0) {
			to = argv[++i];
		} else if (strcmp(argv[i], "--host") == 0) {
			host = argv[++i];
		} else if (strcmp(argv[i], "--store") == 0) {
			char *eq = strchr(argv[++i], '=');
			if (!eq || eq == argv[i] || n == (int)(sizeof(stores) / sizeof(stores[0])))
				return usage_error("--store takes REGION=dir:PATH");
			*eq = '\0';
			stores[n++] = (struct model_migrate_store){argv[i], eq + 1};
		} else {
			return usage_error("migrate --to URL [--store REGION=dir:PATH]... [--host NAME]");
		}
	}
	if (!to)
		return usage_error("migrate needs --to URL");
	if (!host) {
		/* This machine's name, as a mount would take it. */
		if (gethostname(self, sizeof(self)) < 0)
			strcpy(self, "localhost");
		self[sizeof(self) - 1] = '\0';
		self[strcspn(self, ".")] = '\0';
		host = self;
	}
	if (!model_host_name_valid(host))
		return usage_error("--host takes 1-64 of A-Z a-z 0-9 . _ -");
	if ((rc = model_migrate(state, to, host, stores, n, print_line, NULL, &err)) < 0)
		return refused("migrate", rc, &err);
	printf("migrated %s; mount it with -o db=... from %s, -o host=%s\n", state, state, host);
	return 0;
}

int fs_admin_main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(model *, int, char **);
	} cmds[] = {
		{"account", cmd_account}, {"region", cmd_region}, {"quota", cmd_quota},
		{"publish", cmd_publish}, {"fsck", cmd_fsck},     {"gc", cmd_gc},
		{"retention", cmd_retention}, {"import", cmd_import}, {"host", cmd_host}, {"lease", cmd_lease},
		{"download-url", cmd_download_url},
	};
	struct model_err err = {0};
	char state[PATH_MAX] = "";
	const char *db = NULL;
	model *m = NULL;
	int rc;

	while (argc >= 2 && (strcmp(argv[0], "--state") == 0 || strcmp(argv[0], "--db") == 0)) {
		if (strcmp(argv[0], "--db") == 0)
			db = argv[1];
		else
			snprintf(state, sizeof(state), "%s", argv[1]);
		argc -= 2;
		argv += 2;
	}
	if (!state[0] && model_default_state_dir(state, sizeof(state)) < 0)
		return usage_error("no default state directory; use --state DIR");
	if (argc >= 1 && strcmp(argv[0], "migrate") == 0)
		return cmd_migrate(state, argc - 1, argv + 1);
	if (argc < 1 || strcmp(argv[0], "help") == 0 || strcmp(argv[0], "--help") == 0) {
		fputs(admin_usage, argc < 1 ? stderr : stdout);
		return argc < 1 ? 2 : 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[0], cmds[i].name) != 0)
			continue;
		if ((rc = model_open_db(&m, state, db, MODEL_OPEN_CREATE, &err)) < 0) {
			fprintf(stderr, "imgfs admin: %s\n", err.msg[0] ? err.msg : strerror(-rc));
			return 1;
		}
		rc = cmds[i].run(m, argc - 1, argv + 1);
		model_close(m);
		return rc;
	}
	return usage_error("unknown command");
}
