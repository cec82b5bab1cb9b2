/*
 * serve_lobby.h — the lobby of `imgfs serve`'s accept front (lobby.c,
 * SPEC §14, issue 70): connections accepted while the table of
 * connections is full, waiting for a slot, and who of them gets a freed
 * slot or is turned away when the lobby is full.
 *
 * Who includes it: lobby.c, front.c (which owns one lobby and asks it),
 * tests/unit/fs/serve/test_lobby.c (which drives it with a fake table and
 * fake sockets: the counts of slots held and whether a request head came
 * are asked through struct serve_lobby_ask, never read here).
 */
#ifndef IMGFS_SERVE_LOBBY_H
#define IMGFS_SERVE_LOBBY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define SERVE_LOBBY 64         /* connections accepted while the table is full, waiting for a slot */
#define SERVE_HEAD_PEEK 4096   /* bytes of a lobby's connection looked at for a whole request head */

/* A waiting connection: its socket, its peer, its client key (conns.c's
 * serve_client_key: an IPv4 address, an IPv6 /64). */
struct serve_lobby_ent {
	int fd;
	struct sockaddr_storage sa;
	socklen_t len;
	uint8_t key[17];
};
/* What the lobby asks of the front: how many slots sa's client holds in
 * the table (serve_conns_held), and whether fd's whole request head came
 * (serve_lobby_head_came). */
struct serve_lobby_ask {
	unsigned (*held)(void *arg, const struct sockaddr *sa);
	bool (*ready)(void *arg, int fd);
	void *arg;
};
/* The lobby: ent[0..n) in the order they came.  n is written by the
 * front's thread only and read by the metrics (serve_lobby_count). */
struct serve_lobby {
	struct serve_lobby_ent ent[SERVE_LOBBY];
	unsigned n;
};

/* e is offered a place.  While the lobby has room, it is kept (0).  A full
 * lobby keeps the connections of the clients that hold and ask for the
 * fewest (a client's weight: its slots in the table and its connections
 * in the lobby): e is refused (-1, the lobby unchanged) when its weight
 * with itself is at least the heaviest's; else the last come of the
 * heaviest is taken out into *out (1) and e kept.  The caller refuses
 * whom the answer names. */
int serve_lobby_offer(struct serve_lobby *l, const struct serve_lobby_ent *e, const struct serve_lobby_ask *ask,
                      struct serve_lobby_ent *out);
/* A slot was freed: the connection it goes to, taken out into *out —
 * the one whose client holds the fewest slots; among those, one whose
 * request head came before one still sending it; then the first come.
 * false when the lobby is empty. */
bool serve_lobby_next(struct serve_lobby *l, const struct serve_lobby_ask *ask, struct serve_lobby_ent *out);
/* The connections waiting (any thread). */
unsigned serve_lobby_count(const struct serve_lobby *l);
/* Whether fd's client sent a whole request head already (an empty line
 * within its first SERVE_HEAD_PEEK bytes, still in the socket: peeked):
 * it is ready to be served, not about to hold a slot while it trickles.
 * On the TLS port the bytes are a handshake: never ready, all alike. */
bool serve_lobby_head_came(int fd);

#endif
