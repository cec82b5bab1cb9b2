/*
 * reply.h — what a handler of the image API asks of its request and of the
 * server it runs on (reply.c): the replies (JSON, empty, a refusal with its
 * status and reason), the image a path names and whether the caller may
 * see or change it, the body as JSON, the query, and the server's model,
 * log, task runners and waits.
 *
 * Who includes it: api.c, which makes the request and dispatches it, and
 * every handler (images.c, members.c, tasks.c, data.c, identity.c,
 * schemas.c, render.c).  It sits below all of them: reply.c calls none of
 * them, so api.c dispatches down to a handler and both reply through
 * reply.c (the shape of fs/fuse's req.c), with no circle between them.
 */
#ifndef IMGFS_GLANCE_REPLY_H
#define IMGFS_GLANCE_REPLY_H

#include "glance.h"

/* The server: made and freed by api.c (glance_new, glance_free), read by
 * api.c for a request's region and links and by reply.c's accessors; a
 * handler asks through the accessors (glance_model...), not the fields. */
struct glance {
	model *m;
	struct serve_log *log;
	serve_conns *conns;
	bool tls;
	char listen[80];
	int64_t region_id;
	char region[MODEL_NAME_MAX + 1];
	glance_workers *workers;
	glance_waits *waits;
	char peer[256];
	bool sha512;          /* --glance-hash-algo sha512 */
};

/* A query's parameters, as libmicrohttpd decoded them, in order (a key
 * may come again: tag=a&tag=b); more than GLANCE_QUERY_MAX is refused. */
struct glance_query {
	int n;
	const char *key[GLANCE_QUERY_MAX];
	const char *value[GLANCE_QUERY_MAX];
};
/* The first value of key, NULL when absent. */
const char *glance_query_get(const struct glance_query *q, const char *key);

#define GLANCE_ARGS 3
#define GLANCE_ARG_CAP 257 /* a segment's bytes kept, and the NUL */
struct glance_req {
	glance *g;
	struct MHD_Connection *c;
	struct serve_conn *conn;
	char method[16];
	char path[GLANCE_PATH_MAX];   /* below the region's prefix, decoded, without the query */
	struct glance_query query;
	char root[320];               /* "http[s]://host:port": identity links */
	char base[640];               /* root and the region's prefix: the image API's links */
	const struct glance_route *route;
	char arg[GLANCE_ARGS][GLANCE_ARG_CAP]; /* the route's '*' segments, %-decoded: 256 bytes
	                                         stand for a longer one (a tag's 400, as Glance) */
	int64_t region_id;
	char region[MODEL_NAME_MAX + 1];
	struct model_account caller;
	bool authed;
	char request_id[48];          /* "req-<uuid>": x-openstack-request-id */
	char *body;                   /* a JSON body, NUL-terminated */
	size_t body_len, body_cap;
	bool body_too_big;
	int status;                   /* sent, 0 before */
	bool feeding;                 /* in a data route's feed: a reply made now is deferred */
	struct MHD_Response *deferred; /* a refusal made mid-body, queued once the body is in */
	uint64_t sent;                /* body bytes sent (a download's) */
	int64_t first_ms;             /* the body's first byte */
	uint64_t received;            /* body bytes taken */
	struct glance_data *data;     /* data.c's: an upload being written, a download, a wait */
	char why[256];                /* a refusal's reason, for the log */
	const char *hdr[3][2];        /* headers the reply adds (name, value): static text, or the request's */
	char location[720];           /* a created image's Location (base and path), for hdr */
	/* An image route's image (arg 0) and the caller's rights over it
	 * (model/include/rights.h), found by the dispatcher before the
	 * handler runs; NULL on the other routes. */
	struct model_api_image *image;
	unsigned rights;
};

/* A route: method, path pattern ("/v2/images/ * /members" with '*' one
 * segment), what it reads, its handler. */
enum glance_body { GLANCE_BODY_NONE = 0, GLANCE_BODY_JSON, GLANCE_BODY_DATA };
struct glance_route {
	const char *method;
	const char *pattern;
	enum glance_body body;
	bool anonymous;               /* answered without a token (versions, login) */
	/* An image route (arg 0 an image id): the rights (MODEL_RIGHT_*) the
	 * caller needs, asked once by the dispatcher — 404 unseen, 403 without
	 * them, with refused (NULL: the model's sentence) — before run. */
	unsigned right;
	const char *refused;
	int (*run)(struct glance_req *r);
	/* data routes: a piece of the body (data.c) */
	int (*feed)(struct glance_req *r, const char *buf, size_t len);
};

/* Replies: each queues the response and returns libmicrohttpd's result
 * (what a handler returns).  reply_json takes the reference of body. */
int glance_reply_json(struct glance_req *r, int status, json_t *body);
int glance_reply_empty(struct glance_req *r, int status);
struct MHD_Response;
/* Queues resp (taking it): the request id, the slot's state, the status. */
int glance_queue(struct glance_req *r, int status, struct MHD_Response *resp);
/* A refusal: the status, the reason as the body (text/plain), the log. */
int glance_reply_error(struct glance_req *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A model refusal: its errno's status (SPEC §19's table), its reason. */
int glance_reply_model(struct glance_req *r, int rc, const struct model_err *err);
int glance_http_status(int rc); /* -errno -> status */
/* The caller's rights over img through this API: the model's
 * (model_image_rights), none for an image of another region or in a
 * recycle bin (deleted, to the API); -EIO when the database did not say. */
int glance_rights(const struct glance_req *r, const struct model_image *img, unsigned *out);
/* The dispatcher's question for an image route: finds arg 0's image into
 * r->image and its rights into r->rights; 0, or replied (404 unseen or
 * absent, 403 without the route's right, 503 the database away). */
int glance_route_image(struct glance_req *r);
/* The request's body as JSON (an object), or replied 400. */
json_t *glance_body_json(struct glance_req *r, bool *replied);
/* A line in the server's log. */
void glance_logf(glance *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The peer's root URL (glance_opts.peer), NULL when none. */
const char *glance_peer(glance *g);
/* Kicks the task runners (a task was queued). */
void glance_kick(glance *g);
model *glance_model(glance *g);
/* The waits for a seal (data.c's), which the server holds. */
glance_waits *glance_waits_of(glance *g);

#endif
