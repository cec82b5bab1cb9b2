/*
 * serve.c — `imgfs serve`: the HTTP server of download links (SPEC §14).
 *
 * Who calls it: fs/cli/main.c (`imgfs serve ...`).  It opens the state (or the
 * PostgreSQL database) as a reader, beside any mount of it, and answers
 * GET and HEAD of /d/<token>[/<file name>]:
 *
 *   token unknown, tampered, image gone or moved out of private/ or iso/  404
 *   token expired                                                        410
 *   one satisfiable byte range                                           206
 *   one range outside the body                                           416
 *   otherwise                                                            200
 *
 * with Accept-Ranges, ETag (the manifest's digest: the blob's content, no
 * read needed; a qcow2 body's differs), Last-Modified (the blob's seal),
 * Content-Length, Content-Disposition and If-Range.  Everything is looked
 * up again on every request, and a transfer under way is ended when its
 * link ends (watch.c): a revoked link or a deleted image serves nothing
 * more within a second, whatever a mount of the same state does meanwhile.
 *
 * Why libmicrohttpd: HTTP/1.1 parsing, keep-alive, HEAD and TLS (GnuTLS)
 * are its, well kept and in Debian; this file maps a request to bytes.
 * The body is a response "from callback": libmicrohttpd asks for the next
 * bytes when the socket can take them, into one buffer of SERVE_BLOCK
 * bytes per connection, so a slow client holds its connection and its
 * buffer, nothing else, and no thread waits for it (a small pool of
 * threads polls every connection).
 *
 * The design against clients that do not play (SPEC §12, "bounded by
 * design"; issue 23):
 *
 *   listening socket ──> front.c (one thread) ──first bytes──> libmicrohttpd
 *                         │  per-client cap, 400 for garbage,       │ (pool)
 *                         │  idle and request deadlines             │
 *                         └──────── conns.c: one slot a connection ─┘
 *                                   (ours: a dup of its socket)
 *                                          ^ shut down by
 *                         watch.c (one thread): a transfer whose link ended
 *
 * libmicrohttpd listens on nothing (MHD_USE_NO_LISTEN_SOCKET): the front
 * accepts, looks at the first bytes and hands the socket over
 * (MHD_add_connection), keeping a duplicate; libmicrohttpd's connection
 * notifications (on_connection) tie its connections to their slots, and
 * its request callbacks move them through the states (conns.c's header).
 * libmicrohttpd's own timeout (SERVE_STALL_S) is then only the limit on a
 * response the client stopped taking; the minimum rate (conns.c) ends a
 * reader long before.  What the server holds is bounded:
 * --max-connections slots (one per connection, whatever its state; when
 * they are all held, the slowest makes room for the next), at
 * most --max-per-client of one client address, each with libmicrohttpd's
 * request pool (32 KiB), while answering one body buffer (SERVE_BLOCK) and
 * the blob's manifest (16 bytes per MiB of the image), plus the TLS
 * session's buffers; threads: --threads + 2, whatever clients do.
 *
 * Bytes come from blob_store_read (raw, iso) or qcow2_out_read (qcow2),
 * both verifying every chunk: a chunk that does not match its id ends the
 * response early (the client sees a short body and can resume), with a
 * line in the log, never wrong bytes.  A raw read never spans two chunks,
 * so everything before a bad chunk is sent.
 *
 * The log (log.c): one line per request, when it ends — image id, format,
 * range, bytes sent, checks of its link while it ran, client address,
 * status, and how it ended (complete; client closed: the client went away;
 * stopped: its link ended; closed: the whole server's bounds, the slowest
 * making room or a reader below the minimum rate; error: ours, with the
 * reason; timed out) — to
 * stderr and --log FILE.  Nothing a client chose reaches it unescaped.
 * Each request's end also moves the counters that --metrics-listen serves
 * (metrics.c).
 *
 * Under systemd (dist/imgfs-serve.service, Type=notify) it says READY=1
 * once it listens (and its metrics listener too), STOPPING=1 at SIGTERM or
 * SIGINT; SIGHUP reopens --log.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <microhttpd.h>

#include "common.h"
#include "glance.h"
#include "imgfs_lock.h"
#include "include/core.h"
#include "include/counters.h"
#include "include/images.h"
#include "include/keys.h"
#include "include/links.h"
#include "include/rights.h"
#include "qcow2_out.h"
#include "serve.h"
#include "serve_conns.h"

#define SERVE_BLOCK (256u << 10) /* the body buffer of one connection */
#define SERVE_STOP_BOUND_S 5     /* how long a stop may take before transfers are abandoned */

