/*
 * inside.c — files/: the guest's own files of every image, read-only
 * (SPEC §18).
 *
 * The daemon parses only the partition table (fs/inside/ptable.c, a
 * bounded parser of its own, fuzzed) and looks for a file system's magic
 * number.  Everything of a guest file system is parsed by a helper process
 * per volume (`imgfs inside-helper`, fs/inside/helper.c): nobody, no files,
 * a seccomp filter, CPU and memory limits.  The request thread that needs
 * an answer sends the helper its question and serves the block reads the
 * helper asks for from the blob (the same verified chunk reads as a read of
 * disks/<dev>) until the answer comes, all under a deadline: a helper that
 * does not answer in time, dies, or says something malformed is killed and
 * the request gets EIO, with the reason in the log; other requests, other
 * volumes and the next request of this one (a new helper) go on.
 *
 * Sealed blobs never change, so what is known of a disk (its manifest,
 * its partitions, its helpers) is kept per blob in a small table, the
 * least recently used entry dropped for a new one; at most
 * INS_MAX_HELPERS helpers run at once, the least recently used idle one
 * ending for a new one.
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

#include "attr.h"
#include "buf.h"
#include "dirs.h"
#include "fs.h"
#include "ins_fs.h"
#include "ins_ptable.h"
#include "log.h"
#include "qcow2.h"

#ifndef INS_DISKS /* (smaller in a build that exercises eviction) */
#define INS_DISKS 16         /* disks (blobs) known at once */
#endif
#ifndef INS_MAX_HELPERS
#define INS_MAX_HELPERS 16   /* helpers running at once */
#endif
#define INS_DEADLINE_MS 10000 /* for one answer (IMGFS_INSIDE_DEADLINE_MS) */
#define INS_LIST_PAGE 256    /* entries asked for at a time */
#define ROOT_INO 0 /* asks a helper for its root directory, whatever its number */

enum vol_fs { VOL_NONE = 0, VOL_READ, VOL_OTHER };

struct ins_vol {
	unsigned number;      /* 0: the whole disk */
	uint64_t start, size;
	enum vol_fs fs;
	uint32_t kind;        /* VOL_READ: which file system (INS_FS_*, its reader) */
	char note[160];       /* VOL_OTHER: what it holds, for README */
	pthread_mutex_t lock; /* one conversation at a time */
	pid_t pid;            /* 0: no helper */
	int fd;
	bool open_failed;     /* the file system could not be opened (sealed: for good) */
	char failure[200];
	uint64_t used;        /* the clock at its last request (LRU) */
	qcow2_reader *qr;     /* a QCOW2 disk's reader for this volume (vol lock) */
	/* Attributes the helper told (listings, lookups, stats), by guest
	 * inode number, direct-mapped: a blob never changes, so they never go
	 * stale, and an open or a getattr of a file just listed costs no
	 * round trip.  Kept while the volume has a helper (bounded with them:
	 * INS_STAT_SLOTS * 64 bytes each), under sc_lock, not the volume's
	 * lock (which a conversation holds). */
	pthread_mutex_t sc_lock;
	struct ins_stat *sc;
	uint32_t root;        /* the root directory's guest number, once told (atomic; 0: not yet) */
};

