/*
 * service.c — what running imgfs as a service needs around the file system
 * (SPEC §15): checking a mount point before anything is created, undoing a
 * state directory a failed mount made, going to the background only once
 * the mount answers (and telling systemd so), and SIGHUP.
 *
 * Who calls it: main.c, in this order:
 *
 *   fs_service_check_mountpoint   before the state is opened or created
 *   fs_service_check_args         then: arguments that could hurt (below)
 *   fs_service_missing_top        before creating the state: what to remove
 *   fs_service_remove_tree        when the mount then fails
 *   fs_service_daemonize          after the kernel mount: the parent waits
 *                                 on a pipe and exits 0 only when the child
 *                                 reports the mount answers (1 otherwise)
 *   fs_service_close_inherited    in the daemon: every descriptor above 2
 *                                 it inherited is closed (a pipe the caller
 *                                 passed would otherwise stay open until
 *                                 the unmount, and its reader never see EOF)
 *   fs_service_start              in the daemon: a thread stat()s the mount
 *                                 (returns only once INIT was answered),
 *                                 runs on_ready (main.c: readahead), then
 *                                 releases the parent / notifies systemd
 *                                 (READY=1); and a thread for SIGHUP
 *   fs_service_stop               after the session loop
 *
 * Why the parent waits (and not fuse_daemonize's): fuse_daemonize returns
 * as soon as the child has forked, before its session loop runs; a
 * `fusermount3 -u` right after it can find the mount busy with our own
 * readahead thread's statvfs(), which waits for the INIT reply.  Waiting
 * for the mount to answer means nothing of ours touches the mount after
 * the process returned.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "fs.h"
#include "log.h"

/* ---- the mount point ------------------------------------------------------ */

/* Undoes the octal escapes of /proc/self/mountinfo (\040 for a space). */
static void unescape_octal(char *s)
{
	char *o = s;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
		    s[3] <= '7') {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* Whether path (absolute, resolved) is a mount point; its file system type
 * into type. */
static bool is_mounted(const char *path, char *type, size_t cap)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t n = 0;
	bool found = false;
	if (!f)
		return false;
	while (!found && getline(&line, &n, f) > 0) {
		/* id parent major:minor root MOUNTPOINT opts... - TYPE source opts */
		char *save = NULL, *field = strtok_r(line, " ", &save);
		for (int i = 1; field && i < 5; i++)
			field = strtok_r(NULL, " ", &save);
		if (!field)
			continue;
		unescape_octal(field);
		if (strcmp(field, path) != 0)
			continue;
		found = true;
		while ((field = strtok_r(NULL, " ", &save)) && strcmp(field, "-") != 0)
			;
		field = field ? strtok_r(NULL, " ", &save) : NULL;
		snprintf(type, cap, "%s", field ? field : "?");
	}
	free(line);
	fclose(f);
	return found;
}

int fs_service_check_mountpoint(const char *path, char *real, size_t cap, char *why, size_t whycap)
{
	struct stat st;
	char type[64];
	if (stat(path, &st) < 0) {
		int e = errno;
		if (e == ENOTCONN)
			snprintf(why, whycap, "mount point %s is a dead mount (its file system process is gone): "
			                      "unmount it first (fusermount3 -u %s)", path, path);
		else if (e == ENOENT)
			snprintf(why, whycap, "mount point %s does not exist", path);
		else
			snprintf(why, whycap, "mount point %s: %s", path, strerror(e));
		return -e;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, whycap, "mount point %s is not a directory", path);
		return -ENOTDIR;
	}
	if (!realpath(path, real) || strlen(real) >= cap) {
		snprintf(why, whycap, "mount point %s: %s", path, strerror(errno));
		return -errno;
	}
	if (is_mounted(real, type, sizeof(type))) {
		/* A FUSE mount whose daemon died still answers stat() from the
		 * kernel's attribute cache; statfs always asks the daemon. */
		struct statvfs sv;
		if (statvfs(real, &sv) < 0 && errno == ENOTCONN)
			snprintf(why, whycap, "mount point %s is a dead mount (its file system process is gone): "
			                      "unmount it first (fusermount3 -u %s)", path, path);
		else
			snprintf(why, whycap, "mount point %s is already mounted (%s): unmount it first", path, type);
		return -EBUSY;
	}
	return 0;
}

