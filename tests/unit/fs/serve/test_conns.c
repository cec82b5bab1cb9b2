/*
 * test_conns.c — unit tests for fs/serve/conns.c, the table of `imgfs
 * serve`'s client connections (SPEC §12): the cap per client address (an
 * IPv4 address, an IPv6 /64, a mapped IPv4 address as IPv4), the cap of
 * the table and the wake-up when a slot frees, the deadlines (no byte
 * within the idle timeout: closed; a request not complete in time: shut
 * down, seen as end of file by the peer; a connection libmicrohttpd never
 * announced: freed), the lookup of an announced connection by its peer,
 * shutting down only the use of a slot one meant, and the counts against
 * a reference model under random admits and releases (the open-addressing
 * table's deletion); on real loopback TCP connections, the whole server's
 * bounds: the slowest connection past its grace makes room (a waiting one
 * closed, a served one shut down, one at a time), and a response whose
 * client takes too little over a window is shut down while a reader that
 * takes its bytes is not; and with counters the test sets instead of the
 * kernel's (serve_conns_set_progress) and a clock it names, the same
 * judgements at each bound and one past it: the grace, the time a client
 * held us up, the keep rate, bytes unread, the minimum rate's window, its
 * stall and its rate, the next window.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "serve.h"
#include "serve_conns.h"

static struct sockaddr_storage v4(const char *addr, unsigned port)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *a = (struct sockaddr_in *)&ss;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET, addr, &a->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage v6(const char *addr, unsigned port)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
	a->sin6_family = AF_INET6;
	a->sin6_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET6, addr, &a->sin6_addr), 1);
	return ss;
}

static socklen_t len_of(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

/* One end of a fresh socket pair for the table; the other in *peer. */
static int pair(int *peer)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	*peer = sv[1];
	return sv[0];
}

static int admit(serve_conns *t, const struct sockaddr_storage *ss, int64_t now, struct serve_conn **c, int *peer)
{
	int p, fd = pair(&p);
	int rc = serve_conns_admit(t, fd, (const struct sockaddr *)ss, len_of(ss), now, c);
	if (rc < 0) {
		close(fd);
		close(p);
		p = -1;
	}
	if (peer)
		*peer = p;
	else if (p >= 0)
		close(p);
	return rc;
}

static bool closed_fd(int fd)
{
	return fcntl(fd, F_GETFD) < 0 && errno == EBADF;
}

static void test_per_client(void **state)
{
	(void)state;
	serve_conns *t;
	struct serve_conn *c[8];
	assert_int_equal(serve_conns_new(&t, 16, 3), 0);
	struct sockaddr_storage a = v4("10.0.0.1", 1000), b = v4("10.0.0.2", 1000);
	for (int i = 0; i < 3; i++)
		assert_int_equal(admit(t, &a, 0, &c[i], NULL), 0);
	assert_int_equal(admit(t, &a, 0, &c[3], NULL), -EMFILE);
	assert_int_equal(admit(t, &b, 0, &c[3], NULL), 0); /* another address */
	serve_conns_release(t, c[1]);
	assert_int_equal(admit(t, &a, 0, &c[4], NULL), 0);
	assert_int_equal(admit(t, &a, 0, &c[5], NULL), -EMFILE);

	/* IPv6: a /64 is one client; an IPv4-mapped address is its IPv4. */
	struct sockaddr_storage s1 = v6("2001:db8::1", 1), s2 = v6("2001:db8::ffff:2", 2),
	                        s3 = v6("2001:db8:0:1::1", 3), m = v6("::ffff:10.0.0.2", 4);
	for (int i = 0; i < 3; i++)
		assert_int_equal(admit(t, i == 1 ? &s2 : &s1, 0, &c[6], NULL), 0);
	assert_int_equal(admit(t, &s2, 0, &c[6], NULL), -EMFILE);
	assert_int_equal(admit(t, &s3, 0, &c[6], NULL), 0);
	assert_int_equal(admit(t, &m, 0, &c[6], NULL), 0);
	assert_int_equal(admit(t, &m, 0, &c[7], NULL), 0);
	assert_int_equal(admit(t, &b, 0, &c[7], NULL), -EMFILE); /* 10.0.0.2: 1 + 2 mapped */
	assert_string_equal(c[6]->client, "[::ffff:10.0.0.2]:4");
	assert_int_equal(serve_conns_count(t), 10); /* 3 + 1 + 3 + 1 + 2 */
	serve_conns_free(t);
}

/* What the front's lobby asks (front.c: a freed slot goes to the client
 * that holds the fewest; a full lobby turns away one of the client that
 * holds the most): the slots a client holds, keyed as the cap per client
 * is (an IPv4 address, an IPv6 /64, a mapped IPv4 address as IPv4), 0 for
 * a client that holds none, and each way a slot frees (a release, a
 * release of a slot freed already, an idle deadline) giving one back. */
