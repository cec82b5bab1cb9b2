/*
 * serve_conns.h — the table of `imgfs serve`'s client connections (conns.c,
 * SPEC §12, §14): slots, counts per client address, deadlines, the whole
 * server's budget (the slowest connection makes room; a response's
 * minimum rate).  Split from serve.h (issue 48 step 4: headers <= 400).
 *
 * Who includes it: conns.c, front.c (admits and hands sockets), serve.c
 * (a request's slot), glance/api.c (the image API's requests' slots),
 * watch.c (shuts a transfer's connection) and
 * tests/unit/fs/serve/test_conns.c.  serve.h names the table's types only.
 */
#ifndef IMGFS_SERVE_CONNS_H
#define IMGFS_SERVE_CONNS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "serve.h"

/* A client connection's life: the front accepts it (WAITING) and, on its
 * first byte, hands a duplicate of the socket to libmicrohttpd (REQUEST);
 * libmicrohttpd announces it (started) and, the request read, a response is
 * queued (ANSWERING); after a keep-alive response it reads the next request
 * (REQUEST again).  A deadline passed, or a transfer whose link ended, shuts
 * the socket down (SHUT) and libmicrohttpd closes its descriptor; the slot
 * is freed when it says so (closed), or by the front when the socket never
 * reached libmicrohttpd. */
enum serve_conn_state {
	SERVE_CONN_FREE = 0,
	SERVE_CONN_WAITING,   /* the front's: no byte yet (deadline: accept + idle) */
	SERVE_CONN_REQUEST,   /* libmicrohttpd's: reading a request (deadline) */
	SERVE_CONN_ANSWERING, /* a response queued: libmicrohttpd's stall timeout only */
	SERVE_CONN_SHUT,      /* shut down by us; libmicrohttpd closes its descriptor */
};
/* A slot.  The fields are the table's (changed under its lock); the owner
 * of a connection reads fd, sa and client, which do not change while the
 * slot is in use. */
struct serve_conn {
	enum serve_conn_state state;
	int fd;         /* ours: the accepted socket (a duplicate of libmicrohttpd's once handed) */
	uint64_t gen;   /* which use of the slot this is */
	int64_t deadline_ms;
	bool handed;    /* libmicrohttpd has a duplicate */
	bool started;   /* and announced it */
	uint8_t key[17]; /* the client address, as the table of counts keys it */
	int64_t since_ms;   /* accepted then (its age: the grace) */
	int64_t phase_ms;   /* WAITING, REQUEST: a request owed since then (the accept, the last response's end) */
	bool asked;         /* and it came whole: no longer owed (serve_conns_asked) */
	int64_t owed_ms;    /* the time the requests before it were owed */
	int64_t win_ms;     /* ANSWERING: the minimum rate's window began, 0: not yet */
	uint64_t win_sent;  /* and the bytes the client had acknowledged then */
	uint64_t win_stalled_us; /* and its window's stalls until then */
	bool evicted;       /* shut down to make room: counted until freed */
	const char *why;    /* why we shut it, for its request's log line (__atomic) */
	struct sockaddr_storage sa;
	socklen_t salen;
	char client[64]; /* "addr:port", for the log */
};
/* What serve_conns_due did, for the log. */
struct serve_due {
	unsigned idle;  /* closed before a request (WAITING past its deadline) */
	unsigned slow;  /* shut down: a request not complete in time */
	unsigned lost;  /* handed, never announced: freed */
	char client[64]; /* the last one's address */
};

/* What serve_conns_evict did, for the log. */
struct serve_evicted {
	char client[64];
	uint64_t bytes;   /* moved either way */
	int64_t age_ms;
};
/* What serve_conns_pace did, for the log. */
struct serve_paced {
	unsigned slow;    /* responses shut down below the minimum rate */
	uint64_t bytes;   /* the last one's, in its window */
	char client[64];
};

/* "addr:port" ("[v6]:port") of a peer, for the log. */
void serve_format_client(char *out, size_t cap, const struct sockaddr *sa);
/* cap connections in all (any state), per_client of one client address:
 * an IPv4 address, an IPv6 /64 (one site's hosts; an IPv4-mapped address
 * counts as IPv4). */
int serve_conns_new(serve_conns **out, unsigned cap, unsigned per_client);
/* Closes the descriptors of the slots still in use; accepts NULL. */
void serve_conns_free(serve_conns *t);
/* An eventfd that becomes readable when a deadline came nearer or a slot
 * was freed in a full table: the front polls it. */
int serve_conns_event_fd(const serve_conns *t);
/* A socket accepted now (the table owns fd from here on): WAITING until
 * now_ms + idle.  -ENFILE: the table is full; -EMFILE: the client has
 * per_client connections already (the caller keeps fd in both cases). */
int serve_conns_admit(serve_conns *t, int fd, const struct sockaddr *sa, socklen_t salen, int64_t now_ms,
                      struct serve_conn **out);
bool serve_conns_full(serve_conns *t);
/* The client key of sa (an IPv4 address, an IPv6 /64, a mapped IPv4
 * address as IPv4): what the counts per client count by. */