/* ---- arguments that could hurt (SPEC §12) ----------------------------------- */

/* path made absolute and resolved as far as it exists; the part that does
 * not exist yet is appended as written, "." and ".." taken lexically. */
static int resolve_partial(const char *path, char *out, size_t cap)
{
	char abs[PATH_MAX], head[PATH_MAX], cwd[PATH_MAX];
	const char *rest = "";
	char *slash;
	int n = path[0] == '/' ? snprintf(abs, sizeof(abs), "%s", path)
	        : getcwd(cwd, sizeof(cwd)) ? snprintf(abs, sizeof(abs), "%s/%s", cwd, path)
	                                   : -1;
	if (n < 0 || n >= (int)sizeof(abs))
		return -ENAMETOOLONG;
	/* The longest prefix that exists, resolved. */
	memcpy(head, abs, (size_t)n + 1);
	while (!realpath(head, out)) {
		if (errno != ENOENT || !(slash = strrchr(head, '/')))
			return -errno;
		rest = abs + (slash - head); /* "/the/rest" */
		if (slash == head) {
			snprintf(out, cap, "/");
			break;
		}
		*slash = '\0';
	}
	/* The rest, component by component. */
	size_t len = strlen(out);
	for (const char *p = rest; *p;) {
		while (*p == '/')
			p++;
		size_t c = strcspn(p, "/");
		if (c == 0 || (c == 1 && p[0] == '.')) {
		} else if (c == 2 && p[0] == '.' && p[1] == '.') {
			while (len > 1 && out[len - 1] != '/')
				len--;
			len = len > 1 ? len - 1 : 1;
			out[len] = '\0';
		} else {
			if (len + 1 + c >= cap)
				return -ENAMETOOLONG;
			if (len > 1)
				out[len++] = '/';
			memcpy(out + len, p, c);
			out[len += c] = '\0';
		}
		p += c;
	}
	return 0;
}

/* Whether path a is b or lies below it (both resolved). */
static bool path_within(const char *a, const char *b)
{
	size_t n = strlen(b);
	if (strcmp(b, "/") == 0)
		return true;
	return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '/');
}

/* Whether dir holds anything but "." and "..". */
static bool has_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool any = false;
	if (!d)
		return false; /* a mount point we cannot list hides nothing we know of */
	while (!any && (e = readdir(d)))
		any = strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return any;
}

int fs_service_check_args(const struct fs_mount_args *a, char *why, size_t whycap)
{
	const char *mnt = a->mountpoint;
	char state[PATH_MAX];
	int rc;

	/* A state directory as the mount point: the mount point forgotten
	 * (`imgfs STATE`), or the arguments swapped (`imgfs MNT STATE`). */
	if (model_state_dir_like(mnt)) {
		bool src_dir = a->source && !a->source_is_url;
		if (!a->source && !a->state_named)
			snprintf(why, whycap, "%s is an imgfs state directory, not a mount point: "
			                      "imgfs [-o OPTIONS] %s MOUNTPOINT", mnt, mnt);
		else if (src_dir && !model_state_dir_like(a->source))
			snprintf(why, whycap, "the mount point %s is an imgfs state directory and the source %s is not: "
			                      "swapped? imgfs [-o OPTIONS] %s %s", mnt, a->source, mnt, a->source);
		else
			snprintf(why, whycap, "the mount point %s is an imgfs state directory: mount on an empty "
			                      "directory, imgfs [-o OPTIONS] %s MOUNTPOINT", mnt,
			         src_dir ? a->source : a->source ? "SOURCE" : "STATE");
		return -EINVAL;
	}
	/* The state directory must stay reachable, for the daemon too (it
	 * opens the state again once mounted) and for the admin. */
	if ((rc = resolve_partial(a->state, state, sizeof(state))) < 0) {
		snprintf(why, whycap, "state directory %s: %s", a->state, strerror(-rc));
		return rc;
	}
	if (path_within(mnt, state) || path_within(state, mnt)) {
		snprintf(why, whycap, "the mount point %s %s the state directory %s, which the mount would hide: "
		                      "imgfs [-o OPTIONS] %s MOUNTPOINT, with a mount point outside it",
		         mnt, strcmp(mnt, state) == 0 ? "is" : path_within(mnt, state) ? "lies inside" : "contains", state,
		         state);
		return -EINVAL;
	}
	if (!a->nonempty && has_entries(mnt)) {
		snprintf(why, whycap, "mount point %s is not empty (the mount would hide its files): use an empty "
		                      "directory, or -o nonempty to mount over them", mnt);
		return -ENOTEMPTY;
	}
	return 0;
}

