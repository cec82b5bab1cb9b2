/*
 * inside_helper.c — the helper processes of files/ (SPEC §18): the
 * program found (`imgfs-inside-helper` beside the daemon or in libexec/,
 * else `imgfs inside-helper`), started with nothing but its socket, one
 * kept started ahead (the spare) so a volume's first request does not
 * wait for a start, at most INS_MAX_HELPERS at once (the least recently
 * used idle one ends for a new one), and a conversation with one: the
 * request, the block reads it asks for answered from the disk, its
 * answer, all under a deadline — a helper that misses it, dies or says
 * something malformed is ended and the request gets EIO with the reason.
 * The sandbox itself is the helper's (fs/inside/helper.c).
 *
 * A helper's stderr is a pipe of the daemon's (issue 47: it was /dev/null,
 * so a sanitizer's report inside one was never seen): what it writes is
 * read after each exchange and when it ends, and goes to the daemon's log
 * (escaped: the helper parses a tenant's bytes) and to the daemon's own
 * stderr (where a test collects sanitizer reports: IMGFS_STDERR), at most
 * INS_STDERR_MAX bytes a helper.
 *
 * Who calls it: inside.c (ask, disk_load, the room's making and end); its
 * state is the mount's room of files/ (struct fs_inside, inside_int.h:
 * reached from a volume's ctx), which it shares with inside.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dirs.h"
#include "imgfs_lock.h"
#include "inside_int.h"
#include "log.h"

#define INS_DEADLINE_MS 10000 /* for one answer (IMGFS_INSIDE_DEADLINE_MS) */
#define INS_STDERR_MAX 65536  /* of a helper's stderr logged (then a line says how much more went) */

/* The room of v's mount. */
static struct fs_inside *room_of(const struct ins_vol *v)
{
	return v->ctx->inside;
}

/* The realtime clock one deadline from now (for timed waits). */
struct timespec ins_wait_until(const struct fs_inside *in)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += in->deadline_ms / 1000;
	until.tv_nsec += (long)(in->deadline_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	return until;
}


/* ---- helpers ------------------------------------------------------------- */

/* What v's helper wrote on its stderr since the last look, into the log
 * (vol lock held, or v's helper gone). */
void ins_helper_stderr(struct ins_vol *v)
{
	char buf[4096], line[1024], esc[4200];
	ssize_t n;
	if (v->err_fd < 0)
		return;
	/* 64 KiB a look at most: a helper that writes without end does not
	 * hold the request that looks (the rest waits in the pipe, or goes). */
	for (int k = 0; k < 16 && (n = read(v->err_fd, buf, sizeof(buf))) > 0; k++) {
		size_t keep = v->err_logged >= INS_STDERR_MAX ? 0 : (size_t)n < INS_STDERR_MAX - v->err_logged
		                                                        ? (size_t)n
		                                                        : INS_STDERR_MAX - v->err_logged;
		v->err_dropped += (uint64_t)n - keep;
		v->err_logged += keep;
		/* The daemon's stderr too (/dev/null once detached, but for
		 * IMGFS_STDERR: where a test finds sanitizer reports). */
		if (keep && write(STDERR_FILENO, buf, keep) < 0) {
			/* nothing to do about a stderr that is gone */
		}
		for (size_t at = 0; at < keep;) {
			size_t len = strcspn(buf + at, "\n");
			if (len > keep - at)
				len = keep - at;
			size_t take = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
			memcpy(line, buf + at, take);
			line[take] = '\0';
			at += len + 1;
			if (!take || !v->ctx)
				continue;
			fs_escape(esc, sizeof(esc), line);
			fs_log(v->ctx, "inside helper of volume %u: %s", v->number, esc);
		}
	}
}

/* The end of v's stderr: the rest of it, and how much went unlogged. */
static void helper_stderr_close(struct ins_vol *v)
{
	if (v->err_fd < 0)
		return;
	ins_helper_stderr(v);
	if (v->err_dropped && v->ctx)
		fs_log(v->ctx, "inside helper of volume %u: %llu more bytes of its stderr not logged", v->number,
		       (unsigned long long)v->err_dropped);
	close(v->err_fd);
	v->err_fd = -1;
	v->err_logged = v->err_dropped = 0;
}

