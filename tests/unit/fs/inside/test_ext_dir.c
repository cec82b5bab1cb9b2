/*
 * SPEC §18.7: the ext reader's lookup by name (fs/inside/ext.c) over
 * directories the real tools made — mke2fs -d fills them, e2fsck -D
 * indexes them as the kernel would (an htree: the root's hash version, the
 * superblock's seed, index blocks, leaves in hash order) — at the
 * htree's bounds: a directory of one level of index (the root names the
 * leaves), one of two (the root names index blocks, which name the
 * leaves), one without an index (one block), and names at the hash's
 * ends (the lowest and highest hash of the directory: the first and last
 * leaf), of 1 and 255 bytes, and names that are not there; and a hash
 * split between two leaves (the continuation bit), made so in a copy.
 *
 * Counted, not timed: each lookup reads the index blocks down to one leaf
 * and that leaf (levels + 1 directory blocks, ins_ext_dir_reads), the
 * same in either directory whatever its size, and finds the inode the
 * directory's own walk (libext2fs's, on the image file) names.  Each
 * entry's type from a listing (the entry's file_type) is its inode's.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <ext2fs/ext2fs.h>

#include "ins_fs.h"

#define BIG 12000 /* 1 KiB blocks: ~190 leaves, more than a root holds (two levels) */
#define MID 2000  /* ~32 leaves: one level */

static char dir[] = "/tmp/imgfs-ext-XXXXXX";
static uint8_t *img;
static size_t img_len;
static char why_buf[256];
static unsigned fetches, fetchvs; /* single reads, and reads of several */

int ins_fetch(uint64_t off, size_t len, void *buf)
{
	fetches++;
	if (off > img_len || len > img_len - off) {
		memset(buf, 0, len);
		return -EIO;
	}
	memcpy(buf, img + off, len);
	return 0;
}

int ins_fetchv(const struct ins_req_blk *piece, unsigned n, void *data)
{
	size_t at = 0;
	fetchvs++;
	fetches -= n;
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(ins_fetch(piece[i].off, piece[i].len, (char *)data + at), 0);
		at += piece[i].len;
	}
	return 0;
}

void ins_why(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why_buf, sizeof(why_buf), fmt, ap);
	va_end(ap);
}

static char long_name[256];

static int setup(void **state)
{
	char cmd[2048], path[512];
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	memset(long_name, 'L', 255);
	long_name[255] = '\0';
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/src/big' '%s/src/mid' '%s/src/small' '%s/src/big/sub'", dir, dir, dir, dir);
	if (system(cmd) != 0)
		return -1;
	static const char *const sub[] = {"big", "mid"};
	for (int d = 0; d < 2; d++) {
		int n = d == 0 ? BIG : MID;
		for (int i = 0; i < n; i++) {
			snprintf(path, sizeof(path), "%s/src/%s/f-%05d", dir, sub[d], i);
			FILE *f = fopen(path, "w");
			if (!f)
				return -1;
			fclose(f);
		}
	}
	snprintf(path, sizeof(path), "%s/src/big/%s", dir, long_name);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fclose(f);
	snprintf(cmd, sizeof(cmd),
	         "cd '%s' && ln -s f-00000 src/big/x && mkfifo src/big/p && touch src/small/a src/small/b && "
	         "PATH=/usr/sbin:/sbin:$PATH && mke2fs -q -F -t ext4 -b 1024 -N 16384 -d src e.img 40M && "
	         "{ e2fsck -fyD e.img >/dev/null 2>&1; [ $? -le 1 ]; }",
	         dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "mke2fs -d or e2fsck -D failed (scripts/install-deps installs e2fsprogs)\n");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/e.img", dir);
	f = fopen(path, "rb");
	if (!f || fseek(f, 0, SEEK_END) != 0)
		return -1;
	img_len = (size_t)ftell(f);
	rewind(f);
	img = malloc(img_len);
	if (!img || fread(img, 1, img_len, f) != img_len)
		return -1;
	fclose(f);
	return 0;
}

