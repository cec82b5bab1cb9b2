/*
 * images.c — the image API's images (SPEC §19): list (Glance's filters,
 * sorting and paging), show, create, update (a JSON patch), delete, tags,
 * deactivate and reactivate.
 *
 * Who calls it: api.c's routes.  Every change is one model call with a
 * change list (model/include/glance.h), so a refusal changes nothing and
 * its errno is the status (api.c's table), its reason the body.
 *
 * A listing (SPEC §12).  Its sources (the caller's private/ and iso/,
 * public/, marketplace/, the images shared with it) are merged newest
 * first, MODEL_API_IDS_PAGE ids a statement each, and each image shown is
 * read in one statement and its properties MODEL_PROPS_BATCH images a
 * statement: a page of the default order (created_at, newest first) costs
 * what it shows and what the caller's filters passed over, never a walk of
 * the service.  Another sort key reads every image the caller may list
 * (its own, the platform's, its shares: what it and the admin wrote) to
 * sort them, at most GLANCE_SORT_MAX (400 beyond), keeping 40 bytes and
 * the text keys of each (at most SORT_KEYS_MAX keys).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "reply.h"

/* ---- a listing's parameters --------------------------------------------------------- */

enum vis { VIS_DEFAULT, VIS_PRIVATE, VIS_SHARED, VIS_PUBLIC, VIS_COMMUNITY, VIS_ALL };

/* Which of a key given more than once counts: Glance's pops take the
 * first (visibility, member_status, limit, marker, checksum), its filters
 * dict the last (every column and property). */
static const char *query_last(const struct glance_query *q, const char *key)
{
	const char *v = NULL;
	for (int i = 0; i < q->n; i++)
		if (strcmp(q->key[i], key) == 0)
			v = q->value[i];
	return v;
}

/* A filter on a column Glance matches by eq or in: (name, id, status,
 * disk_format, container_format): one value, or a list. */
struct listed {
	const char *eq;                  /* NULL: not given, or in: */
	struct glance_in in;             /* in.n > 0 when in: */
	bool is_in;
};

/* A filter on a time (created_at, updated_at): op and nanoseconds. */
struct when {
	bool given;
	enum glance_op op;
	int64_t ns;
};

struct filters {
	enum vis vis;
	enum model_member_status member; /* INVALID: all */
	struct listed name, id, status, disk_format, container_format;
	struct when created, updated;
	const char *owner, *checksum, *hash;
	int64_t min_disk, min_ram, vsize; /* -1: none (equality) */
	int64_t size_min, size_max;      /* -1: none (size=N: both N) */
	int64_t vsize_min, vsize_max, min_disk_min, min_disk_max, min_ram_min, min_ram_max;
	const char *tags[8];
	size_t tag_len[8];
	int ntags;
	int hidden;                      /* -1 not hidden only (default), 1 hidden only, 0 any */
	int protected_;                  /* -1 any, else 0/1 */
	const char *props_key[8], *props_value[8];
	int nprops;
	bool nothing;                    /* a value no image has: Glance's SQL compares text to a number */
};

/* "true" or "false" (os_hidden: any case, as Glance lowers it first;
 * protected: as written). */
static bool parse_bool(const char *s, bool any_case, int *out)
{
	int (*cmp)(const char *, const char *) = any_case ? strcasecmp : strcmp;
	if (cmp(s, "true") == 0)
		*out = 1;
	else if (cmp(s, "false") == 0)
		*out = 0;
	else
		return false;
	return true;
}

static bool parse_size(const char *s, int64_t *out)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (end == s || *end || v < 0)
		return false;
	*out = v;
	return true;
}

/* Listing parameters Glance has that are not filters on a property. */
static const char *const not_props[] = {"limit", "marker", "sort_key", "sort_dir", "sort", "visibility",
                                        "member_status", "name", "status", "owner", "disk_format",
                                        "container_format", "size", "size_min", "size_max", "tag", "os_hidden",
                                        "protected", "id", "created_at", "updated_at", "checksum",
                                        "os_hash_value", "min_disk", "min_ram", "virtual_size",
                                        "virtual_size_min", "virtual_size_max", "min_disk_min", "min_disk_max",
                                        "min_ram_min", "min_ram_max", NULL};

static bool is_param(const char *k)
{
	for (const char *const *p = not_props; *p; p++)
		if (strcmp(*p, k) == 0)
			return true;
	return false;
}

/* key's eq or in: filter (Glance's rule for name, id, status and the
 * formats: no other operator). */
static int parse_listed(struct glance_req *r, const char *key, struct listed *out)
{
	const char *v = query_last(&r->query, key), *value;
	struct glance_bad bad = {0};
	char opname[32];
	if (!v)
		return 0;
	int op = glance_parse_op(v, &value, opname);
	if (op == GLANCE_OP_IN) {
		out->is_in = true;
		return glance_parse_in(value, &out->in, &bad) < 0 ? glance_reply_error(r, bad.status, "%s", bad.why) : 0;
	}
	if (op != GLANCE_OP_EQ)
		return glance_reply_error(r, 400, "Unable to filter by unknown operator '%s'.", opname);
	out->eq = value;
	return 0;
}

