/*
 * catalogue.c — the platform catalogue (SPEC §3, seed 002's table) that
 * every new region gets, and the marketplace entries that come with it.
 *
 * The disks are real, small and sparse: raw, with an MBR whose single
 * partition starts at 1 MiB and covers the rest of the disk, a boot-sector
 * text naming the image, and two 1 MiB data chunks: the partition's first
 * (a Linux image's small root file system, below, so its files/ shows
 * something true, SPEC §18; a Windows image's filler) and one in the
 * middle (filler), all made deterministically from the image's row — so
 * `qemu-img info` accepts them, `cp --sparse` and `tar --sparse` have
 * holes to find, and every region's copy deduplicates to the same chunk
 * ids.  Whole-blob hashes come from the table below, so creating a
 * region stays fast and a disk's xattr is there from the start (§2.3).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_int.h"

struct catalogue_entry {
	enum model_folder folder;
	const char *name, *os_type, *platform, *version, *features, *description;
	unsigned gib; /* virtual size */
};

/* The SHA-256 (§2.1 `sha256`) and XXH3-128 (§2.3 `user.imgfs.xxh128`) of
 * each entry's disk, what catalogue_disk writes, hashed once and written
 * down here: hashing 1-2 GiB each (their holes are bytes too) would cost a
 * first mount some 30 s, and no request thread hashes a blob.
 * test_catalogue hashes every disk and compares (a change to a disk's
 * bytes — its description is in its first chunk — fails it, naming the
 * new values). */
static const struct {
	const char *name, *sha256, *xxh128;
} catalogue_sha256[] = {
	{"windows-server-2016-datacenter", "c7c143a05dfe4b36dbca8713c9b1c9c4009e1a46c4c5b5a9dd99480c20156176",
	 "772ad416ebdfae8aacb0d49845862254"},
	{"windows-server-2012r2-standard", "2be4fb464e27a5c4c83901b3e9fa087676a294cd64e52266062f48fe6db38f56",
	 "e396bfa78fb7b511d28f86486e900536"},
	{"windows-server-2008r2-datacenter", "9e8e380b547b0a726e1cea9389502a3a0b9d1e24f85f4874270d2b311afd2d38",
	 "e08d891c5ebd44844fd02f44489a4c01"},
	{"centos-7.4", "6b485f63dd831d2c8929733f832a3b89651be188ac7a628d6875a7aefc497302",
	 "6435df17111e1c7f3eb920962a6c390f"},
	{"centos-7.3", "858a36aba8b8f20703e7be76bdc3908a434b296153ff6763147b4371dcc11cbb",
	 "383ff402c3ffaa4e675de035c5131713"},
	{"centos-7.2", "ab04928b678dd277c9014ffa067eba1631124a08736f0063adbeed7dbbce0e9c",
	 "5a613fdf38207c09bd65d26ef3e7ef1a"},
	{"centos-7.1", "fd69ad7b24ee3c3c662e122bb26f27ff6fc647eaad6d9bc7f58e5cb174d54feb",
	 "b4bc74032bed8d3170526660b3a77441"},
	{"centos-7.2-nat-gateway", "4cbc9739fa2ba1f035845f5498879534905e89db4965a523f6d56bd2fa2fecdf",
	 "51079131a8de34dc124dd0c79196d990"},
	{"centos-6.9", "b2f3e38ba9d6e26afa1b881adb17f5f4b5e38b044a2e4bbd3d18cdfbbf5e34ae",
	 "9eb450e482b41473f5c32694991d0b39"},
	{"centos-6.8", "aa021018c61cf95fa4353a8517f2c44e9ab1c1f0ec1895ee558f0ce69b63edc0",
	 "0a6ee5e8beef9f79a34e585259f20b2b"},
	{"centos-6.6", "aad096bcb28698422f9a8574f6ff08502f6222308e11176b875d5a47e843d0ff",
	 "08af96af704a02e7c72e9e2a74b1ff9f"},
	{"centos-6.5", "fe6e2aae25c51d13d72409cbda915710f6556e45b9302cf1e791cf231cd35658",
	 "2192766e28ede626f957392dc027c3ab"},
	{"ubuntu-16.04", "1cb453459a501e3603ef2aedc897ec1bb021acc17d4ec7716a43374927765f0b",
	 "e67b5f8265084483b2d498ae64e562a6"},
	{"ubuntu-14.04", "27603db74a7eb678fe18f5a42de1c1d25d6a8ae96e59bbf09cedd0d90dd59d40",
	 "3e7e18e9bd01446e58c3572e5b9a5f10"},
	{"lamp-centos-7.4", "3ee29af7ff739df20df6ddbe2c0c96fb079092a7f0f6d5781c95e97de954ce71",
	 "3fd6d083370d3c0a2cdf805fa687e8c9"},
	{"wordpress-ubuntu-16.04", "521d8777554d54a2f0862d361283b1a01c720ca9988ac38585e9dd35724bafe4",
	 "c2fe8a5d0b29ad726b8c9b4467ea9de2"},
};

