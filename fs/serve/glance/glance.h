/*
 * glance.h — the image API of `imgfs serve --glance` (SPEC §19): OpenStack
 * Glance v2 and the few identity calls its clients insist on, over the
 * same model as the mount.
 *
 * Who calls it: fs/serve/serve.c hands it every request whose path is not
 * a download link's (/d/...) when --glance is on; the unit tests and the
 * fuzzer call the pure parsers (parse.c).  Nothing else sees it.
 *
 * The room, one concern a file:
 *   api.c       the request's life (libmicrohttpd's calls, the body read
 *               and bounded), the routes as a table with the right each
 *               image route needs, the caller (a token, or HTTP Basic
 *               with the API password), the dispatch (the right asked of
 *               the model once, before the handler), the log;
 *   reply.c     below api.c and every handler (reply.h): the replies
 *               (JSON, a refusal's status and reason, the request id),
 *               the image a path names and the model's rights over it
 *               (model/include/rights.h) with the endpoint's own rule
 *               (one region, no recycle bin), the body as JSON, the
 *               server's model, log and runners;
 *   parse.c     pure parsing of what clients send: a query string, a JSON
 *               patch, a create's body — into the model's change lists
 *               (model/include/glance.h), every bound checked; tested and
 *               fuzzed without a server (members.c and tasks.c read their
 *               small bodies, a member's and an import's, themselves);
 *   render.c    an image, a member, a task as JSON; the status and
 *               visibility mappings;
 *   images.c    list, show, create, update, delete, tags, deactivate;
 *   members.c   members (the shares of §6.4);
 *   tasks.c     import (glance-direct, web-download), tasks, info/ documents;
 *   data.c      PUT .../file and .../stage through the upload path, GET
 *               .../file through the blob store with ranges, the wait for
 *               a seal (the connection suspended, not a thread);
 *   slots.c     the upload slots' ledger and shares (pure: who holds
 *               each, who may take one more), held by data.c;
 *   identity.c  GET /v3, POST /v3/auth/tokens, GET /v3/projects;
 *   schemas.c   the schemas (static JSON);
 *   workers.c   the task runners `imgfs serve --glance` brings (the seal
 *               of an upload, an import), as a mount's.
 * Every rule is the model's, who may do what included: this room maps HTTP
 * and JSON to model calls and errnos to statuses (SPEC §19's table), and
 * decides nothing else.
 */
#ifndef IMGFS_GLANCE_H
#define IMGFS_GLANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "model.h"

struct serve_log;
struct serve_conn;
typedef struct serve_conns serve_conns;
struct MHD_Connection;

/* ---- bounds (SPEC §12) ------------------------------------------------------ */

#define GLANCE_BODY_MAX (256u << 10)   /* a JSON body */
#define GLANCE_PATH_MAX 2048           /* a request's path and query */
#define GLANCE_QUERY_MAX 32            /* parameters of a query */
#define GLANCE_PATCH_OPS 512           /* operations of one JSON patch */
#define GLANCE_TAGS_MAX 128            /* tags of an image */
#define GLANCE_TAG_MAX 255             /* bytes of one tag */
#define GLANCE_LIMIT_DEFAULT 1000      /* images a listing page holds when not told */
#define GLANCE_LIMIT_MAX 1000          /* ... at most */
#define GLANCE_SORT_MAX 100000         /* images a listing sorts by another key than created_at */
#define GLANCE_WORKERS 2               /* task runners of serve --glance */

/* ---- the server's side (api.c) ---------------------------------------------- */

struct glance_opts {
	model *m;
	struct serve_log *log;
	serve_conns *conns;
	bool tls;                 /* the listener speaks TLS: links say https */
	const char *listen;       /* "ADDR:PORT" as bound: links when the Host header is unusable */
	const char *region;       /* the region the root path serves (NULL: the first) */
	unsigned workers;         /* task runners (0: none, a mount's run the tasks) */
	const char *peer;         /* another server of the same state ("http://host:port"), listed in
	                             the login's catalogue as image_remote; NULL: none */
	bool sha512;              /* uploads hash SHA-512 too, the os_hash shown (§19.5) */
};
typedef struct glance glance;
int glance_new(glance **out, const struct glance_opts *o, char *why, size_t whycap);
void glance_free(glance *g); /* stops the workers; accepts NULL */

