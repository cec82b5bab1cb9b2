/*
 * api.c — a request of the image API (SPEC §19) from libmicrohttpd's
 * first call to its log line: the routes as a table, the region a path
 * names, the caller, the body (bounded), the dispatch to a route's handler.
 *
 * Who calls it: serve.c's access handler, for every path but /d/...,
 * when `imgfs serve --glance` runs.  It calls the handlers (images.c, ...)
 * and none calls it back: they and this file reply through reply.c, the
 * floor below both (reply.h).
 *
 * Paths.  The root serves the default region (--glance-region, else the
 * first); /region/<name>/... serves region <name>: the identity face's
 * catalogue lists one image endpoint per region, as OpenStack's has one
 * per region.  A token rides in X-Auth-Token; HTTP Basic with an account's
 * API password is taken too (openstack's http_basic).  Without either, or
 * with one that does not resolve, a route that needs a caller is 401.
 *
 * The body.  A JSON body is read whole into memory, at most
 * GLANCE_BODY_MAX bytes (413 beyond, before more is read when
 * Content-Length says so); a data route (file, stage) hands each piece to
 * data.c as it arrives, and its deadline moves with what arrived: the
 * body must average SERVE_MIN_RATE bytes a second and never pause
 * SERVE_REQUEST_S seconds (the connection's slot, conns.c), so a large
 * upload is not cut at the ten seconds a request has, nor held by a
 * client that sends a byte now and then.
 *
 * A refusal made while a data body arrives (data.c's feed: not the image's
 * owner, not queued, too many uploads, a write that failed) is queued only
 * once the body is in, the rest of the body read and dropped on the same
 * deadline: libmicrohttpd 0.9.75 answers nothing to a response queued
 * mid-body (the client saw an empty reply), and a client sends its whole
 * body before it reads an answer.
 *
 * Errors.  A model refusal's errno is a status (reply.c's
 * glance_http_status, §19's table) and its reason is the body, as text;
 * each request ends in one log line (method, path, account, status,
 * bytes, client, how it ended, the reason), escaped (serve_escape).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <microhttpd.h>
#include <openssl/evp.h>

#include "reply.h"
#include "serve.h"
#include "serve_conns.h"

void glance_quiesce(glance *g)
{
	if (g)
		glance_waits_stop(g->waits);
}

static int first_region(void *arg, const struct model_region *r)
{
	*(struct model_region *)arg = *r;
	return 1;
}

int glance_new(glance **out, const struct glance_opts *o, char *why, size_t whycap)
{
	struct model_region *reg = calloc(1, sizeof(*reg));
	glance *g = calloc(1, sizeof(*g));
	int rc;
	*out = NULL;
	if (!g || !reg) {
		free(g);
		free(reg);
		snprintf(why, whycap, "out of memory");
		return -ENOMEM;
	}
	g->m = o->m;
	g->log = o->log;
	g->conns = o->conns;
	g->tls = o->tls;
	snprintf(g->listen, sizeof(g->listen), "%s", o->listen);
	snprintf(g->peer, sizeof(g->peer), "%s", o->peer ? o->peer : "");
	g->sha512 = o->sha512;
	rc = o->region ? model_region_by_name(o->m, o->region, reg) : model_region_list(o->m, 0, first_region, reg);
	if (rc < 0 || !reg->id) {
		snprintf(why, whycap, "--glance-region: no region %s", o->region ? o->region : "at all");
		free(reg);
		free(g);
		return -ENOENT;
	}
	g->region_id = reg->id;
	snprintf(g->region, sizeof(g->region), "%s", reg->name);
	free(reg);
	if ((rc = glance_waits_start(&g->waits, o->m)) < 0) {
		snprintf(why, whycap, "the waiter did not start: %s", strerror(-rc));
		free(g);
		return rc;
	}
	if (o->workers && (rc = glance_workers_start(&g->workers, o->m, o->workers, o->log)) < 0) {
		glance_waits_free(g->waits);
		snprintf(why, whycap, "the task runners did not start: %s", strerror(-rc));
		free(g);
		return rc;
	}
	*out = g;
	return 0;
}

void glance_free(glance *g)
{
	if (!g)
		return;
	glance_workers_stop(g->workers);
	glance_waits_free(g->waits);
	free(g);
}

bool glance_owns(const char *url)
{
	return strncmp(url, "/d/", 3) != 0;
}

/* ---- routes ------------------------------------------------------------------------ */

