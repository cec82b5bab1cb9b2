/*
 * test_lobby.c — unit tests for fs/serve/lobby.c, the accept front's lobby
 * (SPEC §14, issue 70), driven with a fake table (the slots each client
 * address holds: a count the test sets) and fake sockets (whether each
 * connection's request head came: a flag the test sets), no clock and no
 * server: who gets a freed slot (the fewest held, then the ready, then
 * the first come; an honest newcomer before the attackers' connections
 * queued before it), who a full lobby turns away at its bound (SERVE_LOBBY
 * kept, the next weighed: refused at the heaviest's weight, kept one
 * below, the last come of the heaviest out in its place), a count held
 * past UINT_MAX / 2 ranked last without overflow; and on real sockets,
 * what a whole request head is (an empty line within SERVE_HEAD_PEEK
 * bytes, at the bound and one past it; the bytes left in the socket).
 */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "serve.h"
#include "serve_conns.h"
#include "serve_lobby.h"

/* The fake table and sockets: slots held by 10.0.0.<n>, the head of fd. */
struct fake {
	unsigned held[256];
	bool ready[1024];
	unsigned asked_held; /* calls: the lobby asks the table, never counts itself */
};

static unsigned fake_held(void *arg, const struct sockaddr *sa)
{
	struct fake *fk = arg;
	const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)sa;
	fk->asked_held++;
	return fk->held[ntohl(a->sin_addr.s_addr) & 255];
}

static bool fake_ready(void *arg, int fd)
{
	struct fake *fk = arg;
	return fk->ready[fd];
}

/* A connection fd from 10.0.0.<host>. */
static struct serve_lobby_ent ent(int fd, unsigned host)
{
	struct serve_lobby_ent e = {.fd = fd, .len = sizeof(struct sockaddr_in)};
	struct sockaddr_in *a = (struct sockaddr_in *)&e.sa;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)(1000 + fd));
	a->sin_addr.s_addr = htonl(0x0a000000u | host);
	serve_client_key(e.key, (const struct sockaddr *)&e.sa);
	return e;
}

static int offer(struct serve_lobby *l, struct fake *fk, int fd, unsigned host, struct serve_lobby_ent *out)
{
	struct serve_lobby_ent e = ent(fd, host);
	struct serve_lobby_ask ask = {.held = fake_held, .ready = fake_ready, .arg = fk};
	return serve_lobby_offer(l, &e, &ask, out);
}

/* The fd of the connection the next freed slot goes to; -1: none. */
static int next(struct serve_lobby *l, struct fake *fk)
{
	struct serve_lobby_ent e;
	struct serve_lobby_ask ask = {.held = fake_held, .ready = fake_ready, .arg = fk};
	return serve_lobby_next(l, &ask, &e) ? e.fd : -1;
}

/* Who gets a freed slot: fewest held first; among equals the one whose
 * head came; then the first come.  Held counts for two (a client holding
 * one more slot waits behind a client of fewer that is not ready yet). */
static void test_next_order(void **state)
{
	(void)state;
	static struct serve_lobby l;
	static struct fake fk;
	struct serve_lobby_ent out;
	memset(&l, 0, sizeof(l));
	memset(&fk, 0, sizeof(fk));
	assert_int_equal(next(&l, &fk), -1); /* empty */
	fk.held[1] = 3;
	fk.held[2] = 1;
	/* fd 10: 10.0.0.1 (3 held), ready; 11: 10.0.0.2 (1), ready;
	 * 12: 10.0.0.3 (0), not ready; 13: 10.0.0.4 (0), ready;
	 * 14: 10.0.0.5 (0), ready (after 13) */
	unsigned host[] = {1, 2, 3, 4, 5};
	bool ready[] = {true, true, false, true, true};
	for (int i = 0; i < 5; i++) {
		fk.ready[10 + i] = ready[i];
		assert_int_equal(offer(&l, &fk, 10 + i, host[i], &out), 0);
	}
	assert_int_equal(serve_lobby_count(&l), 5);
	assert_int_equal(next(&l, &fk), 13); /* none held, ready, first come */
	assert_int_equal(next(&l, &fk), 14);
	assert_int_equal(next(&l, &fk), 12); /* none held, not ready: before one of 1 held, ready */
	assert_int_equal(next(&l, &fk), 11);
	assert_int_equal(next(&l, &fk), 10);
	assert_int_equal(serve_lobby_count(&l), 0);
	assert_int_equal(next(&l, &fk), -1);
}

/* The case: the attackers' addresses hold the slots and queued
 * their connections (ready: a request each) before the honest client
 * came; the honest one, holding none, gets the first slot freed, even
 * before its head came whole; then the attackers by what they hold, the
 * one that holds fewer first, the first come among equals. */
