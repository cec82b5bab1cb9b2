/*
 * parse.c — what image API clients send, parsed without a server (SPEC
 * §19): a create's body, a JSON patch (both of Glance's
 * dialects: RFC 6902's {"op", "path", "value"} and the v2.0 draft's
 * {"replace": "/name", "value"} that tempest sends), and Glance tags to
 * and from the tree's `tags` lines.  The result is the model's change
 * list (model/include/glance.h): the model checks each value's rules;
 * here only what JSON decides — a type, an attribute's name, whether it
 * may be written at all.
 *
 * Who calls it: images.c and render.c (members.c and tasks.c read their
 * small bodies themselves); tests/unit/fs/serve/
 * glance/test_parse.c and the fuzzer (tests/fuzz/fuzz_glance.c), which
 * feeds it arbitrary bodies.  Bounded: a patch has at most GLANCE_PATCH_OPS operations,
 * a list of tags GLANCE_TAGS_MAX; the JSON itself is jansson's, from a
 * body of at most GLANCE_BODY_MAX bytes (api.c).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "glance.h"

static int bad_set(struct glance_bad *bad, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad_set(struct glance_bad *bad, int status, const char *fmt, ...)
{
	va_list ap;
	bad->status = status;
	va_start(ap, fmt);
	vsnprintf(bad->why, sizeof(bad->why), fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- attributes --------------------------------------------------------------------- */

/* What the API keeps as an image's attribute, never as a property: the
 * writable ones, then the read-only ones. */
static const char *const writable[] = {"name",     "visibility",       "protected", "os_hidden", "min_ram",
                                       "min_disk", "disk_format",      "container_format", "tags", NULL};
static const char *const readonly[] = {"id",         "status",     "size",         "virtual_size",  "checksum",
                                       "os_hash_algo", "os_hash_value", "created_at", "updated_at", "self",
                                       "file",       "schema",     "direct_url",   "locations",     "stores",
                                       "owner",      NULL};

static bool in_list(const char *const *list, const char *key)
{
	for (; *list; list++)
		if (strcmp(*list, key) == 0)
			return true;
	return false;
}

bool glance_core_attribute(const char *key)
{
	return in_list(writable, key) || in_list(readonly, key);
}

bool glance_reserved(const char *key)
{
	return strncmp(key, "os_glance", 9) == 0;
}

static struct model_api_op *op_new(struct glance_ops *ops, enum model_api_op_kind kind)
{
	struct model_api_op *o = &ops->op[ops->n++];
	*o = (struct model_api_op){.kind = kind};
	return o;
}

/* A tags list (a JSON array of strings) as the tags file's text. */
static int tags_from_json(json_t *v, struct glance_ops *ops, struct glance_bad *bad)
{
	size_t i, used = 0;
	json_t *t;
	if (!json_is_array(v))
		return bad_set(bad, 400, "tags is a list of strings");
	if (json_array_size(v) > GLANCE_TAGS_MAX)
		return bad_set(bad, 413, "an image has at most %d tags", GLANCE_TAGS_MAX);
	ops->tags[0] = '\0';
	json_array_foreach(v, i, t) {
		if (!json_is_string(t))
			return bad_set(bad, 400, "a tag is a string");
		const char *s = json_string_value(t);
		size_t n = json_string_length(t);
		if (n == 0 || n > GLANCE_TAG_MAX || strlen(s) != n)
			return bad_set(bad, 400, "a tag is 1 to %d bytes", GLANCE_TAG_MAX);
		if (strchr(s, '\n'))
			return bad_set(bad, 400, "a tag is one line");
		/* a tag without '=' is a key without value in the tags file */
		char line[GLANCE_TAG_MAX + 3];
		int k = snprintf(line, sizeof(line), "%s%s\n", s, strchr(s, '=') ? "" : "=");
		/* a tag twice is the tag once (Glance keeps a set) */
		bool dup = false;
		for (const char *at = ops->tags; !dup && (at = strstr(at, line)); at++)
			dup = at == ops->tags || at[-1] == '\n';
		if (dup)
			continue;
		if (used + (size_t)k >= sizeof(ops->tags))
			return bad_set(bad, 413, "tags are at most %d bytes", MODEL_TEXT_MAX);
		memcpy(ops->tags + used, line, (size_t)k + 1);
		used += (size_t)k;
	}
	ops->tags_set = true;
	op_new(ops, MODEL_API_TAGS)->value = ops->tags;
	return 0;
}

