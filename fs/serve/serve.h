/*
 * serve.h — `imgfs serve` (SPEC §14): an HTTP/1.1 (HTTPS with a
 * certificate) server of download links, on libmicrohttpd.
 *
 * Who calls it: fs/cli/main.c (`imgfs serve ...`), the unit tests (the pure
 * helpers of http.c, the bookkeeping of conns.c).
 *
 * The room, one concern a file:
 *   serve.c  the daemon: arguments, libmicrohttpd, one request from token
 *            to bytes, the log line of a request;
 *   front.c  the accept front: the listening socket, a client's first
 *            bytes (garbage and the wrong protocol refused at once), the
 *            per-client cap, the deadlines; hands sockets to libmicrohttpd;
 *   conns.c  the table of client connections: slots, counts per client
 *            address, deadlines, the whole server's budget (the slowest
 *            connection makes room; a response's minimum rate), and the
 *            only shutdown(2)/close(2) of a client socket outside
 *            libmicrohttpd (its declarations: serve_conns.h);
 *   lobby.c  the front's lobby: connections waiting for a slot while the
 *            table is full, who of them gets a freed one, who is turned
 *            away (its declarations: serve_lobby.h);
 *   pace.c   how far a connection got, from the kernel's counts;
 *   watch.c  transfers under way, and the thread that ends those whose link
 *            ended (the model's change log);
 *   http.c   pure HTTP text (Range, If-Range, dates, header values, the
 *            first bytes of a connection, log escaping), tested without a
 *            socket;
 *   log.c    the log: stderr and --log FILE, noise rate-limited;
 *   metrics.c the counters, in the Prometheus text format on a listener
 *            of their own (--metrics-listen).
 * It depends on model/ (links, images, blobs) and blobstore/ (reads, the
 * QCOW2 writer); nothing else sees it.
 */
#ifndef IMGFS_SERVE_H
#define IMGFS_SERVE_H

#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include "imgfs_lock.h"

/* `imgfs serve [--state DIR] [--db URL] [--listen ADDR:PORT] [--tls-cert F
 * --tls-key F] [--log FILE] [--threads N] [--max-connections N]
 * [--max-per-client N] [--metrics-listen [ADDR:]PORT] [--keyfile PATH |
 * --keycmd CMD]`, argv[0] being "serve"; returns the exit status: its
 * options parsed into struct serve_opts (opts.c), then the server started
 * from them (serve.c). */
int serve_main(int argc, char **argv);

#define SERVE_THREADS 4           /* --threads' default */
#define SERVE_THREADS_MAX 64
#define SERVE_MAX_CONNECTIONS 64  /* --max-connections' default */
#define SERVE_CONNECTIONS_MAX 4096 /* --max-connections' and --max-per-client's bound */

/* What the command line asked for.  The strings point into argv. */
struct serve_opts {
	const char *state, *db, *listen_at, *cert_path, *key_path, *log_path, *metrics_at, *keyfile, *keycmd;
	unsigned threads, max_conns, per_client;
	bool glance;                       /* --glance: the image API too (SPEC §19) */
	const char *glance_region, *glance_peer, *glance_hash_algo;
	unsigned glance_workers;
	/* Worked out from the above by serve_opts_parse: */
	char state_dir[PATH_MAX];         /* --state, or the default state directory */
	struct sockaddr_storage ss, mss;  /* --listen's and --metrics-listen's addresses */
	socklen_t sslen, msslen;          /* 0: no --metrics-listen */
	bool v6, mv6;
	char metrics_spec[INET6_ADDRSTRLEN + 16]; /* --metrics-listen as ADDR:PORT */
};

/* Parses argv into *o (the defaults first).  0: start; 1: --help was
 * printed (exit 0); 2: a usage error, its reason and the usage said on
 * stderr (exit 2). */
int serve_opts_parse(struct serve_opts *o, int argc, char **argv);

/* "ADDR:PORT" or "[V6]:PORT" into ss; numeric addresses only; -EINVAL. */
int serve_parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len, bool *v6);

