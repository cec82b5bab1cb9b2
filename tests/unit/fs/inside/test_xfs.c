/*
 * SPEC §18: imgfs's own XFS reader (fs/inside/xfs.c), fed from memory as
 * its fuzz target feeds it (tests/fuzz/xfs_walk.h), over volumes made by
 * mkfs.xfs -p on plain files (tests/fuzz/xfs-seeds: v5 and v4, 4 KiB and
 * 1 KiB blocks, shortform, block and leaf directories, local and remote
 * links, a device node, a fifo; and attribute forks of every form, the
 * empty ones and at Linux's bounds, xfs_db -x's) and corrupted copies:
 * the whole tree walks with no error, and what is damaged is EIO with its
 * reason; the attributes are what the kernel's XFS lists to root.  The
 * seeds are the fuzz target's corpus, and every file of
 * tests/fuzz/corpus-xfs (inputs the fuzzer found hard) runs too: in the
 * ASan build, this is the corpus run under the sanitizers.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../../fuzz/xfs_walk.h"

static char dir[] = "/tmp/imgfs-xfs-XXXXXX";
static uint8_t *input;
static size_t input_len;

static int setup(void **state)
{
	char cmd[1024];
	if (!mkdtemp(dir))
		return -1;
	snprintf(cmd, sizeof(cmd), "python3 '%s/tests/fuzz/xfs-seeds' '%s' 2>/dev/null", IMGFS_SOURCE_DIR, dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "xfs-seeds failed (scripts/install-deps installs xfsprogs)\n");
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	free(input);
	return system(cmd) == 0 ? 0 : -1;
}

static void load(const char *path)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long len = ftell(f);
	assert_true(len >= 0);
	rewind(f);
	free(input);
	input = malloc(len ? (size_t)len : 1);
	assert_non_null(input);
	assert_int_equal(fread(input, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	input_len = (size_t)len;
	assert_int_equal(xw_load(input, input_len), 0);
	xw_why[0] = '\0';
}

static void seed(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	load(path);
}

/* Every fixture: the whole tree, nothing unreadable. */
static void test_fixtures_walk_whole(void **state)
{
	static const char *names[] = {"v5-4k", "v5-1k", "v4-4k", "v4-1k"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct xw_count c;
		seed(names[i]);
		xw_strict = 1;
		assert_int_equal(xw_walk(&ins_fs_xfs, &c), 0);
		xw_strict = 0;
		if (c.errors)
			fail_msg("%s: %u errors, the last: %s", names[i], c.errors, xw_why);
		assert_int_equal(c.dirs, 4);    /* /, few (shortform), blockdir, leafdir */
		assert_int_equal(c.files, 5);
		assert_int_equal(c.links, 323); /* short, long, remote, 20 + 300 */
		assert_int_equal(c.others, 2);  /* null, fifo */
		assert_int_equal(c.bytes, 5 * 10240);
		/* ftype (v5 always): every entry's type from the entry itself,
		 * each the inode's (xw_walk checks), for a names-only READDIR
		 * (SPEC §18.7). */
		fprintf(stderr, "%s: %u of %u entries typed\n", names[i], c.typed, c.entries);
		if (names[i][1] == '5')
			assert_int_equal(c.typed, c.entries);
	}
}

/* Names, contents and attributes, looked up as the helper looks them up. */
static void test_lookup_read_stat(void **state)
{
	const struct ins_fs_ops *x = &ins_fs_xfs;
	char why[200];
	uint64_t d, ino;
	struct ins_stat st;
	char buf[10240];
	uint32_t got;
	seed("v5-1k");
	assert_int_equal(x->open(xw_vol, why, sizeof(why)), 0);
	assert_int_equal(x->lookup(x->root(), "leafdir", 7, &d), 0);
	assert_int_equal(x->stat(d, &st), 0);
	assert_int_equal(st.mode, 040700);
	assert_int_equal(st.uid, 5);
	assert_int_equal(st.gid, 6);
	assert_int_equal(x->lookup(d, "name-0299", 9, &ino), 0);
	assert_int_equal(x->lookup(d, "name-0300", 9, &ino), -ENOENT);
	assert_int_equal(x->lookup(x->root(), "small", 5, &ino), 0);
	assert_int_equal(x->stat(ino, &st), 0);
	assert_int_equal(st.mode, 0100644);
	assert_int_equal(st.uid, 1000);
	assert_int_equal(st.size, 10240);
	assert_int_equal(x->read(ino, 1000, 5000, buf, &got), 0);
	assert_int_equal(got, 5000);
	for (int i = 0; i < 5000; i++)
		assert_int_equal((uint8_t)buf[i], (1000 + i) % 256);
	assert_int_equal(x->lookup(x->root(), "tool", 4, &ino), 0);
	assert_int_equal(x->stat(ino, &st), 0);
	assert_int_equal(st.mode, 0104755);
	assert_int_equal(x->lookup(x->root(), "long", 4, &ino), 0);
	assert_int_equal(x->stat(ino, &st), 0);
	assert_int_equal(st.size, 300);
	assert_int_equal(x->readlink(ino, buf, 300), 0);
	for (int i = 0; i < 300; i++)
		assert_int_equal(buf[i], 'x');
	/* A remote link: v5's block header and CRC (xfs-seeds writes the
	 * header mkfs.xfs 6.1 leaves out). */
	assert_int_equal(x->lookup(x->root(), "remote", 6, &ino), 0);
	assert_int_equal(x->stat(ino, &st), 0);
	assert_int_equal(st.size, 900);
	assert_int_equal(x->readlink(ino, buf, 900), 0);
	for (int i = 0; i < 900; i++)
		assert_int_equal(buf[i], 'r');
	assert_int_equal(x->lookup(x->root(), "null", 4, &ino), 0);
	assert_int_equal(x->stat(ino, &st), 0);
	assert_int_equal(st.mode, 020666);
	assert_int_equal(st.rdev, makedev(1, 3));
}