/* One writable attribute set to v (a create's key, a patch's add or
 * replace): its op, or bad. */
static int attribute(const char *key, json_t *v, struct glance_ops *ops, struct glance_bad *bad)
{
	struct model_api_op *o;
	if (strcmp(key, "name") == 0) {
		if (!json_is_string(v) && !json_is_null(v))
			return bad_set(bad, 400, "name is a string");
		op_new(ops, MODEL_API_NAME)->value = json_is_string(v) ? json_string_value(v) : NULL;
	} else if (strcmp(key, "visibility") == 0) {
		const char *s = json_is_string(v) ? json_string_value(v) : "";
		if (strcmp(s, "public") == 0 || strcmp(s, "community") == 0)
			return bad_set(bad, 403, "a %s image is published by imgfs admin publish, not through the API", s);
		if (strcmp(s, "private") != 0 && strcmp(s, "shared") != 0)
			return bad_set(bad, 400, "visibility is private, shared, public or community");
		o = op_new(ops, MODEL_API_FLAG);
		o->num = MODEL_GFLAG_SHARED;
		o->on = strcmp(s, "shared") == 0;
	} else if (strcmp(key, "protected") == 0 || strcmp(key, "os_hidden") == 0) {
		if (!json_is_boolean(v))
			return bad_set(bad, 400, "%s is true or false", key);
		o = op_new(ops, MODEL_API_FLAG);
		o->num = strcmp(key, "protected") == 0 ? MODEL_GFLAG_PROTECTED : MODEL_GFLAG_HIDDEN;
		o->on = json_is_true(v);
	} else if (strcmp(key, "min_ram") == 0 || strcmp(key, "min_disk") == 0) {
		if (!json_is_integer(v))
			return bad_set(bad, 400, "%s is a whole number", key);
		o = op_new(ops, strcmp(key, "min_ram") == 0 ? MODEL_API_MIN_RAM : MODEL_API_MIN_DISK);
		o->num = (int64_t)json_integer_value(v);
	} else if (strcmp(key, "disk_format") == 0 || strcmp(key, "container_format") == 0) {
		if (json_is_null(v))
			return 0; /* not told: stays as it is */
		if (!json_is_string(v))
			return bad_set(bad, 400, "%s is a string", key);
		op_new(ops, key[0] == 'd' ? MODEL_API_DISK_FORMAT : MODEL_API_CONTAINER_FORMAT)->value = json_string_value(v);
	} else if (strcmp(key, "tags") == 0) {
		return tags_from_json(v, ops, bad);
	} else {
		return bad_set(bad, 403, "Attribute '%s' is read-only.", key);
	}
	return 0;
}

/* A property (anything else) set to v, or removed (v NULL). */
static int property(const char *key, json_t *v, struct glance_ops *ops, struct glance_bad *bad)
{
	size_t klen = strlen(key);
	if (klen == 0 || klen > MODEL_PROP_KEY_MAX)
		return bad_set(bad, 400, "a property's name is 1 to %d bytes", MODEL_PROP_KEY_MAX);
	if (v && !json_is_string(v))
		return bad_set(bad, 400, "the property %.64s is a string", key);
	const char *s = v ? json_string_value(v) : NULL;
	if (s && strlen(s) != json_string_length(v))
		return bad_set(bad, 400, "the property %.64s cannot hold a NUL", key);
	if (strcmp(key, "description") == 0) { /* the image's description (SPEC §19) */
		op_new(ops, MODEL_API_DESCRIPTION)->value = s ? s : "";
		return 0;
	}
	struct model_api_op *o = op_new(ops, MODEL_API_PROP);
	o->key = key;
	o->value = s;
	return 0;
}

