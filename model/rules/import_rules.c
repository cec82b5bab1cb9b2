/*
 * import_rules.c — the import rules of SPEC §5.4 (seed 004, "Import the
 * image") and the writes of the attributes they govern: os-type, platform,
 * version, arch, boot-mode and features, writable while an image is queued.
 *
 * Who calls it: fs/ (writes to those files), upload.c (an upload's last
 * check), the unit tests.
 *
 * The rules, read as inclusive ranges:
 *   CentOS  x86_64 6.5-6.10, 7.0-7.9; aarch64 7.6-7.9
 *   Ubuntu  x86_64 14.04-20.10; aarch64 16.04, 18.04
 *   Windows x86_64 only: Server 2008-2019 (an "R2" suffix allowed), 7-10
 *   the other platforms (SPEC §16: kylin, uos, debian, rocky, almalinux,
 *   opensuse, fedora, freebsd) have no ranges: any well-formed version
 *   os-type agrees with platform (the platforms table: each platform's
 *   os-type; freebsd is "other")
 *   aarch64 boots uefi only
 *   features: a subset of cloud-init qemu-ga hot-upgrade
 * An unset attribute (empty) takes part in no rule: an image of unknown OS
 * is allowed.  Versions compare as numbers, component by component ("6.10"
 * is after "6.9"; a missing component is 0, so "7" is 7.0).  Values are
 * lowercase words exactly as SPEC §2.1 spells them.  The refusals list the
 * words a value may be from the tables themselves (word_list), so that a
 * word added to a table is never missing from the reason.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_int.h"

#define VERSION_PARTS 3

/* The version ranges of seed 004, one row each. */
static const struct version_range {
	const char *platform, *arch;
	const char *lo, *hi;
	bool r2; /* an "R2" suffix is allowed (Windows Server) */
} version_ranges[] = {
	{"centos", "x86_64", "6.5", "6.10", false},
	{"centos", "x86_64", "7.0", "7.9", false},
	{"centos", "aarch64", "7.6", "7.9", false},
	{"ubuntu", "x86_64", "14.04", "20.10", false},
	{"ubuntu", "aarch64", "16.04", "16.04", false},
	{"ubuntu", "aarch64", "18.04", "18.04", false},
	{"windows", "x86_64", "2008", "2019", true},
	{"windows", "x86_64", "7", "10", false},
};
#define RANGE_COUNT (sizeof(version_ranges) / sizeof(version_ranges[0]))

static const char *const os_types[] = {"linux", "windows", "other"};
static const char *const arches[] = {"x86_64", "aarch64"};
static const char *const boot_modes[] = {"bios", "uefi"};
static const char *const feature_words[] = {"cloud-init", "qemu-ga", "hot-upgrade"};

/* The platforms, and the os-type each must be written with (SPEC §5.4's
 * agreement rule).  Those without a row in version_ranges take any
 * well-formed version. */
static const struct platform {
	const char *name, *os_type;
} platforms[] = {
	{"centos", "linux"},   {"ubuntu", "linux"},    {"windows", "windows"}, {"kylin", "linux"},
	{"uos", "linux"},      {"debian", "linux"},    {"rocky", "linux"},     {"almalinux", "linux"},
	{"opensuse", "linux"}, {"fedora", "linux"},    {"freebsd", "other"},
};

/* The words of a table: its entries' first members, each a word (a plain
 * array of words, or platforms' names).  WORDS(t) describes table t. */
struct words {
	const void *table;
	size_t count, stride;
};
#define WORDS(t) ((struct words){(t), sizeof(t) / sizeof((t)[0]), sizeof((t)[0])})
_Static_assert(offsetof(struct platform, name) == 0, "WORDS reads an entry's first member");

static const char *word_at(struct words w, size_t i)
{
	return *(const char *const *)(const void *)((const char *)w.table + i * w.stride);
}

/* The index of v among w's words, or -1. */
static int word_index(const char *v, struct words w)
{
	for (size_t i = 0; i < w.count; i++)
		if (strcmp(v, word_at(w, i)) == 0)
			return (int)i;
	return -1;
}

