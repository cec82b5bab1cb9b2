/*
 * conns.c — the table of `imgfs serve`'s client connections: a fixed array
 * of slots (--max-connections), the number of connections of each client
 * address (--max-per-client), and every connection's deadline (SPEC §12:
 * a request is complete within SERVE_REQUEST_S of its first byte).
 *
 * Who calls it: front.c (admits, hands over, acts on deadlines), serve.c
 * (libmicrohttpd's notifications: started, answering, keep-alive,
 * closed), watch.c (shuts down a transfer whose link ended).
 *
 * Sockets.  Once the front hands a connection to libmicrohttpd, two
 * descriptors name its socket: libmicrohttpd's, which libmicrohttpd closes
 * when it likes, and ours (slot->fd, a dup), which only this file closes,
 * when libmicrohttpd says it closed the connection (serve_conns_release
 * from its "closed" notification) — or never said it had it.  Everything
 * we do to a served socket is a shutdown(2) through our own descriptor,
 * under the table's lock: libmicrohttpd sees end of file and a broken pipe
 * on its own descriptor and closes it, and no call of ours can reach a
 * descriptor number libmicrohttpd closed and the process reused.
 *
 * Counts per client.  A client is an IPv4 address or an IPv6 /64 (one
 * site's hosts share a /64; anyone holding one has 2^64 addresses).  The
 * counts live in an open-addressing table of twice the slots (one key per
 * slot at most, so it never fills), keyed by a seeded hash, deleted by
 * shifting back: a lookup costs a few probes whatever the number of
 * connections.
 *
 * The whole server (issue 36).  The caps per address bound one client;
 * many addresses (a botnet, or anyone with an IPv4 /24) could still hold
 * every slot with slow connections, and a reader that takes a byte now
 * and then holds a response for ever (libmicrohttpd's timeout restarts at
 * each byte).  So the table is a budget: when it is full and connections
 * wait in the backlog, connections whose clients hold the server up make
 * room (serve_conns_evict: up to as many as wait, the slowest first),
 * once past a short grace; and a response's client must take
 * SERVE_MIN_RATE bytes a second over each window while bytes wait for it
 * (serve_conns_pace).
 *
 * Judged by what the client does (issue 47).  A client holds us up while
 * it owes a request (accepted, or its last response ended, until its
 * request's last bytes came — tcpi_last_data_recv: bytes waiting for us
 * to read them are our delay, not its) and while its receive window holds
 * back bytes we have for it (tcpi_rwnd_limited, pace.c) — that time is
 * its "owed" time (owed()).  The time we take to send is ours: a server short of CPU
 * sends an honest client little, and judging by the bytes it got per
 * second of its age closed full-speed downloads as "the slowest" (8 of 8
 * at load 10 beside 472 attackers: with hundreds waiting, every
 * connection past the grace went).  So only a connection held up by its
 * client for the grace at least, that moved fewer than SERVE_KEEP_RATE
 * bytes per second of it, is a candidate (SPEC §14), the slowest
 * being the one that moved the fewest bytes per second it owed; an honest
 * download owes nothing and is never closed to make room, however many
 * wait.  And a connection shut down outside a response (a request owed)
 * is shut without a reset: what the kernel still holds of its last
 * response, which its log line called complete, still goes.
 *
 * Costs.  Deadlines are acted on by serve_conns_due, which the front calls
 * only when the nearest one has passed; it walks the slots (bounded by
 * --max-connections).  The lookup of a started connection walks them too,
 * once per connection; so do an eviction (one getsockopt a slot) and the
 * pace, once a second.  Memory is fixed at start: cap slots, 2 cap keys and
 * cap candidates for an eviction.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include "imgfs_lock.h"
#include "serve.h"
#include "serve_conns.h"

struct key_ent {
	uint8_t key[17];
	uint32_t count; /* 0: empty */
};