int glance_parse_create(json_t *body, struct glance_ops *ops, const char **owner, struct glance_bad *bad)
{
	const char *key;
	json_t *v;
	ops->n = 0;
	ops->tags_set = false;
	*owner = NULL;
	if (!json_is_object(body))
		return bad_set(bad, 400, "the body is a JSON object");
	if (json_object_size(body) > GLANCE_PATCH_OPS)
		return bad_set(bad, 413, "an image is made with at most %d attributes", GLANCE_PATCH_OPS);
	json_object_foreach(body, key, v) {
		if (glance_reserved(key))
			return bad_set(bad, 403, "Attribute '%.64s' is reserved.", key);
		if (strcmp(key, "owner") == 0) {
			if (!json_is_string(v))
				return bad_set(bad, 400, "owner is a string");
			*owner = json_string_value(v);
			continue;
		}
		if (strcmp(key, "id") == 0)
			return bad_set(bad, 403, "imgfs makes an image's id: it cannot be chosen");
		if (glance_core_attribute(key) ? attribute(key, v, ops, bad) < 0
		                               : !json_is_null(v) && property(key, v, ops, bad) < 0)
			return -1;
	}
	return 0;
}

/* ---- JSON patch ------------------------------------------------------------------- */

/* A patch's path "/key" as key (RFC 6901: ~1 is '/', ~0 is '~'); one
 * segment only ("/locations/-" and the like are not ours). */
static int patch_key(const char *path, char *out, size_t cap, struct glance_bad *bad)
{
	size_t o = 0;
	if (path[0] != '/')
		return bad_set(bad, 400, "a patch's path starts with '/'");
	for (const char *p = path + 1; *p; p++) {
		char ch = *p;
		if (ch == '/')
			return strncmp(path, "/locations", 10) == 0
			           ? bad_set(bad, 403, "an image's data is its own: imgfs keeps no locations")
			           : bad_set(bad, 400, "the path %.64s names no attribute", path);
		if (ch == '~') {
			if (p[1] != '0' && p[1] != '1')
				return bad_set(bad, 400, "a patch's path escapes only ~0 and ~1");
			ch = *++p == '0' ? '~' : '/';
		}
		if (o + 1 >= cap)
			return bad_set(bad, 400, "a patch's path is at most %zu bytes", cap - 1);
		out[o++] = ch;
	}
	out[o] = '\0';
	if (o == 0)
		return bad_set(bad, 400, "a patch's path names an attribute");
	return 0;
}

/* Whether the property key exists after the ops so far (the last of
 * them that names it decides) or, when none does, now. */
static bool prop_exists(const struct glance_ops *ops, const char *key, bool (*has_prop)(void *arg, const char *key),
                        void *arg)
{
	for (size_t i = ops->n; i-- > 0;)
		if (ops->op[i].kind == MODEL_API_PROP && strcmp(ops->op[i].key, key) == 0)
			return ops->op[i].value != NULL;
	return has_prop && has_prop(arg, key);
}

