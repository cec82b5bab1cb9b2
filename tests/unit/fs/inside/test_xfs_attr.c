/*
 * SPEC §18: an XFS inode's extended attributes (fs/inside/xfs_attr.c),
 * fed through its table (ins_xfs.h's struct ins_xfs_access) with forks
 * and blocks made here byte by byte, so that each bound of a leaf block
 * and of the walk is met at the limit and one past it — what no volume
 * mkfs.xfs makes reaches (test_xfs.c reads those): an entry whose bytes
 * end at its leaf block's last byte and one a byte further; a leaf of as
 * many entries as its block holds and one more; a v5 remote
 * value of a block's bytes and of one more, its block owned by the inode
 * and by its neighbours; a remote entry's name at its block's end and a
 * byte further; a chain of ATTR_LEAVES (4096) leaf blocks and one more; a
 * tree of XFS_DA_MAXDEPTH nodes and one more, a node as full as its block
 * and one more; and where a walk ends (a callback's stop, a damaged leaf,
 * a wrong back link, a name with a NUL, a value's block not mapped).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ins_xfs.h"

#define BS 1024      /* the blocks' size */
#define INO 1000     /* the inode whose attributes are read */
#define LEAVES 4096  /* xfs_attr.c's ATTR_LEAVES */

/* ---- what the reader is given -------------------------------------------- */

static char why[256];

void ins_why(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
}

/* The fork the reader asks for, and the block maker of the case. */
static struct ins_xfs_afork fork_now;
static void (*make_block)(uint64_t fb, uint8_t *b);
static uint64_t nblocks; /* blocks of the fork: a block past them is not mapped */
static uint64_t reads;   /* blocks read */

static int afork(uint64_t ino, struct ins_xfs_afork *out)
{
	assert_int_equal(ino, INO);
	*out = fork_now;
	return 0;
}

static int block(uint64_t ino, uint64_t fb, uint8_t *buf)
{
	assert_int_equal(ino, INO);
	reads++;
	if (fb >= nblocks)
		return -5; /* -EIO: not mapped */
	memset(buf, 0, BS);
	make_block(fb, buf);
	return 0;
}

static bool crc_ok(const uint8_t *p, size_t len, size_t at)
{
	(void)p, (void)len, (void)at;
	return true; /* CRCs are test_xfs.c's (real volumes) */
}

static const struct ins_xfs_access access_ = {afork, block, crc_ok};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

/* A fork of nb blocks in extents form (leaf block 0 first). */
static void fork_of(bool v5, uint64_t nb, void (*maker)(uint64_t, uint8_t *))
{
	memset(&fork_now, 0, sizeof(fork_now));
	fork_now.present = true;
	fork_now.v5 = v5;
	fork_now.format = 2;
	fork_now.nextents = 1;
	fork_now.blocksize = BS;
	make_block = maker;
	nblocks = nb;
	reads = 0;
	why[0] = '\0';
}

/* A leaf block's header: forw, back, magic, count (v4 at 12, v5 at 56),
 * and v5's owner at 48.  Entries then start at 32 (v4) or 80 (v5). */
static unsigned leaf_head(uint8_t *b, bool v5, uint32_t forw, uint32_t back, uint16_t count)
{
	put32(b, forw);
	put32(b + 4, back);
	put16(b + 8, v5 ? 0x3bee : 0xfbee);
	put16(b + (v5 ? 56 : 12), count);
	if (v5)
		put64(b + 48, INO);
	return v5 ? 80 : 32;
}

/* Entry i of a leaf whose header ends at hdr: its name's index, flags. */
static void leaf_entry(uint8_t *b, unsigned hdr, unsigned i, uint16_t idx, uint8_t flags)
{
	put16(b + hdr + i * 8 + 4, idx);
	b[hdr + i * 8 + 6] = flags;
}

/* ---- what the reader answers --------------------------------------------- */

struct got {
	unsigned n;
	char name[8][64];
	uint8_t value[8][2048];
	size_t vlen[8];
};