/* Ends v's helper (vol lock held): killed, reaped, its socket closed. */
void ins_helper_end(struct ins_vol *v, char *why, size_t cap)
{
	IMGFS_ASSERT_HELD(&v->lock);
	struct fs_inside *in = room_of(v);
	int status = 0;
	if (!v->pid)
		return;
	close(v->fd);
	/* How it ended, if it did on its own (a crash, a limit, a kill from
	 * outside), before ours. */
	pid_t r = waitpid(v->pid, &status, WNOHANG);
	if (r == 0) {
		kill(v->pid, SIGKILL);
		while (waitpid(v->pid, &status, 0) < 0 && errno == EINTR)
			;
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
			status = 0; /* ours */
	}
	if (why && WIFSIGNALED(status)) {
		size_t len = strlen(why);
		snprintf(why + len, cap - len, " (the helper died of signal %d%s)", WTERMSIG(status),
		         WTERMSIG(status) == SIGXCPU ? ": its CPU limit" : WTERMSIG(status) == SIGSYS ? ": a forbidden system call" : "");
	} else if (why && WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		size_t len = strlen(why);
		snprintf(why + len, cap - len, " (the helper exited with status %d)", WEXITSTATUS(status));
	}
	v->pid = 0;
	v->fd = -1;
	helper_stderr_close(v); /* (reaped: all it wrote is in the pipe) */
	IMGFS_LOCK(&v->sc_lock, ins_vol_sc_lock);
	free(v->sc);
	v->sc = NULL;
	IMGFS_UNLOCK(&v->sc_lock, ins_vol_sc_lock);
	IMGFS_LOCK(&in->table_lock, ins_table_lock);
	in->helpers_running--;
	pthread_cond_broadcast(&in->room_cond);
	IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
}

/* Whether v needs a helper started (vol lock held): none yet, or one that
 * ended while idle (a kill from outside, the OOM killer), which is reaped
 * here, its end said in why for the caller's log line and replaced by the
 * caller: an end between two requests says nothing of the volume, while
 * asking the dead one would (issue 70: an inspection took its "helper
 * failed" for a verdict and stored "not read" over the image's good
 * inspection).  WNOWAIT: the end is reaped once, by ins_helper_end, which
 * tells how it ended. */