static void test_held(void **state)
{
	(void)state;
	serve_conns *t;
	struct serve_conn *c[8];
	assert_int_equal(serve_conns_new(&t, 8, 8), 0);
	struct sockaddr_storage a = v4("10.0.0.1", 1000), a2 = v4("10.0.0.1", 2000), b = v4("10.0.0.2", 1000),
	                        none = v4("10.0.0.3", 1000), am = v6("::ffff:10.0.0.1", 3000),
	                        s1 = v6("2001:db8::1", 1), s2 = v6("2001:db8::ffff:2", 2), s3 = v6("2001:db8:0:1::1", 3);
#define HELD(ss) serve_conns_held(t, (const struct sockaddr *)&(ss))
	assert_int_equal(HELD(a), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(admit(t, i ? &a2 : &a, 100, &c[i], NULL), 0);
	assert_int_equal(admit(t, &b, 100, &c[3], NULL), 0);
	assert_int_equal(admit(t, &s1, 200, &c[4], NULL), 0);
	assert_int_equal(admit(t, &s2, 200, &c[5], NULL), 0);
	assert_int_equal(HELD(a), 3);
	assert_int_equal(HELD(a2), 3);
	assert_int_equal(HELD(am), 3);
	assert_int_equal(HELD(b), 1);
	assert_int_equal(HELD(none), 0);
	assert_int_equal(HELD(s1), 2);
	assert_int_equal(HELD(s3), 0);
	serve_conns_release(t, c[1]);
	assert_int_equal(HELD(a), 2);
	serve_conns_release(t, c[1]); /* freed already: nothing given back twice */
	assert_int_equal(HELD(a), 2);
	assert_int_equal(HELD(b), 1);
	assert_int_equal(serve_conns_count(t), 5);
	/* the idle deadline of those admitted at 100 (not of those at 200) */
	struct serve_due due;
	serve_conns_due(t, 100 + SERVE_IDLE_S * 1000, &due);
	assert_int_equal(due.idle, 3);
	assert_int_equal(HELD(a), 0);
	assert_int_equal(HELD(b), 0);
	assert_int_equal(HELD(s2), 2);
	assert_int_equal(serve_conns_count(t), 2);
#undef HELD
	serve_conns_free(t);
}

static void test_cap_and_wake(void **state)
{
	(void)state;
	serve_conns *t;
	struct serve_conn *c[5];
	uint64_t v;
	assert_int_equal(serve_conns_new(&t, 4, 4), 0);
	for (int i = 0; i < 4; i++) {
		struct sockaddr_storage a = v4("10.1.0.1", 2000 + (unsigned)i);
		assert_int_equal(admit(t, &a, 0, &c[i], NULL), 0);
	}
	assert_true(serve_conns_full(t));
	struct sockaddr_storage other = v4("10.1.0.9", 1);
	assert_int_equal(admit(t, &other, 0, &c[4], NULL), -ENFILE);
	while (read(serve_conns_event_fd(t), &v, sizeof(v)) > 0) /* the admits' wake-ups */
		;
	int fd = c[2]->fd;
	serve_conns_release(t, c[2]);
	assert_true(closed_fd(fd));
	assert_false(serve_conns_full(t));
	assert_int_equal(read(serve_conns_event_fd(t), &v, sizeof(v)), (ssize_t)sizeof(v)); /* the front wakes */
	assert_int_equal(admit(t, &other, 0, &c[4], NULL), 0);
	serve_conns_free(t);
}

static void test_deadlines(void **state)
{
	(void)state;
	serve_conns *t;
	struct serve_conn *idle, *slow, *quick;
	struct serve_due d;
	int p_idle, p_slow, p_quick;
	char b;
	assert_int_equal(serve_conns_new(&t, 8, 8), 0);
	struct sockaddr_storage a = v4("127.0.0.1", 1), s = v4("127.0.0.1", 2), q = v4("127.0.0.1", 3);
	assert_int_equal(admit(t, &a, 1000, &idle, &p_idle), 0);
	assert_int_equal(admit(t, &s, 1000, &slow, &p_slow), 0);
	assert_int_equal(admit(t, &q, 1000, &quick, &p_quick), 0);
	assert_int_equal(serve_conns_next_due(t), 1000 + SERVE_IDLE_S * 1000);
	uint64_t slow_gen = slow->gen;
	int idle_fd = idle->fd;

	/* Their first bytes at 2000: handed over, complete within the request's time. */
	serve_conns_request(t, slow, 2000, 2000 + SERVE_REQUEST_S * 1000, true);
	serve_conns_request(t, quick, 2000, 2000 + SERVE_REQUEST_S * 1000, true);
	assert_ptr_equal(serve_conns_started(t, (const struct sockaddr *)&q), quick);
	assert_null(serve_conns_started(t, (const struct sockaddr *)&q)); /* announced once */
	struct sockaddr_storage q_other_port = v4("127.0.0.1", 4);
	assert_null(serve_conns_started(t, (const struct sockaddr *)&q_other_port));
	serve_conns_answering(t, quick, 2000); /* its request was complete */

	serve_conns_due(t, 1000 + SERVE_IDLE_S * 1000 - 1, &d);
	assert_int_equal(d.idle + d.slow + d.lost, 0);
	serve_conns_due(t, 1000 + SERVE_IDLE_S * 1000, &d);
	assert_int_equal(d.idle, 1); /* nothing sent in time: closed */
	assert_true(closed_fd(idle_fd));
	assert_int_equal(recv(p_idle, &b, 1, 0), 0);
	assert_int_equal(serve_conns_count(t), 2);
	assert_int_equal(serve_conns_next_due(t), 2000 + SERVE_REQUEST_S * 1000);

	serve_conns_due(t, 2000 + SERVE_REQUEST_S * 1000, &d);
	assert_int_equal(d.slow, 1); /* not complete in time: shut down */
	assert_int_equal(slow->state, SERVE_CONN_SHUT);
	assert_int_equal(recv(p_slow, &b, 1, 0), 0); /* the peer sees the end */
	assert_false(serve_conns_shut(t, slow, slow_gen)); /* once */
	assert_int_equal(quick->state, SERVE_CONN_ANSWERING);

	/* Never announced by libmicrohttpd: freed a request's time later. */
	serve_conns_due(t, 2000 + 2 * SERVE_REQUEST_S * 1000, &d);
	assert_int_equal(d.lost, 1);
	assert_int_equal(serve_conns_count(t), 1);

	/* The quick one's response ended: its next request has the idle time. */
	serve_conns_request(t, quick, 50000, 50000 + SERVE_IDLE_S * 1000, false);
	assert_int_equal(serve_conns_next_due(t), 50000 + SERVE_IDLE_S * 1000);
	serve_conns_due(t, 50000 + SERVE_IDLE_S * 1000, &d);
	assert_int_equal(d.slow, 1);
	assert_int_equal(recv(p_quick, &b, 1, 0), 0);
	assert_int_equal(serve_conns_next_due(t), 0); /* shut, announced: libmicrohttpd closes it */
	serve_conns_release(t, quick);
	assert_int_equal(serve_conns_count(t), 0);
	close(p_idle);
	close(p_slow);
	close(p_quick);
	serve_conns_free(t);
}

static void test_shut_gen(void **state)
{
	(void)state;
	serve_conns *t;
	struct serve_conn *c, *again;
	int peer, peer2;
	char b;
	assert_int_equal(serve_conns_new(&t, 1, 1), 0);
	struct sockaddr_storage a = v4("192.0.2.7", 80);
	assert_int_equal(admit(t, &a, 0, &c, &peer), 0);
	uint64_t old = c->gen;
	assert_false(serve_conns_shut(t, c, old)); /* the front's: no transfer to stop */
	serve_conns_request(t, c, 0, 10, true);
	serve_conns_release(t, c);
	close(peer);
	/* The slot's next use is not the one a late stop meant. */
	assert_int_equal(admit(t, &a, 0, &again, &peer2), 0);
	assert_ptr_equal(again, c);
	serve_conns_request(t, again, 0, 100000, true);
	serve_conns_answering(t, again, 0);
	assert_false(serve_conns_shut(t, again, old));
	assert_int_equal(again->state, SERVE_CONN_ANSWERING);
	assert_true(serve_conns_shut(t, again, again->gen));
	assert_int_equal(recv(peer2, &b, 1, 0), 0);
	assert_false(serve_conns_peer_gone(t, again)); /* not TCP: cannot tell */
	close(peer2);
	serve_conns_free(t);
}

/* Random admits and releases over a few addresses, against counts kept
 * here: every admit is refused exactly when the model says so. */
static void test_against_model(void **state)
{
	(void)state;
	enum { CAP = 64, PER = 3, ADDRS = 40, STEPS = 20000 };
	serve_conns *t;
	struct serve_conn *held[CAP];
	int held_addr[CAP], nheld = 0, count[ADDRS] = {0};
	unsigned seed = 12345;
	assert_int_equal(serve_conns_new(&t, CAP, PER), 0);
	for (int step = 0; step < STEPS; step++) {
		seed = seed * 1103515245u + 12345u;
		unsigned r = seed >> 8;
		if (r % 3 != 0 || nheld == 0) {
			int ai = (int)(r / 3 % ADDRS);
			char addr[32];
			snprintf(addr, sizeof(addr), "10.%d.%d.1", ai % 7, ai);
			struct sockaddr_storage ss = v4(addr, 1000 + (unsigned)step % 50000);
			struct serve_conn *c;
			int want = nheld == CAP ? -ENFILE : count[ai] >= PER ? -EMFILE : 0;
			int rc = admit(t, &ss, 0, &c, NULL);
			if (rc != want)
				fail_msg("step %d: admit %s: %d, the model says %d", step, addr, rc, want);
			if (rc == 0) {
				held[nheld] = c;
				held_addr[nheld++] = ai;
				count[ai]++;
			}
		} else {
			int i = (int)(r / 3 % (unsigned)nheld);
			serve_conns_release(t, held[i]);
			count[held_addr[i]]--;
			held[i] = held[--nheld];
			held_addr[i] = held_addr[nheld];
		}
		assert_int_equal(serve_conns_count(t), (unsigned)nheld);
	}
	serve_conns_free(t);
}

/* ---- the whole server, on loopback TCP (the kernel's counts) ---------------- */

static int tcp_listener(struct sockaddr_in *at)
{
	socklen_t len = sizeof(*at);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	*at = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)at, sizeof(*at)), 0);
	assert_int_equal(listen(l, 16), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)at, &len), 0);
	return l;
}