static const struct glance_route routes[] = {
	{"GET", "/", GLANCE_BODY_NONE, true, 0, NULL, versions, NULL},
	{"GET", "/versions", GLANCE_BODY_NONE, true, 0, NULL, versions, NULL},
	{"GET", "/v2", GLANCE_BODY_NONE, true, 0, NULL, versions, NULL},
	{"GET", "/v2/", GLANCE_BODY_NONE, true, 0, NULL, versions, NULL},
	{"GET", "/v3/", GLANCE_BODY_NONE, true, 0, NULL, identity_versions, NULL},
	{"GET", "/v2/schemas/*", GLANCE_BODY_NONE, true, 0, NULL, schemas_show, NULL},
	{"GET", "/v2/images", GLANCE_BODY_NONE, false, 0, NULL, images_list, NULL},
	{"POST", "/v2/images", GLANCE_BODY_JSON, false, 0, NULL, images_create, NULL},
	{"GET", "/v2/images/*", GLANCE_BODY_NONE, false, MODEL_RIGHT_SEE, NULL, images_show, NULL},
	{"PATCH", "/v2/images/*", GLANCE_BODY_JSON, false, MODEL_RIGHT_CHANGE, NULL, images_update, NULL},
	{"DELETE", "/v2/images/*", GLANCE_BODY_NONE, false, MODEL_RIGHT_CHANGE, NULL, images_delete, NULL},
	{"PUT", "/v2/images/*/file", GLANCE_BODY_DATA, false, MODEL_RIGHT_CHANGE, "only the image's owner uploads its data", data_put, data_feed},
	{"GET", "/v2/images/*/file", GLANCE_BODY_NONE, false, MODEL_RIGHT_READ, NULL, data_get, NULL},
	{"PUT", "/v2/images/*/stage", GLANCE_BODY_DATA, false, MODEL_RIGHT_CHANGE, "only the image's owner uploads its data", data_put, data_feed},
	{"POST", "/v2/images/*/import", GLANCE_BODY_JSON, false, MODEL_RIGHT_CHANGE, "only the image's owner imports its data", tasks_import, NULL},
	{"GET", "/v2/images/*/tasks", GLANCE_BODY_NONE, false, MODEL_RIGHT_SEE, NULL, tasks_of_image, NULL},
	{"POST", "/v2/images/*/actions/deactivate", GLANCE_BODY_NONE, false, MODEL_RIGHT_CHANGE, NULL, images_deactivate, NULL},
	{"POST", "/v2/images/*/actions/reactivate", GLANCE_BODY_NONE, false, MODEL_RIGHT_CHANGE, NULL, images_reactivate, NULL},
	{"PUT", "/v2/images/*/tags/*", GLANCE_BODY_NONE, false, MODEL_RIGHT_CHANGE, NULL, images_tag_add, NULL},
	{"DELETE", "/v2/images/*/tags/*", GLANCE_BODY_NONE, false, MODEL_RIGHT_CHANGE, NULL, images_tag_delete, NULL},
	{"GET", "/v2/images/*/members", GLANCE_BODY_NONE, false, MODEL_RIGHT_SEE, NULL, members_list, NULL},
	{"POST", "/v2/images/*/members", GLANCE_BODY_JSON, false, MODEL_RIGHT_SHARE, "only the image's owner adds members", members_create, NULL},
	{"GET", "/v2/images/*/members/*", GLANCE_BODY_NONE, false, MODEL_RIGHT_SEE, NULL, members_show, NULL},
	{"PUT", "/v2/images/*/members/*", GLANCE_BODY_JSON, false, MODEL_RIGHT_SEE, NULL, members_update, NULL},
	{"DELETE", "/v2/images/*/members/*", GLANCE_BODY_NONE, false, MODEL_RIGHT_SHARE, "only the image's owner removes members", members_delete, NULL},
	{"GET", "/v2/tasks", GLANCE_BODY_NONE, false, 0, NULL, tasks_list, NULL},
	{"POST", "/v2/tasks", GLANCE_BODY_JSON, false, 0, NULL, tasks_create, NULL},
	{"GET", "/v2/tasks/*", GLANCE_BODY_NONE, false, 0, NULL, tasks_show, NULL},
	{"GET", "/v2/info/import", GLANCE_BODY_NONE, false, 0, NULL, info_import, NULL},
	{"GET", "/v2/info/stores", GLANCE_BODY_NONE, false, 0, NULL, info_stores, NULL},
	{"GET", "/v2/info/usage", GLANCE_BODY_NONE, false, 0, NULL, info_usage, NULL},
	/* the identity face (identity.c): these and nothing more */
	{"GET", "/v3", GLANCE_BODY_NONE, true, 0, NULL, identity_versions, NULL},
	{"POST", "/v3/auth/tokens", GLANCE_BODY_JSON, true, 0, NULL, identity_login, NULL},
	{"GET", "/v3/auth/tokens", GLANCE_BODY_NONE, false, 0, NULL, identity_token_show, NULL},
	{"GET", "/v3/projects", GLANCE_BODY_NONE, false, 0, NULL, identity_projects, NULL},
	{"GET", "/v3/projects/*", GLANCE_BODY_NONE, false, 0, NULL, identity_project, NULL},
};