/* key's time filter: gt, gte, lt, lte, eq, neq against an ISO 8601 time. */
static int parse_when(struct glance_req *r, const char *key, struct when *out)
{
	const char *v = query_last(&r->query, key), *value;
	char opname[32];
	if (!v)
		return 0;
	int op = glance_parse_op(v, &value, opname);
	if (glance_parse_time(value, &out->ns) < 0)
		return glance_reply_error(r, 400, "Bad \"%s\" query filter format. Use ISO 8601 DateTime notation.", key);
	if (op < 0 || op == GLANCE_OP_IN)
		return glance_reply_error(r, 400, "Unable to filter on a unknown operator.");
	out->given = true;
	out->op = (enum glance_op)op;
	return 0;
}

/* A range filter (size_min, min_disk_max, ...): a whole number, else 400,
 * as Glance's int() of it. */
static int parse_num(struct glance_req *r, const char *key, int64_t *out)
{
	const char *v = query_last(&r->query, key);
	if (v && !parse_size(v, out))
		return glance_reply_error(r, 400, "%s is a whole number", key);
	return 0;
}

/* An equality filter on a number column (size, virtual_size, min_disk,
 * min_ram): Glance compares the column to the text as given, so a value
 * that is no whole number ("", "x", "gt:1") lists nothing. */
static void parse_num_eq(struct glance_req *r, struct filters *f, const char *key, int64_t *out)
{
	const char *v = query_last(&r->query, key);
	if (v && !parse_size(v, out))
		f->nothing = true;
}

static int parse_filters(struct glance_req *r, struct filters *f)
{
	const struct glance_query *q = &r->query;
	const char *v;
	*f = (struct filters){.size_min = -1, .size_max = -1, .hidden = -1, .protected_ = -1,
	                      .member = MODEL_MEMBER_ACCEPTED, .min_disk = -1, .min_ram = -1, .vsize = -1,
	                      .vsize_min = -1, .vsize_max = -1, .min_disk_min = -1, .min_disk_max = -1,
	                      .min_ram_min = -1, .min_ram_max = -1};
	if (glance_query_get(q, "changes-since"))
		return glance_reply_error(r, 400, "The \"changes-since\" filter is no longer available on v2.");
	if ((v = glance_query_get(q, "visibility")) && !*v) {
		f->nothing = true; /* Glance: no image's visibility is '' */
	} else if (v) {
		static const char *const names[] = {"", "private", "shared", "public", "community", "all"};
		f->vis = (enum vis)-1;
		for (int i = 1; i < 6; i++)
			if (strcmp(v, names[i]) == 0)
				f->vis = (enum vis)i;
		if ((int)f->vis < 0)
			return glance_reply_error(r, 400, "visibility is private, shared, public, community or all");
	}
	if ((v = glance_query_get(q, "member_status"))) {
		if (strcmp(v, "all") == 0)
			f->member = MODEL_MEMBER_INVALID;
		else if (strcmp(v, "pending") == 0)
			f->member = MODEL_MEMBER_PENDING;
		else if (strcmp(v, "rejected") == 0)
			f->member = MODEL_MEMBER_REJECTED;
		else if (strcmp(v, "accepted") != 0)
			return glance_reply_error(r, 400, "member_status is pending, accepted, rejected or all");
	}
	int rc;
	if ((rc = parse_listed(r, "name", &f->name)) || (rc = parse_listed(r, "id", &f->id)) ||
	    (rc = parse_listed(r, "status", &f->status)) || (rc = parse_listed(r, "disk_format", &f->disk_format)) ||
	    (rc = parse_listed(r, "container_format", &f->container_format)) ||
	    (rc = parse_when(r, "created_at", &f->created)) || (rc = parse_when(r, "updated_at", &f->updated)) ||
	    (rc = parse_num(r, "virtual_size_min", &f->vsize_min)) ||
	    (rc = parse_num(r, "virtual_size_max", &f->vsize_max)) ||
	    (rc = parse_num(r, "min_disk_min", &f->min_disk_min)) ||
	    (rc = parse_num(r, "min_disk_max", &f->min_disk_max)) || (rc = parse_num(r, "min_ram_min", &f->min_ram_min)) ||
	    (rc = parse_num(r, "min_ram_max", &f->min_ram_max)))
		return rc;
	parse_num_eq(r, f, "min_disk", &f->min_disk);
	parse_num_eq(r, f, "min_ram", &f->min_ram);
	parse_num_eq(r, f, "virtual_size", &f->vsize);
	f->owner = query_last(q, "owner");
	f->checksum = glance_query_get(q, "checksum");
	f->hash = glance_query_get(q, "os_hash_value");
	int64_t size = -1;
	parse_num_eq(r, f, "size", &size);
	if (size >= 0)
		f->size_min = f->size_max = size;
	if ((rc = parse_num(r, "size_min", &f->size_min)) || (rc = parse_num(r, "size_max", &f->size_max)))
		return rc;
	if ((v = query_last(q, "os_hidden")) && !parse_bool(v, true, &f->hidden))
		return glance_reply_error(r, 400, "Invalid value '%.64s' for 'os_hidden' filter. Valid values are 'true' or "
		                                 "'false'.", v);
	if (v && f->hidden == 0)
		f->hidden = -1;
	if ((v = query_last(q, "protected")) && !parse_bool(v, false, &f->protected_))
		return glance_reply_error(r, 400, "Invalid value '%.64s' for 'protected' filter. Valid values are 'true' or "
		                                 "'false'.", v);
	for (int i = 0; i < q->n; i++) {
		if (strcmp(q->key[i], "tag") == 0) {
			if (f->ntags >= 8)
				return glance_reply_error(r, 400, "a listing takes at most 8 tags");
			/* Glance strips a tag's blanks */
			const char *t = q->value[i];
			size_t n = strlen(t);
			while (n && isspace((unsigned char)*t))
				t++, n--;
			while (n && isspace((unsigned char)t[n - 1]))
				n--;
			f->tags[f->ntags] = t;
			f->tag_len[f->ntags++] = n;
		} else if (!is_param(q->key[i]) && query_last(q, q->key[i]) == q->value[i]) {
			/* any other parameter is a property's value, as Glance's (the
			 * last of a key given again) */
			if (f->nprops >= 8)
				return glance_reply_error(r, 400, "a listing takes at most 8 properties to match");
			f->props_key[f->nprops] = q->key[i];
			f->props_value[f->nprops++] = q->value[i];
		}
	}
	return 0;
}