struct server {
	model *m;
	struct serve_log log;
	serve_conns *conns;
	serve_watch *watch;
	struct MHD_Daemon *d;
	struct serve_metrics metrics;
	serve_metrics_server *ms;
	glance *api; /* --glance: the image API (SPEC §19), NULL otherwise */
	serve_front *front; /* set once it runs, before the metrics listener starts */
};

/* One request, from its first line to its log line. */
struct dl {
	struct server *srv;
	struct serve_conn *conn;
	struct serve_xfer xfer; /* registered with the watcher while a body is sent */
	bool watched;
	char client[64];
	char image[16];  /* img-..., "-" before it is known */
	char format[8];
	char range[64];  /* "a-b" sent, "-" for the whole body */
	char why[160];   /* how it ended, when not well */
	char method[16];
	int status;
	bool head;
	uint64_t start, len, sent;
	blob_store *s;
	blob_manifest *man;
	qcow2_out *q;
	bool api;               /* a request of the image API (glance/), not a download */
	struct glance_req *greq;
};

static void dl_free(struct dl *dl)
{
	if (!dl)
		return;
	if (dl->watched)
		serve_watch_remove(dl->srv->watch, &dl->xfer);
	qcow2_out_free(dl->q);
	blob_manifest_free(dl->man);
	free(dl);
}

/* ---- the body ---------------------------------------------------------------- */

static ssize_t body_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct dl *dl = cls;
	if (__atomic_load_n(&dl->xfer.stopped, __ATOMIC_ACQUIRE))
		return MHD_CONTENT_READER_END_WITH_ERROR; /* its link ended: nothing more */
	if (pos >= dl->len)
		return MHD_CONTENT_READER_END_OF_STREAM;
	uint64_t off = dl->start + pos;
	size_t n = dl->len - pos < max ? (size_t)(dl->len - pos) : max;
	ssize_t r;
	if (dl->q) {
		r = qcow2_out_read(dl->q, dl->s, buf, n, off);
	} else {
		size_t to_end = BLOB_CHUNK_SIZE - (size_t)(off & (BLOB_CHUNK_SIZE - 1));
		if (n > to_end)
			n = to_end; /* one chunk a call: all before a bad chunk goes out */
		r = blob_store_read(dl->s, dl->man, buf, n, off);
	}
	if (r <= 0) {
		snprintf(dl->why, sizeof(dl->why), "ended early at byte %llu: %s", (unsigned long long)off,
		         r == -EIO ? "a chunk failed verification" : r == 0 ? "short blob" : strerror((int)-r));
		return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	dl->sent += (uint64_t)r;
	return r;
}

/* ---- answering --------------------------------------------------------------- */

/* Every response goes out here: the request is complete, its deadline
 * no longer runs (conns.c). */
static enum MHD_Result queue(struct MHD_Connection *c, struct dl *dl, int status, struct MHD_Response *r)
{
	dl->status = status;
	serve_conns_answering(dl->srv->conns, dl->conn, serve_now_ms());
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, struct dl *dl, int status, const char *text)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	return queue(c, dl, status, r);
}

static const char *content_type(const char *format)
{
	return strcmp(format, "iso") == 0 ? "application/x-iso9660-image" : "application/octet-stream";
}

