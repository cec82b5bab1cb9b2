/*
 * SPEC §18: the partition-table parser (fs/inside/ptable.c) over disks
 * made by sfdisk (MBR: primaries, an extended partition, logical ones) and
 * sgdisk (GPT) on plain files, and over hand-made hostile tables: a
 * logical chain that loops, a GPT whose primary header is damaged (the
 * backup is read) or both, partitions past the disk's end, a boot sector
 * that is not an MBR.  And a boundary table (test_bounds): every limit the
 * parser writes, on disks made in memory, at the limit and one past it.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h> /* crc32: the GPT's CRC-32 */

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

/* ---- the boundary table: disks in memory ---------------------------------- */

#define MEM_MAX (2 * MiB + 4096)
#define SECTORS 2048 /* a 1 MiB disk, unless a case says otherwise */

struct mem {
	uint8_t b[MEM_MAX];
	uint64_t size;
	unsigned reads;
};

static int read_mem(void *arg, void *buf, size_t len, uint64_t off)
{
	struct mem *d = arg;
	d->reads++;
	if (off > d->size || len > d->size - off)
		return -EIO;
	memcpy(buf, d->b + off, len);
	return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> 8 * i);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* An MBR slot (0..3) of the sector at lba: status, type, start, count. */
static void mbr(struct mem *d, uint64_t lba, int slot, uint8_t status, uint8_t type, uint32_t start, uint32_t count)
{
	uint8_t *s = d->b + lba * 512, *e = s + 446 + 16 * slot;
	e[0] = status;
	e[4] = type;
	put32(e + 8, start);
	put32(e + 12, count);
	s[510] = 0x55;
	s[511] = 0xaa;
}

/* An extended partition in slot 0 at [base, base + count) holding a chain
 * of n boot records, one every 2 sectors, each with a logical partition of
 * one sector right after it; the last one ends the chain. */
static void chain(struct mem *d, uint32_t base, uint32_t count, unsigned n)
{
	mbr(d, 0, 0, 0, 0x05, base, count);
	for (unsigned i = 0; i < n; i++) {
		mbr(d, base + 2 * i, 0, 0, 0x83, 1, 1);
		if (i + 1 < n)
			mbr(d, base + 2 * i, 1, 0, 0x05, 2 * (i + 1), 2);
	}
}

/* A GPT header at hlba (hsize bytes of it under the CRC) with nent entries
 * of esize bytes at elba, usable sectors [fu, lu], entry i the sectors
 * part[i][0]..part[i][1] (all zero: unused). */
struct gpt {
	uint64_t hlba, elba, fu, lu;
	uint32_t nent, esize, hsize;
};

static void gpt(struct mem *d, struct gpt g, const uint64_t (*part)[2], unsigned nparts)
{
	uint8_t *h = d->b + g.hlba * 512, *ents = d->b + g.elba * 512;
	mbr(d, 0, 0, 0, 0xee, 1, (uint32_t)(d->size / 512 - 1));
	memset(h, 0, 512);
	memcpy(h, "EFI PART", 8);
	put32(h + 8, 0x10000);
	put32(h + 12, g.hsize ? g.hsize : 92);
	put64(h + 24, g.hlba);
	put64(h + 40, g.fu);
	put64(h + 48, g.lu);
	put64(h + 72, g.elba);
	put32(h + 80, g.nent);
	put32(h + 84, g.esize);
	size_t len = (size_t)g.nent * g.esize;
	if (g.elba * 512 + len <= MEM_MAX) {
		memset(ents, 0, len);
		for (unsigned i = 0; i < nparts; i++) {
			uint8_t *e = ents + (size_t)i * g.esize;
			if (!part[i][0] && !part[i][1])
				continue;
			memset(e, 0xaf, 16); /* a type GUID */
			memset(e + 16, (int)i + 1, 16);
			put64(e + 32, part[i][0]);
			put64(e + 40, part[i][1]);
		}
		put32(h + 88, (uint32_t)crc32(0, ents, (uInt)len));
	}
	uint32_t hs = g.hsize ? g.hsize : 92;
	put32(h + 16, (uint32_t)crc32(0, h, hs <= 512 ? hs : 512));
}

/* The usual GPT of a SECTORS disk: 128 entries of 128 bytes at 2. */
static struct gpt gpt_usual(void)
{
	return (struct gpt){.hlba = 1, .elba = 2, .fu = 34, .lu = SECTORS - 34, .nent = 128, .esize = 128};
}