int glance_parse_patch(json_t *patch, const char *cur_tags, bool (*has_prop)(void *arg, const char *key), void *arg,
                       struct glance_ops *ops, struct glance_bad *bad)
{
	size_t i;
	json_t *item;
	(void)cur_tags;
	ops->n = 0;
	ops->tags_set = false;
	if (!json_is_array(patch))
		return bad_set(bad, 400, "a JSON patch is a list of operations");
	if (json_array_size(patch) > GLANCE_PATCH_OPS)
		return bad_set(bad, 413, "a patch has at most %d operations", GLANCE_PATCH_OPS);
	json_array_foreach(patch, i, item) {
		const char *op = NULL, *path = NULL;
		json_t *v;
		if (!json_is_object(item))
			return bad_set(bad, 400, "a patch's operation is an object");
		/* RFC 6902, or the v2.0 draft's {"replace": "/name", "value": ...} */
		if ((v = json_object_get(item, "op")) && json_is_string(v)) {
			op = json_string_value(v);
			path = json_string_value(json_object_get(item, "path"));
		} else {
			static const char *const verbs[] = {"add", "replace", "remove"};
			for (size_t k = 0; k < 3 && !op; k++)
				if ((v = json_object_get(item, verbs[k])) && json_is_string(v)) {
					op = verbs[k];
					path = json_string_value(v);
				}
		}
		if (!op || !path)
			return bad_set(bad, 400, "a patch's operation has an op and a path");
		bool add = strcmp(op, "add") == 0, replace = strcmp(op, "replace") == 0, remove = strcmp(op, "remove") == 0;
		if (!add && !replace && !remove)
			return bad_set(bad, 400, "a patch's op is add, replace or remove, not %.32s", op);
		json_t *value = json_object_get(item, "value");
		if (!remove && !value)
			return bad_set(bad, 400, "a patch's %s has a value", op);
		char key[MODEL_PROP_KEY_MAX + 1];
		if (patch_key(path, key, sizeof(key), bad) < 0)
			return -1;
		if (glance_reserved(key))
			return bad_set(bad, 403, "Attribute '%.64s' is reserved.", key);
		if (in_list(readonly, key))
			return bad_set(bad, 403, "Attribute '%s' is read-only.", key);
		if (in_list(writable, key)) {
			if (remove) {
				if (strcmp(key, "tags") != 0)
					return bad_set(bad, 403, "Attribute '%s' cannot be removed.", key);
				json_t *none = json_array();
				int rc = none ? tags_from_json(none, ops, bad) : bad_set(bad, 400, "out of memory");
				json_decref(none);
				if (rc < 0)
					return -1;
				continue;
			}
			if (attribute(key, value, ops, bad) < 0)
				return -1;
			continue;
		}
		/* a property */
		bool exists = prop_exists(ops, key, has_prop, arg);
		if ((replace || remove) && !exists && strcmp(key, "description") != 0)
			return bad_set(bad, 409, "Property %.64s does not exist.", key);
		char *kept = ops->keys[i]; /* outlives the loop, as the op's key */
		memcpy(kept, key, strlen(key) + 1);
		if (property(kept, remove ? NULL : value, ops, bad) < 0)
			return -1;
	}
	return 0;
}

/* ---- tags ------------------------------------------------------------------------- */

void glance_tags_each(const char *tags, void (*cb)(void *arg, const char *tag, size_t len), void *arg)
{
	for (const char *p = tags; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len && p[len - 1] == '=')
			len--; /* a key without value: a Glance tag */
		if (len)
			cb(arg, p, len);
		if (!nl)
			break;
		p = nl + 1;
	}
}

int glance_tags_edit(const char *tags, const char *tag, bool add, char out[MODEL_TEXT_MAX + 1], char *why,
                     size_t whycap)
{
	size_t n = strlen(tag), o = 0, count = 0;
	bool found = false;
	out[0] = '\0'; /* a refusal leaves an empty text, never the caller's bytes */
	if (n == 0 || n > GLANCE_TAG_MAX || strchr(tag, '\n')) {
		snprintf(why, whycap, "a tag is one line of 1 to %d bytes", GLANCE_TAG_MAX);
		return -EINVAL;
	}
	for (const char *p = tags; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p), tl = len;
		if (tl && p[tl - 1] == '=')
			tl--;
		bool same = tl == n && memcmp(p, tag, n) == 0;
		found |= same;
		if (len && !(same && !add)) {
			if (o + len + 1 > MODEL_TEXT_MAX)
				break;
			memcpy(out + o, p, len);
			out[o + len] = '\n';
			o += len + 1;
			count++;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	out[o] = '\0';
	if (!add)
		return found ? 0 : -ENOENT;
	if (found)
		return 0;
	if (count >= GLANCE_TAGS_MAX) {
		snprintf(why, whycap, "an image has at most %d tags", GLANCE_TAGS_MAX);
		return -EDQUOT;
	}
	int k = snprintf(out + o, MODEL_TEXT_MAX + 1 - o, "%s%s\n", tag, strchr(tag, '=') ? "" : "=");
	if (k < 0 || o + (size_t)k > MODEL_TEXT_MAX) {
		out[o] = '\0';
		snprintf(why, whycap, "tags are at most %d bytes", MODEL_TEXT_MAX);
		return -EDQUOT;
	}
	return 0;
}