/* path against pattern: each '*' one segment into args (1..255 bytes; a
 * longer one as its first 256, which no id or tag is: the handler's 404 or
 * 400, as Glance answers a tag too long). */
static bool route_match(const char *pattern, const char *path, char args[GLANCE_ARGS][GLANCE_ARG_CAP])
{
	int k = 0;
	while (*pattern && *path) {
		if (*pattern == '*') {
			const char *end = strchr(path, '/');
			size_t n = end ? (size_t)(end - path) : strlen(path);
			if (n == 0 || k >= GLANCE_ARGS)
				return false;
			memcpy(args[k], path, n < GLANCE_ARG_CAP - 1 ? n : GLANCE_ARG_CAP - 1);
			args[k++][n < GLANCE_ARG_CAP - 1 ? n : GLANCE_ARG_CAP - 1] = '\0';
			path += n;
			pattern++;
			continue;
		}
		if (*pattern++ != *path++)
			return false;
	}
	return !*pattern && !*path;
}

/* The route of (method, path): NULL with *allowed true when the path is
 * one but not for the method (405). */
static const struct glance_route *route_find(const char *method, const char *path, char args[GLANCE_ARGS][GLANCE_ARG_CAP],
                                             bool *allowed)
{
	*allowed = false;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!route_match(routes[i].pattern, path, args))
			continue;
		if (strcmp(routes[i].method, method) == 0)
			return &routes[i];
		*allowed = true;
	}
	return NULL;
}

static enum MHD_Result query_each(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct glance_query *q = cls;
	(void)kind;
	if (q->n >= GLANCE_QUERY_MAX) {
		q->n = GLANCE_QUERY_MAX + 1;
		return MHD_NO;
	}
	q->key[q->n] = key;
	q->value[q->n++] = value ? value : "";
	return MHD_YES;
}

/* The caller of the request: a token, or Basic with an API password. */
static int authenticate(struct glance_req *r)
{
	const char *tok = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "X-Auth-Token");
	char *user = NULL, *pass = NULL;
	int rc = -ENOENT;
	if (tok)
		return model_token_resolve(r->g->m, tok, (int64_t)time(NULL), &r->caller, NULL);
	if ((user = MHD_basic_auth_get_username_password(r->c, &pass)) && pass)
		rc = model_account_api_login(r->g->m, user, pass, &r->caller);
	if (pass) {
		explicit_bzero(pass, strlen(pass));
		MHD_free(pass);
	}
	if (user)
		MHD_free(user);
	return rc;
}