static void one_part(struct mem *d, struct gpt g, uint64_t first, uint64_t last)
{
	const uint64_t p[1][2] = {{first, last}};
	gpt(d, g, p, 1);
}

/* Each case makes a disk with its k (the limit, or one past it). */
static void mk_primary_end(struct mem *d, int k) /* ends at the disk's end (k 0) or k sectors past */
{
	mbr(d, 0, 0, 0x80, 0x83, SECTORS - 8, 8 + (uint32_t)k);
}
static void mk_primary_start(struct mem *d, int k) /* starts at the last sector (k 0) or past it */
{
	mbr(d, 0, 0, 0, 0x83, SECTORS - 1 + (uint32_t)k, 1);
}
static void mk_primary_empty(struct mem *d, int k)
{
	mbr(d, 0, 0, 0, 0x83, 8, (uint32_t)k);
}
static void mk_status(struct mem *d, int k) /* 0x80 + k */
{
	mbr(d, 0, 1, (uint8_t)(0x80 + k), 0x83, 8, 8);
}
static void mk_partial_sector(struct mem *d, int k) /* a disk of SECTORS and 100 bytes; a primary to its last whole sector, + k */
{
	d->size = SECTORS * 512 + 100;
	mbr(d, 0, 0, 0, 0x83, SECTORS - 8, 8 + (uint32_t)k);
}
static void mk_small_disk(struct mem *d, int k) /* 1024 bytes (two sectors) - k */
{
	d->size = 1024 - (uint64_t)k;
	mbr(d, 0, 0, 0, 0x83, 1, 1);
}
static void mk_extended_end(struct mem *d, int k) /* the extended partition ends at the disk's end, or past it */
{
	chain(d, SECTORS / 2, SECTORS / 2 + (uint32_t)k, 1);
}
static void mk_logical_end(struct mem *d, int k) /* the logical partition ends at its extended's end, or past it */
{
	mbr(d, 0, 0, 0, 0x05, 1024, 16);
	mbr(d, 1024, 0, 0, 0x83, 8, 8 + (uint32_t)k);
}
static void mk_logical_start(struct mem *d, int k) /* the logical partition starts at its extended's last sector, or past */
{
	mbr(d, 0, 0, 0, 0x05, 1024, 16);
	mbr(d, 1024, 0, 0, 0x83, 15 + (uint32_t)k, 1);
}
static void mk_ebr_last(struct mem *d, int k) /* the second boot record in the extended's last sector, or just past */
{
	mbr(d, 0, 0, 0, 0x05, 1024, 16);
	mbr(d, 1024, 0, 0, 0x83, 1, 1);
	mbr(d, 1024, 1, 0, 0x05, 15 + (uint32_t)k, 1);
	mbr(d, 1024 + 15 + (uint32_t)k, 0, 0, 0x83, 0, 1); /* a logical partition over its own record */
}
static void mk_ebr_forward(struct mem *d, int k) /* the second record's next 1 sector on (k 1), or itself (k 0) */
{
	mbr(d, 0, 0, 0, 0x05, 1024, 64);
	mbr(d, 1024, 0, 0, 0x83, 1, 1);
	mbr(d, 1024, 1, 0, 0x05, 2, 1);
	mbr(d, 1026, 0, 0, 0x83, 1, 1);
	mbr(d, 1026, 1, 0, 0x05, 2 + (uint32_t)k, 1);
	if (k)
		mbr(d, 1027, 0, 0, 0x83, 1, 1);
}
static void mk_logical_chain(struct mem *d, int k) /* PT_MAX_LOGICAL + k boot records */
{
	chain(d, 256, 1024, (unsigned)(PT_MAX_LOGICAL + k));
}
static void mk_logical_numbers(struct mem *d, int k) /* logical partitions 5..31 (k 0), and 32 (k 1) */
{
	chain(d, 256, 1024, (unsigned)(PT_MAX_NUMBER - 4 + k));
}
static void mk_two_extended(struct mem *d, int k) /* a second extended partition (k 1) is not read */
{
	chain(d, 256, 256, 1);
	if (k)
		mbr(d, 0, 1, 0, 0x0f, 1024, 256);
	mbr(d, 1024, 0, 0, 0x83, 1, 1);
}
static void mk_gpt_entries(struct mem *d, int k) /* PT_MAX_NUMBER + k entries in use */
{
	uint64_t p[40][2];
	for (int i = 0; i < PT_MAX_NUMBER + k; i++) {
		p[i][0] = 40 + 2 * (uint64_t)i;
		p[i][1] = 40 + 2 * (uint64_t)i;
	}
	gpt(d, gpt_usual(), (const uint64_t(*)[2])p, (unsigned)(PT_MAX_NUMBER + k));
}
static void mk_gpt_first(struct mem *d, int k) /* first at first usable, or one before */
{
	one_part(d, gpt_usual(), 34 - (uint64_t)k, 100);
}
static void mk_gpt_last(struct mem *d, int k) /* last at last usable, or one after */
{
	one_part(d, gpt_usual(), 100, SECTORS - 34 + (uint64_t)k);
}
static void mk_gpt_one_sector(struct mem *d, int k) /* first == last, or first one past last */
{
	one_part(d, gpt_usual(), 100 + (uint64_t)k, 100);
}
static void mk_gpt_last_usable(struct mem *d, int k) /* last usable the disk's last sector, or past it */
{
	struct gpt g = gpt_usual();
	g.lu = SECTORS - 1 + (uint64_t)k;
	one_part(d, g, 100, 200);
}
static void mk_gpt_usable_order(struct mem *d, int k) /* first usable == last usable, or past it */
{
	struct gpt g = gpt_usual();
	g.fu = 100 + (uint64_t)k;
	g.lu = 100;
	one_part(d, g, 100, 100);
}
static void mk_gpt_hsize_low(struct mem *d, int k) /* a header of 92 bytes, or 91 */
{
	struct gpt g = gpt_usual();
	g.hsize = 92 - (uint32_t)k;
	one_part(d, g, 100, 200);
}
static void mk_gpt_hsize_high(struct mem *d, int k) /* a header of a sector, or 513 bytes */
{
	struct gpt g = gpt_usual();
	g.hsize = 512 + (uint32_t)k;
	one_part(d, g, 100, 200);
}
static void mk_gpt_esize_low(struct mem *d, int k) /* entries of 128 bytes, or 64 */
{
	struct gpt g = gpt_usual();
	g.esize = 128 >> k;
	one_part(d, g, 100, 200);
}
static void mk_gpt_esize_high(struct mem *d, int k) /* entries of 1024 bytes, or 2048 (128 of them then 16, 8) */
{
	struct gpt g = gpt_usual();
	g.esize = 1024u << k;
	g.nent = 16u >> k;
	one_part(d, g, 100, 200);
}
static void mk_gpt_esize_pow2(struct mem *d, int k) /* entries of 256 bytes, or 384 */
{
	struct gpt g = gpt_usual();
	g.esize = k ? 384 : 256;
	g.nent = 4;
	one_part(d, g, 100, 200);
}
static void mk_gpt_nent(struct mem *d, int k) /* 1024 entries (128 KiB), or 1025 */
{
	struct gpt g = gpt_usual();
	g.nent = 1024 + (uint32_t)k;
	g.fu = 400;
	one_part(d, g, 400, 500);
}
static void mk_gpt_array_bytes(struct mem *d, int k) /* 128 entries of 1024 bytes (128 KiB), or 129 */
{
	struct gpt g = gpt_usual();
	g.esize = 1024;
	g.nent = 128 + (uint32_t)k;
	g.fu = 400;
	one_part(d, g, 400, 500);
}
static void mk_gpt_nent_zero(struct mem *d, int k) /* 1 entry, or none */
{
	struct gpt g = gpt_usual();
	g.nent = 1 - (uint32_t)k;
	one_part(d, g, 100, 200);
}
static void mk_gpt_array_end(struct mem *d, int k) /* the entry array ends at the disk's end, or a sector past */
{
	struct gpt g = gpt_usual();
	g.elba = SECTORS - 32 + (uint64_t)k;
	g.lu = SECTORS - 40;
	one_part(d, g, 100, 200);
}
static void mk_gpt_backup(struct mem *d, int k) /* a backup header at the last sector; the primary too (k 0) or broken */
{
	struct gpt g = gpt_usual();
	g.hlba = SECTORS - 1;
	g.elba = SECTORS - 33;
	g.lu = SECTORS - 34;
	one_part(d, g, 100, 200);
	if (!k) {
		one_part(d, gpt_usual(), 100, 300);
	} else {
		mbr(d, 0, 0, 0, 0xee, 1, SECTORS - 1);
		memcpy(d->b + 512, "EFI PARX", 8);
	}
}

