/*
 * serve.c — `imgfs serve`: the HTTP server of download links (SPEC §14).
 *
 * Who calls it: fs/main.c (`imgfs serve ...`).  It opens the state (or the
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
 * up again on every request: a revoked link or a deleted image is 404 at
 * once, whatever a mount of the same state does meanwhile.
 *
 * Why libmicrohttpd: HTTP/1.1 parsing, keep-alive, HEAD, timeouts and TLS
 * (GnuTLS) are its, well kept and in Debian; this file only maps a request
 * to bytes.  The body is a response "from callback": libmicrohttpd asks
 * for the next bytes when the socket can take them, into one buffer of
 * SERVE_BLOCK bytes per connection, so memory does not grow with the
 * number or slowness of clients: a slow client holds its connection and
 * its buffer, nothing else, and no thread waits for it (a small pool of
 * threads polls every connection).  Connections are bounded
 * (--max-connections); an idle one is closed after SERVE_IDLE_S.
 *
 * Bytes come from blob_store_read (raw, iso) or qcow2_out_read (qcow2),
 * both verifying every chunk: a chunk that does not match its id ends the
 * response early (the client sees a short body and can resume), with a
 * line in the log, never wrong bytes.  A raw read never spans two chunks,
 * so everything before a bad chunk is sent.
 *
 * The log: one line per request, when it ends — image id, format, range,
 * bytes sent, client address, status, and how it ended — to stderr and
 * --log FILE.  Nothing a client chose reaches it unescaped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "model.h"
#include "qcow2_out.h"
#include "serve.h"

#define SERVE_BLOCK (256u << 10) /* the body buffer of one connection */
#define SERVE_IDLE_S 300
#define SERVE_THREADS 4
#define SERVE_MAX_CONNECTIONS 64

struct server {
	model *m;
	const char *log_path;
	FILE *log;
	pthread_mutex_t log_lock;
};

/* One request, from its first line to its log line. */
struct dl {
	struct server *srv;
	char client[INET6_ADDRSTRLEN + 8];
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
};

static void serve_log(struct server *srv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void serve_log(struct server *srv, const char *fmt, ...)
{
	char line[1024], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	pthread_mutex_lock(&srv->log_lock);
	fprintf(stderr, "%s imgfs serve: %s\n", stamp, line);
	if (srv->log) {
		fprintf(srv->log, "%s imgfs serve: %s\n", stamp, line);
		fflush(srv->log);
	}
	pthread_mutex_unlock(&srv->log_lock);
}

static void dl_free(struct dl *dl)
{
	if (!dl)
		return;
	qcow2_out_free(dl->q);
	blob_manifest_free(dl->man);
	free(dl);
}

/* ---- the body ---------------------------------------------------------------- */

static ssize_t body_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct dl *dl = cls;
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

static enum MHD_Result reply_text(struct MHD_Connection *c, struct dl *dl, int status, const char *text)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	dl->status = status;
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
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
	if ((rc = model_link_device(srv->m, img, &dev)) < 0 || (rc = model_blob_get(srv->m, dev.blob_id, b)) < 0)
		return rc == -ENOENT ? MHD_HTTP_NOT_FOUND : MHD_HTTP_INTERNAL_SERVER_ERROR;
	if (!b->sealed)
		return MHD_HTTP_NOT_FOUND;
	if ((rc = model_store(srv->m, b->region_id, &dl->s)) < 0 || (rc = model_blob_manifest(srv->m, b->id, &dl->man)) < 0)
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
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

	if (!serve_path_token(url, token, sizeof(token)))
		return reply_text(c, dl, MHD_HTTP_NOT_FOUND, "no such download\n");
	rc = model_link_resolve(srv->m, token, time(NULL), &l);
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
		                  status == MHD_HTTP_NOT_FOUND ? "no such download\n" : "try again later\n");

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
		snprintf(crange, sizeof(crange), "bytes */%llu", (unsigned long long)size);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, crange);
		MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
		MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
		dl->status = MHD_HTTP_RANGE_NOT_SATISFIABLE;
		enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_RANGE_NOT_SATISFIABLE, r);
		MHD_destroy_response(r);
		return ret;
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
		snprintf(crange, sizeof(crange), "bytes %llu-%llu/%llu", (unsigned long long)dl->start,
		         (unsigned long long)(dl->start + dl->len - 1), (unsigned long long)size);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, crange);
	}
	dl->status = ranged > 0 ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK;
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)dl->status, r);
	MHD_destroy_response(r);
	return ret;
}