/* The sources a visibility lists. */
static unsigned sources_of(const struct filters *f)
{
	switch (f->vis) {
	case VIS_PRIVATE: return 1u << MODEL_API_OWN_PRIVATE | 1u << MODEL_API_OWN_ISO;
	case VIS_SHARED: /* the caller's own shared images, and shares received in member_status */
		return 1u << MODEL_API_OWN_PRIVATE | 1u << MODEL_API_SHARED;
	case VIS_PUBLIC: return 1u << MODEL_API_PUBLIC;
	case VIS_COMMUNITY: return 1u << MODEL_API_MARKETPLACE;
	case VIS_ALL: return (1u << MODEL_API_SOURCES) - 1;
	default:
		return 1u << MODEL_API_OWN_PRIVATE | 1u << MODEL_API_OWN_ISO | 1u << MODEL_API_PUBLIC |
		       1u << MODEL_API_SHARED;
	}
}

struct tag_find {
	const char *want;
	size_t want_len;
	bool found;
};

static void tag_cmp(void *arg, const char *tag, size_t len)
{
	struct tag_find *t = arg;
	t->found |= t->want_len == len && memcmp(t->want, tag, len) == 0;
}

struct prop_find {
	const char *key, *value;
	bool found;
};

static int prop_cmp(void *arg, const char *key, const char *value)
{
	struct prop_find *p = arg;
	p->found |= strcmp(key, p->key) == 0 && strcmp(value, p->value) == 0;
	return 0;
}

/* Whether s passes an eq or in: filter. */
static bool listed_ok(const struct listed *l, const char *s)
{
	if (l->is_in)
		return glance_in_has(&l->in, s, strlen(s));
	return !l->eq || strcmp(l->eq, s) == 0;
}

/* Whether the whole number v passes equality (eq, -1: none) and a range. */
static bool num_ok(int64_t v, int64_t eq, int64_t min, int64_t max)
{
	return (eq < 0 || v == eq) && (min < 0 || v >= min) && (max < 0 || v <= max);
}

/* Whether an image read from source src passes the filters. */
static bool matches(struct glance_req *r, const struct filters *f, enum model_api_source src,
                    const struct model_api_image *a)
{
	const struct model_image *img = &a->img;
	bool own = src == MODEL_API_OWN_PRIVATE || src == MODEL_API_OWN_ISO;
	if (f->nothing)
		return false;
	if (own && f->vis == VIS_PRIVATE && (img->gflags & MODEL_GFLAG_SHARED))
		return false;
	if (own && f->vis == VIS_SHARED && !(img->gflags & MODEL_GFLAG_SHARED))
		return false;
	if ((f->hidden < 0 && (img->gflags & MODEL_GFLAG_HIDDEN)) || (f->hidden > 0 && !(img->gflags & MODEL_GFLAG_HIDDEN)))
		return false;
	if (f->protected_ >= 0 && ((img->gflags & MODEL_GFLAG_PROTECTED) != 0) != (f->protected_ != 0))
		return false;
	if (!listed_ok(&f->name, model_image_api_name(img)) || !listed_ok(&f->id, img->uuid) ||
	    !listed_ok(&f->status, render_status(r->g, img)) || !listed_ok(&f->container_format, img->container_format))
		return false;
	if (f->owner && strcmp(f->owner, img->account_id ? img->owner : "platform") != 0)
		return false;
	if (f->disk_format.eq || f->disk_format.is_in) {
		const char *d = !model_disk_format_opaque(img->disk_format) && img->format[0] && img->status != MODEL_IMG_QUEUED
		                    ? img->format
		                    : img->disk_format;
		if (!listed_ok(&f->disk_format, d))
			return false;
	}
	/* Times to the second the API shows them (created_at, updated_at). */
	if (f->created.given && !glance_op_holds(f->created.op, img->created * 1000000000, f->created.ns))
		return false;
	if (f->updated.given &&
	    !glance_op_holds(f->updated.op, img->ctime_ns / 1000000000 * 1000000000, f->updated.ns))
		return false;
	/* The hashes the image shows (§19.5): one not kept matches nothing. */
	const char *algo, *shown = glance_os_hash(a, &algo);
	const char *md5 = glance_md5(a);
	if ((f->checksum && (!md5 || strcmp(f->checksum, md5) != 0)) ||
	    (f->hash && (!shown || strcmp(f->hash, shown) != 0)))
		return false;
	if (!num_ok(img->min_disk, f->min_disk, f->min_disk_min, f->min_disk_max) ||
	    !num_ok(img->min_ram, f->min_ram, f->min_ram_min, f->min_ram_max))
		return false;
	if ((f->vsize >= 0 || f->vsize_min >= 0 || f->vsize_max >= 0) &&
	    (img->status != MODEL_IMG_AVAILABLE || !num_ok((int64_t)img->size, f->vsize, f->vsize_min, f->vsize_max)))
		return false;
	if ((f->size_min >= 0 || f->size_max >= 0) &&
	    (img->status != MODEL_IMG_AVAILABLE || (f->size_min >= 0 && (int64_t)a->file_size < f->size_min) ||
	     (f->size_max >= 0 && (int64_t)a->file_size > f->size_max)))
		return false;
	for (int i = 0; i < f->ntags; i++) {
		struct tag_find t = {f->tags[i], f->tag_len[i], false};
		glance_tags_each(img->tags, tag_cmp, &t);
		if (!t.found)
			return false;
	}
	for (int i = 0; i < f->nprops; i++) {
		struct prop_find p = {f->props_key[i], f->props_value[i], false};
		model_image_props(glance_model(r->g), img->id, prop_cmp, &p);
		if (!p.found)
			return false;
	}
	return true;
}