static void test_bounds(void **state)
{
	(void)state;
	/* what each case makes of its disk: scheme, kept, skipped, a note or
	 * not (-1: either), the first partition's number and sector count */
	static const struct {
		const char *what;
		void (*make)(struct mem *, int);
		int k;
		enum pt_scheme scheme;
		unsigned count, skipped;
		int note;
		unsigned number;
		uint64_t sectors;
	} cases[] = {
		{"primary ends at the disk's end", mk_primary_end, 0, PT_MBR, 1, 0, 0, 1, 8},
		{"primary ends 1 sector past the disk", mk_primary_end, 1, PT_MBR, 0, 1, 0, 0, 0},
		{"primary starts at the disk's last sector", mk_primary_start, 0, PT_MBR, 1, 0, 0, 1, 1},
		{"primary starts past the disk", mk_primary_start, 1, PT_MBR, 0, 1, 0, 0, 0},
		{"primary of 1 sector", mk_primary_empty, 1, PT_MBR, 1, 0, 0, 1, 1},
		{"primary of 0 sectors", mk_primary_empty, 0, PT_MBR, 0, 1, 0, 0, 0},
		{"status 0x80", mk_status, 0, PT_MBR, 1, 0, 0, 2, 8},
		{"status 0x81", mk_status, 1, PT_NONE, 0, 0, 1, 0, 0},
		{"status 0x7f", mk_status, -1, PT_NONE, 0, 0, 1, 0, 0},
		{"primary to a partial sector's start", mk_partial_sector, 0, PT_MBR, 1, 0, 0, 1, 8},
		{"primary over a partial last sector", mk_partial_sector, 1, PT_MBR, 0, 1, 0, 0, 0},
		{"a disk of 2 sectors", mk_small_disk, 0, PT_MBR, 1, 0, 0, 1, 1},
		{"a disk of 2 sectors less a byte", mk_small_disk, 1, PT_NONE, 0, 0, 0, 0, 0},
		{"extended ends at the disk's end", mk_extended_end, 0, PT_MBR, 1, 0, 0, 5, 1},
		{"extended ends 1 sector past the disk", mk_extended_end, 1, PT_MBR, 0, 1, 0, 0, 0},
		{"logical ends at its extended's end", mk_logical_end, 0, PT_MBR, 1, 0, -1, 5, 8},
		{"logical ends 1 sector past its extended", mk_logical_end, 1, PT_MBR, 0, 1, -1, 0, 0},
		{"logical starts at its extended's last sector", mk_logical_start, 0, PT_MBR, 1, 0, -1, 5, 1},
		{"logical starts past its extended", mk_logical_start, 1, PT_MBR, 0, 1, -1, 0, 0},
		{"a boot record in the extended's last sector", mk_ebr_last, 0, PT_MBR, 2, 0, -1, 5, 1},
		{"a boot record past the extended", mk_ebr_last, 1, PT_MBR, 1, 0, 1, 5, 1},
		{"the chain's next record 1 sector on", mk_ebr_forward, 1, PT_MBR, 3, 0, 0, 5, 1},
		{"the chain's next record the same one", mk_ebr_forward, 0, PT_MBR, 2, 0, 1, 5, 1},
		{"PT_MAX_LOGICAL boot records", mk_logical_chain, 0, PT_MBR, PT_MAX_NUMBER - 4, PT_MAX_LOGICAL - 27, 0, 5, 1},
		{"PT_MAX_LOGICAL + 1 boot records", mk_logical_chain, 1, PT_MBR, PT_MAX_NUMBER - 4, PT_MAX_LOGICAL - 27, 1, 5,
		 1},
		{"logical partitions up to PT_MAX_NUMBER", mk_logical_numbers, 0, PT_MBR, PT_MAX_NUMBER - 4, 0, 0, 5, 1},
		{"a logical partition PT_MAX_NUMBER + 1", mk_logical_numbers, 1, PT_MBR, PT_MAX_NUMBER - 4, 1, 0, 5, 1},
		{"one extended partition", mk_two_extended, 0, PT_MBR, 1, 0, 0, 5, 1},
		{"a second extended partition", mk_two_extended, 1, PT_MBR, 1, 1, 0, 5, 1},
		{"GPT entries up to PT_MAX_NUMBER", mk_gpt_entries, 0, PT_GPT, PT_MAX_NUMBER, 0, 0, 1, 1},
		{"GPT entry PT_MAX_NUMBER + 1", mk_gpt_entries, 1, PT_GPT, PT_MAX_NUMBER, 1, 0, 1, 1},
		{"GPT entry from the first usable sector", mk_gpt_first, 0, PT_GPT, 1, 0, 0, 1, 67},
		{"GPT entry from before it", mk_gpt_first, 1, PT_GPT, 0, 1, 0, 0, 0},
		{"GPT entry to the last usable sector", mk_gpt_last, 0, PT_GPT, 1, 0, 0, 1, SECTORS - 133},
		{"GPT entry past it", mk_gpt_last, 1, PT_GPT, 0, 1, 0, 0, 0},
		{"GPT entry of one sector", mk_gpt_one_sector, 0, PT_GPT, 1, 0, 0, 1, 1},
		{"GPT entry ending before it starts", mk_gpt_one_sector, 1, PT_GPT, 0, 1, 0, 0, 0},
		{"GPT usable to the last sector", mk_gpt_last_usable, 0, PT_GPT, 1, 0, 0, 1, 101},
		{"GPT usable past the last sector", mk_gpt_last_usable, 1, PT_NONE, 0, 0, 1, 0, 0},
		{"GPT usable range of one sector", mk_gpt_usable_order, 0, PT_GPT, 1, 0, 0, 1, 1},
		{"GPT usable range reversed", mk_gpt_usable_order, 1, PT_NONE, 0, 0, 1, 0, 0},
		{"GPT header of 92 bytes", mk_gpt_hsize_low, 0, PT_GPT, 1, 0, 0, 1, 101},
		{"GPT header of 91 bytes", mk_gpt_hsize_low, 1, PT_NONE, 0, 0, 1, 0, 0},
		{"GPT header of 512 bytes", mk_gpt_hsize_high, 0, PT_GPT, 1, 0, 0, 1, 101},
		{"GPT header of 513 bytes", mk_gpt_hsize_high, 1, PT_NONE, 0, 0, 1, 0, 0},
		{"GPT entries of 128 bytes", mk_gpt_esize_low, 0, PT_GPT, 1, 0, 0, 1, 101},
		{"GPT entries of 64 bytes", mk_gpt_esize_low, 1, PT_NONE, 0, 0, 1, 0, 0},
		{"GPT entries of 1024 bytes", mk_gpt_esize_high, 0, PT_GPT, 1, 0, 0, 1, 101},
		{"GPT entries of 2048 bytes", mk_gpt_esize_high, 1, PT_NONE, 0, 0, 1, 0, 0},
		{"GPT entries of 256 bytes", mk_gpt_esize_pow2, 0, PT_GPT, 1, 0, 0, 1, 101},
		{"GPT entries of 384 bytes", mk_gpt_esize_pow2, 1, PT_NONE, 0, 0, 1, 0, 0},
		{"GPT of 1024 entries", mk_gpt_nent, 0, PT_GPT, 1, 0, 0, 1, 101},
		{"GPT of 1025 entries", mk_gpt_nent, 1, PT_NONE, 0, 0, 1, 0, 0},
		{"GPT entry array of 128 KiB", mk_gpt_array_bytes, 0, PT_GPT, 1, 0, 0, 1, 101},
		{"GPT entry array of 129 KiB", mk_gpt_array_bytes, 1, PT_NONE, 0, 0, 1, 0, 0},
		{"GPT of 1 entry", mk_gpt_nent_zero, 0, PT_GPT, 1, 0, 0, 1, 101},
		{"GPT of no entry", mk_gpt_nent_zero, 1, PT_NONE, 0, 0, 1, 0, 0},
		{"GPT entry array to the disk's end", mk_gpt_array_end, 0, PT_GPT, 1, 0, 0, 1, 101},
		{"GPT entry array 1 sector past it", mk_gpt_array_end, 1, PT_NONE, 0, 0, 1, 0, 0},
		{"GPT primary and backup: the primary read", mk_gpt_backup, 0, PT_GPT, 1, 0, 0, 1, 201},
		{"GPT backup only", mk_gpt_backup, 1, PT_GPT, 1, 0, 0, 1, 101},
	};
	static struct mem d;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pt_table t;
		memset(d.b, 0, sizeof(d.b));
		d.size = SECTORS * 512;
		d.reads = 0;
		cases[i].make(&d, cases[i].k);
		int rc = pt_parse(read_mem, &d, d.size, &t);
		bool ok = rc == 0 && t.scheme == cases[i].scheme && t.count == cases[i].count &&
		          t.skipped == cases[i].skipped && (cases[i].note < 0 || (t.note[0] != '\0') == cases[i].note) &&
		          (!t.count || (t.parts[0].number == cases[i].number && t.parts[0].size == cases[i].sectors * 512));
		if (!ok)
			fail_msg("%s: rc %d, scheme %d, %u kept (first %u, %llu sectors), %u skipped, note \"%s\"; want scheme %d, "
			         "%u kept (first %u, %llu sectors), %u skipped, %s",
			         cases[i].what, rc, t.scheme, t.count, t.count ? t.parts[0].number : 0,
			         t.count ? (unsigned long long)t.parts[0].size / 512 : 0ull, t.skipped, t.note, cases[i].scheme,
			         cases[i].count, cases[i].number, (unsigned long long)cases[i].sectors, cases[i].skipped,
			         cases[i].note < 0 ? "any note" : cases[i].note ? "a note" : "no note");
		/* nothing is read of a disk too small for a table; a chain is
		 * read PT_MAX_LOGICAL records at most */
		if (cases[i].make == mk_small_disk && cases[i].k)
			assert_int_equal(d.reads, 0);
		if (cases[i].make == mk_logical_chain)
			assert_true(d.reads <= 1 + PT_MAX_LOGICAL);
	}
}