/* A connection that could make room: its slot and its pace. */
struct serve_cand {
	uint32_t idx;
	double rate; /* bytes moved per second of its age */
	uint64_t bytes;
	int64_t age_ms;
};

struct serve_conns {
	pthread_mutex_t lock;
	unsigned cap, per_client, used;
	struct serve_conn *slots;
	uint32_t *free_slots; /* a stack of free slot indexes */
	unsigned nfree;
	struct key_ent *keys;
	uint32_t kmask;
	uint64_t seed, gens;
	int64_t next_due; /* no deadline is before it; 0: none */
	int efd;
	/* The whole server's bounds (the top). */
	int64_t grace_ms, window_ms;
	uint64_t min_rate;
	struct serve_cand *cand; /* serve_conns_evict's scratch: cap entries */
	unsigned evicting;  /* shut down to make room, not yet freed */
	int64_t evicted_ms; /* the last one */
	char slow_why[96];  /* a slow reader's reason, with the numbers */
	/* Where a connection's counts come from: the kernel's
	 * (serve_socket_progress), or a unit test's (serve_conns_set_progress). */
	serve_progress_fn progress;
	void *progress_arg;
};
IMGFS_LOCK_LEVEL(serve_conns_lock, 8); /* the connection table: the log under it */

/* ---- keys ---------------------------------------------------------------------- */

void serve_client_key(uint8_t key[17], const struct sockaddr *sa)
{
	memset(key, 0, 17);
	if (sa->sa_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			key[0] = 4;
			memcpy(key + 1, a->s6_addr + 12, 4);
		} else {
			key[0] = 6;
			memcpy(key + 1, a->s6_addr, 8); /* the /64 */
		}
	}
}

static uint32_t key_home(const serve_conns *t, const uint8_t key[17])
{
	uint64_t h = 1469598103934665603ULL ^ t->seed; /* FNV-1a, seeded */
	for (int i = 0; i < 17; i++)
		h = (h ^ key[i]) * 1099511628211ULL;
	return (uint32_t)(h ^ (h >> 32)) & t->kmask;
}

/* The entry of key, or the empty one where it would go. */
static struct key_ent *key_find(serve_conns *t, const uint8_t key[17])
{
	for (uint32_t i = key_home(t, key);; i = (i + 1) & t->kmask)
		if (t->keys[i].count == 0 || memcmp(t->keys[i].key, key, 17) == 0)
			return &t->keys[i];
}

/* One connection of key fewer; an entry that reaches 0 is deleted by
 * shifting back the entries after it that probed past it. */
static void key_drop(serve_conns *t, const uint8_t key[17])
{
	struct key_ent *e = key_find(t, key);
	if (e->count == 0 || --e->count > 0)
		return;
	uint32_t i = (uint32_t)(e - t->keys), j = i;
	for (;;) {
		j = (j + 1) & t->kmask;
		if (t->keys[j].count == 0)
			break;
		uint32_t k = key_home(t, t->keys[j].key);
		/* Entry j stays when its home lies cyclically in (i, j]. */
		bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
		if (!stays) {
			t->keys[i] = t->keys[j];
			i = j;
		}
	}
	t->keys[i].count = 0;
}

/* ---- the table -------------------------------------------------------------------- */

