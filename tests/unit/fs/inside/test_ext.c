/*
 * SPEC §18: the ext2/3/4 reader (fs/inside/ext.c) through its ops table,
 * fed from memory as the helper's ins_fetch() feeds it, over volumes the
 * real tools made at test time: a source tree (files of one block, many
 * blocks and holes, a hard link, fast and slow links, a fifo, device
 * nodes of old and new encodings, setuid/setgid/sticky modes, owners past
 * 16 bits, atimes and mtimes that differ, user./trusted./security.
 * attributes in the inode and in a block of their own, an ACL by
 * setfacl, a 300-entry directory indexed by e2fsck -D) made into an ext4
 * (extents, 256-byte inodes), an ext4 with inline data (small files and
 * directories in the inode), an ext4 of 64 KiB blocks and an ext2 (block
 * maps with double indirect blocks, 128-byte inodes; a file in the
 * volume's last block) by `mke2fs -d`.  Every entry is compared with
 * the source's lstat (mode, owner, size, links, device, atime and mtime),
 * its bytes, its link's target, its attributes (llistxattr/lgetxattr:
 * name and value) and each directory's names with readdir's.  Times
 * mke2fs -d cannot write (nanoseconds, before 1970, past 2038 and 2262)
 * are set by `debugfs -w sif` in the extra fields, and each is compared
 * with the second debugfs itself prints (TZ=UTC) and the nanoseconds the
 * extra field's 30 high bits hold.  A listing resumed from each entry's
 * position goes on with the entry after it.
 *
 * ext.c keeps its one volume at file scope (ins_fs.h: a helper reads one
 * volume), so each volume is read in a child process of its own.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "ins_fs.h"

static char dir[] = "/tmp/imgfs-ext-XXXXXX";
static pid_t parent; /* the test process (a child that failed ends at its next test) */
static uint8_t *vol;
static size_t vol_len;
static char why[512];

int ins_fetch(uint64_t off, size_t len, void *buf)
{
	if (off > vol_len || len > vol_len - off) {
		memset(buf, 0, len);
		return -EIO;
	}
	memcpy(buf, vol + off, len);
	return 0;
}

/* The helper's batched read (a READDIRPLUS page's inode blocks, §18.7):
 * each piece as ins_fetch reads it, one after the other in data. */
int ins_fetchv(const struct ins_req_blk *piece, unsigned n, void *data)
{
	size_t at = 0;
	for (unsigned i = 0; i < n; i++) {
		int rc = ins_fetch(piece[i].off, piece[i].len, (char *)data + at);
		if (rc < 0)
			return rc;
		at += piece[i].len;
	}
	return 0;
}

void ins_why(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
}

static void sh(const char *fmt, ...)
{
	char cmd[8192], full[8600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "cd '%s' && export PATH=/usr/sbin:/sbin:/usr/bin:/bin:$PATH TZ=UTC && (%s) >/dev/null 2>&1",
	         dir, cmd);
	if (system(full) != 0)
		fail_msg("failed: %s", cmd);
}

/* The tree both volumes are made from (python3: owners, modes, times and
 * attributes a shell says badly). */