/* The link's image, device, blob and body; an HTTP status when it fails. */
static int prepare(struct server *srv, struct dl *dl, const struct model_link *l, struct model_image *img,
                   struct model_blob *b)
{
	struct model_device dev;
	int rc;
	if ((rc = model_image_get(srv->m, l->image_id, img)) < 0)
		return rc == -ENOENT ? MHD_HTTP_NOT_FOUND : MHD_HTTP_INTERNAL_SERVER_ERROR;
	snprintf(dl->image, sizeof(dl->image), "%s", img->ext_id);
	/* The triggers end a link when its image leaves private/ or iso/;
	 * this says the same for the moment between. */
	if ((img->folder != MODEL_FOLDER_PRIVATE && img->folder != MODEL_FOLDER_ISO) ||
	    img->status != MODEL_IMG_AVAILABLE)
		return MHD_HTTP_NOT_FOUND;
	/* A link made before its image was deactivated reads nothing while it
	 * is (§19.5): the model's rights of the owner, handed to the bearer. */
	if (!(model_rights_as(img, img->folder, MODEL_REL_OWNER, false) & MODEL_RIGHT_READ))
		return MHD_HTTP_FORBIDDEN;
	if ((rc = model_link_device(srv->m, img, &dev)) < 0 || (rc = model_blob_get(srv->m, dev.blob_id, b)) < 0)
		return rc == -ENOENT ? MHD_HTTP_NOT_FOUND : MHD_HTTP_INTERNAL_SERVER_ERROR;
	if (!b->sealed)
		return MHD_HTTP_NOT_FOUND;
	if ((rc = model_store(srv->m, b->region_id, &dl->s)) < 0)
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	/* An encrypted image is sent as plaintext to the link's holder, read
	 * through its key (SPEC §17); a server without the key says so in
	 * its log and answers 503 until it has one. */
	struct model_err err = {0};
	if ((rc = model_blob_manifest_err(srv->m, b->id, &dl->man, &err)) < 0) {
		snprintf(dl->why, sizeof(dl->why), "%.*s", (int)sizeof(dl->why) - 1, err.msg[0] ? err.msg : strerror(-rc));
		return rc == -EACCES ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	/* A qcow2 link of an image whose disk is a QCOW2 file serves the file;
	 * of a raw disk, the QCOW2 made from its manifest. */
	if (strcmp(l->format, "qcow2") == 0 && strcmp(img->format, "qcow2") != 0 &&
	    qcow2_out_new(&dl->q, dl->man) < 0)
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	return 0;
}

static enum MHD_Result answer(struct server *srv, struct MHD_Connection *c, struct dl *dl, const char *url)
{
	char token[MODEL_LINK_TOKEN_LEN + 1], etag[64], modified[30], disp[1200], crange[80];
	struct model_link l;
	struct model_image img;
	struct model_blob b;
	int rc, status;
	/* Before anything is read: a change after it reaches the transfer. */
	uint64_t gen = serve_watch_gen(srv->watch);
	int64_t now = time(NULL);

	_Static_assert(sizeof(token) == sizeof(dl->xfer.token), "a token fits a transfer's");
	if (!serve_path_token(url, token, sizeof(token)))
		return reply_text(c, dl, MHD_HTTP_NOT_FOUND, "no such download\n");
	rc = model_link_resolve(srv->m, token, now, &l);
	if (rc == 0 || rc == -EKEYEXPIRED)
		snprintf(dl->format, sizeof(dl->format), "%s", l.format);
	if (rc == -EKEYEXPIRED) {
		if (model_image_get(srv->m, l.image_id, &img) == 0)
			snprintf(dl->image, sizeof(dl->image), "%s", img.ext_id);
		return reply_text(c, dl, MHD_HTTP_GONE, "this download link has expired: make a new one\n");
	}
	if (rc == -ENOENT)
		return reply_text(c, dl, MHD_HTTP_NOT_FOUND, "no such download\n");
	if (rc < 0) {
		snprintf(dl->why, sizeof(dl->why), "metadata: %s", strerror(-rc));
		return reply_text(c, dl, MHD_HTTP_INTERNAL_SERVER_ERROR, "try again later\n");
	}
	if ((status = prepare(srv, dl, &l, &img, &b)) != 0)
		return reply_text(c, dl, status,
		                  status == MHD_HTTP_NOT_FOUND   ? "no such download\n"
		                  : status == MHD_HTTP_FORBIDDEN ? "the image is deactivated: its data is read by "
		                                                   "administrators only\n"
		                                                 : "try again later\n");

	uint64_t size = dl->q ? qcow2_out_size(dl->q) : dl->man->size;
	char digest[33];
	blob_manifest_digest(dl->man, digest);
	/* The qcow2 body's layout version is in its ETag: a later layout is
	 * another representation, and a resume across it must start over. */
	snprintf(etag, sizeof(etag), "\"%s%s\"", dl->q ? "q1-" : "", digest);
	serve_http_date(modified, (time_t)(b.mtime_ns / 1000000000));
	serve_disposition(disp, sizeof(disp), img.name, l.format);