/* "http[s]://<Host>": what the links a client follows start with; the
 * listener's address when the Host header is missing or holds more
 * than a host and port may (it is echoed back in JSON). */
static void set_root(struct glance_req *r)
{
	const char *host = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	bool ok = host && *host && strlen(host) < 200;
	for (const char *p = host; ok && *p; p++)
		ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr(".-:[]", *p);
	snprintf(r->root, sizeof(r->root), "%s://%s", r->g->tls ? "https" : "http", ok ? host : r->g->listen);
}

/* The region a path names (/region/<name>/...), the rest into r->path. */
static int set_region(struct glance_req *r, const char *url)
{
	struct model_region *reg;
	if (strncmp(url, "/region/", 8) != 0) {
		r->region_id = r->g->region_id;
		snprintf(r->region, sizeof(r->region), "%s", r->g->region);
		snprintf(r->base, sizeof(r->base), "%s", r->root);
		snprintf(r->path, sizeof(r->path), "%s", url);
		return 0;
	}
	const char *name = url + 8, *slash = strchr(name, '/');
	size_t n = slash ? (size_t)(slash - name) : strlen(name);
	if (n == 0 || n > MODEL_NAME_MAX || !(reg = malloc(sizeof(*reg))))
		return -ENOENT;
	memcpy(r->region, name, n);
	r->region[n] = '\0';
	int rc = model_region_by_name(r->g->m, r->region, reg);
	if (rc == 0)
		r->region_id = reg->id;
	free(reg);
	if (rc < 0)
		return rc;
	snprintf(r->base, sizeof(r->base), "%s/region/%s", r->root, r->region);
	snprintf(r->path, sizeof(r->path), "%s", slash ? slash : "/");
	return 0;
}

/* The first call: the request's route, region and caller; a refusal
 * known from the headers is answered now (the connection then closes:
 * libmicrohttpd cannot know the body was read). */
static int begin(struct glance_req *r, const char *url)
{
	uint8_t b[16];
	bool allowed;
	int rc;
	if (getrandom(b, sizeof(b), 0) == (ssize_t)sizeof(b))
		snprintf(r->request_id, sizeof(r->request_id),
		         "req-%02x%02x%02x%02x-%02x%02x-4%x%02x-%x%x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
		         b[4], b[5], b[6] & 15, b[7], 8 | (b[8] & 3), b[8] >> 4, b[9], b[10], b[11], b[12], b[13], b[14],
		         b[15]);
	set_root(r);
	if (strlen(url) >= sizeof(r->path))
		return glance_reply_error(r, 414, "a path is at most %d bytes", GLANCE_PATH_MAX - 1);
	if (set_region(r, url) < 0)
		return glance_reply_error(r, 404, "no region %.64s", r->region);
	MHD_get_connection_values(r->c, MHD_GET_ARGUMENT_KIND, query_each, &r->query);
	if (r->query.n > GLANCE_QUERY_MAX)
		return glance_reply_error(r, 400, "a query has at most %d parameters", GLANCE_QUERY_MAX);
	if (!(r->route = route_find(r->method, r->path, r->arg, &allowed)))
		return allowed ? glance_reply_error(r, 405, "%.16s is not a method of %.200s", r->method, r->path)
		               : glance_reply_error(r, 404, "The resource could not be found.");
	if (!r->route->anonymous) {
		if ((rc = authenticate(r)) < 0)
			return rc == -EIO ? glance_reply_error(r, 503, "the database did not answer: try again")
			                  : glance_reply_error(r, 401, "The request you have made requires authentication.");
		r->authed = true;
	}
	if (r->route->body == GLANCE_BODY_JSON) {
		const char *len = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (len && strtoull(len, NULL, 10) > GLANCE_BODY_MAX)
			return glance_reply_error(r, 413, "a request's body is at most %u bytes", GLANCE_BODY_MAX);
	}
	/* The one place a route's right is asked (model/include/rights.h),
	 * before its body is read and before its handler runs. */
	if (r->route->right)
		(void)glance_route_image(r); /* replied when it refused */
	return MHD_YES;
}

