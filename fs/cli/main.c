/*
 * main.c — the imgfs executable: `imgfs [FUSE options] [-o imgfs options]
 * MOUNTPOINT` mounts (SPEC §1); `imgfs admin ...` is the admin command line
 * (admin.c); `imgfs wait PATH...` waits for images to settle (wait.c);
 * `imgfs serve` serves download links (fs/serve/).
 *
 * Mount sequence: parse the options into struct opts (mount_parse: ours
 * from the fuse_opt table opt_spec, libfuse's command line, and what is
 * left asked of libfuse, each bad one named, exit 2, before anything is
 * looked at); then mount_run starts from the struct alone: open the
 * state directory once in the foreground (creating it with the default
 * regions and the catalogue), so
 * every problem is reported on the terminal with a one-line reason and a
 * non-zero exit; mount; daemonize (unless -f); open the state again in the
 * daemon (SQLite handles must not cross fork); start the background task
 * workers (worker.c; threads do not cross fork either); serve with a
 * multithreaded loop until unmounted; stop the workers (a task running is
 * put back in the queue for the next mount) before the model is closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pwd.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "dirs.h" /* fs_inside_spare_fill */
#include "fs.h"
#include "imgfs_lock.h"
#include "imgfs_version.h" /* generated at build time (CMakeLists.txt) */
#include "ins_proto.h"     /* ins_helper_main (SPEC §18) */
#include "log.h"
#include "rooms.h"
#include "serve.h"
#include "watch.h"

struct opts {
	char *state;
	char *db;      /* metadata in PostgreSQL (§13) */
	char *host;    /* the host this mount is (§13) */
	char *account;
	char *nonopt[2]; /* [SOURCE] MOUNTPOINT */
	int nnonopt;
	unsigned workers;
	char *workers_s;   /* -o workers= as given */
	char *log_max_s;   /* -o log_max= as given */
	char *keyfile;     /* the key-encryption key (SPEC §17): a file, */
	char *keycmd;      /* or a command printing it */
	char *log;         /* a file or "syslog" (default <state>/imgfs.log) */
	char *stats;       /* who reads /stats: "admin" (default) or "all" */
	long long log_max; /* bytes; LLONG_MIN: FS_LOG_MAX_DEFAULT, 0: never */
	int debug;         /* a log line per request */
	int multiuser;
	int nonempty;    /* mount over a directory that holds files (SPEC §12) */
	int allow_other; /* seen, and passed on to FUSE */
	int ro;          /* seen, and passed on to FUSE (the kernel's EROFS) */
	int fsname;      /* -o fsname= given: not ours to set */
	bool state_opt;  /* -o state= given, before a source set it */
	struct fuse_args args;       /* what is left for libfuse's session */
	struct fuse_cmdline_opts cl; /* libfuse's command line: -f, -s, -d, the mount point */
};

enum { KEY_ALLOW_OTHER = 1, KEY_RO, KEY_FSNAME, KEY_FSTAB };

#define DEFAULT_WORKERS 2
#define MAX_WORKERS 64
#define STOP_BOUND_S 5 /* how long a stop may take before what is left is abandoned */

/* Stopping is bounded (issue 36, SPEC §15).  A stop — SIGTERM, SIGINT, an
 * unmount — ends libfuse's loop only once every request in progress has
 * returned, and the workers are joined after a task's next chunk: a
 * request or a task waiting for a database server that does not answer
 * (libpq has no timeout), or working through a huge blob, kept the
 * daemon for minutes.  This thread notices the stop (the session marked
 * exited: libfuse's signal handlers and its loop on an unmount both do;
 * looked at 4 times a second) and, when the daemon has not ended
 * STOP_BOUND_S later, logs what it abandons, unmounts (lazily: nothing
 * waits for a request in progress) and _exit()s.  Abandoning is safe at
 * any point: SPEC §11's guarantees are those of a crash (every commit is
 * durable or not made; a task is resumed from its last durable point by
 * the next runner, its runner being dead then; an upload whose file was
 * still open ends in error, "the upload was interrupted"), and nothing
 * that returned success is lost by not waiting. */
static struct stop_watch {
	pthread_mutex_t lock;    /* over se and m: main lets go of them under it */
	struct fuse_session *se; /* NULL once main destroys it */
	struct fs_ctx *ctx;
	model *m;                /* NULL once main closes it */
	atomic_int done;         /* the daemon ended by itself */
	atomic_int stopping;     /* main saw libfuse's loop end */
} watch = {.lock = PTHREAD_MUTEX_INITIALIZER};
IMGFS_LOCK_LEVEL(stop_watch_lock, 2); /* the stop watch: main and its stop thread only */

static bool stop_watch_sleep(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
	return !atomic_load(&watch.done);
}

static bool stop_watch_exited(void)
{
	IMGFS_LOCK(&watch.lock, stop_watch_lock);
	/* (libfuse's loop resets the session's mark when it returns: main's
	 * own mark says so after it; a stop that ended the loop between two
	 * looks went unseen, and a stop waited for what it waited for: 9 s
	 * for an inspection's helper, issue 70) */
	bool exited = !watch.se || fuse_session_exited(watch.se) || atomic_load(&watch.stopping);
	IMGFS_UNLOCK(&watch.lock, stop_watch_lock);
	return exited;
}

