/*
 * test_inside_helper.c — mirrors fs/fuse/inside_helper.c: the daemon's
 * side of an exchange with a helper (ins_converse), played against a
 * hostile helper over a socketpair.  A real helper never asks for a read
 * past its volume; one made to (it parses a tenant's bytes) must be
 * refused at the call site, not only by ins_reads_check (test_proto.c
 * tries that function at each bound): the request is EIO with "past a
 * bound" or "a malformed read" as its reason (the caller's log line),
 * the helper is ended (killed, reaped, its socket closed) and nothing of
 * the volume is sent to it (SPEC §18.6).  A read at the bound is served,
 * with the volume's bytes.
 *
 * The helper is a child that only waits to be killed: what it "says" is
 * written into its end of the socket before the exchange starts (a read,
 * then the answer that would end a served exchange), and what the daemon
 * sent it is read back from that end afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "blobstore_int.h" /* (blob_store_test_fail_reads) */
#include "fs.h"
#include "inside_int.h"
#include "rooms.h"

#define KiB 1024u
#define VOL_START (64 * KiB)  /* the volume's first byte on the disk */
#define VOL_SIZE (128 * KiB)  /* its size: the bound of a helper's reads */
/* The blob: the volume and bytes on either side, one chunk one byte short
 * (a damaged chunk's range ends at the blob's end: test_read_damaged_chunk). */
#define DISK_SIZE (1024 * KiB - 1)

