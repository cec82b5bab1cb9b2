/*
 * tasks.c — imports, tasks and the info/ documents of the image API
 * (SPEC §19).
 *
 *   POST .../import   glance-direct: the staged upload is queued for its
 *                     checks and seal (model_upload_import); web-download:
 *                     the URL import of §5.2, its address rules and all
 *                     (model_image_import_url); glance-download: another
 *                     image of this service and region the caller may
 *                     read, its data taken by reference (data.c) and its
 *                     formats and Glance's default properties (hw_*,
 *                     trait:*, os_distro, os_secure_boot, os_type) copied.
 *                     202, and a task row with the request's id (one
 *                     refused after the 202 — a region or an image that
 *                     is not there — is a failed task, the image queued).
 *                     copy-image is not offered (info/import lists what is).
 *   GET .../tasks, /v2/tasks, /v2/tasks/{id}
 *                     a task's status is read from its image: uploading
 *                     (the bytes checked, a URL fetched) processing;
 *                     available (or deleted since) success; error or
 *                     queued again failure, with the image's reason.
 *   GET /v2/info/import, /stores (one store: the region's), /usage (the
 *                     account's private-images quota, §8)
 *
 * Who calls it: api.c's routes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "reply.h"

#define IMPORT_METHODS "glance-direct web-download glance-download"

static json_t *time_of(int64_t t)
{
	char s[21];
	model_fmt_time(s, t);
	return json_string(s);
}

/* A task as the API shows it, its status from its image. */
static json_t *task_json(struct glance_req *r, const struct model_api_task *t)
{
	struct model_image img;
	const char *status = "success", *message = "";
	char self[80];
	int rc = model_image_get(glance_model(r->g), t->image_id, &img);
	if (t->result[0] && strcmp(t->result, "success") != 0) {
		status = "failure";
		message = t->result;
	} else if (rc == 0) {
		switch (img.status) {
		case MODEL_IMG_UPLOADING: status = "processing"; break;
		case MODEL_IMG_ERROR:
		case MODEL_IMG_QUEUED:
			status = "failure";
			message = img.error[0] ? img.error : "the import did not complete";
			break;
		default: break;
		}
	}
	json_t *input = json_loads(t->input, 0, NULL);
	snprintf(self, sizeof(self), "/v2/tasks/%s", t->uuid);
	json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:o,s:[s]},s:o,s:s,s:s,s:s,s:s,s:o,s:o,s:n,s:s,s:s}", "id",
	                      t->uuid, "type", "api_image_import", "status", status, "owner", r->caller.name, "input",
	                      "image_id", rc == 0 ? img.uuid : "", "import_req", input ? input : json_object(), "backend",
	                      r->region, "result", strcmp(status, "success") == 0 ? json_pack("{s:s}", "image_id",
	                                                                                       rc == 0 ? img.uuid : "")
	                                                                         : json_null(),
	                      "message", message, "image_id", rc == 0 ? img.uuid : "", "request_id", t->request_id,
	                      "user_id", r->caller.name, "created_at", time_of(t->created), "updated_at",
	                      time_of(rc == 0 ? img.ctime_ns / 1000000000 : t->created), "expires_at", "self", self,
	                      "schema", "/v2/schemas/task");
	return o;
}

static int task_into(void *arg, const struct model_api_task *t)
{
	void **a = arg;
	json_array_append_new(a[1], task_json(a[0], t));
	return 0;
}

/* The properties glance-download copies (Glance's default). */
static bool copied_prop(const char *key)
{
	return strncmp(key, "hw_", 3) == 0 || strncmp(key, "trait:", 6) == 0 || strcmp(key, "os_distro") == 0 ||
	       strcmp(key, "os_secure_boot") == 0 || strcmp(key, "os_type") == 0;
}

struct copy_props {
	struct model_api_op ops[MODEL_PROPS_MAX + 2];
	char keys[MODEL_PROPS_MAX][MODEL_PROP_KEY_MAX + 1];
	char values[MODEL_PROPS_MAX][MODEL_PROP_VALUE_MAX + 1];
	size_t n;
	char disk[16], container[16];
};

static int copy_prop(void *arg, const char *key, const char *value)
{
	struct copy_props *c = arg;
	if (!copied_prop(key) || c->n >= MODEL_PROPS_MAX)
		return 0;
	snprintf(c->keys[c->n], sizeof(c->keys[0]), "%s", key);
	snprintf(c->values[c->n], sizeof(c->values[0]), "%s", value);
	c->ops[c->n] = (struct model_api_op){.kind = MODEL_API_PROP, .key = c->keys[c->n], .value = c->values[c->n]};
	c->n++;
	return 0;
}