/* A superblock that fails its CRC is not opened; an inode that fails
 * its CRC is EIO with the reason. */
static void test_corrupt_is_eio_with_reason(void **state)
{
	char why[200] = "";
	struct xw_count c;
	seed("bad-sb-crc");
	assert_int_equal(ins_fs_xfs.open(xw_vol, why, sizeof(why)), -EIO);
	assert_non_null(strstr(why, "CRC"));
	seed("bad-root-inode");
	assert_int_equal(xw_walk(&ins_fs_xfs, &c), -EIO);
	assert_non_null(strstr(xw_why, "fails its CRC"));
}

/* Writes len bytes at the volume's offset off into the segments that
 * hold them (a fixture keeps every KiB that is not zeros: those written
 * here are all there). */
static void poke(uint64_t off, const void *p, size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < xw_nsegs; i++) {
		const struct xw_seg *s = &xw_segs[i];
		if (s->off >= off + len || s->off + s->len <= off)
			continue;
		uint64_t from = s->off > off ? s->off : off, to = s->off + s->len < off + len ? s->off + s->len : off + len;
		memcpy((uint8_t *)s->data + (from - s->off), (const uint8_t *)p + (from - off), to - from);
		done += to - from;
	}
	if (done != len)
		fail_msg("bytes at %llu are in no segment", (unsigned long long)off);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* A hostile extent btree (v4, no CRCs to redo): the root names one node
 * 9 times, the node names one leaf 200 times.  Each level is well formed;
 * the walk must end, EIO with a reason, not read 1800 leaves as 1800
 * extents of one file. */