static int teardown(void **state)
{
	char cmd[256];
	(void)state;
	free(img);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The image as libext2fs reads it from the file: the truth to compare with. */
static ext2_filsys truth(void)
{
	char path[512];
	ext2_filsys t;
	snprintf(path, sizeof(path), "%s/e.img", dir);
	assert_int_equal(ext2fs_open(path, 0, 0, 0, unix_io_manager, &t), 0);
	return t;
}

/* The htree's levels of directory d (its root's indirect_levels + 1). */
static unsigned levels_of(ext2_filsys t, ext2_ino_t d)
{
	struct ext2_inode in;
	blk64_t pblk = 0;
	char *b = malloc(t->blocksize);
	assert_non_null(b);
	assert_int_equal(ext2fs_read_inode(t, d, &in), 0);
	assert_true(in.i_flags & EXT2_INDEX_FL);
	assert_int_equal(ext2fs_bmap2(t, d, &in, NULL, 0, 0, NULL, &pblk), 0);
	assert_int_equal(io_channel_read_blk64(t->io, pblk, 1, b), 0);
	unsigned lv = (unsigned char)b[30] + 1;
	free(b);
	return lv;
}

struct names {
	unsigned n;
	ext2_ino_t ino[BIG + 8];
	char name[BIG + 8][256];
};

static int collect(struct ext2_dir_entry *de, int offset, int blocksize, char *buf, void *priv)
{
	struct names *w = priv;
	int len = ext2fs_dirent_name_len(de);
	(void)offset, (void)blocksize, (void)buf;
	if (de->inode && w->n < BIG + 8 && !(len == 1 && de->name[0] == '.') &&
	    !(len == 2 && de->name[0] == '.' && de->name[1] == '.')) {
		memcpy(w->name[w->n], de->name, (size_t)len);
		w->name[w->n][len] = '\0';
		w->ino[w->n++] = de->inode;
	}
	return 0;
}

static const struct ins_fs_ops *const x = &ins_fs_ext;

/* Each name of sub/ (every 37th, and those at the hash's ends, the
 * shortest and the longest) found where the walk says, reading levels + 1
 * directory blocks; names that are not there, ENOENT for as many. */
static void check_dir(const char *sub, unsigned want_levels)
{
	ext2_filsys t = truth();
	ext2_ino_t d;
	struct names *w = calloc(1, sizeof(*w));
	char why[200];
	uint64_t dino, ino;
	assert_non_null(w);
	assert_int_equal(ext2fs_lookup(t, EXT2_ROOT_INO, sub, (int)strlen(sub), NULL, &d), 0);
	unsigned lv = levels_of(t, d);
	assert_int_equal(lv, want_levels);
	assert_int_equal(ext2fs_dir_iterate(t, d, 0, NULL, collect, w), 0);
	/* The lowest and highest hash of the directory: its first and last leaf. */
	int hv = t->super->s_def_hash_version + ((t->super->s_flags & EXT2_FLAGS_UNSIGNED_HASH) ? 3 : 0);
	unsigned lo = 0, hi = 0;
	ext2_dirhash_t h, minor, hlo = UINT32_MAX, hhi = 0;
	for (unsigned i = 0; i < w->n; i++) {
		assert_int_equal(ext2fs_dirhash2(hv, w->name[i], (int)strlen(w->name[i]), NULL, 0, t->super->s_hash_seed, &h,
		                                 &minor), 0);
		if (h < hlo)
			hlo = h, lo = i;
		if (h > hhi)
			hhi = h, hi = i;
	}
	assert_int_equal(x->open(img_len, why, sizeof(why)), 0);
	assert_int_equal(x->lookup(x->root(), sub, strlen(sub), &dino), 0);
	assert_int_equal(dino, d);
	unsigned tried = 0;
	for (unsigned i = 0; i < w->n; i++) {
		size_t len = strlen(w->name[i]);
		if (i % 37 && i != lo && i != hi && len != 1 && len != 255)
			continue;
		unsigned r0 = ins_ext_dir_reads();
		ino = 0;
		int rc = x->lookup(dino, w->name[i], len, &ino);
		if (rc != 0 || ino != w->ino[i])
			fail_msg("%s/%s: %d, inode %llu, not %u (%s)", sub, w->name[i], rc, (unsigned long long)ino, w->ino[i],
			         why_buf);
		/* levels + 1, one more where the name's leaf goes on in the
		 * next (a hash split between two) */
		unsigned r = ins_ext_dir_reads() - r0;
		if (r < lv + 1 || r > lv + 2)
			fail_msg("%s/%s: %u directory blocks read for %u levels", sub, w->name[i], r, lv);
		tried++;
	}
	assert_true(tried >= w->n / 37);
	static const char *const absent[] = {"f-99999", "g", "F-00001", "f-0000", "f-000001"};
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
		unsigned r0 = ins_ext_dir_reads();
		assert_int_equal(x->lookup(dino, absent[i], strlen(absent[i]), &ino), -ENOENT);
		unsigned r = ins_ext_dir_reads() - r0;
		if (r < lv + 1 || r > lv + 2)
			fail_msg("%s/%s (absent): %u directory blocks read for %u levels", sub, absent[i], r, lv);
	}
	ext2fs_close_free(&t);
	free(w);
}