struct fx {
	char dir[64];
	blob_store *s;
	struct fs_ctx *ctx;
	struct ins_disk d;
	uint8_t disk[DISK_SIZE];
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	uint8_t secret[BLOB_SECRET_SIZE] = {7};
	if (!fx)
		return -1;
	strcpy(fx->dir, "/tmp/imgfs-insidehelper-XXXXXX");
	if (!mkdtemp(fx->dir) || blob_store_open(&fx->s, fx->dir, secret) < 0)
		return -1;
	/* Every byte of the disk tells where it is (no two 4 KiB alike). */
	for (size_t i = 0; i < DISK_SIZE; i++)
		fx->disk[i] = (uint8_t)(i * 7 + i / 4096);
	fx->d.store = fx->s;
	if (blob_store_put_buf(fx->s, &fx->d.man, fx->disk, DISK_SIZE) < 0)
		return -1;
	fx->d.size = DISK_SIZE;
	if (!(fx->ctx = calloc(1, sizeof(*fx->ctx))) || fs_rooms_new(fx->ctx) < 0)
		return -1;
	/* A read served that should have been refused then waits for the
	 * helper's next word: a deadline of 1 s ends that wait (EIO, another
	 * reason: still a failure here). */
	fx->ctx->inside->deadline_ms = 1000;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	fs_rooms_free(fx->ctx);
	free(fx->ctx);
	blob_manifest_free(fx->d.man);
	blob_store_close(fx->s);
	nftw(fx->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static void send_msg(int fd, uint32_t type, const void *p, uint32_t len)
{
	struct ins_msg h = {type, len};
	assert_int_equal(send(fd, &h, sizeof(h), 0), sizeof(h));
	if (len)
		assert_int_equal(send(fd, p, len, 0), len);
}

/* The volume's helper: a child that waits to be killed; *hfd its end of
 * the socket, the daemon's in v->fd. */
static void helper_fake(struct fx *fx, struct ins_vol *v, int *hfd)
{
	int sv[2];
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Ended with this test, whatever becomes of it (a failed
		 * assertion leaves no helper holding ctest's output open). */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		for (;;)
			pause();
	}
	/* (made after the fork: the socket's ends are the test's alone, so a
	 * close of the helper's is the helper gone) */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	memset(v, 0, sizeof(*v));
	v->number = 1;
	v->start = VOL_START;
	v->size = VOL_SIZE;
	v->ctx = fx->ctx;
	v->pid = pid;
	v->fd = sv[0];
	v->err_fd = -1;
	pthread_mutex_init(&v->lock, NULL);
	pthread_mutex_init(&v->sc_lock, NULL);
	fx->ctx->inside->helpers_running++; /* as a start counts it */
	*hfd = sv[1];
}

/* What the daemon sent the helper after the request: the bytes of an
 * INS_T_DATA, their count (-1: nothing, the socket closed). */
static ssize_t helper_got(int hfd, uint8_t *buf, size_t cap)
{
	struct ins_msg h;
	uint32_t req;
	/* The request the exchange began with (INS_T_STAT, an inode number). */
	assert_int_equal(recv(hfd, &h, sizeof(h), MSG_WAITALL), sizeof(h));
	assert_int_equal(h.type, INS_T_STAT);
	assert_int_equal(recv(hfd, &req, sizeof(req), MSG_WAITALL), sizeof(req));
	ssize_t n = recv(hfd, &h, sizeof(h), MSG_WAITALL);
	if (n == 0)
		return -1;
	assert_int_equal(n, sizeof(h));
	assert_int_equal(h.type, INS_T_DATA);
	assert_true(h.len <= cap);
	if (h.len)
		assert_int_equal(recv(hfd, buf, h.len, MSG_WAITALL), h.len);
	return h.len;
}

struct piece {
	uint64_t off;
	uint32_t len;
};

/* The helper asks type (INS_H_READ or INS_H_READV) for n pieces (len
 * bytes of message: n pieces' when 0); served: the exchange answers 0
 * and the helper got the pieces' bytes of the volume (each cut at its
 * end); refused: EIO with why, the helper ended and sent nothing. */
static void exchange(struct fx *fx, uint32_t type, const struct piece *p, unsigned n, uint32_t len, const char *why_want)
{
	struct ins_vol v;
	int hfd;
	struct ins_req_blk *r = calloc(n ? n : 1, sizeof(*r));
	assert_non_null(r);
	for (unsigned i = 0; i < n; i++)
		r[i] = (struct ins_req_blk){p[i].off, p[i].len, 0};
	helper_fake(fx, &v, &hfd);
	pid_t pid = v.pid;
	unsigned running = fx->ctx->inside->helpers_running;
	send_msg(hfd, type, r, len ? len : n * (uint32_t)sizeof(*r));
	/* A served read: the answer that ends the exchange, waiting behind
	 * it.  (Not behind a refused one: a socket closed with bytes unread
	 * is a reset for its peer, not the end this test reads.) */
	uint32_t answer = 0;
	if (!why_want)
		send_msg(hfd, INS_H_OK, &answer, sizeof(answer));

	uint32_t ino = 2;
	void *ans = NULL;
	size_t alen = 0;
	char why[256] = "";
	pthread_mutex_lock(&v.lock);
	int rc = ins_converse(&fx->d, &v, INS_T_STAT, &ino, sizeof(ino), &ans, &alen, why, sizeof(why));
	pthread_mutex_unlock(&v.lock);

	static uint8_t got[64 * KiB];
	ssize_t n_got = helper_got(hfd, got, sizeof(got));
	if (!why_want) {
		assert_int_equal(rc, 0);
		assert_int_equal(alen, sizeof(answer));
		assert_int_equal(v.pid, pid); /* still the volume's */
		size_t at = 0;
		for (unsigned i = 0; i < n; i++) {
			uint64_t cut = p[i].off >= VOL_SIZE ? 0 : VOL_SIZE - p[i].off < p[i].len ? VOL_SIZE - p[i].off : p[i].len;
			assert_memory_equal(got + at, fx->disk + VOL_START + p[i].off, cut);
			at += cut;
		}
		assert_int_equal(n_got, at);
		pthread_mutex_lock(&v.lock); /* as the daemon ends a helper: under its volume's lock */
		ins_helper_end(&v, NULL, 0);
		pthread_mutex_unlock(&v.lock);
	} else {
		if (rc != -EIO || !strstr(why, why_want))
			fail_msg("rc %d, why \"%s\": wanted EIO with \"%s\"", rc, why, why_want);
		assert_int_equal(n_got, -1); /* no byte of the volume; the socket closed */
		assert_null(ans);
		assert_int_equal(v.pid, 0);
		assert_int_equal(v.fd, -1);
		assert_int_equal(fx->ctx->inside->helpers_running, running - 1);
		/* Killed and reaped: no such process, no zombie. */
		assert_int_equal(kill(pid, 0), -1);
		assert_int_equal(errno, ESRCH);
	}
	free(ans);
	close(hfd);
	pthread_mutex_destroy(&v.lock);
	pthread_mutex_destroy(&v.sc_lock);
	free(r);
}

/* One INS_H_READ: a piece of at most INS_MAX_PAYLOAD bytes, past the
 * volume's end cut there; one byte more is refused. */
static void test_read_bound(void **state)
{
	struct fx *fx = *state;
	exchange(fx, INS_H_READ, &(struct piece){VOL_SIZE - 100, INS_MAX_PAYLOAD}, 1, 0, NULL);
	exchange(fx, INS_H_READ, &(struct piece){VOL_SIZE, INS_MAX_PAYLOAD}, 1, 0, NULL);
	exchange(fx, INS_H_READ, &(struct piece){VOL_SIZE - 100, INS_MAX_PAYLOAD + 1}, 1, 0,
	         "the helper asked for 1048577 bytes at 130972, past a bound");
	exchange(fx, INS_H_READ, &(struct piece){0, 4096}, 1, sizeof(struct ins_req_blk) - 1,
	         "the helper sent a malformed read");
}

/* INS_H_READV: each piece inside the volume (its last byte at most the
 * volume's last), 1..INS_READV_MAX pieces. */
static void test_readv_bound(void **state)
{
	struct fx *fx = *state;
	struct piece p[INS_READV_MAX + 1];
	exchange(fx, INS_H_READV, (struct piece[]){{0, 4096}, {VOL_SIZE - 4096, 4096}}, 2, 0, NULL);
	exchange(fx, INS_H_READV, (struct piece[]){{0, 4096}, {VOL_SIZE - 4096, 4097}}, 2, 0,
	         "the helper asked for 4097 bytes at 126976, past a bound");
	exchange(fx, INS_H_READV, (struct piece[]){{VOL_SIZE, 0}}, 1, 0, NULL);
	exchange(fx, INS_H_READV, (struct piece[]){{VOL_SIZE + 1, 0}}, 1, 0,
	         "the helper asked for 0 bytes at 131073, past a bound");
	for (unsigned i = 0; i <= INS_READV_MAX; i++)
		p[i] = (struct piece){i * 64, 64};
	exchange(fx, INS_H_READV, p, INS_READV_MAX, 0, NULL);
	exchange(fx, INS_H_READV, p, INS_READV_MAX + 1, 0, "the helper sent a malformed read");
}

/* A read inside the volume whose chunk is damaged: EIO, the helper
 * ended, nothing of the chunk sent, and a verdict (SPEC §20.2): the
 * reason names the chunk, counted in d->damaged (its index in
 * d->damaged_chunk), never in d->unanswered (an inspection's "could not
 * tell", retried).  Then the same read the store does not answer: EIO,
 * counted in d->unanswered, no verdict. */
static void test_read_damaged_chunk(void **state)
{
	struct fx *fx = *state;
	uint8_t secret[BLOB_SECRET_SIZE] = {7}, b;
	char hex[33], path[256];
	chunk_id_fmt(hex, blob_manifest_get(fx->d.man, 0));
	snprintf(path, sizeof(path), "%s/chunks/%.2s/%s", fx->dir, hex, hex);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, VOL_START), 1);
	b ^= 0x5a;
	assert_int_equal(pwrite(fd, &b, 1, VOL_START), 1);
	close(fd);
	blob_store_close(fx->s); /* (nothing of the chunk kept in memory) */
	assert_int_equal(blob_store_open(&fx->s, fx->dir, secret), 0);
	fx->d.store = fx->s;
	exchange(fx, INS_H_READ, &(struct piece){0, 4096}, 1, 0,
	         "chunk 0 of the disk's blob (bytes 0 to 1048574) is damaged in the store (its bytes are not the chunk)");
	assert_int_equal(fx->d.damaged, 1);
	assert_int_equal(fx->d.damaged_chunk, 0);
	assert_int_equal(fx->d.unanswered, 0);
	/* A read through the volume that the store does not answer. */
	blob_store_test_fail_reads(fx->s, -EIO);
	exchange(fx, INS_H_READV, (struct piece[]){{0, 4096}, {4096, 4096}}, 2, 0,
	         "the image's chunks cannot be read (Input/output error)");
	blob_store_test_fail_reads(fx->s, 0);
	assert_int_equal(fx->d.unanswered, 1);
	assert_int_equal(fx->d.damaged, 1);
}