/* A client connected to l (rcvbuf bytes of receive buffer, 0: the
 * default) and its accepted socket, admitted at now (ms). */
static struct serve_conn *tcp_admit(serve_conns *t, int l, const struct sockaddr_in *at, int64_t now, int rcvbuf,
                                    int *client)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct serve_conn *c;
	*client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (rcvbuf)
		setsockopt(*client, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	assert_int_equal(connect(*client, (const struct sockaddr *)at, sizeof(*at)), 0);
	int fd = accept4(l, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(serve_conns_admit(t, fd, (struct sockaddr *)&ss, len, now, &c), 0);
	return c;
}

static void test_evict(void **state)
{
	(void)state;
	serve_conns *t;
	struct sockaddr_in at;
	struct serve_evicted ev;
	int64_t retry;
	int l = tcp_listener(&at), ca, cb, cc, cd;
	char bytes[1000] = {0};
	assert_int_equal(serve_conns_new(&t, 3, 8), 0);
	serve_conns_set_pace(t, 500, 1024, 1000);
	struct serve_conn *a = tcp_admit(t, l, &at, 0, 0, &ca), *b = tcp_admit(t, l, &at, 0, 0, &cb);
	struct serve_conn *c = tcp_admit(t, l, &at, 0, 0, &cc);
	assert_int_equal(send(cb, bytes, 1000, 0), 1000);
	assert_int_equal(send(cc, bytes, 10, 0), 10);
	assert_true(serve_conns_full(t));

	/* All within the grace: none, and when to ask again. */
	assert_int_equal(serve_conns_evict(t, 100, 1, &ev, &retry), 0);
	assert_int_equal(retry, 500);
	/* Past it: the one that moved nothing, a waiting one: freed at once. */
	char a_client[64];
	snprintf(a_client, sizeof(a_client), "%s", a->client);
	assert_int_equal(serve_conns_evict(t, 1000, 1, &ev, &retry), 1);
	assert_string_equal(ev.client, a_client);
	assert_int_equal(ev.bytes, 0);
	assert_false(serve_conns_full(t));
	/* A young one is spared; of the others, 10 bytes are slower than 1000. */
	struct serve_conn *d = tcp_admit(t, l, &at, 1000, 0, &cd);
	assert_int_equal(serve_conns_evict(t, 1200, 1, &ev, &retry), 1);
	assert_int_equal(ev.bytes, 10);
	assert_int_equal(c->state, SERVE_CONN_FREE);
	assert_int_equal(b->state, SERVE_CONN_WAITING);
	assert_int_equal(serve_conns_count(t), 2);
	/* As many as wait, slowest first: three waiting, two past the grace. */
	c = tcp_admit(t, l, &at, 1200, 0, &cc);
	assert_int_equal(send(cd, bytes, 100, 0), 100);
	assert_int_equal(serve_conns_evict(t, 1600, 3, &ev, &retry), 2);
	assert_int_equal(ev.bytes, 1000); /* the last, the faster */
	assert_int_equal(b->state, SERVE_CONN_FREE);
	assert_int_equal(d->state, SERVE_CONN_FREE);
	assert_int_equal(c->state, SERVE_CONN_WAITING);
	assert_int_equal(serve_conns_count(t), 1);
	serve_conns_free(t);
	close(ca);
	close(cc);
	close(cd);

	/* A served connection is shut down, and nothing more is closed until
	 * libmicrohttpd lets it go (or a second passed). */
	assert_int_equal(serve_conns_new(&t, 1, 8), 0);
	serve_conns_set_pace(t, 500, 1024, 1000);
	b = tcp_admit(t, l, &at, 0, 0, &ca);
	serve_conns_request(t, b, 0, 20000, true);
	assert_int_equal(serve_conns_evict(t, 1000, 1, &ev, &retry), 1);
	assert_int_equal(b->state, SERVE_CONN_SHUT);
	assert_non_null(strstr(serve_conns_why(t, b), "to make room"));
	assert_int_equal(recv(ca, bytes, sizeof(bytes), 0), 0); /* the client sees the end */
	assert_int_equal(serve_conns_evict(t, 1100, 1, &ev, &retry), 0);
	assert_int_equal(retry, 2000);
	serve_conns_release(t, b);
	assert_int_equal(serve_conns_evict(t, 1200, 1, &ev, &retry), 0); /* room: nothing to do */
	assert_int_equal(ev.client[0], '\0');
	assert_false(serve_conns_full(t));
	/* Let go, it is no longer in flight: within the second, the next
	 * one past its grace makes room at once. */
	c = tcp_admit(t, l, &at, 0, 0, &cc);
	assert_int_equal(serve_conns_evict(t, 1300, 1, &ev, &retry), 1);
	assert_int_equal(c->state, SERVE_CONN_FREE);
	serve_conns_free(t);
	close(ca);
	close(cb);
	close(cc);

	/* Equally slow (nothing moved): the oldest goes first. */
	assert_int_equal(serve_conns_new(&t, 2, 8), 0);
	serve_conns_set_pace(t, 500, 1024, 1000);
	a = tcp_admit(t, l, &at, 100, 0, &ca);
	b = tcp_admit(t, l, &at, 0, 0, &cb);
	assert_int_equal(serve_conns_evict(t, 1000, 1, &ev, &retry), 1);
	assert_int_equal(b->state, SERVE_CONN_FREE);
	assert_int_equal(a->state, SERVE_CONN_WAITING);
	assert_int_equal(ev.age_ms, 1000);
	serve_conns_free(t);
	close(ca);
	close(cb);
	close(l);
}

/* Writes to fd until its socket is full. */
static void fill(int fd)
{
	static char buf[65536];
	while (send(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
		;
}

static void nap_ms(int ms)
{
	nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000L}, NULL);
}

/* Reads what waits on fd, without waiting; the bytes read. */
static size_t drain(int fd)
{
	static char sink[1 << 20];
	size_t got = 0;
	ssize_t n;
	while ((n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT)) > 0)
		got += (size_t)n;
	return got;
}