/* ---- undoing a half-made state -------------------------------------------- */

int fs_service_missing_top(const char *path, char *out, size_t cap)
{
	char p[PATH_MAX], *slash;
	struct stat st;
	out[0] = '\0';
	if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	while (lstat(p, &st) < 0 && errno == ENOENT) {
		snprintf(out, cap, "%s", p);
		if (!(slash = strrchr(p, '/')) || slash == p)
			break;
		*slash = '\0';
	}
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void fs_service_remove_tree(const char *path)
{
	if (path && path[0])
		nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- background and readiness --------------------------------------------- */

int fs_service_daemonize(int *out_fd, const char *fail_msg)
{
	int p[2];
	char c;
	ssize_t n;
	*out_fd = -1;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid > 0) {
		/* The parent: its exit status says whether the mount answers.
		 * EOF (the child died or gave up, having said why on stderr) is 1. */
		close(p[1]);
		do
			n = read(p[0], &c, 1);
		while (n < 0 && errno == EINTR);
		if (n == 1 && c == 0)
			_exit(0);
		/* The daemon logged why; the operator who ran us sees a line. */
		if (fail_msg)
			fprintf(stderr, "imgfs: %s\n", fail_msg);
		_exit(1);
	}
	close(p[0]);
	if (setsid() < 0 || chdir("/") < 0) {
		close(p[1]);
		return -errno;
	}
	*out_fd = p[1];
	return 0;
}

void fs_service_close_inherited(const int *keep, int n)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int fds[256], nfds = 0;
	if (!d)
		return;
	/* Collected first: closing while reading the directory would change it.
	 * Only descriptors without FD_CLOEXEC: those are what came through
	 * exec; every one this process opened is close-on-exec (ours, libfuse's
	 * /dev/fuse, glibc's syslog socket, SQLite's and libpq's), and closing
	 * one a library holds would let its number be reused under it. */
	while ((e = readdir(d)) && nfds < (int)(sizeof(fds) / sizeof(fds[0]))) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		int fl;
		if (*end || end == e->d_name || fd < 3 || fd == dirfd(d) || (fl = fcntl((int)fd, F_GETFD)) < 0 ||
		    (fl & FD_CLOEXEC))
			continue;
		bool kept = false;
		for (int k = 0; k < n; k++)
			kept |= keep[k] == fd;
		if (!kept)
			fds[nfds++] = (int)fd;
	}
	closedir(d);
	for (int k = 0; k < nfds; k++)
		close(fds[k]);
}

struct service {
	struct fs_ctx *ctx;
	int ready_fd; /* the waiting parent's pipe, or -1 (foreground) */
	bool detach;  /* daemonized: stdio goes to /dev/null once ready */
	void (*on_ready)(struct fs_ctx *);
	pthread_t ready_thread, hup_thread;
	bool ready_started, hup_started;
};

/* The SIGHUP handler only posts a semaphore (async-signal-safe); the
 * thread waiting on it reopens the log.  A signal handler has no argument,
 * hence these file-scope statics (one service per process).  The handler
 * is installed when the mount starts (fs_service_catch_hup), before the
 * state is created: a SIGHUP then (logrotate's `pkill -HUP -x imgfs`) is
 * counted, and the thread started with the service handles it once the
 * log is open — until then SIGHUP's default action would end the process
 * with no line anywhere. */
