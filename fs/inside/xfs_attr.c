/*
 * xfs_attr.c — the extended attributes of an XFS inode, for files/ (SPEC
 * §18; ins_fs.h's xattrs), as the kernel's XFS driver shows them to root:
 * user.*, trusted.* (XFS's "root" namespace), security.* ("secure": the
 * SELinux labels every RHEL-family file carries) and the POSIX ACLs, which
 * XFS keeps as trusted "SGI_ACL_FILE" and "SGI_ACL_DEFAULT" in its own
 * format and Linux shows as system.posix_acl_access and _default (turned
 * here into Linux's xattr format, as the kernel's xfs_acl.c does) and, to
 * root, as the trusted.SGI_ACL_FILE and _DEFAULT they are (the kernel's
 * xfs_xattr_put_listent lists both names; fs/fuse/inside_xattr.c shows
 * trusted.* to root only).  A fork in extents format with no extent (cp -a
 * leaves them on every file it copies) holds none, as the kernel's
 * xfs_inode_hasattr says; a shortform fork or a leaf of no entry lists
 * none either.
 *
 * The attribute fork (xfs.c, through struct ins_xfs_access: ins_xfs.h) is read in its three forms:
 * shortform in the inode; one leaf block; a dabtree of node and leaf
 * blocks, whose leaves are walked from the leftmost one along their
 * forward links (each leaf's back link checked).  Values are local or remote (blocks of the fork; v5's
 * with a header and CRC each).  Every offset and length is checked against
 * its block before it is used; v5 leaf and node blocks are checked against
 * their CRC and owner.  Bounded: a tree at most XFS_DA_MAXDEPTH deep, at
 * most ATTR_LEAVES leaves walked (a loop whose back links agree ends
 * there with EIO, or at the helper's 64 KiB of names before), a value at
 * most Linux's 64 KiB.  Parent pointers and
 * incomplete entries are not attributes and are skipped.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ins_xfs.h"

#define XFS_DA_MAXDEPTH 5   /* the kernel's XFS_DA_NODE_MAXDEPTH */
#define ATTR_LEAVES 4096    /* leaf blocks walked (16 MiB of attributes at 4 KiB) */
#define ACL_MAX_ENTRIES 8191 /* XFS's own bound on an ACL's entries */

#define F_LOCAL 0x01
#define F_ROOT 0x02
#define F_SECURE 0x04
#define F_PARENT 0x08
#define F_INCOMPLETE 0x80

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

struct walk {
	const struct ins_xfs_access *x;
	uint64_t ino;
	ins_xattr_fn add;
	void *arg;
};

/* An XFS ACL (be32 count, then tag, id, perm of be32, be32, be16 + pad)
 * as Linux's xattr format (le32 version 2, then le16 tag, le16 perm, le32
 * id): its length, or 0 when it is malformed. */
static size_t acl_to_linux(const uint8_t *v, size_t vlen, uint8_t *out, size_t cap)
{
	if (vlen < 4)
		return 0;
	uint32_t n = be32(v);
	if (n > ACL_MAX_ENTRIES || vlen != 4 + (size_t)n * 12 || 4 + (size_t)n * 8 > cap)
		return 0;
	out[0] = 2, out[1] = out[2] = out[3] = 0;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = v + 4 + (size_t)i * 12;
		uint32_t tag = be32(e), id = be32(e + 4);
		uint16_t perm = be16(e + 8);
		uint8_t *o = out + 4 + (size_t)i * 8;
		if (tag != 0x02 && tag != 0x08)
			id = 0xffffffff; /* ACL_UNDEFINED_ID: not a named user or group */
		o[0] = (uint8_t)tag, o[1] = (uint8_t)(tag >> 8);
		o[2] = (uint8_t)perm, o[3] = (uint8_t)(perm >> 8);
		o[4] = (uint8_t)id, o[5] = (uint8_t)(id >> 8), o[6] = (uint8_t)(id >> 16), o[7] = (uint8_t)(id >> 24);
	}
	return 4 + (size_t)n * 8;
}