const char *model_catalogue_sha256(const char *name)
{
	for (size_t i = 0; i < sizeof(catalogue_sha256) / sizeof(catalogue_sha256[0]); i++)
		if (strcmp(catalogue_sha256[i].name, name) == 0)
			return catalogue_sha256[i].sha256;
	return NULL;
}

/* The entry's XXH3-128, NULL for a name not in the table. */
static const char *catalogue_xxh128(const char *name)
{
	for (size_t i = 0; i < sizeof(catalogue_sha256) / sizeof(catalogue_sha256[0]); i++)
		if (strcmp(catalogue_sha256[i].name, name) == 0)
			return catalogue_sha256[i].xxh128;
	return NULL;
}

static const struct catalogue_entry catalogue[] = {
#define LINUX(n, p, v, d) {MODEL_FOLDER_PUBLIC, n, "linux", p, v, "cloud-init qemu-ga", d, 1}
#define WINDOWS(n, v, d) {MODEL_FOLDER_PUBLIC, n, "windows", "windows", v, "qemu-ga", d, 2}
	/* version as the product calls it (SPEC §16: "2012 R2"); a state made
	 * before said "2012" and "2008": schema step 12 rewrites those. */
	WINDOWS("windows-server-2016-datacenter", "2016", "Windows Server 2016 Datacenter Edition, Chinese, 64-bit"),
	WINDOWS("windows-server-2012r2-standard", "2012 R2",
	        "Windows Server 2012 R2 Standard Edition, Chinese, 64-bit"),
	WINDOWS("windows-server-2008r2-datacenter", "2008 R2",
	        "Windows Server 2008 R2 Datacenter Edition, Chinese, 64-bit"),
	LINUX("centos-7.4", "centos", "7.4", "CentOS 7.4 64-bit"),
	LINUX("centos-7.3", "centos", "7.3", "CentOS 7.3 64-bit"),
	LINUX("centos-7.2", "centos", "7.2", "CentOS 7.2 64-bit"),
	LINUX("centos-7.1", "centos", "7.1", "CentOS 7.1 64-bit"),
	LINUX("centos-7.2-nat-gateway", "centos", "7.2", "CentOS 7.2 64-bit NAT Gateway"),
	LINUX("centos-6.9", "centos", "6.9", "CentOS 6.9 64-bit"),
	LINUX("centos-6.8", "centos", "6.8", "CentOS 6.8 64-bit"),
	LINUX("centos-6.6", "centos", "6.6", "CentOS 6.6 64-bit"),
	LINUX("centos-6.5", "centos", "6.5", "CentOS 6.5 64-bit"),
	LINUX("ubuntu-16.04", "ubuntu", "16.04", "Ubuntu 16.04 64-bit"),
	LINUX("ubuntu-14.04", "ubuntu", "14.04", "Ubuntu 14.04 64-bit"),
	{MODEL_FOLDER_MARKETPLACE, "lamp-centos-7.4", "linux", "centos", "7.4", "cloud-init qemu-ga",
	 "LAMP stack (Apache, MariaDB, PHP) on CentOS 7.4 64-bit", 1},
	{MODEL_FOLDER_MARKETPLACE, "wordpress-ubuntu-16.04", "linux", "ubuntu", "16.04", "cloud-init qemu-ga",
	 "WordPress on Ubuntu 16.04 64-bit", 1},
#undef LINUX
#undef WINDOWS
};

