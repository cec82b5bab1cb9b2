/*
 * glance_test.h — the image API's requests run whole in a unit test: the
 * dispatcher (api.c's glance_request), the route's right asked of the
 * model, the handler, its reply — over a real model (the fixture's state,
 * SQLite) and a real connection table, with libmicrohttpd's few calls the
 * room makes answered here instead (the test's definitions take the place
 * of the library's when the executable is linked): a request's headers and
 * query come from gt_header/gt_query, and a reply's status, headers and
 * body land in struct gt_reply, a streamed body (a download's) read
 * through its callback as a client would.
 *
 * Who includes it: tests/unit/fs/serve/glance/test_*.c that need a request
 * (test_api.c, test_members.c, test_identity.c, test_tasks.c, test_render.c,
 * test_images.c, test_data.c); test_parse.c and test_slots.c call pure
 * functions only.
 */
#ifndef IMGFS_GLANCE_TEST_H
#define IMGFS_GLANCE_TEST_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>

#include <jansson.h>
#include <microhttpd.h>

#include "model/lifecycle_test.h"
#include "reply.h"
#include "serve.h"
#include "serve_conns.h"

/* ---- libmicrohttpd, as the room sees it ------------------------------------------- */

#define GT_HEADERS 12
struct MHD_Response {
	char *body;
	size_t len;
	uint64_t size;                  /* a callback's body: its length */
	MHD_ContentReaderCallback crc;
	void *crc_cls;
	int nhdr;
	char hdr[GT_HEADERS][2][256];
};

struct gt_reply {
	int status;                     /* 0: nothing queued */
	char *body;                     /* NUL-terminated (a callback's read whole) */
	size_t len;
	json_t *json;                   /* the body as JSON when it is */
	int nhdr;
	char hdr[GT_HEADERS][2][256];
};

/* The request being made: its headers and query (static text). */
static struct {
	int nhdr, nquery;
	const char *hdr[GT_HEADERS][2];
	const char *query[GLANCE_QUERY_MAX + 4][2];
	struct gt_reply out;
	int queued;
} gt_now;

static inline void gt_header(const char *name, const char *value)
{
	assert_true(gt_now.nhdr < GT_HEADERS);
	gt_now.hdr[gt_now.nhdr][0] = name;
	gt_now.hdr[gt_now.nhdr++][1] = value;
}

static inline void gt_query(const char *key, const char *value)
{
	assert_true(gt_now.nquery < GLANCE_QUERY_MAX + 4);
	gt_now.query[gt_now.nquery][0] = key;
	gt_now.query[gt_now.nquery++][1] = value;
}

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	r->body = malloc(size + 1);
	assert_non_null(r->body);
	if (size)
		memcpy(r->body, buffer, size);
	r->body[size] = '\0';
	r->len = size;
	if (mode == MHD_RESPMEM_MUST_FREE)
		free(buffer);
	return r;
}

struct MHD_Response *MHD_create_response_from_callback(uint64_t size, size_t block_size, MHD_ContentReaderCallback crc,
                                                       void *crc_cls, MHD_ContentReaderFreeCallback crfc)
{
	struct MHD_Response *r = calloc(1, sizeof(*r));
	(void)block_size;
	(void)crfc;
	assert_non_null(r);
	r->size = size;
	r->crc = crc;
	r->crc_cls = crc_cls;
	return r;
}

enum MHD_Result MHD_add_response_header(struct MHD_Response *response, const char *header, const char *content)
{
	assert_true(response->nhdr < GT_HEADERS);
	snprintf(response->hdr[response->nhdr][0], 256, "%s", header);
	snprintf(response->hdr[response->nhdr++][1], 256, "%s", content);
	return MHD_YES;
}

void MHD_destroy_response(struct MHD_Response *response)
{
	if (!response)
		return;
	free(response->body);
	free(response);
}

/* Queued: what a client gets (a callback's body read now, in 64 KiB asks). */
enum MHD_Result MHD_queue_response(struct MHD_Connection *connection, unsigned int status_code,
                                   struct MHD_Response *response)
{
	struct gt_reply *o = &gt_now.out;
	(void)connection;
	gt_now.queued++;
	o->status = (int)status_code;
	o->nhdr = response->nhdr;
	memcpy(o->hdr, response->hdr, sizeof(o->hdr));
	if (response->crc) {
		o->body = malloc(response->size + 1);
		assert_non_null(o->body);
		for (uint64_t pos = 0; pos < response->size;) {
			size_t want = response->size - pos < 65536 ? (size_t)(response->size - pos) : 65536;
			ssize_t got = response->crc(response->crc_cls, pos, o->body + pos, want);
			assert_true(got > 0);
			pos += (uint64_t)got;
		}
		o->len = response->size;
	} else {
		o->body = malloc(response->len + 1);
		assert_non_null(o->body);
		memcpy(o->body, response->body, response->len);
		o->len = response->len;
	}
	o->body[o->len] = '\0';
	return MHD_YES;
}