/* Whether the API answers url (anything but a download link's /d/...). */
bool glance_owns(const char *url);

/* One request, from libmicrohttpd's first call to its end. */
struct glance_req;
/* The access handler's call for a request of the API: the first call
 * (*r NULL) makes the request; each later call feeds a piece of the body
 * or, with none left, answers.  Returns what the handler returns. */
int glance_request(glance *g, struct MHD_Connection *c, struct serve_conn *conn, struct glance_req **r,
                   const char *url, const char *method, const char *upload_data, size_t *upload_size);
/* The request ended (how: libmicrohttpd's code): its log line, freed. */
void glance_done(struct glance_req *r, int how, const char *client);
/* For the log and the metrics: the request's method, status, body bytes. */
int glance_status(const struct glance_req *r);
uint64_t glance_sent(const struct glance_req *r);

/* ---- the handlers (a route's run and feed) ------------------------------------- */

int images_list(struct glance_req *r);        /* GET /v2/images */
int images_create(struct glance_req *r);      /* POST /v2/images */
int images_show(struct glance_req *r);        /* GET /v2/images/{id} */
int images_update(struct glance_req *r);      /* PATCH /v2/images/{id} */
int images_delete(struct glance_req *r);      /* DELETE /v2/images/{id} */
int images_deactivate(struct glance_req *r);  /* POST .../actions/deactivate */
int images_reactivate(struct glance_req *r);  /* POST .../actions/reactivate */
int images_tag_add(struct glance_req *r);     /* PUT .../tags/{tag} */
int images_tag_delete(struct glance_req *r);  /* DELETE .../tags/{tag} */
int members_list(struct glance_req *r);
int members_create(struct glance_req *r);
int members_show(struct glance_req *r);
int members_update(struct glance_req *r);
int members_delete(struct glance_req *r);
int tasks_import(struct glance_req *r);       /* POST .../import */
int tasks_of_image(struct glance_req *r);     /* GET .../tasks */
int tasks_list(struct glance_req *r);         /* GET /v2/tasks */
int tasks_show(struct glance_req *r);         /* GET /v2/tasks/{id} */
int tasks_create(struct glance_req *r);       /* POST /v2/tasks: refused */
int info_import(struct glance_req *r);
int info_stores(struct glance_req *r);
int info_usage(struct glance_req *r);
int data_put(struct glance_req *r);           /* PUT .../file, .../stage: the end */
int data_feed(struct glance_req *r, const char *buf, size_t len);
int data_get(struct glance_req *r);           /* GET .../file */
void data_free(struct glance_req *r);
int identity_versions(struct glance_req *r);  /* GET /v3 */
int identity_login(struct glance_req *r);     /* POST /v3/auth/tokens */
int identity_token_show(struct glance_req *r);/* GET /v3/auth/tokens */
int identity_project(struct glance_req *r);   /* GET /v3/projects/{id} */
int identity_projects(struct glance_req *r);  /* GET /v3/projects?name= */
int versions(struct glance_req *r);           /* GET /, GET /versions */
int schemas_show(struct glance_req *r);       /* GET /v2/schemas/{name} */

/* The waits for a seal (data.c): a thread that resumes a suspended
 * PUT .../file once its image leaves uploading.  stop lets every wait go
 * (their requests answer 503) and joins the thread; free (after
 * libmicrohttpd stopped) releases it. */
#define GLANCE_UPLOADS 16 /* API uploads at once (503 beyond) */
/* Whether one more upload may start (data.c, SPEC §19.7): held of the
 * GLANCE_UPLOADS run, account of them its account's (a main account's and
 * its sub-accounts' together), address of those from its client's
 * address.  An account takes fewer than half the slots the others leave,
 * one at least; an address of it fewer than half its account's share,
 * one at least. */