struct ins_disk {
	int64_t blob_id;      /* 0: a free slot */
	unsigned refs;        /* requests using it (not dropped while > 0) */
	uint64_t used;
	blob_store *store;
	blob_manifest *man;
	bool qcow2;           /* the blob is a QCOW2 file: volumes are in its virtual disk */
	uint64_t size;        /* of the (virtual) disk */
	struct pt_table pt;
	char note[200];       /* why the disk shows nothing (unreadable, no key) */
	unsigned nvols;
	struct ins_vol vols[PT_MAX_PARTS];
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ins_disk disks[INS_DISKS];
static uint64_t clock_ticks;
static unsigned helpers_running; /* the spare included (table_lock) */
static unsigned helpers_peak;
/* One helper started ahead, sandboxed and waiting for its first request:
 * a volume's first request takes it rather than waiting for a start
 * (spare_take, spare_fill).  spare_pid -1: one is being started. */
static pid_t spare_pid;
/* Signalled (table_lock) when a disk's reference, a helper or a volume's
 * conversation ends: a request waiting for a disk slot or a helper's room
 * looks again (disk_get, helper_room), within its deadline. */
static pthread_cond_t room_cond = PTHREAD_COND_INITIALIZER;
static int spare_fd = -1;
/* What /stats shows of files/ (fs_inside_stats): what speed rests on,
 * counted. */
static uint64_t n_starts, n_exchanges, n_block_reads, n_block_bytes, n_spare_taken, n_stat_hits;
#define INS_STAT_SLOTS 1024
#define COUNT(c, n) __atomic_add_fetch(&(c), (n), __ATOMIC_RELAXED)

static int deadline_ms(void)
{
	static int ms;
	if (!ms) {
		const char *e = getenv("IMGFS_INSIDE_DEADLINE_MS");
		long v = e ? strtol(e, NULL, 10) : 0;
		ms = v >= 100 && v <= 600000 ? (int)v : INS_DEADLINE_MS;
	}
	return ms;
}

/* The realtime clock one deadline from now (for timed waits). */
static struct timespec wait_until(void)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += deadline_ms() / 1000;
	until.tv_nsec += (long)(deadline_ms() % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	return until;
}

/* ---- helpers ------------------------------------------------------------- */

/* Ends v's helper (vol lock held): killed, reaped, its socket closed. */
static void helper_end(struct ins_vol *v, char *why, size_t cap)
{
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
	pthread_mutex_lock(&v->sc_lock);
	free(v->sc);
	v->sc = NULL;
	pthread_mutex_unlock(&v->sc_lock);
	pthread_mutex_lock(&table_lock);
	helpers_running--;
	pthread_cond_broadcast(&room_cond);
	pthread_mutex_unlock(&table_lock);
}

/* The attributes of guest inode ino, if the helper told them. */
static bool sc_get(struct ins_vol *v, uint32_t ino, struct ins_stat *out)
{
	bool hit = false;
	pthread_mutex_lock(&v->sc_lock);
	if (v->sc && v->sc[ino % INS_STAT_SLOTS].ino == ino) {
		*out = v->sc[ino % INS_STAT_SLOTS];
		hit = true;
	}
	pthread_mutex_unlock(&v->sc_lock);
	if (hit)
		COUNT(n_stat_hits, 1);
	return hit;
}

/* Keeps st (checked: ins_stat_valid) while v has a helper. */
static void sc_put(struct ins_vol *v, const struct ins_stat *st)
{
	pthread_mutex_lock(&v->sc_lock);
	if (v->pid && !v->sc)
		v->sc = calloc(INS_STAT_SLOTS, sizeof(*v->sc));
	if (v->sc)
		v->sc[st->ino % INS_STAT_SLOTS] = *st;
	pthread_mutex_unlock(&v->sc_lock);
}

/* Makes room for one more helper: the spare or the least recently used
 * idle one ends; when all 16 are at work, waits for one to be idle (each
 * answers within its deadline), and only past a deadline of waiting runs
 * one over the bound, which ends once its answer is in (ask). */
static void helper_room(const struct ins_vol *self)
{
	struct timespec until = wait_until();
	bool waited = false;
	for (;;) {
		struct ins_vol *oldest = NULL;
		pthread_mutex_lock(&table_lock);
		if (helpers_running < INS_MAX_HELPERS) {
			if (++helpers_running > helpers_peak)
				helpers_peak = helpers_running;
			pthread_mutex_unlock(&table_lock);
			return;
		}
		if (spare_pid > 0) {
			/* The idle spare goes first; its place is the new one's. */
			pid_t pid = spare_pid;
			close(spare_fd);
			spare_pid = 0;
			spare_fd = -1;
			pthread_mutex_unlock(&table_lock);
			kill(pid, SIGKILL);
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
			return;
		}
		for (int i = 0; i < INS_DISKS; i++)
			for (unsigned j = 0; disks[i].blob_id > 0 && j < disks[i].nvols; j++) {
				struct ins_vol *v = &disks[i].vols[j];
				if (v != self && v->pid && (!oldest || v->used < oldest->used))
					oldest = v;
			}
		if (!oldest || pthread_mutex_trylock(&oldest->lock) != 0) {
			if (!waited) {
				/* All at work: wait for a conversation or a helper
				 * to end, then look again. */
				waited = pthread_cond_timedwait(&room_cond, &table_lock, &until) == ETIMEDOUT;
				pthread_mutex_unlock(&table_lock);
				continue;
			}
			/* A deadline of waiting: run one over the bound. */
			if (++helpers_running > helpers_peak)
				helpers_peak = helpers_running;
			pthread_mutex_unlock(&table_lock);
			return;
		}
		pthread_mutex_unlock(&table_lock);
		helper_end(oldest, NULL, 0);
		pthread_mutex_unlock(&oldest->lock);
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

/* Reads len bytes before the deadline (monotonic ns): 0, -ETIMEDOUT, -EPIPE. */
static int recv_all(int fd, void *p, size_t len, int64_t deadline)
{
	char *c = p;
	while (len) {
		int64_t left = (deadline - fs_mono_ns()) / 1000000;
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd pfd = {fd, POLLIN, 0};
		int r = poll(&pfd, 1, (int)(left > 1000000 ? 1000000 : left));
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

/* The helper's program, found once: imgfs-inside-helper beside the
 * daemon's binary (a build tree), else in ../libexec/ of it (installed,
 * wherever the prefix), else the daemon's own binary as `imgfs
 * inside-helper` (the same code, slower to start: helper_main.c). */
static pthread_once_t helper_once = PTHREAD_ONCE_INIT;
static char helper_exe[PATH_MAX];
static bool helper_own; /* helper_exe is imgfs itself */

static void helper_find(void)
{
	char self[PATH_MAX - 64];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0)
		self[n] = '\0';
	char *slash = n > 0 ? memrchr(self, '/', (size_t)n) : NULL;
	if (slash) {
		*slash = '\0';
		snprintf(helper_exe, sizeof(helper_exe), "%s/imgfs-inside-helper", self);
		if (access(helper_exe, X_OK) == 0)
			return;
		snprintf(helper_exe, sizeof(helper_exe), "%s/../libexec/imgfs-inside-helper", self);
		if (access(helper_exe, X_OK) == 0)
			return;
	}
	/* Only imgfs itself answers `inside-helper`: any other program that
	 * links this file (a unit test) would run its own main() again. */
	if (slash && strcmp(slash + 1, "imgfs") == 0) {
		snprintf(helper_exe, sizeof(helper_exe), "/proc/self/exe");
		helper_own = true;
	} else {
		helper_exe[0] = '\0';
	}
}

/* Starts a helper: its pid and the daemon's end of its socket.  0 or
 * -EIO with why. */
static int helper_spawn(pid_t *out_pid, int *out_fd, char *why, size_t cap)
{
	int sv[2];
	pid_t pid;
	posix_spawn_file_actions_t fa;
	char *argv[] = {"imgfs-inside-helper", NULL, NULL};
	char *envp[] = {NULL};
	pthread_once(&helper_once, helper_find);
	if (helper_own) {
		argv[0] = "imgfs";
		argv[1] = "inside-helper";
	}
	if (!helper_exe[0]) {
		snprintf(why, cap, "the helper program imgfs-inside-helper is not beside the daemon nor in ../libexec/");
		return -EIO;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(why, cap, "cannot make the helper's socket: %s", strerror(errno));
		return -EIO;
	}
	/* Its end becomes fd 3; every other descriptor of the daemon (the
	 * FUSE device, the database) is closed before it runs. */
	int child = sv[1] == 3 ? fcntl(sv[1], F_DUPFD_CLOEXEC, 4) : sv[1];
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, child, 3);
	posix_spawn_file_actions_addclosefrom_np(&fa, 4);
	int rc = child < 0 ? errno : posix_spawn(&pid, helper_exe, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (child != sv[1] && child >= 0)
		close(child);
	close(sv[1]);
	if (rc != 0) {
		close(sv[0]);
		snprintf(why, cap, "cannot start the helper: %s", strerror(rc));
		return -EIO;
	}
	COUNT(n_starts, 1);
	*out_pid = pid;
	*out_fd = sv[0];
	return 0;
}

/* The spare, if one is ready and alive, becomes v's helper (already
 * counted in helpers_running). */
static bool spare_take(struct ins_vol *v)
{
	pthread_mutex_lock(&table_lock);
	pid_t pid = spare_pid > 0 ? spare_pid : 0;
	int fd = spare_fd;
	if (pid) {
		spare_pid = 0;
		spare_fd = -1;
	}
	pthread_mutex_unlock(&table_lock);
	if (!pid)
		return false;
	if (waitpid(pid, NULL, WNOHANG) != 0) {
		/* It ended while it waited (a kill from outside): not used. */
		close(fd);
		pthread_mutex_lock(&table_lock);
		helpers_running--;
		pthread_mutex_unlock(&table_lock);
		return false;
	}
	COUNT(n_spare_taken, 1);
	v->pid = pid;
	v->fd = fd;
	return true;
}

/* Starts the spare if there is none and the bound leaves room: at mount,
 * and after a request that took it, once its answer is in (so the start
 * of the next one never delays the request that used this one). */
void fs_inside_spare_fill(void)
{
	char why[160];
	pid_t pid;
	int fd;
	pthread_mutex_lock(&table_lock);
	if (spare_pid != 0 || helpers_running >= INS_MAX_HELPERS) {
		pthread_mutex_unlock(&table_lock);
		return;
	}
	spare_pid = -1;
	if (++helpers_running > helpers_peak)
		helpers_peak = helpers_running;
	pthread_mutex_unlock(&table_lock);
	int rc = helper_spawn(&pid, &fd, why, sizeof(why));
	pthread_mutex_lock(&table_lock);
	if (rc == 0) {
		spare_pid = pid;
		spare_fd = fd;
	} else {
		spare_pid = 0;
		helpers_running--;
	}
	pthread_mutex_unlock(&table_lock);
}

/* A spare taken is replaced by a thread of its own, not by the request
 * that took it: the new process's start (posix_spawn waits for its exec)
 * stays out of that request's answer. */
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;
static pthread_cond_t spare_cond = PTHREAD_COND_INITIALIZER;
static bool spare_wanted, spare_thread;

static void *spare_main(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&table_lock);
		while (!spare_wanted)
			pthread_cond_wait(&spare_cond, &table_lock);
		spare_wanted = false;
		pthread_mutex_unlock(&table_lock);
		fs_inside_spare_fill();
	}
	return NULL;
}

static void spare_thread_start(void)
{
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 << 10);
	spare_thread = pthread_create(&t, &attr, spare_main, NULL) == 0;
	pthread_attr_destroy(&attr);
}

static void spare_request(void)
{
	pthread_once(&spare_once, spare_thread_start);
	if (!spare_thread) {
		fs_inside_spare_fill(); /* no thread: in the request, as a last resort */
		return;
	}
	pthread_mutex_lock(&table_lock);
	spare_wanted = true;
	pthread_cond_signal(&spare_cond);
	pthread_mutex_unlock(&table_lock);
}

static int helper_start(struct ins_vol *v, char *why, size_t cap)
{
	if (spare_take(v))
		return 0;
	helper_room(v);
	if (helper_spawn(&v->pid, &v->fd, why, cap) == 0)
		return 0;
	v->pid = 0;
	v->fd = -1;
	pthread_mutex_lock(&table_lock);
	helpers_running--;
	pthread_mutex_unlock(&table_lock);
	return -EIO;
}

static ssize_t blob_rd(void *arg, void *buf, size_t len, uint64_t off)
{
	struct ins_disk *d = arg;
	return blob_store_read(d->store, d->man, buf, len, off);
}

/* len bytes of the disk at off: the blob's, or a QCOW2's virtual disk's
 * through qr (one reader per thread of use).  0 or -errno. */
static int disk_read(struct ins_disk *d, qcow2_reader *qr, void *buf, size_t len, uint64_t off)
{
	ssize_t n = d->qcow2 ? qcow2_pread(qr, buf, len, off, NULL) : blob_store_read(d->store, d->man, buf, len, off);
	return n < 0 ? (int)n : (size_t)n != len ? -EIO : 0;
}

/* One exchange with v's helper (vol lock held): the request, the block
 * reads it asks for, its answer (malloc'd into *ans, *alen bytes).  0, the
 * helper's errno (-ENOENT...) with its reason in why, or -EIO with why
 * saying what went wrong and the helper ended. */
static int converse(struct ins_disk *d, struct ins_vol *v, uint32_t type, const void *req, size_t rlen, void **ans,
                    size_t *alen, char *why, size_t cap)
{
	int64_t deadline = fs_mono_ns() + (int64_t)deadline_ms() * 1000000;
	struct ins_msg h = {type, (uint32_t)rlen};
	char *buf = NULL;
	int rc;
	*ans = NULL;
	*alen = 0;
	COUNT(n_exchanges, 1);
	if (send_all(v->fd, &h, sizeof(h)) < 0 || (rlen && send_all(v->fd, req, rlen) < 0)) {
		snprintf(why, cap, "the helper is gone");
		goto broken;
	}
	for (;;) {
		if ((rc = recv_all(v->fd, &h, sizeof(h), deadline)) < 0)
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
		if (h.len && (rc = recv_all(v->fd, buf, h.len, deadline)) < 0)
			goto lost;
		if (h.type == INS_H_READ) {
			struct ins_req_blk r;
			if (h.len != sizeof(r)) {
				snprintf(why, cap, "the helper sent a malformed read");
				goto broken;
			}
			memcpy(&r, buf, sizeof(r));
			/* Inside the volume only; past its end reads nothing. */
			uint64_t n = r.off >= v->size ? 0 : v->size - r.off < r.len ? v->size - r.off : r.len;
			if (r.len > INS_MAX_PAYLOAD) {
				snprintf(why, cap, "the helper asked for %" PRIu32 " bytes at once, past the bound", r.len);
				goto broken;
			}
			char *data = n ? malloc(n) : NULL;
			if (n && !data) {
				snprintf(why, cap, "out of memory");
				goto broken;
			}
			char qwhy[160] = "";
			if (d->qcow2 && !v->qr && qcow2_reader_new(&v->qr, blob_rd, d, d->man->size, qwhy,
			                                           sizeof(qwhy)) < 0)
				v->qr = NULL;
			int got = n ? (d->qcow2 && !v->qr ? -EIO : disk_read(d, v->qr, data, n, v->start + r.off)) : 0;
			if (got < 0) {
				free(data);
				snprintf(why, cap, "the image's chunks cannot be read (%s)", strerror(-got));
				goto broken;
			}
			COUNT(n_block_reads, 1);
			COUNT(n_block_bytes, n);
			struct ins_msg out = {INS_T_DATA, (uint32_t)n};
			int w = send_all(v->fd, &out, sizeof(out)) < 0 || (n && send_all(v->fd, data, n) < 0);
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
		snprintf(why, cap, "the helper did not answer within %d ms", deadline_ms());
	else
		snprintf(why, cap, "the helper ended before it answered");
broken:
	free(buf);
	helper_end(v, why, cap);
	return -EIO;
}

/* ---- disks --------------------------------------------------------------- */

/* While a disk loads (one thread): its QCOW2 reader, if any. */
static __thread qcow2_reader *load_qr;

static int pt_read(void *arg, void *buf, size_t len, uint64_t off)
{
	return disk_read(arg, load_qr, buf, len, off);
}

/* What a volume holds, by its magic numbers: one a helper has a reader of
 * (ins_fs.h) is read; the others are named in README. */
static void probe(struct ins_disk *d, struct ins_vol *v)
{
	uint8_t b[4096];
	size_t len = v->size < sizeof(b) ? (size_t)v->size : sizeof(b);
	memset(b, 0, sizeof(b));
	if (pt_read(d, b, len, v->start) < 0) {
		v->fs = VOL_OTHER;
		snprintf(v->note, sizeof(v->note), "its bytes cannot be read");
		return;
	}
	v->fs = VOL_OTHER;
	if (b[1080] == 0x53 && b[1081] == 0xef)
		v->kind = INS_FS_EXT;
	else if (memcmp(b, "XFSB", 4) == 0)
		v->kind = INS_FS_XFS;
	else if (memcmp(b + 3, "NTFS    ", 8) == 0)
		v->kind = INS_FS_NTFS;
	else if (memcmp(b + 82, "FAT32   ", 8) == 0 || memcmp(b + 54, "FAT1", 4) == 0 ||
	         memcmp(b + 54, "FAT     ", 8) == 0)
		v->kind = INS_FS_FAT; /* (the boot sector's own checks are the helper's) */
	else if (memcmp(b, "LUKS\xba\xbe", 6) == 0)
		snprintf(v->note, sizeof(v->note), "a LUKS volume, which imgfs never opens");
	else if (memcmp(b + 4086, "SWAPSPACE2", 10) == 0)
		snprintf(v->note, sizeof(v->note), "swap space");
	else
		snprintf(v->note, sizeof(v->note), "no file system imgfs knows");
	if (v->kind && ins_fs_find(v->kind))
		v->fs = VOL_READ;
}

static void vol_init(struct ins_vol *v, unsigned number, uint64_t start, uint64_t size)
{
	memset(v, 0, sizeof(*v));
	pthread_mutex_init(&v->lock, NULL);
	pthread_mutex_init(&v->sc_lock, NULL);
	v->number = number;
	v->start = start;
	v->size = size;
	v->fd = -1;
}

static void disk_clear(struct ins_disk *d)
{
	for (unsigned i = 0; i < d->nvols; i++) {
		pthread_mutex_lock(&d->vols[i].lock);
		helper_end(&d->vols[i], NULL, 0);
		qcow2_reader_free(d->vols[i].qr);
		pthread_mutex_unlock(&d->vols[i].lock);
		pthread_mutex_destroy(&d->vols[i].lock);
		pthread_mutex_destroy(&d->vols[i].sc_lock);
	}
	blob_manifest_free(d->man);
	memset(d, 0, sizeof(*d));
}

static void disk_volumes(struct ins_disk *d);

/* Fills d (already owned by the caller: blob_id set, refs 1) from blob_id. */
static void disk_load(struct fs_ctx *ctx, struct ins_disk *d, int64_t blob_id)
{
	struct model_blob b;
	struct model_err err = {0};
	if (model_blob_get(ctx->m, blob_id, &b) < 0 || !b.sealed) {
		snprintf(d->note, sizeof(d->note), "the disk is not sealed yet");
		return;
	}
	if (model_store(ctx->m, b.region_id, &d->store) < 0 ||
	    model_blob_manifest_err(ctx->m, blob_id, &d->man, &err) < 0) {
		snprintf(d->note, sizeof(d->note), "%.190s", err.msg[0] ? err.msg : "the disk's manifest cannot be read");
		d->man = NULL;
		return;
	}
	d->size = b.size;
	/* A QCOW2 file (an upload kept as it came, §5.3): the volumes are in
	 * its virtual disk, read through the decoder the conversions use. */
	uint8_t head[4];
	char qwhy[160] = "";
	if (b.size >= sizeof(head) && blob_store_read(d->store, d->man, head, sizeof(head), 0) == sizeof(head) &&
	    qcow2_sniff(head, sizeof(head))) {
		if (qcow2_reader_new(&load_qr, blob_rd, d, b.size, qwhy, sizeof(qwhy)) < 0) {
			snprintf(d->note, sizeof(d->note), "its QCOW2 tables cannot be read: %.150s", qwhy);
			load_qr = NULL;
			return;
		}
		d->qcow2 = true;
		d->size = qcow2_reader_info(load_qr)->size;
	}
	disk_volumes(d);
	qcow2_reader_free(load_qr);
	load_qr = NULL;
}

/* The volumes of a loaded disk d: a whole-disk file system or partitions. */
static void disk_volumes(struct ins_disk *d)
{
	/* A file system on the whole disk, one a helper reads. */
	if (d->size >= 2048) {
		vol_init(&d->vols[0], 0, 0, d->size);
		probe(d, &d->vols[0]);
		if (d->vols[0].fs == VOL_READ) {
			d->nvols = 1;
			return;
		}
		pthread_mutex_destroy(&d->vols[0].lock);
		memset(&d->vols[0], 0, sizeof(d->vols[0]));
	}
	int rc = pt_parse(pt_read, d, d->size, &d->pt);
	if (rc < 0) {
		snprintf(d->note, sizeof(d->note), "its partition table cannot be read (%s)", strerror(-rc));
		return;
	}
	if (d->pt.scheme == PT_NONE) {
		snprintf(d->note, sizeof(d->note), "no partition table and no file system imgfs reads%s%.100s",
		         d->pt.note[0] ? ": " : "", d->pt.note);
		return;
	}
	for (unsigned i = 0; i < d->pt.count; i++) {
		struct ins_vol *v = &d->vols[d->nvols++];
		vol_init(v, d->pt.parts[i].number, d->pt.parts[i].start, d->pt.parts[i].size);
		probe(d, v);
	}
}

/* The disk entry of blob_id, loaded if needed, with a reference the
 * caller drops (disk_put).  An entry is in the table (blob_id > 0) only
 * once loaded; one is loaded at a time (load_lock), in its slot, which
 * says -1 meanwhile.  NULL: every slot stayed in use by other requests
 * for a deadline. */
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

static struct ins_disk *disk_find(int64_t blob_id)
{
	struct ins_disk *d = NULL;
	pthread_mutex_lock(&table_lock);
	for (int i = 0; i < INS_DISKS; i++)
		if (disks[i].blob_id == blob_id) {
			d = &disks[i];
			d->refs++;
			d->used = ++clock_ticks;
			break;
		}
	pthread_mutex_unlock(&table_lock);
	return d;
}

static struct ins_disk *disk_get(struct fs_ctx *ctx, int64_t blob_id)
{
	struct ins_disk *d = disk_find(blob_id);
	if (d)
		return d;
	struct timespec until = wait_until();
	for (;;) {
		pthread_mutex_lock(&load_lock);
		if ((d = disk_find(blob_id)) != NULL) {
			pthread_mutex_unlock(&load_lock);
			return d;
		}
		pthread_mutex_lock(&table_lock);
		for (int i = 0; i < INS_DISKS; i++)
			if (!disks[i].refs && disks[i].blob_id >= 0 &&
			    (!d || !disks[i].blob_id || (d->blob_id && disks[i].used < d->used)))
				d = &disks[i];
		if (d)
			break; /* table_lock and load_lock held */
		/* Every slot is in use by a request (each within its deadline):
		 * wait for one to end, a deadline at most. */
		pthread_mutex_unlock(&load_lock);
		int w = pthread_cond_timedwait(&room_cond, &table_lock, &until);
		pthread_mutex_unlock(&table_lock);
		if (w == ETIMEDOUT)
			return NULL;
	}
	int64_t old = d->blob_id;
	d->blob_id = -1; /* being loaded: nobody else's */
	d->refs = 1;
	pthread_mutex_unlock(&table_lock);
	if (old)
		disk_clear(d); /* its helpers end */
	memset(d, 0, sizeof(*d));
	d->blob_id = -1;
	d->refs = 1;
	disk_load(ctx, d, blob_id);
	pthread_mutex_lock(&table_lock);
	d->blob_id = blob_id;
	d->used = ++clock_ticks;
	pthread_mutex_unlock(&table_lock);
	pthread_mutex_unlock(&load_lock);
	return d;
}

static void disk_put(struct ins_disk *d)
{
	pthread_mutex_lock(&table_lock);
	if (--d->refs == 0)
		pthread_cond_broadcast(&room_cond);
	pthread_mutex_unlock(&table_lock);
}

static struct ins_vol *vol_by_number(struct ins_disk *d, unsigned number)
{
	for (unsigned i = 0; i < d->nvols; i++)
		if (d->vols[i].number == number)
			return &d->vols[i];
	return NULL;
}

/* Asks v's helper (started and its file system opened if need be). */
static int ask(struct fs_ctx *ctx, const struct fs_node *n, struct ins_disk *d, struct ins_vol *v, uint32_t type,
               const void *req, size_t rlen, void **ans, size_t *alen)
{
	char why[512] = "";
	int rc;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += deadline_ms() / 1000 + 1;
	if (v->fs != VOL_READ)
		return -EIO;
	/* Another request's exchange is bounded by the deadline too. */
	if (pthread_mutex_timedlock(&v->lock, &until) != 0) {
		snprintf(why, sizeof(why), "the volume's helper stayed busy past the deadline");
		rc = -EIO;
		goto log;
	}
	v->used = __atomic_add_fetch(&clock_ticks, 1, __ATOMIC_RELAXED);
	if (v->open_failed) {
		snprintf(why, sizeof(why), "%s", v->failure);
		pthread_mutex_unlock(&v->lock);
		return -EIO; /* logged once, when it failed */
	}
	bool started = !v->pid;
	if (started) {
		struct ins_req_open open = {v->size, v->kind, 0};
		void *a;
		size_t al;
		if ((rc = helper_start(v, why, sizeof(why))) < 0) {
			pthread_mutex_unlock(&v->lock);
			goto log;
		}
		if ((rc = converse(d, v, INS_T_OPEN, &open, sizeof(open), &a, &al, why, sizeof(why))) < 0) {
			if (v->pid) {
				/* The helper answered: the file system is not one it can
				 * open, and a sealed blob never changes. */
				v->open_failed = true;
				snprintf(v->failure, sizeof(v->failure), "%.190s", why);
				helper_end(v, NULL, 0);
			}
			pthread_mutex_unlock(&v->lock);
			rc = -EIO;
			goto log;
		}
		struct ins_stat root;
		if (al == sizeof(root)) {
			memcpy(&root, a, sizeof(root));
			if (ins_stat_valid(&root) && S_ISDIR(root.mode)) {
				sc_put(v, &root); /* the OPEN's answer: one round trip fewer */
				__atomic_store_n(&v->root, root.ino, __ATOMIC_RELAXED);
			}
		}
		free(a);
	}
	struct ins_stat known;
	uint32_t ino = 0;
	if (type == INS_T_STAT && rlen == sizeof(ino))
		memcpy(&ino, req, sizeof(ino));
	if (type == INS_T_STAT && ino == ROOT_INO)
		ino = __atomic_load_n(&v->root, __ATOMIC_RELAXED);
	if (ino && sc_get(v, ino, &known) && (*ans = malloc(sizeof(known))) != NULL) {
		/* The root, told with the OPEN that just started the helper. */
		memcpy(*ans, &known, sizeof(known));
		*alen = sizeof(known);
		rc = 0;
	} else {
		rc = converse(d, v, type, req, rlen, ans, alen, why, sizeof(why));
	}
	/* A burst ran helpers past the bound (helper_room does not wait):
	 * this one ends now that its answer is in. */
	pthread_mutex_lock(&table_lock);
	bool over = helpers_running > INS_MAX_HELPERS;
	pthread_mutex_unlock(&table_lock);
	if (over)
		helper_end(v, NULL, 0);
	pthread_mutex_unlock(&v->lock);
	pthread_mutex_lock(&table_lock);
	pthread_cond_broadcast(&room_cond); /* an idle helper (helper_room) */
	pthread_mutex_unlock(&table_lock);
	if (started)
		spare_request(); /* the one this request may have taken */
	if (rc != -EIO)
		return rc;
log: {
		char path[1024];
		fs_inside_path(ctx, n, path, sizeof(path));
		fs_refuse(ctx, "inside", path, EIO, why, 0);
	}
	return rc;
}

/* disk_get for a request on node n: NULL (every slot in use by other
 * requests) is logged with its reason; the request answers EIO. */
static struct ins_disk *disk_for(struct fs_ctx *ctx, const struct fs_node *n, int64_t blob_id)
{
	struct ins_disk *d = disk_get(ctx, blob_id);
	if (!d) {
		char path[1024], why[96];
		fs_inside_path(ctx, n, path, sizeof(path));
		snprintf(why, sizeof(why), "more than %d disks are being read inside at once", INS_DISKS);
		fs_refuse(ctx, "inside", path, EIO, why, 0);
	}
	return d;
}

/* ---- the owner: an image, or a snapshot (its data) ----------------------- */

/* Whether n (files/, README or a node below) belongs to a snapshot. */
static bool of_snap(const struct fs_node *n)
{
	if (n->what == FS_W_INSIDE)
		return (n->ino & FS_INSIDE_SNAP) != 0;
	return fs_ino_kind(n->ino) == FS_K_SNAP;
}

static int64_t owner_id(const struct fs_node *n)
{
	return of_snap(n) ? n->snap.id : n->img.id;
}

/* The owner field of n's inside inode numbers (fs.h). */
static int64_t owner_code(const struct fs_node *n)
{
	return of_snap(n) ? FS_INSIDE_SNAP_OWNER | n->snap.id : n->img.id;
}

static bool owner_ready(const struct fs_node *n)
{
	return of_snap(n) ? n->snap.status == MODEL_SNAP_AVAILABLE : n->img.status == MODEL_IMG_AVAILABLE;
}

/* The owner's disks: an image's devices; a snapshot's one blob, "data". */
static int owner_devices(struct fs_ctx *ctx, const struct fs_node *n, struct model_device out[MODEL_MAX_DEVICES])
{
	if (!of_snap(n))
		return model_device_list(ctx->m, n->img.id, out);
	memset(&out[0], 0, sizeof(out[0]));
	snprintf(out[0].name, sizeof(out[0].name), "data");
	out[0].kind = MODEL_DEV_SNAPSHOT;
	out[0].blob_id = n->snap.blob_id;
	out[0].snapshot_id = n->snap.id;
	out[0].size = n->snap.size;
	return 1;
}

/* ---- nodes --------------------------------------------------------------- */

/* n (an image node: img, region, view, caller) becomes the inode gino of
 * its device dev's volume number (ROOT_INO: its root directory). */
static int inside_node(struct fs_ctx *ctx, struct fs_node *n, const struct model_device *dev, unsigned number,
                       uint32_t gino)
{
	int64_t owner = owner_code(n); /* while n is still the owner's node */
	void *a;
	size_t al;
	int rc;
	n->dev = *dev;
	n->blob_id = dev->blob_id;
	n->inside.vol = (unsigned)dev->index << 5 | number;
	n->inside.st.ino = gino; /* for the log, until the answer */
	struct ins_disk *d = disk_for(ctx, n, dev->blob_id);
	if (!d)
		return -EIO;
	struct ins_vol *v = vol_by_number(d, number);
	if (!v || v->fs != VOL_READ) {
		disk_put(d);
		return -ENOENT;
	}
	n->what = FS_W_INSIDE;
	n->attr = NULL;
	n->ino = fs_inside_ino(owner, n->inside.vol, gino);
	uint32_t known = gino == ROOT_INO ? __atomic_load_n(&v->root, __ATOMIC_RELAXED) : gino;
	if (known && sc_get(v, known, &n->inside.st)) {
		n->ino = fs_inside_ino(owner, n->inside.vol, known);
		disk_put(d);
		return 0;
	}
	rc = ask(ctx, n, d, v, INS_T_STAT, &gino, sizeof(gino), &a, &al);
	if (rc < 0) {
		disk_put(d);
		return rc == -EINVAL || rc == -ENOTDIR ? -ENOENT : rc;
	}
	if (al != sizeof(n->inside.st)) {
		disk_put(d);
		free(a);
		return -EIO;
	}
	memcpy(&n->inside.st, a, al);
	free(a);
	/* The root (ROOT_INO) is a directory of whatever number its file
	 * system gives it. */
	if (!ins_stat_valid(&n->inside.st) ||
	    (gino == ROOT_INO ? !S_ISDIR(n->inside.st.mode) : n->inside.st.ino != gino)) {
		disk_put(d);
		return -EIO;
	}
	if (gino == ROOT_INO)
		__atomic_store_n(&v->root, n->inside.st.ino, __ATOMIC_RELAXED);
	n->ino = fs_inside_ino(owner, n->inside.vol, n->inside.st.ino);
	sc_put(v, &n->inside.st);
	disk_put(d);
	return 0;
}

/* Whether n's caller may read the image's files: as its disks (§3).
 * files/README is there for everyone who sees the image (README: 0). */
static int inside_access(const struct fs_node *n, bool readme)
{
	if (n->actor_id)
		return -ENOENT; /* not through tenants/ in this version */
	if (owner_id(n) > FS_INSIDE_MAX_IMAGE)
		return readme ? 0 : -ENOENT;
	return readme ? 0 : fs_node_blob_access(n);
}

static int device_by_index(struct fs_ctx *ctx, const struct fs_node *n, unsigned index, struct model_device *out)
{
	struct model_device devs[MODEL_MAX_DEVICES];
	int count = owner_devices(ctx, n, devs);
	for (int i = 0; i < count; i++)
		if ((unsigned)devs[i].index == index) {
			*out = devs[i];
			return 0;
		}
	return count < 0 ? count : -ENOENT;
}

int fs_inside_resolve(struct fs_ctx *ctx, const struct fs_caller *caller, fuse_ino_t ino, struct fs_node *out)
{
	int64_t owner = (int64_t)((ino >> 42) & ((1ll << 21) - 1));
	unsigned vol = (unsigned)(ino >> 32) & 0x3ff;
	uint32_t gino = (uint32_t)ino;
	struct model_device dev;
	int rc;
	if (owner & FS_INSIDE_SNAP_OWNER) {
		/* A snapshot's: its directory node, resolved as any (visibility). */
		if ((rc = fs_node_resolve(ctx, caller, fs_ino(FS_K_SNAP, owner & FS_INSIDE_MAX_IMAGE, 0), out)) < 0)
			return rc;
	} else {
		struct model_image img;
		struct model_region region;
		if ((rc = model_image_get_in_region(ctx->m, owner, MODEL_REF_DEVICES, &img, &region)) < 0 ||
		    (rc = fs_node_image(ctx, caller, &img, out)) < 0)
			return rc;
	}
	if ((rc = inside_access(out, false)) < 0 || !owner_ready(out) ||
	    (rc = device_by_index(ctx, out, vol >> 5, &dev)) < 0)
		return rc < 0 ? rc : -ENOENT;
	return inside_node(ctx, out, &dev, vol & 31, gino);
}

static void show_readme(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out);

/* files/README (an FS_W_ATTR of the image: rendered as its other files). */
static const struct fs_attr readme_attr = {
	.id = FS_SUB_FILES_README, .name = "files/README", .show = show_readme, .refs = MODEL_REF_DEVICES,
};

int fs_inside_readme_node(struct fs_ctx *ctx, struct fs_node *n)
{
	int rc = inside_access(n, true);
	if (rc < 0)
		return rc;
	n->what = FS_W_ATTR;
	n->attr = &readme_attr;
	n->ino = fs_ino(of_snap(n) ? FS_K_SNAP : FS_K_IMAGE, owner_id(n), FS_SUB_FILES_README);
	return 0;
}

static void show_readme(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	struct model_device devs[MODEL_MAX_DEVICES];
	if (fs_node_blob_access(n) < 0) {
		fs_buf_puts(out, "Not shown: this image's disks are only for creating instances, and so are its files.\n");
		return;
	}
	if (owner_id(n) > FS_INSIDE_MAX_IMAGE) {
		fs_buf_printf(out, "Not shown: ids past %lld have no files/ in this version.\n",
		              (long long)FS_INSIDE_MAX_IMAGE);
		return;
	}
	if (!owner_ready(n)) {
		fs_buf_printf(out, "The %s is not available yet: its files are shown once it is.\n",
		              of_snap(n) ? "snapshot" : "image");
		return;
	}
	int count = owner_devices(ctx, n, devs);
	for (int i = 0; i < count; i++) {
		struct ins_disk *d = disk_get(ctx, devs[i].blob_id);
		if (!d) {
			fs_buf_printf(out, "%s: not read (too many disks being read at once)\n", devs[i].name);
			continue;
		}
		if (d->note[0])
			fs_buf_printf(out, "%s: %s\n", devs[i].name, d->note);
		for (unsigned j = 0; j < d->nvols; j++) {
			struct ins_vol *v = &d->vols[j];
			char name[24];
			snprintf(name, sizeof(name), "%.7s%.0u", devs[i].name, v->number);
			if (v->number == 0)
				snprintf(name, sizeof(name), "%.7s", devs[i].name);
			if (v->fs == VOL_OTHER)
				fs_buf_printf(out, "%s: not shown: %s\n", name, v->note);
			else if (v->open_failed)
				fs_buf_printf(out, "%s: not readable: %s\n", name, v->failure);
			else
				fs_buf_printf(out, "%s: %s\n", name, ins_fs_find(v->kind)->readme);
		}
		if (d->pt.skipped)
			fs_buf_printf(out, "%s: %u partition(s) not shown (numbered past %d, or outside the disk)\n",
			              devs[i].name, d->pt.skipped, PT_MAX_NUMBER);
		disk_put(d);
	}
}

/* Volume name -> device and partition number ("vda" -> vda, 0; "vda2" -> vda, 2). */
static int parse_vol(struct fs_ctx *ctx, const struct fs_node *n, const char *name, struct model_device *dev,
                     unsigned *number)
{
	struct model_device devs[MODEL_MAX_DEVICES];
	int count = owner_devices(ctx, n, devs);
	for (int i = 0; i < count; i++) {
		size_t l = strlen(devs[i].name);
		if (strncmp(name, devs[i].name, l) != 0)
			continue;
		const char *p = name + l;
		unsigned num = 0;
		if (*p == '0')
			continue;
		for (; *p >= '0' && *p <= '9' && num <= PT_MAX_NUMBER; p++)
			num = num * 10 + (unsigned)(*p - '0');
		if (*p || num > PT_MAX_NUMBER)
			continue;
		*dev = devs[i];
		*number = num;
		return 0;
	}
	return count < 0 ? count : -ENOENT;
}

int fs_inside_lookup(struct fs_ctx *ctx, struct fs_node *n, const char *name)
{
	int rc;
	if (n->what == FS_W_SUBDIR && strcmp(name, "README") == 0)
		return fs_inside_readme_node(ctx, n);
	if (n->what == FS_W_SUBDIR) {
		struct model_device dev;
		unsigned number;
		if (!owner_ready(n) || parse_vol(ctx, n, name, &dev, &number) < 0)
			return -ENOENT;
		if ((rc = inside_access(n, false)) < 0)
			return rc; /* a volume of a disk the caller may not read */
		return inside_node(ctx, n, &dev, number, ROOT_INO);
	}
	if ((rc = inside_access(n, false)) < 0)
		return rc;
	if (!S_ISDIR(n->inside.st.mode))
		return -ENOTDIR;
	size_t len = strlen(name);
	if (len > INS_NAME_MAX)
		return -ENAMETOOLONG;
	char req[4 + INS_NAME_MAX];
	memcpy(req, &n->inside.st.ino, 4);
	memcpy(req + 4, name, len);
	struct ins_disk *d = disk_for(ctx, n, n->blob_id);
	if (!d)
		return -EIO;
	struct ins_vol *v = vol_by_number(d, n->inside.vol & 31);
	void *a;
	size_t al;
	rc = v ? ask(ctx, n, d, v, INS_T_LOOKUP, req, 4 + len, &a, &al) : -ENOENT;
	if (rc < 0 || al != sizeof(n->inside.st)) {
		disk_put(d);
		if (rc == 0)
			free(a);
		return rc == -ENOTDIR || rc == -EINVAL ? -ENOENT : rc < 0 ? rc : -EIO;
	}
	memcpy(&n->inside.st, a, al);
	free(a);
	if (!ins_stat_valid(&n->inside.st)) {
		disk_put(d);
		return -EIO;
	}
	sc_put(v, &n->inside.st);
	disk_put(d);
	n->ino = fs_inside_ino(owner_code(n), n->inside.vol, n->inside.st.ino);
	return 0;
}

/* Offsets in files/: README 3, a volume 4 + device index * 32 + number. */
static int list_files(struct fs_ctx *ctx, const struct fs_node *dir, off_t off, fs_emit_fn emit, void *arg)
{
	struct model_device devs[MODEL_MAX_DEVICES];
	struct fs_node work = *dir;
	int rc;
	if (off < 3) {
		if (fs_inside_readme_node(ctx, &work) == 0 && (rc = emit(arg, "README", &work, 3)) != 0)
			return rc;
	}
	if (!owner_ready(dir) || inside_access(dir, false) < 0)
		return 0; /* README says why */
	int count = owner_devices(ctx, dir, devs);
	for (int i = 0; i < count; i++) {
		struct ins_disk *d = disk_get(ctx, devs[i].blob_id);
		if (!d)
			continue;
		for (unsigned j = 0; j < d->nvols; j++) {
			struct ins_vol *v = &d->vols[j];
			off_t at = 4 + (off_t)devs[i].index * 32 + v->number;
			if (at <= off || v->fs != VOL_READ || v->open_failed)
				continue;
			char name[24];
			if (v->number)
				snprintf(name, sizeof(name), "%.7s%u", devs[i].name, v->number);
			else
				snprintf(name, sizeof(name), "%.7s", devs[i].name);
			work = *dir;
			if (inside_node(ctx, &work, &devs[i], v->number, ROOT_INO) < 0)
				continue; /* README says why */
			if ((rc = emit(arg, name, &work, at)) != 0) {
				disk_put(d);
				return rc;
			}
		}
		disk_put(d);
	}
	return count < 0 ? count : 0;
}

int fs_inside_list(struct fs_ctx *ctx, const struct fs_node *dir, off_t off, fs_emit_fn emit, void *arg)
{
	int rc;
	if (dir->what == FS_W_SUBDIR)
		return list_files(ctx, dir, off, emit, arg);
	if ((rc = inside_access(dir, false)) < 0)
		return rc;
	struct ins_disk *d = disk_for(ctx, dir, dir->blob_id);
	if (!d)
		return -EIO;
	struct ins_vol *v = vol_by_number(d, dir->inside.vol & 31);
	struct fs_node work = *dir;
	/* Entry i's offset is i + 3 (after "." and ".."): the next page
	 * starts at index off - 2. */
	uint32_t from = off > 2 ? (uint32_t)(off - 2) : 0;
	rc = v ? 0 : -ENOENT;
	while (rc == 0) {
		struct ins_req_list r = {dir->inside.st.ino, from, INS_LIST_PAGE};
		void *a;
		size_t al, pos = 4;
		uint32_t next;
		if ((rc = ask(ctx, dir, d, v, INS_T_LIST, &r, sizeof(r), &a, &al)) < 0)
			break;
		if (al < 4) {
			free(a);
			rc = -EIO;
			break;
		}
		memcpy(&next, a, 4);
		uint32_t i = from;
		while (rc == 0) {
			struct ins_stat st;
			char name[INS_NAME_MAX + 1];
			bool ok;
			int e = ins_list_entry(a, al, &pos, &st, name, &ok);
			if (e <= 0) {
				rc = e;
				break;
			}
			i++;
			if (!ok)
				continue; /* counted (offsets stay), not listed */
			sc_put(v, &st);
			work.inside.st = st;
			work.ino = fs_inside_ino(owner_code(dir), dir->inside.vol, st.ino);
			if ((rc = emit(arg, name, &work, (off_t)i + 2)) != 0)
				break;
		}
		free(a);
		if (rc || next == 0)
			break;
		/* No progress, an empty page that is not the last, or more than a
		 * listing holds: malformed (a page a round trip, never a loop). */
		if (next <= from || i == from || next > INS_LIST_CAP) {
			rc = -EIO;
			break;
		}
		from = next;
	}
	disk_put(d);
	return rc;
}

void fs_inside_stat(const struct fs_node *n, struct stat *st)
{
	const struct ins_stat *s = &n->inside.st;
	st->st_ino = n->ino;
	st->st_mode = s->mode;
	st->st_uid = s->uid;
	st->st_gid = s->gid;
	st->st_nlink = s->nlink ? s->nlink : 1;
	st->st_size = (off_t)s->size;
	st->st_blocks = (blkcnt_t)s->blocks;
	st->st_rdev = s->rdev;
	st->st_atim = (struct timespec){s->atime_ns / 1000000000, s->atime_ns % 1000000000};
	st->st_mtim = (struct timespec){s->mtime_ns / 1000000000, s->mtime_ns % 1000000000};
	st->st_ctim = (struct timespec){s->ctime_ns / 1000000000, s->ctime_ns % 1000000000};
	if (st->st_atim.tv_nsec < 0 || st->st_mtim.tv_nsec < 0 || st->st_ctim.tv_nsec < 0) {
		/* before 1970: whole seconds */
		st->st_atim.tv_nsec = st->st_mtim.tv_nsec = st->st_ctim.tv_nsec = 0;
	}
}

ssize_t fs_inside_pread(struct fs_ctx *ctx, const struct fs_node *n, void *buf, size_t len, uint64_t off)
{
	struct ins_disk *d = disk_for(ctx, n, n->blob_id);
	size_t done = 0;
	int rc = 0;
	if (!d)
		return -EIO;
	struct ins_vol *v = vol_by_number(d, n->inside.vol & 31);
	while (v && done < len) {
		struct ins_req_read r = {n->inside.st.ino,
		                         (uint32_t)(len - done > INS_MAX_READ ? INS_MAX_READ : len - done), off + done};
		void *a;
		size_t al;
		if ((rc = ask(ctx, n, d, v, INS_T_READ, &r, sizeof(r), &a, &al)) < 0)
			break;
		if (al > r.len) {
			free(a);
			rc = -EIO;
			break;
		}
		memcpy((char *)buf + done, a, al);
		free(a);
		done += al;
		if (al < r.len)
			break; /* the end of the file */
	}
	disk_put(d);
	return rc < 0 && done == 0 ? rc : (ssize_t)done;
}

int fs_inside_readlink(struct fs_ctx *ctx, const struct fs_node *n, char *out, size_t cap)
{
	struct ins_disk *d = disk_for(ctx, n, n->blob_id);
	void *a;
	size_t al;
	if (!d)
		return -EIO;
	struct ins_vol *v = vol_by_number(d, n->inside.vol & 31);
	int rc = v ? ask(ctx, n, d, v, INS_T_READLINK, &n->inside.st.ino, 4, &a, &al) : -ENOENT;
	disk_put(d);
	if (rc < 0)
		return rc;
	if (al == 0 || al >= cap || memchr(a, '\0', al)) {
		free(a);
		return -EIO;
	}
	memcpy(out, a, al);
	out[al] = '\0';
	free(a);
	return 0;
}

void fs_inside_path(struct fs_ctx *ctx, const struct fs_node *n, char *out, size_t cap)
{
	struct fs_node img = *n;
	char base[900];
	img.what = of_snap(n) ? FS_W_SNAP : FS_W_IMAGE;
	img.attr = NULL;
	img.ino = fs_ino(of_snap(n) ? FS_K_SNAP : FS_K_IMAGE, owner_id(n), 0);
	fs_node_path(ctx, &img, base, sizeof(base));
	if (n->inside.vol & 31)
		snprintf(out, cap, "%s/files/%s%u (inode %u)", base, n->dev.name, n->inside.vol & 31, n->inside.st.ino);
	else
		snprintf(out, cap, "%s/files/%s (inode %u)", base, n->dev.name, n->inside.st.ino);
}

void fs_inside_stats(struct fs_buf *out)
{
	pthread_mutex_lock(&table_lock);
	unsigned now = helpers_running, peak = helpers_peak, known = 0;
	for (int i = 0; i < INS_DISKS; i++)
		known += disks[i].blob_id > 0;
	pthread_mutex_unlock(&table_lock);
	fs_buf_printf(out,
	              "# HELP imgfs_inside_helpers files/ helpers running now, the spare included (SPEC §18: at "
	              "most %d).\n"
	              "# TYPE imgfs_inside_helpers gauge\n"
	              "imgfs_inside_helpers %u\n"
	              "# HELP imgfs_inside_helpers_peak The most files/ helpers that ran at once.\n"
	              "# TYPE imgfs_inside_helpers_peak gauge\n"
	              "imgfs_inside_helpers_peak %u\n"
	              "# HELP imgfs_inside_disks Disks whose partitions files/ knows now (at most %d).\n"
	              "# TYPE imgfs_inside_disks gauge\n"
	              "imgfs_inside_disks %u\n"
	              "# HELP imgfs_inside_helper_starts_total files/ helpers started (spares included).\n"
	              "# TYPE imgfs_inside_helper_starts_total counter\n"
	              "imgfs_inside_helper_starts_total %" PRIu64 "\n"
	              "# HELP imgfs_inside_spares_taken_total Helpers a volume's first request found started.\n"
	              "# TYPE imgfs_inside_spares_taken_total counter\n"
	              "imgfs_inside_spares_taken_total %" PRIu64 "\n"
	              "# HELP imgfs_inside_stat_hits_total Attributes of files/ answered from what helpers "
	              "told before, without asking.\n"
	              "# TYPE imgfs_inside_stat_hits_total counter\n"
	              "imgfs_inside_stat_hits_total %" PRIu64 "\n"
	              "# HELP imgfs_inside_exchanges_total Requests sent to files/ helpers (a round trip each, "
	              "plus its block reads).\n"
	              "# TYPE imgfs_inside_exchanges_total counter\n"
	              "imgfs_inside_exchanges_total %" PRIu64 "\n"
	              "# HELP imgfs_inside_block_reads_total Reads of a volume's bytes that helpers asked the "
	              "daemon for.\n"
	              "# TYPE imgfs_inside_block_reads_total counter\n"
	              "imgfs_inside_block_reads_total %" PRIu64 "\n"
	              "# HELP imgfs_inside_block_bytes_total Bytes of those reads.\n"
	              "# TYPE imgfs_inside_block_bytes_total counter\n"
	              "imgfs_inside_block_bytes_total %" PRIu64 "\n",
	              INS_MAX_HELPERS, now, peak, INS_DISKS, known, __atomic_load_n(&n_starts, __ATOMIC_RELAXED),
	              __atomic_load_n(&n_spare_taken, __ATOMIC_RELAXED), __atomic_load_n(&n_stat_hits, __ATOMIC_RELAXED),
	              __atomic_load_n(&n_exchanges, __ATOMIC_RELAXED),
	              __atomic_load_n(&n_block_reads, __ATOMIC_RELAXED),
	              __atomic_load_n(&n_block_bytes, __ATOMIC_RELAXED));
}