int serve_conns_new(serve_conns **out, unsigned cap, unsigned per_client)
{
	serve_conns *t = calloc(1, sizeof(*t));
	uint32_t ksize = 4;
	if (!t)
		return -ENOMEM;
	while (ksize < 2 * cap)
		ksize <<= 1;
	t->cap = cap;
	t->per_client = per_client;
	t->kmask = ksize - 1;
	t->efd = -1;
	pthread_mutex_init(&t->lock, NULL);
	if (!(t->slots = calloc(cap, sizeof(*t->slots))) || !(t->free_slots = calloc(cap, sizeof(uint32_t))) ||
	    !(t->keys = calloc(ksize, sizeof(*t->keys))) || !(t->cand = calloc(cap, sizeof(*t->cand))) ||
	    (t->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		serve_conns_free(t);
		return -ENOMEM;
	}
	serve_conns_set_pace(t, SERVE_GRACE_MS, SERVE_MIN_RATE, SERVE_RATE_WINDOW_S * 1000);
	serve_conns_set_progress(t, NULL, NULL);
	if (getrandom(&t->seed, sizeof(t->seed), 0) != (ssize_t)sizeof(t->seed))
		t->seed = (uint64_t)serve_now_ms();
	for (unsigned i = 0; i < cap; i++) {
		t->slots[i].fd = -1;
		t->free_slots[t->nfree++] = cap - 1 - i;
	}
	*out = t;
	return 0;
}

void serve_conns_set_pace(serve_conns *t, int64_t grace_ms, uint64_t min_rate, int64_t window_ms)
{
	IMGFS_LOCK(&t->lock, serve_conns_lock);
	t->grace_ms = grace_ms;
	t->min_rate = min_rate;
	t->window_ms = window_ms;
	snprintf(t->slow_why, sizeof(t->slow_why), "its client took fewer than %llu bytes/s over %lld s",
	         (unsigned long long)min_rate, (long long)(window_ms / 1000));
	IMGFS_UNLOCK(&t->lock, serve_conns_lock);
}

static int kernel_progress(void *arg, int fd, struct serve_progress *p)
{
	(void)arg;
	return serve_socket_progress(fd, p);
}

void serve_conns_set_progress(serve_conns *t, serve_progress_fn fn, void *arg)
{
	IMGFS_LOCK(&t->lock, serve_conns_lock);
	t->progress = fn ? fn : kernel_progress;
	t->progress_arg = fn ? arg : NULL;
	IMGFS_UNLOCK(&t->lock, serve_conns_lock);
}

void serve_conns_free(serve_conns *t)
{
	if (!t)
		return;
	for (unsigned i = 0; t->slots && i < t->cap; i++)
		if (t->slots[i].state != SERVE_CONN_FREE && t->slots[i].fd >= 0)
			close(t->slots[i].fd);
	if (t->efd >= 0)
		close(t->efd);
	pthread_mutex_destroy(&t->lock);
	free(t->slots);
	free(t->free_slots);
	free(t->keys);
	free(t->cand);
	free(t);
}

int serve_conns_event_fd(const serve_conns *t)
{
	return t->efd;
}

static void signal_front(serve_conns *t)
{
	uint64_t one = 1;
	if (write(t->efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full of wake-ups already */
	}
}

/* A deadline was set: the front may have to wake sooner. */
static void lower_due(serve_conns *t, int64_t deadline)
{
	if (deadline && (t->next_due == 0 || deadline < t->next_due)) {
		t->next_due = deadline;
		signal_front(t);
	}
}

void serve_format_client(char *out, size_t cap, const struct sockaddr *sa)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)sa;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		port = ntohs(a->sin_port);
		snprintf(out, cap, "%s:%u", host, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)sa;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		port = ntohs(a->sin6_port);
		snprintf(out, cap, "[%s]:%u", host, port);
	} else {
		snprintf(out, cap, "?");
	}
}

int serve_conns_admit(serve_conns *t, int fd, const struct sockaddr *sa, socklen_t salen, int64_t now_ms,
                      struct serve_conn **out)
{
	uint8_t key[17];
	int rc = 0;
	if (salen > sizeof(struct sockaddr_storage))
		return -EINVAL;
	serve_client_key(key, sa);
	IMGFS_LOCK(&t->lock, serve_conns_lock);
	struct key_ent *e = key_find(t, key);
	if (t->used == t->cap) {
		rc = -ENFILE;
	} else if (e->count >= t->per_client) {
		rc = -EMFILE;
	} else {
		struct serve_conn *c = &t->slots[t->free_slots[--t->nfree]];
		*c = (struct serve_conn){.state = SERVE_CONN_WAITING, .fd = fd, .gen = ++t->gens,
		                         .deadline_ms = now_ms + SERVE_IDLE_S * 1000, .salen = salen,
		                         .since_ms = now_ms, .phase_ms = now_ms};
		memcpy(&c->sa, sa, salen);
		memcpy(c->key, key, sizeof(key));
		serve_format_client(c->client, sizeof(c->client), sa);
		if (e->count++ == 0)
			memcpy(e->key, key, sizeof(key));
		t->used++;
		lower_due(t, c->deadline_ms);
		*out = c;
	}
	IMGFS_UNLOCK(&t->lock, serve_conns_lock);
	return rc;
}