/* One attribute as Linux names it, to w->add: 0, or add's nonzero. */
static int emit(struct walk *w, unsigned flags, const uint8_t *name, size_t nlen, const uint8_t *value, size_t vlen)
{
	char full[INS_XATTR_NAME_MAX + 1];
	const char *ns;
	if (flags & (F_INCOMPLETE | F_PARENT) || nlen == 0)
		return 0;
	/* A NUL in a name (a hostile or damaged image) would split it in a
	 * listing: the kernel calls the inode corrupt (xfs_attr_namecheck,
	 * EFSCORRUPTED); EIO with why here (found by fuzz_xfs). */
	if (memchr(name, '\0', nlen)) {
		ins_why("inode %llu has an attribute whose name holds a NUL byte", (unsigned long long)w->ino);
		return -EIO;
	}
	if ((flags & (F_ROOT | F_SECURE)) == (F_ROOT | F_SECURE))
		return 0; /* no namespace is both */
	if (flags & F_ROOT) {
		const char *acl = nlen == 12 && memcmp(name, "SGI_ACL_FILE", 12) == 0      ? "system.posix_acl_access"
		                  : nlen == 15 && memcmp(name, "SGI_ACL_DEFAULT", 15) == 0 ? "system.posix_acl_default"
		                                                                           : NULL;
		if (acl) {
			/* The ACL as Linux shows it, then (below) as stored:
			 * the kernel lists both (xfs_xattr_put_listent), the
			 * trusted name to root only, as every trusted.* one. */
			uint8_t *conv = malloc(4 + (size_t)ACL_MAX_ENTRIES * 8);
			if (!conv)
				return -ENOMEM;
			size_t clen = acl_to_linux(value, vlen, conv, 4 + (size_t)ACL_MAX_ENTRIES * 8);
			if (!clen) /* damaged: listed, and EIO with why to read (ins_fs.h) */
				ins_why("its %s (%u bytes) is no XFS ACL: a count or an entry out of its bounds", acl,
				        (unsigned)vlen);
			int rc = w->add(w->arg, acl, strlen(acl), clen ? conv : NULL, clen);
			free(conv);
			if (rc)
				return rc;
		}
		ns = "trusted.";
	} else {
		ns = flags & F_SECURE ? "security." : "user.";
	}
	size_t plen = strlen(ns);
	if (plen + nlen > INS_XATTR_NAME_MAX)
		return 0;
	memcpy(full, ns, plen);
	memcpy(full + plen, name, nlen);
	return w->add(w->arg, full, plen + nlen, value, vlen);
}

/* Shortform: a header (be16 total size, u8 count, pad) and entries of u8
 * name length, u8 value length, u8 flags, name, value. */
static int shortform(struct walk *w, const struct ins_xfs_afork *a)
{
	if (a->size < 4 || be16(a->fork) > a->size || be16(a->fork) < 4) {
		ins_why("inode %llu's shortform attributes are out of bounds", (unsigned long long)w->ino);
		return -EIO;
	}
	size_t end = be16(a->fork), pos = 4;
	for (unsigned i = 0, n = a->fork[2]; i < n; i++) {
		if (end - pos < 3 || end - pos - 3 < (size_t)a->fork[pos] + a->fork[pos + 1]) {
			ins_why("inode %llu's shortform attribute %u is out of bounds", (unsigned long long)w->ino, i);
			return -EIO;
		}
		unsigned nlen = a->fork[pos], vlen = a->fork[pos + 1];
		int rc = emit(w, a->fork[pos + 2], a->fork + pos + 3, nlen, a->fork + pos + 3 + nlen, vlen);
		if (rc)
			return rc;
		pos += 3 + nlen + vlen;
	}
	return 0;
}

/* A remote value of vlen bytes from block blk of the fork on (v5: each
 * block starts with a 56-byte header: "XARM", the value's offset and the
 * block's bytes of it, CRC, uuid, owner at 32, block, lsn). */
static int remote(struct walk *w, const struct ins_xfs_afork *a, uint32_t blk, uint32_t vlen, uint8_t *value,
                  uint8_t *b)
{
	uint32_t per = a->v5 ? a->blocksize - 56 : a->blocksize, done = 0;
	for (uint64_t fb = blk; done < vlen; fb++) {
		uint32_t n = vlen - done < per ? vlen - done : per;
		if (w->x->block(w->ino, fb, b) < 0)
			return -EIO;
		if (a->v5) {
			if (memcmp(b, "XARM", 4) != 0 || !w->x->crc_ok(b, a->blocksize, 12) || be32(b + 4) != done ||
			    be32(b + 8) != n || be64(b + 32) != w->ino) {
				ins_why("inode %llu's remote attribute block %llu is malformed or fails its CRC",
				        (unsigned long long)w->ino, (unsigned long long)fb);
				return -EIO;
			}
			memcpy(value + done, b + 56, n);
		} else {
			memcpy(value + done, b, n);
		}
		done += n;
	}
	return 0;
}