/* "a, b or c": w's words, for a refusal's reason. */
static const char *word_list(char *out, size_t cap, struct words w)
{
	size_t len = 0;
	out[0] = '\0';
	for (size_t i = 0; i < w.count && len < cap; i++)
		len += (size_t)snprintf(out + len, cap - len, "%s%s", i == 0 ? "" : i + 1 == w.count ? " or " : ", ",
		                        word_at(w, i));
	return out;
}

/* The platforms row of name, NULL for a word that is no platform. */
static const struct platform *platform_of(const char *name)
{
	int i = word_index(name, WORDS(platforms));
	return i < 0 ? NULL : &platforms[i];
}

static bool set(const char *v)
{
	return v && v[0];
}

static bool one_of(const char *v, struct words w)
{
	return word_index(v, w) >= 0;
}

/* A parsed version: up to three numbers and whether an R2 suffix follows. */
struct version {
	long part[VERSION_PARTS];
	bool r2;
};

/* "7", "6.10", "16.04", "2012", "2012 R2", "2008r2", "8.1": 0 or -EINVAL. */
static int version_parse(const char *s, struct version *out)
{
	const char *p = s;
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < VERSION_PARTS; i++) {
		char *end;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		out->part[i] = strtol(p, &end, 10);
		if (end - p > 6)
			return -EINVAL;
		p = end;
		if (*p != '.')
			break;
		p++;
	}
	if (*p == ' ')
		p++;
	if ((p[0] == 'r' || p[0] == 'R') && p[1] == '2' && p[2] == '\0') {
		out->r2 = true;
		return 0;
	}
	return *p == '\0' && p[-1] != ' ' ? 0 : -EINVAL;
}

static int version_cmp(const struct version *a, const struct version *b)
{
	for (int i = 0; i < VERSION_PARTS; i++)
		if (a->part[i] != b->part[i])
			return a->part[i] < b->part[i] ? -1 : 1;
	return 0;
}

static bool in_range(const struct version_range *r, const struct version *v)
{
	struct version lo, hi;
	if (version_parse(r->lo, &lo) < 0 || version_parse(r->hi, &hi) < 0)
		return false; /* the table's own rows always parse (unit-tested) */
	if (v->r2 && !r->r2)
		return false;
	return version_cmp(&lo, v) <= 0 && version_cmp(v, &hi) <= 0;
}

/* Whether some row allows (platform, arch, version); arch may be unset.  A
 * platform without rows takes any version but an R2 (Windows Server's). */
static bool version_allowed(const char *platform, const char *arch, const struct version *v)
{
	bool ranged = false;
	for (size_t i = 0; i < RANGE_COUNT; i++)
		ranged = ranged || strcmp(version_ranges[i].platform, platform) == 0;
	if (!ranged)
		return !v->r2;
	for (size_t i = 0; i < RANGE_COUNT; i++) {
		const struct version_range *r = &version_ranges[i];
		if (strcmp(r->platform, platform) == 0 && (!set(arch) || strcmp(r->arch, arch) == 0) && in_range(r, v))
			return true;
	}
	return false;
}

/* The allowed versions of platform (on arch, when set), for a refusal's
 * reason: "6.5-6.10, 7.0-7.9". */
static void version_list(char *out, size_t cap, const char *platform, const char *arch)
{
	size_t len = 0;
	out[0] = '\0';
	for (size_t i = 0; i < RANGE_COUNT && len < cap; i++) {
		const struct version_range *r = &version_ranges[i];
		if (strcmp(r->platform, platform) != 0 || (set(arch) && strcmp(r->arch, arch) != 0))
			continue;
		if (strcmp(r->lo, r->hi) == 0)
			len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? ", " : "", r->lo);
		else
			len += (size_t)snprintf(out + len, cap - len, "%s%s-%s", len ? ", " : "", r->lo, r->hi);
	}
}