void serve_client_key(uint8_t key[17], const struct sockaddr *sa);
/* The connections sa's client holds in the table. */
unsigned serve_conns_held(serve_conns *t, const struct sockaddr *sa);
unsigned serve_conns_count(serve_conns *t);
/* Reading a request that must be complete by deadline_ms: the first byte
 * came (the front hands the socket on; handed), or a keep-alive response
 * ended at now_ms (the next request is owed from then).  A slot that was
 * shut stays shut. */
void serve_conns_request(serve_conns *t, struct serve_conn *c, int64_t now_ms, int64_t deadline_ms, bool handed);
/* libmicrohttpd announced the connection from sa (address and port): its
 * slot, NULL when none is waiting for it. */
struct serve_conn *serve_conns_started(serve_conns *t, const struct sockaddr *sa);
/* The request came whole at now_ms (libmicrohttpd's last call of it):
 * owed for as long as its client took to send it — until its last bytes
 * came, the kernel says, not until we read them. */
void serve_conns_asked(serve_conns *t, struct serve_conn *c, int64_t now_ms);
/* A response is queued at now_ms: no deadline; the request is no longer
 * owed (asked, if it was not yet). */
void serve_conns_answering(serve_conns *t, struct serve_conn *c, int64_t now_ms);
/* Shuts the socket down (reads and writes; unsent bytes are dropped at the
 * close, RST) if c is still use gen and neither free nor shut: true then. */
bool serve_conns_shut(serve_conns *t, struct serve_conn *c, uint64_t gen);
/* Whether the peer has gone (it closed or reset the connection), from the
 * socket's TCP state. */
bool serve_conns_peer_gone(serve_conns *t, struct serve_conn *c);
/* Frees the slot and closes our descriptor. */
void serve_conns_release(serve_conns *t, struct serve_conn *c);
/* The nearest deadline (monotonic ms), 0 when none. */
int64_t serve_conns_next_due(serve_conns *t);
/* The table is full and want connections wait (the backlog's length):
 * closes up to as many of the connections whose clients hold the server
 * up, slowest first.  A client holds it up while it owes a request (from
 * the accept or its last response's end until the request is complete)
 * and while its receive window holds back bytes we have for it (the
 * kernel's count) — never while we are the slow end (a server short of
 * CPU, a store's read) nor while it takes the rest of a response from our
 * socket.  A candidate was held up by its client for the grace at least
 * and moved fewer than SERVE_KEEP_RATE bytes (sent and received) per
 * second of it, is the grace old or more and not shut down already (no
 * "half its age": SPEC §14 has no such rule, nor had the code since
 * issue 47); the slowest moved the fewest bytes (sent and
 * received) per second it held us up.  A WAITING one is closed at once, a
 * served one shut down (its slot frees when libmicrohttpd closes it;
 * those still being let go count as room made, for a second).  A
 * connection that holds nobody up is never closed to make room, however
 * many wait.
 * Returns how many it closed now (out: the last one); with none closed
 * and the table still full, *retry_ms is when to ask again (one passes the
 * grace, or the ones let go should have gone). */
unsigned serve_conns_evict(serve_conns *t, int64_t now_ms, unsigned want, struct serve_evicted *out,
                           int64_t *retry_ms);
/* The minimum rate, at most once a second: a response (ANSWERING) whose
 * client acknowledged fewer than min_rate bytes a second over a window,
 * whose receive window held our bytes back for half the window at least,
 * and which has bytes waiting for it at the window's end, is shut down;
 * the next window begins otherwise (a window in which we sent little is
 * ours, not the client's). */
void serve_conns_pace(serve_conns *t, int64_t now_ms, struct serve_paced *out);
/* The grace, the minimum rate and its window (defaults: SERVE_GRACE_MS,
 * SERVE_MIN_RATE, SERVE_RATE_WINDOW_S; the unit tests shorten them). */
void serve_conns_set_pace(serve_conns *t, int64_t grace_ms, uint64_t min_rate, int64_t window_ms);
/* Where the table reads a connection's counts (its pace, what it owes):
 * fn(arg, fd, out), 0 or -errno as serve_socket_progress, which is the
 * default (fn NULL).  The unit tests give counters of their own, to judge
 * connections at each bound without a clock or a real client. */
typedef int (*serve_progress_fn)(void *arg, int fd, struct serve_progress *out);
void serve_conns_set_progress(serve_conns *t, serve_progress_fn fn, void *arg);
/* Why we shut c down to make room or for its pace, NULL otherwise (asked
 * while its owner holds it: the slot is not reused meanwhile). */
const char *serve_conns_why(serve_conns *t, struct serve_conn *c);
/* Acts on every deadline passed at now_ms: a WAITING slot is closed, a
 * REQUEST one shut down (then freed SERVE_REQUEST_S later if libmicrohttpd
 * never announced it: it closed its descriptor without a word, which it
 * does when it cannot take a connection). */
void serve_conns_due(serve_conns *t, int64_t now_ms, struct serve_due *out);

#endif
