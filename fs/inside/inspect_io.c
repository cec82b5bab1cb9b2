/*
 * inspect_io.c — what the inspection's readers share (SPEC §20;
 * ins_inspect.h): a fact put into the answer, a path resolved inside the
 * volume as the guest would, a file read whole within a bound.  The
 * lowest of the inspect*.c files: it calls none of them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ins_inspect.h"

void ins_put(struct ins_out *o, const char *key, const char *fmt, ...)
{
	char v[1025];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	v[strcspn(v, "\t\n\r")] = '\0';
	size_t kl = strlen(key), vl = strlen(v), need = kl + 1 + vl + 1;
	if (o->full || o->len + need > o->cap) {
		o->full = true;
		return;
	}
	/* (copied, not printed: a line that fills the answer to its last
	 * byte keeps its newline, where snprintf would put its NUL) */
	memcpy(o->buf + o->len, key, kl);
	o->buf[o->len + kl] = '\t';
	memcpy(o->buf + o->len + kl + 1, v, vl);
	o->buf[o->len + need - 1] = '\n';
	o->len += need;
}

int ins_put_pkg(struct ins_out *o, const char *name, const char *version, const char *arch)
{
	if (o->pkgs >= INSPECT_PACKAGES_MAX)
		return -E2BIG;
	/* The line as the packages file shows it: the value and its newline
	 * (ins_put cuts a value at 1024 bytes). */
	size_t line = strlen(name) + 1 + strlen(version) + 1 + strlen(arch) + 1;
	if (line > 1025)
		line = 1025;
	if (o->pkg_bytes + line > INSPECT_PKG_BYTES_MAX)
		return -EFBIG;
	ins_put(o, "pkg", "%s %s %s", name, version, arch);
	o->pkgs++;
	o->pkg_bytes += line;
	return 0;
}

void ins_pkg_cut_note(struct ins_out *o, int rc)
{
	if (rc == -E2BIG)
		ins_put(o, "note", "more than %u packages: %u are listed (in the database's order), the rest are not", INSPECT_PACKAGES_MAX,
		        o->pkgs);
	else if (rc == -EFBIG)
		ins_put(o, "note", "the package list is longer than %u MiB: %u packages are listed (in the database's order), the rest are not",
		        INSPECT_PKG_BYTES_MAX >> 20, o->pkgs);
}

/* ---- paths ------------------------------------------------------------------ */

int ins_resolve(const struct ins_fs_ops *ops, const char *path, uint64_t *ino, struct ins_stat *st)
{
	char work[4096], next[4096], target[4096];
	uint64_t up[64]; /* the directories walked through, for ".." */
	unsigned links = 0;
	int rc;
	if (strlen(path) >= sizeof(work) || path[0] != '/')
		return -ENOENT;
	snprintf(work, sizeof(work), "%s", path);
restart:;
	/* Walk work from the root; at a link, splice its target in (an
	 * absolute one from the root, a relative one from the link's
	 * directory: the guest's own resolution) and walk again. */
	uint64_t at = ops->root();
	unsigned depth = 0;
	for (char *p = work; *p;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		size_t len = strcspn(p, "/");
		if (len == 1 && p[0] == '.') {
			p += len;
			continue;
		}
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			at = depth ? up[--depth] : ops->root(); /* ("/.." is "/") */
			p += len;
			continue;
		}
		if (len > INS_NAME_MAX || depth >= sizeof(up) / sizeof(up[0]))
			return -ENOENT;
		up[depth++] = at;
		if ((rc = ops->lookup(at, p, len, &at)) < 0 || (rc = ops->stat(at, st)) < 0)
			return rc;
		if (S_ISLNK(st->mode)) {
			if (++links > INSPECT_LINKS_MAX)
				return -ELOOP;
			if (st->size == 0 || st->size >= sizeof(target) ||
			    (rc = ops->readlink(at, target, (size_t)st->size)) < 0)
				return rc < 0 ? rc : -EIO;
			target[st->size] = '\0';
			if (target[0] == '/')
				rc = snprintf(next, sizeof(next), "%s%s", target, p + len);
			else
				rc = snprintf(next, sizeof(next), "%.*s%s%s", (int)(p - work), work, target, p + len);
			if (rc < 0 || (size_t)rc >= sizeof(next))
				return -ENAMETOOLONG;
			memcpy(work, next, (size_t)rc + 1);
			goto restart;
		}
		p += len;
	}
	*ino = at;
	return ops->stat(at, st);
}

int ins_slurp(const struct ins_fs_ops *ops, const char *path, size_t max, char **data, size_t *len)
{
	struct ins_stat st;
	uint64_t ino;
	int rc;
	*data = NULL;
	*len = 0;
	if ((rc = ins_resolve(ops, path, &ino, &st)) < 0)
		return rc;
	if (!S_ISREG(st.mode))
		return -ENOENT;
	if (st.size > max)
		return -EFBIG;
	char *buf = malloc((size_t)st.size + 1);
	if (!buf)
		return -ENOMEM;
	size_t done = 0;
	while (done < st.size) {
		uint32_t want = st.size - done > INS_MAX_READ ? INS_MAX_READ : (uint32_t)(st.size - done), got = 0;
		if ((rc = ops->read(ino, done, want, buf + done, &got)) < 0 || got == 0) {
			free(buf);
			return rc < 0 ? rc : -EIO;
		}
		done += got;
	}
	buf[done] = '\0';
	*data = buf;
	*len = done;
	return 0;
}