/* The entries of leaf block b (checked), to w->add. */
static int leaf(struct walk *w, const struct ins_xfs_afork *a, const uint8_t *b, uint8_t *scratch)
{
	uint32_t bs = a->blocksize, hdr = a->v5 ? 80 : 32, at = a->v5 ? 56 : 12;
	uint16_t count = be16(b + at);
	if ((size_t)hdr + (size_t)count * 8 > bs) {
		ins_why("inode %llu's attribute leaf holds more entries than its block", (unsigned long long)w->ino);
		return -EIO;
	}
	uint8_t *value = scratch, *rb = scratch + INS_XATTR_VALUE_MAX;
	for (unsigned i = 0; i < count; i++) {
		const uint8_t *e = b + hdr + (size_t)i * 8;
		uint32_t idx = be16(e + 4);
		unsigned flags = e[6];
		int rc;
		if (flags & F_LOCAL) {
			if (idx > bs - 3 || bs - idx - 3 < (size_t)b[idx + 2] + be16(b + idx)) {
				ins_why("inode %llu's attribute %u lies past its leaf block", (unsigned long long)w->ino, i);
				return -EIO;
			}
			unsigned nlen = b[idx + 2];
			rc = emit(w, flags, b + idx + 3, nlen, b + idx + 3 + nlen, be16(b + idx));
		} else {
			if (idx > bs - 9 || bs - idx - 9 < b[idx + 8]) {
				ins_why("inode %llu's attribute %u lies past its leaf block", (unsigned long long)w->ino, i);
				return -EIO;
			}
			uint32_t vlen = be32(b + idx + 4);
			if (vlen > INS_XATTR_VALUE_MAX || flags & (F_INCOMPLETE | F_PARENT))
				continue; /* not one Linux could show */
			if ((rc = remote(w, a, be32(b + idx), vlen, value, rb)) < 0)
				return rc;
			rc = emit(w, flags, b + idx + 9, b[idx + 8], value, vlen);
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* Extents or btree form: block 0 is a leaf, or the root of a dabtree. */
static int blocks(struct walk *w, const struct ins_xfs_afork *a)
{
	uint32_t bs = a->blocksize;
	uint8_t *b = malloc(bs), *scratch = malloc(INS_XATTR_VALUE_MAX + (size_t)bs);
	uint64_t fb = 0, prev = 0; /* prev: the leaf before fb (0: none yet) */
	int rc = 0;
	if (!b || !scratch) {
		rc = -ENOMEM;
		goto out;
	}
	uint16_t leaf_magic = a->v5 ? 0x3bee : 0xfbee, node_magic = a->v5 ? 0x3ebe : 0xfebe;
	for (unsigned depth = 0, leaves = 0;;) {
		if ((rc = w->x->block(w->ino, fb, b)) < 0)
			goto out;
		uint16_t magic = be16(b + 8);
		if ((magic != leaf_magic && magic != node_magic) ||
		    (a->v5 && (!w->x->crc_ok(b, bs, 12) || be64(b + 48) != w->ino))) {
			ins_why("inode %llu's attribute block %llu is not a leaf or node, or fails its CRC",
			        (unsigned long long)w->ino, (unsigned long long)fb);
			rc = -EIO;
			goto out;
		}
		if (magic == node_magic) {
			/* Down the leftmost branch to the first leaf. */
			uint32_t hdr = a->v5 ? 64 : 16;
			uint16_t count = be16(b + hdr - (a->v5 ? 8 : 4));
			if (++depth > XFS_DA_MAXDEPTH || leaves || count == 0 || hdr + (size_t)count * 8 > bs) {
				ins_why("inode %llu's attribute tree is malformed", (unsigned long long)w->ino);
				rc = -EIO;
				goto out;
			}
			fb = be32(b + hdr + 4);
			continue;
		}
		if (leaves && be32(b + 4) != prev) {
			/* Each leaf links back to the one before it: a forward
			 * link that goes anywhere else (a loop) is damage. */
			ins_why("inode %llu's attribute leaf %llu does not link back to leaf %llu (a loop?)",
			        (unsigned long long)w->ino, (unsigned long long)fb, (unsigned long long)prev);
			rc = -EIO;
			goto out;
		}
		if ((rc = leaf(w, a, b, scratch)) != 0)
			goto out;
		prev = fb;
		fb = be32(b); /* the next leaf: 0 at the end */
		if (fb == 0)
			break;
		if (++leaves >= ATTR_LEAVES) {
			ins_why("inode %llu's attribute leaves link past %u blocks (a loop?)", (unsigned long long)w->ino,
			        ATTR_LEAVES);
			rc = -EIO;
			goto out;
		}
	}
out:
	free(scratch);
	free(b);
	return rc;
}

int ins_xfs_xattrs(const struct ins_xfs_access *x, uint64_t ino, ins_xattr_fn add, void *arg)
{
	struct ins_xfs_afork *a = malloc(sizeof(*a));
	struct walk w = {x, ino, add, arg};
	int rc;
	if (!a)
		return -ENOMEM;
	if ((rc = x->afork(ino, a)) == 0 && a->present) {
		if (a->format == 2 && a->nextents == 0)
			rc = 0; /* empty (cp -a leaves such): none, as the kernel's xfs_inode_hasattr says */
		else if (a->format == 1)
			rc = shortform(&w, a);
		else if (a->format == 2 || a->format == 3)
			rc = blocks(&w, a);
		else {
			ins_why("inode %llu has attribute fork format %u", (unsigned long long)ino, a->format);
			rc = -EIO;
		}
	}
	free(a);
	return rc;
}