static const char tree_py[] =
    "import os, random\n"
    "r = random.Random(67)\n"
    "os.makedirs('src/etc'); os.makedirs('src/d/a/b'); os.makedirs('src/bigdir'); os.makedirs('src/dev')\n"
    "open('src/etc/os-release', 'w').write('ID=ext\\n')\n"
    "open('src/big', 'wb').write(r.randbytes(300 * 1024 + 7))\n"
    "open('src/one', 'wb').write(r.randbytes(1024))\n"
    "open('src/empty', 'wb').close()\n"
    "with open('src/sparse', 'wb') as f:\n"
    "    f.write(b'head'); f.seek(1 << 20); f.write(r.randbytes(3000)); f.seek(3 << 20); f.write(b'tail')\n"
    "os.link('src/big', 'src/big-hard')\n"
    "os.symlink('../etc/os-release', 'src/d/fast')\n"
    "os.symlink('s' * 59, 'src/fast59')\n"
    "os.symlink('s' * 60, 'src/slow60')\n"
    "os.symlink('/' + 'p' * 700, 'src/slow')\n"
    "os.mkfifo('src/dev/fifo')\n"
    "os.mknod('src/dev/null', 0o20666, os.makedev(1, 3))\n"
    "os.mknod('src/dev/sda1', 0o60660, os.makedev(8, 1))\n"
    "os.mknod('src/dev/wide', 0o20600, os.makedev(300, 0x54321))\n"
    "os.mknod('src/dev/old', 0o60600, os.makedev(200, 250))\n"
    "for i in range(300):\n"
    "    open('src/bigdir/entry-%03d-%s' % (i, 'x' * 30), 'w').close()\n"
    "os.setxattr('src/etc/os-release', 'user.small', b'v')\n"
    "os.setxattr('src/etc/os-release', 'trusted.t', b'trust')\n"
    "os.setxattr('src/etc/os-release', 'security.selinux', b'system_u:object_r:etc_t:s0\\0')\n"
    "os.setxattr('src/one', 'user.block', bytes(range(256)) * 3)\n"
    "os.setxattr('src/d', 'user.dir', b'')\n"
    "owners = [(1234, 5678), (70000, 80001), (0, 42), (65534, 65533), (4000000000, 7)]\n"
    "modes = {'src/big': 0o4755, 'src/one': 0o2711, 'src/d': 0o1777, 'src/empty': 0o600, 'src/sparse': 0o640}\n"
    "paths = []\n"
    "for root, ds, fs in os.walk('src'):\n"
    "    paths += [os.path.join(root, n) for n in ds + fs]\n"
    "for i, p in enumerate(sorted(paths)):\n"
    "    u, g = owners[i % len(owners)]\n"
    "    os.chown(p, u, g, follow_symlinks=False)\n"
    "    if p in modes: os.chmod(p, modes[p])\n"
    ;

/* The source's times, set again before each mke2fs and each walk: a read
 * (mke2fs's, readdir's, readlink's) moves an atime (relatime). */
static const char times_py[] =
    "import os\n"
    "paths = []\n"
    "for root, ds, fs in os.walk('src'):\n"
    "    paths += [os.path.join(root, n) for n in ds + fs]\n"
    "for i, p in enumerate(sorted(paths, key=lambda p: (-p.count('/'), p))):\n"
    "    os.utime(p, (1000000000 + 3 * i, 1500000000 + 7 * i), follow_symlinks=False)\n";

/* The time vectors: FIELD LO EXTRA of /times/tN (debugfs -w sif). */
static const struct {
	const char *file, *field;
	uint32_t lo, extra;
} times[] = {
    {"t0", "mtime", 0xfffffffb, 0},          /* 5 s before 1970 */
    {"t0", "atime", 0x7fffffff, 0},          /* 2038's last second */
    {"t1", "mtime", 0x80000000, 1},          /* 2038's next second (epoch bit 1) */
    {"t1", "atime", 0, 7},                   /* 2378 and 1 ns (epoch bits 3) */
    {"t2", "mtime", 0x12345678, 999999999u << 2},  /* the last nanosecond */
    {"t2", "atime", 0x7fffffff, (123456789u << 2) | 2}, /* past 2262: 2^31 - 1 + 2^33 s */
    {"t3", "mtime", 0x7fffffff, 3},          /* ext4's last second (2446) */
    {"t3", "atime", 0x80000000, 0},          /* 1901's first */
};

static void load(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	off_t size = lseek(fd, 0, SEEK_END);
	free(vol);
	vol = malloc((size_t)size);
	assert_non_null(vol);
	assert_int_equal(pread(fd, vol, (size_t)size, 0), size);
	vol_len = (size_t)size;
	close(fd);
}

