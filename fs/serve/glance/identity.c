/*
 * identity.c — the identity face of the image API (SPEC §19): the three
 * calls clients that insist on Keystone make, and nothing more.
 *
 *   GET  /v3                      the version document
 *   POST /v3/auth/tokens          a login: an account's API password, or
 *                                 a token, for a new token (X-Subject-Token)
 *                                 and a catalogue of one image endpoint per
 *                                 region, pointing at this server
 *   GET  /v3/auth/tokens          the token named by X-Subject-Token: the
 *                                 caller's own, or any for an administrator
 *   GET  /v3/projects/{id}, ?name= an account as a project: the caller's own,
 *                                 or any for an administrator (403 for
 *                                 every other name, there or not: no
 *                                 existence oracle; `openstack image add
 *                                 project` takes the 403 and goes on with
 *                                 the name)
 *
 * An account is a user and a project of the same name, in the domain
 * "default"; an administrator account (§8) has the role admin beside
 * member and reader.  A login scoped to another project than the
 * account's own is 401: an account acts for itself only.
 *
 * Who calls it: api.c's routes.  Errors are Keystone's JSON ({"error":
 * {"code", "title", "message"}}), which its clients read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "reply.h"

static int id_error(struct glance_req *r, int status, const char *title, const char *message)
{
	json_t *e = json_pack("{s:{s:i,s:s,s:s}}", "error", "code", status, "title", title, "message", message);
	snprintf(r->why, sizeof(r->why), "%s", message);
	return glance_reply_json(r, status, e);
}

static json_t *domain(void)
{
	return json_pack("{s:s,s:s}", "id", "default", "name", "Default");
}

static void iso_micro(char out[40], int64_t t)
{
	char s[21];
	model_fmt_time(s, t);
	snprintf(out, 40, "%.19s.000000Z", s);
}

static json_t *identity_project_json(struct glance_req *r, const struct model_account *a)
{
	char self[800];
	snprintf(self, sizeof(self), "%s/v3/projects/%s", r->root, a->name);
	return json_pack("{s:s,s:s,s:s,s:s,s:b,s:b,s:s,s:{s:s},s:[]}", "id", a->name, "name", a->name, "domain_id",
	                 "default", "parent_id", "default", "enabled", 1, "is_domain", 0, "description", "", "links",
	                 "self", self, "tags");
}

static int add_region(void *arg, const struct model_region *reg)
{
	void **a = arg;
	struct glance_req *r = a[0];
	json_t *eps = a[1];
	const char *root = a[2] ? a[2] : r->root;
	char url[800];
	snprintf(url, sizeof(url), "%s/region/%s", root, reg->name);
	static const char *const ifaces[] = {"public", "internal", "admin"};
	for (int i = 0; i < 3; i++) {
		char id[80];
		snprintf(id, sizeof(id), "image-%lld-%s", (long long)reg->id, ifaces[i]);
		json_array_append_new(eps, json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", id, "interface", ifaces[i], "region",
		                                     reg->name, "region_id", reg->name, "url", url));
	}
	return 0;
}

/* The token document of account a (token, its expiry, how it was got). */
static json_t *token_doc(struct glance_req *r, const struct model_account *a, int64_t expires, const char *method)
{
	char exp[40], now[40], url[800];
	json_t *eps = json_array(), *ident = json_array(), *peer_eps = NULL;
	void *arg[3] = {r, eps, NULL};
	iso_micro(exp, expires);
	iso_micro(now, (int64_t)time(NULL));
	model_region_list(glance_model(r->g), 0, add_region, arg);
	if (glance_peer(r->g)) { /* another server of this state: image_remote */
		void *parg[3] = {r, peer_eps = json_array(), (void *)glance_peer(r->g)};
		model_region_list(glance_model(r->g), 0, add_region, parg);
	}
	snprintf(url, sizeof(url), "%s/v3", r->root);
	static const char *const ifaces[] = {"public", "internal", "admin"};
	for (int i = 0; i < 3; i++)
		json_array_append_new(ident, json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", ifaces[i], "interface", ifaces[i],
		                                       "region", r->region, "region_id", r->region, "url", url));
	json_t *roles = a->admin ? json_pack("[{s:s,s:s},{s:s,s:s},{s:s,s:s}]", "id", "admin", "name", "admin", "id",
	                                     "member", "name", "member", "id", "reader", "name", "reader")
	                         : json_pack("[{s:s,s:s},{s:s,s:s}]", "id", "member", "name", "member", "id", "reader",
	                                     "name", "reader");
	json_t *doc = json_pack("{s:{s:[s],s:{s:s,s:s,s:o,s:s},s:{s:s,s:s,s:o},s:o,s:s,s:s,s:b,s:[{s:s,s:s,s:s,s:o},"
	                 "{s:s,s:s,s:s,s:o}]}}",
	                 "token", "methods", method, "user", "id", a->name, "name", a->name, "domain", domain(),
	                 "password_expires_at", "", "project", "id", a->name, "name", a->name, "domain", domain(), "roles",
	                 roles, "expires_at", exp, "issued_at", now, "is_domain", 0, "catalog", "id", "image", "type",
	                 "image", "name", "glance", "endpoints", eps, "id", "identity", "type", "identity", "name",
	                 "keystone", "endpoints", ident);
	if (doc && peer_eps)
		json_array_append_new(json_object_get(json_object_get(doc, "token"), "catalog"),
		                      json_pack("{s:s,s:s,s:s,s:o}", "id", "image_remote", "type", "image_remote", "name",
		                                "glance_remote", "endpoints", peer_eps));
	else
		json_decref(peer_eps);
	return doc;
}