/* Issue 47: judged by what the client does, in real time (the kernel counts
 * a window's stalls in real microseconds).  Past the grace, with as many
 * waiting as there are connections: a response we sent nothing of (a
 * server short of CPU), one whose client takes every byte at once, and one
 * whose client took megabytes fast and then paused (short of CPU itself)
 * are never closed, however many wait, nor is one whose response ended a
 * moment ago (its next request is owed from then), nor one whose request
 * came at once and waits for us to read it or to answer it; a reader whose window holds our
 * bytes back is, and so are a connection that owes its request and one
 * that owed it for the grace before it was answered. */
static void test_evict_judged(void **state)
{
	(void)state;
	serve_conns *t;
	struct sockaddr_in at;
	struct serve_evicted ev;
	int64_t retry;
	int l = tcp_listener(&at), cs, cf, cr, co, cp, cl, ck, cq, cd;
	static const char get[] = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
	char sink[64];
	assert_int_equal(serve_conns_new(&t, 9, 9), 0);
	serve_conns_set_pace(t, 200, 1024, 1000);
	int64_t t0 = serve_now_ms();
	struct serve_conn *starved = tcp_admit(t, l, &at, t0, 0, &cs), *fast = tcp_admit(t, l, &at, t0, 0, &cf);
	struct serve_conn *reader = tcp_admit(t, l, &at, t0, 4096, &cr), *owes = tcp_admit(t, l, &at, t0, 0, &co);
	struct serve_conn *paused = tcp_admit(t, l, &at, t0, 0, &cp), *late = tcp_admit(t, l, &at, t0, 0, &cl);
	struct serve_conn *kept = tcp_admit(t, l, &at, t0, 0, &ck);
	/* prompt: its request sent at once, not read by us (a server short of
	 * CPU); parsed: the same, read and found whole at the end. */
	struct serve_conn *prompt = tcp_admit(t, l, &at, t0, 0, &cq), *parsed = tcp_admit(t, l, &at, t0, 0, &cd);
	assert_int_equal(send(cq, get, sizeof(get) - 1, 0), (ssize_t)sizeof(get) - 1);
	assert_int_equal(send(cd, get, sizeof(get) - 1, 0), (ssize_t)sizeof(get) - 1);
	serve_conns_request(t, prompt, t0, t0 + 20000, true);
	serve_conns_request(t, parsed, t0, t0 + 20000, true);

	struct serve_conn *answered[] = {starved, fast, reader, paused, kept};
	for (int i = 0; i < 5; i++) {
		serve_conns_request(t, answered[i], t0, t0 + 20000, true);
		serve_conns_answering(t, answered[i], t0);
	}
	serve_conns_request(t, owes, t0, t0 + 20000, true);
	serve_conns_request(t, late, t0, t0 + 20000, true);
	fill(reader->fd); /* its window closes: it takes nothing */
	size_t took = 0;
	for (int i = 0; i < 40 || took < (4u << 20); i++) {
		fill(paused->fd); /* megabytes taken at once, then nothing */
		took += drain(cp);
		assert_true(i < 2000);
	}
	fill(paused->fd);
	for (int i = 0; i < 60; i++) {
		fill(fast->fd); /* the fast one takes all we send */
		drain(cf);
		nap_ms(5);
	}
	assert_int_equal(send(cl, get, sizeof(get) - 1, 0), (ssize_t)sizeof(get) - 1);
	/* parsed's request, there since the start, is read and whole only now. */
	assert_int_equal(recv(parsed->fd, sink, sizeof(sink), 0), (ssize_t)sizeof(get) - 1);
	nap_ms(5);
	int64_t now = serve_now_ms();
	serve_conns_asked(t, parsed, now);
	serve_conns_answering(t, late, now); /* its request came after the grace */
	serve_conns_request(t, kept, now - 50, now + 10000, false); /* its response ended 50 ms ago */
	assert_true(now - t0 >= 300);
	assert_int_equal(serve_conns_evict(t, now, 9, &ev, &retry), 3);
	assert_int_equal(reader->state, SERVE_CONN_SHUT);
	assert_int_equal(owes->state, SERVE_CONN_SHUT);
	assert_int_equal(late->state, SERVE_CONN_SHUT);
	assert_int_equal(starved->state, SERVE_CONN_ANSWERING);
	assert_int_equal(fast->state, SERVE_CONN_ANSWERING);
	assert_int_equal(paused->state, SERVE_CONN_ANSWERING);
	assert_int_equal(kept->state, SERVE_CONN_REQUEST);
	assert_int_equal(prompt->state, SERVE_CONN_REQUEST);
	assert_int_equal(parsed->state, SERVE_CONN_REQUEST);
	/* Asked again, however many wait: nothing more to close. */
	serve_conns_release(t, reader);
	serve_conns_release(t, owes);
	serve_conns_release(t, late);
	for (int i = 0; i < 3; i++)
		assert_int_equal(tcp_admit(t, l, &at, now, 0, i == 0 ? &cr : i == 1 ? &co : &cl)->state, SERVE_CONN_WAITING);
	assert_int_equal(serve_conns_evict(t, now + 100, 9, &ev, &retry), 0);
	assert_int_equal(starved->state, SERVE_CONN_ANSWERING);
	assert_int_equal(fast->state, SERVE_CONN_ANSWERING);
	assert_int_equal(paused->state, SERVE_CONN_ANSWERING);
	serve_conns_free(t);
	close(cs);
	close(cf);
	close(cr);
	close(co);
	close(cp);
	close(cl);
	close(ck);
	close(cq);
	close(cd);
	close(l);
}