static uint64_t walk(const char *path)
{
	uint64_t at = ins_fs_ext.root(), ino = 0;
	char copy[1024];
	snprintf(copy, sizeof(copy), "%s", path);
	for (char *save = NULL, *p = strtok_r(copy, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
		int rc = ins_fs_ext.lookup(at, p, strlen(p), &ino);
		if (rc < 0)
			fail_msg("lookup %s in %s: %d (%s)", p, path, rc, why);
		at = ino;
	}
	return at;
}

/* The names a listing gives, "|"-separated, sorted by the caller's order
 * of the source's; and each entry's position after it. */
struct names {
	char all[32768];
	uint64_t after[512], ino[512];
	char name[512][64];
	unsigned n, blocks; /* blocks: the calls that say a block was read */
};

static int add_name(void *arg, uint64_t ino, const char *name, size_t len, unsigned type, uint64_t after)
{
	struct names *s = arg;
	if (!name) {
		s->blocks++;
		return 0;
	}
	/* The entry's own type (filetype feature), where it says one, is its
	 * inode's (SPEC §18.7: a names-only listing reads no inode). */
	if (type) {
		struct ins_stat st;
		assert_int_equal(ins_fs_ext.stat(ino, &st), 0);
		assert_int_equal(st.mode & S_IFMT, type);
	}
	assert_true(len >= 1 && len < 64);
	assert_true(s->n < 512);
	if (s->n)
		assert_true(after > s->after[s->n - 1]);
	s->after[s->n] = after;
	s->ino[s->n] = ino;
	memcpy(s->name[s->n], name, len);
	s->name[s->n][len] = '\0';
	s->n++;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* dir's names, sorted, "|"-joined: from the source (readdir) or the
 * volume's listing. */
static void sorted_join(char **v, unsigned n, char *out, size_t cap)
{
	qsort(v, n, sizeof(*v), cmp_str);
	out[0] = '\0';
	for (unsigned i = 0; i < n; i++)
		snprintf(out + strlen(out), cap - strlen(out), "%s|", v[i]);
}

static void check_dir(const char *rel, uint64_t ino)
{
	char src[1024], *v[512], want[32768], got[32768];
	unsigned n = 0;
	static struct names s;
	memset(&s, 0, sizeof(s));
	snprintf(src, sizeof(src), "%s/src/%s", dir, rel);
	DIR *d = opendir(src);
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "lost+found"))
			v[n++] = strdup(e->d_name);
	closedir(d);
	sorted_join(v, n, want, sizeof(want));
	for (unsigned i = 0; i < n; i++)
		free(v[i]);
	assert_int_equal(ins_fs_ext.list(ino, 0, add_name, &s), 0);
	/* A directory's blocks are each said once (none for an inline one). */
	struct ins_stat st;
	assert_int_equal(ins_fs_ext.stat(ino, &st), 0);
	uint32_t bs = 1024u << (vol[1024 + 24] | vol[1025 + 24] << 8); /* s_log_block_size */
	if (s.blocks != 0 || st.size % bs != 0)
		assert_int_equal(s.blocks, st.size / bs);
	n = 0;
	for (unsigned i = 0; i < s.n; i++)
		if (strcmp(s.name[i], "lost+found") && strcmp(s.name[i], "times") && strcmp(s.name[i], "lastino"))
			v[n++] = s.name[i];
	sorted_join(v, n, got, sizeof(got));
	assert_string_equal(got, want);
	/* Resumed from each entry's position: the next entry, the same inode. */
	for (unsigned i = 0; i + 1 < s.n; i += 1 + s.n / 16) {
		static struct names t;
		memset(&t, 0, sizeof(t));
		assert_int_equal(ins_fs_ext.list(ino, s.after[i], add_name, &t), 0);
		assert_int_equal(t.n, s.n - i - 1);
		assert_string_equal(t.name[0], s.name[i + 1]);
		assert_int_equal(t.ino[0], s.ino[i + 1]);
	}
}

