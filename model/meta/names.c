/*
 * names.c — SPEC §10 name rules, the text rules of values other tenants
 * read, the one UTF-8 decoder, and external ids.
 *
 * A name is 1..32 characters of UTF-8: letters of any script, digits, '.',
 * '_' and '-', not starting with '.' or '-'; more than 255 bytes is
 * ENAMETOOLONG, anything else wrong EINVAL.  Letters and digits outside
 * ASCII are classified with the C.UTF-8 locale (a private locale_t, so the
 * process locale is untouched).
 *
 * A free-text value (model_text_check: descriptions, tags, a published
 * image's description) reaches other tenants through shared images and
 * images.csv, so it holds no character that hides or reorders what they
 * see (issue 23; the table below): C0 controls but the few a value may
 * keep (a description's tab and newline), DEL, C1 controls, and the
 * bidirectional embeddings, overrides and isolates of "Trojan Source"
 * (CVE-2021-42574).  The bidirectional marks U+200E, U+200F and U+061C
 * stay allowed: right-to-left text needs them, and they only decide where
 * the neutral characters beside them go, never the order of a run.  A
 * name, whose characters are letters and digits only, cannot hold any of
 * them either; the reason names the character the same way.
 */
#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <wctype.h>

#include "model_int.h"

size_t model_utf8_decode(const char *str, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)str;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	/* Lead bytes: C2..DF two bytes, E0..EF three, F0..F4 four; C0, C1 and
	 * F5..FF never lead. */
	size_t n = s[0] >= 0xf5 ? 0 : s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
	if (!n)
		return 0;
	uint32_t v = s[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
	if (v < min[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

bool model_utf8_valid(const char *s)
{
	uint32_t cp;
	for (const char *p = s; *p;) {
		size_t n = model_utf8_decode(p, &cp);
		if (!n)
			return false;
		p += n;
	}
	return true;
}

/* Characters no value other tenants read may hold, and their names. */
static const struct hidden {
	uint32_t lo, hi;
	const char *name;
} hidden[] = {
	{0x00, 0x1f, "a control character"},
	{0x7f, 0x7f, "DELETE"},
	{0x80, 0x9f, "a C1 control character"},
	{0x202a, 0x202a, "LEFT-TO-RIGHT EMBEDDING"},
	{0x202b, 0x202b, "RIGHT-TO-LEFT EMBEDDING"},
	{0x202c, 0x202c, "POP DIRECTIONAL FORMATTING"},
	{0x202d, 0x202d, "LEFT-TO-RIGHT OVERRIDE"},
	{0x202e, 0x202e, "RIGHT-TO-LEFT OVERRIDE"},
	{0x2066, 0x2066, "LEFT-TO-RIGHT ISOLATE"},
	{0x2067, 0x2067, "RIGHT-TO-LEFT ISOLATE"},
	{0x2068, 0x2068, "FIRST STRONG ISOLATE"},
	{0x2069, 0x2069, "POP DIRECTIONAL ISOLATE"},
};

/* The name of cp when no value may hold it, else NULL. */
static const char *hidden_name(uint32_t cp)
{
	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++)
		if (cp >= hidden[i].lo && cp <= hidden[i].hi)
			return hidden[i].name;
	return NULL;
}

/* The refusal of what's character cp, the chars-th of the value. */
static int refuse_char(const char *what, uint32_t cp, const char *name, size_t chars, struct model_err *err)
{
	return model_fail(err, -EINVAL, "%s cannot hold U+%04X (%s), at character %zu", what, (unsigned)cp, name,
	                  chars);
}

int model_text_check(const char *what, const char *value, const char *allow, struct model_err *err)
{
	size_t chars = 0;
	for (const char *p = value; *p;) {
		uint32_t cp;
		size_t n = model_utf8_decode(p, &cp);
		const char *name;
		chars++;
		if (!n)
			return model_fail(err, -EINVAL, "%s is UTF-8 text (the byte 0x%02x at character %zu is not)", what,
			                  (unsigned char)*p, chars);
		if ((name = hidden_name(cp)) && !(cp < 0x20 && strchr(allow, (int)cp)))
			return refuse_char(what, cp, name, chars, err);
		p += n;
	}
	return 0;
}

int model_description_check(const char *value, struct model_err *err)
{
	if (strlen(value) > MODEL_DESC_MAX)
		return model_fail(err, -EINVAL, "a description is at most %d bytes", MODEL_DESC_MAX);
	return model_text_check("a description", value, "\t\n", err);
}

int model_name_check(const char *name, struct model_err *err)
{
	static locale_t utf8;
	size_t len = strlen(name), chars = 0;

	if (len == 0)
		return model_fail(err, -EINVAL, "a name cannot be empty");
	if (len > MODEL_NAME_MAX)
		return model_fail(err, -ENAMETOOLONG, "a name is at most %d bytes", MODEL_NAME_MAX);
	if (name[0] == '.' || name[0] == '-')
		return model_fail(err, -EINVAL, "a name cannot start with '%c'", name[0]);
	if (!__atomic_load_n(&utf8, __ATOMIC_ACQUIRE)) {
		locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
		if (l && !__sync_bool_compare_and_swap(&utf8, (locale_t)0, l))
			freelocale(l);
	}
	for (const char *p = name; *p;) {
		uint32_t cp;
		size_t n = model_utf8_decode(p, &cp);
		const char *hid;
		if (!n)
			return model_fail(err, -EINVAL, "a name must be valid UTF-8");
		if ((hid = hidden_name(cp)) && cp >= 0x7f) /* C0 controls: the reason below */
			return refuse_char("a name", cp, hid, chars + 1, err);
		bool ok;
		if (cp < 0x80)
			ok = (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') ||
			     cp == '.' || cp == '_' || cp == '-';
		else
			ok = utf8 && iswalnum_l((wint_t)cp, utf8);
		if (!ok) {
			if (cp < 0x20 || cp == 0x7f)
				return model_fail(err, -EINVAL, "a name cannot hold control characters");
			if (cp == ' ')
				return model_fail(err, -EINVAL, "a name cannot hold spaces");
			return model_fail(err, -EINVAL, "a name holds only letters, digits, '.', '_' and '-' (U+%04X is not)",
			                  (unsigned)cp);
		}
		p += n;
		chars++;
	}
	if (chars > MODEL_NAME_CHARS)
		return model_fail(err, -EINVAL, "a name is at most %d characters (this one has %zu)", MODEL_NAME_CHARS,
		                  chars);
	return 0;
}

void model_fill_id(db_stmt *st, void *out)
{
	*(int64_t *)out = db_col_int64(st, 0);
}

int model_draw_ext_id(char out[16], const char *prefix)
{
	uint32_t r;
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		return -EIO;
	snprintf(out, 16, "%s%08x", prefix, r);
	return 0;
}

int model_uuid_new(char out[37])
{
	uint8_t b[16];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -EIO;
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
	         b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

int model_insert_ext(db_stmt *st, const char *prefix, char ext[16], void (*fill)(db_stmt *st, void *arg),
                     void *arg)
{
	int rc;
	for (int tries = 0; tries < 64; tries++) {
		if ((rc = model_draw_ext_id(ext, prefix)) < 0)
			goto out;
		db_bind_text(st, 1, ext);
		if ((rc = db_step(st)) == DB_ROW)
			fill(st, arg);
		if (rc != DB_DONE) {
			rc = rc == DB_ROW ? 0 : db_errno(rc);
			goto out;
		}
		db_rewind(st); /* no row: the other parameters stay bound */
	}
	rc = -EEXIST;
out:
	db_reset(st);
	return rc;
}