static void *stop_watch_run(void *arg)
{
	(void)arg;
	while (!stop_watch_exited())
		if (!stop_watch_sleep(250))
			return NULL;
	for (int waited = 0; waited < STOP_BOUND_S * 10; waited++)
		if (!stop_watch_sleep(100))
			return NULL;
	IMGFS_LOCK(&watch.lock, stop_watch_lock); /* kept: main goes no further */
	fs_log(watch.ctx, "stopping took more than %d s: abandoned as in a crash (%d task(s) running here, "
	                  "resumed by the next mount; requests still in progress get no answer)",
	       STOP_BOUND_S, watch.m ? model_task_running_here(watch.m) : 0);
	if (watch.se)
		fuse_session_unmount(watch.se); /* lazily: nothing waits for those requests */
	_exit(0);
}

static void stop_watch_start(struct fuse_session *se, struct fs_ctx *ctx, model *m)
{
	pthread_t t;
	watch.se = se;
	watch.ctx = ctx;
	watch.m = m;
	if (pthread_create(&t, NULL, stop_watch_run, NULL) == 0)
		pthread_detach(t);
	else
		fs_log(ctx, "cannot start the stop watch: a stop waits for every request and task to end");
}

/* Main lets go of the session or the model (what is NULL stays). */
static void stop_watch_forget(bool se, bool m)
{
	IMGFS_LOCK(&watch.lock, stop_watch_lock);
	if (se)
		watch.se = NULL;
	if (m)
		watch.m = NULL;
	IMGFS_UNLOCK(&watch.lock, stop_watch_lock);
}


#define OPT(t, p) {t, offsetof(struct opts, p), 1}
static const struct fuse_opt opt_spec[] = {
	{"state=%s", offsetof(struct opts, state), 0},
	{"db=%s", offsetof(struct opts, db), 0},
	{"host=%s", offsetof(struct opts, host), 0},
	{"account=%s", offsetof(struct opts, account), 0},
	{"workers=%s", offsetof(struct opts, workers_s), 0},
	{"log=%s", offsetof(struct opts, log), 0},
	{"keyfile=%s", offsetof(struct opts, keyfile), 0},
	{"keycmd=%s", offsetof(struct opts, keycmd), 0},
	{"stats=%s", offsetof(struct opts, stats), 0},
	{"log_max=%s", offsetof(struct opts, log_max_s), 0},
	/* Ours, not libfuse's (which would also mean -f and dump every
	 * request to stderr: a mount from fstab would never return); -d is
	 * still libfuse's. */
	OPT("debug", debug),
	OPT("multiuser", multiuser),
	/* libfuse 3 mounts anywhere and knows no nonempty: ours to judge. */
	OPT("nonempty", nonempty),
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("fsname=", KEY_FSNAME),
	/* What mount(8) and /etc/fstab pass that is no business of FUSE's
	 * (mount.fuse3 drops the same): accepted and dropped. */
	FUSE_OPT_KEY("defaults", KEY_FSTAB),
	FUSE_OPT_KEY("auto", KEY_FSTAB),
	FUSE_OPT_KEY("noauto", KEY_FSTAB),
	FUSE_OPT_KEY("nofail", KEY_FSTAB),
	FUSE_OPT_KEY("_netdev", KEY_FSTAB),
	FUSE_OPT_KEY("user", KEY_FSTAB),
	FUSE_OPT_KEY("users", KEY_FSTAB),
	FUSE_OPT_KEY("nouser", KEY_FSTAB),
	FUSE_OPT_KEY("owner", KEY_FSTAB),
	FUSE_OPT_KEY("comment=", KEY_FSTAB),
	FUSE_OPT_KEY("x-", KEY_FSTAB),
	FUSE_OPT_END,
};

/* Every option not ours is kept for FUSE; allow_other and ro are also
 * noted.  The first two arguments that are no option are [SOURCE]
 * MOUNTPOINT (taken here: libfuse's parser knows one only). */
static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct opts *o = data;
	switch (key) {
	case KEY_ALLOW_OTHER: o->allow_other = 1; return 1;
	case KEY_RO: o->ro = 1; return 1;
	case KEY_FSNAME: o->fsname = 1; return 1;
	case KEY_FSTAB: return 0;
	case FUSE_OPT_KEY_NONOPT:
		if (o->nnonopt == 2) {
			fprintf(stderr, "imgfs: %s: one source and one mount point only\n", arg);
			return -1;
		}
		o->nonopt[o->nnonopt++] = strdup(arg);
		return 0;
	default: return 1;
	}
}

/* Overwrites the value of every keycmd= in the -o lists of argv (SPEC
 * §17), once fuse_opt_parse has copied what it keeps: the kernel shows a
 * process's argument memory as /proc/PID/cmdline, so `ps` would show the
 * command (a KMS client's, with whatever its arguments name) to every
 * user for the daemon's whole life.  Its bytes become 'x' (mysqld's way:
 * the arguments keep their length, no NUL splits one in two for `ps`).
 * Everything else is left as given: the state and the mount point name
 * the mount for tests and operators.  A -o list's option ends at a comma
 * not escaped by a backslash (fuse_opt's rule). */