static void test_btree_dag_is_eio(void **state)
{
	const struct ins_fs_ops *x = &ins_fs_xfs;
	char why[200];
	uint64_t ino;
	struct ins_stat st;
	seed("v4-4k");
	assert_int_equal(x->open(xw_vol, why, sizeof(why)), 0);
	assert_int_equal(x->lookup(x->root(), "small", 5, &ino), 0);
	/* One AG, 256-byte inodes, 4 KiB blocks: the inode at ino * 256;
	 * its one extent's first block (fsb) becomes the node, the next the
	 * leaf. */
	uint8_t in[256], blk[4096];
	assert_int_equal(ins_fetch(ino * 256, sizeof(in), in), 0);
	uint64_t l0 = 0, l1 = 0;
	for (int i = 0; i < 8; i++)
		l0 = l0 << 8 | in[100 + i], l1 = l1 << 8 | in[108 + i];
	uint64_t fsb = (l0 & 0x1ff) << 43 | l1 >> 21;
	memset(blk, 0, sizeof(blk));
	memcpy(blk, "BMAP", 4);
	put16(blk + 4, 1);
	put16(blk + 6, 200);
	for (int i = 0; i < 200; i++) {
		put64(blk + 24 + 8 * i, 0);
		put64(blk + 24 + 254 * 8 + 8 * i, fsb + 1);
	}
	poke(fsb * 4096, blk, sizeof(blk));
	memset(blk, 0, sizeof(blk));
	memcpy(blk, "BMAP", 4);
	put16(blk + 4, 0);
	put16(blk + 6, 1);
	memcpy(blk + 24, in + 100, 16); /* the file's own extent */
	poke((fsb + 1) * 4096, blk, sizeof(blk));
	in[5] = 3;                            /* btree format */
	in[76] = 0, in[77] = 0, in[78] = 0x27, in[79] = 0x10; /* 10000 extents, it says */
	memset(in + 100, 0, 156);
	put16(in + 100, 2);
	put16(in + 102, 9);
	for (int i = 0; i < 9; i++)
		put64(in + 100 + 4 + 9 * 8 + 8 * i, fsb);
	poke(ino * 256, in, sizeof(in));
	/* Reopened: nothing of the file cached. */
	assert_int_equal(x->open(xw_vol, why, sizeof(why)), 0);
	assert_int_equal(x->stat(ino, &st), 0);
	char buf[4096];
	uint32_t got;
	xw_why[0] = '\0';
	assert_int_equal(x->read(ino, 0, sizeof(buf), buf, &got), -EIO);
	if (!strstr(xw_why, "extents overlap or are out of order"))
		fail_msg("why: %s", xw_why);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

/* The file "small" of v4-4k (one AG, 256-byte inodes, 4 KiB blocks, no
 * CRCs to redo), its inode in in: ino, and the AG's size in blocks. */
static uint64_t small_inode(uint8_t in[256], uint64_t *agblocks)
{
	const struct ins_fs_ops *x = &ins_fs_xfs;
	char why[200];
	uint64_t ino;
	uint8_t sb[512];
	seed("v4-4k");
	assert_int_equal(x->open(xw_vol, why, sizeof(why)), 0);
	assert_int_equal(x->lookup(x->root(), "small", 5, &ino), 0);
	assert_int_equal(ins_fetch(0, sizeof(sb), sb), 0);
	assert_int_equal(get32(sb + 88), 1); /* agcount: the AG's end is the volume's */
	*agblocks = get32(sb + 84);
	assert_int_equal(ins_fetch(ino * 256, 256, in), 0);
	assert_int_equal(in[5], 2); /* extents format, one extent */
	return ino;
}

/* Reads the patched inode afresh: the read's rc, the reason in xw_why. */
static int read_patched(uint64_t ino, const uint8_t in[256])
{
	const struct ins_fs_ops *x = &ins_fs_xfs;
	char why[200], buf[4096];
	uint32_t got;
	poke(ino * 256, in, 256);
	assert_int_equal(x->open(xw_vol, why, sizeof(why)), 0); /* nothing cached */
	xw_why[0] = '\0';
	return x->read(ino, 0, sizeof(buf), buf, &got);
}

/* The bounds of an inode's extents, each at the limit and one past:
 * an extent ending at its allocation group's last block, and a block past
 * it; an extent count of XFS_MAX_EXTENTS (2^20: over the fork's room, so
 * refused for that) and one more (refused for the bound); a btree root of
 * XFS_MAX_LEVELS levels and one more. */
static void test_bounds(void **state)
{
	(void)state;
	uint8_t in[256], keep[256];
	uint64_t agblocks, ino = small_inode(in, &agblocks);
	memcpy(keep, in, sizeof(in));
	/* the one extent: offset 0, startblock, count (packed, big-endian) */
	uint64_t l1 = 0;
	for (int i = 0; i < 8; i++)
		l1 = l1 << 8 | in[108 + i];
	uint32_t count = (uint32_t)(l1 & ((1u << 21) - 1));
	assert_int_equal(count, 3); /* 10240 bytes */
	const struct {
		const char *what;
		uint64_t start;    /* the extent's first block */
		int rc;
		const char *why;
	} ext[] = {
		{"an extent ending at its AG's last block", agblocks - 3, 0, ""},
		{"an extent ending a block past it", agblocks - 2, -EIO, "past the end of its allocation group"},
		{"an extent starting at the AG's last block", agblocks - 1, -EIO, "past the end of its allocation group"},
		{"an extent starting past the AG", agblocks, -EIO, "past the end of its allocation group"},
	};
	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		memcpy(in, keep, sizeof(in));
		uint64_t l0 = 0, nl1 = ext[i].start << 21 | count; /* startoff 0, a 1-AG fsb is the block */
		put64(in + 100, l0 | (ext[i].start >> 43));
		put64(in + 108, nl1);
		int rc = read_patched(ino, in);
		if (rc != ext[i].rc || !strstr(xw_why, ext[i].why))
			fail_msg("%s: %d \"%s\"; want %d \"%s\"", ext[i].what, rc, xw_why, ext[i].rc, ext[i].why);
	}
	/* the extent count */
	const struct {
		uint32_t n;
		const char *why;
	} cnt[] = {
		{1u << 20, "extent count overflows its fork"},
		{(1u << 20) + 1, "more than 1048576 extents"},
	};
	for (size_t i = 0; i < 2; i++) {
		memcpy(in, keep, sizeof(in));
		put32(in + 76, cnt[i].n);
		int rc = read_patched(ino, in);
		if (rc != -EIO || !strstr(xw_why, cnt[i].why))
			fail_msg("%u extents: %d \"%s\"; want EIO \"%s\"", cnt[i].n, rc, xw_why, cnt[i].why);
	}
	/* a btree root's depth: XFS_MAX_LEVELS (9) passes the root's check
	 * (its child is then no btree block), 10 does not */
	for (unsigned level = 9; level <= 10; level++) {
		memcpy(in, keep, sizeof(in));
		in[5] = 3;
		memset(in + 100, 0, 156);
		put16(in + 100, (uint16_t)level);
		put16(in + 102, 1);
		put64(in + 100 + 4 + 9 * 8, agblocks - 1);
		int rc = read_patched(ino, in);
		const char *want = level == 9 ? "no btree magic" : "extent btree root is malformed";
		if (rc != -EIO || !strstr(xw_why, want))
			fail_msg("a root of level %u: %d \"%s\"; want EIO \"%s\"", level, rc, xw_why, want);
	}
}