/* xorshift64*, seeded from the name: deterministic filler bytes. */
static void fill(uint8_t *buf, size_t len, const char *seed, uint64_t salt)
{
	uint64_t x = 0x9e3779b97f4a7c15ull ^ salt;
	for (const char *p = seed; *p; p++)
		x = (x ^ (uint8_t)*p) * 0x100000001b3ull;
	for (size_t i = 0; i < len; i += 8) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		uint64_t v = x * 0x2545f4914f6cdd1dull;
		memcpy(buf + i, &v, len - i < 8 ? len - i : 8);
	}
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* ---- the Linux images' root file system (SPEC §3, §18) -------------------
 *
 * A small ext2 that fills the partition's first chunk (1 MiB: 1024 blocks of
 * 1 KiB, one block group, 128 inodes of 128 bytes), written byte by byte
 * here rather than by libext2fs: its layout is fixed by this code alone, so
 * the disk is the same bytes on every machine and with every e2fsprogs (the
 * table above hashes it), and making it costs a region microseconds.  What it
 * holds is true of the image and says it is a placeholder: /etc/os-release
 * with the catalogue row's ID, VERSION_ID and PRETTY_NAME, /etc/hostname, a
 * /README, the usual top directories and three symlinks.  `e2fsck -fn`
 * finds nothing to fix (test_inside checks it). */

#define X2_BLOCK 1024u
#define X2_BLOCKS 1024u     /* the whole chunk */
#define X2_INODES 128u
#define X2_INODE_SIZE 128u
#define X2_ITABLE 5u        /* blocks 1 superblock, 2 descriptors, 3-4 bitmaps */
#define X2_FIRST_DATA (X2_ITABLE + X2_INODES * X2_INODE_SIZE / X2_BLOCK)
#define X2_TIME 1509494400u /* 2017-11-01 00:00 UTC: every time in it */

struct x2 {
	uint8_t *fs; /* X2_BLOCKS blocks */
	uint32_t next_block, next_ino, dirs;
};

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static uint8_t *x2_block(struct x2 *x, uint32_t b)
{
	return x->fs + (size_t)b * X2_BLOCK;
}

static uint8_t *x2_inode(struct x2 *x, uint32_t ino)
{
	return x2_block(x, X2_ITABLE) + (size_t)(ino - 1) * X2_INODE_SIZE;
}

static void x2_mark(uint8_t *bitmap, uint32_t bit)
{
	bitmap[bit / 8] |= (uint8_t)(1u << (bit % 8));
}

/* A new inode of mode, its times and owner root. */
static uint32_t x2_new_inode(struct x2 *x, uint32_t ino, uint16_t mode, uint16_t links)
{
	if (!ino)
		ino = x->next_ino++;
	uint8_t *i = x2_inode(x, ino);
	put_le16(i + 0, mode);
	put_le32(i + 8, X2_TIME);  /* atime */
	put_le32(i + 12, X2_TIME); /* ctime */
	put_le32(i + 16, X2_TIME); /* mtime */
	put_le16(i + 26, links);
	x2_mark(x2_block(x, 4), ino - 1);
	return ino;
}

/* Gives inode ino len bytes of data blocks (at most 12: direct ones only). */
static uint8_t *x2_data(struct x2 *x, uint32_t ino, uint32_t len)
{
	uint32_t n = (len + X2_BLOCK - 1) / X2_BLOCK;
	uint8_t *i = x2_inode(x, ino);
	uint8_t *p = x2_block(x, x->next_block);
	for (uint32_t k = 0; k < n && k < 12; k++) {
		put_le32(i + 40 + 4 * k, x->next_block);
		x2_mark(x2_block(x, 3), x->next_block - 1); /* bit 0: block 1 */
		x->next_block++;
	}
	put_le32(i + 4, len);
	put_le32(i + 28, n * (X2_BLOCK / 512));
	return p;
}