static int got_add(void *arg, const char *name, size_t nlen, const void *value, size_t vlen)
{
	struct got *g = arg;
	assert_true(g->n < 8 && nlen < 64 && vlen <= 2048);
	memcpy(g->name[g->n], name, nlen);
	g->name[g->n][nlen] = '\0';
	memcpy(g->value[g->n], value, vlen);
	g->vlen[g->n++] = vlen;
	return 0;
}

static int attrs(struct got *g)
{
	memset(g, 0, sizeof(*g));
	return ins_xfs_xattrs(&access_, INO, got_add, g);
}

/* ---- a local entry's bounds in its leaf block ---------------------------- */

static unsigned local_idx;  /* where the entry's bytes start */
static uint8_t local_nlen;  /* its name's length (its name "ab...", its value "xyz...") */
static uint16_t local_vlen;

/* One byte of the block, dropped past its end (the entry says more than
 * the block holds). */
static void put_in(uint8_t *b, size_t at, uint8_t v)
{
	if (at < BS)
		b[at] = v;
}

static void local_leaf(uint64_t fb, uint8_t *b)
{
	(void)fb;
	unsigned hdr = leaf_head(b, false, 0, 0, 1);
	leaf_entry(b, hdr, 0, (uint16_t)local_idx, 0x01 /* local */);
	put_in(b, local_idx, (uint8_t)(local_vlen >> 8));
	put_in(b, local_idx + 1, (uint8_t)local_vlen);
	put_in(b, local_idx + 2, local_nlen);
	for (unsigned k = 0; k < local_nlen; k++)
		put_in(b, local_idx + 3 + k, (uint8_t)('a' + k));
	for (unsigned k = 0; k < local_vlen; k++)
		put_in(b, local_idx + 3 + local_nlen + k, (uint8_t)('x' + k));
}

/* The entry at idx, of a name of nlen bytes and a value of vlen: the
 * walk's answer, the attributes in g. */
static int local_at(unsigned idx, uint8_t nlen, uint16_t vlen, struct got *g)
{
	local_idx = idx, local_nlen = nlen, local_vlen = vlen;
	fork_of(false, 1, local_leaf);
	return attrs(g);
}

/* An entry whose value's last byte is the block's last is read; a byte
 * further lies past it.  An entry of no name and no value in the block's
 * last 3 bytes (its header's) is no attribute (skipped, as an incomplete
 * one is), not damage; 2 bytes from the end its header lies past the
 * block. */
static void test_local_entry_bounds(void **state)
{
	(void)state;
	struct got g;
	assert_int_equal(local_at(BS - 3 - 2 - 3, 2, 3, &g), 0);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.name[0], "user.ab");
	assert_int_equal(g.vlen[0], 3);
	assert_memory_equal(g.value[0], "xyz", 3);

	assert_int_equal(local_at(BS - 3 - 2 - 3 + 1, 2, 3, &g), -5);
	assert_int_equal(g.n, 0);
	assert_non_null(strstr(why, "attribute 0 lies past its leaf block"));

	assert_int_equal(local_at(BS - 3, 0, 0, &g), 0);
	assert_int_equal(g.n, 0);
	assert_int_equal(local_at(BS - 2, 0, 0, &g), -5);
	assert_non_null(strstr(why, "attribute 0 lies past its leaf block"));
}

/* ---- a leaf's count of entries ------------------------------------------ */

static uint16_t count_now;

/* A v4 leaf of count_now entries, each a remote one still incomplete
 * (F_INCOMPLETE: no attribute, skipped) whose bytes are the header's. */
static void count_leaf(uint64_t fb, uint8_t *b)
{
	(void)fb;
	unsigned hdr = leaf_head(b, false, 0, 0, count_now);
	for (unsigned i = 0; i < count_now && hdr + i * 8 + 8 <= BS; i++)
		leaf_entry(b, hdr, i, 0, 0x80);
}

/* As many entries as the block holds after its header ((1024 - 32) / 8 =
 * 124) are read; one more is EIO with why, nothing listed. */
