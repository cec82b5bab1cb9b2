/*
 * xattr.c — the extended attribute handlers (getxattr, listxattr,
 * setxattr, removexattr; SPEC §2.3, §18): a disk's blob hash when one is
 * kept, a guest file's own attributes inside an image (inside_xattr.c),
 * and nothing to set.  Beside ops.c, through the request helpers of
 * ops_int.h (req.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dirs.h"
#include "disk.h"
#include "fs.h"
#include "ops_int.h"
#include "stats.h"

#define XATTR_HASH "user.imgfs.xxh128"

/* The blob hash of a disk node, when one is kept (-ENODATA otherwise):
 * never computed here — a request thread hashing a 1 TiB sparse blob
 * held every tenant's requests for minutes (§2.3, §12). */
static int disk_hash(fuse_req_t req, const struct fs_node *n, char out[33])
{
	bool settled = fs_ino_kind(n->ino) == FS_K_SNAP ? n->snap.status == MODEL_SNAP_AVAILABLE
	                                                : n->img.status == MODEL_IMG_AVAILABLE;
	if (n->what != FS_W_DISK || !settled)
		return -ENODATA;
	int rc = fs_node_blob_access(ops_ctx(req), n, NULL);
	return rc < 0 ? rc : model_blob_hash(ops_ctx(req)->m, n->blob_id, out);
}

/* getxattr (name) or listxattr (NULL) of a file inside an image (§18):
 * the guest file's own, read-only (inside_xattr.c). */
static void inside_xattr_reply(fuse_req_t req, const struct fs_node *n, const char *name, size_t size)
{
	size_t cap = size > INS_XATTR_VALUE_MAX ? INS_XATTR_VALUE_MAX : size;
	char *buf = cap ? malloc(cap) : NULL;
	ssize_t len;
	if (cap && !buf)
		len = -ENOMEM;
	else if (name)
		len = fs_inside_getxattr(ops_ctx(req), n, fuse_req_ctx(req)->uid, name, buf, cap);
	else
		len = fs_inside_listxattr(ops_ctx(req), n, fuse_req_ctx(req)->uid, buf, cap);
	if (len < 0)
		ops_reply_err(req, (int)-len);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)len);
	else
		fuse_reply_buf(req, buf, (size_t)len);
	free(buf);
}

/* Whether node id ino is one of the caller's own images' directories (a
 * class, private/, iso/, recycle-bin/; fs.h's map): one with no extended
 * attribute, whatever its image's state.  Not one seen through shared/ or
 * tenants/, nor on a multi-user mount: there a held descriptor's getxattr
 * answers what its pread would (ENOENT once the view ends: §6.4). */
static bool ino_is_own_image_dir(const struct fs_ctx *ctx, fuse_ino_t ino)
{
	enum fs_kind k = fs_ino_kind(ino);
	unsigned sub = fs_ino_sub(ino);
	return !ctx->multiuser && ((k == FS_K_IMAGE && sub == 0) || (k == FS_K_IMAGE_DIR && !(sub & 0x8000u)));
}

void ops_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	ops_count(req, FS_OP_GETXATTR, ino, NULL);
	/* `ls -l` asks every entry for its ACLs and its SELinux label (three
	 * getxattr an entry): an image's directory has none, told from its
	 * node id alone — resolving it reads the image's row, a statement per
	 * entry and, with PostgreSQL, a round trip (issue 49). */
	if (ino_is_own_image_dir(ops_ctx(req), ino)) {
		ops_reply_err(req, ENODATA);
		return;
	}
	/* A disk open here has one attribute, its hash; anything else — the
	 * kernel asks security.capability before every write (FUSE clears
	 * SB_NOSEC) — is ENODATA from the open disk, asked of no database: a
	 * running guest's writes go on without it (SPEC §13; issue 70: a host
	 * cut off waited out the database's reconnect at every write). */
	struct stat st;
	if (strcmp(name, XATTR_HASH) != 0 && fs_disk_attr_open(ops_ctx(req), ino, fuse_req_ctx(req)->uid, &st) == 0) {
		ops_reply_err(req, ENODATA);
		return;
	}
	struct fs_node n;
	char hash[33];
	int rc = ops_resolve(req, ino, &n);
	if (rc == 0 && n.what == FS_W_INSIDE) {
		inside_xattr_reply(req, &n, name, size);
		return;
	}
	if (rc == 0)
		rc = strcmp(name, XATTR_HASH) == 0 ? disk_hash(req, &n, hash) : -ENODATA;
	if (rc < 0)
		ops_reply_err(req, -rc);
	else if (size == 0)
		fuse_reply_xattr(req, 32);
	else if (size < 32)
		ops_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, hash, 32);
}

void ops_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	ops_count(req, FS_OP_LISTXATTR, ino, NULL);
	static const char names[] = XATTR_HASH; /* with its NUL */
	struct fs_node n;
	char hash[33];
	int rc = ops_resolve(req, ino, &n);
	if (rc == 0 && n.what == FS_W_INSIDE) {
		inside_xattr_reply(req, &n, NULL, size);
		return;
	}
	size_t len = rc == 0 && n.what == FS_W_DISK && disk_hash(req, &n, hash) == 0 ? sizeof(names) : 0;
	if (rc < 0)
		ops_reply_err(req, -rc);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		ops_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, names, len);
}

void ops_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags)
{
	ops_count(req, FS_OP_SETXATTR, ino, NULL);
	struct fs_node n;
	int rc = ops_resolve(req, ino, &n);
	if (rc < 0)
		ops_reply_err(req, -rc);
	else
		ops_refuse(req, "setxattr", &n, NULL, -EPERM, "extended attributes are the service's own");
}

void ops_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	ops_count(req, FS_OP_REMOVEXATTR, ino, NULL);
	struct fs_node n;
	int rc = ops_resolve(req, ino, &n);
	if (rc < 0)
		ops_reply_err(req, -rc);
	else
		ops_refuse(req, "removexattr", &n, NULL, -EPERM, "extended attributes are the service's own");
}