/* A piece of a JSON body: kept, up to the bound. */
static void keep_body(struct glance_req *r, const char *buf, size_t len)
{
	if (r->body_too_big || r->body_len + len > GLANCE_BODY_MAX) {
		r->body_too_big = true;
		return;
	}
	if (r->body_len + len + 1 > r->body_cap) {
		size_t cap = r->body_cap ? r->body_cap : 4096;
		while (cap < r->body_len + len + 1)
			cap *= 2;
		char *b = realloc(r->body, cap);
		if (!b) {
			r->body_too_big = true;
			return;
		}
		r->body = b;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, buf, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
}

int glance_request(glance *g, struct MHD_Connection *c, struct serve_conn *conn, struct glance_req **rp,
                   const char *url, const char *method, const char *upload_data, size_t *upload_size)
{
	struct glance_req *r = *rp;
	if (!r) {
		if (!(r = calloc(1, sizeof(*r))))
			return MHD_NO;
		*rp = r;
		r->g = g;
		r->c = c;
		r->conn = conn;
		snprintf(r->method, sizeof(r->method), "%s", method);
		return begin(r, url);
	}
	if (r->status && !r->deferred) { /* answered already: the rest of the body is dropped */
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		size_t len = *upload_size;
		*upload_size = 0;
		int64_t now = serve_now_ms();
		if (!r->received)
			r->first_ms = now;
		r->received += len;
		if (r->route->body == GLANCE_BODY_DATA) {
			/* the body's pace moves its deadline (the file's header) */
			int64_t due = r->first_ms + SERVE_REQUEST_S * 1000 + (int64_t)(r->received * 1000 / SERVE_MIN_RATE);
			if (due > now + SERVE_REQUEST_S * 1000)
				due = now + SERVE_REQUEST_S * 1000;
			serve_conns_request(g->conns, conn, now, due, true);
			if (r->status) /* refused mid-body: the rest dropped, the refusal sent at the end */
				return MHD_YES;
			r->feeding = true;
			int ret = r->route->feed(r, upload_data, len);
			r->feeding = false;
			return ret;
		}
		if (r->route->body == GLANCE_BODY_JSON)
			keep_body(r, upload_data, len);
		return MHD_YES;
	}
	if (r->deferred) { /* the body is in: the refusal made during it */
		struct MHD_Response *resp = r->deferred;
		r->deferred = NULL;
		serve_conns_answering(r->g->conns, r->conn, serve_now_ms());
		enum MHD_Result ret = MHD_queue_response(r->c, (unsigned)r->status, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	if (r->body_too_big)
		return glance_reply_error(r, 413, "a request's body is at most %u bytes", GLANCE_BODY_MAX);
	return r->route->run(r);
}

int glance_status(const struct glance_req *r)
{
	return r->status;
}

uint64_t glance_sent(const struct glance_req *r)
{
	return r->sent;
}

void glance_done(struct glance_req *r, int how, const char *client)
{
	char path[300], why[300], who[80];
	if (!r)
		return;
	data_free(r);
	serve_escape(path, sizeof(path), r->path[0] ? r->path : "-");
	serve_escape(why, sizeof(why), r->why);
	serve_escape(who, sizeof(who), r->authed ? r->caller.name : "-");
	const char *end = how == MHD_REQUEST_TERMINATED_COMPLETED_OK        ? "complete"
	                  : how == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED   ? "timed out"
	                  : how == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN   ? "server stopping"
	                  : how == MHD_REQUEST_TERMINATED_CLIENT_ABORT ||
	                            how == MHD_REQUEST_TERMINATED_READ_ERROR ? "client closed"
	                                                                     : "error";
	serve_logf(r->g->log, "API %s %s account %s status %d bytes %llu client %s %s%s%s", r->method, path, who,
	           r->status, (unsigned long long)(r->sent + r->received), client, end, why[0] ? ": " : "", why);
	if (r->deferred) /* the client went away before the body's end */
		MHD_destroy_response(r->deferred);
	free(r->body);
	free(r->image);
	explicit_bzero(r, sizeof(*r));
	free(r);
}
