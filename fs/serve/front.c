/*
 * front.c — the accept front of `imgfs serve`: one thread that owns the
 * listening socket and every connection until its first bytes show what
 * it is (SPEC §12, "bounded by design"):
 *
 *   a client past --max-per-client connections   refused: 503 (plain port)
 *                                                or closed (TLS port)
 *   no byte within SERVE_IDLE_S                  closed
 *   bytes that cannot start an HTTP request line 400, closed at once
 *   (a TLS ClientHello on the plain port, a plain request on the TLS port)
 *   the start of a request (of the port's kind)  handed to libmicrohttpd,
 *                                                to be complete within
 *                                                SERVE_REQUEST_S of now
 *   the table full, connections in the backlog   as many of the slowest
 *                                                connections past their
 *                                                grace closed to make room
 *                                                (conns.c); those that come
 *                                                meanwhile wait in the
 *                                                lobby, the freed slots
 *                                                going to the fairest first
 *
 * and that acts on the deadlines of the connections libmicrohttpd serves
 * (serve_conns_due: a request not complete in time is shut down) and,
 * once a second, on their pace (serve_conns_pace: a response's client
 * below the minimum rate is shut down).
 *
 * Who calls it: serve.c starts and stops it; hand() (serve.c) gives a
 * socket to libmicrohttpd (MHD_add_connection).
 *
 * Why a front: libmicrohttpd's timeout is an idle timeout (each byte resets
 * it), so a client sending one byte every few seconds would hold a slot for
 * ever; and it reads garbage as the start of a request until its buffer or
 * its timeout runs out.  Looking at the first bytes (MSG_PEEK: they stay in
 * the socket for libmicrohttpd) before libmicrohttpd sees the connection,
 * and counting the connections of each client address here, bounds what one
 * client holds to --max-per-client connections for at most SERVE_IDLE_S +
 * SERVE_REQUEST_S each before its request is complete.
 *
 * The thread: epoll over the listening socket, the table's eventfd (a
 * deadline came nearer, a slot was freed) and the connections still
 * waiting for their first byte; it sleeps until the nearest deadline (a
 * second at most: it also writes the log's counts of suppressed lines).
 * Accepts are taken at most FRONT_ACCEPTS per round, so a flood of connects
 * cannot starve the deadlines.  When the table is full, as many of the
 * slowest connections as wait (in the backlog and the lobby: the backlog's
 * length from the kernel) are closed to make room, at most once until
 * the time conns.c gives back (one passes its grace, or those let go
 * should have gone).
 *
 * The lobby (issue 70).  The freed room used to go to the backlog's
 * connections in the order they came: an attacker that reopens every
 * connection the server closes fills the backlog ahead of an honest
 * client, and the room made for it went to the attackers' own queued
 * connections (18 s before an honest download's first byte beside 232
 * slow connections from 29 addresses; 11 s with 400 from 100 in
 * test_serve_api_edge).  So while the table is full the front still
 * accepts, into a lobby of SERVE_LOBBY connections (lobby.c), and a freed
 * slot goes to the lobby's connection whose client holds the fewest slots,
 * then to one whose request head came whole (a client ready to be served,
 * not a trickler), then to the first come (lobby_admit).  A full lobby keeps
 * the connections of the clients that hold and ask for the fewest: the
 * newcomer, or the last come of the clients that hold the most, is
 * refused (503 and Retry-After, a bare close on the TLS port).  A client
 * with no slot and a request ready is served at the next slot freed,
 * whatever the attackers queued before it.  Nothing here allocates per
 * connection: the lobby and the table are fixed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "serve.h"
#include "serve_conns.h"
#include "serve_lobby.h"

#define FRONT_ACCEPTS 256 /* accepts per round */
#define FRONT_PEEK 64     /* bytes looked at */

struct serve_front {
	serve_conns *t;
	struct serve_log *log;
	struct serve_front_ops ops;
	bool tls;
	int lfd, ep, stop_fd;
	int64_t evict_ms; /* the table full: the next look for room (serve_conns_evict) not before */
	int64_t pace_ms;  /* the next serve_conns_pace */
	/* The lobby: connections accepted while the table is full, waiting
	 * for a slot (the top; lobby.c), and what it asks of the table and
	 * the sockets. */
	struct serve_lobby lobby;
	struct serve_lobby_ask ask;
	pthread_t thread;
	bool running;
};