/* Directory entries: "." and ".." then names, the last one's record
 * reaching the block's end. */
struct x2_dir {
	uint8_t *blk;
	uint32_t used, last;
};

static void x2_entry(struct x2_dir *d, uint32_t ino, const char *name, uint8_t type)
{
	size_t nl = strlen(name);
	uint32_t rec = (uint32_t)(8 + nl + 3) & ~3u;
	uint8_t *e = d->blk + d->used;
	if (d->used)
		put_le16(d->blk + d->last + 4, (uint16_t)(d->used - d->last));
	put_le32(e, ino);
	put_le16(e + 4, (uint16_t)(X2_BLOCK - d->used));
	e[6] = (uint8_t)nl;
	e[7] = type;
	memcpy(e + 8, name, nl);
	d->last = d->used;
	d->used += rec;
}

#define X2_REG 1
#define X2_DIR 2
#define X2_LNK 7

static uint32_t x2_mkdir(struct x2 *x, uint32_t ino, uint32_t parent, uint16_t perm, unsigned subdirs,
                         struct x2_dir *d)
{
	ino = x2_new_inode(x, ino, (uint16_t)(0040000 | perm), (uint16_t)(2 + subdirs));
	d->blk = x2_data(x, ino, X2_BLOCK);
	d->used = d->last = 0;
	x2_entry(d, ino, ".", X2_DIR);
	x2_entry(d, parent ? parent : ino, "..", X2_DIR);
	x->dirs++;
	return ino;
}

static void x2_file(struct x2 *x, struct x2_dir *in, const char *name, const char *text)
{
	uint32_t ino = x2_new_inode(x, 0, 0100644, 1);
	memcpy(x2_data(x, ino, (uint32_t)strlen(text)), text, strlen(text));
	x2_entry(in, ino, name, X2_REG);
}

/* A fast symlink: the target (under 60 bytes) in the inode's block map. */
static void x2_symlink(struct x2 *x, struct x2_dir *in, const char *name, const char *target)
{
	uint32_t ino = x2_new_inode(x, 0, 0120777, 1);
	uint8_t *i = x2_inode(x, ino);
	put_le32(i + 4, (uint32_t)strlen(target));
	memcpy(i + 40, target, strlen(target));
	x2_entry(in, ino, name, X2_LNK);
}

