/*
 * SPEC §18: imgfs's own XFS reader (fs/inside/xfs.c), fed from memory as
 * its fuzz target feeds it (tests/fuzz/xfs_walk.h), over volumes made by
 * mkfs.xfs -p on plain files (tests/fuzz/xfs-seeds: v5 and v4, 4 KiB and
 * 1 KiB blocks, shortform, block and leaf directories, local and remote
 * links, a device node, a fifo) and corrupted copies: the whole tree
 * walks with no error, and what is damaged is EIO with its reason.  The
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
		assert_int_equal(xw_walk(&ins_fs_xfs, &c), 0);
		if (c.errors)
			fail_msg("%s: %u errors, the last: %s", names[i], c.errors, xw_why);
		assert_int_equal(c.dirs, 4);    /* /, few (shortform), blockdir, leafdir */
		assert_int_equal(c.files, 5);
		assert_int_equal(c.links, 323); /* short, long, remote, 20 + 300 */
		assert_int_equal(c.others, 2);  /* null, fifo */
		assert_int_equal(c.bytes, 5 * 10240);
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
		cmocka_unit_test(test_corpus),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