	const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
	const char *if_range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_RANGE);
	int ranged = range && serve_if_range(if_range, etag, modified) ? serve_range_parse(range, size, &dl->start, &dl->len)
	                                                               : 0;
	if (ranged < 0) {
		struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		if (!r)
			return MHD_NO;
		serve_content_range(crange, sizeof(crange), 0, 0, size);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, crange);
		MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
		MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
		return queue(c, dl, MHD_HTTP_RANGE_NOT_SATISFIABLE, r);
	}
	if (ranged == 0) {
		dl->start = 0;
		dl->len = size;
	} else {
		snprintf(dl->range, sizeof(dl->range), "%llu-%llu", (unsigned long long)dl->start,
		         (unsigned long long)(dl->start + dl->len - 1));
	}
	struct MHD_Response *r = MHD_create_response_from_callback(dl->len, SERVE_BLOCK, body_read, dl, NULL);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type(l.format));
	MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
	MHD_add_response_header(r, MHD_HTTP_HEADER_LAST_MODIFIED, modified);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "private, no-transform");
	if (ranged > 0) {
		serve_content_range(crange, sizeof(crange), dl->start, dl->len, size);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, crange);
	}
	if (!dl->head && dl->len > 0) {
		/* Watched from here on: a change since gen was read is checked
		 * again (watch.c). */
		memcpy(dl->xfer.token, token, sizeof(dl->xfer.token));
		dl->xfer.image_id = l.image_id;
		dl->xfer.began = now;
		dl->xfer.conn = dl->conn;
		dl->xfer.conn_gen = dl->conn->gen;
		serve_watch_add(srv->watch, &dl->xfer, gen);
		dl->watched = true;
	}
	return queue(c, dl, ranged > 0 ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK, r);
}

static enum MHD_Result framing_each(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	serve_framing_add(cls, key, value);
	return MHD_YES;
}

/* RFC 9112 §6.3: a request whose framing is ambiguous is 400 and the
 * connection closed — what follows it is never read as a request. */
static enum MHD_Result refuse_framing(struct MHD_Connection *c, struct dl *dl, const char *why)
{
	char text[160];
	int n = snprintf(text, sizeof(text), "a request's framing is read one way only: %s\n", why);
	snprintf(dl->why, sizeof(dl->why), "refused: %s", why);
	struct MHD_Response *r = MHD_create_response_from_buffer((size_t)n, text, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	return queue(c, dl, MHD_HTTP_BAD_REQUEST, r);
}

/* The slot of a connection (on_connection), NULL when it has none. */
static struct serve_conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
	struct server *srv = cls;
	struct dl *dl = *con_cls;
	if (!dl) {
		struct serve_conn *conn = conn_of(c);
		if (!conn) /* not one the front handed over: refused */
			return MHD_NO;
		if (!(dl = calloc(1, sizeof(*dl))))
			return MHD_NO;
		*con_cls = dl;
		dl->srv = srv;
		dl->conn = conn;
		strcpy(dl->image, "-");
		strcpy(dl->format, "-");
		strcpy(dl->range, "-");
		snprintf(dl->method, sizeof(dl->method), "%s", method);
		snprintf(dl->client, sizeof(dl->client), "%s", conn->client);
		dl->head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
		/* Framing read two ways is refused before anyone reads a body,
		 * the download links' and the image API's alike (http.c). */
		struct serve_framing fr = {0};
		MHD_get_connection_values(c, MHD_HEADER_KIND, framing_each, &fr);
		const char *bad = serve_framing_verdict(&fr);
		if (bad)
			return refuse_framing(c, dl, bad);
		if (srv->api && glance_owns(url)) { /* the image API's, not a download link's */
			dl->api = true;
			return glance_request(srv->api, c, conn, &dl->greq, url, method, upload_data, upload_size);
		}
		/* Another method is answered now, before its body is read: the
		 * connection closes after the answer, and nobody holds it by
		 * sending a body slowly. */
		if (!dl->head && strcmp(method, MHD_HTTP_METHOD_GET) != 0)
			return reply_text(c, dl, MHD_HTTP_METHOD_NOT_ALLOWED, "GET or HEAD\n");
		/* The first call has the headers only: answering then makes
		 * libmicrohttpd close the connection after the response (it cannot
		 * know the request was read whole); the last call answers, and the
		 * request's deadline runs until then. */
		return MHD_YES;
	}
	if (dl->api) {
		if (!*upload_size) /* whole now (conns.c, "Judged by what the client does") */
			serve_conns_asked(srv->conns, dl->conn, serve_now_ms());
		return glance_request(srv->api, c, dl->conn, &dl->greq, url, method, upload_data, upload_size);
	}
	if (*upload_size) { /* a request body: read and dropped */
		*upload_size = 0;
		return MHD_YES;
	}
	if (dl->status) /* answered already */
		return MHD_YES;
	/* Whole now: what follows (the link's checks, the blob's manifest) is
	 * ours, not the client's (conns.c, "Judged by what the client does"). */
	serve_conns_asked(srv->conns, dl->conn, serve_now_ms());
	return answer(srv, c, dl, url);
}