/* A response's end queued when its connection is shut between requests
 * (its next request owed): the client still gets every byte, then the
 * end; one shut while answering is reset (what was queued is dropped). */
static void test_shut_keeps_the_end(void **state)
{
	(void)state;
	serve_conns *t;
	struct sockaddr_in at;
	static char buf[1 << 16];
	size_t sent[2] = {0, 0};
	int l = tcp_listener(&at), ca, cb;
	assert_int_equal(serve_conns_new(&t, 2, 8), 0);
	struct serve_conn *a = tcp_admit(t, l, &at, 0, 4096, &ca), *b = tcp_admit(t, l, &at, 0, 4096, &cb);
	for (int i = 0; i < 2; i++) {
		struct serve_conn *c = i ? b : a;
		ssize_t n;
		serve_conns_request(t, c, 0, 20000, true);
		serve_conns_answering(t, c, 0);
		while ((n = send(c->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL)) > 0)
			sent[i] += (size_t)n; /* more than the client's window: queued here */
	}
	serve_conns_request(t, a, 10, 20000, false); /* a's response ended: its next request owed */
	assert_true(serve_conns_shut(t, a, a->gen));
	assert_true(serve_conns_shut(t, b, b->gen));
	serve_conns_release(t, a); /* libmicrohttpd's close, then ours */
	serve_conns_release(t, b);
	size_t got = 0;
	ssize_t n;
	while ((n = recv(ca, buf, sizeof(buf), 0)) > 0)
		got += (size_t)n;
	assert_int_equal(n, 0); /* the end, after every byte */
	assert_int_equal(got, sent[0]);
	got = 0;
	while ((n = recv(cb, buf, sizeof(buf), 0)) > 0)
		got += (size_t)n;
	assert_true(got < sent[1]); /* reset: the rest dropped */
	serve_conns_free(t);
	close(ca);
	close(cb);
	close(l);
}

