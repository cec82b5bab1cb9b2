/*
 * SPEC §18: the FAT reader (fs/inside/fat.c) over FAT12, FAT16 and FAT32
 * volumes made by mkfs.fat on plain files and filled by mtools (long
 * names, the NT lower-case flags, a read-only file, nested directories, a
 * fragmented file), compared with what went in; over hostile volumes (a
 * cluster chain that loops, a boot sector that is not one); and a corpus
 * of damaged volumes run through the fuzz target's body, so every build
 * (the ASan lane too) runs it.  And two boundary tables: the long names
 * (test_names: the checksum, the ordinals, the 20-slot and 255-byte
 * limits, at the limit and one past) and the boot sector's geometry
 * (test_geometry: each bound fat_open checks, at it and one past it).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../../fuzz/fuzz_fat_body.h"

static char dir[] = "/tmp/imgfs-fat-XXXXXX";

struct img {
	uint8_t *data;
	size_t size;
	unsigned reads;
};

static int fetch(void *arg, void *buf, size_t len, uint64_t off)
{
	struct img *m = arg;
	m->reads++;
	if (off > m->size || len > m->size - off)
		return -EIO;
	memcpy(buf, m->data + off, len);
	return 0;
}

static void sh(const char *fmt, ...)
{
	char cmd[4096], full[4400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full),
	         "cd '%s' && export PATH=/usr/sbin:/sbin:$PATH MTOOLS_SKIP_CHECK=1 TZ=UTC LC_ALL=C.UTF-8 && (%s) >/dev/null 2>&1",
	         dir, cmd);
	if (system(full) != 0)
		fail_msg("failed: %s", cmd);
}

static void load(const char *name, struct img *m)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	off_t size = lseek(fd, 0, SEEK_END);
	m->data = malloc((size_t)size);
	assert_non_null(m->data);
	assert_int_equal(pread(fd, m->data, (size_t)size, 0), size);
	m->size = (size_t)size;
	m->reads = 0;
	close(fd);
}

static void file_bytes(const char *name, uint8_t **out, size_t *len)
{
	struct img m;
	load(name, &m);
	*out = m.data;
	*len = m.size;
}

/* Looks a path up from the root, one name at a time. */
static int walk(fat_vol *v, const char *path, struct ins_stat *st)
{
	uint32_t at = FAT_ROOT_INO;
	char copy[256];
	snprintf(copy, sizeof(copy), "%s", path);
	for (char *save = NULL, *p = strtok_r(copy, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
		int rc = fat_lookup(v, at, p, strlen(p), st);
		if (rc < 0)
			return rc;
		at = st->ino;
	}
	return 0;
}

static void check_file(fat_vol *v, const char *path, const char *src, int64_t mtime)
{
	struct ins_stat st;
	uint8_t *want, *got;
	size_t wlen, n, total = 0;
	assert_int_equal(walk(v, path, &st), 0);
	assert_true(S_ISREG(st.mode));
	file_bytes(src, &want, &wlen);
	assert_int_equal(st.size, wlen);
	got = malloc(wlen + 1);
	/* In pieces of odd sizes, as the kernel would not, to cross clusters. */
	while (total < wlen) {
		size_t ask = 70001;
		assert_int_equal(fat_read(v, st.ino, total, ask, got + total, &n), 0);
		assert_true(n > 0 && n <= ask);
		total += n;
	}
	assert_int_equal(fat_read(v, st.ino, total, 100, got + total, &n), 0);
	assert_int_equal(n, 0);
	assert_memory_equal(got, want, wlen);
	if (mtime) {
		assert_int_equal(st.mtime.sec, mtime);
		assert_int_equal(st.mtime.nsec, 0);
	}
	free(got);
	free(want);
}

struct names {
	char all[4096];
	unsigned count;
};

static int collect(void *arg, const char *name, size_t len, const struct ins_stat *st, uint64_t after)
{
	struct names *n = arg;
	(void)after;
	size_t used = strlen(n->all);
	snprintf(n->all + used, sizeof(n->all) - used, "%.*s%s|", (int)len, name, S_ISDIR(st->mode) ? "/" : "");
	n->count++;
	return 0;
}

/* A volume of the given FAT width, filled from src/, then read back. */
static void fill_and_check(unsigned bits, const char *mkfs_opts, unsigned kib)
{
	struct img m;
	fat_vol *v;
	char why[200] = "", img[32];
	snprintf(img, sizeof(img), "fat%u.img", bits);
	sh("rm -rf src %s && mkdir -p src/EFI/BOOT 'src/Long Directory Name/deeper' && "
	   "head -c 300000 /dev/urandom >src/EFI/BOOT/BOOTX64.EFI && echo hi >src/readme.txt && "
	   "printf 'x' >'src/Long Directory Name/deeper/a file with a long name.conf' && "
	   ": >src/empty && echo ro >src/ro.txt && echo y >src/UPPER.TXT && "
	   "touch -d '2021-03-04 05:06:08' src/readme.txt && touch -d '1999-12-31 23:59:58' src/EFI/BOOT/BOOTX64.EFI && "
	   "mkfs.fat -C %s %s %u && mcopy -m -i %s -s src/* :: && mattrib -i %s +r ::/ro.txt && "
	   "%s"
	   "head -c 5000 /dev/urandom >src/frag1 && mcopy -i %s src/frag1 ::/frag1 && "
	   "head -c 40000 /dev/urandom >src/frag2 && mcopy -i %s src/frag2 ::/frag2 && mdel -i %s ::/frag1 && "
	   "head -c 100000 /dev/urandom >src/frag3 && mcopy -i %s src/frag3 ::/frag3",
	   img, mkfs_opts, img, kib, img, img,
	   /* FAT32: 34 MB of zeros first, so that frag2 starts past cluster
	    * 65535 (its entry's high word not 0: checked below) */
	   bits == 32 ? "truncate -s 34000000 zfill && mcopy -i fat32.img zfill ::/zfill && " : "", img, img, img, img);
	load(img, &m);
	assert_int_equal(fat_open(fetch, &m, m.size, &v, why, sizeof(why)), 0);
	char kind[8];
	snprintf(kind, sizeof(kind), "FAT%u", bits);
	assert_string_equal(fat_kind(v), kind);
	struct names n = {"", 0};
	assert_int_equal(fat_list(v, FAT_ROOT_INO, 0, collect, &n), 0);
	/* 8.3 names as vfat shows them: readme.txt stored as README TXT
	 * with the lower-case flags; UPPER.TXT as stored. */
	assert_non_null(strstr(n.all, "|readme.txt|"));
	assert_non_null(strstr(n.all, "|UPPER.TXT|"));
	assert_non_null(strstr(n.all, "Long Directory Name/|"));
	assert_non_null(strstr(n.all, "EFI/|"));
	assert_null(strstr(n.all, "frag1"));
	check_file(v, "readme.txt", "src/readme.txt", 1614834368);
	check_file(v, "EFI/BOOT/BOOTX64.EFI", "src/EFI/BOOT/BOOTX64.EFI", 946684798);
	check_file(v, "Long Directory Name/deeper/a file with a long name.conf",
	           "src/Long Directory Name/deeper/a file with a long name.conf", 0);
	check_file(v, "empty", "src/empty", 0);
	check_file(v, "frag2", "src/frag2", 0);
	if (bits == 32) {
		struct ins_stat f2;
		assert_int_equal(walk(v, "frag2", &f2), 0);
		/* the entry's high word of the first cluster (ino: the entry's
		 * byte offset / 32, §18) */
		assert_true(m.data[(size_t)f2.ino * 32 + 20] | m.data[(size_t)f2.ino * 32 + 21]);
	}
	check_file(v, "frag3", "src/frag3", 0);
	struct ins_stat st, again;
	assert_int_equal(walk(v, "ro.txt", &st), 0);
	assert_int_equal(st.mode, S_IFREG | 0555);
	assert_int_equal(walk(v, "UPPER.TXT", &st), 0);
	assert_int_equal(st.mode, S_IFREG | 0755);
	assert_int_equal(st.uid, 0);
	assert_int_equal(st.ctime.sec, st.mtime.sec);
	assert_int_equal(st.ctime.nsec, st.mtime.nsec);
	/* Inode numbers are stable: the same by stat and on a new open. */
	assert_int_equal(fat_stat(v, st.ino, &again), 0);
	assert_memory_equal(&st, &again, sizeof(st));
	/* and of a directory not the one last listed (its entry read anew) */
	struct ins_stat deep;
	assert_int_equal(walk(v, "EFI/BOOT/BOOTX64.EFI", &deep), 0);
	assert_int_equal(fat_list(v, FAT_ROOT_INO, 0, collect, &n), 0);
	memset(&again, 0x5a, sizeof(again));
	assert_int_equal(fat_stat(v, deep.ino, &again), 0);
	assert_memory_equal(&deep, &again, sizeof(deep));
	assert_int_equal(walk(v, "EFI/BOOT", &st), 0);
	assert_int_equal(st.mode, S_IFDIR | 0755);
	assert_int_equal(fat_lookup(v, FAT_ROOT_INO, "README.TXT", 10, &st), -ENOENT);
	assert_int_equal(fat_lookup(v, FAT_ROOT_INO, "nothing", 7, &st), -ENOENT);
	assert_int_equal(walk(v, "readme.txt", &st), 0);
	assert_int_equal(fat_list(v, st.ino, 0, collect, &n), -ENOTDIR);
	fat_close(v);
	fat_vol *v2;
	assert_int_equal(fat_open(fetch, &m, m.size, &v2, why, sizeof(why)), 0);
	assert_int_equal(walk(v2, "readme.txt", &again), 0);
	assert_int_equal(again.ino, st.ino);
	fat_close(v2);
	free(m.data);
}

static void test_fat12(void **state)
{
	fill_and_check(12, "-F 12", 2048);
}

static void test_fat16(void **state)
{
	fill_and_check(16, "-F 16 -s 1", 20480);
}

static void test_fat32(void **state)
{
	fill_and_check(32, "-F 32 -s 1", 40960);
}

/* The cluster of file ino's entry (FAT16) as stored. */
static uint16_t first_cluster(const struct img *m, uint32_t ino)
{
	return (uint16_t)(m->data[(size_t)ino * 32 + 26] | m->data[(size_t)ino * 32 + 27] << 8);
}

static void test_loop(void **state)
{
	struct img m;
	fat_vol *v;
	char why[200];
	struct ins_stat st, big;
	sh("rm -rf src && mkdir -p src/d && head -c 20000 /dev/urandom >src/big && echo fine >src/ok.txt && "
	   "echo deep >src/d/x && mkfs.fat -C loop.img -F 16 -s 1 20480 && mcopy -i loop.img -s src/* ::");
	load("loop.img", &m);
	assert_int_equal(fat_open(fetch, &m, m.size, &v, why, sizeof(why)), 0);
	assert_int_equal(walk(v, "big", &big), 0);
	uint16_t c = first_cluster(&m, big.ino);
	fat_close(v);
	/* big's third cluster points back at its first, in both FATs. */
	unsigned rsvd = m.data[14] | m.data[15] << 8, fatsz = m.data[22] | m.data[23] << 8;
	for (unsigned f = 0; f < 2; f++) {
		uint8_t *fat = m.data + (rsvd + f * fatsz) * 512;
		uint16_t c3 = (uint16_t)(fat[2 * (fat[2 * c] | fat[2 * c + 1] << 8)] |
		                         fat[2 * (fat[2 * c] | fat[2 * c + 1] << 8) + 1] << 8);
		fat[2 * c3] = (uint8_t)c;
		fat[2 * c3 + 1] = (uint8_t)(c >> 8);
	}
	assert_int_equal(fat_open(fetch, &m, m.size, &v, why, sizeof(why)), 0);
	char buf[512];
	size_t got;
	m.reads = 0;
	assert_int_equal(fat_read(v, big.ino, 0, sizeof(buf), buf, &got), -EIO);
	assert_non_null(strstr(fat_why(v), "loops"));
	assert_true(m.reads < 200);
	/* The rest reads. */
	assert_int_equal(walk(v, "ok.txt", &st), 0);
	assert_int_equal(fat_read(v, st.ino, 0, sizeof(buf), buf, &got), 0);
	assert_int_equal(got, 5);
	assert_memory_equal(buf, "fine\n", 5);
	assert_int_equal(walk(v, "d/x", &st), 0);
	/* A directory whose chain loops onto itself is EIO too. */
	assert_int_equal(walk(v, "d", &st), 0);
	c = first_cluster(&m, st.ino);
	for (unsigned f = 0; f < 2; f++) {
		uint8_t *fat = m.data + (rsvd + f * fatsz) * 512;
		fat[2 * c] = (uint8_t)c;
		fat[2 * c + 1] = (uint8_t)(c >> 8);
	}
	fat_close(v);
	assert_int_equal(fat_open(fetch, &m, m.size, &v, why, sizeof(why)), 0);
	assert_int_equal(walk(v, "d/x", &st), -EIO);
	assert_int_equal(walk(v, "ok.txt", &st), 0);
	fat_close(v);
	free(m.data);
}

static void test_not_fat(void **state)
{
	struct img m;
	fat_vol *v;
	char why[200];
	sh("mkfs.fat -C bad.img -F 16 -s 1 20480");
	load("bad.img", &m);
	m.data[11] = 0; /* bytes per sector */
	m.data[12] = 3;
	assert_int_equal(fat_open(fetch, &m, m.size, &v, why, sizeof(why)), -EIO);
	assert_non_null(strstr(why, "bytes per sector"));
	m.data[11] = 0;
	m.data[12] = 2;
	/* A volume smaller than its file system says. */
	assert_int_equal(fat_open(fetch, &m, m.size / 2, &v, why, sizeof(why)), -EIO);
	assert_non_null(strstr(why, "larger than its volume"));
	memset(m.data, 0, 512);
	assert_int_equal(fat_open(fetch, &m, m.size, &v, why, sizeof(why)), -EIO);
	free(m.data);
}

/* The fuzz target's body over damaged copies of small volumes: bytes of
 * the boot sector, the FATs and the directories changed, deterministic
 * (a fixed seed), a few thousand inputs. */
static void test_corpus(void **state)
{
	sh("rm -rf src && mkdir -p src/a/b/c && echo one >src/a/one && head -c 3000 /dev/urandom >src/a/b/two && "
	   "echo 'long name' >'src/a/b/c/A Long Name.txt' && mkfs.fat -C c12.img -F 12 200 && "
	   "mcopy -i c12.img -s src/* :: && mkfs.fat -C c32.img -F 32 -s 1 34000 && mcopy -i c32.img -s src/* ::");
	const char *imgs[] = {"c12.img", "c32.img"};
	uint32_t seed = 12345;
	for (unsigned k = 0; k < 2; k++) {
		struct img m;
		load(imgs[k], &m);
		/* The metadata: up to the first data clusters. */
		unsigned rsvd = m.data[14] | m.data[15] << 8, bps = m.data[11] | m.data[12] << 8;
		uint32_t fatsz = m.data[22] | m.data[23] << 8;
		if (!fatsz)
			fatsz = m.data[36] | m.data[37] << 8 | (uint32_t)m.data[38] << 16;
		size_t meta = (size_t)(rsvd + 2 * fatsz) * bps + 64 * 1024;
		uint8_t *copy = malloc(m.size);
		assert_non_null(copy);
		fuzz_fat_one(m.data, m.size);
		for (unsigned i = 0; i < 1500; i++) {
			memcpy(copy, m.data, m.size);
			unsigned flips = 1 + i % 8;
			for (unsigned f = 0; f < flips; f++) {
				seed = seed * 1103515245 + 12345;
				size_t at = (seed >> 8) % (i % 3 == 0 ? 512 : meta);
				seed = seed * 1103515245 + 12345;
				copy[at] = (uint8_t)(seed >> 16);
			}
			fuzz_fat_one(copy, i % 5 == 0 ? m.size / 2 : m.size);
		}
		free(copy);
		free(m.data);
	}
}

/* ---- the long-name table ---------------------------------------------------- */

static uint8_t sfn_sum(const char name11[11])
{
	uint8_t s = 0;
	for (int i = 0; i < 11; i++)
		s = (uint8_t)(((s & 1) << 7) + (s >> 1) + (uint8_t)name11[i]);
	return s;
}

/* An 8.3 entry: name11 as stored (8 + 3, space-padded), a file. */
static uint8_t *sfn(uint8_t *e, const char name11[11], uint8_t flags)
{
	memset(e, 0, 32);
	memcpy(e, name11, 11);
	e[11] = 0x20;
	e[12] = flags;
	return e + 32;
}

/* One long-name slot: its ordinal byte, the checksum, 13 UTF-16 units. */
static uint8_t *slot(uint8_t *e, uint8_t ord, uint8_t sum, const uint16_t u[13])
{
	static const int pos[13] = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};
	memset(e, 0, 32);
	e[0] = ord;
	e[11] = 0x0f;
	e[13] = sum;
	for (int k = 0; k < 13; k++) {
		e[pos[k]] = (uint8_t)u[k];
		e[pos[k] + 1] = (uint8_t)(u[k] >> 8);
	}
	return e + 32;
}