static sem_t hup_sem;
static volatile sig_atomic_t hup_stop;

static void on_hup(int sig)
{
	(void)sig;
	sem_post(&hup_sem);
}

static void *hup_main(void *arg)
{
	struct service *s = arg;
	for (;;) {
		if (sem_wait(&hup_sem) < 0)
			continue; /* EINTR */
		if (hup_stop)
			break;
		fs_log_reopen();
		fs_log(s->ctx, "SIGHUP: log reopened");
	}
	return NULL;
}

static void *ready_main(void *arg)
{
	struct service *s = arg;
	struct statvfs sv;
	int rc;
	/* Returns once the kernel has the INIT reply: the mount answers. */
	while ((rc = statvfs(s->ctx->mountpoint, &sv)) < 0 && errno == EINTR)
		;
	if (rc < 0) {
		fs_log(s->ctx, "the mount does not answer: %s", strerror(errno));
		if (s->ready_fd >= 0)
			close(s->ready_fd);
		s->ready_fd = -1;
		return NULL;
	}
	if (s->on_ready)
		s->on_ready(s->ctx);
	fs_sd_notify("READY=1");
	if (s->detach) {
		int fd = open("/dev/null", O_RDWR | O_CLOEXEC), err;
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		/* IMGFS_STDERR=FILE keeps what goes to stderr after detaching
		 * (libraries' own lines; a sanitizer build's reports, which
		 * UBSan writes there whatever its log_path says): the tests'
		 * lib.sh sets it, so a daemon that dies of one says why. */
		const char *keep = getenv("IMGFS_STDERR");
		if (keep && keep[0] == '/' && (err = open(keep, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) >= 0) {
			dup2(err, 2);
			close(err);
		}
	}
	if (s->ready_fd >= 0) {
		char c = 0;
		if (write(s->ready_fd, &c, 1) < 0) {
			/* the parent is gone: nobody to tell */
		}
		close(s->ready_fd);
		s->ready_fd = -1;
	}
	return NULL;
}

void fs_service_catch_hup(void)
{
	struct sigaction sa = {.sa_handler = on_hup};
	/* A process-private semaphore of 0 cannot fail to initialize
	 * (sem_init(3): EINVAL is a value past SEM_VALUE_MAX, ENOSYS a
	 * shared one). */
	sem_init(&hup_sem, 0, 0);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGHUP, &sa, NULL);
}

struct service *fs_service_start(struct fs_ctx *ctx, int ready_fd, bool detach, void (*on_ready)(struct fs_ctx *))
{
	struct service *s = calloc(1, sizeof(*s));
	if (!s) {
		if (ready_fd >= 0)
			close(ready_fd);
		return NULL;
	}
	*s = (struct service){.ctx = ctx, .ready_fd = ready_fd, .detach = detach, .on_ready = on_ready};
	/* SIGHUP reopens the log (logrotate); libfuse's handler would unmount.
	 * The ones counted since fs_service_catch_hup are handled now, each
	 * as one that comes later is. */
	if (pthread_create(&s->hup_thread, NULL, hup_main, s) == 0)
		s->hup_started = true;
	if (pthread_create(&s->ready_thread, NULL, ready_main, s) == 0) {
		s->ready_started = true;
	} else if (s->ready_fd >= 0) {
		close(s->ready_fd);
		s->ready_fd = -1;
	}
	return s;
}

void fs_service_stopping(void)
{
	fs_sd_notify("STOPPING=1");
}

void fs_service_stop(struct service *s)
{
	if (!s)
		return;
	if (s->hup_started) {
		signal(SIGHUP, SIG_IGN);
		hup_stop = 1;
		sem_post(&hup_sem);
		pthread_join(s->hup_thread, NULL);
	}
	signal(SIGHUP, SIG_IGN);
	sem_destroy(&hup_sem);
	if (s->ready_started)
		pthread_join(s->ready_thread, NULL);
	if (s->ready_fd >= 0)
		close(s->ready_fd);
	free(s);
}