/* More cases, each where a check decides alone: what a one-line bug in
 * that check would change (scripts/mutate's survivors, killed). */
static void mk_odd_disk(struct mem *d, int k) /* a disk of SECTORS sectors less a byte; a primary to its end (k 0), or an extended */
{
	d->size = SECTORS * 512 - 1;
	if (k)
		chain(d, SECTORS / 2, SECTORS / 2, 1);
	else
		mbr(d, 0, 0, 0, 0x83, SECTORS - 8, 8);
}
static void mk_no_signature(struct mem *d, int k) /* sector 0's 0x55aa: 0x55 0x00 (k 0), 0x00 0xaa (k 1) */
{
	mbr(d, 0, 0, 0, 0x83, 8, 8);
	d->b[510 + k] = 0;
}
static void mk_no_entry(struct mem *d, int k) /* an MBR signature, no partition (k 0); one in the 4th slot only (k 1) */
{
	mbr(d, 0, 3, 0, (uint8_t)(k ? 0x83 : 0), 8, (uint32_t)k * 8);
}
static void mk_ebr_signature(struct mem *d, int k) /* the second boot record without its signature's first (k 0) or second byte */
{
	mbr(d, 0, 0, 0, 0x05, 1024, 16);
	mbr(d, 1024, 0, 0, 0x83, 1, 1);
	mbr(d, 1024, 1, 0, 0x05, 2, 1);
	mbr(d, 1026, 0, 0, 0x83, 1, 1);
	d->b[1026 * 512 + 510 + k] = 0;
}
static void mk_extended_types(struct mem *d, int k) /* a chain in a partition of type 0x85 (k 0), 0x0f (k 1); 0x84, 0x86 are not extended (k 2, 3) */
{
	static const uint8_t type[] = {0x85, 0x0f, 0x84, 0x86};
	chain(d, 256, 256, 1);
	d->b[446 + 4] = type[k];
}
static void mk_link_not_extended(struct mem *d, int k) /* the record's second entry: a partition (0x83), not a link (k 0); a link of start 0 (k 1) */
{
	mbr(d, 0, 0, 0, 0x05, 1024, 64);
	mbr(d, 1024, 0, 0, 0x83, 1, 1);
	mbr(d, 1024, 1, 0, (uint8_t)(k ? 0x05 : 0x83), k ? 0 : 2, 1);
	mbr(d, 1026, 0, 0, 0x83, 1, 1);
}
static void mk_empty_record(struct mem *d, int k) /* the first record holds no partition, only the link (k 0); or a type 0x01 one (k 1) */
{
	mbr(d, 0, 0, 0, 0x05, 1024, 64);
	mbr(d, 1024, 0, 0, (uint8_t)k, (uint32_t)k, (uint32_t)k);
	mbr(d, 1024, 1, 0, 0x05, 2, 1);
	mbr(d, 1026, 0, 0, 0x83, 1, 1);
}
static void mk_second_logical_end(struct mem *d, int k) /* the second record's partition ends at the extended's end, or past */
{
	mbr(d, 0, 0, 0, 0x05, 1024, 16);
	mbr(d, 1024, 0, 0, 0x83, 1, 1);
	mbr(d, 1024, 1, 0, 0x05, 4, 1);
	mbr(d, 1028, 0, 0, 0x83, 1, 11 + (uint32_t)k);
}
static void mk_extended_first(struct mem *d, int k) /* the extended in slot 1, a primary in slot 2: numbers sorted (2, 5) */
{
	(void)k;
	chain(d, 256, 256, 1);
	mbr(d, 0, 1, 0, 0x83, 8, 8);
}
static void mk_gpt_entries_crc(struct mem *d, int k) /* the entry array's CRC one off (k 1), on a disk with no backup */
{
	one_part(d, gpt_usual(), 100, 200);
	if (k) { /* the array's CRC one off, the header's CRC made again over it */
		uint8_t *h = d->b + 512;
		uint32_t ecrc = (uint32_t)(h[88] | h[89] << 8 | h[90] << 16 | (uint32_t)h[91] << 24) + 1;
		put32(h + 88, ecrc);
		put32(h + 16, 0);
		put32(h + 16, (uint32_t)crc32(0, h, 92));
	}
}
static void mk_gpt_array_last_sector(struct mem *d, int k) /* 4 entries in the disk's last sector (k 0), in the one before it */
{
	struct gpt g = gpt_usual();
	g.nent = 4;
	g.elba = SECTORS - 1 - (uint64_t)k;
	g.lu = SECTORS - 40;
	one_part(d, g, 100, 200);
}
static void mk_protective_only(struct mem *d, int k) /* a protective MBR, no GPT header anywhere */
{
	(void)k;
	mbr(d, 0, 0, 0, 0xee, 1, SECTORS - 1);
}