/* ---- the sources, merged newest first ------------------------------------------------ */

struct stream {
	int64_t ids[MODEL_API_IDS_PAGE];
	int n, at;
	bool done;
};

struct merge {
	struct glance_req *r;
	unsigned sources;
	enum model_member_status member;
	struct stream s[MODEL_API_SOURCES];
};

/* The next id of all sources (the largest), and its source: 1, 0 at the
 * end, -errno. */
static int merge_next(struct merge *m, int64_t before, int64_t *id, enum model_api_source *src)
{
	int best = -1;
	for (int i = 0; i < MODEL_API_SOURCES; i++) {
		struct stream *s = &m->s[i];
		if (!(m->sources & (1u << i)) || s->done)
			continue;
		if (s->at == s->n) {
			int64_t from = s->n ? s->ids[s->n - 1] : before;
			int n = model_api_ids(glance_model(m->r->g), (enum model_api_source)i, m->r->region_id,
			                      m->r->caller.id, m->member, from, s->ids, MODEL_API_IDS_PAGE);
			if (n < 0)
				return n;
			s->n = n;
			s->at = 0;
			if (n == 0) {
				s->done = true;
				continue;
			}
		}
		if (best < 0 || s->ids[s->at] > m->s[best].ids[m->s[best].at])
			best = i;
	}
	if (best < 0)
		return 0;
	*id = m->s[best].ids[m->s[best].at++];
	*src = (enum model_api_source)best;
	return 1;
}

/* ---- sorting by another key ----------------------------------------------------------- */

enum sort_key { SK_CREATED, SK_UPDATED, SK_NAME, SK_STATUS, SK_SIZE, SK_ID, SK_DISK, SK_CONTAINER, SK_VISIBILITY,
                SK_MIN_DISK, SK_MIN_RAM, SK_OWNER };
static const char *const sort_names[] = {"created_at", "updated_at", "name", "status", "size", "id", "disk_format",
                                         "container_format", "visibility", "min_disk", "min_ram", "owner"};

/* The keys of a listing's order, each with its direction (1 asc, -1 desc):
 * Glance's sort_key/sort_dir repeated, or sort=k1[:dir],k2[:dir] (§19.4),
 * at most SORT_KEYS_MAX; ties go by creation, as Glance's (its database
 * layer's default direction: the one direction when one was given for
 * every key, else desc). */
#define SORT_KEYS_MAX 4
struct sort_spec {
	int n;
	enum sort_key key[SORT_KEYS_MAX];
	int dir[SORT_KEYS_MAX];
	int tie;
};

/* A key's value: a number, or a copy of a string (the keys from SK_NAME). */
union sort_value {
	int64_t num;
	char *str;
};
struct sorted {
	int64_t id;
	union sort_value v[SORT_KEYS_MAX];
};

static bool sort_is_text(enum sort_key k)
{
	return k >= SK_NAME && k != SK_SIZE && k != SK_MIN_DISK && k != SK_MIN_RAM;
}

/* qsort_r's comparison: arg points at the sort_spec. */
static int cmp_sorted(const void *pa, const void *pb, void *arg)
{
	const struct sorted *a = pa, *b = pb;
	const struct sort_spec *sp = arg;
	for (int k = 0; k < sp->n; k++) {
		int c = sort_is_text(sp->key[k]) ? strcmp(a->v[k].str, b->v[k].str)
		                                 : (a->v[k].num > b->v[k].num) - (a->v[k].num < b->v[k].num);
		if (c)
			return c * sp->dir[k];
	}
	return ((a->id > b->id) - (a->id < b->id)) * sp->tie;
}