/* The request as its task row keeps it (the task's input.import_req): the
 * body, or when that is longer than a row holds (a uri near FETCH_URL_MAX
 * and the body's other fields) the method's name and uri only, which
 * always fit: an import that was taken always has its task.  NULL: no
 * memory. */
static char *task_input(json_t *body, const char *method, const char *uri)
{
	char *text = json_dumps(body, JSON_COMPACT);
	if (text && strlen(text) < sizeof(((struct model_api_task *)0)->input))
		return text;
	free(text);
	json_t *kept = json_pack("{s:{s:s,s:s*}}", "method", "name", method, "uri", uri);
	text = kept ? json_dumps(kept, JSON_COMPACT) : NULL;
	json_decref(kept);
	return text;
}

/* glance-download: refusals known now are 400; those of the source (its
 * region, whether it is there) a failed task, as Glance finds them when
 * it calls the other side. */
static int glance_download(struct glance_req *r, struct model_api_image *dst, json_t *m, json_t *body)
{
	struct model_api_image *src = malloc(sizeof(*src));
	struct copy_props *cp = calloc(1, sizeof(*cp));
	struct model_err err = {0};
	char *input = task_input(body, "glance-download", NULL);
	const char *id = json_string_value(json_object_get(m, "glance_image_id"));
	const char *region = json_string_value(json_object_get(m, "glance_region"));
	const char *iface = json_string_value(json_object_get(m, "glance_service_interface"));
	char failed[512] = "";
	unsigned seen = 0;
	int ret;
	if (!src || !cp || !input) {
		ret = glance_reply_error(r, 500, "out of memory");
		goto out;
	}
	if (!id || !model_uuid_valid(id)) {
		ret = glance_reply_error(r, 400, "glance-download: the image id does not look like a UUID");
		goto out;
	}
	if (dst->img.status != MODEL_IMG_QUEUED) {
		ret = glance_reply_error(r, 409, "glance-download fills a queued image (this one is %s)",
		                         render_status(r->g, &dst->img));
		goto out;
	}
	if (!region || strcmp(region, r->region) != 0 || (iface && strcmp(iface, "public") != 0))
		snprintf(failed, sizeof(failed), "glance-download reads images of this region (%s), public interface",
		         r->region);
	else if (model_api_image_by_uuid(glance_model(r->g), id, src) < 0 || glance_rights(r, &src->img, &seen) < 0 ||
	         !(seen & MODEL_RIGHT_SEE) || src->img.status != MODEL_IMG_AVAILABLE)
		snprintf(failed, sizeof(failed), "glance-download: no available image %s", id);
	else if (!(seen & MODEL_RIGHT_READ)) /* the same right as GET .../file */
		snprintf(failed, sizeof(failed), "glance-download: the data of %s is not yours to read", id);
	if (!failed[0]) {
		/* the source's formats and default properties first: the folder
		 * follows the disk format (§19), the data then lands there */
		const char *disk = !model_disk_format_opaque(src->img.disk_format) && src->img.format[0]
		                       ? src->img.format
		                       : src->img.disk_format;
		snprintf(cp->disk, sizeof(cp->disk), "%s", disk);
		snprintf(cp->container, sizeof(cp->container), "%s", src->img.container_format);
		model_image_props(glance_model(r->g), src->img.id, copy_prop, cp);
		if (cp->disk[0])
			cp->ops[cp->n++] = (struct model_api_op){.kind = MODEL_API_DISK_FORMAT, .value = cp->disk};
		if (cp->container[0])
			cp->ops[cp->n++] = (struct model_api_op){.kind = MODEL_API_CONTAINER_FORMAT, .value = cp->container};
		if (model_api_image_update(glance_model(r->g), dst->img.id, cp->ops, cp->n, &err) < 0 ||
		    glance_clone_data(r->g, dst->img.id, src->img.id, &err) < 0)
			snprintf(failed, sizeof(failed), "glance-download: %s", err.msg);
	}
	if (model_api_task_new(glance_model(r->g), dst->img.id, r->caller.id, "glance-download", input, r->request_id,
	                       failed, NULL, &err) < 0)
		glance_logf(r->g, "import of %s: its task row was not kept: %s", dst->img.uuid, err.msg);
	ret = glance_reply_empty(r, 202);
out:
	free(input);
	free(cp);
	free(src);
	return ret;
}