const char *MHD_lookup_connection_value(struct MHD_Connection *connection, enum MHD_ValueKind kind, const char *key)
{
	(void)connection;
	if (kind == MHD_HEADER_KIND)
		for (int i = 0; i < gt_now.nhdr; i++)
			if (strcasecmp(gt_now.hdr[i][0], key) == 0)
				return gt_now.hdr[i][1];
	if (kind == MHD_GET_ARGUMENT_KIND)
		for (int i = 0; i < gt_now.nquery; i++)
			if (strcmp(gt_now.query[i][0], key) == 0)
				return gt_now.query[i][1];
	return NULL;
}

int MHD_get_connection_values(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                              MHD_KeyValueIterator iterator, void *iterator_cls)
{
	int n = 0;
	(void)connection;
	if (kind != MHD_GET_ARGUMENT_KIND)
		return 0;
	for (int i = 0; i < gt_now.nquery; i++, n++)
		if (iterator && iterator(iterator_cls, kind, gt_now.query[i][0], gt_now.query[i][1]) != MHD_YES)
			return n + 1;
	return n;
}

char *MHD_basic_auth_get_username_password(struct MHD_Connection *connection, char **password)
{
	(void)connection;
	if (password)
		*password = NULL;
	return NULL;
}

/* ---- the server ----------------------------------------------------------------- */

struct gt {
	struct ut_fx *fx;
	struct serve_log log;
	char log_path[128];           /* the server's log (its lines also on stderr) */
	serve_conns *conns;
	struct serve_conn *conn;
	int peer;
	int peers[3], npeers;         /* gt_conn's connections' other ends */
	glance *g;
	char tokens[8][2][MODEL_TOKEN_LEN + 1]; /* account name, its token */
	int ntokens;
};

static inline void gt_start(struct gt *t, struct ut_fx *fx)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(40000)};
	char why[256];
	int sv[2];
	memset(t, 0, sizeof(*t));
	t->fx = fx;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	snprintf(t->log_path, sizeof(t->log_path), "%s/serve.log", fx->dir);
	assert_int_equal(serve_log_open(&t->log, t->log_path), 0);
	assert_int_equal(serve_conns_new(&t->conns, 4, 4), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	t->peer = sv[1];
	assert_int_equal(serve_conns_admit(t->conns, sv[0], (const struct sockaddr *)&sa, sizeof(sa), serve_now_ms(),
	                                   &t->conn),
	                 0);
	struct glance_opts o = {.m = fx->m, .log = &t->log, .conns = t->conns, .listen = "127.0.0.1:9292"};
	if (glance_new(&t->g, &o, why, sizeof(why)) < 0)
		fail_msg("glance_new: %s", why);
}

static inline void gt_stop(struct gt *t)
{
	glance_quiesce(t->g);
	glance_free(t->g);
	serve_conns_free(t->conns); /* closes its connections' descriptors */
	close(t->peer);
	for (int i = 0; i < t->npeers; i++)
		close(t->peers[i]);
	serve_log_close(&t->log);
}

/* Whether the server's log has a line holding all of a and b. */
static inline bool gt_log_has(struct gt *t, const char *a, const char *b)
{
	char line[2048];
	bool found = false;
	FILE *f = fopen(t->log_path, "r");
	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, a) && strstr(line, b);
	fclose(f);
	return found;
}

/* The account's token, made the first time (the account too). */
static inline const char *gt_token(struct gt *t, const char *name)
{
	struct model_err err = {0};
	for (int i = 0; i < t->ntokens; i++)
		if (strcmp(t->tokens[i][0], name) == 0)
			return t->tokens[i][1];
	assert_true(t->ntokens < 8);
	ut_account_once(t->fx, name);
	snprintf(t->tokens[t->ntokens][0], sizeof(t->tokens[0][0]), "%s", name);
	if (model_token_new(t->fx->m, name, 3600, "admin", t->tokens[t->ntokens][1], NULL, &err) < 0)
		fail_msg("token of %s: %s", name, err.msg);
	return t->tokens[t->ntokens++][1];
}

static inline void gt_reply_free(struct gt_reply *o)
{
	free(o->body);
	json_decref(o->json);
	memset(o, 0, sizeof(*o));
}

/* A reply's header, NULL when absent. */
static inline const char *gt_reply_header(const struct gt_reply *o, const char *name)
{
	for (int i = 0; i < o->nhdr; i++)
		if (strcasecmp(o->hdr[i][0], name) == 0)
			return o->hdr[i][1];
	return NULL;
}