static void sort_value(struct glance_req *r, const struct sort_spec *sp, const struct model_api_image *a,
                       struct sorted *e)
{
	const struct model_image *img = &a->img;
	e->id = img->id;
	for (int k = 0; k < sp->n; k++) {
		const char *s = NULL;
		e->v[k].num = 0;
		switch (sp->key[k]) {
		case SK_CREATED: e->v[k].num = img->id; break; /* ids follow creation */
		case SK_UPDATED: e->v[k].num = img->ctime_ns; break;
		case SK_SIZE: e->v[k].num = img->status == MODEL_IMG_AVAILABLE ? (int64_t)a->file_size : -1; break;
		case SK_MIN_DISK: e->v[k].num = img->min_disk; break;
		case SK_MIN_RAM: e->v[k].num = img->min_ram; break;
		case SK_NAME: s = model_image_api_name(img); break;
		case SK_STATUS: s = render_status(r->g, img); break;
		case SK_ID: s = img->uuid; break;
		case SK_DISK: s = img->disk_format; break;
		case SK_CONTAINER: s = img->container_format; break;
		case SK_VISIBILITY: s = render_visibility(img); break;
		case SK_OWNER: s = img->owner; break;
		}
		if (sort_is_text(sp->key[k]))
			e->v[k].str = strdup(s ? s : "");
	}
}

/* Its strings; false when one could not be copied (all are freed then). */
static bool sorted_keep(struct sorted *e, const struct sort_spec *sp, bool free_all)
{
	bool ok = true;
	for (int k = 0; k < sp->n; k++)
		if (sort_is_text(sp->key[k]) && (!e->v[k].str || free_all)) {
			ok = false;
			free_all = true;
		}
	for (int k = 0; k < sp->n && free_all; k++)
		if (sort_is_text(sp->key[k]))
			free(e->v[k].str);
	return ok;
}

/* s[0..*n) without the blanks around it (Glance strips each key and
 * direction). */
static const char *trim(const char *s, size_t *n)
{
	while (*n && isspace((unsigned char)*s))
		s++, (*n)--;
	while (*n && isspace((unsigned char)s[*n - 1]))
		(*n)--;
	return s;
}

/* One key (and its direction, NULL: desc) onto sp; 0, or replied. */
static int sort_add(struct glance_req *r, struct sort_spec *sp, const char *k, size_t klen, const char *d, size_t dlen)
{
	size_t i;
	k = trim(k, &klen);
	if (d)
		d = trim(d, &dlen);
	if (sp->n == SORT_KEYS_MAX)
		return glance_reply_error(r, 400, "at most %d sort keys", SORT_KEYS_MAX);
	for (i = 0; i < sizeof(sort_names) / sizeof(sort_names[0]); i++)
		if (strlen(sort_names[i]) == klen && strncmp(k, sort_names[i], klen) == 0)
			break;
	if (i == sizeof(sort_names) / sizeof(sort_names[0]))
		return glance_reply_error(r, 400, "Invalid sort key: %.*s", (int)(klen < 64 ? klen : 64), k);
	bool asc = d && dlen == 3 && strncmp(d, "asc", 3) == 0;
	if (d && !asc && !(dlen == 4 && strncmp(d, "desc", 4) == 0))
		return glance_reply_error(r, 400, "Invalid sort direction: %.*s", (int)(dlen < 16 ? dlen : 16), d);
	sp->key[sp->n] = (enum sort_key)i;
	sp->dir[sp->n++] = asc ? 1 : -1;
	return 0;
}

/* sort_key/sort_dir (each repeated: one direction for every key, or one
 * a key), or sort=key[:dir],... — never both, as Glance: every key
 * between commas (an empty one is 400), a direction after a colon (none:
 * desc). */
static int parse_sort(struct glance_req *r, struct sort_spec *sp)
{
	const char *sort = glance_query_get(&r->query, "sort");
	const char *dirs[SORT_KEYS_MAX];
	int ndirs = 0, nkeys = 0, rc;
	sp->n = 0;
	if (sort && (glance_query_get(&r->query, "sort_key") || glance_query_get(&r->query, "sort_dir")))
		return glance_reply_error(r, 400, "Old and new sorting syntax cannot be combined");
	if (sort) {
		size_t n = strlen(sort);
		const char *p = trim(sort, &n), *end = p + n;
		for (;;) {
			const char *comma = memchr(p, ',', (size_t)(end - p)), *colon;
			if (!comma)
				comma = end;
			colon = memchr(p, ':', (size_t)(comma - p));
			if ((rc = sort_add(r, sp, p, (size_t)((colon ? colon : comma) - p),
			                   colon && colon + 1 < comma ? colon + 1 : NULL,
			                   colon ? (size_t)(comma - colon - 1) : 0)) != 0)
				return rc;
			if (comma == end)
				break;
			p = comma + 1;
		}
	}
	for (int i = 0; i < r->query.n; i++) {
		if (strcmp(r->query.key[i], "sort_dir") == 0 && ndirs++ < SORT_KEYS_MAX)
			dirs[ndirs - 1] = r->query.value[i];
		nkeys += strcmp(r->query.key[i], "sort_key") == 0;
	}
	if (!sort && ndirs > 1 && ndirs != nkeys)
		return glance_reply_error(r, 400, "Number of sort dirs does not match the number of sort keys");
	for (int i = 0; !sort && i < r->query.n; i++) {
		const char *d = ndirs == 0 || (ndirs > 1 && sp->n == SORT_KEYS_MAX) ? NULL : dirs[ndirs == 1 ? 0 : sp->n];
		if (strcmp(r->query.key[i], "sort_key") == 0 &&
		    (rc = sort_add(r, sp, r->query.value[i], strlen(r->query.value[i]), d, d ? strlen(d) : 0)) != 0)
			return rc;
	}
	if (sp->n == 0 && (rc = sort_add(r, sp, "created_at", 10, ndirs == 1 ? dirs[0] : NULL,
	                                 ndirs == 1 ? strlen(dirs[0]) : 0)) != 0)
		return rc; /* created_at, desc unless one sort_dir says otherwise */
	sp->tie = sp->n == 1 || (!sort && ndirs == 1) ? sp->dir[0] : -1;
	return 0;
}

