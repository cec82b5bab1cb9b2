/*
 * test_pace.c — unit tests for fs/serve/pace.c: the kernel's counts of a
 * connection become serve_progress (serve_progress_from), each field from
 * its own source (a struct tcp_info made here, every field a different
 * value, so a field read from its neighbour shows), a negative queue
 * count as 0, and a struct tcp_info that stops short of tcpi_rwnd_limited
 * (a kernel older than 4.10) refused at the bound and accepted at it; on
 * real loopback TCP, serve_socket_progress's counts of bytes sent, taken,
 * queued and waiting, waited for as conditions (the kernel's
 * acknowledgements), never by a clock; a socket pair (not TCP) refused;
 * and serve_listen_waiting's backlog (3 connected, 2 after an accept; 1
 * when none waits or the socket is not TCP).
 */
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
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

static void test_fields(void **state)
{
	(void)state;
	struct tcp_info ti;
	struct serve_progress p;
	memset(&ti, 0x5a, sizeof(ti)); /* every other field: noise */
	ti.tcpi_bytes_acked = 1001;
	ti.tcpi_bytes_received = 2002;
	ti.tcpi_rwnd_limited = 3003;
	ti.tcpi_last_data_recv = 4004;
	ti.tcpi_last_data_sent = 9009;
	ti.tcpi_last_ack_recv = 9119;
	ti.tcpi_bytes_sent = 9229;
	ti.tcpi_busy_time = 9339;
	ti.tcpi_sndbuf_limited = 9449;
	memset(&p, 0, sizeof(p));
	assert_int_equal(serve_progress_from(&ti, sizeof(ti), 5005, 6006, &p), 0);
	assert_int_equal(p.sent, 1001);
	assert_int_equal(p.received, 2002);
	assert_int_equal(p.stalled_us, 3003);
	assert_int_equal(p.quiet_ms, 4004);
	assert_int_equal(p.queued, 5005);
	assert_int_equal(p.unread, 6006);
	/* one byte each: a count (the smallest) */
	assert_int_equal(serve_progress_from(&ti, sizeof(ti), 1, 1, &p), 0);
	assert_int_equal(p.queued, 1);
	assert_int_equal(p.unread, 1);
	/* a failed ioctl's count is not a count */
	assert_int_equal(serve_progress_from(&ti, sizeof(ti), -1, -7, &p), 0);
	assert_int_equal(p.queued, 0);
	assert_int_equal(p.unread, 0);
}

/* The kernel fills as much of struct tcp_info as it knows: up to and with
 * tcpi_rwnd_limited it is used, a byte short refused (nothing written). */
static void test_short_info(void **state)
{
	(void)state;
	struct tcp_info ti;
	struct serve_progress p, before;
	socklen_t need = (socklen_t)(offsetof(struct tcp_info, tcpi_rwnd_limited) + sizeof(ti.tcpi_rwnd_limited));
	memset(&ti, 0, sizeof(ti));
	ti.tcpi_rwnd_limited = 77;
	memset(&p, 0xee, sizeof(p));
	before = p;
	assert_int_equal(serve_progress_from(&ti, need - 1, 1, 1, &p), -ENOTSUP);
	assert_memory_equal(&p, &before, sizeof(p));
	assert_int_equal(serve_progress_from(&ti, need, 1, 1, &p), 0);
	assert_int_equal(p.stalled_us, 77);
}

/* Reads what waits on fd until n bytes came. */
static void read_n(int fd, size_t n)
{
	char buf[4096];
	while (n) {
		ssize_t got = recv(fd, buf, n < sizeof(buf) ? n : sizeof(buf), 0);
		assert_true(got > 0);
		n -= (size_t)got;
	}
}

/* Real loopback TCP: the counts the table judges by.  Our 3000 bytes
 * taken by the client: sent 3000 once acknowledged, nothing queued; its
 * 700 bytes: received 700, unread 700 until read, 0 after. */