static int check_features(const char *v, struct model_err *err)
{
	char buf[MODEL_TEXT_MAX + 1], list[64], *save = NULL;
	bool seen[sizeof(feature_words) / sizeof(feature_words[0])] = {false};
	snprintf(buf, sizeof(buf), "%s", v);
	for (char *w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		int k = word_index(w, WORDS(feature_words));
		if (k < 0)
			return model_fail(err, -EINVAL, "unknown feature %s: features are %s", w,
			                  word_list(list, sizeof(list), WORDS(feature_words)));
		if (seen[k])
			return model_fail(err, -EINVAL, "feature %s is listed twice", w);
		seen[k] = true;
	}
	return 0;
}

/* "platform is centos, ubuntu, ... or freebsd, not debain". */
static int refuse_word(struct model_err *err, const char *what, const char *v, struct words w)
{
	char list[160];
	return model_fail(err, -EINVAL, "%s is %s, not %s", what, word_list(list, sizeof(list), w), v);
}

/* Each value on its own: a known word (or, for version, a version). */
static int check_values(const struct model_import_attrs *a, struct model_err *err)
{
	struct version v;
	if (set(a->os_type) && !one_of(a->os_type, WORDS(os_types)))
		return refuse_word(err, "os-type", a->os_type, WORDS(os_types));
	if (set(a->platform) && !platform_of(a->platform))
		return refuse_word(err, "platform", a->platform, WORDS(platforms));
	if (set(a->arch) && !one_of(a->arch, WORDS(arches)))
		return refuse_word(err, "arch", a->arch, WORDS(arches));
	if (set(a->boot_mode) && !one_of(a->boot_mode, WORDS(boot_modes)))
		return refuse_word(err, "boot-mode", a->boot_mode, WORDS(boot_modes));
	if (set(a->version) && version_parse(a->version, &v) < 0)
		return model_fail(err, -EINVAL, "version %s is not a version number (e.g. 7.4, 16.04, 2016)", a->version);
	if (set(a->features))
		return check_features(a->features, err);
	return 0;
}

int model_import_check(const struct model_import_attrs *a, struct model_err *err)
{
	const char *os = a->os_type, *pf = a->platform, *arch = a->arch;
	struct version v;
	char list[128];
	int rc;

	if ((rc = check_values(a, err)) < 0)
		return rc;
	const struct platform *p = set(pf) ? platform_of(pf) : NULL; /* known: checked above */
	if (set(os) && p && strcmp(os, p->os_type) != 0)
		return model_fail(err, -EINVAL, "os-type %s does not agree with platform %s (it is %s)", os, pf,
		                  p->os_type);
	bool windows = (set(os) && strcmp(os, "windows") == 0) || (p && strcmp(p->os_type, "windows") == 0);
	if (windows && set(arch) && strcmp(arch, "x86_64") != 0)
		return model_fail(err, -EINVAL, "Windows images are x86_64 only");
	if (set(arch) && strcmp(arch, "aarch64") == 0 && set(a->boot_mode) && strcmp(a->boot_mode, "uefi") != 0)
		return model_fail(err, -EINVAL, "aarch64 images boot uefi only");
	if (set(pf) && set(a->version)) {
		version_parse(a->version, &v); /* checked above */
		if (!version_allowed(pf, arch, &v)) {
			version_list(list, sizeof(list), pf, arch);
			if (v.r2 && !list[0])
				return model_fail(err, -EINVAL, "%s %s: R2 is Windows Server's suffix", pf, a->version);
			return model_fail(err, -EINVAL, "%s %s%s%s is not importable (supported: %s)", pf, a->version,
			                  set(arch) ? " " : "", set(arch) ? arch : "", list[0] ? list : "none");
		}
	}
	return 0;
}

/* ---- writes ------------------------------------------------------------------ */

static const char **attr_slot(struct model_import_attrs *a, enum model_import_attr which)
{
	switch (which) {
	case MODEL_IMPORT_OS_TYPE: return &a->os_type;
	case MODEL_IMPORT_PLATFORM: return &a->platform;
	case MODEL_IMPORT_VERSION: return &a->version;
	case MODEL_IMPORT_ARCH: return &a->arch;
	case MODEL_IMPORT_BOOT_MODE: return &a->boot_mode;
	case MODEL_IMPORT_FEATURES: return &a->features;
	default: return NULL;
	}
}