/* How a request ended, for its log line. */
static const char *ending(struct server *srv, struct dl *dl, enum MHD_RequestTerminationCode toe)
{
	switch (toe) {
	case MHD_REQUEST_TERMINATED_COMPLETED_OK: return "complete";
	case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED: return "timed out";
	case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN: return "server stopping";
	case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
	case MHD_REQUEST_TERMINATED_READ_ERROR: return "client closed";
	default:
		/* libmicrohttpd says "error" when a send fails, which is also what
		 * a client that went away mid-response looks like: the socket's
		 * state tells which. */
		if (dl->why[0] || !dl->conn)
			return "error";
		return serve_conns_peer_gone(srv->conns, dl->conn) ? "client closed" : "error";
	}
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct server *srv = cls;
	struct dl *dl = *con_cls;
	char client[160], why[400], method[64];
	(void)c;
	if (!dl)
		return;
	if (dl->api) {
		serve_escape(client, sizeof(client), dl->client);
		serve_metrics_request(&srv->metrics, dl->method, dl->greq ? glance_status(dl->greq) : 0,
		                      dl->greq ? glance_sent(dl->greq) : 0, false);
		glance_done(dl->greq, toe, client);
		dl->greq = NULL;
		if (dl->conn)
			serve_conns_request(srv->conns, dl->conn, serve_now_ms(), serve_now_ms() + SERVE_IDLE_S * 1000, false);
		*con_cls = NULL;
		dl_free(dl);
		return;
	}
	if (dl->watched) { /* the watcher lets go of it: its fields are ours */
		serve_watch_remove(srv->watch, &dl->xfer);
		dl->watched = false;
	}
	const char *how = ending(srv, dl, toe), *shut_why;
	if (dl->xfer.stopped && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
		how = "stopped";
		snprintf(dl->why, sizeof(dl->why), "%s", dl->xfer.stopped);
	} else if (dl->conn && (shut_why = serve_conns_why(srv->conns, dl->conn))) {
		/* The whole server's bounds ended it (conns.c): the client's pace.
		 * Whatever libmicrohttpd says: the reset of a response being sent
		 * dropped what the kernel still held of it, so one libmicrohttpd
		 * had written whole never reached its client whole (issue 47: such
		 * a line said complete). */
		how = "closed";
		snprintf(dl->why, sizeof(dl->why), "%s", shut_why);
	}
	serve_escape(client, sizeof(client), dl->client);
	serve_escape(why, sizeof(why), dl->why);
	serve_escape(method, sizeof(method), dl->method);
	serve_metrics_request(&srv->metrics, dl->method, dl->status, dl->sent, strcmp(how, "stopped") == 0);
	serve_logf(&srv->log, "%s %s %s range %s bytes %llu checks %u client %s status %d %s%s%s", method, dl->image,
	           dl->format, dl->range, (unsigned long long)dl->sent, dl->xfer.checks, client, dl->status, how,
	           why[0] ? ": " : "", why);
	/* A keep-alive connection reads the next request now: it must be
	 * complete within the idle timeout (the server cannot see when its
	 * first byte came: libmicrohttpd reads it).  One that closes is freed
	 * in a moment (on_connection). */
	if (dl->conn) {
		int64_t now = serve_now_ms();
		serve_conns_request(srv->conns, dl->conn, now, now + SERVE_IDLE_S * 1000, false);
	}
	*con_cls = NULL;
	dl_free(dl);
}

/* libmicrohttpd's connections are the front's slots. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
	struct server *srv = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		*socket_context = ci && ci->client_addr ? serve_conns_started(srv->conns, ci->client_addr) : NULL;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
		/* libmicrohttpd closes its descriptor right after: ours goes first. */
		serve_conns_release(srv->conns, *socket_context);
		*socket_context = NULL;
	}
}