/* The bounds of a client (SPEC §12), in seconds. */
#define SERVE_REQUEST_S 10 /* a request is complete within this of its first byte */
#define SERVE_IDLE_S 10    /* a new connection's first byte, a keep-alive connection's next request */
#define SERVE_STALL_S 300  /* a response the client takes no byte of for this long is dropped */
#define SERVE_PER_CLIENT 8 /* connections per client address (--max-per-client) */
/* The whole server's bounds (SPEC §14, issues 36, 47): when every slot is
 * held and connections wait, those whose clients held the server up (owed
 * a request, or held back our bytes with their window) for SERVE_GRACE_MS
 * at least and moved fewer than SERVE_KEEP_RATE bytes (either way) per
 * second of it are closed, the slowest first; a response whose client
 * takes fewer than SERVE_MIN_RATE bytes a second over a window of
 * SERVE_RATE_WINDOW_S, while bytes wait for it and its window held them
 * back, is closed. */
#define SERVE_GRACE_MS 500
/* A client that took at least this many bytes a second of the time it held
 * the server up (owed a request, or held back our bytes with its window)
 * is never closed to make room (issue 47: 64 KiB/s a connection is what an
 * honest client short of CPU still takes, and what 64 slots held cost an
 * attacker 4 MiB/s). */
#define SERVE_KEEP_RATE 65536
#define SERVE_MIN_RATE 1024
#define SERVE_RATE_WINDOW_S 10

/* Monotonic milliseconds. */
int64_t serve_now_ms(void);

/* ---- http.c ---------------------------------------------------------------- */

/* A Range header against a body of size bytes (RFC 9110 §14): 1 and
 * [*start, *start + *len) for one satisfiable byte range; 0 to send the
 * whole body (no header, one that is not a single byte range, or one that
 * is malformed: a server ignores those); -1 when it is a single range
 * that lies outside the body (416). */
int serve_range_parse(const char *h, uint64_t size, uint64_t *start, uint64_t *len);
/* The Content-Range of a 206 for [start, start + len) of a body of size
 * bytes ("bytes 0-99/1000": the last byte's offset, not the end's), or,
 * len 0, of a 416 ("bytes", a space, an asterisk, "/1000"). */
void serve_content_range(char *out, size_t cap, uint64_t start, uint64_t len, uint64_t size);
/* Whether an If-Range value lets the Range apply: the strong ETag equal,
 * or exactly the Last-Modified date (RFC 9110 §13.1.5).  NULL: yes. */
bool serve_if_range(const char *h, const char *etag, const char *last_modified);
/* IMF-fixdate of unix seconds: "Sun, 06 Nov 1994 08:49:37 GMT" (30 bytes). */
void serve_http_date(char out[30], time_t t);
/* Content-Disposition for a download named name.ext: attachment, an ASCII
 * filename (other bytes, quotes and backslashes as '_') and, when the
 * name is not plain ASCII, filename*=UTF-8''<%-escaped>. */
void serve_disposition(char *out, size_t cap, const char *name, const char *ext);
/* in for one log line: printable ASCII stays, a backslash is \\, every
 * other byte \xNN; cut to fit cap. */
void serve_escape(char *out, size_t cap, const char *in);
/* The token of a request path "/d/<token>[/<file name>]"; false otherwise. */
bool serve_path_token(const char *path, char *out, size_t cap);

/* A request's framing (RFC 9112 §6): its Content-Length and
 * Transfer-Encoding header fields, fed one at a time (any other field is
 * ignored), then judged.  libmicrohttpd takes the first Content-Length and
 * lets Transfer-Encoding win over it; a front that reads another length
 * than ours would see our "second request" smuggled inside its one.  So a
 * request is refused (400, the connection closed) when it has both, when
 * its Content-Lengths differ or one is not a decimal, or when its
 * Transfer-Encoding is anything but one "chunked". */
struct serve_framing {
	unsigned cl, te;   /* fields seen */
	bool bad;          /* a malformed, differing or refused value */
	uint64_t length;   /* the first Content-Length */
	const char *why;   /* static text: the first fault */
};
void serve_framing_add(struct serve_framing *f, const char *key, const char *value);
/* NULL: a framing we read as any other server does; else the reason. */
const char *serve_framing_verdict(const struct serve_framing *f);

