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
	for (int i = 0; i < 2; i++)
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
	return glance_queue(r, status, resp);
}

int glance_reply_model(struct glance_req *r, int rc, const struct model_err *err)
{
	return glance_reply_error(r, glance_http_status(rc), "%s", err && err->msg[0] ? err->msg : strerror(-rc));
}

/* ---- the caller and what it sees --------------------------------------------------- */

bool glance_owner(const struct glance_req *r, const struct model_image *img)
{
	return r->authed && img->account_id == r->caller.id &&
	       (img->folder == MODEL_FOLDER_PRIVATE || img->folder == MODEL_FOLDER_ISO);
}

bool glance_visible(const struct glance_req *r, const struct model_image *img)
{
	if (img->region_id != r->region_id)
		return false;
	if (img->folder == MODEL_FOLDER_PUBLIC || img->folder == MODEL_FOLDER_MARKETPLACE)
		return true;
	if (img->folder != MODEL_FOLDER_PRIVATE && img->folder != MODEL_FOLDER_ISO)
		return false; /* the recycle bin: deleted, to the API */
	if (img->account_id == r->caller.id)
		return true;
	if (img->folder == MODEL_FOLDER_PRIVATE && model_image_shared_with(r->g->m, img->id, r->caller.id))
		return true;
	/* a tenant's image, for its administrator or main account (§8) */
	return glance_tenant(r, img);
}

bool glance_tenant(const struct glance_req *r, const struct model_image *img)
{
	struct model_account owner;
	if (!r->authed || !(r->caller.admin || r->caller.has_subs) || img->account_id == r->caller.id ||
	    model_account_get(r->g->m, img->account_id, &owner) < 0)
		return false;
	return r->caller.admin ? !owner.admin : owner.parent_id == r->caller.id;
}

int glance_find_image(struct glance_req *r, int i, struct model_api_image *out, bool *replied)
{
	int rc = model_api_image_by_uuid(r->g->m, r->arg[i], out);
	*replied = false;
	if (rc == 0 && glance_visible(r, &out->img))
		return 0;
	*replied = true;
	if (rc < 0 && rc != -ENOENT) {
		glance_reply_error(r, 503, "the database did not answer: try again");
		return rc;
	}
	glance_reply_error(r, 404, "No image found with ID %.64s", r->arg[i]);
	return -ENOENT;
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