/* ---- emitting a page ---------------------------------------------------------------- */

struct page {
	struct glance_req *r;
	json_t *list;
	struct render_batch batch;
	int limit, n;
	char last[37];
};

static int page_add(struct page *p, const struct model_api_image *a)
{
	json_t *o = render_image(p->r, a);
	if (!o)
		return -ENOMEM;
	json_array_append_new(p->list, o);
	p->batch.ids[p->batch.n] = a->img.id;
	p->batch.objs[p->batch.n++] = o;
	snprintf(p->last, sizeof(p->last), "%s", a->img.uuid);
	p->n++;
	return p->batch.n == MODEL_PROPS_BATCH ? render_props(p->r->g, &p->batch) : 0;
}

/* The next page's link: this query with the last image as marker. */
static json_t *next_link(struct glance_req *r, const char *marker)
{
	char buf[GLANCE_PATH_MAX + 128];
	size_t o = (size_t)snprintf(buf, sizeof(buf), "/v2/images?marker=%s", marker);
	for (int i = 0; i < r->query.n && o < sizeof(buf); i++) {
		if (strcmp(r->query.key[i], "marker") == 0)
			continue;
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "&");
		for (const char *s = r->query.key[i]; *s && o + 4 < sizeof(buf); s++)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, strchr("&=%+# ", *s) ? "%%%02X" : "%c",
			                      (unsigned char)*s);
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "=");
		for (const char *s = r->query.value[i]; *s && o + 4 < sizeof(buf); s++)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, (strchr("&=%+# ", *s) || (unsigned char)*s > 0x7e)
			                                                   ? "%%%02X" : "%c", (unsigned char)*s);
	}
	return json_string(buf);
}

/* Sorted by another key than created_at desc: every listable image's key. */
static int list_sorted(struct glance_req *r, const struct filters *f, struct merge *mg, struct page *p,
                       struct sort_spec *sp, int64_t marker_id)
{
	struct sorted *all = NULL;
	size_t n = 0, cap = 0;
	struct model_api_image *a = malloc(sizeof(*a));
	enum model_api_source src;
	int64_t id;
	int rc;
	if (!a)
		return -ENOMEM;
	while ((rc = merge_next(mg, 0, &id, &src)) == 1) {
		if (model_api_image_get(glance_model(r->g), id, a) < 0 || !matches(r, f, src, a))
			continue;
		if (n == GLANCE_SORT_MAX) {
			rc = -E2BIG;
			break;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct sorted *m = realloc(all, ncap * sizeof(*all));
			if (!m) {
				rc = -ENOMEM;
				break;
			}
			all = m;
			cap = ncap;
		}
		sort_value(r, sp, a, &all[n]);
		if (!sorted_keep(&all[n++], sp, false)) {
			n--;
			rc = -ENOMEM;
			break;
		}
	}
	if (rc >= 0) {
		qsort_r(all, n, sizeof(*all), cmp_sorted, sp);
		size_t at = 0;
		if (marker_id) {
			while (at < n && all[at].id != marker_id)
				at++;
			at = at < n ? at + 1 : n;
		}
		for (; at < n && p->n < p->limit && rc >= 0; at++)
			if ((rc = model_api_image_get(glance_model(r->g), all[at].id, a)) == 0)
				rc = page_add(p, a);
		rc = rc == -ENOENT ? 0 : rc;
	}
	for (size_t i = 0; i < n; i++)
		sorted_keep(&all[i], sp, true);
	free(all);
	free(a);
	return rc;
}