int identity_versions(struct glance_req *r)
{
	char self[800];
	snprintf(self, sizeof(self), "%s/v3/", r->root);
	return glance_reply_json(r, 200, json_pack("{s:{s:s,s:s,s:s,s:[{s:s,s:s}],s:[{s:s,s:s}]}}", "version", "id",
	                                           "v3.14", "status", "stable", "updated", "2020-04-07T00:00:00Z",
	                                           "links", "rel", "self", "href", self, "media-types", "base",
	                                           "application/json", "type",
	                                           "application/vnd.openstack.identity-v3+json"));
}

/* The name a scope (or a user) gives: "name", else "id". */
static const char *name_of(json_t *o)
{
	const char *s = json_string_value(json_object_get(o, "name"));
	return s ? s : json_string_value(json_object_get(o, "id"));
}

int identity_login(struct glance_req *r)
{
	struct model_account a;
	struct model_err err = {0};
	char token[MODEL_TOKEN_LEN + 1];
	int64_t expires = 0;
	bool replied;
	int rc = -EACCES;
	json_t *body = glance_body_json(r, &replied), *id, *methods;
	if (!body)
		return MHD_YES;
	id = json_object_get(json_object_get(body, "auth"), "identity");
	methods = json_object_get(id, "methods");
	char method[16];
	const char *m0 = json_string_value(json_array_get(methods, 0));
	snprintf(method, sizeof(method), "%s", m0 ? m0 : "");
	if (!m0 || json_array_size(methods) != 1) {
		json_decref(body);
		return id_error(r, 400, "Bad Request", "auth.identity.methods names one method: password or token");
	}
	if (strcmp(method, "password") == 0) {
		json_t *user = json_object_get(json_object_get(id, "password"), "user");
		const char *name = name_of(user), *pw = json_string_value(json_object_get(user, "password"));
		if (name && pw)
			rc = model_account_api_login(glance_model(r->g), name, pw, &a);
	} else if (strcmp(method, "token") == 0) {
		const char *t = json_string_value(json_object_get(json_object_get(id, "token"), "id"));
		if (t)
			rc = model_token_resolve(glance_model(r->g), t, (int64_t)time(NULL), &a, NULL);
	} else {
		json_decref(body);
		return id_error(r, 400, "Bad Request", "the methods here are password and token");
	}
	if (rc == -EIO) {
		json_decref(body);
		return id_error(r, 503, "Service Unavailable", "the database did not answer: try again");
	}
	if (rc < 0) {
		json_decref(body);
		return id_error(r, 401, "Unauthorized", "The request you have made requires authentication.");
	}
	/* an account acts for itself: its own project, or no scope */
	json_t *scope = json_object_get(json_object_get(json_object_get(body, "auth"), "scope"), "project");
	const char *project = scope ? name_of(scope) : NULL;
	if (scope && (!project || strcmp(project, a.name) != 0)) {
		json_decref(body);
		return id_error(r, 401, "Unauthorized", "an account's token is scoped to its own project");
	}
	json_decref(body);
	if ((rc = model_token_new(glance_model(r->g), a.name, MODEL_TOKEN_LOGIN_SECONDS, "login", token, &expires, &err)) <
	    0)
		return id_error(r, glance_http_status(rc), "Error", err.msg);
	r->caller = a;
	r->authed = true;
	json_t *doc = token_doc(r, &a, expires, method);
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	struct MHD_Response *resp = text ? MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE) : NULL;
	if (!resp) {
		free(text);
		explicit_bzero(token, sizeof(token));
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, "X-Subject-Token", token);
	explicit_bzero(token, sizeof(token));
	return glance_queue(r, 201, resp);
}

