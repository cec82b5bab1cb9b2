/*
 * SPEC §18: NTFS read through libntfs-3g with imgfs's device operations
 * (fs/inside/ntfs.c) over a volume made by mkntfs on a plain file (its label not ASCII) and
 * filled through ntfs-3g (a FUSE mount, for building the fixture only):
 * directories, a file of many clusters, a sparse file, a compressed
 * file, a hard link, symbolic links (ntfs-3g's and Windows' reparse
 * points: ntfs_reparse.py), a name outside ASCII; compared with what went in.  A
 * damaged MFT record is EIO with a reason, and the rest reads; a record
 * without unnamed $DATA reads as empty.
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
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "ins_ntfs.h"

static char dir[] = "/tmp/imgfs-ntfs-XXXXXX";

/* libntfs-3g 2022.10.3 leaks an inode when it resolves a junction
 * (ntfs_make_symlink; ntfs.c asks it once per link): not ours to fix, and
 * the ASan lane's leak check would fail on it. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libntfs-3g.so\n";
}

struct img {
	uint8_t *data;
	size_t size;
	uint64_t fail_from; /* a fetch at or past it fails (a disk's I/O error); 0: none */
};

static int fetch(void *arg, void *buf, size_t len, uint64_t off)
{
	struct img *m = arg;
	if (off > m->size || len > m->size - off || (m->fail_from && off + len > m->fail_from))
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
	snprintf(full, sizeof(full), "cd '%s' && export PATH=/usr/sbin:/sbin:/usr/bin:/bin:$PATH TZ=UTC && (%s) >/dev/null 2>&1",
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
	close(fd);
}

static int walk(ins_ntfs *v, const char *path, struct ins_stat *st)
{
	uint32_t at = INS_NTFS_ROOT_INO;
	char copy[256];
	snprintf(copy, sizeof(copy), "%s", path);
	for (char *save = NULL, *p = strtok_r(copy, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
		int rc = ins_ntfs_lookup(v, at, p, strlen(p), st);
		if (rc < 0)
			return rc;
		at = st->ino;
	}
	return 0;
}

static void check_file(ins_ntfs *v, const char *path, const char *src)
{
	struct ins_stat st;
	struct img want;
	size_t total = 0, n;
	assert_int_equal(walk(v, path, &st), 0);
	assert_true(S_ISREG(st.mode));
	assert_int_equal(st.mode & 07777, 0777);
	load(src, &want);
	assert_int_equal(st.size, want.size);
	char *got = malloc(want.size + 1);
	while (total < want.size) {
		assert_int_equal(ins_ntfs_read(v, st.ino, total, 131072, got + total, &n), 0);
		assert_true(n > 0);
		total += n;
	}
	assert_memory_equal(got, want.data, want.size);
	/* mtime as the source file's */
	char p[512];
	struct stat s;
	snprintf(p, sizeof(p), "%s/%s", dir, src);
	assert_int_equal(stat(p, &s), 0);
	assert_int_equal(st.mtime.sec, s.st_mtim.tv_sec);
	assert_int_equal(st.mtime.nsec, s.st_mtim.tv_nsec / 100 * 100); /* NTFS keeps 100 ns units */
	free(got);
	free(want.data);
}

static int collect(void *arg, const char *name, size_t len, const struct ins_stat *st)
{
	char *all = arg;
	size_t used = strlen(all);
	snprintf(all + used, 4096 - used, "%.*s|", (int)len, name);
	return 0;
}

static void build(void)
{
	sh("rm -rf src m n.img && mkdir -p src/Windows/System32 src/Users/h m && "
	   "head -c 1000000 /dev/urandom >src/Windows/System32/big.dll && echo hello >'src/Users/h/Résumé.txt' && "
	   "truncate -s 5000000 src/sparse && echo tail >>src/sparse && : >src/empty && "
	   "touch -d '2019-05-06 07:08:09.123456789' src/Windows/System32/big.dll && "
	   "for i in $(seq 1 20000); do echo \"line $i of a compressible file\"; done >src/comp.txt && "
	   "truncate -s 32M n.img && mkntfs -F -Q -s 512 -L 'Système C' n.img && ntfs-3g -o compression n.img m && "
	   "mkdir m/Compressed && setfattr -n system.ntfs_attrib_be -v 0x00000800 m/Compressed && "
	   "cp -a src/comp.txt m/Compressed/ && rm src/comp.txt && mkdir -p src/Compressed && cp -a m/Compressed/comp.txt src/Compressed/ && "
	   "cp -a src/. m/ && ln m/Windows/System32/big.dll m/hardlink.dll && ln -s Users/h m/rel && "
	   "touch m/Users/h/$(printf 'n%%.0s' $(seq 1 255)) m/Users/h/ab m/Users/h/.x m/Users/h/..y && "
	   "mknod m/Users/h/cdev c 300 70000 && mknod m/Users/h/bdev b 8 1 && mkfifo m/Users/h/fifo && "
	   "ln -s /etc/os-release m/abs && python3 '%s/tests/unit/fs/inside/ntfs_reparse.py' m && umount m",
	   IMGFS_SOURCE_DIR);
}

static void test_tree(void **state)
{
	struct img m = {0};
	ins_ntfs *v;
	char why[200] = "", all[4096] = "", link[4096];
	struct ins_stat st, st2;
	size_t n;
	build();
	load("n.img", &m);
	assert_int_equal(ins_ntfs_open(fetch, &m, m.size, &v, why, sizeof(why)), 0);
	/* The label mkntfs wrote in $Volume, UTF-8 (as blkid shows it). */
	assert_string_equal(ins_ntfs_label(v), "Syst\xc3\xa8me C");
	assert_int_equal(ins_ntfs_list(v, INS_NTFS_ROOT_INO, collect, all), 0);
	/* No system files, no DOS names, no "." or "..". */
	assert_string_equal(all, "abs|Compressed|empty|hardlink.dll|rel|sparse|Users|win-abs|win-junction|win-rel|Windows|");
	assert_int_equal(ins_ntfs_stat(v, INS_NTFS_ROOT_INO, &st), 0);
	assert_int_equal(st.mode, S_IFDIR | 0777);
	check_file(v, "Windows/System32/big.dll", "src/Windows/System32/big.dll");
	check_file(v, "Users/h/Résumé.txt", "src/Users/h/Résumé.txt");
	check_file(v, "sparse", "src/sparse");
	check_file(v, "empty", "src/empty");
	/* A compressed file (a directory with NTFS compression on), which
	 * libntfs-3g decodes: its blocks are fewer than its size's. */
	check_file(v, "Compressed/comp.txt", "src/Compressed/comp.txt");
	assert_int_equal(walk(v, "Compressed/comp.txt", &st), 0);
	assert_true(st.size > 600000 && st.blocks * 512 < st.size / 2);
	assert_int_equal(walk(v, "sparse", &st), 0);
	assert_true(st.blocks * 512 < 1000000); /* its hole takes no room */
	assert_int_equal(walk(v, "hardlink.dll", &st), 0);
	assert_int_equal(walk(v, "Windows/System32/big.dll", &st2), 0);
	assert_int_equal(st.ino, st2.ino);
	assert_int_equal(st.nlink, 2);
	assert_int_equal(walk(v, "rel", &st), 0);
	assert_int_equal(st.mode, S_IFLNK | 0777);
	assert_int_equal(ins_ntfs_readlink(v, st.ino, link, sizeof(link), &n), 0);
	assert_int_equal(n, 7);
	assert_memory_equal(link, "Users/h", 7);
	assert_int_equal(st.size, 7);
	assert_int_equal(walk(v, "abs", &st), 0);
	assert_int_equal(ins_ntfs_readlink(v, st.ino, link, sizeof(link), &n), 0);
	assert_int_equal(n, 15);
	assert_memory_equal(link, "/etc/os-release", 15);
	/* Windows' reparse points, as libntfs-3g turns them into links for a
	 * mount at "/": a relative target as stored, a junction into the
	 * volume from its root, another drive under ntfs-3g's /.NTFS-3G. */
	static const char *const reparse[][2] = {{"win-rel", "Users/h"},
	                                         {"win-junction", "/Windows"},
	                                         {"win-abs", "/.NTFS-3G/C:/Windows/System32"}};
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(walk(v, reparse[i][0], &st), 0);
		assert_int_equal(st.mode, S_IFLNK | 0777);
		assert_int_equal(ins_ntfs_readlink(v, st.ino, link, sizeof(link), &n), 0);
		assert_int_equal(st.size, n);
		assert_int_equal(n, strlen(reparse[i][1]));
		assert_memory_equal(link, reparse[i][1], n);
	}
	/* Device nodes and a fifo as ntfs-3g makes them (Interix), as it shows
	 * them: the type, 0777, the major and minor. */
	assert_int_equal(walk(v, "Users/h/cdev", &st), 0);
	assert_int_equal(st.mode, S_IFCHR | 0777);
	assert_int_equal(major(st.rdev), 300);
	assert_int_equal(minor(st.rdev), 70000);
	assert_int_equal(walk(v, "Users/h/bdev", &st), 0);
	assert_int_equal(st.mode, S_IFBLK | 0777);
	assert_int_equal(st.rdev, makedev(8, 1));
	assert_int_equal(walk(v, "Users/h/fifo", &st), 0);
	assert_int_equal(st.mode, S_IFIFO | 0777);
	assert_int_equal(st.rdev, 0);
	assert_int_equal(walk(v, "Users", &st), 0);
	assert_int_equal(ins_ntfs_readlink(v, st.ino, link, sizeof(link), &n), -EINVAL);
	assert_int_equal(ins_ntfs_read(v, st.ino, 0, 10, link, &n), -EISDIR);
	assert_int_equal(walk(v, "nothing", &st), -ENOENT);
	/* System files are not shown, by name or by number. */
	assert_int_equal(walk(v, "$MFT", &st), -ENOENT);
	assert_int_equal(ins_ntfs_stat(v, 0, &st), -ENOENT);
	ins_ntfs_close(v);

	/* The disk fails under a file's data (an I/O error of the daemon's
	 * read): EIO, whatever the size of libntfs-3g's reads (within one of
	 * the volume's windows, or across them: a run of 1 MB). */
	assert_int_equal(ins_ntfs_open(fetch, &m, m.size, &v, why, sizeof(why)), 0);
	struct ins_stat fst, fst2;
	assert_int_equal(walk(v, "Windows/System32/big.dll", &fst), 0);
	assert_int_equal(walk(v, "sparse", &fst2), 0);
	m.fail_from = 4096;
	char *big = malloc(1 << 20);
	assert_non_null(big);
	assert_int_equal(ins_ntfs_read(v, fst.ino, 0, 1 << 20, big, &n), -EIO);
	assert_int_equal(ins_ntfs_read(v, fst2.ino, fst2.size - 4096, 4096, big, &n), -EIO);
	free(big);
	m.fail_from = 0;
	ins_ntfs_close(v);

	/* A damaged MFT record (big.dll's): EIO with a reason, the rest reads. */
	uint64_t cluster = (uint64_t)(m.data[11] | m.data[12] << 8) * m.data[13], mft;
	memcpy(&mft, m.data + 0x30, 8);
	uint8_t *rec = m.data + mft * cluster + (uint64_t)st2.ino * 1024;
	assert_memory_equal(rec, "FILE", 4);
	memset(rec + 4, 0xff, 60);
	assert_int_equal(ins_ntfs_open(fetch, &m, m.size, &v, why, sizeof(why)), 0);
	assert_int_equal(ins_ntfs_stat(v, st2.ino, &st), -EIO);
	assert_non_null(strstr(ins_ntfs_why(v), "MFT record"));
	check_file(v, "Users/h/Résumé.txt", "src/Users/h/Résumé.txt");
	all[0] = '\0';
	assert_int_equal(ins_ntfs_list(v, INS_NTFS_ROOT_INO, collect, all), 0);
	assert_string_equal(all, "abs|Compressed|empty|rel|sparse|Users|win-abs|win-junction|win-rel|Windows|");
	ins_ntfs_close(v);

	/* Not NTFS at all. */
	memset(m.data, 0, 512);
	assert_int_equal(ins_ntfs_open(fetch, &m, m.size, &v, why, sizeof(why)), -EIO);
	assert_non_null(strstr(why, "libntfs-3g cannot open"));
	free(m.data);
}

/* The glue's own bounds, at the limit and one past: a name of
 * INS_NAME_MAX bytes found, one byte more not looked for; a link's target
 * into a buffer of its length plus the NUL, and of its length; a read at
 * the file's last byte and at its end; MFT records below the first user
 * one hidden but the root. */
static void test_bounds(void **state)
{
	(void)state;
	struct img m = {0};
	ins_ntfs *v;
	char why[200] = "", name[INS_NAME_MAX + 2], buf[64];
	struct ins_stat h, st;
	size_t n;
	load("n.img", &m); /* test_tree made it */
	assert_int_equal(ins_ntfs_open(fetch, &m, m.size, &v, why, sizeof(why)), 0);
	assert_int_equal(walk(v, "Users/h", &h), 0);
	memset(name, 'n', sizeof(name));
	assert_int_equal(ins_ntfs_lookup(v, (uint32_t)h.ino, name, INS_NAME_MAX, &st), 0);
	assert_true(S_ISREG(st.mode));
	assert_int_equal(ins_ntfs_lookup(v, (uint32_t)h.ino, name, INS_NAME_MAX + 1, &st), -ENOENT);
	assert_int_equal(ins_ntfs_lookup(v, (uint32_t)h.ino, name, 0, &st), -ENOENT);
	/* "." and ".." are not listed; names of one or two bytes that merely
	 * start with a dot are */
	char all[4096] = "|"; /* every name between bars */
	assert_int_equal(ins_ntfs_list(v, (uint32_t)h.ino, collect, all), 0);
	assert_non_null(strstr(all, "|ab|"));
	assert_non_null(strstr(all, "|.x|"));
	assert_non_null(strstr(all, "|..y|"));
	assert_null(strstr(all, "|.|"));
	assert_null(strstr(all, "|..|"));
	/* rel -> "Users/h": 7 bytes */
	assert_int_equal(walk(v, "rel", &st), 0);
	assert_int_equal(ins_ntfs_readlink(v, (uint32_t)st.ino, buf, 8, &n), 0);
	assert_int_equal(n, 7);
	assert_int_equal(ins_ntfs_readlink(v, (uint32_t)st.ino, buf, 7, &n), -EIO);
	/* "hello\n": 6 bytes */
	assert_int_equal(walk(v, "Users/h/Résumé.txt", &st), 0);
	assert_int_equal(st.size, 6);
	assert_int_equal(ins_ntfs_read(v, (uint32_t)st.ino, 5, sizeof(buf), buf, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(buf[0], '\n');
	assert_int_equal(ins_ntfs_read(v, (uint32_t)st.ino, 6, sizeof(buf), buf, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(ins_ntfs_read(v, (uint32_t)st.ino, 0, 5, buf, &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "hello", 5);
	/* records: 5 is the root; 4 and 15 are system files */
	assert_int_equal(ins_ntfs_stat(v, INS_NTFS_ROOT_INO, &st), 0);
	assert_int_equal(ins_ntfs_stat(v, 4, &st), -ENOENT);
	assert_int_equal(ins_ntfs_stat(v, 15, &st), -ENOENT);
	ins_ntfs_close(v);
	free(m.data);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A file whose MFT record holds no unnamed $DATA (a damaged or foreign
 * volume: the attribute's type rewritten to $LOGGED_UTILITY_STREAM's, the
 * attributes still in order) reads as empty, not EIO: libntfs-3g finds no
 * such attribute (ENOENT), and there is no data to read. */
static void test_no_data(void **state)
{
	(void)state;
	struct img m = {0};
	ins_ntfs *v;
	char why[200] = "", buf[64];
	struct ins_stat st;
	size_t n = 1;
	load("n.img", &m); /* test_tree made it */
	assert_int_equal(ins_ntfs_open(fetch, &m, m.size, &v, why, sizeof(why)), 0);
	assert_int_equal(walk(v, "Users/h/Résumé.txt", &st), 0);
	ins_ntfs_close(v);
	/* its record: the boot sector's MFT cluster and record size */
	uint32_t cluster = (uint32_t)(m.data[11] | m.data[12] << 8) * m.data[13];
	int8_t per = (int8_t)m.data[0x40];
	uint64_t recsize = per > 0 ? (uint64_t)per * cluster : 1ull << -per;
	uint64_t mft = 0;
	for (int i = 7; i >= 0; i--)
		mft = mft << 8 | m.data[0x30 + i];
	uint8_t *rec = m.data + mft * cluster + st.ino * recsize;
	assert_memory_equal(rec, "FILE", 4);
	assert_int_equal(le32(rec + 0x2c), st.ino);
	uint8_t *at = rec + (rec[0x14] | rec[0x15] << 8), *data = NULL;
	while (le32(at) != 0xffffffff && at < rec + recsize) {
		if (le32(at) == 0x80 && at[9] == 0)
			data = at;
		at += le32(at + 4);
	}
	assert_non_null(data);
	assert_int_equal(le32(data + le32(data + 4)), 0xffffffff); /* the last: 0x100 keeps the order */
	data[0] = 0x00, data[1] = 0x01; /* 0x80 -> 0x100 */
	assert_int_equal(ins_ntfs_open(fetch, &m, m.size, &v, why, sizeof(why)), 0);
	assert_int_equal(ins_ntfs_read(v, (uint32_t)st.ino, 0, sizeof(buf), buf, &n), 0);
	assert_int_equal(n, 0);
	ins_ntfs_close(v);
	free(m.data);
}

static int setup(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "umount '%s/m' 2>/dev/null; rm -rf '%s'", dir, dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_no_data),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