static void test_bounds_alone(void **state)
{
	(void)state;
	static const struct {
		const char *what;
		void (*make)(struct mem *, int);
		int k;
		enum pt_scheme scheme;
		unsigned count, skipped;
		const char *note; /* NULL: none; else a part of it */
		unsigned number;  /* the first partition's */
		uint8_t type;     /* the first partition's MBR type, 0: not checked */
	} cases[] = {
		{"a primary to a disk a byte short of its last sector", mk_odd_disk, 0, PT_MBR, 0, 1, NULL, 0, 0},
		{"an extended to a disk a byte short of its last sector", mk_odd_disk, 1, PT_MBR, 0, 1, NULL, 0, 0},
		{"sector 0 ending 0x55 0x00", mk_no_signature, 0, PT_NONE, 0, 0, NULL, 0, 0},
		{"sector 0 ending 0x00 0xaa", mk_no_signature, 1, PT_NONE, 0, 0, NULL, 0, 0},
		{"an MBR with no partition", mk_no_entry, 0, PT_NONE, 0, 0, NULL, 0, 0},
		{"a partition in the 4th slot only", mk_no_entry, 1, PT_MBR, 1, 0, NULL, 4, 0x83},
		{"a second record ending 0x00 0xaa", mk_ebr_signature, 0, PT_MBR, 1, 0, "chain ends early", 5, 0x83},
		{"a second record ending 0x55 0x00", mk_ebr_signature, 1, PT_MBR, 1, 0, "chain ends early", 5, 0x83},
		{"a chain in a 0x85 partition", mk_extended_types, 0, PT_MBR, 1, 0, NULL, 5, 0x83},
		{"a chain in a 0x0f partition", mk_extended_types, 1, PT_MBR, 1, 0, NULL, 5, 0x83},
		{"0x84 is a partition, not an extended one", mk_extended_types, 2, PT_MBR, 1, 0, NULL, 1, 0x84},
		{"0x86 is a partition, not an extended one", mk_extended_types, 3, PT_MBR, 1, 0, NULL, 1, 0x86},
		{"a record's second entry that is no link", mk_link_not_extended, 0, PT_MBR, 1, 0, NULL, 5, 0x83},
		{"a link of start 0 ends the chain", mk_link_not_extended, 1, PT_MBR, 1, 0, NULL, 5, 0x83},
		{"a record with only the link", mk_empty_record, 0, PT_MBR, 1, 0, NULL, 5, 0x83},
		{"a record of a type 0x01 partition of one sector", mk_empty_record, 1, PT_MBR, 2, 0, NULL, 5, 0x01},
		{"the second logical to the extended's end", mk_second_logical_end, 0, PT_MBR, 2, 0, NULL, 5, 0x83},
		{"the second logical a sector past", mk_second_logical_end, 1, PT_MBR, 1, 1, NULL, 5, 0x83},
		{"primaries before logical ones", mk_extended_first, 0, PT_MBR, 2, 0, NULL, 2, 0x83},
		{"a GPT entry array of the right CRC", mk_gpt_entries_crc, 0, PT_GPT, 1, 0, NULL, 1, 0},
		{"a GPT entry array whose CRC is one off", mk_gpt_entries_crc, 1, PT_NONE, 0, 0, "entry array fails its CRC", 0, 0},
		{"a GPT entry array in the last sector", mk_gpt_array_last_sector, 0, PT_GPT, 1, 0, NULL, 1, 0},
		{"a GPT entry array in the sector before", mk_gpt_array_last_sector, 1, PT_GPT, 1, 0, NULL, 1, 0},
		{"a protective MBR and no GPT", mk_protective_only, 0, PT_NONE, 0, 0, "no GPT header at sector 1", 0, 0},
		{"a GPT header of 513 bytes: its size named", mk_gpt_hsize_high, 1, PT_NONE, 0, 0, "header size 513 out of bounds", 0, 0},
	};
	static struct mem d;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pt_table t;
		memset(d.b, 0, sizeof(d.b));
		d.size = SECTORS * 512;
		cases[i].make(&d, cases[i].k);
		int rc = pt_parse(read_mem, &d, d.size, &t);
		bool ok = rc == 0 && t.scheme == cases[i].scheme && t.count == cases[i].count &&
		          t.skipped == cases[i].skipped &&
		          (cases[i].note ? strstr(t.note, cases[i].note) != NULL : t.note[0] == '\0') &&
		          (!t.count || (t.parts[0].number == cases[i].number &&
		                        (!cases[i].type || t.parts[0].mbr_type == cases[i].type)));
		if (!ok)
			fail_msg("%s: rc %d, scheme %d, %u kept (first %u, type 0x%02x), %u skipped, note \"%s\"", cases[i].what,
			         rc, t.scheme, t.count, t.count ? t.parts[0].number : 0, t.count ? t.parts[0].mbr_type : 0,
			         t.skipped, t.note);
	}
}

