/*
 * render.c — images, members and tasks as the image API shows them
 * (SPEC §19), and the mappings of imgfs's statuses and folders to
 * Glance's:
 *
 *   queued                                   queued
 *   uploading, its upload being written      saving
 *   uploading, staged (PUT .../stage done)   uploading
 *   uploading, being checked and sealed,
 *     or a URL import                        importing
 *   pending, replicating (made by a task)    saving
 *   available                                active (deactivated when so flagged)
 *   error                                    killed
 *   deleted, deleting (the recycle bin)      not shown: 404, as a deleted Glance image
 *
 *   private/, iso/, visibility flag shared   shared
 *   private/, iso/, not                      private
 *   public/                                  public
 *   marketplace/                             community
 *
 * Who calls it: images.c, members.c, tasks.c.  An image's properties come
 * in a batch (render_props) so that a listing reads them
 * MODEL_PROPS_BATCH images a statement.
 */
#include <string.h>

#include "reply.h"

static json_t *time_json(int64_t unix_s)
{
	char t[21];
	model_fmt_time(t, unix_s);
	return json_string(t);
}

/* The status, asking the task of an uploading image which phase it is in. */
const char *render_status(glance *g, const struct model_image *img)
{
	struct model_task t;
	switch (img->status) {
	case MODEL_IMG_QUEUED: return "queued";
	case MODEL_IMG_PENDING:
	case MODEL_IMG_REPLICATING: return "saving";
	case MODEL_IMG_AVAILABLE: return img->gflags & MODEL_GFLAG_DEACTIVATED ? "deactivated" : "active";
	case MODEL_IMG_ERROR: return "killed";
	case MODEL_IMG_UPLOADING:
		if (model_task_of_image(glance_model(g), img->id, &t) < 0)
			return "importing";
		if (strcmp(t.kind, "upload") != 0)
			return "importing"; /* a URL import */
		if (strcmp(t.state, "staged") == 0)
			return "uploading";
		return strcmp(t.state, "queued") == 0 || strcmp(t.state, "running") == 0 ? "importing" : "saving";
	default: return "deleted";
	}
}

const char *render_visibility(const struct model_image *img)
{
	switch (img->folder) {
	case MODEL_FOLDER_PUBLIC: return "public";
	case MODEL_FOLDER_MARKETPLACE: return "community";
	default: return img->gflags & MODEL_GFLAG_SHARED ? "shared" : "private";
	}
}

/* The disk format the API shows: aki, ari, ami as declared; else what the
 * bytes are once they are in; else as declared (null when never told). */
static json_t *disk_format_json(const struct model_image *img)
{
	const char *d = img->disk_format;
	if (!model_disk_format_opaque(d) && img->format[0] && img->status != MODEL_IMG_QUEUED)
		d = img->format;
	return d[0] ? json_string(d) : json_null();
}

static void tag_into(void *arg, const char *tag, size_t len)
{
	json_array_append_new(arg, json_stringn(tag, len));
}

/* Glance hashes an image's data as it becomes active: a staged or
 * uploading image shows none, whatever imgfs hashed on the way. */
static bool hashes_shown(const struct model_api_image *a)
{
	return a->img.status == MODEL_IMG_AVAILABLE || a->img.status == MODEL_IMG_DELETED;
}

const char *glance_os_hash(const struct model_api_image *a, const char **algo)
{
	*algo = a->sha512[0] ? "sha512" : "sha256";
	if (!hashes_shown(a))
		return NULL;
	return a->sha512[0] ? a->sha512 : a->sha256[0] ? a->sha256 : NULL;
}

const char *glance_md5(const struct model_api_image *a)
{
	return hashes_shown(a) && a->md5[0] ? a->md5 : NULL;
}

