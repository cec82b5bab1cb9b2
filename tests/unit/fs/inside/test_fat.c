/*
 * SPEC §18: the FAT reader (fs/inside/fat.c) over FAT12, FAT16 and FAT32
 * volumes made by mkfs.fat on plain files and filled by mtools (long
 * names, the NT lower-case flags, a read-only file, nested directories, a
 * fragmented file), compared with what went in; over hostile volumes (a
 * cluster chain that loops, a boot sector that is not one); and a corpus
 * of damaged volumes run through the fuzz target's body, so every build
 * (the ASan lane too) runs it.
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
	if (mtime)
		assert_int_equal(st.mtime_ns, mtime * 1000000000LL);
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
	   "head -c 5000 /dev/urandom >src/frag1 && mcopy -i %s src/frag1 ::/frag1 && "
	   "head -c 40000 /dev/urandom >src/frag2 && mcopy -i %s src/frag2 ::/frag2 && mdel -i %s ::/frag1 && "
	   "head -c 100000 /dev/urandom >src/frag3 && mcopy -i %s src/frag3 ::/frag3",
	   img, mkfs_opts, img, kib, img, img, img, img, img, img);
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
	check_file(v, "frag3", "src/frag3", 0);
	struct ins_stat st, again;
	assert_int_equal(walk(v, "ro.txt", &st), 0);
	assert_int_equal(st.mode, S_IFREG | 0555);
	assert_int_equal(walk(v, "UPPER.TXT", &st), 0);
	assert_int_equal(st.mode, S_IFREG | 0755);
	assert_int_equal(st.uid, 0);
	assert_int_equal(st.ctime_ns, st.mtime_ns);
	/* Inode numbers are stable: the same by stat and on a new open. */
	assert_int_equal(fat_stat(v, st.ino, &again), 0);
	assert_memory_equal(&st, &again, sizeof(st));
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
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