static void test_socket(void **state)
{
	(void)state;
	struct sockaddr_in at = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(at);
	struct serve_progress p;
	char bytes[3000] = {0};
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(l, (struct sockaddr *)&at, sizeof(at)), 0);
	assert_int_equal(listen(l, 4), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&at, &len), 0);
	assert_int_equal(connect(c, (struct sockaddr *)&at, sizeof(at)), 0);
	int s = accept(l, NULL, NULL);
	assert_true(s >= 0);
	assert_int_equal(serve_socket_progress(s, &p), 0);
	assert_int_equal(p.sent, 0);
	assert_int_equal(p.received, 0);
	assert_int_equal(send(s, bytes, sizeof(bytes), 0), (ssize_t)sizeof(bytes));
	read_n(c, sizeof(bytes));
	/* acknowledged: the kernel's ack follows the read's delivery */
	for (int i = 0;; i++) {
		assert_int_equal(serve_socket_progress(s, &p), 0);
		if (p.sent == sizeof(bytes) && p.queued == 0)
			break;
		assert_true(i < 100000);
		poll(NULL, 0, 1);
	}
	assert_int_equal(send(c, bytes, 700, 0), 700);
	struct pollfd pf = {.fd = s, .events = POLLIN};
	assert_int_equal(poll(&pf, 1, -1), 1);
	for (int i = 0;; i++) { /* all 700 in (one segment on loopback, as a rule) */
		assert_int_equal(serve_socket_progress(s, &p), 0);
		if (p.unread == 700)
			break;
		assert_true(i < 100000);
		poll(NULL, 0, 1);
	}
	assert_int_equal(p.received, 700);
	assert_int_equal(p.sent, sizeof(bytes));
	read_n(s, 700);
	assert_int_equal(serve_socket_progress(s, &p), 0);
	assert_int_equal(p.unread, 0);
	assert_int_equal(p.received, 700);
	/* the client reads no more: what we send past its buffers waits in
	 * ours, not acknowledged — queued; acknowledged and queued make all */
	static char big[1 << 16];
	uint64_t total = sizeof(bytes);
	ssize_t n;
	while ((n = send(s, big, sizeof(big), MSG_DONTWAIT | MSG_NOSIGNAL)) > 0)
		total += (uint64_t)n;
	for (int i = 0;; i++) {
		assert_int_equal(serve_socket_progress(s, &p), 0);
		if (p.queued > 0 && p.sent + p.queued == total)
			break;
		assert_true(i < 10000);
		poll(NULL, 0, 1);
	}
	close(s);
	close(c);
	close(l);

	/* not TCP */
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_true(serve_socket_progress(sv[0], &p) < 0);
	close(sv[0]);
	close(sv[1]);
}

/* A listening socket's backlog, as the kernel counts it: the connections
 * it completed that nobody accepted yet; 1 when it cannot tell (none
 * waiting, or not a TCP socket). */
static void test_listen_waiting(void **state)
{
	(void)state;
	struct sockaddr_in at = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(at);
	int c[3], l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(l, (struct sockaddr *)&at, sizeof(at)), 0);
	assert_int_equal(listen(l, 8), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&at, &len), 0);
	assert_int_equal(serve_listen_waiting(l), 1); /* none: cannot tell from one */
	for (int i = 0; i < 3; i++) {
		c[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_int_equal(connect(c[i], (struct sockaddr *)&at, sizeof(at)), 0);
	}
	assert_int_equal(serve_listen_waiting(l), 3);
	int a = accept(l, NULL, NULL);
	assert_true(a >= 0);
	assert_int_equal(serve_listen_waiting(l), 2);
	close(a);
	for (int i = 0; i < 3; i++)
		close(c[i]);
	close(l);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(serve_listen_waiting(sv[0]), 1);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_short_info),
		cmocka_unit_test(test_socket),
		cmocka_unit_test(test_listen_waiting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