/* The slots of the n units of name (NUL then 0xffff after it), in nslots
 * slots (0: as many as it takes), highest first; slot `skip` (1-based, 0:
 * none) left out, slot `bad` (0: none) with the checksum + 1. */
static uint8_t *run(uint8_t *e, const uint16_t *name, size_t n, uint8_t sum, int nslots, int skip, int bad)
{
	int slots = nslots ? nslots : (int)(n / 13 + 1);
	for (int s = slots; s >= 1; s--) {
		uint16_t u[13];
		for (int k = 0; k < 13; k++) {
			size_t at = (size_t)(s - 1) * 13 + (size_t)k;
			u[k] = at < n ? name[at] : at == n ? 0 : 0xffff;
		}
		if (s == skip)
			continue;
		e = slot(e, (uint8_t)(s | (s == slots ? 0x40 : 0)), (uint8_t)(sum + (s == bad)), u);
	}
	return e;
}

static size_t units(uint16_t *out, const char *ascii, size_t repeat_to)
{
	size_t n = strlen(ascii);
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)ascii[i];
	for (; n < repeat_to; n++)
		out[n] = 'a' + n % 26;
	return n;
}

#define HELLO "HELLO   TXT"
static uint8_t *nm_plain(uint8_t *e) /* a long name of one slot */
{
	uint16_t u[16];
	size_t n = units(u, "hello.txt", 0);
	return sfn(run(e, u, n, sfn_sum(HELLO), 0, 0, 0), HELLO, 0);
}
static uint8_t *nm_wrong_sfn(uint8_t *e) /* a run made for another 8.3 entry */
{
	uint16_t u[16];
	size_t n = units(u, "hello.txt", 0);
	return sfn(run(e, u, n, sfn_sum("OTHER   TXT"), 0, 0, 0), HELLO, 0);
}
static uint8_t *nm_sum_plus(uint8_t *e) /* every slot's checksum one more */
{
	uint16_t u[16];
	size_t n = units(u, "hello.txt", 0);
	return sfn(run(e, u, n, (uint8_t)(sfn_sum(HELLO) + 1), 0, 0, 0), HELLO, 0);
}
static uint8_t *nm_one_slot_sum(uint8_t *e) /* the middle slot of three with another checksum */
{
	uint16_t u[40];
	size_t n = units(u, "a-long-name-of-three-slots.txt", 0);
	return sfn(run(e, u, n, sfn_sum(HELLO), 0, 0, 2), HELLO, 0);
}
static uint8_t *nm_three(uint8_t *e) /* three slots, all in order */
{
	uint16_t u[40];
	size_t n = units(u, "a-long-name-of-three-slots.txt", 0);
	return sfn(run(e, u, n, sfn_sum(HELLO), 0, 0, 0), HELLO, 0);
}
static uint8_t *nm_gap(uint8_t *e) /* three slots, the second missing */
{
	uint16_t u[40];
	size_t n = units(u, "a-long-name-of-three-slots.txt", 0);
	return sfn(run(e, u, n, sfn_sum(HELLO), 0, 2, 0), HELLO, 0);
}
static uint8_t *nm_no_first(uint8_t *e) /* the slots after the first (0x40) one only */
{
	uint16_t u[40];
	size_t n = units(u, "a-long-name-of-three-slots.txt", 0);
	return sfn(run(e, u, n, sfn_sum(HELLO), 0, 3, 0), HELLO, 0);
}
static uint8_t *nm_slots_20(uint8_t *e) /* "x" in 20 slots (the rest padding) */
{
	uint16_t u[1] = {'x'};
	return sfn(run(e, u, 1, sfn_sum(HELLO), 20, 0, 0), HELLO, 0);
}
static uint8_t *nm_slots_21(uint8_t *e) /* "x" in 21 slots */
{
	uint16_t u[1] = {'x'};
	return sfn(run(e, u, 1, sfn_sum(HELLO), 21, 0, 0), HELLO, 0);
}
static uint8_t *nm_ord_zero(uint8_t *e) /* a first slot of ordinal 0 */
{
	uint16_t u[13] = {'x', 0, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff};
	return sfn(slot(e, 0x40, sfn_sum(HELLO), u), HELLO, 0);
}
static uint8_t *nm_255(uint8_t *e) /* 255 bytes: INS_NAME_MAX */
{
	uint16_t u[300];
	size_t n = units(u, "n", 255);
	return sfn(run(e, u, n, sfn_sum(HELLO), 0, 0, 0), HELLO, 0);
}
static uint8_t *nm_256(uint8_t *e) /* 256 bytes: one past */
{
	uint16_t u[300];
	size_t n = units(u, "n", 256);
	return sfn(run(e, u, n, sfn_sum(HELLO), 0, 0, 0), HELLO, 0);
}
static uint8_t *nm_13(uint8_t *e) /* 13 units: one full slot, no NUL in it */
{
	uint16_t u[16];
	size_t n = units(u, "thirteen-char", 0);
	return sfn(run(e, u, n, sfn_sum(HELLO), 1, 0, 0), HELLO, 0);
}
static uint8_t *nm_deleted_between(uint8_t *e) /* a deleted entry between the run and its 8.3 entry */
{
	uint16_t u[16];
	size_t n = units(u, "hello.txt", 0);
	e = run(e, u, n, sfn_sum(HELLO), 0, 0, 0);
	e = sfn(e, "GONE    TXT", 0);
	e[-32] = 0xe5;
	return sfn(e, HELLO, 0);
}
static uint8_t *nm_label_between(uint8_t *e) /* a volume label between them */
{
	uint16_t u[16];
	size_t n = units(u, "hello.txt", 0);
	e = run(e, u, n, sfn_sum(HELLO), 0, 0, 0);
	e = sfn(e, "LABEL      ", 0);
	e[-32 + 11] = 0x08;
	return sfn(e, HELLO, 0);
}
static uint8_t *nm_surrogates(uint8_t *e) /* U+1F600 as a pair, then a lone high surrogate */
{
	uint16_t u[4] = {0xd83d, 0xde00, 'z', 0xd800};
	return sfn(run(e, u, 4, sfn_sum(HELLO), 0, 0, 0), HELLO, 0);
}
static uint8_t *nm_surrogate_bounds(uint8_t *e) /* pairs at the ranges' ends; a high one before U+E000; U+D7FF; two low ones, two high ones */
{
	uint16_t u[12] = {0xdbff, 0xdfff, 0xd800, 0xdc00, 0xd800, 0xe000, 0xdc00, 0xd7ff, 0xdc00, 0xdc01, 0xd800, 0xdbff};
	return sfn(run(e, u, 12, sfn_sum(HELLO), 0, 0, 0), HELLO, 0);
}
static uint8_t *nm_cases(uint8_t *e) /* no long name; the NT flags: base and extension lower case; 0x05 first */
{
	e = sfn(e, HELLO, 0x18);
	e = sfn(e, "\x05" "BC     D  ", 0x08);
	return sfn(e, "           ", 0); /* a name of spaces: not shown */
}
static uint8_t *nm_nul(uint8_t *e) /* NULs in 8.3 names (mtools wrote the first): each ends its part */
{
	e = sfn(e, "X_FB\x90OT~ \0\0", 0);
	return sfn(e, "AB\0CD   T\0X", 0);
}
static uint8_t *nm_end(uint8_t *e) /* an entry after the end marker */
{
	e = sfn(e, HELLO, 0);
	e += 32; /* zeros: the end */
	return sfn(e, "AFTER   TXT", 0);
}