/* More bounds, each where one check decides: an inode number whose block
 * is the AG's last and one past it; an inode's version 3 on v4 and 4; a
 * local link's target of the fork's size and a byte more. */
static void test_bounds_inodes(void **state)
{
	(void)state;
	const struct ins_fs_ops *x = &ins_fs_xfs;
	uint8_t in[256], keep[256], sb[512];
	char why[200], buf[2048];
	struct ins_stat st;
	uint64_t agblocks, ino = small_inode(in, &agblocks), link;
	memcpy(keep, in, sizeof(in));
	assert_int_equal(ins_fetch(0, sizeof(sb), sb), 0);
	unsigned inopblog = sb[123], agblklog = sb[124];
	/* agbno agblocks - 1 is in the volume (not an inode: no magic, EIO);
	 * agblocks is outside the file system (ENOENT) */
	assert_int_equal(x->open(xw_vol, why, sizeof(why)), 0);
	xw_why[0] = '\0';
	assert_int_equal(x->stat((agblocks - 1) << inopblog, &st), -EIO);
	assert_non_null(strstr(xw_why, "no inode magic"));
	assert_int_equal(x->stat(agblocks << inopblog, &st), -ENOENT);
	assert_int_equal(x->stat(1ull << (agblklog + inopblog), &st), -ENOENT); /* AG 1 of 1 */
	/* versions: 1 and 2 are v4's, 3 is v5's, 4 nobody's */
	for (uint8_t v = 0; v <= 4; v++) {
		memcpy(in, keep, sizeof(in));
		in[4] = v;
		poke(ino * 256, in, 256);
		assert_int_equal(x->open(xw_vol, why, sizeof(why)), 0);
		xw_why[0] = '\0';
		int rc = x->stat(ino, &st);
		if (v == 1 || v == 2 ? rc != 0 : rc != -EIO || !strstr(xw_why, "has version"))
			fail_msg("an inode of version %u on v4: %d \"%s\"", v, rc, xw_why);
	}
	poke(ino * 256, keep, 256);
	/* the local link "short" read for 156 bytes (its fork's room) and 157;
	 * for XFS_LINK_MAX (1024) and 1025 */
	assert_int_equal(x->open(xw_vol, why, sizeof(why)), 0);
	assert_int_equal(x->lookup(x->root(), "short", 5, &link), 0);
	assert_int_equal(ins_fetch(link * 256, 256, in), 0);
	assert_int_equal(in[5], 1); /* local */
	static const struct {
		size_t len;
		const char *why;
	} rl[] = {{156, NULL}, {157, "inline target is out of bounds"}, {1024, "inline target is out of bounds"},
	          {1025, "longer than XFS allows"}};
	for (size_t i = 0; i < sizeof(rl) / sizeof(rl[0]); i++) {
		xw_why[0] = '\0';
		int rc = x->readlink(link, buf, rl[i].len);
		if (!rl[i].why ? rc != 0 : rc != -EIO || !strstr(xw_why, rl[i].why))
			fail_msg("a local link read for %zu bytes: %d \"%s\"", rl[i].len, rc, xw_why);
	}
}

/* ---- a lookup from inside a listing ------------------------------------------ */

/* Inspection looks up names inside each .wants directory it lists: the
 * listing must go on with its own directory whatever its callback reads
 * (issue 67: a shortform directory's walk went on in the fork of the
 * directory looked into, and qemu-ga read "disabled" on XFS). */
struct nested {
	const struct ins_fs_ops *x;
	uint64_t other;      /* a directory looked into from the callback */
	const char *name;    /* the name looked up there */
	unsigned n;
	char names[64][256];
};

static int nested_add(void *arg, uint64_t ino, const char *name, size_t len, unsigned type, uint64_t after)
{
	struct nested *w = arg;
	uint64_t found;
	struct ins_stat st;
	(void)after, (void)type;
	if (!name)
		return 0;
	if (w->n < 64)
		snprintf(w->names[w->n], sizeof(w->names[0]), "%.*s", (int)len, name);
	w->n++;
	assert_int_equal(w->x->lookup(w->other, w->name, strlen(w->name), &found), 0);
	assert_int_equal(w->x->stat(found, &st), 0);
	assert_int_equal(w->x->stat(ino, &st), 0);
	return 0;
}