/* Writes e's root file system into fs (BLOB_CHUNK_SIZE bytes, zeroed). */
static void catalogue_rootfs(uint8_t *fs, const struct catalogue_entry *e)
{
	struct x2 x = {.fs = fs, .next_block = X2_FIRST_DATA, .next_ino = 12};
	char text[1024];
	uint8_t *sb = x2_block(&x, 1), *gd = x2_block(&x, 2);
	bool centos = strcmp(e->platform, "centos") == 0;

	for (uint32_t b = 1; b < X2_FIRST_DATA; b++) /* metadata blocks in use */
		x2_mark(x2_block(&x, 3), b - 1);
	for (uint32_t b = X2_BLOCKS - 1; b < X2_BLOCK * 8; b++) /* bitmap padding */
		x2_mark(x2_block(&x, 3), b);
	for (uint32_t i = 1; i < 11; i++) /* reserved inodes */
		x2_mark(x2_block(&x, 4), i - 1);
	for (uint32_t i = X2_INODES; i < X2_BLOCK * 8; i++)
		x2_mark(x2_block(&x, 4), i);

	/* / and its directories; the root's subdirectories: lost+found etc usr root tmp home. */
	struct x2_dir root, lf, etc, usr, sub, misc;
	x2_mkdir(&x, 2, 0, 0755, 6, &root);
	x2_mkdir(&x, 11, 2, 0700, 0, &lf);
	x2_entry(&root, 11, "lost+found", X2_DIR);

	snprintf(text, sizeof(text),
	         "This is imgfs's placeholder of the platform image %s (%s).\n"
	         "\n"
	         "imgfs writes this small ext2 file system into each Linux image of its\n"
	         "catalogue so that files/ shows something true on a first mount: the\n"
	         "operating system it stands for is named in /etc/os-release, but none of\n"
	         "it is installed here.  Upload a real disk (raw or QCOW2) into private/\n"
	         "to see its own files under files/.\n",
	         e->name, e->description);
	x2_file(&x, &root, "README", text);
	x2_symlink(&x, &root, "bin", "usr/bin");
	x2_symlink(&x, &root, "sbin", "usr/sbin");
	x2_symlink(&x, &root, "lib", "usr/lib");

	uint32_t ino = x2_mkdir(&x, 0, 2, 0755, 0, &etc);
	x2_entry(&root, ino, "etc", X2_DIR);
	snprintf(text, sizeof(text),
	         "# imgfs's placeholder of the platform image %s: see /README\n"
	         "NAME=\"%s\"\n"
	         "VERSION=\"%s\"\n"
	         "ID=\"%s\"\n"
	         "ID_LIKE=\"%s\"\n"
	         "VERSION_ID=\"%s\"\n"
	         "PRETTY_NAME=\"%s\"\n",
	         e->name, centos ? "CentOS Linux" : "Ubuntu", e->version, e->platform,
	         centos ? "rhel fedora" : "debian", e->version, e->description);
	x2_file(&x, &etc, "os-release", text);
	x2_file(&x, &etc, "hostname", centos ? "localhost.localdomain\n" : "localhost\n");

	uint32_t usr_ino = x2_mkdir(&x, 0, 2, 0755, 3, &usr);
	x2_entry(&root, usr_ino, "usr", X2_DIR);
	static const char *const usr_dirs[] = {"bin", "lib", "sbin"};
	for (size_t k = 0; k < 3; k++) {
		ino = x2_mkdir(&x, 0, usr_ino, 0755, 0, &sub);
		x2_entry(&usr, ino, usr_dirs[k], X2_DIR);
	}
	ino = x2_mkdir(&x, 0, 2, centos ? 0550 : 0700, 0, &misc);
	x2_entry(&root, ino, "root", X2_DIR);
	ino = x2_mkdir(&x, 0, 2, 01777, 0, &misc);
	x2_entry(&root, ino, "tmp", X2_DIR);
	ino = x2_mkdir(&x, 0, 2, 0755, 0, &misc);
	x2_entry(&root, ino, "home", X2_DIR);

	/* The superblock (rev 1, feature filetype only) and the one group. */
	uint32_t free_blocks = X2_BLOCKS - x.next_block, free_inodes = X2_INODES - (x.next_ino - 1);
	put_le32(sb + 0, X2_INODES);
	put_le32(sb + 4, X2_BLOCKS);
	put_le32(sb + 12, free_blocks);
	put_le32(sb + 16, free_inodes);
	put_le32(sb + 20, 1);           /* first data block (1 KiB blocks) */
	put_le32(sb + 32, X2_BLOCK * 8); /* blocks per group */
	put_le32(sb + 36, X2_BLOCK * 8); /* clusters per group */
	put_le32(sb + 40, X2_INODES);
	put_le16(sb + 54, 0xffff);      /* max mount count: -1 */
	put_le16(sb + 56, 0xef53);
	put_le16(sb + 58, 1);           /* clean */
	put_le16(sb + 60, 1);           /* errors: continue */
	put_le32(sb + 64, X2_TIME);     /* last check */
	put_le32(sb + 76, 1);           /* dynamic revision */
	put_le32(sb + 84, 11);          /* first inode */
	put_le16(sb + 88, X2_INODE_SIZE);
	put_le32(sb + 96, 0x2);         /* incompat: filetype */
	put_le32(sb + 100, 0x1);        /* ro_compat: sparse_super */
	fill(sb + 104, 16, e->name, 0x757569); /* the UUID, from the name: version 4, variant 1 */
	sb[104 + 6] = (uint8_t)((sb[104 + 6] & 0x0f) | 0x40);
	sb[104 + 8] = (uint8_t)((sb[104 + 8] & 0x3f) | 0x80);
	memcpy(sb + 120, "rootfs", 6);  /* volume name */
	put_le32(sb + 264, X2_TIME);    /* mkfs time */
	put_le32(gd + 0, 3);            /* block bitmap */
	put_le32(gd + 4, 4);            /* inode bitmap */
	put_le32(gd + 8, X2_ITABLE);
	put_le16(gd + 12, (uint16_t)free_blocks);
	put_le16(gd + 14, (uint16_t)free_inodes);
	put_le16(gd + 16, (uint16_t)x.dirs);
}