/* A helper gone (its socket closed: a crash the daemon has not reaped
 * yet) when the request is sent: the send fails, EIO "the helper is
 * gone", the helper ended — not a wait for an answer from a socket
 * nobody writes, nor a reason saying it ended before it answered. */
static void test_helper_gone(void **state)
{
	struct fx *fx = *state;
	struct ins_vol v;
	int hfd;
	helper_fake(fx, &v, &hfd);
	pid_t pid = v.pid;
	close(hfd);
	uint32_t ino = 2;
	void *ans = NULL;
	size_t alen = 0;
	char why[256] = "";
	pthread_mutex_lock(&v.lock);
	int rc = ins_converse(&fx->d, &v, INS_T_STAT, &ino, sizeof(ino), &ans, &alen, why, sizeof(why));
	pthread_mutex_unlock(&v.lock);
	if (rc != -EIO || strcmp(why, "the helper is gone") != 0)
		fail_msg("rc %d, why \"%s\": wanted EIO, \"the helper is gone\"", rc, why);
	assert_null(ans);
	assert_int_equal(v.pid, 0);
	assert_int_equal(kill(pid, 0), -1);
	pthread_mutex_destroy(&v.lock);
	pthread_mutex_destroy(&v.sc_lock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readv_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_damaged_chunk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_helper_gone, setup, teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