static void test_htree_two_levels(void **state)
{
	(void)state;
	check_dir("big", 2);
}

static void test_htree_one_level(void **state)
{
	(void)state;
	check_dir("mid", 1);
}

/* A directory of one block has no index: its lookup walks it. */
static void test_no_index(void **state)
{
	char why[200];
	uint64_t d, ino;
	(void)state;
	assert_int_equal(x->open(img_len, why, sizeof(why)), 0);
	assert_int_equal(x->lookup(x->root(), "small", 5, &d), 0);
	assert_int_equal(x->lookup(d, "b", 1, &ino), 0);
	assert_int_equal(x->lookup(d, "c", 1, &ino), -ENOENT);
}

/* A listing's entry types are the entries' own, and each is its inode's. */
struct types {
	unsigned n, typed, wrong;
};

static int type_one(void *arg, uint64_t ino, const char *name, size_t len, unsigned type, uint64_t after)
{
	struct types *t = arg;
	struct ins_stat st;
	(void)after;
	if (!name)
		return 0;
	t->n++;
	if (type) {
		t->typed++;
		if (x->stat(ino, &st) != 0 || (st.mode & S_IFMT) != type) {
			fprintf(stderr, "%.*s: type %o, inode's %o\n", (int)len, name, type, st.mode & S_IFMT);
			t->wrong++;
		}
	}
	return 0;
}

static void test_listing_types(void **state)
{
	char why[200];
	uint64_t d;
	struct types t = {0, 0, 0};
	(void)state;
	assert_int_equal(x->open(img_len, why, sizeof(why)), 0);
	assert_int_equal(x->lookup(x->root(), "big", 3, &d), 0);
	assert_int_equal(x->list(d, 0, type_one, &t), 0);
	assert_int_equal(t.n, BIG + 4); /* the files, the long name, x, p, sub */
	assert_int_equal(t.typed, t.n);
	assert_int_equal(t.wrong, 0);
}

static uint32_t get32(const char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* Loads path into img (the reader's volume). */
static void load(const char *path)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(img, 1, img_len, f), img_len);
	fclose(f);
}

/* A hash split between two leaves (the kernel marks the second's index
 * entry with the hash's low bit, a continuation): a name at the start of
 * mid/'s middle leaf, its index entry's hash made that name's hash | 1
 * (through libext2fs, which sets the block's checksum), is found by
 * reading the leaf before it and then that one — levels + 2 blocks. */