static void test_lookup_inside_listing(void **state)
{
	(void)state;
	const struct ins_fs_ops *x = &ins_fs_xfs;
	static const char *names[] = {"v5-4k", "v4-4k", "v5-1k"};
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		char why[200];
		uint64_t root, few, leafdir, blockdir;
		seed(names[k]);
		assert_int_equal(x->open(xw_vol, why, sizeof(why)), 0);
		root = x->root();
		assert_int_equal(x->lookup(root, "few", 3, &few), 0);
		assert_int_equal(x->lookup(root, "leafdir", 7, &leafdir), 0);
		assert_int_equal(x->lookup(root, "blockdir", 8, &blockdir), 0);
		/* few (shortform) listed while a leaf directory is looked into */
		struct nested w = {x, leafdir, "name-0123", 0, {{0}}};
		assert_int_equal(x->list(few, 0, nested_add, &w), 0);
		assert_int_equal(w.n, 3);
		for (unsigned i = 0; i < 3; i++) {
			char want[8];
			snprintf(want, sizeof(want), "f%u", i);
			assert_string_equal(w.names[i], want);
		}
		/* few again, while a shortform directory (the root) is */
		w = (struct nested){x, root, "blockdir", 0, {{0}}};
		assert_int_equal(x->list(few, 0, nested_add, &w), 0);
		assert_int_equal(w.n, 3);
		assert_string_equal(w.names[2], "f2");
		/* the root (shortform) while few is looked into: its 10 names */
		w = (struct nested){x, few, "f1", 0, {{0}}};
		assert_int_equal(x->list(root, 0, nested_add, &w), 0);
		assert_int_equal(w.n, 10);
		/* a block directory while few is looked into: its 20 names */
		w = (struct nested){x, few, "f0", 0, {{0}}};
		assert_int_equal(x->list(blockdir, 0, nested_add, &w), 0);
		assert_int_equal(w.n, 20);
		for (unsigned i = 0; i < 20; i++) {
			char want[8];
			snprintf(want, sizeof(want), "e%02u", i);
			assert_string_equal(w.names[i], want);
		}
	}
}

/* A listing of what is no directory it can read is EIO with the reason:
 * a number whose block holds no inode; a directory whose extent count
 * overflows its fork (v4-4k: one AG, 256-byte inodes, no CRCs to redo). */
static void test_list_errors(void **state)
{
	(void)state;
	const struct ins_fs_ops *x = &ins_fs_xfs;
	char why[200];
	uint8_t sb[512], in[256];
	uint64_t bdir;
	seed("v4-4k");
	assert_int_equal(x->open(xw_vol, why, sizeof(why)), 0);
	assert_int_equal(ins_fetch(0, sizeof(sb), sb), 0);
	uint64_t agblocks = get32(sb + 84);
	unsigned inopblog = sb[123];
	struct nested w = {x, x->root(), "few", 0, {{0}}};
	xw_why[0] = '\0';
	assert_int_equal(x->list((agblocks - 1) << inopblog, 0, nested_add, &w), -EIO);
	assert_non_null(strstr(xw_why, "no inode magic"));
	assert_int_equal(x->lookup(x->root(), "blockdir", 8, &bdir), 0);
	assert_int_equal(ins_fetch(bdir * 256, sizeof(in), in), 0);
	assert_int_equal(in[5], 2); /* extents */
	put32(in + 76, 1u << 20);
	poke(bdir * 256, in, sizeof(in));
	assert_int_equal(x->open(xw_vol, why, sizeof(why)), 0); /* nothing cached */
	xw_why[0] = '\0';
	assert_int_equal(x->list(bdir, 0, nested_add, &w), -EIO);
	assert_non_null(strstr(xw_why, "extent count overflows its fork"));
	assert_int_equal(w.n, 0);
}

/* ---- extended attributes ------------------------------------------------------- */

/* What an inode's xattrs gave, in order. */
struct got {
	unsigned n;
	char name[512][256];
	size_t vlen[512];
	uint8_t *value[512];
};

static int got_add(void *arg, const char *name, size_t nlen, const void *value, size_t vlen)
{
	struct got *g = arg;
	assert_true(nlen >= 1 && nlen <= 255);
	assert_true(vlen <= 65536);
	if (g->n >= 512)
		return 1;
	snprintf(g->name[g->n], sizeof(g->name[0]), "%.*s", (int)nlen, name);
	g->vlen[g->n] = vlen;
	g->value[g->n] = malloc(vlen ? vlen : 1);
	assert_non_null(g->value[g->n]);
	memcpy(g->value[g->n], value, vlen);
	g->n++;
	return 0;
}

static void got_free(struct got *g)
{
	for (unsigned i = 0; i < g->n; i++)
		free(g->value[i]);
	free(g);
}

/* The attributes of /name of the volume open: xattrs' rc, *out filled. */
static int attrs_of(const char *name, struct got **out)
{
	const struct ins_fs_ops *x = &ins_fs_xfs;
	uint64_t ino;
	assert_int_equal(x->lookup(x->root(), name, strlen(name), &ino), 0);
	*out = calloc(1, sizeof(**out));
	assert_non_null(*out);
	xw_why[0] = '\0';
	return x->xattrs(ino, got_add, *out);
}

/* The index of name in g, or -1. */
static int find(const struct got *g, const char *name)
{
	for (unsigned i = 0; i < g->n; i++)
		if (strcmp(g->name[i], name) == 0)
			return (int)i;
	return -1;
}