bool glance_upload_fits(unsigned held, unsigned account, unsigned address);
/* The ledger of the slots (slots.c: pure; data.c holds it under its waits
 * lock): who holds each, its tenant (glance_slot_tenant) and its client's
 * address (conns.c's key, GLANCE_ADDR_KEY bytes; zeros: none). */
#define GLANCE_ADDR_KEY 17
struct glance_slots {
	unsigned held; /* slots used */
	struct glance_holder {
		bool used;
		int64_t tenant;
		uint8_t addr[GLANCE_ADDR_KEY];
	} holders[GLANCE_UPLOADS];
};
/* Whose share an upload of caller's counts in: its main account's (a
 * sub-account's parent), else its own. */
int64_t glance_slot_tenant(const struct model_account *caller);
/* One more upload of tenant from addr (NULL: no address, counted under
 * none): the slot it holds (>= 0), or -EMFILE (its address has its share
 * of the account's), -EBUSY (its account has its share), -ENFILE (all
 * held) — the narrowest reason first; nothing changed then. */
int glance_slots_take(struct glance_slots *s, int64_t tenant, const uint8_t addr[GLANCE_ADDR_KEY]);
/* The slot given back (a slot not held, or -1: nothing). */
void glance_slots_put(struct glance_slots *s, int slot);
typedef struct glance_waits glance_waits;
int glance_waits_start(glance_waits **out, model *m);
void glance_waits_stop(glance_waits *ws);
void glance_waits_free(glance_waits *ws); /* accepts NULL */
/* Before libmicrohttpd stops: the waits let go (suspended requests resumed). */
void glance_quiesce(glance *g);

/* glance-download (tasks.c): the queued image dst_id takes the data of
 * src_id by reference (its chunks' ids: nothing read or written), as an
 * upload that the runners check and seal.  0, or -errno with the reason
 * (the image queued again). */
int glance_clone_data(glance *g, int64_t dst_id, int64_t src_id, struct model_err *err);

/* The task runners (workers.c). */
typedef struct glance_workers glance_workers;
int glance_workers_start(glance_workers **out, model *m, unsigned n, struct serve_log *log);
void glance_workers_kick(glance_workers *w);
void glance_workers_stop(glance_workers *w); /* accepts NULL */

/* ---- render.c: what the API shows ----------------------------------------------- */

const char *render_status(glance *g, const struct model_image *img);   /* "queued", "active", ... */
const char *render_visibility(const struct model_image *img);          /* "private", "shared", ... */
/* The os_hash_value an image shows (§19.5) and its algorithm in *algo:
 * the SHA-512 where its upload hashed one, else the SHA-256; NULL when
 * neither is known, or the image is not yet available (staged,
 * uploading: Glance hashes as the image becomes active). */
const char *glance_os_hash(const struct model_api_image *a, const char **algo);
/* Its checksum (the upload's MD5) likewise; NULL when none is shown. */
const char *glance_md5(const struct model_api_image *a);
/* An image without its properties (render_props adds them); NULL: no memory. */
json_t *render_image(struct glance_req *r, const struct model_api_image *a);
/* Images waiting for their properties: up to MODEL_PROPS_BATCH, read in
 * one statement by render_props (which empties the batch). */
struct render_batch {
	size_t n;
	int64_t ids[MODEL_PROPS_BATCH];
	json_t *objs[MODEL_PROPS_BATCH];
};
int render_props(glance *g, struct render_batch *b);
json_t *render_member(const struct model_image *img, const struct model_share *s);

/* ---- parse.c: what clients send (pure) ---------------------------------------- */


/* A change list built from a body: ops point into it and into the body's
 * JSON, which the caller keeps until the list is applied.  About 150 KiB:
 * on the heap, one per request that changes an image. */
struct glance_ops {
	size_t n;
	struct model_api_op op[GLANCE_PATCH_OPS + 16];
	char tags[MODEL_TEXT_MAX + 1];      /* a tags list, as the tags file holds it */
	char keys[GLANCE_PATCH_OPS][MODEL_PROP_KEY_MAX + 1]; /* a patch's property names, unescaped */
	bool tags_set;
};
/* The refusal of a body: its HTTP status and reason. */
struct glance_bad {
	int status; /* 400, 403, 409, 413 */
	char why[256];
};
/* POST /v2/images: the body's attributes into ops; owner (may be NULL:
 * not given) points into the JSON.  0, or -1 with bad filled. */