static void test_leaf_count_bound(void **state)
{
	(void)state;
	struct got g;
	count_now = (BS - 32) / 8;
	fork_of(false, 1, count_leaf);
	assert_int_equal(attrs(&g), 0);
	assert_int_equal(g.n, 0);
	count_now++;
	fork_of(false, 1, count_leaf);
	assert_int_equal(attrs(&g), -5);
	assert_int_equal(g.n, 0);
	assert_non_null(strstr(why, "leaf holds more entries than its block"));
}

/* ---- a v5 remote value --------------------------------------------------- */

#define PER (BS - 56) /* a remote block's bytes of the value (v5: after its header) */

static uint64_t remote_owner; /* block 1's owner */
static uint32_t remote_len;   /* the value's length: in block 1, then block 2 */
static unsigned remote_idx = BS - 16; /* where the entry's bytes start */
static uint8_t remote_nlen = 1;       /* its name's length: "r", or none */

static uint8_t vbyte(uint32_t i)
{
	return (uint8_t)(i % 251);
}

/* Block 0 a leaf with one remote entry "user.r" of remote_len bytes from
 * block 1 on; blocks 1 and 2 the value's: v5's each with its header
 * (XARM, its offset in the value, its bytes, owner), v4's raw. */
static void remote_blocks(uint64_t fb, uint8_t *b)
{
	bool v5 = fork_now.v5;
	if (fb == 0) {
		unsigned hdr = leaf_head(b, v5, 0, 0, 1), idx = remote_idx;
		leaf_entry(b, hdr, 0, (uint16_t)idx, 0 /* remote, user */);
		uint8_t e[10] = {0, 0, 0, 1, /* the value's first block of the fork */
		                 (uint8_t)(remote_len >> 24), (uint8_t)(remote_len >> 16), (uint8_t)(remote_len >> 8),
		                 (uint8_t)remote_len, remote_nlen, 'r'};
		for (unsigned k = 0; k < 9u + remote_nlen; k++)
			put_in(b, idx + k, e[k]);
		return;
	}
	uint32_t per = v5 ? PER : BS, at = v5 ? 56 : 0;
	uint32_t off = (uint32_t)(fb - 1) * per, n = remote_len - off < per ? remote_len - off : per;
	if (v5) {
		memcpy(b, "XARM", 4);
		put32(b + 4, off);
		put32(b + 8, n);
		put64(b + 32, fb == 1 ? remote_owner : INO);
	}
	for (uint32_t i = 0; i < n; i++)
		b[at + i] = vbyte(off + i);
}

static void assert_value(const struct got *g, uint32_t len)
{
	assert_int_equal(g->n, 1);
	assert_string_equal(g->name[0], "user.r");
	assert_int_equal(g->vlen[0], len);
	for (uint32_t i = 0; i < len; i++)
		if (g->value[0][i] != vbyte(i))
			fail_msg("byte %u of %u: %u", i, len, g->value[0][i]);
}

/* A value of a block's bytes (PER) is read from one block; PER + 1 and
 * PER + 10 from two (the first full); a block owned by the inode's
 * neighbour is damage, and so is the second block unmapped. */
static void test_remote_value(void **state)
{
	(void)state;
	struct got g;
	static const uint32_t lens[] = {10, PER - 1, PER, PER + 1, PER + 10};
	remote_owner = INO;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		remote_len = lens[i];
		fork_of(true, 3, remote_blocks);
		assert_int_equal(attrs(&g), 0);
		assert_value(&g, lens[i]);
		assert_int_equal(reads, lens[i] > PER ? 3 : 2);
	}
	for (int d = -1; d <= 1; d += 2) {
		remote_owner = (uint64_t)((int64_t)INO + d);
		remote_len = 10;
		fork_of(true, 3, remote_blocks);
		assert_int_equal(attrs(&g), -5);
		assert_int_equal(g.n, 0);
		assert_non_null(strstr(why, "remote attribute block 1 is malformed"));
	}
	remote_owner = INO;
	remote_len = PER + 1;
	fork_of(true, 2, remote_blocks); /* block 2 not mapped */
	assert_int_equal(attrs(&g), -5);
	assert_int_equal(g.n, 0);
}

/* A remote entry whose name's last byte is its leaf block's last is read;
 * a byte further lies past it; an entry of no name and no value in the
 * block's last 9 bytes (its header's) is no attribute, 8 bytes from the
 * end its header lies past the block. */