static void test_names(void **state)
{
	(void)state;
	static const struct {
		const char *what;
		uint8_t *(*make)(uint8_t *);
		const char *listed;
	} cases[] = {
		{"a long name of one slot", nm_plain, "hello.txt|"},
		{"a long name before the wrong 8.3 entry", nm_wrong_sfn, "HELLO.TXT|"},
		{"a checksum one off", nm_sum_plus, "HELLO.TXT|"},
		{"three slots", nm_three, "a-long-name-of-three-slots.txt|"},
		{"one slot of three with another checksum", nm_one_slot_sum, "HELLO.TXT|"},
		{"an ordinal gap", nm_gap, "HELLO.TXT|"},
		{"a run without its first slot", nm_no_first, "HELLO.TXT|"},
		{"20 slots", nm_slots_20, "x|"},
		{"21 slots", nm_slots_21, "HELLO.TXT|"},
		{"a first slot of ordinal 0", nm_ord_zero, "HELLO.TXT|"},
		{"a name of 255 bytes", nm_255, NULL},
		{"a name of 256 bytes", nm_256, "HELLO.TXT|"},
		{"13 units, no NUL", nm_13, "thirteen-char|"},
		{"a deleted entry between", nm_deleted_between, "HELLO.TXT|"},
		{"a volume label between", nm_label_between, "HELLO.TXT|"},
		{"surrogates", nm_surrogates, "\xf0\x9f\x98\x80z\xef\xbf\xbd|"},
		{"surrogates at their bounds", nm_surrogate_bounds,
		 "\xf4\x8f\xbf\xbf" "\xf0\x90\x80\x80" "\xef\xbf\xbd" "\xee\x80\x80" "\xef\xbf\xbd" "\xed\x9f\xbf" "\xef\xbf\xbd" "\xef\xbf\xbd"
		 "\xef\xbf\xbd" "\xef\xbf\xbd|"},
		{"the NT flags, 0x05, spaces", nm_cases, "hello.txt|\xcf\x83" "bc.D|"},
		{"the end marker", nm_end, "HELLO.TXT|"},
		{"NULs in 8.3 names", nm_nul, "X_FB\xc3\x89OT~|AB.T|"},
	};
	struct img m;
	fat_vol *v;
	char why[200];
	sh("rm -f names.img && mkfs.fat -C names.img -F 12 -r 512 400");
	load("names.img", &m);
	unsigned rsvd = m.data[14] | m.data[15] << 8, nfats = m.data[16], fatsz = m.data[22] | m.data[23] << 8;
	uint8_t *root = m.data + (size_t)(rsvd + nfats * fatsz) * 512;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(root, 0, 512 * 32);
		cases[i].make(root);
		struct names got = {{0}, 0};
		assert_int_equal(fat_open(fetch, &m, m.size, &v, why, sizeof(why)), 0);
		assert_int_equal(fat_list(v, FAT_ROOT_INO, 0, collect, &got), 0);
		fat_close(v);
		char want[300];
		if (cases[i].listed)
			snprintf(want, sizeof(want), "%s", cases[i].listed);
		else { /* the 255 bytes themselves */
			uint16_t u[300];
			size_t n = units(u, "n", 255);
			for (size_t k = 0; k < n; k++)
				want[k] = (char)u[k];
			snprintf(want + n, sizeof(want) - n, "|");
		}
		if (strcmp(got.all, want) != 0)
			fail_msg("%s: listed \"%s\", want \"%s\"", cases[i].what, got.all, want);
	}
	free(m.data);
}