static void test_htree_continuation(void **state)
{
	char path[600], cmd[1300], why[200];
	ext2_filsys t;
	ext2_ino_t d;
	struct ext2_inode in;
	blk64_t root = 0, leaf = 0;
	uint64_t dino, ino = 0;
	(void)state;
	snprintf(path, sizeof(path), "%s/c.img", dir);
	snprintf(cmd, sizeof(cmd), "cp '%s/e.img' '%s'", dir, path);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(ext2fs_open(path, EXT2_FLAG_RW, 0, 0, unix_io_manager, &t), 0);
	assert_int_equal(ext2fs_lookup(t, EXT2_ROOT_INO, "mid", 3, NULL, &d), 0);
	assert_int_equal(ext2fs_read_inode(t, d, &in), 0);
	char *b = malloc(t->blocksize), *lb = malloc(t->blocksize);
	assert_true(b && lb);
	assert_int_equal(ext2fs_bmap2(t, d, &in, NULL, 0, 0, NULL, &root), 0);
	assert_int_equal(ext2fs_read_dir_block4(t, root, b, 0, d), 0);
	assert_int_equal((unsigned char)b[30], 0); /* one level */
	unsigned count = (unsigned char)b[34] | (unsigned char)b[35] << 8, k = count / 2;
	assert_true(k >= 1);
	uint32_t hash = get32(b + 32 + 8 * k), lblk = get32(b + 32 + 8 * k + 4) & 0x0fffffff;
	assert_int_equal(ext2fs_bmap2(t, d, &in, NULL, 0, lblk, NULL, &leaf), 0);
	assert_int_equal(ext2fs_read_dir_block4(t, leaf, lb, 0, d), 0);
	int hv = (unsigned char)b[28] + ((t->super->s_flags & EXT2_FLAGS_UNSIGNED_HASH) ? 3 : 0);
	char y[256] = "";
	ext2_ino_t yino = 0;
	for (unsigned off = 0; off < t->blocksize && !yino;) {
		struct ext2_dir_entry *e = (struct ext2_dir_entry *)(void *)(lb + off);
		int len = ext2fs_dirent_name_len(e);
		ext2_dirhash_t h, minor;
		assert_true(e->rec_len >= 8);
		if (e->inode && len &&
		    ext2fs_dirhash2(hv, e->name, len, NULL, 0, t->super->s_hash_seed, &h, &minor) == 0 && h == hash) {
			memcpy(y, e->name, (size_t)len);
			y[len] = '\0';
			yino = e->inode;
		}
		off += e->rec_len;
	}
	assert_true(yino != 0); /* the leaf's first hash is its index entry's */
	uint32_t marked = hash | 1;
	memcpy(b + 32 + 8 * k, &marked, 4);
	assert_int_equal(ext2fs_write_dir_block4(t, root, b, 0, d), 0);
	assert_int_equal(ext2fs_close_free(&t), 0);
	free(b);
	free(lb);
	load(path);
	assert_int_equal(x->open(img_len, why, sizeof(why)), 0);
	assert_int_equal(x->lookup(x->root(), "mid", 3, &dino), 0);
	unsigned r0 = ins_ext_dir_reads();
	int rc = x->lookup(dino, y, strlen(y), &ino);
	unsigned r = ins_ext_dir_reads() - r0;
	snprintf(path, sizeof(path), "%s/e.img", dir);
	load(path);
	if (rc != 0 || ino != yino)
		fail_msg("mid/%s past a split hash: %d, inode %llu, not %u (%s)", y, rc, (unsigned long long)ino, yino, why_buf);
	assert_int_equal(r, 3); /* the root, the leaf before, the leaf */
}

/* A page's inodes read ahead (ins_fs_ops.prefetch, as the helper does
 * before a READDIRPLUS page's stats): their blocks in exchanges of at
 * most 1 MiB, then each stat reads nothing more. */
struct inos {
	unsigned n;
	uint64_t ino[512];
};

static int ino_one(void *arg, uint64_t ino, const char *name, size_t len, unsigned type, uint64_t after)
{
	struct inos *w = arg;
	(void)len, (void)type, (void)after;
	if (name && w->n < 512)
		w->ino[w->n++] = ino;
	return name && w->n >= 512;
}

static int by_ino(const void *a, const void *b)
{
	uint64_t p = *(const uint64_t *)a, q = *(const uint64_t *)b;
	return p < q ? -1 : p > q;
}

static void test_prefetch(void **state)
{
	char why[200];
	uint64_t d;
	struct ins_stat st;
	static struct inos w;
	(void)state;
	assert_int_equal(x->open(img_len, why, sizeof(why)), 0);
	assert_int_equal(x->lookup(x->root(), "big", 3, &d), 0);
	w.n = 0;
	assert_int_equal(x->list(d, 0, ino_one, &w), 1);
	assert_int_equal(w.n, 512);
	qsort(w.ino, w.n, sizeof(w.ino[0]), by_ino);
	assert_non_null(x->prefetch);
	unsigned f0 = fetches, v0 = fetchvs;
	x->prefetch(w.ino, w.n);
	/* 512 inodes of 256 bytes: 128 blocks of 1 KiB, one exchange */
	assert_int_equal(fetchvs - v0, 1);
	assert_int_equal(fetches, f0);
	for (unsigned i = 0; i < w.n; i++) {
		assert_int_equal(x->stat(w.ino[i], &st), 0);
		assert_true(S_ISREG(st.mode) || S_ISDIR(st.mode) || S_ISLNK(st.mode) || S_ISFIFO(st.mode));
	}
	assert_int_equal(fetches, f0); /* every stat from what was read ahead */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_htree_two_levels),
		cmocka_unit_test(test_htree_one_level),
		cmocka_unit_test(test_htree_continuation),
		cmocka_unit_test(test_no_index),
		cmocka_unit_test(test_listing_types),
		cmocka_unit_test(test_prefetch),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
