/*
 * schemas.c — the image API's version documents and schemas (SPEC §19).
 *
 * GET / and GET /versions list every version id v2.0 ... v2.16 (v2.16
 * CURRENT, the others SUPPORTED; GET / answers 300 Multiple Choices, as
 * Glance does, and /versions 200); GET /v2/schemas/{image, images,
 * member, members, task, tasks} the JSON schemas clients build their
 * requests from (glanceclient makes its command-line options and checks
 * a patch against the image schema), with imgfs's own bounds in them —
 * and without Glance's "stores", which glanceclient would make an option
 * that conflicts with its own --stores (§19.6).
 *
 * Who calls it: api.c's routes.  The schemas are static text, parsed per
 * request (a few KiB).
 */
#include <stdio.h>
#include <string.h>

#include <microhttpd.h>

#include "reply.h"

int versions(struct glance_req *r)
{
	char href[800];
	json_t *list = json_array();
	snprintf(href, sizeof(href), "%s/v2/", r->base);
	for (int minor = 16; minor >= 0; minor--) {
		char id[16];
		snprintf(id, sizeof(id), "v2.%d", minor);
		json_array_append_new(list, json_pack("{s:s,s:s,s:[{s:s,s:s}]}", "id", id, "status",
		                                      minor == 16 ? "CURRENT" : "SUPPORTED", "links", "rel", "self",
		                                      "href", href));
	}
	return glance_reply_json(r, strcmp(r->path, "/versions") == 0 ? 200 : 300, json_pack("{s:o}", "versions", list));
}

/* imgfs's bounds, as the schemas state them (glanceclient checks a
 * patch against the image schema): the constants the server refuses by. */
#define SCHEMA_NUM_(n) #n
#define SCHEMA_NUM(n) SCHEMA_NUM_(n)

#define UUID_PATTERN "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"
#define RO(type) "{\"type\": " type ", \"readOnly\": true}"

static const char image_schema[] =
	"{\"name\": \"image\", \"additionalProperties\": {\"type\": \"string\", \"maxLength\": " SCHEMA_NUM(MODEL_PROP_VALUE_MAX) "},"
	" \"properties\": {"
	"  \"id\": {\"type\": \"string\", \"pattern\": \"" UUID_PATTERN "\", \"readOnly\": true},"
	"  \"name\": {\"type\": [\"null\", \"string\"], \"maxLength\": " SCHEMA_NUM(MODEL_NAME_MAX) "},"
	"  \"status\": {\"type\": \"string\", \"readOnly\": true, \"enum\": [\"queued\", \"saving\", \"active\","
	"   \"killed\", \"deleted\", \"uploading\", \"importing\", \"pending_delete\", \"deactivated\"]},"
	"  \"visibility\": {\"type\": \"string\", \"enum\": [\"community\", \"public\", \"private\", \"shared\"]},"
	"  \"protected\": {\"type\": \"boolean\"},"
	"  \"os_hidden\": {\"type\": \"boolean\"},"
	"  \"checksum\": " RO("[\"null\", \"string\"]") ","
	"  \"os_hash_algo\": " RO("[\"null\", \"string\"]") ","
	"  \"os_hash_value\": " RO("[\"null\", \"string\"]") ","
	"  \"owner\": {\"type\": [\"null\", \"string\"], \"maxLength\": 255},"
	"  \"size\": " RO("[\"null\", \"integer\"]") ","
	"  \"virtual_size\": " RO("[\"null\", \"integer\"]") ","
	"  \"container_format\": {\"type\": [\"null\", \"string\"], \"enum\": [null, \"ami\", \"ari\", \"aki\","
	"   \"bare\", \"ovf\", \"ova\", \"docker\", \"compressed\"]},"
	"  \"disk_format\": {\"type\": [\"null\", \"string\"], \"enum\": [null, \"ami\", \"ari\", \"aki\", \"vhd\","
	"   \"vhdx\", \"vmdk\", \"raw\", \"qcow2\", \"vdi\", \"iso\", \"ploop\"]},"
	"  \"created_at\": " RO("\"string\"") ","
	"  \"updated_at\": " RO("\"string\"") ","
	"  \"tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\", \"maxLength\": " SCHEMA_NUM(GLANCE_TAG_MAX) "}},"
	"  \"direct_url\": " RO("\"string\"") ","
	"  \"min_ram\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 2147483647},"
	"  \"min_disk\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 2147483647},"
	"  \"self\": " RO("\"string\"") ","
	"  \"file\": " RO("\"string\"") ","
	"  \"schema\": " RO("\"string\"") ","
	"  \"locations\": {\"type\": \"array\", \"items\": {\"type\": \"object\"}},"
	"  \"kernel_id\": {\"type\": [\"null\", \"string\"], \"pattern\": \"" UUID_PATTERN "\", \"is_base\": false},"
	"  \"ramdisk_id\": {\"type\": [\"null\", \"string\"], \"pattern\": \"" UUID_PATTERN "\", \"is_base\": false},"
	"  \"instance_uuid\": {\"type\": \"string\", \"is_base\": false},"
	"  \"architecture\": {\"type\": \"string\", \"is_base\": false},"
	"  \"os_distro\": {\"type\": \"string\", \"is_base\": false},"
	"  \"os_version\": {\"type\": \"string\", \"is_base\": false},"
	"  \"description\": {\"type\": \"string\", \"maxLength\": " SCHEMA_NUM(MODEL_DESC_MAX) ", \"is_base\": false},"
	"  \"cinder_encryption_key_id\": {\"type\": \"string\", \"is_base\": false},"
	"  \"cinder_encryption_key_deletion_policy\": {\"type\": \"string\", \"enum\": [\"on_image_deletion\","
	"   \"do_not_delete\"], \"is_base\": false}"
	" },"
	" \"links\": [{\"rel\": \"self\", \"href\": \"{self}\"}, {\"rel\": \"enclosure\", \"href\": \"{file}\"},"
	"  {\"rel\": \"describedby\", \"href\": \"{schema}\"}]}";