/* The front's hand-over: libmicrohttpd takes fd (and closes it on failure). */
static int hand(void *arg, int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct server *srv = arg;
	return MHD_add_connection(srv->d, fd, sa, salen) == MHD_YES ? 0 : -EIO;
}

/* libmicrohttpd's own messages: noise, escaped, rate-limited. */
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	struct server *srv = cls;
	char raw[512], line[1024];
	vsnprintf(raw, sizeof(raw), fmt, ap);
	size_t n = strlen(raw);
	while (n > 0 && raw[n - 1] == '\n')
		raw[--n] = '\0';
	serve_escape(line, sizeof(line), raw);
	serve_noisef(&srv->log, SERVE_NOISE_MHD, 1, "libmicrohttpd: %s", line);
}

/* What --metrics-listen serves. */
static char *metrics_text(void *arg, size_t *len)
{
	struct server *srv = arg;
	uint64_t refused[SERVE_NOISE_COUNT];
	serve_noise_totals(&srv->log, refused);
	char *text = serve_metrics_text(&srv->metrics, serve_conns_count(srv->conns), refused, len);
	/* the database's statements: what a request costs (the image API's
	 * listings are guarded by it, tests/integration/test_glance.sh) */
	char more[400];
	int n = snprintf(more, sizeof(more), "# HELP imgfs_serve_db_statements_total SQL statements run.\n"
	                                     "# TYPE imgfs_serve_db_statements_total counter\n"
	                                     "imgfs_serve_db_statements_total %lld\n"
	                                     "# HELP imgfs_serve_lobby Connections waiting for a slot (every slot held).\n"
	                                     "# TYPE imgfs_serve_lobby gauge\n"
	                                     "imgfs_serve_lobby %u\n",
	                 (long long)model_statements(srv->m), serve_front_lobby(srv->front));
	char *all = text ? realloc(text, *len + (size_t)n + 1) : NULL;
	if (!all) {
		free(text);
		return NULL;
	}
	memcpy(all + *len, more, (size_t)n + 1);
	*len += (size_t)n;
	return all;
}

/* ---- the command --------------------------------------------------------------- */

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n < (1 << 20) && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
		buf[n] = '\0';
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* The listening socket (non-blocking: the front accepts in a loop). */
static int listen_on(const struct sockaddr_storage *ss, socklen_t len, bool v6)
{
	int one = 1, fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (v6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, len) < 0 || listen(fd, SOMAXCONN) < 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static unsigned bound_port(int fd)
{
	struct sockaddr_storage a;
	socklen_t len = sizeof(a);
	if (getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return 0;
	return ntohs(a.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&a)->sin6_port
	                                     : ((struct sockaddr_in *)&a)->sin_port);
}

/* Two descriptors per connection (ours and libmicrohttpd's), and some for
 * the database, the stores and the log: the soft limit is raised to fit. */
static int fit_fd_limit(unsigned max_conns)
{
	struct rlimit rl;
	rlim_t need = 2 * (rlim_t)max_conns + 256;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		fprintf(stderr, "imgfs serve: --max-connections %u needs %llu file descriptors; the limit is %llu "
		                "(ulimit -n)\n", max_conns, (unsigned long long)need, (unsigned long long)rl.rlim_max);
		return -EMFILE;
	}
	rl.rlim_cur = need;
	return setrlimit(RLIMIT_NOFILE, &rl) < 0 ? -errno : 0;
}

/* Stopping is bounded (issue 36): libmicrohttpd's stop joins its threads,
 * and a transfer's thread may be inside a read that waits (a database
 * server that does not answer, a store that stalls).  SERVE_STOP_BOUND_S
 * after the signal what is left is abandoned: a log line, and _exit —
 * nothing of serve's is durable (a client resumes a download with a
 * Range). */
static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;
IMGFS_LOCK_LEVEL(stop_lock, 2);
static bool stop_done;

static void *stop_bound_run(void *arg)
{
	struct serve_log *log = arg;
	struct timespec ts = {SERVE_STOP_BOUND_S, 0};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	IMGFS_LOCK(&stop_lock, stop_lock); /* kept: main goes no further */
	if (stop_done) {
		IMGFS_UNLOCK(&stop_lock, stop_lock);
		return NULL;
	}
	serve_logf(log, "stopping took more than %d s: the transfers still in progress are abandoned (a client "
	                "resumes with a Range)", SERVE_STOP_BOUND_S);
	_exit(0);
}