bool serve_conns_full(serve_conns *t)
{
	IMGFS_LOCK(&t->lock, serve_conns_lock);
	bool full = t->used == t->cap;
	IMGFS_UNLOCK(&t->lock, serve_conns_lock);
	return full;
}

unsigned serve_conns_held(serve_conns *t, const struct sockaddr *sa)
{
	uint8_t key[17];
	serve_client_key(key, sa);
	IMGFS_LOCK(&t->lock, serve_conns_lock);
	unsigned n = key_find(t, key)->count;
	IMGFS_UNLOCK(&t->lock, serve_conns_lock);
	return n;
}

unsigned serve_conns_count(serve_conns *t)
{
	IMGFS_LOCK(&t->lock, serve_conns_lock);
	unsigned n = t->used;
	IMGFS_UNLOCK(&t->lock, serve_conns_lock);
	return n;
}

/* How long c's client has held us up, in ms (the top, "Judged by what the
 * client does"): the time its requests were owed (from the accept, or
 * from the end of the response before), and the time its receive window
 * held back our bytes. */
static int64_t owed(const struct serve_conn *c, const struct serve_progress *p, int64_t now_ms)
{
	int64_t ms = c->owed_ms + (int64_t)(p->stalled_us / 1000);
	if ((c->state == SERVE_CONN_WAITING || c->state == SERVE_CONN_REQUEST) && !c->asked) {
		/* All it sent is read: we wait for more, since the phase began.
		 * Bytes unread: we are behind (a front or libmicrohttpd short
		 * of CPU); the client owed the time until its last bytes came. */
		int64_t until = p->unread ? now_ms - (int64_t)p->quiet_ms : now_ms;
		if (until > c->phase_ms)
			ms += until - c->phase_ms;
	}
	return ms;
}

/* c's request came whole at now_ms (t's lock held). */
static void asked(serve_conns *t, struct serve_conn *c, int64_t now_ms)
{
	IMGFS_ASSERT_HELD(&t->lock);
	struct serve_progress p;
	if (c->asked)
		return;
	c->asked = true;
	/* Owed until its last bytes came (not until we read them). */
	int64_t until = t->progress(t->progress_arg, c->fd, &p) == 0 ? now_ms - (int64_t)p.quiet_ms : now_ms;
	if (until > c->phase_ms)
		c->owed_ms += until - c->phase_ms;
}

void serve_conns_asked(serve_conns *t, struct serve_conn *c, int64_t now_ms)
{
	IMGFS_LOCK(&t->lock, serve_conns_lock);
	if (c->state == SERVE_CONN_REQUEST)
		asked(t, c, now_ms);
	IMGFS_UNLOCK(&t->lock, serve_conns_lock);
}

void serve_conns_request(serve_conns *t, struct serve_conn *c, int64_t now_ms, int64_t deadline_ms, bool handed)
{
	IMGFS_LOCK(&t->lock, serve_conns_lock);
	if (c->state == SERVE_CONN_WAITING || c->state == SERVE_CONN_REQUEST || c->state == SERVE_CONN_ANSWERING) {
		if (c->state == SERVE_CONN_ANSWERING) {
			c->phase_ms = now_ms; /* the next request is owed from now */
			c->asked = false;
		}
		c->state = SERVE_CONN_REQUEST;
		c->deadline_ms = deadline_ms;
		c->handed |= handed;
		lower_due(t, deadline_ms);
	}
	IMGFS_UNLOCK(&t->lock, serve_conns_lock);
}