/* A read that fails is the parse's answer, whichever read it is: the
 * boot sector, a GPT header, its entry array, the backup header, a boot
 * record of the chain.  (-EPERM, not only -EIO: the caller's errno is
 * passed on as it is.) */
struct failing {
	struct mem *d;
	uint64_t at; /* the read of this byte offset fails */
	int err;
};

static int read_failing(void *arg, void *buf, size_t len, uint64_t off)
{
	struct failing *f = arg;
	if (off <= f->at && f->at < off + len)
		return f->err;
	return read_mem(f->d, buf, len, off);
}

static void test_read_errors(void **state)
{
	(void)state;
	static struct mem d;
	static const struct {
		const char *what;
		void (*make)(struct mem *, int);
		int k;
		uint64_t at;
	} cases[] = {
		{"the boot sector", mk_primary_end, 0, 0},
		{"the GPT header", mk_gpt_first, 0, 512},
		{"the GPT entry array", mk_gpt_first, 0, 2 * 512},
		{"the backup GPT header", mk_gpt_backup, 1, (SECTORS - 1) * 512},
		{"the first boot record", mk_logical_end, 0, 1024 * 512},
		{"the second boot record", mk_ebr_signature, 0, 1026 * 512},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (int err = -EIO; err <= -EPERM; err += EIO - EPERM) {
			struct pt_table t;
			memset(d.b, 0, sizeof(d.b));
			d.size = SECTORS * 512;
			cases[i].make(&d, cases[i].k);
			struct failing f = {&d, cases[i].at, err};
			int rc = pt_parse(read_failing, &f, d.size, &t);
			if (rc != err)
				fail_msg("a failing read of %s: %d, want %d", cases[i].what, rc, err);
		}
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
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_bounds_alone),
		cmocka_unit_test(test_read_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