/* Keystone's policy (identity:validate_token, identity:get_project,
 * identity:list_projects): an administrator sees any token and project; any
 * other caller only its own, and everything else answers 403 whether it
 * exists or not — no answer tells a tenant another's token or name is
 * there. */
static int forbidden(struct glance_req *r, const char *action)
{
	char msg[160];
	snprintf(msg, sizeof(msg), "You are not authorized to perform the requested action: %s.", action);
	return id_error(r, 403, "Forbidden", msg);
}

int identity_token_show(struct glance_req *r)
{
	struct model_account a;
	int64_t expires = 0;
	const char *t = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "X-Subject-Token");
	int rc = t ? model_token_resolve(glance_model(r->g), t, (int64_t)time(NULL), &a, &expires) : -ENOENT;
	if (rc == -EIO)
		return id_error(r, 503, "Service Unavailable", "the database did not answer: try again");
	if (!r->caller.admin && (rc < 0 || a.id != r->caller.id))
		return forbidden(r, "identity:validate_token");
	if (rc < 0)
		return id_error(r, 404, "Not Found", "no such token");
	return glance_reply_json(r, 200, token_doc(r, &a, expires, "token"));
}

int identity_project(struct glance_req *r)
{
	struct model_account a;
	if (!r->caller.admin && strcmp(r->arg[0], r->caller.name) != 0)
		return forbidden(r, "identity:get_project");
	if (model_account_by_name(glance_model(r->g), r->arg[0], &a) < 0)
		return id_error(r, 404, "Not Found", "Could not find project.");
	return glance_reply_json(r, 200, json_pack("{s:o}", "project", identity_project_json(r, &a)));
}

int identity_projects(struct glance_req *r)
{
	struct model_account a;
	const char *name = glance_query_get(&r->query, "name");
	json_t *list;
	/* A tenant may ask for its own project by name; a listing of others
	 * is an administrator's (openstack's project lookup takes the 403 and
	 * uses the name as the id: `image add project` still works). */
	if (!r->caller.admin && (!name || strcmp(name, r->caller.name) != 0))
		return forbidden(r, "identity:list_projects");
	list = json_array();
	if (!name)
		json_array_append_new(list, identity_project_json(r, &r->caller));
	else if (model_account_by_name(glance_model(r->g), name, &a) == 0)
		json_array_append_new(list, identity_project_json(r, &a));
	return glance_reply_json(r, 200, json_pack("{s:o,s:{s:n,s:n}}", "projects", list, "links", "next", "previous"));
}