static int all_v(const struct got *g, int i, size_t len)
{
	if (i < 0 || g->vlen[i] != len)
		return 0;
	for (size_t k = 0; k < len; k++)
		if (g->value[i][k] != 'v')
			return 0;
	return 1;
}

/* An ACL of 5 entries as XFS stores it (be32 count; be32 tag, be32 id,
 * be16 perm, pad) and as Linux shows it (le32 version 2; le16 tag, le16
 * perm, le32 id), for (tag, id, perm) ents. */
static void acl_bytes(const uint32_t ents[5][3], uint8_t xfs[64], uint8_t linux_[44])
{
	memset(xfs, 0, 64);
	put32(xfs, 5);
	linux_[0] = 2, linux_[1] = linux_[2] = linux_[3] = 0;
	for (int i = 0; i < 5; i++) {
		uint8_t *e = xfs + 4 + 12 * i, *l = linux_ + 4 + 8 * i;
		put32(e, ents[i][0]);
		put32(e + 4, ents[i][1]);
		put16(e + 8, (uint16_t)ents[i][2]);
		l[0] = (uint8_t)ents[i][0], l[1] = (uint8_t)(ents[i][0] >> 8);
		l[2] = (uint8_t)ents[i][2], l[3] = 0;
		l[4] = (uint8_t)ents[i][1], l[5] = (uint8_t)(ents[i][1] >> 8), l[6] = (uint8_t)(ents[i][1] >> 16),
		l[7] = (uint8_t)(ents[i][1] >> 24);
	}
}

/* Each form of the attribute fork as xfs_db -x wrote it (tests/fuzz/
 * xfs-seeds: v5-attr, v4-attr), compared with what the kernel's XFS
 * (6.18, a loop mount of v5-attr) lists to root: shortform with every
 * namespace, the ACLs both as system.posix_acl_* and as the
 * trusted.SGI_ACL_* they are stored as (the kernel lists both); a leaf
 * with a remote value; a tree of 400; and the empty forms as none. */
static void test_attr_forms(void **state)
{
	(void)state;
	static const uint32_t acl_file[5][3] = {{1, 0xffffffff, 6}, {2, 1234, 7}, {4, 0xffffffff, 4},
	                                        {0x10, 0xffffffff, 7}, {0x20, 0xffffffff, 4}};
	static const uint32_t acl_default[5][3] = {{1, 0xffffffff, 7}, {2, 1234, 5}, {4, 0xffffffff, 5},
	                                           {0x10, 0xffffffff, 5}, {0x20, 0xffffffff, 5}};
	uint8_t fx[64], fl[44], dx[64], dl[44];
	acl_bytes(acl_file, fx, fl);
	acl_bytes(acl_default, dx, dl);
	static const char *vols[] = {"v5-attr", "v4-attr"};
	for (size_t k = 0; k < 2; k++) {
		char why[200];
		struct got *g;
		int i;
		seed(vols[k]);
		assert_int_equal(ins_fs_xfs.open(xw_vol, why, sizeof(why)), 0);
		/* shortform */
		assert_int_equal(attrs_of("sf", &g), 0);
		assert_int_equal(g->n, 5);
		assert_true(all_v(g, find(g, "user.a"), 5));
		assert_true(all_v(g, find(g, "security.selinux"), 30));
		assert_true(all_v(g, find(g, "trusted.t"), 3));
		assert_true((i = find(g, "system.posix_acl_access")) >= 0);
		assert_int_equal(g->vlen[i], 44);
		assert_memory_equal(g->value[i], fl, 44);
		assert_true((i = find(g, "trusted.SGI_ACL_FILE")) >= 0);
		assert_int_equal(g->vlen[i], 64);
		assert_memory_equal(g->value[i], fx, 64);
		/* (listed next to each other, the Linux name first, as the kernel does) */
		assert_int_equal(find(g, "trusted.SGI_ACL_FILE"), find(g, "system.posix_acl_access") + 1);
		got_free(g);
		assert_int_equal(attrs_of("acldir", &g), 0);
		assert_int_equal(g->n, 2);
		assert_string_equal(g->name[0], "system.posix_acl_default");
		assert_memory_equal(g->value[0], dl, 44);
		assert_string_equal(g->name[1], "trusted.SGI_ACL_DEFAULT");
		assert_memory_equal(g->value[1], dx, 64);
		got_free(g);
		/* a leaf, a remote value */
		assert_int_equal(attrs_of("leaf", &g), 0);
		assert_int_equal(g->n, 41);
		assert_true(all_v(g, find(g, "user.l00"), 62));
		assert_true(all_v(g, find(g, "user.l39"), 62));
		assert_true(all_v(g, find(g, "user.remote"), 5000));
		got_free(g);
		/* a tree of leaves */
		assert_int_equal(attrs_of("node", &g), 0);
		assert_int_equal(g->n, 400);
		for (unsigned n = 0; n < 400; n++) {
			char name[16];
			snprintf(name, sizeof(name), "user.n%03u", n);
			assert_true(all_v(g, find(g, name), 40));
		}
		got_free(g);
		if (k == 0) {
			/* v5: the leaf's block with one byte changed fails its
			 * CRC: EIO with the reason (the rest is the same block) */
			uint64_t ino;
			assert_int_equal(ins_fs_xfs.lookup(ins_fs_xfs.root(), "leaf", 4, &ino), 0);
			uint8_t *blk = NULL;
			for (unsigned sg = 0; sg < xw_nsegs && !blk; sg++)
				for (uint32_t at = 0; at + 56 <= xw_segs[sg].len && !blk; at++) {
					const uint8_t *b = xw_segs[sg].data + at;
					uint64_t owner = 0;
					for (int q = 0; q < 8; q++)
						owner = owner << 8 | b[48 + q];
					if ((xw_segs[sg].off + at) % 512 == 0 && b[8] == 0x3b && b[9] == 0xee && owner == ino)
						blk = (uint8_t *)(uintptr_t)b;
				}
			assert_non_null(blk);
			blk[60] ^= 1;
			assert_int_equal(attrs_of("leaf", &g), -EIO);
			assert_non_null(strstr(xw_why, "fails its CRC"));
			got_free(g);
			blk[60] ^= 1;
			assert_int_equal(attrs_of("leaf", &g), 0);
			assert_int_equal(g->n, 41);
			got_free(g);
		}
		/* empty: extents with no extent (cp -a's), shortform and leaf
		 * of no entry: none, no error (the kernel lists none) */
		static const char *empty[] = {"ext0", "sf0", "leaf0"};
		for (size_t e = 0; e < 3; e++) {
			int rc = attrs_of(empty[e], &g);
			if (rc != 0 || g->n != 0)
				fail_msg("%s %s: %d, %u attributes (%s)", vols[k], empty[e], rc, g->n, xw_why);
			got_free(g);
		}
	}
}