/* What the first n (> 0) bytes a client sent can be: the start of an
 * HTTP/1.x request line (empty lines before it allowed, RFC 9112 §2.2; a
 * method token of at most SERVE_METHOD_MAX characters, then a space), the
 * start of a TLS record (a handshake, 0x16, version 3.x), or neither.
 * Bytes that are a prefix of a request line count as one. */
enum serve_sniff {
	SERVE_SNIFF_HTTP = 1,
	SERVE_SNIFF_TLS,
	SERVE_SNIFF_GARBAGE,
};
#define SERVE_METHOD_MAX 16
enum serve_sniff serve_sniff(const unsigned char *b, size_t n);

/* ---- log.c ----------------------------------------------------------------- */

/* One line per request, and now and then a line of noise: stderr and, with
 * --log, a file (reopened on SIGHUP).  Noise (refused connections, what
 * libmicrohttpd reports) is rate-limited per kind: at most one line per
 * kind every SERVE_LOG_QUIET_S, the next one saying how many were
 * suppressed (SPEC §9). */
#define SERVE_LOG_QUIET_S 10
enum serve_noise {
	SERVE_NOISE_CAP,     /* a client past its connection cap */
	SERVE_NOISE_GARBAGE, /* not a request of the port's kind */
	SERVE_NOISE_SLOW,    /* a request not complete in time */
	SERVE_NOISE_IDLE,    /* no request on a connection in time */
	SERVE_NOISE_MHD,     /* libmicrohttpd's own messages */
	SERVE_NOISE_EVICT,   /* the slowest closed to make room (the table full) */
	SERVE_NOISE_READER,  /* a response's client below the minimum rate */
	SERVE_NOISE_FULL,    /* the table and the lobby full: turned away */
	SERVE_NOISE_COUNT,
};
struct serve_log {
	pthread_mutex_t lock;
	const char *path;
	FILE *f;
	int64_t last_ms[SERVE_NOISE_COUNT];
	uint64_t suppressed[SERVE_NOISE_COUNT];
	uint64_t total[SERVE_NOISE_COUNT]; /* every event counted, logged or not (metrics) */
};
IMGFS_LOCK_LEVEL(serve_log_lock, 62); /* a leaf: the log file, its counts */
/* Opens path for appending (NULL: stderr only); -errno. */
int serve_log_open(struct serve_log *l, const char *path);
void serve_log_close(struct serve_log *l);
void serve_log_reopen(struct serve_log *l);
void serve_logf(struct serve_log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* count events of one kind (one refused connection, ...) described by fmt. */
void serve_noisef(struct serve_log *l, enum serve_noise kind, uint64_t count, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The count of each kind whose quiet time is over, as a line. */
void serve_noise_flush(struct serve_log *l);
/* The events of each kind since the start (serve_noisef's counts). */
void serve_noise_totals(struct serve_log *l, uint64_t out[SERVE_NOISE_COUNT]);

/* ---- metrics.c ------------------------------------------------------------- */

#define SERVE_METRICS_METHODS 3    /* GET, HEAD, other */
#define SERVE_METRICS_STATUSES 501 /* 0: no status sent; k: status k + 99 */
/* The counters requests move (__atomic, relaxed). */
struct serve_metrics {
	uint64_t requests[SERVE_METRICS_METHODS][SERVE_METRICS_STATUSES];
	uint64_t sent_bytes;
	uint64_t stopped;
};
/* One request ended: its method (any text: counted as GET, HEAD or
 * other), the status sent (0: none), its body bytes sent, whether it was
 * stopped because its link ended. */
void serve_metrics_request(struct serve_metrics *mt, const char *method, int status, uint64_t sent, bool stopped);
/* Every family in the text format (metrics.c's header), malloc'd; NULL
 * when out of memory. */
char *serve_metrics_text(struct serve_metrics *mt, unsigned connections, const uint64_t refused[SERVE_NOISE_COUNT],
                         size_t *len);
/* The listener: GET /metrics answers what source returns (malloc'd text,
 * freed once sent). */
typedef struct serve_metrics_server serve_metrics_server;
typedef char *(*serve_metrics_source)(void *arg, size_t *len);
/* Serves the listening socket lfd (taken over, closed by stop) on a thread
 * of its own. */
int serve_metrics_start(serve_metrics_server **out, int lfd, serve_metrics_source source, void *arg);
void serve_metrics_stop(serve_metrics_server *ms); /* accepts NULL */

/* ---- pace.c ---------------------------------------------------------------- */

/* A TCP connection's counts, from the kernel: bytes the peer acknowledged
 * (took into its buffers) and bytes it sent us, since the connection
 * began; bytes of ours queued for it, not yet acknowledged. */
struct serve_progress {
	uint64_t sent, received, queued;
	/* How long the client's receive window held back bytes we had for it
	 * (µs, the connection's whole life, tcpi_rwnd_limited): its own
	 * slowness, not ours. */
	uint64_t stalled_us;
	uint64_t unread;    /* bytes the client sent that we have not read yet (SIOCINQ) */
	uint64_t quiet_ms;  /* since the client's last bytes came (tcpi_last_data_recv) */
};
/* -errno when fd is not a TCP socket (or the kernel has no such counts). */
int serve_socket_progress(int fd, struct serve_progress *p);
/* The counts of a struct tcp_info of len bytes (<linux/tcp.h>'s: what
 * getsockopt filled) and the socket's SIOCOUTQ and SIOCINQ (negative: 0):
 * -ENOTSUP when len stops short of tcpi_rwnd_limited (a kernel older
 * than 4.10). */
struct tcp_info;
int serve_progress_from(const struct tcp_info *ti, socklen_t len, int queued, int unread, struct serve_progress *p);
/* How many connections wait in the backlog of the listening socket lfd
 * (accepted by the kernel, not by us); 1 when it cannot tell. */
unsigned serve_listen_waiting(int lfd);

/* ---- conns.c: the table of client connections (serve_conns.h) ------------ */

struct serve_conn;
typedef struct serve_conns serve_conns;

/* ---- watch.c --------------------------------------------------------------- */

/* A transfer under way (a response with a body), registered while it runs
 * so that the watcher can end it when its link ends. */
struct serve_xfer {
	struct serve_xfer *prev, *next;
	uint64_t id;
	char token[65];
	int64_t image_id;
	int64_t began;           /* unix seconds: the link was live then */
	struct serve_conn *conn; /* and its gen: the connection to shut */
	uint64_t conn_gen;
	bool dirty;              /* its image changed since its last check */
	unsigned checks;         /* times its link was checked again */
	const char *stopped;     /* why it was ended, NULL while it may go on
	                            (__atomic: the body callback reads it) */
};
typedef struct serve_watch serve_watch;
struct model;
int serve_watch_start(serve_watch **out, struct model *m, serve_conns *t, struct serve_log *log);
void serve_watch_stop(serve_watch *w); /* accepts NULL */
/* Read before the request's link is checked; given to serve_watch_add. */
uint64_t serve_watch_gen(serve_watch *w);
void serve_watch_add(serve_watch *w, struct serve_xfer *x, uint64_t gen);
/* After it, the watcher no longer sees x: its fields are the caller's. */
void serve_watch_remove(serve_watch *w, struct serve_xfer *x);

/* ---- front.c --------------------------------------------------------------- */

typedef struct serve_front serve_front;
/* hand gives a socket whose first bytes are a request to libmicrohttpd:
 * 0, or -errno when it was not taken (the socket is closed either way). */
struct serve_front_ops {
	int (*hand)(void *arg, int fd, const struct sockaddr *sa, socklen_t salen);
	void *arg;
};
/* Serves the listening socket lfd (the front owns it) on a thread of its
 * own; tls: the port speaks TLS. */
int serve_front_start(serve_front **out, int lfd, bool tls, serve_conns *t, struct serve_log *log,
                      const struct serve_front_ops *ops);
void serve_front_stop(serve_front *f); /* accepts NULL */
/* Connections waiting in the lobby for a slot (any thread; NULL: 0). */
unsigned serve_front_lobby(serve_front *f);

#endif
