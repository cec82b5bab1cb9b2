/*
 * proto.c — the daemon's reading of a helper's answers (SPEC §18;
 * ins_proto.h).  A helper parses a tenant's file system: it may have been
 * made to say anything, so what it says is checked here before it becomes
 * a node or a directory entry the kernel sees.  Pure functions over bytes,
 * fuzzed by tests/fuzz/fuzz_inside_proto.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ins_proto.h"

bool ins_stat_valid(const struct ins_stat *st)
{
	switch (st->mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR: case S_IFBLK: case S_IFIFO: case S_IFSOCK:
		return st->ino != 0 && (st->mode & ~(uint32_t)(S_IFMT | 07777)) == 0 && st->atime.nsec < 1000000000u &&
		       st->mtime.nsec < 1000000000u && st->ctime.nsec < 1000000000u;
	default:
		return false;
	}
}

int ins_reads_check(uint32_t type, const void *buf, uint32_t len, uint64_t vol_size, uint64_t *total, char *why,
                    size_t cap)
{
	struct ins_req_blk r;
	uint32_t np = len / sizeof(r);

	*total = 0;
	if (type == INS_H_READ ? len != sizeof(r) : len % sizeof(r) || np == 0 || np > INS_READV_MAX) {
		snprintf(why, cap, "the helper sent a malformed read");
		return -EIO;
	}
	for (uint32_t i = 0; i < np; i++) {
		memcpy(&r, (const char *)buf + (size_t)i * sizeof(r), sizeof(r));
		if (r.len > INS_MAX_PAYLOAD || (type == INS_H_READV && (r.off > vol_size || r.len > vol_size - r.off))) {
			snprintf(why, cap, "the helper asked for %" PRIu32 " bytes at %" PRIu64 ", past a bound", r.len, r.off);
			return -EIO;
		}
		*total += ins_read_clip(&r, vol_size);
	}
	if (*total > INS_MAX_PAYLOAD) {
		snprintf(why, cap, "the helper asked for %" PRIu64 " bytes at once, past the bound", *total);
		return -EIO;
	}
	return 0;
}

/* A name the kernel can be given: no '/' nor NUL in its nlen bytes, not
 * "." or "..".  One pass (a listing of a million names asks a million:
 * memchr, strlen and two strcmp were a tenth of a whole `ls -f`'s CPU). */
static bool name_ok(const char *name, size_t nlen)
{
	if (name[0] == '.' && (nlen == 1 || (nlen == 2 && name[1] == '.')))
		return false;
	for (size_t i = 0; i < nlen; i++)
		if (name[i] == '/' || name[i] == '\0')
			return false;
	return true;
}

int ins_list_entry(const void *page, size_t len, size_t *pos, struct ins_stat *st, char name[INS_NAME_MAX + 1],
                   uint64_t *after, bool *ok)
{
	const char *p = page;
	const size_t head = sizeof(*st) + sizeof(uint64_t) + 2;
	uint64_t at;
	uint16_t nlen;
	if (*pos > len)
		return -EIO;
	if (*pos == len)
		return 0;
	if (len - *pos < head)
		return -EIO;
	memcpy(st, p + *pos, sizeof(*st));
	memcpy(&at, p + *pos + sizeof(*st), sizeof(at));
	memcpy(&nlen, p + *pos + sizeof(*st) + sizeof(at), 2);
	if (nlen == 0 || nlen > INS_NAME_MAX || len - *pos - head < nlen)
		return -EIO;
	if (at <= *after || at > INS_POS_MAX)
		return -EIO; /* a page that does not move forward: it could loop */
	memcpy(name, p + *pos + head, nlen);
	name[nlen] = '\0';
	*pos += head + nlen;
	*after = at;
	/* A name the kernel would refuse (a '/', a NUL, "." or ".."), or an
	 * entry whose inode could not be read: counted, not listed. */
	*ok = name_ok(name, nlen) &&
	      ins_stat_valid(st);
	return 1;
}

int ins_names_entry(const void *page, size_t len, size_t *pos, struct ins_stat *st, char name[INS_NAME_MAX + 1],
                    uint64_t *after, bool *ok)
{
	const char *p = page;
	const size_t head = 2 * sizeof(uint32_t) + sizeof(uint64_t) + 2;
	uint32_t ino, type;
	uint64_t at;
	uint16_t nlen;
	if (*pos > len)
		return -EIO;
	if (*pos == len)
		return 0;
	if (len - *pos < head)
		return -EIO;
	memcpy(&ino, p + *pos, 4);
	memcpy(&type, p + *pos + 4, 4);
	memcpy(&at, p + *pos + 8, 8);
	memcpy(&nlen, p + *pos + 16, 2);
	if (nlen == 0 || nlen > INS_NAME_MAX || len - *pos - head < nlen)
		return -EIO;
	if (at <= *after || at > INS_POS_MAX)
		return -EIO; /* a page that does not move forward: it could loop */
	memcpy(name, p + *pos + head, nlen);
	name[nlen] = '\0';
	*pos += head + nlen;
	*after = at;
	memset(st, 0, sizeof(*st));
	st->ino = ino;
	st->mode = type;
	bool known = false;
	switch (type) {
	case 0: case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR: case S_IFBLK: case S_IFIFO: case S_IFSOCK:
		known = true;
	}
	*ok = name_ok(name, nlen) && ino != 0 && known;
	return 1;
}

int ins_xattr_entry(const void *ans, size_t len, size_t *pos, char name[INS_XATTR_NAME_MAX + 1], const void **value,
                    size_t *vlen, bool *ok)
{
	static const char *const prefixes[] = {"user.", "trusted.", "security."};
	const char *p = ans;
	uint16_t nlen;
	uint32_t v;
	if (*pos > len)
		return -EIO;
	if (*pos == len)
		return 0;
	if (len - *pos < 6)
		return -EIO;
	memcpy(&nlen, p + *pos, 2);
	memcpy(&v, p + *pos + 2, 4);
	bool damaged = (v & INS_XATTR_DAMAGED) != 0;
	v &= ~INS_XATTR_DAMAGED;
	if (nlen == 0 || nlen > INS_XATTR_NAME_MAX || v > (damaged ? INS_XATTR_WHY_MAX : INS_XATTR_VALUE_MAX) ||
	    len - *pos - 6 < (size_t)nlen + v)
		return -EIO;
	memcpy(name, p + *pos + 6, nlen);
	name[nlen] = '\0';
	*value = p + *pos + 6 + nlen;
	*vlen = v;
	*pos += 6 + (size_t)nlen + v;
	*ok = strcmp(name, "system.posix_acl_access") == 0 || strcmp(name, "system.posix_acl_default") == 0;
	for (size_t i = 0; !*ok && i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		*ok = strncmp(name, prefixes[i], strlen(prefixes[i])) == 0 && nlen > strlen(prefixes[i]);
	*ok = *ok && strlen(name) == nlen;
	return damaged ? 2 : 1;
}