/* A callback's stop ends the walk where it said it, an ACL's first name
 * included (the helper's callback stops once its answer is full: an
 * attribute after that would follow the marker that ends the answer). */
struct stop {
	const char *at;
	unsigned calls, after;
	bool stopped;
};

static int stop_add(void *arg, const char *name, size_t nlen, const void *value, size_t vlen)
{
	struct stop *st = arg;
	(void)value, (void)vlen;
	st->calls++;
	if (st->stopped)
		st->after++;
	if (strlen(st->at) == nlen && memcmp(st->at, name, nlen) == 0) {
		st->stopped = true;
		return 1;
	}
	return 0;
}

static void test_attr_stop(void **state)
{
	(void)state;
	static const char *at[] = {"user.a", "system.posix_acl_access", "trusted.SGI_ACL_FILE"};
	char why[200];
	uint64_t ino;
	seed("v5-attr");
	assert_int_equal(ins_fs_xfs.open(xw_vol, why, sizeof(why)), 0);
	assert_int_equal(ins_fs_xfs.lookup(ins_fs_xfs.root(), "sf", 2, &ino), 0);
	for (size_t i = 0; i < 3; i++) {
		struct stop st = {at[i], 0, 0, false};
		assert_int_equal(ins_fs_xfs.xattrs(ino, stop_add, &st), 1);
		if (!st.stopped || st.after)
			fail_msg("a stop at %s: %u calls after it", at[i], st.after);
	}
}

/* Linux's bounds, where the reader applies them: a name of 255 bytes
 * with its prefix is shown, 256 not (no getxattr can ask for it: the
 * kernel's own lists it, and getxattr of it is ERANGE); a remote value of
 * 64 KiB is shown, a byte more not (the kernel's getxattr is E2BIG). */
static void test_attr_bounds(void **state)
{
	(void)state;
	static const char *vols[] = {"v5-attr", "v4-attr"};
	for (size_t k = 0; k < 2; k++) {
		char why[200], n250[251];
		struct got *g;
		memset(n250, 'n', 250);
		n250[250] = '\0';
		seed(vols[k]);
		assert_int_equal(ins_fs_xfs.open(xw_vol, why, sizeof(why)), 0);
		assert_int_equal(attrs_of("name255", &g), 0);
		assert_int_equal(g->n, 1);
		assert_int_equal(strlen(g->name[0]), 255);
		assert_memory_equal(g->name[0], "user.", 5);
		assert_memory_equal(g->name[0] + 5, n250, 250);
		got_free(g);
		assert_int_equal(attrs_of("name256", &g), 0);
		assert_int_equal(g->n, 0);
		got_free(g);
		assert_int_equal(attrs_of("val64k", &g), 0);
		assert_int_equal(g->n, 1);
		assert_true(all_v(g, find(g, "user.big"), 65536));
		got_free(g);
		assert_int_equal(attrs_of("val64k1", &g), 0);
		assert_int_equal(g->n, 0);
		got_free(g);
	}
}

/* A block read at the file system's end (xfs.c's read_blocks): the
 * attribute blocks of v4-attr's "leaf" (a node and its leaves, one
 * extent) moved to the volume's last blocks are read, whole; moved a
 * block further the extent is past the volume's end, EIO with why (the
 * extent's check decides before read_blocks' own, which stays as the
 * last guard).  v4: no CRC to redo. */