int glance_parse_create(json_t *body, struct glance_ops *ops, const char **owner, struct glance_bad *bad);
/* PATCH: a JSON patch (array) against the image as it is (cur: its
 * tags, in the tags file's form; has_prop asks whether a property
 * exists) into ops.  0, or -1 with bad filled. */
int glance_parse_patch(json_t *patch, const char *cur_tags, bool (*has_prop)(void *arg, const char *key), void *arg,
                       struct glance_ops *ops, struct glance_bad *bad);
/* Whether a PATCH's Content-Type (NULL: none) is one of Glance's patch
 * media types (application/openstack-images-v2.1-json-patch, v2.0),
 * parameters after ';' aside, any case: else 415, as Glance. */
bool glance_patch_type_ok(const char *content_type);
/* Whether a Content-Type (NULL: none) is the media type type, parameters
 * after ';' aside, any case (PUT .../file and .../stage take
 * application/octet-stream only: else 415, as Glance). */
bool glance_media_type_is(const char *content_type, const char *type);
/* A listing's filter operators (§19.4), Glance's own: "op:value", where a
 * value that is an ISO 8601 time as a whole is "eq" of itself. */
enum glance_op { GLANCE_OP_EQ = 0, GLANCE_OP_NEQ, GLANCE_OP_GT, GLANCE_OP_GTE, GLANCE_OP_LT, GLANCE_OP_LTE, GLANCE_OP_IN };
/* expr's operator and value (pointing into expr): its op, or -1 when the
 * operator is none of eq, neq, gt, gte, lt, lte, in (its name, cut to the
 * buffer, in name for the refusal). */
int glance_parse_op(const char *expr, const char **value, char name[32]);
/* An "in:" list, split as Glance splits it: by commas, a value in double
 * quotes holding commas ("a,b",c: two values; a backslash keeps the next
 * character, as written).  Each value points into list, with its length. */
#define GLANCE_IN_MAX 64 /* values of one "in:" list (a query is at most GLANCE_QUERY_MAX parameters) */
struct glance_in {
	int n;
	const char *v[GLANCE_IN_MAX];
	size_t len[GLANCE_IN_MAX];
};
/* 0, or -1 with bad (400: a quote not closed or without its comma, more
 * than GLANCE_IN_MAX values). */
int glance_parse_in(const char *list, struct glance_in *out, struct glance_bad *bad);
/* Whether the n bytes at s are one of in's values. */
bool glance_in_has(const struct glance_in *in, const char *s, size_t n);
/* An ISO 8601 time as Glance reads one (python's iso8601: a year, a
 * month or a date, then optionally T or a space, hh[:mm[:ss[.frac]]] and
 * Z or +-hh[:mm]; nothing after it) into nanoseconds since the epoch: 0,
 * or -1 when s is not one. */
int glance_parse_time(const char *s, int64_t *ns);
/* Whether a op b holds (op not GLANCE_OP_IN). */
bool glance_op_holds(enum glance_op op, int64_t a, int64_t b);
/* The tags file's lines as Glance tags: each line, a trailing '=' (a key
 * without value) dropped; cb(arg, tag) each. */
void glance_tags_each(const char *tags, void (*cb)(void *arg, const char *tag, size_t len), void *arg);
/* Adds (or removes, add false) one Glance tag to a tags file's text in
 * out: -EINVAL with why for a tag out of its rules, -ENOENT (remove) when
 * absent, -EDQUOT past GLANCE_TAGS_MAX. */
int glance_tags_edit(const char *tags, const char *tag, bool add, char out[MODEL_TEXT_MAX + 1], char *why,
                     size_t whycap);
/* Whether key is one the API keeps as an attribute rather than a
 * property (read-only ones included), or reserved (os_glance_*). */
bool glance_core_attribute(const char *key);
bool glance_reserved(const char *key);

#endif
