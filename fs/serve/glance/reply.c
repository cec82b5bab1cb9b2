/*
 * reply.c — what a handler of the image API asks of its request (reply.h):
 * the replies, a model refusal's status (SPEC §19's table), the caller's
 * rights over an image, the image a path names, the body as JSON, the
 * query; and the server's parts a handler uses (its model, log, task
 * runners, waits).
 *
 * Who calls it: api.c (a refusal before dispatch, the routes' 404 and
 * 405) and every handler.  It calls no handler and nothing of api.c: it is
 * the floor the dispatcher and the handlers stand on, so the room has no
 * circle (docs/style.md).  Its load is one call or a few per request; a
 * reply's body is built whole in memory (JSON bodies are bounded by what
 * the handler renders; a refusal's text by r->why, 256 bytes).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "reply.h"
#include "serve.h"
#include "serve_conns.h"

/* ---- the server, as a handler sees it ------------------------------------------------ */

const char *glance_peer(glance *g)
{
	return g->peer[0] ? g->peer : NULL;
}

glance_waits *glance_waits_of(glance *g)
{
	return g->waits;
}

model *glance_model(glance *g)
{
	return g->m;
}

void glance_logf(glance *g, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	serve_logf(g->log, "%s", line);
}

void glance_kick(glance *g)
{
	glance_workers_kick(g->workers);
}

/* ---- replies ------------------------------------------------------------------------- */

int glance_http_status(int rc)
{
	switch (-rc) {
	case ENOENT: return 404;
	case EEXIST:
	case EBUSY:
	case ECANCELED: return 409;
	case EINVAL:
	case ENAMETOOLONG: return 400;
	case EDQUOT:
	case EFBIG:
	case ENOSPC: return 413;
	case EPERM:
	case EACCES: return 403;
	case EKEYEXPIRED: return 401;
	case EIO:
	case EAGAIN:
	case EROFS:
	case ETIMEDOUT: return 503; /* could not tell: try again */
	default: return 500;
	}
}

int glance_queue(struct glance_req *r, int status, struct MHD_Response *resp)
{
	if (!resp)
		return MHD_NO;
	r->status = status;
	MHD_add_response_header(resp, "x-openstack-request-id", r->request_id);
	for (int i = 0; i < 3; i++)
		if (r->hdr[i][0])
			MHD_add_response_header(resp, r->hdr[i][0], r->hdr[i][1]);
	if (r->feeding) { /* mid-body: queued at its end (glance_request) */
		if (r->deferred)
			MHD_destroy_response(r->deferred);
		r->deferred = resp;
		return MHD_YES;
	}
	serve_conns_answering(r->g->conns, r->conn, serve_now_ms());
	enum MHD_Result ret = MHD_queue_response(r->c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

int glance_reply_json(struct glance_req *r, int status, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text)
		return glance_reply_error(r, 500, "out of memory");
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	return glance_queue(r, status, resp);
}

int glance_reply_empty(struct glance_req *r, int status)
{
	return glance_queue(r, status, MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
}

static const char *reason_phrase(int status)
{
	const char *s = MHD_get_reason_phrase_for((unsigned)status);
	return s && *s ? s : "Error";
}

int glance_reply_error(struct glance_req *r, int status, const char *fmt, ...)
{
	char *text = malloc(512);
	va_list ap;
	if (!text)
		return MHD_NO;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
	int n = snprintf(text, 512, "%d %s\n\n%s\n", status, reason_phrase(status), r->why);
	struct MHD_Response *resp = MHD_create_response_from_buffer((size_t)n, text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (status == 401)
		MHD_add_response_header(resp, "WWW-Authenticate", "Keystone uri=\"/v3\"");
	if (status == 405)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD, POST, PUT, PATCH, DELETE");
	if (status == 415) /* a patch's media types, as Glance names them */
		MHD_add_response_header(resp, "Accept-Patch", "application/openstack-images-v2.0-json-patch, "
		                                              "application/openstack-images-v2.1-json-patch");
	return glance_queue(r, status, resp);
}

int glance_reply_model(struct glance_req *r, int rc, const struct model_err *err)
{
	return glance_reply_error(r, glance_http_status(rc), "%s", err && err->msg[0] ? err->msg : strerror(-rc));
}

/* ---- the caller and what it sees --------------------------------------------------- */

int glance_rights(const struct glance_req *r, const struct model_image *img, unsigned *out)
{
	*out = 0;
	if (img->region_id != r->region_id || img->folder == MODEL_FOLDER_RECYCLE)
		return 0; /* the endpoint is one region's; the recycle bin is deleted, to the API */
	return model_image_rights(r->g->m, r->authed ? &r->caller : NULL, img, out) < 0 ? -EIO : 0;
}

int glance_route_image(struct glance_req *r)
{
	struct model_err err = {0};
	int rc;
	if (!(r->image = malloc(sizeof(*r->image))))
		return glance_reply_error(r, 500, "out of memory"), -ENOMEM;
	if ((rc = model_api_image_by_uuid(r->g->m, r->arg[0], r->image)) == 0)
		rc = glance_rights(r, &r->image->img, &r->rights);
	if (rc < 0 && rc != -ENOENT)
		return glance_reply_error(r, 503, "the database did not answer: try again"), rc;
	if (rc == -ENOENT || (rc = model_rights_may(&r->image->img, r->rights, r->route->right, &err)) == -ENOENT)
		return glance_reply_error(r, 404, "No image found with ID %.64s", r->arg[0]), -ENOENT;
	if (rc < 0)
		return glance_reply_error(r, 403, "%s", r->route->refused ? r->route->refused : err.msg), rc;
	return 0;
}

json_t *glance_body_json(struct glance_req *r, bool *replied)
{
	json_error_t e;
	json_t *j = r->body ? json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &e) : NULL;
	*replied = false;
	if (!j) {
		*replied = true;
		glance_reply_error(r, 400, "the body is not JSON%s%.160s", r->body ? ": " : "", r->body ? e.text : "");
	}
	return j;
}

const char *glance_query_get(const struct glance_query *q, const char *key)
{
	for (int i = 0; i < q->n; i++)
		if (strcmp(q->key[i], key) == 0)
			return q->value[i];
	return NULL;
}