/* A;B=V|... of the source's attributes, names sorted. */
static void src_xattrs(const char *path, char *out, size_t cap)
{
	char names[8192], *v[64];
	unsigned n = 0;
	ssize_t len = llistxattr(path, names, sizeof(names));
	assert_true(len >= 0);
	for (ssize_t at = 0; at < len; at += (ssize_t)strlen(names + at) + 1)
		v[n++] = names + at;
	qsort(v, n, sizeof(*v), cmp_str);
	out[0] = '\0';
	for (unsigned i = 0; i < n; i++) {
		uint8_t val[4096];
		ssize_t vl = lgetxattr(path, v[i], val, sizeof(val));
		assert_true(vl >= 0);
		snprintf(out + strlen(out), cap - strlen(out), "%s=", v[i]);
		for (ssize_t k = 0; k < vl; k++)
			snprintf(out + strlen(out), cap - strlen(out), "%02x", val[k]);
		snprintf(out + strlen(out), cap - strlen(out), "|");
	}
}

struct xs {
	char *v[64];
	unsigned n;
};

/* An ACL entry's id means something for ACL_USER (2) and ACL_GROUP (8)
 * only: libext2fs writes 0 in the others, the kernel ACL_UNDEFINED_ID
 * (what reaches a user through the mount is the kernel's own rewriting:
 * test_inside_diff compares that); the reader's are taken as the kernel's. */
static void acl_ids(const char *name, size_t nlen, uint8_t *v, size_t vlen)
{
	if (nlen < 17 || strncmp(name, "system.posix_acl_", 17))
		return;
	for (size_t at = 4; at + 8 <= vlen; at += 8)
		if (v[at] != 2 && v[at] != 8)
			memset(v + at + 4, 0xff, 4);
}

static int add_xattr(void *arg, const char *name, size_t nlen, const void *value, size_t vlen)
{
	struct xs *x = arg;
	/* An inline-data inode's bytes: passed on by ext.c, not shown by the
	 * daemon (proto.c passes user., trusted., security. and the ACLs). */
	if (nlen == 11 && !memcmp(name, "system.data", 11))
		return 0;
	assert_non_null(value);
	assert_true(x->n < 64 && vlen < 4096);
	uint8_t v[4096];
	memcpy(v, value, vlen);
	acl_ids(name, nlen, v, vlen);
	char *s = malloc(nlen + 2 + 2 * vlen);
	memcpy(s, name, nlen);
	s[nlen] = '=';
	for (size_t k = 0; k < vlen; k++)
		sprintf(s + nlen + 1 + 2 * k, "%02x", v[k]);
	s[nlen + 1 + 2 * vlen] = '\0';
	x->v[x->n++] = s;
	return 0;
}

static void check_entry(const char *rel, int has_xattr)
{
	char src[1024];
	struct stat s;
	struct ins_stat st;
	snprintf(src, sizeof(src), "%s/src/%s", dir, rel);
	assert_int_equal(lstat(src, &s), 0);
	uint64_t ino = walk(rel);
	assert_int_equal(ins_fs_ext.stat(ino, &st), 0);
	if (st.mode != s.st_mode || st.uid != s.st_uid || st.gid != s.st_gid || st.nlink != s.st_nlink)
		fail_msg("%s: mode %o uid %u gid %u nlink %u, the source's %o %u %u %u", rel, st.mode, st.uid, st.gid,
		         st.nlink, s.st_mode, s.st_uid, s.st_gid, (unsigned)s.st_nlink);
	if (!S_ISDIR(s.st_mode))
		assert_int_equal(st.size, s.st_size);
	assert_int_equal(st.mtime.sec, s.st_mtim.tv_sec);
	assert_int_equal(st.atime.sec, s.st_atim.tv_sec);
	if (S_ISCHR(s.st_mode) || S_ISBLK(s.st_mode)) {
		assert_int_equal(major(st.rdev), major(s.st_rdev));
		assert_int_equal(minor(st.rdev), minor(s.st_rdev));
	} else {
		assert_int_equal(st.rdev, 0);
	}
	if (S_ISREG(s.st_mode)) {
		uint8_t *want = malloc((size_t)s.st_size + 1), *got = malloc((size_t)s.st_size + 1);
		int fd = open(src, O_RDONLY | O_NOATIME);
		assert_true(fd >= 0);
		assert_int_equal(pread(fd, want, (size_t)s.st_size, 0), s.st_size);
		close(fd);
		/* In odd pieces: a read's bounds fall inside blocks and holes. */
		uint64_t at = 0;
		while (at < (uint64_t)s.st_size) {
			uint32_t n = 0, ask = (uint32_t)((uint64_t)s.st_size - at < 70001 ? (uint64_t)s.st_size - at : 70001);
			assert_int_equal(ins_fs_ext.read(ino, at, ask, got + at, &n), 0);
			assert_int_equal(n, ask);
			at += n;
		}
		assert_memory_equal(got, want, (size_t)s.st_size);
		free(want);
		free(got);
	}
	if (S_ISLNK(s.st_mode)) {
		char want[4096], got[4096];
		ssize_t n = readlink(src, want, sizeof(want));
		assert_true(n > 0);
		assert_int_equal(ins_fs_ext.readlink(ino, got, (size_t)n), 0);
		assert_memory_equal(got, want, (size_t)n);
	}
	if (S_ISDIR(s.st_mode))
		check_dir(rel, ino);
	if (has_xattr) {
		char want[16384], got[16384];
		struct xs x = {{0}, 0};
		src_xattrs(src, want, sizeof(want));
		assert_int_equal(ins_fs_ext.xattrs(ino, add_xattr, &x), 0);
		sorted_join(x.v, x.n, got, sizeof(got));
		for (unsigned i = 0; i < x.n; i++)
			free(x.v[i]);
		if (strcmp(got, want)) {
			size_t at = 0;
			while (got[at] == want[at])
				at++;
			fail_msg("%s's attributes differ at byte %zu:\n  got  %.200s\n  want %.200s", rel, at,
			         got + (at > 60 ? at - 60 : 0), want + (at > 60 ? at - 60 : 0));
		}
	}
}

