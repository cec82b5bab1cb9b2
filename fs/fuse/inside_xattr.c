/*
 * inside_xattr.c — the extended attributes of the files inside an image
 * (SPEC §18): getxattr and listxattr of a files/ node answer the guest
 * file's own (security.capability, security.selinux, POSIX ACLs, user.*,
 * trusted.*), read-only, so that `getfattr`, `rsync -X` and
 * `tar --xattrs` over files/ carry them.
 *
 * Who calls it: xattr.c's getxattr and listxattr for an FS_W_INSIDE node.
 * Each call is one exchange with the volume's helper (INS_T_XATTRS: all of
 * the inode's attributes at once, bounded by Linux's own bounds), whose
 * answer is checked entry by entry (proto.c, ins_xattr_entry) before a
 * byte of it reaches the kernel.  Nothing is kept: the kernel caches no
 * attribute but ACLs, and a walk asks once a file (listxattr) and once a
 * name it reads.
 *
 * Shown as the kernel's own driver shows them: trusted.* only to root
 * (ext4 and XFS list them to CAP_SYS_ADMIN only; the kernel itself
 * refuses other callers' getxattr of them), system.* only the two ACLs
 * (ext4's "system.data" of an inline-data inode is not an attribute), and
 * an attribute the helper's reader found damaged (an ACL that does not
 * convert) is listed, and reading it is EIO with the reader's reason in
 * the log and the caller's /errors (SPEC §18).  An inode whose names pass Linux's 64 KiB bound
 * on a list (XATTR_LIST_MAX, which no Linux file system lets one reach) is
 * E2BIG for listxattr, as the kernel's own would be; getxattr reads the
 * names within the bound.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dirs.h"
#include "inside_int.h"
#include "log.h"

/* The answer of n's helper: 0 with *ans and *alen, or -errno. */
static int fetch(struct fs_ctx *ctx, const struct fs_node *n, void **ans, size_t *alen)
{
	uint32_t ino = n->inside.st.ino;
	int rc = ins_node_ask(ctx, n, INS_T_XATTRS, &ino, sizeof(ino), ans, alen);
	if (rc == -ENOENT || rc == -EINVAL || rc == -ENOTDIR)
		rc = -EIO; /* a file just resolved: its inode is there */
	return rc;
}

/* Whether the process asking (uid: the request's own, not the account's)
 * is shown name: trusted.* to root only, as ext4 and XFS list them. */
static bool shown(uid_t uid, const char *name)
{
	return strncmp(name, "trusted.", 8) != 0 || uid == 0;
}

ssize_t fs_inside_getxattr(struct fs_ctx *ctx, const struct fs_node *n, uid_t uid, const char *name, void *buf,
                           size_t cap)
{
	void *ans = NULL;
	size_t alen = 0, pos = 0;
	ssize_t rc = fetch(ctx, n, &ans, &alen);
	while (rc == 0) {
		char got[INS_XATTR_NAME_MAX + 1];
		const void *value;
		size_t vlen;
		bool ok;
		int e = ins_xattr_entry(ans, alen, &pos, got, &value, &vlen, &ok);
		if (e <= 0) {
			rc = e < 0 ? e : -ENODATA;
			break;
		}
		if (!ok || !shown(uid, got) || strcmp(got, name) != 0)
			continue;
		if (e == 2) { /* damaged in the guest: EIO, its reason in the log and /errors */
			char path[1024], why[INS_XATTR_WHY_MAX + 1];
			fs_inside_path(ctx, n, path, sizeof(path)); /* names the inode */
			snprintf(why, sizeof(why), "%.*s", (int)vlen, (const char *)value);
			fs_refuse(ctx, "getxattr", path, EIO, why, 0);
			rc = -EIO;
			break;
		}
		if (cap && vlen > cap)
			rc = -ERANGE;
		else if (cap)
			memcpy(buf, value, vlen);
		if (rc == 0)
			rc = (ssize_t)vlen;
		break;
	}
	free(ans);
	return rc;
}

ssize_t fs_inside_listxattr(struct fs_ctx *ctx, const struct fs_node *n, uid_t uid, char *buf, size_t cap)
{
	void *ans = NULL;
	size_t alen = 0, pos = 0, used = 0;
	int rc = fetch(ctx, n, &ans, &alen);
	while (rc == 0) {
		char got[INS_XATTR_NAME_MAX + 1];
		const void *value;
		size_t vlen, l;
		bool ok;
		int e = ins_xattr_entry(ans, alen, &pos, got, &value, &vlen, &ok);
		if (e <= 0) {
			rc = e;
			break;
		}
		if (!ok && got[0] == '\0') {
			rc = -E2BIG; /* more names than Linux lists (the helper's marker) */
			break;
		}
		if (!ok || !shown(uid, got))
			continue;
		l = strlen(got) + 1;
		if (used + l > INS_XATTR_LIST_MAX)
			rc = -E2BIG;
		else if (cap && used + l > cap)
			rc = -ERANGE;
		else if (cap)
			memcpy(buf + used, got, l);
		used += l;
	}
	free(ans);
	return rc < 0 ? rc : (ssize_t)used;
}