/* ---- the geometry table ------------------------------------------------------ */

/* A volume that is its boot sector and zeros, however large it says it is. */
static int fetch_boot(void *arg, void *buf, size_t len, uint64_t off)
{
	const uint8_t *b = arg;
	memset(buf, 0, len);
	if (off < 512)
		memcpy(buf, b + off, len < 512 - off ? len : 512 - off);
	return 0;
}

struct geo {
	unsigned bps, spc, rsvd, nfats, rootents;
	uint64_t tot, fatsz;
	uint32_t root_clus;
	bool f32; /* the FAT32 fields (sizes in the 32-bit ones, no root entries) */
};

static void boot(uint8_t b[512], struct geo g)
{
	memset(b, 0, 512);
	b[0] = 0xeb;
	b[11] = (uint8_t)g.bps;
	b[12] = (uint8_t)(g.bps >> 8);
	b[13] = (uint8_t)g.spc;
	b[14] = (uint8_t)g.rsvd;
	b[15] = (uint8_t)(g.rsvd >> 8);
	b[16] = (uint8_t)g.nfats;
	b[17] = (uint8_t)g.rootents;
	b[18] = (uint8_t)(g.rootents >> 8);
	if (g.tot < 65536 && !g.f32) {
		b[19] = (uint8_t)g.tot;
		b[20] = (uint8_t)(g.tot >> 8);
	} else {
		for (int i = 0; i < 4; i++)
			b[32 + i] = (uint8_t)(g.tot >> 8 * i);
	}
	if (!g.f32) {
		b[22] = (uint8_t)g.fatsz;
		b[23] = (uint8_t)(g.fatsz >> 8);
	} else {
		for (int i = 0; i < 4; i++)
			b[36 + i] = (uint8_t)(g.fatsz >> 8 * i);
	}
	for (int i = 0; i < 4; i++)
		b[44 + i] = (uint8_t)(g.root_clus >> 8 * i);
	b[510] = 0x55;
	b[511] = 0xaa;
}

