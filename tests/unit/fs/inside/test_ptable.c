/*
 * SPEC §18: the partition-table parser (fs/inside/ptable.c) over disks
 * made by sfdisk (MBR: primaries, an extended partition, logical ones) and
 * sgdisk (GPT) on plain files, and over hand-made hostile tables: a
 * logical chain that loops, a GPT whose primary header is damaged (the
 * backup is read) or both, partitions past the disk's end, a boot sector
 * that is not an MBR.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ins_ptable.h"

#define MiB (1024 * 1024)

static char dir[] = "/tmp/imgfs-ptable-XXXXXX";

struct disk {
	int fd;
	uint64_t size;
	unsigned reads;
};

static int read_fd(void *arg, void *buf, size_t len, uint64_t off)
{
	struct disk *d = arg;
	d->reads++;
	ssize_t n = pread(d->fd, buf, len, (off_t)off);
	return n < 0 ? -errno : (size_t)n != len ? -EIO : 0;
}

/* A sparse file of size bytes, partitioned by cmd (run with the file's path
 * as $1, its table on stdin). */
static void make_disk(const char *name, uint64_t size, const char *cmd, const char *script)
{
	char path[256], sh[1024];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
	snprintf(sh, sizeof(sh), "PATH=/usr/sbin:/sbin:$PATH; printf '%%s' '%s' | %s '%s' >/dev/null 2>&1", script, cmd, path);
	if (system(sh) != 0)
		fail_msg("%s failed on %s", cmd, path);
}

static int parse(const char *name, struct pt_table *t, struct disk *d)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	d->fd = open(path, O_RDONLY);
	assert_true(d->fd >= 0);
	d->size = (uint64_t)lseek(d->fd, 0, SEEK_END);
	d->reads = 0;
	int rc = pt_parse(read_fd, d, d->size, t);
	close(d->fd);
	return rc;
}

static void patch(const char *name, uint64_t off, const void *bytes, size_t len)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, bytes, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void test_mbr_logical(void **state)
{
	struct pt_table t;
	struct disk d;
	/* 1, 2 primaries, 3 extended holding 5 and 6, 4 primary. */
	make_disk("mbr.raw", 64 * MiB, "sfdisk -q",
	          "label: dos\n"
	          "start=2048, size=8192, type=83\n"
	          "start=10240, size=8192, type=82\n"
	          "start=18432, size=61440, type=5\n"
	          "start=102400, size=8192, type=83\n"
	          "start=20480, size=8192, type=83\n"
	          "start=30720, size=16384, type=83\n");
	assert_int_equal(parse("mbr.raw", &t, &d), 0);
	assert_int_equal(t.scheme, PT_MBR);
	assert_int_equal(t.count, 5);
	static const unsigned num[] = {1, 2, 4, 5, 6};
	static const uint64_t start[] = {2048, 10240, 102400, 20480, 30720}, size[] = {8192, 8192, 8192, 8192, 16384};
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(t.parts[i].number, num[i]);
		assert_int_equal(t.parts[i].start, start[i] * 512);
		assert_int_equal(t.parts[i].size, size[i] * 512);
	}
	assert_int_equal(t.parts[1].mbr_type, 0x82);
	assert_int_equal(t.skipped, 0);
}

static void test_mbr_loop(void **state)
{
	struct pt_table t;
	struct disk d;
	make_disk("loop.raw", 16 * MiB, "sfdisk -q",
	          "label: dos\nstart=2048, size=16384, type=5\nstart=4096, size=2048, type=83\n");
	/* The logical partition's EBR (at 2048) now points at itself. */
	uint8_t next[16] = {0, 0, 0, 0, 0x05, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0};
	patch("loop.raw", 2048 * 512 + 462, next, sizeof(next));
	assert_int_equal(parse("loop.raw", &t, &d), 0);
	assert_int_equal(t.count, 1);
	assert_int_equal(t.parts[0].number, 5);
	assert_true(d.reads < 8);
	/* A chain that goes forward forever is cut at PT_MAX_LOGICAL. */
	make_disk("long.raw", 64 * MiB, "sfdisk -q", "label: dos\nstart=2048, size=126976, type=5\n");
	for (unsigned i = 0; i < 100; i++) {
		uint8_t s[512] = {0};
		uint32_t rel = 1, len = 1, nxt = (i + 1) * 8;
		s[446 + 4] = 0x83;
		memcpy(s + 446 + 8, &rel, 4);
		memcpy(s + 446 + 12, &len, 4);
		s[462 + 4] = 0x05;
		memcpy(s + 462 + 8, &nxt, 4);
		memcpy(s + 462 + 12, &len, 4);
		s[510] = 0x55;
		s[511] = 0xaa;
		patch("long.raw", (2048 + i * 8) * 512ull, s, sizeof(s));
	}
	assert_int_equal(parse("long.raw", &t, &d), 0);
	assert_true(d.reads <= PT_MAX_LOGICAL + 1);
	assert_int_equal(t.count + t.skipped, PT_MAX_LOGICAL);
	assert_true(t.note[0] != '\0');
}

