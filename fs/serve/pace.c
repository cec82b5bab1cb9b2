/*
 * pace.c — how far a client connection has got, from the kernel's own
 * counts (TCP_INFO, SIOCOUTQ), for the table's whole-server bounds
 * (conns.c: the slowest connection makes room when the table is full; a
 * response's client takes at least SERVE_MIN_RATE bytes a second).
 *
 * Who calls it: conns.c, under the table's lock (through its progress
 * source: serve_conns_set_progress); front.c (the backlog's length, when
 * the table is full).  The kernel's counts become ours in one pure
 * function (serve_progress_from), which tests/unit/fs/serve/test_pace.c
 * feeds with a struct tcp_info of its own making.
 *
 * Why the kernel's counts: they are what the client did — the bytes it
 * sent us and the bytes it acknowledged (took into its own buffers), and
 * how long its receive window held back bytes we had for it (issue 47: a
 * server short of CPU sends little, which says nothing of its client) —
 * whoever reads the socket: libmicrohttpd's descriptor and ours name the
 * same socket, and nothing in libmicrohttpd's callbacks has to count.
 * A file of its own because the fields needed (tcpi_bytes_acked,
 * tcpi_bytes_received, tcpi_rwnd_limited: Linux 4.1, 4.2, 4.10) are in
 * <linux/tcp.h>'s struct tcp_info, which cannot be included beside
 * <netinet/tcp.h> (conns.c's).
 */
#include <errno.h>
#include <linux/sockios.h>
#include <sys/ioctl.h> /* FIONREAD: SIOCINQ */
#include <linux/tcp.h>
#include <netinet/in.h> /* IPPROTO_TCP; not <netinet/tcp.h> */
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "serve.h"

int serve_progress_from(const struct tcp_info *ti, socklen_t len, int queued, int unread, struct serve_progress *p)
{
	if (len < offsetof(struct tcp_info, tcpi_rwnd_limited) + sizeof(ti->tcpi_rwnd_limited))
		return -ENOTSUP; /* a kernel older than 4.10 */
	p->sent = ti->tcpi_bytes_acked;
	p->received = ti->tcpi_bytes_received;
	p->queued = queued > 0 ? (uint64_t)queued : 0;
	p->stalled_us = ti->tcpi_rwnd_limited;
	p->unread = unread > 0 ? (uint64_t)unread : 0;
	p->quiet_ms = ti->tcpi_last_data_recv;
	return 0;
}

int serve_socket_progress(int fd, struct serve_progress *p)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int queued = 0, unread = 0;

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return -errno; /* not TCP (a unit test's socket pair), or closed */
	if (ioctl(fd, SIOCOUTQ, &queued) < 0)
		queued = 0;
	if (ioctl(fd, SIOCINQ, &unread) < 0)
		unread = 0;
	return serve_progress_from(&ti, len, queued, unread, p);
}

unsigned serve_listen_waiting(int lfd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	/* A listening socket's tcpi_unacked is its accept queue's length. */
	if (getsockopt(lfd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 || ti.tcpi_unacked == 0)
		return 1;
	return ti.tcpi_unacked;
}