/* FAT12/16 of n clusters of a sector (1 reserved sector, 1 FAT of fatsz, 16 root entries). */
static struct geo small(uint64_t n, uint64_t fatsz)
{
	return (struct geo){512, 1, 1, 1, 16, n + 2 + fatsz, fatsz, 0, false};
}

static void test_geometry(void **state)
{
	(void)state;
	/* a volume of 2^28 sectors (128 GiB): 2^21 sectors of FAT32 */
	const uint64_t big = 1ull << 28, bigfat = 1ull << 21;
	const struct {
		const char *what;
		struct geo g;
		int64_t size; /* the volume's bytes; 0: tot sectors' */
		const char *kind_or_why; /* "FAT12"... when it opens, else a part of why */
	} cases[] = {
		{"512 bytes a sector", small(100, 1), 0, "FAT12"},
		{"513 bytes a sector", {513, 1, 1, 1, 16, 200, 1, 0, false}, 0, "bytes per sector"},
		{"4096 bytes a sector", {4096, 1, 1, 1, 128, 200, 1, 0, false}, 0, "FAT12"},
		{"8192 bytes a sector", {8192, 1, 1, 1, 256, 200, 1, 0, false}, 0, "bytes per sector"},
		{"clusters of 64 KiB", {512, 128, 1, 1, 16, 128 * 10 + 3, 1, 0, false}, 0, "FAT12"},
		{"clusters of 128 KiB", {1024, 128, 1, 1, 16, 128 * 10 + 3, 1, 0, false}, 0, "sectors per cluster"},
		{"3 sectors a cluster", {512, 3, 1, 1, 16, 300, 1, 0, false}, 0, "sectors per cluster"},
		{"0 sectors a cluster", {512, 0, 1, 1, 16, 300, 1, 0, false}, 0, "sectors per cluster"},
		{"4 FATs", {512, 1, 1, 4, 16, 200, 1, 0, false}, 0, "FAT12"},
		{"5 FATs", {512, 1, 1, 5, 16, 200, 1, 0, false}, 0, "no reserved sectors"},
		{"no reserved sector", {512, 1, 0, 1, 16, 200, 1, 0, false}, 0, "no reserved sectors"},
		{"as many sectors as the volume", small(100, 1), 0, "FAT12"},
		{"a sector more than the volume", small(100, 1), 102 * 512, "larger than its volume"},
		{"one data cluster", small(1, 1), 0, "FAT12"},
		{"no data cluster", small(0, 1), 0, "no data clusters"},
		{"4084 clusters", small(4084, 12), 0, "FAT12"},
		{"4085 clusters", small(4085, 16), 0, "FAT16"},
		{"65524 clusters", small(65524, 256), 0, "FAT16"},
		{"65525 clusters", {512, 1, 1, 1, 0, 65525 + 1 + 512, 512, 2, true}, 0, "FAT32"},
		{"a FAT12 of just enough sectors", small(4084, 12), 0, "FAT12"},
		{"a FAT12 a sector short", small(4084, 11), 0, "too small"},
		{"a FAT16 a sector short", small(65524, 255), 0, "too small"},
		{"128 GiB", {512, 1, 32, 1, 0, big, bigfat, 2, true}, 0, "FAT32"},
		{"128 GiB and a sector", {512, 1, 32, 1, 0, big + 1, bigfat, 2, true}, 0, "past 128 GiB"},
		{"0x0ffffff5 clusters", {512, 1, 10, 1, 0, big, 1, 2, true}, 0, "too small"},
		{"0x0ffffff6 clusters", {512, 1, 9, 1, 0, big, 1, 2, true}, 0, "not a FAT file system"},
		{"FAT32 root at cluster 2", {512, 1, 1, 1, 0, 65525 + 1 + 512, 512, 2, true}, 0, "FAT32"},
		{"FAT32 root at the last cluster", {512, 1, 1, 1, 0, 65525 + 1 + 512, 512, 65526, true}, 0, "FAT32"},
		{"FAT32 root past the last cluster", {512, 1, 1, 1, 0, 65525 + 1 + 512, 512, 65527, true}, 0, "root directory"},
		{"FAT32 root at cluster 1", {512, 1, 1, 1, 0, 65525 + 1 + 512, 512, 1, true}, 0, "root directory"},
		{"FAT16 without root entries", {512, 1, 1, 1, 0, 4085 + 16 + 1, 16, 0, false}, 0, "no root directory"},
		{"a volume of one boot sector", small(100, 1), 512, "larger than its volume"},
		{"a volume smaller than a boot sector", small(100, 1), 511, "smaller than a boot sector"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t b[512];
		fat_vol *v = NULL;
		char why[200] = "";
		boot(b, cases[i].g);
		uint64_t size = cases[i].size ? (uint64_t)cases[i].size : cases[i].g.tot * cases[i].g.bps;
		int rc = fat_open(fetch_boot, b, size, &v, why, sizeof(why));
		const char *got = rc == 0 ? fat_kind(v) : why;
		bool opened = strncmp(cases[i].kind_or_why, "FAT", 3) == 0 && strlen(cases[i].kind_or_why) == 5;
		if ((rc == 0) != opened || !strstr(got, cases[i].kind_or_why))
			fail_msg("%s: %d, \"%s\"; want \"%s\"", cases[i].what, rc, got, cases[i].kind_or_why);
		fat_close(v);
	}
}

static int setup(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fat12),
		cmocka_unit_test(test_fat16),
		cmocka_unit_test(test_fat32),
		cmocka_unit_test(test_loop),
		cmocka_unit_test(test_not_fat),
		cmocka_unit_test(test_corpus),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_geometry),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
