/*
 * lobby.c — the accept front's lobby (SPEC §14, issue 70): connections
 * accepted while the table of connections is full wait here, and a freed
 * slot goes to the fairest of them (serve_lobby.h).
 *
 * Why (front.c's top, "The lobby"): the freed room used to go to the
 * backlog's connections in the order they came, and an attacker that
 * reopens every connection the server closes queued ahead of an honest
 * client.  So a freed slot goes to the client that holds the fewest
 * slots, then to one whose request came whole (ready, not a trickler),
 * then to the first come; and a full lobby keeps the clients that hold
 * and ask for the fewest.
 *
 * Who calls it: front.c, on its thread, with the table's counts and the
 * sockets' peeks behind struct serve_lobby_ask; the unit test with fake
 * ones.  Pure but for serve_lobby_head_came (a peek) and the count's
 * atomic store: no lock, no clock, no allocation (the lobby is fixed).
 */
#include <limits.h>
#include <string.h>
#include <sys/socket.h>

#include "serve_lobby.h"

static void set_count(struct serve_lobby *l, unsigned n)
{
	__atomic_store_n(&l->n, n, __ATOMIC_RELAXED); /* the metrics read it */
}

unsigned serve_lobby_count(const struct serve_lobby *l)
{
	return __atomic_load_n(&l->n, __ATOMIC_RELAXED);
}

/* Entry i, taken out (the order of the others kept). */
static struct serve_lobby_ent take(struct serve_lobby *l, unsigned i)
{
	struct serve_lobby_ent e = l->ent[i];
	memmove(&l->ent[i], &l->ent[i + 1], (l->n - i - 1) * sizeof(l->ent[0]));
	set_count(l, l->n - 1);
	return e;
}

/* What a client holds and asks for: its connections in the table and in
 * the lobby. */
static unsigned weight(const struct serve_lobby *l, const struct serve_lobby_ask *ask, const struct sockaddr_storage *ss,
                       const uint8_t key[17])
{
	unsigned n = ask->held(ask->arg, (const struct sockaddr *)ss);
	for (unsigned i = 0; i < l->n; i++)
		n += memcmp(l->ent[i].key, key, 17) == 0;
	return n;
}

int serve_lobby_offer(struct serve_lobby *l, const struct serve_lobby_ent *e, const struct serve_lobby_ask *ask,
                      struct serve_lobby_ent *out)
{
	int rc = 0;
	if (l->n == SERVE_LOBBY) {
		unsigned worst = 0, worst_w = 0;
		for (unsigned i = 0; i < l->n; i++) {
			unsigned w = weight(l, ask, &l->ent[i].sa, l->ent[i].key);
			if (w >= worst_w) { /* the last come of the heaviest */
				worst = i;
				worst_w = w;
			}
		}
		if (weight(l, ask, &e->sa, e->key) + 1 >= worst_w)
			return -1;
		*out = take(l, worst);
		rc = 1;
	}
	l->ent[l->n] = *e;
	set_count(l, l->n + 1);
	return rc;
}

bool serve_lobby_next(struct serve_lobby *l, const struct serve_lobby_ask *ask, struct serve_lobby_ent *out)
{
	unsigned best = 0, best_rank = UINT_MAX;
	if (l->n == 0)
		return false;
	for (unsigned i = 0; i < l->n && best_rank > 0; i++) {
		unsigned held = ask->held(ask->arg, (const struct sockaddr *)&l->ent[i].sa);
		unsigned rank = held >= UINT_MAX / 2 - 1 ? UINT_MAX - 1 : 2 * held + !ask->ready(ask->arg, l->ent[i].fd);
		if (rank < best_rank) {
			best = i;
			best_rank = rank;
		}
	}
	*out = take(l, best);
	return true;
}

bool serve_lobby_head_came(int fd)
{
	char b[SERVE_HEAD_PEEK + 1];
	ssize_t n = recv(fd, b, SERVE_HEAD_PEEK, MSG_PEEK | MSG_DONTWAIT);
	if (n <= 0)
		return false;
	b[n] = '\0';
	return memmem(b, (size_t)n, "\r\n\r\n", 4) || memmem(b, (size_t)n, "\n\n", 2);
}
