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
#include <strings.h>

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

bool glance_media_type_is(const char *ct, const char *type)
{
	if (!ct)
		return false;
	ct += strspn(ct, " \t");
	size_t n = strcspn(ct, "; \t"), rest = n + strspn(ct + n, " \t");
	return n == strlen(type) && strncasecmp(ct, type, n) == 0 && (ct[rest] == '\0' || ct[rest] == ';');
}

bool glance_patch_type_ok(const char *ct)
{
	return glance_media_type_is(ct, "application/openstack-images-v2.1-json-patch") ||
	       glance_media_type_is(ct, "application/openstack-images-v2.0-json-patch");
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
		if (remove && strcmp(key, "owner") == 0) /* Glance's attribute (its admin replaces it): its words */
			return bad_set(bad, 403, "Property owner may not be removed.");
		if (in_list(readonly, key))
			return bad_set(bad, 403, "Attribute '%s' is read-only.", key);
		if (in_list(writable, key)) {
			if (remove) /* Glance's words for each (tags: replace them with []) */
				return bad_set(bad, 403, "Property %s may not be removed.", key);
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

/* ---- a listing's filters: Glance's operators, lists and times --------------------- */

int glance_parse_op(const char *expr, const char **value, char name[32])
{
	static const char *const ops[] = {"eq", "neq", "gt", "gte", "lt", "lte", "in"};
	const char *colon = strchr(expr, ':');
	int64_t ns;
	name[0] = '\0';
	/* no operator, or the whole value a time ("2100-01-01T00:00:00Z"): eq */
	if (!colon || glance_parse_time(expr, &ns) == 0) {
		*value = expr;
		return GLANCE_OP_EQ;
	}
	*value = colon + 1;
	snprintf(name, 32, "%.*s", (int)(colon - expr < 31 ? colon - expr : 31), expr);
	for (int i = 0; i < (int)(sizeof(ops) / sizeof(ops[0])); i++)
		if ((size_t)(colon - expr) == strlen(ops[i]) && strncmp(expr, ops[i], strlen(ops[i])) == 0)
			return i;
	return -1;
}

/* validate_quotes' rule: an opening quote follows a comma (or starts the
 * list), a closing one is followed by a comma (or ends it). */
static int quotes_check(const char *s, struct glance_bad *bad)
{
	bool open = false;
	for (size_t i = 0; s[i]; i++) {
		if (s[i] != '"' || (i && s[i - 1] == '\\'))
			continue;
		if (!open && i && s[i - 1] != ',')
			return bad_set(bad, 400, "Invalid filter value %.100s. There is no comma before opening quotation mark.",
			               s);
		if (open && s[i + 1] && s[i + 1] != ',')
			return bad_set(bad, 400, "Invalid filter value %.100s. There is no comma after closing quotation mark.",
			               s);
		open = !open;
	}
	if (open)
		return bad_set(bad, 400, "Invalid filter value %.100s. The quote is not closed.", s);
	return 0;
}

int glance_parse_in(const char *list, struct glance_in *out, struct glance_bad *bad)
{
	const char *p = list;
	out->n = 0;
	if (quotes_check(list, bad) < 0)
		return -1;
	while (*p) {
		const char *v;
		size_t len;
		if (*p == '"') { /* "..." up to the quote no backslash keeps */
			const char *q = p + 1;
			while (*q && *q != '"')
				q += (*q == '\\' && q[1]) ? 2 : 1;
			v = p + 1, len = (size_t)(q - v);
			p = *q ? q + 1 : q;
		} else { /* up to the next comma: a lone comma is an empty value */
			const char *q = strchr(p, ',');
			if (!q)
				q = p + strlen(p);
			v = p, len = (size_t)(q - p);
			p = q;
		}
		if (out->n >= GLANCE_IN_MAX)
			return bad_set(bad, 400, "an in: list has at most %d values", GLANCE_IN_MAX);
		out->v[out->n] = v;
		out->len[out->n++] = len;
		if (*p == ',')
			p++;
	}
	return 0;
}

bool glance_in_has(const struct glance_in *in, const char *s, size_t n)
{
	for (int i = 0; i < in->n; i++)
		if (in->len[i] == n && memcmp(in->v[i], s, n) == 0)
			return true;
	return false;
}

/* n digits (at least min, at most max) at *p into *out; advances *p. */
static bool digits(const char **p, int min, int max, int *out)
{
	int k = 0, v = 0;
	while (k < max && (*p)[k] >= '0' && (*p)[k] <= '9')
		v = v * 10 + ((*p)[k++] - '0');
	if (k < min)
		return false;
	*p += k;
	*out = v;
	return true;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The 2-digit number at *p, if there is one; advances *p. */
static bool two(const char **p, int *out)
{
	return (*p)[0] >= '0' && (*p)[0] <= '9' && (*p)[1] >= '0' && (*p)[1] <= '9' && digits(p, 2, 2, out);
}

/* python's iso8601 (1.0, Debian 12's) reads "YYYY", "YYYY-M[M]", "YYYYMM"
 * only before more, then "-D[D]" or "DD", then optionally [T ] "hh",
 * ":"? "mm", ":"? "s[s]" with "[.,]frac", and "Z" or "+-hh[:][mm]" — a
 * zone only after a time — and nothing after: its regex ends in "$".  No
 * zone is UTC; datetime() refuses year 0, a day the month has not, hour
 * 24, second 60 and a zone of 24 hours or more. */
int glance_parse_time(const char *s, int64_t *ns)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, mo = 1, d = 1, h = 0, mi = 0, sec = 0, tzh = 0, tzm = 0, sign = 0;
	int64_t frac = 0;
	const char *p = s;
	if (!digits(&p, 4, 4, &y))
		return -1;
	if (*p == '-') {
		p++;
		if (!digits(&p, 1, 2, &mo))
			return -1;
	} else if (*p && (!two(&p, &mo) || !*p)) { /* YYYYMM alone is not a date */
		return -1;
	}
	if (*p == '-') {
		p++;
		if (!digits(&p, 1, 2, &d))
			return -1;
	} else if (*p && !two(&p, &d)) {
		return -1;
	}
	if (*p == 'T' || *p == ' ') {
		p++;
		if (!two(&p, &h))
			return -1;
		const char *q = p + (*p == ':');
		if (two(&q, &mi))
			p = q;
		q = p + (*p == ':');
		if (*q >= '0' && *q <= '9') {
			p = q;
			digits(&p, 1, 2, &sec);
			if ((*p == '.' || *p == ',') && p[1] >= '0' && p[1] <= '9') {
				int64_t scale = 100000000;
				for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
					frac += scale * (*p - '0');
			}
		}
		if (*p == 'Z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			sign = *p++ == '-' ? -1 : 1;
			if (!two(&p, &tzh))
				return -1;
			p += *p == ':';
			two(&p, &tzm);
		}
	}
	if (*p || y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) || h > 23 || mi > 59 || sec > 59 ||
	    tzh * 60 + tzm >= 24 * 60)
		return -1;
	int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - sign * (tzh * 3600 + tzm * 60);
	/* Nanoseconds hold 1677 to 2262: a time past either end is that end,
	 * which every image's time is inside of (the fuzzer found year 5511). */
	if (__builtin_mul_overflow(t, (int64_t)1000000000, ns) || __builtin_add_overflow(*ns, frac, ns))
		*ns = t < 0 ? INT64_MIN : INT64_MAX;
	return 0;
}

bool glance_op_holds(enum glance_op op, int64_t a, int64_t b)
{
	switch (op) {
	case GLANCE_OP_EQ: return a == b;
	case GLANCE_OP_NEQ: return a != b;
	case GLANCE_OP_GT: return a > b;
	case GLANCE_OP_GTE: return a >= b;
	case GLANCE_OP_LT: return a < b;
	case GLANCE_OP_LTE: return a <= b;
	default: return false;
	}
}