static void test_pace(void **state)
{
	(void)state;
	serve_conns *t;
	struct sockaddr_in at;
	struct serve_paced p;
	int l = tcp_listener(&at), slow, fast, starved;
	assert_int_equal(serve_conns_new(&t, 4, 8), 0);
	/* 64 KiB a second over 0.3 s: above what a full socket's zero-window
	 * probes move.  Real time: the kernel counts a window's stalls so. */
	serve_conns_set_pace(t, 500, 65536, 300);
	int64_t t0 = serve_now_ms();
	struct serve_conn *s = tcp_admit(t, l, &at, t0, 4096, &slow), *f = tcp_admit(t, l, &at, t0, 0, &fast);
	struct serve_conn *v = tcp_admit(t, l, &at, t0, 4096, &starved);
	for (struct serve_conn *c = s; c; c = c == s ? f : c == f ? v : NULL) {
		serve_conns_request(t, c, t0, t0 + 20000, true);
		serve_conns_answering(t, c, t0);
	}
	fill(s->fd);
	fill(f->fd);
	serve_conns_pace(t, t0, &p); /* the windows begin */
	assert_int_equal(p.slow, 0);
	/* The fast one takes its bytes; the slow one takes nothing; the
	 * starved one is sent nothing until the window's end (a server short
	 * of CPU), then more than its window: bytes wait for it, it took
	 * little, but its window held nothing back for the window. */
	size_t got = 0;
	int64_t now;
	while ((now = serve_now_ms()) < t0 + 320) {
		got += drain(fast);
		fill(f->fd);
		drain(starved);
		nap_ms(5);
	}
	assert_true(got >= (64u << 10));
	fill(v->fd);
	serve_conns_pace(t, t0 + 150, &p); /* within the window: nothing judged */
	assert_int_equal(p.slow, 0);
	serve_conns_pace(t, now, &p);
	assert_int_equal(p.slow, 1);
	assert_string_equal(p.client, s->client);
	assert_int_equal(s->state, SERVE_CONN_SHUT);
	char why[96];
	snprintf(why, sizeof(why), "its client took fewer than 65536 bytes/s over %d s", 0);
	assert_string_equal(serve_conns_why(t, s), why);
	assert_int_equal(f->state, SERVE_CONN_ANSWERING);
	assert_null(serve_conns_why(t, f));
	assert_int_equal(v->state, SERVE_CONN_ANSWERING);
	assert_null(serve_conns_why(t, v));
	serve_conns_free(t);
	close(slow);
	close(fast);
	close(starved);
	close(l);
}

/* ---- judged by counters (issue 71's seam: serve_conns_set_progress) --------------- */

/* The counts of each descriptor, as the test sets them: the table's
 * judgement at each bound, without a clock or a client. */
struct fake_counts {
	struct serve_progress p[1024];
	bool none[1024]; /* no counts (not TCP) */
};

static int fake_progress(void *arg, int fd, struct serve_progress *out)
{
	struct fake_counts *fc = arg;
	assert_true(fd >= 0 && fd < 1024);
	if (fc->none[fd])
		return -EPERM; /* any -errno: -1 the nearest to 0 */
	*out = fc->p[fd];
	return 0;
}

/* A table of cap slots judged by fc: grace 500 ms, 1024 bytes/s over
 * windows of 1000 ms. */
static serve_conns *counted(unsigned cap, struct fake_counts *fc)
{
	serve_conns *t;
	memset(fc, 0, sizeof(*fc));
	assert_int_equal(serve_conns_new(&t, cap, 16), 0);
	serve_conns_set_pace(t, 500, 1024, 1000);
	serve_conns_set_progress(t, fake_progress, fc);
	return t;
}

/* A connection admitted at 0 and answering since 0 (its request came at
 * once: nothing owed). */
