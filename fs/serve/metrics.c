/*
 * metrics.c — `imgfs serve --metrics-listen ADDR:PORT`: the server's
 * counters in the Prometheus text format (0.0.4), on a listener of its own
 * (issue 24).
 *
 * Who calls it: serve.c (counts each request as it ends; starts and stops
 * the listener).  GET or HEAD /metrics answers 200; another path 404;
 * another method 405.
 *
 * Why a listener of its own, and loopback by default: the download port
 * faces the tenants' clients, often the internet, and a scraper must need
 * no download token; the metrics name no tenant, image or client (the
 * labels are a method among three, a status code and a reason among
 * six), but how busy the service is, and how often it is attacked, is the
 * operator's business.  So the metrics are never on the download port,
 * `--metrics-listen PORT` binds 127.0.0.1, and an operator who wants a
 * scraper elsewhere names the address (a private network) on purpose.
 * Without the option there is no metrics listener.
 *
 * The listener is bounded like the rest (SPEC §12): libmicrohttpd's own
 * thread and socket, at most METRICS_CONNECTIONS connections (2 per client
 * address), each dropped after METRICS_TIMEOUT_S without a byte; the body
 * is a few KiB whatever clients do.
 *
 *   imgfs_serve_requests_total{method,status}  requests answered (GET, HEAD,
 *                                              other), only the pairs seen
 *   imgfs_serve_sent_bytes_total               body bytes sent
 *   imgfs_serve_connections                    open client connections, any state
 *   imgfs_serve_refused_connections_total{reason}
 *        per_client    past --max-per-client (503 or a close)
 *        garbage       bytes that do not start a request of the port's kind (400)
 *        late_request  a request not complete in time (closed)
 *        idle          no request on a connection in time (closed)
 *   imgfs_serve_transfers_stopped_total        ended because their link ended
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "serve.h"

#define METRICS_CONNECTIONS 8
#define METRICS_TIMEOUT_S 10
#define METRICS_BODY_MAX (64u << 10)

static const char *const method_names[SERVE_METRICS_METHODS] = {"GET", "HEAD", "other"};

void serve_metrics_request(struct serve_metrics *mt, const char *method, int status, uint64_t sent, bool stopped)
{
	int k = strcmp(method, "GET") == 0 ? 0 : strcmp(method, "HEAD") == 0 ? 1 : 2;
	if (status < 100 || status > 599)
		status = 0; /* none sent: counted as status "0" */
	__atomic_add_fetch(&mt->requests[k][status ? status - 99 : 0], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&mt->sent_bytes, sent, __ATOMIC_RELAXED);
	if (stopped)
		__atomic_add_fetch(&mt->stopped, 1, __ATOMIC_RELAXED);
}

struct body {
	char *buf;
	size_t len, cap;
};

static void put(struct body *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct body *b, const char *fmt, ...)
{
	va_list ap;
	if (!b->buf || b->len >= b->cap)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len = n < 0 || (size_t)n >= b->cap - b->len ? b->cap : b->len + (size_t)n;
}

static void family(struct body *b, const char *name, const char *type, const char *help)
{
	put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The text of every family; the caller frees it.  NULL when out of memory
 * or past METRICS_BODY_MAX (never, with these families). */
char *serve_metrics_text(struct serve_metrics *mt, unsigned connections, const uint64_t refused[SERVE_NOISE_COUNT],
                         size_t *len)
{
	static const struct {
		enum serve_noise kind;
		const char *reason;
	} reasons[] = {
		{SERVE_NOISE_CAP, "per_client"},
		{SERVE_NOISE_GARBAGE, "garbage"},
		{SERVE_NOISE_SLOW, "late_request"},
		{SERVE_NOISE_IDLE, "idle"},
		{SERVE_NOISE_EVICT, "evicted"},
		{SERVE_NOISE_READER, "slow_reader"},
		{SERVE_NOISE_FULL, "full"},
	};
	struct body b = {malloc(METRICS_BODY_MAX), 0, METRICS_BODY_MAX};
	family(&b, "imgfs_serve_requests_total", "counter", "HTTP requests answered, by method and status.");
	for (int k = 0; k < SERVE_METRICS_METHODS; k++)
		for (int s = 0; s < SERVE_METRICS_STATUSES; s++) {
			uint64_t v = __atomic_load_n(&mt->requests[k][s], __ATOMIC_RELAXED);
			if (v)
				put(&b, "imgfs_serve_requests_total{method=\"%s\",status=\"%d\"} %llu\n", method_names[k],
				    s ? s + 99 : 0, (unsigned long long)v);
		}
	family(&b, "imgfs_serve_sent_bytes_total", "counter", "Body bytes sent.");
	put(&b, "imgfs_serve_sent_bytes_total %llu\n",
	    (unsigned long long)__atomic_load_n(&mt->sent_bytes, __ATOMIC_RELAXED));
	family(&b, "imgfs_serve_connections", "gauge", "Open client connections, in any state.");
	put(&b, "imgfs_serve_connections %u\n", connections);
	family(&b, "imgfs_serve_refused_connections_total", "counter",
	       "Client connections refused or closed by the server's bounds, by reason.");
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		put(&b, "imgfs_serve_refused_connections_total{reason=\"%s\"} %llu\n", reasons[i].reason,
		    (unsigned long long)refused[reasons[i].kind]);
	family(&b, "imgfs_serve_transfers_stopped_total", "counter",
	       "Transfers ended because their link ended (revoked, image deleted or moved).");
	put(&b, "imgfs_serve_transfers_stopped_total %llu\n",
	    (unsigned long long)__atomic_load_n(&mt->stopped, __ATOMIC_RELAXED));
	if (b.buf && b.len >= b.cap) {
		free(b.buf);
		return NULL;
	}
	*len = b.len;
	return b.buf;
}

struct serve_metrics_server {
	struct MHD_Daemon *d;
	serve_metrics_source source;
	void *arg;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *text)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
	enum MHD_Result rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct serve_metrics_server *ms = cls;
	(void)version;
	(void)upload;
	if (!*con_cls) { /* the headers: answer once the request is read */
		*con_cls = ms;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET /metrics\n");
	if (strcmp(url, "/metrics") != 0)
		return reply(c, MHD_HTTP_NOT_FOUND, "the metrics are at /metrics\n");
	size_t len = 0;
	char *text = ms->source(ms->arg, &len);
	if (!text)
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rc;
}

int serve_metrics_start(serve_metrics_server **out, int lfd, serve_metrics_source source, void *arg)
{
	serve_metrics_server *ms = calloc(1, sizeof(*ms));
	if (!ms)
		return -ENOMEM;
	ms->source = source;
	ms->arg = arg;
	ms->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, on_request, ms,
	                         MHD_OPTION_LISTEN_SOCKET, lfd, MHD_OPTION_CONNECTION_LIMIT,
	                         (unsigned)METRICS_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT, 2u,
	                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_TIMEOUT_S, MHD_OPTION_END);
	if (!ms->d) {
		free(ms);
		return -EIO;
	}
	*out = ms;
	return 0;
}

void serve_metrics_stop(serve_metrics_server *ms)
{
	if (!ms)
		return;
	MHD_stop_daemon(ms->d);
	free(ms);
}