json_t *render_image(struct glance_req *r, const struct model_api_image *a)
{
	const struct model_image *img = &a->img;
	char link[800];
	const char *status = render_status(r->g, img);
	bool active = img->status == MODEL_IMG_AVAILABLE;
	json_t *o = json_object(), *tags = json_array();
	if (!o || !tags) {
		json_decref(o);
		json_decref(tags);
		return NULL;
	}
	glance_tags_each(img->tags, tag_into, tags);
	json_object_set_new(o, "id", json_string(img->uuid));
	json_object_set_new(o, "name", json_string(model_image_api_name(img)));
	json_object_set_new(o, "status", json_string(status));
	json_object_set_new(o, "visibility", json_string(render_visibility(img)));
	json_object_set_new(o, "protected", json_boolean(img->gflags & MODEL_GFLAG_PROTECTED));
	json_object_set_new(o, "os_hidden", json_boolean(img->gflags & MODEL_GFLAG_HIDDEN));
	json_object_set_new(o, "owner", json_string(img->account_id ? img->owner : "platform"));
	json_object_set_new(o, "disk_format", disk_format_json(img));
	json_object_set_new(o, "container_format",
	                    img->container_format[0] ? json_string(img->container_format) : json_null());
	json_object_set_new(o, "min_disk", json_integer(img->min_disk));
	json_object_set_new(o, "min_ram", json_integer(img->min_ram));
	/* size: the data's bytes (a QCOW2 file's length); virtual_size: the disk's */
	/* staged ("uploading"): its bytes are in, and Glance shows their size */
	bool sized = active || img->status == MODEL_IMG_DELETED || (strcmp(status, "uploading") == 0 && a->has_data);
	json_object_set_new(o, "size", sized ? json_integer((json_int_t)a->file_size) : json_null());
	json_object_set_new(o, "virtual_size", active ? json_integer((json_int_t)img->size) : json_null());
	/* MD5 and the os_hash as the upload hashed them (§19.5): SHA-512 where
	 * the operator asked Glance's default, else the SHA-256 (§2.1). */
	const char *algo = NULL, *hash = glance_os_hash(a, &algo);
	const char *md5 = glance_md5(a);
	json_object_set_new(o, "checksum", md5 ? json_string(md5) : json_null());
	json_object_set_new(o, "os_hash_algo", hash ? json_string(algo) : json_null());
	json_object_set_new(o, "os_hash_value", hash ? json_string(hash) : json_null());
	json_object_set_new(o, "created_at", time_json(img->created));
	json_object_set_new(o, "updated_at", time_json(img->ctime_ns / 1000000000));
	json_object_set_new(o, "tags", tags);
	if (img->description[0])
		json_object_set_new(o, "description", json_string(img->description));
	/* Glance has stores once the data is in one, and hides them (with the
	 * image's locations) while it is deactivated (§19.5) */
	if (strcmp(status, "active") == 0)
		json_object_set_new(o, "stores", json_string(r->region));
	json_object_set_new(o, "os_glance_importing_to_stores",
	                    json_string(strcmp(status, "importing") == 0 ? r->region : ""));
	/* an import that ended in error (§19: os_glance_failed_import) */
	json_object_set_new(o, "os_glance_failed_import", json_string(img->status == MODEL_IMG_ERROR ? r->region : ""));
	/* no locations: imgfs keeps the data itself, and Glance shows none
	 * by default either (show_multiple_locations off) */
	snprintf(link, sizeof(link), "/v2/images/%s", img->uuid);
	json_object_set_new(o, "self", json_string(link));
	snprintf(link, sizeof(link), "/v2/images/%s/file", img->uuid);
	json_object_set_new(o, "file", json_string(link));
	json_object_set_new(o, "schema", json_string("/v2/schemas/image"));
	return o;
}

static int prop_into(void *arg, int64_t image_id, const char *key, const char *value)
{
	struct render_batch *b = arg;
	for (size_t i = 0; i < b->n; i++)
		if (b->ids[i] == image_id && !glance_core_attribute(key))
			json_object_set_new(b->objs[i], key, json_string(value));
	return 0;
}

int render_props(glance *g, struct render_batch *b)
{
	int rc = b->n ? model_image_props_of(glance_model(g), b->ids, b->n, prop_into, b) : 0;
	b->n = 0;
	return rc;
}

json_t *render_member(const struct model_image *img, const struct model_share *s)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	json_object_set_new(o, "image_id", json_string(img->uuid));
	json_object_set_new(o, "member_id", json_string(s->account));
	json_object_set_new(o, "status", json_string(model_member_status_name(s->status)));
	json_object_set_new(o, "created_at", time_json(s->created));
	json_object_set_new(o, "updated_at", time_json(s->updated ? s->updated : s->created));
	json_object_set_new(o, "schema", json_string("/v2/schemas/member"));
	return o;
}