static void client_address(struct MHD_Connection *c, char *out, size_t cap)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (ci && ci->client_addr) {
		if (ci->client_addr->sa_family == AF_INET) {
			const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)ci->client_addr;
			inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
			port = ntohs(a->sin_port);
		} else if (ci->client_addr->sa_family == AF_INET6) {
			const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)ci->client_addr;
			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
			port = ntohs(a->sin6_port);
		}
	}
	snprintf(out, cap, "%s:%u", host, port);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
	struct server *srv = cls;
	struct dl *dl = *con_cls;
	if (!dl) {
		/* The first call has the headers only: answering then makes
		 * libmicrohttpd close the connection after the response (it cannot
		 * know the request was read whole); the second call answers. */
		if (!(dl = calloc(1, sizeof(*dl))))
			return MHD_NO;
		*con_cls = dl;
		dl->srv = srv;
		strcpy(dl->image, "-");
		strcpy(dl->format, "-");
		strcpy(dl->range, "-");
		snprintf(dl->method, sizeof(dl->method), "%s", method);
		client_address(c, dl->client, sizeof(dl->client));
		return MHD_YES;
	}
	if (*upload_size) { /* a request body: read and dropped */
		*upload_size = 0;
		return MHD_YES;
	}
	if (dl->status) /* answered already */
		return MHD_YES;
	dl->head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	if (!dl->head && strcmp(method, MHD_HTTP_METHOD_GET) != 0)
		return reply_text(c, dl, MHD_HTTP_METHOD_NOT_ALLOWED, "GET or HEAD\n");
	return answer(srv, c, dl, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct server *srv = cls;
	struct dl *dl = *con_cls;
	char client[160], why[400], method[64];
	const char *how = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "complete"
	                  : toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT ? "client closed"
	                  : toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timed out"
	                  : toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "server stopping"
	                                                                  : "error";
	if (!dl)
		return;
	serve_escape(client, sizeof(client), dl->client);
	serve_escape(why, sizeof(why), dl->why);
	serve_escape(method, sizeof(method), dl->method);
	serve_log(srv, "%s %s %s range %s bytes %llu client %s status %d %s%s%s", method, dl->image,
	          dl->format, dl->range, (unsigned long long)dl->sent, client, dl->status, how, why[0] ? ": " : "", why);
	*con_cls = NULL;
	dl_free(dl);
}

/* ---- the command --------------------------------------------------------------- */

static const char serve_usage[] =
	"usage: imgfs serve [--state DIR] [--db URL] [--listen ADDR:PORT] [--tls-cert FILE --tls-key FILE]\n"
	"                   [--log FILE] [--threads N] [--max-connections N]\n"
	"  Serves the state's download links (SPEC §14) over HTTP/1.1, HTTPS with a certificate.\n"
	"  --listen    default 127.0.0.1:8080; port 0 picks a free one (printed at start)\n"
	"  --log       also append the log lines (one per download) to FILE\n"
	"  --threads   threads polling the connections (default 4)\n"
	"  --max-connections  open connections at most (default 64); more wait in the backlog\n";

static int usage_error(const char *why)
{
	fprintf(stderr, "imgfs serve: %s\n%s", why, serve_usage);
	return 2;
}

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

static bool parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return false;
	*out = (unsigned)v;
	return true;
}

/* "ADDR:PORT" or "[V6]:PORT" into ss; numeric addresses only. */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len, bool *v6)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *port;
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE, .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		if (!close || close[1] != ':' || (size_t)(close - spec - 1) >= sizeof(host))
			return -EINVAL;
		snprintf(host, sizeof(host), "%.*s", (int)(close - spec - 1), spec + 1);
		port = close + 2;
	} else {
		const char *colon = strrchr(spec, ':');
		if (!colon || (size_t)(colon - spec) >= sizeof(host))
			return -EINVAL;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
		port = colon + 1;
	}
	if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
		return -EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	*v6 = ai->ai_family == AF_INET6;
	freeaddrinfo(ai);
	return 0;
}