void model_import_attrs_of(const struct model_image *img, struct model_import_attrs *out)
{
	*out = (struct model_import_attrs){img->os_type, img->platform, img->version, img->arch, img->boot_mode,
	                                   img->features};
}

/* One statement per column (a column name cannot be a parameter). */
static const struct model_sql *set_sql(enum model_import_attr which)
{
	switch (which) {
	case MODEL_IMPORT_OS_TYPE:
		return SQL("UPDATE images SET os_type = ?, mtime_ns = ?2, ctime_ns = ?2 WHERE id = ?3 AND status = ?4");
	case MODEL_IMPORT_PLATFORM:
		return SQL("UPDATE images SET platform = ?, mtime_ns = ?2, ctime_ns = ?2 WHERE id = ?3 AND status = ?4");
	case MODEL_IMPORT_VERSION:
		return SQL("UPDATE images SET version = ?, mtime_ns = ?2, ctime_ns = ?2 WHERE id = ?3 AND status = ?4");
	case MODEL_IMPORT_ARCH:
		return SQL("UPDATE images SET arch = ?, mtime_ns = ?2, ctime_ns = ?2 WHERE id = ?3 AND status = ?4");
	case MODEL_IMPORT_BOOT_MODE:
		return SQL("UPDATE images SET boot_mode = ?, mtime_ns = ?2, ctime_ns = ?2 WHERE id = ?3 AND status = ?4");
	case MODEL_IMPORT_FEATURES:
		return SQL("UPDATE images SET features = ?, mtime_ns = ?2, ctime_ns = ?2 WHERE id = ?3 AND status = ?4");
	default:
		return NULL;
	}
}

/* Largest value of each column (struct model_image's buffers). */
static size_t attr_cap(enum model_import_attr which)
{
	struct model_image img;
	switch (which) {
	case MODEL_IMPORT_OS_TYPE: return sizeof(img.os_type) - 1;
	case MODEL_IMPORT_PLATFORM: return sizeof(img.platform) - 1;
	case MODEL_IMPORT_VERSION: return sizeof(img.version) - 1;
	case MODEL_IMPORT_ARCH: return sizeof(img.arch) - 1;
	case MODEL_IMPORT_BOOT_MODE: return sizeof(img.boot_mode) - 1;
	default: return sizeof(img.features) - 1;
	}
}

/* features as one blank between words, in the order written. */
static void normalise_words(char *out, size_t cap, const char *v)
{
	char buf[MODEL_TEXT_MAX + 1], *save = NULL;
	size_t len = 0;
	snprintf(buf, sizeof(buf), "%s", v);
	out[0] = '\0';
	for (char *w = strtok_r(buf, " \t", &save); w && len < cap; w = strtok_r(NULL, " \t", &save))
		len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? " " : "", w);
}

int model_image_set_import_attr(model *m, int64_t id, enum model_import_attr which, const char *value,
                                struct model_err *err)
{
	struct model_import_attrs cand;
	struct model_image img;
	struct model_conn *c;
	db_stmt *st;
	char norm[MODEL_TEXT_MAX + 1];
	const char **slot;
	int rc;

	if (which <= MODEL_IMPORT_INVALID || which >= MODEL_IMPORT_ATTR_COUNT)
		return model_fail(err, -EPERM, "not an import attribute");
	if (which == MODEL_IMPORT_FEATURES)
		normalise_words(norm, sizeof(norm), value);
	else
		snprintf(norm, sizeof(norm), "%s", value);
	if (strlen(norm) > attr_cap(which))
		return model_fail(err, -EINVAL, "a value of %zu bytes is too long (at most %zu)", strlen(norm),
		                  attr_cap(which));
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_image_get_queued(m, id, &img, err)) < 0)
		goto out;
	model_import_attrs_of(&img, &cand);
	slot = attr_slot(&cand, which);
	*slot = norm;
	if ((rc = model_import_check(&cand, err)) < 0)
		goto out;
	if ((st = set_sql(which) ? model_stmt(c, set_sql(which)) : NULL))
		db_bind_text(st, 1, norm);
	rc = model_image_queued_update(c, st, &img);
out:
	return model_write_end(c, rc, err);
}