/* Every path of the source tree, compared. */
static void check_tree(int has_xattr)
{
	static const char *const paths[] = {
	    "etc", "etc/os-release", "big", "big-hard", "one", "empty", "sparse", "d", "d/a", "d/a/b", "d/fast",
	    "fast59", "slow60", "slow", "dev", "dev/fifo", "dev/null", "dev/sda1", "dev/wide", "dev/old", "bigdir",
	    "bigdir/entry-000-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "bigdir/entry-299-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	};
	for (unsigned i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		check_entry(paths[i], has_xattr);
	check_dir("", ins_fs_ext.root());
	uint64_t ino;
	assert_int_equal(ins_fs_ext.lookup(ins_fs_ext.root(), "nothing", 7, &ino), -ENOENT);
}

/* The second debugfs prints for FIELD of /times/FILE (its own decoding). */
static int64_t debugfs_sec(const char *img, const char *file, const char *field)
{
	char cmd[512], line[512];
	snprintf(cmd, sizeof(cmd), "cd '%s' && TZ=UTC debugfs -R 'stat /times/%s' %s 2>/dev/null", dir, file, img);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	int64_t sec = INT64_MIN;
	size_t fl = strlen(field);
	while (fgets(line, sizeof(line), p)) {
		char *s = line + strspn(line, " ");
		char *dash = strstr(s, " -- ");
		if (strncmp(s, field, fl) || s[fl] != ':' || !dash)
			continue;
		struct tm tm = {0};
		assert_non_null(strptime(dash + 4, "%a %b %d %H:%M:%S %Y", &tm));
		sec = (int64_t)timegm(&tm);
	}
	pclose(p);
	assert_true(sec != INT64_MIN);
	return sec;
}

static void check_sizes(void)
{
	struct ins_stat st;
	assert_int_equal(ins_fs_ext.stat(walk("times/huge"), &st), 0);
	assert_int_equal(st.size, 1ull << 42);
	assert_int_equal(ins_fs_ext.stat(walk("times/huge1"), &st), -EIO);
	assert_non_null(strstr(why, "more than its file system can address"));
}

static void check_times(const char *img)
{
	for (unsigned i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		char path[64];
		struct ins_stat st;
		snprintf(path, sizeof(path), "times/%s", times[i].file);
		assert_int_equal(ins_fs_ext.stat(walk(path), &st), 0);
		struct ins_time t = !strcmp(times[i].field, "mtime") ? st.mtime : st.atime;
		int64_t want = debugfs_sec(img, times[i].file, times[i].field);
		if (t.sec != want || t.nsec != times[i].extra >> 2)
			fail_msg("%s's %s (lo %#x extra %#x): %lld.%09u, debugfs %lld.%09u", path, times[i].field, times[i].lo,
			         times[i].extra, (long long)t.sec, t.nsec, (long long)want, times[i].extra >> 2);
	}
}

/* Runs check in a child (ext.c's volume is the process's): its failure
 * fails the test. */
static void in_child(void (*check)(void))
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		check();
		_exit(0);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void build(void)
{
	FILE *f;
	char path[256];
	snprintf(path, sizeof(path), "%s/tree.py", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs(tree_py, f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/times.py", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs(times_py, f);
	fclose(f);
	sh("rm -rf src && python3 tree.py && setfacl -m u:1234:rwx,g:55:r src/one && setfacl -d -m u:7:rx src/d/a && "
	   "python3 times.py");
	/* ext4: extents, 256-byte inodes (extra time fields), htree bigdir. */
	sh("mke2fs -q -F -t ext4 -b 1024 -I 256 -N 1024 -d src e4.img 16384 && e2fsck -fyD e4.img; "
	   "e2fsck -fn e4.img");
	/* ext2: block maps (big: double indirect at 1 KiB blocks), 128-byte
	 * inodes: no extra fields, no nanoseconds. */
	sh("python3 times.py && mke2fs -q -F -t ext2 -b 1024 -I 128 -N 1024 -O ^dir_index -d src e2.img 16384 && e2fsck -fn e2.img");
	/* ext2's /one (one block) moved to the volume's last block: a read
	 * that ends at the volume's end. */
	sh("last=$(($(dumpe2fs -h e2.img 2>/dev/null | sed -n 's/^Block count: *//p') - 1)) && "
	   "dd if=src/one of=e2.img bs=1024 seek=$last conv=notrunc status=none && "
	   "debugfs -w -R \"sif /one block[0] $last\" e2.img && debugfs -R 'blocks /one' e2.img | grep -qx \"$last *\"");
	/* 64 KiB blocks, ext4's largest (no cache: read as asked). */
	sh("python3 times.py && mke2fs -q -F -t ext4 -b 65536 -I 256 -N 512 -d src e64.img 16M && e2fsck -fn e64.img && "
	   "dumpe2fs -h e64.img 2>/dev/null | grep -q '^Block size: *65536$'");
	/* ext4 with inline data: small files and directories in the inode. */
	sh("python3 times.py && mke2fs -q -F -t ext4 -b 1024 -I 256 -N 1024 -O inline_data -d src e4i.img 16384 && "
	   "e2fsck -fn e4i.img && debugfs -R 'stat /d/a' e4i.img | grep -q 'Size of inline data'");
	/* The time vectors on files of their own (not in the source). */
	char cmds[4096] = "mkdir times\n";
	for (unsigned i = 0; i < 4; i++)
		snprintf(cmds + strlen(cmds), sizeof(cmds) - strlen(cmds), "write /dev/null times/t%u\n", i);
	for (unsigned i = 0; i < sizeof(times) / sizeof(times[0]); i++)
		snprintf(cmds + strlen(cmds), sizeof(cmds) - strlen(cmds),
		         "sif times/%s %s @%d\nsif times/%s %s_extra %#x\n", times[i].file, times[i].field, (int32_t)times[i].lo,
		         times[i].file, times[i].field, times[i].extra);
	/* Sizes at what ext4 addresses with 1 KiB blocks (2^32 blocks) and
	 * one byte past it. */
	snprintf(cmds + strlen(cmds), sizeof(cmds) - strlen(cmds),
	         "write /dev/null times/huge\nsif times/huge size 0x40000000000\n"
	         "write /dev/null times/huge1\nsif times/huge1 size 0x40000000001\n");
	snprintf(path, sizeof(path), "%s/times.cmds", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs(cmds, f);
	fclose(f);
	sh("debugfs -w -f times.cmds e4.img");
	/* The volume's last inode in use: os-release's copied there. */
	sh("n=$(dumpe2fs -h e4.img 2>/dev/null | sed -n 's/^Inode count: *//p') && "
	   "debugfs -w -R \"copy_inode /etc/os-release <$n>\" e4.img && debugfs -w -R \"ln <$n> /lastino\" e4.img && "
	   "debugfs -w -R \"seti <$n>\" e4.img && debugfs -R 'stat /lastino' e4.img | grep -q \"^Inode: $n \"");
}

/* Inode numbers at the volume's bounds: 0 and one past the last are no
 * inode, an unused one is none, the last one (in use) is read. */
static void check_inode_bounds(void)
{
	uint32_t count = (uint32_t)vol[1024] | (uint32_t)vol[1025] << 8 | (uint32_t)vol[1026] << 16 |
	                 (uint32_t)vol[1027] << 24; /* s_inodes_count */
	struct ins_stat st, want;
	uint64_t last = walk("lastino");
	assert_int_equal(last, count);
	assert_int_equal(ins_fs_ext.stat(last, &st), 0);
	assert_int_equal(ins_fs_ext.stat(walk("etc/os-release"), &want), 0);
	assert_int_equal(st.mode, want.mode);
	assert_int_equal(st.size, want.size);
	assert_int_equal(st.uid, want.uid);
	char a[64], b[64];
	uint32_t n = 0;
	assert_int_equal(ins_fs_ext.read(last, 0, (uint32_t)st.size, a, &n), 0);
	assert_int_equal(n, st.size);
	assert_int_equal(ins_fs_ext.read(walk("etc/os-release"), 0, (uint32_t)st.size, b, &n), 0);
	assert_memory_equal(a, b, st.size);
	assert_int_equal(ins_fs_ext.stat(0, &st), -ENOENT);
	assert_int_equal(ins_fs_ext.stat((uint64_t)count + 1, &st), -ENOENT);
	assert_int_equal(ins_fs_ext.stat(count - 1, &st), -ENOENT); /* unused: mode 0, no links */
}

static void walk_e4(void)
{
	sh("python3 times.py");
	load("e4.img");
	assert_int_equal(ins_fs_ext.open(vol_len, why, sizeof(why)), 0);
	check_tree(1);
	check_times("e4.img");
	check_sizes();
	check_inode_bounds();
}

static void walk_e4i(void)
{
	sh("python3 times.py");
	load("e4i.img");
	assert_int_equal(ins_fs_ext.open(vol_len, why, sizeof(why)), 0);
	check_tree(1);
}

static void walk_e64(void)
{
	sh("python3 times.py");
	load("e64.img");
	assert_int_equal(ins_fs_ext.open(vol_len, why, sizeof(why)), 0);
	check_tree(1);
}

static void walk_e2(void)
{
	sh("python3 times.py");
	load("e2.img");
	assert_int_equal(ins_fs_ext.open(vol_len, why, sizeof(why)), 0);
	check_tree(1);
	/* 128-byte inodes: whole seconds only */
	struct ins_stat st;
	assert_int_equal(ins_fs_ext.stat(walk("big"), &st), 0);
	assert_int_equal(st.mtime.nsec + st.atime.nsec + st.ctime.nsec, 0);
}

static void test_ext4(void **state)
{
	(void)state;
	if (getpid() != parent)
		_exit(1);
	build();
	in_child(walk_e4);
}

static void test_ext4_inline(void **state)
{
	(void)state;
	if (getpid() != parent)
		_exit(1);
	in_child(walk_e4i);
}

static void test_ext4_64k(void **state)
{
	(void)state;
	if (getpid() != parent)
		_exit(1);
	in_child(walk_e64);
}

static void test_ext2(void **state)
{
	(void)state;
	if (getpid() != parent)
		_exit(1);
	in_child(walk_e2);
}

static int setup(void **state)
{
	(void)state;
	parent = getpid();
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[160];
	if (getpid() != parent)
		_exit(1);
	free(vol);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ext4),
	    cmocka_unit_test(test_ext4_inline),
	    cmocka_unit_test(test_ext4_64k),
	    cmocka_unit_test(test_ext2),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