int serve_main(int argc, char **argv)
{
	struct server srv = {.log_lock = PTHREAD_MUTEX_INITIALIZER};
	struct model_err err = {0};
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	bool v6 = false;
	char state[PATH_MAX] = "";
	const char *db = NULL, *listen_at = "127.0.0.1:8080", *cert_path = NULL, *key_path = NULL;
	char *cert = NULL, *key = NULL;
	unsigned threads = SERVE_THREADS, max_conns = SERVE_MAX_CONNECTIONS;
	struct MHD_Daemon *d = NULL;
	sigset_t sigs;
	int rc = 1;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(serve_usage, stdout);
			return 0;
		}
		if (i + 1 >= argc)
			return usage_error("every option takes a value");
		const char *o = argv[i], *v = argv[++i];
		if (strcmp(o, "--state") == 0)
			snprintf(state, sizeof(state), "%s", v);
		else if (strcmp(o, "--db") == 0)
			db = v;
		else if (strcmp(o, "--listen") == 0)
			listen_at = v;
		else if (strcmp(o, "--tls-cert") == 0 || strcmp(o, "--cert") == 0)
			cert_path = v;
		else if (strcmp(o, "--tls-key") == 0 || strcmp(o, "--key") == 0)
			key_path = v;
		else if (strcmp(o, "--log") == 0)
			srv.log_path = v;
		else if (strcmp(o, "--threads") == 0) {
			if (!parse_uint(v, 1, 64, &threads))
				return usage_error("--threads takes 1 to 64");
		} else if (strcmp(o, "--max-connections") == 0) {
			if (!parse_uint(v, 1, 4096, &max_conns))
				return usage_error("--max-connections takes 1 to 4096");
		} else {
			return usage_error("unknown option");
		}
	}
	if (!cert_path != !key_path)
		return usage_error("--tls-cert and --tls-key go together");
	if (parse_listen(listen_at, &ss, &sslen, &v6) < 0)
		return usage_error("--listen takes ADDR:PORT with a numeric address (127.0.0.1:8080, [::1]:8080)");
	if (!state[0] && model_default_state_dir(state, sizeof(state)) < 0)
		return usage_error("no default state directory; use --state DIR");
	if (cert_path && (!(cert = read_file(cert_path)) || !(key = read_file(key_path)))) {
		fprintf(stderr, "imgfs serve: cannot read %s\n", cert ? key_path : cert_path);
		goto out;
	}
	if (srv.log_path && !(srv.log = fopen(srv.log_path, "ae"))) {
		fprintf(stderr, "imgfs serve: %s: %s\n", srv.log_path, strerror(errno));
		goto out;
	}
	if ((rc = model_open_db(&srv.m, state, db, 0, &err)) < 0) {
		fprintf(stderr, "imgfs serve: %s\n", err.msg[0] ? err.msg : strerror(-rc));
		rc = 1;
		goto out;
	}
	rc = 1;

	/* The threads libmicrohttpd starts inherit this mask: only the main
	 * thread takes the signals, in sigwait. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0) |
	                 (cert ? MHD_USE_TLS : 0);
	struct MHD_OptionItem ops[] = {
		{MHD_OPTION_SOCK_ADDR, 0, &ss},
		{MHD_OPTION_THREAD_POOL_SIZE, threads, NULL},
		{MHD_OPTION_CONNECTION_LIMIT, max_conns, NULL},
		{MHD_OPTION_CONNECTION_TIMEOUT, SERVE_IDLE_S, NULL},
		{MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, &srv},
		{cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, cert},
		{cert ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, key},
		{MHD_OPTION_END, 0, NULL},
	};
	d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &srv, MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "imgfs serve: cannot listen on %s (in use, or not this machine's address?)\n", listen_at);
		goto out;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	serve_log(&srv, "listening on %s://%.*s:%u (%u threads, at most %u connections)", cert ? "https" : "http",
	          (int)(strrchr(listen_at, ':') - listen_at), listen_at, di ? di->port : 0, threads, max_conns);
	for (;;) {
		int sig = 0;
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) { /* logrotate */
			pthread_mutex_lock(&srv.log_lock);
			if (srv.log && srv.log_path) {
				FILE *f = fopen(srv.log_path, "ae");
				if (f) {
					fclose(srv.log);
					srv.log = f;
				}
			}
			pthread_mutex_unlock(&srv.log_lock);
			continue;
		}
		serve_log(&srv, "stopping (signal %d)", sig);
		break;
	}
	MHD_stop_daemon(d);
	rc = 0;
out:
	model_close(srv.m);
	if (srv.log)
		fclose(srv.log);
	free(cert);
	free(key);
	return rc;
}