bool ins_helper_needed(struct ins_vol *v, char *why, size_t cap)
{
	IMGFS_ASSERT_HELD(&v->lock);
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	why[0] = '\0';
	if (!v->pid)
		return true;
	if (waitid(P_PID, (id_t)v->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
		return false; /* (at work or idle: alive) */
	snprintf(why, cap, "its helper ended while idle");
	ins_helper_end(v, why, cap);
	return true;
}

/* The attributes of guest inode ino, if the helper told them. */
bool ins_sc_get(struct ins_vol *v, uint32_t ino, struct ins_stat *out)
{
	bool hit = false;
	IMGFS_LOCK(&v->sc_lock, ins_vol_sc_lock);
	if (v->sc && v->sc[ino % INS_STAT_SLOTS].ino == ino) {
		*out = v->sc[ino % INS_STAT_SLOTS];
		hit = true;
	}
	IMGFS_UNLOCK(&v->sc_lock, ins_vol_sc_lock);
	if (hit)
		COUNT(room_of(v)->n_stat_hits, 1);
	return hit;
}

/* Keeps st (checked: ins_stat_valid) while v has a helper. */
void ins_sc_put(struct ins_vol *v, const struct ins_stat *st)
{
	IMGFS_LOCK(&v->sc_lock, ins_vol_sc_lock);
	if (v->pid && !v->sc)
		v->sc = calloc(INS_STAT_SLOTS, sizeof(*v->sc));
	if (v->sc)
		v->sc[st->ino % INS_STAT_SLOTS] = *st;
	IMGFS_UNLOCK(&v->sc_lock, ins_vol_sc_lock);
}

/* The idle spare leaves the room (table_lock held): its descriptors
 * closed, its pid for the caller to end (spare_reap, out of the lock); its
 * place in helpers_running is the caller's to keep or give back. */
static pid_t spare_detach_locked(struct fs_inside *in)
{
	IMGFS_ASSERT_HELD(&in->table_lock);
	pid_t pid = in->spare.pid;
	close(in->spare.fd);
	close(in->spare.err_fd);
	in->spare.pid = 0;
	in->spare.fd = in->spare.err_fd = -1;
	return pid;
}

static void spare_reap(pid_t pid)
{
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Makes room for one more helper: the spare or the least recently used
 * idle one ends; when all 16 are at work, waits for one to be idle (each
 * answers within its deadline), and only past a deadline of waiting runs
 * one over the bound, which ends once its answer is in (ask). */
static void helper_room(const struct ins_vol *self)
{
	struct fs_inside *in = room_of(self);
	struct timespec until = ins_wait_until(in);
	bool waited = false;
	for (;;) {
		struct ins_vol *oldest = NULL;
		IMGFS_LOCK(&in->table_lock, ins_table_lock);
		if (in->helpers_running < INS_MAX_HELPERS) {
			if (++in->helpers_running > in->helpers_peak)
				in->helpers_peak = in->helpers_running;
			IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
			return;
		}
		if (in->spare.pid > 0) {
			/* The idle spare goes first; its place is the new one's. */
			pid_t pid = spare_detach_locked(in);
			IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
			spare_reap(pid);
			return;
		}
		for (int i = 0; i < INS_DISKS; i++)
			for (unsigned j = 0; in->disks[i].blob_id > 0 && j < in->disks[i].nvols; j++) {
				struct ins_vol *v = &in->disks[i].vols[j];
				if (v != self && v->pid && (!oldest || v->used < oldest->used))
					oldest = v;
			}
		if (!oldest || IMGFS_TRYLOCK(&oldest->lock, ins_vol_lock) != 0) {
			if (!waited) {
				/* All at work: wait for a conversation or a helper
				 * to end, then look again. */
				waited = IMGFS_COND_TIMEDWAIT(&in->room_cond, &in->table_lock, &until, ins_table_lock) == ETIMEDOUT;
				IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
				continue;
			}
			/* A deadline of waiting: run one over the bound. */
			if (++in->helpers_running > in->helpers_peak)
				in->helpers_peak = in->helpers_running;
			IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
			return;
		}
		IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
		ins_helper_end(oldest, NULL, 0);
		IMGFS_UNLOCK(&oldest->lock, ins_vol_lock);
	}
}

static int send_all(int fd, const void *p, size_t len)
{
	const char *c = p;
	while (len) {
		ssize_t n = send(fd, c, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

#define INS_STOP_LOOK_MS 100 /* how often a wait for a helper looks whether the mount stops */

/* Reads len bytes before the deadline (monotonic ns): 0, -ETIMEDOUT,
 * -EPIPE, or -ECANCELED once the mount stops (in->stopping, looked at
 * every INS_STOP_LOOK_MS: an unmount does not wait out a helper's
 * deadline, issue 70). */
static int recv_all(struct fs_inside *in, int fd, void *p, size_t len, int64_t deadline)
{
	char *c = p;
	while (len) {
		int64_t left = (deadline - fs_mono_ns()) / 1000000;
		if (left <= 0)
			return -ETIMEDOUT;
		if (atomic_load(&in->stopping))
			return -ECANCELED;
		struct pollfd pfd = {fd, POLLIN, 0};
		int r = poll(&pfd, 1, (int)(left > INS_STOP_LOOK_MS ? INS_STOP_LOOK_MS : left));
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			continue;
		ssize_t n = recv(fd, c, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The helper's program, found when the room is made: imgfs-inside-helper
 * beside the daemon's binary (a build tree), else in ../libexec/ of it
 * (installed, wherever the prefix), else the daemon's own binary as `imgfs
 * inside-helper` (the same code, slower to start: helper_main.c). */
static void helper_find(char helper_exe[PATH_MAX], bool *helper_own)
{
	char self[PATH_MAX - 64];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0)
		self[n] = '\0';
	char *slash = n > 0 ? memrchr(self, '/', (size_t)n) : NULL;
	if (slash) {
		*slash = '\0';
		snprintf(helper_exe, PATH_MAX, "%s/imgfs-inside-helper", self);
		if (access(helper_exe, X_OK) == 0)
			return;
		snprintf(helper_exe, PATH_MAX, "%s/../libexec/imgfs-inside-helper", self);
		if (access(helper_exe, X_OK) == 0)
			return;
	}
	/* Only imgfs itself answers `inside-helper`: any other program that
	 * links this file (a unit test) would run its own main() again. */
	if (slash && strcmp(slash + 1, "imgfs") == 0) {
		snprintf(helper_exe, PATH_MAX, "/proc/self/exe");
		*helper_own = true;
	} else {
		helper_exe[0] = '\0';
	}
}

/* Starts a helper: its pid, the daemon's end of its socket and the read
 * end of its stderr (non-blocking).  0 or -EIO with why. */
static int helper_spawn(struct fs_inside *in, pid_t *out_pid, int *out_fd, int *out_err, char *why, size_t cap)
{
	int sv[2], ep[2];
	pid_t pid;
	posix_spawn_file_actions_t fa;
	char *argv[] = {"imgfs-inside-helper", NULL, NULL};
	char *envp[] = {NULL};
	if (in->helper_own) {
		argv[0] = "imgfs";
		argv[1] = "inside-helper";
	}
	if (!in->helper_exe[0]) {
		snprintf(why, cap, "the helper program imgfs-inside-helper is not beside the daemon nor in ../libexec/");
		return -EIO;
	}
	if (pipe2(ep, O_CLOEXEC) < 0) {
		snprintf(why, cap, "cannot make the helper's stderr: %s", strerror(errno));
		return -EIO;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(why, cap, "cannot make the helper's socket: %s", strerror(errno));
		close(ep[0]);
		close(ep[1]);
		return -EIO;
	}
	fcntl(ep[0], F_SETFL, O_NONBLOCK); /* (read after each exchange: never waited for) */
	/* Its end becomes fd 3; every other descriptor of the daemon (the
	 * FUSE device, the database) is closed before it runs. */
	int child = sv[1] == 3 ? fcntl(sv[1], F_DUPFD_CLOEXEC, 4) : sv[1];
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
	posix_spawn_file_actions_adddup2(&fa, child, 3);
	posix_spawn_file_actions_addclosefrom_np(&fa, 4);
	int rc = child < 0 ? errno : posix_spawn(&pid, in->helper_exe, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (child != sv[1] && child >= 0)
		close(child);
	close(sv[1]);
	close(ep[1]);
	if (rc != 0) {
		close(sv[0]);
		close(ep[0]);
		snprintf(why, cap, "cannot start the helper: %s", strerror(rc));
		return -EIO;
	}
	COUNT(in->n_starts, 1);
	*out_pid = pid;
	*out_fd = sv[0];
	*out_err = ep[0];
	return 0;
}

/* The spare, if one is ready and alive, becomes v's helper (already
 * counted in helpers_running). */
static bool spare_take(struct ins_vol *v)
{
	struct fs_inside *in = room_of(v);
	IMGFS_LOCK(&in->table_lock, ins_table_lock);
	pid_t pid = in->spare.pid > 0 ? in->spare.pid : 0;
	int fd = in->spare.fd, err_fd = in->spare.err_fd;
	if (pid) {
		in->spare.pid = 0;
		in->spare.fd = in->spare.err_fd = -1;
	}
	IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
	if (!pid)
		return false;
	v->err_fd = err_fd; /* what it said, said either way */
	if (waitpid(pid, NULL, WNOHANG) != 0) {
		/* It ended while it waited (a kill from outside): not used. */
		helper_stderr_close(v);
		close(fd);
		IMGFS_LOCK(&in->table_lock, ins_table_lock);
		in->helpers_running--;
		IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
		return false;
	}
	COUNT(in->n_spare_taken, 1);
	v->pid = pid;
	v->fd = fd;
	return true;
}

/* Starts the spare if there is none and the bound leaves room: at mount,
 * and after a request that took it, once its answer is in (so the start
 * of the next one never delays the request that used this one). */
void ins_spare_fill(struct fs_inside *in)
{
	char why[160];
	pid_t pid;
	int fd, err_fd;
	IMGFS_LOCK(&in->table_lock, ins_table_lock);
	if (in->spare.pid != 0 || in->spare_stop || in->helpers_running >= INS_MAX_HELPERS) {
		IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
		return;
	}
	in->spare.pid = -1;
	if (++in->helpers_running > in->helpers_peak)
		in->helpers_peak = in->helpers_running;
	IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
	int rc = helper_spawn(in, &pid, &fd, &err_fd, why, sizeof(why));
	IMGFS_LOCK(&in->table_lock, ins_table_lock);
	if (rc == 0) {
		in->spare.pid = pid;
		in->spare.fd = fd;
		in->spare.err_fd = err_fd;
	} else {
		in->spare.pid = 0;
		in->helpers_running--;
	}
	IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
}

void fs_inside_spare_fill(struct fs_ctx *ctx)
{
	ins_spare_fill(ctx->inside);
}

/* A spare taken is replaced by the room's thread, not by the request that
 * took it: the new process's start (posix_spawn waits for its exec) stays
 * out of that request's answer.  It runs until fs_inside_free stops it. */
static void *spare_main(void *arg)
{
	struct fs_inside *in = arg;
	IMGFS_LOCK(&in->table_lock, ins_table_lock);
	for (;;) {
		while (!in->spare_wanted && !in->spare_stop)
			IMGFS_COND_WAIT(&in->spare_cond, &in->table_lock, ins_table_lock);
		if (in->spare_stop)
			break;
		in->spare_wanted = false;
		IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
		ins_spare_fill(in);
		IMGFS_LOCK(&in->table_lock, ins_table_lock);
	}
	IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
	return NULL;
}

void ins_spare_request(struct fs_inside *in)
{
	IMGFS_LOCK(&in->table_lock, ins_table_lock);
	if (!in->spare_thread && !in->spare_thread_failed && !in->spare_stop) {
		/* Started at the first request for a spare: a room that never
		 * serves files/ (a unit test's, `imgfs admin`'s) runs no thread. */
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 256 << 10);
		in->spare_thread = pthread_create(&in->spare_tid, &attr, spare_main, in) == 0;
		in->spare_thread_failed = !in->spare_thread;
		pthread_attr_destroy(&attr);
	}
	bool thread = in->spare_thread;
	if (thread) {
		in->spare_wanted = true;
		pthread_cond_signal(&in->spare_cond);
	}
	IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
	if (!thread)
		ins_spare_fill(in); /* no thread: in the request, as a last resort */
}

void ins_helpers_init(struct fs_inside *in)
{
	const char *e = getenv("IMGFS_INSIDE_DEADLINE_MS");
	long v = e ? strtol(e, NULL, 10) : 0;
	in->deadline_ms = v >= 100 && v <= 600000 ? (int)v : INS_DEADLINE_MS;
	in->spare.pid = 0;
	in->spare.fd = in->spare.err_fd = -1;
	helper_find(in->helper_exe, &in->helper_own);
}

void fs_inside_stopping(struct fs_ctx *ctx)
{
	if (ctx->inside)
		atomic_store(&ctx->inside->stopping, true);
}

void ins_helpers_stop(struct fs_inside *in)
{
	IMGFS_LOCK(&in->table_lock, ins_table_lock);
	in->spare_stop = true; /* no spare started from now on */
	pthread_cond_signal(&in->spare_cond);
	bool thread = in->spare_thread;
	IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
	if (thread)
		pthread_join(in->spare_tid, NULL); /* (a start under way ends first) */
	IMGFS_LOCK(&in->table_lock, ins_table_lock);
	in->spare_thread = false;
	pid_t pid = 0;
	if (in->spare.pid > 0) {
		pid = spare_detach_locked(in);
		in->helpers_running--;
	}
	IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
	if (pid)
		spare_reap(pid);
}

int ins_helper_start(struct ins_vol *v, char *why, size_t cap)
{
	struct fs_inside *in = room_of(v);
	if (spare_take(v))
		return 0;
	helper_room(v);
	if (helper_spawn(in, &v->pid, &v->fd, &v->err_fd, why, cap) == 0)
		return 0;
	v->pid = 0;
	v->fd = -1;
	IMGFS_LOCK(&in->table_lock, ins_table_lock);
	in->helpers_running--;
	IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
	return -EIO;
}

ssize_t ins_blob_rd(void *arg, void *buf, size_t len, uint64_t off)
{
	struct ins_disk *d = arg;
	uint32_t bad = 0;
	ssize_t n = blob_store_read_judged(d->store, d->man, buf, len, off, &bad);
	if (n == -EUCLEAN) {
		__atomic_store_n(&d->damaged_chunk, bad, __ATOMIC_RELAXED);
		COUNT(d->damaged, 1);
	}
	return n;
}

void ins_damaged_why(struct ins_disk *d, char *why, size_t cap)
{
	uint64_t i = __atomic_load_n(&d->damaged_chunk, __ATOMIC_RELAXED), end = (i + 1) << BLOB_CHUNK_SHIFT;
	if (end > d->man->size) /* (the blob's last chunk: to its end) */
		end = d->man->size;
	snprintf(why, cap, "chunk %" PRIu64 " of the disk's blob (bytes %" PRIu64 " to %" PRIu64 ") is damaged in the "
	         "store (its bytes are not the chunk)", i, i << BLOB_CHUNK_SHIFT, end - 1);
}

/* len bytes of the disk at off: the blob's, or a QCOW2's virtual disk's
 * through qr (one reader per thread of use).  0 or -errno. */
int ins_disk_read(struct ins_disk *d, qcow2_reader *qr, void *buf, size_t len, uint64_t off)
{
	ssize_t n = d->qcow2 ? qcow2_pread(qr, buf, len, off, NULL) : ins_blob_rd(d, buf, len, off);
	return n < 0 ? (int)n : (size_t)n != len ? -EIO : 0;
}

/* len bytes of volume v at off: the disk's at the volume's start, or
 * through the runs of a logical volume (inside_lvm.c found them). */
int ins_vol_read(struct ins_disk *d, qcow2_reader *qr, const struct ins_vol *v, void *buf, size_t len, uint64_t off)
{
	if (!v->nsegs)
		return ins_disk_read(d, qr, buf, len, v->start + off);
	/* A logical volume: each piece through the run that holds it. */
	while (len) {
		const struct ins_seg *s = NULL;
		for (unsigned i = 0; i < v->nsegs && !s; i++)
			if (off >= v->segs[i].lv_off && off - v->segs[i].lv_off < v->segs[i].len)
				s = &v->segs[i];
		if (!s)
			return -EIO; /* past the volume's end: the caller bounds reads by its size */
		uint64_t in = off - s->lv_off, n = s->len - in < len ? s->len - in : len;
		int rc = ins_disk_read(d, qr, buf, (size_t)n, s->disk_off + in);
		if (rc < 0)
			return rc;
		buf = (char *)buf + n, off += n, len -= (size_t)n;
	}
	return 0;
}

/* One exchange with v's helper (vol lock held): the request, the block
 * reads it asks for, its answer (malloc'd into *ans, *alen bytes).  0, the
 * helper's errno (-ENOENT...) with its reason in why, or -EIO with why
 * saying what went wrong and the helper ended. */
int ins_converse(struct ins_disk *d, struct ins_vol *v, uint32_t type, const void *req, size_t rlen, void **ans,
                 size_t *alen, char *why, size_t cap)
{
	IMGFS_ASSERT_HELD(&v->lock);
	struct fs_inside *in = room_of(v);
	int64_t deadline = fs_mono_ns() + (int64_t)in->deadline_ms * 1000000;
	struct ins_msg h = {type, (uint32_t)rlen};
	char *buf = NULL;
	int rc;
	*ans = NULL;
	*alen = 0;
	COUNT(in->n_exchanges, 1);
	if (send_all(v->fd, &h, sizeof(h)) < 0 || (rlen && send_all(v->fd, req, rlen) < 0)) {
		snprintf(why, cap, "the helper is gone");
		goto broken;
	}
	for (;;) {
		if ((rc = recv_all(in, v->fd, &h, sizeof(h), deadline)) < 0)
			goto lost;
		if (h.len > INS_MAX_PAYLOAD) {
			snprintf(why, cap, "the helper sent %" PRIu32 " bytes, past the bound", h.len);
			goto broken;
		}
		free(buf);
		if (!(buf = malloc(h.len ? h.len : 1))) {
			snprintf(why, cap, "out of memory");
			goto broken;
		}
		if (h.len && (rc = recv_all(in, v->fd, buf, h.len, deadline)) < 0)
			goto lost;
		if (h.type == INS_H_READ || h.type == INS_H_READV) {
			/* A read, or several in one (a page's inodes' blocks,
			 * INS_H_READV): each inside the volume; a READ past its end
			 * reads nothing there. */
			struct ins_req_blk r;
			unsigned np = h.len / sizeof(r);
			uint64_t total;
			if (ins_reads_check(h.type, buf, h.len, v->size, &total, why, cap) < 0)
				goto broken;
			char *data = total ? malloc(total) : NULL;
			if (total && !data) {
				snprintf(why, cap, "out of memory");
				goto broken;
			}
			char qwhy[160] = "";
			if (d->qcow2 && !v->qr && qcow2_reader_new(&v->qr, ins_blob_rd, d, d->man->size, qwhy,
			                                           sizeof(qwhy)) < 0)
				v->qr = NULL;
			uint64_t at = 0;
			int got = 0;
			for (unsigned i = 0; got == 0 && i < np; i++) {
				memcpy(&r, buf + i * sizeof(r), sizeof(r));
				uint64_t n = ins_read_clip(&r, v->size);
				got = n ? (d->qcow2 && !v->qr ? -EIO : ins_vol_read(d, v->qr, v, data + at, n, r.off)) : 0;
				at += n;
				COUNT(in->n_block_reads, 1);
				COUNT(in->n_block_bytes, n);
			}
			if (got < 0) {
				free(data);
				if (got == -EUCLEAN) { /* damaged is a verdict: said */
					ins_damaged_why(d, why, cap);
				} else { /* the rest could not tell */
					COUNT(d->unanswered, 1);
					snprintf(why, cap, "the image's chunks cannot be read (%s)", strerror(-got));
				}
				goto broken;
			}
			struct ins_msg out = {INS_T_DATA, (uint32_t)total};
			int w = send_all(v->fd, &out, sizeof(out)) < 0 || (total && send_all(v->fd, data, total) < 0);
			free(data);
			if (w) {
				snprintf(why, cap, "the helper is gone");
				goto broken;
			}
			continue;
		}
		if (h.type == INS_H_OK) {
			*ans = buf;
			*alen = h.len;
			ins_helper_stderr(v);
			return 0;
		}
		if (h.type == INS_H_ERR && h.len >= sizeof(int32_t)) {
			int32_t e;
			memcpy(&e, buf, sizeof(e));
			size_t wl = h.len - sizeof(e) < cap - 1 ? h.len - sizeof(e) : cap - 1;
			memcpy(why, buf + sizeof(e), wl);
			why[wl] = '\0';
			free(buf);
			/* Only what a guest file system may answer; anything else
			 * is EIO. */
			return e == ENOENT || e == ENOTDIR || e == EINVAL || e == ENOMEM ? -e : -EIO;
		}
		snprintf(why, cap, "the helper sent a message of unknown type %" PRIu32, h.type);
		goto broken;
	}
lost:
	if (rc == -ETIMEDOUT)
		snprintf(why, cap, "the helper did not answer within %d ms", in->deadline_ms);
	else if (rc == -ECANCELED)
		snprintf(why, cap, "the mount is stopping: the helper was ended before it answered");
	else
		snprintf(why, cap, "the helper ended before it answered");
broken:
	free(buf);
	ins_helper_end(v, why, cap);
	return -EIO;
}