static void hide_keycmd(int argc, char **argv)
{
	static const char key[] = "keycmd=";
	for (int i = 1; i < argc; i++) {
		char *list;
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			list = argv[++i];
		else if (strncmp(argv[i], "-o", 2) == 0)
			list = argv[i] + 2;
		else
			continue;
		for (char *p = list; *p;) {
			bool ours = strncmp(p, key, sizeof(key) - 1) == 0;
			if (ours)
				p += sizeof(key) - 1;
			for (; *p && *p != ','; p++) {
				if (*p == '\\' && p[1]) {
					if (ours)
						*p = 'x';
					p++;
				}
				if (ours)
					*p = 'x';
			}
			if (*p == ',')
				p++;
		}
	}
}

static void usage(const char *prog)
{
	printf("usage: %s [options] [STATE] MOUNTPOINT\n"
	       "       %s admin [--state DIR] COMMAND ...   (%s admin help)\n"
	       "       %s wait [--timeout SECONDS] [-q] PATH...\n"
	       "       %s serve [--state DIR] [--listen ADDR:PORT] ...   (%s serve --help)\n\n"
	       "STATE is the state directory (as -o state=DIR) or a postgresql:// URL\n"
	       "(as -o db=URL).  Also: mount -t fuse.imgfs STATE MOUNTPOINT -o OPTIONS,\n"
	       "and in /etc/fstab: STATE MOUNTPOINT fuse.imgfs OPTIONS 0 0  (imgfs(8)).\n\n"
	       "imgfs options:\n"
	       "    -o state=DIR        state directory (default $XDG_DATA_HOME/imgfs,\n"
	       "                        ~/.local/share/imgfs, or /var/lib/imgfs for root)\n"
	       "    -o db=URL           metadata in this PostgreSQL database (any libpq connection\n"
	       "                        string): several hosts mount one service (default: SQLite\n"
	       "                        in the state directory)\n"
	       "    -o host=NAME        this host's name among those mounting the service\n"
	       "                        (default: the machine's name)\n"
	       "    -o account=NAME     act as this account (default: your login name)\n"
	       "    -o multiuser        map each caller's uid to its account (with allow_other)\n"
	       "    -o nonempty         mount on a directory that holds files (refused without)\n"
	       "    -o stats=all        every caller reads /stats (multiuser default: admin, i.e.\n"
	       "                        root, the mounting user and administrator accounts)\n"
	       "    -o workers=N        background task threads (default %d; 0: this mount runs\n"
	       "                        no tasks and no recycle-bin expiry, another mount\n"
	       "                        of the same state does)\n"
	       "    -o ro               read-only: every write is EROFS, no task runs and\n"
	       "                        nothing expires (the state stays as it is)\n"
	       "    -o keyfile=PATH     the key-encryption key of encrypted images (32 bytes or 64\n"
	       "                        hex digits; mode 0600 or stricter, owned by you)\n"
	       "    -o keycmd=CMD       the same from a command's standard output (a KMS client;\n"
	       "                        a comma in CMD is written \\,)\n"
	       	       "    -o log=FILE|syslog  where the log goes (default STATE/imgfs.log)\n"
	       "    -o log_max=BYTES    rotate the log file past this size, keeping %d old ones\n"
	       "                        (default %lld; 0: never, when logrotate does it)\n"
	       "    -o debug            also log a line per request (operation, inode, name,\n"
	       "                        uid, pid); -d is libfuse's own debug output\n\n",
	       prog, prog, prog, prog, prog, prog, DEFAULT_WORKERS, FS_LOG_KEEP, (long long)FS_LOG_MAX_DEFAULT);
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

/* The kernel caps a FUSE mount's readahead at 128 KiB whatever INIT asks;
 * a 4 MiB window keeps four 1 MiB reads in flight, which is what lets a
 * cold sequential read run at memory speed on two cores (bench-results/
 * README.md, bench-read; 1 MiB and 16 MiB windows were both slower).  The value must
 * be written after the kernel has processed the INIT reply, which sets it:
 * statvfs() on the mount point cannot return before that.  Failure only
 * costs speed.  Run by service.c once the mount answers, before the
 * process reports it mounted: nothing of ours holds the mount after. */
#define READAHEAD_KB "4096"
static void tune_readahead(struct fs_ctx *ctx)
{
	struct stat st;
	char path[64];
	if (stat(ctx->mountpoint, &st) < 0)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", major(st.st_dev), minor(st.st_dev));
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, READAHEAD_KB, strlen(READAHEAD_KB)) < 0)
		fs_log(ctx, "cannot raise the readahead window in %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static int single_user_account(struct opts *o, model *m, int64_t *id)
{
	struct model_account a;
	struct model_err err = {0};
	const char *name = o->account;
	if (!name) {
		struct passwd *pw = getpwuid(getuid());
		if (!pw) {
			fprintf(stderr, "imgfs: cannot find the login name of uid %u; use -o account=NAME\n", getuid());
			return -ENOENT;
		}
		name = pw->pw_name;
	}
	if (o->ro) {
		/* Read-only creates no account either. */
		if (model_account_by_name(m, name, &a) < 0) {
			fprintf(stderr, "imgfs: -o ro: no account %s in this state (-o account=NAME names one)\n", name);
			return -ENOENT;
		}
	} else if (model_account_ensure(m, name, &a, &err) < 0) {
		fprintf(stderr, "imgfs: account %s: %s\n", name, err.msg[0] ? err.msg : "cannot be created");
		return -EINVAL;
	}
	*id = a.id;
	return 0;
}

static bool is_pg_url(const char *s)
{
	return strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0;
}

/* The source argument (`imgfs STATE MOUNTPOINT`, as mount(8) passes it)
 * is -o state= or, for a PostgreSQL URL, -o db=; given both ways it must
 * say the same. */
static int take_source(struct opts *o, const char *src)
{
	char **slot = is_pg_url(src) ? &o->db : &o->state;
	if (*slot && strcmp(*slot, src) != 0) {
		fprintf(stderr, "imgfs: the source %s and -o %s=%s differ: give it once\n", src,
		        slot == &o->db ? "db" : "state", *slot);
		return -EINVAL;
	}
	if (!*slot && !(*slot = strdup(src)))
		return -ENOMEM;
	return 0;
}

/* A PostgreSQL URL as anyone may read it in /proc/mounts: without its
 * user:password@ and its ?parameters (a password= among them); a libpq
 * "key=value" string is not shown at all. */
static void url_without_secrets(char *out, size_t cap, const char *url)
{
	const char *rest = strstr(url, "://");
	if (!rest) { /* libpq's "key=value ..." form: nothing to show safely */
		snprintf(out, cap, "imgfs");
		return;
	}
	rest += 3;
	size_t hostpart = strcspn(rest, "/?");
	const char *at = memchr(rest, '@', hostpart);
	const char *from = at ? at + 1 : rest;
	snprintf(out, cap, "%.*s%.*s", (int)(rest - url), url, (int)strcspn(from, "?"), from);
}

/* The mount shows as `SOURCE on MNT type fuse.imgfs` (mount(8), df): the
 * database's URL when that was the source (or no state directory was
 * named), else the state directory's absolute path. */
static int name_the_mount(struct fuse_args *args, const struct opts *o, const char *state)
{
	char *opt = NULL, cwd[PATH_MAX];
	int rc = fuse_opt_add_opt(&opt, "subtype=imgfs");
	if (rc == 0 && !o->fsname) {
		char fsname[2 * PATH_MAX + 16];
		if (o->db && (!o->state || (o->nnonopt == 2 && is_pg_url(o->nonopt[0])))) {
			char url[PATH_MAX];
			url_without_secrets(url, sizeof(url), o->db);
			snprintf(fsname, sizeof(fsname), "fsname=%s", url);
		} else if (state[0] != '/' && getcwd(cwd, sizeof(cwd))) {
			snprintf(fsname, sizeof(fsname), "fsname=%s/%s", cwd, state);
		} else {
			snprintf(fsname, sizeof(fsname), "fsname=%s", state);
		}
		rc = fuse_opt_add_opt_escaped(&opt, fsname);
	}
	if (rc == 0)
		rc = fuse_opt_add_arg(args, "-o");
	if (rc == 0)
		rc = fuse_opt_add_arg(args, opt);
	free(opt);
	return rc;
}

/* libfuse's own lines, while it is only asked whether it takes an option. */
static void fuse_quiet(enum fuse_log_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
}

/* Whether libfuse's session takes argv (argv[0] the program): a session is
 * made and destroyed, nothing is opened or mounted. */
static bool fuse_takes(int argc, char **argv)
{
	struct fuse_args a = FUSE_ARGS_INIT(0, NULL);
	bool ok = true;
	for (int i = 0; i < argc && ok; i++)
		ok = fuse_opt_add_arg(&a, argv[i]) == 0;
	if (ok) {
		fuse_set_log_func(fuse_quiet);
		struct fuse_session *se = fuse_session_new(&a, &fs_ops, sizeof(fs_ops), NULL);
		fuse_set_log_func(NULL); /* libfuse's own again */
		ok = se != NULL;
		if (se)
			fuse_session_destroy(se);
	}
	fuse_opt_free_args(&a);
	return ok;
}

/* What is left for libfuse once ours and its command line's are taken
 * (its session's and the kernel mount's options) is asked of it now, and
 * the first one it does not know is named as every imgfs command names one
 * ("unknown option --bogus", "unknown option -o bogus"; SPEC §15): 0, or
 * -EINVAL with why set.  Each argument, and each item of a -o list, is
 * asked alone only when the whole is refused. */
static int fuse_unknown(const struct fuse_args *args, char *why, size_t cap)
{
	if (fuse_takes(args->argc, args->argv))
		return 0;
	for (int i = 1; i < args->argc; i++) {
		char *one[3] = {args->argv[0], args->argv[i], NULL};
		if (strcmp(args->argv[i], "-o") != 0 || i + 1 == args->argc) {
			if (!fuse_takes(2, one)) {
				snprintf(why, cap, "unknown option %.128s", args->argv[i]);
				return -EINVAL;
			}
			continue;
		}
		/* a -o list: items end at a comma no backslash escapes */
		char *list = strdup(args->argv[++i]);
		if (!list) {
			snprintf(why, cap, "out of memory");
			return -ENOMEM;
		}
		for (char *p = list, *item = list;; p++) {
			if (*p == '\\' && p[1]) {
				p++;
				continue;
			}
			if (*p && *p != ',')
				continue;
			bool last = !*p;
			*p = '\0';
			one[2] = item;
			if (*item && !fuse_takes(3, one)) {
				snprintf(why, cap, "unknown option -o %.128s", item);
				free(list);
				return -EINVAL;
			}
			if (last)
				break;
			item = p + 1;
		}
		free(list);
	}
	snprintf(why, cap, "libfuse does not take these options together");
	return -EINVAL;
}

/* s as a decimal number up to max: digits only (no sign, no blank). */
static bool decimal(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

/* The mount's command line into *o: what libfuse reads (its own options
 * and the mount point) and ours, each checked alone and against the others,
 * before anything is looked at.  0: mount; 1: --help or --version said
 * (exit 0); 2: a usage error, its one line said (exit 2). */
static int mount_parse(struct opts *o, int argc, char **argv)
{
	char why[256];
	/* Both print their own one-line reason on failure. */
	if (fuse_opt_parse(&o->args, o, opt_spec, opt_proc) < 0 || fuse_parse_cmdline(&o->args, &o->cl) != 0)
		return 2;
	if (o->keycmd) /* parsed: o->keycmd is a copy, args hold copies */
		hide_keycmd(argc, argv);
	if (o->cl.show_help) {
		usage(argv[0]);
		return 1;
	}
	if (o->cl.show_version) {
		printf("imgfs %s, FUSE library %s\n", IMGFS_VERSION, fuse_pkgversion());
		return 1;
	}
	if (fuse_unknown(&o->args, why, sizeof(why)) < 0) {
		fprintf(stderr, "imgfs: %s\n", why);
		return 2;
	}
	/* SPEC §8: callers other than the mounting user reach a mount only
	 * with allow_other; and a multiuser mount has no one account. */
	if (o->multiuser && (!o->allow_other || o->account)) {
		fprintf(stderr, "imgfs: %s\n", o->account ? "-o account= is single-user mode; -o multiuser maps each "
		                                           "caller's uid instead"
		                                         : "-o multiuser needs -o allow_other (other users could not "
		                                           "reach the mount)");
		return 2;
	}
	unsigned long long v;
	if (o->workers_s) {
		if (!decimal(o->workers_s, MAX_WORKERS, &v)) {
			fprintf(stderr, "imgfs: workers=%s: 0 to %d task threads\n", o->workers_s, MAX_WORKERS);
			return 2;
		}
		o->workers = (unsigned)v;
	}
	if (o->log_max_s) {
		if (!decimal(o->log_max_s, LLONG_MAX, &v)) {
			fprintf(stderr, "imgfs: log_max=%s: a size in bytes, or 0 for never\n", o->log_max_s);
			return 2;
		}
		o->log_max = (long long)v;
	}
	if (o->stats && strcmp(o->stats, "all") != 0 && strcmp(o->stats, "admin") != 0) {
		fprintf(stderr, "imgfs: stats=%s: admin (root, the mounting user and administrator accounts read "
		                "/stats in a multi-user mount, the default) or all\n", o->stats);
		return 2;
	}
	if (o->log && !o->log[0]) {
		fprintf(stderr, "imgfs: log=: a file or syslog\n");
		return 2;
	}
	if (o->nnonopt == 0) {
		fprintf(stderr, "imgfs: no mount point given (usage: imgfs [-o OPTIONS] [STATE] MOUNTPOINT)\n");
		return 2;
	}
	o->state_opt = o->state != NULL; /* before a source sets it */
	if (o->nnonopt == 2 && take_source(o, o->nonopt[0]) < 0)
		return 2;
	return 0;
}

/* The mount, from its parsed options: the exit status. */
static int mount_run(struct opts *o)
{
	struct fs_ctx *ctx = NULL; /* 39 KB: on the heap, not in main's frame */
	struct model_err err = {0};
	struct service *svc = NULL;
	char state[PATH_MAX], logpath[PATH_MAX + 16], cwd[PATH_MAX], mnt[PATH_MAX], why[PATH_MAX * 2 + 128];
	char created[PATH_MAX] = ""; /* what this mount made, removed if it fails */
	uint8_t kek[MODEL_KEK_SIZE];
	bool have_kek = false;
	model *m = NULL;
	int ready_fd = -1, hold = -1; /* hold: the state's name held (model_host_claim) */
	int rc = 1;

	fs_service_catch_hup(); /* a SIGHUP from here on is counted, not fatal */

	/* The mount's context lives until the process exits, as a frame of
	 * main's would; kept where the stop watch finds it (never freed, so
	 * never freed under it). */
	if (!(ctx = calloc(1, sizeof(*ctx)))) {
		fprintf(stderr, "imgfs: out of memory\n");
		return 1;
	}
	watch.ctx = ctx;

	/* The key-encryption key (SPEC §17), read now: a key file with the
	 * wrong owner or mode, or a command that fails, is refused before
	 * anything is touched. */
	if (o->keyfile || o->keycmd) {
		if (model_kek_load(kek, o->keyfile, o->keycmd, &err) < 0) {
			fprintf(stderr, "imgfs: %s\n", err.msg);
			rc = 1;
			goto out;
		}
		have_kek = true;
	}
	/* From here every refusal is 1, with nothing created. */
	rc = 1;
	if (fs_service_check_mountpoint(o->nonopt[o->nnonopt - 1], mnt, sizeof(mnt), why, sizeof(why)) < 0) {
		fprintf(stderr, "imgfs: %s\n", why);
		goto out;
	}
	/* With db= the database is the service and the state directory only
	 * this host's files (SPEC §12, "arguments that could hurt"): the
	 * default one may be an embedded service's, whose catalogue chunks
	 * the two would then share and each one's gc delete for the other.
	 * Named, as `imgfs admin --db` wants it (issue 36). */
	if (o->db && !o->state) {
		fprintf(stderr, "imgfs: -o db= needs this host's state directory (the default one may be another "
		                "service's): imgfs -o db=URL,state=DIR MOUNTPOINT\n");
		goto out;
	}
	if (o->state)
		snprintf(state, sizeof(state), "%s", o->state);
	else if (model_default_state_dir(state, sizeof(state)) < 0) {
		fprintf(stderr, "imgfs: cannot find a state directory; use -o state=DIR\n");
		goto out;
	}
	struct fs_mount_args ma = {.mountpoint = mnt, .state = state, .source = o->nnonopt == 2 ? o->nonopt[0] : NULL,
	                           .source_is_url = o->nnonopt == 2 && is_pg_url(o->nonopt[0]),
	                           .state_named = o->state_opt, .nonempty = o->nonempty};
	if (fs_service_check_args(&ma, why, sizeof(why)) < 0) {
		fprintf(stderr, "imgfs: %s\n", why);
		goto out;
	}
	if (!(o->cl.mountpoint = strdup(mnt)))
		goto out;
	if (o->ro)
		o->workers = 0; /* no task runs, nothing expires */

	/* A bad option is found before the state is touched. */
	if (name_the_mount(&o->args, o, state) != 0 || !(ctx->se = fuse_session_new(&o->args, &fs_ops, sizeof(fs_ops), ctx))) {
		fprintf(stderr, "imgfs: cannot start a FUSE session\n");
		rc = 2;
		goto out;
	}

	/* The log asked for by name is what the operator will look at:
	 * refuse a mount that cannot write it, before anything is created.
	 * The default one is opened once the state exists (stderr without). */
	pthread_mutex_init(&ctx->log_lock, NULL);
	pthread_mutex_init(&ctx->rmdir_lock, NULL);
	if (fs_rooms_new(ctx) < 0) {
		fprintf(stderr, "imgfs: %s\n", strerror(ENOMEM));
		rc = 1;
		goto out;
	}
	ctx->log_max = o->log_max != LLONG_MIN ? o->log_max : FS_LOG_MAX_DEFAULT;
	if (o->log) {
		if (o->log[0] == '/' || strcmp(o->log, "syslog") == 0)
			snprintf(logpath, sizeof(logpath), "%s", o->log);
		else if (!getcwd(cwd, sizeof(cwd)) || /* the daemon runs in / */
		         (size_t)snprintf(logpath, sizeof(logpath), "%s/%s", cwd, o->log) >= sizeof(logpath))
			logpath[0] = '\0';
		if ((rc = logpath[0] ? fs_log_open(ctx, logpath) : -ENAMETOOLONG) < 0) {
			fprintf(stderr, "imgfs: cannot open the log %s: %s\n", o->log, strerror(-rc));
			rc = 1;
			goto out_session;
		}
	}

	/* In the foreground: create (unless -o ro) or check the state and the
	 * account; what this creates goes again if the mount fails. */
	fs_service_missing_top(state, created, sizeof(created));
	if (o->ro && created[0]) {
		fprintf(stderr, "imgfs: -o ro: no imgfs state at %s (a read-only mount creates none)\n", state);
		created[0] = '\0';
		goto out_session;
	}
	if (model_open_db(&m, state, o->db, o->ro ? 0 : MODEL_OPEN_CREATE, &err) < 0) {
		fprintf(stderr, "imgfs: %s\n", err.msg[0] ? err.msg : "cannot open the state directory");
		goto out_session;
	}
	if (o->host && model_host_set(m, o->host, &err) < 0) {
		fprintf(stderr, "imgfs: -o host=%s: %s\n", o->host, err.msg);
		rc = 2;
		goto out_session;
	}
	/* A key that is not the service's mounts (the other images serve as
	 * before), and says so now. */
	if (have_kek) {
		model_set_kek(m, kek);
		if (model_kek_check(m, &err) < 0)
			fprintf(stderr, "imgfs: warning: %s\n", err.msg);
	}
	/* The state directory holds this host's files: imgfs admin, given it,
	 * acts for this host (fsck judges these files only). */
	if (o->db && !o->ro && (rc = model_host_record(m)) < 0)
		fprintf(stderr, "imgfs: cannot record host %s in %s/host: %s\n", model_host(m), model_state_dir(m),
		        strerror(-rc));
	rc = 1;
	/* Every region's store usable now (a RADOS cluster that answers, its
	 * pool there): a refusal here rather than EIO on the first read. */
	if (model_stores_check(m, &err) < 0) {
		fprintf(stderr, "imgfs: %s\n", err.msg[0] ? err.msg : "a region's blob store cannot be opened");
		rc = 1;
		goto out_session; /* the session, the options and a state made now go too */
	}
	/* One name, one state (SPEC §13): two states under one host name took
	 * each other's uploads (issue 70). */
	if (o->db && !o->ro && model_host_claim(m, &hold, &err) < 0) {
		fprintf(stderr, "imgfs: %s\n", err.msg[0] ? err.msg : "cannot claim this host's name");
		goto out_session;
	}
	snprintf(state, sizeof(state), "%s", model_state_dir(m)); /* absolute: the daemon runs in / */
	ctx->multiuser = o->multiuser;
	ctx->stats_all = o->stats && strcmp(o->stats, "all") == 0;
	ctx->ro = o->ro;
	if (!o->multiuser && single_user_account(o, m, &ctx->account_id) < 0)
		goto out_session;
	model_close(m);
	m = NULL;

	ctx->uid = getuid();
	ctx->gid = getgid();
	/* Long timeouts: tree walks are served from the kernel's caches, and
	 * every change reaches the kernel as an invalidation (watch.c; a mount
	 * that missed some invalidates everything).  With a minute, a walk of
	 * 100,000 images (longer than that cold) found its first entries
	 * expired and a later walk was as slow as the first. */
	ctx->timeout = FS_TIMEOUT;
	ctx->mountpoint = o->cl.mountpoint;
	ctx->log_stderr = o->cl.foreground;
	ctx->debug = o->debug;
	snprintf(logpath, sizeof(logpath), "%s/imgfs.log", state);
	if (!o->log && (rc = fs_log_open(ctx, logpath)) < 0)
		fprintf(stderr, "imgfs: cannot open %s: %s (logging to stderr only)\n", logpath, strerror(-rc));
	rc = 1;

	if (fuse_set_signal_handlers(ctx->se) != 0)
		goto out_session;
	if (fuse_session_mount(ctx->se, o->cl.mountpoint) != 0) {
		fprintf(stderr, "imgfs: cannot mount on %s\n", o->cl.mountpoint);
		goto out_signals;
	}
	snprintf(why, sizeof(why), "the mount on %s did not come up (the reason is in %s)", o->cl.mountpoint,
	         ctx->log_syslog ? "syslog" : ctx->log_path[0] ? ctx->log_path : "no log");
	if (!o->cl.foreground && fs_service_daemonize(&ready_fd, why) < 0) {
		fprintf(stderr, "imgfs: cannot go to the background: %s\n", strerror(errno));
		goto out_unmount;
	}
	if (!o->cl.foreground) {
		/* The caller's descriptors are not the daemon's (SPEC §15). */
		int keep[] = {fuse_session_fd(ctx->se), ready_fd, ctx->log_fd};
		fs_service_close_inherited(keep, 3);
	}
	created[0] = '\0'; /* mounted: the state is the service's now */
	if (model_open_db(&m, state, o->db, 0, &err) < 0) {
		fs_log(ctx, "cannot open the state directory: %s", err.msg);
		goto out_unmount;
	}
	if (o->host)
		model_host_set(m, o->host, NULL); /* checked in the foreground */
	if (have_kek) {
		char id[MODEL_KEK_ID_LEN + 1];
		model_set_kek(m, kek);
		model_kek_id(id, kek);
		fs_log(ctx, "key-encryption key %s given: encrypted images are read and written here", id);
		if (model_kek_check(m, &err) < 0)
			fs_log(ctx, "%s", err.msg);
	}
	explicit_bzero(kek, sizeof(kek));
	if (!o->ro && model_host_register(m) < 0)
		fs_log(ctx, "cannot register host %s (its lease is renewed by the watcher)", model_host(m));
	ctx->m = m;
	fs_log(ctx, "mounted %s on %s (%s%s, host %s%s)", state, o->cl.mountpoint, o->multiuser ? "multiuser" : "single-user",
	       o->ro ? ", read-only" : "", model_host(m), o->db ? ", metadata in PostgreSQL" : "");
	if (fs_watch_start(ctx) < 0)
		fs_log(ctx, "cannot start the change watcher: changes by other processes show after %g s",
		       ctx->timeout);
	fs_inspect_register(ctx); /* what the workers' inspect tasks call (§20) */
	if ((rc = fs_workers_start(ctx, o->workers)) < 0)
		fs_log(ctx, "started %u of %u task workers: %s", ctx->nworkers, o->workers, strerror(-rc));
	/* Reports "mounted" (the parent's exit, READY=1) once it answers. */
	svc = fs_service_start(ctx, ready_fd, !o->cl.foreground, tune_readahead);
	ready_fd = -1;
	stop_watch_start(ctx->se, ctx, m);
	/* A helper started ahead for files/ (§18): a cold image's first file
	 * does not wait for one to start.  Here, in the daemon, and not in the
	 * FUSE init handler: the handlers need not call the helpers' table. */
	fs_inside_spare_fill(ctx);

	if (o->cl.singlethread) {
		rc = fuse_session_loop(ctx->se);
	} else {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();
		/* Many threads: parallel readers and readahead (docs/fuse-notes.md). */
		fuse_loop_cfg_set_clone_fd(cfg, o->cl.clone_fd);
		fuse_loop_cfg_set_max_threads(cfg, o->cl.max_threads > 32 ? o->cl.max_threads : 32);
		/* UINT_MAX is the command line's "not given": passing it on made
		 * libfuse print "Ignoring invalid max threads value" at each mount. */
		if (o->cl.max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(cfg, o->cl.max_idle_threads);
		rc = fuse_session_loop_mt(ctx->se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	atomic_store(&watch.stopping, 1); /* the stop's bound counts from now at the latest */
	/* SIGTERM and SIGINT (libfuse's handlers) end the loop with the
	 * signal's number: a clean stop, as an unmount is (§15). */
	if (rc == SIGTERM || rc == SIGINT) {
		fs_log(ctx, "%s: unmounting", rc == SIGTERM ? "SIGTERM" : "SIGINT");
		rc = 0;
	}
	rc = rc ? 1 : 0;
	/* Said first, before the watcher and the workers are stopped (up to
	 * a watch period and a task's chunk): unless a signal ended the loop,
	 * it ended because the kernel has unmounted already (fusermount3 -u,
	 * umount), a remount may be starting, and its "mounted" line must not
	 * come before this one in a log the two share.  After a signal the
	 * kernel unmount follows below, after this line too. */
	fs_log(ctx, "unmounted %s", o->cl.mountpoint);
	fs_service_stopping();
	fs_watch_stop(ctx);
	fs_workers_stop(ctx); /* a running task goes back to the queue */
	if (o->db && !o->ro)
		model_host_release(m, hold); /* free for another state at once, unless a serve of this one holds it */
	fs_files_release_all(ctx);
	fs_started_drain(ctx);
out_unmount:
	IMGFS_LOCK(&watch.lock, stop_watch_lock); /* not both unmounting it */
	fuse_session_unmount(ctx->se);
	IMGFS_UNLOCK(&watch.lock, stop_watch_lock);
out_signals:
	fuse_remove_signal_handlers(ctx->se);
out_session:
	fs_service_stop(svc); /* after the unmount: a readiness wait ends */
	stop_watch_forget(true, false);
	fuse_session_destroy(ctx->se);
out:
	stop_watch_forget(false, true);
	model_close(m);
	atomic_store(&watch.done, 1); /* ended within the bound: the log stays ours */
	fs_log_close(ctx);
	fs_rooms_free(ctx); /* after the handles (fs_files_release_all) and the log */
	if (ready_fd >= 0)
		close(ready_fd);
	if (created[0]) {
		fs_service_remove_tree(created);
		created[0] = '\0';
	}
	explicit_bzero(kek, sizeof(kek));
	return rc;
}

static void opts_free(struct opts *o)
{
	free(o->cl.mountpoint);
	free(o->keyfile);
	free(o->keycmd);
	free(o->workers_s);
	free(o->log_max_s);
	free(o->log);
	free(o->stats);
	free(o->state);
	free(o->db);
	free(o->host);
	free(o->account);
	free(o->nonopt[0]);
	free(o->nonopt[1]);
	fuse_opt_free_args(&o->args);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "admin") == 0)
		return fs_admin_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "wait") == 0)
		return fs_wait_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "serve") == 0)
		return serve_main(argc - 1, argv + 1);
	/* The sandboxed reader of a guest file system (SPEC §18), started by
	 * the daemon with its socket as fd 3; nothing else runs before it. */
	if (argc == 2 && strcmp(argv[1], "inside-helper") == 0)
		return ins_helper_main(3);

	/* Reads allocate up to 1 MiB per request: keep those on the heap,
	 * not one mmap/munmap pair (and 256 page faults) per request.  But
	 * not every thread an arena of its own, each keeping what it freed:
	 * with glibc's default (8 per core), 3 tenants and an attacker's
	 * getxattr storms (40 threads) left 12+ arena heaps of 20-30 MiB
	 * resident, 369 MiB after 90 s (scripts/rss-stress); 4 arenas: 222
	 * MiB after 60 s.  Trimming the heaps sooner (32 MiB) saved nothing
	 * more there and cost bench-read's cold read 15-25 %. */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	mallopt(M_ARENA_MAX, 4);

	struct opts o = {.args = FUSE_ARGS_INIT(argc, argv), .workers = DEFAULT_WORKERS, .log_max = LLONG_MIN};
	int rc = mount_parse(&o, argc, argv);
	rc = rc == 0 ? mount_run(&o) : rc == 1 ? 0 : 2;
	opts_free(&o);
	return rc;
}