static const char member_schema[] =
	"{\"name\": \"member\", \"properties\": {"
	"  \"image_id\": {\"type\": \"string\", \"pattern\": \"" UUID_PATTERN "\"},"
	"  \"member_id\": {\"type\": \"string\"},"
	"  \"status\": {\"type\": \"string\", \"enum\": [\"pending\", \"accepted\", \"rejected\"]},"
	"  \"created_at\": {\"type\": \"string\"}, \"updated_at\": {\"type\": \"string\"},"
	"  \"schema\": {\"type\": \"string\", \"readOnly\": true}}}";

static const char task_schema[] =
	"{\"name\": \"task\", \"properties\": {"
	"  \"id\": {\"type\": \"string\", \"pattern\": \"" UUID_PATTERN "\"},"
	"  \"type\": {\"type\": \"string\", \"enum\": [\"import\", \"api_image_import\"]},"
	"  \"status\": {\"type\": \"string\", \"enum\": [\"pending\", \"processing\", \"success\", \"failure\"]},"
	"  \"input\": {\"type\": [\"null\", \"object\"]}, \"result\": {\"type\": [\"null\", \"object\"]},"
	"  \"owner\": {\"type\": \"string\"}, \"message\": {\"type\": \"string\"},"
	"  \"image_id\": {\"type\": \"string\"}, \"request_id\": {\"type\": \"string\"},"
	"  \"user_id\": {\"type\": \"string\"}, \"expires_at\": {\"type\": [\"null\", \"string\"]},"
	"  \"created_at\": {\"type\": \"string\"}, \"updated_at\": {\"type\": \"string\"},"
	"  \"self\": {\"type\": \"string\"}, \"schema\": {\"type\": \"string\"}}}";

/* A list's schema around one of its items'. */
static json_t *plural(const char *name, const char *item, const char *one)
{
	json_t *s = json_loads(item, 0, NULL);
	if (!s)
		return NULL;
	json_t *links = json_pack("[{s:s,s:s},{s:s,s:s},{s:s,s:s}]", "rel", "first", "href", "{first}", "rel", "next",
	                          "href", "{next}", "rel", "describedby", "href", "{schema}");
	char ref[32];
	snprintf(ref, sizeof(ref), "#/definitions/%s", one);
	return json_pack("{s:s,s:{s:{s:s,s:{s:s}},s:{s:s},s:{s:s},s:{s:s}},s:o,s:{s:o}}", "name", name, "properties",
	                 name, "type", "array", "items", "$ref", ref, "schema", "type", "string", "first", "type",
	                 "string", "next", "type", "string", "links", links, "definitions", one, s);
}

int schemas_show(struct glance_req *r)
{
	const char *n = r->arg[0];
	json_t *s = NULL;
	if (strcmp(n, "image") == 0)
		s = json_loads(image_schema, 0, NULL);
	else if (strcmp(n, "images") == 0)
		s = plural("images", image_schema, "image");
	else if (strcmp(n, "member") == 0)
		s = json_loads(member_schema, 0, NULL);
	else if (strcmp(n, "members") == 0)
		s = plural("members", member_schema, "member");
	else if (strcmp(n, "task") == 0)
		s = json_loads(task_schema, 0, NULL);
	else if (strcmp(n, "tasks") == 0)
		s = plural("tasks", task_schema, "task");
	else
		return glance_reply_error(r, 404, "no schema %.64s", n);
	if (!s)
		return glance_reply_error(r, 500, "a schema did not parse");
	return glance_reply_json(r, 200, s);
}