/* Builds the disk of e in store s. */
static int catalogue_disk(blob_store *s, const struct catalogue_entry *e, blob_manifest **out)
{
	uint64_t size = (uint64_t)e->gib << 30;
	uint8_t *buf = NULL;
	blob_manifest *m = NULL;
	int rc;

	if ((rc = blob_manifest_new(&m, size)) < 0)
		return rc;
	if (!(buf = calloc(1, BLOB_CHUNK_SIZE))) {
		rc = -ENOMEM;
		goto out;
	}
	/* Chunk 0: boot code area text, MBR partition table, signature. */
	snprintf((char *)buf, 440, "imgfs platform image %s: %s\n", e->name, e->description);
	uint8_t *pe = buf + 446;
	pe[0] = 0x80;                                      /* bootable */
	pe[4] = strcmp(e->os_type, "windows") == 0 ? 0x07 : 0x83; /* NTFS or Linux */
	pe[1] = pe[5] = 0xfe; pe[2] = pe[6] = 0xff; pe[3] = pe[7] = 0xff; /* CHS: use LBA */
	put_le32(pe + 8, 2048);
	put_le32(pe + 12, (uint32_t)(size / 512 - 2048));
	buf[510] = 0x55;
	buf[511] = 0xaa;
	chunk_id id;
	if ((rc = blob_store_put_chunk(s, &id, buf, BLOB_CHUNK_SIZE)) < 0 || (rc = blob_manifest_set(m, 0, &id)) < 0)
		goto out;
	/* Chunk 1 (the partition's start): a Linux image's root file system,
	 * a Windows image's filler; the middle chunk: filler. */
	uint32_t data[2] = {1, m->nchunks / 2};
	for (int i = 0; i < 2; i++) {
		if (i == 0 && strcmp(e->os_type, "linux") == 0) {
			memset(buf, 0, BLOB_CHUNK_SIZE);
			catalogue_rootfs(buf, e);
		} else {
			fill(buf, BLOB_CHUNK_SIZE, e->name, data[i]);
		}
		if ((rc = blob_store_put_chunk(s, &id, buf, BLOB_CHUNK_SIZE)) < 0 ||
		    (rc = blob_manifest_set(m, data[i], &id)) < 0)
			goto out;
	}
	*out = m;
	m = NULL;
out:
	free(buf);
	blob_manifest_free(m);
	return rc < 0 ? rc : 0;
}

int model_catalogue_install(model *m, int64_t region_id, struct model_err *err)
{
	blob_store *s;
	int rc;
	if ((rc = model_store(m, region_id, &s)) < 0)
		return model_fail(err, rc, "cannot open the region's blob store: %s", strerror(-rc));
	for (size_t i = 0; i < sizeof(catalogue) / sizeof(catalogue[0]); i++) {
		const struct catalogue_entry *e = &catalogue[i];
		blob_manifest *disk = NULL;
		if ((rc = catalogue_disk(s, e, &disk)) < 0)
			return model_fail(err, rc, "cannot write the disk of %s: %s", e->name, strerror(-rc));
		struct model_publish p = {
			.folder = e->folder, .name = e->name, .os_type = e->os_type, .platform = e->platform,
			.version = e->version, .arch = "x86_64", .boot_mode = "bios", .features = e->features,
			.description = e->description, .sha256 = model_catalogue_sha256(e->name),
		};
		rc = model_image_publish(m, region_id, &p, disk, catalogue_xxh128(e->name), NULL, err);
		blob_manifest_free(disk);
		if (rc < 0)
			return rc;
	}
	return 0;
}