/* One request as libmicrohttpd makes its calls: the first, the body (one
 * piece), the end; as account who (NULL: no token), with the headers and
 * query set by gt_header/gt_query since the last request.  The reply in
 * *out (gt_reply_free it). */
static inline int gt_call(struct gt *t, struct gt_reply *out, const char *method, const char *url, const char *who,
                          const char *body)
{
	struct glance_req *r = NULL;
	size_t n = 0;
	char len[24];
	gt_now.queued = 0;
	memset(&gt_now.out, 0, sizeof(gt_now.out));
	if (who)
		gt_header("X-Auth-Token", gt_token(t, who));
	if (body) {
		snprintf(len, sizeof(len), "%zu", strlen(body));
		gt_header("Content-Length", len);
	}
	/* A patch is sent as a client sends it (415 otherwise, §19.4), unless
	 * the test named a Content-Type of its own. */
	if (strcmp(method, "PATCH") == 0 && !MHD_lookup_connection_value(NULL, MHD_HEADER_KIND, "Content-Type"))
		gt_header("Content-Type", "application/openstack-images-v2.1-json-patch");
	/* an image's bytes likewise (application/octet-stream, §19.4) */
	size_t ulen = strlen(url);
	if (strcmp(method, "PUT") == 0 && !MHD_lookup_connection_value(NULL, MHD_HEADER_KIND, "Content-Type") &&
	    ((ulen > 5 && strcmp(url + ulen - 5, "/file") == 0) || (ulen > 6 && strcmp(url + ulen - 6, "/stage") == 0)))
		gt_header("Content-Type", "application/octet-stream");
	struct MHD_Connection *c = (struct MHD_Connection *)&gt_now; /* opaque to the room */
	glance_request(t->g, c, t->conn, &r, url, method, NULL, &n);
	if (!gt_now.queued && body && *body) {
		n = strlen(body);
		glance_request(t->g, c, t->conn, &r, url, method, body, &n);
		assert_int_equal(n, 0);
	}
	if (!gt_now.queued || r->deferred) {
		n = 0;
		glance_request(t->g, c, t->conn, &r, url, method, NULL, &n);
	}
	assert_int_equal(gt_now.queued, 1); /* one answer, always */
	glance_done(r, MHD_REQUEST_TERMINATED_COMPLETED_OK, "127.0.0.1");
	*out = gt_now.out;
	memset(&gt_now.out, 0, sizeof(gt_now.out)); /* the caller's now */
	out->json = out->body && out->body[0] == '{' ? json_loads(out->body, 0, NULL) : NULL;
	gt_now.nhdr = gt_now.nquery = 0;
	return out->status;
}

/* A request whose reply is only its status. */
static inline int gt_status(struct gt *t, const char *method, const char *url, const char *who, const char *body)
{
	struct gt_reply o;
	int status = gt_call(t, &o, method, url, who, body);
	gt_reply_free(&o);
	return status;
}

/* POST /v2/images as who with body: the new image's id (uuid) into id. */
static inline void gt_create(struct gt *t, const char *who, const char *body, char id[37])
{
	struct gt_reply o;
	if (gt_call(t, &o, "POST", "/v2/images", who, body) != 201)
		fail_msg("POST /v2/images %s: %d %s", body, o.status, o.body);
	snprintf(id, 37, "%s", json_string_value(json_object_get(o.json, "id")));
	gt_reply_free(&o);
}

/* An upload's body of n bytes (the caller frees it): a raw disk, an MBR's
 * signature, no NUL (the body is a string). */
static inline char *gt_raw_body(size_t n)
{
	char *body = malloc(n + 1);
	assert_non_null(body);
	memset(body, 'x', n);
	body[510] = (char)0x55;
	body[511] = (char)0xaa;
	body[n] = '\0';
	return body;
}

/* The model's image of an API id. */
static inline struct model_image gt_image(struct gt *t, const char *id)
{
	struct model_api_image a;
	assert_int_equal(model_api_image_by_uuid(t->fx->m, id, &a), 0);
	return a.img;
}

/* Another client connection in the server's table, from the IPv4 address
 * addr (the table holds 4: gt_start's from 127.0.0.1 and 3 of these). */
static inline struct serve_conn *gt_conn(struct gt *t, const char *addr)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(40001 + t->npeers))};
	struct serve_conn *c;
	int sv[2];
	assert_true(t->npeers < 3);
	assert_int_equal(inet_pton(AF_INET, addr, &sa.sin_addr), 1);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	t->peers[t->npeers++] = sv[1];
	assert_int_equal(serve_conns_admit(t->conns, sv[0], (const struct sockaddr *)&sa, sizeof(sa), serve_now_ms(), &c),
	                 0);
	return c;
}

#endif