static struct serve_conn *answering(serve_conns *t, unsigned host, int *peer)
{
	struct sockaddr_storage ss = v4("10.1.0.1", 1000 + host);
	struct serve_conn *c;
	((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(0x0a010000u | host);
	assert_int_equal(admit(t, &ss, 0, &c, peer), 0);
	serve_conns_request(t, c, 0, 20000, true);
	serve_conns_answering(t, c, 0);
	return c;
}

/* Closed to make room at each bound: the grace on its age (499 ms kept,
 * 500 closed), the time its client held us up (499 ms of window stalls
 * kept, 500 closed), the keep rate (64 KiB a second of that time, sent
 * and received together, kept; a byte less closed), a request's bytes
 * unread by us (owed only until they came: 400 ms kept, 500 closed), a
 * request that came whole (owed until its last bytes came, not until we
 * read it), a socket with no counts (stalled all its age), the slowest
 * first and the oldest among equals. */
static void test_evict_counted(void **state)
{
	(void)state;
	static struct fake_counts fc;
	struct serve_evicted ev;
	struct serve_conn *c;
	int64_t retry;
	int peer;

	/* the grace: a waiting connection that sent nothing */
	serve_conns *t = counted(1, &fc);
	struct sockaddr_storage ss = v4("10.1.0.1", 1000);
	assert_int_equal(admit(t, &ss, 0, &c, &peer), 0);
	assert_int_equal(serve_conns_evict(t, 499, 1, &ev, &retry), 0);
	assert_int_equal(retry, 500);
	assert_int_equal(c->state, SERVE_CONN_WAITING);
	assert_int_equal(serve_conns_evict(t, 500, 1, &ev, &retry), 1);
	assert_int_equal(c->state, SERVE_CONN_FREE);
	serve_conns_free(t);
	close(peer);

	/* held up by its window: 499 ms kept, 500 closed */
	t = counted(1, &fc);
	c = answering(t, 1, &peer);
	fc.p[c->fd].stalled_us = 499000;
	fc.p[c->fd].queued = 4096;
	assert_int_equal(serve_conns_evict(t, 10000, 1, &ev, &retry), 0);
	assert_int_equal(c->state, SERVE_CONN_ANSWERING);
	fc.p[c->fd].stalled_us = 500000;
	assert_int_equal(serve_conns_evict(t, 10000, 1, &ev, &retry), 1);
	assert_int_equal(c->state, SERVE_CONN_SHUT);
	assert_int_equal(ev.age_ms, 10000);
	serve_conns_free(t);
	close(peer);

	/* the keep rate: bytes per second of the time held up, both ways */
	const struct {
		uint64_t sent, received;
		bool closed;
	} rates[] = {
		{65536, 0, false}, {65535, 0, true}, {0, 65536, false}, {0, 65535, true}, {32768, 32768, false},
		{32768, 32767, true},
	};
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		t = counted(1, &fc);
		c = answering(t, 1, &peer);
		fc.p[c->fd] = (struct serve_progress){.stalled_us = 1000000, .sent = rates[i].sent,
		                                      .received = rates[i].received, .queued = 1};
		if (serve_conns_evict(t, 5000, 1, &ev, &retry) != (unsigned)rates[i].closed)
			fail_msg("%llu sent, %llu received in 1 s held: closed %d", (unsigned long long)rates[i].sent,
			         (unsigned long long)rates[i].received, !rates[i].closed);
		if (rates[i].closed)
			assert_int_equal(ev.bytes, rates[i].sent + rates[i].received);
		serve_conns_free(t);
		close(peer);
	}

	/* a request's bytes wait unread (we are behind): owed until they came */
	for (int quiet = 500; quiet <= 600; quiet += 100) {
		t = counted(1, &fc);
		assert_int_equal(admit(t, &ss, 0, &c, &peer), 0);
		fc.p[c->fd] = (struct serve_progress){.unread = 10, .received = 10, .quiet_ms = (uint64_t)quiet};
		/* at 1000: owed from 0 until 1000 - quiet */
		assert_int_equal(serve_conns_evict(t, 1000, 1, &ev, &retry), quiet == 500 ? 1 : 0);
		serve_conns_free(t);
		close(peer);
	}

	/* a request that came whole at 800, its last bytes 300 ms before:
	 * owed 500 ms (closed); 301 ms before: 499 (kept) */
	for (int quiet = 300; quiet <= 301; quiet++) {
		t = counted(1, &fc);
		assert_int_equal(admit(t, &ss, 0, &c, &peer), 0);
		serve_conns_request(t, c, 0, 20000, true);
		fc.p[c->fd].quiet_ms = (uint64_t)quiet;
		serve_conns_asked(t, c, 800);
		fc.p[c->fd].quiet_ms = 0;
		assert_int_equal(serve_conns_evict(t, 5000, 1, &ev, &retry), quiet == 300 ? 1 : 0);
		serve_conns_free(t);
		close(peer);
	}

	/* no counts: nothing moved as far as we know, stalled all its age */
	t = counted(1, &fc);
	c = answering(t, 1, &peer);
	fc.none[c->fd] = true;
	assert_int_equal(serve_conns_evict(t, 500, 1, &ev, &retry), 1);
	assert_int_equal(c->state, SERVE_CONN_SHUT);
	serve_conns_free(t);
	close(peer);

	/* the slowest first; equals: the oldest */
	int pa, pb, pc;
	t = counted(3, &fc);
	struct serve_conn *a = answering(t, 1, &pa), *b = answering(t, 2, &pb);
	struct sockaddr_storage s3 = v4("10.1.0.3", 1003);
	assert_int_equal(admit(t, &s3, 100, &c, &pc), 0);
	serve_conns_request(t, c, 100, 20000, true);
	serve_conns_answering(t, c, 100);
	fc.p[a->fd] = (struct serve_progress){.stalled_us = 1000000, .sent = 2000};
	fc.p[b->fd] = (struct serve_progress){.stalled_us = 1000000, .sent = 1000};
	fc.p[c->fd] = (struct serve_progress){.stalled_us = 1000000, .sent = 1000};
	assert_int_equal(serve_conns_evict(t, 5000, 1, &ev, &retry), 1);
	assert_int_equal(b->state, SERVE_CONN_SHUT); /* 1000 B/s, older than c */
	assert_int_equal(c->state, SERVE_CONN_ANSWERING);
	assert_int_equal(a->state, SERVE_CONN_ANSWERING);
	serve_conns_release(t, b);
	b = answering(t, 4, &peer);
	fc.p[b->fd] = (struct serve_progress){0};
	assert_int_equal(serve_conns_evict(t, 5000, 2, &ev, &retry), 2);
	assert_int_equal(c->state, SERVE_CONN_SHUT);
	assert_int_equal(a->state, SERVE_CONN_SHUT);
	assert_int_equal(ev.bytes, 2000); /* the last closed: the faster */
	serve_conns_free(t);
	close(pa);
	close(pb);
	close(pc);
	close(peer);
}

/* The minimum rate at each bound, over windows of 1000 ms at 1024 bytes
 * a second: not judged before the window's end (999 ms); at it, a client
 * that took 1023 bytes while bytes waited and its window held them back
 * for half the window is shut down — with 1024 bytes taken, a stall of
 * 499 ms, or nothing waiting, it is not; the next window begins where the
 * last ended (a client fast in the first and slow in the second is shut
 * at the second's end); a connection without counts is never judged. */
static void test_pace_counted(void **state)
{
	(void)state;
	static struct fake_counts fc;
	struct serve_paced p;
	int peer[7];
	serve_conns *t = counted(7, &fc);
	struct serve_conn *c[7];
	const struct {
		uint64_t got, stalled_ms, queued;
		bool slow;
	} w1[6] = {
		{1023, 500, 1, true}, {1024, 500, 1, false}, {1023, 499, 1, false}, {1023, 500, 0, false},
		{5000, 1000, 1, false}, {0, 1000, 1, true},
	};
	for (int i = 0; i < 6; i++) {
		c[i] = answering(t, 1 + (unsigned)i, &peer[i]);
		fc.p[c[i]->fd] = (struct serve_progress){.sent = 100, .stalled_us = 7000}; /* before the window */
	}
	c[6] = answering(t, 7, &peer[6]); /* no counts: never judged (after a slow one's) */
	fc.none[c[6]->fd] = true;
	serve_conns_pace(t, 10000, &p); /* the windows begin (0 is "not yet": a clock that starts later) */
	assert_int_equal(p.slow, 0);
	for (int i = 0; i < 6; i++)
		fc.p[c[i]->fd] = (struct serve_progress){.sent = 100 + w1[i].got, .stalled_us = 7000 + w1[i].stalled_ms * 1000,
		                                         .queued = w1[i].queued};
	serve_conns_pace(t, 10999, &p);
	assert_int_equal(p.slow, 0);
	serve_conns_pace(t, 11000, &p);
	assert_int_equal(p.slow, 2);
	for (int i = 0; i < 6; i++) {
		if ((c[i]->state == SERVE_CONN_SHUT) != w1[i].slow)
			fail_msg("window 1, connection %d: got %llu, stalled %llu ms, queued %llu: shut %d", i,
			         (unsigned long long)w1[i].got, (unsigned long long)w1[i].stalled_ms,
			         (unsigned long long)w1[i].queued, !w1[i].slow);
		if (w1[i].slow)
			assert_string_equal(serve_conns_why(t, c[i]), "its client took fewer than 1024 bytes/s over 1 s");
		else
			assert_null(serve_conns_why(t, c[i]));
	}
	assert_string_equal(p.client, c[5]->client);
	assert_int_equal(p.bytes, 0);
	/* the second window, from 11000: connection 4 took 5000 in the first,
	 * 1000 in this one */
	fc.p[c[4]->fd].sent += 1000;
	fc.p[c[4]->fd].stalled_us += 600000;
	fc.p[c[4]->fd].queued = 1;
	serve_conns_pace(t, 12000, &p);
	assert_int_equal(p.slow, 1);
	assert_int_equal(c[4]->state, SERVE_CONN_SHUT);
	assert_int_equal(p.bytes, 1000);
	assert_int_equal(c[6]->state, SERVE_CONN_ANSWERING);
	serve_conns_free(t);
	for (int i = 0; i < 7; i++)
		close(peer[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_per_client),
		cmocka_unit_test(test_held),
		cmocka_unit_test(test_cap_and_wake),
		cmocka_unit_test(test_deadlines),
		cmocka_unit_test(test_shut_gen),
		cmocka_unit_test(test_against_model),
		cmocka_unit_test(test_evict),
		cmocka_unit_test(test_evict_judged),
		cmocka_unit_test(test_shut_keeps_the_end),
		cmocka_unit_test(test_pace),
		cmocka_unit_test(test_evict_counted),
		cmocka_unit_test(test_pace_counted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