/* The same peer: family, address and port. */
static bool same_peer(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	if (a->ss_family != b->sa_family)
		return false;
	if (b->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)(const void *)a;
		const struct sockaddr_in *y = (const struct sockaddr_in *)(const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (b->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)(const void *)a;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)(const void *)b;
		return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

struct serve_conn *serve_conns_started(serve_conns *t, const struct sockaddr *sa)
{
	struct serve_conn *found = NULL;
	IMGFS_LOCK(&t->lock, serve_conns_lock);
	/* The peer's address and port name one live TCP connection: while our
	 * descriptor holds the socket open, no other connection can have them. */
	for (unsigned i = 0; i < t->cap && !found; i++) {
		struct serve_conn *c = &t->slots[i];
		if (c->state != SERVE_CONN_FREE && c->handed && !c->started && same_peer(&c->sa, sa)) {
			c->started = true;
			found = c;
		}
	}
	IMGFS_UNLOCK(&t->lock, serve_conns_lock);
	return found;
}

void serve_conns_answering(serve_conns *t, struct serve_conn *c, int64_t now_ms)
{
	IMGFS_LOCK(&t->lock, serve_conns_lock);
	if (c->state == SERVE_CONN_REQUEST) {
		asked(t, c, now_ms);
		c->state = SERVE_CONN_ANSWERING;
		c->deadline_ms = 0;
		c->win_ms = 0; /* the minimum rate's first window begins at the next pace */
	}
	IMGFS_UNLOCK(&t->lock, serve_conns_lock);
}

/* t's lock is held. */
static void shut(serve_conns *t, struct serve_conn *c, int64_t now_ms)
{
	IMGFS_ASSERT_HELD(&t->lock);
	(void)t;
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	/* A response being sent: the last close (libmicrohttpd's) then resets
	 * the connection, bytes still queued for the client are dropped, not
	 * sent (its request's line says closed).  Between requests, what is
	 * queued is the end of a response logged complete: it goes, then the
	 * FIN. */
	if (c->state == SERVE_CONN_ANSWERING)
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	shutdown(c->fd, SHUT_RDWR);
	c->state = SERVE_CONN_SHUT;
	/* A connection libmicrohttpd never announced is freed if it still has
	 * not been by then (serve_conns_due). */
	c->deadline_ms = c->handed && !c->started ? now_ms + SERVE_REQUEST_S * 1000 : 0;
}

bool serve_conns_shut(serve_conns *t, struct serve_conn *c, uint64_t gen)
{
	bool done = false;
	IMGFS_LOCK(&t->lock, serve_conns_lock);
	if (c->gen == gen && (c->state == SERVE_CONN_REQUEST || c->state == SERVE_CONN_ANSWERING)) {
		shut(t, c, serve_now_ms());
		lower_due(t, c->deadline_ms);
		done = true;
	}
	IMGFS_UNLOCK(&t->lock, serve_conns_lock);
	return done;
}

bool serve_conns_peer_gone(serve_conns *t, struct serve_conn *c)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	bool gone = false;
	IMGFS_LOCK(&t->lock, serve_conns_lock);
	if (c->state != SERVE_CONN_FREE && getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0) {
		/* The client sent FIN or RST: CLOSE_WAIT, or LAST_ACK once we sent
		 * ours; CLOSE after a reset; CLOSING and TIME_WAIT when both closed. */
		gone = ti.tcpi_state == TCP_CLOSE || ti.tcpi_state == TCP_CLOSE_WAIT || ti.tcpi_state == TCP_LAST_ACK ||
		       ti.tcpi_state == TCP_CLOSING || ti.tcpi_state == TCP_TIME_WAIT;
	}
	IMGFS_UNLOCK(&t->lock, serve_conns_lock);
	return gone;
}