static void test_attr_last_block(void **state)
{
	(void)state;
	const struct ins_fs_ops *x = &ins_fs_xfs;
	static uint8_t moved[2][1 << 18];
	uint8_t sb[512], in[512];
	char why[200];
	uint64_t ino;
	struct got *g;
	seed("v4-attr");
	assert_int_equal(x->open(xw_vol, why, sizeof(why)), 0);
	assert_int_equal(x->lookup(x->root(), "leaf", 4, &ino), 0);
	assert_int_equal(ins_fetch(0, sizeof(sb), sb), 0);
	uint32_t bs = get32(sb + 4);
	uint64_t dblocks = (uint64_t)get32(sb + 8) << 32 | get32(sb + 12);
	assert_int_equal(get32(sb + 88), 1);    /* one AG */
	assert_true(get32(sb + 84) >= dblocks); /* the AG's end is not before the volume's */
	assert_int_equal(ins_fetch(ino * 512, sizeof(in), in), 0);
	assert_int_equal(in[83], 2); /* the attribute fork in extents form, one extent */
	assert_int_equal(in[80] << 8 | in[81], 1);
	uint8_t *ext = in + 100 + in[82] * 8;
	uint64_t l0 = (uint64_t)get32(ext) << 32 | get32(ext + 4), l1 = (uint64_t)get32(ext + 8) << 32 | get32(ext + 12);
	uint64_t start = (l0 & 0x1ff) << 43 | l1 >> 21, count = l1 & 0x1fffff;
	assert_true(count >= 1 && count * bs <= sizeof(moved[0]));
	assert_int_equal(attrs_of("leaf", &g), 0);
	unsigned n = g->n;
	assert_true(n >= 40);
	got_free(g);
	for (int past = 0; past <= 1; past++) {
		uint64_t to = dblocks - count + (uint64_t)past;
		assert_int_equal(ins_fetch(start * bs, count * bs, moved[past]), 0);
		assert_true(xw_nsegs < XW_MAX_SEGS);
		xw_segs[xw_nsegs++] = (struct xw_seg){to * bs, (uint32_t)(count * bs), moved[past]};
		put64(ext, l0 & ~0x1ffull);
		put64(ext + 8, to << 21 | count);
		poke(ino * 512, in, sizeof(in));
		assert_int_equal(x->open(xw_vol, why, sizeof(why)), 0); /* nothing cached */
		int rc = attrs_of("leaf", &g);
		if (past ? rc != -EIO || !strstr(xw_why, "past the end of its allocation group or the volume")
		         : rc != 0 || g->n != n)
			fail_msg("the blocks at %llu+%llu of %llu: %d, %u attributes, \"%s\"", (unsigned long long)to,
			         (unsigned long long)count, (unsigned long long)dblocks, rc, g->n, xw_why);
		got_free(g);
	}
}

/* The corpus: the seeds, truncated and bit-flipped copies of one, and
 * tests/fuzz/corpus-xfs — each an answer, never a crash. */
static void run_dir(const char *path, unsigned *n)
{
	DIR *d = opendir(path);
	struct dirent *e;
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		char p[512];
		struct xw_count c;
		if (e->d_name[0] == '.' || strcmp(e->d_name, "img") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		load(p);
		xw_walk(&ins_fs_xfs, &c);
		(*n)++;
	}
	closedir(d);
}

static void test_corpus(void **state)
{
	unsigned n = 0;
	char path[512];
	run_dir(dir, &n);
	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus-xfs", IMGFS_SOURCE_DIR);
	run_dir(path, &n);
	assert_true(n >= 6);
	/* Bit flips over the metadata of v5-1k and v4-4k (a fixed stride:
	 * the same inputs every run). */
	static const char *names[] = {"v5-1k", "v4-4k"};
	for (size_t k = 0; k < 2; k++) {
		seed(names[k]);
		uint8_t *copy = malloc(input_len);
		assert_non_null(copy);
		for (size_t at = 8; at < input_len; at += 997) {
			struct xw_count c;
			memcpy(copy, input, input_len);
			copy[at] ^= (uint8_t)(1u << (at % 8));
			assert_int_equal(xw_load(copy, input_len), 0);
			xw_walk(&ins_fs_xfs, &c);
		}
		free(copy);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures_walk_whole),
		cmocka_unit_test(test_lookup_read_stat),
		cmocka_unit_test(test_corrupt_is_eio_with_reason),
		cmocka_unit_test(test_btree_dag_is_eio),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_bounds_inodes),
		cmocka_unit_test(test_lookup_inside_listing),
		cmocka_unit_test(test_list_errors),
		cmocka_unit_test(test_attr_forms),
		cmocka_unit_test(test_attr_bounds),
		cmocka_unit_test(test_attr_stop),
		cmocka_unit_test(test_attr_last_block),
		cmocka_unit_test(test_corpus),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