int images_list(struct glance_req *r)
{
	struct filters f;
	struct model_api_image *a = NULL, *marker = NULL;
	struct merge *mg = NULL;
	struct page p = {.r = r, .limit = GLANCE_LIMIT_DEFAULT};
	struct sort_spec sp;
	enum model_api_source src;
	int64_t id, marker_id = 0;
	int rc, ret;
	const char *v;

	if ((rc = parse_filters(r, &f)) != 0 || (rc = parse_sort(r, &sp)) != 0)
		return rc; /* replied */
	if ((v = glance_query_get(&r->query, "limit"))) {
		char *end;
		long long l = strtoll(v, &end, 10);
		if (end == v || *end || l < 0)
			return glance_reply_error(r, 400, "limit is a whole number");
		p.limit = l > GLANCE_LIMIT_MAX ? GLANCE_LIMIT_MAX : (int)l;
	}
	if (!(a = malloc(sizeof(*a))) || !(marker = malloc(sizeof(*marker))) || !(mg = calloc(1, sizeof(*mg))) ||
	    !(p.list = json_array())) {
		ret = glance_reply_error(r, 500, "out of memory");
		goto out;
	}
	if ((v = glance_query_get(&r->query, "marker"))) {
		unsigned seen = 0;
		if (model_api_image_by_uuid(glance_model(r->g), v, marker) < 0 ||
		    glance_rights(r, &marker->img, &seen) < 0 || !(seen & MODEL_RIGHT_SEE)) {
			ret = glance_reply_error(r, 400, "marker %.64s could not be found", v);
			goto out;
		}
		marker_id = marker->img.id;
	}
	*mg = (struct merge){.r = r, .sources = sources_of(&f), .member = f.member};
	if (sp.n > 1 || sp.key[0] != SK_CREATED || sp.dir[0] > 0) {
		rc = list_sorted(r, &f, mg, &p, &sp, marker_id);
	} else {
		while (p.n < p.limit && (rc = merge_next(mg, marker_id, &id, &src)) == 1)
			if (model_api_image_get(glance_model(r->g), id, a) == 0 && matches(r, &f, src, a) &&
			    (rc = page_add(&p, a)) < 0)
				break;
	}
	if (rc >= 0)
		rc = render_props(r->g, &p.batch);
	if (rc == -E2BIG) {
		ret = glance_reply_error(r, 400, "more than %d images to sort by %s: filter them, or sort by created_at",
		                         GLANCE_SORT_MAX, sort_names[sp.key[0]]);
		goto out;
	}
	if (rc < 0) {
		ret = glance_reply_error(r, 503, "the database did not answer: try again");
		goto out;
	}
	json_t *body = json_pack("{s:o,s:s,s:s}", "images", p.list, "first", "/v2/images", "schema", "/v2/schemas/images");
	p.list = NULL;
	if (body && p.n == p.limit && p.limit > 0)
		json_object_set_new(body, "next", next_link(r, p.last));
	ret = glance_reply_json(r, 200, body);
out:
	json_decref(p.list);
	free(mg);
	free(marker);
	free(a);
	return ret;
}

/* ---- one image ----------------------------------------------------------------------- */

/* The image (arg 0) with its properties, as JSON. */
static json_t *image_json(struct glance_req *r, const struct model_api_image *a)
{
	struct render_batch b = {0};
	json_t *o = render_image(r, a);
	if (!o)
		return NULL;
	b.ids[0] = a->img.id;
	b.objs[b.n++] = o;
	render_props(r->g, &b);
	return o;
}

/* Shows the image id after a change: 200 (or status) with it. */
static int reply_image(struct glance_req *r, int status, int64_t id)
{
	struct model_api_image *a = malloc(sizeof(*a));
	int ret;
	if (!a)
		return glance_reply_error(r, 500, "out of memory");
	if (model_api_image_get(glance_model(r->g), id, a) < 0)
		ret = glance_reply_error(r, 503, "the database did not answer: try again");
	else
		ret = glance_reply_json(r, status, image_json(r, a));
	free(a);
	return ret;
}

int images_show(struct glance_req *r)
{
	return glance_reply_json(r, 200, image_json(r, r->image));
}

int images_create(struct glance_req *r)
{
	struct glance_ops *ops = malloc(sizeof(*ops));
	struct model_image *img = malloc(sizeof(*img));
	struct model_err err = {0};
	struct glance_bad bad = {0};
	const char *owner;
	bool replied;
	int ret, rc;
	json_t *body = NULL;
	if (!ops || !img) {
		ret = glance_reply_error(r, 500, "out of memory");
		goto out;
	}
	if (!(body = glance_body_json(r, &replied))) {
		ret = MHD_YES;
		goto out;
	}
	if (glance_parse_create(body, ops, &owner, &bad) < 0) {
		ret = glance_reply_error(r, bad.status, "%s", bad.why);
		goto out;
	}
	if (owner && strcmp(owner, r->caller.name) != 0) {
		ret = glance_reply_error(r, 403, "an image belongs to the account that makes it (not %.64s)", owner);
		goto out;
	}
	if ((rc = model_api_image_create(glance_model(r->g), r->region_id, r->caller.id, ops->op, ops->n, img, &err)) < 0)
		ret = glance_reply_model(r, rc, &err);
	else {
		/* what openstacksdk asks before an import, and where the image is
		 * (Glance sends them all) */
		r->hdr[0][0] = "OpenStack-image-import-methods";
		r->hdr[0][1] = "glance-direct,web-download";
		r->hdr[1][0] = "OpenStack-image-store-ids";
		r->hdr[1][1] = r->region;
		snprintf(r->location, sizeof(r->location), "%s/v2/images/%s", r->base, img->uuid);
		r->hdr[2][0] = "Location";
		r->hdr[2][1] = r->location;
		ret = reply_image(r, 201, img->id);
	}
out:
	json_decref(body);
	free(img);
	free(ops);
	return ret;
}