int tasks_import(struct glance_req *r)
{
	struct model_api_image *a = r->image; /* the dispatcher's: ours to change */
	struct model_err err = {0};
	bool replied;
	int ret, rc;
	json_t *body = NULL;
	char *input = NULL;
	const char *uri = NULL;
	if (!(body = glance_body_json(r, &replied))) {
		ret = MHD_YES;
		goto out;
	}
	json_t *m = json_object_get(body, "method");
	const char *method = json_string_value(json_object_get(m, "name"));
	if (!method || !model_word_in(method, IMPORT_METHODS)) {
		ret = glance_reply_error(r, 400, "Import method %.32s is not offered here: %s", method ? method : "(none)",
		                         IMPORT_METHODS);
		goto out;
	}
	/* one store: the region's */
	json_t *stores = json_object_get(body, "stores"), *s;
	size_t i;
	json_array_foreach(stores, i, s) {
		if (!json_is_string(s) || strcmp(json_string_value(s), r->region) != 0) {
			/* Glance's answer for a store it does not have (409) */
			ret = json_is_string(s) ? glance_reply_error(r, 409, "Store for identifier %.64s not found: the only "
			                                                  "store here is %s", json_string_value(s), r->region)
			                        : glance_reply_error(r, 400, "a store is named by a string");
			goto out;
		}
	}
	if (strcmp(method, "glance-download") == 0) {
		ret = glance_download(r, a, m, body);
		goto out;
	}
	if (strcmp(method, "glance-direct") == 0) {
		rc = model_upload_import(glance_model(r->g), a->img.id, &err);
		if (rc == -EPERM) { /* Glance's answer when nothing is staged */
			ret = glance_reply_error(r, 409, "%s", err.msg);
			goto out;
		}
	} else {
		uri = json_string_value(json_object_get(m, "uri"));
		rc = uri ? model_image_import_url(glance_model(r->g), a->img.id, uri, &err)
		         : model_fail(&err, -EINVAL, "web-download takes a uri");
	}
	if (rc < 0) {
		ret = glance_reply_model(r, rc, &err);
		goto out;
	}
	input = task_input(body, method, uri);
	if (model_api_task_new(glance_model(r->g), a->img.id, r->caller.id, method, input ? input : "{}", r->request_id,
	                       NULL, NULL, &err) < 0)
		glance_logf(r->g, "import of %s: its task row was not kept: %s", a->img.uuid, err.msg);
	glance_kick(r->g);
	ret = glance_reply_empty(r, 202);
out:
	free(input);
	json_decref(body);
	return ret;
}

int tasks_of_image(struct glance_req *r)
{
	json_t *list = json_array();
	void *arg[2] = {r, list};
	if (r->rights & MODEL_RIGHT_CHANGE) /* an image's tasks are its owner's */
		model_api_task_list(glance_model(r->g), r->image->img.id, task_into, arg);
	return glance_reply_json(r, 200, json_pack("{s:o}", "tasks", list));
}

int tasks_list(struct glance_req *r)
{
	json_t *list = json_array();
	void *arg[2] = {r, list};
	model_api_task_list_account(glance_model(r->g), r->caller.id, 100, task_into, arg);
	return glance_reply_json(r, 200, json_pack("{s:o,s:s,s:s}", "tasks", list, "first", "/v2/tasks", "schema",
	                                           "/v2/schemas/tasks"));
}

int tasks_show(struct glance_req *r)
{
	struct model_api_task t;
	if (model_api_task_get(glance_model(r->g), r->arg[0], &t) < 0 || t.account_id != r->caller.id)
		return glance_reply_error(r, 404, "No task found with ID %.64s", r->arg[0]);
	return glance_reply_json(r, 200, task_json(r, &t));
}

int tasks_create(struct glance_req *r)
{
	return glance_reply_error(r, 403, "tasks are made by POST /v2/images/{id}/import");
}

int info_import(struct glance_req *r)
{
	return glance_reply_json(r, 200, json_pack("{s:{s:s,s:s,s:[s,s,s]}}", "import-methods", "description",
	                                           "Import methods available.", "type", "array", "value", "glance-direct",
	                                           "web-download", "glance-download"));
}

int info_stores(struct glance_req *r)
{
	char desc[300];
	snprintf(desc, sizeof(desc), "region %s", r->region);
	/* Glance's discovery writes default as the string "true" */
	return glance_reply_json(r, 200, json_pack("{s:[{s:s,s:s,s:s}]}", "stores", "id", r->region, "description", desc,
	                                           "default", "true"));
}

int info_usage(struct glance_req *r)
{
	struct model_quota q[MODEL_QUOTA_COUNT];
	int64_t used = 0, limit = -1;
	int n = model_quota_list(glance_model(r->g), r->caller.id, r->region_id, q);
	for (int i = 0; i < n; i++)
		if (q[i].key == MODEL_QUOTA_PRIVATE_IMAGES) {
			used = q[i].used;
			limit = q[i].limit;
		}
	if (n < 0)
		return glance_reply_error(r, 503, "the database did not answer: try again");
	/* what imgfs counts (§8): the images; no byte quota */
	return glance_reply_json(r, 200, json_pack("{s:{s:{s:I,s:I}}}", "usage", "image_count_total", "limit",
	                                           (json_int_t)limit, "usage", (json_int_t)used));
}