/* t's lock is held. */
static void release(serve_conns *t, struct serve_conn *c)
{
	IMGFS_ASSERT_HELD(&t->lock);
	if (c->state == SERVE_CONN_FREE)
		return;
	if (c->fd >= 0)
		close(c->fd);
	key_drop(t, c->key);
	if (c->evicted)
		t->evicting--;
	if (t->used == t->cap)
		signal_front(t); /* a slot for the next connection in the backlog */
	c->state = SERVE_CONN_FREE;
	c->fd = -1;
	c->deadline_ms = 0;
	c->evicted = false;
	__atomic_store_n(&c->why, NULL, __ATOMIC_RELAXED);
	t->free_slots[t->nfree++] = (uint32_t)(c - t->slots);
	t->used--;
}

void serve_conns_release(serve_conns *t, struct serve_conn *c)
{
	IMGFS_LOCK(&t->lock, serve_conns_lock);
	release(t, c);
	IMGFS_UNLOCK(&t->lock, serve_conns_lock);
}

int64_t serve_conns_next_due(serve_conns *t)
{
	IMGFS_LOCK(&t->lock, serve_conns_lock);
	int64_t d = t->next_due;
	IMGFS_UNLOCK(&t->lock, serve_conns_lock);
	return d;
}

void serve_conns_due(serve_conns *t, int64_t now_ms, struct serve_due *out)
{
	int64_t next = 0;
	memset(out, 0, sizeof(*out));
	IMGFS_LOCK(&t->lock, serve_conns_lock);
	for (unsigned i = 0; i < t->cap; i++) {
		struct serve_conn *c = &t->slots[i];
		if (c->state == SERVE_CONN_FREE || !c->deadline_ms)
			continue;
		if (c->deadline_ms <= now_ms) {
			snprintf(out->client, sizeof(out->client), "%s", c->client);
			switch (c->state) {
			case SERVE_CONN_WAITING: /* the front's own: no libmicrohttpd descriptor */
				out->idle++;
				release(t, c);
				continue;
			case SERVE_CONN_REQUEST:
				out->slow++;
				shut(t, c, now_ms);
				break;
			case SERVE_CONN_SHUT: /* handed, never announced: libmicrohttpd dropped it */
				out->lost++;
				release(t, c);
				continue;
			default:
				c->deadline_ms = 0;
				break;
			}
		}
		if (c->deadline_ms && (next == 0 || c->deadline_ms < next))
			next = c->deadline_ms;
	}
	t->next_due = next;
	IMGFS_UNLOCK(&t->lock, serve_conns_lock);
}

/* ---- the whole server (the top) ------------------------------------------------ */


/* The slowest first; among equals, the oldest. */
static int cand_cmp(const void *a, const void *b)
{
	const struct serve_cand *x = a, *y = b;
	if (x->rate != y->rate)
		return x->rate < y->rate ? -1 : 1;
	return x->age_ms > y->age_ms ? -1 : x->age_ms < y->age_ms;
}