/* The image's properties, for a patch's remove and replace. */
struct props_set {
	int n;
	char keys[MODEL_PROPS_MAX][MODEL_PROP_KEY_MAX + 1];
};

static int props_keep(void *arg, const char *key, const char *value)
{
	struct props_set *s = arg;
	(void)value;
	if (s->n < MODEL_PROPS_MAX)
		snprintf(s->keys[s->n++], sizeof(s->keys[0]), "%s", key);
	return 0;
}

static bool props_has(void *arg, const char *key)
{
	struct props_set *s = arg;
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->keys[i], key) == 0)
			return true;
	return false;
}

int images_update(struct glance_req *r)
{
	struct glance_ops *ops = malloc(sizeof(*ops));
	const struct model_api_image *a = r->image; /* the dispatcher's: ours to change */
	struct props_set *props = calloc(1, sizeof(*props));
	struct model_err err = {0};
	struct glance_bad bad = {0};
	json_t *body = NULL;
	bool replied;
	int ret, rc;
	if (!ops || !props) {
		ret = glance_reply_error(r, 500, "out of memory");
		goto out;
	}
	if (!glance_patch_type_ok(MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE))) {
		ret = glance_reply_error(r, 415, "a patch's Content-Type is application/openstack-images-v2.1-json-patch "
		                                 "(or v2.0)");
		goto out;
	}
	if (!(body = glance_body_json(r, &replied))) {
		ret = MHD_YES;
		goto out;
	}
	model_image_props(glance_model(r->g), a->img.id, props_keep, props);
	if (glance_parse_patch(body, a->img.tags, props_has, props, ops, &bad) < 0) {
		ret = glance_reply_error(r, bad.status, "%s", bad.why);
		goto out;
	}
	if ((rc = model_api_image_update(glance_model(r->g), a->img.id, ops->op, ops->n, &err)) < 0)
		ret = glance_reply_model(r, rc, &err);
	else
		ret = reply_image(r, 200, a->img.id);
out:
	json_decref(body);
	free(props);
	free(ops);
	return ret;
}

int images_delete(struct glance_req *r)
{
	const struct model_api_image *a = r->image; /* the dispatcher's: ours to change */
	struct model_task t;
	struct model_err err = {0};
	int ret, rc;
	/* A staged upload (the API's stage, waiting for an import) ends with
	 * the image: cancelled, then deleted (SPEC §19) — never cancelled for
	 * a delete the model refuses anyway (protected: its 403, the stage
	 * kept, as Glance keeps a protected image's staging data). */
	if (a->img.status == MODEL_IMG_UPLOADING && !(a->img.gflags & MODEL_GFLAG_PROTECTED) &&
	    model_task_of_image(glance_model(r->g), a->img.id, &t) == 0 && strcmp(t.state, "staged") == 0)
		model_upload_cancel(glance_model(r->g), a->img.id, NULL);
	if ((rc = model_image_remove(glance_model(r->g), a->img.id, &err)) < 0)
		ret = glance_reply_model(r, rc, &err);
	else
		ret = glance_reply_empty(r, 204);
	return ret;
}

static int set_flag(struct glance_req *r, unsigned bit, bool on)
{
	struct model_api_op op = {.kind = MODEL_API_FLAG, .num = bit, .on = on};
	struct model_err err = {0};
	int rc;
	if ((rc = model_api_image_update(glance_model(r->g), r->image->img.id, &op, 1, &err)) < 0)
		return glance_reply_model(r, rc, &err);
	return glance_reply_empty(r, 204);
}

int images_deactivate(struct glance_req *r)
{
	return set_flag(r, MODEL_GFLAG_DEACTIVATED, true);
}

int images_reactivate(struct glance_req *r)
{
	return set_flag(r, MODEL_GFLAG_DEACTIVATED, false);
}

static int edit_tag(struct glance_req *r, bool add)
{
	const struct model_api_image *a = r->image; /* the dispatcher's: ours to change */
	char *tags = malloc(MODEL_TEXT_MAX + 1), why[160];
	struct model_err err = {0};
	int ret, rc;
	if (!tags) {
		ret = glance_reply_error(r, 500, "out of memory");
		goto out;
	}
	rc = glance_tags_edit(a->img.tags, r->arg[1], add, tags, why, sizeof(why));
	if (rc == -ENOENT) {
		ret = glance_reply_error(r, 404, "Tag %.64s not found", r->arg[1]);
		goto out;
	}
	if (rc < 0) {
		ret = glance_reply_error(r, glance_http_status(rc), "%s", why);
		goto out;
	}
	struct model_api_op op = {.kind = MODEL_API_TAGS, .value = tags};
	if ((rc = model_api_image_update(glance_model(r->g), a->img.id, &op, 1, &err)) < 0)
		ret = glance_reply_model(r, rc, &err);
	else
		ret = glance_reply_empty(r, 204);
out:
	free(tags);
	return ret;
}

int images_tag_add(struct glance_req *r)
{
	return edit_tag(r, true);
}

int images_tag_delete(struct glance_req *r)
{
	return edit_tag(r, false);
}