/* The server, from its parsed options (opts.c): the exit status. */
static int serve_run(struct serve_opts *o)
{
	struct server srv = {0};
	struct model_err err = {0};
	bool log_open = false;
	uint8_t kek[MODEL_KEK_SIZE];
	char *cert = NULL, *key = NULL;
	serve_front *front = NULL;
	sigset_t sigs;
	int rc = 1, lfd = -1, hold = -1; /* hold: the state's name held (model_host_claim) */

	if (fit_fd_limit(o->max_conns) < 0)
		return 1;
	if (o->cert_path && (!(cert = read_file(o->cert_path)) || !(key = read_file(o->key_path)))) {
		fprintf(stderr, "imgfs serve: cannot read %s\n", cert ? o->key_path : o->cert_path);
		goto out;
	}
	if ((rc = serve_log_open(&srv.log, o->log_path)) < 0) {
		fprintf(stderr, "imgfs serve: %s: %s\n", o->log_path, strerror(-rc));
		rc = 1;
		goto out;
	}
	log_open = true;
	if ((o->keyfile || o->keycmd) && model_kek_load(kek, o->keyfile, o->keycmd, &err) < 0) {
		fprintf(stderr, "imgfs serve: %s\n", err.msg);
		rc = 1;
		goto out;
	}
	/* The command ran: out of /proc/PID/cmdline (what ps shows every
	 * user) for the server's life, as the mount does (SPEC §17).  It
	 * points into our argument memory, writable, read by nothing after. */
	if (o->keycmd)
		memset((char *)o->keycmd, 'x', strlen(o->keycmd));
	if ((rc = model_open_db(&srv.m, o->state_dir, o->db, 0, &err)) < 0) {
		fprintf(stderr, "imgfs serve: %s\n", err.msg[0] ? err.msg : strerror(-rc));
		rc = 1;
		goto out;
	}
	if (o->keyfile || o->keycmd) {
		model_set_kek(srv.m, kek);
		explicit_bzero(kek, sizeof(kek));
		if (model_kek_check(srv.m, &err) < 0)
			fprintf(stderr, "imgfs serve: warning: %s\n", err.msg);
	}
	/* One name, one state (SPEC §13.11): a serve whose workers act for
	 * the host (the image API's: they register it and seal its uploads)
	 * claims its name as a mount does, and shares the claim with a mount
	 * of the same state (issue 70: two serves of two fresh states took
	 * each other's uploads). */
	if (o->db && o->glance && o->glance_workers > 0 && model_host_claim(srv.m, &hold, &err) < 0) {
		fprintf(stderr, "imgfs serve: %s\n", err.msg[0] ? err.msg : "cannot claim this host's name");
		rc = 1;
		goto out;
	}
	rc = 1;
	if ((lfd = listen_on(&o->ss, o->sslen, o->v6)) < 0) {
		fprintf(stderr, "imgfs serve: cannot listen on %s: %s\n", o->listen_at, strerror(-lfd));
		goto out;
	}
	if (serve_conns_new(&srv.conns, o->max_conns, o->per_client) < 0) {
		fprintf(stderr, "imgfs serve: out of memory\n");
		goto out;
	}

	/* The threads started from here inherit this mask: only the main
	 * thread takes the signals, in sigwait. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* libmicrohttpd listens on nothing: the front hands it connections.
	 * Its own limit (per thread of the pool: the total divided) is set
	 * above what the front lets through, so it never refuses one — it
	 * would close the socket without a word. */
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG |
	                 (o->v6 ? MHD_USE_IPv6 : 0) | (cert ? MHD_USE_TLS : 0) |
	                 (o->glance ? MHD_ALLOW_SUSPEND_RESUME : 0); /* an upload waits for its seal (glance/data.c) */
	struct MHD_OptionItem ops[] = {
		{MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_logger, &srv}, /* first: it catches what the others say */
		{MHD_OPTION_THREAD_POOL_SIZE, o->threads, NULL},
		{MHD_OPTION_CONNECTION_LIMIT, (intptr_t)((o->max_conns + 64) * o->threads), NULL},
		{MHD_OPTION_CONNECTION_TIMEOUT, SERVE_STALL_S, NULL},
		{MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, &srv},
		{MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, &srv},
		{cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, cert},
		{cert ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, key},
		{MHD_OPTION_END, 0, NULL},
	};
	srv.d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &srv, MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
	if (!srv.d) {
		fprintf(stderr, "imgfs serve: libmicrohttpd did not start (a bad certificate or key?)\n");
		goto out;
	}
	if (o->glance) {
		char why[256], at[INET6_ADDRSTRLEN + 16];
		snprintf(at, sizeof(at), "%.*s:%u", (int)(strrchr(o->listen_at, ':') - o->listen_at), o->listen_at,
		         bound_port(lfd));
		struct glance_opts go = {.m = srv.m, .log = &srv.log, .conns = srv.conns, .tls = cert != NULL,
		                         .listen = at, .region = o->glance_region, .workers = o->glance_workers,
		                         .peer = o->glance_peer,
		                         .sha512 = o->glance_hash_algo && strcmp(o->glance_hash_algo, "sha512") == 0};
		if (glance_new(&srv.api, &go, why, sizeof(why)) < 0) {
			fprintf(stderr, "imgfs serve: %s\n", why);
			rc = 1;
			goto out;
		}
	}
	if ((rc = serve_watch_start(&srv.watch, srv.m, srv.conns, &srv.log)) < 0) {
		fprintf(stderr, "imgfs serve: %s\n", strerror(-rc));
		rc = 1;
		goto out;
	}
	unsigned port = bound_port(lfd);
	struct serve_front_ops fops = {hand, &srv};
	if ((rc = serve_front_start(&front, lfd, cert != NULL, srv.conns, &srv.log, &fops)) < 0) {
		fprintf(stderr, "imgfs serve: %s\n", strerror(-rc));
		rc = 1;
		goto out;
	}
	lfd = -1; /* the front's */
	srv.front = front;
	rc = 1;
	serve_logf(&srv.log, "listening on %s://%.*s:%u (%u threads, at most %u connections, %u per client)",
	           cert ? "https" : "http", (int)(strrchr(o->listen_at, ':') - o->listen_at), o->listen_at, port, o->threads,
	           o->max_conns, o->per_client);
	if (o->metrics_at) {
		int mfd = listen_on(&o->mss, o->msslen, o->mv6);
		if (mfd < 0) {
			fprintf(stderr, "imgfs serve: cannot listen on %s: %s\n", o->metrics_spec, strerror(-mfd));
			goto out;
		}
		unsigned mport = bound_port(mfd);
		if ((rc = serve_metrics_start(&srv.ms, mfd, metrics_text, &srv)) < 0) {
			close(mfd);
			fprintf(stderr, "imgfs serve: the metrics listener did not start: %s\n", strerror(-rc));
			rc = 1;
			goto out;
		}
		rc = 1;
		serve_logf(&srv.log, "metrics on http://%.*s:%u/metrics", (int)(strrchr(o->metrics_spec, ':') - o->metrics_spec),
		           o->metrics_spec, mport);
	}
	fs_sd_notify("READY=1");
	for (;;) {
		int sig = 0;
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) { /* logrotate */
			serve_log_reopen(&srv.log);
			continue;
		}
		fs_sd_notify("STOPPING=1");
		serve_logf(&srv.log, "stopping (signal %d)", sig);
		pthread_t t;
		if (pthread_create(&t, NULL, stop_bound_run, &srv.log) == 0)
			pthread_detach(t);
		break;
	}
	rc = 0;
out:
	/* No new connection, then none served, then nobody left to stop. */
	serve_metrics_stop(srv.ms);
	serve_front_stop(front);
	glance_quiesce(srv.api); /* suspended requests resumed: libmicrohttpd stops only with none */
	if (srv.d)
		MHD_stop_daemon(srv.d);
	glance_free(srv.api);
	serve_watch_stop(srv.watch);
	serve_conns_free(srv.conns);
	if (lfd >= 0)
		close(lfd);
	if (hold >= 0)
		model_host_release(srv.m, hold); /* the name free at once, unless a mount of the state holds it */
	model_close(srv.m);
	IMGFS_LOCK(&stop_lock, stop_lock); /* ended within the bound: the log stays ours */
	stop_done = true;
	IMGFS_UNLOCK(&stop_lock, stop_lock);
	if (log_open)
		serve_log_close(&srv.log);
	free(cert);
	free(key);
	return rc;
}

int serve_main(int argc, char **argv)
{
	struct serve_opts o;
	int rc = serve_opts_parse(&o, argc, argv);
	return rc == 0 ? serve_run(&o) : rc == 1 ? 0 : rc;
}