static void test_remote_entry_bounds(void **state)
{
	(void)state;
	struct got g;
	remote_owner = INO;
	remote_len = 10;
	remote_idx = BS - 10;
	fork_of(true, 2, remote_blocks);
	assert_int_equal(attrs(&g), 0);
	assert_value(&g, 10);
	remote_idx = BS - 9;
	fork_of(true, 2, remote_blocks);
	assert_int_equal(attrs(&g), -5);
	assert_non_null(strstr(why, "attribute 0 lies past its leaf block"));
	remote_nlen = 0, remote_len = 0;
	fork_of(true, 2, remote_blocks);
	assert_int_equal(attrs(&g), 0);
	assert_int_equal(g.n, 0);
	remote_idx = BS - 8;
	fork_of(true, 2, remote_blocks);
	assert_int_equal(attrs(&g), -5);
	assert_non_null(strstr(why, "attribute 0 lies past its leaf block"));
	remote_idx = BS - 16, remote_nlen = 1;
}

/* ---- the walk along the leaves' links ------------------------------------ */

/* nblocks leaves, each linked to the next and back to the one before;
 * the last holds one local attribute, "user.z" = "end". */
static void chain_leaf(uint64_t fb, uint8_t *b)
{
	bool last = fb + 1 == nblocks;
	unsigned hdr = leaf_head(b, false, last ? 0 : (uint32_t)fb + 1, fb ? (uint32_t)fb - 1 : 0, last ? 1 : 0);
	if (last) {
		unsigned idx = BS - 3 - 1 - 3;
		leaf_entry(b, hdr, 0, (uint16_t)idx, 0x01);
		put16(b + idx, 3);
		b[idx + 2] = 1;
		b[idx + 3] = 'z';
		memcpy(b + idx + 4, "end", 3);
	}
}

/* ATTR_LEAVES leaves are walked to the last one's attribute; one more is
 * EIO with why (a loop whose back links agree ends there). */
static void test_leaf_chain_bound(void **state)
{
	(void)state;
	struct got g;
	fork_of(false, LEAVES, chain_leaf);
	assert_int_equal(attrs(&g), 0);
	assert_int_equal(reads, LEAVES);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.name[0], "user.z");
	assert_memory_equal(g.value[0], "end", 3);
	fork_of(false, LEAVES + 1, chain_leaf);
	assert_int_equal(attrs(&g), -5);
	assert_int_equal(g.n, 0);
	assert_non_null(strstr(why, "link past 4096 blocks"));
}

/* ---- where a walk ends ---------------------------------------------------- */

static bool first_damaged; /* leaf 0 says more entries than its block holds */
static bool back_wrong;    /* leaf 1 links back to a leaf that is not leaf 0 */
static char leaf_name;     /* the first name's byte ("user.<it>" in leaf 0, the next in 1) */

/* Two leaves, each with one local attribute of value "v". */
static void two_leaves(uint64_t fb, uint8_t *b)
{
	unsigned hdr = leaf_head(b, false, fb ? 0 : 1, fb && back_wrong ? 5 : 0, 1), idx = BS - 3 - 1 - 1;
	if (fb == 0 && first_damaged)
		put16(b + 12, (BS - 32) / 8 + 1);
	leaf_entry(b, hdr, 0, (uint16_t)idx, 0x01);
	put16(b + idx, 1);
	b[idx + 2] = 1;
	b[idx + 3] = (uint8_t)(leaf_name + (char)fb);
	b[idx + 4] = 'v';
}

struct stop {
	unsigned calls;
};

static int stop_add(void *arg, const char *name, size_t nlen, const void *value, size_t vlen)
{
	(void)name, (void)nlen, (void)value, (void)vlen;
	((struct stop *)arg)->calls++;
	return 1;
}

static int two(bool damaged, bool wrong, char name, struct got *g)
{
	first_damaged = damaged, back_wrong = wrong, leaf_name = name;
	fork_of(false, 2, two_leaves);
	return attrs(g);
}