static void test_gpt(void **state)
{
	struct pt_table t;
	struct disk d;
	char path[256], sh[512];
	snprintf(path, sizeof(path), "%s/gpt.raw", dir);
	make_disk("gpt.raw", 64 * MiB, "true", "");
	snprintf(sh, sizeof(sh),
	         "PATH=/usr/sbin:/sbin:$PATH; sgdisk -n 1:2048:+8M -t 1:ef00 -n 2:0:+16M -n 5:0:+4M '%s' >/dev/null 2>&1",
	         path);
	if (system(sh) != 0)
		fail_msg("sgdisk failed (scripts/install-deps installs gdisk)");
	assert_int_equal(parse("gpt.raw", &t, &d), 0);
	assert_int_equal(t.scheme, PT_GPT);
	assert_int_equal(t.count, 3);
	assert_int_equal(t.parts[0].number, 1);
	assert_int_equal(t.parts[0].start, 2048 * 512);
	assert_int_equal(t.parts[0].size, 8 * MiB);
	assert_int_equal(t.parts[1].number, 2);
	assert_int_equal(t.parts[1].size, 16 * MiB);
	assert_int_equal(t.parts[2].number, 5);
	/* EFI System Partition's type GUID, as stored (mixed-endian). */
	static const uint8_t esp[16] = {0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11,
	                                0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b};
	assert_memory_equal(t.parts[0].gpt_type, esp, 16);

	/* The primary header damaged: the backup at the last sector is read
	 * (more reads than the primary alone takes). */
	unsigned primary_reads = d.reads;
	patch("gpt.raw", 512 + 24, "garbage", 7);
	assert_int_equal(parse("gpt.raw", &t, &d), 0);
	assert_int_equal(t.scheme, PT_GPT);
	assert_int_equal(t.count, 3);
	assert_true(d.reads > primary_reads);
	/* Both damaged: no table, and a note saying why. */
	patch("gpt.raw", 64 * MiB - 512 + 24, "garbage", 7);
	assert_int_equal(parse("gpt.raw", &t, &d), 0);
	assert_int_equal(t.scheme, PT_NONE);
	assert_int_equal(t.count, 0);
	assert_non_null(strstr(t.note, "backup"));
}

static void test_not_tables(void **state)
{
	struct pt_table t;
	struct disk d;
	make_disk("none.raw", 4 * MiB, "true", "");
	assert_int_equal(parse("none.raw", &t, &d), 0);
	assert_int_equal(t.scheme, PT_NONE);
	/* A boot sector (FAT's jump and OEM name) with 0x55aa: not an MBR. */
	uint8_t boot[512] = {0xeb, 0x3c, 0x90, 'm', 'k', 'f', 's', '.', 'f', 'a', 't'};
	memset(boot + 446, 0x41, 64);
	boot[510] = 0x55;
	boot[511] = 0xaa;
	patch("none.raw", 0, boot, sizeof(boot));
	assert_int_equal(parse("none.raw", &t, &d), 0);
	assert_int_equal(t.scheme, PT_NONE);
	assert_non_null(strstr(t.note, "not an MBR"));
	/* A partition past the end of the disk is skipped, not kept. */
	make_disk("short.raw", 4 * MiB, "sfdisk -q", "label: dos\nstart=2048, size=2048, type=83\n");
	uint8_t big[4] = {0x00, 0x00, 0x10, 0x00}; /* 1 M sectors */
	patch("short.raw", 446 + 12, big, 4);
	assert_int_equal(parse("short.raw", &t, &d), 0);
	assert_int_equal(t.count, 0);
	assert_int_equal(t.skipped, 1);
	/* Too small to hold a table. */
	struct disk tiny = {0};
	assert_int_equal(pt_parse(read_fd, &tiny, 100, &t), 0);
	assert_int_equal(t.scheme, PT_NONE);
}

static int setup(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char sh[128];
	snprintf(sh, sizeof(sh), "rm -rf '%s'", dir);
	return system(sh) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mbr_logical),
		cmocka_unit_test(test_mbr_loop),
		cmocka_unit_test(test_gpt),
		cmocka_unit_test(test_not_tables),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
