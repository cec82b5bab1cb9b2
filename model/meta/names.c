/*
 * names.c — SPEC §10 name rules and external ids.
 *
 * A name is 1..32 characters of UTF-8: letters of any script, digits, '.',
 * '_' and '-', not starting with '.' or '-'; more than 255 bytes is
 * ENAMETOOLONG, anything else wrong EINVAL.  Letters and digits outside
 * ASCII are classified with the C.UTF-8 locale (a private locale_t, so the
 * process locale is untouched).
 */
#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <wctype.h>

#include "model_int.h"

/* Decodes one UTF-8 sequence strictly; returns its length or 0 if invalid. */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	size_t n = s[0] >= 0xf0 && s[0] < 0xf5 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;
	if (!n)
		return 0;
	uint32_t v = s[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
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
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = utf8_decode(p, &cp);
		if (!n)
			return false;
		p += n;
	}
	return true;
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
	for (const unsigned char *p = (const unsigned char *)name; *p;) {
		uint32_t cp;
		size_t n = utf8_decode(p, &cp);
		if (!n)
			return model_fail(err, -EINVAL, "a name must be valid UTF-8");
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