unsigned serve_conns_evict(serve_conns *t, int64_t now_ms, unsigned want, struct serve_evicted *out,
                           int64_t *retry_ms)
{
	unsigned n = 0, closed = 0, inflight;
	int64_t first_grown = 0;

	memset(out, 0, sizeof(*out));
	*retry_ms = now_ms + 1000;
	IMGFS_LOCK(&t->lock, serve_conns_lock);
	if (t->used < t->cap)
		goto out; /* room already */
	/* Those let go already make room for as many waiting connections, in
	 * a moment — unless libmicrohttpd is slow to close them. */
	inflight = now_ms - t->evicted_ms < 1000 ? t->evicting : 0;
	if (inflight >= want) {
		*retry_ms = t->evicted_ms + 1000;
		goto out;
	}
	want -= inflight;
	for (unsigned i = 0; i < t->cap; i++) {
		struct serve_conn *c = &t->slots[i];
		struct serve_progress p;
		if (c->state == SERVE_CONN_FREE || c->state == SERVE_CONN_SHUT)
			continue;
		int64_t age = now_ms - c->since_ms;
		if (age < t->grace_ms) {
			if (!first_grown || c->since_ms + t->grace_ms < first_grown)
				first_grown = c->since_ms + t->grace_ms;
			continue;
		}
		if (t->progress(t->progress_arg, c->fd, &p) < 0)
			p = (struct serve_progress){.stalled_us = (uint64_t)age * 1000}; /* no counts: nothing moved, as far as we know */
		int64_t held = owed(c, &p, now_ms);
		double rate = (double)(p.sent + p.received) * 1000.0 / (double)(held > 0 ? held : 1);
		if (held < t->grace_ms || rate >= SERVE_KEEP_RATE)
			continue; /* its client holds nobody up (we are the slow end), or keeps a pace no attacker affords */
		t->cand[n++] = (struct serve_cand){.idx = i, .bytes = p.sent + p.received, .age_ms = age,
		                                   .rate = rate};
	}
	if (n == 0) {
		if (first_grown)
			*retry_ms = first_grown;
		goto out;
	}
	qsort(t->cand, n, sizeof(t->cand[0]), cand_cmp);
	for (unsigned i = 0; i < n && closed < want; i++, closed++) {
		struct serve_conn *victim = &t->slots[t->cand[i].idx];
		snprintf(out->client, sizeof(out->client), "%s", victim->client);
		out->bytes = t->cand[i].bytes;
		out->age_ms = t->cand[i].age_ms;
		if (victim->state == SERVE_CONN_WAITING) {
			release(t, victim); /* the front's own: its slot is free now */
			continue;
		}
		__atomic_store_n(&victim->why, "closed to make room: the slowest connection when the server was full",
		                 __ATOMIC_RELEASE);
		victim->evicted = true;
		t->evicting++;
		t->evicted_ms = now_ms;
		shut(t, victim, now_ms);
		lower_due(t, victim->deadline_ms);
	}
out:
	IMGFS_UNLOCK(&t->lock, serve_conns_lock);
	return closed;
}

void serve_conns_pace(serve_conns *t, int64_t now_ms, struct serve_paced *out)
{
	memset(out, 0, sizeof(*out));
	IMGFS_LOCK(&t->lock, serve_conns_lock);
	for (unsigned i = 0; t->min_rate && i < t->cap; i++) {
		struct serve_conn *c = &t->slots[i];
		struct serve_progress p;
		if (c->state != SERVE_CONN_ANSWERING || t->progress(t->progress_arg, c->fd, &p) < 0)
			continue;
		if (!c->win_ms) {
			c->win_ms = now_ms;
			c->win_sent = p.sent;
			c->win_stalled_us = p.stalled_us;
			continue;
		}
		int64_t span = now_ms - c->win_ms;
		if (span < t->window_ms)
			continue;
		uint64_t got = p.sent - c->win_sent;
		int64_t stalled = (int64_t)((p.stalled_us - c->win_stalled_us) / 1000);
		/* Bytes wait for the client, and its window held them back for
		 * half the window: the pace is its, not our store's or our CPU's. */
		if (p.queued > 0 && stalled * 2 >= span && got * 1000 < t->min_rate * (uint64_t)span) {
			out->slow++;
			out->bytes = got;
			snprintf(out->client, sizeof(out->client), "%s", c->client);
			__atomic_store_n(&c->why, t->slow_why, __ATOMIC_RELEASE);
			shut(t, c, now_ms);
			lower_due(t, c->deadline_ms);
			continue;
		}
		c->win_ms = now_ms;
		c->win_sent = p.sent;
		c->win_stalled_us = p.stalled_us;
	}
	IMGFS_UNLOCK(&t->lock, serve_conns_lock);
}

const char *serve_conns_why(serve_conns *t, struct serve_conn *c)
{
	(void)t;
	return __atomic_load_n(&c->why, __ATOMIC_ACQUIRE);
}