static void test_honest_first(void **state)
{
	(void)state;
	static struct serve_lobby l;
	static struct fake fk;
	struct serve_lobby_ent out;
	memset(&l, 0, sizeof(l));
	memset(&fk, 0, sizeof(fk));
	for (unsigned h = 1; h <= 8; h++)
		fk.held[h] = h == 8 ? 1 : 2; /* 10.0.0.8 holds one slot only */
	for (int i = 0; i < 40; i++) {
		fk.ready[100 + i] = true;
		assert_int_equal(offer(&l, &fk, 100 + i, 1 + (unsigned)i % 8, &out), 0);
	}
	fk.ready[999] = false; /* its request is still coming */
	assert_int_equal(offer(&l, &fk, 999, 200, &out), 0);
	assert_int_equal(next(&l, &fk), 999);
	assert_int_equal(next(&l, &fk), 107); /* 10.0.0.8's first: it holds 1 */
	assert_int_equal(next(&l, &fk), 115);
	for (int i = 0; i < 3; i++)
		assert_int_equal(next(&l, &fk), 123 + 8 * i);
	assert_int_equal(next(&l, &fk), 100); /* then the first come of those holding 2 */
	assert_int_equal(serve_lobby_count(&l), 40 - 6);
}

/* A count past UINT_MAX / 2: ranked last, no overflow (2 * held would
 * wrap to a small rank and jump the queue). */
static void test_next_huge_count(void **state)
{
	(void)state;
	static struct serve_lobby l;
	static struct fake fk;
	struct serve_lobby_ent out;
	memset(&l, 0, sizeof(l));
	memset(&fk, 0, sizeof(fk));
	fk.held[1] = UINT_MAX / 2 + 1;
	fk.held[2] = UINT_MAX / 2 - 1; /* the bound: ranked as the largest */
	fk.held[3] = UINT_MAX / 2 - 2; /* one below it: its rank is its count */
	fk.ready[1] = fk.ready[2] = fk.ready[3] = true;
	assert_int_equal(offer(&l, &fk, 1, 1, &out), 0);
	assert_int_equal(offer(&l, &fk, 2, 2, &out), 0);
	assert_int_equal(offer(&l, &fk, 3, 3, &out), 0);
	assert_int_equal(next(&l, &fk), 3);
	assert_int_equal(next(&l, &fk), 1); /* the two ranked last: the first come */
	assert_int_equal(next(&l, &fk), 2);
}

/* The lobby at its bound: SERVE_LOBBY kept.  Full of one client's
 * connections (10.0.0.1: none held, 64 waiting: it weighs 64), a
 * newcomer whose weight with itself is 64 (10.0.0.2 holding 63) is
 * refused and nothing changes; one of 63 (holding 62) is kept, the last
 * come of 10.0.0.1 out in its place (the first come stay first). */
static void test_offer_full(void **state)
{
	(void)state;
	static struct serve_lobby l, before;
	static struct fake fk;
	struct serve_lobby_ent out;
	memset(&l, 0, sizeof(l));
	memset(&fk, 0, sizeof(fk));
	_Static_assert(SERVE_LOBBY == 64, "the figures below are for 64");
	for (int i = 0; i < SERVE_LOBBY; i++)
		assert_int_equal(offer(&l, &fk, i, 1, &out), 0); /* the 64th kept: the bound */
	assert_int_equal(serve_lobby_count(&l), SERVE_LOBBY);
	fk.held[2] = 63;
	before = l;
	assert_int_equal(offer(&l, &fk, 500, 2, &out), -1);
	assert_memory_equal(&before, &l, sizeof(l));
	fk.held[2] = 62;
	assert_int_equal(offer(&l, &fk, 501, 2, &out), 1);
	assert_int_equal(out.fd, SERVE_LOBBY - 1);
	assert_int_equal(serve_lobby_count(&l), SERVE_LOBBY);
	assert_int_equal(l.ent[SERVE_LOBBY - 1].fd, 501);
	assert_int_equal(l.ent[0].fd, 0);
	/* 10.0.0.2 now weighs 63 with one in the lobby: another of it (64
	 * with itself) weighs as the heaviest (10.0.0.1: 63): refused */
	assert_int_equal(offer(&l, &fk, 502, 2, &out), -1);
	/* a newcomer holding nothing: kept, the last come of the heaviest out
	 * (10.0.0.1 and 10.0.0.2 both weigh 63: 10.0.0.2's, the last come) */
	assert_int_equal(offer(&l, &fk, 503, 3, &out), 1);
	assert_int_equal(out.fd, 501);
	assert_int_equal(l.ent[SERVE_LOBBY - 2].fd, SERVE_LOBBY - 2);
	assert_int_equal(l.ent[SERVE_LOBBY - 1].fd, 503);
	/* and the next: 10.0.0.1's last come (63 against 10.0.0.3's 1) */
	assert_int_equal(offer(&l, &fk, 504, 4, &out), 1);
	assert_int_equal(out.fd, SERVE_LOBBY - 2);
	assert_int_equal(l.ent[SERVE_LOBBY - 2].fd, 503);
	assert_int_equal(l.ent[SERVE_LOBBY - 1].fd, 504);
	/* the table's counts are asked, per entry weighed */
	assert_true(fk.asked_held >= SERVE_LOBBY);
}