/* A walk ends where its callback stops it (the next leaf is not read),
 * at a leaf that is damaged (the next, sound, does not make it a
 * success), at a leaf that does not link back to the one before, and at a
 * name that holds a NUL; a v4 remote value (no header) whose second block
 * is not mapped is EIO, never the first block's bytes again. */
static void test_walk_ends(void **state)
{
	(void)state;
	struct got g;
	assert_int_equal(two(false, false, 'a', &g), 0);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.name[0], "user.a");
	assert_string_equal(g.name[1], "user.b");
	struct stop st = {0};
	fork_of(false, 2, two_leaves);
	assert_int_equal(ins_xfs_xattrs(&access_, INO, stop_add, &st), 1);
	assert_int_equal(st.calls, 1);
	assert_int_equal(reads, 1);
	assert_int_equal(two(true, false, 'a', &g), -5);
	assert_non_null(strstr(why, "holds more entries than its block"));
	assert_int_equal(two(false, true, 'a', &g), -5);
	assert_non_null(strstr(why, "does not link back to leaf 0"));
	assert_int_equal(g.n, 1);
	assert_int_equal(two(false, false, '\0', &g), -5);
	assert_non_null(strstr(why, "name holds a NUL byte"));
	assert_int_equal(g.n, 0);
	/* v4 remote: the value's blocks are the fork's 1 and 2, raw */
	remote_owner = INO, remote_len = BS + 1;
	fork_of(false, 3, remote_blocks);
	assert_int_equal(attrs(&g), 0);
	assert_value(&g, BS + 1);
	fork_of(false, 2, remote_blocks);
	assert_int_equal(attrs(&g), -5);
	assert_int_equal(g.n, 0);
}

/* ---- the tree's nodes ---------------------------------------------------- */

static unsigned node_depth;  /* blocks 0 .. node_depth - 1 are nodes, each down to the next */
static uint16_t node_count;  /* entries of each node */

static void node_block(uint64_t fb, uint8_t *b)
{
	if (fb == node_depth) {
		chain_leaf(fb, b); /* nblocks is node_depth + 1: the last, with "user.z" */
		put32(b + 4, 0);   /* the first leaf: no back link */
		return;
	}
	put16(b + 8, 0xfebe); /* a v4 node: its count at 12, entries (hash, before) from 16 */
	put16(b + 12, node_count);
	for (unsigned i = 0; i < node_count && 16 + i * 8 + 8 <= BS; i++)
		put32(b + 16 + i * 8 + 4, (uint32_t)fb + 1);
}

static int tree(unsigned depth, uint16_t count, struct got *g)
{
	node_depth = depth, node_count = count;
	fork_of(false, depth + 1, node_block);
	return attrs(g);
}

/* A tree of XFS_DA_MAXDEPTH (5) nodes above its leaf is read, 6 are
 * malformed; a node of as many entries as its block holds ((1024 - 16) /
 * 8 = 126) is read, one more and none are malformed. */
static void test_node_bounds(void **state)
{
	(void)state;
	struct got g;
	assert_int_equal(tree(5, 1, &g), 0);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.name[0], "user.z");
	assert_int_equal(reads, 6);
	assert_int_equal(tree(6, 1, &g), -5);
	assert_non_null(strstr(why, "attribute tree is malformed"));
	assert_int_equal(tree(1, (BS - 16) / 8, &g), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(tree(1, (BS - 16) / 8 + 1, &g), -5);
	assert_non_null(strstr(why, "attribute tree is malformed"));
	assert_int_equal(tree(1, 0, &g), -5);
	assert_non_null(strstr(why, "attribute tree is malformed"));
	/* a fork whose first block is not mapped */
	fork_of(false, 0, node_block);
	assert_int_equal(attrs(&g), -5);
	assert_int_equal(g.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_local_entry_bounds),
		cmocka_unit_test(test_leaf_count_bound),
		cmocka_unit_test(test_remote_value),
		cmocka_unit_test(test_remote_entry_bounds),
		cmocka_unit_test(test_leaf_chain_bound),
		cmocka_unit_test(test_node_bounds),
		cmocka_unit_test(test_walk_ends),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