/* epoll data for the two descriptors that are not connections. */
static char tag_listen, tag_stop, tag_table;

/* Answers a connection we will not serve with a short plain-text reply
 * (status NULL: none) and lets the client read it: what it sent is read
 * first (a close with unread bytes is a reset, which may destroy the
 * reply), then FIN; the caller closes. */
static void refuse(int fd, const char *status, const char *headers, const char *text)
{
	char sink[4096], reply[512];
	for (int i = 0; i < 16 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
		;
	if (status) {
		int n = snprintf(reply, sizeof(reply),
		                 "HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n%s"
		                 "Connection: close\r\n\r\n%s",
		                 status, strlen(text), headers, text);
		if (send(fd, reply, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			/* the client is gone already */
		}
	}
	shutdown(fd, SHUT_WR);
}

/* A connection accepted with a slot free: the table's, WAITING; past its
 * client's cap, refused. */
static void admit(serve_front *f, int fd, const struct sockaddr_storage *ss, socklen_t len)
{
	struct serve_conn *c;
	int rc = serve_conns_admit(f->t, fd, (const struct sockaddr *)ss, len, serve_now_ms(), &c);
	if (rc == -EMFILE) {
		/* A TLS client could not read a plain reply: it is closed. */
		char client[64];
		refuse(fd, f->tls ? NULL : "503 Service Unavailable", "Retry-After: 10\r\n",
		       "too many connections from your address: try again later\n");
		close(fd);
		serve_format_client(client, sizeof(client), (const struct sockaddr *)ss);
		serve_noisef(f->log, SERVE_NOISE_CAP, 1, "refused %s: its address has --max-per-client connections (%s)",
		             client, f->tls ? "closed" : "503");
		return;
	}
	if (rc < 0) {
		close(fd);
		return;
	}
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
	if (epoll_ctl(f->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		serve_conns_release(f->t, c);
}

/* What the lobby asks: the slots a client holds, whether a request head
 * came. */
static unsigned ask_held(void *arg, const struct sockaddr *sa)
{
	return serve_conns_held(arg, sa);
}

static bool ask_ready(void *arg, int fd)
{
	(void)arg;
	return serve_lobby_head_came(fd);
}

/* A lobby's connection (or the one that came) is turned away: 503 with
 * Retry-After on the plain port, closed on the TLS port. */
static void lobby_refuse(serve_front *f, int fd, const struct sockaddr_storage *ss)
{
	char client[64];
	refuse(fd, f->tls ? NULL : "503 Service Unavailable", "Retry-After: 10\r\n",
	       "the server is full: try again later\n");
	close(fd);
	serve_format_client(client, sizeof(client), (const struct sockaddr *)ss);
	serve_noisef(f->log, SERVE_NOISE_FULL, 1,
	             "refused %s: the server is full and %d wait for a slot, from addresses that hold fewer (%s)", client,
	             SERVE_LOBBY, f->tls ? "closed" : "503");
}

/* A connection accepted while the table is full waits in the lobby; a
 * full lobby keeps the connections of the clients that hold and ask for
 * the fewest, the one that came last of those that hold the most turned
 * away (serve_lobby_offer). */
static void lobby_offer(serve_front *f, int fd, const struct sockaddr_storage *ss, socklen_t len)
{
	struct serve_lobby_ent e = {.fd = fd, .sa = *ss, .len = len}, out;
	serve_client_key(e.key, (const struct sockaddr *)ss);
	int rc = serve_lobby_offer(&f->lobby, &e, &f->ask, &out);
	if (rc < 0)
		lobby_refuse(f, fd, ss);
	else if (rc > 0)
		lobby_refuse(f, out.fd, &out.sa);
}

unsigned serve_front_lobby(serve_front *f)
{
	return f ? serve_lobby_count(&f->lobby) : 0;
}

/* Free slots go to the lobby first (issue 70): to the connection whose
 * client holds the fewest slots; among those, to one whose request head
 * came whole before one still sending it; then the first come — never to
 * a client that holds more while another waits, nor to a slow sender
 * before a client that is ready (serve_lobby_next). */
static void lobby_admit(serve_front *f)
{
	struct serve_lobby_ent e;
	while (f->lobby.n > 0 && !serve_conns_full(f->t) && serve_lobby_next(&f->lobby, &f->ask, &e))
		admit(f, e.fd, &e.sa, e.len);
}

/* The table full: as many of the slowest connections as wait (in the
 * backlog and the lobby) are closed to make room, at most once until the
 * time evict gives back. */
static void make_room(serve_front *f)
{
	struct serve_evicted ev_ = {0};
	int64_t now = serve_now_ms(), retry;
	if (now < f->evict_ms || !serve_conns_full(f->t))
		return;
	unsigned want = serve_listen_waiting(f->lfd) + f->lobby.n;
	unsigned closed = serve_conns_evict(f->t, now, want < FRONT_ACCEPTS ? want : FRONT_ACCEPTS, &ev_, &retry);
	serve_noisef(f->log, SERVE_NOISE_EVICT, closed,
	             "closed %u connection(s) to make room for as many waiting (--max-connections held): "
	             "the slowest (last %s: %llu bytes in %lld.%03lld s)", closed, ev_.client,
	             (unsigned long long)ev_.bytes, (long long)(ev_.age_ms / 1000), (long long)(ev_.age_ms % 1000));
	f->evict_ms = retry;
}

static void accept_some(serve_front *f)
{
	for (int n = 0; n < FRONT_ACCEPTS; n++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		lobby_admit(f);
		bool full = serve_conns_full(f->t);
		if (full) {
			/* The slowest make room; the lobby keeps who comes meanwhile
			 * (a waiting connection closed: its slot is free now). */
			make_room(f);
			if (!serve_conns_full(f->t))
				continue;
		}
		int fd = accept4(f->lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN, or the client left the backlog; EMFILE: next round */
		if (full)
			lobby_offer(f, fd, &ss, len);
		else
			admit(f, fd, &ss, len);
	}
}

/* A waiting connection has something to say (or has gone). */
static void first_bytes(serve_front *f, struct serve_conn *c)
{
	unsigned char b[FRONT_PEEK];
	ssize_t n = recv(c->fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) { /* closed or reset before a request: nothing to say */
		serve_conns_release(f->t, c);
		return;
	}
	enum serve_sniff what = serve_sniff(b, (size_t)n);
	if (what != (f->tls ? SERVE_SNIFF_TLS : SERVE_SNIFF_HTTP)) {
		serve_noisef(f->log, SERVE_NOISE_GARBAGE, 1, "refused %s: %s (400)", c->client,
		             f->tls ? "not TLS on the TLS port"
		             : what == SERVE_SNIFF_TLS ? "TLS on the plain port"
		                                       : "not an HTTP request");
		refuse(c->fd, "400 Bad Request", "",
		       f->tls ? "this port speaks HTTPS\n" : "this is not an HTTP request\n");
		serve_conns_release(f->t, c);
		return;
	}
	/* libmicrohttpd gets a descriptor of its own; ours stays, to shut the
	 * socket down by (conns.c).  It leaves our epoll set first: a
	 * registration follows the socket, not the descriptor. */
	epoll_ctl(f->ep, EPOLL_CTL_DEL, c->fd, NULL);
	int dup_fd = fcntl(c->fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0) {
		serve_conns_release(f->t, c);
		return;
	}
	int64_t now = serve_now_ms();
	serve_conns_request(f->t, c, now, now + SERVE_REQUEST_S * 1000, true);
	if (f->ops.hand(f->ops.arg, dup_fd, (const struct sockaddr *)&c->sa, c->salen) < 0)
		serve_conns_release(f->t, c); /* libmicrohttpd closed its descriptor already */
}

static void on_due(serve_front *f)
{
	struct serve_due d;
	serve_conns_due(f->t, serve_now_ms(), &d);
	serve_noisef(f->log, SERVE_NOISE_IDLE, d.idle, "closed %u connection(s) that sent nothing within %d s (last %s)",
	             d.idle, SERVE_IDLE_S, d.client);
	serve_noisef(f->log, SERVE_NOISE_SLOW, d.slow,
	             "closed %u connection(s) whose request was not complete in time (%d s after its first byte, "
	             "or after the last response on a kept-alive connection; last %s)",
	             d.slow, SERVE_REQUEST_S, d.client);
	if (d.lost)
		serve_logf(f->log, "%u connection(s) handed over were never served: freed", d.lost);
}

/* Once a second: responses whose client is below the minimum rate. */
static void on_pace(serve_front *f, int64_t now)
{
	struct serve_paced p;
	serve_conns_pace(f->t, now, &p);
	serve_noisef(f->log, SERVE_NOISE_READER, p.slow,
	             "closed %u connection(s) whose client took fewer than %d bytes/s of its response over %d s "
	             "(last %s: %llu bytes)", p.slow, SERVE_MIN_RATE, SERVE_RATE_WINDOW_S, p.client,
	             (unsigned long long)p.bytes);
}

static void *front_main(void *arg)
{
	serve_front *f = arg;
	struct epoll_event evs[64];
	for (;;) {
		/* At least once a second: the log's suppressed counts. */
		int64_t now = serve_now_ms(), due = serve_conns_next_due(f->t);
		if (f->lobby.n && f->evict_ms && (due == 0 || f->evict_ms < due))
			due = f->evict_ms;
		int timeout = due == 0 || due - now > 1000 ? 1000 : due <= now ? 0 : (int)(due - now);
		int n = epoll_wait(f->ep, evs, 64, timeout);
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &tag_stop)
				return NULL;
			if (p == &tag_listen) {
				accept_some(f);
			} else if (p == &tag_table) {
				uint64_t v;
				if (read(serve_conns_event_fd(f->t), &v, sizeof(v)) < 0) {
					/* EAGAIN: read by an earlier event of this round */
				}
			} else {
				first_bytes(f, p);
			}
		}
		due = serve_conns_next_due(f->t);
		if (due && due <= serve_now_ms())
			on_due(f);
		now = serve_now_ms();
		if (now >= f->pace_ms) {
			on_pace(f, now);
			f->pace_ms = now + 1000;
		}
		/* A slot freed goes to the lobby; connections wait there while
		 * the table is full: time to look for room again. */
		lobby_admit(f);
		if (f->lobby.n)
			make_room(f);
		serve_noise_flush(f->log);
	}
}

int serve_front_start(serve_front **out, int lfd, bool tls, serve_conns *t, struct serve_log *log,
                      const struct serve_front_ops *ops)
{
	serve_front *f = calloc(1, sizeof(*f));
	int rc;
	if (!f)
		return -ENOMEM;
	*f = (serve_front){.t = t, .log = log, .ops = *ops, .tls = tls, .lfd = lfd, .ep = -1, .stop_fd = -1,
	                   .ask = {.held = ask_held, .ready = ask_ready, .arg = t}};
	struct epoll_event l = {.events = EPOLLIN, .data.ptr = &tag_listen};
	struct epoll_event s = {.events = EPOLLIN, .data.ptr = &tag_stop};
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = &tag_table};
	if ((f->ep = epoll_create1(EPOLL_CLOEXEC)) < 0 || (f->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
	    epoll_ctl(f->ep, EPOLL_CTL_ADD, lfd, &l) < 0 || epoll_ctl(f->ep, EPOLL_CTL_ADD, f->stop_fd, &s) < 0 ||
	    epoll_ctl(f->ep, EPOLL_CTL_ADD, serve_conns_event_fd(t), &e) < 0) {
		rc = -errno;
		goto fail;
	}
	if ((rc = -pthread_create(&f->thread, NULL, front_main, f)) < 0)
		goto fail;
	f->running = true;
	*out = f;
	return 0;
fail:
	f->lfd = -1; /* the caller still owns it */
	serve_front_stop(f);
	return rc;
}

void serve_front_stop(serve_front *f)
{
	uint64_t one = 1;
	if (!f)
		return;
	if (f->running) {
		if (write(f->stop_fd, &one, sizeof(one)) < 0) {
			/* cannot fail on a fresh eventfd */
		}
		pthread_join(f->thread, NULL);
	}
	for (unsigned i = 0; i < f->lobby.n; i++)
		close(f->lobby.ent[i].fd);
	if (f->ep >= 0)
		close(f->ep);
	if (f->stop_fd >= 0)
		close(f->stop_fd);
	if (f->lfd >= 0)
		close(f->lfd);
	free(f);
}