/* A full lobby of many clients turns away the last come of the heaviest,
 * not the first: 10.0.0.1 holds 4 slots and has 2 waiting (fds 0 and
 * 40), the others one each and none held. */
static void test_offer_last_of_heaviest(void **state)
{
	(void)state;
	static struct serve_lobby l;
	static struct fake fk;
	struct serve_lobby_ent out;
	memset(&l, 0, sizeof(l));
	memset(&fk, 0, sizeof(fk));
	fk.held[1] = 4;
	for (int i = 0; i < SERVE_LOBBY; i++)
		assert_int_equal(offer(&l, &fk, i, i == 0 || i == 40 ? 1 : 10 + (unsigned)i, &out), 0);
	assert_int_equal(offer(&l, &fk, 900, 5, &out), 1);
	assert_int_equal(out.fd, 40);
	assert_int_equal(offer(&l, &fk, 901, 6, &out), 1); /* 10.0.0.1 weighs 5 still: its other one */
	assert_int_equal(out.fd, 0);
	/* now every client weighs 1: a newcomer's 1 + 1 is more: refused */
	assert_int_equal(offer(&l, &fk, 902, 7, &out), -1);
}

/* Writes n bytes of a request whose head ends (an empty line) at byte
 * end (0: no end) to a socket pair; the lobby's end in *fd. */
static int head_pair(size_t n, size_t end, const char *eol, int *fd)
{
	int sv[2];
	char *b = malloc(n);
	assert_non_null(b);
	memset(b, 'a', n);
	memcpy(b, "GET / HTTP/1.1\r\n", 16);
	if (end)
		memcpy(b + end - strlen(eol), eol, strlen(eol));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(send(sv[1], b, n, 0), (ssize_t)n);
	free(b);
	*fd = sv[0];
	return sv[1];
}

/* A whole request head: an empty line (CRLF CRLF, or LF LF) within the
 * first SERVE_HEAD_PEEK bytes — at the bound yes, one past no; the bytes
 * stay in the socket for libmicrohttpd. */
static void test_head_came(void **state)
{
	(void)state;
	const struct {
		size_t n, end;
		const char *eol;
		bool want;
	} cases[] = {
		{40, 40, "\r\n\r\n", true},
		{40, 30, "\n\n", true},
		{40, 0, "", false},                                     /* still coming */
		{SERVE_HEAD_PEEK, SERVE_HEAD_PEEK, "\r\n\r\n", true},   /* ends at the bound */
		{SERVE_HEAD_PEEK + 1, SERVE_HEAD_PEEK + 1, "\r\n\r\n", false}, /* one past */
		{SERVE_HEAD_PEEK + 1, SERVE_HEAD_PEEK + 1, "\n\n", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd, peer = head_pair(cases[i].n, cases[i].end, cases[i].eol, &fd);
		if (serve_lobby_head_came(fd) != cases[i].want)
			fail_msg("case %zu: %zu bytes, the head's end at %zu: %d", i, cases[i].n, cases[i].end, !cases[i].want);
		char sink[SERVE_HEAD_PEEK + 8];
		assert_int_equal(recv(fd, sink, sizeof(sink), MSG_DONTWAIT), (ssize_t)cases[i].n); /* still there */
		close(fd);
		close(peer);
	}
	/* nothing sent, just after a peek that saw a whole head (what that
	 * peek left in the buffer is not this socket's) */
	int sv[2], fd, peer = head_pair(40, 40, "\r\n\r\n", &fd);
	assert_true(serve_lobby_head_came(fd));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_false(serve_lobby_head_came(sv[0]));
	close(sv[1]);
	assert_false(serve_lobby_head_came(sv[0])); /* gone */
	close(sv[0]);
	close(fd);
	close(peer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next_order),
		cmocka_unit_test(test_honest_first),
		cmocka_unit_test(test_next_huge_count),
		cmocka_unit_test(test_offer_full),
		cmocka_unit_test(test_offer_last_of_heaviest),
		cmocka_unit_test(test_head_came),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
